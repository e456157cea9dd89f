//! The `/monitoring` admin page, served from Rust with live updates over SSE: the spec's stat
//! cards, top errors, upload cards, recent bugs and error tabs, for every user at once.
//!
//! ```text
//! cargo run -p monitor-dashboard                 # dev stack + demo admin, http://127.0.0.1:3000
//! cargo run -p monitor-dashboard -- --port 8080  # another port; 0 = any free port (printed)
//! cargo run -p monitor-dashboard -- --admin-url https://admin.example.com  # header links
//! ```
//!
//! Without `SUPABASE_URL` it starts the local dev stack, creates a demo admin
//! (`app_metadata.role = admin`) and mints its token, and prints the `SUPABASE_*` lines to run
//! the simulated fleet against the same stack from another shell
//! (`cargo run --example simulated_upload`). Against another Supabase set `SUPABASE_URL` and
//! either `MONITORING_ADMIN_JWT` (an admin's access token) with `SUPABASE_ANON_KEY`, or
//! `SUPABASE_SERVICE_ROLE_KEY`. The credential stays in this process: the page calls this
//! server, never Supabase.
//!
//! When the port is taken (another dashboard, a dev server), any free port is used and the
//! URL printed says which.
//!
//! It listens on 127.0.0.1 only: the page has no login of its own, so anyone who could reach
//! the port would act as the admin (see `monitor_dashboard::server`).

use std::net::Ipv4Addr;
use std::process::ExitCode;

use clap::Parser;
use monitor_dashboard::assets::PageConfig;
use monitor_dashboard::credentials;
use monitor_dashboard::server::{self, ServeOptions};
use tokio::net::TcpListener;

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "The /monitoring admin page with live updates")]
struct Args {
    /// Port on 127.0.0.1; when it is taken, any free port is used (and printed). 0 = any
    /// free port.
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// The existing admin dashboard's base URL: the header links to its Dashboard and Bugs
    /// pages (hidden when not given; `MONITORING_ADMIN_URL` when this is not given).
    #[arg(long)]
    admin_url: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,monitor_dashboard=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    // Errors are printed with Display: they name the variable or command that fixes them.
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    // Bound before the stack starts, so a port problem shows in a second, not after start-up.
    // The chosen port taken (another dashboard, a dev server): any free one, printed, as
    // `simulated_upload` does with its dashboard and the dev stack with 54321.
    let bind = |port: u16| TcpListener::bind((Ipv4Addr::LOCALHOST, port));
    let listener = match bind(args.port).await {
        Err(e) if args.port != 0 => {
            let listener = bind(0)
                .await
                .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?;
            println!(
                "Port {} is taken ({e}); using {} instead.",
                args.port,
                listener.local_addr()?.port()
            );
            listener
        }
        other => other.map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", args.port))?,
    };
    let address = listener.local_addr()?;
    let connection = credentials::connect().await?;
    if let Some(stack) = &connection.dev_stack {
        println!("Local Supabase (dev stack) at {}", stack.api_url());
        println!("To run the simulated fleet against it from another shell:");
        println!("  export SUPABASE_URL={}", stack.api_url());
        println!("  export SUPABASE_ANON_KEY={}", stack.anon_key());
        println!(
            "  export SUPABASE_SERVICE_ROLE_KEY={}",
            stack.service_role_key()
        );
        if let Some(db) = stack.db_url() {
            println!("  export SUPABASE_DB_URL={db}");
        }
        if let Some(secret) = stack.jwt_secret() {
            println!("  export SUPABASE_JWT_SECRET={secret}");
        }
        println!("  cargo run --example simulated_upload");
        println!();
    }
    println!("Reading as {}.", connection.credential);
    println!("Monitoring: http://{address}/monitoring");
    println!("Press Ctrl-C to stop.");
    let options = ServeOptions {
        page: PageConfig {
            admin_base_url: args
                .admin_url
                .clone()
                .or_else(|| std::env::var("MONITORING_ADMIN_URL").ok())
                .filter(|u| !u.is_empty()),
        },
    };
    server::serve_with(connection.client.clone(), listener, options, stop_signal()).await?;
    println!("Stopped.");
    // The dev stack (if any) goes last, after the server's final calls.
    drop(connection);
    Ok(())
}

/// Ctrl-C, or SIGTERM (`kill`, a service manager): either stops the server cleanly, so the
/// dev stack's cluster is removed by its own drop rather than by the watcher.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "no SIGTERM handler: only Ctrl-C stops the server")
            }
        }
    }
    // An error here means no signal handler at all: run until killed.
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
