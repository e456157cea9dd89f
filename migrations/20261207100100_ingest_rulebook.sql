-- One rulebook (issue 14, item 5): report_upload_events works on the upload_queue row type,
-- with the rules in two helpers of schema private instead of one 670-line body with ~85
-- variables copying one row's columns:
--
--   private.ingest_payload_problem(e)  -- check an event: null, or what is wrong with it
--   private.ingest_apply_event(s, e)   -- apply an event to a row: the new row and a verdict
--
-- The behaviour is 20261202090000's (the same verdicts, rows and log, which
-- tests/ingest_differential.rs compares with monitor-core's state machine), the same security
-- (SECURITY DEFINER, search_path '', auth.uid() checks, the try-lock and its 429), with one
-- addition (issue 18, item 6): an `invalid_payload` verdict carries a `detail` naming the
-- field and what it accepts, e.g. `source: "recorded" or "imported", null or absent`.
-- The retry limit is private.max_retries() (20261207100000).
--
-- The helpers take no SET search_path (a SET would stop the planner inlining the check and
-- costs a GUC save per event): every name in them is schema-qualified, they run inside
-- report_upload_events (search_path '') and no API role may execute them.
-- Idempotent: applying it twice is a no-op.

-- ---------------------------------------------------------------------------------------------
-- Check an event: null when it is well-formed, else `<field>: <what is accepted>`, the first
-- field that fails in event.rs's order (seq, at, then the kind's fields). Plain SQL, so the
-- planner inlines it into the batch's query. The limits are monitor-core/src/limits.rs's.
-- ---------------------------------------------------------------------------------------------

create or replace function private.ingest_payload_problem(e jsonb) returns text
  language sql stable parallel safe
as $$
  select case
    when not coalesce(private.json_int_between(e -> 'seq', 1, 9223372036854775807), false)
      then 'seq: an integer of at least 1'
    -- case: the cast may only run on text is_rfc3339 accepted (AND has no order).
    when not coalesce(jsonb_typeof(e -> 'at') = 'string'
                      and case when private.is_rfc3339(e ->> 'at')
                               -- EARLIEST_EVENT_AT, LATEST_EVENT_AT (excluded)
                               then (e ->> 'at')::timestamptz >= '2000-01-01 00:00:00+00'::timestamptz
                                    and (e ->> 'at')::timestamptz < '2100-01-01 00:00:00+00'::timestamptz
                               else false end, false)
      then 'at: an RFC 3339 time from 2000-01-01 to before 2100-01-01'
    else case e ->> 'kind'
      when 'begin' then case
        when not coalesce(jsonb_typeof(e -> 'local_id') = 'string'
                          and e ->> 'local_id' <> ''
                          -- MAX_LOCAL_ID_CHARS, refused
                          and char_length(e ->> 'local_id') <= 255, false)
          then 'local_id: a non-empty string of at most 255 characters, without NUL'
        when not coalesce(jsonb_typeof(e -> 'filename') = 'string'
                          and e ->> 'filename' <> '', false)
          then 'filename: a non-empty string'
        when not coalesce(private.json_opt_string(e -> 'video_title'), false)
          then 'video_title: a string, null or absent'
        when not coalesce(private.json_absent(e -> 'file_size')
                          or private.json_int_between(e -> 'file_size', 0, 9223372036854775807), false)
          then 'file_size: an integer of at least 0, null or absent'
        when not coalesce(private.json_absent(e -> 'metadata')
                          or (jsonb_typeof(e -> 'metadata') = 'object'
                              -- MAX_METADATA_BYTES (jsonb text), refused
                              and octet_length((e -> 'metadata')::text) <= 16384), false)
          then 'metadata: a JSON object of at most 16384 bytes, null or absent'
        when not coalesce(private.json_absent(e -> 'source')
                          or (jsonb_typeof(e -> 'source') = 'string'
                              and e ->> 'source' in ('recorded', 'imported')), false)
          then 'source: "recorded" or "imported", null or absent'
        when not coalesce(private.json_absent(e -> 'device')
                          or (jsonb_typeof(e -> 'device') = 'object'
                              and private.json_opt_string(e -> 'device' -> 'platform')
                              and private.json_opt_string(e -> 'device' -> 'os_version')
                              and private.json_opt_string(e -> 'device' -> 'app_version')
                              and private.json_opt_string(e -> 'device' -> 'model')), false)
          then 'device: an object whose platform, os_version, app_version and model are strings or null, null or absent'
        when not coalesce(private.json_absent(e -> 'user_id')
                          or private.json_uuid(e -> 'user_id'), false)
          then 'user_id: a UUID string, null or absent'
        end
      when 'progress' then case
        when not coalesce(private.json_int_between(e -> 'bytes_sent',
                            -9223372036854775808, 9223372036854775807), false)
          then 'bytes_sent: an integer'
        when not coalesce(private.json_int_between(e -> 'progress', -2147483648, 2147483647), false)
          then 'progress: an integer'
        when not coalesce(private.json_absent(e -> 'upload_speed')
                          or (jsonb_typeof(e -> 'upload_speed') = 'number'
                              -- serde's f64: a larger JSON number cannot be parsed by Rust.
                              and abs((e -> 'upload_speed')::numeric) <= 1.7976931348623157e308), false)
          then 'upload_speed: a number, null or absent'
        end
      when 'stage' then case
        when not coalesce(jsonb_typeof(e -> 'stage') = 'string'
                          and private.stage_rank(e ->> 'stage') > 0, false)
          then 'stage: one of validating, extracting_metadata, uploading, creating_record, generating_thumbnails, queuing_transcription'
        end
      when 'complete' then case
        when not coalesce(private.json_absent(e -> 'video_id')
                          or private.json_uuid(e -> 'video_id'), false)
          then 'video_id: a UUID string, null or absent'
        end
      when 'fail' then case
        when not coalesce(jsonb_typeof(e -> 'error_code') = 'string', false)
          then 'error_code: a string'
        when not coalesce(jsonb_typeof(e -> 'error_message') = 'string', false)
          then 'error_message: a string'
        when not coalesce(private.json_absent(e -> 'retry_count')
                          or private.json_int_between(e -> 'retry_count', 0, 2147483647), false)
          then 'retry_count: an integer of at least 0, null or absent'
        end
      when 'retry' then null
      else 'kind: one of begin, progress, stage, complete, fail, retry'
    end
  end
