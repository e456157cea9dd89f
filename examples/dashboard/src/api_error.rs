//! The dashboard API's errors as HTTP answers: a [`ClientError`] from Supabase sorted into a
//! status and a JSON `{error, message}` the page shows as it is.
//!
//! Each call goes out with the signed-in admin's own token, so a 401 or 403 from Supabase is
//! about that admin's session, and the message says so. 4xx messages are the ones our SQL raises
//! on purpose ("only a failed upload can be retried; this one is completed"); 5xx and
//! transport failures carry no server detail, only what to check (details go to the log).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use monitor_core::client::ClientError;
use serde_json::json;

/// Why a dashboard API call failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// Supabase refused or failed the call.
    #[error(transparent)]
    Upstream(#[from] ClientError),
    /// The path's id is not a UUID.
    #[error("not an upload id: {0:?}")]
    BadId(String),
    /// The list cursor's time is not an RFC 3339 timestamp.
    #[error("not a cursor time: {0:?}")]
    BadCursor(String),
    /// No such API route.
    #[error("no such API route")]
    NoRoute,
    /// The request has no session (never signed in, logged out, or Supabase ended it).
    #[error("Session absente ou expirée : reconnectez-vous sur /login.")]
    SignedOut,
    /// The session's refresh could not be asked.
    #[error(transparent)]
    SignIn(#[from] crate::session::SignInError),
}

/// Status, machine-readable kind and the page's message for a Supabase failure.
pub(crate) fn describe(error: &ClientError) -> (StatusCode, &'static str, String) {
    let said = |fallback: &str| {
        error
            .body()
            .and_then(|b| b.message.clone())
            .unwrap_or_else(|| fallback.to_owned())
    };
    match error {
        ClientError::Auth { .. } => (
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            format!(
                "Supabase a refusé le jeton de votre session ({}) : reconnectez-vous",
                said("invalid or expired")
            ),
        ),
        ClientError::Forbidden { .. } => (
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "this account is not an admin ({}): sign in with an admin account \
                 (app_metadata.role = admin)",
                said("admins only")
            ),
        ),
        ClientError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found", said("not found")),
        ClientError::Conflict { .. } => (StatusCode::CONFLICT, "conflict", said("conflict")),
        ClientError::InvalidInput { .. } => (
            StatusCode::BAD_REQUEST,
            "invalid_input",
            said("refused arguments"),
        ),
        ClientError::Server { status, .. } => {
            // 429 and 503 are "come back later"; anything else is the server's fault.
            let code = if matches!(status, 429 | 503) {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::BAD_GATEWAY
            };
            (
                code,
                "upstream",
                format!("Supabase answered HTTP {status}; see the dashboard's log"),
            )
        }
        ClientError::Network(_) => (
            StatusCode::BAD_GATEWAY,
            "unreachable",
            "Supabase is unreachable from the dashboard".to_owned(),
        ),
        ClientError::UnexpectedResponse { function, .. } => (
            StatusCode::BAD_GATEWAY,
            "unexpected_response",
            format!("{function} answered in an unknown shape: are the migrations up to date?"),
        ),
        ClientError::Config(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "config",
            "the dashboard's Supabase configuration is unusable; see its log".to_owned(),
        ),
        // ClientError is non-exhaustive: a kind added later is at least the server's side.
        _ => (
            StatusCode::BAD_GATEWAY,
            "upstream",
            "the call to Supabase failed; see the dashboard's log".to_owned(),
        ),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind, message, retry_after) = match &self {
            ApiError::Upstream(e) => {
                let (status, kind, message) = describe(e);
                if status.is_server_error() {
                    tracing::warn!(error = %e, "a Supabase call failed");
                } else {
                    tracing::info!(error = %e, "Supabase refused a call");
                }
                let retry_after = match e {
                    ClientError::Server {
                        retry_after: Some(after),
                        ..
                    } => Some(after.as_secs()),
                    _ => None,
                };
                (status, kind, message, retry_after)
            }
            ApiError::BadId(_) | ApiError::BadCursor(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_input",
                self.to_string(),
                None,
            ),
            ApiError::NoRoute => (StatusCode::NOT_FOUND, "not_found", self.to_string(), None),
            ApiError::SignedOut => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                self.to_string(),
                None,
            ),
            ApiError::SignIn(e) => {
                tracing::warn!(error = %e, "a session could not be refreshed");
                (
                    StatusCode::BAD_GATEWAY,
                    "unreachable",
                    self.to_string(),
                    None,
                )
            }
        };
        let mut response =
            (status, Json(json!({ "error": kind, "message": message }))).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
