//! The app's AsyncStorage formats, `@pending_videos` (`PendingVideo[]`) and
//! `@import_queue_state` (`ImportQueueState`), parsed and validated exactly as the spec
//! defines them, and what each item means for `upload_queue`.
//!
//! The SDK reads these keys once, when it is first installed in an app that already has
//! uploads in flight, and turns every item into events ([`ImportedUpload::payloads`]) so
//! the dashboard sees them too.
//!
//! Validation: a field with the wrong type, a missing required field, or a number out of
//! the spec's range is an [`AsyncStorageError`] naming the key, the item's index and the
//! field (`@import_queue_state.items[3].retryCount: must be an integer from 0 to 3, got
//! 7`). Unknown extra fields are ignored (and kept in `metadata` where the item has one).
//! An optional field holding JSON `null` counts as absent (JSON has no `undefined`). The
//! lenient parsers keep every valid item and report the others, so one bad item never
//! hides the rest.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::event::{EventPayload, MAX_RETRIES};
use crate::status::{UploadSource, UploadStatus};

/// The AsyncStorage key of `VideoBackupService`'s backups.
///
/// ```
/// use monitor_core::async_storage::{parse_pending_videos, AsyncStorageError, PENDING_VIDEOS_KEY};
/// // Errors name the key they come from.
/// let err = parse_pending_videos("[{").unwrap_err();
/// assert!(matches!(err, AsyncStorageError::NotJson { key: PENDING_VIDEOS_KEY, .. }));
/// ```
pub const PENDING_VIDEOS_KEY: &str = "@pending_videos";

/// The AsyncStorage key of `ImportQueueManager`'s state.
///
/// ```
/// use monitor_core::async_storage::{parse_import_queue_state, IMPORT_QUEUE_STATE_KEY};
/// let err = parse_import_queue_state(r#"{"items": 3}"#).unwrap_err().to_string();
/// assert!(err.starts_with(IMPORT_QUEUE_STATE_KEY));
/// assert_eq!(err, "@import_queue_state.items: must be an array");
/// ```
pub const IMPORT_QUEUE_STATE_KEY: &str = "@import_queue_state";

/// `PendingVideo.uploadAttempts` is 0–5 (the spec's range: the backup service tries 5 times).
///
/// ```
/// use monitor_core::async_storage::{parse_pending_videos, MAX_UPLOAD_ATTEMPTS};
/// let stored = |attempts: i64| {
///     format!(
///         r#"[{{"id":"pending_1","localUri":"backup_1.mov","title":"",
///         "userId":"00000000-0000-4000-8000-000000000001","createdAt":"2026-11-24T09:00:00Z",
///         "uploadAttempts":{attempts},"fileSize":1}}]"#
///     )
/// };
/// assert!(parse_pending_videos(&stored(MAX_UPLOAD_ATTEMPTS)).is_ok());
/// assert_eq!(
///     parse_pending_videos(&stored(MAX_UPLOAD_ATTEMPTS + 1)).unwrap_err().to_string(),
///     "@pending_videos[0].uploadAttempts: must be from 0 to 5, got 6"
/// );
/// ```
pub const MAX_UPLOAD_ATTEMPTS: i64 = 5;

/// The `error_code` of an item the app's queue already marked failed.
///
/// ```
/// use monitor_core::async_storage::{parse_import_queue_state, ImportedUpload, IMPORTED_FAILURE_CODE};
/// use monitor_core::EventPayload;
/// let stored = r#"{"items":[{"id":"import_1_0","uri":"file:///a.mov","filename":"a.mov",
///   "status":"failed","progress":0,"error":"Network request failed","retryCount":0}],
///   "currentIndex":1,"isProcessing":false,"totalCount":1,"completedCount":0,"failedCount":1}"#;
/// let state = parse_import_queue_state(stored).unwrap().unwrap();
/// let payloads = ImportedUpload::from(&state.items[0]).payloads();
/// assert!(matches!(&payloads[1],
///     EventPayload::Fail { error_code, error_message, .. }
///         if error_code == IMPORTED_FAILURE_CODE && error_message == "Network request failed"));
/// ```
pub const IMPORTED_FAILURE_CODE: &str = "import_queue";

/// The `error_code` of the attempts an imported item used before the SDK saw it.
///
/// ```
/// use monitor_core::async_storage::{parse_import_queue_state, ImportedUpload, INTERRUPTED_CODE};
/// use monitor_core::EventPayload;
/// // Uploading on its second attempt when the SDK was installed.
/// let stored = r#"{"items":[{"id":"import_1_0","uri":"file:///a.mov","filename":"a.mov",
///   "status":"uploading","progress":50,"retryCount":1}],
///   "currentIndex":0,"isProcessing":true,"totalCount":1,"completedCount":0,"failedCount":0}"#;
/// let state = parse_import_queue_state(stored).unwrap().unwrap();
/// let payloads = ImportedUpload::from(&state.items[0]).payloads();
/// let kinds: Vec<&str> = payloads.iter().map(EventPayload::kind).collect();
/// assert_eq!(kinds, ["begin", "fail", "retry", "progress"]);
/// assert!(matches!(&payloads[1],
///     EventPayload::Fail { error_code, retry_count: Some(0), .. } if error_code == INTERRUPTED_CODE));
/// ```
pub const INTERRUPTED_CODE: &str = "interrupted";

/// What is wrong with a field.
///
/// ```
/// use monitor_core::async_storage::{parse_pending_videos, AsyncStorageError, Problem};
/// // No `userId`.
/// let stored = r#"[{"id":"pending_1","localUri":"backup_1.mov","title":"",
///   "createdAt":"2026-11-24T09:00:00Z","uploadAttempts":0,"fileSize":1}]"#;
/// let Err(AsyncStorageError::Field { problem, .. }) = parse_pending_videos(stored) else {
///     panic!("a field error")
/// };
/// assert_eq!(problem, Problem::Missing);
/// assert_eq!(problem.to_string(), "is required");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// A required field is absent (or JSON null).
    Missing,
    /// The field has another JSON type.
    WrongType {
        /// What the spec wants ("a string", "an integer"...).
        expected: &'static str,
    },
    /// A number outside the spec's range.
    OutOfRange {
        /// Smallest allowed.
        min: i64,
        /// Largest allowed.
        max: i64,
        /// What was found, as written in the JSON.
        got: String,
    },
    /// A string that must not be empty is.
    Empty,
    /// Not an ISO 8601 / RFC 3339 timestamp.
    BadTimestamp,
    /// Not a UUID.
    BadUuid,
    /// A value outside the spec's list (status, orientation).
    UnknownValue {
        /// The allowed values.
        allowed: &'static str,
        /// What was found.
        got: String,
    },
    /// `localUri` is neither a bare file name nor an absolute path.
    BadLocalUri,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Missing => write!(f, "is required"),
            Problem::WrongType { expected } => write!(f, "must be {expected}"),
            Problem::OutOfRange { min, max, got } => {
                write!(f, "must be from {min} to {max}, got {got}")
            }
            Problem::Empty => write!(f, "must not be empty"),
            Problem::BadTimestamp => write!(f, "must be an ISO 8601 timestamp"),
            Problem::BadUuid => write!(f, "must be a UUID"),
            Problem::UnknownValue { allowed, got } => {
                write!(f, "must be one of {allowed}, got {got}")
            }
            Problem::BadLocalUri => write!(
                f,
                "must be a bare file name (\"backup_123.mov\") or an absolute path"
            ),
        }
    }
}

