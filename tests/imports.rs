//! Imports through SQL against the emulator: several files and more than two jobs, upsert and
//! DUPLICATED_USER mapped to input indices, refused batches, skip_invalid, the connection checks,
//! the grant, the ledger and its behaviour under ROLLBACK.

mod common;

use auth0_emulator::Config;
use common::{fast_tenant, tenant_with, wait_completed, Db};
use std::time::{Duration, Instant};

const NEW_USERS: &str = "(SELECT jsonb_agg(jsonb_build_object(
        'email', 'new' || g || '@example.com', 'user_id', 'n' || g, 'given_name', 'New',
        'user_metadata', jsonb_build_object('bio', repeat('x', 200), 'n', g)) ORDER BY g)
   FROM generate_series(0, 4999) g)";

#[test]
fn five_thousand_users_in_several_jobs_then_upsert_and_duplicates() {
    let emu = fast_tenant(100);
    let mut db = Db::new("import5000");
    db.attach(&emu);
    let id: String = db.one(&format!(
        "SELECT auth0_import('Username-Password-Authentication', {NEW_USERS})"
    ));
    assert!(id.starts_with("imp_"));
    let jobs: i64 = db.one(&format!(
        "SELECT count(*) FROM auth0_import_jobs WHERE import_id = '{id}'"
    ));
    assert!(
        jobs > 2,
        "{jobs} jobs: the 2-job limit had to be waited out"
    );
    let (total, inserted, updated, failed) = wait_completed(&mut db, &id);
    assert_eq!((total, inserted, updated, failed), (5000, 5000, 0, 0));
    assert_eq!(
        db.one::<i64>("SELECT count(*) FROM auth0.users WHERE given_name = 'New'"),
        5000
    );
    let n: String = db.one("SELECT user_id FROM auth0.users WHERE email = 'new4321@example.com'");
    assert_eq!(n, "auth0|n4321");

    // Export -> change -> re-import with upsert: attributes change, seen through auth0.users.
    let upsert_id: String = db.one(
        "SELECT auth0_import('Username-Password-Authentication',
            (SELECT jsonb_agg(auth0_user_to_import(raw) || jsonb_build_object('given_name', 'Renamed',
                    'user_metadata', jsonb_build_object('n', (raw->'user_metadata'->>'n')::int, 'tier', 'gold')))
               FROM auth0.users WHERE given_name = 'New' AND (user_metadata->>'n')::int < 1200),
            upsert => true)",
    );
    let (total, inserted, updated, failed) = wait_completed(&mut db, &upsert_id);
    assert_eq!((total, inserted, updated, failed), (1200, 0, 1200, 0));
    assert_eq!(db.one::<i64>("SELECT count(*) FROM auth0.users WHERE given_name = 'Renamed' AND user_metadata->>'tier' = 'gold' AND NOT user_metadata ? 'bio'"), 1200);

    // Without upsert: DUPLICATED_USER for each, at its input index.
    let dup_id: String = db.one(
        "SELECT auth0_import('Username-Password-Authentication',
            '[{\"email\": \"fresh@example.com\"}, {\"email\": \"new7@example.com\"}, {\"email\": \"NEW9@example.com\"}]')",
    );
    let (total, inserted, updated, failed) = wait_completed(&mut db, &dup_id);
    assert_eq!((total, inserted, updated, failed), (3, 1, 0, 2));
    let errs = db.rows(&format!("SELECT input_index, code, message, email, auth0_job_id FROM auth0_job_errors('{dup_id}') ORDER BY 1"));
    let got: Vec<(i32, String)> = errs.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        got,
        vec![
            (1, "DUPLICATED_USER".to_string()),
            (2, "DUPLICATED_USER".to_string())
        ]
    );
    assert_eq!(
        errs[0].get::<_, String>(2),
        "The user already exist and upsert parameter is false"
    );
    assert!(errs[0].get::<_, String>(4).starts_with("job_"));

    // Every import adds up, in the ledger too.
    let ledger = db.rows("SELECT import_id, total, inserted + updated + failed, status FROM auth0_imports ORDER BY created_at");
    assert_eq!(ledger.len(), 3);
    for r in &ledger {
        assert_eq!(
            r.get::<_, i32>(1),
            r.get::<_, i32>(2),
            "{:?}",
            r.get::<_, String>(0)
        );
        assert_eq!(r.get::<_, String>(3), "completed");
    }
    // An Auth0 job id made anywhere works too.
    let job: String = db.one(&format!(
        "SELECT auth0_job_ids[1] FROM auth0_job_status('{dup_id}')"
    ));
    let r = &db.rows(&format!(
        "SELECT type, status, inserted, failed FROM auth0_job_status('{job}')"
    ))[0];
    assert_eq!(
        (
            r.get::<_, String>(0),
            r.get::<_, String>(1),
            r.get::<_, i32>(2),
            r.get::<_, i32>(3)
        ),
        ("users_import".into(), "completed".into(), 1, 2)
    );
    assert_eq!(
        db.rows(&format!("SELECT * FROM auth0_job_errors('{job}')"))
            .len(),
        2
    );
}

