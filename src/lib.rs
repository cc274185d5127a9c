//! auth0_io: Auth0 users as a PostgreSQL foreign table, and bulk imports as SQL functions.
//!
//! Table of contents:
//! - [`fdw`]: the `auth0` foreign data wrapper (`auth0.users`), its pushdown and its scans;
//! - [`import`]: `auth0_validate_users`, `auth0_import`, `auth0_import_resume`,
//!   `auth0_import_purge`, `auth0_job_status`, `auth0_job_errors`, the ledger of imports, each
//!   import's record, and the ledger views' functions;
//! - [`write`]: `INSERT`/`COPY FROM` into `auth0.users`, queued and sent at COMMIT;
//! - [`server`] and [`options`]: servers, user mappings and their options;
//! - [`kept_exports`]: completed export jobs a backend may read again (`export_max_age_seconds`);
//! - [`runtime`]: running the async client inside a backend, cancellably, with progress NOTICEs;
//! - [`error`]: the one error type and its SQLSTATEs;
//! - [`time`]: Auth0 timestamps to and from Postgres;
//! - [`jsonb_arg`]: `jsonb` arguments read without pgrx's panicking `JsonB` conversion;
//! - `sql/`: the hand-written SQL: the wrapper itself, export helpers (default fields view,
//!   exported user -> import record).

use pgrx::prelude::*;

::pgrx::pg_module_magic!();

pub mod error;
pub mod fdw;
pub mod import;
pub mod jsonb_arg;
pub mod kept_exports;
pub mod options;
pub mod runtime;
pub mod server;
pub mod time;
pub mod write;

extension_sql_file!("../sql/export_helpers.sql", name = "export_helpers");
extension_sql_file!("../sql/finalize.sql", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    fdw::install_log_filter();
    fdw::install_abort_callbacks();
    write::install_callbacks();
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn the_wrapper_exists() {
        let handler = Spi::get_one::<String>(
            "SELECT fdwhandler::regproc::text FROM pg_foreign_data_wrapper WHERE fdwname = 'auth0'",
        );
        assert_eq!(handler, Ok(Some("auth0_io_fdw_handler".to_string())));
    }

    #[pg_test(error = "invalid option \"client_secret\" for an auth0 server")]
    fn secrets_are_refused_in_server_options() {
        Spi::run("CREATE SERVER s FOREIGN DATA WRAPPER auth0 OPTIONS (domain 'a.auth0.com', client_secret 'x')")
            .unwrap();
    }

    #[pg_test(
        error = "invalid value for option \"api_url\": invalid Auth0 client configuration: plain http is only allowed for loopback hosts (127.0.0.1, ::1, localhost), not 'example.com'"
    )]
    fn plain_http_needs_loopback() {
        Spi::run(
            "CREATE SERVER s FOREIGN DATA WRAPPER auth0 OPTIONS (api_url 'http://example.com')",
        )
        .unwrap();
    }

    #[pg_test]
    fn import_foreign_schema_creates_typed_users() {
        Spi::run(
            "CREATE SERVER s FOREIGN DATA WRAPPER auth0 OPTIONS (api_url 'http://127.0.0.1:9')",
        )
        .unwrap();
        Spi::run("CREATE USER MAPPING FOR CURRENT_USER SERVER s OPTIONS (client_id 'a', client_secret 'b')").unwrap();
        Spi::run("CREATE SCHEMA auth0; IMPORT FOREIGN SCHEMA auth0 FROM SERVER s INTO auth0")
            .unwrap();
        let types = Spi::get_one::<String>(
            "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
               FROM pg_attribute WHERE attrelid = 'auth0.users'::regclass AND attnum > 0",
        )
        .unwrap()
        .unwrap();
        assert!(
            types.starts_with("user_id text, email text, email_verified boolean"),
            "{types}"
        );
        assert!(
            types.contains("created_at timestamp with time zone"),
            "{types}"
        );
        assert!(types.contains("logins_count bigint"), "{types}");
        assert!(types.ends_with("raw jsonb, q text"), "{types}");
    }
}

/// Used by `cargo pgrx test` / `cargo test` (`#[pg_test]`).
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
