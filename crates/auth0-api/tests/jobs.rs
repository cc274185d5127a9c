//! Jobs through the client against the emulator: imports (lifecycle, limits, errors, upsert)
//! and exports (job, signed link, streamed decoding, expiry).

use auth0_api::export::GzipLines;
use auth0_api::import::{split, MAX_FILE_BYTES};
use auth0_api::jobs::{ExportField, ExportRequest, ImportRequest, JobErrors, JobStatus};
use auth0_api::{Client, ClientConfig, Credentials, Error, Secret};
use auth0_emulator::{spawn, Config, Fault, Running};
use serde_json::{json, Value};
use std::time::Duration;

fn emulator(users: usize) -> Running {
    spawn(Config {
        seed_users: users,
        import_users_per_second: 20_000.0,
        ..Config::default()
    })
    .unwrap()
}

fn client(emu: &Running) -> Client {
    let mut c = ClientConfig::new(
        &emu.url(),
        Credentials::ClientCredentials {
            client_id: auth0_emulator::state::DEFAULT_CLIENT_ID.into(),
            client_secret: Secret::new(auth0_emulator::state::DEFAULT_CLIENT_SECRET),
        },
    )
    .unwrap();
    c.base_backoff = Duration::from_millis(20);
    c.max_rate_limit_wait = Duration::from_secs(2);
    Client::new(c).unwrap()
}

