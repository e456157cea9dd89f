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

use std::collections::{BTreeSet, HashMap};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use super::jwt::{self, JwtError};
use super::DevStackError;

/// The port `supabase start` serves its API on; tried first so URLs match the CLI's.
pub const SUPABASE_API_PORT: u16 = 54321;

/// Largest request body: batches of 500 events are ~300 KB, and the tests send a 10 MB error
/// message (which JSON escaping can grow); 32 MiB leaves room for both.
const BODY_LIMIT: usize = 32 * 1024 * 1024;

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
            functions: RwLock::new(HashMap::new()),
        });
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
                        result = axum::serve(listener, router(state)) => {
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
    /// Overloads of each `public` function seen so far. Names not found are not cached, so a
    /// function created later is found on its first call.
    functions: RwLock<HashMap<String, Arc<[Overload]>>>,
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
enum ApiRole {
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

/// One overload of a `public` function: its IN arguments in declaration order.
#[derive(Debug, Clone)]
struct Overload {
    args: Vec<Arg>,
    returns_set: bool,
    returns_void: bool,
}

#[derive(Debug, Clone)]
struct Arg {
    /// Empty for an unnamed argument.
    name: String,
    /// The type as `format_type` spells it (valid SQL, quoted and qualified as needed).
    type_sql: String,
    has_default: bool,
}

impl Overload {
    /// A single unnamed json/jsonb argument receives the whole body (PostgREST's rule).
    fn takes_whole_body(&self) -> bool {
        matches!(&self.args[..], [arg] if arg.name.is_empty() && (arg.type_sql == "json" || arg.type_sql == "jsonb"))
    }

    /// True when the call's keys name only arguments of this overload and cover the ones
    /// without defaults.
    fn accepts(&self, keys: &BTreeSet<String>) -> bool {
        keys.iter().all(|k| self.args.iter().any(|a| &a.name == k))
            && self
                .args
                .iter()
                .all(|a| a.has_default || keys.contains(&a.name))
    }
}

/// An error answered as PostgREST does: `{code, message, details, hint}` and a status.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    /// Boxed: errors travel in `Result`s on the hot path, which stay small this way.
    body: Box<ErrorBody>,
}

#[derive(Debug)]
struct ErrorBody {
    code: String,
    message: String,
    details: Option<String>,
    hint: Option<String>,
    www_authenticate: Option<String>,
    /// Headers a function asked for with `RAISE sqlstate 'PGRST'`.
    headers: Vec<(String, String)>,
}

impl ApiError {
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: Box::new(ErrorBody {
                code: code.to_string(),
                message: message.into(),
                details: None,
                hint: None,
                www_authenticate: None,
                headers: Vec::new(),
            }),
        }
    }

    fn jwt(error: &JwtError) -> Self {
        let code = if error.is_claims_error() {
            "PGRST303"
        } else {
            "PGRST301"
        };
        let mut e = ApiError::new(StatusCode::UNAUTHORIZED, code, error.to_string());
        e.body.www_authenticate = Some(format!(
            "Bearer error=\"invalid_token\", error_description=\"{error}\""
        ));
        e
    }

    /// A database error with PostgREST's status mapping.
    fn database(error: &tokio_postgres::Error, role: ApiRole) -> Self {
        let Some(db) = error.as_db_error() else {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "PGRST001",
                format!("Database client error: {error}"),
            );
        };
        let code = db.code().code();
        if code == "PGRST" {
            return ApiError::raised(db.message(), db.detail());
        }
        ApiError {
            status: status_for_sqlstate(code, role),
            body: Box::new(ErrorBody {
                code: code.to_string(),
                message: db.message().to_string(),
                details: db.detail().map(str::to_string),
                hint: db.hint().map(str::to_string),
                www_authenticate: None,
                headers: Vec::new(),
            }),
        }
    }
}

