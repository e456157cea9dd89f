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

select plan(6);

-- A applies a batch about upload 1, then replays it (nothing applied the second time).
select pg_temp.login('A');
select pg_temp.report(pg_temp.begin_ev(1, 1),
  pg_temp.ev(2, 1, 2, 'progress', '{"bytes_sent":100,"progress":10}'));
select pg_temp.report(pg_temp.begin_ev(1, 1));
select pg_temp.logout();

select results_eq(
  $$ select event, private, (payload ->> 'applied')::int, payload -> 'uploads'
     from realtime.messages
     where topic = 'upload_monitor:admin' and payload -> 'uploads' ? pg_temp.up(1)::text $$,
  $$ values ('uploads_changed'::text, true, 2, jsonb_build_array(pg_temp.up(1))) $$,
  'one broadcast per applied batch, on the private admin topic, naming the uploads');

-- Who may read the private topic (Realtime checks it with realtime.topic() set).
select set_config('realtime.topic', 'upload_monitor:admin', true);
select pg_temp.login('admin');
select set_config('realtime.topic', 'upload_monitor:admin', true);
select isnt_empty($$ select 1 from realtime.messages $$, 'an admin may join the admin topic');
select pg_temp.login('A');
select set_config('realtime.topic', 'upload_monitor:admin', true);
select is_empty($$ select 1 from realtime.messages $$, 'a user may not');
select throws_ok($$ insert into realtime.messages (topic, extension, payload, event, private)
                    values ('upload_monitor:admin', 'broadcast', '{"applied": 999}', 'uploads_changed', true) $$,
                 '42501', null, 'a user cannot forge a broadcast on the admin topic');
select pg_temp.login('anon');
select throws_ok($$ select private.broadcast_uploads_changed('{}') $$, '42501', null,
                 'anon cannot reach the broadcast helper');

-- The table still belongs to the realtime publication after all of this.
select pg_temp.logout();
select ok(exists (select 1 from pg_publication_tables where pubname = 'supabase_realtime'
                  and tablename = 'upload_queue'), 'upload_queue stays published for postgres_changes');

select * from finish();
rollback;
