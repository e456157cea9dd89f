//! The `/monitoring` page in a real headless Chromium (chromedriver, see
//! `tests/common/webdriver.rs`) against the dev stack, with phones reporting through the real
//! ingest while the page is open: seeded data, live progress, a failure in its tab, "Détails"
//! and its log, "Réessayer" reaching the device, user text that stays text, clicks on a list
//! that keeps changing, the 390 px layout, the tabs' keys, the stale banner, axe-core, and
//! the script's formats held to monitor-core's. Every page is opened by signing in through
//! the form, as an admin does.
//!
//! Screenshots go to `$CARGO_TARGET_TMPDIR/monitor-dashboard-screenshots/` (under `target/`).
//! axe-core comes from `tests/browser-deps` (`npm ci` there; `.ci/run` does it).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::phone::Phone;
use common::{rpc, stack, user, Browser, Dashboard};
use monitor_core::display::{format_size_mb, initials, retry_badge, Lang};
use monitor_core::speed::{ago, eta, format_elapsed};
use serde_json::{json, Value};
use upload_monitor::devstack::TestUser;
use uuid::Uuid;

/// How long the page may take to show a change: the feed polls every second; the rest is
/// room for a loaded 2-core machine.
const LIVE: Duration = Duration::from_secs(15);

/// A title that would run if the page ever parsed user text as HTML.
const XSS_TITLE: &str = "<img src=x onerror=\"window.__xss=1\"><script>window.__xss=2</script>";

/// Where the screenshots go: under `target/`, never committed.
fn screenshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("monitor-dashboard-screenshots")
        .join(name)
}

/// A small fleet: a user with uploads in every state and a bug report, and the dashboard.
struct Scene {
    dashboard: Dashboard,
    admin: TestUser,
    phone_user: TestUser,
    uploading: Phone,
    failed: Phone,
    xss: Phone,
}

async fn scene() -> Scene {
    let admin = user(true).await;
    let phone_user = user(false).await;
    let mut uploading = Phone::begin(&phone_user, "Concert au parc", 200 * 1_048_576).await;
    uploading.progress(20).await;
    let mut failed = Phone::begin(&phone_user, "Cours de guitare", 50 * 1_048_576).await;
    failed.progress(30).await;
    failed.fail(1).await;
    let mut done = Phone::begin(&phone_user, "Anniversaire de Léa", 10 * 1_048_576).await;
    done.progress(100).await;
    done.complete().await;
    let mut xss = Phone::begin(&phone_user, XSS_TITLE, 5 * 1_048_576).await;
    xss.progress(10).await;
    let db = stack().connect().await.expect("a superuser connection");
    db.batch_execute(&format!(
        "insert into public.bug_reports (user_id, user_email, error_type, error_message, severity, status)
         values ('{}', '{}', 'network', 'Upload timeout <b>bold</b> after 600s', 'critical', 'new')",
        phone_user.id, phone_user.email
    ))
    .await
    .expect("a bug report");
    Scene {
        dashboard: Dashboard::start().await,
        admin,
        phone_user,
        uploading,
        failed,
        xss,
    }
}

/// Opens the page at `width` x `height` and waits for the first snapshot on screen.
async fn open(scene: &Scene, width: u32, height: u32) -> Browser {
    let browser = Browser::start().await;
    browser.viewport(width, height, width < 600).await;
    browser
        .sign_in(&scene.dashboard.base, &scene.admin.email)
        .await;
    wait_card(&browser, scene.uploading.upload).await;
    browser
}

async fn wait_card(browser: &Browser, upload: Uuid) {
    browser
        .wait_for(
            "the card on screen",
            &format!("return document.querySelector('#uploads [data-id=\"{upload}\"]') !== null"),
            LIVE,
        )
        .await;
}