/// Why an AsyncStorage value could not be read.
///
/// ```
/// use monitor_core::async_storage::{parse_pending_videos, AsyncStorageError, Problem};
/// let stored = r#"[
///   {"id":"pending_1","localUri":"backup_1.mov","title":"A",
///    "userId":"00000000-0000-4000-8000-000000000001","createdAt":"2026-11-24T09:00:00Z",
///    "uploadAttempts":0,"fileSize":1},
///   {"id":"pending_2","localUri":"backup_2.mov","title":"B","userId":"not-a-uuid",
///    "createdAt":"2026-11-24T09:00:00Z","uploadAttempts":0,"fileSize":1}]"#;
/// let err = parse_pending_videos(stored).unwrap_err();
/// assert_eq!(err.to_string(), "@pending_videos[1].userId: must be a UUID");
/// let AsyncStorageError::Field { index, field, problem, .. } = err else { panic!("a field error") };
/// assert_eq!((index, field.as_str(), problem), (Some(1), "userId", Problem::BadUuid));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AsyncStorageError {
    /// The stored string is not JSON at all.
    #[error("{key}: not JSON: {message}")]
    NotJson {
        /// The AsyncStorage key.
        key: &'static str,
        /// The parser's message.
        message: String,
    },
    /// One field is wrong.
    #[error("{key}{}: {problem}", path(key, *index, field))]
    Field {
        /// The AsyncStorage key.
        key: &'static str,
        /// The item's index in the array (`@pending_videos[i]`, `items[i]`), None for the
        /// top level.
        index: Option<usize>,
        /// The field, as the app names it (`retryCount`, `metadata.duration`, `items`).
        field: String,
        /// What is wrong with it.
        problem: Problem,
    },
}

/// `[3].field` for `@pending_videos`, `.items[3].field` for the queue, `.field` at top level.
fn path(key: &str, index: Option<usize>, field: &str) -> String {
    let array = if key == IMPORT_QUEUE_STATE_KEY {
        ".items"
    } else {
        ""
    };
    match index {
        None if field.is_empty() => String::new(),
        None => format!(".{field}"),
        Some(i) if field.is_empty() => format!("{array}[{i}]"),
        Some(i) => format!("{array}[{i}].{field}"),
    }
}

/// Where a `PendingVideo`'s backup file is.
///
/// ```
/// use monitor_core::async_storage::LocalUri;
/// let old = LocalUri::parse("/var/mobile/Documents/video_backups/backup_1.mov").unwrap();
/// let new = LocalUri::parse("backup_2.mov").unwrap();
/// assert!(matches!(old, LocalUri::AbsolutePath(_)));
/// // An old path is used as stored; a bare name joins today's backup directory.
/// assert_eq!(old.resolve("/Documents/video_backups"), "/var/mobile/Documents/video_backups/backup_1.mov");
/// assert_eq!(new.resolve("/Documents/video_backups"), "/Documents/video_backups/backup_2.mov");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalUri {
    /// Since 2025: a file name relative to `/Documents/video_backups/` ("backup_123.mov").
    FileName(String),
    /// Before 2025: an absolute path or `file://` URI (breaks when iOS moves the app's
    /// container on update, which is why the app moved to bare names).
    AbsolutePath(String),
}

impl LocalUri {
    /// Classifies a stored `localUri`: no `/` at all is a bare file name; a leading `/` or
    /// a `scheme://` is absolute; anything else (a relative path) is None.
    ///
    /// ```
    /// use monitor_core::async_storage::LocalUri;
    /// assert!(matches!(LocalUri::parse("backup_1.mov"), Some(LocalUri::FileName(_))));
    /// assert!(matches!(LocalUri::parse("file:///var/mobile/Documents/video_backups/backup_1.mov"),
    ///                  Some(LocalUri::AbsolutePath(_))));
    /// assert_eq!(LocalUri::parse("video_backups/backup_1.mov"), None);
    /// ```
    pub fn parse(text: &str) -> Option<LocalUri> {
        if text.is_empty() {
            None
        } else if !text.contains('/') {
            Some(LocalUri::FileName(text.to_owned()))
        } else if text.starts_with('/') || text.contains("://") {
            Some(LocalUri::AbsolutePath(text.to_owned()))
        } else {
            None
        }
    }

    /// The file's name, whichever form: "backup_123.mov".
    ///
    /// ```
    /// use monitor_core::async_storage::LocalUri;
    /// let old = LocalUri::parse("file:///var/mobile/Documents/video_backups/backup_1.mov").unwrap();
    /// let new = LocalUri::parse("backup_1.mov").unwrap();
    /// assert_eq!(old.file_name(), "backup_1.mov");
    /// assert_eq!(new.file_name(), "backup_1.mov");
    /// ```
    pub fn file_name(&self) -> String {
        match self {
            LocalUri::FileName(name) => name.clone(),
            LocalUri::AbsolutePath(path) => crate::derive::file_name(path),
        }
    }

    /// The file's full path given today's backup directory (a bare name is joined to it;
    /// an absolute path is returned as stored).
    ///
    /// ```
    /// use monitor_core::async_storage::LocalUri;
    /// let uri = LocalUri::parse("backup_1.mov").unwrap();
    /// assert_eq!(uri.resolve("/Documents/video_backups/"), "/Documents/video_backups/backup_1.mov");
    /// ```
    pub fn resolve(&self, backup_dir: &str) -> String {
        match self {
            LocalUri::FileName(name) => format!("{}/{name}", backup_dir.trim_end_matches('/')),
            LocalUri::AbsolutePath(path) => path.clone(),
        }
    }
}

