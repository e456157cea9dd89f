-- The ingest becomes the only writer of the monitoring tables, and their columns get the
-- limits of monitor-core/src/limits.rs as CHECK constraints (issue: "what one hostile or
-- careless phone can do to everyone").
--
-- Before: report_upload_events ran as the caller (SECURITY INVOKER), so `authenticated` held
-- INSERT/UPDATE on upload_queue and INSERT on upload_events, reachable on Supabase as
-- `POST/PATCH /rest/v1/upload_queue`. A user could write 'infinity' timestamps (every admin's
-- monitoring RPC then failed with 22008), NaN speeds, any status or server-only event kind,
-- and link another user's video. After: users keep SELECT on their own rows; the state
-- machine (SECURITY DEFINER, search_path '') checks auth.uid() itself; the constraints are a
-- second wall that also binds the service role. Idempotent: applying it twice is a no-op.

-- ---------------------------------------------------------------------------------------------
-- 1. Users no longer write the tables directly.
-- ---------------------------------------------------------------------------------------------

revoke insert, update, delete on public.upload_queue from authenticated;
revoke insert, update, delete on public.upload_events from authenticated;
drop policy if exists "upload_queue: insert own rows" on public.upload_queue;
drop policy if exists "upload_queue: update own rows" on public.upload_queue;
drop policy if exists "upload_events: insert own rows" on public.upload_events;

-- ---------------------------------------------------------------------------------------------
-- 2. Rows written before this migration are brought within the limits, so the constraints
--    can be validated (and a later update of an old row cannot fail on them).
-- ---------------------------------------------------------------------------------------------

-- Out-of-range times become null (or now() where the column is required by the spec's
-- default); non-finite or absurd speeds become null; texts are cut as the ingest cuts them.
-- A local_id over the limit keeps its first 222 characters plus its md5, so it stays unique.
update public.upload_queue set
  started_at = case when started_at >= '2000-01-01 00:00:00+00' and started_at < '2100-01-01 00:00:00+00'
                    then started_at end,
  completed_at = case when completed_at >= '2000-01-01 00:00:00+00' and completed_at < '2100-01-01 00:00:00+00'
                      then completed_at end,
  client_updated_at = case when client_updated_at >= '2000-01-01 00:00:00+00' and client_updated_at < '2100-01-01 00:00:00+00'
                           then client_updated_at end,
  retry_requested_at = case when retry_requested_at >= '2000-01-01 00:00:00+00' and retry_requested_at < '2100-01-01 00:00:00+00'
                            then retry_requested_at end,
  upload_speed = case when upload_speed >= 0 and upload_speed <= 100000 then upload_speed end,
  local_id = case when char_length(local_id) > 255
                  then left(local_id, 222) || '~' || md5(local_id) else local_id end,
  video_title = left(video_title, 500),
  filename = left(filename, 1000),
  error_code = left(error_code, 100),
  error_message = left(error_message, 4000),
  metadata = case when octet_length(metadata::text) > 16384 then '{}'::jsonb else metadata end,
  device_info = case when octet_length(device_info::text) > 4096 then null else device_info end
where not (coalesce(started_at >= '2000-01-01 00:00:00+00' and started_at < '2100-01-01 00:00:00+00', true)
       and coalesce(completed_at >= '2000-01-01 00:00:00+00' and completed_at < '2100-01-01 00:00:00+00', true)
       and coalesce(client_updated_at >= '2000-01-01 00:00:00+00' and client_updated_at < '2100-01-01 00:00:00+00', true)
       and coalesce(retry_requested_at >= '2000-01-01 00:00:00+00' and retry_requested_at < '2100-01-01 00:00:00+00', true)
       and coalesce(upload_speed >= 0 and upload_speed <= 100000, true)
       and coalesce(char_length(local_id) <= 255, true)
       and coalesce(char_length(video_title) <= 500, true)
       and char_length(filename) <= 1000
       and coalesce(char_length(error_code) <= 100, true)
       and coalesce(char_length(error_message) <= 4000, true)
       and coalesce(octet_length(metadata::text) <= 16384, true)
       and coalesce(octet_length(device_info::text) <= 4096, true));

-- The updated_at trigger has just set now() on the rows above; the rest keep theirs.
update public.upload_queue set updated_at = now()
where not coalesce(updated_at >= '2000-01-01 00:00:00+00' and updated_at < '2100-01-01 00:00:00+00', false);

update public.upload_events set
  device_at = case when device_at >= '2000-01-01 00:00:00+00' and device_at < '2100-01-01 00:00:00+00'
                   then device_at end,
  upload_speed = case when upload_speed >= 0 and upload_speed <= 100000 then upload_speed end,
  error_code = left(error_code, 100),
  error_message = left(error_message, 4000)
where not (coalesce(device_at >= '2000-01-01 00:00:00+00' and device_at < '2100-01-01 00:00:00+00', true)
       and coalesce(upload_speed >= 0 and upload_speed <= 100000, true)
       and coalesce(char_length(error_code) <= 100, true)
       and coalesce(char_length(error_message) <= 4000, true));

-- ---------------------------------------------------------------------------------------------
-- 3. The limits as constraints: the second wall, which the service role meets too.
-- ---------------------------------------------------------------------------------------------

-- Times: finite and in [2000, 2100) (limits.rs EARLIEST/LATEST_EVENT_AT): 'infinity' made
-- every elapsed-time expression of the monitoring RPCs raise 22008. Speeds: finite (numeric
-- NaN compares above every number, so the upper bound refuses it), 0..100,000 MB/s. Texts:
-- limits.rs's lengths, in characters; metadata and device_info in bytes of jsonb text
-- (device_info: four fields of 100 characters, each up to 6 bytes once escaped, plus keys:
-- ~2.5 kB at most, hence 4 kB).
do $$
declare
  c record;
begin
  for c in
    select * from (values
      ('upload_queue', 'upload_queue_times_in_range',
       $c$(started_at is null or (started_at >= '2000-01-01 00:00:00+00' and started_at < '2100-01-01 00:00:00+00'))
          and (completed_at is null or (completed_at >= '2000-01-01 00:00:00+00' and completed_at < '2100-01-01 00:00:00+00'))
          and (updated_at is null or (updated_at >= '2000-01-01 00:00:00+00' and updated_at < '2100-01-01 00:00:00+00'))
          and (client_updated_at is null or (client_updated_at >= '2000-01-01 00:00:00+00' and client_updated_at < '2100-01-01 00:00:00+00'))
          and (retry_requested_at is null or (retry_requested_at >= '2000-01-01 00:00:00+00' and retry_requested_at < '2100-01-01 00:00:00+00'))$c$),
      ('upload_queue', 'upload_queue_speed_in_range',
       $c$upload_speed is null or (upload_speed >= 0 and upload_speed <= 100000)$c$),
      ('upload_queue', 'upload_queue_texts_within_limits',
       $c$char_length(local_id) <= 255 and char_length(video_title) <= 500
          and char_length(filename) <= 1000 and char_length(error_code) <= 100
          and char_length(error_message) <= 4000
          and octet_length(metadata::text) <= 16384 and octet_length(device_info::text) <= 4096$c$),
      ('upload_events', 'upload_events_values_in_range',
       $c$(device_at is null or (device_at >= '2000-01-01 00:00:00+00' and device_at < '2100-01-01 00:00:00+00'))
          and (upload_speed is null or (upload_speed >= 0 and upload_speed <= 100000))
          and (progress is null or (progress >= 0 and progress <= 100))
          and (bytes_sent is null or bytes_sent >= 0)
          and char_length(error_code) <= 100 and char_length(error_message) <= 4000$c$)
    ) as t(tbl, name, expr)
  loop
    if not exists (select 1 from pg_constraint
                   where conname = c.name and conrelid = ('public.' || c.tbl)::regclass) then
      execute format('alter table public.%I add constraint %I check (%s)', c.tbl, c.name, c.expr);
    end if;
  end loop;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- 4. The ingest function, now SECURITY DEFINER, with the limits and a lock it never waits for.
--    The body is 20261124092000's but for the lines marked by monitor-core/src/limits.rs,
--    the try-lock, and the two reads (known event ids, linked video) that RLS used to filter.
-- ---------------------------------------------------------------------------------------------

create or replace function public.report_upload_events(events jsonb)
returns jsonb
language plpgsql
volatile
-- The only writer of upload_queue and upload_events: users hold no write grant on them, so
-- the state machine below is the only way in. Every row it touches is checked against
-- auth.uid() here, as RLS did when it ran as the caller.
security definer
set search_path = '' -- every name below is schema-qualified; nothing can be shadowed
as $$
declare
  -- Largest batch accepted: the SDK sends at most 500; twice that leaves room, and bounds
  -- the time one call holds its uploads' row locks.
  c_max_events constant integer := 1000;
  -- monitor-core/src/limits.rs, one constant each (tests/ingest_differential.rs holds the two
  -- to the same verdicts). Cut: display texts. Refused: identifiers and metadata.
  c_max_error_chars constant integer := 4000;      -- MAX_ERROR_MESSAGE_CHARS, cut
  c_max_error_code_chars constant integer := 100;  -- MAX_ERROR_CODE_CHARS, cut
  c_max_title_chars constant integer := 500;       -- MAX_VIDEO_TITLE_CHARS, cut
  c_max_filename_chars constant integer := 1000;   -- MAX_FILENAME_CHARS, cut
  c_max_device_chars constant integer := 100;      -- MAX_DEVICE_FIELD_CHARS, cut
  c_max_local_id_chars constant integer := 255;    -- MAX_LOCAL_ID_CHARS, refused
  c_max_metadata_bytes constant integer := 16384;  -- MAX_METADATA_BYTES (jsonb text), refused
  c_max_speed constant numeric := 100000;          -- MAX_UPLOAD_SPEED_MBPS, out_of_range
  -- serde's f64: a larger JSON number cannot be parsed by the Rust side (invalid_payload).
  c_max_f64 constant numeric := 1.7976931348623157e308;
  c_earliest constant timestamptz := '2000-01-01 00:00:00+00'; -- EARLIEST_EVENT_AT
  c_latest constant timestamptz := '2100-01-01 00:00:00+00';   -- LATEST_EVENT_AT (excluded)
  -- event.rs MAX_RETRIES ("Tentative n/3").
  c_max_retries constant integer := 3;
  -- A pg_notify payload must stay under 8000 bytes: 100 ids of 36 characters fit.
  c_notify_max_ids constant integer := 100;
  -- The rank of the `uploading` stage (UploadStage::Uploading.rank()).
  c_rank_uploading constant integer := 3;

  v_uid uuid := auth.uid();
  v_n integer;
  v_bad bigint;
  v_event_ids uuid[];
  v_group_order uuid[];
  v_known uuid[];
  v_has_profile boolean;
  v_interval integer;
  v_response jsonb;

  r record;
  g record;
  groups refcursor;

  -- Verdicts, indexed by input position (1-based).
  v_out text[];
  v_reason text[];
  v_reject text;
  v_applied integer := 0;
  v_touched uuid[] := '{}';

  -- The current upload's state (events arrive grouped by upload, in seq order).
  g_id uuid;
  g_exists boolean := false;  -- the caller's own upload, known before or begun in this batch
  g_foreign boolean := false; -- visible to the caller (an admin) but someone else's
  v_local_taken boolean;
  v_created boolean;          -- this event is the begin that created the row
  g_dirty boolean := false;   -- changed by an event after its load or insert
  g_touched boolean := false;
  s_status text;
  s_stage text;
  s_progress integer;
  s_bytes bigint;
  s_file_size bigint;
  s_speed numeric;
  s_retry integer;
  s_err_code text;
  s_err_msg text;
  s_completed_at timestamptz;
  s_video_id uuid;
  s_last_seq bigint;
  s_retry_req timestamptz;
  s_client_at timestamptz;
  s_started_at timestamptz;
  v_prev_progress integer;
  v_prev_bytes bigint;
  v_log boolean;

  -- One row per changed upload, written by one UPDATE at the end.
  u_id uuid[] := '{}';
  u_status text[] := '{}';
  u_stage text[] := '{}';
  u_progress integer[] := '{}';
  u_bytes bigint[] := '{}';
  u_speed numeric[] := '{}';
  u_retry integer[] := '{}';
  u_err_code text[] := '{}';
  u_err_msg text[] := '{}';
  u_completed_at timestamptz[] := '{}';
  u_video_id uuid[] := '{}';
  u_last_seq bigint[] := '{}';
  u_retry_req timestamptz[] := '{}';
  u_client_at timestamptz[] := '{}';
  u_started_at timestamptz[] := '{}';

  -- One row per logged event, written by one INSERT at the end.
  l_id uuid[] := '{}';
  l_upload uuid[] := '{}';
  l_seq bigint[] := '{}';
  l_kind text[] := '{}';
  l_status text[] := '{}';
  l_stage text[] := '{}';
  l_progress integer[] := '{}';
  l_bytes bigint[] := '{}';
  l_speed numeric[] := '{}';
  l_err_code text[] := '{}';
  l_err_msg text[] := '{}';
  l_at timestamptz[] := '{}';
begin
  if v_uid is null then
    raise exception using errcode = '42501',
      message = 'report_upload_events needs a signed-in user (a JWT with a sub claim)';
  end if;

  -- One batch per user at a time: a batch replayed while the first copy is still running
  -- (client timeout) must not race it on the same upload ids. Never *wait* for the lock:
  -- a waiting call holds one of the API's pooled connections, so one user sending many
  -- batches at once would make everyone else queue. The loser answers 429 with
  -- Retry-After (PostgREST's custom-status error form), which the SDK already honours;
  -- nothing has been written yet. Tried first, so a refused call costs next to nothing.
  if not pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtextextended(v_uid::text, 0)) then
    raise sqlstate 'PGRST' using
      message = '{"code":"UM429","message":"another batch of this user is being applied",'
                '"details":null,"hint":"send it again after Retry-After seconds"}',
      detail = '{"status":429,"headers":{"Retry-After":"1"}}';
  end if;

  -- The batch's shape. Anything that leaves an event without an id to answer for, or without
  -- an upload and seq to order it by, refuses the whole batch before anything is written.
  if events is null or jsonb_typeof(events) <> 'array' then
    raise exception using errcode = '22023',
      message = 'events must be a JSON array of event objects',
      hint = 'call report_upload_events with {"events": [...]}';
  end if;
  v_n := jsonb_array_length(events);
  if v_n > c_max_events then
    raise exception using errcode = '22023',
      message = format('events holds %s events; at most %s are accepted per call', v_n, c_max_events),
      hint = 'split the batch';
  end if;
  if v_n = 0 then
    return jsonb_build_object('results', '[]'::jsonb, 'min_progress_interval_ms',
      coalesce((select s.min_progress_interval_ms from public.monitor_settings s limit 1), 1000));
  end if;

  select t.ord into v_bad
  from jsonb_array_elements(events) with ordinality as t(e, ord)
  -- coalesce: a missing key makes these comparisons null, and null must count as bad.
  where not coalesce(jsonb_typeof(t.e) = 'object'
                     and private.json_uuid(t.e -> 'id')
                     and private.json_uuid(t.e -> 'upload_id')
                     and private.json_int_between(t.e -> 'seq', -9223372036854775808,
                                                  9223372036854775807)
                     and jsonb_typeof(t.e -> 'kind') = 'string', false)
  order by t.ord
  limit 1;
  if v_bad is not null then
    raise exception using errcode = '22023',
      message = format('events[%s] must be an object with "id" and "upload_id" (UUID strings), '
                       '"seq" (an integer) and "kind" (a string)', v_bad - 1);
  end if;

  select array_agg((t.e ->> 'id')::uuid order by t.ord)
    into v_event_ids
  from jsonb_array_elements(events) with ordinality as t(e, ord);


  -- Lock the caller's uploads of this batch, in id order so two batches cannot deadlock, so
  -- that mark_stale_uploads or an admin's retry request cannot be lost between read and write.
  perform 1 from (select q.id from public.upload_queue q
                  where q.id in (select (t.e ->> 'upload_id')::uuid
                                 from jsonb_array_elements(events) as t(e))
                    and q.user_id = v_uid
                  order by q.id
                  for update) as locked;

  -- Event ids already known (logged): replays are duplicates. Known = what the caller could
  -- read under RLS (their own events; an admin's reads cover everyone's).
  select coalesce(array_agg(ue.id), '{}') into v_known
  from public.upload_events ue
  where ue.id = any(v_event_ids)
    and (ue.user_id = v_uid or (select private.is_admin()));

  -- Uploads in the order their events are applied: by the position of the upload's first
  -- event that is not a duplicate (event.rs "Batches"). An upload whose events are all
  -- duplicates keeps its first position (nothing of it is applied; its place only has to be
  -- the same here, for the cursor, as in the loop below).
  select array_agg(grp.upload_id order by grp.pos)
    into v_group_order
  from (select d.upload_id,
               coalesce(min(d.ord) filter (where not d.dup), min(d.ord)) as pos
        from (select t.ord, (t.e ->> 'upload_id')::uuid as upload_id,
                     ((t.e ->> 'id')::uuid = any(v_known)
                      or row_number() over (partition by (t.e ->> 'id')::uuid order by t.ord) > 1) as dup
              from jsonb_array_elements(events) with ordinality as t(e, ord)) as d
        group by d.upload_id) as grp;

  v_out := array_fill(null::text, array[v_n]);
  v_reason := array_fill(null::text, array[v_n]);

  -- The state of each upload, in the same order as the event groups below.
  open groups for
    select u.upload_id, q.id as found_id, q.user_id, q.status, q.stage, q.progress,
           q.bytes_sent, q.file_size, q.upload_speed, q.retry_count, q.error_code,
           q.error_message, q.completed_at, q.video_id, q.last_seq, q.retry_requested_at,
           q.client_updated_at, q.started_at
    from unnest(v_group_order) with ordinality as u(upload_id, pos)
    left join public.upload_queue q on q.id = u.upload_id
    order by u.pos;

  for r in
    with raw as (
      select t.ord::integer as ord, t.e,
             (t.e ->> 'id')::uuid as id,
             (t.e ->> 'upload_id')::uuid as upload_id,
             (t.e ->> 'seq')::bigint as seq,
             t.e ->> 'kind' as kind
      from jsonb_array_elements(events) with ordinality as t(e, ord)
    ),
    deduped as (
      select raw.*,
             -- Known (logged) ids, and every copy of an id after its first in input order.
             (raw.id = any(v_known)
              or row_number() over (partition by raw.id order by raw.ord) > 1) as dup
      from raw
    ),
    checked as (
      select raw.*,
             -- The same order as v_group_order.
             coalesce(min(raw.ord) filter (where not raw.dup) over (partition by raw.upload_id),
                      min(raw.ord) over (partition by raw.upload_id)) as group_pos,
             -- coalesce: a missing field makes a comparison null, and null is not ok.
             coalesce(raw.seq >= 1
              and jsonb_typeof(raw.e -> 'at') = 'string'
              -- case: the cast may only run on text is_rfc3339 accepted (AND has no order).
              and case when private.is_rfc3339(raw.e ->> 'at')
                       then (raw.e ->> 'at')::timestamptz >= c_earliest
                            and (raw.e ->> 'at')::timestamptz < c_latest
                       else false end
              and case raw.kind
                when 'begin' then
                  jsonb_typeof(raw.e -> 'local_id') = 'string'
                  and raw.e ->> 'local_id' <> ''
                  and char_length(raw.e ->> 'local_id') <= c_max_local_id_chars
                  and jsonb_typeof(raw.e -> 'filename') = 'string'
                  and raw.e ->> 'filename' <> ''
                  and private.json_opt_string(raw.e -> 'video_title')
                  and (private.json_absent(raw.e -> 'file_size')
                       or private.json_int_between(raw.e -> 'file_size',
                            0, 9223372036854775807))
                  and (private.json_absent(raw.e -> 'metadata')
                       or (jsonb_typeof(raw.e -> 'metadata') = 'object'
                           and octet_length((raw.e -> 'metadata')::text) <= c_max_metadata_bytes))
                  and (private.json_absent(raw.e -> 'source')
                       or (jsonb_typeof(raw.e -> 'source') = 'string'
                           and raw.e ->> 'source' in ('recorded', 'imported')))
                  and (private.json_absent(raw.e -> 'device')
                       or (jsonb_typeof(raw.e -> 'device') = 'object'
                           and private.json_opt_string(raw.e -> 'device' -> 'platform')
                           and private.json_opt_string(raw.e -> 'device' -> 'os_version')
                           and private.json_opt_string(raw.e -> 'device' -> 'app_version')
                           and private.json_opt_string(raw.e -> 'device' -> 'model')))
                  and (private.json_absent(raw.e -> 'user_id')
                       or private.json_uuid(raw.e -> 'user_id'))
                when 'progress' then
                  private.json_int_between(raw.e -> 'bytes_sent',
                    -9223372036854775808, 9223372036854775807)
                  and private.json_int_between(raw.e -> 'progress', -2147483648, 2147483647)
                  and (private.json_absent(raw.e -> 'upload_speed')
                       or (jsonb_typeof(raw.e -> 'upload_speed') = 'number'
                           and abs((raw.e -> 'upload_speed')::numeric) <= c_max_f64))
                when 'stage' then
                  jsonb_typeof(raw.e -> 'stage') = 'string'
                  and private.stage_rank(raw.e ->> 'stage') > 0
                when 'complete' then
                  private.json_absent(raw.e -> 'video_id')
                  or private.json_uuid(raw.e -> 'video_id')
                when 'fail' then
                  jsonb_typeof(raw.e -> 'error_code') = 'string'
                  and jsonb_typeof(raw.e -> 'error_message') = 'string'
                  and (private.json_absent(raw.e -> 'retry_count')
                       or private.json_int_between(raw.e -> 'retry_count', 0, 2147483647))
                when 'retry' then true
                else false
              end, false) as ok
      from deduped as raw
    ),
    typed as (
      select c.ord, c.id, c.upload_id, c.seq, c.kind, c.dup, c.ok, c.group_pos,
             case when c.ok then (c.e ->> 'at')::timestamptz end as at,
             -- begin
             case when c.ok and c.kind = 'begin' then c.e ->> 'local_id' end as local_id,
             case when c.ok and c.kind = 'begin' then left(c.e ->> 'filename', c_max_filename_chars) end as filename,
             case when c.ok and c.kind = 'begin' then left(c.e ->> 'video_title', c_max_title_chars) end as video_title,
             case when c.ok and c.kind = 'begin' then (c.e ->> 'file_size')::bigint end as file_size,
             -- The given source, else the app's metadata flags (isRecorded wins).
             case when c.ok and c.kind = 'begin' then
               coalesce(c.e ->> 'source',
                        case when c.e -> 'metadata' -> 'isRecorded' = 'true'::jsonb then 'recorded'
                             when c.e -> 'metadata' -> 'isImported' = 'true'::jsonb then 'imported'
                        end) end as source,
             case when c.ok and c.kind = 'begin' then
               coalesce(nullif(c.e -> 'metadata', 'null'::jsonb), '{}'::jsonb) end as metadata,
             -- Only the four DeviceInfo fields are kept, as the Rust type keeps them.
             case when c.ok and c.kind = 'begin' and not private.json_absent(c.e -> 'device') then
               jsonb_strip_nulls(jsonb_build_object(
                 'platform', to_jsonb(left(c.e -> 'device' ->> 'platform', c_max_device_chars)),
                 'os_version', to_jsonb(left(c.e -> 'device' ->> 'os_version', c_max_device_chars)),
                 'app_version', to_jsonb(left(c.e -> 'device' ->> 'app_version', c_max_device_chars)),
                 'model', to_jsonb(left(c.e -> 'device' ->> 'model', c_max_device_chars)))) end as device,
             case when c.ok and c.kind = 'begin' then (c.e ->> 'user_id')::uuid end as claimed_user,
             -- metadata.duration (seconds) when it is a number that fits videos.duration.
             case when c.ok and c.kind = 'begin'
                       and jsonb_typeof(c.e -> 'metadata') = 'object'
                       and jsonb_typeof(c.e -> 'metadata' -> 'duration') = 'number'
                       and (c.e -> 'metadata' -> 'duration')::numeric between 0 and 2147483647
                  then round((c.e -> 'metadata' -> 'duration')::numeric)::integer end as duration,
             -- progress
             case when c.ok and c.kind = 'progress' then (c.e ->> 'bytes_sent')::bigint end as bytes_sent,
             case when c.ok and c.kind = 'progress' then (c.e ->> 'progress')::integer end as progress,
             case when c.ok and c.kind = 'progress' then (c.e ->> 'upload_speed')::numeric end as upload_speed,
             -- stage
             case when c.ok and c.kind = 'stage' then c.e ->> 'stage' end as stage,
             -- complete
             case when c.ok and c.kind = 'complete' then (c.e ->> 'video_id')::uuid end as video_id,
             -- fail: the message is cut here so a 10 MB trace is never carried further.
             case when c.ok and c.kind = 'fail' then left(c.e ->> 'error_code', c_max_error_code_chars) end as error_code,
             case when c.ok and c.kind = 'fail' then left(c.e ->> 'error_message', c_max_error_chars) end as error_message,
             case when c.ok and c.kind = 'fail' then (c.e ->> 'retry_count')::integer end as retry_count
      from checked c
    )
    select * from (
      select t.*, false as sentinel from typed t
      -- A last row that closes the last upload's group (see the flush at the loop's top).
      union all
      select null, null, null, null, null, null, null, null, null, null, null, null, null,
             null, null, null, null, null, null, null, null, null, null, null, null, null, true
    ) as ordered
    order by ordered.sentinel, ordered.group_pos, ordered.seq, ordered.ord
  loop
    if r.sentinel or r.upload_id is distinct from g_id then
      -- Close the previous upload: queue its final state for the one UPDATE.
      if g_dirty then
        u_id := u_id || g_id;
        u_status := u_status || s_status;
        u_stage := u_stage || s_stage;
        u_progress := u_progress || s_progress;
        u_bytes := u_bytes || s_bytes;
        u_speed := u_speed || s_speed;
        u_retry := u_retry || s_retry;
        u_err_code := u_err_code || s_err_code;
        u_err_msg := u_err_msg || s_err_msg;
        u_completed_at := u_completed_at || s_completed_at;
        u_video_id := u_video_id || s_video_id;
        u_last_seq := u_last_seq || s_last_seq;
        u_retry_req := u_retry_req || s_retry_req;
        u_client_at := u_client_at || s_client_at;
        u_started_at := u_started_at || s_started_at;
      end if;
      exit when r.sentinel;

      -- Open the next upload.
      fetch groups into g;
      g_id := r.upload_id;
      g_exists := g.found_id is not null and g.user_id is not distinct from v_uid;
      g_foreign := g.found_id is not null and g.user_id is distinct from v_uid;
      g_dirty := false;
      g_touched := false;
      if g_exists then
        s_status := g.status;
        s_stage := g.stage;
        s_progress := coalesce(g.progress, 0);
        s_bytes := g.bytes_sent;
        s_file_size := g.file_size;
        s_speed := g.upload_speed;
        s_retry := coalesce(g.retry_count, 0);
        s_err_code := g.error_code;
        s_err_msg := g.error_message;
        s_completed_at := g.completed_at;
        s_video_id := g.video_id;
        s_last_seq := g.last_seq;
        s_retry_req := g.retry_requested_at;
        s_client_at := g.client_updated_at;
        s_started_at := g.started_at;
      end if;
    end if;

    v_reject := null;
    v_log := true;
    v_created := false;

    -- The order of checks is event.rs's "Precisely" list.
    if r.dup then
      v_out[r.ord] := 'duplicate';
      continue;
    end if;

    if not r.ok then
      v_reject := 'invalid_payload';
    elsif r.claimed_user is not null and r.claimed_user <> v_uid then
      v_reject := 'forbidden';
    elsif not g_exists then
      if r.kind <> 'begin' then
        -- No row of the caller's: unknown, whether absent or someone else's (a user learns
        -- nothing about others' upload ids; an admin sees them but never writes them).
        v_reject := 'unknown_upload';
      elsif g_foreign then
        v_reject := 'forbidden';
      else
        if v_has_profile is null then
          -- upload_queue.user_id references profiles: without a profile the insert would fail.
          select exists (select 1 from public.profiles p where p.id = v_uid) into v_has_profile;
        end if;
        -- Uploads begun earlier in this batch are already rows, so they count.
        v_local_taken := exists (select 1 from public.upload_queue q
                                 where q.user_id = v_uid and q.local_id = r.local_id);
        if v_local_taken then
          v_reject := case when private.upload_id_taken(r.upload_id) then 'forbidden'
                           else 'local_id_conflict' end;
        elsif not v_has_profile then
          v_reject := 'forbidden';
        else
          insert into public.upload_queue
            (id, user_id, video_title, filename, file_size, status, progress, retry_count,
             metadata, local_id, stage, bytes_sent, source, duration, device_info, last_seq,
             client_updated_at)
          values
            (r.upload_id, v_uid, r.video_title, r.filename, r.file_size, 'pending', 0, 0,
             r.metadata, r.local_id, 'validating', 0, r.source, r.duration, r.device, r.seq,
             r.at)
          on conflict do nothing
          returning started_at into s_started_at;
          if not found then
            -- The id belongs to an upload the caller cannot see: someone else's.
            v_reject := 'forbidden';
          else
            v_created := true;
            g_exists := true;
            s_status := 'pending';
            s_stage := 'validating';
            s_progress := 0;
            s_bytes := 0;
            s_file_size := r.file_size;
            s_speed := null;
            s_retry := 0;
            s_err_code := null;
            s_err_msg := null;
            s_completed_at := null;
            s_video_id := null;
            s_last_seq := r.seq;
            s_retry_req := null;
            s_client_at := r.at;
          end if;
        end if;
      end if;
    end if;

    if v_reject is not null then
      v_out[r.ord] := 'rejected';
      v_reason[r.ord] := v_reject;
      continue;
    end if;

    if not v_created then
      -- The caller's own upload, known before this event.
      if r.seq <= s_last_seq then
        v_out[r.ord] := 'superseded';
        continue;
      end if;

      case r.kind
        when 'begin' then
          v_reject := 'already_begun';

        when 'progress' then
          if s_status in ('completed', 'failed') then
            v_reject := 'terminal_state';
          elsif r.progress < 0 or r.progress > 100 or r.bytes_sent < 0
                or r.bytes_sent > s_file_size or r.upload_speed < 0
                or r.upload_speed > c_max_speed then
            v_reject := 'out_of_range';
          else
            v_prev_progress := s_progress;
            v_prev_bytes := s_bytes;
            s_status := 'uploading';
            if private.stage_rank(s_stage) < c_rank_uploading then
              s_stage := 'uploading';
            end if;
            s_progress := greatest(s_progress, r.progress);
            s_bytes := greatest(s_bytes, r.bytes_sent);
            s_speed := coalesce(r.upload_speed, s_speed);
            -- Keep rule: the attempt's first progress, then one per 10-point milestone.
            v_log := (v_prev_progress = 0 and v_prev_bytes = 0)
                     or s_progress / 10 > v_prev_progress / 10;
          end if;

        when 'stage' then
          if s_status in ('completed', 'failed') then
            v_reject := 'terminal_state';
          elsif private.stage_rank(r.stage) < private.stage_rank(s_stage) then
            v_reject := 'stage_order';
          else
            s_stage := r.stage;
            if private.stage_rank(s_stage) >= c_rank_uploading and s_status = 'pending' then
              s_status := 'uploading';
            end if;
          end if;

        when 'complete' then
          if s_status in ('completed', 'failed') then
            v_reject := 'terminal_state';
          else
            s_status := 'completed';
            s_progress := 100;
            s_bytes := coalesce(s_file_size, s_bytes);
            s_completed_at := now();
            if r.video_id is not null then
              -- Linked only to a video the caller could read under RLS (their own; an
              -- admin's reads cover everyone's): an unknown id would break the foreign key
              -- (and the batch), and a completion is worth more than its link.
              if exists (select 1 from public.videos v
                         where v.id = r.video_id
                           and (v.user_id = v_uid or (select private.is_admin()))) then
                s_video_id := r.video_id;
              end if;
            end if;
          end if;

        when 'fail' then
          if s_status in ('completed', 'failed') then
            v_reject := 'terminal_state';
          elsif r.retry_count > c_max_retries then
            v_reject := 'retry_limit';
          else
            s_status := 'failed';
            s_err_code := r.error_code;
            s_err_msg := r.error_message;
            s_retry := greatest(s_retry, coalesce(r.retry_count, 0));
            s_completed_at := now();
          end if;

        when 'retry' then
          if s_status <> 'failed' then
            v_reject := 'invalid_transition';
          elsif s_retry >= c_max_retries then
            v_reject := 'retry_limit';
          else
            s_status := 'pending';
            s_stage := 'validating';
            s_progress := 0;
            s_bytes := 0;
            s_speed := null;
            s_err_code := null;
            s_err_msg := null;
            s_completed_at := null;
            s_retry_req := null;
            s_retry := s_retry + 1;
            -- Elapsed time, timeout and the 24 h windows follow the current attempt.
            s_started_at := now();
          end if;
      end case;

      if v_reject is not null then
        v_out[r.ord] := 'rejected';
        v_reason[r.ord] := v_reject;
        continue;
      end if;

      s_last_seq := r.seq;
      s_client_at := r.at;
      g_dirty := true;
    end if;

    -- Applied.
    v_out[r.ord] := 'applied';
    v_applied := v_applied + 1;
    if not g_touched then
      g_touched := true;
      v_touched := v_touched || g_id;
    end if;
    if v_log then
      l_id := l_id || r.id;
      l_upload := l_upload || g_id;
      l_seq := l_seq || r.seq;
      l_kind := l_kind || r.kind;
      l_status := l_status || s_status;
      l_stage := l_stage || s_stage;
      l_progress := l_progress || s_progress;
      l_bytes := l_bytes || s_bytes;
      l_speed := l_speed || r.upload_speed;
      l_err_code := l_err_code || r.error_code;
      l_err_msg := l_err_msg || r.error_message;
      l_at := l_at || r.at;
    end if;
  end loop;
  close groups;

  if cardinality(u_id) > 0 then
    update public.upload_queue q set
      status = u.status,
      stage = u.stage,
      progress = u.progress,
      bytes_sent = u.bytes_sent,
      upload_speed = u.upload_speed,
      retry_count = u.retry_count,
      error_code = u.error_code,
      error_message = u.error_message,
      completed_at = u.completed_at,
      video_id = u.video_id,
      last_seq = u.last_seq,
      retry_requested_at = u.retry_requested_at,
      client_updated_at = u.client_updated_at,
      started_at = u.started_at
    from unnest(u_id, u_status, u_stage, u_progress, u_bytes, u_speed, u_retry, u_err_code,
                u_err_msg, u_completed_at, u_video_id, u_last_seq, u_retry_req, u_client_at,
                u_started_at)
      as u(id, status, stage, progress, bytes_sent, upload_speed, retry_count, error_code,
           error_message, completed_at, video_id, last_seq, retry_requested_at,
           client_updated_at, started_at)
    where q.id = u.id;
  end if;

  if cardinality(l_id) > 0 then
    -- `on conflict do nothing`: an id already used by another user's event (invisible here)
    -- must not abort the batch.
    insert into public.upload_events
      (id, upload_id, user_id, seq, kind, status, stage, progress, bytes_sent, upload_speed,
       error_code, error_message, device_at)
    select l.id, l.upload_id, v_uid, l.seq, l.kind, l.status, l.stage, l.progress, l.bytes_sent,
           l.upload_speed, l.error_code, l.error_message, l.device_at
    from unnest(l_id, l_upload, l_seq, l_kind, l_status, l_stage, l_progress, l_bytes, l_speed,
                l_err_code, l_err_msg, l_at)
      as l(id, upload_id, seq, kind, status, stage, progress, bytes_sent, upload_speed,
           error_code, error_message, device_at)
    on conflict (id) do nothing;
  end if;

  if v_applied > 0 then
    -- One lightweight signal per batch, not per row: dashboards refetch what changed.
    perform pg_catalog.pg_notify('upload_monitor', jsonb_build_object(
      'applied', v_applied,
      'uploads', to_jsonb(v_touched[1:c_notify_max_ids]),
      'more_uploads', greatest(cardinality(v_touched) - c_notify_max_ids, 0),
      'at', now())::text);
    perform private.broadcast_uploads_changed(jsonb_build_object(
      'applied', v_applied,
      'uploads', to_jsonb(v_touched[1:c_notify_max_ids]),
      'at', now()));
  end if;

  select coalesce((select s.min_progress_interval_ms from public.monitor_settings s limit 1), 1000)
    into v_interval;

  select jsonb_build_object(
           'results', jsonb_agg(
             case when o.reason is null
                  then jsonb_build_object('id', o.id, 'outcome', o.outcome)
                  else jsonb_build_object('id', o.id, 'outcome', o.outcome, 'reason', o.reason)
             end order by o.ord),
           'min_progress_interval_ms', v_interval)
    into v_response
  from unnest(v_event_ids, v_out, v_reason) with ordinality as o(id, outcome, reason, ord);

  return v_response;
end;
$$;

comment on function public.report_upload_events(jsonb) is
  'Apply a batch of upload events (monitor-core/src/event.rs); one verdict per event, in order.';

revoke all on function public.report_upload_events(jsonb) from public;
grant execute on function public.report_upload_events(jsonb) to authenticated, service_role;
