//! Records as Auth0 judges them: the cases users report in public threads, each with the
//! answer Auth0 gives, and one case per kind of rule.

use auth0_rules::record_problems;
use serde_json::{json, Value};

fn problems(v: Value) -> Vec<(String, &'static str)> {
    record_problems(&v)
        .into_iter()
        .map(|p| (p.path, p.code))
        .collect()
}

fn one(path: &str, code: &'static str) -> Vec<(String, &'static str)> {
    vec![(path.to_string(), code)]
}

const BCRYPT_OK: &str = "$2b$10$abcdefghijklmnopqrstuuJ1mMoYyTgd6u5o1Ms2v9Zc2Zp3yFqS6";

#[test]
fn a_complete_good_record_passes() {
    let u = json!({
        "email": "ada@example.com", "email_verified": true, "user_id": "ada-1", "username": "ada",
        "given_name": "Ada", "family_name": "Lovelace", "name": "Ada Lovelace", "nickname": "ada",
        "picture": "https://example.com/a.png", "blocked": false, "phone_number": "+12125550001",
        "phone_verified": false, "app_metadata": {"plan": "gold", "roles": ["admin"]},
        "user_metadata": {"theme": "dark"},
        "custom_password_hash": {"algorithm": "hmac", "hash": {"value": "abc", "encoding": "hex", "digest": "sha256", "key": {"value": "k"}}},
        "mfa_factors": [{"totp": {"secret": "JBTWY3DPEHPK3PNP"}}, {"phone": {"value": "+12125550001"}}, {"email": {"value": "ada@example.com"}}]
    });
    assert_eq!(problems(u), vec![]);
    assert_eq!(
        problems(json!({"email": "b@example.com", "password_hash": BCRYPT_OK})),
        vec![]
    );
    assert_eq!(
        problems(
            json!({"email": "b@example.com", "password_hash": BCRYPT_OK.replace("$2b$", "$2a$")})
        ),
        vec![]
    );
}

/// Issue case 1: the pattern Auth0's server enforces, `^\$2[ab]?\$10+\$[./A-Za-z0-9]{53}$`.
#[test]
fn password_hash_must_match_auth0s_bcrypt_pattern() {
    let with = |c: &str| format!("$2b$10${}{c}", &BCRYPT_OK[7..59]);
    for bad in [
        with("+"),
        with("="),
        format!("$2b$10${}", "!".repeat(53)),
        format!("$2b$12${}", &BCRYPT_OK[7..]),
        format!("$2y$10${}", &BCRYPT_OK[7..]),
        BCRYPT_OK[..59].to_string(),
        "plain".into(),
    ] {
        let p = record_problems(&json!({"email": "a@example.com", "password_hash": bad}));
        assert_eq!(
            p.iter()
                .map(|p| (p.path.as_str(), p.code))
                .collect::<Vec<_>>(),
            vec![("password_hash", "PATTERN")],
            "{bad}"
        );
        assert!(
            !p[0].message.contains(&bad),
            "the hash is echoed: {}",
            p[0].message
        );
    }
    assert_eq!(with("+").len(), 60);
}

/// Issue case 2: e-mail addresses as validator.js `isEmail` with default options judges them,
/// everywhere an e-mail is checked.
#[test]
fn emails_follow_is_email() {
    for bad in [
        "a@b.c",
        "a..b@example.com",
        ".a@example.com",
        "a.@example.com",
    ] {
        assert_eq!(
            problems(json!({"email": bad})),
            one("email", "FORMAT"),
            "{bad}"
        );
        assert_eq!(
            problems(
                json!({"email": "ok@example.com", "mfa_factors": [{"email": {"value": bad}}]})
            ),
            one("mfa_factors[0].email.value", "FORMAT"),
            "{bad}"
        );
    }
    for ok in ["o'brien+news@example.com", "josé@example.com"] {
        assert_eq!(problems(json!({"email": ok})), vec![], "{ok}");
    }
    let p = record_problems(&json!({"email": "a@b.c"}));
    assert_eq!(
        p[0].message,
        "Object didn't pass validation for format email: a@b.c"
    );
}

