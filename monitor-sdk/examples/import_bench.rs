//! The AsyncStorage import at a size no phone should reach but some will: 100,000
//! `@pending_videos` backups (about 28 MB of JSON, as `VideoBackupService` writes them) plus
//! a 500-item `@import_queue_state` whose files cover 500 of the backups, imported into an
//! empty outbox with caps raised to hold them, then the same values again (every item
//! known: the start-up cost of an app that calls it at every launch). Prints wall times;
//! issue 19 asks ≤ 2 s for the first import in a release build.
//!
//! `cargo run --release -p monitor-sdk --example import_bench [-- <backups>]`

use std::sync::Arc;
use std::time::Instant;

use monitor_sdk::clock::SdkClock;
use monitor_sdk::engine::{Engine, EngineConfig};
use monitor_sdk::policy::{FlushPolicy, MAX_PENDING_BYTES, MAX_PENDING_EVENTS};
use monitor_sdk::TokenProvider;

struct NoToken;

impl TokenProvider for NoToken {
    fn access_token(&self) -> Option<String> {
        None
    }
    fn refresh_access_token(&self) -> Option<String> {
        None
    }
}

/// This process's CPU time (user + system, Linux `/proc/self/stat`, 100 ticks a second):
/// on a shared machine the wall time counts the other processes' turns too.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the command's closing parenthesis; utime and stime are the 12th
            // and 13th of those.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
            Some((ticks(11)? + ticks(12)?) / 100.0)
        })
        .unwrap_or(f64::NAN)
}

/// A fixed owner for every backup (the app's signed-in user).
const USER: &str = "00000000-0000-4000-8000-000000000001";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backups: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(100_000);
    // Realistic entries: ids and names from millisecond timestamps, the 2025 bare-name form
    // for most and the older absolute path for every tenth, attempts 0–5 (a third have
    // retries, so three events), sizes of phone recordings.
    let pending: Vec<serde_json::Value> = (0..backups)
        .map(|i| {
            let ms = 1_732_438_800_000u64 + i as u64 * 1_000;
            let name = format!("backup_{ms}.mov");
            let uri = if i % 10 == 0 {
                format!("file:///var/mobile/Containers/Data/Application/0A1B2C3D/Documents/video_backups/{name}")
            } else {
                name
            };
            serde_json::json!({
                "id": format!("pending_{ms}"), "localUri": uri,
                "title": format!("Souvenir du {}", i % 28 + 1), "userId": USER,
                "createdAt": "2026-11-24T08:00:00.000Z", "uploadAttempts": i % 6,
                "fileSize": 20_000_000 + (i as i64 % 97) * 1_000_000,
            })
        })
        .collect();
    let queue_items: Vec<serde_json::Value> = (0..500.min(backups))
        .map(|i| {
            let ms = 1_732_438_800_000u64 + i as u64 * 1_000;
            serde_json::json!({
                "id": format!("import_{ms}_0"), "uri": format!("file:///tmp/backup_{ms}.mov"),
                "filename": format!("backup_{ms}.mov"), "status": "pending", "progress": 0,
                "retryCount": 0, "metadata": {"isImported": true, "duration": 31.5},
            })
        })
        .collect();
    let pending_json = serde_json::Value::from(pending).to_string();
    let queue_json = serde_json::json!({
        "items": queue_items, "currentIndex": 0, "isProcessing": false,
        "totalCount": 500, "completedCount": 0, "failedCount": 0,
    })
    .to_string();

    let dir = tempfile::tempdir()?;
    let reporter = Engine::open_with_clock(
        EngineConfig {
            // Offline throughout: the import is what is measured, not delivery.
            supabase_url: "http://127.0.0.1:9".into(),
            anon_key: "anon".into(),
            database_path: dir.path().join("import.sqlite"),
            policy: FlushPolicy {
                max_pending_events: MAX_PENDING_EVENTS,
                max_pending_bytes: MAX_PENDING_BYTES,
                ..FlushPolicy::default()
            },
        },
        Arc::new(NoToken),
        None,
        SdkClock::real(),
    )?;
    reporter.set_online(false);

    println!(
        "@pending_videos: {backups} entries, {:.1} MB; @import_queue_state: 500 items",
        pending_json.len() as f64 / 1e6
    );
    let (started, cpu) = (Instant::now(), cpu_seconds());
    let first = reporter.import_async_storage(Some(&pending_json), Some(&queue_json))?;
    let first_time = started.elapsed();
    println!(
        "first import: {:.3} s wall, {:.2} s CPU (created {}, skipped {}, events waiting {})",
        first_time.as_secs_f64(),
        cpu_seconds() - cpu,
        first.created,
        first.skipped.len(),
        reporter.health()?.outbox.pending_events
    );
    let (started, cpu) = (Instant::now(), cpu_seconds());
    let again = reporter.import_async_storage(Some(&pending_json), Some(&queue_json))?;
    println!(
        "second import (all known): {:.3} s wall, {:.2} s CPU (unchanged {})",
        started.elapsed().as_secs_f64(),
        cpu_seconds() - cpu,
        again.unchanged
    );
    let chunks = first.created as f64 / monitor_sdk::import::IMPORT_CHUNK as f64;
    println!(
        "mean per chunk of {} items (what an app call on another thread may wait): {:.1} ms",
        monitor_sdk::import::IMPORT_CHUNK,
        first_time.as_secs_f64() * 1e3 / chunks.max(1.0)
    );
    reporter.shutdown()?;
    Ok(())
}
