//! Property tests of the aggregations: the fast single-pass versions agree with the naive
//! "sort everything, take the first n" reading of their documented semantics.

use chrono::{DateTime, Duration, Utc};
use monitor_core::aggregate::{
    finished_at, monitoring_stats, percent_1dp, recent_bugs, top_errors, upload_list,
};
use monitor_core::rows::{BugReport, BugSeverity};
use monitor_core::{UploadRecord, UploadStatus};
use proptest::prelude::*;
use uuid::Uuid;

/// "Now" in every case: 2026-11-24 10:00 UTC.
fn now() -> DateTime<Utc> {
    "2026-11-24T10:00:00Z".parse().unwrap()
}

/// An upload from a few fields; times are minutes before now, on a coarse grid so ties
/// (the case the tie-break rules exist for) are frequent.
fn upload(
    id: u8,
    status: u8,
    started: u8,
    took: u8,
    speed: Option<u8>,
    completed_at: bool,
) -> UploadRecord {
    let status = [
        UploadStatus::Pending,
        UploadStatus::Uploading,
        UploadStatus::Completed,
        UploadStatus::Failed,
    ][usize::from(status % 4)];
    let started_at = now() - Duration::minutes(i64::from(started) * 15);
    let finished = started_at + Duration::minutes(i64::from(took % 4) * 15);
    UploadRecord {
        id: Uuid::from_u128(u128::from(id)),
        user_id: Uuid::from_u128(1),
        local_id: format!("l{id}"),
        video_title: None,
        filename: "a.mov".into(),
        file_size: None,
        status,
        stage: None,
        progress: 0,
        bytes_sent: 0,
        upload_speed: speed.map(|s| f64::from(s) / 20.0),
        retry_count: 0,
        error_code: None,
        error_message: None,
        source: None,
        duration: None,
        metadata: serde_json::json!({}),
        device_info: None,
        video_id: None,
        last_seq: 1,
        started_at,
        completed_at: (status.is_terminal() && completed_at).then_some(finished),
        updated_at: finished,
        client_updated_at: None,
        retry_requested_at: None,
    }
}

fn uploads() -> impl Strategy<Value = Vec<UploadRecord>> {
    prop::collection::vec(
        (
            any::<u8>(),
            any::<u8>(),
            0u8..200,
            any::<u8>(),
            prop::option::of(0u8..200),
            any::<bool>(),
        ),
        0..60,
    )
    .prop_map(|rows| {
        let mut seen = std::collections::HashSet::new();
        rows.into_iter()
            .filter(|r| seen.insert(r.0)) // ids are unique in a table
            .map(|(id, status, started, took, speed, done)| {
                upload(id, status, started, took, speed, done)
            })
            .collect()
    })
}

