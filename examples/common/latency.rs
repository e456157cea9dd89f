//! Latency percentiles for the benchmarks (`examples/ingest_bench.rs`,
//! `examples/monitoring_bench.rs`): an HDR histogram of microseconds, so each bench records
//! durations and asks for p50/p99 the same way instead of sorting and ranking by hand.

use std::time::Duration;

use hdrhistogram::Histogram;

/// The longest latency recorded as itself: an hour (longer ones are recorded as an hour).
const MAX_MICROS: u64 = 3_600_000_000;

/// Significant digits kept: 3, so a reported figure is within 0.1% of the measured one.
const SIGNIFICANT_DIGITS: u8 = 3;

/// Recorded durations, to the microsecond.
#[derive(Clone)]
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    /// No durations yet.
    pub fn new() -> Self {
        match Histogram::new_with_bounds(1, MAX_MICROS, SIGNIFICANT_DIGITS) {
            Ok(histogram) => Latencies(histogram),
            // The bounds are constants within hdrhistogram's limits (low >= 1, high >= 2 low,
            // 0..=5 digits), so creation cannot fail.
            Err(e) => unreachable!("constant histogram bounds refused: {e}"),
        }
    }

    /// Records one duration (an hour when longer).
    pub fn record(&mut self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.0.saturating_record(micros.max(1));
    }

    /// Adds every duration of `other`.
    pub fn add(&mut self, other: &Latencies) {
        // Both histograms have the same bounds, so adding cannot fail.
        if let Err(e) = self.0.add(&other.0) {
            unreachable!("histograms of the same bounds refused to add: {e}");
        }
    }

    /// How many durations were recorded.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// The `p`-th percentile (0–100), in milliseconds; NaN when nothing was recorded.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        self.0.value_at_percentile(p) as f64 / 1000.0
    }

    /// The shortest duration, in milliseconds; NaN when nothing was recorded.
    pub fn min_ms(&self) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        self.0.min() as f64 / 1000.0
    }

    /// The longest duration, in milliseconds; NaN when nothing was recorded.
    pub fn max_ms(&self) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        self.0.max() as f64 / 1000.0
    }
}
