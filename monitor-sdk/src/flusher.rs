//! The background task that drains the outbox to `report_upload_events`: batching, the one
//! match that sorts HTTP outcomes, backoff with full jitter, token refresh, dead letters.

use std::sync::Arc;
use std::time::Duration;

use monitor_core::client::transport::Answer;
use monitor_core::client::ClientError;
use monitor_core::{EventOutcome, IngestResponse};
use reqwest::StatusCode;
use tokio::time::Instant;
use uuid::Uuid;

use crate::foreign::LogLevel;
use crate::isolation::{Isolation, Scope, Verdict};
use crate::outbox::{Filter, PendingEvent, Settlement};
use crate::policy::{FlushPolicy, ISOLATE_AFTER_SERVER_ERRORS};
use crate::shared::{lock, Shared};

/// What one POST of a batch came to.
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    /// The server answered with its per-event verdicts.
    Delivered(IngestResponse),
    /// Worth retrying the same batch later: network error, timeout, 408, 429, or an answer
    /// that is not the documented one.
    Recoverable {
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
        /// For the log and `health().last_error`.
        why: String,
    },
    /// 5xx: the server failed. Usually transient, so retried; but a batch that fails this
    /// way again and again may be what breaks the server, and is isolated (see
    /// [`crate::isolation`]). Never a reason to dead-letter.
    ServerError {
        /// The status code.
        status: u16,
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
        /// For the log.
        why: String,
    },
    /// 401: the token is invalid or expired (`PGRST301`/`PGRST303`), or there is none.
    TokenRejected {
        /// For the log.
        why: String,
    },
    /// The server refused the batch itself: 413 (too large), or 400 with PostgREST's error
    /// body (a malformed event). Split until the refused event is alone, then dead-letter it.
    BatchRefused {
        /// The status code.
        status: u16,
        /// For the log.
        why: String,
    },
    /// Any other 4xx, and a 400 without PostgREST's error body: something about the app's
    /// configuration or the server's (`report_upload_events` missing: 404; an oversized token
    /// or anon key: 431, or a proxy's bare 400; no grant: 403). Nothing is wrong with the
    /// events: they are kept and retried with backoff, and `health()` says why.
    Misconfigured {
        /// The status code.
        status: u16,
        /// What to check, for the log and `health()`.
        why: String,
    },
}

/// Sorts a POST's result into a [`SendOutcome`]: the one place that decides what is retried,
/// what is dead-lettered and what is held back. The answer comes from monitor-core's
/// PostgREST [`Transport`](monitor_core::client::transport::Transport) (which reads `Retry-After` in both its forms) and the failure is
/// its [`ClientError`], so the match below is over the same kinds the monitoring client
/// returns.
///
/// | result | outcome |
/// | --- | --- |
/// | network error, timeout | `Recoverable` |
/// | 2xx with the documented JSON | `Delivered` |
/// | 2xx with anything else | `Recoverable` (a proxy's error page; try again) |
/// | 401 | `TokenRejected` |
/// | 408, 429 | `Recoverable`, with `Retry-After` |
/// | 5xx | `ServerError`, with `Retry-After` |
/// | 413; 400 with a PostgREST error body | `BatchRefused` |
/// | other 4xx; 400 without a PostgREST body | `Misconfigured` |
/// | anything else (1xx, 3xx) | `Recoverable` |
///
/// Only `BatchRefused` (once split down to one event) and the server's per-event verdicts
/// ever dead-letter an event.
pub fn classify(result: Result<Answer, ClientError>) -> SendOutcome {
    let answer = match result {
        Ok(answer) => answer,
        Err(error) => {
            return SendOutcome::Recoverable {
                retry_after: None,
                why: format!("request failed: {error}"),
            }
        }
    };
    let status = answer.status;
    if status.is_success() {
        return match serde_json::from_slice::<IngestResponse>(&answer.body) {
            Ok(response) => SendOutcome::Delivered(response),
            Err(e) => SendOutcome::Recoverable {
                retry_after: None,
                why: format!("HTTP {status} with an unexpected body ({e})"),
            },
        };
    }
    let text = answer.text(200);
    let error = answer.into_error();
    let code = error
        .body()
        .and_then(|body| body.code.clone())
        .unwrap_or_default();
    match error {
        ClientError::Auth { .. } => SendOutcome::TokenRejected {
            why: format!("HTTP 401 {code}"),
        },
        ClientError::Server {
            status: 408 | 429,
            retry_after,
            ..
        } => SendOutcome::Recoverable {
            retry_after,
            why: format!("HTTP {status} {code}"),
        },
        ClientError::Server {
            status: code_500 @ 500..=599,
            retry_after,
            ..
        } => SendOutcome::ServerError {
            status: code_500,
            retry_after,
            why: format!("HTTP {status} {code}"),
        },
        // PostgREST's own 400 (a malformed event) or a 413: the batch, not the setup.
        ClientError::InvalidInput { body }
            if status == StatusCode::PAYLOAD_TOO_LARGE
                || (status == StatusCode::BAD_REQUEST && body.code.is_some()) =>
        {
            SendOutcome::BatchRefused {
                status: status.as_u16(),
                why: format!("HTTP {status} {text}"),
            }
        }
        _ if status.is_client_error() => SendOutcome::Misconfigured {
            status: status.as_u16(),
            why: format!("HTTP {status} {code}: {}", configuration_hint(status)),
        },
        _ => SendOutcome::Recoverable {
            retry_after: None,
            why: format!("HTTP {status}"),
        },
    }
}

