//! Submitting an import's files: at most two Auth0 import jobs running at a time (Auth0's
//! limit), waiting for a free slot cancellably with NOTICE progress, every job recorded in the
//! ledger the moment Auth0 accepts it.

use super::ledger::{self, to_ranges, Event};
use super::slots::Slots;
use crate::error::{Error, Result};
use crate::runtime::{block_on, queue_notice};
use auth0_api::jobs::ImportRequest;
use auth0_api::Client;
use pgrx::pg_sys;
use std::time::{Duration, Instant};

/// Auth0 runs at most two import jobs per tenant.
pub const MAX_RUNNING: usize = 2;
const NOTICE_EVERY: Duration = Duration::from_secs(5);

pub struct Batch<'a> {
    pub import_id: &'a str,
    pub connection_id: &'a str,
    pub upsert: bool,
    pub send_completion_email: bool,
    pub external_id: Option<&'a str>,
}

/// A fresh import id: `imp_` and 20 characters from the clock, the process and a counter.
pub fn new_import_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let a = h.finish();
    h.write_u8(1);
    let b = h.finish();
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut s = String::from("imp_");
    for i in 0..20 {
        let word = if i < 10 {
            a >> (i * 6)
        } else {
            b >> ((i - 10) * 6)
        };
        s.push(ALPHABET[(word % 36) as usize] as char);
    }
    s
}

/// Advisory-lock keys of an import's submission. The submitting session holds the lock (at
/// transaction level) while it submits, so another session can tell a submission that is
/// running from one whose session is gone: a crash, `kill -9`, `pg_terminate_backend` or a
/// lost connection releases it with the session. Two int4 keys: a constant for auth0_io and a
/// hash of the import id (a collision only makes a dead submission look alive).
fn lock_keys(import_id: &str) -> (i32, i32) {
    let mut h: u32 = 0x811c_9dc5; // FNV-1a
    for b in import_id.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    (0x6130_6930, h as i32)
}

fn spi_bool(sql: &str) -> Result<bool> {
    pgrx::Spi::get_one::<bool>(sql)
        .map_err(|e| {
            Error::invalid(
                pgrx::PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                format!("auth0_io: cannot check an import's submission lock: {e}"),
            )
        })
        .map(|b| b.unwrap_or(false))
}

/// Takes the submission lock of an import for this transaction; false when another session
/// holds it (it is submitting that import now).
pub fn take_submission_lock(import_id: &str) -> Result<bool> {
    let (a, b) = lock_keys(import_id);
    spi_bool(&format!(
        "SELECT pg_catalog.pg_try_advisory_xact_lock({a}, {b})"
    ))
}

/// Is a session submitting this import right now? Read from `pg_locks` (granted advisory locks
/// of this database), without taking any lock: checking never gets in a submitter's way.
pub fn submission_running(import_id: &str) -> Result<bool> {
    let (a, b) = lock_keys(import_id);
    // SAFETY: MyDatabaseId is set once the backend is connected to a database.
    let db = unsafe { pg_sys::MyDatabaseId }.to_u32();
    // Two-int4-key advisory locks show the keys as classid and objid, with objsubid 2.
    spi_bool(&format!(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_locks
                         WHERE locktype = 'advisory' AND granted AND database = {db}
                           AND classid = {} AND objid = {} AND objsubid = 2)",
        a as u32, b as u32
    ))
}

/// An error after which the file certainly did not reach Auth0, and sending it later may work.
pub(crate) fn not_delivered(e: &auth0_api::Error) -> bool {
    use auth0_api::Error as E;
    match e {
        E::Transport {
            maybe_delivered, ..
        } => !maybe_delivered,
        E::RateLimited { .. } | E::Auth { .. } | E::Config(_) => true,
        E::Api { status, .. } => matches!(status, 401 | 403),
        _ => false,
    }
}

/// One import file: its number in the import, its input positions and e-mails, its body.
pub struct File {
    pub number: usize,
    pub indices: Vec<usize>,
    pub emails: Vec<String>,
    pub body: Vec<u8>,
}

/// Records an interruption if the statement stops (ERROR, cancel) before every file is in.
struct Interruption<'a> {
    import_id: &'a str,
    armed: bool,
}

impl Drop for Interruption<'_> {
    fn drop(&mut self) {
        if self.armed {
            // Unwinding from an ERROR: only file I/O here, no Postgres calls.
            let _ = ledger::append(&Event::Interrupted {
                import: self.import_id.to_string(),
                at: crate::time::now_iso(),
                reason: "the statement stopped before every file was submitted".into(),
            });
        }
    }
}

