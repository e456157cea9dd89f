//! The dev stack's `/auth/v1` over real HTTP, held to Supabase Auth's (GoTrue's) answers:
//! password and refresh grants, rotating refresh tokens, `/user`, `/logout`, the admin API,
//! the gateway's `apikey` check and its error formats.

mod common;

use common::{rpc, stack, unique_email};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use upload_monitor::devstack::{jwt, NewUser, DEMO_JWT_SECRET};

/// The password of this file's accounts.
const PASSWORD: &str = "correct horse battery staple";

/// An Auth answer.
struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

/// A request to `/auth/v1{path}` with `apikey` (when given), a bearer token (when given),
/// supabase-js's API version header (when `dated`) and a JSON body (when given).
async fn auth(
    method: Method,
    path: &str,
    apikey: Option<&str>,
    bearer: Option<&str>,
    dated: bool,
    body: Option<Value>,
) -> Answer {
    let mut request =
        reqwest::Client::new().request(method, format!("{}/auth/v1{path}", stack().api_url()));
    if let Some(key) = apikey {
        request = request.header("apikey", key);
    }
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    if dated {
        request = request.header("X-Supabase-Api-Version", "2024-01-01");
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the dev stack answers");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("JSON ({e}): {text}"))
    };
    Answer {
        status,
        headers,
        body,
    }
}

async fn sign_in(email: &str, password: &str) -> Answer {
    auth(
        Method::POST,
        "/token?grant_type=password",
        Some(stack().anon_key()),
        None,
        true,
        Some(json!({ "email": email, "password": password })),
    )
    .await
}

async fn refresh(refresh_token: &str) -> Answer {
    auth(
        Method::POST,
        "/token?grant_type=refresh_token",
        Some(stack().anon_key()),
        None,
        true,
        Some(json!({ "refresh_token": refresh_token })),
    )
    .await
}

async fn get_user(access_token: &str) -> Answer {
    auth(
        Method::GET,
        "/user",
        Some(stack().anon_key()),
        Some(access_token),
        true,
        None,
    )
    .await
}

/// A confirmed account with [`PASSWORD`], made as a test fixture (not through Auth).
async fn account(prefix: &str) -> (uuid::Uuid, String) {
    let email = unique_email(prefix);
    let user = stack()
        .create_user(&NewUser::new(&email).password(PASSWORD))
        .await
        .unwrap();
    (user.id, email)
}

fn claims(access_token: &str) -> Value {
    jwt::decode(access_token, DEMO_JWT_SECRET, jwt::now()).expect("a valid access token")
}

#[tokio::test]
async fn a_password_sign_in_answers_a_session_whose_token_the_api_accepts() {
    let (id, email) = account("signin").await;
    let session = sign_in(&email.to_uppercase(), PASSWORD).await;
    assert_eq!(session.status, 200, "{}", session.body);
    let body = &session.body;
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    assert!(body["expires_at"].as_i64().unwrap() > jwt::now());
    assert!(body["refresh_token"].as_str().unwrap().len() >= 12);
    assert_eq!(body["user"]["id"], id.to_string());
    assert_eq!(body["user"]["email"], email);
    assert_eq!(body["user"]["aud"], "authenticated");
    assert!(body["user"]["last_sign_in_at"].is_string());
    let token = body["access_token"].as_str().unwrap();
    let c = claims(token);
    assert_eq!(c["sub"], id.to_string());
    assert_eq!(c["role"], "authenticated");
    assert_eq!(c["aud"], "authenticated");
    assert_eq!(c["email"], email);
    assert_eq!(c["aal"], "aal1");
    assert_eq!(c["amr"][0]["method"], "password");
    assert_eq!(c["is_anonymous"], false);
    assert!(c["session_id"]
        .as_str()
        .unwrap()
        .parse::<uuid::Uuid>()
        .is_ok());
    assert!(c["iss"].as_str().unwrap().ends_with("/auth/v1"));

    let me = get_user(token).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["id"], id.to_string());
    assert_eq!(me.body["email"], email);

    // PostgREST takes it as the user (auth.uid() = sub).
    let own = rpc(
        stack().api_url(),
        "pending_retry_requests",
        stack().anon_key(),
        Some(token),
        &json!({}),
    )
    .await;
    assert_eq!(own.status, 200, "{:?}", own.body);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer_in_both_error_formats() {
    let (_, email) = account("wrong").await;
    for (email, password) in [(email.as_str(), "nope"), ("nobody@example.test", PASSWORD)] {
        let dated = sign_in(email, password).await;
        assert_eq!(dated.status, 400);
        assert_eq!(
            dated.body,
            json!({"code": "invalid_credentials", "message": "Invalid login credentials"})
        );
        assert_eq!(dated.headers["x-sb-error-code"], "invalid_credentials");
        assert_eq!(dated.headers["x-supabase-api-version"], "2024-01-01");
        let initial = auth(
            Method::POST,
            "/token?grant_type=password",
            Some(stack().anon_key()),
            None,
            false,
            Some(json!({ "email": email, "password": password })),
        )
        .await;
        assert_eq!(initial.status, 400);
        assert_eq!(
            initial.body,
            json!({"code": 400, "error_code": "invalid_credentials",
                   "msg": "Invalid login credentials"})
        );
    }
}

