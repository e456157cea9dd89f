//! The background task that drains the outbox to `report_upload_events`: batching, the one
//! match that sorts HTTP outcomes, backoff with full jitter, token refresh, dead letters.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use monitor_core::{EventOutcome, IngestResponse};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use tokio::time::Instant;

use crate::engine::{lock, Shared};
use crate::error::SdkError;
use crate::foreign::LogLevel;
use crate::outbox::{PendingEvent, Settlement};

/// What one POST of a batch came to.
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    /// The server answered with its per-event verdicts.
    Delivered(IngestResponse),
    /// Worth retrying the same batch later: network error, timeout, 408, 429, 5xx, or an
    /// answer that is not the documented one.
    Recoverable {
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
        /// For the log and `health().last_error`.
        why: String,
    },
    /// 401: the token is invalid or expired (`PGRST301`/`PGRST303`), or there is none.
    TokenRejected {
        /// For the log.
        why: String,
    },
    /// Another 4xx: the batch itself is refused; retrying it unchanged would fail forever.
    BatchRefused {
        /// The status code.
        status: u16,
        /// For the log.
        why: String,
    },
}

/// A raw HTTP answer: status, headers, body.
pub type RawResponse = (StatusCode, HeaderMap, String);

/// Sorts an HTTP result into a [`SendOutcome`]: the one place that decides what is retried.
///
/// | result | outcome |
/// | --- | --- |
/// | network error, timeout | `Recoverable` |
/// | 2xx with the documented JSON | `Delivered` |
/// | 2xx with anything else | `Recoverable` (a proxy's error page; try again) |
/// | 401 | `TokenRejected` |
/// | 408, 429, 5xx | `Recoverable`, with `Retry-After` |
/// | other 4xx | `BatchRefused` |
/// | anything else (1xx, 3xx) | `Recoverable` |
///
/// ```
/// use monitor_sdk::flusher::{classify, SendOutcome};
/// use reqwest::{header::HeaderMap, StatusCode};
/// let outcome = classify(Ok((StatusCode::TOO_MANY_REQUESTS, HeaderMap::new(), String::new())));
/// assert!(matches!(outcome, SendOutcome::Recoverable { .. }));
/// ```
pub fn classify(result: Result<RawResponse, String>) -> SendOutcome {
    match result {
        Err(why) => SendOutcome::Recoverable {
            retry_after: None,
            why,
        },
        Ok((status, _, body)) if status.is_success() => {
            match serde_json::from_str::<IngestResponse>(&body) {
                Ok(response) => SendOutcome::Delivered(response),
                Err(e) => SendOutcome::Recoverable {
                    retry_after: None,
                    why: format!("HTTP {status} with an unexpected body ({e})"),
                },
            }
        }
        Ok((StatusCode::UNAUTHORIZED, _, body)) => SendOutcome::TokenRejected {
            why: format!("HTTP 401 {}", error_code(&body).unwrap_or_default()),
        },
        Ok((status, headers, body))
            if status == StatusCode::REQUEST_TIMEOUT
                || status == StatusCode::TOO_MANY_REQUESTS
                || status.is_server_error() =>
        {
            SendOutcome::Recoverable {
                retry_after: retry_after(&headers),
                why: format!("HTTP {status} {}", error_code(&body).unwrap_or_default()),
            }
        }
        Ok((status, _, body)) if status.is_client_error() => SendOutcome::BatchRefused {
            status: status.as_u16(),
            why: format!("HTTP {status} {}", shorten(&body)),
        },
        Ok((status, _, _)) => SendOutcome::Recoverable {
            retry_after: None,
            why: format!("HTTP {status}"),
        },
    }
}

/// PostgREST's error `code` (`PGRST301`, `22023`...), when the body has one.
fn error_code(body: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()?
        .get("code")?
        .as_str()
        .map(str::to_string)
}

/// `Retry-After` in seconds (the HTTP-date form is rare on APIs and is ignored).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

fn shorten(text: &str) -> String {
    text.chars().take(200).collect()
}

/// POSTs `body` to `rpc/{function}` with the current token.
async fn post(
    shared: &Shared,
    function: &str,
    body: String,
    token: &str,
) -> Result<RawResponse, String> {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let response = shared
        .http
        .post(format!("{}/{function}", shared.rpc_base))
        .header("apikey", &shared.anon_key)
        .header("content-type", "application/json")
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status();
    let headers = response.headers().clone();
    let text = response
        .text()
        .await
        .map_err(|e| format!("reading the answer failed: {e}"))?;
    Ok((status, headers, text))
}

