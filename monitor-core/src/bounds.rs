//! What the monitoring shows of the app's rows: times outside a sane range read as absent,
//! texts cut to what a card can show.
//!
//! The app's own tables (`profiles`, `videos`, `transcription_jobs`, `bug_reports`) have no
//! constraints, so a row may hold a creation time of `infinity` or year 200,000, or a 30 MB
//! message. The monitoring SQL (migration `20261202100000_monitoring_survives_odd_rows.sql`)
//! shows such a row rather than fail the page for it, by these rules; this module states them
//! for the Rust side ([`crate::rows`] reads times through [`deserialize_sane_time`], the cards
//! and aggregations cut with [`cut`]), so the two mirrors keep agreeing:
//!
//! - a time outside [`SANE_FROM`]..[`SANE_UNTIL`] (2000-01-01 to 2100-01-01 UTC, the range
//!   `upload_queue`'s constraints allow) reads as `None`: in no window, never the newest;
//! - texts are cut to the `MAX_*_CHARS` below (counted in characters, as PostgreSQL's
//!   `left()`; never inside a character).
//!
//! The SQL also leaves out app JSON (`metadata`, `device_info`, `transcript_highlight`) longer
//! than 16 KiB, holding a number beyond a double, or nested deeper than 100 levels; serde_json
//! could not have read such a value in the first place, so the Rust side has nothing to mirror.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

/// The first instant a monitoring time may be: 2000-01-01T00:00:00Z, in seconds since the
/// epoch.
///
/// ```
/// use monitor_core::bounds::{sane_time, SANE_FROM};
/// let first = chrono::DateTime::from_timestamp(SANE_FROM, 0).unwrap();
/// assert_eq!(first.to_rfc3339(), "2000-01-01T00:00:00+00:00");
/// assert_eq!(sane_time(first), Some(first));
/// assert_eq!(sane_time(first - chrono::Duration::microseconds(1)), None);
/// ```
pub const SANE_FROM: i64 = 946_684_800;

/// The first instant past the range: 2100-01-01T00:00:00Z, in seconds since the epoch.
///
/// ```
/// use monitor_core::bounds::{sane_time, SANE_UNTIL};
/// let end = chrono::DateTime::from_timestamp(SANE_UNTIL, 0).unwrap();
/// assert_eq!(end.to_rfc3339(), "2100-01-01T00:00:00+00:00");
/// assert_eq!(sane_time(end), None);
/// assert!(sane_time(end - chrono::Duration::microseconds(1)).is_some());
/// ```
pub const SANE_UNTIL: i64 = 4_102_444_800;

/// An email address: 64 characters, `@`, 255 (RFC 5321's limits).
///
/// ```
/// assert_eq!(monitor_core::bounds::MAX_EMAIL_CHARS, 64 + 1 + 255);
/// ```
pub const MAX_EMAIL_CHARS: usize = 320;

/// A first or last name.
///
/// ```
/// use monitor_core::bounds::{cut, MAX_NAME_CHARS};
/// assert_eq!(cut(&"é".repeat(300), MAX_NAME_CHARS).chars().count(), 200);
/// ```
pub const MAX_NAME_CHARS: usize = 200;

/// A video title (`upload_queue.video_title`'s constraint).
///
/// ```
/// assert_eq!(monitor_core::bounds::MAX_TITLE_CHARS, 500);
/// ```
pub const MAX_TITLE_CHARS: usize = crate::limits::MAX_VIDEO_TITLE_CHARS;

/// A file name (`upload_queue.filename`'s constraint).
///
/// ```
/// assert_eq!(monitor_core::bounds::MAX_FILENAME_CHARS, 1_000);
/// ```
pub const MAX_FILENAME_CHARS: usize = crate::limits::MAX_FILENAME_CHARS;

/// An error message, an app's `uploadError`, a transcript (`upload_queue.error_message`'s
/// constraint: about a screen of text).
///
/// ```
/// assert_eq!(monitor_core::bounds::MAX_MESSAGE_CHARS, 4_000);
/// ```
pub const MAX_MESSAGE_CHARS: usize = crate::limits::MAX_ERROR_MESSAGE_CHARS;

/// A stack trace (`bug_reports.error_stack`): a few hundred frames.
///
/// ```
/// assert_eq!(monitor_core::bounds::MAX_STACK_CHARS, 16_000);
/// ```
pub const MAX_STACK_CHARS: usize = 16_000;

/// A code or label: `error_code`, `error_type`, severities, statuses, languages, versions
/// (`upload_queue.error_code`'s constraint).
///
/// ```
/// assert_eq!(monitor_core::bounds::MAX_CODE_CHARS, 100);
/// ```
pub const MAX_CODE_CHARS: usize = crate::limits::MAX_ERROR_CODE_CHARS;

