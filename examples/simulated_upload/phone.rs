//! One simulated phone: a real `monitor-sdk` engine with its own SQLite outbox and token,
//! running its videos through the spec's pipeline two at a time, with retries, offline
//! spells, app kills (the engine abandoned as in a process death, a new one on the same file recovers) and admin retries.
//!
//! Each upload moves real bytes ([`crate::storage`]): the video's (scaled-down) bytes go to
//! Storage over HTTP at the simulated link's speed, and the progress the SDK gets is the bytes
//! the HTTP client sent, as `VideoUploader` feeds it from `createUploadTask`'s callback. A
//! network drop, the dynamic timeout or a kill cuts the request; a finished one creates the
//! `videos` row (`file_path` = the object) and uploads a generated thumbnail.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use monitor_core::display::{retry_badge, Lang, BYTES_PER_MB};
use monitor_core::event::MAX_RETRIES;
use monitor_core::UploadStage;
use monitor_sdk::clock::SdkClock;
use monitor_sdk::engine::{Engine, EngineConfig, Health, NewUpload};
use monitor_sdk::outbox::UploadRow;
use monitor_sdk::policy::FlushPolicy;
use monitor_sdk::TokenProvider;
use uuid::Uuid;

use crate::demo_data::{AppWrite, AppWriter};
use crate::scenario::{video, PhonePlan, VideoPlan};
use crate::storage::{self, StorageAccess, Transfer};

/// Two uploads at a time, as the app's queue runs them.
const CONCURRENT_UPLOADS: usize = 2;
/// Simulated seconds a phone waits before retrying after a network failure or a kill.
const RETRY_DELAY_S: f64 = 20.0;
/// Real time a phone waits for an admin to ask for a retry of a timed-out upload.
const ADMIN_WAIT: Duration = Duration::from_secs(4);
/// Real time between two polls of `pending_retry_requests`.
const RETRY_POLL: Duration = Duration::from_millis(300);
/// How long a phone waits at the end for its outbox to drain: generous, because with
/// thousands of phones on 2 cores the server runs tens of seconds behind (see the lag figure).
const FINAL_FLUSH: Duration = Duration::from_secs(300);
/// The same wait after Ctrl-C in a live run: nothing checks the outboxes then, and whoever
/// pressed Ctrl-C wants the prompt back (what is left stays in the outbox, as on a phone).
const STOP_FLUSH: Duration = Duration::from_secs(3);

/// The user's access token (minted for 30 days on the dev stack: longer than any run).
#[derive(Debug)]
pub struct StaticToken(pub String);

impl TokenProvider for StaticToken {
    fn access_token(&self) -> Option<String> {
        Some(self.0.clone())
    }

    fn refresh_access_token(&self) -> Option<String> {
        Some(self.0.clone())
    }
}

/// Fleet-wide counters, shared by every phone.
#[derive(Debug, Default)]
pub struct Counters {
    /// Uploads begun.
    pub started: AtomicU64,
    /// Uploads completed.
    pub completed: AtomicU64,
    /// Failures reported (an upload may fail more than once).
    pub failures: AtomicU64,
    /// Retries reported.
    pub retried: AtomicU64,
    /// Retries an admin asked for and the phone picked up.
    pub admin_retries: AtomicU64,
    /// App kills.
    pub kills: AtomicU64,
    /// Offline spells.
    pub offline_spells: AtomicU64,
    /// SDK calls that returned an error other than the network's (should stay 0).
    pub sdk_errors: AtomicU64,
    /// Network calls (`pending_retry_requests`, flushes) that failed on the network, offline
    /// or in time: expected under load or offline; they store nothing, so lose nothing.
    pub network_errors: AtomicU64,
    /// Bytes the phones' uploads sent to Storage (scaled down), cut attempts included.
    pub bytes_sent: AtomicU64,
    /// Upload requests cut by a kill, a network drop or the timeout.
    pub uploads_cut: AtomicU64,
    /// Upload requests Storage (or the network under it) answered with an error.
    pub storage_errors: AtomicU64,
    /// Thumbnails that could not be uploaded (should stay 0 on the dev stack).
    pub thumbnail_errors: AtomicU64,
}

