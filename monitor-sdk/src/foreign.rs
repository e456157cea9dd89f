//! What the app gives the SDK: its session's refresh (the one foreign trait) and, for Rust
//! callers, the token source and logger traits the engine calls.
//!
//! The app never implements a trait the SDK's background thread waits on. In React Native a
//! foreign call runs on the JS thread, and uniffi-bindgen-react-native makes the calling
//! thread wait, without a timeout, until the JS thread takes it: a flusher blocked in such a
//! call froze `shutdown()` (which waits for the flusher) as long as the JS thread was busy.
//! So the app *pushes* its access token (`UploadReporter::set_access_token`), the SDK's log
//! lines are *buffered* for the app to take (`UploadReporter::take_log_lines`), and the one
//! call into the app, [`SessionRefresher::refresh_access_token`] after a 401, is async,
//! started from a helper thread nobody joins, and waited for with a timeout
//! ([`crate::session`]).

/// The app's Supabase session refresh (React Native: `supabase.auth.refreshSession()`).
///
/// Called after the server answered 401 (`PGRST301`/`PGRST303`: token invalid or expired)
/// and the app has not pushed a newer token since. The SDK waits for the answer at most
/// [`crate::session::REFRESH_TIMEOUT`], then backs off and tries again later; a late answer
/// is still used. Throwing is allowed (it counts as "no token").
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait SessionRefresher: Send + Sync {
    /// Refreshes the session and returns the new access token, or None (signed out, no
    /// network).
    async fn refresh_access_token(&self) -> Option<String>;
}

/// Where the engine gets the user's JWT (Rust callers; the exported reporter implements it
/// with [`crate::session::AppSession`]).
///
/// Both methods are called from the SDK's background thread; they must not block for long
/// (return `None` rather than wait for a network round trip that may never end).
pub trait TokenProvider: Send + Sync {
    /// The newest access token (the user's JWT), or None when signed out.
    fn access_token(&self) -> Option<String>;

    /// Called once after the server answered 401 (`PGRST301`/`PGRST303`, token invalid or
    /// expired): refresh the session and return the new access token, or None.
    fn refresh_access_token(&self) -> Option<String>;
}

/// How much a log line matters (ordered: `Debug` < `Info` < `Warn` < `Error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, uniffi::Enum)]
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

/// Where the engine's log lines go besides `tracing` (Rust callers; the exported reporter
/// buffers them in a [`crate::log_buffer::LogBuffer`] the app drains).
///
/// Called from the app's calls and from the SDK's background thread: it must return at once.
pub trait ReporterLogger: Send + Sync {
    /// One log line.
    fn log(&self, level: LogLevel, message: String);
}
