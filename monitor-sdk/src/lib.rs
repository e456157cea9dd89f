//! Upload Monitor mobile SDK: the `UploadReporter` the React Native app calls through uniffi.
//!
//! The app reports each upload (`begin_upload`, `report_progress`, `report_stage`,
//! `complete`, `fail`, `retry`); every call is validated by monitor-core's state machine
//! against the device's own record ([`uploads`]), progress is coalesced and rate limited
//! ([`rate_limit`]), events wait in an SQLite outbox ([`outbox`]) and a background task
//! delivers them to `report_upload_events` ([`flusher`]) under a [`policy::FlushPolicy`].
//! [`engine`] wires these together in plain Rust; [`reporter`] is the thin exported shell.
#![deny(missing_docs)]

uniffi::setup_scaffolding!();

pub mod clock;
pub mod engine;
pub mod error;
pub mod ffi;
pub mod flusher;
pub mod foreign;
pub mod import;
pub mod isolation;
pub mod log_buffer;
pub mod outbox;
mod outbox_lock;
pub mod policy;
pub mod rate_limit;
pub mod reporter;
pub mod session;
pub mod uploads;

pub use engine::{Engine, EngineConfig, NewUpload};
pub use error::{ReporterError, RuleViolation, SdkError};
pub use ffi::ReporterConfig;
pub use foreign::{LogLevel, ReporterLogger, SessionRefresher, TokenProvider};
pub use log_buffer::LogLine;
pub use monitor_core;
pub use reporter::UploadReporter;
