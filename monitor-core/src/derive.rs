//! Phase 1: an upload's status derived from a `videos` row, for apps that do not report
//! to `upload_queue` yet.
//!
//! The spec gives three hints: a stored file and a row created under 5 minutes ago is
//! `completed`; no file and a row created under 30 minutes ago is `uploading`;
//! `metadata.uploadFailed` means `failed`. It leaves the rest open; the answers here (the
//! SQL fallback view mirrors them), first that applies:
//!
//! 1. `metadata->>'uploadFailed' = 'true'` (JSON `true` or `"true"`): `failed`, whatever
//!    the file says: the app knows better than a timestamp. ([`Derivation::MarkedFailed`])
//! 2. A file (`file_path` not blank): `completed`, however old. The 5-minute window only
//!    separates a fresh completion ([`Derivation::JustStored`]) from history
//!    ([`Derivation::Stored`]): a stored video never turns back into anything else.
//! 3. No file and created less than 30 minutes ago (`created_at > now - 30 min`):
//!    `uploading`. ([`Derivation::AwaitingFile`])
//! 4. No file for 30 minutes or more, or no `created_at` at all (one outside 2000–2100
//!    counts as none: [`crate::bounds`]): `failed`, by the same 30 minutes as the stale
//!    rule. ([`Derivation::Abandoned`])
//!
//! A `created_at` in the future (a skewed clock) counts as just created.

use chrono::{DateTime, Duration, Utc};

use crate::bounds::{
    MAX_EMAIL_CHARS, MAX_FILENAME_CHARS, MAX_MESSAGE_CHARS, MAX_NAME_CHARS, MAX_TITLE_CHARS, cut,
    cut_owned, sane_time,
};
use crate::monitoring::{ItemOrigin, UploadMonitorItem, seconds_between};
use crate::rows::{Profile, TranscriptionJob, VideoRow};
use crate::stale::{STALE_AFTER, STALE_ERROR_CODE};
use crate::status::{UploadSource, UploadStatus};

/// A stored file younger than this is a fresh completion (the spec's 5 minutes).
///
/// ```
/// use chrono::{DateTime, Duration, Utc};
/// use monitor_core::derive::{derive_status, Derivation, JUST_STORED_WITHIN};
/// use monitor_core::rows::VideoRow;
/// let now: DateTime<Utc> = "2026-11-24T10:00:00Z".parse().unwrap();
/// let video = |file_path: Option<&str>, age: Duration| -> VideoRow {
///     serde_json::from_value(serde_json::json!({
///         "id": "00000000-0000-4000-8000-0000000000f1", "file_path": file_path,
///         "created_at": now - age,
///     }))
///     .unwrap()
/// };
/// let file = Some("https://x.supabase.co/storage/v1/object/public/videos/u/a.mov");
/// let fresh = video(file, JUST_STORED_WITHIN - Duration::seconds(1));
/// assert_eq!(derive_status(&fresh, now), Derivation::JustStored);
/// assert_eq!(derive_status(&video(file, JUST_STORED_WITHIN), now), Derivation::Stored);
/// ```
pub const JUST_STORED_WITHIN: Duration = Duration::minutes(5);

/// A video row without a file younger than this is still uploading (the spec's 30
/// minutes, the same silence as the stale rule).
///
/// ```
/// use chrono::{DateTime, Duration, Utc};
/// use monitor_core::derive::{derive_status, Derivation, AWAITING_FILE_WITHIN};
/// use monitor_core::rows::VideoRow;
/// let now: DateTime<Utc> = "2026-11-24T10:00:00Z".parse().unwrap();
/// let video = |file_path: Option<&str>, age: Duration| -> VideoRow {
///     serde_json::from_value(serde_json::json!({
///         "id": "00000000-0000-4000-8000-0000000000f1", "file_path": file_path,
///         "created_at": now - age,
///     }))
///     .unwrap()
/// };
/// let waiting = video(None, AWAITING_FILE_WITHIN - Duration::seconds(1));
/// assert_eq!(derive_status(&waiting, now), Derivation::AwaitingFile);
/// assert_eq!(derive_status(&video(None, AWAITING_FILE_WITHIN), now), Derivation::Abandoned);
/// ```
pub const AWAITING_FILE_WITHIN: Duration = STALE_AFTER;

