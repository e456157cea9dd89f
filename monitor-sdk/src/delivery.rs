//! The reporter's side of the wire: monitor-core's PostgREST [`Transport`] with the app's
//! token provider and a request counter. The flusher sends through it and nothing else does
//! HTTP.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use monitor_core::client::transport::{Answer, Transport};
use monitor_core::client::ClientError;
use reqwest::StatusCode;

use crate::error::SdkError;
use crate::foreign::TokenProvider;

/// One project's RPCs, the app's tokens, and how many requests went out.
pub(crate) struct Delivery {
    transport: Transport,
    token: Arc<dyn TokenProvider>,
    /// HTTP requests sent since the reporter opened (batches and other RPCs, retries too).
    requests: AtomicU64,
}

impl Delivery {
    pub(crate) fn new(transport: Transport, token: Arc<dyn TokenProvider>) -> Self {
        Delivery {
            transport,
            token,
            requests: AtomicU64::new(0),
        }
    }

    /// The RPC base URL (for `Debug`).
    pub(crate) fn rpc_base(&self) -> &str {
        self.transport.rpc_base()
    }

    /// Requests sent so far.
    pub(crate) fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// POSTs `body` to `rpc/{function}` with `token`, counting the request.
    pub(crate) async fn post(
        &self,
        function: &str,
        body: String,
        token: &str,
    ) -> Result<Answer, ClientError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.transport.post(function, token, body).await
    }

    /// The app's current token, or a fresh one (a foreign call, kept off the async worker).
    pub(crate) async fn token(&self, refresh: bool) -> Option<String> {
        let provider = self.token.clone();
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

    /// One RPC call outside the outbox (e.g. `pending_retry_requests`), with one token
    /// refresh on 401. Returns the body of a 2xx answer.
    ///
    /// # Errors
    ///
    /// [`SdkError::Network`] with the status or the transport error.
    pub(crate) async fn call(&self, function: &str, args: &str) -> Result<Vec<u8>, SdkError> {
        let mut refresh = false;
        loop {
            let token = self.token(refresh).await.unwrap_or_default();
            match self.post(function, args.to_string(), &token).await {
                Ok(answer) if answer.is_success() => return Ok(answer.body.to_vec()),
                Ok(answer) if answer.status == StatusCode::UNAUTHORIZED && !refresh => {
                    refresh = true;
                }
                Ok(answer) => {
                    return Err(SdkError::Network(format!(
                        "HTTP {} {}",
                        answer.status,
                        answer.text(200)
                    )))
                }
                Err(error) => return Err(SdkError::Network(format!("request failed: {error}"))),
            }
        }
    }
}
