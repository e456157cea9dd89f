//! Property tests of the state machine: delivery order, duplicates and replays never change
//! the resulting rows, and progress never goes back within an attempt.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use monitor_core::state_machine::{apply, apply_batch, Step};
use monitor_core::{EventOutcome, EventPayload, UploadEvent, UploadRecord, UploadStage};
use proptest::prelude::*;
use uuid::Uuid;

/// The one user whose phone sends every generated stream.
const USER: Uuid = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0001);

/// Server time of the first batch; batch k arrives k minutes later.
fn t0() -> DateTime<Utc> {
    "2026-11-24T09:00:00Z".parse().unwrap()
}

/// How one attempt of an upload ends.
#[derive(Debug, Clone, Copy)]
enum End {
    Complete,
    Fail,
    /// The phone is still uploading (only meaningful as the last attempt).
    Unfinished,
}

#[derive(Debug, Clone)]
struct AttemptPlan {
    /// Percent values the device reports; sorted before use (a device only reports growth).
    points: Vec<u8>,
    /// Whether the device reports the pipeline stages too.
    stages: bool,
    end: End,
}

#[derive(Debug, Clone)]
struct UploadPlan {
    file_size: Option<i64>,
    attempts: Vec<AttemptPlan>,
    /// Per event, whether the device skipped a seq before it (an evicted progress).
    gaps: Vec<bool>,
}

fn attempt_plan() -> impl Strategy<Value = AttemptPlan> {
    (
        prop::collection::vec(0u8..=100, 0..8),
        any::<bool>(),
        prop_oneof![Just(End::Complete), Just(End::Fail), Just(End::Unfinished)],
    )
        .prop_map(|(points, stages, end)| AttemptPlan {
            points,
            stages,
            end,
        })
}

fn upload_plan() -> impl Strategy<Value = UploadPlan> {
    (
        prop::option::of(1i64..10_000_000),
        // At most 4 attempts: the first and 3 retries.
        prop::collection::vec(attempt_plan(), 1..=4),
        prop::collection::vec(any::<bool>(), 40),
    )
        .prop_map(|(file_size, attempts, gaps)| UploadPlan {
            file_size,
            attempts,
            gaps,
        })
}

/// The events a well-behaved device sends for one upload, in seq order.
fn device_stream(index: usize, plan: &UploadPlan) -> Vec<UploadEvent> {
    let upload_id = Uuid::from_u128(0x0192_a7b0_0000_7000_8000_0000_0000_0000 + index as u128);
    let mut payloads = vec![EventPayload::Begin {
        local_id: format!("import_1732438800000_{index}"),
        video_title: Some(format!("Video {index}")),
        filename: format!("backup_{index}.mov"),
        file_size: plan.file_size,
        source: None,
        metadata: Some(serde_json::json!({"isImported": true, "duration": 30})),
        device: None,
        user_id: Some(USER),
    }];
    let size = plan.file_size.unwrap_or(100_000);
    for (attempt, a) in plan.attempts.iter().enumerate() {
        if attempt > 0 {
            payloads.push(EventPayload::Retry);
        }
        if a.stages {
            payloads.push(EventPayload::Stage {
                stage: UploadStage::ExtractingMetadata,
            });
        }
        let mut points = a.points.clone();
        points.sort_unstable();
        for p in points {
            payloads.push(EventPayload::Progress {
                bytes_sent: size * i64::from(p) / 100,
                progress: i32::from(p),
                upload_speed: Some(f64::from(p) / 10.0),
            });
        }
        if a.stages {
            payloads.push(EventPayload::Stage {
                stage: UploadStage::CreatingRecord,
            });
        }
        match a.end {
            End::Complete => {
                payloads.push(EventPayload::Complete {
                    video_id: Some(Uuid::from_u128(9_000 + index as u128)),
                });
                break;
            }
            End::Fail => payloads.push(EventPayload::Fail {
                error_code: "network".into(),
                error_message: format!("attempt {attempt} failed"),
                retry_count: Some(attempt as i32),
            }),
            End::Unfinished => break,
        }
    }
    let mut seq = 0;
    payloads
        .into_iter()
        .enumerate()
        .map(|(n, payload)| {
            seq += 1 + i64::from(plan.gaps[n % plan.gaps.len()]);
            UploadEvent {
                id: Uuid::from_u128(((index as u128) << 64) | n as u128),
                upload_id,
                seq,
                at: t0() + Duration::seconds(seq),
                payload,
            }
        })
        .collect()
}

/// splitmix64: a small seeded generator for delivery order, so a failure prints its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// The uploads' streams merged in a random order that keeps each upload's own order, then
/// cut into batches of 1 to 8 events.
fn in_order_batches(plans: &[UploadPlan], rng: &mut Rng) -> Vec<Vec<UploadEvent>> {
    let mut streams: Vec<std::collections::VecDeque<UploadEvent>> = plans
        .iter()
        .enumerate()
        .map(|(i, p)| device_stream(i, p).into())
        .collect();
    let mut merged = Vec::new();
    loop {
        let open: Vec<usize> = (0..streams.len())
            .filter(|&i| !streams[i].is_empty())
            .collect();
        if open.is_empty() {
            break;
        }
        let pick = open[rng.below(open.len())];
        merged.extend(streams[pick].pop_front());
    }
    let mut batches = Vec::new();
    while !merged.is_empty() {
        let take = (1 + rng.below(8)).min(merged.len());
        batches.push(merged.drain(..take).collect());
    }
    batches
}

