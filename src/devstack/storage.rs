//! Supabase Storage at `/storage/v1`: the object routes the app and the admin use, with
//! Supabase's storage server's status codes and error bodies, so supabase-js and the app's
//! `expo-file-system` uploads run unchanged against it.
//!
//! | route | what |
//! | --- | --- |
//! | `POST /object/{bucket}/{path}` | upload (`x-upsert: true` replaces), binary body or multipart form |
//! | `PUT /object/{bucket}/{path}` | upload that replaces (upsert) |
//! | `GET /object/{bucket}/{path}`, `GET /object/authenticated/{bucket}/{path}` | download with a JWT (RLS decides) |
//! | `POST /object/sign/{bucket}/{path}` | `{"expiresIn": s}` → `{"signedURL": "/object/sign/..?token=.."}` |
//! | `GET /object/sign/{bucket}/{path}?token=` | download with a signed URL (no JWT) |
//!
//! Rows live in `storage.objects` (`migrations/local/30_storage.sql`), checked by RLS as the
//! caller's role with the caller's claims, as Supabase's storage server does: before the
//! bytes are read, the row is inserted in a transaction that is rolled back (a refused upload
//! costs nothing); after they are on disk, the row is written for real. Bytes stream to a
//! file per object version in the stack's temp directory and back out in 64 KiB chunks, so
//! a 1 GB upload never sits in memory. The size limit is the smaller of the bucket's
//! `file_size_limit` and the stack's global limit (`file_size_limit` in
//! `supabase/config.toml`, 50 MiB by default).
//!
//! Errors are `{"statusCode": "<code>", "code", "error", "message"}` with HTTP 400 (500 for
//! our own failures), as the storage server answers: e.g. a missing object is HTTP 400 with
//! `"statusCode": "404"`. What is not served (bucket management, listing, deletes, public
//! URLs, image transforms, TUS) answers 501 in that shape.

use std::io::SeekFrom;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use deadpool_postgres::Pool;
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use uuid::Uuid;

use super::roles::ApiRole;
use super::{cors, jwt};

/// Supabase's default global upload limit (`file_size_limit = "50MiB"` in
/// `supabase/config.toml`).
pub const DEFAULT_FILE_SIZE_LIMIT: u64 = 50 * 1024 * 1024;

/// Bytes read from disk per chunk of a download: large enough for few syscalls, small enough
/// that many concurrent downloads stay cheap.
const READ_CHUNK: usize = 64 * 1024;

/// What a signed URL's token is for (the storage server's `SIGNED_URL_SCOPE_DOWNLOAD`).
const SIGNED_URL_SCOPE: &str = "download";

/// The longest signed URL lifetime the storage server accepts (a JWT `exp` must stay a
/// reasonable number).
const MAX_SIGNED_URL_SECONDS: i64 = 10 * 365 * 24 * 3600;

/// Shared by the Storage routes.
struct StorageState {
    pool: Pool,
    secret: String,
    /// One file per object version; removed with the stack.
    dir: PathBuf,
    /// The global upload limit in bytes.
    file_size_limit: u64,
}

/// Where Storage keeps its bytes and how large an upload may be.
#[derive(Debug, Clone)]
pub(crate) struct StorageConfig {
    /// Directory of the object files (files only: see `Cluster::make_dir`).
    pub(crate) dir: PathBuf,
    /// The global upload limit in bytes.
    pub(crate) file_size_limit: u64,
}

/// The `/storage/v1` router.
pub(crate) fn router(pool: Pool, secret: String, config: StorageConfig) -> Router {
    let state = Arc::new(StorageState {
        pool,
        secret,
        dir: config.dir,
        file_size_limit: config.file_size_limit,
    });
    let api = Router::new()
        .route(
            "/object/sign/{bucket}/{*path}",
            post(sign_url).get(signed_download),
        )
        .route(
            "/object/authenticated/{bucket}/{*path}",
            get(authenticated_download),
        )
        .route("/object/public/{bucket}/{*path}", get(not_served))
        .route(
            "/object/{bucket}/{*path}",
            post(create_object)
                .put(update_object)
                .get(authenticated_download),
        )
        .fallback(not_served)
        // Uploads stream to disk, so the body limit is Storage's own (checked while streaming).
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn(preflight_first))
        .with_state(state);
    Router::new()
        .nest("/storage/v1", api)
        .layer(middleware::map_response(cors::allow_any_origin))
}

