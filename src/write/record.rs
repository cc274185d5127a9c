//! A row written into `auth0.users` as a bulk import record (pure, unit-tested).
//!
//! - **Columns that map to import fields** (the bulk import schema's properties):
//!   [`IMPORT_COLUMNS`]. A NULL leaves the field out.
//! - **`raw`** can carry any other import field (`password_hash`, `custom_password_hash`,
//!   `mfa_factors`, ...). Only the import schema's fields are taken from it, so a whole exported
//!   user can be written back. The columns win over `raw`.
//! - **`user_id`** reads back as `auth0|<id>` for a database user, so that is how it is written.
//!   The prefix is taken off for the import, because Auth0 adds it again. In `raw`, the
//!   import's own form (`<id>`, no `|`) is taken as well.
//! - **`connection`** says where the user goes; the table option `connection` gives a default.
//! - **Columns Auth0 sets** ([`READ_ONLY_COLUMNS`]) must be NULL.

use crate::error::{Error, Result};
use pgrx::PgSqlErrorCode;
use serde_json::{Map, Value};

/// Columns written as the import field of the same name.
pub const IMPORT_COLUMNS: &[&str] = &[
    "user_id",
    "email",
    "email_verified",
    "username",
    "phone_number",
    "phone_verified",
    "name",
    "nickname",
    "given_name",
    "family_name",
    "picture",
    "blocked",
    "app_metadata",
    "user_metadata",
];

/// Fields of Auth0's bulk import schema: what `raw` may carry.
pub const IMPORT_FIELDS: &[&str] = &[
    "email",
    "email_verified",
    "phone_number",
    "phone_verified",
    "user_id",
    "username",
    "given_name",
    "family_name",
    "name",
    "nickname",
    "picture",
    "blocked",
    "password_hash",
    "custom_password_hash",
    "app_metadata",
    "user_metadata",
    "mfa_factors",
];

/// Columns Auth0 sets itself: an INSERT must leave them NULL.
pub const READ_ONLY_COLUMNS: &[&str] = &[
    "created_at",
    "updated_at",
    "last_login",
    "last_password_reset",
    "last_ip",
    "logins_count",
    "multifactor",
    "identities",
    "q",
];

/// The prefix of a database user's id; the import adds it.
const DATABASE_PREFIX: &str = "auth0|";

/// An import record and the connection it goes to.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub connection: String,
    pub user: Value,
}

