//! Differential tests: on seeded generated datasets full of edge cases (ties, nulls, window
//! borders to the microsecond, unicode, unknown enum values, Phase 1 videos) the monitoring
//! SQL functions answer exactly what monitor-core's Rust aggregation (`aggregate`, `derive`,
//! `monitoring`) computes from the same rows.
//!
//! The SQL building blocks take the instant as a parameter (`private.monitoring_*(at, ..)`;
//! the public RPCs pass `now()`), so rows can sit exactly on a window's border. One private
//! dev stack for this binary: each dataset replaces the tables' contents. Set
//! `MONITORING_DIFF_SEED` to replay one seed; `MONITORING_DIFF_CASES` for more datasets.

use chrono::{DateTime, Duration, Utc};
use monitor_core::aggregate::{
    failed_transcriptions, failed_uploads, monitoring_stats, network_errors, recent_bugs,
    top_errors, upload_error_videos, upload_list, RECENT_BUGS_LIMIT,
};
use monitor_core::bounds::{cut, MAX_TITLE_CHARS};
use monitor_core::derive::{derive_item, flag_linked_card};
use monitor_core::monitoring::{ErrorSummary, MonitoringStats, UploadMonitorItem};
use monitor_core::rows::{BugReport, Profile, TranscriptionJob, VideoRow};
use monitor_core::{UploadRecord, UploadStatus};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use upload_monitor::devstack::DevStack;
use uuid::Uuid;

/// The instant every dataset is evaluated at: 2026-11-24 10:00:30.123456 UTC, inside a minute,
/// so the 24 h window starts mid-minute and the per-minute counts need their exact edge.
fn now() -> DateTime<Utc> {
    "2026-11-24T10:00:30.123456Z"
        .parse()
        .expect("a fixed instant")
}

/// Offsets from now that sit on or next to every window border (30 min, 5 min, 24 h, 7 days),
/// a few ordinary ones, and one in the future (a skewed clock). Microseconds matter: the
/// windows are inclusive, "stale" is strict.
fn interesting_offsets() -> Vec<Duration> {
    let us = Duration::microseconds;
    let m = Duration::minutes;
    let h = Duration::hours;
    let d = Duration::days;
    vec![
        Duration::zero(),
        us(1),
        m(1),
        m(5) - us(1),
        m(5),
        m(5) + us(1),
        m(30) - us(1),
        m(30),
        m(30) + us(1),
        h(3),
        h(24) - us(1),
        h(24),
        h(24) + us(1),
        d(3),
        d(7) - us(1),
        d(7),
        d(7) + us(1),
        d(8),
        -m(2),
    ]
}

/// Messages with ties, case variants of "upload", accents, emoji, and near-misses.
const MESSAGES: [&str; 9] = [
    "Network request failed",
    "Upload timed out",
    "UPLOAD interrompu: réseau perdu",
    "Échec de l'envoi 📹",
    "network request failed",
    "Téléversement impossible",
    "up-load failed",
    "uploadé à 40 %",
    "Z",
];

struct Gen(fastrand::Rng);

impl Gen {
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.0.usize(..items.len())]
    }
    fn chance(&mut self, percent: u8) -> bool {
        self.0.u8(..100) < percent
    }
    fn at(&mut self, offsets: &[Duration]) -> DateTime<Utc> {
        now() - *self.pick(offsets)
    }
    /// Usually a time near a window's border; 1 time in 20 one the monitoring reads as null
    /// (infinite, BC, or outside 2000-2100: monitor-core's bounds), in the app's tables only.
    fn app_time(&mut self, offsets: &[Duration]) -> Value {
        if self.chance(5) {
            json!(self.pick(&[
                "infinity",
                "-infinity",
                "2150-01-01T00:00:00Z",
                "1999-12-31T23:59:59.999999Z",
                "0044-03-15T00:00:00+00:00 BC",
            ]))
        } else {
            json!(self.at(offsets))
        }
    }
    fn uuid(&mut self) -> Uuid {
        // Few distinct high bytes so ties on time are broken by id in both orders.
        Uuid::from_u128(self.0.u128(..))
    }
}

