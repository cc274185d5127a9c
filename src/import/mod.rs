//! Bulk imports in SQL (design.md §3): `auth0_validate_users` and `auth0_import`.
//!
//! An import validates every record before anything is sent, resolves the connection (a
//! database connection enabled for an application), splits the valid records into files Auth0
//! accepts, keeps at most two Auth0 jobs running, and records everything in the ledger as it
//! happens. It returns our import id; `auth0_job_status` and `auth0_job_errors` follow it.

// SQL functions return `Result<_, ErrorReport>`: that is how pgrx raises our SQLSTATE, DETAIL
// and HINT; its size and the `TableIterator` row types are dictated by the SQL signatures.
#![allow(clippy::result_large_err, clippy::type_complexity)]

pub mod ledger;
mod submit;

use crate::error::{Error, Result};
use crate::runtime::block_on;
use crate::server::Server;
use auth0_api::import::{self, Problem};
use ledger::{Event, Invalid, InvalidProblem};
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::Value;
use std::ffi::CStr;

/// How many problems an error message lists before "and N more".
const SHOWN_PROBLEMS: usize = 5;

fn batch(users: Option<&JsonB>) -> Result<&Vec<Value>> {
    match users.map(|u| &u.0) {
        Some(Value::Array(items)) => Ok(items),
        None => Err(Error::invalid(PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED, "users must not be NULL")),
        Some(other) => Err(Error::invalid(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("users must be a JSON array of user objects, not a JSON {}", json_type(other)),
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

/// Every problem with every record, without calling Auth0.
#[pg_extern(stable, parallel_safe)]
fn auth0_validate_users(
    users: Option<JsonB>,
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
    let rows: Vec<_> = import::validate(items)
        .into_iter()
        .map(|p| (p.index as i32, p.path, p.code.to_string(), p.message))
        .collect();
    Ok(TableIterator::new(rows))
}

/// The record as kept in the ledger for `auth0_job_errors`: password hashes masked.
pub fn redact(v: &Value) -> Value {
    let mut v = v.clone();
    if let Value::Object(m) = &mut v {
        if m.contains_key("password_hash") {
            m.insert("password_hash".into(), Value::from("*****"));
        }
        if let Some(Value::Object(c)) = m.get_mut("custom_password_hash") {
            for part in ["hash", "salt"] {
                if let Some(Value::Object(h)) = c.get_mut(part) {
                    if h.contains_key("value") {
                        h.insert("value".into(), Value::from("*****"));
                    }
                }
            }
            if let Some(Value::Object(h)) = c.get_mut("hash") {
                if let Some(Value::Object(k)) = h.get_mut("key") {
                    if k.contains_key("value") {
                        k.insert("value".into(), Value::from("*****"));
                    }
                }
            }
        }
    }
    v
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
    users: Option<JsonB>,
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
    users: Option<&JsonB>,
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
    let problems = import::validate(items);
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
    let conn = block_on(client.find_connection(connection))??.ok_or_else(|| {
        Error::invalid(PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT, format!("Auth0 connection \"{connection}\" does not exist"))
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

    // 4. The ledger first, then the jobs.
    let id = submit::new_import_id();
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
        chunks: chunks.len(),
    })?;
    let emails: Vec<Vec<String>> = chunks
        .iter()
        .map(|c| {
            c.indices
                .iter()
                .map(|&i| email_of(&items[i]).unwrap_or_default())
                .collect()
        })
        .collect();
    submit::submit_all(
        client,
        &submit::Batch {
            import_id: &id,
            connection_id: &conn.id,
            upsert,
            send_completion_email,
            external_id,
        },
        chunks,
        emails,
    )?;
    Ok(id)
}
