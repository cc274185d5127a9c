//! Bulk jobs: users-imports and users-exports, their lifecycle, per-user errors and export files.
//!
//! Jobs advance with emulator time (wall clock plus `/_emulator/clock` offsets): `pending` for a
//! moment, then `processing` at the configured users per second, then `completed`. An import's
//! users are applied to the tenant when it completes; an export's file is built when it is first
//! downloaded. Jobs disappear after the retention period (Auth0: 24 hours). Time moves them along
//! whenever the state is locked (`Emulator::lock`); their HTTP routes are in `http/jobs.rs`.

pub mod export_file;
pub mod import_rules;

pub use export_file::ExportFormat;
pub use import_rules::{Summary, UserError};

use crate::store::StoredUser;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// How long a new job stays `pending` before it starts processing.
pub const PENDING_MS: i64 = 150;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Processing,
    Completed,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Processing => "processing",
            Status::Completed => "completed",
            Status::Failed => "failed",
        }
    }
}

#[derive(Debug)]
pub struct ImportJob {
    /// The parsed users file, until the job has run.
    pub users: Option<Vec<Value>>,
    /// The file was not a JSON array: the job fails.
    pub unparsable: bool,
    pub upsert: bool,
    pub send_completion_email: bool,
    /// Set when the job completes.
    pub summary: Option<Summary>,
    pub errors: Vec<UserError>,
}

#[derive(Debug)]
pub struct ExportJob {
    pub format: ExportFormat,
    pub limit: Option<u64>,
    /// The `fields` as requested (`name`, optional `export_as`); `None` when not given.
    pub fields: Option<Vec<export_file::Field>>,
    /// The users it exports, fixed when the job was created.
    pub snapshot: Vec<Arc<StoredUser>>,
    /// The gzip file, built on first download.
    pub file: Option<bytes::Bytes>,
}

#[derive(Debug)]
pub enum JobKind {
    Import(ImportJob),
    Export(ExportJob),
}

#[derive(Debug)]
pub struct Job {
    pub id: String,
    pub kind: JobKind,
    pub created_ms: i64,
    pub connection_id: Option<String>,
    pub connection: Option<String>,
    pub external_id: Option<String>,
    /// Users to process, for progress and duration.
    pub work: u64,
    /// Users per second.
    pub rate: f64,
}

impl Job {
    pub fn start_ms(&self) -> i64 {
        self.created_ms + PENDING_MS
    }

    pub fn end_ms(&self) -> i64 {
        self.start_ms() + ((self.work as f64 / self.rate.max(1e-3)) * 1000.0).ceil() as i64
    }

    /// The status at `now` (a failed import file fails as soon as it would start).
    pub fn status(&self, now: i64) -> Status {
        if let JobKind::Import(ImportJob {
            unparsable: true, ..
        }) = &self.kind
        {
            return if now < self.start_ms() {
                Status::Pending
            } else {
                Status::Failed
            };
        }
        if now < self.start_ms() {
            Status::Pending
        } else if now < self.end_ms() {
            Status::Processing
        } else {
            Status::Completed
        }
    }

    pub fn is_import(&self) -> bool {
        matches!(self.kind, JobKind::Import(_))
    }

    /// The job as `GET /api/v2/jobs/{id}` returns it (recorded key order), `location` aside.
    pub fn to_json(&self, now: i64) -> Map<String, Value> {
        let status = self.status(now);
        let mut m = Map::new();
        m.insert(
            "type".into(),
            Value::from(if self.is_import() {
                "users_import"
            } else {
                "users_export"
            }),
        );
        m.insert("status".into(), Value::from(status.as_str()));
        if let Some(c) = &self.connection_id {
            m.insert("connection_id".into(), Value::from(c.clone()));
        }
        if let JobKind::Export(e) = &self.kind {
            m.insert(
                "format".into(),
                Value::from(if e.format == ExportFormat::Json {
                    "json"
                } else {
                    "csv"
                }),
            );
            if let Some(l) = e.limit {
                m.insert("limit".into(), Value::from(l));
            }
            if let Some(f) = &e.fields {
                m.insert(
                    "fields".into(),
                    Value::Array(f.iter().map(export_file::Field::to_json).collect()),
                );
            }
        }
        if status == Status::Processing {
            let done = ((now - self.start_ms()) as f64
                / (self.end_ms() - self.start_ms()).max(1) as f64
                * 100.0) as i64;
            m.insert("percentage_done".into(), Value::from(done.clamp(0, 99)));
            m.insert(
                "time_left_seconds".into(),
                Value::from(((self.end_ms() - now) as f64 / 1000.0).ceil() as i64),
            );
        }
        if let JobKind::Import(ImportJob {
            summary: Some(s), ..
        }) = &self.kind
        {
            m.insert(
                "summary".into(),
                serde_json::json!({"failed": s.failed, "updated": s.updated, "inserted": s.inserted, "total": s.total}),
            );
        }
        if let Some(c) = &self.connection {
            m.insert("connection".into(), Value::from(c.clone()));
        }
        m.insert(
            "created_at".into(),
            Value::from(crate::time::format_ms(self.created_ms)),
        );
        m.insert("id".into(), Value::from(self.id.clone()));
        if let Some(x) = &self.external_id {
            m.insert("external_id".into(), Value::from(x.clone()));
        }
        m
    }
}

/// Every job of the tenant, by id, in creation order.
#[derive(Debug, Default)]
pub struct Jobs {
    pub by_id: HashMap<String, Job>,
    pub order: Vec<String>,
}

impl Jobs {
    pub fn insert(&mut self, job: Job) {
        self.order.push(job.id.clone());
        self.by_id.insert(job.id.clone(), job);
    }

    /// Import jobs still pending or processing at `now`.
    pub fn active_imports(&self, now: i64) -> usize {
        self.by_id
            .values()
            .filter(|j| {
                j.is_import() && matches!(j.status(now), Status::Pending | Status::Processing)
            })
            .count()
    }

    /// Forgets jobs older than the retention period.
    pub fn expire(&mut self, now: i64, retention_ms: i64) {
        let expired: Vec<String> = self
            .by_id
            .values()
            .filter(|j| now - j.created_ms >= retention_ms)
            .map(|j| j.id.clone())
            .collect();
        for id in expired {
            self.by_id.remove(&id);
            self.order.retain(|x| *x != id);
        }
    }
}
