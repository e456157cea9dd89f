//! The HTTP gateway: PostgREST's RPC contract (`/rest/v1/rpc/<fn>`) over the dev stack's
//! PostgreSQL, behind the project-key check of Supabase's API gateway, with Supabase's JWT
//! handling and PostgREST's error shapes and status codes.
//!
//! Per request: check the `apikey` (`api_keys.rs`), verify the JWT (HS256), read what the
//! request asks beyond the call — schema profile (`negotiation.rs`), filters, `select`,
//! `order`, `limit`/`offset` (`query_params.rs`, `range.rs`), `Prefer` (`preferences.rs`),
//! media type — refusing with PostgREST's error whatever it cannot or the dev stack does not
//! do; read the body within the stall timeout (`request_body.rs`); then, on a pooled
//! connection logged in as `authenticator`, send in one pipelined round trip `BEGIN`, the
//! role's own settings, the role switch and request settings (`set_config('role', ..)`,
//! `request.jwt.claims`, `request.method`, `request.path`, `request.headers`, `search_path`,
//! as PostgREST sets them), the call, and `COMMIT` (which rolls back when anything before it
//! failed). Arguments travel as one JSON text parameter expanded with `json_to_record` into
//! the function's declared types, filter values as untyped literals (`result_query.rs`), as
//! PostgREST sends them: no value is ever spliced into SQL. A plain call (no filter, no
//! count, JSON) runs a statement cached per connection; a shaped one is prepared for its
//! request. A single object or a strict row bound is checked before the transaction ends,
//! which is rolled back when the check fails.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::types::ToSql;
use tokio_postgres::NoTls;

use super::api_error::ApiError;
use super::api_keys::ProjectKeys;
use super::error::DevStackError;
use super::function_catalog::{call_sql, not_found, pick, CallSql, FunctionCache};
use super::jwt;
use super::negotiation::{self, Media};
use super::preferences::Preferences;
use super::query_params::{self, QueryParams};
use super::range::{self, RowRange};
use super::request_body;
use super::result_query::{shaped_sql, Shape, ShapedSql, UntypedLiteral};
use super::role_settings::RoleSettings;
use super::roles::ApiRole;

/// The port `supabase start` serves its API on; tried first so URLs match the CLI's.
pub const SUPABASE_API_PORT: u16 = 54321;

