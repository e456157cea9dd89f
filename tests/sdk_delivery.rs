//! The SDK against the dev stack over real HTTP: offline then online, injected faults,
//! token expiry, bad inputs, a flood, restart recovery and admin retry requests. Every check
//! reads what PostgreSQL ended up with.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::sdk::{
    engine, engine_with_clock, server_event_count, server_terminal_counts, server_uploads,
    test_policy, Fault, FaultProxy, TestTokens,
};
use common::{rpc, stack, unique_email};
use monitor_sdk::clock::SdkClock;
use monitor_sdk::engine::{Engine, NewUpload, INTERRUPTED_ERROR_CODE};
use monitor_sdk::monitor_core::{RejectReason, UploadStage};
use monitor_sdk::policy::FlushPolicy;
use monitor_sdk::SdkError;
use serde_json::json;
use upload_monitor::devstack::NewUser;
use uuid::Uuid;

/// Long enough for any flush in these tests; they take well under a second when healthy.
const FLUSH: Duration = Duration::from_secs(30);

/// A 10 MB video.
const SIZE: u64 = 10 * 1024 * 1024;

fn new_upload(local_id: &str) -> NewUpload {
    NewUpload {
        local_id: local_id.to_string(),
        title: Some("Vacances".into()),
        filename: format!("{local_id}.mov"),
        file_size: Some(SIZE),
        source: None,
        metadata_json: Some(r#"{"isRecorded":true,"duration":42}"#.into()),
        uri: None,
    }
}

async fn user(prefix: &str) -> upload_monitor::devstack::TestUser {
    stack()
        .create_user(&NewUser::new(unique_email(prefix)))
        .await
        .expect("a user")
}

#[tokio::test(flavor = "multi_thread")]
async fn events_reported_offline_are_delivered_once_when_back_online() {
    let stack = stack();
    let user = user("sdk-offline").await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let reporter = engine(
        stack.api_url(),
        stack.anon_key(),
        &dir.path().join("outbox.sqlite"),
        TestTokens::new(&user.access_token),
    );
    reporter.set_online(false);
    let mut ids = Vec::new();
    for n in 0..3 {
        let id = reporter
            .begin_upload(new_upload(&format!("recorded_{n}")))
            .expect("begin");
        reporter
            .report_progress(id, SIZE / 2, SIZE)
            .expect("progress");
        reporter
            .report_stage(id, UploadStage::CreatingRecord)
            .expect("stage");
        reporter.complete(id, None).expect("complete");
        ids.push(id);
    }
    assert!(matches!(
        reporter.flush(FLUSH).await,
        Err(SdkError::Offline)
    ));
    let health = reporter.health().expect("health");
    assert!(health.outbox.pending_events >= 9, "{health:?}");
    assert!(
        server_uploads(user.id).await.is_empty(),
        "nothing sent while offline"
    );

    reporter.set_online(true);
    reporter.flush(FLUSH).await.expect("delivered");
    let rows = server_uploads(user.id).await;
    assert_eq!(rows.len(), 3);
    assert!(rows
        .iter()
        .all(|r| r.status == "completed" && r.progress == 100));
    for id in &ids {
        assert_eq!(server_event_count(*id, "begin").await, 1);
        assert_eq!(server_event_count(*id, "complete").await, 1);
    }
    let health = reporter.health().expect("health");
    assert_eq!(health.outbox.pending_events, 0);
    assert_eq!(health.outbox.dead_lettered, 0);
    assert!(health.outbox.last_success_at_ms.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_throttling_timeouts_and_lost_answers_still_deliver_exactly_once() {
    let stack = stack();
    let user = user("sdk-faults").await;
    let proxy = FaultProxy::start(
        stack.api_url(),
        vec![
            Fault::Status(500),
            Fault::Status(503),
            Fault::Throttle,
            Fault::Hang,
            Fault::ApplyThenFail,
            Fault::Status(502),
            Fault::ApplyThenFail,
        ],
    )
    .await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let reporter = engine(
        &proxy.url,
        stack.anon_key(),
        &dir.path().join("outbox.sqlite"),
        TestTokens::new(&user.access_token),
    );
    let mut ids = Vec::new();
    for n in 0..4 {
        let id = reporter
            .begin_upload(new_upload(&format!("import_fault_{n}")))
            .expect("begin");
        reporter
            .report_progress(id, SIZE / 4, SIZE)
            .expect("progress");
        if n % 2 == 0 {
            reporter.complete(id, None).expect("complete");
        } else {
            reporter
                .fail(id, "network", "connection reset", 1)
                .expect("fail");
        }
        ids.push(id);
    }
    reporter
        .flush(FLUSH)
        .await
        .expect("delivered through the faults");
    assert_eq!(proxy.remaining(), 0, "every fault was met");
    let rows = server_uploads(user.id).await;
    assert_eq!(rows.len(), 4);
    for (n, id) in ids.iter().enumerate() {
        let kind = if n % 2 == 0 { "complete" } else { "fail" };
        assert_eq!(server_event_count(*id, "begin").await, 1, "upload {n}");
        assert_eq!(server_event_count(*id, kind).await, 1, "upload {n}");
    }
    let health = reporter.health().expect("health");
    assert_eq!(
        (health.outbox.pending_events, health.outbox.dead_lettered),
        (0, 0)
    );
}

/// An app logger that panics on every line it is given, as a foreign logger that throws does.
struct AlwaysPanickingLogger(std::sync::atomic::AtomicUsize);

impl monitor_sdk::ReporterLogger for AlwaysPanickingLogger {
    fn log(&self, _level: monitor_sdk::LogLevel, _message: String) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("the app's logger crashed");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_logger_that_always_panics_never_stops_background_delivery() {
    let stack = stack();
    let user = user("sdk-bad-logger").await;
    // Each fault makes the flusher log a warning from its background task.
    let proxy = FaultProxy::start(
        stack.api_url(),
        vec![Fault::Status(500), Fault::Status(503), Fault::Status(500)],
    )
    .await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let logger = std::sync::Arc::new(AlwaysPanickingLogger(Default::default()));
    let reporter = monitor_sdk::engine::Engine::open(
        monitor_sdk::engine::EngineConfig {
            supabase_url: proxy.url.clone(),
            anon_key: stack.anon_key().to_string(),
            database_path: dir.path().join("outbox.sqlite"),
            policy: test_policy(),
        },
        TestTokens::new(&user.access_token),
        Some(logger.clone()),
    )
    .expect("the engine opens");
    let id = reporter
        .begin_upload(new_upload("import_bad_logger"))
        .expect("begin, though the logger panicked");
    reporter.complete(id, None).expect("complete");
    reporter
        .flush(FLUSH)
        .await
        .expect("delivered after three faults, each logged by a panicking logger");
    assert_eq!(proxy.remaining(), 0, "every fault was met");
    assert!(
        logger.0.load(Ordering::SeqCst) >= 4,
        "the logger was called"
    );
    assert_eq!(server_event_count(id, "complete").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_token_is_refreshed_once_and_delivery_continues() {
    let stack = stack();
    let user = user("sdk-token").await;
    let expired = stack.mint_token(&user.claims().expired());
    let tokens = TestTokens::expiring(&expired, &user.access_token);
    let dir = tempfile::tempdir().expect("a temp dir");
    let reporter = engine(
        stack.api_url(),
        stack.anon_key(),
        &dir.path().join("outbox.sqlite"),
        tokens.clone(),
    );
    let id = reporter
        .begin_upload(new_upload("recorded_token"))
        .expect("begin");
    reporter.complete(id, None).expect("complete");
    reporter
        .flush(FLUSH)
        .await
        .expect("delivered after a refresh");
    assert_eq!(tokens.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(server_event_count(id, "complete").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_that_stays_invalid_backs_off_and_keeps_the_events() {
    let stack = stack();
    let user = user("sdk-token-bad").await;
    let expired = stack.mint_token(&user.claims().expired());
    let tokens = TestTokens::expiring(&expired, &expired);
    let dir = tempfile::tempdir().expect("a temp dir");
    let reporter = engine(
        stack.api_url(),
        stack.anon_key(),
        &dir.path().join("outbox.sqlite"),
        tokens.clone(),
    );
    let id = reporter
        .begin_upload(new_upload("recorded_bad_token"))
        .expect("begin");
    let waited = reporter.flush(Duration::from_millis(800)).await;
    assert!(matches!(waited, Err(SdkError::Timeout(_))), "{waited:?}");
    let health = reporter.health().expect("health");
    assert_eq!(health.outbox.pending_events, 1, "kept for later");
    assert!(health.outbox.last_error.is_some_and(|e| e.contains("401")));
    assert!(tokens.refreshes.load(Ordering::SeqCst) >= 1);
    // The user signs in again: the next refresh works and the event goes out.
    *tokens.fresh.lock().expect("lock") = Some(user.access_token.clone());
    reporter.flush(FLUSH).await.expect("delivered");
    assert_eq!(server_event_count(id, "begin").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_inputs_get_typed_errors_and_lose_nothing_already_accepted() {
    let stack = stack();
    let user = user("sdk-bad").await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let reporter = engine(
        stack.api_url(),
        stack.anon_key(),
        &dir.path().join("outbox.sqlite"),
        TestTokens::new(&user.access_token),
    );
    let id = reporter
        .begin_upload(new_upload("import_bad_0"))
        .expect("begin");
    let rejected = |r: Result<(), SdkError>, reason: RejectReason| {
        assert!(
            matches!(&r, Err(SdkError::Rejected(got)) if *got == reason),
            "expected {reason:?}, got {r:?}"
        );
    };
    rejected(
        reporter.report_progress(id, SIZE + 1, SIZE + 1),
        RejectReason::OutOfRange,
    );
    rejected(reporter.report_progress(id, 2, 1), RejectReason::OutOfRange);
    assert!(matches!(
        reporter.report_progress(id, 0, 0),
        Err(SdkError::InvalidArgument(_))
    ));
    assert!(matches!(
        reporter.report_progress(uuid::Uuid::now_v7(), 1, 2),
        Err(SdkError::UnknownUpload(_))
    ));
    reporter
        .report_stage(id, UploadStage::CreatingRecord)
        .expect("stage");
    rejected(
        reporter.report_stage(id, UploadStage::Validating),
        RejectReason::StageOrder,
    );
    rejected(
        reporter.fail(id, "network", "x", 4),
        RejectReason::RetryLimit,
    );
    rejected(reporter.retry(id), RejectReason::InvalidTransition);
    let mut empty = new_upload("");
    empty.local_id.clear();
    // Refused at the call, naming the field (monitor-core's limits::check_local_id).
    assert!(matches!(
        reporter.begin_upload(empty),
        Err(SdkError::InvalidArgument(why)) if why.contains("local_id")
    ));
    let mut bad_meta = new_upload("import_bad_1");
    bad_meta.metadata_json = Some("{not json".into());
    assert!(matches!(
        reporter.begin_upload(bad_meta),
        Err(SdkError::InvalidArgument(_))
    ));
    reporter.complete(id, None).expect("complete");
    rejected(reporter.complete(id, None), RejectReason::TerminalState);
    rejected(
        reporter.report_progress(id, 1, 2),
        RejectReason::TerminalState,
    );
    // A completed upload's local id cannot start another upload.
    assert!(matches!(
        reporter.begin_upload(new_upload("import_bad_0")),
        Err(SdkError::Rejected(RejectReason::LocalIdConflict))
    ));

    reporter.flush(FLUSH).await.expect("delivered");
    let rows = server_uploads(user.id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, "completed");
    assert_eq!(reporter.health().expect("health").outbox.dead_lettered, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_keeps_the_outbox_within_its_caps_and_keeps_every_terminal_event() {
    let stack = stack();
    let user = user("sdk-flood").await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let cap = 120;
    let clock = monitor_sdk::clock::SdkClock::manual();
    let reporter = monitor_sdk::Engine::open_with_clock(
        monitor_sdk::EngineConfig {
            supabase_url: stack.api_url().to_string(),
            anon_key: stack.anon_key().to_string(),
            database_path: dir.path().join("outbox.sqlite"),
            policy: monitor_sdk::policy::FlushPolicy {
                max_pending_events: cap,
                ..test_policy()
            },
        },
        TestTokens::new(&user.access_token),
        None,
        clock.clone(),
    )
    .expect("engine");
    reporter.set_online(false);
    let ids: Vec<_> = (0..20)
        .map(|n| {
            reporter
                .begin_upload(new_upload(&format!("import_flood_{n}")))
                .expect("begin")
        })
        .collect();
    // 20 uploads x 60 progress reports, each a second apart: 1,200 writes into 120 places.
    for step in 1..=60u64 {
        clock.advance(Duration::from_secs(1));
        for id in &ids {
            reporter
                .report_progress(*id, SIZE * step / 100, SIZE)
                .expect("progress is accepted even when it cannot be stored");
        }
        let pending = reporter.health().expect("health").outbox.pending_events;
        assert!(pending <= cap, "{pending} events pending, cap {cap}");
    }
    for id in &ids {
        reporter
            .complete(*id, None)
            .expect("a terminal event finds room");
    }
    let health = reporter.health().expect("health");
    assert!(health.outbox.pending_events <= cap);
    assert!(health.outbox.dropped > 1_000, "{health:?}");
    assert_eq!(health.outbox.refused, 0);

    reporter.set_online(true);
    reporter.flush(FLUSH).await.expect("delivered");
    let rows = server_uploads(user.id).await;
    assert_eq!(rows.len(), 20);
    assert!(rows.iter().all(|r| r.status == "completed"), "{rows:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_left_running_by_a_killed_process_are_reported_interrupted() {
    let stack = stack();
    let user = user("sdk-recover").await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let db = dir.path().join("outbox.sqlite");
    let tokens = TestTokens::new(&user.access_token);
    let (running, done) = {
        let first = engine(stack.api_url(), stack.anon_key(), &db, tokens.clone());
        first.set_online(false);
        let running = first
            .begin_upload(new_upload("recorded_run"))
            .expect("begin");
        first
            .report_progress(running, SIZE / 3, SIZE)
            .expect("progress");
        let done = first
            .begin_upload(new_upload("recorded_done"))
            .expect("begin");
        first.complete(done, None).expect("complete");
        (running, done)
        // Dropped without finishing `running`, as a killed app would leave it.
    };
    let second = engine(stack.api_url(), stack.anon_key(), &db, tokens);
    assert_eq!(
        second.recover_after_restart().expect("recover"),
        vec![running]
    );
    second.flush(FLUSH).await.expect("delivered");
    let rows = server_uploads(user.id).await;
    let by_id = |id| rows.iter().find(|r| r.id == id).expect("on the server");
    assert_eq!(by_id(running).status, "failed");
    assert_eq!(
        by_id(running).error_code.as_deref(),
        Some(INTERRUPTED_ERROR_CODE)
    );
    assert_eq!(by_id(done).status, "completed");
    // The app can retry it.
    second.retry(running).expect("retry");
    second.flush(FLUSH).await.expect("delivered");
    assert_eq!(server_uploads(user.id).await.len(), 2);
    assert_eq!(
        server_terminal_counts(user.id).await.len(),
        3,
        "fail, complete, retry"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_retry_request_reaches_the_device() {
    let stack = stack();
    let user = user("sdk-retryreq").await;
    let admin = stack
        .create_user(&NewUser::new(unique_email("sdk-admin")).admin())
        .await
        .expect("an admin");
    let dir = tempfile::tempdir().expect("a temp dir");
    let reporter = engine(
        stack.api_url(),
        stack.anon_key(),
        &dir.path().join("outbox.sqlite"),
        TestTokens::new(&user.access_token),
    );
    let id = reporter
        .begin_upload(new_upload("import_retryreq"))
        .expect("begin");
    reporter.fail(id, "network", "lost", 0).expect("fail");
    reporter.flush(FLUSH).await.expect("delivered");
    assert!(reporter
        .pending_retry_requests()
        .await
        .expect("asked")
        .is_empty());
    let asked = rpc(
        stack.api_url(),
        "request_upload_retry",
        stack.anon_key(),
        Some(&admin.access_token),
        &json!({ "upload_id": id }),
    )
    .await;
    assert_eq!(asked.status, 200, "{:?}", asked.body);
    let requests = reporter.pending_retry_requests().await.expect("asked");
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].upload_id, id);
    assert_eq!(requests[0].local_id.as_deref(), Some("import_retryreq"));
    // Answering with a retry clears the request.
    reporter.retry(id).expect("retry");
    reporter.flush(FLUSH).await.expect("delivered");
    assert!(reporter
        .pending_retry_requests()
        .await
        .expect("asked")
        .is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn events_the_server_refuses_go_to_the_dead_letter_table_not_round_and_round() {
    let stack = stack();
    let user = user("sdk-dead").await;
    let dir = tempfile::tempdir().expect("a temp dir");
    // Two databases of one user (the app was reinstalled and its SDK file lost while
    // AsyncStorage survived): both begin the app's item "import_dead".
    let first = engine(
        stack.api_url(),
        stack.anon_key(),
        &dir.path().join("first.sqlite"),
        TestTokens::new(&user.access_token),
    );
    let kept = first
        .begin_upload(new_upload("import_dead"))
        .expect("begin");
    first.flush(FLUSH).await.expect("delivered");
    let second = engine(
        stack.api_url(),
        stack.anon_key(),
        &dir.path().join("second.sqlite"),
        TestTokens::new(&user.access_token),
    );
    let refused = second
        .begin_upload(new_upload("import_dead"))
        .expect("valid locally");
    second.complete(refused, None).expect("valid locally");
    second.flush(FLUSH).await.expect("settled");
    let health = second.health().expect("health");
    assert_eq!(
        (health.outbox.pending_events, health.outbox.dead_lettered),
        (0, 2)
    );
    let reasons: Vec<String> = second
        .dead_letters()
        .expect("dead letters")
        .into_iter()
        .map(|(_, reason)| reason)
        .collect();
    assert_eq!(reasons, ["local_id_conflict", "unknown_upload"]);
    let rows = server_uploads(user.id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id, kept);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_batch_is_split_until_the_bad_event_is_alone_and_only_it_is_dead_lettered() {
    let stack = stack();
    let user = user("sdk-split").await;
    // Three 400s from the server itself (PostgREST's error body): the 4-event batch, then
    // its first half, then its first event alone.
    let proxy = FaultProxy::start(
        stack.api_url(),
        vec![Fault::Refuse(400), Fault::Refuse(400), Fault::Refuse(400)],
    )
    .await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let reporter = engine(
        &proxy.url,
        stack.anon_key(),
        &dir.path().join("outbox.sqlite"),
        TestTokens::new(&user.access_token),
    );
    reporter.set_online(false);
    let a = reporter
        .begin_upload(new_upload("import_split_a"))
        .expect("begin");
    let b = reporter
        .begin_upload(new_upload("import_split_b"))
        .expect("begin");
    reporter.complete(b, None).expect("complete");
    reporter.complete(a, None).expect("complete");
    reporter.set_online(true);
    reporter.flush(FLUSH).await.expect("settled");
    assert_eq!(proxy.remaining(), 0);
    let reasons: Vec<String> = reporter
        .dead_letters()
        .expect("dead letters")
        .into_iter()
        .map(|(_, reason)| reason)
        .collect();
    // A's begin was refused as a request (400); without it A's completion is unknown.
    assert_eq!(reasons, ["http_400", "unknown_upload"]);
    let rows = server_uploads(user.id).await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].id, rows[0].status.as_str()), (b, "completed"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_background_flusher_retries_on_its_timer_without_new_writes_or_a_flush() {
    let stack = stack();
    let user = user("sdk-timer").await;
    let proxy = FaultProxy::start(
        stack.api_url(),
        vec![Fault::Status(500), Fault::Status(503)],
    )
    .await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let reporter = engine(
        &proxy.url,
        stack.anon_key(),
        &dir.path().join("outbox.sqlite"),
        TestTokens::new(&user.access_token),
    );
    let id = reporter
        .begin_upload(new_upload("import_timer"))
        .expect("begin");
    reporter.complete(id, None).expect("complete");
    // No flush, no further call: only the flusher's own backoff timer can deliver.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while reporter.health().expect("health").outbox.pending_events > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "not delivered in 15 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(proxy.remaining(), 0);
    assert_eq!(server_event_count(id, "complete").await, 1);
}

/// The long offline test's videos: 300 MB each, so every device second moves the bytes.
const LONG_SIZE: u64 = 300 * 1024 * 1024;

/// What the long offline test's five uploads report in device second `t` (1-based): one
/// progress a second while they run, as `VideoUploader`'s callback would.
fn long_offline_second(reporter: &Engine, ids: &[Uuid; 5], t: u64) {
    let [a, b, c, d, e] = *ids;
    let at = |id: Uuid, seconds: u64, elapsed: u64| {
        reporter
            .report_progress(id, LONG_SIZE * elapsed / seconds, LONG_SIZE)
            .expect("progress");
    };
    // A: five minutes, then the record step and completed.
    match t {
        1..=299 => at(a, 300, t),
        300 => {
            reporter
                .report_stage(a, UploadStage::CreatingRecord)
                .expect("stage");
            reporter.complete(a, None).expect("complete");
        }
        _ => {}
    }
    // B: fails at 200 s, retried at 240 s, completed at 500 s.
    match t {
        1..=199 => at(b, 400, t),
        200 => reporter
            .fail(b, "network", "connection lost", 0)
            .expect("fail"),
        240 => reporter.retry(b).expect("retry"),
        241..=499 => at(b, 260, t - 240),
        500 => reporter.complete(b, None).expect("complete"),
        _ => {}
    }
    // C: slow, fifteen minutes: it completes during the outage.
    match t {
        1..=899 => at(c, 900, t),
        900 => reporter.complete(c, None).expect("complete"),
        _ => {}
    }
    // D: starts at 100 s and fails for good at 350 s (its retries used up).
    match t {
        100..=349 => at(d, 300, t - 99),
        350 => reporter
            .fail(d, "file_missing", "the video was deleted", 3)
            .expect("fail"),
        _ => {}
    }
    // E: starts at 550 s and is still uploading at the end.
    if t >= 550 {
        at(e, 1_000, t - 549);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_minutes_offline_then_a_long_outage_with_growing_backoff_deliver_everything_once() {
    let stack = stack();
    let user = user("sdk-long-offline").await;
    // Back online, the first batch is applied but its answer lost, the next request hangs,
    // the next is throttled, and every request after that gets a 503 until the outage ends.
    let proxy = FaultProxy::start(
        stack.api_url(),
        vec![Fault::ApplyThenFail, Fault::Hang, Fault::Throttle],
    )
    .await;
    proxy.set_fallback(Fault::Status(503));
    let dir = tempfile::tempdir().expect("a temp dir");
    let clock = SdkClock::manual();
    // Backoff ceilings 25 ms, 50 ms, ... up to 1.6 s: a retry loop that did not grow its
    // delay would send hundreds of requests in the outage below, one that does a dozen.
    let policy = FlushPolicy {
        retry_base: Duration::from_millis(25),
        retry_max: Duration::from_millis(1_600),
        ..test_policy()
    };
    let reporter = engine_with_clock(
        &proxy.url,
        stack.anon_key(),
        &dir.path().join("outbox.sqlite"),
        TestTokens::new(&user.access_token),
        policy,
        clock.clone(),
    );
    reporter.set_online(false);
    let ids: [Uuid; 5] = std::array::from_fn(|n| {
        let mut upload = new_upload(&format!("recorded_long_{n}"));
        upload.file_size = Some(LONG_SIZE);
        reporter.begin_upload(upload).expect("begin")
    });
    let stored = |reporter: &Engine| -> u64 {
        let rows = reporter.list_uploads().expect("uploads");
        rows.iter().map(|r| r.record.last_seq as u64).sum()
    };

    // Ten minutes of device time offline: everything piles up, nothing is sent.
    for t in 1..=600 {
        clock.advance(Duration::from_secs(1));
        long_offline_second(&reporter, &ids, t);
    }
    let health = reporter.health().expect("health");
    let offline_events = stored(&reporter);
    assert!(offline_events > 1_500, "{offline_events} events stored");
    assert_eq!(health.outbox.pending_events, offline_events, "{health:?}");
    assert_eq!(
        (health.outbox.dropped, health.outbox.refused),
        (0, 0),
        "under the caps, nothing is dropped: {health:?}"
    );
    assert!(proxy.seen().is_empty(), "nothing sent while offline");

    // Back online into a five-minute outage (real seconds pass too: the flusher's timer
    // keeps retrying while the phone keeps reporting).
    reporter.set_online(true);
    let outage = std::time::Instant::now();
    for t in 601..=900 {
        clock.advance(Duration::from_secs(1));
        long_offline_second(&reporter, &ids, t);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let outage = outage.elapsed();
    let during = proxy.seen();
    let health = reporter.health().expect("health");
    assert_eq!(
        health.outbox.pending_events,
        stored(&reporter),
        "{health:?}"
    );
    assert!(
        health
            .outbox
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("503")),
        "{health:?}"
    );
    assert!(
        during.len() >= 4 && during[3].fault == Fault::Status(503),
        "the timer kept retrying through the outage: {during:?}"
    );
    println!(
        "{offline_events} events stored offline; {} requests in {outage:?} of outage",
        during.len()
    );
    // Full jitter under a 1.6 s ceiling: the mean gap is ~0.8 s once the delay has grown.
    let allowed = 5 + (outage.as_millis() / 250) as usize;
    assert!(
        during.len() <= allowed,
        "{} requests in {outage:?} of outage (at most {allowed}): the backoff did not grow",
        during.len()
    );

    proxy.set_fallback(Fault::Pass);
    reporter
        .flush(FLUSH)
        .await
        .expect("delivered after the outage");
    let health = reporter.health().expect("health");
    let total = stored(&reporter);
    assert_eq!(
        (
            health.outbox.pending_events,
            health.outbox.dead_lettered,
            health.outbox.dropped,
            health.outbox.refused
        ),
        (0, 0, 0, 0),
        "{health:?}"
    );
    assert!(health.outbox.last_error.is_none(), "{health:?}");
    assert_eq!(
        health.outbox.delivered, total,
        "every stored event acknowledged"
    );
    assert_eq!(
        health.outbox.already_there, 500,
        "the batch applied during the outage came back as no-ops, nothing else"
    );

    // The server ends where the phone is, each terminal step logged once.
    let local = reporter.list_uploads().expect("uploads");
    let rows = server_uploads(user.id).await;
    assert_eq!(rows.len(), 5);
    for row in &rows {
        let mine = local
            .iter()
            .find(|l| l.record.id == row.id)
            .expect("a local upload");
        assert_eq!(
            (
                row.status.as_str(),
                row.progress,
                row.retry_count,
                row.last_seq
            ),
            (
                mine.record.status.as_str(),
                mine.record.progress,
                mine.record.retry_count,
                mine.record.last_seq
            ),
            "{}",
            row.local_id
        );
    }
    let statuses: Vec<&str> = ids
        .iter()
        .map(|id| {
            rows.iter()
                .find(|r| r.id == *id)
                .map_or("missing", |r| r.status.as_str())
        })
        .collect();
    assert_eq!(
        statuses,
        ["completed", "completed", "completed", "failed", "uploading"]
    );
    let mut terminal: Vec<(usize, String, i64)> = server_terminal_counts(user.id)
        .await
        .into_iter()
        .map(|(u, kind, n)| (ids.iter().position(|id| *id == u).unwrap_or(9), kind, n))
        .collect();
    terminal.sort();
    let expected: Vec<(usize, String, i64)> = [
        (0, "complete"),
        (1, "complete"),
        (1, "fail"),
        (1, "retry"),
        (2, "complete"),
        (3, "fail"),
    ]
    .into_iter()
    .map(|(n, kind)| (n, kind.to_string(), 1))
    .collect();
    assert_eq!(terminal, expected);
    for id in &ids {
        assert_eq!(server_event_count(*id, "begin").await, 1);
    }
    assert_eq!(server_event_count(ids[0], "stage").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_batch_is_not_resent_before_its_retry_after() {
    let stack = stack();
    let user = user("sdk-retry-after").await;
    let proxy = FaultProxy::start(stack.api_url(), vec![Fault::Throttle, Fault::Throttle]).await;
    let dir = tempfile::tempdir().expect("a temp dir");
    // Backoff ceilings of 50 ms then 100 ms: only `Retry-After: 1` can make a resend wait a
    // second. (The policy obeys a Retry-After up to twice `retry_max`, so test_policy's
    // 400 ms would cut it to 800 ms.)
    let reporter = engine_with_clock(
        &proxy.url,
        stack.anon_key(),
        &dir.path().join("outbox.sqlite"),
        TestTokens::new(&user.access_token),
        FlushPolicy {
            retry_max: Duration::from_secs(2),
            ..test_policy()
        },
        SdkClock::real(),
    );
    reporter.set_online(false);
    let id = reporter
        .begin_upload(new_upload("import_retry_after"))
        .expect("begin");
    reporter.complete(id, None).expect("complete");
    reporter.set_online(true);
    reporter.flush(FLUSH).await.expect("delivered");
    let seen = proxy.seen();
    let faults: Vec<Fault> = seen.iter().map(|s| s.fault).collect();
    assert_eq!(faults, [Fault::Throttle, Fault::Throttle, Fault::Pass]);
    for pair in seen.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_secs(1),
            "resent {gap:?} after a 429 with Retry-After: 1"
        );
    }
    assert_eq!(server_event_count(id, "complete").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_outbox_row_is_quarantined_and_everything_else_is_delivered() {
    let stack = stack();
    let user = user("sdk-corrupt-row").await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let db = dir.path().join("outbox.sqlite");
    let reporter = engine(
        stack.api_url(),
        stack.anon_key(),
        &db,
        TestTokens::new(&user.access_token),
    );
    reporter.set_online(false);
    let healthy = reporter
        .begin_upload(new_upload("import_corrupt_ok"))
        .expect("begin");
    reporter.complete(healthy, None).expect("complete");
    let hurt = reporter
        .begin_upload(new_upload("import_corrupt_hurt"))
        .expect("begin");
    reporter.complete(hurt, None).expect("complete");
    // A flipped page, a bad migration of the app's own: the first row's id is no UUID.
    let raw = rusqlite::Connection::open(&db).expect("a second connection");
    let hurt_begin = hurt.to_string();
    let changed = raw
        .execute(
            "update outbox set event_id = 'not-a-uuid' \
             where upload_id = ?1 and kind = 'begin'",
            [&hurt_begin],
        )
        .expect("corrupted");
    assert_eq!(changed, 1);
    drop(raw);

    reporter.set_online(true);
    reporter
        .flush(Duration::from_secs(10))
        .await
        .expect("the other events are delivered past the corrupt row");
    assert_eq!(server_event_count(healthy, "complete").await, 1);
    let health = reporter.health().expect("health");
    assert_eq!(health.outbox.pending_events, 0, "{health:?}");
    assert_eq!(health.outbox.quarantined, 1, "{health:?}");
    let reasons: Vec<String> = reporter
        .dead_letters()
        .expect("dead letters")
        .into_iter()
        .map(|(_, reason)| reason)
        .collect();
    assert!(
        reasons[0].starts_with("corrupt"),
        "the row is kept with its reason: {reasons:?}"
    );
    // Without its begin, the server does not know the upload: its completion is refused.
    assert_eq!(reasons[1], "unknown_upload", "{reasons:?}");
}

/// Polls `done` every 50 ms until it holds or `within` passes; says whether it held.
async fn eventually(within: Duration, mut done: impl AsyncFnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done().await
}

#[tokio::test(flavor = "multi_thread")]
async fn configuration_errors_keep_every_event_and_flush_says_why() {
    let stack = stack();
    let user = user("sdk-config").await;
    // An app released before the migration: `report_upload_events` is missing (404).
    let proxy = FaultProxy::start(stack.api_url(), Vec::new()).await;
    proxy.set_fallback(Fault::Refuse(404));
    let dir = tempfile::tempdir().expect("a temp dir");
    let reporter = engine(
        &proxy.url,
        stack.anon_key(),
        &dir.path().join("outbox.sqlite"),
        TestTokens::new(&user.access_token),
    );
    let ids: Vec<Uuid> = (0..3)
        .map(|n| {
            let id = reporter
                .begin_upload(new_upload(&format!("import_config_{n}")))
                .expect("begin");
            reporter.complete(id, None).expect("complete");
            id
        })
        .collect();
    let waited = reporter.flush(Duration::from_secs(10)).await;
    assert!(
        matches!(&waited, Err(SdkError::ServerConfiguration(why)) if why.contains("404")),
        "{waited:?}"
    );
    let health = reporter.health().expect("health");
    assert_eq!(
        (health.outbox.pending_events, health.outbox.dead_lettered),
        (6, 0),
        "{health:?}"
    );
    assert!(
        health
            .configuration_problem
            .as_deref()
            .is_some_and(|p| p.contains("404")),
        "{health:?}"
    );

    // An oversized token or anon key: 431 from the server, or a bare 400 from a proxy in
    // front of it ("Request Header Or Cookie Too Large"). Neither says anything about the
    // events: they stay.
    for fault in [Fault::Status(431), Fault::Status(400)] {
        proxy.set_fallback(fault);
        let Fault::Status(code) = fault else {
            unreachable!()
        };
        let seen = eventually(Duration::from_secs(10), async || {
            reporter
                .health()
                .expect("health")
                .configuration_problem
                .is_some_and(|p| p.contains(&code.to_string()))
        })
        .await;
        assert!(seen, "HTTP {code} is reported as a configuration problem");
        let health = reporter.health().expect("health");
        assert_eq!(
            (health.outbox.pending_events, health.outbox.dead_lettered),
            (6, 0),
            "{health:?}"
        );
    }

    // The migration is applied (the key fixed): the flusher's own timer delivers everything.
    proxy.set_fallback(Fault::Pass);
    let delivered = eventually(FLUSH, async || {
        reporter.health().expect("health").outbox.pending_events == 0
    })
    .await;
    assert!(delivered, "{:?}", reporter.health());
    reporter.flush(FLUSH).await.expect("nothing held back");
    let health = reporter.health().expect("health");
    assert_eq!(health.configuration_problem, None, "{health:?}");
    assert_eq!(health.outbox.dead_lettered, 0);
    for id in &ids {
        assert_eq!(server_event_count(*id, "complete").await, 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_the_server_always_fails_on_is_isolated_and_the_others_are_delivered() {
    let stack = stack();
    let user = user("sdk-poison").await;
    let proxy = FaultProxy::start(stack.api_url(), Vec::new()).await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let reporter = engine(
        &proxy.url,
        stack.anon_key(),
        &dir.path().join("outbox.sqlite"),
        TestTokens::new(&user.access_token),
    );
    reporter.set_online(false);
    // The poisoned upload is reported first: every batch starts with its events.
    let poisoned = reporter
        .begin_upload(new_upload("import_poison_x"))
        .expect("begin");
    proxy.set_poison(Some(poisoned.to_string()));
    let healthy: Vec<Uuid> = (0..3)
        .map(|n| {
            reporter
                .begin_upload(new_upload(&format!("import_poison_{n}")))
                .expect("begin")
        })
        .collect();
    reporter.complete(poisoned, None).expect("complete");
    for id in &healthy {
        reporter.complete(*id, None).expect("complete");
    }
    reporter.set_online(true);
    let through = eventually(Duration::from_secs(30), async || {
        let rows = server_uploads(user.id).await;
        rows.iter().filter(|r| r.status == "completed").count() == healthy.len()
    })
    .await;
    assert!(
        through,
        "the healthy uploads are delivered past the poisoned one: {:?}",
        server_uploads(user.id).await
    );
    // Flush waits until everything else is settled (an answer lost to a slow server is
    // resent first), then says what is held back.
    let waited = reporter.flush(Duration::from_secs(10)).await;
    assert!(
        matches!(
            waited,
            Err(SdkError::Isolated {
                uploads: 1,
                events: 2
            })
        ),
        "{waited:?}"
    );
    let health = reporter.health().expect("health");
    assert_eq!(
        (
            health.isolated_uploads,
            health.isolated_events,
            health.outbox.pending_events,
            health.outbox.dead_lettered
        ),
        (1, 2, 2, 0),
        "parked, not dead-lettered (a 5xx may be transient): {health:?}"
    );
    // New reports of healthy uploads still flow past it.
    let later = reporter
        .begin_upload(new_upload("import_poison_later"))
        .expect("begin");
    reporter.complete(later, None).expect("complete");
    let later_through = eventually(Duration::from_secs(10), async || {
        server_event_count(later, "complete").await == 1
    })
    .await;
    assert!(later_through);

    // The server is fixed: the parked upload's own backoff brings it through, once.
    proxy.set_poison(None);
    let drained = eventually(Duration::from_secs(20), async || {
        reporter.health().expect("health").outbox.pending_events == 0
    })
    .await;
    assert!(drained, "{:?}", reporter.health());
    reporter.flush(FLUSH).await.expect("nothing held back");
    let health = reporter.health().expect("health");
    assert_eq!((health.isolated_uploads, health.isolated_events), (0, 0));
    assert_eq!(server_event_count(poisoned, "begin").await, 1);
    assert_eq!(server_event_count(poisoned, "complete").await, 1);
    let rows = server_uploads(user.id).await;
    assert!(rows.iter().all(|r| r.status == "completed"), "{rows:?}");
    assert_eq!(rows.len(), 5);
}
