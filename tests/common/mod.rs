//! Helpers shared by the integration tests: the process-wide dev stack and an RPC caller
//! that speaks to it over real HTTP, as supabase-js would.
#![allow(dead_code)] // Each test binary uses its own subset.

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::Value;
use upload_monitor::devstack::DevStack;

/// The dev stack shared by every test in this binary (started once, on first use).
pub fn stack() -> &'static DevStack {
    DevStack::shared()
}

/// An email no other test (or earlier run) uses, so tests can run in parallel on one stack.
pub fn unique_email(prefix: &str) -> String {
    format!("{prefix}-{}@example.test", uuid::Uuid::new_v4().simple())
}

/// An RPC's answer: status, headers and body (JSON, or `Null` when empty).
#[derive(Debug)]
pub struct RpcResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

/// `POST {api_url}/rest/v1/rpc/{function}` with `apikey` and, when given, a bearer token.
pub async fn rpc(
    api_url: &str,
    function: &str,
    apikey: &str,
    bearer: Option<&str>,
    args: &Value,
) -> RpcResponse {
    let mut request = reqwest::Client::new()
        .post(format!("{api_url}/rest/v1/rpc/{function}"))
        .header("apikey", apikey)
        .json(args);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    into_response(request.send().await.expect("the gateway answers")).await
}

/// `GET {api_url}/rest/v1/rpc/{function}?{query}` with a bearer token.
pub async fn rpc_get(
    api_url: &str,
    function: &str,
    apikey: &str,
    bearer: &str,
    query: &[(&str, &str)],
) -> RpcResponse {
    let request = reqwest::Client::new()
        .get(format!("{api_url}/rest/v1/rpc/{function}"))
        .header("apikey", apikey)
        .bearer_auth(bearer)
        .query(query);
    into_response(request.send().await.expect("the gateway answers")).await
}

async fn into_response(response: reqwest::Response) -> RpcResponse {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a readable body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("JSON body ({e}): {text}"))
    };
    RpcResponse {
        status,
        headers,
        body,
    }
}

/// The SDK tests' helpers (tests/sdk_*.rs).
pub mod sdk;

/// An upload of `user` begun and progressed to 40 % through the real ingest
/// (`report_upload_events` over HTTP, as the SDK sends it), then failed with a network error
/// at `failed_at_retry` when given. Device times are fixed (2026-11-24 09:00 UTC).
pub async fn report_upload(
    user: &upload_monitor::devstack::TestUser,
    filename: &str,
    title: &str,
    failed_at_retry: Option<u32>,
) -> uuid::Uuid {
    use serde_json::json;
    use uuid::Uuid;
    let stack = stack();
    let upload = Uuid::now_v7();
    let at = "2026-11-24T09:00:00Z";
    let mut events = vec![
        json!({"id": Uuid::now_v7(), "upload_id": upload, "seq": 1, "at": at, "kind": "begin",
               "local_id": format!("import_{upload}"), "filename": filename,
               "video_title": title, "file_size": 1000, "source": "recorded"}),
        json!({"id": Uuid::now_v7(), "upload_id": upload, "seq": 2, "at": at,
               "kind": "progress", "bytes_sent": 400, "progress": 40, "upload_speed": 1.5}),
    ];
    if let Some(retry_count) = failed_at_retry {
        events.push(
            json!({"id": Uuid::now_v7(), "upload_id": upload, "seq": 3, "at": at,
                           "kind": "fail", "error_code": "network",
                           "error_message": "Network request failed",
                           "retry_count": retry_count}),
        );
    }
    let response = rpc(
        stack.api_url(),
        "report_upload_events",
        stack.anon_key(),
        Some(&user.access_token),
        &json!({ "events": events }),
    )
    .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    upload
}

/// Sends `request` as raw bytes to the gateway and returns everything it answers until it
/// closes the connection, or `None` when it neither answers nor closes within `wait`. For
/// what an HTTP client hides: reason phrases and half-sent bodies.
pub async fn raw_http(api_url: &str, request: &[u8], wait: std::time::Duration) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = api_url.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr)
        .await
        .expect("the gateway accepts connections");
    socket
        .write_all(request)
        .await
        .expect("the request is sent");
    let mut answer = Vec::new();
    match tokio::time::timeout(wait, socket.read_to_end(&mut answer)).await {
        // A reset after the answer is still a dropped connection: keep what was read.
        Ok(_) => Some(String::from_utf8_lossy(&answer).into_owned()),
        Err(_) => None,
    }
}