#[test]
fn invalid_batches_are_refused_or_skipped() {
    let emu = fast_tenant(0);
    let mut db = Db::new("invalid");
    db.attach(&emu);
    let batch = r#"'[{"email": "ok1@example.com"}, {"email": "not-an-email"}, {"email": "ok2@example.com", "user_id": "auth0|x"},
                    {"email": "ok3@example.com", "app_metadata": {"email": "x"}}, {"email": "OK1@example.com"}, {"email": "ok4@example.com"}]'"#;
    let e = db.error(&format!(
        "SELECT auth0_import('Username-Password-Authentication', {batch})"
    ));
    assert_eq!(e.code, "22023", "{}", e.text());
    assert_eq!(e.message, "4 of 6 users are invalid; nothing was submitted");
    let detail = e.detail.unwrap();
    assert!(detail.contains("input_index 1 at email"), "{detail}");
    assert!(
        detail.contains("input_index 4 at email") && detail.contains("DUPLICATE_IN_BATCH"),
        "{detail}"
    );
    assert_eq!(
        emu.emulator
            .request_count("POST /api/v2/jobs/users-imports"),
        0
    );
    assert_eq!(
        db.one::<i64>(&format!(
            "SELECT count(*) FROM auth0_validate_users({batch})"
        )),
        4
    );

    let id: String = db.one(&format!(
        "SELECT auth0_import('Username-Password-Authentication', {batch}, skip_invalid => true)"
    ));
    let (total, inserted, updated, failed) = wait_completed(&mut db, &id);
    assert_eq!((total, inserted, updated, failed), (6, 2, 0, 4));
    let errs: Vec<(i32, String, String)> = db
        .rows(&format!(
            "SELECT input_index, code, coalesce(path, '') FROM auth0_job_errors('{id}') ORDER BY 1"
        ))
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        errs,
        vec![
            (1, "FORMAT".into(), "email".into()),
            (2, "USER_ID_PREFIX".into(), "user_id".into()),
            (3, "FORBIDDEN_KEY".into(), "app_metadata.email".into()),
            (4, "DUPLICATE_IN_BATCH".into(), "email".into()),
        ]
    );
    let masked: String = db.one(
        r#"SELECT record->>'password_hash' FROM auth0_job_errors(auth0_import('Username-Password-Authentication',
              '[{"email": "bad@", "password_hash": "$2b$10$abcdefghijklmnopqrstuuJ1mMoYyTgd6u5o1Ms2v9Zc2Zp3yFqS6"}]', skip_invalid => true)) LIMIT 1"#,
    );
    assert_eq!(masked, "*****", "hashes never come back");
    // Every secret-bearing field, whatever its type, is masked in the ledger and in the errors.
    let record: serde_json::Value = db.one(
        r#"SELECT record FROM auth0_job_errors(auth0_import('Username-Password-Authentication',
              '[{"email": "bad2@", "password": "hunter2-secret", "custom_password_hash": "plain-secret-hash",
                 "mfa_factors": [{"totp": {"secret": "JBSWY3DPEHPK3PXP"}}]}]', skip_invalid => true)) LIMIT 1"#,
    );
    assert_eq!(record["email"], "bad2@");
    assert_eq!(record["password"], "*****");
    assert_eq!(record["custom_password_hash"], "*****");
    assert_eq!(record["mfa_factors"][0]["totp"]["secret"], "*****");
    let journal: String = db.one(
        "SELECT string_agg(pg_read_file('pg_auth0_io/' || d.oid || '/' || f), '')
           FROM pg_database d, pg_ls_dir('pg_auth0_io/' || d.oid) f
          WHERE d.datname = current_database() AND f LIKE '%.journal'",
    );
    assert!(journal.contains("bad2@"), "the journals were read");
    for secret in [
        "hunter2-secret",
        "plain-secret-hash",
        "JBSWY3DPEHPK3PXP",
        "abcdefghijklmnop",
    ] {
        assert!(!journal.contains(secret), "{secret} is in the journal");
    }
}

