//! Importing the app's AsyncStorage queue through the SDK into the dev stack: both
//! `localUri` forms, every item status, a bad item skipped, re-imports idempotent.

mod common;

use std::time::Duration;

use common::sdk::{engine, TestTokens};
use common::{stack, unique_email};
use serde_json::json;
use upload_monitor::devstack::NewUser;

#[tokio::test(flavor = "multi_thread")]
async fn async_storage_items_with_both_local_uri_forms_are_imported_right_and_only_once() {
    let stack = stack();
    let user = stack
        .create_user(&NewUser::new(unique_email("sdk-import")))
        .await
        .expect("a user");
    let dir = tempfile::tempdir().expect("a temp dir");
    let reporter = engine(
        stack.api_url(),
        stack.anon_key(),
        &dir.path().join("outbox.sqlite"),
        TestTokens::new(&user.access_token),
    );
    // Backups: the 2025 form (a bare file name) and the older absolute path.
    let pending_videos = json!([
        {"id": "pending_1732438800000", "localUri": "backup_1732438800000.mov",
         "title": "Anniversaire", "userId": user.id, "createdAt": "2026-11-24T08:00:00Z",
         "uploadAttempts": 0, "fileSize": 5242880},
        {"id": "pending_1732438700000",
         "localUri": "file:///var/mobile/Containers/Data/Application/0A1B/Documents/video_backups/backup_1732438700000.mov",
         "title": "Plage", "userId": user.id, "createdAt": "2026-11-24T07:00:00Z",
         "uploadAttempts": 2, "fileSize": 1048576},
    ]);
    let queue = |uploading_status: &str| {
        json!({
            "items": [
                {"id": "import_1732438800000_0", "uri": "file:///tmp/IMG_0001.MOV",
                 "filename": "IMG_0001.MOV", "status": uploading_status, "progress": 42.5,
                 "retryCount": 0, "metadata": {"isImported": true, "duration": 31}},
                {"id": "recorded_1732438600000_abc", "uri": "file:///tmp/rec.mov",
                 "filename": "rec.mov", "title": "Réunion", "status": "completed",
                 "progress": 100, "retryCount": 0, "metadata": {"isRecorded": true}},
                {"id": "import_1732438800000_1", "uri": "file:///tmp/IMG_0002.MOV",
                 "filename": "IMG_0002.MOV", "status": "failed", "progress": 30,
                 "error": "Network request failed", "retryCount": 2},
                {"id": "import_1732438800000_2", "uri": "file:///tmp/IMG_0003.MOV",
                 "filename": "IMG_0003.MOV", "status": "pending", "progress": 0,
                 "retryCount": 1},
                // Out of the spec's range: skipped, the rest still imported.
                {"id": "import_1732438800000_3", "uri": "file:///tmp/IMG_0004.MOV",
                 "filename": "IMG_0004.MOV", "status": "pending", "progress": 0,
                 "retryCount": 7},
            ],
            "currentIndex": 0, "isProcessing": true, "totalCount": 5,
            "completedCount": 1, "failedCount": 1
        })
        .to_string()
    };
    let report = reporter
        .import_async_storage(Some(&pending_videos.to_string()), Some(&queue("uploading")))
        .expect("imported");
    assert_eq!(
        (report.created, report.updated, report.unchanged),
        (6, 0, 0)
    );
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    assert!(
        report.skipped[0].contains("retryCount"),
        "{:?}",
        report.skipped
    );

    let local = reporter.list_uploads().expect("list");
    let by_local = |id: &str| {
        local
            .iter()
            .find(|u| u.record.local_id == id)
            .unwrap_or_else(|| panic!("{id} imported"))
    };
    let bare = by_local("pending_1732438800000");
    assert_eq!(bare.record.filename, "backup_1732438800000.mov");
    assert_eq!(bare.uri.as_deref(), Some("backup_1732438800000.mov"));
    let absolute = by_local("pending_1732438700000");
    assert_eq!(absolute.record.filename, "backup_1732438700000.mov");
    assert!(absolute
        .uri
        .as_deref()
        .is_some_and(|u| u.starts_with("file:///var/")));
    assert_eq!(absolute.record.retry_count, 1, "two attempts = one retry");

    reporter
        .flush(Duration::from_secs(30))
        .await
        .expect("delivered");
    assert_eq!(reporter.health().expect("health").outbox.dead_lettered, 0);
    let client = stack.connect().await.expect("a connection");
    let rows = client
        .query(
            "select local_id, filename, status, progress, retry_count, error_code, \
               error_message, source, metadata->>'localUri', file_size \
             from public.upload_queue where user_id = $1 order by local_id",
            &[&user.id],
        )
        .await
        .expect("rows");
    type Row = (
        String,
        String,
        String,
        i32,
        i32,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
    );
    let rows: Vec<Row> = rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
                r.get(7),
                r.get(8),
                r.get(9),
            )
        })
        .collect();
    let row = |id: &str| {
        rows.iter()
            .find(|r| r.0 == id)
            .unwrap_or_else(|| panic!("{id} on the server"))
            .clone()
    };
    let uploading = row("import_1732438800000_0");
    assert_eq!((uploading.2.as_str(), uploading.3), ("uploading", 42));
    assert_eq!(uploading.7.as_deref(), Some("imported"));
    let completed = row("recorded_1732438600000_abc");
    assert_eq!((completed.2.as_str(), completed.3), ("completed", 100));
    assert_eq!(completed.7.as_deref(), Some("recorded"));
    let failed = row("import_1732438800000_1");
    assert_eq!((failed.2.as_str(), failed.4), ("failed", 2));
    assert_eq!(failed.5.as_deref(), Some("import_queue"));
    assert_eq!(failed.6.as_deref(), Some("Network request failed"));
    let retried = row("import_1732438800000_2");
    assert_eq!((retried.2.as_str(), retried.4), ("pending", 1));
    let bare = row("pending_1732438800000");
    assert_eq!(bare.1, "backup_1732438800000.mov");
    assert_eq!(bare.8.as_deref(), Some("backup_1732438800000.mov"));
    assert_eq!((bare.2.as_str(), bare.9), ("pending", Some(5_242_880)));
    let absolute = row("pending_1732438700000");
    assert_eq!(absolute.1, "backup_1732438700000.mov");
    assert!(absolute.8.is_some_and(|u| u.starts_with("file:///var/")));
    assert_eq!(rows.len(), 6);

    // The next start imports the same values: nothing new. Then the app finished the
    // upload that was running: only that one moves.
    let again = reporter
        .import_async_storage(Some(&pending_videos.to_string()), Some(&queue("uploading")))
        .expect("imported");
    assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 6));
    let later = reporter
        .import_async_storage(None, Some(&queue("completed")))
        .expect("imported");
    assert_eq!((later.created, later.updated), (0, 1));
    reporter
        .flush(Duration::from_secs(30))
        .await
        .expect("delivered");
    let status: String = client
        .query_one(
            "select status from public.upload_queue where user_id = $1 and local_id = $2",
            &[&user.id, &"import_1732438800000_0"],
        )
        .await
        .expect("row")
        .get(0);
    assert_eq!(status, "completed");
}

#[tokio::test(flavor = "multi_thread")]
async fn unusable_async_storage_values_are_a_typed_error() {
    let stack = stack();
    let dir = tempfile::tempdir().expect("a temp dir");
    let reporter = engine(
        stack.api_url(),
        stack.anon_key(),
        &dir.path().join("outbox.sqlite"),
        TestTokens::new("unused"),
    );
    reporter.set_online(false);
    assert!(matches!(
        reporter.import_async_storage(Some("{not json"), None),
        Err(monitor_sdk::SdkError::Import(_))
    ));
    assert!(matches!(
        reporter.import_async_storage(None, Some("[1,2]")),
        Err(monitor_sdk::SdkError::Import(_))
    ));
    let nothing = reporter
        .import_async_storage(Some(""), Some("null"))
        .expect("absent keys import nothing");
    assert_eq!(nothing.created, 0);
}
