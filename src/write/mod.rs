//! Writing through `auth0.users`, sent when the transaction commits (docs/architecture.md,
//! "Writes through the table"): `INSERT` and `COPY FROM` create users with Auth0 bulk import
//! jobs; `UPDATE` changes users with upsert import jobs where Auth0 allows it, else one `PATCH`
//! each; `DELETE` deletes users one request each.
//!
//! - [`record`]: a written row as an import record (pure, unit-tested);
//! - [`change`]: an updated row as an upsert record or a `PATCH` body (pure, unit-tested);
//! - [`direct`]: the `PATCH` and `DELETE` requests at COMMIT, with their ledger;
//! - `earlier`: this session's upsert jobs of earlier `UPDATE`s, which later writes wait for;
//! - this file: the transaction's queue and the commit.
//!
//! **UPDATE and DELETE read before COMMIT.** Their scan reads Auth0 as it is, like any
//! `SELECT`; only the writes wait for COMMIT. So within the transaction a `SELECT` still shows
//! the users as they were, and a second `UPDATE` of the same user computes from Auth0's values,
//! not from the first one's: a user's changes are merged column by column, the later statement
//! winning. A user both updated and deleted is deleted. DELETE's guard: more than the server
//! option `max_delete_users` (default 1,000) users deleted in one transaction is an ERROR at
//! the row that passes it.
//!
//! **Inserted rows reach nothing before COMMIT**, not even a read. Each row is made an import
//! record and validated as it arrives, with `auth0_validate_users`'s rules and duplicates
//! within the transaction. It is then packed into import files of at most Auth0's size. A full
//! file goes to disk, under the ledger's pending files, so the backend holds one file per
//! connection whatever the number of rows. Rows are grouped by connection: one import per
//! connection, numbered from 0 in the order the rows came (`input_index`).
//!
//! **At COMMIT** (`XACT_EVENT_PRE_COMMIT`, while the transaction can still fail):
//! 1. the connections of updated users are looked up: a change Auth0 can upsert (database
//!    connection, an e-mail and `email_verified` read, only upsertable columns) joins an upsert
//!    import of its connection; the others become `PATCH` batches;
//! 2. every connection of an import is resolved, and the token's scopes are checked against
//!    what the transaction writes (`create:users`, `update:users`, `delete:users`);
//! 3. each import, `PATCH` batch and `DELETE` batch enters the ledger;
//! 4. this session's earlier upsert jobs are waited for (`earlier`), then the imports' files
//!    are submitted, at most two Auth0 jobs at a time, as `auth0_import` does;
//! 5. the `PATCH`es are sent, then the deletions (`direct`).
//!
//! A NOTICE names each import; `auth0_job_status` and `auth0_job_errors` follow it.
//!
//! **When the commit fails.** If a connection cannot take imports, or a scope is missing, the
//! COMMIT fails before anything is sent. Every import and batch enters the ledger before
//! anything is sent. If sending then fails (Auth0 unreachable, a 403, a cancel), the COMMIT
//! fails and the transaction rolls back; what was sent stays sent and is in the ledger, and
//! `auth0_import_resume('<id>')` sends the files (or requests) that were not. (So does anything that fails the commit after this callback, e.g. a
//! serialization failure: Auth0's jobs exist by then.)
//!
//! **ROLLBACK** (or an error before COMMIT) drops the queued files: nothing was sent.
//!
//! **Savepoints.** Auth0 cannot take back part of a transaction. A savepoint (or a PL/pgSQL
//! exception block) rolled back after rows were written in it makes the COMMIT fail, with
//! nothing sent. So does a row that could not be queued after the queue changed (a full disk).
//! `PREPARE TRANSACTION` is refused.

pub mod change;
pub mod direct;
mod earlier;
pub mod record;

use crate::error::{Error, Result};
use crate::import::{ledger, submit};
use crate::runtime::queue_notice;
use crate::server::Server;
use auth0_api::import::{Problem, Splitter, Validator, MAX_FILE_BYTES};
use change::{Change, Route};
use pgrx::{pg_sys, PgSqlErrorCode};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::HashMap;

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
    /// It carries `UPDATE`s (an upsert import made at COMMIT).
    from_update: bool,
}