async fn preflight_first(request: Request, next: middleware::Next) -> Response {
    if request.method() == Method::OPTIONS {
        return cors::preflight().await;
    }
    next.run(request).await
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// A Storage error: the storage server's `StorageBackendError` as it renders.
#[derive(Debug, thiserror::Error)]
#[error("{status_code} {code}: {message}")]
struct StorageError {
    /// The status in the body (`"404"`); the HTTP status is 400, or 500 for ours.
    status_code: u16,
    code: &'static str,
    error: String,
    message: String,
}

impl StorageError {
    fn new(status_code: u16, code: &'static str, message: impl Into<String>) -> Self {
        StorageError {
            status_code,
            code,
            error: code.to_string(),
            message: message.into(),
        }
    }

    fn with_error(mut self, error: &str) -> Self {
        self.error = error.to_string();
        self
    }

    fn access_denied(message: impl Into<String>) -> Self {
        Self::new(403, "AccessDenied", message).with_error("Unauthorized")
    }

    fn no_such_bucket() -> Self {
        Self::new(404, "NoSuchBucket", "Bucket not found").with_error("Bucket not found")
    }

    fn no_such_key() -> Self {
        Self::new(404, "NoSuchKey", "Object not found").with_error("not_found")
    }

    fn too_large() -> Self {
        Self::new(
            413,
            "EntityTooLarge",
            "The object exceeded the maximum allowed size",
        )
        .with_error("Payload too large")
    }

    fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidRequest", message)
    }

    /// Our failure: logged with its cause, answered without it.
    fn internal(what: &str, cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "storage: {what}");
        Self::new(500, "InternalError", "Internal server error").with_error("internal")
    }

    /// A database refusal as the storage server maps it (`DBError.fromDBError`).
    fn database(what: &str, error: &tokio_postgres::Error) -> Self {
        match error
            .as_db_error()
            .map(|db| (db.code().code(), db.message()))
        {
            Some(("42501", message)) => {
                Self::access_denied(if message.contains("row-level security") {
                    "new row violates row-level security policy"
                } else {
                    message
                })
            }
            Some(("23505", _)) => {
                Self::new(409, "ResourceAlreadyExists", "The resource already exists")
                    .with_error("Duplicate")
            }
            _ => Self::internal(what, error),
        }
    }
}

impl IntoResponse for StorageError {
    fn into_response(self) -> Response {
        let status = if self.status_code == 501 {
            // Not a failure of the storage server's: a route the dev stack does not serve.
            StatusCode::NOT_IMPLEMENTED
        } else if self.status_code >= 500 {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::BAD_REQUEST
        };
        let body = json!({
            "statusCode": self.status_code.to_string(),
            "code": self.code,
            "error": self.error,
            "message": self.message,
        });
        let mut response = (status, Json(body)).into_response();
        if self.code == "EntityTooLarge" {
            // The rest of a refused body is not read: the connection cannot be reused.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

async fn not_served() -> StorageError {
    StorageError::new(
        501,
        "NotImplemented",
        "The dev stack's Storage serves only object upload (POST/PUT /object/{bucket}/{path}), \
         download (GET /object/{bucket}/{path}, /object/authenticated/...) and signed URLs \
         (POST and GET /object/sign/...)",
    )
}

// ---------------------------------------------------------------------------------------------
// Callers
// ---------------------------------------------------------------------------------------------

/// A caller with a verified JWT: the role and claims RLS sees.
struct Caller {
    role: &'static str,
    claims: Value,
}

impl Caller {
    /// `sub`, when it is a UUID (the storage server fills `owner` with it).
    fn owner(&self) -> Option<Uuid> {
        self.claims["sub"].as_str().and_then(|s| s.parse().ok())
    }

    fn owner_id(&self) -> Option<String> {
        self.claims["sub"].as_str().map(str::to_string)
    }
}

/// The storage server's JWT check: `Authorization: Bearer`, verified with the project's
/// secret; refused with its `AccessDenied` and the JWT library's reason.
fn caller(headers: &HeaderMap, secret: &str) -> Result<Caller, StorageError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            let v = v.trim();
            match v.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
                _ => v,
            }
        })
        .unwrap_or("");
    let claims = jwt::decode(token, secret, jwt::now())
        .map_err(|e| StorageError::access_denied(jose_reason(&e)))?;
    let Some(role) = claims["role"].as_str().and_then(ApiRole::parse) else {
        return Err(StorageError::access_denied("Access denied: Invalid role"));
    };
    let role = role.as_str();
    Ok(Caller { role, claims })
}

