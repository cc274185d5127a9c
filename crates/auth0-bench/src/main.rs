//! The driver behind `scripts/bench`. Every figure is measured in one run, beside its baseline,
//! on the machine it runs on, and written as a markdown table.
//!
//! `auth0-bench <pg socket dir> <pg port> <output.md>`; the cluster must have the release build
//! of the extension installed (scripts/bench does all of that).

use auth0_api::export::GzipLines;
use auth0_api::jobs::{ExportField, ExportRequest};
use auth0_api::{Client, ClientConfig, Credentials, Secret};
use auth0_emulator::{spawn, Config, Running};
use postgres::NoTls;
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

struct Pg {
    host: String,
    port: String,
}

impl Pg {
    fn connect(&self, db: &str) -> postgres::Client {
        postgres::Client::connect(
            &format!(
                "host={} port={} user=postgres dbname={db}",
                self.host, self.port
            ),
            NoTls,
        )
        .unwrap_or_else(|e| panic!("cannot connect to {db}: {e}"))
    }

    /// A fresh database attached to `emu` as auth0.users.
    fn database(&self, name: &str, emu: &Running, strategy: Option<&str>) {
        let mut admin = self.connect("postgres");
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let mut c = self.connect(name);
        c.batch_execute(&format!(
            "CREATE EXTENSION auth0_io;
             CREATE SERVER emu FOREIGN DATA WRAPPER auth0 OPTIONS (api_url '{}');
             CREATE USER MAPPING FOR CURRENT_USER SERVER emu OPTIONS (client_id 'emulator-client', client_secret 'emulator-secret');
             CREATE SCHEMA auth0; IMPORT FOREIGN SCHEMA auth0 FROM SERVER emu INTO auth0;
             SET client_min_messages = warning;",
            emu.url()
        ))
        .unwrap();
        if let Some(s) = strategy {
            c.batch_execute(&format!(
                "ALTER FOREIGN TABLE auth0.users OPTIONS (ADD strategy '{s}')"
            ))
            .unwrap();
        }
    }
}

fn emulator(users: usize) -> Running {
    spawn(Config {
        seed_users: users,
        export_users_per_second: 1e9,
        import_users_per_second: 20_000.0,
        ..Config::default()
    })
    .expect("emulator starts")
}

fn client(emu: &Running) -> Client {
    Client::new(
        ClientConfig::new(
            &emu.url(),
            Credentials::ClientCredentials {
                client_id: "emulator-client".into(),
                client_secret: Secret::new("emulator-secret"),
            },
        )
        .unwrap(),
    )
    .unwrap()
}

/// The bare loop: create the same export job, wait, download and parse every line into a user.
async fn bare_export(c: &Client) -> usize {
    let req = ExportRequest {
        connection_id: None,
        format: "json".into(),
        limit: None,
        fields: Some(
            auth0_api::users::ALL_FIELDS
                .iter()
                .map(|n| ExportField {
                    name: n.to_string(),
                    export_as: None,
                })
                .collect(),
        ),
    };
    let job = c.create_export(&req).await.unwrap();
    let mut delay = Duration::from_millis(250);
    let location = loop {
        let j = c.get_job(&job.id).await.unwrap().unwrap();
        if let Some(l) = j.location {
            break l;
        }
        tokio::time::sleep(delay).await;
        delay = (delay.mul_f64(1.5)).min(Duration::from_secs(5));
    };
    let mut dl = c.open_download(&location).await.unwrap();
    let mut lines = GzipLines::new();
    let mut n = 0;
    while let Some(chunk) = dl.chunk().await.unwrap() {
        lines.push(&chunk).unwrap();
        while let Some(l) = lines.next_line() {
            let u: Map<String, Value> = serde_json::from_slice(l).unwrap();
            std::hint::black_box(&u);
            n += 1;
        }
    }
    lines.finish().unwrap();
    n
}

/// VmHWM (peak resident memory) of a process, in MiB.
fn peak_mib(pid: i32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[v.len() / 2]
}

