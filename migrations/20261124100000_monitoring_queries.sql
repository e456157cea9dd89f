-- The admin monitoring RPCs behind the /monitoring page: one-round-trip snapshot, a cheap
-- change feed, the filtered uploads list, per-user views, comparisons, charts and alerts.
--
-- Semantics are monitor-core's (src/aggregate.rs for stats, top errors, bugs, the uploads list
-- and the error tabs; src/derive.rs for the Phase 1 fallback; src/monitoring.rs for the JSON
-- shapes): tests/monitoring_differential.rs holds the two to the same answers. What only this
-- file decides is written above each function ("Decided here").
--
-- Security: every function is SECURITY INVOKER (RLS still applies: the admin read policies of
-- the baseline and upload_queue migrations) and refuses any caller that is neither an admin
-- JWT nor the service key (42501 -> HTTP 403, 401 for anon). Idempotent: `create or replace`,
-- `if not exists`.

-- ---------------------------------------------------------------------------------------------
-- Indexes: each one named for the query it serves. All partial where the query is, so they
-- stay small however many finished rows the week keeps.
-- ---------------------------------------------------------------------------------------------

-- "finished_at" (aggregate.rs): when a finished upload finished, even for rows written the
-- spec's old way without completed_at. Immutable so it can be indexed. The small immutable
-- helpers here have no `set search_path` (they name no table, only pg_catalog functions):
-- a function with a SET clause is never inlined, and per-row calls of it cost ~10x more.
create or replace function private.monitoring_finished_at(completed_at timestamptz,
                                                          updated_at timestamptz)
returns timestamptz
language sql immutable parallel safe
as $$ select coalesce(completed_at, updated_at) $$;

-- Whether a videos.file_path holds a file: not blank, "blank" meaning only the characters
-- Rust's str::trim removes (Unicode White_Space), as monitor-core's VideoRow::has_file.
create or replace function private.monitoring_has_file(file_path text)
returns boolean
language sql immutable parallel safe
as $$
  select coalesce(btrim(file_path, E' \t\n\x0b\f\r\u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000'), '') <> ''
$$;

-- Stat cards "Complétés (24h)" (index-only count) and the speed sample's order.
create index if not exists idx_upload_queue_completed_finished
  on public.upload_queue (private.monitoring_finished_at(completed_at, updated_at) desc, id desc)
  -- The columns behind the expression: without them the planner never picks an index-only
  -- scan for an expression index, and the 24 h count visits the heap.
  include (completed_at, updated_at)
  where status = 'completed';
-- "Échecs (24h)", the "🚫 Échecs Upload" tab (7 days, newest first), alert evaluation.
create index if not exists idx_upload_queue_failed_finished
  on public.upload_queue (private.monitoring_finished_at(completed_at, updated_at) desc, id desc)
  include (completed_at, updated_at)
  where status = 'failed';
-- "Vitesse moy.": the 10 latest completed uploads that have a speed.
create index if not exists idx_upload_queue_completed_speed
  on public.upload_queue (private.monitoring_finished_at(completed_at, updated_at) desc, id desc)
  include (upload_speed)
  where status = 'completed' and upload_speed is not null;
-- The uploads list: per status, newest first, with the id tie-break (keyset pagination too).
create index if not exists idx_upload_queue_status_started
  on public.upload_queue (status, started_at desc, id desc);
create index if not exists idx_upload_queue_started_id
  on public.upload_queue (started_at desc, id desc);

-- "Bugs nouveaux … critiques".
create index if not exists idx_bug_reports_critical_created
  on public.bug_reports (created_at) where severity = 'critical';
-- Top errors: an index-only scan of the 24 h window with what the grouping needs.
create index if not exists idx_bug_reports_created_message
  on public.bug_reports (created_at) include (error_message, user_id);