/// One generated dataset: the rows as JSON (inserted with jsonb_populate_recordset) and as
/// monitor-core values (the oracle's input).
struct Dataset {
    profiles: Vec<Value>,
    videos: Vec<Value>,
    jobs: Vec<Value>,
    uploads: Vec<Value>,
    bugs: Vec<Value>,
}

fn generate(seed: u64) -> Dataset {
    let mut g = Gen(fastrand::Rng::with_seed(seed));
    let offsets = interesting_offsets();
    let size = 20 + g.0.usize(..120);

    // Users: some without names or email, unicode names; some will only have videos (Phase 1).
    let users: Vec<Uuid> = (0..6 + g.0.usize(..10)).map(|_| g.uuid()).collect();
    let profiles: Vec<Value> = users
        .iter()
        .enumerate()
        .map(|(n, id)| {
            json!({
                "id": id,
                "email": if n % 5 == 4 { Value::Null } else { json!(format!("user{n}@exämple.test")) },
                "first_name": *g.pick(&[json!("Zoé"), json!("Jean"), Value::Null, json!("李")]),
                "last_name": *g.pick(&[json!("Ünal"), json!("Dupont"), Value::Null]),
                "language": "fr",
                "created_at": now() - Duration::days(30),
                "updated_at": now() - Duration::days(30),
            })
        })
        .collect();
    let reporting: Vec<Uuid> = users[..users.len() / 2 + 1].to_vec();

    let file_paths = [
        json!("https://x.supabase.co/storage/v1/object/public/videos/u/a.mov?token=1"),
        json!("videos/b.mp4#t=3"),
        json!(""),
        json!("   "),
        json!("\t"),
        json!("https://x/videos/dir/"),
    ];
    let metadatas = [
        json!({"isRecorded": true}),
        json!({"isImported": true, "duration": 12}),
        json!({"uploadFailed": true, "uploadError": "Réseau perdu ⚠️"}),
        json!({"uploadFailed": "true"}),
        json!({"uploadFailed": "TRUE"}),
        json!({"uploadFailed": true, "uploadError": 42}),
        json!({}),
        Value::Null,
    ];
    let videos: Vec<Value> = (0..size / 2)
        .map(|_| {
            json!({
                "id": g.uuid(),
                "user_id": if g.chance(10) { Value::Null } else { json!(g.pick(&users)) },
                "title": if g.chance(5) { json!("🎬".repeat(600)) }
                         else { g.pick(&[json!("Été 🎬"), Value::Null, json!("Démo")]).clone() },
                "file_path": g.pick(&file_paths).clone(),
                "duration": *g.pick(&[json!(30), Value::Null]),
                "metadata": g.pick(&metadatas).clone(),
                "created_at": g.app_time(&offsets),
                "updated_at": g.app_time(&offsets),
            })
        })
        .collect();
    let video_ids: Vec<Uuid> = videos
        .iter()
        .map(|v| serde_json::from_value(v["id"].clone()).expect("an id"))
        .collect();

    let jobs: Vec<Value> = (0..size / 3)
        .map(|_| {
            let created = g.app_time(&offsets);
            json!({
                "id": g.uuid(),
                "video_id": if video_ids.is_empty() || g.chance(10) { Value::Null }
                            else { json!(g.pick(&video_ids)) },
                "status": *g.pick(&["failed", "failed", "completed", "processing", "queued"]),
                "error_message": *g.pick(&[json!("AssemblyAI: audio vide"), Value::Null]),
                "created_at": if g.chance(5) { Value::Null } else { created.clone() },
                "updated_at": created,
            })
        })
        .collect();

    let speeds = [
        json!(1.05),
        json!(1.0),
        json!(2.25),
        json!(0.15),
        json!(12.5),
        Value::Null,
    ];
    let mut local = 0;
    let uploads: Vec<Value> = (0..size)
        .map(|_| {
            local += 1;
            let status = *g.pick(&["pending", "uploading", "completed", "completed", "failed"]);
            let updated = g.at(&offsets);
            let started = updated - *g.pick(&[Duration::zero(), Duration::minutes(3)]);
            // Some finished rows written the spec's old way, without completed_at.
            let completed = match status {
                "completed" | "failed" if !g.chance(20) => json!(updated),
                _ => Value::Null,
            };
            json!({
                "id": g.uuid(),
                "user_id": g.pick(&reporting),
                "local_id": if g.chance(10) { Value::Null } else { json!(format!("import_{local}")) },
                "video_title": *g.pick(&[json!("Vacances à Kyoto 🎌"), Value::Null]),
                "filename": format!("IMG_{local:04}.MOV"),
                "file_size": *g.pick(&[json!(1_048_576), Value::Null]),
                "status": status,
                "stage": *g.pick(&["validating", "uploading", "creating_record"]),
                "progress": *g.pick(&[0, 40, 100]),
                "bytes_sent": 0,
                "upload_speed": g.pick(&speeds).clone(),
                "retry_count": g.0.i32(0..=3),
                "error_code": if status == "failed" { json!("network") } else { Value::Null },
                "error_message": if status == "failed" { json!(g.pick(&MESSAGES)) } else { Value::Null },
                "source": *g.pick(&[json!("recorded"), json!("imported"), Value::Null]),
                "duration": Value::Null,
                "metadata": *g.pick(&[json!({}), json!({"chapterId": "ch-1"})]),
                "device_info": Value::Null,
                "video_id": if video_ids.is_empty() || !g.chance(30) { Value::Null }
                            else { json!(g.pick(&video_ids)) },
                "last_seq": 3,
                "started_at": started,
                "completed_at": completed,
                "updated_at": updated,
                "client_updated_at": Value::Null,
                "retry_requested_at": Value::Null,
            })
        })
        .collect();

    let bugs: Vec<Value> = (0..size)
        .map(|_| {
            json!({
                "id": g.uuid(),
                "user_id": if g.chance(15) { Value::Null } else { json!(g.pick(&users)) },
                "user_email": Value::Null,
                "error_type": *g.pick(&[json!("network"), json!("crash"), json!("ui"),
                                        json!("storage"), Value::Null]),
                // 1 in 20 longer than the 4,000 characters shown, in two variants that only
                // differ past the cut (grouped apart, shown alike).
                "error_message": if g.chance(5) {
                    json!(format!("{} upload {}", "é".repeat(4_000), g.pick(&["A", "B"])))
                } else {
                    json!(g.pick(&MESSAGES))
                },
                "severity": *g.pick(&[json!("critical"), json!("high"), json!("medium"),
                                      json!("low"), json!("blocker"), Value::Null]),
                "status": *g.pick(&["new", "resolved", "wontfix"]),
                "created_at": if g.chance(5) { Value::Null } else { g.app_time(&offsets) },
            })
        })
        .collect();

    Dataset {
        profiles,
        videos,
        jobs,
        uploads,
        bugs,
    }
}