#[test]
fn bad_input_and_bad_connections_fail_before_any_job() {
    let emu = fast_tenant(0);
    let mut db = Db::new("badinput");
    db.attach(&emu);
    let one = r#"'[{"email": "a@example.com"}]'"#;
    let cases = [
        ("SELECT auth0_import('Username-Password-Authentication', '{\"email\": \"a@example.com\"}')".to_string(), "22023", "must be a JSON array"),
        ("SELECT auth0_import('Username-Password-Authentication', '[]')".to_string(), "22023", "nothing to import"),
        ("SELECT auth0_import('Username-Password-Authentication', NULL)".to_string(), "22004", "must not be NULL"),
        (format!("SELECT auth0_import('no-such-connection', {one})"), "42704", "does not exist"),
        (format!("SELECT auth0_import('google-oauth2', {one})"), "22023", "need a database connection"),
        (format!("SELECT auth0_import('legacy-db', {one})"), "55000", "not enabled for any application"),
        (
            "SELECT auth0_import('Username-Password-Authentication', jsonb_build_array(jsonb_build_object('email', 'big@example.com', 'user_metadata', jsonb_build_object('blob', repeat('x', 600000)))))".to_string(),
            "22023",
            "RECORD_TOO_LARGE",
        ),
        (format!("SELECT auth0_import('Username-Password-Authentication', {one}, server => 'nope')"), "42704", "does not exist"),
    ];
    for (sql, code, text) in cases {
        let e = db.error(&sql);
        assert_eq!(e.code, code, "{sql}: {}", e.text());
        assert!(e.text().contains(text), "{sql}: {}", e.text());
    }
    assert_eq!(
        emu.emulator
            .request_count("POST /api/v2/jobs/users-imports"),
        0
    );
    // A con_ id works as well as a name.
    let con_id = emu
        .emulator
        .lock()
        .connection_by_name("Username-Password-Authentication")
        .unwrap()
        .id
        .clone();
    let id: String = db.one(&format!("SELECT auth0_import('{con_id}', {one})"));
    assert_eq!(wait_completed(&mut db, &id), (1, 1, 0, 0));
}

