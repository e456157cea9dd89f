//! The `/monitoring` page's data: the spec's `UploadMonitorItem`, `MonitoringStats` and
//! `ErrorSummary`, in the JSON shape the monitoring SQL functions return.
//!
//! These three are the spec's TypeScript interfaces, so their JSON keys are the spec's
//! camelCase names (`userEmail`, `uploadsInProgress`, `uniqueUsers`...): the SQL functions
//! build them with `jsonb_build_object('userEmail', ...)`, and a TypeScript dashboard can
//! use the answer as the spec's types unchanged. Rows of tables (`upload_queue`, `videos`,
//! `bug_reports`...) keep their snake_case column names ([`crate::record`],
//! [`crate::rows`]). Fields the spec marks optional (`uploadSpeed?`) are omitted when
//! absent; fields it declares always present but that a row may lack (`userEmail` of a
//! deleted profile) are `null`. Timestamps are RFC 3339 strings (`to_jsonb(timestamptz)`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::bounds::{
    MAX_CODE_CHARS, MAX_EMAIL_CHARS, MAX_FILENAME_CHARS, MAX_MESSAGE_CHARS, MAX_NAME_CHARS,
    MAX_SHORT_TEXT_CHARS, MAX_TITLE_CHARS, cut, cut_owned,
};
use crate::record::UploadRecord;
use crate::rows::{Profile, TranscriptionStatus};
use crate::stale::{STALE_AFTER, is_stale};
use crate::status::{UploadSource, UploadStage, UploadStatus};

/// Where an item's status comes from.
///
/// ```
/// use monitor_core::monitoring::ItemOrigin;
/// // The spec's own JSON has no `origin`: a card without one is a reported upload.
/// assert_eq!(ItemOrigin::default(), ItemOrigin::UploadQueue);
/// assert_eq!(serde_json::to_string(&ItemOrigin::Videos).unwrap(), r#""videos""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemOrigin {
    /// Reported by the SDK: an `upload_queue` row (spec Phase 2); the default when the
    /// JSON does not say (the spec's own shape has no `origin`).
    #[default]
    UploadQueue,
    /// Derived from a `videos` row for apps that do not report yet (spec Phase 1).
    Videos,
}

/// One upload card (the spec's `UploadMonitorItem`, plus the fields marked "added").
///
/// ```
/// use monitor_core::monitoring::UploadMonitorItem;
/// let json = r#"{"id":"0192a7b0-0000-7000-8000-0000000000aa",
///   "userId":"00000000-0000-4000-8000-000000000001","userEmail":"jd@example.com",
///   "videoTitle":"Vacances","filename":"backup_1.mov","fileSize":1048576,
///   "status":"uploading","progress":40,"uploadSpeed":1.5,"retryCount":1,
///   "startedAt":"2026-11-24T09:00:00+00:00","elapsedTime":154.0}"#;
/// let item: UploadMonitorItem = serde_json::from_str(json).unwrap();
/// assert_eq!(item.retry_count, 1);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadMonitorItem {
    /// `upload_queue.id` (or `videos.id` for a derived item).
    pub id: Uuid,
    /// The uploader.
    pub user_id: Option<Uuid>,
    /// `profiles.email`; null when the profile is gone.
    pub user_email: Option<String>,
    /// Video title; null when none was given.
    pub video_title: Option<String>,
    /// File name.
    pub filename: String,
    /// Size in bytes; null when unknown.
    pub file_size: Option<i64>,
    /// One of the four statuses.
    pub status: UploadStatus,
    /// Percent, 0–100.
    pub progress: i32,
    /// MB/s, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_speed: Option<f64>,
    /// Retries used, 0–3.
    pub retry_count: i32,
    /// The last failure's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// When the attempt began; null for a row written without one (`upload_queue.started_at`
    /// is nullable: the SDK always sets it, a service-role writer may not).
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    /// Seconds from `startedAt` to `completedAt`, or to now while active (SQL:
    /// `extract(epoch from coalesce(completed_at, now()) - started_at)`, microsecond
    /// precision, not clamped: negative for a row completed before it started); absent
    /// without `startedAt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_time: Option<f64>,
    /// The app's metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,

    /// Added: the app's queue id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_id: Option<String>,
    /// Added: the pipeline step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<UploadStage>,
    /// Added: recorded or imported ("📹 Recorded" / "📸 Imported").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<UploadSource>,
    /// Added: machine-readable cause of the failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Added: bytes sent in this attempt.
    #[serde(default)]
    pub bytes_sent: i64,
    /// Added: duration in seconds ("Durée estimée").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<i32>,
    /// Added: the `videos` row, once created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_id: Option<Uuid>,
    /// Added: last server-side change (what the stale rule watches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Added: `profiles.first_name`, for the initials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_first_name: Option<String>,
    /// Added: `profiles.last_name`, for the initials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_last_name: Option<String>,
    /// Added: active with no report for 30 minutes ([`crate::stale`]).
    #[serde(default)]
    pub is_stale: bool,
    /// Added: the video's transcription, when a job exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcription_status: Option<TranscriptionStatus>,
    /// Added: reported (`upload_queue`) or derived (`videos`).
    #[serde(default)]
    pub origin: ItemOrigin,
}

