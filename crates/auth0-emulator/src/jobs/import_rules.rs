//! What an import does to the tenant when it runs (Auth0's bulk-import documentation): each user is checked,
//! then inserted, updated (upsert on e-mail, upsertable fields only, metadata replaced) or
//! failed with a reason; failures never fail the job.
//!
//! Which records Auth0 refuses comes from Auth0's published rules (the `auth0-rules` crate: its
//! bulk-import schema, what it enforces beyond it, its e-mail format), shared with the client so
//! that a test against the emulator fails where Auth0 would. What an import then does to the
//! tenant (matching, upsert semantics, password hashes, MFA enrollment) is the emulator's own.

use crate::seed::{gravatar, Rng};
use crate::store::{Connection, StoredUser, UserStore};
use serde_json::{json, Map, Value};
use std::collections::HashSet;

/// One user's failure in an import, as `GET /jobs/{id}/errors` reports it.
#[derive(Debug, Clone)]
pub struct UserError {
    /// The user as provided in the file, with secrets redacted.
    pub user: Value,
    pub errors: Vec<Value>,
}

#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub inserted: u64,
    pub updated: u64,
    pub failed: u64,
    pub total: u64,
}

/// Fields an upsert may change (Auth0's bulk-import docs: "Upsert During Import?").
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

/// Auth0's error message for a password hash sent in an upsert to a user whose hash may not be
/// replaced (Auth0 support article "Auth0 Bulk User Import Without Password Hashes"). The code
/// is not published; this one is the emulator's (UNCONFIRMED).
const HASH_DEFINED: &str =
    "A custom_password_hash was provided, but the user already has password hash defined.";

/// A problem as Auth0 reports it in a job's `/errors`: `Error in <path> property - <text>`,
/// with Auth0's own spelling of the one path its messages are known to rename.
fn error_object(p: auth0_rules::Problem) -> Value {
    let shown = match p.path.as_str() {
        "password_hash" => "passwordHash",
        other => other,
    };
    let message = if p.path.is_empty() {
        p.message
    } else {
        format!("Error in {shown} property - {}", p.message)
    };
    json!({"code": p.code, "message": message, "path": p.path})
}

/// Every problem Auth0 reports for one user of the file on its own: its published schema, what
/// it enforces beyond it, its e-mail format (the `auth0-rules` crate, shared with the client so
/// that neither is more lenient than Auth0's published rules).
fn check(user: &Value) -> Vec<Value> {
    auth0_rules::record_problems(user)
        .into_iter()
        .map(error_object)
        .collect()
}

/// Whether the user's MFA factors can be enrolled. Auth0 fails enrollment (code
/// `MFA_FACTORS_FAILED`, "Unable to import MFA factors") for factors that pass the schema but
/// cannot be used; its exact checks are not published. The emulator refuses a TOTP secret of
/// fewer than 16 base32 characters (80 bits, the length of the published example) and a phone
/// number of fewer than 7 digits (shorter than any E.164 number in service).
fn mfa_enrollable(user: &Map<String, Value>) -> bool {
    let Some(Value::Array(factors)) = user.get("mfa_factors") else {
        return true;
    };
    factors.iter().all(|f| {
        if let Some(secret) = f.pointer("/totp/secret").and_then(Value::as_str) {
            return secret.len() >= 16;
        }
        if let Some(phone) = f.pointer("/phone/value").and_then(Value::as_str) {
            return phone.chars().filter(char::is_ascii_digit).count() >= 7;
        }
        true
    })
}

fn mfa_failed() -> Vec<Value> {
    vec![json!({"code": "MFA_FACTORS_FAILED", "message": "Unable to import MFA factors"})]
}

