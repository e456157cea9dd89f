//! The fleet example's `--once` run in CI: eight phones on the shared dev stack, with at least
//! one app kill, offline spell, retry, admin retry and failure, must leave the server holding
//! exactly what every phone holds, and Storage every completed upload's bytes.

#[path = "../examples/simulated_upload/auth_api.rs"]
mod auth_api;
#[path = "../examples/simulated_upload/demo_data.rs"]
mod demo_data;
#[path = "../examples/simulated_upload/fleet.rs"]
mod fleet;
#[path = "../examples/simulated_upload/phone.rs"]
mod phone;
#[path = "../examples/simulated_upload/scenario.rs"]
mod scenario;
#[path = "../examples/simulated_upload/storage.rs"]
mod storage;
#[path = "../examples/simulated_upload/summary.rs"]
mod summary;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use upload_monitor::devstack::{DevStack, SupabaseTarget};

/// The seed of the CI scenario (any seed passes; a fixed one makes a failure replayable).
const SEED: u64 = 20_261_124;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_fleet_loses_nothing_through_kills_offline_spells_and_retries() {
    let mut options = scenario::FleetOptions::new(8, SEED);
    options.once = true;
    // 3000 simulated seconds a real second: the slowest planned upload (1 GB at 0.2 MB/s,
    // timed out at 60 minutes) takes ~1.2 s of real time.
    options.speedup = 3000.0;
    options.tick = Duration::from_millis(20);
    let report = fleet::run(
        &SupabaseTarget::from_shared(DevStack::shared()),
        &options,
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .expect("the fleet runs");
    println!("{}", report.text);
    assert!(
        report.problems.is_empty(),
        "seed {SEED}: {:#?}",
        report.problems
    );
    assert_eq!(report.started, 24, "8 phones × 3 videos");
    assert!(report.kills >= 1, "an app kill");
    assert!(report.offline_spells >= 1, "an offline spell");
    assert!(
        report.failures >= 1 && report.retried >= 1,
        "a failure and a retry"
    );
    assert!(report.admin_retries >= 1, "an admin retry picked up");
    // Real bytes: every completed upload's video and thumbnail are in Storage with the size
    // sent, and the kill, the network drop and the timeout cut requests in flight.
    assert_eq!(
        report.objects_checked,
        2 * report.completed,
        "a video and a thumbnail per completed upload"
    );
    assert!(report.completed >= 20, "{}", report.text);
    assert!(report.uploads_cut >= 3, "{}", report.text);
    assert!(report.bytes_sent > 0);
}

/// The `--once` check reads Storage itself: an object missing, or shorter than what the
/// phone sent, is a problem of the run (so a fleet that moved no bytes cannot pass).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_storage_check_fails_when_an_object_is_missing_or_short() {
    let mut options = scenario::FleetOptions::new(2, 5);
    options.once = true;
    options.videos_per_phone = 2;
    options.speedup = 3000.0;
    options.tick = Duration::from_millis(20);
    let stack = DevStack::shared();
    let target = SupabaseTarget::from_shared(stack);
    let (report, outcomes) =
        fleet::run_with_outcomes(&target, &options, Arc::new(AtomicBool::new(false)))
            .await
            .expect("the fleet runs");
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    let stored: Vec<&phone::StoredUpload> = outcomes.iter().flat_map(|o| &o.stored).collect();
    assert!(stored.len() >= 2, "{}", report.text);
    let db = stack.connect().await.expect("db");
    let (checked, problems) = summary::check_storage(&db, &outcomes).await.expect("check");
    assert_eq!((checked, problems.len()), (2 * stored.len() as u64, 0));

    // One video loses its last byte, another disappears.
    db.execute(
        "update storage.objects set metadata = jsonb_set(metadata, '{size}', \
           to_jsonb((metadata->>'size')::int8 - 1)) where bucket_id = 'videos' and name = $1",
        &[&stored[0].object],
    )
    .await
    .expect("shorten");
    db.execute(
        "delete from storage.objects where bucket_id = 'videos' and name = $1",
        &[&stored[1].object],
    )
    .await
    .expect("delete");
    let (_, problems) = summary::check_storage(&db, &outcomes).await.expect("check");
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems
        .iter()
        .any(|p| p.contains(&stored[0].object) && p.contains("sent")));
    assert!(problems
        .iter()
        .any(|p| p.contains(&stored[1].object) && p.contains("not in storage")));
}

/// A phone's upload moves only the bytes its link allowed, reports what the HTTP client sent,
/// and an abort cuts the request: Storage keeps nothing of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_is_paced_by_the_phone_and_an_abort_leaves_nothing() {
    let stack = DevStack::shared();
    let user = stack
        .create_user(&upload_monitor::devstack::NewUser::new(format!(
            "paced-{}@demo.test",
            uuid::Uuid::new_v4().simple()
        )))
        .await
        .expect("user");
    let access = storage::StorageAccess {
        http: reqwest::Client::new(),
        api_url: stack.api_url().to_string(),
        anon_key: stack.anon_key().to_string(),
        token: stack.mint_token(&user.claims()),
    };
    let runtime = tokio::runtime::Handle::current();
    let db = stack.connect().await.expect("db");
    let size_of = |name: String| {
        let db = &db;
        async move {
            db.query_opt(
                "select (metadata->>'size')::int8 from storage.objects where bucket_id = 'videos' and name = $1",
                &[&name],
            )
            .await
            .expect("query")
            .map(|r| r.get::<_, i64>(0))
        }
    };
    let total = 300_000u64;
    let (cut_name, whole_name) = (
        storage::object_name(user.id, "cut.mp4"),
        storage::object_name(user.id, "whole.mp4"),
    );
    let (cut_name2, whole_name2) = (cut_name.clone(), whole_name.clone());
    let (sent_at_cap, finished) = tokio::task::spawn_blocking(move || {
        // Paced: 100 kB allowed, no more is sent however long we wait.
        let mut cut = storage::Transfer::start(&runtime, &access, &cut_name2, "video/mp4", total);
        cut.allow(1e9, 100_000);
        std::thread::sleep(Duration::from_millis(500));
        let sent_at_cap = cut.sent();
        assert!(
            cut.finished().is_none(),
            "a paced upload waits for its link"
        );
        cut.abort();
        // Cut means cut: what the link would carry next goes nowhere.
        cut.allow(1e9, total);
        // The same size let through whole: Storage answers and holds it.
        let mut whole =
            storage::Transfer::start(&runtime, &access, &whole_name2, "video/mp4", total);
        let mut finished = None;
        for _ in 0..200 {
            whole.allow(50_000.0, total);
            std::thread::sleep(Duration::from_millis(10));
            if let Some(answer) = whole.finished() {
                finished = Some((answer, whole.sent()));
                break;
            }
        }
        (sent_at_cap, finished)
    })
    .await
    .expect("the phone's thread");
    assert_eq!(
        sent_at_cap, 100_000,
        "the HTTP client took exactly what the link let through"
    );
    let (answer, sent) = finished.expect("the whole upload finishes");
    assert_eq!(answer, Ok(()));
    assert_eq!(sent, total);
    assert_eq!(size_of(whole_name).await, Some(total as i64));
    // The cut request's end reaches the server: give it a moment, then nothing is there.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        size_of(cut_name).await,
        None,
        "an aborted upload leaves no object"
    );
}