/// The reason the storage server's JWT library (jose) gives.
fn jose_reason(error: &jwt::JwtError) -> &'static str {
    match error {
        jwt::JwtError::Expired => "\"exp\" claim timestamp check failed",
        jwt::JwtError::Signature => "signature verification failed",
        jwt::JwtError::NotYetValid => "\"nbf\" claim timestamp check failed",
        jwt::JwtError::Algorithm => "\"alg\" (Algorithm) Header Parameter value not allowed",
        _ => "Invalid Compact JWS",
    }
}

/// Opens a transaction acting as `caller` (role and claims, as PostgREST sets them), so RLS
/// decides as it would for the API.
async fn as_caller<'a>(
    client: &'a mut deadpool_postgres::Object,
    caller: &Caller,
) -> Result<deadpool_postgres::Transaction<'a>, StorageError> {
    let tx = client
        .transaction()
        .await
        .map_err(|e| StorageError::internal("opening a transaction", &e))?;
    tx.query(
        "select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)",
        &[&caller.role, &caller.claims.to_string()],
    )
    .await
    .map_err(|e| StorageError::internal("switching role", &e))?;
    Ok(tx)
}

async fn connection(state: &StorageState) -> Result<deadpool_postgres::Object, StorageError> {
    state
        .pool
        .get()
        .await
        .map_err(|e| StorageError::internal("connecting", &e))
}

/// The storage server's object key rule: S3-safe characters only, not empty.
fn check_key(name: &str) -> Result<(), StorageError> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_/!.*'() &$=@;:+,?-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(StorageError::new(
            400,
            "InvalidKey",
            format!("Invalid key: {name}"),
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Upload
// ---------------------------------------------------------------------------------------------