impl Queued {
    fn new(server: pg_sys::Oid, connection: String, upsert: bool) -> Queued {
        Queued {
            server,
            connection,
            upsert,
            import_id: submit::new_import_id(),
            validator: Validator::for_stream(),
            splitter: Splitter::new(MAX_FILE_BYTES),
            files: Vec::new(),
            rows: 0,
            in_ledger: false,
            from_update: false,
        }
    }

    /// Checks `user` against the import's rules; the problems of a refused one (nothing of it
    /// is kept).
    fn check(&mut self, user: &Value) -> Vec<Problem> {
        let mut problems = Vec::new();
        self.validator.check(self.rows, user, &mut problems);
        problems
    }

    /// Adds a checked user to the import's files, writing a full file to disk.
    fn push(&mut self, user: &Value) -> Result<()> {
        let index = self.rows;
        if let Some(full) = self
            .splitter
            .push(index, user)
            .map_err(|(i, size)| refused_size(i, size))?
        {
            ledger::keep_pending(&self.import_id, self.files.len(), &full.body)?;
            self.files.push(ledger::to_ranges(&full.indices));
        }
        self.rows += 1;
        Ok(())
    }
}

#[derive(Default)]
struct Transaction {
    queued: Vec<Queued>,
    /// Users changed by `UPDATE`, by (server, user_id).
    updates: Vec<(pg_sys::Oid, Change)>,
    update_at: HashMap<(pg_sys::Oid, String), usize>,
    /// Users deleted by `DELETE`: (server, user_id, connection), each once.
    deletes: Vec<(pg_sys::Oid, String, Option<String>)>,
    delete_at: HashMap<(pg_sys::Oid, String), usize>,
    /// How many users are deleted per server (for `max_delete_users`).
    deletes_per_server: HashMap<pg_sys::Oid, u64>,
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

impl Transaction {
    fn is_empty(&self) -> bool {
        self.queued.is_empty() && self.updates.is_empty() && self.deletes.is_empty()
    }

    /// Records that something was queued in subtransaction `sub` (see `newest_sub`).
    fn queued_in(&mut self, sub: pg_sys::SubTransactionId) {
        self.newest_sub = self.newest_sub.max(sub);
    }
}

/// The current subtransaction.
fn current_sub() -> pg_sys::SubTransactionId {
    // SAFETY: reads a backend global, valid inside a transaction.
    unsafe { pg_sys::GetCurrentSubTransactionId() }
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
        ..
    } = target(table)?;
    let rec = record::from_row(cols, default_connection.as_deref())?;
    let sub = current_sub();
    TRANSACTION.with(|t| {
        let mut t = t.borrow_mut();
        let at = match t.queued.iter().position(|q| {
            q.server == server && q.connection == rec.connection && q.upsert == upsert
        }) {
            Some(i) => i,
            None => {
                t.queued
                    .push(Queued::new(server, rec.connection.clone(), upsert));
                t.queued.len() - 1
            }
        };
        let q = &mut t.queued[at];
        let problems = q.check(&rec.user);
        if !problems.is_empty() {
            return Err(refused_row(&q.connection, q.rows, &problems));
        }
        // From here the queue has changed: a failure must keep the transaction from committing
        // what is left of it.
        if let Err(e) = q.push(&rec.user) {
            t.poisoned
                .get_or_insert_with(|| format!("a row could not be queued ({e})"));
            return Err(e);
        }
        t.queued_in(sub);
        Ok(())
    })
}

/// What an `UPDATE`'s scan read of a user, besides its id: `None` when the table has no such
/// column, `Some(None)` when the user has no such value.
#[derive(Default)]
pub struct Before {
    pub connection: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub email_verified: Option<Option<bool>>,
    pub app_metadata: Option<Option<Value>>,
    pub user_metadata: Option<Option<Value>>,
}

