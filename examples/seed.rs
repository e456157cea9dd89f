//! Fills a database with a realistic monitoring dataset (see `examples/common/seed_data.rs`
//! for its shape): 1,000,000 uploads, events and videos, 200,000 bug reports and 100,000
//! users over 7 days by default.
//!
//! ```text
//! cargo run --release --example seed -- --uploads 1000000
//! cargo run --release --example seed -- --db-url postgresql://postgres@127.0.0.1:5432/postgres
//! ```
//!
//! Without `--db-url` it starts a dev stack, seeds it, prints its URLs and keeps it running
//! until Ctrl-C, so the dashboard or `psql` can look at the data.
//!
//! It *replaces* the data: the app's tables and the monitoring tables are truncated first.
//! So the target is only ever named on the command line (no environment variable is read):
//! never point it at a database whose rows you want to keep.

#[path = "common/seed_data.rs"]
mod seed_data;

use clap::Parser;
use tokio_postgres::NoTls;
use upload_monitor::devstack::DevStack;

#[derive(Parser)]
struct Args {
    /// `upload_queue` rows to generate (events and videos alike; users N/10, bugs N/5).
    #[arg(long, default_value_t = 1_000_000)]
    uploads: u64,
    /// PostgreSQL URL of a database with the migrations applied (superuser: the load
    /// disables triggers while it runs). Its rows are replaced. Default: a new dev stack.
    #[arg(long)]
    db_url: Option<String>,
    /// Random seed in [-1, 1] (printed; the same seed gives the same rows).
    #[arg(long, default_value_t = 0.42)]
    seed: f64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let (stack, url) = match args.db_url {
        Some(url) => (None, url),
        None => {
            let stack = DevStack::start().await?;
            let url = stack.db_url().to_string();
            (Some(stack), url)
        }
    };
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await?;
    tokio::spawn(connection);
    println!(
        "seeding {url} with {} uploads (seed {})",
        args.uploads, args.seed
    );
    let report = seed_data::seed(
        &client,
        seed_data::SeedOptions {
            uploads: args.uploads,
            seed: args.seed,
        },
    )
    .await?;
    for (table, rows) in &report.tables {
        println!("{table:>20}: {rows:>9} rows");
    }
    println!("seeded in {:.1} s", report.seconds);
    if let Some(stack) = stack {
        println!(
            "dev stack running: SUPABASE_URL={} SUPABASE_DB_URL={} (Ctrl-C to stop)",
            stack.api_url(),
            stack.db_url()
        );
        tokio::signal::ctrl_c().await?;
    }
    Ok(())
}
