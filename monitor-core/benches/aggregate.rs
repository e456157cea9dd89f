//! Bench: the monitoring aggregations over 100k rows.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use monitor_core::aggregate::{monitoring_stats, recent_bugs, top_errors, upload_list};

#[path = "common/mod.rs"]
mod fixtures;

/// The row count the issue asks for.
const ROWS: usize = 100_000;

fn benches(c: &mut Criterion) {
    println!("fixtures seed {:#x}", fixtures::SEED);
    let uploads = fixtures::uploads(ROWS);
    let bugs = fixtures::bugs(ROWS);
    let now = fixtures::now();
    c.bench_function("monitoring_stats/100k_uploads_100k_bugs", |b| {
        b.iter(|| monitoring_stats(black_box(&uploads), black_box(&bugs), now))
    });
    c.bench_function("top_errors/100k_bugs", |b| {
        b.iter(|| top_errors(black_box(&bugs), now))
    });
    c.bench_function("recent_bugs/100k_bugs_limit_20", |b| {
        b.iter(|| recent_bugs(black_box(&bugs), now, 20).len())
    });
    c.bench_function("upload_list/100k_uploads_limit_100", |b| {
        b.iter(|| upload_list(black_box(&uploads), now, 100).len())
    });
}

criterion_group! {
    name = group;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(3));
    targets = benches
}
criterion_main!(group);
