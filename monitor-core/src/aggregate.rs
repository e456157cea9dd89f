//! The monitoring aggregations over in-memory rows, with exactly the semantics of the SQL
//! monitoring functions: the stat cards, the top 5 errors, the bug list, the upload list
//! and the error tabs. They are the oracle of the differential tests against the SQL.
//!
//! Conventions shared by every function here (and by their SQL mirrors):
//!
//! - `now` is the server's `now()`. A window "in 24 h" is `column >= now - interval '24
//!   hours'` (inclusive); a row whose column is null is never in a window, nor one whose
//!   time lies outside 2000–2100 (it reads as null: [`crate::bounds`]).
//! - Texts shown are cut as [`crate::bounds`] says (a top error's message to
//!   [`MAX_MESSAGE_CHARS`]); groups are made on the whole text.
//! - A finished upload's time is `finished_at = coalesce(completed_at, updated_at)`: the
//!   SDK sets `completed_at` on `complete` and `fail`, but rows written the spec's old way
//!   (`failUploadQueue` does not set it) still count.
//! - "Rounded to one decimal" is PostgreSQL's `round(numeric, 1)`: half away from zero, on
//!   the exact decimal value. The Rust side computes it in integers so the two agree to
//!   the last digit (speeds are taken at 6 decimals: `upload_speed` values with more
//!   decimals may differ by 0.1 when their average sits within 10⁻⁶ of a rounding step).
//! - Ties are broken by `id` descending (UUIDs compare bytewise in both PostgreSQL and
//!   Rust), and messages by byte order (SQL: `collate "C"`), so every order is total.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::bounds::{MAX_MESSAGE_CHARS, cut, sane_time};
use crate::monitoring::{ErrorSummary, MonitoringStats};
use crate::record::UploadRecord;
use crate::rows::{
    BugErrorType, BugReport, BugSeverity, TranscriptionJob, TranscriptionStatus, VideoRow,
};
use crate::status::UploadStatus;

/// The stat cards' and the top errors' window: the spec's "(24h)".
///
/// ```
/// use chrono::{DateTime, Duration, Utc};
/// use monitor_core::aggregate::{monitoring_stats, STATS_WINDOW};
/// use monitor_core::rows::BugReport;
/// let now: DateTime<Utc> = "2026-11-24T10:00:00Z".parse().unwrap();
/// let bug = |n: u128, at: DateTime<Utc>| -> BugReport {
///     serde_json::from_value(serde_json::json!({
///         "id": uuid::Uuid::from_u128(n), "error_message": "Upload failed", "created_at": at,
///     }))
///     .unwrap()
/// };
/// // The window is inclusive: exactly 24 h ago still counts, one second more does not.
/// let bugs = [bug(1, now - STATS_WINDOW), bug(2, now - STATS_WINDOW - Duration::seconds(1))];
/// assert_eq!(monitoring_stats(&[], &bugs, now).new_bugs_today, 1);
/// ```
pub const STATS_WINDOW: Duration = Duration::hours(24);

/// The error tabs' longer window for upload and transcription failures (the spec's
/// `INTERVAL '7 days'`, also the cleanup's retention of finished uploads).
///
/// ```
/// use chrono::{DateTime, Duration, Utc};
/// use monitor_core::aggregate::{failed_transcriptions, ERROR_TAB_WINDOW};
/// use monitor_core::rows::TranscriptionJob;
/// let now: DateTime<Utc> = "2026-11-24T10:00:00Z".parse().unwrap();
/// let job = |n: u128, age: Duration| -> TranscriptionJob {
///     serde_json::from_value(serde_json::json!({
///         "id": uuid::Uuid::from_u128(n), "status": "failed", "created_at": now - age,
///     }))
///     .unwrap()
/// };
/// let jobs = [job(1, Duration::days(6)), job(2, ERROR_TAB_WINDOW + Duration::hours(1))];
/// let shown = failed_transcriptions(&jobs, now);
/// assert_eq!(shown.len(), 1);
/// assert_eq!(shown[0].id, uuid::Uuid::from_u128(1));
/// ```
pub const ERROR_TAB_WINDOW: Duration = Duration::days(7);

