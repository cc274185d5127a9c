//! Where supabase-wrappers 0.1.28 is not enough, we wrap two of its callbacks.
//!
//! - `GetForeignRelSize`: the framework passes quals, sorts and a LIMIT but not the query's
//!   shape; a LIMIT is only exact for the scan when the query reads this one table with nothing
//!   in between (and when every restriction was offered as a qual). We read that from the
//!   `PlannerInfo` and hand it to our `get_rel_size` through a thread-local. While the framework
//!   extracts quals it also WARNs about every clause it cannot use (with a node dump); those
//!   warnings are internal noise for our users and are silenced by an `emit_log_hook` during
//!   that call only.
//! - `ExplainForeignScan`: the framework prints its own debug lines and keeps the FDW instance
//!   where we cannot reach it. Our instance registers its EXPLAIN lines under an id; the wrapper
//!   maps the framework's state pointer (which `ExplainForeignScan` receives as `fdw_state`) to
//!   that id.
//! - `GetForeignPlan`, `BeginForeignScan`, `EndForeignScan`: the framework stores a pointer to
//!   its scan state in the plan, in memory it frees when the scan ends, together with the state.
//!   A plan executed again (prepared statements with a generic plan, PL/pgSQL's cached plans)
//!   would read freed memory and crash the backend. So the plan's copy of that list is made to
//!   live with the plan, each planned state may be begun once (a second begin is a clean
//!   ERROR), and the end of every scan marks the backend's cached plans for re-planning, which
//!   gives every later execution a fresh state.

use super::pushdown::QueryShape;
use pgrx::pg_sys;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::ffi::CString;
use std::sync::OnceLock;

type RelSizeFn =
    unsafe extern "C-unwind" fn(*mut pg_sys::PlannerInfo, *mut pg_sys::RelOptInfo, pg_sys::Oid);

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

static FRAMEWORK_REL_SIZE: OnceLock<RelSizeFn> = OnceLock::new();
static FRAMEWORK_PLAN: OnceLock<PlanFn> = OnceLock::new();
static FRAMEWORK_BEGIN: OnceLock<BeginFn> = OnceLock::new();
static FRAMEWORK_END: OnceLock<EndFn> = OnceLock::new();

thread_local! {
    static SHAPE: Cell<Option<QueryShape>> = const { Cell::new(None) };
    static PLANNED_ID: Cell<Option<u64>> = const { Cell::new(None) };
    static IN_FRAMEWORK_PLANNING: Cell<bool> = const { Cell::new(false) };
    static NEXT_ID: Cell<u64> = const { Cell::new(1) };
    static STATE_TO_ID: RefCell<HashMap<usize, u64>> = RefCell::new(HashMap::new());
    /// Scan states planned and not begun yet (each may run once).
    static PLANNED: RefCell<std::collections::HashSet<usize>> = RefCell::new(std::collections::HashSet::new());
    static EXPLAIN: RefCell<ExplainRegistry> = RefCell::new((VecDeque::new(), HashMap::new()));
}

/// EXPLAIN lines by instance id, with the ids in registration order (to forget the oldest).
type ExplainRegistry = (VecDeque<u64>, HashMap<u64, Vec<(String, String)>>);

/// Plans kept for EXPLAIN per backend (oldest forgotten first).
const KEEP_PLANS: usize = 512;

/// Installs our wrappers into the routine the framework built.
pub fn install(routine: &mut pg_sys::FdwRoutine) {
    if let Some(f) = routine.GetForeignRelSize {
        let _ = FRAMEWORK_REL_SIZE.set(f);
        routine.GetForeignRelSize = Some(get_foreign_rel_size);
    }
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
    routine.ExplainForeignScan = Some(explain_foreign_scan);
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
    // as the plan); every pointer is checked for null before it is followed.
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
        plan
    }
}

/// The scan state pointer the framework keeps in a plan.
///
/// # Safety
/// `node` is a live `ForeignScanState` of an auth0 scan whose plan came from our
/// `get_foreign_plan` (whose `fdw_private` is the framework's one-element `List` of a `Const`).
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
    // the ERROR is raised before the framework dereferences a state that may be gone, and the
    // framework's callback gets the executor's arguments unchanged.
    unsafe {
        let state = planned_state(node);
        let fresh = state.is_some_and(|s| PLANNED.with(|p| p.borrow_mut().remove(&s)));
        if !fresh {
            pgrx::pg_sys::panic::ErrorReport::new(
                pgrx::PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                "auth0_io cannot run the same plan of a foreign scan twice",
                "auth0_io",
            )
            .set_detail("This happens when a SQL-language function runs its query more than once within one statement.")
            .set_hint("Call the query through a PL/pgSQL function or directly; cached plans are re-planned automatically.")
            .report(pgrx::PgLogLevel::ERROR);
        }
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
        // This plan's state is gone: make every cached plan of the backend plan again before
        // its next execution, so that no execution ever meets a freed state.
        pg_sys::ResetPlanCache();
    }
}

