//! The upload state machine: one event applied to one `upload_queue` row, and a batch applied
//! the way `report_upload_events` applies it.
//!
//! The rules, and the order in which they are checked, are written once in
//! [`crate::event`]'s module docs; this file implements them and the SQL ingest function
//! mirrors them. When the two disagree, the docs decide.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::event::{EventPayload, MAX_RETRIES, UploadEvent};
use crate::limits::{
    MAX_DEVICE_FIELD_CHARS, MAX_ERROR_CODE_CHARS, MAX_ERROR_MESSAGE_CHARS, MAX_FILENAME_CHARS,
    MAX_VIDEO_TITLE_CHARS, check_local_id, check_metadata, cut_chars, speed_in_range,
    time_in_range,
};
use crate::record::UploadRecord;
use crate::status::{UploadSource, UploadStage, UploadStatus};
use crate::verdict::{EventOutcome, EventVerdict, RejectReason};

/// The progress milestones kept in `upload_events`: one row per 10 points keeps the
/// "Détails" log readable (≤ 11 progress rows per attempt) while showing the pace.
const PROGRESS_LOG_STEP: i32 = 10;

/// What applying one event did.
///
/// ```
/// use chrono::{DateTime, Utc};
/// use monitor_core::state_machine::{apply, Step};
/// use monitor_core::{EventPayload, UploadEvent};
/// use uuid::Uuid;
/// let (user, now): (Uuid, DateTime<Utc>) = (Uuid::from_u128(1), "2026-11-24T09:00:00Z".parse().unwrap());
/// let event = |seq: i64, payload: EventPayload| UploadEvent {
///     id: Uuid::from_u128(100 + seq as u128), upload_id: Uuid::from_u128(10), seq, at: now, payload,
/// };
/// let progress = |seq: i64, percent: i32| event(seq, EventPayload::Progress {
///     bytes_sent: 10 * i64::from(percent), progress: percent, upload_speed: None,
/// });
/// let begin = event(1, EventPayload::Begin {
///     local_id: "import_1_0".into(), video_title: None, filename: "a.mov".into(),
///     file_size: Some(1_000), source: None, metadata: None, device: None, user_id: None,
/// });
/// let Ok(Step::Applied { record, .. }) = apply(None, &begin, user, now) else { panic!() };
/// let Ok(Step::Applied { record, .. }) = apply(Some(&record), &progress(3, 50), user, now) else {
///     panic!()
/// };
/// // Seq 2, sent before seq 3 but arriving after it, changes nothing.
/// assert_eq!(apply(Some(&record), &progress(2, 40), user, now), Ok(Step::Superseded));
/// assert_eq!(record.progress, 50);
/// ```
// The row is returned by value on purpose: the step is consumed at once (inserted into the
// caller's map), and other crates already match on this shape; a Box would only add an
// allocation per event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The event was accepted; `record` is the row after it.
    Applied {
        /// The upload after the event.
        record: UploadRecord,
        /// Whether the event is kept in `upload_events` (see the log rule in
        /// [`crate::event`]); only logged ids are remembered for duplicate detection.
        logged: bool,
    },
    /// The event's `seq` is not above the row's `last_seq`: a newer event covers it and the
    /// row is unchanged.
    Superseded,
}

/// Applies one event to one upload.
///
/// `current` is the row whose id is `event.upload_id`, or None when the caller does not
/// know the upload (a row with another id is treated as None). `caller` is `auth.uid()`,
/// `now` the server time written to `started_at`, `updated_at` and `completed_at`.
///
/// This function cannot see the caller's other uploads, so it never answers
/// `local_id_conflict`; [`apply_batch`] does.
///
/// ```
/// use chrono::{DateTime, Utc};
/// use monitor_core::state_machine::{apply, Step};
/// use monitor_core::{EventPayload, UploadEvent, UploadStatus};
/// use uuid::Uuid;
///
/// let user = Uuid::from_u128(1);
/// let now: DateTime<Utc> = "2026-11-24T09:00:00Z".parse().unwrap();
/// let begin = UploadEvent {
///     id: Uuid::from_u128(100),
///     upload_id: Uuid::from_u128(10),
///     seq: 1,
///     at: now,
///     payload: EventPayload::Begin {
///         local_id: "import_1_0".into(), video_title: None, filename: "a.mov".into(),
///         file_size: Some(1000), source: None, metadata: None, device: None, user_id: None,
///     },
/// };
/// let Ok(Step::Applied { record, logged }) = apply(None, &begin, user, now) else { panic!() };
/// assert_eq!(record.status, UploadStatus::Pending);
/// assert!(logged);
/// ```
///
/// # Errors
///
/// The [`RejectReason`] of the first rule the event breaks, in the order the event docs give.
pub fn apply(
    current: Option<&UploadRecord>,
    event: &UploadEvent,
    caller: Uuid,
    now: DateTime<Utc>,
) -> Result<Step, RejectReason> {
    check_shape(event)?;
    if let EventPayload::Begin {
        user_id: Some(claimed),
        ..
    } = &event.payload
        && *claimed != caller
    {
        return Err(RejectReason::Forbidden);
    }
    let current = current.filter(|row| row.id == event.upload_id);
    let Some(row) = current else {
        return match &event.payload {
            EventPayload::Begin { .. } => Ok(Step::Applied {
                record: begin_record(event, caller, now),
                logged: true,
            }),
            _ => Err(RejectReason::UnknownUpload),
        };
    };
    if row.user_id != caller {
        return Err(match event.payload {
            EventPayload::Begin { .. } => RejectReason::Forbidden,
            _ => RejectReason::UnknownUpload,
        });
    }
    if event.seq <= row.last_seq {
        return Ok(Step::Superseded);
    }
    let mut next = row.clone();
    let logged = match &event.payload {
        EventPayload::Begin { .. } => return Err(RejectReason::AlreadyBegun),
        EventPayload::Progress {
            bytes_sent,
            progress,
            upload_speed,
        } => {
            refuse_terminal(row)?;
            let in_range = progress_in_range(*bytes_sent, *progress, *upload_speed)
                && row.file_size.is_none_or(|size| *bytes_sent <= size);
            if !in_range {
                return Err(RejectReason::OutOfRange);
            }
            let first_of_attempt = row.progress == 0 && row.bytes_sent == 0;
            next.status = UploadStatus::Uploading;
            next.stage = Some(
                row.stage
                    .map_or(UploadStage::Uploading, |s| s.max(UploadStage::Uploading)),
            );
            next.progress = row.progress.max(*progress);
            next.bytes_sent = row.bytes_sent.max(*bytes_sent);
            if upload_speed.is_some() {
                next.upload_speed = *upload_speed;
            }
            first_of_attempt || next.progress / PROGRESS_LOG_STEP > row.progress / PROGRESS_LOG_STEP
        }
        EventPayload::Stage { stage } => {
            refuse_terminal(row)?;
            if row.stage.is_some_and(|current| *stage < current) {
                return Err(RejectReason::StageOrder);
            }
            next.stage = Some(*stage);
            if *stage >= UploadStage::Uploading && row.status == UploadStatus::Pending {
                next.status = UploadStatus::Uploading;
            }
            true
        }
        EventPayload::Complete { video_id } => {
            refuse_terminal(row)?;
            next.status = UploadStatus::Completed;
            next.progress = 100;
            if let Some(size) = row.file_size {
                next.bytes_sent = size;
            }
            next.completed_at = Some(now);
            if video_id.is_some() {
                next.video_id = *video_id;
            }
            true
        }
        EventPayload::Fail {
            error_code,
            error_message,
            retry_count,
        } => {
            refuse_terminal(row)?;
            if retry_count.is_some_and(|n| n > i32::from(MAX_RETRIES)) {
                return Err(RejectReason::RetryLimit);
            }
            next.status = UploadStatus::Failed;
            next.error_code = Some(cut_chars(error_code, MAX_ERROR_CODE_CHARS));
            next.error_message = Some(cut_chars(error_message, MAX_ERROR_MESSAGE_CHARS));
            next.retry_count = row.retry_count.max(retry_count.unwrap_or(0));
            next.completed_at = Some(now);
            true
        }
        EventPayload::Retry => {
            if row.status != UploadStatus::Failed {
                return Err(RejectReason::InvalidTransition);
            }
            if row.retry_count >= i32::from(MAX_RETRIES) {
                return Err(RejectReason::RetryLimit);
            }
            next.status = UploadStatus::Pending;
            next.stage = Some(UploadStage::Validating);
            next.progress = 0;
            next.bytes_sent = 0;
            next.upload_speed = None;
            next.error_code = None;
            next.error_message = None;
            next.completed_at = None;
            next.retry_requested_at = None;
            next.retry_count = row.retry_count + 1;
            next.started_at = now;
            true
        }
    };
    next.last_seq = event.seq;
    next.client_updated_at = Some(event.at);
    next.updated_at = now;
    Ok(Step::Applied {
        record: next,
        logged,
    })
}

