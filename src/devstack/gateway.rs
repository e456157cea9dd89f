//! The HTTP gateway: PostgREST's RPC contract (`/rest/v1/rpc/<fn>`) over the dev stack's
//! PostgreSQL, with Supabase's JWT handling and PostgREST's error shapes and status codes.
//!
//! Per request: verify the JWT (HS256), take a pooled connection logged in as `authenticator`,
//! and send in one pipelined round trip `BEGIN`, the role switch and request settings
//! (`set_config('role', ..)`, `request.jwt.claims`, `request.method`, `request.path`,
//! `request.headers`, as PostgREST sets them), the call, and `COMMIT` (which rolls back when
//! anything before it failed). Arguments travel as one JSON text parameter expanded with
//! `json_to_record` into the function's declared types, as PostgREST does: no value is ever
//! spliced into SQL.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use super::api_error::{json_response_body, ApiError};
use super::function_catalog::{call_sql, not_found, pick, CallSql, FunctionCache};
use super::jwt;
use super::DevStackError;

/// The port `supabase start` serves its API on; tried first so URLs match the CLI's.
pub const SUPABASE_API_PORT: u16 = 54321;

/// Largest request body: what the SDK's largest batch needs with every field at its limit
/// (monitor-core/src/limits.rs). A `begin` at the limits is ~30 KB on the wire even when
/// every character is a control character escaped as `\u00XX` (6 bytes): its texts hold
/// 2,155 characters and its metadata 16 KiB. A `fail` is ~25 KB (4,100 characters). The
/// SDK's batch of 500 is then ~15 MB, hence 16 MiB. Typical batches are ~300 KB.
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Pooled connections: on 2 cores a few more than the cores keeps PostgreSQL busy while the
/// gateway parses the next requests; 16 also absorbs clients that hold requests open.
const POOL_SIZE: usize = 16;

/// Worker threads of the gateway's own runtime (the machine and CI have 2 cores).
const WORKER_THREADS: usize = 2;

/// SQLSTATE classes meaning "the cached signature is stale": retry once after a fresh lookup.
const STALE_SIGNATURE_CODES: [&str; 3] = ["42883", "0A000", "42804"];

/// Where the gateway connects and which secret checks tokens.
#[derive(Debug, Clone)]
pub(crate) struct GatewayConfig {
    /// Directory of the server's unix socket.
    pub(crate) socket_dir: PathBuf,
    /// The server's port (also names its socket file).
    pub(crate) pg_port: u16,
    /// HS256 secret.
    pub(crate) jwt_secret: String,
    /// Port to try first; 0 means any free port.
    pub(crate) preferred_port: u16,
    /// The other Supabase services served on the same port (`/auth/v1`, `/storage/v1`).
    pub(crate) services: Router,
}

/// A running gateway on its own thread and runtime; dropping it stops both.
#[derive(Debug)]
pub(crate) struct Gateway {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Gateway {
    /// Binds the port and starts serving on a new thread.
    ///
    /// # Errors
    ///
    /// [`DevStackError::Io`] when no port can be bound or the thread or runtime cannot start.
    pub(crate) fn start(config: GatewayConfig) -> Result<Gateway, DevStackError> {
        let listener = bind(config.preferred_port)?;
        let addr = listener
            .local_addr()
            .map_err(|e| DevStackError::io("reading the gateway's address", e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| DevStackError::io("configuring the gateway socket", e))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKER_THREADS)
            .thread_name("devstack-gateway")
            .enable_all()
            .build()
            .map_err(|e| DevStackError::io("starting the gateway runtime", e))?;
        let mut pg = tokio_postgres::Config::new();
        pg.host_path(&config.socket_dir)
            .port(config.pg_port)
            .user("authenticator")
            .dbname("postgres")
            .application_name("devstack-gateway");
        let manager = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| DevStackError::Gateway(format!("building the pool: {e}")))?;
        let state = Arc::new(AppState {
            pool,
            secret: config.jwt_secret,
            functions: FunctionCache::default(),
        });
        let app = router(state).merge(config.services);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("devstack-gateway-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!(error = %e, "gateway socket unusable");
                            return;
                        }
                    };
                    tokio::select! {
                        result = axum::serve(listener, app) => {
                            if let Err(e) = result {
                                tracing::error!(error = %e, "gateway stopped");
                            }
                        }
                        _ = rx => {}
                    }
                });
                // In-flight requests are abandoned: their transactions roll back.
                runtime.shutdown_timeout(std::time::Duration::from_millis(500));
            })
            .map_err(|e| DevStackError::io("starting the gateway thread", e))?;
        tracing::debug!(%addr, "gateway listening");
        Ok(Gateway {
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The address the gateway listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `preferred` on 127.0.0.1 when it is free (and not 0), otherwise a free port.
fn bind(preferred: u16) -> Result<TcpListener, DevStackError> {
    if preferred != 0 {
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", preferred)) {
            return Ok(listener);
        }
    }
    TcpListener::bind(("127.0.0.1", 0)).map_err(|e| DevStackError::io("binding the gateway", e))
}

struct AppState {
    pool: Pool,
    secret: String,
    functions: FunctionCache,
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/rest/v1/rpc/{function}", any(rpc))
        .fallback(not_served)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::map_response(allow_any_origin))
        .with_state(state)
}

