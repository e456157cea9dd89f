//! Reconciling the app's AsyncStorage queue (`@import_queue_state`, `@pending_videos`) with
//! the SDK's uploads, so uploads in flight before the SDK was adopted, or while the app was
//! killed, are reported too. Parsing and the meaning of each item are monitor-core's
//! (`async_storage`); this file decides what to store.
//!
//! Cost: linear in the items (the `@pending_videos` duplicate check is a hash lookup), one
//! outbox transaction per [`IMPORT_CHUNK`] items, and the SDK's locks released between
//! chunks, so the app's other calls (a progress report on another thread) wait at most one
//! chunk. The import benchmark (`cargo run --release -p monitor-sdk --example import_bench`)
//! measures it.

use std::collections::HashSet;

use chrono::Utc;
use monitor_core::async_storage::{
    parse_import_queue_state_lenient, parse_pending_videos_lenient, ImportedUpload, LocalUri,
    IMPORTED_FAILURE_CODE,
};
use monitor_core::{EventPayload, UploadEvent, UploadRecord, UploadStatus};
use uuid::Uuid;

use crate::engine::{lock, Engine};
use crate::error::SdkError;
use crate::outbox::{Enqueued, UploadChange};
use crate::uploads::{validate, Tracked};

/// Items reconciled per outbox transaction and per hold of the SDK's locks: large enough
/// that the commit (one WAL append and sync) is a small part of the time, small enough
/// that a chunk takes a few milliseconds (the longest an app call on another thread waits
/// for an import; see the import benchmark's per-chunk figure).
pub const IMPORT_CHUNK: usize = 512;

/// The `skipped` reason of an item refused at the outbox's caps. It is not stored, so it
/// is still unknown to the SDK: importing again once events have been delivered creates it.
pub const OUTBOX_FULL: &str = "outbox full: not imported now, import again after delivery";

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Items the SDK did not know: new uploads, with their history as events.
    pub created: u32,
    /// Known uploads moved forward to the app's status (completed or failed there).
    pub updated: u32,
    /// Known uploads already as far as the app says.
    pub unchanged: u32,
    /// Items that could not be read or stored (the rest were imported), one message each:
    /// `<local_id>: <reason>` for an item read but refused.
    pub skipped: Vec<String>,
}

/// An item to reconcile and where its file is.
struct Candidate {
    upload: ImportedUpload,
    uri: Option<String>,
}

/// What one candidate becomes, decided under the state lock before anything is stored.
enum Plan {
    /// New upload: its record after the events, the events, its metadata JSON.
    Create {
        record: UploadRecord,
        events: Vec<UploadEvent>,
        metadata_json: String,
    },
    /// Known upload moved forward: its record after the events, the events.
    Update {
        record: UploadRecord,
        events: Vec<UploadEvent>,
    },
}

impl Engine {
    /// Imports the app's AsyncStorage values (the raw strings; None or "" when a key is
    /// absent). Idempotent: items are matched by their app id (`local_id`), so calling it
    /// at every start is safe.
    ///
    /// - A queue item the SDK does not know becomes an upload with the events that bring
    ///   it to the item's state (monitor-core's `ImportedUpload::payloads`), its texts
    ///   cleaned as every SDK event is ([`EventPayload::normalize`]: NUL removed, long
    ///   titles, file names and messages cut to what the server stores).
    /// - A known upload still active locally that the app marks completed or failed is
    ///   reported so; anything else is left as the SDK has it (the SDK's record is newer).
    /// - A `@pending_videos` backup is imported unless a queue item already covers its
    ///   file (same file name at the end of the item's `uri` or as its `filename`): the
    ///   backup service and the queue describe the same recording twice.
    /// - One bad item never stops the others: an item that cannot be read, or whose events
    ///   the rules refuse (a 3,000-character `local_id`, metadata over 16 KiB), is listed in
    ///   [`ImportReport::skipped`] with the reason.
    /// - At the outbox's caps (`max_pending_events` / `max_pending_bytes`) the import
    ///   stops storing: the item refused and every item after it are listed in `skipped`
    ///   with [`OUTBOX_FULL`], counted once in `health().refused`, and not stored, so the
    ///   next import (after the flusher has delivered some events) creates them. Nothing
    ///   already waiting is given up for an import but superseded or oldest progress, as
    ///   for any event at the caps.
    ///
    /// Items are stored [`IMPORT_CHUNK`] at a time, each chunk one transaction: a kill
    /// mid-import leaves whole chunks, and the next import finishes the rest.
    ///
    /// # Errors
    ///
    /// [`SdkError::Import`] when a value is unusable as a whole (not JSON, wrong top-level
    /// type); item-level problems are reported in [`ImportReport::skipped`] instead.
    /// Storage errors (the chunks committed before stay), [`SdkError::ShutDown`].
    pub fn import_async_storage(
        &self,
        pending_videos_json: Option<&str>,
        import_queue_state_json: Option<&str>,
    ) -> Result<ImportReport, SdkError> {
        self.live()?;
        let mut report = ImportReport::default();
        let candidates = candidates(pending_videos_json, import_queue_state_json, &mut report)?;
        let mut rest = candidates.as_slice();
        while !rest.is_empty() {
            let (taken, full) = self.import_chunk(rest, &mut report)?;
            rest = &rest[taken..];
            if full {
                report.skipped.extend(
                    rest.iter()
                        .map(|c| format!("{}: {OUTBOX_FULL}", skipped_id(&c.upload.local_id))),
                );
                break;
            }
        }
        Ok(report)
    }

