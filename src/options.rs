//! Server, user-mapping and table options: what is allowed where, checked at DDL time by the
//! validator and read again (with the same rules) when a scan or an import starts.
//!
//! Secrets belong in user mappings: `pg_foreign_server` is readable by every role that can see
//! the server, `pg_user_mappings` hides options from other roles.

use crate::error::{Error, Result};
use auth0_api::{ClientConfig, Credentials, Secret};
use pgrx::PgSqlErrorCode;
use std::collections::HashMap;
use std::time::Duration;

pub const SERVER_OPTIONS: &[&str] = &[
    "domain",
    "api_url",
    "strategy",
    "timeout_seconds",
    "max_retries",
    "max_rate_limit_wait_seconds",
    "use_remote_estimate",
    "export_max_age_seconds",
    "max_delete_users",
];
pub const USER_MAPPING_OPTIONS: &[&str] = &["client_id", "client_secret", "api_token"];
pub const TABLE_OPTIONS: &[&str] = &[
    "object",
    "strategy",
    "use_remote_estimate",
    "export_max_age_seconds",
    "rowid_column",
    "connection",
    "upsert",
];
const SECRET_OPTIONS: &[&str] = &[
    "client_id",
    "client_secret",
    "api_token",
    "token",
    "password",
    "secret",
];

/// Which way a scan reads users (see the README's "how pushdown works").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Search when Auth0 can answer completely, otherwise the complete strategies.
    Auto,
    /// Always the search API (split into created_at windows past 1000 results).
    Search,
    /// Always a users-exports job for full scans.
    Export,
}

