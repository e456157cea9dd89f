//! Upload speed and time: smoothed MB/s from progress samples, ETA, elapsed and relative
//! time ("2m 34s", "il y a 5m", "Complété il y a 5m").

use chrono::{DateTime, Duration, Utc};

use crate::display::{BYTES_PER_MB, Lang};
use crate::record::UploadRecord;
use crate::status::UploadStatus;

/// Samples closer together than this are folded into the next one: upload callbacks
/// arrive in bursts (several per millisecond when the OS flushes a buffer), and a rate
/// over 2 ms of a 64 KB burst would read as 30 MB/s.
///
/// ```
/// use monitor_core::speed::{SpeedEstimator, MIN_SAMPLE_WINDOW_MS};
/// let mut speed = SpeedEstimator::new();
/// speed.push(0, 0);
/// // A 64 KB burst 2 ms later says nothing yet.
/// speed.push(2, 65_536);
/// assert_eq!(speed.mb_per_s(), None);
/// // Measured once the window is long enough: 1 MB in 0.5 s.
/// speed.push(MIN_SAMPLE_WINDOW_MS, 1_048_576);
/// assert!((speed.mb_per_s().unwrap() - 2.0).abs() < 1e-9);
/// ```
pub const MIN_SAMPLE_WINDOW_MS: i64 = 500;

/// A gap longer than this between samples is a pause (app in background, network lost)
/// or a clock jump forward: measurement restarts after it instead of averaging the gap in.
///
/// ```
/// use monitor_core::speed::{SpeedEstimator, MAX_SAMPLE_GAP_MS};
/// let mut speed = SpeedEstimator::new();
/// speed.push(0, 0);
/// speed.push(1_000, 1_048_576);
/// assert_eq!(speed.mb_per_s(), Some(1.0));
/// // After a pause in the background, the gap is not averaged in as a slow second.
/// speed.push(1_000 + MAX_SAMPLE_GAP_MS + 1, 2 * 1_048_576);
/// assert_eq!(speed.mb_per_s(), Some(1.0));
/// ```
pub const MAX_SAMPLE_GAP_MS: i64 = 30_000;

/// How fast the smoothed speed follows the measured one: the weight of the past halves
/// about every 3.5 s (`tau` = 5 s), so a phone going from Wi-Fi to 3G shows within ~10 s,
/// while one slow interval moves the figure only a little.
///
/// ```
/// use monitor_core::speed::{SpeedEstimator, SMOOTHING_TAU_MS};
/// const MB: i64 = 1_048_576;
/// let mut speed = SpeedEstimator::new();
/// speed.push(0, 0);
/// speed.push(1_000, MB); // 1 MB/s
/// speed.push(6_000, MB + 15 * MB); // then 3 MB/s for 5 s, one tau
/// // One tau moves the figure 1 - 1/e (63%) of the way to the new speed.
/// let expected = 1.0 + 2.0 * (1.0 - (-5_000.0 / SMOOTHING_TAU_MS).exp());
/// assert!((speed.mb_per_s().unwrap() - expected).abs() < 1e-9);
/// ```
pub const SMOOTHING_TAU_MS: f64 = 5_000.0;

/// Rates above this are measurement artefacts (a clock step, a counter glitch), not a
/// phone's upload: 1 GB/s is ten times a fast Wi-Fi 6 uplink.
///
/// ```
/// use monitor_core::speed::{SpeedEstimator, MAX_PLAUSIBLE_MB_PER_S};
/// let mut speed = SpeedEstimator::new();
/// speed.push(0, 0);
/// // 2 GB in one second: a counter glitch, not a phone.
/// speed.push(1_000, 2 * 1_024 * 1_048_576);
/// assert!(2_048.0 > MAX_PLAUSIBLE_MB_PER_S);
/// assert_eq!(speed.mb_per_s(), None);
/// ```
pub const MAX_PLAUSIBLE_MB_PER_S: f64 = 1_024.0;

