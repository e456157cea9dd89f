//! `report_upload_events` over real HTTP through the dev stack, as the SDK calls it: a user's
//! token posts a batch and gets one typed verdict per event; a malformed batch is a 400 that
//! leaves nothing behind; an applied batch is announced by one `pg_notify`.

mod common;

use common::{rpc, stack, unique_email};
use monitor_core::{EventOutcome, IngestResponse, RejectReason};
use serde_json::json;
use std::time::Duration;
use tokio_postgres::{AsyncMessage, NoTls};
use upload_monitor::devstack::NewUser;
use uuid::Uuid;

/// Device time of the fixture events: 2026-11-24 09:00 UTC.
const AT: &str = "2026-11-24T09:00:00Z";

/// One event of `upload`, with `fields` flattened beside the envelope (the wire format).
fn event(upload: Uuid, seq: i64, kind: &str, fields: serde_json::Value) -> serde_json::Value {
    let mut event = json!({
        "id": Uuid::now_v7(), "upload_id": upload, "seq": seq, "at": AT, "kind": kind,
    });
    if let (Some(event), Some(fields)) = (event.as_object_mut(), fields.as_object()) {
        event.extend(fields.clone());
    }
    event
}

#[tokio::test]
async fn a_user_token_posts_a_batch_and_gets_one_verdict_per_event_in_order() {
    let stack = stack();
    let user = stack
        .create_user(&NewUser::new(unique_email("ingest")))
        .await
        .expect("a user");
    // A fresh upload per run (UUIDv7, as the SDK makes them).
    let upload = Uuid::now_v7();
    let batch = json!([
        // Sent out of order: applied by seq, answered in input order.
        event(
            upload,
            2,
            "progress",
            json!({"bytes_sent": 500, "progress": 50, "upload_speed": 2.5})
        ),
        event(
            upload,
            1,
            "begin",
            json!({
                "local_id": format!("import_{upload}"), "filename": "IMG_0001.MOV",
                "file_size": 1000, "source": "imported",
                "device": {"platform": "ios", "app_version": "3.2.0"},
            })
        ),
        event(upload, 3, "complete", json!({})),
        event(
            upload,
            4,
            "progress",
            json!({"bytes_sent": 10, "progress": 1})
        ),
    ]);
    let response = rpc(
        stack.api_url(),
        "report_upload_events",
        stack.anon_key(),
        Some(&user.access_token),
        &json!({ "events": batch }),
    )
    .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    let answer: IngestResponse =
        serde_json::from_value(response.body.clone()).expect("the documented response shape");
    let outcomes: Vec<EventOutcome> = answer.results.iter().map(|v| v.outcome).collect();
    assert_eq!(
        outcomes,
        [
            EventOutcome::Applied,
            EventOutcome::Applied,
            EventOutcome::Applied,
            EventOutcome::Rejected(RejectReason::TerminalState),
        ]
    );
    let sent_ids: Vec<&str> = batch
        .as_array()
        .expect("an array")
        .iter()
        .map(|e| e["id"].as_str().expect("an id"))
        .collect();
    let answered_ids: Vec<String> = answer.results.iter().map(|v| v.id.to_string()).collect();
    assert_eq!(answered_ids, sent_ids, "verdicts come back in input order");
    assert_eq!(answer.min_progress_interval_ms, 1000);

    // Replaying the batch (a retry after a lost response) changes nothing.
    let replay = rpc(
        stack.api_url(),
        "report_upload_events",
        stack.anon_key(),
        Some(&user.access_token),
        &json!({ "events": batch }),
    )
    .await;
    let replay: IngestResponse = serde_json::from_value(replay.body).expect("a response");
    let outcomes: Vec<EventOutcome> = replay.results.iter().map(|v| v.outcome).collect();
    assert_eq!(
        outcomes,
        [
            // The attempt's first progress, the begin and the completion are all logged.
            EventOutcome::Duplicate,
            EventOutcome::Duplicate,
            EventOutcome::Duplicate,
            EventOutcome::Rejected(RejectReason::TerminalState),
        ],
        "a replay is never applied twice"
    );

    let client = stack.connect().await.expect("a superuser connection");
    let row = client
        .query_one(
            "select status, progress, bytes_sent, user_id from public.upload_queue where id = $1",
            &[&upload],
        )
        .await
        .expect("the upload row");
    assert_eq!(row.get::<_, String>(0), "completed");
    assert_eq!(row.get::<_, i32>(1), 100);
    assert_eq!(row.get::<_, i64>(2), 1000);
    assert_eq!(row.get::<_, Uuid>(3), user.id);
}

