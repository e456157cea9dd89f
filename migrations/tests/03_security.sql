begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

-- Fixtures (rolled back at the end). Fixed ids, each with its meaning:
-- a0a0a0a0-...-00000000000a  user A, the phone under test
-- b0b0b0b0-...-00000000000b  user B, another customer A must never reach (and vice versa)
-- adadadad-...-0000000000ad  an admin (app_metadata.role = 'admin' in the JWT)
insert into auth.users (id, email) values
  ('a0a0a0a0-0000-4000-8000-00000000000a', 'a@example.test'),
  ('b0b0b0b0-0000-4000-8000-00000000000b', 'b@example.test'),
  ('adadadad-0000-4000-8000-0000000000ad', 'admin@example.test')
on conflict (id) do nothing;
insert into public.profiles (id, email, first_name, last_name) values
  ('a0a0a0a0-0000-4000-8000-00000000000a', 'a@example.test', 'Ada', 'Lovelace'),
  ('b0b0b0b0-0000-4000-8000-00000000000b', 'b@example.test', 'Bob', 'Martin'),
  ('adadadad-0000-4000-8000-0000000000ad', 'admin@example.test', 'Ad', 'Min')
on conflict (id) do nothing;

-- Act as someone: 'A', 'B', 'admin' (authenticated role + JWT claims, as the API gateway
-- sets them), 'service' (the service key), 'anon' (the anon key), 'nosub' (authenticated
-- without a sub claim).
create function pg_temp.login(who text) returns void language plpgsql as $$
begin
  perform set_config('role', 'none', true);
  perform set_config('request.jwt.claims', case who
    when 'A' then '{"sub":"a0a0a0a0-0000-4000-8000-00000000000a","role":"authenticated"}'
    when 'B' then '{"sub":"b0b0b0b0-0000-4000-8000-00000000000b","role":"authenticated"}'
    when 'admin' then '{"sub":"adadadad-0000-4000-8000-0000000000ad","role":"authenticated","app_metadata":{"role":"admin"}}'
    when 'service' then '{"role":"service_role"}'
    when 'anon' then '{"role":"anon"}'
    when 'nosub' then '{"role":"authenticated"}'
  end, true);
  perform set_config('role', case who when 'service' then 'service_role' when 'anon' then 'anon'
                                      else 'authenticated' end, true);
end $$;
-- Back to the test's superuser (to arrange rows or read the truth behind RLS).
create function pg_temp.logout() returns void language sql as $$
  select set_config('role', 'none', true), set_config('request.jwt.claims', '', true);
$$;

-- Upload n's id (UUIDv7-shaped, as the SDK makes them) and event n's id.
create function pg_temp.up(n int) returns uuid language sql immutable as $$
  select format('0192a7b0-0000-7000-8000-%s', lpad(n::text, 12, '0'))::uuid $$;
create function pg_temp.eid(n int) returns uuid language sql immutable as $$
  select format('0192a7b0-0000-7000-9000-%s', lpad(n::text, 12, '0'))::uuid $$;
-- Event n about upload u with seq s; device time 2026-11-24 09:00 UTC.
create function pg_temp.ev(n int, u int, s bigint, kind text, fields jsonb default '{}')
returns jsonb language sql immutable as $$
  select jsonb_build_object('id', pg_temp.eid(n), 'upload_id', pg_temp.up(u), 'seq', s,
                            'at', '2026-11-24T09:00:00Z', 'kind', kind) || fields $$;
-- A begin of a 1000-byte file, local id "local-u".
create function pg_temp.begin_ev(n int, u int, s bigint default 1) returns jsonb
language sql immutable as $$
  select pg_temp.ev(n, u, s, 'begin', jsonb_build_object('local_id', 'local-' || u,
    'filename', 'video-' || u || '.mp4', 'video_title', 'Video ' || u, 'file_size', 1000)) $$;
-- The verdicts of a call, compact: 'applied,rejected:terminal_state,...'.
create function pg_temp.verdicts(res jsonb) returns text language sql immutable as $$
  select string_agg(r ->> 'outcome' || coalesce(':' || (r ->> 'reason'), ''), ',' order by o)
  from jsonb_array_elements(res -> 'results') with ordinality as t(r, o) $$;
create function pg_temp.report(variadic evs jsonb[]) returns text language sql as $$
  select pg_temp.verdicts(public.report_upload_events(to_jsonb(evs))) $$;

select plan(48);

-- A's upload 1 (uploading, 10 %) with its log; B's upload 2.
select pg_temp.login('A');
select pg_temp.report(pg_temp.begin_ev(1, 1),
  pg_temp.ev(2, 1, 2, 'progress', '{"bytes_sent":100,"progress":10}'));
select pg_temp.login('B');
select pg_temp.report(pg_temp.begin_ev(3, 2));

-- B against A's upload.
select is((select count(*) from public.upload_queue where id = pg_temp.up(1)), 0::bigint,
          'B cannot read A''s upload');
