//! **Joins that look users up, one request per outer row.**
//!
//! - Symptom without it: the framework offers the planner one path, which reads every user the
//!   table's own clauses allow. `crm JOIN auth0.users u ON u.email = crm.email` with 200 CRM
//!   rows reads the whole tenant (an export job on a large one).
//! - What it does: `GetForeignPaths` adds parameterised paths (as postgres_fdw does) for join
//!   clauses `email = <other relation>` or `user_id = <other relation>`, found among the
//!   table's join clauses and its equivalence classes, each costing one request per outer row
//!   ([`crate::fdw::estimate::REQUEST_COST`]); the planner weighs them against reading the
//!   table once. When one is chosen, `GetForeignPlan` ([`complete_plan`]) puts the outer
//!   expressions in the plan's `fdw_exprs` after the clauses' own values (Postgres turns the
//!   outer columns into parameters set before each rescan) and names their columns in a
//!   second `fdw_private` element, which the instance reads at begin ([`lookup_columns`]).
//! - Proved by: `tests/pushdown.rs::joins_look_users_up_when_that_is_cheaper`.
//! - Delete when: the framework makes parameterised paths (and passes join clauses).

use crate::fdw::clauses;
use pgrx::pg_sys;
use pgrx::PgList;
use std::ffi::{CStr, CString};
use std::sync::OnceLock;

type PathsFn =
    unsafe extern "C-unwind" fn(*mut pg_sys::PlannerInfo, *mut pg_sys::RelOptInfo, pg_sys::Oid);

static FRAMEWORK_PATHS: OnceLock<PathsFn> = OnceLock::new();

/// Wraps the framework's `GetForeignPaths`.
pub fn install(routine: &mut pg_sys::FdwRoutine) {
    if let Some(f) = routine.GetForeignPaths {
        let _ = FRAMEWORK_PATHS.set(f);
        routine.GetForeignPaths = Some(get_foreign_paths);
    }
}

/// The attribute number the equivalence-class callback looks for.
struct Wanted {
    relid: pg_sys::Index,
    attno: pg_sys::AttrNumber,
}

#[pgrx::pg_guard]
// SAFETY: passed to `generate_implied_equalities_for_column` with `arg` pointing at a live
// `Wanted`; `em` is a valid member of the planner's equivalence class.
unsafe extern "C-unwind" fn member_is_column(
    _root: *mut pg_sys::PlannerInfo,
    _rel: *mut pg_sys::RelOptInfo,
    _ec: *mut pg_sys::EquivalenceClass,
    em: *mut pg_sys::EquivalenceMember,
    arg: *mut std::ffi::c_void,
) -> bool {
    // SAFETY: per the registration above; the expression is only read after a tag check.
    unsafe {
        let wanted = &*(arg as *const Wanted);
        let e = crate::fdw::clauses::strip((*em).em_expr as *mut pg_sys::Node);
        if e.is_null() || (*e).type_ != pg_sys::NodeTag::T_Var {
            return false;
        }
        let v = e as *mut pg_sys::Var;
        (*v).varno as pg_sys::Index == wanted.relid
            && (*v).varattno == wanted.attno
            && (*v).varlevelsup == 0
    }
}

