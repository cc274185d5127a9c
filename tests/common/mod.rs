//! Shared harness of the SQL integration tests: a database of its own per test in the cluster
//! that `scripts/test` starts, and an emulator of its own per test (so request counts are exact).

#![allow(dead_code)]

use auth0_emulator::{spawn, Config, Running};
use postgres::{Client, NoTls, Row};
use std::sync::atomic::{AtomicU32, Ordering};

pub struct Db {
    pub client: Client,
    pub name: String,
}

fn pg_env() -> (String, String) {
    let host = std::env::var("AUTH0_IO_TEST_PGHOST")
        .expect("AUTH0_IO_TEST_PGHOST is not set: run the integration tests through scripts/test");
    let port = std::env::var("AUTH0_IO_TEST_PGPORT").unwrap_or_else(|_| "5432".into());
    (host, port)
}

pub fn connect(db: &str) -> Client {
    let (host, port) = pg_env();
    Client::connect(
        &format!("host={host} port={port} user=postgres dbname={db}"),
        NoTls,
    )
    .unwrap_or_else(|e| panic!("cannot connect to the test cluster at {host}:{port}: {e}"))
}

static SERIAL: AtomicU32 = AtomicU32::new(0);

impl Db {
    /// A fresh database with the extension created.
    pub fn new(test: &str) -> Db {
        let mut db = Db::empty(test);
        db.exec("CREATE EXTENSION auth0_io");
        db
    }

    /// A fresh database without the extension.
    pub fn empty(test: &str) -> Db {
        let name = format!(
            "t_{}_{}_{}",
            test,
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::SeqCst)
        );
        let mut admin = connect("postgres");
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        Db {
            client: connect(&name),
            name,
        }
    }

    pub fn exec(&mut self, sql: &str) {
        self.client
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}\n-> {}", describe(&e)));
    }

    pub fn rows(&mut self, sql: &str) -> Vec<Row> {
        self.client
            .query(sql, &[])
            .unwrap_or_else(|e| panic!("{sql}\n-> {}", describe(&e)))
    }

    pub fn one<T: for<'a> postgres::types::FromSql<'a>>(&mut self, sql: &str) -> T {
        self.client
            .query_one(sql, &[])
            .unwrap_or_else(|e| panic!("{sql}\n-> {}", describe(&e)))
            .get(0)
    }

    /// The error a statement must raise: (SQLSTATE, message, detail, hint).
    pub fn error(&mut self, sql: &str) -> DbError {
        match self.client.batch_execute(sql) {
            Ok(()) => panic!("expected an error from: {sql}"),
            Err(e) => {
                let db = e
                    .as_db_error()
                    .unwrap_or_else(|| panic!("not a database error: {e}"));
                DbError {
                    code: db.code().code().to_string(),
                    message: db.message().to_string(),
                    detail: db.detail().map(str::to_string),
                    hint: db.hint().map(str::to_string),
                }
            }
        }
    }

    /// The plan of `sql` as text, one line per row, from `EXPLAIN (<options>) sql`.
    pub fn explain(&mut self, options: &str, sql: &str) -> String {
        self.rows(&format!("EXPLAIN ({options}) {sql}"))
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Points the database at `tenant` as `auth0.users`.
    pub fn attach(&mut self, tenant: &Running) {
        self.exec(&format!(
            "CREATE SERVER emu FOREIGN DATA WRAPPER auth0 OPTIONS (api_url '{url}');
             CREATE USER MAPPING FOR CURRENT_USER SERVER emu
               OPTIONS (client_id '{id}', client_secret '{secret}');
             CREATE SCHEMA auth0;
             IMPORT FOREIGN SCHEMA auth0 FROM SERVER emu INTO auth0;",
            url = tenant.url(),
            id = auth0_emulator::state::DEFAULT_CLIENT_ID,
            secret = auth0_emulator::state::DEFAULT_CLIENT_SECRET,
        ));
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return; // keep the database for a post-mortem
        }
        if let Ok(mut admin) = std::panic::catch_unwind(|| connect("postgres")) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// A second connection to a test database that collects the NOTICEs it receives.
pub fn connect_collecting_notices(
    db: &str,
) -> (Client, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let (host, port) = pg_env();
    let notices = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = notices.clone();
    let mut cfg: postgres::Config = format!("host={host} port={port} user=postgres dbname={db}")
        .parse()
        .unwrap();
    cfg.notice_callback(move |n| {
        sink.lock()
            .unwrap()
            .push(format!("{}: {}", n.severity(), n.message()))
    });
    (cfg.connect(NoTls).unwrap(), notices)
}

#[derive(Debug)]
pub struct DbError {
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl DbError {
    pub fn text(&self) -> String {
        format!(
            "{} {} {:?} {:?}",
            self.code, self.message, self.detail, self.hint
        )
    }
}

pub fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!(
            "{}: {} (detail: {:?}, hint: {:?})",
            d.code().code(),
            d.message(),
            d.detail(),
            d.hint()
        ),
        None => e.to_string(),
    }
}

