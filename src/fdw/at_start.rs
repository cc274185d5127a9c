//! The values of the clauses' [`Operand::AtStart`](super::filter::Operand) expressions,
//! computed when the scan starts.
//!
//! `clauses.rs` leaves every value that is the same for all rows but not a constant
//! (`now() - interval '30 days'`, `current_date`, `$1`, `(SELECT ...)`) in the plan's
//! `fdw_exprs`, where Postgres fixes up parameters like in any plan expression. At
//! `BeginForeignScan` they are compiled against the scan node; they are evaluated at the first
//! row (and after each rescan), not at begin: the parameters of InitPlans attached to the scan
//! are only set up after `BeginForeignScan` returns (postgres_fdw does the same).

use super::clauses::datum_lit;
use super::filter::Lit;
use pgrx::pg_sys;
use pgrx::PgList;

/// The compiled expressions of one scan.
pub struct AtStart {
    /// Each expression's state and result type.
    exprs: Vec<(*mut pg_sys::ExprState, pg_sys::Oid)>,
    econtext: *mut pg_sys::ExprContext,
}

impl AtStart {
    /// Compiles the plan's `fdw_exprs` for `node` (`None` when it has none).
    ///
    /// # Safety
    /// `node` is a valid `ForeignScanState` in `BeginForeignScan`, whose plan is a
    /// `ForeignScan`; the current memory context is the executor's per-query context (which
    /// lives as long as the node, and so as long as this value is used).
    pub unsafe fn compile(node: *mut pg_sys::ForeignScanState) -> Option<AtStart> {
        // SAFETY: per the contract; `ExecInitExprList` compiles each expression of the list
        // against the node (allocating in the current context) and returns a list of the same
        // length, in order.
        unsafe {
            let plan = (*node).ss.ps.plan as *mut pg_sys::ForeignScan;
            let exprs = (*plan).fdw_exprs;
            if exprs.is_null() {
                return None;
            }
            let types: Vec<pg_sys::Oid> = PgList::<pg_sys::Node>::from_pg(exprs)
                .iter_ptr()
                .map(|e| pg_sys::exprType(e))
                .collect();
            let states = PgList::<pg_sys::ExprState>::from_pg(pg_sys::ExecInitExprList(
                exprs,
                node as *mut pg_sys::PlanState,
            ));
            Some(AtStart {
                exprs: states.iter_ptr().zip(types).collect(),
                econtext: (*node).ss.ps.ps_ExprContext,
            })
        }
    }

    /// Evaluates every expression now, in order.
    pub fn values(&self) -> Vec<Lit> {
        self.exprs
            .iter()
            .map(|&(state, typ)| {
                // SAFETY: `state` and `econtext` were made for the scan node, which outlives
                // this scan (see `compile`); the result is read into a `Lit` (owned by Rust)
                // while the per-tuple memory it may live in is still valid (the executor
                // resets it before the next row).
                unsafe {
                    let mut isnull = false;
                    let old = pg_sys::MemoryContextSwitchTo((*self.econtext).ecxt_per_tuple_memory);
                    let datum = pg_sys::ExecEvalExpr(state, self.econtext, &mut isnull);
                    let lit = datum_lit(datum, isnull, typ);
                    pg_sys::MemoryContextSwitchTo(old);
                    lit
                }
            })
            .collect()
    }
}
