//! **The query's shape and clauses, for an exact LIMIT and full pushdown.**
//!
//! - Symptom without it: the framework passes a LIMIT to `get_rel_size` whatever surrounds the
//!   scan. Pushed under a join, a GROUP BY or a DISTINCT, Auth0 would return the first N users
//!   before Postgres filters or groups them: a short result.
//!   And it passes only top-level `column op constant` clauses: the rest (OR, NOT, JSON paths,
//!   `now() - interval ...`) read as "no condition", and the whole tenant is read.
//! - What it does: reads from the `PlannerInfo` whether this table is the query's only relation
//!   with nothing in between and how many ORDER BY keys there are, and the table's restriction
//!   clauses (`clauses.rs`), and hands them to our `get_rel_size` (which runs inside the
//!   framework's callback) through a thread-local.
//! - Proved by: `tests/framework_workarounds.rs::a_limit_is_pushed_only_when_it_is_exact` (a
//!   join, GROUP BY, DISTINCT and an aggregate, each with a LIMIT); `tests/pushdown.rs` (every
//!   clause shape).
//! - Delete when: the framework passes the planner's root to `get_rel_size`.

use crate::fdw::pushdown::{Planning, QueryShape};
use pgrx::pg_sys;
use std::cell::RefCell;

thread_local! {
    static PLANNING: RefCell<Option<Planning>> = const { RefCell::new(None) };
}

/// What was read for the relation being planned (inside the framework's `GetForeignRelSize`
/// only; `None` elsewhere). Taken: a second call gets `None`.
pub fn take() -> Option<Planning> {
    PLANNING.with(|p| p.borrow_mut().take())
}

/// Makes `planning` current while `f` runs.
pub fn during<T>(planning: Planning, f: impl FnOnce() -> T) -> T {
    PLANNING.with(|p| *p.borrow_mut() = Some(planning));
    let out = f();
    // Left set if `f` raised an ERROR: harmless, the next planning sets it again first.
    PLANNING.with(|p| *p.borrow_mut() = None);
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
/// Called from a planner callback with its valid `root`.
pub unsafe fn read(root: *mut pg_sys::PlannerInfo) -> QueryShape {
    // SAFETY: `root` is valid for this planning call (contract above); `parse` is
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
            && (*parse).setOperations.is_null()
            // `FETCH FIRST n ROWS WITH TIES` may return more than n rows; an OFFSET the
            // framework cannot read (a parameter, a sub-select) it passes as 0.
            && (*parse).limitOption == pg_sys::LimitOption::LIMIT_OPTION_COUNT
            && ((*parse).limitOffset.is_null()
                || (*(*parse).limitOffset).type_ == pg_sys::NodeTag::T_Const);
        QueryShape {
            pathkeys: list_len((*root).query_pathkeys),
            limit_applies_to_scan: single && nothing_between,
            joined: !single,
        }
    }
}