    /// Plans up to [`IMPORT_CHUNK`] candidates from the front of `candidates` under the
    /// state lock, stores them in one outbox transaction and updates the memory. Returns
    /// how many candidates it consumed (at least one) and whether the outbox was full.
    fn import_chunk(
        &self,
        candidates: &[Candidate],
        report: &mut ImportReport,
    ) -> Result<(usize, bool), SdkError> {
        let mut state = lock(&self.shared.state);
        // Under the state lock: see `Engine::stop_flusher`.
        self.live()?;
        let mut plans: Vec<(&Candidate, Plan)> = Vec::new();
        // local ids planned in this chunk: a second item with the same id must see the
        // first as known, so it waits for the next chunk.
        let mut planned: HashSet<&str> = HashSet::new();
        let mut taken = 0;
        for candidate in candidates.iter().take(IMPORT_CHUNK) {
            let local_id = candidate.upload.local_id.as_str();
            if planned.contains(local_id) {
                break;
            }
            taken += 1;
            let known = state
                .uploads
                .by_local_id(local_id)
                .map(|t| t.record.clone());
            match plan(candidate, known.as_ref()) {
                Ok(Some(p)) => {
                    planned.insert(local_id);
                    plans.push((candidate, p));
                }
                Ok(None) => report.unchanged += 1,
                Err(SdkError::Rejected(reason)) => {
                    report
                        .skipped
                        .push(format!("{}: {}", skipped_id(local_id), reason.as_str()))
                }
                Err(SdkError::InvalidArgument(why)) => report
                    .skipped
                    .push(format!("{}: {why}", skipped_id(local_id))),
                Err(other) => return Err(other),
            }
        }
        if plans.is_empty() {
            return Ok((taken, false));
        }
        let items: Vec<(UploadChange<'_>, &[UploadEvent])> = plans
            .iter()
            .map(|(candidate, p)| match p {
                Plan::Create {
                    record,
                    events,
                    metadata_json,
                } => (
                    UploadChange {
                        record,
                        uri: candidate.uri.as_deref(),
                        metadata_json: Some(metadata_json),
                    },
                    events.as_slice(),
                ),
                Plan::Update { record, events } => (
                    UploadChange {
                        record,
                        uri: candidate.uri.as_deref(),
                        metadata_json: None,
                    },
                    events.as_slice(),
                ),
            })
            .collect();
        let outcomes = lock(&self.shared.outbox).enqueue_all(&items, self.shared.now_ms())?;
        drop(items);
        // Shorter than `plans` when the outbox stopped at a full cap: the plans after the
        // refused one were not tried.
        let full = outcomes
            .last()
            .is_some_and(|o| matches!(o, Err(SdkError::QueueFull { .. })));
        let mut outcomes = outcomes.into_iter();
        for (candidate, p) in plans {
            let outcome = outcomes
                .next()
                .unwrap_or(Err(SdkError::QueueFull { kind: "begin" }));
            match (outcome, p) {
                (Ok(Enqueued::Stored), Plan::Create { record, .. }) => {
                    // Live: the app's queue will process it in this session; recovery
                    // leaves it be.
                    state.uploads.insert(Tracked::new(record, true));
                    report.created += 1;
                }
                (Ok(Enqueued::Stored), Plan::Update { record, .. }) => {
                    if let Ok(tracked) = state.uploads.get_mut(&record.id) {
                        tracked.record = record;
                    }
                    report.updated += 1;
                }
                // Imports never enqueue progress alone (a begin or a terminal event comes
                // with it), so this is not reached; the upload stays as the SDK has it.
                (Ok(Enqueued::DroppedProgress), _) => report.unchanged += 1,
                (Err(SdkError::QueueFull { .. }), _) => report.skipped.push(format!(
                    "{}: {OUTBOX_FULL}",
                    skipped_id(&candidate.upload.local_id)
                )),
                (Err(other), _) => return Err(other),
            }
        }
        self.shared.signals.wake();
        Ok((taken, full))
    }
}

/// What `candidate` becomes given the SDK's record of the same `local_id` (None: unknown):
/// None when nothing changes.
///
/// # Errors
///
/// [`SdkError::Rejected`] (the rules refuse its events), [`SdkError::InvalidArgument`]
/// (metadata over its limit): the item is skipped.
fn plan(candidate: &Candidate, known: Option<&UploadRecord>) -> Result<Option<Plan>, SdkError> {
    let upload = &candidate.upload;
    if let Some(known) = known {
        let mut payload = match (known.status.is_active(), upload.status) {
            (true, UploadStatus::Completed) => EventPayload::Complete {
                video_id: upload.video_id,
            },
            (true, UploadStatus::Failed) => EventPayload::Fail {
                error_code: IMPORTED_FAILURE_CODE.to_owned(),
                error_message: upload
                    .error_message
                    .clone()
                    .unwrap_or_else(|| "Upload failed".to_owned()),
                retry_count: Some(upload.retry_count.max(known.retry_count)),
            },
            _ => return Ok(None),
        };
        // A 10 MB message from the app's queue is cut as the server would cut it.
        payload.normalize();
        let event = UploadEvent {
            id: Uuid::now_v7(),
            upload_id: known.id,
            seq: known.last_seq + 1,
            at: Utc::now(),
            payload,
        };
        let record = validate(Some(known), &event)?;
        return Ok(Some(Plan::Update {
            record,
            events: vec![event],
        }));
    }
    monitor_core::limits::check_local_id(&upload.local_id)
        .map_err(|e| SdkError::InvalidArgument(e.to_string()))?;
    let id = Uuid::now_v7();
    let mut record = None;
    let mut events = Vec::new();
    let mut metadata_json = None;
    for (n, mut payload) in upload.payloads().into_iter().enumerate() {
        // NUL removed and display texts cut before anything is stored, as for every event
        // the SDK makes: an imported event is one the server can take.
        payload.normalize();
        if let EventPayload::Begin {
            metadata: Some(metadata),
            ..
        } = &payload
        {
            monitor_core::limits::check_metadata(metadata)
                .map_err(|e| SdkError::InvalidArgument(e.to_string()))?;
            metadata_json = Some(metadata.to_string());
        }
        let event = UploadEvent {
            id: Uuid::now_v7(),
            upload_id: id,
            seq: n as i64 + 1,
            at: Utc::now(),
            payload,
        };
        record = Some(validate(record.as_ref(), &event)?);
        events.push(event);
    }
    let Some(record) = record else {
        return Ok(None);
    };
    Ok(Some(Plan::Create {
        record,
        events,
        metadata_json: metadata_json.unwrap_or_else(|| "{}".to_owned()),
    }))
}

/// Parses both values and lists what to reconcile: the queue's items, then the backups no
/// queue item covers. Item-level parse errors go to `report.skipped`.
fn candidates(
    pending_videos_json: Option<&str>,
    import_queue_state_json: Option<&str>,
    report: &mut ImportReport,
) -> Result<Vec<Candidate>, SdkError> {
    let mut candidates = Vec::new();
    // The file names the candidates so far cover: each item's `filename` and the last
    // segment of its `uri` (what `ends_with("/<name>")` matched before: a backup's file
    // name never holds a '/'). One hash lookup per backup instead of a scan of every item.
    let mut covered: HashSet<String> = HashSet::new();
    if let Some(text) = present(import_queue_state_json) {
        let parsed = parse_import_queue_state_lenient(text).map_err(SdkError::Import)?;
        if let Some((state, errors)) = parsed {
            report
                .skipped
                .extend(errors.iter().map(ToString::to_string));
            candidates.reserve(state.items.len());
            for item in &state.items {
                covered.insert(item.filename.clone());
                if let Some((_, name)) = item.uri.rsplit_once('/') {
                    covered.insert(name.to_owned());
                }
                candidates.push(Candidate {
                    upload: ImportedUpload::from(item),
                    uri: Some(item.uri.clone()),
                });
            }
        }
    }
    if let Some(text) = present(pending_videos_json) {
        let (videos, errors) = parse_pending_videos_lenient(text).map_err(SdkError::Import)?;
        report
            .skipped
            .extend(errors.iter().map(ToString::to_string));
        candidates.reserve(videos.len());
        for video in &videos {
            let name = video.local_uri.file_name();
            if covered.contains(&name) {
                continue;
            }
            let uri = match &video.local_uri {
                LocalUri::FileName(s) | LocalUri::AbsolutePath(s) => s.clone(),
            };
            // A backup covers later backups of the same file, as it did when every
            // candidate was scanned.
            covered.insert(name);
            candidates.push(Candidate {
                upload: ImportedUpload::from(video),
                uri: Some(uri),
            });
        }
    }
    Ok(candidates)
}

/// An item's `local_id` as a `skipped` message names it: cut to 64 characters, so a
/// 3,000-character id (itself the reason it is skipped) does not fill the report.
fn skipped_id(local_id: &str) -> String {
    const SHOWN: usize = 64;
    match local_id.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}…", &local_id[..cut]),
        None => local_id.to_owned(),
    }
}

/// The value, unless absent or blank.
fn present(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|s| !s.is_empty())
}
