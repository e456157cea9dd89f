//! CORS for the Auth and Storage routers, as Supabase's API gateway answers it: every origin
//! (the keys, not CORS, guard the API), and preflights that allow what supabase-js sends.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Adds `Access-Control-Allow-Origin: *` (and exposes the headers clients read).
pub(crate) async fn allow_any_origin(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(
            "x-supabase-api-version, x-sb-error-code, content-length, content-range, etag",
        ),
    );
    response
}

/// The answer to an `OPTIONS` preflight.
pub(crate) async fn preflight() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, HEAD, POST, PUT, DELETE, OPTIONS"),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(
                    "authorization, apikey, content-type, x-client-info, x-supabase-api-version, \
                     x-upsert, cache-control, x-metadata, content-length",
                ),
            ),
            (
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("3600"),
            ),
        ],
    )
        .into_response()
}