/// One `@pending_videos` entry: a recorded video backed up before upload.
///
/// ```
/// use monitor_core::async_storage::parse_pending_videos;
/// let stored = r#"[{"id":"pending_1732438800000","localUri":"backup_1732438800000.mov",
///   "title":"Ma vidéo","userId":"00000000-0000-4000-8000-000000000001",
///   "createdAt":"2026-11-24T09:00:00.000Z","uploadAttempts":3,"fileSize":52428800}]"#;
/// let video = &parse_pending_videos(stored).unwrap()[0];
/// assert_eq!(video.id, "pending_1732438800000");
/// assert_eq!((video.upload_attempts, video.file_size), (3, 52_428_800));
/// assert_eq!(video.created_at.to_rfc3339(), "2026-11-24T09:00:00+00:00");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PendingVideo {
    /// "pending_123456789".
    pub id: String,
    /// Where the backup is.
    pub local_uri: LocalUri,
    /// Title.
    pub title: String,
    /// Owner.
    pub user_id: Uuid,
    /// When the backup was made.
    pub created_at: DateTime<Utc>,
    /// Upload attempts so far, 0–5.
    pub upload_attempts: u8,
    /// Size in bytes.
    pub file_size: i64,
}

/// `ImportVideoItem.metadata.orientation`.
///
/// ```
/// use monitor_core::async_storage::{parse_import_queue_state, Orientation};
/// let stored = |orientation: &str| {
///     format!(
///         r#"{{"items":[{{"id":"import_1_0","uri":"file:///a.mov","filename":"a.mov",
///         "status":"pending","progress":0,"retryCount":0,
///         "metadata":{{"orientation":"{orientation}"}}}}],"currentIndex":0,
///         "isProcessing":false,"totalCount":1,"completedCount":0,"failedCount":0}}"#
///     )
/// };
/// let state = parse_import_queue_state(&stored("landscape")).unwrap().unwrap();
/// let metadata = state.items[0].metadata.as_ref().unwrap();
/// assert_eq!(metadata.orientation, Some(Orientation::Landscape));
/// assert_eq!(
///     parse_import_queue_state(&stored("square")).unwrap_err().to_string(),
///     "@import_queue_state.items[0].metadata.orientation: must be one of 'portrait', 'landscape', got square"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orientation {
    /// Taller than wide.
    Portrait,
    /// Wider than tall.
    Landscape,
}

/// `ImportVideoItem.metadata`, typed where the spec types it; the whole object (unknown
/// fields included) is kept in `raw` for `upload_queue.metadata`.
///
/// ```
/// use monitor_core::async_storage::parse_import_queue_state;
/// let stored = r#"{"items":[{"id":"import_1_0","uri":"file:///a.mov","filename":"a.mov",
///   "status":"pending","progress":0,"retryCount":0,
///   "metadata":{"isImported":true,"duration":12.5,"chapterId":"c1","location":"Paris"}}],
///   "currentIndex":0,"isProcessing":false,"totalCount":1,"completedCount":0,"failedCount":0}"#;
/// let state = parse_import_queue_state(stored).unwrap().unwrap();
/// let metadata = state.items[0].metadata.as_ref().unwrap();
/// assert_eq!((metadata.is_imported, metadata.duration), (Some(true), Some(12.5)));
/// assert_eq!(metadata.chapter_id.as_deref(), Some("c1"));
/// // A field the spec does not type is kept as stored.
/// assert_eq!(metadata.raw["location"], "Paris");
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ItemMetadata {
    /// Recorded in the app.
    pub is_recorded: Option<bool>,
    /// Imported from the gallery.
    pub is_imported: Option<bool>,
    /// The book chapter the video belongs to.
    pub chapter_id: Option<String>,
    /// Seconds.
    pub duration: Option<f64>,
    /// Pixels.
    pub width: Option<f64>,
    /// Pixels.
    pub height: Option<f64>,
    /// Portrait or landscape.
    pub orientation: Option<Orientation>,
    /// The object as stored.
    pub raw: Map<String, Value>,
}

/// One `ImportQueueState.items` entry.
///
/// ```
/// use monitor_core::async_storage::parse_import_queue_state;
/// use monitor_core::UploadStatus;
/// let stored = r#"{"items":[{"id":"recorded_1732438800000_abc","uri":"file:///a.mov",
///   "filename":"a.mov","title":null,"status":"uploading","progress":42.5,"retryCount":1}],
///   "currentIndex":0,"isProcessing":true,"totalCount":1,"completedCount":0,"failedCount":0}"#;
/// let state = parse_import_queue_state(stored).unwrap().unwrap();
/// let item = &state.items[0];
/// assert_eq!((item.status, item.progress, item.retry_count), (UploadStatus::Uploading, 42.5, 1));
/// // `null` counts as absent.
/// assert_eq!((item.title.as_deref(), item.metadata.as_ref()), (None, None));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ImportVideoItem {
    /// "import_123456789_0" or "recorded_123456789_abc".
    pub id: String,
    /// Local path of the video.
    pub uri: String,
    /// File name.
    pub filename: String,
    /// Title.
    pub title: Option<String>,
    /// The queue's status for it.
    pub status: UploadStatus,
    /// Percent, 0–100 (may have decimals).
    pub progress: f64,
    /// The failure's message.
    pub error: Option<String>,
    /// The `videos` row once completed, as stored.
    pub video_record: Option<Map<String, Value>>,
    /// Retries used, 0–3.
    pub retry_count: u8,
    /// Item metadata.
    pub metadata: Option<ItemMetadata>,
}

/// `@import_queue_state`.
///
/// ```
/// use monitor_core::async_storage::parse_import_queue_state;
/// let stored = r#"{"items":[],"currentIndex":3,"isProcessing":false,
///   "totalCount":3,"completedCount":2,"failedCount":1}"#;
/// let state = parse_import_queue_state(stored).unwrap().unwrap();
/// assert_eq!((state.total_count, state.completed_count, state.failed_count), (3, 2, 1));
/// assert!(!state.is_processing);
/// // The key never written reads as no state at all.
/// assert_eq!(parse_import_queue_state("null").unwrap(), None);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ImportQueueState {
    /// The queue.
    pub items: Vec<ImportVideoItem>,
    /// The item being processed.
    pub current_index: u64,
    /// Whether `processQueue()` was running.
    pub is_processing: bool,
    /// Items ever queued in this run.
    pub total_count: u64,
    /// Items completed.
    pub completed_count: u64,
    /// Items failed.
    pub failed_count: u64,
}