-- "🐛 Bugs récents": severity rank, newest, id (the spec's CASE, NULL last).
create index if not exists idx_bug_reports_severity_rank
  on public.bug_reports ((case severity when 'critical' then 1 when 'high' then 2
                                        when 'medium' then 3 when 'low' then 4 end),
                         created_at desc, id desc);
-- Per-user bugs (profile view) are served by the baseline's bug_reports_user_id_idx.

-- "🔴 Échecs Transcription" (7 days) and the change feed's new failures.
create index if not exists idx_transcription_jobs_failed_created
  on public.transcription_jobs (created_at desc, id desc) where status = 'failed';
create index if not exists idx_transcription_jobs_failed_updated
  on public.transcription_jobs (updated_at) where status = 'failed';
-- A video's latest transcription job.
create index if not exists idx_transcription_jobs_video_created
  on public.transcription_jobs (video_id, created_at desc, id desc);

-- Phase 1: videos the app flagged failed, and videos with no file yet.
create index if not exists idx_videos_upload_failed
  on public.videos (created_at desc, id desc) where metadata ->> 'uploadFailed' = 'true';
create index if not exists idx_videos_without_file
  on public.videos (created_at desc, id desc) where not private.monitoring_has_file(file_path);
create index if not exists idx_videos_created_id on public.videos (created_at desc, id desc);
-- The change feed's derived items.
create index if not exists idx_videos_updated_at on public.videos (updated_at);

-- ---------------------------------------------------------------------------------------------
-- Helpers (private: not exposed by the API)
-- ---------------------------------------------------------------------------------------------

-- Refuses callers that are neither admins nor the service key (42501: HTTP 403, 401 for anon).
create or replace function private.monitoring_require_admin(fn text)
returns void
language plpgsql stable
set search_path = ''
as $$
begin
  if not private.is_admin_or_service() then
    raise exception using errcode = '42501',
      message = format('%s is for admins', fn),
      hint = 'Sign in with an account whose app_metadata.role is admin, or use the service key.';
  end if;
end;
$$;

-- Drops the top-level keys whose value is JSON null (nested nulls, e.g. inside metadata, stay):
-- the spec's optional fields (`uploadSpeed?`) are absent rather than null.
create or replace function private.monitoring_compact(obj jsonb)
returns jsonb
language sql immutable parallel safe
as $$
  select coalesce(jsonb_object_agg(e.key, e.value), '{}'::jsonb)
  from jsonb_each(obj) e
  where e.value <> 'null'::jsonb
$$;

-- round(part * 100.0 / whole, 1), 0 when whole is 0 (aggregate.rs percent_1dp).
create or replace function private.monitoring_percent(part bigint, whole bigint)
returns numeric
language sql immutable parallel safe
as $$ select case when whole = 0 then 0 else round(part * 100.0 / whole, 1) end $$;

-- The latest transcription job status of a video. Decided here (aggregate.rs has no rule):
-- a video with several jobs shows the newest (created_at desc, nulls last, then id desc).
create or replace function private.monitoring_transcription_status(video uuid)
returns text
language sql stable
as $$
  select tj.status from public.transcription_jobs tj
  where tj.video_id = video
  order by tj.created_at desc nulls last, tj.id desc
  limit 1
$$;

-- One reported upload card (monitoring.rs UploadMonitorItem::from_record, plus the video's
-- transcription status) with the owner's email and names. Callers read them with
-- `left join lateral (... where pr.id = q.user_id offset 0) p`: the OFFSET fence keeps it a
-- primary-key probe per card, where a plain join under a generic plan's row guess may hash all
-- 100,000 profiles to dress a dozen cards. The names come as scalars, not as a profiles row
-- from a subquery: an argument that is a sub-select and is used more than once stops the
-- planner from inlining the function. Written as one expression with no SET clause so the
-- planner inlines it into the list queries (a card then costs a few microseconds, not a
-- function call each): every name in it is schema-qualified. Optional fields are dropped when
-- null by deleting their keys from the one object (`- text[]`): merging objects with `||`
-- re-sorts both sides and cost a third of the card (measured: 7.2 -> 4.6 ms for 320 cards),
-- and jsonb_strip_nulls would also strip nulls inside metadata. The transcription status is
-- merged only for cards with a video (`||` with '{}' returns the other side as is), so its
-- lookup runs once per card at most.
create or replace function private.monitoring_item(q public.upload_queue, email text,
                                                   first_name text, last_name text,
                                                   at timestamptz)
returns jsonb
language sql stable
as $$
  select jsonb_build_object(
      'id', q.id, 'userId', q.user_id, 'userEmail', email, 'videoTitle', q.video_title,
      'filename', q.filename, 'fileSize', q.file_size, 'status', q.status,
      'progress', coalesce(q.progress, 0), 'retryCount', coalesce(q.retry_count, 0),
      'startedAt', q.started_at, 'bytesSent', q.bytes_sent,
      -- stale.rs: active and no report for 30 minutes (strictly older).
      'isStale', q.status in ('pending', 'uploading')
                 and q.updated_at < at - interval '30 minutes',
      'origin', 'upload_queue',
      'uploadSpeed', q.upload_speed, 'errorMessage', q.error_message,
      'completedAt', q.completed_at,
      'elapsedTime', extract(epoch from coalesce(q.completed_at, at) - q.started_at),
      'localId', nullif(q.local_id, ''), 'stage', q.stage,
      'source', q.source, 'errorCode', q.error_code, 'duration', q.duration,
      'videoId', q.video_id, 'updatedAt', q.updated_at,
      'userFirstName', first_name, 'userLastName', last_name, 'metadata', q.metadata)
    OPERATOR(pg_catalog.-) pg_catalog.array_remove(array[
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
    OPERATOR(pg_catalog.||) case when q.video_id is null then '{}'::jsonb
                                 else pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                                   'transcriptionStatus',
                                   private.monitoring_transcription_status(q.video_id))) end
$$;

-- Phase 1 status of a videos row at `at` (derive.rs derive_status), first rule that applies.
create or replace function private.monitoring_derived_status(v public.videos, at timestamptz)
returns text
language sql stable
as $$
  select case
    when v.metadata ->> 'uploadFailed' = 'true' then 'marked_failed'
    when private.monitoring_has_file(v.file_path) then
      case when v.created_at > at - interval '5 minutes' then 'just_stored' else 'stored' end
    when v.created_at > at - interval '30 minutes' then 'awaiting_file'
    else 'abandoned'
  end
$$;

-- The last segment of a path or URL without query string or fragment (derive.rs file_name).
create or replace function private.monitoring_file_name(path text)
returns text
language sql immutable parallel safe
as $$
  select regexp_replace(rtrim(split_part(split_part(coalesce(path, ''), '?', 1), '#', 1), '/'),
                        '^.*/', '')
$$;

-- One derived (Phase 1) card (derive.rs derive_item), `origin` = videos. One expression,
-- inlinable, as monitoring_item; `how` is the rule of monitoring_derived_status.
create or replace function private.monitoring_derived_card(v public.videos, p public.profiles,
                                                           at timestamptz, how text)
returns jsonb
language sql stable
as $$
  select jsonb_build_object(
      'id', v.id, 'userId', v.user_id, 'userEmail', p.email, 'videoTitle', v.title,
      'filename', private.monitoring_file_name(v.file_path), 'fileSize', null,
      'status', case how when 'awaiting_file' then 'uploading'
                         when 'marked_failed' then 'failed' when 'abandoned' then 'failed'
                         else 'completed' end,
      'progress', case when how in ('just_stored', 'stored') then 100 else 0 end,
      'retryCount', 0, 'startedAt', coalesce(v.created_at, at), 'bytesSent', 0,
      'isStale', false, 'origin', 'videos')
    OPERATOR(pg_catalog.||) jsonb_strip_nulls(jsonb_build_object(
      'errorMessage', case how
        when 'marked_failed' then coalesce(
          case when jsonb_typeof(v.metadata -> 'uploadError') = 'string'
               then v.metadata ->> 'uploadError' end,
          'The app marked this upload as failed')
        when 'abandoned' then 'No file stored 30 minutes after the video was created' end,
      'errorCode', case how when 'marked_failed' then 'app_reported'
                            when 'abandoned' then 'stale' end,
      'completedAt', case when how <> 'awaiting_file' then coalesce(v.created_at, at) end,
      'elapsedTime', case when how <> 'awaiting_file' then 0::numeric
                          else extract(epoch from at - coalesce(v.created_at, at)) end,
      'source', case when v.metadata -> 'isRecorded' = 'true'::jsonb then 'recorded'
                     when v.metadata -> 'isImported' = 'true'::jsonb then 'imported' end,
      'duration', v.duration, 'videoId', v.id, 'updatedAt', v.updated_at,
      'userFirstName', p.first_name, 'userLastName', p.last_name,
      'transcriptionStatus', private.monitoring_transcription_status(v.id)))
    OPERATOR(pg_catalog.||) case when v.metadata is null or v.metadata = 'null'::jsonb
                                 then '{}'::jsonb
                                 else jsonb_build_object('metadata', v.metadata) end
$$;

create or replace function private.monitoring_derived_item(v public.videos, p public.profiles,
                                                           at timestamptz)
returns jsonb
language sql stable
as $$
  select private.monitoring_derived_card(v, p, at, private.monitoring_derived_status(v, at))
$$;

-- ---------------------------------------------------------------------------------------------
-- Per-minute counts behind the stat cards
-- ---------------------------------------------------------------------------------------------
-- "Complétés (24h)" at 1M rows is ~140,000 index entries to count on every refresh (~20 ms);
-- the change feed must answer in a few. So finished uploads (by finished_at) and bug reports
-- (by created_at) are also counted per minute, by triggers, in the same transaction as the row
-- (exact under MVCC, no refresh job). A window count is the sum of the whole minutes inside it
-- plus an exact index count of the partial minute at its start. Kinds: 'completed',
-- 'failed' (upload_queue), 'bug', 'critical_bug' (bug_reports). Minutes are aligned on the
-- epoch with date_bin, whatever the session's TimeZone.
create table if not exists private.monitoring_minute_counts (
  kind text not null,
  minute timestamptz not null,
  n bigint not null,
  -- n in the key's index: the 24 h sum (~6,000 entries) is an index-only scan.
  primary key (kind, minute) include (n)
);
alter table private.monitoring_minute_counts enable row level security;
do $$
begin
  if not exists (select 1 from pg_policies where schemaname = 'private'
                 and tablename = 'monitoring_minute_counts') then
    create policy "monitoring_minute_counts: admins read" on private.monitoring_minute_counts
      for select to authenticated using ((select private.is_admin_or_service()));
  end if;
end
$$;
revoke all on private.monitoring_minute_counts from public;
grant select on private.monitoring_minute_counts to authenticated, service_role;

create or replace function private.monitoring_minute(at timestamptz)
returns timestamptz
language sql immutable parallel safe
as $$ select date_bin(interval '1 minute', at, timestamptz '2000-01-01 00:00:00+00') $$;

-- Adds `delta` to (kind, minute of at); nothing for a null time.
create or replace function private.monitoring_bump(p_kind text, p_at timestamptz, p_delta bigint)
returns void
language sql
set search_path = ''
as $$
  insert into private.monitoring_minute_counts as c (kind, minute, n)
  select p_kind, private.monitoring_minute(p_at), p_delta where p_at is not null
  on conflict (kind, minute) do update set n = c.n + excluded.n
$$;

-- Row triggers: SECURITY DEFINER because the ingest runs as the user, who cannot write the
-- counts; they only ever add what the row change means.
create or replace function private.monitoring_count_upload()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op in ('UPDATE', 'DELETE') and old.status in ('completed', 'failed') then
    perform private.monitoring_bump(old.status,
      private.monitoring_finished_at(old.completed_at, old.updated_at), -1);
  end if;
  if tg_op in ('UPDATE', 'INSERT') and new.status in ('completed', 'failed') then
    perform private.monitoring_bump(new.status,
      private.monitoring_finished_at(new.completed_at, new.updated_at), 1);
  end if;
  return null;
end;
$$;

create or replace function private.monitoring_count_bug()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op in ('UPDATE', 'DELETE') then
    perform private.monitoring_bump('bug', old.created_at, -1);
    if old.severity = 'critical' then
      perform private.monitoring_bump('critical_bug', old.created_at, -1);
    end if;
  end if;
  if tg_op in ('UPDATE', 'INSERT') then
    perform private.monitoring_bump('bug', new.created_at, 1);
    if new.severity = 'critical' then
      perform private.monitoring_bump('critical_bug', new.created_at, 1);
    end if;
  end if;
  return null;
end;
$$;

create or replace function private.monitoring_count_truncated()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from private.monitoring_minute_counts
  where kind = any(case tg_table_name when 'upload_queue' then array['completed', 'failed']
                                      else array['bug', 'critical_bug'] end);
  return null;
end;
$$;

-- Recounts everything from the tables (after a bulk load with triggers disabled, or to check).
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
  from public.bug_reports where created_at is not null group by 2
  union all
  select 'critical_bug', private.monitoring_minute(created_at), count(*)
  from public.bug_reports where created_at is not null and severity = 'critical' group by 2;
end;
$$;
revoke all on function private.monitoring_rebuild_counts() from public;

do $$
begin
  -- Progress reports of active uploads (most writes) never fire the upload trigger.
  if not exists (select 1 from pg_trigger where tgname = 'monitoring_count_upload_insert') then
    create trigger monitoring_count_upload_insert after insert on public.upload_queue
      for each row when (new.status in ('completed', 'failed'))
      execute function private.monitoring_count_upload();
    create trigger monitoring_count_upload_update after update on public.upload_queue
      for each row when ((old.status in ('completed', 'failed')
                          or new.status in ('completed', 'failed'))
                         and (old.status is distinct from new.status
                              or coalesce(old.completed_at, old.updated_at)
                                 is distinct from coalesce(new.completed_at, new.updated_at)))
      execute function private.monitoring_count_upload();
    create trigger monitoring_count_upload_delete after delete on public.upload_queue
      for each row when (old.status in ('completed', 'failed'))
      execute function private.monitoring_count_upload();
    create trigger monitoring_count_upload_truncate after truncate on public.upload_queue
      for each statement execute function private.monitoring_count_truncated();
    create trigger monitoring_count_bug_insert after insert or delete on public.bug_reports
      for each row execute function private.monitoring_count_bug();
    create trigger monitoring_count_bug_update after update on public.bug_reports
      for each row when (old.created_at is distinct from new.created_at
                         or old.severity is distinct from new.severity)
      execute function private.monitoring_count_bug();
    create trigger monitoring_count_bug_truncate after truncate on public.bug_reports
      for each statement execute function private.monitoring_count_truncated();
  end if;
end
$$;
-- Exact from here on, whatever the tables held before this migration (or a second run).
select private.monitoring_rebuild_counts();

-- The first whole minute at or after `since`: minutes from there on are summed from the
-- counts; [since, first whole minute) is counted exactly.
create or replace function private.monitoring_first_whole_minute(since timestamptz)
returns timestamptz
language sql immutable parallel safe
as $$
  select case when private.monitoring_minute(since) = since then since
              else private.monitoring_minute(since) + interval '1 minute' end
$$;

-- The stat cards at `at` (aggregate.rs monitoring_stats): live counts from the small partial
-- index of active rows, 24 h counts from the per-minute counts. PL/pgSQL, not SQL: its
-- statements' plans are cached per connection (a SQL function is planned again on every call,
-- which cost more than running these index lookups).
create or replace function private.monitoring_stats(at timestamptz)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
  v_since timestamptz := at - interval '24 hours';
  v_whole timestamptz := private.monitoring_first_whole_minute(at - interval '24 hours');
  v_uploading bigint;
  v_pending bigint;
  v_completed bigint;
  v_failed bigint;
  v_speed numeric;
  v_bugs bigint;
  v_critical bigint;