fn deliver(batches: &[Vec<UploadEvent>]) -> (HashMap<Uuid, UploadRecord>, Vec<Vec<EventOutcome>>) {
    let (mut rows, mut known) = (HashMap::new(), HashSet::new());
    let mut outcomes = Vec::new();
    for (k, batch) in batches.iter().enumerate() {
        let now = t0() + Duration::minutes(k as i64);
        let verdicts = apply_batch(&mut rows, &mut known, batch, USER, now);
        outcomes.push(verdicts.into_iter().map(|v| v.outcome).collect());
    }
    (rows, outcomes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Shuffled, duplicated and replayed delivery ends in the rows in-order delivery gives.
    #[test]
    fn any_delivery_order_with_duplicates_and_replays_gives_the_in_order_rows(
        plans in prop::collection::vec(upload_plan(), 1..4),
        seed in any::<u64>(),
    ) {
        let mut rng = Rng(seed);
        let batches = in_order_batches(&plans, &mut rng);
        let (expected, outcomes) = deliver(&batches);
        // The generated streams are valid: nothing is refused in order.
        for o in outcomes.iter().flatten() {
            prop_assert_eq!(*o, EventOutcome::Applied, "seed {}", seed);
        }

        let messy: Vec<Vec<UploadEvent>> = batches
            .iter()
            .enumerate()
            .map(|(k, batch)| {
                let mut delivered = batch.clone();
                // Duplicate some events of this batch.
                for _ in 0..rng.below(3) {
                    delivered.push(batch[rng.below(batch.len())].clone());
                }
                // Replay an earlier batch in the same request.
                if k > 0 && rng.below(2) == 0 {
                    delivered.extend(batches[rng.below(k)].iter().cloned());
                }
                rng.shuffle(&mut delivered);
                delivered
            })
            .collect();
        let (mut got, _) = deliver(&messy);
        prop_assert_eq!(&got, &expected, "seed {}", seed);

        // Replaying everything afterwards, in any order, changes nothing either.
        let mut known: HashSet<Uuid> = HashSet::new();
        let mut all: Vec<UploadEvent> = batches.concat();
        rng.shuffle(&mut all);
        let later = t0() + Duration::days(1);
        // `known` is empty here on purpose: even without the event log, seq alone
        // keeps a replay harmless.
        apply_batch(&mut got, &mut known, &all, USER, later);
        prop_assert_eq!(&got, &expected, "seed {}", seed);
    }

    /// Whatever arrives, in whatever order, progress and bytes only move back on a retry.
    #[test]
    fn progress_never_decreases_within_an_attempt(
        reports in prop::collection::vec((0i64..40, 0u8..6, -5i32..110, -10i64..2_000), 1..60),
    ) {
        let upload_id = Uuid::from_u128(0xaa);
        let now = t0();
        let mut row = match apply(None, &UploadEvent {
            id: Uuid::from_u128(1), upload_id, seq: 1, at: now,
            payload: EventPayload::Begin {
                local_id: "l".into(), video_title: None, filename: "a.mov".into(),
                file_size: Some(1_000), source: None, metadata: None, device: None, user_id: None,
            },
        }, USER, now) {
            Ok(Step::Applied { record, .. }) => record,
            other => return Err(TestCaseError::fail(format!("begin: {other:?}"))),
        };
        for (n, (seq, kind, progress, bytes)) in reports.into_iter().enumerate() {
            let payload = match kind {
                0 | 1 => EventPayload::Progress { bytes_sent: bytes, progress, upload_speed: None },
                2 => EventPayload::Stage { stage: UploadStage::ALL[progress.rem_euclid(6) as usize] },
                3 => EventPayload::Fail { error_code: "x".into(), error_message: "y".into(), retry_count: None },
                4 => EventPayload::Retry,
                _ => EventPayload::Complete { video_id: None },
            };
            let is_retry = matches!(payload, EventPayload::Retry);
            let event = UploadEvent { id: Uuid::from_u128(100 + n as u128), upload_id, seq, at: now, payload };
            if let Ok(Step::Applied { record, .. }) = apply(Some(&row), &event, USER, now) {
                if !is_retry {
                    prop_assert!(record.progress >= row.progress);
                    prop_assert!(record.bytes_sent >= row.bytes_sent);
                    prop_assert!(record.stage >= row.stage);
                }
                prop_assert!((0..=100).contains(&record.progress));
                prop_assert!(record.retry_count <= 3);
                prop_assert!(record.last_seq > row.last_seq);
                row = record;
            }
        }
    }
}
