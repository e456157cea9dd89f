//! The plans of the dashboard's polled RPCs stay on their indexes in a long-lived session
//! (issue 12, item 6).
//!
//! PL/pgSQL caches each statement's plan per session and, from the sixth execution on, may
//! switch to a generic plan (planned without the parameters' values). The dashboard polls
//! `monitoring_changes` every second on one pooled session, so whatever generic plan a
//! statement may switch to is the plan it runs from then on. At 1M rows, the admin's change
//! feed went from ~20 ms to ~260 ms that way (one generic plan read all of `upload_queue`).
//! Whether and when PostgreSQL switches depends on its estimates, so this test does not wait
//! for it: it forces the generic plans (`plan_cache_mode = force_generic_plan`) on a dataset
//! large enough for a sequential scan to be a real cost, and checks, through auto_explain, that
//! no statement inside the RPCs reads a table sequentially: for an admin's JWT (RLS on) and for
//! the service key. Timings are the benchmark's (`examples/monitoring_bench.rs`), not a test's.

mod common;

use common::stack;
use futures_util::StreamExt;
use tokio_postgres::{AsyncMessage, Client, NoTls};

/// The tables the monitoring reads, as auto_explain names their scans.
const TABLES: [&str; 6] = [
    "upload_queue",
    "upload_events",
    "videos",
    "transcription_jobs",
    "bug_reports",
    "profiles",
];

/// 100,000 uploads (and videos, a third as many jobs, 20,000 bug reports, 1,000 users) over
/// seven days: a sequential scan costs hundreds of pages, so a plan that picks one is a plan
/// that would pick it at any size. Statistics are taken after the load, as in a settled
/// database.
async fn seed(db: &Client) {
    db.batch_execute(
        "insert into auth.users (id, email)
         select md5('plans-user' || i)::uuid, 'plans-' || i || '@plans.test'
         from generate_series(1, 1000) i;
         insert into public.profiles (id, email)
         select md5('plans-user' || i)::uuid, 'plans-' || i || '@plans.test'
         from generate_series(1, 1000) i;
         insert into public.upload_queue (user_id, local_id, filename, status, stage, progress,
                                          video_id, started_at, completed_at, updated_at)
         select md5('plans-user' || (1 + i % 1000))::uuid, 'plans-' || i, 'IMG_' || i || '.MOV',
                case when i % 100 = 0 then 'uploading' when i % 30 = 0 then 'failed'
                     else 'completed' end,
                'uploading', 50, null, t, case when i % 100 <> 0 then t end, t
         from generate_series(1, 100000) i,
              lateral (select now() - (i % 10080) * interval '1 minute' as t) x;
         insert into public.videos (user_id, title, file_path, metadata, created_at, updated_at)
         select md5('plans-user' || (1 + i % 1000))::uuid, 'Vidéo ' || i,
                case when i % 50 = 0 then '' else 'https://x/videos/' || i || '.mov' end,
                case when i % 40 = 0 then '{\"uploadFailed\": true}'::jsonb
                     else '{\"isRecorded\": true}'::jsonb end,
                now() - (i % 10080) * interval '1 minute', now() - (i % 10080) * interval '1 minute'
         from generate_series(1, 100000) i;
         insert into public.transcription_jobs (video_id, status, error_message, created_at,
                                                updated_at)
         select id, case when title like '%13' then 'failed' else 'completed' end,
                'AssemblyAI: audio vide', created_at, updated_at
         from public.videos where title like '%3' or title like '%6' or title like '%9';
         insert into public.bug_reports (user_id, error_message, severity, error_type, created_at)
         select md5('plans-user' || (1 + i % 1000))::uuid, 'Error ' || (i % 40), 'medium',
                'network', now() - (i % 10080) * interval '1 minute'
         from generate_series(1, 20000) i;",
    )
    .await
    .expect("the dataset");
    // A statement of its own: VACUUM cannot run in the implicit transaction of a batch.
    db.batch_execute("vacuum analyze")
        .await
        .expect("statistics");
}

/// A superuser connection whose notices (auto_explain's plans) are collected.
async fn connect_collecting_notices() -> (Client, std::sync::mpsc::Receiver<String>) {
    let (client, mut connection) = tokio_postgres::connect(stack().db_url(), NoTls)
        .await
        .expect("a connection");
    let (tx, rx) = std::sync::mpsc::channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notice(notice) = message {
                let _ = tx.send(notice.message().to_string());
            }
        }
    });
    (client, rx)
}

/// The plans of every statement run inside `calls`, in a session of `role` with `claims`,
/// generic plans forced.
async fn generic_plans(role: &str, claims: &str, calls: &[&str]) -> Vec<String> {
    let (session, notices) = connect_collecting_notices().await;
    session
        .batch_execute(&format!(
            "load 'auto_explain';
             set auto_explain.log_min_duration = 0;
             set auto_explain.log_nested_statements = on;
             set auto_explain.log_level = notice;
             set client_min_messages = notice;
             select set_config('request.jwt.claims', '{claims}', false);
             set role {role};
             set plan_cache_mode = force_generic_plan;"
        ))
        .await
        .expect("the session");
    for call in calls {
        session.batch_execute(call).await.expect("the RPC answers");
    }
    // The notices of a statement arrive before its answer; the last ones are in the channel.
    drop(session);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    notices.try_iter().collect()
}

/// The plans (or their lines) that read one of [`TABLES`] sequentially.
fn sequential_scans(plans: &[String]) -> Vec<String> {
    plans
        .iter()
        .filter(|plan| {
            TABLES
                .iter()
                .any(|table| plan.contains(&format!("Seq Scan on {table} ")))
        })
        .cloned()
        .collect()
}

#[tokio::test]
async fn the_polled_rpcs_read_no_table_sequentially_even_with_generic_plans() {
    let db = stack().connect().await.expect("a superuser connection");
    seed(&db).await;
    // A busy second: 300 uploads report, 30 jobs finish, so every statement of the change
    // feed has rows to read.
    db.batch_execute(
        "update public.upload_queue set progress = progress + 1
         where id in (select id from public.upload_queue where status = 'uploading' limit 300);
         update public.transcription_jobs set status = 'completed'
         where id in (select id from public.transcription_jobs where status = 'failed' limit 30);",
    )
    .await
    .expect("a busy second");
    let calls = [
        "select public.monitoring_changes(now() - interval '2 seconds')",
        "select public.monitoring_snapshot()",
    ];
    for (role, claims) in [
        (
            "authenticated",
            r#"{"sub":"aeaeaeae-0000-4000-8000-0000000000ae","role":"authenticated","app_metadata":{"role":"admin"}}"#,
        ),
        ("service_role", r#"{"role":"service_role"}"#),
    ] {
        let plans = generic_plans(role, claims, &calls).await;
        assert!(
            plans.len() > 20,
            "{role}: auto_explain logged the statements inside the RPCs ({} plans)",
            plans.len()
        );
        let scans = sequential_scans(&plans);
        assert!(
            scans.is_empty(),
            "{role}: generic plans that read a table sequentially:\n{}",
            scans.join("\n\n")
        );
    }
}
