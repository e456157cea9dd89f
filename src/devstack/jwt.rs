//! HS256 JSON Web Tokens: minting the tokens Supabase's Auth would issue, and verifying them
//! the way PostgREST does (signature, `exp`, `nbf`, `iat`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::roles::ApiRole;

/// Supabase's local JWT secret (the one `supabase start` uses and prints).
pub const DEMO_JWT_SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";

/// Supabase's local anon key: `{"iss":"supabase-demo","role":"anon","exp":1983812996}` signed
/// with [`DEMO_JWT_SECRET`].
pub const DEMO_ANON_KEY: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0";

/// Supabase's local service_role key: `{"iss":"supabase-demo","role":"service_role",
/// "exp":1983812996}` signed with [`DEMO_JWT_SECRET`]. Server-side only, never on a device.
pub const DEMO_SERVICE_ROLE_KEY: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU";

/// Lifetime of minted user tokens: Supabase Auth's default `jwt_expiry` (one hour).
pub const USER_TOKEN_LIFETIME_SECS: i64 = 3600;

/// Clock skew PostgREST tolerates on `iat` and `nbf` (its `allowedSkewSeconds`).
const ALLOWED_SKEW_SECS: i64 = 30;

/// The claims of a Supabase access token (those this project reads; others are kept in
/// `extra`).
///
/// ```
/// use upload_monitor::devstack::{jwt, Claims};
/// let claims = Claims::authenticated(uuid::Uuid::nil(), "a@example.com");
/// let token = jwt::encode(&claims, jwt::DEMO_JWT_SECRET);
/// let back = jwt::decode(&token, jwt::DEMO_JWT_SECRET, jwt::now()).unwrap();
/// assert_eq!(back["role"], "authenticated");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id (`auth.uid()`); absent on the anon and service keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<Uuid>,
    /// The user's email (`auth.email()`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The database role the request runs as.
    pub role: ApiRole,
    /// Server-controlled metadata; `{"role": "admin"}` makes an admin (see `private.is_admin()`).
    #[serde(default)]
    pub app_metadata: serde_json::Value,
    /// User-editable metadata.
    #[serde(default)]
    pub user_metadata: serde_json::Value,
    /// Audience: `authenticated` on user tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Issued at (unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Expiry (unix seconds).
    pub exp: i64,
}

impl Claims {
    /// A signed-in user's claims as Supabase Auth issues them, valid for
    /// [`USER_TOKEN_LIFETIME_SECS`].
    pub fn authenticated(user_id: Uuid, email: &str) -> Self {
        let now = now();
        Claims {
            sub: Some(user_id),
            email: Some(email.to_string()),
            role: ApiRole::Authenticated,
            app_metadata: serde_json::json!({"provider": "email", "providers": ["email"]}),
            user_metadata: serde_json::json!({}),
            aud: Some("authenticated".into()),
            iss: Some("supabase-demo".into()),
            iat: Some(now),
            exp: now + USER_TOKEN_LIFETIME_SECS,
        }
    }

    /// An admin's claims: [`Claims::authenticated`] with `app_metadata.role = "admin"`.
    pub fn admin(user_id: Uuid, email: &str) -> Self {
        Claims::authenticated(user_id, email).with_admin(true)
    }

    /// Claims of a key for `role` (anon, service_role) with no user, valid for an hour.
    pub fn for_role(role: ApiRole) -> Self {
        let now = now();
        Claims {
            sub: None,
            email: None,
            role,
            app_metadata: serde_json::json!({}),
            user_metadata: serde_json::json!({}),
            aud: None,
            iss: Some("supabase-demo".into()),
            iat: Some(now),
            exp: now + USER_TOKEN_LIFETIME_SECS,
        }
    }

    /// Sets or clears `app_metadata.role = "admin"`.
    pub fn with_admin(mut self, admin: bool) -> Self {
        if !self.app_metadata.is_object() {
            self.app_metadata = serde_json::json!({});
        }
        if let Some(meta) = self.app_metadata.as_object_mut() {
            if admin {
                meta.insert("role".into(), "admin".into());
            } else {
                meta.remove("role");
            }
        }
        self
    }

    /// The same claims, expired a minute ago (issued two hours ago).
    pub fn expired(mut self) -> Self {
        let now = now();
        self.iat = Some(now - 2 * USER_TOKEN_LIFETIME_SECS);
        self.exp = now - 60;
        self
    }

    /// The same claims with expiry `exp` (unix seconds).
    pub fn with_exp(mut self, exp: i64) -> Self {
        self.exp = exp;
        self
    }
}

