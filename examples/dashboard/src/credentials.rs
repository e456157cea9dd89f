//! Which Supabase the dashboard reads and with which credential: the local dev stack with a
//! demo admin it creates, or the project named by `SUPABASE_URL` with an admin's token or the
//! service key. The credential stays in this process; the browser never receives it.

use monitor_core::client::{ClientError, MonitoringClient};
use upload_monitor::devstack::{jwt, Claims, DevStackError, NewUser, SupabaseTarget};

/// The project's API URL; unset = start the local dev stack.
pub const URL_ENV: &str = "SUPABASE_URL";
/// The anon key, sent as `apikey` beside [`ADMIN_JWT_ENV`].
pub const ANON_KEY_ENV: &str = "SUPABASE_ANON_KEY";
/// An admin user's access token (`app_metadata.role = admin`), preferred over the service key:
/// the dashboard then acts with an admin's rights, not the key that bypasses RLS.
pub const ADMIN_JWT_ENV: &str = "MONITORING_ADMIN_JWT";
/// The service key, when no admin token is given.
pub const SERVICE_ROLE_KEY_ENV: &str = "SUPABASE_SERVICE_ROLE_KEY";

/// The demo admin's token lifetime on the dev stack. Supabase access tokens last an hour and
/// the dashboard cannot refresh one; the dev stack's secret is known, so the demo admin gets
/// a token that outlives any session.
const DEMO_TOKEN_LIFETIME_SECS: i64 = 30 * 24 * 3600;

/// Why the dashboard cannot connect.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// `SUPABASE_URL` is set without a usable credential.
    #[error(
        "{URL_ENV} is set: also set {ADMIN_JWT_ENV} (an admin's access token) and \
         {ANON_KEY_ENV}, or {SERVICE_ROLE_KEY_ENV}"
    )]
    Missing,
    /// The dev stack did not start, or the demo admin could not be created.
    #[error(transparent)]
    DevStack(#[from] DevStackError),
    /// The client refused the URL or keys.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// A connected dashboard: the client, and the dev stack when this process started one (it
/// stops when this is dropped).
#[derive(Debug)]
pub struct Connection {
    /// Calls the monitoring RPCs with the dashboard's credential.
    pub client: MonitoringClient,
    /// Which credential, for the start-up banner (never the secret itself).
    pub credential: String,
    /// The dev stack this process started, if it did.
    pub dev_stack: Option<SupabaseTarget>,
}

/// Connects as described in the module docs.
///
/// # Errors
///
/// [`CredentialsError`].
pub async fn connect() -> Result<Connection, CredentialsError> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match var(URL_ENV) {
        Some(url) => {
            let (client, credential) = match (var(ADMIN_JWT_ENV), var(ANON_KEY_ENV)) {
                (Some(token), Some(anon)) => (
                    MonitoringClient::new(&url, &anon, &token)?,
                    format!("the admin token in {ADMIN_JWT_ENV}"),
                ),
                _ => match var(SERVICE_ROLE_KEY_ENV) {
                    Some(key) => (
                        MonitoringClient::with_service_key(&url, &key)?,
                        format!("the service key in {SERVICE_ROLE_KEY_ENV}"),
                    ),
                    None => return Err(CredentialsError::Missing),
                },
            };
            Ok(Connection {
                client,
                credential,
                dev_stack: None,
            })
        }
        None => {
            let target = SupabaseTarget::from_env_or_start().await?;
            let email = format!(
                "admin-dashboard-{}@demo.test",
                uuid::Uuid::new_v4().simple()
            );
            let admin = target
                .create_user(&NewUser::new(&email).named("Alice", "Admin").admin())
                .await?;
            let token = target.mint_token(
                &Claims::admin(admin.id, &email).with_exp(jwt::now() + DEMO_TOKEN_LIFETIME_SECS),
            )?;
            let client = MonitoringClient::new(target.api_url(), target.anon_key(), &token)?;
            Ok(Connection {
                client,
                credential: format!("the demo admin {email}"),
                dev_stack: Some(target),
            })
        }
    }
}
