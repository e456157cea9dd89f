//! `kill -9` of a reporting process, again and again: after each kill a new reporter on the
//! same database recovers and delivers; at the end the server has every terminal event the
//! killed processes had been told was recorded, exactly once, and no upload left hanging.
//!
//! The child is this test binary run again with `SDK_CRASH_CHILD` set: it reports uploads in
//! a loop and appends a line to a journal after every `begin_upload`/`complete`/`fail` call
//! returns. Most kills land a random moment after the child's first upload began (so they hit
//! uploads in flight); every fifth lands blind, from the spawn (start-up, the first open).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::sdk::{engine, server_terminal_counts, server_uploads, ServerUpload, TestTokens};
use common::{stack, unique_email};
use monitor_sdk::engine::{NewUpload, INTERRUPTED_ERROR_CODE};
use monitor_sdk::monitor_core::UploadStage;
use upload_monitor::devstack::NewUser;

/// Kills the issue asks for.
const KILLS: usize = 50;

/// The child's environment: set only in the re-invoked process.
const CHILD_ENV: &str = "SDK_CRASH_CHILD";

/// A 4 MB video: progress reports in 64 KB steps make 64 callbacks per upload.
const SIZE: u64 = 4 * 1024 * 1024;
const STEP: u64 = 64 * 1024;

/// One run in this many is killed blind (from the spawn, not from its first upload).
const BLIND_EVERY: usize = 5;

/// How long a child may take to begin its first upload (a loaded CI machine).
const CHILD_START: Duration = Duration::from_secs(30);

/// One journal line: `{run} {upload id} {begin|complete|fail}`, written once the call
/// returned (the event is durable).
fn journal_line(journal: &mut std::fs::File, run: &str, id: uuid::Uuid, kind: &str) {
    // One write per line: a kill leaves at most the one line it cut short.
    journal
        .write_all(format!("{run} {id} {kind}\n").as_bytes())
        .expect("journal write");
}

/// The journal's whole lines, as `(run, upload, kind)`.
fn read_journal(journal: &Path) -> Vec<(usize, uuid::Uuid, String)> {
    std::fs::read_to_string(journal)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let mut parts = line.split(' ');
            let run = parts.next()?.parse().ok()?;
            let id = parts.next()?.parse().ok()?;
            let kind = parts.next()?;
            let whole = parts.next().is_none() && ["begin", "complete", "fail"].contains(&kind);
            whole.then(|| (run, id, kind.to_string()))
        })
        .collect()
}

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
    // The killed predecessor may have cut its last line short: start on a fresh one.
    journal.write_all(b"\n").expect("journal write");
    for n in 0.. {
        let id = reporter
            .begin_upload(NewUpload {
                local_id: format!("crash_{run}_{n}"),
                filename: format!("backup_{run}_{n}.mov"),
                file_size: Some(SIZE),
                ..NewUpload::default()
            })
            .expect("begin");
        journal_line(&mut journal, run, id, "begin");
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
        journal_line(&mut journal, run, id, kind);
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
    // The uploads each run's recovery reported interrupted.
    let mut recovered: Vec<Vec<uuid::Uuid>> = Vec::new();
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
        if run % BLIND_EVERY == 0 {
            // Somewhere between start-up and a few uploads in.
            std::thread::sleep(Duration::from_millis(rng.u64(5..250)));
        } else {
            // Somewhere in the first few uploads (each takes ~15 ms).
            let spawned = Instant::now();
            while !read_journal(&journal).iter().any(|(r, _, _)| *r == run) {
                assert!(
                    spawned.elapsed() < CHILD_START,
                    "run {run}: the child began no upload in {CHILD_START:?}"
                );
                std::thread::sleep(Duration::from_millis(2));
            }
            std::thread::sleep(Duration::from_millis(rng.u64(0..60)));
        }
        process.kill().expect("kill -9");
        process.wait().expect("reaped");
        let reporter = engine(stack.api_url(), stack.anon_key(), &db, tokens.clone());
        recovered.push(reporter.recover_after_restart().expect("recover"));
        reporter
            .flush(Duration::from_secs(30))
            .await
            .expect("delivered");
        reporter.shutdown().expect("shutdown");
    }
    let mid_upload = recovered.iter().filter(|ids| !ids.is_empty()).count();
    println!(
        "{KILLS} kills, {mid_upload} landed mid-upload, {:?}",
        started.elapsed()
    );

    let journal = read_journal(&journal);
    let claimed: Vec<(uuid::Uuid, String)> = journal
        .iter()
        .filter(|(_, _, kind)| kind != "begin")
        .map(|(_, id, kind)| (*id, kind.clone()))
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

    // Most kills cut an upload short (only a blind kill during start-up, or one between a
    // terminal report and the next begin, finds none running).
    assert!(
        mid_upload >= KILLS / 2,
        "only {mid_upload} of {KILLS} kills landed mid-upload (seed {seed})"
    );
    // Each cut-short upload was reported interrupted, once, and nothing else was.
    let all_recovered: Vec<uuid::Uuid> = recovered.iter().flatten().copied().collect();
    let mut interrupted: Vec<uuid::Uuid> = uploads
        .iter()
        .filter(|u| u.error_code.as_deref() == Some(INTERRUPTED_ERROR_CODE))
        .map(|u| u.id)
        .collect();
    interrupted.sort();
    let mut expected = all_recovered.clone();
    expected.sort();
    assert_eq!(
        interrupted, expected,
        "interrupted on the server (seed {seed})"
    );
    for id in &all_recovered {
        let fails = on_server
            .iter()
            .find(|(u, k, _)| u == id && k == "fail")
            .map_or(0, |(_, _, n)| *n);
        assert_eq!(fails, 1, "the interruption of {id} (seed {seed})");
        assert!(
            !claimed.iter().any(|(c, _)| c == id),
            "{id} was both finished and interrupted (seed {seed})"
        );
    }
    // Run by run: the server has the uploads the journal claims finished, the one the kill
    // cut short, and at most one more (finished, its journal line not yet written).
    for (run, cut) in recovered.iter().enumerate() {
        assert!(cut.len() <= 1, "run {run}: {cut:?} (seed {seed})");
        let prefix = format!("crash_{run}_");
        let mine: Vec<&ServerUpload> = uploads
            .iter()
            .filter(|u| u.local_id.starts_with(&prefix))
            .collect();
        assert!(
            cut.iter().all(|id| mine.iter().any(|u| u.id == *id)),
            "run {run}'s interrupted upload is not one of its own (seed {seed})"
        );
        let unaccounted = mine
            .iter()
            .filter(|u| !cut.contains(&u.id) && !claimed.iter().any(|(c, _)| *c == u.id))
            .count();
        assert!(
            unaccounted + cut.len() <= 1,
            "run {run}: {unaccounted} uploads neither claimed nor recovered (seed {seed})"
        );
    }
}
