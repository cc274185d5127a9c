//! **The framework sees the clauses' columns, not the clauses.**
//!
//! - Symptom without it: the framework extracts `column op value` quals from the restriction
//!   clauses and evaluates their parameters itself, at begin and before every row. For an
//!   InitPlan's parameter (`WHERE app_metadata @> (SELECT ...)`) it keeps a pointer into the
//!   planner's tree, which the extended query protocol frees between Bind and Execute
//!   ("unrecognized node type: 0", or worse), and at begin it reads the parameter before
//!   Postgres has set it (datum 0, not NULL), which its jsonb and numeric conversions
//!   dereference: the backend crashed. We do not use its quals at all (`clauses.rs` reads
//!   the clauses, `at_start.rs` evaluates their values).
//! - What it does: while the framework's `GetForeignRelSize` runs, the relation's
//!   `baserestrictinfo` is one restriction holding only the list of the columns the clauses
//!   use (the framework still fetches them, so Postgres can recheck every clause); the real
//!   list is put back right after. The framework finds no quals (and warns once about the
//!   list, which `quiet_warnings` silences).
//! - Proved by: `tests/pushdown.rs::what_search_cannot_follow_stays_with_postgres` (a jsonb
//!   InitPlan, through the extended protocol); every pushdown test (columns used only in a
//!   clause are still fetched).
//! - Delete when: the framework evaluates parameters from the plan at the first row, or lets
//!   an FDW opt out of qual extraction.

use pgrx::pg_sys;
use pgrx::PgList;

/// Runs `f` (the framework's `GetForeignRelSize`) with the clauses hidden.
///
/// # Safety
/// `baserel` is the planner's valid relation, in a planner callback.
pub unsafe fn during<T>(baserel: *mut pg_sys::RelOptInfo, f: impl FnOnce() -> T) -> T {
    // SAFETY: per the contract; the stand-in list and restriction are built in the planner's
    // memory context, and the relation's own list is put back unchanged before returning (an
    // ERROR in `f` abandons the planning, and the relation with it).
    unsafe {
        let original = (*baserel).baserestrictinfo;
        (*baserel).baserestrictinfo = columns_only(original);
        let out = f();
        (*baserel).baserestrictinfo = original;
        out
    }
}

/// One restriction whose "clause" is the list of the columns (`Var`s) `infos` use, or an empty
/// list when they use none.
///
/// # Safety
/// `infos` is null or a valid list of `RestrictInfo`s.
unsafe fn columns_only(infos: *mut pg_sys::List) -> *mut pg_sys::List {
    // SAFETY: per the contract; `pull_var_clause` returns a new list of the clauses' own Var
    // nodes; the RestrictInfo is zeroed memory with its node tag set, of which the framework
    // reads only `clause`.
    unsafe {
        let flags = (pg_sys::PVC_RECURSE_AGGREGATES
            | pg_sys::PVC_RECURSE_WINDOWFUNCS
            | pg_sys::PVC_RECURSE_PLACEHOLDERS) as i32;
        let mut vars: *mut pg_sys::List = std::ptr::null_mut();
        for ri in PgList::<pg_sys::RestrictInfo>::from_pg(infos).iter_ptr() {
            let used = pg_sys::pull_var_clause((*ri).clause as *mut pg_sys::Node, flags);
            vars = pg_sys::list_concat(vars, used);
        }
        if vars.is_null() {
            return std::ptr::null_mut();
        }
        let ri = pg_sys::palloc0(std::mem::size_of::<pg_sys::RestrictInfo>())
            as *mut pg_sys::RestrictInfo;
        (*ri).type_ = pg_sys::NodeTag::T_RestrictInfo;
        (*ri).clause = vars as *mut pg_sys::Expr;
        pg_sys::lappend(std::ptr::null_mut(), ri as *mut std::ffi::c_void)
    }
}
