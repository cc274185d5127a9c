//! The jobs routes: `POST /api/v2/jobs/users-imports` (multipart), `POST /api/v2/jobs/users-exports`,
//! `GET /api/v2/jobs/{id}`, `GET /api/v2/jobs/{id}/errors`, and the export download at the signed,
//! expiring `location` (`GET /user-exports/{id}/{file}`, no bearer token, like Auth0's CDN link).

use super::errors::api_error;
use crate::jobs::export_file::{self, Field};
use crate::jobs::{ExportFormat, ExportJob, ImportJob, Job, JobKind, Status};
use crate::state::{Emulator, Fault};
use axum::body::Body;
use axum::extract::{Extension, Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use md5::{Digest, Md5};
use serde_json::{json, Value};
use std::collections::HashMap;

/// Auth0's limit on an import request.
pub const MAX_IMPORT_BYTES: usize = 512_000;

pub fn routes() -> Router<Emulator> {
    Router::new()
        .route(
            "/api/v2/jobs/users-imports",
            post(create_import).layer(axum::extract::DefaultBodyLimit::max(16 * 1024 * 1024)),
        )
        .route("/api/v2/jobs/users-exports", post(create_export))
        .route("/api/v2/jobs/{id}", get(get_job))
        .route("/api/v2/jobs/{id}/errors", get(get_errors))
        .route("/user-exports/{id}/{file}", get(download))
}

fn bad_request(message: &str, code: &str) -> Response {
    api_error(StatusCode::BAD_REQUEST, message, Some(code))
}

fn job_not_found() -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        "The job does not exist.",
        Some("inexistent_job"),
    )
}

fn valid_connection_id(id: &str) -> bool {
    id.len() == 20 && id.starts_with("con_") && id[4..].chars().all(|c| c.is_ascii_alphanumeric())
}

async fn create_import(State(emu): State<Emulator>, req: axum::extract::Request) -> Response {
    // The whole request is read before answering, so that a client still sending a large body
    // gets the 413 rather than a broken connection.
    let too_large = || {
        api_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("Payload content length greater than maximum allowed: {MAX_IMPORT_BYTES}."),
            None,
        )
    };
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return too_large();
    };
    if bytes.len() > MAX_IMPORT_BYTES {
        return too_large();
    }
    let req = axum::extract::Request::from_parts(parts, Body::from(bytes));
    let Ok(mut multipart) =
        <Multipart as axum::extract::FromRequest<()>>::from_request(req, &()).await
    else {
        return bad_request(
            "Payload validation error: 'Invalid multipart payload format'.",
            "invalid_body",
        );
    };
    let mut parts: HashMap<String, Vec<u8>> = HashMap::new();
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_string();
                match field.bytes().await {
                    Ok(b) => {
                        parts.insert(name, b.to_vec());
                    }
                    Err(_) => {
                        return bad_request(
                            "Payload validation error: 'Invalid multipart payload format'.",
                            "invalid_body",
                        )
                    }
                }
            }
            Ok(None) => break,
            Err(_) => {
                return bad_request(
                    "Payload validation error: 'Invalid multipart payload format'.",
                    "invalid_body",
                )
            }
        }
    }
    let text = |k: &str| {
        parts
            .get(k)
            .map(|b| String::from_utf8_lossy(b).trim().to_string())
    };
    let Some(file) = parts.get("users") else {
        return bad_request(
            "Must provide 'users' file as multipart part.",
            "invalid_body",
        );
    };
    if file.iter().all(u8::is_ascii_whitespace) {
        return bad_request("Users file must not be empty.", "invalid_body");
    }
    let Some(connection_id) = text("connection_id") else {
        return bad_request(
            "Must provide 'connection_id' as multipart part.",
            "invalid_body",
        );
    };
    if !valid_connection_id(&connection_id) {
        return bad_request(
            "Payload validation error: 'String does not match pattern ^con_[A-Za-z0-9]{16}$' on property connection_id.",
            "invalid_body",
        );
    }
    let flag = |k: &str, default: bool| text(k).map(|v| v == "true").unwrap_or(default);
    let upsert = flag("upsert", false);
    let send_completion_email = flag("send_completion_email", true);
    let external_id = text("external_id").filter(|s| !s.is_empty());
    let users = match serde_json::from_slice::<Value>(file) {
        Ok(Value::Array(items)) => Some(items),
        _ => None, // accepted, then the job fails (as Auth0 does with an unparsable file)
    };

    let mut st = emu.lock();
    let now = st.now_ms();
    let Some(conn) = st.connection_by_id(&connection_id).cloned() else {
        return bad_request("The connection does not exist.", "inexistent_connection");
    };
    if !conn.is_database() {
        return bad_request(
            "Connection must be a database connection",
            "operation_not_supported",
        );
    }
    if conn.enabled_clients.is_empty() {
        return bad_request("Connection must be enabled.", "operation_not_supported");
    }
    if st.jobs.active_imports(now) >= 2 {
        return api_error(
            StatusCode::TOO_MANY_REQUESTS,
            "There are 2 active import users jobs, please wait until some of them are finished and try again",
            Some("too_many_requests"),
        );
    }
    let serial = st.next_serial();
    let id = format!("job_{}", crate::seed::Rng::new(0xB0B ^ serial).alnum(16));
    let work = users.as_ref().map(|u| u.len() as u64).unwrap_or(0);
    let job = Job {
        id: id.clone(),
        kind: JobKind::Import(ImportJob {
            unparsable: users.is_none(),
            users,
            upsert,
            send_completion_email,
            summary: None,
            errors: vec![],
        }),
        created_ms: now,
        connection_id: Some(conn.id.clone()),
        connection: Some(conn.name.clone()),
        external_id,
        work,
        rate: emu.config.import_users_per_second,
    };
    let body = job.to_json(now);
    st.jobs.insert(job);
    (StatusCode::ACCEPTED, Json(Value::Object(body))).into_response()
}

