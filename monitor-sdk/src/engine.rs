//! The reporter's logic in plain Rust: validation, coalescing, the outbox and the flusher
//! task wired together. The uniffi layer (`reporter.rs`) only converts types and delegates.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use monitor_core::client::transport::{self, Transport};
use monitor_core::{EventPayload, UploadEvent, UploadSource, UploadStage, UploadStatus};
use serde::Deserialize;
use uuid::Uuid;

use crate::clock::SdkClock;
use crate::delivery::Delivery;
use crate::error::SdkError;
use crate::flusher;
use crate::foreign::{LogLevel, ReporterLogger, TokenProvider};
use crate::outbox::{Caps, Enqueued, Outbox, OutboxStats, UploadChange, UploadRow};
use crate::outbox_lock::OutboxLock;
use crate::policy::{self, FlushPolicy};
use crate::rate_limit::{Admission, ProgressLimiter};
pub(crate) use crate::shared::lock;
use crate::shared::{Shared, State};
use crate::uploads::{validate, CoalescedProgress, Tracked, Uploads};

/// The `error_code` of a failure reported for an upload a killed process left running.
pub const INTERRUPTED_ERROR_CODE: &str = "interrupted";

/// How long `shutdown` waits for the flusher to stop: a request in flight is abandoned
/// after this (its events are resent later, harmlessly).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Where and how to report.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// `SUPABASE_URL` (e.g. `https://xyz.supabase.co` or `http://127.0.0.1:54321`).
    pub supabase_url: String,
    /// The project's anon key (`apikey` header).
    pub anon_key: String,
    /// The SQLite file of the outbox.
    pub database_path: PathBuf,
    /// Limits.
    pub policy: FlushPolicy,
}

/// What `begin_upload` needs (the spec's `createUploadQueueRecord` arguments plus the app's
/// queue id).
#[derive(Debug, Clone, Default)]
pub struct NewUpload {
    /// The app's queue id (`ImportVideoItem.id`).
    pub local_id: String,
    /// Video title.
    pub title: Option<String>,
    /// File name.
    pub filename: String,
    /// Size in bytes.
    pub file_size: Option<u64>,
    /// Recorded or imported; derived from `metadata.isRecorded`/`isImported` when None.
    pub source: Option<UploadSource>,
    /// The item's metadata as JSON text (an object), when any.
    pub metadata_json: Option<String>,
    /// The video's local path (`ImportVideoItem.uri`), when known.
    pub uri: Option<String>,
}

/// A snapshot for `health()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// The outbox's figures.
    pub outbox: OutboxStats,
    /// Age of the oldest unsent event.
    pub oldest_pending_age: Option<Duration>,
    /// Uploads holding progress not yet written.
    pub coalesced_progress: u64,
    /// Whether the app says the device is online.
    pub online: bool,
    /// The progress interval in force (the server's pace or the device's floor).
    pub progress_interval: Duration,
    /// HTTP requests sent since this reporter opened (every attempt counts).
    pub requests_sent: u64,
    /// Uploads set aside because the server keeps failing (5xx) on their events alone
    /// (see the SDK's isolation of poisoned uploads in ARCHITECTURE.md): their events are kept and retried on their own backoff.
    pub isolated_uploads: u64,
    /// Events of those uploads waiting in the outbox.
    pub isolated_events: u64,
    /// Why the server refuses every request, when it does (404: `report_upload_events`
    /// missing; 431: headers too large...): events are kept and retried with backoff until a
    /// delivery succeeds again, which clears it.
    pub configuration_problem: Option<String>,
}

/// An admin's request to retry one of this user's uploads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RetryRequest {
    /// The upload.
    pub upload_id: Uuid,
    /// The app's queue id.
    pub local_id: Option<String>,
    /// When the admin asked (RFC 3339).
    pub retry_requested_at: String,
    /// Attempts used so far.
    pub retry_count: i32,
}

/// The upload reporter, in plain Rust.
pub struct Engine {
    pub(crate) shared: Arc<Shared>,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
    /// One reporter per outbox file: held until the flusher has stopped.
    file_lock: Mutex<Option<OutboxLock>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("rpc_base", &self.shared.delivery.rpc_base())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Opens the outbox, loads the uploads and starts the flusher (online).
    ///
    /// # Errors
    ///
    /// [`SdkError::InvalidConfig`] for a setting out of its range (see [`FlushPolicy::validate`]
    /// and the constants of [`crate::policy`]), [`SdkError::Storage`] when the database
    /// cannot be opened.
    pub fn open(
        config: EngineConfig,
        token: Arc<dyn TokenProvider>,
        logger: Option<Arc<dyn ReporterLogger>>,
    ) -> Result<Engine, SdkError> {
        Self::open_with_clock(config, token, logger, SdkClock::real())
    }

