//! The one path every request takes: bearer token, timeout, 429 waits, bounded retries.

use crate::config::{ClientConfig, Credentials};
use crate::error::{Error, Result};
use crate::observer::{Event, NoopObserver, Observer};
use crate::token::{CachedToken, TokenResponse};
use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A request body; multipart forms are rebuilt for every attempt (they cannot be cloned).
#[derive(Clone)]
pub(crate) enum Body {
    Empty,
    Json(serde_json::Value),
    Multipart(Arc<dyn Fn() -> reqwest::multipart::Form + Send + Sync>),
}

/// One request, described so that it can be sent again.
pub(crate) struct Request {
    pub method: Method,
    /// Path with encoded segments, e.g. `/api/v2/users/auth0%7C123`.
    pub path: String,
    /// How the request is named in errors and counts: `GET /api/v2/users/{id}`.
    pub endpoint: String,
    pub query: Vec<(String, String)>,
    pub body: Body,
    /// Safe to send twice. Non-idempotent requests are retried only when they cannot have
    /// reached Auth0 (connection refused) or were refused outright (429).
    pub idempotent: bool,
}

impl Request {
    pub fn get(path: String, endpoint: &str) -> Self {
        Request {
            method: Method::GET,
            path,
            endpoint: endpoint.into(),
            query: vec![],
            body: Body::Empty,
            idempotent: true,
        }
    }

    pub fn query(mut self, k: &str, v: impl Into<String>) -> Self {
        self.query.push((k.into(), v.into()));
        self
    }
}

/// A 2xx answer.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

/// The Management API client. Cheap to share (`Arc` inside); safe to use from one thread or many.
#[derive(Clone)]
pub struct Client {
    pub(crate) http: reqwest::Client,
    /// For export files: no limit on the whole transfer (they can be large), only on each read.
    pub(crate) download_http: reqwest::Client,
    pub(crate) config: Arc<ClientConfig>,
    token: Arc<Mutex<Option<CachedToken>>>,
    observer: Arc<dyn Observer>,
    /// HTTP requests sent by this client and its clones (every attempt counts).
    sent: Arc<AtomicU64>,
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Self> {
        Self::with_observer(config, Arc::new(NoopObserver))
    }

