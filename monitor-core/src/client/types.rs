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
///
/// ```
/// use monitor_core::client::TranscriptionError;
/// use monitor_core::rows::TranscriptionStatus;
/// let e: TranscriptionError = serde_json::from_str(r#"{"id":"00000000-0000-4000-8000-0000000000c1",
///   "video_id":null,"status":"failed","error_message":"Audio too short",
///   "title":"Vacances","email":"jd@example.com"}"#).unwrap();
/// assert_eq!(e.job.status, TranscriptionStatus::Failed);
/// assert_eq!((e.title.as_deref(), e.email.as_deref()), (Some("Vacances"), Some("jd@example.com")));
/// ```
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
///
/// ```
/// use monitor_core::client::Snapshot;
/// use monitor_core::monitoring::MonitoringStats;
/// let quiet: Snapshot = serde_json::from_value(serde_json::json!({
///     "generatedAt": "2026-11-24T10:00:00Z", "cursor": "2026-11-24T10:00:00Z",
///     "stats": MonitoringStats::default(), "topErrors": [], "uploads": [], "recentBugs": [],
///     "uploadErrors": [], "transcriptionErrors": [], "networkErrors": [],
/// }))
/// .unwrap();
/// assert_eq!(quiet.stats.success_rate, 0.0);
/// assert!(quiet.uploads.is_empty());
/// ```
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
///
/// ```
/// use monitor_core::client::Changes;
/// use monitor_core::monitoring::MonitoringStats;
/// let changes: Changes = serde_json::from_value(serde_json::json!({
///     "generatedAt": "2026-11-24T10:00:00Z", "since": "2026-11-23T10:00:00Z",
///     "cursor": "2026-11-24T10:00:00Z", "resync": true, "stats": MonitoringStats::default(),
///     "uploads": [], "bugs": [], "transcriptionErrors": [],
/// }))
/// .unwrap();
/// // A day-old cursor: take a new snapshot rather than apply the changes.
/// assert!(changes.resync);
/// ```
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
///
/// ```
/// use monitor_core::client::UploadFilter;
/// use monitor_core::{UploadSource, UploadStatus};
/// // Only the filters set are sent.
/// assert_eq!(serde_json::to_value(UploadFilter::default()).unwrap(), serde_json::json!({}));
/// let failed_imports = UploadFilter {
///     status: Some(UploadStatus::Failed),
///     source: Some(UploadSource::Imported),
///     page_size: Some(20),
///     ..Default::default()
/// };
/// assert_eq!(
///     serde_json::to_value(&failed_imports).unwrap(),
///     serde_json::json!({ "status": "failed", "source": "imported", "page_size": 20 })
/// );
/// ```
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

/// Where a page ends: pass it back to get the next one. The list runs newest start first,
/// then the uploads without a start time (by id): a cursor in that last part has no
/// `started_at`.
///
/// ```
/// use monitor_core::client::{UploadsCursor, UploadsPage};
/// let page: UploadsPage = serde_json::from_str(r#"{"items":[],
///   "nextCursor":{"startedAt":"2026-11-24T09:00:00Z","id":"0192a7b0-0000-7000-8000-0000000000aa"}}"#)
/// .unwrap();
/// let next: UploadsCursor = page.next_cursor.unwrap();
/// assert_eq!(next.started_at.unwrap().to_rfc3339(), "2026-11-24T09:00:00+00:00");
/// let among_unstarted: UploadsCursor = serde_json::from_str(
///     r#"{"startedAt":null,"id":"0192a7b0-0000-7000-8000-0000000000ab"}"#,
/// )
/// .unwrap();
/// assert_eq!(among_unstarted.started_at, None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadsCursor {
    /// The last row's `started_at`; None when it has none.
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    /// The last card's id.
    pub id: Uuid,
}

/// One page of `monitoring_uploads`.
///
/// ```
/// use monitor_core::client::UploadsPage;
/// let last: UploadsPage = serde_json::from_str(r#"{"items":[],"nextCursor":null}"#).unwrap();
/// assert!(last.next_cursor.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadsPage {
    /// Cards, newest start first, those without a start time last.
    pub items: Vec<UploadMonitorItem>,
    /// The next page's cursor; None on the last page.
    pub next_cursor: Option<UploadsCursor>,
}

