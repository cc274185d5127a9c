//! Writing through `auth0.users`: `INSERT` and `COPY FROM` create users with Auth0 bulk import
//! jobs, sent when the transaction commits (docs/architecture.md, "Writes through the table").
//!
//! - [`record`]: a written row as an import record (pure, unit-tested);
//! - this file: the transaction's queue and the commit.
//!
//! **During the transaction nothing reaches Auth0**, not even a read. Each row is made an
//! import record and validated as it arrives, with `auth0_validate_users`'s rules and
//! duplicates within the transaction. It is then packed into import files of at most Auth0's
//! size. A full file goes to disk, under the ledger's pending files, so the backend holds one
//! file per connection whatever the number of rows. Rows are grouped by connection: one
//! import per connection, numbered from 0 in the order the rows came (`input_index`).
//!
//! **At COMMIT** (`XACT_EVENT_PRE_COMMIT`, while the transaction can still fail):
//! 1. every connection is resolved;
//! 2. each import enters the ledger;
//! 3. its files are submitted, at most two Auth0 jobs at a time, as `auth0_import` does.
//!
//! A NOTICE names each import; `auth0_job_status` and `auth0_job_errors` follow it.
//!
//! **When the commit fails.** If a connection cannot take imports, the COMMIT fails before
//! anything is sent. Every import enters the ledger before any file is sent. If submitting then
//! fails (Auth0 unreachable, a cancel), the COMMIT fails and the transaction rolls back; what was
//! sent stays sent and is in the ledger with its jobs, and `auth0_import_resume('<id>')` sends
//! the files that were not. (So does anything that fails the commit after this callback, e.g. a
//! serialization failure: Auth0's jobs exist by then.)
//!
//! **ROLLBACK** (or an error before COMMIT) drops the queued files: nothing was sent.
//!
//! **Savepoints.** Auth0 cannot take back part of a transaction. A savepoint (or a PL/pgSQL
//! exception block) rolled back after rows were written in it makes the COMMIT fail, with
//! nothing sent. So does a row that could not be queued after the queue changed (a full disk).
//! `PREPARE TRANSACTION` is refused.

pub mod record;

use crate::error::{Error, Result};
use crate::import::{ledger, submit};
use crate::runtime::queue_notice;
use crate::server::Server;
use auth0_api::import::{Problem, Splitter, Validator, MAX_FILE_BYTES};
use pgrx::{pg_sys, PgSqlErrorCode};
use serde_json::Value;
use std::cell::RefCell;

/// How many problems of a refused row are listed.
const SHOWN_PROBLEMS: usize = 5;

/// The users of one connection written in this transaction, on their way to one import.
struct Queued {
    server: pg_sys::Oid,
    connection: String,
    /// The table option `upsert`.
    upsert: bool,
    import_id: String,
    validator: Validator,
    splitter: Splitter,
    /// Input positions of each file already on disk, as ranges.
    files: Vec<ledger::Ranges>,
    /// Rows queued so far (the next row's `input_index`).
    rows: usize,
    /// The import is in the ledger: from then on its files belong to it (resume), not to the
    /// transaction.
    in_ledger: bool,
}

#[derive(Default)]
struct Transaction {
    queued: Vec<Queued>,
    /// Each written table's target, read once per transaction.
    tables: Vec<(pg_sys::Oid, Target)>,
    /// The newest subtransaction a row was queued in. Ids only grow, and while a subtransaction
    /// is open every newer one is inside it: a subtransaction that aborts held queued rows
    /// exactly when this is at least its id. (Tracking starts with the first row, so it also
    /// holds for savepoints taken before this library was loaded.)
    newest_sub: pg_sys::SubTransactionId,
    /// Why the transaction may not commit its writes.
    poisoned: Option<String>,
}

thread_local! {
    static TRANSACTION: RefCell<Transaction> = RefCell::new(Transaction::default());
}

