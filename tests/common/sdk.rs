//! Helpers for the SDK's integration tests: a token provider the tests control, reporters
//! with test-sized delays, a fault-injecting HTTP proxy, and reads of what the server has.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use monitor_sdk::clock::SdkClock;
use monitor_sdk::engine::{Engine, EngineConfig};
use monitor_sdk::policy::FlushPolicy;
use monitor_sdk::TokenProvider;
use uuid::Uuid;

/// A token source whose answers the test sets; counts refreshes.
#[derive(Debug)]
pub struct TestTokens {
    pub current: Mutex<Option<String>>,
    /// What `refresh_access_token` answers (and then becomes current).
    pub fresh: Mutex<Option<String>>,
    pub refreshes: AtomicU32,
}

impl TestTokens {
    pub fn new(token: &str) -> Arc<Self> {
        Arc::new(TestTokens {
            current: Mutex::new(Some(token.to_string())),
            fresh: Mutex::new(Some(token.to_string())),
            refreshes: AtomicU32::new(0),
        })
    }

    /// Starts with `stale` and refreshes to `fresh`.
    pub fn expiring(stale: &str, fresh: &str) -> Arc<Self> {
        Arc::new(TestTokens {
            current: Mutex::new(Some(stale.to_string())),
            fresh: Mutex::new(Some(fresh.to_string())),
            refreshes: AtomicU32::new(0),
        })
    }
}

impl TokenProvider for TestTokens {
    fn access_token(&self) -> Option<String> {
        self.current.lock().ok()?.clone()
    }

    fn refresh_access_token(&self) -> Option<String> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        let fresh = self.fresh.lock().ok()?.clone();
        if let Ok(mut current) = self.current.lock() {
            current.clone_from(&fresh);
        }
        fresh
    }
}

/// Delays sized for tests: retries within 50–400 ms, a request given up after 1 s.
pub fn test_policy() -> FlushPolicy {
    FlushPolicy {
        retry_base: Duration::from_millis(50),
        retry_max: Duration::from_millis(400),
        request_timeout: Duration::from_secs(1),
        ..FlushPolicy::default()
    }
}

/// An engine reporting to `api_url` from `db`.
pub fn engine(api_url: &str, anon_key: &str, db: &Path, tokens: Arc<TestTokens>) -> Engine {
    engine_with(api_url, anon_key, db, tokens, test_policy())
}

/// [`engine`] with a chosen policy.
pub fn engine_with(
    api_url: &str,
    anon_key: &str,
    db: &Path,
    tokens: Arc<TestTokens>,
    policy: FlushPolicy,
) -> Engine {
    engine_with_clock(api_url, anon_key, db, tokens, policy, SdkClock::real())
}

/// [`engine_with`] on a given clock: a manual one lets a test replay minutes of device time
/// (the rate limiter and speed estimator read it; the flusher's backoff runs in real time).
pub fn engine_with_clock(
    api_url: &str,
    anon_key: &str,
    db: &Path,
    tokens: Arc<TestTokens>,
    policy: FlushPolicy,
    clock: SdkClock,
) -> Engine {
    Engine::open_with_clock(
        EngineConfig {
            supabase_url: api_url.to_string(),
            anon_key: anon_key.to_string(),
            database_path: db.to_path_buf(),
            policy,
        },
        tokens,
        None,
        clock,
    )
    .expect("the engine opens")
}

/// What the proxy does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward it and return the answer.
    Pass,
    /// Answer this status without forwarding, with an empty body (as a proxy or load
    /// balancer in front of the server would).
    Status(u16),
    /// Answer this status without forwarding, with PostgREST's error body
    /// (`{"code","message","details","hint"}`): the server itself refused the request.
    Refuse(u16),
    /// Answer 429 with `Retry-After: 1` without forwarding.
    Throttle,
    /// Never answer (the client times out).
    Hang,
    /// Forward it (the server applies the batch), then answer 500: the client must resend,
    /// and the resend must change nothing.
    ApplyThenFail,
}

/// One request the proxy saw: when it arrived, and what the proxy did with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeenRequest {
    pub at: Instant,
    pub fault: Fault,
}

/// A fault-injecting HTTP proxy in front of the dev stack's gateway.
#[derive(Debug)]
pub struct FaultProxy {
    pub url: String,
    pub requests: Arc<AtomicU32>,
    plan: Arc<Mutex<VecDeque<Fault>>>,
    fallback: Arc<Mutex<Fault>>,
    poison: Arc<Mutex<Option<String>>>,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
}