begin
  select count(*) into v_uploading from public.upload_queue where status = 'uploading';
  select count(*) into v_pending from public.upload_queue where status = 'pending';
  select coalesce(sum(n) filter (where kind = 'completed'), 0),
         coalesce(sum(n) filter (where kind = 'failed'), 0),
         coalesce(sum(n) filter (where kind = 'bug'), 0),
         coalesce(sum(n) filter (where kind = 'critical_bug'), 0)
    into v_completed, v_failed, v_bugs, v_critical
  from private.monitoring_minute_counts
  where kind in ('completed', 'failed', 'bug', 'critical_bug') and minute >= v_whole;
  v_completed := v_completed + (
    select count(*) from public.upload_queue
    where status = 'completed'
      and private.monitoring_finished_at(completed_at, updated_at) >= v_since
      and private.monitoring_finished_at(completed_at, updated_at) < v_whole);
  v_failed := v_failed + (
    select count(*) from public.upload_queue
    where status = 'failed'
      and private.monitoring_finished_at(completed_at, updated_at) >= v_since
      and private.monitoring_finished_at(completed_at, updated_at) < v_whole);
  v_bugs := v_bugs + (select count(*) from public.bug_reports
                      where created_at >= v_since and created_at < v_whole);
  v_critical := v_critical + (select count(*) from public.bug_reports
                              where severity = 'critical'
                                and created_at >= v_since and created_at < v_whole);
  select coalesce(round(avg(x.upload_speed), 1), 0) into v_speed from (
    select upload_speed from public.upload_queue
    where status = 'completed' and upload_speed is not null and upload_speed <> 'NaN'::numeric
    order by private.monitoring_finished_at(completed_at, updated_at) desc, id desc
    limit 10) x;
  return jsonb_build_object(
    'uploadsInProgress', v_uploading, 'uploadsPending', v_pending,
    'uploadsCompletedToday', v_completed, 'uploadsFailedToday', v_failed,
    'avgUploadSpeed', v_speed,
    'successRate', private.monitoring_percent(v_completed, v_completed + v_failed),
    'failedUploadRate', private.monitoring_percent(v_failed, v_completed + v_failed),
    'newBugsToday', v_bugs, 'criticalBugsToday', v_critical);
