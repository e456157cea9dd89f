//! Errors as PostgREST answers them: `{code, message, details, hint}`, its SQLSTATE-to-status
//! table, JWT errors with `WWW-Authenticate`, and functions' own `RAISE sqlstate 'PGRST'`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::jwt::JwtError;
use super::roles::ApiRole;

/// An error answered as PostgREST does: `{code, message, details, hint}` and a status.
#[derive(Debug, Clone)]
pub(super) struct ApiError {
    pub(super) status: StatusCode,
    /// Boxed: errors travel in `Result`s on the hot path, which stay small this way.
    pub(super) body: Box<ErrorBody>,
}

/// The JSON body PostgREST answers with, and the headers that go with it.
#[derive(Debug, Clone)]
pub(super) struct ErrorBody {
    /// SQLSTATE or PGRSTxxx.
    pub(super) code: String,
    /// The message.
    pub(super) message: String,
    /// Details, when any.
    pub(super) details: Option<String>,
    /// A hint, when any.
    pub(super) hint: Option<String>,
    /// `WWW-Authenticate` for JWT errors.
    pub(super) www_authenticate: Option<String>,
    /// Headers a function asked for with `RAISE sqlstate 'PGRST'`.
    pub(super) headers: Vec<(String, String)>,
    /// The reason phrase a function asked for (`status_text`), instead of the standard one.
    pub(super) reason: Option<String>,
}

impl ApiError {
    /// An error with only a code and a message.
    pub(super) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: Box::new(ErrorBody {
                code: code.to_string(),
                message: message.into(),
                details: None,
                hint: None,
                www_authenticate: None,
                headers: Vec::new(),
                reason: None,
            }),
        }
    }

    /// A refused token: PGRST303 for claim failures (expired), else PGRST301.
    pub(super) fn jwt(error: &JwtError) -> Self {
        let code = if error.is_claims_error() {
            "PGRST303"
        } else {
            "PGRST301"
        };
        let mut e = ApiError::new(StatusCode::UNAUTHORIZED, code, error.to_string());
        e.body.www_authenticate = Some(format!(
            "Bearer error=\"invalid_token\", error_description=\"{error}\""
        ));
        e
    }

    /// A database error with PostgREST's status mapping.
    pub(super) fn database(error: &tokio_postgres::Error, role: ApiRole) -> Self {
        let Some(db) = error.as_db_error() else {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "PGRST001",
                format!("Database client error: {error}"),
            );
        };
        let code = db.code().code();
        if code == "PGRST" {
            return ApiError::raised(db.message(), db.detail());
        }
        let status = status_for_sqlstate(code, role);
        ApiError {
            status,
            body: Box::new(ErrorBody {
                code: code.to_string(),
                message: db.message().to_string(),
                details: db.detail().map(str::to_string),
                hint: db.hint().map(str::to_string),
                // PostgREST's answer to an anonymous caller refused by the database.
                www_authenticate: (status == StatusCode::UNAUTHORIZED)
                    .then(|| "Bearer".to_string()),
                headers: Vec::new(),
                reason: None,
            }),
        }
    }
}

/// Why a `RAISE sqlstate 'PGRST'` could not be read (PostgREST's `RaiseError`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum RaiseParseError {
    /// MESSAGE is not `{"code": text, "message": text, "details"?: text, "hint"?: text}`.
    Message(String),
    /// No DETAIL at all.
    NoDetail,
    /// DETAIL is not `{"status": int, "status_text"?: text, "headers": {text: text}}`.
    Detail(String),
}

/// What a well-formed `RAISE sqlstate 'PGRST'` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Raised {
    status: StatusCode,
    reason: Option<String>,
    code: String,
    message: String,
    details: Option<String>,
    hint: Option<String>,
    headers: Vec<(String, String)>,
}