/// axe-core's serious and critical violations on the page as it is at rest.
///
/// A card that has just arrived fades in from 20 % opacity for 0.6 s; axe-core computes
/// contrast on the frame it sees, so a card caught mid-fade reads as low contrast although
/// nobody reads it before it settles. Finite animations are finished first (the page's CSP
/// refuses an injected stylesheet; the Web Animations API needs none).
async fn axe_violations(browser: &Browser) -> Vec<Value> {
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/browser-deps/node_modules/axe-core/axe.min.js"
    ))
    .expect("axe-core is installed: (cd examples/dashboard/tests/browser-deps && npm ci)");
    let loaded = browser
        .execute(&format!("{source}\n;return typeof window.axe;"), json!([]))
        .await;
    assert_eq!(loaded, "object", "axe-core loads into the page");
    let result = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             for (const a of document.getAnimations()) {
               try { a.finish(); } catch (_) { /* an infinite one (the live dot) cannot finish */ }
             }
             // A card arriving during the run itself is still fading: left out of this run.
             axe.run({ exclude: ['.is-new'] }, { resultTypes: ['violations'] })
               .then((r) => done(r.violations
                 .filter((v) => v.impact === 'serious' || v.impact === 'critical')
                 .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                                nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }))))
               .catch((e) => done([{ id: 'axe-error', help: String(e) }]));",
            json!([]),
        )
        .await;
    result.as_array().cloned().unwrap_or_default()
}

/// The message the sign-in form shows, or "" when it shows none.
const SIGN_IN_ERROR: &str =
    "const e = document.getElementById('signin-error'); return e && !e.hidden ? e.textContent : ''";

/// Types `email` and `password` into the open form and submits it.
async fn submit_sign_in(browser: &Browser, email: &str, password: &str) {
    for (css, text) in [("#email", email), ("#password", password)] {
        browser
            .execute(
                "document.querySelector(arguments[0]).value = ''",
                json!([css]),
            )
            .await;
        let field = browser.find(css).await;
        browser.send_keys(&field, text).await;
    }
    let button = browser.find("#signin").await;
    browser.click(&button).await;
}

#[tokio::test]
async fn an_admin_signs_in_through_the_form_a_wrong_password_and_a_non_admin_do_not() {
    let dashboard = Dashboard::start().await;
    let admin = user(true).await;
    let plain = user(false).await;
    let browser = Browser::start().await;
    browser.viewport(1440, 900, false).await;
    browser.goto(&dashboard.url("/monitoring")).await;
    browser
        .wait_for(
            "the sign-in form instead of the page",
            "return location.pathname === '/login' && document.getElementById('email') !== null",
            LIVE,
        )
        .await;
    let serious = axe_violations(&browser).await;
    assert!(serious.is_empty(), "axe on the sign-in form: {serious:#?}");

    submit_sign_in(&browser, &admin.email, "not-the-password").await;
    let message = browser.wait_for("the refusal", SIGN_IN_ERROR, LIVE).await;
    assert!(
        message
            .as_str()
            .is_some_and(|m| m.contains("Email ou mot de passe incorrect")),
        "{message}"
    );
    submit_sign_in(&browser, &plain.email, common::PASSWORD).await;
    let message = browser
        .wait_for(
            "the non-admin refusal",
            "const e = document.getElementById('signin-error'); return e && !e.hidden && e.textContent.includes('administrateur') ? e.textContent : ''",
            LIVE,
        )
        .await;
    assert!(
        message
            .as_str()
            .is_some_and(|m| m.contains("n'est pas administrateur")),
        "{message}"
    );
    let cookies = browser.execute("return document.cookie", json!([])).await;
    assert_eq!(
        cookies, "",
        "no cookie for a refusal, and the session's is HttpOnly anyway"
    );

    submit_sign_in(&browser, &admin.email, common::PASSWORD).await;
    browser
        .wait_for(
            "the page live after signing in",
            "return location.pathname === '/monitoring' && document.getElementById('live').dataset.state === 'live'",
            LIVE,
        )
        .await;
    assert_eq!(
        browser.execute("return document.cookie", json!([])).await,
        "",
        "the session cookie is HttpOnly: the page's script cannot read it"
    );
    browser
        .screenshot(&screenshot_path("monitoring-signed-in.png"))
        .await;

    let logout = browser.find("#logout").await;
    browser.click(&logout).await;
    browser
        .wait_for(
            "the form after logging out",
            "return location.pathname === '/login' && document.getElementById('email') !== null",
            LIVE,
        )
        .await;
    browser.goto(&dashboard.url("/monitoring")).await;
    browser
        .wait_for(
            "the form again: the session is over",
            "return location.pathname === '/login'",
            LIVE,
        )
        .await;
}

