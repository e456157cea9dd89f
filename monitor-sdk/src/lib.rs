//! Upload Monitor mobile SDK: the [`UploadReporter`] the React Native app calls through
//! uniffi (and a Rust tool calls directly).
//!
//! The app reports each upload (`begin_upload`, `report_progress`, `report_stage`,
//! `complete`, `fail`, `retry`); every call is validated by monitor-core's state machine
//! against the device's own record, progress is coalesced and rate limited, events wait in
//! an SQLite outbox and a background task delivers them to `report_upload_events` under a
//! [`policy::FlushPolicy`], through monitor-core's PostgREST transport
//! (`monitor_core::client::transport`).
//!
//! The whole life of an upload, offline here (nothing is reachable at port 9; the events
//! wait in the outbox and would be delivered once online):
//!
//! ```
//! use std::sync::Arc;
//! use monitor_sdk::{ReporterConfig, SessionRefresher, UploadReporter};
//! use monitor_sdk::ffi::{UploadStage, UploadStatus};
//!
//! /// The app's `supabase.auth.refreshSession()`, asked for after a 401.
//! struct Supabase;
//! #[async_trait::async_trait]
//! impl SessionRefresher for Supabase {
//!     async fn refresh_access_token(&self) -> Option<String> {
//!         None // signed out, or no network
//!     }
//! }
//!
//! # fn main() -> Result<(), monitor_sdk::ReporterError> {
//! let dir = tempfile::tempdir().expect("a temporary directory");
//! let outbox = dir.path().join("upload-monitor.sqlite");
//! // At launch: the project, its anon key, the outbox file in the app's storage.
//! let config = ReporterConfig::new("http://127.0.0.1:9", "anon-key", &outbox.to_string_lossy());
//! let reporter = UploadReporter::new(config, Some("the-user-jwt".into()), Arc::new(Supabase))?;
//! reporter.set_online(false);
//! // Uploads a killed process left running are reported failed ("interrupted").
//! let interrupted = reporter.recover_after_restart()?;
//! assert!(interrupted.is_empty());
//!
//! let id = reporter.begin_upload("import_1_1".into(), Some("Match".into()), "match.mov".into(), Some(10_000_000), None, None)?;
//! reporter.report_stage(id.clone(), UploadStage::Uploading)?;
//! reporter.report_progress(id.clone(), 2_500_000, 10_000_000)?; // cheap: call it on every callback
//! reporter.fail(id.clone(), "network".into(), "the connection dropped".into(), 0)?;
//! reporter.retry(id.clone())?; // the user (or an admin's retry request) tries again
//! reporter.report_progress(id.clone(), 10_000_000, 10_000_000)?;
//! reporter.complete(id.clone(), None)?;
//!
//! let upload = &reporter.list_uploads()?[0];
//! assert_eq!(upload.status, UploadStatus::Completed);
//! assert_eq!(upload.retry_count, 1);
//! // Everything is in the outbox, waiting for the network.
//! assert!(reporter.health()?.pending_events > 0);
//! // The app's log screen takes the SDK's lines.
//! let _lines = reporter.take_log_lines(100);
//! reporter.shutdown()?; // held-back progress is written; the next launch resends the rest
//! # Ok(()) }
//! ```
//!
//! The app-facing API is what this page lists: [`UploadReporter`] and its records
//! ([`ffi`]), [`ReporterConfig`], the errors ([`ReporterError`], [`RuleViolation`]), the
//! app's hooks ([`SessionRefresher`], and for Rust callers [`TokenProvider`],
//! [`ReporterLogger`]) and the limits ([`policy`]). [`Engine`] is the same reporter in plain
//! Rust, for simulations and tools. The internals (outbox, flusher, isolation, rate limit)
//! are documented in the source and in ARCHITECTURE.md.
#![deny(missing_docs)]

uniffi::setup_scaffolding!();

#[doc(hidden)]
pub mod clock;
mod delivery;
#[doc(hidden)]
pub mod engine;
pub mod error;
pub mod ffi;
pub(crate) mod flusher;
pub mod foreign;
pub mod import;
pub(crate) mod isolation;
pub mod log_buffer;
#[doc(hidden)]
pub mod outbox;
mod outbox_lock;
pub mod policy;
pub(crate) mod rate_limit;
pub mod reporter;
pub mod session;
mod shared;
mod signals;
pub(crate) mod uploads;

pub use clock::SdkClock;
pub use engine::{Engine, EngineConfig, Health, NewUpload, RetryRequest, INTERRUPTED_ERROR_CODE};
pub use error::{ReporterError, RuleViolation, SdkError};
pub use ffi::ReporterConfig;
pub use foreign::{LogLevel, ReporterLogger, SessionRefresher, TokenProvider};
pub use log_buffer::LogLine;
pub use monitor_core;
pub use outbox::{OutboxStats, UploadRow};
pub use reporter::UploadReporter;
