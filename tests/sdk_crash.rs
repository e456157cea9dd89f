//! `kill -9` of a reporting process, again and again: after each kill a new reporter on the
//! same database recovers and delivers; at the end the server has every terminal event the
//! killed processes had been told was recorded, exactly once, and no upload left hanging.
//!
//! The child is this test binary run again with `SDK_CRASH_CHILD` set: it reports uploads in
//! a loop and appends a line to a journal after every `complete`/`fail` call returns.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::sdk::{engine, server_terminal_counts, server_uploads, TestTokens};
use common::{stack, unique_email};
use monitor_sdk::engine::NewUpload;
use monitor_sdk::monitor_core::UploadStage;
use upload_monitor::devstack::NewUser;

/// Kills the issue asks for.
const KILLS: usize = 50;

/// The child's environment: set only in the re-invoked process.
const CHILD_ENV: &str = "SDK_CRASH_CHILD";

/// A 4 MB video: progress reports in 64 KB steps make 64 callbacks per upload.
const SIZE: u64 = 4 * 1024 * 1024;
const STEP: u64 = 64 * 1024;

/// The child's body; a no-op in a normal test run.
#[test]
fn crash_child_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.split('\n').collect();
    let [api_url, anon_key, token, db, journal, run] = parts[..] else {
        panic!("bad child spec");
    };
    let reporter = engine(api_url, anon_key, Path::new(db), TestTokens::new(token));
    let mut journal = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(journal)
        .expect("journal");
    for n in 0.. {
        let id = reporter
            .begin_upload(NewUpload {
                local_id: format!("crash_{run}_{n}"),
                filename: format!("backup_{run}_{n}.mov"),
                file_size: Some(SIZE),
                ..NewUpload::default()
            })
            .expect("begin");
        reporter
            .report_stage(id, UploadStage::Uploading)
            .expect("stage");
        for sent in (0..=SIZE).step_by(STEP as usize) {
            reporter.report_progress(id, sent, SIZE).expect("progress");
            std::thread::sleep(Duration::from_micros(200));
        }
        let kind = if n % 3 == 2 {
            reporter
                .fail(id, "network", "connection reset", 0)
                .expect("fail");
            "fail"
        } else {
            reporter.complete(id, None).expect("complete");
            "complete"
        };
        // The call returned: the event is durable. Only now may the journal claim it.
        writeln!(journal, "{id} {kind}").expect("journal write");
    }
}

fn child(spec: &str) -> std::process::Child {
    Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "crash_child_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, spec)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the child starts")
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_reporter_at_random_points_loses_no_terminal_event_and_duplicates_none() {
    let stack = stack();
    let user = stack
        .create_user(&NewUser::new(unique_email("sdk-crash")))
        .await
        .expect("a user");
    let dir = tempfile::tempdir().expect("a temp dir");
    let db: PathBuf = dir.path().join("outbox.sqlite");
    let journal = dir.path().join("journal.txt");
    let seed = std::env::var("SDK_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("SDK_CRASH_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let started = Instant::now();
    let tokens = TestTokens::new(&user.access_token);
    let mut recovered = 0;
    for run in 0..KILLS {
        let spec = [
            stack.api_url(),
            stack.anon_key(),
            &user.access_token,
            &db.display().to_string(),
            &journal.display().to_string(),
            &run.to_string(),
        ]
        .join("\n");
        let mut process = child(&spec);
        // Somewhere between start-up and a few uploads in.
        std::thread::sleep(Duration::from_millis(rng.u64(5..250)));
        process.kill().expect("kill -9");
        process.wait().expect("reaped");
        let reporter = engine(stack.api_url(), stack.anon_key(), &db, tokens.clone());
        recovered += reporter.recover_after_restart().expect("recover").len();
        reporter
            .flush(Duration::from_secs(30))
            .await
            .expect("delivered");
        reporter.shutdown().expect("shutdown");
    }
    println!(
        "{KILLS} kills, {recovered} interrupted uploads recovered, {:?}",
        started.elapsed()
    );

    let claimed: Vec<(uuid::Uuid, String)> = std::fs::read_to_string(&journal)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (id, kind) = line.split_once(' ')?;
            Some((id.parse().ok()?, kind.to_string()))
        })
        .collect();
    let on_server = server_terminal_counts(user.id).await;
    for (id, kind) in &claimed {
        let count = on_server
            .iter()
            .find(|(u, k, _)| u == id && k == kind)
            .map_or(0, |(_, _, n)| *n);
        assert_eq!(count, 1, "{kind} of {id} (seed {seed})");
    }
    assert!(
        on_server.iter().all(|(_, _, n)| *n == 1),
        "a terminal event applied twice (seed {seed}): {on_server:?}"
    );
    let uploads = server_uploads(user.id).await;
    assert!(
        uploads
            .iter()
            .all(|u| u.status == "completed" || u.status == "failed"),
        "an upload left hanging (seed {seed})"
    );
    println!(
        "{} terminal events claimed by killed processes, {} uploads on the server",
        claimed.len(),
        uploads.len()
    );
    assert!(
        !claimed.is_empty(),
        "the children got far enough to finish uploads"
    );
}
