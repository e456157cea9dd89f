//! Local Supabase without Docker: a throwaway PostgreSQL with Supabase's platform shim and the
//! project's migrations, behind a gateway speaking PostgREST's RPC contract.
//!
//! ```no_run
//! # async fn demo() -> Result<(), upload_monitor::devstack::DevStackError> {
//! use upload_monitor::devstack::{DevStack, NewUser};
//! let stack = DevStack::start().await?;
//! let user = stack.create_user(&NewUser::new("ada@example.com")).await?;
//! // POST {api_url}/rest/v1/rpc/monitor_api_version with
//! //   apikey: {anon_key}, Authorization: Bearer {user.access_token}
//! println!("{} {}", stack.api_url(), user.access_token);
//! # Ok(()) }
//! ```
//!
//! Each [`DevStack`] owns its cluster (temp dir, free port) and gateway, so many run side by
//! side. Tests in one process share one through [`DevStack::shared`]. A stack's files and
//! server go away when it is dropped, and also when the process dies without dropping it (a
//! watcher process cleans up).

mod api_error;
mod api_keys;
mod cluster;
mod error;
mod function_catalog;
mod gateway;
pub mod jwt;
mod migrate;
mod negotiation;
mod os_user;
mod pg_binaries;
mod preferences;
mod query_params;
mod range;
mod request_body;
mod result_query;
mod role_settings;
mod target;
mod users;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tokio_postgres::NoTls;
use uuid::Uuid;

pub use error::DevStackError;
pub use gateway::{BODY_STALL_TIMEOUT, SUPABASE_API_PORT};
pub use jwt::{Claims, JwtError, DEMO_ANON_KEY, DEMO_JWT_SECRET, DEMO_SERVICE_ROLE_KEY};
pub use migrate::{MigrationReport, Migrator, MIGRATIONS_DIR_ENV};
pub use pg_binaries::{PgBinaries, SearchPaths, BINDIR_ENV};
pub use target::SupabaseTarget;
pub use users::{NewUser, TestUser};

use cluster::Cluster;
use gateway::{Gateway, GatewayConfig};

/// How to start a [`DevStack`]. `Default` is what `supabase start` would give.
#[derive(Debug, Clone)]
pub struct DevStackOptions {
    /// The directory with `local/` and the timestamped migrations
    /// (default [`Migrator::default_dir`]).
    pub migrations_dir: PathBuf,
    /// Gateway port to try first; 0 = any free port (default [`SUPABASE_API_PORT`]).
    pub api_port: u16,
    /// How long the gateway waits for the next piece of a request body before it drops the
    /// client (default [`BODY_STALL_TIMEOUT`], PostgREST's server timeout).
    pub body_stall_timeout: std::time::Duration,
}

impl Default for DevStackOptions {
    fn default() -> Self {
        DevStackOptions {
            migrations_dir: Migrator::default_dir(),
            api_port: SUPABASE_API_PORT,
            body_stall_timeout: BODY_STALL_TIMEOUT,
        }
    }
}

/// A running local Supabase: PostgreSQL with the migrations applied and the RPC gateway.
///
/// Dropping it stops the gateway and the server and removes the cluster's files.
#[derive(Debug)]
pub struct DevStack {
    // Field order is drop order: the gateway stops before the database it uses.
    gateway: Gateway,
    cluster: Cluster,
    api_url: String,
    db_url: String,
    migrations_dir: PathBuf,
}

impl DevStack {
    /// Starts a stack with default options: cluster, `migrations/local/*.sql`,
    /// `migrations/*.sql`, gateway.
    ///
    /// # Errors
    ///
    /// [`DevStackError::PostgresNotFound`] without PostgreSQL server binaries, else whatever
    /// step failed (initdb, server start, a migration, the gateway's port).
    pub async fn start() -> Result<DevStack, DevStackError> {
        Self::start_with(DevStackOptions::default()).await
    }

    /// Starts a stack with `options`.
    ///
    /// # Errors
    ///
    /// As [`DevStack::start`].
    pub async fn start_with(options: DevStackOptions) -> Result<DevStack, DevStackError> {
        // Start-up blocks (processes, waiting for the server): do it on a thread of its own so
        // no runtime flavour is blocked or nested.
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("devstack-start".into())
            .spawn(move || {
                let _ = tx.send(Self::start_here(options));
            })
            .map_err(|e| DevStackError::io("starting the dev stack thread", e))?;
        rx.await
            .map_err(|_| DevStackError::Gateway("the start-up thread died".into()))?
    }

    /// [`DevStack::start`] from synchronous code (also fine inside a tokio runtime: the work
    /// runs on its own thread).
    ///
    /// # Errors
    ///
    /// As [`DevStack::start`].
    pub fn start_blocking() -> Result<DevStack, DevStackError> {
        Self::start_blocking_with(DevStackOptions::default())
    }

    /// [`DevStack::start_with`] from synchronous code.
    ///
    /// # Errors
    ///
    /// As [`DevStack::start`].
    pub fn start_blocking_with(options: DevStackOptions) -> Result<DevStack, DevStackError> {
        std::thread::Builder::new()
            .name("devstack-start".into())
            .spawn(move || Self::start_here(options))
            .map_err(|e| DevStackError::io("starting the dev stack thread", e))?
            .join()
            .map_err(|_| DevStackError::Gateway("the start-up thread panicked".into()))?
    }

