//! The `/monitoring` dashboard (`monitor-dashboard`) over real HTTP against the shared dev
//! stack: the page and its labels, the snapshot, the SSE stream (a snapshot first, then a
//! reported upload as a `changes` event), "Réessayer", the "Détails" log, admin sign-in
//! (cookie flags, wrong password, non-admin, no session, logout, refresh, behind an HTTPS
//! proxy), and the refusals (a foreign host name, a cross-site post, a public listener).

mod common;

use std::time::{Duration, Instant};

use common::{
    admin_dashboard, http, post_sign_in, project, session_cookie, signed_in, stack, user,
    with_cookie, Dashboard, PASSWORD,
};
use monitor_dashboard::server::{self, ServeOptions};
use monitor_dashboard::Project;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use upload_monitor::devstack::TestUser;
use uuid::Uuid;

/// How long a test waits for the feed to carry a change: the poller asks every second, so
/// this is generous room for a loaded 2-core machine.
const FEED_WAIT: Duration = Duration::from_secs(20);

/// Every label of the spec that the page's HTML carries.
const PAGE_LABELS: &[&str] = &[
    "📊 Monitoring Temps Réel",
    "Uploads actifs",
    "en attente",
    "Complétés (24h)",
    "% succès",
    "Échecs (24h)",
    "% des uploads",
    "Vitesse moy.",
    "MB/s",
    "10 derniers uploads",
    "Bugs nouveaux",
    "critiques",
    "🔥 Erreurs les plus fréquentes (24h)",
    "Erreur",
    "Occurrences",
    "Utilisateurs",
    "% Total",
    "⬆️ Uploads en cours",
    "🐛 Bugs récents",
    "🚫 Échecs Upload",
    "🔴 Échecs Transcription",
    "⚠️ Erreurs Réseau",
];

/// The labels the page's config carries (from monitor-core) for the script to show.
const CONFIG_LABELS: &[&str] = &[
    "En attente",
    "Upload en cours",
    "Complété",
    "Échec",
    "🟡",
    "🔵",
    "🟢",
    "🔴",
    "📹 Recorded",
    "📸 Imported",
    "Tentative 1/3",
    "Tentative 3/3",
    "💥",
    "🌐",
    "🔌",
    "🎨",
    "🔥",
    "⚙️",
    "ℹ️",
    "🆕",
    "🔍",
    "✅",
    "Critique",
    "Erreur réseau",
];

/// The labels the script itself writes.
const SCRIPT_LABELS: &[&str] = &[
    "Détails",
    "Réessayer",
    "Relance demandée",
    "il y a",
    "Voir plus",
];

/// The `src` or `href` of the page's `<script>` or stylesheet.
fn asset_path<'a>(html: &'a str, attribute: &str, ext: &str) -> &'a str {
    html.split(&format!("{attribute}=\""))
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .find(|path| path.starts_with("/assets/") && path.ends_with(ext))
        .unwrap_or_else(|| panic!("the page links a {ext} asset"))
}

/// An upload of `user` begun and progressed (and failed, when `fail`) through the real ingest.
async fn report_upload(user: &TestUser, filename: &str, fail: bool) -> Uuid {
    common::report_upload(user, filename, "Été à <b>Kyoto</b> 🎌", fail.then_some(0)).await
}

/// One server-sent event.
#[derive(Debug)]
struct SseEvent {
    name: String,
    data: Value,
}

/// Reads `event:`/`data:` blocks off an open `text/event-stream` response.
struct SseReader {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl SseReader {
    /// The next event (keep-alive comments skipped).
    async fn next(&mut self) -> SseEvent {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let block = String::from_utf8(block).expect("UTF-8 events");
                let mut name = String::from("message");
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        name = value.trim().to_owned();
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push(value.strip_prefix(' ').unwrap_or(value));
                    }
                }
                if data.is_empty() {
                    continue;
                }
                let data = serde_json::from_str(&data.join("\n")).expect("JSON data");
                return SseEvent { name, data };
            }
            let chunk = self
                .response
                .chunk()
                .await
                .expect("the stream reads")
                .expect("the stream stays open");
            self.buffer.extend_from_slice(&chunk);
        }
    }

    /// Events until one satisfies `wanted`, or panics after [`FEED_WAIT`].
    async fn until(&mut self, what: &str, wanted: impl Fn(&SseEvent) -> bool) -> SseEvent {
        let deadline = Instant::now() + FEED_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = tokio::time::timeout(left, self.next())
                .await
                .unwrap_or_else(|_| panic!("no {what} within {FEED_WAIT:?}"));
            if wanted(&event) {
                return event;
            }
        }
    }
}

