begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

-- What one hostile or careless phone could do to everyone, closed: no direct writes, the
-- limits of monitor-core/src/limits.rs as per-event verdicts (never a failed batch) and as
-- CHECK constraints that bind the service role too (20261202090000_ingest_only_writer.sql).

-- Users A, B and the admin, and the helpers (tests.authenticate_as, tests.report, ...):
-- 00_helpers.sql. The users are rolled back at the end.
select tests.create_fixture_users();


select plan(31);

-- A's upload 1 (uploading); B's video, which A must not be able to link.
select tests.authenticate_as('A');
select tests.report(tests.begin_ev(1, 1),
  tests.ev(2, 1, 2, 'progress', '{"bytes_sent":100,"progress":10}'));
select tests.clear_authentication();
insert into public.videos (id, user_id, title, file_path) values
  ('b1b1b1b1-0000-4000-8000-0000000000b1', 'b0b0b0b0-0000-4000-8000-00000000000b', 'B''s video',
   'https://example.test/b.mp4');

-- 1. No direct writes for users (PostgREST's POST/PATCH /rest/v1/upload_queue use these grants).
select tests.authenticate_as('A');
select throws_ok($$ insert into public.upload_queue (user_id, filename, local_id, started_at)
                    values ('a0a0a0a0-0000-4000-8000-00000000000a', 'x.mp4', 'direct', 'infinity') $$,
                 '42501', null, 'A cannot insert an upload row directly, even their own');
select throws_ok($$ update public.upload_queue set started_at = 'infinity' where id = tests.up(1) $$,
                 '42501', null, 'A cannot update their own row directly (no infinite started_at)');
select throws_ok($$ update public.upload_queue set upload_speed = 'NaN' where id = tests.up(1) $$,
                 '42501', null, 'A cannot set a NaN speed directly');
select throws_ok($$ update public.upload_queue set video_id = 'b1b1b1b1-0000-4000-8000-0000000000b1'
                    where id = tests.up(1) $$,
                 '42501', null, 'A cannot link B''s video directly (nor probe which video ids exist)');
select throws_ok($$ insert into public.upload_events (id, upload_id, user_id, seq, kind, status, stage)
                    values (gen_random_uuid(), tests.up(1), 'a0a0a0a0-0000-4000-8000-00000000000a',
                            99, 'retry_requested', 'pending', 'validating') $$,
                 '42501', null, 'A cannot write a server-only event kind into their own log');
select is((select count(*) from public.upload_queue where id = tests.up(1)), 1::bigint,
          'A still reads their own row');
select ok((select prosecdef from pg_proc where oid = 'public.report_upload_events(jsonb)'::regprocedure),
          'the ingest runs as its owner: the only writer');
select ok((select 'search_path=""' = any(proconfig) from pg_proc
           where oid = 'public.report_upload_events(jsonb)'::regprocedure),
          'the ingest runs with an empty search_path');

-- 2. Bounded strings: per-event verdicts, never a failed batch.
select is(tests.report(
    tests.ev(10, 10, 1, 'begin', jsonb_build_object('local_id', repeat('x', 3000), 'filename', 'a.mp4')),
    tests.begin_ev(11, 11)),
  'rejected:invalid_payload,applied',
  'a 3,000-character local_id is that event''s invalid_payload; its neighbour is applied');
select is(tests.report(
    tests.ev(12, 12, 1, 'begin', jsonb_build_object('local_id', repeat('é', 255), 'filename', 'a.mp4'))),
  'applied', 'a local_id of exactly 255 characters (510 bytes) is accepted');
select is(tests.report(
    tests.ev(13, 13, 1, 'begin', jsonb_build_object('local_id', 'big-meta', 'filename', 'a.mp4',
      'metadata', jsonb_build_object('k', repeat('x', 16384))))),
  'rejected:invalid_payload', 'metadata over 16 KiB is invalid_payload');
select is(tests.report(
    tests.ev(14, 14, 1, 'begin', jsonb_build_object('local_id', 'meta-at-limit', 'filename', 'a.mp4',
      'metadata', jsonb_build_object('k', repeat('x', 16384 - 9))))),
  'applied', 'metadata of exactly 16 KiB as jsonb text is accepted');
select is(tests.report(
    tests.ev(15, 15, 1, 'begin', jsonb_build_object('local_id', 'long-texts',
      'filename', repeat('f', 1000000), 'video_title', repeat('t', 1000000),
      'device', jsonb_build_object('model', repeat('m', 1000000), 'platform', 'ios')))),
  'applied', '1 MB title, filename and device model are applied, not refused');
select tests.clear_authentication();
select is((select (char_length(video_title), char_length(filename), char_length(device_info ->> 'model'),
                   device_info ->> 'platform')::text
           from public.upload_queue where id = tests.up(15)),
          '(500,1000,100,ios)', 'and stored cut to 500, 1,000 and 100 characters');
select tests.authenticate_as('A');
select is(tests.report(tests.ev(16, 15, 2, 'fail', jsonb_build_object(
    'error_code', repeat('c', 5000), 'error_message', repeat('m', 5000)))),
  'applied', 'a fail with a 5,000-character code and message is applied');
select tests.clear_authentication();
select is((select (char_length(error_code), char_length(error_message))::text
           from public.upload_queue where id = tests.up(15)),
          '(100,4000)', 'code cut to 100 characters, message to 4,000');
select is((select (char_length(error_code), char_length(error_message))::text
           from public.upload_events where id = tests.eid(16)),
          '(100,4000)', 'the log keeps the cut values too');
select tests.authenticate_as('A');

-- Times and speeds.
select is(tests.report(
    jsonb_set(tests.ev(20, 1, 3, 'progress', '{"bytes_sent":200,"progress":20}'), '{at}', '"1970-01-01T00:00:00Z"'),
    jsonb_set(tests.ev(21, 1, 4, 'progress', '{"bytes_sent":200,"progress":20}'), '{at}', '"2100-01-01T00:00:00Z"'),
    jsonb_set(tests.ev(22, 1, 5, 'progress', '{"bytes_sent":200,"progress":20}'), '{at}', '"9999-12-31T23:59:59Z"')),
  'rejected:invalid_payload,rejected:invalid_payload,rejected:invalid_payload',
  'a device time outside [2000, 2100) is invalid_payload');
select is(tests.report(tests.ev(23, 1, 6, 'progress', '{"bytes_sent":200,"progress":20,"upload_speed":1e400}')),
  'rejected:invalid_payload', 'a speed beyond f64 is invalid_payload (Rust could not parse it)');
select is(tests.report(tests.ev(24, 1, 7, 'progress', '{"bytes_sent":200,"progress":20,"upload_speed":1000000}')),
  'rejected:out_of_range', 'a speed above 100,000 MB/s is out_of_range');
select is(tests.report(tests.ev(25, 1, 8, 'progress', '{"bytes_sent":200,"progress":20,"upload_speed":100000}')),
  'applied', 'a speed of exactly 100,000 MB/s is applied');
select is(tests.report(tests.ev(26, 1, 9, 'stale'), tests.ev(27, 1, 10, 'retry_requested')),
  'rejected:invalid_payload,rejected:invalid_payload', 'server-only kinds are invalid_payload');

-- A completion naming B's video is applied without the link.
select is(tests.report(tests.ev(28, 1, 11, 'complete',
    '{"video_id":"b1b1b1b1-0000-4000-8000-0000000000b1"}')), 'applied',
  'a completion naming B''s video is applied');
select tests.clear_authentication();
select is((select (status, video_id)::text from public.upload_queue where id = tests.up(1)),
          '(completed,)', 'but B''s video is not linked to A''s upload');

-- 3. The second wall: the constraints bind the service role too.
select tests.authenticate_as('service');
select throws_ok($$ update public.upload_queue set started_at = 'infinity' where id = tests.up(1) $$,
                 '23514', null, 'not even the service role stores an infinite started_at');
select throws_ok($$ update public.upload_queue set completed_at = '-infinity' where id = tests.up(1) $$,
                 '23514', null, 'nor a -infinity completed_at');
select throws_ok($$ update public.upload_queue set completed_at = '200000-01-01' where id = tests.up(1) $$,
                 '23514', null, 'nor a year-200000 date');
select throws_ok($$ update public.upload_queue set upload_speed = 'NaN' where id = tests.up(1) $$,
                 '23514', null, 'nor a NaN speed');
select throws_ok($$ update public.upload_queue set upload_speed = 'Infinity' where id = tests.up(1) $$,
                 '23514', null, 'nor an infinite speed');
select throws_ok($$ update public.upload_queue set upload_speed = 1e400 where id = tests.up(1) $$,
                 '23514', null, 'nor a 401-digit speed');
select throws_ok($$ update public.upload_queue set filename = repeat('f', 30000000) where id = tests.up(1) $$,
                 '23514', null, 'nor a 30 MB filename');

select * from finish();
rollback;
