//! What the reporter and its flusher tell each other, and nothing else: wake-ups, the online
//! and shut-down flags, "retry now", the settled counter a `flush()` waits on, and what holds
//! events back (for `health()`). No storage, no network.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use uuid::Uuid;

use crate::shared::lock;

/// What holds events back, as the flusher last saw it (for `health()` and `flush()`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Holds {
    /// The parked uploads.
    pub(crate) parked: Vec<Uuid>,
    /// The last configuration problem, until a delivery succeeds.
    pub(crate) configuration_problem: Option<String>,
}

/// The flags and notifications between the app's calls and the flusher task.
#[derive(Debug)]
pub(crate) struct Signals {
    wake: Notify,
    online: AtomicBool,
    shut: AtomicBool,
    /// Set by `set_online(true)`: try now, whatever the backoff said.
    retry_now: AtomicBool,
    /// Bumped after every change of the outbox's contents by the flusher.
    settled: watch::Sender<u64>,
    /// Published by the flusher; never held across a call into the app or the outbox.
    holds: Mutex<Holds>,
}

impl Signals {
    /// Online, running, nothing held back.
    pub(crate) fn new() -> Self {
        Signals {
            wake: Notify::new(),
            online: AtomicBool::new(true),
            shut: AtomicBool::new(false),
            retry_now: AtomicBool::new(false),
            settled: watch::Sender::new(0),
            holds: Mutex::new(Holds::default()),
        }
    }

    /// Wakes the flusher (something to send, or a flag changed).
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Sleeps until woken, or `tick` passes. With no tick (offline, nothing held back) it is
    /// a pure wait on a notification: no timer, no CPU.
    pub(crate) async fn idle(&self, tick: Option<Duration>) {
        match tick {
            Some(tick) => {
                let _ = tokio::time::timeout(tick, self.wake.notified()).await;
            }
            None => self.wake.notified().await,
        }
    }

    /// Whether the app says the device is online.
    pub(crate) fn is_online(&self) -> bool {
        self.online.load(Ordering::Relaxed)
    }

    /// Sets the online flag; coming back online also asks for a retry now. Wakes the flusher.
    pub(crate) fn set_online(&self, online: bool) {
        let was = self.online.swap(online, Ordering::Relaxed);
        if online && !was {
            self.retry_now.store(true, Ordering::Relaxed);
        }
        self.wake();
    }

    /// Asks the flusher to try now, whatever its backoff says, and wakes it.
    pub(crate) fn retry_now(&self) {
        self.retry_now.store(true, Ordering::Relaxed);
        self.wake();
    }

    /// Whether a retry now was asked for since the last call (and clears it).
    pub(crate) fn take_retry_now(&self) -> bool {
        self.retry_now.swap(false, Ordering::Relaxed)
    }

    /// Whether the reporter is shut down.
    pub(crate) fn is_shut(&self) -> bool {
        self.shut.load(Ordering::Relaxed)
    }

    /// Marks the reporter shut down; returns whether it already was.
    pub(crate) fn shut(&self) -> bool {
        self.shut.swap(true, Ordering::Relaxed)
    }

    /// The outbox's contents changed (or what holds them back): wakes a waiting `flush()`.
    pub(crate) fn settled(&self) {
        self.settled.send_modify(|g| *g += 1);
    }

    /// A receiver of [`Signals::settled`].
    pub(crate) fn subscribe_settled(&self) -> watch::Receiver<u64> {
        self.settled.subscribe()
    }

    /// What holds events back now.
    pub(crate) fn holds(&self) -> Holds {
        lock(&self.holds).clone()
    }

    /// Publishes the parked set and wakes a waiting flush.
    pub(crate) fn publish_parked(&self, parked: Vec<Uuid>) {
        lock(&self.holds).parked = parked;
        self.settled();
    }

    /// Records a configuration problem; returns whether it is new (not the one already
    /// recorded).
    pub(crate) fn configuration_problem(&self, why: &str) -> bool {
        let mut holds = lock(&self.holds);
        let new = holds.configuration_problem.as_deref() != Some(why);
        holds.configuration_problem = Some(why.to_owned());
        new
    }

    /// Clears the configuration problem; returns the one there was.
    pub(crate) fn take_configuration_problem(&self) -> Option<String> {
        lock(&self.holds).configuration_problem.take()
    }
}