/// Queues an `UPDATE` of one user of foreign table `table`: `set` is (column, new value; NULL
/// is `Value::Null`) for each column the statement sets (checked at planning to be
/// [`change::UPDATABLE_COLUMNS`]). Errors: 23502/22023 for values Auth0 refuses.
pub fn update(
    table: pg_sys::Oid,
    user_id: &str,
    before: Before,
    set: Vec<(String, Value)>,
) -> Result<()> {
    for (column, value) in &set {
        change::check_value(column, value)?;
    }
    let Target { server, .. } = target(table)?;
    let sub = current_sub();
    TRANSACTION.with(|t| {
        let mut t = t.borrow_mut();
        let key = (server, user_id.to_string());
        let read = Change {
            user_id: user_id.to_string(),
            connection: before.connection,
            email: before.email,
            email_verified: before.email_verified,
            app_metadata: before.app_metadata,
            user_metadata: before.user_metadata,
            set: Default::default(),
        };
        let at = match t.update_at.get(&key) {
            Some(&i) => {
                t.updates[i].1.learn(read);
                i
            }
            None => {
                t.updates.push((server, read));
                let i = t.updates.len() - 1;
                t.update_at.insert(key, i);
                i
            }
        };
        for (column, value) in set {
            t.updates[at].1.set.insert(column, value);
        }
        t.queued_in(sub);
        Ok(())
    })
}

/// Queues a `DELETE` of one user of foreign table `table`. Errors: 54000 when the transaction
/// would delete more users of the server than its `max_delete_users`.
pub fn delete(table: pg_sys::Oid, user_id: &str, connection: Option<String>) -> Result<()> {
    let Target {
        server,
        max_delete_users,
        server_name,
        ..
    } = target(table)?;
    let sub = current_sub();
    TRANSACTION.with(|t| {
        let mut t = t.borrow_mut();
        let key = (server, user_id.to_string());
        if t.delete_at.contains_key(&key) {
            return Ok(());
        }
        let of_server = t.deletes_per_server.entry(server).or_default();
        if *of_server >= max_delete_users {
            return Err(too_many_deletes(&server_name, max_delete_users));
        }
        *of_server += 1;
        t.deletes.push((server, user_id.to_string(), connection));
        let i = t.deletes.len() - 1;
        t.delete_at.insert(key, i);
        t.queued_in(sub);
        Ok(())
    })
}

fn too_many_deletes(server: &str, max: u64) -> Error {
    let quoted = crate::fdw::columns::quote_ident(server);
    Error::invalid(
        PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
        format!(
            "this transaction would delete more than {max} users of auth0 server \"{}\"; nothing was sent",
            crate::error::cut(server)
        ),
    )
    .with_detail("The server option max_delete_users guards against a DELETE with a forgotten or wrong WHERE (default 1000).")
    .with_hint(format!(
        "Check the WHERE with SELECT count(*) first; to allow more, ALTER SERVER {quoted} OPTIONS (ADD max_delete_users '<n>') (SET if it is already there)."
    ))
}

