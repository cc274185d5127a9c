//! Purging the ledger: `auth0_import_purge` deletes old, final imports; and
//! `auth0_import_purge_dropped_databases` deletes what `DROP DATABASE` leaves behind (the ledger
//! lives in `$PGDATA/pg_auth0_io`, outside any database's own directory).

#![allow(clippy::result_large_err)]

use super::ledger;
use super::record::{self, ImportRecord, Submission};
use crate::error::{Error, Result};
use pgrx::prelude::*;
use std::collections::HashSet;

/// Microseconds of an interval, a month counting 30 days (as `justify_days` does).
fn interval_micros(i: &Interval) -> i64 {
    let days = i64::from(i.months()) * 30 + i64::from(i.days());
    days.saturating_mul(86_400_000_000)
        .saturating_add(i.micros())
}

/// Nothing of it will change any more by itself: no session is submitting it, and no user's
/// outcome is unknown. (An interrupted import could still be resumed; purging it gives that
/// up, and deletes the files it kept.)
fn is_final(r: &ImportRecord) -> bool {
    r.submission != Submission::Running && r.unresolved_users() == 0
}

/// Deletes the ledger entries (journal, kept files) of the current role's own imports (every
/// role's for a superuser) made more than `older_than` ago (a month counts 30 days) that
/// nothing is still happening to: no session submitting them, no user of unknown outcome.
/// Returns how many imports were deleted. Errors: 22023 for a negative interval.
#[pg_extern(sql = r#"
CREATE FUNCTION auth0_import_purge(older_than interval DEFAULT '30 days') RETURNS int
VOLATILE STRICT LANGUAGE c AS 'MODULE_PATHNAME', 'auth0_import_purge_wrapper';
"#)]
fn auth0_import_purge(
    older_than: Interval,
) -> std::result::Result<i32, pgrx::pg_sys::panic::ErrorReport> {
    Ok(purge(&older_than)?)
}

/// Only the importing role itself (by OID) and superusers may delete an import's ledger.
fn owned(r: &ImportRecord) -> bool {
    // SAFETY: a catalog check on the backend's thread.
    (unsafe { pg_sys::superuser() }) || r.role_oid == Some(ledger::current_role_oid())
}

fn purge(older_than: &Interval) -> Result<i32> {
    let age = interval_micros(older_than);
    if age < 0 {
        return Err(Error::invalid(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "older_than must not be negative",
        ));
    }
    let now = crate::time::parse_iso_to_pg_micros(&crate::time::now_iso()).unwrap_or(0);
    let cutoff = now.saturating_sub(age);
    let mut ids = HashSet::new();
    for events in ledger::read_imports()? {
        let Some(r) = record::fold(events) else {
            continue;
        };
        let old = crate::time::parse_iso_to_pg_micros(&r.at).is_some_and(|at| at <= cutoff);
        if !old || !owned(&r) {
            continue;
        }
        // A crashed submission is interrupted, not running; a live one is left alone.
        let r = super::with_liveness(r)?;
        if is_final(&r) {
            ids.insert(r.id);
        }
    }
    ledger::purge(&ids)?;
    Ok(ids.len() as i32)
}

/// Deletes the ledgers of databases that no longer exist: `DROP DATABASE` cannot remove them
/// (they live in `$PGDATA/pg_auth0_io`, with the e-mail addresses of imported users). Returns
/// how many databases' ledgers were deleted. Superusers only (42501 otherwise).
#[pg_extern(sql = r#"
CREATE FUNCTION auth0_import_purge_dropped_databases() RETURNS int
VOLATILE LANGUAGE c AS 'MODULE_PATHNAME', 'auth0_import_purge_dropped_databases_wrapper';
"#)]
fn auth0_import_purge_dropped_databases(
) -> std::result::Result<i32, pgrx::pg_sys::panic::ErrorReport> {
    Ok(purge_dropped()?)
}

fn purge_dropped() -> Result<i32> {
    // SAFETY: a catalog check on the backend's thread.
    if !unsafe { pg_sys::superuser() } {
        return Err(Error::invalid(
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            "only superusers may delete the ledgers of dropped databases",
        ));
    }
    let mut deleted = 0;
    for oid in ledger::ledger_databases()? {
        // The syscache sees committed catalog rows as of now (not this statement's snapshot):
        // a database created since the statement began still exists here.
        // SAFETY: a syscache lookup by OID on the backend's thread; nothing is kept.
        let exists = unsafe {
            pg_sys::SearchSysCacheExists(
                pg_sys::SysCacheIdentifier::DATABASEOID as i32,
                pg_sys::Datum::from(pg_sys::Oid::from(oid)),
                pg_sys::Datum::from(0),
                pg_sys::Datum::from(0),
                pg_sys::Datum::from(0),
            )
        };
        if !exists {
            ledger::delete_database_ledger(oid)?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_is_thirty_days() {
        let i = Interval::new(1, 2, 3).unwrap();
        assert_eq!(interval_micros(&i), 32 * 86_400_000_000 + 3);
    }
}
