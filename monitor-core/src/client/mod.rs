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
pub mod transport;
pub mod types;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use uuid::Uuid;

pub use error::{ApiErrorBody, ClientError, RetryHint};
pub use types::*;

/// The environment variable with the project URL (`http://127.0.0.1:54321`).
///
/// ```
/// use monitor_core::client::{MonitoringClient, SUPABASE_URL_ENV};
/// if std::env::var_os(SUPABASE_URL_ENV).is_none() {
///     let err = MonitoringClient::from_env().unwrap_err();
///     assert_eq!(err.to_string(), "client configuration: SUPABASE_URL is not set");
/// }
/// ```
pub const SUPABASE_URL_ENV: &str = "SUPABASE_URL";
/// The environment variable with the service key (server-side tools only).
///
/// ```no_run
/// use monitor_core::client::{MonitoringClient, SERVICE_ROLE_KEY_ENV, SUPABASE_URL_ENV};
/// // What `from_env` does first: the service key alone is enough.
/// let url = std::env::var(SUPABASE_URL_ENV).expect("the project URL");
/// let key = std::env::var(SERVICE_ROLE_KEY_ENV).expect("a server-side tool's service key");
/// let client = MonitoringClient::with_service_key(&url, &key)?;
/// # Ok::<(), monitor_core::client::ClientError>(())
/// ```
pub const SERVICE_ROLE_KEY_ENV: &str = "SUPABASE_SERVICE_ROLE_KEY";
/// The environment variable with the anon key (sent as `apikey` with an admin JWT).
///
/// ```no_run
/// use monitor_core::client::{MonitoringClient, ACCESS_TOKEN_ENV, ANON_KEY_ENV, SUPABASE_URL_ENV};
/// // What `from_env` does without a service key: the anon key with an admin's token.
/// let url = std::env::var(SUPABASE_URL_ENV).expect("the project URL");
/// let anon = std::env::var(ANON_KEY_ENV).expect("the anon key");
/// let token = std::env::var(ACCESS_TOKEN_ENV).expect("an admin's access token");
/// let client = MonitoringClient::new(&url, &anon, &token)?;
/// # Ok::<(), monitor_core::client::ClientError>(())
/// ```
pub const ANON_KEY_ENV: &str = "SUPABASE_ANON_KEY";
/// The environment variable with an admin user's access token.
///
/// ```no_run
/// use monitor_core::client::{MonitoringClient, ACCESS_TOKEN_ENV};
/// // A dashboard run by an admin: SUPABASE_URL, SUPABASE_ANON_KEY and this token.
/// assert!(std::env::var_os(ACCESS_TOKEN_ENV).is_some());
/// let client = MonitoringClient::from_env()?;
/// # Ok::<(), monitor_core::client::ClientError>(())
/// ```
pub const ACCESS_TOKEN_ENV: &str = "SUPABASE_ACCESS_TOKEN";

/// A whole snapshot of 100 cards is ~200 kB; 30 s leaves room for a slow link without letting
/// a dashboard hang forever on a dead one.
///
/// ```no_run
/// # async fn demo(client: monitor_core::client::MonitoringClient) -> Result<(), monitor_core::client::ClientError> {
/// use monitor_core::client::{ClientError, RetryHint, DEFAULT_TIMEOUT};
/// // No answer within DEFAULT_TIMEOUT (or no connection) is a network error, worth retrying.
/// if let Err(err @ ClientError::Network(_)) = client.snapshot().await {
///     assert_eq!(err.retry_hint(), RetryHint::Retry { after: None });
///     eprintln!("no snapshot (timeout {DEFAULT_TIMEOUT:?}): {err}");
/// }
/// # Ok(()) }
/// ```
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Typed calls to the monitoring RPCs. Cheap to clone (one connection pool).
///
/// ```
/// use monitor_core::client::MonitoringClient;
/// // Nothing is sent until a call; clones share the connection pool.
/// let client = MonitoringClient::with_service_key("http://127.0.0.1:54321", "service-key")?;
/// let for_another_task = client.clone();
/// # drop(for_another_task);
/// # Ok::<(), monitor_core::client::ClientError>(())
/// ```
#[derive(Debug, Clone)]
pub struct MonitoringClient {
    transport: transport::Transport,
    bearer: String,
}

