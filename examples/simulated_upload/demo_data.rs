//! Demo users and the rows every monitoring query needs (videos, bug reports of every type and
//! severity, transcription jobs, some failed), plus the app's own writes during the run
//! (the `videos` row of a finished upload with its Storage paths, a failed transcription, a
//! bug report). The seeded history's videos have no bytes: their `file_path` stays
//! `https://demo.invalid/...`, a URL nothing serves.
//!
//! The app writes those rows through PostgREST with the user's token; the dev stack's gateway
//! serves RPCs only, so here they go through one superuser database connection, as plain
//! inserts of the same columns. Upload events never take that path: they go through the SDK
//! and `report_upload_events`, as on a phone.

use tokio::sync::{mpsc, oneshot};
use tokio_postgres::Client;
use upload_monitor::devstack::{jwt, NewUser, SupabaseTarget};
use uuid::Uuid;

/// One demo account.
#[derive(Debug, Clone)]
pub struct DemoUser {
    /// `profiles.id`.
    pub id: Uuid,
    /// Access token.
    pub token: String,
}

/// First names of the demo users (with the language their profile says).
/// Lifetime of the demo users' minted tokens: 30 days, longer than any run.
const DEMO_TOKEN_LIFETIME_SECS: i64 = 30 * 24 * 3600;

const PEOPLE: [(&str, &str, &str); 8] = [
    ("Camille", "Durand", "fr"),
    ("Lucas", "Martin", "fr"),
    ("Emma", "Smith", "en"),
    ("Noah", "Brown", "en"),
    ("Lucía", "García", "es"),
    ("Mateo", "López", "es"),
    ("Lena", "Müller", "de"),
    ("Jonas", "Schmidt", "de"),
];

/// Creates the admin and one user per phone (`auth.users` + `profiles`); `run` makes the
/// emails unique across runs on the same database. With a JWT secret (the dev stack,
/// `supabase start`) rows are inserted and tokens minted; without one (a hosted project) the
/// accounts go through the Auth admin API and a password sign-in ([`crate::auth_api`]).
///
/// # Errors
///
/// A failed insert or Auth call.
pub async fn create_users(
    target: &SupabaseTarget,
    phones: usize,
    run: &str,
) -> Result<(DemoUser, Vec<DemoUser>), String> {
    let http = reqwest::Client::new();
    let create = |email: String,
                  first: &'static str,
                  last: &'static str,
                  lang: &'static str,
                  admin: bool| {
        let http = http.clone();
        async move {
            if target.jwt_secret().is_some() {
                let mut user = NewUser::new(email).named(first, last).language(lang);
                if admin {
                    user = user.admin();
                }
                let user = target
                    .create_user(&user)
                    .await
                    .map_err(|e| format!("creating a demo user: {e}"))?;
                // The phones and the embedded dashboard keep one token for the whole run, and
                // an interactive run lasts until Ctrl-C: a token that outlives any session
                // (a minted one expires in an hour, and a demo has no refresh flow).
                let token = target
                    .mint_token(
                        &user
                            .claims()
                            .with_exp(jwt::now() + DEMO_TOKEN_LIFETIME_SECS),
                    )
                    .map_err(|e| format!("minting a demo token: {e}"))?;
                Ok::<_, String>(DemoUser { id: user.id, token })
            } else {
                let account = crate::auth_api::Account {
                    email: &email,
                    first_name: first,
                    last_name: last,
                    language: lang,
                    admin,
                };
                let (id, token) = crate::auth_api::sign_up_and_in(
                    &http,
                    target.api_url(),
                    target.anon_key(),
                    target.service_role_key(),
                    &account,
                )
                .await?;
                Ok(DemoUser { id, token })
            }
        }
    };
    let admin = create(
        format!("admin-{run}@demo.test"),
        "Alice",
        "Admin",
        "fr",
        true,
    )
    .await?;
    let mut users = Vec::with_capacity(phones);
    for i in 0..phones {
        let (first, last, lang) = PEOPLE[i % PEOPLE.len()];
        let email = format!(
            "{}.{}.{i}-{run}@demo.test",
            first.to_lowercase(),
            last.to_lowercase()
        );
        users.push(create(email, first, last, lang, false).await?);
    }
    Ok((admin, users))
}

