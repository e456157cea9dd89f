//! The client's typed errors: PostgREST's error JSON and transport failures sorted into what a
//! caller can act on, each with a retry hint.

use std::time::Duration;

/// PostgREST's error body: `{code, message, details, hint}`.
///
/// ```
/// use monitor_core::client::ApiErrorBody;
/// let body: ApiErrorBody = serde_json::from_str(
///     r#"{"code":"42501","message":"admins only","details":null,"hint":null}"#,
/// )
/// .unwrap();
/// assert_eq!(body.code.as_deref(), Some("42501"));
/// assert_eq!(body.hint, None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct ApiErrorBody {
    /// SQLSTATE (`42501`, `22023`...) or a PostgREST code (`PGRST301`...).
    #[serde(default)]
    pub code: Option<String>,
    /// Human-readable message.
    #[serde(default)]
    pub message: Option<String>,
    /// More detail, when the server gives it.
    #[serde(default)]
    pub details: Option<String>,
    /// What to do about it, when the server says.
    #[serde(default)]
    pub hint: Option<String>,
}

/// Whether and when a failed call is worth repeating unchanged.
///
/// ```
/// use std::time::Duration;
/// use monitor_core::client::{ApiErrorBody, ClientError, RetryHint};
/// let busy = ClientError::Server {
///     status: 503,
///     body: ApiErrorBody::default(),
///     retry_after: Some(Duration::from_secs(3)),
/// };
/// assert_eq!(busy.retry_hint(), RetryHint::Retry { after: Some(Duration::from_secs(3)) });
/// let expired = ClientError::Auth { body: ApiErrorBody::default() };
/// assert_eq!(expired.retry_hint(), RetryHint::AfterReauthentication);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryHint {
    /// Repeating the same call gives the same answer: fix the input, token or rights first.
    DoNotRetry,
    /// A new token may help (401): refresh it, then retry.
    AfterReauthentication,
    /// A transient failure: retry with backoff, after `after` when the server said
    /// (`Retry-After`).
    Retry {
        /// The server's `Retry-After`, when given.
        after: Option<Duration>,
    },
}

/// Why a monitoring call failed.
///
/// ```
/// use monitor_core::client::{ClientError, MonitoringClient};
/// let err = MonitoringClient::new("127.0.0.1:54321", "anon-key", "admin-jwt").unwrap_err();
/// assert!(matches!(err, ClientError::Config(_)));
/// assert_eq!(err.to_string(), r#"client configuration: not an http(s) URL: "127.0.0.1:54321""#);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The configuration is unusable (missing `SUPABASE_URL` or key, bad URL).
    #[error("client configuration: {0}")]
    Config(String),
    /// 401: no valid token (`PGRST301`/`PGRST303`: invalid or expired JWT, or anon).
    #[error("not authenticated: {}", .body.message.as_deref().unwrap_or("invalid or missing token"))]
    Auth {
        /// The server's error body.
        body: ApiErrorBody,
    },
    /// 403: signed in but not an admin (`42501`).
    #[error("forbidden: {}", .body.message.as_deref().unwrap_or("admins only"))]
    Forbidden {
        /// The server's error body.
        body: ApiErrorBody,
    },
    /// 404: unknown function or record (`P0002`, `PGRST202`).
    #[error("not found: {}", .body.message.as_deref().unwrap_or("no such thing"))]
    NotFound {
        /// The server's error body.
        body: ApiErrorBody,
    },
    /// 409: a conflicting write (`23505`...).
    #[error("conflict: {}", .body.message.as_deref().unwrap_or("conflicting state"))]
    Conflict {
        /// The server's error body.
        body: ApiErrorBody,
    },
    /// 400/422: the arguments were refused (`22023` bad filter value...).
    #[error("invalid input: {}", .body.message.as_deref().unwrap_or("refused arguments"))]
    InvalidInput {
        /// The server's error body.
        body: ApiErrorBody,
    },
    /// 5xx or 429: the server could not answer now.
    #[error("server error {status}: {}", .body.message.as_deref().unwrap_or("no detail"))]
    Server {
        /// The HTTP status.
        status: u16,
        /// The server's error body.
        body: ApiErrorBody,
        /// `Retry-After`, when given.
        retry_after: Option<Duration>,
    },
    /// The request did not complete (connection refused, timeout, TLS...).
    #[error("network: {0}")]
    Network(#[source] reqwest::Error),
    /// A 2xx answer that is not the JSON this function returns (a version mismatch).
    #[error("unexpected response from {function}: {reason}")]
    UnexpectedResponse {
        /// The RPC called.
        function: String,
        /// What did not match.
        reason: String,
    },
}

