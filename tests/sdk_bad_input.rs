//! What an app with bugs or odd data feeds the SDK: every call either fails at once with a
//! typed error naming the field, or its event is delivered. Nothing returns Ok and is then
//! dead-lettered by the server (a NUL used to make the server refuse a `begin`, orphaning the
//! upload's later events; a 3,000-character local_id made the whole batch fail for good).

mod common;

use std::time::Duration;

use common::sdk::{engine, server_uploads, TestTokens};
use common::{stack, unique_email};
use monitor_core::limits::{MAX_ERROR_MESSAGE_CHARS, MAX_LOCAL_ID_CHARS, MAX_METADATA_BYTES};
use monitor_sdk::engine::NewUpload;
use monitor_sdk::error::SdkError;
use upload_monitor::devstack::NewUser;

fn upload(local_id: &str) -> NewUpload {
    NewUpload {
        local_id: local_id.into(),
        title: Some("Vacances".into()),
        filename: "IMG_0001.MOV".into(),
        file_size: Some(1_000),
        ..NewUpload::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn identifiers_the_server_cannot_store_are_refused_at_the_call_naming_the_field() {
    let stack = stack();
    let user = stack
        .create_user(&NewUser::new(unique_email("sdk-bad-ids")))
        .await
        .expect("a user");
    let dir = tempfile::tempdir().expect("a temp dir");
    let reporter = engine(
        stack.api_url(),
        stack.anon_key(),
        &dir.path().join("outbox.sqlite"),
        TestTokens::new(&user.access_token),
    );
    let long_id = "x".repeat(3_000);
    match reporter.begin_upload(upload(&long_id)) {
        Err(SdkError::InvalidArgument(why)) => assert!(why.contains("local_id"), "{why}"),
        other => panic!("a 3,000-character local_id must be refused at the call: {other:?}"),
    }
    match reporter.begin_upload(upload("import_1\0")) {
        Err(SdkError::InvalidArgument(why)) => assert!(why.contains("NUL"), "{why}"),
        other => panic!("a NUL in local_id must be refused at the call: {other:?}"),
    }
    let mut big = upload("import_big_metadata");
    big.metadata_json =
        Some(serde_json::json!({ "k": "x".repeat(MAX_METADATA_BYTES) }).to_string());
    match reporter.begin_upload(big) {
        Err(SdkError::InvalidArgument(why)) => assert!(why.contains("metadata"), "{why}"),
        other => panic!("metadata over 16 KiB must be refused at the call: {other:?}"),
    }
    // At the limit is accepted and delivered.
    let at_limit = "é".repeat(MAX_LOCAL_ID_CHARS);
    let id = reporter
        .begin_upload(upload(&at_limit))
        .expect("255 characters");
    match reporter.fail(id, "\0", "boom", 0) {
        Err(SdkError::InvalidArgument(why)) => assert!(why.contains("error_code"), "{why}"),
        other => panic!("an error_code of only NUL must be refused: {other:?}"),
    }
    reporter
        .flush(Duration::from_secs(30))
        .await
        .expect("delivered");
    let health = reporter.health().expect("health");
    assert_eq!(health.outbox.dead_lettered, 0);
    let server = server_uploads(user.id).await;
    assert_eq!(server.len(), 1);
    assert_eq!(server[0].local_id, at_limit);
}

#[tokio::test(flavor = "multi_thread")]
async fn nul_characters_and_huge_texts_are_cleaned_and_the_upload_is_delivered_whole() {
    let stack = stack();
    let user = stack
        .create_user(&NewUser::new(unique_email("sdk-nul")))
        .await
        .expect("a user");
    let dir = tempfile::tempdir().expect("a temp dir");
    let reporter = engine(
        stack.api_url(),
        stack.anon_key(),
        &dir.path().join("outbox.sqlite"),
        TestTokens::new(&user.access_token),
    );
    let id = reporter
        .begin_upload(NewUpload {
            local_id: "import_nul".into(),
            title: Some(format!("Vac\0ances {}", "t".repeat(10 * 1024 * 1024))),
            filename: "IMG\0_0001.MOV".into(),
            file_size: Some(1_000),
            metadata_json: Some(
                r#"{"orientation\u0000":"port\u0000rait","isImported":true}"#.into(),
            ),
            ..NewUpload::default()
        })
        .expect("accepted: NUL removed, title cut");
    reporter.report_progress(id, 500, 1_000).expect("progress");
    let trace = format!("TypeError\0: {}", "at frame\n".repeat(2 * 1024 * 1024));
    reporter
        .fail(id, "net\0work", &trace, 0)
        .expect("a 10 MB failure is accepted: cut before it is stored");
    reporter
        .flush(Duration::from_secs(30))
        .await
        .expect("delivered");
    assert_eq!(reporter.health().expect("health").outbox.dead_lettered, 0);

    let client = stack.connect().await.expect("a connection");
    let row = client
        .query_one(
            "select status, filename, left(video_title, 12), char_length(video_title), \
               metadata, error_code, char_length(error_message), left(error_message, 11) \
             from public.upload_queue where user_id = $1",
            &[&user.id],
        )
        .await
        .expect("the upload reached the server");
    let status: String = row.get(0);
    let filename: String = row.get(1);
    let title_start: String = row.get(2);
    let title_chars: i32 = row.get(3);
    let metadata: serde_json::Value = row.get(4);
    let code: String = row.get(5);
    let message_chars: i32 = row.get(6);
    let message_start: String = row.get(7);
    assert_eq!(status, "failed");
    assert_eq!(filename, "IMG_0001.MOV");
    assert_eq!(title_start, "Vacances ttt");
    assert_eq!(title_chars, 500);
    assert_eq!(
        metadata,
        serde_json::json!({"orientation": "portrait", "isImported": true})
    );
    assert_eq!(code, "network");
    assert_eq!(message_chars as usize, MAX_ERROR_MESSAGE_CHARS);
    assert_eq!(message_start, "TypeError: ");
}