/// Supabase's API gateway answers every origin (the keys, not CORS, guard it); a browser
/// page calling the dev stack directly needs the same.
async fn allow_any_origin(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// The answer to a CORS preflight: the methods and headers supabase-js sends.
fn preflight() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, OPTIONS"),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(
                    "authorization, apikey, content-type, prefer, x-client-info, accept-profile, content-profile",
                ),
            ),
            (
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("3600"),
            ),
        ],
    )
        .into_response()
}

/// The roles a token may switch to (Supabase's API roles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ApiRole {
    Anon,
    Authenticated,
    ServiceRole,
}

impl ApiRole {
    fn parse(role: &str) -> Option<ApiRole> {
        match role {
            "anon" => Some(ApiRole::Anon),
            "authenticated" => Some(ApiRole::Authenticated),
            "service_role" => Some(ApiRole::ServiceRole),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            ApiRole::Anon => "anon",
            ApiRole::Authenticated => "authenticated",
            ApiRole::ServiceRole => "service_role",
        }
    }
}

async fn not_served() -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "PGRST125",
        "The dev stack serves only /rest/v1/rpc/<function> (GET and POST), /auth/v1 and \
         /storage/v1 (their routes are listed in docs); not table endpoints, Realtime or \
         Edge Functions",
    )
}

/// The verified claims and the role they run as.
struct Caller {
    role: ApiRole,
    claims: String,
}

/// Reads the token as Supabase's gateway does (`Authorization: Bearer`, else the `apikey`)
/// and verifies it.
fn authenticate(headers: &HeaderMap, secret: &str) -> Result<Caller, ApiError> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let apikey = headers.get("apikey").and_then(|v| v.to_str().ok());
    let Some(token) = bearer.or(apikey) else {
        let mut e = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "PGRST301",
            "No API key found in request",
        );
        e.body.hint = Some("No `apikey` request header or url param was found.".into());
        return Err(e);
    };
    let claims = jwt::decode(token, secret, jwt::now()).map_err(|e| ApiError::jwt(&e))?;
    let role_name = claims
        .get("role")
        .and_then(|r| r.as_str())
        .unwrap_or("anon");
    let role = ApiRole::parse(role_name).ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "42501",
            format!("permission denied to set role \"{role_name}\""),
        )
    })?;
    Ok(Caller {
        role,
        claims: claims.to_string(),
    })
}

async fn rpc(
    State(state): State<Arc<AppState>>,
    Path(function): Path<String>,
    method: Method,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let read_only = match method {
        Method::POST => false,
        Method::GET | Method::HEAD => true,
        Method::OPTIONS => return preflight(),
        _ => {
            return ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "PGRST101",
                "Cannot use this method on RPC",
            )
            .into_response()
        }
    };
    let caller = match authenticate(&headers, &state.secret) {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    let args = match call_arguments(read_only, &query, &body) {
        Ok(args) => args,
        Err(e) => return e.into_response(),
    };
    let request = Request {
        path: format!("/rpc/{function}"),
        function,
        read_only,
        role: caller.role,
        claims: caller.claims,
        method: method.to_string(),
        headers: headers_json(&headers),
        args,
    };
    // Run to the end even if the client goes away, so the connection returns to the pool
    // with its transaction finished.
    let task = tokio::spawn(async move { execute(&state, &request).await });
    match task.await {
        Ok(Ok(outcome)) => outcome.into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "PGRSTX00",
            format!("gateway task failed: {e}"),
        )
        .into_response(),
    }
}