async fn create_object(
    State(state): State<Arc<StorageState>>,
    Path((bucket, name)): Path<(String, String)>,
    request: Request,
) -> Response {
    let upsert = request
        .headers()
        .get("x-upsert")
        .and_then(|v| v.to_str().ok())
        == Some("true");
    upload(&state, &bucket, &name, upsert, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn update_object(
    State(state): State<Arc<StorageState>>,
    Path((bucket, name)): Path<(String, String)>,
    request: Request,
) -> Response {
    upload(&state, &bucket, &name, true, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// The bucket's limits, read as the superuser (as the storage server does).
struct Bucket {
    file_size_limit: Option<i64>,
    allowed_mime_types: Vec<String>,
}

async fn find_bucket(state: &StorageState, id: &str) -> Result<Bucket, StorageError> {
    let client = connection(state).await?;
    let row = client
        .query_opt(
            "select file_size_limit, coalesce(allowed_mime_types, '{}') \
             from storage.buckets where id = $1",
            &[&id],
        )
        .await
        .map_err(|e| StorageError::internal("finding the bucket", &e))?
        .ok_or_else(StorageError::no_such_bucket)?;
    Ok(Bucket {
        file_size_limit: row.get(0),
        allowed_mime_types: row.get(1),
    })
}

/// `type/subtype` allowed by `allowed` (`video/*` or exact); empty allows all.
fn check_mime_type(mime: &str, allowed: &[String]) -> Result<(), StorageError> {
    if allowed.is_empty() {
        return Ok(());
    }
    let refused = || {
        StorageError::new(
            415,
            "InvalidMimeType",
            format!("mime type {mime} is not supported"),
        )
        .with_error("invalid_mime_type")
    };
    let (kind, sub) = mime.split_once('/').ok_or_else(refused)?;
    let sub = sub.split(';').next().unwrap_or("").trim();
    let ok = allowed.iter().any(|a| match a.split_once('/') {
        Some((k, "*")) => k == kind,
        Some((k, s)) => k == kind && s == sub,
        None => false,
    });
    if ok {
        Ok(())
    } else {
        Err(refused())
    }
}

/// What a finished upload stores in `storage.objects.metadata`.
struct Written {
    size: u64,
    mimetype: String,
    cache_control: String,
}

async fn upload(
    state: &StorageState,
    bucket_id: &str,
    name: &str,
    upsert: bool,
    request: Request,
) -> Result<Response, StorageError> {
    let caller = caller(request.headers(), &state.secret)?;
    let bucket = find_bucket(state, bucket_id).await?;
    check_key(name)?;
    let limit = bucket
        .file_size_limit
        .and_then(|l| u64::try_from(l).ok())
        .map_or(state.file_size_limit, |l| l.min(state.file_size_limit));
    // RLS first, with a row that is rolled back: a refused upload sends its bytes nowhere.
    let version = Uuid::new_v4();
    {
        let mut client = connection(state).await?;
        let tx = as_caller(&mut client, &caller).await?;
        write_row(&tx, &caller, bucket_id, name, version, &json!({}), upsert)
            .await
            .map_err(|e| StorageError::database("checking the upload", &e))?;
        // Dropping the transaction rolls it back.
    }
    let file = state.dir.join(version.to_string());
    let written = match receive(request, &file, limit, &bucket.allowed_mime_types).await {
        Ok(written) => written,
        Err(e) => {
            remove(&file).await;
            return Err(e);
        }
    };
    let metadata = json!({
        "eTag": format!("\"{version}\""),
        "size": written.size,
        "mimetype": written.mimetype,
        "cacheControl": written.cache_control,
        "lastModified": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "contentLength": written.size,
        "httpStatusCode": 200,
    });
    match complete(state, &caller, bucket_id, name, version, &metadata, upsert).await {
        Ok((id, previous)) => {
            if let Some(previous) = previous {
                remove(&state.dir.join(previous)).await;
            }
            Ok(Json(json!({ "Id": id, "Key": format!("{bucket_id}/{name}") })).into_response())
        }
        Err(e) => {
            remove(&file).await;
            Err(e)
        }
    }
}

/// Inserts (or upserts) the object's row in `tx`, returning its id.
async fn write_row(
    tx: &deadpool_postgres::Transaction<'_>,
    caller: &Caller,
    bucket_id: &str,
    name: &str,
    version: Uuid,
    metadata: &Value,
    upsert: bool,
) -> Result<Uuid, tokio_postgres::Error> {
    let conflict = if upsert {
        "on conflict (bucket_id, name) do update set owner = excluded.owner, \
           owner_id = excluded.owner_id, version = excluded.version, \
           metadata = excluded.metadata, updated_at = now(), last_accessed_at = now()"
    } else {
        ""
    };
    let row = tx
        .query_one(
            &format!(
                "insert into storage.objects (bucket_id, name, owner, owner_id, version, metadata) \
                 values ($1, $2, $3, $4, $5, $6) {conflict} returning id"
            ),
            &[
                &bucket_id,
                &name,
                &caller.owner(),
                &caller.owner_id(),
                &version.to_string(),
                metadata,
            ],
        )
        .await?;
    Ok(row.get(0))
}

/// Writes the row for real (as the superuser: RLS was checked before the bytes came), and
/// answers the previous version's file to remove.
async fn complete(
    state: &StorageState,
    caller: &Caller,
    bucket_id: &str,
    name: &str,
    version: Uuid,
    metadata: &Value,
    upsert: bool,
) -> Result<(Uuid, Option<String>), StorageError> {
    let mut client = connection(state).await?;
    let tx = client
        .transaction()
        .await
        .map_err(|e| StorageError::internal("opening a transaction", &e))?;
    let previous: Option<String> = tx
        .query_opt(
            "select version from storage.objects where bucket_id = $1 and name = $2 for update",
            &[&bucket_id, &name],
        )
        .await
        .map_err(|e| StorageError::internal("locking the object", &e))?
        .and_then(|row| row.get(0));
    let id = write_row(&tx, caller, bucket_id, name, version, metadata, upsert)
        .await
        .map_err(|e| StorageError::database("saving the object", &e))?;
    tx.commit()
        .await
        .map_err(|e| StorageError::database("saving the object", &e))?;
    Ok((id, previous.filter(|p| *p != version.to_string())))
}

async fn remove(file: &FsPath) {
    if let Err(e) = tokio::fs::remove_file(file).await {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(file = %file.display(), error = %e, "storage: removing a file");
        }
    }
}

/// Reads the upload (binary body or the file of a multipart form) into `file`.
async fn receive(
    request: Request,
    file: &FsPath,
    limit: u64,
    allowed_mime_types: &[String],
) -> Result<Written, StorageError> {
    let headers = request.headers().clone();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if content_type.starts_with("multipart/form-data") {
        let mut form = Multipart::from_request(request, &())
            .await
            .map_err(|e| StorageError::invalid_request(e.body_text()))?;
        let mut cache_control = None;
        let mut mime_field = None;
        // The storage server reads the form's fields up to its first file, then the file.
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|e| StorageError::invalid_request(e.body_text()))?
        {
            if field.file_name().is_none() {
                let key = field.name().unwrap_or("").to_string();
                let value = field
                    .text()
                    .await
                    .map_err(|e| StorageError::invalid_request(e.body_text()))?;
                match key.as_str() {
                    "cacheControl" => cache_control = Some(value),
                    "contentType" => mime_field = Some(value),
                    _ => {}
                }
                continue;
            }
            let mimetype = mime_field
                .filter(|m| !m.is_empty())
                .or_else(|| field.content_type().map(str::to_string))
                .unwrap_or_else(|| "application/octet-stream".into());
            check_mime_type(&mimetype, allowed_mime_types)?;
            let size = write_stream(field, file, limit).await?;
            return Ok(Written {
                size,
                mimetype,
                cache_control: cache_control
                    .map_or_else(|| "no-cache".into(), |t| format!("max-age={t}")),
            });
        }
        return Err(StorageError::invalid_request("No content provided"));
    }
    let mimetype = if content_type.is_empty() {
        "application/octet-stream".to_string()
    } else {
        content_type
    };
    check_mime_type(&mimetype, allowed_mime_types)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // A declared size over the limit is refused before a byte is read.
    if declared.is_some_and(|n| n > limit) {
        return Err(StorageError::too_large());
    }
    let cache_control = headers
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("no-cache")
        .to_string();
    let size = write_stream(request.into_body().into_data_stream(), file, limit).await?;
    Ok(Written {
        size,
        mimetype,
        cache_control,
    })
}

/// Streams `body` into `file`, chunk by chunk, refusing it once it passes `limit` bytes.
async fn write_stream<S, E>(body: S, file: &FsPath, limit: u64) -> Result<u64, StorageError>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    let mut out = tokio::fs::File::create(file)
        .await
        .map_err(|e| StorageError::internal("creating the object file", &e))?;
    let mut body = std::pin::pin!(body);
    let mut size: u64 = 0;
    while let Some(chunk) = body.next().await {
        // The client went away or sent a broken body: nothing is kept.
        let chunk =
            chunk.map_err(|e| StorageError::invalid_request(format!("Upload interrupted: {e}")))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(StorageError::too_large());
        }
        out.write_all(&chunk)
            .await
            .map_err(|e| StorageError::internal("writing the object file", &e))?;
    }
    out.flush()
        .await
        .map_err(|e| StorageError::internal("writing the object file", &e))?;
    Ok(size)
}

