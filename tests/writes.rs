//! Writing through `auth0.users`: `COPY FROM` and `INSERT ... SELECT` create users with bulk
//! import jobs sent at COMMIT; nothing is sent before (not even a read) or after a ROLLBACK;
//! rows are validated as they arrive; per-user failures carry their row's position; a JSON file
//! round trip (export, edit, import with upsert) through files. Every result is checked against
//! the emulator's store, never read back through the FDW.

mod common;

use common::{connect_collecting_notices, fast_tenant, Db};
use std::collections::BTreeSet;
use std::io::Write;

const DB_CONNECTION: &str = "Username-Password-Authentication";

/// The e-mails of the emulator's users of the database connection.
fn stored_emails(emu: &auth0_emulator::Running) -> BTreeSet<String> {
    emu.emulator
        .lock()
        .users
        .all()
        .iter()
        .filter(|u| auth0_emulator::store::first_connection(&u.doc) == Some(DB_CONNECTION))
        .filter_map(|u| u.email().map(str::to_string))
        .collect()
}

/// The import ids named by the commit's NOTICEs.
fn imports_in(notices: &[String]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for id in notices
        .iter()
        .filter_map(|n| n.split("import ").nth(1))
        .filter_map(|rest| rest.split(':').next())
        .filter(|id| id.starts_with("imp_"))
    {
        if !ids.iter().any(|i| i == id) {
            ids.push(id.to_string());
        }
    }
    ids
}

#[test]
fn copy_from_csv_creates_every_user_at_commit_in_several_jobs() {
    const ROWS: usize = 20_000;
    let emu = fast_tenant(10);
    let mut db = Db::new("write_copy");
    db.attach(&emu);
    let before = stored_emails(&emu);
    let (mut session, notices) = connect_collecting_notices(&db.name);
    emu.emulator.clear_requests();

    let mut tx = session.transaction().unwrap();
    let mut csv = String::from("email,given_name,connection,user_metadata\n");
    let mut wanted = BTreeSet::new();
    for i in 0..ROWS {
        let email = format!("copy.user{i}@example.com");
        csv.push_str(&format!(
            "{email},\"Given, {i}\",{DB_CONNECTION},\"{{\"\"n\"\": {i}}}\"\n"
        ));
        wanted.insert(email);
    }
    let mut w = tx
        .copy_in("COPY auth0.users (email, given_name, connection, user_metadata) FROM STDIN WITH (FORMAT csv, HEADER)")
        .unwrap();
    w.write_all(csv.as_bytes()).unwrap();
    assert_eq!(w.finish().unwrap(), ROWS as u64);
    // Queued, not sent: not one request (not even a token) before COMMIT.
    assert_eq!(emu.emulator.lock().total_requests, 0);
    tx.commit().unwrap();

    let ids = imports_in(&notices.lock().unwrap());
    assert_eq!(ids.len(), 1, "{:?}", notices.lock().unwrap());
    let (total, inserted, updated, failed) = common::wait_completed(&mut db, &ids[0]);
    assert_eq!(
        (total, inserted, updated, failed),
        (ROWS as i32, ROWS as i32, 0, 0)
    );
    let jobs: i64 = db.one(&format!(
        "SELECT cardinality(auth0_job_ids)::bigint FROM auth0_job_status('{}')",
        ids[0]
    ));
    assert!(jobs >= 3, "{jobs} jobs for {ROWS} users");
    assert_eq!(
        emu.emulator
            .request_count("POST /api/v2/jobs/users-imports"),
        jobs as u64
    );
    // Every row is a user, with its columns.
    let after = stored_emails(&emu);
    assert_eq!(
        after.difference(&before).cloned().collect::<BTreeSet<_>>(),
        wanted
    );
    let st = emu.emulator.lock();
    let u = st
        .users
        .all()
        .iter()
        .find(|u| u.email() == Some("copy.user1234@example.com"))
        .unwrap()
        .clone();
    drop(st);
    assert_eq!(u.doc["given_name"], "Given, 1234");
    assert_eq!(u.doc["user_metadata"], serde_json::json!({"n": 1234}));
}

