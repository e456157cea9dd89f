-- The admin's change feed at 1M rows: fast from the sixth call of a session on (issue 12,
-- item 6), and no generic plan of the polled RPCs reads a table sequentially.
--
-- What was measured (examples/monitoring_bench.rs, which now reports calls 1-5 of a session
-- apart from calls 6+, and `--explain` prints the plans of many calls of one session): with an
-- admin's JWT, monitoring_changes took ~20 ms for calls 1-5 and ~260 ms from call 6 on, at
-- 1M uploads with 300 changing between calls; the service key stayed at ~20 ms. Calls 6+ ran
-- one statement differently: the "more than 2,000 changed?" count,
--   select count(*) from (select 1 from upload_queue q where q.updated_at > since limit 2001)
-- went from a bitmap index scan (~1 ms) to a sequential scan of all 1M rows (~350 ms).
--
-- Why: PL/pgSQL caches each statement's plan per session. For the first five executions it
-- plans with the parameter's value (a custom plan); then it compares the average custom cost
-- with the cost of one generic plan (no value: `updated_at > $1` is estimated to match a third
-- of the table) and keeps the generic plan when that is not more expensive. Under RLS the admin
-- reads user_id for the policy, so the count cannot be an index-only scan; the generic
-- estimate (333,000 matches) made "scan the table until 2,001 rows matched" look cheaper
-- (~600) than the custom bitmap scan (~2,400). In fact ~300 rows match, so the scan read the
-- whole table. The service key bypasses RLS: its generic plan is an index-only scan. How soon
-- it happens depends on the statistics (a fresh ANALYZE makes the custom estimates larger).
--
-- The fix makes the generic plans of the feed's statements use their indexes whatever the
-- estimate, so a switch to them costs nothing:
-- - the count reads `updated_at > since and updated_at <= now()` in index order with its
--   LIMIT (a bounded range is estimated at 0.5% of the table, and ORDER BY ... LIMIT on the
--   index stops after 2,001 entries where a sequential scan would have to sort everything);
-- - the changed rows are read over the same bounded range. A row whose updated_at is past this
--   call's now() (a writer that started after this call and committed before its snapshot) is
--   sent by the next call, whose cursor starts 2 s earlier;
-- - "is this a Phase 1 user (no upload_queue row)?" is a per-row probe of idx_upload_queue_user_id
--   (`(select 1 ... limit 1) is null`), not NOT EXISTS: as an anti-join, a generic plan of the
--   snapshot's upload list read all of upload_queue once (found by forcing generic plans). The
--   same in the change feed's Phase 1 cards.
-- Not chosen: `SET plan_cache_mode = force_custom_plan` on the function. It works, but every
-- statement of the feed and of the functions it calls is planned again on every call: the
-- first benchmark run put calls 1-5 (custom plans) of the service key at p50 22.5 ms against
-- 19.6 ms for calls 6+ (cached plans), ~3 ms a call on the path polled every second. The SET
-- itself costs little here (a GUC save/restore per call; the function already has one for
-- search_path, and a PL/pgSQL function is never inlined anyway, which is what a SET forbids
-- for SQL functions). Nor EXECUTE for the count: it fixes that one statement and re-plans it
-- on every call. tests/monitoring_plans.rs forces generic plans and checks that the feed (and
-- the snapshot) read no table sequentially.
--
-- Idempotent: `create or replace`.

-- monitoring_changes as in 20261202110000, its upload_queue reads bounded and in index order.
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
  -- In index order, and bounded on both sides: whatever the row estimate, this plan reads
  -- idx_upload_queue_updated_at and stops after 2,001 entries (see the header).
  select count(*) into v_count
  from (select 1 from public.upload_queue q
        where q.updated_at > since and q.updated_at <= v_now
        order by q.updated_at limit 2001) c;
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
    where q.updated_at > since and q.updated_at <= v_now
  ), linked as (
    -- Rows unchanged themselves whose video or job changed.
    select t.at as changed, q.id,
           private.monitoring_item_json(q, p.email, p.first_name, p.last_name, v_now) as item
    from touched t
    join public.upload_queue q on q.video_id = t.video_id
    left join lateral (select pr.email, pr.first_name, pr.last_name from public.profiles pr
                       where pr.id = q.user_id offset 0) p on true
    where q.updated_at is null or q.updated_at <= since or q.updated_at > v_now
  ), derived as (
    select t.at as changed, v.id,
           private.monitoring_derived_item(v, (select pr from public.profiles pr where pr.id = v.user_id), v_now)::json as item
    from touched t
    join public.videos v on v.id = t.video_id
    where (select 1 from public.upload_queue q where q.user_id = v.user_id limit 1) is null
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


-- The snapshot's upload list as in 20261202100000, its Phase 1 check a per-row probe (above).
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
        -- Per-row checks (an index probe each), not NOT EXISTS: as an anti-join, a generic
        -- plan may read all of upload_queue once to find the users who report.
        select c.* from candidates c
        where (select 1 from public.upload_queue q where q.user_id = c.user_id limit 1) is null
        union all
        (select v.* from public.videos v
         where v_status = 'completed' and v.created_at >= v_since
           and v.created_at < timestamptz '2100-01-01 00:00:00+00'
           and coalesce(v.metadata ->> 'uploadFailed', '') <> 'true'
           and private.monitoring_has_file(v.file_path)
           and (select 1 from public.upload_queue q where q.user_id = v.user_id limit 1) is null
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

