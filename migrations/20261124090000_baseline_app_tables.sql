-- Baseline: the app's existing tables exactly as the spec gives them, plus the `private`
-- schema that RLS policies use. On a project that already has these tables every statement
-- is a no-op (IF NOT EXISTS, guarded policies), so `supabase db push` is safe there.

create schema if not exists private;
-- `private` is not in PostgREST's exposed schemas: nothing in it is callable over the API,
-- but policies evaluated as `authenticated` need to reach its helpers.
revoke all on schema private from public;
grant usage on schema private to authenticated, service_role;

-- True when the caller's JWT says app_metadata.role = 'admin'. SECURITY DEFINER with an empty
-- search_path so no caller-controlled object can shadow what it reads; STABLE so that
-- `(select private.is_admin())` in a policy is evaluated once per statement, not per row.
create or replace function private.is_admin() returns boolean
  language sql stable security definer set search_path = ''
as $$
  select coalesce((auth.jwt() -> 'app_metadata' ->> 'role') = 'admin', false)
$$;
revoke all on function private.is_admin() from public;
grant execute on function private.is_admin() to authenticated, service_role;

create table if not exists public.profiles (
  id uuid primary key references auth.users(id) on delete cascade,
  email text,
  first_name text,
  last_name text,
  language text default 'en', -- 'en' | 'fr' | 'es' | 'de'
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);

create table if not exists public.videos (
  id uuid primary key default gen_random_uuid(),
  user_id uuid references public.profiles(id) on delete cascade,
  title text,
  file_path text not null, -- public Supabase Storage URL
  thumbnail_path text,
  thumbnail_frames text[], -- 3-6 frames for the animation
  duration integer, -- seconds
  metadata jsonb, -- { isRecorded, isImported, orientation, width, height, chapterId, location }
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);

create table if not exists public.transcription_jobs (
  id uuid primary key default gen_random_uuid(),
  video_id uuid references public.videos(id) on delete cascade,
  status text not null, -- 'pending' | 'processing' | 'completed' | 'failed'
  transcript_text text,
  transcript_highlight jsonb,
  language text,
  assembly_ai_id text,
  error_message text,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  completed_at timestamptz
);

create table if not exists public.bug_reports (
  id uuid primary key default gen_random_uuid(),
  user_id uuid references public.profiles(id) on delete set null,
  user_email text,
  error_type text, -- 'crash' | 'network' | 'ui' | 'api' | 'other'
  error_message text not null,
  error_stack text,
  severity text default 'medium', -- 'critical' | 'high' | 'medium' | 'low'
  status text default 'new', -- 'new' | 'investigating' | 'resolved' | 'ignored'
  screen_name text,
  component_name text,
  action text,
  app_version text,
  device_info jsonb,
  metadata jsonb,
  created_at timestamptz default now()
);

-- Foreign keys are not indexed by PostgreSQL; the monitoring joins and RLS need these.
create index if not exists videos_user_id_idx on public.videos (user_id);
create index if not exists videos_created_at_idx on public.videos (created_at desc);
create index if not exists transcription_jobs_video_id_idx on public.transcription_jobs (video_id);
create index if not exists bug_reports_created_at_idx on public.bug_reports (created_at desc);
create index if not exists bug_reports_user_id_idx on public.bug_reports (user_id);

alter table public.profiles enable row level security;
alter table public.videos enable row level security;
alter table public.transcription_jobs enable row level security;
alter table public.bug_reports enable row level security;

-- Policies are created only when missing: a real project may already have its own.
do $$
declare
  p record;
begin
  for p in
    select * from (values
      ('profiles', 'profiles: own row or admin', 'select',
       '(select auth.uid()) = id or (select private.is_admin())', null),
      ('profiles', 'profiles: update own row', 'update',
       '(select auth.uid()) = id', '(select auth.uid()) = id'),
      ('videos', 'videos: own rows or admin', 'select',
       '(select auth.uid()) = user_id or (select private.is_admin())', null),
      ('videos', 'videos: insert own rows', 'insert',
       null, '(select auth.uid()) = user_id'),
      ('videos', 'videos: update own rows', 'update',
       '(select auth.uid()) = user_id', '(select auth.uid()) = user_id'),
      ('transcription_jobs', 'transcription_jobs: own videos or admin', 'select',
       '(select private.is_admin()) or exists (select 1 from public.videos v where v.id = video_id and v.user_id = (select auth.uid()))', null),
      ('transcription_jobs', 'transcription_jobs: insert for own videos', 'insert',
       null, 'exists (select 1 from public.videos v where v.id = video_id and v.user_id = (select auth.uid()))'),
      ('bug_reports', 'bug_reports: own rows or admin', 'select',
       '(select auth.uid()) = user_id or (select private.is_admin())', null),
      ('bug_reports', 'bug_reports: insert own rows', 'insert',
       null, '(select auth.uid()) = user_id')
    ) as t(tbl, name, cmd, using_expr, check_expr)
  loop
    if not exists (select 1 from pg_policies
                   where schemaname = 'public' and tablename = p.tbl and policyname = p.name) then
      execute format('create policy %I on public.%I for %s to authenticated %s %s',
        p.name, p.tbl, p.cmd,
        case when p.using_expr is null then '' else 'using (' || p.using_expr || ')' end,
        case when p.check_expr is null then '' else 'with check (' || p.check_expr || ')' end);
    end if;
  end loop;
end
$$;

-- Explicit grants: current Supabase gives new tables none. Nothing for anon; no deletes
-- through the API.
grant select, update on public.profiles to authenticated;
grant select, insert, update on public.videos to authenticated;
grant select, insert on public.transcription_jobs to authenticated;
grant select, insert on public.bug_reports to authenticated;
grant all on public.profiles, public.videos, public.transcription_jobs, public.bug_reports
  to service_role;

-- The thin slice through the stack: a trivial RPC any signed-in caller may make, telling
-- which schema version answers.
create or replace function public.monitor_api_version() returns text
  language sql stable
as $$ select '1' $$;
revoke all on function public.monitor_api_version() from public;
grant execute on function public.monitor_api_version() to authenticated, service_role;
