//! `INSERT` and `COPY FROM` rows, read from the slot by us and queued (`write/mod.rs`).
//!
//! **Without it.**
//! - `COPY auth0.users FROM ...` would read a state that was never made: the framework sets no
//!   `BeginForeignInsert`, which `COPY FROM` (and routing rows to a partition) calls instead of
//!   `BeginForeignModify`, and its `ExecForeignInsert` dereferences that state.
//! - A jsonb value serde_json cannot read (`1e1000`, nesting deeper than 128) panics in pgrx's
//!   `JsonB`, which the framework uses for rows (XX000 with a backtrace).
//!
//! **What it does.** Our `ExecForeignInsert` reads the slot itself (text, booleans, integers,
//! jsonb through its text, anything else through its output function) and queues the row.
//! `BeginForeignInsert` and `EndForeignInsert` are set (they have nothing to do), so `COPY FROM`
//! runs. For `INSERT`, the framework's `BeginForeignModify` still makes its state, which inserts
//! leave unused.
//!
//! **Test:** `tests/writes.rs` (`COPY FROM` of 20,000 rows, `INSERT ... SELECT`).
//!
//! **Delete when** the framework sets `BeginForeignInsert` and reads jsonb without panicking.

use crate::error::{Error, Result};
use crate::jsonb_arg::{self, JsonbText};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{pg_sys, FromDatum, PgLogLevel, PgSqlErrorCode};
use serde_json::Value;

/// Installs the insert callbacks into the framework's routine.
pub fn install(routine: &mut pg_sys::FdwRoutine) {
    routine.ExecForeignInsert = Some(exec_foreign_insert);
    routine.BeginForeignInsert = Some(begin_foreign_insert);
    routine.EndForeignInsert = Some(end_foreign_insert);
}

#[pgrx::pg_guard]
// SAFETY: installed as BeginForeignInsert; nothing is read or kept.
unsafe extern "C-unwind" fn begin_foreign_insert(
    _mtstate: *mut pg_sys::ModifyTableState,
    _rinfo: *mut pg_sys::ResultRelInfo,
) {
}

#[pgrx::pg_guard]
// SAFETY: installed as EndForeignInsert; nothing is read.
unsafe extern "C-unwind" fn end_foreign_insert(
    _estate: *mut pg_sys::EState,
    _rinfo: *mut pg_sys::ResultRelInfo,
) {
}

#[pgrx::pg_guard]
// SAFETY: installed as ExecForeignInsert; the executor passes the target's result relation
// and a slot holding the row to insert, both valid for this call.
unsafe extern "C-unwind" fn exec_foreign_insert(
    _estate: *mut pg_sys::EState,
    rinfo: *mut pg_sys::ResultRelInfo,
    slot: *mut pg_sys::TupleTableSlot,
    _plan_slot: *mut pg_sys::TupleTableSlot,
) -> *mut pg_sys::TupleTableSlot {
    let ctx = row_context();
    // SAFETY: per the callback's contract (above). What Postgres allocates while the row is
    // read (detoasted copies, printed values) goes to our row context, emptied after each row:
    // nothing of it is kept (values are copied into Rust strings). An ERROR in between leaves
    // the switch to Postgres's error recovery, which resets the current context.
    let queued = unsafe {
        let table = (*(*rinfo).ri_RelationDesc).rd_id;
        let previous = pg_sys::MemoryContextSwitchTo(ctx);
        let queued = read_slot(slot).and_then(|cols| {
            let cols: Vec<_> = cols.into_iter().map(|(_, n, v)| (n, v)).collect();
            crate::write::insert(table, &cols)
        });
        pg_sys::MemoryContextSwitchTo(previous);
        pg_sys::MemoryContextReset(ctx);
        queued
    };
    if let Err(e) = queued {
        ErrorReport::from(e).report(PgLogLevel::ERROR);
    }
    slot
}

thread_local! {
    static ROW_CONTEXT: std::cell::Cell<pg_sys::MemoryContext> =
        const { std::cell::Cell::new(std::ptr::null_mut()) };
}

