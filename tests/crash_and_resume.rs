//! A backend killed with SIGKILL in the middle of an import (the server then restarts every
//! session): the import is seen as interrupted, its unsent users are NOT_SUBMITTED one by one,
//! and `auth0_import_resume` sends the rest — every user inserted exactly once, no file sent
//! twice. Alone in its test binary: the crash restarts the whole cluster.

mod common;

use auth0_emulator::Config;
use common::{tenant_with, wait_completed, Db};
use std::time::{Duration, Instant};

const USERS: usize = 5000;

fn reconnect(db: &mut Db) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let attempt = std::panic::catch_unwind(|| {
            let mut c = common::connect(&db.name);
            c.simple_query("SELECT 1").map(|_| c)
        });
        match attempt {
            Ok(Ok(c)) => {
                db.client = c;
                return;
            }
            _ => {
                assert!(Instant::now() < deadline, "the cluster did not come back");
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    }
}

#[test]
fn a_killed_import_is_resumed_with_every_user_inserted_exactly_once() {
    // Jobs of ~1,700 users take ~3 s: the third file waits for a slot long enough to be killed.
    let emu = tenant_with(Config {
        seed_users: 0,
        import_users_per_second: 600.0,
        ..Config::default()
    });
    let mut db = Db::new("crash_resume");
    db.attach(&emu);
    let mut importer = common::connect(&db.name);
    let pid: i32 = importer
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    let users = format!(
        "(SELECT jsonb_agg(jsonb_build_object('email', 'crash' || g || '@example.com',
            'user_metadata', jsonb_build_object('bio', repeat('x', 200), 'n', g)) ORDER BY g)
           FROM generate_series(0, {}) g)",
        USERS - 1
    );
    let sql = format!("SELECT auth0_import('Username-Password-Authentication', {users})");
    let running = std::thread::spawn(move || importer.query_one(&sql, &[]).map(|_| ()));

    // Kill it once two files are in (the third waits for a free Auth0 job slot).
    let deadline = Instant::now() + Duration::from_secs(60);
    while db.one::<i64>("SELECT count(*) FROM auth0_import_jobs") < 2 {
        assert!(
            Instant::now() < deadline,
            "the import never submitted two files"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the test must be able to signal the backend (run as root)"
    );
    assert!(
        running.join().unwrap().is_err(),
        "the import statement died"
    );
    reconnect(&mut db);

    let (id, submission): (String, String) = {
        let r = &db.rows("SELECT import_id, submission FROM auth0_imports")[0];
        (r.get(0), r.get(1))
    };
    assert!(
        submission.starts_with("interrupted: the session submitting it ended"),
        "{submission}"
    );
    let jobs_before = emu
        .emulator
        .request_count("POST /api/v2/jobs/users-imports");
    assert_eq!(jobs_before, 2);
    let in_jobs: i64 = db.one("SELECT sum(users) FROM auth0_import_jobs");
    let not_submitted: Vec<i32> = db
        .rows(&format!(
            "SELECT input_index FROM auth0_job_errors('{id}') WHERE code = 'NOT_SUBMITTED' ORDER BY 1"
        ))
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(not_submitted.len() as i64, USERS as i64 - in_jobs);
    assert_eq!(
        not_submitted,
        (in_jobs as i32..USERS as i32).collect::<Vec<_>>(),
        "one row per unsent input position"
    );
    // Before resuming, every user is counted: inserted by the two jobs or failed as unsent; the
    // import says it is interrupted (resumable), not completed.
    let (status, total, inserted, updated, failed) = common::wait_final(&mut db, &id);
    assert_eq!(status, "interrupted");
    assert_eq!(
        (total, inserted + updated + failed),
        (USERS as i32, USERS as i32)
    );
    assert_eq!(failed as i64, USERS as i64 - in_jobs);
    assert_eq!(inserted as i64, in_jobs);

    let resumed: String = db.one(&format!("SELECT auth0_import_resume('{id}')"));
    assert_eq!(resumed, id);
    let (total, inserted, updated, failed) = wait_completed(&mut db, &id);
    assert_eq!(
        (total, inserted, updated, failed),
        (USERS as i32, USERS as i32, 0, 0)
    );
    assert_eq!(
        emu.emulator
            .request_count("POST /api/v2/jobs/users-imports"),
        3,
        "no file was sent twice"
    );
    // The emulator's own store: every user exactly once.
    let st = emu.emulator.lock();
    let mut emails: Vec<String> = st
        .users
        .all()
        .iter()
        .filter_map(|u| u.email().map(str::to_string))
        .collect();
    assert_eq!(emails.len(), USERS);
    emails.sort();
    emails.dedup();
    assert_eq!(emails.len(), USERS);
    drop(st);
    assert_eq!(
        db.one::<String>("SELECT submission FROM auth0_imports"),
        "submitted"
    );
    // Resuming again changes nothing.
    db.exec(&format!("SELECT auth0_import_resume('{id}')"));
    assert_eq!(
        emu.emulator
            .request_count("POST /api/v2/jobs/users-imports"),
        3
    );
}
