-- Every monitoring RPC survives any row a service-role writer can still create (issue 12,
-- item 1): one odd row is shown or skipped, never a failed page for every admin.
--
-- Why: the monitoring read the app's own tables (profiles, videos, transcription_jobs,
-- bug_reports) as if their values were sane, and those tables have no constraints. A video
-- created at 'infinity' with no file made the snapshot fail (22008: cannot subtract infinite
-- timestamps); infinite, BC and year-200000 times came out as "infinity" or
-- "200000-01-01T..." strings, 1e400 in a metadata as a 401-digit number and a metadata nested
-- 150 levels deep as JSON that monitor-core's typed client (serde_json, chrono) refuses: one
-- such row failed the whole answer. 1 MB strings were copied into every card and list (30 MB
-- ones overflowed the answer: 54000). And the covering index of the top errors refused, at
-- insert time, any bug report whose message does not fit an index row (~2.7 kB compressed):
-- the app's own writes failed because of the monitoring. upload_queue and upload_events are
-- bounded by 20261202090000's CHECK constraints; what those still allow (NULL start and update
-- times, completion before start, odd status/progress combinations, odd metadata shapes) is
-- handled here too. migrations/tests/10_monitoring_survives_odd_rows.sql inserts the worst rows
-- into every table and calls every RPC.
--
-- The rules (monitor-core/src/bounds.rs mirrors them; migrations/NOTES.md lists them):
--
-- 1. Times. A time outside [2000-01-01, 2100-01-01) UTC (the range 20261202090000 allows in
--    upload_queue) reads as null: shown as null, in no window, counted nowhere, never the
--    newest. A list entry that needs a time (a timeline entry) is skipped. A Phase 1 video
--    whose creation time reads as null is "abandoned" (derive.rs, rule 4), as one with none.
--    The change feed reads app rows changed in (since, now]: a row dated in the future is not
--    re-sent on every call (it comes when its time does, or with the next snapshot).
-- 2. Texts are cut (to the characters, never inside one) to what a card can show: emails 320
--    (RFC 3321's 64 + 1 + 255), first and last names 200, titles 500, file names 1,000,
--    messages (error_message, uploadError, transcript_text) 4,000, stack traces 16,000,
--    codes and labels (error_code, error_type, severity, statuses, language, app_version)
--    100, other short texts (screen, component, action, AssemblyAI id, local_id) 255. The
--    upload_queue limits equal 20261202090000's, so its rows are never cut. The top errors
--    are grouped by the whole message and show it cut.
-- 3. The app's JSON (metadata, device_info, transcript_highlight) is left out (null, or no
--    key in a card) when its text is longer than 16 KiB (upload_queue's bound), holds a run of
--    309 or more digits (a number beyond 1e308, what a reader's double holds; a digit run that
--    long inside a string is left out too), or is nested deeper than 100 levels (serde_json
--    stops at 128; a card adds up to 5).
-- 4. A card's isStale is true or false, never null (an active upload with no update time is
--    not stale: mark_stale_uploads never sweeps it either).
-- 5. An upload_queue card's startedAt is null when the row has none (monitor-core's
--    UploadMonitorItem::started_at is an Option); its elapsedTime is then absent.
--
-- Idempotent: `create or replace`, `if not exists`, and a delete that finds nothing the second
-- time. Grants: 20261124100000's loop (every private.monitoring_* function executable by the
-- signed-in caller and the service key) is re-run at the end for the new helpers.

-- ---------------------------------------------------------------------------------------------
-- Helpers (immutable, one expression, no SET clause: the planner inlines them)
-- ---------------------------------------------------------------------------------------------

-- Rule 1: `t`, or null when it is outside [2000-01-01, 2100-01-01) UTC.
create or replace function private.monitoring_time(t timestamptz)
returns timestamptz
language sql immutable parallel safe
as $$
  select case when t >= timestamptz '2000-01-01 00:00:00+00'
               and t < timestamptz '2100-01-01 00:00:00+00' then t end
$$;

-- Rule 3, for a JSON text of at most 16 KiB with more than 100 opening brackets: whether it
-- nests at most 100 levels. Counted on the text, outside strings (a quoted bracket does not
-- nest). Only called for the rare text that might nest that deep; strict: null for null.
create or replace function private.monitoring_json_nests_at_most_100(t text)
returns boolean
language plpgsql immutable strict parallel safe
set search_path = ''
as $$
declare
  v_depth integer := 0;
  v_in_string boolean := false;
  v_escaped boolean := false;
  v_ch text;
begin
  foreach v_ch in array pg_catalog.regexp_split_to_array(t, '') loop
    if v_in_string then
      if v_escaped then v_escaped := false;
      elsif v_ch = '\' then v_escaped := true;
      elsif v_ch = '"' then v_in_string := false;
      end if;
    elsif v_ch = '"' then v_in_string := true;
    elsif v_ch in ('[', '{') then
      v_depth := v_depth + 1;
      if v_depth > 100 then return false; end if;
    elsif v_ch in (']', '}') then v_depth := v_depth - 1;
    end if;
  end loop;
  return true;
