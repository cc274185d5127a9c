//! The client against the emulator: credentials, reads, paging, and every failure it must survive
//! (429 bursts, 5xx, dropped and truncated responses, stalls, expired tokens) or report clearly.

use auth0_api::users::SearchCursor;
use auth0_api::{Client, ClientConfig, Credentials, Error, Event, Observer, Secret};
use auth0_emulator::{spawn, Config, Fault, RateLimit, Running};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn emulator(users: usize) -> Running {
    spawn(Config {
        seed_users: users,
        ..Config::default()
    })
    .expect("emulator starts")
}

fn config(emu: &Running, secret: &str) -> ClientConfig {
    let mut c = ClientConfig::new(
        &emu.url(),
        Credentials::ClientCredentials {
            client_id: auth0_emulator::state::DEFAULT_CLIENT_ID.into(),
            client_secret: Secret::new(secret),
        },
    )
    .unwrap();
    c.base_backoff = Duration::from_millis(20);
    c.max_backoff = Duration::from_millis(100);
    c.request_timeout = Duration::from_secs(5);
    c
}

fn client(emu: &Running) -> Client {
    Client::new(config(emu, auth0_emulator::state::DEFAULT_CLIENT_SECRET)).unwrap()
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Event>>);
impl Observer for Recorder {
    fn on_event(&self, e: &Event) {
        self.0.lock().unwrap().push(e.clone());
    }
}

#[tokio::test]
async fn reads_users_with_one_token() {
    let emu = emulator(300);
    let c = client(&emu);
    let first = emu.emulator.lock().users.all()[0].clone();
    let u = c
        .get_user(&first.user_id, None)
        .await
        .unwrap()
        .expect("user exists");
    assert_eq!(
        u.get("user_id").and_then(|v| v.as_str()),
        Some(first.user_id.as_str())
    );

    let email = first.email().unwrap().to_string();
    let found = c
        .users_by_email(&email, Some(&["user_id".to_string(), "email".to_string()]))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].len(), 2, "fields projection: {:?}", found[0]);

    assert!(c
        .get_user("auth0|does-not-exist", None)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        emu.emulator.request_count("POST /oauth/token"),
        1,
        "token is cached"
    );
    assert_eq!(emu.emulator.request_count("GET /api/v2/users/{id}"), 2);
}

#[tokio::test]
async fn updates_and_deletes_a_user_with_auth0_s_rules() {
    let emu = emulator(50);
    let c = client(&emu);
    let before = emu.emulator.lock().users.all()[3].clone();
    let id = before.user_id.clone();
    let changes = serde_json::json!({
        "blocked": true,
        "app_metadata": {"plan": "gold", "extra": null},
        "given_name": null,
    });
    let after = c.update_user(&id, &changes).await.unwrap().expect("exists");
    assert_eq!(after.get("blocked"), Some(&serde_json::json!(true)));
    assert!(!after.contains_key("given_name"));
    // Metadata merged at its first level: the keys the change did not name are kept.
    let mut want = before
        .doc
        .get("app_metadata")
        .and_then(|m| m.as_object())
        .cloned()
        .unwrap_or_default();
    want.insert("plan".into(), serde_json::json!("gold"));
    want.remove("extra");
    assert_eq!(
        after.get("app_metadata"),
        Some(&serde_json::Value::Object(want))
    );
    // The store has it too, and nothing else of the user changed.
    let stored = emu.emulator.lock().users.get(&id).unwrap().clone();
    assert_eq!(&stored.doc, &after);
    for (k, v) in &before.doc {
        if !["blocked", "app_metadata", "given_name", "updated_at"].contains(&k.as_str()) {
            assert_eq!(stored.doc.get(k), Some(v), "{k}");
        }
    }

    // What Auth0 refuses comes back as its 400, with its message.
    let e = c
        .update_user(&id, &serde_json::json!({"logins_count": 3}))
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("400") && text.contains("Additional properties not allowed: logins_count"),
        "{text}"
    );
    assert!(c
        .update_user("auth0|nobody", &serde_json::json!({"blocked": true}))
        .await
        .unwrap()
        .is_none());

    c.delete_user(&id).await.unwrap();
    assert!(emu.emulator.lock().users.get(&id).is_none());
    // Already gone: still 204.
    c.delete_user(&id).await.unwrap();
    assert_eq!(emu.emulator.request_count("DELETE /api/v2/users/{id}"), 2);
    assert_eq!(emu.emulator.request_count("PATCH /api/v2/users/{id}"), 3);
}

