//! What Auth0 accepts in a bulk-import record, as one crate both sides use: the extension's
//! validator (`auth0-api`) checks records with it before anything is sent, and the emulator
//! refuses with it what Auth0 refuses, so neither can be more lenient than Auth0's published
//! rules.
//!
//! - [`schema`]: Auth0's published bulk-import schema (verbatim) and what Auth0 enforces beyond
//!   it, as schema rules (`schema/`, see its README), checked by the `jsonschema` crate;
//! - [`email`]: the `email` format: validator.js `isEmail` with its default options;
//! - [`beyond_schema`]: what no schema can say (forbidden `app_metadata` keys, `.`/`$` in
//!   metadata keys, scrypt `cost` a power of two).

pub mod beyond_schema;
pub mod email;
mod problem;
pub mod schema;

pub use beyond_schema::FORBIDDEN_APP_METADATA;
pub use email::is_email;
pub use problem::Problem;
pub use schema::is_secret_path;

/// Every problem Auth0 would report for this record on its own (schema first, then the rules
/// beyond it); rules across records (duplicates in a file) are the caller's.
pub fn record_problems(record: &Value) -> Vec<Problem> {
    let mut out = schema::schema_problems(record);
    if record.is_object() {
        out.extend(beyond_schema::beyond_schema_problems(record));
    }
    out
}

use serde_json::Value;