end;
$$;

-- Rule 3 on a JSON text (jsonb's text form): the text, or null when a reader could not take
-- it. The length and digit checks are plain string scans; the depth walk runs only when the
-- text holds more than 100 opening brackets. (A regex repetition count is at most 255, hence
-- 255 + 54 = 309.)
create or replace function private.monitoring_json_text(t text)
returns text
language sql immutable parallel safe
as $$
  select case
    when pg_catalog.length(t) > 16384 then null
    when t ~ '[0-9]{255}[0-9]{54}' then null
    when pg_catalog.length(t) - pg_catalog.length(pg_catalog.translate(t, '[{', '')) > 100
         and not private.monitoring_json_nests_at_most_100(t) then null
    else t
  end
$$;

-- Rule 3 on jsonb: the value, or null (a JSON null too: "no value" either way).
create or replace function private.monitoring_json(j jsonb)
returns jsonb
language sql immutable parallel safe
as $$
  select case when j = 'null'::jsonb then null
              when private.monitoring_json_text(j::text) is null then null
              else j end
$$;

-- A bug_reports row as the monitoring shows it: the spec's columns, texts cut, times and JSON
-- as the rules say (columns a project added to the table are not shown).
create or replace function private.monitoring_bug_json(b public.bug_reports)
returns jsonb
language sql stable
as $$
  select jsonb_build_object(
    'id', b.id, 'user_id', b.user_id, 'user_email', left(b.user_email, 320),
    'error_type', left(b.error_type, 100), 'error_message', left(b.error_message, 4000),
    'error_stack', left(b.error_stack, 16000), 'severity', left(b.severity, 100),
    'status', left(b.status, 100), 'screen_name', left(b.screen_name, 255),
    'component_name', left(b.component_name, 255), 'action', left(b.action, 255),
    'app_version', left(b.app_version, 100),
    'device_info', private.monitoring_json(b.device_info),
    'metadata', private.monitoring_json(b.metadata),
    'created_at', private.monitoring_time(b.created_at))
$$;

-- A transcription_jobs row as the monitoring shows it (as monitoring_bug_json).
create or replace function private.monitoring_job_json(j public.transcription_jobs)
returns jsonb
language sql stable
as $$
  select jsonb_build_object(
    'id', j.id, 'video_id', j.video_id, 'status', left(j.status, 100),
    'transcript_text', left(j.transcript_text, 4000),
    'transcript_highlight', private.monitoring_json(j.transcript_highlight),
    'language', left(j.language, 100), 'assembly_ai_id', left(j.assembly_ai_id, 255),
    'error_message', left(j.error_message, 4000),
    'created_at', private.monitoring_time(j.created_at),
    'updated_at', private.monitoring_time(j.updated_at),
    'completed_at', private.monitoring_time(j.completed_at))
$$;

-- A profiles row as the monitoring shows it (as monitoring_bug_json).
create or replace function private.monitoring_profile_json(p public.profiles)
returns jsonb
language sql stable
as $$
  select jsonb_build_object(
    'id', p.id, 'email', left(p.email, 320), 'first_name', left(p.first_name, 200),
    'last_name', left(p.last_name, 200), 'language', left(p.language, 100),
    'created_at', private.monitoring_time(p.created_at),
    'updated_at', private.monitoring_time(p.updated_at))
$$;

-- ---------------------------------------------------------------------------------------------
-- The app's writes are never refused by the monitoring
-- ---------------------------------------------------------------------------------------------

-- The top errors' covering index held whole messages: a bug report whose message does not fit
-- an index row (~2.7 kB after compression) failed to insert. It is replaced by two partial
-- indexes that never refuse a row: messages of at most 2,000 bytes (nearly all) stay covered,
-- so the 24 h window is still an index-only scan; longer ones are found by time and read from
-- the table. monitoring_top_errors reads the two parts with the same predicates (a partial
-- index is only used when the query states its predicate). Measured at 1M uploads, 200k bugs,
-- on the loaded 2-core machine: top errors ~25 ms with a covering index, ~45 ms through
-- bug_reports_created_at_idx alone.
drop index if exists public.idx_bug_reports_created_message;
create index if not exists idx_bug_reports_created_short_message
  on public.bug_reports (created_at) include (error_message, user_id)
  where coalesce(octet_length(error_message), 0) <= 2000;
create index if not exists idx_bug_reports_created_long_message
  on public.bug_reports (created_at)
  where coalesce(octet_length(error_message), 0) > 2000;

-- Rule 1 for the stat counts: a bug report dated outside the range counts nowhere (the
-- count triggers bump through this function; its minute is outside the range exactly when
-- its time is).
create or replace function private.monitoring_bump(p_kind text, p_at timestamptz, p_delta bigint)
returns void
language sql
set search_path = ''
as $$
  insert into private.monitoring_minute_counts as c (kind, minute, n)
  select p_kind, private.monitoring_minute(p_at), p_delta
  where private.monitoring_time(p_at) is not null
  on conflict (kind, minute) do update set n = c.n + excluded.n
$$;

create or replace function private.monitoring_rebuild_counts()
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  lock table public.upload_queue, public.bug_reports in share mode;
  delete from private.monitoring_minute_counts;
  insert into private.monitoring_minute_counts (kind, minute, n)
  select status, private.monitoring_minute(private.monitoring_finished_at(completed_at, updated_at)),
         count(*)
  from public.upload_queue
  where status in ('completed', 'failed')
    and private.monitoring_finished_at(completed_at, updated_at) is not null
  group by 1, 2;
  insert into private.monitoring_minute_counts (kind, minute, n)
  select 'bug', private.monitoring_minute(created_at), count(*)
  from public.bug_reports where private.monitoring_time(created_at) is not null group by 2
  union all
  select 'critical_bug', private.monitoring_minute(created_at), count(*)
  from public.bug_reports
  where private.monitoring_time(created_at) is not null and severity = 'critical' group by 2;
end;
$$;
revoke all on function private.monitoring_rebuild_counts() from public, authenticated;

-- What earlier versions counted for bug reports dated outside the range.
delete from private.monitoring_minute_counts
where kind in ('bug', 'critical_bug') and private.monitoring_time(minute) is null;

-- ---------------------------------------------------------------------------------------------
-- Cards
-- ---------------------------------------------------------------------------------------------

-- The latest transcription job of a video: newest by creation time (a time outside the range
-- reads as null, so sorts last), then id desc.
create or replace function private.monitoring_transcription_status(video uuid)
returns text
language sql stable
as $$
  select left(tj.status, 100) from public.transcription_jobs tj
  where tj.video_id = video
  order by private.monitoring_time(tj.created_at) desc nulls last, tj.id desc
  limit 1
$$;

-- The reported upload's card (20261201080000's, with the rules: profile texts and the row's
-- texts cut, metadata by rule 3, isStale never null).
create or replace function private.monitoring_item_json(q public.upload_queue, email text,
                                                        first_name text, last_name text,
                                                        at timestamptz)
