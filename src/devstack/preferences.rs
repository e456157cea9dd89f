//! The `Prefer` header as PostgREST reads it for a function call: `count=exact` counts the
//! result, `handling=strict` turns unknown preferences into PGRST122, `max-affected=n` (with
//! `handling=strict`) bounds the rows; what PostgREST accepts and then ignores for a call
//! (`return=`, `resolution=`, `missing=`) is ignored here too, and what the dev stack does not
//! implement (`timezone=`) is refused with PGRST127.

use axum::http::{HeaderMap, StatusCode};

use super::api_error::ApiError;

/// The preferences of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Preferences {
    /// `count=exact|planned|estimated`, the first one given.
    pub(super) count: Option<Count>,
    /// `handling=strict` (true) or `handling=lenient` (false), the first one given.
    pub(super) strict: Option<bool>,
    /// `max-affected=n`, the first one given.
    pub(super) max_affected: Option<i64>,
    /// Tokens PostgREST does not accept (refused under `handling=strict`).
    pub(super) invalid: Vec<String>,
}

/// `count=` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Count {
    /// Counted with `count(*)`.
    Exact,
    /// The planner's estimate: PostgREST computes none for a function call.
    Planned,
    /// Exact unless over `db-max-rows` (unset for a call): counted too.
    Estimated,
}

impl Count {
    fn as_str(self) -> &'static str {
        match self {
            Count::Exact => "count=exact",
            Count::Planned => "count=planned",
            Count::Estimated => "count=estimated",
        }
    }
}

/// Tokens PostgREST recognises whatever the request (its `acceptedPrefs`; `tx=` is not one:
/// Supabase does not let requests choose the transaction's end).
const ACCEPTED: [&str; 12] = [
    "resolution=merge-duplicates",
    "resolution=ignore-duplicates",
    "return=representation",
    "return=minimal",
    "return=headers-only",
    "count=exact",
    "count=planned",
    "count=estimated",
    "missing=default",
    "missing=null",
    "handling=strict",
    "handling=lenient",
];

impl Preferences {
    /// Reads every `Prefer` header (comma-separated tokens).
    ///
    /// # Errors
    ///
    /// PGRST127 (400) for `timezone=`, which the dev stack does not apply.
    pub(super) fn from_headers(headers: &HeaderMap) -> Result<Preferences, ApiError> {
        let mut prefs = Preferences::default();
        let tokens = headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty());
        for token in tokens {
            if token.starts_with("timezone=") {
                let mut e = ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "PGRST127",
                    "Feature not implemented",
                );
                e.body.details = Some(format!(
                    "the '{token}' preference is not supported by the dev stack gateway"
                ));
                return Err(e);
            }
            let count = match token {
                "count=exact" => Some(Count::Exact),
                "count=planned" => Some(Count::Planned),
                "count=estimated" => Some(Count::Estimated),
                _ => None,
            };
            prefs.count = prefs.count.or(count);
            let strict = match token {
                "handling=strict" => Some(true),
                "handling=lenient" => Some(false),
                _ => None,
            };
            prefs.strict = prefs.strict.or(strict);
            if let Some(n) = token.strip_prefix("max-affected=") {
                prefs.max_affected = prefs.max_affected.or(n.parse().ok());
                continue;
            }
            if !ACCEPTED.contains(&token) {
                prefs.invalid.push(token.to_string());
            }
        }
        Ok(prefs)
    }

    /// Whether the result is counted (`Content-Range: 0-24/100`).
    pub(super) fn counts(&self) -> bool {
        matches!(self.count, Some(Count::Exact | Count::Estimated))
    }

    /// PGRST122 when `handling=strict` meets tokens PostgREST does not accept.
    ///
    /// # Errors
    ///
    /// The PGRST122 error.
    pub(super) fn check_strict(&self) -> Result<(), ApiError> {
        if self.strict != Some(true) || self.invalid.is_empty() {
            return Ok(());
        }
        let mut e = ApiError::new(
            StatusCode::BAD_REQUEST,
            "PGRST122",
            "Invalid preferences given with handling=strict",
        );
        e.body.details = Some(format!("Invalid preferences: {}", self.invalid.join(", ")));
        Err(e)
    }

    /// The strict row bound, when `handling=strict` and `max-affected=n` are both given.
    pub(super) fn strict_max_affected(&self) -> Option<i64> {
        self.max_affected.filter(|_| self.strict == Some(true))
    }

    /// `Preference-Applied` for a function call, in PostgREST's order; `None` when empty.
    pub(super) fn applied(&self) -> Option<String> {
        let mut applied: Vec<String> = Vec::new();
        if let Some(count) = self.count {
            applied.push(count.as_str().to_string());
        }
        match self.strict {
            Some(true) => applied.push("handling=strict".into()),
            Some(false) => applied.push("handling=lenient".into()),
            None => {}
        }
        if let Some(n) = self.strict_max_affected() {
            applied.push(format!("max-affected={n}"));
        }
        (!applied.is_empty()).then(|| applied.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefs(values: &[&str]) -> Result<Preferences, ApiError> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("prefer", v.parse().unwrap());
        }
        Preferences::from_headers(&headers)
    }

    #[test]
    fn tokens_are_read_as_postgrest_reads_them() {
        let p = prefs(&["count=exact, return=minimal", "tx=rollback,handling=strict"]).unwrap();
        assert!(p.counts());
        assert_eq!(p.invalid, vec!["tx=rollback".to_string()]);
        assert_eq!(p.check_strict().unwrap_err().body.code, "PGRST122");
        assert_eq!(p.applied().as_deref(), Some("count=exact, handling=strict"));
        let lenient = prefs(&["tx=rollback", "count=planned"]).unwrap();
        assert!(lenient.check_strict().is_ok());
        assert!(!lenient.counts());
        assert_eq!(prefs(&[]).unwrap().applied(), None);
        assert_eq!(prefs(&["timezone=UTC"]).unwrap_err().body.code, "PGRST127");
        let bounded = prefs(&["handling=strict, max-affected=5"]).unwrap();
        assert_eq!(bounded.strict_max_affected(), Some(5));
        assert!(bounded.check_strict().is_ok());
    }
}