async fn create_export(
    State(emu): State<Emulator>,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(Value::Object(req))) = body else {
        return bad_request(
            "Payload validation error: 'Expected type object but found type string'.",
            "invalid_body",
        );
    };
    for k in req.keys() {
        if !["connection_id", "format", "limit", "fields"].contains(&k.as_str()) {
            return bad_request(
                &format!("Payload validation error: 'Additional properties not allowed: {k}'."),
                "invalid_body",
            );
        }
    }
    let format = match req.get("format").and_then(Value::as_str) {
        None | Some("json") => ExportFormat::Json,
        Some("csv") => ExportFormat::Csv,
        Some(other) => {
            return bad_request(
                &format!(
                "Payload validation error: 'No enum match for: \"{other}\"' on property format."
            ),
                "invalid_body",
            )
        }
    };
    let limit =
        match req.get("limit") {
            None => None,
            Some(v) => match v.as_u64() {
                Some(n) if n >= 1 => Some(n),
                _ => return bad_request(
                    "Payload validation error: 'Value must be an integer >= 1' on property limit.",
                    "invalid_body",
                ),
            },
        };
    let fields = match req.get("fields") {
        None => None,
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for item in items {
                let name = item
                    .get("name")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty() && n.len() <= 100);
                let export_as = item
                    .get("export_as")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                match name {
                    Some(n) => out.push(Field { name: n.to_string(), export_as }),
                    None => return bad_request("Payload validation error: 'Missing required property: name' on property fields.", "invalid_body"),
                }
            }
            Some(out)
        }
        Some(_) => {
            return bad_request(
                "Payload validation error: 'Expected type array' on property fields.",
                "invalid_body",
            )
        }
    };
    if format == ExportFormat::Csv {
        if let Some(f) = &fields {
            if f.len() > 30 {
                return bad_request("Payload validation error: 'Array is too long (31), maximum 30' on property fields.", "invalid_body");
            }
            if let Some(bad) = f
                .iter()
                .find(|f| f.name == "app_metadata" || f.name == "user_metadata")
            {
                return bad_request(
                    &format!("The field {} is an object and cannot be exported to CSV; export its properties instead.", bad.name),
                    "invalid_body",
                );
            }
        }
    }
    let mut st = emu.lock();
    let now = st.now_ms();
    let conn = match req.get("connection_id").and_then(Value::as_str) {
        None => None,
        Some(cid) => match st.connection_by_id(cid) {
            Some(c) => Some(c.clone()),
            None => return bad_request("The connection does not exist.", "inexistent_connection"),
        },
    };
    let mut snapshot: Vec<_> = st
        .users
        .all()
        .iter()
        .filter(|u| {
            conn.as_ref()
                .is_none_or(|c| crate::store::first_connection(&u.doc) == Some(c.name.as_str()))
        })
        .cloned()
        .collect();
    if let Some(l) = limit {
        snapshot.truncate(l as usize);
    }
    let serial = st.next_serial();
    let id = format!("job_{}", crate::seed::Rng::new(0xE1 ^ serial).alnum(16));
    let job = Job {
        id: id.clone(),
        work: snapshot.len() as u64,
        kind: JobKind::Export(ExportJob {
            format,
            limit,
            fields,
            snapshot,
            file: None,
        }),
        created_ms: now,
        connection_id: conn.as_ref().map(|c| c.id.clone()),
        connection: conn.as_ref().map(|c| c.name.clone()),
        external_id: None,
        rate: emu.config.export_users_per_second,
    };
    let body = job.to_json(now);
    st.jobs.insert(job);
    // Auth0 answers 200 here, not 201 or 202 (recorded).
    Json(Value::Object(body)).into_response()
}

