//! The stale rule: an upload still `pending` or `uploading` with no report for 30 minutes
//! is given up as failed (the spec's "Stale Data" pitfall). Mirrors `mark_stale_uploads`.

use chrono::{DateTime, Duration, Utc};

use crate::record::UploadRecord;
use crate::status::UploadStatus;

/// Silence after which an active upload is stale: the spec's 30 minutes. Longer than any
/// progress interval the server may impose, shorter than the 60-minute upload timeout, so
/// a dead phone is noticed before its upload would have timed out.
///
/// ```
/// use monitor_core::stale::STALE_AFTER;
/// use monitor_core::timeout::MAX_UPLOAD_TIMEOUT;
/// assert_eq!(STALE_AFTER, chrono::Duration::minutes(30));
/// // A dead phone is noticed before its upload would have timed out.
/// assert!(STALE_AFTER < MAX_UPLOAD_TIMEOUT);
/// ```
pub const STALE_AFTER: Duration = Duration::minutes(30);

/// The `error_code` a stale upload gets.
///
/// ```
/// use monitor_core::stale::{mark_stale, STALE_AFTER, STALE_ERROR_CODE};
/// use monitor_core::UploadStatus;
/// # let row: monitor_core::UploadRecord = serde_json::from_str(r#"{"id":"0192a7b0-0000-7000-8000-0000000000aa","user_id":"00000000-0000-4000-8000-000000000001","local_id":"a","video_title":null,"filename":"a.mov","file_size":1000,"status":"uploading","stage":"uploading","progress":10,"bytes_sent":100,"upload_speed":null,"retry_count":0,"error_code":null,"error_message":null,"source":null,"duration":null,"metadata":{},"device_info":null,"video_id":null,"last_seq":3,"started_at":"2026-11-24T09:00:00Z","completed_at":null,"updated_at":"2026-11-24T09:00:00Z","client_updated_at":null,"retry_requested_at":null}"#).unwrap();
/// // Last report at 09:00; at 09:31 the sweep gives up on it.
/// let failed = mark_stale(&row, "2026-11-24T09:31:00Z".parse().unwrap(), STALE_AFTER).unwrap();
/// assert_eq!(failed.status, UploadStatus::Failed);
/// assert_eq!(failed.error_code.as_deref(), Some(STALE_ERROR_CODE));
/// ```
pub const STALE_ERROR_CODE: &str = "stale";

/// Whether `row` is stale at `now`: `pending` or `uploading`, and its last report
/// (`updated_at`, server time) strictly older than `now - silence` (the SQL's
/// `updated_at < now() - older_than`).
///
/// ```
/// # use monitor_core::UploadRecord;
/// use monitor_core::stale::{is_stale, STALE_AFTER};
/// # let row: UploadRecord = serde_json::from_str(r#"{"id":"0192a7b0-0000-7000-8000-0000000000aa","user_id":"00000000-0000-4000-8000-000000000001","local_id":"a","video_title":null,"filename":"a.mov","file_size":1000,"status":"uploading","stage":"uploading","progress":10,"bytes_sent":100,"upload_speed":null,"retry_count":0,"error_code":null,"error_message":null,"source":null,"duration":null,"metadata":{},"device_info":null,"video_id":null,"last_seq":3,"started_at":"2026-11-24T09:00:00Z","completed_at":null,"updated_at":"2026-11-24T09:00:00Z","client_updated_at":null,"retry_requested_at":null}"#).unwrap();
/// assert!(!is_stale(&row, "2026-11-24T09:30:00Z".parse().unwrap(), STALE_AFTER));
/// assert!(is_stale(&row, "2026-11-24T09:30:01Z".parse().unwrap(), STALE_AFTER));
/// ```
pub fn is_stale(row: &UploadRecord, now: DateTime<Utc>, silence: Duration) -> bool {
    row.status.is_active() && row.updated_at < now - silence
}