/// A user's upload counts (`monitoring_user_profile`).
///
/// ```
/// use monitor_core::client::UserUploadCounts;
/// let counts: UserUploadCounts = serde_json::from_str(r#"{"total":10,"pending":1,"uploading":1,
///   "completed":6,"failed":2,"successRate":75.0,"avgUploadSpeed":2.4}"#).unwrap();
/// // The rate is over finished uploads only: 6 of 8.
/// assert_eq!(counts.success_rate, 75.0);
/// ```
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
///
/// ```
/// use monitor_core::client::UserBugs;
/// let bugs: UserBugs = serde_json::from_str(r#"{"total":1,
///   "recent":[{"id":"00000000-0000-4000-8000-0000000000b1","error_message":"Upload failed"}]}"#)
/// .unwrap();
/// assert_eq!(bugs.recent[0].error_message, "Upload failed");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserBugs {
    /// How many.
    pub total: i64,
    /// The 20 newest.
    pub recent: Vec<BugReport>,
}

/// `monitoring_user_profile`: "User Profiling".
///
/// ```
/// use monitor_core::client::UserProfile;
/// use monitor_core::display::initials;
/// let user: UserProfile = serde_json::from_value(serde_json::json!({
///     "profile": { "id": "00000000-0000-4000-8000-000000000001", "email": "jd@example.com",
///                  "first_name": "John", "last_name": "Doe" },
///     "uploads": { "total": 0, "pending": 0, "uploading": 0, "completed": 0, "failed": 0,
///                  "successRate": 0.0, "avgUploadSpeed": 0.0 },
///     "recentUploads": [],
///     "bugs": { "total": 0, "recent": [] },
/// }))
/// .unwrap();
/// let p = &user.profile;
/// assert_eq!(initials(p.first_name.as_deref(), p.last_name.as_deref(), p.email.as_deref()), "JD");
/// ```
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
///
/// ```
/// use monitor_core::client::TimelineEntryType;
/// assert_eq!(serde_json::to_string(&TimelineEntryType::UploadEvent).unwrap(), r#""upload_event""#);
/// let bug: TimelineEntryType = serde_json::from_str(r#""bug_report""#).unwrap();
/// assert_eq!(bug, TimelineEntryType::BugReport);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineEntryType {
    /// An `upload_events` row.
    UploadEvent,
    /// A `bug_reports` row.
    BugReport,
}

/// One entry of a user's timeline.
///
/// ```
/// use monitor_core::client::{TimelineEntry, TimelineEntryType};
/// let entry: TimelineEntry = serde_json::from_str(r#"{"at":"2026-11-24T09:05:00Z",
///   "id":"0192a7b0-0000-7000-8000-000000000001","type":"upload_event",
///   "uploadId":"0192a7b0-0000-7000-8000-0000000000aa","filename":"a.mov","kind":"fail",
///   "status":"failed","errorCode":"network","errorMessage":"Network request failed"}"#).unwrap();
/// assert_eq!(entry.entry_type, TimelineEntryType::UploadEvent);
/// assert_eq!(entry.kind.as_deref(), Some("fail"));
/// // Bug fields are absent on an upload event.
/// assert_eq!(entry.severity, None);
/// ```
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
///
/// ```
/// use monitor_core::client::{Timeline, TimelineCursor};
/// let page: Timeline = serde_json::from_str(r#"{"entries":[],
///   "nextCursor":{"at":"2026-11-24T09:05:00Z","id":"0192a7b0-0000-7000-8000-000000000001"}}"#)
/// .unwrap();
/// // Passed back as `before` for the older entries.
/// let before: TimelineCursor = page.next_cursor.unwrap();
/// assert_eq!(before.id, uuid::Uuid::from_u128(0x0192a7b0_0000_7000_8000_000000000001));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineCursor {
    /// The last entry's time.
    pub at: DateTime<Utc>,
    /// The last entry's id.
    pub id: Uuid,
}

/// One page of `monitoring_user_timeline`, newest first.
///
/// ```
/// use monitor_core::client::Timeline;
/// let last: Timeline = serde_json::from_str(r#"{"entries":[],"nextCursor":null}"#).unwrap();
/// assert!(last.entries.is_empty() && last.next_cursor.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    /// Entries, newest first.
    pub entries: Vec<TimelineEntry>,
    /// The next page's cursor; None on the last page.
    pub next_cursor: Option<TimelineCursor>,
}

