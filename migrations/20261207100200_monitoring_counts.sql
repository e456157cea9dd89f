-- The monitoring's counters in one file (issue 14, item 5): the per-minute count table, the
-- functions that keep it and their triggers, as they stand after 20261124100000,
-- 20261201080000, 20261201090000, 20261201110000 and 20261202100000 (which wrote them in
-- among the RPCs). Nothing changes: each body is its latest one, copied; the privileges are
-- the ones those files left. The next change to a counter is a migration after this one, and
-- this file is where a reader finds them; the RPCs stay where they are.
-- Idempotent: applying it twice is a no-op.

-- ---------------------------------------------------------------------------------------------
-- The table (20261124100000).
-- ---------------------------------------------------------------------------------------------

create table if not exists private.monitoring_minute_counts (
  kind text not null,
  minute timestamptz not null,
  n bigint not null,
  -- n in the key's index: the 24 h sum (~6,000 entries) is an index-only scan.
  primary key (kind, minute) include (n)
);
alter table private.monitoring_minute_counts enable row level security;
do $$
begin
  if not exists (select 1 from pg_policies where schemaname = 'private'
                 and tablename = 'monitoring_minute_counts') then
    create policy "monitoring_minute_counts: admins read" on private.monitoring_minute_counts
      for select to authenticated using ((select private.is_admin_or_service()));
  end if;
end
$$;
revoke all on private.monitoring_minute_counts from public;
grant select on private.monitoring_minute_counts to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- The functions, each from the last migration that defined it.
-- ---------------------------------------------------------------------------------------------

-- From 20261124100000_monitoring_queries.sql.
create or replace function private.monitoring_minute(at timestamptz)
returns timestamptz
language sql immutable parallel safe
as $$ select date_bin(interval '1 minute', at, timestamptz '2000-01-01 00:00:00+00') $$;

-- From 20261201110000_monitoring_admin_path_uses_indexes.sql.
-- The admin's own session reads as fast as the service key: finish times written as CASE.
--
-- Why: an admin's JWT reads through RLS ("own rows or admin"). PostgreSQL evaluates the
-- policy before any condition it cannot prove leak-proof, and such a condition cannot be an
-- index condition. COALESCE is not on its list of leak-proof expressions, so every
-- `monitoring_finished_at(completed_at, updated_at) >= ...` (inlined to COALESCE) lost its
-- index under RLS: the stat cards' partial-minute counts read all 1,000,000 uploads, and
-- monitoring_changes took ~170 ms and monitoring_snapshot ~190 ms for an admin (2.2 ms and
-- 22 ms after this change; the service key, which bypasses RLS, was never affected).
-- CASE and IS NOT NULL are on that list.
--
-- The value is the same for every row (COALESCE(a, b) is CASE WHEN a IS NOT NULL THEN a ELSE
-- b END), so the expression indexes built on this function stay valid without a rebuild.
create or replace function private.monitoring_finished_at(completed_at timestamptz,
                                                          updated_at timestamptz)
returns timestamptz
language sql immutable parallel safe
as $$ select case when completed_at is not null then completed_at else updated_at end $$;

-- From 20261202100000_monitoring_survives_odd_rows.sql.
-- Rule 1 for the stat counts: a bug report dated outside the range counts nowhere (the
-- count triggers bump through this function; its minute is outside the range exactly when
-- its time is).
create or replace function private.monitoring_bump(p_kind text, p_at timestamptz, p_delta bigint)
returns void
language sql
set search_path = ''
as $$
  insert into private.monitoring_minute_counts as c (kind, minute, n)
  select p_kind, private.monitoring_minute(p_at), p_delta
  where private.monitoring_time(p_at) is not null
  on conflict (kind, minute) do update set n = c.n + excluded.n
$$;

-- From 20261201090000_monitoring_counts_in_one_ordered_write.sql.
create or replace function private.monitoring_count_upload_rows()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- plpgsql plans a statement when it first runs it: each branch names only the transition
  -- tables its operation has.
  if tg_op = 'INSERT' then
    insert into private.monitoring_minute_counts as c (kind, minute, n)
    select r.status, private.monitoring_minute(private.monitoring_finished_at(r.completed_at, r.updated_at)), count(*)
    from new_rows r
    where r.status in ('completed', 'failed')
      and private.monitoring_finished_at(r.completed_at, r.updated_at) is not null
    group by 1, 2
    order by 1, 2
    on conflict (kind, minute) do update set n = c.n + excluded.n;
  elsif tg_op = 'DELETE' then
    insert into private.monitoring_minute_counts as c (kind, minute, n)
    select r.status, private.monitoring_minute(private.monitoring_finished_at(r.completed_at, r.updated_at)), -count(*)
    from old_rows r
    where r.status in ('completed', 'failed')
      and private.monitoring_finished_at(r.completed_at, r.updated_at) is not null
    group by 1, 2
    order by 1, 2
    on conflict (kind, minute) do update set n = c.n + excluded.n;
  else
    insert into private.monitoring_minute_counts as c (kind, minute, n)
    select d.kind, d.minute, sum(d.delta)
    from (select r.status as kind,
                 private.monitoring_minute(private.monitoring_finished_at(r.completed_at, r.updated_at)) as minute,
                 -1 as delta
          from old_rows r where r.status in ('completed', 'failed')
          union all
          select r.status,
                 private.monitoring_minute(private.monitoring_finished_at(r.completed_at, r.updated_at)),
                 1
          from new_rows r where r.status in ('completed', 'failed')) d
    where d.minute is not null
    group by 1, 2
    having sum(d.delta) <> 0
    order by 1, 2
    on conflict (kind, minute) do update set n = c.n + excluded.n;
  end if;
  return null;
