//! `auth0_import_resume`: finishing an import whose submission stopped (an ERROR, a cancel, a
//! crash or a killed session) and finding the users of files whose answer was lost.
//!
//! Files never answered are sent from the copies kept in `pending` (each exactly once: a file
//! is forgotten the moment its answer, or its lost answer, is in the ledger). Users of a file
//! whose answer was lost are looked up by e-mail in the import's connection: created since the
//! import began means inserted; changed by this upsert means updated; there before and
//! untouched (no upsert) is what Auth0 reports as DUPLICATED_USER; not found stays unknown, to
//! be looked up again later (Auth0 may still be running that job) — never a false failure.
//!
//! A batch of `PATCH`es or `DELETE`s (an `UPDATE` or `DELETE` through `auth0.users`) sends the
//! requests of its users that were not sent or whose answer was lost: both are idempotent.

#![allow(clippy::result_large_err)]

use super::ledger::{self, to_ranges, Event};
use super::record::{self, ImportRecord, Submission, Unknown};
use super::submit;
use crate::error::{Error, Result};
use crate::runtime::block_on;
use crate::server::Server;
use pgrx::prelude::*;
use serde_json::Value;

/// Sends the files an interrupted import never sent and looks up the users of files whose
/// answer was lost; returns the import id (for `auth0_job_status`). Calling it again is
/// harmless: a finished import is left as it is (with a NOTICE).
///
/// Errors: 42704 unknown import; 42501 another role's import; 55006 another session is
/// submitting it now; 55000 a file to send was not kept (imports made before 0.2.0, or whose
/// first file Auth0 refused).
#[pg_extern(sql = r#"
CREATE FUNCTION auth0_import_resume(import_id text) RETURNS text
VOLATILE STRICT LANGUAGE c AS 'MODULE_PATHNAME', 'auth0_import_resume_wrapper';
"#)]
fn auth0_import_resume(
    import_id: &str,
) -> std::result::Result<String, pgrx::pg_sys::panic::ErrorReport> {
    Ok(resume(import_id)?)
}

fn resume(id: &str) -> Result<String> {
    let rec = super::load_import(id)?.ok_or_else(|| {
        Error::invalid(
            PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            format!("import \"{id}\" does not exist"),
        )
        .with_hint("SELECT import_id, submission FROM auth0_imports lists the imports you can see.")
    })?;
    if rec.submission == Submission::Running {
        return Err(Error::invalid(
            PgSqlErrorCode::ERRCODE_OBJECT_IN_USE,
            format!("import {id} is being submitted by another session"),
        )
        .with_hint("Wait for that statement to end (or cancel it), then resume."));
    }
    if !submit::take_submission_lock(id)? {
        return Err(Error::invalid(
            PgSqlErrorCode::ERRCODE_OBJECT_IN_USE,
            format!("import {id} is being resumed by another session"),
        ));
    }
    // Read again under the lock (another resume may have finished in between). The lock is
    // ours now, so a submission still marked running is one whose session is gone.
    let mut rec = record::fold(ledger::read_import(id)?).ok_or_else(|| {
        Error::invalid(
            PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            format!("import \"{id}\" does not exist"),
        )
    })?;
    if rec.submission == Submission::Running {
        rec.submission = Submission::Interrupted("its session ended".into());
    }
    let server = Server::find(Some(&rec.server))?;
    let client = server.client()?;
    // This session writes to the tenant: its kept exports no longer show it as it is.
    crate::kept_exports::forget_server(server.oid.to_u32());

    // A batch of PATCHes or DELETEs: send the requests not sent, or whose answer was lost.
    if let Some(d) = &rec.direct {
        let mut indices = rec.unsubmitted_indices();
        indices.extend(&d.unanswered);
        indices.sort_unstable();
        indices.dedup();
        if indices.is_empty() {
            pgrx::notice!("auth0_io: import {id} has nothing to resume: every user was answered");
            return Ok(id.to_string());
        }
        let operation = crate::write::direct::kept_operation(id, &d.operation)?;
        ledger::append(&Event::Resumed {
            import: id.to_string(),
            at: crate::time::now_iso(),
            role: ledger::current_role(),
        })?;
        crate::write::direct::apply(client, id, &d.user_ids, &operation, indices)?;
        return Ok(id.to_string());
    }

    // 1. Users of files whose answer was lost.
    for u in &rec.unknown {
        if !u.unresolved().is_empty() {
            reconcile(client, &rec, u)?;
        }
    }

    // 2. Files never sent.
    let unsent = rec.unsent_files();
    if matches!(rec.submission, Submission::Interrupted(_)) && !unsent.is_empty() {
        let mut files = Vec::new();
        for n in unsent {
            let body = ledger::read_pending(id, n)?;
            let (Some(body), Some(indices)) = (body, rec.file_indices.get(n)) else {
                return Err(Error::invalid(
                    PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                    format!("file {} of import {id} was not kept, so it cannot be sent", n + 1),
                )
                .with_detail("Imports made before auth0_io 0.2.0 keep no files, and an import whose first file Auth0 refused did not happen.")
                .with_hint(format!("auth0_job_errors('{id}') lists the NOT_SUBMITTED users by input_index: import them again with auth0_import.")));
            };
            let emails = submit::emails_of(&body);
            files.push(submit::File {
                number: n,
                indices: indices.clone(),
                emails,
                body,
            });
        }
        ledger::append(&Event::Resumed {
            import: id.to_string(),
            at: crate::time::now_iso(),
            role: ledger::current_role(),
        })?;
        submit::submit_all(
            client,
            &submit::Batch {
                import_id: id,
                connection_id: &rec.connection_id,
                upsert: rec.upsert,
                send_completion_email: rec.send_completion_email,
                external_id: rec.external_id.as_deref(),
            },
            rec.files,
            files.into_iter().map(Ok),
        )?;
    } else if rec.unknown.is_empty() {
        pgrx::notice!("auth0_io: import {id} has nothing to resume: every file was answered");
    }
    Ok(id.to_string())
}

