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