/// The row `mark_stale_uploads(silence)` leaves: status `failed`, `error_code` `stale`, the
/// SQL's message, `completed_at` and `updated_at` = `now`; None when the row is not stale.
///
/// ```
/// # use monitor_core::UploadRecord;
/// use monitor_core::stale::{mark_stale, STALE_AFTER};
/// # let row: UploadRecord = serde_json::from_str(r#"{"id":"0192a7b0-0000-7000-8000-0000000000aa","user_id":"00000000-0000-4000-8000-000000000001","local_id":"a","video_title":null,"filename":"a.mov","file_size":1000,"status":"pending","stage":"validating","progress":0,"bytes_sent":0,"upload_speed":null,"retry_count":0,"error_code":null,"error_message":null,"source":null,"duration":null,"metadata":{},"device_info":null,"video_id":null,"last_seq":1,"started_at":"2026-11-24T09:00:00Z","completed_at":null,"updated_at":"2026-11-24T09:00:00Z","client_updated_at":null,"retry_requested_at":null}"#).unwrap();
/// let failed = mark_stale(&row, "2026-11-24T10:00:00Z".parse().unwrap(), STALE_AFTER).unwrap();
/// assert_eq!(failed.error_message.as_deref(),
///            Some("No report from the device for 00:30:00: marked stale by the server"));
/// ```
pub fn mark_stale(
    row: &UploadRecord,
    now: DateTime<Utc>,
    silence: Duration,
) -> Option<UploadRecord> {
    if !is_stale(row, now, silence) {
        return None;
    }
    let mut next = row.clone();
    next.status = UploadStatus::Failed;
    next.error_code = Some(STALE_ERROR_CODE.to_owned());
    next.error_message = Some(format!(
        "No report from the device for {}: marked stale by the server",
        postgres_interval(silence)
    ));
    next.completed_at = Some(now);
    next.updated_at = now;
    Some(next)
}

/// An interval as PostgreSQL prints an interval given in time units (`'30 minutes'`,
/// `'26 hours'`; PostgreSQL keeps hours unnormalised to days): "00:30:00", "26:00:00",
/// with fractional seconds when present. The sweep only takes positive intervals.
fn postgres_interval(d: Duration) -> String {
    let d = d.max(Duration::zero());
    let (h, m, s) = (d.num_hours(), d.num_minutes() % 60, d.num_seconds() % 60);
    let micros = (d - Duration::seconds(d.num_seconds()))
        .num_microseconds()
        .unwrap_or(0);
    let mut time = format!("{h:02}:{m:02}:{s:02}");
    if micros > 0 {
        let fraction = format!("{micros:06}");
        time.push('.');
        time.push_str(fraction.trim_end_matches('0'));
    }
    time
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::record::UploadRecord;

    fn active_row() -> UploadRecord {
        serde_json::from_value(serde_json::json!({
            "id": "0192a7b0-0000-7000-8000-0000000000aa",
            "user_id": "00000000-0000-4000-8000-000000000001",
            "local_id": "a", "video_title": null, "filename": "a.mov", "file_size": 1000,
            "status": "uploading", "stage": "uploading", "progress": 10, "bytes_sent": 100,
            "upload_speed": 1.0, "retry_count": 1, "error_code": null, "error_message": null,
            "source": null, "duration": null, "metadata": {}, "device_info": null,
            "video_id": null, "last_seq": 3,
            // Last report at 09:00 UTC.
            "started_at": "2026-11-24T08:50:00Z", "completed_at": null,
            "updated_at": "2026-11-24T09:00:00Z", "client_updated_at": null,
            "retry_requested_at": null
        }))
        .unwrap()
    }

    #[test]
    fn only_active_uploads_go_stale() {
        let now = "2026-11-24T10:00:00Z".parse().unwrap();
        let mut row = active_row();
        for status in [UploadStatus::Completed, UploadStatus::Failed] {
            row.status = status;
            assert!(!is_stale(&row, now, STALE_AFTER));
            assert_eq!(mark_stale(&row, now, STALE_AFTER), None);
        }
        row.status = UploadStatus::Pending;
        assert!(is_stale(&row, now, STALE_AFTER));
    }

    #[test]
    fn a_stale_upload_fails_and_keeps_how_far_it_went() {
        let now = "2026-11-24T10:00:00Z".parse().unwrap();
        let failed = mark_stale(&active_row(), now, STALE_AFTER).unwrap();
        assert_eq!(failed.status, UploadStatus::Failed);
        assert_eq!(failed.error_code.as_deref(), Some(STALE_ERROR_CODE));
        assert_eq!(failed.completed_at, Some(now));
        assert_eq!(failed.updated_at, now);
        assert_eq!((failed.progress, failed.retry_count), (10, 1));
    }

    #[test]
    fn intervals_print_as_postgresql_does() {
        assert_eq!(postgres_interval(Duration::minutes(30)), "00:30:00");
        assert_eq!(postgres_interval(Duration::hours(26)), "26:00:00");
        assert_eq!(
            postgres_interval(Duration::milliseconds(1_500)),
            "00:00:01.5"
        );
    }
}