/// Why a token was refused. [`JwtError::Expired`] and [`JwtError::IssuedInFuture`] are
/// PostgREST's PGRST303; the others are PGRST301.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// Not three base64url parts of JSON.
    #[error("Expected 3 parts in JWT; got {0}")]
    Parts(usize),
    /// A part is not base64url or not JSON.
    #[error("JWT cryptographic operation failed")]
    Malformed,
    /// The header's algorithm is not HS256.
    #[error("Wrong or unsupported encoding algorithm")]
    Algorithm,
    /// The signature does not match the secret.
    #[error("JWT cryptographic operation failed")]
    Signature,
    /// `exp` is in the past.
    #[error("JWT expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("JWT not before")]
    NotYetValid,
    /// `iat` is in the future.
    #[error("JWT issued at future")]
    IssuedInFuture,
    /// A time claim is not a number.
    #[error("The JWT '{0}' claim must be a number")]
    ClaimType(&'static str),
}

impl JwtError {
    /// True for the claim-validation failures PostgREST reports as PGRST303.
    pub fn is_claims_error(&self) -> bool {
        matches!(
            self,
            JwtError::Expired
                | JwtError::NotYetValid
                | JwtError::IssuedInFuture
                | JwtError::ClaimType(_)
        )
    }
}

/// Now, in unix seconds.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Signs `claims` with HS256 and `secret`.
pub fn encode<T: Serialize>(claims: &T, secret: &str) -> String {
    let key = EncodingKey::from_secret(secret.as_bytes());
    match jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key) {
        Ok(token) => token,
        // Only claims whose `Serialize` fails get here (HMAC takes any key): never this
        // module's `Claims` (strings, numbers, JSON values). The empty token is refused by
        // every verifier, so the failure shows where the token is used, and here.
        Err(error) => {
            tracing::error!(%error, "could not sign a token: its claims do not serialize");
            String::new()
        }
    }
}

