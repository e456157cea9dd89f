//! The app's session as the exported reporter holds it: the access token the app pushes,
//! and a refresh asked of the app from a helper thread and waited for with a timeout.
//!
//! [`AppSession`] is the engine's [`TokenProvider`]. `access_token` reads what the app last
//! pushed (no foreign call). `refresh_access_token`, called by the flusher after a 401,
//! starts [`SessionRefresher::refresh_access_token`] on a helper thread of its own (the one
//! that waits if the app's JS thread is busy: uniffi-bindgen-react-native's call into JS
//! blocks its caller until the JS thread takes it), then waits on a condition variable for a
//! new token, [`AppSession::close`] or [`REFRESH_TIMEOUT`], whichever comes first. Nothing
//! joins the helper thread: `shutdown` closes the session first, so it never waits on JS.

use std::future::Future;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use crate::foreign::{LogLevel, ReporterLogger, SessionRefresher, TokenProvider};

/// How long the flusher waits for the app's refresh before backing off: supabase-js's
/// `refreshSession()` is one HTTP round trip, well under this on a usable mobile network.
/// A later answer is still stored and used by the next attempt.
pub const REFRESH_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the helper thread waits for a refresh that never answers before it drops the
/// call (and a new refresh may start): six flusher timeouts, so a slow app is not asked
/// twice at once, and a hung one does not stop refreshes for good.
pub const REFRESH_ABANDON: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct State {
    token: Option<String>,
    /// Bumped by every token that arrives (pushed or refreshed).
    generation: u64,
    /// The refresh in flight (its number, when it started); None when none is.
    refresh: Option<(u64, Instant)>,
    /// Numbers the refreshes, so an abandoned one that answers late does not end the wait
    /// on its successor.
    refreshes: u64,
    /// Set by `close`: nobody waits any more.
    closed: bool,
}

/// What the helper thread and the waiters share.
#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The pushed token and the app's refresher (see the module docs).
pub struct AppSession {
    shared: Arc<Shared>,
    refresher: Arc<dyn SessionRefresher>,
    logger: Option<Arc<dyn ReporterLogger>>,
    timeout: Duration,
    abandon_after: Duration,
}

impl std::fmt::Debug for AppSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppSession")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl AppSession {
    /// A session starting with `token`, refreshed through `refresher`, waited for at most
    /// [`REFRESH_TIMEOUT`].
    pub fn new(
        token: Option<String>,
        refresher: Arc<dyn SessionRefresher>,
        logger: Option<Arc<dyn ReporterLogger>>,
    ) -> Self {
        Self::with_timeouts(token, refresher, logger, REFRESH_TIMEOUT, REFRESH_ABANDON)
    }

    /// [`AppSession::new`] with chosen waits (tests).
    pub fn with_timeouts(
        token: Option<String>,
        refresher: Arc<dyn SessionRefresher>,
        logger: Option<Arc<dyn ReporterLogger>>,
        timeout: Duration,
        abandon_after: Duration,
    ) -> Self {
        let shared = Arc::new(Shared::default());
        shared.lock().token = token.filter(|t| !t.is_empty());
        AppSession {
            shared,
            refresher,
            logger,
            timeout,
            abandon_after,
        }
    }

    /// The app's newest token (None: signed out). Wakes a flusher waiting for a refresh.
    pub fn set_token(&self, token: Option<String>) {
        let mut state = self.shared.lock();
        state.token = token.filter(|t| !t.is_empty());
        state.generation += 1;
        drop(state);
        self.shared.changed.notify_all();
    }

    /// Ends every wait at once (the reporter is shutting down); later refreshes return the
    /// current token without asking the app.
    pub fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
    }

    fn log(&self, level: LogLevel, message: String) {
        tracing::info!("{message}");
        if let Some(logger) = &self.logger {
            logger.log(level, message);
        }
    }

    /// Starts the app's refresh number `id` on a helper thread; false when none could be
    /// started.
    fn start_refresh(&self, id: u64) -> bool {
        let shared = self.shared.clone();
        let refresher = self.refresher.clone();
        let logger = self.logger.clone();
        let abandon_after = self.abandon_after;
        let spawned = std::thread::Builder::new()
            .name("monitor-sdk-session".into())
            .spawn(move || {
                let call = std::panic::AssertUnwindSafe(|| {
                    block_on_within(refresher.refresh_access_token(), abandon_after)
                });
                // A refresher that throws reaches Rust as a panic (an unexpected foreign
                // error): "no token", like any other failed refresh.
                let answer = std::panic::catch_unwind(call).unwrap_or(Some(None));
                let note = match &answer {
                    Some(Some(_)) => None,
                    Some(None) => Some("the app's session refresh gave no token"),
                    None => Some("the app's session refresh never answered; dropped"),
                };
                let mut state = shared.lock();
                if state.refresh.is_some_and(|(current, _)| current == id) {
                    state.refresh = None;
                }
                if let Some(Some(token)) = answer.filter(|t| t.as_deref() != Some("")) {
                    state.token = Some(token);
                    state.generation += 1;
                }
                drop(state);
                shared.changed.notify_all();
                if let (Some(note), Some(logger)) = (note, logger) {
                    logger.log(LogLevel::Warn, note.to_string());
                }
            });
        spawned.is_ok()
    }
}

