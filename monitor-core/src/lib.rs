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
