//! `UPDATE` and `DELETE` rows, read from the plan's slot by us and queued (`write/mod.rs`).
//!
//! **Without it.**
//! - An `UPDATE` sees only the columns it sets and the row's `user_id`. Auth0's rules need more
//!   of the user as the scan read it: its connection and e-mail (an upsert import matches by
//!   e-mail, in a database connection), its `email_verified` (an upsert resets it unless it is
//!   sent) and its metadata (a `PATCH` merges metadata, so old keys must be unset).
//! - The framework drops `user_id` from an `UPDATE`'s new values, so `SET user_id = ...`
//!   would be silently ignored; other columns Auth0 sets would only fail at COMMIT.
//! - Its row conversion reads jsonb with pgrx's `JsonB`, which panics on values serde_json
//!   cannot read (the same fault as for `INSERT`, see `insert_rows.rs`).
//!
//! **What it does.**
//! - `AddForeignUpdateTargets` runs the framework's (which adds `user_id` as the row's
//!   identity), then adds the scan's values the write needs as junk columns named
//!   `auth0_io_before_<column>` (for `DELETE`, only the connection). A child of an inheritance
//!   tree or a partition is refused (0A000): the junk columns of children whose columns are
//!   numbered differently would conflict, and Postgres reads `tableoid`, which Auth0 has not.
//! - `PlanForeignModify` refuses `RETURNING` (0A000: nothing is written before COMMIT) and an
//!   `UPDATE` that sets a column Auth0 cannot change (428C9), before any row is read; then it
//!   runs the framework's.
//! - `ExecForeignUpdate` takes the new values from the new row (`slot`, the table's own
//!   columns, after BEFORE triggers) for the columns the statement sets (`ExecGetUpdatedCols`,
//!   by number: an updatable view may name them otherwise); the row's id and what the scan
//!   read come from the plan's junk columns, by their names. `ExecForeignDelete` reads the
//!   junk columns. The framework's `BeginForeignModify`/`EndForeignModify` still run; their
//!   state is left unused.
//!
//! A BEFORE trigger's change to a column the statement does not set is not sent (Auth0 gets
//! the columns the statement sets, with the values the triggers left in them).
//!
//! **Test:** `tests/writes.rs` (`UPDATE` through upsert jobs and `PATCH`, `DELETE` and its
//! guard, refusals).
//!
//! **Delete when** the framework lets an instance add row-identity columns, sees every updated
//! column, and reads jsonb without panicking.

use super::insert_rows::{read_slot, row_context};
use crate::error::Result;
use crate::write::{self, Before};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{pg_sys, PgLogLevel};
use serde_json::Value;
use std::ffi::CStr;
use std::sync::OnceLock;

/// The scan's values an `UPDATE` keeps (column, junk name).
const BEFORE_UPDATE: &[(&str, &CStr)] = &[
    ("connection", c"auth0_io_before_connection"),
    ("email", c"auth0_io_before_email"),
    ("email_verified", c"auth0_io_before_email_verified"),
    ("app_metadata", c"auth0_io_before_app_metadata"),
    ("user_metadata", c"auth0_io_before_user_metadata"),
];

/// The scan's values a `DELETE` keeps.
const BEFORE_DELETE: &[(&str, &CStr)] = &[("connection", c"auth0_io_before_connection")];

/// The row identity column (the table option `rowid_column`, which must be `user_id`).
const ROW_ID: &str = "user_id";

static FRAMEWORK_ADD_TARGETS: OnceLock<pg_sys::AddForeignUpdateTargets_function> = OnceLock::new();
static FRAMEWORK_PLAN_MODIFY: OnceLock<pg_sys::PlanForeignModify_function> = OnceLock::new();

/// Installs the update and delete callbacks into the framework's routine.
pub fn install(routine: &mut pg_sys::FdwRoutine) {
    let _ = FRAMEWORK_ADD_TARGETS.set(routine.AddForeignUpdateTargets);
    let _ = FRAMEWORK_PLAN_MODIFY.set(routine.PlanForeignModify);
    routine.AddForeignUpdateTargets = Some(add_foreign_update_targets);
    routine.PlanForeignModify = Some(plan_foreign_modify);
    routine.ExecForeignUpdate = Some(exec_foreign_update);
    routine.ExecForeignDelete = Some(exec_foreign_delete);
}

