//! The live feed behind `GET /api/stream`: one poller of `monitoring_changes` shared by every
//! open page, fanned out through a tokio broadcast channel, and the per-page SSE stream
//! (first a `snapshot`, then `changes`, a fresh `snapshot` when the server says `resync`,
//! `feed_error` when Supabase cannot be asked).
//!
//! Why one poller: each `monitoring_changes` call costs the database ~12 ms at a million rows
//! (README), whatever the number of readers; ten open tabs must not make it ten calls a
//! second. The poller sleeps (no call at all) while nobody listens, and forgets its cursor
//! then, so the next page starts from its own snapshot's cursor.
//!
//! The poller reads with the token of a signed-in admin (the most recently active one: every
//! admin sees the same monitoring data), so the database's `is_admin()` still decides; with
//! nobody signed in it has no token and asks nothing. A page's stream ends when its session
//! does (logout, or Supabase refused the session's refresh).
//!
//! Answers are passed to the browser as the JSON the RPC returned (parsed only for the few
//! fields the feed steers by): a card field added in SQL reaches the page without a Rust
//! change, and a value this version does not know never breaks the stream.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::response::sse::Event;
use chrono::{DateTime, Utc};
use futures_util::stream::{self, Stream};
use monitor_core::client::{ClientError, MonitoringClient};

use crate::session::Sessions;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{broadcast, watch, Notify};

/// How often the shared poller asks for changes while someone listens: the spec's page
/// refreshed every 5 s; 1 s makes a progress bar move as the phone reports it (the SDK
/// reports at most once a second per upload).
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How often a full snapshot replaces the change feed even without `resync`: the top-errors
/// table is not in `monitoring_changes`, the 24 h windows slide, and a Phase 1 card whose
/// status changes only with time appears only in a snapshot (migration notes). One snapshot
/// a minute (~27 ms at a million rows) shared by every page.
pub const REFRESH_EVERY: Duration = Duration::from_secs(60);

/// Messages kept for a slow page: a minute of changes at one a second. A page that falls
/// further behind is sent its own fresh snapshot instead of the backlog.
const CHANNEL_CAPACITY: usize = 64;

/// The longest wait between two polls while Supabase keeps failing (the interval doubles
/// from [`POLL_INTERVAL`]): errors are reported to the pages on each attempt, without
/// hammering a server that is down.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What the feed sends to every page.
#[derive(Debug, Clone)]
pub(crate) enum FeedMessage {
    /// A whole `monitoring_snapshot` answer: the page replaces everything.
    Snapshot(Arc<Frame>),
    /// A `monitoring_changes` answer: the page merges cards by id.
    Changes(Arc<Frame>),
    /// Supabase could not be asked; the page shows it and keeps its data.
    Error {
        /// The failure's kind (`forbidden`, `unreachable`...), as the API's JSON errors.
        kind: &'static str,
        /// What the page shows (no server detail: see [`crate::api_error::describe`]).
        message: Arc<str>,
    },
}

impl FeedMessage {
    /// The message of a failed call.
    fn error(e: &ClientError) -> FeedMessage {
        let (_, kind, message) = crate::api_error::describe(e);
        FeedMessage::Error {
            kind,
            message: Arc::from(message),
        }
    }
}

/// One RPC answer, serialized once for every page.
#[derive(Debug)]
pub(crate) struct Frame {
    /// The answer's `generatedAt` (server time).
    pub(crate) generated_at: DateTime<Utc>,
    /// Where the next `monitoring_changes` starts.
    pub(crate) cursor: DateTime<Utc>,
    /// The answer as JSON text.
    pub(crate) json: String,
}

/// The fields of a snapshot or changes answer the feed steers by.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    generated_at: DateTime<Utc>,
    cursor: DateTime<Utc>,
    #[serde(default)]
    resync: bool,
}

/// Reads the header and serializes the answer.
fn frame(function: &str, value: &Value) -> Result<(Frame, bool), ClientError> {
    let header = Header::deserialize(value).map_err(|e| ClientError::UnexpectedResponse {
        function: function.to_owned(),
        reason: e.to_string(),
    })?;
    let frame = Frame {
        generated_at: header.generated_at,
        cursor: header.cursor,
        json: value.to_string(),
    };
    Ok((frame, header.resync))
}