/// Verifies `token` with `secret` at time `now` and returns its claims as JSON.
///
/// jsonwebtoken checks the form, the algorithm and the signature; the time claims are
/// checked here as PostgREST checks them (`exp` strictly before now, `nbf` and `iat` with
/// its 30 s skew, any JSON number), and each refusal keeps PostgREST's wording.
///
/// # Errors
///
/// A [`JwtError`] saying why the token is refused.
pub fn decode(token: &str, secret: &str, now: i64) -> Result<serde_json::Value, JwtError> {
    let parts = token.split('.').count();
    if parts != 3 {
        return Err(JwtError::Parts(parts));
    }
    // The header alone first, so that a header naming an algorithm jsonwebtoken does not
    // know (`none`) is told apart from a payload that is not JSON.
    let header = jsonwebtoken::decode_header(token).map_err(|e| match e.kind() {
        // Valid JSON of the wrong shape: no `alg`, or one no library should accept.
        ErrorKind::Json(json) if json.classify() == serde_json::error::Category::Data => {
            JwtError::Algorithm
        }
        _ => JwtError::Malformed,
    })?;
    if header.alg != Algorithm::HS256 {
        return Err(JwtError::Algorithm);
    }
    // jsonwebtoken compares signatures as base64 text: one that is not base64url is
    // malformed, as PostgREST says, rather than wrong.
    let signature = token.rsplit('.').next().unwrap_or_default();
    if URL_SAFE_NO_PAD.decode(signature).is_err() {
        return Err(JwtError::Malformed);
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let key = DecodingKey::from_secret(secret.as_bytes());
    let claims = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => JwtError::Signature,
            ErrorKind::InvalidAlgorithm => JwtError::Algorithm,
            _ => JwtError::Malformed,
        })?
        .claims;
    if !claims.is_object() {
        return Err(JwtError::Malformed);
    }
    let time = |name: &'static str| -> Result<Option<i64>, JwtError> {
        match claims.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .map(|f| Some(f as i64))
                .ok_or(JwtError::ClaimType(name)),
        }
    };
    if let Some(exp) = time("exp")? {
        if now >= exp {
            return Err(JwtError::Expired);
        }
    }
    if let Some(nbf) = time("nbf")? {
        if nbf > now + ALLOWED_SKEW_SECS {
            return Err(JwtError::NotYetValid);
        }
    }
    if let Some(iat) = time("iat")? {
        if iat > now + ALLOWED_SKEW_SECS {
            return Err(JwtError::IssuedInFuture);
        }
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supabase_demo_keys_verify_with_the_demo_secret() {
        let anon = decode(DEMO_ANON_KEY, DEMO_JWT_SECRET, now()).unwrap();
        assert_eq!(anon["role"], "anon");
        let service = decode(DEMO_SERVICE_ROLE_KEY, DEMO_JWT_SECRET, now()).unwrap();
        assert_eq!(service["role"], "service_role");
    }

    #[test]
    fn a_minted_token_round_trips() {
        let id = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_00a1);
        let token = encode(&Claims::admin(id, "a@example.com"), DEMO_JWT_SECRET);
        let claims = decode(&token, DEMO_JWT_SECRET, now()).unwrap();
        assert_eq!(claims["sub"], id.to_string());
        assert_eq!(claims["app_metadata"]["role"], "admin");
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let token = encode(
            &Claims::for_role(ApiRole::Authenticated),
            "another-secret-of-at-least-32-chars!!",
        );
        assert_eq!(
            decode(&token, DEMO_JWT_SECRET, now()),
            Err(JwtError::Signature)
        );
    }

    #[test]
    fn an_expired_token_is_a_claims_error() {
        let token = encode(&Claims::for_role(ApiRole::Anon).expired(), DEMO_JWT_SECRET);
        let err = decode(&token, DEMO_JWT_SECRET, now()).unwrap_err();
        assert_eq!(err, JwtError::Expired);
        assert!(err.is_claims_error());
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        for token in ["", "a.b", "a.b.c", "....", "eyJ.eyJ.x", "é.é.é"] {
            assert!(decode(token, DEMO_JWT_SECRET, now()).is_err(), "{token}");
        }
    }

    #[test]
    fn another_algorithm_is_refused() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let payload = URL_SAFE_NO_PAD.encode(br#"{"role":"service_role"}"#);
        let token = format!("{header}.{payload}.");
        assert_eq!(
            decode(&token, DEMO_JWT_SECRET, now()),
            Err(JwtError::Algorithm)
        );
    }
    #[test]
    fn a_header_naming_another_known_algorithm_is_refused() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS512","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(br#"{"role":"service_role"}"#);
        let token = format!("{header}.{payload}.c2ln");
        assert_eq!(
            decode(&token, DEMO_JWT_SECRET, now()),
            Err(JwtError::Algorithm)
        );
    }

    #[test]
    fn each_refusal_keeps_postgrest_wording() {
        let signed = |claims: serde_json::Value| encode(&claims, DEMO_JWT_SECRET);
        let now = now();
        let cases = [
            ("a.b".to_string(), "Expected 3 parts in JWT; got 2"),
            ("a.b.c.d".to_string(), "Expected 3 parts in JWT; got 4"),
            (
                signed(serde_json::json!({"role": "anon", "exp": now})),
                "JWT expired",
            ),
            (
                signed(serde_json::json!({"role": "anon", "nbf": now + 31})),
                "JWT not before",
            ),
            (
                signed(serde_json::json!({"role": "anon", "iat": now + 31})),
                "JWT issued at future",
            ),
            (
                signed(serde_json::json!({"role": "anon", "exp": "tomorrow"})),
                "The JWT 'exp' claim must be a number",
            ),
            (
                format!("{}.{}.not*base64", "eyJhbGciOiJIUzI1NiJ9", "e30"),
                "JWT cryptographic operation failed",
            ),
        ];
        for (token, wording) in cases {
            let refused = decode(&token, DEMO_JWT_SECRET, now).unwrap_err();
            assert_eq!(refused.to_string(), wording, "{token}");
        }
    }

    #[test]
    fn time_claims_within_the_skew_and_fractional_are_accepted() {
        let now = now();
        let token = encode(
            &serde_json::json!({"role": "anon", "nbf": now + 30, "iat": now + 30, "exp": now as f64 + 1.5}),
            DEMO_JWT_SECRET,
        );
        assert!(decode(&token, DEMO_JWT_SECRET, now).is_ok());
    }

    #[test]
    fn the_role_claim_is_one_of_the_api_roles() {
        let token = encode(&Claims::for_role(ApiRole::ServiceRole), DEMO_JWT_SECRET);
        let claims: Claims =
            serde_json::from_value(decode(&token, DEMO_JWT_SECRET, now()).unwrap()).unwrap();
        assert_eq!(claims.role, ApiRole::ServiceRole);
        let foreign = serde_json::json!({"role": "postgres", "exp": 0});
        assert!(serde_json::from_value::<Claims>(foreign).is_err());
    }
}
