//! Writing through `auth0.users`: `COPY FROM` and `INSERT ... SELECT` create users with bulk
//! import jobs sent at COMMIT; nothing is sent before (not even a read) or after a ROLLBACK;
//! rows are validated as they arrive; per-user failures carry their row's position; a JSON file
//! round trip (export, edit, import with upsert) through files. `UPDATE` goes through upsert
//! import jobs where Auth0 allows it and `PATCH` otherwise; `DELETE` deletes exactly its rows
//! behind the `max_delete_users` guard; a ROLLBACK after either sends nothing; columns and values
//! Auth0 refuses are refused before anything is sent. Every result is checked against the
//! emulator's store, never read back through the FDW.

mod common;

use common::{connect_collecting_notices, fast_tenant, Db};
use std::collections::BTreeSet;
use std::io::Write;

const DB_CONNECTION: &str = "Username-Password-Authentication";

/// The emulator's routes that write.
const WRITES: [&str; 3] = [
    "POST /api/v2/jobs/users-imports",
    "PATCH /api/v2/users/{id}",
    "DELETE /api/v2/users/{id}",
];

/// The emulator's users by id (the oracle: never read through the FDW).
fn stored_users(
    emu: &auth0_emulator::Running,
) -> std::collections::BTreeMap<String, serde_json::Map<String, serde_json::Value>> {
    emu.emulator
        .lock()
        .users
        .all()
        .iter()
        .map(|u| (u.user_id.clone(), u.doc.clone()))
        .collect()
}

/// `doc` without the attributes `changed` and `updated_at` (which any change stamps).
fn rest_of(
    doc: &serde_json::Map<String, serde_json::Value>,
    changed: &[&str],
) -> serde_json::Map<String, serde_json::Value> {
    let mut d = doc.clone();
    for k in changed.iter().chain(&["updated_at"]) {
        d.remove(*k);
    }
    d
}

/// A SQL array literal of `ids`.
fn id_array(ids: &[String]) -> String {
    format!(
        "ARRAY[{}]",
        ids.iter()
            .map(|i| format!("'{}'", i.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(",")
    )
}

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
            "UPDATE auth0.users SET user_id = 'auth0|x' WHERE email = 'nobody@example.com'",
            "428C9",
            "cannot be updated",
        ),
        (
            "UPDATE auth0.users SET logins_count = 0, blocked = false",
            "428C9",
            "logins_count",
        ),
        (
            "UPDATE auth0.users SET connection = 'other'",
            "428C9",
            "connection",
        ),
        ("UPDATE auth0.users SET blocked = NULL", "23502", "blocked"),
        ("UPDATE auth0.users SET given_name = ''", "22023", "empty string"),
        (
            "UPDATE auth0.users SET app_metadata = '[1]'",
            "22023",
            "JSON object",
        ),
    ];
    for (sql, code, says) in cases {
        let e = db.error(sql);
        assert_eq!(e.code, code, "{sql}: {}", e.text());
        assert!(e.text().contains(says), "{sql}: {}", e.text());
    }
    // Only UPDATE's scan read users; nothing was written.
    let st = emu.emulator.lock();
    for route in WRITES {
        assert_eq!(st.requests.get(route), None, "{route}");
    }
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
    let refused = [
        "INSERT INTO auth0.users (email, connection) VALUES ('g@example.com', 'db')",
        "UPDATE auth0.users SET blocked = true",
        "DELETE FROM auth0.users",
    ]
    .map(|sql| (sql, db.error(sql)));
    db.exec(&format!(
        "RESET ROLE; DROP OWNED BY {role}; DROP ROLE {role}"
    ));
    for (sql, e) in refused {
        assert_eq!(e.code, "42501", "{sql}: {}", e.text());
    }
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

