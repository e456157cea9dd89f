//! How big and how odd an event's fields may be: the one list of size limits of the event
//! contract, the NUL rule, and the sane range of times and speeds.
//!
//! Rust and SQL apply the same numbers (migration `20261202090000_ingest_only_writer.sql`
//! declares each again beside the check that uses it, and `upload_queue`'s CHECK constraints
//! are the second wall). Two kinds of rule, chosen per field:
//!
//! - **Refused** (`invalid_payload`, and a typed error at the SDK's call): identifiers and
//!   structured data, where a cut copy would be a different value. [`MAX_LOCAL_ID_CHARS`]
//!   (the app's queue id, unique per user), [`MAX_METADATA_BYTES`] (JSON cannot be cut),
//!   an `at` outside [`EARLIEST_EVENT_AT`]..[`LATEST_EVENT_AT`], and an `upload_speed` above
//!   [`MAX_UPLOAD_SPEED_MBPS`] (`out_of_range`, like a negative one).
//! - **Cut** to their first N characters (characters, not bytes, as PostgreSQL's `left()`):
//!   text shown to people, where a long value is a bug of the app that must not cost the
//!   report. [`MAX_VIDEO_TITLE_CHARS`], [`MAX_FILENAME_CHARS`], [`MAX_ERROR_CODE_CHARS`],
//!   [`MAX_ERROR_MESSAGE_CHARS`] and [`MAX_DEVICE_FIELD_CHARS`].
//!
//! **NUL** (U+0000) cannot be stored by PostgreSQL (`text` refuses it and `jsonb` refuses the
//! `\u0000` escape: one NUL would make a whole batch fail before any event is read).
//! [`crate::EventPayload::normalize`] removes it from every string an event carries,
//! metadata keys and values included, except `local_id`, which is refused instead (an id
//! that changed would no longer match the app's queue). Other control characters are
//! stored as given: PostgreSQL keeps them and the page renders text, never markup.
//!
//! ```
//! use monitor_core::limits::{jsonb_text_len, MAX_METADATA_BYTES};
//! // Measured as PostgreSQL prints jsonb: ", " and ": " separators, numbers in plain notation.
//! let metadata = serde_json::json!({"duration": 1e2, "isImported": true});
//! assert_eq!(jsonb_text_len(&metadata), r#"{"duration": 100.0, "isImported": true}"#.len());
//! assert!(jsonb_text_len(&metadata) <= MAX_METADATA_BYTES);
//! ```

use chrono::{DateTime, Utc};

/// Longest `local_id` accepted, in characters; longer ones are refused. The app's ids are
/// ~20 characters (`import_1732000000_0`); 255 is the usual identifier bound, and keeps the
/// `(user_id, local_id)` index entry far below PostgreSQL's 2.7 kB btree row limit even at
/// 4 bytes a character.
pub const MAX_LOCAL_ID_CHARS: usize = 255;

/// Longest `video_title` kept, in characters; longer ones are cut. A card shows ~40.
pub const MAX_VIDEO_TITLE_CHARS: usize = 500;

/// Longest `filename` kept, in characters; longer ones are cut. Phone file systems allow
/// 255 bytes a name; 1,000 characters also holds a path an app might send instead.
pub const MAX_FILENAME_CHARS: usize = 1_000;

/// Longest `error_code` kept, in characters; longer ones are cut. Codes are short words
/// (`network`, `timeout`); "top errors" groups by the cut value, so grouping still works.
pub const MAX_ERROR_CODE_CHARS: usize = 100;

