-- Stale uploads (the spec's "Stale Data" pitfall) and admin-requested retries ("Réessayer").

-- The sweep itself, callable by the owner only (pg_cron runs as the owner, with no JWT).
-- Active rows with no report for `older_than` become failed/stale, each with a log entry.
create or replace function private.mark_stale_uploads(older_than interval)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_count integer;
begin
  with stale as (
    update public.upload_queue q set
      status = 'failed',
      error_code = 'stale',
      error_message = format('No report from the device for %s: marked stale by the server',
                             older_than),
      completed_at = now()
    where q.id in (select s.id from public.upload_queue s
                   where s.status in ('pending', 'uploading')
                     and s.updated_at < now() - older_than
                   -- Rows locked in id order, as report_upload_events locks them: the
                   -- sweep and an ingest never deadlock.
                   order by s.id
                   for update)
      and q.status in ('pending', 'uploading')
      and q.updated_at < now() - older_than
    returning q.id, q.user_id, q.last_seq, q.stage, q.progress, q.bytes_sent, q.upload_speed,
              q.error_code, q.error_message
  ),
  logged as (
    insert into public.upload_events
      (id, upload_id, user_id, seq, kind, status, stage, progress, bytes_sent, upload_speed,
       error_code, error_message)
    -- A server event carries the upload's last_seq: it must not consume a device seq.
    select gen_random_uuid(), s.id, s.user_id, s.last_seq, 'stale', 'failed', s.stage,
           s.progress, s.bytes_sent, s.upload_speed, s.error_code, s.error_message
    from stale s
    where s.user_id is not null -- the log is per user; ownerless rows have none
  )
  select count(*) into v_count from stale;
  return v_count;
end;
$$;
revoke all on function private.mark_stale_uploads(interval) from public;

-- True for an admin's JWT or the service key: who may run the monitoring's write actions.
create or replace function private.is_admin_or_service() returns boolean
  language sql stable security definer set search_path = ''
as $$
  select (select private.is_admin()) or coalesce(auth.role() = 'service_role', false)
$$;
revoke all on function private.is_admin_or_service() from public;
grant execute on function private.is_admin_or_service() to authenticated, service_role;

-- The API entry point: admins and the service key only. Returns how many uploads went stale.
create or replace function public.mark_stale_uploads(older_than interval default '30 minutes')
returns integer
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not private.is_admin_or_service() then
    raise exception using errcode = '42501',
      message = 'mark_stale_uploads is for admins';
  end if;
  if older_than is null or older_than <= interval '0' then
    raise exception using errcode = '22023',
      message = 'older_than must be a positive interval';
  end if;
  return private.mark_stale_uploads(older_than);
end;
$$;
revoke all on function public.mark_stale_uploads(interval) from public;
grant execute on function public.mark_stale_uploads(interval) to authenticated, service_role;

-- Every 5 minutes where pg_cron exists: an upload is flagged at most 5 minutes after its
-- 30 minutes of silence. Guarded so `db push` never fails without pg_cron.
do $$
begin
  if to_regnamespace('cron') is not null
     and to_regproc('cron.schedule') is not null then
    perform cron.schedule('mark-stale-uploads', '*/5 * * * *',
                          'select private.mark_stale_uploads(interval ''30 minutes'')');
  end if;
exception when others then
  raise notice 'mark-stale-uploads not scheduled: %', sqlerrm;
end
$$;

-- "Réessayer" on a failed upload: sets retry_requested_at (the device picks it up through
-- pending_retry_requests and answers with a `retry` event, which clears it). Admins only.
-- Returns the request's time.
create or replace function public.request_upload_retry(upload_id uuid)
returns timestamptz
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row public.upload_queue%rowtype;
begin
  if not private.is_admin_or_service() then
    raise exception using errcode = '42501',
      message = 'request_upload_retry is for admins';
  end if;

  select * into v_row from public.upload_queue q
  where q.id = request_upload_retry.upload_id
  for update;
  if not found then
    -- 22023, not P0002: PostgREST answers P0002 with a 500, and a wrong id is the caller's
    -- mistake (400).
    raise exception using errcode = '22023',
      message = format('upload %s not found', request_upload_retry.upload_id);
  end if;
  if v_row.status <> 'failed' then
    raise exception using errcode = '22023',
      message = format('only a failed upload can be retried; this one is %s', v_row.status);
  end if;
  if coalesce(v_row.retry_count, 0) >= 3 then
    raise exception using errcode = '22023',
      message = 'this upload has used its 3 retries';
  end if;

  update public.upload_queue q set retry_requested_at = now()
  where q.id = v_row.id;

  if v_row.user_id is not null then
    insert into public.upload_events
      (id, upload_id, user_id, seq, kind, status, stage, progress, bytes_sent, upload_speed,
       error_code, error_message)
    values
      (gen_random_uuid(), v_row.id, v_row.user_id, v_row.last_seq, 'retry_requested',
       v_row.status, v_row.stage, v_row.progress, v_row.bytes_sent, v_row.upload_speed,
       v_row.error_code, v_row.error_message);
  end if;
  return now();
end;
$$;
revoke all on function public.request_upload_retry(uuid) from public;
grant execute on function public.request_upload_retry(uuid) to authenticated, service_role;

-- The caller's own open retry requests (a device polls this after sign-in and on resume).
-- Admins too see only their own: this is a device's question, not a monitoring view.
create or replace function public.pending_retry_requests()
returns table (upload_id uuid, local_id text, retry_requested_at timestamptz,
               retry_count integer)
language sql
stable
security invoker
set search_path = ''
as $$
  select q.id, q.local_id, q.retry_requested_at, q.retry_count
  from public.upload_queue q
  where q.user_id = (select auth.uid())
    and q.retry_requested_at is not null
  order by q.retry_requested_at
$$;
revoke all on function public.pending_retry_requests() from public;
grant execute on function public.pending_retry_requests() to authenticated, service_role;
