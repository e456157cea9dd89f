//! The upload event protocol: what the SDK sends to `report_upload_events(events jsonb)`.
//!
//! # Wire format
//!
//! The RPC takes one named argument, `events`: a JSON array of objects. Every object has
//! `id` (the event's UUID, generated on the device; the idempotency key), `upload_id` (the
//! upload's UUIDv7, generated on the device), `seq` (per-upload sequence number, starting
//! at 1 and strictly increasing on the device; gaps are allowed because the outbox may evict
//! superseded progress), `at` (device clock, RFC 3339) and `kind`, plus the fields of that
//! kind, flattened beside them:
//!
//! | kind | fields |
//! | --- | --- |
//! | `begin` | `local_id`, `video_title`?, `filename`, `file_size`?, `source`?, `metadata`?, `device`?, `user_id`? |
//! | `progress` | `bytes_sent`, `progress` (0–100), `upload_speed`? (MB/s) |
//! | `stage` | `stage` |
//! | `complete` | `video_id`? |
//! | `fail` | `error_code`, `error_message`, `retry_count`? (0–3) |
//! | `retry` | — |
//!
//! ```
//! use monitor_core::{EventPayload, UploadEvent};
//! let json = r#"{"id":"0192a7b0-0000-7000-8000-000000000001",
//!   "upload_id":"0192a7b0-0000-7000-8000-0000000000aa","seq":2,
//!   "at":"2026-11-24T09:00:00Z","kind":"progress","bytes_sent":1048576,"progress":10}"#;
//! let event: UploadEvent = serde_json::from_str(json).unwrap();
//! assert!(matches!(event.payload, EventPayload::Progress { progress: 10, .. }));
//! ```
//!
//! # Rules (the state machine, mirrored by the SQL ingest function)
//!
//! Events of one upload are applied in `seq` order (a batch is sorted per upload first).
//! An event whose `id` is already known is a `duplicate`. An event whose `seq` is not above
//! the upload's `last_seq` is `superseded`: a newer event already covers it, so a late
//! progress never moves an upload backwards. Otherwise:
//!
//! - `begin` creates the upload (`pending`, stage `validating`, progress 0). A second
//!   `begin` for an existing upload is rejected `already_begun`; a `local_id` already used by
//!   another upload of the same user is rejected `local_id_conflict`; a `user_id` that is not
//!   the caller's is rejected `forbidden`.
//! - Any other kind for an upload the caller cannot see is rejected `unknown_upload`.
//! - `progress`, `stage`, `complete` and `fail` on a terminal upload are rejected
//!   `terminal_state`.
//! - `progress`: `progress` must be 0–100 and `bytes_sent` between 0 and `file_size` (when
//!   known), else `out_of_range`. Sets status `uploading`, stage at least `uploading`;
//!   progress and bytes only grow (the larger value is kept).
//! - `stage`: must not be before the current stage (`stage_order`); at `uploading` or
//!   later a `pending` upload becomes `uploading`.
//! - `complete`: status `completed`, progress 100, `bytes_sent = file_size`, `completed_at`
//!   set, `video_id` kept when given.
//! - `fail`: `retry_count` above 3 is rejected `retry_limit`. Status `failed`,
//!   `error_code`/`error_message` set (message cut to [`MAX_ERROR_MESSAGE_CHARS`]),
//!   `retry_count` raised to the value given, `completed_at` set (the spec's cleanup keys
//!   finished rows on it).
//! - `retry`: only from `failed` (else `invalid_transition`) and only while
//!   `retry_count < 3` (else `retry_limit`). Status back to `pending`, stage `validating`,
//!   progress and bytes 0, error and `completed_at` cleared, `retry_requested_at` cleared,
//!   `retry_count + 1`.
//!
//! Every accepted event sets `last_seq = seq` and `client_updated_at = at`. Text fields are
//! stored as given (never interpreted as SQL), within the limits of [`crate::limits`]:
//! display texts too long are cut, identifiers and metadata too long are refused.
//!
//! ## Precisely (the order checks run in; the first that matches answers)
//!
//! `migrations/NOTES.md` ("Ingest decisions") lists the few things only the database adds
//! (whole-batch shape errors, the `profiles` row, `video_id`'s foreign key). Per event,
//! with `row` the upload's current row (if any) and `caller` = `auth.uid()`:
//!
//! 0. `duplicate` (see "Batches" below).
//! 1. `invalid_payload` when the event is malformed whatever the state: `seq < 1`; an `at`
//!    outside 2000-01-01..2100-01-01 ([`crate::limits`]); a `begin` with an empty
//!    `local_id` or `filename`, a `local_id` longer than 255 characters, a negative
//!    `file_size`, a `metadata` that is not a JSON object (`null` counts as absent) or is
//!    longer than 16 KiB as PostgreSQL prints it; a `fail` with a negative `retry_count`.
//!    (Missing fields and wrong JSON types are also `invalid_payload`: the SQL answers it
//!    where serde would fail to parse, e.g. an `upload_speed` beyond `f64`.)
//! 2. `forbidden` when a `begin` carries a `user_id` other than `caller`.
//! 3. No row: a `begin` is `local_id_conflict` when another upload of `caller` has the same
//!    `local_id` (an upload created earlier in the same batch counts), else applied (SQL
//!    only: `forbidden` when the caller has no `profiles` row); any other kind is
//!    `unknown_upload`.
//! 4. The row belongs to someone else: `forbidden` for a `begin`, `unknown_upload` for
//!    any other kind (the caller cannot see it, and must not learn its `last_seq`; an
//!    admin, who can read it, gets the same answers).
//! 5. `seq <= row.last_seq`: `superseded`, row unchanged.
//! 6. `begin`: `already_begun`.
//! 7. `progress`/`stage`/`complete`/`fail` on `completed` or `failed`: `terminal_state`.
//!    `retry` not on `failed`: `invalid_transition`; on `failed` with
//!    `retry_count >= 3`: `retry_limit`.
//! 8. Kind checks: `progress` with `progress` outside 0–100, `bytes_sent < 0`,
//!    `bytes_sent > file_size` (when `file_size` is known) or an `upload_speed` that is
//!    negative or above 100,000 MB/s: `out_of_range`. `stage` before the row's stage: `stage_order` (the same stage again
//!    is accepted; a row without a stage accepts any). `fail` with `retry_count > 3`:
//!    `retry_limit`.
//!
//! What an applied event writes (`now` is the server's clock; every applied event also
//! sets `last_seq = seq`, `client_updated_at = at`, `updated_at = now`):
//!
//! - `begin`: `user_id = caller`, the begin's fields (`video_title` cut to 500 characters,
//!   `filename` to 1,000, each `device` field to 100), `metadata` = the given object or
//!   `{}`, `device_info` = `device` as [`DeviceInfo`] serializes it (its four fields, nulls
//!   dropped; null when absent), status `pending`, stage
//!   `validating`, progress 0, `bytes_sent` 0, `retry_count` 0, `started_at = now`,
//!   everything else null. `source` = the given one, else `recorded` when
//!   `metadata.isRecorded` is JSON `true`, else `imported` when `metadata.isImported` is
//!   JSON `true`, else null. `duration` = `metadata.duration` when it is a JSON number from
//!   0 to 2147483647, rounded half away from zero (`round(numeric)`), else null.
//! - `progress`: status `uploading`; stage = the greater of the row's stage and
//!   `uploading`; `progress` and `bytes_sent` = the greater of row and event;
//!   `upload_speed` replaced when given, kept otherwise.
//! - `stage`: stage set; `pending` becomes `uploading` when the stage is `uploading` or
//!   later.
//! - `complete`: status `completed`, progress 100, `bytes_sent = file_size` when
//!   `file_size` is known (kept otherwise), `completed_at = now`, `video_id` replaced when
//!   given (SQL only: and when that `videos` row exists and the caller can see it, since
//!   the column is a foreign key; otherwise the completion applies without it); the stage
//!   is left as last reported.
//! - `fail`: status `failed`, `error_code` = its first 100 characters, `error_message` = its first 4000
//!   characters (characters, not bytes: `left(msg, 4000)`), `retry_count =
//!   greatest(row.retry_count, coalesce(event.retry_count, 0))`, `completed_at = now`;
//!   progress, bytes, speed and stage are kept (they show how far the attempt went).
//! - `retry`: status `pending`, stage `validating`, progress 0, `bytes_sent` 0,
//!   `upload_speed`, `error_code`, `error_message`, `completed_at` and
//!   `retry_requested_at` null, `retry_count + 1`, and `started_at = now`: the elapsed
//!   time, the timeout and the 24 h windows follow the current attempt.
//!
//! ## Batches
//!
//! `report_upload_events` answers one verdict per event, in input order. An event whose id
//! is already in `upload_events`, or appeared earlier in the same batch (the first
//! occurrence in input order is the one applied, whatever the later ones contain), is
//! `duplicate`. The other events are applied one by one in the order (position in the
//! batch of the upload's first non-duplicate event, `seq`, position in the batch); two
//! events of one upload with the same `seq` are thus applied first-come, the second
//! `superseded`. The only cross-upload effect is `local_id_conflict`: of two `begin`s
//! sharing a `local_id`, the upload whose turn comes first wins.
//!
//! # The record (`upload_queue` row) and the log (`upload_events`)
//!
//! `upload_queue` keeps every column of the spec (`id`, `user_id`, `video_title`, `filename`,
//! `file_size`, `status`, `progress`, `upload_speed`, `retry_count`, `error_message`,
//! `metadata`, `started_at`, `completed_at`, `updated_at`) and adds `local_id` (unique per
//! user), `stage`, `bytes_sent`, `source`, `duration` (seconds, from `metadata.duration`),
//! `error_code`, `video_id`, `last_seq`, `retry_requested_at`, `device_info` and
//! `client_updated_at`. `monitor_core`'s `UploadRecord` has exactly these fields and names.
//!
//! `upload_events` keeps an applied event when it is not a `progress`, or when it is the
//! first progress of an attempt, or when it crosses a 10-point milestone
//! (`progress / 10 > previous progress / 10`). A replayed progress that was not kept is
//! still harmless: its `seq` is not above `last_seq`, so it is `superseded`.
//!
//! Precisely: a `progress` is the first of its attempt when the row had `progress = 0` and
//! `bytes_sent = 0` before it; it crosses a milestone when (the row's progress after it,
//! i.e. the greater of the two) `/ 10 >` (the row's progress before it) `/ 10`, integer
//! division. Rejected, duplicate and superseded events are never kept, so only the ids of
//! kept events are known to later duplicate checks.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::status::{UploadSource, UploadStage};

