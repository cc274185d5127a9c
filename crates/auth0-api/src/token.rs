//! Access tokens: a static one, or client-credentials tokens cached until a minute before expiry.

use std::time::{Duration, Instant};

#[derive(Clone)]
pub(crate) struct CachedToken {
    pub value: String,
    pub refresh_after: Instant,
}

impl CachedToken {
    pub fn new(value: String, expires_in: Duration) -> Self {
        // Refresh a minute early (or halfway for short-lived tokens) so that a request never
        // leaves with a token that expires in flight.
        let margin = Duration::from_secs(60).min(expires_in / 2);
        CachedToken {
            value,
            refresh_after: Instant::now() + expires_in - margin,
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
}

fn default_expiry() -> u64 {
    86_400
}
