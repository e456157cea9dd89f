//! A small W3C WebDriver client over reqwest, for the browser tests and the DOM latency
//! benchmark: a headless Chromium started through `chromedriver` (Debian: `apt-get install
//! chromium chromium-driver fonts-noto-color-emoji`), navigation, scripts, clicks, keys,
//! screenshots and the viewport size (Chrome DevTools' device metrics, exact to the pixel).
//!
//! Why not fantoccini: its `webdriver` dependency adds ~28 crates (icu_segmenter and its
//! data, time, two cookie versions, http 0.2) for the dozen JSON calls made here.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// The key WebDriver uses for an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Chromium's flags: headless, no sandbox (CI runs as root), and nothing that calls home
/// (on a closed network the background connections are refused and slow the start-up).
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--lang=fr-FR",
];

/// Why a WebDriver call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebDriverError {
    /// chromedriver could not be started.
    #[error("cannot start chromedriver ({0}): apt-get install chromium chromium-driver fonts-noto-color-emoji")]
    Spawn(std::io::Error),
    /// chromedriver did not answer in time.
    #[error("chromedriver did not start within 20 s")]
    NotReady,
    /// The HTTP exchange with chromedriver failed.
    #[error("chromedriver: {0}")]
    Http(#[from] reqwest::Error),
    /// chromedriver answered a WebDriver error.
    #[error("WebDriver {command}: {error}: {message}")]
    Command {
        /// The command's path.
        command: String,
        /// WebDriver's error code (`no such element`...).
        error: String,
        /// Its message.
        message: String,
    },
    /// A wait ended without the condition.
    #[error("{0}: not within the time allowed")]
    Timeout(String),
    /// An answer did not have the expected shape, or a file could not be written.
    #[error("{0}")]
    Other(String),
}

/// A headless Chromium driven through its own chromedriver, both stopped when dropped.
#[derive(Debug)]
pub struct Browser {
    driver: Child,
    base: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

fn free_port() -> Result<u16, WebDriverError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(WebDriverError::Spawn)
}