/// Everything a phone needs.
#[derive(Debug, Clone)]
pub struct PhoneContext {
    /// `SUPABASE_URL`.
    pub api_url: String,
    /// Anon key.
    pub anon_key: String,
    /// The user's id.
    pub user: Uuid,
    /// The user's token.
    pub token: String,
    /// The outbox file.
    pub database: PathBuf,
    /// Simulated seconds per real second.
    pub speedup: f64,
    /// Real time between steps.
    pub tick: Duration,
    /// Stop at the end of the plan (else film more).
    pub once: bool,
    /// Seed of the videos filmed after the plan.
    pub seed: u64,
    /// Set on Ctrl-C.
    pub stop: Arc<AtomicBool>,
    /// App rows.
    pub writer: AppWriter,
    /// Counters.
    pub counters: Arc<Counters>,
    /// A runtime to await the SDK's async calls from this thread.
    pub runtime: tokio::runtime::Handle,
    /// Bars for this phone's uploads, when shown.
    pub bars: Option<indicatif::MultiProgress>,
    /// Storage with this user's credentials.
    pub storage: StorageAccess,
    /// Real file size / bytes sent ([`storage::DEFAULT_BYTE_SCALE`]).
    pub byte_scale: u64,
}

/// A completed upload's objects, for the final check.
#[derive(Debug, Clone)]
pub struct StoredUpload {
    /// The upload.
    pub upload: Uuid,
    /// Its `videos` row, when it was created.
    pub video: Option<Uuid>,
    /// Object name in the `videos` bucket.
    pub object: String,
    /// Bytes sent for it.
    pub bytes: u64,
    /// Object name and size in the `thumbnails` bucket, when it was uploaded.
    pub thumbnail: Option<(String, u64)>,
}

/// What a phone ended with.
#[derive(Debug)]
pub struct PhoneOutcome {
    /// The user.
    pub user: Uuid,
    /// The final reporter's uploads.
    pub uploads: Vec<UploadRow>,
    /// The final reporter's figures.
    pub health: Option<Health>,
    /// Delivery figures of every reporter this phone opened.
    pub tally: Tally,
    /// Its completed uploads' objects.
    pub stored: Vec<StoredUpload>,
}

/// Delivery figures summed over every reporter a phone opened. After a kill the next reporter
/// opens the same outbox, whose durable counters carry on from the file: `reopened` subtracts
/// what it starts with, so nothing is counted twice. Requests are counted in memory, per
/// reporter.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    /// Events the server acknowledged (applied, duplicate or superseded).
    pub delivered: u64,
    /// Of those, the ones it already had.
    pub duplicates: u64,
    /// Events the server refused, kept in the dead-letter table.
    pub dead_letters: u64,
    /// HTTP requests sent.
    pub requests: u64,
}

impl Tally {
    /// Adds the figures of a reporter that is about to go away.
    fn closing(&mut self, engine: &Engine) {
        if let Ok(h) = engine.health() {
            self.delivered += h.outbox.delivered;
            self.duplicates += h.outbox.already_there;
            self.dead_letters += h.outbox.dead_lettered;
            self.requests += h.requests_sent;
        }
    }

    /// Subtracts the durable counters a reporter on the same outbox starts with.
    fn reopened(&mut self, engine: &Engine) {
        if let Ok(h) = engine.health() {
            self.delivered = self.delivered.saturating_sub(h.outbox.delivered);
            self.duplicates = self.duplicates.saturating_sub(h.outbox.already_there);
            self.dead_letters = self.dead_letters.saturating_sub(h.outbox.dead_lettered);
        }
    }
}

#[derive(Debug)]
enum Phase {
    Uploading,
    /// Failed; retry at this simulated time.
    RetryAt(f64),
    /// Timed out; waiting for an admin until this real instant.
    AwaitingAdmin(Instant),
    /// Finished (completed or given up).
    Done,
}

/// A progress bar that leaves the screen however its upload ends (done, given up, a phone
/// that stops on Ctrl-C or returns early on an error): indicatif leaves a dropped bar drawn.
#[derive(Debug)]
struct Bar(ProgressBar);

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

#[derive(Debug)]
struct Active {
    plan: VideoPlan,
    id: Uuid,
    /// Object name in the `videos` bucket.
    object: String,
    /// Bytes of the real file sent so far (the bytes sent, scaled back up).
    sent: f64,
    speed: f64,
    elapsed: f64,
    retries: u32,
    phase: Phase,
    /// The attempt's HTTP upload, while it runs.
    transfer: Option<Transfer>,
    bar: Option<Bar>,
}