/// "Vitesse moy. — Dernières 10 uploads".
///
/// ```
/// use chrono::{DateTime, Duration, Utc};
/// use monitor_core::aggregate::{monitoring_stats, SPEED_SAMPLE_SIZE};
/// use monitor_core::{UploadRecord, UploadStatus};
/// # let row: monitor_core::UploadRecord = serde_json::from_str(r#"{"id":"0192a7b0-0000-7000-8000-0000000000aa","user_id":"00000000-0000-4000-8000-000000000001","local_id":"a","video_title":null,"filename":"a.mov","file_size":1000,"status":"uploading","stage":"uploading","progress":10,"bytes_sent":100,"upload_speed":null,"retry_count":0,"error_code":null,"error_message":null,"source":null,"duration":null,"metadata":{},"device_info":null,"video_id":null,"last_seq":3,"started_at":"2026-11-24T09:00:00Z","completed_at":null,"updated_at":"2026-11-24T09:00:00Z","client_updated_at":null,"retry_requested_at":null}"#).unwrap();
/// let now: DateTime<Utc> = "2026-11-24T10:00:00Z".parse().unwrap();
/// // Eleven completed uploads, one a minute; the oldest was fast.
/// let rows: Vec<UploadRecord> = (0..=SPEED_SAMPLE_SIZE as i64)
///     .map(|n| UploadRecord {
///         id: uuid::Uuid::from_u128(n as u128),
///         status: UploadStatus::Completed,
///         upload_speed: Some(if n == 0 { 50.0 } else { 2.0 }),
///         completed_at: Some(now - Duration::minutes(60 - n)),
///         ..row.clone()
///     })
///     .collect();
/// // Only the 10 latest count: the fast one is left out.
/// assert_eq!(monitoring_stats(&rows, &[], now).avg_upload_speed, 2.0);
/// ```
pub const SPEED_SAMPLE_SIZE: usize = 10;

/// "Erreurs Courantes (Top 5)".
///
/// ```
/// use monitor_core::aggregate::{top_errors, TOP_ERRORS_LIMIT};
/// use monitor_core::rows::BugReport;
/// let now = "2026-11-24T10:00:00Z".parse().unwrap();
/// // Eight different messages, once each.
/// let bugs: Vec<BugReport> = (0..8u128)
///     .map(|n| {
///         serde_json::from_value(serde_json::json!({
///             "id": uuid::Uuid::from_u128(n), "error_message": format!("error {n}"),
///             "created_at": "2026-11-24T09:00:00Z",
///         }))
///         .unwrap()
///     })
///     .collect();
/// let top = top_errors(&bugs, now);
/// assert_eq!(top.len(), TOP_ERRORS_LIMIT);
/// // Equal counts: by message, in byte order.
/// assert_eq!(top[0].message, "error 0");
/// ```
pub const TOP_ERRORS_LIMIT: usize = 5;

/// The bug list's length ("limit 20").
///
/// ```
/// use monitor_core::aggregate::{recent_bugs, RECENT_BUGS_LIMIT};
/// use monitor_core::rows::BugReport;
/// let now = "2026-11-24T10:00:00Z".parse().unwrap();
/// let bugs: Vec<BugReport> = (0..30u128)
///     .map(|n| {
///         serde_json::from_value(serde_json::json!({
///             "id": uuid::Uuid::from_u128(n), "error_message": "Network request failed",
///             "severity": if n == 29 { "critical" } else { "low" },
///             "created_at": "2026-11-24T09:00:00Z",
///         }))
///         .unwrap()
///     })
///     .collect();
/// let list = recent_bugs(&bugs, now, RECENT_BUGS_LIMIT);
/// assert_eq!(list.len(), 20);
/// assert_eq!(list[0].id, uuid::Uuid::from_u128(29)); // critical first
/// ```
pub const RECENT_BUGS_LIMIT: usize = 20;

/// The upload list's length (the spec's "LIMIT 100": 50–100 cards keep the page light).
///
/// ```
/// use monitor_core::aggregate::{upload_list, UPLOAD_LIST_LIMIT};
/// use monitor_core::UploadRecord;
/// # let row: monitor_core::UploadRecord = serde_json::from_str(r#"{"id":"0192a7b0-0000-7000-8000-0000000000aa","user_id":"00000000-0000-4000-8000-000000000001","local_id":"a","video_title":null,"filename":"a.mov","file_size":1000,"status":"uploading","stage":"uploading","progress":10,"bytes_sent":100,"upload_speed":null,"retry_count":0,"error_code":null,"error_message":null,"source":null,"duration":null,"metadata":{},"device_info":null,"video_id":null,"last_seq":3,"started_at":"2026-11-24T09:00:00Z","completed_at":null,"updated_at":"2026-11-24T09:00:00Z","client_updated_at":null,"retry_requested_at":null}"#).unwrap();
/// let now = "2026-11-24T10:00:00Z".parse().unwrap();
/// let rows: Vec<UploadRecord> = (0..150u128)
///     .map(|n| UploadRecord { id: uuid::Uuid::from_u128(n), ..row.clone() })
///     .collect();
/// assert_eq!(upload_list(&rows, now, UPLOAD_LIST_LIMIT).len(), 100);
/// ```
pub const UPLOAD_LIST_LIMIT: usize = 100;

