//! Content negotiation as PostgREST does it for a function call: the `Accept` header picks
//! the response's media type (JSON, a single JSON object, CSV, JSON without nulls), and
//! `Accept-Profile` (GET, HEAD) or `Content-Profile` (POST) picks the schema among the
//! exposed ones.

use axum::http::{HeaderMap, Method, StatusCode};

use super::api_error::ApiError;

/// The schemas the API exposes, the first being the default: Supabase's `db-schemas`.
pub(super) const EXPOSED_SCHEMAS: [&str; 2] = ["public", "graphql_public"];

/// The response formats the gateway produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Media {
    /// `application/json` (also for `*/*` and `application/vnd.pgrst.array+json`).
    Json,
    /// `application/vnd.pgrst.array+json;nulls=stripped`: JSON without null-valued keys.
    JsonStripped,
    /// `application/vnd.pgrst.object+json[;nulls=stripped]`: exactly one row, as an object.
    Object {
        /// `nulls=stripped`.
        stripped: bool,
    },
    /// `text/csv`.
    Csv,
}

impl Media {
    /// The response's `Content-Type`, as PostgREST writes it.
    pub(super) fn content_type(self) -> &'static str {
        match self {
            Media::Json => "application/json; charset=utf-8",
            Media::JsonStripped => "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8",
            Media::Object { stripped: false } => "application/vnd.pgrst.object+json; charset=utf-8",
            Media::Object { stripped: true } => {
                "application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8"
            }
            Media::Csv => "text/csv; charset=utf-8",
        }
    }

    /// True for the plain JSON answer (no shaping of the result needed).
    pub(super) fn is_plain_json(self) -> bool {
        self == Media::Json
    }
}

/// The media type the `Accept` header asks for: the first, by quality then specificity (as
/// wai's `parseHttpAccept` orders them), that the gateway produces.
///
/// # Errors
///
/// PGRST107 (406) naming the types asked for when none is produced (PostgREST also has
/// GeoJSON, for PostGIS, and `vnd.pgrst.plan`, off on Supabase: neither is produced here).
pub(super) fn media(headers: &HeaderMap) -> Result<Media, ApiError> {
    let Some(accept) = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(Media::Json);
    };
    let mut asked: Vec<(String, f64, i64)> = accept
        .split(',')
        .map(|part| {
            let compact: String = part.chars().filter(|c| *c != ' ').collect();
            let (media, q) = match compact.find(";q=") {
                Some(i) => {
                    let q = compact[i + 3..].split(';').next().unwrap_or("");
                    (compact[..i].to_string(), q.parse().unwrap_or(1.0))
                }
                None => (compact, 1.0),
            };
            let specificity = media.matches(';').count() as i64 - media.matches('*').count() as i64;
            (media, q, specificity)
        })
        .collect();
    // Stable: equal entries keep the client's order.
    asked.sort_by(|a, b| {
        b.1.partial_cmp(&a.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(b.2.cmp(&a.2))
    });
    if let Some(found) = asked.iter().find_map(|(media, _, _)| decode(media)) {
        return Ok(found);
    }
    let names: Vec<String> = asked.iter().map(|(media, _, _)| mime(media)).collect();
    Err(ApiError::new(
        StatusCode::NOT_ACCEPTABLE,
        "PGRST107",
        format!(
            "None of these media types are available: {}",
            names.join(", ")
        ),
    ))
}

/// `type/subtype` and its parameters, lower-cased where PostgREST lower-cases them.
fn split(media: &str) -> (String, Vec<(String, String)>) {
    let mut parts = media.split(';');
    let kind = parts.next().unwrap_or("").to_ascii_lowercase();
    let params = parts
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_string(),
            )
        })
        .collect();
    (kind, params)
}

