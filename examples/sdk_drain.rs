//! The SDK's end-to-end figures against the dev stack (it mints a test user):
//!
//! 1. drain: 10,000 events queued offline (1,000 uploads x begin, 2 stages, 6 progress,
//!    complete), then online: time until the server acknowledged all (target <= 3 s);
//! 2. server writes for one 10-minute upload reporting progress 10 times a second, with a
//!    simulated clock (target <= 1 a second + 3), next to the spec's one write per callback;
//! 3. the process's peak RSS (this process also runs the dev stack's gateway; the SDK's own
//!    footprint is `cargo run --release -p monitor-sdk --example sdk_footprint`).
//!
//! `cargo run --release --example sdk_drain`

use std::sync::Arc;
use std::time::{Duration, Instant};

use monitor_sdk::clock::SdkClock;
use monitor_sdk::engine::{Engine, EngineConfig, NewUpload};
use monitor_sdk::monitor_core::UploadStage;
use monitor_sdk::policy::FlushPolicy;
use monitor_sdk::TokenProvider;
use upload_monitor::devstack::{DevStack, NewUser};

/// Events queued for the drain.
const DRAIN_EVENTS: u64 = 10_000;
/// Events per upload in the drain (begin, 2 stages, 6 progress, complete).
const EVENTS_PER_UPLOAD: u64 = 10;
/// The simulated upload: 10 minutes at 10 progress callbacks a second.
const UPLOAD_SECONDS: u64 = 600;
const CALLBACKS_PER_SECOND: u64 = 10;

struct Token(String);

impl TokenProvider for Token {
    fn access_token(&self) -> Option<String> {
        Some(self.0.clone())
    }
    fn refresh_access_token(&self) -> Option<String> {
        Some(self.0.clone())
    }
}

fn engine(stack: &DevStack, token: &str, db: &std::path::Path, clock: SdkClock) -> Engine {
    Engine::open_with_clock(
        EngineConfig {
            supabase_url: stack.api_url().to_string(),
            anon_key: stack.anon_key().to_string(),
            database_path: db.to_path_buf(),
            policy: FlushPolicy {
                max_pending_events: 2 * DRAIN_EVENTS,
                ..FlushPolicy::default()
            },
        },
        Arc::new(Token(token.to_string())),
        None,
        clock,
    )
    .expect("engine")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let stack = DevStack::start_blocking()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let user = runtime.block_on(stack.create_user(&NewUser::new(format!(
        "sdk-drain-{}@example.test",
        uuid::Uuid::new_v4().simple()
    ))))?;
    let dir = tempfile::tempdir()?;

    // 1. Drain.
    let clock = SdkClock::manual();
    let reporter = engine(
        &stack,
        &user.access_token,
        &dir.path().join("drain.sqlite"),
        clock.clone(),
    );
    reporter.set_online(false);
    let size = 100 * 1024 * 1024u64;
    let queued_at = Instant::now();
    let mut ids = Vec::new();
    for n in 0..DRAIN_EVENTS / EVENTS_PER_UPLOAD {
        let id = reporter.begin_upload(NewUpload {
            local_id: format!("import_drain_{n}"),
            filename: format!("IMG_{n}.MOV"),
            file_size: Some(size),
            ..NewUpload::default()
        })?;
        reporter.report_stage(id, UploadStage::ExtractingMetadata)?;
        for step in 1..=6u64 {
            // A second apart, so each progress passes the limiter and is stored.
            clock.advance(Duration::from_secs(1));
            reporter.report_progress(id, size * step / 7, size)?;
        }
        reporter.report_stage(id, UploadStage::CreatingRecord)?;
        reporter.complete(id, None)?;
        ids.push(id);
    }
    let queued = reporter.health()?.outbox.pending_events;
    let queue_time = queued_at.elapsed();
    let started = Instant::now();
    reporter.set_online(true);
    runtime.block_on(reporter.flush(Duration::from_secs(120)))?;
    let drain = started.elapsed();
    let health = reporter.health()?;
    println!(
        "drain: {queued} events queued offline in {:.2?} ({:.1} µs/event incl. validation), \
         delivered in {:.2?} ({:.0} events/s), dead-lettered {}",
        queue_time,
        queue_time.as_secs_f64() * 1e6 / queued as f64,
        drain,
        queued as f64 / drain.as_secs_f64(),
        health.outbox.dead_lettered
    );
    reporter.shutdown()?;

    // 2. Writes for a 10-minute upload at 10 callbacks a second.
    let clock = SdkClock::manual();
    let reporter = engine(
        &stack,
        &user.access_token,
        &dir.path().join("pace.sqlite"),
        clock.clone(),
    );
    let before = reporter.health()?.outbox.delivered;
    let id = reporter.begin_upload(NewUpload {
        local_id: "recorded_pace".into(),
        filename: "pace.mov".into(),
        file_size: Some(size),
        ..NewUpload::default()
    })?;
    let callbacks = UPLOAD_SECONDS * CALLBACKS_PER_SECOND;
    let tick = Duration::from_millis(1_000 / CALLBACKS_PER_SECOND);
    for n in 1..=callbacks {
        clock.advance(tick);
        reporter.report_progress(id, size * n / callbacks, size)?;
    }
    reporter.complete(id, None)?;
    runtime.block_on(reporter.flush(Duration::from_secs(60)))?;
    let writes = reporter.health()?.outbox.delivered - before;
    println!(
        "10-minute upload, {callbacks} progress callbacks: {writes} events written to the \
         server ({:.2}/s; target <= {}), spec design: {} writes (1 insert + 1 per callback + \
         1 completion)",
        writes as f64 / UPLOAD_SECONDS as f64,
        UPLOAD_SECONDS + 3,
        callbacks + 2
    );
    reporter.shutdown()?;

    println!(
        "peak RSS: {}",
        peak_rss().unwrap_or_else(|| "unknown".into())
    );
    Ok(())
}

/// `VmHWM` from /proc (Linux): the most resident memory the process ever had.
fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .map(|l| l.trim_start_matches("VmHWM:").trim().to_string())
}
