-- Supabase Auth's (GoTrue's) sessions and refresh tokens, and the `auth.users` columns its
-- sign-in reads, as a plain PostgreSQL lacks them: the dev stack's `/auth/v1`
-- (src/devstack/auth.rs) keeps its state here, as GoTrue does in its own tables. Never applied
-- on a real Supabase, which has the real ones. Idempotent: safe to apply twice.

-- GoTrue refuses a banned user and reads these on every sign-in; `00_supabase_platform.sql`
-- created only the columns the project itself reads.
alter table auth.users add column if not exists phone_confirmed_at timestamptz;
alter table auth.users add column if not exists banned_until timestamptz;
alter table auth.users add column if not exists deleted_at timestamptz;
alter table auth.users add column if not exists is_sso_user boolean not null default false;
-- Supabase's own index: one password account per email.
create unique index if not exists users_email_partial_key on auth.users (email)
  where is_sso_user = false;

-- GoTrue: one row per signed-in device. An access token carries its id (`session_id`); a
-- deleted session (logout) makes that token refused by /user and its refresh tokens useless.
create table if not exists auth.sessions (
  id uuid primary key,
  user_id uuid not null references auth.users (id) on delete cascade,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  factor_id uuid,
  aal text default 'aal1',
  not_after timestamptz,
  refreshed_at timestamp,
  user_agent text,
  ip inet,
  tag text
);
create index if not exists sessions_user_id_idx on auth.sessions (user_id);

-- GoTrue's rotating refresh tokens: each use revokes the token and issues a child (`parent`),
-- so a stolen token replayed after the reuse interval is detected and the session's tokens
-- are all revoked.
create table if not exists auth.refresh_tokens (
  instance_id uuid,
  id bigserial primary key,
  token varchar(255) unique,
  user_id varchar(255),
  revoked boolean,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  parent varchar(255),
  session_id uuid references auth.sessions (id) on delete cascade
);
create index if not exists refresh_tokens_session_id_revoked_idx
  on auth.refresh_tokens (session_id, revoked);
create index if not exists refresh_tokens_parent_idx on auth.refresh_tokens (parent);

-- As on Supabase, the API roles never read Auth's tables: only Auth (here the dev stack,
-- connected as the superuser) does.
revoke all on auth.sessions, auth.refresh_tokens from anon, authenticated;