/// How long a request body may stall (no bytes arriving) before the client is dropped:
/// PostgREST's HTTP server (warp) times a silent connection out after 30 s, so a phone
/// that loses its network mid-upload does not hold a worker and a connection forever.
pub const BODY_STALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

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
    /// The project's API keys (anon, service_role): one must come as `apikey`.
    pub(crate) api_keys: Vec<String>,
    /// Port to try first; 0 means any free port.
    pub(crate) preferred_port: u16,
    /// See [`BODY_STALL_TIMEOUT`].
    pub(crate) body_stall_timeout: std::time::Duration,
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
        // Read once, as PostgREST reads them with its schema cache.
        let role_settings = runtime
            .block_on(async {
                let client = pool.get().await.map_err(|e| e.to_string())?;
                RoleSettings::load(&client).await.map_err(|e| e.to_string())
            })
            .map_err(|e| DevStackError::Gateway(format!("reading the API roles' settings: {e}")))?;
        let state = Arc::new(AppState {
            pool,
            role_settings,
            secret: config.jwt_secret,
            keys: ProjectKeys::new(config.api_keys),
            body_stall_timeout: config.body_stall_timeout,
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
    role_settings: RoleSettings,
    secret: String,
    keys: ProjectKeys,
    body_stall_timeout: std::time::Duration,
    functions: FunctionCache,
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/rest/v1/rpc/{function}", any(rpc))
        .fallback(not_served)
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

/// Reads the token as Supabase's gateway passes it on (`Authorization: Bearer`, else the
/// `apikey` the key check accepted) and verifies it.
fn authenticate(headers: &HeaderMap, apikey: &str, secret: &str) -> Result<Caller, ApiError> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let token = bearer.unwrap_or(apikey);
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
    body: Body,
) -> Response {
    let request = match interpret(&state, function, method, query, &headers, body).await {
        Ok(request) => request,
        Err(response) => return response,
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

/// Everything about a request that can be refused before the database is asked, in the
/// order Supabase's gateway and PostgREST refuse it: method, project key, token, schema
/// profile, query string, range, body, preferences. (The media type is refused only after the
/// function is found, as PostgREST does, so it is kept as a result.)
async fn interpret(
    state: &AppState,
    function: String,
    method: Method,
    query: Vec<(String, String)>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Request, Response> {
    let read_only = match method {
        Method::POST => false,
        Method::GET | Method::HEAD => true,
        Method::OPTIONS => return Err(preflight()),
        _ => {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "PGRST101",
                format!("Cannot use the {method} method on RPC"),
            )
            .into_response())
        }
    };
    let apikey = state
        .keys
        .check(headers, &query)
        .map_err(IntoResponse::into_response)?;
    let caller =
        authenticate(headers, &apikey, &state.secret).map_err(IntoResponse::into_response)?;
    // A key in the url is the gateway's, not an argument or a filter: Supabase's hosted
    // gateway does not pass it on (a `?apikey=` url works there).
    let query: Vec<(String, String)> = query.into_iter().filter(|(k, _)| k != "apikey").collect();
    let refuse = |e: ApiError| e.into_response();
    let schema = negotiation::schema(&method, headers).map_err(refuse)?;
    let params = query_params::parse(read_only, &query).map_err(refuse)?;
    let range = range::requested(&method, headers, params.limit, params.offset).map_err(refuse)?;
    // Read here, not by an extractor: the body must arrive within the stall timeout
    // (BODY_LIMIT still applies, counted as it arrives).
    let body = request_body::read(body, headers, BODY_LIMIT, state.body_stall_timeout)
        .await
        .map_err(IntoResponse::into_response)?;
    let args = call_arguments(read_only, &params.args, &body).map_err(refuse)?;
    let prefs = Preferences::from_headers(headers).map_err(refuse)?;
    Ok(Request {
        path: format!("/rpc/{function}"),
        schema,
        function,
        read_only,
        role: caller.role,
        claims: caller.claims,
        method: method.to_string(),
        headers: headers_json(headers),
        args,
        params,
        range,
        prefs,
        media: negotiation::media(headers),
    })
}

/// The call's arguments: keys (to pick the overload) and the JSON text sent to the database.
struct CallArgs {
    keys: BTreeSet<String>,
    json: String,
}

/// GET and HEAD take the arguments from the query string (as text, which `json_to_record`
/// reads into the declared types); POST from the JSON body.
fn call_arguments(
    from_query: bool,
    query_args: &[(String, String)],
    body: &Bytes,
) -> Result<CallArgs, ApiError> {
    if from_query {
        let object: serde_json::Map<String, serde_json::Value> = query_args
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
    schema: &'static str,
    function: String,
    read_only: bool,
    role: ApiRole,
    claims: String,
    method: String,
    path: String,
    headers: String,
    args: CallArgs,
    params: QueryParams,
    range: RowRange,
    prefs: Preferences,
    media: Result<Media, ApiError>,
}

/// The role's own settings first (`$6` names, `$7` values: its `statement_timeout`...), then
/// the role, the request and the search path (`$8`: the schema, then Supabase's
/// `db-extra-search-path`), in PostgREST's order. (The two-array `unnest` is FROM-clause
/// syntax that cannot be schema-qualified; pg_catalog comes first in any search path.)
const SETUP_SQL: &str = "select (select pg_catalog.count(pg_catalog.set_config(s.k, s.v, true)) \
       from unnest($6::text[], $7::text[]) as s(k, v)), \
     set_config('role', $1, true), \
     set_config('request.jwt.claims', $2, true), \
     set_config('request.method', $3, true), \
     set_config('request.path', $4, true), \
     set_config('request.headers', $5, true), \
     set_config('request.cookies', '{}', true), \
     set_config('search_path', $8, true)";

/// What the function asked of the response (PostgREST's `response.*` settings); empty when
/// unset in this transaction.
const RESPONSE_SQL: &str = "select nullif(current_setting('response.status', true), ''), \
     nullif(current_setting('response.headers', true), '')";

/// The statement a call runs.
enum CallStatement {
    /// The plain call (most requests): cached per connection and role.
    Plain(CallSql),
    /// A call whose result is filtered, ordered, paged, counted or reformatted: prepared
    /// for this request only (its shapes are as many as clients make).
    Shaped(ShapedSql),
}

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
        let overloads = match state.functions.cached(request.schema, &request.function) {
            Some(o) if !fresh_lookup => o,
            _ => {
                fresh_lookup = true;
                state
                    .functions
                    .lookup(&client, request.schema, &request.function, request.role)
                    .await?
            }
        };
        let Some(overload) = pick(&overloads, &request.args.keys)? else {
            if fresh_lookup {
                return Err(not_found(
                    request.schema,
                    &request.function,
                    &request.args.keys,
                    !request.read_only,
                ));
            }
            // The cached signature may be stale: look again once.
            fresh_lookup = true;
            continue;
        };
        // PostgREST's order: the media type, then strict preferences, then max-affected on
        // a function that returns one row.
        let media = request.media.clone()?;
        request.prefs.check_strict()?;
        if request.prefs.strict_max_affected().is_some() && !overload.returns_set {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "PGRST128",
                "Function must return SETOF or TABLE when max-affected preference is used with handling=strict",
            ));
        }
        let shape = Shape {
            params: &request.params,
            range: request.range,
            count: request.prefs.counts(),
            media,
        };
        let statement = if shape.is_plain() {
            CallStatement::Plain(call_sql(
                request.schema,
                &request.function,
                overload,
                &request.args.keys,
            ))
        } else {
            CallStatement::Shaped(shaped_sql(
                request.schema,
                &request.function,
                overload,
                &request.args.keys,
                &request.args.json,
                &shape,
            ))
        };
        // A single object, or a strict row bound, is checked before the transaction ends:
        // a call that breaks it is rolled back, as PostgREST rolls it back.
        let needs_verdict =
            matches!(media, Media::Object { .. }) || request.prefs.strict_max_affected().is_some();
        match run(&client, state, request, &statement, needs_verdict).await {
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
            Ok(result) => {
                if needs_verdict {
                    let verdict = verdict(&result, media, &request.prefs);
                    let end = if verdict.is_ok() {
                        "commit"
                    } else {
                        "rollback"
                    };
                    if let Err(e) = client.batch_execute(end).await {
                        return Err(ApiError::database(&e, request.role));
                    }
                    verdict?;
                }
                return Ok(Outcome {
                    result,
                    void: overload.returns_void,
                    range: request.range,
                    media,
                    schema: request.schema,
                    preference_applied: request.prefs.applied(),
                });
            }
        }
    }
}