/// Queues one row written into the foreign table `table`: (column name, value as JSON; NULL
/// is `None`). Errors: the row's problems (22023 with DETAIL), columns that cannot be written.
/// (The user mapping and the connection are checked at COMMIT.)
pub fn insert(table: pg_sys::Oid, cols: &[(String, Option<Value>)]) -> Result<()> {
    let Target {
        server,
        connection: default_connection,
        upsert,
    } = target(table)?;
    let rec = record::from_row(cols, default_connection.as_deref())?;
    // SAFETY: reads a backend global, valid inside a transaction.
    let sub = unsafe { pg_sys::GetCurrentSubTransactionId() };
    TRANSACTION.with(|t| {
        let mut t = t.borrow_mut();
        let at = match t.queued.iter().position(|q| {
            q.server == server && q.connection == rec.connection && q.upsert == upsert
        }) {
            Some(i) => i,
            None => {
                t.queued.push(Queued {
                    server,
                    connection: rec.connection.clone(),
                    upsert,
                    import_id: submit::new_import_id(),
                    validator: Validator::for_stream(),
                    splitter: Splitter::new(MAX_FILE_BYTES),
                    files: Vec::new(),
                    rows: 0,
                    in_ledger: false,
                });
                t.queued.len() - 1
            }
        };
        let q = &mut t.queued[at];
        let index = q.rows;
        let mut problems = Vec::new();
        // A refused row leaves nothing behind (its keys are not remembered).
        q.validator.check(index, &rec.user, &mut problems);
        if !problems.is_empty() {
            return Err(refused_row(&q.connection, index, &problems));
        }
        // From here the queue has changed: a failure must keep the transaction from committing
        // what is left of it.
        let queued = (|| -> Result<()> {
            if let Some(full) = q
                .splitter
                .push(index, &rec.user)
                .map_err(|(i, size)| refused_size(i, size))?
            {
                ledger::keep_pending(&q.import_id, q.files.len(), &full.body)?;
                q.files.push(ledger::to_ranges(&full.indices));
            }
            q.rows += 1;
            Ok(())
        })();
        if let Err(e) = queued {
            t.poisoned
                .get_or_insert_with(|| format!("a row could not be queued ({e})"));
            return Err(e);
        }
        t.newest_sub = t.newest_sub.max(sub);
        Ok(())
    })
}

/// Where a foreign table's rows go: its server, its `connection` and `upsert` options.
#[derive(Clone)]
struct Target {
    server: pg_sys::Oid,
    connection: Option<String>,
    upsert: bool,
}

/// A foreign table's target (read once per transaction).
fn target(table: pg_sys::Oid) -> Result<Target> {
    let known = TRANSACTION.with(|t| {
        t.borrow()
            .tables
            .iter()
            .find(|(oid, _)| *oid == table)
            .map(|(_, target)| target.clone())
    });
    if let Some(k) = known {
        return Ok(k);
    }
    // SAFETY: `GetForeignTable` raises an ERROR (not UB) for an oid that is no foreign table;
    // the result and its options list are palloc'd and valid for this call.
    let (server, options) = unsafe {
        let ft = pg_sys::GetForeignTable(table);
        ((*ft).serverid, crate::server::options_of((*ft).options)?)
    };
    let target = Target {
        server,
        connection: options.get("connection").cloned(),
        upsert: crate::options::upsert(&options)?,
    };
    TRANSACTION.with(|t| t.borrow_mut().tables.push((table, target.clone())));
    Ok(target)
}

fn refused_row(connection: &str, index: usize, problems: &[Problem]) -> Error {
    let mut lines: Vec<String> = problems
        .iter()
        .take(SHOWN_PROBLEMS)
        .map(|p| {
            let at = if p.path.is_empty() {
                String::new()
            } else {
                format!("{}: ", p.path)
            };
            format!("{at}{} ({})", p.message, p.code)
        })
        .collect();
    if problems.len() > SHOWN_PROBLEMS {
        lines.push(format!("... and {} more", problems.len() - SHOWN_PROBLEMS));
    }
    Error::invalid(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        format!(
            "row {} written for connection \"{}\" is not a user Auth0 can import; nothing was sent",
            index + 1,
            crate::error::cut(connection)
        ),
    )
    .with_detail(lines.join("\n"))
    .with_hint("The rules are Auth0's bulk import schema; auth0_validate_users(jsonb) lists every problem of a batch.")
}

