//! One reporter per outbox file: an exclusive OS lock on a sidecar `<database>.lock` file,
//! held from the reporter's open until it shuts down (or its process dies).
//!
//! Two reporters on one file would each number an upload's events from their own memory: the
//! second `complete` got the first one's sequence number, the server answered `superseded`,
//! and the SDK counted it delivered while the row stayed `uploading`.
//!
//! Why `flock` on a sidecar file (std's `File::try_lock`) rather than SQLite's
//! `locking_mode=EXCLUSIVE`:
//! - the kernel releases it with the process, so a reporter killed with SIGKILL leaves no
//!   stale lock, and it belongs to the open file description, so a second open in the same
//!   process conflicts too (SQLite's POSIX `fcntl` locks never conflict within one process,
//!   which SQLite works around with its own in-process table);
//! - the second opener gets a typed error at once, where SQLite's exclusive mode would make
//!   it wait the busy timeout and then fail a statement somewhere later, and would also shut
//!   out the read-only connections support tools and tests open on the file;
//! - the reporter lets go when it stops (`shutdown`, `abandon`), not when the last handle on
//!   its connection happens to close;
//! - a separate file never meets SQLite's own byte-range locks on the database, even where
//!   `flock` is emulated with `fcntl`.
//!
//! The lock file is never deleted: removing it while another opener holds a descriptor on it
//! would let two reporters lock two different files of the same name.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::SdkError;

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub(crate) struct OutboxLock {
    /// Kept open: closing the descriptor releases the lock.
    _file: File,
}

impl OutboxLock {
    /// The sidecar lock file of `database`.
    pub(crate) fn path_for(database: &Path) -> PathBuf {
        let mut path = database.as_os_str().to_owned();
        path.push(".lock");
        PathBuf::from(path)
    }

    /// Takes the lock of `database` without waiting. `Ok(None)` when the file system cannot
    /// lock at all (logged): the reporter then runs unguarded rather than not at all.
    ///
    /// # Errors
    ///
    /// [`SdkError::OutboxInUse`] when another reporter (in this process or another) holds it,
    /// [`SdkError::LockFile`] when the lock file cannot be opened.
    pub(crate) fn acquire(database: &Path) -> Result<Option<OutboxLock>, SdkError> {
        let path = Self::path_for(database);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(SdkError::LockFile)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(OutboxLock { _file: file })),
            Err(TryLockError::WouldBlock) => Err(SdkError::OutboxInUse(database.to_path_buf())),
            Err(TryLockError::Error(error)) if error.kind() == std::io::ErrorKind::Unsupported => {
                tracing::warn!(path = %path.display(), "this file system cannot lock files; a second reporter on the same outbox would not be refused");
                Ok(None)
            }
            Err(TryLockError::Error(error)) => Err(SdkError::LockFile(error)),
        }
    }
}
