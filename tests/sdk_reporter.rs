//! The exported `UploadReporter` (string ids, flattened errors, uniffi records), as the app
//! holds it, against the dev stack over real HTTP: every call of one upload's life, a failed
//! attempt retried, an admin's retry request, a restart, and the server rows they leave.

mod common;

use std::sync::Arc;

use common::sdk::{server_terminal_counts, server_uploads, Fault, FaultProxy, TestTokens};
use common::{rpc, stack, unique_email};
use monitor_sdk::engine::INTERRUPTED_ERROR_CODE;
use monitor_sdk::ffi::{UploadInfo, UploadSource, UploadStage, UploadStatus};
use monitor_sdk::{ReporterConfig, ReporterError, RuleViolation, UploadReporter};
use serde_json::json;
use upload_monitor::devstack::NewUser;
use uuid::Uuid;

/// Long enough for any flush here (ms); healthy, they take well under a second.
const FLUSH_MS: u64 = 30_000;

/// A 10 MB video.
const SIZE: u64 = 10 * 1024 * 1024;

/// What the app's metadata looks like for a recorded video.
const RECORDED: &str = r#"{"isRecorded":true,"duration":42}"#;

/// A reporter on `db` through `api_url`, with test-sized retry delays.
fn reporter(
    api_url: &str,
    anon_key: &str,
    db: &str,
    tokens: Arc<TestTokens>,
) -> Arc<UploadReporter> {
    let config = ReporterConfig {
        retry_base_ms: Some(50),
        retry_max_ms: Some(400),
        request_timeout_ms: Some(5_000),
        ..ReporterConfig::new(api_url, anon_key, db)
    };
    UploadReporter::with_token_provider(config, tokens, None).expect("the reporter opens")
}

fn status_text(status: UploadStatus) -> &'static str {
    match status {
        UploadStatus::Pending => "pending",
        UploadStatus::Uploading => "uploading",
        UploadStatus::Completed => "completed",
        UploadStatus::Failed => "failed",
    }
}

fn rule(result: Result<(), ReporterError>) -> RuleViolation {
    match result {
        Err(ReporterError::Rejected { rule, .. }) => rule,
        other => panic!("expected a rule violation, got {other:?}"),
    }
}

fn invalid(result: Result<(), ReporterError>) {
    assert!(
        matches!(result, Err(ReporterError::InvalidArgument { .. })),
        "{result:?}"
    );
}

