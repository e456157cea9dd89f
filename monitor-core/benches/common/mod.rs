//! Seeded, deterministic rows for the benches (each bench includes this module).

#![allow(dead_code)] // each bench uses part of the fixtures

use chrono::{DateTime, Duration, Utc};
use monitor_core::rows::{BugReport, BugSeverity, VideoRow};
use monitor_core::{UploadRecord, UploadStage, UploadStatus};
use uuid::Uuid;

/// The seed of every generated data set (printed by the benches).
pub const SEED: u64 = 0x5EED_2026_1124;

/// "Now" in every bench: 2026-11-24 10:00 UTC.
pub fn now() -> DateTime<Utc> {
    "2026-11-24T10:00:00Z".parse().unwrap()
}

/// splitmix64.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `n` upload rows over the last 48 hours: ~5% uploading, ~5% pending, ~75% completed,
/// ~15% failed, 2,000 users.
pub fn uploads(n: usize) -> Vec<UploadRecord> {
    let mut rng = Rng(SEED);
    (0..n)
        .map(|i| {
            let started = now() - Duration::seconds(rng.below(48 * 3_600) as i64);
            let status = match rng.below(100) {
                0..=4 => UploadStatus::Uploading,
                5..=9 => UploadStatus::Pending,
                10..=84 => UploadStatus::Completed,
                _ => UploadStatus::Failed,
            };
            let finished = started + Duration::seconds(rng.below(1_800) as i64);
            UploadRecord {
                id: Uuid::from_u64_pair(rng.next(), i as u64),
                user_id: Uuid::from_u128(u128::from(rng.below(2_000))),
                local_id: format!("import_{i}"),
                video_title: Some(format!("Video {i}")),
                filename: format!("backup_{i}.mov"),
                file_size: Some(rng.below(2_000_000_000) as i64),
                status,
                stage: Some(UploadStage::Uploading),
                progress: rng.below(101) as i32,
                bytes_sent: 0,
                upload_speed: (rng.below(10) > 0).then(|| rng.below(100_000) as f64 / 10_000.0),
                retry_count: rng.below(4) as i32,
                error_code: (status == UploadStatus::Failed).then(|| "network".to_owned()),
                error_message: (status == UploadStatus::Failed)
                    .then(|| "Network request failed".to_owned()),
                source: None,
                duration: None,
                metadata: serde_json::json!({}),
                device_info: None,
                video_id: None,
                last_seq: 10,
                started_at: started,
                completed_at: status.is_terminal().then_some(finished),
                updated_at: finished,
                client_updated_at: None,
                retry_requested_at: None,
            }
        })
        .collect()
}

/// `n` bug reports over the last 48 hours with 50 distinct messages and 2,000 users.
pub fn bugs(n: usize) -> Vec<BugReport> {
    let mut rng = Rng(SEED ^ 1);
    let severities = [
        BugSeverity::Critical,
        BugSeverity::High,
        BugSeverity::Medium,
        BugSeverity::Low,
    ];
    (0..n)
        .map(|i| BugReport {
            id: Uuid::from_u64_pair(rng.next(), i as u64),
            user_id: Some(Uuid::from_u128(u128::from(rng.below(2_000)))),
            user_email: None,
            error_type: None,
            error_message: format!("Error number {}", rng.below(50)),
            error_stack: None,
            severity: Some(severities[rng.below(4) as usize]),
            status: None,
            screen_name: None,
            component_name: None,
            action: None,
            app_version: None,
            device_info: None,
            metadata: None,
            created_at: Some(now() - Duration::seconds(rng.below(48 * 3_600) as i64)),
        })
        .collect()
}

/// `n` videos rows over the last 2 hours, a third without file, 1 in 20 flagged failed.
pub fn videos(n: usize) -> Vec<VideoRow> {
    let mut rng = Rng(SEED ^ 2);
    (0..n)
        .map(|i| VideoRow {
            id: Uuid::from_u64_pair(rng.next(), i as u64),
            user_id: Some(Uuid::from_u128(u128::from(rng.below(2_000)))),
            title: Some(format!("Video {i}")),
            file_path: (rng.below(3) > 0).then(|| {
                format!("https://x.supabase.co/storage/v1/object/public/videos/u/{i}.mov")
            }),
            thumbnail_path: None,
            thumbnail_frames: None,
            duration: Some(30),
            metadata: Some(serde_json::json!({
                "isRecorded": true,
                "uploadFailed": rng.below(20) == 0,
            })),
            created_at: Some(now() - Duration::seconds(rng.below(2 * 3_600) as i64)),
            updated_at: None,
        })
        .collect()
}