async fn open_stream(dashboard: &Dashboard, http: &reqwest::Client) -> SseReader {
    let response = http
        .get(dashboard.url("/api/stream"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("the dashboard answers");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream",
        "an SSE stream"
    );
    SseReader {
        response,
        buffer: Vec::new(),
    }
}

fn carries_upload(event: &SseEvent, upload: Uuid) -> bool {
    event.data["uploads"]
        .as_array()
        .is_some_and(|cards| cards.iter().any(|c| c["id"] == upload.to_string()))
}

#[tokio::test]
async fn the_page_is_served_with_the_spec_labels_and_only_its_own_script() {
    let (dashboard, http) = admin_dashboard().await;

    let root = http
        .get(dashboard.url("/"))
        .send()
        .await
        .expect("an answer");
    assert!(root.status().is_redirection(), "{}", root.status());
    assert_eq!(root.headers()["location"], "/monitoring");

    let page = http
        .get(dashboard.url("/monitoring"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .expect("ASCII")
        .starts_with("text/html"));
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = page.text().await.expect("a body");
    for label in PAGE_LABELS.iter().chain(CONFIG_LABELS) {
        assert!(html.contains(label), "the page lacks {label:?}");
    }
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "nothing from the internet"
    );

    let script = http
        .get(dashboard.url(asset_path(&html, "src", ".js")))
        .send()
        .await
        .expect("an answer");
    assert_eq!(
        script.headers()["cache-control"],
        "public, max-age=31536000, immutable",
        "hashed names are cached"
    );
    assert!(script.headers()["content-type"]
        .to_str()
        .expect("ASCII")
        .starts_with("text/javascript"));
    let js = script.text().await.expect("a body");
    for label in SCRIPT_LABELS {
        assert!(js.contains(label), "the script lacks {label:?}");
    }
    // User text (titles, emails, error messages) is written with textContent only.
    assert!(!js.contains("innerHTML") && !js.contains("insertAdjacentHTML"));
    let css = http
        .get(dashboard.url(asset_path(&html, "href", ".css")))
        .send()
        .await
        .expect("an answer");
    assert_eq!(css.status(), 200);
    dashboard.shut_down().await.expect("a clean stop");
}

#[tokio::test]
async fn the_snapshot_endpoint_answers_with_every_section() {
    let (dashboard, http) = admin_dashboard().await;
    let user = user(false).await;
    let upload = report_upload(&user, "IMG_SNAP.MOV", false).await;
    let response = http
        .get(dashboard.url("/api/snapshot"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), 200);
    let snapshot: Value = response.json().await.expect("JSON");
    for section in [
        "generatedAt",
        "cursor",
        "stats",
        "topErrors",
        "uploads",
        "recentBugs",
        "uploadErrors",
        "transcriptionErrors",
        "networkErrors",
    ] {
        assert!(snapshot.get(section).is_some(), "no {section}");
    }
    assert!(snapshot["stats"]["uploadsInProgress"].as_i64() >= Some(1));
    let card = snapshot["uploads"]
        .as_array()
        .expect("cards")
        .iter()
        .find(|c| c["id"] == upload.to_string())
        .expect("the new upload is a card");
    assert_eq!(card["status"], "uploading");
    assert_eq!(card["userEmail"], user.email.as_str());
}

#[tokio::test]
async fn the_stream_opens_with_a_snapshot_then_carries_a_reported_upload_as_changes() {
    let (dashboard, http) = admin_dashboard().await;
    let mut stream = open_stream(&dashboard, &http).await;
    let first = stream.next().await;
    assert_eq!(first.name, "snapshot");
    assert!(first.data["uploads"].is_array() && first.data["stats"].is_object());

    let user = user(false).await;
    let upload = report_upload(&user, "IMG_LIVE.MOV", false).await;
    let changes = stream
        .until("changes event with the new upload", |e| {
            e.name == "changes" && carries_upload(e, upload)
        })
        .await;
    assert_eq!(changes.data["resync"], false);
    let card = changes.data["uploads"]
        .as_array()
        .expect("cards")
        .iter()
        .find(|c| c["id"] == upload.to_string())
        .expect("the card");
    assert_eq!(
        (card["status"].clone(), card["progress"].clone()),
        (json!("uploading"), json!(40))
    );
    assert_eq!(card["videoTitle"], "Été à <b>Kyoto</b> 🎌");
    dashboard.shut_down().await.expect("a clean stop");
}

#[tokio::test]
async fn two_pages_share_the_feed_and_both_see_the_change() {
    let (dashboard, http) = admin_dashboard().await;
    let mut first = open_stream(&dashboard, &http).await;
    let mut second = open_stream(&dashboard, &http).await;
    assert_eq!(first.next().await.name, "snapshot");
    assert_eq!(second.next().await.name, "snapshot");
    let user = user(false).await;
    let upload = report_upload(&user, "IMG_SHARED.MOV", true).await;
    for stream in [&mut first, &mut second] {
        stream
            .until("the shared change", |e| carries_upload(e, upload))
            .await;
    }
}

#[tokio::test]
async fn retrying_a_failed_upload_sets_retry_requested_at() {
    let (dashboard, http) = admin_dashboard().await;
    let user = user(false).await;
    let upload = report_upload(&user, "IMG_RETRY.MOV", true).await;
    let response = http
        .post(dashboard.url(&format!("/api/uploads/{upload}/retry")))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.expect("JSON");
    assert_eq!(answer["uploadId"], upload.to_string());
    assert!(answer["retryRequestedAt"].is_string(), "{answer}");

    let db = stack().connect().await.expect("a superuser connection");
    let row = db
        .query_one(
            "select retry_requested_at is not null from public.upload_queue where id = $1",
            &[&upload],
        )
        .await
        .expect("the upload");
    assert!(row.get::<_, bool>(0), "retry_requested_at is set");

    let log: Value = http
        .get(dashboard.url(&format!("/api/uploads/{upload}/events")))
        .send()
        .await
        .expect("an answer")
        .json()
        .await
        .expect("JSON");
    let kinds: Vec<&str> = log["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds.last(), Some(&"retry_requested"), "{kinds:?}");
}

#[tokio::test]
async fn retrying_an_unknown_or_active_upload_is_a_client_error_with_a_message() {
    let (dashboard, http) = admin_dashboard().await;
    let unknown = Uuid::new_v4();
    let response = http
        .post(dashboard.url(&format!("/api/uploads/{unknown}/retry")))
        .send()
        .await
        .expect("an answer");
    assert!(response.status().is_client_error(), "{}", response.status());
    let body: Value = response.json().await.expect("JSON");
    let message = body["message"].as_str().expect("a message");
    assert!(message.contains("not found"), "{message}");

    let user = user(false).await;
    let active = report_upload(&user, "IMG_ACTIVE.MOV", false).await;
    let response = http
        .post(dashboard.url(&format!("/api/uploads/{active}/retry")))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("JSON");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("only a failed upload")),
        "{body}"
    );

    let response = http
        .post(dashboard.url("/api/uploads/not-a-uuid/retry"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("JSON");
    assert!(body["message"]
        .as_str()
        .is_some_and(|m| m.contains("not an upload id")));
}

#[tokio::test]
async fn the_log_endpoint_returns_the_upload_card_and_its_events_in_order() {
    let (dashboard, http) = admin_dashboard().await;
    let user = user(false).await;
    let upload = report_upload(&user, "IMG_LOG.MOV", true).await;
    let response = http
        .get(dashboard.url(&format!("/api/uploads/{upload}/events")))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), 200);
    let log: Value = response.json().await.expect("JSON");
    assert_eq!(log["upload"]["id"], upload.to_string());
    assert_eq!(log["upload"]["status"], "failed");
    let events = log["events"].as_array().expect("events");
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, ["begin", "progress", "fail"]);
    let seqs: Vec<i64> = events.iter().filter_map(|e| e["seq"].as_i64()).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(events[2]["errorMessage"], "Network request failed");
    assert_eq!(log["eventCount"], 3);
    assert_eq!(log["truncated"], false);

    let unknown = http
        .get(dashboard.url(&format!("/api/uploads/{}/events", Uuid::new_v4())))
        .send()
        .await
        .expect("an answer");
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.expect("JSON");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("not found")),
        "{body}"
    );
}

