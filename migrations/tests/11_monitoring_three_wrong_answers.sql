begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(22);

-- Issue 12, item 5: three wrong answers, against the spec's semantics
-- (20261202110000_monitoring_three_wrong_answers.sql).
--
-- Fixed ids, each with its meaning (b5b5... prefix: this file's rows):
-- b5b50000-0000-4000-8000-00000000000f  user F: uploads linked to videos the app flagged or not
-- b5b50000-0000-4000-8000-00000000000a  user J: a reported upload whose job changes
-- b5b50000-0000-4000-8000-00000000000b  user K: a Phase 1 user (videos only) whose job changes
-- b5b50000-0000-4000-8000-00000000000c  user N: five uploads, two without a start time (paging)
-- aeaeaeae-0000-4000-8000-0000000000ae  an admin
insert into auth.users (id, email) values
  ('b5b50000-0000-4000-8000-00000000000f', 'flags@wrong-answers.test'),
  ('b5b50000-0000-4000-8000-00000000000a', 'jobs@wrong-answers.test'),
  ('b5b50000-0000-4000-8000-00000000000b', 'phase1@wrong-answers.test'),
  ('b5b50000-0000-4000-8000-00000000000c', 'pager@wrong-answers.test'),
  ('aeaeaeae-0000-4000-8000-0000000000ae', 'admin@monitoring.test')
on conflict (id) do nothing;
insert into public.profiles (id, email) select id, email from auth.users
where id in ('b5b50000-0000-4000-8000-00000000000f', 'b5b50000-0000-4000-8000-00000000000a',
             'b5b50000-0000-4000-8000-00000000000b', 'b5b50000-0000-4000-8000-00000000000c',
             'aeaeaeae-0000-4000-8000-0000000000ae')
on conflict (id) do nothing;

-- Videos: ...f1 flagged with a message, ...f2 flagged with a non-string message, ...f3 not
-- flagged (all three linked from F's uploads); ...a1 (J's) and ...b1 (K's) have a job each;
-- ...a2 (J's) is flagged only later; ...a3 (J's, linked from nothing) is renamed by J.
insert into public.videos (id, user_id, title, file_path, metadata, created_at, updated_at)
values
  ('b5b5f000-0000-4000-8000-0000000000f1', 'b5b50000-0000-4000-8000-00000000000f', 'f1',
   'https://x/videos/f1.mov', '{"uploadFailed": true, "uploadError": "Thumbnail upload failed"}',
   now() - interval '1 minute', now() - interval '1 minute'),
  ('b5b5f000-0000-4000-8000-0000000000f2', 'b5b50000-0000-4000-8000-00000000000f', 'f2',
   'https://x/videos/f2.mov', '{"uploadFailed": "true", "uploadError": 42}',
   now() - interval '2 minutes', now() - interval '2 minutes'),
  ('b5b5f000-0000-4000-8000-0000000000f3', 'b5b50000-0000-4000-8000-00000000000f', 'f3',
   'https://x/videos/f3.mov', '{"isRecorded": true}', now() - interval '3 minutes',
   now() - interval '3 minutes'),
  ('b5b5f000-0000-4000-8000-0000000000a1', 'b5b50000-0000-4000-8000-00000000000a', 'a1',
   'https://x/videos/a1.mov', '{}', now() - interval '10 minutes', now() - interval '10 minutes'),
  ('b5b5f000-0000-4000-8000-0000000000a2', 'b5b50000-0000-4000-8000-00000000000a', 'a2',
   'https://x/videos/a2.mov', '{}', now() - interval '10 minutes', now() - interval '10 minutes'),
  ('b5b5f000-0000-4000-8000-0000000000a3', 'b5b50000-0000-4000-8000-00000000000a', 'a3',
   'https://x/videos/a3.mov', '{}', now() - interval '10 minutes', now() - interval '10 minutes'),
  ('b5b5f000-0000-4000-8000-0000000000b1', 'b5b50000-0000-4000-8000-00000000000b', 'b1',
   'https://x/videos/b1.mov', '{}', now() - interval '10 minutes', now() - interval '10 minutes');
insert into public.transcription_jobs (id, video_id, status, created_at, updated_at) values
  ('b5b5c000-0000-4000-8000-0000000000a1', 'b5b5f000-0000-4000-8000-0000000000a1', 'processing',
   now() - interval '10 minutes', now() - interval '10 minutes'),
  ('b5b5c000-0000-4000-8000-0000000000b1', 'b5b5f000-0000-4000-8000-0000000000b1', 'processing',
   now() - interval '10 minutes', now() - interval '10 minutes');

-- Uploads: F's ...f1 completed (video f1), ...f2 failed (video f2), ...f3 completed (video f3);
-- J's ...a1 completed (video a1) and ...a2 completed (video a2), last changed 10 minutes ago;
-- N's five, two without a start time, two starting at the same instant.
insert into public.upload_queue (id, user_id, local_id, filename, status, stage, progress,
                                 error_code, error_message, video_id, started_at, completed_at,
                                 updated_at)
values
  ('b5b5a000-0000-7000-8000-0000000000f1', 'b5b50000-0000-4000-8000-00000000000f', 'f1',
   'f1.mov', 'completed', 'queuing_transcription', 100, null, null,
   'b5b5f000-0000-4000-8000-0000000000f1', now() - interval '5 minutes',
   now() - interval '1 minute', now() - interval '1 minute'),
  ('b5b5a000-0000-7000-8000-0000000000f2', 'b5b50000-0000-4000-8000-00000000000f', 'f2',
   'f2.mov', 'failed', 'creating_record', 90, 'network', 'Network request failed',
   'b5b5f000-0000-4000-8000-0000000000f2', now() - interval '5 minutes',
   now() - interval '2 minutes', now() - interval '2 minutes'),
  ('b5b5a000-0000-7000-8000-0000000000f3', 'b5b50000-0000-4000-8000-00000000000f', 'f3',
   'f3.mov', 'completed', 'queuing_transcription', 100, null, null,
   'b5b5f000-0000-4000-8000-0000000000f3', now() - interval '5 minutes',
   now() - interval '3 minutes', now() - interval '3 minutes'),
  ('b5b5a000-0000-7000-8000-0000000000a1', 'b5b50000-0000-4000-8000-00000000000a', 'a1',
   'a1.mov', 'completed', 'queuing_transcription', 100, null, null,
   'b5b5f000-0000-4000-8000-0000000000a1', now() - interval '12 minutes',
   now() - interval '10 minutes', now() - interval '10 minutes'),
  ('b5b5a000-0000-7000-8000-0000000000a2', 'b5b50000-0000-4000-8000-00000000000a', 'a2',
   'a2.mov', 'completed', 'queuing_transcription', 100, null, null,
   'b5b5f000-0000-4000-8000-0000000000a2', now() - interval '12 minutes',
   now() - interval '10 minutes', now() - interval '10 minutes'),
  ('b5b5a000-0000-7000-8000-0000000000c1', 'b5b50000-0000-4000-8000-00000000000c', 'c1',
   'c1.mov', 'uploading', 'uploading', 10, null, null, null, now() - interval '1 hour', null,
   now()),
  ('b5b5a000-0000-7000-8000-0000000000c2', 'b5b50000-0000-4000-8000-00000000000c', 'c2',
   'c2.mov', 'uploading', 'uploading', 10, null, null, null, now() - interval '2 hours', null,
   now()),
  ('b5b5a000-0000-7000-8000-0000000000c3', 'b5b50000-0000-4000-8000-00000000000c', 'c3',
   'c3.mov', 'uploading', 'uploading', 10, null, null, null, now() - interval '2 hours', null,
   now()),
  ('b5b5a000-0000-7000-8000-0000000000c4', 'b5b50000-0000-4000-8000-00000000000c', 'c4',
   'c4.mov', 'pending', 'validating', 0, null, null, null, null, null, now()),
  ('b5b5a000-0000-7000-8000-0000000000c5', 'b5b50000-0000-4000-8000-00000000000c', 'c5',
   'c5.mov', 'failed', 'validating', 0, 'network', 'x', null, null, now(), now());

create function pg_temp.login() returns void language plpgsql as $$
begin
  perform set_config('request.jwt.claims', '{"sub":"aeaeaeae-0000-4000-8000-0000000000ae","role":"authenticated","app_metadata":{"role":"admin"}}', true);
  perform set_config('role', 'authenticated', true);
end $$;
create function pg_temp.logout() returns void language sql as $$
  select set_config('role', 'none', true), set_config('request.jwt.claims', '', true);
$$;
-- The card of `id` in monitoring_uploads (as the admin sees it).
create function pg_temp.card(id uuid) returns jsonb language sql as $$
  select e from jsonb_array_elements(
           public.monitoring_uploads(email => '@wrong-answers.test', page_size => 100) -> 'items') e
  where e ->> 'id' = id::text
$$;
-- Every id of N's uploads, following nextCursor page after page (at most 20 pages).
create function pg_temp.all_pages(size integer) returns uuid[] language plpgsql as $$
declare
  v_ids uuid[] := '{}';
  v_page jsonb;
  v_cursor jsonb := 'null';
begin
  for n in 1..20 loop
    v_page := public.monitoring_uploads(email => 'pager@wrong-answers', page_size => size,
                                        after_started_at => (v_cursor ->> 'startedAt')::timestamptz,
                                        after_id => (v_cursor ->> 'id')::uuid);
    v_ids := v_ids || array(select (e ->> 'id')::uuid
                            from jsonb_array_elements(v_page -> 'items') with ordinality t(e, o)
                            order by o);
    v_cursor := v_page -> 'nextCursor';
    exit when v_cursor = 'null'::jsonb;
  end loop;
  return v_ids;
end $$;
grant execute on function pg_temp.login(), pg_temp.logout(), pg_temp.card(uuid),
  pg_temp.all_pages(integer) to authenticated;

-- 1. The app's failure flag.
select pg_temp.login();
create temp table snap on commit drop as select public.monitoring_snapshot() as s;
grant select on snap to authenticated;
select is(
  (select e ->> 'errorMessage' from snap, jsonb_array_elements(s -> 'uploadErrors') e
   where e ->> 'id' = 'b5b5f000-0000-4000-8000-0000000000f1'),
  'Thumbnail upload failed',
  'a flagged video whose linked upload completed is in "Échecs Upload", with the app''s message');
select is(
  (select e ->> 'errorCode' from snap, jsonb_array_elements(s -> 'uploadErrors') e
   where e ->> 'id' = 'b5b5f000-0000-4000-8000-0000000000f1'),
  'app_reported', 'as the app''s failure');
select ok(
  not exists (select 1 from snap, jsonb_array_elements(s -> 'uploadErrors') e
              where e ->> 'id' = 'b5b5f000-0000-4000-8000-0000000000f2'),
  'a flagged video whose linked upload failed is not: that upload''s card tells the story');
select ok(
  exists (select 1 from snap, jsonb_array_elements(s -> 'uploadErrors') e
          where e ->> 'id' = 'b5b5a000-0000-7000-8000-0000000000f2'),
  'the failed upload is in the tab');
select is(
  (select jsonb_build_array(c ->> 'status', c ->> 'errorCode', c ->> 'errorMessage')
   from pg_temp.card('b5b5a000-0000-7000-8000-0000000000f1') c),
  '["completed", "app_reported", "Thumbnail upload failed"]'::jsonb,
  'the completed upload''s card shows the app''s failure, its status the row''s');
select is(
  (select jsonb_build_array(c ->> 'errorCode', c ->> 'errorMessage')
   from pg_temp.card('b5b5a000-0000-7000-8000-0000000000f2') c),
  '["network", "Network request failed"]'::jsonb,
  'a failed upload''s card keeps its own error');
select ok(
  (select not (c ? 'errorCode') and not (c ? 'errorMessage')
   from pg_temp.card('b5b5a000-0000-7000-8000-0000000000f3') c),
  'a card linked to a video the app did not flag shows no error');
select is(
  public.monitoring_upload_log('b5b5a000-0000-7000-8000-0000000000f1') -> 'upload' ->> 'errorCode',
  'app_reported', 'the details card says the same');

-- 2. The change feed follows jobs and videos. The jobs change (status only: the writer does
-- not touch updated_at), a video is flagged, and J's a1 upload is untouched.
select pg_temp.logout();
update public.transcription_jobs set status = 'completed'
where id in ('b5b5c000-0000-4000-8000-0000000000a1', 'b5b5c000-0000-4000-8000-0000000000b1');
update public.videos
set metadata = '{"uploadFailed": true, "uploadError": "Processing failed"}'
where id = 'b5b5f000-0000-4000-8000-0000000000a2';
select is(
  (select updated_at from public.transcription_jobs where id = 'b5b5c000-0000-4000-8000-0000000000a1'),
  now(), 'a job updated without touching updated_at gets now()');
update public.transcription_jobs set error_message = 'late note',
  updated_at = now() - interval '1 hour'
where id = 'b5b5c000-0000-4000-8000-0000000000b1';
select is(
  (select updated_at from public.transcription_jobs where id = 'b5b5c000-0000-4000-8000-0000000000b1'),
  now() - interval '1 hour', 'a writer that sets updated_at keeps its value');
update public.transcription_jobs set updated_at = now()
where id = 'b5b5c000-0000-4000-8000-0000000000b1';
-- The app's own write path: a user updating their video (RLS, the user's role) goes through.
select set_config('request.jwt.claims', '{"sub":"b5b50000-0000-4000-8000-00000000000a","role":"authenticated"}', true);
select set_config('role', 'authenticated', true);
select lives_ok(
  $$update public.videos set title = 'a3, renamed'
    where id = 'b5b5f000-0000-4000-8000-0000000000a3'$$,
  'a user''s own update of their video goes through the trigger');
select pg_temp.logout();
select is(
  (select updated_at from public.videos where id = 'b5b5f000-0000-4000-8000-0000000000a3'),
  now(), 'and its updated_at is now()');

select pg_temp.login();
create temp table feed on commit drop as
  select e as card from json_array_elements(
    public.monitoring_changes(now() - interval '5 seconds') -> 'uploads') e;
grant select on feed to authenticated;
select is(
  (select card ->> 'transcriptionStatus' from feed
   where card ->> 'id' = 'b5b5a000-0000-7000-8000-0000000000a1'),
  'completed', 'a reported card whose job changed is re-sent, with the new status');
select is(
  (select card ->> 'transcriptionStatus' from feed
   where card ->> 'id' = 'b5b5f000-0000-4000-8000-0000000000b1'),
  'completed', 'a Phase 1 card whose job changed is re-sent too');
select is(
  (select card ->> 'errorCode' from feed
   where card ->> 'id' = 'b5b5a000-0000-7000-8000-0000000000a2'),
  'app_reported', 'a reported card whose video the app flagged is re-sent, with the failure');
select is(
  (select count(*)::int from feed group by card ->> 'id' order by 1 desc limit 1), 1,
  'each card once');
select ok(
  not exists (select 1 from feed where card ->> 'id' = 'b5b5a000-0000-7000-8000-0000000000f3'),
  'cards whose row, video and job did not change are not re-sent');

-- 3. Paging: N's five uploads, started 1 h ago (c1), 2 h ago (c2, c3) and never (c4, c5).
select is(
  pg_temp.all_pages(2),
  array['b5b5a000-0000-7000-8000-0000000000c1', 'b5b5a000-0000-7000-8000-0000000000c3',
        'b5b5a000-0000-7000-8000-0000000000c2', 'b5b5a000-0000-7000-8000-0000000000c5',
        'b5b5a000-0000-7000-8000-0000000000c4']::uuid[],
  'pages of two reach every row once: newest start first, then the rows without one');
select is(
  pg_temp.all_pages(1),
  array['b5b5a000-0000-7000-8000-0000000000c1', 'b5b5a000-0000-7000-8000-0000000000c3',
        'b5b5a000-0000-7000-8000-0000000000c2', 'b5b5a000-0000-7000-8000-0000000000c5',
        'b5b5a000-0000-7000-8000-0000000000c4']::uuid[],
  'pages of one too');
select is(
  public.monitoring_uploads(email => 'pager@wrong-answers', page_size => 4) -> 'nextCursor',
  '{"startedAt": null, "id": "b5b5a000-0000-7000-8000-0000000000c5"}'::jsonb,
  'a page ending on a row without a start time hands out startedAt null');
select throws_ok(
  $$select public.monitoring_uploads(after_started_at => now())$$, '22023', null,
  'after_started_at without after_id is refused');
select is(
  (select jsonb_agg(e ->> 'id')
   from jsonb_array_elements(public.monitoring_user_profile('b5b50000-0000-4000-8000-00000000000c')
                             -> 'recentUploads') e),
  '["b5b5a000-0000-7000-8000-0000000000c1", "b5b5a000-0000-7000-8000-0000000000c3", "b5b5a000-0000-7000-8000-0000000000c2", "b5b5a000-0000-7000-8000-0000000000c5", "b5b5a000-0000-7000-8000-0000000000c4"]'::jsonb,
  'the profile''s recent uploads are in the same order');

select pg_temp.logout();
select * from finish();
rollback;
