begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(42);

-- Issue 12, item 1: every monitoring RPC survives any row a service-role writer can still
-- create. The worst rows we can think of go into every table the RPCs read, written as the
-- table owner (RLS and the API bypassed); then an admin calls every RPC. None may raise, and
-- every answer must be JSON that a strict reader (monitor-core's typed client: serde_json and
-- chrono) takes: no string longer than 16,384 characters, no "NaN"/"infinity" strings, no
-- timestamp outside years 1-9999 AD, no number beyond a double's range, nesting under 120.
--
-- upload_queue and upload_events get only what 20261202090000's CHECK constraints still allow
-- (NULL start times, completion before start, odd status/stage/progress combinations, odd
-- metadata shapes, values at the constraints' bounds); the app's tables (profiles, videos,
-- transcription_jobs, bug_reports) have no constraints, so they get everything.
--
-- Fixed ids, each with its meaning:
-- 0dd00000-0000-4000-8000-00000000000a  user O: reports uploads; a profile with 1 MB email and
--                                       names and infinite timestamps
-- 0dd00000-0000-4000-8000-00000000000b  user P: a Phase 1 user (videos only, no upload_queue rows)
-- aeaeaeae-0000-4000-8000-0000000000ae  an admin (app_metadata.role = 'admin' in the JWT)
-- 0dd0a000-...-00000000000N             O's uploads (N = 1..7), described where inserted
-- 0dd0b000-...-00000000000N             videos; 0dd0c000-... jobs; 0dd0d000-... bug reports;
-- 0dd0e000-...                          upload events

create temp table big on commit drop as
select repeat('é', 1048576) as mb,                       -- 1 MB of characters (2 MB of bytes)
       repeat('[', 150) || repeat(']', 150) as deep,     -- JSON nested 150 levels deep
       '1' || repeat('0', 400) as huge;                  -- 1e400: a valid JSON number

insert into auth.users (id, email) values
  ('0dd00000-0000-4000-8000-00000000000a', 'o@odd.test'),
  ('0dd00000-0000-4000-8000-00000000000b', 'p@odd.test'),
  ('aeaeaeae-0000-4000-8000-0000000000ae', 'admin@monitoring.test')
on conflict (id) do nothing;
insert into public.profiles (id, email, first_name, last_name, language, created_at, updated_at)
select '0dd00000-0000-4000-8000-00000000000a', 'odd-' || mb || '@odd.test', mb, mb, mb,
       'infinity', '-infinity' from big;
insert into public.profiles (id, email, first_name, last_name, created_at) values
  ('0dd00000-0000-4000-8000-00000000000b', 'p@odd.test', 'Phase', 'One', '200000-01-01'),
  ('aeaeaeae-0000-4000-8000-0000000000ae', 'admin@monitoring.test', 'Ad', 'Min', now())
on conflict (id) do nothing;

-- Videos. O's are linked from O's uploads; P's become Phase 1 cards.
insert into public.videos (id, user_id, title, file_path, duration, metadata, created_at,
                           updated_at)
select v.id::uuid, v.user_id::uuid, v.title, v.file_path, v.duration, v.metadata::jsonb,
       v.created_at::timestamptz, v.updated_at::timestamptz
from big, lateral (values
  -- infinite creation, 1 MB title and path, metadata a JSON string
  ('0dd0b000-0000-4000-8000-000000000001', '0dd00000-0000-4000-8000-00000000000b', big.mb,
   '/' || big.mb, null, '"just a string"', 'infinity', '-infinity'),
  -- year 200000, metadata an array
  ('0dd0b000-0000-4000-8000-000000000002', '0dd00000-0000-4000-8000-00000000000b', 't2', '',
   null, '[1, "x", null]', '200000-01-01', '200000-01-01'),
  -- fresh, odd field types: uploadFailed "yes" (not a flag), duration "abc"
  ('0dd0b000-0000-4000-8000-000000000003', '0dd00000-0000-4000-8000-00000000000b', 't3', '',
   -1, '{"uploadFailed": "yes", "duration": "abc", "width": ' || big.huge || '}',
   (now() - interval '1 minute')::text, now()::text),
  -- flagged failed with a 1 MB message and a huge number
  ('0dd0b000-0000-4000-8000-000000000004', '0dd00000-0000-4000-8000-00000000000b', '', '',
   2147483647, '{"uploadFailed": true, "uploadError": ' || to_json(big.mb)::text
   || ', "big": ' || big.huge || '}', (now() - interval '2 minutes')::text, null),
  -- a 1 MB metadata object, stored file
  ('0dd0b000-0000-4000-8000-000000000005', '0dd00000-0000-4000-8000-00000000000b', null,
   'https://x/videos/a.mov', null, jsonb_build_object('blob', big.mb)::text, now()::text,
   now()::text),
  -- metadata a JSON number, no creation time
  ('0dd0b000-0000-4000-8000-000000000006', '0dd00000-0000-4000-8000-00000000000b', null, '',
   null, '42', null, null),
  -- metadata nested 150 levels, no file for an hour, created before Christ
  ('0dd0b000-0000-4000-8000-000000000007', '0dd00000-0000-4000-8000-00000000000b', 't7', '',
   null, big.deep, '0044-03-15 00:00:00+00 BC', null),
  ('0dd0b000-0000-4000-8000-000000000008', '0dd00000-0000-4000-8000-00000000000b', 't8', '',
   null, big.deep, (now() - interval '1 hour')::text, now()::text),
  -- no file, created at infinity (an upload "still on its way" forever)
  ('0dd0b000-0000-4000-8000-00000000000a', '0dd00000-0000-4000-8000-00000000000b', 't10', '',
   null, '{}', 'infinity', 'infinity'),
  -- O's video, linked from upload 2: metadata JSON null
  ('0dd0b000-0000-4000-8000-000000000009', '0dd00000-0000-4000-8000-00000000000a', big.mb,
   'https://x/videos/o.mov', 5, 'null', 'infinity', 'infinity')
) as v(id, user_id, title, file_path, duration, metadata, created_at, updated_at);

-- Transcription jobs: failed ones with infinite, far-future and fresh times, 1 MB texts,
-- a 1 MB status, highlights with a huge number and deep nesting.
insert into public.transcription_jobs (id, video_id, status, transcript_text,
                                       transcript_highlight, language, assembly_ai_id,
                                       error_message, created_at, updated_at, completed_at)
select j.id::uuid, j.video_id::uuid, j.status, big.mb, j.highlight::jsonb, big.mb, big.mb,
       big.mb, j.created_at::timestamptz, j.updated_at::timestamptz, j.completed_at::timestamptz
from big, lateral (values
  ('0dd0c000-0000-4000-8000-000000000001', '0dd0b000-0000-4000-8000-000000000003', 'failed',
   '[{"importance": ' || big.huge || '}]', 'infinity', 'infinity', '-infinity'),
  ('0dd0c000-0000-4000-8000-000000000002', '0dd0b000-0000-4000-8000-000000000003', 'failed',
   big.deep, '200000-01-01', now()::text, null),
  ('0dd0c000-0000-4000-8000-000000000003', '0dd0b000-0000-4000-8000-000000000009', 'failed',
   '"text"', now()::text, now()::text, now()::text),
  ('0dd0c000-0000-4000-8000-000000000004', '0dd0b000-0000-4000-8000-000000000008', big.mb,
   null, now()::text, now()::text, null),
  ('0dd0c000-0000-4000-8000-000000000005', null, 'failed', '12', now()::text, 'infinity', null)
) as j(id, video_id, status, highlight, created_at, updated_at, completed_at);

-- Bug reports: infinite, far-future, BC and fresh times; every text 1 MB (the fresh ones are
-- inside every window and must be cut, not refused); JSON of every type.
insert into public.bug_reports (id, user_id, user_email, error_type, error_message, error_stack,
                                severity, status, screen_name, component_name, action,
                                app_version, device_info, metadata, created_at)
select b.id::uuid, b.user_id::uuid, big.mb, b.error_type, 'upload ' || big.mb, big.mb,
       b.severity, big.mb, big.mb, big.mb, big.mb, big.mb, b.device_info::jsonb,
       b.metadata::jsonb, b.created_at::timestamptz
from big, lateral (values
  ('0dd0d000-0000-4000-8000-000000000001', '0dd00000-0000-4000-8000-00000000000a', 'network',
   'critical', big.huge, '"s"', 'infinity'),
  ('0dd0d000-0000-4000-8000-000000000002', '0dd00000-0000-4000-8000-00000000000a', big.mb,
   big.mb, big.deep, '[1]', '200000-01-01'),
  ('0dd0d000-0000-4000-8000-000000000003', '0dd00000-0000-4000-8000-00000000000a', 'network',
   'high', 'null', big.huge, '-infinity'),
  ('0dd0d000-0000-4000-8000-000000000004', '0dd00000-0000-4000-8000-00000000000a', big.mb,
   'critical', jsonb_build_object('k', big.mb)::text, big.deep, now()::text),
  ('0dd0d000-0000-4000-8000-000000000005', null, 'network', big.mb, '7', '"x"',
   (now() - interval '1 hour')::text),
  ('0dd0d000-0000-4000-8000-000000000006', '0dd00000-0000-4000-8000-00000000000b', null, null,
   null, null, '0044-03-15 00:00:00+00 BC')
) as b(id, user_id, error_type, severity, device_info, metadata, created_at);

-- O's uploads: what the constraints of 20261202090000 still let a service-role writer create.
insert into public.upload_queue (id, user_id, local_id, video_title, filename, file_size,
                                 status, stage, progress, bytes_sent, upload_speed, retry_count,
                                 error_code, error_message, metadata, started_at, completed_at,
                                 updated_at, video_id, last_seq, retry_requested_at)
select q.id::uuid, q.user_id::uuid, q.local_id, q.title, q.filename, q.file_size, q.status,
       q.stage, q.progress, q.bytes_sent, q.speed, q.retries, q.code, q.message,
       q.metadata::jsonb, q.started_at::timestamptz, q.completed_at::timestamptz,
       q.updated_at::timestamptz, q.video_id::uuid, q.last_seq, q.retry_requested_at::timestamptz
from (values
  -- 1: failed, no start time, a 4,000-character message, metadata a JSON string
  ('0dd0a000-0000-7000-8000-000000000001', '0dd00000-0000-4000-8000-00000000000a',
   repeat('l', 255), repeat('t', 500), repeat('f', 1000), 0::bigint, 'failed', 'uploading',
   10, 0::bigint, 0::numeric, 3, repeat('c', 100), repeat('m', 4000), '"a string"', null,
   now()::text, now()::text, null, 1::bigint, null),
  -- 2: completed before it started, progress 30, linked to video 9, a huge number in metadata
  ('0dd0a000-0000-7000-8000-000000000002', '0dd00000-0000-4000-8000-00000000000a', 'l2',
   null, 'b.mov', 9223372036854775807, 'completed', 'validating', 30, 9223372036854775807,
   100000, 0, null, null, '{"duration": ' || (select huge from big) || '}',
   (now() - interval '1 hour')::text, (now() - interval '2 hours')::text, now()::text,
   '0dd0b000-0000-4000-8000-000000000009', 9223372036854775807, (now() - interval '1 minute')::text),
  -- 3: uploading, no start time, progress 100, metadata a number, a retry asked of it
  ('0dd0a000-0000-7000-8000-000000000003', '0dd00000-0000-4000-8000-00000000000a', 'l3',
   '', '', null, 'uploading', 'queuing_transcription', 100, 0, null, 0, null, null, '12',
   null, null, now()::text, null, 0, now()::text),
  -- 4: pending, metadata nested 150 levels deep
  ('0dd0a000-0000-7000-8000-000000000004', '0dd00000-0000-4000-8000-00000000000a', 'l4',
   null, 'd.mov', null, 'pending', 'validating', 0, 0, null, 0, null, null,
   (select deep from big), now()::text, null, now()::text, null, 0, null),
  -- 5: failed with no error, no completion and no update time
  ('0dd0a000-0000-7000-8000-000000000005', '0dd00000-0000-4000-8000-00000000000a', 'l5',
   null, 'e.mov', null, 'failed', 'creating_record', null, 0, null, null, null, null, null,
   (now() - interval '3 minutes')::text, null, null, null, 0, null),
  -- 6: uploading with no update time (staleness unknown), metadata an array
  ('0dd0a000-0000-7000-8000-000000000006', '0dd00000-0000-4000-8000-00000000000a', 'l6',
   null, 'g.mov', 1, 'uploading', 'uploading', 50, 0, 0.000001, 1, null, null, '[[], {}]',
   (now() - interval '40 minutes')::text, null, null, null, 0, null),
  -- 7: nobody's (user_id null), every nullable column null
  ('0dd0a000-0000-7000-8000-000000000007', null, null, null, 'h.mov', null, 'completed',
   'validating', null, 0, null, null, null, null, null, null, null, null, null, 0, null)
) as q(id, user_id, local_id, title, filename, file_size, status, stage, progress, bytes_sent,
       speed, retries, code, message, metadata, started_at, completed_at, updated_at, video_id,
       last_seq, retry_requested_at);

-- Upload events of upload 1 with infinite and BC times, where the schema takes them (a CHECK
-- of a later migration may refuse them: the event then keeps a plain time).
create function pg_temp.insert_event(id uuid, seq bigint, at text) returns void
language plpgsql as $$
begin
  begin
    insert into public.upload_events (id, upload_id, user_id, seq, kind, status, stage,
                                      error_message, device_at, created_at)
    values (id, '0dd0a000-0000-7000-8000-000000000001', '0dd00000-0000-4000-8000-00000000000a',
            seq, 'fail', 'failed', 'uploading', repeat('m', 4000), at::timestamptz,
            at::timestamptz);
  exception when check_violation then
    insert into public.upload_events (id, upload_id, user_id, seq, kind, status, stage,
                                      created_at)
    values (id, '0dd0a000-0000-7000-8000-000000000001', '0dd00000-0000-4000-8000-00000000000a',
            seq, 'fail', 'failed', 'uploading', now());
  end;
end $$;
select pg_temp.insert_event('0dd0e000-0000-7000-8000-000000000001', 1, 'infinity');
select pg_temp.insert_event('0dd0e000-0000-7000-8000-000000000002', 2, '-infinity');
select pg_temp.insert_event('0dd0e000-0000-7000-8000-000000000003', 3, '200000-01-01');
select pg_temp.insert_event('0dd0e000-0000-7000-8000-000000000004', 4, '0044-03-15 00:00:00+00 BC');
select pg_temp.insert_event('0dd0e000-0000-7000-8000-000000000005', 5, now()::text);

-- What a strict JSON reader would refuse in an answer (an empty array when nothing).
create function pg_temp.json_problems(answer jsonb) returns text[]
language sql immutable as $$
  with recursive walk(v, depth) as (
    select answer, 1
    union all
    select c.value, w.depth + 1
    from walk w
    cross join lateral (
      select e.value from jsonb_each(case when jsonb_typeof(w.v) = 'object' then w.v end) e
      union all
      select a.value from jsonb_array_elements(case when jsonb_typeof(w.v) = 'array' then w.v end) a
    ) c
    where w.depth <= 120
  )
  select coalesce(array_agg(distinct p order by p), '{}')
  from (
    select case
      when depth > 120 then 'nested deeper than 120 levels'
      when jsonb_typeof(v) = 'string' and length(v #>> '{}') > 16384
        then 'a string longer than 16384 characters'
      when jsonb_typeof(v) = 'string'
           and lower(v #>> '{}') in ('nan', 'infinity', '-infinity')
        then 'a non-finite value: ' || (v #>> '{}')
      when jsonb_typeof(v) = 'string' and v #>> '{}' ~ '^[0-9]{5,}-[0-9]{2}-[0-9]{2}T'
        then 'a timestamp after year 9999'
      when jsonb_typeof(v) = 'string' and v #>> '{}' ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T.* BC$'
        then 'a timestamp before Christ'
      when jsonb_typeof(v) = 'number' and abs((v #>> '{}')::numeric) > 1e308
        then 'a number beyond a double'
    end as p
    from walk) x
  where p is not null
$$;

create function pg_temp.login(who text) returns void language plpgsql as $$
begin
  perform set_config('role', 'none', true);
  perform set_config('request.jwt.claims', case who
    when 'admin' then '{"sub":"aeaeaeae-0000-4000-8000-0000000000ae","role":"authenticated","app_metadata":{"role":"admin"}}'
    when 'service' then '{"role":"service_role"}'
  end, true);
  perform set_config('role', case who when 'service' then 'service_role' else 'authenticated' end,
                     true);
end $$;
create function pg_temp.logout() returns void language sql as $$
  select set_config('role', 'none', true), set_config('request.jwt.claims', '', true);
$$;

-- Every answer, kept to be checked after the calls.
create temp table answers (name text primary key, answer jsonb) on commit drop;
create function pg_temp.call(name text, call text) returns void language plpgsql as $$
begin
  execute format('insert into pg_temp.answers values (%L, (select (%s)::jsonb))', name, call);
end $$;
grant all on pg_temp.answers to authenticated, service_role;
grant execute on function pg_temp.login(text), pg_temp.logout(), pg_temp.call(text, text)
  to authenticated, service_role;

select pg_temp.login('admin');

select lives_ok($$select pg_temp.call('monitoring_snapshot', 'public.monitoring_snapshot(100)')$$,
  'monitoring_snapshot answers');
select lives_ok($$select pg_temp.call('monitoring_changes',
                   'public.monitoring_changes(now() - interval ''1 minute'')')$$,
  'monitoring_changes answers');
select lives_ok($$select pg_temp.call('monitoring_uploads', 'public.monitoring_uploads()')$$,
  'monitoring_uploads answers');
select lives_ok($$select pg_temp.call('monitoring_uploads of O',
                   'public.monitoring_uploads(email => ''odd-'', page_size => 100)')$$,
  'monitoring_uploads answers with an email filter over 1 MB emails');
select lives_ok($$select pg_temp.call('monitoring_user_profile O',
                   'public.monitoring_user_profile(''0dd00000-0000-4000-8000-00000000000a'')')$$,
  'monitoring_user_profile answers for the odd profile');
select lives_ok($$select pg_temp.call('monitoring_user_profile P',
                   'public.monitoring_user_profile(''0dd00000-0000-4000-8000-00000000000b'')')$$,
  'monitoring_user_profile answers for the Phase 1 user');
select lives_ok($$select pg_temp.call('monitoring_user_timeline O',
                   'public.monitoring_user_timeline(''0dd00000-0000-4000-8000-00000000000a'', page_size => 100)')$$,
  'monitoring_user_timeline answers');
select lives_ok($$select pg_temp.call('monitoring_user_timeline P',
                   'public.monitoring_user_timeline(''0dd00000-0000-4000-8000-00000000000b'')')$$,
  'monitoring_user_timeline answers for the Phase 1 user');
select lives_ok($$select pg_temp.call('monitoring_compare day', 'public.monitoring_compare(''day'')')$$,
  'monitoring_compare (day) answers');
select lives_ok($$select pg_temp.call('monitoring_compare week', 'public.monitoring_compare(''week'')')$$,
  'monitoring_compare (week) answers');
select lives_ok($$select pg_temp.call('monitoring_error_distribution',
                   'public.monitoring_error_distribution(168)')$$,
  'monitoring_error_distribution answers');
select lives_ok($$select pg_temp.call('monitoring_speed_over_time',
                   'public.monitoring_speed_over_time(168, 60)')$$,
  'monitoring_speed_over_time answers');
select lives_ok($$select pg_temp.call('monitoring_evaluate_alert',
                   'public.monitoring_evaluate_alert(0, 10080)')$$,
  'monitoring_evaluate_alert answers');
select lives_ok($$select pg_temp.call('monitoring_upload_log 1',
                   'public.monitoring_upload_log(''0dd0a000-0000-7000-8000-000000000001'')')$$,
  'monitoring_upload_log answers for an upload whose events have infinite times');
select lives_ok($$select pg_temp.call('monitoring_upload_log 2',
                   'public.monitoring_upload_log(''0dd0a000-0000-7000-8000-000000000002'')')$$,
  'monitoring_upload_log answers for an upload completed before it started');
select lives_ok($$select pg_temp.call('monitoring_upload_log 7',
                   'public.monitoring_upload_log(''0dd0a000-0000-7000-8000-000000000007'')')$$,
  'monitoring_upload_log answers for an upload of nobody with every column null');

select pg_temp.logout();

-- Every answer is one a strict JSON reader takes.
select is(pg_temp.json_problems(a.answer), '{}'::text[], a.name || ': a strict reader takes it')
from (values ('monitoring_snapshot'), ('monitoring_changes'), ('monitoring_uploads'),
             ('monitoring_uploads of O'), ('monitoring_user_profile O'),
             ('monitoring_user_profile P'), ('monitoring_user_timeline O'),
             ('monitoring_user_timeline P'), ('monitoring_compare day'),
             ('monitoring_compare week'), ('monitoring_error_distribution'),
             ('monitoring_speed_over_time'), ('monitoring_evaluate_alert'),
             ('monitoring_upload_log 1'), ('monitoring_upload_log 2'),
             ('monitoring_upload_log 7')) as n(name)
left join answers a using (name)
order by n.name;

-- One odd row is shown or skipped, never the whole page: the odd rows that belong in a list
-- are in it.
select ok(
  (select count(*) from answers, jsonb_array_elements(answer -> 'items') e
   where name = 'monitoring_uploads of O') = 6,
  'the six uploads of O are listed, NULL start times and odd metadata included');
select ok(
  exists (select 1 from answers, jsonb_array_elements(answer -> 'uploadErrors') e
          where name = 'monitoring_snapshot'
            and e ->> 'id' = '0dd0b000-0000-4000-8000-000000000004'),
  'the flagged video with a 1 MB message and a 1e400 in its metadata is in "Échecs Upload"');
select ok(
  exists (select 1 from answers, jsonb_array_elements(answer -> 'recentBugs') e
          where name = 'monitoring_snapshot'
            and e ->> 'id' = '0dd0d000-0000-4000-8000-000000000004'),
  'the fresh bug report whose every text is 1 MB is in "Bugs récents", cut');
select ok(
  not exists (select 1 from answers, jsonb_array_elements(answer -> 'recentBugs') e
              where name = 'monitoring_snapshot'
                and e ->> 'id' in ('0dd0d000-0000-4000-8000-000000000001',
                                   '0dd0d000-0000-4000-8000-000000000002')),
  'bug reports dated infinity or year 200000 are not "recent" (their time reads as null)');
select is(
  (select answer -> 'profile' ->> 'created_at' from answers
   where name = 'monitoring_user_profile O'),
  null, 'an infinite profile time is shown as null');
select is(
  (select length(answer -> 'profile' ->> 'email') from answers
   where name = 'monitoring_user_profile O'),
  320, 'a 1 MB email is cut to 320 characters');
select ok(
  (select (answer -> 'uploads' ->> 'total')::int from answers
   where name = 'monitoring_user_profile O') = 6,
  'the profile counts every upload of O');
select ok(
  not exists (select 1 from answers, jsonb_array_elements(answer -> 'entries') e
              where name = 'monitoring_user_timeline O' and e ->> 'at' is null),
  'timeline entries whose time is absurd are skipped (an entry needs a time)');
select is(
  (select jsonb_array_length(answer -> 'events') from answers where name = 'monitoring_upload_log 1'),
  5, 'the log keeps every event, absurd times shown as null');
select is(
  (select e -> 'isStale' from answers, jsonb_array_elements(answer -> 'items') e
   where name = 'monitoring_uploads of O' and e ->> 'id' = '0dd0a000-0000-7000-8000-000000000006'),
  'false'::jsonb, 'an active upload with no update time is not stale (true or false, never null)');

select * from finish();
rollback;