/// `coalesce(completed_at, updated_at)`: when a finished upload finished.
///
/// ```
/// use monitor_core::aggregate::finished_at;
/// # let mut row: monitor_core::UploadRecord = serde_json::from_str(r#"{"id":"0192a7b0-0000-7000-8000-0000000000aa","user_id":"00000000-0000-4000-8000-000000000001","local_id":"a","video_title":null,"filename":"a.mov","file_size":1000,"status":"failed","stage":"uploading","progress":10,"bytes_sent":100,"upload_speed":null,"retry_count":0,"error_code":null,"error_message":null,"source":null,"duration":null,"metadata":{},"device_info":null,"video_id":null,"last_seq":3,"started_at":"2026-11-24T09:00:00Z","completed_at":null,"updated_at":"2026-11-24T09:05:00Z","client_updated_at":null,"retry_requested_at":null}"#).unwrap();
/// // A failure written the spec's old way has no `completed_at`: its last update stands in.
/// assert_eq!(row.completed_at, None);
/// assert_eq!(finished_at(&row), row.updated_at);
/// let completed_at = "2026-11-24T09:04:00Z".parse().unwrap();
/// row.completed_at = Some(completed_at);
/// assert_eq!(finished_at(&row), completed_at);
/// ```
pub fn finished_at(row: &UploadRecord) -> DateTime<Utc> {
    row.completed_at.unwrap_or(row.updated_at)
}

/// The stat cards.
///
/// - `uploadsInProgress`: rows with status `uploading`; `uploadsPending`: status
///   `pending` (no window: they are the live state).
/// - `uploadsCompletedToday` / `uploadsFailedToday`: status `completed` / `failed` with
///   `finished_at >= now - 24h`.
/// - `successRate` = completed / (completed + failed) × 100 and `failedUploadRate` =
///   failed / (completed + failed) × 100, over those 24 h counts, rounded to one decimal;
///   both 0 when the sum is 0.
/// - `avgUploadSpeed`: the mean `upload_speed` of the 10 latest rows with status
///   `completed` and a non-null `upload_speed` (no window), latest by `finished_at` desc
///   then `id` desc, rounded to one decimal; 0 when there are none.
/// - `newBugsToday`: bug reports with `created_at >= now - 24h` (any status: "new" means
///   newly reported); `criticalBugsToday`: those with severity `critical`.
///
/// ```
/// use monitor_core::aggregate::monitoring_stats;
/// let now = "2026-11-24T10:00:00Z".parse().unwrap();
/// let stats = monitoring_stats(&[], &[], now);
/// assert_eq!(stats.success_rate, 0.0);
/// ```
pub fn monitoring_stats(
    uploads: &[UploadRecord],
    bugs: &[BugReport],
    now: DateTime<Utc>,
) -> MonitoringStats {
    let since = now - STATS_WINDOW;
    let mut stats = MonitoringStats::default();
    // The latest completed rows with a speed: (finished_at, id, speed in millionths).
    let mut latest: Vec<(DateTime<Utc>, Uuid, i128)> = Vec::with_capacity(SPEED_SAMPLE_SIZE + 1);
    for row in uploads {
        match row.status {
            UploadStatus::Uploading => stats.uploads_in_progress += 1,
            UploadStatus::Pending => stats.uploads_pending += 1,
            UploadStatus::Completed => {
                let at = finished_at(row);
                if at >= since {
                    stats.uploads_completed_today += 1;
                }
                if let Some(speed) = row.upload_speed.filter(|s| s.is_finite()) {
                    keep_latest(&mut latest, (at, row.id, micro_units(speed)));
                }
            }
            UploadStatus::Failed => {
                if finished_at(row) >= since {
                    stats.uploads_failed_today += 1;
                }
            }
        }
    }
    let finished = stats.uploads_completed_today + stats.uploads_failed_today;
    stats.success_rate = percent_1dp(stats.uploads_completed_today, finished);
    stats.failed_upload_rate = percent_1dp(stats.uploads_failed_today, finished);
    if !latest.is_empty() {
        let sum: i128 = latest.iter().map(|(_, _, s)| s).sum();
        // Tenths of MB/s: sum / (n × 10⁶) × 10, rounded half away from zero.
        let tenths = div_round(sum, latest.len() as i128 * 100_000);
        stats.avg_upload_speed = tenths as f64 / 10.0;
    }
    for bug in bugs {
        if sane(bug.created_at).is_some_and(|at| at >= since) {
            stats.new_bugs_today += 1;
            if bug.severity == Some(BugSeverity::Critical) {
                stats.critical_bugs_today += 1;
            }
        }
    }
    stats
}

