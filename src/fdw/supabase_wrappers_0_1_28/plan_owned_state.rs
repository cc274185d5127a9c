//! **Plans that outlive their scan state.**
//!
//! - Symptom without it: the framework stores the address of its scan state in the plan's
//!   `fdw_private` (a one-element `List` of a `Const`), in memory it frees when the scan ends,
//!   together with the state. A plan executed again (a prepared statement's generic plan,
//!   PL/pgSQL's cached plans) reads freed memory and crashes the backend.
//! - What it does: `GetForeignPlan` gives the plan its own copy of that list (in the planner's
//!   context, so it lives and is cached with the plan); each planned state may be begun once (a
//!   second begin is a clean ERROR instead of a use after free); the end of every scan marks the
//!   backend's cached plans for re-planning (`ResetPlanCache`), which gives every later
//!   execution a fresh state. A scan that fails never ends (the framework frees its state on
//!   the error), so a transaction or subtransaction that aborts with a scan open re-plans them
//!   too.
//!
//!   It also has the plan completed by `param_paths::complete_plan` (`fdw_exprs`, which the
//!   framework leaves empty: the values computed when the scan starts); and, while the
//!   framework begins the scan, makes the scan node current ([`beginning`]), which the
//!   framework does not pass to `begin_scan`.
//! - Proved by: `tests/users_fdw.rs::cached_plans_run_again_safely` (generic plans, PL/pgSQL
//!   loops, a failed scan, a failure caught by an exception block); `framework_source_still_has_what_we_rely_on` (in `mod.rs`) checks the layout.
//! - Delete when: the framework keeps its state with the plan (or re-creates it at begin).

use pgrx::pg_sys;
use pgrx::PgSqlErrorCode;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::sync::OnceLock;

type PlanFn = unsafe extern "C-unwind" fn(
    *mut pg_sys::PlannerInfo,
    *mut pg_sys::RelOptInfo,
    pg_sys::Oid,
    *mut pg_sys::ForeignPath,
    *mut pg_sys::List,
    *mut pg_sys::List,
    *mut pg_sys::Plan,
) -> *mut pg_sys::ForeignScan;
type BeginFn = unsafe extern "C-unwind" fn(*mut pg_sys::ForeignScanState, i32);
type EndFn = unsafe extern "C-unwind" fn(*mut pg_sys::ForeignScanState);

static FRAMEWORK_PLAN: OnceLock<PlanFn> = OnceLock::new();
static FRAMEWORK_BEGIN: OnceLock<BeginFn> = OnceLock::new();
static FRAMEWORK_END: OnceLock<EndFn> = OnceLock::new();

/// Planned states forgotten at once past this many (planned and never run: EXPLAIN-less
/// PREPAREs), so the set cannot grow without bound.
const MAX_PLANNED: usize = 2048;

thread_local! {
    /// Scan states planned and not begun yet (each may run once), by address.
    static PLANNED: RefCell<HashSet<usize>> = RefCell::new(HashSet::new());
    /// Scans begun and not ended in this transaction.
    static OPEN_SCANS: Cell<u32> = const { Cell::new(0) };
    /// The scan node the framework is beginning (null outside `BeginForeignScan`).
    static BEGINNING: Cell<*mut pg_sys::ForeignScanState> = const { Cell::new(std::ptr::null_mut()) };
}

/// The scan node being begun, inside the framework's `BeginForeignScan` only (the framework's
/// own restart of a scan on rescan gets `None`).
pub fn beginning() -> Option<*mut pg_sys::ForeignScanState> {
    let node = BEGINNING.get();
    (!node.is_null()).then_some(node)
}

/// Clears [`BEGINNING`] when the framework's call returns or panics; an ERROR that leaves it
/// by longjmp skips this, and the abort callbacks clear it instead.
struct Beginning;

impl Drop for Beginning {
    fn drop(&mut self) {
        BEGINNING.set(std::ptr::null_mut());
    }
}