/// The call's arguments: keys (to pick the overload) and the JSON text sent to the database.
struct CallArgs {
    keys: BTreeSet<String>,
    json: String,
}

fn call_arguments(
    from_query: bool,
    query: &[(String, String)],
    body: &Bytes,
) -> Result<CallArgs, ApiError> {
    if from_query {
        let object: serde_json::Map<String, serde_json::Value> = query
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        return Ok(CallArgs {
            keys: object.keys().cloned().collect(),
            json: serde_json::Value::Object(object).to_string(),
        });
    }
    let text = std::str::from_utf8(body).map_err(|_| invalid_body("body is not UTF-8"))?;
    if text.trim().is_empty() {
        return Ok(CallArgs {
            keys: BTreeSet::new(),
            json: "{}".into(),
        });
    }
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| invalid_body(&e.to_string()))?;
    let Some(object) = value.as_object() else {
        return Err(invalid_body("expected a JSON object of named arguments"));
    };
    Ok(CallArgs {
        keys: object.keys().cloned().collect(),
        json: text.to_string(),
    })
}

fn invalid_body(why: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "PGRST102",
        format!("Empty or invalid json: {why}"),
    )
}

/// `request.headers` as PostgREST sets it: lower-case names to values.
fn headers_json(headers: &HeaderMap) -> String {
    let object: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .filter_map(|(name, value)| {
            Some((
                name.as_str().to_string(),
                serde_json::Value::String(value.to_str().ok()?.to_string()),
            ))
        })
        .collect();
    serde_json::Value::Object(object).to_string()
}

struct Request {
    function: String,
    read_only: bool,
    role: ApiRole,
    claims: String,
    method: String,
    path: String,
    headers: String,
    args: CallArgs,
}

const SETUP_SQL: &str = "select set_config('role', $1, true), \
     set_config('request.jwt.claims', $2, true), \
     set_config('request.method', $3, true), \
     set_config('request.path', $4, true), \
     set_config('request.headers', $5, true), \
     set_config('request.cookies', '{}', true)";

/// What the function asked of the response (PostgREST's `response.*` settings); empty when
/// unset in this transaction.
const RESPONSE_SQL: &str = "select nullif(current_setting('response.status', true), ''), \
     nullif(current_setting('response.headers', true), '')";

/// Runs one call.
async fn execute(state: &AppState, request: &Request) -> Result<Outcome, ApiError> {
    let client = state.pool.get().await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "PGRST000",
            format!("Database connection error: {e}"),
        )
    })?;
    let mut fresh_lookup = false;
    loop {
        let overloads = match state.functions.cached(&request.function) {
            Some(o) if !fresh_lookup => o,
            _ => {
                fresh_lookup = true;
                state
                    .functions
                    .lookup(&client, &request.function, request.role)
                    .await?
            }
        };
        let Some(overload) = pick(&overloads, &request.args.keys)? else {
            if fresh_lookup {
                return Err(not_found(&request.function, &request.args.keys));
            }
            // The cached signature may be stale: look again once.
            fresh_lookup = true;
            continue;
        };
        let call = call_sql(&request.function, overload, &request.args.keys);
        match run(&client, request, overload.returns_void, &call).await {
            Err(e)
                if !fresh_lookup
                    && e.as_db_error()
                        .is_some_and(|db| STALE_SIGNATURE_CODES.contains(&db.code().code())) =>
            {
                tracing::debug!(function = %request.function, "stale signature, looking up again");
                client.statement_cache.clear();
                fresh_lookup = true;
            }
            Err(e) => return Err(ApiError::database(&e, request.role)),
            Ok(result) => return Ok(result),
        }
    }
}

/// What a successful call answers: its JSON (`None` for void) and what it asked of the
/// response through PostgREST's `response.status` and `response.headers` settings.
struct Outcome {
    body: Option<String>,
    status: Option<String>,
    headers: Option<String>,
}

