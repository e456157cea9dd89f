//! The records and enums the app sees, and their conversions from the plain-Rust types.

use std::path::PathBuf;
use std::time::Duration;

use crate::engine::{EngineConfig, Health, RetryRequest};
use crate::import::ImportReport;
use crate::outbox::UploadRow;
use crate::policy::FlushPolicy;

/// How the reporter is set up. Limits left `None` take [`FlushPolicy`]'s defaults; a value
/// outside its range (see [`FlushPolicy::validate`]) makes the constructor fail with
/// `InvalidConfig` naming the field.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ReporterConfig {
    /// `SUPABASE_URL` (http:// or https://).
    pub supabase_url: String,
    /// The project's anon key (1 to 4,096 printable ASCII characters).
    pub anon_key: String,
    /// Path of the SQLite file (in the app's documents directory): a real file path, not
    /// empty, `:memory:` or a `file:` URI, or nothing would survive a restart. One reporter
    /// per file: a second one on the same path is refused while the first is open.
    pub database_path: String,
    /// Count cap of unsent events (100 to 1,000,000).
    #[uniffi(default = None)]
    pub max_pending_events: Option<u64>,
    /// Byte cap of unsent events (64 KiB to 1 GiB).
    #[uniffi(default = None)]
    pub max_pending_bytes: Option<u64>,
    /// Age cap of unsent events, in seconds (3,600 to 30 days).
    #[uniffi(default = None)]
    pub max_event_age_seconds: Option<u64>,
    /// The device's least interval between progress writes of one upload, ms (1,000 to
    /// 600,000).
    #[uniffi(default = None)]
    pub min_progress_interval_ms: Option<u64>,
    /// Events per request (1 to 1,000, the server's limit; 500 by default).
    #[uniffi(default = None)]
    pub batch_max_events: Option<u32>,
    /// First backoff ceiling, ms (10 to 3,600,000).
    #[uniffi(default = None)]
    pub retry_base_ms: Option<u64>,
    /// Largest backoff ceiling, ms (250 to 3,600,000, and at least `retry_base_ms`).
    #[uniffi(default = None)]
    pub retry_max_ms: Option<u64>,
    /// Timeout of one request, ms (1,000 to 300,000).
    #[uniffi(default = None)]
    pub request_timeout_ms: Option<u64>,
}

impl ReporterConfig {
    /// A config with every limit at its default.
    pub fn new(supabase_url: &str, anon_key: &str, database_path: &str) -> Self {
        ReporterConfig {
            supabase_url: supabase_url.into(),
            anon_key: anon_key.into(),
            database_path: database_path.into(),
            max_pending_events: None,
            max_pending_bytes: None,
            max_event_age_seconds: None,
            min_progress_interval_ms: None,
            batch_max_events: None,
            retry_base_ms: None,
            retry_max_ms: None,
            request_timeout_ms: None,
        }
    }
}

impl From<ReporterConfig> for EngineConfig {
    fn from(c: ReporterConfig) -> Self {
        let d = FlushPolicy::default();
        let ms = Duration::from_millis;
        EngineConfig {
            supabase_url: c.supabase_url,
            anon_key: c.anon_key,
            database_path: PathBuf::from(c.database_path),
            policy: FlushPolicy {
                batch_max_events: c
                    .batch_max_events
                    .map_or(d.batch_max_events, |n| n as usize),
                max_pending_events: c.max_pending_events.unwrap_or(d.max_pending_events),
                max_pending_bytes: c.max_pending_bytes.unwrap_or(d.max_pending_bytes),
                max_event_age: c
                    .max_event_age_seconds
                    .map_or(d.max_event_age, Duration::from_secs),
                min_progress_interval: c
                    .min_progress_interval_ms
                    .map_or(d.min_progress_interval, ms),
                retry_base: c.retry_base_ms.map_or(d.retry_base, ms),
                retry_max: c.retry_max_ms.map_or(d.retry_max, ms),
                request_timeout: c.request_timeout_ms.map_or(d.request_timeout, ms),
            },
        }
    }
}

/// The spec's four statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum UploadStatus {
    /// "En attente".
    Pending,
    /// "Upload en cours".
    Uploading,
    /// "Complété".
    Completed,
    /// "Échec".
    Failed,
}