/// Keeps the [`SPEED_SAMPLE_SIZE`] greatest `(finished_at, id)` entries, greatest first.
fn keep_latest(latest: &mut Vec<(DateTime<Utc>, Uuid, i128)>, entry: (DateTime<Utc>, Uuid, i128)) {
    let key = |e: &(DateTime<Utc>, Uuid, i128)| (e.0, e.1);
    if latest.len() == SPEED_SAMPLE_SIZE && latest.last().is_some_and(|l| key(l) >= key(&entry)) {
        return;
    }
    let at = latest.partition_point(|e| key(e) > key(&entry));
    latest.insert(at, entry);
    latest.truncate(SPEED_SAMPLE_SIZE);
}

/// A speed in millionths of MB/s (what `numeric` keeps of a 6-decimal value).
fn micro_units(speed: f64) -> i128 {
    // Speeds are small positive numbers; the product is far inside i128.
    (speed * 1_000_000.0).round() as i128
}

/// `n / d` rounded half away from zero, for `d > 0`.
fn div_round(n: i128, d: i128) -> i128 {
    if n >= 0 {
        (2 * n + d) / (2 * d)
    } else {
        -((2 * -n + d) / (2 * d))
    }
}

/// `round(part * 100.0 / whole, 1)`, 0 when `whole` is 0.
///
/// ```
/// use monitor_core::aggregate::percent_1dp;
/// assert_eq!(percent_1dp(1, 3), 33.3);
/// assert_eq!(percent_1dp(1, 16), 6.3); // 6.25 rounds away from zero
/// assert_eq!(percent_1dp(0, 0), 0.0);
/// ```
pub fn percent_1dp(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    div_round(i128::from(part) * 1_000, i128::from(whole)) as f64 / 10.0
}

/// "🔥 Erreurs les plus fréquentes (24h)": the spec's query over `bug_reports`.
///
/// Reports with `created_at >= now - 24h`, grouped by `error_message` (exact text);
/// `count` per message, `uniqueUsers` = distinct non-null `user_id`
/// (`count(distinct user_id)`), `percentage` = `round(count * 100.0 / total, 1)` where
/// `total` is every report in the window; ordered by `count` desc then message in byte
/// order (`error_message collate "C"`), first 5.
///
/// ```
/// use monitor_core::aggregate::top_errors;
/// use monitor_core::rows::BugReport;
/// let now = "2026-11-24T10:00:00Z".parse().unwrap();
/// let bug = |n: u128, msg: &str| -> BugReport { serde_json::from_value(serde_json::json!({
///     "id": uuid::Uuid::from_u128(n), "user_id": uuid::Uuid::from_u128(n % 2),
///     "error_message": msg, "created_at": "2026-11-24T09:00:00Z"})).unwrap() };
/// let bugs = [bug(1, "timeout"), bug(2, "timeout"), bug(3, "crash"), bug(4, "timeout")];
/// let top = top_errors(&bugs, now);
/// assert_eq!((top[0].message.as_str(), top[0].count, top[0].unique_users, top[0].percentage),
///            ("timeout", 3, 2, 75.0));
/// ```
pub fn top_errors(bugs: &[BugReport], now: DateTime<Utc>) -> Vec<ErrorSummary> {
    let since = now - STATS_WINDOW;
    let mut groups: HashMap<&str, (i64, HashSet<Uuid>)> = HashMap::new();
    let mut total = 0_i64;
    for bug in bugs {
        if sane(bug.created_at).is_none_or(|at| at < since) {
            continue;
        }
        total += 1;
        let group = groups.entry(bug.error_message.as_str()).or_default();
        group.0 += 1;
        if let Some(user) = bug.user_id {
            group.1.insert(user);
        }
    }
    let mut rows: Vec<(&str, i64, i64)> = groups
        .into_iter()
        .map(|(message, (count, users))| (message, count, users.len() as i64))
        .collect();
    rows.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    rows.truncate(TOP_ERRORS_LIMIT);
    rows.into_iter()
        .map(|(message, count, unique_users)| ErrorSummary {
            message: cut(message, MAX_MESSAGE_CHARS).to_owned(),
            count,
            unique_users,
            percentage: percent_1dp(count, total),
        })
        .collect()
}

/// The bug list's order key: severity rank (critical, high, medium, low, then null or any
/// other value: SQL's `CASE` gives NULL, sorted last), `created_at` desc, `id` desc.
fn bug_order(a: &BugReport, b: &BugReport) -> std::cmp::Ordering {
    let rank = |bug: &BugReport| bug.severity.and_then(BugSeverity::rank).unwrap_or(u8::MAX);
    rank(a)
        .cmp(&rank(b))
        .then_with(|| sane(b.created_at).cmp(&sane(a.created_at)))
        .then_with(|| b.id.cmp(&a.id))
}

