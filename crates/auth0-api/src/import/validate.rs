//! The project's own validator for bulk-import records, written from Auth0's bulk-import JSON
//! schema (`shared/auth0-recordings/docs-v2/bulk-user-import-schema.json`) plus what Auth0 only
//! rejects later, user by user: forbidden `app_metadata` keys, `.`/`$` in metadata keys,
//! `password_hash` with `custom_password_hash`, the `auth0|` prefix on `user_id`, and duplicates
//! inside one batch. Every problem names the record's index and the path inside it.
//!
//! Codes follow Auth0's (`INVALID_TYPE`, `OBJECT_REQUIRED`, `FORMAT`, `PATTERN`, `ENUM_MISMATCH`,
//! `MAX_LENGTH`, `ARRAY_LENGTH_SHORT`, `ARRAY_LENGTH_LONG`, `MINIMUM`) where Auth0 has one; the
//! others are ours: `ADDITIONAL_PROPERTY`, `FORBIDDEN_KEY`, `INVALID_KEY`, `MUTUALLY_EXCLUSIVE`,
//! `USER_ID_PREFIX`, `DUPLICATE_IN_BATCH`, `RECORD_TOO_LARGE`.

use serde_json::{Map, Value};
use std::collections::HashMap;

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

const STRING_FIELDS: &[(&str, Option<usize>)] = &[
    ("email", Some(254)),
    ("phone_number", None),
    ("user_id", Some(255)),
    ("username", Some(128)),
    ("given_name", Some(150)),
    ("family_name", Some(150)),
    ("name", Some(300)),
    ("nickname", Some(300)),
    ("picture", Some(2048)),
    ("password_hash", None),
];
const BOOL_FIELDS: &[&str] = &["email_verified", "phone_verified", "blocked"];

/// Keys Auth0 refuses in `app_metadata` (they would shadow its own attributes).
pub const FORBIDDEN_APP_METADATA: &[&str] = &[
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

const ALGORITHMS: &[&str] = &[
    "argon2", "bcrypt", "hmac", "ldap", "md4", "md5", "sha1", "sha256", "sha512", "pbkdf2",
    "scrypt",
];
const ENCODINGS: &[&str] = &["base64", "hex", "utf8"];
const DIGESTS: &[&str] = &[
    "md4",
    "md5",
    "ripemd160",
    "sha1",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "whirlpool",
];
const PASSWORD_ENCODINGS: &[&str] = &["ascii", "utf8", "utf16le", "ucs2", "latin1", "binary"];
const LDAP_SCHEMES: &[&str] = &[
    "md5", "smd5", "sha", "ssha", "sha256", "ssha256", "sha384", "ssha384", "sha512", "ssha512",
];

struct Ctx<'a> {
    index: usize,
    out: &'a mut Vec<Problem>,
}

impl Ctx<'_> {
    fn add(&mut self, path: impl Into<String>, code: &'static str, message: impl Into<String>) {
        self.out.push(Problem {
            index: self.index,
            path: path.into(),
            code,
            message: message.into(),
        });
    }
}

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

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The e-mail shape the import accepts: `local@domain.tld`, no spaces, Auth0's lengths.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && s.len() <= 254
        && !local.contains('@')
        && domain.contains('.')
        && !domain.starts_with(['.', '-'])
        && !domain.ends_with(['.', '-'])
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
        && !local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\\' || c == ',')
}

fn is_e164(s: &str) -> bool {
    s.len() >= 2
        && s.len() <= 16
        && s.starts_with('+')
        && s[1..].chars().all(|c| c.is_ascii_digit())
}

fn expect<'v>(c: &mut Ctx, path: &str, v: &'v Value, want: &'static str) -> Option<&'v Value> {
    let ok = match want {
        "integer" => v.is_i64() || v.is_u64(),
        t => type_name(v) == t,
    };
    if ok {
        Some(v)
    } else {
        c.add(
            path,
            "INVALID_TYPE",
            format!("expected {want} but found {}", type_name(v)),
        );
        None
    }
}

fn enum_check(c: &mut Ctx, path: &str, v: &Value, allowed: &[&str]) -> Option<String> {
    let s = expect(c, path, v, "string")?.as_str()?.to_string();
    if allowed.contains(&s.as_str()) {
        Some(s)
    } else {
        c.add(
            path,
            "ENUM_MISMATCH",
            format!("'{s}' is not one of: {}", allowed.join(", ")),
        );
        None
    }
}