#[tokio::test]
async fn requests_naming_another_host_or_posted_from_another_site_are_refused() {
    let (dashboard, http) = admin_dashboard().await;
    // DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1.
    let rebound = http
        .get(dashboard.url("/api/snapshot"))
        .header("host", "evil.example")
        .send()
        .await
        .expect("an answer");
    assert_eq!(rebound.status(), 403);
    let cross_site = http
        .post(dashboard.url(&format!("/api/uploads/{}/retry", Uuid::new_v4())))
        .header("origin", "http://evil.example")
        .send()
        .await
        .expect("an answer");
    assert_eq!(cross_site.status(), 403);
    // A browser that says so, even without an Origin.
    let said_cross_site = http
        .post(dashboard.url(&format!("/api/uploads/{}/retry", Uuid::new_v4())))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .expect("an answer");
    assert_eq!(said_cross_site.status(), 403);
    // The sign-in form posted from another site (login CSRF) is refused too.
    let cross_site_login = common::http()
        .post(dashboard.url("/login"))
        .header("origin", "http://evil.example")
        .form(&[("email", "a@b.test"), ("password", "x")])
        .send()
        .await
        .expect("an answer");
    assert_eq!(cross_site_login.status(), 403);
    // An opaque origin (a sandboxed frame, a data: URL) is not the page's own.
    let opaque = common::http()
        .post(dashboard.url("/login"))
        .header("origin", "null")
        .form(&[("email", "a@b.test"), ("password", "x")])
        .send()
        .await
        .expect("an answer");
    assert_eq!(opaque.status(), 403);
    // So the page's own form posts must carry their real Origin: under `no-referrer` a
    // browser sends `Origin: null` with them, and every sign-in would be refused.
    assert_eq!(
        opaque
            .headers()
            .get("referrer-policy")
            .and_then(|v| v.to_str().ok()),
        Some("same-origin")
    );
    let same_site = http
        .post(dashboard.url(&format!("/api/uploads/{}/retry", Uuid::new_v4())))
        .header("origin", dashboard.base.as_str())
        .send()
        .await
        .expect("an answer");
    assert_eq!(
        same_site.status(),
        400,
        "the page's own posts pass the guard"
    );
}