fn list_len(l: *mut pg_sys::List) -> usize {
    if l.is_null() {
        0
    } else {
        // SAFETY: a non-null `List` pointer from the planner's data structures, valid for the
        // duration of the planning callback that passed it.
        unsafe { (*l).length as usize }
    }
}

/// # Safety
/// Called by the planner with valid `root` and `baserel`.
unsafe fn query_shape(
    root: *mut pg_sys::PlannerInfo,
    baserel: *mut pg_sys::RelOptInfo,
) -> QueryShape {
    // SAFETY: `root` and `baserel` are valid for this planning call (contract above); `parse` is
    // checked for null; only scalar fields and list heads are read.
    unsafe {
        let parse = (*root).parse;
        let single =
            pg_sys::bms_membership((*root).all_baserels) == pg_sys::BMS_Membership::BMS_SINGLETON;
        let nothing_between = !parse.is_null()
            && (*parse).groupClause.is_null()
            && !(*parse).hasAggs
            && (*parse).groupingSets.is_null()
            && (*parse).havingQual.is_null()
            && (*parse).distinctClause.is_null()
            && !(*parse).hasWindowFuncs
            && !(*parse).hasTargetSRFs
            && (*parse).setOperations.is_null();
        QueryShape {
            restrictions: list_len((*baserel).baserestrictinfo),
            pathkeys: list_len((*root).query_pathkeys),
            limit_applies_to_scan: single && nothing_between,
        }
    }
}

#[pgrx::pg_guard]
// SAFETY: installed as GetForeignRelSize; called by the planner with valid root and baserel,
// which are read (query_shape) and passed on unchanged.
unsafe extern "C-unwind" fn get_foreign_rel_size(
    root: *mut pg_sys::PlannerInfo,
    baserel: *mut pg_sys::RelOptInfo,
    foreigntableid: pg_sys::Oid,
) {
    let Some(framework) = FRAMEWORK_REL_SIZE.get() else {
        return;
    };
    // SAFETY: the planner's arguments, valid for this call, passed on unchanged; after the
    // framework returns, `baserel->fdw_private` holds its state pointer, which is only used as
    // a map key here (never dereferenced).
    unsafe {
        SHAPE.set(Some(query_shape(root, baserel)));
        PLANNED_ID.set(None);
        IN_FRAMEWORK_PLANNING.set(true);
        // If this raises an ERROR, the flag stays set until the next planning; the log hook
        // only ever hides the framework's own warnings, so that is harmless.
        framework(root, baserel, foreigntableid);
        IN_FRAMEWORK_PLANNING.set(false);
        SHAPE.set(None);
        let state = (*baserel).fdw_private as usize;
        PLANNED.with(|p| {
            let mut p = p.borrow_mut();
            if p.len() > KEEP_PLANS * 4 {
                p.clear(); // planned and never run (EXPLAIN-less PREPAREs): forget them all
            }
            p.insert(state);
        });
        if let Some(id) = PLANNED_ID.take() {
            STATE_TO_ID.with(|m| {
                let mut m = m.borrow_mut();
                if m.len() > KEEP_PLANS * 4 {
                    m.clear();
                }
                m.insert(state, id);
            });
        }
    }
}

/// The memory context the framework converts every row's cells into for the scan of
/// `ftable_oid` being planned right now (it creates it just before calling our
/// `get_rel_size`, as the first child of its root context). The framework only deletes it when
/// the scan ends, so without a reset per row a scan's memory grows with its rows; `iter_scan`
/// resets it (the previous row is no longer referenced by then).
pub fn framework_row_context(ftable_oid: &str) -> Option<pg_sys::MemoryContext> {
    // Runs on the backend's thread inside the framework's `GetForeignRelSize`; the context kept
    // is deleted by the framework only with the state that owns our instance.
    // SAFETY: `CacheMemoryContext` exists once a backend can plan; every context has a valid
    // NUL-terminated `name`; only names and sibling links are read.
    unsafe {
        let mut root = (*pg_sys::CacheMemoryContext).firstchild;
        while !root.is_null() {
            if std::ffi::CStr::from_ptr((*root).name).to_bytes() == b"WrappersRootMemCtx" {
                let newest = (*root).firstchild;
                if newest.is_null() {
                    return None;
                }
                let name = std::ffi::CStr::from_ptr((*newest).name).to_string_lossy();
                return (name == format!("Wrappers_scan_{ftable_oid}")).then_some(newest);
            }
            root = (*root).nextchild;
        }
        None
    }
}

