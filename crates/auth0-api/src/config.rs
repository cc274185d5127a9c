//! How to reach a tenant and how patient to be with it.

use crate::error::{Error, Result};
use std::fmt;
use std::time::Duration;
use url::Url;

/// A secret that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Clone, Debug)]
pub enum Credentials {
    /// A machine-to-machine application: tokens come from `/oauth/token` and are refreshed.
    ClientCredentials {
        client_id: String,
        client_secret: Secret,
    },
    /// A Management API token obtained elsewhere (it cannot be refreshed).
    Token(Secret),
}

#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `https://tenant.eu.auth0.com` or, for the emulator, `http://127.0.0.1:4010` (no path).
    pub base_url: Url,
    pub credentials: Credentials,
    /// Limit for one attempt of one request (connect + send + read the whole body).
    pub request_timeout: Duration,
    /// How many times a 5xx or a broken connection is retried.
    pub max_retries: u32,
    /// Total time one request may spend waiting for rate limits before giving up.
    pub max_rate_limit_wait: Duration,
    /// First back-off delay; doubles per retry, with jitter, up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl ClientConfig {
    pub fn new(base_url: &str, credentials: Credentials) -> Result<Self> {
        let base_url = parse_base_url(base_url)?;
        Ok(ClientConfig {
            base_url,
            credentials,
            request_timeout: Duration::from_secs(30),
            max_retries: 4,
            max_rate_limit_wait: Duration::from_secs(300),
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
        })
    }

    /// The Management API audience for client-credentials tokens: `<base>/api/v2/`.
    pub fn audience(&self) -> String {
        format!("{}/api/v2/", self.base_url.as_str().trim_end_matches('/'))
    }
}

/// Accepts `https://host[:port]` anywhere and `http://` only for loopback hosts.
pub fn parse_base_url(s: &str) -> Result<Url> {
    let url = Url::parse(s).map_err(|e| Error::Config(format!("'{s}' is not a valid URL: {e}")))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::Config(format!("'{s}' has no host")));
    }
    if url.path() != "/" && !url.path().is_empty() {
        return Err(Error::Config(format!(
            "'{s}' must not have a path (the client adds /api/v2)"
        )));
    }
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(Error::Config(format!(
            "'{s}' must be scheme://host[:port] only"
        )));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(Error::Config(format!(
            "plain http is only allowed for loopback hosts (127.0.0.1, ::1, localhost), not '{}'",
            url.host_str().unwrap_or_default()
        ))),
        other => Err(Error::Config(format!(
            "unsupported scheme '{other}' (use https)"
        ))),
    }
}

pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert!(parse_base_url("https://acme.eu.auth0.com").is_ok());
        assert!(parse_base_url("http://127.0.0.1:4010").is_ok());
        assert!(parse_base_url("http://127.8.0.1:4010").is_ok());
        assert!(parse_base_url("http://[::1]:4010").is_ok());
        assert!(parse_base_url("http://localhost:4010/").is_ok());
        assert!(parse_base_url("http://acme.eu.auth0.com").is_err());
        assert!(parse_base_url("http://127.0.0.1.evil.com").is_err());
        assert!(parse_base_url("ftp://127.0.0.1").is_err());
        assert!(parse_base_url("https://acme.auth0.com/api/v2").is_err());
        assert!(parse_base_url("https://user:pw@acme.auth0.com").is_err());
        assert!(parse_base_url("acme.auth0.com").is_err());
    }

    #[test]
    fn secrets_do_not_print() {
        let c = Credentials::ClientCredentials {
            client_id: "id".into(),
            client_secret: Secret::new("hunter2"),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