/// Issue case 3: JSON Schema's `integer` accepts 32.0.
#[test]
fn integers_may_be_written_with_a_zero_fraction() {
    let scrypt = |keylen: Value, cost: Value| {
        json!({"email": "a@example.com", "custom_password_hash": {"algorithm": "scrypt",
               "hash": {"value": "00", "encoding": "hex"}, "keylen": keylen, "cost": cost}})
    };
    assert_eq!(problems(scrypt(json!(32.0), json!(16384.0))), vec![]);
    assert_eq!(problems(scrypt(json!(32), json!(16384))), vec![]);
    assert_eq!(
        problems(scrypt(json!(32.5), json!(16384))),
        one("custom_password_hash.keylen", "INVALID_TYPE")
    );
    assert_eq!(
        problems(scrypt(json!(0), json!(16384))),
        one("custom_password_hash.keylen", "MINIMUM")
    );
    assert_eq!(
        problems(scrypt(json!(32), json!(1000))),
        one("custom_password_hash.cost", "MINIMUM")
    );
    assert_eq!(
        problems(scrypt(json!(32), json!(1))),
        one("custom_password_hash.cost", "MINIMUM")
    );
}

#[test]
fn every_kind_of_rule_has_its_code_and_path() {
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
            ("connection", "OBJECT_ADDITIONAL_PROPERTIES"),
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
            json!({"email": "a@b.co", "app_metadata": []}),
            ("app_metadata", "INVALID_TYPE"),
        ),
        (
            json!({"email": "a@b.co", "given_name": "x".repeat(151)}),
            ("given_name", "MAX_LENGTH"),
        ),
        (
            json!({"email": "a@b.co", "username": ""}),
            ("username", "MIN_LENGTH"),
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
            json!({"email": "a@b.co", "custom_password_hash": {"algorithm": "md5", "hash": {"value": "x"}}}),
            ("custom_password_hash.hash.encoding", "OBJECT_REQUIRED"),
        ),
        (
            json!({"email": "a@b.co", "custom_password_hash": {"algorithm": "scrypt", "hash": {"value": "x", "encoding": "hex"}}}),
            ("custom_password_hash.keylen", "OBJECT_REQUIRED"),
        ),
        (
            json!({"email": "a@b.co", "custom_password_hash": {"algorithm": "ldap", "hash": {"value": "{CRYPT}x"}}}),
            ("custom_password_hash.hash.value", "PATTERN"),
        ),
        (
            json!({"email": "a@b.co", "custom_password_hash": {"algorithm": "argon2", "hash": {"value": "$argon2id$x"}, "salt": {"value": "s"}}}),
            ("custom_password_hash.salt", "NOT_PASSED"),
        ),
        (
            json!({"email": "a@b.co", "password_hash": BCRYPT_OK, "custom_password_hash": {"algorithm": "md5", "hash": {"value": "00", "encoding": "hex"}}}),
            ("custom_password_hash", "NOT_PASSED"),
        ),
        (
            json!({"email": "a@b.co", "mfa_factors": []}),
            ("mfa_factors", "ARRAY_LENGTH_SHORT"),
        ),
        (
            json!({"email": "a@b.co", "mfa_factors": vec![json!({"phone": {"value": "+1"}}); 11]}),
            ("mfa_factors", "ARRAY_LENGTH_LONG"),
        ),
        (
            json!({"email": "a@b.co", "mfa_factors": [{"totp": {"secret": "lower"}}]}),
            ("mfa_factors[0].totp.secret", "PATTERN"),
        ),
        (
            json!({"email": "a@b.co", "mfa_factors": [{"sms": {}}]}),
            ("mfa_factors[0].sms", "OBJECT_ADDITIONAL_PROPERTIES"),
        ),
        (
            json!({"email": "a@b.co", "mfa_factors": [{}]}),
            ("mfa_factors[0]", "OBJECT_PROPERTIES_MINIMUM"),
        ),
        (
            json!({"email": "a@b.co", "mfa_factors": [{"totp": {"secret": "AB"}, "phone": {"value": "+1"}}]}),
            ("mfa_factors[0]", "OBJECT_PROPERTIES_MAXIMUM"),
        ),
    ];
    for (v, (path, code)) in cases {
        let p = problems(v.clone());
        assert!(
            p.iter().any(|(pp, cc)| pp == path && *cc == code),
            "{v}: wanted {path} {code}, got {p:?}"
        );
    }
}

#[test]
fn secrets_are_never_echoed_and_long_values_are_cut() {
    let secret = "SECRETSECRETSECRET";
    let p = record_problems(&json!({"email": "a@b.co",
        "custom_password_hash": {"algorithm": "bcrypt", "hash": {"value": secret}},
        "mfa_factors": [{"totp": {"secret": "lower-secret"}}]}));
    assert!(!p.is_empty());
    for x in &p {
        assert!(
            !x.message.contains(secret) && !x.message.contains("lower-secret"),
            "{x:?}"
        );
    }
    let long = format!("{}@", "x".repeat(5000));
    let p = record_problems(&json!({ "email": long }));
    assert!(p[0].message.len() < 200, "{}", p[0].message);
}
