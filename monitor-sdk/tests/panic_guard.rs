//! No panic crosses the FFI boundary, and the app's own code cannot make the SDK lose a report:
//! a logger that panics mid-call (as a foreign logger that throws does) costs the call nothing,
//! and the reporter keeps working, its locks intact. Panics inside the SDK's own code are
//! turned into `ReporterError::Internal` by the guard every export runs in (unit tests in
//! `src/reporter.rs`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use monitor_sdk::{
    LogLevel, ReporterConfig, ReporterError, ReporterLogger, TokenProvider, UploadReporter,
};

struct NoToken;

impl TokenProvider for NoToken {
    fn access_token(&self) -> Option<String> {
        None
    }

    fn refresh_access_token(&self) -> Option<String> {
        None
    }
}

/// Panics on the log lines of one upload, like a buggy app logger; counts them.
#[derive(Default)]
struct PanickyLogger {
    panics: AtomicUsize,
}

impl ReporterLogger for PanickyLogger {
    fn log(&self, _level: LogLevel, message: String) {
        if message.contains("local_id=boom") {
            self.panics.fetch_add(1, Ordering::SeqCst);
            panic!("the app's logger crashed");
        }
    }
}

#[test]
fn a_logger_that_panics_mid_call_costs_no_report_and_the_reporter_stays_usable() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let db = dir.path().join("outbox.sqlite");
    let config = ReporterConfig::new("http://127.0.0.1:9", "anon", &db.display().to_string());
    let logger = Arc::new(PanickyLogger::default());
    let reporter =
        UploadReporter::with_token_provider(config, Arc::new(NoToken), Some(logger.clone()))
            .expect("the reporter opens");
    reporter.set_online(false);
    let boom = reporter
        .begin_upload("boom".into(), None, "b.mov".into(), Some(10), None, None)
        .expect("the logger's panic is not the caller's error");
    assert!(
        logger.panics.load(Ordering::SeqCst) >= 1,
        "the logger did panic"
    );
    reporter
        .complete(boom, None)
        .expect("complete after the panic");
    let id = reporter
        .begin_upload(
            "import_1_0".into(),
            None,
            "a.mov".into(),
            Some(10),
            None,
            None,
        )
        .expect("still usable after the panic");
    reporter
        .report_progress(id.clone(), 5, 10)
        .expect("progress");
    reporter.complete(id, None).expect("complete");
    assert_eq!(reporter.list_uploads().expect("list").len(), 2);
    assert!(reporter.health().expect("health").pending_events >= 4);
}

#[test]
fn malformed_ids_and_unusable_configs_are_typed_errors() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let bad_url = ReporterConfig::new(
        "ftp://x",
        "anon",
        &dir.path().join("a.sqlite").display().to_string(),
    );
    assert!(matches!(
        UploadReporter::with_token_provider(bad_url, Arc::new(NoToken), None),
        Err(ReporterError::InvalidConfig { field, .. }) if field == "supabase_url"
    ));
    let no_dir = ReporterConfig::new("http://127.0.0.1:9", "anon", "/nonexistent/dir/x.sqlite");
    assert!(matches!(
        UploadReporter::with_token_provider(no_dir, Arc::new(NoToken), None),
        Err(ReporterError::Storage { .. })
    ));
    let ok = ReporterConfig::new(
        "http://127.0.0.1:9",
        "anon",
        &dir.path().join("b.sqlite").display().to_string(),
    );
    let reporter = UploadReporter::with_token_provider(ok, Arc::new(NoToken), None).expect("opens");
    reporter.set_online(false);
    assert!(matches!(
        reporter.report_progress("not-a-uuid".into(), 1, 2),
        Err(ReporterError::InvalidArgument { .. })
    ));
    assert!(matches!(
        reporter.complete(uuid_v7(), Some("nope".into())),
        Err(ReporterError::InvalidArgument { .. })
    ));
    assert!(matches!(
        reporter.retry(uuid_v7()),
        Err(ReporterError::Rejected {
            rule: monitor_sdk::RuleViolation::UnknownUpload,
            ..
        })
    ));
}

fn uuid_v7() -> String {
    // Any id the reporter never issued.
    "0192a7b0-0000-7000-8000-0000000000ff".into()
}