/// What to check for a status that says the request, not the batch, is wrong.
fn configuration_hint(status: StatusCode) -> &'static str {
    match status.as_u16() {
        404 => "report_upload_events was not found: are the migrations applied, and is supabase_url the project's?",
        431 => "the request headers are too large: check the access token and the anon key",
        400 => "refused before reaching the API (no PostgREST error): check supabase_url, the anon key and the token's size",
        403 => "not allowed: check the grants on report_upload_events and the token's role",
        405 | 406 | 415 => "this URL does not serve PostgREST's RPC: check supabase_url",
        _ => "the server refuses every request: check its configuration and the reporter's",
    }
}

/// One backoff sequence: failures in a row, and the instant before which nothing it gates is
/// sent.
#[derive(Debug, Default)]
struct Gate {
    /// Failed sends in a row (the backoff exponent).
    attempt: u32,
    /// Not before this instant.
    retry_at: Option<Instant>,
}

impl Gate {
    fn is_open(&self, now: Instant) -> bool {
        self.retry_at.is_none_or(|at| at <= now)
    }

    /// One more failure: the next try waits a backoff. Returns the retry number and delay.
    fn fail(&mut self, policy: &FlushPolicy, retry_after: Option<Duration>) -> (u32, Duration) {
        self.attempt = self.attempt.saturating_add(1);
        let delay = policy.backoff(self.attempt, retry_after);
        self.retry_at = Some(Instant::now() + delay);
        (self.attempt, delay)
    }
}

/// The flusher's memory between rounds.
struct Round {
    /// Failures of requests for uploads that are not parked (open batches, suspects): every
    /// request waits for it, so a server that is down gets one request per backoff.
    gate: Gate,
    /// Failures of parked uploads' probes in a row: probes wait for it too, so uploads
    /// parked during an outage do not multiply the requests; open batches do not, so a
    /// poisoned upload never slows the others.
    probe_gate: Gate,
    /// A refused batch being split: its scope and the events per POST, halved while the
    /// server refuses, until the bad event is alone.
    split: Option<(Scope, usize)>,
    /// A fresh token was asked for since the last backoff.
    refreshed: bool,
    /// The token to use instead of asking the app (right after a refresh).
    token: Option<String>,
    /// Uploads the server keeps failing on, set aside.
    isolation: Isolation,
}

impl Round {
    /// Events per POST for `scope`.
    fn limit(&self, scope: Scope, max: usize) -> usize {
        match self.split {
            Some((split, n)) if split == scope => n,
            _ => max,
        }
    }