/// The signature of a download link (so that `Expires` cannot be edited).
fn signature(job: &str, expires: i64) -> String {
    let d = Md5::digest(format!("auth0-emulator-export:{job}:{expires}").as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

async fn get_job(
    State(emu): State<Emulator>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let st = emu.lock();
    let now = st.now_ms();
    let Some(job) = st.jobs.by_id.get(&id) else {
        return job_not_found();
    };
    let mut body = job.to_json(now);
    if let (JobKind::Export(e), Status::Completed) = (&job.kind, job.status(now)) {
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        let expires = now / 1000 + emu.config.location_ttl.as_secs() as i64;
        let ext = if e.format == ExportFormat::Json {
            "json"
        } else {
            "csv"
        };
        let tenant = emu.config.domain.split('.').next().unwrap_or("tenant");
        let location = format!(
            "http://{host}/user-exports/{id}/{tenant}.{ext}.gz?Expires={expires}&Key-Pair-Id=EMULATOR&Signature={}",
            signature(&id, expires)
        );
        // `location` comes last in the recorded completed export.
        let conn = body.remove("connection");
        let created = body.remove("created_at");
        let jid = body.remove("id");
        body.insert("location".into(), json!(location));
        for (k, v) in [("connection", conn), ("created_at", created), ("id", jid)] {
            if let Some(v) = v {
                body.insert(k.into(), v);
            }
        }
    }
    Json(Value::Object(body)).into_response()
}

async fn get_errors(State(emu): State<Emulator>, Path(id): Path<String>) -> Response {
    let st = emu.lock();
    let now = st.now_ms();
    let Some(job) = st.jobs.by_id.get(&id) else {
        return job_not_found();
    };
    match (&job.kind, job.status(now)) {
        (JobKind::Import(i), Status::Completed) if !i.errors.is_empty() => {
            let list: Vec<Value> = i
                .errors
                .iter()
                .map(|e| json!({"user": e.user, "errors": e.errors}))
                .collect();
            Json(Value::Array(list)).into_response()
        }
        (JobKind::Import(_), Status::Failed) => Json(json!({
            "type": "users_import", "status": "failed", "connection_id": job.connection_id,
            "created_at": crate::time::format_ms(job.created_ms), "id": job.id,
            "status_details": "Failed to parse users file when importing users."
        }))
        .into_response(),
        _ => StatusCode::NO_CONTENT.into_response(),
    }
}

async fn download(
    State(emu): State<Emulator>,
    Path((id, _file)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    fault: Option<Extension<Fault>>,
) -> Response {
    let expired = || {
        (
            StatusCode::FORBIDDEN,
            "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
        )
            .into_response()
    };
    let expires: i64 = q.get("Expires").and_then(|e| e.parse().ok()).unwrap_or(0);
    if q.get("Signature").map(String::as_str) != Some(signature(&id, expires).as_str()) {
        return (
            StatusCode::FORBIDDEN,
            "<Error><Code>AccessDenied</Code><Message>Invalid signature</Message></Error>",
        )
            .into_response();
    }
    if fault.is_some_and(|Extension(f)| f.expire_link) {
        return expired();
    }
    let mut st = emu.lock();
    let now = st.now_ms();
    if now / 1000 > expires {
        return expired();
    }
    let Some(job) = st.jobs.by_id.get_mut(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let completed = job.status(now) == Status::Completed;
    let JobKind::Export(e) = &mut job.kind else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !completed {
        return StatusCode::NOT_FOUND.into_response();
    }
    if e.file.is_none() {
        match export_file::build(&e.snapshot, e.format, &e.fields) {
            Ok(f) => {
                e.file = Some(f);
                e.snapshot = Vec::new(); // the file is all we need from now on
            }
            Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
    let bytes = e.file.clone().unwrap_or_default();
    Response::builder()
        .header("content-type", "application/gzip")
        .header("content-length", bytes.len())
        .body(Body::from(bytes))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