impl MonitoringClient {
    /// A client for `url` (`SUPABASE_URL`), sending `apikey` and `bearer` (the service key
    /// twice, or the anon key and an admin's access token).
    ///
    /// ```
    /// use monitor_core::client::{ClientError, MonitoringClient};
    /// assert!(MonitoringClient::new("http://127.0.0.1:54321/", "anon-key", "admin-jwt").is_ok());
    /// let no_scheme = MonitoringClient::new("127.0.0.1:54321", "anon-key", "admin-jwt");
    /// assert!(matches!(no_scheme, Err(ClientError::Config(_))));
    /// let no_token = MonitoringClient::new("http://127.0.0.1:54321", "anon-key", "");
    /// assert!(matches!(no_token, Err(ClientError::Config(_))));
    /// ```
    ///
    /// # Errors
    ///
    /// [`ClientError::Config`] when the URL is not http(s) or a key is empty, or the HTTP
    /// client cannot be built.
    pub fn new(url: &str, apikey: &str, bearer: &str) -> Result<Self, ClientError> {
        let transport = transport::Transport::new(url, apikey, DEFAULT_TIMEOUT)?;
        if bearer.is_empty() {
            return Err(ClientError::Config("empty key or token".into()));
        }
        Ok(MonitoringClient {
            transport,
            bearer: bearer.to_owned(),
        })
    }

    /// A client with the service key as both `apikey` and bearer (server-side tools).
    ///
    /// ```
    /// use monitor_core::client::MonitoringClient;
    /// assert!(MonitoringClient::with_service_key("https://abcd.supabase.co", "service-key").is_ok());
    /// assert!(MonitoringClient::with_service_key("https://abcd.supabase.co", "").is_err());
    /// ```
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
    /// ```no_run
    /// use monitor_core::client::MonitoringClient;
    /// // SUPABASE_URL=http://127.0.0.1:54321 SUPABASE_SERVICE_ROLE_KEY=... my-tool
    /// let client = MonitoringClient::from_env()?;
    /// # Ok::<(), monitor_core::client::ClientError>(())
    /// ```
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
    /// ```no_run
    /// # async fn demo(client: monitor_core::client::MonitoringClient) -> Result<(), monitor_core::client::ClientError> {
    /// let snapshot = client.snapshot().await?;
    /// println!(
    ///     "{} uploading, {} cards, top error: {:?}",
    ///     snapshot.stats.uploads_in_progress,
    ///     snapshot.uploads.len(),
    ///     snapshot.top_errors.first().map(|e| &e.message)
    /// );
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// See [`ClientError`]: `Forbidden` for a non-admin, `Auth` without a valid token.
    pub async fn snapshot(&self) -> Result<Snapshot, ClientError> {
        self.call("monitoring_snapshot", json!({})).await
    }

