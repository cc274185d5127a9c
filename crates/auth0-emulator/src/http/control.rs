//! The control plane under `/_emulator/` (never under `/api/v2`, never counted or faulted):
//! reset, load users, arm faults, read request counts, move the clock, expire tokens.

use crate::state::{load_users, Emulator, Fault};
use crate::store::StoredUser;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

pub async fn health(State(emu): State<Emulator>) -> Json<Value> {
    let st = emu.lock();
    Json(json!({"status": "ok", "users": st.users.len(), "connections": st.connections.len()}))
}

#[derive(Deserialize, Default)]
pub struct ResetBody {
    seed_users: Option<usize>,
}

pub async fn reset(State(emu): State<Emulator>, body: Option<Json<ResetBody>>) -> Json<Value> {
    let seed = body.map(|Json(b)| b).unwrap_or_default().seed_users;
    emu.reset(seed);
    let users = emu.lock().users.len();
    Json(json!({"reset": true, "users": users}))
}

/// Loads a JSON array of user objects (added, or replacing the user with the same `user_id`).
/// `user_id` is required; `created_at`/`updated_at` default to now.
pub async fn load(State(emu): State<Emulator>, Json(body): Json<Value>) -> Response {
    let Value::Array(items) = body else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "expected a JSON array of users"})),
        )
            .into_response();
    };
    let mut st = emu.lock();
    let now = crate::time::format_ms(st.now_ms());
    let mut users = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(mut doc) = item else {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": format!("item {i} is not an object")})),
            )
                .into_response();
        };
        if !doc.get("user_id").is_some_and(Value::is_string) {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": format!("item {i} has no string user_id")})),
            )
                .into_response();
        }
        doc.entry("created_at").or_insert_with(|| json!(now));
        doc.entry("updated_at").or_insert_with(|| json!(now));
        users.push(StoredUser::new(doc));
    }
    let n = load_users(&mut st, users);
    Json(json!({"loaded": n, "users": st.users.len()})).into_response()
}

#[derive(Deserialize)]
#[serde(untagged)]
pub enum FaultBody {
    One(Fault),
    Many(Vec<Fault>),
}

pub async fn arm_faults(State(emu): State<Emulator>, Json(body): Json<FaultBody>) -> Json<Value> {
    let faults = match body {
        FaultBody::One(f) => vec![f],
        FaultBody::Many(v) => v,
    };
    let n = faults.len();
    emu.lock().faults.extend(faults);
    Json(json!({"armed": n}))
}

pub async fn clear_faults(State(emu): State<Emulator>) -> Json<Value> {
    emu.lock().faults.clear();
    Json(json!({"cleared": true}))
}

/// `{"total": N, "routes": {"GET /api/v2/users": n, ...}}`
pub async fn requests(State(emu): State<Emulator>) -> Json<Value> {
    let st = emu.lock();
    Json(json!({"total": st.total_requests, "routes": st.requests}))
}

pub async fn clear_requests(State(emu): State<Emulator>) -> Json<Value> {
    let mut st = emu.lock();
    st.requests.clear();
    st.total_requests = 0;
    Json(json!({"cleared": true}))
}

#[derive(Deserialize)]
pub struct ClockBody {
    advance_seconds: i64,
}

pub async fn advance_clock(State(emu): State<Emulator>, Json(b): Json<ClockBody>) -> Json<Value> {
    let mut st = emu.lock();
    st.advance_clock(b.advance_seconds * 1000);
    Json(json!({"now": crate::time::format_ms(st.now_ms())}))
}

pub async fn expire_tokens(State(emu): State<Emulator>) -> Json<Value> {
    let mut st = emu.lock();
    let now = st.now_ms();
    let n = st.tokens.len();
    for t in st.tokens.values_mut() {
        t.expires_ms = now;
    }
    Json(json!({"expired": n}))
}