/// "🐛 Bugs récents": reports with `created_at >= now - 24h`, ordered by severity
/// (critical first, unknown last), then newest first, then `id` desc; the first `limit`
/// ([`RECENT_BUGS_LIMIT`] on the page).
///
/// ```
/// use monitor_core::aggregate::recent_bugs;
/// let now = "2026-11-24T10:00:00Z".parse().unwrap();
/// assert!(recent_bugs(&[], now, 20).is_empty());
/// ```
pub fn recent_bugs(bugs: &[BugReport], now: DateTime<Utc>, limit: usize) -> Vec<&BugReport> {
    let since = now - STATS_WINDOW;
    let in_window = bugs
        .iter()
        .filter(|b| sane(b.created_at).is_some_and(|at| at >= since));
    first_sorted(in_window.collect(), limit, |a, b| bug_order(a, b))
}

/// The upload list's status order: uploading, pending, failed, completed (the spec's
/// `CASE status ...`, [`UploadStatus::DISPLAY_ORDER`]).
fn status_rank(status: UploadStatus) -> usize {
    UploadStatus::DISPLAY_ORDER
        .iter()
        .position(|s| *s == status)
        .unwrap_or(UploadStatus::DISPLAY_ORDER.len())
}

/// "⬆️ Uploads en cours": rows with `started_at >= now - 24h`, ordered by status
/// (uploading, pending, failed, completed), then `started_at` desc, then `id` desc; the
/// first `limit` ([`UPLOAD_LIST_LIMIT`] on the page).
///
/// ```
/// use monitor_core::aggregate::upload_list;
/// let now = "2026-11-24T10:00:00Z".parse().unwrap();
/// assert!(upload_list(&[], now, 100).is_empty());
/// ```
pub fn upload_list(
    uploads: &[UploadRecord],
    now: DateTime<Utc>,
    limit: usize,
) -> Vec<&UploadRecord> {
    let since = now - STATS_WINDOW;
    let in_window = uploads.iter().filter(|r| r.started_at >= since);
    first_sorted(in_window.collect(), limit, |a, b| {
        status_rank(a.status)
            .cmp(&status_rank(b.status))
            .then_with(|| b.started_at.cmp(&a.started_at))
            .then_with(|| b.id.cmp(&a.id))
    })
}

/// "🚫 Échecs Upload": rows with status `failed` and `finished_at >= now - 7 days`,
/// newest `finished_at` first, then `id` desc.
///
/// ```
/// use monitor_core::aggregate::failed_uploads;
/// assert!(failed_uploads(&[], "2026-11-24T10:00:00Z".parse().unwrap()).is_empty());
/// ```
pub fn failed_uploads(uploads: &[UploadRecord], now: DateTime<Utc>) -> Vec<&UploadRecord> {
    let since = now - ERROR_TAB_WINDOW;
    let mut rows: Vec<&UploadRecord> = uploads
        .iter()
        .filter(|r| r.status == UploadStatus::Failed && finished_at(r) >= since)
        .collect();
    rows.sort_unstable_by(|a, b| {
        finished_at(b)
            .cmp(&finished_at(a))
            .then_with(|| b.id.cmp(&a.id))
    });
    rows
}

/// The other half of "🚫 Échecs Upload": the spec's videos flagged `metadata.uploadFailed`
/// ([`VideoRow::upload_failed`]) with `created_at >= now - 7 days`, except those that a
/// failed `upload_queue` row links to (`video_id`): that row's card is in the tab and tells the
/// story. A video whose linked row completed (or is still active) stays: the app's flag is the
/// only failure there is. In no particular order (the tab sorts the two halves together).
///
/// ```
/// use monitor_core::aggregate::upload_error_videos;
/// use monitor_core::rows::VideoRow;
/// let now = "2026-11-24T10:00:00Z".parse().unwrap();
/// let video: VideoRow = serde_json::from_str(r#"{"id":"00000000-0000-4000-8000-0000000000f1",
///   "metadata":{"uploadFailed":true},"created_at":"2026-11-24T09:00:00Z"}"#).unwrap();
/// let videos = [video];
/// assert_eq!(upload_error_videos(&videos, &[], now).len(), 1);
/// ```
pub fn upload_error_videos<'a>(
    videos: &'a [VideoRow],
    uploads: &[UploadRecord],
    now: DateTime<Utc>,
) -> Vec<&'a VideoRow> {
    let since = now - ERROR_TAB_WINDOW;
    let told: HashSet<Uuid> = uploads
        .iter()
        .filter(|u| u.status == UploadStatus::Failed)
        .filter_map(|u| u.video_id)
        .collect();
    videos
        .iter()
        .filter(|v| v.upload_failed() && !told.contains(&v.id))
        .filter(|v| sane(v.created_at).is_some_and(|at| at >= since))
        .collect()
}