end;
$$;

-- "🔥 Erreurs les plus fréquentes (24h)" (aggregate.rs top_errors).
create or replace function private.monitoring_top_errors(at timestamptz)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
begin
  -- PL/pgSQL for its cached plans (see monitoring_stats).
  return (
  with w as (
    select error_message, user_id from public.bug_reports
    where created_at >= at - interval '24 hours'
  ), g as (
    select error_message, count(*) as n, count(distinct user_id) as users
    from w group by error_message
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'message', t.error_message, 'count', t.n, 'uniqueUsers', t.users,
           'percentage', private.monitoring_percent(t.n, (select count(*) from w)))
           order by t.n desc, t.error_message collate "C"), '[]'::jsonb)
  from (select * from g order by n desc, error_message collate "C" limit 5) t);
end;
$$;

-- "🐛 Bugs récents" (aggregate.rs recent_bugs): bug_reports rows as they are, ordered by
-- the same CASE as idx_bug_reports_severity_rank so the index gives the order.
create or replace function private.monitoring_recent_bugs(at timestamptz, max_rows integer)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
begin
  -- PL/pgSQL for its cached plans (see monitoring_stats).
  return (
  select coalesce(jsonb_agg(to_jsonb(b) - 'rank' order by b.rank, b.created_at desc, b.id desc),
                  '[]')
  from (
    select br.*, case br.severity when 'critical' then 1 when 'high' then 2
                                  when 'medium' then 3 when 'low' then 4 end as rank
    from public.bug_reports br
    where br.created_at >= at - interval '24 hours'
    order by case br.severity when 'critical' then 1 when 'high' then 2
                              when 'medium' then 3 when 'low' then 4 end,
             br.created_at desc, br.id desc
    limit max_rows
  ) b);