/// Submits `files` (the import has `total_files` in all; the others were submitted before),
/// keeping at most two of this import's Auth0 jobs running. Each outcome is in the ledger the
/// moment it is known, and the file's kept copy is then dropped, so no file is ever sent twice:
/// a created job (`Job`), a refusal (`ChunkFailed`, its users failed), or a broken answer
/// (`ChunkUnknown`: Auth0 may have the job; `auth0_import_resume` reconciles it). Returns the
/// ids of the jobs created.
pub fn submit_all(
    client: &Client,
    batch: &Batch,
    total_files: usize,
    files: impl IntoIterator<Item = Result<File>>,
) -> Result<Vec<String>> {
    if !take_submission_lock(batch.import_id)? {
        return Err(Error::invalid(
            pgrx::PgSqlErrorCode::ERRCODE_OBJECT_IN_USE,
            format!(
                "import {} is being submitted by another session",
                batch.import_id
            ),
        ));
    }
    let mut guard = Interruption {
        import_id: batch.import_id,
        armed: true,
    };
    let mut slots = Slots::default();
    let mut created = Vec::new();
    let mut answered = 0usize;
    let mut last_notice = Instant::now();
    for file in files {
        let file = file?;
        let n = file.number;
        // Wait for a free slot among this import's own jobs, looking at each job when it is
        // expected to end (see slots.rs).
        while slots.len() >= MAX_RUNNING {
            for id in slots.due(Instant::now()) {
                match block_on(client.get_job(&id))?? {
                    Some(j) if !j.is_finished() => {
                        slots.still_running(&id, j.time_left_seconds, Instant::now())
                    }
                    _ => slots.finished(&id, Instant::now()),
                }
            }
            if slots.len() < MAX_RUNNING {
                break;
            }
            if last_notice.elapsed() >= NOTICE_EVERY {
                last_notice = Instant::now();
                queue_notice(format!(
                    "auth0_io: import {}: submitting file {} of {total_files}, waiting for one of the 2 running Auth0 jobs to finish",
                    batch.import_id,
                    n + 1
                ));
            }
            let wait = slots.sleep(Instant::now());
            block_on(async move { tokio::time::sleep(wait).await })?;
        }
        let request = ImportRequest {
            connection_id: batch.connection_id.to_string(),
            users: file.body.into(),
            upsert: batch.upsert,
            send_completion_email: batch.send_completion_email,
            external_id: batch.external_id.map(str::to_string),
        };
        let indices = to_ranges(&file.indices);
        let at = crate::time::now_iso;
        let import = batch.import_id.to_string();
        // From here until its answer is recorded, Auth0 may have the file: if the submission
        // stops in between, it counts as sent with its answer lost, never to be sent again.
        ledger::append(&Event::Sending {
            import: import.clone(),
            chunk: n,
            indices: indices.clone(),
            emails: file.emails.clone(),
            at: at(),
        })?;
        // A 429 ("2 active import users jobs", e.g. another import of this tenant) is waited
        // out by the client, cancellably.
        match block_on(client.create_import(&request))? {
            Ok(job) => {
                ledger::drop_pending(batch.import_id, n);
                ledger::append(&Event::Job {
                    import,
                    auth0_job_id: job.id.clone(),
                    chunk: n,
                    indices,
                    emails: file.emails,
                    at: at(),
                })?;
                created.push(job.id.clone());
                slots.started(job.id, file.indices.len(), Instant::now());
                answered += 1;
            }
            Err(e) if e.outcome_unknown() => {
                // Sent, but the answer is lost: Auth0 may have created the job. Never a refusal,
                // never sent again; its users are looked up by auth0_import_resume.
                ledger::drop_pending(batch.import_id, n);
                pgrx::warning!(
                    "auth0_io: import {}: the answer to file {} of {total_files} was lost ({e}); Auth0 may have created its job",
                    batch.import_id,
                    n + 1
                );
                ledger::append(&Event::ChunkUnknown {
                    import,
                    chunk: n,
                    indices,
                    emails: file.emails,
                    error: e.to_string(),
                    at: at(),
                })?;
                answered += 1;
            }
            Err(e) if not_delivered(&e) => {
                // Nothing reached Auth0 and trying again later can work (no connection, the
                // rate limit did not lift, credentials or scopes refused): stop here, keep this
                // file and the next ones for auth0_import_resume.
                ledger::append(&Event::Unsent {
                    import,
                    chunk: n,
                    reason: e.to_string(),
                    at: at(),
                })?;
                return Err(Error::Api(e));
            }
            Err(e) => {
                let refused = Event::ChunkFailed {
                    import: import.clone(),
                    chunk: n,
                    indices,
                    emails: file.emails,
                    error: e.to_string(),
                    at: at(),
                };
                if answered == 0 && n == 0 {
                    // Auth0 refused the first file: nothing reached it, the import did not
                    // happen.
                    ledger::drop_all_pending(batch.import_id);
                    guard.armed = false;
                    ledger::append(&refused)?;
                    ledger::append(&Event::Interrupted {
                        import,
                        at: at(),
                        reason: format!("the first file was refused: {e}"),
                    })?;
                    return Err(Error::Api(e));
                }
                // Auth0 refused this file: its users are failed; the others go on, so the
                // import id (and every job) stays reachable.
                ledger::drop_pending(batch.import_id, n);
                pgrx::warning!(
                    "auth0_io: import {}: file {} of {total_files} was refused: {e}",
                    batch.import_id,
                    n + 1
                );
                ledger::append(&refused)?;
                answered += 1;
            }
        }
    }
    guard.armed = false;
    ledger::drop_all_pending(batch.import_id);
    ledger::append(&Event::Submitted {
        import: batch.import_id.to_string(),
        at: crate::time::now_iso(),
    })?;
    Ok(created)
}

/// The e-mails of a kept file's records, lower-cased, in order.
pub fn emails_of(body: &[u8]) -> Vec<String> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Array(items)) => items
            .iter()
            .map(|u| {
                u.get("email")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_lowercase)
                    .unwrap_or_default()
            })
            .collect(),
        _ => vec![],
    }
}