/// Smooths progress samples into MB/s.
///
/// Feed it `(time in ms, bytes sent)` pairs from any clock (a monotonic one is best; wall
/// clock steps are tolerated). Robust to bursts (samples under
/// [`MIN_SAMPLE_WINDOW_MS`] apart are merged), pauses and forward clock jumps (gaps over
/// [`MAX_SAMPLE_GAP_MS`] restart the measurement), backward clock steps (the sample becomes
/// the new starting point) and new attempts (fewer bytes than before resets the estimate).
///
/// ```
/// use monitor_core::speed::SpeedEstimator;
/// let mut speed = SpeedEstimator::new();
/// for second in 0..=10 {
///     // 2 MB every second.
///     speed.push(second * 1_000, second * 2 * 1_048_576);
/// }
/// let mb_s = speed.mb_per_s().unwrap();
/// assert!((mb_s - 2.0).abs() < 1e-9);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpeedEstimator {
    /// The sample the next rate is measured from: (ms, bytes).
    anchor: Option<(i64, i64)>,
    /// Smoothed bytes per millisecond.
    smoothed: Option<f64>,
}

impl SpeedEstimator {
    /// An estimator with no samples yet.
    ///
    /// ```
    /// use monitor_core::speed::SpeedEstimator;
    /// let speed = SpeedEstimator::new();
    /// assert_eq!(speed.mb_per_s(), None);
    /// assert_eq!(speed, SpeedEstimator::default());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one sample: `at_ms` milliseconds on the caller's clock, `bytes_sent` so far.
    ///
    /// ```
    /// use monitor_core::speed::SpeedEstimator;
    /// let mut speed = SpeedEstimator::new();
    /// speed.push(0, 0);
    /// speed.push(1_000, 1_048_576);
    /// assert_eq!(speed.mb_per_s(), Some(1.0));
    /// // A new attempt starts again from zero bytes: the old speed is forgotten.
    /// speed.push(2_000, 0);
    /// assert_eq!(speed.mb_per_s(), None);
    /// ```
    pub fn push(&mut self, at_ms: i64, bytes_sent: i64) {
        let Some((t0, b0)) = self.anchor else {
            self.anchor = Some((at_ms, bytes_sent));
            return;
        };
        if bytes_sent < b0 {
            // A new attempt started from zero: the old speed says nothing about it.
            *self = Self::default();
            self.anchor = Some((at_ms, bytes_sent));
            return;
        }
        let dt = at_ms.saturating_sub(t0);
        if !(0..=MAX_SAMPLE_GAP_MS).contains(&dt) {
            // Clock stepped back, or a pause: start measuring again from here.
            self.anchor = Some((at_ms, bytes_sent));
            return;
        }
        if dt < MIN_SAMPLE_WINDOW_MS {
            // Part of a burst: wait until the window is long enough to mean something.
            return;
        }
        // dt > 0 here and both values are far below 2^53: the conversions are exact.
        let rate = (bytes_sent - b0) as f64 / dt as f64;
        self.anchor = Some((at_ms, bytes_sent));
        if rate * 1_000.0 / BYTES_PER_MB > MAX_PLAUSIBLE_MB_PER_S {
            return;
        }
        let weight = 1.0 - (-(dt as f64) / SMOOTHING_TAU_MS).exp();
        self.smoothed = Some(match self.smoothed {
            None => rate,
            Some(previous) => previous + weight * (rate - previous),
        });
    }

    /// The smoothed speed in MB/s; None until two samples at least
    /// [`MIN_SAMPLE_WINDOW_MS`] apart have been seen.
    ///
    /// ```
    /// use monitor_core::speed::SpeedEstimator;
    /// let mut speed = SpeedEstimator::new();
    /// speed.push(0, 0);
    /// assert_eq!(speed.mb_per_s(), None); // one sample is not a speed
    /// speed.push(2_000, 3 * 1_048_576);
    /// assert!((speed.mb_per_s().unwrap() - 1.5).abs() < 1e-9);
    /// ```
    pub fn mb_per_s(&self) -> Option<f64> {
        self.smoothed
            .map(|bytes_per_ms| bytes_per_ms * 1_000.0 / BYTES_PER_MB)
    }
}