fn refused_size(index: usize, size: usize) -> Error {
    Error::invalid(
        PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
        format!(
            "row {} takes {size} bytes, more than an Auth0 import file holds ({MAX_FILE_BYTES})",
            index + 1
        ),
    )
}

/// Registers the transaction callbacks (from `_PG_init`).
pub fn install_callbacks() {
    // SAFETY: called once from `_PG_init` on the backend's thread; the callbacks are plain
    // functions that live as long as the library, and take no argument.
    unsafe {
        pg_sys::RegisterXactCallback(Some(on_xact), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(on_subxact), std::ptr::null_mut());
    }
}

#[pgrx::pg_guard]
// SAFETY: registered as a transaction callback; Postgres calls it on the backend's thread.
unsafe extern "C-unwind" fn on_xact(event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    let queued = TRANSACTION.with(|t| !t.borrow().queued.is_empty());
    match event {
        pg_sys::XactEvent::XACT_EVENT_PRE_COMMIT if queued => {
            // The submission takes its lock with SPI, which needs a snapshot; the statement's
            // is gone by now (deferred triggers push one the same way). An ERROR leaves it to
            // the abort's snapshot cleanup.
            // SAFETY: inside a transaction that is still in progress.
            unsafe { pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot()) };
            let committed = commit();
            // SAFETY: pops the snapshot pushed above (nothing else pushed one in between).
            unsafe { pg_sys::PopActiveSnapshot() };
            if let Err(e) = committed {
                // Raised as the COMMIT's ERROR; the abort callback then drops what is left.
                pgrx::pg_sys::panic::ErrorReport::from(e).report(pgrx::PgLogLevel::ERROR);
            }
        }
        pg_sys::XactEvent::XACT_EVENT_PRE_PREPARE if queued => {
            pgrx::pg_sys::panic::ErrorReport::from(Error::invalid(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                "cannot PREPARE a transaction that wrote to an auth0 foreign table",
            ))
            .report(pgrx::PgLogLevel::ERROR);
        }
        pg_sys::XactEvent::XACT_EVENT_ABORT | pg_sys::XactEvent::XACT_EVENT_PARALLEL_ABORT => {
            forget(true)
        }
        pg_sys::XactEvent::XACT_EVENT_COMMIT | pg_sys::XactEvent::XACT_EVENT_PREPARE => {
            forget(false)
        }
        _ => {}
    }
}

/// Ends the transaction's queue; `abort` drops the files of imports not in the ledger (only
/// file I/O: this runs while the transaction aborts).
fn forget(abort: bool) {
    let t = TRANSACTION.with(|t| std::mem::take(&mut *t.borrow_mut()));
    if abort {
        for q in t.queued.iter().filter(|q| !q.in_ledger) {
            ledger::drop_all_pending(&q.import_id);
        }
    }
}

#[pgrx::pg_guard]
// SAFETY: registered as a subtransaction callback; Postgres calls it on the backend's thread.
unsafe extern "C-unwind" fn on_subxact(
    event: pg_sys::SubXactEvent::Type,
    sub: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    if event != pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB {
        return;
    }
    TRANSACTION.with(|t| {
        let mut t = t.borrow_mut();
        if !t.queued.is_empty() && t.newest_sub >= sub && t.poisoned.is_none() {
            t.poisoned = Some(
                "a savepoint (or an exception block) was rolled back after rows were written to auth0.users in it"
                    .into(),
            );
        }
    });
}

