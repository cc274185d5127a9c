//! When to ask Auth0 about an import's running jobs, so that the next file goes the moment one
//! of the two job slots frees, with as few `GET /api/v2/jobs/{id}` as that takes (each counts
//! against the tenant's rate limit). Pure: the caller passes the time.
//!
//! A job is expected to end at the earliest of:
//! - when Auth0's `time_left_seconds` (from the last look), less the second it rounds up,
//!   runs out, when it says more than 0 (Auth0 also answers 0 while it does not know);
//! - its start plus its users at the fastest pace seen so far in this import (the jobs of one
//!   import run at the tenant's pace: Auth0 gives no other figure).
//!
//! A job is looked at when it is expected to end, but at least every [`MAX_SLEEP`] (an
//! estimate may be longer than the job), or at once when nothing is known; then every
//! [`FIRST_RECHECK`] doubling to [`MAX_RECHECK`] while it runs past that. Between looks the
//! caller sleeps until the next one is due.

use std::time::{Duration, Instant};

/// Looks at a job that runs past its expected end: soon at first, then less often.
pub const FIRST_RECHECK: Duration = Duration::from_millis(100);
pub const MAX_RECHECK: Duration = Duration::from_secs(2);
/// The longest sleep between two looks.
pub const MAX_SLEEP: Duration = Duration::from_secs(10);

struct Running {
    id: String,
    users: usize,
    started: Instant,
    /// Auth0's estimate at the last look: the instant it points to.
    auth0_end: Option<Instant>,
    /// When to look next.
    next_look: Instant,
    /// Looks since it passed its expected end.
    late_looks: u32,
}

/// The jobs of one import that are running, and what was learnt of their pace.
#[derive(Default)]
#[allow(clippy::len_without_is_empty)]
pub struct Slots {
    running: Vec<Running>,
    /// The fastest pace seen: seconds per user, from start to the look that saw a job finished.
    fastest: Option<f64>,
}

impl Slots {
    /// How many jobs are running.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// A job of `users` users was created at `now`.
    pub fn started(&mut self, id: String, users: usize, now: Instant) {
        let mut job = Running {
            id,
            users,
            started: now,
            auth0_end: None,
            next_look: now,
            late_looks: 0,
        };
        job.next_look = self
            .expected_end(&job)
            .map_or(now, |end| end.min(now + MAX_SLEEP));
        self.running.push(job);
    }

    /// The jobs to look at `now`.
    pub fn due(&self, now: Instant) -> Vec<String> {
        self.running
            .iter()
            .filter(|j| j.next_look <= now)
            .map(|j| j.id.clone())
            .collect()
    }

    /// A look at `now` found job `id` finished (or gone): its slot is free.
    pub fn finished(&mut self, id: &str, now: Instant) {
        if let Some(at) = self.running.iter().position(|j| j.id == id) {
            let job = self.running.remove(at);
            if job.users > 0 {
                let pace = now.duration_since(job.started).as_secs_f64() / job.users as f64;
                self.fastest = Some(self.fastest.map_or(pace, |f| f.min(pace)));
            }
        }
    }

    /// A look at `now` found job `id` still running, with Auth0's `time_left_seconds`.
    pub fn still_running(&mut self, id: &str, time_left_seconds: Option<i64>, now: Instant) {
        let fastest = self.fastest;
        let Some(job) = self.running.iter_mut().find(|j| j.id == id) else {
            return;
        };
        // Auth0 rounds up to whole seconds: `t` means more than `t - 1` s are left, so the job
        // may end as soon as then (and at 1, any moment: looked at soon, then less often).
        job.auth0_end = time_left_seconds
            .filter(|t| *t > 0)
            .map(|t| now + Duration::from_secs(t as u64 - 1));
        let expected = expected_end(job, fastest);
        job.next_look = match expected {
            // Never later than MAX_SLEEP: Auth0's estimate may be longer than the job.
            Some(end) if end > now => end.min(now + MAX_SLEEP),
            _ => {
                // Past its expected end (or nothing known): look again soon, then less often.
                let wait = FIRST_RECHECK
                    .saturating_mul(1 << job.late_looks.min(8))
                    .min(MAX_RECHECK);
                job.late_looks += 1;
                now + wait
            }
        };
    }

    /// How long to sleep from `now` until the next look is due.
    pub fn sleep(&self, now: Instant) -> Duration {
        self.running
            .iter()
            .map(|j| j.next_look.saturating_duration_since(now))
            .min()
            .unwrap_or(Duration::ZERO)
            .min(MAX_SLEEP)
    }

    fn expected_end(&self, job: &Running) -> Option<Instant> {
        expected_end(job, self.fastest)
    }
}

