//! Which progress reports are written now and which wait in memory: one write per upload per
//! interval (governor, GCRA), plus 10-point milestones, at the server's pace.
//!
//! A report the limiter refuses is not lost: the caller keeps the newest one per upload
//! (coalescing) and writes it when the interval has passed. Terminal events never come here.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::middleware::NoOpMiddleware;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};
use uuid::Uuid;

use crate::clock::SdkClock;
use crate::policy::{MAX_PROGRESS_INTERVAL, PROGRESS_FLOOR};

/// Percent points between two milestones; the server logs one progress row per crossing,
/// so a milestone is worth writing sooner than the (possibly server-raised) interval.
pub const MILESTONE_POINTS: i32 = 10;

/// What to do with one progress report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Write it to the outbox now.
    WriteNow,
    /// Keep it in memory as the upload's newest progress; write it later.
    Coalesce,
}

type KeyedLimiter = RateLimiter<Uuid, HashMapStateStore<Uuid>, SdkClock, NoOpMiddleware<Duration>>;

/// One GCRA cell per upload, at one write per `interval`.
#[derive(Debug)]
pub struct ProgressLimiter {
    limiter: KeyedLimiter,
    interval: Duration,
    clock: SdkClock,
}

impl ProgressLimiter {
    /// A limiter allowing one progress write per upload per `interval` (clamped to
    /// [`PROGRESS_FLOOR`]..=[`MAX_PROGRESS_INTERVAL`]: governor's arithmetic overflows on
    /// periods of centuries).
    pub fn new(interval: Duration, clock: SdkClock) -> Self {
        let interval = interval.clamp(PROGRESS_FLOOR, MAX_PROGRESS_INTERVAL);
        ProgressLimiter {
            limiter: build(interval, clock.clone()),
            interval,
            clock,
        }
    }

    /// The interval in force.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Changes the pace (the server's `min_progress_interval_ms` moved). Uploads start from
    /// a fresh cell: at worst one early write each, once per change.
    pub fn set_interval(&mut self, interval: Duration) {
        let interval = interval.clamp(PROGRESS_FLOOR, MAX_PROGRESS_INTERVAL);
        if interval != self.interval {
            self.interval = interval;
            self.limiter = build(interval, self.clock.clone());
        }
    }

    /// Decides for a report that moves `upload` from `last_written` percent (what the outbox
    /// has) to `percent`, `since_last_write` after the last progress write of the upload.
    ///
    /// A report crossing a 10-point milestone is written once [`PROGRESS_FLOOR`] has passed,
    /// even when the server asked for a slower pace; anything else waits for the limiter
    /// (`the_first_report_is_written_the_next_coalesced_until_a_second_has_passed` below:
    /// the module is crate-private, so the example lives with its unit tests).
    pub fn admit(
        &self,
        upload: Uuid,
        last_written: i32,
        percent: i32,
        since_last_write: Option<Duration>,
    ) -> Admission {
        let milestone = percent / MILESTONE_POINTS > last_written / MILESTONE_POINTS;
        let floor_passed = since_last_write.is_none_or(|d| d >= PROGRESS_FLOOR);
        if milestone && floor_passed {
            // Spend the cell too, so the next ordinary write waits a full interval.
            let _ = self.limiter.check_key(&upload);
            return Admission::WriteNow;
        }
        match self.limiter.check_key(&upload) {
            Ok(()) => Admission::WriteNow,
            Err(_) => Admission::Coalesce,
        }
    }

    /// Drops the cells of uploads that have been quiet for a full interval (finished
    /// uploads), so the map does not grow with every upload ever made.
    pub fn forget_quiet(&self) {
        self.limiter.retain_recent();
    }
}

fn build(interval: Duration, clock: SdkClock) -> KeyedLimiter {
    // `with_period` is None only for a zero duration; the interval is at least the floor.
    let quota = Quota::with_period(interval)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::MIN);
    RateLimiter::new(quota, HashMapStateStore::default(), clock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_report_is_written_the_next_coalesced_until_a_second_has_passed() {
        let clock = SdkClock::manual();
        let limiter = ProgressLimiter::new(Duration::from_secs(1), clock.clone());
        let upload = Uuid::from_u128(1);
        assert_eq!(limiter.admit(upload, 0, 1, None), Admission::WriteNow);
        assert_eq!(
            limiter.admit(upload, 1, 2, Some(Duration::ZERO)),
            Admission::Coalesce
        );
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            limiter.admit(upload, 1, 3, Some(Duration::from_secs(1))),
            Admission::WriteNow
        );
    }

    const UPLOAD: Uuid = Uuid::from_u128(0xaa);

    #[test]
    fn ten_callbacks_a_second_make_one_write_a_second() {
        let clock = SdkClock::manual();
        let limiter = ProgressLimiter::new(Duration::from_secs(1), clock.clone());
        let mut writes = 0;
        let mut last_written = 0;
        let mut last_write_at: Option<Duration> = None;
        // 60 s at 10 callbacks/s, progress 0 -> 59 %.
        for tick in 0..600u32 {
            let percent = (tick / 10) as i32;
            let since = last_write_at.map(|t| clock.elapsed() - t);
            if limiter.admit(UPLOAD, last_written, percent, since) == Admission::WriteNow {
                writes += 1;
                last_written = percent;
                last_write_at = Some(clock.elapsed());
            }
            clock.advance(Duration::from_millis(100));
        }
        assert_eq!(writes, 60);
    }

    #[test]
    fn milestones_pass_a_server_raised_pace_but_not_the_one_second_floor() {
        let clock = SdkClock::manual();
        let limiter = ProgressLimiter::new(Duration::from_secs(30), clock.clone());
        assert_eq!(limiter.admit(UPLOAD, 0, 1, None), Admission::WriteNow);
        clock.advance(Duration::from_millis(500));
        let half = Some(Duration::from_millis(500));
        assert_eq!(limiter.admit(UPLOAD, 1, 5, half), Admission::Coalesce);
        assert_eq!(limiter.admit(UPLOAD, 1, 12, half), Admission::Coalesce);
        clock.advance(Duration::from_millis(500));
        let one = Some(Duration::from_secs(1));
        assert_eq!(limiter.admit(UPLOAD, 1, 12, one), Admission::WriteNow);
        clock.advance(Duration::from_secs(2));
        assert_eq!(
            limiter.admit(UPLOAD, 12, 15, Some(Duration::from_secs(2))),
            Admission::Coalesce
        );
    }

    #[test]
    fn uploads_are_limited_independently() {
        let limiter = ProgressLimiter::new(Duration::from_secs(1), SdkClock::manual());
        assert_eq!(limiter.admit(UPLOAD, 0, 1, None), Admission::WriteNow);
        assert_eq!(
            limiter.admit(Uuid::from_u128(0xbb), 0, 1, None),
            Admission::WriteNow
        );
    }
}
