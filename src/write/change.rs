//! An `UPDATE`d row as Auth0 changes: which columns may be set, and whether a user's change
//! goes into an upsert import job or a `PATCH /api/v2/users/{id}` (pure, unit-tested).
//!
//! Auth0's rules (docs: "Bulk user imports", "Update a user"; ../docs/architecture.md):
//! - `PATCH` takes the root attributes in [`UPDATABLE_COLUMNS`]. It merges metadata at the
//!   first level (a key set to `null` is removed), so the whole new value is sent together with
//!   a `null` for each old key it no longer has: the user ends with exactly the new value.
//! - An upsert import job matches users of a database connection by e-mail and changes only
//!   [`UPSERTABLE_COLUMNS`]. It replaces metadata whole, and resets `email_verified` to false
//!   unless the record says it, so `email_verified` is always sent (the new value, or the
//!   user's own).
//! - A NULL cannot be upserted (a missing field is left as it was), so a change that sets one
//!   goes through `PATCH`: `null` unsets a profile string; NULL metadata is sent as `{}`, which
//!   removes it.

use crate::error::{Error, Result};
use pgrx::PgSqlErrorCode;
use serde_json::{Map, Value};

/// Columns an `UPDATE` may set: the root attributes `PATCH /api/v2/users/{id}` takes.
pub const UPDATABLE_COLUMNS: &[&str] = &[
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

/// Of those, what an upsert import job changes (Auth0: "the following fields can be updated
/// with upsert"; `blocked`, `email`, `username` and the phone are not among them).
pub const UPSERTABLE_COLUMNS: &[&str] = &[
    "email_verified",
    "name",
    "nickname",
    "given_name",
    "family_name",
    "picture",
    "app_metadata",
    "user_metadata",
];

/// Columns Auth0 never lets a NULL into: `PATCH` refuses `null` for them.
const NOT_NULL: &[&str] = &[
    "email",
    "email_verified",
    "username",
    "phone_verified",
    "blocked",
];

/// Profile strings Auth0 refuses empty ("set that field to null").
const NO_EMPTY_STRING: &[&str] = &[
    "email",
    "username",
    "phone_number",
    "name",
    "nickname",
    "given_name",
    "family_name",
    "picture",
];

/// Setting these on `PATCH` changes an identity: the connection is named with them (Auth0's
/// "connection: name of the connection to target for this user update").
const IDENTITY_COLUMNS: &[&str] = &["email", "username", "phone_number"];

/// The 428C9 error for an `UPDATE` that sets `column`, or `None` when it may be set. Raised
/// when the statement is planned, before any row is read.
pub fn refuse_column(table: &str, column: &str) -> Option<Error> {
    if UPDATABLE_COLUMNS.contains(&column) {
        return None;
    }
    let why = match column {
        "user_id" => "Auth0 gives a user its id when it creates it, and never changes it",
        "connection" => "a user cannot move to another connection (export it and import it into the other one, then delete it)",
        "raw" => "raw is the whole user as Auth0 returns it; set its columns instead",
        "q" => "q is a search expression, not a user attribute",
        _ => "Auth0 sets it itself",
    };
    Some(
        Error::invalid(
            PgSqlErrorCode::ERRCODE_GENERATED_ALWAYS,
            format!(
                "column \"{}\" of {table} cannot be updated",
                crate::error::cut(column)
            ),
        )
        .with_detail(format!("{why}. Nothing was sent to Auth0."))
        .with_hint(format!(
            "An UPDATE may set: {}.",
            UPDATABLE_COLUMNS.join(", ")
        )),
    )
}

/// One user's pending change: what the scan read of it, and the columns set (later statements
/// of the transaction win, column by column).
///
/// What the scan read is `None` when the table has no such column (so it is not known), and
/// `Some(None)` when the user has no such value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Change {
    pub user_id: String,
    pub connection: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub email_verified: Option<Option<bool>>,
    /// The metadata as the scan read them (to unset the keys a new value drops).
    pub app_metadata: Option<Option<Value>>,
    pub user_metadata: Option<Option<Value>>,
    /// Column → new value (`Value::Null` for NULL), in the order first set.
    pub set: Map<String, Value>,
}

impl Change {
    /// Fills in what an earlier statement's table did not read from a later one's `other`
    /// (both read the same Auth0 state: nothing is applied before COMMIT).
    pub fn learn(&mut self, other: Change) {
        fn fill<T>(mine: &mut Option<T>, theirs: Option<T>) {
            if mine.is_none() {
                *mine = theirs;
            }
        }
        fill(&mut self.connection, other.connection);
        fill(&mut self.email, other.email);
        fill(&mut self.email_verified, other.email_verified);
        fill(&mut self.app_metadata, other.app_metadata);
        fill(&mut self.user_metadata, other.user_metadata);
    }

