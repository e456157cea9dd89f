-- The pgTAP suite's helpers, created once for every file after it (pg_prove and
-- `supabase test db` run the files in name order; tests/pgtap.rs does too). Committed, not
-- rolled back: the schema `tests` stays in the test database, as Supabase's pgTAP guide and
-- basejump's supabase_test_helpers keep theirs. Never part of a migration: a hosted project
-- never sees it. Re-running it replaces the functions.
--
-- Fixed ids of the fixture users (tests.create_fixture_users()), each with its meaning:
-- a0a0a0a0-...-00000000000a  user A, the phone under test
-- b0b0b0b0-...-00000000000b  user B, another customer A must never reach (and vice versa)
-- adadadad-...-0000000000ad  an admin (app_metadata.role = 'admin' in the JWT)
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(4);

create schema if not exists tests;
-- The API roles call these while a test acts as them (tests.report runs as the user).
grant usage on schema tests to anon, authenticated, service_role;

-- A user in auth.users and their profile (what sign-up and the app's trigger would make).
create or replace function tests.create_user(id uuid, email text, first_name text default null,
                                             last_name text default null)
returns uuid language sql as $$
  insert into auth.users (id, email) values (create_user.id, create_user.email)
  on conflict (id) do nothing;
  insert into public.profiles (id, email, first_name, last_name)
  values (create_user.id, create_user.email, create_user.first_name, create_user.last_name)
  on conflict (id) do nothing;
  select create_user.id;
$$;

-- Users A, B and the admin (rolled back with the file that creates them).
create or replace function tests.create_fixture_users() returns void language sql as $$
  select tests.create_user('a0a0a0a0-0000-4000-8000-00000000000a', 'a@example.test', 'Ada', 'Lovelace');
  select tests.create_user('b0b0b0b0-0000-4000-8000-00000000000b', 'b@example.test', 'Bob', 'Martin');
  select tests.create_user('adadadad-0000-4000-8000-0000000000ad', 'admin@example.test', 'Ad', 'Min');
$$;

-- Act as someone: 'A', 'B', 'admin' (authenticated role + JWT claims, as the API gateway
-- sets them), 'service' (the service key), 'anon' (the anon key), 'nosub' (authenticated
-- without a sub claim). Local to the test's transaction.
create or replace function tests.authenticate_as(who text) returns void language plpgsql as $$
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
create or replace function tests.clear_authentication() returns void language sql as $$
  select set_config('role', 'none', true), set_config('request.jwt.claims', '', true);
$$;

-- Upload n's id (UUIDv7-shaped, as the SDK makes them) and event n's id.
create or replace function tests.up(n int) returns uuid language sql immutable as $$
  select format('0192a7b0-0000-7000-8000-%s', lpad(n::text, 12, '0'))::uuid $$;
create or replace function tests.eid(n int) returns uuid language sql immutable as $$
  select format('0192a7b0-0000-7000-9000-%s', lpad(n::text, 12, '0'))::uuid $$;
-- Event n about upload u with seq s; device time 2026-11-24 09:00 UTC.
create or replace function tests.ev(n int, u int, s bigint, kind text, fields jsonb default '{}')
returns jsonb language sql immutable as $$
  select jsonb_build_object('id', tests.eid(n), 'upload_id', tests.up(u), 'seq', s,
                            'at', '2026-11-24T09:00:00Z', 'kind', kind) || fields $$;
-- A begin of a 1000-byte file, local id "local-u".
create or replace function tests.begin_ev(n int, u int, s bigint default 1) returns jsonb
language sql immutable as $$
  select tests.ev(n, u, s, 'begin', jsonb_build_object('local_id', 'local-' || u,
    'filename', 'video-' || u || '.mp4', 'video_title', 'Video ' || u, 'file_size', 1000)) $$;
-- The verdicts of a call, compact: 'applied,rejected:terminal_state,...'.
create or replace function tests.verdicts(res jsonb) returns text language sql immutable as $$
  select string_agg(r ->> 'outcome' || coalesce(':' || (r ->> 'reason'), ''), ',' order by o)
  from jsonb_array_elements(res -> 'results') with ordinality as t(r, o) $$;
-- Report events as whoever is authenticated; the verdicts, compact.
create or replace function tests.report(variadic evs jsonb[]) returns text language sql as $$
  select tests.verdicts(public.report_upload_events(to_jsonb(evs))) $$;

grant execute on all functions in schema tests to anon, authenticated, service_role;

select has_function('tests', 'authenticate_as', array['text'], 'tests.authenticate_as(who) exists');
select has_function('tests', 'create_user', array['uuid', 'text', 'text', 'text'],
                    'tests.create_user(id, email, first_name, last_name) exists');
select is((select tests.verdicts('{"results":[{"outcome":"applied"},{"outcome":"rejected","reason":"forbidden"}]}')),
          'applied,rejected:forbidden', 'tests.verdicts compacts an answer');
select is(tests.up(7), '0192a7b0-0000-7000-8000-000000000007'::uuid, 'tests.up(n) is upload n''s id');

select * from finish();
commit;
