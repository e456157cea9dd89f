//! The database roles an API token may switch to (Supabase's API roles), shared by the
//! gateway, its error table, its function catalog, its per-role settings and the JWT claims.

use serde::{Deserialize, Serialize};

/// The roles a token may switch to (Supabase's API roles): the `role` claim of a Supabase JWT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiRole {
    /// `anon`: the anon key, no user.
    Anon,
    /// `authenticated`: a signed-in user's token.
    Authenticated,
    /// `service_role`: the service key (server-side tools), RLS bypassed.
    ServiceRole,
}

impl ApiRole {
    /// The role named `role` as a token's `role` claim spells it, if it is one of the three.
    pub fn parse(role: &str) -> Option<ApiRole> {
        match role {
            "anon" => Some(ApiRole::Anon),
            "authenticated" => Some(ApiRole::Authenticated),
            "service_role" => Some(ApiRole::ServiceRole),
            _ => None,
        }
    }

    /// The database role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiRole::Anon => "anon",
            ApiRole::Authenticated => "authenticated",
            ApiRole::ServiceRole => "service_role",
        }
    }
}

impl std::fmt::Display for ApiRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_parses_from_its_name_and_serializes_to_it() {
        for role in [ApiRole::Anon, ApiRole::Authenticated, ApiRole::ServiceRole] {
            assert_eq!(ApiRole::parse(role.as_str()), Some(role));
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
        }
        assert_eq!(ApiRole::parse("postgres"), None);
    }
}
