//! The SDK's log lines held for the app to take (`UploadReporter::take_log_lines`), so no
//! log line is ever a call into the app from the SDK's background thread.
//!
//! Bounded: past [`LOG_BUFFER_LINES`] the oldest line goes and is counted; the next take
//! starts with one line saying how many went.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard};

use chrono::Utc;

use crate::foreign::{LogLevel, ReporterLogger};

/// Lines kept between two takes: at the default `Info` level a busy phone writes a few
/// lines a minute (server pace changes, retries), so 512 is many minutes of an app that
/// drains every few seconds, in at most ~100 kB.
pub const LOG_BUFFER_LINES: usize = 512;

/// One log line of the SDK.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LogLine {
    /// How much it matters.
    pub level: LogLevel,
    /// The text (no token, no SQL).
    pub message: String,
    /// When it was written, Unix ms.
    pub at_ms: i64,
}

#[derive(Debug, Default)]
struct Lines {
    lines: VecDeque<LogLine>,
    dropped: u64,
}

/// A bounded buffer of log lines at or above a level.
#[derive(Debug)]
pub struct LogBuffer {
    lines: Mutex<Lines>,
    min_level: AtomicU8,
}

fn rank(level: LogLevel) -> u8 {
    match level {
        LogLevel::Debug => 0,
        LogLevel::Info => 1,
        LogLevel::Warn => 2,
        LogLevel::Error => 3,
    }
}

impl Default for LogBuffer {
    fn default() -> Self {
        LogBuffer {
            lines: Mutex::default(),
            min_level: AtomicU8::new(rank(LogLevel::Info)),
        }
    }
}

impl LogBuffer {
    fn lock(&self) -> MutexGuard<'_, Lines> {
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps lines at `level` and above from now on (default `Info`).
    pub fn set_level(&self, level: LogLevel) {
        self.min_level.store(rank(level), Ordering::Relaxed);
    }

    /// Takes up to `max` of the oldest lines (a note of dropped lines first, if any).
    pub fn take(&self, max: usize) -> Vec<LogLine> {
        let mut lines = self.lock();
        let mut out = Vec::new();
        if lines.dropped > 0 && max > 0 {
            out.push(LogLine {
                level: LogLevel::Warn,
                message: format!(
                    "{} older SDK log lines were dropped (more than {LOG_BUFFER_LINES} waited)",
                    lines.dropped
                ),
                at_ms: Utc::now().timestamp_millis(),
            });
            lines.dropped = 0;
        }
        let n = max.saturating_sub(out.len()).min(lines.lines.len());
        out.extend(lines.lines.drain(..n));
        out
    }
}

impl ReporterLogger for LogBuffer {
    fn log(&self, level: LogLevel, message: String) {
        if rank(level) < self.min_level.load(Ordering::Relaxed) {
            return;
        }
        let line = LogLine {
            level,
            message,
            at_ms: Utc::now().timestamp_millis(),
        };
        let mut lines = self.lock();
        if lines.lines.len() >= LOG_BUFFER_LINES {
            lines.lines.pop_front();
            lines.dropped += 1;
        }
        lines.lines.push_back(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_below_the_level_are_not_kept() {
        let buffer = LogBuffer::default();
        buffer.log(LogLevel::Debug, "detail".into());
        buffer.log(LogLevel::Warn, "retry".into());
        let taken = buffer.take(10);
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].message, "retry");
        buffer.set_level(LogLevel::Debug);
        buffer.log(LogLevel::Debug, "detail".into());
        assert_eq!(buffer.take(10).len(), 1);
        assert!(buffer.take(10).is_empty(), "taken lines are gone");
    }

    #[test]
    fn a_full_buffer_drops_the_oldest_and_says_how_many() {
        let buffer = LogBuffer::default();
        for i in 0..LOG_BUFFER_LINES + 3 {
            buffer.log(LogLevel::Info, format!("line {i}"));
        }
        let first = buffer.take(2);
        assert!(first[0].message.starts_with("3 older"), "{first:?}");
        assert_eq!(first[1].message, "line 3");
        let rest = buffer.take(usize::MAX);
        assert_eq!(rest.len(), LOG_BUFFER_LINES - 1);
        assert_eq!(
            rest.last().map(|l| l.message.as_str()),
            Some("line 514"),
            "the newest is kept"
        );
    }
}