$$;

comment on function private.ingest_payload_problem(jsonb) is
  'Null for a well-formed upload event, else "<field>: <what it accepts>" (invalid_payload''s detail).';

-- ---------------------------------------------------------------------------------------------
-- The row a well-formed `begin` creates (the columns the ingest sets; the table's defaults
-- give the rest on insert). Texts are cut to limits.rs's lengths.
-- ---------------------------------------------------------------------------------------------

create or replace function private.ingest_begin_row(e jsonb, caller uuid)
  returns public.upload_queue
  language plpgsql stable
as $$
declare
  b public.upload_queue;
begin
  b.id := (e ->> 'upload_id')::uuid;
  b.user_id := caller;
  b.video_title := left(e ->> 'video_title', 500);   -- MAX_VIDEO_TITLE_CHARS, cut
  b.filename := left(e ->> 'filename', 1000);        -- MAX_FILENAME_CHARS, cut
  b.file_size := (e ->> 'file_size')::bigint;
  b.status := 'pending';
  b.progress := 0;
  b.retry_count := 0;
  b.metadata := coalesce(nullif(e -> 'metadata', 'null'::jsonb), '{}'::jsonb);
  b.local_id := e ->> 'local_id';
  b.stage := 'validating';
  b.bytes_sent := 0;
  -- The given source, else the app's metadata flags (isRecorded wins).
  b.source := coalesce(e ->> 'source',
                       case when e -> 'metadata' -> 'isRecorded' = 'true'::jsonb then 'recorded'
                            when e -> 'metadata' -> 'isImported' = 'true'::jsonb then 'imported'
                       end);
  -- metadata.duration (seconds) when it is a number that fits videos.duration.
  if jsonb_typeof(e -> 'metadata') = 'object'
     and jsonb_typeof(e -> 'metadata' -> 'duration') = 'number'
     and (e -> 'metadata' -> 'duration')::numeric between 0 and 2147483647 then
    b.duration := round((e -> 'metadata' -> 'duration')::numeric)::integer;
  end if;
  -- Only the four DeviceInfo fields are kept, as the Rust type keeps them, each cut to
  -- MAX_DEVICE_FIELD_CHARS.
  if not private.json_absent(e -> 'device') then
    b.device_info := jsonb_strip_nulls(jsonb_build_object(
      'platform', to_jsonb(left(e -> 'device' ->> 'platform', 100)),
      'os_version', to_jsonb(left(e -> 'device' ->> 'os_version', 100)),
      'app_version', to_jsonb(left(e -> 'device' ->> 'app_version', 100)),
      'model', to_jsonb(left(e -> 'device' ->> 'model', 100))));
  end if;
  b.last_seq := (e ->> 'seq')::bigint;
  b.client_updated_at := (e ->> 'at')::timestamptz;
  return b;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Apply a well-formed event to the caller's own row `s` (known before this event): event.rs's