/// A memory context for one row's conversions (a child of `TopMemoryContext`, made once per
/// backend), so that memory stays flat however many rows a statement writes.
pub(super) fn row_context() -> pg_sys::MemoryContext {
    ROW_CONTEXT.with(|c| {
        if c.get().is_null() {
            // SAFETY: creates an empty allocation set under the backend's top context, which
            // lives as long as the backend; the name is a static string.
            let ctx = unsafe {
                pg_sys::AllocSetContextCreateExtended(
                    pg_sys::TopMemoryContext,
                    c"auth0_io insert row".as_ptr(),
                    pg_sys::ALLOCSET_DEFAULT_MINSIZE as usize,
                    pg_sys::ALLOCSET_DEFAULT_INITSIZE as usize,
                    pg_sys::ALLOCSET_DEFAULT_MAXSIZE as usize,
                )
            };
            c.set(ctx);
        }
        c.get()
    })
}

/// The row in `slot` as (attribute number, column name, value as JSON; NULL is `None`).
///
/// # Safety
/// `slot` must be a valid slot holding a row of its tuple descriptor.
pub(super) unsafe fn read_slot(
    slot: *mut pg_sys::TupleTableSlot,
) -> Result<Vec<(usize, String, Option<Value>)>> {
    // SAFETY: per the contract: `slot_getallattrs` fills `tts_values`/`tts_isnull` for every
    // attribute of the slot's descriptor, which the loop reads within `natts`.
    unsafe {
        pg_sys::slot_getallattrs(slot);
        let desc = (*slot).tts_tupleDescriptor;
        let natts = (*desc).natts as usize;
        let attrs = (*desc).attrs.as_slice(natts);
        let mut cols = Vec::with_capacity(natts);
        for (i, attr) in attrs.iter().enumerate() {
            if attr.attisdropped {
                continue;
            }
            let name = pgrx::name_data_to_str(&attr.attname).to_string();
            let value = if *(*slot).tts_isnull.add(i) {
                None
            } else {
                Some(datum_json(
                    *(*slot).tts_values.add(i),
                    attr.atttypid,
                    &name,
                )?)
            };
            cols.push((i + 1, name, value));
        }
        Ok(cols)
    }
}

/// A non-null datum of type `typid` as JSON: text, booleans and integers as themselves, jsonb
/// parsed from its text (22023 naming the column for what serde_json cannot read), anything
/// else as its text (only columns Auth0 sets have other types, and those are refused).
///
/// # Safety
/// `datum` must be a non-null datum of type `typid`.
unsafe fn datum_json(datum: pg_sys::Datum, typid: pg_sys::Oid, column: &str) -> Result<Value> {
    // SAFETY: per the contract, each conversion reads a datum of its own type.
    unsafe {
        Ok(match typid {
            pg_sys::TEXTOID | pg_sys::VARCHAROID | pg_sys::BPCHAROID => {
                Value::String(String::from_datum(datum, false).unwrap_or_default())
            }
            pg_sys::BOOLOID => Value::Bool(bool::from_datum(datum, false).unwrap_or_default()),
            pg_sys::INT2OID => Value::from(i16::from_datum(datum, false).unwrap_or_default()),
            pg_sys::INT4OID => Value::from(i32::from_datum(datum, false).unwrap_or_default()),
            pg_sys::INT8OID => Value::from(i64::from_datum(datum, false).unwrap_or_default()),
            pg_sys::JSONBOID => {
                JsonbText(jsonb_arg::text_of(datum)).parse(&format!("column \"{column}\""))?
            }
            _ => Value::String(output_text(datum, typid)?),
        })
    }
}

/// A datum as its type's output function writes it.
///
/// # Safety
/// `datum` must be a non-null datum of type `typid`.
unsafe fn output_text(datum: pg_sys::Datum, typid: pg_sys::Oid) -> Result<String> {
    let mut output = pg_sys::InvalidOid;
    let mut varlena = false;
    // SAFETY: `getTypeOutputInfo` raises an ERROR for an unknown type (not UB); the output
    // function returns a palloc'd NUL-terminated string for a datum of its type.
    unsafe {
        pg_sys::getTypeOutputInfo(typid, &mut output, &mut varlena);
        let out = pg_sys::OidOutputFunctionCall(output, datum);
        if out.is_null() {
            return Err(Error::invalid(
                PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                "a value could not be printed",
            ));
        }
        let text = std::ffi::CStr::from_ptr(out).to_string_lossy().into_owned();
        pg_sys::pfree(out.cast());
        Ok(text)
    }
}
