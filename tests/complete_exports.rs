//! Complete exports: every user of a 25,000-user tenant through SELECT and COPY, identical rows
//! whichever strategy runs, recovery from broken downloads, cancellation, progress, EXPLAIN,
//! default fields and the export -> import round trip.

mod common;

use auth0_emulator::{Config, Fault};
use common::{tenant, tenant_with, Db};
use std::collections::BTreeSet;
use std::io::Read;
use std::time::{Duration, Instant};

const USERS: usize = 25_000;

fn ids(db: &mut Db, sql: &str) -> Vec<String> {
    db.rows(sql).iter().map(|r| r.get::<_, String>(0)).collect()
}

fn explain(db: &mut Db, sql: &str) -> String {
    db.explain("ANALYZE, VERBOSE", sql)
}

#[test]
fn every_user_through_select_count_and_copy() {
    let emu = tenant(USERS);
    let mut db = Db::new("everyone");
    db.attach(&emu);
    assert_eq!(
        db.one::<i64>("SELECT count(*) FROM auth0.users"),
        USERS as i64
    );
    let all: BTreeSet<String> = ids(&mut db, "SELECT user_id FROM auth0.users")
        .into_iter()
        .collect();
    let expected: BTreeSet<String> = emu
        .emulator
        .lock()
        .users
        .all()
        .iter()
        .map(|u| u.user_id.clone())
        .collect();
    assert_eq!(all, expected);
    let raw_ok: i64 = db.one(
        "SELECT count(*) FROM auth0.users WHERE raw->>'user_id' = user_id AND raw ? 'created_at'",
    );
    assert_eq!(raw_ok, USERS as i64, "raw carries the whole user");

    let mut csv = String::new();
    db.client
        .copy_out("COPY (SELECT user_id, email, created_at FROM auth0.users) TO STDOUT WITH (FORMAT csv, HEADER)")
        .unwrap()
        .read_to_string(&mut csv)
        .unwrap();
    assert_eq!(csv.lines().count(), USERS + 1);
    let csv_ids: BTreeSet<String> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    assert_eq!(csv_ids, expected);
    let plan = explain(&mut db, "SELECT user_id FROM auth0.users");
    assert!(plan.contains("Auth0 Ran: export job job_"), "{plan}");
}

#[test]
fn the_same_rows_under_every_strategy() {
    let emu = tenant(USERS);
    let mut db = Db::new("strategies");
    db.attach(&emu);
    let filters = [
        "connection = 'google-oauth2' AND created_at < '2021-06-01'",
        "created_at >= '2024-09-01'",
        "blocked AND logins_count > 100",
        "email LIKE 'ada.%' AND user_metadata->>'theme' = 'dark'",
    ];
    for f in filters {
        let mut results = Vec::new();
        for strategy in ["auto", "search", "export"] {
            db.exec(&format!(
                "ALTER FOREIGN TABLE auth0.users OPTIONS ({} strategy '{strategy}')",
                if strategy == "auto" { "ADD" } else { "SET" }
            ));
            let got = ids(
                &mut db,
                &format!("SELECT user_id FROM auth0.users WHERE {f} ORDER BY user_id"),
            );
            let plan = explain(
                &mut db,
                &format!("SELECT user_id FROM auth0.users WHERE {f}"),
            );
            if strategy == "export" {
                assert!(plan.contains("Auth0 Ran: export job"), "{plan}");
            }
            results.push((strategy, got));
        }
        assert!(!results[0].1.is_empty(), "{f} matches nobody");
        assert_eq!(results[0].1, results[1].1, "{f}: auto vs search");
        assert_eq!(results[0].1, results[2].1, "{f}: auto vs export");
        db.exec("ALTER FOREIGN TABLE auth0.users OPTIONS (DROP strategy)");
    }
}