#[tokio::test]
async fn serve_refuses_a_listener_beyond_loopback_without_an_https_public_url() {
    for public_url in [None, Some("http://monitor.example.test")] {
        let listener = TcpListener::bind("0.0.0.0:0").await.expect("a port");
        let options = ServeOptions {
            public_url: public_url.map(|u| u.parse().expect("a URL")),
            ..ServeOptions::default()
        };
        let error = server::serve_with(project(), listener, options, std::future::pending::<()>())
            .await
            .expect_err("refused");
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
        assert!(error.to_string().contains("https public URL"), "{error}");
    }
}

#[tokio::test]
async fn shutting_down_ends_open_streams_and_the_server_returns() {
    let (dashboard, http) = admin_dashboard().await;
    let mut stream = open_stream(&dashboard, &http).await;
    assert_eq!(stream.next().await.name, "snapshot");
    dashboard.shut_down().await.expect("a clean stop");
    // The stream ends rather than hanging: reading runs out.
    let rest = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = stream.response.chunk().await {}
    })
    .await;
    assert!(rest.is_ok(), "the stream ended with the server");
}

/// Calls per RPC name that went through a [`counting_gateway`].
type CallCounts = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>;

/// A pass-through in front of the dev stack's gateway that counts the RPCs it forwards: the
/// real database answers, the test sees how often the dashboard asked.
async fn counting_gateway() -> (String, CallCounts) {
    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;

    let counts = CallCounts::default();
    let upstream = stack().api_url().to_owned();
    let forward = |State((upstream, counts)): State<(String, CallCounts)>,
                   Path(function): Path<String>,
                   headers: HeaderMap,
                   body: axum::body::Bytes| async move {
        *counts
            .lock()
            .expect("counts")
            .entry(function.clone())
            .or_default() += 1;
        let mut request = reqwest::Client::new()
            .post(format!("{upstream}/rest/v1/rpc/{function}"))
            .header("content-type", "application/json")
            .body(body);
        for name in ["apikey", "authorization"] {
            if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) {
                request = request.header(name, value);
            }
        }
        let response = request.send().await.expect("the gateway answers");
        let status = StatusCode::from_u16(response.status().as_u16()).expect("a status");
        let bytes = response.bytes().await.expect("a body");
        (status, [("content-type", "application/json")], bytes).into_response()
    };
    // Sign-in and refresh go to Auth, uncounted.
    let auth = |State((upstream, _)): State<(String, CallCounts)>,
                uri: axum::http::Uri,
                headers: HeaderMap,
                body: axum::body::Bytes| async move {
        let mut request = reqwest::Client::new()
            .post(format!("{upstream}{uri}"))
            .header("content-type", "application/json")
            .body(body);
        for name in ["apikey", "authorization"] {
            if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) {
                request = request.header(name, value);
            }
        }
        let response = request.send().await.expect("Auth answers");
        let status = StatusCode::from_u16(response.status().as_u16()).expect("a status");
        let bytes = response.bytes().await.expect("a body");
        (status, [("content-type", "application/json")], bytes).into_response()
    };
    let app = axum::Router::new()
        .route("/rest/v1/rpc/{function}", axum::routing::post(forward))
        .route("/auth/v1/{*rest}", axum::routing::post(auth))
        .with_state((upstream, counts.clone()));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, counts)
}