impl Browser {
    /// Starts chromedriver and a Chromium session with a fresh profile.
    ///
    /// # Errors
    ///
    /// [`WebDriverError`]: chromedriver missing or silent, the session refused.
    pub async fn start() -> Result<Browser, WebDriverError> {
        let port = free_port()?;
        let mut command = Command::new("chromedriver");
        command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Its own process group: Chromium and its helpers descend from chromedriver, so the
        // group's kill on drop reaches them even when the session's DELETE did not (after a
        // panicking test on a loaded machine, renderers kept spinning for the rest of a CI run).
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let driver = command.spawn().map_err(WebDriverError::Spawn)?;
        let profile = tempfile::tempdir().map_err(WebDriverError::Spawn)?;
        let mut browser = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = browser
                .http
                .get(format!("{}/status", browser.base))
                .send()
                .await;
            if let Ok(answer) = ready {
                let status: Value = answer.json().await.unwrap_or_default();
                if status["value"]["ready"] == true {
                    break;
                }
            }
            if Instant::now() >= deadline {
                return Err(WebDriverError::NotReady);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!(
            "--user-data-dir={}",
            browser._profile.path().display()
        ));
        let binary = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| Path::new(p).exists());
        let mut options = json!({ "args": args });
        if let Some(binary) = binary {
            options["binary"] = json!(binary);
        }
        let session = browser
            .post_raw(
                "/session",
                &json!({ "capabilities": { "alwaysMatch": {
                    "browserName": "chrome", "goog:chromeOptions": options } } }),
            )
            .await?;
        let id = session["sessionId"]
            .as_str()
            .ok_or_else(|| WebDriverError::Other(format!("no WebDriver session: {session}")))?
            .to_owned();
        browser.base = format!("{}/session/{id}", browser.base);
        browser
            .post("/timeouts", &json!({ "script": 60_000 }))
            .await?;
        Ok(browser)
    }

    async fn post_raw(&self, path: &str, body: &Value) -> Result<Value, WebDriverError> {
        let answer = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await?;
        let value: Value = answer.json().await?;
        let value = value["value"].clone();
        if let Some(error) = value.get("error") {
            return Err(WebDriverError::Command {
                command: path.to_owned(),
                error: error.as_str().unwrap_or_default().to_owned(),
                message: value["message"].as_str().unwrap_or_default().to_owned(),
            });
        }
        Ok(value)
    }

    /// POST a session command.
    async fn post(&self, path: &str, body: &Value) -> Result<Value, WebDriverError> {
        self.post_raw(path, body).await
    }

    /// Opens `url`.
    ///
    /// # Errors
    ///
    /// [`WebDriverError`].
    pub async fn goto(&self, url: &str) -> Result<(), WebDriverError> {
        self.post("/url", &json!({ "url": url })).await.map(drop)
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    ///
    /// # Errors
    ///
    /// [`WebDriverError`] (a script that throws is a `javascript error`).
    pub async fn execute(&self, script: &str, args: Value) -> Result<Value, WebDriverError> {
        self.post("/execute/sync", &json!({ "script": script, "args": args }))
            .await
    }

    /// Runs `script` whose last argument is a callback, and returns what it was called with.
    ///
    /// # Errors
    ///
    /// [`WebDriverError`].
    pub async fn execute_async(&self, script: &str, args: Value) -> Result<Value, WebDriverError> {
        self.post("/execute/async", &json!({ "script": script, "args": args }))
            .await
    }

    /// Waits until `script` returns something truthy, and returns it.
    ///
    /// # Errors
    ///
    /// [`WebDriverError::Timeout`] naming `what` after `within`; any other [`WebDriverError`].
    pub async fn wait_for(
        &self,
        what: &str,
        script: &str,
        within: Duration,
    ) -> Result<Value, WebDriverError> {
        let deadline = Instant::now() + within;
        loop {
            let value = self.execute(script, json!([])).await?;
            if !(value.is_null() || value == false || value == "" || value == 0) {
                return Ok(value);
            }
            if Instant::now() >= deadline {
                return Err(WebDriverError::Timeout(format!(
                    "{what} (waited {within:?})"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The first element matching `css`.
    ///
    /// # Errors
    ///
    /// [`WebDriverError`] (`no such element`).
    pub async fn find(&self, css: &str) -> Result<String, WebDriverError> {
        let found = self
            .post(
                "/element",
                &json!({ "using": "css selector", "value": css }),
            )
            .await?;
        found[ELEMENT_KEY]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| WebDriverError::Other(format!("no element {css}")))
    }

    /// A real click (the pointer moves there, then presses) on the element `id`.
    ///
    /// # Errors
    ///
    /// [`WebDriverError`].
    pub async fn click(&self, id: &str) -> Result<(), WebDriverError> {
        self.post(&format!("/element/{id}/click"), &json!({}))
            .await
            .map(drop)
    }

    /// Types `text` into the element `id` (WebDriver key codes for special keys).
    ///
    /// # Errors
    ///
    /// [`WebDriverError`].
    pub async fn send_keys(&self, id: &str, text: &str) -> Result<(), WebDriverError> {
        self.post(&format!("/element/{id}/value"), &json!({ "text": text }))
            .await
            .map(drop)
    }

    /// Signs in through the dashboard's form at `{base}/login` as an admin would (types the
    /// email and password, clicks "Se connecter"), and waits for `/monitoring` to load.
    ///
    /// # Errors
    ///
    /// [`WebDriverError::Timeout`] when the page does not reach `/monitoring` within 20 s (a
    /// refused sign-in stays on the form); any other [`WebDriverError`].
    pub async fn sign_in(
        &self,
        base: &str,
        email: &str,
        password: &str,
    ) -> Result<(), WebDriverError> {
        self.goto(&format!("{base}/login")).await?;
        let field = self.find("#email").await?;
        self.send_keys(&field, email).await?;
        let field = self.find("#password").await?;
        self.send_keys(&field, password).await?;
        let button = self.find("#signin").await?;
        self.click(&button).await?;
        self.wait_for(
            "the page after signing in",
            "return location.pathname === '/monitoring' && document.readyState === 'complete'",
            Duration::from_secs(20),
        )
        .await
        .map(drop)
    }

    /// Sets the viewport to `width` x `height` CSS pixels (`mobile` also applies the
    /// viewport meta tag, as a phone does).
    ///
    /// # Errors
    ///
    /// [`WebDriverError`].
    pub async fn viewport(
        &self,
        width: u32,
        height: u32,
        mobile: bool,
    ) -> Result<(), WebDriverError> {
        self.post(
            "/goog/cdp/execute",
            &json!({ "cmd": "Emulation.setDeviceMetricsOverride", "params": {
                "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile } }),
        )
        .await
        .map(drop)
    }

    /// A PNG of the viewport, saved at `path` (its directory created).
    ///
    /// # Errors
    ///
    /// [`WebDriverError`], or the file cannot be written.
    pub async fn screenshot(&self, path: &Path) -> Result<(), WebDriverError> {
        let shot = self
            .http
            .get(format!("{}/screenshot", self.base))
            .send()
            .await?;
        let value: Value = shot.json().await?;
        let png = value["value"]
            .as_str()
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .ok_or_else(|| WebDriverError::Other("the screenshot is not base64".to_owned()))?;
        let written = match path.parent() {
            Some(dir) => std::fs::create_dir_all(dir).and_then(|()| std::fs::write(path, png)),
            None => std::fs::write(path, png),
        };
        written.map_err(|e| WebDriverError::Other(format!("{}: {e}", path.display())))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends the session (Chromium quits), then chromedriver itself.
        let base = self.base.clone();
        let http = self.http.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    let _ = tokio::time::timeout(Duration::from_secs(5), http.delete(&base).send())
                        .await;
                });
            }
        })
        .join();
        #[cfg(unix)]
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
