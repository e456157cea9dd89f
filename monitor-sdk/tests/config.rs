//! Configuration that would void the SDK's guarantees (nothing survives a restart, every
//! event dead-lettered before it is sent, a retry loop that spins, a panic in the rate
//! limiter) is refused when the reporter is built, with an error naming the field and the
//! range it accepts.

use std::sync::Arc;

use monitor_sdk::{ReporterConfig, ReporterError, TokenProvider, UploadReporter};

struct NoToken;

impl TokenProvider for NoToken {
    fn access_token(&self) -> Option<String> {
        None
    }

    fn refresh_access_token(&self) -> Option<String> {
        None
    }
}

/// A valid config on a fresh file in `dir`; nothing is ever sent (port 9 is discard).
fn valid(dir: &tempfile::TempDir, name: &str) -> ReporterConfig {
    let path = dir.path().join(name).display().to_string();
    ReporterConfig::new("http://127.0.0.1:9", "anon", &path)
}

#[test]
fn settings_that_void_the_guarantees_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().expect("a temp dir");
    type Change = fn(&mut ReporterConfig);
    let cases: [(&str, Change); 13] = [
        ("database_path", |c| c.database_path = String::new()),
        ("database_path", |c| c.database_path = ":memory:".into()),
        ("database_path", |c| c.database_path = "   ".into()),
        ("anon_key", |c| c.anon_key = String::new()),
        ("max_event_age_seconds", |c| {
            c.max_event_age_seconds = Some(0)
        }),
        ("retry_base_ms", |c| c.retry_base_ms = Some(0)),
        ("retry_max_ms", |c| c.retry_max_ms = Some(0)),
        ("min_progress_interval_ms", |c| {
            c.min_progress_interval_ms = Some(u64::MAX)
        }),
        ("request_timeout_ms", |c| c.request_timeout_ms = Some(0)),
        ("max_pending_events", |c| c.max_pending_events = Some(0)),
        ("max_pending_bytes", |c| c.max_pending_bytes = Some(0)),
        ("batch_max_events", |c| c.batch_max_events = Some(100_000)),
        ("retry_max_ms", |c| {
            // Below the first retry's ceiling: the backoff would never grow.
            c.retry_base_ms = Some(10_000);
            c.retry_max_ms = Some(1_000);
        }),
    ];
    for (n, (field, change)) in cases.into_iter().enumerate() {
        let mut config = valid(&dir, &format!("case_{n}.sqlite"));
        change(&mut config);
        let opened = UploadReporter::with_token_provider(config.clone(), Arc::new(NoToken), None);
        let error = match opened {
            Ok(reporter) => {
                let _ = reporter.shutdown();
                panic!("case {n}: {config:?} was accepted; {field} should be refused");
            }
            Err(error) => error,
        };
        let text = error.to_string();
        assert!(
            text.contains(field),
            "case {n}: the error does not name {field}: {text}"
        );
        assert!(
            matches!(&error, ReporterError::InvalidConfig { field: f, allowed, .. }
                if f == field && !allowed.is_empty()),
            "case {n}: {error:?}"
        );
    }
}

#[test]
fn the_defaults_and_the_documented_bounds_are_accepted() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let reporter = UploadReporter::with_token_provider(
        valid(&dir, "defaults.sqlite"),
        Arc::new(NoToken),
        None,
    )
    .expect("the defaults are valid");
    reporter.shutdown().expect("shutdown");
    let mut edges = valid(&dir, "edges.sqlite");
    edges.min_progress_interval_ms = Some(1_000);
    edges.max_event_age_seconds = Some(3_600);
    edges.retry_base_ms = Some(10);
    edges.retry_max_ms = Some(250);
    edges.batch_max_events = Some(1);
    edges.request_timeout_ms = Some(1_000);
    let reporter = UploadReporter::with_token_provider(edges, Arc::new(NoToken), None)
        .expect("the bounds are valid");
    reporter.shutdown().expect("shutdown");
}