fn no_extra(c: &mut Ctx, path: &str, obj: &Map<String, Value>, allowed: &[&str]) {
    for k in obj.keys() {
        if !allowed.contains(&k.as_str()) {
            c.add(
                join(path, k),
                "ADDITIONAL_PROPERTY",
                format!(
                    "unknown property '{k}' (allowed here: {})",
                    allowed.join(", ")
                ),
            );
        }
    }
}

/// Metadata keys: no `.` or `$` anywhere in the tree (Auth0 cannot store them).
fn metadata_keys(c: &mut Ctx, path: &str, v: &Value) {
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                let p = join(path, k);
                if k.contains('.') || k.contains('$') {
                    c.add(
                        p.clone(),
                        "INVALID_KEY",
                        format!("metadata key '{k}' must not contain '.' or '$'"),
                    );
                }
                metadata_keys(c, &p, child);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                metadata_keys(c, &format!("{path}[{i}]"), item);
            }
        }
        _ => {}
    }
}

fn custom_password_hash(c: &mut Ctx, v: &Value) {
    let path = "custom_password_hash";
    let Some(Value::Object(h)) = expect(c, path, v, "object") else {
        return;
    };
    no_extra(
        c,
        path,
        h,
        &[
            "algorithm",
            "hash",
            "salt",
            "password",
            "keylen",
            "cost",
            "blockSize",
            "parallelization",
        ],
    );
    let algorithm = match h.get("algorithm") {
        None => {
            c.add(
                join(path, "algorithm"),
                "OBJECT_REQUIRED",
                "missing required property 'algorithm'",
            );
            None
        }
        Some(a) => enum_check(c, &join(path, "algorithm"), a, ALGORITHMS),
    };
    let hash = match h.get("hash") {
        None => {
            c.add(
                join(path, "hash"),
                "OBJECT_REQUIRED",
                "missing required property 'hash'",
            );
            None
        }
        Some(x) => expect(c, &join(path, "hash"), x, "object").and_then(Value::as_object),
    };
    let mut encoding = None;
    let mut value = None;
    if let Some(hash) = hash {
        let hp = join(path, "hash");
        no_extra(c, &hp, hash, &["value", "encoding", "digest", "key"]);
        match hash.get("value") {
            None => c.add(
                join(&hp, "value"),
                "OBJECT_REQUIRED",
                "missing required property 'value'",
            ),
            Some(v) => value = expect(c, &join(&hp, "value"), v, "string").and_then(Value::as_str),
        }
        if let Some(e) = hash.get("encoding") {
            encoding = enum_check(c, &join(&hp, "encoding"), e, ENCODINGS);
        }
        if let Some(d) = hash.get("digest") {
            enum_check(c, &join(&hp, "digest"), d, DIGESTS);
        }
        if let Some(k) = hash.get("key") {
            let kp = join(&hp, "key");
            if let Some(Value::Object(key)) = expect(c, &kp, k, "object") {
                no_extra(c, &kp, key, &["value", "encoding"]);
                match key.get("value") {
                    None => c.add(
                        join(&kp, "value"),
                        "OBJECT_REQUIRED",
                        "missing required property 'value'",
                    ),
                    Some(v) => {
                        expect(c, &join(&kp, "value"), v, "string");
                    }
                }
                if let Some(e) = key.get("encoding") {
                    enum_check(c, &join(&kp, "encoding"), e, ENCODINGS);
                }
            }
        }
    }
    if let Some(s) = h.get("salt") {
        let sp = join(path, "salt");
        if let Some(Value::Object(salt)) = expect(c, &sp, s, "object") {
            no_extra(c, &sp, salt, &["value", "encoding", "position"]);
            match salt.get("value") {
                None => c.add(
                    join(&sp, "value"),
                    "OBJECT_REQUIRED",
                    "missing required property 'value'",
                ),
                Some(v) => {
                    expect(c, &join(&sp, "value"), v, "string");
                }
            }
            if let Some(e) = salt.get("encoding") {
                enum_check(c, &join(&sp, "encoding"), e, ENCODINGS);
            }
            if let Some(p) = salt.get("position") {
                enum_check(c, &join(&sp, "position"), p, &["prefix", "suffix"]);
            }
        }
    }
    if let Some(p) = h.get("password") {
        let pp = join(path, "password");
        if let Some(Value::Object(pw)) = expect(c, &pp, p, "object") {
            no_extra(c, &pp, pw, &["encoding"]);
            if let Some(e) = pw.get("encoding") {
                enum_check(c, &join(&pp, "encoding"), e, PASSWORD_ENCODINGS);
            }
        }
    }
    for k in ["keylen", "cost", "blockSize", "parallelization"] {
        if let Some(v) = h.get(k) {
            let kp = join(path, k);
            if let Some(n) = expect(c, &kp, v, "integer").and_then(Value::as_i64) {
                if n < 1 {
                    c.add(kp, "MINIMUM", format!("{k} must be a positive integer"));
                } else if k == "cost" && (n < 2 || n & (n - 1) != 0) {
                    c.add(
                        kp,
                        "MINIMUM",
                        "cost must be a power of two greater than one",
                    );
                }
            }
        }
    }
    // Per-algorithm rules (reference §7).
    let Some(alg) = algorithm else { return };
    let enc_rule: &[&str] = match alg.as_str() {
        "argon2" | "bcrypt" | "ldap" | "pbkdf2" => &["utf8"],
        _ => &["hex", "base64"],
    };
    let enc = encoding.as_deref().unwrap_or("utf8");
    if !enc_rule.contains(&enc) {
        c.add(
            "custom_password_hash.hash.encoding",
            "ENUM_MISMATCH",
            format!("{alg} hashes must use encoding {}", enc_rule.join(" or ")),
        );
    }
    if matches!(alg.as_str(), "argon2" | "ldap" | "pbkdf2") && h.contains_key("salt") {
        c.add(
            "custom_password_hash.salt",
            "ADDITIONAL_PROPERTY",
            format!("{alg} hashes carry their salt; 'salt' is not allowed"),
        );
    }
    let hash_obj = hash.cloned().unwrap_or_default();
    match alg.as_str() {
        "hmac" => {
            if !hash_obj.contains_key("digest") {
                c.add(
                    "custom_password_hash.hash.digest",
                    "OBJECT_REQUIRED",
                    "hmac hashes need hash.digest",
                );
            }
            if !hash_obj.contains_key("key") {
                c.add(
                    "custom_password_hash.hash.key",
                    "OBJECT_REQUIRED",
                    "hmac hashes need hash.key",
                );
            }
        }
        "scrypt" if !h.contains_key("keylen") => c.add(
            "custom_password_hash.keylen",
            "OBJECT_REQUIRED",
            "scrypt hashes need keylen",
        ),
        _ => {}
    }
    if let Some(v) = value {
        let vp = "custom_password_hash.hash.value";
        match alg.as_str() {
            "bcrypt"
                if !(v.starts_with("$2a$") || v.starts_with("$2b$") || v.starts_with("$2y$")) =>
            {
                c.add(vp, "PATTERN", "bcrypt hashes start with $2a$, $2b$ or $2y$")
            }
            "argon2" if !v.starts_with("$argon2") => {
                c.add(vp, "PATTERN", "argon2 hashes are PHC strings ($argon2...)")
            }
            "pbkdf2" if !v.starts_with("$pbkdf2-") => c.add(
                vp,
                "PATTERN",
                "pbkdf2 hashes are PHC strings ($pbkdf2-<digest>$...)",
            ),
            "ldap" => {
                let scheme = v
                    .strip_prefix('{')
                    .and_then(|r| r.split_once('}'))
                    .map(|(s, _)| s.to_lowercase());
                if !scheme.is_some_and(|s| LDAP_SCHEMES.contains(&s.as_str())) {
                    c.add(vp, "PATTERN", "ldap hashes are RFC 2307 strings such as {SSHA}...; {CRYPT} is not supported");
                }
            }
            _ => {}
        }
    }
}

