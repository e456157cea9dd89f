//! `UploadReporter`, the object the app holds: one-line delegations to the engine, each
//! behind a guard so no panic crosses the FFI boundary.
//!
//! The exported constructor takes no optional foreign object: uniffi-bindgen-react-native
//! 0.31.0-5's converter for `Option<Arc<dyn Trait>>` overrides `lower()` but not
//! `writeIntoCursor()`, so any app passing one got "Cannot lower this object to a pointer".
//! Its one foreign object, the [`SessionRefresher`], is required; logs are taken, not pushed
//! (`bindings/uniffi-bindgen/tests/generated_bindings.rs` fails if an optional foreign object
//! comes back).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use uuid::Uuid;

use crate::engine::{Engine, NewUpload};
use crate::error::{ReporterError, SdkError};
use crate::ffi::{
    AsyncStorageImport, PendingRetry, ReporterConfig, ReporterHealth, UploadInfo, UploadSource,
    UploadStage,
};
use crate::foreign::{LogLevel, ReporterLogger, SessionRefresher, TokenProvider};
use crate::log_buffer::{LogBuffer, LogLine};
use crate::session::AppSession;

/// Runs `call`, turning a panic into [`ReporterError::Internal`] (the reporter's locks
/// survive poisoning, so it stays usable).
fn guard<T>(call: impl FnOnce() -> Result<T, SdkError>) -> Result<T, ReporterError> {
    match std::panic::catch_unwind(AssertUnwindSafe(call)) {
        Ok(result) => result.map_err(Into::into),
        Err(panic) => Err(SdkError::Internal(panic_message(panic.as_ref())).into()),
    }
}

