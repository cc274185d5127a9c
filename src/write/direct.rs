//! Users changed one Management API request each, at COMMIT: `PATCH /api/v2/users/{id}` for
//! the changes an upsert import job cannot make, `DELETE /api/v2/users/{id}` for deletions.
//!
//! Each batch is an import of the ledger (`auth0_imports`, type `users_update` or
//! `users_delete` in `auth0_job_status`), so its users are accounted for like an import's:
//! - its users (by `user_id`) and its `PATCH` bodies enter the ledger before anything of the
//!   transaction is sent ([`enter`]);
//! - before each window of [`WINDOW`] requests an `Applying` event names them, and after it an
//!   `Applied` event records each answer: done, failed (with Auth0's answer), or not sent;
//! - a stop in the middle (an ERROR, a cancel: the COMMIT fails) records what was answered, and
//!   the rest as never sent (`NOT_SUBMITTED` in `auth0_job_errors`); a request whose answer
//!   was lost (after the client's retries), the request in flight at a stop, or a window cut
//!   by a crash is `OUTCOME_UNKNOWN`;
//! - `auth0_import_resume` sends the requests of the users not sent or whose answer is unknown
//!   (both requests are idempotent: the same body, or a user already gone); the bodies are
//!   kept until every user of the batch is answered.
//!
//! Requests go one at a time. The client waits out Auth0's 429s by its rate-limit headers
//! (`x-ratelimit-reset`), so a large batch runs at the tenant's rate limit, cancellably.

use crate::error::{Error, Result};
use crate::import::ledger::{self, to_ranges, DirectFailure, DirectWrites, Event};
use crate::import::submit;
use crate::runtime::{block_on, queue_notice};
use crate::server::Server;
use pgrx::PgSqlErrorCode;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Requests between two ledger records (each record is one fsync'ed line).
const WINDOW: usize = 25;
const NOTICE_EVERY: Duration = Duration::from_secs(5);

/// What is done to each user of a batch.
#[derive(Debug)]
pub enum Operation {
    /// `PATCH` with each user's body.
    Update(Vec<Value>),
    Delete,
}

impl Operation {
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Update(_) => "update",
            Operation::Delete => "delete",
        }
    }
}

/// A batch in the ledger, not sent yet.
pub struct Entered {
    pub id: String,
    pub server: Server,
    users: Vec<String>,
    operation: Operation,
}

/// Enters one batch in the ledger before anything of the transaction is sent: `users` (ids) of
/// `connection` (the name shown in the ledger), with `operation`. The bodies of `PATCH`es are
/// kept with it (as a pending file), so `auth0_import_resume` can send what was not sent.
pub fn enter(
    server: Server,
    connection: &str,
    users: Vec<String>,
    operation: Operation,
) -> Result<Entered> {
    let id = submit::new_import_id();
    if !submit::take_submission_lock(&id)? {
        return Err(Error::invalid(
            PgSqlErrorCode::ERRCODE_OBJECT_IN_USE,
            "another session holds this batch's submission lock (a hash collision of import ids); run the transaction again",
        ));
    }
    let total = users.len();
    ledger::append(&Event::Import {
        id: id.clone(),
        at: crate::time::now_iso(),
        role: ledger::current_role(),
        role_oid: Some(ledger::current_role_oid()),
        server: server.name.clone(),
        connection: connection.to_string(),
        connection_id: String::new(),
        upsert: false,
        external_id: None,
        send_completion_email: false,
        total,
        invalid: vec![],
        chunks: 0,
        chunk_indices: vec![],
        direct: Some(DirectWrites {
            operation: operation.name().into(),
            user_ids: users.clone(),
        }),
    })?;
    // After the event: a file no ledger names would be an orphan.
    if let Operation::Update(bodies) = &operation {
        let kept = serde_json::to_vec(bodies).map_err(|e| {
            Error::invalid(
                PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                format!("cannot keep the PATCH bodies: {e}"),
            )
        })?;
        ledger::keep_pending(&id, 0, &kept)?;
    }
    queue_notice(format!(
        "auth0_io: import {id}: {} of {total} user(s) of connection {connection}, one request each; follow it with auth0_job_status('{id}')",
        operation.name()
    ));
    Ok(Entered {
        id,
        server,
        users,
        operation,
    })
}

impl Entered {
    /// Sends every request of the batch.
    pub fn send(&self) -> Result<()> {
        crate::kept_exports::forget_server(self.server.oid.to_u32());
        apply(
            self.server.client()?,
            &self.id,
            &self.users,
            &self.operation,
            (0..self.users.len()).collect(),
        )
    }
}

/// The batch's `PATCH` bodies, kept when it entered the ledger (for `auth0_import_resume`).
pub fn kept_operation(id: &str, operation: &str) -> Result<Operation> {
    if operation == "delete" {
        return Ok(Operation::Delete);
    }
    let kept = ledger::read_pending(id, 0)?.ok_or_else(|| {
        Error::invalid(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("the changes of batch {id} were not kept, so they cannot be sent"),
        )
        .with_hint(format!(
            "auth0_job_errors('{id}') lists the users not updated: run the UPDATE again for them."
        ))
    })?;
    let bodies = serde_json::from_slice::<Vec<Value>>(&kept).map_err(|e| {
        Error::invalid(
            PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            format!("the kept changes of batch {id} cannot be read: {e}"),
        )
    })?;
    Ok(Operation::Update(bodies))
}

