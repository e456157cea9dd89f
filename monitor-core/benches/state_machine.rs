//! Bench: one event through the state machine, and a 500-event batch (the SDK's batch).

use std::collections::{HashMap, HashSet};
use std::hint::black_box;

use chrono::Duration;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use monitor_core::state_machine::{apply, apply_batch};
use monitor_core::{EventPayload, UploadEvent};
use uuid::Uuid;

#[path = "common/mod.rs"]
mod fixtures;

/// The caller in every bench.
const USER: Uuid = Uuid::from_u128(1);

fn begin(upload: Uuid, n: usize) -> UploadEvent {
    UploadEvent {
        id: Uuid::from_u64_pair(upload.as_u64_pair().1, 0),
        upload_id: upload,
        seq: 1,
        at: fixtures::now(),
        payload: EventPayload::Begin {
            local_id: format!("import_{n}"),
            video_title: Some("Vacances".into()),
            filename: "backup_1.mov".into(),
            file_size: Some(100_000_000),
            source: None,
            metadata: Some(serde_json::json!({"duration": 42})),
            device: None,
            user_id: Some(USER),
        },
    }
}

fn progress(upload: Uuid, seq: i64) -> UploadEvent {
    UploadEvent {
        id: Uuid::from_u64_pair(upload.as_u64_pair().1, seq as u64),
        upload_id: upload,
        seq,
        at: fixtures::now() + Duration::seconds(seq),
        payload: EventPayload::Progress {
            bytes_sent: seq * 1_000_000,
            progress: seq as i32,
            upload_speed: Some(2.5),
        },
    }
}

fn benches(c: &mut Criterion) {
    println!("fixtures seed {:#x}", fixtures::SEED);
    let now = fixtures::now();
    let upload = Uuid::from_u128(0xaa);
    let record = match apply(None, &begin(upload, 0), USER, now) {
        Ok(monitor_core::Step::Applied { record, .. }) => record,
        other => panic!("{other:?}"),
    };
    let event = progress(upload, 50);
    c.bench_function("apply/progress", |b| {
        b.iter(|| apply(black_box(Some(&record)), black_box(&event), USER, now))
    });

    // 50 uploads × (begin + 9 progress), shuffled per upload order by interleaving.
    let mut batch = Vec::new();
    for u in 0..50u128 {
        let id = Uuid::from_u128(0x1000 + u);
        batch.push(begin(id, u as usize));
    }
    for seq in 2..=10 {
        for u in 0..50u128 {
            batch.push(progress(Uuid::from_u128(0x1000 + u), seq));
        }
    }
    batch.reverse(); // worst case: every upload's events arrive newest first
    c.bench_function("apply_batch/500_events_50_uploads", |b| {
        b.iter_batched(
            || (HashMap::new(), HashSet::new()),
            |(mut rows, mut known)| {
                apply_batch(&mut rows, &mut known, black_box(&batch), USER, now)
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group! {
    name = group;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = benches
}
criterion_main!(group);