/// Reads fields of one JSON object and names them in errors.
struct Fields<'a> {
    key: &'static str,
    index: Option<usize>,
    prefix: &'static str,
    map: &'a Map<String, Value>,
}

type Res<T> = Result<T, AsyncStorageError>;

impl<'a> Fields<'a> {
    fn error(&self, field: &str, problem: Problem) -> AsyncStorageError {
        AsyncStorageError::Field {
            key: self.key,
            index: self.index,
            field: format!("{}{field}", self.prefix),
            problem,
        }
    }

    /// The value, None when absent or null.
    fn get(&self, field: &str) -> Option<&'a Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    fn required(&self, field: &str) -> Res<&'a Value> {
        self.get(field)
            .ok_or_else(|| self.error(field, Problem::Missing))
    }

    fn opt_string(&self, field: &str) -> Res<Option<&'a str>> {
        self.get(field)
            .map(|v| {
                v.as_str().ok_or_else(|| {
                    self.error(
                        field,
                        Problem::WrongType {
                            expected: "a string",
                        },
                    )
                })
            })
            .transpose()
    }

    fn string(&self, field: &str) -> Res<&'a str> {
        self.required(field)?;
        self.opt_string(field).map(Option::unwrap_or_default)
    }

    fn non_empty(&self, field: &str) -> Res<&'a str> {
        let text = self.string(field)?;
        if text.is_empty() {
            return Err(self.error(field, Problem::Empty));
        }
        Ok(text)
    }

    fn opt_bool(&self, field: &str) -> Res<Option<bool>> {
        self.get(field)
            .map(|v| {
                v.as_bool().ok_or_else(|| {
                    self.error(
                        field,
                        Problem::WrongType {
                            expected: "true or false",
                        },
                    )
                })
            })
            .transpose()
    }

    fn bool(&self, field: &str) -> Res<bool> {
        self.required(field)?;
        self.opt_bool(field).map(Option::unwrap_or_default)
    }

    fn opt_number(&self, field: &str) -> Res<Option<f64>> {
        self.get(field)
            .map(|v| {
                v.as_f64().ok_or_else(|| {
                    self.error(
                        field,
                        Problem::WrongType {
                            expected: "a number",
                        },
                    )
                })
            })
            .transpose()
    }

    /// A whole number in `min..=max`; JS may store `3.0` for 3, which is accepted.
    fn integer(&self, field: &str, min: i64, max: i64) -> Res<i64> {
        let value = self.required(field)?;
        let wrong = || {
            self.error(
                field,
                Problem::WrongType {
                    expected: "an integer",
                },
            )
        };
        let n = match value.as_i64() {
            Some(n) => n,
            None => {
                let f = value.as_f64().ok_or_else(wrong)?;
                // Whole and within i64: the cast is exact.
                if f.fract() != 0.0 || !(-9.0e18..=9.0e18).contains(&f) {
                    return Err(wrong());
                }
                f as i64
            }
        };
        if n < min || n > max {
            return Err(self.error(
                field,
                Problem::OutOfRange {
                    min,
                    max,
                    got: value.to_string(),
                },
            ));
        }
        Ok(n)
    }

    fn object(&self, field: &str) -> Res<Option<&'a Map<String, Value>>> {
        self.get(field)
            .map(|v| {
                v.as_object().ok_or_else(|| {
                    self.error(
                        field,
                        Problem::WrongType {
                            expected: "an object",
                        },
                    )
                })
            })
            .transpose()
    }
}

fn parse_json(key: &'static str, text: &str) -> Res<Value> {
    serde_json::from_str(text).map_err(|e| AsyncStorageError::NotJson {
        key,
        message: e.to_string(),
    })
}

fn as_object<'a>(
    key: &'static str,
    index: Option<usize>,
    value: &'a Value,
) -> Res<&'a Map<String, Value>> {
    value.as_object().ok_or_else(|| AsyncStorageError::Field {
        key,
        index,
        field: String::new(),
        problem: Problem::WrongType {
            expected: "an object",
        },
    })
}

fn pending_video(index: usize, value: &Value) -> Res<PendingVideo> {
    let key = PENDING_VIDEOS_KEY;
    let f = Fields {
        key,
        index: Some(index),
        prefix: "",
        map: as_object(key, Some(index), value)?,
    };
    let local_uri = f.string("localUri")?;
    let user_id = f.string("userId")?;
    let created_at = f.string("createdAt")?;
    Ok(PendingVideo {
        id: f.non_empty("id")?.to_owned(),
        local_uri: LocalUri::parse(local_uri)
            .ok_or_else(|| f.error("localUri", Problem::BadLocalUri))?,
        title: f.string("title")?.to_owned(),
        user_id: Uuid::parse_str(user_id).map_err(|_| f.error("userId", Problem::BadUuid))?,
        created_at: DateTime::parse_from_rfc3339(created_at)
            .map_err(|_| f.error("createdAt", Problem::BadTimestamp))?
            .with_timezone(&Utc),
        // In 0..=5 (checked), so it fits a u8.
        upload_attempts: f.integer("uploadAttempts", 0, MAX_UPLOAD_ATTEMPTS)? as u8,
        file_size: f.integer("fileSize", 0, i64::MAX)?,
    })
}

fn item_metadata(outer: &Fields<'_>, map: &Map<String, Value>) -> Res<ItemMetadata> {
    let f = Fields {
        key: outer.key,
        index: outer.index,
        prefix: "metadata.",
        map,
    };
    let orientation = match f.opt_string("orientation")? {
        None => None,
        Some("portrait") => Some(Orientation::Portrait),
        Some("landscape") => Some(Orientation::Landscape),
        Some(other) => {
            return Err(f.error(
                "orientation",
                Problem::UnknownValue {
                    allowed: "'portrait', 'landscape'",
                    got: other.to_owned(),
                },
            ));
        }
    };
    Ok(ItemMetadata {
        is_recorded: f.opt_bool("isRecorded")?,
        is_imported: f.opt_bool("isImported")?,
        chapter_id: f.opt_string("chapterId")?.map(str::to_owned),
        duration: f.opt_number("duration")?,
        width: f.opt_number("width")?,
        height: f.opt_number("height")?,
        orientation,
        raw: map.clone(),
    })
}