/// Sends the requests of the users at `indices` (of `users`), recording each answer. Per-user
/// refusals are recorded and do not stop the batch (a WARNING counts them); a stop (Auth0
/// unreachable, credentials or scopes refused, rate limit not lifted in time, a cancel) is an
/// ERROR after what was answered is recorded.
pub fn apply(
    client: &auth0_api::Client,
    id: &str,
    users: &[String],
    operation: &Operation,
    indices: Vec<usize>,
) -> Result<()> {
    let verb = operation.name();
    let total = indices.len();
    let mut progress = Progress {
        import: id,
        window: vec![],
        done: vec![],
        failed: vec![],
        in_flight: None,
        armed: true,
    };
    let (mut refused, mut answered, mut lost) = (0usize, 0usize, 0usize);
    let mut last_notice = Instant::now();
    for window in indices.chunks(WINDOW) {
        ledger::append(&Event::Applying {
            import: id.to_string(),
            indices: to_ranges(window),
            at: crate::time::now_iso(),
        })?;
        progress.window = window.to_vec();
        for &i in window {
            progress.in_flight = Some(i);
            let user_id = &users[i];
            let answer = match operation {
                Operation::Update(bodies) => {
                    block_on(client.update_user(user_id, &bodies[i]))?.map(|found| found.is_some())
                }
                Operation::Delete => block_on(client.delete_user(user_id))?.map(|()| true),
            };
            progress.in_flight = None;
            match answer {
                Ok(true) => progress.done.push(i),
                Ok(false) => progress.failed.push(DirectFailure {
                    index: i,
                    code: "inexistent_user".into(),
                    message: "The user does not exist.".into(),
                }),
                Err(e) if e.outcome_unknown() => {
                    // Sent, answer lost (after the client's retries): left unanswered.
                    lost += 1;
                    pgrx::warning!(
                        "auth0_io: import {id}: the answer to the {verb} of user {} was lost ({e}); Auth0 may have applied it; auth0_import_resume('{id}') sends it again",
                        crate::error::cut(user_id)
                    );
                }
                Err(e) if submit::not_delivered(&e) => {
                    // Nothing reached Auth0 and nothing more will: stop, this user unsent.
                    progress.stop(&format!("stopped: {e}"));
                    return Err(Error::Api(e));
                }
                Err(e) => progress.failed.push(DirectFailure {
                    index: i,
                    code: e
                        .error_code()
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("HTTP_{}", e.status().unwrap_or(0))),
                    message: e.to_string(),
                }),
            }
        }
        refused += progress.failed.len();
        answered += window.len();
        progress.record()?;
        if last_notice.elapsed() >= NOTICE_EVERY {
            last_notice = Instant::now();
            queue_notice(format!(
                "auth0_io: import {id}: {verb} of {answered} of {total} user(s) answered"
            ));
        }
    }
    progress.armed = false;
    drop(progress);
    if lost == 0 {
        // Every user answered: the kept bodies are no longer needed for a resume.
        ledger::drop_all_pending(id);
    }
    ledger::append(&Event::Submitted {
        import: id.to_string(),
        at: crate::time::now_iso(),
    })?;
    if refused > 0 {
        pgrx::warning!(
            "auth0_io: import {id}: Auth0 refused the {verb} of {refused} of {total} user(s); SELECT * FROM auth0_job_errors('{id}') lists them"
        );
    }
    Ok(())
}

/// The answers of the current window, recorded when it ends, or when the submission stops
/// (also while unwinding from an ERROR or a cancel: then only file I/O).
struct Progress<'a> {
    import: &'a str,
    window: Vec<usize>,
    done: Vec<usize>,
    failed: Vec<DirectFailure>,
    /// The user whose request is on its way (its outcome is unknown if the submission stops).
    in_flight: Option<usize>,
    armed: bool,
}

impl Progress<'_> {
    fn applied(&mut self, unsent: Vec<usize>) -> Event {
        self.window.clear();
        Event::Applied {
            import: self.import.to_string(),
            done: to_ranges(&std::mem::take(&mut self.done)),
            failed: std::mem::take(&mut self.failed),
            unsent: to_ranges(&unsent),
            at: crate::time::now_iso(),
        }
    }

    fn record(&mut self) -> Result<()> {
        let event = self.applied(vec![]);
        ledger::append(&event)
    }

    /// Records the window's answers, its users not sent, and the interruption.
    fn stop(&mut self, reason: &str) {
        self.armed = false;
        let answered: Vec<usize> = self
            .done
            .iter()
            .copied()
            .chain(self.failed.iter().map(|f| f.index))
            .chain(self.in_flight)
            .collect();
        let unsent: Vec<usize> = self
            .window
            .iter()
            .copied()
            .filter(|i| !answered.contains(i))
            .collect();
        let event = self.applied(unsent);
        let _ = ledger::append(&event);
        let _ = ledger::append(&Event::Interrupted {
            import: self.import.to_string(),
            at: crate::time::now_iso(),
            reason: reason.to_string(),
        });
    }
}

impl Drop for Progress<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.stop("the statement stopped (an error or a cancel) before every request was sent");
        }
    }
}
