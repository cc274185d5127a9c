//! Export reuse (`export_max_age_seconds`): a second full scan reads the completed export job of
//! the first one again, within the age, when its connection and fields cover the scan. It is
//! off by default; a job Auth0 no longer has, or an import from the same session, makes a new
//! job. Rows are checked against the emulator's store each time.

mod common;

use auth0_emulator::Config;
use common::{connect_collecting_notices, fast_tenant, tenant, tenant_with, Db};
use std::time::Duration;

const USERS: usize = 1_500;
const EXPORTS: &str = "POST /api/v2/jobs/users-exports";

/// Every user id of the emulator's store (the oracle), sorted.
fn stored_ids(emu: &auth0_emulator::Running) -> Vec<String> {
    let mut ids: Vec<String> = emu
        .emulator
        .lock()
        .users
        .all()
        .iter()
        .map(|u| u.user_id.clone())
        .collect();
    ids.sort();
    ids
}

fn ids(db: &mut Db, sql: &str) -> Vec<String> {
    db.rows(sql).iter().map(|r| r.get::<_, String>(0)).collect()
}

/// The job named by EXPLAIN ANALYZE's `Auth0 Ran` line, and whether it was read again.
fn ran(db: &mut Db, sql: &str) -> (String, bool) {
    let plan = db.explain("ANALYZE", sql);
    let line = plan
        .lines()
        .find(|l| l.contains("Auth0 Ran:"))
        .unwrap_or_else(|| panic!("{plan}"));
    let job = line
        .split_whitespace()
        .find(|w| w.starts_with("job_"))
        .unwrap_or_else(|| panic!("{plan}"))
        .to_string();
    (job, line.contains("read again"))
}

#[test]
fn off_by_default_every_full_scan_makes_its_job() {
    let emu = tenant(USERS);
    let mut db = Db::new("reuse_off");
    db.attach(&emu);
    let want = stored_ids(&emu);
    for _ in 0..2 {
        assert_eq!(
            ids(
                &mut db,
                "SELECT user_id FROM auth0.users ORDER BY user_id COLLATE \"C\""
            ),
            want
        );
    }
    assert_eq!(emu.emulator.request_count(EXPORTS), 2);
    let plan = db.explain("COSTS OFF", "SELECT user_id FROM auth0.users");
    assert!(!plan.contains("Export Reuse"), "{plan}");
}

#[test]
fn a_second_scan_reads_a_covering_job_again() {
    let emu = tenant(USERS);
    let mut db = Db::new("reuse_on");
    db.attach(&emu);
    db.exec("ALTER SERVER emu OPTIONS (ADD export_max_age_seconds '600')");
    let want = stored_ids(&emu);
    let plan = db.explain("COSTS OFF", "SELECT user_id FROM auth0.users");
    assert!(
        plan.contains("Auth0 Export Reuse: an export job would read a completed one of this session again, up to 600 s old"),
        "{plan}"
    );

    // The first full scan (auto: 1,500 match, an export is cheaper than windows) makes a job.
    assert_eq!(
        ids(
            &mut db,
            "SELECT user_id FROM auth0.users ORDER BY user_id COLLATE \"C\""
        ),
        want
    );
    assert_eq!(emu.emulator.request_count(EXPORTS), 1);

    // A scan of fewer fields reads it again: one GET for a fresh link, no new job.
    emu.emulator.clear_requests();
    let n: i64 = db.one("SELECT count(*) FROM auth0.users");
    assert_eq!(n, USERS as i64);
    assert_eq!(emu.emulator.request_count(EXPORTS), 0);
    assert_eq!(emu.emulator.request_count("GET /api/v2/jobs/{id}"), 1);
    let (first, again) = ran(&mut db, "SELECT user_id FROM auth0.users");
    assert!(again, "read again");

    // Whole users need every field: a new job, which then serves the narrower scans too.
    let raw: i64 = db.one(
        "SELECT count(*) FROM auth0.users WHERE raw->>'user_id' = user_id AND raw ? 'identities'",
    );
    assert_eq!(raw, USERS as i64);
    assert_eq!(emu.emulator.request_count(EXPORTS), 1);
    let (youngest, again) = ran(&mut db, "SELECT user_id FROM auth0.users");
    assert!(again);
    assert_ne!(youngest, first, "the youngest covering job serves");

    // The emails read from the kept job are the store's.
    let emails = ids(
        &mut db,
        "SELECT coalesce(email, '') FROM auth0.users ORDER BY user_id COLLATE \"C\"",
    );
    let st = emu.emulator.lock();
    let mut users: Vec<_> = st.users.all().to_vec();
    users.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    let want_emails: Vec<String> = users
        .iter()
        .map(|u| {
            u.doc
                .get("email")
                .and_then(|e| e.as_str())
                .unwrap_or("")
                .to_string()
        })
        .collect();
    drop(st);
    assert_eq!(emails, want_emails);

    // Another connection is another job (forced export, so a small connection exports too).
    db.exec("ALTER FOREIGN TABLE auth0.users OPTIONS (ADD strategy 'export')");
    emu.emulator.clear_requests();
    let github = "SELECT user_id FROM auth0.users WHERE connection = 'github' ORDER BY user_id COLLATE \"C\"";
    let first_github = ids(&mut db, github);
    assert!(!first_github.is_empty());
    assert_eq!(emu.emulator.request_count(EXPORTS), 1);
    assert_eq!(ids(&mut db, github), first_github);
    assert_eq!(emu.emulator.request_count(EXPORTS), 1, "read again");

    // The table option wins over the server's: 0 turns reuse off for this table.
    db.exec("ALTER FOREIGN TABLE auth0.users OPTIONS (ADD export_max_age_seconds '0')");
    emu.emulator.clear_requests();
    assert_eq!(ids(&mut db, github), first_github);
    assert_eq!(emu.emulator.request_count(EXPORTS), 1);
}