#[tokio::test]
async fn search_cursor_pages_to_the_end() {
    let emu = emulator(250);
    let c = client(&emu);
    let mut cur = SearchCursor::new(
        None,
        Some(auth0_api::users::Sort::new("created_at", false)),
        None,
        None,
    );
    let mut all = Vec::new();
    while let Some(page) = cur.next_page(&c).await.unwrap() {
        all.extend(page);
    }
    assert_eq!(cur.total(), Some(250));
    assert_eq!(all.len(), 250);
    assert_eq!(emu.emulator.request_count("GET /api/v2/users"), 3);
    let created: Vec<&str> = all
        .iter()
        .map(|u| u["created_at"].as_str().unwrap())
        .collect();
    assert!(created.windows(2).all(|w| w[0] <= w[1]));

    // A limit stops early and trims the last page.
    let mut cur = SearchCursor::new(
        Some("identities.connection:\"google-oauth2\"".into()),
        None,
        None,
        Some(7),
    );
    let page = cur.next_page(&c).await.unwrap().unwrap();
    assert_eq!(page.len(), 7);
    assert!(cur.next_page(&c).await.unwrap().is_none());
}

#[tokio::test]
async fn search_cursor_stops_at_the_cap() {
    let emu = emulator(1200);
    let c = client(&emu);
    let mut cur = SearchCursor::new(None, None, Some(vec!["user_id".into()]), None);
    let mut n = 0;
    while let Some(page) = cur.next_page(&c).await.unwrap() {
        n += page.len();
    }
    assert_eq!(n, 1000, "Auth0 never pages past 1000");
    assert_eq!(
        cur.total(),
        Some(1200),
        "the total tells the caller results were cut"
    );
}

#[tokio::test]
async fn wrong_secret_is_an_auth_error_without_the_secret() {
    let emu = emulator(1);
    let c = Client::new(config(&emu, "sup3r-s3cret-value")).unwrap();
    let err = c.get_user("auth0|x", None).await.unwrap_err();
    assert!(matches!(err, Error::Auth { status: 401, .. }), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(!text.contains("sup3r-s3cret-value"), "{text}");
    assert!(text.contains("access_denied"), "{text}");
}

#[tokio::test]
async fn survives_a_429_burst_and_reports_the_waits() {
    let emu = emulator(10);
    let rec = Arc::new(Recorder::default());
    let c = Client::with_observer(
        config(&emu, auth0_emulator::state::DEFAULT_CLIENT_SECRET),
        rec.clone(),
    )
    .unwrap();
    emu.emulator
        .arm(Fault::on("GET /api/v2/users").status(429).times(3));
    let page = c.search_users(&Default::default()).await.unwrap();
    assert_eq!(page.total, 10);
    assert_eq!(emu.emulator.request_count("GET /api/v2/users"), 4);
    let waits = rec
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, Event::RateLimited { .. }))
        .count();
    assert_eq!(waits, 3);
}