/// The longest `error_message` kept, in characters; longer ones are cut, never rejected, so
/// a 10 MB stack trace cannot make a failure report undeliverable.
///
/// ```
/// use chrono::{DateTime, Utc};
/// use monitor_core::limits::MAX_ERROR_MESSAGE_CHARS;
/// use monitor_core::state_machine::{apply, Step};
/// use monitor_core::{EventPayload, UploadEvent};
/// use uuid::Uuid;
/// let (user, now): (Uuid, DateTime<Utc>) = (Uuid::from_u128(1), "2026-11-24T09:00:00Z".parse().unwrap());
/// let event = |seq: i64, payload: EventPayload| UploadEvent {
///     id: Uuid::from_u128(100 + seq as u128), upload_id: Uuid::from_u128(10), seq, at: now, payload,
/// };
/// let begin = event(1, EventPayload::Begin {
///     local_id: "import_1_0".into(), video_title: None, filename: "a.mov".into(),
///     file_size: None, source: None, metadata: None, device: None, user_id: None,
/// });
/// let Ok(Step::Applied { record, .. }) = apply(None, &begin, user, now) else { panic!() };
/// // A 10,000-character message is cut to 4,000 characters (not bytes), not refused.
/// let fail = event(2, EventPayload::Fail {
///     error_code: "crash".into(), error_message: "é".repeat(10_000), retry_count: None,
/// });
/// let Ok(Step::Applied { record, .. }) = apply(Some(&record), &fail, user, now) else { panic!() };
/// assert_eq!(record.error_message.unwrap().chars().count(), MAX_ERROR_MESSAGE_CHARS);
/// ```
pub const MAX_ERROR_MESSAGE_CHARS: usize = 4_000;

/// Longest value of each `device` field (`platform`, `os_version`, `app_version`, `model`),
/// in characters; longer ones are cut. Real values are under 40.
pub const MAX_DEVICE_FIELD_CHARS: usize = 100;

/// Largest `metadata` accepted, in bytes of its text as PostgreSQL prints `jsonb`
/// ([`jsonb_text_len`]); larger ones are refused. The app's item metadata (duration, size,
/// orientation, flags, a URI) is ~300 bytes; 16 KiB is 50 times that, and 500 events at
/// every limit still fit the gateway's body limit.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;

/// Fastest `upload_speed` accepted, in MB/s (100 GB/s): above it a report is
/// `out_of_range`, as a negative one is. No phone link comes near; the bound keeps absurd
/// figures off the admin's averages.
pub const MAX_UPLOAD_SPEED_MBPS: f64 = 100_000.0;

/// Earliest device time (`at`) accepted: 2000-01-01T00:00:00Z. A clock before it is unset
/// or broken, and the server's CHECKs keep every stored time in the same range.
pub const EARLIEST_EVENT_AT: &str = "2000-01-01T00:00:00Z";

/// First device time (`at`) refused: 2100-01-01T00:00:00Z (the range is half-open).
pub const LATEST_EVENT_AT: &str = "2100-01-01T00:00:00Z";

/// Why a field cannot be stored whole: what [`check_local_id`] and [`check_metadata`]
/// answer, for an SDK to name the field at the call (the server answers
/// `invalid_payload` for each).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// A required text is empty.
    #[error("{field} must not be empty")]
    Empty {
        /// The field's wire name.
        field: &'static str,
    },
    /// An identifier holds NUL, which PostgreSQL cannot store (and cutting it out would
    /// change the id).
    #[error("{field} must not contain NUL characters")]
    ContainsNul {
        /// The field's wire name.
        field: &'static str,
    },
    /// An identifier is longer than its limit.
    #[error("{field} is {actual} characters long; at most {max} are accepted")]
    TooLong {
        /// The field's wire name.
        field: &'static str,
        /// Its length in characters.
        actual: usize,
        /// The limit.
        max: usize,
    },
    /// `metadata` is larger than [`MAX_METADATA_BYTES`].
    #[error("metadata is {actual} bytes as JSON; at most {max} are accepted")]
    MetadataTooLarge {
        /// Its size as PostgreSQL prints it ([`jsonb_text_len`]).
        actual: usize,
        /// The limit.
        max: usize,
    },
}

/// Checks a `begin`'s `local_id`: not empty, no NUL, at most [`MAX_LOCAL_ID_CHARS`].
///
/// ```
/// use monitor_core::limits::{check_local_id, LimitError};
/// assert_eq!(check_local_id("import_1732000000_0"), Ok(()));
/// assert_eq!(check_local_id("a\0b"), Err(LimitError::ContainsNul { field: "local_id" }));
/// assert!(matches!(check_local_id(&"x".repeat(256)), Err(LimitError::TooLong { actual: 256, .. })));
/// ```
///
/// # Errors
///
/// The first rule the id breaks.
pub fn check_local_id(local_id: &str) -> Result<(), LimitError> {
    let field = "local_id";
    if local_id.is_empty() {
        return Err(LimitError::Empty { field });
    }
    if local_id.contains('\0') {
        return Err(LimitError::ContainsNul { field });
    }
    if local_id.chars().nth(MAX_LOCAL_ID_CHARS).is_some() {
        return Err(LimitError::TooLong {
            field,
            actual: local_id.chars().count(),
            max: MAX_LOCAL_ID_CHARS,
        });
    }
    Ok(())
}