/// Applies a batch the way `report_upload_events(events jsonb)` does, and answers one
/// verdict per event in input order.
///
/// `records` holds every upload row (any user), keyed by id; `known_ids` the event ids
/// already in `upload_events`. The batch rules (in [`crate::event`]'s docs): an id already
/// in `known_ids`, or seen earlier in the same batch, is `duplicate`; the rest are applied
/// in the order (position of the upload's first event in the batch, `seq`, position); a
/// `begin` whose `local_id` belongs to another upload of the caller is
/// `local_id_conflict`. Only ids of logged events join `known_ids`, as only those rows
/// exist in `upload_events`.
///
/// ```
/// use std::collections::{HashMap, HashSet};
/// use monitor_core::state_machine::apply_batch;
/// use monitor_core::{EventOutcome, EventPayload, UploadEvent};
/// use uuid::Uuid;
///
/// let (user, upload) = (Uuid::from_u128(1), Uuid::from_u128(10));
/// let now = "2026-11-24T09:00:00Z".parse().unwrap();
/// let event = |id, seq, payload| UploadEvent { id: Uuid::from_u128(id), upload_id: upload, seq, at: now, payload };
/// let batch = [
///     event(101, 2, EventPayload::Progress { bytes_sent: 500, progress: 50, upload_speed: None }),
///     event(100, 1, EventPayload::Begin { local_id: "l".into(), video_title: None,
///         filename: "a.mov".into(), file_size: Some(1000), source: None, metadata: None,
///         device: None, user_id: None }),
/// ];
/// let (mut rows, mut known) = (HashMap::new(), HashSet::new());
/// let verdicts = apply_batch(&mut rows, &mut known, &batch, user, now);
/// assert!(verdicts.iter().all(|v| v.outcome == EventOutcome::Applied));
/// assert_eq!(rows[&upload].progress, 50);
/// // Replaying the batch changes nothing.
/// let again = apply_batch(&mut rows, &mut known, &batch, user, now);
/// assert!(again.iter().all(|v| v.outcome == EventOutcome::Duplicate));
/// ```
pub fn apply_batch(
    records: &mut HashMap<Uuid, UploadRecord>,
    known_ids: &mut HashSet<Uuid>,
    events: &[UploadEvent],
    caller: Uuid,
    now: DateTime<Utc>,
) -> Vec<EventVerdict> {
    let mut outcomes: Vec<Option<EventOutcome>> = vec![None; events.len()];
    let mut seen = HashSet::with_capacity(events.len());
    let mut upload_rank: HashMap<Uuid, usize> = HashMap::new();
    let mut order = Vec::with_capacity(events.len());
    for (index, event) in events.iter().enumerate() {
        if known_ids.contains(&event.id) || !seen.insert(event.id) {
            outcomes[index] = Some(EventOutcome::Duplicate);
            continue;
        }
        let rank = upload_rank.len();
        let rank = *upload_rank.entry(event.upload_id).or_insert(rank);
        order.push((rank, event.seq, index));
    }
    order.sort_unstable();

    // The caller's (local_id -> upload id) index, built only when the batch begins uploads.
    let mut local_ids: Option<HashMap<String, Uuid>> = None;
    for (_, _, index) in order {
        let event = &events[index];
        let conflict = match &event.payload {
            EventPayload::Begin { local_id, .. } if !records.contains_key(&event.upload_id) => {
                let index = local_ids.get_or_insert_with(|| {
                    records
                        .values()
                        .filter(|row| row.user_id == caller)
                        .map(|row| (row.local_id.clone(), row.id))
                        .collect()
                });
                index
                    .get(local_id)
                    .is_some_and(|owner| *owner != event.upload_id)
            }
            _ => false,
        };
        let result = apply(records.get(&event.upload_id), event, caller, now);
        let outcome = match result {
            // local_id_conflict is checked where apply would create the row: after the
            // shape and user_id checks, which apply makes first.
            Ok(Step::Applied { .. }) if conflict => {
                EventOutcome::Rejected(RejectReason::LocalIdConflict)
            }
            Ok(Step::Applied { record, logged }) => {
                if logged {
                    known_ids.insert(event.id);
                }
                if let (Some(index), EventPayload::Begin { local_id, .. }) =
                    (local_ids.as_mut(), &event.payload)
                {
                    index.insert(local_id.clone(), record.id);
                }
                records.insert(record.id, record);
                EventOutcome::Applied
            }
            Ok(Step::Superseded) => EventOutcome::Superseded,
            Err(reason) => EventOutcome::Rejected(reason),
        };
        outcomes[index] = Some(outcome);
    }
    events
        .iter()
        .zip(outcomes)
        .map(|(event, outcome)| {
            // Every index is either marked duplicate or pushed to `order` and answered
            // above; Duplicate is the harmless answer should that ever not hold.
            let outcome = outcome.unwrap_or(EventOutcome::Duplicate);
            let detail = match outcome {
                EventOutcome::Rejected(RejectReason::InvalidPayload) => {
                    payload_problem(event).map(str::to_string)
                }
                _ => None,
            };
            EventVerdict {
                id: event.id,
                outcome,
                detail,
            }
        })
        .collect()
}

