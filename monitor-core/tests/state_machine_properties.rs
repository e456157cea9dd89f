//! Property tests of the state machine: delivery order, duplicates and replays never change
//! the resulting rows, and progress never goes back within an attempt.
//!
//! Across batches, the rules in `monitor_core::event` allow exactly one kind of difference:
//! an event that arrives after a higher `seq` of its upload was applied is `superseded`
//! (the row is unchanged), so a batch overtaken by a later batch of the same upload is
//! lost for good. The SDK never lets that happen (it sends batch k + 1 only once batch k is
//! answered, and resends only what it sent before), and every other reordering ends in the
//! in-order rows.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use monitor_core::state_machine::{Step, apply, apply_batch};
use monitor_core::{
    EventOutcome, EventPayload, EventVerdict, RejectReason, UploadEvent, UploadRecord, UploadStage,
};
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

/// When in-order delivery sends batch k: k minutes after the first.
fn batch_time(k: usize) -> DateTime<Utc> {
    t0() + Duration::minutes(k as i64)
}

/// Delivers requests (events, server time) one after the other from an empty database;
/// the rows and each request's verdicts.
fn deliver_requests(
    requests: &[(Vec<UploadEvent>, DateTime<Utc>)],
) -> (HashMap<Uuid, UploadRecord>, Vec<Vec<EventVerdict>>) {
    let (mut rows, mut known) = (HashMap::new(), HashSet::new());
    let verdicts = requests
        .iter()
        .map(|(events, now)| apply_batch(&mut rows, &mut known, events, USER, *now))
        .collect();
    (rows, verdicts)
}

