//! **Our own EXPLAIN lines.**
//!
//! - Symptom without it: the framework's `ExplainForeignScan` prints its own debug lines
//!   (`Wrappers: quals = [...]`) and keeps the FDW instance in its private state, where a
//!   replacement callback cannot reach it to ask for the remote plan.
//! - What it does: each instance takes an id while it is planned and registers its EXPLAIN
//!   lines under it (again after execution, with how the scan ran). While the framework plans,
//!   the state pointer it creates (`baserel->fdw_private`, the `fdw_state` that
//!   `ExplainForeignScan` later receives) is mapped to that id. Our `ExplainForeignScan` prints
//!   the registered lines. Both maps keep the newest plans only.
//! - Proved by: `tests/complete_exports.rs::explain_shows_the_plan_and_no_secret`,
//!   `tests/framework_workarounds.rs::explain_shows_ours_and_not_the_frameworks`.
//! - Delete when: the framework lets the instance write EXPLAIN lines (a trait method).

use pgrx::pg_sys;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::ffi::CString;

/// Plans whose lines are kept per backend (the oldest forgotten first).
const KEEP_PLANS: usize = 512;

/// One EXPLAIN line: a label (`Auth0 Query`) and its value.
pub type Line = (String, String);

/// EXPLAIN lines by instance id, with the ids in registration order (to forget the oldest).
#[derive(Default)]
struct Registry {
    order: VecDeque<u64>,
    lines: HashMap<u64, Vec<Line>>,
}

thread_local! {
    static NEXT_ID: Cell<u64> = const { Cell::new(1) };
    /// The id taken by the instance being planned right now.
    static PLANNED_ID: Cell<Option<u64>> = const { Cell::new(None) };
    static STATE_TO_ID: RefCell<HashMap<usize, u64>> = RefCell::new(HashMap::new());
    static REGISTRY: RefCell<Registry> = RefCell::new(Registry::default());
}

/// Installs our `ExplainForeignScan` in place of the framework's.
pub fn install(routine: &mut pg_sys::FdwRoutine) {
    routine.ExplainForeignScan = Some(explain_foreign_scan);
}

/// Called before the framework plans a relation: no instance has taken an id yet.
pub fn planning() {
    PLANNED_ID.set(None);
}

/// Called after the framework planned a relation into the state at `state`.
pub fn planned(state: usize) {
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

/// A new EXPLAIN id for the instance being planned.
pub fn new_id() -> u64 {
    let id = NEXT_ID.get();
    NEXT_ID.set(id + 1);
    PLANNED_ID.set(Some(id));
    id
}

/// Sets (or replaces) the EXPLAIN lines of an instance.
pub fn set(id: u64, lines: Vec<Line>) {
    REGISTRY.with(|r| {
        let r = &mut *r.borrow_mut();
        if r.lines.insert(id, lines).is_none() {
            r.order.push_back(id);
            while r.order.len() > KEEP_PLANS {
                if let Some(old) = r.order.pop_front() {
                    r.lines.remove(&old);
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
        let lines = id.and_then(|id| REGISTRY.with(|r| r.borrow().lines.get(&id).cloned()));
        let verbose = (*es).verbose;
        let mut lines = lines.unwrap_or_default();
        // A parameterised scan: the instance learns its lookup only at begin, which a plain
        // EXPLAIN skips.
        if let Some(column) = super::param_paths::lookup_columns(node) {
            if !lines
                .iter()
                .any(|(l, v)| l == "Auth0 Strategy" && v.starts_with("lookup"))
            {
                lines.insert(
                    0,
                    (
                        "Auth0 Lookup".to_string(),
                        format!("by {column}, one request per outer row"),
                    ),
                );
            }
        }
        for (label, value) in lines {
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