/// Existing videos, transcription jobs (a quarter failed) and bug reports of every type and
/// severity for `users`, dated over the last day, so the dashboard has history before the
/// fleet starts.
///
/// # Errors
///
/// Any SQL error.
pub async fn seed_history(db: &Client, users: &[DemoUser]) -> Result<(), String> {
    let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
    db.execute(
        "insert into public.videos (user_id, title, file_path, duration, metadata, created_at) \
         select u, 'Vidéo existante ' || g, 'https://demo.invalid/videos/' || u || '/' || g || '.mp4', \
                30 + g * 7, jsonb_build_object('isRecorded', g % 2 = 0, 'isImported', g % 2 = 1), \
                now() - make_interval(mins => g * 97) \
         from unnest($1::uuid[]) as u, generate_series(1, 2) as g",
        &[&ids],
    )
    .await
    .map_err(|e| format!("seeding videos: {e:?}"))?;
    db.execute(
        "insert into public.transcription_jobs (video_id, status, language, error_message, created_at, completed_at) \
         select v.id, case when row_number() over () % 4 = 0 then 'failed' else 'completed' end, 'fr', \
                case when row_number() over () % 4 = 0 then 'AssemblyAI: audio too short' end, \
                v.created_at, v.created_at + interval '2 minutes' \
         from public.videos v where v.user_id = any($1)",
        &[&ids],
    )
    .await
    .map_err(|e| format!("seeding transcription jobs: {e:?}"))?;
    db.execute(
        "insert into public.bug_reports (user_id, user_email, error_type, error_message, severity, status, \
                                         screen_name, app_version, created_at) \
         select p.id, p.email, b.t, b.m, s.s, 'new', 'UploadScreen', '2.4.1', \
                now() - make_interval(mins => ((p.n * 37 + b.k * 11 + s.k * 5) % 1400)::int) \
         from (select id, email, row_number() over (order by id) as n from public.profiles where id = any($1)) p \
         cross join (values ('crash', 'App crashed during upload', 1), ('network', 'Network request failed', 2), \
                            ('ui', 'Button not responding', 3), ('api', 'Supabase storage 500', 4), \
                            ('other', 'Unknown error', 5)) as b(t, m, k) \
         cross join (values ('critical', 1), ('high', 2), ('medium', 3), ('low', 4)) as s(s, k) \
         where p.n <= 2",
        &[&ids],
    )
    .await
    .map_err(|e| format!("seeding bug reports: {e:?}"))?;
    Ok(())
}

/// What a phone asks the app's backend to write.
#[derive(Debug)]
pub enum AppWrite {
    /// STEP 4, `createVideo`: the `videos` row of a finished upload; answers its id.
    Video {
        /// Owner.
        user: Uuid,
        /// Title.
        title: String,
        /// The video's metadata (`isRecorded`/`isImported`).
        recorded: bool,
        /// `file_path`: the object's name in the `videos` bucket.
        file_path: String,
        /// Where to send the new id.
        reply: oneshot::Sender<Option<Uuid>>,
    },
    /// STEP 5: the uploaded thumbnail's object name, set as the video's `thumbnail_path`.
    Thumbnail {
        /// The video.
        video: Uuid,
        /// The object's name in the `thumbnails` bucket.
        path: String,
        /// Told when the row is updated.
        reply: oneshot::Sender<()>,
    },
    /// The transcription service answered an error for `video`.
    FailedTranscription {
        /// The video.
        video: Uuid,
    },
    /// The app's error reporter filed a bug.
    Bug {
        /// Reporter.
        user: Uuid,
        /// `crash` | `network` | `ui` | `api` | `other`.
        error_type: &'static str,
        /// `critical` | `high` | `medium` | `low`.
        severity: &'static str,
        /// The message.
        message: String,
    },
}

