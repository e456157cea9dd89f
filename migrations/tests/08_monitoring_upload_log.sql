begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(18);

-- Fixtures (rolled back at the end). Fixed ids, each with its meaning:
-- e0e0e0e0-...-00000000000e  user E, a customer whose upload failed after a retry
-- f0f0f0f0-...-00000000000f  user F, another customer (their own upload's log is refused too)
-- afafafaf-...-0000000000af  an admin (app_metadata.role = 'admin' in the JWT)
-- 0192a7b0-...-8000-0000000008e1  E's upload: begin, progress, fail, retry_requested (server)
-- 0192a7b0-...-8000-0000000008f1  F's upload, no events
-- 0192a7b0-...-8000-0000000008f2  F's upload with 502 events, past the 500 cap
insert into auth.users (id, email) values
  ('e0e0e0e0-0000-4000-8000-00000000000e', 'e@upload-log.test'),
  ('f0f0f0f0-0000-4000-8000-00000000000f', 'f@upload-log.test'),
  ('afafafaf-0000-4000-8000-0000000000af', 'admin@upload-log.test')
on conflict (id) do nothing;
insert into public.profiles (id, email, first_name, last_name) values
  ('e0e0e0e0-0000-4000-8000-00000000000e', 'e@upload-log.test', 'Élise', 'Roux'),
  ('f0f0f0f0-0000-4000-8000-00000000000f', 'f@upload-log.test', 'Félix', 'Faure'),
  ('afafafaf-0000-4000-8000-0000000000af', 'admin@upload-log.test', 'Ad', 'Min')
on conflict (id) do nothing;
insert into public.upload_queue (id, user_id, local_id, filename, video_title, status, stage,
                                 progress, retry_count, last_seq, error_code, error_message,
                                 started_at, completed_at)
values
  ('0192a7b0-0000-7000-8000-0000000008e1', 'e0e0e0e0-0000-4000-8000-00000000000e', 'log-1',
   'IMG_0042.MOV', 'Anniversaire', 'failed', 'uploading', 40, 1, 3, 'network',
   'Network request failed', now() - interval '3 minutes', now() - interval '1 minute'),
  ('0192a7b0-0000-7000-8000-0000000008f1', 'f0f0f0f0-0000-4000-8000-00000000000f', 'log-2',
   'f.mov', null, 'pending', 'validating', 0, 0, 1, null, null, now(), null),
  ('0192a7b0-0000-7000-8000-0000000008f2', 'f0f0f0f0-0000-4000-8000-00000000000f', 'log-3',
   'long.mov', null, 'uploading', 'uploading', 50, 0, 502, null, null, now(), null);
insert into public.upload_events (id, upload_id, user_id, seq, kind, status, stage, progress)
select format('0192a7b0-0000-7000-a000-%s', lpad(g::text, 12, '0'))::uuid,
       '0192a7b0-0000-7000-8000-0000000008f2', 'f0f0f0f0-0000-4000-8000-00000000000f', g,
       'progress', 'uploading', 'uploading', g / 10
from generate_series(1, 502) g;
-- Inserted out of order: the log comes back by seq, then server time. The retry_requested
-- server event carries the upload's last_seq (3), and sorts after the fail it follows.
insert into public.upload_events (id, upload_id, user_id, seq, kind, status, stage, progress,
                                  bytes_sent, upload_speed, error_code, error_message,
                                  device_at, created_at)
values
  ('0192a7b0-0000-7000-9000-0000000008e4', '0192a7b0-0000-7000-8000-0000000008e1',
   'e0e0e0e0-0000-4000-8000-00000000000e', 3, 'retry_requested', 'failed', 'uploading', 40,
   400, 1.5, 'network', 'Network request failed', null, now()),
  ('0192a7b0-0000-7000-9000-0000000008e2', '0192a7b0-0000-7000-8000-0000000008e1',
   'e0e0e0e0-0000-4000-8000-00000000000e', 2, 'progress', 'uploading', 'uploading', 40,
   400, 1.5, null, null, '2026-11-24T09:01:00Z', now() - interval '2 minutes'),
  ('0192a7b0-0000-7000-9000-0000000008e1', '0192a7b0-0000-7000-8000-0000000008e1',
   'e0e0e0e0-0000-4000-8000-00000000000e', 1, 'begin', 'pending', 'validating', 0,
   0, null, null, null, '2026-11-24T09:00:00Z', now() - interval '3 minutes'),
  ('0192a7b0-0000-7000-9000-0000000008e3', '0192a7b0-0000-7000-8000-0000000008e1',
   'e0e0e0e0-0000-4000-8000-00000000000e', 3, 'fail', 'failed', 'uploading', 40,
   400, 1.5, 'network', 'Network request failed', '2026-11-24T09:02:00Z',
   now() - interval '1 minute');

create function pg_temp.login(who text) returns void language plpgsql as $$
begin
  perform set_config('role', 'none', true);
  perform set_config('request.jwt.claims', case who
    when 'E' then '{"sub":"e0e0e0e0-0000-4000-8000-00000000000e","role":"authenticated"}'
    when 'F' then '{"sub":"f0f0f0f0-0000-4000-8000-00000000000f","role":"authenticated"}'
    when 'admin' then '{"sub":"afafafaf-0000-4000-8000-0000000000af","role":"authenticated","app_metadata":{"role":"admin"}}'
    when 'service' then '{"role":"service_role"}'
    when 'anon' then '{"role":"anon"}'
  end, true);
  perform set_config('role', case who when 'service' then 'service_role' when 'anon' then 'anon'
                                      else 'authenticated' end, true);
end $$;
create function pg_temp.logout() returns void language sql as $$
  select set_config('role', 'none', true), set_config('request.jwt.claims', '', true);
$$;
grant execute on function pg_temp.login(text), pg_temp.logout() to anon, authenticated, service_role;

-- The function's shape: runs as its caller, with an empty search_path; anon has no grant.
select is(
  (select p.prosecdef from pg_proc p
   where p.oid = 'public.monitoring_upload_log(uuid)'::regprocedure),
  false, 'monitoring_upload_log is SECURITY INVOKER');
select ok(
  (select p.proconfig @> array['search_path=""'] from pg_proc p
   where p.oid = 'public.monitoring_upload_log(uuid)'::regprocedure),
  'with an empty search_path');
select ok(not has_function_privilege('anon', 'public.monitoring_upload_log(uuid)', 'execute'),
  'anon cannot execute it');
select ok(has_function_privilege('authenticated', 'public.monitoring_upload_log(uuid)', 'execute'),
  'signed-in callers reach it (and are refused inside unless admin)');

-- The admin sees the whole log, in order, with the card.
select pg_temp.login('admin');
create temp table log on commit drop as
  select public.monitoring_upload_log('0192a7b0-0000-7000-8000-0000000008e1') as l;
select is((select l -> 'upload' ->> 'id' from log), '0192a7b0-0000-7000-8000-0000000008e1',
  'the admin gets the upload''s card');
select is((select l -> 'upload' ->> 'userEmail' from log), 'e@upload-log.test',
  'with the owner''s email');
select is((select l -> 'upload' ->> 'status' from log), 'failed', 'and its status');
select is(
  (select array_agg(e ->> 'kind' order by o) from log,
     jsonb_array_elements(l -> 'events') with ordinality t(e, o)),
  array['begin', 'progress', 'fail', 'retry_requested'],
  'events come by seq, then server time');
select is((select (l ->> 'eventCount')::int from log), 4, 'eventCount counts the log');
select is((select (l ->> 'truncated')::boolean from log), false, 'a short log is whole');
select is((select l -> 'events' -> 2 ->> 'errorMessage' from log), 'Network request failed',
  'the failure''s message is in the log');
select ok((select not (l -> 'events' -> 0 ? 'errorCode') from log),
  'absent fields are left out rather than null');
select throws_ok($$select public.monitoring_upload_log('00000000-0000-4000-8000-000000000000')$$,
  'PT404', null, 'an unknown upload is a 404');

select is(
  (select array[jsonb_array_length(l -> 'events'), (l ->> 'eventCount')::int,
                (l -> 'events' -> 0 ->> 'seq')::int, (l -> 'events' -> -1 ->> 'seq')::int]
   from (select public.monitoring_upload_log('0192a7b0-0000-7000-8000-0000000008f2') as l) x),
  array[500, 502, 3, 502], 'a long log keeps its newest 500 events, still in order');
select is(
  (select (public.monitoring_upload_log('0192a7b0-0000-7000-8000-0000000008f2') ->> 'truncated')::boolean),
  true, 'and says it is truncated');

-- A user is refused, even for their own upload; anon has no privilege.
select pg_temp.login('E');
select throws_ok($$select public.monitoring_upload_log('0192a7b0-0000-7000-8000-0000000008e1')$$,
  '42501', null, 'a user cannot read even their own upload''s log here');
select pg_temp.login('anon');
select throws_ok($$select public.monitoring_upload_log('0192a7b0-0000-7000-8000-0000000008f1')$$,
  '42501', null, 'anon is refused');

-- The service key is an admin too.
select pg_temp.login('service');
select is(
  (select jsonb_array_length(public.monitoring_upload_log('0192a7b0-0000-7000-8000-0000000008f1') -> 'events')),
  0, 'the service key reads a log, here an empty one');

select pg_temp.logout();
select * from finish();
rollback;
