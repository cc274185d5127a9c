//! Bulk imports in SQL (docs/architecture.md, "The data path of an import"): `auth0_validate_users` and `auth0_import`.
//!
//! An import validates every record before anything is sent, resolves the connection (a
//! database connection enabled for an application), splits the valid records into files Auth0
//! accepts, keeps at most two Auth0 jobs running, and records everything in the ledger as it
//! happens. It returns our import id; `auth0_job_status` and `auth0_job_errors` follow it.
//!
//! - this file: the SQL surface of an import (`auth0_validate_users`, `auth0_import`);
//! - [`submit`]: sending the files, at most two jobs at a time, recording each answer;
//! - `slots`: when to look at running jobs, so a file goes the moment a slot frees (pure);
//! - [`ledger`]: the journal of events each import appends to (and reading it back);
//! - [`record`]: an import's events folded into its record (pure, unit-tested);
//! - `status`: `auth0_job_status` and `auth0_job_errors`, from the record and Auth0's jobs;
//! - `views`: the functions behind the `auth0_imports` and `auth0_import_jobs` views;
//! - `resume`, `purge`: `auth0_import_resume`, `auth0_import_purge`.

// SQL functions return `Result<_, ErrorReport>`: that is how pgrx raises our SQLSTATE, DETAIL
// and HINT; its size and the `TableIterator` row types are dictated by the SQL signatures.
#![allow(clippy::result_large_err, clippy::type_complexity)]

pub mod ledger;
mod purge;
pub mod record;
mod resume;
mod slots;
mod status;
pub(crate) mod submit;
mod views;

pub use submit::submission_running;

use crate::error::{Error, Result};
use crate::jsonb_arg::JsonbText;
use crate::runtime::block_on;
use crate::server::Server;
use auth0_api::import::{self, Problem};
use ledger::{Event, Invalid, InvalidProblem};
use pgrx::prelude::*;
use serde_json::Value;
use std::ffi::CStr;

/// How many problems an error message lists before "and N more".
const SHOWN_PROBLEMS: usize = 5;

/// The `users` argument as records: a JSON array, read without pgrx's `JsonB` (see
/// `jsonb_arg`), else 22004/22023 with a hint.
fn batch(users: Option<&JsonbText>) -> Result<Vec<Value>> {
    match users.map(|u| u.parse("users")).transpose()? {
        Some(Value::Array(items)) => Ok(items),
        None => Err(Error::invalid(PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED, "users must not be NULL")),
        Some(other) => Err(Error::invalid(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("users must be a JSON array of user objects, not a JSON {}", json_type(&other)),
        )
        .with_hint("Build one with jsonb_agg(...), e.g. (SELECT jsonb_agg(jsonb_build_object('email', email)) FROM staging).")),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// One import, if the current role may see it (else 42501), with a submission whose session is
/// gone seen as interrupted; `None` when the ledger has no such import.
pub fn load_import(id: &str) -> Result<Option<record::ImportRecord>> {
    match record::fold(ledger::read_import(id)?) {
        Some(i) if ledger::visible(&i.role, i.role_oid) => Ok(Some(with_liveness(i)?)),
        Some(_) => Err(Error::invalid(
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!("import \"{id}\" belongs to another role"),
        )),
        None => Ok(None),
    }
}

/// A submission still marked running whose session no longer holds its lock was cut short (a
/// crash, `kill -9`, `pg_terminate_backend`, a lost connection): it is interrupted.
pub fn with_liveness(mut r: record::ImportRecord) -> Result<record::ImportRecord> {
    if r.submission == record::Submission::Running && !submission_running(&r.id)? {
        r.submission = record::Submission::Interrupted(format!(
            "the session submitting it ended (crash, kill or lost connection) before every file was sent; auth0_import_resume('{}') sends the rest",
            r.id
        ));
    }
    Ok(r)
}

/// Every problem with every record, without calling Auth0.
#[pg_extern(stable, parallel_safe)]
fn auth0_validate_users(
    users: Option<JsonbText>,
) -> std::result::Result<
    TableIterator<
        'static,
        (
            name!(input_index, i32),
            name!(path, String),
            name!(code, String),
            name!(message, String),
        ),
    >,
    pgrx::pg_sys::panic::ErrorReport,
> {
    let items = batch(users.as_ref())?;
    let rows: Vec<_> = import::validate(&items)
        .into_iter()
        .map(|p| (p.index as i32, p.path, p.code.to_string(), p.message))
        .collect();
    Ok(TableIterator::new(rows))
}

/// Top-level fields of a user record that may be stored and shown as they are. Everything else
/// is masked (an allow-list: a field we do not know, or a secret sent under a wrong name or
/// type, is never kept in the clear).
const CLEAR_FIELDS: &[&str] = &[
    "email",
    "email_verified",
    "user_id",
    "username",
    "given_name",
    "family_name",
    "name",
    "nickname",
    "picture",
    "blocked",
    "app_metadata",
    "user_metadata",
    "phone_number",
    "phone_verified",
    "connection",
    "identities",
    "created_at",
    "updated_at",
];

/// Keys inside masked fields that describe a secret without revealing it (hash algorithm,
/// encoding, salt position, key length), kept for debugging.
const DESCRIPTIVE_KEYS: &[&str] = &["algorithm", "encoding", "position", "keylen", "digest"];

const MASK: &str = "*****";

fn mask(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let kept = DESCRIPTIVE_KEYS.contains(&k.as_str())
                        && matches!(v, Value::String(_) | Value::Number(_));
                    (k.clone(), if kept { v.clone() } else { mask(v) })
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(mask).collect()),
        Value::String(_) | Value::Number(_) => Value::from(MASK),
        Value::Bool(_) | Value::Null => v.clone(),
    }
}

