-- The retry limit, written once for SQL (issue 14, item 5): private.max_retries() is the 3 of
-- monitor-core/src/event.rs MAX_RETRIES ("Tentative n/3"). Before, the literal stood in the
-- upload_queue CHECK, in report_upload_events and in request_upload_retry;
-- tests/ingest_differential.rs holds this value and the Rust constant equal.
-- Idempotent: applying it twice is a no-op.

create or replace function private.max_retries() returns integer
  language sql immutable parallel safe
as $$ select 3 $$;

comment on function private.max_retries() is
  'Retries an upload may use (monitor-core/src/event.rs MAX_RETRIES); the one SQL source.';

-- The table's CHECK reads it too (re-created once: a second apply finds it already there).
do $$
begin
  if not exists (select 1 from pg_constraint
                 where conname = 'valid_retry_count'
                   and conrelid = 'public.upload_queue'::regclass
                   and pg_get_constraintdef(oid) like '%max_retries()%') then
    alter table public.upload_queue drop constraint if exists valid_retry_count;
    alter table public.upload_queue add constraint valid_retry_count
      check (retry_count >= 0 and retry_count <= private.max_retries());
  end if;
end
$$;

-- 20261124093000's request_upload_retry, the limit read from private.max_retries().
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
  if coalesce(v_row.retry_count, 0) >= private.max_retries() then
    raise exception using errcode = '22023',
      message = format('this upload has used its %s retries', private.max_retries());
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