#[test]
fn a_filter_matching_3000_of_25000_uses_windows() {
    let emu = tenant(USERS);
    let mut db = Db::new("windows");
    db.attach(&emu);
    let since = "2024-04-10T00:00:00.000Z";
    let expected: BTreeSet<String> = emu
        .emulator
        .lock()
        .users
        .all()
        .iter()
        .filter(|u| u.doc["created_at"].as_str().unwrap() >= since)
        .map(|u| u.user_id.clone())
        .collect();
    assert!(
        (2_500..4_000).contains(&expected.len()),
        "{}",
        expected.len()
    );
    let got: BTreeSet<String> = ids(
        &mut db,
        &format!("SELECT user_id FROM auth0.users WHERE created_at >= '{since}'"),
    )
    .into_iter()
    .collect();
    assert_eq!(got, expected);
    emu.emulator.clear_requests();
    let plan = explain(
        &mut db,
        &format!("SELECT user_id FROM auth0.users WHERE created_at >= '{since}'"),
    );
    assert!(plan.contains("created_at window(s)"), "{plan}");
    let searches = emu.emulator.request_count("GET /api/v2/users");
    // Pages of 100 plus the first page and the count; no job.
    assert!(
        searches <= (expected.len() as u64).div_ceil(100) + 8,
        "{searches} requests\n{plan}"
    );
    assert_eq!(
        emu.emulator
            .request_count("POST /api/v2/jobs/users-exports"),
        0
    );
    // Ordered top-N past 1000 takes windows in order.
    let top: Vec<String> = ids(
        &mut db,
        "SELECT user_id FROM auth0.users ORDER BY created_at DESC LIMIT 1500",
    );
    let mut all: Vec<_> = emu
        .emulator
        .lock()
        .users
        .all()
        .iter()
        .map(|u| (u.created_ms, u.user_id.clone()))
        .collect();
    all.sort_by(|a, b| b.cmp(a));
    assert_eq!(
        top,
        all.iter()
            .take(1500)
            .map(|(_, id)| id.clone())
            .collect::<Vec<_>>()
    );
}

#[test]
fn broken_downloads_are_resumed_or_refused() {
    let emu = tenant(5_000);
    let mut db = Db::new("downloads");
    db.attach(&emu);
    db.exec("ALTER FOREIGN TABLE auth0.users OPTIONS (ADD strategy 'export')");
    emu.emulator
        .arm(Fault::on("GET /user-exports/{id}/{file}").truncated());
    assert_eq!(
        db.one::<i64>("SELECT count(DISTINCT user_id) FROM auth0.users"),
        5_000
    );
    emu.emulator
        .arm(Fault::on("GET /user-exports/{id}/{file}").expired_link());
    assert_eq!(db.one::<i64>("SELECT count(*) FROM auth0.users"), 5_000);
    emu.emulator.arm(
        Fault::on("GET /user-exports/{id}/{file}")
            .drop_connection()
            .times(2),
    );
    assert_eq!(db.one::<i64>("SELECT count(*) FROM auth0.users"), 5_000);
    // A download that never completes: an error, not a short result.
    emu.emulator.arm(
        Fault::on("GET /user-exports/{id}/{file}")
            .truncated()
            .times(50),
    );
    let e = db.error("SELECT count(*) FROM auth0.users");
    assert_eq!(e.code, "HV00N", "{}", e.text());
    assert!(
        e.message
            .contains("could not be read completely (4 attempts)"),
        "{}",
        e.text()
    );
}

#[test]
fn cancelling_during_an_export_job_is_prompt_and_progress_is_reported() {
    let emu = tenant_with(Config {
        seed_users: 20_000,
        export_users_per_second: 2_000.0,
        ..Config::default()
    });
    let mut db = Db::new("cancel_export");
    db.attach(&emu);
    db.exec("ALTER FOREIGN TABLE auth0.users OPTIONS (ADD strategy 'export'); SET statement_timeout = '1500ms'");
    let started = Instant::now();
    let e = db.error("SELECT count(*) FROM auth0.users");
    assert_eq!(e.code, "57014", "{}", e.text());
    assert!(
        started.elapsed() < Duration::from_millis(2800),
        "{:?}",
        started.elapsed()
    );
    db.exec("RESET statement_timeout");

    // Progress NOTICEs while the job runs (10 s of work at 2,000 users/s), silenced on demand.
    let (mut c, notices) = common::connect_collecting_notices(&db.name);
    let n: i64 = c
        .query_one("SELECT count(*) FROM auth0.users", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 20_000);
    let seen = notices.lock().unwrap().clone();
    assert!(seen.iter().any(|m| m.contains("started")), "{seen:?}");
    assert!(seen.iter().any(|m| m.contains("% done")), "{seen:?}");
    notices.lock().unwrap().clear();
    c.batch_execute("SET client_min_messages = warning")
        .unwrap();
    c.query_one("SELECT count(*) FROM auth0.users", &[])
        .unwrap();
    assert!(notices.lock().unwrap().is_empty());
}

