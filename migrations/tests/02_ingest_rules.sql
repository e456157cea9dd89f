begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

-- Users A, B and the admin, and the helpers (tests.authenticate_as, tests.report, ...):
-- 00_helpers.sql. The users are rolled back at the end.
select tests.create_fixture_users();

select plan(40);

select tests.authenticate_as('A');

-- begin creates the upload
select is(tests.report(tests.begin_ev(1, 1)), 'applied', 'a begin is applied');
select results_eq(
  $$ select status, stage, progress, bytes_sent, retry_count, last_seq, filename, file_size,
            local_id, user_id from public.upload_queue where id = tests.up(1) $$,
  $$ values ('pending'::text, 'validating'::text, 0, 0::bigint, 0, 1::bigint, 'video-1.mp4'::text,
             1000::bigint, 'local-1'::text, 'a0a0a0a0-0000-4000-8000-00000000000a'::uuid) $$,
  'begin creates a pending upload at stage validating, owned by the caller');
select is(tests.report(tests.begin_ev(2, 1, 2)), 'rejected:already_begun',
          'a second begin of the same upload is already_begun');
select is(tests.report(tests.begin_ev(1, 1)), 'duplicate',
          'a replayed begin is a duplicate');
select is(tests.report(tests.ev(3, 2, 1, 'begin', '{"local_id":"local-1","filename":"b.mp4"}')), 'rejected:local_id_conflict',
          'another upload with the same local_id is local_id_conflict');

-- progress
select is(tests.report(
  tests.ev(10, 1, 2, 'progress', '{"bytes_sent":100,"progress":10,"upload_speed":1.5}'),
  tests.ev(11, 1, 3, 'progress', '{"bytes_sent":300,"progress":30}')),
  'applied,applied', 'progress events are applied');
select results_eq(
  $$ select status, stage, progress, bytes_sent, upload_speed, last_seq
     from public.upload_queue where id = tests.up(1) $$,
  $$ values ('uploading'::text, 'uploading'::text, 30, 300::bigint, 1.5::numeric, 3::bigint) $$,
  'progress makes the upload uploading at stage uploading; an absent speed keeps the last one');
select is(tests.report(
  tests.ev(12, 1, 2, 'progress', '{"bytes_sent":50,"progress":5}')),
  'superseded', 'a late progress (seq below last_seq) is superseded');
select is(tests.report(
  tests.ev(13, 1, 4, 'progress', '{"bytes_sent":200,"progress":20}')),
  'applied', 'a lower progress with a higher seq is applied ...');
select results_eq(
  $$ select progress, bytes_sent, last_seq from public.upload_queue where id = tests.up(1) $$,
  $$ values (30, 300::bigint, 4::bigint) $$,
  '... but never moves the upload backwards');
select is(tests.report(
  tests.ev(14, 1, 5, 'progress', '{"bytes_sent":100,"progress":101}'),
  tests.ev(15, 1, 6, 'progress', '{"bytes_sent":100,"progress":-1}'),
  tests.ev(16, 1, 7, 'progress', '{"bytes_sent":1001,"progress":50}'),
  tests.ev(17, 1, 8, 'progress', '{"bytes_sent":-1,"progress":50}'),
  tests.ev(18, 1, 9, 'progress', '{"bytes_sent":500,"progress":50,"upload_speed":-2}')),
  'rejected:out_of_range,rejected:out_of_range,rejected:out_of_range,rejected:out_of_range,rejected:out_of_range',
  'progress outside 0-100, bytes below 0 or above file_size, negative speed: out_of_range');
select is((select last_seq from public.upload_queue where id = tests.up(1)), 4::bigint,
          'rejected events do not move last_seq');

-- stages
select is(tests.report(
  tests.ev(20, 1, 10, 'stage', '{"stage":"creating_record"}'),
  tests.ev(21, 1, 11, 'stage', '{"stage":"creating_record"}'),
  tests.ev(22, 1, 12, 'stage', '{"stage":"extracting_metadata"}')),
  'applied,applied,rejected:stage_order',
  'a stage may repeat but never go back');