#[test]
fn update_goes_through_upsert_jobs_or_patch_as_auth0_allows() {
    const UPSERTED: usize = 1_500;
    const BLOCKED: usize = 20;
    let emu = fast_tenant(2_300);
    let mut db = Db::new("write_update");
    db.attach(&emu);
    let before = stored_users(&emu);
    // 1,500 database users with an e-mail, chosen from the store, in a local CRM table.
    let chosen: Vec<String> = before
        .iter()
        .filter(|(_, d)| auth0_emulator::store::first_connection(d) == Some(DB_CONNECTION))
        .filter(|(_, d)| d.get("email").is_some())
        .map(|(id, _)| id.clone())
        .take(UPSERTED)
        .collect();
    assert_eq!(
        chosen.len(),
        UPSERTED,
        "the tenant has enough database users"
    );
    db.exec(&format!(
        "CREATE TABLE crm AS SELECT id AS user_id, 'plan' || (n % 3) AS plan
           FROM unnest({}::text[]) WITH ORDINALITY AS t(id, n)",
        id_array(&chosen)
    ));
    let (mut session, notices) = connect_collecting_notices(&db.name);
    emu.emulator.clear_requests();
    let mut tx = session.transaction().unwrap();
    let n = tx
        .execute(
            "UPDATE auth0.users u
                SET app_metadata = jsonb_build_object('plan', c.plan, 'source', 'crm')
               FROM crm c WHERE u.user_id = c.user_id",
            &[],
        )
        .unwrap();
    assert_eq!(n, UPSERTED as u64);
    for route in WRITES {
        assert_eq!(
            emu.emulator.request_count(route),
            0,
            "{route} before COMMIT"
        );
    }
    tx.commit().unwrap();
    let ids = imports_in(&notices.lock().unwrap());
    assert_eq!(ids.len(), 1, "{:?}", notices.lock().unwrap());
    assert_eq!(
        common::wait_completed(&mut db, &ids[0]),
        (UPSERTED as i32, 0, UPSERTED as i32, 0)
    );
    assert_eq!(emu.emulator.request_count("PATCH /api/v2/users/{id}"), 0);
    let upserts: bool = db.one(&format!(
        "SELECT upsert FROM auth0_imports WHERE import_id = '{}'",
        ids[0]
    ));
    assert!(upserts);
    let after = stored_users(&emu);
    assert_eq!(after.len(), before.len());
    for (n, id) in chosen.iter().enumerate() {
        let (old, new) = (&before[id], &after[id]);
        let plan = format!("plan{}", (n + 1) % 3);
        // Replaced whole (old keys gone), email_verified kept, nothing else changed.
        assert_eq!(
            new["app_metadata"],
            serde_json::json!({"plan": plan, "source": "crm"}),
            "{id}"
        );
        assert_eq!(
            new.get("email_verified"),
            old.get("email_verified")
                .or(Some(&serde_json::json!(false))),
            "{id}"
        );
        assert_eq!(
            rest_of(new, &["app_metadata", "email_verified"]),
            rest_of(old, &["app_metadata", "email_verified"]),
            "{id}"
        );
    }
    for (id, doc) in &before {
        if !chosen.contains(id) {
            assert_eq!(&after[id], doc, "{id} was not updated");
        }
    }

    // `blocked` is not upsertable: one PATCH per user, database and social users alike.
    let blocked: Vec<String> = after
        .iter()
        .filter(|(_, d)| d.get("blocked") != Some(&serde_json::json!(true)))
        .filter(|(_, d)| auth0_emulator::store::first_connection(d) != Some(DB_CONNECTION))
        .map(|(id, _)| id.clone())
        .take(BLOCKED / 2)
        .chain(chosen.iter().take(BLOCKED / 2).cloned())
        .collect();
    assert_eq!(blocked.len(), BLOCKED);
    notices.lock().unwrap().clear();
    emu.emulator.clear_requests();
    let n = session
        .execute(
            &format!(
                "UPDATE auth0.users SET blocked = true WHERE user_id = ANY({})",
                id_array(&blocked)
            ),
            &[],
        )
        .unwrap();
    assert_eq!(n, BLOCKED as u64);
    assert_eq!(
        emu.emulator.request_count("PATCH /api/v2/users/{id}"),
        BLOCKED as u64
    );
    assert_eq!(
        emu.emulator
            .request_count("POST /api/v2/jobs/users-imports"),
        0
    );
    let patched = stored_users(&emu);
    for id in &blocked {
        assert_eq!(patched[id]["blocked"], true, "{id}");
        assert_eq!(
            rest_of(&patched[id], &["blocked"]),
            rest_of(&after[id], &["blocked"]),
            "{id}"
        );
    }
    for (id, doc) in &after {
        if !blocked.contains(id) {
            assert_eq!(&patched[id], doc, "{id} was not patched");
        }
    }
    // One batch per connection; each completed, its users counted as updated.
    let ids = imports_in(&notices.lock().unwrap());
    let mut total = 0;
    for id in &ids {
        let r = &db.rows(&format!(
            "SELECT type, status, total, updated, failed FROM auth0_job_status('{id}')"
        ))[0];
        assert_eq!(r.get::<_, String>(0), "users_update");
        assert_eq!(r.get::<_, String>(1), "completed");
        assert_eq!(r.get::<_, i32>(2), r.get::<_, i32>(3));
        assert_eq!(r.get::<_, i32>(4), 0);
        total += r.get::<_, i32>(2);
    }
    assert_eq!(total, BLOCKED as i32);

    // A PATCH of metadata leaves exactly the new value; NULL removes a profile string.
    let social = &blocked[0];
    emu.emulator.clear_requests();
    session
        .batch_execute(&format!(
            "UPDATE auth0.users SET user_metadata = '{{\"k\": 1}}', nickname = NULL WHERE user_id = '{social}'"
        ))
        .unwrap();
    assert_eq!(emu.emulator.request_count("PATCH /api/v2/users/{id}"), 1);
    let now = &stored_users(&emu)[social];
    assert_eq!(now["user_metadata"], serde_json::json!({"k": 1}));
    assert_eq!(now.get("nickname"), None);
}