fn import_item(index: usize, value: &Value) -> Res<ImportVideoItem> {
    let key = IMPORT_QUEUE_STATE_KEY;
    let f = Fields {
        key,
        index: Some(index),
        prefix: "",
        map: as_object(key, Some(index), value)?,
    };
    let status = match f.string("status")? {
        "pending" => UploadStatus::Pending,
        "uploading" => UploadStatus::Uploading,
        "completed" => UploadStatus::Completed,
        "failed" => UploadStatus::Failed,
        other => {
            return Err(f.error(
                "status",
                Problem::UnknownValue {
                    allowed: "'pending', 'uploading', 'completed', 'failed'",
                    got: other.to_owned(),
                },
            ));
        }
    };
    let progress = f
        .opt_number("progress")?
        .ok_or_else(|| f.error("progress", Problem::Missing))?;
    if !(0.0..=100.0).contains(&progress) {
        return Err(f.error(
            "progress",
            Problem::OutOfRange {
                min: 0,
                max: 100,
                got: progress.to_string(),
            },
        ));
    }
    let metadata = match f.object("metadata")? {
        Some(map) => Some(item_metadata(&f, map)?),
        None => None,
    };
    Ok(ImportVideoItem {
        id: f.non_empty("id")?.to_owned(),
        uri: f.string("uri")?.to_owned(),
        filename: f.non_empty("filename")?.to_owned(),
        title: f.opt_string("title")?.map(str::to_owned),
        status,
        progress,
        error: f.opt_string("error")?.map(str::to_owned),
        video_record: f.object("videoRecord")?.cloned(),
        // In 0..=3 (checked), so it fits a u8.
        retry_count: f.integer("retryCount", 0, i64::from(MAX_RETRIES))? as u8,
        metadata,
    })
}

/// Parses `@pending_videos`; the first bad item fails the whole value. JSON `null` (the
/// key never written) is an empty list.
///
/// ```
/// use monitor_core::async_storage::{parse_pending_videos, LocalUri};
/// let stored = r#"[{"id":"pending_1732438800000","localUri":"backup_1732438800000.mov",
///   "title":"Ma vidéo","userId":"00000000-0000-4000-8000-000000000001",
///   "createdAt":"2026-11-24T09:00:00.000Z","uploadAttempts":1,"fileSize":52428800}]"#;
/// let videos = parse_pending_videos(stored).unwrap();
/// assert_eq!(videos[0].local_uri, LocalUri::FileName("backup_1732438800000.mov".into()));
///
/// let bad = r#"[{"id":"p","localUri":"a.mov","title":"","userId":"00000000-0000-4000-8000-000000000001",
///   "createdAt":"2026-11-24T09:00:00Z","uploadAttempts":9,"fileSize":1}]"#;
/// assert_eq!(parse_pending_videos(bad).unwrap_err().to_string(),
///            "@pending_videos[0].uploadAttempts: must be from 0 to 5, got 9");
/// ```
///
/// # Errors
///
/// [`AsyncStorageError::NotJson`] when the text is not JSON, [`AsyncStorageError::Field`]
/// for the first wrong field.
pub fn parse_pending_videos(text: &str) -> Result<Vec<PendingVideo>, AsyncStorageError> {
    let (videos, errors) = parse_pending_videos_lenient(text)?;
    match errors.into_iter().next() {
        Some(error) => Err(error),
        None => Ok(videos),
    }
}

/// Parses `@pending_videos` keeping every valid entry: the valid ones, and one error per
/// invalid one (in index order).
///
/// ```
/// use monitor_core::async_storage::parse_pending_videos_lenient;
/// let stored = r#"[
///   {"id":"pending_1","localUri":"backup_1.mov","title":"A",
///    "userId":"00000000-0000-4000-8000-000000000001","createdAt":"2026-11-24T09:00:00Z",
///    "uploadAttempts":0,"fileSize":1},
///   {"id":"pending_2","localUri":"backup_2.mov","title":"B",
///    "userId":"00000000-0000-4000-8000-000000000001","createdAt":"yesterday",
///    "uploadAttempts":0,"fileSize":1}]"#;
/// let (videos, errors) = parse_pending_videos_lenient(stored).unwrap();
/// assert_eq!(videos[0].id, "pending_1");
/// assert_eq!(errors.len(), 1);
/// assert_eq!(errors[0].to_string(), "@pending_videos[1].createdAt: must be an ISO 8601 timestamp");
/// // Only a value unusable as a whole fails.
/// assert!(parse_pending_videos_lenient(r#"{"id":"pending_1"}"#).is_err());
/// ```
///
/// # Errors
///
/// Only when the whole value is unusable: not JSON, or not an array.
pub fn parse_pending_videos_lenient(
    text: &str,
) -> Result<(Vec<PendingVideo>, Vec<AsyncStorageError>), AsyncStorageError> {
    let value = parse_json(PENDING_VIDEOS_KEY, text)?;
    let items = match &value {
        Value::Null => return Ok((Vec::new(), Vec::new())),
        Value::Array(items) => items,
        _ => {
            return Err(AsyncStorageError::Field {
                key: PENDING_VIDEOS_KEY,
                index: None,
                field: String::new(),
                problem: Problem::WrongType {
                    expected: "an array of PendingVideo",
                },
            });
        }
    };
    let mut videos = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match pending_video(i, item) {
            Ok(video) => videos.push(video),
            Err(error) => errors.push(error),
        }
    }
    Ok((videos, errors))
}

/// Parses `@import_queue_state`; the first bad field fails the whole value. JSON `null`
/// (the key never written) is None.
///
/// ```
/// use monitor_core::async_storage::parse_import_queue_state;
/// let stored = r#"{"items":[{"id":"import_1732438800000_0","uri":"file:///tmp/a.mov",
///   "filename":"a.mov","status":"uploading","progress":42.5,"retryCount":0,
///   "metadata":{"isImported":true,"orientation":"portrait","location":"Paris"}}],
///   "currentIndex":0,"isProcessing":true,"totalCount":1,"completedCount":0,"failedCount":0}"#;
/// let state = parse_import_queue_state(stored).unwrap().unwrap();
/// assert_eq!(state.items[0].progress, 42.5);
///
/// let bad = stored.replace(r#""retryCount":0"#, r#""retryCount":7"#);
/// assert_eq!(parse_import_queue_state(&bad).unwrap_err().to_string(),
///            "@import_queue_state.items[0].retryCount: must be from 0 to 3, got 7");
/// ```
///
/// # Errors
///
/// [`AsyncStorageError::NotJson`] when the text is not JSON, [`AsyncStorageError::Field`]
/// for the first wrong field.
pub fn parse_import_queue_state(text: &str) -> Result<Option<ImportQueueState>, AsyncStorageError> {
    match parse_import_queue_state_lenient(text)? {
        None => Ok(None),
        Some((state, errors)) => match errors.into_iter().next() {
            Some(error) => Err(error),
            None => Ok(Some(state)),
        },
    }
}