-- complete and terminal state
select is(tests.report(tests.ev(30, 1, 13, 'complete')), 'applied', 'complete is applied');
select results_eq(
  $$ select status, progress, bytes_sent, completed_at is not null, stage
     from public.upload_queue where id = tests.up(1) $$,
  $$ values ('completed'::text, 100, 1000::bigint, true, 'creating_record'::text) $$,
  'complete sets completed, 100 %, bytes = file_size, completed_at; the stage stays');
select is(tests.report(
  tests.ev(31, 1, 14, 'progress', '{"bytes_sent":10,"progress":1}'),
  tests.ev(32, 1, 15, 'stage', '{"stage":"queuing_transcription"}'),
  tests.ev(33, 1, 16, 'complete'),
  tests.ev(34, 1, 17, 'fail', '{"error_code":"network","error_message":"x"}'),
  tests.ev(35, 1, 18, 'retry')),
  'rejected:terminal_state,rejected:terminal_state,rejected:terminal_state,rejected:terminal_state,rejected:invalid_transition',
  'a completed upload is left only by nothing: retry needs failed');

-- fail, retry, retry limit
select is(tests.report(tests.begin_ev(40, 3),
  tests.ev(41, 3, 2, 'retry'),
  tests.ev(42, 3, 3, 'fail', '{"error_code":"network","error_message":"Network request failed","retry_count":1}')),
  'applied,rejected:invalid_transition,applied', 'retry of a pending upload is invalid_transition; fail applies');
select results_eq(
  $$ select status, error_code, error_message, retry_count, completed_at is not null
     from public.upload_queue where id = tests.up(3) $$,
  $$ values ('failed'::text, 'network'::text, 'Network request failed'::text, 1, true) $$,
  'fail records the error, the retry count and completed_at');
-- An admin's retry request (users hold no UPDATE on the table: set as the owner).
select tests.clear_authentication();
update public.upload_queue set retry_requested_at = now() where id = tests.up(3);
select tests.authenticate_as('A');
select is(tests.report(tests.ev(43, 3, 4, 'retry')), 'applied', 'retry of a failed upload is applied');
select results_eq(
  $$ select status, stage, progress, bytes_sent, error_code, error_message, completed_at,
            retry_requested_at, retry_count, upload_speed
     from public.upload_queue where id = tests.up(3) $$,
  $$ values ('pending'::text, 'validating'::text, 0, 0::bigint, null::text, null::text,
             null::timestamptz, null::timestamptz, 2, null::numeric) $$,
  'retry resets the attempt and counts it');
select is(tests.report(
  tests.ev(44, 3, 5, 'fail', '{"error_code":"timeout","error_message":"t","retry_count":4}')),
  'rejected:retry_limit', 'a fail claiming more than 3 retries is retry_limit');
select is(tests.report(
  tests.ev(45, 3, 6, 'fail', '{"error_code":"timeout","error_message":"t"}'),
  tests.ev(46, 3, 7, 'retry'),
  tests.ev(47, 3, 8, 'fail', '{"error_code":"timeout","error_message":"t"}'),
  tests.ev(48, 3, 9, 'retry')),
  'applied,applied,applied,rejected:retry_limit', 'the fourth retry is retry_limit');
select is((select retry_count from public.upload_queue where id = tests.up(3)), 3,
          '"Tentative 3/3" is the last');

-- ordering inside a batch
select is(tests.report(
  tests.ev(51, 4, 2, 'progress', '{"bytes_sent":100,"progress":10}'),
  tests.begin_ev(50, 4),
  tests.ev(52, 5, 1, 'progress', '{"bytes_sent":100,"progress":10}')),
  'applied,applied,rejected:unknown_upload',
  'events are applied per upload in seq order, answered in input order; no begin, unknown_upload');