impl ClientError {
    /// Sorts an error answer by its HTTP status (PostgREST's own mapping of SQLSTATEs).
    pub(crate) fn from_status(
        status: u16,
        body: ApiErrorBody,
        retry_after: Option<Duration>,
    ) -> Self {
        match status {
            401 => ClientError::Auth { body },
            403 => ClientError::Forbidden { body },
            404 => ClientError::NotFound { body },
            409 => ClientError::Conflict { body },
            400 | 405 | 406 | 413 | 415 | 422 => ClientError::InvalidInput { body },
            _ => ClientError::Server {
                status,
                body,
                retry_after,
            },
        }
    }

    /// Whether and when to retry the same call.
    ///
    /// ```
    /// use monitor_core::client::{ClientError, RetryHint};
    /// let e = ClientError::Config("no SUPABASE_URL".into());
    /// assert_eq!(e.retry_hint(), RetryHint::DoNotRetry);
    /// ```
    pub fn retry_hint(&self) -> RetryHint {
        match self {
            ClientError::Auth { .. } => RetryHint::AfterReauthentication,
            ClientError::Server {
                status,
                retry_after,
                ..
            } => {
                // 501 (not implemented) and 505 will not change by waiting.
                if matches!(status, 501 | 505) {
                    RetryHint::DoNotRetry
                } else {
                    RetryHint::Retry {
                        after: *retry_after,
                    }
                }
            }
            ClientError::Network(_) => RetryHint::Retry { after: None },
            _ => RetryHint::DoNotRetry,
        }
    }

    /// The server's error body, when the server answered with one.
    ///
    /// ```
    /// use monitor_core::client::{ApiErrorBody, ClientError};
    /// let body = ApiErrorBody { code: Some("42501".into()), ..Default::default() };
    /// let forbidden = ClientError::Forbidden { body };
    /// assert_eq!(forbidden.body().and_then(|b| b.code.as_deref()), Some("42501"));
    /// assert_eq!(forbidden.to_string(), "forbidden: admins only");
    /// // No answer from the server, no body.
    /// assert!(ClientError::Config("no URL".into()).body().is_none());
    /// ```
    pub fn body(&self) -> Option<&ApiErrorBody> {
        match self {
            ClientError::Auth { body }
            | ClientError::Forbidden { body }
            | ClientError::NotFound { body }
            | ClientError::Conflict { body }
            | ClientError::InvalidInput { body }
            | ClientError::Server { body, .. } => Some(body),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_sort_into_the_documented_kinds() {
        let body = ApiErrorBody::default;
        assert!(matches!(
            ClientError::from_status(401, body(), None),
            ClientError::Auth { .. }
        ));
        assert!(matches!(
            ClientError::from_status(403, body(), None),
            ClientError::Forbidden { .. }
        ));
        assert!(matches!(
            ClientError::from_status(404, body(), None),
            ClientError::NotFound { .. }
        ));
        assert!(matches!(
            ClientError::from_status(409, body(), None),
            ClientError::Conflict { .. }
        ));
        assert!(matches!(
            ClientError::from_status(400, body(), None),
            ClientError::InvalidInput { .. }
        ));
        assert!(matches!(
            ClientError::from_status(503, body(), None),
            ClientError::Server { status: 503, .. }
        ));
    }

    #[test]
    fn only_transient_failures_say_retry() {
        let wait = Some(Duration::from_secs(3));
        assert_eq!(
            ClientError::from_status(429, ApiErrorBody::default(), wait).retry_hint(),
            RetryHint::Retry { after: wait }
        );
        assert_eq!(
            ClientError::from_status(401, ApiErrorBody::default(), None).retry_hint(),
            RetryHint::AfterReauthentication
        );
        assert_eq!(
            ClientError::from_status(400, ApiErrorBody::default(), None).retry_hint(),
            RetryHint::DoNotRetry
        );
        assert_eq!(
            ClientError::from_status(501, ApiErrorBody::default(), None).retry_hint(),
            RetryHint::DoNotRetry
        );
    }
}