end;
$$;

-- "⚠️ Erreurs Réseau" (aggregate.rs network_errors; the spec's query): bug_reports rows.
create or replace function private.monitoring_network_errors(at timestamptz, max_rows integer)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
begin
  -- PL/pgSQL for its cached plans (see monitoring_stats).
  return (
  select coalesce(jsonb_agg(to_jsonb(b) order by b.created_at desc, b.id desc), '[]')
  from (
    select br.* from public.bug_reports br
    where br.created_at >= at - interval '24 hours'
      and (br.error_type = 'network' or br.error_message ilike '%upload%')
    order by br.created_at desc, br.id desc
    limit max_rows
  ) b);
end;
$$;

-- "🔴 Échecs Transcription" (aggregate.rs failed_transcriptions): the job's columns plus the
-- spec's `v.title` and `p.email` (null when the video or profile is missing: the spec's inner
-- joins would hide such a job, the oracle keeps it).
create or replace function private.monitoring_transcription_errors(at timestamptz,
                                                                   max_rows integer)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
begin
  -- PL/pgSQL for its cached plans (see monitoring_stats).
  return (
  select coalesce(jsonb_agg(to_jsonb(j) || jsonb_build_object('title', v.title,
                                                               'email', p.email)
                            order by j.created_at desc, j.id desc), '[]')
  from (
    select tj.* from public.transcription_jobs tj
    where tj.status = 'failed' and tj.created_at >= at - interval '7 days'
    order by tj.created_at desc, tj.id desc
    limit max_rows
  ) j
  left join public.videos v on v.id = j.video_id
  left join public.profiles p on p.id = v.user_id);
end;
$$;

-- "🚫 Échecs Upload" (aggregate.rs failed_uploads, plus the spec's videos flagged
-- `metadata.uploadFailed`): cards, newest finish first (a flagged video finishes at its
-- created_at), then id desc. Decided here: flagged videos already linked from an upload_queue
-- row (upload_queue.video_id) are left out, that row tells the story; at most `max_rows`.
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

-- The uploads list (aggregate.rs upload_list, merged with the Phase 1 fallback): rows with
-- started_at in 24 h, by status (uploading, pending, failed, completed), started_at desc,
-- id desc, at most `max_rows`. Decided here (aggregate.rs lists reported rows only): videos of
-- users who have no upload_queue row at all (or no user) created in 24 h join the list as
-- derived cards (derive.rs), in the same order by their derived status, startedAt
-- (= created_at) and id. Built status by status so a page full of active uploads never reads
-- the finished ones.
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
      select v.* from public.videos v
      where v_status = 'uploading' and not private.monitoring_has_file(v.file_path)
        and v.created_at > at - interval '30 minutes'
        and coalesce(v.metadata ->> 'uploadFailed', '') <> 'true'
      union all
      select v.* from public.videos v
      where v_status = 'failed' and v.metadata ->> 'uploadFailed' = 'true'
        and v.created_at >= v_since
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
-- The API
-- ---------------------------------------------------------------------------------------------

-- Everything the /monitoring page shows, in one round trip:
-- {generatedAt, cursor, stats, topErrors, uploads, recentBugs, uploadErrors,
--  transcriptionErrors, networkErrors}. `cursor` is what to pass to monitoring_changes next.
-- Lists: uploads <= max_uploads (1..100, default 100), recentBugs 20, error tabs <= 50 each
-- (decided here: aggregate.rs returns the tabs whole; a page shows the newest 50).
create or replace function public.monitoring_snapshot(max_uploads integer default 100)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
  v_now timestamptz := now();
begin
  perform private.monitoring_require_admin('monitoring_snapshot');
  if max_uploads is null or max_uploads < 1 or max_uploads > 100 then
    raise exception using errcode = '22023',
      message = 'max_uploads must be between 1 and 100';
  end if;
  return jsonb_build_object(
    'generatedAt', v_now,
    'cursor', v_now - interval '2 seconds',
    'stats', private.monitoring_stats(v_now),
    'topErrors', private.monitoring_top_errors(v_now),
    'uploads', private.monitoring_upload_list(v_now, max_uploads),
    'recentBugs', private.monitoring_recent_bugs(v_now, 20),
    'uploadErrors', private.monitoring_upload_errors(v_now, 50),
    'transcriptionErrors', private.monitoring_transcription_errors(v_now, 50),
    'networkErrors', private.monitoring_network_errors(v_now, 50));
end;
$$;