#[test]
fn a_user_auth0_refuses_is_a_failed_row_the_others_go_on() {
    let emu = fast_tenant(30);
    let mut db = Db::new("write_patch_errors");
    db.attach(&emu);
    let ids: Vec<String> = stored_users(&emu).keys().take(3).cloned().collect();
    emu.emulator
        .arm(auth0_emulator::state::Fault::on("PATCH /api/v2/users/{id}").status(400));
    let (mut session, notices) = connect_collecting_notices(&db.name);
    session
        .batch_execute(&format!(
            "UPDATE auth0.users SET blocked = true WHERE user_id = ANY({})",
            id_array(&ids)
        ))
        .unwrap();
    let imports = imports_in(&notices.lock().unwrap());
    let (mut failed_rows, mut updated) = (Vec::new(), 0);
    for id in &imports {
        let r = &db.rows(&format!(
            "SELECT status, updated, failed FROM auth0_job_status('{id}')"
        ))[0];
        assert_eq!(r.get::<_, String>(0), "completed");
        updated += r.get::<_, i32>(1);
        for e in db.rows(&format!(
            "SELECT input_index, user_id, code FROM auth0_job_errors('{id}')"
        )) {
            failed_rows.push((
                e.get::<_, i32>(0),
                e.get::<_, String>(1),
                e.get::<_, String>(2),
            ));
        }
    }
    assert_eq!(updated, 2);
    assert_eq!(failed_rows.len(), 1, "{failed_rows:?}");
    let (index, user_id, code) = &failed_rows[0];
    assert_eq!(*index, 0, "the first PATCH was refused");
    assert!(!code.is_empty());
    let after = stored_users(&emu);
    for id in &ids {
        let want = if id == user_id {
            None
        } else {
            Some(&serde_json::json!(true))
        };
        assert_eq!(
            after[id].get("blocked").filter(|b| **b == true),
            want,
            "{id}"
        );
    }
}