#[test]
fn the_age_and_the_job_s_life_are_respected() {
    let emu = tenant_with(Config {
        seed_users: USERS,
        job_retention: Duration::from_secs(4),
        ..Config::default()
    });
    let mut db = Db::new("reuse_age");
    db.attach(&emu);
    let want = stored_ids(&emu);
    let all = "SELECT user_id FROM auth0.users ORDER BY user_id COLLATE \"C\"";

    // Older than the option allows: a new job.
    db.exec("ALTER SERVER emu OPTIONS (ADD export_max_age_seconds '1')");
    assert_eq!(ids(&mut db, all), want);
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(ids(&mut db, all), want);
    assert_eq!(emu.emulator.request_count(EXPORTS), 2);

    // Young enough: read again.
    db.exec("ALTER SERVER emu OPTIONS (SET export_max_age_seconds '600')");
    assert_eq!(ids(&mut db, all), want);
    assert_eq!(emu.emulator.request_count(EXPORTS), 2);

    // Auth0 no longer has the job: a new one, the same rows.
    std::thread::sleep(Duration::from_secs(5));
    emu.emulator.clear_requests();
    assert_eq!(ids(&mut db, all), want);
    assert_eq!(emu.emulator.request_count(EXPORTS), 1);
    // The kept job's 404, then the new job's polling.
    assert!(emu.emulator.request_count("GET /api/v2/jobs/{id}") >= 2);
}

/// Polls `auth0_job_status` from a plain client until the import has completed.
fn wait_completed(session: &mut postgres::Client, id: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let status: String = session
            .query_one("SELECT status FROM auth0_job_status($1)", &[&id])
            .unwrap()
            .get(0);
        match status.as_str() {
            "completed" => return,
            "pending" | "processing" => {}
            other => panic!("import {id} ended as {other}"),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "import {id} still {status}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_session_sees_its_own_imports_and_reuse_says_how_old_it_is() {
    let emu = fast_tenant(USERS);
    let mut db = Db::new("reuse_import");
    db.attach(&emu);
    db.exec("ALTER SERVER emu OPTIONS (ADD export_max_age_seconds '600')");
    let count = "SELECT count(*) FROM auth0.users";
    assert_eq!(db.one::<i64>(count), USERS as i64);

    // Another session imports a user and reads the tenant twice: its second scan reads its own
    // job again and says how old it is.
    let (mut other, notices) = connect_collecting_notices(&db.name);
    let id: String = other
        .query_one(
            "SELECT auth0_import('Username-Password-Authentication',
               '[{\"email\": \"reuse.one@example.com\", \"email_verified\": true}]')",
            &[],
        )
        .unwrap()
        .get(0);
    wait_completed(&mut other, &id);
    for _ in 0..2 {
        let n: i64 = other.query_one(count, &[]).unwrap().get(0);
        assert_eq!(n, USERS as i64 + 1);
    }
    assert_eq!(emu.emulator.request_count(EXPORTS), 2);
    let said = notices.lock().unwrap().join("\n");
    assert!(
        said.contains("again: it was requested")
            && said.contains("s ago (export_max_age_seconds 600)"),
        "{said}"
    );

    // This session's kept job is from before that import: it still serves (what the option
    // allows), and EXPLAIN ANALYZE says so.
    assert_eq!(db.one::<i64>(count), USERS as i64);
    let plan = db.explain("ANALYZE", count);
    assert!(
        plan.contains("read again, requested") && plan.contains("s before this scan"),
        "{plan}"
    );
    assert_eq!(emu.emulator.request_count(EXPORTS), 2);

    // This session imports: its kept jobs are forgotten, the next scan sees the new users.
    let id: String = db.one(
        "SELECT auth0_import('Username-Password-Authentication',
           '[{\"email\": \"reuse.two@example.com\", \"email_verified\": true}]')",
    );
    common::wait_completed(&mut db, &id);
    assert_eq!(db.one::<i64>(count), USERS as i64 + 2);
    assert_eq!(emu.emulator.request_count(EXPORTS), 3);
}

#[test]
fn the_option_is_checked() {
    let emu = tenant(1);
    let mut db = Db::new("reuse_option");
    db.attach(&emu);
    for bad in ["-1", "86401", "ten"] {
        let e = db.error(&format!(
            "ALTER SERVER emu OPTIONS (ADD export_max_age_seconds '{bad}')"
        ));
        assert_eq!(e.code, "HV024", "{}", e.text());
        assert!(
            e.message
                .contains("invalid value for option \"export_max_age_seconds\""),
            "{}",
            e.text()
        );
        assert_eq!(
            e.hint.as_deref(),
            Some("Use a whole number from 0 to 86400.")
        );
    }
    db.exec("ALTER FOREIGN TABLE auth0.users OPTIONS (ADD export_max_age_seconds '86400')");
}