#[test]
fn insert_select_from_a_staging_table_and_rollback() {
    let emu = fast_tenant(10);
    let mut db = Db::new("write_insert");
    db.attach(&emu);
    db.exec(
        "CREATE TABLE staging AS
           SELECT 'staged' || g || '@example.com' AS email, g % 2 = 0 AS verified,
                  jsonb_build_object('plan', CASE WHEN g % 3 = 0 THEN 'pro' ELSE 'free' END) AS meta
             FROM generate_series(1, 250) g",
    );
    let before = stored_emails(&emu);

    // ROLLBACK sends nothing.
    emu.emulator.clear_requests();
    db.exec(
        "BEGIN;
         INSERT INTO auth0.users (email, email_verified, app_metadata, connection)
           SELECT email, verified, meta, 'Username-Password-Authentication' FROM staging;
         ROLLBACK;",
    );
    assert_eq!(emu.emulator.lock().total_requests, 0);
    assert_eq!(stored_emails(&emu), before);

    // The table's default connection; a COMMIT sends one import.
    db.exec(
        "ALTER FOREIGN TABLE auth0.users OPTIONS (ADD connection 'Username-Password-Authentication')",
    );
    let (mut session, notices) = connect_collecting_notices(&db.name);
    session
        .batch_execute(
            "INSERT INTO auth0.users (email, email_verified, app_metadata)
               SELECT email, verified, meta FROM staging",
        )
        .unwrap();
    let ids = imports_in(&notices.lock().unwrap());
    assert_eq!(ids.len(), 1);
    assert_eq!(common::wait_completed(&mut db, &ids[0]), (250, 250, 0, 0));
    let st = emu.emulator.lock();
    for i in [1, 2, 3, 250] {
        let email = format!("staged{i}@example.com");
        let u = st
            .users
            .all()
            .iter()
            .find(|u| u.email() == Some(email.as_str()))
            .unwrap_or_else(|| panic!("{email} was not created"))
            .clone();
        assert_eq!(u.doc["email_verified"], i % 2 == 0, "{email}");
        let plan = if i % 3 == 0 { "pro" } else { "free" };
        assert_eq!(u.doc["app_metadata"], serde_json::json!({"plan": plan}));
    }
    drop(st);
    // The ledger has it, as the role that wrote.
    let (total, connection): (i32, String) = {
        let r = &db.rows(&format!(
            "SELECT total, connection FROM auth0_imports WHERE import_id = '{}'",
            ids[0]
        ))[0];
        (r.get(0), r.get(1))
    };
    assert_eq!((total, connection.as_str()), (250, DB_CONNECTION));
}

