//! Reconciling the app's AsyncStorage queue (`@import_queue_state`, `@pending_videos`) with
//! the SDK's uploads, so uploads in flight before the SDK was adopted, or while the app was
//! killed, are reported too. Parsing and the meaning of each item are monitor-core's
//! (`async_storage`); this file decides what to store.

use chrono::Utc;
use monitor_core::async_storage::{
    parse_import_queue_state_lenient, parse_pending_videos_lenient, ImportedUpload,
    IMPORTED_FAILURE_CODE,
};
use monitor_core::{EventPayload, UploadEvent, UploadStatus};
use uuid::Uuid;

use crate::engine::{lock, Engine};
use crate::error::SdkError;
use crate::outbox::UploadChange;
use crate::uploads::{validate, Tracked};

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Items the SDK did not know: new uploads, with their history as events.
    pub created: u32,
    /// Known uploads moved forward to the app's status (completed or failed there).
    pub updated: u32,
    /// Known uploads already as far as the app says.
    pub unchanged: u32,
    /// Items that could not be read (the rest were imported), one message each.
    pub skipped: Vec<String>,
}

/// An item to reconcile and where its file is.
struct Candidate {
    upload: ImportedUpload,
    uri: Option<String>,
}

impl Engine {
    /// Imports the app's AsyncStorage values (the raw strings; None or "" when a key is
    /// absent). Idempotent: items are matched by their app id (`local_id`), so calling it
    /// at every start is safe.
    ///
    /// - A queue item the SDK does not know becomes an upload with the events that bring
    ///   it to the item's state (monitor-core's `ImportedUpload::payloads`).
    /// - A known upload still active locally that the app marks completed or failed is
    ///   reported so; anything else is left as the SDK has it (the SDK's record is newer).
    /// - A `@pending_videos` backup is imported unless a queue item already covers its
    ///   file (same file name at the end of the item's `uri` or as its `filename`): the
    ///   backup service and the queue describe the same recording twice.
    ///
    /// # Errors
    ///
    /// [`SdkError::Import`] when a value is unusable as a whole (not JSON, wrong top-level
    /// type); item-level problems are reported in [`ImportReport::skipped`] instead.
    /// Storage errors.
    pub fn import_async_storage(
        &self,
        pending_videos_json: Option<&str>,
        import_queue_state_json: Option<&str>,
    ) -> Result<ImportReport, SdkError> {
        self.live()?;
        let mut report = ImportReport::default();
        let mut candidates = Vec::new();
        if let Some(text) = present(import_queue_state_json) {
            let parsed = parse_import_queue_state_lenient(text)
                .map_err(|e| SdkError::Import(e.to_string()))?;
            if let Some((state, errors)) = parsed {
                report
                    .skipped
                    .extend(errors.iter().map(ToString::to_string));
                for item in &state.items {
                    candidates.push(Candidate {
                        upload: ImportedUpload::from(item),
                        uri: Some(item.uri.clone()),
                    });
                }
            }
        }
        if let Some(text) = present(pending_videos_json) {
            let (videos, errors) =
                parse_pending_videos_lenient(text).map_err(|e| SdkError::Import(e.to_string()))?;
            report
                .skipped
                .extend(errors.iter().map(ToString::to_string));
            for video in &videos {
                let name = video.local_uri.file_name();
                let covered = candidates.iter().any(|c| {
                    c.upload.filename == name
                        || c.uri
                            .as_deref()
                            .is_some_and(|u| u.ends_with(&format!("/{name}")))
                });
                if !covered {
                    let uri = match &video.local_uri {
                        monitor_core::async_storage::LocalUri::FileName(s)
                        | monitor_core::async_storage::LocalUri::AbsolutePath(s) => s.clone(),
                    };
                    candidates.push(Candidate {
                        upload: ImportedUpload::from(video),
                        uri: Some(uri),
                    });
                }
            }
        }
        for candidate in candidates {
            let local_id = candidate.upload.local_id.clone();
            match self.reconcile(candidate) {
                Ok(Reconciled::Created) => report.created += 1,
                Ok(Reconciled::Updated) => report.updated += 1,
                Ok(Reconciled::Unchanged) => report.unchanged += 1,
                Err(SdkError::Rejected(reason)) => report
                    .skipped
                    .push(format!("{local_id}: {}", reason.as_str())),
                Err(other) => return Err(other),
            }
        }
        Ok(report)
    }

    fn reconcile(&self, candidate: Candidate) -> Result<Reconciled, SdkError> {
        let upload = &candidate.upload;
        let mut state = lock(&self.shared.state);
        // Under the state lock: see `Engine::stop_flusher`.
        self.live()?;
        if let Some(known) = state.uploads.by_local_id(&upload.local_id) {
            let id = known.record.id;
            let payload = match (known.record.status.is_active(), upload.status) {
                (true, UploadStatus::Completed) => EventPayload::Complete {
                    video_id: upload.video_id,
                },
                (true, UploadStatus::Failed) => EventPayload::Fail {
                    error_code: IMPORTED_FAILURE_CODE.to_owned(),
                    error_message: upload
                        .error_message
                        .clone()
                        .unwrap_or_else(|| "Upload failed".to_owned()),
                    retry_count: Some(upload.retry_count.max(known.record.retry_count)),
                },
                _ => return Ok(Reconciled::Unchanged),
            };
            self.shared
                .commit(&mut state, id, vec![payload], candidate.uri.as_deref())?;
            return Ok(Reconciled::Updated);
        }
        let id = Uuid::now_v7();
        let mut record = None;
        let mut events = Vec::new();
        for (n, payload) in upload.payloads().into_iter().enumerate() {
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
            return Ok(Reconciled::Unchanged);
        };
        let metadata_json = upload.metadata.to_string();
        lock(&self.shared.outbox).enqueue(
            UploadChange {
                record: &record,
                uri: candidate.uri.as_deref(),
                metadata_json: Some(&metadata_json),
            },
            &events,
            self.shared.now_ms(),
        )?;
        // Live: the app's queue will process it in this session; recovery leaves it be.
        state.uploads.insert(Tracked::new(record, true));
        self.shared.signals.wake();
        Ok(Reconciled::Created)
    }
}

enum Reconciled {
    Created,
    Updated,
    Unchanged,
}

/// The value, unless absent or blank.
fn present(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|s| !s.is_empty())
}