#[test]
fn delete_removes_exactly_its_rows_behind_a_guard() {
    let emu = fast_tenant(120);
    let mut db = Db::new("write_delete");
    db.attach(&emu);
    let before = stored_users(&emu);
    let victims: Vec<String> = before.keys().step_by(3).take(30).cloned().collect();
    assert_eq!(victims.len(), 30);
    let delete = format!(
        "DELETE FROM auth0.users WHERE user_id = ANY({})",
        id_array(&victims)
    );

    // One over the guard: refused at the row that passes it, nothing sent.
    db.exec("ALTER SERVER emu OPTIONS (ADD max_delete_users '29')");
    emu.emulator.clear_requests();
    let e = db.error(&delete);
    assert_eq!(e.code, "54000", "{}", e.text());
    assert!(e.message.contains("more than 29 users"), "{}", e.text());
    assert!(
        e.hint.as_deref().unwrap_or("").contains("max_delete_users"),
        "{}",
        e.text()
    );
    assert_eq!(emu.emulator.request_count("DELETE /api/v2/users/{id}"), 0);
    assert_eq!(stored_users(&emu), before);

    // At the guard: every row deleted, one request each, nothing else touched.
    db.exec("ALTER SERVER emu OPTIONS (SET max_delete_users '30')");
    let (mut session, notices) = connect_collecting_notices(&db.name);
    emu.emulator.clear_requests();
    let mut tx = session.transaction().unwrap();
    assert_eq!(tx.execute(&delete, &[]).unwrap(), 30);
    // The same users again in the same transaction: counted by Postgres, deleted once.
    assert_eq!(tx.execute(&delete, &[]).unwrap(), 30);
    assert_eq!(emu.emulator.request_count("DELETE /api/v2/users/{id}"), 0);
    tx.commit().unwrap();
    assert_eq!(emu.emulator.request_count("DELETE /api/v2/users/{id}"), 30);
    let after = stored_users(&emu);
    let mut expected = before.clone();
    for v in &victims {
        expected.remove(v);
    }
    assert_eq!(after, expected);
    let mut total = 0;
    for id in imports_in(&notices.lock().unwrap()) {
        let r = &db.rows(&format!(
            "SELECT type, status, total, failed FROM auth0_job_status('{id}')"
        ))[0];
        assert_eq!(r.get::<_, String>(0), "users_delete");
        assert_eq!(r.get::<_, String>(1), "completed");
        assert_eq!(r.get::<_, i32>(3), 0);
        total += r.get::<_, i32>(2);
    }
    assert_eq!(total, 30);

    // An option that is not a number is refused when set.
    let e = db.error("ALTER SERVER emu OPTIONS (SET max_delete_users 'lots')");
    assert_eq!(e.code, "HV024", "{}", e.text());
}

#[test]
fn rollback_after_update_and_delete_sends_nothing() {
    let emu = fast_tenant(50);
    let mut db = Db::new("write_rollback");
    db.attach(&emu);
    let before = stored_users(&emu);
    emu.emulator.clear_requests();
    db.exec(&format!(
        "BEGIN;
         UPDATE auth0.users SET blocked = true WHERE connection <> '{DB_CONNECTION}';
         UPDATE auth0.users SET app_metadata = '{{\"x\": 1}}' WHERE connection = '{DB_CONNECTION}';
         DELETE FROM auth0.users WHERE email LIKE '%a%';
         INSERT INTO auth0.users (email, connection) VALUES ('rolled.back@example.com', '{DB_CONNECTION}');"
    ));
    let reads = emu.emulator.lock().total_requests;
    assert!(reads > 0, "the scans read");
    db.exec("ROLLBACK");
    let st = emu.emulator.lock();
    assert_eq!(st.total_requests, reads, "ROLLBACK sent no request");
    for route in WRITES {
        assert_eq!(st.requests.get(route), None, "{route}");
    }
    drop(st);
    assert_eq!(stored_users(&emu), before);
    // And a COMMIT after an error in the transaction is a ROLLBACK: nothing either.
    emu.emulator.clear_requests();
    let mut fresh = common::connect(&db.name);
    fresh
        .batch_execute(&format!(
            "BEGIN; DELETE FROM auth0.users WHERE connection = '{DB_CONNECTION}';"
        ))
        .unwrap();
    assert!(fresh.batch_execute("SELECT 1/0").is_err());
    fresh.batch_execute("COMMIT").unwrap();
    assert_eq!(emu.emulator.request_count("DELETE /api/v2/users/{id}"), 0);
    assert_eq!(stored_users(&emu), before);
}

