//! Runs a fleet against a Supabase (the dev stack, or `SUPABASE_*`): demo data, one thread per phone, the admin who asks
//! for retries of timed-out uploads, the live summary, and the final check.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use monitor_core::client::MonitoringClient;
use monitor_core::event::MAX_RETRIES;
use upload_monitor::devstack::SupabaseTarget;
use uuid::Uuid;

use crate::demo_data::{self, AppWriter};
use crate::phone::{self, Counters, PhoneContext};
use crate::scenario::{self, FleetOptions};
use crate::storage::StorageAccess;
use crate::summary::{self, RunReport};

/// Clears the bars when the run ends, whichever way: a bar left drawn stays on the screen.
struct ClearBars(Option<indicatif::MultiProgress>);

impl Drop for ClearBars {
    fn drop(&mut self) {
        if let Some(bars) = &self.0 {
            let _ = bars.clear();
        }
    }
}

/// Real time between two refreshes of the live summary.
const LIVE_REFRESH: Duration = Duration::from_secs(2);
/// Real time between two passes of the simulated admin.
const ADMIN_PASS: Duration = Duration::from_millis(500);

/// Serves the `/monitoring` page (admins sign in to `stack`; on the dev stack the demo admin,
/// printed) until `stop` resolves, on `port` or, when it is taken, any free port. No port at
/// all only costs the page (the fleet is the job): it says so and goes on.
async fn start_dashboard(
    stack: &SupabaseTarget,
    port: u16,
    stop: tokio::sync::oneshot::Receiver<()>,
) {
    let bind = |port: u16| tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port));
    // The chosen port taken (another dashboard, a dev server): any free one, printed.
    let listener = match bind(port).await {
        Err(_) if port != 0 => bind(0).await,
        other => other,
    };
    match listener {
        Ok(listener) => {
            if let Ok(address) = listener.local_addr() {
                println!("Dashboard at http://{address}/monitoring");
            }
            match stack.dev_stack() {
                Some(dev) => match dev.create_demo_admin().await {
                    Ok(_) => println!(
                        "  sign in as {} / {}",
                        upload_monitor::devstack::DEMO_ADMIN_EMAIL,
                        upload_monitor::devstack::DEMO_ADMIN_PASSWORD
                    ),
                    Err(e) => eprintln!("dashboard: no demo admin ({e}); sign in with an admin"),
                },
                None => println!("  sign in with an admin account of {}", stack.api_url()),
            }
            let project = monitor_dashboard::Project::new(stack.api_url(), stack.anon_key());
            tokio::spawn(async move {
                let stopped = async {
                    let _ = stop.await;
                };
                if let Err(e) = monitor_dashboard::serve(project, listener, stopped).await {
                    tracing::warn!(error = %e, "dashboard");
                }
            });
        }
        Err(e) => eprintln!("dashboard: cannot listen on 127.0.0.1 ({e}); running without it"),
    }
}

/// Runs the fleet on `stack` (its database must be reachable: the check reads it) until its plan ends (`--once`) or `stop` is set.
///
/// # Errors
///
/// Seeding, a phone's outbox, or a query of the check failed.
pub async fn run(
    stack: &SupabaseTarget,
    options: &FleetOptions,
    stop: Arc<AtomicBool>,
) -> Result<RunReport, String> {
    run_with_outcomes(stack, options, stop)
        .await
        .map(|(report, _)| report)
}

