begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

-- Users A, B and the admin, and the helpers (tests.authenticate_as, tests.report, ...):
-- 00_helpers.sql. The users are rolled back at the end.
select tests.create_fixture_users();

select plan(21);

-- Arranged as the superuser (direct inserts keep the given updated_at; the trigger fires on
-- update only): A's uploads
--   1: uploading, silent for 45 minutes   -> stale
--   2: pending, silent for 2 hours        -> stale
--   3: uploading, reported 5 minutes ago  -> left alone
--   4: completed 45 minutes ago           -> left alone
--   5: failed (retry_count 1)             -> retry requests
--   6: failed with its 3 retries used
insert into public.upload_queue (id, user_id, filename, local_id, status, stage, progress, retry_count, last_seq, updated_at, completed_at)
values
  (tests.up(1), 'a0a0a0a0-0000-4000-8000-00000000000a', 'v1.mp4', 'l1', 'uploading', 'uploading', 40, 0, 7, now() - interval '45 minutes', null),
  (tests.up(2), 'a0a0a0a0-0000-4000-8000-00000000000a', 'v2.mp4', 'l2', 'pending', 'validating', 0, 0, 1, now() - interval '2 hours', null),
  (tests.up(3), 'a0a0a0a0-0000-4000-8000-00000000000a', 'v3.mp4', 'l3', 'uploading', 'uploading', 50, 0, 3, now() - interval '5 minutes', null),
  (tests.up(4), 'a0a0a0a0-0000-4000-8000-00000000000a', 'v4.mp4', 'l4', 'completed', 'queuing_transcription', 100, 0, 9, now() - interval '45 minutes', now() - interval '45 minutes'),
  (tests.up(5), 'a0a0a0a0-0000-4000-8000-00000000000a', 'v5.mp4', 'l5', 'failed', 'uploading', 30, 1, 4, now(), now()),
  (tests.up(6), 'a0a0a0a0-0000-4000-8000-00000000000a', 'v6.mp4', 'l6', 'failed', 'uploading', 30, 3, 4, now(), now());

-- mark_stale_uploads
select tests.authenticate_as('admin');
-- Counts are at least: the database may hold other rows (a shared dev stack, a real project).
select ok(public.mark_stale_uploads() >= 2, 'an admin marks the silent uploads stale');
select tests.clear_authentication();
select results_eq(
  $$ select id, status, error_code, completed_at is not null, last_seq
     from public.upload_queue where id in (tests.up(1), tests.up(2)) order by id $$,
  $$ values (tests.up(1), 'failed'::text, 'stale'::text, true, 7::bigint),
            (tests.up(2), 'failed', 'stale', true, 1::bigint) $$,
  'stale uploads are failed with error_code stale; last_seq is the device''s still');
select results_eq(
  $$ select upload_id, kind, seq, status from public.upload_events where kind = 'stale' order by upload_id $$,
  $$ values (tests.up(1), 'stale'::text, 7::bigint, 'failed'::text),
            (tests.up(2), 'stale', 1::bigint, 'failed') $$,
  'each is logged, with the upload''s last_seq');
select results_eq(
  $$ select status from public.upload_queue where id in (tests.up(3), tests.up(4)) order by id $$,
  $$ values ('uploading'::text), ('completed') $$,
  'a recent upload and a finished one are left alone');
select tests.authenticate_as('service');
select ok(public.mark_stale_uploads(interval '1 minute') >= 1, 'the service key may sweep too, with its own threshold');
select tests.clear_authentication();
select is((select error_code from public.upload_queue where id = tests.up(3)), 'stale',
          'the 5-minute-old upload went stale at 1 minute');
select tests.authenticate_as('service');
select throws_ok($$ select public.mark_stale_uploads(interval '-1 minute') $$, '22023', null,
                 'a negative threshold is refused');
select tests.authenticate_as('A');
select is(tests.report(tests.ev(1, 1, 8, 'progress', '{"bytes_sent":10,"progress":45}')),
          'rejected:terminal_state', 'a device reporting after its upload went stale must retry');
select is(tests.report(tests.ev(2, 1, 9, 'retry')), 'applied', 'and it can');

-- request_upload_retry and pending_retry_requests
select tests.authenticate_as('admin');
select is(public.request_upload_retry(tests.up(5)), now(), 'an admin requests a retry of a failed upload');
select throws_ok($$ select public.request_upload_retry(tests.up(4)) $$, '22023', null,
                 'a completed upload cannot be retried');
select throws_ok($$ select public.request_upload_retry(tests.up(6)) $$, '22023',
                 'this upload has used its 3 retries', 'an upload with its 3 retries used cannot');
select throws_ok($$ select public.request_upload_retry(tests.up(99)) $$, '22023',
                 format('upload %s not found', tests.up(99)),
                 'an unknown upload is not found');
select tests.clear_authentication();
select is((select count(*) from public.upload_events where upload_id = tests.up(5) and kind = 'retry_requested'),
          1::bigint, 'the request is logged');
select tests.authenticate_as('A');
select results_eq($$ select upload_id, local_id, retry_count from public.pending_retry_requests() $$,
                  $$ values (tests.up(5), 'l5'::text, 1) $$,
                  'the device sees its open request');
select tests.authenticate_as('B');
select is_empty($$ select * from public.pending_retry_requests() $$, 'another user sees none of it');
select tests.authenticate_as('A');
select is(tests.report(tests.ev(3, 5, 5, 'retry')), 'applied', 'the device retries');
select is_empty($$ select * from public.pending_retry_requests() $$, 'which closes the request');

-- cleanup_old_upload_queue (the spec's 7 days)
select tests.clear_authentication();
update public.upload_queue set completed_at = now() - interval '8 days' where id = tests.up(4);
update public.upload_queue set completed_at = now() - interval '8 days', status = 'failed' where id = tests.up(6);
insert into public.upload_events (id, upload_id, user_id, seq, kind, status, stage)
values (tests.eid(60), tests.up(6), 'a0a0a0a0-0000-4000-8000-00000000000a', 4, 'fail', 'failed', 'uploading');
select tests.authenticate_as('service');
select lives_ok($$ select public.cleanup_old_upload_queue() $$, 'the service key runs the cleanup');
select tests.clear_authentication();
select results_eq($$ select id from public.upload_queue where id in (tests.up(1), tests.up(2),
                      tests.up(3), tests.up(4), tests.up(5), tests.up(6)) order by id $$,
                  $$ values (tests.up(1)), (tests.up(2)), (tests.up(3)), (tests.up(5)) $$,
                  'finished uploads older than 7 days are gone, recent and active ones stay');
select is((select count(*) from public.upload_events where upload_id = tests.up(6)), 0::bigint,
          'their log went with them');

select * from finish();
rollback;