/// The `error_code` of an upload the app flagged with `metadata.uploadFailed`.
///
/// ```
/// use monitor_core::derive::{derive_item, APP_FLAGGED_ERROR_CODE};
/// use monitor_core::rows::VideoRow;
/// use monitor_core::UploadStatus;
/// // A stored file, but the app says the upload failed.
/// let video: VideoRow = serde_json::from_str(r#"{"id":"00000000-0000-4000-8000-0000000000f1",
///   "file_path":"https://x.supabase.co/storage/v1/object/public/videos/u/a.mov",
///   "metadata":{"uploadFailed":true,"uploadError":"Thumbnail upload failed"},
///   "created_at":"2026-11-24T09:58:00Z"}"#).unwrap();
/// let item = derive_item(&video, None, None, "2026-11-24T10:00:00Z".parse().unwrap());
/// assert_eq!(item.status, UploadStatus::Failed);
/// assert_eq!(item.error_code.as_deref(), Some(APP_FLAGGED_ERROR_CODE));
/// assert_eq!(item.error_message.as_deref(), Some("Thumbnail upload failed"));
/// ```
pub const APP_FLAGGED_ERROR_CODE: &str = "app_reported";

/// Which rule gave the status (the module docs list them in order).
///
/// ```
/// use monitor_core::derive::{derive_status, Derivation};
/// use monitor_core::rows::VideoRow;
/// use monitor_core::UploadStatus;
/// // No file and no creation time: nothing says it is still on its way.
/// let video: VideoRow = serde_json::from_str(r#"{"id":"00000000-0000-4000-8000-0000000000f1"}"#).unwrap();
/// let how = derive_status(&video, "2026-11-24T10:00:00Z".parse().unwrap());
/// assert_eq!(how, Derivation::Abandoned);
/// assert_eq!(how.status(), UploadStatus::Failed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Derivation {
    /// `metadata.uploadFailed` is true: failed.
    MarkedFailed,
    /// File stored, row created under 5 minutes ago: completed.
    JustStored,
    /// File stored, row older: completed.
    Stored,
    /// No file yet, row created under 30 minutes ago: uploading.
    AwaitingFile,
    /// No file after 30 minutes (or no creation time): failed.
    Abandoned,
}

impl Derivation {
    /// The status this rule gives.
    ///
    /// ```
    /// use monitor_core::derive::Derivation;
    /// use monitor_core::UploadStatus;
    /// assert_eq!(Derivation::AwaitingFile.status(), UploadStatus::Uploading);
    /// assert_eq!(Derivation::JustStored.status(), Derivation::Stored.status());
    /// assert_eq!(Derivation::MarkedFailed.status(), UploadStatus::Failed);
    /// ```
    pub fn status(self) -> UploadStatus {
        match self {
            Derivation::MarkedFailed | Derivation::Abandoned => UploadStatus::Failed,
            Derivation::JustStored | Derivation::Stored => UploadStatus::Completed,
            Derivation::AwaitingFile => UploadStatus::Uploading,
        }
    }
}

/// The rule that applies to `video` at `now`.
///
/// ```
/// use monitor_core::derive::{derive_status, Derivation};
/// use monitor_core::rows::VideoRow;
/// let video: VideoRow = serde_json::from_str(r#"{"id":"00000000-0000-4000-8000-0000000000f1",
///   "file_path":null,"created_at":"2026-11-24T09:50:00Z"}"#).unwrap();
/// let now = "2026-11-24T10:00:00Z".parse().unwrap();
/// assert_eq!(derive_status(&video, now), Derivation::AwaitingFile);
/// ```
pub fn derive_status(video: &VideoRow, now: DateTime<Utc>) -> Derivation {
    if video.upload_failed() {
        return Derivation::MarkedFailed;
    }
    let created = video.created_at.and_then(sane_time);
    let within = |window: Duration| created.is_some_and(|at| at > now - window);
    match (
        video.has_file(),
        within(JUST_STORED_WITHIN),
        within(AWAITING_FILE_WITHIN),
    ) {
        (true, true, _) => Derivation::JustStored,
        (true, false, _) => Derivation::Stored,
        (false, _, true) => Derivation::AwaitingFile,
        (false, _, false) => Derivation::Abandoned,
    }
}