/// The checks that need no row: what the server would refuse whatever the upload's state.
/// The SDK runs it before an event enters its outbox, so bad input fails at the call
/// with a typed reason instead of being dead-lettered later.
///
/// It covers `invalid_payload` (see [`crate::event`]: `seq < 1`, empty `local_id` or
/// `filename`, negative `file_size`, `metadata` not an object, negative `retry_count`),
/// `out_of_range` for a `progress` outside 0–100, a negative `bytes_sent` or a negative
/// or non-finite `upload_speed`, and a `fail`'s `retry_count` above 3 (`retry_limit`). Passing it does not
/// mean [`apply`] will accept the event: the row decides the rest.
///
/// ```
/// use chrono::Utc;
/// use monitor_core::state_machine::validate_event;
/// use monitor_core::{EventPayload, RejectReason, UploadEvent};
/// use uuid::Uuid;
/// let event = UploadEvent { id: Uuid::from_u128(1), upload_id: Uuid::from_u128(2), seq: 3,
///     at: Utc::now(), payload: EventPayload::Progress { bytes_sent: 10, progress: 120, upload_speed: None } };
/// assert_eq!(validate_event(&event), Err(RejectReason::OutOfRange));
/// ```
///
/// # Errors
///
/// The reason the server would give.
pub fn validate_event(event: &UploadEvent) -> Result<(), RejectReason> {
    check_shape(event)?;
    match &event.payload {
        EventPayload::Progress {
            bytes_sent,
            progress,
            upload_speed,
        } if !progress_in_range(*bytes_sent, *progress, *upload_speed) => {
            Err(RejectReason::OutOfRange)
        }
        EventPayload::Fail {
            retry_count: Some(n),
            ..
        } if *n > i32::from(MAX_RETRIES) => Err(RejectReason::RetryLimit),
        _ => Ok(()),
    }
}

/// Stateless checks: what makes an event malformed whatever the upload's state.
fn check_shape(event: &UploadEvent) -> Result<(), RejectReason> {
    match payload_problem(event) {
        None => Ok(()),
        Some(_) => Err(RejectReason::InvalidPayload),
    }
}

/// What makes an event `invalid_payload`, as the verdict's `detail` says it: `<field>: <what
/// it accepts>` for the first field at fault (seq, at, then the payload's fields in
/// [`crate::event`]'s order), the same text `private.ingest_payload_problem` answers in SQL
/// (`tests/ingest_differential.rs` compares them). None for a well-formed event.
///
/// ```
/// use chrono::Utc;
/// use monitor_core::state_machine::payload_problem;
/// use monitor_core::{EventPayload, UploadEvent};
/// use uuid::Uuid;
/// let event = UploadEvent { id: Uuid::from_u128(1), upload_id: Uuid::from_u128(2), seq: 0,
///     at: Utc::now(), payload: EventPayload::Retry };
/// assert_eq!(payload_problem(&event), Some("seq: an integer of at least 1"));
/// ```
pub fn payload_problem(event: &UploadEvent) -> Option<&'static str> {
    if event.seq < 1 {
        return Some("seq: an integer of at least 1");
    }
    if !time_in_range(event.at) {
        return Some("at: an RFC 3339 time from 2000-01-01 to before 2100-01-01");
    }
    match &event.payload {
        EventPayload::Begin {
            local_id,
            filename,
            file_size,
            metadata,
            ..
        } => {
            if check_local_id(local_id).is_err() {
                Some("local_id: a non-empty string of at most 255 characters, without NUL")
            } else if filename.is_empty() {
                Some("filename: a non-empty string")
            } else if file_size.is_some_and(|size| size < 0) {
                Some("file_size: an integer of at least 0, null or absent")
            } else if metadata
                .as_ref()
                .is_some_and(|m| !m.is_object() || check_metadata(m).is_err())
            {
                Some("metadata: a JSON object of at most 16384 bytes, null or absent")
            } else {
                None
            }
        }
        EventPayload::Fail {
            retry_count: Some(n),
            ..
        } if *n < 0 => Some("retry_count: an integer of at least 0, null or absent"),
        _ => None,
    }
}

/// A progress report's own ranges: percent 0–100, bytes not negative, speed finite, not
/// negative and not absurd ([`crate::limits::MAX_UPLOAD_SPEED_MBPS`]); bytes against the
/// file size need the row.
fn progress_in_range(bytes_sent: i64, progress: i32, upload_speed: Option<f64>) -> bool {
    (0..=100).contains(&progress) && bytes_sent >= 0 && upload_speed.is_none_or(speed_in_range)
}