/// `COPY (SELECT * FROM auth0.users) TO '/dev/null'` in a fresh backend: (seconds, rows, peak MiB).
fn fdw_copy(pg: &Pg, db: &str) -> (f64, u64, f64) {
    let mut c = pg.connect(db);
    c.batch_execute("SET client_min_messages = warning")
        .unwrap();
    let pid: i32 = c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    let t = Instant::now();
    let rows = c
        .execute("COPY (SELECT * FROM auth0.users) TO '/dev/null'", &[])
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    (secs, rows, peak_mib(pid))
}

fn users_batch(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "email": format!("bench.user{i}@example.com"), "email_verified": i % 3 == 0,
                "user_id": format!("bench-{i}"), "given_name": "Bench", "family_name": format!("User {i}"),
                "name": format!("Bench User {i}"), "nickname": format!("bench{i}"),
                "app_metadata": {"plan": "pro", "roles": ["user"], "account_id": i},
                "user_metadata": {"theme": "dark", "locale": "en", "address": {"city": "Paris", "country": "FR"}},
                "custom_password_hash": {"algorithm": "md5", "hash": {"value": "5f4dcc3b5aa765d61d8327deb882cf99", "encoding": "hex"}}
            })
        })
        .collect()
}

/// Runs one query and counts the requests the emulator received for it: (requests, rows).
fn requests_for(c: &mut postgres::Client, emu: &Running, sql: &str) -> (u64, usize) {
    c.query("SELECT 1", &[]).unwrap(); // nothing of an earlier statement is counted
    emu.emulator.clear_requests();
    let rows = c.query(sql, &[]).unwrap().len();
    (emu.emulator.lock().total_requests, rows)
}