#[test]
fn rows_are_checked_as_they_arrive_and_nothing_is_sent() {
    let emu = fast_tenant(10);
    let mut db = Db::new("write_refused");
    db.attach(&emu);
    emu.emulator.clear_requests();
    let cases = [
        (
            "INSERT INTO auth0.users (email, connection) VALUES ('not-an-email', 'Username-Password-Authentication')",
            "22023",
            "FORMAT",
        ),
        (
            "INSERT INTO auth0.users (email, connection) VALUES ('a@example.com', 'db'), ('A@example.com', 'db')",
            "22023",
            "DUPLICATE_IN_BATCH",
        ),
        (
            "INSERT INTO auth0.users (email, connection, logins_count) VALUES ('b@example.com', 'db', 3)",
            "428C9",
            "logins_count",
        ),
        (
            "INSERT INTO auth0.users (email) VALUES ('c@example.com')",
            "23502",
            "needs a connection",
        ),
        (
            "INSERT INTO auth0.users (user_id, email, connection) VALUES ('github|1', 'd@example.com', 'db')",
            "22023",
            "auth0|",
        ),
        (
            "INSERT INTO auth0.users (email, connection, app_metadata) VALUES ('e@example.com', 'db', '{\"blocked\": true}')",
            "22023",
            "app_metadata",
        ),
        (
            "UPDATE auth0.users SET blocked = true WHERE email = 'nobody@example.com' OR true",
            "0A000",
            "not supported yet",
        ),
    ];
    for (sql, code, says) in cases {
        let e = db.error(sql);
        assert_eq!(e.code, code, "{sql}: {}", e.text());
        assert!(e.text().contains(says), "{sql}: {}", e.text());
    }
    // Only UPDATE's scan read users; nothing was written.
    let st = emu.emulator.lock();
    assert_eq!(st.requests.get("POST /api/v2/jobs/users-imports"), None);
    drop(st);

    // A savepoint rolled back after rows were written: the COMMIT fails, nothing is sent.
    emu.emulator.clear_requests();
    db.exec("BEGIN");
    db.exec("INSERT INTO auth0.users (email, connection) VALUES ('kept@example.com', 'Username-Password-Authentication')");
    db.exec("SAVEPOINT s");
    db.exec("INSERT INTO auth0.users (email, connection) VALUES ('undone@example.com', 'Username-Password-Authentication')");
    db.exec("ROLLBACK TO SAVEPOINT s");
    let e = db.error("COMMIT");
    assert_eq!(e.code, "0A000", "{}", e.text());
    assert!(e.message.contains("savepoint"), "{}", e.text());
    assert_eq!(emu.emulator.lock().total_requests, 0);

    // The same in a fresh session, whose savepoint was taken before the library was loaded,
    // and in a PL/pgSQL exception block.
    for script in [
        "BEGIN; SAVEPOINT s;
         INSERT INTO auth0.users (email, connection) VALUES ('undone2@example.com', 'Username-Password-Authentication');
         ROLLBACK TO SAVEPOINT s;",
        "BEGIN;
         DO $$ BEGIN
           INSERT INTO auth0.users (email, connection) VALUES ('undone3@example.com', 'Username-Password-Authentication');
           RAISE EXCEPTION 'undo';
         EXCEPTION WHEN raise_exception THEN NULL;
         END $$;",
    ] {
        emu.emulator.clear_requests();
        let mut fresh = common::connect(&db.name);
        fresh.batch_execute(script).unwrap();
        let e = fresh.batch_execute("COMMIT").unwrap_err();
        let e = e.as_db_error().expect("a database error");
        assert_eq!(e.code().code(), "0A000", "{script}: {}", e.message());
        assert_eq!(emu.emulator.lock().total_requests, 0, "{script}");
    }
    // Rows written before the savepoint and kept are still sent.
    let mut fresh = common::connect(&db.name);
    fresh
        .batch_execute(
            "BEGIN;
             INSERT INTO auth0.users (email, connection) VALUES ('kept.before@example.com', 'Username-Password-Authentication');
             SAVEPOINT s; SELECT 1; ROLLBACK TO SAVEPOINT s;
             COMMIT;",
        )
        .unwrap();
    assert_eq!(
        emu.emulator
            .request_count("POST /api/v2/jobs/users-imports"),
        1
    );

    // A connection that cannot take imports fails the COMMIT before anything is sent.
    emu.emulator.clear_requests();
    let e = db.error(
        "INSERT INTO auth0.users (email, connection) VALUES ('f@example.com', 'no-such-connection')",
    );
    assert_eq!(e.code, "42704", "{}", e.text());
    assert_eq!(
        emu.emulator
            .request_count("POST /api/v2/jobs/users-imports"),
        0
    );
}

