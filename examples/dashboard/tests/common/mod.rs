//! Helpers shared by the dashboard's integration tests: the process-wide dev stack, users,
//! uploads reported through the real ingest, and a dashboard server on a free port.
#![allow(dead_code)] // Each test binary uses its own subset.

use std::time::Duration;

use monitor_core::client::MonitoringClient;
use monitor_dashboard::server::{self, ServeOptions};
use monitor_dashboard::Project;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use upload_monitor::devstack::{DevStack, NewUser, TestUser};

/// The dev stack shared by every test in this binary (started once, on first use).
pub fn stack() -> &'static DevStack {
    DevStack::shared()
}

/// An email no other test (or earlier run) uses, so tests can run in parallel on one stack.
pub fn unique_email(prefix: &str) -> String {
    format!("{prefix}-{}@example.test", uuid::Uuid::new_v4().simple())
}

/// Every test user's password: they sign in to the dashboard with it.
pub const PASSWORD: &str = "dashboard-test-password";

/// A new user of the shared stack (an admin when `admin`), password [`PASSWORD`].
pub async fn user(admin: bool) -> TestUser {
    let mut new = NewUser::new(unique_email(if admin { "dash-admin" } else { "dash-user" }))
        .named("Dora", "Dashboard")
        .password(PASSWORD);
    if admin {
        new = new.admin();
    }
    stack().create_user(&new).await.expect("a user")
}

/// A monitoring client acting as `user`.
pub fn client_for(user: &TestUser) -> MonitoringClient {
    let stack = stack();
    MonitoringClient::new(stack.api_url(), stack.anon_key(), &user.access_token).expect("a client")
}

/// `POST {api_url}/rest/v1/rpc/{function}` as `user`; the status and JSON body.
pub async fn rpc(user: &TestUser, function: &str, args: &Value) -> (u16, Value) {
    let stack = stack();
    let response = reqwest::Client::new()
        .post(format!("{}/rest/v1/rpc/{function}", stack.api_url()))
        .header("apikey", stack.anon_key())
        .bearer_auth(&user.access_token)
        .json(args)
        .send()
        .await
        .expect("the gateway answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a readable body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("JSON body ({e}): {text}"))
    };
    (status, body)
}

/// The shared stack as the project admins sign in to.
pub fn project() -> Project {
    Project::new(stack().api_url(), stack().anon_key())
}

/// An HTTP client that follows no redirect (the tests look at them).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

/// `POST {base}/login` with `email` and `password`, as the form sends them.
pub async fn post_sign_in(base: &str, email: &str, password: &str) -> reqwest::Response {
    http()
        .post(format!("{base}/login"))
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .expect("the dashboard answers")
}

/// The session cookie (`monitoring_session=…`) of a sign-in answer.
pub fn session_cookie(response: &reqwest::Response) -> String {
    let set = response
        .headers()
        .get("set-cookie")
        .unwrap_or_else(|| panic!("a Set-Cookie in the {} answer", response.status()))
        .to_str()
        .expect("ASCII");
    set.split(';').next().expect("name=value").to_owned()
}

/// A client signed in to `dashboard` as `user` (its requests carry the session cookie).
pub async fn signed_in(dashboard: &Dashboard, user: &TestUser) -> reqwest::Client {
    let response = post_sign_in(&dashboard.base, &user.email, PASSWORD).await;
    assert_eq!(response.status(), 303, "{} signs in", user.email);
    with_cookie(&session_cookie(&response))
}

/// A client whose every request carries `cookie`.
pub fn with_cookie(cookie: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::COOKIE,
        cookie.parse().expect("a header value"),
    );
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .expect("an HTTP client")
}

/// A dashboard server on a free loopback port, stopped when dropped.
pub struct Dashboard {
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Dashboard {
    /// Serves the dashboard for the shared stack's admins.
    pub async fn start() -> Dashboard {
        Dashboard::start_with(project(), ServeOptions::default()).await
    }

    /// Serves the dashboard for `project` with `options`.
    pub async fn start_with(project: Project, options: ServeOptions) -> Dashboard {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::serve_with(project, listener, options, async {
            let _ = stopped.await;
        }));
        Dashboard {
            base,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server and waits for it to return.
    pub async fn shut_down(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().expect("running");
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the server stops within 10 s")
            .expect("the server task did not panic")
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// A dashboard and a client signed in to it as a new admin.
pub async fn admin_dashboard() -> (Dashboard, reqwest::Client) {
    let dashboard = Dashboard::start().await;
    let http = signed_in(&dashboard, &user(true).await).await;
    (dashboard, http)
}

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
    let (status, body) = rpc(user, "report_upload_events", &json!({ "events": events })).await;
    assert_eq!(status, 200, "{body:?}");
    upload
}
pub mod phone;

/// [`monitor_dashboard::webdriver::Browser`] for tests: a failed call fails the test.
pub struct Browser(pub monitor_dashboard::webdriver::Browser);

fn ok<T>(result: Result<T, monitor_dashboard::webdriver::WebDriverError>) -> T {
    result.unwrap_or_else(|e| panic!("{e}"))
}

impl Browser {
    pub async fn start() -> Browser {
        Browser(ok(monitor_dashboard::webdriver::Browser::start().await))
    }
    pub async fn goto(&self, url: &str) {
        ok(self.0.goto(url).await)
    }
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        ok(self.0.execute(script, args).await)
    }
    pub async fn execute_async(&self, script: &str, args: Value) -> Value {
        ok(self.0.execute_async(script, args).await)
    }
    pub async fn wait_for(&self, what: &str, script: &str, within: Duration) -> Value {
        ok(self.0.wait_for(what, script, within).await)
    }
    pub async fn find(&self, css: &str) -> String {
        ok(self.0.find(css).await)
    }
    pub async fn click(&self, id: &str) {
        ok(self.0.click(id).await)
    }
    pub async fn sign_in(&self, base: &str, email: &str) {
        ok(self.0.sign_in(base, email, PASSWORD).await)
    }
    pub async fn send_keys(&self, id: &str, text: &str) {
        ok(self.0.send_keys(id, text).await)
    }
    pub async fn viewport(&self, width: u32, height: u32, mobile: bool) {
        ok(self.0.viewport(width, height, mobile).await)
    }
    pub async fn screenshot(&self, path: &std::path::Path) {
        ok(self.0.screenshot(path).await)
    }
}