/// Parses `@import_queue_state` keeping every valid item: the state with the valid items,
/// and one error per invalid item (in index order).
///
/// ```
/// use monitor_core::async_storage::parse_import_queue_state_lenient;
/// let stored = r#"{"items":[
///   {"id":"import_1_0","uri":"file:///a.mov","filename":"a.mov","status":"completed",
///    "progress":100,"retryCount":0},
///   {"id":"import_1_1","uri":"file:///b.mov","filename":"b.mov","status":"paused",
///    "progress":10,"retryCount":0}],
///   "currentIndex":1,"isProcessing":true,"totalCount":2,"completedCount":1,"failedCount":0}"#;
/// let (state, errors) = parse_import_queue_state_lenient(stored).unwrap().unwrap();
/// assert_eq!(state.items[0].id, "import_1_0");
/// assert_eq!(
///     errors[0].to_string(),
///     "@import_queue_state.items[1].status: must be one of 'pending', 'uploading', 'completed', 'failed', got paused"
/// );
/// ```
///
/// # Errors
///
/// When the value is unusable as a whole: not JSON, not an object, or a wrong top-level
/// field (`items`, `currentIndex`, `isProcessing`, the counts).
pub fn parse_import_queue_state_lenient(
    text: &str,
) -> Result<Option<(ImportQueueState, Vec<AsyncStorageError>)>, AsyncStorageError> {
    let key = IMPORT_QUEUE_STATE_KEY;
    let value = parse_json(key, text)?;
    if value.is_null() {
        return Ok(None);
    }
    let f = Fields {
        key,
        index: None,
        prefix: "",
        map: as_object(key, None, &value)?,
    };
    let items = f.required("items")?.as_array().ok_or_else(|| {
        f.error(
            "items",
            Problem::WrongType {
                expected: "an array",
            },
        )
    })?;
    let count = |field: &str| -> Res<u64> {
        // Non-negative (checked), so the cast is exact.
        Ok(f.integer(field, 0, i64::MAX)? as u64)
    };
    let mut state = ImportQueueState {
        items: Vec::with_capacity(items.len()),
        current_index: count("currentIndex")?,
        is_processing: f.bool("isProcessing")?,
        total_count: count("totalCount")?,
        completed_count: count("completedCount")?,
        failed_count: count("failedCount")?,
    };
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match import_item(i, item) {
            Ok(item) => state.items.push(item),
            Err(error) => errors.push(error),
        }
    }
    Ok(Some((state, errors)))
}

/// What one stored item means for `upload_queue`: the row the SDK's events will build.
///
/// ```
/// use monitor_core::async_storage::{parse_pending_videos, ImportedUpload};
/// use monitor_core::{UploadSource, UploadStatus};
/// let stored = r#"[{"id":"pending_1732438800000","localUri":"backup_1732438800000.mov",
///   "title":"Ma vidéo","userId":"00000000-0000-4000-8000-000000000001",
///   "createdAt":"2026-11-24T09:00:00.000Z","uploadAttempts":3,"fileSize":52428800}]"#;
/// let upload = ImportedUpload::from(&parse_pending_videos(stored).unwrap()[0]);
/// assert_eq!(upload.status, UploadStatus::Pending);
/// assert_eq!(upload.source, Some(UploadSource::Recorded));
/// assert_eq!(upload.filename, "backup_1732438800000.mov");
/// // Three attempts made: the first and two retries ("Tentative 2/3").
/// assert_eq!(upload.retry_count, 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedUpload {
    /// `upload_queue.local_id`: the item's own id.
    pub local_id: String,
    /// The owner the app stored (PendingVideo), None when the item does not say.
    pub user_id: Option<Uuid>,
    /// `video_title`.
    pub video_title: Option<String>,
    /// `filename`.
    pub filename: String,
    /// `file_size`, when the item knows it.
    pub file_size: Option<i64>,
    /// `source`.
    pub source: Option<UploadSource>,
    /// `metadata`.
    pub metadata: Value,
    /// The status the events leave.
    pub status: UploadStatus,
    /// `progress` (floored, 0–100).
    pub progress: i32,
    /// `retry_count`, 0–3.
    pub retry_count: i32,
    /// `error_message` of a failed item.
    pub error_message: Option<String>,
    /// `video_id` of a completed item, from `videoRecord.id`.
    pub video_id: Option<Uuid>,
}

impl From<&PendingVideo> for ImportedUpload {
    /// A backup waiting for upload: `pending`, source `recorded` (backups come from
    /// `RecordScreen`), the backup's file name, `retry_count` = attempts already made
    /// beyond the first (`uploadAttempts - 1`, at most 3), `metadata` =
    /// `{"localUri": .., "uploadAttempts": .., "createdAt": ..}`.
    fn from(video: &PendingVideo) -> Self {
        let retries = (i32::from(video.upload_attempts) - 1).clamp(0, i32::from(MAX_RETRIES));
        ImportedUpload {
            local_id: video.id.clone(),
            user_id: Some(video.user_id),
            video_title: Some(video.title.clone()),
            filename: video.local_uri.file_name(),
            file_size: Some(video.file_size),
            source: Some(UploadSource::Recorded),
            metadata: serde_json::json!({
                "localUri": match &video.local_uri {
                    LocalUri::FileName(s) | LocalUri::AbsolutePath(s) => s,
                },
                "uploadAttempts": video.upload_attempts,
                "createdAt": video.created_at.to_rfc3339(),
            }),
            status: UploadStatus::Pending,
            progress: 0,
            retry_count: retries,
            error_message: None,
            video_id: None,
        }
    }
}