#[pgrx::pg_guard]
// SAFETY: installed as AddForeignUpdateTargets; the planner passes valid root, range table
// entry and open relation, which are read and passed on unchanged.
unsafe extern "C-unwind" fn add_foreign_update_targets(
    root: *mut pg_sys::PlannerInfo,
    rtindex: pg_sys::Index,
    target_rte: *mut pg_sys::RangeTblEntry,
    target_relation: pg_sys::Relation,
) {
    // SAFETY: per the callback's contract (above): the relation's descriptor has `natts`
    // attributes; each Var made names one of them, and `add_row_identity_var` copies the name.
    unsafe {
        if rtindex as i32 != (*(*root).parse).resultRelation {
            let e = crate::error::Error::invalid(
                pgrx::PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                "cannot UPDATE or DELETE auth0 foreign tables through an inheritance parent or a partitioned table",
            )
            .with_hint("UPDATE or DELETE the foreign table itself.");
            ErrorReport::from(e).report(PgLogLevel::ERROR);
        }
        if let Some(Some(framework)) = FRAMEWORK_ADD_TARGETS.get() {
            framework(root, rtindex, target_rte, target_relation);
        }
        let wanted = if (*(*root).parse).commandType == pg_sys::CmdType::CMD_UPDATE {
            BEFORE_UPDATE
        } else {
            BEFORE_DELETE
        };
        let desc = (*target_relation).rd_att;
        let attrs = (*desc).attrs.as_slice((*desc).natts as usize);
        for (column, junk) in wanted {
            let Some(attr) = attrs
                .iter()
                .find(|a| !a.attisdropped && pgrx::name_data_to_str(&a.attname) == *column)
            else {
                continue;
            };
            let var = pg_sys::makeVar(
                rtindex as _,
                attr.attnum,
                attr.atttypid,
                attr.atttypmod,
                attr.attcollation,
                0,
            );
            pg_sys::add_row_identity_var(root, var, rtindex, junk.as_ptr());
        }
    }
}

#[pgrx::pg_guard]
// SAFETY: installed as PlanForeignModify; the planner passes a valid root and plan, and the
// index of the result relation in the range table.
unsafe extern "C-unwind" fn plan_foreign_modify(
    root: *mut pg_sys::PlannerInfo,
    plan: *mut pg_sys::ModifyTable,
    result_relation: pg_sys::Index,
    subplan_index: std::ffi::c_int,
) -> *mut pg_sys::List {
    // SAFETY: per the callback's contract; `planner_rt_fetch` reads the planner's range table
    // at a valid index; `updatedCols` is a valid (possibly empty) bitmapset; the catalog
    // lookups return palloc'd names or NULL (checked), and `get_attname` raises an ERROR (not
    // UB) for a missing column.
    unsafe {
        if !(*plan).returningLists.is_null() {
            let e = crate::error::Error::invalid(
                pgrx::PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                "RETURNING is not supported on auth0 foreign tables",
            )
            .with_detail("Writes reach Auth0 at COMMIT, so nothing they would return exists yet.")
            .with_hint("Leave RETURNING out; SELECT the users after COMMIT.");
            ErrorReport::from(e).report(PgLogLevel::ERROR);
        }
        if (*plan).operation == pg_sys::CmdType::CMD_UPDATE {
            let rte = pgrx::pg_sys::planner_rt_fetch(result_relation, root);
            let relid = (*rte).relid;
            let schema = pg_sys::get_namespace_name(pg_sys::get_rel_namespace(relid));
            let rel = pg_sys::get_rel_name(relid);
            let table_name = if schema.is_null() || rel.is_null() {
                "the foreign table".to_string()
            } else {
                format!(
                    "{}.{}",
                    CStr::from_ptr(schema).to_string_lossy(),
                    CStr::from_ptr(rel).to_string_lossy()
                )
            };
            let mut member = -1;
            loop {
                member = pg_sys::bms_next_member((*rte).updatedCols, member);
                if member < 0 {
                    break;
                }
                let attno = (member + pg_sys::FirstLowInvalidHeapAttributeNumber) as i16;
                let name = pg_sys::get_attname((*rte).relid, attno, false);
                let name = CStr::from_ptr(name).to_string_lossy();
                if let Some(e) = crate::write::change::refuse_column(&table_name, &name) {
                    ErrorReport::from(e).report(PgLogLevel::ERROR);
                }
            }
        }
        match FRAMEWORK_PLAN_MODIFY.get() {
            Some(Some(framework)) => framework(root, plan, result_relation, subplan_index),
            _ => std::ptr::null_mut(),
        }
    }
}

/// A row's columns: (attribute number, name, value; NULL is `None`).
type Columns = Vec<(usize, String, Option<Value>)>;

/// Runs `queue` on the plan slot's columns and, when given, the new row's (both read in the
/// per-row memory context, emptied afterwards), and raises its error.
///
/// # Safety
/// `rinfo`, `plan_slot` and `new_row` must be the executor's valid result relation and slots.
unsafe fn queue_row(
    rinfo: *mut pg_sys::ResultRelInfo,
    plan_slot: *mut pg_sys::TupleTableSlot,
    new_row: Option<*mut pg_sys::TupleTableSlot>,
    queue: impl FnOnce(pg_sys::Oid, Columns, Columns) -> Result<()>,
) {
    let ctx = row_context();
    // SAFETY: per the contract. What Postgres allocates while the rows are read goes to our
    // row context, emptied after the row: values are copied into Rust strings first.
    let queued = unsafe {
        let table = (*(*rinfo).ri_RelationDesc).rd_id;
        let previous = pg_sys::MemoryContextSwitchTo(ctx);
        let read = read_slot(plan_slot).and_then(|cols| {
            let new = match new_row {
                Some(slot) => read_slot(slot)?,
                None => Vec::new(),
            };
            Ok((cols, new))
        });
        pg_sys::MemoryContextSwitchTo(previous);
        let queued = read.and_then(|(cols, new)| queue(table, cols, new));
        pg_sys::MemoryContextReset(ctx);
        queued
    };
    if let Err(e) = queued {
        ErrorReport::from(e).report(PgLogLevel::ERROR);
    }
}

