//! Upload Monitor's domain rules, without I/O.
//!
//! Everything the SDK, the SQL migrations and the dashboard must agree on lives here: the
//! upload statuses and stages ([`status`]), the event protocol the SDK sends to
//! `report_upload_events` ([`event`]) and the server's per-event verdicts ([`verdict`]).
//! The SQL in `migrations/` mirrors these rules; differential tests hold the two together.
#![deny(missing_docs)]

pub mod aggregate;
pub mod async_storage;
pub mod derive;
pub mod display;
pub mod event;
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
pub use state_machine::{apply, apply_batch, Step};
pub use status::{UploadSource, UploadStage, UploadStatus};
pub use verdict::{EventOutcome, EventVerdict, IngestResponse, RejectReason};
