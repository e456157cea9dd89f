//! The SDK's memory on a phone-like workload, alone in its process: a reporter with 10,000
//! events queued offline across 1,000 uploads, plus 20 uploads reporting progress, then
//! its peak RSS (`VmHWM`, Linux), and the CPU the reporter burns while it sits offline with
//! a full queue (the flusher should be asleep on a notification, not polling).
//!
//! `cargo run --release -p monitor-sdk --example sdk_footprint`

use std::sync::Arc;
use std::time::Duration;

use monitor_sdk::clock::SdkClock;
use monitor_sdk::engine::{Engine, EngineConfig, NewUpload};
use monitor_sdk::policy::FlushPolicy;
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

fn rss(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .map(|l| l[field.len()..].trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("before the reporter: VmHWM {}", rss("VmHWM:"));
    let dir = tempfile::tempdir()?;
    let clock = SdkClock::manual();
    let reporter = Engine::open_with_clock(
        EngineConfig {
            // Offline throughout: nothing is sent.
            supabase_url: "http://127.0.0.1:9".into(),
            anon_key: "anon".into(),
            database_path: dir.path().join("footprint.sqlite"),
            policy: FlushPolicy::default(),
        },
        Arc::new(NoToken),
        None,
        clock.clone(),
    )?;
    reporter.set_online(false);
    let size = 100 * 1024 * 1024u64;
    for n in 0..1_000u64 {
        let id = reporter.begin_upload(NewUpload {
            local_id: format!("import_{n}"),
            filename: format!("IMG_{n}.MOV"),
            file_size: Some(size),
            metadata_json: Some(r#"{"isImported":true,"duration":42}"#.into()),
            ..NewUpload::default()
        })?;
        for step in 1..=8u64 {
            clock.advance(Duration::from_secs(1));
            reporter.report_progress(id, size * step / 10, size)?;
        }
        reporter.complete(id, None)?;
    }
    let live: Vec<_> = (0..20u64)
        .map(|n| {
            reporter.begin_upload(NewUpload {
                local_id: format!("recorded_{n}"),
                filename: format!("rec_{n}.mov"),
                file_size: Some(size),
                ..NewUpload::default()
            })
        })
        .collect::<Result<_, _>>()?;
    for tick in 1..=6_000u64 {
        clock.advance(Duration::from_millis(100));
        for id in &live {
            reporter.report_progress(*id, size * tick / 6_001, size)?;
        }
    }
    let health = reporter.health()?;
    println!(
        "queued {} events ({} bytes), dropped {}; peak RSS (VmHWM) {}, now (VmRSS) {}",
        health.outbox.pending_events,
        health.outbox.pending_bytes,
        health.outbox.dropped,
        rss("VmHWM:"),
        rss("VmRSS:")
    );
    // Let held-back progress reach the outbox (it is written at most 250 ms after the
    // limiter allows it), then measure the idle cost.
    std::thread::sleep(Duration::from_secs(2));
    let idle = Duration::from_secs(5);
    let before = cpu_time();
    std::thread::sleep(idle);
    let used = cpu_time().saturating_sub(before);
    println!(
        "offline with {} events queued: {:?} of CPU in {:?} idle ({:.3} %)",
        reporter.health()?.outbox.pending_events,
        used,
        idle,
        used.as_secs_f64() * 100.0 / idle.as_secs_f64()
    );
    reporter.shutdown()?;
    Ok(())
}

/// User + system CPU time of this process (Linux `/proc/self/stat`, in clock ticks of
/// 10 ms, the kernel's USER_HZ = 100 on every Linux ABI).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<u64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}
