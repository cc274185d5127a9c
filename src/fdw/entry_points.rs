//! The wrapper's SQL entry points: `auth0_io_fdw_handler()`, `auth0_io_fdw_validator(text[],
//! oid)` and `auth0_io_fdw_meta()`.
//!
//! Written here rather than by supabase-wrappers' `#[wrappers_fdw]` macro, which names them after
//! the struct (`auth0_fdw_handler`, ...): those are the names Supabase's own `wrappers`
//! extension gives its Auth0 wrapper, so with `wrappers` in the same schema `CREATE EXTENSION
//! auth0_io` failed (and the macro's `CREATE OR REPLACE` would have taken over a plain function
//! of that name). The SQL names are ours (`name = ...`); the Rust names, and so the C symbols
//! (`auth0_fdw_handler_wrapper`, ...), stay those of 0.1.0, so a database whose catalog still has
//! 0.1.0's functions keeps working with this library until `ALTER EXTENSION auth0_io UPDATE`
//! (`sql/auth0_io--0.1.0--0.2.0.sql` moves the wrapper to the new names).

use super::Auth0Fdw;
use crate::error::Error;
use pgrx::pg_sys::panic::{ErrorReport, ErrorReportable};
use pgrx::prelude::*;
use supabase_wrappers::prelude::*;

/// The handler of the `auth0` foreign data wrapper (`CREATE FOREIGN DATA WRAPPER ... HANDLER`).
#[pg_extern(name = "auth0_io_fdw_handler")]
fn auth0_fdw_handler() -> supabase_wrappers::FdwRoutine {
    Auth0Fdw::fdw_routine()
}

/// Checks the options of the wrapper, its servers, user mappings and foreign tables; errors are
/// 42602/HV00D with the option's name (see `options`).
#[pg_extern(name = "auth0_io_fdw_validator")]
fn auth0_fdw_validator(options: Vec<Option<String>>, catalog: Option<pg_sys::Oid>) {
    Auth0Fdw::validator(options, catalog)
        .map_err(<Error as Into<ErrorReport>>::into)
        .unwrap_or_report();
}

/// One row: this wrapper's name, version, author and website (the shape supabase-wrappers'
/// `*_fdw_meta` functions have).
#[pg_extern(name = "auth0_io_fdw_meta")]
#[allow(clippy::type_complexity)] // pgrx reads the column names from the signature itself
fn auth0_fdw_meta() -> TableIterator<
    'static,
    (
        name!(name, Option<String>),
        name!(version, Option<String>),
        name!(author, Option<String>),
        name!(website, Option<String>),
    ),
> {
    TableIterator::once((
        Some("Auth0Fdw".to_owned()),
        Some(env!("CARGO_PKG_VERSION").to_owned()),
        Some("auth0_io".to_owned()),
        Some("https://github.com/auth0-io/auth0_io".to_owned()),
    ))
}
