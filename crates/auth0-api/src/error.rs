//! The one error type of the client. Messages carry what Auth0 said and which endpoint (method
//! and path pattern, never ids, query strings or secrets) so that they are safe to show.

use std::time::Duration;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Auth0 answered with its standard error body.
    #[error("Auth0 answered {status} {error} on {endpoint}: {message}")]
    Api {
        status: u16,
        error: String,
        message: String,
        error_code: Option<String>,
        endpoint: String,
    },

    /// `/oauth/token` refused the credentials (OAuth-style body).
    #[error("Auth0 refused the credentials ({status} {error}): {description}")]
    Auth {
        status: u16,
        error: String,
        description: String,
    },

    /// The rate limit did not lift within the configured budget.
    #[error("Auth0 kept rate-limiting {endpoint}; gave up after waiting {waited:?}")]
    RateLimited { endpoint: String, waited: Duration },

    /// No complete response, even after retries (refused, dropped, timed out).
    #[error("no complete response from Auth0 on {endpoint} after {attempts} attempt(s): {detail}")]
    Transport {
        endpoint: String,
        attempts: u32,
        detail: String,
        timed_out: bool,
        /// The request may have reached Auth0 (it was sent and the answer broke off, timed out,
        /// or came from a gateway rather than Auth0); false when no connection was made.
        maybe_delivered: bool,
    },

    /// A response that is not what the API documents.
    #[error("unexpected response from Auth0 on {endpoint}: {detail}")]
    Decode { endpoint: String, detail: String },

    #[error("invalid Auth0 client configuration: {0}")]
    Config(String),

    /// An export file's signed link has expired (fetch the job again for a fresh one).
    #[error("the export download link has expired")]
    LinkExpired,

    /// An export file ended before its end (the download broke off or the file is cut).
    #[error("the export file ended early (incomplete gzip stream)")]
    Truncated,
}

impl Error {
    /// The HTTP status Auth0 answered with, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } | Error::Auth { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn error_code(&self) -> Option<&str> {
        match self {
            Error::Api { error_code, .. } => error_code.as_deref(),
            Error::Auth { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Whether Auth0 may have done what the request asked although no success was seen: the
    /// request was sent and its answer broke off, timed out, could not be read, or came from a
    /// gateway. For a request that is not safe to repeat (an import job) such an outcome is
    /// unknown, not a refusal: Auth0's own error body, or a connection never made, is a refusal.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            Error::Transport {
                maybe_delivered, ..
            } => *maybe_delivered,
            Error::Decode { .. } => true,
            _ => false,
        }
    }

    /// An error that happened before the request itself was sent (getting its token): whatever
    /// broke, the request did not reach Auth0.
    pub(crate) fn before_sending(self) -> Error {
        match self {
            Error::Transport {
                endpoint,
                attempts,
                detail,
                timed_out,
                ..
            } => Error::Transport {
                endpoint,
                attempts,
                detail,
                timed_out,
                maybe_delivered: false,
            },
            Error::Decode { endpoint, detail } => Error::Transport {
                endpoint,
                attempts: 1,
                detail: format!("unreadable answer: {detail}"),
                timed_out: false,
                maybe_delivered: false,
            },
            other => other,
        }
    }

    /// Builds the error for a non-success response from its body.
    pub(crate) fn from_response(status: u16, body: &[u8], endpoint: &str) -> Error {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct ApiBody {
            error: Option<String>,
            message: Option<String>,
            error_code: Option<String>,
            error_description: Option<String>,
        }
        let reason = || {
            reqwest::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Error")
                .to_string()
        };
        match serde_json::from_slice::<ApiBody>(body) {
            Ok(b) if b.message.is_some() => Error::Api {
                status,
                error: b.error.unwrap_or_else(reason),
                message: b.message.unwrap_or_default(),
                error_code: b.error_code,
                endpoint: endpoint.to_string(),
            },
            Ok(b) if b.error_description.is_some() || b.error.is_some() => Error::Auth {
                status,
                error: b.error.unwrap_or_else(reason),
                description: b.error_description.unwrap_or_default(),
            },
            _ => Error::Api {
                status,
                error: reason(),
                message: snippet(body),
                error_code: None,
                endpoint: endpoint.to_string(),
            },
        }
    }
}

/// A short, printable excerpt of a non-JSON body.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let t: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
    if t.is_empty() {
        "(empty body)".into()
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_auth0_bodies() {
        let e = Error::from_response(
            404,
            br#"{"statusCode":404,"error":"Not Found","message":"The user does not exist.","errorCode":"inexistent_user"}"#,
            "GET /api/v2/users/{id}",
        );
        assert_eq!(e.status(), Some(404));
        assert_eq!(e.error_code(), Some("inexistent_user"));
        assert!(e.to_string().contains("The user does not exist."));

        let e = Error::from_response(
            401,
            br#"{"error":"access_denied","error_description":"Unauthorized"}"#,
            "x",
        );
        assert!(matches!(e, Error::Auth { .. }));

        let e = Error::from_response(502, b"<html>Bad gateway</html>", "GET /api/v2/users");
        assert!(e.to_string().contains("Bad gateway"));
    }
}
