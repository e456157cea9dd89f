//! The `/monitoring` admin page served from Rust: routes, the sign-in gate, the host and
//! origin guard, and [`serve`].
//!
//! Routes:
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /` | redirect to `/monitoring` |
//! | `GET /login` | the sign-in form (a signed-in admin is sent on to `/monitoring`) |
//! | `POST /login` | `email`, `password` (a form): Supabase Auth's password grant; an admin gets a session cookie and `303 /monitoring`, anyone else the form again with why (401 wrong password, 403 not an admin) |
//! | `POST /logout` | ends the session (here and at Supabase), clears the cookie, `303 /login` |
//! | `GET /monitoring` | the page ([`crate::assets`]: hashed `/assets/monitoring.<hash>.{js,css}`, cached a year); `303 /login` without a session |
//! | `GET /api/snapshot` | `monitoring_snapshot`'s JSON |
//! | `GET /api/stream` | SSE: `snapshot`, then `changes` every second (one shared poller), a new `snapshot` on `resync`, `feed_error` when Supabase fails; ends with the session |
//! | `GET /api/uploads?before_started_at=&before_id=` | the next page of the upload list (`monitoring_uploads`): `{items, nextCursor}` |
//! | `POST /api/uploads/{id}/retry` | `request_upload_retry`: `{uploadId, retryRequestedAt}` |
//! | `GET /api/uploads/{id}/events` | `monitoring_upload_log`: the "Détails" modal's card and log |
//!
//! Every `/api` route wants a session: without one it answers 401 `unauthenticated` (the
//! page then goes to `/login`). Errors are `{error, message}` with the status Supabase's
//! answer maps to (`api_error`). The browser never sees a Supabase token: each page's calls
//! go out with its own admin's access token, held here ([`crate::session`]).
//!
//! **Where it may listen.** Without [`ServeOptions::public_url`] the server is for this
//! machine: [`serve`] refuses a listener that is not on a loopback address, and every
//! request must name a loopback host (`127.0.0.1`, `localhost`, `[::1]`), so a page of
//! another site cannot reach it through DNS rebinding. With an `https://` public URL (the
//! address of a TLS reverse proxy in front of it) it may listen on any address: passwords
//! and cookies then travel over TLS to the proxy, the cookie is `Secure`, and requests may
//! name the public host as well. No `X-Forwarded-*` header is read: the public URL is
//! configuration, so nothing a client sends can change what counts as same-origin.
//!
//! **CSRF.** The session cookie is `SameSite=Strict` (a cross-site request carries none),
//! and every request that is not `GET`/`HEAD` is refused when its `Origin` is neither the
//! public URL's origin nor `http://{Host}` for a loopback `Host` (direct local use), or
//! when the browser says `Sec-Fetch-Site: cross-site`. Behind a proxy that rewrites `Host`
//! to `127.0.0.1:3000` the browser's `Origin` is still the public one, and passes.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;
use uuid::Uuid;

use crate::api_error::ApiError;
use crate::assets::{Asset, Page, PageConfig};
use crate::feed::{self, Feed};
use crate::session::{self, Project, Sessions, SignInError, Signed};

/// Every answer's Content-Security-Policy: only this server's own script, style and API,
/// and forms that post here (sign-in, logout). Error messages and titles on the page are
/// user input; even if one slipped into markup, no inline script would run.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'";

/// A comment line on an idle stream this often keeps proxies and the browser from closing
/// it (many idle timeouts are 30–60 s).
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A static file is cached this long: its name changes with its content.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// How the server is set up beyond its project and listener.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// What the page is told (the admin dashboard's URL for the header's links).
    pub page: PageConfig,
    /// The address browsers use when a reverse proxy is in front (`https://monitor.example.com`):
    /// its origin is accepted for writes, its host for every request, the cookie is `Secure`
    /// when it is `https`, and with `https` the server may listen beyond loopback. None: this
    /// machine only (see the module docs).
    pub public_url: Option<reqwest::Url>,
    /// How long before its expiry a session's access token is refreshed
    /// ([`session::DEFAULT_REFRESH_MARGIN`]).
    pub refresh_margin: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            page: PageConfig::default(),
            public_url: None,
            refresh_margin: session::DEFAULT_REFRESH_MARGIN,
        }
    }
}

