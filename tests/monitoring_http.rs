//! The admin monitoring RPCs over real HTTP through the dev stack, called with monitor-core's
//! typed client: an admin (or the service key) gets every answer in its documented shape; a
//! signed-in user is refused with 403 and anon with 401, whatever the function.

mod common;

use common::{rpc, stack, unique_email};
use monitor_core::client::{
    ClientError, ComparePeriod, MonitoringClient, RetryHint, TimelineEntryType, UploadFilter,
};
use monitor_core::monitoring::ItemOrigin;
use monitor_core::{UploadSource, UploadStatus};
use serde_json::json;
use upload_monitor::devstack::{NewUser, TestUser};
use uuid::Uuid;

/// Every monitoring RPC with arguments it accepts.
fn every_function() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        ("monitoring_snapshot", json!({})),
        ("monitoring_changes", json!({ "since": chrono::Utc::now() })),
        ("monitoring_uploads", json!({})),
        ("monitoring_user_profile", json!({ "user_id": Uuid::nil() })),
        (
            "monitoring_user_timeline",
            json!({ "user_id": Uuid::nil() }),
        ),
        ("monitoring_compare", json!({ "period": "day" })),
        ("monitoring_error_distribution", json!({})),
        ("monitoring_speed_over_time", json!({})),
        ("monitoring_evaluate_alert", json!({})),
    ]
}

async fn admin() -> (TestUser, MonitoringClient) {
    let stack = stack();
    let admin = stack
        .create_user(
            &NewUser::new(unique_email("admin"))
                .named("Ada", "Admin")
                .admin(),
        )
        .await
        .expect("an admin");
    let client = MonitoringClient::new(stack.api_url(), stack.anon_key(), &admin.access_token)
        .expect("a client");
    (admin, client)
}

/// An upload of `user` begun, progressed and (when `fail`) failed through the real ingest.
async fn report_upload(user: &TestUser, filename: &str, fail: bool) -> Uuid {
    common::report_upload(user, filename, "Été à Kyoto 🎌", fail.then_some(1)).await
}

#[tokio::test]
async fn an_admin_sees_a_users_upload_in_the_snapshot_with_email_name_and_staleness() {
    let (_, client) = admin().await;
    let user = stack()
        .create_user(&NewUser::new(unique_email("uploader")).named("Jean", "Dupont"))
        .await
        .expect("a user");
    let upload = report_upload(&user, "IMG_0001.MOV", false).await;

    let snapshot = client.snapshot().await.expect("an admin gets the snapshot");
    let card = snapshot
        .uploads
        .iter()
        .find(|c| c.id == upload)
        .expect("the active upload is listed");
    assert_eq!(card.status, UploadStatus::Uploading);
    assert_eq!(card.user_email.as_deref(), Some(user.email.as_str()));
    assert_eq!(card.user_first_name.as_deref(), Some("Jean"));
    assert_eq!(card.video_title.as_deref(), Some("Été à Kyoto 🎌"));
    assert_eq!((card.progress, card.upload_speed), (40, Some(1.5)));
    assert_eq!(card.origin, ItemOrigin::UploadQueue);
    assert!(!card.is_stale);
    assert!(card.elapsed_time.is_some_and(|s| s >= 0.0));
    assert!(snapshot.stats.uploads_in_progress >= 1);
    // Active uploads come before finished ones.
    let first_finished = snapshot
        .uploads
        .iter()
        .position(|c| c.status.is_terminal())
        .unwrap_or(snapshot.uploads.len());
    assert!(snapshot.uploads[..first_finished]
        .iter()
        .all(|c| !c.status.is_terminal()));

    // The change feed from the snapshot's cursor carries the upload's next change.
    let failed = report_upload(&user, "IMG_0002.MOV", true).await;
    let changes = client
        .changes(snapshot.cursor)
        .await
        .expect("an admin gets changes");
    assert!(!changes.resync);
    let card = changes
        .uploads
        .iter()
        .find(|c| c.id == failed)
        .expect("the new failure is a change");
    assert_eq!(card.status, UploadStatus::Failed);
    assert_eq!(card.error_code.as_deref(), Some("network"));
    assert!(changes.stats.uploads_failed_today >= 1);
}