impl UploadMonitorItem {
    /// The card for a reported upload: the row's columns under the spec's names, the
    /// profile's email and names, `elapsedTime` and `isStale` at `now`. Texts are cut as
    /// [`crate::bounds`] says (the row's own never are: `upload_queue`'s constraints bound
    /// them to the same lengths; the profile's may be).
    ///
    /// ```
    /// # use monitor_core::UploadRecord;
    /// use monitor_core::monitoring::UploadMonitorItem;
    /// # let row: UploadRecord = serde_json::from_str(r#"{"id":"0192a7b0-0000-7000-8000-0000000000aa","user_id":"00000000-0000-4000-8000-000000000001","local_id":"a","video_title":null,"filename":"a.mov","file_size":null,"status":"uploading","stage":"uploading","progress":5,"bytes_sent":0,"upload_speed":null,"retry_count":0,"error_code":null,"error_message":null,"source":null,"duration":null,"metadata":{},"device_info":null,"video_id":null,"last_seq":2,"started_at":"2026-11-24T09:00:00Z","completed_at":null,"updated_at":"2026-11-24T09:00:00Z","client_updated_at":null,"retry_requested_at":null}"#).unwrap();
    /// let item = UploadMonitorItem::from_record(&row, None, "2026-11-24T09:02:34Z".parse().unwrap());
    /// assert_eq!(item.elapsed_time, Some(154.0));
    /// assert_eq!(item.user_email, None);
    /// ```
    pub fn from_record(row: &UploadRecord, profile: Option<&Profile>, now: DateTime<Utc>) -> Self {
        let end = row.completed_at.unwrap_or(now);
        UploadMonitorItem {
            id: row.id,
            user_id: Some(row.user_id),
            user_email: cut_owned(profile.and_then(|p| p.email.as_deref()), MAX_EMAIL_CHARS),
            video_title: cut_owned(row.video_title.as_deref(), MAX_TITLE_CHARS),
            filename: cut(&row.filename, MAX_FILENAME_CHARS).to_owned(),
            file_size: row.file_size,
            status: row.status,
            progress: row.progress,
            upload_speed: row.upload_speed,
            retry_count: row.retry_count,
            error_message: cut_owned(row.error_message.as_deref(), MAX_MESSAGE_CHARS),
            started_at: Some(row.started_at),
            completed_at: row.completed_at,
            elapsed_time: Some(seconds_between(row.started_at, end)),
            metadata: Some(row.metadata.clone()),
            local_id: Some(cut(&row.local_id, MAX_SHORT_TEXT_CHARS).to_owned())
                .filter(|l| !l.is_empty()),
            stage: row.stage,
            source: row.source,
            error_code: cut_owned(row.error_code.as_deref(), MAX_CODE_CHARS),
            bytes_sent: row.bytes_sent,
            duration: row.duration,
            video_id: row.video_id,
            updated_at: Some(row.updated_at),
            user_first_name: cut_owned(
                profile.and_then(|p| p.first_name.as_deref()),
                MAX_NAME_CHARS,
            ),
            user_last_name: cut_owned(profile.and_then(|p| p.last_name.as_deref()), MAX_NAME_CHARS),
            is_stale: is_stale(row, now, STALE_AFTER),
            transcription_status: None,
            origin: ItemOrigin::UploadQueue,
        }
    }
}

