//! Supabase Auth (GoTrue) at `/auth/v1`: the subset the product uses, with GoTrue's routes,
//! status codes and error bodies, so supabase-js and supabase-py run unchanged against it.
//!
//! | route | what |
//! | --- | --- |
//! | `POST /token?grant_type=password` | email + password (bcrypt, as GoTrue) → a session |
//! | `POST /token?grant_type=refresh_token` | a rotating refresh token → a new access token and refresh token |
//! | `GET /user` | the signed-in user |
//! | `POST /logout?scope=global\|local\|others` | ends sessions: their refresh tokens stop working, and their access tokens at `/user` |
//! | `POST /admin/users` | the admin API (service key): create a user |
//!
//! Every route wants an `apikey` header, as Supabase's API gateway (Kong) does. Anything else
//! under `/auth/v1` answers 501 with GoTrue's error shape, never a silent success.
//!
//! State lives where GoTrue keeps it: `auth.users`, `auth.sessions`, `auth.refresh_tokens`
//! (`migrations/local/30_auth_sessions.sql`). Access tokens carry GoTrue's claims (`sub`,
//! `aud`, `role`, `email`, `phone`, `app_metadata`, `user_metadata`, `session_id`, `aal`,
//! `amr`, `is_anonymous`, `iss`, `iat`, `exp`) and are signed with the stack's JWT secret.
//! Refresh tokens rotate: each use revokes the token and issues its child; reusing a revoked
//! token is allowed within [`REFRESH_TOKEN_REUSE_INTERVAL_SECS`] (a client that lost the
//! answer), and afterwards revokes every token of the session (a stolen token), as GoTrue's
//! defaults (`enable_refresh_token_rotation`, `refresh_token_reuse_interval = 10`) do.
//!
//! Errors follow the caller's `X-Supabase-Api-Version`: from `2024-01-01` on (supabase-js
//! sends it) `{"code": "<error_code>", "message": ..}`, before it `{"code": <status>,
//! "error_code": .., "msg": ..}`; both with `x-sb-error-code`. The refresh grant without a
//! token answers the OAuth form `{"error": "invalid_request", "error_description": ..}`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use deadpool_postgres::Pool;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::{cors, jwt};

/// The demo admin's email: `local_supabase` creates this account (with
/// `app_metadata.role = "admin"`), and the dashboard signs in with it.
pub const DEMO_ADMIN_EMAIL: &str = "admin@upload-monitor.test";

/// The demo admin's password (a local demo account only; never on a hosted project).
pub const DEMO_ADMIN_PASSWORD: &str = "upload-monitor-admin";

/// bcrypt's cost, GoTrue's (`bcrypt.DefaultCost`): ~50-100 ms a hash here, by design slow.
const BCRYPT_COST: u32 = 10;

/// Seconds a revoked refresh token may still be exchanged (GoTrue's
/// `refresh_token_reuse_interval`, 10 in `supabase/config.toml`): a client that lost the
/// answer to its refresh retries with the same token and is not logged out.
pub const REFRESH_TOKEN_REUSE_INTERVAL_SECS: i64 = 10;

/// Bytes of randomness in a refresh token: 144 bits (GoTrue's legacy tokens have 60).
const REFRESH_TOKEN_BYTES: usize = 18;

/// The header naming the error format a client understands.
const API_VERSION_HEADER: &str = "x-supabase-api-version";

/// The first (and only) dated API version: errors as `{code, message}`.
const API_VERSION_2024: &str = "2024-01-01";

/// JWT roles GoTrue lets use the admin API (its `GOTRUE_JWT_ADMIN_ROLES` default).
const ADMIN_ROLES: [&str; 2] = ["service_role", "supabase_admin"];

/// The audience of user tokens (GoTrue's `GOTRUE_JWT_AUD` default).
const AUDIENCE: &str = "authenticated";

/// GoTrue's answer to a wrong email or password, whichever was wrong.
const INVALID_LOGIN: &str = "Invalid login credentials";

