//! One `upload_queue` row: the state the event stream of one upload builds.
//!
//! Field names are the SQL column names exactly (the serde names too), so the same JSON
//! comes out of `to_jsonb(upload_queue)` in PostgreSQL and out of `serde_json` here. The
//! columns are described in [`crate::event`]'s module docs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::status::{UploadSource, UploadStage, UploadStatus};

/// One `upload_queue` row, as `report_upload_events` leaves it.
///
/// The rows are built by [`crate::state_machine::apply`]; other code reads them.
///
/// ```
/// use monitor_core::{UploadRecord, UploadStatus};
/// let json = r#"{"id":"0192a7b0-0000-7000-8000-0000000000aa",
///   "user_id":"00000000-0000-4000-8000-000000000001","local_id":"import_1732438800000_0",
///   "video_title":"Vacances","filename":"backup_123.mov","file_size":10485760,
///   "status":"uploading","stage":"uploading","progress":40,"bytes_sent":4194304,
///   "upload_speed":1.5,"retry_count":0,"error_code":null,"error_message":null,
///   "source":"recorded","duration":42,"metadata":{},"device_info":null,"video_id":null,
///   "last_seq":7,"started_at":"2026-11-24T09:00:00+00:00","completed_at":null,
///   "updated_at":"2026-11-24T09:01:00+00:00","client_updated_at":"2026-11-24T09:00:59Z",
///   "retry_requested_at":null}"#;
/// let row: UploadRecord = serde_json::from_str(json).unwrap();
/// assert_eq!(row.status, UploadStatus::Uploading);
/// assert_eq!(row.progress, 40);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadRecord {
    /// `upload_queue.id`: the UUIDv7 the SDK generated for the upload.
    pub id: Uuid,
    /// Owner (`profiles.id`, the caller of the `begin`).
    pub user_id: Uuid,
    /// The app's own queue id (`ImportVideoItem.id`, `PendingVideo.id`), unique per user.
    /// The column is nullable for the spec's own inserts; null reads as "".
    #[serde(default, deserialize_with = "null_as_default")]
    pub local_id: String,
    /// Video title.
    pub video_title: Option<String>,
    /// File name of the video.
    pub filename: String,
    /// Size in bytes, when known.
    pub file_size: Option<i64>,
    /// One of the spec's four statuses.
    pub status: UploadStatus,
    /// The pipeline step running (None only on rows written without the SDK).
    pub stage: Option<UploadStage>,
    /// Percent, 0–100; grows within an attempt, back to 0 on retry (null reads as 0).
    #[serde(default, deserialize_with = "null_as_default")]
    pub progress: i32,
    /// Bytes sent so far in this attempt.
    pub bytes_sent: i64,
    /// Last reported speed, MB/s.
    pub upload_speed: Option<f64>,
    /// Attempts used, 0–3 ("Tentative n/3"); null reads as 0.
    #[serde(default, deserialize_with = "null_as_default")]
    pub retry_count: i32,
    /// Machine-readable cause of the last failure.
    pub error_code: Option<String>,
    /// Human-readable cause of the last failure, at most
    /// [`crate::event::MAX_ERROR_MESSAGE_CHARS`] characters.
    pub error_message: Option<String>,
    /// Recorded or imported.
    pub source: Option<UploadSource>,
    /// Duration in seconds, from `metadata.duration`.
    pub duration: Option<i32>,
    /// The app's item metadata, `{}` when none was sent (JSON null on rows written
    /// outside the SDK).
    #[serde(default)]
    pub metadata: serde_json::Value,
    /// Device facts as sent in `begin.device`.
    pub device_info: Option<serde_json::Value>,
    /// The `videos` row created for the upload, once known.
    pub video_id: Option<Uuid>,
    /// The highest `seq` applied: events at or below it are superseded.
    pub last_seq: i64,
    /// Server time the current attempt began (`begin`, or the last `retry`).
    pub started_at: DateTime<Utc>,
    /// Server time the upload reached `completed` or `failed`; None while active.
    pub completed_at: Option<DateTime<Utc>>,
    /// Server time of the last applied event (what the stale rule watches).
    pub updated_at: DateTime<Utc>,
    /// Device time of the last applied event (`event.at`).
    pub client_updated_at: Option<DateTime<Utc>>,
    /// When an admin pressed "Réessayer"; cleared when the device retries.
    pub retry_requested_at: Option<DateTime<Utc>>,
}