fn mfa_factors(c: &mut Ctx, v: &Value) {
    let Some(Value::Array(items)) = expect(c, "mfa_factors", v, "array") else {
        return;
    };
    if items.is_empty() {
        c.add("mfa_factors", "ARRAY_LENGTH_SHORT", "at least 1 factor");
    }
    if items.len() > 10 {
        c.add("mfa_factors", "ARRAY_LENGTH_LONG", "at most 10 factors");
    }
    for (i, item) in items.iter().enumerate() {
        let p = format!("mfa_factors[{i}]");
        let Some(Value::Object(f)) = expect(c, &p, item, "object") else {
            continue;
        };
        no_extra(c, &p, f, &["totp", "phone", "email"]);
        if f.len() != 1 {
            c.add(
                p.clone(),
                "INVALID_TYPE",
                "a factor is exactly one of totp, phone or email",
            );
        }
        for (kind, field) in [("totp", "secret"), ("phone", "value"), ("email", "value")] {
            let Some(inner) = f.get(kind) else { continue };
            let kp = format!("{p}.{kind}");
            let Some(Value::Object(o)) = expect(c, &kp, inner, "object") else {
                continue;
            };
            no_extra(c, &kp, o, &[field]);
            let fp = format!("{kp}.{field}");
            match o.get(field) {
                None => c.add(
                    fp,
                    "OBJECT_REQUIRED",
                    format!("missing required property '{field}'"),
                ),
                Some(x) => {
                    let Some(s) = expect(c, &fp, x, "string").and_then(Value::as_str) else {
                        continue;
                    };
                    let ok = match kind {
                        "totp" => {
                            !s.is_empty()
                                && s.chars()
                                    .all(|ch| ch.is_ascii_uppercase() || ('2'..='7').contains(&ch))
                        }
                        "phone" => is_e164(s),
                        _ => is_email(s),
                    };
                    if !ok {
                        let what = match kind {
                            "totp" => "an unpadded base32 secret (A-Z, 2-7)",
                            "phone" => "an E.164 number such as +12125550001",
                            _ => "an e-mail address",
                        };
                        c.add(
                            fp,
                            if kind == "email" { "FORMAT" } else { "PATTERN" },
                            format!("must be {what}"),
                        );
                    }
                }
            }
        }
    }
}