/// The longest `error_message` kept (see [`crate::limits`], where every limit is listed).
pub use crate::limits::MAX_ERROR_MESSAGE_CHARS;

/// Retries allowed per upload ("Tentative n/3").
///
/// ```
/// use chrono::Utc;
/// use monitor_core::event::MAX_RETRIES;
/// use monitor_core::state_machine::validate_event;
/// use monitor_core::{EventPayload, RejectReason, UploadEvent};
/// use uuid::Uuid;
/// let fail = |retry_count: i32| UploadEvent {
///     id: Uuid::from_u128(1), upload_id: Uuid::from_u128(2), seq: 5, at: Utc::now(),
///     payload: EventPayload::Fail {
///         error_code: "network".into(), error_message: "timeout".into(),
///         retry_count: Some(retry_count),
///     },
/// };
/// assert_eq!(validate_event(&fail(i32::from(MAX_RETRIES))), Ok(()));
/// assert_eq!(validate_event(&fail(i32::from(MAX_RETRIES) + 1)), Err(RejectReason::RetryLimit));
/// ```
pub const MAX_RETRIES: u8 = 3;

/// One report about one upload, as the SDK sends it and the server logs it.
///
/// ```
/// use monitor_core::{EventPayload, UploadEvent, UploadStage};
/// use uuid::Uuid;
/// let event = UploadEvent {
///     id: Uuid::from_u128(1),
///     upload_id: Uuid::from_u128(0xaa),
///     seq: 3,
///     at: "2026-11-24T09:00:00Z".parse().unwrap(),
///     payload: EventPayload::Stage { stage: UploadStage::CreatingRecord },
/// };
/// // The payload's fields sit beside the envelope's, tagged by `kind`.
/// let json = serde_json::to_value(&event).unwrap();
/// assert_eq!((&json["kind"], &json["stage"]), (&"stage".into(), &"creating_record".into()));
/// assert_eq!(serde_json::from_value::<UploadEvent>(json).unwrap(), event);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadEvent {
    /// Client-generated event id: the idempotency key.
    pub id: Uuid,
    /// The upload this event is about (`upload_queue.id`).
    pub upload_id: Uuid,
    /// Per-upload sequence number, from 1, strictly increasing on the device.
    pub seq: i64,
    /// When it happened, by the device's clock.
    pub at: DateTime<Utc>,
    /// What happened.
    #[serde(flatten)]
    pub payload: EventPayload,
}

