//! Rows of the app's existing tables (`profiles`, `videos`, `transcription_jobs`,
//! `bug_reports`) exactly as the spec defines them.
//!
//! serde names are the SQL column names (snake_case): these types read `to_jsonb(row)` and
//! PostgREST's table JSON unchanged. Every column the spec leaves nullable is an `Option`
//! here, even `videos.file_path` (NOT NULL in the spec, but an empty or missing path is
//! exactly what the Phase 1 derivation looks for). The text columns with a closed list of
//! values in the spec's comments are enums; a value outside the list reads as `Other`
//! (the columns have no CHECK, so old rows may hold anything) and is never lost silently
//! by the aggregation: it sorts and counts as documented in [`crate::aggregate`]. For the same
//! reason a time column reads as `None` when it is unreadable (`infinity`) or outside
//! 2000–2100 ([`crate::bounds`]): the monitoring SQL shows such a time as null and leaves the
//! row out of every window, and these types read it the same way.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One `profiles` row: who an upload or a bug belongs to.
///
/// ```
/// use monitor_core::display::initials;
/// use monitor_core::rows::Profile;
/// let p: Profile = serde_json::from_str(
///     r#"{"id":"00000000-0000-4000-8000-000000000001","email":"marie.dupont@example.com"}"#,
/// )
/// .unwrap();
/// assert_eq!(p.first_name, None);
/// // No names: the avatar falls back to the email.
/// assert_eq!(initials(p.first_name.as_deref(), p.last_name.as_deref(), p.email.as_deref()), "MD");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// `auth.users.id`.
    pub id: Uuid,
    /// Email address.
    #[serde(default)]
    pub email: Option<String>,
    /// First name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// `en`, `fr`, `es` or `de`.
    #[serde(default)]
    pub language: Option<String>,
    /// Row creation time.
    #[serde(default, deserialize_with = "crate::bounds::deserialize_sane_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last update time.
    #[serde(default, deserialize_with = "crate::bounds::deserialize_sane_time")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// One `videos` row: a video the app finished uploading (the Phase 1 source of truth).
///
/// ```
/// use monitor_core::rows::VideoRow;
/// let v: VideoRow = serde_json::from_str(r#"{"id":"00000000-0000-4000-8000-0000000000f1",
///   "user_id":null,"title":"Demo","file_path":"https://x/storage/v1/object/public/videos/a.mov",
///   "metadata":{"isRecorded":true},"created_at":"2026-11-24T09:00:00+00:00"}"#).unwrap();
/// assert!(v.has_file());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoRow {
    /// Video id.
    pub id: Uuid,
    /// Owner.
    #[serde(default)]
    pub user_id: Option<Uuid>,
    /// Title.
    #[serde(default)]
    pub title: Option<String>,
    /// Public Supabase Storage URL of the file.
    #[serde(default)]
    pub file_path: Option<String>,
    /// Thumbnail URL.
    #[serde(default)]
    pub thumbnail_path: Option<String>,
    /// 3–6 frames for the animated thumbnail.
    #[serde(default)]
    pub thumbnail_frames: Option<Vec<String>>,
    /// Duration in seconds.
    #[serde(default)]
    pub duration: Option<i32>,
    /// `{ isRecorded, isImported, orientation, width, height, chapterId, location,
    /// uploadFailed }`.
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    /// Insert time.
    #[serde(default, deserialize_with = "crate::bounds::deserialize_sane_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last update time.
    #[serde(default, deserialize_with = "crate::bounds::deserialize_sane_time")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl VideoRow {
    /// Whether the file is stored: `file_path` present and not blank (SQL:
    /// `coalesce(btrim(file_path), '') <> ''`).
    ///
    /// ```
    /// use monitor_core::rows::VideoRow;
    /// let mut v: VideoRow = serde_json::from_str(r#"{"id":"00000000-0000-4000-8000-0000000000f1"}"#).unwrap();
    /// assert!(!v.has_file());
    /// v.file_path = Some("   ".into());
    /// assert!(!v.has_file());
    /// v.file_path = Some("https://x.supabase.co/storage/v1/object/public/videos/u/a.mov".into());
    /// assert!(v.has_file());
    /// ```
    pub fn has_file(&self) -> bool {
        self.file_path
            .as_deref()
            .is_some_and(|p| !p.trim().is_empty())
    }

    /// Whether the app flagged the upload as failed: `metadata->>'uploadFailed' = 'true'`,
    /// i.e. JSON `true` or the string `"true"`.
    ///
    /// ```
    /// # use monitor_core::rows::VideoRow;
    /// # let mut v: VideoRow = serde_json::from_str(r#"{"id":"00000000-0000-4000-8000-0000000000f1"}"#).unwrap();
    /// v.metadata = Some(serde_json::json!({"uploadFailed": "true"}));
    /// assert!(v.upload_failed());
    /// ```
    pub fn upload_failed(&self) -> bool {
        match self.metadata.as_ref().and_then(|m| m.get("uploadFailed")) {
            Some(serde_json::Value::Bool(flag)) => *flag,
            Some(serde_json::Value::String(text)) => text == "true",
            _ => false,
        }
    }
}

