//! The extension's one error type, and the one place that decides SQLSTATE, DETAIL and HINT.
//!
//! Messages never contain secrets: the client's errors name endpoints (method and route pattern)
//! and Auth0's own message; option errors name options, never their values when they are secret.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::PgSqlErrorCode;
use supabase_wrappers::prelude::{CreateRuntimeError, OptionsError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Auth0 (or the way to it) failed.
    #[error(transparent)]
    Api(#[from] auth0_api::Error),

    /// Bad server, user-mapping or table options, or a bad argument: the user must change input.
    #[error("{message}")]
    Invalid {
        code: PgSqlErrorCode,
        message: String,
        detail: Option<String>,
        hint: Option<String>,
    },

    /// Remote data that does not fit the column it goes into.
    #[error("Auth0 user {user_id}: field for column \"{column}\" cannot be read as {sql_type}")]
    Column {
        column: String,
        sql_type: String,
        user_id: String,
        detail: String,
    },

    /// An export file that could not be read to its end, even from fresh links.
    #[error("{message}")]
    Download { message: String, detail: String },

    /// A query that Auth0's search cannot answer completely.
    #[error("{message}")]
    Incomplete {
        message: String,
        detail: String,
        hint: String,
    },

    #[error(transparent)]
    Options(#[from] OptionsError),

    #[error(transparent)]
    Runtime(#[from] CreateRuntimeError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An input error with the given SQLSTATE.
    pub fn invalid(code: PgSqlErrorCode, message: impl Into<String>) -> Self {
        Error::Invalid {
            code,
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    pub fn with_detail(mut self, d: impl Into<String>) -> Self {
        if let Error::Invalid { detail, .. } = &mut self {
            *detail = Some(d.into());
        }
        self
    }

    pub fn with_hint(mut self, h: impl Into<String>) -> Self {
        if let Error::Invalid { hint, .. } = &mut self {
            *hint = Some(h.into());
        }
        self
    }
}

const FUNC: &str = "auth0_io";

impl From<Error> for ErrorReport {
    fn from(e: Error) -> Self {
        match e {
            Error::Api(api) => api_report(api),
            Error::Invalid {
                code,
                message,
                detail,
                hint,
            } => {
                let mut r = ErrorReport::new(code, message, FUNC);
                if let Some(d) = detail {
                    r = r.set_detail(d);
                }
                if let Some(h) = hint {
                    r = r.set_hint(h);
                }
                r
            }
            Error::Column {
                column,
                sql_type,
                user_id,
                detail,
            } => {
                let message = format!("Auth0 user {user_id}: field for column \"{column}\" cannot be read as {sql_type}");
                ErrorReport::new(PgSqlErrorCode::ERRCODE_FDW_INVALID_DATA_TYPE, message, FUNC)
                    .set_detail(detail)
                    .set_hint("Declare the column with a type that fits the Auth0 field (text and jsonb take anything).")
            }
            Error::Incomplete {
                message,
                detail,
                hint,
            } => ErrorReport::new(
                PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                message,
                FUNC,
            )
            .set_detail(detail)
            .set_hint(hint),
            Error::Download { message, detail } => {
                ErrorReport::new(PgSqlErrorCode::ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION, message, FUNC)
                    .set_detail(detail)
                    .set_hint("No partial result was returned. Retry the query; if it keeps failing, check the network path to Auth0's export storage.")
            }
            Error::Options(o) => o.into(),
            Error::Runtime(r) => r.into(),
        }
    }
}

/// The Management API scope an endpoint (method and path pattern) needs.
pub fn scope_for(endpoint: &str) -> &'static str {
    match endpoint {
        e if e.starts_with("PATCH /api/v2/users") => "update:users",
        e if e.starts_with("DELETE /api/v2/users") => "delete:users",
        "POST /api/v2/jobs/users-imports" => "create:users",
        e if e.contains("/connections") => "read:connections",
        _ => "read:users",
    }
}

fn api_report(e: auth0_api::Error) -> ErrorReport {
    use auth0_api::Error as A;
    let message = e.to_string();
    match &e {
        A::Api { status, message: said, error_code, endpoint, .. } => {
            let code_part = error_code.as_deref().map(|c| format!(", errorCode {c}")).unwrap_or_default();
            let detail = format!("Auth0 said: {said} (HTTP {status}{code_part}, {endpoint})");
            let (code, hint) = match (*status, error_code.as_deref()) {
                (400, Some("invalid_query_string")) => (
                    PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                    "Check the search query (Auth0 user search syntax, search engine v3).",
                ),
                (400, _) => (PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, "Auth0 refused the request as invalid."),
                (401, _) => (
                    PgSqlErrorCode::ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
                    "Check the credentials in the user mapping (client_id/client_secret or api_token).",
                ),
                (403, _) => {
                    let hint = format!(
                        "Grant the user mapping's application the Management API scope {} (Auth0 dashboard: Applications > APIs > Auth0 Management API > Machine To Machine Applications).",
                        scope_for(endpoint)
                    );
                    return ErrorReport::new(PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE, message, FUNC)
                        .set_detail(detail)
                        .set_hint(hint);
                }
                (404, _) => (PgSqlErrorCode::ERRCODE_FDW_ERROR, "The object does not exist in this tenant."),
                (413, _) => (PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED, "Send smaller requests."),
                (s, _) if s >= 500 => (
                    PgSqlErrorCode::ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION,
                    "Auth0 kept failing after retries; try again later.",
                ),
                _ => (PgSqlErrorCode::ERRCODE_FDW_ERROR, "See the detail for Auth0's answer."),
            };
            ErrorReport::new(code, message, FUNC).set_detail(detail).set_hint(hint)
        }
        A::Auth { status, error, description } => ErrorReport::new(
            PgSqlErrorCode::ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
            "Auth0 refused the user mapping's credentials",
            FUNC,
        )
        .set_detail(format!("Auth0 said: {error}: {description} (HTTP {status}, POST /oauth/token)"))
        .set_hint(
            "Check client_id and client_secret in the user mapping, and that the application is authorized for the Management API.",
        ),
        A::RateLimited { .. } => ErrorReport::new(PgSqlErrorCode::ERRCODE_INSUFFICIENT_RESOURCES, message, FUNC)
            .set_hint("Auth0's rate limit did not lift in time; retry later or raise max_rate_limit_wait_seconds."),
        A::Transport { timed_out, .. } => {
            let hint = if *timed_out {
                "Auth0 did not answer in time; retry, or raise the server option timeout_seconds."
            } else {
                "Check the server's domain/api_url and the network path to it."
            };
            ErrorReport::new(PgSqlErrorCode::ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION, message, FUNC).set_hint(hint)
        }
        A::Decode { .. } => ErrorReport::new(PgSqlErrorCode::ERRCODE_FDW_REPLY_HANDLE, message, FUNC),
        A::LinkExpired | A::Truncated => {
            ErrorReport::new(PgSqlErrorCode::ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION, message, FUNC).set_hint(
                "The export file could not be read completely, even after fetching a fresh link; no partial result was returned. Retry the query.",
            )
        }
        A::Config(_) => ErrorReport::new(PgSqlErrorCode::ERRCODE_FDW_INVALID_OPTION_NAME, message, FUNC)
            .set_hint("Fix the server options (domain, or api_url for a loopback emulator)."),
    }
}

/// A value quoted in a message, cut to 64 characters (an option value can be anything).
pub fn cut(s: &str) -> String {
    const SHOWN: usize = 64;
    if s.chars().count() <= SHOWN {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(SHOWN).collect::<String>())
    }
}
