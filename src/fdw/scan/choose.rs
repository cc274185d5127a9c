//! Choosing how a search-shaped scan reads its users once Auth0 has said how many match.
//!
//! - Fewer than 1000 matches, or a pushed LIMIT of at most 1000: plain search pages.
//! - Otherwise `windows` (search in created_at order, each window starting where the previous
//!   one ended, at most 1000 users each) or an `export` job (every user of the connection or
//!   tenant, streamed; Postgres filters).
//! - `auto` takes windows when they cost fewer requests than an export would move users:
//!   at most 10,000 matches and at most a quarter of the users the export would read.
//!   A raw `q` can only be evaluated by Auth0, so it always takes windows.

use crate::options::Strategy;
use auth0_api::users::SEARCH_CAP;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Pages,
    Windows,
    Export,
}

/// Windows are preferred up to this many matches.
pub const WINDOWS_MAX: u64 = 10_000;

/// Why a forced strategy cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub &'static str);

/// `total`: Auth0's count for the search; `export_size`: the users an export would read (the
/// connection's or the tenant's), when known; `has_q`: the query uses the `q` pseudo-column.
pub fn choose(
    strategy: Strategy,
    total: u64,
    limit: Option<u64>,
    export_size: Option<u64>,
    has_q: bool,
) -> Result<Choice, Refusal> {
    if strategy == Strategy::Export {
        return if has_q {
            Err(Refusal(
                "the q pseudo-column needs Auth0's search; strategy 'export' cannot evaluate it",
            ))
        } else {
            Ok(Choice::Export)
        };
    }
    if total < SEARCH_CAP || limit.is_some_and(|l| l <= SEARCH_CAP) {
        return Ok(Choice::Pages);
    }
    if strategy == Strategy::Search || has_q {
        return Ok(Choice::Windows);
    }
    let cheap_enough =
        total <= WINDOWS_MAX && export_size.is_some_and(|e| total.saturating_mul(4) <= e);
    Ok(if cheap_enough {
        Choice::Windows
    } else {
        Choice::Export
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices() {
        use Choice::*;
        let auto = Strategy::Auto;
        assert_eq!(choose(auto, 999, None, None, false), Ok(Pages));
        assert_eq!(choose(auto, 50_000, Some(10), None, false), Ok(Pages));
        assert_eq!(choose(auto, 3_000, None, Some(25_000), false), Ok(Windows));
        assert_eq!(choose(auto, 25_000, None, Some(25_000), false), Ok(Export));
        assert_eq!(
            choose(auto, 8_000, None, Some(20_000), false),
            Ok(Export),
            "more than a quarter"
        );
        assert_eq!(
            choose(auto, 20_000, None, Some(1_000_000), false),
            Ok(Export),
            "past WINDOWS_MAX"
        );
        assert_eq!(
            choose(auto, 20_000, None, Some(1_000_000), true),
            Ok(Windows),
            "q needs search"
        );
        assert_eq!(
            choose(Strategy::Search, 25_000, None, Some(25_000), false),
            Ok(Windows)
        );
        assert_eq!(
            choose(Strategy::Export, 10, Some(5), None, false),
            Ok(Export)
        );
        assert!(choose(Strategy::Export, 10, None, None, true).is_err());
    }
}
