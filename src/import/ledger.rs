//! The ledger of imports: append-only journals, outside transactions.
//!
//! Auth0 has no "list jobs" endpoint, and an Auth0 job exists as soon as it is created, whatever
//! happens to the SQL transaction that created it. A table would lose the record of submitted
//! jobs on ROLLBACK (or when the statement is cancelled after the first job was submitted). So
//! every event is appended, fsync'ed, to its import's journal
//! `$PGDATA/pg_auth0_io/<database oid>/<import id>.journal` (one JSON object per line, under an
//! exclusive lock) the moment it happens. One file per import keeps the cost of a query about
//! one import independent of how many there are, and lets old imports be purged by deleting
//! files (`auth0_import_purge`). auth0_io 0.1.0 wrote one journal per database,
//! `$PGDATA/pg_auth0_io/<database oid>.journal`: still read, never appended to. The ledger is
//! not replicated and not part of pg_dump (see README).

use crate::error::{Error, Result};
use pgrx::{pg_sys, PgSqlErrorCode};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::ffi::CStr;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Input positions as inclusive ranges (`[[0, 999], [1001, 1500]]`): compact for batches where
/// few records were left out.
pub type Ranges = Vec<[usize; 2]>;

pub fn to_ranges(indices: &[usize]) -> Ranges {
    let mut out: Ranges = Vec::new();
    for &i in indices {
        match out.last_mut() {
            Some(r) if r[1] + 1 == i => r[1] = i,
            _ => out.push([i, i]),
        }
    }
    out
}

pub fn from_ranges(r: &Ranges) -> Vec<usize> {
    r.iter().flat_map(|[a, b]| *a..=*b).collect()
}

/// A record refused before submission (`skip_invalid`), kept for `auth0_job_errors`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Invalid {
    pub index: usize,
    pub email: Option<String>,
    pub problems: Vec<InvalidProblem>,
    /// The record with password hashes masked.
    pub record: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvalidProblem {
    pub path: String,
    pub code: String,
    pub message: String,
}

/// What a direct import does to each of its users, one Management API request each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectWrites {
    /// `"update"` (`PATCH /api/v2/users/{id}`) or `"delete"` (`DELETE /api/v2/users/{id}`).
    pub operation: String,
    /// The users, by input position.
    pub user_ids: Vec<String>,
}

/// A user a direct import's request did not change: Auth0's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectFailure {
    pub index: usize,
    /// Auth0's `errorCode` (`invalid_body`, `inexistent_user`, ...), or `REQUEST_FAILED`.
    pub code: String,
    pub message: String,
}

