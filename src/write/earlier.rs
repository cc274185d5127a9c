//! This session's upsert jobs of earlier `UPDATE`s, still running at Auth0.
//!
//! An `UPDATE` committed as an upsert import job lands when Auth0 runs the job, which may be
//! after the COMMIT of a later transaction of the same session. Without a wait, a later
//! `PATCH` would be overwritten by the earlier job, and a later `DELETE` undone by it (an
//! upsert creates the user again when it no longer finds its e-mail). So a COMMIT that writes
//! to a server first waits (cancellably, with a NOTICE) until the session's earlier upsert jobs
//! there have finished. Other sessions' jobs are not known here: see docs/architecture.md.

use crate::error::Result;
use crate::runtime::{block_on, queue_notice};
use crate::server::Server;
use pgrx::pg_sys;
use std::cell::RefCell;
use std::time::{Duration, Instant};

const FIRST_LOOK: Duration = Duration::from_millis(100);
const MAX_LOOK: Duration = Duration::from_secs(2);
const NOTICE_EVERY: Duration = Duration::from_secs(5);

thread_local! {
    /// (server, Auth0 job id) of upsert jobs made by this session's UPDATEs.
    static RUNNING: RefCell<Vec<(pg_sys::Oid, String)>> = const { RefCell::new(Vec::new()) };
}

/// Remembers the jobs an `UPDATE`'s upsert import made on `server`.
pub fn running(server: pg_sys::Oid, jobs: Vec<String>) {
    RUNNING.with(|r| {
        r.borrow_mut()
            .extend(jobs.into_iter().map(|job| (server, job)))
    });
}

/// Waits until this session's earlier upsert jobs on `server` have finished (or Auth0 no
/// longer has them).
pub fn wait(server: pg_sys::Oid) -> Result<()> {
    let jobs: Vec<String> = RUNNING.with(|r| {
        r.borrow()
            .iter()
            .filter(|(s, _)| *s == server)
            .map(|(_, j)| j.clone())
            .collect()
    });
    if jobs.is_empty() {
        return Ok(());
    }
    let s = Server::open(server)?;
    let client = s.client()?;
    let started = Instant::now();
    let mut last_notice: Option<Instant> = None;
    for job in jobs {
        let mut look = FIRST_LOOK;
        loop {
            match block_on(client.get_job(&job))?? {
                Some(j) if !j.is_finished() => {}
                _ => break,
            }
            if last_notice.is_none_or(|t| t.elapsed() >= NOTICE_EVERY) {
                last_notice = Some(Instant::now());
                queue_notice(format!(
                    "auth0_io: waiting for this session's earlier UPDATE (Auth0 job {job}) to finish before sending this transaction's writes ({:.0} s so far)",
                    started.elapsed().as_secs_f64()
                ));
            }
            let wait = look;
            block_on(async move { tokio::time::sleep(wait).await })?;
            look = (look * 2).min(MAX_LOOK);
        }
        RUNNING.with(|r| r.borrow_mut().retain(|(s, j)| !(*s == server && *j == job)));
    }
    Ok(())
}
