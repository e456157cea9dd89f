//! The typed async client for the admin monitoring RPCs (feature `client`): PostgREST calls
//! over reqwest with rustls, answers decoded into [`types`], errors sorted into
//! [`ClientError`].
//!
//! It speaks Supabase's REST API (`POST {SUPABASE_URL}/rest/v1/rpc/<fn>` with `apikey` and
//! `Authorization: Bearer`), so it works against the dev stack, `supabase start` or a hosted
//! project alike. The caller must be an admin (a user JWT with `app_metadata.role = admin`)
//! or hold the service key; anyone else gets [`ClientError::Forbidden`] or
//! [`ClientError::Auth`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), monitor_core::client::ClientError> {
//! use monitor_core::client::MonitoringClient;
//! let client = MonitoringClient::from_env()?;
//! let snapshot = client.snapshot().await?;
//! let changes = client.changes(snapshot.cursor).await?;
//! println!("{} uploads in progress", changes.stats.uploads_in_progress);
//! # Ok(()) }
//! ```

mod error;
pub mod types;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use uuid::Uuid;

pub use error::{ApiErrorBody, ClientError, RetryHint};
pub use types::*;

/// The environment variable with the project URL (`http://127.0.0.1:54321`).
pub const SUPABASE_URL_ENV: &str = "SUPABASE_URL";
/// The environment variable with the service key (server-side tools only).
pub const SERVICE_ROLE_KEY_ENV: &str = "SUPABASE_SERVICE_ROLE_KEY";
/// The environment variable with the anon key (sent as `apikey` with an admin JWT).
pub const ANON_KEY_ENV: &str = "SUPABASE_ANON_KEY";
/// The environment variable with an admin user's access token.
pub const ACCESS_TOKEN_ENV: &str = "SUPABASE_ACCESS_TOKEN";

/// A whole snapshot of 100 cards is ~200 kB; 30 s leaves room for a slow link without letting
/// a dashboard hang forever on a dead one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Typed calls to the monitoring RPCs. Cheap to clone (one connection pool).
#[derive(Debug, Clone)]
pub struct MonitoringClient {
    http: reqwest::Client,
    rpc_base: String,
    apikey: String,
    bearer: String,
}

