//! `auth0.users` end to end: SQL against a real cluster and an emulated tenant.

mod common;

use auth0_emulator::Fault;
use common::{local_copy, tenant, Db};
use std::time::{Duration, Instant};

fn ids(db: &mut Db, sql: &str) -> Vec<String> {
    db.rows(sql).iter().map(|r| r.get::<_, String>(0)).collect()
}

#[test]
fn columns_are_typed_and_unset_fields_are_null() {
    let emu = tenant(50);
    let mut db = Db::new("typed");
    db.attach(&emu);
    local_copy(&mut db, &emu);
    // Every column of every user equals the reference (IS NOT DISTINCT FROM: NULLs included).
    let diffs: i64 = db.one(
        "SELECT count(*) FROM local_users l JOIN auth0.users u USING (user_id)
          WHERE (l.email, l.email_verified, l.username, l.phone_number, l.phone_verified, l.name, l.nickname,
                 l.given_name, l.family_name, l.picture, l.connection, l.created_at, l.updated_at, l.last_login,
                 l.last_password_reset, l.last_ip, l.logins_count, l.blocked, l.multifactor, l.identities,
                 l.app_metadata, l.user_metadata, l.raw)
            IS DISTINCT FROM
                (u.email, u.email_verified, u.username, u.phone_number, u.phone_verified, u.name, u.nickname,
                 u.given_name, u.family_name, u.picture, u.connection, u.created_at, u.updated_at, u.last_login,
                 u.last_password_reset, u.last_ip, u.logins_count, u.blocked, u.multifactor, u.identities,
                 u.app_metadata, u.user_metadata, u.raw)",
    );
    assert_eq!(diffs, 0);
    let n: i64 = db.one("SELECT count(*) FROM auth0.users");
    assert_eq!(n, 50);
    // Unset fields are NULL, set false/0 stay values.
    let (null_logins, false_blocked): (i64, i64) = {
        let r = &db.rows("SELECT count(*) FILTER (WHERE last_login IS NULL), count(*) FILTER (WHERE blocked = false) FROM auth0.users")[0];
        (r.get(0), r.get(1))
    };
    assert!(
        null_logins > 0 && false_blocked > 0,
        "{null_logins} {false_blocked}"
    );
    let t: String = db.one("SELECT pg_typeof(created_at)::text FROM auth0.users LIMIT 1");
    assert_eq!(t, "timestamp with time zone");
}

#[test]
fn point_lookups_take_one_request() {
    let emu = tenant(3000);
    let mut db = Db::new("lookups");
    db.attach(&emu);
    let (id, email) = {
        let st = emu.emulator.lock();
        let u = &st.users.all()[1234];
        (u.user_id.clone(), u.email().unwrap().to_string())
    };
    db.one::<i64>("SELECT count(*) FROM auth0.users WHERE user_id = 'warm-up|token'");
    emu.emulator.clear_requests();

    let got: String = db.one(&format!(
        "SELECT email FROM auth0.users WHERE user_id = '{id}'"
    ));
    assert_eq!(got, email);
    assert_eq!(emu.emulator.lock().total_requests, 1);
    assert_eq!(emu.emulator.request_count("GET /api/v2/users/{id}"), 1);

    let got: String = db.one(&format!(
        "SELECT user_id FROM auth0.users WHERE email = '{email}'"
    ));
    assert_eq!(got, id);
    assert_eq!(emu.emulator.lock().total_requests, 2);
    assert_eq!(emu.emulator.request_count("GET /api/v2/users-by-email"), 1);

    // A fresh backend needs one token request more, never more than that.
    let mut db2 = common::connect(&db.name);
    emu.emulator.clear_requests();
    db2.query(
        &format!("SELECT * FROM auth0.users WHERE user_id = '{id}'"),
        &[],
    )
    .unwrap();
    let st = emu.emulator.lock();
    assert_eq!(st.total_requests, 2, "{:?}", st.requests);
    assert_eq!(st.requests.get("POST /oauth/token"), Some(&1));
}