/// The public URL's parts the guard compares with.
#[derive(Debug, Clone)]
struct PublicUrl {
    /// `host[:port]`, lowercase, as a `Host` header names it.
    authority: String,
    /// `https://host[:port]`, as an `Origin` header names it.
    origin: String,
    https: bool,
}

impl PublicUrl {
    fn parse(url: &reqwest::Url) -> std::io::Result<PublicUrl> {
        let invalid = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, why);
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            other => {
                return Err(invalid(format!(
                    "the public URL must be http(s), not {other}:"
                )))
            }
        };
        let host = url
            .host_str()
            .ok_or_else(|| invalid(format!("the public URL {url} has no host")))?;
        if url.path() != "/" || url.query().is_some() {
            return Err(invalid(format!(
                "the public URL {url} must be the site's root: the page is served at /monitoring"
            )));
        }
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
        .to_ascii_lowercase();
        Ok(PublicUrl {
            authority,
            origin: url.origin().ascii_serialization(),
            https,
        })
    }
}

/// What every handler shares.
#[derive(Debug, Clone)]
struct AppState {
    sessions: Arc<Sessions>,
    feed: Arc<Feed>,
    page: Arc<Page>,
    public: Option<PublicUrl>,
    /// Turns true at shutdown: open streams end so the server can stop.
    stop: watch::Receiver<bool>,
}

impl AppState {
    /// Whether cookies get `Secure`: the browser reaches the page over https.
    fn secure(&self) -> bool {
        self.public.as_ref().is_some_and(|p| p.https)
    }

    /// The request's session, refreshed when due.
    async fn signed(&self, headers: &HeaderMap) -> Result<Signed, ApiError> {
        let id = session::session_id(headers).ok_or(ApiError::SignedOut)?;
        match self.sessions.get(&id).await {
            Ok(Some(signed)) => Ok(signed),
            Ok(None) => Err(ApiError::SignedOut),
            Err(e) => Err(ApiError::SignIn(e)),
        }
    }
}

/// Serves the dashboard for `project`'s admins on `listener` until `shutdown` completes,
/// then ends the open streams and returns once every connection is closed.
///
/// # Errors
///
/// [`std::io::ErrorKind::InvalidInput`] when the listener is not on a loopback address (see
/// the module docs); an I/O error from the listener.
pub async fn serve<F>(project: Project, listener: TcpListener, shutdown: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    serve_with(project, listener, ServeOptions::default(), shutdown).await
}

/// [`serve`] with [`ServeOptions`].
///
/// # Errors
///
/// As [`serve`], and [`std::io::ErrorKind::InvalidInput`] for a public URL that is not an
/// http(s) site root, or a non-loopback listener without an `https` public URL.
pub async fn serve_with<F>(
    project: Project,
    listener: TcpListener,
    options: ServeOptions,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let address = listener.local_addr()?;
    let public = options
        .public_url
        .as_ref()
        .map(PublicUrl::parse)
        .transpose()?;
    if !address.ip().is_loopback() && !public.as_ref().is_some_and(|p| p.https) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "listening on {address} needs an https public URL (a TLS reverse proxy in front, \
                 --public-url https://…): passwords would cross the network in clear; \
                 otherwise bind it to a loopback address"
            ),
        ));
    }
    let sessions = Sessions::new(project, options.refresh_margin)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let app = router(Arc::new(sessions), &options, public, stop_rx);
    tracing::info!(%address, "dashboard listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Ends the SSE streams (which never end on their own) and the poller.
            let _ = stop_tx.send(true);
        })
        .await
}