/// Wraps the framework's `GetForeignPlan`, `BeginForeignScan` and `EndForeignScan`.
pub fn install(routine: &mut pg_sys::FdwRoutine) {
    if let Some(f) = routine.GetForeignPlan {
        let _ = FRAMEWORK_PLAN.set(f);
        routine.GetForeignPlan = Some(get_foreign_plan);
    }
    if let Some(f) = routine.BeginForeignScan {
        let _ = FRAMEWORK_BEGIN.set(f);
        routine.BeginForeignScan = Some(begin_foreign_scan);
    }
    if let Some(f) = routine.EndForeignScan {
        let _ = FRAMEWORK_END.set(f);
        routine.EndForeignScan = Some(end_foreign_scan);
    }
}

/// Records that the state at `state` (the framework's `baserel->fdw_private`) was just planned.
pub fn planned(state: usize) {
    PLANNED.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() > MAX_PLANNED {
            p.clear();
        }
        p.insert(state);
    });
}

#[pgrx::pg_guard]
// SAFETY: installed as the routine's GetForeignPlan; Postgres calls it on the backend's thread
// with the planner's valid arguments, which are only passed on (see the block below).
unsafe extern "C-unwind" fn get_foreign_plan(
    root: *mut pg_sys::PlannerInfo,
    baserel: *mut pg_sys::RelOptInfo,
    foreigntableid: pg_sys::Oid,
    best_path: *mut pg_sys::ForeignPath,
    tlist: *mut pg_sys::List,
    scan_clauses: *mut pg_sys::List,
    outer_plan: *mut pg_sys::Plan,
) -> *mut pg_sys::ForeignScan {
    let Some(framework) = FRAMEWORK_PLAN.get() else {
        return std::ptr::null_mut();
    };
    // The planner's arguments go to the framework's own callback (set in `install`) unchanged.
    // `plan` is null or a `ForeignScan` it just made; `fdw_private` is a `List` node or null.
    // SAFETY: `copyObjectImpl` deep-copies that list into the planner's context (lives as long
    // as the plan); every pointer is checked for null before it is followed; `complete_plan`
    // gets the planner's valid arguments and the non-null plan just made.
    unsafe {
        let plan = framework(
            root,
            baserel,
            foreigntableid,
            best_path,
            tlist,
            scan_clauses,
            outer_plan,
        );
        if !plan.is_null() && !(*plan).fdw_private.is_null() {
            // The framework built this list in the scan's own context, which is reset per row
            // and deleted at the end of the scan; the copy lives (and is cached) with the plan.
            (*plan).fdw_private =
                pg_sys::copyObjectImpl((*plan).fdw_private as *const _) as *mut pg_sys::List;
        }
        if !plan.is_null() && (*baserel).reloptkind != pg_sys::RelOptKind::RELOPT_UPPER_REL {
            super::param_paths::complete_plan(plan, root, baserel, foreigntableid, best_path);
        }
        plan
    }
}

/// The scan state address the framework keeps in a plan, or `None` if the plan does not have
/// the framework's layout (a one-element `List` of a non-null `Const`).
///
/// # Safety
/// `node` is a live `ForeignScanState` of an auth0 scan whose plan came from our
/// `get_foreign_plan`.
unsafe fn planned_state(node: *mut pg_sys::ForeignScanState) -> Option<usize> {
    // SAFETY: per the contract above; every pointer is checked for null before it is read, and
    // only the `Const`'s datum (an integer holding the state's address) is read, never followed.
    unsafe {
        let plan = (*node).ss.ps.plan as *mut pg_sys::ForeignScan;
        let list = (*plan).fdw_private;
        if list.is_null() || (*list).length < 1 {
            return None;
        }
        let cst = (*(*list).elements).ptr_value as *mut pg_sys::Const;
        if cst.is_null() || (*cst).constisnull {
            return None;
        }
        Some((*cst).constvalue.value())
    }
}

