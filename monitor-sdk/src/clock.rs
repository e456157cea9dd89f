//! The SDK's monotonic clock: real time on phones, a hand-driven one in simulations.
//!
//! The rate limiter, the speed estimator and the milestone floor all read this one clock, so
//! a benchmark can replay a 10-minute upload in milliseconds and count exactly the writes a
//! real one would make.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A monotonic clock measured from the reporter's start.
#[derive(Debug, Clone)]
pub enum SdkClock {
    /// Wall-independent real time (`std::time::Instant`).
    Real {
        /// The zero of this clock.
        start: Instant,
    },
    /// Time that moves only when [`SdkClock::advance`] is called (nanoseconds since zero).
    Manual(Arc<AtomicU64>),
}

impl SdkClock {
    /// Real time, starting now.
    pub fn real() -> Self {
        SdkClock::Real {
            start: Instant::now(),
        }
    }

    /// A clock at zero that only moves when told to.
    ///
    /// ```
    /// use std::time::Duration;
    /// use monitor_sdk::clock::SdkClock;
    /// let clock = SdkClock::manual();
    /// clock.advance(Duration::from_millis(1_500));
    /// assert_eq!(clock.elapsed(), Duration::from_millis(1_500));
    /// ```
    pub fn manual() -> Self {
        SdkClock::Manual(Arc::new(AtomicU64::new(0)))
    }

    /// Time since the clock's zero.
    pub fn elapsed(&self) -> Duration {
        match self {
            SdkClock::Real { start } => start.elapsed(),
            SdkClock::Manual(nanos) => Duration::from_nanos(nanos.load(Ordering::Relaxed)),
        }
    }

    /// [`SdkClock::elapsed`] in whole milliseconds (the speed estimator's unit).
    pub fn elapsed_ms(&self) -> i64 {
        i64::try_from(self.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    /// Moves a manual clock forward; a real clock ignores it.
    pub fn advance(&self, by: Duration) {
        if let SdkClock::Manual(nanos) = self {
            let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
            nanos.fetch_add(by, Ordering::Relaxed);
        }
    }
}

impl governor::clock::Clock for SdkClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.elapsed()
    }
}