fn calls(counts: &CallCounts, function: &str) -> usize {
    counts
        .lock()
        .expect("counts")
        .get(function)
        .copied()
        .unwrap_or(0)
}

#[tokio::test]
async fn one_poller_serves_every_page_and_stops_asking_when_nobody_listens() {
    let (gateway, counts) = counting_gateway().await;
    let dashboard = Dashboard::start_with(
        Project::new(&gateway, stack().anon_key()),
        ServeOptions::default(),
    )
    .await;
    let http = signed_in(&dashboard, &user(true).await).await;
    // Signing in asked once: the admin check.
    assert_eq!(
        calls(&counts, "monitoring_changes"),
        1,
        "the sign-in's check"
    );

    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        calls(&counts, "monitoring_changes"),
        1,
        "no page open, no poll"
    );

    let mut first = open_stream(&dashboard, &http).await;
    let mut second = open_stream(&dashboard, &http).await;
    first.until("a snapshot", |e| e.name == "snapshot").await;
    second.until("a snapshot", |e| e.name == "snapshot").await;
    let before = calls(&counts, "monitoring_changes");
    let watched = Duration::from_secs(4);
    // Both pages read along, as browsers do.
    let _ = tokio::time::timeout(watched, async {
        loop {
            first.next().await;
            second.next().await;
        }
    })
    .await;
    let polled = calls(&counts, "monitoring_changes") - before;
    // One poller at 1 s is ~4 calls in 4 s; one per page would be ~8.
    assert!(
        (2..=6).contains(&polled),
        "{polled} calls of monitoring_changes in {watched:?} for two pages"
    );

    drop(first);
    drop(second);
    // The server learns a page left on its next write (a change within a second).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let idle_from = calls(&counts, "monitoring_changes");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        calls(&counts, "monitoring_changes"),
        idle_from,
        "the poller sleeps once every page has gone"
    );
    dashboard.shut_down().await.expect("a clean stop");
}

/// `auth.sessions` rows of `user` (Supabase's side of the sign-in).
async fn supabase_sessions(user: &TestUser) -> i64 {
    let db = stack().connect().await.expect("a superuser connection");
    db.query_one(
        "select count(*) from auth.sessions where user_id = $1",
        &[&user.id],
    )
    .await
    .expect("sessions")
    .get(0)
}

/// The `Set-Cookie` attributes of a sign-in answer, lowercased, without the value.
fn cookie_attributes(response: &reqwest::Response) -> Vec<String> {
    let set = response.headers()["set-cookie"].to_str().expect("ASCII");
    set.split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect()
}

