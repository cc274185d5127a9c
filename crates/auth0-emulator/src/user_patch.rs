//! `PATCH /api/v2/users/{id}`: which root attributes may change, their types, and how a change
//! applies (pure; the route is in `http/users.rs`).
//!
//! Auth0's rules ("Update a user", Management API v2; "Manage metadata with the Management API"):
//! - Only the attributes in [`ATTRIBUTES`] may be sent. Anything else is refused whole, naming
//!   every extra property (`Additional properties not allowed: logins_count,created_at (consider
//!   storing them in app_metadata or user_metadata. ...)`, auth0/auth0-java#58).
//! - `app_metadata` and `user_metadata` are merged at their first level: a key set to `null` is
//!   removed, keys not sent are kept, values below the first level are replaced whole. An empty
//!   object removes the metadata completely. `null` for the metadata itself is refused
//!   (`Expected type object but found type null`, auth0-extensions/
//!   auth0-delegated-administration-extension#111).
//! - Other attributes are replaced. Profile strings can be unset with `null`; an empty string is
//!   refused ("set that field to null").
//! - The type error's wording is Auth0's (`Payload validation error: 'Expected type string but
//!   found type object' on property new_password (...)`, auth0/ruby-auth0#84). The description in
//!   parentheses is left out here: its text per property is UNCONFIRMED.
//! - The password and the `verify_*`, `connection` and `client_id` controls are accepted and not
//!   stored: a user's password is never returned. A new password stamps `last_password_reset`.

use serde_json::{Map, Value};

/// What a PATCH may carry at its root, with the JSON type each must have.
pub const ATTRIBUTES: &[(&str, Kind)] = &[
    ("blocked", Kind::Bool),
    ("email_verified", Kind::Bool),
    ("email", Kind::Text),
    ("phone_number", Kind::NullableText),
    ("phone_verified", Kind::Bool),
    ("user_metadata", Kind::Object),
    ("app_metadata", Kind::Object),
    ("given_name", Kind::NullableText),
    ("family_name", Kind::NullableText),
    ("name", Kind::NullableText),
    ("nickname", Kind::NullableText),
    ("picture", Kind::NullableText),
    ("username", Kind::Text),
    ("password", Kind::Text),
    ("verify_email", Kind::Bool),
    ("verify_phone_number", Kind::Bool),
    ("verify_password", Kind::Bool),
    ("connection", Kind::Text),
    ("client_id", Kind::Text),
];