/// A user as GoTrue serialises it, built by the database from `auth.users u` (fields that
/// GoTrue omits when empty are dropped when null).
const USER_JSON: &str = "jsonb_strip_nulls(jsonb_build_object(
       'email_confirmed_at', u.email_confirmed_at, 'phone_confirmed_at', u.phone_confirmed_at,
       'confirmed_at', coalesce(u.email_confirmed_at, u.phone_confirmed_at),
       'last_sign_in_at', u.last_sign_in_at, 'banned_until', u.banned_until))
   || jsonb_build_object(
       'id', u.id, 'aud', coalesce(u.aud, ''), 'role', coalesce(u.role, ''),
       'email', coalesce(u.email, ''), 'phone', coalesce(u.phone, ''),
       'app_metadata', coalesce(u.raw_app_meta_data, '{}'),
       'user_metadata', coalesce(u.raw_user_meta_data, '{}'),
       'identities', '[]'::jsonb, 'created_at', u.created_at, 'updated_at', u.updated_at,
       'is_anonymous', u.is_anonymous)";

/// What the Auth routes share: a superuser pool (GoTrue has its own admin role; here the
/// stack's superuser writes `auth`) and the JWT secret.
struct AuthState {
    pool: Pool,
    secret: String,
}

/// The `/auth/v1` router.
pub(crate) fn router(pool: Pool, secret: String) -> Router {
    let state = Arc::new(AuthState { pool, secret });
    let api = Router::new()
        .route("/token", post(token))
        .route("/user", get(get_user))
        .route("/logout", post(logout))
        .route("/admin/users", post(admin_create_user))
        .fallback(not_served)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            require_apikey,
        ))
        .with_state(state);
    Router::new()
        .nest("/auth/v1", api)
        .layer(middleware::map_response(cors::allow_any_origin))
}

/// Hashes `password` as GoTrue stores it (bcrypt, cost 10). Blocks for ~0.1 s: call it from
/// a blocking thread.
///
/// # Errors
///
/// bcrypt refuses passwords over 72 bytes (GoTrue answers that as a validation error).
pub(crate) fn hash_password(password: &str) -> Result<String, bcrypt::BcryptError> {
    bcrypt::non_truncating_hash(password, BCRYPT_COST)
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// An Auth error, rendered in the format the caller asked for (see the module docs).
#[derive(Debug, thiserror::Error)]
enum AuthError {
    /// GoTrue's `HTTPError`: a status, an `error_code` and a message.
    #[error("{status}: {message}")]
    Http {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    /// GoTrue's `OAuthError` (the token endpoint's malformed requests), always 400.
    #[error("{error}: {description}")]
    OAuth {
        error: &'static str,
        description: String,
    },
}

impl AuthError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AuthError::Http {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    fn invalid_credentials() -> Self {
        Self::bad_request("invalid_credentials", INVALID_LOGIN)
    }

    /// A failure of ours: logged with its cause, answered without it (GoTrue's 500s say
    /// "Database error ..." and nothing of the database's message).
    fn internal(what: &str, cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "auth: {what}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "unexpected_failure",
            format!("Database error {what}"),
        )
    }

    fn db(what: &str) -> impl FnOnce(tokio_postgres::Error) -> AuthError + '_ {
        move |e| AuthError::internal(what, &e)
    }

    fn render(self, dated: bool) -> Response {
        match self {
            AuthError::OAuth { error, description } => (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": error, "error_description": description })),
            )
                .into_response(),
            AuthError::Http {
                status,
                code,
                message,
            } => {
                let body = if dated {
                    json!({ "code": code, "message": message })
                } else {
                    json!({ "code": status.as_u16(), "error_code": code, "msg": message })
                };
                let mut response = (status, Json(body)).into_response();
                response
                    .headers_mut()
                    .insert("x-sb-error-code", HeaderValue::from_static(code));
                if dated {
                    response.headers_mut().insert(
                        API_VERSION_HEADER,
                        HeaderValue::from_static(API_VERSION_2024),
                    );
                }
                response
            }
        }
    }
}

/// True when the caller asked for the dated error format (`2024-01-01` or later; an
/// unreadable version falls back to the initial format, as GoTrue does).
fn wants_dated_errors(headers: &HeaderMap) -> bool {
    headers
        .get(API_VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| is_date(v))
        .is_some_and(|v| v >= API_VERSION_2024)
}

/// `YYYY-MM-DD` (compared as text afterwards, which orders such dates).
fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