/// An optional text field as aeson's `.:?` reads it into `Maybe Text`: absent or null is
/// none, a string is some, anything else fails the whole parse.
fn optional_text(
    object: &serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Option<Option<String>> {
    match object.get(key) {
        None | Some(serde_json::Value::Null) => Some(None),
        Some(serde_json::Value::String(s)) => Some(Some(s.clone())),
        Some(_) => None,
    }
}

/// PostgREST's `parseRaisePGRST`: MESSAGE first, then DETAIL's presence, then DETAIL.
fn parse_raise(message: &str, detail: Option<&str>) -> Result<Raised, RaiseParseError> {
    let body = (|| {
        let value: serde_json::Value = serde_json::from_str(message).ok()?;
        let object = value.as_object()?;
        Some((
            object.get("code")?.as_str()?.to_string(),
            object.get("message")?.as_str()?.to_string(),
            optional_text(object, "details")?,
            optional_text(object, "hint")?,
        ))
    })()
    .ok_or_else(|| RaiseParseError::Message(message.to_string()))?;
    let detail = detail.ok_or(RaiseParseError::NoDetail)?;
    let asked = (|| {
        let value: serde_json::Value = serde_json::from_str(detail).ok()?;
        let object = value.as_object()?;
        let status = object.get("status")?;
        // An aeson Int: integral numbers only (429, 4.29e2), which HTTP can carry.
        let status = status.as_u64().or_else(|| {
            status
                .as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        })?;
        let status = StatusCode::from_u16(u16::try_from(status).ok()?).ok()?;
        let reason = optional_text(object, "status_text")?;
        let headers = object
            .get("headers")?
            .as_object()?
            .iter()
            .map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect::<Option<Vec<_>>>()?;
        Some((status, reason, headers))
    })()
    .ok_or_else(|| RaiseParseError::Detail(detail.to_string()))?;
    let (code, message, details, hint) = body;
    let (status, reason, headers) = asked;
    Ok(Raised {
        status,
        reason,
        code,
        message,
        details,
        hint,
        headers,
    })
}

impl ApiError {
    /// `RAISE sqlstate 'PGRST' USING message = '{"code":..,"message":..}', detail =
    /// '{"status":..,"headers":{..}}'`: the function chooses body, status (and its reason
    /// phrase, `status_text`) and headers, or gets PGRST121 saying what it wrote wrong,
    /// exactly as PostgREST parses it (`headers` is required, `details`/`hint` are text).
    pub(super) fn raised(message: &str, detail: Option<&str>) -> Self {
        match parse_raise(message, detail) {
            Ok(r) => ApiError {
                status: r.status,
                body: Box::new(ErrorBody {
                    code: r.code,
                    message: r.message,
                    details: r.details,
                    hint: r.hint,
                    www_authenticate: None,
                    headers: r.headers,
                    reason: r.reason,
                }),
            },
            Err(why) => {
                let mut e = ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "PGRST121",
                    "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
                );
                let detail_hint = "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional key: 'status_text'.";
                let (details, hint) = match why {
                    RaiseParseError::Message(m) => (
                        format!("Invalid JSON value for MESSAGE: '{m}'"),
                        "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional keys: 'details', 'hint'.",
                    ),
                    RaiseParseError::NoDetail => {
                        ("DETAIL is missing in the RAISE statement".to_string(), detail_hint)
                    }
                    RaiseParseError::Detail(d) => {
                        (format!("Invalid JSON value for DETAIL: '{d}'"), detail_hint)
                    }
                };
                e.body.details = Some(details);
                e.body.hint = Some(hint.to_string());
                e
            }
        }
    }
}

