//! The one PostgREST transport (feature `client`): the RPC base URL and its check, one POST
//! with `apikey` + `Authorization: Bearer`, `Retry-After` in both of its forms, and the error
//! answer sorted into [`ClientError`]. [`MonitoringClient`](super::MonitoringClient) and the
//! SDK's flusher both send through it, so a rule about the wire is written once.
//!
//! ```
//! use monitor_core::client::transport::Transport;
//! use std::time::Duration;
//! // Nothing is sent until `post`; the URL is checked and the RPC base built once.
//! let transport = Transport::new("http://127.0.0.1:54321/", "anon-key", Duration::from_secs(10))?;
//! assert_eq!(transport.rpc_url("report_upload_events"), "http://127.0.0.1:54321/rest/v1/rpc/report_upload_events");
//! # Ok::<(), monitor_core::client::ClientError>(())
//! ```

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::{ApiErrorBody, ClientError};

/// `{url}/rest/v1/rpc` for a project URL (`SUPABASE_URL`), after checking it is an http(s)
/// URL with a host. Surrounding spaces and trailing slashes are ignored.
///
/// ```
/// use monitor_core::client::transport::rpc_base;
/// assert_eq!(rpc_base(" https://abcd.supabase.co/ ").unwrap(), "https://abcd.supabase.co/rest/v1/rpc");
/// assert!(rpc_base("127.0.0.1:54321").is_err());
/// assert!(rpc_base("http://").is_err());
/// ```
///
/// # Errors
///
/// [`ClientError::Config`] naming the URL.
pub fn rpc_base(url: &str) -> Result<String, ClientError> {
    let url = url.trim().trim_end_matches('/');
    let host = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    if host.is_none_or(str::is_empty) {
        return Err(ClientError::Config(format!("not an http(s) URL: {url:?}")));
    }
    Ok(format!("{url}/rest/v1/rpc"))
}

/// `Retry-After` as a wait from `now`: delay-seconds (`"120"`) or an HTTP-date (`"Wed, 21
/// Oct 2015 07:28:00 GMT"`, and the two obsolete forms RFC 9110 asks recipients to accept).
/// A date already past is no wait; anything unreadable is no hint.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use monitor_core::client::transport::parse_retry_after;
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_400); // 07:26:40 GMT
/// assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
/// assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::from_secs(80)));
/// assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(Duration::ZERO));
/// assert_eq!(parse_retry_after("soon", now), None);
/// ```
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A server's answer, whatever its status: what the caller needs to decode a success or sort
/// a failure.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// `Retry-After`, read when the answer arrived (both forms, see [`parse_retry_after`]).
    pub retry_after: Option<Duration>,
    /// The body.
    pub body: bytes::Bytes,
}

impl Answer {
    /// An answer from its parts (`headers` for `Retry-After`, read against the clock now).
    ///
    /// ```
    /// use monitor_core::client::transport::Answer;
    /// use reqwest::{header::HeaderMap, StatusCode};
    /// let mut headers = HeaderMap::new();
    /// headers.insert("retry-after", "3".parse().unwrap());
    /// let answer = Answer::new(StatusCode::SERVICE_UNAVAILABLE, &headers, "");
    /// assert_eq!(answer.retry_after, Some(std::time::Duration::from_secs(3)));
    /// assert!(!answer.is_success());
    /// ```
    pub fn new(status: StatusCode, headers: &HeaderMap, body: impl Into<bytes::Bytes>) -> Self {
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        Answer {
            status,
            retry_after,
            body: body.into(),
        }
    }

    /// A 2xx.
    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// PostgREST's error body, when the body is one (a proxy's HTML page is not).
    ///
    /// ```
    /// use monitor_core::client::transport::Answer;
    /// use reqwest::{header::HeaderMap, StatusCode};
    /// let refused = Answer::new(StatusCode::BAD_REQUEST, &HeaderMap::new(), r#"{"code":"22023"}"#);
    /// assert_eq!(refused.error_body().and_then(|b| b.code), Some("22023".into()));
    /// let proxy = Answer::new(StatusCode::BAD_REQUEST, &HeaderMap::new(), "<html>Bad Request</html>");
    /// assert!(proxy.error_body().is_none());
    /// ```
    pub fn error_body(&self) -> Option<ApiErrorBody> {
        serde_json::from_slice::<ApiErrorBody>(&self.body).ok()
    }