    /// Whether `scope` is a parked upload's probe.
    fn is_probe(&self, scope: Scope) -> bool {
        matches!(scope, Scope::Alone(upload) if self.isolation.is_parked(&upload))
    }
}

/// How long a restarted flusher waits after a panic: a bug that panics on every round must
/// not spin a phone's CPU.
const RESTART_AFTER_PANIC: Duration = Duration::from_secs(5);

/// Runs [`run`] until the reporter shuts down, starting it again after a panic: the outbox
/// is the truth and survives any round, so a fresh flusher picks up where the last one died,
/// and nothing stops delivery for the rest of the process.
pub(crate) async fn supervise(shared: Arc<Shared>) {
    use futures_util::FutureExt;
    loop {
        let round = std::panic::AssertUnwindSafe(run(shared.clone())).catch_unwind();
        if round.await.is_ok() || shared.signals.is_shut() {
            return;
        }
        shared.log(
            LogLevel::Error,
            "the flusher panicked; restarting it (nothing is lost: the outbox is the truth)",
        );
        tokio::time::sleep(RESTART_AFTER_PANIC).await;
    }
}

/// Runs until the reporter shuts down.
pub(crate) async fn run(shared: Arc<Shared>) {
    let mut round = Round {
        gate: Gate::default(),
        probe_gate: Gate::default(),
        split: None,
        refreshed: false,
        token: None,
        isolation: Isolation::default(),
    };
    // A restarted flusher starts with nothing parked: say so.
    publish_parked(&shared, &round);
    loop {
        if shared.signals.is_shut() {
            return;
        }
        let tick = match shared.persist_coalesced(false) {
            Ok(true) => Some(COALESCED_TICK),
            Ok(false) => None,
            Err(error) => {
                shared.log(
                    LogLevel::Error,
                    format!("writing held-back progress: {error}"),
                );
                Some(COALESCED_TICK)
            }
        };
        if !shared.signals.is_online() {
            shared.signals.idle(tick).await;
            continue;
        }
        if shared.signals.take_retry_now() {
            round.gate = Gate::default();
            round.probe_gate = Gate::default();
        }
        let now = Instant::now();
        if let Some(at) = round.gate.retry_at {
            if now < at {
                let wait = at - now;
                shared
                    .signals
                    .idle(Some(tick.map_or(wait, |t| t.min(wait))))
                    .await;
                continue;
            }
            round.gate.retry_at = None;
            round.refreshed = false;
        }
        let scope = round
            .isolation
            .next_scope(now, round.probe_gate.is_open(now));
        let parked = round.isolation.parked();
        let limit = round.limit(scope, shared.policy.batch_max_events);
        let batch = {
            let mut outbox = lock(&shared.outbox);
            let max_age =
                i64::try_from(shared.policy.max_event_age.as_millis()).unwrap_or(i64::MAX);
            let now_ms = chrono::Utc::now().timestamp_millis();
            let expired = outbox.expire(max_age, now_ms);
            let filter = match scope {
                Scope::Open => Filter::Excluding(&parked),
                Scope::Alone(upload) => Filter::Only(upload),
            };
            let batch = outbox.peek_in(limit, filter);
            (batch, outbox.take_quarantined(), expired)
        };
        let (batch, quarantined, expired) = batch;
        // Outside the outbox lock, and to the app too: these events are lost for good.
        match expired {
            Ok(0) => {}
            Ok(n) => {
                shared.signals.settled();
                shared.log(
                    LogLevel::Error,
                    format!(
                        "{n} unsent event(s) older than {} s never delivered: moved to the dead letters by the age cap (max_event_age_seconds)",
                        shared.policy.max_event_age.as_secs()
                    ),
                );
            }
            Err(error) => shared.log(LogLevel::Error, format!("age cap: {error}")),
        }
        if quarantined > 0 {
            // Outside the outbox lock: the app's logger may be slow.
            shared.signals.settled();
            shared.log(
                LogLevel::Error,
                format!("{quarantined} unreadable outbox row(s) quarantined to the dead letters"),
            );
        }
        let batch = match batch {
            Ok(batch) if batch.is_empty() => {
                if let Scope::Alone(upload) = scope {
                    // Nothing of it left (delivered, expired): it is neither suspect nor
                    // parked any more.
                    if round.isolation.delivered(scope) {
                        released(&shared, &round, upload, "nothing of it is left to send");
                    }
                    continue;
                }
                shared.signals.idle(next_probe_wait(&round, tick)).await;
                continue;
            }
            Ok(batch) => batch,
            Err(error) => {
                shared.log(LogLevel::Error, format!("reading the outbox: {error}"));
                fail(&shared, &mut round, scope, None, &error.to_string());
                continue;
            }
        };
        let token = match round.token.take() {
            Some(token) => Some(token),
            None => shared.delivery.token(false).await,
        };
        let outcome = match token {
            Some(token) => {
                let body = batch_body(&batch);
                classify(
                    shared
                        .delivery
                        .post("report_upload_events", body, &token)
                        .await,
                )
            }
            None => SendOutcome::TokenRejected {
                why: "no access token".into(),
            },
        };
        handle(&shared, &mut round, scope, &batch, outcome).await;
    }
}