impl Active {
    /// Where the link stops this attempt's bytes: at the planned network drop or kill still
    /// ahead, so it happens at its fraction whatever the step size.
    fn cap(&self, total: u64) -> u64 {
        [self.plan.network_failure_at, self.plan.kill_at]
            .into_iter()
            .flatten()
            .map(|at| (at * total as f64).ceil() as u64)
            .min()
            .unwrap_or(total)
            .min(total)
    }

    /// Cuts the running HTTP upload, if any.
    fn cut(&mut self, counters: &Counters) {
        if let Some(mut transfer) = self.transfer.take() {
            counters
                .bytes_sent
                .fetch_add(transfer.sent(), Ordering::Relaxed);
            transfer.abort();
            counters.uploads_cut.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Opens a reporter on the phone's outbox. `clock` is simulated time: the SDK's speed
/// estimate and progress pace then follow the simulated link, not the compressed real time.
fn open(ctx: &PhoneContext, clock: &SdkClock) -> Result<Engine, String> {
    Engine::open_with_clock(
        EngineConfig {
            supabase_url: ctx.api_url.clone(),
            anon_key: ctx.anon_key.clone(),
            database_path: ctx.database.clone(),
            policy: FlushPolicy::default(),
        },
        Arc::new(StaticToken(ctx.token.clone())),
        None,
        clock.clone(),
    )
    .map_err(|e| format!("opening the reporter: {e} ({e:?})"))
}

fn sdk<T>(ctx: &PhoneContext, what: &str, result: Result<T, monitor_sdk::SdkError>) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            let counter = match e {
                monitor_sdk::SdkError::Network(_)
                | monitor_sdk::SdkError::Offline
                | monitor_sdk::SdkError::Timeout(_) => &ctx.counters.network_errors,
                _ => &ctx.counters.sdk_errors,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(user = %ctx.user, error = %e, "{what} failed");
            None
        }
    }
}

fn bar_message(a: &Active, phone: usize, status: &str) -> String {
    let badge = retry_badge(a.retries as i32, Lang::Fr).unwrap_or_default();
    format!(
        "phone {phone:>4} {:<28} {:>5.1} MB/s {status:<16} {badge}",
        a.plan.title, a.speed
    )
}

/// Runs one phone to the end of its plan (or until `stop`). Blocking: run it on its own
/// thread.
///
/// # Errors
///
/// The outbox could not be opened.
pub fn run(ctx: PhoneContext, plan: PhonePlan) -> Result<PhoneOutcome, String> {
    let clock = SdkClock::manual();
    let mut engine = open(&ctx, &clock)?;
    let mut queue: std::collections::VecDeque<VideoPlan> = plan.videos.into();
    let mut active: Vec<Active> = Vec::new();
    let mut rng = fastrand::Rng::with_seed(ctx.seed ^ ((plan.index as u64) << 32));
    let mut filmed = queue.len();
    let dt = ctx.tick.as_secs_f64() * ctx.speedup;
    let mut now = 0.0_f64;
    let mut offline = false;
    let mut last_poll = Instant::now();
    let mut tally = Tally::default();
    let mut stored = Vec::new();
    let show_bars = ctx.bars.is_some() && plan.index < 12;

    while !ctx.stop.load(Ordering::Relaxed) {
        // Offline spell.
        if let Some((start, len)) = plan.offline {
            let inside = now >= start && now < start + len;
            if inside != offline {
                offline = inside;
                engine.set_online(!offline);
                if offline {
                    ctx.counters.offline_spells.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        // Start uploads while fewer than two run.
        while active
            .iter()
            .filter(|a| !matches!(a.phase, Phase::Done))
            .count()
            < CONCURRENT_UPLOADS
        {
            let Some(video) = queue.pop_front() else {
                break;
            };
            let Some(id) = sdk(
                &ctx,
                "begin_upload",
                engine.begin_upload(NewUpload {
                    local_id: video.local_id.clone(),
                    title: Some(video.title.clone()),
                    filename: format!("{}.mp4", video.local_id),
                    file_size: Some(video.size),
                    source: None,
                    metadata_json: Some(format!(
                        r#"{{"isRecorded":{},"isImported":{}}}"#,
                        video.recorded, !video.recorded
                    )),
                    uri: Some(format!("file:///DCIM/{}.mp4", video.local_id)),
                }),
            ) else {
                continue;
            };
            ctx.counters.started.fetch_add(1, Ordering::Relaxed);
            for stage in [
                UploadStage::Validating,
                UploadStage::ExtractingMetadata,
                UploadStage::Uploading,
            ] {
                sdk(&ctx, "report_stage", engine.report_stage(id, stage));
            }
            let bar = show_bars.then(|| {
                let bar = ProgressBar::new(100);
                if let Ok(style) =
                    indicatif::ProgressStyle::with_template("{bar:30} {pos:>3}% {msg}")
                {
                    bar.set_style(style);
                }
                Bar(ctx
                    .bars
                    .as_ref()
                    .map(|m| m.add(bar))
                    .unwrap_or_else(ProgressBar::hidden))
            });
            active.push(Active {
                speed: video.speed_mb_s,
                object: storage::object_name(ctx.user, &format!("{}.mp4", video.local_id)),
                plan: video,
                id,
                sent: 0.0,
                elapsed: 0.0,
                retries: 0,
                phase: Phase::Uploading,
                transfer: None,
                bar,
            });
        }
        // A finished upload's bar leaves the screen with it (`Bar`'s drop).
        active.retain(|a| !matches!(a.phase, Phase::Done));
        if active.is_empty() && queue.is_empty() {
            if ctx.once {
                break;
            }
            queue.push_back(video(&mut rng, plan.index, filmed));
            filmed += 1;
        }

        // Admin retry requests, polled while some upload waits for one.
        let mut requested: Vec<Uuid> = Vec::new();
        if !offline
            && active
                .iter()
                .any(|a| matches!(a.phase, Phase::AwaitingAdmin(_)))
            && last_poll.elapsed() >= RETRY_POLL
        {
            last_poll = Instant::now();
            if let Some(requests) = sdk(
                &ctx,
                "pending_retry_requests",
                ctx.runtime.block_on(engine.pending_retry_requests()),
            ) {
                requested = requests.into_iter().map(|r| r.upload_id).collect();
            }
        }

        let mut kill = false;
        for a in active.iter_mut() {
            match a.phase {
                Phase::Uploading => {
                    a.elapsed += dt;
                    let size = a.plan.size as f64;
                    let before = a.sent / size;
                    // The attempt's request starts with it; nothing moves until the link
                    // lets bytes through.
                    let total = storage::scaled(a.plan.size, ctx.byte_scale);
                    let mut transfer = match a.transfer.take() {
                        Some(t) => t,
                        None => Transfer::start(
                            &ctx.runtime,
                            &ctx.storage,
                            &a.object,
                            "video/mp4",
                            total,
                        ),
                    };
                    // Offline, no byte moves; the attempt's clock (and its timeout) still runs.
                    if !offline {
                        let link = a.speed * BYTES_PER_MB * dt / ctx.byte_scale as f64;
                        transfer.allow(link, a.cap(total));
                    }
                    // What the HTTP client sent, scaled back to the file's bytes: the
                    // progress `createUploadTask` reports.
                    let fraction = transfer.sent() as f64 / transfer.total() as f64;
                    a.sent = fraction * size;
                    a.transfer = Some(transfer);
                    let crossed =
                        |at: Option<f64>| at.is_some_and(|at| before < at && fraction >= at);
                    let timeout = monitor_core::timeout::upload_timeout(Some(a.plan.size as i64));
                    let answer = if crossed(a.plan.network_failure_at) || crossed(a.plan.kill_at) {
                        None
                    } else {
                        a.transfer.as_mut().and_then(Transfer::finished)
                    };
                    if crossed(a.plan.network_failure_at) {
                        a.plan.network_failure_at = None;
                        a.cut(&ctx.counters);
                        ctx.counters.failures.fetch_add(1, Ordering::Relaxed);
                        sdk(
                            &ctx,
                            "fail",
                            engine.fail(a.id, "network_error", "Network request failed", a.retries),
                        );
                        ctx.writer.send(AppWrite::Bug {
                            user: ctx.user,
                            error_type: "network",
                            severity: "high",
                            message: "Network request failed".into(),
                        });
                        a.phase = if a.retries < MAX_RETRIES as u32 {
                            Phase::RetryAt(now + RETRY_DELAY_S)
                        } else {
                            Phase::Done
                        };
                    } else if crossed(a.plan.kill_at) {
                        // The kill below cuts every upload of the app.
                        a.plan.kill_at = None;
                        kill = true;
                        sdk(
                            &ctx,
                            "report_progress",
                            engine.report_progress(a.id, a.sent as u64, a.plan.size),
                        );
                    } else if let Some(Err(message)) = answer {
                        // Storage refused the object or the connection broke under it.
                        if let Some(t) = a.transfer.take() {
                            ctx.counters
                                .bytes_sent
                                .fetch_add(t.sent(), Ordering::Relaxed);
                        }
                        ctx.counters.failures.fetch_add(1, Ordering::Relaxed);
                        ctx.counters.storage_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(user = %ctx.user, object = %a.object, error = %message, "upload");
                        sdk(
                            &ctx,
                            "fail",
                            engine.fail(a.id, "storage_error", &message, a.retries),
                        );
                        ctx.writer.send(AppWrite::Bug {
                            user: ctx.user,
                            error_type: "api",
                            severity: "high",
                            message: "Supabase storage upload failed".into(),
                        });
                        a.phase = if a.retries < MAX_RETRIES as u32 {
                            Phase::RetryAt(now + RETRY_DELAY_S)
                        } else {
                            Phase::Done
                        };
                    } else if let Some(Ok(())) = answer {
                        // Storage holds the object: the app's STEP 4-6.
                        let bytes = a.transfer.take().map_or(total, |t| t.sent());
                        ctx.counters.bytes_sent.fetch_add(bytes, Ordering::Relaxed);
                        stored.push(finish(&ctx, &engine, a, bytes));
                        a.phase = Phase::Done;
                    } else if a.elapsed > timeout.num_seconds() as f64 {
                        a.cut(&ctx.counters);
                        ctx.counters.failures.fetch_add(1, Ordering::Relaxed);
                        sdk(
                            &ctx,
                            "fail",
                            engine.fail(
                                a.id,
                                "timeout",
                                &format!("Upload timeout after {} minutes", timeout.num_minutes()),
                                a.retries,
                            ),
                        );
                        ctx.writer.send(AppWrite::Bug {
                            user: ctx.user,
                            error_type: "api",
                            severity: "medium",
                            message: "Upload timeout".into(),
                        });
                        a.phase = if a.retries < MAX_RETRIES as u32 {
                            Phase::AwaitingAdmin(Instant::now() + ADMIN_WAIT)
                        } else {
                            Phase::Done
                        };
                    } else {
                        sdk(
                            &ctx,
                            "report_progress",
                            engine.report_progress(a.id, a.sent as u64, a.plan.size),
                        );
                    }
                }
                Phase::RetryAt(at) if now >= at => retry(&ctx, &engine, a, false),
                Phase::AwaitingAdmin(_) if requested.contains(&a.id) => {
                    retry(&ctx, &engine, a, true)
                }
                Phase::AwaitingAdmin(deadline) if Instant::now() >= deadline => {
                    a.phase = Phase::Done
                }
                _ => {}
            }
            if let Some(Bar(bar)) = &a.bar {
                let status = match a.phase {
                    Phase::Uploading if offline => "hors ligne",
                    Phase::Uploading => "Upload en cours",
                    Phase::RetryAt(_) | Phase::AwaitingAdmin(_) => "Échec",
                    Phase::Done => "Complété",
                };
                bar.set_position((a.sent * 100.0 / a.plan.size as f64) as u64);
                bar.set_message(bar_message(a, plan.index, status));
            }
        }

        if kill {
            // The app is killed: the reporter goes away without shutdown(), as in a process
            // death (held-back progress is lost, an in-flight batch is cut); the next launch
            // opens the same outbox and reports what was left running.
            ctx.counters.kills.fetch_add(1, Ordering::Relaxed);
            // The process dies with its uploads: every request in flight is cut.
            for a in active.iter_mut() {
                a.cut(&ctx.counters);
            }
            tally.closing(&engine);
            engine.abandon();
            engine = open(&ctx, &clock)?;
            if offline {
                engine.set_online(false);
            }
            tally.reopened(&engine);
            let recovered = sdk(
                &ctx,
                "recover_after_restart",
                engine.recover_after_restart(),
            )
            .unwrap_or_default();
            for a in active.iter_mut().filter(|a| recovered.contains(&a.id)) {
                ctx.counters.failures.fetch_add(1, Ordering::Relaxed);
                a.phase = if a.retries < MAX_RETRIES as u32 {
                    Phase::RetryAt(now + RETRY_DELAY_S)
                } else {
                    Phase::Done
                };
            }
        }

        std::thread::sleep(ctx.tick);
        now += dt;
        clock.advance(Duration::from_secs_f64(dt));
    }

    // Stopped (Ctrl-C) or done: cut what still runs, clear its bars.
    for a in active.iter_mut() {
        a.cut(&ctx.counters);
    }
    drop(active);
    if offline {
        engine.set_online(true);
    }
    let final_flush = if ctx.once { FINAL_FLUSH } else { STOP_FLUSH };
    if let Err(e) = engine.flush_blocking(final_flush) {
        tracing::warn!(user = %ctx.user, error = %e, "final flush");
    }
    let uploads = engine
        .list_uploads()
        .map_err(|e| format!("list_uploads: {e}"))?;
    let health = engine.health().ok();
    tally.closing(&engine);
    if let Err(e) = engine.shutdown() {
        tracing::warn!(user = %ctx.user, error = %e, "shutdown");
    }
    Ok(PhoneOutcome {
        user: ctx.user,
        uploads,
        health,
        tally,
        stored,
    })
}

/// A finished upload's last steps, as the app's `processItem` runs them: the `videos` row
/// (`file_path` = the object), the thumbnail (generated, uploaded to `thumbnails`, its path
/// set on the row), the transcription job, then `complete`.
fn finish(ctx: &PhoneContext, engine: &Engine, a: &Active, bytes: u64) -> StoredUpload {
    sdk(
        ctx,
        "report_progress",
        engine.report_progress(a.id, a.plan.size, a.plan.size),
    );
    sdk(
        ctx,
        "report_stage",
        engine.report_stage(a.id, UploadStage::CreatingRecord),
    );
    let video =
        ctx.writer
            .create_video_blocking(ctx.user, &a.plan.title, a.plan.recorded, &a.object);
    sdk(
        ctx,
        "report_stage",
        engine.report_stage(a.id, UploadStage::GeneratingThumbnails),
    );
    let thumbnail_name = storage::object_name(ctx.user, &format!("{}.png", a.plan.local_id));
    let png = storage::thumbnail_png(a.id.as_u128() as u64);
    let png_len = png.len() as u64;
    let thumbnail = match storage::put_small(
        &ctx.runtime,
        &ctx.storage,
        storage::THUMBNAILS_BUCKET,
        &thumbnail_name,
        "image/png",
        png,
    ) {
        Ok(()) => {
            if let Some(video) = video {
                ctx.writer.set_thumbnail_blocking(video, &thumbnail_name);
            }
            Some((thumbnail_name, png_len))
        }
        Err(e) => {
            ctx.counters
                .thumbnail_errors
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(user = %ctx.user, error = %e, "thumbnail upload");
            None
        }
    };
    sdk(
        ctx,
        "report_stage",
        engine.report_stage(a.id, UploadStage::QueuingTranscription),
    );
    if a.plan.transcription_fails {
        if let Some(video) = video {
            ctx.writer.send(AppWrite::FailedTranscription { video });
        }
    }
    if sdk(ctx, "complete", engine.complete(a.id, video)).is_some() {
        ctx.counters.completed.fetch_add(1, Ordering::Relaxed);
    }
    StoredUpload {
        upload: a.id,
        video,
        object: a.object.clone(),
        bytes,
        thumbnail,
    }
}

/// Reports a new attempt; an admin's request or a better network makes it faster.
fn retry(ctx: &PhoneContext, engine: &Engine, a: &mut Active, by_admin: bool) {
    if sdk(ctx, "retry", engine.retry(a.id)).is_none() {
        a.phase = Phase::Done;
        return;
    }
    ctx.counters.retried.fetch_add(1, Ordering::Relaxed);
    if by_admin {
        ctx.counters.admin_retries.fetch_add(1, Ordering::Relaxed);
        // The user moved to Wi-Fi before the admin's retry.
        a.speed = a.speed.max(2.0);
    }
    a.retries += 1;
    a.sent = 0.0;
    a.cut(&ctx.counters);
    a.elapsed = 0.0;
    a.phase = Phase::Uploading;
    for stage in [
        UploadStage::Validating,
        UploadStage::ExtractingMetadata,
        UploadStage::Uploading,
    ] {
        sdk(ctx, "report_stage", engine.report_stage(a.id, stage));
    }
}
