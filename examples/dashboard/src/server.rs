//! The `/monitoring` admin page served from Rust: routes, the loopback guard, and [`serve`].
//!
//! Routes:
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /` | redirect to `/monitoring` |
//! | `GET /monitoring` | the page ([`crate::assets`]: hashed `/assets/monitoring.<hash>.{js,css}`, cached a year) |
//! | `GET /api/snapshot` | `monitoring_snapshot`'s JSON |
//! | `GET /api/stream` | SSE: `snapshot`, then `changes` every second (one shared poller), a new `snapshot` on `resync`, `feed_error` when Supabase fails |
//! | `GET /api/uploads?before_started_at=&before_id=` | the next page of the upload list (`monitoring_uploads`): `{items, nextCursor}` |
//! | `POST /api/uploads/{id}/retry` | `request_upload_retry`: `{uploadId, retryRequestedAt}` |
//! | `GET /api/uploads/{id}/events` | `monitoring_upload_log`: the "Détails" modal's card and log |
//!
//! Errors are `{error, message}` with the status Supabase's answer maps to
//! (`api_error`). The browser never sees the Supabase credential: every call goes through
//! the [`MonitoringClient`] this server holds.
//!
//! **Loopback only.** The page has no login of its own yet: whoever reaches the port acts
//! with the dashboard's admin credential (sees every user's uploads, asks for retries). So
//! [`serve`] refuses a listener that is not on a loopback address, and every request must
//! name a loopback host (`127.0.0.1`, `localhost`, `[::1]`): a web page of another site
//! cannot read the API through DNS rebinding, and a cross-site form cannot post a retry
//! (its `Origin` is checked). To share the page, put an authenticating reverse proxy on the
//! same machine in front of it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use monitor_core::client::MonitoringClient;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;
use uuid::Uuid;

use crate::api_error::ApiError;
use crate::assets::{Asset, Page, PageConfig};
use crate::feed::{self, Feed};

/// Every answer's Content-Security-Policy: only this server's own script, style and API.
/// Error messages and titles on the page are user input; even if one slipped into markup, no
/// inline script would run.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

/// A comment line on an idle stream this often keeps proxies and the browser from closing
/// it (many idle timeouts are 30–60 s).
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A static file is cached this long: its name changes with its content.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// How the server is set up beyond its client and listener.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// What the page is told (the admin dashboard's URL for the header's links).
    pub page: PageConfig,
}

/// What every handler shares.
#[derive(Debug, Clone)]
struct AppState {
    client: MonitoringClient,
    feed: Arc<Feed>,
    /// Turns true at shutdown: open streams end so the server can stop.
    stop: watch::Receiver<bool>,
}

/// Serves the dashboard on `listener` until `shutdown` completes, then ends the open
/// streams and returns once every connection is closed.
///
/// # Errors
///
/// [`std::io::ErrorKind::InvalidInput`] when the listener is not on a loopback address (see
/// the module docs); an I/O error from the listener.
pub async fn serve<F>(
    client: MonitoringClient,
    listener: TcpListener,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    serve_with(client, listener, ServeOptions::default(), shutdown).await
}

/// [`serve`] with [`ServeOptions`].
///
/// # Errors
///
/// As [`serve`].
pub async fn serve_with<F>(
    client: MonitoringClient,
    listener: TcpListener,
    options: ServeOptions,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let address = listener.local_addr()?;
    if !address.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "the dashboard has no login of its own: bind it to a loopback address, not {address}"
            ),
        ));
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let app = router(client, &options, stop_rx);
    tracing::info!(%address, "dashboard listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Ends the SSE streams (which never end on their own) and the poller.
            let _ = stop_tx.send(true);
        })
        .await
}

/// The dashboard's routes over `client`; `stop` turning true ends the streams and the feed.
fn router(client: MonitoringClient, options: &ServeOptions, stop: watch::Receiver<bool>) -> Router {
    let page = Page::new(&options.page);
    let state = AppState {
        feed: Feed::start(client.clone(), stop.clone()),
        client,
        stop,
    };
    let html = page.html.clone();
    Router::new()
        .route("/", get(|| async { Redirect::to("/monitoring") }))
        .route("/monitoring", get(move || async move { Html(html) }))
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
        .layer(middleware::from_fn(loopback_only))
        .with_state(state)
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
    axum::extract::Query(query): axum::extract::Query<UploadPageQuery>,
) -> Result<Json<Value>, ApiError> {
    let mut args = json!({ "page_size": UPLOAD_PAGE_SIZE });
    if let (Some(at), Some(id)) = (query.before_started_at, query.before_id) {
        let at = chrono::DateTime::parse_from_rfc3339(&at)
            .map_err(|_| ApiError::BadCursor(at.clone()))?;
        args["after_started_at"] = json!(at);
        args["after_id"] = json!(upload_id(&id)?);
    }
    Ok(Json(state.client.call("monitoring_uploads", args).await?))
}

/// `GET /api/snapshot`: the page's first load, and its fallback when the stream is down.
async fn snapshot(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        state.client.call("monitoring_snapshot", json!({})).await?,
    ))
}

/// `GET /api/stream`: the page's snapshot, then the shared feed. A refused snapshot (a
/// non-admin token) is an HTTP error, not an empty stream, so the page can say why.
async fn stream(State(state): State<AppState>) -> Result<Response, ApiError> {
    let (receiver, first) = state.feed.subscribe().await?;
    let events = feed::page_stream(state.client.clone(), receiver, first, state.stop.clone());
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
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = upload_id(&id)?;
    let at: Value = state
        .client
        .call("request_upload_retry", json!({ "upload_id": id }))
        .await?;
    tracing::info!(upload = %id, "retry requested");
    Ok(Json(json!({ "uploadId": id, "retryRequestedAt": at })))
}

/// `GET /api/uploads/{id}/events` ("Détails"): the card and its event log.
async fn upload_log(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = upload_id(&id)?;
    Ok(Json(
        state
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

/// The guard of the module docs (loopback `Host`, same-origin writes) and the headers every
/// answer carries.
async fn loopback_only(request: Request, next: Next) -> Response {
    let mut response = match refusal(request.method(), request.headers()) {
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
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Live data: never served from a cache (hashed static files say otherwise themselves).
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Why a request is refused by the guard, if it is.
fn refusal(method: &Method, headers: &HeaderMap) -> Option<String> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if !is_loopback_host(host) {
        return Some(format!(
            "this dashboard answers only to a loopback host name, not {host:?}"
        ));
    }
    if method != Method::GET && method != Method::HEAD {
        // Browsers send Origin on every cross-site POST; a same-origin page's is http://{host}.
        if let Some(origin) = headers.get(header::ORIGIN) {
            if origin.to_str().ok() != Some(format!("http://{host}").as_str()) {
                return Some("cross-site requests cannot change anything here".to_owned());
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