async fn db_connection(c: &Client) -> String {
    c.find_connection("Username-Password-Authentication")
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn wait_finished(c: &Client, id: &str) -> auth0_api::jobs::Job {
    for _ in 0..200 {
        let j = c.get_job(id).await.unwrap().unwrap();
        if j.is_finished() {
            return j;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("job {id} did not finish");
}

fn file(users: &[Value]) -> bytes::Bytes {
    serde_json::to_vec(users).unwrap().into()
}

#[tokio::test]
async fn an_import_runs_and_its_users_become_readable() {
    let emu = emulator(0);
    let c = client(&emu);
    let con = db_connection(&c).await;
    let users: Vec<Value> = (0..50)
        .map(|i| json!({"email": format!("new{i}@example.com"), "user_id": format!("n{i}")}))
        .collect();
    let job = c
        .create_import(&ImportRequest {
            connection_id: con.clone(),
            users: file(&users),
            upsert: false,
            send_completion_email: false,
            external_id: Some("batch-7".into()),
        })
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Pending);
    assert_eq!(
        job.connection.as_deref(),
        Some("Username-Password-Authentication")
    );
    assert_eq!(job.external_id.as_deref(), Some("batch-7"));
    let done = wait_finished(&c, &job.id).await;
    assert_eq!(done.status, JobStatus::Completed);
    let s = done.summary.unwrap();
    assert_eq!((s.inserted, s.updated, s.failed, s.total), (50, 0, 0, 50));
    let u = c.get_user("auth0|n7", None).await.unwrap().unwrap();
    assert_eq!(u["email"], "new7@example.com");
    assert!(
        matches!(c.job_errors(&job.id).await.unwrap(), Some(JobErrors::Users(v)) if v.is_empty())
    );

    // Auth0's own 503 (its error body) refused the request: retried, one job made. A dropped
    // connection may hide a created job: not retried, reported.
    let one = |email: &str| ImportRequest {
        connection_id: con.clone(),
        users: file(&[json!({"email": email})]),
        upsert: false,
        send_completion_email: false,
        external_id: None,
    };
    emu.emulator.clear_requests();
    emu.emulator
        .arm(Fault::on("POST /api/v2/jobs/users-imports").status(503));
    let retried = c.create_import(&one("retried@example.com")).await.unwrap();
    assert_eq!(
        emu.emulator
            .request_count("POST /api/v2/jobs/users-imports"),
        2
    );
    assert_eq!(
        wait_finished(&c, &retried.id)
            .await
            .summary
            .unwrap()
            .inserted,
        1
    );
    emu.emulator
        .arm(Fault::on("POST /api/v2/jobs/users-imports").drop_connection());
    assert!(matches!(
        c.create_import(&one("dropped@example.com")).await,
        Err(Error::Transport { attempts: 1, .. })
    ));
    assert_eq!(
        emu.emulator
            .request_count("POST /api/v2/jobs/users-imports"),
        3
    );

    // Again, without upsert: every user is a DUPLICATED_USER, the job still completes.
    let again = c
        .create_import(&ImportRequest {
            connection_id: con,
            users: file(&users[..3]),
            upsert: false,
            send_completion_email: false,
            external_id: None,
        })
        .await
        .unwrap();
    let done = wait_finished(&c, &again.id).await;
    assert_eq!(done.summary.unwrap().failed, 3);
    let Some(JobErrors::Users(errs)) = c.job_errors(&again.id).await.unwrap() else {
        panic!()
    };
    assert_eq!(errs.len(), 3);
    assert_eq!(errs[0].errors[0].code, "DUPLICATED_USER");
    assert_eq!(
        errs[0].errors[0].message,
        "The user already exist and upsert parameter is false"
    );
}

#[tokio::test]
async fn import_limits_are_auth0s() {
    let emu = spawn(Config {
        import_users_per_second: 50.0,
        ..Config::default()
    })
    .unwrap();
    let c = client(&emu);
    let con = db_connection(&c).await;
    // 413 above 512000 bytes.
    let big: Vec<Value> = (0..1200).map(|i| json!({"email": format!("u{i}@example.com"), "user_metadata": {"pad": "x".repeat(420)}})).collect();
    let body = file(&big);
    assert!(body.len() > 512_000);
    let err = c
        .create_import(&ImportRequest {
            connection_id: con.clone(),
            users: body,
            upsert: false,
            send_completion_email: false,
            external_id: None,
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.status(),
        Some(413),
        "{err} (requests: {:?})",
        emu.emulator.lock().requests
    );
    // What split() makes always fits.
    for chunk in split(big.iter().enumerate(), MAX_FILE_BYTES).unwrap() {
        assert!(chunk.body.len() <= MAX_FILE_BYTES);
    }
    // Two running jobs at most: the third is a 429 (the client waits, then gives up here).
    let small = file(&[json!({"email": "a@example.com"})]);
    let slow: Vec<Value> = (0..100)
        .map(|i| json!({"email": format!("s{i}@example.com")}))
        .collect();
    for _ in 0..2 {
        c.create_import(&ImportRequest {
            connection_id: con.clone(),
            users: file(&slow),
            upsert: false,
            send_completion_email: false,
            external_id: None,
        })
        .await
        .unwrap();
    }
    let err = c
        .create_import(&ImportRequest {
            connection_id: con.clone(),
            users: small.clone(),
            upsert: false,
            send_completion_email: false,
            external_id: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RateLimited { .. }), "{err:?}");
    // Bad connections.
    let google = c
        .find_connection("google-oauth2")
        .await
        .unwrap()
        .unwrap()
        .id;
    let orphan = c.find_connection("legacy-db").await.unwrap().unwrap().id;
    for (id, msg) in [
        (google.as_str(), "Connection must be a database connection"),
        (orphan.as_str(), "Connection must be enabled."),
        ("con_AAAAAAAAAAAAAAAA", "The connection does not exist."),
        ("nope", "Payload validation error: 'String does not match pattern ^con_[A-Za-z0-9]{16}$' on property connection_id."),
    ] {
        let err = c
            .create_import(&ImportRequest { connection_id: id.into(), users: small.clone(), upsert: false, send_completion_email: false, external_id: None })
            .await
            .unwrap_err();
        match err {
            Error::Api { status: 400, message, .. } => assert_eq!(message, msg),
            other => panic!("{other:?}"),
        }
    }
}

async fn export_lines(c: &Client, req: &ExportRequest) -> Vec<Value> {
    let job = c.create_export(req).await.unwrap();
    assert_eq!(job.status, JobStatus::Pending);
    let done = wait_finished(c, &job.id).await;
    let location = done.location.expect("a completed export has a location");
    let mut dl = c.open_download(&location).await.unwrap();
    let mut lines = GzipLines::new();
    let mut out = Vec::new();
    while let Some(chunk) = dl.chunk().await.unwrap() {
        lines.push(&chunk).unwrap();
        while let Some(l) = lines.next_line() {
            out.push(serde_json::from_slice(l).unwrap());
        }
    }
    assert!(lines.finish().unwrap().is_none());
    out
}

#[tokio::test]
async fn an_export_streams_every_user() {
    let emu = emulator(3000);
    let c = client(&emu);
    let all = export_lines(
        &c,
        &ExportRequest {
            connection_id: None,
            format: "json".into(),
            limit: None,
            fields: None,
        },
    )
    .await;
    assert_eq!(all.len(), 3000);
    let con = db_connection(&c).await;
    let fields = Some(vec![
        ExportField {
            name: "user_id".into(),
            export_as: None,
        },
        ExportField {
            name: "identities[0].connection".into(),
            export_as: Some("connection".into()),
        },
    ]);
    let db = export_lines(
        &c,
        &ExportRequest {
            connection_id: Some(con),
            format: "json".into(),
            limit: None,
            fields,
        },
    )
    .await;
    assert!(db.len() > 2000 && db.len() < 2500, "{}", db.len());
    assert!(db
        .iter()
        .all(|u| u["connection"] == "Username-Password-Authentication"
            && u.as_object().unwrap().len() == 2));
}

#[tokio::test]
async fn export_links_expire_and_downloads_can_break() {
    let emu = spawn(Config {
        seed_users: 500,
        location_ttl: Duration::from_secs(60),
        ..Config::default()
    })
    .unwrap();
    let c = client(&emu);
    let job = c
        .create_export(&ExportRequest {
            connection_id: None,
            format: "json".into(),
            limit: Some(10),
            fields: None,
        })
        .await
        .unwrap();
    let done = wait_finished(&c, &job.id).await;
    assert_eq!(done.format.as_deref(), Some("json"));
    let location = done.location.unwrap();
    emu.emulator.lock().clock_offset_ms += 61_000;
    assert!(matches!(
        c.open_download(&location).await,
        Err(Error::LinkExpired)
    ));
    // A fresh GET of the job gives a fresh link.
    let fresh = c.get_job(&job.id).await.unwrap().unwrap().location.unwrap();
    assert_ne!(fresh, location);
    assert!(c.open_download(&fresh).await.is_ok());
    // A truncated file is detected.
    emu.emulator
        .arm(Fault::on("GET /user-exports/{id}/{file}").truncated());
    let mut dl = c.open_download(&fresh).await.unwrap();
    let mut lines = GzipLines::new();
    let mut failed = false;
    loop {
        match dl.chunk().await {
            Ok(Some(ch)) => lines.push(&ch).unwrap(),
            Ok(None) => break,
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(
        failed || matches!(lines.finish(), Err(Error::Truncated)),
        "the truncated file was not noticed"
    );
    assert_eq!(
        emu.emulator.request_count("GET /user-exports/{id}/{file}"),
        3,
        "one request per open"
    );
    // Opening a download retries a 503 and a dropped connection, and waits out a 429, like
    // every other read. (The clock goes back to real time: x-ratelimit-reset is a wall-clock
    // instant, and the fresh link stays valid.)
    emu.emulator.lock().clock_offset_ms -= 61_000;
    emu.emulator.clear_requests();
    emu.emulator.arm(
        Fault::on("GET /user-exports/{id}/{file}")
            .status(503)
            .times(2),
    );
    assert!(c.open_download(&fresh).await.is_ok());
    emu.emulator
        .arm(Fault::on("GET /user-exports/{id}/{file}").status(429));
    let r = c.open_download(&fresh).await;
    assert!(r.is_ok(), "{:?}", r.err());
    emu.emulator
        .arm(Fault::on("GET /user-exports/{id}/{file}").drop_connection());
    assert!(c.open_download(&fresh).await.is_ok());
    assert_eq!(
        emu.emulator.request_count("GET /user-exports/{id}/{file}"),
        7,
        "3 + 2 + 2 requests"
    );
    // A 503 that never ends is reported, after the bounded retries.
    emu.emulator.arm(
        Fault::on("GET /user-exports/{id}/{file}")
            .status(503)
            .times(50),
    );
    assert!(matches!(
        c.open_download(&fresh).await,
        Err(Error::Api { status: 503, .. })
    ));
    emu.emulator.lock().faults.clear();
    // After 24 h the job is gone.
    emu.emulator.lock().clock_offset_ms += 24 * 3600 * 1000;
    assert!(c.get_job(&job.id).await.unwrap().is_none());
    // A link to somewhere else is refused.
    assert!(c.open_download("http://10.0.0.1/x.json.gz").await.is_err());
}