    pub fn with_observer(config: ClientConfig, observer: Arc<dyn Observer>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("auth0_io/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                Error::Config(format!("cannot build the HTTP client: {}", e.without_url()))
            })?;
        let download_http = reqwest::Client::builder()
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .read_timeout(config.request_timeout)
            .user_agent(concat!("auth0_io/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                Error::Config(format!("cannot build the HTTP client: {}", e.without_url()))
            })?;
        Ok(Client {
            http,
            download_http,
            config: Arc::new(config),
            token: Arc::new(Mutex::new(None)),
            observer,
            sent: Arc::new(AtomicU64::new(0)),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// How many HTTP requests this client and its clones have sent so far: every attempt,
    /// token requests and export downloads included (what Auth0's rate limit counts). A caller
    /// reads it before and after a call to know what that call cost.
    pub fn requests_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Counts one HTTP request about to be sent.
    pub(crate) fn count_request(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    /// Reports an event to the observer (for waits the caller does itself, like job polling).
    pub fn notify(&self, event: &Event) {
        self.observer.on_event(event);
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!(
            "{}{}",
            self.config.base_url.as_str().trim_end_matches('/'),
            path
        )
    }

    fn cached_token(&self) -> Option<String> {
        let guard = self.token.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .as_ref()
            .filter(|t| t.is_fresh())
            .map(|t| t.value.clone())
    }

    fn forget_token(&self) {
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The bearer token for the next request, fetching one when needed.
    async fn bearer(&self) -> Result<String> {
        match &self.config.credentials {
            Credentials::Token(t) => Ok(t.expose().to_string()),
            Credentials::ClientCredentials {
                client_id,
                client_secret,
            } => {
                if let Some(t) = self.cached_token() {
                    return Ok(t);
                }
                let body = serde_json::json!({
                    "grant_type": "client_credentials",
                    "client_id": client_id,
                    "client_secret": client_secret.expose(),
                    "audience": self.config.audience(),
                });
                let req = Request {
                    method: Method::POST,
                    path: "/oauth/token".into(),
                    endpoint: "POST /oauth/token".into(),
                    query: vec![],
                    body: Body::Json(body),
                    idempotent: true,
                };
                let answer = self.execute(&req, None).await?;
                let t: TokenResponse =
                    serde_json::from_slice(&answer.body).map_err(|e| Error::Decode {
                        endpoint: req.endpoint.clone(),
                        detail: format!("token response: {e}"),
                    })?;
                let cached = CachedToken::new(
                    t.access_token.clone(),
                    Duration::from_secs(t.expires_in.max(2)),
                    t.scope.clone(),
                );
                *self.token.lock().unwrap_or_else(|p| p.into_inner()) = Some(cached);
                self.observer.on_event(&Event::TokenRefreshed);
                Ok(t.access_token)
            }
        }
    }

    /// The Management API scopes the credentials hold, from the token (fetched when needed):
    /// what `/oauth/token` said it granted, or a static token's `scope` claim. `None` when the
    /// token does not say (then only Auth0's 403 tells).
    pub async fn granted_scopes(&self) -> Result<Option<Vec<String>>> {
        let scope = match &self.config.credentials {
            Credentials::Token(t) => crate::token::jwt_scope(t.expose()),
            Credentials::ClientCredentials { .. } => {
                self.bearer().await?;
                let guard = self.token.lock().unwrap_or_else(|p| p.into_inner());
                guard.as_ref().and_then(|t| t.scope.clone())
            }
        };
        Ok(scope.map(|s| s.split_whitespace().map(str::to_string).collect()))
    }

    /// Sends an authenticated Management API request; refreshes the token once on a 401.
    pub(crate) async fn send(&self, req: &Request) -> Result<Answer> {
        let token = self.bearer().await.map_err(Error::before_sending)?;
        match self.execute(req, Some(&token)).await {
            Err(Error::Api { status: 401, .. })
                if matches!(
                    self.config.credentials,
                    Credentials::ClientCredentials { .. }
                ) =>
            {
                self.forget_token();
                let token = self.bearer().await.map_err(Error::before_sending)?;
                self.execute(req, Some(&token)).await
            }
            other => other,
        }
    }

    /// One logical request: attempts, 429 waits and retries (the policy of [`Retries`]).
    async fn execute(&self, req: &Request, bearer: Option<&str>) -> Result<Answer> {
        let mut retries = Retries::new(self, &req.endpoint);
        loop {
            match self.attempt(req, bearer).await {
                Ok((status, body, _)) if status.is_success() => return Ok(Answer { status, body }),
                Ok((StatusCode::TOO_MANY_REQUESTS, _, headers)) => {
                    retries.rate_limited(&headers).await?
                }
                Ok((status, body, _)) => {
                    // A request that is not safe to send twice (an import job) is retried only
                    // when Auth0 itself answered with its error body: it refused the request, so
                    // sending it again cannot do it twice. A gateway's 502/504 without that body
                    // may hide a request that went through, and is not retried.
                    let retryable = is_server_error(status)
                        && (req.idempotent || is_auth0_error(status, &body));
                    if !retries
                        .after_failure(retryable, || format!("HTTP {status}"))
                        .await
                    {
                        if !req.idempotent
                            && is_server_error(status)
                            && !is_auth0_error(status, &body)
                        {
                            // Not Auth0's refusal: the request may have gone through.
                            return Err(Error::Transport {
                                endpoint: req.endpoint.clone(),
                                attempts: retries.attempts,
                                detail: format!(
                                    "HTTP {status} without Auth0's error body (a gateway's answer)"
                                ),
                                timed_out: false,
                                maybe_delivered: true,
                            });
                        }
                        return Err(Error::from_response(status.as_u16(), &body, &req.endpoint));
                    }
                }
                Err(e) => {
                    let retryable = req.idempotent || e.is_connect();
                    if !retries.after_failure(retryable, || describe(&e)).await {
                        return Err(Error::Transport {
                            endpoint: req.endpoint.clone(),
                            attempts: retries.attempts,
                            detail: describe(&e),
                            timed_out: e.is_timeout(),
                            maybe_delivered: !e.is_connect(),
                        });
                    }
                }
            }
        }
    }

    /// One HTTP exchange, body included (a connection dropped mid-body is an error here, so it
    /// is retried like any other broken connection).
    async fn attempt(
        &self,
        req: &Request,
        bearer: Option<&str>,
    ) -> std::result::Result<(StatusCode, Bytes, HeaderMap), reqwest::Error> {
        let mut rb = self.http.request(req.method.clone(), self.url(&req.path));
        if !req.query.is_empty() {
            rb = rb.query(&req.query);
        }
        if let Some(token) = bearer {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static("Bearer invalid"));
            value.set_sensitive(true);
            rb = rb.header(reqwest::header::AUTHORIZATION, value);
        }
        rb = match &req.body {
            Body::Empty => rb,
            Body::Json(v) => rb.json(v),
            Body::Multipart(make) => rb.multipart(make()),
        };
        self.count_request();
        let resp = rb.send().await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await?;
        Ok((status, body, headers))
    }

    /// Exponential back-off with jitter: `base * 2^(attempt-1)`, capped, scaled by 50–100%.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .config
            .base_backoff
            .saturating_mul(1u32 << (attempt.saturating_sub(1)).min(16));
        let capped = exp.min(self.config.max_backoff);
        capped.mul_f64(0.5 + 0.5 * jitter())
    }
}

/// The retry policy every request shares, API calls and export downloads alike: a 429 is waited
/// out until its reset (bounded in total by `max_rate_limit_wait`, and not a failed attempt); a
/// retryable failure backs off with jitter (bounded by `max_retries`). Waits are reported to the
/// client's observer.
pub(crate) struct Retries<'a> {
    client: &'a Client,
    endpoint: &'a str,
    /// Failed attempts so far.
    pub attempts: u32,
    rate_waited: Duration,
}

impl<'a> Retries<'a> {
    pub fn new(client: &'a Client, endpoint: &'a str) -> Self {
        Retries {
            client,
            endpoint,
            attempts: 0,
            rate_waited: Duration::ZERO,
        }
    }

