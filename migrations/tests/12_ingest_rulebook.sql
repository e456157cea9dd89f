begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

-- 20261207100000 (the retry limit's one SQL source) and 20261207100100 (report_upload_events
-- on the row type, with its helpers; invalid_payload names the field and what it accepts).
-- Users A, B and the admin, and the helpers: 00_helpers.sql. Rolled back at the end.
select tests.create_fixture_users();

select plan(17);

-- The limit, once.
select is(private.max_retries(), 3, 'private.max_retries() is event.rs MAX_RETRIES, 3');
select ok((select pg_get_constraintdef(oid) like '%private.max_retries()%' from pg_constraint
           where conname = 'valid_retry_count' and conrelid = 'public.upload_queue'::regclass),
          'upload_queue''s retry_count CHECK reads private.max_retries()');
insert into public.upload_queue (id, user_id, local_id, filename, status, retry_count)
values (tests.up(1201), 'a0a0a0a0-0000-4000-8000-00000000000a', 'rulebook-1', 'f.mov', 'failed', 3);
select throws_ok($$ update public.upload_queue set retry_count = 4 where id = tests.up(1201) $$,
                 '23514', null, 'a fourth retry breaks the CHECK, the service role included');

-- The function keeps its security.
select ok((select prosecdef from pg_proc where oid = 'public.report_upload_events(jsonb)'::regprocedure),
          'report_upload_events is SECURITY DEFINER');
select is((select proconfig from pg_proc where oid = 'public.report_upload_events(jsonb)'::regprocedure),
          array['search_path=""'], 'report_upload_events runs with an empty search_path');
select ok(not has_function_privilege('authenticated', 'private.ingest_apply_event(public.upload_queue, jsonb, uuid)', 'execute')
          and not has_function_privilege('anon', 'private.ingest_payload_problem(jsonb)', 'execute')
          and not has_function_privilege('authenticated', 'private.ingest_begin_row(jsonb, uuid)', 'execute')
          and not has_function_privilege('authenticated', 'private.ingest_log_row(public.upload_queue, jsonb, uuid)', 'execute'),
          'no API role may call the rulebook''s helpers');

-- invalid_payload names the field and what it accepts; no other verdict has a detail.
create temp table answers on commit drop as
select public.report_upload_events(jsonb_build_array(
  tests.ev(1, 1210, 1, 'begin', '{"local_id":"r-1","filename":"a.mov","source":"camera"}'),
  tests.ev(2, 1211, 1, 'begin', '{"local_id":"r-2","filename":""}'),
  tests.ev(3, 1212, 0, 'begin', '{"local_id":"r-3","filename":"a.mov"}'),
  tests.ev(4, 1213, 1, 'rewind'),
  tests.ev(5, 1214, 1, 'begin', '{"local_id":"r-5","filename":"a.mov","file_size":"big"}'),
  tests.ev(6, 1215, 1, 'progress', '{"bytes_sent":1}'),
  tests.begin_ev(7, 1216),
  tests.ev(8, 1216, 2, 'stage', '{"stage":"teleporting"}'),
  tests.ev(9, 1216, 3, 'fail', '{"error_code":"x","error_message":"y","retry_count":-1}'),
  tests.ev(10, 1217, 1, 'progress', '{"bytes_sent":1,"progress":1}'),
  tests.ev(11, 1216, 1, 'begin', '{"local_id":"r-11","filename":"b.mov","at":"yesterday"}')
)) as a
from (select tests.authenticate_as('A')) as login;
select tests.clear_authentication();

create function pg_temp.detail(n int) returns text language sql as $$
  select r ->> 'detail' from answers, jsonb_array_elements(a -> 'results') as r
  where (r ->> 'id')::uuid = tests.eid(n) $$;

select is(pg_temp.detail(1), 'source: "recorded" or "imported", null or absent',
          'source "camera": the field and the two accepted values');
select is(pg_temp.detail(2), 'filename: a non-empty string', 'an empty filename');
select is(pg_temp.detail(3), 'seq: an integer of at least 1', 'seq 0');
select is(pg_temp.detail(4), 'kind: one of begin, progress, stage, complete, fail, retry',
          'an unknown kind');
select is(pg_temp.detail(5), 'file_size: an integer of at least 0, null or absent',
          'a file_size that is a string');
select is(pg_temp.detail(6), 'progress: an integer', 'a progress without its percent');
select is(pg_temp.detail(8),
          'stage: one of validating, extracting_metadata, uploading, creating_record, generating_thumbnails, queuing_transcription',
          'an unknown stage, with the six accepted');
select is(pg_temp.detail(9), 'retry_count: an integer of at least 0, null or absent',
          'a negative retry_count');
select is(pg_temp.detail(11), 'at: an RFC 3339 time from 2000-01-01 to before 2100-01-01',
          'a device time that is not a time');
select is(tests.verdicts((select a from answers)),
          'rejected:invalid_payload,rejected:invalid_payload,rejected:invalid_payload,'
          'rejected:invalid_payload,rejected:invalid_payload,rejected:invalid_payload,applied,'
          'rejected:invalid_payload,rejected:invalid_payload,rejected:unknown_upload,'
          'rejected:invalid_payload',
          'the verdicts themselves are unchanged');
select ok((select bool_and(not (r ? 'detail')) from answers, jsonb_array_elements(a -> 'results') as r
           where r ->> 'reason' is distinct from 'invalid_payload'),
          'an applied or unknown_upload verdict carries no detail');

select * from finish();
rollback;