/// A request of 1 to 3 whole batches picked from `sent` (the same one possibly twice), in
/// any order, its events shuffled half of the time.
fn stale_request(sent: &[Vec<UploadEvent>], rng: &mut Rng) -> Vec<UploadEvent> {
    let mut events = Vec::new();
    for _ in 0..1 + rng.below(3) {
        events.extend(sent[rng.below(sent.len())].iter().cloned());
    }
    if rng.below(2) == 0 {
        rng.shuffle(&mut events);
    }
    events
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

    /// A lost answer: the device sends the batch again, and the lost request itself may still
    /// arrive, late, after later batches. First arrivals keep the device's order (it sends
    /// batch k + 1 only once batch k is answered), but any batch already sent can come again
    /// at any later point, alone or with other old batches, in any order. Every copy is
    /// answered `duplicate` or `superseded` (what the SDK settles as "already there"), and the
    /// rows are the in-order ones, server times included.
    #[test]
    fn batches_resent_and_replayed_out_of_order_after_lost_answers_give_the_in_order_rows(
        plans in prop::collection::vec(upload_plan(), 1..4),
        seed in any::<u64>(),
    ) {
        let mut rng = Rng(seed);
        let batches = in_order_batches(&plans, &mut rng);
        let (expected, _) = deliver(&batches);

        // (events, server time, whether it is the batch's first arrival)
        let mut requests: Vec<(Vec<UploadEvent>, DateTime<Utc>, bool)> = Vec::new();
        for (k, batch) in batches.iter().enumerate() {
            requests.push((batch.clone(), batch_time(k), true));
            if rng.below(2) == 0 {
                // The answer was lost: the same batch again, ten seconds later.
                requests.push((batch.clone(), batch_time(k) + Duration::seconds(10), false));
            }
            // Delayed copies of any batch sent so far, before the next one goes out.
            while rng.below(3) == 0 {
                let stale = stale_request(&batches[..=k], &mut rng);
                requests.push((stale, batch_time(k) + Duration::seconds(30), false));
            }
        }
        // And stragglers long after the last batch.
        for _ in 0..rng.below(3) {
            let stale = stale_request(&batches, &mut rng);
            requests.push((stale, batch_time(batches.len()) + Duration::hours(1), false));
        }

        let sent: Vec<(Vec<UploadEvent>, DateTime<Utc>)> =
            requests.iter().map(|(events, at, _)| (events.clone(), *at)).collect();
        let (got, verdicts) = deliver_requests(&sent);
        for ((_, _, first), verdicts) in requests.iter().zip(&verdicts) {
            for v in verdicts {
                if *first {
                    prop_assert_eq!(v.outcome, EventOutcome::Applied, "seed {}", seed);
                } else {
                    prop_assert!(
                        matches!(v.outcome, EventOutcome::Duplicate | EventOutcome::Superseded),
                        "a copy was answered {:?}; seed {}", v.outcome, seed
                    );
                }
            }
        }
        prop_assert_eq!(&got, &expected, "seed {}", seed);
    }

    /// Whole batches in any order, some more than once, which the SDK never does but the
    /// rules still answer. The event docs' rule 5 decides: an event at or below its upload's
    /// `last_seq` when it arrives is `duplicate` or `superseded` and changes nothing. So an
    /// upload whose own batches first arrived in order ends exactly as in in-order delivery,
    /// and every upload ends as its applied events alone, in `seq` order, would leave it:
    /// an overtaken event leaves no trace (it is lost, not merged in late).
    #[test]
    fn batches_overtaken_by_later_ones_are_superseded_and_in_order_uploads_end_as_in_order(
        plans in prop::collection::vec(upload_plan(), 1..4),
        seed in any::<u64>(),
    ) {
        let mut rng = Rng(seed);
        let batches = in_order_batches(&plans, &mut rng);
        // One server time for every request: only the order differs between the runs (the
        // test above pins the clock columns).
        let now = t0();
        let in_order: Vec<(Vec<UploadEvent>, DateTime<Utc>)> =
            batches.iter().map(|b| (b.clone(), now)).collect();
        let (expected, _) = deliver_requests(&in_order);

        // Every batch once in a random order, plus copies of random batches anywhere.
        let mut order: Vec<usize> = (0..batches.len()).collect();
        rng.shuffle(&mut order);
        for _ in 0..rng.below(batches.len() + 1) {
            let k = rng.below(batches.len());
            order.insert(rng.below(order.len() + 1), k);
        }

        let mut rows: HashMap<Uuid, UploadRecord> = HashMap::new();
        let mut known = HashSet::new();
        let mut applied: Vec<UploadEvent> = Vec::new();
        for &k in &order {
            let last_seq: HashMap<Uuid, i64> =
                rows.iter().map(|(id, row)| (*id, row.last_seq)).collect();
            let verdicts = apply_batch(&mut rows, &mut known, &batches[k], USER, now);
            for (event, v) in batches[k].iter().zip(&verdicts) {
                if last_seq.get(&event.upload_id).is_some_and(|&last| event.seq <= last) {
                    prop_assert!(
                        matches!(v.outcome, EventOutcome::Duplicate | EventOutcome::Superseded),
                        "seq {} at or below last_seq {:?} was answered {:?}; seed {}",
                        event.seq, last_seq.get(&event.upload_id), v.outcome, seed
                    );
                }
                if v.outcome == EventOutcome::Applied {
                    applied.push(event.clone());
                }
            }
        }

        // The batches of each upload, in the order they first arrived.
        let mut first_arrivals: Vec<usize> = Vec::new();
        for &k in &order {
            if !first_arrivals.contains(&k) {
                first_arrivals.push(k);
            }
        }
        for upload in expected.keys() {
            let own: Vec<usize> = first_arrivals
                .iter()
                .copied()
                .filter(|&k| batches[k].iter().any(|e| e.upload_id == *upload))
                .collect();
            if own.windows(2).all(|w| w[0] < w[1]) {
                prop_assert_eq!(rows.get(upload), expected.get(upload), "seed {}", seed);
            }
        }

        applied.sort_by_key(|e| (e.upload_id, e.seq));
        let (mut replayed, mut replayed_known) = (HashMap::new(), HashSet::new());
        let verdicts = apply_batch(&mut replayed, &mut replayed_known, &applied, USER, now);
        prop_assert!(
            verdicts.iter().all(|v| v.outcome == EventOutcome::Applied),
            "seed {}", seed
        );
        prop_assert_eq!(&replayed, &rows, "seed {}", seed);
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

/// The documented difference, spelled out. The device sends three batches: (begin,
/// progress 40), (fail) and (retry, progress 60, complete); the third overtakes the second.
/// The retry finds the upload still uploading (`invalid_transition`), the new attempt's
/// progress and completion apply on top of the old attempt, and the late `fail` is
/// `superseded`: the upload completes without its retry counted, where in-order delivery
/// shows "Tentative 1/3".
#[test]
fn a_fail_overtaken_by_its_retry_is_superseded_and_the_retry_refused() {
    let plan = UploadPlan {
        file_size: Some(1_000),
        attempts: vec![
            AttemptPlan {
                points: vec![40],
                stages: false,
                end: End::Fail,
            },
            AttemptPlan {
                points: vec![60],
                stages: false,
                end: End::Complete,
            },
        ],
        gaps: vec![false],
    };
    let events = device_stream(0, &plan);
    let upload = events[0].upload_id;
    let now = t0();
    let batch = |range: std::ops::Range<usize>| (events[range].to_vec(), now);
    let (expected, _) = deliver_requests(&[batch(0..2), batch(2..3), batch(3..6)]);
    assert_eq!(expected[&upload].retry_count, 1);

    let overtaken = [batch(0..2), batch(3..6), batch(2..3)];
    let (rows, verdicts) = deliver_requests(&overtaken);
    let outcomes: Vec<EventOutcome> = verdicts[1].iter().map(|v| v.outcome).collect();
    assert_eq!(
        outcomes,
        [
            EventOutcome::Rejected(RejectReason::InvalidTransition),
            EventOutcome::Applied,
            EventOutcome::Applied,
        ]
    );
    assert_eq!(verdicts[2][0].outcome, EventOutcome::Superseded);
    let row = &rows[&upload];
    assert_eq!(
        (row.status, row.retry_count, row.progress),
        (monitor_core::UploadStatus::Completed, 0, 100)
    );
    assert_ne!(row, &expected[&upload]);
}
