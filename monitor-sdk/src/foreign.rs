//! What the app implements for the SDK: the access-token source and an optional logger.

/// The app's Supabase session, as the SDK needs it.
///
/// Both methods are called from the SDK's background thread; they must not block for long
/// (return `None` rather than wait for a network round trip that may never end).
#[uniffi::export(with_foreign)]
pub trait TokenProvider: Send + Sync {
    /// The newest access token (the user's JWT), or None when signed out.
    fn access_token(&self) -> Option<String>;

    /// Called once after the server answered 401 (`PGRST301`/`PGRST303`, token invalid or
    /// expired): refresh the session and return the new access token, or None.
    fn refresh_access_token(&self) -> Option<String>;
}

/// How much a log line matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LogLevel {
    /// Detail for debugging.
    Debug,
    /// Normal operation worth seeing.
    Info,
    /// Something went wrong and was handled (a retry, a dead letter).
    Warn,
    /// Something went wrong and was not handled.
    Error,
}

/// The app's logger (e.g. forwarding to Sentry breadcrumbs). Optional: without it the SDK
/// logs through `tracing` only.
#[uniffi::export(with_foreign)]
pub trait ReporterLogger: Send + Sync {
    /// One log line.
    fn log(&self, level: LogLevel, message: String);
}