    /// The body as text (lossy), at most `max_chars` characters, for logs.
    pub fn text(&self, max_chars: usize) -> String {
        String::from_utf8_lossy(&self.body)
            .chars()
            .take(max_chars)
            .collect()
    }

    /// The failure this answer is (call it on a non-2xx): sorted by status, with the body
    /// (empty when it is not PostgREST's) and `Retry-After`.
    ///
    /// ```
    /// use monitor_core::client::{transport::Answer, ClientError};
    /// use reqwest::{header::HeaderMap, StatusCode};
    /// let answer = Answer::new(StatusCode::UNAUTHORIZED, &HeaderMap::new(), r#"{"code":"PGRST303"}"#);
    /// assert!(matches!(answer.into_error(), ClientError::Auth { body } if body.code.as_deref() == Some("PGRST303")));
    /// ```
    pub fn into_error(self) -> ClientError {
        let body = self.error_body().unwrap_or_default();
        ClientError::from_status(self.status.as_u16(), body, self.retry_after)
    }
}

/// One project's RPC endpoint and key over one connection pool. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Transport {
    http: reqwest::Client,
    rpc_base: String,
    apikey: String,
}

impl Transport {
    /// A transport to `url`'s RPCs (see [`rpc_base`]), sending `apikey` and giving every
    /// request `timeout`.
    ///
    /// # Errors
    ///
    /// [`ClientError::Config`] for a bad URL, an empty key, or an HTTP client that cannot be
    /// built.
    pub fn new(url: &str, apikey: &str, timeout: Duration) -> Result<Self, ClientError> {
        let rpc_base = rpc_base(url)?;
        if apikey.is_empty() {
            return Err(ClientError::Config("empty key or token".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| ClientError::Config(format!("HTTP client: {e}")))?;
        Ok(Transport {
            http,
            rpc_base,
            apikey: apikey.to_owned(),
        })
    }

    /// `{rpc_base}/{function}`.
    pub fn rpc_url(&self, function: &str) -> String {
        format!("{}/{function}", self.rpc_base)
    }

    /// The RPC base (`{url}/rest/v1/rpc`).
    pub fn rpc_base(&self) -> &str {
        &self.rpc_base
    }

    /// POSTs the JSON `body` to `function` with `bearer`, and returns the answer whatever its
    /// status (see [`Answer::is_success`], [`Answer::into_error`]).
    ///
    /// # Errors
    ///
    /// [`ClientError::Network`] when the request or the reading of the answer fails
    /// (connection refused, timeout, TLS...).
    pub async fn post(
        &self,
        function: &str,
        bearer: &str,
        body: impl Into<reqwest::Body>,
    ) -> Result<Answer, ClientError> {
        let response = self
            .http
            .post(self.rpc_url(function))
            .header("apikey", &self.apikey)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .bearer_auth(bearer)
            .body(body)
            .send()
            .await
            .map_err(ClientError::Network)?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(ClientError::Network)?;
        Ok(Answer::new(status, &headers, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_both_forms_of_rfc_9110() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777 - 30); // 1994-11-06 08:49:07
        let wait = Some(Duration::from_secs(30));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            wait
        );
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now),
            wait
        );
        assert_eq!(parse_retry_after("Sun Nov  6 08:49:37 1994", now), wait);
        assert_eq!(parse_retry_after("30", now), wait);
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("", now), None);
    }

    #[test]
    fn the_url_check_wants_a_scheme_and_a_host() {
        assert!(rpc_base("http://x").is_ok());
        for bad in [
            "",
            "http://",
            "https://",
            "https:/",
            "ftp://host",
            "localhost:54321",
        ] {
            assert!(
                matches!(rpc_base(bad), Err(ClientError::Config(_))),
                "{bad:?}"
            );
        }
    }
}
