//! Measures `report_upload_events` ingest throughput over HTTP through the dev stack: many
//! concurrent uploads, each of its own user (a real JWT), posting batches of progress events
//! as a flushing SDK would, from `begin` to `complete`.
//!
//! ```text
//! cargo run --release --example ingest_bench
//! cargo run --release --example ingest_bench -- --uploads 200 --batch 100 --seconds 20
//! ```
//!
//! Prints events/s (applied events over the measured window) and the per-batch latency
//! percentiles. The first `--warmup` seconds are run but not measured (pool and plan caches).
//!
//! `--noisy 23` measures something else: one user keeps 23 batches of 1,000 events in flight
//! at once (a hostile or buggy app) while another user reports one small batch at a time;
//! prints the quiet user's latency percentiles and how the noisy user was answered.

#[path = "common/latency.rs"]
// Shared with monitoring_bench, which prints the minimum this bench does not.
#[allow(dead_code)]
mod latency;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{json, Value};
use upload_monitor::devstack::{DevStack, NewUser};
use uuid::Uuid;

use latency::Latencies;

#[derive(Parser)]
struct Args {
    /// Uploads in flight at once (one user and one HTTP request in flight each).
    #[arg(long, default_value_t = 200)]
    uploads: usize,
    /// Events per batch (the SDK's flush size under load).
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Batches per upload, begin to complete; then the device starts its next upload.
    #[arg(long, default_value_t = 10)]
    batches_per_upload: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Unmeasured seconds first.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Seed of the simulated speeds (printed, so a run can be repeated).
    #[arg(long)]
    seed: Option<u64>,
    /// Instead of the throughput run: one user with this many 1,000-event batches in flight
    /// at once, and the latency another user sees meanwhile.
    #[arg(long)]
    noisy: Option<usize>,
}

/// One device's numbers over the measured window.
#[derive(Default)]
struct DeviceStats {
    latencies: Latencies,
    applied: u64,
    other: u64,
    errors: u64,
}

/// A 100 MB video: big enough that 1,000 progress events each move the bytes forward.
const FILE_SIZE: i64 = 100 * 1024 * 1024;

/// The events of one upload's `index`-th batch (of `total`): a begin first, a complete last,
/// progress in between, bytes and percent growing with `seq`.
fn batch_events(
    upload: Uuid,
    local_id: &str,
    index: usize,
    total: usize,
    size: usize,
    rng: &mut fastrand::Rng,
) -> Value {
    let last_seq = (total * size) as i64;
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let events: Vec<Value> = (0..size)
        .map(|k| {
            let seq = (index * size + k + 1) as i64;
            let base = json!({
                "id": Uuid::now_v7(), "upload_id": upload, "seq": seq, "at": at,
            });
            let mut event = base.as_object().cloned().unwrap_or_default();
            let fields = if seq == 1 {
                json!({"kind": "begin", "local_id": local_id, "filename": format!("{local_id}.mov"),
                       "video_title": "Benchmark", "file_size": FILE_SIZE, "source": "recorded",
                       "metadata": {"duration": 93.4, "isRecorded": true},
                       "device": {"platform": "ios", "os_version": "18.1", "app_version": "3.2.0"}})
            } else if seq == last_seq {
                json!({"kind": "complete"})
            } else {
                let bytes = FILE_SIZE * seq / last_seq;
                json!({"kind": "progress", "bytes_sent": bytes, "progress": bytes * 100 / FILE_SIZE,
                       "upload_speed": (rng.f64() * 8.0 * 100.0).round() / 100.0})
            };
            if let Some(fields) = fields.as_object() {
                event.extend(fields.clone());
            }
            Value::Object(event)
        })
        .collect();
    json!({ "events": events })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let seed = args.seed.unwrap_or_else(|| fastrand::u64(..));
    println!(
        "ingest_bench: {} uploads, {} events/batch, {} batches/upload, {}s (+{}s warm-up), seed {seed}",
        args.uploads, args.batch, args.batches_per_upload, args.seconds, args.warmup
    );

    let started = Instant::now();
    let stack = Arc::new(DevStack::start().await?);
    println!(
        "dev stack ready in {:.2}s at {}",
        started.elapsed().as_secs_f64(),
        stack.api_url()
    );
    if let Some(in_flight) = args.noisy {
        return noisy_neighbour(&stack, in_flight, args.seconds, seed).await;
    }
    let mut tokens = Vec::with_capacity(args.uploads);
    for device in 0..args.uploads {
        let user = stack
            .create_user(&NewUser::new(format!("bench-{device}@example.test")))
            .await?;
        tokens.push(user.access_token);
    }

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.uploads)
        .build()?;
    let url = format!("{}/rest/v1/rpc/report_upload_events", stack.api_url());
    let begin = Instant::now();
    let measure_from = begin + Duration::from_secs(args.warmup);
    let deadline = measure_from + Duration::from_secs(args.seconds);

    let devices: Vec<_> = tokens
        .into_iter()
        .enumerate()
        .map(|(device, token)| {
            let (client, url, key) = (client.clone(), url.clone(), stack.anon_key().to_string());
            let (size, total) = (args.batch, args.batches_per_upload);
            let mut rng = fastrand::Rng::with_seed(seed.wrapping_add(device as u64));
            tokio::spawn(async move {
                let mut stats = DeviceStats::default();
                let mut upload_number = 0usize;
                'uploads: loop {
                    upload_number += 1;
                    let upload = Uuid::now_v7();
                    let local_id = format!("bench_{device}_{upload_number}");
                    for index in 0..total {
                        if Instant::now() >= deadline {
                            break 'uploads;
                        }
                        let body = batch_events(upload, &local_id, index, total, size, &mut rng);
                        let sent = Instant::now();
                        let response = client
                            .post(&url)
                            .header("apikey", &key)
                            .bearer_auth(&token)
                            .json(&body)
                            .send()
                            .await;
                        let answer: Option<Value> = match response {
                            Ok(r) if r.status().is_success() => r.json().await.ok(),
                            _ => None,
                        };
                        let done = Instant::now();
                        if sent < measure_from || done > deadline {
                            continue;
                        }
                        stats.latencies.record(done - sent);
                        match answer {
                            Some(answer) => {
                                for verdict in answer["results"].as_array().into_iter().flatten() {
                                    if verdict["outcome"] == "applied" {
                                        stats.applied += 1;
                                    } else {
                                        stats.other += 1;
                                    }
                                }
                            }
                            None => stats.errors += 1,
                        }
                    }
                }
                stats
            })
        })
        .collect();

    let mut latencies = Latencies::new();
    let (mut applied, mut other, mut errors) = (0u64, 0u64, 0u64);
    for device in devices {
        let stats = device.await?;
        latencies.add(&stats.latencies);
        applied += stats.applied;
        other += stats.other;
        errors += stats.errors;
    }
    let window = args.seconds as f64;
    println!(
        "batches: {} ({} failed requests); events applied: {applied}, not applied: {other}",
        latencies.len(),
        errors
    );
    println!("throughput: {:.0} events/s", applied as f64 / window);
    println!(
        "batch latency: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.percentile_ms(50.0),
        latencies.percentile_ms(99.0),
        latencies.max_ms()
    );
    Ok(())
}