#[tokio::test]
async fn respects_a_real_token_bucket() {
    let emu = spawn(Config {
        seed_users: 5,
        rate_limit: Some(RateLimit {
            burst: 2,
            per_second: 4,
        }),
        ..Config::default()
    })
    .unwrap();
    let c = client(&emu);
    let started = Instant::now();
    for _ in 0..8 {
        c.search_users(&Default::default()).await.unwrap();
    }
    // 9 requests (token + 8) through a bucket of 2 refilled at 4/s cannot take less than ~1.5 s.
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn retries_5xx_and_dropped_or_truncated_responses() {
    let emu = emulator(20);
    let c = client(&emu);
    emu.emulator
        .arm(Fault::on("GET /api/v2/users").status(503).times(2));
    assert_eq!(c.search_users(&Default::default()).await.unwrap().total, 20);
    emu.emulator
        .arm(Fault::on("GET /api/v2/users").drop_connection());
    assert_eq!(c.search_users(&Default::default()).await.unwrap().total, 20);
    emu.emulator.arm(Fault::on("GET /api/v2/users").truncated());
    assert_eq!(c.search_users(&Default::default()).await.unwrap().total, 20);
    assert_eq!(emu.emulator.request_count("GET /api/v2/users"), 3 + 2 + 2);
}

#[tokio::test]
async fn gives_up_after_bounded_retries_with_a_clear_error() {
    let emu = emulator(20);
    let c = client(&emu);
    emu.emulator
        .arm(Fault::on("GET /api/v2/users").drop_connection().times(50));
    let err = c.search_users(&Default::default()).await.unwrap_err();
    match &err {
        Error::Transport {
            attempts, endpoint, ..
        } => {
            assert_eq!(*attempts, 5);
            assert_eq!(endpoint, "GET /api/v2/users");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("after 5 attempt(s)"), "{err}");
    assert_eq!(emu.emulator.request_count("GET /api/v2/users"), 5);
}

#[tokio::test]
async fn a_stalled_request_times_out_and_is_retried() {
    let emu = emulator(3);
    let mut cfg = config(&emu, auth0_emulator::state::DEFAULT_CLIENT_SECRET);
    cfg.request_timeout = Duration::from_millis(300);
    let c = Client::new(cfg).unwrap();
    c.search_users(&Default::default()).await.unwrap(); // token first
    emu.emulator
        .arm(Fault::on("GET /api/v2/users").delay_ms(2_000));
    let started = Instant::now();
    assert_eq!(c.search_users(&Default::default()).await.unwrap().total, 3);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn refreshes_an_expired_token_once() {
    let emu = emulator(3);
    let c = client(&emu);
    c.search_users(&Default::default()).await.unwrap();
    {
        let mut st = emu.emulator.lock();
        let now = st.now_ms();
        for t in st.tokens.values_mut() {
            t.expires_ms = now;
        }
    }
    c.search_users(&Default::default()).await.unwrap();
    assert_eq!(emu.emulator.request_count("POST /oauth/token"), 2);
}

#[tokio::test]
async fn a_static_token_is_used_as_is() {
    let emu = emulator(3);
    let token = {
        let c = client(&emu);
        c.search_users(&Default::default()).await.unwrap();
        emu.emulator.lock().tokens.keys().next().unwrap().clone()
    };
    let c =
        Client::new(ClientConfig::new(&emu.url(), Credentials::Token(Secret::new(token))).unwrap())
            .unwrap();
    assert_eq!(c.search_users(&Default::default()).await.unwrap().total, 3);
    let bad = Client::new(
        ClientConfig::new(&emu.url(), Credentials::Token(Secret::new("nope"))).unwrap(),
    )
    .unwrap();
    let err = bad.search_users(&Default::default()).await.unwrap_err();
    assert_eq!(err.status(), Some(401));
}

#[tokio::test]
async fn hostile_ids_never_reach_another_route() {
    let emu = emulator(3);
    let c = client(&emu);
    for id in [
        "a/../../jobs/x",
        "../connections",
        "x?q=*",
        "x#frag",
        "%2e%2e",
        "auth0|\"'\\",
    ] {
        assert!(c.get_user(id, None).await.unwrap().is_none(), "{id}");
    }
    assert!(c.get_user("..", None).await.unwrap().is_none());
    let routes = emu.emulator.lock().requests.clone();
    assert_eq!(routes.get("GET /api/v2/users/{id}"), Some(&6), "{routes:?}");
    assert_eq!(
        routes.len(),
        2,
        "only the token and the user route: {routes:?}"
    );
}

#[tokio::test]
async fn resolves_connections() {
    let emu = emulator(0);
    let c = client(&emu);
    let all = c.connections(None).await.unwrap();
    assert!(all.len() >= 4);
    let db = c
        .find_connection("Username-Password-Authentication")
        .await
        .unwrap()
        .unwrap();
    assert!(db.is_database());
    let by_id = c.find_connection(&db.id).await.unwrap().unwrap();
    assert_eq!(by_id.name, db.name);
    assert!(c.find_connection("nope").await.unwrap().is_none());
    assert!(c
        .find_connection("con_AAAAAAAAAAAAAAAA")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn deeply_nested_queries_are_a_400_and_the_emulator_survives() {
    let emu = emulator(20);
    let c = client(&emu);
    for q in [
        format!("name:{}", "(".repeat(500)),
        format!("{}a{}", "(".repeat(5_000), ")".repeat(5_000)),
        format!("{}email_verified:true", "NOT ".repeat(3_000)),
    ] {
        let p = auth0_api::users::SearchParams {
            q: Some(q),
            per_page: 10,
            ..Default::default()
        };
        match c.search_users(&p).await {
            Err(Error::Api { status: 400, .. }) => {}
            other => panic!("expected a 400, got {other:?}"),
        }
    }
    // Still serving.
    let p = auth0_api::users::SearchParams {
        q: Some("email_verified:true OR email_verified:false".into()),
        per_page: 10,
        ..Default::default()
    };
    assert_eq!(c.search_users(&p).await.unwrap().total, 20);
}
