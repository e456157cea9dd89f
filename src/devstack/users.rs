//! Test users: the `auth.users` and `public.profiles` rows Supabase Auth and the app would
//! create, and an access token for each.

use tokio_postgres::Client;
use uuid::Uuid;

use super::error::DevStackError;
use super::jwt::{self, Claims};

/// A user to create. `admin` sets `app_metadata.role = "admin"` (read by `private.is_admin()`).
///
/// ```
/// use upload_monitor::devstack::NewUser;
/// let user = NewUser::new("ada@example.com").named("Ada", "Lovelace").admin();
/// assert!(user.admin);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Email (also in the token's `email` claim).
    pub email: String,
    /// `profiles.first_name`.
    pub first_name: Option<String>,
    /// `profiles.last_name`.
    pub last_name: Option<String>,
    /// `profiles.language` (`en`, `fr`, `es`, `de`); the column's default when `None`.
    pub language: Option<String>,
    /// Whether the user is an admin.
    pub admin: bool,
    /// A password for Auth's password grant (stored as GoTrue stores it, bcrypt); `None`
    /// leaves the account without one (tokens are minted instead).
    pub password: Option<String>,
}

impl NewUser {
    /// A plain (non-admin) user with only an email.
    pub fn new(email: impl Into<String>) -> Self {
        NewUser {
            email: email.into(),
            first_name: None,
            last_name: None,
            language: None,
            admin: false,
            password: None,
        }
    }

    /// Gives the account a password, so it can sign in at `/auth/v1/token`.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Makes the user an admin.
    pub fn admin(mut self) -> Self {
        self.admin = true;
        self
    }

    /// Sets first and last name.
    pub fn named(mut self, first: impl Into<String>, last: impl Into<String>) -> Self {
        self.first_name = Some(first.into());
        self.last_name = Some(last.into());
        self
    }

    /// Sets the profile's language.
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = Some(language.into());
        self
    }
}

/// A created user and a valid access token for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestUser {
    /// `auth.users.id` = `profiles.id` = the token's `sub`.
    pub id: Uuid,
    /// The email.
    pub email: String,
    /// An HS256 access token (role `authenticated`), valid for an hour.
    pub access_token: String,
    /// Whether the token carries `app_metadata.role = "admin"`.
    pub admin: bool,
}

impl TestUser {
    /// The claims this user's tokens carry (fresh `iat`/`exp`), to derive other tokens from,
    /// e.g. `user.claims().expired()`.
    pub fn claims(&self) -> Claims {
        Claims::authenticated(self.id, &self.email).with_admin(self.admin)
    }
}

/// Inserts the user's rows through `client` (a connection allowed to write `auth.users`) and
/// mints their token with `secret`.
///
/// # Errors
///
/// [`DevStackError::Database`] when an insert fails (e.g. the email is taken).
pub(crate) async fn create_user(
    client: &Client,
    id: Uuid,
    user: &NewUser,
    secret: &str,
) -> Result<TestUser, DevStackError> {
    let claims = Claims::authenticated(id, &user.email).with_admin(user.admin);
    let user_meta = serde_json::json!({
        "first_name": user.first_name,
        "last_name": user.last_name,
    });
    let encrypted_password = match user.password.clone() {
        None => String::new(),
        // bcrypt is slow by design (~0.1 s): off the runtime's threads.
        Some(password) => {
            tokio::task::spawn_blocking(move || super::auth::hash_password(&password))
                .await
                .map_err(|e| DevStackError::Config(format!("hashing a password: {e}")))?
                .map_err(|e| DevStackError::Config(format!("password of {}: {e}", user.email)))?
        }
    };
    client
        .execute(
            "insert into auth.users (instance_id, id, aud, role, email, encrypted_password, \
               email_confirmed_at, raw_app_meta_data, raw_user_meta_data, is_super_admin, \
               created_at, updated_at) \
             values ('00000000-0000-0000-0000-000000000000', $1, 'authenticated', \
               'authenticated', $2, $5, now(), $3, $4, false, now(), now())",
            &[
                &id,
                &user.email,
                &claims.app_metadata,
                &user_meta,
                &encrypted_password,
            ],
        )
        .await
        .map_err(|e| DevStackError::db(format!("creating auth user {}", user.email), e))?;
    // `on conflict`: a project may have a trigger that creates the profile from auth.users.
    client
        .execute(
            "insert into public.profiles (id, email, first_name, last_name, language) \
             values ($1, $2, $3, $4, coalesce($5, 'en')) \
             on conflict (id) do update set email = excluded.email, \
               first_name = excluded.first_name, last_name = excluded.last_name, \
               language = excluded.language",
            &[
                &id,
                &user.email,
                &user.first_name,
                &user.last_name,
                &user.language,
            ],
        )
        .await
        .map_err(|e| DevStackError::db(format!("creating profile {}", user.email), e))?;
    Ok(TestUser {
        id,
        email: user.email.clone(),
        access_token: jwt::encode(&claims, secret),
        admin: user.admin,
    })
}
