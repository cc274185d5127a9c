//! What happens around every handler: request counting, injected faults, the rate limit and its
//! `x-ratelimit-*` headers, and bearer-token checks on `/api/v2`.

use super::errors;
use crate::state::Emulator;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// The name a request is counted and faulted under: `"GET /api/v2/users/{id}"`.
pub fn route_key(req: &Request) -> String {
    let pattern = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| req.uri().path().to_string());
    format!("{} {}", req.method(), pattern)
}

pub async fn guard(State(emu): State<Emulator>, req: Request, next: Next) -> Response {
    let key = route_key(&req);
    // Export downloads (`/user-exports/...`) are signed links: no bearer token, like Auth0's CDN.
    let is_api = req.uri().path().starts_with("/api/v2/");
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .map(|s| s.strip_prefix("Bearer ").unwrap_or("").trim().to_string());

    let (fault, limited, limit_headers, auth_error) = {
        let mut st = emu.lock();
        *st.requests.entry(key.clone()).or_insert(0) += 1;
        st.total_requests += 1;
        let fault = st.take_fault(&key);
        let now = st.now_ms();
        let (limited, headers) = take_rate_token(&emu, &mut st, now);
        let auth_error = if is_api {
            check_bearer(&st, bearer.as_deref(), now, &key)
        } else {
            None
        };
        (fault, limited, headers, auth_error)
    };

    let mut response = 'respond: {
        if let Some(f) = &fault {
            if f.delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(f.delay_ms)).await;
            }
            if f.drop {
                break 'respond broken_body(Bytes::new(), None);
            }
            if let Some(code) = f.status.and_then(|s| StatusCode::from_u16(s).ok()) {
                break 'respond errors::for_status(code);
            }
        }
        if limited {
            break 'respond errors::rate_limited();
        }
        match auth_error {
            Some(Refusal::Unauthorized(message)) => break 'respond errors::unauthorized(message),
            Some(Refusal::Scope(accepted)) => {
                break 'respond errors::api_error(
                    StatusCode::FORBIDDEN,
                    &format!(
                        "Insufficient scope; expected any of: {}.",
                        accepted.join(",")
                    ),
                    Some("insufficient_scope"),
                )
            }
            None => {}
        }
        let mut req = req;
        if let Some(f) = &fault {
            req.extensions_mut().insert(f.clone());
        }
        let resp = next.run(req).await;
        if fault.as_ref().is_some_and(|f| f.truncate) {
            break 'respond truncate(resp).await;
        }
        resp
    };
    let h = response.headers_mut();
    for (name, value) in limit_headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    response
}

/// Token bucket: `burst` tokens, refilled at `per_second`. Without a configured limit every
/// request passes, but the headers are still sent (Auth0 sends them on every response).
fn take_rate_token(
    emu: &Emulator,
    st: &mut crate::state::State,
    now_ms: i64,
) -> (bool, [(&'static str, String); 3]) {
    let reset = (now_ms / 1000 + 1).to_string();
    let Some(limit) = emu.config.rate_limit else {
        return (
            false,
            [
                ("x-ratelimit-limit", "1000".into()),
                ("x-ratelimit-remaining", "999".into()),
                ("x-ratelimit-reset", reset),
            ],
        );
    };
    let wall = crate::time::system_now_ms();
    let elapsed = (wall - st.bucket.last_ms).max(0) as f64 / 1000.0;
    st.bucket.tokens =
        (st.bucket.tokens + elapsed * limit.per_second as f64).min(limit.burst as f64);
    st.bucket.last_ms = wall;
    let limited = st.bucket.tokens < 1.0;
    if !limited {
        st.bucket.tokens -= 1.0;
    }
    (
        limited,
        [
            ("x-ratelimit-limit", limit.burst.to_string()),
            (
                "x-ratelimit-remaining",
                (st.bucket.tokens.floor() as u64).to_string(),
            ),
            ("x-ratelimit-reset", reset),
        ],
    )
}

/// Why a request is refused before its route runs.
enum Refusal {
    /// 401, with Auth0's message.
    Unauthorized(&'static str),
    /// 403: the token has none of the scopes the route accepts.
    Scope(&'static [&'static str]),
}

fn check_bearer(
    st: &crate::state::State,
    bearer: Option<&str>,
    now_ms: i64,
    route: &str,
) -> Option<Refusal> {
    match bearer {
        None | Some("") => Some(Refusal::Unauthorized("Missing authentication")),
        Some(token) => match st.tokens.get(token) {
            None => Some(Refusal::Unauthorized("Invalid token")),
            Some(info) if info.expires_ms <= now_ms => Some(Refusal::Unauthorized(
                "Expired token received for JSON Web Token validation",
            )),
            Some(info) => crate::state::scopes_for(route)
                .filter(|accepted| !accepted.iter().any(|a| info.scopes.iter().any(|s| s == a)))
                .map(Refusal::Scope),
        },
    }
}

/// A response whose body ends with an error after `prefix`: the client sees the connection
/// break. With an empty prefix the connection breaks before any response; otherwise the
/// headers and the prefix are flushed first (the short pause lets the server send them).
fn broken_body(prefix: Bytes, content_length: Option<usize>) -> Response {
    use futures_util::StreamExt;
    let pause = !prefix.is_empty();
    let head = futures_util::stream::iter(vec![Ok::<Bytes, std::io::Error>(prefix)]);
    let tail = futures_util::stream::once(async move {
        if pause {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "emulator fault: connection dropped",
        ))
    });
    let mut resp = Response::new(Body::from_stream(head.chain(tail)));
    if let Some(len) = content_length {
        if let Ok(v) = HeaderValue::from_str(&len.to_string()) {
            resp.headers_mut().insert("content-length", v);
        }
    }
    resp
}

async fn truncate(resp: Response) -> Response {
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut broken = broken_body(bytes.slice(..bytes.len() / 2), Some(bytes.len()));
    *broken.status_mut() = parts.status;
    for (k, v) in parts.headers.iter() {
        if k != "content-length" {
            broken.headers_mut().insert(k.clone(), v.clone());
        }
    }
    broken
}
