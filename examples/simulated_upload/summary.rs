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

/// The dashboard's stats row, one line, then the fleet's own count of failed attempts.
///
/// The snapshot counts uploads by their status now: "en échec 24h" are uploads whose status
/// is `failed` (failed in the last 24 h), so a retry takes one out and the figure goes down;
/// "succès" is completed / (completed + en échec) over the same uploads, so an upload that
/// failed twice and then completed counts as a success. Failed attempts are not in the
/// snapshot: "tentatives échouées" is the fleet's own count (every network drop, timeout,
/// kill and Storage error, retried or not).
///
/// # Errors
///
/// The RPC failed.
pub async fn live_line(client: &MonitoringClient, counters: &Counters) -> Result<String, String> {
    let s = client.snapshot().await.map_err(|e| e.to_string())?.stats;
    Ok(format!(
        "actifs {} · en attente {} · complétés 24h {} · en échec 24h {} · succès {:.1}% (complétés / terminés) · vitesse moy. {:.1} MB/s · bugs nouveaux {} ({} critiques) · flotte : {} tentatives échouées, {} relancées",
        s.uploads_in_progress,
        s.uploads_pending,
        s.uploads_completed_today,
        s.uploads_failed_today,
        s.success_rate,
        s.avg_upload_speed,
        s.new_bugs_today,
        s.critical_bugs_today,
        counters.failures.load(Ordering::Relaxed),
        counters.retried.load(Ordering::Relaxed),
    ))
}

/// Checks that every completed upload's objects are in Storage as the phone sent them: the
/// video in `videos` and the thumbnail in `thumbnails`, each a `storage.objects` row owned by
/// the user whose `metadata.size` (what Storage measured while streaming it in) is the bytes
/// sent, and the `videos` row pointing at them. Answers the objects checked and the problems.
///
/// # Errors
///
/// A query failed.
pub async fn check_storage(
    db: &Client,
    outcomes: &[PhoneOutcome],
) -> Result<(u64, Vec<String>), String> {
    let mut wanted: HashMap<(String, String), (u64, Uuid)> = HashMap::new();
    let mut problems = Vec::new();
    let mut videos: HashMap<Uuid, (String, Option<String>)> = HashMap::new();
    for o in outcomes {
        for s in &o.stored {
            wanted.insert(
                (crate::storage::VIDEOS_BUCKET.into(), s.object.clone()),
                (s.bytes, o.user),
            );
            match &s.thumbnail {
                Some((name, size)) => {
                    wanted.insert(
                        (crate::storage::THUMBNAILS_BUCKET.into(), name.clone()),
                        (*size, o.user),
                    );
                }
                None => problems.push(format!("upload {}: no thumbnail uploaded", s.upload)),
            }
            match s.video {
                Some(v) => {
                    videos.insert(
                        v,
                        (
                            s.object.clone(),
                            s.thumbnail.as_ref().map(|(n, _)| n.clone()),
                        ),
                    );
                }
                None => problems.push(format!("upload {}: no videos row", s.upload)),
            }
        }
    }
    let (buckets, names): (Vec<String>, Vec<String>) = wanted.keys().cloned().unzip();
    let rows = db
        .query(
            "select o.bucket_id, o.name, (o.metadata->>'size')::int8, o.owner_id \
             from storage.objects o \
             join unnest($1::text[], $2::text[]) as w(bucket_id, name) \
               on o.bucket_id = w.bucket_id and o.name = w.name",
            &[&buckets, &names],
        )
        .await
        .map_err(|e| format!("reading storage.objects: {e}"))?;
    let mut found: HashMap<(String, String), (Option<i64>, Option<String>)> = rows
        .iter()
        .map(|r| ((r.get(0), r.get(1)), (r.get(2), r.get(3))))
        .collect();
    let mut checked = 0u64;
    for ((bucket, name), (bytes, user)) in &wanted {
        match found.remove(&(bucket.clone(), name.clone())) {
            None => problems.push(format!("{bucket}/{name}: not in storage")),
            Some((size, owner)) => {
                if size != Some(*bytes as i64) {
                    problems.push(format!(
                        "{bucket}/{name}: {} bytes in storage, {bytes} sent",
                        size.map_or("no size".into(), |s| s.to_string())
                    ));
                } else if owner.as_deref() != Some(user.to_string().as_str()) {
                    problems.push(format!("{bucket}/{name}: owner {owner:?}, not {user}"));
                } else {
                    checked += 1;
                }
            }
        }
    }
    let ids: Vec<Uuid> = videos.keys().copied().collect();
    let rows = db
        .query(
            "select id, file_path, thumbnail_path from public.videos where id = any($1)",
            &[&ids],
        )
        .await
        .map_err(|e| format!("reading videos: {e}"))?;
    for r in &rows {
        let id: Uuid = r.get(0);
        let (file_path, thumbnail_path): (String, Option<String>) = (r.get(1), r.get(2));
        if let Some((object, thumbnail)) = videos.remove(&id) {
            if file_path != object || thumbnail_path != thumbnail {
                problems.push(format!(
                    "video {id}: file_path {file_path}, thumbnail_path {thumbnail_path:?}; expected {object}, {thumbnail:?}"
                ));
            }
        }
    }
    for id in videos.keys() {
        problems.push(format!("video {id}: no videos row on the server"));
    }
    Ok((checked, problems))
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
    /// Objects (videos and thumbnails) found in Storage with the size sent.
    pub objects_checked: u64,
    /// Video bytes sent to Storage (scaled down), cut attempts included.
    pub bytes_sent: u64,
    /// Upload requests cut (kills, network drops, timeouts, Ctrl-C).
    pub uploads_cut: u64,
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
    byte_scale: u64,
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
    let (objects_checked, storage_problems) = check_storage(db, outcomes).await?;
    problems.extend(storage_problems);
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
        "storage: {:.1} MB sent (file sizes / {byte_scale}) · {} upload requests cut · {} storage errors · {objects_checked} objects in storage with the size sent ({} videos + thumbnails expected)",
        c(&counters.bytes_sent) as f64 / 1e6,
        c(&counters.uploads_cut),
        c(&counters.storage_errors),
        outcomes.iter().map(|o| o.stored.len() * 2).sum::<usize>(),
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
        objects_checked,
        bytes_sent: c(&counters.bytes_sent),
        uploads_cut: c(&counters.uploads_cut),
    })
}