/// How often coalesced progress is looked at while some waits (see engine).
const COALESCED_TICK: Duration = Duration::from_millis(250);

/// How long an idle flusher with nothing open to send may sleep: until the coalesced tick,
/// or the next parked upload's probe (None: until woken).
fn next_probe_wait(round: &Round, tick: Option<Duration>) -> Option<Duration> {
    let probe_at = round
        .isolation
        .next_probe_at()
        .map(|at| round.probe_gate.retry_at.map_or(at, |gate| at.max(gate)));
    let probe = probe_at.map(|at| {
        at.saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    });
    match (tick, probe) {
        (Some(t), Some(p)) => Some(t.min(p)),
        (t, p) => t.or(p),
    }
}

/// Acts on one outcome: the one `match` over [`SendOutcome`].
async fn handle(
    shared: &Arc<Shared>,
    round: &mut Round,
    scope: Scope,
    batch: &[PendingEvent],
    outcome: SendOutcome,
) {
    match outcome {
        SendOutcome::Delivered(response) => {
            // The server answered: whatever held events back is over. Said before the rows
            // leave, so nobody sees an empty outbox with a stale problem.
            let probe = round.is_probe(scope);
            if round.isolation.delivered(scope) {
                if let Scope::Alone(upload) = scope {
                    released(shared, round, upload, "the server accepted its events");
                }
            }
            clear_configuration_problem(shared);
            let settlements = settlements(shared, batch, &response);
            let now_ms = chrono::Utc::now().timestamp_millis();
            // Bound first: in an `if let` scrutinee the guard would live through the block,
            // and `fail` takes the outbox lock again (a self-deadlock on a failed settle).
            let settled = lock(&shared.outbox).settle(&settlements, now_ms);
            if let Err(error) = settled {
                shared.log(LogLevel::Error, format!("recording delivery: {error}"));
                fail(shared, round, scope, None, &error.to_string());
                return;
            }
            round.gate = Gate::default();
            if probe {
                round.probe_gate = Gate::default();
            }
            round.refreshed = false;
            if round.split.is_some_and(|(split, _)| split == scope) {
                round.split = None;
            }
            shared.signals.settled();
            shared.set_server_interval(response.min_progress_interval_ms);
        }
        SendOutcome::Recoverable { retry_after, why } => {
            fail(shared, round, scope, retry_after, &why);
        }
        SendOutcome::ServerError {
            status,
            retry_after,
            why,
        } => {
            // A 503, or any answer with Retry-After, says "busy", not "this batch breaks me".
            let about_the_batch = status != 503 && retry_after.is_none();
            if about_the_batch && !round.is_probe(scope) {
                let uploads = uploads_in(batch);
                let head = batch.first().map_or(0, |e| e.position);
                let verdict = round.isolation.server_error(
                    scope,
                    head,
                    &uploads,
                    Instant::now(),
                    &shared.policy,
                );
                isolation_news(shared, round, &verdict, batch, &why);
            }
            fail(shared, round, scope, retry_after, &why);
        }
        SendOutcome::TokenRejected { why } => {
            if round.refreshed {
                fail(shared, round, scope, None, &why);
            } else {
                round.refreshed = true;
                shared.log(
                    LogLevel::Info,
                    format!("{why}: asking the app for a fresh token"),
                );
                round.token = shared.delivery.token(true).await;
            }
        }
        SendOutcome::BatchRefused { status, why } => {
            if batch.len() > 1 {
                // Halve until the event the server refuses is alone, so one bad event does
                // not take 499 good ones to the dead-letter table.
                round.split = Some((scope, (batch.len() / 2).max(1)));
                shared.log(
                    LogLevel::Warn,
                    format!("{why}: retrying in smaller batches"),
                );
            } else {
                let now_ms = chrono::Utc::now().timestamp_millis();
                let dead: Vec<Settlement> = batch
                    .iter()
                    .map(|e| Settlement::DeadLetter(e.position, format!("http_{status}")))
                    .collect();
                shared.log(LogLevel::Warn, format!("{why}: event dead-lettered"));
                // Bound first, so the app's logger never runs under the outbox lock.
                let settled = lock(&shared.outbox).settle(&dead, now_ms);
                if let Err(error) = settled {
                    shared.log(LogLevel::Error, format!("dead-lettering: {error}"));
                }
                shared.signals.settled();
                round.split = None;
            }
        }
        SendOutcome::Misconfigured { why, .. } => {
            let new = shared.signals.configuration_problem(&why);
            if new {
                let waiting = lock(&shared.outbox).stats().map_or(0, |s| s.pending_events);
                shared.log(
                    LogLevel::Error,
                    format!(
                        "configuration problem: {why}; {waiting} event(s) kept and retried with backoff"
                    ),
                );
            }
            // After the log: a flush waiting on this wakes to return the problem.
            shared.signals.settled();
            fail(shared, round, scope, None, &why);
        }
    }
}