impl Strategy {
    pub fn parse(s: &str) -> Result<Strategy> {
        match s {
            "auto" => Ok(Strategy::Auto),
            "search" => Ok(Strategy::Search),
            "export" => Ok(Strategy::Export),
            other => Err(Error::invalid(
                PgSqlErrorCode::ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE,
                format!(
                    "invalid value for option \"strategy\": \"{}\"",
                    crate::error::cut(other)
                ),
            )
            .with_hint("Use 'auto', 'search' or 'export'.")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Auto => "auto",
            Strategy::Search => "search",
            Strategy::Export => "export",
        }
    }
}

/// Parses the validator's `name=value` list.
pub fn parse_list(options: &[Option<String>]) -> HashMap<String, String> {
    options
        .iter()
        .flatten()
        .filter_map(|o| {
            o.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

fn reject_unknown(opts: &HashMap<String, String>, allowed: &[&str], what: &str) -> Result<()> {
    let mut names: Vec<&String> = opts.keys().collect();
    names.sort();
    for name in names {
        if allowed.contains(&name.as_str()) {
            continue;
        }
        let mut err = Error::invalid(
            PgSqlErrorCode::ERRCODE_FDW_INVALID_OPTION_NAME,
            format!("invalid option \"{name}\" for {what}"),
        );
        err = if SECRET_OPTIONS.contains(&name.as_str()) && what != "a user mapping" {
            err.with_detail("Credentials in server or table options are readable by every role that can see them.")
                .with_hint(format!(
                    "Put credentials in a user mapping: CREATE USER MAPPING FOR CURRENT_USER SERVER <server> OPTIONS ({name} '...')."
                ))
        } else {
            err.with_hint(format!("Valid options for {what}: {}.", allowed.join(", ")))
        };
        return Err(err);
    }
    Ok(())
}

fn positive(opts: &HashMap<String, String>, name: &str, max: u64) -> Result<Option<u64>> {
    let Some(v) = opts.get(name) else {
        return Ok(None);
    };
    match v.trim().parse::<u64>() {
        Ok(n) if n <= max => Ok(Some(n)),
        _ => Err(Error::invalid(
            PgSqlErrorCode::ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE,
            format!(
                "invalid value for option \"{name}\": \"{}\"",
                crate::error::cut(v)
            ),
        )
        .with_hint(format!("Use a whole number from 0 to {max}."))),
    }
}

/// The tenant's base URL from `domain` (HTTPS) or `api_url` (HTTPS, or HTTP on loopback).
pub fn base_url(opts: &HashMap<String, String>) -> Result<String> {
    match (opts.get("domain"), opts.get("api_url")) {
        (Some(_), Some(_)) => Err(Error::invalid(
            PgSqlErrorCode::ERRCODE_FDW_INVALID_OPTION_NAME,
            "options \"domain\" and \"api_url\" cannot be used together",
        )
        .with_hint("Use domain 'tenant.eu.auth0.com' for Auth0, or api_url 'http://127.0.0.1:4010' for the emulator.")),
        (None, None) => Err(Error::invalid(
            PgSqlErrorCode::ERRCODE_FDW_OPTION_NAME_NOT_FOUND,
            "an auth0 server needs the option \"domain\" or \"api_url\"",
        )
        .with_hint("CREATE SERVER ... FOREIGN DATA WRAPPER auth0 OPTIONS (domain 'tenant.eu.auth0.com')")),
        (Some(domain), None) => {
            let ok = !domain.is_empty()
                && domain.len() <= 253
                && domain.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
                && !domain.starts_with(['.', '-'])
                && domain.contains('.');
            if !ok {
                return Err(Error::invalid(
                    PgSqlErrorCode::ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE,
                    format!("invalid value for option \"domain\": \"{domain}\""),
                )
                .with_hint("Give the tenant's host name only, e.g. 'acme.eu.auth0.com' (no scheme, no path)."));
            }
            Ok(format!("https://{domain}"))
        }
        (None, Some(url)) => auth0_api::ClientConfig::new(url, Credentials::Token(Secret::new("")))
            .map(|c| c.base_url.as_str().trim_end_matches('/').to_string())
            .map_err(|e| {
                Error::invalid(
                    PgSqlErrorCode::ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE,
                    format!("invalid value for option \"api_url\": {e}"),
                )
                .with_hint("Use https://host[:port], or http:// only for a loopback emulator such as http://127.0.0.1:4010.")
            }),
    }
}

pub fn validate_server(opts: &HashMap<String, String>) -> Result<()> {
    reject_unknown(opts, SERVER_OPTIONS, "an auth0 server")?;
    base_url(opts)?;
    if let Some(s) = opts.get("strategy") {
        Strategy::parse(s)?;
    }
    positive(opts, "timeout_seconds", 3600)?;
    positive(opts, "max_retries", 20)?;
    positive(opts, "max_rate_limit_wait_seconds", 86_400)?;
    boolean(opts, "use_remote_estimate")?;
    export_age(opts)?;
    max_delete_users(opts)?;
    Ok(())
}

/// `max_delete_users` when it is not set: a `DELETE` of more users than this in one
/// transaction is refused (a guard against a forgotten `WHERE`).
pub const DEFAULT_MAX_DELETE_USERS: u64 = 1_000;

/// How many users one transaction may delete through a server's tables (server option
/// `max_delete_users`, 0 to 100,000,000; default [`DEFAULT_MAX_DELETE_USERS`]).
pub fn max_delete_users(server: &HashMap<String, String>) -> Result<u64> {
    Ok(positive(server, "max_delete_users", 100_000_000)?.unwrap_or(DEFAULT_MAX_DELETE_USERS))
}

/// Auth0 deletes an export job's file 24 hours after the job was created.
const EXPORT_MAX_AGE_LIMIT: u64 = 86_400;

fn export_age(opts: &HashMap<String, String>) -> Result<Option<u64>> {
    positive(opts, "export_max_age_seconds", EXPORT_MAX_AGE_LIMIT)
}

/// How old a completed export job of this backend may be to be read again instead of starting
/// a new one (table option, else server option; absent or 0: never). See `kept_exports.rs`.
pub fn export_max_age(
    server: &HashMap<String, String>,
    table: &HashMap<String, String>,
) -> Result<Option<Duration>> {
    let seconds = match export_age(table)? {
        Some(s) => Some(s),
        None => export_age(server)?,
    };
    Ok(seconds.filter(|s| *s > 0).map(Duration::from_secs))
}

/// A boolean option, spelled as Postgres accepts booleans in options (`true`/`false`,
/// `on`/`off`, `yes`/`no`, `1`/`0`).
fn boolean(opts: &HashMap<String, String>, name: &str) -> Result<Option<bool>> {
    let Some(v) = opts.get(name) else {
        return Ok(None);
    };
    match v.to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" | "t" | "y" => Ok(Some(true)),
        "false" | "off" | "no" | "0" | "f" | "n" => Ok(Some(false)),
        _ => Err(Error::invalid(
            PgSqlErrorCode::ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE,
            format!(
                "invalid value for option \"{name}\": \"{}\"",
                crate::error::cut(v)
            ),
        )
        .with_hint("Use 'true' or 'false'.")),
    }
}

/// Whether the planner may ask Auth0 for a count (table option, else server option, else
/// true; see `fdw/estimate.rs`).
pub fn use_remote_estimate(
    server: &HashMap<String, String>,
    table: &HashMap<String, String>,
) -> Result<bool> {
    Ok(boolean(table, "use_remote_estimate")?
        .or(boolean(server, "use_remote_estimate")?)
        .unwrap_or(true))
}

/// Whether rows written into the table are upserted (table option `upsert`, default false):
/// Auth0 updates a user of the same e-mail instead of failing it as `DUPLICATED_USER`.
pub fn upsert(table: &HashMap<String, String>) -> Result<bool> {
    Ok(boolean(table, "upsert")?.unwrap_or(false))
}

pub fn validate_user_mapping(opts: &HashMap<String, String>) -> Result<()> {
    reject_unknown(opts, USER_MAPPING_OPTIONS, "a user mapping")?;
    credentials(opts).map(|_| ())
}

pub fn validate_table(opts: &HashMap<String, String>) -> Result<()> {
    reject_unknown(opts, TABLE_OPTIONS, "an auth0 foreign table")?;
    if let Some(o) = opts.get("object") {
        if o != "users" {
            return Err(Error::invalid(
                PgSqlErrorCode::ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE,
                format!("invalid value for option \"object\": \"{o}\""),
            )
            .with_hint("The only object is 'users'."));
        }
    }
    if let Some(s) = opts.get("strategy") {
        Strategy::parse(s)?;
    }
    boolean(opts, "use_remote_estimate")?;
    export_age(opts)?;
    if let Some(r) = opts.get("rowid_column").filter(|r| *r != "user_id") {
        return Err(Error::invalid(
            PgSqlErrorCode::ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE,
            format!(
                "invalid value for option \"rowid_column\": \"{}\"",
                crate::error::cut(r)
            ),
        )
        .with_hint("Auth0 users are identified by user_id: rowid_column 'user_id'."));
    }
    boolean(opts, "upsert")?;
    if opts.get("connection").is_some_and(|c| c.is_empty()) {
        return Err(Error::invalid(
            PgSqlErrorCode::ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE,
            "option \"connection\" must name a database connection",
        )
        .with_hint("e.g. connection 'Username-Password-Authentication': rows written without a connection go there."));
    }
    Ok(())
}

pub fn credentials(opts: &HashMap<String, String>) -> Result<Credentials> {
    let hint = "Use OPTIONS (client_id '...', client_secret '...') for a machine-to-machine application, or OPTIONS (api_token '...').";
    match (opts.get("client_id"), opts.get("client_secret"), opts.get("api_token")) {
        (Some(id), Some(secret), None) if !id.is_empty() && !secret.is_empty() => {
            Ok(Credentials::ClientCredentials { client_id: id.clone(), client_secret: Secret::new(secret.clone()) })
        }
        (None, None, Some(token)) if !token.is_empty() => Ok(Credentials::Token(Secret::new(token.clone()))),
        (None, None, None) => Err(Error::invalid(
            PgSqlErrorCode::ERRCODE_FDW_OPTION_NAME_NOT_FOUND,
            "the user mapping has no Auth0 credentials",
        )
        .with_hint(hint)),
        _ => Err(Error::invalid(
            PgSqlErrorCode::ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE,
            "the user mapping needs either both client_id and client_secret, or api_token alone (non-empty)",
        )
        .with_hint(hint)),
    }
}

/// Everything needed to talk to one tenant as one role.
pub fn client_config(
    server: &HashMap<String, String>,
    mapping: &HashMap<String, String>,
) -> Result<ClientConfig> {
    let url = base_url(server)?;
    let mut cfg = ClientConfig::new(&url, credentials(mapping)?)?;
    if let Some(t) = positive(server, "timeout_seconds", 3600)? {
        cfg.request_timeout = Duration::from_secs(t.max(1));
    }
    if let Some(r) = positive(server, "max_retries", 20)? {
        cfg.max_retries = r as u32;
    }
    if let Some(w) = positive(server, "max_rate_limit_wait_seconds", 86_400)? {
        cfg.max_rate_limit_wait = Duration::from_secs(w);
    }
    Ok(cfg)
}

/// The strategy for a table: table option, else server option, else auto.
pub fn strategy(
    server: &HashMap<String, String>,
    table: &HashMap<String, String>,
) -> Result<Strategy> {
    match table.get("strategy").or_else(|| server.get("strategy")) {
        Some(s) => Strategy::parse(s),
        None => Ok(Strategy::Auto),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn deletes_are_guarded_at_1000_unless_the_server_says_otherwise() {
        assert_eq!(max_delete_users(&m(&[])).unwrap(), 1_000);
        assert_eq!(
            max_delete_users(&m(&[("max_delete_users", "0")])).unwrap(),
            0
        );
        assert_eq!(
            max_delete_users(&m(&[("max_delete_users", "250000")])).unwrap(),
            250_000
        );
        for bad in ["-1", "1e3", "lots", "", "100000001"] {
            let o = m(&[("domain", "a.b"), ("max_delete_users", bad)]);
            assert!(validate_server(&o).is_err(), "{bad}");
        }
    }

    #[test]
    fn server_options() {
        assert!(validate_server(&m(&[("domain", "acme.eu.auth0.com")])).is_ok());
        assert!(validate_server(&m(&[("api_url", "http://127.0.0.1:4010")])).is_ok());
        assert!(validate_server(&m(&[("api_url", "http://10.0.0.1:4010")])).is_err());
        assert!(validate_server(&m(&[("domain", "https://acme.auth0.com")])).is_err());
        assert!(validate_server(&m(&[])).is_err());
        assert!(validate_server(&m(&[("domain", "a.b"), ("api_url", "https://a.b")])).is_err());
        assert!(validate_server(&m(&[("domain", "a.b"), ("strategy", "fast")])).is_err());
        assert!(validate_server(&m(&[("domain", "a.b"), ("timeout_seconds", "-1")])).is_err());
        for bad in ["-1", "86401", "1h", ""] {
            let o = m(&[("domain", "a.b"), ("export_max_age_seconds", bad)]);
            assert!(validate_server(&o).is_err(), "{bad}");
        }
        let e = validate_server(&m(&[("domain", "a.b"), ("client_secret", "s3cr3t")])).unwrap_err();
        let Error::Invalid { message, hint, .. } = e else {
            panic!()
        };
        assert!(!message.contains("s3cr3t"));
        assert!(hint.unwrap().contains("USER MAPPING"));
    }

    #[test]
    fn export_max_age_table_over_server_and_zero_is_off() {
        let s = m(&[("export_max_age_seconds", "600")]);
        let none = m(&[]);
        let secs = |n| Some(Duration::from_secs(n));
        assert_eq!(export_max_age(&s, &none).unwrap(), secs(600));
        assert_eq!(export_max_age(&none, &none).unwrap(), None);
        let t = m(&[("export_max_age_seconds", "60")]);
        assert_eq!(export_max_age(&s, &t).unwrap(), secs(60));
        let off = m(&[("export_max_age_seconds", "0")]);
        assert_eq!(
            export_max_age(&s, &off).unwrap(),
            None,
            "the table turns it off"
        );
        let max = m(&[("export_max_age_seconds", "86400")]);
        assert_eq!(export_max_age(&none, &max).unwrap(), secs(86_400));
        assert!(validate_table(&max).is_ok());
        assert!(validate_table(&m(&[("export_max_age_seconds", "86401")])).is_err());
    }

    #[test]
    fn user_mapping_options() {
        assert!(validate_user_mapping(&m(&[("client_id", "a"), ("client_secret", "b")])).is_ok());
        assert!(validate_user_mapping(&m(&[("api_token", "t")])).is_ok());
        assert!(validate_user_mapping(&m(&[("client_id", "a")])).is_err());
        assert!(validate_user_mapping(&m(&[
            ("client_id", "a"),
            ("client_secret", "b"),
            ("api_token", "t")
        ]))
        .is_err());
        assert!(validate_user_mapping(&m(&[("domain", "x")])).is_err());
        assert!(validate_user_mapping(&m(&[])).is_err());
    }
}