#[tokio::test]
async fn filters_pages_profile_timeline_and_charts_answer_in_their_shapes() {
    let (_, client) = admin().await;
    let user = stack()
        .create_user(&NewUser::new(unique_email("filtered")).named("Zoé", "Ünal"))
        .await
        .expect("a user");
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(report_upload(&user, &format!("clip_{n}.mov"), n == 0).await);
    }

    // Email search (a distinctive part of the address), two pages of two.
    let filter = UploadFilter {
        email: Some(user.email[..20].to_uppercase()),
        page_size: Some(2),
        ..UploadFilter::default()
    };
    let first = client.uploads(&filter, None).await.expect("page 1");
    assert_eq!(first.items.len(), 2);
    let second = client
        .uploads(&filter, first.next_cursor)
        .await
        .expect("page 2");
    let mut seen: Vec<Uuid> = first
        .items
        .iter()
        .chain(&second.items)
        .map(|c| c.id)
        .collect();
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids, "keyset pages cover every row once");

    let failed_only = UploadFilter {
        email: Some(user.email.clone()),
        status: Some(UploadStatus::Failed),
        ..UploadFilter::default()
    };
    let page = client.uploads(&failed_only, None).await.expect("a page");
    assert_eq!(page.items.len(), 1);
    assert!(page.next_cursor.is_none());

    // Source: one of the three becomes an import (the app's other kind of upload).
    let db = stack().connect().await.expect("a database connection");
    db.execute(
        "update public.upload_queue set source = 'imported' where id = $1",
        &[&ids[1]],
    )
    .await
    .expect("one import");
    let by_source = |source| UploadFilter {
        email: Some(user.email.clone()),
        source: Some(source),
        ..UploadFilter::default()
    };
    let imported = client
        .uploads(&by_source(UploadSource::Imported), None)
        .await
        .expect("imports");
    assert_eq!(
        imported.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![ids[1]]
    );
    let recorded = client
        .uploads(&by_source(UploadSource::Recorded), None)
        .await
        .expect("recordings");
    assert_eq!(recorded.items.len(), 2);

    // Date range: [from, to) around the rows' start (server time), then a window after it.
    let started: chrono::DateTime<chrono::Utc> = db
        .query_one(
            "select max(started_at) from public.upload_queue where id = any($1)",
            &[&ids],
        )
        .await
        .expect("start times")
        .get(0);
    let window = |from, to| UploadFilter {
        email: Some(user.email.clone()),
        started_from: Some(from),
        started_to: Some(to),
        ..UploadFilter::default()
    };
    let minute = chrono::Duration::minutes(1);
    let around = client
        .uploads(&window(started - minute, started + minute), None)
        .await
        .expect("in the window");
    assert_eq!(around.items.len(), 3);
    let after = client
        .uploads(&window(started + minute, started + minute * 2), None)
        .await
        .expect("after the window");
    assert!(after.items.is_empty());
    let up_to_start = client
        .uploads(&window(started - minute, started), None)
        .await
        .expect("up to the start, exclusive");
    assert!(
        up_to_start
            .items
            .iter()
            .all(|c| c.started_at.is_some_and(|s| s < started)),
        "started_to is exclusive"
    );

    let profile = client.user_profile(user.id).await.expect("a profile");
    assert_eq!(profile.profile.email.as_deref(), Some(user.email.as_str()));
    assert_eq!((profile.uploads.total, profile.uploads.failed), (3, 1));
    assert_eq!(profile.recent_uploads.len(), 3);

    let timeline = client
        .user_timeline(user.id, None, 100)
        .await
        .expect("a timeline");
    assert!(timeline.entries.iter().any(
        |e| e.entry_type == TimelineEntryType::UploadEvent && e.kind.as_deref() == Some("fail")
    ));

    let comparison = client.compare(ComparePeriod::Week).await.expect("compare");
    assert!(comparison.current.uploads_started >= 3);
    assert!(comparison.previous.to <= comparison.current.from + chrono::Duration::days(7));
    let distribution = client.error_distribution(24).await.expect("distribution");
    assert!(distribution.uploads.iter().any(|s| s.key == "network"));
    let buckets = client.speed_over_time(24, 60).await.expect("buckets");
    assert!((24..=26).contains(&buckets.len()), "{}", buckets.len());
    let alert = client.evaluate_alert(0, 10).await.expect("an evaluation");
    assert!(alert.triggered && alert.failures >= 1 && !alert.latest.is_empty());
}

