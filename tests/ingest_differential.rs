//! The SQL ingest (`report_upload_events`) and monitor-core's state machine (`apply_batch`)
//! given the same generated batches give the same verdicts, the same rows and the same log.

mod common;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use common::{stack, unique_email};
use monitor_core::{
    apply_batch, DeviceInfo, EventPayload, EventVerdict, IngestResponse, UploadEvent, UploadRecord,
    UploadSource, UploadStage,
};
use serde_json::{json, Value};
use tokio_postgres::Client;
use upload_monitor::devstack::NewUser;
use uuid::Uuid;

/// Generated cases per run; each is 1–4 batches of 1–25 events over four uploads.
const CASES: usize = 40;

/// Device time of the first event: 2026-11-24 09:00 UTC; later ones a few seconds apart.
fn base_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-24T09:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// One case's world: the caller's three uploads, the other user's one, the ids used so far.
struct Case {
    caller: Uuid,
    other: Uuid,
    uploads: Vec<Uuid>,
    foreign_upload: Uuid,
    local_prefix: String,
    next_seq: HashMap<Uuid, i64>,
    used_ids: Vec<Uuid>,
    clock: i64,
}

impl Case {
    fn event_id(&mut self, rng: &mut fastrand::Rng) -> Uuid {
        // One in ten reuses an id: replays, copies inside a batch, ids of refused events.
        if !self.used_ids.is_empty() && rng.u8(..10) == 0 {
            return self.used_ids[rng.usize(..self.used_ids.len())];
        }
        let id = Uuid::from_u128(rng.u128(..));
        self.used_ids.push(id);
        id
    }

    fn event(&mut self, rng: &mut fastrand::Rng) -> UploadEvent {
        let upload = if rng.u8(..12) == 0 {
            self.foreign_upload
        } else {
            self.uploads[rng.usize(..self.uploads.len())]
        };
        let next = self.next_seq.entry(upload).or_insert(1);
        // Mostly increasing with gaps; sometimes late (lower), sometimes a repeat.
        let seq = match rng.u8(..10) {
            0 => rng.i64(0..=*next),
            1 => *next - 1,
            _ => {
                let seq = *next + rng.i64(0..3);
                *next = seq + 1;
                seq
            }
        };
        self.clock += rng.i64(1..5);
        let at = match rng.u8(..50) {
            // Outside limits.rs's [2000, 2100) device-time range: invalid_payload.
            0 => DateTime::<Utc>::UNIX_EPOCH,
            1 => base_time() + Duration::days(365 * 80),
            _ => base_time() + Duration::seconds(self.clock),
        };
        let payload = match rng.u8(..100) {
            0..=14 => EventPayload::Begin {
                local_id: match rng.u8(..20) {
                    0 => String::new(),
                    // At and past limits.rs's MAX_LOCAL_ID_CHARS (refused past it).
                    1 => format!("{}{}", self.local_prefix, "é".repeat(rng.usize(240..=270))),
                    _ => format!("{}{}", self.local_prefix, rng.u8(..4)),
                },
                video_title: match rng.u8(..10) {
                    0 => Some("🎬".repeat(rng.usize(490..=520))),
                    1..=4 => Some("Vacances d'été 🎬".to_string()),
                    _ => None,
                },
                filename: match rng.u8(..20) {
                    0 => String::new(),
                    1 => "é".repeat(rng.usize(990..=1010)),
                    _ => "IMG_0001.MOV".into(),
                },
                file_size: match rng.u8(..10) {
                    0 => None,
                    1 => Some(-1),
                    _ => Some(1000),
                },
                source: match rng.u8(..3) {
                    0 => None,
                    1 => Some(UploadSource::Recorded),
                    _ => Some(UploadSource::Imported),
                },
                metadata: match rng.u8(..5) {
                    0 => None,
                    1 => Some(json!({"duration": 12.5, "isRecorded": true})),
                    2 => Some(json!([1, "x"])),
                    // One byte under, at and over MAX_METADATA_BYTES as PostgreSQL prints jsonb:
                    // {"k": "…", "n": 0.00000015} is 26 bytes plus the string (1.5e-7 is
                    // printed in plain notation).
                    3 => Some(json!({
                        "k": "x".repeat(16 * 1024 - 26 + rng.usize(0..=2) - 1),
                        "n": 1.5e-7,
                    })),
                    _ => Some(json!({"duration": "long", "orientation": "portrait"})),
                },
                device: rng.bool().then(|| DeviceInfo {
                    platform: Some("ios".into()),
                    os_version: rng.bool().then(|| "18.1".into()),
                    app_version: Some("3.2.0".into()),
                    model: rng.bool().then(|| "Pixel ".repeat(rng.usize(10..=30))),
                }),
                user_id: match rng.u8(..10) {
                    0 => Some(self.other),
                    1 => Some(self.caller),
                    _ => None,
                },
            },
            15..=54 => EventPayload::Progress {
                bytes_sent: rng.i64(-10..=1100),
                progress: if rng.u8(..10) == 0 {
                    rng.i32(-5..=110)
                } else {
                    rng.i32(0..=100)
                },
                upload_speed: match rng.u8(..6) {
                    0 => None,
                    1 => Some(-0.5),
                    // Past MAX_UPLOAD_SPEED_MBPS: out_of_range.
                    2 => Some(if rng.bool() { 100_000.0 } else { 100_000.5 }),
                    _ => Some(f64::from(rng.u16(..800)) / 100.0),
                },
            },
            55..=64 => EventPayload::Stage {
                stage: UploadStage::ALL[rng.usize(..UploadStage::ALL.len())],
            },
            65..=72 => EventPayload::Complete { video_id: None },
            73..=87 => EventPayload::Fail {
                error_code: match rng.u8(..10) {
                    0 => "ε".repeat(rng.usize(95..=105)),
                    1..=5 => "network".into(),
                    _ => "timeout".into(),
                },
                error_message: if rng.u8(..10) == 0 {
                    "é".repeat(4_100)
                } else {
                    "Network request failed".into()
                },
                retry_count: rng.bool().then(|| rng.i32(-1..=5)),
            },
            _ => EventPayload::Retry,
        };
        UploadEvent {
            id: self.event_id(rng),
            upload_id: upload,
            seq,
            at,
            payload,
        }
    }
}