    /// Waits out a 429; [`Error::RateLimited`] once the total wait would pass the bound.
    pub async fn rate_limited(&mut self, headers: &HeaderMap) -> Result<()> {
        let wait = rate_limit_wait(headers);
        if self.rate_waited + wait > self.client.config.max_rate_limit_wait {
            return Err(Error::RateLimited {
                endpoint: self.endpoint.into(),
                waited: self.rate_waited,
            });
        }
        self.rate_waited += wait;
        self.client.observer.on_event(&Event::RateLimited {
            endpoint: self.endpoint.into(),
            wait,
        });
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// Counts a failed attempt. When it may be retried and attempts remain, backs off and
    /// answers true; otherwise false (the caller reports the failure).
    pub async fn after_failure(
        &mut self,
        retryable: bool,
        reason: impl FnOnce() -> String,
    ) -> bool {
        self.attempts += 1;
        if !retryable || self.attempts > self.client.config.max_retries {
            return false;
        }
        let wait = self.client.backoff(self.attempts);
        self.client.observer.on_event(&Event::Retrying {
            endpoint: self.endpoint.into(),
            attempt: self.attempts,
            wait,
            reason: reason(),
        });
        tokio::time::sleep(wait).await;
        true
    }
}

/// 500, 502, 503, 504: worth another attempt when the request allows it.
pub(crate) fn is_server_error(status: StatusCode) -> bool {
    matches!(status.as_u16(), 500 | 502 | 503 | 504)
}

/// Is `body` Auth0's own error answer for `status` (`{"statusCode": 503, "error": ...}`)?
fn is_auth0_error(status: StatusCode, body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| {
        v.get("statusCode").and_then(serde_json::Value::as_u64) == Some(status.as_u16() as u64)
            && v.get("error").is_some_and(serde_json::Value::is_string)
    })
}

/// How long a 429 asks us to wait: until `x-ratelimit-reset` (UNIX seconds), or `retry-after`,
/// at least 100 ms and at most 60 s for one wait.
fn rate_limit_wait(headers: &HeaderMap) -> Duration {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let secs = match header("x-ratelimit-reset") {
        Some(reset) => reset - now,
        None => header("retry-after").unwrap_or(1.0),
    };
    Duration::from_secs_f64(secs.clamp(0.1, 60.0))
}

/// A number in [0, 1) that differs between calls and processes, without a RNG dependency.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// A transport error without its URL (query strings may hold e-mail addresses), with its causes.
pub(crate) fn describe(e: &reqwest::Error) -> String {
    let mut out = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "could not connect".to_string()
    } else if e.is_body() || e.is_decode() {
        "the connection broke while reading the response".to_string()
    } else if e.is_request() {
        "the connection broke while sending the request".to_string()
    } else {
        "transport error".to_string()
    };
    let mut source = std::error::Error::source(e);
    let mut seen = 0;
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) && seen < 3 {
            out.push_str(": ");
            out.push_str(&text);
            seen += 1;
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_wait_reads_reset() {
        let mut h = HeaderMap::new();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        h.insert("x-ratelimit-reset", (now + 3).to_string().parse().unwrap());
        let w = rate_limit_wait(&h);
        assert!(
            w > Duration::from_millis(1500) && w <= Duration::from_secs(3),
            "{w:?}"
        );
        h.insert("x-ratelimit-reset", (now - 10).to_string().parse().unwrap());
        assert_eq!(rate_limit_wait(&h), Duration::from_millis(100));
        h.insert(
            "x-ratelimit-reset",
            (now + 1000).to_string().parse().unwrap(),
        );
        assert_eq!(rate_limit_wait(&h), Duration::from_secs(60));
    }

    #[test]
    fn jitter_in_range() {
        for _ in 0..100 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j));
        }
    }
}
