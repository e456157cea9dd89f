//! The seeded plan of a fleet: which videos each phone uploads, at what speed, and which of
//! them meet a network failure, the dynamic timeout, an app kill, an offline spell or a
//! failed transcription.

use std::time::Duration;

/// Smallest simulated video: 5 MB (a short clip).
const MIN_SIZE: u64 = 5 * 1_048_576;
/// Largest simulated video: 2 GB (a long 4K recording).
const MAX_SIZE: u64 = 2 * 1_024 * 1_048_576;
/// Slowest link: 0.2 MB/s (bad mobile data); below the timeout rule's 0.5 MB/s, so large
/// files on it meet the dynamic timeout.
const MIN_SPEED: f64 = 0.2;
/// Fastest link: 20 MB/s (good Wi-Fi).
const MAX_SPEED: f64 = 20.0;

/// What a run does.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// Simulated phones.
    pub phones: usize,
    /// Simulated seconds per real second.
    pub speedup: f64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Run the plan to its end (else phones keep filming until Ctrl-C).
    pub once: bool,
    /// Videos each phone uploads in a `--once` run.
    pub videos_per_phone: usize,
    /// Real time between two steps of a phone.
    pub tick: Duration,
    /// Progress bars, drawn here (else plain periodic lines). The caller owns it so that its
    /// other output (logs, the Ctrl-C notice) goes through it and leaves no stale bar.
    pub bars: Option<indicatif::MultiProgress>,
    /// Real file size / bytes sent to Storage (`crate::storage::DEFAULT_BYTE_SCALE`).
    pub byte_scale: u64,
    /// Serve the `/monitoring` page on this port of 127.0.0.1 while the fleet runs (0: any
    /// free port), as the demo admin.
    pub dashboard_port: Option<u16>,
}

impl FleetOptions {
    /// Options for a run of `phones` phones with the defaults of the command line.
    pub fn new(phones: usize, seed: u64) -> Self {
        FleetOptions {
            phones,
            speedup: 60.0,
            seed,
            once: false,
            videos_per_phone: 3,
            tick: Duration::from_millis(100),
            bars: None,
            byte_scale: crate::storage::DEFAULT_BYTE_SCALE,
            dashboard_port: None,
        }
    }
}

/// One video a phone will upload.
#[derive(Debug, Clone)]
pub struct VideoPlan {
    /// The app's queue id, unique per user.
    pub local_id: String,
    /// Title shown on the card.
    pub title: String,
    /// Bytes.
    pub size: u64,
    /// Link speed in MB/s for the first attempt.
    pub speed_mb_s: f64,
    /// Fraction of the bytes after which the network drops (once).
    pub network_failure_at: Option<f64>,
    /// Fraction of the bytes after which the app is killed (once).
    pub kill_at: Option<f64>,
    /// The transcription of the finished video fails.
    pub transcription_fails: bool,
    /// Recorded in the app (else imported from the gallery).
    pub recorded: bool,
}

/// One phone's plan.
#[derive(Debug, Clone)]
pub struct PhonePlan {
    /// Index in the fleet.
    pub index: usize,
    /// Its videos, in the order the user queues them.
    pub videos: Vec<VideoPlan>,
    /// An offline spell: (start, length) in simulated seconds.
    pub offline: Option<(f64, f64)>,
}

/// Titles the simulated users give their videos.
const TITLES: [&str; 10] = [
    "Anniversaire de Léa",
    "Match du dimanche",
    "Recette de crêpes",
    "Vacances à Biarritz",
    "Répétition chorale",
    "Premiers pas",
    "Concert au parc",
    "Balade en forêt",
    "Cours de guitare",
    "Mariage de Tom",
];

/// A log-uniform draw in [lo, hi]: sizes and speeds spread over orders of magnitude.
fn log_uniform(rng: &mut fastrand::Rng, lo: f64, hi: f64) -> f64 {
    (lo.ln() + rng.f64() * (hi.ln() - lo.ln())).exp()
}

/// Video `k` of phone `phone`, random but for the forced features.
pub fn video(rng: &mut fastrand::Rng, phone: usize, k: usize) -> VideoPlan {
    let size = log_uniform(rng, MIN_SIZE as f64, MAX_SIZE as f64) as u64;
    let speed_mb_s = log_uniform(rng, MIN_SPEED, MAX_SPEED);
    VideoPlan {
        local_id: format!("phone{phone}-video{k}"),
        title: format!("{} #{k}", TITLES[rng.usize(..TITLES.len())]),
        size,
        speed_mb_s,
        network_failure_at: (rng.f64() < 0.12).then(|| 0.1 + rng.f64() * 0.8),
        kill_at: (rng.f64() < 0.05).then(|| 0.1 + rng.f64() * 0.8),
        transcription_fails: rng.f64() < 0.1,
        recorded: rng.bool(),
    }
}

/// The fleet's plan. The first five phones carry one of each rare feature whatever the seed
/// (a kill, an offline spell, a network failure then retry, a timeout then an admin retry,
/// a failed transcription), so even a small run exercises every path.
pub fn plan(options: &FleetOptions) -> Vec<PhonePlan> {
    (0..options.phones)
        .map(|index| {
            let mut rng = fastrand::Rng::with_seed(options.seed ^ (index as u64 * 0x9E37_79B9));
            let mut videos: Vec<VideoPlan> = (0..options.videos_per_phone)
                .map(|k| video(&mut rng, index, k))
                .collect();
            let mut offline =
                (rng.f64() < 0.15).then(|| (rng.f64() * 120.0, 30.0 + rng.f64() * 120.0));
            if let Some(first) = videos.first_mut() {
                match index {
                    0 => {
                        first.kill_at = Some(0.5);
                        first.speed_mb_s = 2.0;
                    }
                    1 => offline = Some((1.0, 60.0)),
                    2 => first.network_failure_at = Some(0.4),
                    3 => {
                        // 1 GB at 0.2 MB/s needs 85 min: past the 60-minute cap.
                        first.size = 1_024 * 1_048_576;
                        first.speed_mb_s = MIN_SPEED;
                        first.network_failure_at = None;
                        first.kill_at = None;
                    }
                    4 => first.transcription_fails = true,
                    _ => {}
                }
            }
            PhonePlan {
                index,
                videos,
                offline,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_plan() {
        let options = FleetOptions::new(8, 42);
        let a = plan(&options);
        let b = plan(&options);
        assert_eq!(a[7].videos[1].size, b[7].videos[1].size);
        assert!(a
            .iter()
            .flat_map(|p| &p.videos)
            .all(|v| v.size >= MIN_SIZE && v.size <= MAX_SIZE));
    }
}