fn parse<T: serde::de::DeserializeOwned>(rows: &[Value]) -> Vec<T> {
    rows.iter()
        .map(|r| serde_json::from_value(r.clone()).unwrap_or_else(|e| panic!("{e}: {r}")))
        .collect()
}

async fn load(client: &tokio_postgres::Client, data: &Dataset) {
    client
        .batch_execute(
            "truncate public.upload_events, public.upload_queue, public.transcription_jobs,
                      public.bug_reports, public.videos, public.profiles cascade;
             delete from auth.users;",
        )
        .await
        .expect("empty tables");
    let ids: Vec<Value> = data
        .profiles
        .iter()
        .map(|p| json!({"id": p["id"]}))
        .collect();
    for (sql, rows) in [
        (
            "insert into auth.users (id) select id from jsonb_populate_recordset(null::auth.users, $1)",
            &ids,
        ),
        (
            "insert into public.profiles select * from jsonb_populate_recordset(null::public.profiles, $1)",
            &data.profiles,
        ),
        (
            "insert into public.videos select * from jsonb_populate_recordset(null::public.videos, $1)",
            &data.videos,
        ),
        (
            "insert into public.transcription_jobs select * from jsonb_populate_recordset(null::public.transcription_jobs, $1)",
            &data.jobs,
        ),
        (
            "insert into public.upload_queue select * from jsonb_populate_recordset(null::public.upload_queue, $1)",
            &data.uploads,
        ),
        (
            "insert into public.bug_reports select * from jsonb_populate_recordset(null::public.bug_reports, $1)",
            &data.bugs,
        ),
    ] {
        client
            .execute(sql, &[&Value::Array(rows.clone())])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }
}

