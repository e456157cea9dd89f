-- report_upload_events(events jsonb): the SDK's only write path. It implements the state
-- machine of monitor-core/src/event.rs (its "Precisely" and "Batches" sections give the
-- order of checks followed here) and answers the verdicts of verdict.rs. What only the
-- database adds is listed in migrations/NOTES.md ("Ingest decisions").

-- ---------------------------------------------------------------------------------------------
-- Validation helpers: plain SQL so the planner inlines them into the batch query (no call per
-- event), never raising on bad input (PostgreSQL 15 has no pg_input_is_valid).
-- ---------------------------------------------------------------------------------------------

-- A JSON absent (SQL null) or JSON null: serde's Option<T> accepts both as None.
create or replace function private.json_absent(j jsonb) returns boolean
  language sql immutable
as $$ select j is null or jsonb_typeof(j) = 'null' $$;

-- A JSON integer (no fraction, no exponent) within [lo, hi], as serde reads i32/i64.
create or replace function private.json_int_between(j jsonb, lo numeric, hi numeric)
  returns boolean
  language sql immutable
as $$
  select case when jsonb_typeof(j) = 'number' and (j::text) ~ '^-?[0-9]+$'
              then j::numeric between lo and hi
              else false end
$$;

-- A JSON string holding a hyphenated UUID (what the SDK sends).
create or replace function private.json_uuid(j jsonb) returns boolean
  language sql immutable
as $$
  select case when jsonb_typeof(j) = 'string'
              then (j #>> '{}') ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
              else false end
$$;

-- A JSON string or nothing.
create or replace function private.json_opt_string(j jsonb) returns boolean
  language sql immutable
as $$ select j is null or jsonb_typeof(j) in ('null', 'string') $$;

-- An RFC 3339 timestamp that the timestamptz cast accepts: the regex gives the shape, the
-- arithmetic the calendar (Feb 30 would make the cast raise and abort the whole batch).
create or replace function private.is_rfc3339(t text) returns boolean
  language sql immutable
as $$
  select case
    when t ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$'
    then substr(t, 1, 4)::int >= 1
     and substr(t, 6, 2)::int between 1 and 12
     and substr(t, 9, 2)::int between 1 and
         case when substr(t, 6, 2)::int in (4, 6, 9, 11) then 30
              when substr(t, 6, 2)::int = 2 then
                case when (substr(t, 1, 4)::int % 4 = 0 and substr(t, 1, 4)::int % 100 <> 0)
                          or substr(t, 1, 4)::int % 400 = 0 then 29 else 28 end
              else 31 end
     and substr(t, 12, 2)::int <= 23
     and substr(t, 15, 2)::int <= 59
     and substr(t, 18, 2)::int <= 60 -- a leap second, as chrono and PostgreSQL accept
     -- PostgreSQL refuses UTC offsets beyond 15:59.
     and (upper(right(t, 1)) = 'Z'
          or (substr(t, length(t) - 4, 2)::int <= 15 and right(t, 2)::int <= 59))
    else false end
$$;

-- Pipeline position of a stage, 1-based (UploadStage::rank); 0 for an unknown name.
create or replace function private.stage_rank(stage text) returns integer
  language sql immutable
as $$
  select coalesce(array_position(array['validating', 'extracting_metadata', 'uploading',
    'creating_record', 'generating_thumbnails', 'queuing_transcription'], stage), 0)
$$;

-- Whether an upload id exists at all, whoever owns it. SECURITY DEFINER because RLS hides
-- other users' rows; used only to tell `forbidden` (someone else's id) from
-- `local_id_conflict` on a `begin`, never exposed through the API.
create or replace function private.upload_id_taken(upload_id uuid) returns boolean
  language sql stable security definer set search_path = ''
as $$ select exists (select 1 from public.upload_queue q where q.id = upload_id_taken.upload_id) $$;
revoke all on function private.upload_id_taken(uuid) from public;
grant execute on function private.upload_id_taken(uuid) to authenticated, service_role;

revoke all on function private.json_absent(jsonb), private.json_int_between(jsonb, numeric, numeric),
  private.json_uuid(jsonb), private.json_opt_string(jsonb), private.is_rfc3339(text),
  private.stage_rank(text) from public;
grant execute on function private.json_absent(jsonb),
  private.json_int_between(jsonb, numeric, numeric), private.json_uuid(jsonb),
  private.json_opt_string(jsonb), private.is_rfc3339(text), private.stage_rank(text)
  to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- Realtime broadcast of applied batches
-- ---------------------------------------------------------------------------------------------