/// "⚠️ Erreurs Réseau": the spec's query: reports with `created_at >= now - 24h` and
/// (`error_type = 'network'` or `error_message ILIKE '%upload%'`), newest first, then `id`
/// desc. The case-insensitive match lower-cases with Unicode rules, as PostgreSQL does in
/// a UTF-8 database.
///
/// ```
/// use monitor_core::aggregate::network_errors;
/// assert!(network_errors(&[], "2026-11-24T10:00:00Z".parse().unwrap()).is_empty());
/// ```
pub fn network_errors(bugs: &[BugReport], now: DateTime<Utc>) -> Vec<&BugReport> {
    let since = now - STATS_WINDOW;
    let mut rows: Vec<&BugReport> = bugs
        .iter()
        .filter(|b| sane(b.created_at).is_some_and(|at| at >= since))
        .filter(|b| {
            b.error_type == Some(BugErrorType::Network)
                || b.error_message.to_lowercase().contains("upload")
        })
        .collect();
    rows.sort_unstable_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| b.id.cmp(&a.id))
    });
    rows
}

/// "🔴 Échecs Transcription": jobs with status `failed` and `created_at >= now - 7 days`,
/// newest first, then `id` desc.
///
/// ```
/// use monitor_core::aggregate::failed_transcriptions;
/// assert!(failed_transcriptions(&[], "2026-11-24T10:00:00Z".parse().unwrap()).is_empty());
/// ```
pub fn failed_transcriptions(
    jobs: &[TranscriptionJob],
    now: DateTime<Utc>,
) -> Vec<&TranscriptionJob> {
    let since = now - ERROR_TAB_WINDOW;
    let mut rows: Vec<&TranscriptionJob> = jobs
        .iter()
        .filter(|j| j.status == TranscriptionStatus::Failed)
        .filter(|j| sane(j.created_at).is_some_and(|at| at >= since))
        .collect();
    rows.sort_unstable_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| b.id.cmp(&a.id))
    });
    rows
}

/// A row's time as the windows read it: `None` outside 2000–2100 ([`sane_time`]).
fn sane(at: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    at.and_then(sane_time)
}

