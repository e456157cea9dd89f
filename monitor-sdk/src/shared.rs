//! What a reporter and its flusher task share, in three parts with small interfaces:
//! storage (the in-memory uploads and limiter, the SQLite outbox, and the writes that keep
//! them in step: [`Shared::commit`], [`Shared::persist_coalesced`]), the wire
//! ([`Delivery`]: monitor-core's transport and the app's tokens) and the signals between
//! the two sides ([`Signals`]). The engine (the app's calls) and the flusher (the background
//! task) both depend on this module and not on each other.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::Utc;
use monitor_core::{EventPayload, UploadEvent};
use uuid::Uuid;

use crate::clock::SdkClock;
use crate::delivery::Delivery;
use crate::error::SdkError;
use crate::foreign::{LogLevel, ReporterLogger};
use crate::outbox::{Enqueued, Outbox, UploadChange};
use crate::policy::FlushPolicy;
use crate::rate_limit::{Admission, ProgressLimiter};
use crate::signals::Signals;
use crate::uploads::{validate, Uploads};

/// In-memory state behind one lock: uploads and the limiter.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) uploads: Uploads,
    pub(crate) limiter: ProgressLimiter,
}

/// What the reporter and its flusher task share.
pub(crate) struct Shared {
    // Storage. Lock order: `state` before `outbox`, always.
    pub(crate) state: Mutex<State>,
    pub(crate) outbox: Mutex<Outbox>,
    /// Wake-ups and flags between the app's calls and the flusher.
    pub(crate) signals: Signals,
    /// The wire.
    pub(crate) delivery: Delivery,
    /// Some upload holds progress not yet written.
    has_coalesced: AtomicBool,
    /// The server's last `min_progress_interval_ms`.
    interval_ms: AtomicU64,
    pub(crate) policy: FlushPolicy,
    pub(crate) clock: SdkClock,
    logger: Option<Arc<dyn ReporterLogger>>,
}

/// Locks a mutex, taking the data even if a caught panic poisoned it: every change to the
/// guarded state is completed before anything that may panic (the foreign logger) runs.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    /// The shared part of a reporter opened on `outbox`.
    pub(crate) fn new(
        state: State,
        outbox: Outbox,
        delivery: Delivery,
        policy: FlushPolicy,
        clock: SdkClock,
        logger: Option<Arc<dyn ReporterLogger>>,
    ) -> Self {
        Shared {
            state: Mutex::new(state),
            outbox: Mutex::new(outbox),
            signals: Signals::new(),
            delivery,
            has_coalesced: AtomicBool::new(false),
            interval_ms: AtomicU64::new(0),
            policy,
            clock,
            logger,
        }
    }

    /// Some progress is held back: the flusher must look at it (wakes it the first time).
    pub(crate) fn mark_coalesced(&self) {
        if !self.has_coalesced.swap(true, Ordering::Relaxed) {
            self.signals.wake();
        }
    }

    pub(crate) fn log(&self, level: LogLevel, message: impl Into<String>) {
        let message = message.into();
        match level {
            LogLevel::Debug => tracing::debug!("{message}"),
            LogLevel::Info => tracing::info!("{message}"),
            LogLevel::Warn => tracing::warn!("{message}"),
            LogLevel::Error => tracing::error!("{message}"),
        }
        if let Some(logger) = &self.logger {
            // A foreign logger that throws surfaces here as a panic (uniffi turns an unexpected
            // callback error into one). The flusher logs from its task: unguarded, one bad log
            // line would end delivery for good.
            let call = std::panic::AssertUnwindSafe(|| logger.log(level, message));
            if std::panic::catch_unwind(call).is_err() {
                tracing::warn!("the app's logger panicked; the line was dropped");
            }
        }
    }

    pub(crate) fn now_ms(&self) -> i64 {
        Utc::now().timestamp_millis()
    }

    /// Validates `payloads` one after the other against `upload`'s record, stores them and
    /// the record in one transaction, and only then updates the memory.
    pub(crate) fn commit(
        &self,
        state: &mut State,
        upload: Uuid,
        payloads: Vec<EventPayload>,
        uri: Option<&str>,
    ) -> Result<Enqueued, SdkError> {
        let tracked = state.uploads.get_mut(&upload)?;
        let mut record = tracked.record.clone();
        let mut events = Vec::with_capacity(payloads.len());
        for payload in payloads {
            let event = UploadEvent {
                id: Uuid::now_v7(),
                upload_id: upload,
                seq: record.last_seq + 1,
                at: Utc::now(),
                payload,
            };
            record = validate(Some(&record), &event)?;
            events.push(event);
        }
        let outcome = lock(&self.outbox).enqueue(
            UploadChange {
                record: &record,
                uri,
                metadata_json: None,
            },
            &events,
            self.now_ms(),
        )?;
        if outcome == Enqueued::Stored {
            tracked.record = record;
        }
        self.signals.wake();
        Ok(outcome)
    }

    /// Writes coalesced progress: all of it when `force`, else what the limiter lets
    /// through. Returns whether some is still waiting.
    pub(crate) fn persist_coalesced(&self, force: bool) -> Result<bool, SdkError> {
        if !force && !self.has_coalesced.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let mut state = lock(&self.state);
        if !force && self.signals.is_shut() {
            // The flusher after `shutdown`: shutdown's own forced write (under this lock)
            // is the last; see `Engine::stop_flusher`.
            return Ok(false);
        }
        let now = self.clock.elapsed();
        let mut waiting = false;
        for upload in state.uploads.with_coalesced() {
            let Ok(tracked) = state.uploads.get_mut(&upload) else {
                continue;
            };
            let Some(progress) = tracked.coalesced else {
                continue;
            };
            let since = tracked.last_progress_write.map(|t| now.saturating_sub(t));
            let last_written = tracked.record.progress;
            let admitted = force
                || state
                    .limiter
                    .admit(upload, last_written, progress.progress, since)
                    == Admission::WriteNow;
            if !admitted {
                waiting = true;
                continue;
            }
            let result = self.commit(&mut state, upload, vec![progress.payload()], None);
            if let Ok(tracked) = state.uploads.get_mut(&upload) {
                tracked.coalesced = None;
                tracked.last_progress_write = Some(now);
            }
            if let Err(error) = result {
                // Stale by now (the upload moved on): the newer event covers it.
                self.log(
                    LogLevel::Debug,
                    format!("coalesced progress not written: {error}"),
                );
            }
        }
        self.has_coalesced.store(waiting, Ordering::Relaxed);
        Ok(waiting)
    }

    /// The progress interval the server asked for in its last answer.
    pub(crate) fn set_server_interval(&self, ms: u64) {
        if self.interval_ms.swap(ms, Ordering::Relaxed) != ms {
            let interval = self.policy.progress_interval(ms);
            lock(&self.state).limiter.set_interval(interval);
            self.log(
                LogLevel::Info,
                format!("server pace: one progress per {} ms", interval.as_millis()),
            );
        }
    }
}