#[pgrx::pg_guard]
// SAFETY: installed as GetForeignPaths; called by the planner with valid arguments, passed on.
unsafe extern "C-unwind" fn get_foreign_paths(
    root: *mut pg_sys::PlannerInfo,
    baserel: *mut pg_sys::RelOptInfo,
    foreigntableid: pg_sys::Oid,
) {
    let Some(framework) = FRAMEWORK_PATHS.get() else {
        return;
    };
    // SAFETY: the planner's arguments, valid for this call. Join clauses come from the
    // relation's own `joininfo` and from `generate_implied_equalities_for_column` (built in the
    // planner's context); paths are made and added with the planner's own functions.
    unsafe {
        framework(root, baserel, foreigntableid);
        let relid = (*baserel).relid;
        let mut candidates: *mut pg_sys::List = std::ptr::null_mut();
        for ri in PgList::<pg_sys::RestrictInfo>::from_pg((*baserel).joininfo).iter_ptr() {
            if pg_sys::join_clause_is_movable_to(ri, baserel) {
                candidates = pg_sys::lappend(candidates, ri as *mut std::ffi::c_void);
            }
        }
        if (*baserel).has_eclass_joins {
            for column in clauses::LOOKUP_COLUMNS {
                let name = CString::new(*column).unwrap_or_default();
                let attno = pg_sys::get_attnum(foreigntableid, name.as_ptr());
                if attno <= 0 {
                    continue;
                }
                let mut wanted = Wanted { relid, attno };
                let implied = pg_sys::generate_implied_equalities_for_column(
                    root,
                    baserel,
                    Some(member_is_column),
                    &mut wanted as *mut Wanted as *mut std::ffi::c_void,
                    (*baserel).lateral_referencers,
                );
                candidates = pg_sys::list_concat(candidates, implied);
            }
        }
        let mut param_infos: *mut pg_sys::List = std::ptr::null_mut();
        let infos = PgList::<pg_sys::RestrictInfo>::from_pg(candidates);
        for ri in infos.iter_ptr() {
            let one = pg_sys::lappend(std::ptr::null_mut(), ri as *mut std::ffi::c_void);
            if clauses::join_lookups(root, baserel, foreigntableid, one).is_empty() {
                continue;
            }
            let outer = pg_sys::bms_union((*ri).clause_relids, (*baserel).lateral_relids);
            let outer = pg_sys::bms_del_member(outer, relid as i32);
            if pg_sys::bms_is_empty(outer) {
                continue;
            }
            let info = pg_sys::get_baserel_parampathinfo(root, baserel, outer);
            param_infos =
                pg_sys::list_append_unique_ptr(param_infos, info as *mut std::ffi::c_void);
        }
        let cost = crate::fdw::estimate::REQUEST_COST;
        for info in PgList::<pg_sys::ParamPathInfo>::from_pg(param_infos).iter_ptr() {
            // At most one user per lookup (an e-mail can belong to a few; one is the norm).
            (*info).ppi_rows = 1.0;
            let path = pg_sys::create_foreignscan_path(
                root,
                baserel,
                std::ptr::null_mut(),
                1.0,
                cost,
                cost,
                std::ptr::null_mut(),
                (*info).ppi_req_outer,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
            pg_sys::add_path(baserel, path as *mut pg_sys::Path);
        }
    }
}

/// Completes the plan the framework made: `fdw_exprs` holds the clauses' values computed at
/// scan start (`clauses.rs`), then, for a parameterised path, the outer side of each lookup
/// clause, whose columns are named in `fdw_private`'s second element.
///
/// # Safety
/// Called from `GetForeignPlan` with the planner's valid arguments and the `ForeignScan` the
/// framework just made (not null).
pub unsafe fn complete_plan(
    plan: *mut pg_sys::ForeignScan,
    root: *mut pg_sys::PlannerInfo,
    baserel: *mut pg_sys::RelOptInfo,
    foreigntableid: pg_sys::Oid,
    best_path: *mut pg_sys::ForeignPath,
) {
    // SAFETY: per the contract; lists and strings are built in the planner's memory context,
    // which lives as long as the plan.
    unsafe {
        // The same read as in GetForeignRelSize (same clauses, same order): `$n` there is the
        // n-th expression here. Postgres fixes their parameters up with the plan.
        let read = clauses::read(baserel, foreigntableid, false);
        let mut exprs: *mut pg_sys::List = std::ptr::null_mut();
        for e in read.at_start {
            exprs = pg_sys::lappend(exprs, e as *mut std::ffi::c_void);
        }
        let info = if best_path.is_null() {
            std::ptr::null_mut()
        } else {
            (*best_path).path.param_info
        };
        if !info.is_null() {
            let lookups = clauses::join_lookups(root, baserel, foreigntableid, (*info).ppi_clauses);
            if let Some(first) = lookups.first() {
                // One lookup is enough: the others are rechecked by Postgres.
                exprs = pg_sys::lappend(exprs, first.outer as *mut std::ffi::c_void);
                let name = CString::new(first.column.as_str()).unwrap_or_default();
                let node = pg_sys::makeString(pg_sys::pstrdup(name.as_ptr()));
                (*plan).fdw_private =
                    pg_sys::lappend((*plan).fdw_private, node as *mut std::ffi::c_void);
            }
        }
        (*plan).fdw_exprs = exprs;
    }
}

/// The lookup column of a parameterised scan (`Some("email")`), from its plan.
///
/// # Safety
/// `node` is a valid scan node of an auth0 foreign scan.
pub unsafe fn lookup_columns(node: *mut pg_sys::ForeignScanState) -> Option<String> {
    // SAFETY: the plan's `fdw_private` is the framework's Const and, when `complete_plan`
    // added it, a String node; both are read after tag checks.
    unsafe {
        let plan = (*node).ss.ps.plan as *mut pg_sys::ForeignScan;
        let private = PgList::<pg_sys::Node>::from_pg((*plan).fdw_private);
        let second = private.get_ptr(1)?;
        if (*second).type_ != pg_sys::NodeTag::T_String {
            return None;
        }
        let s = (*(second as *mut pg_sys::String)).sval;
        (!s.is_null()).then(|| CStr::from_ptr(s).to_string_lossy().into_owned())
    }
}
