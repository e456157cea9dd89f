//! A fleet of simulated phones uploading videos to a local Supabase, each a real
//! `monitor-sdk` reporter: the README's first command.
//!
//! ```text
//! cargo run --example simulated_upload                       # ~24 phones until Ctrl-C
//! cargo run --example simulated_upload -- --once --seed 7    # a seeded run, then the check
//! cargo run --release --example simulated_upload -- --phones 2000 --once --speedup 2000
//! ```
//!
//! It starts the embedded dev stack (PostgreSQL + the gateway), serves the `/monitoring` page
//! (the `monitor-dashboard` crate, `examples/dashboard`) on http://127.0.0.1:3000 as the demo admin, creates demo users
//! (`auth.users` + `profiles`, one admin), seeds videos, transcription jobs and bug reports of
//! every type and severity, then runs one thread per phone. Each phone has its own SQLite
//! outbox in a temp dir and its own token, and runs its videos (5 MB–2 GB at 0.2–20 MB/s,
//! time compressed by `--speedup`) through the spec's stages two at a time, sending each
//! video's bytes to Storage over HTTP at its link's speed (sizes divided by `--byte-scale`,
//! 1024 by default: a 1 GB video sends 1 MB; see `storage.rs`), with network
//! failures and retries (at most 3), the dynamic timeout, offline spells, app kills (the
//! reporter abandoned without shutdown as in a process death, then a new one on the same file
//! calling `recover_after_restart`), failed transcriptions and bug reports. A simulated admin asks for the retry of timed-out uploads
//! with `request_upload_retry`; phones pick it up through `pending_retry_requests`.
//!
//! Upload events go only through the SDK (`report_upload_events` over HTTP). The app's other
//! writes (the `videos` row, failed `transcription_jobs`, `bug_reports`) are plain inserts on
//! one superuser database connection: the dev stack's gateway serves RPCs, not table inserts.
//!
//! With `--once`, the run ends with the summary and a check that every upload's status,
//! progress and retry count on the server equal what its phone ended with, that no outbox
//! kept an event, nothing was dead-lettered, every upload logged exactly one `begin`, and
//! every completed upload's video and thumbnail are in Storage (`storage.objects`) with the
//! size the phone sent, its `videos` row pointing at them.
//! The exit code is 1 otherwise.
//!
//! Against another Supabase, set `SUPABASE_URL`, `SUPABASE_ANON_KEY`,
//! `SUPABASE_SERVICE_ROLE_KEY` and `SUPABASE_DB_URL` (a direct connection without TLS, as
//! `supabase start` prints; the demo rows, the admin's query and the final check use it), with
//! the project's migrations applied. With `SUPABASE_JWT_SECRET` too, users are inserted and
//! tokens minted as on the dev stack. Without it (a hosted project, whose secret you should
//! not hand out), each demo user is created with the Auth admin API and the service key
//! (`POST /auth/v1/admin/users`, email confirmed, app_metadata.role = admin for the admin),
//! signed in with `POST /auth/v1/token?grant_type=password`, and given a `profiles` row by a
//! PostgREST upsert. Only the dev stack path is tested.

mod auth_api;
mod demo_data;
mod fleet;
mod phone;
mod resources;
mod scenario;
mod storage;
mod summary;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use upload_monitor::devstack::SupabaseTarget;

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "A fleet of simulated phones uploading to a local Supabase")]
struct Args {
    /// Simulated phones.
    #[arg(long, default_value_t = 24)]
    phones: usize,
    /// Simulated seconds per real second.
    #[arg(long, default_value_t = 60.0)]
    speedup: f64,
    /// Run a fixed seeded scenario to its end, print the summary and check the database.
    #[arg(long)]
    once: bool,
    /// Seed (random when not given; always printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Videos per phone in a `--once` run.
    #[arg(long, default_value_t = 3)]
    videos: usize,
    /// Real milliseconds between two steps of a phone.
    #[arg(long, default_value_t = 100)]
    tick_ms: u64,
    /// Port of the `/monitoring` page on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 3000)]
    dashboard_port: u16,
    /// Run without the `/monitoring` page.
    #[arg(long)]
    no_dashboard: bool,
    /// Real file size / bytes each upload sends to Storage (the card shows the real size).
    #[arg(long, default_value_t = storage::DEFAULT_BYTE_SCALE)]
    byte_scale: u64,
}

/// Log lines written around the progress bars (`MultiProgress::suspend`), so none leaves a
/// stale bar behind on the screen.
struct AroundBars(Option<indicatif::MultiProgress>);

impl std::io::Write for AroundBars {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &self.0 {
            Some(bars) => bars.suspend(|| std::io::stderr().write(buf)),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let bars = std::io::stdout()
        .is_terminal()
        .then(indicatif::MultiProgress::new);
    let log_bars = bars.clone();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(move || AroundBars(log_bars.clone()))
        .init();
    let seed = args.seed.unwrap_or_else(|| fastrand::u64(..1_000_000));
    println!("seed {seed}");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut options = scenario::FleetOptions::new(args.phones, seed);
    options.speedup = args.speedup;
    options.once = args.once;
    options.videos_per_phone = args.videos;
    options.tick = Duration::from_millis(args.tick_ms.max(1));
    options.bars = bars;
    options.byte_scale = args.byte_scale.max(1);
    options.dashboard_port = (!args.no_dashboard).then_some(args.dashboard_port);
    let stop = Arc::new(AtomicBool::new(false));
    let result = runtime.block_on(async {
        let stack = SupabaseTarget::from_env_or_start()
            .await
            .map_err(|e| e.to_string())?;
        println!("Supabase at {}", stack.api_url());
        let ctrl_c = stop.clone();
        // The fleet says "stopping" (through its bars, so none stays drawn).
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                ctrl_c.store(true, Ordering::Relaxed);
            }
        });
        let postmaster = stack
            .dev_stack()
            .and_then(|s| resources::postmaster_pid(s.socket_dir(), s.db_port()));
        let (cpu_before, started) = (resources::CpuTimes::now(postmaster), Instant::now());
        let report = fleet::run(&stack, &options, stop.clone()).await;
        let usage = resources::line(
            cpu_before,
            resources::CpuTimes::now(postmaster),
            started.elapsed().as_secs_f64(),
        );
        drop(stack);
        report.map(|r| (r, usage))
    });
    match result {
        Ok((report, usage)) => {
            print!("{}", report.text);
            println!("{usage}");
            for p in report.problems.iter().take(20) {
                println!("  {p}");
            }
            if report.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
