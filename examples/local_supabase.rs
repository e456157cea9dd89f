//! Starts the local Supabase dev stack and prints its credentials like `supabase status`, with a
//! demo admin account that can sign in (Auth's password grant); runs until Ctrl-C, then removes
//! the throwaway cluster (and Storage's objects with it).
//!
//! ```text
//! cargo run --example local_supabase
//! curl -s -X POST "$API_URL/rest/v1/rpc/monitor_api_version" \
//!   -H "apikey: $ANON_KEY" -H "Authorization: Bearer $SERVICE_ROLE_KEY"
//! curl -s -X POST "$API_URL/auth/v1/token?grant_type=password" -H "apikey: $ANON_KEY" \
//!   -H 'content-type: application/json' \
//!   -d '{"email":"admin@upload-monitor.test","password":"upload-monitor-admin"}'
//! ```
//!
//! supabase-js runs against it unchanged: `tests/js/contract.mjs` (see its header).

use std::process::ExitCode;
use std::time::Instant;

use upload_monitor::devstack::{pg_cron_package, DevStack, DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // Errors are printed with Display: a missing PostgreSQL names the command that installs it
    // (`main` returning `Result` would print the Debug form and lose that line).
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,upload_monitor=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let started = Instant::now();
    let stack = DevStack::start().await?;
    stack.create_demo_admin().await?;
    let elapsed = started.elapsed();
    println!(
        "Local Supabase (dev stack) started in {:.2}s.",
        elapsed.as_secs_f64()
    );
    println!();
    println!("         API URL: {}", stack.api_url());
    println!(
        "     GraphQL URL: (not served; PostgREST's RPCs only, at {}/rest/v1/rpc/<function>)",
        stack.api_url()
    );
    println!(
        "        Auth URL: {}/auth/v1 (password and refresh grants, /user, /logout, admin users)",
        stack.api_url()
    );
    println!(
        "     Storage URL: {}/storage/v1 (objects and signed URLs; buckets videos, thumbnails)",
        stack.api_url()
    );
    println!(
        "         pg_cron: {}",
        if stack.has_pg_cron() {
            "running (mark-stale-uploads every minute, cleanup-upload-queue daily)".to_string()
        } else {
            format!(
                "absent: scheduled jobs do not run (apt-get install {})",
                pg_cron_package()
            )
        }
    );
    println!("      demo admin: {DEMO_ADMIN_EMAIL} / {DEMO_ADMIN_PASSWORD}");
    println!("    not served: table endpoints (/rest/v1/<table>), Realtime, Edge Functions (answered 501)");
    println!("          DB URL: {}", stack.db_url());
    println!("      JWT secret: {}", stack.jwt_secret());
    println!("        anon key: {}", stack.anon_key());
    println!("service_role key: {}", stack.service_role_key());
    println!();
    println!("To run against it from another shell:");
    println!("  export SUPABASE_URL={}", stack.api_url());
    println!("  export SUPABASE_ANON_KEY={}", stack.anon_key());
    println!(
        "  export SUPABASE_SERVICE_ROLE_KEY={}",
        stack.service_role_key()
    );
    println!("  export SUPABASE_DB_URL={}", stack.db_url());
    println!("  export SUPABASE_JWT_SECRET={}", stack.jwt_secret());
    println!();
    println!("Try it:");
    println!(
        "  curl -s -X POST {}/rest/v1/rpc/monitor_api_version -H 'apikey: {}' -H 'Authorization: Bearer {}'",
        stack.api_url(),
        stack.anon_key(),
        stack.service_role_key()
    );
    println!();
    println!("Press Ctrl-C to stop (the cluster and its files are removed).");
    tokio::signal::ctrl_c().await?;
    println!("Stopping.");
    drop(stack);
    Ok(())
}
