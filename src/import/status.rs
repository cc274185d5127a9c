//! Job status and errors in SQL: `auth0_job_status` and `auth0_job_errors`.
//!
//! For one of our import ids the answer aggregates its Auth0 jobs, maps every failed user back
//! to its position in the submitted array, and counts every record: inserted, updated or failed
//! (invalid, refused file, failed job, or a per-user error). For an Auth0 `job_...` id made
//! anywhere, the job is reported as Auth0 reports it.

// SQL functions return `Result<_, ErrorReport>`: that is how pgrx raises our SQLSTATE, DETAIL
// and HINT; its size and the `TableIterator` row types are dictated by the SQL signatures.
#![allow(clippy::result_large_err, clippy::type_complexity)]

use super::ledger::{self, Event};
use super::load_import;
use super::record::{ImportRecord, Submission};
use crate::error::{Error, Result};
use crate::runtime::block_on;
use crate::server::Server;
use auth0_api::jobs::{Job, JobErrors, JobStatus};
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::Value;
use std::collections::HashMap;
use std::ffi::CStr;

type StatusRow = (
    String,
    String,
    String,
    Option<String>,
    Option<TimestampWithTimeZone>,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Vec<String>,
);

/// An Auth0 timestamp (ISO 8601) as `timestamptz`; `None` when absent or unreadable.
pub(super) fn tstz(iso: Option<&str>) -> Option<TimestampWithTimeZone> {
    iso.and_then(crate::time::parse_iso_to_pg_micros)
        .and_then(|us| TimestampWithTimeZone::try_from(us).ok())
}

fn not_found(id: &str) -> Error {
    Error::invalid(PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT, format!("job \"{id}\" does not exist"))
        .with_hint("Use an id returned by auth0_import (imp_...), or an Auth0 job id (job_...) of the last 24 hours; SELECT * FROM auth0_imports lists the imports you can see.")
}

fn status_of_import(imp: &ImportRecord) -> Result<StatusRow> {
    let ids: Vec<String> = imp.jobs.iter().map(|j| j.auth0_job_id.clone()).collect();
    let job_type = imp
        .direct
        .as_ref()
        .map_or_else(|| "users_import".to_string(), |d| d.job_type());
    if let Some(s) = &imp.summary {
        return Ok((
            imp.id.clone(),
            job_type,
            s.status.clone(),
            Some(imp.connection.clone()),
            tstz(Some(&imp.at)),
            Some(s.total as i32),
            Some(s.inserted as i32),
            Some(s.updated as i32),
            Some(s.failed as i32),
            Some(100),
            Some(0),
            ids,
        ));
    }
    let client_server = Server::find(Some(&imp.server))?;
    let client = client_server.client()?;
    let (mut inserted, mut updated, mut failed) = imp.local_counts();
    let (mut done_users, mut all_finished, mut any_started, mut time_left) =
        (0u64, true, false, 0i64);
    for file in &imp.jobs {
        let job = block_on(client.get_job(&file.auth0_job_id))??;
        let n = file.indices.len() as u64;
        match job {
            None => {
                // Auth0 forgot the job (24 h) before we saw it finish: its users are unknown.
                all_finished = false;
            }
            Some(j) => {
                if j.status != JobStatus::Pending {
                    any_started = true;
                }
                match (&j.status, j.summary) {
                    (JobStatus::Completed, Some(s)) => {
                        inserted += s.inserted;
                        updated += s.updated;
                        failed += s.failed;
                        // Users Auth0 did not account for (never the case so far) are failed.
                        failed += n.saturating_sub(s.inserted + s.updated + s.failed);
                        done_users += n;
                    }
                    (JobStatus::Completed, None) | (JobStatus::Failed | JobStatus::Expired, _) => {
                        failed += n;
                        done_users += n;
                    }
                    _ => {
                        all_finished = false;
                        let p = j.percentage_done.unwrap_or(0).clamp(0, 100) as u64;
                        done_users += n * p / 100;
                        time_left = time_left.max(j.time_left_seconds.unwrap_or(0));
                    }
                }
            }
        }
    }
    if let Some(d) = &imp.direct {
        done_users += (d.done.len() + d.failed.len()) as u64;
        any_started |= !d.done.is_empty() || !d.failed.is_empty() || !d.unanswered.is_empty();
    }
    let submitting = imp.submission == Submission::Running;
    let unresolved = imp.unresolved_users();
    let finished = all_finished && !submitting;
    // Users of a file whose answer was lost are neither imported nor failed: the import is not
    // final until auth0_import_resume has found them.
    // Stopped before every file was sent, with the rest kept: auth0_import_resume sends them,
    // so this is not final (and no summary is recorded).
    let resumable = matches!(imp.submission, Submission::Interrupted(_))
        && match &imp.direct {
            // A PATCH batch keeps its bodies until every user is answered; a DELETE needs none.
            Some(d) => {
                !imp.unsubmitted_indices().is_empty()
                    && (d.operation == "delete" || ledger::has_pending(&imp.id, 0))
            }
            None => imp
                .unsent_files()
                .iter()
                .any(|&n| ledger::has_pending(&imp.id, n)),
        };
    let status = if finished && resumable {
        "interrupted"
    } else if finished && unresolved > 0 {
        "outcome_unknown"
    } else if finished {
        "completed"
    } else if any_started || done_users > 0 {
        "processing"
    } else {
        "pending"
    };
    let submitted =
        (imp.submitted_users() + imp.direct.as_ref().map_or(0, |d| d.user_ids.len())).max(1) as u64;
    let pct = if finished {
        100
    } else {
        (done_users * 100 / submitted).min(99)
    } as i32;
    if status == "completed" {
        let total = imp.total as u64;
        ledger::append(&Event::Summary {
            import: imp.id.clone(),
            at: crate::time::now_iso(),
            status: status.into(),
            inserted,
            updated,
            failed,
            total,
        })?;
    }
    Ok((
        imp.id.clone(),
        job_type,
        status.into(),
        Some(imp.connection.clone()),
        tstz(Some(&imp.at)),
        Some(imp.total as i32),
        Some(inserted as i32),
        Some(updated as i32),
        Some(failed as i32),
        Some(pct),
        Some(if finished { 0 } else { time_left as i32 }),
        ids,
    ))
}

