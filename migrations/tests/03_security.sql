begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

-- Users A, B and the admin, and the helpers (tests.authenticate_as, tests.report, ...):
-- 00_helpers.sql. The users are rolled back at the end.
select tests.create_fixture_users();

select plan(48);

-- A's upload 1 (uploading, 10 %) with its log; B's upload 2.
select tests.authenticate_as('A');
select tests.report(tests.begin_ev(1, 1),
  tests.ev(2, 1, 2, 'progress', '{"bytes_sent":100,"progress":10}'));
select tests.authenticate_as('B');
select tests.report(tests.begin_ev(3, 2));

-- B against A's upload.
select is((select count(*) from public.upload_queue where id = tests.up(1)), 0::bigint,
          'B cannot read A''s upload');
select is((select count(*) from public.upload_events where upload_id = tests.up(1)), 0::bigint,
          'B cannot read A''s upload log');
select throws_ok($$ update public.upload_queue set status = 'failed' where id = tests.up(1) $$,
                 '42501', null, 'B cannot update A''s upload (users hold no UPDATE at all)');
select throws_ok($$ delete from public.upload_queue where id = tests.up(1) $$, '42501', null,
                 'B cannot delete A''s upload (no deletes through the API at all)');
select throws_ok($$ delete from public.upload_queue where id = tests.up(2) $$, '42501', null,
                 'B cannot delete even their own upload through the API');
select throws_ok($$ delete from public.upload_events $$, '42501', null,
                 'nobody deletes from the log through the API');
select throws_ok($$ insert into public.upload_queue (user_id, filename, local_id)
                    values ('a0a0a0a0-0000-4000-8000-00000000000a', 'planted.mp4', 'x') $$,
                 '42501', null, 'B cannot insert an upload in A''s name');
select throws_ok($$ insert into public.upload_events (id, upload_id, user_id, seq, kind, status, stage)
                    values (gen_random_uuid(), tests.up(1), 'b0b0b0b0-0000-4000-8000-00000000000b',
                            99, 'fail', 'failed', 'uploading') $$,
                 '42501', null, 'B cannot write into A''s upload log');
select throws_ok($$ update public.upload_queue set user_id = 'a0a0a0a0-0000-4000-8000-00000000000a'
                    where id = tests.up(2) $$,
                 '42501', null, 'B cannot hand an upload over to A');
select is(tests.report(
  tests.ev(4, 1, 3, 'progress', '{"bytes_sent":900,"progress":90}'),
  tests.ev(5, 1, 4, 'fail', '{"error_code":"x","error_message":"hijacked"}'),
  tests.ev(6, 1, 5, 'complete'),
  tests.begin_ev(7, 1, 6)),
  'rejected:unknown_upload,rejected:unknown_upload,rejected:unknown_upload,rejected:forbidden',
  'B''s events about A''s upload are refused');
select is(tests.report(tests.ev(8, 9, 1, 'begin',
  '{"local_id":"l9","filename":"f.mp4","user_id":"a0a0a0a0-0000-4000-8000-00000000000a"}')),
  'rejected:forbidden', 'a begin with a forged user_id is forbidden');
select is(tests.report(tests.ev(2, 2, 5, 'progress', '{"bytes_sent":1,"progress":1}')),
  'applied', 'reusing the id of A''s event for B''s own upload does not break B''s batch');
select tests.clear_authentication();
select results_eq(
  $$ select status, progress, user_id from public.upload_queue where id = tests.up(1) $$,
  $$ values ('uploading'::text, 10, 'a0a0a0a0-0000-4000-8000-00000000000a'::uuid) $$,
  'A''s upload is untouched');
select is((select count(*) from public.upload_queue where id = tests.up(9)), 0::bigint,
          'the forged begin created nothing');

-- anon calls nothing.
select tests.authenticate_as('anon');
select throws_ok($$ select public.report_upload_events('[]') $$, '42501', null,
                 'anon cannot report events');
select throws_ok($$ select * from public.upload_queue $$, '42501', null, 'anon cannot read uploads');
select throws_ok($$ select * from public.upload_events $$, '42501', null, 'anon cannot read the log');
select throws_ok($$ select * from public.monitor_settings $$, '42501', null,
                 'anon cannot read the settings');
select throws_ok($$ select public.mark_stale_uploads() $$, '42501', null,
                 'anon cannot mark uploads stale');
select throws_ok($$ select public.request_upload_retry(tests.up(1)) $$, '42501', null,
                 'anon cannot request a retry');
select throws_ok($$ select * from public.pending_retry_requests() $$, '42501', null,
                 'anon cannot list retry requests');

-- No sub, no ingest.
select tests.authenticate_as('nosub');
select throws_ok($$ select public.report_upload_events('[]') $$, '42501', null,
                 'a JWT without a sub cannot report events');

-- A non-admin calls admin functions.
select tests.authenticate_as('A');
select throws_ok($$ select public.mark_stale_uploads() $$, '42501', null,
                 'a user cannot mark uploads stale');
select throws_ok($$ select public.request_upload_retry(tests.up(1)) $$, '42501', null,
                 'a user cannot request a retry, even of their own upload');