/// Clocks differ: Auth0's timestamps are compared with ours with this much slack (a user
/// created up to a minute before the import began by Auth0's clock still counts as ours).
const CLOCK_SLACK_MICROS: i64 = 60_000_000;
/// After this long a user still not found was not imported: Auth0 times an import job out
/// after 2 hours and forgets it after 24.
const GIVE_UP_MICROS: i64 = 24 * 3_600_000_000;

/// Looks up the unresolved users of one lost-answer file and records what was found.
fn reconcile(client: &auth0_api::Client, rec: &ImportRecord, u: &Unknown) -> Result<()> {
    let began = crate::time::parse_iso_to_pg_micros(&rec.at)
        .unwrap_or(i64::MAX)
        .saturating_sub(CLOCK_SLACK_MICROS);
    let now = crate::time::parse_iso_to_pg_micros(&crate::time::now_iso()).unwrap_or(0);
    let sent = crate::time::parse_iso_to_pg_micros(&u.at).unwrap_or(now);
    let given_up = now.saturating_sub(sent) >= GIVE_UP_MICROS;
    let since = |user: &auth0_api::users::User, field: &str| {
        user.get(field)
            .and_then(Value::as_str)
            .and_then(crate::time::parse_iso_to_pg_micros)
            .is_some_and(|t| t >= began)
    };
    let fields: Vec<String> = ["email", "created_at", "updated_at", "identities"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (mut inserted, mut updated, mut existing, mut absent) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, email) in u.unresolved() {
        let found = block_on(client.users_by_email(email, Some(&fields)))??;
        let Some(user) = found.into_iter().find(|x| {
            x.get("identities")
                .and_then(|ids| ids.get(0))
                .and_then(|id| id.get("connection"))
                .and_then(Value::as_str)
                == Some(rec.connection.as_str())
        }) else {
            if given_up {
                absent.push(i);
            }
            continue; // not (yet) there: still unknown
        };
        if since(&user, "created_at") {
            inserted.push(i);
        } else if rec.upsert && since(&user, "updated_at") {
            updated.push(i);
        } else if !rec.upsert {
            existing.push(i);
        }
    }
    ledger::append(&Event::Reconciled {
        import: rec.id.clone(),
        chunk: u.chunk,
        inserted: to_ranges(&inserted),
        updated: to_ranges(&updated),
        existing: to_ranges(&existing),
        absent: to_ranges(&absent),
        at: crate::time::now_iso(),
    })
}