/// Which periods [`super::MonitoringClient::compare`] compares.
///
/// ```
/// use monitor_core::client::ComparePeriod;
/// assert_eq!(serde_json::to_value(ComparePeriod::Week).unwrap(), "week");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComparePeriod {
    /// Today vs yesterday (same elapsed time).
    Day,
    /// This week vs last week (same elapsed time).
    Week,
}

/// The figures of one period.
///
/// ```
/// use monitor_core::client::PeriodFigures;
/// let today: PeriodFigures = serde_json::from_value(serde_json::json!({
///     "from": "2026-11-24T00:00:00Z", "to": "2026-11-24T10:00:00Z", "uploadsStarted": 12,
///     "uploadsCompleted": 9, "uploadsFailed": 1, "successRate": 90.0, "avgUploadSpeed": 2.4,
///     "bugs": 3, "criticalBugs": 0,
/// }))
/// .unwrap();
/// assert_eq!(today.to - today.from, chrono::Duration::hours(10));
/// ```
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
///
/// ```
/// use monitor_core::client::{ComparePeriod, Comparison};
/// let figures = |from: &str, to: &str, completed: i64| {
///     serde_json::json!({
///         "from": from, "to": to, "uploadsStarted": completed, "uploadsCompleted": completed,
///         "uploadsFailed": 0, "successRate": 100.0, "avgUploadSpeed": 2.0, "bugs": 0,
///         "criticalBugs": 0,
///     })
/// };
/// let day: Comparison = serde_json::from_value(serde_json::json!({
///     "period": "day",
///     "current": figures("2026-11-24T00:00:00Z", "2026-11-24T10:00:00Z", 9),
///     "previous": figures("2026-11-23T00:00:00Z", "2026-11-23T10:00:00Z", 6),
/// }))
/// .unwrap();
/// assert_eq!(day.period, ComparePeriod::Day);
/// // The same elapsed time on both sides.
/// assert_eq!(day.current.to - day.current.from, day.previous.to - day.previous.from);
/// ```
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
///
/// ```
/// use monitor_core::client::DistributionSlice;
/// // Failures without an error code are counted under "unknown".
/// let slice: DistributionSlice =
///     serde_json::from_str(r#"{"key":"unknown","count":1,"percentage":25.0}"#).unwrap();
/// assert_eq!((slice.key.as_str(), slice.count), ("unknown", 1));
/// ```
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
///
/// ```
/// use monitor_core::client::ErrorDistribution;
/// let d: ErrorDistribution = serde_json::from_str(r#"{"since":"2026-11-23T10:00:00Z",
///   "uploads":[{"key":"network","count":3,"percentage":75.0},
///              {"key":"stale","count":1,"percentage":25.0}],
///   "bugs":[]}"#).unwrap();
/// assert_eq!(d.uploads.iter().map(|s| s.count).sum::<i64>(), 4);
/// assert_eq!(d.uploads[0].key, "network");
/// ```
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
///
/// ```
/// use monitor_core::client::SpeedBucket;
/// let empty: SpeedBucket = serde_json::from_str(r#"{"bucketStart":"2026-11-24T09:15:00Z",
///   "uploads":0,"avgUploadSpeed":null,"maxUploadSpeed":null}"#).unwrap();
/// // An empty bucket has no speed, rather than 0 MB/s.
/// assert_eq!((empty.uploads, empty.avg_upload_speed), (0, None));
/// ```
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
///
/// ```
/// use monitor_core::client::AlertEvaluation;
/// let alert: AlertEvaluation = serde_json::from_str(r#"{"triggered":true,"failures":7,
///   "maxFailures":5,"withinMinutes":10,"since":"2026-11-24T09:50:00Z",
///   "evaluatedAt":"2026-11-24T10:00:00Z","latest":[]}"#).unwrap();
/// assert_eq!(alert.triggered, alert.failures > alert.max_failures);
/// assert_eq!((alert.evaluated_at - alert.since).num_minutes(), alert.within_minutes);
/// ```
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