select is((select count(*) from public.upload_events where upload_id = pg_temp.up(1)), 0::bigint,
          'B cannot read A''s upload log');
select throws_ok($$ update public.upload_queue set status = 'failed' where id = pg_temp.up(1) $$,
                 '42501', null, 'B cannot update A''s upload (users hold no UPDATE at all)');
select throws_ok($$ delete from public.upload_queue where id = pg_temp.up(1) $$, '42501', null,
                 'B cannot delete A''s upload (no deletes through the API at all)');
select throws_ok($$ delete from public.upload_queue where id = pg_temp.up(2) $$, '42501', null,
                 'B cannot delete even their own upload through the API');
select throws_ok($$ delete from public.upload_events $$, '42501', null,
                 'nobody deletes from the log through the API');
select throws_ok($$ insert into public.upload_queue (user_id, filename, local_id)
                    values ('a0a0a0a0-0000-4000-8000-00000000000a', 'planted.mp4', 'x') $$,
                 '42501', null, 'B cannot insert an upload in A''s name');
select throws_ok($$ insert into public.upload_events (id, upload_id, user_id, seq, kind, status, stage)
                    values (gen_random_uuid(), pg_temp.up(1), 'b0b0b0b0-0000-4000-8000-00000000000b',
                            99, 'fail', 'failed', 'uploading') $$,
                 '42501', null, 'B cannot write into A''s upload log');
select throws_ok($$ update public.upload_queue set user_id = 'a0a0a0a0-0000-4000-8000-00000000000a'
                    where id = pg_temp.up(2) $$,
                 '42501', null, 'B cannot hand an upload over to A');
select is(pg_temp.report(
  pg_temp.ev(4, 1, 3, 'progress', '{"bytes_sent":900,"progress":90}'),
  pg_temp.ev(5, 1, 4, 'fail', '{"error_code":"x","error_message":"hijacked"}'),
  pg_temp.ev(6, 1, 5, 'complete'),
  pg_temp.begin_ev(7, 1, 6)),
  'rejected:unknown_upload,rejected:unknown_upload,rejected:unknown_upload,rejected:forbidden',
  'B''s events about A''s upload are refused');
select is(pg_temp.report(pg_temp.ev(8, 9, 1, 'begin',
  '{"local_id":"l9","filename":"f.mp4","user_id":"a0a0a0a0-0000-4000-8000-00000000000a"}')),
  'rejected:forbidden', 'a begin with a forged user_id is forbidden');
select is(pg_temp.report(pg_temp.ev(2, 2, 5, 'progress', '{"bytes_sent":1,"progress":1}')),
  'applied', 'reusing the id of A''s event for B''s own upload does not break B''s batch');
select pg_temp.logout();
select results_eq(
  $$ select status, progress, user_id from public.upload_queue where id = pg_temp.up(1) $$,
  $$ values ('uploading'::text, 10, 'a0a0a0a0-0000-4000-8000-00000000000a'::uuid) $$,
  'A''s upload is untouched');
select is((select count(*) from public.upload_queue where id = pg_temp.up(9)), 0::bigint,
          'the forged begin created nothing');

-- anon calls nothing.
select pg_temp.login('anon');
select throws_ok($$ select public.report_upload_events('[]') $$, '42501', null,
                 'anon cannot report events');
select throws_ok($$ select * from public.upload_queue $$, '42501', null, 'anon cannot read uploads');
select throws_ok($$ select * from public.upload_events $$, '42501', null, 'anon cannot read the log');
select throws_ok($$ select * from public.monitor_settings $$, '42501', null,
                 'anon cannot read the settings');
select throws_ok($$ select public.mark_stale_uploads() $$, '42501', null,
                 'anon cannot mark uploads stale');
select throws_ok($$ select public.request_upload_retry(pg_temp.up(1)) $$, '42501', null,
                 'anon cannot request a retry');
select throws_ok($$ select * from public.pending_retry_requests() $$, '42501', null,
                 'anon cannot list retry requests');

-- No sub, no ingest.
select pg_temp.login('nosub');
select throws_ok($$ select public.report_upload_events('[]') $$, '42501', null,
                 'a JWT without a sub cannot report events');

-- A non-admin calls admin functions.
select pg_temp.login('A');
select throws_ok($$ select public.mark_stale_uploads() $$, '42501', null,
                 'a user cannot mark uploads stale');
select throws_ok($$ select public.request_upload_retry(pg_temp.up(1)) $$, '42501', null,
                 'a user cannot request a retry, even of their own upload');
select throws_ok($$ select public.cleanup_old_upload_queue() $$, '42501', null,
                 'a user cannot run the cleanup');
select is_empty($$ update public.monitor_settings set min_progress_interval_ms = 0 returning 1 $$,
                'a user cannot change the fleet pace');

-- Admins read everything, write nothing directly.
select pg_temp.login('admin');
select is((select count(*) from public.upload_queue where id in (pg_temp.up(1), pg_temp.up(2))),
          2::bigint, 'an admin reads every user''s uploads');