/// One line of the journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// An import began (before any job is created).
    Import {
        id: String,
        at: String,
        /// The importing role's name when it imported (shown as `created_by`).
        role: String,
        /// Its OID, which decides who may see the import: a role renamed afterwards, and a new
        /// role that took the old name, must not swap imports. Absent in entries written before
        /// it was recorded (those fall back to the name).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role_oid: Option<u32>,
        server: String,
        connection: String,
        connection_id: String,
        upsert: bool,
        external_id: Option<String>,
        /// Asked of Auth0 for every file (kept for `auth0_import_resume`). Absent before 0.2.0.
        #[serde(default)]
        send_completion_email: bool,
        total: usize,
        invalid: Vec<Invalid>,
        chunks: usize,
        /// The input positions of each file, by file number (so that an interrupted import can
        /// be resumed from the files kept in `pending`). Absent before 0.2.0.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        chunk_indices: Vec<Ranges>,
        /// Set for users changed one request each (an `UPDATE` through `PATCH`, a `DELETE`)
        /// instead of import jobs; `total` is then the number of its users.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        direct: Option<DirectWrites>,
    },
    /// Requests about to be sent for users of a direct import (input positions). Until their
    /// `Applied` is recorded, Auth0 may have changed them: if the submission stops here (a
    /// crash), their outcome is unknown and they are never sent again.
    Applying {
        import: String,
        indices: Ranges,
        at: String,
    },
    /// The answers to an `Applying`'s requests: `done` succeeded, `failed` did not, `unsent`
    /// were certainly not sent (the submission stopped first). The others stay unanswered.
    Applied {
        import: String,
        done: Ranges,
        failed: Vec<DirectFailure>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        unsent: Ranges,
        at: String,
    },
    /// An Auth0 job was created for a chunk of the import.
    Job {
        import: String,
        auth0_job_id: String,
        chunk: usize,
        indices: Ranges,
        emails: Vec<String>,
        at: String,
    },
    /// A chunk could not be submitted (its users count as failed).
    ChunkFailed {
        import: String,
        chunk: usize,
        indices: Ranges,
        emails: Vec<String>,
        error: String,
        at: String,
    },
    /// A file is about to be sent. Until its answer (`Job`, `ChunkFailed`, `ChunkUnknown`,
    /// `Unsent`) is recorded, Auth0 may have it: if the submission stops here (a cancel, a
    /// crash), the file counts as sent with its answer lost, and is never sent again.
    Sending {
        import: String,
        chunk: usize,
        indices: Ranges,
        emails: Vec<String>,
        at: String,
    },
    /// A file certainly did not reach Auth0 (no connection, rate limit not lifted, credentials
    /// refused): the submission stopped, the file is kept, `auth0_import_resume` sends it.
    Unsent {
        import: String,
        chunk: usize,
        reason: String,
        at: String,
    },
    /// A file was sent but its answer broke off, timed out or came from a gateway: Auth0 may
    /// have created the job. Its users are neither imported nor failed until reconciled.
    ChunkUnknown {
        import: String,
        chunk: usize,
        indices: Ranges,
        emails: Vec<String>,
        error: String,
        at: String,
    },
    /// Users of an unknown-outcome file looked up in Auth0 (`auth0_import_resume`): those found
    /// as this import left them (`inserted`: created since the import began; `updated`: an upsert
    /// changed them since; `existing`: there before and untouched, which Auth0 reports as
    /// DUPLICATED_USER), and `absent`: still not there a day after the file was sent (Auth0
    /// keeps a job 24 hours and times an import out after 2), so not imported. Users not found
    /// earlier stay unknown.
    Reconciled {
        import: String,
        chunk: usize,
        inserted: Ranges,
        updated: Ranges,
        existing: Ranges,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        absent: Ranges,
        at: String,
    },
    /// `auth0_import_resume` began submitting the files an interrupted import had not sent.
    Resumed {
        import: String,
        at: String,
        role: String,
    },
    /// Every chunk was submitted.
    Submitted { import: String, at: String },
    /// The statement stopped (error or cancel) before every chunk was submitted.
    Interrupted {
        import: String,
        at: String,
        reason: String,
    },
    /// The final summary, once every job has finished (Auth0 forgets jobs after 24 h).
    Summary {
        import: String,
        at: String,
        status: String,
        inserted: u64,
        updated: u64,
        failed: u64,
        total: u64,
    },
}

impl Event {
    pub fn import_id(&self) -> &str {
        match self {
            Event::Import { id, .. } => id,
            Event::Job { import, .. }
            | Event::Applying { import, .. }
            | Event::Applied { import, .. }
            | Event::ChunkFailed { import, .. }
            | Event::ChunkUnknown { import, .. }
            | Event::Sending { import, .. }
            | Event::Unsent { import, .. }
            | Event::Reconciled { import, .. }
            | Event::Resumed { import, .. }
            | Event::Submitted { import, .. }
            | Event::Interrupted { import, .. }
            | Event::Summary { import, .. } => import,
        }
    }
}

/// The journal's format, written first on every line as `"v"`. Format 1 (auth0_io 0.1.0) had no
/// `"v"` and is otherwise the same as format 2: both are read. A line of a newer format (written
/// by a newer auth0_io that shares this data directory) is skipped with a WARNING, never misread.
pub const FORMAT: u32 = 2;

/// The first field of a line: only the format is read here (the rest is ignored), so that a
/// newer line is recognised before its event is interpreted.
#[derive(Deserialize)]
struct LineFormat {
    #[serde(default = "format_1")]
    v: u32,
}

fn format_1() -> u32 {
    1
}

/// One event as a journal line (without the newline): `{"v":2,"event":...}`.
fn encode(event: &Event) -> serde_json::Result<Vec<u8>> {
    #[derive(Serialize)]
    struct Line<'a> {
        v: u32,
        #[serde(flatten)]
        event: &'a Event,
    }
    serde_json::to_vec(&Line { v: FORMAT, event })
}

/// One journal line as an event, or why it cannot be read.
fn decode(line: &[u8]) -> std::result::Result<Event, String> {
    let format = serde_json::from_slice::<LineFormat>(line).map_err(|e| e.to_string())?;
    if format.v > FORMAT {
        return Err(format!(
            "written in format {} by a newer auth0_io (this one reads formats 1 to {FORMAT})",
            format.v
        ));
    }
    serde_json::from_slice::<Event>(line).map_err(|e| e.to_string())
}

