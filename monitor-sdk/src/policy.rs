//! The numbers the outbox and the flusher obey: batch size, caps, progress pace, backoff.
//!
//! Kept apart from the mechanism (Glean's `Policy`): the outbox and flusher read a
//! [`FlushPolicy`], tests build one with small delays, and every default says why it is what
//! it is.

use std::time::Duration;

/// Events per `report_upload_events` call. One uploading phone writes at most one progress
/// a second, so 500 events are ~8 minutes of one upload's reports; as JSON (~250 bytes each)
/// a batch is ~125 KB, well under the server's 1,000-event limit and a mobile request's
/// comfortable size.
pub const BATCH_MAX_EVENTS: usize = 500;

/// Events kept unsent before the outbox starts evicting: ~2.7 hours of one upload reporting
/// every second while offline, or 20 full batches to drain on reconnect.
pub const DEFAULT_MAX_PENDING_EVENTS: u64 = 10_000;

/// Bytes of event JSON kept unsent: 10,000 events of ~250 bytes, with room for the odd
/// long error message (cut to 4,000 characters by the server anyway).
pub const DEFAULT_MAX_PENDING_BYTES: u64 = 4 * 1024 * 1024;

/// Events older than this are not sent any more: the server's cleanup removes finished
/// uploads after 30 days, so a report older than that would describe a row that is gone.
pub const DEFAULT_MAX_EVENT_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

/// The least time between two progress writes of one upload, whatever the server says:
/// the issue's "at most one progress write per upload per second".
pub const PROGRESS_FLOOR: Duration = Duration::from_secs(1);

/// First retry delay ceiling: a blip (a 503 while a server restarts) is retried within a
/// second.
pub const DEFAULT_RETRY_BASE: Duration = Duration::from_millis(1_000);

/// Longest retry delay ceiling: five minutes keeps a phone that is offline for hours from
/// waking its radio more than a dozen times an hour, and a recovered server sees the backlog
/// within minutes.
pub const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(300);

/// How long one POST may take. A 500-event batch is applied in well under a second; 30 s
/// covers a slow 3G uplink without leaving a dead connection open for minutes.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The limits the SDK runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct FlushPolicy {
    /// Events per POST (at most [`BATCH_MAX_EVENTS`] on a real server).
    pub batch_max_events: usize,
    /// Count cap of the outbox.
    pub max_pending_events: u64,
    /// Byte cap of the outbox (event JSON).
    pub max_pending_bytes: u64,
    /// Age cap of the outbox.
    pub max_event_age: Duration,
    /// The device's own least interval between progress writes of one upload; the server's
    /// `min_progress_interval_ms` may raise it, never lower it below [`PROGRESS_FLOOR`].
    pub min_progress_interval: Duration,
    /// Backoff: the ceiling of the first retry delay.
    pub retry_base: Duration,
    /// Backoff: the largest ceiling.
    pub retry_max: Duration,
    /// Timeout of one POST.
    pub request_timeout: Duration,
}

impl Default for FlushPolicy {
    fn default() -> Self {
        FlushPolicy {
            batch_max_events: BATCH_MAX_EVENTS,
            max_pending_events: DEFAULT_MAX_PENDING_EVENTS,
            max_pending_bytes: DEFAULT_MAX_PENDING_BYTES,
            max_event_age: DEFAULT_MAX_EVENT_AGE,
            min_progress_interval: PROGRESS_FLOOR,
            retry_base: DEFAULT_RETRY_BASE,
            retry_max: DEFAULT_RETRY_MAX,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

impl FlushPolicy {
    /// The progress interval to use when the server asks for `server_ms`: the larger of the
    /// server's, the device's and [`PROGRESS_FLOOR`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use monitor_sdk::policy::FlushPolicy;
    /// let policy = FlushPolicy::default();
    /// assert_eq!(policy.progress_interval(5_000), Duration::from_secs(5));
    /// assert_eq!(policy.progress_interval(10), Duration::from_secs(1));
    /// ```
    pub fn progress_interval(&self, server_ms: u64) -> Duration {
        Duration::from_millis(server_ms)
            .max(self.min_progress_interval)
            .max(PROGRESS_FLOOR)
    }

    /// The delay before retry number `attempt` (1-based): exponential backoff with full
    /// jitter (a uniform draw in `[0, min(max, base * 2^(attempt-1))]`, so a fleet that lost
    /// the server at the same moment does not come back at the same moment), but never less
    /// than the server's `Retry-After`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use monitor_sdk::policy::FlushPolicy;
    /// let policy = FlushPolicy::default();
    /// assert!(policy.backoff(1, None) <= Duration::from_secs(1));
    /// assert!(policy.backoff(30, None) <= Duration::from_secs(300));
    /// assert!(policy.backoff(1, Some(Duration::from_secs(7))) >= Duration::from_secs(7));
    /// ```
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exponent = attempt.saturating_sub(1).min(20);
        let ceiling = self
            .retry_base
            .saturating_mul(1u32 << exponent)
            .min(self.retry_max);
        let jittered = ceiling.mul_f64(fastrand::f64());
        match retry_after {
            // A server asking for more than our cap is obeyed up to the cap's double: it
            // knows its load, but a bogus header must not park the queue for a day.
            Some(wait) => jittered.max(wait.min(self.retry_max.saturating_mul(2))),
            None => jittered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_ceilings_double_then_stop_at_the_max() {
        fastrand::seed(7);
        let policy = FlushPolicy {
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_millis(1_000),
            ..FlushPolicy::default()
        };
        for attempt in 1..40 {
            let ceiling = Duration::from_millis((100u64 << (attempt - 1).min(20)).min(1_000));
            assert!(
                policy.backoff(attempt, None) <= ceiling,
                "attempt {attempt}"
            );
        }
    }

    #[test]
    fn retry_after_is_honoured_but_bounded() {
        let policy = FlushPolicy::default();
        assert!(policy.backoff(1, Some(Duration::from_secs(3))) >= Duration::from_secs(3));
        assert!(policy.backoff(1, Some(Duration::from_secs(86_400))) <= Duration::from_secs(600));
    }

    #[test]
    fn the_server_can_slow_progress_but_never_below_one_second() {
        let policy = FlushPolicy {
            min_progress_interval: Duration::from_millis(10),
            ..FlushPolicy::default()
        };
        assert_eq!(policy.progress_interval(0), PROGRESS_FLOOR);
        assert_eq!(
            policy.progress_interval(2_500),
            Duration::from_millis(2_500)
        );
    }
}