#[test]
fn updates_read_the_table_columns_and_keep_what_they_do_not_set() {
    let emu = fast_tenant(60);
    let mut db = Db::new("write_update_edges");
    db.attach(&emu);
    let before = stored_users(&emu);
    let verified_db_user = |skip: usize| -> String {
        before
            .iter()
            .filter(|(_, d)| auth0_emulator::store::first_connection(d) == Some(DB_CONNECTION))
            .filter(|(_, d)| d.get("email_verified") == Some(&serde_json::json!(true)))
            .map(|(id, _)| id.clone())
            .nth(skip)
            .unwrap()
    };

    // A view that swaps two columns' names: Auth0 gets the table's columns.
    let swapped = verified_db_user(0);
    db.exec(&format!(
        "CREATE VIEW swapped AS SELECT user_id, name AS nickname, nickname AS name FROM auth0.users;
         UPDATE swapped SET nickname = 'Set Through A View' WHERE user_id = '{swapped}'"
    ));
    // (An upsert job: it lands when the emulator runs it.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while stored_users(&emu)[&swapped].get("name") != Some(&serde_json::json!("Set Through A View"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the upsert never landed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let now = stored_users(&emu);
    assert_eq!(
        now[&swapped].get("nickname"),
        before[&swapped].get("nickname")
    );

    // A table without email_verified: an upsert would reset it, so the change is a PATCH and
    // the user stays verified.
    let narrow_user = verified_db_user(1);
    db.exec(
        "CREATE FOREIGN TABLE narrow (user_id text, email text, name text, connection text)
           SERVER emu OPTIONS (rowid_column 'user_id')",
    );
    emu.emulator.clear_requests();
    db.exec(&format!(
        "UPDATE narrow SET name = 'Narrow' WHERE user_id = '{narrow_user}'"
    ));
    assert_eq!(emu.emulator.request_count("PATCH /api/v2/users/{id}"), 1);
    let now = stored_users(&emu);
    assert_eq!(now[&narrow_user]["name"], "Narrow");
    assert_eq!(now[&narrow_user]["email_verified"], true);

    // RETURNING and inheritance parents are refused before anything is read.
    emu.emulator.clear_requests();
    let e = db.error("UPDATE auth0.users SET name = 'x' RETURNING user_id");
    assert_eq!(e.code, "0A000", "{}", e.text());
    let e = db.error("DELETE FROM auth0.users RETURNING user_id");
    assert_eq!(e.code, "0A000", "{}", e.text());
    db.exec(
        "CREATE TABLE parent (user_id text, name text);
         CREATE FOREIGN TABLE child () INHERITS (parent) SERVER emu OPTIONS (rowid_column 'user_id')",
    );
    let e = db.error("UPDATE parent SET name = 'x'");
    assert_eq!(e.code, "0A000", "{}", e.text());
    assert!(e.message.contains("inheritance"), "{}", e.text());
    assert_eq!(emu.emulator.lock().total_requests, 0);
}

#[test]
fn a_later_write_of_the_session_waits_for_its_earlier_update_job() {
    // Import jobs slow enough to still run at the next COMMIT.
    let emu = common::tenant_with(auth0_emulator::state::Config {
        seed_users: 40,
        import_users_per_second: 2.0,
        ..auth0_emulator::state::Config::default()
    });
    let mut db = Db::new("write_order");
    db.attach(&emu);
    let (user, email) = stored_users(&emu)
        .into_iter()
        .find_map(|(id, d)| {
            let email = d.get("email")?.as_str()?.to_string();
            (auth0_emulator::store::first_connection(&d) == Some(DB_CONNECTION))
                .then_some((id, email))
        })
        .unwrap();
    let (mut session, notices) = connect_collecting_notices(&db.name);
    // An upsert job, then a DELETE of the same user in the next transaction.
    session
        .batch_execute(&format!(
            "UPDATE auth0.users SET name = 'Upserted' WHERE user_id = '{user}'"
        ))
        .unwrap();
    assert_eq!(
        emu.emulator
            .request_count("POST /api/v2/jobs/users-imports"),
        1
    );
    session
        .batch_execute(&format!("DELETE FROM auth0.users WHERE user_id = '{user}'"))
        .unwrap();
    assert!(
        notices
            .lock()
            .unwrap()
            .iter()
            .any(|n| n.contains("waiting for this session's earlier UPDATE")),
        "{:?}",
        notices.lock().unwrap()
    );
    // The job ran first (it updated the user), then the DELETE: no user has that e-mail any
    // more (an upsert after the DELETE would have created one, with a new id).
    let ids = imports_in(&notices.lock().unwrap());
    assert_eq!(common::wait_completed(&mut db, &ids[0]).2, 1, "updated");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let st = emu.emulator.lock();
    assert!(st.users.get(&user).is_none());
    assert!(
        st.users.find_by_email_ci(&email).is_none(),
        "{email} was created again"
    );
}

