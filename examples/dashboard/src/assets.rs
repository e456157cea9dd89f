//! The page, its script and its style, compiled into the binary (the dashboard fetches
//! nothing from the internet), with content-hashed names: `/assets/monitoring.<hash>.js` is
//! cached for a year by the browser, and a new build changes the name.

use sha2::{Digest, Sha256};

use crate::labels::page_labels;

/// The page's HTML template; `{{CSS}}`, `{{JS}}` and `{{CONFIG}}` are filled in by [`Page::new`].
const PAGE_HTML: &str = include_str!("../assets/monitoring.html");
/// The sign-in page's template; `{{CSS}}`, `{{ERROR}}`, `{{ERROR_HIDDEN}}` and `{{EMAIL}}`
/// are filled in by [`Page::sign_in`].
const SIGNIN_HTML: &str = include_str!("../assets/signin.html");
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
    /// The sign-in page's template, its style sheet filled in.
    signin: String,
}

/// `text` safe inside HTML text and double-quoted attributes.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
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
        let signin = SIGNIN_HTML.replace("{{CSS}}", &style.path);
        Page {
            html,
            script,
            style,
            signin,
        }
    }

    /// The sign-in page (`/login`), with `error` shown above the form when there is one and
    /// the form's email filled with `email` (both escaped: the email is the visitor's input).
    pub fn sign_in(&self, error: Option<&str>, email: &str) -> String {
        // One pass over the template: a value containing "{{EMAIL}}" is not filled in twice.
        let mut out = String::with_capacity(self.signin.len() + 256);
        let mut rest = self.signin.as_str();
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start..];
            let (value, len) = if after.starts_with("{{ERROR_HIDDEN}}") {
                let hidden = if error.is_some() { "" } else { " hidden" };
                (hidden.to_owned(), "{{ERROR_HIDDEN}}".len())
            } else if after.starts_with("{{ERROR}}") {
                (escape_html(error.unwrap_or_default()), "{{ERROR}}".len())
            } else if after.starts_with("{{EMAIL}}") {
                (escape_html(email), "{{EMAIL}}".len())
            } else {
                ("{{".to_owned(), 2)
            };
            out.push_str(&value);
            rest = &after[len..];
        }
        out.push_str(rest);
        out
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
    fn the_sign_in_page_escapes_the_email_and_shows_the_error_only_when_there_is_one() {
        let page = Page::new(&PageConfig::default());
        let blank = page.sign_in(None, "");
        assert!(blank.contains(" hidden>") && !blank.contains("{{"));
        assert!(blank.contains(&page.style.path));
        let refused = page.sign_in(
            Some("Email ou mot de passe incorrect."),
            "\"><script>{{EMAIL}}",
        );
        assert!(refused.contains("Email ou mot de passe incorrect."));
        assert!(!refused.contains("<script>") && !refused.contains(" hidden>"));
        assert!(refused.contains("&quot;&gt;&lt;script&gt;{{EMAIL}}"));
    }

    #[test]
    fn a_base_url_with_markup_cannot_close_the_config_element() {
        let page = Page::new(&PageConfig {
            admin_base_url: Some("https://x.test/</script><script>alert(1)</script>".into()),
        });
        assert!(!page.html.contains("</script><script>alert"));
    }
}
