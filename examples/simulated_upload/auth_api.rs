//! Demo accounts on a real Supabase project, where tokens cannot be minted: each user is
//! created with the Auth admin API and the service key (`POST /auth/v1/admin/users`, email
//! confirmed, an existing one is kept), signed in with a password grant
//! (`POST /auth/v1/token?grant_type=password`), and given a `profiles` row through PostgREST
//! (an upsert with the service key, for projects without a sign-up trigger).
//!
//! Not exercised by the tests (no real project here); the dev stack path mints tokens.

use serde_json::{json, Value};
use uuid::Uuid;

/// The password of every demo account (they live only in the demo project).
const DEMO_PASSWORD: &str = "simulated-upload-demo-1";

/// One account to create.
#[derive(Debug, Clone)]
pub struct Account<'a> {
    /// Email.
    pub email: &'a str,
    /// First name.
    pub first_name: &'a str,
    /// Last name.
    pub last_name: &'a str,
    /// `profiles.language`.
    pub language: &'a str,
    /// `app_metadata.role = "admin"`.
    pub admin: bool,
}

/// Creates (or reuses) `account` and signs it in; returns its id and access token.
///
/// # Errors
///
/// An Auth or PostgREST answer other than success (an existing email is fine).
pub async fn sign_up_and_in(
    http: &reqwest::Client,
    api_url: &str,
    anon_key: &str,
    service_key: &str,
    account: &Account<'_>,
) -> Result<(Uuid, String), String> {
    let mut body = json!({
        "email": account.email,
        "password": DEMO_PASSWORD,
        "email_confirm": true,
        "user_metadata": { "first_name": account.first_name, "last_name": account.last_name },
    });
    if account.admin {
        body["app_metadata"] = json!({ "role": "admin" });
    }
    let created = http
        .post(format!("{api_url}/auth/v1/admin/users"))
        .header("apikey", service_key)
        .bearer_auth(service_key)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("auth admin: {e}"))?;
    // 422: the email is registered already (an earlier run); sign in to it.
    if !created.status().is_success() && created.status().as_u16() != 422 {
        return Err(format!(
            "creating {}: {} {}",
            account.email,
            created.status(),
            created.text().await.unwrap_or_default()
        ));
    }
    let session: Value = http
        .post(format!("{api_url}/auth/v1/token?grant_type=password"))
        .header("apikey", anon_key)
        .json(&json!({ "email": account.email, "password": DEMO_PASSWORD }))
        .send()
        .await
        .map_err(|e| format!("sign-in: {e}"))?
        .error_for_status()
        .map_err(|e| format!("signing in {}: {e}", account.email))?
        .json()
        .await
        .map_err(|e| format!("sign-in answer: {e}"))?;
    let token = session["access_token"]
        .as_str()
        .ok_or("sign-in answer without access_token")?
        .to_string();
    let id: Uuid = session["user"]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or("sign-in answer without user.id")?;
    http.post(format!("{api_url}/rest/v1/profiles"))
        .header("apikey", service_key)
        .bearer_auth(service_key)
        .header("Prefer", "resolution=merge-duplicates")
        .json(&json!({
            "id": id,
            "email": account.email,
            "first_name": account.first_name,
            "last_name": account.last_name,
            "language": account.language,
        }))
        .send()
        .await
        .map_err(|e| format!("profile: {e}"))?
        .error_for_status()
        .map_err(|e| format!("profile of {}: {e}", account.email))?;
    Ok((id, token))
}
