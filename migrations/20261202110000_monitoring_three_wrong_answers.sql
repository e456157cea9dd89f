-- Three wrong answers of the monitoring RPCs (issue 12, item 5), each against the spec's
-- semantics; migrations/tests/11_monitoring_three_wrong_answers.sql pins them.
--
-- 1. A video the app flagged failed (`metadata.uploadFailed`, `uploadError`) whose linked
--    upload_queue row (upload_queue.video_id) is completed vanished from "🚫 Échecs Upload",
--    and that row's card showed no error: 20261124100000 left out every linked video, "that
--    row tells the story". It does only when the row itself failed. Now a flagged video is left
--    out of the tab only when a linked row is failed (that row's card is in the tab), and the
--    card of a linked row that is not failed carries the app's failure: errorCode
--    `app_reported`, errorMessage `uploadError` (when a string) or derive.rs's sentence, as the
--    video's own Phase 1 card would. Its status stays the row's (the bytes did arrive; the
--    stat cards count upload_queue statuses). monitor-core: derive.rs `flag_linked_card`,
--    aggregate.rs `upload_error_videos`.
-- 2. monitoring_changes re-sent a card only when its upload_queue row (or, for a Phase 1 card,
--    its video) changed, so a card whose transcription job changed (status: the card's
--    transcriptionStatus) stayed wrong until the next snapshot. Now the feed also re-sends the
--    cards of every video whose job or whose own row changed after the cursor, reported cards
--    (upload_queue rows linked to it) and Phase 1 cards alike. The app's writers may not touch
--    updated_at when they change a job or a video (the spec gives those tables no trigger):
--    a BEFORE UPDATE trigger sets it to now() when an update left it as it was (a writer that
--    sets it keeps its value).
-- 3. Keyset paging of monitoring_uploads broke on a NULL started_at (nullable: the spec's
--    column): its nextCursor had "startedAt": null and passing it back was refused (22023), so
--    the rest of the list was unreachable. Now the order is started_at desc NULLS LAST, id desc:
--    the rows without a start time come after the others, by id; a cursor {startedAt: null, id}
--    is passed back as after_id alone (after_started_at null), and every row is reachable
--    exactly once. monitoring_user_profile's recentUploads take the same order.
--
-- Idempotent: `create or replace`, `if not exists`, triggers created only when missing.

-- ---------------------------------------------------------------------------------------------
-- 1. The app's failure flag on linked cards, and in the tab when the linked row is not failed
-- ---------------------------------------------------------------------------------------------

-- The errorMessage and errorCode keys of a card whose upload_queue row is linked to `video`
-- and not failed: the app's failure when it flagged the video, else the row's own (`message`,
-- `code`). Null when there is nothing to say. Called only for such cards (a PK lookup each).
create or replace function private.monitoring_linked_error_keys(video uuid, code text,
                                                                message text)
returns text
language sql stable
as $$
  select coalesce(
    (select '"errorMessage":' OPERATOR(pg_catalog.||) pg_catalog.to_json(pg_catalog.left(coalesce(
               case when pg_catalog.jsonb_typeof(v.metadata -> 'uploadError') = 'string'
                    then v.metadata ->> 'uploadError' end,
               'The app marked this upload as failed'), 4000))::text
            OPERATOR(pg_catalog.||) ',"errorCode":"app_reported"'
     from public.videos v
     where v.id = video and v.metadata ->> 'uploadFailed' = 'true'),
    nullif(pg_catalog.concat_ws(',',
      '"errorMessage":' OPERATOR(pg_catalog.||) pg_catalog.to_json(pg_catalog.left(message, 4000))::text,
      '"errorCode":' OPERATOR(pg_catalog.||) pg_catalog.to_json(pg_catalog.left(code, 100))::text), ''))
$$;

-- The reported upload's card (20261202100000's), its error keys from
-- monitoring_linked_error_keys when the row is linked to a video and not failed.
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
      case when q.video_id is null or q.status = 'failed'
           then nullif(pg_catalog.concat_ws(',',
                  '"errorMessage":' OPERATOR(pg_catalog.||) pg_catalog.to_json(pg_catalog.left(q.error_message, 4000))::text,
                  '"errorCode":' OPERATOR(pg_catalog.||) pg_catalog.to_json(pg_catalog.left(q.error_code, 100))::text), '')
           else private.monitoring_linked_error_keys(q.video_id, q.error_code, q.error_message) end,
      '"completedAt":' OPERATOR(pg_catalog.||) pg_catalog.to_json(q.completed_at)::text,
      '"elapsedTime":' OPERATOR(pg_catalog.||) pg_catalog.to_json(
        extract(epoch from coalesce(q.completed_at, at) - q.started_at))::text,
      '"localId":' OPERATOR(pg_catalog.||) pg_catalog.to_json(pg_catalog.left(nullif(q.local_id, ''), 255))::text,
      '"stage":' OPERATOR(pg_catalog.||) pg_catalog.to_json(q.stage)::text,
      '"source":' OPERATOR(pg_catalog.||) pg_catalog.to_json(q.source)::text,
      '"duration":' OPERATOR(pg_catalog.||) pg_catalog.to_json(q.duration)::text,
      '"videoId":' OPERATOR(pg_catalog.||) pg_catalog.to_json(q.video_id)::text,
      '"updatedAt":' OPERATOR(pg_catalog.||) pg_catalog.to_json(q.updated_at)::text,
      '"userFirstName":' OPERATOR(pg_catalog.||) pg_catalog.to_json(pg_catalog.left(first_name, 200))::text,
      '"userLastName":' OPERATOR(pg_catalog.||) pg_catalog.to_json(pg_catalog.left(last_name, 200))::text,
      -- No key for a metadata that is SQL NULL, JSON null, or one 20261202100000 leaves out.
      case when q.metadata OPERATOR(pg_catalog.<>) 'null'::jsonb
           then '"metadata":' OPERATOR(pg_catalog.||) private.monitoring_json_text(q.metadata::text) end,
      -- Looked up only for cards with a video; no key when the video has no job.
      case when q.video_id is not null
           then '"transcriptionStatus":' OPERATOR(pg_catalog.||) pg_catalog.to_json(
                  private.monitoring_transcription_status(q.video_id))::text end
    ) OPERATOR(pg_catalog.||) '}')::json