/// Sends every queued import (see the module's notes).
fn commit() -> Result<()> {
    if let Some(why) = TRANSACTION.with(|t| t.borrow().poisoned.clone()) {
        return Err(Error::invalid(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("{why}; auth0_io cannot take back part of a transaction's writes, so nothing was sent"),
        )
        .with_hint("Roll back, and write the rows again without rolling back to a savepoint in between."));
    }
    // 1. Every connection first: nothing is sent unless all can take imports. (An import
    // whose rows were all refused has nothing to send.)
    let count = TRANSACTION.with(|t| t.borrow().queued.len());
    let mut targets = Vec::with_capacity(count);
    for i in 0..count {
        let (oid, connection, rows, upsert) = TRANSACTION.with(|t| {
            let t = t.borrow();
            let q = &t.queued[i];
            (q.server, q.connection.clone(), q.rows, q.upsert)
        });
        if rows == 0 {
            continue;
        }
        let server = Server::open(oid)?;
        let conn = crate::import::import_connection(server.client()?, &connection)?;
        targets.push((i, server, conn, upsert));
    }
    // 2. Every import into the ledger, with its files, before any is sent: if a submission
    // stops, each import is there to be resumed.
    let mut ready = Vec::with_capacity(targets.len());
    for (i, server, conn, upsert) in targets {
        let (id, total, ranges) = TRANSACTION.with(|t| -> Result<_> {
            let mut t = t.borrow_mut();
            let q = &mut t.queued[i];
            let splitter = std::mem::replace(&mut q.splitter, Splitter::new(MAX_FILE_BYTES));
            if let Some(last) = splitter.finish() {
                ledger::keep_pending(&q.import_id, q.files.len(), &last.body)?;
                q.files.push(ledger::to_ranges(&last.indices));
            }
            Ok((q.import_id.clone(), q.rows, q.files.clone()))
        })?;
        if !submit::take_submission_lock(&id)? {
            return Err(Error::invalid(
                PgSqlErrorCode::ERRCODE_OBJECT_IN_USE,
                "another session holds this import's submission lock (a hash collision of import ids); run the transaction again",
            ));
        }
        ledger::append(&ledger::Event::Import {
            id: id.clone(),
            at: crate::time::now_iso(),
            role: ledger::current_role(),
            role_oid: Some(ledger::current_role_oid()),
            server: server.name.clone(),
            connection: conn.name.clone(),
            connection_id: conn.id.clone(),
            upsert,
            external_id: None,
            send_completion_email: false,
            total,
            invalid: vec![],
            chunks: ranges.len(),
            chunk_indices: ranges.clone(),
        })?;
        TRANSACTION.with(|t| t.borrow_mut().queued[i].in_ledger = true);
        crate::kept_exports::forget_server(server.oid.to_u32());
        queue_notice(format!(
            "auth0_io: import {id}: {total} user(s) written to auth0.users for connection {}, in {} file(s); follow it with auth0_job_status('{id}')",
            conn.name,
            ranges.len()
        ));
        ready.push((server, conn, id, ranges, upsert));
    }
    // 3. The jobs, one import after the other.
    for (server, conn, id, ranges, upsert) in ready {
        let files_total = ranges.len();
        let import_id = id.clone();
        let files = ranges.into_iter().enumerate().map(move |(number, r)| {
            let body = ledger::read_pending(&import_id, number)?.ok_or_else(|| {
                Error::invalid(
                    PgSqlErrorCode::ERRCODE_IO_ERROR,
                    format!("auth0_io: the queued file {number} of import {import_id} is missing"),
                )
            })?;
            Ok(submit::File {
                number,
                indices: ledger::from_ranges(&r),
                emails: submit::emails_of(&body),
                body,
            })
        });
        submit::submit_all(
            server.client()?,
            &submit::Batch {
                import_id: &id,
                connection_id: &conn.id,
                upsert,
                send_completion_email: false,
                external_id: None,
            },
            files_total,
            files,
        )?;
    }
    Ok(())
}
