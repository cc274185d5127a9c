//! `POST /oauth/token`: the client-credentials grant, form-encoded or JSON.

use super::errors::oauth_error;
use crate::state::{Emulator, TokenInfo};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use std::collections::HashMap;

pub async fn token(State(emu): State<Emulator>, headers: HeaderMap, body: Bytes) -> Response {
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    let params: HashMap<String, String> = if is_json {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(m)) => m
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
                .collect(),
            _ => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Invalid JSON body",
                )
            }
        }
    } else {
        form_urlencoded::parse(&body).into_owned().collect()
    };
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");

    match get("grant_type") {
        "client_credentials" => {}
        "" => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing required parameter: grant_type",
            )
        }
        other => {
            return oauth_error(
                StatusCode::FORBIDDEN,
                "unsupported_grant_type",
                &format!("Unsupported grant type: {other}"),
            )
        }
    }
    if get("client_id") != emu.config.client_id || get("client_secret") != emu.config.client_secret
    {
        return oauth_error(StatusCode::UNAUTHORIZED, "access_denied", "Unauthorized");
    }
    let audience = get("audience");
    if audience.is_empty() {
        return oauth_error(
            StatusCode::FORBIDDEN,
            "access_denied",
            "No audience parameter was provided, and no default audience has been configured",
        );
    }
    if !audience.trim_end_matches('/').ends_with("/api/v2") {
        return oauth_error(
            StatusCode::FORBIDDEN,
            "access_denied",
            &format!("Service not enabled within domain: {audience}"),
        );
    }

    let scope = emu.config.scopes.join(" ");
    let mut st = emu.lock();
    let now = st.now_ms();
    let serial = st.next_serial();
    let ttl = emu.config.token_ttl_seconds;
    let claims = json!({
        "iss": format!("https://{}/", emu.config.domain),
        "sub": format!("{}@clients", emu.config.client_id),
        "aud": audience,
        "iat": now / 1000,
        "exp": now / 1000 + ttl,
        "scope": scope,
        "gty": "client-credentials",
        "azp": emu.config.client_id,
        "jti": serial,
    });
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT","kid":"auth0-emulator"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signature = URL_SAFE_NO_PAD.encode(format!("emulator-signature-{serial}-{now}"));
    let access_token = format!("{header}.{payload}.{signature}");
    st.tokens.insert(
        access_token.clone(),
        TokenInfo {
            expires_ms: now + ttl * 1000,
            scopes: emu.config.scopes.clone(),
        },
    );
    Json(json!({"access_token": access_token, "expires_in": ttl, "scope": scope, "token_type": "Bearer"}))
        .into_response()
}
