//! Row estimates for the planner, so that join order and join method follow the data.
//!
//! - A point lookup returns at most one user; a pushed LIMIT at most its count.
//! - Otherwise, Auth0's count of the users the pushed query matches (`total` of a one-user
//!   search page, `GET /api/v2/users?per_page=1&include_totals=true&fields=user_id`), cached
//!   per backend for [`TTL`]. Every search scan also leaves its count in the cache.
//! - A count costs a request at planning time, so it is only made when the estimate can change
//!   the plan: when the table is joined with other relations. A single-table query uses a
//!   cached count when there is one, and a fixed guess otherwise (the scan itself learns the
//!   count with its first page).
//! - `use_remote_estimate 'false'` (server or table option, as in postgres_fdw) never counts;
//!   cached counts are still used.
//!
//! Conditions that were not pushed (or that depend on values computed at scan start) are not
//! in the counted query: the estimate is then an upper bound.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What one request costs the planner: as much as reading 100 users (the framework's path
/// costs one per row, and a search page holds 100), so a lookup per outer row is weighed
/// against reading the table once.
pub const REQUEST_COST: f64 = 100.0;

/// How long a count is trusted.
pub const TTL: Duration = Duration::from_secs(60);
/// Counts kept per backend (the oldest are dropped past it).
const MAX_ENTRIES: usize = 512;

/// The rows the planner is told when nothing better is known: kept under `jit_above_cost`
/// (JIT only slows these scans down).
pub const GUESS_ALL: u64 = 10_000;
pub const GUESS_FILTERED: u64 = 1_000;

type Key = (u32, Option<String>);

thread_local! {
    static COUNTS: RefCell<HashMap<Key, (u64, Instant)>> = RefCell::new(HashMap::new());
}

/// Where an estimate came from (shown by EXPLAIN).
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Lookup,
    Limit,
    /// Auth0's count, made for this planning or cached (`age` old).
    Count {
        age: Duration,
        cached: bool,
    },
    /// No count: single-table query (`joined == false`) or `use_remote_estimate` off.
    Guess {
        remote_off: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub rows: u64,
    pub source: Source,
}

impl Estimate {
    /// The EXPLAIN line's text.
    pub fn describe(&self) -> String {
        match &self.source {
            Source::Lookup if self.rows == 0 => {
                "0 (a clause compares with NULL: no request)".into()
            }
            Source::Lookup => format!("{} (a lookup returns at most one user)", self.rows),
            Source::Limit => format!("{} (the pushed LIMIT)", self.rows),
            Source::Count { cached: false, .. } => {
                format!("{} (Auth0's count for the query)", self.rows)
            }
            Source::Count { age, .. } => format!(
                "{} (Auth0's count for the query, {} s old)",
                self.rows,
                age.as_secs()
            ),
            Source::Guess { remote_off: true } => {
                format!("{} (a guess: use_remote_estimate is off)", self.rows)
            }
            Source::Guess { remote_off: false } => format!(
                "{} (a guess: not joined, so not worth a request; the scan counts)",
                self.rows
            ),
        }
    }
}

/// A cached count for `query` on `server`, with its age.
pub fn cached(server: u32, query: &Option<String>) -> Option<(u64, Duration)> {
    COUNTS.with(|c| {
        let mut c = c.borrow_mut();
        let key = (server, query.clone());
        match c.get(&key) {
            Some((n, at)) if at.elapsed() <= TTL => Some((*n, at.elapsed())),
            Some(_) => {
                c.remove(&key);
                None
            }
            None => None,
        }
    })
}

/// Remembers Auth0's count for `query` on `server`.
pub fn remember(server: u32, query: Option<String>, total: u64) {
    COUNTS.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= MAX_ENTRIES {
            c.retain(|_, (_, at)| at.elapsed() <= TTL);
            if c.len() >= MAX_ENTRIES {
                c.clear();
            }
        }
        c.insert((server, query), (total, Instant::now()));
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_cached_per_server_and_query() {
        let q = Some("blocked:true".to_string());
        assert_eq!(cached(7, &q), None);
        remember(7, q.clone(), 42);
        assert_eq!(cached(7, &q).map(|(n, _)| n), Some(42));
        assert_eq!(cached(8, &q), None);
        assert_eq!(cached(7, &None), None);
        for i in 0..(MAX_ENTRIES as u64 + 5) {
            remember(9, Some(i.to_string()), i);
        }
        assert!(COUNTS.with(|c| c.borrow().len()) <= MAX_ENTRIES);
    }

    #[test]
    fn explain_says_where_it_came_from() {
        let e = Estimate {
            rows: 523,
            source: Source::Count {
                age: Duration::from_secs(12),
                cached: true,
            },
        };
        assert_eq!(e.describe(), "523 (Auth0's count for the query, 12 s old)");
    }
}