fn status_of_auth0_job(j: &Job) -> StatusRow {
    let s = j.summary.unwrap_or_default();
    let has = j.summary.is_some();
    (
        j.id.clone(),
        j.kind.clone(),
        j.status.to_string(),
        j.connection.clone(),
        tstz(j.created_at.as_deref()),
        has.then_some(s.total as i32),
        has.then_some(s.inserted as i32),
        has.then_some(s.updated as i32),
        has.then_some(s.failed as i32),
        j.percentage_done
            .map(|p| p as i32)
            .or(if j.status == JobStatus::Completed {
                Some(100)
            } else {
                None
            }),
        j.time_left_seconds.map(|t| t as i32),
        vec![j.id.clone()],
    )
}

fn required_id(id: Option<&str>) -> Result<&str> {
    id.ok_or_else(|| {
        Error::invalid(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            "job_id must not be NULL",
        )
    })
}

fn auth0_job(id: &str, server: Option<&str>) -> Result<Job> {
    let s = Server::find(server)?;
    block_on(s.client()?.get_job(id))??.ok_or_else(|| not_found(id))
}

/// The status of an import (our id) or of any Auth0 job (`job_...`).
#[pg_extern(sql = r#"
CREATE FUNCTION auth0_job_status(job_id text, server name DEFAULT NULL)
RETURNS TABLE (job_id text, type text, status text, connection text, created_at timestamptz,
               total int, inserted int, updated int, failed int, percentage_done int,
               time_left_seconds int, auth0_job_ids text[])