/// Checks a `begin`'s `metadata` size: at most [`MAX_METADATA_BYTES`] as PostgreSQL prints
/// it (call it after [`strip_nul_json`], which can only make it smaller).
///
/// # Errors
///
/// [`LimitError::MetadataTooLarge`].
pub fn check_metadata(metadata: &serde_json::Value) -> Result<(), LimitError> {
    let actual = jsonb_text_len(metadata);
    if actual > MAX_METADATA_BYTES {
        return Err(LimitError::MetadataTooLarge {
            actual,
            max: MAX_METADATA_BYTES,
        });
    }
    Ok(())
}

/// Whether a device time lies in [`EARLIEST_EVENT_AT`, `LATEST_EVENT_AT`).
///
/// ```
/// use monitor_core::limits::time_in_range;
/// assert!(time_in_range("2026-12-02T10:00:00Z".parse().unwrap()));
/// assert!(!time_in_range("1970-01-01T00:00:00Z".parse().unwrap()));
/// assert!(!time_in_range("2100-01-01T00:00:00Z".parse().unwrap()));
/// ```
pub fn time_in_range(at: DateTime<Utc>) -> bool {
    // The same range the monitoring reads app rows in (crate::bounds).
    (crate::bounds::SANE_FROM..crate::bounds::SANE_UNTIL).contains(&at.timestamp())
}

/// Whether an `upload_speed` is one the server stores: finite, 0 to
/// [`MAX_UPLOAD_SPEED_MBPS`].
///
/// ```
/// use monitor_core::limits::speed_in_range;
/// assert!(speed_in_range(2.5));
/// assert!(!speed_in_range(f64::NAN) && !speed_in_range(-1.0) && !speed_in_range(1e6));
/// ```
pub fn speed_in_range(mb_per_s: f64) -> bool {
    (0.0..=MAX_UPLOAD_SPEED_MBPS).contains(&mb_per_s)
}

/// The first `max` characters of `text` (PostgreSQL's `left(text, max)`).
///
/// ```
/// use monitor_core::limits::cut_chars;
/// assert_eq!(cut_chars("héllo", 2), "hé");
/// assert_eq!(cut_chars("abc", 10), "abc");
/// ```
pub fn cut_chars(text: &str, max: usize) -> String {
    crate::bounds::cut(text, max).to_owned()
}

/// Cuts `text` in place to its first `max` characters.
pub(crate) fn cut_in_place(text: &mut String, max: usize) {
    let end = crate::bounds::cut(text, max).len();
    text.truncate(end);
}

/// Removes every NUL from `text`, in place (see the module docs for why).
///
/// ```
/// use monitor_core::limits::strip_nul;
/// let mut text = String::from("a\0b");
/// strip_nul(&mut text);
/// assert_eq!(text, "ab");
/// ```
pub fn strip_nul(text: &mut String) {
    if text.contains('\0') {
        text.retain(|c| c != '\0');
    }
}

/// Removes every NUL from the keys and strings of a JSON value, at any depth. Two keys that
/// become equal keep the value of the later one, as PostgreSQL keeps the last duplicate key.
///
/// ```
/// use monitor_core::limits::strip_nul_json;
/// let mut metadata = serde_json::json!({"ti\u{0}tle": ["a\u{0}"]});
/// strip_nul_json(&mut metadata);
/// assert_eq!(metadata, serde_json::json!({"title": ["a"]}));
/// ```
pub fn strip_nul_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(text) => strip_nul(text),
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_nul_json),
        serde_json::Value::Object(map) => {
            if map.keys().any(|k| k.contains('\0')) {
                let entries = std::mem::take(map);
                for (mut key, item) in entries {
                    strip_nul(&mut key);
                    map.insert(key, item);
                }
            }
            map.values_mut().for_each(strip_nul_json);
        }
        serde_json::Value::Null | serde_json::Value::Bool(_) | serde_json::Value::Number(_) => {}
    }
}

