-- The per-minute stat counts written once per statement, in (kind, minute) order, instead of
-- once per row: with 2,000 phones reporting, batches deadlocked (40P01) on the counts.
--
-- Why: report_upload_events applies a batch with one UPDATE of upload_queue; the row triggers
-- of 20261124100000 bumped (kind, minute) rows in the order the rows were updated. Batch A
-- finishing one upload as completed and another as failed in the same minute, and batch B the
-- other way round, lock the same two count rows in opposite orders. PostgreSQL breaks that
-- with a deadlock error; the SDK retries and delivers once, but every broken batch is lost
-- work and latency. Seen at `simulated_upload --phones 2000`: 52 deadlocks in one run.
--
-- Now a statement trigger sums the statement's deltas per (kind, minute) from its transition
-- tables and upserts them sorted: every writer takes the count rows in the same order, so two
-- writers wait for each other instead of deadlocking. Progress-only updates (most writes) sum
-- to nothing and write nothing. The trigger names stay (20261124100000 checks for them), only
-- their level changes.

create or replace function private.monitoring_count_upload_rows()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- plpgsql plans a statement when it first runs it: each branch names only the transition
  -- tables its operation has.
  if tg_op = 'INSERT' then
    insert into private.monitoring_minute_counts as c (kind, minute, n)
    select r.status, private.monitoring_minute(private.monitoring_finished_at(r.completed_at, r.updated_at)), count(*)
    from new_rows r
    where r.status in ('completed', 'failed')
      and private.monitoring_finished_at(r.completed_at, r.updated_at) is not null
    group by 1, 2
    order by 1, 2
    on conflict (kind, minute) do update set n = c.n + excluded.n;
  elsif tg_op = 'DELETE' then
    insert into private.monitoring_minute_counts as c (kind, minute, n)
    select r.status, private.monitoring_minute(private.monitoring_finished_at(r.completed_at, r.updated_at)), -count(*)
    from old_rows r
    where r.status in ('completed', 'failed')
      and private.monitoring_finished_at(r.completed_at, r.updated_at) is not null
    group by 1, 2
    order by 1, 2
    on conflict (kind, minute) do update set n = c.n + excluded.n;
  else
    insert into private.monitoring_minute_counts as c (kind, minute, n)
    select d.kind, d.minute, sum(d.delta)
    from (select r.status as kind,
                 private.monitoring_minute(private.monitoring_finished_at(r.completed_at, r.updated_at)) as minute,
                 -1 as delta
          from old_rows r where r.status in ('completed', 'failed')
          union all
          select r.status,
                 private.monitoring_minute(private.monitoring_finished_at(r.completed_at, r.updated_at)),
                 1
          from new_rows r where r.status in ('completed', 'failed')) d
    where d.minute is not null
    group by 1, 2
    having sum(d.delta) <> 0
    order by 1, 2
    on conflict (kind, minute) do update set n = c.n + excluded.n;
  end if;
  return null;
end;
$$;
revoke all on function private.monitoring_count_upload_rows() from public, anon, authenticated, service_role;

do $$
begin
  -- tgtype bit 0 set = FOR EACH ROW: the triggers of 20261124100000, replaced once.
  if exists (select 1 from pg_trigger where tgname = 'monitoring_count_upload_insert'
             and tgrelid = 'public.upload_queue'::regclass and (tgtype & 1) = 1) then
    drop trigger monitoring_count_upload_insert on public.upload_queue;
    drop trigger if exists monitoring_count_upload_update on public.upload_queue;
    drop trigger if exists monitoring_count_upload_delete on public.upload_queue;
    create trigger monitoring_count_upload_insert after insert on public.upload_queue
      referencing new table as new_rows
      for each statement execute function private.monitoring_count_upload_rows();
    create trigger monitoring_count_upload_update after update on public.upload_queue
      referencing old table as old_rows new table as new_rows
      for each statement execute function private.monitoring_count_upload_rows();
    create trigger monitoring_count_upload_delete after delete on public.upload_queue
      referencing old table as old_rows
      for each statement execute function private.monitoring_count_upload_rows();
  end if;
end
$$;
