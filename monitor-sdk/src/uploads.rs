//! The device's uploads in memory: each one's record (the validation state), speed estimate,
//! last progress write and newest unwritten progress; and the one place where a call meets
//! monitor-core's state machine.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use monitor_core::speed::SpeedEstimator;
use monitor_core::{apply, EventPayload, RejectReason, Step, UploadEvent, UploadRecord};
use uuid::Uuid;

use crate::error::SdkError;

/// The caller the device validates as. The server checks the real user (`auth.uid()`); on
/// the device there is one user, so a fixed id stands for them and `begin` events carry no
/// `user_id`.
pub const LOCAL_CALLER: Uuid = Uuid::nil();

/// Validates `event` against the upload's current record with monitor-core's state machine
/// and returns the record after it: the single place every SDK call is checked.
///
/// # Errors
///
/// [`SdkError::Rejected`] with the rule the event breaks.
pub fn validate(
    current: Option<&UploadRecord>,
    event: &UploadEvent,
) -> Result<UploadRecord, SdkError> {
    // The caller is the upload's owner as the device knows it: [`LOCAL_CALLER`], or the
    // user an imported AsyncStorage entry names (the server checks it against the token).
    let caller = match (&event.payload, current) {
        (
            EventPayload::Begin {
                user_id: Some(user),
                ..
            },
            None,
        ) => *user,
        (_, Some(row)) => row.user_id,
        _ => LOCAL_CALLER,
    };
    match apply(current, event, caller, event.at) {
        Ok(Step::Applied { mut record, .. }) => {
            // Metadata lives in the uploads table only: the in-memory copy is what the hot
            // path clones on every progress report, and no rule reads it after `begin`.
            record.metadata = serde_json::Value::Null;
            Ok(record)
        }
        // Every event the SDK makes takes `last_seq + 1`, so this is unreachable in
        // practice; answer it like the server would answer a stale report.
        Ok(Step::Superseded) => Err(SdkError::Rejected(RejectReason::InvalidTransition)),
        Err(reason) => Err(SdkError::Rejected(reason)),
    }
}

/// A progress report kept in memory until the rate limiter lets it through.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoalescedProgress {
    /// Bytes sent.
    pub bytes_sent: i64,
    /// Percent, floored.
    pub progress: i32,
    /// MB/s, when estimated.
    pub upload_speed: Option<f64>,
    /// Device time of the report.
    pub at: DateTime<Utc>,
}

impl CoalescedProgress {
    /// The event payload.
    pub fn payload(&self) -> EventPayload {
        EventPayload::Progress {
            bytes_sent: self.bytes_sent,
            progress: self.progress,
            upload_speed: self.upload_speed,
        }
    }
}

/// One upload as the device tracks it.
#[derive(Debug, Clone)]
pub struct Tracked {
    /// The record as the outbox has it (what the server will have once delivered).
    pub record: UploadRecord,
    /// Smoothed MB/s from the progress reports.
    pub speed: SpeedEstimator,
    /// Clock time of the last progress written to the outbox.
    pub last_progress_write: Option<Duration>,
    /// The newest progress not yet written.
    pub coalesced: Option<CoalescedProgress>,
    /// Begun (or retried) by this process: `recover_after_restart` leaves it alone.
    pub live: bool,
}

impl Tracked {
    /// Tracking for a record read from the outbox or just validated.
    pub fn new(record: UploadRecord, live: bool) -> Self {
        Tracked {
            record,
            speed: SpeedEstimator::new(),
            last_progress_write: None,
            coalesced: None,
            live,
        }
    }
}

/// Every upload of the device, by id and by the app's local id.
#[derive(Debug, Default)]
pub struct Uploads {
    by_id: HashMap<Uuid, Tracked>,
    by_local_id: HashMap<String, Uuid>,
}

impl Uploads {
    /// Tracks `records` (as loaded from the outbox; none is live).
    pub fn from_records(records: Vec<UploadRecord>) -> Self {
        let mut uploads = Uploads::default();
        for record in records {
            uploads.insert(Tracked::new(record, false));
        }
        uploads
    }

    /// Adds or replaces an upload.
    pub fn insert(&mut self, tracked: Tracked) {
        self.by_local_id
            .insert(tracked.record.local_id.clone(), tracked.record.id);
        self.by_id.insert(tracked.record.id, tracked);
    }

    /// The upload with this id, to change.
    ///
    /// # Errors
    ///
    /// [`SdkError::UnknownUpload`] when the device does not know it.
    pub fn get_mut(&mut self, id: &Uuid) -> Result<&mut Tracked, SdkError> {
        self.by_id.get_mut(id).ok_or(SdkError::UnknownUpload(*id))
    }

    /// The upload the app knows as `local_id`.
    pub fn by_local_id(&self, local_id: &str) -> Option<&Tracked> {
        self.by_local_id
            .get(local_id)
            .and_then(|id| self.by_id.get(id))
    }

    /// Every upload.
    pub fn iter(&self) -> impl Iterator<Item = &Tracked> {
        self.by_id.values()
    }

    /// Ids of the uploads holding unwritten progress.
    pub fn with_coalesced(&self) -> Vec<Uuid> {
        self.by_id
            .values()
            .filter(|t| t.coalesced.is_some())
            .map(|t| t.record.id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Device time of the fixtures: 2026-11-24 09:00 UTC.
    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_510_800, 0).unwrap_or_default()
    }

    fn event(seq: i64, payload: EventPayload) -> UploadEvent {
        UploadEvent {
            id: Uuid::from_u128(seq as u128),
            upload_id: Uuid::from_u128(0xaa),
            seq,
            at: at(),
            payload,
        }
    }

    fn begun() -> UploadRecord {
        let begin = event(
            1,
            EventPayload::Begin {
                local_id: "recorded_1_abc".into(),
                video_title: Some("Vacances".into()),
                filename: "backup_1.mov".into(),
                file_size: Some(100),
                source: None,
                metadata: Some(serde_json::json!({"duration": 12})),
                device: None,
                user_id: None,
            },
        );
        validate(None, &begin).unwrap()
    }

    #[test]
    fn progress_above_the_file_size_is_refused_with_the_rule() {
        let record = begun();
        let too_far = event(
            2,
            EventPayload::Progress {
                bytes_sent: 101,
                progress: 100,
                upload_speed: None,
            },
        );
        assert!(matches!(
            validate(Some(&record), &too_far),
            Err(SdkError::Rejected(RejectReason::OutOfRange))
        ));
    }

    #[test]
    fn the_record_kept_in_memory_carries_no_metadata_but_keeps_the_duration() {
        let record = begun();
        assert_eq!(record.metadata, serde_json::Value::Null);
        assert_eq!(record.duration, Some(12));
    }

    #[test]
    fn a_report_after_completion_is_a_terminal_state_error() {
        let record = begun();
        let done = validate(
            Some(&record),
            &event(2, EventPayload::Complete { video_id: None }),
        )
        .unwrap();
        let late = event(
            3,
            EventPayload::Stage {
                stage: monitor_core::UploadStage::CreatingRecord,
            },
        );
        assert!(matches!(
            validate(Some(&done), &late),
            Err(SdkError::Rejected(RejectReason::TerminalState))
        ));
    }
}