/// The first `limit` items of `items` in `order`, sorted, in O(n + limit log limit).
fn first_sorted<T>(
    mut items: Vec<T>,
    limit: usize,
    order: impl Fn(&T, &T) -> std::cmp::Ordering,
) -> Vec<T> {
    if limit == 0 {
        return Vec::new();
    }
    if items.len() > limit {
        items.select_nth_unstable_by(limit - 1, &order);
        items.truncate(limit);
    }
    items.sort_unstable_by(&order);
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "Now" for every case: 2026-11-24 10:00 UTC.
    fn now() -> DateTime<Utc> {
        "2026-11-24T10:00:00Z".parse().unwrap()
    }

    fn minutes_ago(m: i64) -> DateTime<Utc> {
        now() - Duration::minutes(m)
    }

    fn upload(
        n: u128,
        status: UploadStatus,
        finished_minutes_ago: i64,
        speed: Option<f64>,
    ) -> UploadRecord {
        let at = minutes_ago(finished_minutes_ago);
        UploadRecord {
            id: Uuid::from_u128(n),
            user_id: Uuid::from_u128(1),
            local_id: format!("import_{n}"),
            video_title: None,
            filename: "a.mov".into(),
            file_size: Some(1_000),
            status,
            stage: None,
            progress: 0,
            bytes_sent: 0,
            upload_speed: speed,
            retry_count: 0,
            error_code: None,
            error_message: None,
            source: None,
            duration: None,
            metadata: serde_json::json!({}),
            device_info: None,
            video_id: None,
            last_seq: 1,
            started_at: at - Duration::minutes(1),
            completed_at: status.is_terminal().then_some(at),
            updated_at: at,
            client_updated_at: None,
            retry_requested_at: None,
        }
    }

    fn bug(
        n: u128,
        message: &str,
        severity: Option<BugSeverity>,
        minutes: i64,
        user: Option<u128>,
    ) -> BugReport {
        BugReport {
            id: Uuid::from_u128(n),
            user_id: user.map(Uuid::from_u128),
            user_email: None,
            error_type: None,
            error_message: message.into(),
            error_stack: None,
            severity,
            status: None,
            screen_name: None,
            component_name: None,
            action: None,
            app_version: None,
            device_info: None,
            metadata: None,
            created_at: Some(minutes_ago(minutes)),
        }
    }

    #[test]
    fn stats_count_live_uploads_and_the_last_24_hours() {
        let day = 24 * 60;
        let uploads = [
            upload(1, UploadStatus::Uploading, 1, None),
            upload(2, UploadStatus::Uploading, 3 * day, None),
            upload(3, UploadStatus::Pending, 0, None),
            upload(4, UploadStatus::Completed, 10, None),
            upload(5, UploadStatus::Completed, day, None), // exactly 24 h: inside
            upload(6, UploadStatus::Completed, day + 1, None),
            upload(7, UploadStatus::Failed, 5, None),
        ];
        let s = monitoring_stats(&uploads, &[], now());
        assert_eq!((s.uploads_in_progress, s.uploads_pending), (2, 1));
        assert_eq!((s.uploads_completed_today, s.uploads_failed_today), (2, 1));
        assert_eq!((s.success_rate, s.failed_upload_rate), (66.7, 33.3));
    }

    #[test]
    fn a_failure_without_completed_at_counts_by_its_last_update() {
        let mut old_style = upload(1, UploadStatus::Failed, 5, None);
        old_style.completed_at = None;
        let s = monitoring_stats(&[old_style], &[], now());
        assert_eq!(s.uploads_failed_today, 1);
        assert_eq!(s.failed_upload_rate, 100.0);
    }

    #[test]
    fn average_speed_uses_the_ten_latest_completed_uploads_with_a_speed() {
        let mut uploads: Vec<UploadRecord> = (0..10)
            .map(|n| upload(100 + n, UploadStatus::Completed, n as i64, Some(2.0)))
            .collect();
        // Older, slower: outside the ten latest.
        uploads.push(upload(1, UploadStatus::Completed, 60, Some(100.0)));
        // Latest but without a speed, or not completed: ignored.
        uploads.push(upload(2, UploadStatus::Completed, 0, None));
        uploads.push(upload(3, UploadStatus::Failed, 0, Some(50.0)));
        assert_eq!(monitoring_stats(&uploads, &[], now()).avg_upload_speed, 2.0);
    }

    #[test]
    fn average_speed_ties_are_broken_by_the_greater_id() {
        // Eleven uploads finishing at the same instant: the smallest id is left out.
        let mut uploads: Vec<UploadRecord> = (1..=10)
            .map(|n| upload(100 + n, UploadStatus::Completed, 0, Some(1.0)))
            .collect();
        uploads.push(upload(1, UploadStatus::Completed, 0, Some(12.0)));
        assert_eq!(monitoring_stats(&uploads, &[], now()).avg_upload_speed, 1.0);
    }

    #[test]
    fn average_speed_rounds_half_away_from_zero_like_numeric() {
        let uploads = [
            upload(1, UploadStatus::Completed, 0, Some(1.0)),
            upload(2, UploadStatus::Completed, 1, Some(1.1)),
        ];
        // 1.05 exactly in numeric: rounds to 1.1 (binary 1.05 is 1.0499999...).
        assert_eq!(monitoring_stats(&uploads, &[], now()).avg_upload_speed, 1.1);
    }

    #[test]
    fn bug_stats_count_every_new_report_and_the_critical_ones() {
        let bugs = [
            bug(1, "a", Some(BugSeverity::Critical), 5, None),
            bug(2, "a", Some(BugSeverity::Low), 5, None),
            bug(3, "a", Some(BugSeverity::Critical), 25 * 60, None),
        ];
        let s = monitoring_stats(&[], &bugs, now());
        assert_eq!((s.new_bugs_today, s.critical_bugs_today), (2, 1));
    }

    #[test]
    fn top_errors_are_the_five_most_frequent_messages_with_ties_by_text() {
        let mut bugs = Vec::new();
        let mut n = 0;
        for (message, count) in [("f", 1), ("e", 1), ("d", 2), ("c", 2), ("b", 3), ("a", 1)] {
            for k in 0..count {
                n += 1;
                bugs.push(bug(n, message, None, 1, Some(k % 2)));
            }
        }
        bugs.push(bug(99, "b", None, 25 * 60, Some(7))); // too old
        let top = top_errors(&bugs, now());
        let names: Vec<&str> = top.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(names, ["b", "c", "d", "a", "e"]);
        assert_eq!(
            (top[0].count, top[0].unique_users, top[0].percentage),
            (3, 2, 30.0)
        );
    }

    #[test]
    fn reports_without_a_user_count_but_not_as_users() {
        let bugs = [bug(1, "x", None, 1, None), bug(2, "x", None, 1, Some(5))];
        let top = top_errors(&bugs, now());
        assert_eq!((top[0].count, top[0].unique_users), (2, 1));
    }

    #[test]
    fn bugs_are_listed_by_severity_then_newest() {
        let bugs = [
            bug(1, "low new", Some(BugSeverity::Low), 1, None),
            bug(2, "unknown", Some(BugSeverity::Other), 1, None),
            bug(3, "none", None, 0, None),
            bug(4, "critical old", Some(BugSeverity::Critical), 600, None),
            bug(5, "critical new", Some(BugSeverity::Critical), 2, None),
            bug(6, "high", Some(BugSeverity::High), 3, None),
            bug(7, "too old", Some(BugSeverity::Critical), 25 * 60, None),
        ];
        let list: Vec<&str> = recent_bugs(&bugs, now(), 20)
            .iter()
            .map(|b| b.error_message.as_str())
            .collect();
        assert_eq!(
            list,
            [
                "critical new",
                "critical old",
                "high",
                "low new",
                "none",
                "unknown"
            ]
        );
        assert_eq!(recent_bugs(&bugs, now(), 2).len(), 2);
        assert!(recent_bugs(&bugs, now(), 0).is_empty());
    }

    #[test]
    fn uploads_are_listed_active_first_then_newest() {
        let uploads = [
            upload(1, UploadStatus::Completed, 1, None),
            upload(2, UploadStatus::Failed, 1, None),
            upload(3, UploadStatus::Pending, 1, None),
            upload(4, UploadStatus::Uploading, 10, None),
            upload(5, UploadStatus::Uploading, 1, None),
            upload(6, UploadStatus::Uploading, 25 * 60, None), // started too long ago
        ];
        let ids: Vec<u128> = upload_list(&uploads, now(), 100)
            .iter()
            .map(|r| r.id.as_u128())
            .collect();
        assert_eq!(ids, [5, 4, 3, 2, 1]);
    }

    #[test]
    fn error_tabs_filter_their_sources() {
        let mut network = bug(1, "timeout", None, 1, None);
        network.error_type = Some(BugErrorType::Network);
        let bugs = [
            network,
            bug(2, "Video UPLOAD failed", None, 2, None),
            bug(3, "crash", None, 1, None),
        ];
        let ids: Vec<u128> = network_errors(&bugs, now())
            .iter()
            .map(|b| b.id.as_u128())
            .collect();
        assert_eq!(ids, [1, 2]);

        let uploads = [
            upload(1, UploadStatus::Failed, 60, None),
            upload(2, UploadStatus::Failed, 8 * 24 * 60, None),
            upload(3, UploadStatus::Completed, 1, None),
            upload(4, UploadStatus::Failed, 1, None),
        ];
        let ids: Vec<u128> = failed_uploads(&uploads, now())
            .iter()
            .map(|r| r.id.as_u128())
            .collect();
        assert_eq!(ids, [4, 1]);

        let job = |n: u128, status: &str, minutes: i64| -> TranscriptionJob {
            serde_json::from_value(serde_json::json!({
                "id": Uuid::from_u128(n), "status": status, "created_at": minutes_ago(minutes)
            }))
            .unwrap()
        };
        let jobs = [
            job(1, "failed", 10),
            job(2, "completed", 1),
            job(3, "failed", 8 * 24 * 60),
            job(4, "failed", 1),
        ];
        let ids: Vec<u128> = failed_transcriptions(&jobs, now())
            .iter()
            .map(|j| j.id.as_u128())
            .collect();
        assert_eq!(ids, [4, 1]);
    }

    #[test]
    fn a_flagged_video_leaves_the_tab_only_to_a_failed_linked_upload() {
        let video = |n: u128| -> VideoRow {
            serde_json::from_value(serde_json::json!({
                "id": Uuid::from_u128(n), "metadata": {"uploadFailed": true},
                "created_at": minutes_ago(5),
            }))
            .unwrap()
        };
        let videos = [video(1), video(2), video(3)];
        let mut completed = upload(10, UploadStatus::Completed, 1, None);
        completed.video_id = Some(Uuid::from_u128(1));
        let mut failed = upload(11, UploadStatus::Failed, 1, None);
        failed.video_id = Some(Uuid::from_u128(2));
        let ids: Vec<u128> = upload_error_videos(&videos, &[completed, failed], now())
            .iter()
            .map(|v| v.id.as_u128())
            .collect();
        assert_eq!(ids, [1, 3]);
    }

    #[test]
    fn percentages_round_like_postgresql() {
        assert_eq!(percent_1dp(2, 3), 66.7);
        assert_eq!(percent_1dp(1, 8), 12.5);
        assert_eq!(percent_1dp(1, 2_000), 0.1); // 0.05 rounds up
        assert_eq!(percent_1dp(1, 2_001), 0.0);
        assert_eq!(percent_1dp(5, 5), 100.0);
    }
}