/// A handler's outcome in the caller's error format.
fn reply(headers: &HeaderMap, result: Result<Response, AuthError>) -> Response {
    result.unwrap_or_else(|e| e.render(wants_dated_errors(headers)))
}

async fn not_served(headers: HeaderMap) -> Response {
    reply(
        &headers,
        Err(AuthError::new(
            StatusCode::NOT_IMPLEMENTED,
            "not_implemented",
            "The dev stack's Auth serves only POST /token (password and refresh_token grants), \
             GET /user, POST /logout and POST /admin/users",
        )),
    )
}

/// Supabase's gateway (Kong's key-auth) in front of Auth: no `apikey`, or one that is not a
/// key of this project, never reaches GoTrue. Preflights pass (browsers send no headers).
async fn require_apikey(
    State(state): State<Arc<AuthState>>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() == Method::OPTIONS {
        return cors::preflight().await;
    }
    let refusal = match request.headers().get("apikey").map(|v| v.to_str()) {
        None => Some("No API key found in request"),
        Some(Ok(key)) if jwt::decode(key.trim(), &state.secret, jwt::now()).is_ok() => None,
        Some(_) => Some("Invalid authentication credentials"),
    };
    match refusal {
        Some(message) => (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "message": message })),
        )
            .into_response(),
        None => next.run(request).await,
    }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// GoTrue's `retrieveRequestParams`: the body is JSON.
