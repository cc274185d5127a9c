//! Reading users through a users-exports job: create the job (one connection, or the whole
//! tenant), wait for it with polite polling and progress NOTICEs, then stream its gzip NDJSON
//! file line by line. A broken or truncated download is started again from a fresh link and the
//! lines already returned are skipped; the same job always serves the same file.
//!
//! With `export_max_age_seconds`, a completed job of this backend that covers the scan is read
//! again instead (`kept_exports.rs`); every completed job is remembered for that.

use crate::error::{Error, Result};
use crate::kept_exports::{self, TenantKey};
use crate::runtime::{block_on, queue_notice};
use auth0_api::export::{Download, GzipLines};
use auth0_api::jobs::{ExportField, ExportRequest, Job, JobStatus};
use auth0_api::users::User;
use auth0_api::Client;
use std::time::{Duration, Instant};

/// How often progress is reported at most.
const NOTICE_EVERY: Duration = Duration::from_secs(3);
/// Download restarts before giving up.
const MAX_RESTARTS: u32 = 3;

/// What a scan may do with completed jobs of this backend.
#[derive(Debug, Clone, Copy)]
pub struct Reuse {
    pub tenant: TenantKey,
    /// `export_max_age_seconds`; `None`: always start a new job.
    pub max_age: Option<Duration>,
}

pub struct ExportStream {
    pub job_id: String,
    /// For a job read again: its age when the scan started.
    pub reused: Option<Duration>,
    download: Download,
    lines: GzipLines,
    /// Lines returned so far (and skipped again after a restart).
    emitted: u64,
    skip: u64,
    restarts: u32,
    /// The file has been read to its end; `tail` is its last line if it had no newline.
    ended: bool,
    tail: Option<Vec<u8>>,
    last_notice: Instant,
}

fn progress(job: &Job) -> String {
    match (job.percentage_done, job.time_left_seconds) {
        (Some(p), Some(t)) => format!("{}, {p}% done, about {t} s left", job.status),
        (Some(p), None) => format!("{}, {p}% done", job.status),
        _ => job.status.to_string(),
    }
}

fn job_failed(job: &Job) -> Error {
    Error::Incomplete {
        message: format!("Auth0 export job {} ended as {}", job.id, job.status),
        detail: job
            .status_details
            .clone()
            .unwrap_or_else(|| "Auth0 gave no details.".into()),
        hint:
            "Retry the query; if it keeps failing, check the tenant's logs in the Auth0 dashboard."
                .into(),
    }
}

impl ExportStream {
    /// Reads a kept job again when one may serve, otherwise creates a job and waits until its
    /// file can be read. `None`: the named connection does not exist, so it has no users.
    pub fn start(
        client: &Client,
        connection: Option<&str>,
        fields: Option<&[String]>,
        reuse: Reuse,
    ) -> Result<Option<ExportStream>> {
        let names: Vec<String> = match fields {
            Some(f) => f.to_vec(),
            None => auth0_api::users::ALL_FIELDS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        };
        if let Some(max_age) = reuse.max_age {
            if let Some(stream) =
                Self::read_again(client, connection, &names, reuse.tenant, max_age)?
            {
                return Ok(Some(stream));
            }
        }
        let connection_id = match connection {
            None => None,
            Some(name) => match block_on(client.find_connection(name))?? {
                Some(c) => Some(c.id),
                None => return Ok(None),
            },
        };
        let request = ExportRequest {
            connection_id,
            format: "json".into(),
            limit: None,
            fields: Some(
                names
                    .iter()
                    .cloned()
                    .map(|name| ExportField {
                        name,
                        export_as: None,
                    })
                    .collect(),
            ),
        };
        let requested = Instant::now();
        let job = block_on(client.create_export(&request))??;
        queue_notice(format!(
            "auth0_io: export job {} started ({})",
            job.id,
            connection
                .map(|c| format!("connection {c}"))
                .unwrap_or_else(|| "all connections".into())
        ));
        let id = job.id.clone();
        let job = wait_for(client, &id)?;
        kept_exports::keep(reuse.tenant, &id, connection, &names, requested);
        let download = open_fresh(client, job)?;
        Ok(Some(Self::reading(id, download, None)))
    }