/// Controls that steer the update and are not user attributes.
const NOT_STORED: &[&str] = &[
    "password",
    "verify_email",
    "verify_phone_number",
    "verify_password",
    "connection",
    "client_id",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Text,
    NullableText,
    Object,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Checks a PATCH body; `Err` is the message of Auth0's 400 (`errorCode` `invalid_body`).
pub fn validate(body: &Value) -> Result<&Map<String, Value>, String> {
    let Value::Object(patch) = body else {
        return Err(format!(
            "Payload validation error: 'Expected type object but found type {}'.",
            type_name(body)
        ));
    };
    let extra: Vec<&str> = patch
        .keys()
        .map(String::as_str)
        .filter(|k| !ATTRIBUTES.iter().any(|(a, _)| a == k))
        .collect();
    if !extra.is_empty() {
        return Err(format!(
            "Payload validation error: 'Additional properties not allowed: {} (consider storing them in app_metadata or user_metadata. See \"Users Metadata\" in https://auth0.com/docs/api/v2/changes for more details)'.",
            extra.join(",")
        ));
    }
    for (name, kind) in ATTRIBUTES {
        let Some(v) = patch.get(*name) else { continue };
        let expected = match (kind, v) {
            (Kind::Bool, Value::Bool(_))
            | (Kind::Object, Value::Object(_))
            | (Kind::NullableText, Value::Null) => continue,
            (Kind::Text | Kind::NullableText, Value::String(s)) if s.is_empty() => {
                return Err(format!(
                    "Payload validation error: 'String is too short (0 chars), minimum 1' on property {name}."
                ))
            }
            (Kind::Text | Kind::NullableText, Value::String(_)) => continue,
            (Kind::Bool, _) => "boolean",
            (Kind::Object, _) => "object",
            (Kind::Text | Kind::NullableText, _) => "string",
        };
        return Err(format!(
            "Payload validation error: 'Expected type {expected} but found type {}' on property {name}.",
            type_name(v)
        ));
    }
    Ok(patch)
}

/// Applies a valid PATCH to a user and stamps `updated_at`.
pub fn apply(doc: &mut Map<String, Value>, patch: &Map<String, Value>, now_iso: &str) {
    for (name, value) in patch {
        if NOT_STORED.contains(&name.as_str()) {
            continue;
        }
        match (name.as_str(), value) {
            ("app_metadata" | "user_metadata", Value::Object(changes)) => {
                if changes.is_empty() {
                    doc.remove(name);
                    continue;
                }
                let mut merged = match doc.remove(name) {
                    Some(Value::Object(m)) => m,
                    _ => Map::new(),
                };
                for (k, v) in changes {
                    if v.is_null() {
                        merged.remove(k);
                    } else {
                        merged.insert(k.clone(), v.clone());
                    }
                }
                doc.insert(name.clone(), Value::Object(merged));
            }
            (_, Value::Null) => {
                doc.remove(name);
            }
            _ => {
                doc.insert(name.clone(), value.clone());
            }
        }
    }
    // As recorded (go-auth0 TestUserManager_Update): a new password stamps the reset time.
    if patch.contains_key("password") {
        doc.insert(
            "last_password_reset".into(),
            Value::String(now_iso.to_string()),
        );
    }
    doc.insert("updated_at".into(), Value::String(now_iso.to_string()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Map<String, Value> {
        json!({"user_id": "auth0|1", "email": "a@x.test", "given_name": "Ada",
               "app_metadata": {"facts": ["a", "b"], "plan": "free", "deep": {"x": 1, "y": 2}},
               "updated_at": "2020-01-01T00:00:00.000Z"})
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn metadata_merges_at_the_first_level_and_null_removes_a_key() {
        // As recorded (go-auth0 TestUserManager_Update): `{"app_metadata":{"foo":"bar"}}` kept
        // the user's `facts` and added `foo`.
        let mut u = user();
        let p = json!({"app_metadata": {"foo": "bar", "plan": null, "deep": {"x": 3}},
                       "password": "secret", "connection": "Username-Password-Authentication"});
        apply(&mut u, validate(&p).unwrap(), "2026-01-01T00:00:00.000Z");
        assert_eq!(
            u["app_metadata"],
            json!({"facts": ["a", "b"], "foo": "bar", "deep": {"x": 3}})
        );
        assert_eq!(u["updated_at"], "2026-01-01T00:00:00.000Z");
        assert!(!u.contains_key("password") && !u.contains_key("connection"));
        assert_eq!(u["last_password_reset"], "2026-01-01T00:00:00.000Z");
        // An empty object removes the metadata.
        apply(&mut u, validate(&json!({"app_metadata": {}})).unwrap(), "t");
        assert!(!u.contains_key("app_metadata"));
        // A new metadata object starts from nothing.
        apply(
            &mut u,
            validate(&json!({"user_metadata": {"k": 1}})).unwrap(),
            "t",
        );
        assert_eq!(u["user_metadata"], json!({"k": 1}));
    }

    #[test]
    fn other_attributes_are_replaced_or_unset() {
        let mut u = user();
        let p = json!({"blocked": true, "given_name": null, "name": "Ada L."});
        apply(&mut u, validate(&p).unwrap(), "t");
        assert_eq!(u["blocked"], true);
        assert_eq!(u["name"], "Ada L.");
        assert!(!u.contains_key("given_name"));
    }

    #[test]
    fn what_auth0_refuses() {
        let err = |v: Value| validate(&v).unwrap_err();
        let extra = err(json!({"logins_count": 3, "created_at": "x", "blocked": true}));
        assert!(
            extra.starts_with("Payload validation error: 'Additional properties not allowed: ")
                && extra.contains("logins_count")
                && extra.contains("created_at")
                && !extra.contains("blocked")
                && extra.ends_with("for more details)'."),
            "{extra}"
        );
        assert_eq!(
            err(json!({"app_metadata": null})),
            "Payload validation error: 'Expected type object but found type null' on property app_metadata."
        );
        assert_eq!(
            err(json!({"blocked": "yes"})),
            "Payload validation error: 'Expected type boolean but found type string' on property blocked."
        );
        assert_eq!(
            err(json!({"given_name": ""})),
            "Payload validation error: 'String is too short (0 chars), minimum 1' on property given_name."
        );
        assert_eq!(
            err(json!({"email": null})),
            "Payload validation error: 'Expected type string but found type null' on property email."
        );
        assert_eq!(
            err(json!([1])),
            "Payload validation error: 'Expected type object but found type array'."
        );
        assert!(validate(&json!({})).is_ok());
    }
}