fn io_error(what: &str, e: std::io::Error) -> Error {
    Error::invalid(
        PgSqlErrorCode::ERRCODE_IO_ERROR,
        format!("auth0_io ledger: cannot {what}: {e}"),
    )
    .with_hint("The ledger lives in $PGDATA/pg_auth0_io/; check the server's disk and permissions.")
}

/// `$PGDATA/pg_auth0_io`.
fn root() -> PathBuf {
    // SAFETY: DataDir is set for the whole life of a backend.
    let dir = unsafe { CStr::from_ptr(pg_sys::DataDir) }
        .to_string_lossy()
        .into_owned();
    PathBuf::from(dir).join("pg_auth0_io")
}

fn database_oid() -> u32 {
    // SAFETY: MyDatabaseId is set once the backend is connected to a database.
    unsafe { pg_sys::MyDatabaseId }.to_u32()
}

/// The current database's directory of import journals.
fn dir() -> PathBuf {
    root().join(database_oid().to_string())
}

/// The 0.1.0 journal of the current database (read, never appended to).
fn legacy_journal() -> PathBuf {
    root().join(format!("{}.journal", database_oid()))
}

/// Only ids this extension makes (`imp_` and lower-case letters and digits) name files: an id
/// typed by a user never becomes a path.
fn is_import_id(id: &str) -> bool {
    id.strip_prefix("imp_").is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= 40
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

fn journal_of(id: &str) -> Option<PathBuf> {
    is_import_id(id).then(|| dir().join(format!("{id}.journal")))
}

fn lock(f: &File, kind: i32) -> Result<()> {
    // SAFETY: a valid open file descriptor.
    if unsafe { libc::flock(f.as_raw_fd(), kind) } != 0 {
        return Err(io_error(
            "lock the journal",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Appends one event to its import's journal, durably, before returning.
pub fn append(event: &Event) -> Result<()> {
    let p = journal_of(event.import_id()).ok_or_else(|| {
        io_error(
            "name a journal",
            std::io::Error::other("not an import id of auth0_io"),
        )
    })?;
    fs::create_dir_all(dir()).map_err(|e| io_error("create the journal directory", e))?;
    let mut line =
        encode(event).map_err(|e| io_error("encode an event", std::io::Error::other(e)))?;
    line.push(b'\n');
    let mut f = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(&p)
        .map_err(|e| io_error("open the journal", e))?;
    lock(&f, libc::LOCK_EX)?;
    // A crash (or damage) can leave the last line without its newline: start on a fresh line,
    // so that this event is never glued to a damaged one.
    let len = f
        .metadata()
        .map_err(|e| io_error("read the journal's size", e))?
        .len();
    if len > 0 {
        let mut last = [0u8; 1];
        f.read_exact_at(&mut last, len - 1)
            .map_err(|e| io_error("read the journal", e))?;
        if last[0] != b'\n' {
            line.insert(0, b'\n');
        }
    }
    f.write_all(&line)
        .map_err(|e| io_error("write the journal", e))?;
    f.sync_data().map_err(|e| io_error("sync the journal", e))?;
    // The lock goes with the file.
    Ok(())
}

/// Every event of one journal file, in order. A damaged line (cut by a crash, bad bytes, not an
/// event) is skipped with a WARNING naming the file and the line; the lines after it are read
/// as usual. A missing file has no events.
fn read_file(p: &Path) -> Result<Vec<Event>> {
    let f = match File::open(p) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(io_error("open the journal", e)),
    };
    lock(&f, libc::LOCK_SH)?;
    let mut out = Vec::new();
    for (n, line) in BufReader::new(f).split(b'\n').enumerate() {
        let line = line.map_err(|e| io_error("read the journal", e))?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match decode(&line) {
            Ok(ev) => out.push(ev),
            Err(e) => pgrx::warning!(
                "auth0_io ledger: skipping damaged line {} of {}: {e}",
                n + 1,
                p.display()
            ),
        }
    }
    Ok(out)
}

/// The events of one import, in order: its own journal, after its lines in the 0.1.0 journal
/// for an import made by 0.1.0 (whose later events, e.g. its summary, go to its own journal).
pub fn read_import(id: &str) -> Result<Vec<Event>> {
    let mut events: Vec<Event> = read_file(&legacy_journal())?
        .into_iter()
        .filter(|e| e.import_id() == id)
        .collect();
    if let Some(p) = journal_of(id) {
        events.extend(read_file(&p)?);
    }
    Ok(events)
}

/// Every import's events (each import's in order), imports in the order they were made.
pub fn read_imports() -> Result<Vec<Vec<Event>>> {
    let mut by_id: HashMap<String, Vec<Event>> = HashMap::new();
    for ev in read_file(&legacy_journal())? {
        by_id
            .entry(ev.import_id().to_string())
            .or_default()
            .push(ev);
    }
    let entries = match fs::read_dir(dir()) {
        Ok(rd) => rd.filter_map(|e| e.ok()).collect::<Vec<_>>(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![],
        Err(e) => return Err(io_error("list the journal directory", e)),
    };
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_suffix(".journal").filter(|id| is_import_id(id)) else {
            continue;
        };
        let events = read_file(&entry.path())?;
        by_id.entry(id.to_string()).or_default().extend(events);
    }
    let mut imports: Vec<Vec<Event>> = by_id.into_values().collect();
    // In the order they were made: the `at` of each import's first event (ISO-8601 UTC sorts).
    imports.sort_by(|a, b| first_at(a).cmp(first_at(b)));
    Ok(imports)
}

fn first_at(events: &[Event]) -> &str {
    match events.first() {
        Some(Event::Import { at, .. }) => at,
        _ => "",
    }
}

/// Deletes the ledger of imports `ids`: their journals, their kept files, and their lines in
/// the 0.1.0 journal (rewritten without them, then renamed over it).
pub fn purge(ids: &HashSet<String>) -> Result<()> {
    for id in ids {
        if let Some(p) = journal_of(id) {
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("delete a journal", e)),
            }
        }
        drop_all_pending(id);
    }
    let legacy = legacy_journal();
    let Ok(f) = File::open(&legacy) else {
        return Ok(());
    };
    lock(&f, libc::LOCK_EX)?;
    let mut kept = Vec::new();
    let mut removed = false;
    for line in BufReader::new(&f).split(b'\n') {
        let line = line.map_err(|e| io_error("read the journal", e))?;
        let purged = decode(&line).is_ok_and(|ev| ids.contains(ev.import_id()));
        removed |= purged;
        if !purged && !line.is_empty() {
            kept.extend_from_slice(&line);
            kept.push(b'\n');
        }
    }
    if removed {
        let tmp = legacy.with_extension("journal.purging");
        fs::write(&tmp, &kept).map_err(|e| io_error("rewrite the journal", e))?;
        File::open(&tmp)
            .and_then(|t| t.sync_all())
            .map_err(|e| io_error("sync the journal", e))?;
        fs::rename(&tmp, &legacy).map_err(|e| io_error("rewrite the journal", e))?;
    }
    Ok(())
}

/// The databases (by OID) that have a ledger here: directories and 0.1.0 journals named
/// `<oid>`/`<oid>.journal`.
pub fn ledger_databases() -> Result<std::collections::BTreeSet<u32>> {
    let entries = match fs::read_dir(root()) {
        Ok(rd) => rd.filter_map(|e| e.ok()).collect::<Vec<_>>(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
        Err(e) => return Err(io_error("list the ledger directory", e)),
    };
    Ok(entries
        .iter()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let oid = name.strip_suffix(".journal").unwrap_or(&name);
            oid.parse::<u32>().ok()
        })
        .collect())
}

/// Deletes the whole ledger of a database (for one that no longer exists: `DROP DATABASE`
/// leaves it, as it lives outside the database's own directory).
pub fn delete_database_ledger(oid: u32) -> Result<()> {
    let gone = |r: std::io::Result<()>| match r {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(io_error("delete a dropped database's ledger", e))
        }
        _ => Ok(()),
    };
    gone(fs::remove_dir_all(root().join(oid.to_string())))?;
    gone(fs::remove_file(root().join(format!("{oid}.journal"))))
}