#[tokio::test]
async fn malformed_token_requests_are_refused_as_gotrue_refuses_them() {
    let anon = Some(stack().anon_key());
    let no_email = auth(
        Method::POST,
        "/token?grant_type=password",
        anon,
        None,
        true,
        Some(json!({ "password": "x" })),
    )
    .await;
    assert_eq!(no_email.status, 400);
    assert_eq!(no_email.body["code"], "validation_failed");
    let grant = auth(
        Method::POST,
        "/token?grant_type=magic",
        anon,
        None,
        true,
        Some(json!({})),
    )
    .await;
    assert_eq!(grant.status, 400);
    assert_eq!(grant.body["message"], "unsupported_grant_type");
    let no_token = refresh("").await;
    assert_eq!(no_token.status, 400);
    assert_eq!(
        no_token.body,
        json!({"error": "invalid_request", "error_description": "refresh_token required"})
    );
    let unknown = refresh("not-a-token-we-issued").await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.body["code"], "refresh_token_not_found");
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_replay_after_the_reuse_interval_revokes_the_session() {
    let (id, email) = account("rotate").await;
    let first = sign_in(&email, PASSWORD).await;
    let rt1 = first.body["refresh_token"].as_str().unwrap().to_string();
    let session_id = claims(first.body["access_token"].as_str().unwrap())["session_id"].clone();

    let second = refresh(&rt1).await;
    assert_eq!(second.status, 200, "{}", second.body);
    let rt2 = second.body["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2, "a refresh issues a new refresh token");
    assert_eq!(second.body["user"]["id"], id.to_string());
    let access2 = second.body["access_token"].as_str().unwrap();
    assert_eq!(claims(access2)["session_id"], session_id, "same session");
    assert_eq!(get_user(access2).await.status, 200);

    // A client that lost the answer retries with rt1: it gets rt2 again, not a new token.
    let retried = refresh(&rt1).await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert_eq!(retried.body["refresh_token"], rt2);

    let third = refresh(&rt2).await;
    let rt3 = third.body["refresh_token"].as_str().unwrap().to_string();

    // rt1 replayed after the reuse interval (its revocation aged by hand): refused, and
    // every token of the session is revoked.
    let db = stack().connect().await.unwrap();
    db.execute(
        "update auth.refresh_tokens set updated_at = now() - interval '1 minute' \
         where token = $1",
        &[&rt1],
    )
    .await
    .unwrap();
    let replay = refresh(&rt1).await;
    assert_eq!(replay.status, 400);
    assert_eq!(
        replay.body,
        json!({"code": "refresh_token_already_used",
               "message": "Invalid Refresh Token: Already Used"})
    );
    let live: i64 = db
        .query_one(
            "select count(*) from auth.refresh_tokens where token = $1 and not revoked",
            &[&rt3],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(live, 0, "the session's newest token is revoked too");
}

#[tokio::test]
async fn logout_ends_one_session_or_all_of_them() {
    let (_, email) = account("logout").await;
    let a = sign_in(&email, PASSWORD).await.body;
    let b = sign_in(&email, PASSWORD).await.body;
    let (access_a, access_b) = (
        a["access_token"].as_str().unwrap(),
        b["access_token"].as_str().unwrap(),
    );
    let anon = Some(stack().anon_key());

    let bad_scope = auth(
        Method::POST,
        "/logout?scope=all",
        anon,
        Some(access_a),
        true,
        None,
    )
    .await;
    assert_eq!(bad_scope.status, 400);
    assert_eq!(bad_scope.body["code"], "validation_failed");

    let local = auth(
        Method::POST,
        "/logout?scope=local",
        anon,
        Some(access_a),
        true,
        None,
    )
    .await;
    assert_eq!(local.status, 204);
    let gone = get_user(access_a).await;
    assert_eq!(gone.status, 403);
    assert_eq!(gone.body["code"], "session_not_found");
    let dead = refresh(a["refresh_token"].as_str().unwrap()).await;
    assert_eq!(dead.status, 400);
    assert_eq!(dead.body["code"], "refresh_token_not_found");
    assert_eq!(
        get_user(access_b).await.status,
        200,
        "the other session lives"
    );

    let global = auth(Method::POST, "/logout", anon, Some(access_b), true, None).await;
    assert_eq!(global.status, 204);
    assert_eq!(get_user(access_b).await.status, 403);
    assert_eq!(
        refresh(b["refresh_token"].as_str().unwrap()).await.status,
        400
    );
}

#[tokio::test]
async fn signed_in_routes_refuse_missing_expired_and_foreign_tokens() {
    let anon = Some(stack().anon_key());
    let none = auth(Method::GET, "/user", anon, None, true, None).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.body["code"], "no_authorization");

    let user = stack()
        .create_user(&NewUser::new(unique_email("expired")))
        .await
        .unwrap();
    let expired = stack().mint_token(&user.claims().expired());
    let answer = get_user(&expired).await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.body["code"], "bad_jwt");
    assert!(answer.body["message"]
        .as_str()
        .unwrap()
        .contains("token is expired"));

    // A minted token without a session (the tests' users) is a valid caller of /user.
    let fine = get_user(&user.access_token).await;
    assert_eq!(fine.status, 200, "{}", fine.body);
    assert_eq!(fine.body["id"], user.id.to_string());

    let service = get_user(stack().service_role_key()).await;
    assert_eq!(service.status, 403);
    assert_eq!(service.body["message"], "invalid claim: missing sub claim");
}