/// Any other short text: screen, component and action names, `local_id` (its constraint),
/// AssemblyAI ids.
///
/// ```
/// assert_eq!(monitor_core::bounds::MAX_SHORT_TEXT_CHARS, 255);
/// ```
pub const MAX_SHORT_TEXT_CHARS: usize = crate::limits::MAX_LOCAL_ID_CHARS;

/// `at` when it lies in [`SANE_FROM`]..[`SANE_UNTIL`], else `None` (SQL:
/// `private.monitoring_time`).
///
/// ```
/// use monitor_core::bounds::sane_time;
/// let ok: chrono::DateTime<chrono::Utc> = "2026-11-24T10:00:00Z".parse().unwrap();
/// assert_eq!(sane_time(ok), Some(ok));
/// let far: chrono::DateTime<chrono::Utc> = "2150-01-01T00:00:00Z".parse().unwrap();
/// assert_eq!(sane_time(far), None);
/// ```
pub fn sane_time(at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    crate::limits::time_in_range(at).then_some(at)
}

/// The first `max_chars` characters of `text` (SQL: `left(text, max_chars)`).
///
/// ```
/// use monitor_core::bounds::cut;
/// assert_eq!(cut("Été 🎬 à Kyoto", 5), "Été 🎬");
/// assert_eq!(cut("short", 100), "short");
/// ```
pub fn cut(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// [`cut`] for an optional owned text.
pub(crate) fn cut_owned(text: Option<&str>, max_chars: usize) -> Option<String> {
    text.map(|t| cut(t, max_chars).to_owned())
}

/// Reads an optional time as the monitoring does: absent, null, unreadable (`"infinity"`,
/// year 200,000) or outside [`sane_time`]'s range all read as `None`. For the time columns of
/// the app's rows (`#[serde(default, deserialize_with = "...")]`).
///
/// ```
/// use monitor_core::rows::BugReport;
/// let bug: BugReport = serde_json::from_str(r#"{"id":"00000000-0000-4000-8000-0000000000b1",
///   "error_message":"x","created_at":"infinity"}"#).unwrap();
/// assert_eq!(bug.created_at, None);
/// ```
///
/// # Errors
///
/// Only when the value is neither null nor a string (a number, an object).
pub fn deserialize_sane_time<'de, D>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error>
where
    D: Deserializer<'de>,
{
    let raw: Option<std::borrow::Cow<'de, str>> = Option::deserialize(deserializer)?;
    Ok(raw
        .and_then(|text| text.parse::<DateTime<Utc>>().ok())
        .and_then(sane_time))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Row {
        #[serde(default, deserialize_with = "deserialize_sane_time")]
        at: Option<DateTime<Utc>>,
    }

    fn read(json: &str) -> Option<DateTime<Utc>> {
        serde_json::from_str::<Row>(json).unwrap().at
    }

    #[test]
    fn times_postgresql_prints_outside_the_range_read_as_none() {
        assert_eq!(read(r#"{"at":"infinity"}"#), None);
        assert_eq!(read(r#"{"at":"-infinity"}"#), None);
        assert_eq!(read(r#"{"at":"200000-01-01T00:00:00+00:00"}"#), None);
        assert_eq!(read(r#"{"at":"0044-03-15T00:00:00+00:00 BC"}"#), None);
        assert_eq!(read(r#"{"at":"1999-12-31T23:59:59.999999+00:00"}"#), None);
        assert_eq!(read(r#"{"at":"2100-01-01T00:00:00+00:00"}"#), None);
        assert_eq!(read(r#"{"at":null}"#), None);
        assert_eq!(read(r#"{}"#), None);
    }

    #[test]
    fn times_inside_the_range_read_as_written() {
        let at: DateTime<Utc> = "2099-12-31T23:59:59.999999Z".parse().unwrap();
        assert_eq!(
            read(r#"{"at":"2099-12-31T23:59:59.999999+00:00"}"#),
            Some(at)
        );
        assert_eq!(read(r#"{"at":"2099-12-31T23:59:59.999999Z"}"#), Some(at));
        assert_eq!(
            read(r#"{"at":"2100-01-01T01:59:59.999999+02:00"}"#),
            Some(at)
        );
    }

    #[test]
    fn a_time_that_is_not_a_string_is_an_error() {
        assert!(serde_json::from_str::<Row>(r#"{"at":12}"#).is_err());
    }

    #[test]
    fn cuts_count_characters_not_bytes() {
        assert_eq!(cut("ééé", 2), "éé");
        assert_eq!(cut("", 3), "");
        assert_eq!(cut("abc", 0), "");
    }
}
