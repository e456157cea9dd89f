//! Importing the app's AsyncStorage queue through the SDK into the dev stack: both
//! `localUri` forms, every item status, a bad item skipped, re-imports idempotent; odd
//! strings cleaned and delivered whole; the outbox's caps stop an import without failing it.

mod common;

use std::time::Duration;

use common::sdk::{engine, engine_with, server_uploads, test_policy, TestTokens};
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

#[tokio::test(flavor = "multi_thread")]
async fn imported_nul_characters_and_huge_texts_are_cleaned_and_every_other_item_delivered() {
    let stack = stack();
    let user = stack
        .create_user(&NewUser::new(unique_email("sdk-import-odd")))
        .await
        .expect("a user");
    let dir = tempfile::tempdir().expect("a temp dir");
    let reporter = engine(
        stack.api_url(),
        stack.anon_key(),
        &dir.path().join("outbox.sqlite"),
        TestTokens::new(&user.access_token),
    );
    let huge_title = format!("Vac\0ances {}", "t".repeat(10 * 1024 * 1024));
    let long_id = "import_".to_owned() + &"x".repeat(3_000);
    let queue = json!({
        "items": [
            // NUL in title, filename and metadata (a key and a value), a 10 MB title.
            {"id": "import_odd_0", "uri": "file:///tmp/IMG_0005.MOV",
             "filename": "IMG\0_0005.MOV", "title": huge_title, "status": "failed",
             "progress": 10, "error": format!("Type\0Error: {}", "at frame\n".repeat(1_000_000)),
             "retryCount": 0, "metadata": {"orient\0ation": "port\0rait"}},
            // The server cannot store this id: skipped, the items around it delivered.
            {"id": long_id, "uri": "file:///tmp/IMG_0006.MOV", "filename": "IMG_0006.MOV",
             "status": "pending", "progress": 0, "retryCount": 0},
            {"id": "import_odd_2", "uri": "file:///tmp/IMG_0007.MOV", "filename": "IMG_0007.MOV",
             "status": "uploading", "progress": 50, "retryCount": 0},
        ],
        "currentIndex": 0, "isProcessing": true, "totalCount": 3,
        "completedCount": 0, "failedCount": 1
    });
    let pending_videos = json!([
        {"id": "pending_odd", "localUri": "backup_odd.mov", "title": "Pl\0age",
         "userId": user.id, "createdAt": "2026-11-24T08:00:00Z",
         "uploadAttempts": 0, "fileSize": 1000},
    ]);
    let report = reporter
        .import_async_storage(Some(&pending_videos.to_string()), Some(&queue.to_string()))
        .expect("imported: bad items are skipped, never the whole import");
    assert_eq!(report.created, 3, "{report:?}");
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    assert!(
        report.skipped[0].starts_with("import_xxx") && report.skipped[0].len() < 200,
        "{:?}",
        report.skipped
    );
    reporter
        .flush(Duration::from_secs(30))
        .await
        .expect("delivered");
    assert_eq!(reporter.health().expect("health").outbox.dead_lettered, 0);

    let client = stack.connect().await.expect("a connection");
    let rows = client
        .query(
            "select local_id, status, filename, coalesce(video_title, ''), \
               char_length(coalesce(video_title, '')), metadata, \
               coalesce(left(error_message, 11), '') \
             from public.upload_queue where user_id = $1 order by local_id",
            &[&user.id],
        )
        .await
        .expect("rows");
    let rows: Vec<(
        String,
        String,
        String,
        String,
        i32,
        serde_json::Value,
        String,
    )> = rows
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
            )
        })
        .collect();
    let ids: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(ids, ["import_odd_0", "import_odd_2", "pending_odd"]);
    let odd = &rows[0];
    assert_eq!((odd.1.as_str(), odd.2.as_str()), ("failed", "IMG_0005.MOV"));
    assert!(odd.3.starts_with("Vacances ttt"), "{}", &odd.3[..20]);
    assert_eq!(odd.4 as usize, monitor_core::limits::MAX_VIDEO_TITLE_CHARS);
    assert_eq!(odd.5, json!({"orientation": "portrait"}));
    assert_eq!(odd.6, "TypeError: ");
    assert_eq!(rows[1].1, "uploading");
    assert_eq!(
        (rows[2].1.as_str(), rows[2].3.as_str()),
        ("pending", "Plage")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_beyond_the_outbox_caps_stores_what_fits_and_lists_the_rest_for_later() {
    let stack = stack();
    let user = stack
        .create_user(&NewUser::new(unique_email("sdk-import-caps")))
        .await
        .expect("a user");
    let dir = tempfile::tempdir().expect("a temp dir");
    let reporter = engine_with(
        stack.api_url(),
        stack.anon_key(),
        &dir.path().join("outbox.sqlite"),
        TestTokens::new(&user.access_token),
        monitor_sdk::policy::FlushPolicy {
            max_pending_events: monitor_sdk::policy::MIN_PENDING_EVENTS,
            ..test_policy()
        },
    );
    reporter.set_online(false);
    let cap = monitor_sdk::policy::MIN_PENDING_EVENTS as usize;
    // One begin event per backup: 50 more than the outbox holds.
    let backups: Vec<serde_json::Value> = (0..cap + 50)
        .map(|i| {
            json!({"id": format!("pending_{i:04}"), "localUri": format!("backup_{i}.mov"),
                   "title": "", "userId": user.id, "createdAt": "2026-11-24T08:00:00Z",
                   "uploadAttempts": 0, "fileSize": 1000})
        })
        .collect();
    let text = serde_json::Value::from(backups).to_string();
    let report = reporter
        .import_async_storage(Some(&text), None)
        .expect("the caps stop the import, they do not fail it");
    assert_eq!(report.created as usize, cap, "{report:?}");
    assert_eq!(report.skipped.len(), 50);
    assert!(
        report
            .skipped
            .iter()
            .all(|s| s.ends_with(monitor_sdk::import::OUTBOX_FULL)),
        "{:?}",
        report.skipped
    );
    assert_eq!(reporter.health().expect("health").outbox.refused, 1);

    // Once delivered, the same values import the rest.
    reporter.set_online(true);
    reporter
        .flush(Duration::from_secs(30))
        .await
        .expect("delivered");
    let again = reporter
        .import_async_storage(Some(&text), None)
        .expect("imported");
    assert_eq!(
        (again.created, again.unchanged),
        (50, cap as u32),
        "{again:?}"
    );
    reporter
        .flush(Duration::from_secs(30))
        .await
        .expect("delivered");
    assert_eq!(server_uploads(user.id).await.len(), cap + 50);
}