struct Row {
    what: String,
    measured: String,
    baseline: String,
    note: String,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: auth0-bench <pg socket dir> <pg port> <output.md>");
        std::process::exit(2);
    }
    let pg = Pg {
        host: args[1].clone(),
        port: args[2].clone(),
    };
    let out = &args[3];
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut rows: Vec<Row> = Vec::new();

    // 1. Export throughput: FDW COPY vs the bare loop, 100,000 users, medians of 3.
    eprintln!("bench: export of 100,000 users (FDW vs bare loop)");
    let emu100 = emulator(100_000);
    pg.database("bench100", &emu100, Some("export"));
    let c100 = client(&emu100);
    let _ = fdw_copy(&pg, "bench100"); // warm both sides (library load, connections)
    rt.block_on(bare_export(&c100));
    let (mut fdw, mut bare) = (Vec::new(), Vec::new());
    let mut peak100 = Vec::new();
    for _ in 0..3 {
        let (s, n, peak) = fdw_copy(&pg, "bench100");
        assert_eq!(n, 100_000);
        fdw.push(s);
        peak100.push(peak);
        let t = Instant::now();
        let m = rt.block_on(bare_export(&c100));
        assert_eq!(m, 100_000);
        bare.push(t.elapsed().as_secs_f64());
    }
    let (fdw_s, bare_s) = (median(fdw), median(bare));
    rows.push(Row {
        what: "Export 100,000 users: `COPY (SELECT * FROM auth0.users) TO '/dev/null'` (strategy export)".into(),
        measured: format!("{fdw_s:.2} s ({:.0} users/s)", 100_000.0 / fdw_s),
        baseline: format!("bare Rust loop, same job + file + JSON parse: {bare_s:.2} s"),
        note: format!("ratio {:.2}x (target ≤ 1.5x)", fdw_s / bare_s),
    });

    // 1b. Export reuse: the same whole-tenant COPY twice in one session, with and without
    // export_max_age_seconds.
    eprintln!("bench: a second whole-tenant read with export_max_age_seconds");
    let reuse = |max_age: u64| -> (f64, f64, u64) {
        let mut c = pg.connect("bench100");
        c.batch_execute(&format!(
            "SET client_min_messages = warning;
             ALTER SERVER emu OPTIONS (SET export_max_age_seconds '{max_age}')"
        ))
        .unwrap();
        let jobs_before = emu100
            .emulator
            .request_count("POST /api/v2/jobs/users-exports");
        let mut secs = Vec::new();
        for _ in 0..2 {
            let t = Instant::now();
            let n = c
                .execute("COPY (SELECT * FROM auth0.users) TO '/dev/null'", &[])
                .unwrap();
            assert_eq!(n, 100_000);
            secs.push(t.elapsed().as_secs_f64());
        }
        let jobs = emu100
            .emulator
            .request_count("POST /api/v2/jobs/users-exports")
            - jobs_before;
        (secs[0], secs[1], jobs)
    };
    pg.connect("bench100")
        .batch_execute("ALTER SERVER emu OPTIONS (ADD export_max_age_seconds '0')")
        .unwrap();
    let (_, off_second, off_jobs) = reuse(0);
    let (on_first, on_second, on_jobs) = reuse(600);
    rows.push(Row {
        what: "A second whole-tenant COPY in the same session, 100,000 users: `export_max_age_seconds '600'`".into(),
        measured: format!("{on_second:.2} s (first {on_first:.2} s); {on_jobs} export job(s) for both"),
        baseline: format!("option off: {off_second:.2} s; {off_jobs} export jobs"),
        note: "this emulator finishes export jobs at once (export_users_per_second 1e9), so the time saved here is only the job's requests; on Auth0 it is the job's whole run (minutes on a large tenant)".into(),
    });
    drop(emu100);

    // 2. Backend memory at 100,000 and 400,000 users.
    eprintln!("bench: backend peak memory at 400,000 users");
    let emu400 = emulator(400_000);
    pg.database("bench400", &emu400, Some("export"));
    let (s400, n400, peak400) = fdw_copy(&pg, "bench400");
    assert_eq!(n400 as usize, emu400.emulator.lock().users.len());
    let p100 = median(peak100);
    rows.push(Row {
        what: "Backend peak memory (VmHWM) during the export COPY".into(),
        measured: format!("400,000 users: {peak400:.0} MiB ({s400:.1} s)"),
        baseline: format!("100,000 users: {p100:.0} MiB"),
        note: format!("ratio {:.2}x (target ≤ 1.2x)", peak400 / p100),
    });
    drop(emu400);

    // 3. Validation + splitting: the library alone and through SQL, 100,000 users.
    eprintln!("bench: validation and splitting of 100,000 users");
    let batch = users_batch(100_000);
    let t = Instant::now();
    let problems = auth0_api::import::validate(&batch);
    let chunks =
        auth0_api::import::split(batch.iter().enumerate(), auth0_api::import::MAX_FILE_BYTES)
            .unwrap();
    let lib_s = t.elapsed().as_secs_f64();
    assert!(problems.is_empty(), "{:?}", problems.first());
    let emu_small = emulator(0);
    pg.database("benchval", &emu_small, None);
    let mut c = pg.connect("benchval");
    c.execute(
        "CREATE TABLE batch AS SELECT $1::text::jsonb AS users",
        &[&Value::Array(batch.clone()).to_string()],
    )
    .unwrap();
    let t = Instant::now();
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM auth0_validate_users((SELECT users FROM batch))",
            &[],
        )
        .unwrap()
        .get(0);
    let sql_s = t.elapsed().as_secs_f64();
    assert_eq!(n, 0);
    rows.push(Row {
        what: "Validate + split 100,000 users into import files (library)".into(),
        measured: format!(
            "{:.0} users/s ({} files of ≤ {} bytes)",
            100_000.0 / lib_s,
            chunks.len(),
            auth0_api::import::MAX_FILE_BYTES
        ),
        baseline: format!(
            "validation alone through SQL (auth0_validate_users on a jsonb array): {:.0} users/s",
            100_000.0 / sql_s
        ),
        note: "validation is schema + Auth0's later rules; splitting keeps input order".into(),
    });

    // 4. Imports: how much of the time are both Auth0 job slots busy? Once with fast jobs
    // (20,000 users/s per job, the figure measured before), once at Auth0's enterprise pace.
    let (row, id) = job_slots(
        &mut c,
        &emu_small,
        50_000,
        "emulator at 20,000 users/s per job",
    );
    rows.push(row);
    let enterprise = auth0_emulator::state::import_pace("enterprise").unwrap();
    {
        let emu = spawn(Config {
            seed_users: 0,
            import_users_per_second: enterprise,
            ..Config::default()
        })
        .expect("emulator starts");
        pg.database("benchslots", &emu, None);
        let mut c = pg.connect("benchslots");
        c.execute(
            "CREATE TABLE batch AS SELECT $1::text::jsonb AS users",
            &[&Value::Array(batch.clone()).to_string()],
        )
        .unwrap();
        let label = format!("emulator at Auth0's enterprise pace, {enterprise:.1} users/s per job");
        rows.push(job_slots(&mut c, &emu, 11_000, &label).0);
    }
    // 4a. COPY FROM into auth0.users: rows/s to COMMIT (every file submitted), and the
    // backend's peak memory at 100,000 and 400,000 rows, each in a fresh backend.
    eprintln!("bench: COPY FROM of 100,000 and 400,000 users");
    let copy_from = |rows: usize| -> (f64, f64) {
        let emu = emulator(0);
        let db = format!("benchcopy{rows}");
        pg.database(&db, &emu, None);
        let mut c = pg.connect(&db);
        c.batch_execute("SET client_min_messages = warning")
            .unwrap();
        let pid: i32 = c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
        let base = peak_mib(pid);
        let t = Instant::now();
        let mut w = c
            .copy_in("COPY auth0.users (email, given_name, email_verified, user_metadata, connection) FROM STDIN WITH (FORMAT csv)")
            .unwrap();
        let mut line = String::new();
        for i in 0..rows {
            use std::fmt::Write as _;
            line.clear();
            let _ = writeln!(
                line,
                "bench.copy{i}@example.com,Given {i},{},\"{{\"\"crm\"\": {i}}}\",Username-Password-Authentication",
                i % 2 == 0
            );
            std::io::Write::write_all(&mut w, line.as_bytes()).unwrap();
        }
        assert_eq!(w.finish().unwrap(), rows as u64);
        let secs = t.elapsed().as_secs_f64();
        let peak = peak_mib(pid);
        let imported = emu
            .emulator
            .request_count("POST /api/v2/jobs/users-imports");
        assert!(imported > 0);
        eprintln!("bench: COPY FROM {rows}: {secs:.1} s, peak {peak:.0} MiB (backend at start {base:.0} MiB)");
        (secs, peak)
    };
    let (copy100_s, copy100_peak) = copy_from(100_000);
    let (_, copy400_peak) = copy_from(400_000);
    rows.push(Row {
        what: "`COPY auth0.users (...) FROM STDIN` of 100,000 users, to COMMIT (every import file submitted)".into(),
        measured: format!("{:.0} rows/s ({copy100_s:.1} s)", 100_000.0 / copy100_s),
        baseline: "before: no COPY FROM; one auth0_import jsonb argument holding every user".into(),
        note: "the emulator runs each import job at 20,000 users/s".into(),
    });
    rows.push(Row {
        what: "Backend peak memory (VmHWM) of that COPY FROM".into(),
        measured: format!("400,000 rows: {copy400_peak:.0} MiB"),
        baseline: format!("100,000 rows: {copy100_peak:.0} MiB"),
        note: format!(
            "ratio {:.2}x; one import file per connection in memory, plus 30-60 bytes per row for the duplicate check",
            copy400_peak / copy100_peak
        ),
    });

    // 4b. The ledger's read cost: one import's status, alone and among 100,000 other events.
    eprintln!("bench: auth0_job_status with a large ledger");
    let status_ms = |c: &mut postgres::Client| {
        let mut t = Vec::new();
        for _ in 0..21 {
            let s = Instant::now();
            c.query_one(&format!("SELECT status FROM auth0_job_status('{id}')"), &[])
                .unwrap();
            t.push(s.elapsed().as_secs_f64() * 1000.0);
        }
        median(t)
    };
    let alone = status_ms(&mut c);
    let (data_dir, oid): (String, u32) = {
        let r = c
            .query_one(
                "SELECT current_setting('data_directory'), oid FROM pg_database WHERE datname = current_database()",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    let ledger_dir = std::path::Path::new(&data_dir).join(format!("pg_auth0_io/{oid}"));
    let others = 25_000;
    for n in 0..others {
        let id = format!("imp_bench{n:015}");
        let at = "2026-01-01T00:00:00.000Z";
        let emails: Vec<String> = (0..20)
            .map(|k| format!("\"u{n}x{k}@example.com\""))
            .collect();
        let lines = format!(
            concat!(
                r#"{{"v":2,"event":"import","id":"{id}","at":"{at}","role":"postgres","role_oid":10,"server":"s","connection":"c","connection_id":"con_1","upsert":false,"external_id":null,"total":20,"invalid":[],"chunks":1}}"#,
                "\n",
                r#"{{"v":2,"event":"job","import":"{id}","auth0_job_id":"job_x","chunk":0,"indices":[[0,19]],"emails":[{emails}],"at":"{at}"}}"#,
                "\n",
                r#"{{"v":2,"event":"submitted","import":"{id}","at":"{at}"}}"#,
                "\n",
                r#"{{"v":2,"event":"summary","import":"{id}","at":"{at}","status":"completed","inserted":20,"updated":0,"failed":0,"total":20}}"#,
                "\n"
            ),
            id = id,
            at = at,
            emails = emails.join(",")
        );
        std::fs::write(ledger_dir.join(format!("{id}.journal")), lines).unwrap();
    }
    let among = status_ms(&mut c);
    let s = Instant::now();
    let listed: i64 = c
        .query_one("SELECT count(*) FROM auth0_imports", &[])
        .unwrap()
        .get(0);
    let list_s = s.elapsed().as_secs_f64();
    assert!(listed > others as i64, "{listed}");
    rows.push(Row {
        what: "auth0_job_status of one import, ledger of 100,000 other events (25,000 imports)".into(),
        measured: format!("{among:.2} ms (median of 21)"),
        baseline: format!("same import, no other imports: {alone:.2} ms"),
        note: format!(
            "ratio {:.2}x; listing all of them (SELECT count(*) FROM auth0_imports) takes {list_s:.2} s; 0.1.0 read the whole ledger per query (1.5 s at 100,000 events)",
            among / alone
        ),
    });

    drop(c);
    drop(emu_small);

    // 5. API requests per query shape, 25,000 users.
    eprintln!("bench: API requests per query shape");
    let emu = emulator(25_000);
    pg.database("benchreq", &emu, None);
    let mut c = pg.connect("benchreq");
    c.batch_execute("SET client_min_messages = warning")
        .unwrap();
    let sample = emu.emulator.lock().users.all()[12_345].clone();
    let shapes: Vec<(String, String, String)> = vec![
        (
            format!("WHERE user_id = '{}'", sample.user_id),
            format!(
                "SELECT * FROM auth0.users WHERE user_id = '{}'",
                sample.user_id
            ),
            "1 (GET /users/{id})".into(),
        ),
        (
            format!("WHERE email = '{}'", sample.email().unwrap()),
            format!(
                "SELECT * FROM auth0.users WHERE email = '{}'",
                sample.email().unwrap()
            ),
            "1 (GET /users-by-email)".into(),
        ),
        (
            "ORDER BY created_at DESC LIMIT 10".into(),
            "SELECT * FROM auth0.users ORDER BY created_at DESC LIMIT 10".into(),
            "1 page".into(),
        ),
        (
            "WHERE connection = 'github' (~5%)".into(),
            "SELECT * FROM auth0.users WHERE connection = 'github'".into(),
            "ceil(matches/100) pages".into(),
        ),
        (
            "WHERE created_at >= '2024-04-10' (~3,000)".into(),
            "SELECT * FROM auth0.users WHERE created_at >= '2024-04-10'".into(),
            "ceil(matches/100) pages".into(),
        ),
        (
            "WHERE q = 'app_metadata.plan:\"enterprise\"' (~5,000)".into(),
            "SELECT * FROM auth0.users WHERE q = 'app_metadata.plan:\"enterprise\"'".into(),
            "ceil(matches/100) pages".into(),
        ),
        (
            "SELECT count(*) (all 25,000)".into(),
            "SELECT count(*) FROM auth0.users".into(),
            "250 pages (impossible past 1,000 by paging)".into(),
        ),
    ];
    // Shapes read from the planner's clauses (issue 11); before, each read the whole tenant.
    let sample_email = sample.email().unwrap().to_string();
    let prefix: String = sample_email.chars().take(6).collect();
    let pushed: Vec<(String, String, String)> = vec![
        (
            "WHERE app_metadata->>'plan' = 'enterprise'".into(),
            "SELECT * FROM auth0.users WHERE app_metadata->>'plan' = 'enterprise'".into(),
            "ceil(matches/100) pages".into(),
        ),
        (
            "WHERE user_metadata->'address'->>'city' = 'Lisbon'".into(),
            "SELECT * FROM auth0.users WHERE user_metadata->'address'->>'city' = 'Lisbon'".into(),
            "ceil(matches/100) pages".into(),
        ),
        (
            "WHERE app_metadata @> '{\"roles\": [\"admin\"]}'".into(),
            "SELECT * FROM auth0.users WHERE app_metadata @> '{\"roles\": [\"admin\"]}'".into(),
            "ceil(matches/100) pages".into(),
        ),
        (
            "WHERE created_at > now() - interval '900 days'".into(),
            "SELECT * FROM auth0.users WHERE created_at > now() - interval '900 days'".into(),
            "ceil(matches/100) pages".into(),
        ),
        (
            "WHERE email_verified AND NOT blocked AND logins_count > 450 OR logins_count < 3".into(),
            "SELECT * FROM auth0.users WHERE email_verified AND NOT blocked AND logins_count > 450 OR logins_count < 3".into(),
            "ceil(matches/100) pages".into(),
        ),
        (
            "WHERE lower(email) = '<an e-mail>'".into(),
            format!(
                "SELECT * FROM auth0.users WHERE lower(email) = '{}'",
                sample_email.to_lowercase()
            ),
            "1 page".into(),
        ),
        (
            "WHERE email ILIKE '<6 letters>%'".into(),
            format!("SELECT * FROM auth0.users WHERE email ILIKE '{}%'", prefix.to_lowercase()),
            "ceil(matches/100) pages".into(),
        ),
        (
            "WHERE email LIKE '%@acme.test'".into(),
            "SELECT * FROM auth0.users WHERE email LIKE '%@acme.test'".into(),
            "ceil(matches/100) pages".into(),
        ),
        (
            "crm (200 e-mails) JOIN auth0.users USING (email)".into(),
            "SELECT * FROM bench_crm JOIN auth0.users u USING (email)".into(),
            "200 lookups, or the tenant once".into(),
        ),
    ];
    let crm: Vec<String> = emu
        .emulator
        .lock()
        .users
        .all()
        .iter()
        .step_by(125)
        .filter_map(|u| u.email().map(|e| format!("('{}')", e.replace('\'', "''"))))
        .take(200)
        .collect();
    c.batch_execute(&format!(
        "CREATE TABLE bench_crm (email text); INSERT INTO bench_crm VALUES {}; ANALYZE bench_crm",
        crm.join(", ")
    ))
    .unwrap();
    // A first query fetches this backend's token: not part of any shape.
    c.query(
        "SELECT count(*) FROM auth0.users WHERE user_id = 'warm|up'",
        &[],
    )
    .unwrap();
    for (label, sql, minimum) in shapes {
        let (n, got) = requests_for(&mut c, &emu, &sql);
        let matches = if sql.contains("count(*)") {
            25_000
        } else {
            got
        };
        let naive = 25_000u64.div_ceil(100);
        let minimum = minimum.replace(
            "ceil(matches/100)",
            &(matches as u64).div_ceil(100).to_string(),
        );
        rows.push(Row {
            what: format!("Requests: {label}"),
            measured: format!("{n} request(s), {matches} rows"),
            baseline: format!(
                "search pages alone: {minimum}; paging every user: {naive} (and stuck at 1,000)"
            ),
            note: String::new(),
        });
    }
    // What each shape cost before: the whole tenant, read the way this run reads it.
    let (before, whole) = requests_for(
        &mut c,
        &emu,
        "SELECT * FROM auth0.users WHERE (user_id || '') <> ''",
    );
    for (label, sql, minimum) in pushed {
        let (n, matches) = requests_for(&mut c, &emu, &sql);
        let minimum = minimum.replace(
            "ceil(matches/100)",
            &(matches as u64).max(1).div_ceil(100).to_string(),
        );
        rows.push(Row {
            what: format!("Requests: {label}"),
            measured: format!("{n} request(s), {matches} rows"),
            baseline: format!(
                "before: an export job of every user ({before} requests, {whole} users moved; minutes on a large tenant); minimum: {minimum}"
            ),
            note: String::new(),
        });
    }

    // The report.
    let machine = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mut md = String::new();
    md.push_str("# auth0_io benchmarks\n\n");
    md.push_str(&format!(
        "Measured by `scripts/bench` in one run on {cores} core(s) ({machine}), PostgreSQL 15, release builds, the emulator in-process on loopback. Times are medians of 3 where repeated.\n\n"
    ));
    md.push_str("| what | measured | baseline | note |\n|---|---|---|---|\n");
    for r in &rows {
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            r.what, r.measured, r.baseline, r.note
        ));
    }
    print!("{md}");
    std::fs::write(out, &md).unwrap_or_else(|e| panic!("cannot write {out}: {e}"));
}