returns json
language sql stable
as $$
  select ('{' OPERATOR(pg_catalog.||) pg_catalog.concat_ws(',',
      '"id":' OPERATOR(pg_catalog.||) pg_catalog.to_json(q.id)::text,
      '"userId":' OPERATOR(pg_catalog.||) coalesce(pg_catalog.to_json(q.user_id)::text, 'null'),
      '"userEmail":' OPERATOR(pg_catalog.||) coalesce(pg_catalog.to_json(pg_catalog.left(email, 320))::text, 'null'),
      '"videoTitle":' OPERATOR(pg_catalog.||) coalesce(pg_catalog.to_json(pg_catalog.left(q.video_title, 500))::text, 'null'),
      '"filename":' OPERATOR(pg_catalog.||) coalesce(pg_catalog.to_json(pg_catalog.left(q.filename, 1000))::text, 'null'),
      '"fileSize":' OPERATOR(pg_catalog.||) coalesce(pg_catalog.to_json(q.file_size)::text, 'null'),
      '"status":' OPERATOR(pg_catalog.||) coalesce(pg_catalog.to_json(q.status)::text, 'null'),
      '"progress":' OPERATOR(pg_catalog.||) coalesce(q.progress, 0)::text,
      '"retryCount":' OPERATOR(pg_catalog.||) coalesce(q.retry_count, 0)::text,
      '"startedAt":' OPERATOR(pg_catalog.||) coalesce(pg_catalog.to_json(q.started_at)::text, 'null'),
      '"bytesSent":' OPERATOR(pg_catalog.||) coalesce(pg_catalog.to_json(q.bytes_sent)::text, 'null'),
      -- stale.rs: active and no report for 30 minutes (strictly older); false when unknown.
      '"isStale":' OPERATOR(pg_catalog.||) coalesce(
        q.status in ('pending', 'uploading') and q.updated_at < at - interval '30 minutes',
        false)::text,
      '"origin":"upload_queue"',
      '"uploadSpeed":' OPERATOR(pg_catalog.||) pg_catalog.to_json(q.upload_speed)::text,
      '"errorMessage":' OPERATOR(pg_catalog.||) pg_catalog.to_json(pg_catalog.left(q.error_message, 4000))::text,
      '"completedAt":' OPERATOR(pg_catalog.||) pg_catalog.to_json(q.completed_at)::text,
      '"elapsedTime":' OPERATOR(pg_catalog.||) pg_catalog.to_json(
        extract(epoch from coalesce(q.completed_at, at) - q.started_at))::text,
      '"localId":' OPERATOR(pg_catalog.||) pg_catalog.to_json(pg_catalog.left(nullif(q.local_id, ''), 255))::text,
      '"stage":' OPERATOR(pg_catalog.||) pg_catalog.to_json(q.stage)::text,
      '"source":' OPERATOR(pg_catalog.||) pg_catalog.to_json(q.source)::text,
      '"errorCode":' OPERATOR(pg_catalog.||) pg_catalog.to_json(pg_catalog.left(q.error_code, 100))::text,
      '"duration":' OPERATOR(pg_catalog.||) pg_catalog.to_json(q.duration)::text,
      '"videoId":' OPERATOR(pg_catalog.||) pg_catalog.to_json(q.video_id)::text,
      '"updatedAt":' OPERATOR(pg_catalog.||) pg_catalog.to_json(q.updated_at)::text,
      '"userFirstName":' OPERATOR(pg_catalog.||) pg_catalog.to_json(pg_catalog.left(first_name, 200))::text,
      '"userLastName":' OPERATOR(pg_catalog.||) pg_catalog.to_json(pg_catalog.left(last_name, 200))::text,
      -- No key for a metadata that is SQL NULL, JSON null, or one rule 3 leaves out.
      case when q.metadata OPERATOR(pg_catalog.<>) 'null'::jsonb
           then '"metadata":' OPERATOR(pg_catalog.||) private.monitoring_json_text(q.metadata::text) end,
      -- Looked up only for cards with a video; no key when the video has no job.
      case when q.video_id is not null
           then '"transcriptionStatus":' OPERATOR(pg_catalog.||) pg_catalog.to_json(
                  private.monitoring_transcription_status(q.video_id))::text end
    ) OPERATOR(pg_catalog.||) '}')::json
