//! Admin sign-in and server-side sessions: Supabase Auth's password grant, the session kept
//! in this process (the browser holds only a random id in an `HttpOnly`, `SameSite=Strict`
//! cookie), its refresh with the `refresh_token` grant before the access token expires, and
//! logout.
//!
//! The database decides who is an admin: at sign-in the new access token calls
//! `monitoring_changes` (which runs `private.monitoring_require_admin`), and a refusal ends
//! the Supabase session at once and refuses the sign-in. Every later RPC of a page runs with
//! its own admin's token, so RLS and `private.is_admin()` keep deciding.
//!
//! Sessions live in memory: they end at logout, when Supabase refuses their refresh (the
//! admin signed out everywhere, or was removed), or when the server stops. At most
//! [`MAX_SESSIONS`] are kept; signing in beyond that ends the least recently used one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use monitor_core::client::{ClientError, MonitoringClient};
use serde::Deserialize;
use serde_json::json;

/// The cookie that carries the session id.
pub const COOKIE_NAME: &str = "monitoring_session";

/// Bytes of randomness in a session id: 256 bits, from the OS.
const SESSION_ID_BYTES: usize = 32;

/// Sessions kept at once: far more admins than a project has, small enough that a script
/// signing in in a loop cannot grow the server's memory without bound.
pub const MAX_SESSIONS: usize = 1000;

/// How long before its expiry an access token is replaced. Supabase's tokens last an hour;
/// five minutes leave room for a slow refresh and clock skew, and a call never goes out with
/// a token about to lapse.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// How long a call to Supabase Auth may take.
const AUTH_TIMEOUT: Duration = Duration::from_secs(15);

/// The Supabase project admins sign in to: its API URL (`SUPABASE_URL`) and anon key. The
/// dashboard holds no credential of its own.
#[derive(Debug, Clone)]
pub struct Project {
    /// The API URL (`https://abcd.supabase.co`, the dev stack's `http://127.0.0.1:54321`).
    pub url: String,
    /// The anon key, sent as `apikey` with every call.
    pub anon_key: String,
}

impl Project {
    /// A project from its URL and anon key.
    pub fn new(url: impl Into<String>, anon_key: impl Into<String>) -> Project {
        Project {
            url: url.into().trim_end_matches('/').to_owned(),
            anon_key: anon_key.into(),
        }
    }
}

/// Why a sign-in, a refresh or a logout failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignInError {
    /// Supabase refused the email and password.
    #[error("Email ou mot de passe incorrect.")]
    WrongCredentials,
    /// The account signed in but the database refused it the monitoring RPCs.
    #[error(
        "Ce compte n'est pas administrateur : la page /monitoring est réservée aux comptes \
         admin (app_metadata.role = admin)."
    )]
    NotAdmin,
    /// Supabase could not be reached, or answered something else than Auth's JSON.
    #[error("Supabase ne répond pas ({0}) : réessayez dans un instant.")]
    Unreachable(String),
    /// Supabase refused the request for another reason (its message, in its words).
    #[error("Supabase a refusé la connexion : {0}")]
    Refused(String),
}

/// Supabase Auth's answer to a grant (the fields the dashboard keeps).
#[derive(Debug, Deserialize)]
struct Grant {
    access_token: String,
    refresh_token: String,
    expires_in: u64,
    user: GrantUser,
}

#[derive(Debug, Deserialize)]
struct GrantUser {
    #[serde(default)]
    email: String,
}