#[tokio::test]
async fn an_admin_sees_seeded_data_move_live_and_works_on_failures_in_the_browser() {
    let mut scene = scene().await;
    let browser = open(&scene, 1440, 1000).await;

    // User text stays text: the title is shown as typed, and nothing it carries ran.
    let xss_card = format!("#uploads [data-id=\"{}\"] .video-title", scene.xss.upload);
    let title = browser
        .execute(
            &format!("return document.querySelector('{xss_card}').textContent"),
            json!([]),
        )
        .await;
    assert_eq!(title, XSS_TITLE);
    let ran = browser
        .execute("return [window.__xss === undefined, document.querySelectorAll('#uploads img, #uploads script').length]", json!([]))
        .await;
    assert_eq!(ran, json!([true, 0]), "user text never becomes markup");

    // Progress advances without a reload, with an ETA.
    scene.uploading.progress(60).await;
    let bar = format!(
        "#uploads [data-id=\"{}\"] [role=progressbar]",
        scene.uploading.upload
    );
    browser
        .wait_for(
            "the bar at 60 %",
            &format!(
                "return document.querySelector('{bar}').getAttribute('aria-valuenow') === '60'"
            ),
            LIVE,
        )
        .await;
    let eta_text = browser
        .execute(
            &format!(
                "return document.querySelector('#uploads [data-id=\"{}\"] .eta').textContent",
                scene.uploading.upload
            ),
            json!([]),
        )
        .await;
    // 80 MB left at 2 MB/s.
    assert_eq!(eta_text, "reste ~40s");

    // A failure appears in its tab, in French.
    let mut late = Phone::begin(&scene.phone_user, "Répétition chorale", 20 * 1_048_576).await;
    late.progress(50).await;
    late.fail(0).await;
    let row = browser
        .wait_for(
            "the failure in its tab",
            &format!("const r = document.querySelector('#tab-upload-errors [data-id=\"{}\"]'); return r && r.textContent", late.upload),
            LIVE,
        )
        .await;
    let row = row.as_str().unwrap_or_default();
    assert!(
        row.contains("Répétition chorale") && row.contains("Erreur réseau"),
        "{row}"
    );
    assert!(
        !row.contains("network_error"),
        "codes are translated: {row}"
    );

    // "Détails" shows the log.
    let details = browser
        .find(&format!(
            "#uploads [data-id=\"{}\"] .actions .btn",
            scene.failed.upload
        ))
        .await;
    browser.click(&details).await;
    let log_rows = browser
        .wait_for(
            "the log in the modal",
            "const d = document.getElementById('details'); return d.open && d.querySelectorAll('table.log tbody tr').length",
            LIVE,
        )
        .await;
    assert!(
        log_rows.as_u64().unwrap_or(0) >= 3,
        "begin, progress, fail: {log_rows}"
    );
    let heading = browser
        .execute(
            "return document.getElementById('details-title').textContent",
            json!([]),
        )
        .await;
    assert!(
        heading
            .as_str()
            .unwrap_or_default()
            .contains("Cours de guitare"),
        "{heading}"
    );
    browser
        .execute("document.getElementById('details').close()", json!([]))
        .await;

    // "Réessayer" reaches the device, and still says so after a reload.
    let retry = browser
        .find(&format!(
            "#uploads [data-id=\"{}\"] .btn.primary",
            scene.failed.upload
        ))
        .await;
    browser.click(&retry).await;
    let retry_label = format!(
        "return document.querySelector('#uploads [data-id=\"{}\"] .btn.primary').textContent",
        scene.failed.upload
    );
    browser
        .wait_for(
            "Relance demandée",
            &format!("{retry_label} === 'Relance demandée'"),
            LIVE,
        )
        .await;
    let (status, pending) = rpc(&scene.phone_user, "pending_retry_requests", &json!({})).await;
    assert_eq!(status, 200, "{pending}");
    assert!(
        pending
            .to_string()
            .contains(&scene.failed.upload.to_string()),
        "{pending}"
    );
    browser.goto(&scene.dashboard.url("/monitoring")).await;
    wait_card(&browser, scene.failed.upload).await;
    assert_eq!(
        browser.execute(&retry_label, json!([])).await,
        "Relance demandée"
    );

    // Tabs move with the arrow keys.
    let first_tab = browser.find("#tabbtn-upload-errors").await;
    browser.click(&first_tab).await;
    browser.send_keys(&first_tab, "\u{E014}").await; // ArrowRight
    let selected = browser
        .execute("return [document.activeElement.id, document.getElementById('tab-transcription-errors').hidden]", json!([]))
        .await;
    assert_eq!(selected, json!(["tabbtn-transcription-errors", false]));
    browser.click(&first_tab).await;

    let violations = axe_violations(&browser).await;
    assert!(
        violations.is_empty(),
        "axe-core at 1440 px: {violations:#?}"
    );
    browser.execute("window.scrollTo(0, 0)", json!([])).await;
    browser
        .screenshot(&screenshot_path("monitoring-1440.png"))
        .await;
    scene.dashboard.shut_down().await.expect("a clean stop");
}

