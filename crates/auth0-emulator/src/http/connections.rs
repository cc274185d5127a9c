//! `GET /api/v2/connections` (name and strategy filters, offset paging, totals) and
//! `GET /api/v2/connections/{id}`.

use super::errors::api_error;
use super::params::Params;
use crate::state::Emulator;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

pub async fn list(State(emu): State<Emulator>, RawQuery(raw): RawQuery) -> Response {
    let p = Params::parse(raw.as_deref());
    let run = || -> Result<Response, Response> {
        let per_page = p
            .int(
                "per_page",
                1,
                Some(100),
                "The amount of entries per page. Defaults to 100 if not provided",
            )?
            .unwrap_or(100);
        let page = p
            .int("page", 0, None, "The page number. Zero based")?
            .unwrap_or(0);
        let include_totals = p
            .bool("include_totals", "true if a query summary must be included in the result, false otherwise. Not returned when using checkpoint pagination. Default value is false.")?
            .unwrap_or(false);
        let (fields, include) = p.fields()?;
        let strategies = p.all("strategy");
        let name = p.get("name");
        let st = emu.lock();
        let matching: Vec<Value> = st
            .connections
            .iter()
            .filter(|c| name.is_none_or(|n| c.name == n))
            .filter(|c| strategies.is_empty() || strategies.contains(&c.strategy.as_str()))
            .map(|c| project(c.to_json(), &fields, include))
            .collect();
        let total = matching.len();
        let items: Vec<Value> = matching
            .into_iter()
            .skip((page * per_page) as usize)
            .take(per_page as usize)
            .collect();
        Ok(if include_totals {
            Json(json!({"total": total, "start": page * per_page, "limit": per_page, "connections": items}))
                .into_response()
        } else {
            Json(Value::Array(items)).into_response()
        })
    };
    match run() {
        Ok(r) | Err(r) => r,
    }
}

/// Auth0 keeps `is_domain_connection` even when not asked for (seen in a recording).
fn project(v: Value, fields: &Option<Vec<String>>, include: bool) -> Value {
    let (Some(list), Value::Object(m)) = (fields, &v) else {
        return v;
    };
    let kept: Map<String, Value> = m
        .iter()
        .filter(|(k, _)| (list.iter().any(|f| f == *k) == include) || *k == "is_domain_connection")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(kept)
}

pub async fn get_one(State(emu): State<Emulator>, Path(id): Path<String>) -> Response {
    let st = emu.lock();
    match st.connection_by_id(&id) {
        Some(c) => Json(c.to_json()).into_response(),
        None => api_error(
            StatusCode::NOT_FOUND,
            "The connection does not exist",
            Some("inexistent_connection"),
        ),
    }
}
