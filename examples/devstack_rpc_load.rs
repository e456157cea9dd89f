//! Measures the dev stack gateway's request rate: many concurrent `POST /rest/v1/rpc/...`
//! calls of `monitor_api_version` (a trivial function), so the number is the gateway's and the
//! database round trip's own cost, the ceiling for any RPC.
//!
//! ```text
//! cargo run --release --example devstack_rpc_load -- --requests 20000 --concurrency 32
//! ```
//!
//! Runs against `SUPABASE_URL` when set (with a service_role key), else a fresh dev stack.

use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use upload_monitor::devstack::{DevStack, SupabaseTarget};

#[derive(Parser)]
struct Args {
    /// Total requests.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let started = Instant::now();
    let target = SupabaseTarget::from_env_or_start().await?;
    println!(
        "stack ready in {:.2}s at {}",
        started.elapsed().as_secs_f64(),
        target.api_url()
    );
    let url = format!("{}/rest/v1/rpc/monitor_api_version", target.api_url());
    let client = reqwest::Client::new();
    let key = target.service_role_key().to_string();
    let token = match target.dev_stack() {
        Some(stack) => user_token(stack).await?,
        None => key.clone(),
    };
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (client, url, key, token, next) = (
                client.clone(),
                url.clone(),
                key.clone(),
                token.clone(),
                next.clone(),
            );
            let total = args.requests;
            tokio::spawn(async move {
                let mut failures = 0usize;
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                    let response = client
                        .post(&url)
                        .header("apikey", &key)
                        .bearer_auth(&token)
                        .body("{}")
                        .send()
                        .await;
                    match response {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                        }
                        _ => failures += 1,
                    }
                }
                failures
            })
        })
        .collect();
    let mut failures = 0;
    for worker in workers {
        failures += worker.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{} requests, {} concurrent: {:.2}s, {:.0} requests/s, {} failed",
        args.requests,
        args.concurrency,
        elapsed,
        args.requests as f64 / elapsed,
        failures
    );
    Ok(())
}

/// A signed-in user's token, so the measured path includes RLS-relevant claims.
async fn user_token(stack: &DevStack) -> Result<String, Box<dyn std::error::Error>> {
    let email = format!("load-{}@example.test", uuid::Uuid::new_v4().simple());
    let user = stack
        .create_user(&upload_monitor::devstack::NewUser::new(email))
        .await?;
    Ok(user.access_token)
}
