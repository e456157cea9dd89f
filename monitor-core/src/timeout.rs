//! The dynamic upload timeout of `VideoUploader`: the file's size at 0.5 MB/s, clamped to
//! 10–60 minutes.

use chrono::{DateTime, Duration, Utc};

use crate::display::BYTES_PER_MB;
use crate::record::UploadRecord;
use crate::status::UploadStatus;

/// The slowest upload still considered alive: 0.5 MB/s (the app's "0.5 MB/s minimum").
///
/// ```
/// use chrono::Duration;
/// use monitor_core::timeout::{upload_timeout, MIN_UPLOAD_MB_PER_S};
/// // 900 MB at 0.5 MB/s: 1,800 s.
/// let seconds = (900.0 / MIN_UPLOAD_MB_PER_S) as i64;
/// assert_eq!(upload_timeout(Some(900 * 1_048_576)), Duration::seconds(seconds));
/// ```
pub const MIN_UPLOAD_MB_PER_S: f64 = 0.5;

/// The shortest timeout: even a tiny file gets 10 minutes (radio wake-up, retries inside
/// the OS upload task).
///
/// ```
/// use monitor_core::timeout::{upload_timeout, MIN_UPLOAD_TIMEOUT};
/// // 1 MB would need 2 s at 0.5 MB/s; it still gets 10 minutes.
/// assert_eq!(upload_timeout(Some(1_048_576)), MIN_UPLOAD_TIMEOUT);
/// ```
pub const MIN_UPLOAD_TIMEOUT: Duration = Duration::minutes(10);

/// The longest timeout: one hour, whatever the size (the app's upper bound).
///
/// ```
/// use monitor_core::timeout::{upload_timeout, MAX_UPLOAD_TIMEOUT};
/// // 4 GB would need 2 h 16 min at 0.5 MB/s; an unknown size gets the maximum too.
/// assert_eq!(upload_timeout(Some(4 * 1_024 * 1_048_576)), MAX_UPLOAD_TIMEOUT);
/// assert_eq!(upload_timeout(None), MAX_UPLOAD_TIMEOUT);
/// ```
pub const MAX_UPLOAD_TIMEOUT: Duration = Duration::minutes(60);

/// How long an upload of `file_size` bytes may take: `file_size / 0.5 MB/s`, rounded up to
/// the second, clamped to [`MIN_UPLOAD_TIMEOUT`]–[`MAX_UPLOAD_TIMEOUT`]. An unknown (or
/// negative) size gets the maximum: a timeout must not kill a big upload it knows nothing
/// about.
///
/// ```
/// use chrono::Duration;
/// use monitor_core::timeout::upload_timeout;
/// // 600 MB at 0.5 MB/s = 20 minutes.
/// assert_eq!(upload_timeout(Some(600 * 1_048_576)), Duration::minutes(20));
/// assert_eq!(upload_timeout(Some(1_000)), Duration::minutes(10));
/// assert_eq!(upload_timeout(Some(10_000 * 1_048_576)), Duration::minutes(60));
/// assert_eq!(upload_timeout(None), Duration::minutes(60));
/// ```
pub fn upload_timeout(file_size: Option<i64>) -> Duration {
    let Some(size) = file_size.filter(|s| *s >= 0) else {
        return MAX_UPLOAD_TIMEOUT;
    };
    let seconds = (size as f64 / BYTES_PER_MB / MIN_UPLOAD_MB_PER_S).ceil();
    let max = MAX_UPLOAD_TIMEOUT.num_seconds() as f64;
    // Clamped below i64's range before the cast.
    let seconds = Duration::seconds(seconds.min(max) as i64);
    seconds.clamp(MIN_UPLOAD_TIMEOUT, MAX_UPLOAD_TIMEOUT)
}

/// Whether an active upload has run past its timeout: `now - started_at >
/// upload_timeout(file_size)` while `pending` or `uploading` (the attempt's start is the
/// `begin`, `started_at`).
///
/// ```
/// # use monitor_core::UploadRecord;
/// use monitor_core::timeout::is_timed_out;
/// # let row: UploadRecord = serde_json::from_str(r#"{"id":"0192a7b0-0000-7000-8000-0000000000aa","user_id":"00000000-0000-4000-8000-000000000001","local_id":"a","video_title":null,"filename":"a.mov","file_size":1000,"status":"uploading","stage":"uploading","progress":10,"bytes_sent":100,"upload_speed":null,"retry_count":0,"error_code":null,"error_message":null,"source":null,"duration":null,"metadata":{},"device_info":null,"video_id":null,"last_seq":3,"started_at":"2026-11-24T09:00:00Z","completed_at":null,"updated_at":"2026-11-24T09:09:00Z","client_updated_at":null,"retry_requested_at":null}"#).unwrap();
/// assert!(!is_timed_out(&row, "2026-11-24T09:10:00Z".parse().unwrap()));
/// assert!(is_timed_out(&row, "2026-11-24T09:10:01Z".parse().unwrap()));
/// ```
pub fn is_timed_out(row: &UploadRecord, now: DateTime<Utc>) -> bool {
    matches!(row.status, UploadStatus::Pending | UploadStatus::Uploading)
        && now - row.started_at > upload_timeout(row.file_size)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: i64 = 1_048_576;

    #[test]
    fn the_timeout_grows_with_the_size_between_its_bounds() {
        assert_eq!(upload_timeout(Some(0)), MIN_UPLOAD_TIMEOUT);
        assert_eq!(upload_timeout(Some(300 * MB)), Duration::minutes(10));
        assert_eq!(upload_timeout(Some(300 * MB + 1)), Duration::seconds(601));
        assert_eq!(upload_timeout(Some(1_800 * MB)), Duration::minutes(60));
        assert_eq!(upload_timeout(Some(i64::MAX)), MAX_UPLOAD_TIMEOUT);
        assert_eq!(upload_timeout(Some(-5)), MAX_UPLOAD_TIMEOUT);
    }
}