-- Broadcasts one batch's summary to the private admin topic where Supabase Realtime exists.
-- SECURITY DEFINER: users cannot insert into realtime.messages themselves (they could forge
-- messages on the admin topic); they reach it only through report_upload_events. Never
-- raises: realtime is a convenience, the batch is what matters.
create or replace function private.broadcast_uploads_changed(payload jsonb)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  if to_regprocedure('realtime.send(jsonb,text,text,boolean)') is not null then
    perform realtime.send(payload, 'uploads_changed', 'upload_monitor:admin', true);
  end if;
exception when others then
  raise log 'broadcast_uploads_changed: %', sqlerrm;
end;
$$;
revoke all on function private.broadcast_uploads_changed(jsonb) from public;
grant execute on function private.broadcast_uploads_changed(jsonb) to authenticated, service_role;

-- Admins may join the private topic (Realtime authorizes a private channel by selecting from
-- realtime.messages with realtime.topic() set). Guarded: without Realtime, or without the
-- right to add policies there, the migration goes on.
do $$
begin
  if to_regclass('realtime.messages') is not null
     and to_regproc('realtime.topic') is not null
     and not exists (select 1 from pg_policies
                     where schemaname = 'realtime' and tablename = 'messages'
                       and policyname = 'upload_monitor: admins receive upload broadcasts') then
    create policy "upload_monitor: admins receive upload broadcasts"
      on realtime.messages for select to authenticated
      using ((select realtime.topic()) = 'upload_monitor:admin'
             and (select private.is_admin()));
  end if;
exception when others then
  raise notice 'realtime policy not created: %', sqlerrm;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- The ingest function
-- ---------------------------------------------------------------------------------------------

create or replace function public.report_upload_events(events jsonb)
returns jsonb
language plpgsql
volatile
security invoker -- RLS decides what the caller may touch
set search_path = '' -- every name below is schema-qualified; nothing can be shadowed
as $$
declare
  -- Largest batch accepted: the SDK sends at most 500; twice that leaves room, and bounds
  -- the time one call holds its uploads' row locks.
  c_max_events constant integer := 1000;
  -- event.rs MAX_ERROR_MESSAGE_CHARS: longer messages are cut, never refused.
  c_max_error_chars constant integer := 4000;
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

  -- One batch per user at a time: a batch replayed while the first copy is still running
  -- (client timeout) then sees the first copy's effects and answers `duplicate`, instead of
  -- racing it on the same upload ids.
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(v_uid::text, 0));

  -- Lock the caller's uploads of this batch, in id order so two batches cannot deadlock, so
  -- that mark_stale_uploads or an admin's retry request cannot be lost between read and write.
  perform 1 from (select q.id from public.upload_queue q
                  where q.id in (select (t.e ->> 'upload_id')::uuid
                                 from jsonb_array_elements(events) as t(e))
                    and q.user_id = v_uid
                  order by q.id
                  for update) as locked;

  -- Event ids already known (logged): replays are duplicates.
  select coalesce(array_agg(ue.id), '{}') into v_known
  from public.upload_events ue
  where ue.id = any(v_event_ids);

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
              and private.is_rfc3339(raw.e ->> 'at')
              and case raw.kind
                when 'begin' then
                  jsonb_typeof(raw.e -> 'local_id') = 'string'
                  and raw.e ->> 'local_id' <> ''
                  and jsonb_typeof(raw.e -> 'filename') = 'string'
                  and raw.e ->> 'filename' <> ''
                  and private.json_opt_string(raw.e -> 'video_title')
                  and (private.json_absent(raw.e -> 'file_size')
                       or private.json_int_between(raw.e -> 'file_size',
                            0, 9223372036854775807))
                  and (private.json_absent(raw.e -> 'metadata')
                       or jsonb_typeof(raw.e -> 'metadata') = 'object')
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
                       or jsonb_typeof(raw.e -> 'upload_speed') = 'number')
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
             case when c.ok and c.kind = 'begin' then c.e ->> 'filename' end as filename,
             case when c.ok and c.kind = 'begin' then c.e ->> 'video_title' end as video_title,
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
                 'platform', c.e -> 'device' -> 'platform',
                 'os_version', c.e -> 'device' -> 'os_version',
                 'app_version', c.e -> 'device' -> 'app_version',
                 'model', c.e -> 'device' -> 'model')) end as device,
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
             case when c.ok and c.kind = 'fail' then c.e ->> 'error_code' end as error_code,
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
                or r.bytes_sent > s_file_size or r.upload_speed < 0 then
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
              -- Linked only to a video the caller can see; an unknown id would break the
              -- foreign key (and the batch), and a completion is worth more than its link.
              if exists (select 1 from public.videos v where v.id = r.video_id) then
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