/// The upload card for a `videos` row (Phase 1), with the owner's profile and the video's
/// transcription job when known.
///
/// Fields: `id` and `videoId` = the video's id; `filename` = the last path segment of
/// `file_path` without query string (`""` when there is no file); `fileSize` null (videos
/// do not store it); `progress` 100 when completed, else 0; `retryCount` 0; `startedAt` =
/// `completedAt` (terminal only) = `created_at` (`now` when null); `elapsedTime` as for
/// reported uploads; `errorCode` `app_reported` or `stale` for the two failed rules, with
/// `metadata.uploadError` (when a string) or a fixed English sentence as `errorMessage`;
/// `source` from the metadata flags ([`UploadSource::from_metadata`]); never stale (its
/// failure is already decided).
///
/// ```
/// use monitor_core::derive::derive_item;
/// use monitor_core::rows::VideoRow;
/// use monitor_core::UploadStatus;
/// let video: VideoRow = serde_json::from_str(r#"{"id":"00000000-0000-4000-8000-0000000000f1",
///   "file_path":"https://x.supabase.co/storage/v1/object/public/videos/u/a.mov?t=1",
///   "created_at":"2026-11-24T09:58:00Z"}"#).unwrap();
/// let item = derive_item(&video, None, None, "2026-11-24T10:00:00Z".parse().unwrap());
/// assert_eq!(item.status, UploadStatus::Completed);
/// assert_eq!(item.filename, "a.mov");
/// ```
pub fn derive_item(
    video: &VideoRow,
    profile: Option<&Profile>,
    transcription: Option<&TranscriptionJob>,
    now: DateTime<Utc>,
) -> UploadMonitorItem {
    let how = derive_status(video, now);
    let status = how.status();
    let started_at = video.created_at.and_then(sane_time).unwrap_or(now);
    let completed_at = status.is_terminal().then_some(started_at);
    let (error_code, error_message) = match how {
        Derivation::MarkedFailed => (
            Some(APP_FLAGGED_ERROR_CODE.to_owned()),
            Some(app_failure_message(video)),
        ),
        Derivation::Abandoned => (
            Some(STALE_ERROR_CODE.to_owned()),
            Some("No file stored 30 minutes after the video was created".to_owned()),
        ),
        _ => (None, None),
    };
    UploadMonitorItem {
        id: video.id,
        user_id: video.user_id,
        user_email: cut_owned(profile.and_then(|p| p.email.as_deref()), MAX_EMAIL_CHARS),
        video_title: cut_owned(video.title.as_deref(), MAX_TITLE_CHARS),
        filename: cut(
            &video
                .file_path
                .as_deref()
                .map(file_name)
                .unwrap_or_default(),
            MAX_FILENAME_CHARS,
        )
        .to_owned(),
        file_size: None,
        status,
        progress: if status == UploadStatus::Completed {
            100
        } else {
            0
        },
        upload_speed: None,
        retry_count: 0,
        error_message,
        started_at: Some(started_at),
        completed_at,
        elapsed_time: Some(seconds_between(started_at, completed_at.unwrap_or(now))),
        metadata: video.metadata.clone(),
        local_id: None,
        stage: None,
        source: video
            .metadata
            .as_ref()
            .and_then(UploadSource::from_metadata),
        error_code,
        bytes_sent: 0,
        duration: video.duration,
        video_id: Some(video.id),
        updated_at: video.updated_at.and_then(sane_time),
        user_first_name: cut_owned(
            profile.and_then(|p| p.first_name.as_deref()),
            MAX_NAME_CHARS,
        ),
        user_last_name: cut_owned(profile.and_then(|p| p.last_name.as_deref()), MAX_NAME_CHARS),
        is_stale: false,
        transcription_status: transcription.map(|t| t.status),
        origin: ItemOrigin::Videos,
    }
}