/// The dashboard's routes; `stop` turning true ends the streams and the feed.
fn router(
    sessions: Arc<Sessions>,
    options: &ServeOptions,
    public: Option<PublicUrl>,
    stop: watch::Receiver<bool>,
) -> Router {
    let page = Arc::new(Page::new(&options.page));
    let state = AppState {
        feed: Feed::start(sessions.clone(), stop.clone()),
        sessions,
        page: page.clone(),
        public,
        stop,
    };
    Router::new()
        .route("/", get(|| async { Redirect::to("/monitoring") }))
        .route("/login", get(sign_in_page).post(sign_in))
        .route("/logout", post(logout))
        .route("/monitoring", get(monitoring_page))
        .route(&page.script.path, get(asset(page.script.clone())))
        .route(&page.style.path, get(asset(page.style.clone())))
        .route("/api/snapshot", get(snapshot))
        .route("/api/stream", get(stream))
        .route("/api/uploads", get(upload_page))
        .route("/api/uploads/{id}/retry", post(retry))
        .route("/api/uploads/{id}/events", get(upload_log))
        .route(
            "/api/{*rest}",
            axum::routing::any(|| async { ApiError::NoRoute }),
        )
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// `GET /monitoring`: the page for a signed-in admin, the sign-in form's address otherwise.
async fn monitoring_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match state.signed(&headers).await {
        Ok(_) => Html(state.page.html.clone()).into_response(),
        Err(ApiError::SignedOut) => Redirect::to("/login").into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /login`: the form, or on to the page when already signed in.
async fn sign_in_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let signed_in = match session::session_id(&headers) {
        Some(id) => state.sessions.contains(&id),
        None => false,
    };
    if signed_in {
        return Redirect::to("/monitoring").into_response();
    }
    Html(state.page.sign_in(None, "")).into_response()
}

/// The sign-in form's fields.
#[derive(serde::Deserialize)]
struct SignInForm {
    email: String,
    password: String,
}

impl std::fmt::Debug for SignInForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password, even in a debug log.
        f.debug_struct("SignInForm")
            .field("email", &self.email)
            .finish()
    }
}

/// `POST /login`: Supabase Auth's password grant; a session for an admin.
async fn sign_in(State(state): State<AppState>, body: Bytes) -> Response {
    let Ok(form) = serde_urlencoded::from_bytes::<SignInForm>(&body) else {
        let message = "Formulaire incomplet : indiquez l'email et le mot de passe.";
        return (
            StatusCode::BAD_REQUEST,
            Html(state.page.sign_in(Some(message), "")),
        )
            .into_response();
    };
    match state.sessions.sign_in(&form.email, &form.password).await {
        Ok(id) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, "/monitoring".to_owned()),
                (
                    header::SET_COOKIE,
                    session::cookie(Some(&id), state.secure()),
                ),
            ],
        )
            .into_response(),
        Err(e) => {
            let status = match e {
                SignInError::WrongCredentials => StatusCode::UNAUTHORIZED,
                SignInError::NotAdmin => StatusCode::FORBIDDEN,
                SignInError::Unreachable(_) => StatusCode::BAD_GATEWAY,
                _ => StatusCode::BAD_REQUEST,
            };
            let message = e.to_string();
            (
                status,
                Html(state.page.sign_in(Some(&message), &form.email)),
            )
                .into_response()
        }
    }
}

/// `POST /logout`: the session ends here and at Supabase; the cookie is cleared.
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = session::session_id(&headers) {
        state.sessions.logout(&id).await;
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/login".to_owned()),
            (header::SET_COOKIE, session::cookie(None, state.secure())),
        ],
    )
        .into_response()
}

/// The handler of one static file.
fn asset(asset: Asset) -> impl Fn() -> std::future::Ready<Response> + Clone + Send + 'static {
    move || {
        std::future::ready(
            (
                [
                    (header::CONTENT_TYPE, asset.content_type),
                    (header::CACHE_CONTROL, IMMUTABLE),
                ],
                asset.body,
            )
                .into_response(),
        )
    }
}

/// Query of `GET /api/uploads`: the previous page's `nextCursor`.
#[derive(Debug, serde::Deserialize)]
struct UploadPageQuery {
    before_started_at: Option<String>,
    before_id: Option<String>,
}

/// How many cards "Voir plus" adds at once.
const UPLOAD_PAGE_SIZE: u32 = 50;

/// `GET /api/uploads`: the upload list beyond the snapshot's 100 cards, newest start first.
async fn upload_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<UploadPageQuery>,
) -> Result<Json<Value>, ApiError> {
    let signed = state.signed(&headers).await?;
    let mut args = json!({ "page_size": UPLOAD_PAGE_SIZE });
    if let (Some(at), Some(id)) = (query.before_started_at, query.before_id) {
        let at = chrono::DateTime::parse_from_rfc3339(&at)
            .map_err(|_| ApiError::BadCursor(at.clone()))?;
        args["after_started_at"] = json!(at);
        args["after_id"] = json!(upload_id(&id)?);
    }
    Ok(Json(signed.client.call("monitoring_uploads", args).await?))
}

/// `GET /api/snapshot`: the page's first load, and its fallback when the stream is down.
async fn snapshot(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let signed = state.signed(&headers).await?;
    Ok(Json(
        signed.client.call("monitoring_snapshot", json!({})).await?,
    ))
}

/// `GET /api/stream`: the page's snapshot, then the shared feed. A refused snapshot (a
/// non-admin token) is an HTTP error, not an empty stream, so the page can say why.
async fn stream(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let signed = state.signed(&headers).await?;
    let (receiver, first) = state.feed.subscribe(&signed.client).await?;
    let events = feed::page_stream(
        state.sessions.clone(),
        signed.id,
        receiver,
        first,
        state.stop.clone(),
    );
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

fn upload_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::BadId(raw.to_owned()))
}

/// `POST /api/uploads/{id}/retry` ("Réessayer"): the device picks the request up and
/// answers with a `retry` event.
async fn retry(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let signed = state.signed(&headers).await?;
    let id = upload_id(&id)?;
    let at: Value = signed
        .client
        .call("request_upload_retry", json!({ "upload_id": id }))
        .await?;
    tracing::info!(upload = %id, "retry requested");
    Ok(Json(json!({ "uploadId": id, "retryRequestedAt": at })))
}

/// `GET /api/uploads/{id}/events` ("Détails"): the card and its event log.
async fn upload_log(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let signed = state.signed(&headers).await?;
    let id = upload_id(&id)?;
    Ok(Json(
        signed
            .client
            .call("monitoring_upload_log", json!({ "upload_id": id }))
            .await?,
    ))
}

/// Whether a `Host` header (`name` or `name:port`) names this machine's loopback.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        // "[::1]:3000" -> "::1"
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The guard of the module docs (known `Host`, same-origin writes) and the headers every
/// answer carries.
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = match refusal(request.method(), request.headers(), state.public.as_ref()) {
        Some(reason) => {
            tracing::warn!(reason, "request refused");
            (
                StatusCode::FORBIDDEN,
                Json(json!({ "error": "forbidden", "message": reason })),
            )
                .into_response()
        }
        None => next.run(request).await,
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // `same-origin`, not `no-referrer`: under `no-referrer` a browser sends `Origin: null`
    // with the page's own form posts (sign-in, logout; Fetch's "serialize a request origin"),
    // which the same-origin check rightly refuses. Other sites still get no referrer.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    // Live data: never served from a cache (hashed static files say otherwise themselves).
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Why a request is refused by the guard, if it is.
fn refusal(method: &Method, headers: &HeaderMap, public: Option<&PublicUrl>) -> Option<String> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let loopback = is_loopback_host(host);
    let public_host = public.is_some_and(|p| host.eq_ignore_ascii_case(&p.authority));
    if !loopback && !public_host {
        return Some(match public {
            Some(p) => format!(
                "this dashboard answers only to {} or a loopback host name, not {host:?}",
                p.authority
            ),
            None => format!("this dashboard answers only to a loopback host name, not {host:?}"),
        });
    }
    if method != Method::GET && method != Method::HEAD {
        let cross_site = "cross-site requests cannot change anything here".to_owned();
        if headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes() == b"cross-site")
        {
            return Some(cross_site);
        }
        // Browsers send Origin on every POST. The page's own: the public URL's origin, or
        // http://{host} when opened directly on this machine.
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or_default();
            // Host names are case-insensitive; browsers send the Origin lowercased.
            let direct = loopback && origin.eq_ignore_ascii_case(&format!("http://{host}"));
            let proxied = public.is_some_and(|p| origin == p.origin);
            if !direct && !proxied {
                return Some(cross_site);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn only_loopback_host_names_pass() {
        for host in [
            "127.0.0.1:3000",
            "localhost:3000",
            "LOCALHOST",
            "[::1]:3000",
            "127.0.0.2",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "",
            "evil.example:3000",
            "192.168.1.2:3000",
            "[2001:db8::1]:3000",
            "localhost.evil.example",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