#[test]
fn pushed_filters_return_what_postgres_would() {
    let emu = tenant(3000);
    let mut db = Db::new("filters");
    db.attach(&emu);
    local_copy(&mut db, &emu);
    let some: Vec<(String, String, String)> = {
        let st = emu.emulator.lock();
        [7usize, 700, 1400, 2100, 2999]
            .iter()
            .map(|&i| {
                let u = &st.users.all()[i];
                (
                    u.user_id.clone(),
                    u.email().unwrap().to_string(),
                    u.doc["created_at"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let filters = vec![
        format!("email = '{}'", some[0].1),
        format!("email = '{}'", some[1].1.to_uppercase()),
        format!(
            "email IN ('{}', '{}', 'nobody@example.com')",
            some[1].1, some[2].1
        ),
        format!("user_id IN ('{}', '{}')", some[3].0, some[4].0),
        format!("created_at = '{}'", some[2].2),
        "created_at >= '2021-01-01' AND created_at < '2021-03-01'".into(),
        "created_at > '2024-06-30 23:59:59.9995+00'".into(),
        "updated_at <= '2019-06-01'".into(),
        "logins_count > 400".into(),
        "logins_count BETWEEN 10 AND 20".into(),
        "logins_count = 77".into(),
        "email LIKE 'ada.%'".into(),
        "name LIKE 'Ada L%'".into(),
        "given_name ILIKE 'gr%'".into(),
        "family_name LIKE 'O''%'".into(),
        "last_login IS NULL".into(),
        "phone_number IS NOT NULL".into(),
        "blocked".into(),
        "blocked IS NOT TRUE AND connection = 'github'".into(),
        "NOT email_verified".into(),
        "email_verified = false AND logins_count < 50".into(),
        "connection = 'github'".into(),
        "connection IN ('github', 'google-oauth2') AND created_at > '2024-01-01'".into(),
        "name = 'ada lovelace'".into(),
        "username <> 'nobody' AND connection = 'github'".into(),
        "email LIKE '%@acme.test' AND connection = 'github'".into(),
        "user_metadata->>'theme' = 'dark' AND connection = 'github'".into(),
        "app_metadata->'roles' ? 'admin' AND created_at < '2020-01-01'".into(),
    ];
    for f in &filters {
        let remote = ids(
            &mut db,
            &format!("SELECT user_id FROM auth0.users WHERE {f} ORDER BY user_id"),
        );
        let local = ids(
            &mut db,
            &format!("SELECT user_id FROM local_users WHERE {f} ORDER BY user_id"),
        );
        assert_eq!(remote, local, "filter: {f}");
    }
    // The comparisons above are not vacuous.
    let non_empty = filters
        .iter()
        .filter(|f| db.one::<i64>(&format!("SELECT count(*) FROM local_users WHERE {f}")) > 0)
        .count();
    assert!(
        non_empty >= filters.len() - 3,
        "{non_empty} of {}",
        filters.len()
    );
}

#[test]
fn order_by_created_at_limit_is_one_page() {
    let emu = tenant(3000);
    let mut db = Db::new("topn");
    db.attach(&emu);
    local_copy(&mut db, &emu);
    db.one::<i64>("SELECT count(*) FROM auth0.users WHERE user_id = 'warm-up|token'");
    emu.emulator.clear_requests();
    let remote = ids(
        &mut db,
        "SELECT user_id FROM auth0.users ORDER BY created_at DESC LIMIT 10",
    );
    assert_eq!(emu.emulator.lock().total_requests, 1);
    let local = ids(
        &mut db,
        "SELECT user_id FROM local_users ORDER BY created_at DESC LIMIT 10",
    );
    assert_eq!(remote, local);
    let plan: Vec<String> = db
        .rows("EXPLAIN SELECT user_id FROM auth0.users ORDER BY created_at DESC LIMIT 10")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        plan.iter().any(|l| l.contains("Auth0 Sort: created_at:-1")),
        "{plan:#?}"
    );
    assert!(
        plan.iter().any(|l| l.contains("Auth0 Limit: 10")),
        "{plan:#?}"
    );

    // With a filter Auth0 cannot evaluate, the LIMIT must not be pushed (Postgres filters first).
    let remote = ids(
        &mut db,
        "SELECT user_id FROM auth0.users WHERE connection = 'github' AND user_metadata->>'theme' = 'dark'
          ORDER BY created_at DESC LIMIT 5",
    );
    let local = ids(
        &mut db,
        "SELECT user_id FROM local_users WHERE connection = 'github' AND user_metadata->>'theme' = 'dark'
          ORDER BY created_at DESC LIMIT 5",
    );
    assert_eq!(remote, local);
    // Nor under a join.
    let remote = ids(
        &mut db,
        "SELECT u.user_id FROM auth0.users u JOIN local_users l ON l.user_id = u.user_id AND l.blocked
          WHERE u.connection = 'github' ORDER BY u.created_at LIMIT 3",
    );
    let local = ids(
        &mut db,
        "SELECT user_id FROM local_users WHERE blocked AND connection = 'github' ORDER BY created_at LIMIT 3",
    );
    assert_eq!(remote, local);
}

#[test]
fn q_passes_a_raw_search_and_reads_it_back() {
    let emu = tenant(3000);
    let mut db = Db::new("q");
    db.attach(&emu);
    local_copy(&mut db, &emu);
    let q = r#"app_metadata.plan:"enterprise" AND identities.connection:"github""#;
    let rows = db.rows(&format!(
        "SELECT user_id, q FROM auth0.users WHERE q = '{q}' ORDER BY user_id"
    ));
    let local = ids(
        &mut db,
        "SELECT user_id FROM local_users WHERE app_metadata->>'plan' = 'enterprise' AND connection = 'github' ORDER BY user_id",
    );
    assert!(!local.is_empty());
    assert_eq!(
        rows.iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>(),
        local
    );
    assert!(rows.iter().all(|r| r.get::<_, String>(1) == q));
    // A malformed query is Auth0's 400, shown as an invalid parameter with Auth0's words.
    let e = db.error("SELECT * FROM auth0.users WHERE q = 'name:(unclosed'");
    assert_eq!(e.code, "22023", "{}", e.text());
    assert!(
        e.detail
            .as_deref()
            .unwrap_or("")
            .contains("invalid_query_string"),
        "{}",
        e.text()
    );
}

#[test]
fn copy_to_csv() {
    let emu = tenant(40);
    let mut db = Db::new("copy");
    db.attach(&emu);
    let mut out = String::new();
    use std::io::Read;
    db.client
        .copy_out(
            "COPY (SELECT user_id AS \"Id\", email AS \"Email\", email_verified AS \"Email Verified\",
                          coalesce(user_metadata->>'theme', 'none') AS \"Theme\", created_at
                     FROM auth0.users WHERE connection = 'Username-Password-Authentication'
                    ORDER BY created_at) TO STDOUT WITH (FORMAT csv, HEADER)",
        )
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Id,Email,Email Verified,Theme,created_at");
    let db_users: Vec<_> = {
        let st = emu.emulator.lock();
        st.users
            .all()
            .iter()
            .filter(|u| u.doc["identities"][0]["connection"] == "Username-Password-Authentication")
            .map(|u| {
                (
                    u.user_id.clone(),
                    u.email().unwrap().to_string(),
                    u.doc["email_verified"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(lines.len(), db_users.len() + 1);
    for (line, (id, email, verified)) in lines[1..].iter().zip(&db_users) {
        let cols: Vec<&str> = line.split(',').collect();
        assert_eq!(cols[0], id);
        assert_eq!(cols[1], email);
        assert_eq!(
            cols[2],
            if *verified { "t" } else { "f" },
            "false exports as f, not blank"
        );
    }
}

#[test]
fn hostile_values_stay_values() {
    let emu = tenant(100);
    let mut db = Db::new("hostile");
    db.attach(&emu);
    db.one::<i64>("SELECT count(*) FROM auth0.users WHERE user_id = 'warm-up|token'");
    emu.emulator.clear_requests();
    for id in [
        "auth0|x/../../jobs/job_1",
        "../connections",
        "..",
        ".",
        "a?b#c",
        "x%2F..%2Fy",
        "auth0|'\"\\",
    ] {
        let sql = format!(
            "SELECT count(*) FROM auth0.users WHERE user_id = '{}'",
            id.replace('\'', "''")
        );
        assert_eq!(db.one::<i64>(&sql), 0, "{id}");
    }
    let routes = emu.emulator.lock().requests.clone();
    assert!(
        routes
            .keys()
            .all(|r| r == "GET /api/v2/users/{id}" || r == "GET /api/v2/users"),
        "{routes:?}"
    );
    for v in [
        r#"a" OR _exists_:email OR "b"#,
        r"back\slash\",
        "x) OR (email:*",
        "*",
        "a:b AND c",
        "NOT",
        "pipe|slash/dots..",
        "tab\there",
    ] {
        let lit = v.replace('\'', "''");
        for col in ["email", "name", "username", "connection"] {
            let n: i64 = db.one(&format!(
                "SELECT count(*) FROM auth0.users WHERE {col} = '{lit}'"
            ));
            assert_eq!(n, 0, "{col} = {v}");
            let n: i64 = db.one(&format!(
                "SELECT count(*) FROM auth0.users WHERE {col} LIKE '{}%'",
                lit.replace('%', "")
            ));
            assert_eq!(n, 0, "{col} LIKE {v}%");
        }
    }
    assert_eq!(emu.emulator.request_count("GET /api/v2/jobs/{id}"), 0);
}

#[test]
fn rate_limits_and_server_errors_are_survived() {
    let emu = tenant(300);
    let mut db = Db::new("survive");
    db.attach(&emu);
    let expected: i64 = db.one("SELECT count(*) FROM auth0.users");
    emu.emulator
        .arm(Fault::on("GET /api/v2/users").status(429).times(3));
    assert_eq!(db.one::<i64>("SELECT count(*) FROM auth0.users"), expected);
    emu.emulator
        .arm(Fault::on("GET /api/v2/users").status(503).times(2));
    assert_eq!(db.one::<i64>("SELECT count(*) FROM auth0.users"), expected);
    emu.emulator
        .arm(Fault::on("GET /api/v2/users").drop_connection());
    assert_eq!(db.one::<i64>("SELECT count(*) FROM auth0.users"), expected);
    // The waits were reported as NOTICEs (and are silenced by client_min_messages).
    emu.emulator.arm(Fault::on("GET /api/v2/users").status(429));
    let (mut c, notices) = common::connect_collecting_notices(&db.name);
    c.query("SELECT count(*) FROM auth0.users", &[]).unwrap();
    assert!(
        notices
            .lock()
            .unwrap()
            .iter()
            .any(|m| m.contains("rate limited")),
        "{:?}",
        notices.lock().unwrap()
    );
}

#[test]
fn a_connection_that_keeps_dropping_is_a_clear_error() {
    let emu = tenant(30);
    let mut db = Db::new("dropping");
    db.attach(&emu);
    db.exec("ALTER SERVER emu OPTIONS (ADD max_retries '2')");
    emu.emulator
        .arm(Fault::on("GET /api/v2/users").drop_connection().times(10));
    let e = db.error("SELECT count(*) FROM auth0.users");
    assert_eq!(e.code, "HV00N", "{}", e.text());
    assert!(e.message.contains("after 3 attempt(s)"), "{}", e.text());
    assert!(e.message.contains("GET /api/v2/users"), "{}", e.text());
    assert_eq!(emu.emulator.request_count("GET /api/v2/users"), 3);
}

#[test]
fn a_wrong_secret_is_an_authorization_error_without_the_secret() {
    let emu = tenant(5);
    let mut db = Db::new("secret");
    db.attach(&emu);
    db.exec("ALTER USER MAPPING FOR CURRENT_USER SERVER emu OPTIONS (SET client_secret 'Sup3r-S3cret-9000')");
    let e = db.error("SELECT * FROM auth0.users");
    assert_eq!(e.code, "28000", "{}", e.text());
    assert!(!e.text().contains("Sup3r-S3cret-9000"), "{}", e.text());
    assert!(e.hint.unwrap_or_default().contains("user mapping"));
}

#[test]
fn a_stalled_tenant_is_cancelled_by_statement_timeout() {
    let emu = tenant(30);
    let mut db = Db::new("stalled");
    db.attach(&emu);
    db.one::<i64>("SELECT count(*) FROM auth0.users");
    emu.emulator
        .arm(Fault::on("GET /api/v2/users").delay_ms(60_000));
    db.exec("SET statement_timeout = '700ms'");
    let started = Instant::now();
    let e = db.error("SELECT count(*) FROM auth0.users");
    let took = started.elapsed();
    assert_eq!(e.code, "57014", "{}", e.text());
    assert!(
        took < Duration::from_millis(2000),
        "cancelled after {took:?}"
    );
    // The backend is fine afterwards.
    db.exec("RESET statement_timeout");
    emu.emulator.lock().faults.clear();
    assert_eq!(db.one::<i64>("SELECT count(*) FROM auth0.users"), 30);
}

#[test]
fn options_and_mappings_are_checked() {
    let emu = tenant(1);
    let mut db = Db::new("options");
    let e = db.error("CREATE SERVER s FOREIGN DATA WRAPPER auth0 OPTIONS (domain 'x.auth0.com', api_token 'abc')");
    assert_eq!(e.code, "HV00D", "{}", e.text());
    assert!(e.hint.unwrap().contains("USER MAPPING"));
    let e = db.error(
        "CREATE SERVER s FOREIGN DATA WRAPPER auth0 OPTIONS (api_url 'http://10.1.2.3:4010')",
    );
    assert_eq!(e.code, "HV024", "{}", e.text());
    let e = db.error(
        "CREATE SERVER s FOREIGN DATA WRAPPER auth0 OPTIONS (colour 'blue', domain 'x.auth0.com')",
    );
    assert_eq!(e.code, "HV00D", "{}", e.text());
    db.exec(&format!(
        "CREATE SERVER s FOREIGN DATA WRAPPER auth0 OPTIONS (api_url '{}')",
        emu.url()
    ));
    let e = db.error("CREATE USER MAPPING FOR CURRENT_USER SERVER s OPTIONS (client_id 'only-id')");
    assert_eq!(e.code, "HV024", "{}", e.text());
    db.exec("CREATE SCHEMA a0; IMPORT FOREIGN SCHEMA auth0 FROM SERVER s INTO a0");
    let e = db.error("SELECT * FROM a0.users");
    assert_eq!(e.code, "42704", "{}", e.text());
    assert!(e.hint.unwrap().contains("CREATE USER MAPPING"));
    let e = db.error("IMPORT FOREIGN SCHEMA nope FROM SERVER s INTO a0");
    assert_eq!(e.code, "HV00Q", "{}", e.text());
}

#[test]
fn cached_plans_run_again_safely() {
    let emu = tenant(200);
    let mut db = Db::new("cached");
    db.attach(&emu);
    let (id, email) = {
        let st = emu.emulator.lock();
        let u = &st.users.all()[42];
        (u.user_id.clone(), u.email().unwrap().to_string())
    };
    // Generic plans of a prepared statement, executed again and again.
    db.exec("SET plan_cache_mode = force_generic_plan; PREPARE p(text) AS SELECT user_id FROM auth0.users WHERE email = $1");
    for _ in 0..4 {
        let got: String = db.one(&format!("EXECUTE p('{email}')"));
        assert_eq!(got, id);
    }
    db.exec("RESET plan_cache_mode; DEALLOCATE p");
    // PL/pgSQL caches its plans: call the function several times, and loop inside it.
    db.exec(
        "CREATE FUNCTION github_users() RETURNS bigint LANGUAGE plpgsql AS $$
           DECLARE n bigint; total bigint := 0;
           BEGIN
             FOR i IN 1..3 LOOP
               SELECT count(*) INTO n FROM auth0.users WHERE connection = 'github';
               total := total + n;
             END LOOP;
             RETURN total;
           END $$",
    );
    let once: i64 = db.one("SELECT count(*) FROM auth0.users WHERE connection = 'github'");
    for _ in 0..3 {
        assert_eq!(db.one::<i64>("SELECT github_users()"), 3 * once);
    }
    // A scan that fails never ends: its cached plan is re-planned all the same.
    emu.emulator.arm(Fault::on("GET /api/v2/users").status(400));
    let e = db.error("SELECT github_users()");
    assert!(e.message.contains("400"), "{}", e.text());
    assert_eq!(db.one::<i64>("SELECT github_users()"), 3 * once);
    // The same, caught by an exception block: the next loop's execution of the cached plan
    // works within the same call.
    db.exec(
        "CREATE FUNCTION retried() RETURNS bigint LANGUAGE plpgsql AS $$
           DECLARE n bigint;
           BEGIN
             FOR i IN 1..2 LOOP
               BEGIN
                 SELECT count(*) INTO n FROM auth0.users WHERE connection = 'github';
                 RETURN n;
               EXCEPTION WHEN others THEN
                 RAISE NOTICE 'retrying';
               END;
             END LOOP;
             RETURN -1;
           END $$",
    );
    assert_eq!(db.one::<i64>("SELECT retried()"), once);
    emu.emulator.arm(Fault::on("GET /api/v2/users").status(400));
    assert_eq!(db.one::<i64>("SELECT retried()"), once);
    // The backend is alive and well.
    assert_eq!(db.one::<i64>("SELECT count(*) FROM auth0.users"), 200);
}
