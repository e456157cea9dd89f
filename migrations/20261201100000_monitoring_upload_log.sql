-- "Détails -> Modal avec logs complets": one upload's card and its event log, for the
-- /monitoring page's details modal (examples/dashboard, GET /api/uploads/{id}/events).
--
-- Security as the other monitoring RPCs (20261124100000_monitoring_queries.sql): SECURITY
-- INVOKER, so the admin read policies of upload_queue and upload_events still apply; refuses
-- any caller that is neither an admin JWT nor the service key (42501 -> HTTP 403, 401 for
-- anon, who has no execute privilege anyway). Idempotent: `create or replace` and re-runnable
-- grants.

-- {upload, events, eventCount, truncated} for a reported upload (an upload_queue row):
-- - upload: the card, as monitoring_snapshot builds it (private.monitoring_item);
-- - events: its upload_events rows in log order (seq, then server time, then id: server
--   events such as stale and retry_requested carry the upload's last_seq, so they sort
--   after the device event they follow), each {id, seq, kind, status, stage, progress?,
--   bytesSent?, uploadSpeed?, errorCode?, errorMessage?, deviceAt?, createdAt} with absent
--   fields dropped;
-- - eventCount: how many rows the log holds; truncated: whether events is a part of it.
-- Decided here: at most 500 events, the newest 500 when there are more (an upload logs its
-- transitions and ~10 progress milestones per attempt, so 500 is ~10x the longest real log;
-- when a log is longer, its end is what explains where the upload is now).
-- HTTP 404 (sqlstate PT404) for an id that is not an upload_queue row: a Phase 1 card
-- (derived from videos) has no log.
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
             'uploadSpeed', e.upload_speed, 'errorCode', e.error_code,
             'errorMessage', e.error_message, 'deviceAt', e.device_at,
             'createdAt', e.created_at)) as entry
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

-- Grants as every monitoring function: signed-in callers (refused inside unless admin) and
-- the service key; never anon, never PUBLIC (the default execute grant).
revoke all on function public.monitoring_upload_log(uuid) from public;
revoke all on function public.monitoring_upload_log(uuid) from anon;
grant execute on function public.monitoring_upload_log(uuid) to authenticated, service_role;