// ---------------------------------------------------------------------------------------------
// Download
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DownloadQuery {
    /// Present (even empty) = `Content-Disposition: attachment`, with this file name when
    /// given.
    download: Option<String>,
    /// A signed URL's token.
    token: Option<String>,
}

/// `GET /object/{bucket}/{path}` and `/object/authenticated/...`: the caller's JWT, and RLS,
/// decide.
async fn authenticated_download(
    State(state): State<Arc<StorageState>>,
    Path((bucket, name)): Path<(String, String)>,
    Query(query): Query<DownloadQuery>,
    headers: HeaderMap,
) -> Response {
    async {
        let caller = caller(&headers, &state.secret)?;
        let object = find_object(&state, Some(&caller), &bucket, &name).await?;
        serve(&state, &object, &name, &query, &headers, None).await
    }
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// An object's row: its version (the file) and metadata.
struct ObjectRow {
    version: String,
    metadata: Value,
}

/// The object as `caller` sees it through RLS (`None`: as the superuser).
async fn find_object(
    state: &StorageState,
    caller: Option<&Caller>,
    bucket: &str,
    name: &str,
) -> Result<ObjectRow, StorageError> {
    let mut client = connection(state).await?;
    let sql = "select coalesce(version, ''), coalesce(metadata, '{}') from storage.objects \
               where bucket_id = $1 and name = $2";
    let row = match caller {
        Some(caller) => {
            let tx = as_caller(&mut client, caller).await?;
            tx.query_opt(sql, &[&bucket, &name]).await
        }
        None => client.query_opt(sql, &[&bucket, &name]).await,
    }
    .map_err(|e| StorageError::database("finding the object", &e))?
    .ok_or_else(StorageError::no_such_key)?;
    Ok(ObjectRow {
        version: row.get(0),
        metadata: row.get(1),
    })
}

/// A single `bytes=` range of an object of `size` bytes: `Some(Ok((start, len)))`, or
/// `Some(Err(()))` when it cannot be satisfied; `None` without a usable `Range` header.
fn parse_range(header: Option<&str>, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header?.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        // Several ranges: answer the whole object, as servers may.
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let (start, end) = (start.trim(), end.trim());
    let range = if start.is_empty() {
        let suffix: u64 = end.parse().ok()?;
        if suffix == 0 || size == 0 {
            return Some(Err(()));
        }
        let len = suffix.min(size);
        (size - len, len)
    } else {
        let start: u64 = start.parse().ok()?;
        if start >= size {
            return Some(Err(()));
        }
        let last = if end.is_empty() {
            size - 1
        } else {
            end.parse::<u64>().ok()?.min(size - 1)
        };
        if last < start {
            return Some(Err(()));
        }
        (start, last - start + 1)
    };
    Some(Ok(range))
}

/// Streams the object's file (or the asked range of it) with the storage server's headers.
async fn serve(
    state: &StorageState,
    object: &ObjectRow,
    name: &str,
    query: &DownloadQuery,
    headers: &HeaderMap,
    expires: Option<i64>,
) -> Result<Response, StorageError> {
    let path = state.dir.join(&object.version);
    let mut file = tokio::fs::File::open(&path)
        .await
        .map_err(|_| StorageError::no_such_key())?;
    let size = file
        .metadata()
        .await
        .map_err(|e| StorageError::internal("reading the object file", &e))?
        .len();
    let range = parse_range(
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        size,
    );
    let (status, start, len) = match range {
        None => (StatusCode::OK, 0, size),
        Some(Ok((start, len))) => (StatusCode::PARTIAL_CONTENT, start, len),
        Some(Err(())) => {
            return Ok((
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{size}"))],
            )
                .into_response())
        }
    };
    file.seek(SeekFrom::Start(start))
        .await
        .map_err(|e| StorageError::internal("reading the object file", &e))?;
    let reader = file.take(len);
    let stream = futures_util::stream::unfold(Some(reader), |reader| async move {
        let mut reader = reader?;
        let mut buf = vec![0u8; READ_CHUNK];
        match reader.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(reader)))
            }
            // The error ends the body; nothing is read after it.
            Err(e) => Some((Err(e), None)),
        }
    });
    let text = |key: &str| object.metadata[key].as_str().map(str::to_string);
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    let out = response.headers_mut();
    let mut set = |name: header::HeaderName, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            out.insert(name, value);
        }
    };
    set(
        header::CONTENT_TYPE,
        text("mimetype").unwrap_or_else(|| "application/octet-stream".into()),
    );
    set(header::CONTENT_LENGTH, len.to_string());
    set(
        header::CACHE_CONTROL,
        text("cacheControl").unwrap_or_else(|| "no-cache".into()),
    );
    set(header::ACCEPT_RANGES, "bytes".into());
    if let Some(etag) = text("eTag") {
        set(header::ETAG, etag);
    }
    if let Some(modified) =
        text("lastModified").and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
    {
        set(
            header::LAST_MODIFIED,
            modified
                .with_timezone(&chrono::Utc)
                .format("%a, %d %b %Y %H:%M:%S GMT")
                .to_string(),
        );
    }
    if status == StatusCode::PARTIAL_CONTENT {
        set(
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{size}", start + len - 1),
        );
    }
    if let Some(exp) = expires.and_then(|e| chrono::DateTime::from_timestamp(e, 0)) {
        set(
            header::EXPIRES,
            exp.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        );
    }
    if let Some(download) = &query.download {
        let file_name = if download.is_empty() {
            name.rsplit('/').next().unwrap_or(name)
        } else {
            download.as_str()
        };
        // Quotes and control characters cannot end up in the header.
        let safe: String = file_name
            .chars()
            .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
            .collect();
        set(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{safe}\""),
        );
    }
    Ok(response)
}

