//! Measures the admin monitoring RPCs at scale: p50/p99 of `monitoring_snapshot` and
//! `monitoring_changes` on a seeded dataset (1,000,000 uploads by default, see
//! `examples/common/seed_data.rs`), and, on the same data and run, the spec's original
//! queries (`seed/upload-monitoring-spec.md`) that the snapshot replaces.
//!
//! ```text
//! cargo run --release --example monitoring_bench
//! cargo run --release --example monitoring_bench -- --uploads 100000 --iterations 30
//! cargo run --release --example monitoring_bench -- --db-url postgresql://... --no-seed --explain
//! ```
//!
//! Timings are client round trips over a local socket (query, JSON build and transfer), in two
//! sessions, each a new connection: the service key's (`service_role`, RLS bypassed, as a
//! server-side tool) and an admin's JWT (`authenticated` with `app_metadata.role = admin`: RLS
//! applies to every row, as for the dashboard). Between two `monitoring_changes` calls, 300
//! active uploads report progress (what a busy second looks like), and the call asks for what
//! changed since the previous answer's cursor. The spec's queries run as the service key.
//!
//! Calls 1-5 of a session and calls 6 and later are also reported apart: PL/pgSQL caches the
//! plans of its statements per session and, from the sixth execution on, may switch a statement
//! to a generic plan (one plan for every parameter value). A pooled dashboard session lives on
//! calls 6+, so those are the figures that matter; a bench that only ran a few calls per session
//! would hide a bad generic plan (issue 12, item 6).
//!
//! `--explain` then opens one more session per role and calls `monitoring_changes`
//! `--explain-calls` times in it with auto_explain (ANALYZE, nested statements): it prints each
//! call's time and which statements' plans changed shape since the first call, then the plans of
//! the first call and of the last.

#[path = "common/latency.rs"]
// Shared with ingest_bench, which merges per-device histograms and prints the maximum.
#[allow(dead_code)]
mod latency;
#[path = "common/seed_data.rs"]
mod seed_data;

use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::StreamExt;
use tokio_postgres::{AsyncMessage, Client, NoTls};
use upload_monitor::devstack::DevStack;

use latency::Latencies;

#[derive(Parser)]
struct Args {
    /// `upload_queue` rows to seed (users N/10, bug reports N/5).
    #[arg(long, default_value_t = 1_000_000)]
    uploads: u64,
    /// A database with the migrations applied (superuser). Default: a new dev stack.
    #[arg(long)]
    db_url: Option<String>,
    /// Keep the data already there instead of seeding.
    #[arg(long)]
    no_seed: bool,
    /// Measured calls of each RPC.
    #[arg(long, default_value_t = 100)]
    iterations: usize,
    /// Measured runs of each spec query.
    #[arg(long, default_value_t = 5)]
    spec_runs: usize,
    /// Statement timeout for a spec query, seconds (the ILIKE join does not finish at 1M).
    #[arg(long, default_value_t = 60)]
    spec_timeout: u64,
    /// Pause between two change-feed calls, ms (a dashboard polls every 1000).
    #[arg(long, default_value_t = 250)]
    changes_interval_ms: u64,
    /// Print the EXPLAIN ANALYZE plans of the statements inside `monitoring_changes` over many
    /// calls of one session (see the module docs).
    #[arg(long)]
    explain: bool,
    /// Calls of `monitoring_changes` per session under `--explain`.
    #[arg(long, default_value_t = 8)]
    explain_calls: usize,
}

/// Calls 1..=FIRST_CALLS of a session are reported apart from the later ones: PL/pgSQL plans a
/// statement with its parameters' values for its first five executions before it may switch to
/// a generic plan (PostgreSQL's plancache.c), so call 6 is the first that can show the switch.
const FIRST_CALLS: usize = 5;

/// The admin whose JWT the admin sessions carry (any id: the monitoring reads only the claims).
const ADMIN_CLAIMS: &str = r#"{"sub":"aeaeaeae-0000-4000-8000-0000000000ae","role":"authenticated","app_metadata":{"role":"admin"}}"#;

