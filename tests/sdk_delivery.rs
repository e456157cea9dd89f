//! The SDK against the dev stack over real HTTP: offline then online, injected faults,
//! token expiry, bad inputs, a flood, restart recovery and admin retry requests. Every check
//! reads what PostgreSQL ended up with.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::sdk::{
    engine, server_event_count, server_terminal_counts, server_uploads, test_policy, Fault,
    FaultProxy, TestTokens,
};
use common::{rpc, stack, unique_email};
use monitor_sdk::engine::{NewUpload, INTERRUPTED_ERROR_CODE};
use monitor_sdk::monitor_core::{RejectReason, UploadStage};
use monitor_sdk::SdkError;
use serde_json::json;
use upload_monitor::devstack::NewUser;

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
    assert!(matches!(
        reporter.begin_upload(empty),
        Err(SdkError::Rejected(RejectReason::InvalidPayload))
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
    // Three 400s: the 4-event batch, then its first half, then its first event alone.
    let proxy = FaultProxy::start(
        stack.api_url(),
        vec![Fault::Status(400), Fault::Status(400), Fault::Status(400)],
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