/// `monitoring_snapshot` as a frame.
pub(crate) async fn fetch_snapshot(client: &MonitoringClient) -> Result<Frame, ClientError> {
    let value: Value = client.call("monitoring_snapshot", json!({})).await?;
    Ok(frame("monitoring_snapshot", &value)?.0)
}

/// The poller's state, shared with the pages that subscribe.
#[derive(Debug)]
struct PollState {
    /// Where the next `monitoring_changes` starts; None while nobody listens.
    cursor: Option<DateTime<Utc>>,
    /// When the pages last got a full snapshot from the poller.
    last_snapshot: Instant,
}

/// The shared poller: one per server.
#[derive(Debug)]
pub(crate) struct Feed {
    sessions: Arc<Sessions>,
    sender: broadcast::Sender<FeedMessage>,
    state: Mutex<PollState>,
    /// Wakes the idle poller when a page arrives with a cursor.
    wake: Notify,
}

impl Feed {
    /// Starts the poller task on the current runtime; it ends when `stop` turns true.
    pub(crate) fn start(sessions: Arc<Sessions>, stop: watch::Receiver<bool>) -> Arc<Feed> {
        let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
        let feed = Arc::new(Feed {
            sessions,
            sender,
            state: Mutex::new(PollState {
                cursor: None,
                last_snapshot: Instant::now(),
            }),
            wake: Notify::new(),
        });
        tokio::spawn(feed.clone().run(stop));
        feed
    }

    fn state(&self) -> MutexGuard<'_, PollState> {
        // The state is two plain values, valid whatever a panicking holder left.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A page's subscription: the broadcast receiver first (nothing after the snapshot is
    /// missed), then the page's own snapshot (read with `client`, the page's session), whose
    /// cursor starts an idle poller.
    ///
    /// # Errors
    ///
    /// The snapshot's [`ClientError`] (a non-admin token is `Forbidden`).
    pub(crate) async fn subscribe(
        &self,
        client: &MonitoringClient,
    ) -> Result<(broadcast::Receiver<FeedMessage>, Frame), ClientError> {
        let receiver = self.sender.subscribe();
        let snapshot = fetch_snapshot(client).await?;
        {
            let mut state = self.state();
            if state.cursor.is_none() {
                state.cursor = Some(snapshot.cursor);
                state.last_snapshot = Instant::now();
            }
        }
        self.wake.notify_one();
        Ok((receiver, snapshot))
    }

    /// The poller: every [`POLL_INTERVAL`] while someone listens, idle otherwise.
    async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut wait = POLL_INTERVAL;
        loop {
            if *stop.borrow() {
                return;
            }
            // Counted under the state lock: a page subscribes before it sets the cursor under
            // this lock, so a count read outside it could clear the cursor of a page that has
            // just arrived, and leave that page without changes.
            let has_cursor = {
                let mut state = self.state();
                if self.sender.receiver_count() == 0 {
                    state.cursor = None;
                }
                state.cursor.is_some()
            };
            if !has_cursor {
                tracing::debug!("nobody listens: the poller sleeps");
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = stop.changed() => return,
                }
                wait = POLL_INTERVAL;
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
            if self.sender.receiver_count() == 0 {
                continue;
            }
            wait = match self.poll_once().await {
                Ok(()) => POLL_INTERVAL,
                Err(e) => {
                    tracing::warn!(error = %e, "polling monitoring_changes failed");
                    let _ = self.sender.send(FeedMessage::error(&e));
                    (wait * 2).min(MAX_BACKOFF)
                }
            };
        }
    }

    /// One round: changes since the cursor, or a snapshot when the server asks for a resync
    /// or the last one is [`REFRESH_EVERY`] old.
    async fn poll_once(&self) -> Result<(), ClientError> {
        let (since, refresh_due) = {
            let state = self.state();
            (state.cursor, state.last_snapshot.elapsed() >= REFRESH_EVERY)
        };
        let Some(since) = since else {
            return Ok(());
        };
        // Nobody signed in (the last admin logged out): no token, no call; the pages'
        // streams end with their sessions.
        let Some(signed) = self.sessions.any().await else {
            return Ok(());
        };
        let result = self.poll_with(&signed.client, since, refresh_due).await;
        if let Err(ClientError::Auth { .. } | ClientError::Forbidden { .. }) = &result {
            // This admin's token no longer passes (role removed, session revoked): the
            // session ends, the next round reads with another one.
            tracing::info!("the database refused a session's token: the session ends");
            self.sessions.remove(&signed.id);
        }
        result
    }

    async fn poll_with(
        &self,
        client: &MonitoringClient,
        since: DateTime<Utc>,
        refresh_due: bool,
    ) -> Result<(), ClientError> {
        if !refresh_due {
            let value: Value = client
                .call("monitoring_changes", json!({ "since": since }))
                .await?;
            let (changes, resync) = frame("monitoring_changes", &value)?;
            if !resync {
                self.state().cursor = Some(changes.cursor);
                // No receiver left is not an error: the next round idles.
                let _ = self.sender.send(FeedMessage::Changes(Arc::new(changes)));
                return Ok(());
            }
            tracing::info!(%since, "monitoring_changes asked for a resync");
        }
        let snapshot = fetch_snapshot(client).await?;
        {
            let mut state = self.state();
            state.cursor = Some(snapshot.cursor);
            state.last_snapshot = Instant::now();
        }
        let _ = self.sender.send(FeedMessage::Snapshot(Arc::new(snapshot)));
        Ok(())
    }
}