#[tokio::test]
async fn the_service_key_is_an_admin_too() {
    let stack = stack();
    let client = MonitoringClient::with_service_key(stack.api_url(), stack.service_role_key())
        .expect("a client");
    client
        .snapshot()
        .await
        .expect("the service key reads the snapshot");
}

#[tokio::test]
async fn a_signed_in_user_is_forbidden_every_monitoring_function() {
    let stack = stack();
    let user = stack
        .create_user(&NewUser::new(unique_email("curious")))
        .await
        .expect("a user");
    for (function, args) in every_function() {
        let response = rpc(
            stack.api_url(),
            function,
            stack.anon_key(),
            Some(&user.access_token),
            &args,
        )
        .await;
        assert_eq!(response.status, 403, "{function}: {:?}", response.body);
        assert_eq!(response.body["code"], "42501", "{function}");
    }
    let client = MonitoringClient::new(stack.api_url(), stack.anon_key(), &user.access_token)
        .expect("a client");
    let error = client.snapshot().await.expect_err("a user is refused");
    assert!(matches!(error, ClientError::Forbidden { .. }), "{error:?}");
    assert_eq!(error.retry_hint(), RetryHint::DoNotRetry);
}

#[tokio::test]
async fn anon_is_unauthenticated_for_every_monitoring_function() {
    let stack = stack();
    for (function, args) in every_function() {
        let response = rpc(stack.api_url(), function, stack.anon_key(), None, &args).await;
        assert_eq!(response.status, 401, "{function}: {:?}", response.body);
    }
    let client = MonitoringClient::new(stack.api_url(), stack.anon_key(), stack.anon_key())
        .expect("a client");
    let error = client.snapshot().await.expect_err("anon is refused");
    assert!(matches!(error, ClientError::Auth { .. }), "{error:?}");
    assert_eq!(error.retry_hint(), RetryHint::AfterReauthentication);
}

#[tokio::test]
async fn bad_arguments_and_unknown_users_are_typed_errors() {
    let (_, client) = admin().await;
    let too_big = UploadFilter {
        page_size: Some(101),
        ..UploadFilter::default()
    };
    let error = client.uploads(&too_big, None).await.expect_err("101 rows");
    assert!(
        matches!(error, ClientError::InvalidInput { .. }),
        "{error:?}"
    );
    let error = client.snapshot_with(0).await.expect_err("0 cards");
    assert!(
        matches!(error, ClientError::InvalidInput { .. }),
        "{error:?}"
    );
    let error = client
        .user_profile(Uuid::new_v4())
        .await
        .expect_err("nobody");
    assert!(matches!(error, ClientError::NotFound { .. }), "{error:?}");
    let error = client
        .call::<serde_json::Value>("monitoring_nonexistent", json!({}))
        .await
        .expect_err("no such function");
    assert!(matches!(error, ClientError::NotFound { .. }), "{error:?}");

    let dead = MonitoringClient::new("http://127.0.0.1:9", "k", "t").expect("a client");
    let error = dead
        .snapshot()
        .await
        .expect_err("nothing listens on port 9");
    assert!(matches!(error, ClientError::Network(_)), "{error:?}");
    assert_eq!(error.retry_hint(), RetryHint::Retry { after: None });
}