    /// [`Engine::open`] with a given clock (simulations drive a manual one).
    ///
    /// # Errors
    ///
    /// As [`Engine::open`].
    pub fn open_with_clock(
        config: EngineConfig,
        token: Arc<dyn TokenProvider>,
        logger: Option<Arc<dyn ReporterLogger>>,
        clock: SdkClock,
    ) -> Result<Engine, SdkError> {
        validate_config(&config)?;
        let policy = config.policy;
        // Before the database is touched: a second opener must change nothing.
        let file_lock = OutboxLock::acquire(&config.database_path)?;
        let mut outbox = Outbox::open(
            &config.database_path,
            Caps {
                max_events: policy.max_pending_events,
                max_bytes: policy.max_pending_bytes,
            },
        )?;
        let (records, quarantined) = outbox.load_records(Utc::now().timestamp_millis())?;
        let uploads = Uploads::from_records(records);
        let transport = Transport::new(
            &config.supabase_url,
            &config.anon_key,
            policy.request_timeout,
        )
        .map_err(|e| SdkError::Network(format!("HTTP client: {e}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("monitor-sdk")
            .enable_all()
            .build()
            .map_err(|e| SdkError::Internal(format!("runtime: {e}")))?;
        let limiter = ProgressLimiter::new(policy.progress_interval(0), clock.clone());
        let shared = Arc::new(Shared::new(
            State { uploads, limiter },
            outbox,
            Delivery::new(transport, token),
            policy,
            clock,
            logger,
        ));
        if quarantined > 0 {
            shared.log(
                LogLevel::Error,
                format!(
                    "{quarantined} unreadable upload row(s) quarantined; their waiting events are still sent"
                ),
            );
        }
        let handle = runtime.handle().clone();
        runtime.spawn(flusher::supervise(shared.clone()));
        Ok(Engine {
            shared,
            runtime: Mutex::new(Some(runtime)),
            handle,
            file_lock: Mutex::new(file_lock),
        })
    }

    pub(crate) fn live(&self) -> Result<(), SdkError> {
        if self.shared.signals.is_shut() {
            Err(SdkError::ShutDown)
        } else {
            Ok(())
        }
    }

    /// Records a new upload and returns its id (UUIDv7). Calling it again with the local id
    /// of an upload still running returns that upload's id; with the local id of a failed
    /// one, it reports a retry of it.
    ///
    /// # Errors
    ///
    /// [`SdkError::InvalidArgument`] (metadata not a JSON object, size too large),
    /// [`SdkError::Rejected`] (empty local id or filename; the local id of a completed
    /// upload: `local_id_conflict`; retries used up), storage errors.
    pub fn begin_upload(&self, new: NewUpload) -> Result<Uuid, SdkError> {
        self.live()?;
        // Refused at the call, named: an id the server cannot store would orphan every
        // later event of the upload.
        monitor_core::limits::check_local_id(&new.local_id)
            .map_err(|e| SdkError::InvalidArgument(e.to_string()))?;
        self.shared.log(
            LogLevel::Debug,
            format!("begin_upload local_id={}", new.local_id),
        );
        let metadata = match new.metadata_json.as_deref().map(str::trim) {
            None | Some("") | Some("null") => None,
            Some(text) => match serde_json::from_str::<serde_json::Value>(text) {
                Ok(value @ serde_json::Value::Object(_)) => Some(value),
                Ok(_) => {
                    return Err(SdkError::InvalidArgument(
                        "metadata must be a JSON object".into(),
                    ))
                }
                Err(e) => {
                    return Err(SdkError::InvalidArgument(format!(
                        "metadata is not JSON: {e}"
                    )))
                }
            },
        };
        let file_size = new
            .file_size
            .map(i64::try_from)
            .transpose()
            .map_err(|_| SdkError::InvalidArgument("file_size is too large".into()))?;
        let source = new
            .source
            .or_else(|| metadata.as_ref().and_then(UploadSource::from_metadata));
        let mut state = lock(&self.shared.state);
        // Again under the state lock: after `shutdown` (which sets `shut`, then takes this
        // lock) nothing of this reporter is written, so the next one may own the file.
        self.live()?;
        if let Some(existing) = state.uploads.by_local_id(&new.local_id) {
            let id = existing.record.id;
            return match existing.record.status {
                UploadStatus::Pending | UploadStatus::Uploading => Ok(id),
                UploadStatus::Failed => {
                    self.shared.commit(
                        &mut state,
                        id,
                        vec![EventPayload::Retry],
                        new.uri.as_deref(),
                    )?;
                    if let Ok(tracked) = state.uploads.get_mut(&id) {
                        tracked.live = true;
                    }
                    Ok(id)
                }
                UploadStatus::Completed => Err(SdkError::Rejected(
                    monitor_core::RejectReason::LocalIdConflict,
                )),
            };
        }
        let id = Uuid::now_v7();
        let mut payload = EventPayload::Begin {
            local_id: new.local_id,
            video_title: new.title,
            filename: new.filename,
            file_size,
            source,
            metadata,
            device: None,
            user_id: None,
        };
        // NUL removed and display texts cut to what the server stores, before anything is
        // stored: an event in the outbox is one the server can take.
        payload.normalize();
        let metadata_json = match &payload {
            EventPayload::Begin {
                metadata: Some(metadata),
                ..
            } => {
                monitor_core::limits::check_metadata(metadata)
                    .map_err(|e| SdkError::InvalidArgument(e.to_string()))?;
                Some(metadata.to_string())
            }
            _ => None,
        };
        let event = UploadEvent {
            id: Uuid::now_v7(),
            upload_id: id,
            seq: 1,
            at: Utc::now(),
            payload,
        };
        let record = validate(None, &event)?;
        lock(&self.shared.outbox).enqueue(
            UploadChange {
                record: &record,
                uri: new.uri.as_deref(),
                metadata_json: metadata_json.as_deref(),
            },
            std::slice::from_ref(&event),
            self.shared.now_ms(),
        )?;
        state.uploads.insert(Tracked::new(record, true));
        self.shared.signals.wake();
        Ok(id)
    }

    /// Reports bytes sent (the hot path, called from the upload's progress callback).
    /// Validated every time; written to the outbox only when the limiter allows (once per
    /// interval, or at a 10-point milestone), else kept in memory as the newest value.
    ///
    /// # Errors
    ///
    /// [`SdkError::InvalidArgument`] for a zero total, [`SdkError::Rejected`]
    /// (`out_of_range` when sent > total or > the file size, `terminal_state` after
    /// complete/fail), [`SdkError::UnknownUpload`], [`SdkError::ShutDown`] after `shutdown`
    /// (a report then would be kept nowhere: no flusher runs to write or send it).
    pub fn report_progress(
        &self,
        upload: Uuid,
        bytes_sent: u64,
        bytes_total: u64,
    ) -> Result<(), SdkError> {
        if bytes_total == 0 {
            return Err(SdkError::InvalidArgument(
                "bytes_total must be above 0".into(),
            ));
        }
        if bytes_sent > bytes_total {
            return Err(SdkError::Rejected(monitor_core::RejectReason::OutOfRange));
        }
        // Percent floored, as the spec's Math.floor; u128 so no product overflows.
        let percent = (u128::from(bytes_sent) * 100 / u128::from(bytes_total)) as i32;
        let bytes = i64::try_from(bytes_sent)
            .map_err(|_| SdkError::InvalidArgument("bytes_sent is too large".into()))?;
        let now = self.shared.clock.elapsed();
        let mut state = lock(&self.shared.state);
        // Checked under the state lock: `shutdown` sets `shut`, then writes held-back progress
        // under this lock, so a report either lands before that write or is refused.
        self.live()?;
        let state = &mut *state;
        let tracked = state.uploads.get_mut(&upload)?;
        tracked.speed.push(self.shared.clock.elapsed_ms(), bytes);
        let progress = CoalescedProgress {
            bytes_sent: bytes,
            progress: percent,
            upload_speed: tracked.speed.mb_per_s(),
            at: Utc::now(),
        };
        // Validation without an id or a write: the id is drawn only if the event is kept.
        let probe = UploadEvent {
            id: Uuid::nil(),
            upload_id: upload,
            seq: tracked.record.last_seq + 1,
            at: progress.at,
            payload: progress.payload(),
        };
        validate(Some(&tracked.record), &probe)?;
        let since = tracked.last_progress_write.map(|t| now.saturating_sub(t));
        let admission = state
            .limiter
            .admit(upload, tracked.record.progress, percent, since);
        match admission {
            Admission::Coalesce => {
                tracked.coalesced = Some(progress);
                self.shared.mark_coalesced();
                Ok(())
            }
            Admission::WriteNow => {
                tracked.coalesced = None;
                tracked.last_progress_write = Some(now);
                self.shared
                    .commit(state, upload, vec![progress.payload()], None)
                    .map(|_| ())
            }
        }
    }

    /// Reports a pipeline step (the newest held-back progress is written first).
    ///
    /// # Errors
    ///
    /// [`SdkError::Rejected`] (`stage_order`, `terminal_state`), unknown upload, storage.
    pub fn report_stage(&self, upload: Uuid, stage: UploadStage) -> Result<(), SdkError> {
        self.terminal_like(upload, EventPayload::Stage { stage }, true)
    }

    /// Reports the upload finished; durable before it returns.
    ///
    /// # Errors
    ///
    /// [`SdkError::Rejected`] (`terminal_state`), unknown upload,
    /// [`SdkError::QueueFull`], storage.
    pub fn complete(&self, upload: Uuid, video_id: Option<Uuid>) -> Result<(), SdkError> {
        self.terminal_like(upload, EventPayload::Complete { video_id }, false)
    }

    /// Reports the attempt failed; durable before it returns.
    ///
    /// # Errors
    ///
    /// [`SdkError::Rejected`] (`terminal_state`, `retry_limit` above 3), unknown upload,
    /// [`SdkError::QueueFull`], storage.
    pub fn fail(
        &self,
        upload: Uuid,
        error_code: &str,
        message: &str,
        retry_count: u32,
    ) -> Result<(), SdkError> {
        let retry_count = i32::try_from(retry_count)
            .map_err(|_| SdkError::Rejected(monitor_core::RejectReason::RetryLimit))?;
        let mut payload = EventPayload::Fail {
            error_code: error_code.to_string(),
            error_message: message.to_string(),
            retry_count: Some(retry_count),
        };
        // A 10 MB trace is cut here, before it is stored, as the server would cut it.
        payload.normalize();
        if matches!(&payload, EventPayload::Fail { error_code, .. } if error_code.trim().is_empty())
        {
            return Err(SdkError::InvalidArgument(
                "error_code must not be empty (NUL characters do not count)".into(),
            ));
        }
        self.terminal_like(upload, payload, true)
    }

    /// Reports a new attempt of a failed upload; durable before it returns.
    ///
    /// # Errors
    ///
    /// [`SdkError::Rejected`] (`invalid_transition` unless failed, `retry_limit`), unknown
    /// upload, [`SdkError::QueueFull`], storage.
    pub fn retry(&self, upload: Uuid) -> Result<(), SdkError> {
        self.terminal_like(upload, EventPayload::Retry, false)?;
        let mut state = lock(&self.shared.state);
        if let Ok(tracked) = state.uploads.get_mut(&upload) {
            tracked.live = true;
            tracked.speed = monitor_core::speed::SpeedEstimator::new();
        }
        Ok(())
    }

    /// Stores `payload` after the upload's held-back progress (when `with_progress`; else
    /// that progress is dropped, the payload covering it).
    fn terminal_like(
        &self,
        upload: Uuid,
        payload: EventPayload,
        with_progress: bool,
    ) -> Result<(), SdkError> {
        let mut state = lock(&self.shared.state);
        // Under the state lock, as in `report_progress`: see `stop_flusher`.
        self.live()?;
        let tracked = state.uploads.get_mut(&upload)?;
        let mut payloads = Vec::with_capacity(2);
        if with_progress {
            if let Some(progress) = tracked.coalesced {
                payloads.push(progress.payload());
            }
        }
        payloads.push(payload);
        let outcome = self.shared.commit(&mut state, upload, payloads, None)?;
        debug_assert_eq!(
            outcome,
            Enqueued::Stored,
            "non-progress events are never dropped"
        );
        if let Ok(tracked) = state.uploads.get_mut(&upload) {
            tracked.coalesced = None;
            if tracked.record.status.is_terminal() {
                state.limiter.forget_quiet();
            }
        }
        Ok(())
    }

    /// Waits until every event stored before the call (held-back progress included) is
    /// acknowledged or dead-lettered. `Ok` means exactly that: nothing stored before the call
    /// is still waiting.
    ///
    /// # Errors
    ///
    /// - [`SdkError::Offline`] when offline;
    /// - [`SdkError::ServerConfiguration`] as soon as the server refuses requests for a
    ///   configuration reason (also when the last attempt, before the call, met one): the
    ///   events are kept and retried with backoff, `health().configuration_problem` says why;
    /// - [`SdkError::Isolated`] once everything else stored before the call is settled but
    ///   some events belong to uploads set aside after repeated server errors (kept, retried
    ///   on their own backoff);
    /// - [`SdkError::Timeout`] (delivery continues in the background), storage.
    pub async fn flush(&self, timeout: Duration) -> Result<(), SdkError> {
        self.live()?;
        let task = self
            .handle
            .spawn(flush_shared(self.shared.clone(), timeout));
        task.await
            .map_err(|e| SdkError::Internal(format!("flush task: {e}")))?
    }

    /// [`Engine::flush`] for synchronous callers (not from inside an async task).
    ///
    /// # Errors
    ///
    /// As [`Engine::flush`].
    pub fn flush_blocking(&self, timeout: Duration) -> Result<(), SdkError> {
        self.live()?;
        let (tx, rx) = std::sync::mpsc::channel();
        let shared = self.shared.clone();
        self.handle.spawn(async move {
            let _ = tx.send(flush_shared(shared, timeout).await);
        });
        rx.recv()
            .map_err(|_| SdkError::Internal("flush task ended without an answer".into()))?
    }

    /// Figures about delivery.
    ///
    /// # Errors
    ///
    /// Storage failures.
    pub fn health(&self) -> Result<Health, SdkError> {
        let coalesced = lock(&self.shared.state).uploads.with_coalesced().len() as u64;
        let holds = self.shared.signals.holds();
        let (outbox, interval, (isolated_uploads, isolated_events)) = {
            let interval = lock(&self.shared.state).limiter.interval();
            let outbox = lock(&self.shared.outbox);
            (
                outbox.stats()?,
                interval,
                outbox.waiting_in(&holds.parked, None)?,
            )
        };
        let now = self.shared.now_ms();
        let oldest_pending_age = outbox
            .oldest_enqueued_at_ms
            .map(|t| Duration::from_millis(u64::try_from(now - t).unwrap_or(0)));
        Ok(Health {
            outbox,
            oldest_pending_age,
            coalesced_progress: coalesced,
            online: self.shared.signals.is_online(),
            progress_interval: interval,
            requests_sent: self.shared.delivery.requests_sent(),
            isolated_uploads,
            isolated_events,
            configuration_problem: holds.configuration_problem,
        })
    }

    /// Tells the reporter whether the network is usable. Offline, the flusher sleeps until
    /// told otherwise (no timer, no CPU); back online, it sends at once.
    pub fn set_online(&self, online: bool) {
        self.shared.signals.set_online(online);
    }

    /// Writes held-back progress and stops the flusher. Stored events stay in the outbox
    /// for the next reporter on the same database, which may open as soon as this returns
    /// (this one's reads, `health` and `list_uploads`, still work; its reports are refused).
    ///
    /// # Errors
    ///
    /// Storage failures while writing the held-back progress.
    pub fn shutdown(&self) -> Result<(), SdkError> {
        if self.shared.signals.shut() {
            return Ok(());
        }
        let result = self.shared.persist_coalesced(true);
        self.stop_flusher();
        result.map(|_| ())
    }

    /// Ends this reporter as a killed process would: progress held back in memory is not
    /// written and the flusher stops wherever it is (an in-flight batch is resent by the next
    /// reporter, a harmless duplicate). For simulations and crash-recovery tests in one
    /// process; an app never needs it (`shutdown` is the clean end).
    pub fn abandon(self) {
        if !self.shared.signals.shut() {
            self.stop_flusher();
        }
        // Drop now finds the reporter shut: `shutdown` returns at once, writing nothing.
    }

    /// Stops the flusher's runtime once `shut` is set. Outside a runtime it waits (at most
    /// [`SHUTDOWN_GRACE`]) for the flusher to let go of the database, as a dead process's
    /// file handles close with it, so the next reporter on the same file meets no lock of
    /// this one and starts from settled counts. Inside another runtime blocking is not
    /// allowed: it winds down alone. An in-flight POST is dropped; its events, resent later,
    /// are duplicates, no-ops.
    ///
    /// Then the outbox file's lock is released: `shut` is set and every write of a report
    /// checks it under the state lock, so nothing of this reporter's memory reaches the file
    /// after this (a flusher still winding down may only settle batches, which a newer
    /// reporter's counts absorb).
    fn stop_flusher(&self) {
        self.shared.signals.wake();
        if let Some(runtime) = lock(&self.runtime).take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                runtime.shutdown_background();
            } else {
                runtime.shutdown_timeout(SHUTDOWN_GRACE);
            }
        }
        drop(lock(&self.file_lock).take());
    }

    /// The device's uploads, newest first.
    ///
    /// # Errors
    ///
    /// Storage failures.
    pub fn list_uploads(&self) -> Result<Vec<UploadRow>, SdkError> {
        lock(&self.shared.outbox).list_uploads()
    }

    /// Reports every upload a previous process left pending or uploading as failed with
    /// [`INTERRUPTED_ERROR_CODE`] (the app may then `retry` it). Call it once at start-up,
    /// before beginning new uploads. Returns the ids.
    ///
    /// # Errors
    ///
    /// Storage failures, [`SdkError::QueueFull`].
    pub fn recover_after_restart(&self) -> Result<Vec<Uuid>, SdkError> {
        self.live()?;
        let orphans: Vec<(Uuid, i32)> = lock(&self.shared.state)
            .uploads
            .iter()
            .filter(|t| !t.live && t.record.status.is_active())
            .map(|t| (t.record.id, t.record.retry_count))
            .collect();
        for (upload, retry_count) in &orphans {
            self.fail(
                *upload,
                INTERRUPTED_ERROR_CODE,
                "the app stopped while this upload was running",
                u32::try_from(*retry_count).unwrap_or(0),
            )?;
        }
        if !orphans.is_empty() {
            self.shared.log(
                LogLevel::Info,
                format!("{} interrupted upload(s) reported failed", orphans.len()),
            );
        }
        Ok(orphans.into_iter().map(|(id, _)| id).collect())
    }

    /// The admin's open retry requests for this user's uploads (`pending_retry_requests()`).
    ///
    /// # Errors
    ///
    /// [`SdkError::Offline`], [`SdkError::Network`].
    pub async fn pending_retry_requests(&self) -> Result<Vec<RetryRequest>, SdkError> {
        self.live()?;
        if !self.shared.signals.is_online() {
            return Err(SdkError::Offline);
        }
        let shared = self.shared.clone();
        let task = self
            .handle
            .spawn(async move { shared.delivery.call("pending_retry_requests", "{}").await });
        let body = task
            .await
            .map_err(|e| SdkError::Internal(format!("request task: {e}")))??;
        serde_json::from_slice(&body).map_err(|e| {
            SdkError::Network(format!("unexpected pending_retry_requests answer: {e}"))
        })
    }

    /// The events the server refused (id, reason), for support screens and tests.
    ///
    /// # Errors
    ///
    /// Storage failures.
    pub fn dead_letters(&self) -> Result<Vec<(Uuid, String)>, SdkError> {
        lock(&self.shared.outbox).dead_letters()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Refuses a configuration that would void the SDK's guarantees, naming the field: the URL
/// and key every request needs, a database path that is a real file (SQLite opens a private
/// temporary database for "" and a memory one for ":memory:" or a `file:` URI asking for it:
/// nothing would survive a restart), and the policy's ranges ([`FlushPolicy::validate`]).
fn validate_config(config: &EngineConfig) -> Result<(), SdkError> {
    // The transport's own check (monitor-core), so the reporter and the monitoring client
    // accept the same URLs.
    if transport::rpc_base(&config.supabase_url).is_err() {
        return Err(SdkError::InvalidConfig {
            field: "supabase_url",
            allowed: "an http:// or https:// URL".into(),
            got: format!("{:?}", config.supabase_url.trim()),
        });
    }
    let key = &config.anon_key;
    let printable = key.bytes().all(|b| b.is_ascii_graphic());
    if key.is_empty() || key.len() > policy::MAX_ANON_KEY_BYTES || !printable {
        return Err(SdkError::InvalidConfig {
            field: "anon_key",
            allowed: format!(
                "1 to {} printable ASCII characters (the project's anon key)",
                policy::MAX_ANON_KEY_BYTES
            ),
            got: format!("{} bytes", key.len()),
        });
    }
    let path = config.database_path.to_string_lossy();
    let trimmed = path.trim();
    if trimmed.is_empty() || trimmed == ":memory:" || trimmed.starts_with("file:") {
        return Err(SdkError::InvalidConfig {
            field: "database_path",
            allowed: "a file path in the app's storage (not empty, not :memory:, not a file: URI)"
                .into(),
            got: format!("{path:?}"),
        });
    }
    config.policy.validate()
}

/// Waits until every event stored before the call is acknowledged or dead-lettered.
async fn flush_shared(shared: Arc<Shared>, timeout: Duration) -> Result<(), SdkError> {
    shared.persist_coalesced(true)?;
    if !shared.signals.is_online() {
        return Err(SdkError::Offline);
    }
    let Some(target) = lock(&shared.outbox).last_position()? else {
        return Ok(());
    };
    let mut settled = shared.signals.subscribe_settled();
    shared.signals.wake();
    let wait = async {
        loop {
            // Marked seen before reading: a change after this read wakes the next wait.
            settled.borrow_and_update();
            let holds = shared.signals.holds();
            // Settled but for the parked uploads: how many of their events are waited for.
            let settled_but = {
                let outbox = lock(&shared.outbox);
                let first = outbox.first_position_excluding(&holds.parked)?;
                match first {
                    Some(p) if p <= target => None,
                    _ => Some(outbox.waiting_in(&holds.parked, Some(target))?),
                }
            };
            if let Some((uploads, events)) = settled_but {
                return if events == 0 {
                    Ok(())
                } else {
                    Err(SdkError::Isolated { uploads, events })
                };
            }
            if let Some(problem) = holds.configuration_problem {
                return Err(SdkError::ServerConfiguration(problem));
            }
            if settled.changed().await.is_err() {
                return Err(SdkError::ShutDown);
            }
        }
    };
    match tokio::time::timeout(timeout, wait).await {
        Ok(result) => result,
        Err(_) => Err(SdkError::Timeout(
            u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoToken;

    impl TokenProvider for NoToken {
        fn access_token(&self) -> Option<String> {
            None
        }
        fn refresh_access_token(&self) -> Option<String> {
            None
        }
    }

    /// An offline engine on a manual clock (nothing is sent; the URL is never contacted).
    fn offline(dir: &tempfile::TempDir, clock: SdkClock) -> Engine {
        let engine = Engine::open_with_clock(
            EngineConfig {
                supabase_url: "http://127.0.0.1:9".into(),
                anon_key: "anon".into(),
                database_path: dir.path().join("outbox.sqlite"),
                policy: FlushPolicy::default(),
            },
            Arc::new(NoToken),
            None,
            clock,
        )
        .unwrap();
        engine.set_online(false);
        engine
    }

    fn open_again(dir: &tempfile::TempDir) -> Result<Engine, SdkError> {
        Engine::open_with_clock(
            EngineConfig {
                supabase_url: "http://127.0.0.1:9".into(),
                anon_key: "anon".into(),
                database_path: dir.path().join("outbox.sqlite"),
                policy: FlushPolicy::default(),
            },
            Arc::new(NoToken),
            None,
            SdkClock::manual(),
        )
    }

    #[test]
    fn a_second_reporter_on_the_same_file_is_refused_until_the_first_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let first = offline(&dir, SdkClock::manual());
        let id = first.begin_upload(video("import_1_3")).unwrap();
        // Two reporters would each number the upload's events from their own memory.
        let second = open_again(&dir);
        assert!(
            matches!(&second, Err(SdkError::OutboxInUse(path)) if path.ends_with("outbox.sqlite")),
            "{second:?}"
        );
        assert_eq!(
            first.list_uploads().unwrap().len(),
            1,
            "the first is untouched"
        );
        // Gone as a killed process is gone: the next one opens and carries on.
        first.abandon();
        let third = open_again(&dir).expect("the file is free once the first is abandoned");
        third.set_online(false);
        third.complete(id, None).unwrap();
        // A clean shutdown frees it too, even while the old object is still held.
        third.shutdown().unwrap();
        let fourth = open_again(&dir).expect("the file is free after shutdown");
        assert_eq!(fourth.list_uploads().unwrap()[0].record.last_seq, 2);
        drop(third);
        assert!(matches!(open_again(&dir), Err(SdkError::OutboxInUse(_))));
    }

    #[test]
    fn a_corrupt_upload_row_is_quarantined_and_the_outbox_still_opens() {
        let dir = tempfile::tempdir().unwrap();
        let (kept, lost) = {
            let engine = offline(&dir, SdkClock::manual());
            let kept = engine.begin_upload(video("import_1_4")).unwrap();
            let lost = engine.begin_upload(video("import_1_5")).unwrap();
            engine.shutdown().unwrap();
            (kept, lost)
        };
        let raw = rusqlite::Connection::open(dir.path().join("outbox.sqlite")).unwrap();
        raw.execute(
            "update uploads set record = '{\"id\": 42' where upload_id = ?1",
            [lost.to_string()],
        )
        .unwrap();
        drop(raw);
        let engine = open_again(&dir).expect("one bad row does not lock the app out");
        engine.set_online(false);
        let uploads = engine.list_uploads().unwrap();
        assert_eq!(uploads.len(), 1);
        assert_eq!(uploads[0].record.id, kept);
        engine.complete(kept, None).unwrap();
        let health = engine.health().unwrap();
        assert_eq!(health.outbox.quarantined, 1);
        // Its events are still in the outbox: they describe the upload to the server.
        assert_eq!(health.outbox.pending_events, 3);
    }

    /// Keeps every line the engine gives the app.
    #[derive(Default)]
    struct Lines(Mutex<Vec<(LogLevel, String)>>);

    impl ReporterLogger for Lines {
        fn log(&self, level: LogLevel, message: String) {
            lock(&self.0).push((level, message));
        }
    }

    #[test]
    fn events_dropped_by_the_age_cap_are_told_to_the_app_not_only_to_tracing() {
        let dir = tempfile::tempdir().unwrap();
        {
            let engine = offline(&dir, SdkClock::manual());
            engine.begin_upload(video("import_1_6")).unwrap();
            engine.shutdown().unwrap();
        }
        // 31 days in the outbox: past the default 30-day age cap.
        let raw = rusqlite::Connection::open(dir.path().join("outbox.sqlite")).unwrap();
        let long_ago = Utc::now().timestamp_millis() - 31 * 24 * 3_600_000;
        raw.execute("update outbox set enqueued_at_ms = ?1", [long_ago])
            .unwrap();
        drop(raw);
        let lines = Arc::new(Lines::default());
        let engine = Engine::open_with_clock(
            EngineConfig {
                supabase_url: "http://127.0.0.1:9".into(),
                anon_key: "anon".into(),
                database_path: dir.path().join("outbox.sqlite"),
                policy: FlushPolicy::default(),
            },
            Arc::new(NoToken),
            Some(lines.clone()),
            SdkClock::manual(),
        )
        .unwrap();
        // Online: the flusher's next round applies the cap (then fails to reach port 9).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let told = loop {
            let told = lock(&lines.0)
                .iter()
                .find(|(_, line)| line.contains("age cap"))
                .cloned();
            if told.is_some() || std::time::Instant::now() > deadline {
                break told;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let (level, line) = told.expect("the app's logger hears of the dropped events");
        assert_eq!(level, LogLevel::Error);
        assert!(line.starts_with("1 unsent event(s)"), "{line}");
        assert_eq!(engine.health().unwrap().outbox.pending_events, 0);
    }

    fn video(local_id: &str) -> NewUpload {
        NewUpload {
            local_id: local_id.into(),
            filename: "a.mov".into(),
            file_size: Some(1_000),
            ..NewUpload::default()
        }
    }

    #[test]
    fn the_server_pace_slows_progress_writes_but_milestones_still_pass() {
        let dir = tempfile::tempdir().unwrap();
        let clock = SdkClock::manual();
        let engine = offline(&dir, clock.clone());
        let id = engine.begin_upload(video("import_1_0")).unwrap();
        engine.shared.set_server_interval(5_000);
        assert_eq!(
            engine.health().unwrap().progress_interval,
            Duration::from_secs(5)
        );
        // 9 s, one report a second, 1 point each (no milestone before 10 %).
        for second in 1..=9u64 {
            clock.advance(Duration::from_secs(1));
            engine.report_progress(id, second * 10, 1_000).unwrap();
        }
        // begin + writes at 1 s (first) and 6 s (5 s later).
        assert_eq!(engine.health().unwrap().outbox.pending_events, 3);
        clock.advance(Duration::from_secs(1));
        engine.report_progress(id, 100, 1_000).unwrap();
        assert_eq!(
            engine.health().unwrap().outbox.pending_events,
            4,
            "the 10 % milestone is written at once"
        );
    }

    #[test]
    fn a_huge_server_pace_is_clamped_and_never_panics_the_rate_limiter() {
        let dir = tempfile::tempdir().unwrap();
        let clock = SdkClock::manual();
        let engine = offline(&dir, clock.clone());
        let id = engine.begin_upload(video("import_1_9")).unwrap();
        // A bogus or hostile answer: `min_progress_interval_ms` = u64::MAX.
        engine.shared.set_server_interval(u64::MAX);
        for second in 1..=3u64 {
            clock.advance(Duration::from_secs(1));
            engine.report_progress(id, second, 1_000).unwrap();
        }
        assert_eq!(
            engine.health().unwrap().progress_interval,
            policy::MAX_PROGRESS_INTERVAL
        );
    }

    #[test]
    fn terminal_events_are_in_sqlite_before_the_call_returns() {
        let dir = tempfile::tempdir().unwrap();
        let engine = offline(&dir, SdkClock::manual());
        let id = engine.begin_upload(video("import_1_1")).unwrap();
        engine.fail(id, "network", "lost", 0).unwrap();
        // Another connection, as the next process after a kill would open it.
        let other = rusqlite::Connection::open(dir.path().join("outbox.sqlite")).unwrap();
        let kinds: Vec<String> = other
            .prepare("select kind from outbox order by position")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(kinds, ["begin", "fail"]);
        let status: String = other
            .query_row("select status from uploads", [], |row| row.get(0))
            .unwrap();
        assert_eq!(status, "failed");
    }

    #[test]
    fn held_back_progress_is_written_before_a_failure_so_the_log_shows_how_far_it_went() {
        let dir = tempfile::tempdir().unwrap();
        let clock = SdkClock::manual();
        let engine = offline(&dir, clock.clone());
        let id = engine.begin_upload(video("import_1_2")).unwrap();
        engine.report_progress(id, 10, 1_000).unwrap();
        engine.report_progress(id, 55, 1_000).unwrap(); // held back: same second
        assert_eq!(engine.health().unwrap().coalesced_progress, 1);
        engine.fail(id, "network", "lost", 0).unwrap();
        let rows = engine.list_uploads().unwrap();
        assert_eq!(rows[0].record.bytes_sent, 55);
        assert_eq!(engine.health().unwrap().coalesced_progress, 0);
    }
}