/// Imports `users` users of the `batch` table through `c` into `emu` and measures how much of
/// the time both Auth0 job slots were busy: the row, and the import's id.
fn job_slots(c: &mut postgres::Client, emu: &Running, users: usize, label: &str) -> (Row, String) {
    eprintln!("bench: {users}-user import and its job slots ({label})");
    emu.emulator.clear_requests();
    let t = Instant::now();
    let id: String = c
        .query_one(
            &format!("SELECT auth0_import('Username-Password-Authentication', (SELECT jsonb_agg(u) FROM (SELECT u FROM batch, jsonb_array_elements(users) u LIMIT {users}) s))"),
            &[],
        )
        .unwrap()
        .get(0);
    let submitted_s = t.elapsed().as_secs_f64();
    // The import's own looks at its jobs (the bench's status polls come after).
    let polls = emu.emulator.request_count("GET /api/v2/jobs/{id}");
    loop {
        let st: String = c
            .query_one(&format!("SELECT status FROM auth0_job_status('{id}')"), &[])
            .unwrap()
            .get(0);
        if st == "completed" {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let total_s = t.elapsed().as_secs_f64();
    let spans: Vec<(i64, i64)> = emu
        .emulator
        .lock()
        .jobs
        .by_id
        .values()
        .filter(|j| j.is_import())
        .map(|j| (j.created_ms, j.end_ms()))
        .collect();
    let both_busy = |from: i64, to: i64| -> f64 {
        let both = (from..to)
            .filter(|ms| spans.iter().filter(|(a, b)| *a <= *ms && *ms < *b).count() >= 2)
            .count();
        100.0 * both as f64 / (to - from).max(1) as f64
    };
    let first = spans.iter().map(|s| s.0).min().unwrap_or(0);
    let last_start = spans.iter().map(|s| s.0).max().unwrap_or(0);
    let last_end = spans.iter().map(|s| s.1).max().unwrap_or(0);
    let summary: (i32, i32) = {
        let r = c
            .query_one(
                &format!("SELECT inserted, failed FROM auth0_job_status('{id}')"),
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(summary, (users as i32, 0));
    let row = Row {
        what: format!("Import {users} users ({} Auth0 jobs, {label})", spans.len()),
        measured: format!(
            "both slots busy {:.1}% of the time files waited (first job to last submission); {:.0}% of the jobs' whole span",
            both_busy(first, last_start),
            both_busy(first, last_end)
        ),
        baseline: "before: 50% of the jobs' whole span (fast jobs); Auth0 runs at most 2 import jobs at a time".into(),
        note: format!(
            "{polls} GET /jobs/{{id}} while submitting {} jobs; all submitted after {submitted_s:.1} s, completed after {total_s:.1} s; the last job runs alone by nature",
            spans.len()
        ),
    };
    (row, id)
}
