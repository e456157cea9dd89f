//! What the dashboard prints: the spec's labels (French and English), the retry badge,
//! sizes in MB and user initials.

use crate::status::{UploadSource, UploadStatus};

/// The dashboard's two languages: French (the spec's labels) and English.
///
/// ```
/// use monitor_core::display::{retry_badge, Lang};
/// // French unless told otherwise: the spec's own wording.
/// assert_eq!(Lang::default(), Lang::Fr);
/// assert_eq!(retry_badge(1, Lang::default()).as_deref(), Some("Tentative 1/3"));
/// assert_eq!(retry_badge(1, Lang::En).as_deref(), Some("Attempt 1/3"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    /// Français: the spec's own wording ("En attente", "il y a 5m").
    #[default]
    Fr,
    /// English.
    En,
}

/// The bytes in one "MB" wherever the project shows or computes MB and MB/s (sizes, speeds,
/// the 0.5 MB/s timeout rule): 1024 × 1024, as the app computes `bytes / 1024 / 1024`.
///
/// ```
/// use monitor_core::display::{format_size_mb, BYTES_PER_MB};
/// assert_eq!(format_size_mb(Some(BYTES_PER_MB as i64)).as_deref(), Some("1.0 MB"));
/// // 50 MB as the app counts them, not 50,000,000 bytes.
/// assert_eq!(format_size_mb(Some(52_428_800)).as_deref(), Some("50.0 MB"));
/// ```
pub const BYTES_PER_MB: f64 = 1_048_576.0;

/// The status badge text: "En attente", "Upload en cours", "Complété", "Échec".
///
/// ```
/// use monitor_core::display::{status_label, Lang};
/// use monitor_core::UploadStatus;
/// assert_eq!(status_label(UploadStatus::Uploading, Lang::Fr), "Upload en cours");
/// assert_eq!(status_label(UploadStatus::Failed, Lang::En), "Failed");
/// ```
pub fn status_label(status: UploadStatus, lang: Lang) -> &'static str {
    match (status, lang) {
        (UploadStatus::Pending, Lang::Fr) => "En attente",
        (UploadStatus::Uploading, Lang::Fr) => "Upload en cours",
        (UploadStatus::Completed, Lang::Fr) => "Complété",
        (UploadStatus::Failed, Lang::Fr) => "Échec",
        (UploadStatus::Pending, Lang::En) => "Pending",
        (UploadStatus::Uploading, Lang::En) => "Uploading",
        (UploadStatus::Completed, Lang::En) => "Completed",
        (UploadStatus::Failed, Lang::En) => "Failed",
    }
}

/// The source badge: "📹 Recorded" or "📸 Imported" (the spec shows them in English).
///
/// ```
/// use monitor_core::display::source_label;
/// use monitor_core::UploadSource;
/// assert_eq!(source_label(UploadSource::Imported), "📸 Imported");
/// ```
pub fn source_label(source: UploadSource) -> &'static str {
    match source {
        UploadSource::Recorded => "📹 Recorded",
        UploadSource::Imported => "📸 Imported",
    }
}

/// The retry badge, shown only when `retry_count > 0`: "Tentative 2/3" / "Attempt 2/3".
///
/// ```
/// use monitor_core::display::{retry_badge, Lang};
/// assert_eq!(retry_badge(2, Lang::Fr).as_deref(), Some("Tentative 2/3"));
/// assert_eq!(retry_badge(0, Lang::Fr), None);
/// ```
pub fn retry_badge(retry_count: i32, lang: Lang) -> Option<String> {
    if retry_count <= 0 {
        return None;
    }
    let max = crate::event::MAX_RETRIES;
    Some(match lang {
        Lang::Fr => format!("Tentative {retry_count}/{max}"),
        Lang::En => format!("Attempt {retry_count}/{max}"),
    })
}

/// A file size in MB with one decimal ("12.5 MB"); None for an unknown size.
///
/// ```
/// use monitor_core::display::format_size_mb;
/// assert_eq!(format_size_mb(Some(13_107_200)).as_deref(), Some("12.5 MB"));
/// ```
pub fn format_size_mb(bytes: Option<i64>) -> Option<String> {
    // Sizes are far below 2^53 bytes, so the conversion is exact.
    bytes.map(|b| format!("{:.1} MB", b as f64 / BYTES_PER_MB))
}

