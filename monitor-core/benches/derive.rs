//! Bench: Phase 1 derivation over 100k `videos` rows.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use monitor_core::derive::{derive_item, derive_status};

#[path = "common/mod.rs"]
mod fixtures;

/// The row count the issue asks for.
const ROWS: usize = 100_000;

fn benches(c: &mut Criterion) {
    println!("fixtures seed {:#x}", fixtures::SEED);
    let videos = fixtures::videos(ROWS);
    let now = fixtures::now();
    c.bench_function("derive_status/100k_videos", |b| {
        b.iter(|| {
            black_box(&videos)
                .iter()
                .filter(|v| derive_status(v, now).status().is_active())
                .count()
        })
    });
    c.bench_function("derive_item/100k_videos", |b| {
        b.iter(|| {
            black_box(&videos)
                .iter()
                .map(|v| derive_item(v, None, None, now))
                .collect::<Vec<_>>()
        })
    });
}

criterion_group! {
    name = group;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(3));
    targets = benches
}
criterion_main!(group);
