//! Upload statuses, pipeline stages and sources: the closed vocabularies shared with SQL.

use serde::{Deserialize, Serialize};

/// The four statuses of the spec's `upload_queue.status` column.
///
/// `Completed` and `Failed` are terminal: an upload leaves them only through an explicit
/// retry event (and only `Failed` can be retried).
///
/// ```
/// use monitor_core::UploadStatus;
/// // The JSON spelling is the SQL one, and it reads back.
/// for status in UploadStatus::DISPLAY_ORDER {
///     let json = serde_json::to_string(&status).unwrap();
///     assert_eq!(json, format!("\"{}\"", status.as_str()));
///     assert_eq!(serde_json::from_str::<UploadStatus>(&json).unwrap(), status);
/// }
/// assert!(serde_json::from_str::<UploadStatus>(r#""paused""#).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadStatus {
    /// Known to the device, no byte sent yet ("En attente").
    Pending,
    /// Bytes or later pipeline steps in flight ("Upload en cours").
    Uploading,
    /// The whole pipeline finished ("Complété").
    Completed,
    /// The attempt ended in an error ("Échec").
    Failed,
}

impl UploadStatus {
    /// Every status, in the spec's display order for the uploads list
    /// (uploading, pending, failed, completed).
    ///
    /// ```
    /// use monitor_core::UploadStatus;
    /// // Live uploads first, finished ones last.
    /// assert_eq!(UploadStatus::DISPLAY_ORDER[0], UploadStatus::Uploading);
    /// assert!(UploadStatus::DISPLAY_ORDER[..2].iter().all(|s| s.is_active()));
    /// assert!(UploadStatus::DISPLAY_ORDER[2..].iter().all(|s| s.is_terminal()));
    /// ```
    pub const DISPLAY_ORDER: [UploadStatus; 4] = [
        UploadStatus::Uploading,
        UploadStatus::Pending,
        UploadStatus::Failed,
        UploadStatus::Completed,
    ];

    /// The SQL/JSON spelling (`"pending"`, ...).
    ///
    /// ```
    /// assert_eq!(monitor_core::UploadStatus::Uploading.as_str(), "uploading");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            UploadStatus::Pending => "pending",
            UploadStatus::Uploading => "uploading",
            UploadStatus::Completed => "completed",
            UploadStatus::Failed => "failed",
        }
    }

    /// Whether the status is terminal (completed or failed).
    ///
    /// ```
    /// use monitor_core::UploadStatus;
    /// assert!(UploadStatus::Failed.is_terminal());
    /// assert!(!UploadStatus::Pending.is_terminal());
    /// ```
    pub fn is_terminal(self) -> bool {
        matches!(self, UploadStatus::Completed | UploadStatus::Failed)
    }

    /// Whether the upload is still expected to report (pending or uploading).
    ///
    /// ```
    /// use monitor_core::UploadStatus;
    /// assert!(UploadStatus::Pending.is_active());
    /// assert!(!UploadStatus::Completed.is_active());
    /// ```
    pub fn is_active(self) -> bool {
        !self.is_terminal()
    }
}

/// The steps of the app's `processItem()` pipeline, in the order they run.
///
/// The derived `Ord` is that order: a stage never goes back within one attempt.
///
/// ```
/// use monitor_core::UploadStage;
/// assert!(UploadStage::Uploading < UploadStage::CreatingRecord);
/// let json = serde_json::to_string(&UploadStage::QueuingTranscription).unwrap();
/// assert_eq!(json, r#""queuing_transcription""#);
/// assert_eq!(serde_json::from_str::<UploadStage>(&json).unwrap(), UploadStage::QueuingTranscription);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadStage {
    /// STEP 1: the file exists and is readable.
    Validating,
    /// STEP 2: duration and orientation extracted.
    ExtractingMetadata,
    /// STEP 3: bytes going to Supabase Storage.
    Uploading,
    /// STEP 4: the `videos` row is inserted.
    CreatingRecord,
    /// STEP 5: thumbnail frames generated and uploaded.
    GeneratingThumbnails,
    /// STEP 6: the AssemblyAI transcription job is queued.
    QueuingTranscription,
}

