//! The `/monitoring` admin page, served from Rust with live updates over SSE: the spec's stat
//! cards, top errors, upload cards, recent bugs and error tabs, for every user at once.
//!
//! ```text
//! cargo run -p monitor-dashboard                 # dev stack + demo admin, http://127.0.0.1:3000
//! cargo run -p monitor-dashboard -- --port 8080  # another port; 0 = any free port (printed)
//! cargo run -p monitor-dashboard -- --admin-url https://admin.example.com  # header links
//! ```
//!
//! Admins sign in at `/login` with their Supabase account (password grant); each session's
//! calls use that admin's own token. Without `SUPABASE_URL` it starts the local dev stack,
//! creates the demo admin (`admin@upload-monitor.test` / `upload-monitor-admin`, printed),
//! and prints the `SUPABASE_*` lines to run the simulated fleet against the same stack from
//! another shell (`cargo run --example simulated_upload`). Against another Supabase set
//! `SUPABASE_URL` and `SUPABASE_ANON_KEY`: no service key, no admin token.
//!
//! When the port is taken (another dashboard, a dev server), any free port is used and the
//! URL printed says which.
//!
//! It listens on 127.0.0.1 unless `--listen` says otherwise, which needs an `https`
//! `--public-url` (a TLS reverse proxy in front):
//!
//! ```text
//! cargo run -p monitor-dashboard -- --listen 0.0.0.0 --public-url https://monitor.example.com
//! ```

use std::net::{IpAddr, Ipv4Addr};
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
    /// Port to listen on; when it is taken, any free port is used (and printed). 0 = any
    /// free port.
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Address to listen on. Beyond loopback only with an `https` --public-url.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    listen: IpAddr,
    /// The address browsers use, when a reverse proxy is in front
    /// (`https://monitor.example.com`): its origin passes the CSRF check, its host the host
    /// check, and with https the session cookie is `Secure` (`MONITORING_PUBLIC_URL` when
    /// this is not given).
    #[arg(long)]
    public_url: Option<reqwest::Url>,
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
    let ip = args.listen;
    let bind = |port: u16| TcpListener::bind((ip, port));
    let listener = match bind(args.port).await {
        Err(e) if args.port != 0 => {
            let listener = bind(0)
                .await
                .map_err(|e| format!("cannot listen on {ip}: {e}"))?;
            println!(
                "Port {} is taken ({e}); using {} instead.",
                args.port,
                listener.local_addr()?.port()
            );
            listener
        }
        other => other.map_err(|e| format!("cannot listen on {ip}:{}: {e}", args.port))?,
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
    let public_url = match args.public_url.clone() {
        Some(url) => Some(url),
        None => match std::env::var("MONITORING_PUBLIC_URL") {
            Ok(url) if !url.is_empty() => Some(
                url.parse::<reqwest::Url>()
                    .map_err(|e| format!("MONITORING_PUBLIC_URL={url}: {e}"))?,
            ),
            _ => None,
        },
    };
    match &public_url {
        Some(url) => println!("Monitoring: {url}monitoring (listening on {address})"),
        None => println!("Monitoring: http://{address}/monitoring"),
    }
    if connection.dev_stack.is_some() {
        println!(
            "Sign in as the demo admin: {} / {}",
            credentials::DEMO_ADMIN_EMAIL,
            credentials::DEMO_ADMIN_PASSWORD
        );
    } else {
        println!(
            "Sign in with an admin account of {}.",
            connection.project.url
        );
    }
    println!("Press Ctrl-C to stop.");
    let options = ServeOptions {
        page: PageConfig {
            admin_base_url: args
                .admin_url
                .clone()
                .or_else(|| std::env::var("MONITORING_ADMIN_URL").ok())
                .filter(|u| !u.is_empty()),
        },
        public_url,
        ..ServeOptions::default()
    };
    server::serve_with(connection.project.clone(), listener, options, stop_signal()).await?;
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