$$;

-- "🚫 Échecs Upload" as in 20261202100000, but a flagged video is left out only when a linked
-- upload_queue row is failed.
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
            and (select q.id from public.upload_queue q
                 where q.video_id = vv.id and q.status = 'failed' limit 1) is null
          order by vv.created_at desc, vv.id desc
          limit max_rows) v
  )
  select coalesce(jsonb_agg(u.item order by u.fin desc, u.id desc), '[]')
  from (select * from (select * from reported union all select * from flagged) a
        order by fin desc, id desc limit max_rows) u);
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- 2. The change feed follows jobs and videos
-- ---------------------------------------------------------------------------------------------

-- The feed's "job changed" and "video changed" reads.
create index if not exists idx_transcription_jobs_updated_at
  on public.transcription_jobs (updated_at);

-- updated_at = now() for an update that left updated_at as it was (a writer that sets it keeps
-- its value). Runs as the writer, touches only NEW. No "did the row change" test: comparing
-- whole rows fails on a column type without equality (json, point) that a project may have
-- added, and a no-op update re-sending one card is harmless.
create or replace function private.monitoring_touch_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.updated_at is not distinct from old.updated_at then
    new.updated_at := now();
  end if;
  return new;
end;
$$;
revoke all on function private.monitoring_touch_updated_at() from public, anon, authenticated,
  service_role;

do $$
begin
  if not exists (select 1 from pg_trigger where tgname = 'monitoring_touch_updated_at'
                 and tgrelid = 'public.transcription_jobs'::regclass) then
    create trigger monitoring_touch_updated_at before update on public.transcription_jobs
      for each row execute function private.monitoring_touch_updated_at();
  end if;
  if not exists (select 1 from pg_trigger where tgname = 'monitoring_touch_updated_at'
                 and tgrelid = 'public.videos'::regclass) then
    create trigger monitoring_touch_updated_at before update on public.videos
      for each row execute function private.monitoring_touch_updated_at();
  end if;
end
$$;

