//! The reporter's two local costs: `report_progress` on the hot path (validated, rate
//! limited, coalesced in memory; target <= 1 µs median) and a durable terminal enqueue
//! (`complete`: validated and committed to SQLite before returning; target <= 200 µs).
//!
//! `cargo bench -p monitor-sdk --bench reporter`

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use monitor_sdk::engine::{Engine, EngineConfig, NewUpload};
use monitor_sdk::policy::{self, FlushPolicy};
use monitor_sdk::TokenProvider;

struct NoToken;

impl TokenProvider for NoToken {
    fn access_token(&self) -> Option<String> {
        None
    }
    fn refresh_access_token(&self) -> Option<String> {
        None
    }
}

/// An offline engine (nothing is sent: only local work is measured) with the largest caps
/// the policy allows (a million events, a gigabyte), which the ~500,000 events of a run never
/// reach.
fn engine(dir: &tempfile::TempDir) -> Engine {
    let engine = Engine::open(
        EngineConfig {
            // Never contacted: the engine is offline.
            supabase_url: "http://127.0.0.1:9".into(),
            anon_key: "anon".into(),
            database_path: dir.path().join("bench.sqlite"),
            policy: FlushPolicy {
                max_pending_events: policy::MAX_PENDING_EVENTS,
                max_pending_bytes: policy::MAX_PENDING_BYTES,
                ..FlushPolicy::default()
            },
        },
        Arc::new(NoToken),
        None,
    )
    .expect("engine");
    engine.set_online(false);
    engine
}

fn upload(n: u64) -> NewUpload {
    NewUpload {
        local_id: format!("import_bench_{n}"),
        title: Some("Vacances".into()),
        filename: format!("IMG_{n}.MOV"),
        // 1 GB: progress steps of 64 KB never reach the end.
        file_size: Some(1 << 30),
        metadata_json: Some(r#"{"isImported":true,"duration":42}"#.into()),
        ..NewUpload::default()
    }
}

fn report_progress(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("dir");
    let engine = engine(&dir);
    let id = engine.begin_upload(upload(0)).expect("begin");
    let total = 1u64 << 30;
    let mut sent = 0u64;
    c.bench_function("report_progress (hot path)", |b| {
        b.iter(|| {
            // 64 KB per callback, as an upload task reports; wraps before the end (the
            // state machine keeps the larger value, so going back is accepted and ignored).
            sent = (sent + 65_536) % (total / 2);
            engine.report_progress(id, sent, total).expect("progress");
        })
    });
}

fn durable_terminal_enqueue(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("dir");
    let engine = engine(&dir);
    let mut n = 1u64;
    let mut group = c.benchmark_group("durable terminal enqueue");
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("complete (validated, committed to SQLite WAL)", |b| {
        b.iter_batched(
            || {
                n += 1;
                engine.begin_upload(upload(n)).expect("begin")
            },
            |id| engine.complete(id, None).expect("complete"),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, report_progress, durable_terminal_enqueue);
criterion_main!(benches);