async fn sql(client: &tokio_postgres::Client, query: &str) -> Value {
    let at = now();
    client
        .query_one(query, &[&at])
        .await
        .unwrap_or_else(|e| panic!("{query}: {e:?}"))
        .get(0)
}

/// The oracle's view of the rows: monitor-core values, indexed as the SQL joins them.
struct Oracle {
    uploads: Vec<UploadRecord>,
    bugs: Vec<BugReport>,
    jobs: Vec<TranscriptionJob>,
    videos: Vec<VideoRow>,
    profiles: HashMap<Uuid, Profile>,
}

impl Oracle {
    fn new(data: &Dataset) -> Self {
        Oracle {
            uploads: parse(&data.uploads),
            bugs: parse(&data.bugs),
            jobs: parse(&data.jobs),
            videos: parse(&data.videos),
            profiles: parse::<Profile>(&data.profiles)
                .into_iter()
                .map(|p| (p.id, p))
                .collect(),
        }
    }

    /// The newest job of a video (created_at desc, nulls last, then id desc): the SQL's
    /// documented choice.
    fn latest_job(&self, video: Uuid) -> Option<&TranscriptionJob> {
        self.jobs
            .iter()
            .filter(|j| j.video_id == Some(video))
            .max_by(|a, b| {
                // None sorts last in "desc nulls last": it is the smallest here.
                a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id))
            })
    }

    fn reported_item(&self, row: &UploadRecord) -> UploadMonitorItem {
        let mut item = UploadMonitorItem::from_record(row, self.profiles.get(&row.user_id), now());
        item.transcription_status = row
            .video_id
            .and_then(|v| self.latest_job(v))
            .map(|j| j.status);
        if let Some(video) = row
            .video_id
            .and_then(|v| self.videos.iter().find(|video| video.id == v))
        {
            flag_linked_card(&mut item, video);
        }
        item
    }

    fn derived_item(&self, video: &VideoRow) -> UploadMonitorItem {
        let profile = video.user_id.and_then(|u| self.profiles.get(&u));
        derive_item(video, profile, self.latest_job(video.id), now())
    }

    /// Videos of users with no upload_queue row (or of no user), created in 24 h.
    fn phase1_items(&self) -> Vec<UploadMonitorItem> {
        let reporting: HashSet<Uuid> = self.uploads.iter().map(|u| u.user_id).collect();
        self.videos
            .iter()
            .filter(|v| !v.user_id.is_some_and(|u| reporting.contains(&u)))
            .filter(|v| {
                v.created_at
                    .is_some_and(|at| at >= now() - Duration::hours(24))
            })
            .map(|v| self.derived_item(v))
            .collect()
    }
}

fn status_rank(status: UploadStatus) -> usize {
    UploadStatus::DISPLAY_ORDER
        .iter()
        .position(|s| *s == status)
        .unwrap_or(4)
}