fn parse_json<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, AuthError> {
    serde_json::from_slice(body).map_err(|e| {
        AuthError::bad_request(
            "bad_json",
            format!("Could not parse request body as JSON: {e}"),
        )
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PasswordGrantParams {
    email: String,
    phone: String,
    password: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RefreshTokenGrantParams {
    refresh_token: String,
}

/// `POST /token?grant_type=...`.
async fn token(
    State(state): State<Arc<AuthState>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = match query.get("grant_type").map(String::as_str) {
        Some("password") => password_grant(&state, &headers, &body).await,
        Some("refresh_token") => refresh_token_grant(&state, &headers, &body).await,
        // GoTrue's own answer to a grant it does not know (id_token, pkce ... are not served).
        _ => Err(AuthError::bad_request(
            "invalid_credentials",
            "unsupported_grant_type",
        )),
    };
    reply(&headers, result)
}

/// The password grant: check the password, open a session, answer tokens.
async fn password_grant(
    state: &AuthState,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, AuthError> {
    let params: PasswordGrantParams = parse_json(body)?;
    let email = params.email.trim().to_lowercase();
    if !email.is_empty() && !params.phone.is_empty() {
        return Err(AuthError::bad_request(
            "validation_failed",
            "Only an email address or phone number should be provided on login.",
        ));
    }
    if email.is_empty() {
        return Err(if params.phone.is_empty() {
            AuthError::bad_request("validation_failed", "missing email or phone")
        } else {
            // As GoTrue answers when the phone provider is off (supabase/config.toml).
            AuthError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "phone_provider_disabled",
                "Phone logins are disabled",
            )
        });
    }
    let mut client = state
        .pool
        .get()
        .await
        .map_err(|e| AuthError::internal("connecting", &e))?;
    let row = client
        .query_opt(
            "select u.id, coalesce(u.encrypted_password, ''), u.email_confirmed_at is not null, \
                    coalesce(u.banned_until > now(), false) \
             from auth.users u \
             where lower(u.email) = $1 and u.aud = $2 and u.deleted_at is null \
               and not u.is_sso_user",
            &[&email, &AUDIENCE],
        )
        .await
        .map_err(AuthError::db("querying schema"))?;
    let Some(row) = row else {
        return Err(AuthError::invalid_credentials());
    };
    let (user_id, hash, confirmed, banned): (Uuid, String, bool, bool) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    if hash.is_empty() {
        return Err(AuthError::invalid_credentials());
    }
    if banned {
        return Err(AuthError::bad_request("user_banned", "User is banned"));
    }
    let password = params.password;
    let matches = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
        .await
        .map_err(|e| AuthError::internal("checking the password", &e))?
        // A stored hash bcrypt cannot read matches no password.
        .unwrap_or(false);
    if !matches {
        return Err(AuthError::invalid_credentials());
    }
    if !confirmed {
        return Err(AuthError::bad_request(
            "email_not_confirmed",
            "Email not confirmed",
        ));
    }
    let tx = client
        .transaction()
        .await
        .map_err(AuthError::db("opening a session"))?;
    let session_id = Uuid::new_v4();
    tx.execute(
        "insert into auth.sessions (id, user_id, aal, user_agent, created_at, updated_at) \
         values ($1, $2, 'aal1', $3, now(), now())",
        &[&session_id, &user_id, &user_agent(headers)],
    )
    .await
    .map_err(AuthError::db("creating new session"))?;
    let refresh_token = new_refresh_token()?;
    insert_refresh_token(&tx, &refresh_token, user_id, session_id, None).await?;
    let user: Value = tx
        .query_one(
            &format!(
                "update auth.users u set last_sign_in_at = now(), updated_at = now() \
                 where u.id = $1 returning {USER_JSON}"
            ),
            &[&user_id],
        )
        .await
        .map_err(AuthError::db("updating user's last_sign_in_at"))?
        .get(0);
    let signed_in_at = jwt::now();
    tx.commit()
        .await
        .map_err(AuthError::db("opening a session"))?;
    Ok(session_response(
        &state.secret,
        headers,
        &user,
        session_id,
        signed_in_at,
        refresh_token,
    ))
}

/// The refresh grant: rotate the refresh token, answer a new access token.
async fn refresh_token_grant(
    state: &AuthState,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, AuthError> {
    let params: RefreshTokenGrantParams = parse_json(body)?;
    if params.refresh_token.is_empty() {
        return Err(AuthError::OAuth {
            error: "invalid_request",
            description: "refresh_token required".into(),
        });
    }
    let mut client = state
        .pool
        .get()
        .await
        .map_err(|e| AuthError::internal("connecting", &e))?;
    let tx = client
        .transaction()
        .await
        .map_err(AuthError::db("refreshing"))?;
    // The token's row, locked: two refreshes of one token are served one after the other.
    let row = tx
        .query_opt(
            "select rt.id, coalesce(rt.revoked, false), rt.session_id, \
                    rt.updated_at > now() - make_interval(secs => $2) \
             from auth.refresh_tokens rt where rt.token = $1 for update",
            &[
                &params.refresh_token,
                &(REFRESH_TOKEN_REUSE_INTERVAL_SECS as f64),
            ],
        )
        .await
        .map_err(AuthError::db("finding refresh token"))?
        .ok_or_else(|| {
            AuthError::bad_request(
                "refresh_token_not_found",
                "Invalid Refresh Token: Refresh Token Not Found",
            )
        })?;
    let (token_id, revoked, session_id, within_reuse): (i64, bool, Option<Uuid>, bool) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    let no_session = || {
        AuthError::bad_request(
            "session_not_found",
            "Invalid Refresh Token: No Valid Session Found",
        )
    };
    let session_id = session_id.ok_or_else(no_session)?;
    let session = tx
        .query_opt(
            &format!(
                "select {USER_JSON}, coalesce(u.banned_until > now(), false), \
                        extract(epoch from s.created_at)::int8 \
                 from auth.sessions s join auth.users u on u.id = s.user_id \
                 where s.id = $1 for update of s"
            ),
            &[&session_id],
        )
        .await
        .map_err(AuthError::db("finding session"))?
        .ok_or_else(no_session)?;
    let (user, banned, signed_in_at): (Value, bool, i64) =
        (session.get(0), session.get(1), session.get(2));
    if banned {
        return Err(AuthError::bad_request(
            "user_banned",
            "Invalid Refresh Token: User Banned",
        ));
    }
    let user_id = user_id_of(&user)?;
    let mut issued = None;
    if revoked {
        // The session's newest live token is this one's child: the client never stored the
        // answer to its last refresh. Hand it that child again instead of a new one.
        let active = tx
            .query_opt(
                "select token, parent from auth.refresh_tokens \
                 where session_id = $1 and not coalesce(revoked, false) \
                 order by id desc limit 1",
                &[&session_id],
            )
            .await
            .map_err(AuthError::db("finding the active refresh token"))?;
        match active {
            Some(active)
                if active.get::<_, Option<String>>(1).as_deref()
                    == Some(params.refresh_token.as_str()) =>
            {
                issued = Some(active.get::<_, String>(0));
            }
            _ if within_reuse => {}
            _ => {
                // Replayed after the reuse interval: treat as stolen, end the session's
                // tokens, and keep that decision (commit) while refusing.
                tx.execute(
                    "update auth.refresh_tokens set revoked = true, updated_at = now() \
                     where session_id = $1 and not coalesce(revoked, false)",
                    &[&session_id],
                )
                .await
                .map_err(AuthError::db("revoking the token family"))?;
                tx.commit()
                    .await
                    .map_err(AuthError::db("revoking the token family"))?;
                return Err(AuthError::bad_request(
                    "refresh_token_already_used",
                    "Invalid Refresh Token: Already Used",
                ));
            }
        }
    }
    let refresh_token = match issued {
        Some(token) => token,
        None => {
            tx.execute(
                "update auth.refresh_tokens set revoked = true, updated_at = now() where id = $1",
                &[&token_id],
            )
            .await
            .map_err(AuthError::db("revoking the refresh token"))?;
            let token = new_refresh_token()?;
            insert_refresh_token(
                &tx,
                &token,
                user_id,
                session_id,
                Some(&params.refresh_token),
            )
            .await?;
            token
        }
    };
    tx.execute(
        "update auth.sessions set refreshed_at = now() at time zone 'utc', updated_at = now(), \
           user_agent = coalesce($2, user_agent) where id = $1",
        &[&session_id, &user_agent(headers)],
    )
    .await
    .map_err(AuthError::db("updating the session"))?;
    tx.commit().await.map_err(AuthError::db("refreshing"))?;
    Ok(session_response(
        &state.secret,
        headers,
        &user,
        session_id,
        signed_in_at,
        refresh_token,
    ))
}

fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn user_id_of(user: &Value) -> Result<Uuid, AuthError> {
    user["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| AuthError::internal("reading the user", &"user row without an id"))
}

/// A new refresh token: 144 random bits from the OS, base64url (24 characters).
fn new_refresh_token() -> Result<String, AuthError> {
    let mut bytes = [0u8; REFRESH_TOKEN_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|e| AuthError::internal("generating a refresh token", &e))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

async fn insert_refresh_token(
    tx: &deadpool_postgres::Transaction<'_>,
    token: &str,
    user_id: Uuid,
    session_id: Uuid,
    parent: Option<&str>,
) -> Result<(), AuthError> {
    tx.execute(
        "insert into auth.refresh_tokens \
           (instance_id, token, user_id, revoked, parent, session_id, created_at, updated_at) \
         values ('00000000-0000-0000-0000-000000000000', $1, $2, false, $3, $4, now(), now())",
        &[&token, &user_id.to_string(), &parent, &session_id],
    )
    .await
    .map_err(AuthError::db("creating refresh token"))?;
    Ok(())
}

/// GoTrue's `AccessTokenResponse`: a fresh access token for `user` in `session_id`.
fn session_response(
    secret: &str,
    headers: &HeaderMap,
    user: &Value,
    session_id: Uuid,
    signed_in_at: i64,
    refresh_token: String,
) -> Response {
    let now = jwt::now();
    let expires_at = now + jwt::USER_TOKEN_LIFETIME_SECS;
    let claims = json!({
        "iss": issuer(headers),
        "sub": user["id"],
        "aud": user["aud"],
        "exp": expires_at,
        "iat": now,
        "email": user["email"],
        "phone": user["phone"],
        "app_metadata": user["app_metadata"],
        "user_metadata": user["user_metadata"],
        "role": user["role"],
        "aal": "aal1",
        // Only password sign-ins exist here, so every session was opened by one.
        "amr": [{ "method": "password", "timestamp": signed_in_at }],
        "session_id": session_id,
        "is_anonymous": user["is_anonymous"],
    });
    Json(json!({
        "access_token": jwt::encode(&claims, secret),
        "token_type": "bearer",
        "expires_in": jwt::USER_TOKEN_LIFETIME_SECS,
        "expires_at": expires_at,
        "refresh_token": refresh_token,
        "user": user,
    }))
    .into_response()
}

/// GoTrue's `iss`: its external URL, `<API URL>/auth/v1` (taken from the request's `Host`,
/// since the stack may run on any port).
fn issuer(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}/auth/v1")
}

// ---------------------------------------------------------------------------------------------
// Signed-in routes
// ---------------------------------------------------------------------------------------------

/// The bearer token of `Authorization`, as GoTrue's `extractBearerToken` reads it.
fn bearer(headers: &HeaderMap) -> Result<&str, AuthError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            let token = token.trim();
            (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
        })
        .ok_or_else(|| {
            AuthError::new(
                StatusCode::UNAUTHORIZED,
                "no_authorization",
                "This endpoint requires a valid Bearer token",
            )
        })
}

/// Verifies the bearer token (signature, `exp`), as GoTrue's `parseJWTClaims`.
fn verified_claims(headers: &HeaderMap, secret: &str) -> Result<Value, AuthError> {
    let token = bearer(headers)?;
    jwt::decode(token, secret, jwt::now()).map_err(|e| {
        let why = match e {
            jwt::JwtError::Expired => "token has invalid claims: token is expired".to_string(),
            jwt::JwtError::Signature => "token signature is invalid: signature is invalid".into(),
            other => other.to_string(),
        };
        AuthError::forbidden(
            "bad_jwt",
            format!("invalid JWT: unable to parse or verify signature, {why}"),
        )
    })
}

/// The caller of a signed-in route: GoTrue's `requireAuthentication` (token, user, session).
struct SignedIn {
    claims: Value,
    user: Value,
    user_id: Uuid,
    session_id: Option<Uuid>,
}

async fn require_user(
    state: &AuthState,
    client: &deadpool_postgres::Object,
    headers: &HeaderMap,
) -> Result<SignedIn, AuthError> {
    let claims = verified_claims(headers, &state.secret)?;
    let sub = claims["sub"].as_str().unwrap_or_default();
    if sub.is_empty() {
        return Err(AuthError::forbidden(
            "bad_jwt",
            "invalid claim: missing sub claim",
        ));
    }
    let user_id: Uuid = sub.parse().map_err(|_| {
        AuthError::bad_request("bad_jwt", "invalid claim: sub claim must be a UUID")
    })?;
    let row = client
        .query_opt(
            &format!(
                "select {USER_JSON}, coalesce(u.banned_until > now(), false) \
                 from auth.users u where u.id = $1"
            ),
            &[&user_id],
        )
        .await
        .map_err(AuthError::db("finding user"))?
        .ok_or_else(|| {
            AuthError::forbidden(
                "user_not_found",
                "User from sub claim in JWT does not exist",
            )
        })?;
    let (user, banned): (Value, bool) = (row.get(0), row.get(1));
    let session_id = match claims["session_id"].as_str() {
        None | Some("") => None,
        Some(text) => Some(text.parse::<Uuid>().map_err(|_| {
            AuthError::forbidden("bad_jwt", "invalid claim: session_id claim must be a UUID")
        })?),
    }
    .filter(|id| !id.is_nil());
    if let Some(id) = session_id {
        let exists = client
            .query_opt("select 1 from auth.sessions where id = $1", &[&id])
            .await
            .map_err(AuthError::db("finding session"))?
            .is_some();
        if !exists {
            return Err(AuthError::forbidden(
                "session_not_found",
                "Session from session_id claim in JWT does not exist",
            ));
        }
    }
    if banned {
        return Err(AuthError::forbidden("user_banned", "User is banned"));
    }
    Ok(SignedIn {
        claims,
        user,
        user_id,
        session_id,
    })
}

/// `GET /user`.
async fn get_user(State(state): State<Arc<AuthState>>, headers: HeaderMap) -> Response {
    let result = async {
        let client = state
            .pool
            .get()
            .await
            .map_err(|e| AuthError::internal("connecting", &e))?;
        let caller = require_user(&state, &client, &headers).await?;
        // GoTrue compares the token's audience with the request's (`X-JWT-AUD` or its default).
        let aud = match &caller.claims["aud"] {
            Value::Array(list) => list.first().and_then(Value::as_str),
            other => other.as_str(),
        };
        if aud != Some(AUDIENCE) {
            return Err(AuthError::bad_request(
                "validation_failed",
                "Token audience doesn't match request audience",
            ));
        }
        Ok(Json(caller.user).into_response())
    }
    .await;
    reply(&headers, result)
}

/// `POST /logout?scope=global|local|others`: deletes sessions (their refresh tokens go with
/// them); 204.
async fn logout(
    State(state): State<Arc<AuthState>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let scope = query.get("scope").map(String::as_str).unwrap_or("");
        if !matches!(scope, "" | "global" | "local" | "others") {
            return Err(AuthError::bad_request(
                "validation_failed",
                format!("Unsupported logout scope {scope:?}"),
            ));
        }
        let client = state
            .pool
            .get()
            .await
            .map_err(|e| AuthError::internal("connecting", &e))?;
        let caller = require_user(&state, &client, &headers).await?;
        let done = match (scope, caller.session_id) {
            ("local", Some(session)) => {
                client
                    .execute("delete from auth.sessions where id = $1", &[&session])
                    .await
            }
            ("others", Some(session)) => {
                client
                    .execute(
                        "delete from auth.sessions where user_id = $1 and id <> $2",
                        &[&caller.user_id, &session],
                    )
                    .await
            }
            // Global, or a token without a session (GoTrue logs out everywhere then too).
            _ => {
                client
                    .execute(
                        "delete from auth.sessions where user_id = $1",
                        &[&caller.user_id],
                    )
                    .await
            }
        };
        done.map_err(|e| AuthError::internal("logging out user", &e))?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }
    .await;
    reply(&headers, result)
}

// ---------------------------------------------------------------------------------------------
// Admin API
// ---------------------------------------------------------------------------------------------

/// GoTrue's `AdminUserParams` (the fields this subset honours).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AdminUserParams {
    id: String,
    aud: String,
    role: String,
    email: String,
    phone: String,
    password: Option<String>,
    password_hash: String,
    email_confirm: bool,
    user_metadata: Option<Map<String, Value>>,
    app_metadata: Option<Map<String, Value>>,
    ban_duration: String,
}

/// GoTrue's `requireAdminCredentials`: a valid token whose role is an admin role.
fn require_admin(headers: &HeaderMap, secret: &str) -> Result<(), AuthError> {
    let claims = verified_claims(headers, secret)?;
    let role = claims["role"].as_str().unwrap_or_default();
    if ADMIN_ROLES.contains(&role) {
        Ok(())
    } else {
        Err(AuthError::forbidden("not_admin", "User not allowed"))
    }
}

/// GoTrue's email check, in its words: required, at most 255 characters, `local@domain`.
fn validate_email(email: &str) -> Result<String, AuthError> {
    let email = email.trim().to_lowercase();
    if email.is_empty() {
        return Err(AuthError::bad_request(
            "validation_failed",
            "An email address is required",
        ));
    }
    if email.len() > 255 {
        return Err(AuthError::bad_request(
            "validation_failed",
            "An email address is too long",
        ));
    }
    let valid = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.is_empty()
            && !domain.contains('@')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
    });
    if valid {
        Ok(email)
    } else {
        Err(AuthError::bad_request(
            "email_address_invalid",
            "Unable to validate email address: invalid format",
        ))
    }
}

