//! The emulator's shared state: configuration, tenant data, issued tokens, faults, request counts,
//! the rate-limit bucket and the emulator clock. One mutex guards it all: handlers hold it only for
//! in-memory work, never across an await.

use crate::jobs::Jobs;
use crate::seed;
use crate::store::{Connection, StoredUser, UserStore};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How the emulator behaves; every field has a default printed by `auth0-emulator --help`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Number of deterministic demo users created at start and on reset.
    pub seed_users: usize,
    /// The one application allowed to get tokens.
    pub client_id: String,
    pub client_secret: String,
    /// The tenant domain reported in tokens and export file names.
    pub domain: String,
    /// Optional token-bucket limit on `/api/v2` (burst, tokens added per second).
    pub rate_limit: Option<RateLimit>,
    /// How fast import jobs process users (one job; Auth0 runs two at a time). Tests use a
    /// fast pace; [`import_pace`] gives Auth0's.
    pub import_users_per_second: f64,
    /// How fast export jobs process users.
    pub export_users_per_second: f64,
    /// How long an export job's download `location` stays valid.
    pub location_ttl: Duration,
    /// How long jobs are kept (Auth0: 24 hours).
    pub job_retention: Duration,
    /// Lifetime of issued access tokens in seconds (Auth0: 86400).
    pub token_ttl_seconds: i64,
    /// The Management API scopes the application is granted (its tokens carry them; a route
    /// that needs another answers 403 like Auth0).
    pub scopes: Vec<String>,
}

/// The scopes an application gets by default: everything auth0_io uses.
pub const DEFAULT_SCOPES: &[&str] = &[
    "read:users",
    "update:users",
    "delete:users",
    "create:users",
    "read:connections",
    "read:users_app_metadata",
];

/// The scopes a route accepts (any of them), as the Management API's reference lists them;
/// `None` for routes that need none beyond a valid token.
pub fn scopes_for(route: &str) -> Option<&'static [&'static str]> {
    Some(match route {
        "GET /api/v2/users" | "GET /api/v2/users/{id}" | "GET /api/v2/users-by-email" => {
            &["read:users"]
        }
        "PATCH /api/v2/users/{id}" => &[
            "update:users",
            "update:users_app_metadata",
            "update:current_user_metadata",
        ],
        "DELETE /api/v2/users/{id}" => &["delete:users"],
        "POST /api/v2/jobs/users-imports" => &["create:users"],
        "POST /api/v2/jobs/users-exports" => &["read:users"],
        "GET /api/v2/jobs/{id}" | "GET /api/v2/jobs/{id}/errors" => &["create:users", "read:users"],
        "GET /api/v2/connections" | "GET /api/v2/connections/{id}" => &["read:connections"],
        _ => return None,
    })
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed_users: 0,
            client_id: DEFAULT_CLIENT_ID.into(),
            client_secret: DEFAULT_CLIENT_SECRET.into(),
            domain: "emulator.auth0.local".into(),
            rate_limit: None,
            import_users_per_second: 5_000.0,
            export_users_per_second: 50_000.0,
            location_ttl: Duration::from_secs(60),
            job_retention: Duration::from_secs(24 * 3600),
            token_ttl_seconds: 86_400,
            scopes: DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// Auth0's pace for one import job, in users per second, by bulk-import tier: `enterprise`,
/// `production`, `free`. The figures come from an Auth0 engineer's answer on the community
/// forum (community.auth0.com/t/112785, "Increase the number of concurrent user import job for
/// enterprise tenants"): enterprise tenants import "around 400k users/hour when running 2
/// imports at a time in parallel" (so about 55.6 users/s per job); production has about a
/// quarter to a third of enterprise's throughput (a third taken here), and enterprise is about
/// 10 times free. Auth0 publishes no other figure; actual pace depends on the tenant's load.
pub fn import_pace(tier: &str) -> Option<f64> {
    const ENTERPRISE: f64 = 400_000.0 / 3600.0 / 2.0;
    match tier {
        "enterprise" => Some(ENTERPRISE),
        "production" => Some(ENTERPRISE / 3.0),
        "free" => Some(ENTERPRISE / 10.0),
        _ => None,
    }
}

pub const DEFAULT_CLIENT_ID: &str = "emulator-client";
pub const DEFAULT_CLIENT_SECRET: &str = "emulator-secret";

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub burst: u32,
    pub per_second: u32,
}