#[test]
fn failed_users_carry_their_row_position_and_grants_are_checked() {
    let emu = fast_tenant(40);
    let mut db = Db::new("write_errors");
    db.attach(&emu);
    // An e-mail the tenant already has (a seeded database user): Auth0 refuses that user alone.
    let taken: String = {
        let st = emu.emulator.lock();
        st.users
            .all()
            .iter()
            .filter(|u| auth0_emulator::store::first_connection(&u.doc) == Some(DB_CONNECTION))
            .find_map(|u| u.email().map(str::to_string))
            .unwrap()
    };
    let (mut session, notices) = connect_collecting_notices(&db.name);
    session
        .batch_execute(&format!(
            "INSERT INTO auth0.users (email, connection) VALUES
               ('new.one@example.com', '{DB_CONNECTION}'),
               ('{taken}', '{DB_CONNECTION}'),
               ('new.two@example.com', '{DB_CONNECTION}')"
        ))
        .unwrap();
    let ids = imports_in(&notices.lock().unwrap());
    let (total, inserted, _, failed) = common::wait_completed(&mut db, &ids[0]);
    assert_eq!((total, inserted, failed), (3, 2, 1));
    let r = &db.rows(&format!(
        "SELECT input_index, email, code FROM auth0_job_errors('{}')",
        ids[0]
    ));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].get::<_, i32>(0), 1, "the second row");
    assert_eq!(r[0].get::<_, String>(1), taken.to_lowercase());

    // A role without the grant: 42501 from Postgres, before any request.
    let role = format!("auth0_io_reader_{}", std::process::id());
    db.exec(&format!(
        "CREATE ROLE {role}; GRANT USAGE ON SCHEMA auth0 TO {role};
         GRANT SELECT ON auth0.users TO {role};"
    ));
    emu.emulator.clear_requests();
    db.exec(&format!("SET ROLE {role}"));
    let e = db.error("INSERT INTO auth0.users (email, connection) VALUES ('g@example.com', 'db')");
    db.exec(&format!(
        "RESET ROLE; DROP OWNED BY {role}; DROP ROLE {role}"
    ));
    assert_eq!(e.code, "42501", "{}", e.text());
    assert_eq!(emu.emulator.lock().total_requests, 0);
}

/// `COPY ... TO`/`FROM` with control characters as quote and delimiter: each line as it is
/// (what `psql -At` prints, and what the README's `\copy incoming FROM` reads).
const RAW_LINES: &str = "WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')";