-- rules after the row is found. outcome: 'applied' (s is the new state; logged says whether
-- the log keeps the event), 'superseded' or 'rejected' (s unchanged, reason set).
-- ---------------------------------------------------------------------------------------------

create or replace function private.ingest_apply_event(
  inout s public.upload_queue, e jsonb, caller uuid,
  out outcome text, out reason text, out logged boolean)
  language plpgsql stable
as $$
declare
  v_seq bigint := (e ->> 'seq')::bigint;
  v_progress integer;
  v_bytes bigint;
  v_speed numeric;
  v_video uuid;
  v_retry integer;
  v_prev_progress integer;
  v_prev_bytes bigint;
begin
  logged := true;
  if v_seq <= s.last_seq then
    outcome := 'superseded';
    return;
  end if;

  case e ->> 'kind'
    when 'begin' then
      reason := 'already_begun';

    when 'progress' then
      v_progress := (e ->> 'progress')::integer;
      v_bytes := (e ->> 'bytes_sent')::bigint;
      v_speed := (e ->> 'upload_speed')::numeric;
      if s.status in ('completed', 'failed') then
        reason := 'terminal_state';
      elsif v_progress < 0 or v_progress > 100 or v_bytes < 0 or v_bytes > s.file_size
            or v_speed < 0 or v_speed > 100000 then -- MAX_UPLOAD_SPEED_MBPS
        reason := 'out_of_range';
      else
        v_prev_progress := s.progress;
        v_prev_bytes := s.bytes_sent;
        s.status := 'uploading';
        if private.stage_rank(s.stage) < private.stage_rank('uploading') then
          s.stage := 'uploading';
        end if;
        s.progress := greatest(s.progress, v_progress);
        s.bytes_sent := greatest(s.bytes_sent, v_bytes);
        s.upload_speed := coalesce(v_speed, s.upload_speed);
        -- Keep rule: the attempt's first progress, then one per 10-point milestone.
        logged := (v_prev_progress = 0 and v_prev_bytes = 0)
                  or s.progress / 10 > v_prev_progress / 10;
      end if;

    when 'stage' then
      if s.status in ('completed', 'failed') then
        reason := 'terminal_state';
      elsif private.stage_rank(e ->> 'stage') < private.stage_rank(s.stage) then
        reason := 'stage_order';
      else
        s.stage := e ->> 'stage';
        if private.stage_rank(s.stage) >= private.stage_rank('uploading')
           and s.status = 'pending' then
          s.status := 'uploading';
        end if;
      end if;

    when 'complete' then
      if s.status in ('completed', 'failed') then
        reason := 'terminal_state';
      else
        s.status := 'completed';
        s.progress := 100;
        s.bytes_sent := coalesce(s.file_size, s.bytes_sent);
        s.completed_at := now();
        v_video := (e ->> 'video_id')::uuid;
        -- Linked only to a video the caller could read under RLS (their own; an admin's
        -- reads cover everyone's): an unknown id would break the foreign key (and the
        -- batch), and a completion is worth more than its link.
        if v_video is not null
           and exists (select 1 from public.videos v
                       where v.id = v_video
                         and (v.user_id = caller or (select private.is_admin()))) then
          s.video_id := v_video;
        end if;
      end if;

    when 'fail' then
      v_retry := (e ->> 'retry_count')::integer;
      if s.status in ('completed', 'failed') then
        reason := 'terminal_state';
      elsif v_retry > private.max_retries() then
        reason := 'retry_limit';
      else
        s.status := 'failed';
        s.error_code := left(e ->> 'error_code', 100);        -- MAX_ERROR_CODE_CHARS, cut
        s.error_message := left(e ->> 'error_message', 4000); -- MAX_ERROR_MESSAGE_CHARS, cut
        s.retry_count := greatest(s.retry_count, coalesce(v_retry, 0));
        s.completed_at := now();
      end if;

    when 'retry' then
      if s.status <> 'failed' then
        reason := 'invalid_transition';
      elsif s.retry_count >= private.max_retries() then
        reason := 'retry_limit';
      else
        s.status := 'pending';
        s.stage := 'validating';
        s.progress := 0;
        s.bytes_sent := 0;
        s.upload_speed := null;
        s.error_code := null;
        s.error_message := null;
        s.completed_at := null;
        s.retry_requested_at := null;
        s.retry_count := s.retry_count + 1;
        -- Elapsed time, timeout and the 24 h windows follow the current attempt.
        s.started_at := now();
      end if;
  end case;

  if reason is not null then
    outcome := 'rejected';
    return;
  end if;
  s.last_seq := v_seq;
  s.client_updated_at := (e ->> 'at')::timestamptz;
  outcome := 'applied';