/// PGRST116 when a single object was asked for and the call gave another number of rows;
/// PGRST124 when `handling=strict` bounded the rows and the call gave more.
fn verdict(result: &CallResult, media: Media, prefs: &Preferences) -> Result<(), ApiError> {
    if matches!(media, Media::Object { .. }) && result.page_total != 1 {
        let mut e = ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "PGRST116",
            "Cannot coerce the result to a single JSON object",
        );
        e.body.details = Some(format!("The result contains {} rows", result.page_total));
        return Err(e);
    }
    if let Some(bound) = prefs.strict_max_affected() {
        if result.page_total > bound {
            let mut e = ApiError::new(
                StatusCode::BAD_REQUEST,
                "PGRST124",
                "Query result exceeds max-affected preference constraint",
            );
            e.body.details = Some(format!("The query affects {} rows", result.page_total));
            return Err(e);
        }
    }
    Ok(())
}

/// What the database answered for a call.
struct CallResult {
    /// The body as text (JSON or CSV).
    body: String,
    /// Rows in the answer.
    page_total: i64,
    /// All rows the filters let through, when counted.
    total: Option<i64>,
    /// `response.status`, when the function set it.
    status: Option<String>,
    /// `response.headers`, when the function set it.
    headers: Option<String>,
}

/// A successful call and how to answer it.
struct Outcome {
    result: CallResult,
    void: bool,
    range: RowRange,
    media: Media,
    schema: &'static str,
    preference_applied: Option<String>,
}

