//! Errors as PostgREST answers them: `{code, message, details, hint}`, its SQLSTATE-to-status
//! table, JWT errors with `WWW-Authenticate`, and functions' own `RAISE sqlstate 'PGRST'`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::gateway::ApiRole;
use super::jwt::JwtError;

/// An error answered as PostgREST does: `{code, message, details, hint}` and a status.
#[derive(Debug)]
pub(super) struct ApiError {
    pub(super) status: StatusCode,
    /// Boxed: errors travel in `Result`s on the hot path, which stay small this way.
    pub(super) body: Box<ErrorBody>,
}

/// The JSON body PostgREST answers with, and the headers that go with it.
#[derive(Debug)]
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
        ApiError {
            status: status_for_sqlstate(code, role),
            body: Box::new(ErrorBody {
                code: code.to_string(),
                message: db.message().to_string(),
                details: db.detail().map(str::to_string),
                hint: db.hint().map(str::to_string),
                www_authenticate: None,
                headers: Vec::new(),
            }),
        }
    }
}

impl ApiError {
    /// `RAISE sqlstate 'PGRST' USING message = '{"code":..,"message":..}', detail =
    /// '{"status":..,"headers":{..}}'`: the function chooses body, status and headers
    /// (PGRST121 when either JSON is unreadable), as PostgREST documents.
    pub(super) fn raised(message: &str, detail: Option<&str>) -> Self {
        let parsed = (|| {
            let body: serde_json::Value = serde_json::from_str(message).ok()?;
            let detail: serde_json::Value = serde_json::from_str(detail?).ok()?;
            let status =
                StatusCode::from_u16(u16::try_from(detail.get("status")?.as_u64()?).ok()?).ok()?;
            let text = |key: &str| body.get(key).and_then(|v| v.as_str()).map(str::to_string);
            let headers = match detail.get("headers") {
                None => Vec::new(),
                Some(h) => h
                    .as_object()?
                    .iter()
                    .map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect::<Option<Vec<_>>>()?,
            };
            Some((
                status,
                text("code"),
                text("message"),
                text("details"),
                text("hint"),
                headers,
            ))
        })();
        let Some((status, code, message, details, hint, headers)) = parsed else {
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "PGRST121",
                "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
            );
        };
        ApiError {
            status,
            body: Box::new(ErrorBody {
                code: code.unwrap_or_default(),
                message: message.unwrap_or_default(),
                details,
                hint,
                www_authenticate: None,
                headers,
            }),
        }
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
    fn an_unreadable_pgrst_raise_is_pgrst121() {
        let e = ApiError::raised("not json", Some(r#"{"status":429}"#));
        assert_eq!(e.status, 500);
        assert_eq!(e.body.code, "PGRST121");
        let e = ApiError::raised(r#"{"code":"X","message":"m"}"#, Some(r#"{"status":429}"#));
        assert_eq!(e.status, 429);
        assert_eq!(e.body.message, "m");
    }
}