impl From<monitor_core::UploadStatus> for UploadStatus {
    fn from(s: monitor_core::UploadStatus) -> Self {
        match s {
            monitor_core::UploadStatus::Pending => UploadStatus::Pending,
            monitor_core::UploadStatus::Uploading => UploadStatus::Uploading,
            monitor_core::UploadStatus::Completed => UploadStatus::Completed,
            monitor_core::UploadStatus::Failed => UploadStatus::Failed,
        }
    }
}

/// The steps of the app's `processItem()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum UploadStage {
    /// STEP 1.
    Validating,
    /// STEP 2.
    ExtractingMetadata,
    /// STEP 3.
    Uploading,
    /// STEP 4.
    CreatingRecord,
    /// STEP 5.
    GeneratingThumbnails,
    /// STEP 6.
    QueuingTranscription,
}

impl From<UploadStage> for monitor_core::UploadStage {
    fn from(s: UploadStage) -> Self {
        match s {
            UploadStage::Validating => monitor_core::UploadStage::Validating,
            UploadStage::ExtractingMetadata => monitor_core::UploadStage::ExtractingMetadata,
            UploadStage::Uploading => monitor_core::UploadStage::Uploading,
            UploadStage::CreatingRecord => monitor_core::UploadStage::CreatingRecord,
            UploadStage::GeneratingThumbnails => monitor_core::UploadStage::GeneratingThumbnails,
            UploadStage::QueuingTranscription => monitor_core::UploadStage::QueuingTranscription,
        }
    }
}

impl From<monitor_core::UploadStage> for UploadStage {
    fn from(s: monitor_core::UploadStage) -> Self {
        match s {
            monitor_core::UploadStage::Validating => UploadStage::Validating,
            monitor_core::UploadStage::ExtractingMetadata => UploadStage::ExtractingMetadata,
            monitor_core::UploadStage::Uploading => UploadStage::Uploading,
            monitor_core::UploadStage::CreatingRecord => UploadStage::CreatingRecord,
            monitor_core::UploadStage::GeneratingThumbnails => UploadStage::GeneratingThumbnails,
            monitor_core::UploadStage::QueuingTranscription => UploadStage::QueuingTranscription,
        }
    }
}

/// "📹 Recorded" or "📸 Imported".
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum UploadSource {
    /// Recorded in the app.
    Recorded,
    /// Imported from the gallery.
    Imported,
}

impl From<UploadSource> for monitor_core::UploadSource {
    fn from(s: UploadSource) -> Self {
        match s {
            UploadSource::Recorded => monitor_core::UploadSource::Recorded,
            UploadSource::Imported => monitor_core::UploadSource::Imported,
        }
    }
}

/// Delivery figures.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ReporterHealth {
    /// Events waiting to be sent.
    pub pending_events: u64,
    /// Their JSON size in bytes.
    pub pending_bytes: u64,
    /// Age of the oldest waiting event, ms.
    pub oldest_pending_age_ms: Option<u64>,
    /// The last delivery error since the last success.
    pub last_error: Option<String>,
    /// Unix ms of the last acknowledged batch.
    pub last_success_at_ms: Option<i64>,
    /// Progress events dropped by the caps or age.
    pub dropped_events: u64,
    /// Terminal (or begin/stage) events refused at the caps (the call returned QueueFull).
    pub refused_events: u64,
    /// Events the server refused or that expired, kept in the dead-letter table.
    pub dead_lettered_events: u64,
    /// Events the server acknowledged.
    pub delivered_events: u64,
    /// Of those, the ones the server already had (resent after a lost answer, or progress
    /// overtaken by a newer report): no second effect.
    pub duplicate_events: u64,
    /// Stored rows that could not be read back and were moved aside (ever): outbox rows
    /// are dead-lettered with a `corrupt: ...` reason (and counted in
    /// `dead_lettered_events` too), upload rows kept in a quarantine table.
    pub quarantined_rows: u64,
    /// Uploads set aside because the server keeps failing (5xx) on their events: kept, and
    /// retried on their own backoff while the others are delivered.
    pub isolated_uploads: u64,
    /// Events of those uploads waiting.
    pub isolated_events: u64,
    /// Why the server refuses every request, when it does (e.g. "HTTP 404 ...:
    /// report_upload_events was not found"): events are kept and retried; cleared by the next
    /// successful delivery.
    pub configuration_problem: Option<String>,
    /// HTTP requests sent since this reporter opened (every attempt counts).
    pub requests_sent: u64,
    /// Uploads with progress held back in memory.
    pub coalesced_progress: u64,
    /// Whether the reporter believes the device is online.
    pub online: bool,
    /// The progress interval in force, ms.
    pub progress_interval_ms: u64,
}