impl Outcome {
    /// The HTTP response, with the function's status and headers when it set them
    /// (PGRST112/PGRST111 when those are malformed, as PostgREST answers).
    fn into_response(self) -> Response {
        let mut status = if self.body.is_some() {
            StatusCode::OK
        } else {
            StatusCode::NO_CONTENT
        };
        if let Some(text) = self.status {
            match text
                .trim()
                .parse::<u16>()
                .ok()
                .and_then(|s| StatusCode::from_u16(s).ok())
            {
                Some(custom) => status = custom,
                None => {
                    return ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "PGRST112",
                        "response.status guc must be a valid status code",
                    )
                    .into_response()
                }
            }
        }
        let extra = match self.headers.as_deref().map(parse_guc_headers) {
            None => Vec::new(),
            Some(Some(headers)) => headers,
            Some(None) => {
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "PGRST111",
                    "response.headers guc must be a JSON array composed of objects with a single key and a string value",
                )
                .into_response()
            }
        };
        let mut response = match self.body {
            Some(json) => (status, json_response_body(json)).into_response(),
            None => status.into_response(),
        };
        for (name, value) in extra {
            response.headers_mut().append(name, value);
        }
        response
    }
}

/// `[{"Name": "value"}, ...]`, PostgREST's format for `response.headers`.
fn parse_guc_headers(text: &str) -> Option<Vec<(header::HeaderName, HeaderValue)>> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    value
        .as_array()?
        .iter()
        .map(|item| {
            let object = item.as_object().filter(|o| o.len() == 1)?;
            let (name, value) = object.iter().next()?;
            Some((
                header::HeaderName::from_bytes(name.as_bytes()).ok()?,
                HeaderValue::from_str(value.as_str()?).ok()?,
            ))
        })
        .collect()
}

/// BEGIN, setup, call, response settings, COMMIT in one pipelined round trip
/// (tokio-postgres sends each request when its future is first polled, and `join5` polls
/// them in order).
async fn run(
    client: &deadpool_postgres::Object,
    request: &Request,
    returns_void: bool,
    call_sql: &CallSql,
) -> Result<Outcome, tokio_postgres::Error> {
    let setup = client.prepare_cached(SETUP_SQL).await?;
    let response_settings = client.prepare_cached(RESPONSE_SQL).await?;
    // One cached statement per role: PostgreSQL inlines simple SQL functions at planning
    // time, checking EXECUTE only then, so a generic plan made for service_role would let
    // anon run a function it may not call. The role in the text keeps the plans apart.
    let call = client
        .prepare_cached(&format!("{} -- {}", call_sql.sql, request.role.as_str()))
        .await?;
    let begin = if request.read_only {
        "begin read only"
    } else {
        "begin"
    };
    let role = request.role.as_str();
    let setup_params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] = [
        &role,
        &request.claims,
        &request.method,
        &request.path,
        &request.headers,
    ];
    let call_params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = if call_sql.binds_args {
        vec![&request.args.json]
    } else {
        Vec::new()
    };
    let (began, set, called, settings, committed) = futures_util::future::join5(
        client.batch_execute(begin),
        client.query_one(&setup, &setup_params),
        client.query_opt(&call, &call_params),
        client.query_one(&response_settings, &[]),
        client.batch_execute("commit"),
    )
    .await;
    // The first failure is the cause; later ones are "transaction aborted" echoes.
    began?;
    set?;
    let row = called?;
    let settings = settings?;
    committed?;
    let body = if returns_void {
        None
    } else {
        let json: Option<String> = match row {
            Some(row) => row.try_get(0)?,
            None => None,
        };
        Some(json.unwrap_or_else(|| "null".to_string()))
    };
    Ok(Outcome {
        body,
        status: settings.try_get(0)?,
        headers: settings.try_get(1)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_headers_follow_postgrest_format() {
        let parsed = parse_guc_headers(r#"[{"Retry-After": "5"}, {"X-A": "b"}]"#).unwrap();
        assert_eq!(parsed.len(), 2);
        assert!(parse_guc_headers(r#"{"Retry-After": "5"}"#).is_none());
        assert!(parse_guc_headers(r#"[{"A": "1", "B": "2"}]"#).is_none());
        assert!(parse_guc_headers(r#"[{"A": 1}]"#).is_none());
    }
}
