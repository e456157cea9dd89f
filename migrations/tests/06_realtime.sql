begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

-- Users A, B and the admin, and the helpers (tests.authenticate_as, tests.report, ...):
-- 00_helpers.sql. The users are rolled back at the end.
select tests.create_fixture_users();

select plan(6);

-- A applies a batch about upload 1, then replays it (nothing applied the second time).
select tests.authenticate_as('A');
select tests.report(tests.begin_ev(1, 1),
  tests.ev(2, 1, 2, 'progress', '{"bytes_sent":100,"progress":10}'));
select tests.report(tests.begin_ev(1, 1));
select tests.clear_authentication();

select results_eq(
  $$ select event, private, (payload ->> 'applied')::int, payload -> 'uploads'
     from realtime.messages
     where topic = 'upload_monitor:admin' and payload -> 'uploads' ? tests.up(1)::text $$,
  $$ values ('uploads_changed'::text, true, 2, jsonb_build_array(tests.up(1))) $$,
  'one broadcast per applied batch, on the private admin topic, naming the uploads');

-- Who may read the private topic (Realtime checks it with realtime.topic() set).
select set_config('realtime.topic', 'upload_monitor:admin', true);
select tests.authenticate_as('admin');
select set_config('realtime.topic', 'upload_monitor:admin', true);
select isnt_empty($$ select 1 from realtime.messages $$, 'an admin may join the admin topic');
select tests.authenticate_as('A');
select set_config('realtime.topic', 'upload_monitor:admin', true);
select is_empty($$ select 1 from realtime.messages $$, 'a user may not');
select throws_ok($$ insert into realtime.messages (topic, extension, payload, event, private)
                    values ('upload_monitor:admin', 'broadcast', '{"applied": 999}', 'uploads_changed', true) $$,
                 '42501', null, 'a user cannot forge a broadcast on the admin topic');
select tests.authenticate_as('anon');
select throws_ok($$ select private.broadcast_uploads_changed('{}') $$, '42501', null,
                 'anon cannot reach the broadcast helper');

-- The table still belongs to the realtime publication after all of this.
select tests.clear_authentication();
select ok(exists (select 1 from pg_publication_tables where pubname = 'supabase_realtime'
                  and tablename = 'upload_queue'), 'upload_queue stays published for postgres_changes');

select * from finish();
rollback;
