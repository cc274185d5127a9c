//! Running async client code inside a backend.
//!
//! One current-thread tokio runtime per backend, created on first use (never in the postmaster)
//! and reused. Futures are polled only on the backend's own thread, so nothing ever calls
//! Postgres from another thread. `block_on` wakes every 100 ms to honour `statement_timeout` and
//! `pg_cancel_backend` and to turn queued progress messages into NOTICEs; it never calls Postgres
//! from inside a poll.

use crate::error::Result;
use auth0_api::{Event, Observer};
use std::cell::OnceCell;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;
use tokio::runtime::Runtime;

thread_local! {
    static RUNTIME: OnceCell<Runtime> = const { OnceCell::new() };
}

/// How often a wait checks for interrupts and flushes progress messages.
const TICK: Duration = Duration::from_millis(100);

/// Messages waiting to become NOTICEs (filled by the client's observer while a future runs).
static PENDING_NOTICES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Runs `fut` to completion on the backend's runtime, cancellably.
pub fn block_on<F: Future>(fut: F) -> Result<F::Output> {
    RUNTIME.with(|cell| {
        let rt = match cell.get() {
            Some(rt) => rt,
            None => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| {
                        crate::error::Error::invalid(
                            pgrx::PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                            format!("cannot start the async runtime: {e}"),
                        )
                    })?;
                let _ = cell.set(rt);
                cell.get().expect("runtime was just set") // ok: set above on this thread
            }
        };
        // Entered first, dropped last: if an interrupt raises an ERROR below, the future is
        // dropped (while unwinding) with the runtime context still in place.
        let _context = rt.enter();
        let mut fut = Box::pin(fut);
        loop {
            match rt.block_on(async { tokio::time::timeout(TICK, &mut fut).await }) {
                Ok(output) => {
                    flush_notices();
                    return Ok(output);
                }
                Err(_tick) => {
                    flush_notices();
                    // Raises the query-cancel / statement-timeout ERROR when one is pending.
                    pgrx::check_for_interrupts!();
                }
            }
        }
    })
}

/// Queues a progress message; it is shown at the next tick.
pub fn queue_notice(message: String) {
    PENDING_NOTICES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(message);
}

fn flush_notices() {
    let messages: Vec<String> =
        std::mem::take(&mut *PENDING_NOTICES.lock().unwrap_or_else(|p| p.into_inner()));
    for m in messages {
        pgrx::notice!("{m}");
    }
}

/// Turns the client's waits into NOTICEs (users silence them with `client_min_messages`).
pub struct NoticeObserver;

impl Observer for NoticeObserver {
    fn on_event(&self, event: &Event) {
        match event {
            Event::RateLimited { endpoint, wait } => queue_notice(format!(
                "auth0_io: rate limited on {endpoint}, waiting {:.1} s",
                wait.as_secs_f64()
            )),
            Event::Retrying {
                endpoint,
                attempt,
                wait,
                reason,
            } => queue_notice(format!(
                "auth0_io: {endpoint} failed ({reason}); retry {attempt} in {:.1} s",
                wait.as_secs_f64()
            )),
            Event::TokenRefreshed => {}
        }
    }
}
