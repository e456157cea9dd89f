begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

-- What one hostile or careless phone could do to everyone, closed: no direct writes, the
-- limits of monitor-core/src/limits.rs as per-event verdicts (never a failed batch) and as
-- CHECK constraints that bind the service role too (20261202090000_ingest_only_writer.sql).

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


select plan(31);

-- A's upload 1 (uploading); B's video, which A must not be able to link.
select pg_temp.login('A');
select pg_temp.report(pg_temp.begin_ev(1, 1),
  pg_temp.ev(2, 1, 2, 'progress', '{"bytes_sent":100,"progress":10}'));
select pg_temp.logout();
insert into public.videos (id, user_id, title, file_path) values
  ('b1b1b1b1-0000-4000-8000-0000000000b1', 'b0b0b0b0-0000-4000-8000-00000000000b', 'B''s video',
   'https://example.test/b.mp4');

-- 1. No direct writes for users (PostgREST's POST/PATCH /rest/v1/upload_queue use these grants).
select pg_temp.login('A');
select throws_ok($$ insert into public.upload_queue (user_id, filename, local_id, started_at)
                    values ('a0a0a0a0-0000-4000-8000-00000000000a', 'x.mp4', 'direct', 'infinity') $$,
                 '42501', null, 'A cannot insert an upload row directly, even their own');
select throws_ok($$ update public.upload_queue set started_at = 'infinity' where id = pg_temp.up(1) $$,
                 '42501', null, 'A cannot update their own row directly (no infinite started_at)');
select throws_ok($$ update public.upload_queue set upload_speed = 'NaN' where id = pg_temp.up(1) $$,
                 '42501', null, 'A cannot set a NaN speed directly');
select throws_ok($$ update public.upload_queue set video_id = 'b1b1b1b1-0000-4000-8000-0000000000b1'
                    where id = pg_temp.up(1) $$,
                 '42501', null, 'A cannot link B''s video directly (nor probe which video ids exist)');
select throws_ok($$ insert into public.upload_events (id, upload_id, user_id, seq, kind, status, stage)
                    values (gen_random_uuid(), pg_temp.up(1), 'a0a0a0a0-0000-4000-8000-00000000000a',
                            99, 'retry_requested', 'pending', 'validating') $$,
                 '42501', null, 'A cannot write a server-only event kind into their own log');
select is((select count(*) from public.upload_queue where id = pg_temp.up(1)), 1::bigint,
          'A still reads their own row');
select ok((select prosecdef from pg_proc where oid = 'public.report_upload_events(jsonb)'::regprocedure),
          'the ingest runs as its owner: the only writer');
select ok((select 'search_path=""' = any(proconfig) from pg_proc
           where oid = 'public.report_upload_events(jsonb)'::regprocedure),
          'the ingest runs with an empty search_path');

-- 2. Bounded strings: per-event verdicts, never a failed batch.
select is(pg_temp.report(
    pg_temp.ev(10, 10, 1, 'begin', jsonb_build_object('local_id', repeat('x', 3000), 'filename', 'a.mp4')),
    pg_temp.begin_ev(11, 11)),
  'rejected:invalid_payload,applied',
  'a 3,000-character local_id is that event''s invalid_payload; its neighbour is applied');
select is(pg_temp.report(
    pg_temp.ev(12, 12, 1, 'begin', jsonb_build_object('local_id', repeat('é', 255), 'filename', 'a.mp4'))),
  'applied', 'a local_id of exactly 255 characters (510 bytes) is accepted');
select is(pg_temp.report(
    pg_temp.ev(13, 13, 1, 'begin', jsonb_build_object('local_id', 'big-meta', 'filename', 'a.mp4',
      'metadata', jsonb_build_object('k', repeat('x', 16384))))),
  'rejected:invalid_payload', 'metadata over 16 KiB is invalid_payload');
select is(pg_temp.report(
    pg_temp.ev(14, 14, 1, 'begin', jsonb_build_object('local_id', 'meta-at-limit', 'filename', 'a.mp4',
      'metadata', jsonb_build_object('k', repeat('x', 16384 - 9))))),
  'applied', 'metadata of exactly 16 KiB as jsonb text is accepted');
select is(pg_temp.report(
    pg_temp.ev(15, 15, 1, 'begin', jsonb_build_object('local_id', 'long-texts',
      'filename', repeat('f', 1000000), 'video_title', repeat('t', 1000000),
      'device', jsonb_build_object('model', repeat('m', 1000000), 'platform', 'ios')))),
  'applied', '1 MB title, filename and device model are applied, not refused');
select pg_temp.logout();
select is((select (char_length(video_title), char_length(filename), char_length(device_info ->> 'model'),
                   device_info ->> 'platform')::text
           from public.upload_queue where id = pg_temp.up(15)),
          '(500,1000,100,ios)', 'and stored cut to 500, 1,000 and 100 characters');
select pg_temp.login('A');
select is(pg_temp.report(pg_temp.ev(16, 15, 2, 'fail', jsonb_build_object(
    'error_code', repeat('c', 5000), 'error_message', repeat('m', 5000)))),
  'applied', 'a fail with a 5,000-character code and message is applied');
select pg_temp.logout();
select is((select (char_length(error_code), char_length(error_message))::text
           from public.upload_queue where id = pg_temp.up(15)),
          '(100,4000)', 'code cut to 100 characters, message to 4,000');
select is((select (char_length(error_code), char_length(error_message))::text
           from public.upload_events where id = pg_temp.eid(16)),
          '(100,4000)', 'the log keeps the cut values too');
select pg_temp.login('A');

-- Times and speeds.
select is(pg_temp.report(
    jsonb_set(pg_temp.ev(20, 1, 3, 'progress', '{"bytes_sent":200,"progress":20}'), '{at}', '"1970-01-01T00:00:00Z"'),
    jsonb_set(pg_temp.ev(21, 1, 4, 'progress', '{"bytes_sent":200,"progress":20}'), '{at}', '"2100-01-01T00:00:00Z"'),
    jsonb_set(pg_temp.ev(22, 1, 5, 'progress', '{"bytes_sent":200,"progress":20}'), '{at}', '"9999-12-31T23:59:59Z"')),
  'rejected:invalid_payload,rejected:invalid_payload,rejected:invalid_payload',
  'a device time outside [2000, 2100) is invalid_payload');
select is(pg_temp.report(pg_temp.ev(23, 1, 6, 'progress', '{"bytes_sent":200,"progress":20,"upload_speed":1e400}')),
  'rejected:invalid_payload', 'a speed beyond f64 is invalid_payload (Rust could not parse it)');
select is(pg_temp.report(pg_temp.ev(24, 1, 7, 'progress', '{"bytes_sent":200,"progress":20,"upload_speed":1000000}')),
  'rejected:out_of_range', 'a speed above 100,000 MB/s is out_of_range');
select is(pg_temp.report(pg_temp.ev(25, 1, 8, 'progress', '{"bytes_sent":200,"progress":20,"upload_speed":100000}')),
  'applied', 'a speed of exactly 100,000 MB/s is applied');
select is(pg_temp.report(pg_temp.ev(26, 1, 9, 'stale'), pg_temp.ev(27, 1, 10, 'retry_requested')),
  'rejected:invalid_payload,rejected:invalid_payload', 'server-only kinds are invalid_payload');

-- A completion naming B's video is applied without the link.
select is(pg_temp.report(pg_temp.ev(28, 1, 11, 'complete',
    '{"video_id":"b1b1b1b1-0000-4000-8000-0000000000b1"}')), 'applied',
  'a completion naming B''s video is applied');
select pg_temp.logout();
select is((select (status, video_id)::text from public.upload_queue where id = pg_temp.up(1)),
          '(completed,)', 'but B''s video is not linked to A''s upload');

-- 3. The second wall: the constraints bind the service role too.
select pg_temp.login('service');
select throws_ok($$ update public.upload_queue set started_at = 'infinity' where id = pg_temp.up(1) $$,
                 '23514', null, 'not even the service role stores an infinite started_at');
select throws_ok($$ update public.upload_queue set completed_at = '-infinity' where id = pg_temp.up(1) $$,
                 '23514', null, 'nor a -infinity completed_at');
select throws_ok($$ update public.upload_queue set completed_at = '200000-01-01' where id = pg_temp.up(1) $$,
                 '23514', null, 'nor a year-200000 date');
select throws_ok($$ update public.upload_queue set upload_speed = 'NaN' where id = pg_temp.up(1) $$,
                 '23514', null, 'nor a NaN speed');
select throws_ok($$ update public.upload_queue set upload_speed = 'Infinity' where id = pg_temp.up(1) $$,
                 '23514', null, 'nor an infinite speed');
select throws_ok($$ update public.upload_queue set upload_speed = 1e400 where id = pg_temp.up(1) $$,
                 '23514', null, 'nor a 401-digit speed');
select throws_ok($$ update public.upload_queue set filename = repeat('f', 30000000) where id = pg_temp.up(1) $$,
                 '23514', null, 'nor a 30 MB filename');

select * from finish();
rollback;