-- What changed after `since` (20261202100000's, plus): the cards of every video whose row or
-- whose transcription job changed in (since, now] are re-sent, the reported cards of the
-- upload_queue rows linked to it and its Phase 1 card. Each card once per answer, oldest change
-- first (a linked card sorts by its video's or job's change). `resync` when more than 2,000
-- upload_queue rows, or more than 2,000 videos, changed.
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
  with touched as (
    select v.id as video_id, v.updated_at as at from public.videos v
    where v.updated_at > since and v.updated_at <= v_now
    union all
    select v.id, v.created_at from public.videos v
    where v.created_at > since and v.created_at <= v_now
    union all
    select j.video_id, j.updated_at from public.transcription_jobs j
    where j.updated_at > since and j.updated_at <= v_now and j.video_id is not null
  )
  select count(*) into v_count from (select 1 from touched limit 2001) c;
  if v_count > 2000 then
    return private.monitoring_changes_resync(since, v_now)::json;
  end if;
  with touched as (
    select t.video_id, max(t.at) as at from (
      select v.id as video_id, v.updated_at as at from public.videos v
      where v.updated_at > since and v.updated_at <= v_now
      union all
      select v.id, v.created_at from public.videos v
      where v.created_at > since and v.created_at <= v_now
      union all
      select j.video_id, j.updated_at from public.transcription_jobs j
      where j.updated_at > since and j.updated_at <= v_now and j.video_id is not null) t
    group by t.video_id
  ), reported as (
    select q.updated_at as changed, q.id,
           private.monitoring_item_json(q, p.email, p.first_name, p.last_name, v_now) as item
    from public.upload_queue q
    left join lateral (select pr.email, pr.first_name, pr.last_name from public.profiles pr
                       where pr.id = q.user_id offset 0) p on true
    where q.updated_at > since
  ), linked as (
    -- Rows unchanged themselves whose video or job changed.
    select t.at as changed, q.id,
           private.monitoring_item_json(q, p.email, p.first_name, p.last_name, v_now) as item
    from touched t
    join public.upload_queue q on q.video_id = t.video_id
    left join lateral (select pr.email, pr.first_name, pr.last_name from public.profiles pr
                       where pr.id = q.user_id offset 0) p on true
    where q.updated_at is null or q.updated_at <= since
  ), derived as (
    select t.at as changed, v.id,
           private.monitoring_derived_item(v, (select pr from public.profiles pr where pr.id = v.user_id), v_now)::json as item
    from touched t
    join public.videos v on v.id = t.video_id
    where not exists (select 1 from public.upload_queue q where q.user_id = v.user_id)
  )
  select coalesce(json_agg(u.item order by u.changed, u.id), '[]'::json) into v_uploads
  from (select * from reported union all select * from linked
        union all select * from derived) u;

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

-- ---------------------------------------------------------------------------------------------
-- 3. Every row reachable by paging, NULL start times included
-- ---------------------------------------------------------------------------------------------

-- The uploads list as in 20261124100000, ordered started_at desc NULLS LAST, id desc, in two
-- index-ordered parts (rows with a start time, then rows without). The cursor is the last
-- row's real {startedAt, id}: pass startedAt as after_started_at (null: leave it out) and id
-- as after_id. 22023 for after_started_at without after_id.
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
  v_with_start text;
  v_without_start text;
  v_items jsonb;
  v_last jsonb;
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
  if after_started_at is not null and after_id is null then
    raise exception using errcode = '22023',
      message = 'after_started_at needs after_id (pass the previous page''s nextCursor)';
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
  -- The cursor: in the rows with a start time, or (startedAt null) in the rows without one.
  if after_id is null then
    v_with_start := 'q.started_at is not null';
    v_without_start := 'q.started_at is null';
  elsif after_started_at is not null then
    v_with_start := '(q.started_at, q.id) < ($6, $7)';
    v_without_start := 'q.started_at is null';
  else
    v_with_start := 'false';
    v_without_start := 'q.started_at is null and q.id < $7';
  end if;
  execute format(
    'with page as (
       select * from (
         (select q.* from public.upload_queue q where %1$s and %2$s
          order by q.started_at desc, q.id desc limit $9)
         union all
         (select q.* from public.upload_queue q where %1$s and %3$s
          order by q.id desc limit $9)) u
       order by u.started_at desc nulls last, u.id desc limit $9)
     select coalesce(jsonb_agg(private.monitoring_item(x, p.email, p.first_name, p.last_name, $8)
                               order by x.started_at desc nulls last, x.id desc), ''[]''),
            (select jsonb_build_object(''startedAt'', l.started_at, ''id'', l.id) from page l
             order by l.started_at asc nulls first, l.id asc limit 1)
     from page x
     left join lateral (select pr.email, pr.first_name, pr.last_name from public.profiles pr
                        where pr.id = x.user_id offset 0) p on true',
    v_where, v_with_start, v_without_start)
  into v_items, v_last
  using status, email, started_from, started_to, source, after_started_at, after_id, v_now,
        page_size;
  return jsonb_build_object(
    'items', v_items,
    'nextCursor', case when jsonb_array_length(v_items) = page_size then v_last end);
end;
$$;

-- monitoring_user_profile as in 20261202100000, its recentUploads in the list's order
-- (started_at desc NULLS LAST, id desc): rows without a start time no longer come first.
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
                                order by q.started_at desc nulls last, q.id desc), '[]')
      from (select * from public.upload_queue uq where uq.user_id = v_profile.id
            order by uq.started_at desc nulls last, uq.id desc limit 20) q),
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

-- The new card helper runs as the admin caller, as every monitoring helper; never anon.
revoke all on function private.monitoring_linked_error_keys(uuid, text, text) from public, anon;
grant execute on function private.monitoring_linked_error_keys(uuid, text, text)
  to authenticated, service_role;