/// The app's current token (a foreign call, kept off the async worker's hot loop).
async fn current_token(shared: &Arc<Shared>, refresh: bool) -> Option<String> {
    let provider = shared.token.clone();
    tokio::task::spawn_blocking(move || {
        if refresh {
            provider.refresh_access_token()
        } else {
            provider.access_token()
        }
    })
    .await
    .ok()
    .flatten()
}

/// One RPC call outside the outbox (e.g. `pending_retry_requests`), with one token refresh
/// on 401. Returns the body of a 2xx answer.
///
/// # Errors
///
/// [`SdkError::Network`] with the status or the transport error.
pub(crate) async fn call_rpc(
    shared: &Arc<Shared>,
    function: &str,
    args: &str,
) -> Result<String, SdkError> {
    let mut refresh = false;
    loop {
        let token = current_token(shared, refresh).await.unwrap_or_default();
        match post(shared, function, args.to_string(), &token).await {
            Ok((status, _, body)) if status.is_success() => return Ok(body),
            Ok((StatusCode::UNAUTHORIZED, _, _)) if !refresh => refresh = true,
            Ok((status, _, body)) => {
                return Err(SdkError::Network(format!(
                    "HTTP {status} {}",
                    shorten(&body)
                )))
            }
            Err(why) => return Err(SdkError::Network(why)),
        }
    }
}

/// The flusher's memory between rounds.
struct Round {
    /// Failed sends in a row (backoff exponent).
    attempt: u32,
    /// Not before this instant (backoff).
    retry_at: Option<Instant>,
    /// Events per POST: halved while a batch is refused, to isolate the bad event.
    batch_limit: usize,
    /// A fresh token was asked for since the last backoff.
    refreshed: bool,
    /// The token to use instead of asking the app (right after a refresh).
    token: Option<String>,
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
        if round.await.is_ok() || shared.shut.load(Ordering::Relaxed) {
            return;
        }
        tracing::error!("the flusher panicked; restarting it");
        tokio::time::sleep(RESTART_AFTER_PANIC).await;
    }
}