/// Avatar initials: "JD" for John Doe.
///
/// Rules, first that gives something: the first letters of the first and last names; the
/// first letter of the one name given (two letters of it when it is one word: "Jo" gives
/// "JO"); from the email's local part, split on `.`, `_`, `-` and `+`: the first letters of
/// its first two pieces ("john.doe@x" gives "JD"), or the first two letters of a single
/// piece ("jdoe@x" gives "JD"); "?" when nothing is usable. Letters are upper-cased;
/// digits count as letters.
///
/// ```
/// use monitor_core::display::initials;
/// assert_eq!(initials(Some("John"), Some("Doe"), None), "JD");
/// assert_eq!(initials(None, None, Some("marie-claire.dupont@example.com")), "MC");
/// assert_eq!(initials(None, None, Some("zoe@example.com")), "ZO");
/// assert_eq!(initials(None, None, None), "?");
/// ```
pub fn initials(first_name: Option<&str>, last_name: Option<&str>, email: Option<&str>) -> String {
    let first = first_name.map(str::trim).filter(|s| !s.is_empty());
    let last = last_name.map(str::trim).filter(|s| !s.is_empty());
    let letters = match (first, last) {
        (Some(f), Some(l)) => leading(f).into_iter().chain(leading(l)).collect(),
        (Some(name), None) | (None, Some(name)) => from_words(name.split_whitespace()),
        (None, None) => {
            let local = email
                .map(|e| e.split('@').next().unwrap_or_default())
                .unwrap_or_default();
            from_words(local.split(['.', '_', '-', '+']))
        }
    };
    if letters.is_empty() {
        "?".to_owned()
    } else {
        letters.to_uppercase()
    }
}

/// The first alphanumeric character of a word.
fn leading(word: &str) -> Option<char> {
    word.chars().find(|c| c.is_alphanumeric())
}

/// Two initials from words: the leading letters of the first two words that have one, or
/// the first two letters of the only such word.
fn from_words<'a>(words: impl Iterator<Item = &'a str>) -> String {
    let words: Vec<&str> = words.filter(|w| leading(w).is_some()).take(2).collect();
    match words.as_slice() {
        [one] => one
            .chars()
            .filter(|c| c.is_alphanumeric())
            .take(2)
            .collect(),
        [a, b] => leading(a).into_iter().chain(leading(b)).collect(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_come_from_the_names_first() {
        assert_eq!(initials(Some("John"), Some("Doe"), Some("x@y.z")), "JD");
        assert_eq!(initials(Some(" élodie "), Some("martin"), None), "ÉM");
    }

    #[test]
    fn a_single_name_gives_its_own_initials() {
        assert_eq!(initials(Some("Jean Pierre"), None, None), "JP");
        assert_eq!(initials(None, Some("Doe"), None), "DO");
        assert_eq!(initials(Some("   "), Some(""), Some("ann.lee@x.io")), "AL");
    }

    #[test]
    fn initials_fall_back_to_the_email() {
        assert_eq!(initials(None, None, Some("john.doe@example.com")), "JD");
        assert_eq!(initials(None, None, Some("john_doe+tag@example.com")), "JD");
        assert_eq!(initials(None, None, Some("jdoe@example.com")), "JD");
        assert_eq!(initials(None, None, Some("a@example.com")), "A");
        assert_eq!(initials(None, None, Some("@example.com")), "?");
        assert_eq!(initials(None, None, Some("...")), "?");
    }

    #[test]
    fn every_status_has_a_label_in_both_languages() {
        for status in UploadStatus::DISPLAY_ORDER {
            assert!(!status_label(status, Lang::Fr).is_empty());
            assert_ne!(
                status_label(status, Lang::Fr),
                status_label(status, Lang::En)
            );
        }
    }

    #[test]
    fn retry_badge_speaks_english_too() {
        assert_eq!(retry_badge(3, Lang::En).as_deref(), Some("Attempt 3/3"));
        assert_eq!(retry_badge(-1, Lang::En), None);
    }

    #[test]
    fn unknown_sizes_print_nothing() {
        assert_eq!(format_size_mb(None), None);
        assert_eq!(format_size_mb(Some(0)).as_deref(), Some("0.0 MB"));
    }
}