fn decode(media: &str) -> Option<Media> {
    let (kind, params) = split(media);
    let stripped = params.iter().any(|(k, v)| k == "nulls" && v == "stripped");
    match kind.as_str() {
        "application/json" | "*/*" => Some(Media::Json),
        "text/csv" => Some(Media::Csv),
        "application/vnd.pgrst.object+json" | "application/vnd.pgrst.object" => {
            Some(Media::Object { stripped })
        }
        "application/vnd.pgrst.array+json" | "application/vnd.pgrst.array" if stripped => {
            Some(Media::JsonStripped)
        }
        "application/vnd.pgrst.array+json" | "application/vnd.pgrst.array" => Some(Media::Json),
        _ => None,
    }
}

/// How PostgREST names an asked-for type in PGRST107: its canonical spelling for the types
/// it knows, the text as sent for the others.
fn mime(media: &str) -> String {
    let (kind, _) = split(media);
    match kind.as_str() {
        "application/geo+json" => "application/geo+json".into(),
        "text/plain" => "text/plain".into(),
        "text/xml" => "text/xml".into(),
        "application/openapi+json" => "application/openapi+json".into(),
        "application/x-www-form-urlencoded" => "application/x-www-form-urlencoded".into(),
        "application/octet-stream" => "application/octet-stream".into(),
        _ => media.to_string(),
    }
}

/// The schema a call runs in: the profile header's (`Content-Profile` on POST,
/// `Accept-Profile` otherwise, as PostgREST reads them), else the first exposed schema.
///
/// # Errors
///
/// PGRST106 (406) for a schema that is not exposed, with PostgREST's message and hint.
pub(super) fn schema(method: &Method, headers: &HeaderMap) -> Result<&'static str, ApiError> {
    let header = if method == Method::POST {
        "content-profile"
    } else {
        "accept-profile"
    };
    let Some(asked) = headers.get(header) else {
        return Ok(EXPOSED_SCHEMAS[0]);
    };
    let asked = String::from_utf8_lossy(asked.as_bytes());
    match EXPOSED_SCHEMAS.iter().find(|s| **s == asked) {
        Some(schema) => Ok(schema),
        None => {
            let mut e = ApiError::new(
                StatusCode::NOT_ACCEPTABLE,
                "PGRST106",
                format!("Invalid schema: {asked}"),
            );
            e.body.hint = Some(format!(
                "Only the following schemas are exposed: {}",
                EXPOSED_SCHEMAS.join(", ")
            ));
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Result<Media, String> {
        let mut headers = HeaderMap::new();
        headers.insert("accept", value.parse().unwrap());
        media(&headers).map_err(|e| e.body.message)
    }

    #[test]
    fn accept_picks_the_first_produced_type_by_quality() {
        assert_eq!(accept("application/json"), Ok(Media::Json));
        assert_eq!(
            accept("text/html,application/xhtml+xml,*/*;q=0.8"),
            Ok(Media::Json)
        );
        assert_eq!(accept("application/json;q=0.5, text/csv"), Ok(Media::Csv));
        assert_eq!(
            accept("application/vnd.pgrst.object+json;nulls=stripped"),
            Ok(Media::Object { stripped: true })
        );
        assert_eq!(
            accept("application/vnd.pgrst.array+json;nulls=stripped"),
            Ok(Media::JsonStripped)
        );
        assert_eq!(
            accept("text/html, application/geo+json"),
            Err("None of these media types are available: text/html, application/geo+json".into())
        );
        assert_eq!(media(&HeaderMap::new()).ok(), Some(Media::Json));
    }

    #[test]
    fn profiles_choose_among_exposed_schemas_only() {
        let mut headers = HeaderMap::new();
        assert_eq!(schema(&Method::POST, &headers).ok(), Some("public"));
        headers.insert("content-profile", "private".parse().unwrap());
        let e = schema(&Method::POST, &headers).unwrap_err();
        assert_eq!((e.status.as_u16(), e.body.code.as_str()), (406, "PGRST106"));
        assert_eq!(e.body.message, "Invalid schema: private");
        // GET reads Accept-Profile, not Content-Profile.
        assert_eq!(schema(&Method::GET, &headers).ok(), Some("public"));
        headers.insert("accept-profile", "graphql_public".parse().unwrap());
        assert_eq!(schema(&Method::GET, &headers).ok(), Some("graphql_public"));
    }
}
