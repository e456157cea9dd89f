//! The dev stack's one error type: every way starting or using a local stack can fail.

use std::path::PathBuf;

/// Why the dev stack could not start or answer.
///
/// Each variant says what to do about it; database internals stay in the `source`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevStackError {
    /// No directory with `initdb`, `pg_ctl` and `postgres` was found.
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; searched: {searched}. \
         Install them with `apt-get install postgresql` (Debian/Ubuntu) or put their bin \
         directory on PATH"
    )]
    PostgresNotFound {
        /// The directories that were looked at, separated by ", ".
        searched: String,
    },
    /// We run as root, and neither the `postgres` nor the `nobody` OS user exists to run the
    /// server as (PostgreSQL refuses to run as root).
    #[error(
        "running as root, but no `postgres` or `nobody` user in /etc/passwd to run PostgreSQL as \
         (initdb and postgres refuse root)"
    )]
    NoUnprivilegedUser,
    /// A file-system or process operation failed.
    #[error("{action}: {source}")]
    Io {
        /// What was being done, e.g. "creating the cluster's temp dir".
        action: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A PostgreSQL program ran and failed.
    #[error("{program} failed ({status}): {output}")]
    Command {
        /// The program's name, e.g. "initdb".
        program: String,
        /// Its exit status.
        status: String,
        /// What it printed (stderr and stdout, trimmed).
        output: String,
    },
    /// The server did not accept connections in time.
    #[error("PostgreSQL did not become ready within {seconds}s; its log:\n{log}")]
    NotReady {
        /// How long we waited.
        seconds: u64,
        /// The tail of the server's log.
        log: String,
    },
    /// A database request failed.
    #[error("database error while {action}: {source}")]
    Database {
        /// What was being done, e.g. "connecting as postgres".
        action: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A migration file could not be applied; nothing of that file was kept.
    #[error("migration {file} failed: {message}")]
    Migration {
        /// The migration file.
        file: PathBuf,
        /// The server's message, with the line it points at when it gives a position.
        message: String,
    },
    /// Configuration (environment variables or options) is incomplete or invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The HTTP gateway could not be started.
    #[error("gateway: {0}")]
    Gateway(String),
}

impl DevStackError {
    /// Wraps an I/O error with what was being done.
    pub(crate) fn io(action: impl Into<String>, source: std::io::Error) -> Self {
        DevStackError::Io {
            action: action.into(),
            source,
        }
    }

    /// Wraps a database error with what was being done.
    pub(crate) fn db(action: impl Into<String>, source: tokio_postgres::Error) -> Self {
        DevStackError::Database {
            action: action.into(),
            source,
        }
    }
}
