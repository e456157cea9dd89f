//! Local Supabase without Docker: a throwaway PostgreSQL with Supabase's platform shim and the
//! project's migrations, behind one HTTP port that speaks PostgREST's RPC contract
//! (`/rest/v1/rpc`), Auth's sign-in subset (`/auth/v1`) and Storage's
//! object subset (`/storage/v1`), with pg_cron running the migrations' scheduled jobs where
//! the machine has it.
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
//! # Auth
//!
//! `POST /auth/v1/token?grant_type=password|refresh_token`, `GET /auth/v1/user`,
//! `POST /auth/v1/logout` and `POST /auth/v1/admin/users` behave as Supabase Auth (GoTrue):
//! bcrypt passwords, sessions and rotating refresh tokens in `auth`. [`DevStack::create_user`]
//! with [`NewUser::password()`] makes an account that can sign in;
//! [`DevStack::create_demo_admin`] makes [`DEMO_ADMIN_EMAIL`].
//!
//! # Storage
//!
//! `/storage/v1/object/...`: uploads (binary or multipart, streamed to the stack's temp
//! directory), downloads with a JWT or a signed URL, `storage.objects` rows under RLS.
//!
//! # pg_cron
//!
//! When the machine's PostgreSQL has pg_cron (Debian: [`pg_cron_package`]), the cluster
//! preloads it and the migrations schedule their jobs ([`DevStack::has_pg_cron`]); without
//! it a warning says the jobs will not run, and everything else works.
//!
//! Each [`DevStack`] owns its cluster (temp dir, free port) and gateway, so many run side by
//! side. Tests in one process share one through [`DevStack::shared`]. A stack's files and
//! server go away when it is dropped, and also when the process dies without dropping it (a
//! watcher process cleans up).

mod api_error;
mod api_keys;
mod auth;
mod cluster;
mod cors;
mod cron;
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
mod roles;
mod storage;
mod target;
mod users;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tokio_postgres::NoTls;
use uuid::Uuid;

pub use auth::{DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD, REFRESH_TOKEN_REUSE_INTERVAL_SECS};
pub use cron::pg_cron_package;
pub use error::DevStackError;
pub use gateway::{BODY_STALL_TIMEOUT, SUPABASE_API_PORT};
pub use jwt::{Claims, JwtError, DEMO_ANON_KEY, DEMO_JWT_SECRET, DEMO_SERVICE_ROLE_KEY};
pub use migrate::{MigrationReport, Migrator, MIGRATIONS_DIR_ENV};
pub use pg_binaries::{PgBinaries, SearchPaths, BINDIR_ENV};
pub use roles::ApiRole;
pub use storage::DEFAULT_FILE_SIZE_LIMIT;
pub use target::SupabaseTarget;
pub use users::{NewUser, TestUser};

use cluster::Cluster;
use cron::PgCron;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
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
    /// Storage's global upload limit in bytes (default [`DEFAULT_FILE_SIZE_LIMIT`], what
    /// `supabase/config.toml` sets); a bucket's own `file_size_limit` can only lower it.
    pub storage_file_size_limit: u64,
}

impl Default for DevStackOptions {
    fn default() -> Self {
        DevStackOptions {
            migrations_dir: Migrator::default_dir(),
            api_port: SUPABASE_API_PORT,
            body_stall_timeout: BODY_STALL_TIMEOUT,
            storage_file_size_limit: DEFAULT_FILE_SIZE_LIMIT,
        }
    }
}