#[test]
fn only_granted_roles_import_and_rollback_keeps_the_ledger() {
    let emu = fast_tenant(0);
    let mut db = Db::new("grants");
    db.attach(&emu);
    // Roles are cluster-wide: named after this test's database.
    let (importer, reader) = (
        format!("{}_importer", db.name),
        format!("{}_reader", db.name),
    );
    db.exec(&format!(
        "CREATE ROLE {importer}; CREATE ROLE {reader};
         CREATE USER MAPPING FOR {importer} SERVER emu OPTIONS (client_id 'emulator-client', client_secret 'emulator-secret');
         CREATE USER MAPPING FOR {reader} SERVER emu OPTIONS (client_id 'emulator-client', client_secret 'emulator-secret');
         GRANT USAGE ON SCHEMA auth0 TO {importer}, {reader}; GRANT SELECT ON auth0.users TO {importer}, {reader};
         GRANT EXECUTE ON FUNCTION auth0_import(text, jsonb, boolean, name, boolean, text, boolean) TO {importer};"
    ));
    let one = r#"'[{"email": "granted@example.com"}]'"#;
    db.exec(&format!("SET ROLE {reader}"));
    let e = db.error(&format!(
        "SELECT auth0_import('Username-Password-Authentication', {one})"
    ));
    assert_eq!(e.code, "42501", "{}", e.text());
    db.exec(&format!("RESET ROLE; SET ROLE {importer}"));
    // The transaction rolls back, the Auth0 job exists anyway: the ledger still has it.
    db.exec(&format!(
        "BEGIN; SELECT auth0_import('Username-Password-Authentication', {one}); ROLLBACK"
    ));
    let seen: i64 = db.one(&format!("SELECT count(*) FROM auth0_imports WHERE created_by = '{importer}' AND array_length(auth0_job_ids, 1) = 1"));
    assert_eq!(seen, 1);
    let id: String = db.one(&format!(
        "SELECT import_id FROM auth0_imports WHERE created_by = '{importer}'"
    ));
    assert_eq!(wait_completed(&mut db, &id), (1, 1, 0, 0));
    db.exec(&format!("RESET ROLE; SET ROLE {reader}"));
    assert_eq!(
        db.one::<i64>("SELECT count(*) FROM auth0_imports"),
        0,
        "other roles' imports are not listed"
    );
    let e = db.error(&format!("SELECT * FROM auth0_job_status('{id}')"));
    assert_eq!(e.code, "42501", "{}", e.text());
    db.exec("RESET ROLE");
    // The ledger is read-only for everyone.
    let e = db.error("DELETE FROM auth0_imports");
    assert!(
        e.code == "55000" || e.code == "0A000" || e.code == "42809",
        "{}",
        e.text()
    );
}

#[test]
fn a_cancelled_import_keeps_its_jobs_in_the_ledger() {
    let emu = tenant_with(Config {
        seed_users: 0,
        import_users_per_second: 300.0,
        ..Config::default()
    });
    let mut db = Db::new("cancel_import");
    db.attach(&emu);
    db.exec("SET statement_timeout = '3s'");
    let started = Instant::now();
    let e = db.error(&format!(
        "SELECT auth0_import('Username-Password-Authentication', {NEW_USERS})"
    ));
    assert_eq!(e.code, "57014", "{}", e.text());
    assert!(started.elapsed() < Duration::from_secs(5));
    db.exec("RESET statement_timeout");
    let r = &db
        .rows("SELECT import_id, array_length(auth0_job_ids, 1), submission FROM auth0_imports")[0];
    let (id, jobs, submission): (String, i32, String) = (r.get(0), r.get(1), r.get(2));
    assert_eq!(
        jobs, 2,
        "two jobs were running when the statement was cancelled"
    );
    assert!(submission.starts_with("interrupted"), "{submission}");
    // Not final: the files never sent are kept for auth0_import_resume.
    let (status, total, inserted, updated, failed) = common::wait_final(&mut db, &id);
    assert_eq!(status, "interrupted");
    assert_eq!(total, 5000);
    assert_eq!(
        inserted + updated + failed,
        5000,
        "unsubmitted users count as failed"
    );
    assert!(inserted > 0);
    // One row per unsubmitted user, each with its input position: together with the jobs'
    // positions, every input index exactly once.
    let (rows, distinct, first, last): (i64, i64, i32, i32) = {
        let r = &db.rows(&format!(
            "SELECT count(*), count(DISTINCT input_index), min(input_index), max(input_index)
               FROM auth0_job_errors('{id}') WHERE code = 'NOT_SUBMITTED'"
        ))[0];
        (r.get(0), r.get(1), r.get(2), r.get(3))
    };
    assert_eq!(rows, distinct);
    assert!(rows > 0 && last == 4999, "{rows} rows, {first}..{last}");
    let in_jobs: i64 = db.one(&format!(
        "SELECT sum(users) FROM auth0_import_jobs WHERE import_id = '{id}'"
    ));
    assert_eq!(
        in_jobs + rows,
        5000,
        "every input index is accounted for once"
    );
}