#[test]
fn a_commit_stopped_by_auth0_leaves_every_batch_in_the_ledger_to_resume() {
    let emu = fast_tenant(60);
    let mut db = Db::new("write_resume");
    db.attach(&emu);
    let before = stored_users(&emu);
    let social: Vec<String> = before
        .iter()
        .filter(|(_, d)| auth0_emulator::store::first_connection(d) != Some(DB_CONNECTION))
        .map(|(id, _)| id.clone())
        .take(3)
        .collect();
    let doomed: String = before
        .keys()
        .find(|id| !social.contains(id))
        .unwrap()
        .clone();
    // The application may not PATCH: the COMMIT fails at the first request.
    emu.emulator
        .arm(auth0_emulator::state::Fault::on("PATCH /api/v2/users/{id}").status(403));
    let (mut session, notices) = connect_collecting_notices(&db.name);
    let e = session
        .batch_execute(&format!(
            "BEGIN;
             UPDATE auth0.users SET blocked = true WHERE user_id = ANY({});
             DELETE FROM auth0.users WHERE user_id = '{doomed}';
             COMMIT;",
            id_array(&social)
        ))
        .unwrap_err();
    let e = e.as_db_error().expect("a database error");
    assert_eq!(e.code().code(), "42501", "{}", e.message());
    assert!(
        e.hint().unwrap_or("").contains("update:users"),
        "{:?}",
        e.hint()
    );
    assert_eq!(emu.emulator.request_count("DELETE /api/v2/users/{id}"), 0);
    // Both batches are in the ledger, their users not sent.
    let ids = imports_in(&notices.lock().unwrap());
    assert_eq!(ids.len(), 2, "{ids:?}");
    let mut not_sent = 0;
    for id in &ids {
        let status: String = db.one(&format!("SELECT status FROM auth0_job_status('{id}')"));
        assert_eq!(status, "interrupted", "{id}");
        not_sent += db
            .rows(&format!(
                "SELECT 1 FROM auth0_job_errors('{id}') WHERE code = 'NOT_SUBMITTED' AND user_id IS NOT NULL"
            ))
            .len();
    }
    assert_eq!(not_sent, 4);
    // Resumed once the scope is there: every user done.
    for id in &ids {
        db.exec(&format!("SELECT auth0_import_resume('{id}')"));
        let (status, total, failed): (String, i32, i32) = {
            let r = &db.rows(&format!(
                "SELECT status, total, failed FROM auth0_job_status('{id}')"
            ))[0];
            (r.get(0), r.get(1), r.get(2))
        };
        assert_eq!((status.as_str(), failed), ("completed", 0), "{id}");
        assert!(total == 3 || total == 1);
    }
    let after = stored_users(&emu);
    assert!(!after.contains_key(&doomed));
    for id in &social {
        assert_eq!(after[id]["blocked"], true, "{id}");
    }
}

