//! Which rows of a result a request wants (`limit`/`offset`, and on GET the `Range: 0-24`
//! header), and what PostgREST answers about them: `Content-Range: 0-24/100` (`*` where
//! unknown), 206 for a partial page of a counted result, 416 past its end.

use axum::http::{HeaderMap, Method, StatusCode};

use super::api_error::ApiError;

/// An inclusive range of row positions; `upper: None` is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RowRange {
    /// First row (0-based).
    pub(super) lower: i64,
    /// Last row, when bounded.
    pub(super) upper: Option<i64>,
}

impl RowRange {
    /// Every row.
    pub(super) const ALL: RowRange = RowRange {
        lower: 0,
        upper: None,
    };

    fn is_empty(self) -> bool {
        self.upper.is_some_and(|u| u < self.lower)
    }

    fn intersect(self, other: RowRange) -> RowRange {
        RowRange {
            lower: self.lower.max(other.lower),
            upper: match (self.upper, other.upper) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        }
    }

    /// `LIMIT`'s value (`None`: all) for this range.
    pub(super) fn limit(self) -> Option<i64> {
        self.upper.map(|u| (u - self.lower + 1).max(0))
    }
}

/// The range a request asks for, computed as PostgREST's `getRanges` does: the `Range`
/// header (GET only, `^[0-9]+-[0-9]*$`, anything else ignored) intersected with
/// `limit`/`offset`, where `limit=0` always means no rows.
///
/// # Errors
///
/// PGRST103 (416) when the result is an empty range that `limit=0` did not ask for.
pub(super) fn requested(
    method: &Method,
    headers: &HeaderMap,
    limit: Option<i64>,
    offset: Option<i64>,
) -> Result<RowRange, ApiError> {
    let header = if method == Method::GET {
        headers
            .get(axum::http::header::RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_range_header)
            .unwrap_or(RowRange::ALL)
    } else {
        RowRange::ALL
    };
    let from_query = match (limit, offset) {
        (None, None) => RowRange::ALL,
        (None, Some(o)) => RowRange {
            lower: o,
            upper: None,
        },
        (Some(l), o) => {
            let o = o.unwrap_or(0);
            RowRange {
                lower: o,
                upper: Some(o.saturating_add(l).saturating_sub(1)),
            }
        }
    };
    // PostgREST's "limit zero range" is [0, -1]: no rows, never an error.
    if from_query.upper == Some(-1) {
        return Ok(RowRange {
            lower: 0,
            upper: Some(-1),
        });
    }
    let top = header.intersect(from_query);
    if top.is_empty() {
        let mut e = ApiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "PGRST103",
            "Requested range not satisfiable",
        );
        e.body.details = Some(if header.is_empty() {
            "The lower boundary must be lower than or equal to the upper boundary in the Range header.".into()
        } else {
            "Limit should be greater than or equal to zero.".into()
        });
        return Err(e);
    }
    Ok(top)
}

/// `0-24` or `10-`: PostgREST reads the `Range` header's value with this pattern only.
fn parse_range_header(value: &str) -> Option<RowRange> {
    let (lower, upper) = value.split_once('-')?;
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if lower.is_empty() || !digits(lower) || !digits(upper) {
        return None;
    }
    let lower: i64 = lower.parse().ok()?;
    let upper = if upper.is_empty() {
        None
    } else {
        Some(upper.parse().ok()?)
    };
    // "5-2" parses: the empty range it makes is the error PostgREST answers.
    Some(RowRange { lower, upper })
}

/// What a result's size means for the response: `Content-Range` and the status (200, 206
/// for part of a counted result, 416 past its end), as PostgREST's `rangeStatusHeader`.
pub(super) fn content_range(
    range: RowRange,
    page_total: i64,
    total: Option<i64>,
) -> (StatusCode, String) {
    let lower = range.lower;
    let upper = lower + page_total - 1;
    let shown = if total != Some(0) && lower <= upper {
        format!("{lower}-{upper}")
    } else {
        "*".to_string()
    };
    let header = format!(
        "{shown}/{}",
        total.map_or_else(|| "*".to_string(), |t| t.to_string())
    );
    let status = match total {
        None => StatusCode::OK,
        Some(t) if lower > t => StatusCode::RANGE_NOT_SATISFIABLE,
        Some(t) if 1 + upper - lower < t => StatusCode::PARTIAL_CONTENT,
        Some(_) => StatusCode::OK,
    };
    (status, header)
}

/// PGRST103's body when an offset lies past a counted result's end.
pub(super) fn out_of_bounds(range: RowRange, total: i64) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "PGRST103",
        "Requested range not satisfiable",
    );
    e.body.details = Some(format!(
        "An offset of {} was requested, but there are only {total} rows.",
        range.lower
    ));
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(
        range: Option<&str>,
        limit: Option<i64>,
        offset: Option<i64>,
    ) -> Result<RowRange, String> {
        let mut headers = HeaderMap::new();
        if let Some(r) = range {
            headers.insert("range", r.parse().unwrap());
        }
        requested(&Method::GET, &headers, limit, offset)
            .map_err(|e| e.body.details.unwrap_or_default())
    }

    #[test]
    fn limits_offsets_and_the_range_header_meet_as_in_postgrest() {
        assert_eq!(get(None, None, None), Ok(RowRange::ALL));
        assert_eq!(
            get(None, Some(2), Some(1)),
            Ok(RowRange {
                lower: 1,
                upper: Some(2)
            })
        );
        assert_eq!(
            get(Some("1-1"), None, None),
            Ok(RowRange {
                lower: 1,
                upper: Some(1)
            })
        );
        assert_eq!(
            get(Some("0-9"), Some(3), Some(2)),
            Ok(RowRange {
                lower: 2,
                upper: Some(4)
            })
        );
        assert_eq!(get(Some("items=0-9"), None, None), Ok(RowRange::ALL));
        assert_eq!(
            get(None, Some(0), None),
            Ok(RowRange {
                lower: 0,
                upper: Some(-1)
            })
        );
        // A negative offset meets the header's [0, ∞) and starts at 0.
        assert_eq!(get(None, None, Some(-5)), Ok(RowRange::ALL));
        assert!(get(Some("5-2"), None, None)
            .unwrap_err()
            .contains("lower boundary"));
        assert!(get(None, Some(-1), None)
            .unwrap_err()
            .contains("Limit should be"));
        // The Range header counts only on GET.
        let mut headers = HeaderMap::new();
        headers.insert("range", "1-1".parse().unwrap());
        assert_eq!(
            requested(&Method::POST, &headers, None, None).ok(),
            Some(RowRange::ALL)
        );
    }

    #[test]
    fn content_range_and_status_follow_postgrest() {
        let all = RowRange::ALL;
        assert_eq!(
            content_range(all, 3, None),
            (StatusCode::OK, "0-2/*".into())
        );
        assert_eq!(content_range(all, 0, None), (StatusCode::OK, "*/*".into()));
        assert_eq!(
            content_range(all, 0, Some(0)),
            (StatusCode::OK, "*/0".into())
        );
        let page = RowRange {
            lower: 1,
            upper: Some(1),
        };
        assert_eq!(
            content_range(page, 1, Some(2)),
            (StatusCode::PARTIAL_CONTENT, "1-1/2".into())
        );
        let past = RowRange {
            lower: 10,
            upper: None,
        };
        assert_eq!(
            content_range(past, 0, Some(5)),
            (StatusCode::RANGE_NOT_SATISFIABLE, "*/5".into())
        );
    }
}