VOLATILE LANGUAGE c AS 'MODULE_PATHNAME', 'auth0_job_status_wrapper';
"#)]
fn auth0_job_status(
    job_id: Option<&str>,
    server: Option<&CStr>,
) -> std::result::Result<
    TableIterator<
        'static,
        (
            name!(job_id, String),
            name!(type, String),
            name!(status, String),
            name!(connection, Option<String>),
            name!(created_at, Option<TimestampWithTimeZone>),
            name!(total, Option<i32>),
            name!(inserted, Option<i32>),
            name!(updated, Option<i32>),
            name!(failed, Option<i32>),
            name!(percentage_done, Option<i32>),
            name!(time_left_seconds, Option<i32>),
            name!(auth0_job_ids, Vec<String>),
        ),
    >,
    pgrx::pg_sys::panic::ErrorReport,
> {
    let job_id = required_id(job_id)?;
    let server = server.map(|s| s.to_string_lossy().into_owned());
    let row = if job_id.starts_with("job_") {
        status_of_auth0_job(&auth0_job(job_id, server.as_deref())?)
    } else {
        let imp = load_import(job_id)?.ok_or_else(|| not_found(job_id))?;
        status_of_import(&imp)?
    };
    Ok(TableIterator::once(row))
}

type ErrorRow = (
    Option<i32>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    String,
    Option<String>,
    Option<JsonB>,
);

fn auth0_errors(client: &auth0_api::Client, job_id: &str) -> Result<Option<JobErrors>> {
    Ok(block_on(client.job_errors(job_id))??)
}

fn user_rows(
    job_id: &str,
    errors: JobErrors,
    index_of: &dyn Fn(Option<&str>, usize) -> Option<i32>,
    chunk_size: Option<&[usize]>,
) -> Vec<ErrorRow> {
    let mut rows = Vec::new();
    match errors {
        JobErrors::Users(list) => {
            for (pos, u) in list.into_iter().enumerate() {
                let email = u
                    .user
                    .get("email")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let user_id = u
                    .user
                    .get("user_id")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let idx = index_of(email.as_deref(), pos);
                for e in u.errors {
                    rows.push((
                        idx,
                        Some(job_id.to_string()),
                        email.clone(),
                        user_id.clone(),
                        e.code,
                        e.message,
                        e.path.filter(|p| !p.is_empty()),
                        Some(JsonB(crate::import::redact(&u.user))),
                    ));
                }
            }
        }
        JobErrors::JobFailed(j) => {
            let message = j
                .status_details
                .unwrap_or_else(|| format!("Auth0 job {} {}", j.id, j.status));
            for &i in chunk_size.unwrap_or(&[]) {
                rows.push((
                    Some(i as i32),
                    Some(job_id.to_string()),
                    None,
                    None,
                    "JOB_FAILED".into(),
                    message.clone(),
                    None,
                    None,
                ));
            }
        }
    }
    rows
}

/// Every failed user of an import (mapped to its input position) or of an Auth0 job.
#[pg_extern(sql = r#"
CREATE FUNCTION auth0_job_errors(job_id text, server name DEFAULT NULL)
RETURNS TABLE (input_index int, auth0_job_id text, email text, user_id text, code text,
               message text, path text, record jsonb)
VOLATILE LANGUAGE c AS 'MODULE_PATHNAME', 'auth0_job_errors_wrapper';
"#)]
fn auth0_job_errors(
    job_id: Option<&str>,
    server: Option<&CStr>,
) -> std::result::Result<
    TableIterator<
        'static,
        (
            name!(input_index, Option<i32>),
            name!(auth0_job_id, Option<String>),
            name!(email, Option<String>),
            name!(user_id, Option<String>),
            name!(code, String),
            name!(message, String),
            name!(path, Option<String>),
            name!(record, Option<JsonB>),
        ),
    >,
    pgrx::pg_sys::panic::ErrorReport,