impl ApiError {
    /// `RAISE sqlstate 'PGRST' USING message = '{"code":..,"message":..}', detail =
    /// '{"status":..,"headers":{..}}'`: the function chooses body, status and headers
    /// (PGRST121 when either JSON is unreadable), as PostgREST documents.
    fn raised(message: &str, detail: Option<&str>) -> Self {
        let parsed = (|| {
            let body: serde_json::Value = serde_json::from_str(message).ok()?;
            let detail: serde_json::Value = serde_json::from_str(detail?).ok()?;
            let status =
                StatusCode::from_u16(u16::try_from(detail.get("status")?.as_u64()?).ok()?).ok()?;
            let text = |key: &str| body.get(key).and_then(|v| v.as_str()).map(str::to_string);
            let headers = match detail.get("headers") {
                None => Vec::new(),
                Some(h) => h
                    .as_object()?
                    .iter()
                    .map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect::<Option<Vec<_>>>()?,
            };
            Some((
                status,
                text("code"),
                text("message"),
                text("details"),
                text("hint"),
                headers,
            ))
        })();
        let Some((status, code, message, details, hint, headers)) = parsed else {
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "PGRST121",
                "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
            );
        };
        ApiError {
            status,
            body: Box::new(ErrorBody {
                code: code.unwrap_or_default(),
                message: message.unwrap_or_default(),
                details,
                hint,
                www_authenticate: None,
                headers,
            }),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ErrorBody {
            code,
            message,
            details,
            hint,
            www_authenticate,
            headers,
        } = *self.body;
        let body = serde_json::json!({
            "code": code,
            "details": details,
            "hint": hint,
            "message": message,
        });
        let mut response = (self.status, json_response_body(body.to_string())).into_response();
        if let Some(value) = www_authenticate.and_then(|v| HeaderValue::from_str(&v).ok()) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        for (name, value) in headers {
            if let (Ok(name), Ok(value)) = (
                header::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}

/// PostgREST's table from SQLSTATE to HTTP status (docs: "Errors", "HTTP Status Codes").
/// `42501` is 401 for the anonymous role and 403 for a signed-in one; `PTxyz` is status xyz.
fn status_for_sqlstate(code: &str, role: ApiRole) -> StatusCode {
    if let Some(custom) = code.strip_prefix("PT") {
        if let Some(status) = custom
            .parse::<u16>()
            .ok()
            .and_then(|s| StatusCode::from_u16(s).ok())
        {
            return status;
        }
    }
    let status = match code {
        "23503" | "23505" => 409,
        "25006" => 405,
        "53400" => 500,
        "P0001" => 400,
        "42883" | "42P01" => 404,
        "42P17" => 500,
        "42501" if role == ApiRole::Anon => 401,
        "42501" => 403,
        _ => match &code[..code.len().min(2)] {
            "08" | "53" => 503,
            "09" | "25" | "2D" | "38" | "39" | "3B" | "40" | "54" | "55" | "57" | "58" | "F0"
            | "HV" | "P0" | "XX" => 500,
            "0L" | "0P" | "28" => 403,
            _ => 400,
        },
    };
    StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST)
}

fn json_response_body(body: String) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        )],
        body,
    )
}

async fn not_served() -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "PGRST125",
        "The dev stack gateway serves only /rest/v1/rpc/<function> (GET and POST)",
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