/// GoTrue's error body, old and new shapes.
#[derive(Debug, Default, Deserialize)]
struct AuthErrorBody {
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

impl AuthErrorBody {
    fn code(&self) -> Option<&str> {
        self.error_code
            .as_deref()
            .or(self.code.as_ref().and_then(|c| c.as_str()))
            .or(self.error.as_deref())
    }
    fn message(&self) -> String {
        self.message
            .clone()
            .or_else(|| self.msg.clone())
            .or_else(|| self.error_description.clone())
            .unwrap_or_else(|| "sans message".to_owned())
    }
}

/// The tokens of one session and the client that calls with them.
#[derive(Debug)]
struct Tokens {
    access_token: String,
    refresh_token: String,
    expires_at: Instant,
    client: MonitoringClient,
}

/// One signed-in admin.
#[derive(Debug)]
struct Session {
    email: String,
    /// Held across a refresh: two requests of one page never spend its refresh token twice.
    tokens: tokio::sync::Mutex<Tokens>,
    last_used: Mutex<Instant>,
}

impl Session {
    fn touch(&self) {
        *self.last_used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }
    fn last_used(&self) -> Instant {
        *self.last_used.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Every session of this server, and the way to Supabase Auth.
#[derive(Debug)]
pub(crate) struct Sessions {
    project: Project,
    http: reqwest::Client,
    refresh_margin: Duration,
    map: Mutex<HashMap<String, Arc<Session>>>,
    /// Bumped whenever a session ends: open streams look whether theirs did.
    ended: tokio::sync::watch::Sender<u64>,
}

/// What a request learns about its session.
#[derive(Debug, Clone)]
pub(crate) struct Signed {
    /// The session id (the cookie's value).
    pub(crate) id: String,
    /// A client calling with the session's current access token.
    pub(crate) client: MonitoringClient,
}

impl Sessions {
    /// No session yet, for `project`.
    pub(crate) fn new(project: Project, refresh_margin: Duration) -> Result<Sessions, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(AUTH_TIMEOUT)
            .build()
            .map_err(|e| ClientError::Config(format!("HTTP client: {e}")))?;
        Ok(Sessions {
            project,
            http,
            refresh_margin,
            map: Mutex::new(HashMap::new()),
            ended: tokio::sync::watch::Sender::new(0),
        })
    }

    /// Changes whenever a session ends.
    pub(crate) fn ended(&self) -> tokio::sync::watch::Receiver<u64> {
        self.ended.subscribe()
    }

    /// Removes `id` from the map and tells the streams.
    fn take(&self, id: &str) -> Option<Arc<Session>> {
        let session = self.map().remove(id);
        if session.is_some() {
            self.ended.send_modify(|n| *n = n.wrapping_add(1));
        }
        session
    }

    fn map(&self) -> MutexGuard<'_, HashMap<String, Arc<Session>>> {
        // A map of plain values: valid whatever a panicking holder left.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `POST /auth/v1/token?grant_type=…` with `body`.
    async fn grant(&self, grant_type: &str, body: serde_json::Value) -> Result<Grant, SignInError> {
        let response = self
            .http
            .post(format!(
                "{}/auth/v1/token?grant_type={grant_type}",
                self.project.url
            ))
            .header("apikey", &self.project.anon_key)
            .json(&body)
            .send()
            .await
            .map_err(|e| SignInError::Unreachable(e.without_url().to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| SignInError::Unreachable(e.without_url().to_string()))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| SignInError::Unreachable(format!("réponse inattendue : {e}")));
        }
        let error: AuthErrorBody = serde_json::from_slice(&bytes).unwrap_or_default();
        tracing::info!(%status, code = ?error.code(), grant_type, "Supabase Auth refused a grant");
        match (status.as_u16(), error.code()) {
            (400, Some("invalid_credentials" | "invalid_grant" | "email_not_confirmed"))
            | (400, None) => Err(SignInError::WrongCredentials),
            (s, _) if s >= 500 || s == 429 => {
                Err(SignInError::Unreachable(format!("HTTP {status}")))
            }
            _ => Err(SignInError::Refused(error.message())),
        }
    }

