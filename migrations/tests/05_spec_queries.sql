begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;

-- Users A, B and the admin, and the helpers (tests.authenticate_as, tests.report, ...):
-- 00_helpers.sql. The users are rolled back at the end.
select tests.create_fixture_users();

select plan(10);

-- Data for the queries to find, arranged as the superuser:
-- A's video v1 (recorded 10 minutes ago, transcription failed), B's video v2 (upload failed
-- per metadata), A's upload 1 of v1's file (uploading, 40 minutes: stale), B's upload 2 failed.
insert into public.videos (id, user_id, title, file_path, duration, metadata, created_at) values
  ('0192a7b0-0000-7000-a000-000000000001', 'a0a0a0a0-0000-4000-8000-00000000000a', 'Chapitre 1',
   'https://example.test/storage/v1/object/public/videos/video-1.mp4', 61,
   '{"isRecorded": true}', now() - interval '10 minutes'),
  ('0192a7b0-0000-7000-a000-000000000002', 'b0b0b0b0-0000-4000-8000-00000000000b', 'Vacances',
   'https://example.test/storage/v1/object/public/videos/video-2.mp4', 30,
   '{"isImported": true, "uploadFailed": true}', now() - interval '1 hour');
insert into public.transcription_jobs (video_id, status, error_message) values
  ('0192a7b0-0000-7000-a000-000000000001', 'failed', 'AssemblyAI: audio too short');
insert into public.bug_reports (user_id, user_email, error_type, error_message, severity) values
  ('a0a0a0a0-0000-4000-8000-00000000000a', 'a@example.test', 'network', 'Upload failed: timeout', 'critical'),
  ('b0b0b0b0-0000-4000-8000-00000000000b', 'b@example.test', 'ui', 'Button misaligned', 'low');
insert into public.upload_queue (id, user_id, video_title, filename, file_size, status, progress, started_at, local_id) values
  (tests.up(1), 'a0a0a0a0-0000-4000-8000-00000000000a', 'Chapitre 1', 'video-1.mp4', 1000, 'uploading', 40,
   now() - interval '40 minutes', 'l1'),
  (tests.up(2), 'b0b0b0b0-0000-4000-8000-00000000000b', 'Vacances', 'video-2.mp4', 1000, 'failed', 10,
   now() - interval '2 hours', 'l2');

-- The spec's queries, verbatim (upload-monitoring-spec.md), each must run and find its rows.

-- "Query principale" (Option A, videos of the last 24 hours).
select isnt_empty($spec$
  SELECT
    v.id,
    v.title,
    v.file_path,
    v.duration,
    v.metadata,
    v.created_at,
    p.email,
    p.id as user_id,
    tj.status as transcription_status,
    tj.error_message as transcription_error
  FROM videos v
  LEFT JOIN profiles p ON v.user_id = p.id
  LEFT JOIN transcription_jobs tj ON v.id = tj.video_id
  WHERE v.created_at >= NOW() - INTERVAL '24 hours'
  ORDER BY v.created_at DESC;
$spec$, 'the spec''s main videos query runs');

-- "BUGS RÉCENTS".
select isnt_empty($spec$
SELECT *
FROM bug_reports
WHERE created_at >= NOW() - INTERVAL '24 hours'
ORDER BY
  CASE severity
    WHEN 'critical' THEN 1
    WHEN 'high' THEN 2
    WHEN 'medium' THEN 3
    WHEN 'low' THEN 4
  END,
  created_at DESC
LIMIT 20;
$spec$, 'the spec''s recent bugs query runs');

-- "ERREURS UPLOAD" 1: videos with metadata.uploadFailed.
select isnt_empty($spec$
   SELECT v.*, p.email
   FROM videos v
   JOIN profiles p ON v.user_id = p.id
   WHERE v.metadata->>'uploadFailed' = 'true'
   AND v.created_at >= NOW() - INTERVAL '7 days'
   ORDER BY v.created_at DESC;
$spec$, 'the spec''s failed uploads (videos) query runs');

-- "ERREURS UPLOAD" 2: network bugs.
select isnt_empty($spec$
   SELECT *
   FROM bug_reports
   WHERE (error_type = 'network' OR error_message ILIKE '%upload%')
   AND created_at >= NOW() - INTERVAL '24 hours'
   ORDER BY created_at DESC;
$spec$, 'the spec''s network errors query runs');