/// The smoothed MB/s of a whole series of `(ms, bytes)` samples (see [`SpeedEstimator`]).
///
/// ```
/// use monitor_core::speed::smoothed_speed;
/// let samples = [(0, 0), (1_000, 1_048_576), (2_000, 2_097_152)];
/// assert_eq!(smoothed_speed(&samples), Some(1.0));
/// assert_eq!(smoothed_speed(&samples[..1]), None);
/// ```
pub fn smoothed_speed(samples: &[(i64, i64)]) -> Option<f64> {
    let mut estimator = SpeedEstimator::new();
    for &(at, bytes) in samples {
        estimator.push(at, bytes);
    }
    estimator.mb_per_s()
}

/// Time left at `mb_per_s` for the bytes not yet sent, rounded up to the second; None when
/// the size or a positive speed is unknown. Zero when everything is sent.
///
/// ```
/// use chrono::Duration;
/// use monitor_core::speed::eta;
/// assert_eq!(eta(0, Some(10 * 1_048_576), Some(2.0)), Some(Duration::seconds(5)));
/// assert_eq!(eta(0, None, Some(2.0)), None);
/// ```
pub fn eta(bytes_sent: i64, file_size: Option<i64>, mb_per_s: Option<f64>) -> Option<Duration> {
    let size = file_size?;
    let speed = mb_per_s.filter(|s| s.is_finite() && *s > 0.0)?;
    let remaining = (size - bytes_sent).max(0) as f64 / BYTES_PER_MB;
    let seconds = (remaining / speed).ceil();
    // Beyond ~292 billion years chrono cannot represent it; nobody waits that long.
    (seconds < 1e12).then(|| Duration::seconds(seconds as i64))
}

/// Elapsed time as the upload card shows it: "45s", "2m 34s", "1h 5m" (negative is "0s").
///
/// ```
/// use monitor_core::speed::format_elapsed;
/// assert_eq!(format_elapsed(154), "2m 34s");
/// assert_eq!(format_elapsed(3_900), "1h 5m");
/// ```
pub fn format_elapsed(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3_599 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3_600, (s % 3_600) / 60),
    }
}

/// Under this many seconds a time is "à l'instant" / "just now" rather than "il y a 2s".
///
/// ```
/// use chrono::{DateTime, Duration, Utc};
/// use monitor_core::display::Lang;
/// use monitor_core::speed::{ago, JUST_NOW_SECONDS};
/// let now: DateTime<Utc> = "2026-11-24T10:00:00Z".parse().unwrap();
/// assert_eq!(ago(now - Duration::seconds(JUST_NOW_SECONDS - 1), now, Lang::Fr), "à l'instant");
/// assert_eq!(ago(now - Duration::seconds(JUST_NOW_SECONDS), now, Lang::Fr), "il y a 5s");
/// // A device clock ahead of the server's is "just now" too.
/// assert_eq!(ago(now + Duration::minutes(3), now, Lang::En), "just now");
/// ```
pub const JUST_NOW_SECONDS: i64 = 5;

/// Relative time, lower case: "il y a 5m" / "5m ago" (s, m, h, then days: "il y a 2j" /
/// "2d ago"); "à l'instant" / "just now" under [`JUST_NOW_SECONDS`], and for times in the
/// future (a device clock ahead). Units are floored.
///
/// ```
/// use monitor_core::display::Lang;
/// use monitor_core::speed::ago;
/// let now = "2026-11-24T10:00:00Z".parse().unwrap();
/// let then = "2026-11-24T09:55:00Z".parse().unwrap();
/// assert_eq!(ago(then, now, Lang::Fr), "il y a 5m");
/// assert_eq!(ago(then, now, Lang::En), "5m ago");
/// ```
pub fn ago(then: DateTime<Utc>, now: DateTime<Utc>, lang: Lang) -> String {
    let s = (now - then).num_seconds();
    if s < JUST_NOW_SECONDS {
        return match lang {
            Lang::Fr => "à l'instant",
            Lang::En => "just now",
        }
        .to_owned();
    }
    let (n, unit_fr, unit_en) = match s {
        0..=59 => (s, "s", "s"),
        60..=3_599 => (s / 60, "m", "m"),
        3_600..=86_399 => (s / 3_600, "h", "h"),
        _ => (s / 86_400, "j", "d"),
    };
    match lang {
        Lang::Fr => format!("il y a {n}{unit_fr}"),
        Lang::En => format!("{n}{unit_en} ago"),
    }
}

