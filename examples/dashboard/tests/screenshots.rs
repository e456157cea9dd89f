//! The README's three screenshots (the page at 1440 and 390 px, and the sign-in form), taken in headless Chromium on a dev stack
//! of its own (this test binary's), filled by a small named fleet through the real ingest:
//! uploads in every state, retries, bugs of every type and severity, a failed transcription.
//! Saved under `$CARGO_TARGET_TMPDIR/monitor-dashboard-screenshots/readme-*.png`; the copies in
//! `docs/` are these files. Ignored by default (CI runs the browser tests, which take their
//! own screenshots): `cargo test -p monitor-dashboard --test screenshots -- --ignored`.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::phone::Phone;
use common::{stack, Browser, Dashboard, PASSWORD};
use serde_json::json;
use upload_monitor::devstack::{NewUser, TestUser};

const MB: i64 = 1_048_576;

async fn person(first: &str, last: &str, email: &str, admin: bool) -> TestUser {
    let mut new = NewUser::new(email).named(first, last).password(PASSWORD);
    if admin {
        new = new.admin();
    }
    stack().create_user(&new).await.expect("a user")
}

/// The fleet, as an admin would see it on a quiet afternoon.
async fn fleet() -> TestUser {
    let admin = person("Alice", "Admin", "alice.admin@exemple.fr", true).await;
    let lea = person("Léa", "Martin", "lea.martin@exemple.fr", false).await;
    let jean = person("Jean", "Dupont", "jean.dupont@exemple.fr", false).await;
    let sophie = person("Sophie", "Bernard", "sophie.bernard@exemple.fr", false).await;
    let karim = person("Karim", "Benali", "karim.benali@exemple.fr", false).await;
    let emma = person("Emma", "Petit", "emma.petit@exemple.fr", false).await;

    let mut p = Phone::begin(&lea, "Anniversaire de Léa", 120 * MB).await;
    p.progress_at(100, 2.4).await;
    p.complete().await;
    let mut p = Phone::begin(&emma, "Spectacle de danse", 340 * MB).await;
    p.progress_at(100, 4.2).await;
    p.complete().await;
    let mut p = Phone::begin(&karim, "Randonnée au Ventoux", 410 * MB).await;
    p.progress_at(35, 0.4).await;
    p.fail_with("timeout", "Upload timeout after 1200s", 3)
        .await;
    let mut p = Phone::begin(&jean, "Cours de guitare #3", 260 * MB).await;
    p.progress_at(41, 0.9).await;
    p.fail_with("network_error", "Network request failed", 1)
        .await;
    Phone::begin(&sophie, "Répétition chorale", 95 * MB).await;
    let mut p = Phone::begin(&jean, "Vacances à Biarritz", 780 * MB).await;
    p.progress_at(12, 0.8).await;
    let mut p = Phone::begin(&karim, "Mariage de Nadia", 1_600 * MB).await;
    p.progress_at(88, 5.1).await;
    let mut p = Phone::begin(&lea, "Concert au parc", 850 * MB).await;
    p.progress_at(64, 3.2).await;

    let db = stack().connect().await.expect("a superuser connection");
    let bugs = [
        (
            &lea,
            "crash",
            "TypeError: undefined is not an object (evaluating 'item.videoRecord.id')",
            "critical",
            "new",
        ),
        (
            &jean,
            "network",
            "Network request failed while uploading backup_1732.mov",
            "high",
            "investigating",
        ),
        (
            &sophie,
            "ui",
            "Le bouton Importer reste grisé après l'autorisation",
            "medium",
            "new",
        ),
        (
            &karim,
            "api",
            "queue-transcription answered 502",
            "low",
            "resolved",
        ),
        (
            &jean,
            "network",
            "Network request failed while uploading backup_1733.mov",
            "high",
            "new",
        ),
    ];
    for (who, kind, message, severity, status) in bugs {
        db.execute(
            "insert into public.bug_reports (user_id, user_email, error_type, error_message, severity, status, screen_name)
             values ($1, $2, $3, $4, $5, $6, 'ImportScreen')",
            &[&who.id, &who.email, &kind, &message, &severity, &status],
        )
        .await
        .expect("a bug report");
    }
    db.execute(
        "with v as (insert into public.videos (user_id, title, file_path)
                    values ($1, 'Conférence du jeudi', 'videos/conference.mov') returning id)
         insert into public.transcription_jobs (video_id, status, error_message)
         select id, 'failed', 'AssemblyAI: audio too short to transcribe' from v",
        &[&emma.id],
    )
    .await
    .expect("a failed transcription");
    admin
}

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("monitor-dashboard-screenshots")
        .join(name)
}

/// The whole page at `width`, once the fleet is on screen.
async fn shoot(dashboard: &Dashboard, admin: &TestUser, width: u32, name: &str) {
    let browser = Browser::start().await;
    browser.viewport(width, 900, width < 600).await;
    browser.sign_in(&dashboard.base, &admin.email).await;
    browser
        .wait_for(
            "the fleet on screen",
            "return document.querySelectorAll('#uploads .upload-card').length >= 8 && document.querySelectorAll('#bugs .list-item').length >= 5",
            Duration::from_secs(15),
        )
        .await;
    let height = browser
        .execute("return document.documentElement.scrollHeight", json!([]))
        .await
        .as_u64()
        .unwrap_or(900);
    browser
        .viewport(width, u32::try_from(height).unwrap_or(900), width < 600)
        .await;
    // Animations settle (the fade-in of late cards, the progress bars' transition).
    tokio::time::sleep(Duration::from_millis(800)).await;
    browser.screenshot(&path(name)).await;
}

#[tokio::test]
#[ignore = "regenerates the README's screenshots (~1 min): cargo test -p monitor-dashboard --test screenshots -- --ignored"]
async fn the_readme_screenshots_show_a_small_fleet_at_1440_and_390_px() {
    let admin = fleet().await;
    let dashboard = Dashboard::start().await;
    shoot(&dashboard, &admin, 1440, "readme-1440.png").await;
    shoot(&dashboard, &admin, 390, "readme-390.png").await;
    // The sign-in form, as an admin first meets it.
    let browser = Browser::start().await;
    browser.viewport(720, 560, false).await;
    browser.goto(&dashboard.url("/login")).await;
    browser
        .wait_for(
            "the form",
            "return document.readyState === 'complete' && document.getElementById('email') !== null",
            Duration::from_secs(10),
        )
        .await;
    browser.screenshot(&path("readme-signin.png")).await;
    dashboard.shut_down().await.expect("a clean stop");
}