-- "ERREURS UPLOAD" 3: failed transcriptions.
select isnt_empty($spec$
   SELECT tj.*, v.title, p.email
   FROM transcription_jobs tj
   JOIN videos v ON tj.video_id = v.id
   JOIN profiles p ON v.user_id = p.id
   WHERE tj.status = 'failed'
   AND tj.created_at >= NOW() - INTERVAL '7 days'
   ORDER BY tj.created_at DESC;
$spec$, 'the spec''s transcription failures query runs');

-- "Query pour top errors".
select isnt_empty($spec$
SELECT
  error_message,
  COUNT(*) as count,
  COUNT(DISTINCT user_id) as unique_users,
  ROUND((COUNT(*) * 100.0 / (SELECT COUNT(*) FROM bug_reports WHERE created_at >= NOW() - INTERVAL '24 hours')), 1) as percentage
FROM bug_reports
WHERE created_at >= NOW() - INTERVAL '24 hours'
GROUP BY error_message
ORDER BY count DESC
LIMIT 5;
$spec$, 'the spec''s top errors query runs');

-- "EXEMPLE COMPLET DE QUERY COMPLEXE" (upload_stats).
select isnt_empty($spec$
WITH upload_stats AS (
  SELECT
    uq.id,
    uq.user_id,
    uq.video_title,
    uq.filename,
    uq.file_size,
    uq.status,
    uq.progress,
    uq.upload_speed,
    uq.retry_count,
    uq.error_message,
    uq.started_at,
    uq.completed_at,
    EXTRACT(EPOCH FROM (COALESCE(uq.completed_at, NOW()) - uq.started_at)) as elapsed_seconds,
    p.email as user_email,
    p.first_name,
    p.last_name,
    v.id as video_id,
    v.thumbnail_path,
    tj.status as transcription_status
  FROM upload_queue uq
  LEFT JOIN profiles p ON uq.user_id = p.id
  LEFT JOIN videos v ON v.file_path ILIKE '%' || uq.filename || '%'
  LEFT JOIN transcription_jobs tj ON v.id = tj.video_id
  WHERE uq.started_at >= NOW() - INTERVAL '24 hours'
)
SELECT
  *,
  CASE
    WHEN status = 'uploading' AND elapsed_seconds > 1800 THEN true
    ELSE false
  END as is_stale
FROM upload_stats
ORDER BY
  CASE
    WHEN status = 'uploading' THEN 1
    WHEN status = 'pending' THEN 2
    WHEN status = 'failed' THEN 3
    WHEN status = 'completed' THEN 4
  END,
  started_at DESC
LIMIT 100;
$spec$, 'the spec''s upload_stats query runs');

-- And answers what the dashboard needs: A's 40-minute upload is stale, joined to its video.
select results_eq($$
  WITH upload_stats AS (
    SELECT uq.id, uq.status, v.id as video_id, tj.status as transcription_status,
           EXTRACT(EPOCH FROM (COALESCE(uq.completed_at, NOW()) - uq.started_at)) as elapsed_seconds
    FROM upload_queue uq
    LEFT JOIN videos v ON v.file_path ILIKE '%' || uq.filename || '%'
    LEFT JOIN transcription_jobs tj ON v.id = tj.video_id
    WHERE uq.id = tests.up(1)
  )
  SELECT video_id, transcription_status,
         CASE WHEN status = 'uploading' AND elapsed_seconds > 1800 THEN true ELSE false END
  FROM upload_stats $$,
  $$ values ('0192a7b0-0000-7000-a000-000000000001'::uuid, 'failed'::text, true) $$,
  'upload_stats finds the video, its transcription and the stale flag');

-- The spec's PostgREST select for getActiveUploads, as an admin sees it through RLS
-- (upload_queue + profiles!inner(email)).
select tests.authenticate_as('admin');
select is((select count(*) from public.upload_queue uq join public.profiles p on p.id = uq.user_id
           where uq.id in (tests.up(1), tests.up(2))
             and uq.started_at >= now() - interval '24 hours'),
          2::bigint, 'an admin sees every user''s uploads with their emails');
select tests.authenticate_as('A');
select is((select count(*) from public.upload_queue uq join public.profiles p on p.id = uq.user_id
           where uq.id in (tests.up(1), tests.up(2))),
          1::bigint, 'a user sees only their own');

select * from finish();
rollback;