impl ApiError {
    /// The JSON body alone (`{code, message, details, hint}`), for an answer that is not
    /// an error response (PostgREST's 416 past a counted result's end).
    pub(super) fn json_body(&self) -> String {
        serde_json::json!({
            "code": self.body.code,
            "details": self.body.details,
            "hint": self.body.hint,
            "message": self.body.message,
        })
        .to_string()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ErrorBody {
            code,
            message,
            details,
            hint,
            www_authenticate,
            headers,
            reason,
        } = *self.body;
        // Client errors are the caller's business; server errors are ours to see.
        if self.status.is_server_error() {
            tracing::warn!(status = self.status.as_u16(), %code, %message, "gateway error");
        } else {
            tracing::debug!(status = self.status.as_u16(), %code, %message, "request refused");
        }
        let body = serde_json::json!({
            "code": code,
            "details": details,
            "hint": hint,
            "message": message,
        });
        let mut response = (self.status, json_response_body(body.to_string())).into_response();
        // PostgREST names the error's code in every error response it makes itself.
        if let Ok(value) = HeaderValue::from_str(&format!("PostgREST; error={code}")) {
            response.headers_mut().insert("proxy-status", value);
        }
        if let Some(reason) =
            reason.and_then(|r| hyper::ext::ReasonPhrase::try_from(r.into_bytes()).ok())
        {
            response.extensions_mut().insert(reason);
        }
        if let Some(value) = www_authenticate.and_then(|v| HeaderValue::from_str(&v).ok()) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        for (name, value) in headers {
            if let (Ok(name), Ok(value)) = (
                header::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}

/// PostgREST's table from SQLSTATE to HTTP status (docs: "Errors", "HTTP Status Codes").
/// `42501` is 401 for the anonymous role and 403 for a signed-in one; `PTxyz` is status xyz.
fn status_for_sqlstate(code: &str, role: ApiRole) -> StatusCode {
    if let Some(custom) = code.strip_prefix("PT") {
        if let Some(status) = custom
            .parse::<u16>()
            .ok()
            .and_then(|s| StatusCode::from_u16(s).ok())
        {
            return status;
        }
    }
    let status = match code {
        "23503" | "23505" => 409,
        "25006" => 405,
        "53400" => 500,
        "P0001" => 400,
        "42883" | "42P01" => 404,
        "42P17" => 500,
        "42501" if role == ApiRole::Anon => 401,
        "42501" => 403,
        _ => match &code[..code.len().min(2)] {
            "08" | "53" => 503,
            "09" | "25" | "2D" | "38" | "39" | "3B" | "40" | "54" | "55" | "57" | "58" | "F0"
            | "HV" | "P0" | "XX" => 500,
            "0L" | "0P" | "28" => 403,
            _ => 400,
        },
    };
    StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST)
}

/// A JSON body with PostgREST's content type.
pub(super) fn json_response_body(body: String) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        )],
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgrest_status_mapping_matches_its_table() {
        use ApiRole::*;
        let cases = [
            ("23505", Authenticated, 409),
            ("23503", Authenticated, 409),
            ("42501", Authenticated, 403),
            ("42501", Anon, 401),
            ("P0001", Authenticated, 400),
            ("PT402", Authenticated, 402),
            ("22P02", Authenticated, 400),
            ("23514", Authenticated, 400),
            ("42883", Authenticated, 404),
            ("25006", Authenticated, 405),
            ("40001", Authenticated, 500),
            ("53300", Authenticated, 503),
            ("53400", Authenticated, 500),
            ("P0002", Authenticated, 500),
            ("28000", Authenticated, 403),
        ];
        for (code, role, status) in cases {
            assert_eq!(status_for_sqlstate(code, role).as_u16(), status, "{code}");
        }
    }

    #[test]
    fn a_pgrst_raise_is_read_as_postgrest_reads_it() {
        let e = ApiError::raised("not json", Some(r#"{"status":429,"headers":{}}"#));
        assert_eq!(e.status, 500);
        assert_eq!(e.body.code, "PGRST121");
        // `headers` is obligatory, `details` must be text.
        for (message, detail) in [
            (r#"{"code":"X","message":"m"}"#, r#"{"status":429}"#),
            (
                r#"{"code":"X","message":"m","details":{"a":1}}"#,
                r#"{"status":429,"headers":{}}"#,
            ),
            (
                r#"{"code":"X","message":"m"}"#,
                r#"{"status":429,"headers":{"A":1}}"#,
            ),
        ] {
            assert_eq!(
                ApiError::raised(message, Some(detail)).body.code,
                "PGRST121",
                "{message} {detail}"
            );
        }
        let e = ApiError::raised(
            r#"{"code":"X","message":"m","hint":null}"#,
            Some(r#"{"status":429,"headers":{"Retry-After":"1"},"status_text":"Slow down"}"#),
        );
        assert_eq!(e.status, 429);
        assert_eq!(e.body.message, "m");
        assert_eq!(e.body.reason.as_deref(), Some("Slow down"));
        assert_eq!(
            e.body.headers,
            vec![("Retry-After".to_string(), "1".to_string())]
        );
    }
}
