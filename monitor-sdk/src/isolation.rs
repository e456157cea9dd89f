//! Uploads the server keeps failing on, set aside so the others flow: which batch got how many
//! server errors in a row, the uploads of a failing batch tried one at a time, and the parked
//! uploads with their own backoff.
//!
//! A 5xx may be transient (a deploy, a restart) or caused by the batch itself (an event that
//! makes the function crash). The flusher cannot tell them apart from one answer, so:
//!
//! 1. a batch that gets [`ISOLATE_AFTER_SERVER_ERRORS`] server errors in a row makes its
//!    uploads *suspects*: they are sent alone, one upload's events per request, in order;
//! 2. a suspect that gets as many server errors alone is *parked*: its events stay in the
//!    outbox (never dead-lettered on a 5xx), the other uploads' batches leave it out, and it
//!    is tried again alone on its own backoff; the first success releases it.
//!
//! An upload is the unit because the server applies each upload's events in sequence order:
//! sending a parked upload's later events without its earlier ones would get them refused.
//! Parking lives in memory: a restarted reporter finds the upload again in a few rounds.
//! Whatever the verdict, the flusher's backoff gates every request, so a server that is simply
//! down costs no more requests than before: parking only changes which events a request
//! carries.

use std::collections::{HashMap, VecDeque};

use tokio::time::Instant;
use uuid::Uuid;

use crate::policy::{FlushPolicy, ISOLATE_AFTER_SERVER_ERRORS};

/// Which events a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The oldest events of every upload that is not parked.
    Open,
    /// One upload's events alone: a suspect, or a parked upload's probe.
    Alone(Uuid),
}

/// What a counted server error led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not yet isolated: this many server errors in a row on this batch.
    Counting(u32),
    /// The batch's uploads will be sent one by one.
    Suspects(usize),
    /// This upload is parked.
    Parked(Uuid),
    /// A parked upload's probe failed again; it waits longer.
    StillParked(Uuid),
}

/// A parked upload's own backoff.
#[derive(Debug, Clone, Copy)]
struct Parked {
    /// Failed probes so far (the backoff exponent).
    attempt: u32,
    /// Not tried again before this.
    retry_at: Instant,
}

/// The isolation state of one flusher.
#[derive(Debug, Default)]
pub struct Isolation {
    /// Server errors in a row on the batch starting at this position in this scope.
    failing: Option<(Scope, i64, u32)>,
    /// Uploads of a batch that kept failing, to send alone, in order.
    suspects: VecDeque<Uuid>,
    /// Uploads set aside, with their backoff.
    parked: HashMap<Uuid, Parked>,
}

impl Isolation {
    /// What to send next when the flusher may send: a parked upload whose time has come
    /// (when `probes_allowed`), else the first suspect alone, else the open batch.
    pub fn next_scope(&self, now: Instant, probes_allowed: bool) -> Scope {
        let due = self
            .parked
            .iter()
            .filter(|(_, p)| p.retry_at <= now)
            .min_by_key(|(_, p)| p.retry_at)
            .map(|(id, _)| *id);
        match (due, self.suspects.front()) {
            (Some(upload), _) if probes_allowed => Scope::Alone(upload),
            (_, Some(upload)) => Scope::Alone(*upload),
            _ => Scope::Open,
        }
    }

    /// When the next parked upload may be tried, if any is parked.
    pub fn next_probe_at(&self) -> Option<Instant> {
        self.parked.values().map(|p| p.retry_at).min()
    }

    /// Whether `upload` is parked.
    pub fn is_parked(&self, upload: &Uuid) -> bool {
        self.parked.contains_key(upload)
    }

    /// The parked uploads (left out of open batches).
    pub fn parked(&self) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = self.parked.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// The scope's batch was answered with verdicts, or had nothing left to send. Returns
    /// true when this released a parked upload.
    pub fn delivered(&mut self, scope: Scope) -> bool {
        if self.failing.is_some_and(|(s, _, _)| s == scope) {
            self.failing = None;
        }
        match scope {
            Scope::Open => false,
            Scope::Alone(upload) => {
                self.suspects.retain(|u| *u != upload);
                self.parked.remove(&upload).is_some()
            }
        }
    }

    /// A parked upload's probe failed in any way (a server error, or the network): it waits
    /// longer.
    pub fn probe_failed(&mut self, upload: Uuid, now: Instant, policy: &FlushPolicy) {
        if let Some(parked) = self.parked.get_mut(&upload) {
            parked.attempt = parked.attempt.saturating_add(1);
            parked.retry_at = now + policy.backoff(parked.attempt, None);
        }
    }