#[tokio::test]
async fn the_admin_api_creates_users_with_the_service_key_only() {
    let email = unique_email("admin-api");
    let service = Some(stack().service_role_key());
    let body = json!({
        "email": email, "password": PASSWORD, "email_confirm": true,
        "user_metadata": {"first_name": "Ada"}, "app_metadata": {"role": "admin"},
    });
    let created = auth(
        Method::POST,
        "/admin/users",
        service,
        service,
        true,
        Some(body.clone()),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(created.body["email"], email);
    assert_eq!(created.body["user_metadata"]["first_name"], "Ada");
    assert_eq!(
        created.body["app_metadata"],
        json!({"provider": "email", "providers": ["email"], "role": "admin"})
    );
    assert!(created.body["email_confirmed_at"].is_string());

    let again = auth(
        Method::POST,
        "/admin/users",
        service,
        service,
        true,
        Some(body),
    )
    .await;
    assert_eq!(again.status, 422);
    assert_eq!(again.body["code"], "email_exists");

    // The new admin signs in, and the admin-only monitoring RPCs take the token.
    let session = sign_in(&email, PASSWORD).await;
    assert_eq!(session.status, 200, "{}", session.body);
    let token = session.body["access_token"].as_str().unwrap();
    assert_eq!(claims(token)["app_metadata"]["role"], "admin");
    let snapshot = rpc(
        stack().api_url(),
        "monitoring_snapshot",
        stack().anon_key(),
        Some(token),
        &json!({}),
    )
    .await;
    assert_eq!(snapshot.status, 200, "{:?}", snapshot.body);

    // A user's token, or none, is not an admin credential.
    let user_token = stack()
        .create_user(&NewUser::new(unique_email("not-admin")))
        .await
        .unwrap()
        .access_token;
    let anon = Some(stack().anon_key());
    let as_user = auth(
        Method::POST,
        "/admin/users",
        anon,
        Some(&user_token),
        true,
        Some(json!({"email": unique_email("x")})),
    )
    .await;
    assert_eq!(as_user.status, 403);
    assert_eq!(as_user.body["code"], "not_admin");
    let as_nobody = auth(
        Method::POST,
        "/admin/users",
        anon,
        None,
        true,
        Some(json!({"email": unique_email("x")})),
    )
    .await;
    assert_eq!(as_nobody.status, 401);

    // Unconfirmed: created, but cannot sign in yet.
    let pending = unique_email("unconfirmed");
    let made = auth(
        Method::POST,
        "/admin/users",
        service,
        service,
        true,
        Some(json!({"email": pending, "password": PASSWORD})),
    )
    .await;
    assert_eq!(made.status, 200);
    let refused = sign_in(&pending, PASSWORD).await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.body["code"], "email_not_confirmed");

    let invalid = auth(
        Method::POST,
        "/admin/users",
        service,
        service,
        true,
        Some(json!({"email": "not an email"})),
    )
    .await;
    assert_eq!(invalid.status, 400);
    assert_eq!(invalid.body["code"], "email_address_invalid");
}

#[tokio::test]
async fn auth_requires_an_apikey_as_supabases_gateway_does() {
    let missing = auth(Method::GET, "/user", None, None, true, None).await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.body,
        json!({"message": "No API key found in request"})
    );
    let forged = jwt::encode(
        &json!({"role": "anon", "exp": jwt::now() + 60}),
        "another-secret-of-at-least-32-characters",
    );
    let wrong = auth(Method::GET, "/user", Some(&forged), None, true, None).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(
        wrong.body,
        json!({"message": "Invalid authentication credentials"})
    );
}

#[tokio::test]
async fn auth_routes_the_dev_stack_does_not_serve_answer_501() {
    let answer = auth(
        Method::POST,
        "/signup",
        Some(stack().anon_key()),
        None,
        true,
        Some(json!({"email": unique_email("signup"), "password": PASSWORD})),
    )
    .await;
    assert_eq!(answer.status, 501);
    assert_eq!(answer.body["code"], "not_implemented");
}

#[tokio::test]
async fn the_demo_admin_signs_in_with_its_documented_password() {
    let id = stack().create_demo_admin().await.unwrap();
    assert_eq!(
        stack().create_demo_admin().await.unwrap(),
        id,
        "created once"
    );
    let session = sign_in(
        upload_monitor::devstack::DEMO_ADMIN_EMAIL,
        upload_monitor::devstack::DEMO_ADMIN_PASSWORD,
    )
    .await;
    assert_eq!(session.status, 200, "{}", session.body);
    assert_eq!(
        claims(session.body["access_token"].as_str().unwrap())["app_metadata"]["role"],
        "admin"
    );
}