/// A reported upload's card (its `upload_queue` row linked to `video` by `video_id`) with
/// the app's failure flag applied: when the app flagged the video
/// ([`VideoRow::upload_failed`]) and the row is not failed, the card's `errorCode` is
/// [`APP_FLAGGED_ERROR_CODE`] and its `errorMessage` [`app_failure_message`]'s, as the video's
/// own card would say. Its status stays the row's (the bytes did arrive). A failed row keeps
/// its own error: it tells the story. (SQL: `private.monitoring_linked_error_keys`.)
///
/// ```
/// use monitor_core::derive::{flag_linked_card, APP_FLAGGED_ERROR_CODE};
/// use monitor_core::monitoring::UploadMonitorItem;
/// use monitor_core::rows::VideoRow;
/// use monitor_core::UploadStatus;
/// let mut card: UploadMonitorItem = serde_json::from_str(r#"{"id":"0192a7b0-0000-7000-8000-0000000000aa",
///   "userId":null,"userEmail":null,"videoTitle":null,"filename":"a.mov","fileSize":null,
///   "status":"completed","progress":100,"retryCount":0,"startedAt":"2026-11-24T09:00:00Z",
///   "videoId":"00000000-0000-4000-8000-0000000000f1"}"#).unwrap();
/// let video: VideoRow = serde_json::from_str(r#"{"id":"00000000-0000-4000-8000-0000000000f1",
///   "metadata":{"uploadFailed":true,"uploadError":"Thumbnail upload failed"}}"#).unwrap();
/// flag_linked_card(&mut card, &video);
/// assert_eq!(card.status, UploadStatus::Completed);
/// assert_eq!(card.error_code.as_deref(), Some(APP_FLAGGED_ERROR_CODE));
/// assert_eq!(card.error_message.as_deref(), Some("Thumbnail upload failed"));
/// ```
pub fn flag_linked_card(card: &mut UploadMonitorItem, video: &VideoRow) {
    if card.status != UploadStatus::Failed && video.upload_failed() {
        card.error_code = Some(APP_FLAGGED_ERROR_CODE.to_owned());
        card.error_message = Some(app_failure_message(video));
    }
}

/// The message of a failure the app flagged (`metadata.uploadFailed`): its
/// `metadata.uploadError` when that is a string, else a fixed English sentence; cut to
/// [`MAX_MESSAGE_CHARS`].
///
/// ```
/// use monitor_core::derive::app_failure_message;
/// use monitor_core::rows::VideoRow;
/// let mut video: VideoRow = serde_json::from_str(r#"{"id":"00000000-0000-4000-8000-0000000000f1",
///   "metadata":{"uploadFailed":true,"uploadError":42}}"#).unwrap();
/// // Not a string: the sentence stands in.
/// assert_eq!(app_failure_message(&video), "The app marked this upload as failed");
/// video.metadata = Some(serde_json::json!({"uploadFailed": true, "uploadError": "Réseau perdu"}));
/// assert_eq!(app_failure_message(&video), "Réseau perdu");
/// ```
pub fn app_failure_message(video: &VideoRow) -> String {
    let message = video
        .metadata
        .as_ref()
        .and_then(|m| m.get("uploadError"))
        .and_then(|e| e.as_str())
        .unwrap_or("The app marked this upload as failed");
    cut(message, MAX_MESSAGE_CHARS).to_owned()
}