fn expected_end(job: &Running, fastest: Option<f64>) -> Option<Instant> {
    let by_pace = fastest.map(|p| job.started + Duration::from_secs_f64(p * job.users as f64));
    match (by_pace, job.auth0_end) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Simulates an import of `files` files of `users` users each on a tenant that runs a job
    /// at `pace` seconds per user after `pending` seconds in its queue, answering
    /// `time_left_seconds` like Auth0 (rounded up; 0 while pending) or never (`auth0_estimates`
    /// false). Returns (the share of the time both slots were busy while files waited, looks).
    fn simulate(
        files: usize,
        users: usize,
        pace: f64,
        pending: f64,
        auth0_estimates: bool,
    ) -> (f64, usize) {
        let t0 = Instant::now();
        let at = |s: f64| t0 + Duration::from_secs_f64(s);
        let mut now = 0.0f64;
        let mut slots = Slots::default();
        // (created, ends) of each job, in virtual seconds.
        let mut jobs: Vec<(f64, f64)> = Vec::new();
        let mut looks = 0;
        for n in 0..files {
            while slots.len() >= 2 {
                for id in slots.due(at(now)) {
                    looks += 1;
                    let (created, ends) = jobs[id.parse::<usize>().unwrap()];
                    if now >= ends {
                        slots.finished(&id, at(now));
                    } else {
                        let left = if !auth0_estimates || now < created + pending {
                            0
                        } else {
                            (ends - now).ceil() as i64
                        };
                        slots.still_running(&id, Some(left), at(now));
                    }
                }
                if slots.len() < 2 {
                    break;
                }
                now += slots.sleep(at(now)).as_secs_f64().max(0.001);
            }
            let ends = now + pending + pace * users as f64;
            jobs.push((now, ends));
            slots.started(n.to_string(), users, at(now));
            now += 0.02; // the POST
        }
        eprintln!("{files} files of {users} at {pace} s/user: looks so far {looks}");
        // Both busy from the first job until the last was submitted.
        let last_start = jobs.last().unwrap().0;
        let steps = (last_start * 1000.0) as usize;
        let both = (0..steps)
            .filter(|ms| {
                let t = *ms as f64 / 1000.0;
                jobs.iter().filter(|(a, b)| *a <= t && t < *b).count() >= 2
            })
            .count();
        let busy = both as f64 / steps.max(1) as f64;
        eprintln!("both busy {busy:.4}, {looks} looks");
        (busy, looks)
    }

    #[test]
    fn both_slots_stay_busy_with_few_looks() {
        // Auth0's enterprise pace (about 55 users/s per job) and files of 2,000 users.
        // Jobs of 36 s: a look at least every 10 s, and one when each is expected to end.
        let (busy, looks) = simulate(20, 2_000, 1.0 / 55.0, 1.0, true);
        assert!(busy >= 0.97, "both busy {busy}");
        assert!(looks <= 20 * 8, "{looks} looks for 20 jobs");
        // Without Auth0's estimates, the pace learnt from the first jobs does it.
        let (busy, looks) = simulate(20, 2_000, 1.0 / 55.0, 1.0, false);
        assert!(busy >= 0.95, "both busy {busy}");
        assert!(looks <= 20 * 8, "{looks} looks for 20 jobs");
        // Jobs of a tenth of a second: the simulated 20 ms POST between two is a fifth of a
        // job already; one look per job. (The loop this replaced: 50% on such jobs.)
        let (busy, looks) = simulate(40, 1_000, 1.0 / 10_000.0, 0.0, true);
        assert!(busy >= 0.6, "both busy {busy}");
        assert!(looks <= 40 * 6, "{looks} looks for 40 jobs");
    }

    #[test]
    fn a_job_past_its_expected_end_is_looked_at_less_and_less_often() {
        let t0 = Instant::now();
        let mut s = Slots::default();
        s.started("a".into(), 10, t0);
        // Nothing known: due at once.
        assert_eq!(s.due(t0), vec!["a".to_string()]);
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..7 {
            s.still_running("a", Some(0), now);
            let w = s.sleep(now);
            waits.push(w);
            now += w;
        }
        assert_eq!(waits[0], FIRST_RECHECK);
        assert!(waits.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(*waits.last().unwrap(), MAX_RECHECK);
        // Auth0's estimate puts the next look there (capped sleep).
        s.still_running("a", Some(30), now);
        assert_eq!(s.sleep(now), MAX_SLEEP);
        // ... but no later than MAX_SLEEP: the estimate may be longer than the job.
        assert!(s.due(now + MAX_SLEEP - Duration::from_millis(1)).is_empty());
        assert_eq!(s.due(now + MAX_SLEEP).len(), 1);
        s.finished("a", now);
        assert_eq!(s.len(), 0);
    }
}