/// The user as reported back in `/errors`: as provided, with password hashes masked (Auth0
/// masks hash values; whether it masks MFA secrets is not documented, so they come back as sent
/// and the client must mask them).
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
        let in_connection = |s: &StoredUser| {
            crate::store::first_connection(&s.doc) == Some(connection.name.as_str())
        };
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
                // A hash can replace only one imported with a hash and not used since; a user
                // imported without one got a random hash, which no import may replace.
                let sends_hash =
                    u.contains_key("password_hash") || u.contains_key("custom_password_hash");
                if sends_hash && !existing.hash_replaceable {
                    fail(
                        user,
                        vec![json!({"code": "PASSWORD_HASH_DEFINED", "message": HASH_DEFINED})],
                        &mut summary,
                    );
                    continue;
                }
                let mut doc = existing.doc.clone();
                for k in UPSERTABLE {
                    if let Some(v) = u.get(*k) {
                        doc.insert(k.to_string(), v.clone()); // metadata is replaced, not merged
                    }
                }
                // "Set to false by default if email is updated by upsert but not
                // email_verified" (Auth0's bulk-import schema page): an upsert always sends the
                // email.
                if !u.contains_key("email_verified") {
                    doc.insert("email_verified".into(), json!(false));
                }
                doc.insert("updated_at".into(), json!(crate::time::format_ms(now_ms)));
                let mut updated = StoredUser::new(doc);
                updated.hash_replaceable = existing.hash_replaceable;
                store.upsert(updated);
                // Non-MFA changes stay applied when the factors fail (Auth0's MFA import docs).
                if mfa_enrollable(u) {
                    summary.updated += 1;
                } else {
                    fail(user, mfa_failed(), &mut summary);
                }
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
                let mut created = new_user(u, connection, now_ms + i as i64, rng);
                created.hash_replaceable =
                    u.contains_key("password_hash") || u.contains_key("custom_password_hash");
                store.upsert(created);
                if mfa_enrollable(u) {
                    summary.inserted += 1;
                } else {
                    fail(user, mfa_failed(), &mut summary);
                }
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

    const BCRYPT: &str = "$2b$10$abcdefghijklmnopqrstuuJ1mMoYyTgd6u5o1Ms2v9Zc2Zp3yFqS6";

    fn run(store: &mut UserStore, file: &[Value], upsert: bool) -> (Summary, Vec<UserError>) {
        apply(file, upsert, &db(), store, 5_000, &mut Rng::new(2))
    }

    fn counts(s: &Summary) -> (u64, u64, u64) {
        (s.inserted, s.updated, s.failed)
    }

    #[test]
    fn an_upsert_without_email_verified_resets_it_to_false() {
        let mut store = UserStore::default();
        run(
            &mut store,
            &[json!({"email": "v@x.com", "email_verified": true})],
            false,
        );
        let verified = |store: &UserStore| {
            store.find_by_email_ci("v@x.com").unwrap().doc["email_verified"].clone()
        };
        assert_eq!(verified(&store), json!(true));
        run(
            &mut store,
            &[json!({"email": "v@x.com", "email_verified": true, "name": "V"})],
            true,
        );
        assert_eq!(verified(&store), json!(true));
        let (s, _) = run(
            &mut store,
            &[json!({"email": "v@x.com", "name": "W"})],
            true,
        );
        assert_eq!(counts(&s), (0, 1, 0));
        assert_eq!(verified(&store), json!(false));
    }

    #[test]
    fn a_hash_replaces_only_a_hash_that_was_imported() {
        let mut store = UserStore::default();
        let hash = json!({"algorithm": "md5", "hash": {"value": "00", "encoding": "hex"}});
        run(
            &mut store,
            &[
                json!({"email": "nohash@x.com"}),
                json!({"email": "hash@x.com", "custom_password_hash": hash}),
            ],
            false,
        );
        let (s, e) = run(
            &mut store,
            &[
                json!({"email": "nohash@x.com", "custom_password_hash": hash}),
                json!({"email": "hash@x.com", "custom_password_hash": hash}),
            ],
            true,
        );
        assert_eq!(counts(&s), (0, 1, 1));
        let (s2, e2) = run(
            &mut store,
            &[json!({"email": "nohash@x.com", "password_hash": BCRYPT})],
            true,
        );
        assert_eq!(counts(&s2), (0, 0, 1));
        for err in e.iter().chain(&e2) {
            assert_eq!(err.user["email"], "nohash@x.com");
            assert_eq!(err.errors[0]["message"], HASH_DEFINED);
        }
    }

    #[test]
    fn unusable_mfa_factors_fail_the_user_but_keep_the_other_changes() {
        let mut store = UserStore::default();
        let (s, e) = run(
            &mut store,
            &[
                json!({"email": "m1@x.com", "mfa_factors": [{"totp": {"secret": "JBTWY3DPEHPK3PNP"}}]}),
                json!({"email": "m2@x.com", "mfa_factors": [{"totp": {"secret": "ABC"}}]}),
                json!({"email": "m3@x.com", "mfa_factors": [{"phone": {"value": "+12"}}]}),
            ],
            false,
        );
        assert_eq!(counts(&s), (1, 0, 2));
        assert_eq!(e[0].errors[0]["code"], "MFA_FACTORS_FAILED");
        assert_eq!(e[0].user["mfa_factors"][0]["totp"]["secret"], "ABC");
        let (s, _) = run(
            &mut store,
            &[
                json!({"email": "m1@x.com", "picture": "http://example.org/p.png", "mfa_factors": [{"phone": {"value": "+1"}}]}),
            ],
            true,
        );
        assert_eq!(counts(&s), (0, 0, 1));
        assert_eq!(
            store.find_by_email_ci("m1@x.com").unwrap().doc["picture"],
            "http://example.org/p.png"
        );
    }

    #[test]
    fn refusals_read_as_auth0_writes_them() {
        let mut store = UserStore::default();
        let (s, e) = run(
            &mut store,
            &[
                json!({"email": "p@x.com", "password_hash": format!("$2b$10${}", "!".repeat(53))}),
                json!({"email": "a@b.c"}),
                json!({"email": "ok@x.com", "custom_password_hash": {"algorithm": "scrypt",
                        "hash": {"value": "00", "encoding": "hex"}, "keylen": 32.0}}),
            ],
            false,
        );
        assert_eq!(counts(&s), (1, 0, 2));
        assert_eq!(
            e[0].errors[0]["message"],
            "Error in passwordHash property - String does not match pattern ^\\$2[ab]?\\$10+\\$[./A-Za-z0-9]{53}$"
        );
        assert_eq!(e[0].errors[0]["path"], "password_hash");
        assert_eq!(e[1].errors[0]["code"], "FORMAT");
        assert_eq!(
            e[1].errors[0]["message"],
            "Error in email property - Object didn't pass validation for format email: a@b.c"
        );
    }

    #[test]
    fn inserts_updates_and_fails_every_user() {
        let mut store = UserStore::default();
        let mut rng = Rng::new(1);
        let file = vec![
            json!({"email": "a@x.com", "user_id": "abc", "user_metadata": {"k": 1}}),
            json!({"email": "b@x.com", "password_hash": BCRYPT}),
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
