//! Bulk-import records checked before anything is sent: each record as Auth0 judges it
//! ([`auth0_rules`]: Auth0's published schema, what it enforces beyond it, its e-mail format),
//! plus what only a client can see: the `auth0|` prefix on `user_id` (Auth0 would store
//! `auth0|auth0|...`), duplicates inside one batch, and records too large for any import file.
//! Every problem names the record's index and the path inside it.
//!
//! Codes are Auth0's (`INVALID_TYPE`, `OBJECT_REQUIRED`, `FORMAT`, `PATTERN`, `ENUM_MISMATCH`,
//! `MAX_LENGTH`, `ARRAY_LENGTH_SHORT`, `NOT_PASSED`, ...; see `auth0_rules::schema`); ours are
//! `FORBIDDEN_KEY`, `INVALID_KEY`, `USER_ID_PREFIX`, `DUPLICATE_IN_BATCH`, `RECORD_TOO_LARGE`.

use serde_json::Value;
use std::collections::HashMap;

pub use auth0_rules::{is_email, FORBIDDEN_APP_METADATA};

/// One problem with one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Position of the record in the input array (0-based).
    pub index: usize,
    /// Where in the record (`email`, `custom_password_hash.hash.value`, `mfa_factors[0].totp`);
    /// empty for the record itself.
    pub path: String,
    pub code: &'static str,
    pub message: String,
}

/// Every problem of one record (cross-record rules aside), appended to `out`.
pub fn validate_record(index: usize, v: &Value, out: &mut Vec<Problem>) {
    out.extend(
        auth0_rules::record_problems(v)
            .into_iter()
            .map(|p| Problem {
                index,
                path: p.path,
                code: p.code,
                message: p.message,
            }),
    );
    if let Some(Value::String(id)) = v.get("user_id") {
        if id.starts_with("auth0|") {
            let shown: String = id.chars().take(80).collect();
            out.push(Problem {
                index,
                path: "user_id".into(),
                code: "USER_ID_PREFIX",
                message: format!("remove the 'auth0|' prefix: Auth0 adds it, so '{shown}' would become 'auth0|{shown}'"),
            });
        }
    }
}

