//! Reading a request body as PostgREST's HTTP server does: a client that stops sending in the
//! middle of its body is dropped after the stall timeout instead of holding a connection and
//! a task forever; a body over the size limit is refused.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyError {
    /// Nothing arrived for the stall timeout.
    Stalled,
    /// Larger than the limit.
    TooLarge,
    /// The connection failed while the body was read.
    Broken,
}

/// The whole body, waiting at most `stall` for each next piece, refusing more than `limit`
/// bytes.
///
/// # Errors
///
/// [`BodyError`] when the client stalls, sends too much, or goes away.
pub(super) async fn read(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
    stall: Duration,
) -> Result<Bytes, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut stream = body.into_data_stream();
    // Most bodies arrive in one piece: keep it as is, copy only when there are several.
    let mut first: Option<Bytes> = None;
    let mut joined: Vec<u8> = Vec::new();
    loop {
        let piece = match tokio::time::timeout(stall, stream.next()).await {
            Err(_) => return Err(BodyError::Stalled),
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(BodyError::Broken),
            Ok(Some(Ok(piece))) => piece,
        };
        let so_far = first.as_ref().map_or(joined.len(), Bytes::len);
        if so_far + piece.len() > limit {
            return Err(BodyError::TooLarge);
        }
        match first.take() {
            None if joined.is_empty() => first = Some(piece),
            None => joined.extend_from_slice(&piece),
            Some(earlier) => {
                joined.reserve(earlier.len() + piece.len());
                joined.extend_from_slice(&earlier);
                joined.extend_from_slice(&piece);
            }
        }
    }
    Ok(first.unwrap_or_else(|| Bytes::from(joined)))
}

impl IntoResponse for BodyError {
    fn into_response(self) -> Response {
        let (status, text) = match self {
            // Closing is what PostgREST's server does to a silent client; the 408 tells one
            // that is still listening why.
            BodyError::Stalled => (
                StatusCode::REQUEST_TIMEOUT,
                "The request body stalled: the connection is closed",
            ),
            BodyError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Failed to buffer the request body: length limit exceeded",
            ),
            BodyError::Broken => (
                StatusCode::BAD_REQUEST,
                "Failed to read the request body: the connection failed",
            ),
        };
        tracing::debug!(status = status.as_u16(), text, "request body not read");
        (
            status,
            [(header::CONNECTION, HeaderValue::from_static("close"))],
            text,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_pieces() -> Body {
        let pieces: Vec<Result<Bytes, std::io::Error>> =
            vec![Ok(Bytes::from_static(b"ab")), Ok(Bytes::from_static(b"cd"))];
        Body::from_stream(futures_util::stream::iter(pieces))
    }

    #[tokio::test]
    async fn pieces_are_joined_and_the_limit_counts_them_all() {
        let headers = HeaderMap::new();
        let whole = read(two_pieces(), &headers, 4, Duration::from_secs(1)).await;
        assert_eq!(whole, Ok(Bytes::from_static(b"abcd")));
        let refused = read(two_pieces(), &headers, 3, Duration::from_secs(1)).await;
        assert_eq!(refused, Err(BodyError::TooLarge));
    }

    #[tokio::test]
    async fn a_body_that_never_ends_is_a_stall() {
        let body =
            Body::from_stream(futures_util::stream::pending::<Result<Bytes, std::io::Error>>());
        let outcome = read(body, &HeaderMap::new(), 10, Duration::from_millis(50)).await;
        assert_eq!(outcome, Err(BodyError::Stalled));
    }
}