/// Calls the SQL function as `user` (the role and claims the API gateway would set).
async fn report_as(client: &mut Client, user: Uuid, events: &[UploadEvent]) -> Vec<EventVerdict> {
    let claims = json!({"sub": user, "role": "authenticated"}).to_string();
    let body = serde_json::to_value(events).expect("events serialize");
    let tx = client.transaction().await.expect("a transaction");
    tx.execute(
        "select set_config('role', 'authenticated', true), \
                set_config('request.jwt.claims', $1, true)",
        &[&claims],
    )
    .await
    .expect("claims set");
    let answer: Value = tx
        .query_one("select public.report_upload_events($1::jsonb)", &[&body])
        .await
        .unwrap_or_else(|e| panic!("report_upload_events({body}): {e:?}"))
        .get(0);
    tx.commit().await.expect("commit");
    let answer: IngestResponse = serde_json::from_value(answer).expect("the response shape");
    answer.results
}

/// A row with the server's clock readings blurred: SQL's now() and the model's differ.
fn comparable(mut row: UploadRecord) -> UploadRecord {
    row.started_at = DateTime::<Utc>::UNIX_EPOCH;
    row.updated_at = DateTime::<Utc>::UNIX_EPOCH;
    row.completed_at = row.completed_at.map(|_| DateTime::<Utc>::UNIX_EPOCH);
    row
}

