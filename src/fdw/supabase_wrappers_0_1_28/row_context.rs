//! **Row memory freed per row.**
//!
//! - Symptom without it: the framework converts every row's cells in a per-scan memory context
//!   that it deletes only when the scan ends, so a scan's backend memory grows with its rows
//!   (gigabytes for a tenant of millions).
//! - What it does: finds that context while the framework plans the scan (it creates it, named
//!   `Wrappers_scan_<table oid>`, as the newest child of its `WrappersRootMemCtx` under
//!   `CacheMemoryContext`, just before calling our `get_rel_size`), so that `iter_scan` can reset
//!   it before each row. When the context is not where 0.1.28 puts it, a WARNING says so (once
//!   per backend) and scans still run, with memory growing.
//! - Proved by: `tests/framework_workarounds.rs::unpushable_clauses_raise_no_warning` (no
//!   WARNING during a scan), `scripts/bench` (backend memory flat as users grow);
//!   `framework_source_still_has_what_we_rely_on` (in `mod.rs`) checks the names.
//! - Delete when: the framework resets its row context itself.

use pgrx::pg_sys;
use std::cell::Cell;
use std::ffi::CStr;

/// The name of the framework's root context (`supabase-wrappers` 0.1.28, `src/memctx.rs`).
pub(super) const ROOT_CONTEXT: &str = "WrappersRootMemCtx";
/// The prefix of its per-scan contexts' names (`src/scan.rs`), followed by the table's oid.
pub(super) const SCAN_CONTEXT_PREFIX: &str = "Wrappers_scan_";

thread_local! {
    static WARNED: Cell<bool> = const { Cell::new(false) };
}

/// The framework's row context of the scan of `ftable_oid` being planned right now.
///
/// Call only inside `get_rel_size`. The context is deleted by the framework only with the state
/// that owns our instance, so the instance may keep it for its scans.
pub fn find(ftable_oid: &str) -> Option<pg_sys::MemoryContext> {
    let wanted = format!("{SCAN_CONTEXT_PREFIX}{ftable_oid}");
    // SAFETY: runs on the backend's thread inside a planner callback; `CacheMemoryContext`
    // exists once a backend can plan; every context has a valid NUL-terminated `name`; only
    // names and sibling links are read.
    let found = unsafe {
        let mut root = (*pg_sys::CacheMemoryContext).firstchild;
        let mut found = None;
        while !root.is_null() {
            if CStr::from_ptr((*root).name).to_bytes() == ROOT_CONTEXT.as_bytes() {
                let newest = (*root).firstchild;
                if !newest.is_null()
                    && CStr::from_ptr((*newest).name).to_bytes() == wanted.as_bytes()
                {
                    found = Some(newest);
                }
                break;
            }
            root = (*root).nextchild;
        }
        found
    };
    if found.is_none() && !WARNED.replace(true) {
        pgrx::warning!(
            "auth0_io did not find supabase-wrappers' row memory context \"{wanted}\": this backend's scans keep every row's memory until they end (see src/fdw/supabase_wrappers_0_1_28/row_context.rs)"
        );
    }
    found
}