const LOOKUP_SQL: &str = "select p.proretset, \
       p.prorettype = 'pg_catalog.void'::pg_catalog.regtype, \
       coalesce(p.proargnames, array[]::text[]), \
       coalesce(p.proargmodes::text[], array[]::text[]), \
       array(select pg_catalog.format_type(u.t, null) \
             from unnest(p.proargtypes) with ordinality as u(t, n) order by u.n), \
       p.pronargdefaults::int4 \
     from pg_catalog.pg_proc p \
     join pg_catalog.pg_namespace n on n.oid = p.pronamespace \
     where n.nspname = 'public' and p.proname = $1 and p.prokind = 'f'";

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
        let overloads = match cached(state, &request.function) {
            Some(o) if !fresh_lookup => o,
            _ => {
                fresh_lookup = true;
                lookup(state, &client, &request.function, request.role).await?
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

fn cached(state: &AppState, function: &str) -> Option<Arc<[Overload]>> {
    state
        .functions
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(function)
        .cloned()
}

/// Reads the function's overloads from the catalogue and caches them (when it exists).
async fn lookup(
    state: &AppState,
    client: &deadpool_postgres::Object,
    function: &str,
    role: ApiRole,
) -> Result<Arc<[Overload]>, ApiError> {
    let statement = client
        .prepare_cached(LOOKUP_SQL)
        .await
        .map_err(|e| ApiError::database(&e, role))?;
    let rows = client
        .query(&statement, &[&function])
        .await
        .map_err(|e| ApiError::database(&e, role))?;
    let overloads: Vec<Overload> = rows
        .iter()
        .map(|row| {
            let names: Vec<String> = row.get(2);
            let modes: Vec<String> = row.get(3);
            let types: Vec<String> = row.get(4);
            let defaults = usize::try_from(row.get::<_, i32>(5)).unwrap_or(0);
            let in_names: Vec<String> = if modes.is_empty() {
                (0..types.len())
                    .map(|i| names.get(i).cloned().unwrap_or_default())
                    .collect()
            } else {
                modes
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| matches!(m.as_str(), "i" | "b" | "v"))
                    .map(|(i, _)| names.get(i).cloned().unwrap_or_default())
                    .collect()
            };
            let first_default = types.len().saturating_sub(defaults);
            Overload {
                args: types
                    .into_iter()
                    .zip(in_names)
                    .enumerate()
                    .map(|(i, (type_sql, name))| Arg {
                        name,
                        type_sql,
                        has_default: i >= first_default,
                    })
                    .collect(),
                returns_set: row.get(0),
                returns_void: row.get(1),
            }
        })
        .collect();
    let overloads: Arc<[Overload]> = overloads.into();
    let mut functions = state
        .functions
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if overloads.is_empty() {
        // Dropped since it was cached: forget it, so it is looked up again when it returns.
        functions.remove(function);
    } else {
        functions.insert(function.to_string(), overloads.clone());
    }
    Ok(overloads)
}

/// The overload the call's keys select; PGRST203 when several fit equally.
fn pick<'a>(
    overloads: &'a [Overload],
    keys: &BTreeSet<String>,
) -> Result<Option<&'a Overload>, ApiError> {
    let fitting: Vec<&Overload> = overloads.iter().filter(|o| o.accepts(keys)).collect();
    match fitting[..] {
        [one] => Ok(Some(one)),
        [] => Ok(overloads.iter().find(|o| o.takes_whole_body())),
        _ => Err(ApiError::new(
            StatusCode::MULTIPLE_CHOICES,
            "PGRST203",
            "Could not choose the best candidate function between several overloads",
        )),
    }
}

