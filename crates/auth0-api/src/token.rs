//! Access tokens: a static one, or client-credentials tokens cached until a minute before expiry.

use std::time::{Duration, Instant};

#[derive(Clone)]
pub(crate) struct CachedToken {
    pub value: String,
    pub refresh_after: Instant,
    /// The scopes `/oauth/token` said it granted (`None` when it did not say).
    pub scope: Option<String>,
}

impl CachedToken {
    pub fn new(value: String, expires_in: Duration, scope: Option<String>) -> Self {
        // Refresh a minute early (or halfway for short-lived tokens) so that a request never
        // leaves with a token that expires in flight.
        let margin = Duration::from_secs(60).min(expires_in / 2);
        CachedToken {
            value,
            refresh_after: Instant::now() + expires_in - margin,
            scope,
        }
    }

    pub fn is_fresh(&self) -> bool {
        Instant::now() < self.refresh_after
    }
}

#[derive(serde::Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    #[serde(default = "default_expiry")]
    pub expires_in: u64,
    #[serde(default)]
    pub scope: Option<String>,
}

/// The `scope` claim of a JWT access token (a static `api_token`), without checking its
/// signature (Auth0 does that); `None` when the token is not a readable JWT.
pub(crate) fn jwt_scope(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("scope")?.as_str().map(str::to_string)
}

fn default_expiry() -> u64 {
    86_400
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_jwt_says_its_scopes() {
        // {"alg":"none"} . {"scope":"read:users delete:users"}
        let t = "eyJhbGciOiJub25lIn0.eyJzY29wZSI6InJlYWQ6dXNlcnMgZGVsZXRlOnVzZXJzIn0.sig";
        assert_eq!(
            super::jwt_scope(t).as_deref(),
            Some("read:users delete:users")
        );
        assert_eq!(super::jwt_scope("not-a-jwt"), None);
        assert_eq!(super::jwt_scope("a.!!!.c"), None);
    }
}