#[test]
fn imports_belong_to_the_role_not_to_its_name() {
    let emu = fast_tenant(0);
    let mut db = Db::new("roleoid");
    db.attach(&emu);
    let alice = format!("{}_alice", db.name);
    let mapping = |role: &str| {
        format!(
            "CREATE USER MAPPING FOR {role} SERVER emu OPTIONS (client_id 'emulator-client', client_secret 'emulator-secret');
             GRANT USAGE ON SCHEMA auth0 TO {role};
             GRANT EXECUTE ON FUNCTION auth0_import(text, jsonb, boolean, name, boolean, text, boolean) TO {role};"
        )
    };
    db.exec(&format!("CREATE ROLE {alice}; {}", mapping(&alice)));
    db.exec(&format!("SET ROLE {alice}"));
    let id: String = db.one(
        r#"SELECT auth0_import('Username-Password-Authentication', '[{"email": "oid@example.com"}]')"#,
    );
    assert_eq!(wait_completed(&mut db, &id), (1, 1, 0, 0));
    // alice is renamed; a new role takes her old name.
    db.exec(&format!(
        "RESET ROLE; ALTER ROLE {alice} RENAME TO {alice}_old; CREATE ROLE {alice}; {}",
        mapping(&alice)
    ));
    db.exec(&format!("SET ROLE {alice}"));
    assert_eq!(
        db.one::<i64>("SELECT count(*) FROM auth0_imports"),
        0,
        "the new role with the old name sees nothing"
    );
    assert_eq!(db.one::<i64>("SELECT count(*) FROM auth0_import_jobs"), 0);
    let e = db.error(&format!("SELECT * FROM auth0_job_status('{id}')"));
    assert_eq!(e.code, "42501", "{}", e.text());
    let e = db.error(&format!("SELECT * FROM auth0_job_errors('{id}')"));
    assert_eq!(e.code, "42501", "{}", e.text());
    // The renamed role still sees its import (listed under the name it had then).
    db.exec(&format!("RESET ROLE; SET ROLE {alice}_old"));
    assert_eq!(
        db.one::<i64>(&format!(
            "SELECT count(*) FROM auth0_imports WHERE import_id = '{id}' AND created_by = '{alice}'"
        )),
        1
    );
    assert_eq!(db.one::<i64>("SELECT count(*) FROM auth0_import_jobs"), 1);
    db.exec("RESET ROLE");
}

#[test]
fn a_damaged_journal_loses_nothing_after_the_damage() {
    let emu = fast_tenant(0);
    let mut db = Db::new("journal");
    db.attach(&emu);
    let first: String = db.one(
        r#"SELECT auth0_import('Username-Password-Authentication', '[{"email": "before@example.com"}]')"#,
    );
    let journal: String = db.one(&format!(
        "SELECT current_setting('data_directory') || '/pg_auth0_io/' || oid || '/{first}.journal'
           FROM pg_database WHERE datname = current_database()"
    ));
    // Damage, as a crash or a disk could leave it: invalid UTF-8 on a line of its own, then a
    // last line cut before its newline. The import's next event (its summary) must still land.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&journal)
            .unwrap();
        f.write_all(b"\xff\xfe not an event\n{\"event\":\"import\",\"id\":\"imp_cut")
            .unwrap();
    }
    let (mut c, notices) = common::connect_collecting_notices(&db.name);
    let second: String = c
        .query_one(
            r#"SELECT auth0_import('Username-Password-Authentication', '[{"email": "after@example.com"}]')"#,
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(wait_completed(&mut db, &first), (1, 1, 0, 0));
    assert_eq!(wait_completed(&mut db, &second), (1, 1, 0, 0));
    let listed: i64 = c
        .query_one(
            &format!(
                "SELECT count(*) FROM auth0_imports WHERE import_id IN ('{first}', '{second}')"
            ),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(listed, 2, "nothing after the damage is lost");
    assert_eq!(
        db.one::<String>(&format!(
            "SELECT status FROM auth0_imports WHERE import_id = '{first}'"
        )),
        "completed",
        "the summary written after the damage is read"
    );
    let warnings = notices.lock().unwrap().clone();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("skipping damaged line") && w.contains(".journal")),
        "{warnings:?}"
    );
}