/// The length in bytes of `value` as PostgreSQL prints it as `jsonb` (`metadata::text`):
/// `", "` and `": "` separators, strings escaped as serde_json escapes them (the same set:
/// `"`, `\`, `\b\f\n\r\t`, other controls as `\u00XX`), numbers in plain notation keeping
/// their decimals (`1e2` from serde_json's `100.0` prints `100.0`, `1.5e-7` prints
/// `0.00000015`). The SQL side measures `octet_length(metadata::text)`, so the two agree on
/// every value serde_json can hold.
pub fn jsonb_text_len(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Null => 4,
        serde_json::Value::Bool(true) => 4,
        serde_json::Value::Bool(false) => 5,
        serde_json::Value::Number(n) => pg_numeric_text_len(&n.to_string()),
        serde_json::Value::String(s) => escaped_len(s),
        serde_json::Value::Array(items) => {
            2 + items.iter().map(jsonb_text_len).sum::<usize>() + 2 * items.len().saturating_sub(1)
        }
        serde_json::Value::Object(map) => {
            2 + map
                .iter()
                .map(|(k, v)| escaped_len(k) + 2 + jsonb_text_len(v))
                .sum::<usize>()
                + 2 * map.len().saturating_sub(1)
        }
    }
}

/// Bytes of a JSON string literal, quotes included, escaped as PostgreSQL and serde_json
/// both escape.
fn escaped_len(text: &str) -> usize {
    2 + text
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | 0x08 | 0x0c | b'\n' | b'\r' | b'\t' => 2,
            0x00..=0x1f => 6,
            _ => 1,
        })
        .sum::<usize>()
}

/// Length of PostgreSQL's `numeric` output for a JSON number literal: plain notation with as
/// many decimals as the literal carried (`max(0, fraction digits - exponent)`), no negative
/// zero.
fn pg_numeric_text_len(literal: &str) -> usize {
    let (negative, unsigned) = match literal.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, literal),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (
            &unsigned[..at],
            unsigned[at + 1..].parse::<i64>().unwrap_or(0),
        ),
        None => (unsigned, 0),
    };
    let (int_digits, frac_digits) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: Vec<u8> = int_digits.bytes().chain(frac_digits.bytes()).collect();
    let scale = (frac_digits.len() as i64 - exponent).max(0);
    // Position of the decimal point within `digits` after applying the exponent.
    let point = int_digits.len() as i64 + exponent;
    let integer_part: Vec<u8> = if point <= 0 {
        Vec::new()
    } else {
        let whole = point as usize;
        let mut part: Vec<u8> = digits.iter().copied().take(whole).collect();
        part.resize(whole, b'0');
        part
    };
    let significant = integer_part
        .iter()
        .skip_while(|&&d| d == b'0')
        .count()
        .max(1);
    let is_zero = digits.iter().all(|&d| d == b'0');
    let sign = usize::from(negative && !is_zero);
    let fraction = if scale > 0 { 1 + scale as usize } else { 0 };
    sign + significant + fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_measured_as_postgresql_prints_them() {
        for (literal, printed) in [
            ("0", "0"),
            ("-0.0", "0.0"),
            ("100.0", "100.0"),
            ("1e20", "100000000000000000000"),
            ("1.5e-7", "0.00000015"),
            ("-2.5e3", "-2500"),
            ("12.25", "12.25"),
            ("0.001", "0.001"),
            (
                "1.7976931348623157e308",
                &format!("17976931348623157{}", "0".repeat(292)),
            ),
        ] {
            assert_eq!(pg_numeric_text_len(literal), printed.len(), "{literal}");
        }
    }

    #[test]
    fn strings_are_measured_with_json_escapes() {
        let value = serde_json::json!({"a\"b": "x\n\u{1}é", "k": [1, null, false]});
        // {"a\"b": "x\n\u0001é", "k": [1, null, false]}
        let printed = "{\"a\\\"b\": \"x\\n\\u0001é\", \"k\": [1, null, false]}";
        assert_eq!(jsonb_text_len(&value), printed.len());
    }

    #[test]
    fn stripping_nul_keeps_every_other_character() {
        let mut text = String::from("\0a\tb\u{7f}\0");
        strip_nul(&mut text);
        assert_eq!(text, "a\tb\u{7f}");
    }
}
