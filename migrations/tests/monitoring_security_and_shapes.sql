begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(31);

-- Fixtures (rolled back at the end). Fixed ids, each with its meaning:
-- c0c0c0c0-...-00000000000c  user C, a customer with one active and one failed upload
-- d0d0d0d0-...-00000000000d  user D, a Phase 1 user: only a videos row, no upload_queue rows
-- aeaeaeae-...-0000000000ae  an admin (app_metadata.role = 'admin' in the JWT)
insert into auth.users (id, email) values
  ('c0c0c0c0-0000-4000-8000-00000000000c', 'c@monitoring.test'),
  ('d0d0d0d0-0000-4000-8000-00000000000d', 'd@monitoring.test'),
  ('aeaeaeae-0000-4000-8000-0000000000ae', 'admin@monitoring.test')
on conflict (id) do nothing;
insert into public.profiles (id, email, first_name, last_name) values
  ('c0c0c0c0-0000-4000-8000-00000000000c', 'c@monitoring.test', 'Chloé', 'Ünal'),
  ('d0d0d0d0-0000-4000-8000-00000000000d', 'd@monitoring.test', 'Dan', 'Derived'),
  ('aeaeaeae-0000-4000-8000-0000000000ae', 'admin@monitoring.test', 'Ad', 'Min')
on conflict (id) do nothing;
-- C's uploads: ...0c1 uploading (reported 40 minutes ago: stale), ...0c2 failed just now.
insert into public.upload_queue (id, user_id, local_id, filename, status, progress,
                                 updated_at, started_at, completed_at, error_code, error_message)
values
  ('0192a7b0-0000-7000-8000-0000000000c1', 'c0c0c0c0-0000-4000-8000-00000000000c', 'mon-1',
   'a.mov', 'uploading', 40, now() - interval '40 minutes', now() - interval '41 minutes',
   null, null, null),
  ('0192a7b0-0000-7000-8000-0000000000c2', 'c0c0c0c0-0000-4000-8000-00000000000c', 'mon-2',
   'b.mov', 'failed', 10, now(), now() - interval '1 minute', now(), 'network',
   'Network request failed');
-- D's video: no file yet, created 10 minutes ago (derived: uploading).
insert into public.videos (id, user_id, title, file_path, created_at) values
  ('0192a7b0-0000-7000-8000-0000000000d1', 'd0d0d0d0-0000-4000-8000-00000000000d', 'Phase 1',
   '', now() - interval '10 minutes');

create function pg_temp.login(who text) returns void language plpgsql as $$
begin
  perform set_config('role', 'none', true);
  perform set_config('request.jwt.claims', case who
    when 'C' then '{"sub":"c0c0c0c0-0000-4000-8000-00000000000c","role":"authenticated"}'
    when 'admin' then '{"sub":"aeaeaeae-0000-4000-8000-0000000000ae","role":"authenticated","app_metadata":{"role":"admin"}}'
    when 'service' then '{"role":"service_role"}'
    when 'anon' then '{"role":"anon"}'
  end, true);
  perform set_config('role', case who when 'service' then 'service_role' when 'anon' then 'anon'
                                      else 'authenticated' end, true);
end $$;
create function pg_temp.logout() returns void language sql as $$
  select set_config('role', 'none', true), set_config('request.jwt.claims', '', true);
$$;
grant execute on function pg_temp.login(text), pg_temp.logout() to anon, authenticated, service_role;

-- The API surface: every public monitoring function runs as its caller (RLS applies).
select is(
  (select count(*)::int from pg_proc p join pg_namespace n on n.oid = p.pronamespace
   where n.nspname = 'public' and p.proname like 'monitoring\_%'),
  10, 'ten monitoring RPCs (the nine of 20261124100000 and monitoring_upload_log)');
select is(
  (select count(*)::int from pg_proc p join pg_namespace n on n.oid = p.pronamespace
   where n.nspname = 'public' and p.proname like 'monitoring\_%' and p.prosecdef),
  0, 'all of them SECURITY INVOKER');
select ok(not has_function_privilege('anon', 'public.monitoring_snapshot(integer)', 'execute'),
  'anon cannot execute monitoring_snapshot');
select ok(not has_function_privilege('anon', 'public.monitoring_changes(timestamptz)', 'execute'),
  'anon cannot execute monitoring_changes');
select ok(has_function_privilege('authenticated', 'public.monitoring_snapshot(integer)', 'execute'),
  'signed-in callers reach it (and are refused inside unless admin)');

