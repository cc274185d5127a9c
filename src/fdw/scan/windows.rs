//! Searching past Auth0's 1000-result cap: the query is read in `created_at` order, in windows
//! of at most 1000 users; each window starts at the `created_at` where the previous one ended
//! (inclusive, skipping the users already returned at that instant). No probe is wasted: every
//! request returns users. More than 1000 users created in one millisecond cannot be windowed;
//! that is reported, never skipped.

use crate::error::{Error, Result};
use crate::runtime::block_on;
use auth0_api::users::{SearchCursor, Sort, User, SEARCH_CAP};
use auth0_api::Client;
use serde_json::Value;
use std::collections::{HashSet, VecDeque};

pub struct Windows {
    base: Option<String>,
    descending: bool,
    fields: Option<Vec<String>>,
    limit: Option<u64>,
    emitted: u64,
    cursor: SearchCursor,
    buffer: VecDeque<User>,
    /// The `created_at` this window starts at, and the users already returned at it.
    bound: Option<String>,
    skip: HashSet<String>,
    /// The latest `created_at` returned, and the users returned at it.
    last: Option<String>,
    at_last: HashSet<String>,
    pub windows: u32,
}

fn created_at(u: &User) -> Option<&str> {
    u.get("created_at").and_then(Value::as_str)
}

fn user_id(u: &User) -> &str {
    u.get("user_id").and_then(Value::as_str).unwrap_or_default()
}

impl Windows {
    /// `fields` gets `created_at` and `user_id` added (the windows need them).
    pub fn new(
        base: Option<String>,
        descending: bool,
        fields: Option<Vec<String>>,
        limit: Option<u64>,
    ) -> Windows {
        let fields = fields.map(|mut f| {
            for needed in ["created_at", "user_id"] {
                if !f.iter().any(|x| x == needed) {
                    f.push(needed.to_string());
                }
            }
            f
        });
        let cursor = Self::cursor_for(&base, descending, &fields, None);
        Windows {
            base,
            descending,
            fields,
            limit,
            emitted: 0,
            cursor,
            buffer: VecDeque::new(),
            bound: None,
            skip: HashSet::new(),
            last: None,
            at_last: HashSet::new(),
            windows: 1,
        }
    }

    fn cursor_for(
        base: &Option<String>,
        descending: bool,
        fields: &Option<Vec<String>>,
        bound: Option<&str>,
    ) -> SearchCursor {
        let range = bound.map(|b| {
            if descending {
                format!("created_at:[* TO {b}]")
            } else {
                format!("created_at:[{b} TO *]")
            }
        });
        let q = match (base, range) {
            (Some(b), Some(r)) => Some(format!("({b}) AND {r}")),
            (Some(b), None) => Some(b.clone()),
            (None, r) => r,
        };
        let sort = Sort::new("created_at", descending);
        SearchCursor::new(q, Some(sort), fields.clone(), None)
    }

    pub fn next(&mut self, client: &Client) -> Result<Option<User>> {
        loop {
            if self.limit.is_some_and(|l| self.emitted >= l) {
                return Ok(None);
            }
            if let Some(u) = self.buffer.pop_front() {
                let at = created_at(&u).map(str::to_string);
                if at.is_some() && at == self.bound && self.skip.contains(user_id(&u)) {
                    continue; // returned by the previous window already
                }
                if at != self.last {
                    self.last = at;
                    self.at_last.clear();
                }
                self.at_last.insert(user_id(&u).to_string());
                self.emitted += 1;
                return Ok(Some(u));
            }
            if !self.cursor.is_done() {
                if let Some(page) = block_on(self.cursor.next_page(client))?? {
                    self.buffer.extend(page);
                }
                continue;
            }
            // This window is read. Was it all of the rest, or only its first 1000?
            if self.cursor.total().unwrap_or(0) < SEARCH_CAP {
                return Ok(None);
            }
            let Some(next_bound) = self.last.clone() else {
                return Ok(None);
            };
            if self.bound.as_ref() == Some(&next_bound) && self.at_last.is_subset(&self.skip) {
                return Err(Error::Incomplete {
                    message: "more than 1000 matching users were created in the same millisecond".into(),
                    detail: format!(
                        "Auth0's search returns at most 1000 users per query, and created_at {next_bound} alone matches more."
                    ),
                    hint: "Use the export strategy: ALTER FOREIGN TABLE ... OPTIONS (ADD strategy 'export'), or narrow the query.".into(),
                });
            }
            // The new window includes the last instant again; skip who was returned at it.
            self.skip = if self.bound.as_ref() == Some(&next_bound) {
                self.skip.union(&self.at_last).cloned().collect()
            } else {
                self.at_last.clone()
            };
            self.bound = Some(next_bound);
            self.cursor = Self::cursor_for(
                &self.base,
                self.descending,
                &self.fields,
                self.bound.as_deref(),
            );
            self.windows += 1;
        }
    }
}