#[test]
fn a_json_file_round_trip_export_edit_upsert() {
    let emu = fast_tenant(60);
    // A user whose name holds `"` and `\`, and whose metadata holds a line break.
    let tricky_id = {
        let mut st = emu.emulator.lock();
        let mut u = (**st
            .users
            .all()
            .iter()
            .find(|u| auth0_emulator::store::first_connection(&u.doc) == Some(DB_CONNECTION))
            .unwrap())
        .clone();
        u.doc
            .insert("name".into(), serde_json::json!("Ada \"The\" Back\\slash"));
        u.doc.insert(
            "user_metadata".into(),
            serde_json::json!({"note": "line one\nline \\two"}),
        );
        let id = u.user_id.clone();
        st.users.upsert(u);
        id
    };
    let mut db = Db::new("write_files");
    db.attach(&emu);
    let export = format!(
        "COPY (SELECT auth0_user_to_import(raw) FROM auth0.users WHERE connection = '{DB_CONNECTION}') TO STDOUT"
    );

    // COPY's default text format doubles backslashes: not JSON for the tricky user.
    let mut text = String::new();
    std::io::Read::read_to_string(&mut db.client.copy_out(&export).unwrap(), &mut text).unwrap();
    let doubled = text.lines().find(|l| l.contains("Back")).unwrap();
    assert!(
        serde_json::from_str::<serde_json::Value>(doubled).is_err(),
        "text format doubles backslashes: {doubled}"
    );

    // The file, written as the README does: every line is valid JSON.
    let mut ndjson = String::new();
    std::io::Read::read_to_string(
        &mut db
            .client
            .copy_out(&format!("{export} {RAW_LINES}"))
            .unwrap(),
        &mut ndjson,
    )
    .unwrap();
    let path = std::env::temp_dir().join(format!("auth0_io_users_{}.ndjson", std::process::id()));
    std::fs::write(&path, &ndjson).unwrap();
    let records: Vec<serde_json::Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let expected_users = emu
        .emulator
        .lock()
        .users
        .all()
        .iter()
        .filter(|u| auth0_emulator::store::first_connection(&u.doc) == Some(DB_CONNECTION))
        .count();
    assert_eq!(records.len(), expected_users);
    let tricky_bare = tricky_id.trim_start_matches("auth0|");
    let tricky = records
        .iter()
        .find(|r| r["user_id"] == tricky_bare)
        .unwrap();
    assert_eq!(tricky["name"], "Ada \"The\" Back\\slash");
    assert_eq!(tricky["user_metadata"]["note"], "line one\nline \\two");

    // Edit the file, as a JSON array too (the original extension's format), and read it back.
    let edited: Vec<serde_json::Value> = records
        .into_iter()
        .map(|mut r| {
            r["user_metadata"]["round_trip"] = serde_json::json!(true);
            r
        })
        .collect();
    let array = serde_json::to_string(&edited).unwrap();
    std::fs::write(&path, &array).unwrap();
    let from_file: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let lines: String = from_file.iter().map(|r| format!("{r}\n")).collect();
    std::fs::remove_file(&path).unwrap();

    // Import with upsert: every user updated, none created.
    db.exec(&format!(
        "CREATE TABLE incoming (record jsonb);
         ALTER FOREIGN TABLE auth0.users OPTIONS (ADD upsert 'true', ADD connection '{DB_CONNECTION}')"
    ));
    let mut w = db
        .client
        .copy_in(&format!("COPY incoming FROM STDIN {RAW_LINES}"))
        .unwrap();
    std::io::Write::write_all(&mut w, lines.as_bytes()).unwrap();
    assert_eq!(w.finish().unwrap(), expected_users as u64);
    let before: Vec<auth0_emulator::store::StoredUser> = emu
        .emulator
        .lock()
        .users
        .all()
        .iter()
        .map(|u| (**u).clone())
        .collect();
    let (mut session, notices) = connect_collecting_notices(&db.name);
    session
        .batch_execute("INSERT INTO auth0.users (raw) SELECT record FROM incoming")
        .unwrap();
    let ids = imports_in(&notices.lock().unwrap());
    let (total, inserted, updated, failed) = common::wait_completed(&mut db, &ids[0]);
    assert_eq!(
        (total, inserted, updated, failed),
        (expected_users as i32, 0, expected_users as i32, 0)
    );
    let st = emu.emulator.lock();
    assert_eq!(st.users.len(), before.len(), "no user created");
    for old in &before {
        let now = st.users.get(&old.user_id).unwrap();
        if auth0_emulator::store::first_connection(&old.doc) != Some(DB_CONNECTION) {
            assert_eq!(now.doc, old.doc);
            continue;
        }
        assert_eq!(
            now.doc["user_metadata"]["round_trip"], true,
            "{}",
            old.user_id
        );
        for k in [
            "email",
            "name",
            "created_at",
            "app_metadata",
            "logins_count",
        ] {
            assert_eq!(now.doc.get(k), old.doc.get(k), "{}: {k}", old.user_id);
        }
        // Sent as it was; a user without it gets false (Auth0's upsert rule).
        let verified = |d: &serde_json::Map<String, serde_json::Value>| {
            d.get("email_verified")
                .cloned()
                .unwrap_or(serde_json::json!(false))
        };
        assert_eq!(verified(&now.doc), verified(&old.doc), "{}", old.user_id);
    }
    assert_eq!(
        st.users.get(&tricky_id).unwrap().doc["user_metadata"]["note"],
        "line one\nline \\two"
    );
}