impl MonitoringClient {
    /// A client for `url` (`SUPABASE_URL`), sending `apikey` and `bearer` (the service key
    /// twice, or the anon key and an admin's access token).
    ///
    /// # Errors
    ///
    /// [`ClientError::Config`] when the URL is not http(s) or a key is empty, or the HTTP
    /// client cannot be built.
    pub fn new(url: &str, apikey: &str, bearer: &str) -> Result<Self, ClientError> {
        let url = url.trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ClientError::Config(format!("not an http(s) URL: {url:?}")));
        }
        if apikey.is_empty() || bearer.is_empty() {
            return Err(ClientError::Config("empty key or token".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(DEFAULT_TIMEOUT)
            .build()
            .map_err(|e| ClientError::Config(format!("HTTP client: {e}")))?;
        Ok(MonitoringClient {
            http,
            rpc_base: format!("{url}/rest/v1/rpc"),
            apikey: apikey.to_owned(),
            bearer: bearer.to_owned(),
        })
    }

    /// A client with the service key as both `apikey` and bearer (server-side tools).
    ///
    /// # Errors
    ///
    /// As [`MonitoringClient::new`].
    pub fn with_service_key(url: &str, service_key: &str) -> Result<Self, ClientError> {
        Self::new(url, service_key, service_key)
    }

    /// From the environment: `SUPABASE_URL`, then `SUPABASE_SERVICE_ROLE_KEY`, or
    /// `SUPABASE_ANON_KEY` + `SUPABASE_ACCESS_TOKEN` (an admin's JWT).
    ///
    /// # Errors
    ///
    /// [`ClientError::Config`] naming the missing variable.
    pub fn from_env() -> Result<Self, ClientError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let url = var(SUPABASE_URL_ENV)
            .ok_or_else(|| ClientError::Config(format!("{SUPABASE_URL_ENV} is not set")))?;
        if let Some(service) = var(SERVICE_ROLE_KEY_ENV) {
            return Self::with_service_key(&url, &service);
        }
        match (var(ANON_KEY_ENV), var(ACCESS_TOKEN_ENV)) {
            (Some(anon), Some(token)) => Self::new(&url, &anon, &token),
            _ => Err(ClientError::Config(format!(
                "set {SERVICE_ROLE_KEY_ENV}, or {ANON_KEY_ENV} and {ACCESS_TOKEN_ENV}"
            ))),
        }
    }

    /// Everything the `/monitoring` page shows (`monitoring_snapshot`, 100 cards).
    ///
    /// # Errors
    ///
    /// See [`ClientError`]: `Forbidden` for a non-admin, `Auth` without a valid token.
    pub async fn snapshot(&self) -> Result<Snapshot, ClientError> {
        self.call("monitoring_snapshot", json!({})).await
    }

    /// [`MonitoringClient::snapshot`] with at most `max_uploads` (1–100) cards.
    ///
    /// # Errors
    ///
    /// As [`MonitoringClient::snapshot`]; `InvalidInput` outside 1–100.
    pub async fn snapshot_with(&self, max_uploads: u32) -> Result<Snapshot, ClientError> {
        self.call("monitoring_snapshot", json!({ "max_uploads": max_uploads }))
            .await
    }

    /// What changed after `since` (the previous answer's `cursor`). When the answer says
    /// `resync`, take a new snapshot.
    ///
    /// # Errors
    ///
    /// As [`MonitoringClient::snapshot`].
    pub async fn changes(&self, since: DateTime<Utc>) -> Result<Changes, ClientError> {
        self.call("monitoring_changes", json!({ "since": since }))
            .await
    }

    /// One page of uploads matching `filter`, after `cursor` (None for the first page).
    ///
    /// # Errors
    ///
    /// As [`MonitoringClient::snapshot`]; `InvalidInput` for a page size outside 1–100.
    pub async fn uploads(
        &self,
        filter: &UploadFilter,
        cursor: Option<UploadsCursor>,
    ) -> Result<UploadsPage, ClientError> {
        let mut args =
            serde_json::to_value(filter).map_err(|e| ClientError::UnexpectedResponse {
                function: "monitoring_uploads".into(),
                reason: format!("filter does not serialize: {e}"),
            })?;
        if let (Some(cursor), Some(map)) = (cursor, args.as_object_mut()) {
            map.insert("after_started_at".into(), json!(cursor.started_at));
            map.insert("after_id".into(), json!(cursor.id));
        }
        self.call("monitoring_uploads", args).await
    }

    /// A user's profile, counts, latest uploads and bugs.
    ///
    /// # Errors
    ///
    /// As [`MonitoringClient::snapshot`]; `NotFound` for an unknown user.
    pub async fn user_profile(&self, user_id: Uuid) -> Result<UserProfile, ClientError> {
        self.call("monitoring_user_profile", json!({ "user_id": user_id }))
            .await
    }

    /// A page of a user's timeline (upload events and bug reports, newest first).
    ///
    /// # Errors
    ///
    /// As [`MonitoringClient::snapshot`].
    pub async fn user_timeline(
        &self,
        user_id: Uuid,
        before: Option<TimelineCursor>,
        page_size: u32,
    ) -> Result<Timeline, ClientError> {
        let mut args = json!({ "user_id": user_id, "page_size": page_size });
        if let (Some(cursor), Some(map)) = (before, args.as_object_mut()) {
            map.insert("before_at".into(), json!(cursor.at));
            map.insert("before_id".into(), json!(cursor.id));
        }
        self.call("monitoring_user_timeline", args).await
    }

    /// Today vs yesterday, or this week vs last.
    ///
    /// # Errors
    ///
    /// As [`MonitoringClient::snapshot`].
    pub async fn compare(&self, period: ComparePeriod) -> Result<Comparison, ClientError> {
        self.call("monitoring_compare", json!({ "period": period }))
            .await
    }

    /// Failures by code and bugs by type over the last `hours` (1–168).
    ///
    /// # Errors
    ///
    /// As [`MonitoringClient::snapshot`].
    pub async fn error_distribution(&self, hours: u32) -> Result<ErrorDistribution, ClientError> {
        self.call("monitoring_error_distribution", json!({ "hours": hours }))
            .await
    }

    /// Completed uploads' speed in `bucket_minutes` buckets over the last `hours`.
    ///
    /// # Errors
    ///
    /// As [`MonitoringClient::snapshot`].
    pub async fn speed_over_time(
        &self,
        hours: u32,
        bucket_minutes: u32,
    ) -> Result<Vec<SpeedBucket>, ClientError> {
        self.call(
            "monitoring_speed_over_time",
            json!({ "hours": hours, "bucket_minutes": bucket_minutes }),
        )
        .await
    }

    /// Whether more than `max_failures` uploads failed in the last `within_minutes`.
    ///
    /// # Errors
    ///
    /// As [`MonitoringClient::snapshot`].
    pub async fn evaluate_alert(
        &self,
        max_failures: u32,
        within_minutes: u32,
    ) -> Result<AlertEvaluation, ClientError> {
        self.call(
            "monitoring_evaluate_alert",
            json!({ "max_failures": max_failures, "within_minutes": within_minutes }),
        )
        .await
    }

    /// Calls `function` with named `args` and decodes the answer.
    ///
    /// # Errors
    ///
    /// See [`ClientError`].
    pub async fn call<T: DeserializeOwned>(
        &self,
        function: &str,
        args: Value,
    ) -> Result<T, ClientError> {
        let response = self
            .http
            .post(format!("{}/{function}", self.rpc_base))
            .header("apikey", &self.apikey)
            .bearer_auth(&self.bearer)
            .json(&args)
            .send()
            .await
            .map_err(ClientError::Network)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = response.bytes().await.map_err(ClientError::Network)?;
        if !(200..300).contains(&status) {
            // A body that is not PostgREST's JSON (a proxy's HTML page) still gets its kind.
            let body = serde_json::from_slice::<ApiErrorBody>(&bytes).unwrap_or_default();
            return Err(ClientError::from_status(status, body, retry_after));
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::UnexpectedResponse {
            function: function.to_owned(),
            reason: e.to_string(),
        })
    }
}