/// The worst rows a service-role writer can still create, in every table the monitoring reads
/// (issue 12, item 1): the app's tables have no constraints (infinite, far-future and BC times,
/// 1 MB texts, JSON of every type with a 1e400 and 150 levels of nesting), and upload_queue
/// holds what its constraints allow (no start or update time, completion before start, odd
/// metadata). Returns O (a reporting user) and P (a Phase 1 user with only videos).
async fn insert_the_worst_rows(db: &tokio_postgres::Client) -> (TestUser, TestUser) {
    let stack = stack();
    let o = stack
        .create_user(&NewUser::new(unique_email("odd")).named("O", "Odd"))
        .await
        .expect("user O");
    let p = stack
        .create_user(&NewUser::new(unique_email("phase1-odd")).named("P", "Odd"))
        .await
        .expect("user P");
    let sql = r#"
      create temp table if not exists big as
        select repeat('é', 1048576) as mb, repeat('[', 150) || repeat(']', 150) as deep,
               '1' || repeat('0', 400) as huge;
      update public.profiles set email = email || (select mb from big),
             first_name = (select mb from big), created_at = 'infinity', updated_at = '-infinity'
        where id = $1;
      insert into public.videos (user_id, title, file_path, metadata, created_at, updated_at)
      select $2, big.mb, '', '{}', 'infinity', 'infinity' from big
      union all select $2, 't', '', ('{"uploadFailed": true, "uploadError": "' || big.mb
                                     || '", "n": ' || big.huge || '}')::jsonb,
                       now() - interval '1 minute', now() from big
      union all select $2, 't', 'https://x/videos/a.mov', big.deep::jsonb, now(), now() from big
      union all select $2, 't', '', '"a string"', '200000-01-01', '0044-03-15 00:00:00+00 BC'
      from big;
      insert into public.transcription_jobs (video_id, status, error_message, transcript_text,
                                             transcript_highlight, created_at, updated_at)
      select v.id, 'failed', big.mb, big.mb, ('[' || big.huge || ']')::jsonb, now(), 'infinity'
      from big, public.videos v where v.user_id = $2;
      insert into public.bug_reports (user_id, user_email, error_type, error_message,
                                      error_stack, severity, device_info, metadata, created_at)
      select $1, big.mb, 'network', 'upload ' || big.mb, big.mb, 'critical', big.deep::jsonb,
             big.huge::jsonb, at
      from big, unnest(array[now(), 'infinity', '200000-01-01']::timestamptz[]) at;
      insert into public.upload_queue (user_id, local_id, filename, status, stage, progress,
                                       metadata, started_at, completed_at, updated_at,
                                       error_message)
      values ($1, 'odd-1', 'a.mov', 'failed', 'uploading', 10, '"a string"', null, now(), now(),
              repeat('m', 4000)),
             ($1, 'odd-2', 'b.mov', 'completed', 'validating', 30,
              ('{"duration": ' || (select huge from big) || '}')::jsonb,
              now() - interval '1 hour', now() - interval '2 hours', now(), null),
             ($1, 'odd-3', 'c.mov', 'uploading', 'uploading', 50, (select deep from big)::jsonb,
              now() - interval '40 minutes', null, null, null);
    "#;
    // One transaction; the ids are our own users' (UUIDs), written into the SQL.
    let sql = sql
        .replace("$1", &format!("'{}'::uuid", o.id))
        .replace("$2", &format!("'{}'::uuid", p.id));
    db.batch_execute(&format!("begin; {sql} commit; drop table big;"))
        .await
        .unwrap_or_else(|e| panic!("inserting the worst rows: {e:?}"));
    (o, p)
}

