//! The server's answer to a batch: one verdict per event, and the pace it asks for.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why an event was refused. The SDK dead-letters rejected events instead of retrying them.
///
/// ```
/// use monitor_core::RejectReason;
/// let json = serde_json::to_string(&RejectReason::LocalIdConflict).unwrap();
/// assert_eq!(json, r#""local_id_conflict""#);
/// assert_eq!(serde_json::from_str::<RejectReason>(&json).unwrap(), RejectReason::LocalIdConflict);
/// ```
///
/// Deliberately not `#[non_exhaustive]`: a new reason is a change of the contract that every
/// copy must follow (the SDK's uniffi `RuleViolation`, the SQL), so adding one breaks their
/// exhaustive `match`es at compile time instead of falling silently into a catch-all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The event object lacks a field or has one of the wrong type.
    InvalidPayload,
    /// Not a `begin`, and the upload is unknown (or not the caller's).
    UnknownUpload,
    /// A `begin` for an upload that already exists.
    AlreadyBegun,
    /// `local_id` already belongs to another upload of this user.
    LocalIdConflict,
    /// `user_id` is not the caller, or the upload belongs to someone else.
    Forbidden,
    /// Progress, stage, complete or fail on a completed or failed upload.
    TerminalState,
    /// A transition the state machine does not allow (retry of a non-failed upload).
    InvalidTransition,
    /// A stage before the current one.
    StageOrder,
    /// Progress outside 0–100, negative bytes or bytes above the file size.
    OutOfRange,
    /// More than 3 retries.
    RetryLimit,
}

impl RejectReason {
    /// The wire and SQL spelling.
    ///
    /// ```
    /// use monitor_core::RejectReason;
    /// assert_eq!(RejectReason::TerminalState.as_str(), "terminal_state");
    /// // The same spelling as on the wire.
    /// assert_eq!(serde_json::to_value(RejectReason::OutOfRange).unwrap(), RejectReason::OutOfRange.as_str());
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::InvalidPayload => "invalid_payload",
            RejectReason::UnknownUpload => "unknown_upload",
            RejectReason::AlreadyBegun => "already_begun",
            RejectReason::LocalIdConflict => "local_id_conflict",
            RejectReason::Forbidden => "forbidden",
            RejectReason::TerminalState => "terminal_state",
            RejectReason::InvalidTransition => "invalid_transition",
            RejectReason::StageOrder => "stage_order",
            RejectReason::OutOfRange => "out_of_range",
            RejectReason::RetryLimit => "retry_limit",
        }
    }
}

/// What became of one event.
///
/// ```
/// use monitor_core::{EventOutcome, RejectReason};
/// let superseded = serde_json::to_string(&EventOutcome::Superseded).unwrap();
/// assert_eq!(superseded, r#"{"outcome":"superseded"}"#);
/// let refused = serde_json::to_string(&EventOutcome::Rejected(RejectReason::RetryLimit)).unwrap();
/// assert_eq!(refused, r#"{"outcome":"rejected","reason":"retry_limit"}"#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "snake_case")]
pub enum EventOutcome {
    /// Applied to the upload.
    Applied,
    /// Already known by id: replaying changes nothing.
    Duplicate,
    /// Its `seq` is not above the upload's `last_seq`: a newer event covers it.
    Superseded,
    /// Refused, with the reason; never worth sending again.
    Rejected(RejectReason),
}

/// One element of the `results` array.
///
/// ```
/// use monitor_core::{EventOutcome, EventVerdict};
/// let verdict: EventVerdict = serde_json::from_str(
///     r#"{"id":"0192a7b0-0000-7000-8000-000000000001","outcome":"duplicate"}"#,
/// )
/// .unwrap();
/// assert_eq!(verdict.outcome, EventOutcome::Duplicate);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventVerdict {
    /// The event's id.
    pub id: Uuid,
    /// What became of it.
    #[serde(flatten)]
    pub outcome: EventOutcome,
}

/// The JSON `report_upload_events` returns.
///
/// ```
/// use monitor_core::{EventOutcome, IngestResponse, RejectReason};
/// let json = r#"{"results":[
///   {"id":"0192a7b0-0000-7000-8000-000000000001","outcome":"applied"},
///   {"id":"0192a7b0-0000-7000-8000-000000000002","outcome":"rejected","reason":"terminal_state"}],
///   "min_progress_interval_ms":1000}"#;
/// let r: IngestResponse = serde_json::from_str(json).unwrap();
/// assert_eq!(r.results[1].outcome, EventOutcome::Rejected(RejectReason::TerminalState));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestResponse {
    /// One verdict per event, in the order sent.
    pub results: Vec<EventVerdict>,
    /// The least time the device should leave between two progress reports of one upload
    /// (the fleet's pace, a database setting raised under load). Never applies to terminal
    /// events.
    pub min_progress_interval_ms: u64,
}