/// The last segment of a path or URL, without query string or fragment
/// (`.../videos/a.mov?token=x` gives `a.mov`).
///
/// ```
/// assert_eq!(monitor_core::derive::file_name("file:///var/mobile/backup_1.mov"), "backup_1.mov");
/// assert_eq!(monitor_core::derive::file_name("backup_1.mov"), "backup_1.mov");
/// ```
pub fn file_name(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "Now" for every case: 2026-11-24 10:00 UTC.
    fn now() -> DateTime<Utc> {
        "2026-11-24T10:00:00Z".parse().unwrap()
    }

    fn video(
        file_path: Option<&str>,
        minutes_ago: Option<i64>,
        meta: serde_json::Value,
    ) -> VideoRow {
        VideoRow {
            id: uuid::Uuid::from_u128(0xf1),
            user_id: Some(uuid::Uuid::from_u128(1)),
            title: Some("Demo".into()),
            file_path: file_path.map(str::to_owned),
            thumbnail_path: None,
            thumbnail_frames: None,
            duration: Some(30),
            metadata: Some(meta),
            created_at: minutes_ago.map(|m| now() - Duration::minutes(m)),
            updated_at: None,
        }
    }

    const FILE: Option<&str> = Some("https://x.supabase.co/storage/v1/object/public/videos/a.mov");

    #[test]
    fn a_fresh_stored_video_is_just_completed_and_an_old_one_still_completed() {
        let empty = serde_json::json!({});
        assert_eq!(
            derive_status(&video(FILE, Some(4), empty.clone()), now()),
            Derivation::JustStored
        );
        assert_eq!(
            derive_status(&video(FILE, Some(5), empty.clone()), now()),
            Derivation::Stored
        );
        assert_eq!(
            derive_status(&video(FILE, None, empty), now()),
            Derivation::Stored
        );
    }

    #[test]
    fn a_video_without_file_uploads_for_thirty_minutes_then_fails() {
        let empty = serde_json::json!({});
        assert_eq!(
            derive_status(&video(None, Some(29), empty.clone()), now()),
            Derivation::AwaitingFile
        );
        assert_eq!(
            derive_status(&video(Some(""), Some(0), empty.clone()), now()),
            Derivation::AwaitingFile
        );
        assert_eq!(
            derive_status(&video(None, Some(-3), empty.clone()), now()),
            Derivation::AwaitingFile
        );
        assert_eq!(
            derive_status(&video(None, Some(30), empty.clone()), now()),
            Derivation::Abandoned
        );
        assert_eq!(
            derive_status(&video(None, None, empty), now()),
            Derivation::Abandoned
        );
    }

    #[test]
    fn the_app_failure_flag_wins_over_a_stored_file() {
        let flagged =
            serde_json::json!({"uploadFailed": true, "uploadError": "Network request failed"});
        let v = video(FILE, Some(1), flagged);
        assert_eq!(derive_status(&v, now()), Derivation::MarkedFailed);
        let item = derive_item(&v, None, None, now());
        assert_eq!(item.status, UploadStatus::Failed);
        assert_eq!(item.error_code.as_deref(), Some(APP_FLAGGED_ERROR_CODE));
        assert_eq!(
            item.error_message.as_deref(),
            Some("Network request failed")
        );
    }

    #[test]
    fn a_derived_item_carries_the_profile_source_and_transcription() {
        let profile = Profile {
            id: uuid::Uuid::from_u128(1),
            email: Some("jd@example.com".into()),
            first_name: Some("John".into()),
            last_name: Some("Doe".into()),
            language: None,
            created_at: None,
            updated_at: None,
        };
        let job: TranscriptionJob = serde_json::from_value(serde_json::json!({
            "id": "00000000-0000-4000-8000-0000000000c1", "status": "failed"
        }))
        .unwrap();
        let v = video(None, Some(10), serde_json::json!({"isRecorded": true}));
        let item = derive_item(&v, Some(&profile), Some(&job), now());
        assert_eq!(item.status, UploadStatus::Uploading);
        assert_eq!(item.progress, 0);
        assert_eq!(item.completed_at, None);
        assert_eq!(item.elapsed_time, Some(600.0));
        assert_eq!(item.user_email.as_deref(), Some("jd@example.com"));
        assert_eq!(item.source, Some(UploadSource::Recorded));
        assert_eq!(
            item.transcription_status,
            Some(crate::rows::TranscriptionStatus::Failed)
        );
        assert_eq!(item.origin, ItemOrigin::Videos);
        assert_eq!(item.filename, "");
    }

    #[test]
    fn a_linked_card_shows_the_apps_failure_unless_its_row_failed() {
        let flagged = video(
            FILE,
            Some(1),
            serde_json::json!({"uploadFailed": true, "uploadError": "Thumbnail upload failed"}),
        );
        let mut completed = derive_item(
            &video(FILE, Some(1), serde_json::json!({})),
            None,
            None,
            now(),
        );
        assert_eq!(completed.error_code, None);
        flag_linked_card(&mut completed, &flagged);
        assert_eq!(completed.status, UploadStatus::Completed);
        assert_eq!(
            completed.error_code.as_deref(),
            Some(APP_FLAGGED_ERROR_CODE)
        );
        assert_eq!(
            completed.error_message.as_deref(),
            Some("Thumbnail upload failed")
        );

        let mut failed = completed.clone();
        failed.status = UploadStatus::Failed;
        failed.error_code = Some("network".into());
        failed.error_message = Some("Network request failed".into());
        flag_linked_card(&mut failed, &flagged);
        assert_eq!(failed.error_code.as_deref(), Some("network"));

        let mut unflagged = derive_item(
            &video(FILE, Some(1), serde_json::json!({})),
            None,
            None,
            now(),
        );
        flag_linked_card(
            &mut unflagged,
            &video(FILE, Some(1), serde_json::json!({"uploadFailed": "yes"})),
        );
        assert_eq!(unflagged.error_code, None);
    }

    #[test]
    fn file_names_come_from_urls_and_paths() {
        assert_eq!(file_name("https://h/a/b/c.mov?x=1#f"), "c.mov");
        assert_eq!(
            file_name("/Documents/video_backups/backup_9.mov"),
            "backup_9.mov"
        );
        assert_eq!(file_name(""), "");
    }
}
