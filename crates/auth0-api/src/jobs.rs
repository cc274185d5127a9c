//! Jobs: users-imports (multipart), users-exports, job status and per-user errors.

use crate::error::{Error, Result};
use crate::paths;
use crate::transport::{Body, Client, Request};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// A job as `GET /api/v2/jobs/{id}` returns it (fields vary by type and status).
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub struct Job {
    pub id: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub status: JobStatus,
    #[serde(default)]
    pub connection_id: Option<String>,
    #[serde(default)]
    pub connection: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub percentage_done: Option<i64>,
    #[serde(default)]
    pub time_left_seconds: Option<i64>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub summary: Option<Summary>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub status_details: Option<String>,
    #[serde(default)]
    pub format: Option<String>,
}

impl Job {
    /// `completed`, `failed` or `expired`: nothing more will happen.
    pub fn is_finished(&self) -> bool {
        self.status.is_finished()
    }
}

/// A job's `status`: `pending`, then `processing`, then `completed` or `failed`; `expired` once
/// Auth0 dropped its file. Any other text Auth0 may add is kept as it came.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(from = "String", into = "String")]
pub enum JobStatus {
    Pending,
    Processing,
    Completed,
    Failed,
    Expired,
    Other(String),
}

impl JobStatus {
    pub fn as_str(&self) -> &str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Processing => "processing",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Expired => "expired",
            JobStatus::Other(s) => s,
        }
    }

    /// Nothing more will happen to the job.
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Expired
        )
    }
}

/// A job without a `status` (never seen from Auth0) is neither pending nor finished.
impl Default for JobStatus {
    fn default() -> Self {
        JobStatus::Other(String::new())
    }
}

impl From<String> for JobStatus {
    fn from(s: String) -> Self {
        match s.as_str() {
            "pending" => JobStatus::Pending,
            "processing" => JobStatus::Processing,
            "completed" => JobStatus::Completed,
            "failed" => JobStatus::Failed,
            "expired" => JobStatus::Expired,
            _ => JobStatus::Other(s),
        }
    }
}

impl From<JobStatus> for String {
    fn from(s: JobStatus) -> Self {
        s.as_str().to_string()
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, Default, PartialEq, Eq)]
pub struct Summary {
    #[serde(default)]
    pub failed: u64,
    #[serde(default)]
    pub updated: u64,
    #[serde(default)]
    pub inserted: u64,
    #[serde(default)]
    pub total: u64,
}

/// One failed user of an import.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct UserErrors {
    /// The user as submitted (secrets masked by Auth0).
    pub user: Value,
    pub errors: Vec<ErrorItem>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ErrorItem {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub path: Option<String>,
}

/// What `GET /jobs/{id}/errors` says.
#[derive(Debug, Clone)]
pub enum JobErrors {
    /// Per-user errors (empty: none, Auth0's 204).
    Users(Vec<UserErrors>),
    /// The job failed as a whole (Auth0 then returns the job instead of a list).
    JobFailed(Box<Job>),
}

/// A users-imports request.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub connection_id: String,
    /// The users file: a JSON array (at most [`crate::import::MAX_FILE_BYTES`]).
    pub users: bytes::Bytes,
    pub upsert: bool,
    pub send_completion_email: bool,
    pub external_id: Option<String>,
}

/// A users-exports request.
#[derive(Debug, Clone, Serialize)]
pub struct ExportRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    pub format: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<ExportField>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExportField {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_as: Option<String>,
}

fn decode<T: serde::de::DeserializeOwned>(body: &[u8], endpoint: &str) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::Decode {
        endpoint: endpoint.into(),
        detail: e.to_string(),
    })
}

impl Client {
    /// `GET /api/v2/jobs/{id}`; `None` when Auth0 does not know it (never made, or expired).
    pub async fn get_job(&self, id: &str) -> Result<Option<Job>> {
        let Some(seg) = paths::segment(id) else {
            return Ok(None);
        };
        let endpoint = "GET /api/v2/jobs/{id}";
        match self
            .send(&Request::get(format!("/api/v2/jobs/{seg}"), endpoint))
            .await
        {
            Ok(a) => decode(&a.body, endpoint).map(Some),
            Err(Error::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /api/v2/jobs/{id}/errors`; `None` when the job is unknown.
    pub async fn job_errors(&self, id: &str) -> Result<Option<JobErrors>> {
        let Some(seg) = paths::segment(id) else {
            return Ok(None);
        };
        let endpoint = "GET /api/v2/jobs/{id}/errors";
        let a = match self
            .send(&Request::get(
                format!("/api/v2/jobs/{seg}/errors"),
                endpoint,
            ))
            .await
        {
            Ok(a) => a,
            Err(Error::Api { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        if a.status == reqwest::StatusCode::NO_CONTENT || a.body.iter().all(u8::is_ascii_whitespace)
        {
            return Ok(Some(JobErrors::Users(vec![])));
        }
        let v: Value = decode(&a.body, endpoint)?;
        Ok(Some(match v {
            Value::Array(_) => {
                JobErrors::Users(serde_json::from_value(v).map_err(|e| Error::Decode {
                    endpoint: endpoint.into(),
                    detail: e.to_string(),
                })?)
            }
            Value::Object(_) => {
                JobErrors::JobFailed(Box::new(serde_json::from_value(v).map_err(|e| {
                    Error::Decode {
                        endpoint: endpoint.into(),
                        detail: e.to_string(),
                    }
                })?))
            }
            _ => {
                return Err(Error::Decode {
                    endpoint: endpoint.into(),
                    detail: "neither a list nor a job".into(),
                })
            }
        }))
    }

    /// `POST /api/v2/jobs/users-imports`. Not retried once it may have reached Auth0 (a second
    /// job would import the same users again); a 429 (two active imports) is waited out.
    pub async fn create_import(&self, r: &ImportRequest) -> Result<Job> {
        let endpoint = "POST /api/v2/jobs/users-imports";
        let r = r.clone();
        let make = move || {
            let mut form = reqwest::multipart::Form::new()
                .text("connection_id", r.connection_id.clone())
                .text("upsert", r.upsert.to_string())
                .text("send_completion_email", r.send_completion_email.to_string());
            if let Some(x) = &r.external_id {
                form = form.text("external_id", x.clone());
            }
            let file = reqwest::multipart::Part::bytes(r.users.to_vec())
                .file_name("users.json")
                .mime_str("application/json")
                .unwrap_or_else(|_| reqwest::multipart::Part::bytes(Vec::new()));
            form.part("users", file)
        };
        let req = Request {
            method: Method::POST,
            path: "/api/v2/jobs/users-imports".into(),
            endpoint: endpoint.into(),
            query: vec![],
            body: Body::Multipart(Arc::new(make)),
            idempotent: false,
        };
        let a = self.send(&req).await?;
        decode(&a.body, endpoint)
    }

    /// `POST /api/v2/jobs/users-exports` (Auth0 answers 200 with a pending job). A duplicate
    /// export job is harmless, so this one is retried like a read.
    pub async fn create_export(&self, r: &ExportRequest) -> Result<Job> {
        let endpoint = "POST /api/v2/jobs/users-exports";
        let body = serde_json::to_value(r).map_err(|e| Error::Config(e.to_string()))?;
        let req = Request {
            method: Method::POST,
            path: "/api/v2/jobs/users-exports".into(),
            endpoint: endpoint.into(),
            query: vec![],
            body: Body::Json(body),
            idempotent: true,
        };
        let a = self.send(&req).await?;
        decode(&a.body, endpoint)
    }
}
