//! What an import does to the tenant when it runs (reference §5, §7): each user is checked,
//! then inserted, updated (upsert on e-mail, upsertable fields only, metadata replaced) or
//! failed with a reason; failures never fail the job.
//!
//! This is the emulator's own, deliberately small reading of Auth0's rules, independent of the
//! extension's validator (so that the two check each other).

use super::{Summary, UserError};
use crate::seed::{gravatar, Rng};
use crate::store::{Connection, StoredUser, UserStore};
use serde_json::{json, Map, Value};
use std::collections::HashSet;

const KNOWN: &[&str] = &[
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
const STRINGS: &[&str] = &[
    "email",
    "phone_number",
    "user_id",
    "username",
    "given_name",
    "family_name",
    "name",
    "nickname",
    "picture",
    "password_hash",
];
const BOOLS: &[&str] = &["email_verified", "phone_verified", "blocked"];
const OBJECTS: &[&str] = &["custom_password_hash", "app_metadata", "user_metadata"];
/// Fields an upsert may change.
const UPSERTABLE: &[&str] = &[
    "app_metadata",
    "user_metadata",
    "email_verified",
    "given_name",
    "family_name",
    "name",
    "nickname",
    "picture",
];
const FORBIDDEN_APP_METADATA: &[&str] = &[
    "__tenant",
    "_id",
    "blocked",
    "clientID",
    "created_at",
    "email_verified",
    "email",
    "globalClientID",
    "global_client_id",
    "identities",
    "lastIP",
    "lastLogin",
    "loginsCount",
    "metadata",
    "multifactor_last_modified",
    "multifactor",
    "updated_at",
    "user_id",
];

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn err(code: &str, path: &str, what: &str) -> Value {
    json!({"code": code, "message": format!("Error in {path} property - {what}"), "path": path})
}

/// Schema-level problems of one user of the file.
fn check(user: &Value) -> Vec<Value> {
    let Value::Object(u) = user else {
        return vec![
            json!({"code": "INVALID_TYPE", "message": format!("Expected type object but found type {}", type_name(user)), "path": ""}),
        ];
    };
    let mut out = Vec::new();
    if !u.contains_key("email") {
        out.push(json!({"code": "OBJECT_REQUIRED", "message": "Missing required property: email", "path": "email"}));
    }
    for (k, v) in u {
        if !KNOWN.contains(&k.as_str()) {
            out.push(err(
                "OBJECT_ADDITIONAL_PROPERTIES",
                k,
                &format!("Additional properties not allowed: {k}"),
            ));
            continue;
        }
        let want = if STRINGS.contains(&k.as_str()) {
            "string"
        } else if BOOLS.contains(&k.as_str()) {
            "boolean"
        } else if OBJECTS.contains(&k.as_str()) {
            "object"
        } else {
            "array"
        };
        if type_name(v) != want {
            out.push(err(
                "INVALID_TYPE",
                k,
                &format!("Expected type {want} but found type {}", type_name(v)),
            ));
        }
    }
    if let Some(Value::String(e)) = u.get("email") {
        if !crate::http::looks_like_email(e) {
            out.push(err(
                "FORMAT",
                "email",
                &format!("Object didn't pass validation for format email: {e}"),
            ));
        }
    }
    if let Some(Value::String(p)) = u.get("phone_number") {
        let ok = p.len() >= 2
            && p.len() <= 16
            && p.starts_with('+')
            && p[1..].chars().all(|c| c.is_ascii_digit());
        if !ok {
            out.push(err(
                "PATTERN",
                "phone_number",
                &format!("String does not match pattern ^\\+[0-9]{{1,15}}$: {p}"),
            ));
        }
    }
    if let Some(Value::Object(meta)) = u.get("app_metadata") {
        for k in meta
            .keys()
            .filter(|k| FORBIDDEN_APP_METADATA.contains(&k.as_str()))
        {
            out.push(json!({"code": "INVALID_TYPE", "message": format!("Forbidden attribute in appUser: {k}"), "path": format!("app_metadata.{k}")}));
        }
    }
    if u.contains_key("password_hash") && u.contains_key("custom_password_hash") {
        out.push(json!({"code": "NOT_PASSED", "message": "password_hash and custom_password_hash are mutually exclusive", "path": ""}));
    }
    out
}

/// The user as reported back in `/errors`: as provided, with password hashes masked.
pub fn redact(user: &Value) -> Value {
    let mut u = user.clone();
    if let Value::Object(m) = &mut u {
        if m.contains_key("password_hash") {
            m.insert("password_hash".into(), json!("*****"));
        }
        if let Some(Value::Object(c)) = m.get_mut("custom_password_hash") {
            if let Some(Value::Object(h)) = c.get_mut("hash") {
                if h.contains_key("value") {
                    h.insert("value".into(), json!("*****"));
                }
            }
            if let Some(Value::Object(s)) = c.get_mut("salt") {
                if s.contains_key("value") {
                    s.insert("value".into(), json!("*****"));
                }
            }
        }
    }
    u
}

fn str_of<'a>(u: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    u.get(k).and_then(Value::as_str)
}