    /// Ends the Supabase session of `access_token` (its refresh tokens stop working). Best
    /// effort: a failure is logged, the local session is gone anyway.
    async fn supabase_logout(&self, access_token: &str) {
        let result = self
            .http
            .post(format!("{}/auth/v1/logout?scope=local", self.project.url))
            .header("apikey", &self.project.anon_key)
            .bearer_auth(access_token)
            .send()
            .await;
        match result {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::info!(status = %r.status(), "Supabase logout refused"),
            Err(e) => tracing::warn!(error = %e.without_url(), "Supabase logout failed"),
        }
    }

    fn tokens(&self, grant: Grant) -> Result<Tokens, SignInError> {
        let client = MonitoringClient::new(
            &self.project.url,
            &self.project.anon_key,
            &grant.access_token,
        )
        .map_err(|e| SignInError::Refused(e.to_string()))?;
        Ok(Tokens {
            expires_at: Instant::now() + Duration::from_secs(grant.expires_in),
            access_token: grant.access_token,
            refresh_token: grant.refresh_token,
            client,
        })
    }

    /// Signs `email` in; answers the new session's id.
    ///
    /// # Errors
    ///
    /// [`SignInError`]: wrong credentials, not an admin, Supabase unreachable.
    pub(crate) async fn sign_in(&self, email: &str, password: &str) -> Result<String, SignInError> {
        let grant = self
            .grant(
                "password",
                json!({ "email": email.trim(), "password": password }),
            )
            .await?;
        let email = grant.user.email.clone();
        let tokens = self.tokens(grant)?;
        // The database decides: an admin-only RPC, with the new token, now. `since` = now
        // asks for nothing but the check.
        let check: Result<serde_json::Value, ClientError> = tokens
            .client
            .call("monitoring_changes", json!({ "since": chrono::Utc::now() }))
            .await;
        match check {
            Ok(_) => {}
            Err(ClientError::Forbidden { .. }) => {
                tracing::info!(%email, "a non-admin signed in: refused");
                self.supabase_logout(&tokens.access_token).await;
                return Err(SignInError::NotAdmin);
            }
            Err(e) => {
                self.supabase_logout(&tokens.access_token).await;
                return Err(SignInError::Unreachable(e.to_string()));
            }
        }
        let id = new_session_id().map_err(|e| SignInError::Refused(e.to_string()))?;
        let session = Arc::new(Session {
            email: email.clone(),
            tokens: tokio::sync::Mutex::new(tokens),
            last_used: Mutex::new(Instant::now()),
        });
        let evicted = {
            let mut map = self.map();
            let evicted = if map.len() >= MAX_SESSIONS {
                let oldest = map
                    .iter()
                    .min_by_key(|(_, s)| s.last_used())
                    .map(|(k, _)| k.clone());
                oldest.and_then(|k| map.remove(&k))
            } else {
                None
            };
            map.insert(id.clone(), session);
            evicted
        };
        if let Some(old) = evicted {
            self.ended.send_modify(|n| *n = n.wrapping_add(1));
            tracing::info!(email = %old.email, "too many sessions: the least recently used ends");
            let token = old.tokens.lock().await.access_token.clone();
            self.supabase_logout(&token).await;
        }
        tracing::info!(%email, "admin signed in");
        Ok(id)
    }

    /// The session `id`, with an access token valid for at least the refresh margin
    /// (refreshed first when it is not). None when there is no such session, or Supabase
    /// refused its refresh (it is then removed).
    ///
    /// # Errors
    ///
    /// [`SignInError::Unreachable`] when the refresh could not be asked: the session stays.
    pub(crate) async fn get(&self, id: &str) -> Result<Option<Signed>, SignInError> {
        let Some(session) = self.map().get(id).cloned() else {
            return Ok(None);
        };
        session.touch();
        let mut tokens = session.tokens.lock().await;
        if tokens.expires_at.saturating_duration_since(Instant::now()) <= self.refresh_margin {
            let refresh_token = tokens.refresh_token.clone();
            match self
                .grant("refresh_token", json!({ "refresh_token": refresh_token }))
                .await
            {
                Ok(grant) => {
                    *tokens = self.tokens(grant)?;
                    tracing::debug!(email = %session.email, "session refreshed");
                }
                Err(SignInError::Unreachable(why)) => {
                    // Still usable until it expires: the next request tries again.
                    if tokens.expires_at > Instant::now() {
                        tracing::warn!(%why, "refreshing a session failed; its token still works");
                    } else {
                        return Err(SignInError::Unreachable(why));
                    }
                }
                Err(e) => {
                    tracing::info!(email = %session.email, error = %e, "Supabase ended a session");
                    drop(tokens);
                    self.take(id);
                    return Ok(None);
                }
            }
        }
        Ok(Some(Signed {
            id: id.to_owned(),
            client: tokens.client.clone(),
        }))
    }

