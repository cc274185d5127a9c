//! **The query's shape, for an exact LIMIT.**
//!
//! - Symptom without it: the framework passes a LIMIT to `get_rel_size` whatever surrounds the
//!   scan. Pushed under a join, a GROUP BY or a DISTINCT, Auth0 would return the first N users
//!   before Postgres filters or groups them: a short result.
//! - What it does: reads from the `PlannerInfo` whether this table is the query's only relation
//!   with nothing in between, and how many restriction clauses and ORDER BY keys there are, and
//!   hands that to our `get_rel_size` (which runs inside the framework's callback) through a
//!   thread-local.
//! - Proved by: `tests/framework_workarounds.rs::a_limit_is_pushed_only_when_it_is_exact` (a
//!   join, GROUP BY, DISTINCT and an aggregate, each with a LIMIT).
//! - Delete when: the scan's planning is ours (reading `baserestrictinfo` ourselves), or the
//!   framework passes the planner's root to `get_rel_size`.

use crate::fdw::pushdown::QueryShape;
use pgrx::pg_sys;
use std::cell::Cell;

thread_local! {
    static SHAPE: Cell<Option<QueryShape>> = const { Cell::new(None) };
}

/// The query shape for the relation being planned (inside the framework's `GetForeignRelSize`
/// only; `None` elsewhere).
pub fn current() -> Option<QueryShape> {
    SHAPE.get()
}

/// Makes `shape` current while `f` runs.
pub fn during<T>(shape: QueryShape, f: impl FnOnce() -> T) -> T {
    SHAPE.set(Some(shape));
    let out = f();
    // Left set if `f` raised an ERROR: harmless, the next planning sets it again first.
    SHAPE.set(None);
    out
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
/// Called from a planner callback with its valid `root` and `baserel`.
pub unsafe fn read(root: *mut pg_sys::PlannerInfo, baserel: *mut pg_sys::RelOptInfo) -> QueryShape {
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
