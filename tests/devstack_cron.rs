//! pg_cron in the dev stack: the migrations schedule the stale sweep (every minute) and the
//! 7-day cleanup (daily), and the sweep marks a silent upload failed by itself, with no call
//! from the test.
//!
//! Both need pg_cron (Debian's `postgresql-<version>-cron`, `.ci/run` installs it). Without it they say so
//! and pass, except in CI (`CI` set), where a missing pg_cron is a failure.

mod common;

use std::time::{Duration, Instant};

use common::{report_upload, stack, unique_email};
use upload_monitor::devstack::{pg_cron_package, NewUser};

/// How long pg_cron may take to run a job past its threshold: its every-minute schedule, plus
/// a margin for a loaded CI machine.
const SWEEP_DEADLINE: Duration = Duration::from_secs(60 + 20);

/// False (with a message) when the dev stack has no pg_cron and we are not in CI.
fn pg_cron_or_skip(test: &str) -> bool {
    if stack().has_pg_cron() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: pg_cron is missing in CI; install {}",
        pg_cron_package()
    );
    eprintln!(
        "{test}: skipped, pg_cron is not installed (apt-get install {})",
        pg_cron_package()
    );
    false
}

#[tokio::test]
async fn the_migrations_schedule_the_stale_sweep_every_minute_and_the_cleanup_daily() {
    if !pg_cron_or_skip("schedule") {
        return;
    }
    let db = stack().connect().await.unwrap();
    let jobs: Vec<(String, String, String)> = db
        .query(
            "select jobname, schedule, command from cron.job where active order by jobname",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        jobs,
        vec![
            (
                "cleanup-upload-queue".to_string(),
                "0 2 * * *".to_string(),
                "select public.cleanup_old_upload_queue()".to_string()
            ),
            (
                "mark-stale-uploads".to_string(),
                "* * * * *".to_string(),
                "select private.mark_stale_uploads_by_setting()".to_string()
            ),
        ]
    );
}

#[tokio::test]
async fn a_silent_upload_is_marked_failed_by_the_scheduled_sweep_within_a_minute() {
    if !pg_cron_or_skip("sweep") {
        return;
    }
    let db = stack().connect().await.unwrap();
    // A short threshold instead of 30 minutes: the job reads it at each run. This binary's
    // stack serves only these tests, so no other upload is swept by it.
    db.execute(
        "update public.monitor_settings set stale_after = interval '3 seconds'",
        &[],
    )
    .await
    .unwrap();
    let user = stack()
        .create_user(&NewUser::new(unique_email("cron")))
        .await
        .unwrap();
    let upload = report_upload(&user, "silent.mp4", "Silent", None).await;
    let silent_since = Instant::now();
    let threshold = Duration::from_secs(3);
    loop {
        let row = db
            .query_one(
                "select status, coalesce(error_code, '') from public.upload_queue where id = $1",
                &[&upload],
            )
            .await
            .unwrap();
        let (status, code): (String, String) = (row.get(0), row.get(1));
        if status == "failed" {
            assert_eq!(code, "stale");
            let late = silent_since.elapsed().saturating_sub(threshold);
            eprintln!(
                "marked stale {:.1} s after its threshold",
                late.as_secs_f64()
            );
            break;
        }
        assert!(
            silent_since.elapsed() < threshold + SWEEP_DEADLINE,
            "still {status} {:?} after going silent: the scheduled sweep did not run \
             (cron.job_run_details says: {:?})",
            silent_since.elapsed(),
            db.query(
                "select status, return_message from cron.job_run_details \
                 order by runid desc limit 3",
                &[]
            )
            .await
            .map(|rows| rows
                .iter()
                .map(|r| (r.get::<_, Option<String>>(0), r.get::<_, Option<String>>(1)))
                .collect::<Vec<_>>())
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let logged: i64 = db
        .query_one(
            "select count(*) from public.upload_events where upload_id = $1 and kind = 'stale'",
            &[&upload],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(logged, 1, "the sweep logs one stale event");
}