/// The answer to `POST /jobs/users-imports` breaks off after Auth0 created the job: its users are
/// "outcome unknown" (never a false "failed"), the file is not sent again, and
/// `auth0_import_resume` finds them by looking them up.
#[test]
fn a_lost_answer_is_unknown_then_reconciled_never_failed() {
    let emu = fast_tenant(50);
    let mut db = Db::new("lost_answer");
    db.attach(&emu);
    // A user of the connection that exists from long before: a non-upsert import gets
    // DUPLICATED_USER for it.
    let there: String = db.one(
        "SELECT email FROM auth0.users WHERE connection = 'Username-Password-Authentication' ORDER BY created_at LIMIT 1",
    );
    emu.emulator
        .arm(auth0_emulator::state::Fault::on("POST /api/v2/jobs/users-imports").truncated());
    let id: String = db.one(&format!(
        r#"SELECT auth0_import('Username-Password-Authentication',
             '[{{"email": "lost1@example.com"}}, {{"email": "{there}"}}, {{"email": "lost2@example.com"}}]')"#,
    ));
    assert_eq!(
        emu.emulator
            .request_count("POST /api/v2/jobs/users-imports"),
        1,
        "a request that may have gone through is not sent again"
    );
    // Wait for the (invisible) job to run, then ask.
    std::thread::sleep(Duration::from_millis(500));
    let r = &db.rows(&format!(
        "SELECT status, total, inserted, updated, failed FROM auth0_job_status('{id}')"
    ))[0];
    assert_eq!(
        (
            r.get::<_, String>(0),
            r.get::<_, i32>(1),
            r.get::<_, i32>(2),
            r.get::<_, i32>(3),
            r.get::<_, i32>(4)
        ),
        ("outcome_unknown".into(), 3, 0, 0, 0)
    );
    let codes: Vec<(i32, String)> = db
        .rows(&format!(
            "SELECT input_index, code FROM auth0_job_errors('{id}') ORDER BY 1"
        ))
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        codes,
        vec![
            (0, "OUTCOME_UNKNOWN".into()),
            (1, "OUTCOME_UNKNOWN".into()),
            (2, "OUTCOME_UNKNOWN".into())
        ]
    );

    db.exec(&format!("SELECT auth0_import_resume('{id}')"));
    assert_eq!(wait_completed(&mut db, &id), (3, 2, 0, 1));
    let codes: Vec<(i32, String)> = db
        .rows(&format!(
            "SELECT input_index, code FROM auth0_job_errors('{id}') ORDER BY 1"
        ))
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(codes, vec![(1, "DUPLICATED_USER".into())]);
    assert_eq!(
        emu.emulator
            .request_count("POST /api/v2/jobs/users-imports"),
        1,
        "resuming looks users up, it does not resend the file"
    );
}