/// Every problem of one record (cross-record rules aside).
pub fn validate_record(index: usize, v: &Value, out: &mut Vec<Problem>) {
    let mut c = Ctx { index, out };
    let Value::Object(u) = v else {
        c.add(
            "",
            "INVALID_TYPE",
            format!("each user must be a JSON object, not {}", type_name(v)),
        );
        return;
    };
    let mut known: Vec<&str> = STRING_FIELDS.iter().map(|(k, _)| *k).collect();
    known.extend(BOOL_FIELDS);
    known.extend([
        "custom_password_hash",
        "app_metadata",
        "user_metadata",
        "mfa_factors",
    ]);
    no_extra(&mut c, "", u, &known);
    if !u.contains_key("email") {
        c.add(
            "email",
            "OBJECT_REQUIRED",
            "missing required property 'email'",
        );
    }
    for (k, max) in STRING_FIELDS {
        let Some(v) = u.get(*k) else { continue };
        let Some(s) = expect(&mut c, k, v, "string").and_then(Value::as_str) else {
            continue;
        };
        if let Some(max) = max {
            if s.chars().count() > *max {
                c.add(*k, "MAX_LENGTH", format!("longer than {max} characters"));
            }
        }
        if s.is_empty() && *k != "password_hash" {
            c.add(*k, "MIN_LENGTH", "must not be empty");
        }
    }
    for k in BOOL_FIELDS {
        if let Some(v) = u.get(*k) {
            expect(&mut c, k, v, "boolean");
        }
    }
    if let Some(Value::String(e)) = u.get("email") {
        if !is_email(e) {
            c.add(
                "email",
                "FORMAT",
                format!("'{e}' is not a valid e-mail address"),
            );
        }
    }
    if let Some(Value::String(p)) = u.get("phone_number") {
        if !is_e164(p) {
            c.add(
                "phone_number",
                "PATTERN",
                "must be in E.164 format, such as +12125550001",
            );
        }
    }
    if let Some(Value::String(id)) = u.get("user_id") {
        if id.starts_with("auth0|") {
            c.add(
                "user_id",
                "USER_ID_PREFIX",
                format!("remove the 'auth0|' prefix: Auth0 adds it, so '{id}' would become 'auth0|{id}'"),
            );
        }
    }
    if let Some(Value::String(h)) = u.get("password_hash") {
        let ok = h.len() == 60 && (h.starts_with("$2a$10$") || h.starts_with("$2b$10$"));
        if !ok {
            c.add("password_hash", "PATTERN", "password_hash must be a bcrypt hash ($2a$ or $2b$) with 10 salt rounds; use custom_password_hash for other hashes");
        }
    }
    if u.contains_key("password_hash") && u.contains_key("custom_password_hash") {
        c.add(
            "custom_password_hash",
            "MUTUALLY_EXCLUSIVE",
            "password_hash and custom_password_hash cannot be used together",
        );
    }
    if let Some(v) = u.get("custom_password_hash") {
        custom_password_hash(&mut c, v);
    }
    for k in ["app_metadata", "user_metadata"] {
        let Some(v) = u.get(k) else { continue };
        if expect(&mut c, k, v, "object").is_none() {
            continue;
        }
        metadata_keys(&mut c, k, v);
    }
    if let Some(Value::Object(m)) = u.get("app_metadata") {
        for key in m
            .keys()
            .filter(|key| FORBIDDEN_APP_METADATA.contains(&key.as_str()))
        {
            c.add(
                format!("app_metadata.{key}"),
                "FORBIDDEN_KEY",
                format!("app_metadata must not contain '{key}' (reserved by Auth0)"),
            );
        }
    }
    if let Some(v) = u.get("mfa_factors") {
        mfa_factors(&mut c, v);
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

/// Every problem of every record, including duplicates across the batch (e-mail and username
/// compared case-insensitively, `user_id` exactly) and records too large for any import file.
pub fn validate(users: &[Value]) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut seen: HashMap<(&'static str, String), usize> = HashMap::new();
    for (i, u) in users.iter().enumerate() {
        validate_record(i, u, &mut out);
        let size = serialized_len(u);
        if size + 2 > super::MAX_FILE_BYTES {
            out.push(Problem {
                index: i,
                path: String::new(),
                code: "RECORD_TOO_LARGE",
                message: format!(
                    "the record takes {size} bytes; an Auth0 import file holds at most {} bytes",
                    super::MAX_FILE_BYTES
                ),
            });
        }
        for (field, fold) in [("email", true), ("user_id", false), ("username", true)] {
            let Some(Value::String(s)) = u.get(field) else {
                continue;
            };
            let key = if fold { s.to_lowercase() } else { s.clone() };
            match seen.get(&(field, key.clone())) {
                Some(&first) => out.push(Problem {
                    index: i,
                    path: field.to_string(),
                    code: "DUPLICATE_IN_BATCH",
                    message: format!("the same {field} as the user at input index {first}"),
                }),
                None => {
                    seen.insert((field, key), i);
                }
            }
        }
    }
    out.sort_by_key(|p| p.index);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(v: Value) -> Vec<(String, &'static str)> {
        let mut out = Vec::new();
        validate_record(0, &v, &mut out);
        out.into_iter().map(|p| (p.path, p.code)).collect()
    }

    #[test]
    fn a_good_record_passes() {
        let u = json!({
            "email": "ada@example.com", "email_verified": true, "user_id": "ada-1", "username": "ada",
            "given_name": "Ada", "family_name": "Lovelace", "name": "Ada Lovelace", "nickname": "ada",
            "picture": "https://example.com/a.png", "blocked": false, "phone_number": "+12125550001",
            "app_metadata": {"plan": "gold", "roles": ["admin"]}, "user_metadata": {"theme": "dark"},
            "custom_password_hash": {"algorithm": "hmac", "hash": {"value": "abc", "encoding": "hex", "digest": "sha256", "key": {"value": "k"}}},
            "mfa_factors": [{"totp": {"secret": "JBTWY3DPEHPK3PNP"}}, {"phone": {"value": "+12125550001"}}]
        });
        assert_eq!(problems(u), vec![]);
        let bcrypt = json!({"email": "b@example.com", "password_hash": "$2b$10$abcdefghijklmnopqrstuuJ1mMoYyTgd6u5o1Ms2v9Zc2Zp3yFqS6"});
        assert_eq!(problems(bcrypt), vec![]);
    }

    #[test]
    fn every_kind_of_problem_is_named() {
        let cases: Vec<(Value, (&str, &str))> = vec![
            (json!("x"), ("", "INVALID_TYPE")),
            (json!({}), ("email", "OBJECT_REQUIRED")),
            (json!({"email": "nope"}), ("email", "FORMAT")),
            (
                json!({"email": "a@b.co", "email_verified": "yes"}),
                ("email_verified", "INVALID_TYPE"),
            ),
            (
                json!({"email": "a@b.co", "connection": "x"}),
                ("connection", "ADDITIONAL_PROPERTY"),
            ),
            (
                json!({"email": "a@b.co", "user_id": "auth0|123"}),
                ("user_id", "USER_ID_PREFIX"),
            ),
            (
                json!({"email": "a@b.co", "phone_number": "555-1234"}),
                ("phone_number", "PATTERN"),
            ),
            (
                json!({"email": "a@b.co", "app_metadata": {"email": "x"}}),
                ("app_metadata.email", "FORBIDDEN_KEY"),
            ),
            (
                json!({"email": "a@b.co", "user_metadata": {"a": {"b.c": 1}}}),
                ("user_metadata.a.b.c", "INVALID_KEY"),
            ),
            (
                json!({"email": "a@b.co", "app_metadata": {"$set": 1}}),
                ("app_metadata.$set", "INVALID_KEY"),
            ),
            (
                json!({"email": "a@b.co", "password_hash": "plain"}),
                ("password_hash", "PATTERN"),
            ),
            (
                json!({"email": "a@b.co", "given_name": "x".repeat(151)}),
                ("given_name", "MAX_LENGTH"),
            ),
            (
                json!({"email": "a@b.co", "custom_password_hash": {"algorithm": "rot13", "hash": {"value": "x"}}}),
                ("custom_password_hash.algorithm", "ENUM_MISMATCH"),
            ),
            (
                json!({"email": "a@b.co", "custom_password_hash": {"algorithm": "md5"}}),
                ("custom_password_hash.hash", "OBJECT_REQUIRED"),
            ),
            (
                json!({"email": "a@b.co", "custom_password_hash": {"algorithm": "bcrypt", "hash": {"value": "$sha1$x"}}}),
                ("custom_password_hash.hash.value", "PATTERN"),
            ),
            (
                json!({"email": "a@b.co", "custom_password_hash": {"algorithm": "hmac", "hash": {"value": "x", "encoding": "hex"}}}),
                ("custom_password_hash.hash.digest", "OBJECT_REQUIRED"),
            ),
            (
                json!({"email": "a@b.co", "custom_password_hash": {"algorithm": "md5", "hash": {"value": "x", "encoding": "utf8"}}}),
                ("custom_password_hash.hash.encoding", "ENUM_MISMATCH"),
            ),
            (
                json!({"email": "a@b.co", "custom_password_hash": {"algorithm": "scrypt", "hash": {"value": "x", "encoding": "hex"}, "keylen": 64, "cost": 1000}}),
                ("custom_password_hash.cost", "MINIMUM"),
            ),
            (
                json!({"email": "a@b.co", "custom_password_hash": {"algorithm": "ldap", "hash": {"value": "{CRYPT}x"}}}),
                ("custom_password_hash.hash.value", "PATTERN"),
            ),
            (
                json!({"email": "a@b.co", "mfa_factors": []}),
                ("mfa_factors", "ARRAY_LENGTH_SHORT"),
            ),
            (
                json!({"email": "a@b.co", "mfa_factors": [{"totp": {"secret": "lower"}}]}),
                ("mfa_factors[0].totp.secret", "PATTERN"),
            ),
            (
                json!({"email": "a@b.co", "mfa_factors": [{"sms": {}}]}),
                ("mfa_factors[0].sms", "ADDITIONAL_PROPERTY"),
            ),
        ];
        for (v, (path, code)) in cases {
            let p = problems(v.clone());
            assert!(
                p.iter().any(|(pp, cc)| pp == path && *cc == code),
                "{v}: wanted {path} {code}, got {p:?}"
            );
        }
        let both = problems(
            json!({"email": "a@b.co", "password_hash": "$2b$10$abcdefghijklmnopqrstuuJ1mMoYyTgd6u5o1Ms2v9Zc2Zp3yFqS6",
                                    "custom_password_hash": {"algorithm": "md5", "hash": {"value": "00", "encoding": "hex"}}}),
        );
        assert!(
            both.contains(&("custom_password_hash".to_string(), "MUTUALLY_EXCLUSIVE")),
            "{both:?}"
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
    }
}