/// The uploads of `batch`, in the order of their first event.
fn uploads_in(batch: &[PendingEvent]) -> Vec<Uuid> {
    let mut seen = std::collections::HashSet::with_capacity(batch.len());
    batch
        .iter()
        .map(|e| e.upload_id)
        .filter(|u| seen.insert(*u))
        .collect()
}

/// Logs what a counted server error led to and publishes a newly parked upload.
fn isolation_news(
    shared: &Shared,
    round: &Round,
    verdict: &Verdict,
    batch: &[PendingEvent],
    why: &str,
) {
    match verdict {
        Verdict::Counting(_) | Verdict::StillParked(_) => {}
        Verdict::Suspects(n) => shared.log(
            LogLevel::Warn,
            format!(
                "{why} {ISOLATE_AFTER_SERVER_ERRORS} times in a row on one batch: sending its {n} uploads one by one to find the one the server fails on"
            ),
        ),
        Verdict::Parked(upload) => {
            let events = batch.iter().filter(|e| e.upload_id == *upload).count();
            publish_parked(shared, round);
            shared.log(
                LogLevel::Error,
                format!(
                    "upload {upload} isolated: the server answered {why} {ISOLATE_AFTER_SERVER_ERRORS} times in a row to its events alone; its events ({events} in the last request) are kept and retried on their own backoff while the other uploads go on"
                ),
            );
        }
    }
}

/// Publishes and logs that a parked upload is back in the open batches.
fn released(shared: &Shared, round: &Round, upload: Uuid, why: &str) {
    publish_parked(shared, round);
    shared.log(
        LogLevel::Info,
        format!("upload {upload} is no longer isolated: {why}"),
    );
}

/// Makes the parked set visible to `health()` and `flush()`, and wakes a waiting flush.
fn publish_parked(shared: &Shared, round: &Round) {
    shared.signals.publish_parked(round.isolation.parked());
}