/// The device's uploads match the server's rows field for field.
async fn assert_server_matches(user: Uuid, local: &[UploadInfo]) {
    let rows = server_uploads(user).await;
    assert_eq!(rows.len(), local.len(), "{rows:?}");
    for info in local {
        let row = rows
            .iter()
            .find(|r| r.id.to_string() == info.upload_id)
            .unwrap_or_else(|| panic!("{} is not on the server", info.local_id));
        assert_eq!(
            (
                row.local_id.as_str(),
                row.status.as_str(),
                row.progress,
                row.retry_count,
                row.last_seq,
                row.error_code.as_deref()
            ),
            (
                info.local_id.as_str(),
                status_text(info.status),
                info.progress,
                info.retry_count,
                info.last_seq,
                info.error_code.as_deref()
            ),
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_exported_reporter_delivers_over_http_with_string_ids_and_honest_health() {
    let stack = stack();
    let user = stack
        .create_user(&NewUser::new(unique_email("sdk-reporter")))
        .await
        .expect("a user");
    let admin = stack
        .create_user(&NewUser::new(unique_email("sdk-reporter-admin")).admin())
        .await
        .expect("an admin");
    // The first batch is applied but its answer lost, the resend meets a 503: the reporter
    // must resend it again, and the server must take it as the no-op it is.
    let proxy = FaultProxy::start(
        stack.api_url(),
        vec![Fault::ApplyThenFail, Fault::Status(503)],
    )
    .await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let db = dir.path().join("outbox.sqlite").display().to_string();
    let tokens = TestTokens::new(&user.access_token);
    let first = reporter(&proxy.url, stack.anon_key(), &db, tokens.clone());
    first.set_online(false);

    // A: one whole upload, every step.
    let a = first
        .begin_upload(
            "recorded_rep_a".into(),
            Some("Vacances".into()),
            "recorded_rep_a.mov".into(),
            Some(SIZE),
            Some(UploadSource::Recorded),
            Some(RECORDED.into()),
        )
        .expect("begin");
    assert_eq!(
        Uuid::parse_str(&a).expect("a UUID").get_version_num(),
        7,
        "{a}"
    );
    first
        .report_stage(a.clone(), UploadStage::ExtractingMetadata)
        .expect("stage");
    first
        .report_progress(a.clone(), SIZE / 4, SIZE)
        .expect("progress");
    first
        .report_stage(a.clone(), UploadStage::CreatingRecord)
        .expect("stage");
    first.complete(a.clone(), None).expect("complete");
    // B: a failed attempt, retried, then completed.
    let b = first
        .begin_upload(
            "import_rep_b".into(),
            None,
            "IMG_0002.MOV".into(),
            Some(SIZE),
            Some(UploadSource::Imported),
            None,
        )
        .expect("begin");
    first
        .report_progress(b.clone(), SIZE / 2, SIZE)
        .expect("progress");
    first
        .fail(b.clone(), "network".into(), "timeout".into(), 0)
        .expect("fail");
    first.retry(b.clone()).expect("retry");
    first
        .report_progress(b.clone(), SIZE / 10, SIZE)
        .expect("progress");
    first.complete(b.clone(), None).expect("complete");
    // C: fails and waits for someone to retry it.
    let c = first
        .begin_upload(
            "import_rep_c".into(),
            None,
            "IMG_0003.MOV".into(),
            Some(SIZE),
            None,
            None,
        )
        .expect("begin");
    first
        .fail(c.clone(), "server".into(), "HTTP 500".into(), 1)
        .expect("fail");

    // Bad calls come back as the app's flattened errors and record nothing.
    invalid(first.report_progress("not-an-id".into(), 1, 2));
    invalid(first.complete(c.clone(), Some("not-a-video-id".into())));
    invalid(first.fail(c.clone(), " ".into(), "no code".into(), 1));
    assert_eq!(
        rule(first.report_progress(Uuid::now_v7().to_string(), 1, 2)),
        RuleViolation::UnknownUpload
    );
    assert_eq!(
        rule(first.report_progress(a.clone(), 1, 2)),
        RuleViolation::TerminalState
    );
    assert_eq!(
        rule(first.retry(a.clone())),
        RuleViolation::InvalidTransition
    );
    assert_eq!(
        rule(first.report_progress(b.clone(), SIZE + 1, SIZE)),
        RuleViolation::OutOfRange
    );
    assert!(matches!(
        first.flush(FLUSH_MS).await,
        Err(ReporterError::Offline)
    ));
    assert!(matches!(
        first.pending_retry_requests().await,
        Err(ReporterError::Offline)
    ));
    let offline = first.health().expect("health");
    let local = first.list_uploads().expect("uploads");
    let stored: u64 = local.iter().map(|u| u.last_seq as u64).sum();
    assert_eq!(offline.pending_events, stored, "{offline:?}");
    assert!(offline.pending_bytes > 0 && offline.oldest_pending_age_ms.is_some());
    assert!(!offline.online);
    assert!(proxy.seen().is_empty(), "nothing sent while offline");

    first.set_online(true);
    first.flush(FLUSH_MS).await.expect("delivered");
    let health = first.health().expect("health");
    assert_eq!(proxy.remaining(), 0, "both faults were met");
    assert_eq!(
        (
            health.pending_events,
            health.pending_bytes,
            health.dead_lettered_events,
            health.dropped_events,
            health.refused_events,
            health.coalesced_progress
        ),
        (0, 0, 0, 0, 0, 0),
        "{health:?}"
    );
    assert_eq!(health.delivered_events, stored, "{health:?}");
    assert_eq!(
        health.duplicate_events, stored,
        "the batch applied before its answer was lost came back as no-ops: {health:?}"
    );
    assert!(health.requests_sent >= 3, "{health:?}");
    assert_eq!(health.requests_sent, proxy.seen().len() as u64);
    assert!(health.last_error.is_none() && health.last_success_at_ms.is_some());
    assert!(health.online && health.oldest_pending_age_ms.is_none());
    assert_eq!(health.progress_interval_ms, 1_000, "the server's pace");

    let local = first.list_uploads().expect("uploads");
    let status_of = |id: &str| {
        local
            .iter()
            .find(|u| u.upload_id == id)
            .map(|u| (u.status, u.retry_count))
    };
    assert_eq!(status_of(&a), Some((UploadStatus::Completed, 0)));
    assert_eq!(status_of(&b), Some((UploadStatus::Completed, 1)));
    assert_eq!(status_of(&c), Some((UploadStatus::Failed, 1)));
    assert_server_matches(user.id, &local).await;
    let mut terminal: Vec<(String, String, i64)> = server_terminal_counts(user.id)
        .await
        .into_iter()
        .map(|(u, kind, n)| (u.to_string(), kind, n))
        .collect();
    terminal.sort();
    let mut expected: Vec<(String, String, i64)> = [
        (&a, "complete"),
        (&b, "fail"),
        (&b, "retry"),
        (&b, "complete"),
        (&c, "fail"),
    ]
    .into_iter()
    .map(|(u, kind)| (u.clone(), kind.to_string(), 1))
    .collect();
    expected.sort();
    assert_eq!(terminal, expected, "each terminal step once");

    // An admin's "Réessayer" on C reaches the device; the device's retry answers it.
    assert!(first
        .pending_retry_requests()
        .await
        .expect("asked")
        .is_empty());
    let asked = rpc(
        stack.api_url(),
        "request_upload_retry",
        stack.anon_key(),
        Some(&admin.access_token),
        &json!({ "upload_id": c }),
    )
    .await;
    assert_eq!(asked.status, 200, "{:?}", asked.body);
    let requests = first.pending_retry_requests().await.expect("asked");
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].upload_id, c);
    assert_eq!(requests[0].local_id.as_deref(), Some("import_rep_c"));
    assert_eq!(requests[0].retry_count, 1);
    assert!(!requests[0].requested_at.is_empty());
    first.retry(c.clone()).expect("retry");
    first.flush(FLUSH_MS).await.expect("delivered");
    assert!(first
        .pending_retry_requests()
        .await
        .expect("asked")
        .is_empty());

    // D is running when the app is stopped; the next start reports it interrupted, and C,
    // whose new attempt had not started, with it.
    let d = first
        .begin_upload(
            "recorded_rep_d".into(),
            None,
            "recorded_rep_d.mov".into(),
            Some(SIZE),
            None,
            Some(RECORDED.into()),
        )
        .expect("begin");
    first
        .report_progress(d.clone(), SIZE / 3, SIZE)
        .expect("progress");
    first.flush(FLUSH_MS).await.expect("delivered");
    first.shutdown().expect("shutdown");
    assert!(matches!(
        first.complete(d.clone(), None),
        Err(ReporterError::ShutDown)
    ));
    // Progress too: after shutdown no flusher would ever write or send it.
    assert!(matches!(
        first.report_progress(d.clone(), SIZE / 2, SIZE),
        Err(ReporterError::ShutDown)
    ));
    drop(first);

    let second = reporter(&proxy.url, stack.anon_key(), &db, tokens);
    // D was uploading, and C's new attempt never started: both were left open.
    let mut recovered = second.recover_after_restart().expect("recover");
    recovered.sort();
    let mut open = vec![c.clone(), d.clone()];
    open.sort();
    assert_eq!(recovered, open);
    second.flush(FLUSH_MS).await.expect("delivered");
    let local = second.list_uploads().expect("uploads");
    assert_eq!(local.len(), 4);
    for id in [&c, &d] {
        let info = local
            .iter()
            .find(|u| u.upload_id == *id)
            .expect("a local upload");
        assert_eq!(info.status, UploadStatus::Failed);
        assert_eq!(info.error_code.as_deref(), Some(INTERRUPTED_ERROR_CODE));
    }
    assert_server_matches(user.id, &local).await;
    let health = second.health().expect("health");
    assert_eq!(
        (health.pending_events, health.dead_lettered_events),
        (0, 0),
        "{health:?}"
    );
    second.shutdown().expect("shutdown");
}