impl From<Health> for ReporterHealth {
    fn from(h: Health) -> Self {
        ReporterHealth {
            pending_events: h.outbox.pending_events,
            pending_bytes: h.outbox.pending_bytes,
            oldest_pending_age_ms: h
                .oldest_pending_age
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            last_error: h.outbox.last_error,
            last_success_at_ms: h.outbox.last_success_at_ms,
            dropped_events: h.outbox.dropped,
            refused_events: h.outbox.refused,
            dead_lettered_events: h.outbox.dead_lettered,
            delivered_events: h.outbox.delivered,
            duplicate_events: h.outbox.already_there,
            quarantined_rows: h.outbox.quarantined,
            isolated_uploads: h.isolated_uploads,
            isolated_events: h.isolated_events,
            configuration_problem: h.configuration_problem,
            requests_sent: h.requests_sent,
            coalesced_progress: h.coalesced_progress,
            online: h.online,
            progress_interval_ms: u64::try_from(h.progress_interval.as_millis())
                .unwrap_or(u64::MAX),
        }
    }
}

/// One upload as the device knows it: the app's `ImportVideoItem` fields plus the SDK's.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct UploadInfo {
    /// The SDK's upload id (UUIDv7).
    pub upload_id: String,
    /// `ImportVideoItem.id`.
    pub local_id: String,
    /// `ImportVideoItem.uri`, when known.
    pub uri: Option<String>,
    /// File name.
    pub filename: String,
    /// Title.
    pub title: Option<String>,
    /// Status.
    pub status: UploadStatus,
    /// Pipeline step.
    pub stage: Option<UploadStage>,
    /// Percent, 0–100.
    pub progress: i32,
    /// Bytes sent in this attempt.
    pub bytes_sent: i64,
    /// Size in bytes.
    pub file_size: Option<i64>,
    /// `ImportVideoItem.error`.
    pub error: Option<String>,
    /// Machine-readable cause of the last failure.
    pub error_code: Option<String>,
    /// Attempts used, 0–3.
    pub retry_count: i32,
    /// The app's metadata JSON.
    pub metadata_json: String,
    /// The last sequence number used.
    pub last_seq: i64,
}

impl From<UploadRow> for UploadInfo {
    fn from(row: UploadRow) -> Self {
        let r = row.record;
        UploadInfo {
            upload_id: r.id.to_string(),
            local_id: r.local_id,
            uri: row.uri,
            filename: r.filename,
            title: r.video_title,
            status: r.status.into(),
            stage: r.stage.map(Into::into),
            progress: r.progress,
            bytes_sent: r.bytes_sent,
            file_size: r.file_size,
            error: r.error_message,
            error_code: r.error_code,
            retry_count: r.retry_count,
            metadata_json: row.metadata_json,
            last_seq: r.last_seq,
        }
    }
}

/// An admin's "Réessayer" for one of this user's uploads.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PendingRetry {
    /// The upload.
    pub upload_id: String,
    /// The app's queue id.
    pub local_id: Option<String>,
    /// When the admin asked (RFC 3339).
    pub requested_at: String,
    /// Attempts used so far.
    pub retry_count: i32,
}

impl From<RetryRequest> for PendingRetry {
    fn from(r: RetryRequest) -> Self {
        PendingRetry {
            upload_id: r.upload_id.to_string(),
            local_id: r.local_id,
            requested_at: r.retry_requested_at,
            retry_count: r.retry_count,
        }
    }
}

/// What `import_async_storage` did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AsyncStorageImport {
    /// New uploads created from the app's items.
    pub created: u32,
    /// Known uploads moved to the app's terminal status.
    pub updated: u32,
    /// Known uploads left as they were.
    pub unchanged: u32,
    /// Items that could not be read or applied, one message each.
    pub skipped: Vec<String>,
}

impl From<ImportReport> for AsyncStorageImport {
    fn from(r: ImportReport) -> Self {
        AsyncStorageImport {
            created: r.created,
            updated: r.updated,
            unchanged: r.unchanged,
            skipped: r.skipped,
        }
    }
}