/// Where the files of an import wait until Auth0 has them:
/// `$PGDATA/pg_auth0_io/<database oid>/<import id>.pending/<file number>.json`. They hold the
/// records as sent (password hashes included) with the data directory's protection (0700, the
/// server's user), like the table data they came from; each is deleted once Auth0 created its
/// job (or refused it, or may have it), the directory once every file is in.
pub fn pending_dir(import_id: &str) -> PathBuf {
    dir().join(format!("{import_id}.pending"))
}

fn pending_file(import_id: &str, chunk: usize) -> PathBuf {
    pending_dir(import_id).join(format!("{chunk}.json"))
}

/// Keeps the body of file `chunk` durably until it is submitted.
pub fn keep_pending(import_id: &str, chunk: usize, body: &[u8]) -> Result<()> {
    let dir = pending_dir(import_id);
    fs::create_dir_all(&dir).map_err(|e| io_error("create the pending-files directory", e))?;
    let p = pending_file(import_id, chunk);
    let mut f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&p)
        .map_err(|e| io_error("write a pending file", e))?;
    f.write_all(body)
        .map_err(|e| io_error("write a pending file", e))?;
    f.sync_data()
        .map_err(|e| io_error("sync a pending file", e))
}

/// The body of a file not yet submitted, if it was kept.
pub fn read_pending(import_id: &str, chunk: usize) -> Result<Option<Vec<u8>>> {
    match fs::read(pending_file(import_id, chunk)) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read a pending file", e)),
    }
}