/// Runs an import against the tenant at `now_ms`: every user ends up inserted, updated or
/// failed.
pub fn apply(
    users: &[Value],
    upsert: bool,
    connection: &Connection,
    store: &mut UserStore,
    now_ms: i64,
    rng: &mut Rng,
) -> (Summary, Vec<UserError>) {
    let mut summary = Summary {
        total: users.len() as u64,
        ..Summary::default()
    };
    let mut errors = Vec::new();
    let (mut seen_email, mut seen_id, mut seen_username) =
        (HashSet::new(), HashSet::new(), HashSet::new());
    let mut fail = |user: &Value, errs: Vec<Value>, summary: &mut Summary| {
        summary.failed += 1;
        errors.push(UserError {
            user: redact(user),
            errors: errs,
        });
    };
    for (i, user) in users.iter().enumerate() {
        let problems = check(user);
        if !problems.is_empty() {
            fail(user, problems, &mut summary);
            continue;
        }
        let Value::Object(u) = user else { continue };
        let email = str_of(u, "email").unwrap_or_default().to_lowercase();
        let given_id = str_of(u, "user_id").map(|id| format!("auth0|{id}"));
        let username = str_of(u, "username").map(str::to_lowercase);
        // Duplicates inside one file are refused, never inserted-then-updated.
        let dup = if !seen_email.insert(email.clone()) {
            Some(("CONFLICT_EMAIL", "email"))
        } else if given_id
            .as_ref()
            .is_some_and(|id| !seen_id.insert(id.clone()))
        {
            Some(("CONFLICT", "user_id"))
        } else if username
            .as_ref()
            .is_some_and(|n| !seen_username.insert(n.clone()))
        {
            Some(("CONFLICT_USERNAME", "username"))
        } else {
            None
        };
        if let Some((code, what)) = dup {
            fail(
                user,
                vec![
                    json!({"code": code, "message": format!("A user with this {what} was already provided.")}),
                ],
                &mut summary,
            );
            continue;
        }
        let in_connection =
            |s: &StoredUser| s.doc["identities"][0]["connection"] == connection.name.as_str();
        let by_email = store
            .find_by_email_ci(&email)
            .filter(|s| in_connection(s))
            .cloned();
        let by_id = given_id.as_ref().and_then(|id| store.get(id)).cloned();
        let by_username = username.as_ref().and_then(|n| {
            store
                .all()
                .iter()
                .find(|s| {
                    in_connection(s) && s.doc.get("username").and_then(Value::as_str) == Some(n)
                })
                .cloned()
        });
        let duplicated = || {
            vec![
                json!({"code": "DUPLICATED_USER", "message": "The user already exist and upsert parameter is false"}),
            ]
        };
        match (by_email, upsert) {
            (Some(_), false) => fail(user, duplicated(), &mut summary),
            (Some(existing), true) => {
                let mut doc = existing.doc.clone();
                for k in UPSERTABLE {
                    if let Some(v) = u.get(*k) {
                        doc.insert(k.to_string(), v.clone()); // metadata is replaced, not merged
                    }
                }
                doc.insert("updated_at".into(), json!(crate::time::format_ms(now_ms)));
                store.upsert(StoredUser::new(doc));
                summary.updated += 1;
            }
            (None, _) if by_id.is_some() || by_username.is_some() => fail(
                user,
                if upsert {
                    vec![
                        json!({"code": "CONFLICT", "message": "A user with the same user_id or username already exists with another email."}),
                    ]
                } else {
                    duplicated()
                },
                &mut summary,
            ),
            (None, _) => {
                store.upsert(new_user(u, connection, now_ms + i as i64, rng));
                summary.inserted += 1;
            }
        }
    }
    (summary, errors)
}

