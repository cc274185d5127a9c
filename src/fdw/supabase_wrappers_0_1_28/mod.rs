//! Where supabase-wrappers 0.1.28 is not enough: one workaround per file.
//!
//! Each file says the symptom without it, what it does, the test that proves it and when it can
//! be deleted:
//!
//! | file | workaround |
//! |---|---|
//! | [`query_shape`] | the query's shape (joins, grouping, ORDER BY keys) and every restriction clause, read from the planner |
//! | [`hidden_clauses`] | the framework sees the clauses' columns, not the clauses (its own parameter handling crashed) |
//! | [`quiet_warnings`] | the framework's WARNINGs about clauses it cannot push, silenced while it plans |
//! | [`plan_owned_state`] | plans that outlive their scan state: the plan's own `fdw_private`, one run per planned state, cached plans re-planned; the plan's `fdw_exprs` and the scan node at begin, for values computed at scan start |
//! | [`row_context`] | the framework's per-scan row memory context, found so it can be reset per row |
//! | [`param_paths`] | parameterised paths: a join on `email`/`user_id` looks users up, one request per outer row, when that is cheaper |
//! | [`explain`] | our own `ExplainForeignScan`, with lines registered by the instance |
//! | [`insert_rows`] | `INSERT`/`COPY FROM` rows read from the slot by us (the framework has no `BeginForeignInsert`, and its jsonb conversion panics) |
//! | [`modify_rows`] | `UPDATE`/`DELETE`: the scan's values the write needs as junk columns, columns Auth0 cannot change refused at planning, rows read from the plan's slot by us |
//!
//! The folder is named for the framework's version: `framework_is_still_0_1_28` fails when
//! `Cargo.lock` moves to another version, and `framework_source_still_has_what_we_rely_on`
//! when the framework's source no longer has the names and layouts read here. Either failure
//! means: re-check each file above against the new framework, then rename the folder.

pub mod explain;
pub mod hidden_clauses;
pub mod insert_rows;
pub mod modify_rows;
pub mod param_paths;
pub mod plan_owned_state;
pub mod query_shape;
pub mod quiet_warnings;
pub mod row_context;

use pgrx::pg_sys;
use std::sync::OnceLock;

type RelSizeFn =
    unsafe extern "C-unwind" fn(*mut pg_sys::PlannerInfo, *mut pg_sys::RelOptInfo, pg_sys::Oid);

static FRAMEWORK_REL_SIZE: OnceLock<RelSizeFn> = OnceLock::new();

/// Installs our wrappers into the routine the framework built (its `fdw_routine_hook`).
pub fn install(routine: &mut pg_sys::FdwRoutine) {
    if let Some(f) = routine.GetForeignRelSize {
        let _ = FRAMEWORK_REL_SIZE.set(f);
        routine.GetForeignRelSize = Some(get_foreign_rel_size);
    }
    plan_owned_state::install(routine);
    param_paths::install(routine);
    explain::install(routine);
    insert_rows::install(routine);
    modify_rows::install(routine);
}

/// `GetForeignRelSize` serves three workarounds: the framework's call runs with the query's
/// shape at hand and its warnings silenced, and the state it creates is recorded as planned
/// (to run once) and mapped to the EXPLAIN id its instance took.
#[pgrx::pg_guard]
// SAFETY: installed as GetForeignRelSize; called by the planner with valid root and baserel,
// which are read (query_shape, clauses) and passed on unchanged.
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
        let planning = crate::fdw::pushdown::Planning {
            shape: query_shape::read(root),
            ..crate::fdw::clauses::read(baserel, foreigntableid, true).into()
        };
        explain::planning();
        query_shape::during(planning, || {
            quiet_warnings::during(|| {
                hidden_clauses::during(baserel, || framework(root, baserel, foreigntableid))
            })
        });
        let state = (*baserel).fdw_private as usize;
        plan_owned_state::planned(state);
        explain::planned(state);
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    /// The version these workarounds were written for, as `Cargo.lock` has it.
    #[test]
    fn framework_is_still_0_1_28() {
        let lock = include_str!("../../../Cargo.lock");
        let version = lock
            .split("[[package]]")
            .find(|p| p.contains("name = \"supabase-wrappers\"\n"))
            .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
            .map(|v| v.trim_matches('"').to_string());
        assert_eq!(
            version.as_deref(),
            Some("0.1.28"),
            "supabase-wrappers changed: re-check every workaround in src/fdw/supabase_wrappers_0_1_28/"
        );
    }

    /// The framework's source directory, from `cargo metadata` (offline: the build has it).
    fn framework_source() -> PathBuf {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = std::process::Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--offline"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo metadata runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let meta: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("cargo metadata is JSON");
        let manifest = meta["packages"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "supabase-wrappers"))
            .and_then(|p| p["manifest_path"].as_str())
            .expect("supabase-wrappers is a dependency");
        PathBuf::from(manifest)
            .parent()
            .expect("a manifest has a folder")
            .join("src")
    }

    /// Every private name and layout the workarounds read is still in the framework's source.
    #[test]
    fn framework_source_still_has_what_we_rely_on() {
        let src = framework_source();
        let read =
            |f: &str| std::fs::read_to_string(src.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        let (memctx, scan, qual, utils) = (
            read("memctx.rs"),
            read("scan.rs"),
            read("qual.rs"),
            read("utils.rs"),
        );
        let expect = |file: &str, text: &str, needle: &str, why: &str| {
            assert!(
                text.contains(needle),
                "supabase-wrappers' {file} no longer has `{needle}` ({why}): re-check src/fdw/supabase_wrappers_0_1_28/"
            );
        };
        let root = format!("\"{}\"", super::row_context::ROOT_CONTEXT);
        expect(
            "memctx.rs",
            &memctx,
            &root,
            "row_context.rs finds its root context by name",
        );
        let scan_ctx = format!("\"{}{{}}\"", super::row_context::SCAN_CONTEXT_PREFIX);
        expect(
            "scan.rs",
            &scan,
            &scan_ctx,
            "row_context.rs finds the scan's context by name",
        );
        expect(
            "scan.rs",
            &scan,
            "FdwState::serialize_to_list(state)",
            "plan_owned_state.rs reads the plan's one-Const list",
        );
        expect(
            "utils.rs",
            &utils,
            "let val = state.into_pg() as i64;",
            "the list's one Const holds the state's address",
        );
        expect(
            "qual.rs",
            &qual,
            "(*baserel).baserestrictinfo, mcx)",
            "hidden_clauses.rs replaces the list the framework reads its quals from",
        );
        expect(
            "utils.rs",
            &utils,
            "// gather vars from restrictions",
            "hidden_clauses.rs relies on the framework fetching the columns of the restrictions",
        );
        expect(
            "scan.rs",
            &scan,
            "(*baserel).fdw_private = Box::leak(Box::new(state))",
            "the state pointer is the EXPLAIN and run-once key",
        );
        for w in super::quiet_warnings::FRAMEWORK_WARNINGS {
            expect(
                "qual.rs",
                &qual,
                &format!("\"{w}"),
                "quiet_warnings.rs matches its texts",
            );
        }
    }
}
