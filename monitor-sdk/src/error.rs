//! The SDK's errors: a detailed one for Rust callers, flattened into a small uniffi enum for
//! the app.
//!
//! Database and network details go to the log, never into the messages the app shows.

use monitor_core::RejectReason;
use uuid::Uuid;

/// Everything that can go wrong inside the SDK.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SdkError {
    /// The call breaks the upload rules (monitor-core's state machine refused it).
    #[error("the call breaks the upload rules: {}", .0.as_str())]
    Rejected(RejectReason),
    /// No upload with this id is known on this device.
    #[error("no upload {0} on this device")]
    UnknownUpload(Uuid),
    /// An argument is malformed (not a UUID, not JSON, a zero total...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A configuration value is outside the range that keeps the SDK's guarantees (the
    /// ranges are the constants of [`crate::policy`]).
    #[error("invalid configuration: {field} must be {allowed}, got {got}")]
    InvalidConfig {
        /// The field, as [`crate::ReporterConfig`] spells it.
        field: &'static str,
        /// What it accepts.
        allowed: String,
        /// What it was given.
        got: String,
    },
    /// The outbox is at its caps and the event may not be dropped: it was refused (and
    /// counted) instead.
    #[error("the local queue is full; the {kind} report was refused")]
    QueueFull {
        /// The refused event's kind.
        kind: &'static str,
    },
    /// The local SQLite database failed.
    #[error("local storage failed")]
    Storage(#[from] rusqlite::Error),
    /// Another reporter (in this process or another) has this outbox file open: one
    /// reporter per file.
    #[error("another reporter has the outbox {} open", .0.display())]
    OutboxInUse(std::path::PathBuf),
    /// The outbox's lock file could not be opened or locked.
    #[error("the outbox's lock file is unusable")]
    LockFile(#[source] std::io::Error),
    /// A stored row could not be read back.
    #[error("local storage holds an unreadable row")]
    Corrupt(#[from] serde_json::Error),
    /// An HTTP request failed or the server answered with an error.
    #[error("server request failed: {0}")]
    Network(String),
    /// The server refuses every request for a reason that is not the events' (404: the
    /// function is missing; 431: headers too large; 403...): events are kept and retried.
    #[error("events held back by a configuration problem: {0}")]
    ServerConfiguration(String),
    /// Events held back because their uploads are set aside after repeated server errors
    /// (the flusher's isolation, see ARCHITECTURE.md); everything else was delivered.
    #[error("{events} event(s) of {uploads} upload(s) held back: the server keeps failing on them; retried on their own backoff")]
    Isolated {
        /// Uploads set aside that have events among those waited for.
        uploads: u64,
        /// Their events waited for.
        events: u64,
    },
    /// The device is offline (`set_online(false)`).
    #[error("the reporter is offline")]
    Offline,
    /// A wait (flush) ran out of time; nothing is lost, delivery continues.
    #[error("timed out after {0} ms; delivery continues in the background")]
    Timeout(u64),
    /// The reporter was shut down.
    #[error("the reporter is shut down")]
    ShutDown,
    /// The AsyncStorage JSON could not be read.
    #[error("AsyncStorage data unreadable: {0}")]
    Import(String),
    /// A bug: a panic was caught at the FFI boundary.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Which upload rule a call broke (monitor-core's `RejectReason`, as the app sees it).
///
/// The conversion from `RejectReason` is an exhaustive `match` (the core enum is not
/// `#[non_exhaustive]`): a reason added to the core does not compile until it is mapped here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RuleViolation {
    /// A field is missing or empty (empty local id or filename, negative size...).
    InvalidPayload,
    /// The upload is not known.
    UnknownUpload,
    /// The upload was already begun.
    AlreadyBegun,
    /// The app's local id already belongs to another upload.
    LocalIdConflict,
    /// Not this user's upload.
    Forbidden,
    /// The upload is completed or failed; only a retry (of a failed one) may follow.
    TerminalState,
    /// The transition is not allowed (retry of an upload that has not failed).
    InvalidTransition,
    /// A stage before the current one.
    StageOrder,
    /// Progress above the total, negative bytes, percent outside 0–100.
    OutOfRange,
    /// More than 3 retries.
    RetryLimit,
}

impl From<RejectReason> for RuleViolation {
    fn from(reason: RejectReason) -> Self {
        match reason {
            RejectReason::InvalidPayload => RuleViolation::InvalidPayload,
            RejectReason::UnknownUpload => RuleViolation::UnknownUpload,
            RejectReason::AlreadyBegun => RuleViolation::AlreadyBegun,
            RejectReason::LocalIdConflict => RuleViolation::LocalIdConflict,
            RejectReason::Forbidden => RuleViolation::Forbidden,
            RejectReason::TerminalState => RuleViolation::TerminalState,
            RejectReason::InvalidTransition => RuleViolation::InvalidTransition,
            RejectReason::StageOrder => RuleViolation::StageOrder,
            RejectReason::OutOfRange => RuleViolation::OutOfRange,
            RejectReason::RetryLimit => RuleViolation::RetryLimit,
        }
    }
}

/// The error every exported call returns.
///
/// No field is named `message`: Kotlin maps this enum to exception classes, where such a
/// field clashes with `Throwable.message` and the generated code does not compile (uniffi
/// issue #1434). The text is `detail`; each language's own message (`Throwable.message`,
/// `Error.message`, `str(e)`) is built from it.
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[non_exhaustive]
pub enum ReporterError {
    /// The call breaks an upload rule; nothing was recorded.
    #[error("rejected ({rule:?}): {detail}")]
    Rejected {
        /// The rule.
        rule: RuleViolation,
        /// A sentence for logs.
        detail: String,
    },
    /// An argument is malformed; nothing was recorded.
    #[error("invalid argument: {detail}")]
    InvalidArgument {
        /// What is wrong.
        detail: String,
    },
    /// The configuration would void a guarantee (nothing survives a restart, events
    /// dead-lettered unsent, a retry loop that spins); the reporter was not built.
    #[error("invalid configuration: {field} must be {allowed}, got {got}")]
    InvalidConfig {
        /// The `ReporterConfig` field.
        field: String,
        /// The values it accepts.
        allowed: String,
        /// The value it was given.
        got: String,
    },
    /// The local queue is full and refused an event that must not be dropped silently.
    #[error("queue full: {detail}")]
    QueueFull {
        /// Which report was refused.
        detail: String,
    },
    /// Local storage failed (details in the log).
    #[error("storage: {detail}")]
    Storage {
        /// A generic description.
        detail: String,
    },
    /// Another reporter has this `database_path` open (one reporter per file: shut the
    /// other down first); nothing was opened.
    #[error("the outbox {path} is in use by another reporter")]
    OutboxInUse {
        /// The database path.
        path: String,
    },
    /// The server could not be reached or refused the request.
    #[error("network: {detail}")]
    Network {
        /// What happened.
        detail: String,
    },
    /// `flush`: the server refuses every request for a configuration reason (the function
    /// is missing, the headers are too large, a grant is missing...). Nothing is lost: the
    /// events are kept and retried with backoff; `health().configuration_problem` says what
    /// to check.
    #[error("server configuration: {problem}")]
    ServerConfiguration {
        /// What the server answered and what to check.
        problem: String,
    },
    /// `flush`: everything else is delivered, but some uploads' events are held back because
    /// the server keeps failing (5xx) on them; they are kept and retried on their own
    /// backoff (`health().isolated_uploads`).
    #[error("isolated: {events} event(s) of {uploads} upload(s) held back")]
    Isolated {
        /// Uploads set aside.
        uploads: u64,
        /// Their events among those the flush waited for.
        events: u64,
    },
    /// The reporter is offline.
    #[error("offline")]
    Offline,
    /// A wait ran out of time; delivery continues.
    #[error("timeout: {detail}")]
    Timeout {
        /// What was waited for.
        detail: String,
    },
    /// The reporter was shut down.
    #[error("shut down")]
    ShutDown,
    /// A bug inside the SDK (a caught panic); the reporter stays usable.
    #[error("internal: {detail}")]
    Internal {
        /// The panic's message.
        detail: String,
    },
}

impl From<SdkError> for ReporterError {
    fn from(error: SdkError) -> Self {
        let detail = error.to_string();
        match error {
            SdkError::Rejected(reason) => ReporterError::Rejected {
                rule: reason.into(),
                detail,
            },
            SdkError::UnknownUpload(_) => ReporterError::Rejected {
                rule: RuleViolation::UnknownUpload,
                detail,
            },
            SdkError::InvalidArgument(_) | SdkError::Import(_) => {
                ReporterError::InvalidArgument { detail }
            }
            SdkError::InvalidConfig {
                field,
                allowed,
                got,
            } => ReporterError::InvalidConfig {
                field: field.to_string(),
                allowed,
                got,
            },
            SdkError::QueueFull { .. } => ReporterError::QueueFull { detail },
            SdkError::Storage(ref cause) => {
                tracing::error!(%cause, "local storage failed");
                ReporterError::Storage { detail }
            }
            SdkError::OutboxInUse(path) => ReporterError::OutboxInUse {
                path: path.display().to_string(),
            },
            SdkError::LockFile(ref cause) => {
                tracing::error!(%cause, "outbox lock file");
                ReporterError::Storage { detail }
            }
            SdkError::Corrupt(ref cause) => {
                tracing::error!(%cause, "unreadable local row");
                ReporterError::Storage { detail }
            }
            SdkError::Network(_) => ReporterError::Network { detail },
            SdkError::ServerConfiguration(problem) => {
                ReporterError::ServerConfiguration { problem }
            }
            SdkError::Isolated { uploads, events } => ReporterError::Isolated { uploads, events },
            SdkError::Offline => ReporterError::Offline,
            SdkError::Timeout(_) => ReporterError::Timeout { detail },
            SdkError::ShutDown => ReporterError::ShutDown,
            SdkError::Internal(_) => ReporterError::Internal { detail },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_errors_do_not_leak_sql_into_the_message() {
        let error: ReporterError = SdkError::Storage(rusqlite::Error::InvalidQuery).into();
        let text = error.to_string();
        assert!(text.contains("local storage failed"), "{text}");
        assert!(!text.to_lowercase().contains("query"), "{text}");
    }

    #[test]
    fn rule_breaks_keep_their_rule() {
        let error: ReporterError = SdkError::Rejected(RejectReason::OutOfRange).into();
        assert!(matches!(
            error,
            ReporterError::Rejected {
                rule: RuleViolation::OutOfRange,
                ..
            }
        ));
    }
}