/// [`ago`] with its first letter upper-cased, for the start of a line ("Il y a 5m").
///
/// ```
/// use monitor_core::display::Lang;
/// use monitor_core::speed::ago_capitalized;
/// let now = "2026-11-24T10:00:00Z".parse().unwrap();
/// assert_eq!(ago_capitalized(now, now, Lang::Fr), "À l'instant");
/// ```
pub fn ago_capitalized(then: DateTime<Utc>, now: DateTime<Utc>, lang: Lang) -> String {
    let text = ago(then, now, lang);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

/// The upload card's time line: the running time for an active upload ("2m 34s"), or
/// when it finished: "Complété il y a 5m" / "Completed 5m ago", "Échec il y a 5m" /
/// "Failed 5m ago". A finished row without `completed_at` (written outside the SDK) uses
/// `updated_at`.
///
/// ```
/// # use monitor_core::UploadRecord;
/// use monitor_core::display::Lang;
/// use monitor_core::speed::time_line;
/// # let row: UploadRecord = serde_json::from_str(r#"{"id":"0192a7b0-0000-7000-8000-0000000000aa","user_id":"00000000-0000-4000-8000-000000000001","local_id":"a","video_title":null,"filename":"a.mov","file_size":null,"status":"completed","stage":"uploading","progress":100,"bytes_sent":0,"upload_speed":null,"retry_count":0,"error_code":null,"error_message":null,"source":null,"duration":null,"metadata":{},"device_info":null,"video_id":null,"last_seq":3,"started_at":"2026-11-24T09:50:00Z","completed_at":"2026-11-24T09:55:00Z","updated_at":"2026-11-24T09:55:00Z","client_updated_at":null,"retry_requested_at":null}"#).unwrap();
/// let now = "2026-11-24T10:00:00Z".parse().unwrap();
/// assert_eq!(time_line(&row, now, Lang::Fr), "Complété il y a 5m");
/// ```
pub fn time_line(row: &UploadRecord, now: DateTime<Utc>, lang: Lang) -> String {
    let finished = row.completed_at.unwrap_or(row.updated_at);
    match (row.status, lang) {
        (UploadStatus::Completed, Lang::Fr) => format!("Complété {}", ago(finished, now, lang)),
        (UploadStatus::Completed, Lang::En) => format!("Completed {}", ago(finished, now, lang)),
        (UploadStatus::Failed, Lang::Fr) => format!("Échec {}", ago(finished, now, lang)),
        (UploadStatus::Failed, Lang::En) => format!("Failed {}", ago(finished, now, lang)),
        (UploadStatus::Pending | UploadStatus::Uploading, _) => {
            format_elapsed(row.elapsed_seconds(now))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: i64 = 1_048_576;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_steady_upload_reads_its_true_speed() {
        let samples: Vec<(i64, i64)> = (0..20).map(|s| (s * 1_000, s * 3 * MB)).collect();
        let speed = smoothed_speed(&samples).unwrap();
        assert!((speed - 3.0).abs() < 1e-9, "{speed}");
    }

    #[test]
    fn bursts_of_callbacks_do_not_inflate_the_speed() {
        let mut samples = Vec::new();
        // 1 MB/s, reported as 4 callbacks 1 ms apart every second.
        for s in 0..10 {
            for k in 0..4 {
                samples.push((s * 1_000 + k, s * MB + k * MB / 4));
            }
        }
        let speed = smoothed_speed(&samples).unwrap();
        assert!(speed < 1.5, "{speed}");
        assert!(speed > 0.5, "{speed}");
    }

    #[test]
    fn a_pause_restarts_the_measurement_instead_of_dragging_the_average() {
        let mut e = SpeedEstimator::new();
        for s in 0..10 {
            e.push(s * 1_000, s * 2 * MB);
        }
        // Ten minutes in the background, then the upload goes on at 2 MB/s.
        e.push(600_000 + 9_000, 18 * MB);
        e.push(600_000 + 10_000, 20 * MB);
        assert!((e.mb_per_s().unwrap() - 2.0).abs() < 1e-9);
    }

    #[test]
    fn a_clock_stepping_back_is_not_a_negative_or_huge_speed() {
        let mut e = SpeedEstimator::new();
        e.push(10_000, 0);
        e.push(11_000, MB);
        e.push(5_000, 2 * MB); // NTP moved the clock back 6 s.
        e.push(6_000, 3 * MB);
        let speed = e.mb_per_s().unwrap();
        assert!((speed - 1.0).abs() < 1e-9, "{speed}");
    }

    #[test]
    fn implausible_rates_are_ignored() {
        let mut e = SpeedEstimator::new();
        e.push(0, 0);
        e.push(1_000, MB);
        e.push(1_500, 10_000 * MB);
        assert!((e.mb_per_s().unwrap() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_new_attempt_forgets_the_old_speed() {
        let mut e = SpeedEstimator::new();
        e.push(0, 0);
        e.push(1_000, 10 * MB);
        e.push(2_000, 0);
        assert_eq!(e.mb_per_s(), None);
    }

    #[test]
    fn the_speed_follows_a_real_change_within_seconds() {
        let mut e = SpeedEstimator::new();
        let mut bytes = 0;
        for s in 0..=30 {
            e.push(s * 1_000, bytes);
            bytes += if s < 15 { 4 * MB } else { MB };
        }
        let speed = e.mb_per_s().unwrap();
        assert!((speed - 1.0).abs() < 0.2, "{speed}");
    }

    #[test]
    fn eta_is_zero_when_done_and_none_without_speed() {
        assert_eq!(
            eta(10 * MB, Some(10 * MB), Some(1.0)),
            Some(Duration::zero())
        );
        assert_eq!(eta(0, Some(MB), Some(0.0)), None);
        assert_eq!(eta(0, Some(MB), None), None);
        assert_eq!(eta(0, Some(MB), Some(3.0)), Some(Duration::seconds(1)));
    }

    #[test]
    fn elapsed_is_formatted_like_the_spec() {
        assert_eq!(format_elapsed(-3), "0s");
        assert_eq!(format_elapsed(59), "59s");
        assert_eq!(format_elapsed(60), "1m 0s");
        assert_eq!(format_elapsed(90_000), "25h 0m");
    }

    #[test]
    fn relative_time_speaks_both_languages() {
        let now = at("2026-11-24T10:00:00Z");
        let cases = [
            ("2026-11-24T10:00:03Z", "à l'instant", "just now"),
            ("2026-11-24T09:59:58Z", "à l'instant", "just now"),
            ("2026-11-24T09:59:15Z", "il y a 45s", "45s ago"),
            ("2026-11-24T09:55:00Z", "il y a 5m", "5m ago"),
            ("2026-11-24T07:00:00Z", "il y a 3h", "3h ago"),
            ("2026-11-22T09:00:00Z", "il y a 2j", "2d ago"),
        ];
        for (then, fr, en) in cases {
            assert_eq!(ago(at(then), now, Lang::Fr), fr);
            assert_eq!(ago(at(then), now, Lang::En), en);
        }
        assert_eq!(
            ago_capitalized(at("2026-11-24T09:55:00Z"), now, Lang::Fr),
            "Il y a 5m"
        );
    }
}
