//! Upload Monitor's domain rules, without I/O.
//!
//! Everything the SDK, the SQL migrations and the dashboard must agree on lives here:
//!
//! - the protocol: statuses and stages ([`status`]), the events the SDK sends to
//!   `report_upload_events` and the state machine's rules, in words ([`event`]), the
//!   server's verdicts ([`verdict`]);
//! - the state: one `upload_queue` row ([`record`]) and the machine that builds it from
//!   events, one at a time or a batch at a time ([`state_machine`]);
//! - the app's other tables ([`rows`]) and the dashboard's shapes ([`monitoring`]), and what
//!   of an odd row they show ([`bounds`]);
//! - the rules around an upload: Phase 1 derivation from `videos` ([`derive`](mod@derive)), speed,
//!   ETA and relative time ([`speed`]), the dynamic timeout ([`timeout`]), the stale rule
//!   ([`stale`]), labels and initials ([`display`]), the app's AsyncStorage formats
//!   ([`async_storage`]);
//! - the monitoring figures: stat cards, top errors, lists ([`aggregate`]).
//!
//! The SQL in `migrations/` mirrors [`event`]'s rules and [`aggregate`]'s semantics;
//! differential tests hold the two together, with this crate as the oracle.
//!
//! # An upload's life, as the server's rules see it
//!
//! The SDK and `report_upload_events` both run each event through [`apply`]: a `begin`
//! creates the row, progress moves it forward, a late copy of an older event changes
//! nothing, and a terminal status is left only through an explicit retry.
//!
//! ```
//! use chrono::{DateTime, Utc};
//! use monitor_core::{apply, EventPayload, RejectReason, Step, UploadEvent, UploadStatus};
//! use uuid::Uuid;
//!
//! let user = Uuid::from_u128(1); // the signed-in phone user (`auth.uid()`)
//! let upload = Uuid::from_u128(10); // the UUIDv7 the SDK gave the upload on the device
//! let now: DateTime<Utc> = "2026-11-24T09:00:00Z".parse().unwrap();
//! let event = |seq: i64, payload: EventPayload| UploadEvent {
//!     id: Uuid::from_u128(100 + seq as u128), upload_id: upload, seq, at: now, payload,
//! };
//! let step = |row: Option<&monitor_core::UploadRecord>, e: &UploadEvent| apply(row, e, user, now);
//!
//! let begin = event(1, EventPayload::Begin {
//!     local_id: "import_1_0".into(), video_title: Some("Concert".into()),
//!     filename: "concert.mov".into(), file_size: Some(50_000_000), source: None,
//!     metadata: None, device: None, user_id: None,
//! });
//! let Ok(Step::Applied { record, .. }) = step(None, &begin) else { panic!("begin") };
//! assert_eq!(record.status, UploadStatus::Pending);
//!
//! let half = event(3, EventPayload::Progress { bytes_sent: 25_000_000, progress: 50, upload_speed: Some(1.5) });
//! let Ok(Step::Applied { record, .. }) = step(Some(&record), &half) else { panic!("progress") };
//! assert_eq!((record.status, record.progress), (UploadStatus::Uploading, 50));
//!
//! // A resend of an older report arrives late: the row does not move backwards.
//! let late = event(2, EventPayload::Progress { bytes_sent: 5_000_000, progress: 10, upload_speed: None });
//! assert_eq!(step(Some(&record), &late), Ok(Step::Superseded));
//!
//! let done = event(4, EventPayload::Complete { video_id: None });
//! let Ok(Step::Applied { record, .. }) = step(Some(&record), &done) else { panic!("complete") };
//! assert_eq!(record.status, UploadStatus::Completed);
//!
//! // Completed is terminal: more progress is refused with a typed reason.
//! let after = event(5, EventPayload::Progress { bytes_sent: 1, progress: 1, upload_speed: None });
//! assert_eq!(step(Some(&record), &after), Err(RejectReason::TerminalState));
//! ```
#![deny(missing_docs)]

pub mod aggregate;
pub mod async_storage;
pub mod bounds;
pub mod derive;
pub mod display;
pub mod event;
pub mod limits;
pub mod monitoring;
pub mod record;
pub mod rows;
pub mod speed;
pub mod stale;
pub mod state_machine;
pub mod status;
pub mod timeout;
pub mod verdict;

#[cfg(feature = "client")]
pub mod client;

pub use event::{DeviceInfo, EventPayload, UploadEvent};
pub use record::UploadRecord;
pub use state_machine::{Step, apply, apply_batch};
pub use status::{UploadSource, UploadStage, UploadStatus};
pub use verdict::{EventOutcome, EventVerdict, IngestResponse, RejectReason};