/// The query shape for the relation being planned (inside our wrapper only).
pub fn current_shape() -> Option<QueryShape> {
    SHAPE.get()
}

/// A new EXPLAIN id for an instance being planned.
pub fn new_explain_id() -> u64 {
    let id = NEXT_ID.get();
    NEXT_ID.set(id + 1);
    PLANNED_ID.set(Some(id));
    id
}

/// Sets (or replaces) the EXPLAIN lines of an instance.
pub fn set_explain(id: u64, lines: Vec<(String, String)>) {
    EXPLAIN.with(|e| {
        let (order, map) = &mut *e.borrow_mut();
        if map.insert(id, lines).is_none() {
            order.push_back(id);
            while order.len() > KEEP_PLANS {
                if let Some(old) = order.pop_front() {
                    map.remove(&old);
                }
            }
        }
    });
}

#[pgrx::pg_guard]
// SAFETY: installed as ExplainForeignScan; called with a valid node and explain state.
unsafe extern "C-unwind" fn explain_foreign_scan(
    node: *mut pg_sys::ForeignScanState,
    es: *mut pg_sys::ExplainState,
) {
    // SAFETY: the executor's node and explain state, valid for this call; `fdw_state` is only
    // used as a map key; the property strings are NUL-terminated `CString`s that outlive the
    // call (`ExplainPropertyText` copies them).
    unsafe {
        let state = (*node).fdw_state as usize;
        let id = STATE_TO_ID.with(|m| m.borrow().get(&state).copied());
        let lines = id.and_then(|id| EXPLAIN.with(|e| e.borrow().1.get(&id).cloned()));
        let verbose = (*es).verbose;
        for (label, value) in lines.unwrap_or_default() {
            if label.starts_with("Auth0 Fields") && !verbose {
                continue;
            }
            let (Ok(l), Ok(v)) = (CString::new(label), CString::new(value)) else {
                continue;
            };
            pg_sys::ExplainPropertyText(l.as_ptr(), v.as_ptr(), es);
        }
    }
}

/// Silences the framework's warnings about clauses it cannot push (they are expected: Postgres
/// evaluates those clauses itself). Everything else passes through to any previous hook.
#[pgrx::pg_guard]
// SAFETY: installed as emit_log_hook; Postgres calls it with a valid ErrorData (or null).
unsafe extern "C-unwind" fn emit_log(edata: *mut pg_sys::ErrorData) {
    // SAFETY: Postgres calls the hook on the backend's thread with a valid `ErrorData` (checked
    // for null) whose `message` is NUL-terminated or null; the previous hook gets the same
    // pointer, as the hook chain requires.
    unsafe {
        if IN_FRAMEWORK_PLANNING.get()
            && !edata.is_null()
            && (*edata).elevel == pg_sys::WARNING as i32
        {
            let msg = (*edata).message;
            if !msg.is_null() {
                let text = std::ffi::CStr::from_ptr(msg).to_string_lossy();
                const NOISE: &[&str] = &[
                    "unsupported operator expression in qual",
                    "only support const scalar array in qual",
                    "unsupported qual",
                    "only support binary operator expression",
                    "operator is empty",
                ];
                if NOISE.iter().any(|n| text.starts_with(n)) {
                    (*edata).output_to_client = false;
                    (*edata).output_to_server = false;
                }
            }
        }
        if let Some(prev) = PREVIOUS_EMIT_LOG.get().copied().flatten() {
            prev(edata);
        }
    }
}

type EmitLogFn = unsafe extern "C-unwind" fn(*mut pg_sys::ErrorData);
static PREVIOUS_EMIT_LOG: OnceLock<Option<EmitLogFn>> = OnceLock::new();

/// Installs the log filter (from `_PG_init`, once per backend).
pub fn install_log_filter() {
    // SAFETY: `emit_log_hook` is a process global of the backend, read and set here once, in
    // `_PG_init` (library load, on the backend's only thread); the previous value is kept and
    // called from ours, so the chain stays intact.
    unsafe {
        let _ = PREVIOUS_EMIT_LOG.set(pg_sys::emit_log_hook);
        pg_sys::emit_log_hook = Some(emit_log);
    }
}
