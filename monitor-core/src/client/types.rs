//! The JSON answers of the monitoring RPCs (`migrations/20261124100000_monitoring_queries.sql`)
//! as Rust types; the cards, stats and rows inside reuse [`crate::monitoring`] and
//! [`crate::rows`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::monitoring::{ErrorSummary, MonitoringStats, UploadMonitorItem};
use crate::rows::{BugReport, Profile, TranscriptionJob};
use crate::status::{UploadSource, UploadStatus};

/// A failed transcription job with the spec's `v.title` and `p.email` ("🔴 Échecs
/// Transcription").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptionError {
    /// The job's columns.
    #[serde(flatten)]
    pub job: TranscriptionJob,
    /// The video's title (null when the video is gone).
    #[serde(default)]
    pub title: Option<String>,
    /// The owner's email (null when the profile is gone).
    #[serde(default)]
    pub email: Option<String>,
}

/// `monitoring_snapshot`: everything the `/monitoring` page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// The server's `now()` the figures are computed at.
    pub generated_at: DateTime<Utc>,
    /// What to pass to [`super::MonitoringClient::changes`] next.
    pub cursor: DateTime<Utc>,
    /// The stat cards.
    pub stats: MonitoringStats,
    /// The 5 most frequent bug messages in 24 h.
    pub top_errors: Vec<ErrorSummary>,
    /// Upload cards: uploading, pending, failed, completed; newest first; reported and
    /// derived (Phase 1) together.
    pub uploads: Vec<UploadMonitorItem>,
    /// Bugs of 24 h by severity then time (20).
    pub recent_bugs: Vec<BugReport>,
    /// Failed uploads of 7 days, including videos flagged `uploadFailed` (50 newest).
    pub upload_errors: Vec<UploadMonitorItem>,
    /// Failed transcriptions of 7 days (50 newest).
    pub transcription_errors: Vec<TranscriptionError>,
    /// Network bug reports, or mentioning "upload", of 24 h (50 newest).
    pub network_errors: Vec<BugReport>,
}

/// `monitoring_changes`: what changed after a cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Changes {
    /// The server's `now()`.
    pub generated_at: DateTime<Utc>,
    /// The cursor asked about.
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    /// What to pass next time.
    pub cursor: DateTime<Utc>,
    /// True when the cursor is too old (or too much changed): take a new snapshot.
    pub resync: bool,
    /// Fresh stat cards.
    pub stats: MonitoringStats,
    /// Changed cards, oldest change first; replace cards by `id`.
    pub uploads: Vec<UploadMonitorItem>,
    /// Bug reports created after the cursor, newest first.
    pub bugs: Vec<BugReport>,
    /// Transcription jobs that failed after the cursor.
    pub transcription_errors: Vec<TranscriptionError>,
}

/// Filters and page of [`super::MonitoringClient::uploads`]; `Default` = every upload, first
/// page of 50.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UploadFilter {
    /// Only this status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<UploadStatus>,
    /// Case-insensitive part of the user's email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Started at or after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_from: Option<DateTime<Utc>>,
    /// Started before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_to: Option<DateTime<Utc>>,
    /// Recorded or imported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<UploadSource>,
    /// Rows per page, 1–100 (server default 50).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
}

/// Where a page ends: pass it back to get the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadsCursor {
    /// The last card's `startedAt`.
    pub started_at: DateTime<Utc>,
    /// The last card's id.
    pub id: Uuid,
}

/// One page of `monitoring_uploads`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadsPage {
    /// Cards, newest start first.
    pub items: Vec<UploadMonitorItem>,
    /// The next page's cursor; None on the last page.
    pub next_cursor: Option<UploadsCursor>,
}

/// A user's upload counts (`monitoring_user_profile`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserUploadCounts {
    /// Every upload.
    pub total: i64,
    /// Now pending.
    pub pending: i64,
    /// Now uploading.
    pub uploading: i64,
    /// Completed.
    pub completed: i64,
    /// Failed.
    pub failed: i64,
    /// completed / (completed + failed), percent, one decimal.
    pub success_rate: f64,
    /// Mean MB/s of their completed uploads, one decimal.
    pub avg_upload_speed: f64,
}

/// A user's bug reports (`monitoring_user_profile`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserBugs {
    /// How many.
    pub total: i64,
    /// The 20 newest.
    pub recent: Vec<BugReport>,
}

/// `monitoring_user_profile`: "User Profiling".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserProfile {
    /// The `profiles` row.
    pub profile: Profile,
    /// Upload counts and rates.
    pub uploads: UserUploadCounts,
    /// The 20 latest upload cards.
    pub recent_uploads: Vec<UploadMonitorItem>,
    /// Bug reports.
    pub bugs: UserBugs,
}