/// Reads JSON null as the type's default: the spec's columns are nullable even where the
/// SDK always writes a value.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

impl UploadRecord {
    /// Seconds since the attempt began: up to `completed_at` when finished, else up to `now`
    /// (the spec's `elapsedTime`, never negative).
    ///
    /// ```
    /// # use monitor_core::UploadRecord;
    /// # let mut row: UploadRecord = serde_json::from_str(r#"{"id":"0192a7b0-0000-7000-8000-0000000000aa","user_id":"00000000-0000-4000-8000-000000000001","local_id":"a","video_title":null,"filename":"a.mov","file_size":null,"status":"pending","stage":"validating","progress":0,"bytes_sent":0,"upload_speed":null,"retry_count":0,"error_code":null,"error_message":null,"source":null,"duration":null,"metadata":{},"device_info":null,"video_id":null,"last_seq":1,"started_at":"2026-11-24T09:00:00Z","completed_at":null,"updated_at":"2026-11-24T09:00:00Z","client_updated_at":null,"retry_requested_at":null}"#).unwrap();
    /// let now = "2026-11-24T09:02:34Z".parse().unwrap();
    /// assert_eq!(row.elapsed_seconds(now), 154);
    /// ```
    pub fn elapsed_seconds(&self, now: DateTime<Utc>) -> i64 {
        let end = self.completed_at.unwrap_or(now);
        (end - self.started_at).num_seconds().max(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_written_by_the_spec_own_insert_still_reads() {
        // The spec's createUploadQueueRecord: no local_id, nulls where columns allow them.
        let row: UploadRecord = serde_json::from_value(serde_json::json!({
            "id": "0192a7b0-0000-7000-8000-0000000000aa",
            "user_id": "00000000-0000-4000-8000-000000000001",
            "local_id": null, "video_title": "Untitled", "filename": "a.mov",
            "file_size": 10, "status": "pending", "stage": "validating", "progress": null,
            "bytes_sent": 0, "upload_speed": null, "retry_count": null, "metadata": null,
            "last_seq": 0, "started_at": "2026-11-24T09:00:00+00:00",
            "updated_at": "2026-11-24T09:00:00.123456+00:00"
        }))
        .unwrap();
        assert_eq!(
            (row.local_id.as_str(), row.progress, row.retry_count),
            ("", 0, 0)
        );
        assert_eq!(row.error_message, None);
    }

    #[test]
    fn the_json_round_trips_with_the_sql_column_names() {
        let json = serde_json::json!({
            "id": "0192a7b0-0000-7000-8000-0000000000aa",
            "user_id": "00000000-0000-4000-8000-000000000001",
            "local_id": "l", "video_title": null, "filename": "a.mov", "file_size": null,
            "status": "failed", "stage": "creating_record", "progress": 100,
            "bytes_sent": 5, "upload_speed": 2.5, "retry_count": 3, "error_code": "network",
            "error_message": "boom", "source": "imported", "duration": 12,
            "metadata": {"chapterId": "c1"}, "device_info": {"platform": "ios"},
            "video_id": null, "last_seq": 9, "started_at": "2026-11-24T09:00:00Z",
            "completed_at": "2026-11-24T09:05:00Z", "updated_at": "2026-11-24T09:05:00Z",
            "client_updated_at": "2026-11-24T09:04:59Z", "retry_requested_at": null
        });
        let row: UploadRecord = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(serde_json::to_value(&row).unwrap(), json);
    }
}