fn check_dataset(seed: u64, data: &Dataset, answers: &HashMap<&str, Value>) {
    let oracle = Oracle::new(data);
    let ctx = |what: &str| format!("seed {seed}: {what} differs (MONITORING_DIFF_SEED={seed})");

    let stats: MonitoringStats = serde_json::from_value(answers["stats"].clone()).unwrap();
    assert_eq!(
        stats,
        monitoring_stats(&oracle.uploads, &oracle.bugs, now()),
        "{}",
        ctx("stats")
    );

    let top: Vec<ErrorSummary> = serde_json::from_value(answers["top"].clone()).unwrap();
    assert_eq!(
        top,
        top_errors(&oracle.bugs, now()),
        "{}",
        ctx("top errors")
    );

    let bugs: Vec<BugReport> = serde_json::from_value(answers["bugs"].clone()).unwrap();
    let expected: Vec<BugReport> = recent_bugs(&oracle.bugs, now(), RECENT_BUGS_LIMIT)
        .into_iter()
        .map(BugReport::bounded)
        .collect();
    assert_eq!(bugs, expected, "{}", ctx("recent bugs"));

    let network: Vec<BugReport> = serde_json::from_value(answers["network"].clone()).unwrap();
    let expected: Vec<BugReport> = network_errors(&oracle.bugs, now())
        .into_iter()
        .map(BugReport::bounded)
        .collect();
    assert_eq!(network, expected, "{}", ctx("network errors"));

    let transcriptions: Vec<Value> =
        serde_json::from_value(answers["transcriptions"].clone()).unwrap();
    let got: Vec<(Uuid, Option<String>, Option<String>)> = transcriptions
        .iter()
        .map(|t| {
            (
                serde_json::from_value(t["id"].clone()).unwrap(),
                t["title"].as_str().map(str::to_owned),
                t["email"].as_str().map(str::to_owned),
            )
        })
        .collect();
    let expected: Vec<(Uuid, Option<String>, Option<String>)> =
        failed_transcriptions(&oracle.jobs, now())
            .into_iter()
            .map(|j| {
                let video = oracle.videos.iter().find(|v| Some(v.id) == j.video_id);
                let email = video
                    .and_then(|v| v.user_id)
                    .and_then(|u| oracle.profiles.get(&u))
                    .and_then(|p| p.email.clone());
                let title = video.and_then(|v| v.title.as_deref());
                (
                    j.id,
                    title.map(|t| cut(t, MAX_TITLE_CHARS).to_owned()),
                    email,
                )
            })
            .collect();
    assert_eq!(got, expected, "{}", ctx("transcription errors"));

    // Upload errors: reported failures (7 days) and flagged videos no failed row links to.
    let mut expected: Vec<UploadMonitorItem> = failed_uploads(&oracle.uploads, now())
        .into_iter()
        .map(|r| oracle.reported_item(r))
        .chain(
            upload_error_videos(&oracle.videos, &oracle.uploads, now())
                .into_iter()
                .map(|v| oracle.derived_item(v)),
        )
        .collect();
    let finished = |i: &UploadMonitorItem| i.completed_at.or(i.updated_at);
    expected.sort_by(|a, b| finished(b).cmp(&finished(a)).then(b.id.cmp(&a.id)));
    expected.truncate(1000);
    let got: Vec<UploadMonitorItem> =
        serde_json::from_value(answers["upload_errors"].clone()).unwrap();
    assert_eq!(got, expected, "{}", ctx("upload errors"));

    // The list: reported rows (aggregate.rs) merged with Phase 1 cards by the same order.
    for limit in [5_usize, 100] {
        let mut expected: Vec<UploadMonitorItem> = upload_list(&oracle.uploads, now(), limit)
            .into_iter()
            .map(|r| oracle.reported_item(r))
            .chain(oracle.phase1_items())
            .collect();
        expected.sort_by(|a, b| {
            status_rank(a.status)
                .cmp(&status_rank(b.status))
                .then(b.started_at.cmp(&a.started_at))
                .then(b.id.cmp(&a.id))
        });
        expected.truncate(limit);
        let got: Vec<UploadMonitorItem> =
            serde_json::from_value(answers[if limit == 5 { "list5" } else { "list100" }].clone())
                .unwrap();
        assert_eq!(got, expected, "{}", ctx(&format!("upload list ({limit})")));
    }
}