/// A delivery went through: whatever configuration problem there was is solved.
fn clear_configuration_problem(shared: &Shared) {
    let solved = shared.signals.take_configuration_problem();
    if let Some(problem) = solved {
        shared.log(
            LogLevel::Info,
            format!("configuration problem solved ({problem}): delivering again"),
        );
    }
}

/// Per-event verdicts to outbox settlements; events missing from the answer stay.
fn settlements(
    shared: &Shared,
    batch: &[PendingEvent],
    response: &IngestResponse,
) -> Vec<Settlement> {
    let verdicts: std::collections::HashMap<uuid::Uuid, EventOutcome> =
        response.results.iter().map(|v| (v.id, v.outcome)).collect();
    let mut out = Vec::with_capacity(batch.len());
    for event in batch {
        match verdicts.get(&event.event_id) {
            Some(EventOutcome::Applied) => out.push(Settlement::Delivered(event.position)),
            Some(EventOutcome::Duplicate | EventOutcome::Superseded) => {
                out.push(Settlement::AlreadyThere(event.position));
            }
            Some(EventOutcome::Rejected(reason)) => {
                shared.log(
                    LogLevel::Warn,
                    format!("event {} rejected: {}", event.event_id, reason.as_str()),
                );
                out.push(Settlement::DeadLetter(
                    event.position,
                    reason.as_str().to_string(),
                ));
            }
            None => shared.log(
                LogLevel::Warn,
                format!("no verdict for event {}; it will be resent", event.event_id),
            ),
        }
    }
    out
}

/// Schedules the next attempt after a failure of `scope` and remembers the error for
/// `health()`: a parked upload's probe waits on its own backoff and the probes' gate,
/// anything else on the main gate.
fn fail(
    shared: &Shared,
    round: &mut Round,
    scope: Scope,
    retry_after: Option<Duration>,
    why: &str,
) {
    let (attempt, delay) = match scope {
        Scope::Alone(upload) if round.isolation.is_parked(&upload) => {
            round
                .isolation
                .probe_failed(upload, Instant::now(), &shared.policy);
            round.probe_gate.fail(&shared.policy, retry_after)
        }
        _ => round.gate.fail(&shared.policy, retry_after),
    };
    round.token = None;
    shared.log(
        LogLevel::Warn,
        format!(
            "delivery failed ({why}); retry {attempt} in {} ms",
            delay.as_millis()
        ),
    );
    // Bound first, so the app's logger never runs under the outbox lock.
    let noted = lock(&shared.outbox).note_error(why);
    if let Err(error) = noted {
        shared.log(
            LogLevel::Error,
            format!("recording the delivery error: {error}"),
        );
    }
}