/// Connections of the Auth and Storage pools each: their requests are short transactions
/// (uploads hold no connection while their bytes stream).
const SERVICE_POOL_SIZE: usize = 8;

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
    pg_cron: bool,
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
        let cron = PgCron::find(&bins);
        let settings = cron
            .as_ref()
            .map(PgCron::server_settings)
            .unwrap_or_default();
        let cluster = Cluster::start(&bins, &settings)?;
        let db_url = format!(
            "postgresql://postgres@127.0.0.1:{}/postgres",
            cluster.port()
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| DevStackError::io("starting a runtime for migrations", e))?;
        let migrator = Migrator::new(&options.migrations_dir);
        let (report, pg_cron) = runtime.block_on(async {
            let mut client = connect(&db_url).await?;
            let report = migrator.apply(&mut client).await?;
            let pg_cron = client
                .query_one(
                    "select exists (select 1 from pg_extension where extname = 'pg_cron')",
                    &[],
                )
                .await
                .map_err(|e| DevStackError::db("looking for pg_cron", e))?
                .get::<_, bool>(0);
            Ok::<_, DevStackError>((report, pg_cron))
        })?;
        drop(runtime);
        match (&cron, pg_cron) {
            (Some(cron), true) => tracing::info!(
                library = %cron.library().display(),
                "pg_cron preloaded: the migrations' scheduled jobs run"
            ),
            (Some(_), false) => tracing::warn!(
                "pg_cron is installed but its extension was not created: scheduled jobs \
                 (stale sweep, 7-day cleanup) will not run"
            ),
            (None, _) => tracing::warn!(
                "pg_cron not found (apt-get install {}): the migrations' scheduled jobs \
                 (stale sweep, 7-day cleanup) will not run in this dev stack",
                pg_cron_package()
            ),
        }
        let storage_dir = cluster.make_dir("storage")?;
        let services = auth::router(
            service_pool(&cluster, "devstack-auth")?,
            DEMO_JWT_SECRET.to_string(),
        )
        .merge(storage::router(
            service_pool(&cluster, "devstack-storage")?,
            DEMO_JWT_SECRET.to_string(),
            storage::StorageConfig {
                dir: storage_dir,
                file_size_limit: options.storage_file_size_limit,
            },
        ));
        let gateway = Gateway::start(GatewayConfig {
            socket_dir: cluster.socket_dir().to_path_buf(),
            pg_port: cluster.port(),
            jwt_secret: DEMO_JWT_SECRET.to_string(),
            api_keys: vec![DEMO_ANON_KEY.to_string(), DEMO_SERVICE_ROLE_KEY.to_string()],
            preferred_port: options.api_port,
            body_stall_timeout: options.body_stall_timeout,
            services,
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
            pg_cron,
        })
    }

    /// True when pg_cron runs in this stack: the migrations' jobs (`mark-stale-uploads` every
    /// minute, `cleanup-upload-queue` daily) are scheduled and run by themselves.
    pub fn has_pg_cron(&self) -> bool {
        self.pg_cron
    }

    /// Creates [`DEMO_ADMIN_EMAIL`] (password [`DEMO_ADMIN_PASSWORD`], `app_metadata.role =
    /// "admin"`, email confirmed) when it does not exist yet, so an admin can sign in with
    /// Auth's password grant as on a hosted project. Answers the account's id.
    ///
    /// # Errors
    ///
    /// [`DevStackError::Database`] when the account cannot be read or created.
    pub async fn create_demo_admin(&self) -> Result<Uuid, DevStackError> {
        let client = self.connect().await?;
        let existing = client
            .query_opt(
                "select id from auth.users where lower(email) = $1",
                &[&DEMO_ADMIN_EMAIL],
            )
            .await
            .map_err(|e| DevStackError::db("looking for the demo admin", e))?;
        if let Some(row) = existing {
            return Ok(row.get(0));
        }
        let admin = NewUser::new(DEMO_ADMIN_EMAIL)
            .named("Admin", "Demo")
            .admin()
            .password(DEMO_ADMIN_PASSWORD);
        Ok(
            users::create_user(&client, Uuid::new_v4(), &admin, self.jwt_secret())
                .await?
                .id,
        )
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

/// A pool of superuser connections over the cluster's socket, for a service that writes
/// Supabase's own schemas (`auth`, `storage`) and switches role per request where RLS must
/// decide.
fn service_pool(cluster: &Cluster, application: &str) -> Result<Pool, DevStackError> {
    let mut pg = tokio_postgres::Config::new();
    pg.host_path(cluster.socket_dir())
        .port(cluster.port())
        .user("postgres")
        .dbname("postgres")
        .application_name(application);
    let manager = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(SERVICE_POOL_SIZE)
        .build()
        .map_err(|e| DevStackError::Gateway(format!("building the {application} pool: {e}")))
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