fn refuse_terminal(row: &UploadRecord) -> Result<(), RejectReason> {
    if row.status.is_terminal() {
        Err(RejectReason::TerminalState)
    } else {
        Ok(())
    }
}

/// The row a valid `begin` creates.
fn begin_record(event: &UploadEvent, caller: Uuid, now: DateTime<Utc>) -> UploadRecord {
    let (local_id, video_title, filename, file_size, source, metadata, device) =
        match &event.payload {
            EventPayload::Begin {
                local_id,
                video_title,
                filename,
                file_size,
                source,
                metadata,
                device,
                ..
            } => (
                local_id.clone(),
                video_title.clone(),
                filename.clone(),
                *file_size,
                *source,
                metadata.clone(),
                device,
            ),
            // Only called for Begin payloads; an empty row is never produced in practice.
            _ => (String::new(), None, String::new(), None, None, None, &None),
        };
    let metadata = metadata.unwrap_or_else(|| serde_json::Value::Object(Default::default()));
    let cut_device = |field: &Option<String>| {
        field
            .as_deref()
            .map(|text| cut_chars(text, MAX_DEVICE_FIELD_CHARS))
    };
    let device = device.as_ref().map(|d| crate::event::DeviceInfo {
        platform: cut_device(&d.platform),
        os_version: cut_device(&d.os_version),
        app_version: cut_device(&d.app_version),
        model: cut_device(&d.model),
    });
    UploadRecord {
        id: event.upload_id,
        user_id: caller,
        local_id,
        video_title: video_title.map(|title| cut_chars(&title, MAX_VIDEO_TITLE_CHARS)),
        filename: cut_chars(&filename, MAX_FILENAME_CHARS),
        file_size,
        status: UploadStatus::Pending,
        stage: Some(UploadStage::Validating),
        progress: 0,
        bytes_sent: 0,
        upload_speed: None,
        retry_count: 0,
        error_code: None,
        error_message: None,
        source: source.or_else(|| UploadSource::from_metadata(&metadata)),
        duration: duration_from_metadata(&metadata),
        device_info: device.as_ref().and_then(|d| serde_json::to_value(d).ok()),
        metadata,
        video_id: None,
        last_seq: event.seq,
        started_at: now,
        completed_at: None,
        updated_at: now,
        client_updated_at: Some(event.at),
        retry_requested_at: None,
    }
}