fn not_found(function: &str, keys: &BTreeSet<String>) -> ApiError {
    let list = keys.iter().cloned().collect::<Vec<_>>().join(", ");
    let mut e = ApiError::new(
        StatusCode::NOT_FOUND,
        "PGRST202",
        if keys.is_empty() {
            format!("Could not find the function public.{function} without parameters in the schema cache")
        } else {
            format!("Could not find the function public.{function}({list}) in the schema cache")
        },
    );
    e.body.details = Some(if keys.is_empty() {
        format!("Searched for the function public.{function} without parameters or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.")
    } else {
        format!("Searched for the function public.{function} with parameters {list} or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.")
    });
    e
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A call's SQL and whether it takes the arguments' JSON as `$1`.
struct CallSql {
    sql: String,
    binds_args: bool,
}

/// The call's SQL: `$1` (when present) is the JSON object of arguments.
fn call_sql(function: &str, overload: &Overload, keys: &BTreeSet<String>) -> CallSql {
    let function = format!("public.{}", quote_ident(function));
    let whole_body = overload.takes_whole_body() && !overload.accepts(keys);
    let (from_args, call) = if whole_body {
        (
            String::new(),
            format!("{function}($1::text::{})", overload.args[0].type_sql),
        )
    } else {
        let given: Vec<&Arg> = overload
            .args
            .iter()
            .filter(|a| keys.contains(&a.name))
            .collect();
        if given.is_empty() {
            (String::new(), format!("{function}()"))
        } else {
            let columns = given
                .iter()
                .map(|a| format!("{} {}", quote_ident(&a.name), a.type_sql))
                .collect::<Vec<_>>()
                .join(", ");
            let named = given
                .iter()
                .map(|a| format!("{0} => _pgrst_args.{0}", quote_ident(&a.name)))
                .collect::<Vec<_>>()
                .join(", ");
            (
                format!("pg_catalog.json_to_record($1::text::json) as _pgrst_args({columns}) cross join lateral "),
                format!("{function}({named})"),
            )
        }
    };
    let select = if overload.returns_void {
        "null::text"
    } else if overload.returns_set {
        "coalesce(pg_catalog.json_agg(_pgrst_r), '[]')::text"
    } else {
        "pg_catalog.to_json(_pgrst_r)::text"
    };
    CallSql {
        binds_args: whole_body || !from_args.is_empty(),
        sql: format!("select {select} from {from_args}{call} as _pgrst_r"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overload(args: &[(&str, &str, bool)], returns_set: bool) -> Overload {
        Overload {
            args: args
                .iter()
                .map(|(n, t, d)| Arg {
                    name: n.to_string(),
                    type_sql: t.to_string(),
                    has_default: *d,
                })
                .collect(),
            returns_set,
            returns_void: false,
        }
    }

    fn keys(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn postgrest_status_mapping_matches_its_table() {
        use ApiRole::*;
        let cases = [
            ("23505", Authenticated, 409),
            ("23503", Authenticated, 409),
            ("42501", Authenticated, 403),
            ("42501", Anon, 401),
            ("P0001", Authenticated, 400),
            ("PT402", Authenticated, 402),
            ("22P02", Authenticated, 400),
            ("23514", Authenticated, 400),
            ("42883", Authenticated, 404),
            ("25006", Authenticated, 405),
            ("40001", Authenticated, 500),
            ("53300", Authenticated, 503),
            ("53400", Authenticated, 500),
            ("P0002", Authenticated, 500),
            ("28000", Authenticated, 403),
        ];
        for (code, role, status) in cases {
            assert_eq!(status_for_sqlstate(code, role).as_u16(), status, "{code}");
        }
    }

    #[test]
    fn arguments_are_bound_through_json_to_record_never_spliced() {
        let o = overload(
            &[("events", "jsonb", false), ("dry \"run\"", "boolean", true)],
            false,
        );
        let call = call_sql("report", &o, &keys(&["events"]));
        assert!(call.binds_args);
        assert_eq!(
            call.sql,
            "select pg_catalog.to_json(_pgrst_r)::text from pg_catalog.json_to_record($1::text::json) \
             as _pgrst_args(\"events\" jsonb) cross join lateral \
             public.\"report\"(\"events\" => _pgrst_args.\"events\") as _pgrst_r"
        );
    }

    #[test]
    fn overloads_are_chosen_by_argument_names_and_defaults() {
        let o = overload(&[("a", "int4", false), ("b", "text", true)], true);
        assert!(o.accepts(&keys(&["a"])));
        assert!(o.accepts(&keys(&["a", "b"])));
        assert!(!o.accepts(&keys(&["b"])));
        assert!(!o.accepts(&keys(&["a", "c"])));
    }

    #[test]
    fn an_unreadable_pgrst_raise_is_pgrst121() {
        let e = ApiError::raised("not json", Some(r#"{"status":429}"#));
        assert_eq!(e.status, 500);
        assert_eq!(e.body.code, "PGRST121");
        let e = ApiError::raised(r#"{"code":"X","message":"m"}"#, Some(r#"{"status":429}"#));
        assert_eq!(e.status, 429);
        assert_eq!(e.body.message, "m");
    }

    #[test]
    fn response_headers_follow_postgrest_format() {
        let parsed = parse_guc_headers(r#"[{"Retry-After": "5"}, {"X-A": "b"}]"#).unwrap();
        assert_eq!(parsed.len(), 2);
        assert!(parse_guc_headers(r#"{"Retry-After": "5"}"#).is_none());
        assert!(parse_guc_headers(r#"[{"A": "1", "B": "2"}]"#).is_none());
        assert!(parse_guc_headers(r#"[{"A": 1}]"#).is_none());
    }

    #[test]
    fn a_single_unnamed_json_argument_takes_the_whole_body() {
        let o = overload(&[("", "jsonb", false)], false);
        assert!(o.takes_whole_body());
        let sql = call_sql("f", &o, &keys(&["x"])).sql;
        assert!(sql.contains("public.\"f\"($1::text::jsonb)"), "{sql}");
    }
}
