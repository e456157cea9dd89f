//! Which Supabase a program talks to: the one named by `SUPABASE_*` environment variables
//! (`supabase start`, a hosted project), or else a local [`DevStack`].

use uuid::Uuid;

use super::error::DevStackError;
use super::jwt::{self, Claims};
use super::users::{self, NewUser, TestUser};
use super::DevStack;

/// API URL, like `http://127.0.0.1:54321` or `https://<ref>.supabase.co`.
pub const URL_ENV: &str = "SUPABASE_URL";
/// The anon (or publishable) key.
pub const ANON_KEY_ENV: &str = "SUPABASE_ANON_KEY";
/// The service_role key.
pub const SERVICE_ROLE_KEY_ENV: &str = "SUPABASE_SERVICE_ROLE_KEY";
/// Optional direct database URL (without TLS: `supabase start`'s `postgresql://...:54322`).
pub const DB_URL_ENV: &str = "SUPABASE_DB_URL";
/// Optional JWT secret, needed to mint user tokens (`supabase status` prints it).
pub const JWT_SECRET_ENV: &str = "SUPABASE_JWT_SECRET";

/// Where the stack behind a target lives.
#[derive(Debug)]
enum Backing {
    /// A Supabase outside this process.
    External,
    /// A stack this target started and owns.
    Owned(Box<DevStack>),
    /// The process-wide shared stack.
    Shared(&'static DevStack),
}

/// A Supabase to run against, with what is known about it.
///
/// ```no_run
/// # async fn demo() -> Result<(), upload_monitor::devstack::DevStackError> {
/// use upload_monitor::devstack::SupabaseTarget;
/// let target = SupabaseTarget::from_env_or_start().await?;
/// println!("{} {}", target.api_url(), target.anon_key());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SupabaseTarget {
    api_url: String,
    anon_key: String,
    service_role_key: String,
    db_url: Option<String>,
    jwt_secret: Option<String>,
    backing: Backing,
}