#[tokio::test]
async fn a_click_on_a_list_that_keeps_changing_opens_the_intended_modal() {
    let scene = scene().await;
    let browser = open(&scene, 1440, 1000).await;
    // Phones keep starting uploads: new cards keep entering the list while the admin clicks.
    let user = scene.phone_user.clone();
    let churn = tokio::spawn(async move {
        for i in 0.. {
            let mut phone = Phone::begin(&user, &format!("Vidéo en rafale #{i}"), 1_048_576).await;
            phone.progress(10).await;
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    });
    let mut opened = Vec::new();
    for target in [
        &scene.failed,
        &scene.uploading,
        &scene.xss,
        &scene.failed,
        &scene.uploading,
    ] {
        let button = browser
            .find(&format!(
                "#uploads [data-id=\"{}\"] .actions .btn",
                target.upload
            ))
            .await;
        browser.click(&button).await;
        let title = browser
            .wait_for(
                "the modal",
                "const d = document.getElementById('details'); return d.open && d.querySelector('.facts') && document.getElementById('details-title').textContent",
                LIVE,
            )
            .await;
        opened.push(title.as_str().unwrap_or_default().to_owned());
        browser
            .execute("document.getElementById('details').close()", json!([]))
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    churn.abort();
    assert!(opened[0].contains("Cours de guitare"), "{opened:?}");
    assert!(opened[1].contains("Concert au parc"), "{opened:?}");
    assert!(opened[2].contains(XSS_TITLE), "{opened:?}");
    assert!(opened[3].contains("Cours de guitare"), "{opened:?}");
    assert!(opened[4].contains("Concert au parc"), "{opened:?}");
}

#[tokio::test]
async fn at_390_px_nothing_overflows_sideways_and_axe_finds_nothing_serious() {
    let scene = scene().await;
    let browser = open(&scene, 390, 844).await;
    let widths = browser
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth]",
            json!([]),
        )
        .await;
    assert_eq!(
        widths[0], widths[1],
        "no horizontal overflow at 390 px: {widths}"
    );
    browser
        .screenshot(&screenshot_path("monitoring-390.png"))
        .await;
    let violations = axe_violations(&browser).await;
    assert!(violations.is_empty(), "axe-core at 390 px: {violations:#?}");

    // The modal's journal fits too.
    let details = browser
        .find(&format!(
            "#uploads [data-id=\"{}\"] .actions .btn",
            scene.failed.upload
        ))
        .await;
    browser.click(&details).await;
    browser
        .wait_for(
            "the log",
            "return document.querySelectorAll('#details table.log tbody tr').length",
            LIVE,
        )
        .await;
    let modal = browser
        .execute("const b = document.getElementById('details-body'); return [b.scrollWidth, b.clientWidth]", json!([]))
        .await;
    assert_eq!(
        modal[0], modal[1],
        "the journal does not scroll sideways: {modal}"
    );
    browser
        .screenshot(&screenshot_path("monitoring-390-details.png"))
        .await;
}