-- The answer that sends the caller back to a snapshot: fresh stats and no lists.
create or replace function private.monitoring_changes_resync(since timestamptz, at timestamptz)
returns jsonb
language sql stable
set search_path = ''
as $$
  select jsonb_build_object('generatedAt', at, 'since', since,
                            'cursor', at - interval '2 seconds', 'resync', true,
                            'stats', private.monitoring_stats(at),
                            'uploads', '[]'::jsonb, 'bugs', '[]'::jsonb,
                            'transcriptionErrors', '[]'::jsonb)
$$;

-- What changed after `since` (a cursor from monitoring_snapshot or the previous call):
-- {generatedAt, since, cursor, resync, stats, uploads, bugs, transcriptionErrors}.
-- - uploads: cards of upload_queue rows with updated_at > since (oldest change first), plus
--   derived cards of Phase 1 videos created or updated after since;
-- - bugs: bug reports created after since, newest first;
-- - transcriptionErrors: failed jobs updated after since;
-- - stats: fresh stat cards.
-- Decided here: the next cursor is now() - 2 s, so a write transaction that started before
-- this call but committed after it is still seen next time (clients replace cards by id; a
-- card may come twice). `resync: true` (and no lists) when since is null, older than
-- 5 minutes, or more than 2,000 rows changed: the caller takes a new snapshot instead, so one
-- call never reads an unbounded range. A derived card whose status changes only with time
-- (uploading -> failed after 30 minutes) shows in the next snapshot.
-- It returns json, not jsonb: the answer is built once and sent as it is, and json_agg
-- appends each card's text where jsonb_agg builds a tree and serializes it again (measured at
-- 330 cards a call: 14.7 -> 12.1 ms).
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
    select q.updated_at as changed, q.id, private.monitoring_item(q, p.email, p.first_name, p.last_name, v_now) as item
    from public.upload_queue q
    left join lateral (select pr.email, pr.first_name, pr.last_name from public.profiles pr
                       where pr.id = q.user_id offset 0) p on true
    where q.updated_at > since
  ), derived as (
    select greatest(v.created_at, v.updated_at) as changed, v.id,
           private.monitoring_derived_item(v, (select pr from public.profiles pr where pr.id = v.user_id), v_now) as item
    from (select * from public.videos where created_at > since
          union
          select * from public.videos where updated_at > since) v
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
    'bugs', (select coalesce(json_agg(to_jsonb(b) order by b.created_at desc, b.id desc), '[]'::json)
             from (select * from public.bug_reports where created_at > since
                   order by created_at desc, id desc limit 2000) b),
    'transcriptionErrors',
      (select coalesce(json_agg(to_jsonb(j) || jsonb_build_object('title', v.title,
                                                                    'email', p.email)
                                 order by j.created_at desc, j.id desc), '[]'::json)
       from (select * from public.transcription_jobs
             where status = 'failed' and updated_at > since limit 2000) j
       left join public.videos v on v.id = j.video_id
       left join public.profiles p on p.id = v.user_id));
end;
$$;

-- The uploads list with filters and keyset pagination (no OFFSET): reported uploads, newest
-- start first (started_at desc, id desc). Filters (all optional): `status` (one of the four),
-- `email` (case-insensitive substring of profiles.email), `started_from` <= started_at <
-- `started_to`, `source` (recorded|imported). Page: `page_size` 1..100 (default 50); pass the
-- answer's `nextCursor` ({startedAt, id}) as `after_started_at`/`after_id` for the next page.
-- Answer: {items, nextCursor (null on the last page)}. 22023 on a bad filter value.
create or replace function public.monitoring_uploads(
  status text default null,
  email text default null,
  started_from timestamptz default null,
  started_to timestamptz default null,
  source text default null,
  after_started_at timestamptz default null,
  after_id uuid default null,
  page_size integer default 50)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
  v_now timestamptz := now();
  v_where text := 'true';
  v_items jsonb;
begin
  perform private.monitoring_require_admin('monitoring_uploads');
  if page_size is null or page_size < 1 or page_size > 100 then
    raise exception using errcode = '22023', message = 'page_size must be between 1 and 100';
  end if;
  if status is not null and status not in ('pending', 'uploading', 'completed', 'failed') then
    raise exception using errcode = '22023',
      message = 'status must be pending, uploading, completed or failed';
  end if;
  if source is not null and source not in ('recorded', 'imported') then
    raise exception using errcode = '22023', message = 'source must be recorded or imported';
  end if;
  if (after_started_at is null) <> (after_id is null) then
    raise exception using errcode = '22023',
      message = 'after_started_at and after_id go together (the previous page''s nextCursor)';
  end if;
  -- Only the filters given become predicates, so each call gets a plan for its own shape.
  if status is not null then v_where := v_where || ' and q.status = $1'; end if;
  if email is not null then
    v_where := v_where || ' and exists (select 1 from public.profiles pe where pe.id = q.user_id'
      || ' and pe.email ilike ''%'' || replace(replace(replace($2, ''\'', ''\\''), ''%'', ''\%''),'
      || ' ''_'', ''\_'') || ''%'')';
  end if;
  if started_from is not null then v_where := v_where || ' and q.started_at >= $3'; end if;
  if started_to is not null then v_where := v_where || ' and q.started_at < $4'; end if;
  if source is not null then v_where := v_where || ' and q.source = $5'; end if;
  if after_started_at is not null then
    v_where := v_where || ' and (q.started_at, q.id) < ($6, $7)';
  end if;
  execute format(
    'select coalesce(jsonb_agg(private.monitoring_item(x, p.email, p.first_name, p.last_name, $8) order by x.started_at desc, x.id desc), ''[]'')
     from (select q.* from public.upload_queue q where %s
           order by q.started_at desc, q.id desc limit $9) x
     left join lateral (select pr.email, pr.first_name, pr.last_name from public.profiles pr
                        where pr.id = x.user_id offset 0) p on true
     ', v_where)
  into v_items
  using status, email, started_from, started_to, source, after_started_at, after_id, v_now,
        page_size;
  return jsonb_build_object(
    'items', v_items,
    'nextCursor', case when jsonb_array_length(v_items) = page_size then
      jsonb_build_object('startedAt', v_items -> -1 -> 'startedAt', 'id', v_items -> -1 -> 'id')
    end);
end;
$$;

-- One user's profile: {profile, uploads: {total, pending, uploading, completed, failed,
-- successRate, avgUploadSpeed}, recentUploads (20 cards, newest start first), bugs: {total,
-- recent (20 rows, newest first)}}. successRate is completed / (completed + failed) over the
-- user's whole history; avgUploadSpeed the mean speed of their completed uploads that have
-- one, one decimal (0 when none). HTTP 404 (sqlstate PT404) when the profile does not exist.
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
    'profile', to_jsonb(v_profile),
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
      'recent', (select coalesce(jsonb_agg(to_jsonb(b) order by b.created_at desc, b.id desc),
                                 '[]')
                 from (select * from public.bug_reports br where br.user_id = v_profile.id
                       order by br.created_at desc nulls last, br.id desc limit 20) b)));