end;
$$;

-- The log's row for an applied event: the upload's state right after it, the event's own
-- speed and error (cut as the row's are), the device's clock.
create or replace function private.ingest_log_row(s public.upload_queue, e jsonb, caller uuid)
  returns public.upload_events
  language plpgsql stable
as $$
declare
  l public.upload_events;
begin
  l.id := (e ->> 'id')::uuid;
  l.upload_id := s.id;
  l.user_id := caller;
  l.seq := (e ->> 'seq')::bigint;
  l.kind := e ->> 'kind';
  l.status := s.status;
  l.stage := s.stage;
  l.progress := s.progress;
  l.bytes_sent := s.bytes_sent;
  if l.kind = 'progress' then
    l.upload_speed := (e ->> 'upload_speed')::numeric;
  elsif l.kind = 'fail' then
    l.error_code := left(e ->> 'error_code', 100);
    l.error_message := left(e ->> 'error_message', 4000);
  end if;
  l.device_at := (e ->> 'at')::timestamptz;
  return l;
end;
$$;

revoke all on function private.ingest_payload_problem(jsonb) from public;
revoke all on function private.ingest_begin_row(jsonb, uuid) from public;
revoke all on function private.ingest_apply_event(public.upload_queue, jsonb, uuid) from public;
revoke all on function private.ingest_log_row(public.upload_queue, jsonb, uuid) from public;

-- ---------------------------------------------------------------------------------------------
-- The ingest function: the batch's checks, the order of events, the begin that creates a
-- row, one UPDATE and one INSERT at the end.
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
  -- A pg_notify payload must stay under 8000 bytes: 100 ids of 36 characters fit.
  c_notify_max_ids constant integer := 100;

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
  a record;
  groups refcursor;

  -- Verdicts, indexed by input position (1-based).
  v_out text[];
  v_reason text[];
  v_detail text[];
  v_reject text;
  v_applied integer := 0;
  v_touched uuid[] := '{}';

  -- The current upload (events arrive grouped by upload, in seq order) and its state.
  g_id uuid;
  g_exists boolean := false;  -- the caller's own upload, known before or begun in this batch
  g_foreign boolean := false; -- visible to the caller (an admin) but someone else's
  g_dirty boolean := false;   -- changed by an event after its load or insert
  g_touched boolean := false;
  cur public.upload_queue;  -- the current upload's row
  born public.upload_queue; -- the row a begin creates
  v_log boolean;

  -- The changed uploads, written by one UPDATE at the end; the logged events, one INSERT.
  u_rows public.upload_queue[] := '{}';
  l_rows public.upload_events[] := '{}';
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
  v_detail := array_fill(null::text, array[v_n]);

  -- The row of each upload, in the same order as the event groups below.
  open groups for
    select u.upload_id, q.id as found_id, q.user_id, q as found
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
    )
    select * from (
      select d.ord, d.e, d.id, d.upload_id, d.seq, d.kind, d.dup,
             -- The same order as v_group_order.
             coalesce(min(d.ord) filter (where not d.dup) over (partition by d.upload_id),
                      min(d.ord) over (partition by d.upload_id)) as group_pos,
             private.ingest_payload_problem(d.e) as problem,
             false as sentinel
      from deduped d
      -- A last row that closes the last upload's group (see the flush at the loop's top).
      union all
      select null, null, null, null, null, null, null, null, null, true
    ) as ordered
    order by ordered.sentinel, ordered.group_pos, ordered.seq, ordered.ord
  loop
    if r.sentinel or r.upload_id is distinct from g_id then
      -- Close the previous upload: queue its final state for the one UPDATE.
      if g_dirty then
        u_rows := u_rows || cur;
      end if;
      exit when r.sentinel;

      -- Open the next upload.
      fetch groups into g;
      g_id := r.upload_id;
      g_exists := g.found_id is not null and g.user_id is not distinct from v_uid;
      g_foreign := g.found_id is not null and g.user_id is distinct from v_uid;
      g_dirty := false;
      g_touched := false;
      cur := null;
      if g_exists then
        cur := g.found;
        cur.progress := coalesce(cur.progress, 0);
        cur.retry_count := coalesce(cur.retry_count, 0);
      end if;
    end if;

    v_reject := null;
    v_log := true;

    -- The order of checks is event.rs's "Precisely" list.
    if r.dup then
      v_out[r.ord] := 'duplicate';
      continue;
    end if;

    if r.problem is not null then
      v_reject := 'invalid_payload';
      v_detail[r.ord] := r.problem;
    elsif r.kind = 'begin' and not private.json_absent(r.e -> 'user_id')
          and (r.e ->> 'user_id')::uuid <> v_uid then
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
        born := private.ingest_begin_row(r.e, v_uid);
        -- Uploads begun earlier in this batch are already rows, so they count.
        if exists (select 1 from public.upload_queue q
                   where q.user_id = v_uid and q.local_id = born.local_id) then
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
            (born.id, born.user_id, born.video_title, born.filename, born.file_size,
             born.status, born.progress, born.retry_count, born.metadata, born.local_id,
             born.stage, born.bytes_sent, born.source, born.duration, born.device_info,
             born.last_seq, born.client_updated_at)
          on conflict do nothing
          returning * into cur;
          if not found then
            -- The id belongs to an upload the caller cannot see: someone else's.
            v_reject := 'forbidden';
          else
            g_exists := true;
            -- Created: applied, logged, and nothing left to write for it yet.
            v_out[r.ord] := 'applied';
          end if;
        end if;
      end if;
    end if;

    if v_reject is not null then
      v_out[r.ord] := 'rejected';
      v_reason[r.ord] := v_reject;
      continue;
    end if;

    if v_out[r.ord] is null then
      -- The caller's own upload, known before this event.
      a := private.ingest_apply_event(cur, r.e, v_uid);
      if a.outcome = 'superseded' then
        v_out[r.ord] := 'superseded';
        continue;
      elsif a.outcome = 'rejected' then
        v_out[r.ord] := 'rejected';
        v_reason[r.ord] := a.reason;
        continue;
      end if;
      cur := a.s;
      v_log := a.logged;
      g_dirty := true;
      v_out[r.ord] := 'applied';
    end if;

    -- Applied.
    v_applied := v_applied + 1;
    if not g_touched then
      g_touched := true;
      v_touched := v_touched || g_id;
    end if;
    if v_log then
      l_rows := l_rows || private.ingest_log_row(cur, r.e, v_uid);
    end if;
  end loop;
  close groups;

  if cardinality(u_rows) > 0 then
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
    from unnest(u_rows) as u
    where q.id = u.id;
  end if;

  if cardinality(l_rows) > 0 then
    -- `on conflict do nothing`: an id already used by another user's event (invisible here)
    -- must not abort the batch.
    insert into public.upload_events
      (id, upload_id, user_id, seq, kind, status, stage, progress, bytes_sent, upload_speed,
       error_code, error_message, device_at)
    select l.id, l.upload_id, l.user_id, l.seq, l.kind, l.status, l.stage, l.progress,
           l.bytes_sent, l.upload_speed, l.error_code, l.error_message, l.device_at
    from unnest(l_rows) as l
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
                  when o.detail is null
                  then jsonb_build_object('id', o.id, 'outcome', o.outcome, 'reason', o.reason)
                  else jsonb_build_object('id', o.id, 'outcome', o.outcome, 'reason', o.reason,
                                          'detail', o.detail)
             end order by o.ord),
           'min_progress_interval_ms', v_interval)
    into v_response
  from unnest(v_event_ids, v_out, v_reason, v_detail) with ordinality as o(id, outcome, reason, detail, ord);

  return v_response;
end;
$$;

comment on function public.report_upload_events(jsonb) is
  'Apply a batch of upload events (monitor-core/src/event.rs); one verdict per event, in order.';

revoke all on function public.report_upload_events(jsonb) from public;
grant execute on function public.report_upload_events(jsonb) to authenticated, service_role;
