//! The numbers the outbox and the flusher obey: batch size, caps, progress pace, backoff.
//!
//! Kept apart from the mechanism (Glean's `Policy`): the outbox and flusher read a
//! [`FlushPolicy`], tests build one with small delays, and every default says why it is what
//! it is.

use std::time::Duration;

use crate::error::SdkError;

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

/// The slowest progress pace the app may set or the server may ask for. Three reports fit
/// in the 30-minute window after which an upload with no report shows as stale, so a fleet
/// slowed to this pace never looks stale; and a bogus `min_progress_interval_ms` (up to
/// `u64::MAX`) cannot reach the rate limiter, whose clock arithmetic overflows past 584 years.
pub const MAX_PROGRESS_INTERVAL: Duration = Duration::from_secs(600);

/// The server's own limit on events per `report_upload_events` call (`c_max_events` in the
/// migration): a larger batch is refused whole.
pub const SERVER_MAX_BATCH_EVENTS: usize = 1_000;

/// Fewest unsent events the outbox may be capped at: room for the begin, six stages and the
/// terminal event of a dozen uploads at once, so the caps never refuse a terminal report of
/// an app that runs a few uploads side by side.
pub const MIN_PENDING_EVENTS: u64 = 100;

/// Most unsent events the outbox may be capped at: 100 times the default, ~250 MB of JSON at
/// ~250 bytes an event; past that the cap no longer bounds anything a phone can hold.
pub const MAX_PENDING_EVENTS: u64 = 1_000_000;

/// Smallest byte cap: a few long failure messages (the server keeps 4,000 characters of one)
/// plus a batch of progress.
pub const MIN_PENDING_BYTES: u64 = 64 * 1024;

/// Largest byte cap: a gigabyte of JSON is far beyond [`MAX_PENDING_EVENTS`] typical events;
/// beyond it the phone's storage, not the cap, would be the limit.
pub const MAX_PENDING_BYTES: u64 = 1024 * 1024 * 1024;

/// Shortest age cap: below an hour, a phone offline for a flight or a night in a dead zone
/// would have its reports dead-lettered before it could send them (0 dead-letters every
/// event before its first attempt).
pub const MIN_EVENT_AGE: Duration = Duration::from_secs(3_600);

/// Longest age cap: the default, the server's 30-day cleanup (see [`DEFAULT_MAX_EVENT_AGE`]).
pub const MAX_EVENT_AGE: Duration = DEFAULT_MAX_EVENT_AGE;

/// Smallest first-retry ceiling. Zero would make every retry immediate (an unreachable
/// server then took ~1,800 requests a second and 0.7 of a core); 10 ms still doubles to
/// the max within a few failures. Tests use tens of milliseconds.
pub const MIN_RETRY_BASE: Duration = Duration::from_millis(10);

/// Smallest largest-retry ceiling: full jitter under 250 ms averages 125 ms, so a phone whose
/// server is down sends at most ~8 requests a second even when configured for tests.
pub const MIN_RETRY_MAX: Duration = Duration::from_millis(250);

/// Largest retry ceiling (first or largest): an hour. Longer, and a phone back online would
/// sit on a backlog for most of a day before trying again.
pub const MAX_RETRY: Duration = Duration::from_secs(3_600);

/// Shortest request timeout: a 500-event batch over a slow link needs more than a second;
/// below it every request would time out and nothing would ever be delivered.
pub const MIN_REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// Longest request timeout: past five minutes a dead connection holds the queue longer
/// than the longest default backoff.
pub const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// Longest anon key accepted: a legacy anon JWT is ~200 bytes and a publishable key ~50; 4 KiB
/// leaves room and keeps the request's headers far below the 8 KiB a common proxy (nginx)
/// allows per header line, beyond which every request would be refused (400 or 431).
pub const MAX_ANON_KEY_BYTES: usize = 4 * 1024;

/// Consecutive server errors (5xx) on the same batch before the flusher isolates it: a blip
/// (a deploy, a restart) rarely outlasts three backoff rounds (ceilings of 1, 2 and 4 s by
/// default), while a batch that breaks the server fails every time. The batch's uploads are
/// then sent one by one, and an upload that fails this many times alone is parked: its events
/// are kept and retried on their own backoff, and the others flow past it.
pub const ISOLATE_AFTER_SERVER_ERRORS: u32 = 3;

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
            .min(MAX_PROGRESS_INTERVAL)
    }

    /// Checks every limit against its documented range (the constants above), so a
    /// configuration that would void a guarantee is refused when the reporter is built.
    /// Errors name the field as [`crate::ReporterConfig`] spells it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use monitor_sdk::policy::FlushPolicy;
    /// assert!(FlushPolicy::default().validate().is_ok());
    /// let spinning = FlushPolicy { retry_base: Duration::ZERO, ..FlushPolicy::default() };
    /// assert!(spinning.validate().unwrap_err().to_string().contains("retry_base_ms"));
    /// ```
    ///
    /// # Errors
    ///
    /// [`SdkError::InvalidConfig`] for the first field out of range.
    pub fn validate(&self) -> Result<(), SdkError> {
        let count = |field, value: u64, min: u64, max: u64| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(SdkError::InvalidConfig {
                    field,
                    allowed: format!("{min} to {max}"),
                    got: value.to_string(),
                })
            }
        };
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let ms = |field, value: Duration, min: Duration, max: Duration| {
            count(field, millis(value), millis(min), millis(max))
        };
        count(
            "batch_max_events",
            self.batch_max_events as u64,
            1,
            SERVER_MAX_BATCH_EVENTS as u64,
        )?;
        count(
            "max_pending_events",
            self.max_pending_events,
            MIN_PENDING_EVENTS,
            MAX_PENDING_EVENTS,
        )?;
        count(
            "max_pending_bytes",
            self.max_pending_bytes,
            MIN_PENDING_BYTES,
            MAX_PENDING_BYTES,
        )?;
        count(
            "max_event_age_seconds",
            self.max_event_age.as_secs(),
            MIN_EVENT_AGE.as_secs(),
            MAX_EVENT_AGE.as_secs(),
        )?;
        ms(
            "min_progress_interval_ms",
            self.min_progress_interval,
            PROGRESS_FLOOR,
            MAX_PROGRESS_INTERVAL,
        )?;
        ms("retry_base_ms", self.retry_base, MIN_RETRY_BASE, MAX_RETRY)?;
        ms(
            "retry_max_ms",
            self.retry_max,
            MIN_RETRY_MAX.max(self.retry_base),
            MAX_RETRY,
        )?;
        ms(
            "request_timeout_ms",
            self.request_timeout,
            MIN_REQUEST_TIMEOUT,
            MAX_REQUEST_TIMEOUT,
        )
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
    fn the_server_cannot_slow_progress_past_the_max_interval() {
        let policy = FlushPolicy::default();
        assert_eq!(policy.progress_interval(u64::MAX), MAX_PROGRESS_INTERVAL);
    }

    #[test]
    fn the_default_policy_is_within_every_range() {
        assert!(FlushPolicy::default().validate().is_ok());
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