/// Where a foreign table's rows go: its server, its `connection` and `upsert` options, and
/// the server's `max_delete_users`.
#[derive(Clone)]
struct Target {
    server: pg_sys::Oid,
    server_name: String,
    connection: Option<String>,
    upsert: bool,
    max_delete_users: u64,
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
    // SAFETY: `GetForeignTable`/`GetForeignServer` raise an ERROR (not UB) for an oid that is
    // no foreign table or server; the results, their options lists and the server's name are
    // palloc'd and valid for this call (copied into Rust values here).
    let (server, options, server_name, server_options) = unsafe {
        let ft = pg_sys::GetForeignTable(table);
        let fs = pg_sys::GetForeignServer((*ft).serverid);
        (
            (*ft).serverid,
            crate::server::options_of((*ft).options)?,
            std::ffi::CStr::from_ptr((*fs).servername)
                .to_string_lossy()
                .into_owned(),
            crate::server::options_of((*fs).options)?,
        )
    };
    let target = Target {
        server,
        server_name,
        connection: options.get("connection").cloned(),
        upsert: crate::options::upsert(&options)?,
        max_delete_users: crate::options::max_delete_users(&server_options)?,
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
    let queued = TRANSACTION.with(|t| !t.borrow().is_empty());
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
        if !t.is_empty() && t.newest_sub >= sub && t.poisoned.is_none() {
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
    // 1. Updates Auth0 can upsert join upsert imports; the others wait for step 5.
    let patches = route_updates()?;
    // 2. Every connection first: nothing is sent unless all can take imports. (An import
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
    // ... and the credentials hold the scopes every write needs, before anything is sent.
    for (_, server, ..) in &targets {
        require_scope(server, "create users (bulk import jobs)", &["create:users"])?;
    }
    for (server, _, _, bodies) in &patches {
        // Auth0 takes update:users_app_metadata for a PATCH of app_metadata alone.
        let metadata_only = bodies.iter().all(|b| {
            b.as_object()
                .is_some_and(|o| o.keys().all(|k| k == "app_metadata"))
        });
        let accepted: &[&str] = if metadata_only {
            &["update:users", "update:users_app_metadata"]
        } else {
            &["update:users"]
        };
        require_scope(&Server::open(*server)?, "update users", accepted)?;
    }
    let deleting: Vec<pg_sys::Oid> =
        TRANSACTION.with(|t| t.borrow().deletes_per_server.keys().copied().collect());
    for server in deleting {
        require_scope(&Server::open(server)?, "delete users", &["delete:users"])?;
    }
    // This session's earlier UPDATEs must land first (their upsert jobs may still run):
    // waited for before anything of this transaction is in the ledger.
    let mut servers: Vec<pg_sys::Oid> = targets.iter().map(|t| t.1.oid).collect();
    servers.extend(patches.iter().map(|p| p.0));
    servers.extend(TRANSACTION.with(|t| {
        t.borrow()
            .deletes_per_server
            .keys()
            .copied()
            .collect::<Vec<_>>()
    }));
    for oid in group(servers.into_iter().map(|s| (s, ()))) {
        earlier::wait(oid.0)?;
    }
    // 3. Every import into the ledger, with its files, before any is sent: if a submission
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
            direct: None,
        })?;
        TRANSACTION.with(|t| t.borrow_mut().queued[i].in_ledger = true);
        crate::kept_exports::forget_server(server.oid.to_u32());
        queue_notice(format!(
            "auth0_io: import {id}: {total} user(s) for connection {}, in {} file(s){}; follow it with auth0_job_status('{id}')",
            conn.name,
            ranges.len(),
            if upsert { " of an upsert import (existing users are updated)" } else { "" }
        ));
        let from_update = TRANSACTION.with(|t| t.borrow().queued[i].from_update);
        ready.push((server, conn, id, ranges, upsert, from_update));
    }
    // ... and every PATCH and DELETE batch, one per server and connection.
    let mut direct_batches = Vec::new();
    for (server, connection, users, bodies) in patches {
        direct_batches.push(direct::enter(
            Server::open(server)?,
            connection.as_deref().unwrap_or(""),
            users,
            direct::Operation::Update(bodies),
        )?);
    }
    let deletes = TRANSACTION.with(|t| std::mem::take(&mut t.borrow_mut().deletes));
    for ((server, connection), users) in group(deletes.into_iter().map(|(s, u, c)| ((s, c), u))) {
        direct_batches.push(direct::enter(
            Server::open(server)?,
            connection.as_deref().unwrap_or(""),
            users,
            direct::Operation::Delete,
        )?);
    }
    // 4. The jobs, one import after the other.
    for (server, conn, id, ranges, upsert, from_update) in ready {
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
        let submitted = submit::submit_all(
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
        );
        if from_update {
            // Also when the submission stopped: the jobs it made run all the same.
            let jobs = match &submitted {
                Ok(jobs) => jobs.clone(),
                Err(_) => crate::import::load_import(&id)?
                    .map(|r| r.jobs.into_iter().map(|j| j.auth0_job_id).collect())
                    .unwrap_or_default(),
            };
            earlier::running(server.oid, jobs);
        }
        submitted?;
    }
    // 5. The PATCHes, then the deletions.
    for batch in &direct_batches {
        batch.send()?;
    }
    Ok(())
}