#[test]
fn writes_need_their_scopes_before_anything_is_sent() {
    // An application that may read and import, but neither update nor delete.
    let emu = common::tenant_with(auth0_emulator::state::Config {
        seed_users: 20,
        import_users_per_second: 10_000.0,
        scopes: ["read:users", "read:connections", "create:users"]
            .map(String::from)
            .to_vec(),
        ..auth0_emulator::state::Config::default()
    });
    let mut db = Db::new("write_scopes");
    db.attach(&emu);
    let before = stored_users(&emu);
    let some = id_array(&before.keys().take(2).cloned().collect::<Vec<_>>());
    for (sql, scope) in [
        (
            format!("DELETE FROM auth0.users WHERE user_id = ANY({some})"),
            "delete:users",
        ),
        (
            format!("UPDATE auth0.users SET blocked = true WHERE user_id = ANY({some})"),
            "update:users",
        ),
    ] {
        emu.emulator.clear_requests();
        let e = db.error(&sql);
        assert_eq!(e.code, "42501", "{sql}: {}", e.text());
        assert!(e.message.contains(scope), "{sql}: {}", e.text());
        assert!(e.hint.is_some(), "{sql}");
        for route in WRITES {
            assert_eq!(emu.emulator.request_count(route), 0, "{sql}: {route}");
        }
    }
    assert_eq!(stored_users(&emu), before);
    // The emulator refuses like Auth0 when asked anyway.
    let client = auth0_api::Client::new(
        auth0_api::ClientConfig::new(
            &emu.url(),
            auth0_api::Credentials::ClientCredentials {
                client_id: auth0_emulator::state::DEFAULT_CLIENT_ID.into(),
                client_secret: auth0_api::Secret::new(auth0_emulator::state::DEFAULT_CLIENT_SECRET),
            },
        )
        .unwrap(),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let id = before.keys().next().unwrap().clone();
    let e = rt.block_on(client.delete_user(&id)).unwrap_err();
    assert_eq!(e.status(), Some(403));
    assert!(e.to_string().contains("Insufficient scope"), "{e}");
}

#[test]
fn a_lost_answer_is_unknown_until_resume_sends_it_again() {
    let emu = fast_tenant(40);
    let mut db = Db::new("write_lost");
    db.attach(&emu);
    db.exec("ALTER SERVER emu OPTIONS (ADD max_retries '1')");
    let social: Vec<String> = stored_users(&emu)
        .into_iter()
        .filter(|(_, d)| auth0_emulator::store::first_connection(d) != Some(DB_CONNECTION))
        .filter(|(_, d)| d.get("blocked") != Some(&serde_json::json!(true)))
        .map(|(id, _)| id)
        .take(2)
        .collect();
    assert_eq!(social.len(), 2);
    // Every attempt of the first PATCH loses its answer (the first try and one retry).
    emu.emulator.arm(
        auth0_emulator::state::Fault::on("PATCH /api/v2/users/{id}")
            .times(2)
            .drop_connection(),
    );
    let (mut session, notices) = connect_collecting_notices(&db.name);
    session
        .batch_execute(&format!(
            "UPDATE auth0.users SET blocked = true WHERE user_id = ANY({})",
            id_array(&social)
        ))
        .unwrap();
    let ids = imports_in(&notices.lock().unwrap());
    assert_eq!(ids.len(), 1, "{:?}", notices.lock().unwrap());
    let id = &ids[0];
    assert!(
        notices
            .lock()
            .unwrap()
            .iter()
            .any(|n| n.starts_with("WARNING") && n.contains("lost")),
        "{:?}",
        notices.lock().unwrap()
    );
    let status: String = db.one(&format!("SELECT status FROM auth0_job_status('{id}')"));
    assert_eq!(status, "outcome_unknown");
    let unknown = db.rows(&format!(
        "SELECT user_id FROM auth0_job_errors('{id}') WHERE code = 'OUTCOME_UNKNOWN'"
    ));
    assert_eq!(unknown.len(), 1);
    let lost: String = unknown[0].get(0);
    assert!(social.contains(&lost));
    // Resume sends it again (a PATCH is idempotent); then every user is done, each once.
    db.exec(&format!("SELECT auth0_import_resume('{id}')"));
    let r = &db.rows(&format!(
        "SELECT status, total, updated, failed FROM auth0_job_status('{id}')"
    ))[0];
    assert_eq!(
        (
            r.get::<_, String>(0),
            r.get::<_, i32>(1),
            r.get::<_, i32>(2),
            r.get::<_, i32>(3)
        ),
        ("completed".to_string(), 2, 2, 0)
    );
    assert!(db
        .rows(&format!("SELECT 1 FROM auth0_job_errors('{id}')"))
        .is_empty());
    let after = stored_users(&emu);
    for u in &social {
        assert_eq!(after[u]["blocked"], true, "{u}");
    }
}