    /// A server error that speaks about the batch (a 5xx without `Retry-After`, not a 503)
    /// on the batch of `scope` starting at `head`, holding `uploads` (in order of their first
    /// event).
    pub fn server_error(
        &mut self,
        scope: Scope,
        head: i64,
        uploads: &[Uuid],
        now: Instant,
        policy: &FlushPolicy,
    ) -> Verdict {
        if let Scope::Alone(upload) = scope {
            if self.is_parked(&upload) {
                self.probe_failed(upload, now, policy);
                return Verdict::StillParked(upload);
            }
        }
        let count = match self.failing {
            Some((s, h, n)) if s == scope && h == head => n + 1,
            _ => 1,
        };
        if count < ISOLATE_AFTER_SERVER_ERRORS {
            self.failing = Some((scope, head, count));
            return Verdict::Counting(count);
        }
        self.failing = None;
        let alone = match scope {
            Scope::Alone(upload) => Some(upload),
            Scope::Open if uploads.len() == 1 => Some(uploads[0]),
            Scope::Open => None,
        };
        match alone {
            Some(upload) => {
                self.suspects.retain(|u| *u != upload);
                self.parked.insert(
                    upload,
                    Parked {
                        attempt: 1,
                        retry_at: now + policy.backoff(1, None),
                    },
                );
                Verdict::Parked(upload)
            }
            None => {
                self.suspects = uploads.iter().copied().collect();
                Verdict::Suspects(uploads.len())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const A: Uuid = Uuid::from_u128(0xa);
    const B: Uuid = Uuid::from_u128(0xb);
    const X: Uuid = Uuid::from_u128(0xee);

    fn policy() -> FlushPolicy {
        FlushPolicy {
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_millis(400),
            ..FlushPolicy::default()
        }
    }

    #[test]
    fn a_batch_failing_three_times_is_split_by_upload_and_the_culprit_parked() {
        let policy = policy();
        let now = Instant::now();
        let mut isolation = Isolation::default();
        let batch = [X, A, B];
        assert_eq!(
            isolation.server_error(Scope::Open, 1, &batch, now, &policy),
            Verdict::Counting(1)
        );
        assert_eq!(
            isolation.server_error(Scope::Open, 1, &batch, now, &policy),
            Verdict::Counting(2)
        );
        assert_eq!(
            isolation.server_error(Scope::Open, 1, &batch, now, &policy),
            Verdict::Suspects(3)
        );
        // X alone fails three times: parked; A and B are tried next, alone.
        assert_eq!(isolation.next_scope(now, true), Scope::Alone(X));
        for n in 1..=2 {
            assert_eq!(
                isolation.server_error(Scope::Alone(X), 1, &[X], now, &policy),
                Verdict::Counting(n)
            );
        }
        assert_eq!(
            isolation.server_error(Scope::Alone(X), 1, &[X], now, &policy),
            Verdict::Parked(X)
        );
        assert_eq!(isolation.parked(), [X]);
        assert_eq!(isolation.next_scope(now, true), Scope::Alone(A));
        assert!(!isolation.delivered(Scope::Alone(A)));
        assert!(!isolation.delivered(Scope::Alone(B)));
        assert_eq!(isolation.next_scope(now, true), Scope::Open);
        // X's turn comes on its own backoff, and a success releases it.
        let later = now + Duration::from_secs(1);
        assert_eq!(isolation.next_scope(later, true), Scope::Alone(X));
        assert_eq!(isolation.next_scope(later, false), Scope::Open);
        assert!(isolation.delivered(Scope::Alone(X)));
        assert!(isolation.parked().is_empty());
    }

    #[test]
    fn errors_on_different_batches_do_not_add_up() {
        let policy = policy();
        let now = Instant::now();
        let mut isolation = Isolation::default();
        for head in 1..=5 {
            assert_eq!(
                isolation.server_error(Scope::Open, head, &[A, B], now, &policy),
                Verdict::Counting(1)
            );
        }
        isolation.server_error(Scope::Open, 5, &[A, B], now, &policy);
        isolation.delivered(Scope::Open);
        assert_eq!(
            isolation.server_error(Scope::Open, 5, &[A, B], now, &policy),
            Verdict::Counting(1),
            "a success in between starts the count again"
        );
    }

    #[test]
    fn a_parked_upload_waits_longer_after_each_failed_probe() {
        let policy = FlushPolicy {
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(3_600),
            ..FlushPolicy::default()
        };
        fastrand::seed(3);
        let now = Instant::now();
        let mut isolation = Isolation::default();
        for _ in 0..ISOLATE_AFTER_SERVER_ERRORS {
            isolation.server_error(Scope::Open, 1, &[X], now, &policy);
        }
        assert_eq!(isolation.parked(), [X]);
        for _ in 0..12 {
            assert_eq!(
                isolation.server_error(Scope::Alone(X), 1, &[X], now, &policy),
                Verdict::StillParked(X)
            );
        }
        // Ceiling after 13 failures: min(1 s x 2^12, 1 h); full jitter draws below it, but
        // twelve doublings leave the last draw far above the first ceiling.
        let at = isolation.next_probe_at().expect("parked");
        assert!(at > now + Duration::from_secs(1), "{:?}", at - now);
    }
}