#[test]
fn explain_shows_the_plan_and_no_secret() {
    let emu = tenant(10);
    let mut db = Db::new("explain");
    db.attach(&emu);
    let plan: String = db.explain("VERBOSE", "SELECT email FROM auth0.users WHERE connection = 'github' AND logins_count >= 10 ORDER BY created_at DESC LIMIT 5");
    for want in [
        "Auth0 Strategy: search",
        r#"identities.connection:"github""#,
        "logins_count:[10 TO *]",
        "Auth0 Fields: email, created_at, logins_count, identities",
    ] {
        assert!(plan.contains(want), "missing {want}:\n{plan}");
    }
    // `identities.connection` matches any linked identity, the column the first one: not
    // exact, so the LIMIT stays with Postgres.
    assert!(!plan.contains("Auth0 Limit"), "{plan}");
    let exact: String = db.explain(
        "VERBOSE",
        "SELECT email FROM auth0.users WHERE logins_count >= 10 ORDER BY created_at DESC LIMIT 5",
    );
    for want in ["Auth0 Sort: created_at:-1", "Auth0 Limit: 5"] {
        assert!(exact.contains(want), "missing {want}:\n{exact}");
    }
    assert!(
        !plan.contains("emulator-secret") && !plan.contains("Wrappers"),
        "{plan}"
    );
    db.exec("ALTER FOREIGN TABLE auth0.users OPTIONS (ADD strategy 'export')");
    let plan: String = db.explain(
        "COSTS",
        "SELECT * FROM auth0.users WHERE connection = 'github'",
    );
    assert!(
        plan.contains("Auth0 Strategy: export job (forced), connection github"),
        "{plan}"
    );
    let e = db.error("SELECT * FROM auth0.users WHERE q = 'blocked:true'");
    assert_eq!(e.code, "0A000", "{}", e.text());
}

#[test]
fn default_fields_and_the_round_trip() {
    let emu = tenant(300);
    let mut db = Db::new("defaults");
    db.attach(&emu);
    db.exec("SELECT auth0_create_default_export_view('auth0')");
    let mut csv = String::new();
    db.client
        .copy_out("COPY (SELECT * FROM auth0.users_default_export ORDER BY \"Created At\") TO STDOUT WITH (FORMAT csv, HEADER)")
        .unwrap()
        .read_to_string(&mut csv)
        .unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "Id,Given Name,Family Name,Nickname,Name,Email,Email Verified,Picture,Connection,Created At,Updated At"
    );
    let first = emu.emulator.lock().users.all()[0].doc.clone();
    let row = lines.next().unwrap();
    assert!(row.starts_with(first["user_id"].as_str().unwrap()), "{row}");
    assert!(
        row.contains(first["created_at"].as_str().unwrap()),
        "Auth0's timestamp format: {row}"
    );
    let unverified: i64 = db
        .one("SELECT count(*) FROM auth0.users_default_export WHERE \"Email Verified\" = 'false'");
    assert!(unverified > 0, "false exports as false, not blank");

    // Export -> change -> re-import-ready JSON.
    let batch: serde_json::Value = db.one(
        "SELECT jsonb_agg(auth0_user_to_import(raw) || jsonb_build_object('user_metadata', jsonb_build_object('migrated', true)))
           FROM auth0.users WHERE connection = 'Username-Password-Authentication'",
    );
    let records = batch.as_array().unwrap();
    assert!(records.len() > 150);
    for r in records {
        let o = r.as_object().unwrap();
        assert!(
            o.keys().all(|k| [
                "email",
                "email_verified",
                "user_id",
                "username",
                "given_name",
                "family_name",
                "name",
                "nickname",
                "picture",
                "blocked",
                "phone_number",
                "phone_verified",
                "app_metadata",
                "user_metadata"
            ]
            .contains(&k.as_str())),
            "{r}"
        );
        assert!(!o["user_id"].as_str().unwrap().starts_with("auth0|"), "{r}");
    }
    let problems: i64 = db.one(
        "SELECT count(*) FROM auth0_validate_users((SELECT jsonb_agg(auth0_user_to_import(raw)) FROM auth0.users WHERE connection = 'Username-Password-Authentication'))",
    );
    assert_eq!(problems, 0);
}