/// `transcription_jobs.status`.
///
/// ```
/// use monitor_core::rows::TranscriptionStatus;
/// let s: TranscriptionStatus = serde_json::from_str(r#""processing""#).unwrap();
/// assert_eq!(s, TranscriptionStatus::Processing);
/// // A value outside the list reads as Other instead of failing the row.
/// let odd: TranscriptionStatus = serde_json::from_str(r#""queued""#).unwrap();
/// assert_eq!(odd, TranscriptionStatus::Other);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TranscriptionStatus {
    /// Queued.
    Pending,
    /// AssemblyAI is working on it.
    Processing,
    /// Transcript stored.
    Completed,
    /// Gave up ("🔴 Échecs Transcription").
    Failed,
    /// Any other value found in the column.
    #[serde(other)]
    Other,
}

/// One `transcription_jobs` row.
///
/// ```
/// use monitor_core::rows::{TranscriptionJob, TranscriptionStatus};
/// let job: TranscriptionJob = serde_json::from_str(r#"{"id":"00000000-0000-4000-8000-0000000000c1",
///   "video_id":"00000000-0000-4000-8000-0000000000f1","status":"failed",
///   "error_message":"Audio too short","created_at":"2026-11-24T09:00:00Z"}"#).unwrap();
/// assert_eq!(job.status, TranscriptionStatus::Failed);
/// assert_eq!(job.transcript_text, None);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptionJob {
    /// Job id.
    pub id: Uuid,
    /// The transcribed video.
    #[serde(default)]
    pub video_id: Option<Uuid>,
    /// Where the job is.
    pub status: TranscriptionStatus,
    /// The transcript.
    #[serde(default)]
    pub transcript_text: Option<String>,
    /// Highlights `{ title, summary, importance, start_time }[]`.
    #[serde(default)]
    pub transcript_highlight: Option<serde_json::Value>,
    /// Detected language.
    #[serde(default)]
    pub language: Option<String>,
    /// AssemblyAI's id, for polling.
    #[serde(default)]
    pub assembly_ai_id: Option<String>,
    /// Why it failed.
    #[serde(default)]
    pub error_message: Option<String>,
    /// Insert time.
    #[serde(default, deserialize_with = "crate::bounds::deserialize_sane_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last update time.
    #[serde(default, deserialize_with = "crate::bounds::deserialize_sane_time")]
    pub updated_at: Option<DateTime<Utc>>,
    /// When it finished.
    #[serde(default, deserialize_with = "crate::bounds::deserialize_sane_time")]
    pub completed_at: Option<DateTime<Utc>>,
}

/// `bug_reports.error_type`, with the list's icon.
///
/// ```
/// use monitor_core::rows::BugErrorType;
/// let network: BugErrorType = serde_json::from_str(r#""network""#).unwrap();
/// assert_eq!(network.icon(), "🌐");
/// let odd: BugErrorType = serde_json::from_str(r#""timeout""#).unwrap();
/// assert_eq!(odd, BugErrorType::Other);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BugErrorType {
    /// 💥
    Crash,
    /// 🌐 (also the "⚠️ Erreurs Réseau" tab)
    Network,
    /// 🎨
    Ui,
    /// 🔌
    Api,
    /// `other`, or any value outside the spec's list.
    #[serde(other)]
    Other,
}

impl BugErrorType {
    /// The bug list's icon: 💥 crash, 🌐 network, 🔌 api, 🎨 ui, 🐛 anything else.
    ///
    /// ```
    /// assert_eq!(monitor_core::rows::BugErrorType::Api.icon(), "🔌");
    /// ```
    pub fn icon(self) -> &'static str {
        match self {
            BugErrorType::Crash => "💥",
            BugErrorType::Network => "🌐",
            BugErrorType::Ui => "🎨",
            BugErrorType::Api => "🔌",
            BugErrorType::Other => "🐛",
        }
    }
}

