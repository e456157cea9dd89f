//! Every word the page shows for a value that comes from the server, in French (the spec's
//! language), sent to the page as one JSON document ([`page_labels`]) inside the HTML: the
//! script looks values up there and never spells a label itself.
//!
//! Statuses, sources, icons, "Tentative n/3", the size unit and the "à l'instant" threshold
//! come from `monitor-core` ([`monitor_core::display`], [`monitor_core::speed`],
//! [`monitor_core::rows`]); the words `monitor-core` has no French for (bug severities and
//! statuses, error codes, pipeline stages, log event kinds) are here. A value the server
//! sends that no table knows is shown as it is, so a new code is visible rather than lost.

use monitor_core::async_storage::{IMPORTED_FAILURE_CODE, INTERRUPTED_CODE};
use monitor_core::derive::APP_FLAGGED_ERROR_CODE;
use monitor_core::display::{retry_badge, source_label, status_label, Lang, BYTES_PER_MB};
use monitor_core::event::MAX_RETRIES;
use monitor_core::rows::{BugErrorType, BugSeverity};
use monitor_core::speed::JUST_NOW_SECONDS;
use monitor_core::stale::STALE_ERROR_CODE;
use monitor_core::{UploadSource, UploadStage, UploadStatus};
use serde_json::{json, Map, Value};

/// The status badge's icon (the spec's 🟡 🔵 🟢 🔴).
fn status_icon(status: UploadStatus) -> &'static str {
    match status {
        UploadStatus::Pending => "🟡",
        UploadStatus::Uploading => "🔵",
        UploadStatus::Completed => "🟢",
        UploadStatus::Failed => "🔴",
    }
}

/// A pipeline step in French (the spec's processItem STEP 1–6).
pub fn stage_label(stage: UploadStage) -> &'static str {
    match stage {
        UploadStage::Validating => "Validation du fichier",
        UploadStage::ExtractingMetadata => "Extraction des métadonnées",
        UploadStage::Uploading => "Envoi du fichier",
        UploadStage::CreatingRecord => "Création de la vidéo",
        UploadStage::GeneratingThumbnails => "Miniatures",
        UploadStage::QueuingTranscription => "Mise en file de la transcription",
    }
}

/// Bug severities (`bug_reports.severity`) in French.
pub const SEVERITIES: [(&str, BugSeverity, &str); 4] = [
    ("critical", BugSeverity::Critical, "Critique"),
    ("high", BugSeverity::High, "Élevée"),
    ("medium", BugSeverity::Medium, "Moyenne"),
    ("low", BugSeverity::Low, "Faible"),
];

/// Bug statuses (`bug_reports.status`, the `/bugs` page's vocabulary) in French, with the
/// spec's icons.
pub const BUG_STATUSES: [(&str, &str, &str); 4] = [
    ("new", "🆕", "Nouveau"),
    ("investigating", "🔍", "En cours d'analyse"),
    ("resolved", "✅", "Résolu"),
    ("ignored", "🙈", "Ignoré"),
];

/// Bug types (`bug_reports.error_type`) in French.
pub const BUG_TYPES: [(&str, BugErrorType, &str); 5] = [
    ("crash", BugErrorType::Crash, "Plantage"),
    ("network", BugErrorType::Network, "Réseau"),
    ("ui", BugErrorType::Ui, "Interface"),
    ("api", BugErrorType::Api, "API"),
    ("other", BugErrorType::Other, "Autre"),
];

/// Failure codes (`upload_queue.error_code`) in French: the app's usual ones and the codes
/// the project itself writes (`monitor-core`'s constants).
pub fn error_codes() -> Vec<(&'static str, &'static str)> {
    vec![
        ("network_error", "Erreur réseau"),
        ("network", "Erreur réseau"),
        ("timeout", "Délai dépassé"),
        ("storage_error", "Erreur de stockage"),
        ("file_missing", "Fichier introuvable"),
        (INTERRUPTED_CODE, "Interrompu (app fermée)"),
        (STALE_ERROR_CODE, "Sans nouvelles (30 min)"),
        (IMPORTED_FAILURE_CODE, "Échec dans la file de l'app"),
        (APP_FLAGGED_ERROR_CODE, "Signalé par l'app (videos)"),
        ("upload", "Upload"),
    ]
}