/// The two sessions every RPC is measured in.
#[derive(Clone, Copy)]
enum Session {
    /// The service key: `service_role`, RLS bypassed.
    Service,
    /// An admin's JWT: `authenticated`, RLS applied.
    Admin,
}

impl Session {
    /// What the tables' rows print after the RPC's name.
    fn label(self) -> &'static str {
        match self {
            Session::Service => "",
            Session::Admin => " (admin JWT, RLS on)",
        }
    }

    /// The statements that make a new connection this session (run after any superuser-only
    /// setting, such as loading auto_explain).
    fn setup(self) -> String {
        match self {
            Session::Service => {
                "select set_config('request.jwt.claims', '{\"role\":\"service_role\"}', false);
                                 set role service_role;"
                    .to_string()
            }
            Session::Admin => format!(
                "select set_config('request.jwt.claims', '{ADMIN_CLAIMS}', false);
                 set role authenticated;"
            ),
        }
    }
}

/// The spec's queries, verbatim but for the schema prefix, in the order its page runs them.
const SPEC_QUERIES: [(&str, &str); 8] = [
    (
        "Phase 1 uploads (videos 24h + profiles + jobs)",
        "SELECT v.id, v.title, v.file_path, v.duration, v.metadata, v.created_at, p.email,
                p.id as user_id, tj.status as transcription_status,
                tj.error_message as transcription_error
         FROM public.videos v
         LEFT JOIN public.profiles p ON v.user_id = p.id
         LEFT JOIN public.transcription_jobs tj ON v.id = tj.video_id
         WHERE v.created_at >= NOW() - INTERVAL '24 hours'
         ORDER BY v.created_at DESC",
    ),
    (
        "getActiveUploads (upload_queue 24h + profiles)",
        "SELECT uq.*, p.email FROM public.upload_queue uq
         JOIN public.profiles p ON p.id = uq.user_id
         WHERE uq.started_at >= now() - interval '24 hours'
         ORDER BY uq.started_at DESC",
    ),
    (
        "top errors (24h)",
        "SELECT error_message, COUNT(*) as count, COUNT(DISTINCT user_id) as unique_users,
           ROUND((COUNT(*) * 100.0 / (SELECT COUNT(*) FROM public.bug_reports
                  WHERE created_at >= NOW() - INTERVAL '24 hours')), 1) as percentage
         FROM public.bug_reports WHERE created_at >= NOW() - INTERVAL '24 hours'
         GROUP BY error_message ORDER BY count DESC LIMIT 5",
    ),
    (
        "recent bugs (24h, severity, 20)",
        "SELECT * FROM public.bug_reports WHERE created_at >= NOW() - INTERVAL '24 hours'
         ORDER BY CASE severity WHEN 'critical' THEN 1 WHEN 'high' THEN 2
                  WHEN 'medium' THEN 3 WHEN 'low' THEN 4 END, created_at DESC LIMIT 20",
    ),
    (
        "upload errors (videos uploadFailed, 7 days)",
        "SELECT v.*, p.email FROM public.videos v JOIN public.profiles p ON v.user_id = p.id
         WHERE v.metadata->>'uploadFailed' = 'true'
           AND v.created_at >= NOW() - INTERVAL '7 days'
         ORDER BY v.created_at DESC",
    ),
    (
        "network errors (24h)",
        "SELECT * FROM public.bug_reports
         WHERE (error_type = 'network' OR error_message ILIKE '%upload%')
           AND created_at >= NOW() - INTERVAL '24 hours'
         ORDER BY created_at DESC",
    ),
    (
        "transcription errors (7 days)",
        "SELECT tj.*, v.title, p.email FROM public.transcription_jobs tj
         JOIN public.videos v ON tj.video_id = v.id JOIN public.profiles p ON v.user_id = p.id
         WHERE tj.status = 'failed' AND tj.created_at >= NOW() - INTERVAL '7 days'
         ORDER BY tj.created_at DESC",
    ),
    (
        "complete uploads query (file_path ILIKE join, LIMIT 100)",
        "WITH upload_stats AS (
           SELECT uq.id, uq.user_id, uq.video_title, uq.filename, uq.file_size, uq.status,
             uq.progress, uq.upload_speed, uq.retry_count, uq.error_message, uq.started_at,
             uq.completed_at,
             EXTRACT(EPOCH FROM (COALESCE(uq.completed_at, NOW()) - uq.started_at)) as elapsed_seconds,
             p.email as user_email, p.first_name, p.last_name, v.id as video_id,
             v.thumbnail_path, tj.status as transcription_status
           FROM public.upload_queue uq
           LEFT JOIN public.profiles p ON uq.user_id = p.id
           LEFT JOIN public.videos v ON v.file_path ILIKE '%' || uq.filename || '%'
           LEFT JOIN public.transcription_jobs tj ON v.id = tj.video_id
           WHERE uq.started_at >= NOW() - INTERVAL '24 hours')
         SELECT *, CASE WHEN status = 'uploading' AND elapsed_seconds > 1800 THEN true
                        ELSE false END as is_stale
         FROM upload_stats
         ORDER BY CASE WHEN status = 'uploading' THEN 1 WHEN status = 'pending' THEN 2
                       WHEN status = 'failed' THEN 3 WHEN status = 'completed' THEN 4 END,
                  started_at DESC
         LIMIT 100",
    ),
];