/// Valid jsonb that serde_json cannot read (a number beyond a double, nesting deeper than 128)
/// is a clear 22023 naming the record and path, never XX000 with a backtrace; a huge invalid
/// value is cut in the DETAIL.
#[test]
fn unreadable_and_huge_values_get_clear_errors() {
    let mut db = Db::new("unreadable");
    let e = db.error(
        r#"SELECT * FROM auth0_validate_users('[{"email": "a@b.co"}, {"email": "a@b.co", "user_metadata": {"n": 1e1000}}]')"#,
    );
    assert_eq!(e.code, "22023", "{}", e.text());
    assert_eq!(
        e.message,
        "users holds a value auth0_io cannot read at input_index 1, path user_metadata.n: number out of range"
    );
    assert!(e.hint.is_some());
    let deep = r#"SELECT * FROM auth0_validate_users(('[{"email": "a@b.co", "user_metadata": {"a": ' || repeat('[', 130) || repeat(']', 130) || '}}]')::jsonb)"#;
    let e = db.error(deep);
    assert_eq!(e.code, "22023", "{}", e.text());
    assert!(
        e.message.starts_with(
            "users holds a value auth0_io cannot read at input_index 0, path user_metadata.a[0][0]"
        ),
        "{}",
        e.message
    );
    assert!(e.message.len() < 400, "{}", e.message);
    for text in [e.text(), e.detail.clone().unwrap_or_default()] {
        assert!(
            !text.contains(".rs:") && !text.contains("backtrace"),
            "{text}"
        );
    }
    // The same through auth0_import, before anything is sent.
    let e = db.error(
        r#"SELECT auth0_import('Username-Password-Authentication', '[{"email": "a@b.co", "user_metadata": {"n": -1e400}}]')"#,
    );
    assert_eq!(e.code, "22023", "{}", e.text());
    // A 5 MB invalid e-mail: refused, and cut in the DETAIL.
    let e = db.error(
        "SELECT auth0_import('Username-Password-Authentication',
                jsonb_build_array(jsonb_build_object('email', repeat('x', 5000000) || '@')))",
    );
    assert_eq!(e.code, "22023", "{}", e.text());
    let detail = e.detail.unwrap_or_default();
    assert!(detail.contains("FORMAT"), "{detail}");
    assert!(detail.len() < 1000, "DETAIL of {} bytes", detail.len());
}

/// Old imports nothing is happening to are purged on request; what `DROP DATABASE` leaves
/// behind is deleted by a superuser; an id typed by a user never names a file.
#[test]
fn the_ledger_can_be_purged() {
    let emu = fast_tenant(0);
    let mut db = Db::new("purge");
    db.attach(&emu);
    let done: String = db.one(
        r#"SELECT auth0_import('Username-Password-Authentication', '[{"email": "p1@example.com"}]')"#,
    );
    assert_eq!(wait_completed(&mut db, &done), (1, 1, 0, 0));
    let journals = |db: &mut Db| -> i64 {
        db.one(
            "SELECT count(*) FROM pg_database d, pg_ls_dir('pg_auth0_io/' || d.oid) f
              WHERE d.datname = current_database() AND f LIKE '%.journal'",
        )
    };
    assert_eq!(journals(&mut db), 1);
    assert_eq!(
        db.one::<i32>("SELECT auth0_import_purge('1 hour')"),
        0,
        "too recent"
    );
    assert_eq!(db.one::<i32>("SELECT auth0_import_purge('0 seconds')"), 1);
    assert_eq!(db.one::<i64>("SELECT count(*) FROM auth0_imports"), 0);
    assert_eq!(journals(&mut db), 0);
    assert_eq!(
        db.error("SELECT auth0_import_purge('-1 day')").code,
        "22023"
    );
    // An id typed by a user never names a file.
    assert_eq!(
        db.error("SELECT * FROM auth0_job_status('imp_../../../global/pg_control')")
            .code,
        "42704"
    );

    // DROP DATABASE leaves a ledger (with e-mail addresses) behind; a superuser deletes it.
    let data_dir: String = db.one("SHOW data_directory");
    let mut other = Db::new("purge_dropped");
    other.attach(&emu);
    let id: String = other.one(
        r#"SELECT auth0_import('Username-Password-Authentication', '[{"email": "p2@example.com"}]')"#,
    );
    assert_eq!(wait_completed(&mut other, &id), (1, 1, 0, 0));
    let oid: i32 =
        other.one("SELECT oid::int4 FROM pg_database WHERE datname = current_database()");
    let ledger = std::path::Path::new(&data_dir).join(format!("pg_auth0_io/{oid}"));
    drop(other);
    assert!(ledger.exists(), "DROP DATABASE cannot remove it");
    assert!(db.one::<i32>("SELECT auth0_import_purge_dropped_databases()") >= 1);
    assert!(!ledger.exists());
    // This database's own ledger is kept.
    let kept: String = db.one(
        r#"SELECT auth0_import('Username-Password-Authentication', '[{"email": "p3@example.com"}]')"#,
    );
    db.exec("SELECT auth0_import_purge_dropped_databases()");
    assert_eq!(wait_completed(&mut db, &kept), (1, 1, 0, 0));
}
