//! Benchmark: a phone's SDK call (`report_progress`) to the change on the `/monitoring` page,
//! in a real headless Chromium, p50 / p95 over 120 events.
//!
//! ```text
//! cargo run --release -p monitor-dashboard --example dom_latency
//! cargo run --release -p monitor-dashboard --example dom_latency -- --uploads 20 --rounds 10
//! ```
//!
//! It starts the dev stack, the dashboard (demo admin), Chromium on the page, and one phone:
//! a real `monitor-sdk` reporter (SQLite outbox, background flusher, its own thread) with
//! `--uploads` uploads. Each round reports the next 8 % of every upload, then waits 1.2 s
//! (the SDK writes one progress a second per upload). The page records, with a
//! MutationObserver, when each card's bar first shows each value; the latency is that time
//! minus the time of the SDK call (one machine, one clock). It covers the SDK's flush, the
//! ingest, the dashboard's 1 s poll of `monitoring_changes`, SSE and the page's render.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use monitor_dashboard::webdriver::Browser;
use monitor_dashboard::{credentials, serve};
use serde_json::{json, Value};
use upload_monitor::devstack::NewUser;
use upload_monitor::monitor_sdk::{ReporterConfig, TokenProvider, UploadReporter};

/// Command line.
#[derive(Debug, Parser)]
struct Args {
    /// Uploads on the phone (events per round).
    #[arg(long, default_value_t = 10)]
    uploads: usize,
    /// Rounds of progress (8 % each, so at most 12).
    #[arg(long, default_value_t = 12)]
    rounds: u64,
}

/// The phone's user token, never refreshed (the run lasts far less than its hour).
struct FixedToken(String);

impl TokenProvider for FixedToken {
    fn access_token(&self) -> Option<String> {
        Some(self.0.clone())
    }
    fn refresh_access_token(&self) -> Option<String> {
        Some(self.0.clone())
    }
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Records, per `upload id:percent`, when the page first shows it.
const OBSERVER: &str = "
  window.__seen = {};
  const record = () => {
    for (const bar of document.querySelectorAll('#uploads [role=progressbar]')) {
      const card = bar.closest('[data-id]');
      if (!card) continue;
      const key = `${card.dataset.id}:${bar.getAttribute('aria-valuenow')}`;
      if (!(key in window.__seen)) window.__seen[key] = performance.timeOrigin + performance.now();
    }
  };
  new MutationObserver(record).observe(document.getElementById('uploads'),
    { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-valuenow'] });
  record();
  return true;";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let rounds = args.rounds.clamp(1, 12);
    let connection = credentials::connect().await?;
    let stack = connection
        .dev_stack
        .as_ref()
        .ok_or("run it without SUPABASE_URL: it needs the dev stack to create its phone user")?;
    let user = stack
        .create_user(&NewUser::new(format!(
            "bench-{}@demo.test",
            uuid::Uuid::new_v4().simple()
        )))
        .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(connection.project.clone(), listener, async {
        let _ = stopped.await;
    }));

    let browser = Browser::start().await?;
    browser.viewport(1440, 1000, false).await?;
    // The demo admin, created by credentials::connect on the dev stack.
    browser
        .sign_in(
            &base,
            credentials::DEMO_ADMIN_EMAIL,
            credentials::DEMO_ADMIN_PASSWORD,
        )
        .await?;
    browser
        .wait_for(
            "the page live",
            "return document.getElementById('live').dataset.state === 'live'",
            Duration::from_secs(20),
        )
        .await?;
    browser.execute(OBSERVER, json!([])).await?;

    // The phone, on a thread of its own as in an app (the SDK runs its own runtime).
    let outbox = tempfile::tempdir()?;
    let config = ReporterConfig {
        supabase_url: stack.api_url().to_owned(),
        anon_key: stack.anon_key().to_owned(),
        database_path: outbox.path().join("outbox.sqlite").display().to_string(),
        max_pending_events: None,
        max_pending_bytes: None,
        max_event_age_seconds: None,
        min_progress_interval_ms: None,
        batch_max_events: None,
        retry_base_ms: None,
        retry_max_ms: None,
        request_timeout_ms: None,
    };
    let uploads = args.uploads;
    let token: Arc<dyn TokenProvider> = Arc::new(FixedToken(user.access_token.clone()));
    let calls = tokio::task::spawn_blocking(move || -> Result<HashMap<String, f64>, String> {
        let reporter =
            UploadReporter::with_token_provider(config, token, None).map_err(|e| e.to_string())?;
        const SIZE: u64 = 100 * 1_048_576;
        let mut ids = Vec::new();
        for i in 0..uploads {
            let id = reporter
                .begin_upload(
                    format!("bench_{i}"),
                    Some(format!("Bench #{i}")),
                    format!("bench_{i}.mov"),
                    Some(SIZE),
                    None,
                    None,
                )
                .map_err(|e| e.to_string())?;
            ids.push(id);
        }
        std::thread::sleep(Duration::from_secs(3));
        let mut calls = HashMap::new();
        for round in 1..=rounds {
            let percent = round * 8;
            for id in &ids {
                calls.insert(format!("{id}:{percent}"), now_ms());
                reporter
                    .report_progress(id.clone(), SIZE * percent / 100, SIZE)
                    .map_err(|e| e.to_string())?;
            }
            std::thread::sleep(Duration::from_millis(1_200));
        }
        std::thread::sleep(Duration::from_secs(5));
        reporter.shutdown().map_err(|e| e.to_string())?;
        Ok(calls)
    })
    .await??;

    let seen: Value = browser.execute("return window.__seen", json!([])).await?;
    let mut latencies: Vec<f64> = calls
        .iter()
        .filter_map(|(key, at)| seen[key].as_f64().map(|shown| shown - at))
        .collect();
    latencies.sort_by(f64::total_cmp);
    let missing = calls.len() - latencies.len();
    let pick = |q: f64| {
        let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len().max(1)) - 1;
        latencies.get(i).copied().unwrap_or(f64::NAN)
    };
    println!(
        "SDK report_progress -> DOM: {} events shown ({missing} never shown), p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
        latencies.len(),
        pick(0.50),
        pick(0.95),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    drop(browser);
    let _ = stop.send(());
    let _ = server.await;
    drop(connection);
    Ok(())
}