end;
$$;

-- One user's activity, newest first: their upload events (the log behind "Détails") with the
-- upload's filename and title, and their bug reports, merged by time. Keyset pagination:
-- pass the answer's nextCursor ({at, id}) as before_at/before_id. {entries, nextCursor}.
-- Entry: {at, id, type: "upload_event"|"bug_report", uploadId?, filename?, videoTitle?, kind?,
-- status?, stage?, progress?, errorCode?, errorMessage?, severity?, errorType?}.
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
              'filename', q.filename, 'videoTitle', q.video_title, 'kind', e.kind,
              'status', e.status, 'stage', e.stage, 'progress', e.progress,
              'errorCode', e.error_code, 'errorMessage', e.error_message)) as entry
     from public.upload_events e
     left join public.upload_queue q on q.id = e.upload_id
     where e.user_id = monitoring_user_timeline.user_id
       and (before_at is null or (e.created_at, e.id) < (before_at, before_id))
     order by e.created_at desc, e.id desc
     limit page_size)
    union all
    (select b.created_at, b.id, private.monitoring_compact(jsonb_build_object(
              'at', b.created_at, 'id', b.id, 'type', 'bug_report',
              'errorMessage', b.error_message, 'severity', b.severity,
              'errorType', b.error_type))
     from public.bug_reports b
     where b.user_id = monitoring_user_timeline.user_id and b.created_at is not null
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

-- The figures of one period [from, to): started, completed, failed (finished in the period),
-- successRate, avgUploadSpeed (completed in the period with a speed), bugs, criticalBugs.
create or replace function private.monitoring_period(p_from timestamptz, p_to timestamptz)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
begin
  -- PL/pgSQL for its cached plans (see monitoring_stats).
  return (
  with c as (
    select
      (select count(*) from public.upload_queue
        where started_at >= p_from and started_at < p_to) as started,
      (select count(*) from public.upload_queue where status = 'completed'
        and private.monitoring_finished_at(completed_at, updated_at) >= p_from
        and private.monitoring_finished_at(completed_at, updated_at) < p_to) as completed,
      (select count(*) from public.upload_queue where status = 'failed'
        and private.monitoring_finished_at(completed_at, updated_at) >= p_from
        and private.monitoring_finished_at(completed_at, updated_at) < p_to) as failed,
      (select coalesce(round(avg(upload_speed), 1), 0) from public.upload_queue
        where status = 'completed' and upload_speed is not null and upload_speed <> 'NaN'
        and private.monitoring_finished_at(completed_at, updated_at) >= p_from
        and private.monitoring_finished_at(completed_at, updated_at) < p_to) as speed,
      (select count(*) from public.bug_reports
        where created_at >= p_from and created_at < p_to) as bugs,
      (select count(*) from public.bug_reports where severity = 'critical'
        and created_at >= p_from and created_at < p_to) as critical
  )
  select jsonb_build_object('from', p_from, 'to', p_to, 'uploadsStarted', c.started,
    'uploadsCompleted', c.completed, 'uploadsFailed', c.failed,
    'successRate', private.monitoring_percent(c.completed, c.completed + c.failed),
    'avgUploadSpeed', c.speed, 'bugs', c.bugs, 'criticalBugs', c.critical)
  from c);
end;
$$;

-- "Compare Mode": `period` 'day' (today vs yesterday) or 'week' (this week vs last week),
-- calendar periods in UTC (weeks start on Monday, ISO). Decided here: the current period runs
-- from its start to now, and the previous one is compared over the same elapsed time (10:00
-- today vs yesterday 00:00-10:00), so a morning is not compared with a whole day.
-- {period, current, previous}; 22023 for another period.
create or replace function public.monitoring_compare(period text default 'day')
returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
  v_now timestamptz := now();
  v_step interval;
  v_start timestamptz;
begin
  perform private.monitoring_require_admin('monitoring_compare');
  if period = 'day' then v_step := interval '1 day';
  elsif period = 'week' then v_step := interval '7 days';
  else
    raise exception using errcode = '22023', message = 'period must be day or week';
  end if;
  v_start := date_trunc(period, v_now at time zone 'UTC') at time zone 'UTC';
  return jsonb_build_object('period', period,
    'current', private.monitoring_period(v_start, v_now),
    'previous', private.monitoring_period(v_start - v_step, v_now - v_step));
end;
$$;

-- "Distribution des erreurs": over the last `hours` (1..168, default 24), failed uploads by
-- error_code (null as "unknown") and bug reports by error_type (null as "unknown"), each
-- {key, count, percentage} by count desc then key. {since, uploads, bugs}.
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
      from (select coalesce(error_code, 'unknown') as k, count(*) as n,
                   sum(count(*)) over ()::bigint as total
            from public.upload_queue
            where status = 'failed'
              and private.monitoring_finished_at(completed_at, updated_at) >= v_since
            group by 1) g),
    'bugs', (
      select coalesce(jsonb_agg(jsonb_build_object('key', g.k, 'count', g.n,
               'percentage', private.monitoring_percent(g.n, g.total))
               order by g.n desc, g.k collate "C"), '[]')
      from (select coalesce(error_type, 'unknown') as k, count(*) as n,
                   sum(count(*)) over ()::bigint as total
            from public.bug_reports where created_at >= v_since
            group by 1) g));
