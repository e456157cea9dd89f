//! supabase-js (npm, a client nobody here wrote) against the dev stack: `tests/js/contract.mjs`
//! signs in as the demo admin, refreshes, reads itself, uploads and downloads objects, reads
//! a signed URL and signs out, checking every answer.
//!
//! Needs Node.js and `npm ci --prefix tests/js` (`.ci/run` does both). Without them the test
//! says what to run and passes, except in CI (`CI` set), where their absence is a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::stack;
use upload_monitor::devstack::{DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD};

/// The script's folder (package.json, package-lock.json, node_modules).
fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}

/// True when node and the installed supabase-js are here; otherwise says so (and fails in CI).
fn node_or_skip() -> bool {
    let node = Command::new("node").arg("--version").output();
    let installed = js_dir()
        .join("node_modules/@supabase/supabase-js/package.json")
        .is_file();
    if matches!(&node, Ok(out) if out.status.success()) && installed {
        return true;
    }
    let why = format!(
        "needs Node.js 18+ and `npm ci --prefix {}` (node: {}, supabase-js installed: {installed})",
        js_dir().display(),
        node.map_or_else(|e| e.to_string(), |o| o.status.to_string()),
    );
    assert!(std::env::var_os("CI").is_none(), "in CI: {why}");
    eprintln!("supabase-js contract skipped: {why}");
    false
}

#[tokio::test]
async fn supabase_js_signs_in_refreshes_and_moves_objects_through_the_dev_stack() {
    if !node_or_skip() {
        return;
    }
    let stack = stack();
    stack.create_demo_admin().await.unwrap();
    let mut child = tokio::process::Command::new("node")
        .arg(js_dir().join("contract.mjs"))
        .current_dir(js_dir())
        .env("SUPABASE_URL", stack.api_url())
        .env("SUPABASE_ANON_KEY", stack.anon_key())
        .env("ADMIN_EMAIL", DEMO_ADMIN_EMAIL)
        .env("ADMIN_PASSWORD", DEMO_ADMIN_PASSWORD)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let read = |mut pipe: Box<dyn tokio::io::AsyncRead + Unpin + Send>| async move {
        let mut text = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut pipe, &mut text).await;
        text
    };
    let (out, err, status) = tokio::time::timeout(Duration::from_secs(120), async {
        let (out, err) = tokio::join!(read(Box::new(stdout)), read(Box::new(stderr)));
        (out, err, child.wait().await)
    })
    .await
    .expect("the script ends within 2 minutes");
    let status = status.unwrap();
    assert!(
        status.success(),
        "supabase-js contract failed ({status}):\n{out}\n{err}"
    );
    assert!(out.contains("all checks passed"), "{out}\n{err}");
}
