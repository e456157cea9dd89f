//! Which Supabase the dashboard signs admins in to: the local dev stack (started here, with
//! its demo admin [`DEMO_ADMIN_EMAIL`] / [`DEMO_ADMIN_PASSWORD`]), or the project named by
//! `SUPABASE_URL` and `SUPABASE_ANON_KEY`.
//!
//! The dashboard holds no credential of its own: no admin token, no service key. Every RPC
//! goes out with the token of the admin who signed in ([`crate::session`]), so RLS and
//! `private.is_admin()` decide what each page shows. The former `MONITORING_ADMIN_JWT` and
//! `SUPABASE_SERVICE_ROLE_KEY` modes are gone: either would let whoever reaches the page act
//! with a credential that is not theirs, which the sign-in exists to prevent (and the
//! service key bypasses RLS altogether).

use upload_monitor::devstack::{DevStackError, SupabaseTarget};

pub use upload_monitor::devstack::{DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD};

use crate::session::Project;

/// The project's API URL; unset = start the local dev stack.
pub const URL_ENV: &str = "SUPABASE_URL";
/// The anon key, sent as `apikey` with every call.
pub const ANON_KEY_ENV: &str = "SUPABASE_ANON_KEY";

/// Why the dashboard cannot connect.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// `SUPABASE_URL` is set without the anon key.
    #[error(
        "{URL_ENV} is set: also set {ANON_KEY_ENV} (admins sign in on the page with their own \
         Supabase account; the dashboard needs no service key)"
    )]
    Missing,
    /// The dev stack did not start, or the demo admin could not be created.
    #[error(transparent)]
    DevStack(#[from] DevStackError),
}

/// A connected dashboard: the project admins sign in to, and the dev stack when this process
/// started one (it stops when this is dropped).
#[derive(Debug)]
pub struct Connection {
    /// The project's URL and anon key.
    pub project: Project,
    /// The dev stack this process started, if it did (its demo admin exists then).
    pub dev_stack: Option<SupabaseTarget>,
}

/// Connects as described in the module docs; on the dev stack, creates the demo admin.
///
/// # Errors
///
/// [`CredentialsError`].
pub async fn connect() -> Result<Connection, CredentialsError> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match var(URL_ENV) {
        Some(url) => {
            let anon = var(ANON_KEY_ENV).ok_or(CredentialsError::Missing)?;
            Ok(Connection {
                project: Project::new(url, anon),
                dev_stack: None,
            })
        }
        None => {
            let target = SupabaseTarget::from_env_or_start().await?;
            if let Some(stack) = target.dev_stack() {
                stack.create_demo_admin().await?;
            }
            Ok(Connection {
                project: Project::new(target.api_url(), target.anon_key()),
                dev_stack: Some(target),
            })
        }
    }
}