#[derive(Debug, Clone)]
struct ProxyState {
    upstream: String,
    plan: Arc<Mutex<VecDeque<Fault>>>,
    fallback: Arc<Mutex<Fault>>,
    poison: Arc<Mutex<Option<String>>>,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    requests: Arc<AtomicU32>,
    client: reqwest::Client,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` that applies `plan` to the first requests, in order,
    /// then passes everything (until [`FaultProxy::set_fallback`] says otherwise).
    pub async fn start(upstream: &str, plan: Vec<Fault>) -> FaultProxy {
        let plan = Arc::new(Mutex::new(VecDeque::from(plan)));
        let fallback = Arc::new(Mutex::new(Fault::Pass));
        let poison = Arc::new(Mutex::new(None));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(AtomicU32::new(0));
        let state = ProxyState {
            upstream: upstream.trim_end_matches('/').to_string(),
            plan: plan.clone(),
            fallback: fallback.clone(),
            poison: poison.clone(),
            seen: seen.clone(),
            requests: requests.clone(),
            client: reqwest::Client::new(),
        };
        let app = axum::Router::new().fallback(forward).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FaultProxy {
            url,
            requests,
            plan,
            fallback,
            poison,
            seen,
        }
    }

    /// Faults not yet used.
    pub fn remaining(&self) -> usize {
        self.plan.lock().map(|p| p.len()).unwrap_or(0)
    }

    /// What requests get once the plan is used up (at start, [`Fault::Pass`]): a network
    /// that stays broken for as long as the test likes.
    pub fn set_fallback(&self, fault: Fault) {
        if let Ok(mut fallback) = self.fallback.lock() {
            *fallback = fault;
        }
    }

    /// While set, any request whose body contains `needle` (an upload id, say) is answered
    /// 500 without forwarding, before the plan is consulted: a batch that breaks the server.
    pub fn set_poison(&self, needle: Option<String>) {
        if let Ok(mut poison) = self.poison.lock() {
            *poison = needle;
        }
    }

    /// Every request so far, in arrival order.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

async fn forward(
    State(state): State<ProxyState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    state.requests.fetch_add(1, Ordering::SeqCst);
    let poisoned = state
        .poison
        .lock()
        .ok()
        .and_then(|p| p.clone())
        .is_some_and(|needle| String::from_utf8_lossy(&body).contains(&needle));
    let fault = if poisoned {
        Fault::Status(500)
    } else {
        state
            .plan
            .lock()
            .ok()
            .and_then(|mut p| p.pop_front())
            .or_else(|| state.fallback.lock().ok().map(|f| *f))
            .unwrap_or(Fault::Pass)
    };
    if let Ok(mut seen) = state.seen.lock() {
        seen.push(SeenRequest { at, fault });
    }
    match fault {
        Fault::Status(code) => {
            return StatusCode::from_u16(code)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                .into_response()
        }
        Fault::Refuse(code) => {
            let body = serde_json::json!({
                "code": "22023",
                "message": "refused by the test proxy",
                "details": null,
                "hint": null,
            });
            return (
                StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
                [("content-type", "application/json")],
                body.to_string(),
            )
                .into_response();
        }
        Fault::Throttle => {
            let mut response = StatusCode::TOO_MANY_REQUESTS.into_response();
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
            return response;
        }
        Fault::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        Fault::Pass | Fault::ApplyThenFail => {}
    }
    let mut request = state.client.request(
        reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap_or(reqwest::Method::POST),
        format!("{}{}", state.upstream, uri),
    );
    for name in ["apikey", "authorization", "content-type"] {
        if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) {
            request = request.header(name, value);
        }
    }
    let answer = match request.body(body.to_vec()).send().await {
        Ok(answer) => answer,
        Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
    };
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let text = answer.text().await.unwrap_or_default();
    if fault == Fault::ApplyThenFail {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (status, [("content-type", "application/json")], text).into_response()
}

/// One upload as the server has it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerUpload {
    pub id: Uuid,
    pub local_id: String,
    pub status: String,
    pub progress: i32,
    pub retry_count: i32,
    pub error_code: Option<String>,
    pub last_seq: i64,
}

/// The user's uploads on the server (read as the superuser).
pub async fn server_uploads(user: Uuid) -> Vec<ServerUpload> {
    let client = super::stack().connect().await.expect("a connection");
    client
        .query(
            "select id, local_id, status, progress, retry_count, error_code, last_seq \
             from public.upload_queue where user_id = $1 order by local_id",
            &[&user],
        )
        .await
        .expect("upload_queue reads")
        .into_iter()
        .map(|row| ServerUpload {
            id: row.get(0),
            local_id: row.get(1),
            status: row.get(2),
            progress: row.get(3),
            retry_count: row.get(4),
            error_code: row.get(5),
            last_seq: row.get(6),
        })
        .collect()
}

/// How many logged events of `kind` the server has for `upload`.
pub async fn server_event_count(upload: Uuid, kind: &str) -> i64 {
    let client = super::stack().connect().await.expect("a connection");
    client
        .query_one(
            "select count(*) from public.upload_events where upload_id = $1 and kind = $2",
            &[&upload, &kind],
        )
        .await
        .expect("upload_events reads")
        .get(0)
}

/// `(upload_id, kind, count)` of the user's logged non-progress events.
pub async fn server_terminal_counts(user: Uuid) -> Vec<(Uuid, String, i64)> {
    let client = super::stack().connect().await.expect("a connection");
    client
        .query(
            "select upload_id, kind, count(*) from public.upload_events \
             where user_id = $1 and kind in ('complete', 'fail', 'retry') \
             group by upload_id, kind",
            &[&user],
        )
        .await
        .expect("upload_events reads")
        .into_iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect()
}
