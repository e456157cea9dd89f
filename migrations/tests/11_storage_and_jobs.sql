begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

-- 20261202140000 (buckets, storage.objects policies) and 20261202140500 (stale_after, the
-- job's sweep). Fixtures rolled back at the end. Fixed ids, each with its meaning:
-- a1a1a1a1-...-0000000000a1  user A, who uploads under their own folder
-- b1b1b1b1-...-0000000000b1  user B, who must not reach A's folder
-- ad1ad1ad-...-000000000ad1  an admin (app_metadata.role = 'admin' in the JWT)
insert into auth.users (id, email) values
  ('a1a1a1a1-0000-4000-8000-0000000000a1', 'storage-a@example.test'),
  ('b1b1b1b1-0000-4000-8000-0000000000b1', 'storage-b@example.test')
on conflict (id) do nothing;
insert into public.profiles (id, email) values
  ('a1a1a1a1-0000-4000-8000-0000000000a1', 'storage-a@example.test')
on conflict (id) do nothing;

create function pg_temp.login(who text) returns void language plpgsql as $$
begin
  perform set_config('role', 'none', true);
  perform set_config('request.jwt.claims', case who
    when 'A' then '{"sub":"a1a1a1a1-0000-4000-8000-0000000000a1","role":"authenticated"}'
    when 'B' then '{"sub":"b1b1b1b1-0000-4000-8000-0000000000b1","role":"authenticated"}'
    when 'admin' then '{"sub":"ad1ad1ad-0000-4000-8000-000000000ad1","role":"authenticated","app_metadata":{"role":"admin"}}'
  end, true);
  perform set_config('role', 'authenticated', true);
end $$;
create function pg_temp.logout() returns void language sql as $$
  select set_config('role', 'none', true), set_config('request.jwt.claims', '', true);
$$;

select plan(13);

select results_eq(
  $$ select id, coalesce(public, false) from storage.buckets
     where id in ('videos', 'thumbnails') order by id $$,
  $$ values ('thumbnails'::text, false), ('videos', false) $$,
  'the videos and thumbnails buckets exist and are private');

select pg_temp.login('A');
select lives_ok(
  $$ insert into storage.objects (bucket_id, name, owner)
     values ('videos', 'a1a1a1a1-0000-4000-8000-0000000000a1/clip.mp4',
             'a1a1a1a1-0000-4000-8000-0000000000a1') $$,
  'a user adds an object under their own folder');
select lives_ok(
  $$ insert into storage.objects (bucket_id, name)
     values ('thumbnails', 'a1a1a1a1-0000-4000-8000-0000000000a1/clip.jpg') $$,
  'and a thumbnail under their folder of thumbnails');
select throws_ok(
  $$ insert into storage.objects (bucket_id, name)
     values ('videos', 'b1b1b1b1-0000-4000-8000-0000000000b1/planted.mp4') $$,
  '42501', null, 'but nothing under another user''s folder');
select throws_ok(
  $$ insert into storage.objects (bucket_id, name) values ('videos', 'loose.mp4') $$,
  '42501', null, 'nor outside any folder');
select isnt_empty(
  $$ update storage.objects set metadata = '{"size": 1}'
     where name = 'a1a1a1a1-0000-4000-8000-0000000000a1/clip.mp4' returning 1 $$,
  'a user replaces their own object (an upsert''s update)');

select pg_temp.login('B');
select is(
  (select count(*)::int from storage.objects
   where name like 'a1a1a1a1-0000-4000-8000-0000000000a1/%'),
  0, 'another user sees none of A''s objects');
select is_empty(
  $$ update storage.objects set metadata = '{}'
     where name = 'a1a1a1a1-0000-4000-8000-0000000000a1/clip.mp4' returning 1 $$,
  'nor changes them');

select pg_temp.login('admin');
select is(
  (select count(*)::int from storage.objects
   where name like 'a1a1a1a1-0000-4000-8000-0000000000a1/%'),
  2, 'an admin reads every object');
select pg_temp.logout();

select is((select stale_after from public.monitor_settings), interval '30 minutes',
          'the stale threshold is the spec''s 30 minutes');
select throws_ok($$ update public.monitor_settings set stale_after = interval '0 seconds' $$,
                 '23514', null, 'a threshold under a second is refused');

-- The job's sweep follows the setting: an upload silent for 10 minutes is left alone at 30,
-- and marked at 5.
insert into public.upload_queue (id, user_id, filename, local_id, status, stage, progress,
                                 retry_count, last_seq, updated_at)
values ('0192a7b0-0000-7000-8000-0000000011a1', 'a1a1a1a1-0000-4000-8000-0000000000a1',
        'silent.mp4', 'silent-11', 'uploading', 'uploading', 10, 0, 2,
        now() - interval '10 minutes');
select private.mark_stale_uploads_by_setting();
select is((select status from public.upload_queue
           where id = '0192a7b0-0000-7000-8000-0000000011a1'), 'uploading',
          'at 30 minutes the 10-minute silence is left alone');
update public.monitor_settings set stale_after = interval '5 minutes';
select private.mark_stale_uploads_by_setting();
select is((select error_code from public.upload_queue
           where id = '0192a7b0-0000-7000-8000-0000000011a1'), 'stale',
          'the scheduled sweep reads its threshold from monitor_settings');

select * from finish();
rollback;