/// `POST /admin/users` with the service key: creates a user (email confirmed when asked),
/// answers it (200), or 422 `email_exists`.
async fn admin_create_user(
    State(state): State<Arc<AuthState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        require_admin(&headers, &state.secret)?;
        let params: AdminUserParams = parse_json(&body)?;
        create_user_as_admin(&state, params).await
    }
    .await;
    reply(&headers, result)
}

async fn create_user_as_admin(
    state: &AuthState,
    params: AdminUserParams,
) -> Result<Response, AuthError> {
    if params.email.is_empty() && params.phone.is_empty() {
        return Err(AuthError::bad_request(
            "validation_failed",
            "Cannot create a user without either an email or phone",
        ));
    }
    if !params.phone.is_empty() {
        return Err(AuthError::new(
            StatusCode::NOT_IMPLEMENTED,
            "not_implemented",
            "The dev stack's Auth creates users by email only",
        ));
    }
    let email = validate_email(&params.email)?;
    if params.password.is_some() && !params.password_hash.is_empty() {
        return Err(AuthError::bad_request(
            "validation_failed",
            "Only a password or a password hash should be provided",
        ));
    }
    if !matches!(params.ban_duration.as_str(), "" | "none") {
        return Err(AuthError::new(
            StatusCode::NOT_IMPLEMENTED,
            "not_implemented",
            "The dev stack's Auth does not ban users (ban_duration)",
        ));
    }
    let id = if params.id.is_empty() {
        Uuid::new_v4()
    } else {
        let id: Uuid = params.id.parse().map_err(|_| {
            AuthError::bad_request("validation_failed", "ID must conform to the uuid v4 format")
        })?;
        if id.is_nil() {
            return Err(AuthError::bad_request(
                "validation_failed",
                "ID cannot be a nil uuid",
            ));
        }
        id
    };
    let hash = if !params.password_hash.is_empty() {
        // GoTrue takes a bcrypt hash as it is, after checking it is one.
        let hash = params.password_hash;
        if bcrypt::verify("", &hash).is_err() {
            return Err(AuthError::internal("creating user", &"not a bcrypt hash"));
        }
        hash
    } else {
        // No password: a random one nobody knows, as GoTrue does (the user cannot sign in
        // with a password until one is set).
        let password = match params.password.filter(|p| !p.is_empty()) {
            Some(p) => p,
            None => new_refresh_token()? + &new_refresh_token()?,
        };
        tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| AuthError::internal("hashing the password", &e))?
            .map_err(|e| match e {
                bcrypt::BcryptError::Truncation(_) => AuthError::bad_request(
                    "validation_failed",
                    "bcrypt: password length exceeds 72 bytes",
                ),
                other => AuthError::internal("hashing the password", &other),
            })?
    };
    let mut app_metadata = Map::new();
    app_metadata.insert("provider".into(), "email".into());
    app_metadata.insert("providers".into(), json!(["email"]));
    // GoTrue's UpdateAppMetaData: each key set, a null deletes it.
    for (key, value) in params.app_metadata.unwrap_or_default() {
        if value.is_null() {
            app_metadata.remove(&key);
        } else {
            app_metadata.insert(key, value);
        }
    }
    let user_metadata = Value::Object(params.user_metadata.unwrap_or_default());
    let aud = if params.aud.is_empty() {
        AUDIENCE.to_string()
    } else {
        params.aud
    };
    let role = if params.role.is_empty() {
        AUDIENCE.to_string()
    } else {
        params.role
    };
    let client = state
        .pool
        .get()
        .await
        .map_err(|e| AuthError::internal("connecting", &e))?;
    let inserted = client
        .query_opt(
            &format!(
                "insert into auth.users as u (instance_id, id, aud, role, email, \
                   encrypted_password, email_confirmed_at, raw_app_meta_data, \
                   raw_user_meta_data, is_super_admin, created_at, updated_at) \
                 select '00000000-0000-0000-0000-000000000000', $1, $2::text, $3::text, \
                   $4::text, $5::text, case when $6::bool then now() end, $7::jsonb, \
                   $8::jsonb, false, now(), now() \
                 where not exists (select 1 from auth.users x \
                                   where lower(x.email) = $4::text and x.aud = $2::text) \
                 on conflict do nothing \
                 returning {USER_JSON}"
            ),
            &[
                &id,
                &aud,
                &role,
                &email,
                &hash,
                &params.email_confirm,
                &Value::Object(app_metadata),
                &user_metadata,
            ],
        )
        .await
        .map_err(AuthError::db("creating new user"))?;
    match inserted {
        Some(row) => Ok(Json(row.get::<_, Value>(0)).into_response()),
        None => Err(AuthError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "email_exists",
            "A user with this email address has already been registered",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dated_error_format_starts_at_2024_01_01() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(API_VERSION_HEADER, HeaderValue::from_str(v).unwrap());
            wants_dated_errors(&h)
        };
        assert!(with("2024-01-01"));
        assert!(with("2025-06-30"));
        assert!(!with("2023-12-31"));
        assert!(!with("latest"));
        assert!(!wants_dated_errors(&HeaderMap::new()));
    }

    #[test]
    fn emails_are_checked_and_lowercased_as_gotrue_does() {
        assert_eq!(
            validate_email(" Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "a b@example.com",
            "a@b..c",
        ] {
            assert!(validate_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refresh_tokens_are_random_and_url_safe() {
        let a = new_refresh_token().unwrap();
        let b = new_refresh_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 24);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }
}