    /// The user's connection, when known.
    pub fn connection_name(&self) -> Option<&str> {
        self.connection.as_ref()?.as_deref()
    }
}

/// Checks one column's new value (before anything is queued): 23502 for a NULL Auth0 refuses,
/// 22023 for an empty profile string or metadata that is not an object.
pub fn check_value(column: &str, value: &Value) -> Result<()> {
    if value.is_null() && NOT_NULL.contains(&column) {
        return Err(Error::invalid(
            PgSqlErrorCode::ERRCODE_NOT_NULL_VIOLATION,
            format!("column \"{column}\" of auth0.users cannot be set to NULL"),
        )
        .with_detail("Auth0 refuses null for this attribute. Nothing was sent."));
    }
    if value.as_str() == Some("") && NO_EMPTY_STRING.contains(&column) {
        return Err(Error::invalid(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("column \"{column}\" of auth0.users cannot be set to an empty string"),
        )
        .with_detail("Auth0 refuses empty strings for profile attributes. Nothing was sent.")
        .with_hint("Set it to NULL to remove it."));
    }
    if column.ends_with("_metadata") && !(value.is_null() || value.is_object()) {
        return Err(Error::invalid(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("column \"{column}\" of auth0.users must be a JSON object or NULL"),
        )
        .with_detail("Auth0 metadata is an object. Nothing was sent."));
    }
    Ok(())
}

/// How one user's change is sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// A record of an upsert import job into the user's (database) connection.
    Upsert(Value),
    /// The body of `PATCH /api/v2/users/{user_id}`.
    Patch(Value),
}

/// The route of `change`; `database` says whether the user's connection takes import jobs.
/// An upsert needs the user's e-mail (its key) and `email_verified` (which it would otherwise
/// reset) as the scan read them.
pub fn route(change: &Change, database: bool) -> Route {
    let email = change.email.clone().flatten();
    let upsertable = database
        && email.is_some()
        && change.email_verified.is_some()
        && change
            .set
            .iter()
            .all(|(k, v)| UPSERTABLE_COLUMNS.contains(&k.as_str()) && !v.is_null());
    if upsertable {
        let mut rec = Map::new();
        rec.insert("email".into(), Value::from(email));
        let verified = change
            .set
            .get("email_verified")
            .and_then(Value::as_bool)
            .or(change.email_verified.flatten())
            .unwrap_or(false);
        rec.insert("email_verified".into(), Value::Bool(verified));
        for (k, v) in &change.set {
            rec.insert(k.clone(), v.clone());
        }
        return Route::Upsert(Value::Object(rec));
    }
    let mut body = Map::new();
    for (k, v) in &change.set {
        let value = match k.as_str() {
            "app_metadata" => metadata_patch(change.app_metadata.clone().flatten().as_ref(), v),
            "user_metadata" => metadata_patch(change.user_metadata.clone().flatten().as_ref(), v),
            _ => v.clone(),
        };
        body.insert(k.clone(), value);
    }
    if change
        .set
        .keys()
        .any(|k| IDENTITY_COLUMNS.contains(&k.as_str()))
    {
        if let Some(c) = change.connection_name() {
            body.insert("connection".into(), Value::from(c));
        }
    }
    Route::Patch(Value::Object(body))
}

