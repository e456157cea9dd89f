begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(9);

-- The per-minute counts behind "Complétés (24h)" and "Échecs (24h)" stay exact through every
-- kind of write, now that they are written once per statement (20261201090000).
-- Fixture: user 0909... (a customer), uploads 0192a7b0-...-09xx, finishing 2026-11-24 09:0x.
insert into auth.users (id, email) values
  ('09090909-0000-4000-8000-000000000009', 'counts@monitoring.test') on conflict (id) do nothing;
insert into public.profiles (id, email) values
  ('09090909-0000-4000-8000-000000000009', 'counts@monitoring.test') on conflict (id) do nothing;

-- Counts equal a recount from the rows (both directions of the difference are empty).
create function pg_temp.counts_exact() returns boolean language sql as $$
  with counted as (
    select kind, minute, n from private.monitoring_minute_counts
    where kind in ('completed', 'failed') and n <> 0
  ), recounted as (
    select status as kind,
           private.monitoring_minute(private.monitoring_finished_at(completed_at, updated_at)) as minute,
           count(*) as n
    from public.upload_queue
    where status in ('completed', 'failed')
      and private.monitoring_finished_at(completed_at, updated_at) is not null
    group by 1, 2
  )
  select not exists (select * from counted except select * from recounted)
     and not exists (select * from recounted except select * from counted)
$$;

select is((select count(*)::int from pg_trigger
           where tgrelid = 'public.upload_queue'::regclass and tgname like 'monitoring_count_upload_%'
             and tgname <> 'monitoring_count_upload_truncate' and (tgtype & 1) = 0),
          3, 'insert, update and delete are counted by statement triggers');

insert into public.upload_queue (id, user_id, local_id, filename, status, progress, completed_at)
values
  ('0192a7b0-0000-7000-8000-000000000901', '09090909-0000-4000-8000-000000000009', 'cnt-1', 'a.mov', 'completed', 100, '2026-11-24 09:01:10+00'),
  ('0192a7b0-0000-7000-8000-000000000902', '09090909-0000-4000-8000-000000000009', 'cnt-2', 'b.mov', 'completed', 100, '2026-11-24 09:01:50+00'),
  ('0192a7b0-0000-7000-8000-000000000903', '09090909-0000-4000-8000-000000000009', 'cnt-3', 'c.mov', 'failed', 30, '2026-11-24 09:01:20+00'),
  ('0192a7b0-0000-7000-8000-000000000904', '09090909-0000-4000-8000-000000000009', 'cnt-4', 'd.mov', 'uploading', 30, null);
select ok(pg_temp.counts_exact(), 'a multi-row insert of finished and active uploads is counted');

-- One statement that swaps a completed and a failed upload of the same minute: the writes
-- that used to deadlock between batches.
update public.upload_queue set status = case status when 'completed' then 'failed' else 'completed' end
where id in ('0192a7b0-0000-7000-8000-000000000901', '0192a7b0-0000-7000-8000-000000000903');
select ok(pg_temp.counts_exact(), 'a status swap in one statement is counted');

update public.upload_queue set completed_at = '2026-11-24 09:05:00+00'
where id = '0192a7b0-0000-7000-8000-000000000902';
select ok(pg_temp.counts_exact(), 'a finish time moved to another minute is counted');

update public.upload_queue set progress = 31 where id = '0192a7b0-0000-7000-8000-000000000904';
update public.upload_queue set status = 'completed', progress = 100, completed_at = '2026-11-24 09:05:30+00'
where id = '0192a7b0-0000-7000-8000-000000000904';
select ok(pg_temp.counts_exact(), 'progress, then completion of an active upload, is counted');

update public.upload_queue set status = 'uploading', completed_at = null, retry_count = 1
where id = '0192a7b0-0000-7000-8000-000000000903';
select ok(pg_temp.counts_exact(), 'a retry (finished back to active) is counted');

delete from public.upload_queue where user_id = '09090909-0000-4000-8000-000000000009';
select ok(pg_temp.counts_exact(), 'a multi-row delete is counted');

-- The finish time, written as CASE so RLS keeps its indexes (20261201110000): the same value
-- COALESCE gave, so the expression indexes built on it stay valid.
select is(private.monitoring_finished_at('2026-11-24 09:01:00+00', '2026-11-24 09:09:00+00'),
          '2026-11-24 09:01:00+00'::timestamptz, 'a finished upload finishes at completed_at');
select is(private.monitoring_finished_at(null, '2026-11-24 09:09:00+00'),
          '2026-11-24 09:09:00+00'::timestamptz,
          'a row written the spec''s old way (no completed_at) finishes at updated_at');

select * from finish();
rollback;