/// The durations of `samples` as a histogram.
fn latencies(samples: &[Duration]) -> Latencies {
    let mut latencies = Latencies::new();
    for took in samples {
        latencies.record(*took);
    }
    latencies
}

/// Prints one table row: runs, p50, p99 and min of `samples`, and, when they are the calls of
/// one session in order, the p50 of its first [`FIRST_CALLS`] calls and of the later ones.
/// Returns (p50, p99) of the later calls when there are any, else of all.
fn summary(name: &str, samples: Vec<Duration>, in_session_order: bool) -> (f64, f64) {
    let (first, later) = if in_session_order && samples.len() > FIRST_CALLS {
        let (first, later) = samples.split_at(FIRST_CALLS);
        (
            format!("{:.2}", latencies(first).percentile_ms(50.0)),
            latencies(later),
        )
    } else {
        ("".to_string(), latencies(&samples))
    };
    let (p50, p99) = (later.percentile_ms(50.0), later.percentile_ms(99.0));
    let all = latencies(&samples);
    println!(
        "| {name} | {} | {p50:.2} | {p99:.2} | {:.2} | {first} |",
        all.len(),
        all.min_ms(),
    );
    (p50, p99)
}

async fn connect(url: &str) -> Result<(Client, std::sync::mpsc::Receiver<String>), String> {
    let (client, mut connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| format!("connecting: {e}"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notice(notice) = message {
                let _ = tx.send(notice.message().to_string());
            }
        }
    });
    Ok((client, rx))
}

/// What one session measured of the two RPCs.
struct RpcFigures {
    snapshot_p50: f64,
    changes_p50: f64,
    snapshot_bytes: usize,
    cards_per_call: f64,
}

/// The `monitoring_changes` loop of one session: between two calls, 300 active uploads report
/// through `writer` and the bench waits `changes_interval_ms`; each call asks for what changed
/// since the previous answer's cursor. Returns each call's time and how many cards it carried.
async fn changes_calls(
    client: &Client,
    writer: &Client,
    args: &Args,
    calls: usize,
    mut after_call: impl FnMut(usize, Duration),
) -> Result<(Vec<Duration>, usize), Box<dyn std::error::Error>> {
    let activity = "update public.upload_queue set progress = least(progress + 1, 99),
                      bytes_sent = bytes_sent + 1
                    where id in (select id from public.upload_queue
                                 where status = 'uploading' order by random() limit 300)";
    // A cursor as a snapshot would hand out (now() - 2 s), without calling the snapshot in this
    // session: its statements are not the ones measured here.
    let mut cursor: chrono::DateTime<chrono::Utc> = writer
        .query_one("select now() - interval '2 seconds'", &[])
        .await?
        .get(0);
    let mut samples = Vec::with_capacity(calls);
    let mut changed = 0_usize;
    for call in 1..=calls {
        writer.execute(activity, &[]).await?;
        tokio::time::sleep(Duration::from_millis(args.changes_interval_ms)).await;
        let t = Instant::now();
        let row = client
            .query_one("select public.monitoring_changes($1)", &[&cursor])
            .await?;
        let took = t.elapsed();
        samples.push(took);
        after_call(call, took);
        let answer: serde_json::Value = row.get(0);
        changed += answer["uploads"].as_array().map_or(0, Vec::len);
        cursor = serde_json::from_value(answer["cursor"].clone())?;
    }
    Ok((samples, changed))
}