/// Runs until the reporter shuts down.
pub(crate) async fn run(shared: Arc<Shared>) {
    let mut round = Round {
        attempt: 0,
        retry_at: None,
        batch_limit: shared.policy.batch_max_events,
        refreshed: false,
        token: None,
    };
    loop {
        if shared.shut.load(Ordering::Relaxed) {
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
        if !shared.online.load(Ordering::Relaxed) {
            idle(&shared, tick).await;
            continue;
        }
        if shared.retry_now.swap(false, Ordering::Relaxed) {
            round.retry_at = None;
            round.attempt = 0;
        }
        if let Some(at) = round.retry_at {
            let now = Instant::now();
            if now < at {
                let wait = at - now;
                idle(&shared, Some(tick.map_or(wait, |t| t.min(wait)))).await;
                continue;
            }
            round.retry_at = None;
            round.refreshed = false;
        }
        let batch = {
            let mut outbox = lock(&shared.outbox);
            let max_age =
                i64::try_from(shared.policy.max_event_age.as_millis()).unwrap_or(i64::MAX);
            let now_ms = chrono::Utc::now().timestamp_millis();
            match outbox.expire(max_age, now_ms) {
                Ok(0) => {}
                Ok(n) => {
                    shared.settled.send_modify(|g| *g += 1);
                    tracing::warn!(n, "events expired by the age cap");
                }
                Err(error) => tracing::error!(%error, "age cap"),
            }
            let batch = outbox.peek(round.batch_limit);
            (batch, outbox.take_quarantined())
        };
        let (batch, quarantined) = batch;
        if quarantined > 0 {
            // Outside the outbox lock: the app's logger may be slow.
            shared.settled.send_modify(|g| *g += 1);
            shared.log(
                LogLevel::Error,
                format!("{quarantined} unreadable outbox row(s) quarantined to the dead letters"),
            );
        }
        let batch = match batch {
            Ok(batch) if batch.is_empty() => {
                idle(&shared, tick).await;
                continue;
            }
            Ok(batch) => batch,
            Err(error) => {
                shared.log(LogLevel::Error, format!("reading the outbox: {error}"));
                backoff(&shared, &mut round, None, &error.to_string());
                continue;
            }
        };
        let token = match round.token.take() {
            Some(token) => Some(token),
            None => current_token(&shared, false).await,
        };
        let outcome = match token {
            Some(token) => {
                let body = batch_body(&batch);
                classify(post(&shared, "report_upload_events", body, &token).await)
            }
            None => SendOutcome::TokenRejected {
                why: "no access token".into(),
            },
        };
        handle(&shared, &mut round, &batch, outcome).await;
    }
}

/// How often coalesced progress is looked at while some waits (see engine).
const COALESCED_TICK: Duration = Duration::from_millis(250);

/// Acts on one outcome.
async fn handle(
    shared: &Arc<Shared>,
    round: &mut Round,
    batch: &[PendingEvent],
    outcome: SendOutcome,
) {
    match outcome {
        SendOutcome::Delivered(response) => {
            let settlements = settlements(shared, batch, &response);
            let now_ms = chrono::Utc::now().timestamp_millis();
            // Bound first: in an `if let` scrutinee the guard would live through the block,
            // and `backoff` takes the outbox lock again (a self-deadlock on a failed settle).
            let settled = lock(&shared.outbox).settle(&settlements, now_ms);
            if let Err(error) = settled {
                shared.log(LogLevel::Error, format!("recording delivery: {error}"));
                backoff(shared, round, None, &error.to_string());
                return;
            }
            shared.settled.send_modify(|g| *g += 1);
            shared.set_server_interval(response.min_progress_interval_ms);
            round.attempt = 0;
            round.refreshed = false;
            round.batch_limit = shared.policy.batch_max_events;
        }
        SendOutcome::Recoverable { retry_after, why } => backoff(shared, round, retry_after, &why),
        SendOutcome::TokenRejected { why } => {
            if round.refreshed {
                backoff(shared, round, None, &why);
            } else {
                round.refreshed = true;
                shared.log(
                    LogLevel::Info,
                    format!("{why}: asking the app for a fresh token"),
                );
                round.token = current_token(shared, true).await;
            }
        }
        SendOutcome::BatchRefused { status, why } => {
            if batch.len() > 1 {
                // Halve until the event the server refuses is alone, so one bad event does
                // not take 499 good ones to the dead-letter table.
                round.batch_limit = (batch.len() / 2).max(1);
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
                shared.settled.send_modify(|g| *g += 1);
                round.batch_limit = shared.policy.batch_max_events;
            }
        }
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

/// Schedules the next attempt after a failure and remembers the error for `health()`.
fn backoff(shared: &Shared, round: &mut Round, retry_after: Option<Duration>, why: &str) {
    round.attempt = round.attempt.saturating_add(1);
    let delay = shared.policy.backoff(round.attempt, retry_after);
    round.retry_at = Some(Instant::now() + delay);
    round.token = None;
    shared.log(
        LogLevel::Warn,
        format!(
            "delivery failed ({why}); retry {} in {} ms",
            round.attempt,
            delay.as_millis()
        ),
    );
    if let Err(error) = lock(&shared.outbox).note_error(why) {
        tracing::error!(%error, "recording the delivery error");
    }
}

/// Sleeps until woken, or `tick` passes. With no tick (offline, nothing held back) it is a
/// pure wait on a notification: no timer, no CPU.
async fn idle(shared: &Shared, tick: Option<Duration>) {
    match tick {
        Some(tick) => {
            let _ = tokio::time::timeout(tick, shared.wake.notified()).await;
        }
        None => shared.wake.notified().await,
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
    use reqwest::header::HeaderValue;

    fn answer(status: u16, body: &str) -> Result<RawResponse, String> {
        Ok((
            StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT),
            HeaderMap::new(),
            body.to_string(),
        ))
    }

    #[test]
    fn server_errors_and_throttling_are_retried_with_retry_after() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        let outcome = classify(Ok((StatusCode::TOO_MANY_REQUESTS, headers, String::new())));
        assert_eq!(
            outcome,
            SendOutcome::Recoverable {
                retry_after: Some(Duration::from_secs(7)),
                why: "HTTP 429 Too Many Requests ".into()
            }
        );
        for status in [408, 500, 502, 503] {
            assert!(matches!(
                classify(answer(status, "")),
                SendOutcome::Recoverable { .. }
            ));
        }
        assert!(matches!(
            classify(Err("connection refused".into())),
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