#[tokio::test]
async fn sql_monitoring_answers_equal_the_rust_aggregation_on_generated_datasets() {
    let stack = DevStack::start().await.expect("a private dev stack");
    let client = stack.connect().await.expect("a connection");
    let seeds: Vec<u64> = match std::env::var("MONITORING_DIFF_SEED") {
        Ok(seed) => vec![seed.parse().expect("a numeric seed")],
        Err(_) => {
            let base = fastrand::u64(..);
            let cases: u64 = std::env::var("MONITORING_DIFF_CASES")
                .ok()
                .and_then(|c| c.parse().ok())
                .unwrap_or(40);
            (0..cases).map(|n| base.wrapping_add(n)).collect()
        }
    };
    for seed in seeds {
        println!("monitoring differential seed {seed}");
        let data = generate(seed);
        load(&client, &data).await;
        let mut answers = HashMap::new();
        for (name, query) in [
            ("stats", "select private.monitoring_stats($1)"),
            ("top", "select private.monitoring_top_errors($1)"),
            ("bugs", "select private.monitoring_recent_bugs($1, 20)"),
            (
                "network",
                "select private.monitoring_network_errors($1, 1000)",
            ),
            (
                "transcriptions",
                "select private.monitoring_transcription_errors($1, 1000)",
            ),
            (
                "upload_errors",
                "select private.monitoring_upload_errors($1, 1000)",
            ),
            ("list5", "select private.monitoring_upload_list($1, 5)"),
            ("list100", "select private.monitoring_upload_list($1, 100)"),
        ] {
            answers.insert(name, sql(&client, query).await);
        }
        check_dataset(seed, &data, &answers);
        check_counts_follow_updates_and_deletes(&client, seed).await;
    }
}

/// The stat cards' per-minute counts follow every kind of change: a third of the uploads and
/// bugs deleted, finished uploads flipped between completed and failed (the update trigger
/// also moves their updated_at to the real clock), bugs re-dated and re-graded. The oracle
/// reads the rows back as they now are.
async fn check_counts_follow_updates_and_deletes(client: &tokio_postgres::Client, seed: u64) {
    client
        .batch_execute(
            "delete from public.upload_queue where get_byte(uuid_send(id), 15) % 3 = 0;
             delete from public.bug_reports where get_byte(uuid_send(id), 15) % 3 = 0;
             update public.upload_queue
               set status = case status when 'completed' then 'failed' else 'completed' end
               where status in ('completed', 'failed') and get_byte(uuid_send(id), 15) % 3 = 1;
             update public.upload_queue set status = 'completed', completed_at = null
               where status = 'uploading' and get_byte(uuid_send(id), 15) % 3 = 2;
             update public.bug_reports
               set created_at = created_at - interval '30 seconds', severity = 'critical'
               where get_byte(uuid_send(id), 15) % 3 = 1;",
        )
        .await
        .expect("the mutations");
    let uploads: Vec<UploadRecord> = serde_json::from_value(
        sql(client, "select coalesce(jsonb_agg(to_jsonb(q)), '[]') from public.upload_queue q where $1::timestamptz is not null").await,
    )
    .expect("upload rows");
    let bugs: Vec<BugReport> = serde_json::from_value(
        sql(client, "select coalesce(jsonb_agg(to_jsonb(b)), '[]') from public.bug_reports b where $1::timestamptz is not null").await,
    )
    .expect("bug rows");
    let stats: MonitoringStats =
        serde_json::from_value(sql(client, "select private.monitoring_stats($1)").await)
            .expect("stats");
    assert_eq!(
        stats,
        monitoring_stats(&uploads, &bugs, now()),
        "seed {seed}: stats after updates and deletes differ (MONITORING_DIFF_SEED={seed})"
    );
}
