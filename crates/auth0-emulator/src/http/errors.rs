//! Auth0's error bodies, byte for byte where a recording or the reference has them.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

/// The Management API's standard error body: `{"statusCode","error","message","errorCode"}`.
pub fn api_error(status: StatusCode, message: &str, error_code: Option<&str>) -> Response {
    let mut body = Map::new();
    body.insert("statusCode".into(), json!(status.as_u16()));
    body.insert(
        "error".into(),
        json!(status.canonical_reason().unwrap_or("Error")),
    );
    body.insert("message".into(), json!(message));
    if let Some(code) = error_code {
        body.insert("errorCode".into(), json!(code));
    }
    (status, Json(Value::Object(body))).into_response()
}

/// OAuth-style errors of `/oauth/token`: `{"error","error_description"}`.
pub fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

pub fn invalid_query(message: String) -> Response {
    api_error(
        StatusCode::BAD_REQUEST,
        &message,
        Some("invalid_query_string"),
    )
}

/// `Query validation error: '<what>' on property <name> (<description>).`
pub fn query_validation(what: &str, property: &str, description: &str) -> Response {
    invalid_query(format!(
        "Query validation error: '{what}' on property {property} ({description})."
    ))
}

pub fn invalid_paging() -> Response {
    api_error(
        StatusCode::BAD_REQUEST,
        "You can only page through the first 1000 records. See https://auth0.com/docs/users/search/v3/view-search-results-by-page#limitation",
        Some("invalid_paging"),
    )
}

pub fn rate_limited() -> Response {
    api_error(
        StatusCode::TOO_MANY_REQUESTS,
        "Global limit has been reached",
        Some("too_many_requests"),
    )
}

pub fn user_not_found() -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        "The user does not exist.",
        Some("inexistent_user"),
    )
}

pub fn unauthorized(message: &str) -> Response {
    let body = json!({"statusCode": 401, "error": "Unauthorized", "message": message,
                      "attributes": {"error": message}});
    (StatusCode::UNAUTHORIZED, Json(body)).into_response()
}

/// The body for a status injected by a fault.
pub fn for_status(status: StatusCode) -> Response {
    match status.as_u16() {
        429 => rate_limited(),
        401 => unauthorized("Invalid token"),
        503 => api_error(
            status,
            "The query exceeded the timeout. Please try refining your search criteria. See https://auth0.com/docs/best-practices/search-best-practices.",
            None,
        ),
        _ => api_error(status, status.canonical_reason().unwrap_or("Error"), None),
    }
}
