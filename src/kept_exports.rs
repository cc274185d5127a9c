//! Completed users-exports jobs that this backend may read again (option
//! `export_max_age_seconds`, off by default). A second query over the whole tenant then reads the
//! file of the first one, instead of waiting minutes for a new job.
//!
//! - **Per backend and per tenant key.** The key is the server, the role and a fingerprint of
//!   the tenant and the credentials (`Server::tenant_key`). Another role, another tenant or
//!   changed credentials never reads a job it did not make; changing other options
//!   (`export_max_age_seconds` itself) keeps the jobs.
//! - **Which job serves a scan.** A kept job serves a scan of the same connection (or of the
//!   whole tenant) when its fields cover the scan's fields. Postgres rechecks every condition, so
//!   the rows are right *for the moment the job ran*. That staleness is what the option allows.
//! - **Age.** A job's age is counted from the moment it was requested. Auth0 takes its snapshot
//!   after that moment, so the file is never older than the age we report and compare.
//! - **When a job is forgotten.**
//!   - An import submitted from this backend forgets the server's jobs: a session sees its own
//!     writes.
//!   - A job that Auth0 no longer has is forgotten. Auth0 deletes jobs after 24 hours.
//!   - Jobs older than that are dropped, and at most [`KEPT_PER_TENANT`] are kept per tenant key.
//!
//! Sources: the file link lives 60 seconds, and GET /api/v2/jobs/{id} gives a fresh one within
//! 24 hours (Auth0, "Bulk User Exports").

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// Auth0 deletes a job's data 24 hours after it was created.
pub const MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// The most jobs kept per tenant key (the youngest).
pub const KEPT_PER_TENANT: usize = 8;

/// Who may read a kept job: (server oid, role oid, fingerprint of the tenant and the
/// credentials).
pub type TenantKey = (u32, u32, u64);

#[derive(Debug, Clone)]
struct Kept {
    job_id: String,
    connection: Option<String>,
    fields: BTreeSet<String>,
    requested: Instant,
}

thread_local! {
    static KEPT: RefCell<HashMap<TenantKey, Vec<Kept>>> = RefCell::new(HashMap::new());
}

/// A kept job that may serve a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub job_id: String,
    /// Time since the job was requested.
    pub age: Duration,
}

/// Remembers a completed job, requested at `requested`, that exported `fields` of `connection`
/// (`None`: every connection).
pub fn keep(
    tenant: TenantKey,
    job_id: &str,
    connection: Option<&str>,
    fields: &[String],
    requested: Instant,
) {
    KEPT.with(|k| {
        let mut k = k.borrow_mut();
        let jobs = k.entry(tenant).or_default();
        jobs.retain(|j| j.job_id != job_id && j.requested.elapsed() < MAX_AGE);
        jobs.push(Kept {
            job_id: job_id.to_string(),
            connection: connection.map(str::to_string),
            fields: fields.iter().cloned().collect(),
            requested,
        });
        // Youngest first; the oldest beyond the cap are dropped.
        jobs.sort_by_key(|j| std::cmp::Reverse(j.requested));
        jobs.truncate(KEPT_PER_TENANT);
    });
}

/// The youngest kept job of `connection` that covers `fields` and is at most `max_age` old.
pub fn find(
    tenant: TenantKey,
    connection: Option<&str>,
    fields: &[String],
    max_age: Duration,
) -> Option<Found> {
    KEPT.with(|k| {
        let k = k.borrow();
        k.get(&tenant)?
            .iter()
            .filter(|j| j.connection.as_deref() == connection)
            .filter(|j| fields.iter().all(|f| j.fields.contains(f)))
            .map(|j| Found {
                job_id: j.job_id.clone(),
                age: j.requested.elapsed(),
            })
            .filter(|f| f.age <= max_age.min(MAX_AGE))
            .min_by_key(|f| f.age)
    })
}

/// Forgets one job (Auth0 no longer has it, or it cannot be read).
pub fn forget_job(tenant: TenantKey, job_id: &str) {
    KEPT.with(|k| {
        if let Some(jobs) = k.borrow_mut().get_mut(&tenant) {
            jobs.retain(|j| j.job_id != job_id);
        }
    });
}

/// Forgets every job of a server, for every role (after this backend wrote to its tenant).
pub fn forget_server(server: u32) {
    KEPT.with(|k| k.borrow_mut().retain(|key, _| key.0 != server));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_job_serves_the_same_connection_with_covered_fields_within_the_age() {
        let t = (1, 10, 7);
        let ago = |s| Instant::now() - Duration::from_secs(s);
        keep(t, "job_all", None, &f(&["email", "user_id"]), ago(30));
        keep(t, "job_gh", Some("github"), &f(&["email"]), ago(5));
        let hour = Duration::from_secs(3600);
        let found = find(t, None, &f(&["user_id"]), hour).unwrap();
        assert_eq!(found.job_id, "job_all");
        assert!(found.age >= Duration::from_secs(30), "{:?}", found.age);
        assert_eq!(
            find(t, None, &f(&["user_id", "name"]), hour),
            None,
            "fields"
        );
        assert_eq!(
            find(t, None, &f(&["user_id"]), Duration::from_secs(29)),
            None,
            "age"
        );
        assert_eq!(
            find(t, Some("github"), &f(&["email"]), hour)
                .unwrap()
                .job_id,
            "job_gh"
        );
        assert_eq!(find(t, Some("github"), &f(&["user_id"]), hour), None);
        assert_eq!(
            find((1, 11, 7), None, &f(&["user_id"]), hour),
            None,
            "another role"
        );
        assert_eq!(
            find((1, 10, 8), None, &f(&["user_id"]), hour),
            None,
            "other options"
        );
        // The youngest covering job wins.
        keep(t, "job_all2", None, &f(&["email", "user_id"]), ago(10));
        assert_eq!(
            find(t, None, &f(&["email"]), hour).unwrap().job_id,
            "job_all2"
        );
        forget_job(t, "job_all2");
        assert_eq!(
            find(t, None, &f(&["email"]), hour).unwrap().job_id,
            "job_all"
        );
        forget_server(1);
        assert_eq!(find(t, None, &f(&["email"]), hour), None);
    }

    #[test]
    fn at_most_a_few_young_jobs_are_kept() {
        let t = (2, 10, 7);
        for i in 0..20u64 {
            keep(
                t,
                &format!("job_{i}"),
                None,
                &f(&["user_id"]),
                Instant::now() - Duration::from_secs(100 - i),
            );
        }
        let n = KEPT.with(|k| k.borrow()[&t].len());
        assert_eq!(n, KEPT_PER_TENANT);
        let hour = Duration::from_secs(3600);
        assert_eq!(
            find(t, None, &f(&["user_id"]), hour).unwrap().job_id,
            "job_19"
        );
        // Nothing older than Auth0 keeps, whatever the option says.
        // (A machine up for less than a day has no such instant.)
        let day = MAX_AGE + Duration::from_secs(60);
        if let Some(old) = Instant::now().checked_sub(day) {
            keep((3, 1, 1), "job_old", None, &f(&["user_id"]), old);
            assert_eq!(find((3, 1, 1), None, &f(&["user_id"]), day * 2), None);
        }
    }
}