end;
$$;

-- From 20261124100000_monitoring_queries.sql.
create or replace function private.monitoring_count_bug()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op in ('UPDATE', 'DELETE') then
    perform private.monitoring_bump('bug', old.created_at, -1);
    if old.severity = 'critical' then
      perform private.monitoring_bump('critical_bug', old.created_at, -1);
    end if;
  end if;
  if tg_op in ('UPDATE', 'INSERT') then
    perform private.monitoring_bump('bug', new.created_at, 1);
    if new.severity = 'critical' then
      perform private.monitoring_bump('critical_bug', new.created_at, 1);
    end if;
  end if;
  return null;
end;
$$;

-- From 20261124100000_monitoring_queries.sql.
create or replace function private.monitoring_count_truncated()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from private.monitoring_minute_counts
  where kind = any(case tg_table_name when 'upload_queue' then array['completed', 'failed']
                                      else array['bug', 'critical_bug'] end);
  return null;
end;
$$;

-- From 20261202100000_monitoring_survives_odd_rows.sql.
create or replace function private.monitoring_rebuild_counts()
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  lock table public.upload_queue, public.bug_reports in share mode;
  delete from private.monitoring_minute_counts;
  insert into private.monitoring_minute_counts (kind, minute, n)
  select status, private.monitoring_minute(private.monitoring_finished_at(completed_at, updated_at)),
         count(*)
  from public.upload_queue
  where status in ('completed', 'failed')
    and private.monitoring_finished_at(completed_at, updated_at) is not null
  group by 1, 2;
  insert into private.monitoring_minute_counts (kind, minute, n)
  select 'bug', private.monitoring_minute(created_at), count(*)
  from public.bug_reports where private.monitoring_time(created_at) is not null group by 2
  union all
  select 'critical_bug', private.monitoring_minute(created_at), count(*)
  from public.bug_reports
  where private.monitoring_time(created_at) is not null and severity = 'critical' group by 2;
end;
$$;

-- Who may call them: the triggers run as their owner; the service role may rebuild.
revoke all on function private.monitoring_bump(text, timestamptz, bigint) from public, anon, authenticated, service_role;
revoke all on function private.monitoring_count_upload_rows() from public, anon, authenticated, service_role;
revoke all on function private.monitoring_count_bug() from public, anon, authenticated, service_role;
revoke all on function private.monitoring_count_truncated() from public, anon, authenticated, service_role;
revoke all on function private.monitoring_rebuild_counts() from public, anon, authenticated;
grant execute on function private.monitoring_rebuild_counts() to service_role;

-- ---------------------------------------------------------------------------------------------
-- The triggers: uploads counted per statement (20261201090000), bug reports per row, both
-- rebuilt after a TRUNCATE (20261124100000). create or replace: the same definitions again.
-- ---------------------------------------------------------------------------------------------

create or replace trigger monitoring_count_upload_insert after insert on public.upload_queue
  referencing new table as new_rows
  for each statement execute function private.monitoring_count_upload_rows();
create or replace trigger monitoring_count_upload_update after update on public.upload_queue
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.monitoring_count_upload_rows();
create or replace trigger monitoring_count_upload_delete after delete on public.upload_queue
  referencing old table as old_rows
  for each statement execute function private.monitoring_count_upload_rows();
create or replace trigger monitoring_count_upload_truncate after truncate on public.upload_queue
  for each statement execute function private.monitoring_count_truncated();
create or replace trigger monitoring_count_bug_insert after insert or delete on public.bug_reports
  for each row execute function private.monitoring_count_bug();
create or replace trigger monitoring_count_bug_update after update on public.bug_reports
  for each row when (old.created_at is distinct from new.created_at
                     or old.severity is distinct from new.severity)
  execute function private.monitoring_count_bug();
create or replace trigger monitoring_count_bug_truncate after truncate on public.bug_reports
  for each statement execute function private.monitoring_count_truncated();