/// `bug_reports.severity`; the derived order is the list's order (critical first).
///
/// ```
/// use monitor_core::rows::BugSeverity;
/// let mut severities = vec![BugSeverity::Low, BugSeverity::Other, BugSeverity::Critical, BugSeverity::Medium];
/// severities.sort();
/// assert_eq!(
///     severities,
///     [BugSeverity::Critical, BugSeverity::Medium, BugSeverity::Low, BugSeverity::Other]
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BugSeverity {
    /// 🔥
    Critical,
    /// ⚠️
    High,
    /// ⚙️ (the column's default)
    Medium,
    /// ℹ️
    Low,
    /// Any value outside the spec's list: sorts after `low`, like SQL's `CASE` giving NULL.
    #[serde(other)]
    Other,
}

impl BugSeverity {
    /// The spec's `CASE severity WHEN 'critical' THEN 1 ... END`: 1–4, None for anything
    /// else (which PostgreSQL sorts last in ascending order).
    ///
    /// ```
    /// use monitor_core::rows::BugSeverity;
    /// assert_eq!(BugSeverity::Critical.rank(), Some(1));
    /// assert_eq!(BugSeverity::Low.rank(), Some(4));
    /// assert_eq!(BugSeverity::Other.rank(), None);
    /// ```
    pub fn rank(self) -> Option<u8> {
        match self {
            BugSeverity::Critical => Some(1),
            BugSeverity::High => Some(2),
            BugSeverity::Medium => Some(3),
            BugSeverity::Low => Some(4),
            BugSeverity::Other => None,
        }
    }

    /// The badge: 🔥 critical, ⚠️ high, ⚙️ medium, ℹ️ low, ❔ other.
    ///
    /// ```
    /// use monitor_core::rows::BugSeverity;
    /// assert_eq!(BugSeverity::Critical.icon(), "🔥");
    /// let unknown: BugSeverity = serde_json::from_str(r#""blocker""#).unwrap();
    /// assert_eq!(unknown.icon(), "❔");
    /// ```
    pub fn icon(self) -> &'static str {
        match self {
            BugSeverity::Critical => "🔥",
            BugSeverity::High => "⚠️",
            BugSeverity::Medium => "⚙️",
            BugSeverity::Low => "ℹ️",
            BugSeverity::Other => "❔",
        }
    }
}

/// `bug_reports.status`.
///
/// ```
/// use monitor_core::rows::BugStatus;
/// let s: BugStatus = serde_json::from_str(r#""investigating""#).unwrap();
/// assert_eq!(s, BugStatus::Investigating);
/// let odd: BugStatus = serde_json::from_str(r#""wontfix""#).unwrap();
/// assert_eq!(odd, BugStatus::Other);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BugStatus {
    /// 🆕 (the column's default)
    New,
    /// 🔍
    Investigating,
    /// ✅
    Resolved,
    /// Dismissed.
    Ignored,
    /// Any value outside the spec's list.
    #[serde(other)]
    Other,
}

/// One `bug_reports` row.
///
/// ```
/// use monitor_core::rows::{BugReport, BugSeverity};
/// let b: BugReport = serde_json::from_str(r#"{"id":"00000000-0000-4000-8000-0000000000b1",
///   "error_message":"Upload failed","severity":"blocker","created_at":"2026-11-24T09:00:00Z"}"#).unwrap();
/// assert_eq!(b.severity, Some(BugSeverity::Other));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BugReport {
    /// Bug id.
    pub id: Uuid,
    /// Reporter (null once the profile is deleted).
    #[serde(default)]
    pub user_id: Option<Uuid>,
    /// Reporter's email at report time.
    #[serde(default)]
    pub user_email: Option<String>,
    /// Kind of error.
    #[serde(default)]
    pub error_type: Option<BugErrorType>,
    /// The message (NOT NULL).
    pub error_message: String,
    /// Stack trace.
    #[serde(default)]
    pub error_stack: Option<String>,
    /// Severity (default `medium`).
    #[serde(default)]
    pub severity: Option<BugSeverity>,
    /// Triage status (default `new`).
    #[serde(default)]
    pub status: Option<BugStatus>,
    /// Screen where it happened.
    #[serde(default)]
    pub screen_name: Option<String>,
    /// Component where it happened.
    #[serde(default)]
    pub component_name: Option<String>,
    /// What the user was doing.
    #[serde(default)]
    pub action: Option<String>,
    /// App version.
    #[serde(default)]
    pub app_version: Option<String>,
    /// Device facts.
    #[serde(default)]
    pub device_info: Option<serde_json::Value>,
    /// Anything else.
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    /// Report time.
    #[serde(default, deserialize_with = "crate::bounds::deserialize_sane_time")]
    pub created_at: Option<DateTime<Utc>>,
}