/// The row (column name, value as JSON; NULL is `None`) as an import record.
/// `default_connection` is the table option `connection`.
pub fn from_row(
    cols: &[(String, Option<Value>)],
    default_connection: Option<&str>,
) -> Result<Record> {
    let mut user = Map::new();
    let mut connection = None;
    for (name, value) in cols {
        let Some(value) = value else { continue };
        match name.as_str() {
            "raw" => {
                let Value::Object(raw) = value else {
                    return Err(Error::invalid(
                        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                        "column \"raw\" must be a JSON object when written",
                    ));
                };
                for (k, v) in raw {
                    // The columns win: only fields no column set.
                    if IMPORT_FIELDS.contains(&k.as_str()) && !v.is_null() && !user.contains_key(k)
                    {
                        user.insert(k.clone(), v.clone());
                    }
                }
            }
            "connection" => connection = value.as_str().map(str::to_string),
            c if READ_ONLY_COLUMNS.contains(&c) => {
                return Err(Error::invalid(
                    PgSqlErrorCode::ERRCODE_GENERATED_ALWAYS,
                    format!("column \"{c}\" of auth0.users is set by Auth0 and cannot be written"),
                )
                .with_hint(
                    "Leave it NULL: list the columns you write, e.g. INSERT INTO auth0.users (email, given_name, connection) ...",
                ))
            }
            c if IMPORT_COLUMNS.contains(&c) => {
                user.insert(c.to_string(), value.clone());
            }
            other => {
                return Err(Error::invalid(
                    PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                    format!("column \"{other}\" cannot be written"),
                ))
            }
        }
    }
    let id_from_column = cols
        .iter()
        .any(|(name, value)| name == "user_id" && value.is_some());
    if let Some(Value::String(id)) = user.get("user_id") {
        // In `raw` an id may also be in the import's own form, without the prefix (an import
        // file's record, `auth0_user_to_import`'s output); another provider's id may not.
        let bare = !id_from_column && !id.contains('|');
        let stripped = id.strip_prefix(DATABASE_PREFIX).or(bare.then_some(id.as_str())).ok_or_else(|| {
            Error::invalid(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!(
                    "user_id \"{}\" cannot be a database user's id",
                    crate::error::cut(id)
                ),
            )
            .with_detail("A user imported into a database connection gets the id 'auth0|<id>', and user_id reads back as that.")
            .with_hint("Write it as 'auth0|<id>', or leave user_id NULL for Auth0 to choose one.")
        })?;
        let stripped = stripped.to_string();
        user.insert("user_id".into(), Value::String(stripped));
    }
    let connection = connection
        .or_else(|| default_connection.map(str::to_string))
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            Error::invalid(
                PgSqlErrorCode::ERRCODE_NOT_NULL_VIOLATION,
                "a user written into auth0.users needs a connection",
            )
            .with_hint("Give the connection column a value, or set a default: ALTER FOREIGN TABLE auth0.users OPTIONS (ADD connection 'Username-Password-Authentication').")
        })?;
    Ok(Record {
        connection,
        user: Value::Object(user),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(pairs: &[(&str, Value)]) -> Vec<(String, Option<Value>)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), (!v.is_null()).then(|| v.clone())))
            .collect()
    }

    #[test]
    fn columns_and_raw_make_the_record() {
        let r = from_row(
            &row(&[
                ("email", json!("ada@example.com")),
                ("given_name", json!("Ada")),
                ("family_name", Value::Null),
                ("user_id", json!("auth0|ada-1")),
                ("connection", json!("Username-Password-Authentication")),
                (
                    "raw",
                    json!({"given_name": "Not Ada", "password_hash": "$2b$10$x", "created_at": "2020", "identities": []}),
                ),
                ("created_at", Value::Null),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(r.connection, "Username-Password-Authentication");
        assert_eq!(
            r.user,
            json!({"email": "ada@example.com", "given_name": "Ada", "user_id": "ada-1", "password_hash": "$2b$10$x"})
        );
    }

    #[test]
    fn raw_alone_is_read_as_an_import_record() {
        // A whole exported user written back: what the import cannot take is left out.
        let r = from_row(
            &row(&[(
                "raw",
                json!({"user_id": "auth0|x", "email": "x@example.com", "logins_count": 4,
                       "app_metadata": {"plan": "pro"}, "identities": [{"connection": "db"}]}),
            )]),
            Some("db"),
        )
        .unwrap();
        assert_eq!(r.connection, "db");
        assert_eq!(
            r.user,
            json!({"user_id": "x", "email": "x@example.com", "app_metadata": {"plan": "pro"}})
        );
    }

    #[test]
    fn raw_may_hold_an_import_record_s_bare_user_id() {
        let r = from_row(
            &row(&[("raw", json!({"user_id": "x-1", "email": "x@e.co"}))]),
            Some("db"),
        )
        .unwrap();
        assert_eq!(r.user["user_id"], "x-1");
        // The column is what reads back: it needs the prefix.
        assert!(from_row(&row(&[("user_id", json!("x-1"))]), Some("db")).is_err());
        assert!(from_row(&row(&[("raw", json!({"user_id": "github|1"}))]), Some("db")).is_err());
    }

    #[test]
    fn what_cannot_be_written() {
        let err = |pairs: &[(&str, Value)], default: Option<&str>| {
            let Err(Error::Invalid { code, message, .. }) = from_row(&row(pairs), default) else {
                panic!("accepted {pairs:?}")
            };
            (code, message)
        };
        let (code, message) = err(
            &[("email", json!("a@b.co")), ("logins_count", json!(3))],
            Some("db"),
        );
        assert_eq!(code, PgSqlErrorCode::ERRCODE_GENERATED_ALWAYS);
        assert!(message.contains("\"logins_count\""), "{message}");
        let (code, _) = err(&[("email", json!("a@b.co"))], None);
        assert_eq!(code, PgSqlErrorCode::ERRCODE_NOT_NULL_VIOLATION);
        let (code, message) = err(&[("user_id", json!("google-oauth2|1"))], Some("db"));
        assert_eq!(code, PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE);
        assert!(message.contains("google-oauth2|1"), "{message}");
        let (_, message) = err(&[("raw", json!([1]))], Some("db"));
        assert!(message.contains("JSON object"), "{message}");
        // The table's default connection, and the column over it.
        let r = from_row(&row(&[("connection", json!("other"))]), Some("db")).unwrap();
        assert_eq!(r.connection, "other");
    }
}