end;
$$;

-- "Upload speed over time": completed uploads with a speed, by when they finished, in buckets
-- of `bucket_minutes` (1..1440, default 60) over the last `hours` (1..168, default 24); every
-- bucket is listed, empty ones with uploads 0 and null speeds. Buckets are aligned on the
-- epoch (date_bin), so two calls a minute apart share their buckets. At most 2,000 buckets.
-- [{bucketStart, uploads, avgUploadSpeed, maxUploadSpeed}] oldest first.
create or replace function public.monitoring_speed_over_time(hours integer default 24,
                                                             bucket_minutes integer default 60)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
  v_now timestamptz := now();
  v_bucket interval;
  v_first timestamptz;
begin
  perform private.monitoring_require_admin('monitoring_speed_over_time');
  if hours is null or hours < 1 or hours > 168 then
    raise exception using errcode = '22023', message = 'hours must be between 1 and 168';
  end if;
  if bucket_minutes is null or bucket_minutes < 1 or bucket_minutes > 1440
     or hours * 60 / bucket_minutes > 2000 then
    raise exception using errcode = '22023',
      message = 'bucket_minutes must be between 1 and 1440, with at most 2000 buckets';
  end if;
  v_bucket := make_interval(mins => bucket_minutes);
  v_first := date_bin(v_bucket, v_now - make_interval(hours => hours), 'epoch');
  return (
    select coalesce(jsonb_agg(jsonb_build_object('bucketStart', b.start,
             'uploads', coalesce(s.n, 0), 'avgUploadSpeed', s.avg_speed,
             'maxUploadSpeed', s.max_speed) order by b.start), '[]')
    from generate_series(v_first, v_now, v_bucket) b(start)
    left join (
      select date_bin(v_bucket, private.monitoring_finished_at(completed_at, updated_at),
                      'epoch') as start,
             count(*) as n, round(avg(upload_speed), 2) as avg_speed,
             max(upload_speed) as max_speed
      from public.upload_queue
      where status = 'completed' and upload_speed is not null and upload_speed <> 'NaN'
        and private.monitoring_finished_at(completed_at, updated_at) >= v_first
      group by 1) s on s.start = b.start);
end;
$$;

-- "Alert System": whether more than `max_failures` uploads failed in the last
-- `within_minutes` (the spec's "> 5 échecs en 10min"). {triggered, failures, maxFailures,
-- withinMinutes, since, evaluatedAt, latest (up to 5 failed cards, newest first)}.
create or replace function public.monitoring_evaluate_alert(max_failures integer default 5,
                                                            within_minutes integer default 10)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
  v_now timestamptz := now();
  v_since timestamptz;
  v_failures bigint;
begin
  perform private.monitoring_require_admin('monitoring_evaluate_alert');
  if max_failures is null or max_failures < 0 then
    raise exception using errcode = '22023', message = 'max_failures must be 0 or more';
  end if;
  if within_minutes is null or within_minutes < 1 or within_minutes > 10080 then
    raise exception using errcode = '22023',
      message = 'within_minutes must be between 1 and 10080 (7 days)';
  end if;
  v_since := v_now - make_interval(mins => within_minutes);
  select count(*) into v_failures from public.upload_queue
  where status = 'failed'
    and private.monitoring_finished_at(completed_at, updated_at) >= v_since;
  return jsonb_build_object(
    'triggered', v_failures > max_failures, 'failures', v_failures,
    'maxFailures', max_failures, 'withinMinutes', within_minutes,
    'since', v_since, 'evaluatedAt', v_now,
    'latest', (
      select coalesce(jsonb_agg(private.monitoring_item(q, p.email, p.first_name, p.last_name, v_now)
               order by private.monitoring_finished_at(q.completed_at, q.updated_at) desc,
                        q.id desc), '[]')
      from (select * from public.upload_queue
            where status = 'failed'
              and private.monitoring_finished_at(completed_at, updated_at) >= v_since
            order by private.monitoring_finished_at(completed_at, updated_at) desc, id desc
            limit 5) q
      left join lateral (select pr.email, pr.first_name, pr.last_name from public.profiles pr
                         where pr.id = q.user_id offset 0) p on true
      ));
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Grants: signed-in callers (the functions refuse non-admins themselves) and the service key;
-- never anon. The private helpers run as the caller, so they need execute too.
-- ---------------------------------------------------------------------------------------------
do $$
declare
  f regprocedure;
begin
  for f in
    select p.oid::regprocedure from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where (n.nspname = 'public' and p.proname like 'monitoring\_%')
       or (n.nspname = 'private' and p.proname like 'monitoring\_%')
  loop
    execute format('revoke all on function %s from public', f);
    execute format('revoke all on function %s from anon', f);
    execute format('grant execute on function %s to authenticated, service_role', f);
  end loop;
end
$$;