impl Outcome {
    /// The HTTP response as PostgREST builds it: status from the range (200, 206, 416; 204
    /// for void), `Content-Range`, `Preference-Applied`, the media type and the schema
    /// (`Content-Profile`, as with several exposed schemas), then what the function asked
    /// through `response.status`/`response.headers` (PGRST112/PGRST111 when malformed),
    /// its headers replacing the gateway's of the same name.
    fn into_response(self) -> Response {
        let Outcome {
            result,
            void,
            range,
            media,
            schema,
            preference_applied,
        } = self;
        let (mut status, content_range) =
            range::content_range(range, result.page_total, result.total);
        let mut headers: Vec<(header::HeaderName, HeaderValue)> = Vec::with_capacity(4);
        if let Ok(value) = HeaderValue::from_str(&content_range) {
            headers.push((header::CONTENT_RANGE, value));
        }
        if let Some(value) = preference_applied.and_then(|p| HeaderValue::from_str(&p).ok()) {
            headers.push((header::HeaderName::from_static("preference-applied"), value));
        }
        let body = if void {
            status = StatusCode::NO_CONTENT;
            None
        } else {
            headers.push((
                header::CONTENT_TYPE,
                HeaderValue::from_static(media.content_type()),
            ));
            if let Ok(value) = HeaderValue::from_str(schema) {
                headers.push((header::HeaderName::from_static("content-profile"), value));
            }
            Some(if status == StatusCode::RANGE_NOT_SATISFIABLE {
                range::out_of_bounds(range, result.total.unwrap_or(0)).json_body()
            } else {
                result.body
            })
        };
        if let Some(text) = result.status {
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
        let asked = match result.headers.as_deref().map(parse_guc_headers) {
            None => Vec::new(),
            Some(Some(asked)) => asked,
            Some(None) => {
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "PGRST111",
                    "response.headers guc must be a JSON array composed of objects with a single key and a string value",
                )
                .into_response()
            }
        };
        let mut response = match body {
            Some(text) => (status, text).into_response(),
            None => status.into_response(),
        };
        let map = response.headers_mut();
        for (name, value) in headers {
            map.insert(name, value);
        }
        // The function's headers replace the gateway's of the same name; repeated names
        // (two Set-Cookie) are all kept.
        for (name, _) in &asked {
            map.remove(name);
        }
        for (name, value) in asked {
            map.append(name, value);
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

/// BEGIN, setup, call, response settings and COMMIT in one pipelined round trip
/// (tokio-postgres sends each request when its future is first polled, and the join polls
/// them in order). With `keep_open` the transaction is left open for the caller's verdict
/// (commit or rollback); when anything failed it is rolled back here, so the pooled
/// connection never goes back with a transaction open.
async fn run(
    client: &deadpool_postgres::Object,
    state: &AppState,
    request: &Request,
    statement: &CallStatement,
    keep_open: bool,
) -> Result<CallResult, tokio_postgres::Error> {
    let setup = client.prepare_cached(SETUP_SQL).await?;
    let response_settings = client.prepare_cached(RESPONSE_SQL).await?;
    let literals: Vec<UntypedLiteral<'_>>;
    let (call, call_params): (tokio_postgres::Statement, Vec<&(dyn ToSql + Sync)>) = match statement
    {
        CallStatement::Plain(plain) => {
            // One cached statement per role: PostgreSQL inlines simple SQL functions at
            // planning time, checking EXECUTE only then, so a generic plan made for
            // service_role would let anon run a function it may not call. The role in
            // the text keeps the plans apart.
            let call = client
                .prepare_cached(&format!("{} -- {}", plain.sql, request.role.as_str()))
                .await?;
            let params: Vec<&(dyn ToSql + Sync)> = if plain.binds_args {
                vec![&request.args.json]
            } else {
                Vec::new()
            };
            (call, params)
        }
        CallStatement::Shaped(shaped) => {
            // Planned at execution, inside the transaction, as the request's role.
            let call = client.prepare(&shaped.sql).await?;
            literals = shaped.params.iter().map(|p| UntypedLiteral(p)).collect();
            (
                call,
                literals.iter().map(|l| l as &(dyn ToSql + Sync)).collect(),
            )
        }
    };
    let begin = if request.read_only {
        "begin read only"
    } else {
        "begin"
    };
    let role = request.role.as_str();
    let settings = state.role_settings.of(request.role);
    let search_path = search_path(request.schema);
    let setup_params: [&(dyn ToSql + Sync); 8] = [
        &role,
        &request.claims,
        &request.method,
        &request.path,
        &request.headers,
        &settings.names,
        &settings.values,
        &search_path,
    ];
    let end = async {
        if keep_open {
            Ok(())
        } else {
            client.batch_execute("commit").await
        }
    };
    let (began, set, called, response, ended) = futures_util::future::join5(
        client.batch_execute(begin),
        client.query_one(&setup, &setup_params),
        client.query_opt(&call, &call_params),
        client.query_one(&response_settings, &[]),
        end,
    )
    .await;
    let outcome = (|| {
        // The first failure is the cause; later ones are "transaction aborted" echoes.
        began?;
        set?;
        let row = called?;
        let response = response?;
        ended?;
        let (body, page_total, total) = match (statement, row) {
            (CallStatement::Plain(_), Some(row)) => (
                row.try_get::<_, Option<String>>(0)?,
                row.try_get::<_, i64>(1)?,
                None,
            ),
            (CallStatement::Shaped(_), Some(row)) => (
                row.try_get::<_, Option<String>>(2)?,
                row.try_get::<_, i64>(1)?,
                row.try_get::<_, Option<i64>>(0)?,
            ),
            (_, None) => (None, 0, None),
        };
        Ok(CallResult {
            body: body.unwrap_or_else(|| "null".to_string()),
            page_total,
            total,
            status: response.try_get(0)?,
            headers: response.try_get(1)?,
        })
    })();
    if keep_open && outcome.is_err() {
        // Nothing else may use this connection before the failed transaction is ended.
        let _ = client.batch_execute("rollback").await;
    }
    outcome
}

/// PostgREST's search path for a request: the schema, then Supabase's `db-extra-search-path`
/// (`public, extensions`).
fn search_path(schema: &str) -> &'static str {
    match schema {
        "graphql_public" => "\"graphql_public\", \"public\", \"extensions\"",
        _ => "\"public\", \"public\", \"extensions\"",
    }
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