select throws_ok($$ select public.cleanup_old_upload_queue() $$, '42501', null,
                 'a user cannot run the cleanup');
select is_empty($$ update public.monitor_settings set min_progress_interval_ms = 0 returning 1 $$,
                'a user cannot change the fleet pace');

-- Admins read everything, write nothing directly.
select tests.authenticate_as('admin');
select is((select count(*) from public.upload_queue where id in (tests.up(1), tests.up(2))),
          2::bigint, 'an admin reads every user''s uploads');
select ok((select count(*) from public.upload_events) >= 3, 'an admin reads every user''s log');
select throws_ok($$ update public.upload_queue set status = 'failed' where id = tests.up(1) $$,
                 '42501', null, 'an admin cannot rewrite a user''s upload');
select is(tests.report(tests.ev(10, 1, 7, 'complete')), 'rejected:unknown_upload',
          'an admin cannot report events about a user''s upload');
select isnt_empty($$ update public.monitor_settings set min_progress_interval_ms = 2000 returning 1 $$,
                  'an admin can change the fleet pace');

-- Text is data, never SQL.
select tests.authenticate_as('A');
select is(tests.report(tests.ev(20, 20, 1, 'begin', jsonb_build_object(
    'local_id', $i$x'); delete from public.upload_queue; --$i$,
    'filename', $i$Robert'); DROP TABLE upload_queue;--.mp4$i$,
    'video_title', $i$%' or 1=1 -- \"$$; select pg_sleep(10)$i$)),
  tests.ev(21, 20, 2, 'fail', jsonb_build_object(
    'error_code', $i$'; truncate public.upload_events; --$i$,
    'error_message', $i$E'\\x00' || chr(0) $$ ; reset role; $i$))),
  'applied,applied', 'injection attempts in text fields are just text');
select tests.clear_authentication();
select results_eq(
  $$ select local_id, filename, error_code from public.upload_queue where id = tests.up(20) $$,
  $$ values ($i$x'); delete from public.upload_queue; --$i$,
             $i$Robert'); DROP TABLE upload_queue;--.mp4$i$,
             $i$'; truncate public.upload_events; --$i$) $$,
  'and are stored exactly as sent');
select ok((select count(*) from public.upload_queue) >= 3 and (select count(*) from public.upload_events) >= 4,
          'nothing was deleted or truncated');

-- A 10 MB error message is cut, not refused.
select tests.authenticate_as('A');
select is(tests.report(tests.begin_ev(30, 30),
  tests.ev(31, 30, 2, 'fail', jsonb_build_object('error_code', 'crash',
    'error_message', 'É' || repeat('stack frame ', 873813)))),
  'applied,applied', 'a 10 MB error message is accepted');
select results_eq(
  $$ select length(error_message), left(error_message, 13) from public.upload_queue where id = tests.up(30) $$,
  $$ values (4000, 'Éstack frame '::text) $$,
  'and cut to its first 4000 characters');
select is((select length(error_message) from public.upload_events where id = tests.eid(31)), 4000,
          'the log keeps the cut message too');

-- Malformed shapes: a clear error, and nothing of the batch is kept.
select throws_ok($$ select public.report_upload_events('{"events": []}') $$, '22023',
                 'events must be a JSON array of event objects', 'an object instead of an array');
select throws_ok($$ select public.report_upload_events(null) $$, '22023', null, 'a null batch');
select throws_ok($$ select public.report_upload_events('"[]"') $$, '22023', null, 'a string batch');
select throws_ok($$ select public.report_upload_events(jsonb_build_array(tests.begin_ev(40, 40), 42)) $$,
                 '22023', null, 'an element that is not an object');
select throws_ok($$ select public.report_upload_events(jsonb_build_array(tests.begin_ev(40, 40),
                      tests.ev(41, 40, 2, 'retry') - 'id')) $$,
                 '22023', 'events[1] must be an object with "id" and "upload_id" (UUID strings), "seq" (an integer) and "kind" (a string)',
                 'an element without an id, with its position');
select throws_ok($$ select public.report_upload_events(jsonb_build_array(tests.ev(41, 40, 2, 'retry') - 'kind')) $$,
                 '22023', null, 'an element without a kind');
select throws_ok($$ select public.report_upload_events(jsonb_build_array(tests.ev(41, 40, 2, 'retry') || '{"upload_id":"not-a-uuid"}')) $$,
                 '22023', null, 'an upload_id that is not a UUID');
select throws_ok($$ select public.report_upload_events(jsonb_build_array(tests.ev(41, 40, 2, 'retry') || '{"seq":"2"}')) $$,
                 '22023', null, 'a seq that is a string');
select throws_ok($$ select public.report_upload_events(jsonb_build_array(tests.ev(41, 40, 2, 'retry') || '{"seq":99999999999999999999}')) $$,
                 '22023', null, 'a seq beyond 64 bits');
select throws_ok($$ select public.report_upload_events(
                      (select jsonb_agg(tests.ev(1000 + i, 41, i, 'retry')) from generate_series(1, 1001) i)) $$,
                 '22023', null, 'more than 1000 events');
select is((select count(*) from public.upload_queue where id in (tests.up(40), tests.up(41))),
          0::bigint, 'a refused batch left nothing behind');

select * from finish();
rollback;