/// The `PATCH` value that turns metadata `old` into exactly `new`: `new`'s keys, and `null`
/// for each old key it drops (PATCH merges the first level). NULL becomes `{}` (removes it).
fn metadata_patch(old: Option<&Value>, new: &Value) -> Value {
    let Some(new) = new.as_object() else {
        return Value::Object(Map::new());
    };
    let mut out = new.clone();
    if let Some(old) = old.and_then(Value::as_object) {
        for k in old.keys() {
            if !new.contains_key(k) {
                out.insert(k.clone(), Value::Null);
            }
        }
    }
    if out.is_empty() {
        // `{}` would remove the metadata: the same as the empty value asked for.
        return Value::Object(Map::new());
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(set: Value) -> Change {
        Change {
            user_id: "auth0|1".into(),
            connection: Some(Some("db".into())),
            email: Some(Some("a@x.com".into())),
            email_verified: Some(Some(true)),
            app_metadata: Some(Some(json!({"plan": "free", "old": 1}))),
            user_metadata: Some(None),
            set: set.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn upsertable_changes_of_database_users_become_upsert_records() {
        let c = change(json!({"app_metadata": {"plan": "pro"}, "given_name": "A"}));
        assert_eq!(
            route(&c, true),
            Route::Upsert(json!({"email": "a@x.com", "email_verified": true,
                                 "app_metadata": {"plan": "pro"}, "given_name": "A"}))
        );
        // email_verified: the new value wins over the user's own.
        let c = change(json!({"email_verified": false}));
        assert_eq!(
            route(&c, true),
            Route::Upsert(json!({"email": "a@x.com", "email_verified": false}))
        );
        // The user has none: false, which is what Auth0 would set anyway.
        let mut c = change(json!({"name": "N"}));
        c.email_verified = Some(None);
        assert_eq!(
            route(&c, true),
            Route::Upsert(json!({"email": "a@x.com", "email_verified": false, "name": "N"}))
        );
        // Not read (a table without the column): an upsert would reset it, so PATCH.
        c.email_verified = None;
        assert_eq!(route(&c, true), Route::Patch(json!({"name": "N"})));
    }

    #[test]
    fn everything_else_is_a_patch() {
        // blocked is not upsertable.
        let c = change(json!({"blocked": true, "name": "N"}));
        assert_eq!(
            route(&c, true),
            Route::Patch(json!({"blocked": true, "name": "N"}))
        );
        // Not a database connection, or no e-mail to match on.
        let c = change(json!({"name": "N"}));
        assert_eq!(route(&c, false), Route::Patch(json!({"name": "N"})));
        let mut c = change(json!({"name": "N"}));
        c.email = Some(None);
        assert_eq!(route(&c, true), Route::Patch(json!({"name": "N"})));
        // A NULL cannot be upserted.
        let c = change(json!({"name": null}));
        assert_eq!(route(&c, true), Route::Patch(json!({"name": null})));
        // An identity attribute names the connection.
        let c = change(json!({"email": "b@x.com"}));
        assert_eq!(
            route(&c, true),
            Route::Patch(json!({"email": "b@x.com", "connection": "db"}))
        );
    }

    #[test]
    fn a_metadata_patch_leaves_exactly_the_new_value() {
        let c = change(json!({"app_metadata": {"plan": "pro"}, "blocked": false}));
        assert_eq!(
            route(&c, true),
            Route::Patch(json!({"app_metadata": {"plan": "pro", "old": null}, "blocked": false}))
        );
        let c = change(json!({"app_metadata": null, "blocked": false}));
        assert_eq!(
            route(&c, true),
            Route::Patch(json!({"app_metadata": {}, "blocked": false}))
        );
        assert_eq!(
            metadata_patch(Some(&json!({"a": 1})), &json!({})),
            json!({"a": null})
        );
        assert_eq!(metadata_patch(None, &json!({})), json!({}));
    }

    #[test]
    fn a_later_statement_fills_in_what_an_earlier_table_did_not_read() {
        let mut narrow = Change {
            user_id: "auth0|1".into(),
            email: Some(Some("a@x.com".into())),
            ..Change::default()
        };
        narrow.learn(change(json!({})));
        assert_eq!(narrow.email_verified, Some(Some(true)));
        assert_eq!(
            narrow.app_metadata,
            Some(Some(json!({"plan": "free", "old": 1})))
        );
        assert_eq!(narrow.email, Some(Some("a@x.com".into())));
    }

    #[test]
    fn columns_auth0_sets_are_refused_with_the_list_of_those_it_takes() {
        for col in UPDATABLE_COLUMNS {
            assert!(refuse_column("auth0.users", col).is_none(), "{col}");
        }
        for col in [
            "user_id",
            "created_at",
            "connection",
            "logins_count",
            "raw",
            "identities",
        ] {
            let e = refuse_column("auth0.users", col).expect(col);
            let text = format!("{e:?}");
            assert!(text.contains("cannot be updated"), "{text}");
            assert!(text.contains("app_metadata"), "{text}");
        }
    }

    #[test]
    fn values_auth0_refuses_are_refused_before_anything_is_queued() {
        assert!(check_value("blocked", &Value::Null).is_err());
        assert!(check_value("email", &json!("")).is_err());
        assert!(check_value("app_metadata", &json!([1])).is_err());
        assert!(check_value("app_metadata", &Value::Null).is_ok());
        assert!(check_value("name", &Value::Null).is_ok());
        assert!(check_value("picture", &json!("https://x/p.png")).is_ok());
    }
}
