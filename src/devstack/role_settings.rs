//! The API roles' own settings (`alter role anon set statement_timeout = '3s'`), read once
//! when the gateway starts and applied in each request's transaction, as PostgREST applies
//! "impersonated role settings": `set role` alone would not apply them.

use super::roles::ApiRole;

/// Per API role: setting names and values, to pass to `set_config(name, value, true)`.
#[derive(Debug, Clone, Default)]
pub(super) struct RoleSettings {
    anon: Settings,
    authenticated: Settings,
    service_role: Settings,
}

/// Names and values in two parallel lists (bound as two `text[]` parameters).
#[derive(Debug, Clone, Default)]
pub(super) struct Settings {
    /// Setting names.
    pub(super) names: Vec<String>,
    /// Their values, lower-cased as PostgREST does.
    pub(super) values: Vec<String>,
}

/// PostgREST's query (its `queryRoleSettings`): the settings of the roles the login role
/// belongs to, that a session may set (`user` context, or granted with `GRANT SET`), except
/// the isolation level, which PostgREST uses otherwise and the dev stack does not.
const ROLE_SETTINGS_SQL: &str = "with role_setting as ( \
       select r.rolname, pg_catalog.unnest(r.rolconfig) as setting \
       from pg_catalog.pg_auth_members m \
       join pg_catalog.pg_roles r on r.oid = m.roleid \
       where m.member = current_user::regrole::oid), \
     kv as ( \
       select rolname, \
              pg_catalog.substr(setting, 1, pg_catalog.strpos(setting, '=') - 1) as k, \
              pg_catalog.lower(pg_catalog.substr(setting, pg_catalog.strpos(setting, '=') + 1)) as v \
       from role_setting) \
     select kv.rolname::text, \
            pg_catalog.array_agg(kv.k order by kv.k), \
            pg_catalog.array_agg(kv.v order by kv.k) \
     from kv \
     join pg_catalog.pg_settings ps on ps.name = kv.k \
       and (ps.context = 'user' \
            or pg_catalog.has_parameter_privilege(current_user::regrole::oid, ps.name, 'set')) \
     where kv.k <> 'default_transaction_isolation' \
     group by kv.rolname";

impl RoleSettings {
    /// Reads the settings through a connection logged in as the gateway's login role.
    ///
    /// # Errors
    ///
    /// The database's error when the catalogue cannot be read.
    pub(super) async fn load(
        client: &tokio_postgres::Client,
    ) -> Result<Self, tokio_postgres::Error> {
        let mut settings = RoleSettings::default();
        for row in client.query(ROLE_SETTINGS_SQL, &[]).await? {
            let role: String = row.try_get(0)?;
            let entry = Settings {
                names: row.try_get(1)?,
                values: row.try_get(2)?,
            };
            match role.as_str() {
                "anon" => settings.anon = entry,
                "authenticated" => settings.authenticated = entry,
                "service_role" => settings.service_role = entry,
                // Roles a token cannot switch to: never applied.
                _ => {}
            }
        }
        tracing::debug!(?settings, "API role settings");
        Ok(settings)
    }

    /// The settings of `role`.
    pub(super) fn of(&self, role: ApiRole) -> &Settings {
        match role {
            ApiRole::Anon => &self.anon,
            ApiRole::Authenticated => &self.authenticated,
            ApiRole::ServiceRole => &self.service_role,
        }
    }
}
