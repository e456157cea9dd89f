//! The project-key check Supabase's API gateway (Kong's `key-auth`) makes before PostgREST
//! sees a request: an `apikey` header or url parameter holding one of the project's keys,
//! even when an `Authorization: Bearer` token is present.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The keys the gateway accepts as `apikey` (Kong's `anon` and `service_role` consumers).
#[derive(Debug, Clone)]
pub(super) struct ProjectKeys {
    keys: Vec<String>,
}

/// Why the gateway refused a request before PostgREST saw it; answered in Kong's shape
/// (`{"message", "hint"}`), not PostgREST's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyRefusal {
    /// No `apikey` header and no `apikey` url parameter.
    Missing,
    /// An `apikey` that is none of the project's keys (a user's token is not one either).
    Invalid,
}

impl ProjectKeys {
    /// The project's keys: the anon key and the service_role key.
    pub(super) fn new(keys: Vec<String>) -> Self {
        ProjectKeys { keys }
    }

    /// Checks the request's key: the `apikey` header, else the `apikey` url parameter
    /// (Kong's `key_in_query`, on by default). Returns the key, which stands in for the
    /// bearer token when there is none.
    pub(super) fn check(
        &self,
        headers: &HeaderMap,
        query: &[(String, String)],
    ) -> Result<String, KeyRefusal> {
        let key = match headers.get("apikey") {
            Some(value) => Some(value.to_str().map_err(|_| KeyRefusal::Invalid)?),
            None => query
                .iter()
                .find(|(name, _)| name == "apikey")
                .map(|(_, value)| value.as_str()),
        };
        match key {
            None => Err(KeyRefusal::Missing),
            Some(key) if self.keys.iter().any(|k| k == key) => Ok(key.to_string()),
            Some(_) => Err(KeyRefusal::Invalid),
        }
    }
}

impl IntoResponse for KeyRefusal {
    fn into_response(self) -> Response {
        // The exact bodies Supabase answers (its gateway's messages, hints included).
        let (message, hint) = match self {
            KeyRefusal::Missing => (
                "No API key found in request",
                "No `apikey` request header or url param was found.",
            ),
            KeyRefusal::Invalid => (
                "Invalid API key",
                "Double check your Supabase `anon` or `service_role` API key.",
            ),
        };
        tracing::debug!(%message, "request refused by the key check");
        let body = serde_json::json!({ "message": message, "hint": hint }).to_string();
        (
            StatusCode::UNAUTHORIZED,
            [(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            )],
            body,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_wins_over_the_url_parameter_and_only_project_keys_pass() {
        let keys = ProjectKeys::new(vec!["anon-key".into(), "service-key".into()]);
        let mut headers = HeaderMap::new();
        let query = vec![("apikey".to_string(), "anon-key".to_string())];
        assert_eq!(keys.check(&headers, &[]), Err(KeyRefusal::Missing));
        assert_eq!(keys.check(&headers, &query), Ok("anon-key".to_string()));
        headers.insert("apikey", HeaderValue::from_static("user-token"));
        assert_eq!(keys.check(&headers, &query), Err(KeyRefusal::Invalid));
        headers.insert("apikey", HeaderValue::from_static("service-key"));
        assert_eq!(keys.check(&headers, &[]), Ok("service-key".to_string()));
    }
}