/// What happened to an upload; the JSON `kind` tag picks the variant.
///
/// ```
/// use monitor_core::EventPayload;
/// let retry: EventPayload = serde_json::from_str(r#"{"kind":"retry"}"#).unwrap();
/// assert_eq!(retry, EventPayload::Retry);
/// // Optional fields may be left out.
/// let done: EventPayload = serde_json::from_str(r#"{"kind":"complete"}"#).unwrap();
/// assert_eq!(done, EventPayload::Complete { video_id: None });
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventPayload {
    /// The app created the upload (the spec's `createUploadQueueRecord`).
    Begin {
        /// The app's own queue id (`ImportVideoItem.id`, `PendingVideo.id`), unique per user.
        local_id: String,
        /// Video title (`video_title`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        video_title: Option<String>,
        /// File name of the video.
        filename: String,
        /// Size in bytes, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file_size: Option<i64>,
        /// Recorded or imported.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<UploadSource>,
        /// The app's item metadata (duration, orientation, chapterId...).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metadata: Option<serde_json::Value>,
        /// Device facts (platform, OS and app versions).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<DeviceInfo>,
        /// The user the device believes it is; must be the caller when present.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_id: Option<Uuid>,
    },
    /// Bytes sent so far (the spec's `updateUploadProgress`).
    Progress {
        /// Bytes sent so far.
        bytes_sent: i64,
        /// Percent, 0–100 (floored, as the spec's `Math.floor(progress)`).
        progress: i32,
        /// Smoothed speed in MB/s.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        upload_speed: Option<f64>,
    },
    /// The pipeline moved to a new step.
    Stage {
        /// The step now running.
        stage: UploadStage,
    },
    /// The pipeline finished (the spec's `completeUploadQueue`).
    Complete {
        /// The `videos` row created for it, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        video_id: Option<Uuid>,
    },
    /// The attempt failed (the spec's `failUploadQueue`).
    Fail {
        /// Machine-readable cause (`network`, `timeout`, `stale`, `interrupted`...).
        error_code: String,
        /// Human-readable message; cut to [`MAX_ERROR_MESSAGE_CHARS`] by the server.
        error_message: String,
        /// Attempts used so far, 0–3.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_count: Option<i32>,
    },
    /// A new attempt of a failed upload.
    Retry,
}