/// [`run`], also answering what each phone ended with (the test checks them again).
///
/// # Errors
///
/// As [`run`].
pub async fn run_with_outcomes(
    stack: &SupabaseTarget,
    options: &FleetOptions,
    stop: Arc<AtomicBool>,
) -> Result<(RunReport, Vec<crate::phone::PhoneOutcome>), String> {
    let run_id = Uuid::new_v4().simple().to_string()[..8].to_string();
    let db = stack.connect().await.map_err(|e| e.to_string())?;
    let (admin, users) = demo_data::create_users(stack, options.phones, &run_id).await?;
    demo_data::seed_history(&db, &users).await?;
    let writer = AppWriter::start(stack.connect().await.map_err(|e| e.to_string())?);
    let monitoring = MonitoringClient::new(stack.api_url(), stack.anon_key(), &admin.token)
        .map_err(|e| e.to_string())?;
    // Dropped when this function returns: the page's server then ends its streams and stops.
    let (_dashboard_running, dashboard_stop) = tokio::sync::oneshot::channel::<()>();
    if let Some(port) = options.dashboard_port {
        start_dashboard(stack, port, dashboard_stop).await;
    }
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let counters = Arc::new(Counters::default());
    let bars = options.bars.clone();
    let _clear_bars = ClearBars(bars.clone());
    // One HTTP client for every phone's Storage requests (a pool; each upload is its own
    // request on its own connection).
    let http = reqwest::Client::builder()
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let plans = scenario::plan(options);
    tracing::info!(
        phones = options.phones,
        seed = options.seed,
        "fleet starting"
    );
    let started = Instant::now();
    let mut threads = Vec::with_capacity(plans.len());
    for (plan, user) in plans.into_iter().zip(&users) {
        let ctx = PhoneContext {
            api_url: stack.api_url().to_string(),
            anon_key: stack.anon_key().to_string(),
            user: user.id,
            token: user.token.clone(),
            database: dir.path().join(format!("phone-{}.sqlite", plan.index)),
            speedup: options.speedup,
            tick: options.tick,
            once: options.once,
            seed: options.seed,
            stop: stop.clone(),
            writer: writer.clone(),
            counters: counters.clone(),
            runtime: tokio::runtime::Handle::current(),
            bars: bars.clone(),
            storage: StorageAccess {
                http: http.clone(),
                api_url: stack.api_url().to_string(),
                anon_key: stack.anon_key().to_string(),
                token: user.token.clone(),
            },
            byte_scale: options.byte_scale.max(1),
        };
        let thread = std::thread::Builder::new()
            .name(format!("phone-{}", plan.index))
            .stack_size(256 * 1024)
            .spawn(move || phone::run(ctx, plan))
            .map_err(|e| format!("spawning a phone thread: {e}"))?;
        threads.push(thread);
    }

    let admin_db = stack.connect().await.map_err(|e| e.to_string())?;
    let user_ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
    let mut last_live = Instant::now();
    let mut stopping = false;
    while !threads.iter().all(|t| t.is_finished()) {
        tokio::time::sleep(ADMIN_PASS).await;
        if !stopping && stop.load(Ordering::Relaxed) {
            stopping = true;
            let notice = "stopping: reporters shut down, then the stack";
            match &bars {
                Some(bars) => {
                    let _ = bars.println(notice);
                }
                None => eprintln!("{notice}"),
            }
        }
        // The admin sees timed-out uploads on the dashboard and asks for a retry.
        if let Ok(rows) = admin_db
            .query(
                "select id from public.upload_queue where user_id = any($1) and status = 'failed' \
                 and error_code = 'timeout' and retry_count < $2 and retry_requested_at is null",
                &[&user_ids, &i32::from(MAX_RETRIES)],
            )
            .await
        {
            for row in rows {
                let id: Uuid = row.get(0);
                if let Err(e) = monitoring
                    .call::<serde_json::Value>(
                        "request_upload_retry",
                        serde_json::json!({ "upload_id": id }),
                    )
                    .await
                {
                    tracing::warn!(upload = %id, error = %e, "request_upload_retry");
                }
            }
        }
        if last_live.elapsed() >= LIVE_REFRESH {
            last_live = Instant::now();
            match summary::live_line(&monitoring, &counters).await {
                Ok(line) => match &bars {
                    Some(bars) => {
                        let _ = bars.println(line);
                    }
                    None => println!(
                        "[{:>5.1}s] {line} · {} commencés, {} complétés",
                        started.elapsed().as_secs_f64(),
                        counters.started.load(Ordering::Relaxed),
                        counters.completed.load(Ordering::Relaxed)
                    ),
                },
                Err(e) => tracing::warn!(error = %e, "monitoring_snapshot"),
            }
        }
    }
    let mut outcomes = Vec::with_capacity(threads.len());
    for thread in threads {
        match thread.join() {
            Ok(Ok(outcome)) => outcomes.push(outcome),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err("a phone thread panicked".into()),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    drop(_clear_bars);
    if let Ok(line) = summary::live_line(&monitoring, &counters).await {
        println!("{line}");
    }
    let report = summary::check(
        &db,
        &outcomes,
        &counters,
        options.seed,
        seconds,
        options.byte_scale.max(1),
    )
    .await?;
    Ok((report, outcomes))
}