/// `metadata.duration` in whole seconds: a JSON number from 0 to `i32::MAX`, rounded half
/// away from zero (as PostgreSQL's `round(numeric)`); anything else gives None.
///
/// ```
/// use monitor_core::state_machine::duration_from_metadata;
/// assert_eq!(duration_from_metadata(&serde_json::json!({"duration": 12.5})), Some(13));
/// assert_eq!(duration_from_metadata(&serde_json::json!({"duration": "12"})), None);
/// ```
pub fn duration_from_metadata(metadata: &serde_json::Value) -> Option<i32> {
    let seconds = metadata.get("duration")?.as_f64()?;
    if !(0.0..=f64::from(i32::MAX)).contains(&seconds) {
        return None;
    }
    // In range and finite (checked above), so the cast cannot saturate.
    let rounded = seconds.round() as i64;
    i32::try_from(rounded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{MAX_LOCAL_ID_CHARS, MAX_METADATA_BYTES, jsonb_text_len};

    /// The uploading phone's user.
    const USER: Uuid = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0001);
    /// Someone else, who must never touch USER's uploads.
    const OTHER_USER: Uuid = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0002);
    /// The upload under test (a UUIDv7 from the device).
    const UPLOAD: Uuid = Uuid::from_u128(0x0192_a7b0_0000_7000_8000_0000_0000_00aa);
    /// A second upload of the same user.
    const UPLOAD_2: Uuid = Uuid::from_u128(0x0192_a7b0_0000_7000_8000_0000_0000_00bb);

    /// Server time of the first event: 2026-11-24 09:00 UTC.
    fn t0() -> DateTime<Utc> {
        "2026-11-24T09:00:00Z".parse().unwrap()
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        t0() + chrono::Duration::seconds(seconds)
    }

    fn event(id: u128, seq: i64, payload: EventPayload) -> UploadEvent {
        UploadEvent {
            id: Uuid::from_u128(id),
            upload_id: UPLOAD,
            seq,
            at: at(seq),
            payload,
        }
    }

    fn begin_payload(local_id: &str, file_size: Option<i64>) -> EventPayload {
        EventPayload::Begin {
            local_id: local_id.into(),
            video_title: Some("Vacances".into()),
            filename: "backup_123.mov".into(),
            file_size,
            source: None,
            metadata: None,
            device: None,
            user_id: None,
        }
    }

    fn progress(bytes_sent: i64, progress: i32) -> EventPayload {
        EventPayload::Progress {
            bytes_sent,
            progress,
            upload_speed: Some(1.5),
        }
    }

    fn fail(retry_count: Option<i32>) -> EventPayload {
        EventPayload::Fail {
            error_code: "network".into(),
            error_message: "Network request failed".into(),
            retry_count,
        }
    }

    /// Applies and expects an accepted event; returns the new row.
    fn applied(row: Option<&UploadRecord>, e: &UploadEvent) -> UploadRecord {
        match apply(row, e, USER, at(e.seq)) {
            Ok(Step::Applied { record, .. }) => record,
            other => panic!("expected applied, got {other:?}"),
        }
    }

    fn rejected(row: Option<&UploadRecord>, e: &UploadEvent) -> RejectReason {
        match apply(row, e, USER, at(e.seq)) {
            Err(reason) => reason,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    /// A begun upload of 1000 bytes at seq 1.
    fn begun() -> UploadRecord {
        applied(None, &event(1, 1, begin_payload("import_1_0", Some(1000))))
    }

    fn logged(row: &UploadRecord, e: &UploadEvent) -> bool {
        match apply(Some(row), e, USER, at(e.seq)) {
            Ok(Step::Applied { logged, .. }) => logged,
            other => panic!("expected applied, got {other:?}"),
        }
    }

    #[test]
    fn begin_creates_a_pending_upload_owned_by_the_caller() {
        let row = begun();
        assert_eq!(row.id, UPLOAD);
        assert_eq!(row.user_id, USER);
        assert_eq!(row.status, UploadStatus::Pending);
        assert_eq!(row.stage, Some(UploadStage::Validating));
        assert_eq!((row.progress, row.bytes_sent, row.retry_count), (0, 0, 0));
        assert_eq!(row.metadata, serde_json::json!({}));
        assert_eq!(row.started_at, at(1));
        assert_eq!(row.updated_at, at(1));
        assert_eq!(row.client_updated_at, Some(at(1)));
        assert_eq!(row.last_seq, 1);
    }

    #[test]
    fn begin_takes_source_and_duration_from_the_app_metadata() {
        let payload = EventPayload::Begin {
            local_id: "recorded_1_abc".into(),
            video_title: None,
            filename: "backup_1.mov".into(),
            file_size: None,
            source: None,
            metadata: Some(serde_json::json!({"isRecorded": true, "duration": 41.5})),
            device: Some(crate::event::DeviceInfo {
                platform: Some("ios".into()),
                ..Default::default()
            }),
            user_id: Some(USER),
        };
        let row = applied(None, &event(1, 1, payload));
        assert_eq!(row.source, Some(UploadSource::Recorded));
        assert_eq!(row.duration, Some(42));
        assert_eq!(
            row.device_info,
            Some(serde_json::json!({"platform": "ios"}))
        );
    }

    #[test]
    fn an_invalid_payload_verdict_names_the_field_and_no_other_verdict_has_a_detail() {
        let (mut rows, mut known) = (HashMap::new(), HashSet::new());
        let batch = [
            event(1, 1, begin_payload("", Some(1))),
            event(2, 1, begin_payload("a", Some(-1))),
            event(3, 1, begin_payload("a", Some(1000))),
            event(
                4,
                2,
                EventPayload::Progress {
                    bytes_sent: 10,
                    progress: 120,
                    upload_speed: None,
                },
            ),
        ];
        let verdicts = apply_batch(&mut rows, &mut known, &batch, USER, t0());
        let details: Vec<(EventOutcome, Option<&str>)> = verdicts
            .iter()
            .map(|v| (v.outcome, v.detail.as_deref()))
            .collect();
        assert_eq!(
            details,
            [
                (
                    EventOutcome::Rejected(RejectReason::InvalidPayload),
                    Some("local_id: a non-empty string of at most 255 characters, without NUL")
                ),
                (
                    EventOutcome::Rejected(RejectReason::InvalidPayload),
                    Some("file_size: an integer of at least 0, null or absent")
                ),
                (EventOutcome::Applied, None),
                (EventOutcome::Rejected(RejectReason::OutOfRange), None),
            ]
        );
    }

    #[test]
    fn the_details_state_the_limits_of_limits_rs() {
        let long_id = event(
            1,
            1,
            begin_payload(&"x".repeat(MAX_LOCAL_ID_CHARS + 1), None),
        );
        assert!(
            payload_problem(&long_id)
                .is_some_and(|d| d.contains(&format!("at most {MAX_LOCAL_ID_CHARS} characters")))
        );
        let big = EventPayload::Begin {
            local_id: "a".into(),
            video_title: None,
            filename: "a.mov".into(),
            file_size: None,
            source: None,
            metadata: Some(serde_json::json!({"k": "x".repeat(MAX_METADATA_BYTES)})),
            device: None,
            user_id: None,
        };
        assert!(
            payload_problem(&event(1, 1, big))
                .is_some_and(|d| d.contains(&format!("at most {MAX_METADATA_BYTES} bytes")))
        );
    }

    #[test]
    fn begin_with_empty_names_or_negative_size_is_invalid_payload() {
        for payload in [
            begin_payload("", Some(1)),
            begin_payload("a", Some(-1)),
            EventPayload::Begin {
                local_id: "a".into(),
                video_title: None,
                filename: String::new(),
                file_size: None,
                source: None,
                metadata: None,
                device: None,
                user_id: None,
            },
            EventPayload::Begin {
                local_id: "a".into(),
                video_title: None,
                filename: "a.mov".into(),
                file_size: None,
                source: None,
                metadata: Some(serde_json::json!([1])),
                device: None,
                user_id: None,
            },
        ] {
            assert_eq!(
                rejected(None, &event(1, 1, payload)),
                RejectReason::InvalidPayload
            );
        }
    }

    fn begin_with(local_id: String, metadata: Option<serde_json::Value>) -> EventPayload {
        EventPayload::Begin {
            local_id,
            video_title: None,
            filename: "a.mov".into(),
            file_size: None,
            source: None,
            metadata,
            device: None,
            user_id: None,
        }
    }

    #[test]
    fn a_local_id_longer_than_its_limit_is_invalid_payload_not_a_failed_batch() {
        let at_limit = "é".repeat(MAX_LOCAL_ID_CHARS);
        applied(None, &event(1, 1, begin_with(at_limit, None)));
        let too_long = "x".repeat(MAX_LOCAL_ID_CHARS + 1);
        assert_eq!(
            rejected(None, &event(1, 1, begin_with(too_long, None))),
            RejectReason::InvalidPayload
        );
    }

    #[test]
    fn metadata_larger_than_its_limit_is_invalid_payload() {
        // {"k": "xxx…"} is 9 bytes plus the string: fill it to the limit exactly.
        let fits = serde_json::json!({ "k": "x".repeat(MAX_METADATA_BYTES - 9) });
        assert_eq!(jsonb_text_len(&fits), MAX_METADATA_BYTES);
        applied(None, &event(1, 1, begin_with("a".into(), Some(fits))));
        let over = serde_json::json!({ "k": "x".repeat(MAX_METADATA_BYTES - 8) });
        assert_eq!(
            rejected(None, &event(1, 1, begin_with("a".into(), Some(over)))),
            RejectReason::InvalidPayload
        );
    }

    #[test]
    fn long_display_texts_are_cut_when_stored_not_refused() {
        let payload = EventPayload::Begin {
            local_id: "a".into(),
            video_title: Some("t".repeat(MAX_VIDEO_TITLE_CHARS * 3)),
            filename: "f".repeat(MAX_FILENAME_CHARS + 1),
            file_size: None,
            source: None,
            metadata: None,
            device: Some(crate::event::DeviceInfo {
                model: Some("m".repeat(1_000_000)),
                ..Default::default()
            }),
            user_id: None,
        };
        let row = applied(None, &event(1, 1, payload));
        assert_eq!(
            row.video_title.as_ref().map(String::len),
            Some(MAX_VIDEO_TITLE_CHARS)
        );
        assert_eq!(row.filename.len(), MAX_FILENAME_CHARS);
        assert_eq!(
            row.device_info,
            Some(serde_json::json!({ "model": "m".repeat(MAX_DEVICE_FIELD_CHARS) }))
        );
        let failure = EventPayload::Fail {
            error_code: "c".repeat(MAX_ERROR_CODE_CHARS + 5),
            error_message: "boom".into(),
            retry_count: None,
        };
        let row = applied(Some(&row), &event(2, 2, failure));
        assert_eq!(row.error_code.map(|c| c.len()), Some(MAX_ERROR_CODE_CHARS));
    }

    #[test]
    fn a_device_time_outside_2000_to_2100_is_invalid_payload() {
        let row = begun();
        for at in [
            "1970-01-01T00:00:00Z",
            "2100-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
        ] {
            let mut e = event(2, 2, progress(1, 1));
            e.at = at.parse().unwrap();
            assert_eq!(
                rejected(Some(&row), &e),
                RejectReason::InvalidPayload,
                "{at}"
            );
        }
    }

    #[test]
    fn an_absurd_upload_speed_is_out_of_range() {
        let row = begun();
        let too_fast = EventPayload::Progress {
            bytes_sent: 10,
            progress: 1,
            upload_speed: Some(crate::limits::MAX_UPLOAD_SPEED_MBPS * 2.0),
        };
        assert_eq!(
            rejected(Some(&row), &event(2, 2, too_fast)),
            RejectReason::OutOfRange
        );
    }

    #[test]
    fn normalize_removes_nul_everywhere_and_cuts_to_what_the_server_stores() {
        let mut payload = EventPayload::Begin {
            local_id: "a".into(),
            video_title: Some("Va\0cances".into()),
            filename: "a\0.mov".into(),
            file_size: None,
            source: None,
            metadata: Some(serde_json::json!({"n\u{0}": {"deep": ["x\u{0}y"]}})),
            device: Some(crate::event::DeviceInfo {
                os_version: Some("1\u{0}7".into()),
                ..Default::default()
            }),
            user_id: None,
        };
        payload.normalize();
        let printed = serde_json::to_string(&payload).unwrap();
        assert!(!printed.contains("\\u0000"), "{printed}");
        let row = applied(None, &event(1, 1, payload));
        assert_eq!(row.video_title.as_deref(), Some("Vacances"));
        assert_eq!(row.filename, "a.mov");
        assert_eq!(row.metadata, serde_json::json!({"n": {"deep": ["xy"]}}));
    }

    #[test]
    fn a_seq_below_one_is_invalid_payload() {
        let row = begun();
        assert_eq!(
            rejected(Some(&row), &event(2, 0, progress(1, 1))),
            RejectReason::InvalidPayload
        );
    }

    #[test]
    fn begin_for_someone_else_is_forbidden() {
        let payload = EventPayload::Begin {
            local_id: "a".into(),
            video_title: None,
            filename: "a.mov".into(),
            file_size: None,
            source: None,
            metadata: None,
            device: None,
            user_id: Some(OTHER_USER),
        };
        assert_eq!(
            rejected(None, &event(1, 1, payload)),
            RejectReason::Forbidden
        );
    }

    #[test]
    fn another_users_upload_is_invisible_except_to_begin_which_is_forbidden() {
        let mut row = begun();
        row.user_id = OTHER_USER;
        assert_eq!(
            rejected(Some(&row), &event(2, 2, progress(1, 1))),
            RejectReason::UnknownUpload
        );
        // Even a seq the owner already used says nothing about the owner's stream.
        assert_eq!(
            rejected(Some(&row), &event(3, 1, progress(1, 1))),
            RejectReason::UnknownUpload
        );
        assert_eq!(
            rejected(Some(&row), &event(4, 5, begin_payload("x", None))),
            RejectReason::Forbidden
        );
    }

    #[test]
    fn events_for_an_unknown_upload_are_rejected() {
        assert_eq!(
            rejected(None, &event(2, 2, progress(1, 1))),
            RejectReason::UnknownUpload
        );
        assert_eq!(
            rejected(None, &event(2, 2, EventPayload::Retry)),
            RejectReason::UnknownUpload
        );
    }

    #[test]
    fn a_second_begin_is_already_begun() {
        let row = begun();
        assert_eq!(
            rejected(Some(&row), &event(2, 2, begin_payload("import_1_0", None))),
            RejectReason::AlreadyBegun
        );
    }

    #[test]
    fn progress_moves_a_pending_upload_to_uploading() {
        let row = applied(Some(&begun()), &event(2, 2, progress(400, 40)));
        assert_eq!(row.status, UploadStatus::Uploading);
        assert_eq!(row.stage, Some(UploadStage::Uploading));
        assert_eq!((row.progress, row.bytes_sent), (40, 400));
        assert_eq!(row.upload_speed, Some(1.5));
        assert_eq!(row.last_seq, 2);
    }

    #[test]
    fn late_progress_never_moves_an_upload_backwards() {
        let row = applied(Some(&begun()), &event(3, 3, progress(600, 60)));
        // An older report (lower seq) arriving late is superseded.
        assert_eq!(
            apply(Some(&row), &event(2, 2, progress(400, 40)), USER, at(9)),
            Ok(Step::Superseded)
        );
        // A newer report with smaller numbers keeps the larger ones.
        let row = applied(Some(&row), &event(4, 4, progress(500, 50)));
        assert_eq!((row.progress, row.bytes_sent), (60, 600));
    }

    #[test]
    fn progress_out_of_range_is_refused() {
        let row = begun();
        for payload in [
            progress(0, 101),
            progress(0, -1),
            progress(-1, 0),
            progress(1001, 100),
            EventPayload::Progress {
                bytes_sent: 1,
                progress: 1,
                upload_speed: Some(-0.5),
            },
        ] {
            assert_eq!(
                rejected(Some(&row), &event(2, 2, payload)),
                RejectReason::OutOfRange
            );
        }
    }

    #[test]
    fn progress_keeps_the_later_stage() {
        let row = applied(
            Some(&begun()),
            &event(
                2,
                2,
                EventPayload::Stage {
                    stage: UploadStage::CreatingRecord,
                },
            ),
        );
        let row = applied(Some(&row), &event(3, 3, progress(1000, 100)));
        assert_eq!(row.stage, Some(UploadStage::CreatingRecord));
    }

    #[test]
    fn stages_never_go_back() {
        let stage = |s| EventPayload::Stage { stage: s };
        let row = applied(
            Some(&begun()),
            &event(2, 2, stage(UploadStage::ExtractingMetadata)),
        );
        assert_eq!(row.status, UploadStatus::Pending);
        let row = applied(Some(&row), &event(3, 3, stage(UploadStage::Uploading)));
        assert_eq!(row.status, UploadStatus::Uploading);
        // The same stage again is accepted.
        let row = applied(Some(&row), &event(4, 4, stage(UploadStage::Uploading)));
        assert_eq!(
            rejected(Some(&row), &event(5, 5, stage(UploadStage::Validating))),
            RejectReason::StageOrder
        );
    }

    #[test]
    fn complete_fills_the_upload() {
        let row = applied(Some(&begun()), &event(2, 2, progress(500, 50)));
        let video = Uuid::from_u128(77);
        let row = applied(
            Some(&row),
            &event(
                3,
                3,
                EventPayload::Complete {
                    video_id: Some(video),
                },
            ),
        );
        assert_eq!(row.status, UploadStatus::Completed);
        assert_eq!((row.progress, row.bytes_sent), (100, 1000));
        assert_eq!(row.completed_at, Some(at(3)));
        assert_eq!(row.video_id, Some(video));
    }

    #[test]
    fn terminal_uploads_refuse_everything_but_retry() {
        let done = applied(
            Some(&begun()),
            &event(2, 2, EventPayload::Complete { video_id: None }),
        );
        let failed = applied(Some(&begun()), &event(2, 2, fail(Some(0))));
        for row in [&done, &failed] {
            for payload in [
                progress(1, 1),
                EventPayload::Stage {
                    stage: UploadStage::QueuingTranscription,
                },
                EventPayload::Complete { video_id: None },
                fail(None),
            ] {
                assert_eq!(
                    rejected(Some(row), &event(3, 3, payload)),
                    RejectReason::TerminalState
                );
            }
        }
        assert_eq!(
            rejected(Some(&done), &event(3, 3, EventPayload::Retry)),
            RejectReason::InvalidTransition
        );
        assert_eq!(
            applied(Some(&failed), &event(3, 3, EventPayload::Retry)).status,
            UploadStatus::Pending
        );
    }

    #[test]
    fn fail_records_the_cause_and_keeps_how_far_it_went() {
        let row = applied(Some(&begun()), &event(2, 2, progress(300, 30)));
        let row = applied(Some(&row), &event(3, 3, fail(Some(1))));
        assert_eq!(row.status, UploadStatus::Failed);
        assert_eq!(row.error_code.as_deref(), Some("network"));
        assert_eq!(row.error_message.as_deref(), Some("Network request failed"));
        assert_eq!(row.retry_count, 1);
        assert_eq!(row.completed_at, Some(at(3)));
        assert_eq!(row.progress, 30);
    }

    #[test]
    fn fail_never_lowers_the_retry_count() {
        let mut row = begun();
        row.retry_count = 2;
        assert_eq!(
            applied(Some(&row), &event(2, 2, fail(Some(1)))).retry_count,
            2
        );
        assert_eq!(applied(Some(&row), &event(2, 2, fail(None))).retry_count, 2);
    }

    #[test]
    fn fail_beyond_three_retries_is_retry_limit_and_negative_is_invalid() {
        let row = begun();
        assert_eq!(
            rejected(Some(&row), &event(2, 2, fail(Some(4)))),
            RejectReason::RetryLimit
        );
        assert_eq!(
            rejected(Some(&row), &event(2, 2, fail(Some(-1)))),
            RejectReason::InvalidPayload
        );
    }

    #[test]
    fn oversize_error_messages_are_cut_by_characters() {
        let long = "é".repeat(MAX_ERROR_MESSAGE_CHARS + 10);
        let payload = EventPayload::Fail {
            error_code: "crash".into(),
            error_message: long,
            retry_count: None,
        };
        let row = applied(Some(&begun()), &event(2, 2, payload));
        let message = row.error_message.unwrap();
        assert_eq!(message.chars().count(), MAX_ERROR_MESSAGE_CHARS);
        assert!(message.chars().all(|c| c == 'é'));
    }

    #[test]
    fn retry_starts_a_fresh_attempt() {
        let row = applied(Some(&begun()), &event(2, 2, progress(300, 30)));
        let mut row = applied(Some(&row), &event(3, 3, fail(Some(0))));
        row.retry_requested_at = Some(at(3));
        let row = applied(Some(&row), &event(4, 4, EventPayload::Retry));
        assert_eq!(row.status, UploadStatus::Pending);
        assert_eq!(row.stage, Some(UploadStage::Validating));
        assert_eq!((row.progress, row.bytes_sent), (0, 0));
        assert_eq!(row.retry_count, 1);
        assert_eq!(row.error_code, None);
        assert_eq!(row.error_message, None);
        assert_eq!(row.completed_at, None);
        assert_eq!(row.retry_requested_at, None);
        assert_eq!(row.upload_speed, None);
        assert_eq!(row.started_at, at(4));
    }

    #[test]
    fn a_fourth_retry_is_refused() {
        let mut row = applied(Some(&begun()), &event(2, 2, fail(Some(3))));
        assert_eq!(row.retry_count, 3);
        assert_eq!(
            rejected(Some(&row), &event(3, 3, EventPayload::Retry)),
            RejectReason::RetryLimit
        );
        row.status = UploadStatus::Pending;
        assert_eq!(
            rejected(Some(&row), &event(3, 3, EventPayload::Retry)),
            RejectReason::InvalidTransition
        );
    }

    #[test]
    fn only_first_progress_and_ten_point_milestones_are_logged() {
        let row = begun();
        assert!(logged(&row, &event(2, 2, progress(10, 1))));
        let row = applied(Some(&row), &event(2, 2, progress(10, 1)));
        assert!(!logged(&row, &event(3, 3, progress(90, 9))));
        assert!(logged(&row, &event(3, 3, progress(100, 10))));
        let row = applied(Some(&row), &event(3, 3, progress(250, 25)));
        assert!(!logged(&row, &event(4, 4, progress(290, 29))));
        assert!(logged(&row, &event(4, 4, progress(300, 30))));
        assert!(logged(&row, &event(4, 4, fail(None))));
    }

    #[test]
    fn a_row_with_another_id_is_ignored() {
        let mut row = begun();
        row.id = UPLOAD_2;
        assert_eq!(
            rejected(Some(&row), &event(2, 2, progress(1, 1))),
            RejectReason::UnknownUpload
        );
    }

    fn batch_of(events: &[UploadEvent]) -> (HashMap<Uuid, UploadRecord>, Vec<EventOutcome>) {
        let (mut rows, mut known) = (HashMap::new(), HashSet::new());
        let verdicts = apply_batch(&mut rows, &mut known, events, USER, t0());
        (rows, verdicts.into_iter().map(|v| v.outcome).collect())
    }

    #[test]
    fn a_batch_is_applied_in_seq_order_and_answered_in_input_order() {
        let events = [
            event(3, 3, EventPayload::Complete { video_id: None }),
            event(2, 2, progress(500, 50)),
            event(1, 1, begin_payload("import_1_0", Some(1000))),
        ];
        let (rows, outcomes) = batch_of(&events);
        assert_eq!(outcomes, vec![EventOutcome::Applied; 3]);
        assert_eq!(rows[&UPLOAD].status, UploadStatus::Completed);
        assert_eq!(rows[&UPLOAD].last_seq, 3);
    }

    #[test]
    fn an_id_repeated_in_a_batch_is_a_duplicate_after_its_first_occurrence() {
        let events = [
            event(1, 1, begin_payload("import_1_0", Some(1000))),
            event(2, 2, progress(500, 50)),
            event(2, 2, progress(500, 50)),
        ];
        let (_, outcomes) = batch_of(&events);
        assert_eq!(
            outcomes,
            vec![
                EventOutcome::Applied,
                EventOutcome::Applied,
                EventOutcome::Duplicate
            ]
        );
    }

    #[test]
    fn two_events_with_one_seq_are_first_come_first_applied() {
        let events = [
            event(1, 1, begin_payload("import_1_0", Some(1000))),
            event(2, 2, progress(500, 50)),
            event(3, 2, progress(900, 90)),
        ];
        let (rows, outcomes) = batch_of(&events);
        assert_eq!(outcomes[2], EventOutcome::Superseded);
        assert_eq!(rows[&UPLOAD].progress, 50);
    }

    #[test]
    fn only_logged_events_are_remembered_as_duplicates() {
        let (mut rows, mut known) = (HashMap::new(), HashSet::new());
        let events = [
            event(1, 1, begin_payload("import_1_0", Some(1000))),
            event(2, 2, progress(10, 1)),
            event(3, 3, progress(50, 5)),
        ];
        apply_batch(&mut rows, &mut known, &events, USER, t0());
        assert_eq!(
            known,
            HashSet::from([Uuid::from_u128(1), Uuid::from_u128(2)])
        );
        let again = apply_batch(&mut rows, &mut known, &events, USER, at(60));
        let outcomes: Vec<_> = again.into_iter().map(|v| v.outcome).collect();
        assert_eq!(
            outcomes,
            vec![
                EventOutcome::Duplicate,
                EventOutcome::Duplicate,
                EventOutcome::Superseded
            ]
        );
        assert_eq!(rows[&UPLOAD].updated_at, t0());
    }

    #[test]
    fn a_local_id_is_unique_per_user() {
        let mut second = event(10, 1, begin_payload("import_1_0", None));
        second.upload_id = UPLOAD_2;
        let events = [event(1, 1, begin_payload("import_1_0", Some(1000))), second];
        let (rows, outcomes) = batch_of(&events);
        assert_eq!(
            outcomes,
            vec![
                EventOutcome::Applied,
                EventOutcome::Rejected(RejectReason::LocalIdConflict)
            ]
        );
        assert!(!rows.contains_key(&UPLOAD_2));

        // Another user may use the same local id.
        let mut rows = rows;
        let mut known = HashSet::new();
        let mut theirs = event(11, 1, begin_payload("import_1_0", None));
        theirs.upload_id = UPLOAD_2;
        let verdicts = apply_batch(&mut rows, &mut known, &[theirs], OTHER_USER, t0());
        assert_eq!(verdicts[0].outcome, EventOutcome::Applied);
    }

    #[test]
    fn stateless_validation_refuses_what_no_row_could_accept() {
        assert_eq!(
            validate_event(&event(1, 1, begin_payload("l", Some(5)))),
            Ok(())
        );
        assert_eq!(
            validate_event(&event(1, 1, begin_payload("", None))),
            Err(RejectReason::InvalidPayload)
        );
        assert_eq!(
            validate_event(&event(2, 2, progress(-1, 5))),
            Err(RejectReason::OutOfRange)
        );
        assert_eq!(
            validate_event(&event(3, 3, fail(Some(4)))),
            Err(RejectReason::RetryLimit)
        );
        assert_eq!(
            validate_event(&event(3, 3, fail(Some(-1)))),
            Err(RejectReason::InvalidPayload)
        );
        // Bytes above the size need the row's file_size: not checked here.
        assert_eq!(validate_event(&event(2, 2, progress(1 << 40, 5))), Ok(()));
    }

    #[test]
    fn cut_chars_keeps_short_text_whole() {
        assert_eq!(cut_chars("abc", 3), "abc");
        assert_eq!(cut_chars("abc", 0), "");
    }

    #[test]
    fn duration_outside_the_integer_range_is_dropped() {
        for value in [
            serde_json::json!({"duration": -1}),
            serde_json::json!({"duration": 3e10}),
            serde_json::json!({}),
            serde_json::json!({"duration": null}),
        ] {
            assert_eq!(duration_from_metadata(&value), None, "{value}");
        }
        assert_eq!(
            duration_from_metadata(&serde_json::json!({"duration": 2.4})),
            Some(2)
        );
    }
}
