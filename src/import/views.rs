//! The ledger's functions behind the `auth0_imports` and `auth0_import_jobs` views: every
//! import (and its Auth0 jobs) the current role may see.

// SQL functions return `Result<_, ErrorReport>`: that is how pgrx raises our SQLSTATE, DETAIL
// and HINT; the `TableIterator` row types are dictated by the SQL signatures.
#![allow(clippy::result_large_err, clippy::type_complexity)]

use super::ledger::{self, from_ranges, Event};
use super::record::{self, Submission};
use super::status::tstz;
use super::with_liveness;
use pgrx::prelude::*;
use std::collections::HashMap;

/// The imports the current role can see (the `auth0_imports` view).
#[pg_extern(stable)]
fn auth0_import_ledger() -> std::result::Result<
    TableIterator<
        'static,
        (
            name!(import_id, String),
            name!(created_at, Option<TimestampWithTimeZone>),
            name!(created_by, String),
            name!(server, String),
            name!(connection, String),
            name!(upsert, bool),
            name!(total, i32),
            name!(invalid, i32),
            name!(auth0_job_ids, Vec<String>),
            name!(submission, String),
            name!(status, Option<String>),
            name!(inserted, Option<i32>),
            name!(updated, Option<i32>),
            name!(failed, Option<i32>),
            name!(finished_at, Option<TimestampWithTimeZone>),
        ),
    >,
    pgrx::pg_sys::panic::ErrorReport,
> {
    let imports = ledger::read_imports().map_err(pgrx::pg_sys::panic::ErrorReport::from)?;
    let mut rows = Vec::new();
    let mut visible: HashMap<(String, Option<u32>), bool> = HashMap::new();
    for events in imports {
        let Some(imp) = record::fold(events) else {
            continue;
        };
        if !*visible
            .entry((imp.role.clone(), imp.role_oid))
            .or_insert_with(|| ledger::visible(&imp.role, imp.role_oid))
        {
            continue;
        }
        let imp = with_liveness(imp).map_err(pgrx::pg_sys::panic::ErrorReport::from)?;
        let submission = match &imp.submission {
            Submission::Running => "submitting".to_string(),
            Submission::Done if imp.unresolved_users() > 0 => format!(
                "submitted; the answer to {} user(s)' file(s) was lost: auth0_import_resume finds them",
                imp.unresolved_users()
            ),
            Submission::Done => "submitted".to_string(),
            Submission::Interrupted(reason) => format!("interrupted: {reason}"),
        };
        let s = imp.summary.clone();
        rows.push((
            imp.id.clone(),
            tstz(Some(&imp.at)),
            imp.role.clone(),
            imp.server.clone(),
            imp.connection.clone(),
            imp.upsert,
            imp.total as i32,
            imp.invalid.len() as i32,
            imp.jobs.iter().map(|j| j.auth0_job_id.clone()).collect(),
            submission,
            s.as_ref().map(|s| s.status.clone()),
            s.as_ref().map(|s| s.inserted as i32),
            s.as_ref().map(|s| s.updated as i32),
            s.as_ref().map(|s| s.failed as i32),
            s.as_ref().and_then(|s| tstz(Some(&s.at))),
        ));
    }
    Ok(TableIterator::new(rows))
}

/// The Auth0 jobs of every visible import (the `auth0_import_jobs` view).
#[pg_extern(stable)]
fn auth0_import_ledger_jobs() -> std::result::Result<
    TableIterator<
        'static,
        (
            name!(import_id, String),
            name!(auth0_job_id, String),
            name!(file_number, i32),
            name!(users, i32),
            name!(first_input_index, i32),
            name!(last_input_index, i32),
        ),
    >,
    pgrx::pg_sys::panic::ErrorReport,
> {
    let mut rows = Vec::new();
    let mut roles: HashMap<(String, Option<u32>), bool> = HashMap::new();
    let mut owner: HashMap<String, (String, Option<u32>)> = HashMap::new();
    let events = ledger::read_imports()
        .map_err(pgrx::pg_sys::panic::ErrorReport::from)?
        .into_iter()
        .flatten();
    for ev in events {
        match ev {
            Event::Import {
                id, role, role_oid, ..
            } => {
                owner.insert(id, (role, role_oid));
            }
            Event::Job {
                import,
                auth0_job_id,
                chunk,
                indices,
                ..
            } => {
                let Some(role) = owner.get(&import) else {
                    continue;
                };
                let ok = *roles
                    .entry(role.clone())
                    .or_insert_with(|| ledger::visible(&role.0, role.1));
                if !ok {
                    continue;
                }
                let idx = from_ranges(&indices);
                rows.push((
                    import,
                    auth0_job_id,
                    chunk as i32 + 1,
                    idx.len() as i32,
                    idx.first().copied().unwrap_or(0) as i32,
                    idx.last().copied().unwrap_or(0) as i32,
                ));
            }
            _ => {}
        }
    }
    Ok(TableIterator::new(rows))
}