/// 42501 when the server's credentials are known not to hold any of the scopes `any_of`
/// (what the token says it grants; a token that does not say is left to Auth0's 403).
fn require_scope(server: &Server, write: &str, any_of: &[&str]) -> Result<()> {
    let Some(granted) = crate::runtime::block_on(server.client()?.granted_scopes())?? else {
        return Ok(());
    };
    if any_of.iter().any(|s| granted.iter().any(|g| g == s)) {
        return Ok(());
    }
    Err(Error::invalid(
        PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
        format!(
            "the user mapping's application for auth0 server \"{}\" lacks the Management API scope {} to {write}; nothing was sent",
            crate::error::cut(&server.name),
            any_of.join(" or ")
        ),
    )
    .with_detail(format!("Its token grants: {}.", crate::error::cut(&granted.join(" "))))
    .with_hint("Grant the scope in the Auth0 dashboard (Applications > APIs > Auth0 Management API > Machine To Machine Applications), then run the transaction again."))
}

/// Items grouped by key, groups in the order their key first came, items in order.
fn group<K: PartialEq, V>(items: impl IntoIterator<Item = (K, V)>) -> Vec<(K, Vec<V>)> {
    let mut groups: Vec<(K, Vec<V>)> = Vec::new();
    for (k, v) in items {
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, vs)) => vs.push(v),
            None => groups.push((k, vec![v])),
        }
    }
    groups
}

/// A batch of `PATCH`es: server, connection, user ids and their bodies.
type Patches = Vec<(pg_sys::Oid, Option<String>, Vec<String>, Vec<Value>)>;

/// Step 1 of the commit: looks up the connection of each updated user (once per connection)
/// and sends each change where Auth0 can make it: an upsert record joins its connection's
/// upsert import (queued like written rows); the rest are returned as `PATCH`es. Users also
/// deleted are left out (the deletion wins).
fn route_updates() -> Result<Patches> {
    let (updates, deleted) = TRANSACTION.with(|t| {
        let mut t = t.borrow_mut();
        t.update_at.clear();
        (
            std::mem::take(&mut t.updates),
            std::mem::take(&mut t.delete_at),
        )
    });
    let updates: Vec<_> = updates
        .into_iter()
        .filter(|(server, c)| !deleted.contains_key(&(*server, c.user_id.clone())))
        .collect();
    TRANSACTION.with(|t| t.borrow_mut().delete_at = deleted);
    let mut patches: Patches = Vec::new();
    for ((server, connection), changes) in group(
        updates
            .into_iter()
            .map(|(s, c)| ((s, c.connection_name().map(str::to_string)), c)),
    ) {
        // Only a database connection enabled for an application takes import jobs, and only
        // from an application that may create users (else the changes go as PATCHes).
        let database = match &connection {
            Some(name) => {
                let s = Server::open(server)?;
                let client = s.client()?;
                let may_import = crate::runtime::block_on(client.granted_scopes())??
                    .is_none_or(|g| g.iter().any(|s| s == "create:users"));
                may_import
                    && crate::runtime::block_on(client.find_connection(name))??
                        .is_some_and(|c| c.is_database() && !c.enabled_clients.is_empty())
            }
            None => false,
        };
        let mut upserts: Option<usize> = None;
        let (mut users, mut bodies) = (Vec::new(), Vec::new());
        for c in changes {
            let user = match change::route(&c, database) {
                Route::Upsert(rec) => {
                    let queued = TRANSACTION.with(|t| -> Result<bool> {
                        let mut t = t.borrow_mut();
                        let at = *upserts.get_or_insert_with(|| {
                            let mut q =
                                Queued::new(server, connection.clone().unwrap_or_default(), true);
                            q.from_update = true;
                            t.queued.push(q);
                            t.queued.len() - 1
                        });
                        let q = &mut t.queued[at];
                        // A record the import schema refuses (an e-mail Auth0 itself let in,
                        // say) is sent as a PATCH instead.
                        if !q.check(&rec).is_empty() {
                            return Ok(false);
                        }
                        q.push(&rec)?;
                        Ok(true)
                    })?;
                    if queued {
                        continue;
                    }
                    match change::route(&c, false) {
                        Route::Patch(body) => body,
                        Route::Upsert(_) => continue,
                    }
                }
                Route::Patch(body) => body,
            };
            users.push(c.user_id);
            bodies.push(user);
        }
        if !users.is_empty() {
            patches.push((server, connection, users, bodies));
        }
    }
    Ok(patches)
}