/// [`guard`] for async calls.
async fn guard_async<T>(
    call: impl Future<Output = Result<T, SdkError>>,
) -> Result<T, ReporterError> {
    match AssertUnwindSafe(call).catch_unwind().await {
        Ok(result) => result.map_err(Into::into),
        Err(panic) => Err(SdkError::Internal(panic_message(panic.as_ref())).into()),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

fn upload_id(text: &str) -> Result<Uuid, SdkError> {
    Uuid::parse_str(text.trim())
        .map_err(|_| SdkError::InvalidArgument(format!("not an upload id: {text:?}")))
}

/// Reports the app's uploads to Supabase, reliably, from an SQLite outbox.
#[derive(Debug, uniffi::Object)]
pub struct UploadReporter {
    engine: Engine,
    /// The pushed token and the log buffer; None for a reporter built from Rust with its own
    /// [`TokenProvider`] ([`UploadReporter::with_token_provider`]).
    app: Option<AppSide>,
}

/// What the exported constructor adds around the engine.
#[derive(Debug)]
struct AppSide {
    session: Arc<AppSession>,
    logs: Arc<LogBuffer>,
}

impl Drop for UploadReporter {
    fn drop(&mut self) {
        // Before the engine's own drop (a shutdown): no flusher thread may still be waiting
        // on the app's refresh when the engine waits for the flusher.
        if let Some(app) = &self.app {
            app.session.close();
        }
    }
}

#[uniffi::export]
impl UploadReporter {
    /// Opens the outbox at `config.database_path` and starts delivering in the background
    /// with `access_token` (the user's JWT; None when signed out). Push every later token
    /// with [`UploadReporter::set_access_token`]; `refresher` is asked for one after a 401,
    /// from a thread of its own, and waited for at most 10 s.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` (naming the field and its allowed range) for a setting that would void
    /// a guarantee, `Storage` when the database cannot be opened.
    #[uniffi::constructor]
    pub fn new(
        config: ReporterConfig,
        access_token: Option<String>,
        refresher: Arc<dyn SessionRefresher>,
    ) -> Result<Arc<Self>, ReporterError> {
        guard(|| {
            let logs = Arc::new(LogBuffer::default());
            let session = Arc::new(AppSession::new(access_token, refresher, Some(logs.clone())));
            let engine = Engine::open(config.into(), session.clone(), Some(logs.clone()))?;
            Ok(Arc::new(UploadReporter {
                engine,
                app: Some(AppSide { session, logs }),
            }))
        })
    }

    /// The user's newest access token (call it on every auth state change: sign-in,
    /// `TOKEN_REFRESHED`, sign-out with None). Delivery waiting on a token retries at once.
    pub fn set_access_token(&self, access_token: Option<String>) {
        let _ = guard(|| {
            if let Some(app) = &self.app {
                app.session.set_token(access_token);
                self.engine.shared.signals.retry_now();
            }
            Ok(())
        });
    }

    /// Takes up to `max` of the SDK's buffered log lines, oldest first (call it every few
    /// seconds and hand them to the app's logger). Nothing for a reporter built from Rust.
    pub fn take_log_lines(&self, max: u32) -> Vec<LogLine> {
        guard(|| {
            Ok(self
                .app
                .as_ref()
                .map(|app| app.logs.take(max as usize))
                .unwrap_or_default())
        })
        .unwrap_or_default()
    }

    /// Buffers log lines at `level` and above from now on (default `Info`).
    pub fn set_log_level(&self, level: LogLevel) {
        if let Some(app) = &self.app {
            app.logs.set_level(level);
        }
    }

    /// Records a new upload (the spec's `createUploadQueueRecord`); returns its id.
    ///
    /// # Errors
    ///
    /// `Rejected` (empty local id or filename, local id of a completed upload),
    /// `InvalidArgument` (metadata not a JSON object), `Storage`.
    pub fn begin_upload(
        &self,
        local_id: String,
        title: Option<String>,
        filename: String,
        file_size: Option<u64>,
        source: Option<UploadSource>,
        metadata_json: Option<String>,
    ) -> Result<String, ReporterError> {
        guard(|| {
            let new = NewUpload {
                local_id,
                title,
                filename,
                file_size,
                source: source.map(Into::into),
                metadata_json,
                uri: None,
            };
            Ok(self.engine.begin_upload(new)?.to_string())
        })
    }

    /// Reports bytes sent (the spec's `updateUploadProgress`); cheap, call it from every
    /// progress callback.
    ///
    /// # Errors
    ///
    /// `Rejected` (`OutOfRange`, `TerminalState`, `UnknownUpload`), `InvalidArgument`.
    pub fn report_progress(
        &self,
        upload_id: String,
        bytes_sent: u64,
        bytes_total: u64,
    ) -> Result<(), ReporterError> {
        guard(|| {
            self.engine
                .report_progress(self::upload_id(&upload_id)?, bytes_sent, bytes_total)
        })
    }

    /// Reports the pipeline step now running.
    ///
    /// # Errors
    ///
    /// `Rejected` (`StageOrder`, `TerminalState`, `UnknownUpload`), `Storage`.
    pub fn report_stage(&self, upload_id: String, stage: UploadStage) -> Result<(), ReporterError> {
        guard(|| {
            self.engine
                .report_stage(self::upload_id(&upload_id)?, stage.into())
        })
    }

    /// Reports success (the spec's `completeUploadQueue`); stored durably before returning.
    ///
    /// # Errors
    ///
    /// `Rejected` (`TerminalState`, `UnknownUpload`), `QueueFull`, `Storage`.
    pub fn complete(
        &self,
        upload_id: String,
        video_id: Option<String>,
    ) -> Result<(), ReporterError> {
        guard(|| {
            let video = video_id
                .map(|v| {
                    Uuid::parse_str(v.trim())
                        .map_err(|_| SdkError::InvalidArgument(format!("not a video id: {v:?}")))
                })
                .transpose()?;
            self.engine.complete(self::upload_id(&upload_id)?, video)
        })
    }

    /// Reports a failed attempt (the spec's `failUploadQueue`); stored durably before
    /// returning.
    ///
    /// # Errors
    ///
    /// `Rejected` (`TerminalState`, `RetryLimit`, `UnknownUpload`), `InvalidArgument`
    /// (empty error code), `QueueFull`, `Storage`.
    pub fn fail(
        &self,
        upload_id: String,
        error_code: String,
        message: String,
        retry_count: u32,
    ) -> Result<(), ReporterError> {
        guard(|| {
            self.engine.fail(
                self::upload_id(&upload_id)?,
                &error_code,
                &message,
                retry_count,
            )
        })
    }

    /// Reports a new attempt of a failed upload; stored durably before returning.
    ///
    /// # Errors
    ///
    /// `Rejected` (`InvalidTransition`, `RetryLimit`, `UnknownUpload`), `QueueFull`.
    pub fn retry(&self, upload_id: String) -> Result<(), ReporterError> {
        guard(|| self.engine.retry(self::upload_id(&upload_id)?))
    }

    /// Waits (up to `timeout_ms`) until everything reported so far is delivered (or
    /// dead-lettered); `Ok` means nothing reported before the call is still waiting.
    ///
    /// # Errors
    ///
    /// `Offline`; `ServerConfiguration` (the server refuses every request, e.g. the function
    /// is missing: events kept, retried with backoff); `Isolated` (the rest is delivered but
    /// the server keeps failing on some uploads: kept, retried); `Timeout` (delivery
    /// continues in the background).
    pub async fn flush(&self, timeout_ms: u64) -> Result<(), ReporterError> {
        guard_async(self.engine.flush(Duration::from_millis(timeout_ms))).await
    }

    /// Delivery figures.
    ///
    /// # Errors
    ///
    /// `Storage`.
    pub fn health(&self) -> Result<ReporterHealth, ReporterError> {
        guard(|| Ok(self.engine.health()?.into()))
    }

    /// Whether the network is usable (from the app's NetInfo listener).
    pub fn set_online(&self, online: bool) {
        let _ = guard(|| {
            self.engine.set_online(online);
            Ok(())
        });
    }

    /// Stops delivering; reported events stay stored for the next start.
    ///
    /// # Errors
    ///
    /// `Storage` while storing held-back progress.
    pub fn shutdown(&self) -> Result<(), ReporterError> {
        guard(|| {
            if let Some(app) = &self.app {
                // First: a flusher waiting on the app's refresh stops waiting, so the engine's
                // wait for the flusher never waits on the app's (JS) thread.
                app.session.close();
            }
            self.engine.shutdown()
        })
    }

    /// The device's uploads, newest first.
    ///
    /// # Errors
    ///
    /// `Storage`.
    pub fn list_uploads(&self) -> Result<Vec<UploadInfo>, ReporterError> {
        guard(|| {
            Ok(self
                .engine
                .list_uploads()?
                .into_iter()
                .map(Into::into)
                .collect())
        })
    }

    /// Reports uploads a killed process left running as failed (`interrupted`); returns
    /// their ids. Call once at start-up.
    ///
    /// # Errors
    ///
    /// `Storage`, `QueueFull`.
    pub fn recover_after_restart(&self) -> Result<Vec<String>, ReporterError> {
        guard(|| {
            Ok(self
                .engine
                .recover_after_restart()?
                .into_iter()
                .map(|id| id.to_string())
                .collect())
        })
    }

    /// Reconciles the app's AsyncStorage values (`@pending_videos`,
    /// `@import_queue_state`, raw strings, None when absent) with the SDK's uploads.
    ///
    /// # Errors
    ///
    /// `InvalidArgument` when a value is unusable as a whole; bad items are listed in the
    /// result's `skipped` instead. `Storage`.
    pub fn import_async_storage(
        &self,
        pending_videos_json: Option<String>,
        import_queue_state_json: Option<String>,
    ) -> Result<AsyncStorageImport, ReporterError> {
        guard(|| {
            Ok(self
                .engine
                .import_async_storage(
                    pending_videos_json.as_deref(),
                    import_queue_state_json.as_deref(),
                )?
                .into())
        })
    }

    /// The admin's open retry requests for this user's uploads.
    ///
    /// # Errors
    ///
    /// `Offline`, `Network`.
    pub async fn pending_retry_requests(&self) -> Result<Vec<PendingRetry>, ReporterError> {
        guard_async(async {
            Ok(self
                .engine
                .pending_retry_requests()
                .await?
                .into_iter()
                .map(Into::into)
                .collect())
        })
        .await
    }
}

impl UploadReporter {
    /// A reporter whose tokens come from a Rust [`TokenProvider`] and whose log lines go to
    /// `logger` (Rust callers: simulations, tests); `set_access_token` and
    /// `take_log_lines` do nothing on it.
    ///
    /// # Errors
    ///
    /// As [`UploadReporter::new`].
    pub fn with_token_provider(
        config: ReporterConfig,
        token_provider: Arc<dyn TokenProvider>,
        logger: Option<Arc<dyn ReporterLogger>>,
    ) -> Result<Arc<Self>, ReporterError> {
        guard(|| {
            let engine = Engine::open(config.into(), token_provider, logger)?;
            Ok(Arc::new(UploadReporter { engine, app: None }))
        })
    }

    /// The plain-Rust engine (for Rust callers and tests).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_a_guarded_call_comes_back_as_an_internal_error() {
        let result: Result<(), ReporterError> = guard(|| panic!("an SDK bug"));
        assert!(
            matches!(&result, Err(ReporterError::Internal { detail }) if detail.contains("an SDK bug")),
            "{result:?}"
        );
        let formatted: Result<(), ReporterError> = guard(|| panic!("bug {}", 42));
        assert!(
            matches!(&formatted, Err(ReporterError::Internal { detail }) if detail.contains("bug 42")),
            "{formatted:?}"
        );
    }

    #[test]
    fn a_panic_inside_a_guarded_async_call_comes_back_as_an_internal_error() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        fn buggy() -> Result<(), SdkError> {
            panic!("an async SDK bug")
        }
        let result: Result<(), ReporterError> = runtime.block_on(guard_async(async { buggy() }));
        assert!(
            matches!(&result, Err(ReporterError::Internal { detail }) if detail.contains("async SDK bug")),
            "{result:?}"
        );
    }
}
