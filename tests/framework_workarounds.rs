//! What each supabase-wrappers 0.1.28 workaround (`src/fdw/supabase_wrappers_0_1_28/`) is for,
//! seen from SQL: remove one and a test here (or the one its file names) fails.

mod common;

use common::{tenant, Db};
use serde_json::Value;

fn explain(db: &mut Db, sql: &str) -> String {
    db.explain("VERBOSE", sql)
}

/// Users' documents as the emulator holds them: the oracle.
fn users(emu: &auth0_emulator::Running) -> Vec<serde_json::Map<String, Value>> {
    let st = emu.emulator.lock();
    st.users.all().iter().map(|u| u.doc.clone()).collect()
}

#[test]
fn unpushable_clauses_raise_no_warning() {
    let emu = tenant(120);
    let mut db = Db::new("quiet");
    db.attach(&emu);
    let docs = users(&emu);
    // NULL (no logins_count) satisfies neither side of a comparison.
    let logins = |u: &serde_json::Map<String, Value>| u.get("logins_count").and_then(Value::as_i64);
    let (mut c, notices) = common::connect_collecting_notices(&db.name);
    // Each clause is one the framework cannot extract (a function call, arithmetic, an array
    // that is not a constant, an OR): it WARNs about each while planning.
    let cases: Vec<(&str, usize)> = vec![
        (
            "lower(email) = lower(email)",
            docs.iter()
                .filter(|u| u.get("email").is_some_and(|e| !e.is_null()))
                .count(),
        ),
        (
            "logins_count + 1 > 6",
            docs.iter()
                .filter(|u| logins(u).is_some_and(|l| l + 1 > 6))
                .count(),
        ),
        (
            "email = ANY (ARRAY[email, 'x'])",
            docs.iter()
                .filter(|u| u.get("email").is_some_and(|e| !e.is_null()))
                .count(),
        ),
        (
            "(logins_count > 6 OR logins_count < 2)",
            docs.iter()
                .filter(|u| logins(u).is_some_and(|l| !(2..=6).contains(&l)))
                .count(),
        ),
    ];
    for (clause, want) in cases {
        let got: i64 = c
            .query_one(
                &format!("SELECT count(*) FROM auth0.users WHERE {clause}"),
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(got as usize, want, "{clause}");
        let seen = notices.lock().unwrap().clone();
        assert!(
            !seen.iter().any(|n| n.starts_with("WARNING")),
            "{clause}: {seen:?}"
        );
    }
}

#[test]
fn a_limit_is_pushed_only_when_it_is_exact() {
    let emu = tenant(150);
    let mut db = Db::new("shape");
    db.attach(&emu);
    db.exec(
        "CREATE TABLE local_ids AS SELECT 'nobody|' || g AS user_id FROM generate_series(1, 5) g",
    );
    // Alone: the LIMIT is Auth0's.
    assert!(explain(&mut db, "SELECT user_id FROM auth0.users LIMIT 5").contains("Auth0 Limit: 5"));
    // With anything between the scan and the LIMIT, pushing it would cut rows Postgres still
    // has to join, group or de-duplicate.
    for sql in [
        "SELECT u.user_id FROM auth0.users u JOIN local_ids l ON l.user_id <> u.user_id LIMIT 5",
        "SELECT connection, count(*) FROM auth0.users GROUP BY connection LIMIT 2",
        "SELECT DISTINCT connection FROM auth0.users LIMIT 2",
        "SELECT count(*) FROM auth0.users LIMIT 1",
        // More rows than the count (ties), or an offset the framework reads as 0.
        "SELECT user_id FROM auth0.users ORDER BY created_at FETCH FIRST 1 ROWS WITH TIES",
        "SELECT user_id FROM auth0.users LIMIT 3 OFFSET (SELECT 2)",
    ] {
        let plan = explain(&mut db, sql);
        assert!(!plan.contains("Auth0 Limit"), "{sql}\n{plan}");
    }
    let offset =
        db.rows("SELECT user_id FROM auth0.users ORDER BY created_at LIMIT 3 OFFSET (SELECT 2)");
    assert_eq!(offset.len(), 3);
    db.exec(
        "SET plan_cache_mode = force_generic_plan;
         PREPARE page(int) AS SELECT user_id FROM auth0.users ORDER BY created_at LIMIT 3 OFFSET $1",
    );
    assert_eq!(db.rows("EXECUTE page(2)").len(), 3);
    // And the answers are whole: every connection is counted in full.
    let docs = users(&emu);
    let mut want: std::collections::BTreeMap<String, i64> = Default::default();
    for u in &docs {
        let conn = u["identities"][0]["connection"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        *want.entry(conn).or_default() += 1;
    }
    let got: std::collections::BTreeMap<String, i64> = db
        .rows(
            "SELECT connection, count(*) FROM auth0.users GROUP BY connection ORDER BY 1 LIMIT 100",
        )
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn explain_shows_ours_and_not_the_frameworks() {
    let emu = tenant(10);
    let mut db = Db::new("explain");
    db.attach(&emu);
    let plan = explain(
        &mut db,
        "SELECT email FROM auth0.users WHERE email_verified",
    );
    assert!(plan.contains("Auth0 Strategy: search"), "{plan}");
    assert!(plan.contains("Auth0 Query: email_verified:true"), "{plan}");
    assert!(
        plan.contains("Auth0 Fields: "),
        "VERBOSE shows the fields\n{plan}"
    );
    assert!(
        !plan.contains("Wrappers"),
        "the framework's debug lines are not shown\n{plan}"
    );
    // Many plans in one backend: each keeps its own lines.
    for i in 0..20 {
        let p = explain(
            &mut db,
            &format!("SELECT 1 FROM auth0.users WHERE logins_count = {i}"),
        );
        assert!(p.contains(&format!("Auth0 Query: logins_count:{i}")), "{p}");
    }
}
