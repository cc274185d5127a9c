//! Inputs Auth0 users report in public threads, through SQL against the emulator: what
//! `auth0_validate_users` says of them, and what an import does with them — each with the answer
//! Auth0 gives.

mod common;

use common::{fast_tenant, wait_completed, Db};

const UPA: &str = "Username-Password-Authentication";

fn validate(db: &mut Db, users: &str) -> Vec<(i32, String, String)> {
    db.rows(&format!(
        "SELECT input_index, path, code FROM auth0_validate_users('{users}'::jsonb) ORDER BY 1, 2"
    ))
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

fn row(i: i32, path: &str, code: &str) -> (i32, String, String) {
    (i, path.into(), code.into())
}

#[test]
fn the_validator_refuses_what_auth0_refuses_and_accepts_what_it_accepts() {
    let mut db = Db::new("strict_validate");
    let ok_hash = "$2b$10$abcdefghijklmnopqrstuuJ1mMoYyTgd6u5o1Ms2v9Zc2Zp3yFqS6";
    let plus = format!("$2b$10${}+", &ok_hash[7..59]);
    let bangs = format!("$2b$10${}", "!".repeat(53));
    let users = format!(
        r#"[{{"email": "h1@example.com", "password_hash": "{ok_hash}"}},
            {{"email": "h2@example.com", "password_hash": "{plus}"}},
            {{"email": "h3@example.com", "password_hash": "{bangs}"}},
            {{"email": "a@b.c"}}, {{"email": "a..b@example.com"}}, {{"email": ".a@example.com"}},
            {{"email": "a.@example.com"}},
            {{"email": "o''brien+news@example.com"}}, {{"email": "josé@example.com"}},
            {{"email": "m@example.com", "mfa_factors": [{{"email": {{"value": "a@b.c"}}}}]}},
            {{"email": "s@example.com", "custom_password_hash": {{"algorithm": "scrypt",
              "hash": {{"value": "00", "encoding": "hex"}}, "keylen": 32.0}}}}]"#
    );
    assert_eq!(
        validate(&mut db, &users),
        vec![
            row(1, "password_hash", "PATTERN"),
            row(2, "password_hash", "PATTERN"),
            row(3, "email", "FORMAT"),
            row(4, "email", "FORMAT"),
            row(5, "email", "FORMAT"),
            row(6, "email", "FORMAT"),
            row(9, "mfa_factors[0].email.value", "FORMAT"),
        ]
    );
    // A hash is never echoed back.
    let messages: Vec<String> = db
        .rows(&format!(
            "SELECT message FROM auth0_validate_users('{users}'::jsonb)"
        ))
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        messages
            .iter()
            .all(|m| !m.contains(&bangs[7..]) && !m.contains(&plus[7..])),
        "{messages:?}"
    );
}

#[test]
fn a_record_built_in_sql_with_a_computed_integer_imports() {
    let emu = fast_tenant(0);
    let mut db = Db::new("strict_integer");
    db.attach(&emu);
    let id: String = db.one(&format!(
        "SELECT auth0_import('{UPA}', jsonb_build_array(jsonb_build_object(
           'email', 'scrypt@example.com',
           'custom_password_hash', jsonb_build_object('algorithm', 'scrypt',
              'hash', jsonb_build_object('value', '00', 'encoding', 'hex'), 'keylen', 64.0/2))))"
    ));
    assert_eq!(wait_completed(&mut db, &id), (1, 1, 0, 0));
}

#[test]
fn upsert_semantics_follow_auth0() {
    let emu = fast_tenant(0);
    let mut db = Db::new("strict_upsert");
    db.attach(&emu);
    let hash = r#"{"algorithm": "md5", "hash": {"value": "00", "encoding": "hex"}}"#;
    let first: String = db.one(&format!(
        r#"SELECT auth0_import('{UPA}', '[
             {{"email": "keep@example.com", "email_verified": true}},
             {{"email": "reset@example.com", "email_verified": true}},
             {{"email": "nohash@example.com"}},
             {{"email": "hash@example.com", "custom_password_hash": {hash}}}]')"#
    ));
    assert_eq!(wait_completed(&mut db, &first), (4, 4, 0, 0));
    let second: String = db.one(&format!(
        r#"SELECT auth0_import('{UPA}', '[
             {{"email": "keep@example.com", "email_verified": true, "given_name": "Keep"}},
             {{"email": "reset@example.com", "given_name": "Reset"}},
             {{"email": "nohash@example.com", "custom_password_hash": {hash}}},
             {{"email": "hash@example.com", "custom_password_hash": {hash}}}]', upsert => true)"#
    ));
    assert_eq!(wait_completed(&mut db, &second), (4, 0, 3, 1));
    let verified: Vec<(String, bool)> = db
        .rows("SELECT email, email_verified FROM auth0.users WHERE email IN ('keep@example.com', 'reset@example.com') ORDER BY 1")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        verified,
        vec![
            ("keep@example.com".into(), true),
            ("reset@example.com".into(), false)
        ]
    );
    let errors: Vec<(i32, String, String)> = db
        .rows(&format!(
            "SELECT input_index, email, message FROM auth0_job_errors('{second}')"
        ))
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        errors,
        vec![(
            2,
            "nohash@example.com".into(),
            "A custom_password_hash was provided, but the user already has password hash defined."
                .into()
        )]
    );
}

#[test]
fn failed_mfa_factors_map_to_their_input_index_with_every_secret_masked() {
    let emu = fast_tenant(0);
    let mut db = Db::new("strict_mfa");
    db.attach(&emu);
    let id: String = db.one(&format!(
        r#"SELECT auth0_import('{UPA}', '[
             {{"email": "good@example.com", "mfa_factors": [{{"totp": {{"secret": "JBTWY3DPEHPK3PNP"}}}}]}},
             {{"email": "short@example.com", "mfa_factors": [{{"totp": {{"secret": "ABCDEF"}}}}],
               "custom_password_hash": {{"algorithm": "md5", "hash": {{"value": "5f4dcc3b5aa765d61d8327deb882cf99", "encoding": "hex"}}}}}}]')"#
    ));
    assert_eq!(wait_completed(&mut db, &id), (2, 1, 0, 1));
    let rows = db.rows(&format!(
        "SELECT input_index, code, record::text FROM auth0_job_errors('{id}')"
    ));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, i32>(0), 1);
    assert_eq!(rows[0].get::<_, String>(1), "MFA_FACTORS_FAILED");
    let record: String = rows[0].get(2);
    assert!(record.contains("short@example.com"), "{record}");
    for secret in ["ABCDEF", "5f4dcc3b5aa765d61d8327deb882cf99"] {
        assert!(!record.contains(secret), "{secret} in {record}");
    }
}