    /// True while session `id` exists.
    pub(crate) fn contains(&self, id: &str) -> bool {
        self.map().contains_key(id)
    }

    /// Removes session `id` (the database refused its token, or it was logged out).
    pub(crate) fn remove(&self, id: &str) -> bool {
        self.take(id).is_some()
    }

    /// A client of some live session, the most recently used first: the shared poller reads
    /// with it (every admin sees the same monitoring data). None when nobody is signed in.
    pub(crate) async fn any(&self) -> Option<Signed> {
        let mut ids: Vec<(Instant, String)> = self
            .map()
            .iter()
            .map(|(k, s)| (s.last_used(), k.clone()))
            .collect();
        ids.sort_by_key(|entry| std::cmp::Reverse(entry.0));
        for (_, id) in ids {
            if let Ok(Some(signed)) = self.get_quiet(&id).await {
                return Some(signed);
            }
        }
        None
    }

    /// [`Sessions::get`] without marking the session used (the poller is not the admin).
    async fn get_quiet(&self, id: &str) -> Result<Option<Signed>, SignInError> {
        let before = self.map().get(id).map(|s| s.last_used());
        let signed = self.get(id).await;
        if let (Some(at), Some(session)) = (before, self.map().get(id)) {
            *session.last_used.lock().unwrap_or_else(|p| p.into_inner()) = at;
        }
        signed
    }

    /// Logs session `id` out, here and at Supabase. False when there was none.
    pub(crate) async fn logout(&self, id: &str) -> bool {
        let Some(session) = self.take(id) else {
            return false;
        };
        let token = session.tokens.lock().await.access_token.clone();
        self.supabase_logout(&token).await;
        tracing::info!(email = %session.email, "admin signed out");
        true
    }
}

/// A new session id: [`SESSION_ID_BYTES`] from the OS, base64url.
fn new_session_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; SESSION_ID_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The `Set-Cookie` value of session `id` (`None` clears the cookie).
pub(crate) fn cookie(id: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match id {
        Some(id) => format!("{COOKIE_NAME}={id}; Path=/; HttpOnly; SameSite=Strict{secure}"),
        None => format!("{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Strict{secure}; Max-Age=0"),
    }
}

/// The session id in a request's `Cookie` headers, if any.
pub(crate) fn session_id(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_random_and_url_safe() {
        let a = new_session_id().unwrap();
        let b = new_session_id().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_only_when_asked() {
        let plain = cookie(Some("abc"), false);
        assert_eq!(
            plain,
            "monitoring_session=abc; Path=/; HttpOnly; SameSite=Strict"
        );
        assert!(cookie(Some("abc"), true).ends_with("; Secure"));
        assert!(cookie(None, false).contains("Max-Age=0"));
    }

    #[test]
    fn the_session_id_is_read_among_other_cookies() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            "theme=dark; monitoring_session=xyz; other=1"
                .parse()
                .unwrap(),
        );
        assert_eq!(session_id(&headers).as_deref(), Some("xyz"));
        headers.insert(
            axum::http::header::COOKIE,
            "monitoring_session=".parse().unwrap(),
        );
        assert_eq!(session_id(&headers), None);
    }
}
