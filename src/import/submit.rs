//! Submitting an import's files: at most two Auth0 import jobs running at a time (Auth0's
//! limit), waiting for a free slot cancellably with NOTICE progress, every job recorded in the
//! ledger the moment Auth0 accepts it.

use super::ledger::{self, to_ranges, Event};
use crate::error::{Error, Result};
use crate::runtime::{block_on, queue_notice};
use auth0_api::import::Chunk;
use auth0_api::jobs::ImportRequest;
use auth0_api::Client;
use std::time::{Duration, Instant};

/// Auth0 runs at most two import jobs per tenant.
pub const MAX_RUNNING: usize = 2;
/// Polling while waiting for a slot: soon at first, then less often (each GET counts against
/// the tenant's rate limit), and never later than a job's own estimate of its remaining time.
const FIRST_POLL: Duration = Duration::from_millis(100);
const MAX_POLL: Duration = Duration::from_secs(2);
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

/// Records an interruption if the statement stops (ERROR, cancel) before every chunk is in.
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

pub fn submit_all(
    client: &Client,
    batch: &Batch,
    chunks: Vec<Chunk>,
    emails: Vec<Vec<String>>,
) -> Result<()> {
    let total_chunks = chunks.len();
    let mut guard = Interruption {
        import_id: batch.import_id,
        armed: true,
    };
    let mut running: Vec<String> = Vec::new();
    let mut submitted = 0usize;
    let mut last_notice = Instant::now();
    for (n, (chunk, chunk_emails)) in chunks.into_iter().zip(emails).enumerate() {
        // Wait for a free slot among this import's own jobs.
        let mut poll = FIRST_POLL;
        loop {
            if running.len() < MAX_RUNNING {
                break;
            }
            let mut still = Vec::new();
            let mut soonest: Option<Duration> = None;
            for id in running.drain(..) {
                match block_on(client.get_job(&id))?? {
                    Some(j) if !j.is_finished() => {
                        if let Some(t) = j.time_left_seconds {
                            let t = Duration::from_secs(t.max(0) as u64);
                            soonest = Some(soonest.map_or(t, |s| s.min(t)));
                        }
                        still.push(id)
                    }
                    _ => {}
                }
            }
            running = still;
            if running.len() < MAX_RUNNING {
                break;
            }
            if last_notice.elapsed() >= NOTICE_EVERY {
                last_notice = Instant::now();
                queue_notice(format!(
                    "auth0_io: import {}: {} of {total_chunks} files submitted, waiting for one of the 2 running Auth0 jobs to finish",
                    batch.import_id, n
                ));
            }
            let wait = poll.min(soonest.unwrap_or(MAX_POLL).max(FIRST_POLL));
            block_on(async move { tokio::time::sleep(wait).await })?;
            poll = (poll * 2).min(MAX_POLL);
        }
        let request = ImportRequest {
            connection_id: batch.connection_id.to_string(),
            users: chunk.body.into(),
            upsert: batch.upsert,
            send_completion_email: batch.send_completion_email,
            external_id: batch.external_id.map(str::to_string),
        };
        // A 429 ("2 active import users jobs", e.g. another import of this tenant) is waited
        // out by the client, cancellably.
        match block_on(client.create_import(&request))? {
            Ok(job) => {
                ledger::append(&Event::Job {
                    import: batch.import_id.to_string(),
                    auth0_job_id: job.id.clone(),
                    chunk: n,
                    indices: to_ranges(&chunk.indices),
                    emails: chunk_emails,
                    at: crate::time::now_iso(),
                })?;
                running.push(job.id);
                submitted += 1;
            }
            Err(e) if submitted == 0 => {
                // Nothing reached Auth0: the import simply did not happen.
                guard.armed = false;
                ledger::append(&Event::Interrupted {
                    import: batch.import_id.to_string(),
                    at: crate::time::now_iso(),
                    reason: format!("the first file was refused: {e}"),
                })?;
                return Err(Error::Api(e));
            }
            Err(e) => {
                // Jobs already exist: record this file's users as failed and go on, so the
                // import id (and every job) stays reachable.
                pgrx::warning!(
                    "auth0_io: import {}: file {} of {total_chunks} was refused: {e}",
                    batch.import_id,
                    n + 1
                );
                ledger::append(&Event::ChunkFailed {
                    import: batch.import_id.to_string(),
                    chunk: n,
                    indices: to_ranges(&chunk.indices),
                    emails: chunk_emails,
                    error: e.to_string(),
                    at: crate::time::now_iso(),
                })?;
            }
        }
    }
    guard.armed = false;
    ledger::append(&Event::Submitted {
        import: batch.import_id.to_string(),
        at: crate::time::now_iso(),
    })?;
    Ok(())
}