#[pgrx::pg_guard]
// SAFETY: installed as BeginForeignScan; called by the executor with a valid node whose plan
// came from our get_foreign_plan (what `planned_state` relies on).
unsafe extern "C-unwind" fn begin_foreign_scan(node: *mut pg_sys::ForeignScanState, eflags: i32) {
    let Some(framework) = FRAMEWORK_BEGIN.get() else {
        return;
    };
    // SAFETY: called by the executor with a valid node of an auth0 scan (see `planned_state`);
    // an ERROR is raised before the framework dereferences a state that may be gone, and the
    // framework's callback gets the executor's arguments unchanged.
    unsafe {
        match planned_state(node) {
            None => pgrx::pg_sys::panic::ErrorReport::new(
                PgSqlErrorCode::ERRCODE_FDW_ERROR,
                "auth0_io does not recognise the plan layout of supabase-wrappers",
                "auth0_io",
            )
            .set_detail("The plan's fdw_private is not the one-element list of a constant that supabase-wrappers 0.1.28 makes.")
            .set_hint("auth0_io was built against a different supabase-wrappers; see src/fdw/supabase_wrappers_0_1_28/.")
            .report(pgrx::PgLogLevel::ERROR),
            Some(state) if !PLANNED.with(|p| p.borrow_mut().remove(&state)) => {
                pgrx::pg_sys::panic::ErrorReport::new(
                    PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                    "auth0_io cannot run the same plan of a foreign scan twice",
                    "auth0_io",
                )
                .set_detail("This happens when a SQL-language function runs its query more than once within one statement.")
                .set_hint("Call the query through a PL/pgSQL function or directly; cached plans are re-planned automatically.")
                .report(pgrx::PgLogLevel::ERROR)
            }
            Some(_) => {}
        }
        OPEN_SCANS.set(OPEN_SCANS.get() + 1);
        BEGINNING.set(node);
        let _clear = Beginning;
        framework(node, eflags);
    }
}

#[pgrx::pg_guard]
// SAFETY: installed as EndForeignScan; called once per begun scan with a valid node, passed on.
unsafe extern "C-unwind" fn end_foreign_scan(node: *mut pg_sys::ForeignScanState) {
    let Some(framework) = FRAMEWORK_END.get() else {
        return;
    };
    // SAFETY: the executor's arguments, passed on unchanged; `ResetPlanCache` only marks cached
    // plans invalid (no memory is freed under anyone) and is safe to call during execution.
    unsafe {
        framework(node);
        OPEN_SCANS.set(OPEN_SCANS.get().saturating_sub(1));
        // This plan's state is gone: make every cached plan of the backend plan again before
        // its next execution, so that no execution ever meets a freed state.
        pg_sys::ResetPlanCache();
    }
}

/// Registers the (sub)transaction callbacks that re-plan cached plans after a failed scan
/// (from `_PG_init`, once per backend).
pub fn install_abort_callbacks() {
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
    match event {
        pg_sys::XactEvent::XACT_EVENT_ABORT => {
            BEGINNING.set(std::ptr::null_mut());
            let open = OPEN_SCANS.replace(0);
            if open > 0 {
                // SAFETY: `ResetPlanCache` only marks the saved plans invalid (it allocates
                // nothing and reads no catalog), which is safe while a transaction aborts.
                unsafe { pg_sys::ResetPlanCache() };
            }
        }
        // Every scan of the transaction has ended by now (holdable cursors are materialised).
        pg_sys::XactEvent::XACT_EVENT_COMMIT => OPEN_SCANS.set(0),
        _ => {}
    }
}

#[pgrx::pg_guard]
// SAFETY: registered as a subtransaction callback; Postgres calls it on the backend's thread.
unsafe extern "C-unwind" fn on_subxact(
    event: pg_sys::SubXactEvent::Type,
    _sub: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    // A scan that failed inside an exception block: the count stays (the outer transaction
    // may still have scans open) until the transaction ends.
    if event == pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB {
        BEGINNING.set(std::ptr::null_mut());
    }
    if event == pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB && OPEN_SCANS.get() > 0 {
        // SAFETY: as in `on_xact`: it only marks saved plans invalid.
        unsafe { pg_sys::ResetPlanCache() };
    }
}