/// Whether the copy of file `chunk` is kept (the import can be resumed with it).
pub fn has_pending(import_id: &str, chunk: usize) -> bool {
    pending_file(import_id, chunk).exists()
}

/// Forgets a file once Auth0 has it (or refused it, or may have it): it is never sent again.
pub fn drop_pending(import_id: &str, chunk: usize) {
    let _ = fs::remove_file(pending_file(import_id, chunk));
}

/// Forgets every file of an import (all submitted).
pub fn drop_all_pending(import_id: &str) {
    let _ = fs::remove_dir_all(pending_dir(import_id));
}

/// May the current role see an import made by the role `role_oid` (or, for entries that predate
/// OIDs in the journal, the role named `role`)? Its own, those of roles it has the privileges of
/// and, for superusers, everyone's.
pub fn visible(role: &str, role_oid: Option<u32>) -> bool {
    // SAFETY: catalog lookups on the backend's thread: `superuser`, `get_role_oid` (missing_ok:
    // no ERROR for an unknown name, given a NUL-terminated string) and `has_privs_of_role`
    // (false for an OID that is no role, e.g. a dropped one).
    unsafe {
        if pg_sys::superuser() {
            return true;
        }
        let oid = match role_oid {
            Some(o) => pg_sys::Oid::from(o),
            None => {
                let Ok(c) = std::ffi::CString::new(role) else {
                    return false;
                };
                pg_sys::get_role_oid(c.as_ptr(), true)
            }
        };
        oid != pg_sys::InvalidOid && pg_sys::has_privs_of_role(pg_sys::GetUserId(), oid)
    }
}

/// The OID of the current role.
pub fn current_role_oid() -> u32 {
    // SAFETY: GetUserId reads a backend global, valid once the backend has a user.
    unsafe { pg_sys::GetUserId() }.to_u32()
}

/// The name of the current role.
pub fn current_role() -> String {
    // SAFETY: GetUserNameFromId with noerr=true returns NULL rather than raising.
    unsafe {
        let p = pg_sys::GetUserNameFromId(pg_sys::GetUserId(), true);
        if p.is_null() {
            String::new()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_import_ids_name_files() {
        assert!(is_import_id("imp_rqd0af3rqptzfvlq6to8"));
        for bad in [
            "imp_../../global/pg_control",
            "imp_",
            "imp_A",
            "job_x",
            "imp_a/b",
            "imp_a.b",
            "",
        ] {
            assert!(!is_import_id(bad), "{bad}");
        }
    }

    #[test]
    fn ranges_round_trip() {
        let idx = vec![0, 1, 2, 5, 6, 9];
        let r = to_ranges(&idx);
        assert_eq!(r, vec![[0, 2], [5, 6], [9, 9]]);
        assert_eq!(from_ranges(&r), idx);
        assert!(to_ranges(&[]).is_empty());
    }

    #[test]
    fn events_are_tagged_json() {
        let e = Event::Submitted {
            import: "imp_1".into(),
            at: "t".into(),
        };
        let s = serde_json::to_string(&e).unwrap();
        assert_eq!(s, r#"{"event":"submitted","import":"imp_1","at":"t"}"#);
        assert_eq!(
            serde_json::from_str::<Event>(&s).unwrap().import_id(),
            "imp_1"
        );
    }
}