    /// [`MonitoringClient::snapshot`] with at most `max_uploads` (1–100) cards.
    ///
    /// ```no_run
    /// # async fn demo(client: monitor_core::client::MonitoringClient) -> Result<(), monitor_core::client::ClientError> {
    /// // A phone-sized page: 20 cards.
    /// let snapshot = client.snapshot_with(20).await?;
    /// assert!(snapshot.uploads.len() <= 20);
    /// # Ok(()) }
    /// ```
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
    /// ```no_run
    /// # async fn demo(client: monitor_core::client::MonitoringClient) -> Result<(), monitor_core::client::ClientError> {
    /// let mut snapshot = client.snapshot().await?;
    /// let mut cursor = snapshot.cursor;
    /// loop {
    ///     tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    ///     let changes = client.changes(cursor).await?;
    ///     if changes.resync {
    ///         snapshot = client.snapshot().await?;
    ///         cursor = snapshot.cursor;
    ///         continue;
    ///     }
    ///     cursor = changes.cursor;
    ///     snapshot.stats = changes.stats;
    ///     for card in changes.uploads {
    ///         match snapshot.uploads.iter_mut().find(|c| c.id == card.id) {
    ///             Some(old) => *old = card,
    ///             None => snapshot.uploads.insert(0, card),
    ///         }
    ///     }
    /// }
    /// # }
    /// ```
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
    /// ```no_run
    /// # async fn demo(client: monitor_core::client::MonitoringClient) -> Result<(), monitor_core::client::ClientError> {
    /// use monitor_core::client::UploadFilter;
    /// use monitor_core::UploadStatus;
    /// let failed = UploadFilter {
    ///     status: Some(UploadStatus::Failed),
    ///     page_size: Some(100),
    ///     ..Default::default()
    /// };
    /// let mut cursor = None;
    /// loop {
    ///     let page = client.uploads(&failed, cursor).await?;
    ///     for card in &page.items {
    ///         println!("{}: {:?}", card.filename, card.error_message);
    ///     }
    ///     match page.next_cursor {
    ///         Some(next) => cursor = Some(next),
    ///         None => break,
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
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
            // A cursor among the uploads without a start time is its id alone.
            if let Some(started_at) = cursor.started_at {
                map.insert("after_started_at".into(), json!(started_at));
            }
            map.insert("after_id".into(), json!(cursor.id));
        }
        self.call("monitoring_uploads", args).await
    }

    /// A user's profile, counts, latest uploads and bugs.
    ///
    /// ```no_run
    /// # async fn demo(client: monitor_core::client::MonitoringClient) -> Result<(), monitor_core::client::ClientError> {
    /// use monitor_core::client::ClientError;
    /// let user = uuid::Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0001);
    /// match client.user_profile(user).await {
    ///     Ok(p) => println!("{:?}: {} uploads, {}% success", p.profile.email, p.uploads.total, p.uploads.success_rate),
    ///     Err(ClientError::NotFound { .. }) => println!("no such user"),
    ///     Err(other) => return Err(other),
    /// }
    /// # Ok(()) }
    /// ```
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
    /// ```no_run
    /// # async fn demo(client: monitor_core::client::MonitoringClient) -> Result<(), monitor_core::client::ClientError> {
    /// let user = uuid::Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0001);
    /// let mut before = None;
    /// loop {
    ///     let page = client.user_timeline(user, before, 50).await?;
    ///     for entry in &page.entries {
    ///         println!("{} {:?} {:?}", entry.at, entry.entry_type, entry.kind);
    ///     }
    ///     match page.next_cursor {
    ///         Some(next) => before = Some(next),
    ///         None => break,
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
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
    /// ```no_run
    /// # async fn demo(client: monitor_core::client::MonitoringClient) -> Result<(), monitor_core::client::ClientError> {
    /// use monitor_core::client::ComparePeriod;
    /// let day = client.compare(ComparePeriod::Day).await?;
    /// println!("success {}% today, {}% yesterday", day.current.success_rate, day.previous.success_rate);
    /// # Ok(()) }
    /// ```
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
    /// ```no_run
    /// # async fn demo(client: monitor_core::client::MonitoringClient) -> Result<(), monitor_core::client::ClientError> {
    /// let last_day = client.error_distribution(24).await?;
    /// for slice in &last_day.uploads {
    ///     println!("{}: {} ({}%)", slice.key, slice.count, slice.percentage);
    /// }
    /// # Ok(()) }
    /// ```
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
    /// ```no_run
    /// # async fn demo(client: monitor_core::client::MonitoringClient) -> Result<(), monitor_core::client::ClientError> {
    /// // The last 6 hours in 15-minute buckets.
    /// for bucket in client.speed_over_time(6, 15).await? {
    ///     println!("{}: {:?} MB/s over {} uploads", bucket.bucket_start, bucket.avg_upload_speed, bucket.uploads);
    /// }
    /// # Ok(()) }
    /// ```
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
    /// ```no_run
    /// # async fn demo(client: monitor_core::client::MonitoringClient) -> Result<(), monitor_core::client::ClientError> {
    /// // "Si > 5 échecs en 10 min".
    /// let alert = client.evaluate_alert(5, 10).await?;
    /// if alert.triggered {
    ///     eprintln!("{} failures since {}", alert.failures, alert.since);
    /// }
    /// # Ok(()) }
    /// ```
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
    /// ```no_run
    /// # async fn demo(client: monitor_core::client::MonitoringClient) -> Result<(), monitor_core::client::ClientError> {
    /// use monitor_core::client::Snapshot;
    /// // Any RPC, with named arguments; the answer decodes into the type asked for.
    /// let small: Snapshot = client
    ///     .call("monitoring_snapshot", serde_json::json!({ "max_uploads": 10 }))
    ///     .await?;
    /// let raw: serde_json::Value = client
    ///     .call("monitoring_evaluate_alert", serde_json::json!({ "max_failures": 5, "within_minutes": 10 }))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// See [`ClientError`].
    pub async fn call<T: DeserializeOwned>(
        &self,
        function: &str,
        args: Value,
    ) -> Result<T, ClientError> {
        let body = serde_json::to_vec(&args).map_err(|e| ClientError::UnexpectedResponse {
            function: function.to_owned(),
            reason: format!("arguments do not serialize: {e}"),
        })?;
        let answer = self.transport.post(function, &self.bearer, body).await?;
        if !answer.is_success() {
            // A body that is not PostgREST's JSON (a proxy's HTML page) still gets its kind.
            return Err(answer.into_error());
        }
        let bytes = answer.body;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::UnexpectedResponse {
            function: function.to_owned(),
            reason: e.to_string(),
        })
    }
}
