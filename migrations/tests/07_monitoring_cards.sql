begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(9);

-- The upload card is written as JSON text (20261201080000). Rows built in memory (nothing
-- inserted), one per awkward case; each card must parse and equal the card as the jsonb
-- builder made it before, key for key.
create temp table card_cases on commit drop as
select (row(
  '0192a7b0-0000-7000-8000-0000000007a1'::uuid, null::uuid, t.title, t.filename, t.size,
  t.status, t.progress, t.speed, t.retries, t.message, t.metadata,
  '2026-11-24 09:00:00+00'::timestamptz, t.completed, t.updated,
  t.local_id, 'uploading_bytes', 5::bigint, t.source, t.duration, t.code, null::uuid, 3::bigint,
  null::timestamptz, null::jsonb, null::timestamptz)::public.upload_queue) as q,
  t.email, t.first_name, t.last_name, t.name
from (values
  ('plain', 'Vacances', 'a.mov', 1000::bigint, 'uploading', 40, 2.5::numeric, 0, null::text,
   '{"isRecorded": true}'::jsonb, null::timestamptz, '2026-11-24 09:05:00+00'::timestamptz,
   'import_1_0', 'recorded', 42, null::text, 'a@b.test', 'Ana', 'Bé'),
  ('quotes, unicode and control characters in user text',
   E'"Été" \\ à la plage\n\t<script>', E'we"ird\u0001.mov', null, 'failed', 10, null, 3,
   E'upload failed: "timeout"\r\n', null, '2026-11-24 09:06:00+00', '2026-11-24 09:06:00+00',
   '', null, null, 'network', E'o\'hara@x.test', null, E'Ünal "the" \\ one'),
  ('a NaN speed and a JSON null metadata', null, 'b.mov', 0, 'completed', 100,
   'NaN'::numeric, 1, null, 'null'::jsonb, '2026-11-24 09:07:00+00', null, null, 'imported',
   0, null, null, null, null)
) as t(name, title, filename, size, status, progress, speed, retries, message, metadata,
       completed, updated, local_id, source, duration, code, email, first_name, last_name);

-- The jsonb card as 20261124100000 built it, restated here as the reference.
create function pg_temp.reference_card(q public.upload_queue, email text, first_name text,
                                       last_name text, at timestamptz) returns jsonb
language sql stable as $$
  select jsonb_build_object(
      'id', q.id, 'userId', q.user_id, 'userEmail', email, 'videoTitle', q.video_title,
      'filename', q.filename, 'fileSize', q.file_size, 'status', q.status,
      'progress', coalesce(q.progress, 0), 'retryCount', coalesce(q.retry_count, 0),
      'startedAt', q.started_at, 'bytesSent', q.bytes_sent,
      'isStale', q.status in ('pending', 'uploading') and q.updated_at < at - interval '30 minutes',
      'origin', 'upload_queue', 'uploadSpeed', q.upload_speed, 'errorMessage', q.error_message,
      'completedAt', q.completed_at,
      'elapsedTime', extract(epoch from coalesce(q.completed_at, at) - q.started_at),
      'localId', nullif(q.local_id, ''), 'stage', q.stage, 'source', q.source,
      'errorCode', q.error_code, 'duration', q.duration, 'videoId', q.video_id,
      'updatedAt', q.updated_at, 'userFirstName', first_name, 'userLastName', last_name,
      'metadata', q.metadata)
    - array_remove(array[
      case when q.upload_speed is null then 'uploadSpeed' end,
      case when q.error_message is null then 'errorMessage' end,
      case when q.completed_at is null then 'completedAt' end,
      case when q.started_at is null then 'elapsedTime' end,
      case when nullif(q.local_id, '') is null then 'localId' end,
      case when q.stage is null then 'stage' end,
      case when q.source is null then 'source' end,
      case when q.error_code is null then 'errorCode' end,
      case when q.duration is null then 'duration' end,
      case when q.video_id is null then 'videoId' end,
      case when q.updated_at is null then 'updatedAt' end,
      case when first_name is null then 'userFirstName' end,
      case when last_name is null then 'userLastName' end,
      case when q.metadata is null or q.metadata = 'null'::jsonb then 'metadata' end], null)
$$;

select is(private.monitoring_item_json(c.q, c.email, c.first_name, c.last_name,
                                       '2026-11-24 10:00:00+00')::jsonb,
          pg_temp.reference_card(c.q, c.email, c.first_name, c.last_name,
                                 '2026-11-24 10:00:00+00'),
          'the text card equals the jsonb card: ' || c.name)
from card_cases c order by c.name;

select is(private.monitoring_item(c.q, c.email, c.first_name, c.last_name, '2026-11-24 10:00:00+00'),
          private.monitoring_item_json(c.q, c.email, c.first_name, c.last_name,
                                       '2026-11-24 10:00:00+00')::jsonb,
          'monitoring_item is the text card parsed (one field list)')
from card_cases c where c.name = 'plain';

select is(private.monitoring_item_json(c.q, c.email, c.first_name, c.last_name,
                                       '2026-11-24 10:00:00+00')::jsonb ->> 'videoTitle',
          E'"Été" \\ à la plage\n\t<script>',
          'user text comes back exactly as written (escaped, not interpreted)')
from card_cases c where c.name like 'quotes%';

select ok(not (private.monitoring_item_json(c.q, c.email, c.first_name, c.last_name,
                                            '2026-11-24 10:00:00+00')::jsonb ? 'metadata'),
          'a JSON null metadata leaves no key')
from card_cases c where c.name like 'a NaN%';

select ok(not has_function_privilege('authenticated', 'private.monitoring_rebuild_counts()', 'execute'),
          'a signed-in user cannot rebuild the stat counts');
select ok(not has_function_privilege('authenticated',
                                     'private.monitoring_bump(text, timestamptz, bigint)', 'execute'),
          'a signed-in user cannot bump the stat counts');
select ok(has_function_privilege('authenticated',
                                 'private.monitoring_item_json(public.upload_queue, text, text, text, timestamptz)',
                                 'execute'),
          'the card helper runs as the (admin) caller');

select * from finish();
rollback;