$$;

-- Phase 1 status of a videos row at `at` (derive.rs derive_status): a creation time outside
-- the range reads as null.
create or replace function private.monitoring_derived_status(v public.videos, at timestamptz)
returns text
language sql stable
as $$
  select case
    when v.metadata ->> 'uploadFailed' = 'true' then 'marked_failed'
    when private.monitoring_has_file(v.file_path) then
      case when private.monitoring_time(v.created_at) > at - interval '5 minutes'
           then 'just_stored' else 'stored' end
    when private.monitoring_time(v.created_at) > at - interval '30 minutes' then 'awaiting_file'
    else 'abandoned'
  end
$$;

-- One derived (Phase 1) card (derive.rs derive_item) with the rules.
create or replace function private.monitoring_derived_card(v public.videos, p public.profiles,
                                                           at timestamptz, how text)
returns jsonb
language sql stable
as $$
  select jsonb_build_object(
      'id', v.id, 'userId', v.user_id, 'userEmail', left(p.email, 320),
      'videoTitle', left(v.title, 500),
      'filename', left(private.monitoring_file_name(v.file_path), 1000), 'fileSize', null,
      'status', case how when 'awaiting_file' then 'uploading'
                         when 'marked_failed' then 'failed' when 'abandoned' then 'failed'
                         else 'completed' end,
      'progress', case when how in ('just_stored', 'stored') then 100 else 0 end,
      'retryCount', 0, 'startedAt', coalesce(private.monitoring_time(v.created_at), at),
      'bytesSent', 0, 'isStale', false, 'origin', 'videos')
    OPERATOR(pg_catalog.||) jsonb_strip_nulls(jsonb_build_object(
      'errorMessage', case how
        when 'marked_failed' then left(coalesce(
          case when jsonb_typeof(v.metadata -> 'uploadError') = 'string'
               then v.metadata ->> 'uploadError' end,
          'The app marked this upload as failed'), 4000)
        when 'abandoned' then 'No file stored 30 minutes after the video was created' end,
      'errorCode', case how when 'marked_failed' then 'app_reported'
                            when 'abandoned' then 'stale' end,
      'completedAt', case when how <> 'awaiting_file'
                          then coalesce(private.monitoring_time(v.created_at), at) end,
      'elapsedTime', case when how <> 'awaiting_file' then 0::numeric
                          else extract(epoch from at - coalesce(private.monitoring_time(v.created_at), at)) end,
      'source', case when v.metadata -> 'isRecorded' = 'true'::jsonb then 'recorded'
                     when v.metadata -> 'isImported' = 'true'::jsonb then 'imported' end,
      'duration', v.duration, 'videoId', v.id,
      'updatedAt', private.monitoring_time(v.updated_at),
      'userFirstName', left(p.first_name, 200), 'userLastName', left(p.last_name, 200),
      'transcriptionStatus', private.monitoring_transcription_status(v.id)))
    OPERATOR(pg_catalog.||) case when private.monitoring_json(v.metadata) is null then '{}'::jsonb
                                 else jsonb_build_object('metadata', v.metadata) end
$$;

-- ---------------------------------------------------------------------------------------------
-- The snapshot's parts (20261124100000's, with the rules)
-- ---------------------------------------------------------------------------------------------

create or replace function private.monitoring_top_errors(at timestamptz)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
begin
  -- PL/pgSQL for its cached plans (see monitoring_stats).
  return (
  with w as (
    -- The two partial indexes' parts (see idx_bug_reports_created_short_message).
    select error_message, user_id from public.bug_reports
    where created_at >= at - interval '24 hours'
      and created_at < timestamptz '2100-01-01 00:00:00+00'
      and coalesce(octet_length(error_message), 0) <= 2000
    union all
    select error_message, user_id from public.bug_reports
    where created_at >= at - interval '24 hours'
      and created_at < timestamptz '2100-01-01 00:00:00+00'
      and coalesce(octet_length(error_message), 0) > 2000
  ), g as (
    select error_message, count(*) as n, count(distinct user_id) as users
    from w group by error_message
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'message', left(t.error_message, 4000), 'count', t.n, 'uniqueUsers', t.users,
           'percentage', private.monitoring_percent(t.n, (select count(*) from w)))
           order by t.n desc, t.error_message collate "C"), '[]'::jsonb)
  from (select * from g order by n desc, error_message collate "C" limit 5) t);
