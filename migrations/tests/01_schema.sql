begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

-- Users A, B and the admin, and the helpers (tests.authenticate_as, tests.report, ...):
-- 00_helpers.sql. The users are rolled back at the end.
select tests.create_fixture_users();

select plan(70);

-- The spec's columns keep their names, types, checks and defaults.
select columns_are('public', 'upload_queue', array[
  'id', 'user_id', 'video_title', 'filename', 'file_size', 'status', 'progress', 'upload_speed',
  'retry_count', 'error_message', 'metadata', 'started_at', 'completed_at', 'updated_at',
  'local_id', 'stage', 'bytes_sent', 'source', 'duration', 'error_code', 'video_id', 'last_seq',
  'retry_requested_at', 'device_info', 'client_updated_at'],
  'upload_queue has the spec''s columns and the protocol''s, nothing else');
select col_type_is('public', 'upload_queue', c, t, format('upload_queue.%s is %s', c, t))
from (values ('id', 'uuid'), ('user_id', 'uuid'), ('video_title', 'text'), ('filename', 'text'),
             ('file_size', 'bigint'), ('status', 'text'), ('progress', 'integer'),
             ('upload_speed', 'numeric'), ('retry_count', 'integer'), ('error_message', 'text'),
             ('metadata', 'jsonb'), ('started_at', 'timestamp with time zone'),
             ('completed_at', 'timestamp with time zone'),
             ('updated_at', 'timestamp with time zone'), ('local_id', 'text'), ('stage', 'text'),
             ('bytes_sent', 'bigint'), ('duration', 'integer'), ('video_id', 'uuid'),
             ('last_seq', 'bigint'), ('device_info', 'jsonb')) as t(c, t);
select col_not_null('public', 'upload_queue', 'filename', 'filename is required (spec)');
select col_not_null('public', 'upload_queue', 'status', 'status is required (spec)');
select is(
  (select jsonb_object_agg(column_name, column_default) from information_schema.columns
   where table_schema = 'public' and table_name = 'upload_queue'
     and column_name in ('id', 'status', 'progress', 'retry_count', 'metadata', 'started_at',
                         'updated_at')),
  '{"id": "gen_random_uuid()", "status": "''pending''::text", "progress": "0",
    "retry_count": "0", "metadata": "''{}''::jsonb", "started_at": "now()",
    "updated_at": "now()"}'::jsonb,
  'the spec''s defaults are kept');
select ok(exists (select 1 from pg_constraint
                  where conrelid = 'public.upload_queue'::regclass and conname = 'valid_status'),
          'the spec''s constraint name valid_status is kept');
select fk_ok('public', 'upload_queue', 'user_id', 'public', 'profiles', 'id');
select fk_ok('public', 'upload_queue', 'video_id', 'public', 'videos', 'id');
select fk_ok('public', 'upload_events', 'upload_id', 'public', 'upload_queue', 'id');

-- Checks refuse what the state machine never writes.
insert into public.upload_queue (id, user_id, filename, local_id)
values (tests.up(1), 'a0a0a0a0-0000-4000-8000-00000000000a', 'ok.mp4', 'l1');
select throws_ok($$ update public.upload_queue set status = 'paused' where id = tests.up(1) $$,
                 '23514', null, 'an unknown status is refused');
select throws_ok($$ update public.upload_queue set stage = 'compressing' where id = tests.up(1) $$,
                 '23514', null, 'an unknown stage is refused');
select throws_ok($$ update public.upload_queue set source = 'downloaded' where id = tests.up(1) $$,
                 '23514', null, 'a source other than recorded/imported is refused');
select throws_ok($$ update public.upload_queue set retry_count = 4 where id = tests.up(1) $$,
                 '23514', null, 'more than 3 retries is refused');
select throws_ok($$ update public.upload_queue set progress = 101 where id = tests.up(1) $$,
                 '23514', null, 'progress above 100 is refused');
select throws_ok($$ insert into public.upload_queue (user_id, filename, local_id)
                    values ('a0a0a0a0-0000-4000-8000-00000000000a', 'dup.mp4', 'l1') $$,
                 '23505', null, 'local_id is unique per user');
select lives_ok($$ insert into public.upload_queue (user_id, filename, local_id)
                   values ('b0b0b0b0-0000-4000-8000-00000000000b', 'same.mp4', 'l1') $$,
                'another user may use the same local_id');
select lives_ok($$ insert into public.upload_queue (user_id, filename)
                   values ('a0a0a0a0-0000-4000-8000-00000000000a', 'spec-insert.mp4') $$,
                'the spec''s own insert (no local_id, no stage) still works');

-- The spec's updated_at trigger.
update public.upload_queue set updated_at = '2020-01-01T00:00:00Z', video_title = 't'
where id = tests.up(1);
select is((select updated_at from public.upload_queue where id = tests.up(1)), now(),
          'an update sets updated_at to now() whatever it was given');
select has_trigger('public', 'upload_queue', 'update_upload_queue_updated_at',
                   'the spec''s updated_at trigger exists');

-- Indexes for the monitoring queries.
select has_index('public', 'upload_queue', i, i)
from unnest(array['idx_upload_queue_user_id', 'idx_upload_queue_status',
                  'idx_upload_queue_started_at', 'idx_upload_queue_active',
                  'idx_upload_queue_status_updated_at', 'idx_upload_queue_updated_at']) as i;
select has_index('public', 'upload_events', 'idx_upload_events_upload_seq',
                 'the log is indexed by upload and seq');

-- RLS on, and grants only where needed.
select ok((select bool_and(relrowsecurity) from pg_class
           where oid in ('public.upload_queue'::regclass, 'public.upload_events'::regclass,
                         'public.monitor_settings'::regclass)),
          'row level security is on for the three tables');
select ok(not has_table_privilege('anon', t, p), format('anon has no %s on %s', p, t))
from unnest(array['public.upload_queue', 'public.upload_events', 'public.monitor_settings']) as t,
     unnest(array['select', 'insert', 'update', 'delete']) as p;
select ok(not has_table_privilege('authenticated', t, 'delete'),
          format('no deletes through the API on %s', t))
from unnest(array['public.upload_queue', 'public.upload_events']) as t;
select ok(not has_table_privilege('authenticated', 'public.upload_events', 'update'),
          'the event log is append-only for users');
select ok(not has_function_privilege('anon', f, 'execute'), format('anon cannot execute %s', f))
from unnest(array['public.report_upload_events(jsonb)', 'public.mark_stale_uploads(interval)',
                  'public.request_upload_retry(uuid)', 'public.pending_retry_requests()',
                  'public.cleanup_old_upload_queue()']) as f;
select is((select prosecdef from pg_proc where oid = 'public.report_upload_events(jsonb)'::regprocedure),
          true, 'report_upload_events is SECURITY DEFINER: the only writer, checking auth.uid() itself');

-- Realtime and the fleet pace.
select ok(exists (select 1 from pg_publication_tables where pubname = 'supabase_realtime'
                  and schemaname = 'public' and tablename = 'upload_queue'),
          'upload_queue is in the supabase_realtime publication');
-- The default, not the live value: an operator may have slowed the fleet on this project.
select is((select column_default from information_schema.columns
           where table_schema = 'public' and table_name = 'monitor_settings'
             and column_name = 'min_progress_interval_ms'), '1000',
          'the fleet pace defaults to 1000 ms');

select * from finish();
rollback;