/// A user record as it may be stored (the ledger) or shown (`auth0_job_errors`): every field
/// outside [`CLEAR_FIELDS`] masked, whatever its type — password, password_hash,
/// custom_password_hash, mfa_factors (TOTP secrets), and anything unknown. A record that is not
/// an object is masked whole.
pub fn redact(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let clear = CLEAR_FIELDS.contains(&k.as_str());
                    (k.clone(), if clear { v.clone() } else { mask(v) })
                })
                .collect(),
        ),
        other => mask(other),
    }
}

fn email_of(v: &Value) -> Option<String> {
    v.get("email")
        .and_then(Value::as_str)
        .map(str::to_lowercase)
}

fn describe_problems(problems: &[Problem]) -> String {
    let mut lines: Vec<String> = problems
        .iter()
        .take(SHOWN_PROBLEMS)
        .map(|p| {
            let at = if p.path.is_empty() {
                String::new()
            } else {
                format!(" at {}", p.path)
            };
            format!("input_index {}{at}: {} ({})", p.index, p.message, p.code)
        })
        .collect();
    if problems.len() > SHOWN_PROBLEMS {
        lines.push(format!("... and {} more", problems.len() - SHOWN_PROBLEMS));
    }
    lines.join("\n")
}

/// The connection an import goes to, by name or `con_` id: it must exist, be a database
/// connection and be enabled for at least one application (else an error with a hint).
pub(crate) fn import_connection(
    client: &auth0_api::Client,
    connection: &str,
) -> Result<auth0_api::connections::Connection> {
    let conn = block_on(client.find_connection(connection))??.ok_or_else(|| {
        Error::invalid(PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT, format!("Auth0 connection \"{}\" does not exist", crate::error::cut(connection)))
            .with_hint("SELECT the database connections with: SELECT DISTINCT connection FROM auth0.users; or check the Auth0 dashboard.")
    })?;
    if !conn.is_database() {
        return Err(Error::invalid(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("connection \"{}\" is a {} connection; bulk imports need a database connection", conn.name, conn.strategy),
        )
        .with_hint("Import into a database connection (strategy auth0), e.g. Username-Password-Authentication."));
    }
    if conn.enabled_clients.is_empty() {
        return Err(Error::invalid(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("connection \"{}\" is not enabled for any application", conn.name),
        )
        .with_hint("Enable the connection for at least one application in the Auth0 dashboard (Applications tab of the connection)."));
    }
    Ok(conn)
}