    /// The youngest kept job that serves the scan, opened; `None` when there is none or Auth0
    /// no longer has it (it is then forgotten).
    fn read_again(
        client: &Client,
        connection: Option<&str>,
        fields: &[String],
        tenant: TenantKey,
        max_age: Duration,
    ) -> Result<Option<ExportStream>> {
        let Some(found) = kept_exports::find(tenant, connection, fields, max_age) else {
            return Ok(None);
        };
        let job = block_on(client.get_job(&found.job_id))??;
        let Some(job) = job.filter(|j| j.status == JobStatus::Completed && j.location.is_some())
        else {
            kept_exports::forget_job(tenant, &found.job_id);
            return Ok(None);
        };
        // A file Auth0 no longer serves (gone, or links that keep expiring) makes a new job;
        // anything else (5xx after retries, a rate limit) is the query's error.
        let download = match open_fresh(client, job) {
            Ok(d) => d,
            Err(Error::Api(e))
                if matches!(e, auth0_api::Error::LinkExpired)
                    || matches!(e.status(), Some(403 | 404 | 410)) =>
            {
                kept_exports::forget_job(tenant, &found.job_id);
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        queue_notice(format!(
            "auth0_io: reading export job {} again: it was requested {} s ago (export_max_age_seconds {})",
            found.job_id,
            found.age.as_secs(),
            max_age.as_secs()
        ));
        Ok(Some(Self::reading(found.job_id, download, Some(found.age))))
    }

    fn reading(job_id: String, download: Download, reused: Option<Duration>) -> ExportStream {
        ExportStream {
            job_id,
            reused,
            download,
            lines: GzipLines::new(),
            emitted: 0,
            skip: 0,
            restarts: 0,
            ended: false,
            tail: None,
            last_notice: Instant::now(),
        }
    }

    /// A line as a user; `None` for a blank line or one to skip (already returned before a
    /// restart).
    fn parse(line: &[u8], skip: &mut u64) -> Option<serde_json::Result<User>> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        if *skip > 0 {
            *skip -= 1;
            return None;
        }
        Some(serde_json::from_slice(line))
    }

    /// The next user of the file.
    pub fn next(&mut self, client: &Client) -> Result<Option<User>> {
        loop {
            let parsed = if let Some(line) = self.lines.next_line() {
                Self::parse(line, &mut self.skip)
            } else if let Some(tail) = self.tail.take() {
                Self::parse(&tail, &mut self.skip)
            } else if self.ended {
                return Ok(None);
            } else {
                let outcome = match block_on(self.download.chunk())? {
                    Ok(Some(chunk)) => self.lines.push(&chunk),
                    Ok(None) => self.lines.finish().map(|rest| {
                        self.tail = rest;
                        self.ended = true;
                    }),
                    Err(e) => Err(e),
                };
                if let Err(e) = outcome {
                    self.restart(client, e)?;
                }
                continue;
            };
            match parsed {
                None => continue,
                Some(Err(e)) => {
                    return Err(Error::Api(auth0_api::Error::Decode {
                        endpoint: "GET export file".into(),
                        detail: format!("line {}: {e}", self.emitted + 1),
                    }))
                }
                Some(Ok(user)) => {
                    self.emitted += 1;
                    if self.last_notice.elapsed() >= NOTICE_EVERY {
                        self.last_notice = Instant::now();
                        queue_notice(format!(
                            "auth0_io: export job {}: {} users read",
                            self.job_id, self.emitted
                        ));
                    }
                    return Ok(Some(user));
                }
            }
        }
    }

    /// Opens the file again from a fresh link; the lines already returned will be skipped.
    fn restart(&mut self, client: &Client, cause: auth0_api::Error) -> Result<()> {
        self.restarts += 1;
        if self.restarts > MAX_RESTARTS {
            return Err(Error::Download {
                message: format!(
                    "the file of Auth0 export job {} could not be read completely ({} attempts)",
                    self.job_id, self.restarts
                ),
                detail: format!("Last failure after {} users: {cause}", self.emitted),
            });
        }
        queue_notice(format!(
            "auth0_io: export job {}: download interrupted after {} users ({cause}); resuming",
            self.job_id, self.emitted
        ));
        let job = block_on(client.get_job(&self.job_id))??.ok_or_else(|| Error::Incomplete {
            message: format!(
                "Auth0 export job {} disappeared while its file was being read",
                self.job_id
            ),
            detail: "Auth0 keeps jobs for 24 hours.".into(),
            hint: "Run the query again.".into(),
        })?;
        let location = job.location.clone().ok_or_else(|| job_failed(&job))?;
        self.download = block_on(client.open_download(&location))??;
        self.lines = GzipLines::new();
        self.skip = self.emitted;
        self.ended = false;
        self.tail = None;
        Ok(())
    }
}

/// Opens the job's file; an expired link (it lives 60 s) is replaced by a fresh one from the
/// job, a few times.
fn open_fresh(client: &Client, mut job: Job) -> Result<Download> {
    for _ in 0..=MAX_RESTARTS {
        let location = job.location.clone().ok_or_else(|| job_failed(&job))?;
        match block_on(client.open_download(&location))? {
            Ok(d) => return Ok(d),
            Err(auth0_api::Error::LinkExpired) => {
                job = block_on(client.get_job(&job.id))??.ok_or_else(|| job_failed(&job))?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(auth0_api::Error::LinkExpired.into())
}

/// Polls the job until it has completed: after 250 ms at first, then 1.5 times longer each time
/// (up to 5 s),
/// with a NOTICE at most every few seconds.
fn wait_for(client: &Client, id: &str) -> Result<Job> {
    let mut delay = Duration::from_millis(250);
    let mut last_notice = Instant::now();
    loop {
        let job = block_on(client.get_job(id))??.ok_or_else(|| Error::Incomplete {
            message: format!("Auth0 export job {id} disappeared"),
            detail: "Auth0 answered 404 for a job it had just created.".into(),
            hint: "Run the query again.".into(),
        })?;
        match job.status {
            JobStatus::Completed => return Ok(job),
            JobStatus::Failed | JobStatus::Expired => return Err(job_failed(&job)),
            _ => {}
        }
        if last_notice.elapsed() >= NOTICE_EVERY {
            last_notice = Instant::now();
            queue_notice(format!("auth0_io: export job {id}: {}", progress(&job)));
        }
        // The sleep is created inside the runtime (an async block), where its timer lives.
        block_on(async move { tokio::time::sleep(delay).await })?;
        delay = (delay.mul_f64(1.5)).min(Duration::from_secs(5));
    }
}