/// p50/p99 of `monitoring_snapshot` and `monitoring_changes`, each in a new connection of
/// `session`, 300 active uploads reporting through `writer` between two change-feed calls.
/// Every call of the session is measured, the first ones included (see [`FIRST_CALLS`]).
async fn measure_rpcs(
    url: &str,
    writer: &Client,
    args: &Args,
    session: Session,
) -> Result<RpcFigures, Box<dyn std::error::Error>> {
    let (client, _notices) = connect(url).await?;
    client.batch_execute(&session.setup()).await?;
    let mut samples = Vec::with_capacity(args.iterations);
    let mut bytes = 0;
    for _ in 0..args.iterations {
        let t = Instant::now();
        let row = client
            .query_one("select public.monitoring_snapshot()::text", &[])
            .await?;
        samples.push(t.elapsed());
        bytes = row.get::<_, String>(0).len();
    }
    let label = session.label();
    let (snapshot_p50, _) = summary(&format!("monitoring_snapshot{label}"), samples, true);

    // A session of its own, as the dashboard's poller has: the snapshot's calls above must not
    // count as this function's first calls.
    let (client, _notices) = connect(url).await?;
    client.batch_execute(&session.setup()).await?;
    let (samples, changed) =
        changes_calls(&client, writer, args, args.iterations, |_, _| {}).await?;
    let (changes_p50, _) = summary(&format!("monitoring_changes{label}"), samples, true);
    Ok(RpcFigures {
        snapshot_p50,
        changes_p50,
        snapshot_bytes: bytes,
        cards_per_call: changed as f64 / args.iterations.max(1) as f64,
    })
}

