-- The API roles' settings as Supabase sets them (plain PostgreSQL only; a real Supabase has
-- them already). Idempotent: safe to apply twice.
--
-- PostgREST reads the settings of the roles `authenticator` may switch to and applies them
-- with set_config(.., true) in every request's transaction (its "impersonated role
-- settings"), so a slow query by a phone is cancelled as it would be on Supabase.

-- Anonymous callers: 3 s, Supabase's default, so an unauthenticated client cannot hold a
-- connection for long.
alter role anon set statement_timeout = '3s';
-- Signed-in users (the phones' report_upload_events, the admin's monitoring RPCs): 8 s.
alter role authenticated set statement_timeout = '8s';
-- The login role: its 8 s apply to every session it opens, hence to service_role, which has
-- no timeout of its own on Supabase ("defaults to the authenticator role's 8s").
alter role authenticator set statement_timeout = '8s';
