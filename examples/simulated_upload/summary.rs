//! What the run prints: the live line from `monitoring_snapshot` (the dashboard's stats row),
//! the end-of-run summary, and the check that the server holds exactly what the phones hold.
#![allow(dead_code)] // The example prints the text; the test reads the figures.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use monitor_core::client::MonitoringClient;
use tokio_postgres::Client;
use uuid::Uuid;

use crate::phone::{Counters, PhoneOutcome};

/// The dashboard's stats row, one line.
///
/// # Errors
///
/// The RPC failed.
pub async fn live_line(client: &MonitoringClient) -> Result<String, String> {
    let s = client.snapshot().await.map_err(|e| e.to_string())?.stats;
    Ok(format!(
        "actifs {} · en attente {} · complétés 24h {} · échecs 24h {} · succès {:.1}% · vitesse moy. {:.1} MB/s · bugs nouveaux {} ({} critiques)",
        s.uploads_in_progress,
        s.uploads_pending,
        s.uploads_completed_today,
        s.uploads_failed_today,
        s.success_rate,
        s.avg_upload_speed,
        s.new_bugs_today,
        s.critical_bugs_today
    ))
}

/// The end-of-run figures.
#[derive(Debug, Default)]
pub struct RunReport {
    /// Seed.
    pub seed: u64,
    /// Phones.
    pub phones: usize,
    /// Wall seconds of the fleet.
    pub seconds: f64,
    /// Lines of the summary.
    pub text: String,
    /// Mismatches between the phones and the server (empty when nothing was lost).
    pub problems: Vec<String>,
    /// Uploads started, completed, failures, retries, kills, offline spells, admin retries.
    pub started: u64,
    /// Completed.
    pub completed: u64,
    /// Failures reported.
    pub failures: u64,
    /// Retries.
    pub retried: u64,
    /// Kills.
    pub kills: u64,
    /// Offline spells.
    pub offline_spells: u64,
    /// Admin retries picked up.
    pub admin_retries: u64,
}