/// Bytes a record takes in an import file.
pub fn serialized_len(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

/// Checks records one at a time, in input order, remembering what the rules across records
/// need: the e-mails and usernames (compared case-insensitively) and the user ids seen so far.
///
/// Each is remembered as a 128-bit hash (two SipHash-1-3 under random keys) with its record's
/// index: 30 to 60 bytes per key (the table doubles as it grows) whatever the key's length, so a
/// stream of millions of records can be checked (`INSERT`/`COPY` into `auth0.users`). Two different keys share a hash with a
/// probability of about n²/2¹²⁹ for n keys: never, in practice.
pub struct Validator {
    seen: HashMap<u128, usize>,
    keys: (
        std::collections::hash_map::RandomState,
        std::collections::hash_map::RandomState,
    ),
    /// Remember the keys of records with problems too (a batch reported as a whole), or only
    /// of records accepted (a stream, where a refused record is not part of what is sent).
    remember_refused: bool,
}

impl Default for Validator {
    fn default() -> Self {
        Self::new()
    }
}

impl Validator {
    /// For a batch checked as a whole (`validate`): an invalid record's keys count too, so that
    /// every problem is listed at once.
    pub fn new() -> Self {
        Validator {
            seen: HashMap::new(),
            keys: Default::default(),
            remember_refused: true,
        }
    }

    /// For a stream where a record with problems is refused and left out: its keys are not
    /// remembered, so a later record may use them.
    pub fn for_stream() -> Self {
        Validator {
            remember_refused: false,
            ..Self::new()
        }
    }

    fn key(&self, field: &str, value: &str) -> u128 {
        use std::hash::BuildHasher;
        let a = self.keys.0.hash_one((field, value));
        let b = self.keys.1.hash_one((field, value));
        (u128::from(a) << 64) | u128::from(b)
    }

    /// Every problem of the record at `index` (given the records checked before it), appended
    /// to `out`: Auth0's rules, the `auth0|` prefix, a record too large for any import file, and
    /// an e-mail, username or user id already used by an earlier record.
    pub fn check(&mut self, index: usize, u: &Value, out: &mut Vec<Problem>) {
        let before = out.len();
        validate_record(index, u, out);
        let size = serialized_len(u);
        if size + 2 > super::MAX_FILE_BYTES {
            out.push(Problem {
                index,
                path: String::new(),
                code: "RECORD_TOO_LARGE",
                message: format!(
                    "the record takes {size} bytes; an Auth0 import file holds at most {} bytes",
                    super::MAX_FILE_BYTES
                ),
            });
        }
        let mut new_keys = Vec::new();
        for (field, fold) in [("email", true), ("user_id", false), ("username", true)] {
            let Some(Value::String(s)) = u.get(field) else {
                continue;
            };
            let key = if fold {
                self.key(field, &s.to_lowercase())
            } else {
                self.key(field, s)
            };
            match self.seen.get(&key) {
                Some(&first) => out.push(Problem {
                    index,
                    path: field.to_string(),
                    code: "DUPLICATE_IN_BATCH",
                    message: format!("the same {field} as the user at input index {first}"),
                }),
                None => new_keys.push(key),
            }
        }
        if self.remember_refused || out.len() == before {
            for key in new_keys {
                self.seen.insert(key, index);
            }
        }
    }
}

/// Every problem of every record, including duplicates across the batch (e-mail and username
/// compared case-insensitively, `user_id` exactly) and records too large for any import file.
pub fn validate(users: &[Value]) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut v = Validator::new();
    for (i, u) in users.iter().enumerate() {
        v.check(i, u, &mut out);
    }
    out.sort_by_key(|p| p.index);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn auth0s_rules_and_the_user_id_prefix() {
        let mut out = Vec::new();
        validate_record(
            3,
            &json!({"email": "a@b.c", "user_id": "auth0|123"}),
            &mut out,
        );
        let got: Vec<(usize, &str, &str)> = out
            .iter()
            .map(|p| (p.index, p.path.as_str(), p.code))
            .collect();
        assert_eq!(
            got,
            vec![(3, "email", "FORMAT"), (3, "user_id", "USER_ID_PREFIX")]
        );
    }

    #[test]
    fn duplicates_across_the_batch() {
        let users = vec![
            json!({"email": "A@x.com", "user_id": "1"}),
            json!({"email": "a@X.com"}),
            json!({"email": "b@x.com", "user_id": "1", "username": "Bob"}),
            json!({"email": "c@x.com", "username": "bob"}),
        ];
        let p = validate(&users);
        let got: Vec<(usize, &str, &str)> = p
            .iter()
            .map(|p| (p.index, p.path.as_str(), p.code))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "email", "DUPLICATE_IN_BATCH"),
                (2, "user_id", "DUPLICATE_IN_BATCH"),
                (3, "username", "DUPLICATE_IN_BATCH")
            ]
        );
        assert!(p[0].message.contains("input index 0"));
        // The same, one record at a time.
        let mut v = Validator::new();
        let mut streamed = Vec::new();
        for (i, u) in users.iter().enumerate() {
            v.check(i, u, &mut streamed);
        }
        assert_eq!(streamed, p);
    }

    #[test]
    fn a_stream_forgets_refused_records() {
        let mut v = Validator::for_stream();
        let mut out = Vec::new();
        v.check(0, &json!({"email": "a@x.com", "username": "ab"}), &mut out);
        // Refused (a bad user_id type): its e-mail stays free.
        v.check(1, &json!({"email": "b@x.com", "user_id": 5}), &mut out);
        assert_eq!(out.len(), 1);
        out.clear();
        v.check(2, &json!({"email": "B@x.com"}), &mut out);
        assert!(out.is_empty(), "{out:?}");
        v.check(3, &json!({"email": "c@x.com", "username": "AB"}), &mut out);
        assert_eq!(out[0].code, "DUPLICATE_IN_BATCH");
        assert!(out[0].message.contains("input index 0"));
    }
}