/// Drops the numbers that change from one execution to the next (costs, row counts, times,
/// buffers), so two plans of the same shape print the same.
fn plan_shape(plan: &str) -> String {
    plan.lines()
        .filter(|line| {
            let line = line.trim_start();
            !(line.starts_with("Buffers:")
                || line.starts_with("Planning")
                || line.starts_with("Execution Time")
                || line.starts_with("I/O Timings")
                || line.starts_with("Query Text")
                || line.starts_with("duration:"))
        })
        .map(|line| {
            let mut out = String::new();
            let mut depth = 0;
            for ch in line.chars() {
                match ch {
                    '(' => depth += 1,
                    ')' if depth > 0 => depth -= 1,
                    _ if depth == 0 => out.push(ch),
                    _ => {}
                }
            }
            out.trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `--explain`: `monitoring_changes` called `explain_calls` times in one new session of
/// `session` with auto_explain logging every nested statement's plan. Prints each call's time
/// and how many of its statement plans differ in shape from the first call's, then the first
/// and the last call's plans.
async fn explain_session(
    url: &str,
    writer: &Client,
    args: &Args,
    session: Session,
) -> Result<(), Box<dyn std::error::Error>> {
    let (client, notices) = connect(url).await?;
    client
        .batch_execute(
            "load 'auto_explain';
             set auto_explain.log_min_duration = 0;
             set auto_explain.log_analyze = on;
             set auto_explain.log_buffers = on;
             set auto_explain.log_nested_statements = on;
             set auto_explain.log_level = notice;
             set client_min_messages = notice;",
        )
        .await?;
    client.batch_execute(&session.setup()).await?;
    while notices.try_recv().is_ok() {}
    println!(
        "\n==== monitoring_changes{}: {} calls in one session",
        session.label(),
        args.explain_calls
    );
    let mut per_call: Vec<Vec<String>> = Vec::new();
    changes_calls(&client, writer, args, args.explain_calls, |call, took| {
        // The notices of this call arrived before its answer.
        let plans: Vec<String> = std::iter::from_fn(|| notices.try_recv().ok()).collect();
        let changed = per_call.first().map_or(0, |first: &Vec<String>| {
            plans
                .iter()
                .zip(first)
                .filter(|(a, b)| plan_shape(a) != plan_shape(b))
                .count()
        });
        println!(
            "call {call}: {:.2} ms, {} statements, {changed} plans differ in shape from call 1",
            took.as_secs_f64() * 1000.0,
            plans.len()
        );
        per_call.push(plans);
    })
    .await?;
    for (call, plans) in [(1, per_call.first()), (per_call.len(), per_call.last())] {
        println!("\n---- plans inside call {call}");
        for plan in plans.into_iter().flatten() {
            println!("{plan}\n");
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let (_stack, url) = match args.db_url.clone() {
        Some(url) => (None, url),
        None => {
            let stack = DevStack::start().await?;
            let url = stack.db_url().to_string();
            (Some(stack), url)
        }
    };
    let (client, notices) = connect(&url).await?;
    if !args.no_seed {
        println!("seeding {} uploads ...", args.uploads);
        let report = seed_data::seed(
            &client,
            seed_data::SeedOptions {
                uploads: args.uploads,
                seed: 0.42,
            },
        )
        .await?;
        for (table, rows) in &report.tables {
            println!("  {table:>20}: {rows:>9} rows");
        }
        println!("  seeded in {:.1} s", report.seconds);
    }
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("\n{cpus} CPUs; timings in ms, client round trip on a local socket\n");

    // Between two change-feed calls a busy fleet reports: written on a connection of its own
    // (as the database owner), so the measured session's role never limits it.
    let (writer, _writer_notices) = connect(&url).await?;
    println!(
        "| query | runs | p50 | p99 | min | p50 of calls 1-{FIRST_CALLS} |\n| --- | ---: | ---: | ---: | ---: | ---: |"
    );
    println!(
        "(p50 and p99 of calls {} and later of one session; min over all calls)",
        FIRST_CALLS + 1
    );
    // The service key's session: what a server-side tool uses (RLS bypassed).
    let service = measure_rpcs(&url, &writer, &args, Session::Service).await?;
    // An admin's JWT: what the dashboard uses by default, with RLS applied to every row read.
    let admin = measure_rpcs(&url, &writer, &args, Session::Admin).await?;
    client.batch_execute(&Session::Service.setup()).await?;
    let (snapshot_p50, changes_p50) = (service.snapshot_p50, service.changes_p50);
    println!(
        "\nsnapshot: {:.0} kB of JSON; changes: {:.0} cards per call on average (admin session: {:.0})",
        service.snapshot_bytes as f64 / 1024.0,
        service.cards_per_call,
        admin.cards_per_call
    );

    let mut spec_total_p50 = 0.0;
    client
        .batch_execute(&format!("set statement_timeout = '{}s'", args.spec_timeout))
        .await?;
    for (name, sql) in SPEC_QUERIES {
        let mut samples = Vec::new();
        let mut timed_out = false;
        for _ in 0..args.spec_runs {
            let t = Instant::now();
            match client.query(sql, &[]).await {
                Ok(_) => samples.push(t.elapsed()),
                Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED) => {
                    timed_out = true;
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
        if timed_out {
            println!(
                "| spec: {name} | 1 | > {} (timed out) | | |",
                args.spec_timeout * 1000
            );
            spec_total_p50 += (args.spec_timeout * 1000) as f64;
        } else {
            spec_total_p50 += summary(&format!("spec: {name}"), samples, false).0;
        }
    }
    client.batch_execute("reset statement_timeout").await?;

    println!(
        "the spec's page refresh (its queries in sequence, p50 sum): {spec_total_p50:.1} ms = \
         {:.0}x monitoring_snapshot's p50, {:.0}x monitoring_changes's p50",
        spec_total_p50 / snapshot_p50,
        spec_total_p50 / changes_p50
    );

    if args.explain {
        client.batch_execute("reset role").await?;
        drop(notices);
        for session in [Session::Admin, Session::Service] {
            explain_session(&url, &writer, &args, session).await?;
        }
    }
    Ok(())
}