select is(tests.report(
  tests.ev(53, 4, 3, 'progress', '{"bytes_sent":200,"progress":20}'),
  tests.ev(53, 4, 4, 'progress', '{"bytes_sent":300,"progress":30}')),
  'applied,duplicate', 'a second copy of an id in one batch is a duplicate, whatever it says');
select is((select progress from public.upload_queue where id = tests.up(4)), 20,
          'the duplicate copy changed nothing');
select is(tests.report(
  tests.ev(54, 4, 5, 'progress', '{"bytes_sent":400,"progress":40}'),
  tests.ev(55, 4, 5, 'progress', '{"bytes_sent":500,"progress":50}')),
  'applied,superseded', 'two events with one seq: first come, the second superseded');

-- Uploads run in the order of their first non-duplicate event: upload 11's first event is a
-- copy of event 100 (upload 10's begin), so upload 12's begin runs before upload 11's and
-- wins the shared local_id.
select is(tests.report(
  tests.ev(100, 10, 1, 'begin', '{"local_id":"first","filename":"a.mp4"}'),
  tests.ev(100, 11, 2, 'progress', '{"bytes_sent":1,"progress":1}'),
  tests.ev(101, 12, 1, 'begin', '{"local_id":"shared","filename":"b.mp4"}'),
  tests.ev(102, 11, 1, 'begin', '{"local_id":"shared","filename":"c.mp4"}')),
  'applied,duplicate,applied,rejected:local_id_conflict',
  'a duplicate does not give its upload an earlier turn');

-- the log keep rule
select is(tests.report(tests.begin_ev(60, 6),
  tests.ev(61, 6, 2, 'progress', '{"bytes_sent":10,"progress":1}'),
  tests.ev(62, 6, 3, 'progress', '{"bytes_sent":20,"progress":2}'),
  tests.ev(63, 6, 4, 'progress', '{"bytes_sent":150,"progress":15}'),
  tests.ev(64, 6, 5, 'progress', '{"bytes_sent":160,"progress":16}'),
  tests.ev(65, 6, 6, 'stage', '{"stage":"creating_record"}'),
  tests.ev(66, 6, 7, 'progress', '{"bytes_sent":250,"progress":25}')),
  'applied,applied,applied,applied,applied,applied,applied', 'a busy upload');
select results_eq(
  $$ select kind, seq, progress from public.upload_events where upload_id = tests.up(6)
     order by seq $$,
  $$ values ('begin'::text, 1::bigint, 0), ('progress', 2, 1), ('progress', 4, 15),
            ('stage', 6, 16), ('progress', 7, 25) $$,
  'the log keeps transitions, the first progress and 10-point milestones only');
select is(tests.report(tests.ev(62, 6, 3, 'progress', '{"bytes_sent":20,"progress":2}')),
          'superseded', 'a replayed progress that was not kept is superseded');

-- begin's fields
select is(tests.report(tests.ev(70, 7, 1, 'begin', jsonb_build_object(
  'local_id', 'import_7', 'filename', 'IMG_0007.MOV', 'file_size', 52428800,
  'metadata', jsonb_build_object('duration', 12.5, 'isImported', true, 'orientation', 'portrait'),
  'device', jsonb_build_object('platform', 'ios', 'os_version', '18.1', 'app_version', '3.2.0',
                               'model', 'iPhone15,2', 'secret', 'dropped'),
  'user_id', 'a0a0a0a0-0000-4000-8000-00000000000a'))),
  'applied', 'a begin naming its own user is applied');
select results_eq(
  $$ select source, duration, device_info, metadata ->> 'orientation', client_updated_at
     from public.upload_queue where id = tests.up(7) $$,
  $$ values ('imported'::text, 13, '{"platform":"ios","os_version":"18.1","app_version":"3.2.0","model":"iPhone15,2"}'::jsonb,
             'portrait'::text, '2026-11-24T09:00:00Z'::timestamptz) $$,
  'source from metadata.isImported, duration rounded, device info, metadata kept, device time');

-- invalid payloads
select is(tests.report(
  tests.ev(80, 8, 1, 'begin', '{"local_id":"l8","filename":"a.mp4","at":null}'),
  tests.ev(81, 8, 1, 'begin', '{"local_id":"l8","filename":"a.mp4","at":"2026-02-30T00:00:00Z"}'),
  tests.ev(82, 8, 1, 'teleport'),
  tests.ev(83, 8, 0, 'begin', '{"local_id":"l8","filename":"a.mp4"}'),
  tests.ev(84, 8, 1, 'begin', '{"local_id":"","filename":"a.mp4"}'),
  tests.ev(85, 8, 1, 'begin', '{"local_id":"l8","filename":"a.mp4","metadata":[1]}'),
  tests.ev(86, 8, 1, 'begin', '{"local_id":"l8","filename":"a.mp4","file_size":-1}'),
  tests.ev(87, 1, 30, 'progress', '{"bytes_sent":"100","progress":10}'),
  tests.ev(88, 1, 31, 'progress', '{"bytes_sent":100,"progress":10.5}'),
  tests.ev(89, 1, 32, 'stage', '{"stage":"compressing"}'),
  tests.ev(90, 3, 40, 'fail', '{"error_code":"x","error_message":"y","retry_count":-1}'),
  tests.ev(91, 3, 41, 'fail', '{"error_code":"x"}'),
  tests.ev(92, 8, 1, 'begin', '{"local_id":"l8","filename":"a.mp4","source":"downloaded"}')),
  'rejected:invalid_payload,rejected:invalid_payload,rejected:invalid_payload,rejected:invalid_payload,rejected:invalid_payload,rejected:invalid_payload,rejected:invalid_payload,rejected:invalid_payload,rejected:invalid_payload,rejected:invalid_payload,rejected:invalid_payload,rejected:invalid_payload,rejected:invalid_payload',
  'malformed events are invalid_payload, one by one, whatever their upload''s state');
select is((select count(*) from public.upload_queue where id = tests.up(8)), 0::bigint,
          'no invalid begin created anything');

-- replaying a whole batch is a no-op
create temp table replay_before as
  select to_jsonb(q) - 'updated_at' as row_json,
         (select count(*) from public.upload_events e where e.upload_id = q.id) as logged
  from public.upload_queue q where q.id = tests.up(6);
select is(tests.report(tests.begin_ev(60, 6),
  tests.ev(61, 6, 2, 'progress', '{"bytes_sent":10,"progress":1}'),
  tests.ev(62, 6, 3, 'progress', '{"bytes_sent":20,"progress":2}'),
  tests.ev(63, 6, 4, 'progress', '{"bytes_sent":150,"progress":15}'),
  tests.ev(64, 6, 5, 'progress', '{"bytes_sent":160,"progress":16}'),
  tests.ev(65, 6, 6, 'stage', '{"stage":"creating_record"}'),
  tests.ev(66, 6, 7, 'progress', '{"bytes_sent":250,"progress":25}')),
  'duplicate,duplicate,superseded,duplicate,superseded,duplicate,duplicate',
  'a replayed batch is duplicate (logged events) or superseded (unlogged progress)');
select is((select to_jsonb(q) - 'updated_at' from public.upload_queue q where q.id = tests.up(6)),
          (select row_json from replay_before), 'and leaves the upload as it was');
select is((select count(*) from public.upload_events where upload_id = tests.up(6)),
          (select logged from replay_before), 'and adds nothing to its log');

-- the response's shape and the fleet pace
select is(jsonb_array_length(public.report_upload_events('[]'::jsonb) -> 'results'), 0,
          'an empty batch answers no verdicts');
select tests.authenticate_as('service');
update public.monitor_settings set min_progress_interval_ms = 5000;
select tests.authenticate_as('A');
select is(public.report_upload_events(jsonb_build_array(tests.begin_ev(1, 1))),
  jsonb_build_object('results', jsonb_build_array(jsonb_build_object('id', tests.eid(1), 'outcome', 'duplicate')),
                     'min_progress_interval_ms', 5000),
  'the answer carries the verdicts and the pace the operator set');

select * from finish();
rollback;