impl EventPayload {
    /// The wire `kind` of this payload.
    ///
    /// ```
    /// use monitor_core::EventPayload;
    /// assert_eq!(EventPayload::Retry.kind(), "retry");
    /// let progress = EventPayload::Progress { bytes_sent: 0, progress: 0, upload_speed: None };
    /// assert_eq!(serde_json::to_value(&progress).unwrap()["kind"], progress.kind());
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            EventPayload::Begin { .. } => "begin",
            EventPayload::Progress { .. } => "progress",
            EventPayload::Stage { .. } => "stage",
            EventPayload::Complete { .. } => "complete",
            EventPayload::Fail { .. } => "fail",
            EventPayload::Retry => "retry",
        }
    }

    /// Makes the payload fit [`crate::limits`]: removes NUL from every string (metadata keys
    /// and values included) except `local_id`, and cuts the display texts (title, filename,
    /// device fields, error code and message) to their limits, as the server would store
    /// them. What cannot be cut (`local_id`, `metadata` size) is left for
    /// [`crate::state_machine::validate_event`] to refuse. The SDK calls it on every event
    /// it builds, so an event in its outbox is one the server can store.
    ///
    /// ```
    /// use monitor_core::limits::MAX_VIDEO_TITLE_CHARS;
    /// use monitor_core::EventPayload;
    /// let mut fail = EventPayload::Fail {
    ///     error_code: "net\0work".into(), error_message: "x".repeat(5_000), retry_count: None,
    /// };
    /// fail.normalize();
    /// let EventPayload::Fail { error_code, error_message, .. } = fail else { unreachable!() };
    /// assert_eq!((error_code.as_str(), error_message.len()), ("network", 4_000));
    /// # let _ = MAX_VIDEO_TITLE_CHARS;
    /// ```
    pub fn normalize(&mut self) {
        use crate::limits::{
            MAX_DEVICE_FIELD_CHARS, MAX_ERROR_CODE_CHARS, MAX_ERROR_MESSAGE_CHARS,
            MAX_FILENAME_CHARS, MAX_VIDEO_TITLE_CHARS, cut_in_place, strip_nul, strip_nul_json,
        };
        let fit = |text: &mut String, max: usize| {
            strip_nul(text);
            cut_in_place(text, max);
        };
        match self {
            EventPayload::Begin {
                video_title,
                filename,
                metadata,
                device,
                ..
            } => {
                if let Some(title) = video_title {
                    fit(title, MAX_VIDEO_TITLE_CHARS);
                }
                fit(filename, MAX_FILENAME_CHARS);
                if let Some(metadata) = metadata {
                    strip_nul_json(metadata);
                }
                if let Some(device) = device {
                    for field in [
                        &mut device.platform,
                        &mut device.os_version,
                        &mut device.app_version,
                        &mut device.model,
                    ]
                    .into_iter()
                    .flatten()
                    {
                        fit(field, MAX_DEVICE_FIELD_CHARS);
                    }
                }
            }
            EventPayload::Fail {
                error_code,
                error_message,
                ..
            } => {
                fit(error_code, MAX_ERROR_CODE_CHARS);
                fit(error_message, MAX_ERROR_MESSAGE_CHARS);
            }
            EventPayload::Progress { .. }
            | EventPayload::Stage { .. }
            | EventPayload::Complete { .. }
            | EventPayload::Retry => {}
        }
    }

    /// Terminal events (complete, fail, retry) bypass rate limiting and are made durable
    /// before the SDK call returns.
    ///
    /// ```
    /// use monitor_core::EventPayload;
    /// assert!(EventPayload::Complete { video_id: None }.is_terminal_report());
    /// assert!(EventPayload::Retry.is_terminal_report());
    /// let progress = EventPayload::Progress { bytes_sent: 10, progress: 1, upload_speed: None };
    /// assert!(!progress.is_terminal_report());
    /// ```
    pub fn is_terminal_report(&self) -> bool {
        matches!(
            self,
            EventPayload::Complete { .. } | EventPayload::Fail { .. } | EventPayload::Retry
        )
    }
}

/// What the device says about itself, stored in `upload_queue.device_info`.
///
/// ```
/// use monitor_core::DeviceInfo;
/// let device = DeviceInfo {
///     platform: Some("ios".into()),
///     app_version: Some("2.3.0".into()),
///     ..Default::default()
/// };
/// // Unknown facts are left out, not sent as null.
/// assert_eq!(serde_json::to_string(&device).unwrap(), r#"{"platform":"ios","app_version":"2.3.0"}"#);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// `ios` or `android`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// OS version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// App version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// Device model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}