select ok((select count(*) from public.upload_events) >= 3, 'an admin reads every user''s log');
select throws_ok($$ update public.upload_queue set status = 'failed' where id = pg_temp.up(1) $$,
                 '42501', null, 'an admin cannot rewrite a user''s upload');
select is(pg_temp.report(pg_temp.ev(10, 1, 7, 'complete')), 'rejected:unknown_upload',
          'an admin cannot report events about a user''s upload');
select isnt_empty($$ update public.monitor_settings set min_progress_interval_ms = 2000 returning 1 $$,
                  'an admin can change the fleet pace');

-- Text is data, never SQL.
select pg_temp.login('A');
select is(pg_temp.report(pg_temp.ev(20, 20, 1, 'begin', jsonb_build_object(
    'local_id', $i$x'); delete from public.upload_queue; --$i$,
    'filename', $i$Robert'); DROP TABLE upload_queue;--.mp4$i$,
    'video_title', $i$%' or 1=1 -- \"$$; select pg_sleep(10)$i$)),
  pg_temp.ev(21, 20, 2, 'fail', jsonb_build_object(
    'error_code', $i$'; truncate public.upload_events; --$i$,
    'error_message', $i$E'\\x00' || chr(0) $$ ; reset role; $i$))),
  'applied,applied', 'injection attempts in text fields are just text');
select pg_temp.logout();
select results_eq(
  $$ select local_id, filename, error_code from public.upload_queue where id = pg_temp.up(20) $$,
  $$ values ($i$x'); delete from public.upload_queue; --$i$,
             $i$Robert'); DROP TABLE upload_queue;--.mp4$i$,
             $i$'; truncate public.upload_events; --$i$) $$,
  'and are stored exactly as sent');
select ok((select count(*) from public.upload_queue) >= 3 and (select count(*) from public.upload_events) >= 4,
          'nothing was deleted or truncated');

-- A 10 MB error message is cut, not refused.
select pg_temp.login('A');
select is(pg_temp.report(pg_temp.begin_ev(30, 30),
  pg_temp.ev(31, 30, 2, 'fail', jsonb_build_object('error_code', 'crash',
    'error_message', 'É' || repeat('stack frame ', 873813)))),
  'applied,applied', 'a 10 MB error message is accepted');
select results_eq(
  $$ select length(error_message), left(error_message, 13) from public.upload_queue where id = pg_temp.up(30) $$,
  $$ values (4000, 'Éstack frame '::text) $$,
  'and cut to its first 4000 characters');
select is((select length(error_message) from public.upload_events where id = pg_temp.eid(31)), 4000,
          'the log keeps the cut message too');

-- Malformed shapes: a clear error, and nothing of the batch is kept.
select throws_ok($$ select public.report_upload_events('{"events": []}') $$, '22023',
                 'events must be a JSON array of event objects', 'an object instead of an array');
select throws_ok($$ select public.report_upload_events(null) $$, '22023', null, 'a null batch');
select throws_ok($$ select public.report_upload_events('"[]"') $$, '22023', null, 'a string batch');
select throws_ok($$ select public.report_upload_events(jsonb_build_array(pg_temp.begin_ev(40, 40), 42)) $$,
                 '22023', null, 'an element that is not an object');
select throws_ok($$ select public.report_upload_events(jsonb_build_array(pg_temp.begin_ev(40, 40),
                      pg_temp.ev(41, 40, 2, 'retry') - 'id')) $$,
                 '22023', 'events[1] must be an object with "id" and "upload_id" (UUID strings), "seq" (an integer) and "kind" (a string)',
                 'an element without an id, with its position');
select throws_ok($$ select public.report_upload_events(jsonb_build_array(pg_temp.ev(41, 40, 2, 'retry') - 'kind')) $$,
                 '22023', null, 'an element without a kind');
select throws_ok($$ select public.report_upload_events(jsonb_build_array(pg_temp.ev(41, 40, 2, 'retry') || '{"upload_id":"not-a-uuid"}')) $$,
                 '22023', null, 'an upload_id that is not a UUID');
select throws_ok($$ select public.report_upload_events(jsonb_build_array(pg_temp.ev(41, 40, 2, 'retry') || '{"seq":"2"}')) $$,
                 '22023', null, 'a seq that is a string');
select throws_ok($$ select public.report_upload_events(jsonb_build_array(pg_temp.ev(41, 40, 2, 'retry') || '{"seq":99999999999999999999}')) $$,
                 '22023', null, 'a seq beyond 64 bits');
select throws_ok($$ select public.report_upload_events(
                      (select jsonb_agg(pg_temp.ev(1000 + i, 41, i, 'retry')) from generate_series(1, 1001) i)) $$,
                 '22023', null, 'more than 1000 events');
select is((select count(*) from public.upload_queue where id in (pg_temp.up(40), pg_temp.up(41))),
          0::bigint, 'a refused batch left nothing behind');

select * from finish();
rollback;