impl std::str::FromStr for RateLimit {
    type Err = String;
    /// `BURST/PER_SECOND`, e.g. `10/2`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (b, r) = s
            .split_once('/')
            .ok_or("expected BURST/PER_SECOND, e.g. 10/2")?;
        let burst: u32 = b.trim().parse().map_err(|_| format!("bad burst '{b}'"))?;
        let per_second: u32 = r.trim().parse().map_err(|_| format!("bad rate '{r}'"))?;
        if burst == 0 || per_second == 0 {
            return Err("burst and rate must be positive".into());
        }
        Ok(RateLimit { burst, per_second })
    }
}

/// A fault armed on a route for its next `count` requests (`route` is `"METHOD /pattern"`, e.g.
/// `"GET /api/v2/users/{id}"`, or `"*"` for any `/api/v2` or `/oauth` route).
#[derive(Debug, Clone, Deserialize)]
pub struct Fault {
    pub route: String,
    #[serde(default = "one")]
    pub count: u32,
    /// Answer with this status and Auth0's body for it.
    pub status: Option<u16>,
    /// Wait this long before answering (or before the other fault effects).
    #[serde(default)]
    pub delay_ms: u64,
    /// Close the connection without a complete response.
    #[serde(default)]
    pub drop: bool,
    /// Send the real response's headers and only the first half of its body.
    #[serde(default)]
    pub truncate: bool,
    /// Export downloads only: answer as if the signed link had expired.
    #[serde(default)]
    pub expire_link: bool,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// A fault on `route` for its next request; chain the effects.
    pub fn on(route: &str) -> Self {
        Fault {
            route: route.to_string(),
            count: 1,
            status: None,
            delay_ms: 0,
            drop: false,
            truncate: false,
            expire_link: false,
        }
    }
    pub fn times(mut self, n: u32) -> Self {
        self.count = n;
        self
    }
    pub fn status(mut self, s: u16) -> Self {
        self.status = Some(s);
        self
    }
    pub fn delay_ms(mut self, ms: u64) -> Self {
        self.delay_ms = ms;
        self
    }
    pub fn drop_connection(mut self) -> Self {
        self.drop = true;
        self
    }
    pub fn truncated(mut self) -> Self {
        self.truncate = true;
        self
    }
    pub fn expired_link(mut self) -> Self {
        self.expire_link = true;
        self
    }
}

#[derive(Debug)]
pub struct TokenInfo {
    pub expires_ms: i64,
    /// The scopes granted to the token.
    pub scopes: Vec<String>,
}

#[derive(Debug)]
pub struct Bucket {
    pub tokens: f64,
    pub last_ms: i64,
}

pub struct State {
    pub users: UserStore,
    pub connections: Vec<Connection>,
    pub tokens: HashMap<String, TokenInfo>,
    pub faults: Vec<Fault>,
    pub requests: BTreeMap<String, u64>,
    pub total_requests: u64,
    pub bucket: Bucket,
    /// Added to the wall clock: `POST /_emulator/clock` moves emulator time forward.
    pub clock_offset_ms: i64,
    /// Emulator time when the state was locked: one instant for everything done under one lock
    /// (moving jobs along and answering about them), so that they cannot disagree.
    clock_ms: i64,
    pub jobs: Jobs,
    /// Counter for ids the emulator mints (tokens, jobs, users).
    pub serial: u64,
}

impl State {
    pub fn now_ms(&self) -> i64 {
        self.clock_ms
    }

    /// Moves emulator time forward by `ms` (`POST /_emulator/clock`).
    pub fn advance_clock(&mut self, ms: i64) {
        self.clock_offset_ms += ms;
        self.clock_ms += ms;
    }

    pub fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    pub fn connection_by_id(&self, id: &str) -> Option<&Connection> {
        self.connections.iter().find(|c| c.id == id)
    }

    pub fn connection_by_name(&self, name: &str) -> Option<&Connection> {
        self.connections.iter().find(|c| c.name == name)
    }