/// The row's `user_id`, or the error for a row without one (the scan always reads it).
fn row_id(cols: &Columns) -> Result<String> {
    cols.iter()
        .find(|(_, n, _)| n == ROW_ID)
        .and_then(|(_, _, v)| v.as_ref())
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            crate::error::Error::invalid(
                pgrx::PgSqlErrorCode::ERRCODE_FDW_ERROR,
                "a row to change has no user_id",
            )
        })
}

/// The scan's value of `column` for this row, from the junk columns `kept` of the statement:
/// `None` when the plan has no such junk column (the table has no such column), `Some(None)`
/// for NULL.
fn before<'a>(
    kept: &[(&str, &CStr)],
    cols: &'a [(usize, String, Option<Value>)],
    column: &str,
) -> Option<Option<&'a Value>> {
    let junk = kept
        .iter()
        .find(|(c, _)| *c == column)
        .and_then(|(_, j)| j.to_str().ok())?;
    cols.iter()
        .find(|(_, n, _)| n == junk)
        .map(|(_, _, v)| v.as_ref())
}

#[pgrx::pg_guard]
// SAFETY: installed as ExecForeignUpdate; the executor passes its state, the target's result
// relation, the new row (`slot`, the table's descriptor) and the plan's slot (with the junk
// columns), all valid for this call.
unsafe extern "C-unwind" fn exec_foreign_update(
    estate: *mut pg_sys::EState,
    rinfo: *mut pg_sys::ResultRelInfo,
    slot: *mut pg_sys::TupleTableSlot,
    plan_slot: *mut pg_sys::TupleTableSlot,
) -> *mut pg_sys::TupleTableSlot {
    // SAFETY: per the callback's contract. `ExecGetUpdatedCols` returns the statement's
    // updated columns (offset by FirstLowInvalidHeapAttributeNumber); the new row's
    // descriptor has those attributes, read within `natts` by `read_slot`.
    unsafe {
        let updated = pg_sys::ExecGetUpdatedCols(rinfo, estate);
        let mut set_columns = Vec::new();
        let mut member = -1;
        loop {
            member = pg_sys::bms_next_member(updated, member);
            if member < 0 {
                break;
            }
            set_columns.push((member + pg_sys::FirstLowInvalidHeapAttributeNumber) as usize);
        }
        queue_row(rinfo, plan_slot, Some(slot), |table, cols, new_row| {
            let user_id = row_id(&cols)?;
            // The columns set, by number (1-based), as the table names them.
            let set = new_row
                .into_iter()
                .filter(|(attno, ..)| set_columns.contains(attno))
                .map(|(_, name, v)| (name, v.unwrap_or(Value::Null)))
                .collect();
            write::update(table, &user_id, before_update(&cols), set)
        });
    }
    slot
}

/// What the scan read of the user (each `None` when the table has no such column).
fn before_update(cols: &[(usize, String, Option<Value>)]) -> Before {
    let before = |c: &str| before(BEFORE_UPDATE, cols, c);
    let text = |c: &str| before(c).map(|v| v.and_then(Value::as_str).map(str::to_string));
    Before {
        connection: text("connection"),
        email: text("email"),
        email_verified: before("email_verified").map(|v| v.and_then(Value::as_bool)),
        app_metadata: before("app_metadata").map(|v| v.cloned()),
        user_metadata: before("user_metadata").map(|v| v.cloned()),
    }
}

#[pgrx::pg_guard]
// SAFETY: installed as ExecForeignDelete; the executor passes the target's result relation and
// the plan's slot (the junk columns), valid for this call.
unsafe extern "C-unwind" fn exec_foreign_delete(
    _estate: *mut pg_sys::EState,
    rinfo: *mut pg_sys::ResultRelInfo,
    slot: *mut pg_sys::TupleTableSlot,
    plan_slot: *mut pg_sys::TupleTableSlot,
) -> *mut pg_sys::TupleTableSlot {
    // SAFETY: per the callback's contract.
    unsafe {
        queue_row(rinfo, plan_slot, None, |table, cols, _| {
            let user_id = row_id(&cols)?;
            let connection = before(BEFORE_DELETE, &cols, "connection")
                .flatten()
                .and_then(Value::as_str)
                .map(str::to_string);
            write::delete(table, &user_id, connection)
        });
    }
    slot
}