/// Seconds from `start` to `end` with microsecond precision, as `extract(epoch from ...)`.
pub(crate) fn seconds_between(start: DateTime<Utc>, end: DateTime<Utc>) -> f64 {
    let d = end - start;
    // Microseconds overflow i64 only beyond ±292,000 years.
    d.num_microseconds()
        .map_or(d.num_seconds() as f64, |us| us as f64 / 1e6)
}

/// The five stat cards (the spec's `MonitoringStats`, plus `failedUploadRate` that its
/// "Échecs (24h)" card shows). The exact rules are [`crate::aggregate::monitoring_stats`]'s.
///
/// ```
/// use monitor_core::monitoring::MonitoringStats;
/// let s: MonitoringStats = serde_json::from_str(r#"{"uploadsInProgress":2,"uploadsPending":1,
///   "uploadsCompletedToday":9,"uploadsFailedToday":1,"avgUploadSpeed":2.4,"successRate":90.0,
///   "failedUploadRate":10.0,"newBugsToday":3,"criticalBugsToday":1}"#).unwrap();
/// assert_eq!(s.success_rate, 90.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MonitoringStats {
    /// "Uploads actifs": uploads now `uploading`.
    pub uploads_in_progress: i64,
    /// "… en attente": uploads now `pending`.
    pub uploads_pending: i64,
    /// "Complétés (24h)".
    pub uploads_completed_today: i64,
    /// "Échecs (24h)".
    pub uploads_failed_today: i64,
    /// "Vitesse moy." in MB/s over the last 10 completed uploads, one decimal.
    pub avg_upload_speed: f64,
    /// "% succès": completed / (completed + failed) in 24 h, percent, one decimal.
    pub success_rate: f64,
    /// "% des uploads": failed / (completed + failed) in 24 h, percent, one decimal.
    #[serde(default)]
    pub failed_upload_rate: f64,
    /// "Bugs nouveaux": bug reports created in 24 h.
    pub new_bugs_today: i64,
    /// "… critiques": those of severity `critical`.
    pub critical_bugs_today: i64,
}

/// One line of "🔥 Erreurs les plus fréquentes (24h)" (the spec's `ErrorSummary`).
///
/// ```
/// use monitor_core::monitoring::ErrorSummary;
/// let e = ErrorSummary { message: "Network request failed".into(), count: 4, unique_users: 3, percentage: 40.0 };
/// assert_eq!(serde_json::to_string(&e).unwrap(),
///   r#"{"message":"Network request failed","count":4,"uniqueUsers":3,"percentage":40.0}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorSummary {
    /// The error message, exactly as reported.
    pub message: String,
    /// Reports with this message in 24 h.
    pub count: i64,
    /// Distinct reporters among them (reports without a user are not counted).
    pub unique_users: i64,
    /// `count` as a percentage of all reports in 24 h, one decimal.
    pub percentage: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_serialize_with_the_spec_names_and_omit_absent_optionals() {
        let row: UploadRecord = serde_json::from_value(serde_json::json!({
            "id": "0192a7b0-0000-7000-8000-0000000000aa",
            "user_id": "00000000-0000-4000-8000-000000000001",
            "local_id": "import_1_0", "video_title": null, "filename": "a.mov",
            "file_size": 10, "status": "completed", "stage": "queuing_transcription",
            "progress": 100, "bytes_sent": 10, "upload_speed": null, "retry_count": 0,
            "metadata": {}, "last_seq": 5, "started_at": "2026-11-24T09:00:00Z",
            "completed_at": "2026-11-24T09:01:00.5Z", "updated_at": "2026-11-24T09:01:00Z"
        }))
        .unwrap();
        let now = "2026-11-24T10:00:00Z".parse().unwrap();
        let json = serde_json::to_value(UploadMonitorItem::from_record(&row, None, now)).unwrap();
        assert_eq!(json["userEmail"], serde_json::Value::Null);
        assert_eq!(json["videoTitle"], serde_json::Value::Null);
        assert_eq!(json["elapsedTime"], serde_json::json!(60.5));
        assert_eq!(json["localId"], "import_1_0");
        assert_eq!(json["origin"], "upload_queue");
        assert!(json.get("uploadSpeed").is_none());
        assert!(json.get("errorMessage").is_none());
        assert_eq!(json["isStale"], false);
    }
}