/// `{"events":[...]}` from the stored JSON, without parsing it again.
fn batch_body(batch: &[PendingEvent]) -> String {
    let size = batch.iter().map(|e| e.body.len() + 1).sum::<usize>() + 12;
    let mut body = String::with_capacity(size);
    body.push_str("{\"events\":[");
    for (i, event) in batch.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&event.body);
    }
    body.push_str("]}");
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    fn answer(status: u16, body: &str) -> Result<Answer, ClientError> {
        Ok(Answer::new(
            StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT),
            &HeaderMap::new(),
            body.to_string(),
        ))
    }

    #[test]
    fn a_retry_after_given_as_an_http_date_delays_the_retry_until_that_date() {
        // RFC 9110 lets a server answer `Retry-After: <HTTP-date>`; the flusher used to read
        // only delay-seconds and retried at once, on its own backoff.
        let at = std::time::SystemTime::now() + Duration::from_secs(120);
        let mut headers = HeaderMap::new();
        let date = HeaderValue::from_str(&httpdate::fmt_http_date(at)).unwrap();
        headers.insert(RETRY_AFTER, date);
        for status in [
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::SERVICE_UNAVAILABLE,
        ] {
            let outcome = classify(Ok(Answer::new(status, &headers, "")));
            let retry_after = match outcome {
                SendOutcome::Recoverable { retry_after, .. }
                | SendOutcome::ServerError { retry_after, .. } => retry_after,
                other => panic!("{status}: {other:?}"),
            };
            let wait = retry_after.expect("the date is read as a wait");
            // Whole seconds in the header, and the test's own run time.
            assert!(
                wait > Duration::from_secs(110) && wait <= Duration::from_secs(120),
                "{status}: {wait:?}"
            );
        }
    }

    #[test]
    fn server_errors_and_throttling_are_retried_with_retry_after() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        let outcome = classify(Ok(Answer::new(StatusCode::TOO_MANY_REQUESTS, &headers, "")));
        assert_eq!(
            outcome,
            SendOutcome::Recoverable {
                retry_after: Some(Duration::from_secs(7)),
                why: "HTTP 429 Too Many Requests ".into()
            }
        );
        assert!(matches!(
            classify(answer(408, "")),
            SendOutcome::Recoverable { .. }
        ));
        for status in [500, 502, 503] {
            assert!(matches!(
                classify(answer(status, "")),
                SendOutcome::ServerError { status: s, .. } if s == status
            ));
        }
        let refused = ClientError::Config("connection refused".into());
        assert!(matches!(
            classify(Err(refused)),
            SendOutcome::Recoverable { .. }
        ));
    }

    #[test]
    fn an_expired_token_asks_for_a_refresh_and_other_client_errors_are_refused() {
        let expired = r#"{"code":"PGRST303","message":"JWT expired"}"#;
        assert!(matches!(
            classify(answer(401, expired)),
            SendOutcome::TokenRejected { why } if why.contains("PGRST303")
        ));
        assert!(matches!(
            classify(answer(400, r#"{"code":"22023"}"#)),
            SendOutcome::BatchRefused { status: 400, .. }
        ));
    }

    #[test]
    fn only_the_servers_own_400_and_413_refuse_the_batch_other_4xx_are_configuration() {
        let postgrest = r#"{"code":"22023","message":"events[0] must be an object"}"#;
        assert!(matches!(
            classify(answer(400, postgrest)),
            SendOutcome::BatchRefused { status: 400, .. }
        ));
        assert!(matches!(
            classify(answer(413, "<html>Request Entity Too Large</html>")),
            SendOutcome::BatchRefused { status: 413, .. }
        ));
        let missing = r#"{"code":"PGRST202","message":"Could not find the function"}"#;
        for (status, body, hint) in [
            (404, missing, "report_upload_events"),
            (431, "", "token"),
            (
                400,
                "<html>Request Header Or Cookie Too Large</html>",
                "token",
            ),
            (403, r#"{"code":"42501"}"#, "grants"),
            (405, "", "supabase_url"),
        ] {
            let outcome = classify(answer(status, body));
            assert!(
                matches!(&outcome, SendOutcome::Misconfigured { status: s, why }
                    if *s == status && why.contains(hint)),
                "{status}: {outcome:?}"
            );
        }
    }

    #[test]
    fn a_success_without_the_documented_body_is_retried_not_acknowledged() {
        assert!(matches!(
            classify(answer(200, "<html>captive portal</html>")),
            SendOutcome::Recoverable { .. }
        ));
        let ok = r#"{"results":[],"min_progress_interval_ms":1000}"#;
        assert!(matches!(
            classify(answer(200, ok)),
            SendOutcome::Delivered(_)
        ));
    }

    #[test]
    fn the_batch_body_is_the_stored_json_in_order() {
        let batch: Vec<PendingEvent> = (1..=2)
            .map(|i| PendingEvent {
                position: i,
                event_id: uuid::Uuid::from_u128(i as u128),
                upload_id: uuid::Uuid::from_u128(0xaa),
                body: format!("{{\"n\":{i}}}"),
            })
            .collect();
        assert_eq!(batch_body(&batch), r#"{"events":[{"n":1},{"n":2}]}"#);
    }
}