/// A handle phones use to write app rows.
#[derive(Debug, Clone)]
pub struct AppWriter {
    sender: Option<mpsc::UnboundedSender<AppWrite>>,
}

impl AppWriter {
    /// Starts the writer task on the current runtime.
    pub fn start(db: Client) -> Self {
        let (sender, mut receiver) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(write) = receiver.recv().await {
                if let Err(e) = apply(&db, write).await {
                    tracing::warn!(error = ?e, "an app write failed");
                }
            }
        });
        AppWriter {
            sender: Some(sender),
        }
    }

    /// Creates the `videos` row and waits for its id (None when disabled or failed). Call it
    /// from a phone's thread, not from async code.
    pub fn create_video_blocking(
        &self,
        user: Uuid,
        title: &str,
        recorded: bool,
        file_path: &str,
    ) -> Option<Uuid> {
        let sender = self.sender.as_ref()?;
        let (reply, answer) = oneshot::channel();
        sender
            .send(AppWrite::Video {
                user,
                title: title.to_string(),
                recorded,
                file_path: file_path.to_string(),
                reply,
            })
            .ok()?;
        answer.blocking_recv().ok().flatten()
    }

    /// Sets the video's `thumbnail_path` and waits for it (so the final check sees it). Call
    /// it from a phone's thread.
    pub fn set_thumbnail_blocking(&self, video: Uuid, path: &str) {
        let Some(sender) = self.sender.as_ref() else {
            return;
        };
        let (reply, answer) = oneshot::channel();
        if sender
            .send(AppWrite::Thumbnail {
                video,
                path: path.to_string(),
                reply,
            })
            .is_ok()
        {
            let _ = answer.blocking_recv();
        }
    }

    /// Queues a write without waiting.
    pub fn send(&self, write: AppWrite) {
        if let Some(sender) = &self.sender {
            let _ = sender.send(write);
        }
    }
}

async fn apply(db: &Client, write: AppWrite) -> Result<(), tokio_postgres::Error> {
    match write {
        AppWrite::Video {
            user,
            title,
            recorded,
            file_path,
            reply,
        } => {
            let id = Uuid::new_v4();
            let result = db
                .execute(
                    "insert into public.videos (id, user_id, title, file_path, metadata) \
                     values ($1::uuid, $2, $3, $5, \
                             jsonb_build_object('isRecorded', $4::bool, 'isImported', not $4::bool))",
                    &[&id, &user, &title, &recorded, &file_path],
                )
                .await;
            let _ = reply.send(result.as_ref().ok().map(|_| id));
            result.map(|_| ())
        }
        AppWrite::Thumbnail { video, path, reply } => {
            let result = db
                .execute(
                    "update public.videos set thumbnail_path = $2 where id = $1",
                    &[&video, &path],
                )
                .await;
            let _ = reply.send(());
            result.map(|_| ())
        }
        AppWrite::FailedTranscription { video } => db
            .execute(
                "insert into public.transcription_jobs (video_id, status, language, error_message) \
                 values ($1, 'failed', 'fr', 'AssemblyAI: transcription failed (audio unreadable)')",
                &[&video],
            )
            .await
            .map(|_| ()),
        AppWrite::Bug {
            user,
            error_type,
            severity,
            message,
        } => db
            .execute(
                "insert into public.bug_reports (user_id, user_email, error_type, error_message, severity, \
                                                 screen_name, component_name, action, app_version) \
                 select $1, p.email, $2, $3, $4, 'UploadScreen', 'UploadQueue', 'upload', '2.4.1' \
                 from public.profiles p where p.id = $1",
                &[&user, &error_type, &message, &severity],
            )
            .await
            .map(|_| ()),
    }
}