impl UploadStage {
    /// Every stage, in pipeline order.
    ///
    /// ```
    /// use monitor_core::UploadStage;
    /// assert_eq!(UploadStage::ALL.len(), 6);
    /// assert!(UploadStage::ALL.windows(2).all(|w| w[0] < w[1]));
    /// ```
    pub const ALL: [UploadStage; 6] = [
        UploadStage::Validating,
        UploadStage::ExtractingMetadata,
        UploadStage::Uploading,
        UploadStage::CreatingRecord,
        UploadStage::GeneratingThumbnails,
        UploadStage::QueuingTranscription,
    ];

    /// The SQL/JSON spelling (`"extracting_metadata"`, ...).
    ///
    /// ```
    /// assert_eq!(monitor_core::UploadStage::CreatingRecord.as_str(), "creating_record");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            UploadStage::Validating => "validating",
            UploadStage::ExtractingMetadata => "extracting_metadata",
            UploadStage::Uploading => "uploading",
            UploadStage::CreatingRecord => "creating_record",
            UploadStage::GeneratingThumbnails => "generating_thumbnails",
            UploadStage::QueuingTranscription => "queuing_transcription",
        }
    }

    /// Position in the pipeline, 1-based, as SQL stores it for ordering (`stage_rank`).
    ///
    /// ```
    /// use monitor_core::UploadStage;
    /// let ranks: Vec<u8> = UploadStage::ALL.iter().map(|s| s.rank()).collect();
    /// assert_eq!(ranks, [1, 2, 3, 4, 5, 6]);
    /// ```
    pub fn rank(self) -> u8 {
        match self {
            UploadStage::Validating => 1,
            UploadStage::ExtractingMetadata => 2,
            UploadStage::Uploading => 3,
            UploadStage::CreatingRecord => 4,
            UploadStage::GeneratingThumbnails => 5,
            UploadStage::QueuingTranscription => 6,
        }
    }
}

/// Where the video came from ("📹 Recorded" or "📸 Imported").
///
/// ```
/// use monitor_core::UploadSource;
/// let source: UploadSource = serde_json::from_str(r#""recorded""#).unwrap();
/// assert_eq!(source, UploadSource::Recorded);
/// assert_eq!(serde_json::to_string(&UploadSource::Imported).unwrap(), r#""imported""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadSource {
    /// Recorded in the app (`RecordScreen`, `metadata.isRecorded`).
    Recorded,
    /// Imported from the gallery (`metadata.isImported`).
    Imported,
}

impl UploadSource {
    /// The source the app's item metadata implies: `isRecorded: true` means recorded, else
    /// `isImported: true` means imported (JSON booleans only), else None. Used for
    /// AsyncStorage items and `videos` rows; the SDK puts the answer in `begin.source`.
    ///
    /// ```
    /// use monitor_core::UploadSource;
    /// let m = serde_json::json!({"isImported": true});
    /// assert_eq!(UploadSource::from_metadata(&m), Some(UploadSource::Imported));
    /// assert_eq!(UploadSource::from_metadata(&serde_json::json!({})), None);
    /// ```
    pub fn from_metadata(metadata: &serde_json::Value) -> Option<UploadSource> {
        let flag = |name: &str| metadata.get(name).and_then(|v| v.as_bool()) == Some(true);
        if flag("isRecorded") {
            Some(UploadSource::Recorded)
        } else if flag("isImported") {
            Some(UploadSource::Imported)
        } else {
            None
        }
    }

    /// The SQL/JSON spelling.
    ///
    /// ```
    /// use monitor_core::UploadSource;
    /// assert_eq!(UploadSource::Imported.as_str(), "imported");
    /// assert_eq!(serde_json::to_value(UploadSource::Recorded).unwrap(), UploadSource::Recorded.as_str());
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            UploadSource::Recorded => "recorded",
            UploadSource::Imported => "imported",
        }
    }
}
