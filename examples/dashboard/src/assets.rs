//! The page, its script and its style, compiled into the binary (the dashboard fetches
//! nothing from the internet), with content-hashed names: `/assets/monitoring.<hash>.js` is
//! cached for a year by the browser, and a new build changes the name.

use sha2::{Digest, Sha256};

use crate::labels::page_labels;

/// The page's HTML template; `{{CSS}}`, `{{JS}}` and `{{CONFIG}}` are filled in by [`Page::new`].
const PAGE_HTML: &str = include_str!("../assets/monitoring.html");
/// The page's behaviour.
pub const PAGE_JS: &str = include_str!("../assets/monitoring.js");
/// The page's look.
pub const PAGE_CSS: &str = include_str!("../assets/monitoring.css");

/// One static file under `/assets/`.
#[derive(Debug, Clone)]
pub struct Asset {
    /// Its path, hash included (`/assets/monitoring.3f2a9c1e0b7d.js`).
    pub path: String,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its content.
    pub body: &'static str,
}

/// The first 12 hex digits of the SHA-256 of `content`: enough to tell builds apart.
fn short_hash(content: &str) -> String {
    Sha256::digest(content.as_bytes())
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Asset {
    fn new(stem: &str, ext: &str, content_type: &'static str, body: &'static str) -> Asset {
        Asset {
            path: format!("/assets/{stem}.{}.{ext}", short_hash(body)),
            content_type,
            body,
        }
    }
}

/// What the page is told beside its labels.
#[derive(Debug, Clone, Default)]
pub struct PageConfig {
    /// The existing admin dashboard's base URL: the header links to its Dashboard (`/`) and
    /// Bugs (`/bugs`) pages. None hides the links.
    pub admin_base_url: Option<String>,
}

/// The rendered page and its two assets.
#[derive(Debug, Clone)]
pub struct Page {
    /// `/monitoring`'s HTML, with the hashed asset names and the config JSON filled in.
    pub html: String,
    /// The script.
    pub script: Asset,
    /// The style sheet.
    pub style: Asset,
}

impl Page {
    /// Renders the page for `config`.
    pub fn new(config: &PageConfig) -> Page {
        let script = Asset::new(
            "monitoring",
            "js",
            "text/javascript; charset=utf-8",
            PAGE_JS,
        );
        let style = Asset::new("monitoring", "css", "text/css; charset=utf-8", PAGE_CSS);
        let admin = config
            .admin_base_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_owned());
        let config = serde_json::json!({ "labels": page_labels(), "adminBaseUrl": admin });
        // Inside <script type="application/json"> only "</" could end the element early.
        let config = config.to_string().replace('<', "\\u003c");
        let html = PAGE_HTML
            .replace("{{CSS}}", &style.path)
            .replace("{{JS}}", &script.path)
            .replace("{{CONFIG}}", &config);
        Page {
            html,
            script,
            style,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_names_change_with_their_content() {
        let page = Page::new(&PageConfig::default());
        assert!(page.script.path.starts_with("/assets/monitoring."));
        assert!(page.script.path.ends_with(".js"));
        assert_ne!(short_hash("a"), short_hash("b"));
        assert!(page.html.contains(&page.script.path));
        assert!(page.html.contains(&page.style.path));
        assert!(!page.html.contains("{{"));
    }

    #[test]
    fn a_base_url_with_markup_cannot_close_the_config_element() {
        let page = Page::new(&PageConfig {
            admin_base_url: Some("https://x.test/</script><script>alert(1)</script>".into()),
        });
        assert!(!page.html.contains("</script><script>alert"));
    }
}