/// A new database user from a file entry, with Auth0's defaults (name = email, nickname = local
/// part, Gravatar picture) and the `auth0|` prefix on a given id. Each gets its own millisecond.
fn new_user(
    u: &Map<String, Value>,
    connection: &Connection,
    created_ms: i64,
    rng: &mut Rng,
) -> StoredUser {
    let email = str_of(u, "email").unwrap_or_default().to_lowercase();
    let raw_id = str_of(u, "user_id")
        .map(str::to_string)
        .unwrap_or_else(|| rng.hex(24));
    let at = crate::time::format_ms(created_ms);
    let mut doc = Map::new();
    if let Some(b) = u.get("blocked") {
        doc.insert("blocked".into(), b.clone());
    }
    doc.insert("created_at".into(), json!(at));
    doc.insert("email".into(), json!(email));
    doc.insert(
        "email_verified".into(),
        u.get("email_verified").cloned().unwrap_or(json!(false)),
    );
    for k in ["family_name", "given_name"] {
        if let Some(v) = u.get(k) {
            doc.insert(k.into(), v.clone());
        }
    }
    doc.insert(
        "identities".into(),
        json!([{"connection": connection.name, "user_id": raw_id, "provider": "auth0", "isSocial": false}]),
    );
    doc.insert(
        "name".into(),
        u.get("name").cloned().unwrap_or(json!(email)),
    );
    doc.insert(
        "nickname".into(),
        u.get("nickname")
            .cloned()
            .unwrap_or(json!(email.split('@').next().unwrap_or_default())),
    );
    for k in ["phone_number", "phone_verified"] {
        if let Some(v) = u.get(k) {
            doc.insert(k.into(), v.clone());
        }
    }
    let picture = gravatar(&email, &email.chars().take(2).collect::<String>())
        .replace("https://s.", "https://secure.");
    doc.insert(
        "picture".into(),
        u.get("picture").cloned().unwrap_or(json!(picture)),
    );
    doc.insert("updated_at".into(), json!(at));
    doc.insert("user_id".into(), json!(format!("auth0|{raw_id}")));
    for k in ["user_metadata", "username", "app_metadata"] {
        if let Some(v) = u.get(k) {
            doc.insert(k.into(), v.clone());
        }
    }
    StoredUser::new(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        Connection {
            id: "con_AAAAAAAAAAAAAAAA".into(),
            name: "Username-Password-Authentication".into(),
            strategy: "auth0".into(),
            enabled_clients: vec!["x".into()],
        }
    }

    #[test]
    fn inserts_updates_and_fails_every_user() {
        let mut store = UserStore::default();
        let mut rng = Rng::new(1);
        let file = vec![
            json!({"email": "a@x.com", "user_id": "abc", "user_metadata": {"k": 1}}),
            json!({"email": "b@x.com", "password_hash": "$2b$10$abc"}),
        ];
        let (s, e) = apply(&file, false, &db(), &mut store, 1_000, &mut rng);
        assert_eq!((s.inserted, s.updated, s.failed, s.total), (2, 0, 0, 2));
        assert!(e.is_empty());
        let a = store.get("auth0|abc").unwrap();
        assert_eq!(a.doc["name"], "a@x.com");
        assert_eq!(a.doc["nickname"], "a");
        assert!(a.doc.get("password_hash").is_none());

        let again = vec![
            json!({"email": "A@x.com", "user_metadata": {"new": true}, "given_name": "Ann"}),
            json!({"email": "c@x.com", "extra": 1}),
            json!({"email": "c@x.com"}),
            json!({"email": "d@x.com", "app_metadata": {"blocked": true}}),
            json!("not an object"),
            json!({"email": "b@x.com", "password_hash": "secret-hash"}),
        ];
        let (s, e) = apply(&again, false, &db(), &mut store, 2_000, &mut rng);
        assert_eq!((s.inserted, s.updated, s.failed, s.total), (1, 0, 5, 6));
        assert_eq!(e[0].errors[0]["code"], "DUPLICATED_USER");
        assert_eq!(
            e[0].errors[0]["message"],
            "The user already exist and upsert parameter is false"
        );
        assert_eq!(
            e.last().unwrap().user["password_hash"],
            "*****",
            "hashes are redacted"
        );

        let (s, _) = apply(&again[..1], true, &db(), &mut store, 3_000, &mut rng);
        assert_eq!((s.updated, s.failed), (1, 0));
        let a = store.get("auth0|abc").unwrap();
        assert_eq!(
            a.doc["user_metadata"],
            json!({"new": true}),
            "metadata replaced, not merged"
        );
        assert_eq!(a.doc["given_name"], "Ann");
        assert_eq!(a.doc["email"], "a@x.com");
    }
}