    /// The stack shared by everything in this process, started on first use. Tests use it
    /// so a test binary starts one cluster, not one per test. It is never dropped; its
    /// watcher removes it when the process exits.
    ///
    /// # Panics
    ///
    /// When the stack cannot start (a test fixture: the message says why, e.g. how to install
    /// PostgreSQL). Use [`DevStack::try_shared`] to handle the error.
    pub fn shared() -> &'static DevStack {
        match Self::try_shared() {
            Ok(stack) => stack,
            Err(message) => panic!("the shared dev stack could not start: {message}"),
        }
    }

    /// [`DevStack::shared`] without the panic.
    ///
    /// # Errors
    ///
    /// The start-up error's message (the same on every call: the start is tried once).
    pub fn try_shared() -> Result<&'static DevStack, &'static str> {
        static SHARED: OnceLock<Result<DevStack, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| Self::start_blocking().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(String::as_str)
    }

    fn start_here(options: DevStackOptions) -> Result<DevStack, DevStackError> {
        let started = std::time::Instant::now();
        let bins = PgBinaries::find()?;
        let cluster = Cluster::start(&bins)?;
        let db_url = format!(
            "postgresql://postgres@127.0.0.1:{}/postgres",
            cluster.port()
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| DevStackError::io("starting a runtime for migrations", e))?;
        let migrator = Migrator::new(&options.migrations_dir);
        let report = runtime.block_on(async {
            let mut client = connect(&db_url).await?;
            migrator.apply(&mut client).await
        })?;
        drop(runtime);
        let gateway = Gateway::start(GatewayConfig {
            socket_dir: cluster.socket_dir().to_path_buf(),
            pg_port: cluster.port(),
            jwt_secret: DEMO_JWT_SECRET.to_string(),
            api_keys: vec![DEMO_ANON_KEY.to_string(), DEMO_SERVICE_ROLE_KEY.to_string()],
            preferred_port: options.api_port,
            body_stall_timeout: options.body_stall_timeout,
        })?;
        let api_url = format!("http://{}", gateway.addr());
        tracing::info!(
            %api_url, %db_url, applied = report.applied.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "dev stack started"
        );
        Ok(DevStack {
            gateway,
            cluster,
            api_url,
            db_url,
            migrations_dir: options.migrations_dir,
        })
    }

    /// The API URL, like `SUPABASE_URL` (`http://127.0.0.1:54321` when that port was free).
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// Supabase's local demo anon key.
    pub fn anon_key(&self) -> &str {
        DEMO_ANON_KEY
    }

    /// Supabase's local demo service_role key (bypasses RLS; server-side only).
    pub fn service_role_key(&self) -> &str {
        DEMO_SERVICE_ROLE_KEY
    }

    /// Supabase's local demo JWT secret.
    pub fn jwt_secret(&self) -> &str {
        DEMO_JWT_SECRET
    }

    /// The superuser URL: `postgresql://postgres@127.0.0.1:<port>/postgres` (trust auth).
    pub fn db_url(&self) -> &str {
        &self.db_url
    }

    /// The gateway's port on 127.0.0.1.
    pub fn api_port(&self) -> u16 {
        self.gateway.addr().port()
    }

    /// The server's port on 127.0.0.1.
    pub fn db_port(&self) -> u16 {
        self.cluster.port()
    }

    /// The directory of the server's unix socket (for `psql -h <dir> -p <port>`).
    pub fn socket_dir(&self) -> &Path {
        self.cluster.socket_dir()
    }

    /// A superuser connection; its connection task is spawned on the current runtime.
    ///
    /// # Errors
    ///
    /// [`DevStackError::Database`] when the connection fails.
    pub async fn connect(&self) -> Result<tokio_postgres::Client, DevStackError> {
        connect(&self.db_url).await
    }

    /// Applies migrations not applied yet (e.g. a file added since start); local shim files
    /// run again (they are idempotent).
    ///
    /// # Errors
    ///
    /// As [`Migrator::apply`].
    pub async fn migrate(&self) -> Result<MigrationReport, DevStackError> {
        let mut client = self.connect().await?;
        Migrator::new(&self.migrations_dir).apply(&mut client).await
    }

    /// Creates `auth.users` and `public.profiles` rows for a new user with a random id, and
    /// returns a valid access token for them.
    ///
    /// # Errors
    ///
    /// [`DevStackError::Database`] when an insert fails (e.g. the email is taken).
    pub async fn create_user(&self, user: &NewUser) -> Result<TestUser, DevStackError> {
        self.create_user_with_id(Uuid::new_v4(), user).await
    }

    /// [`DevStack::create_user`] with a chosen id (fixtures with fixed UUIDs).
    ///
    /// # Errors
    ///
    /// As [`DevStack::create_user`].
    pub async fn create_user_with_id(
        &self,
        id: Uuid,
        user: &NewUser,
    ) -> Result<TestUser, DevStackError> {
        let client = self.connect().await?;
        users::create_user(&client, id, user, self.jwt_secret()).await
    }

    /// Signs `claims` with the stack's JWT secret (HS256).
    pub fn mint_token(&self, claims: &Claims) -> String {
        jwt::encode(claims, self.jwt_secret())
    }
}

/// Connects to `url` without TLS and spawns the connection task on the current runtime.
pub(crate) async fn connect(url: &str) -> Result<tokio_postgres::Client, DevStackError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| DevStackError::db(format!("connecting to {url}"), e))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "dev stack connection closed");
        }
    });
    Ok(client)
}