#[tokio::test]
async fn a_malformed_batch_is_a_400_and_leaves_nothing_behind() {
    let stack = stack();
    let user = stack
        .create_user(&NewUser::new(unique_email("malformed")))
        .await
        .expect("a user");
    let upload = Uuid::now_v7();
    let batch = json!([
        event(upload, 1, "begin", json!({"local_id": "l", "filename": "a.mov"})),
        {"upload_id": upload, "seq": 2, "kind": "progress"}, // no id
    ]);
    let response = rpc(
        stack.api_url(),
        "report_upload_events",
        stack.anon_key(),
        Some(&user.access_token),
        &json!({ "events": batch }),
    )
    .await;
    assert_eq!(response.status, 400, "{:?}", response.body);
    assert_eq!(response.body["code"], "22023");
    assert!(
        response.body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("events[1] must be an object")),
        "{:?}",
        response.body
    );
    let client = stack.connect().await.expect("a superuser connection");
    let count: i64 = client
        .query_one(
            "select count(*) from public.upload_queue where id = $1",
            &[&upload],
        )
        .await
        .expect("a count")
        .get(0);
    assert_eq!(
        count, 0,
        "the valid begin before the bad element was not kept"
    );
}

#[tokio::test]
async fn an_applied_batch_sends_one_notification_naming_its_uploads() {
    let stack = stack();
    // A listening connection of our own: the notifications arrive on its connection task.
    let (listener, mut connection) = tokio_postgres::connect(stack.db_url(), NoTls)
        .await
        .expect("a listening connection");
    let (sender, mut notifications) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(message)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let AsyncMessage::Notification(n) = message {
                let _ = sender.send((n.channel().to_string(), n.payload().to_string()));
            }
        }
    });
    listener
        .batch_execute("listen upload_monitor")
        .await
        .expect("listen");

    let user = stack
        .create_user(&NewUser::new(unique_email("notify")))
        .await
        .expect("a user");
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    let batch = json!([
        event(
            first,
            1,
            "begin",
            json!({"local_id": format!("n_{first}"), "filename": "a.mov"})
        ),
        event(
            second,
            1,
            "begin",
            json!({"local_id": format!("n_{second}"), "filename": "b.mov"})
        ),
        event(
            first,
            2,
            "progress",
            json!({"bytes_sent": 1, "progress": 1})
        ),
    ]);
    let response = rpc(
        stack.api_url(),
        "report_upload_events",
        stack.anon_key(),
        Some(&user.access_token),
        &json!({ "events": batch }),
    )
    .await;
    assert_eq!(response.status, 200, "{:?}", response.body);

    // Other tests share the stack: wait for the notification that names this batch's uploads.
    let ours = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let (channel, payload) = notifications.recv().await.expect("the listener runs");
            let payload: serde_json::Value =
                serde_json::from_str(&payload).expect("a JSON payload");
            if payload["uploads"]
                .as_array()
                .is_some_and(|ids| ids.iter().any(|id| id == &json!(first)))
            {
                return (channel, payload);
            }
        }
    })
    .await
    .expect("a notification within 10 s");
    assert_eq!(ours.0, "upload_monitor");
    assert_eq!(ours.1["applied"], 3, "one notification for the whole batch");
    assert_eq!(ours.1["uploads"], json!([first, second]));
}

#[tokio::test]
async fn one_call_takes_a_full_sdk_batch_of_500_events_over_ten_uploads() {
    let stack = stack();
    let user = stack
        .create_user(&NewUser::new(unique_email("ingest-500")))
        .await
        .expect("a user");
    // What the SDK's flusher sends at most per call: 10 uploads, each begin, 48 progress
    // reports (1..=48 %) and a completion, interleaved upload by upload as an outbox holds them.
    let uploads: Vec<Uuid> = (0..10).map(|_| Uuid::now_v7()).collect();
    let mut batch = Vec::with_capacity(500);
    for (n, upload) in uploads.iter().enumerate() {
        batch.push(event(
            *upload,
            1,
            "begin",
            json!({"local_id": format!("import_500_{n}_{upload}"), "filename": "a.mov",
                   "file_size": 10_000}),
        ));
    }
    for percent in 1..=48_i64 {
        for upload in &uploads {
            batch.push(event(
                *upload,
                percent + 1,
                "progress",
                json!({"bytes_sent": percent * 100, "progress": percent}),
            ));
        }
    }
    for upload in &uploads {
        batch.push(event(*upload, 50, "complete", json!({})));
    }
    assert_eq!(batch.len(), 500);
    let response = rpc(
        stack.api_url(),
        "report_upload_events",
        stack.anon_key(),
        Some(&user.access_token),
        &json!({ "events": batch }),
    )
    .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    let answer: IngestResponse =
        serde_json::from_value(response.body).expect("the documented response shape");
    assert_eq!(answer.results.len(), 500);
    assert!(
        answer
            .results
            .iter()
            .all(|v| v.outcome == EventOutcome::Applied),
        "every event applied"
    );
    let db = stack.connect().await.expect("a database connection");
    let rows = db
        .query(
            "select status, progress, last_seq from public.upload_queue where id = any($1)",
            &[&uploads],
        )
        .await
        .expect("the uploads");
    assert_eq!(rows.len(), 10);
    for row in rows {
        let (status, progress, last_seq): (String, i32, i64) = (row.get(0), row.get(1), row.get(2));
        assert_eq!(
            (status.as_str(), progress, last_seq),
            ("completed", 100, 50)
        );
    }
}