/// One user keeps `in_flight` batches of 1,000 progress events in flight for `seconds`
/// (each task begins its own upload, then sends batch after batch as soon as the previous
/// one is answered, 429s included, as a misbehaving app would); a second user sends one
/// 10-event batch at a time. Prints the second user's latency and the first user's answers.
async fn noisy_neighbour(
    stack: &DevStack,
    in_flight: usize,
    seconds: u64,
    seed: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    let noisy = stack
        .create_user(&NewUser::new(format!("noisy-{seed}@example.test")))
        .await?;
    let quiet = stack
        .create_user(&NewUser::new(format!("quiet-{seed}@example.test")))
        .await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(in_flight + 1)
        .build()?;
    let url = format!("{}/rest/v1/rpc/report_upload_events", stack.api_url());
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let key = stack.anon_key().to_string();
    let noisy_tasks: Vec<_> = (0..in_flight)
        .map(|task| {
            let (client, url, key) = (client.clone(), url.clone(), key.clone());
            let token = noisy.access_token.clone();
            let mut rng = fastrand::Rng::with_seed(seed.wrapping_add(task as u64));
            tokio::spawn(async move {
                let (mut ok, mut throttled, mut other) = (0u64, 0u64, 0u64);
                let upload = Uuid::now_v7();
                let local_id = format!("noisy_{task}");
                // 10,000 batches is far more than any run sends: the upload never ends.
                let mut index = 0;
                while Instant::now() < deadline {
                    let body = batch_events(upload, &local_id, index, 10_000, 1_000, &mut rng);
                    match post(&client, &url, &key, &token, &body).await {
                        200 => {
                            ok += 1;
                            index += 1;
                        }
                        429 => throttled += 1,
                        _ => other += 1,
                    }
                }
                (ok, throttled, other)
            })
        })
        .collect();
    let mut latencies = Latencies::new();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut failures = 0u64;
    let mut upload_number = 0;
    while Instant::now() < deadline {
        upload_number += 1;
        let upload = Uuid::now_v7();
        let local_id = format!("quiet_{upload_number}");
        for index in 0..10 {
            let body = batch_events(upload, &local_id, index, 10, 10, &mut rng);
            let sent = Instant::now();
            if post(&client, &url, &key, &quiet.access_token, &body).await != 200 {
                failures += 1;
            }
            latencies.record(sent.elapsed());
        }
    }
    let (mut ok, mut throttled, mut other) = (0u64, 0u64, 0u64);
    for task in noisy_tasks {
        let (a, b, c) = task.await?;
        ok += a;
        throttled += b;
        other += c;
    }
    println!(
        "noisy user: {in_flight} batches of 1,000 events in flight for {seconds}s: \
         {ok} applied batches, {throttled} answered 429, {other} other answers"
    );
    println!(
        "quiet user: {} batches ({failures} not 200), latency p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        latencies.len(),
        latencies.percentile_ms(50.0),
        latencies.percentile_ms(95.0),
        latencies.max_ms()
    );
    Ok(())
}

/// One ingest call; its HTTP status, 0 when the request itself failed.
async fn post(client: &reqwest::Client, url: &str, key: &str, token: &str, body: &Value) -> u16 {
    let response = client
        .post(url)
        .header("apikey", key)
        .bearer_auth(token)
        .json(body)
        .send()
        .await;
    response.map(|r| r.status().as_u16()).unwrap_or(0)
}