#[tokio::test]
async fn an_admin_signs_in_and_gets_an_http_only_strict_session_cookie_that_opens_the_page() {
    let dashboard = Dashboard::start().await;
    let admin = user(true).await;

    let form = http()
        .get(dashboard.url("/login"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(form.status(), 200);
    let html = form.text().await.expect("a body");
    for label in [
        "Se connecter",
        "Mot de passe",
        "name=\"email\"",
        "name=\"password\"",
    ] {
        assert!(html.contains(label), "the form lacks {label:?}");
    }

    let answer = post_sign_in(&dashboard.base, &admin.email, PASSWORD).await;
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/monitoring");
    let attributes = cookie_attributes(&answer);
    for wanted in ["httponly", "samesite=strict", "path=/"] {
        assert!(
            attributes.iter().any(|a| a == wanted),
            "{attributes:?} lacks {wanted}"
        );
    }
    assert!(
        !attributes.iter().any(|a| a == "secure"),
        "plain http on loopback: no Secure (the browser would drop it): {attributes:?}"
    );
    let cookie = session_cookie(&answer);
    // The cookie is an opaque id, not a Supabase token.
    assert!(!cookie.contains("eyJ"), "{cookie}");
    assert_eq!(supabase_sessions(&admin).await, 1);

    let client = with_cookie(&cookie);
    let page = client
        .get(dashboard.url("/monitoring"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .expect("a body")
        .contains("Se déconnecter"));
    let snapshot = client
        .get(dashboard.url("/api/snapshot"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(snapshot.status(), 200);
    // Signed in, the form sends the admin on to the page.
    let again = client
        .get(dashboard.url("/login"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(again.status(), 303);
}

#[tokio::test]
async fn a_wrong_password_gets_the_form_again_with_a_french_message_and_no_cookie() {
    let dashboard = Dashboard::start().await;
    let admin = user(true).await;
    for (email, password) in [
        (admin.email.as_str(), "not-the-password"),
        ("nobody-at-all@example.test", PASSWORD),
    ] {
        let answer = post_sign_in(&dashboard.base, email, password).await;
        assert_eq!(answer.status(), 401, "{email}");
        assert!(answer.headers().get("set-cookie").is_none());
        let html = answer.text().await.expect("a body");
        assert!(html.contains("Email ou mot de passe incorrect."), "{html}");
        assert!(
            html.contains(&format!("value=\"{email}\"")),
            "the email is kept"
        );
    }
    assert_eq!(supabase_sessions(&admin).await, 0);
}

#[tokio::test]
async fn a_non_admin_who_signs_in_is_refused_and_their_supabase_session_ends() {
    let dashboard = Dashboard::start().await;
    let plain = user(false).await;
    let answer = post_sign_in(&dashboard.base, &plain.email, PASSWORD).await;
    assert_eq!(answer.status(), 403);
    assert!(answer.headers().get("set-cookie").is_none());
    let html = answer.text().await.expect("a body");
    assert!(
        html.contains("Ce compte n&#39;est pas administrateur"),
        "{html}"
    );
    assert_eq!(
        supabase_sessions(&plain).await,
        0,
        "the password grant's session is logged out at once"
    );
}

#[tokio::test]
async fn without_a_session_the_page_sends_to_the_form_and_the_api_answers_401() {
    let dashboard = Dashboard::start().await;
    for client in [http(), with_cookie("monitoring_session=forged-or-expired")] {
        let page = client
            .get(dashboard.url("/monitoring"))
            .send()
            .await
            .expect("an answer");
        assert_eq!(page.status(), 303);
        assert_eq!(page.headers()["location"], "/login");
        for (method, path) in [
            ("GET", "/api/snapshot".to_owned()),
            ("GET", "/api/stream".to_owned()),
            ("GET", "/api/uploads".to_owned()),
            ("GET", format!("/api/uploads/{}/events", Uuid::new_v4())),
            ("POST", format!("/api/uploads/{}/retry", Uuid::new_v4())),
        ] {
            let request = match method {
                "POST" => client.post(dashboard.url(&path)),
                _ => client.get(dashboard.url(&path)),
            };
            let response = request.send().await.expect("an answer");
            assert_eq!(response.status(), 401, "{method} {path}");
            let body: Value = response.json().await.expect("JSON");
            assert_eq!(body["error"], "unauthenticated", "{method} {path}");
            assert!(
                body["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("reconnectez-vous")),
                "{body}"
            );
        }
    }
}

#[tokio::test]
async fn logging_out_ends_the_session_here_and_at_supabase_and_its_open_stream() {
    let dashboard = Dashboard::start().await;
    let admin = user(true).await;
    let http = signed_in(&dashboard, &admin).await;
    let mut stream = open_stream(&dashboard, &http).await;
    assert_eq!(stream.next().await.name, "snapshot");
    assert_eq!(supabase_sessions(&admin).await, 1);

    let answer = http
        .post(dashboard.url("/logout"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/login");
    assert!(cookie_attributes(&answer).iter().any(|a| a == "max-age=0"));

    let after = http
        .get(dashboard.url("/api/snapshot"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(after.status(), 401, "the old cookie opens nothing");
    assert_eq!(supabase_sessions(&admin).await, 0);
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = stream.response.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the stream ended with its session");
}

/// `user`'s refresh tokens at Supabase: (revoked, all). Each refresh revokes one and issues
/// its child.
async fn refresh_tokens(user: &TestUser) -> (i64, i64) {
    let db = stack().connect().await.expect("a superuser connection");
    let row = db
        .query_one(
            "select count(*) filter (where revoked), count(*) from auth.refresh_tokens \
             where user_id = $1",
            &[&user.id.to_string()],
        )
        .await
        .expect("refresh tokens");
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn a_token_near_its_expiry_is_refreshed_and_the_session_keeps_working() {
    // A margin longer than Supabase's one-hour tokens: every use finds the token due, as a
    // session does after 55 minutes.
    let dashboard = Dashboard::start_with(
        project(),
        ServeOptions {
            refresh_margin: Duration::from_secs(2 * 3600),
            ..ServeOptions::default()
        },
    )
    .await;
    let admin = user(true).await;
    let http = signed_in(&dashboard, &admin).await;
    assert_eq!(
        refresh_tokens(&admin).await,
        (0, 1),
        "signed in, nothing refreshed yet"
    );
    for round in 1..=3 {
        let response = http
            .get(dashboard.url("/api/snapshot"))
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), 200, "round {round}");
        // Each due token was exchanged: the refresh token rotated (one revoked per round).
        assert_eq!(
            refresh_tokens(&admin).await,
            (round, round + 1),
            "round {round}"
        );
    }
    assert_eq!(
        supabase_sessions(&admin).await,
        1,
        "one Supabase session throughout"
    );
}

#[tokio::test]
async fn behind_an_https_proxy_the_public_origin_passes_and_the_cookie_is_secure() {
    const PUBLIC: &str = "https://monitor.example.test";
    let dashboard = Dashboard::start_with(
        project(),
        ServeOptions {
            public_url: Some(PUBLIC.parse().expect("a URL")),
            ..ServeOptions::default()
        },
    )
    .await;
    let admin = user(true).await;
    // The proxy passes the public Host on; the browser's Origin is the public one.
    let answer = http()
        .post(dashboard.url("/login"))
        .header("host", "monitor.example.test")
        .header("origin", PUBLIC)
        .header("sec-fetch-site", "same-origin")
        .form(&[("email", admin.email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .expect("an answer");
    assert_eq!(answer.status(), 303);
    let attributes = cookie_attributes(&answer);
    assert!(attributes.iter().any(|a| a == "secure"), "{attributes:?}");
    let client = with_cookie(&session_cookie(&answer));
    let retry = |host: &'static str, origin: &'static str| {
        client
            .post(dashboard.url(&format!("/api/uploads/{}/retry", Uuid::new_v4())))
            .header("host", host)
            .header("origin", origin)
            .send()
    };
    // Through the proxy, with the Host kept or rewritten to the upstream address: the guard
    // passes it (an unknown upload is then Supabase's refusal, not the guard's 403).
    let upstream: &'static str = dashboard
        .base
        .strip_prefix("http://")
        .expect("http")
        .to_owned()
        .leak();
    for host in ["monitor.example.test", upstream] {
        let response = retry(host, PUBLIC).await.expect("an answer");
        let status = response.status();
        assert!(
            status.is_client_error() && status != 401 && status != 403,
            "Host {host}: {status}"
        );
    }
    // Another site, or the public host in clear: refused.
    for origin in ["https://evil.example", "http://monitor.example.test"] {
        let response = retry("monitor.example.test", origin)
            .await
            .expect("an answer");
        assert_eq!(response.status(), 403, "Origin {origin}");
    }
    let foreign = client
        .get(dashboard.url("/api/snapshot"))
        .header("host", "evil.example")
        .send()
        .await
        .expect("an answer");
    assert_eq!(foreign.status(), 403);
}

#[tokio::test]
async fn with_an_https_public_url_it_may_listen_beyond_loopback() {
    let listener = TcpListener::bind("0.0.0.0:0").await.expect("a port");
    let port = listener.local_addr().expect("an address").port();
    let options = ServeOptions {
        public_url: Some("https://monitor.example.test".parse().expect("a URL")),
        ..ServeOptions::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::serve_with(project(), listener, options, async {
        let _ = stopped.await;
    }));
    let form = http()
        .get(format!("http://127.0.0.1:{port}/login"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(form.status(), 200);
    let _ = stop.send(());
    server
        .await
        .expect("no panic")
        .expect("served, then stopped cleanly");
}
