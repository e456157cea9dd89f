-- The scheduled jobs, for real this time, and the stale sweep every minute with its
-- threshold in `monitor_settings` (the spec's 30 minutes by default).
--
-- 20261124091000 and 20261124093000 guarded their `cron.schedule` calls with
-- `to_regproc('cron.schedule')`, which is null when the name is overloaded, and pg_cron has
-- had two `cron.schedule` functions since 1.3: neither job was ever scheduled where pg_cron
-- exists. Here the guard names the exact signature (`to_regprocedure`).
--
-- The sweep now runs every minute (it was every 5 minutes, with the interval written into
-- the job): an upload is marked failed/stale at most a minute after it went silent for
-- `stale_after`. An operator changes the threshold with an UPDATE, without rescheduling
-- anything; tests use a short one.

alter table public.monitor_settings
  add column if not exists stale_after interval not null default interval '30 minutes';

do $$
begin
  if not exists (select 1 from pg_constraint
                 where conrelid = 'public.monitor_settings'::regclass
                   and conname = 'valid_stale_after') then
    -- Below a second the sweep would fail uploads between two progress reports; above a
    -- week, the cleanup (7 days) removes finished rows first.
    alter table public.monitor_settings add constraint valid_stale_after
      check (stale_after between interval '1 second' and interval '7 days');
  end if;
end
$$;

-- What the job runs: the sweep with the configured threshold. Owner only, like the sweep
-- (pg_cron runs jobs as their owner, with no JWT).
create or replace function private.mark_stale_uploads_by_setting()
returns integer
language sql
security definer
set search_path = ''
as $$
  select private.mark_stale_uploads(
    coalesce((select s.stale_after from public.monitor_settings s limit 1),
             interval '30 minutes'))
$$;
revoke all on function private.mark_stale_uploads_by_setting() from public;

-- Where pg_cron exists: the sweep every minute, the cleanup (finished uploads older than 7
-- days) daily at 02:00 UTC. cron.schedule with an existing job name replaces that job, so
-- re-running is harmless. Guarded: `db push` never fails without pg_cron.
do $$
begin
  if to_regprocedure('cron.schedule(text,text,text)') is not null then
    perform cron.schedule('mark-stale-uploads', '* * * * *',
                          'select private.mark_stale_uploads_by_setting()');
    perform cron.schedule('cleanup-upload-queue', '0 2 * * *',
                          'select public.cleanup_old_upload_queue()');
  else
    raise notice 'pg_cron absent: mark-stale-uploads and cleanup-upload-queue not scheduled';
  end if;
exception when others then
  raise notice 'scheduled jobs not scheduled: %', sqlerrm;
end
$$;
