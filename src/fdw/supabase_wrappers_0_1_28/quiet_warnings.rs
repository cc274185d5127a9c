//! **The framework's planning warnings, silenced.**
//!
//! - Symptom without it: while it extracts quals, the framework WARNs about every clause it
//!   cannot use, with a node dump (`unsupported operator expression in qual: {OPEXPR ...}`).
//!   Those clauses are expected (Postgres evaluates them itself): for our users the warnings are
//!   noise that looks like a failure.
//! - What it does: an `emit_log_hook` hides WARNINGs that start with one of the framework's
//!   texts, only while the framework's `GetForeignRelSize` runs. Everything else goes to any
//!   previous hook unchanged.
//! - Proved by: `tests/framework_workarounds.rs::unpushable_clauses_raise_no_warning`;
//!   `framework_source_still_has_what_we_rely_on` (in `mod.rs`) checks the texts.
//! - Delete when: the framework stops reporting these (or reports them at DEBUG level).

use pgrx::pg_sys;
use std::cell::Cell;
use std::sync::OnceLock;

/// The starts of the framework's warnings (`supabase-wrappers` 0.1.28, `src/qual.rs`).
pub(super) const FRAMEWORK_WARNINGS: &[&str] = &[
    "unsupported operator expression in qual",
    "only support const scalar array in qual",
    "unsupported qual",
    "only support binary operator expression",
    "operator is empty",
];

thread_local! {
    static IN_FRAMEWORK_PLANNING: Cell<bool> = const { Cell::new(false) };
}

type EmitLogFn = unsafe extern "C-unwind" fn(*mut pg_sys::ErrorData);
static PREVIOUS_EMIT_LOG: OnceLock<Option<EmitLogFn>> = OnceLock::new();

/// Runs the framework's planning call `f` with its warnings silenced.
pub fn during<T>(f: impl FnOnce() -> T) -> T {
    IN_FRAMEWORK_PLANNING.set(true);
    let out = f();
    // If `f` raised an ERROR the flag stays set until the next planning; the hook only ever
    // hides the framework's own warnings, so that is harmless.
    IN_FRAMEWORK_PLANNING.set(false);
    out
}

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
                if FRAMEWORK_WARNINGS.iter().any(|n| text.starts_with(n)) {
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