impl From<&ImportVideoItem> for ImportedUpload {
    /// A queue item: its status, progress (floored), `retryCount` and error; source from
    /// the metadata flags, else from the id's prefix (`recorded_` / `import_`); `metadata`
    /// = the item's metadata object as stored (`{}` when none); `video_id` =
    /// `videoRecord.id` when it is a UUID. The queue does not store sizes: `file_size` is
    /// None (the SDK may fill it from the file).
    fn from(item: &ImportVideoItem) -> Self {
        let raw = item.metadata.as_ref().map(|m| Value::Object(m.raw.clone()));
        let source = raw
            .as_ref()
            .and_then(UploadSource::from_metadata)
            .or_else(|| {
                if item.id.starts_with("recorded_") {
                    Some(UploadSource::Recorded)
                } else if item.id.starts_with("import_") {
                    Some(UploadSource::Imported)
                } else {
                    None
                }
            });
        let video_id = item
            .video_record
            .as_ref()
            .and_then(|r| r.get("id"))
            .and_then(Value::as_str)
            .and_then(|id| Uuid::parse_str(id).ok());
        ImportedUpload {
            local_id: item.id.clone(),
            user_id: None,
            video_title: item.title.clone(),
            filename: item.filename.clone(),
            file_size: None,
            source,
            metadata: raw.unwrap_or_else(|| Value::Object(Map::new())),
            status: item.status,
            // 0–100 (checked at parse), so the floor fits an i32.
            progress: item.progress.floor() as i32,
            retry_count: i32::from(item.retry_count),
            error_message: item.error.clone(),
            video_id: if item.status == UploadStatus::Completed {
                video_id
            } else {
                None
            },
        }
    }
}