-- A plain user is refused, whatever the function.
select pg_temp.login('C');
select throws_ok('select public.monitoring_snapshot()', '42501', null, 'user: snapshot refused');
select throws_ok($$select public.monitoring_changes(now())$$, '42501', null, 'user: changes refused');
select throws_ok('select public.monitoring_uploads()', '42501', null, 'user: uploads refused');
select throws_ok($$select public.monitoring_user_profile('c0c0c0c0-0000-4000-8000-00000000000c')$$,
  '42501', null, 'user: even their own profile view is refused');
select throws_ok($$select public.monitoring_user_timeline('c0c0c0c0-0000-4000-8000-00000000000c')$$,
  '42501', null, 'user: timeline refused');
select throws_ok('select public.monitoring_compare()', '42501', null, 'user: compare refused');
select throws_ok('select public.monitoring_error_distribution()', '42501', null,
  'user: distribution refused');
select throws_ok('select public.monitoring_speed_over_time()', '42501', null,
  'user: speed refused');
select throws_ok('select public.monitoring_evaluate_alert()', '42501', null, 'user: alert refused');

select pg_temp.login('anon');
select throws_ok('select public.monitoring_snapshot()', '42501', null,
  'anon: no execute privilege');

-- The admin sees everyone's uploads, with the spec's fields.
select pg_temp.login('admin');
create temp table snap on commit drop as select public.monitoring_snapshot() as s;
select ok((select s ? 'stats' and s ? 'topErrors' and s ? 'uploads' and s ? 'recentBugs'
                  and s ? 'uploadErrors' and s ? 'transcriptionErrors' and s ? 'networkErrors'
                  and s ? 'cursor' from snap), 'the snapshot has every section');
create temp table c1 on commit drop as
  select e as card, o from snap, jsonb_array_elements(s -> 'uploads') with ordinality t(e, o)
  where e ->> 'id' = '0192a7b0-0000-7000-8000-0000000000c1';
select ok(
  (select bool_and(e ->> 'status' in ('uploading', 'pending'))
   from snap, jsonb_array_elements(s -> 'uploads') with ordinality t(e, o)
   where o < (select o from c1)),
  'only active cards come before the uploading one');
select is((select (card ->> 'isStale')::boolean from c1), true,
  'an uploading row silent for 40 minutes is stale');
select is((select card ->> 'userEmail' from c1), 'c@monitoring.test',
  'the card carries the email');
select is((select card ->> 'userFirstName' from c1), 'Chloé', 'and the name');
select is(
  (select e ->> 'origin' from snap, jsonb_array_elements(s -> 'uploads') e
   where e ->> 'id' = '0192a7b0-0000-7000-8000-0000000000d1'),
  'videos', 'a Phase 1 user''s video appears, marked derived');
select is(
  (select e ->> 'status' from snap, jsonb_array_elements(s -> 'uploads') e
   where e ->> 'id' = '0192a7b0-0000-7000-8000-0000000000d1'),
  'uploading', 'with the status derived from videos (no file, 10 minutes old)');
select ok(
  (select (s -> 'stats' ->> 'uploadsFailedToday')::int >= 1 from snap),
  'the failure counts in "Échecs (24h)"');
select ok(
  exists (select 1 from snap, jsonb_array_elements(s -> 'uploadErrors') e
          where e ->> 'id' = '0192a7b0-0000-7000-8000-0000000000c2'),
  'and is listed in "Échecs Upload"');

-- Filters, bad input, unknown user.
select is(
  (select jsonb_array_length(public.monitoring_uploads(email => 'C@MONITORING', status => 'failed') -> 'items')),
  1, 'email search is case-insensitive and combines with status');
select is(
  (select jsonb_array_length(public.monitoring_uploads(email => '%') -> 'items') >= 0), true,
  'a % in the search is a literal, not a wildcard error');
select throws_ok($$select public.monitoring_uploads(status => 'done')$$, '22023', null,
  'an unknown status is invalid input');
select throws_ok('select public.monitoring_uploads(page_size => 101)', '22023', null,
  'pages hold at most 100 rows');
select throws_ok($$select public.monitoring_user_profile('00000000-0000-4000-8000-000000000000')$$,
  'PT404', null, 'an unknown user is a 404');
select is(
  (select (public.monitoring_evaluate_alert(0, 10) ->> 'triggered')::boolean), true,
  'one failure in 10 minutes is more than 0');

-- The service key is an admin too.
select pg_temp.login('service');
select lives_ok('select public.monitoring_changes(now() - interval ''1 minute'')',
  'the service key reads the change feed');

select pg_temp.logout();
select * from finish();
rollback;
