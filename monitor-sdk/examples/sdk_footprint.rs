//! The SDK's memory on a phone-like workload, alone in its process: a reporter with 10,000
//! events queued offline across 1,000 uploads, plus 20 uploads reporting progress, then
//! its peak RSS (`VmHWM`, Linux).
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
    reporter.shutdown()?;
    Ok(())
}