end;
$$;

create or replace function private.monitoring_recent_bugs(at timestamptz, max_rows integer)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
begin
  -- PL/pgSQL for its cached plans (see monitoring_stats).
  return (
  select coalesce(jsonb_agg(private.monitoring_bug_json(b.br)
                            order by b.rank, b.created_at desc, b.id desc), '[]')
  from (
    select br, br.created_at, br.id,
           case br.severity when 'critical' then 1 when 'high' then 2
                            when 'medium' then 3 when 'low' then 4 end as rank
    from public.bug_reports br
    where br.created_at >= at - interval '24 hours'
      and br.created_at < timestamptz '2100-01-01 00:00:00+00'
    order by case br.severity when 'critical' then 1 when 'high' then 2
                              when 'medium' then 3 when 'low' then 4 end,
             br.created_at desc, br.id desc
    limit max_rows
  ) b);
end;
$$;

create or replace function private.monitoring_network_errors(at timestamptz, max_rows integer)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
begin
  -- PL/pgSQL for its cached plans (see monitoring_stats).
  return (
  select coalesce(jsonb_agg(private.monitoring_bug_json(b) order by b.created_at desc, b.id desc),
                  '[]')
  from (
    select br.* from public.bug_reports br
    where br.created_at >= at - interval '24 hours'
      and br.created_at < timestamptz '2100-01-01 00:00:00+00'
      and (br.error_type = 'network' or br.error_message ilike '%upload%')
    order by br.created_at desc, br.id desc
    limit max_rows
  ) b);
end;
$$;

create or replace function private.monitoring_transcription_errors(at timestamptz,
                                                                   max_rows integer)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
begin
  -- PL/pgSQL for its cached plans (see monitoring_stats).
  return (
  select coalesce(jsonb_agg(private.monitoring_job_json(j)
                            || jsonb_build_object('title', left(v.title, 500),
                                                  'email', left(p.email, 320))
                            order by j.created_at desc, j.id desc), '[]')
  from (
    select tj.* from public.transcription_jobs tj
    where tj.status = 'failed' and tj.created_at >= at - interval '7 days'
      and tj.created_at < timestamptz '2100-01-01 00:00:00+00'
    order by tj.created_at desc, tj.id desc
    limit max_rows
  ) j
  left join public.videos v on v.id = j.video_id
  left join public.profiles p on p.id = v.user_id);
end;
$$;

create or replace function private.monitoring_upload_errors(at timestamptz, max_rows integer)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
begin
  -- PL/pgSQL for its cached plans (see monitoring_stats).
  return (
  with reported as (
    select q.id, private.monitoring_finished_at(q.completed_at, q.updated_at) as fin,
           private.monitoring_item(q, p.email, p.first_name, p.last_name, at) as item
    from (select * from public.upload_queue
          where status = 'failed'
            and private.monitoring_finished_at(completed_at, updated_at)
                >= at - interval '7 days'
          order by private.monitoring_finished_at(completed_at, updated_at) desc, id desc
          limit max_rows) q
    left join lateral (select pr.email, pr.first_name, pr.last_name from public.profiles pr
                       where pr.id = q.user_id offset 0) p on true
  ), flagged as (
    select v.id, v.created_at as fin, private.monitoring_derived_item(v, (select pr from public.profiles pr where pr.id = v.user_id), at) as item
    from (select * from public.videos vv
          where vv.metadata ->> 'uploadFailed' = 'true'
            and vv.created_at >= at - interval '7 days'
            and vv.created_at < timestamptz '2100-01-01 00:00:00+00'
            -- A per-row check, not NOT EXISTS: an anti-join would read every flagged video
            -- of the week before sorting; this reads the index in order and stops at the limit.
            and (select q.id from public.upload_queue q where q.video_id = vv.id limit 1) is null
          order by vv.created_at desc, vv.id desc
          limit max_rows) v
  )
  select coalesce(jsonb_agg(u.item order by u.fin desc, u.id desc), '[]')
  from (select * from (select * from reported union all select * from flagged) a
        order by fin desc, id desc limit max_rows) u);
end;
$$;

create or replace function private.monitoring_upload_list(at timestamptz, max_rows integer)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
  v_status text;
  v_left integer := max_rows;
  v_part jsonb;
  v_all jsonb := '[]';
  v_since timestamptz := at - interval '24 hours';