/// What a timeline entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineEntryType {
    /// An `upload_events` row.
    UploadEvent,
    /// A `bug_reports` row.
    BugReport,
}

/// One entry of a user's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    /// When (server time).
    pub at: DateTime<Utc>,
    /// The event's or report's id.
    pub id: Uuid,
    /// Upload event or bug report.
    #[serde(rename = "type")]
    pub entry_type: TimelineEntryType,
    /// The upload (events only).
    #[serde(default)]
    pub upload_id: Option<Uuid>,
    /// The upload's file name (events only).
    #[serde(default)]
    pub filename: Option<String>,
    /// The upload's title (events only).
    #[serde(default)]
    pub video_title: Option<String>,
    /// The event kind (`begin`, `progress`, `fail`, `stale`...).
    #[serde(default)]
    pub kind: Option<String>,
    /// The upload's status after the event.
    #[serde(default)]
    pub status: Option<String>,
    /// The upload's stage after the event.
    #[serde(default)]
    pub stage: Option<String>,
    /// Progress after the event.
    #[serde(default)]
    pub progress: Option<i32>,
    /// Failure code.
    #[serde(default)]
    pub error_code: Option<String>,
    /// Failure or bug message.
    #[serde(default)]
    pub error_message: Option<String>,
    /// Bug severity.
    #[serde(default)]
    pub severity: Option<String>,
    /// Bug type.
    #[serde(default)]
    pub error_type: Option<String>,
}

/// Where a timeline page ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineCursor {
    /// The last entry's time.
    pub at: DateTime<Utc>,
    /// The last entry's id.
    pub id: Uuid,
}

/// One page of `monitoring_user_timeline`, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    /// Entries, newest first.
    pub entries: Vec<TimelineEntry>,
    /// The next page's cursor; None on the last page.
    pub next_cursor: Option<TimelineCursor>,
}

/// Which periods [`super::MonitoringClient::compare`] compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComparePeriod {
    /// Today vs yesterday (same elapsed time).
    Day,
    /// This week vs last week (same elapsed time).
    Week,
}

/// The figures of one period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeriodFigures {
    /// Start (inclusive).
    pub from: DateTime<Utc>,
    /// End (exclusive).
    pub to: DateTime<Utc>,
    /// Uploads started.
    pub uploads_started: i64,
    /// Uploads completed.
    pub uploads_completed: i64,
    /// Uploads failed.
    pub uploads_failed: i64,
    /// completed / (completed + failed), percent.
    pub success_rate: f64,
    /// Mean MB/s of the completed uploads with a speed.
    pub avg_upload_speed: f64,
    /// Bug reports.
    pub bugs: i64,
    /// Critical bug reports.
    pub critical_bugs: i64,
}

/// `monitoring_compare`: "Compare Mode".
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Which comparison.
    pub period: ComparePeriod,
    /// Today / this week, up to now.
    pub current: PeriodFigures,
    /// Yesterday / last week, over the same elapsed time.
    pub previous: PeriodFigures,
}

/// One slice of an error distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistributionSlice {
    /// `error_code` (uploads) or `error_type` (bugs); `unknown` for null.
    pub key: String,
    /// How many.
    pub count: i64,
    /// Percent of the whole, one decimal.
    pub percentage: f64,
}

/// `monitoring_error_distribution`: "Distribution des erreurs".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDistribution {
    /// The window's start.
    pub since: DateTime<Utc>,
    /// Failed uploads by `error_code`.
    pub uploads: Vec<DistributionSlice>,
    /// Bug reports by `error_type`.
    pub bugs: Vec<DistributionSlice>,
}

/// One bucket of `monitoring_speed_over_time`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpeedBucket {
    /// Bucket start (epoch-aligned).
    pub bucket_start: DateTime<Utc>,
    /// Completed uploads with a speed that finished in the bucket.
    pub uploads: i64,
    /// Their mean MB/s (two decimals); None for an empty bucket.
    pub avg_upload_speed: Option<f64>,
    /// Their fastest MB/s; None for an empty bucket.
    pub max_upload_speed: Option<f64>,
}

/// `monitoring_evaluate_alert`: "Si > N échecs en M min".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertEvaluation {
    /// `failures > max_failures`.
    pub triggered: bool,
    /// Uploads failed in the window.
    pub failures: i64,
    /// The threshold.
    pub max_failures: i64,
    /// The window, minutes.
    pub within_minutes: i64,
    /// The window's start.
    pub since: DateTime<Utc>,
    /// The server's `now()`.
    pub evaluated_at: DateTime<Utc>,
    /// Up to 5 of the failures, newest first.
    pub latest: Vec<UploadMonitorItem>,
}
