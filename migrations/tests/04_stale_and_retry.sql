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
  (pg_temp.up(1), 'a0a0a0a0-0000-4000-8000-00000000000a', 'v1.mp4', 'l1', 'uploading', 'uploading', 40, 0, 7, now() - interval '45 minutes', null),
  (pg_temp.up(2), 'a0a0a0a0-0000-4000-8000-00000000000a', 'v2.mp4', 'l2', 'pending', 'validating', 0, 0, 1, now() - interval '2 hours', null),
  (pg_temp.up(3), 'a0a0a0a0-0000-4000-8000-00000000000a', 'v3.mp4', 'l3', 'uploading', 'uploading', 50, 0, 3, now() - interval '5 minutes', null),
  (pg_temp.up(4), 'a0a0a0a0-0000-4000-8000-00000000000a', 'v4.mp4', 'l4', 'completed', 'queuing_transcription', 100, 0, 9, now() - interval '45 minutes', now() - interval '45 minutes'),
  (pg_temp.up(5), 'a0a0a0a0-0000-4000-8000-00000000000a', 'v5.mp4', 'l5', 'failed', 'uploading', 30, 1, 4, now(), now()),
  (pg_temp.up(6), 'a0a0a0a0-0000-4000-8000-00000000000a', 'v6.mp4', 'l6', 'failed', 'uploading', 30, 3, 4, now(), now());

-- mark_stale_uploads
select pg_temp.login('admin');
-- Counts are at least: the database may hold other rows (a shared dev stack, a real project).
select ok(public.mark_stale_uploads() >= 2, 'an admin marks the silent uploads stale');
select pg_temp.logout();
select results_eq(
  $$ select id, status, error_code, completed_at is not null, last_seq
     from public.upload_queue where id in (pg_temp.up(1), pg_temp.up(2)) order by id $$,
  $$ values (pg_temp.up(1), 'failed'::text, 'stale'::text, true, 7::bigint),
            (pg_temp.up(2), 'failed', 'stale', true, 1::bigint) $$,
  'stale uploads are failed with error_code stale; last_seq is the device''s still');
select results_eq(
  $$ select upload_id, kind, seq, status from public.upload_events where kind = 'stale' order by upload_id $$,
  $$ values (pg_temp.up(1), 'stale'::text, 7::bigint, 'failed'::text),
            (pg_temp.up(2), 'stale', 1::bigint, 'failed') $$,
  'each is logged, with the upload''s last_seq');
select results_eq(
  $$ select status from public.upload_queue where id in (pg_temp.up(3), pg_temp.up(4)) order by id $$,
  $$ values ('uploading'::text), ('completed') $$,
  'a recent upload and a finished one are left alone');
select pg_temp.login('service');
select ok(public.mark_stale_uploads(interval '1 minute') >= 1, 'the service key may sweep too, with its own threshold');
select pg_temp.logout();
select is((select error_code from public.upload_queue where id = pg_temp.up(3)), 'stale',
          'the 5-minute-old upload went stale at 1 minute');
select pg_temp.login('service');
select throws_ok($$ select public.mark_stale_uploads(interval '-1 minute') $$, '22023', null,
                 'a negative threshold is refused');
select pg_temp.login('A');
select is(pg_temp.report(pg_temp.ev(1, 1, 8, 'progress', '{"bytes_sent":10,"progress":45}')),
          'rejected:terminal_state', 'a device reporting after its upload went stale must retry');
select is(pg_temp.report(pg_temp.ev(2, 1, 9, 'retry')), 'applied', 'and it can');

-- request_upload_retry and pending_retry_requests
select pg_temp.login('admin');
select is(public.request_upload_retry(pg_temp.up(5)), now(), 'an admin requests a retry of a failed upload');
select throws_ok($$ select public.request_upload_retry(pg_temp.up(4)) $$, '22023', null,
                 'a completed upload cannot be retried');
select throws_ok($$ select public.request_upload_retry(pg_temp.up(6)) $$, '22023',
                 'this upload has used its 3 retries', 'an upload with its 3 retries used cannot');
select throws_ok($$ select public.request_upload_retry(pg_temp.up(99)) $$, '22023',
                 format('upload %s not found', pg_temp.up(99)),
                 'an unknown upload is not found');
select pg_temp.logout();
select is((select count(*) from public.upload_events where upload_id = pg_temp.up(5) and kind = 'retry_requested'),
          1::bigint, 'the request is logged');
select pg_temp.login('A');
select results_eq($$ select upload_id, local_id, retry_count from public.pending_retry_requests() $$,
                  $$ values (pg_temp.up(5), 'l5'::text, 1) $$,
                  'the device sees its open request');
select pg_temp.login('B');
select is_empty($$ select * from public.pending_retry_requests() $$, 'another user sees none of it');
select pg_temp.login('A');
select is(pg_temp.report(pg_temp.ev(3, 5, 5, 'retry')), 'applied', 'the device retries');
select is_empty($$ select * from public.pending_retry_requests() $$, 'which closes the request');

-- cleanup_old_upload_queue (the spec's 7 days)
select pg_temp.logout();
update public.upload_queue set completed_at = now() - interval '8 days' where id = pg_temp.up(4);
update public.upload_queue set completed_at = now() - interval '8 days', status = 'failed' where id = pg_temp.up(6);
insert into public.upload_events (id, upload_id, user_id, seq, kind, status, stage)
values (pg_temp.eid(60), pg_temp.up(6), 'a0a0a0a0-0000-4000-8000-00000000000a', 4, 'fail', 'failed', 'uploading');
select pg_temp.login('service');
select lives_ok($$ select public.cleanup_old_upload_queue() $$, 'the service key runs the cleanup');
select pg_temp.logout();
select results_eq($$ select id from public.upload_queue where id in (pg_temp.up(1), pg_temp.up(2),
                      pg_temp.up(3), pg_temp.up(4), pg_temp.up(5), pg_temp.up(6)) order by id $$,
                  $$ values (pg_temp.up(1)), (pg_temp.up(2)), (pg_temp.up(3)), (pg_temp.up(5)) $$,
                  'finished uploads older than 7 days are gone, recent and active ones stay');
select is((select count(*) from public.upload_events where upload_id = pg_temp.up(6)), 0::bigint,
          'their log went with them');

select * from finish();
rollback;
