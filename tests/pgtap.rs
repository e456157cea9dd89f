//! The pgTAP suite (`migrations/tests/*.sql`, the files `supabase test db` runs) against the
//! dev stack's PostgreSQL, through `pg_prove`; and the migrations' own idempotence.

mod common;

use std::path::{Path, PathBuf};
use tokio::process::Command;

use common::stack;
use tokio::sync::Mutex;

/// Both tests use the one stack of this binary: re-applying migrations while pg_prove runs
/// would race `create or replace function` against the suite, so they take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

fn migrations_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations")
}

/// `migrations/<dir>/*.sql` in name order (the order they are applied or run in).
fn sql_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn the_pgtap_suite_passes_against_the_dev_stack() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let stack = stack();
    let client = stack.connect().await.expect("a superuser connection");
    // The test files create it too (in `extensions`, as on Supabase); creating it here gives
    // a clear message when the package is missing instead of five failing files.
    client
        .batch_execute("create extension if not exists pgtap with schema extensions")
        .await
        .expect("pgTAP is installed (apt-get install postgresql-15-pgtap)");

    let files = sql_files(&migrations_dir().join("tests"));
    assert!(!files.is_empty(), "no pgTAP files in migrations/tests");
    let output = Command::new("pg_prove")
        .args(["-h", "127.0.0.1", "-p", &stack.db_port().to_string()])
        .args(["-U", "postgres", "-d", "postgres"])
        // Failures print their diagnostics; passing files stay one line each.
        .arg("--failures")
        .args(&files)
        .output()
        .await
        .expect("pg_prove runs (apt-get install libtap-parser-sourcehandler-pgtap-perl)");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "pg_prove failed:\n{report}");
    assert!(
        report.contains("All tests successful"),
        "pg_prove said:\n{report}"
    );
}

#[tokio::test]
async fn the_migrations_apply_a_second_time_as_a_no_op() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let stack = stack();
    let client = stack.connect().await.expect("a superuser connection");
    let snapshot = "select count(*) from pg_policies where schemaname = 'public'
                    union all select count(*) from pg_indexes where schemaname = 'public'
                    union all select count(*) from pg_trigger where not tgisinternal
                    union all select count(*) from public.monitor_settings";
    let before: Vec<i64> = client
        .query(snapshot, &[])
        .await
        .expect("the schema's shape")
        .iter()
        .map(|row| row.get(0))
        .collect();
    // Straight SQL, not the dev stack's version table: the files themselves must be
    // re-runnable, as `supabase db push` on a project that already has some of it.
    for file in sql_files(&migrations_dir()) {
        let sql = std::fs::read_to_string(&file).expect("a readable migration");
        client
            .batch_execute(&sql)
            .await
            .unwrap_or_else(|e| panic!("re-applying {}: {e:?}", file.display()));
    }
    let after: Vec<i64> = client
        .query(snapshot, &[])
        .await
        .expect("the schema's shape")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        before, after,
        "policies, indexes, triggers and settings rows are unchanged by a second apply"
    );
}