#[tokio::test]
async fn when_the_server_stops_the_page_says_so_within_seconds() {
    let scene = scene().await;
    let browser = open(&scene, 1440, 900).await;
    let stopped = std::time::Instant::now();
    scene.dashboard.shut_down().await.expect("a clean stop");
    let banner = browser
        .wait_for(
            "the stale banner",
            "const b = document.getElementById('banner'); return !b.hidden && document.body.classList.contains('is-stale') && b.textContent",
            Duration::from_secs(6),
        )
        .await;
    assert!(
        banner.as_str().unwrap_or_default().contains("figés"),
        "{banner}"
    );
    let live = browser
        .execute(
            "return document.getElementById('live').dataset.state",
            json!([]),
        )
        .await;
    assert_eq!(live, "error", "the pill is not green any more");
    eprintln!(
        "stale banner {:?} after the server stopped",
        stopped.elapsed()
    );
}

#[tokio::test]
async fn the_scripts_formats_match_monitor_core() {
    let scene = scene().await;
    let browser = open(&scene, 1440, 900).await;
    let now: DateTime<Utc> = "2026-11-24T10:00:00Z".parse().expect("a time");
    for seconds in [
        -180_i64, 0, 4, 5, 59, 60, 61, 3_599, 3_600, 86_399, 86_400, 200_000,
    ] {
        let then = now - chrono::Duration::seconds(seconds);
        let js = browser
            .execute(
                "return window.monitoringFormat.ago(arguments[0], Date.parse(arguments[1]))",
                json!([then, now]),
            )
            .await;
        assert_eq!(js, ago(then, now, Lang::Fr), "ago at {seconds}s");
    }
    for s in [0_i64, 59, 60, 154, 3_599, 3_600, 3_900, 90_000] {
        let js = browser
            .execute(
                "return window.monitoringFormat.formatElapsed(arguments[0])",
                json!([s]),
            )
            .await;
        assert_eq!(js, format_elapsed(s), "elapsed {s}");
    }
    for bytes in [0_i64, 1, 1_048_576, 13_107_200, 52_428_800, 2_147_483_648] {
        let js = browser
            .execute(
                "return window.monitoringFormat.sizeMb(arguments[0])",
                json!([bytes]),
            )
            .await;
        assert_eq!(js, json!(format_size_mb(Some(bytes))), "size {bytes}");
    }
    for (sent, size, speed) in [
        (0_i64, 10 * 1_048_576_i64, 2.0),
        (5, 1_048_576, 0.3),
        (1_048_576, 1_048_576, 1.0),
        (0, 3_000_000_000, 0.7),
    ] {
        let js = browser
            .execute(
                "return window.monitoringFormat.eta(arguments[0], arguments[1], arguments[2])",
                json!([sent, size, speed]),
            )
            .await;
        let rust = eta(sent, Some(size), Some(speed)).map(|d| d.num_seconds());
        assert_eq!(js, json!(rust), "eta {sent}/{size} at {speed}");
    }
    for n in 1..=3 {
        let js = browser
            .execute(
                "return window.monitoringFormat.retryBadge(arguments[0])",
                json!([n]),
            )
            .await;
        assert_eq!(js, json!(retry_badge(n, Lang::Fr)), "retry {n}");
    }
    let people = [
        (Some("John"), Some("Doe"), None),
        (Some(" élodie "), Some("martin"), None),
        (Some("Jean Pierre"), None, None),
        (None, Some("Doe"), None),
        (None, None, Some("marie-claire.dupont@example.com")),
        (None, None, Some("john_doe+tag@example.com")),
        (None, None, Some("zoe@example.com")),
        (None, None, Some("@example.com")),
        (None, None, None),
    ];
    for (first, last, email) in people {
        let js = browser
            .execute(
                "return window.monitoringFormat.initials(arguments[0], arguments[1], arguments[2])",
                json!([first, last, email]),
            )
            .await;
        assert_eq!(
            js,
            initials(first, last, email),
            "initials of {first:?} {last:?} {email:?}"
        );
    }
}
