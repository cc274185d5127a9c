//! The framework's sorts and limit, read into the plain types `pushdown` plans with (which
//! keeps the planning logic free of Postgres and testable on its own). Its quals are not used:
//! `clauses.rs` reads every restriction clause itself.

use super::pushdown::SortKey;
use supabase_wrappers::prelude::{Limit, Sort};

pub fn sort_keys(sorts: &[Sort]) -> Vec<SortKey> {
    sorts
        .iter()
        .map(|s| SortKey {
            column: s.field.clone(),
            descending: s.reversed,
            nulls_first: s.nulls_first,
            collated: s.collate.is_some(),
        })
        .collect()
}

pub fn limit(limit: &Option<Limit>) -> Option<(i64, i64)> {
    limit.as_ref().map(|l| (l.count, l.offset))
}