#[tokio::test]
async fn the_typed_client_reads_every_answer_despite_the_worst_rows_a_writer_can_create() {
    let (_, client) = admin().await;
    let db = stack().connect().await.expect("a database connection");
    let since = chrono::Utc::now() - chrono::Duration::seconds(60);
    let (o, p) = insert_the_worst_rows(&db).await;

    let snapshot = client.snapshot().await.expect("the snapshot parses");
    assert!(
        snapshot
            .upload_errors
            .iter()
            .any(|c| c.user_id == Some(p.id)
                && c.error_message
                    .as_ref()
                    .is_some_and(|m| m.chars().count() == 4000)),
        "the flagged video with a 1 MB message and a 1e400 is shown, its message cut"
    );
    assert!(
        snapshot
            .recent_bugs
            .iter()
            .filter(|b| b.user_id == Some(o.id))
            .all(|b| b.created_at.is_some()),
        "bug reports dated infinity or year 200000 are not recent"
    );
    let changes = client.changes(since).await.expect("the change feed parses");
    assert!(!changes.resync);
    assert!(changes.bugs.iter().any(|b| b.user_id == Some(o.id)));

    let mine = UploadFilter {
        email: Some(o.email.clone()),
        ..UploadFilter::default()
    };
    let page = client
        .uploads(&mine, None)
        .await
        .expect("the uploads parse");
    assert_eq!(page.items.len(), 3, "every odd upload of O is listed");
    let no_start = page
        .items
        .iter()
        .find(|c| c.local_id.as_deref() == Some("odd-1"))
        .expect("the upload with no start time");
    assert_eq!((no_start.started_at, no_start.elapsed_time), (None, None));
    let no_update = page
        .items
        .iter()
        .find(|c| c.local_id.as_deref() == Some("odd-3"))
        .expect("the upload with no update time");
    assert!(!no_update.is_stale && no_update.metadata.is_none());

    let profile = client.user_profile(o.id).await.expect("O's profile parses");
    assert_eq!(profile.profile.created_at, None);
    assert_eq!(
        profile.profile.email.as_ref().map(|e| e.chars().count()),
        Some(320)
    );
    client.user_profile(p.id).await.expect("P's profile parses");
    client
        .user_timeline(o.id, None, 100)
        .await
        .expect("O's timeline parses");
    client.compare(ComparePeriod::Day).await.expect("compare");
    client
        .error_distribution(168)
        .await
        .expect("the distribution parses");
    client.speed_over_time(168, 60).await.expect("the speeds");
    let alert = client.evaluate_alert(0, 10080).await.expect("the alert");
    assert!(alert.failures >= 1);
    for card in &page.items {
        client
            .call::<serde_json::Value>("monitoring_upload_log", json!({ "upload_id": card.id }))
            .await
            .expect("each upload's log parses");
    }

    // Other tests of this binary share the stack: the odd rows go.
    db.batch_execute(&format!(
        "delete from public.bug_reports where user_id = '{o}';
         delete from public.upload_queue where user_id = '{o}';
         delete from public.videos where user_id = '{p}';",
        o = o.id,
        p = p.id
    ))
    .await
    .expect("the odd rows deleted");
}

#[tokio::test]
async fn keyset_pages_reach_every_upload_once_even_those_without_a_start_time() {
    let (_, client) = admin().await;
    let user = stack()
        .create_user(&NewUser::new(unique_email("unstarted")))
        .await
        .expect("a user");
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(report_upload(&user, &format!("clip_{n}.mov"), false).await);
    }
    // A service-role writer left two of them without a start time (the column is nullable).
    let db = stack().connect().await.expect("a database connection");
    db.execute(
        "update public.upload_queue set started_at = null where id = any($1)",
        &[&ids[1..3].to_vec()],
    )
    .await
    .expect("two start times gone");

    let filter = UploadFilter {
        email: Some(user.email.clone()),
        page_size: Some(2),
        ..UploadFilter::default()
    };
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..10 {
        let page = client.uploads(&filter, cursor).await.expect("a page");
        seen.extend(page.items.iter().map(|c| (c.id, c.started_at)));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut got: Vec<Uuid> = seen.iter().map(|(id, _)| *id).collect();
    got.sort();
    ids.sort();
    assert_eq!(got, ids, "every upload once");
    let first_unstarted = seen
        .iter()
        .position(|(_, at)| at.is_none())
        .expect("an upload without a start time");
    assert_eq!(
        first_unstarted, 3,
        "the uploads without a start time come last"
    );
    assert!(seen[first_unstarted..].iter().all(|(_, at)| at.is_none()));
}