/// The SSE event of a message.
fn event(message: &FeedMessage) -> Event {
    match message {
        FeedMessage::Snapshot(frame) => Event::default().event("snapshot").data(&frame.json),
        FeedMessage::Changes(frame) => Event::default().event("changes").data(&frame.json),
        FeedMessage::Error { kind, message } => Event::default()
            // Not "error": EventSource fires that name for its own connection failures.
            .event("feed_error")
            .data(json!({ "error": kind, "message": &**message }).to_string()),
    }
}

/// One page's stream state.
struct PageStream {
    sessions: Arc<Sessions>,
    /// The page's session: the stream ends with it.
    session: String,
    /// Changes when any session ends.
    ended: watch::Receiver<u64>,
    receiver: broadcast::Receiver<FeedMessage>,
    stop: watch::Receiver<bool>,
    /// The first event, sent before anything from the channel.
    first: Option<FeedMessage>,
    /// `generatedAt` of the newest snapshot this page got: older changes are already in it.
    snapshot_at: DateTime<Utc>,
}

/// The events of one page: `first` (its snapshot), then the feed's messages, until the
/// server stops or `session` ends. Changes computed before the page's latest snapshot are skipped (the
/// snapshot holds them, and replaying them could show an older card state); a page that
/// lagged behind the channel gets a fresh snapshot of its own.
pub(crate) fn page_stream(
    sessions: Arc<Sessions>,
    session: String,
    receiver: broadcast::Receiver<FeedMessage>,
    first: Frame,
    stop: watch::Receiver<bool>,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    let page = PageStream {
        ended: sessions.ended(),
        sessions,
        session,
        receiver,
        stop,
        snapshot_at: first.generated_at,
        first: Some(FeedMessage::Snapshot(Arc::new(first))),
    };
    stream::unfold(page, |mut page| async move {
        if let Some(first) = page.first.take() {
            return Some((Ok(event(&first)), page));
        }
        loop {
            if *page.stop.borrow() || !page.sessions.contains(&page.session) {
                return None;
            }
            let received = tokio::select! {
                received = page.receiver.recv() => received,
                _ = page.stop.changed() => return None,
                // A sender never dropped while the page streams (the state holds it).
                _ = page.ended.changed() => continue,
            };
            if !page.sessions.contains(&page.session) {
                tracing::debug!("a page's session ended: its stream ends");
                return None;
            }
            let message = match received {
                Ok(FeedMessage::Changes(frame)) if frame.generated_at <= page.snapshot_at => {
                    continue;
                }
                Ok(message) => message,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::info!(missed, "a page fell behind the feed: sending it a snapshot");
                    let Ok(Some(signed)) = page.sessions.get(&page.session).await else {
                        return None;
                    };
                    match fetch_snapshot(&signed.client).await {
                        Ok(frame) => FeedMessage::Snapshot(Arc::new(frame)),
                        Err(e) => FeedMessage::error(&e),
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            if let FeedMessage::Snapshot(frame) = &message {
                page.snapshot_at = frame.generated_at;
            }
            return Some((Ok(event(&message)), page));
        }
    })
}