// ---------------------------------------------------------------------------------------------
// Signed URLs
// ---------------------------------------------------------------------------------------------

/// `POST /object/sign/{bucket}/{path}` with `{"expiresIn": seconds}`: for an object the
/// caller can read, a URL anyone can read until it expires.
async fn sign_url(
    State(state): State<Arc<StorageState>>,
    Path((bucket, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    async {
        let caller = caller(&headers, &state.secret)?;
        let body: Value = serde_json::from_slice(&body)
            .map_err(|_| StorageError::invalid_request("body must be a JSON object"))?;
        let expires_in = match &body["expiresIn"] {
            Value::Null => {
                return Err(StorageError::invalid_request(
                    "body must have required property 'expiresIn'",
                ))
            }
            value => value
                .as_i64()
                .filter(|s| (1..=MAX_SIGNED_URL_SECONDS).contains(s))
                .ok_or_else(|| {
                    StorageError::invalid_request("body/expiresIn must be an integer of at least 1")
                })?,
        };
        find_object(&state, Some(&caller), &bucket, &name).await?;
        let url = format!("{bucket}/{name}");
        let now = jwt::now();
        let token = jwt::encode(
            &json!({ "url": url, "scope": SIGNED_URL_SCOPE, "iat": now, "exp": now + expires_in }),
            &state.secret,
        );
        Ok(
            Json(json!({ "signedURL": format!("/object/sign/{url}?token={token}") }))
                .into_response(),
        )
    }
    .await
    .unwrap_or_else(|e: StorageError| e.into_response())
}

/// `GET /object/sign/{bucket}/{path}?token=`: the object, for anyone holding a valid token
/// for exactly this path.
async fn signed_download(
    State(state): State<Arc<StorageState>>,
    Path((bucket, name)): Path<(String, String)>,
    Query(query): Query<DownloadQuery>,
    headers: HeaderMap,
) -> Response {
    async {
        let token = query.token.as_deref().ok_or_else(|| {
            StorageError::invalid_request("querystring must have required property 'token'")
        })?;
        let claims = jwt::decode(token, &state.secret, jwt::now()).map_err(|e| {
            StorageError::new(400, "InvalidJWT", jose_reason(&e)).with_error("InvalidJWT")
        })?;
        if claims["scope"]
            .as_str()
            .is_some_and(|s| s != SIGNED_URL_SCOPE)
        {
            return Err(StorageError::new(
                400,
                "InvalidSignature",
                "Token is not scoped for download",
            ));
        }
        if claims["url"].as_str() != Some(format!("{bucket}/{name}").as_str()) {
            return Err(StorageError::new(
                400,
                "InvalidSignature",
                "Invalid signature",
            ));
        }
        let object = find_object(&state, None, &bucket, &name).await?;
        serve(
            &state,
            &object,
            &name,
            &query,
            &headers,
            claims["exp"].as_i64(),
        )
        .await
    }
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_http_defines_them() {
        assert_eq!(parse_range(Some("bytes=0-"), 10), Some(Ok((0, 10))));
        assert_eq!(parse_range(Some("bytes=2-4"), 10), Some(Ok((2, 3))));
        assert_eq!(parse_range(Some("bytes=5-99"), 10), Some(Ok((5, 5))));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Some(Ok((7, 3))));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Some(Err(())));
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), None);
        assert_eq!(parse_range(Some("items=0-1"), 10), None);
        assert_eq!(parse_range(None, 10), None);
    }

    #[test]
    fn mime_types_match_exactly_or_by_wildcard() {
        let allowed = vec!["video/*".to_string(), "image/jpeg".to_string()];
        assert!(check_mime_type("video/mp4", &allowed).is_ok());
        assert!(check_mime_type("image/jpeg; charset=binary", &allowed).is_ok());
        assert!(check_mime_type("image/png", &allowed).is_err());
        assert!(check_mime_type("nonsense", &allowed).is_err());
        assert!(check_mime_type("anything/at-all", &[]).is_ok());
    }

    #[test]
    fn object_keys_keep_to_s3_safe_characters() {
        assert!(check_key("0190d5a8/video (1).mp4").is_ok());
        assert!(check_key("").is_err());
        assert!(check_key("vidéo.mp4").is_err());
        assert!(check_key("a\nb").is_err());
    }
}