impl SupabaseTarget {
    /// The Supabase named by the environment, or `None` when `SUPABASE_URL` is unset.
    ///
    /// # Errors
    ///
    /// [`DevStackError::Config`] when `SUPABASE_URL` is set but a key is missing.
    pub fn from_env() -> Result<Option<Self>, DevStackError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// [`SupabaseTarget::from_env`] with variables read through `var` (tests).
    ///
    /// # Errors
    ///
    /// As [`SupabaseTarget::from_env`].
    pub fn from_lookup(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, DevStackError> {
        let Some(api_url) = var(URL_ENV) else {
            return Ok(None);
        };
        let required = |name: &str| {
            var(name)
                .ok_or_else(|| DevStackError::Config(format!("{URL_ENV} is set but {name} is not")))
        };
        Ok(Some(SupabaseTarget {
            api_url: api_url.trim_end_matches('/').to_string(),
            anon_key: required(ANON_KEY_ENV)?,
            service_role_key: required(SERVICE_ROLE_KEY_ENV)?,
            db_url: var(DB_URL_ENV),
            jwt_secret: var(JWT_SECRET_ENV),
            backing: Backing::External,
        }))
    }

    /// The environment's Supabase, or else a new [`DevStack`] owned by the target.
    ///
    /// # Errors
    ///
    /// As [`SupabaseTarget::from_env`] and [`DevStack::start`].
    pub async fn from_env_or_start() -> Result<Self, DevStackError> {
        match Self::from_env()? {
            Some(target) => Ok(target),
            None => Ok(Self::from_stack(DevStack::start().await?)),
        }
    }

    /// [`SupabaseTarget::from_env_or_start`] from synchronous code.
    ///
    /// # Errors
    ///
    /// As [`SupabaseTarget::from_env_or_start`].
    pub fn from_env_or_start_blocking() -> Result<Self, DevStackError> {
        match Self::from_env()? {
            Some(target) => Ok(target),
            None => Ok(Self::from_stack(DevStack::start_blocking()?)),
        }
    }

    /// The environment's Supabase, or else the process-wide [`DevStack::shared`] (tests).
    ///
    /// # Errors
    ///
    /// As [`SupabaseTarget::from_env`]; [`DevStackError::Gateway`] with the start-up message
    /// when the shared stack cannot start.
    pub fn from_env_or_shared() -> Result<Self, DevStackError> {
        match Self::from_env()? {
            Some(target) => Ok(target),
            None => {
                let stack = DevStack::try_shared().map_err(|m| DevStackError::Gateway(m.into()))?;
                Ok(Self::from_shared(stack))
            }
        }
    }

    /// A target over the process-wide shared stack (or any stack that lives forever).
    pub fn from_shared(stack: &'static DevStack) -> Self {
        Self::with_backing(stack, Backing::Shared(stack))
    }

    /// A target over a stack it now owns.
    pub fn from_stack(stack: DevStack) -> Self {
        let stack = Box::new(stack);
        let mut target = Self::with_backing(&stack, Backing::External);
        target.backing = Backing::Owned(stack);
        target
    }

    fn with_backing(stack: &DevStack, backing: Backing) -> Self {
        SupabaseTarget {
            api_url: stack.api_url().to_string(),
            anon_key: stack.anon_key().to_string(),
            service_role_key: stack.service_role_key().to_string(),
            db_url: Some(stack.db_url().to_string()),
            jwt_secret: Some(stack.jwt_secret().to_string()),
            backing,
        }
    }

    /// The API URL (`SUPABASE_URL`).
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// The anon key.
    pub fn anon_key(&self) -> &str {
        &self.anon_key
    }

    /// The service_role key.
    pub fn service_role_key(&self) -> &str {
        &self.service_role_key
    }

    /// The direct database URL, when known.
    pub fn db_url(&self) -> Option<&str> {
        self.db_url.as_deref()
    }

    /// The JWT secret, when known.
    pub fn jwt_secret(&self) -> Option<&str> {
        self.jwt_secret.as_deref()
    }

    /// The local stack behind this target, if it is one.
    pub fn dev_stack(&self) -> Option<&DevStack> {
        match &self.backing {
            Backing::External => None,
            Backing::Owned(stack) => Some(stack),
            Backing::Shared(stack) => Some(stack),
        }
    }

    /// A direct database connection (no TLS).
    ///
    /// # Errors
    ///
    /// [`DevStackError::Config`] without `SUPABASE_DB_URL`; [`DevStackError::Database`] when
    /// connecting fails.
    pub async fn connect(&self) -> Result<tokio_postgres::Client, DevStackError> {
        let url = self.db_url.as_deref().ok_or_else(|| {
            DevStackError::Config(format!("a direct connection needs {DB_URL_ENV}"))
        })?;
        super::connect(url).await
    }

    /// Signs `claims` with the target's JWT secret.
    ///
    /// # Errors
    ///
    /// [`DevStackError::Config`] without `SUPABASE_JWT_SECRET`.
    pub fn mint_token(&self, claims: &Claims) -> Result<String, DevStackError> {
        Ok(jwt::encode(claims, self.secret()?))
    }

    /// Creates a user's `auth.users` and `profiles` rows directly in the database and mints
    /// their token.
    ///
    /// # Errors
    ///
    /// [`DevStackError::Config`] without `SUPABASE_DB_URL` and `SUPABASE_JWT_SECRET`;
    /// [`DevStackError::Database`] when an insert fails.
    pub async fn create_user(&self, user: &NewUser) -> Result<TestUser, DevStackError> {
        let secret = self.secret()?;
        let client = self.connect().await?;
        users::create_user(&client, Uuid::new_v4(), user, secret).await
    }

    fn secret(&self) -> Result<&str, DevStackError> {
        self.jwt_secret
            .as_deref()
            .ok_or_else(|| DevStackError::Config(format!("minting tokens needs {JWT_SECRET_ENV}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_supabase_url_means_no_external_target() {
        assert!(SupabaseTarget::from_lookup(|_| None).unwrap().is_none());
    }

    #[test]
    fn a_url_without_keys_is_a_configuration_error() {
        let err = SupabaseTarget::from_lookup(|name| {
            (name == URL_ENV).then(|| "http://127.0.0.1:54321".to_string())
        })
        .unwrap_err();
        assert!(err.to_string().contains(ANON_KEY_ENV), "{err}");
    }

    #[test]
    fn a_complete_environment_names_the_external_supabase() {
        let target = SupabaseTarget::from_lookup(|name| match name {
            URL_ENV => Some("https://abc.supabase.co/".into()),
            ANON_KEY_ENV => Some("anon".into()),
            SERVICE_ROLE_KEY_ENV => Some("service".into()),
            _ => None,
        })
        .unwrap()
        .unwrap();
        assert_eq!(target.api_url(), "https://abc.supabase.co");
        assert!(target.db_url().is_none());
        assert!(target.dev_stack().is_none());
        assert!(target
            .mint_token(&Claims::for_role(crate::devstack::ApiRole::Anon))
            .is_err());
    }
}