/// The oracle: the tenant's users as a plain table `local_users`, read from the emulator's own
/// store (never through the FDW) and typed with plain SQL (an independent reading of the column
/// mapping). Every result of `auth0.users` is checked against it.
pub fn local_copy(db: &mut Db, emu: &auth0_emulator::Running) {
    let users: Vec<serde_json::Value> = emu
        .emulator
        .lock()
        .users
        .all()
        .iter()
        .map(|u| serde_json::Value::Object(u.doc.clone()))
        .collect();
    let json = serde_json::Value::Array(users).to_string();
    db.client
        .execute(
            "CREATE TABLE local_users AS
             SELECT u->>'user_id' AS user_id, u->>'email' AS email, (u->>'email_verified')::boolean AS email_verified,
                    u->>'username' AS username, u->>'phone_number' AS phone_number,
                    (u->>'phone_verified')::boolean AS phone_verified, u->>'name' AS name, u->>'nickname' AS nickname,
                    u->>'given_name' AS given_name, u->>'family_name' AS family_name, u->>'picture' AS picture,
                    u->'identities'->0->>'connection' AS connection,
                    (u->>'created_at')::timestamptz AS created_at, (u->>'updated_at')::timestamptz AS updated_at,
                    (u->>'last_login')::timestamptz AS last_login,
                    (u->>'last_password_reset')::timestamptz AS last_password_reset,
                    u->>'last_ip' AS last_ip, (u->>'logins_count')::bigint AS logins_count,
                    (u->>'blocked')::boolean AS blocked, u->'multifactor' AS multifactor,
                    u->'identities' AS identities, u->'app_metadata' AS app_metadata,
                    u->'user_metadata' AS user_metadata, u AS raw
               FROM jsonb_array_elements($1::text::jsonb) u",
            &[&json],
        )
        .unwrap();
}

pub fn tenant(users: usize) -> Running {
    spawn(Config {
        seed_users: users,
        ..Config::default()
    })
    .expect("emulator starts")
}

pub fn tenant_with(config: Config) -> Running {
    spawn(config).expect("emulator starts")
}

/// A tenant whose import jobs run at 10,000 users/s (tests that wait for imports to finish).
pub fn fast_tenant(users: usize) -> Running {
    tenant_with(Config {
        seed_users: users,
        import_users_per_second: 10_000.0,
        ..Config::default()
    })
}

/// Waits until the import is final and checks that it completed: (total, inserted, updated,
/// failed).
pub fn wait_completed(db: &mut Db, id: &str) -> (i32, i32, i32, i32) {
    let (status, total, inserted, updated, failed) = wait_final(db, id);
    assert_eq!(status, "completed", "import {id}");
    (total, inserted, updated, failed)
}

/// Polls `auth0_job_status` until the import is no longer pending or processing:
/// (status, total, inserted, updated, failed).
pub fn wait_final(db: &mut Db, id: &str) -> (String, i32, i32, i32, i32) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let r = &db.rows(&format!(
            "SELECT status, total, inserted, updated, failed FROM auth0_job_status('{id}')"
        ))[0];
        let status: String = r.get(0);
        if status != "pending" && status != "processing" {
            return (status, r.get(1), r.get(2), r.get(3), r.get(4));
        }
        assert!(
            std::time::Instant::now() < deadline,
            "import {id} stuck in {status}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