impl BugReport {
    /// The row as the monitoring shows it: texts cut as [`crate::bounds`] says (SQL:
    /// `private.monitoring_bug_json`; times already read through
    /// [`crate::bounds::deserialize_sane_time`]).
    ///
    /// ```
    /// use monitor_core::rows::BugReport;
    /// let bug: BugReport = serde_json::from_value(serde_json::json!({
    ///     "id": "00000000-0000-4000-8000-0000000000b1", "error_message": "é".repeat(5_000),
    /// }))
    /// .unwrap();
    /// assert_eq!(bug.bounded().error_message.chars().count(), 4_000);
    /// ```
    pub fn bounded(&self) -> BugReport {
        use crate::bounds::{
            MAX_CODE_CHARS, MAX_EMAIL_CHARS, MAX_MESSAGE_CHARS, MAX_SHORT_TEXT_CHARS,
            MAX_STACK_CHARS, cut, cut_owned,
        };
        BugReport {
            user_email: cut_owned(self.user_email.as_deref(), MAX_EMAIL_CHARS),
            error_message: cut(&self.error_message, MAX_MESSAGE_CHARS).to_owned(),
            error_stack: cut_owned(self.error_stack.as_deref(), MAX_STACK_CHARS),
            screen_name: cut_owned(self.screen_name.as_deref(), MAX_SHORT_TEXT_CHARS),
            component_name: cut_owned(self.component_name.as_deref(), MAX_SHORT_TEXT_CHARS),
            action: cut_owned(self.action.as_deref(), MAX_SHORT_TEXT_CHARS),
            app_version: cut_owned(self.app_version.as_deref(), MAX_CODE_CHARS),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_enum_values_read_as_other() {
        let bug: BugReport = serde_json::from_value(serde_json::json!({
            "id": "00000000-0000-4000-8000-0000000000b1",
            "error_message": "x", "error_type": "storage", "status": "wontfix",
            "severity": null
        }))
        .unwrap();
        assert_eq!(bug.error_type, Some(BugErrorType::Other));
        assert_eq!(bug.status, Some(BugStatus::Other));
        assert_eq!(bug.severity, None);
    }

    #[test]
    fn severities_sort_critical_first_and_unknown_last() {
        let mut all = [
            BugSeverity::Other,
            BugSeverity::Low,
            BugSeverity::Critical,
            BugSeverity::Medium,
            BugSeverity::High,
        ];
        all.sort();
        assert_eq!(all[0], BugSeverity::Critical);
        assert_eq!(all[4], BugSeverity::Other);
        assert_eq!(BugSeverity::Other.rank(), None);
    }

    #[test]
    fn a_blank_file_path_is_no_file() {
        let mut video: VideoRow = serde_json::from_value(
            serde_json::json!({"id": "00000000-0000-4000-8000-0000000000f1"}),
        )
        .unwrap();
        assert!(!video.has_file());
        video.file_path = Some("  ".into());
        assert!(!video.has_file());
        video.file_path = Some("videos/a.mov".into());
        assert!(video.has_file());
    }

    #[test]
    fn only_a_true_upload_failed_flag_counts() {
        let mut video: VideoRow = serde_json::from_value(
            serde_json::json!({"id": "00000000-0000-4000-8000-0000000000f1"}),
        )
        .unwrap();
        for (flag, failed) in [
            (serde_json::json!(true), true),
            (serde_json::json!("true"), true),
            (serde_json::json!(false), false),
            (serde_json::json!("TRUE"), false),
            (serde_json::json!(1), false),
        ] {
            video.metadata = Some(serde_json::json!({ "uploadFailed": flag }));
            assert_eq!(video.upload_failed(), failed);
        }
    }
}