impl ImportedUpload {
    /// The event payloads, in order, that bring a new upload to this state through the
    /// state machine (the SDK adds ids, `seq` 1, 2, ... and times):
    ///
    /// - always `begin` (with `user_id` when known);
    /// - for a pending, uploading or completed item with `retry_count` r > 0: `fail`
    ///   (`interrupted`, retry_count r − 1) then `retry`, so the row shows "Tentative r/3";
    /// - uploading: `progress` (bytes = size × progress / 100 when the size is known, else 0);
    /// - completed: `complete` (with `video_id`);
    /// - failed: `fail` (`import_queue`, the item's error or "Upload failed", retry_count r).
    ///
    /// ```
    /// use monitor_core::async_storage::{parse_import_queue_state, ImportedUpload};
    /// use monitor_core::EventPayload;
    /// let stored = r#"{"items":[{"id":"import_1_0","uri":"file:///a.mov","filename":"a.mov",
    ///   "status":"failed","progress":30,"error":"Network request failed","retryCount":2}],
    ///   "currentIndex":1,"isProcessing":false,"totalCount":1,"completedCount":0,"failedCount":1}"#;
    /// let state = parse_import_queue_state(stored).unwrap().unwrap();
    /// let payloads = ImportedUpload::from(&state.items[0]).payloads();
    /// assert_eq!(payloads.len(), 2);
    /// assert!(matches!(payloads[1], EventPayload::Fail { retry_count: Some(2), .. }));
    /// ```
    pub fn payloads(&self) -> Vec<EventPayload> {
        let mut out = vec![EventPayload::Begin {
            local_id: self.local_id.clone(),
            video_title: self.video_title.clone(),
            filename: self.filename.clone(),
            file_size: self.file_size,
            source: self.source,
            metadata: Some(self.metadata.clone()),
            device: None,
            user_id: self.user_id,
        }];
        if self.status != UploadStatus::Failed && self.retry_count > 0 {
            out.push(EventPayload::Fail {
                error_code: INTERRUPTED_CODE.to_owned(),
                error_message: "Attempt made before upload monitoring was installed".to_owned(),
                retry_count: Some(self.retry_count - 1),
            });
            out.push(EventPayload::Retry);
        }
        match self.status {
            UploadStatus::Pending => {}
            UploadStatus::Uploading => out.push(EventPayload::Progress {
                // size × progress / 100 ≤ size: computed in i128, it cannot overflow.
                bytes_sent: self.file_size.map_or(0, |size| {
                    (i128::from(size) * i128::from(self.progress) / 100) as i64
                }),
                progress: self.progress,
                upload_speed: None,
            }),
            UploadStatus::Completed => out.push(EventPayload::Complete {
                video_id: self.video_id,
            }),
            UploadStatus::Failed => out.push(EventPayload::Fail {
                error_code: IMPORTED_FAILURE_CODE.to_owned(),
                error_message: self
                    .error_message
                    .clone()
                    .unwrap_or_else(|| "Upload failed".to_owned()),
                retry_count: Some(self.retry_count),
            }),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;
    use crate::event::UploadEvent;
    use crate::state_machine::apply_batch;

    /// The uploading user in every fixture.
    const USER: &str = "00000000-0000-4000-8000-000000000001";

    fn pending_json(extra: &str) -> String {
        format!(
            r#"[{{"id":"pending_1732438800000","localUri":"/var/mobile/Containers/Data/Application/X/Documents/video_backups/backup_1732438800000.mov",
            "title":"Ma vidéo","userId":"{USER}","createdAt":"2026-11-24T09:00:00.000Z",
            "uploadAttempts":3,"fileSize":52428800{extra}}}]"#
        )
    }

    fn queue_json(item: &str) -> String {
        format!(
            r#"{{"items":[{item}],"currentIndex":0,"isProcessing":true,"totalCount":1,"completedCount":0,"failedCount":0}}"#
        )
    }

    const ITEM: &str = r#"{"id":"recorded_1732438800000_abc","uri":"file:///a.mov","filename":"a.mov","status":"uploading","progress":50,"retryCount":1}"#;

    fn field_error(
        result: Result<impl std::fmt::Debug, AsyncStorageError>,
    ) -> (Option<usize>, String, Problem) {
        match result {
            Err(AsyncStorageError::Field {
                index,
                field,
                problem,
                ..
            }) => (index, field, problem),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn old_absolute_paths_still_read_and_give_the_file_name() {
        let videos = parse_pending_videos(&pending_json(r#","futureField":{"a":1}"#)).unwrap();
        assert!(matches!(videos[0].local_uri, LocalUri::AbsolutePath(_)));
        assert_eq!(videos[0].local_uri.file_name(), "backup_1732438800000.mov");
        assert_eq!(videos[0].upload_attempts, 3);
    }

    #[test]
    fn each_wrong_field_is_named_with_its_index() {
        let cases = [
            (r#","uploadAttempts":6"#, "uploadAttempts"),
            (r#","fileSize":-1"#, "fileSize"),
            (r#","fileSize":1.5"#, "fileSize"),
            (r#","createdAt":"yesterday""#, "createdAt"),
            (r#","userId":"u1""#, "userId"),
            (r#","localUri":"video_backups/a.mov""#, "localUri"),
            (r#","title":3"#, "title"),
            (r#","id":"""#, "id"),
        ];
        for (patch, field) in cases {
            // A later duplicate key wins in serde_json, like JSON.parse.
            let (index, got, _) = field_error(parse_pending_videos(&pending_json(patch)));
            assert_eq!((index, got.as_str()), (Some(0), field), "{patch}");
        }
    }

    #[test]
    fn a_missing_field_says_so() {
        let text = pending_json("").replace(r#""title":"Ma vidéo","#, "");
        let (_, field, problem) = field_error(parse_pending_videos(&text));
        assert_eq!((field.as_str(), problem), ("title", Problem::Missing));
    }

    #[test]
    fn the_lenient_parser_keeps_the_good_entries() {
        let good = pending_json("");
        let good = good.trim_start_matches('[').trim_end_matches(']');
        let text = format!("[{good}, 42, {good}]");
        let (videos, errors) = parse_pending_videos_lenient(&text).unwrap();
        assert_eq!(videos.len(), 2);
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].to_string(),
            "@pending_videos[1]: must be an object"
        );
    }

    #[test]
    fn not_json_and_never_written_values_are_told_apart() {
        assert!(matches!(
            parse_pending_videos("{oops"),
            Err(AsyncStorageError::NotJson { .. })
        ));
        assert_eq!(parse_pending_videos("null").unwrap(), vec![]);
        assert_eq!(parse_import_queue_state("null").unwrap(), None);
        let (index, field, _) = field_error(parse_pending_videos("{}"));
        assert_eq!((index, field.as_str()), (None, ""));
    }

    #[test]
    fn queue_items_are_validated_field_by_field() {
        let cases = [
            ("retryCount", serde_json::json!(4), "retryCount"),
            ("progress", serde_json::json!(100.5), "progress"),
            ("status", serde_json::json!("paused"), "status"),
            (
                "metadata",
                serde_json::json!({"orientation": "square"}),
                "metadata.orientation",
            ),
            (
                "metadata",
                serde_json::json!({"duration": "12s"}),
                "metadata.duration",
            ),
            ("metadata", serde_json::json!([]), "metadata"),
            ("videoRecord", serde_json::json!("v1"), "videoRecord"),
            ("filename", serde_json::json!(""), "filename"),
        ];
        for (name, value, field) in cases {
            let mut item: Value = serde_json::from_str(ITEM).unwrap();
            item[name] = value;
            let text = queue_json(&item.to_string());
            let (index, got, _) = field_error(parse_import_queue_state(&text));
            assert_eq!((index, got.as_str()), (Some(0), field), "{name}");
        }
        let text = queue_json(ITEM).replace(r#""currentIndex":0"#, r#""currentIndex":-1"#);
        let (index, field, _) = field_error(parse_import_queue_state(&text));
        assert_eq!((index, field.as_str()), (None, "currentIndex"));
    }

    #[test]
    fn items_map_to_what_they_mean_for_upload_queue() {
        let item = ITEM.replacen('{', r#"{"metadata":{"chapterId":"c1","duration":12},"#, 1);
        let state = parse_import_queue_state(&queue_json(&item))
            .unwrap()
            .unwrap();
        let imported = ImportedUpload::from(&state.items[0]);
        assert_eq!(imported.source, Some(UploadSource::Recorded)); // from the id's prefix
        assert_eq!(
            imported.metadata,
            serde_json::json!({"chapterId": "c1", "duration": 12})
        );
        assert_eq!(
            (imported.status, imported.progress, imported.retry_count),
            (UploadStatus::Uploading, 50, 1)
        );
    }

    /// Runs an imported upload's payloads through the state machine.
    fn replay(imported: &ImportedUpload) -> crate::record::UploadRecord {
        let user = Uuid::parse_str(USER).unwrap();
        let upload = Uuid::from_u128(0xaa);
        let now = "2026-11-24T10:00:00Z".parse().unwrap();
        let events: Vec<UploadEvent> = imported
            .payloads()
            .into_iter()
            .enumerate()
            .map(|(n, payload)| UploadEvent {
                id: Uuid::from_u128(n as u128 + 1),
                upload_id: upload,
                seq: n as i64 + 1,
                at: now,
                payload,
            })
            .collect();
        let (mut rows, mut known) = (HashMap::new(), HashSet::new());
        let verdicts = apply_batch(&mut rows, &mut known, &events, user, now);
        assert!(
            verdicts
                .iter()
                .all(|v| v.outcome == crate::verdict::EventOutcome::Applied),
            "{verdicts:?}"
        );
        rows.remove(&upload).unwrap()
    }

    #[test]
    fn the_payloads_build_exactly_the_summarised_row() {
        let video = &parse_pending_videos(&pending_json("")).unwrap()[0];
        let mut imported = vec![ImportedUpload::from(video)];
        for (status, retry) in [
            ("pending", 0),
            ("uploading", 3),
            ("completed", 2),
            ("failed", 3),
            ("failed", 0),
        ] {
            let item = format!(
                r#"{{"id":"import_1_0","uri":"file:///a.mov","filename":"a.mov","status":"{status}","progress":37.9,"retryCount":{retry},"error":"boom","videoRecord":{{"id":"00000000-0000-4000-8000-0000000000f1"}}}}"#
            );
            let state = parse_import_queue_state(&queue_json(&item))
                .unwrap()
                .unwrap();
            let mut one = ImportedUpload::from(&state.items[0]);
            one.file_size = Some(1_000_001);
            imported.push(one);
        }
        for summary in &imported {
            let row = replay(summary);
            assert_eq!(row.status, summary.status, "{summary:?}");
            assert_eq!(row.retry_count, summary.retry_count, "{summary:?}");
            assert_eq!(row.local_id, summary.local_id);
            assert_eq!(row.source, summary.source);
            match summary.status {
                UploadStatus::Uploading => {
                    assert_eq!(row.progress, 37);
                    assert_eq!(row.bytes_sent, 370_000);
                }
                UploadStatus::Completed => assert_eq!(row.video_id, summary.video_id),
                UploadStatus::Failed => assert_eq!(row.error_message.as_deref(), Some("boom")),
                UploadStatus::Pending => assert_eq!(row.progress, 0),
            }
        }
        // The pending backup had 3 attempts: 2 retries already used.
        assert_eq!(imported[0].retry_count, 2);
    }
}