    /// Moves jobs along to the current time: forgets expired jobs and applies the imports that
    /// have completed (in completion order), so that their users become visible.
    fn advance_jobs(&mut self, retention_ms: i64) {
        use crate::jobs::{JobKind, Status};
        let now = self.now_ms();
        self.jobs.expire(now, retention_ms);
        let mut due: Vec<(i64, String)> = self
            .jobs
            .by_id
            .values()
            .filter(
                |j| matches!(&j.kind, JobKind::Import(i) if i.summary.is_none() && !i.unparsable),
            )
            .filter(|j| j.status(now) == Status::Completed)
            .map(|j| (j.end_ms(), j.id.clone()))
            .collect();
        due.sort();
        for (_, id) in due {
            let Some(job) = self.jobs.by_id.get_mut(&id) else {
                continue;
            };
            let start = job.start_ms();
            let conn = job
                .connection_id
                .as_deref()
                .and_then(|c| self.connections.iter().find(|x| x.id == c))
                .cloned();
            let JobKind::Import(imp) = &mut job.kind else {
                continue;
            };
            let (Some(users), Some(conn)) = (imp.users.take(), conn) else {
                continue;
            };
            let mut rng = crate::seed::Rng::new(
                id.bytes()
                    .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64)),
            );
            let (summary, errors) = crate::jobs::import_rules::apply(
                &users,
                imp.upsert,
                &conn,
                &mut self.users,
                start,
                &mut rng,
            );
            imp.summary = Some(summary);
            imp.errors = errors;
        }
    }

    /// Takes the first armed fault for `route`.
    pub fn take_fault(&mut self, route: &str) -> Option<Fault> {
        let i = self
            .faults
            .iter()
            .position(|f| f.count > 0 && (f.route == route || f.route == "*"))?;
        let f = &mut self.faults[i];
        f.count -= 1;
        let taken = f.clone();
        if f.count == 0 {
            self.faults.remove(i);
        }
        Some(taken)
    }
}

/// The emulator: configuration plus state behind one lock. Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct Emulator {
    pub config: Arc<Config>,
    state: Arc<Mutex<State>>,
}

impl Emulator {
    pub fn new(config: Config) -> Self {
        let state = fresh_state(&config);
        Emulator {
            config: Arc::new(config),
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// Locks the state, brought to the current emulator time: whoever looks (a handler, a
    /// test) sees expired jobs gone and completed imports' users in the tenant.
    ///
    /// A handler that panicked while holding the lock leaves consistent data (every mutation is
    /// a single assignment), so a poisoned lock is simply taken over.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.clock_ms = crate::time::system_now_ms() + st.clock_offset_ms;
        st.advance_jobs(self.config.job_retention.as_millis() as i64);
        st
    }

    /// Arms a fault (see [`Fault::on`]).
    pub fn arm(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// How many requests `route` (`"GET /api/v2/users"`) received since the last reset.
    pub fn request_count(&self, route: &str) -> u64 {
        self.lock().requests.get(route).copied().unwrap_or(0)
    }

    /// Forgets the request counts.
    pub fn clear_requests(&self) {
        let mut st = self.lock();
        st.requests.clear();
        st.total_requests = 0;
    }

    /// Back to the seeded tenant: users, connections, tokens, faults, counts, jobs and clock.
    pub fn reset(&self, seed_users: Option<usize>) {
        let mut cfg = (*self.config).clone();
        if let Some(n) = seed_users {
            cfg.seed_users = n;
        }
        *self.lock() = fresh_state(&cfg);
    }
}

fn fresh_state(config: &Config) -> State {
    let burst = config.rate_limit.map(|r| r.burst).unwrap_or(0) as f64;
    State {
        users: UserStore::from_users(seed::users(config.seed_users)),
        connections: seed::connections(&config.client_id),
        tokens: HashMap::new(),
        faults: Vec::new(),
        requests: BTreeMap::new(),
        total_requests: 0,
        bucket: Bucket {
            tokens: burst,
            last_ms: crate::time::system_now_ms(),
        },
        clock_offset_ms: 0,
        clock_ms: crate::time::system_now_ms(),
        jobs: Jobs::default(),
        serial: 0,
    }
}

/// Adds or replaces users (by `user_id`); used by the control plane and by imports.
pub fn load_users(state: &mut State, users: Vec<StoredUser>) -> usize {
    let n = users.len();
    for u in users {
        state.users.upsert(u);
    }
    n
}

#[cfg(test)]
mod pace_tests {
    #[test]
    fn auth0_tiers_have_their_pace() {
        let e = super::import_pace("enterprise").unwrap();
        assert!((e - 55.55).abs() < 0.1, "{e}");
        assert!(super::import_pace("production").unwrap() < e);
        assert!((super::import_pace("free").unwrap() * 10.0 - e).abs() < 1e-9);
        assert_eq!(super::import_pace("fast"), None);
    }
}