/// While one batch of a user holds that user's ingest lock (here: a session holding it, as a
/// long batch would), another batch of the same user is answered at once with 429 and
/// `Retry-After` instead of waiting on a pooled connection; another user's batch goes
/// through meanwhile; and the first user's batch is applied once the lock is free.
#[tokio::test]
async fn a_busy_user_gets_429_with_retry_after_and_never_holds_up_another_user() {
    let stack = stack();
    let busy = stack
        .create_user(&NewUser::new(unique_email("busy")))
        .await
        .expect("a busy user");
    let other = stack
        .create_user(&NewUser::new(unique_email("other")))
        .await
        .expect("another user");
    let begin = |upload: Uuid| {
        json!({ "events": [event(upload, 1, "begin",
            json!({"local_id": format!("import_{upload}"), "filename": "a.mov"}))] })
    };

    let mut holder = stack.connect().await.expect("a superuser connection");
    let tx = holder.transaction().await.expect("a transaction");
    tx.execute(
        "select pg_advisory_xact_lock(hashtextextended($1::text, 0))",
        &[&busy.id.to_string()],
    )
    .await
    .expect("the busy user's ingest lock");

    let started = std::time::Instant::now();
    let refused = rpc(
        stack.api_url(),
        "report_upload_events",
        stack.anon_key(),
        Some(&busy.access_token),
        &begin(Uuid::now_v7()),
    )
    .await;
    assert_eq!(refused.status, 429, "{:?}", refused.body);
    assert_eq!(
        refused
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_eq!(refused.body["code"], "UM429", "{:?}", refused.body);
    // Answered without waiting for the lock (which is held until the end of this test).
    assert!(started.elapsed() < Duration::from_secs(5));

    let theirs = rpc(
        stack.api_url(),
        "report_upload_events",
        stack.anon_key(),
        Some(&other.access_token),
        &begin(Uuid::now_v7()),
    )
    .await;
    assert_eq!(theirs.status, 200, "{:?}", theirs.body);

    tx.rollback().await.expect("the lock released");
    let upload = Uuid::now_v7();
    let later = rpc(
        stack.api_url(),
        "report_upload_events",
        stack.anon_key(),
        Some(&busy.access_token),
        &begin(upload),
    )
    .await;
    assert_eq!(later.status, 200, "{:?}", later.body);
    let answer: IngestResponse = serde_json::from_value(later.body).expect("the response shape");
    assert_eq!(answer.results[0].outcome, EventOutcome::Applied);
}

/// A batch mixing an event past a limit with a valid one: the bad event is that event's
/// `invalid_payload`, the batch is a 200 (a 2.7 kB local_id used to fail the whole batch
/// with 500 `54000 index row size`).
#[tokio::test]
async fn an_oversized_local_id_is_one_events_invalid_payload_not_a_500() {
    let stack = stack();
    let user = stack
        .create_user(&NewUser::new(unique_email("long-id")))
        .await
        .expect("a user");
    let (bad, good) = (Uuid::now_v7(), Uuid::now_v7());
    let batch = json!([
        event(
            bad,
            1,
            "begin",
            json!({"local_id": "x".repeat(3_000), "filename": "a.mov"})
        ),
        event(
            good,
            1,
            "begin",
            json!({"local_id": format!("import_{good}"), "filename": "b.mov"})
        ),
    ]);
    let response = rpc(
        stack.api_url(),
        "report_upload_events",
        stack.anon_key(),
        Some(&user.access_token),
        &json!({ "events": batch }),
    )
    .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    let answer: IngestResponse = serde_json::from_value(response.body).expect("the shape");
    let outcomes: Vec<EventOutcome> = answer.results.iter().map(|v| v.outcome).collect();
    assert_eq!(
        outcomes,
        [
            EventOutcome::Rejected(RejectReason::InvalidPayload),
            EventOutcome::Applied
        ]
    );
    // The refusal names the field and what it accepts; the applied verdict has no detail.
    assert_eq!(
        answer.results[0].detail.as_deref(),
        Some("local_id: a non-empty string of at most 255 characters, without NUL")
    );
    assert_eq!(answer.results[1].detail, None);
}

/// `source: "camera"` (issue 18): the verdict says which field and what it accepts, over
/// HTTP, where before it said `invalid_payload` alone.
#[tokio::test]
async fn an_invalid_payload_verdict_names_the_field_and_the_accepted_values() {
    let stack = stack();
    let user = stack
        .create_user(&NewUser::new(unique_email("camera")))
        .await
        .expect("a user");
    let id = Uuid::now_v7();
    let batch = json!([event(
        id,
        1,
        "begin",
        json!({"local_id": format!("camera_{id}"), "filename": "a.mov", "source": "camera"})
    )]);
    let response = rpc(
        stack.api_url(),
        "report_upload_events",
        stack.anon_key(),
        Some(&user.access_token),
        &json!({ "events": batch }),
    )
    .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    let verdict = &response.body["results"][0];
    assert_eq!(
        (&verdict["outcome"], &verdict["reason"], &verdict["detail"]),
        (
            &json!("rejected"),
            &json!("invalid_payload"),
            &json!("source: \"recorded\" or \"imported\", null or absent")
        ),
        "{verdict}"
    );
}

/// The gateway's body limit fits the SDK's largest batch: 500 events with every text at its
/// limit in monitor-core/src/limits.rs, each character a control character (6 bytes once
/// JSON-escaped), go through in one call and are all applied.
#[tokio::test]
async fn a_500_event_batch_with_every_field_at_its_limit_fits_the_body_limit() {
    use monitor_core::limits::{
        MAX_DEVICE_FIELD_CHARS, MAX_ERROR_CODE_CHARS, MAX_ERROR_MESSAGE_CHARS, MAX_FILENAME_CHARS,
        MAX_LOCAL_ID_CHARS, MAX_METADATA_BYTES, MAX_VIDEO_TITLE_CHARS,
    };
    let stack = stack();
    let user = stack
        .create_user(&NewUser::new(unique_email("at-limits")))
        .await
        .expect("a user");
    let text = |chars: usize| "\u{1}".repeat(chars);
    // {"k": "…"} is 9 bytes as jsonb text plus the string, each \u0001 printed in 6 bytes.
    let metadata = json!({ "k": text((MAX_METADATA_BYTES - 9) / 6) });
    let device = json!({
        "platform": text(MAX_DEVICE_FIELD_CHARS), "os_version": text(MAX_DEVICE_FIELD_CHARS),
        "app_version": text(MAX_DEVICE_FIELD_CHARS), "model": text(MAX_DEVICE_FIELD_CHARS),
    });
    let mut events = Vec::with_capacity(500);
    for n in 0..250 {
        let upload = Uuid::now_v7();
        let mut local_id = format!("{n:03}");
        local_id.push_str(&text(MAX_LOCAL_ID_CHARS - local_id.len()));
        events.push(event(
            upload,
            1,
            "begin",
            json!({
                "local_id": local_id, "filename": text(MAX_FILENAME_CHARS),
                "video_title": text(MAX_VIDEO_TITLE_CHARS), "metadata": metadata, "device": device,
            }),
        ));
        events.push(event(
            upload,
            2,
            "fail",
            json!({
                "error_code": text(MAX_ERROR_CODE_CHARS),
                "error_message": text(MAX_ERROR_MESSAGE_CHARS),
            }),
        ));
    }
    let body = json!({ "events": events });
    let wire = serde_json::to_vec(&body).expect("serializes").len();
    assert!(
        wire > 12 * 1024 * 1024,
        "the batch is really at the limits: {wire} bytes"
    );
    let response = rpc(
        stack.api_url(),
        "report_upload_events",
        stack.anon_key(),
        Some(&user.access_token),
        &body,
    )
    .await;
    assert_eq!(response.status, 200, "{wire} bytes: {:?}", response.body);
    let answer: IngestResponse = serde_json::from_value(response.body).expect("the shape");
    assert!(answer
        .results
        .iter()
        .all(|v| v.outcome == EventOutcome::Applied));
}