begin
  foreach v_status in array array['uploading', 'pending', 'failed', 'completed'] loop
    exit when v_left <= 0;
    with reported as (
      select q.id, q.started_at as started, private.monitoring_item(q, p.email, p.first_name, p.last_name, at) as item
      from (select * from public.upload_queue
            where status = v_status and started_at >= v_since
            order by started_at desc, id desc limit v_left) q
      left join lateral (select pr.email, pr.first_name, pr.last_name from public.profiles pr
                         where pr.id = q.user_id offset 0) p on true
    ), candidates as (
      -- Phase 1 videos that can have this derived status, each branch read from its index.
      -- A creation time past 2100 reads as null: never in the window.
      select v.* from public.videos v
      where v_status = 'uploading' and not private.monitoring_has_file(v.file_path)
        and v.created_at > at - interval '30 minutes'
        and v.created_at < timestamptz '2100-01-01 00:00:00+00'
        and coalesce(v.metadata ->> 'uploadFailed', '') <> 'true'
      union all
      select v.* from public.videos v
      where v_status = 'failed' and v.metadata ->> 'uploadFailed' = 'true'
        and v.created_at >= v_since
        and v.created_at < timestamptz '2100-01-01 00:00:00+00'
      union all
      select v.* from public.videos v
      where v_status = 'failed' and not private.monitoring_has_file(v.file_path)
        and v.created_at >= v_since and v.created_at <= at - interval '30 minutes'
        and coalesce(v.metadata ->> 'uploadFailed', '') <> 'true'
    ), derived as (
      select v.id, v.created_at as started, private.monitoring_derived_item(v, (select pr from public.profiles pr where pr.id = v.user_id), at) as item
      from (
        select c.* from candidates c
        where not exists (select 1 from public.upload_queue q where q.user_id = c.user_id)
        union all
        (select v.* from public.videos v
         where v_status = 'completed' and v.created_at >= v_since
           and v.created_at < timestamptz '2100-01-01 00:00:00+00'
           and coalesce(v.metadata ->> 'uploadFailed', '') <> 'true'
           and private.monitoring_has_file(v.file_path)
           and not exists (select 1 from public.upload_queue q where q.user_id = v.user_id)
         order by v.created_at desc, v.id desc
         limit v_left)
      ) v
    )
    select coalesce(jsonb_agg(u.item order by u.started desc, u.id desc), '[]')
    into v_part
    from (select * from (select * from reported union all select * from derived) a
          order by started desc, id desc limit v_left) u;
    v_all := v_all || v_part;
    v_left := v_left - jsonb_array_length(v_part);
  end loop;
  return v_all;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- The API (the functions whose own statements read the app's rows)
-- ---------------------------------------------------------------------------------------------

-- monitoring_changes as in 20261201080000, with the rules: app rows changed in (since, now]
-- (rule 1), bug and job rows as the monitoring shows them.
create or replace function public.monitoring_changes(since timestamptz)
returns json
language plpgsql stable
set search_path = ''
as $$
declare
  v_now timestamptz := now();
  v_uploads json;
  v_count integer;
begin
  perform private.monitoring_require_admin('monitoring_changes');
  if since is null or since < v_now - interval '5 minutes' then
    return private.monitoring_changes_resync(since, v_now)::json;
  end if;
  select count(*) into v_count
  from (select 1 from public.upload_queue q where q.updated_at > since limit 2001) c;
  if v_count > 2000 then
    return private.monitoring_changes_resync(since, v_now)::json;
  end if;
  with reported as (
    select q.updated_at as changed, q.id,
           private.monitoring_item_json(q, p.email, p.first_name, p.last_name, v_now) as item
    from public.upload_queue q
    left join lateral (select pr.email, pr.first_name, pr.last_name from public.profiles pr
                       where pr.id = q.user_id offset 0) p on true
    where q.updated_at > since
  ), derived as (
    select greatest(private.monitoring_time(v.created_at),
                    private.monitoring_time(v.updated_at)) as changed, v.id,
           private.monitoring_derived_item(v, (select pr from public.profiles pr where pr.id = v.user_id), v_now)::json as item
    from (select * from public.videos where created_at > since and created_at <= v_now
          union
          select * from public.videos where updated_at > since and updated_at <= v_now) v
    where not exists (select 1 from public.upload_queue q where q.user_id = v.user_id)
    limit 2000
  )
  select coalesce(json_agg(u.item order by u.changed, u.id), '[]'::json) into v_uploads
  from (select * from reported union all select * from derived) u;

  return json_build_object(
    'generatedAt', v_now, 'since', since, 'cursor', v_now - interval '2 seconds',
    'resync', false,
    'stats', private.monitoring_stats(v_now),
    'uploads', v_uploads,
    'bugs', (select coalesce(json_agg(private.monitoring_bug_json(b)
                                      order by b.created_at desc, b.id desc), '[]'::json)
             from (select * from public.bug_reports
                   where created_at > since and created_at <= v_now
                   order by created_at desc, id desc limit 2000) b),
    'transcriptionErrors',
      (select coalesce(json_agg(private.monitoring_job_json(j)
                                || jsonb_build_object('title', left(v.title, 500),
                                                      'email', left(p.email, 320))
                                order by j.created_at desc, j.id desc), '[]'::json)
       from (select * from public.transcription_jobs
             where status = 'failed' and updated_at > since and updated_at <= v_now
             limit 2000) j
       left join public.videos v on v.id = j.video_id
       left join public.profiles p on p.id = v.user_id));
end;
$$;

-- monitoring_user_profile as in 20261124100000, with the rules: the profile and bug rows as the
-- monitoring shows them, bugs newest first by a time in the range (absurd ones last).
create or replace function public.monitoring_user_profile(user_id uuid)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
  v_now timestamptz := now();
  v_profile public.profiles;
  v_counts record;
begin
  perform private.monitoring_require_admin('monitoring_user_profile');
  select * into v_profile from public.profiles p where p.id = monitoring_user_profile.user_id;
  if not found then
    -- PT404: PostgREST's custom status (P0002 would be a 500 there).
    raise exception using errcode = 'PT404', message = 'no such user';
  end if;
  select count(*) as total,
         count(*) filter (where q.status = 'pending') as pending,
         count(*) filter (where q.status = 'uploading') as uploading,
         count(*) filter (where q.status = 'completed') as completed,
         count(*) filter (where q.status = 'failed') as failed,
         coalesce(round(avg(q.upload_speed) filter (where q.status = 'completed'
                                                     and q.upload_speed <> 'NaN'), 1), 0)
           as speed
  into v_counts
  from public.upload_queue q where q.user_id = v_profile.id;
  return jsonb_build_object(
    'profile', private.monitoring_profile_json(v_profile),
    'uploads', jsonb_build_object(
      'total', v_counts.total, 'pending', v_counts.pending, 'uploading', v_counts.uploading,
      'completed', v_counts.completed, 'failed', v_counts.failed,
      'successRate', private.monitoring_percent(v_counts.completed,
                                                v_counts.completed + v_counts.failed),
      'avgUploadSpeed', v_counts.speed),
    'recentUploads', (
      select coalesce(jsonb_agg(private.monitoring_item(q, v_profile.email, v_profile.first_name,
                                                         v_profile.last_name, v_now)
                                order by q.started_at desc, q.id desc), '[]')
      from (select * from public.upload_queue uq where uq.user_id = v_profile.id
            order by uq.started_at desc, uq.id desc limit 20) q),
    'bugs', jsonb_build_object(
      'total', (select count(*) from public.bug_reports b where b.user_id = v_profile.id),
      'recent', (select coalesce(jsonb_agg(private.monitoring_bug_json(b)
                                           order by private.monitoring_time(b.created_at) desc nulls last,
                                                    b.id desc), '[]')
                 from (select * from public.bug_reports br where br.user_id = v_profile.id
                       order by private.monitoring_time(br.created_at) desc nulls last,
                                br.id desc limit 20) b)));
end;
$$;

-- monitoring_user_timeline as in 20261124100000, with the rules: entries need a time in the
-- range (others are skipped), texts cut.
create or replace function public.monitoring_user_timeline(
  user_id uuid,
  before_at timestamptz default null,
  before_id uuid default null,
  page_size integer default 50)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
  v_entries jsonb;
begin
  perform private.monitoring_require_admin('monitoring_user_timeline');
  if page_size is null or page_size < 1 or page_size > 100 then
    raise exception using errcode = '22023', message = 'page_size must be between 1 and 100';
  end if;
  if (before_at is null) <> (before_id is null) then
    raise exception using errcode = '22023',
      message = 'before_at and before_id go together (the previous page''s nextCursor)';
  end if;
  with events as (
    (select e.created_at as at, e.id, private.monitoring_compact(jsonb_build_object(
              'at', e.created_at, 'id', e.id, 'type', 'upload_event', 'uploadId', e.upload_id,
              'filename', left(q.filename, 1000), 'videoTitle', left(q.video_title, 500),
              'kind', e.kind, 'status', e.status, 'stage', e.stage, 'progress', e.progress,
              'errorCode', left(e.error_code, 100),
              'errorMessage', left(e.error_message, 4000))) as entry
     from public.upload_events e
     left join public.upload_queue q on q.id = e.upload_id
     where e.user_id = monitoring_user_timeline.user_id
       and e.created_at >= timestamptz '2000-01-01 00:00:00+00'
       and e.created_at < timestamptz '2100-01-01 00:00:00+00'
       and (before_at is null or (e.created_at, e.id) < (before_at, before_id))
     order by e.created_at desc, e.id desc
     limit page_size)
    union all
    (select b.created_at, b.id, private.monitoring_compact(jsonb_build_object(
              'at', b.created_at, 'id', b.id, 'type', 'bug_report',
              'errorMessage', left(b.error_message, 4000), 'severity', left(b.severity, 100),
              'errorType', left(b.error_type, 100)))
     from public.bug_reports b
     where b.user_id = monitoring_user_timeline.user_id
       and b.created_at >= timestamptz '2000-01-01 00:00:00+00'
       and b.created_at < timestamptz '2100-01-01 00:00:00+00'
       and (before_at is null or (b.created_at, b.id) < (before_at, before_id))
     order by b.created_at desc, b.id desc
     limit page_size)
  )
  select coalesce(jsonb_agg(t.entry order by t.at desc, t.id desc), '[]') into v_entries
  from (select * from events order by at desc, id desc limit page_size) t;
  return jsonb_build_object(
    'entries', v_entries,
    'nextCursor', case when jsonb_array_length(v_entries) = page_size then
      jsonb_build_object('at', v_entries -> -1 -> 'at', 'id', v_entries -> -1 -> 'id') end);
end;
$$;

-- monitoring_error_distribution as in 20261124100000, with the rules: bug reports of the
-- window up to 2100, types cut to 100 characters (grouped as shown).
create or replace function public.monitoring_error_distribution(hours integer default 24)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
  v_since timestamptz;
begin
  perform private.monitoring_require_admin('monitoring_error_distribution');
  if hours is null or hours < 1 or hours > 168 then
    raise exception using errcode = '22023', message = 'hours must be between 1 and 168';
  end if;
  v_since := now() - make_interval(hours => hours);
  return jsonb_build_object('since', v_since,
    'uploads', (
      select coalesce(jsonb_agg(jsonb_build_object('key', g.k, 'count', g.n,
               'percentage', private.monitoring_percent(g.n, g.total))
               order by g.n desc, g.k collate "C"), '[]')
      from (select left(coalesce(error_code, 'unknown'), 100) as k, count(*) as n,
                   sum(count(*)) over ()::bigint as total
            from public.upload_queue
            where status = 'failed'
              and private.monitoring_finished_at(completed_at, updated_at) >= v_since
            group by 1) g),
    'bugs', (
      select coalesce(jsonb_agg(jsonb_build_object('key', g.k, 'count', g.n,
               'percentage', private.monitoring_percent(g.n, g.total))
               order by g.n desc, g.k collate "C"), '[]')
      from (select left(coalesce(error_type, 'unknown'), 100) as k, count(*) as n,
                   sum(count(*)) over ()::bigint as total
            from public.bug_reports
            where created_at >= v_since
              and created_at < timestamptz '2100-01-01 00:00:00+00'
            group by 1) g));
end;
$$;

-- monitoring_upload_log as in 20261201100000, with the rules: event times outside the range
-- shown as null (the event stays in the log), texts cut.
create or replace function public.monitoring_upload_log(upload_id uuid)
returns jsonb
language plpgsql stable
security invoker
set search_path = ''
as $$
declare
  v_now timestamptz := now();
  v_card jsonb;
  v_count bigint;
  v_events jsonb;
begin
  perform private.monitoring_require_admin('monitoring_upload_log');
  select private.monitoring_item(q, p.email, p.first_name, p.last_name, v_now) into v_card
  from public.upload_queue q
  left join public.profiles p on p.id = q.user_id
  where q.id = monitoring_upload_log.upload_id;
  if v_card is null then
    -- PT404: PostgREST's custom status (P0002 would be a 500 there).
    raise exception using errcode = 'PT404',
      message = format('upload %s not found', monitoring_upload_log.upload_id),
      hint = 'Only reported uploads have a log; a card derived from videos has none.';
  end if;

  select count(*) into v_count
  from public.upload_events e where e.upload_id = monitoring_upload_log.upload_id;

  select coalesce(jsonb_agg(x.entry order by x.seq, x.created_at, x.id), '[]') into v_events
  from (
    select e.seq, e.created_at, e.id,
           private.monitoring_compact(jsonb_build_object(
             'id', e.id, 'seq', e.seq, 'kind', e.kind, 'status', e.status, 'stage', e.stage,
             'progress', e.progress, 'bytesSent', e.bytes_sent,
             'uploadSpeed', e.upload_speed, 'errorCode', left(e.error_code, 100),
             'errorMessage', left(e.error_message, 4000),
             'deviceAt', private.monitoring_time(e.device_at),
             'createdAt', private.monitoring_time(e.created_at))) as entry
    from public.upload_events e
    where e.upload_id = monitoring_upload_log.upload_id
    -- The newest 500 (idx_upload_events_upload_seq serves the scan backwards).
    order by e.seq desc, e.created_at desc, e.id desc
    limit 500
  ) x;

  return jsonb_build_object('upload', v_card, 'events', v_events,
                            'eventCount', v_count, 'truncated', v_count > 500);
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Grants: as 20261124100000's loop (the new helpers run as the admin caller); never anon. The
-- maintenance functions keep 20261201080000's narrower grants.
-- ---------------------------------------------------------------------------------------------
do $$
declare
  f regprocedure;
begin
  for f in
    select p.oid::regprocedure from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'private'
      and p.proname in ('monitoring_time', 'monitoring_json_nests_at_most_100',
                        'monitoring_json_text', 'monitoring_json', 'monitoring_bug_json',
                        'monitoring_job_json', 'monitoring_profile_json')
  loop
    execute format('revoke all on function %s from public', f);
    execute format('revoke all on function %s from anon', f);
    execute format('grant execute on function %s to authenticated, service_role', f);
  end loop;
end
$$;