/// Compares every phone's final uploads with `upload_queue`, checks the event log, and
/// writes the summary.
///
/// # Errors
///
/// A query failed.
pub async fn check(
    db: &Client,
    outcomes: &[PhoneOutcome],
    counters: &Counters,
    seed: u64,
    seconds: f64,
) -> Result<RunReport, String> {
    let users: Vec<Uuid> = outcomes.iter().map(|o| o.user).collect();
    let rows = db
        .query(
            "select id, status, progress, retry_count from public.upload_queue where user_id = any($1)",
            &[&users],
        )
        .await
        .map_err(|e| format!("reading upload_queue: {e}"))?;
    let server: HashMap<Uuid, (String, i32, i32)> = rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                (r.get(1), r.get(2), r.get::<_, Option<i32>>(3).unwrap_or(0)),
            )
        })
        .collect();
    let mut problems = Vec::new();
    let mut phone_uploads = 0usize;
    let mut pending = 0u64;
    let (mut dead, mut delivered, mut duplicates, mut requests) = (0u64, 0u64, 0u64, 0u64);
    let mut dropped = 0u64;
    for o in outcomes {
        dead += o.tally.dead_letters;
        delivered += o.tally.delivered;
        duplicates += o.tally.duplicates;
        requests += o.tally.requests;
        if let Some(h) = &o.health {
            pending += h.outbox.pending_events;
            dropped += h.outbox.dropped;
        }
        for u in &o.uploads {
            phone_uploads += 1;
            let r = &u.record;
            match server.get(&r.id) {
                None => problems.push(format!("upload {} missing on the server", r.id)),
                Some((status, progress, retries)) => {
                    if status != r.status.as_str()
                        || *progress != r.progress
                        || *retries != r.retry_count
                    {
                        problems.push(format!(
                            "upload {}: phone {} {}% retries {}, server {status} {progress}% retries {retries}",
                            r.id,
                            r.status.as_str(),
                            r.progress,
                            r.retry_count
                        ));
                    }
                }
            }
        }
    }
    if phone_uploads != server.len() {
        problems.push(format!(
            "phones hold {phone_uploads} uploads, the server {}",
            server.len()
        ));
    }
    if pending > 0 {
        problems.push(format!("{pending} events still in outboxes"));
    }
    if dead > 0 {
        problems.push(format!("{dead} events dead-lettered"));
    }
    // The scenario only makes valid calls: an SDK error (other than the network's, which
    // stores nothing) means a report the phone never stored, which the phone-vs-server
    // comparison below could not see.
    let sdk_errors = counters.sdk_errors.load(Ordering::Relaxed);
    if sdk_errors > 0 {
        problems.push(format!("{sdk_errors} SDK calls failed"));
    }
    let log = db
        .query_one(
            "select count(*), \
                    count(*) filter (where kind in ('begin', 'progress', 'stage', 'complete', 'fail', 'retry')), \
                    (select count(*) from (select upload_id from public.upload_events where user_id = any($1) \
                       group by upload_id having count(*) filter (where kind = 'begin') <> 1 \
                                            or count(*) filter (where kind = 'complete') > 1) bad), \
                    coalesce(percentile_cont(0.5) within group (order by extract(epoch from created_at - device_at)), 0)::float8, \
                    coalesce(percentile_cont(0.95) within group (order by extract(epoch from created_at - device_at)), 0)::float8 \
             from public.upload_events where user_id = any($1)",
            &[&users],
        )
        .await
        .map_err(|e| format!("reading upload_events: {e}"))?;
    let (logged, client_logged, bad, lag50, lag95): (i64, i64, i64, f64, f64) =
        (log.get(0), log.get(1), log.get(2), log.get(3), log.get(4));
    if bad > 0 {
        problems.push(format!(
            "{bad} uploads without exactly one begin or with two completes"
        ));
    }
    let c = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let mut text = String::new();
    let _ = writeln!(
        text,
        "seed {seed} · {} phones · {seconds:.1} s",
        outcomes.len()
    );
    let _ = writeln!(
        text,
        "uploads: started {} · completed {} · failures {} · retried {} (admin {}) · kills {} · offline spells {}",
        c(&counters.started),
        c(&counters.completed),
        c(&counters.failures),
        c(&counters.retried),
        c(&counters.admin_retries),
        c(&counters.kills),
        c(&counters.offline_spells)
    );
    let _ = writeln!(
        text,
        "events: sent {} · applied {} · duplicate {duplicates} · rejected (dead-lettered) {dead} · left in outboxes {pending} · progress dropped by the caps {dropped}",
        delivered + dead,
        delivered - duplicates,
    );
    let _ = writeln!(
        text,
        "server: {logged} events logged (client {client_logged}) · HTTP requests {requests} · SDK call errors {} (network {})",
        c(&counters.sdk_errors),
        c(&counters.network_errors)
    );
    let _ = writeln!(
        text,
        "rate: {:.0} events/s delivered · server lag (device call -> row logged) p50 {:.0} ms, p95 {:.0} ms",
        delivered as f64 / seconds.max(0.001),
        lag50 * 1000.0,
        lag95 * 1000.0
    );
    let _ = writeln!(
        text,
        "check: {} uploads on phones, {} on the server, {}",
        phone_uploads,
        server.len(),
        if problems.is_empty() {
            "nothing lost, nothing duplicated".to_string()
        } else {
            format!("{} problems", problems.len())
        }
    );
    Ok(RunReport {
        seed,
        phones: outcomes.len(),
        seconds,
        text,
        problems,
        started: c(&counters.started),
        completed: c(&counters.completed),
        failures: c(&counters.failures),
        retried: c(&counters.retried),
        kills: c(&counters.kills),
        offline_spells: c(&counters.offline_spells),
        admin_retries: c(&counters.admin_retries),
    })
}