#[tokio::test]
async fn sql_ingest_and_the_rust_state_machine_agree_on_generated_batches() {
    let seed: u64 = std::env::var("INGEST_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("seed {seed} (rerun with INGEST_DIFF_SEED={seed})");
    let mut rng = fastrand::Rng::with_seed(seed);

    let stack = stack();
    let caller = stack
        .create_user(&NewUser::new(unique_email("diff-caller")))
        .await
        .expect("the caller");
    let other = stack
        .create_user(&NewUser::new(unique_email("diff-other")))
        .await
        .expect("another user");
    let mut client = stack.connect().await.expect("a superuser connection");

    // The model holds every row (any user) and every logged id, as the database does.
    let mut records: HashMap<Uuid, UploadRecord> = HashMap::new();
    let mut known: HashSet<Uuid> = HashSet::new();
    // invalid_payload verdicts compared, detail included (the generator must reach some).
    let mut details_compared = 0;

    for case_number in 0..CASES {
        let mut case = Case {
            caller: caller.id,
            other: other.id,
            uploads: (0..3).map(|_| Uuid::from_u128(rng.u128(..))).collect(),
            foreign_upload: Uuid::from_u128(rng.u128(..)),
            local_prefix: format!("case{case_number}-{seed}-"),
            next_seq: HashMap::new(),
            used_ids: Vec::new(),
            clock: 0,
        };
        // The other user's upload exists first.
        let theirs = [UploadEvent {
            id: Uuid::from_u128(rng.u128(..)),
            upload_id: case.foreign_upload,
            seq: 1,
            at: base_time(),
            payload: EventPayload::Begin {
                local_id: format!("{}theirs", case.local_prefix),
                video_title: None,
                filename: "theirs.mov".into(),
                file_size: Some(10),
                source: None,
                metadata: None,
                device: None,
                user_id: None,
            },
        }];
        report_as(&mut client, other.id, &theirs).await;
        apply_batch(&mut records, &mut known, &theirs, other.id, Utc::now());

        for batch_number in 0..rng.usize(1..=4) {
            let events: Vec<UploadEvent> = (0..rng.usize(1..=25))
                .map(|_| case.event(&mut rng))
                .collect();
            let from_sql = report_as(&mut client, caller.id, &events).await;
            let from_rust = apply_batch(&mut records, &mut known, &events, caller.id, Utc::now());
            let context = || {
                format!(
                    "seed {seed}, case {case_number}, batch {batch_number}:\n{}",
                    serde_json::to_string_pretty(&events).unwrap_or_default()
                )
            };
            assert_eq!(from_sql, from_rust, "verdicts differ; {}", context());
            details_compared += from_sql.iter().filter(|v| v.detail.is_some()).count();

            for upload in &case.uploads {
                let row = client
                    .query_opt(
                        "select to_jsonb(q) from public.upload_queue q where q.id = $1",
                        &[upload],
                    )
                    .await
                    .expect("a row query")
                    .map(|row| {
                        let json: Value = row.get(0);
                        serde_json::from_value::<UploadRecord>(json).expect("an UploadRecord")
                    });
                assert_eq!(
                    row.map(comparable),
                    records.get(upload).cloned().map(comparable),
                    "upload {upload} differs; {}",
                    context()
                );
            }
            let logged: HashSet<Uuid> = client
                .query(
                    "select id from public.upload_events where upload_id = any($1)",
                    &[&case.uploads],
                )
                .await
                .expect("the log")
                .iter()
                .map(|row| row.get(0))
                .collect();
            let modelled: HashSet<Uuid> = case
                .used_ids
                .iter()
                .filter(|id| known.contains(id))
                .copied()
                .collect();
            assert_eq!(logged, modelled, "the logs differ; {}", context());
        }
    }
    assert!(
        details_compared > 0,
        "seed {seed}: no invalid_payload detail was compared"
    );
}

/// The retry limit has one source per language, and the two agree: `private.max_retries()`
/// (read by the ingest, `request_upload_retry` and the `upload_queue` CHECK) and event.rs's
/// `MAX_RETRIES` (read by the state machine, the SDK and the dashboard's labels).
#[tokio::test]
async fn the_sql_retry_limit_is_event_rs_max_retries() {
    let client = stack().connect().await.expect("a superuser connection");
    let sql: i32 = client
        .query_one("select private.max_retries()", &[])
        .await
        .expect("private.max_retries() exists")
        .get(0);
    assert_eq!(sql, i32::from(monitor_core::event::MAX_RETRIES));
}