fn bugs() -> impl Strategy<Value = Vec<BugReport>> {
    prop::collection::vec(
        (
            any::<u8>(),
            0u8..6,
            0u8..200,
            0u8..6,
            prop::option::of(0u8..4),
        ),
        0..60,
    )
    .prop_map(|rows| {
        let mut seen = std::collections::HashSet::new();
        rows.into_iter()
            .filter(|r| seen.insert(r.0))
            .map(|(id, severity, minutes, message, user)| BugReport {
                id: Uuid::from_u128(u128::from(id)),
                user_id: user.map(|u| Uuid::from_u128(u128::from(u))),
                user_email: None,
                error_type: None,
                error_message: format!("error {message}"),
                error_stack: None,
                severity: [
                    Some(BugSeverity::Critical),
                    Some(BugSeverity::High),
                    Some(BugSeverity::Medium),
                    Some(BugSeverity::Low),
                    Some(BugSeverity::Other),
                    None,
                ][usize::from(severity)],
                status: None,
                screen_name: None,
                component_name: None,
                action: None,
                app_version: None,
                device_info: None,
                metadata: None,
                created_at: (minutes < 199)
                    .then(|| now() - Duration::minutes(i64::from(minutes) * 15)),
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn stats_match_their_definition(rows in uploads(), reports in bugs()) {
        let since = now() - Duration::hours(24);
        let stats = monitoring_stats(&rows, &reports, now());
        let count = |status| rows.iter().filter(|r| r.status == status).count() as i64;
        let recent = |status| rows.iter().filter(|r| r.status == status && finished_at(r) >= since).count() as i64;
        prop_assert_eq!(stats.uploads_in_progress, count(UploadStatus::Uploading));
        prop_assert_eq!(stats.uploads_pending, count(UploadStatus::Pending));
        let (done, failed) = (recent(UploadStatus::Completed), recent(UploadStatus::Failed));
        prop_assert_eq!((stats.uploads_completed_today, stats.uploads_failed_today), (done, failed));
        prop_assert_eq!(stats.success_rate, percent_1dp(done, done + failed));
        prop_assert!(stats.success_rate + stats.failed_upload_rate <= 100.1);

        // The naive reading: sort every completed row with a speed, take 10, average.
        let mut with_speed: Vec<&UploadRecord> = rows
            .iter()
            .filter(|r| r.status == UploadStatus::Completed && r.upload_speed.is_some())
            .collect();
        with_speed.sort_by_key(|r| std::cmp::Reverse((finished_at(r), r.id)));
        with_speed.truncate(10);
        let expected = if with_speed.is_empty() {
            0.0
        } else {
            // Speeds are multiples of 0.05; in twentieths the mean is exact.
            let twentieths: i64 = with_speed.iter().map(|r| (r.upload_speed.unwrap() * 20.0).round() as i64).sum();
            let n = with_speed.len() as i64;
            // tenths = round(twentieths / (2n)) half away from zero.
            ((twentieths + n) / (2 * n)) as f64 / 10.0
        };
        prop_assert_eq!(stats.avg_upload_speed, expected);

        let in_day: Vec<&BugReport> = reports.iter().filter(|b| b.created_at.is_some_and(|t| t >= since)).collect();
        prop_assert_eq!(stats.new_bugs_today, in_day.len() as i64);
    }

    #[test]
    fn lists_are_the_first_items_of_the_full_order(rows in uploads(), reports in bugs(), limit in 0usize..30) {
        let since = now() - Duration::hours(24);
        let rank = |s: UploadStatus| UploadStatus::DISPLAY_ORDER.iter().position(|x| *x == s).unwrap();
        let mut all: Vec<&UploadRecord> = rows.iter().filter(|r| r.started_at >= since).collect();
        all.sort_by(|a, b| (rank(a.status), b.started_at, b.id).cmp(&(rank(b.status), a.started_at, a.id)));
        all.truncate(limit);
        prop_assert_eq!(upload_list(&rows, now(), limit), all);

        let severity = |b: &BugReport| b.severity.and_then(BugSeverity::rank).unwrap_or(u8::MAX);
        let mut all: Vec<&BugReport> = reports.iter().filter(|b| b.created_at.is_some_and(|t| t >= since)).collect();
        all.sort_by(|a, b| (severity(a), b.created_at, b.id).cmp(&(severity(b), a.created_at, a.id)));
        all.truncate(limit);
        prop_assert_eq!(recent_bugs(&reports, now(), limit), all);
    }

    #[test]
    fn top_errors_account_for_every_report_of_the_day(reports in bugs()) {
        let since = now() - Duration::hours(24);
        let total = reports.iter().filter(|b| b.created_at.is_some_and(|t| t >= since)).count() as i64;
        let top = top_errors(&reports, now());
        prop_assert!(top.len() <= 5);
        prop_assert!(top.iter().map(|e| e.count).sum::<i64>() <= total);
        for pair in top.windows(2) {
            prop_assert!((pair[0].count, &pair[1].message) >= (pair[1].count, &pair[0].message));
        }
        for e in &top {
            prop_assert!(e.unique_users <= e.count);
            prop_assert_eq!(e.percentage, percent_1dp(e.count, total));
        }
    }
}