impl TokenProvider for AppSession {
    fn access_token(&self) -> Option<String> {
        self.shared.lock().token.clone()
    }

    fn refresh_access_token(&self) -> Option<String> {
        let started = Instant::now();
        let mut state = self.shared.lock();
        if state.closed {
            return state.token.clone();
        }
        let seen = state.generation;
        let running = state
            .refresh
            .is_some_and(|(_, at)| started.duration_since(at) < self.abandon_after);
        if !running {
            state.refreshes += 1;
            let id = state.refreshes;
            state.refresh = Some((id, started));
            drop(state);
            if !self.start_refresh(id) {
                self.log(
                    LogLevel::Warn,
                    "could not start a thread for the session refresh".into(),
                );
                let mut state = self.shared.lock();
                state.refresh = None;
                return state.token.clone();
            }
            state = self.shared.lock();
        }
        let deadline = started + self.timeout;
        while state.generation == seen && !state.closed && state.refresh.is_some() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                drop(state);
                self.log(
                    LogLevel::Warn,
                    format!(
                        "the app's session refresh did not answer within {} ms; retrying later",
                        self.timeout.as_millis()
                    ),
                );
                return self.access_token();
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        state.token.clone()
    }
}

/// Wakes the helper thread when the foreign future makes progress.
struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Drives `future` on this thread (the foreign future completes through uniffi's callback,
/// no runtime is needed); None when it has not finished within `limit` (it is dropped).
fn block_on_within<F: Future>(future: F, limit: Duration) -> Option<F::Output> {
    let deadline = Instant::now() + limit;
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return Some(output);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        std::thread::park_timeout(left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Answers after `delay` with `token`, counting the calls; `block` stands for a busy JS
    /// thread (the call itself does not return until it passes).
    struct Refresher {
        token: Option<String>,
        delay: Duration,
        block: Duration,
        calls: AtomicU32,
        panics: bool,
    }

    impl Refresher {
        fn answering(token: Option<&str>, delay: Duration) -> Arc<Self> {
            Arc::new(Refresher {
                token: token.map(str::to_string),
                delay,
                block: Duration::ZERO,
                calls: AtomicU32::new(0),
                panics: false,
            })
        }
    }

    #[async_trait::async_trait]
    impl SessionRefresher for Refresher {
        async fn refresh_access_token(&self) -> Option<String> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(self.block);
            if self.panics {
                panic!("the app's refresher threw");
            }
            let (tx, rx) = std::sync::mpsc::channel();
            let delay = self.delay;
            let token = self.token.clone();
            // The answer arrives from another thread, as a foreign future's does.
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                let _ = tx.send(token);
            });
            Later(rx).await
        }
    }

    /// A future over a channel, polled by the helper thread's waker loop.
    struct Later(std::sync::mpsc::Receiver<Option<String>>);

    impl Future for Later {
        type Output = Option<String>;
        fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            match self.0.try_recv() {
                Ok(token) => Poll::Ready(token),
                Err(std::sync::mpsc::TryRecvError::Disconnected) => Poll::Ready(None),
                Err(std::sync::mpsc::TryRecvError::Empty) => {
                    let waker = cx.waker().clone();
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_millis(5));
                        waker.wake();
                    });
                    Poll::Pending
                }
            }
        }
    }

    fn session(refresher: Arc<Refresher>, timeout: Duration) -> Arc<AppSession> {
        Arc::new(AppSession::with_timeouts(
            Some("stale".into()),
            refresher,
            None,
            timeout,
            Duration::from_secs(5),
        ))
    }

    #[test]
    fn the_pushed_token_is_read_without_asking_the_app() {
        let refresher = Refresher::answering(Some("fresh"), Duration::ZERO);
        let session = session(refresher.clone(), Duration::from_secs(5));
        assert_eq!(session.access_token().as_deref(), Some("stale"));
        session.set_token(Some("pushed".into()));
        assert_eq!(session.access_token().as_deref(), Some("pushed"));
        session.set_token(Some(String::new()));
        assert_eq!(session.access_token(), None, "an empty token is no token");
        assert_eq!(refresher.calls.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_refresh_returns_the_apps_new_token() {
        let refresher = Refresher::answering(Some("fresh"), Duration::from_millis(20));
        let session = session(refresher.clone(), Duration::from_secs(5));
        assert_eq!(session.refresh_access_token().as_deref(), Some("fresh"));
        assert_eq!(session.access_token().as_deref(), Some("fresh"));
        assert_eq!(refresher.calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_token_pushed_during_the_refresh_ends_the_wait() {
        let refresher = Refresher::answering(Some("late"), Duration::from_secs(3));
        let session = session(refresher, Duration::from_secs(5));
        let pusher = session.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            pusher.set_token(Some("pushed".into()));
        });
        let started = Instant::now();
        assert_eq!(session.refresh_access_token().as_deref(), Some("pushed"));
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn a_refresh_that_does_not_answer_in_time_gives_the_current_token_and_a_late_answer_is_kept() {
        let refresher = Refresher::answering(Some("late"), Duration::from_millis(300));
        let session = session(refresher.clone(), Duration::from_millis(50));
        assert_eq!(session.refresh_access_token().as_deref(), Some("stale"));
        // The answer lands after the wait; the next attempt uses it without asking again.
        let deadline = Instant::now() + Duration::from_secs(5);
        while session.access_token().as_deref() != Some("late") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(session.access_token().as_deref(), Some("late"));
        assert_eq!(refresher.calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn close_ends_a_wait_on_an_app_whose_thread_is_busy() {
        // The app's thread does not even take the call for 3 s.
        let refresher = Arc::new(Refresher {
            token: Some("fresh".into()),
            delay: Duration::ZERO,
            block: Duration::from_secs(3),
            calls: AtomicU32::new(0),
            panics: false,
        });
        let session = session(refresher, Duration::from_secs(10));
        let closer = session.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            closer.close();
        });
        let started = Instant::now();
        assert_eq!(session.refresh_access_token().as_deref(), Some("stale"));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "waited {:?} on the app",
            started.elapsed()
        );
        // Closed: no more waits at all.
        let again = Instant::now();
        assert_eq!(session.refresh_access_token().as_deref(), Some("stale"));
        assert!(again.elapsed() < Duration::from_millis(500));
    }

    #[test]
    fn a_refresher_that_throws_counts_as_no_token() {
        let refresher = Arc::new(Refresher {
            token: Some("never".into()),
            delay: Duration::ZERO,
            block: Duration::ZERO,
            calls: AtomicU32::new(0),
            panics: true,
        });
        let session = session(refresher.clone(), Duration::from_secs(5));
        let started = Instant::now();
        assert_eq!(session.refresh_access_token().as_deref(), Some("stale"));
        assert!(started.elapsed() < Duration::from_secs(2));
        // And a second 401 asks again (the failed refresh is over).
        assert_eq!(session.refresh_access_token().as_deref(), Some("stale"));
        assert_eq!(refresher.calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn one_refresh_at_a_time() {
        let refresher = Refresher::answering(Some("fresh"), Duration::from_millis(200));
        let session = session(refresher.clone(), Duration::from_secs(5));
        let other = session.clone();
        let second = std::thread::spawn(move || other.refresh_access_token());
        assert_eq!(session.refresh_access_token().as_deref(), Some("fresh"));
        assert_eq!(second.join().unwrap().as_deref(), Some("fresh"));
        assert_eq!(refresher.calls.load(Ordering::SeqCst), 1);
    }
}