/// Transcription job statuses in French.
pub const TRANSCRIPTION_STATUSES: [(&str, &str); 4] = [
    ("pending", "En attente"),
    ("processing", "En cours"),
    ("completed", "Terminée"),
    ("failed", "Échec"),
];

/// The log's event kinds (`upload_events.kind`) in French.
pub const EVENT_KINDS: [(&str, &str); 8] = [
    ("begin", "Début"),
    ("progress", "Progression"),
    ("stage", "Étape"),
    ("complete", "Terminé"),
    ("fail", "Échec"),
    ("retry", "Nouvelle tentative"),
    ("stale", "Inactif (serveur)"),
    ("retry_requested", "Relance demandée (admin)"),
];

/// The JSON document the page reads its words and units from (see the module docs).
///
/// ```
/// let labels = monitor_dashboard::labels::page_labels();
/// assert_eq!(labels["status"]["uploading"]["label"], "Upload en cours");
/// assert_eq!(labels["retryBadge"]["2"], "Tentative 2/3");
/// assert_eq!(labels["severity"]["critical"]["label"], "Critique");
/// ```
pub fn page_labels() -> Value {
    let mut status = Map::new();
    for (rank, s) in UploadStatus::DISPLAY_ORDER.into_iter().enumerate() {
        status.insert(
            s.as_str().to_owned(),
            json!({ "icon": status_icon(s), "label": status_label(s, Lang::Fr), "rank": rank }),
        );
    }
    let source: Map<String, Value> = [UploadSource::Recorded, UploadSource::Imported]
        .into_iter()
        .map(|s| (s.as_str().to_owned(), json!(source_label(s))))
        .collect();
    let stage: Map<String, Value> = UploadStage::ALL
        .into_iter()
        .map(|s| (s.as_str().to_owned(), json!(stage_label(s))))
        .collect();
    let retry: Map<String, Value> = (1..=i32::from(MAX_RETRIES))
        .filter_map(|n| retry_badge(n, Lang::Fr).map(|b| (n.to_string(), json!(b))))
        .collect();
    let severity: Map<String, Value> = SEVERITIES
        .iter()
        .map(|(key, s, label)| {
            (
                (*key).to_owned(),
                json!({ "icon": s.icon(), "label": label, "rank": s.rank() }),
            )
        })
        .collect();
    let bug_status: Map<String, Value> = BUG_STATUSES
        .iter()
        .map(|(key, icon, label)| ((*key).to_owned(), json!({ "icon": icon, "label": label })))
        .collect();
    let bug_type: Map<String, Value> = BUG_TYPES
        .iter()
        .map(|(key, t, label)| {
            (
                (*key).to_owned(),
                json!({ "icon": t.icon(), "label": label }),
            )
        })
        .collect();
    let pairs = |list: &[(&str, &str)]| -> Map<String, Value> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect()
    };
    json!({
        "status": status,
        "source": source,
        "stage": stage,
        "retryBadge": retry,
        "maxRetries": MAX_RETRIES,
        "bytesPerMb": BYTES_PER_MB,
        "justNowSeconds": JUST_NOW_SECONDS,
        "severity": severity,
        "bugStatus": bug_status,
        "bugType": bug_type,
        "errorCode": pairs(&error_codes()),
        "transcriptionStatus": pairs(&TRANSCRIPTION_STATUSES),
        "eventKind": pairs(&EVENT_KINDS),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_stage_and_severity_has_a_french_label() {
        let labels = page_labels();
        for s in UploadStatus::DISPLAY_ORDER {
            assert_eq!(
                labels["status"][s.as_str()]["label"],
                status_label(s, Lang::Fr)
            );
        }
        for s in UploadStage::ALL {
            assert!(labels["stage"][s.as_str()].is_string(), "{s:?}");
        }
        for key in ["critical", "high", "medium", "low"] {
            assert!(labels["severity"][key]["label"].is_string(), "{key}");
        }
    }

    #[test]
    fn the_english_values_the_issue_names_are_translated() {
        let labels = page_labels();
        assert_eq!(labels["severity"]["critical"]["label"], "Critique");
        assert_eq!(labels["bugStatus"]["new"]["label"], "Nouveau");
        assert_eq!(labels["errorCode"]["network_error"], "Erreur réseau");
        assert_eq!(
            labels["errorCode"]["interrupted"],
            "Interrompu (app fermée)"
        );
    }
}