> {
    let job_id = required_id(job_id)?;
    let server = server.map(|s| s.to_string_lossy().into_owned());
    if job_id.starts_with("job_") {
        let s = Server::find(server.as_deref())?;
        let errors = auth0_errors(s.client()?, job_id)?.ok_or_else(|| not_found(job_id))?;
        return Ok(TableIterator::new(user_rows(
            job_id,
            errors,
            &|_, _| None,
            None,
        )));
    }
    let imp = load_import(job_id)?.ok_or_else(|| not_found(job_id))?;
    let mut rows: Vec<ErrorRow> = Vec::new();
    for inv in &imp.invalid {
        for p in &inv.problems {
            rows.push((
                Some(inv.index as i32),
                None,
                inv.email.clone(),
                inv.record
                    .get("user_id")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                p.code.clone(),
                p.message.clone(),
                Some(p.path.clone()).filter(|p| !p.is_empty()),
                // Masked again when read: entries written before the allow-list may hold more.
                Some(JsonB(crate::import::redact(&inv.record))),
            ));
        }
    }
    for refused in &imp.refused {
        for (i, e) in refused.indices.iter().zip(&refused.emails) {
            rows.push((
                Some(*i as i32),
                None,
                Some(e.clone()),
                None,
                "NOT_SUBMITTED".into(),
                refused.error.clone(),
                None,
                None,
            ));
        }
    }
    for u in &imp.unknown {
        for &i in &u.existing {
            rows.push((
                Some(i as i32),
                None,
                u.indices.iter().position(|x| *x == i).map(|p| u.emails[p].clone()),
                None,
                "DUPLICATED_USER".into(),
                "The user already exist and upsert parameter is false (found there before the import by auth0_import_resume)".into(),
                None,
                None,
            ));
        }
        for &i in &u.absent {
            rows.push((
                Some(i as i32),
                None,
                u.indices.iter().position(|x| *x == i).map(|p| u.emails[p].clone()),
                None,
                "NOT_IMPORTED".into(),
                "not found in Auth0 a day after its file was sent (the answer to that file was lost)".into(),
                None,
                None,
            ));
        }
        for (i, email) in u.unresolved() {
            rows.push((
                Some(i as i32),
                None,
                Some(email.to_string()),
                None,
                "OUTCOME_UNKNOWN".into(),
                format!(
                    "the answer to this user's file was lost ({}); Auth0 may have imported it: auth0_import_resume('{}') looks it up",
                    u.error, imp.id
                ),
                None,
                None,
            ));
        }
    }
    if let Some(d) = &imp.direct {
        let user_id = |i: usize| d.user_ids.get(i).cloned();
        for f in &d.failed {
            rows.push((
                Some(f.index as i32),
                None,
                None,
                user_id(f.index),
                f.code.clone(),
                f.message.clone(),
                None,
                None,
            ));
        }
        if imp.submission != Submission::Running {
            for &i in &d.unanswered {
                rows.push((
                    Some(i as i32),
                    None,
                    None,
                    user_id(i),
                    "OUTCOME_UNKNOWN".into(),
                    format!(
                        "the {} request for this user was sent but its answer was lost; Auth0 may have applied it: auth0_import_resume('{}') sends it again",
                        d.operation, imp.id
                    ),
                    None,
                    None,
                ));
            }
        }
    }
    if let Submission::Interrupted(reason) = &imp.submission {
        // One row per user, like every other failure (the ledger keeps no e-mail for them).
        for i in imp.unsubmitted_indices() {
            rows.push((
                Some(i as i32),
                None,
                None,
                imp.direct.as_ref().and_then(|d| d.user_ids.get(i).cloned()),
                "NOT_SUBMITTED".into(),
                format!("never sent to Auth0: {reason}"),
                None,
                None,
            ));
        }
    }
    if !imp.jobs.is_empty() {
        let s = Server::find(Some(&imp.server))?;
        let client = s.client()?;
        for file in &imp.jobs {
            let Some(errors) = auth0_errors(client, &file.auth0_job_id)? else {
                continue;
            };
            let by_email: HashMap<&str, usize> = file
                .emails
                .iter()
                .map(String::as_str)
                .zip(file.indices.iter().copied())
                .collect();
            let index_of = |email: Option<&str>, _pos: usize| -> Option<i32> {
                email
                    .and_then(|e| by_email.get(e.to_lowercase().as_str()))
                    .map(|&i| i as i32)
            };
            rows.extend(user_rows(
                &file.auth0_job_id,
                errors,
                &index_of,
                Some(&file.indices),
            ));
        }
    }
    rows.sort_by_key(|r| (r.0.is_none(), r.0));
    Ok(TableIterator::new(rows))
}