/// Submits `users` to the connection as Auth0 bulk import jobs and returns the import's id.
#[pg_extern(sql = r#"
CREATE FUNCTION auth0_import(
    connection text,
    users jsonb,
    upsert boolean DEFAULT false,
    server name DEFAULT NULL,
    send_completion_email boolean DEFAULT false,
    external_id text DEFAULT NULL,
    skip_invalid boolean DEFAULT false
) RETURNS text VOLATILE LANGUAGE c AS 'MODULE_PATHNAME', 'auth0_import_wrapper';
"#)]
#[allow(clippy::too_many_arguments)]
fn auth0_import(
    connection: Option<&str>,
    users: Option<JsonbText>,
    upsert: Option<bool>,
    server: Option<&CStr>,
    send_completion_email: Option<bool>,
    external_id: Option<&str>,
    skip_invalid: Option<bool>,
) -> std::result::Result<String, pgrx::pg_sys::panic::ErrorReport> {
    Ok(run_import(
        connection,
        users.as_ref(),
        upsert.unwrap_or(false),
        server.map(|s| s.to_string_lossy().into_owned()).as_deref(),
        send_completion_email.unwrap_or(false),
        external_id,
        skip_invalid.unwrap_or(false),
    )?)
}

fn run_import(
    connection: Option<&str>,
    users: Option<&JsonbText>,
    upsert: bool,
    server: Option<&str>,
    send_completion_email: bool,
    external_id: Option<&str>,
    skip_invalid: bool,
) -> Result<String> {
    let connection = connection.filter(|c| !c.is_empty()).ok_or_else(|| {
        Error::invalid(PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED, "connection must be given")
            .with_hint("Pass a database connection's name (e.g. 'Username-Password-Authentication') or its con_ id.")
    })?;
    let items = batch(users)?;
    if items.is_empty() {
        return Err(Error::invalid(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "users is an empty array: nothing to import",
        ));
    }
    if external_id.is_some_and(|x| x.len() > 255) {
        return Err(Error::invalid(
            PgSqlErrorCode::ERRCODE_STRING_DATA_RIGHT_TRUNCATION,
            "external_id is longer than 255 characters",
        ));
    }

    // 1. Validate everything before anything is sent.
    let problems = import::validate(&items);
    if !problems.is_empty() && !skip_invalid {
        let bad: std::collections::BTreeSet<usize> = problems.iter().map(|p| p.index).collect();
        return Err(Error::invalid(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("{} of {} users are invalid; nothing was submitted", bad.len(), items.len()),
        )
        .with_detail(describe_problems(&problems))
        .with_hint("SELECT * FROM auth0_validate_users(...) lists every problem; skip_invalid => true imports the valid users and reports the others as failed."));
    }
    let mut invalid: Vec<Invalid> = Vec::new();
    for p in &problems {
        match invalid.last_mut() {
            Some(last) if last.index == p.index => {}
            _ => invalid.push(Invalid {
                index: p.index,
                email: email_of(&items[p.index]),
                problems: vec![],
                record: redact(&items[p.index]),
            }),
        }
        if let Some(last) = invalid.last_mut() {
            last.problems.push(InvalidProblem {
                path: p.path.clone(),
                code: p.code.to_string(),
                message: p.message.clone(),
            });
        }
    }
    let invalid_set: std::collections::HashSet<usize> = invalid.iter().map(|i| i.index).collect();

    // 2. The connection must take imports.
    let server = Server::find(server)?;
    let client = server.client()?;
    // This session writes to the tenant: its kept exports no longer show it as it is.
    crate::kept_exports::forget_server(server.oid.to_u32());
    let conn = import_connection(client, connection)?;

    // 3. Files of at most Auth0's size, in input order.
    let valid = items
        .iter()
        .enumerate()
        .filter(|(i, _)| !invalid_set.contains(i));
    let chunks = import::split(valid, import::MAX_FILE_BYTES - external_id.map_or(0, str::len)).map_err(|(i, size)| {
        Error::invalid(
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!("the user at input_index {i} takes {size} bytes, more than an Auth0 import file holds"),
        )
    })?;

    // 4. The files kept until Auth0 has them, the ledger, then the jobs. The submission lock
    // is taken first: from the moment the import is in the ledger, another session can tell
    // whether this one is still submitting it.
    let id = submit::new_import_id();
    if !submit::take_submission_lock(&id)? {
        return Err(Error::invalid(
            PgSqlErrorCode::ERRCODE_OBJECT_IN_USE,
            "another session holds this import's submission lock (a hash collision of import ids); run the import again",
        ));
    }
    for (n, c) in chunks.iter().enumerate() {
        ledger::keep_pending(&id, n, &c.body)?;
    }
    ledger::append(&Event::Import {
        id: id.clone(),
        at: crate::time::now_iso(),
        role: ledger::current_role(),
        role_oid: Some(ledger::current_role_oid()),
        server: server.name.clone(),
        connection: conn.name.clone(),
        connection_id: conn.id.clone(),
        upsert,
        external_id: external_id.map(str::to_string),
        total: items.len(),
        invalid,
        send_completion_email,
        chunks: chunks.len(),
        chunk_indices: chunks
            .iter()
            .map(|c| ledger::to_ranges(&c.indices))
            .collect(),
        direct: None,
    })?;
    let total_files = chunks.len();
    let files = chunks.into_iter().enumerate().map(|(number, c)| {
        Ok(submit::File {
            number,
            emails: c
                .indices
                .iter()
                .map(|&i| email_of(&items[i]).unwrap_or_default())
                .collect(),
            indices: c.indices,
            body: c.body,
        })
    });
    submit::submit_all(
        client,
        &submit::Batch {
            import_id: &id,
            connection_id: &conn.id,
            upsert,
            send_completion_email,
            external_id,
        },
        total_files,
        files,
    )?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::redact;
    use serde_json::json;

    #[test]
    fn every_secret_is_masked_whatever_its_type() {
        let record = json!({
            "email": "ada@example.com",
            "user_metadata": {"theme": "dark"},
            "password": "hunter2",
            "password_hash": "$2b$10$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01",
            "custom_password_hash": {
                "algorithm": "pbkdf2",
                "hash": {"value": "c2VjcmV0", "encoding": "base64", "key": {"value": "k"}},
                "salt": {"value": "s", "position": "prefix"},
                "keylen": 32
            },
            "mfa_factors": [{"totp": {"secret": "JBSWY3DPEHPK3PXP"}}, {"phone": {"value": "+15555550100"}}],
            "unknown_field": {"nested": ["a", 1, true]},
        });
        let r = redact(&record);
        assert_eq!(r["email"], "ada@example.com");
        assert_eq!(r["user_metadata"], json!({"theme": "dark"}));
        assert_eq!(r["password"], "*****");
        assert_eq!(r["password_hash"], "*****");
        assert_eq!(r["custom_password_hash"]["algorithm"], "pbkdf2");
        assert_eq!(r["custom_password_hash"]["hash"]["value"], "*****");
        assert_eq!(r["custom_password_hash"]["hash"]["encoding"], "base64");
        assert_eq!(r["custom_password_hash"]["hash"]["key"]["value"], "*****");
        assert_eq!(r["custom_password_hash"]["salt"]["value"], "*****");
        assert_eq!(r["custom_password_hash"]["keylen"], 32);
        assert_eq!(r["mfa_factors"][0]["totp"]["secret"], "*****");
        assert_eq!(r["mfa_factors"][1]["phone"]["value"], "*****");
        assert_eq!(
            r["unknown_field"],
            json!({"nested": ["*****", "*****", true]})
        );
        // A string custom_password_hash (wrong type) and a non-object record.
        assert_eq!(
            redact(&json!({"custom_password_hash": "x"}))["custom_password_hash"],
            "*****"
        );
        assert_eq!(redact(&json!("secret")), json!("*****"));
        let text = redact(&record).to_string();
        for secret in [
            "hunter2",
            "c2VjcmV0",
            "JBSWY3DPEHPK3PXP",
            "+15555550100",
            "abcdefghij",
        ] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }
}
