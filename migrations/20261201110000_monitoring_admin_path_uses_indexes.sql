-- The admin's own session reads as fast as the service key: finish times written as CASE.
--
-- Why: an admin's JWT reads through RLS ("own rows or admin"). PostgreSQL evaluates the
-- policy before any condition it cannot prove leak-proof, and such a condition cannot be an
-- index condition. COALESCE is not on its list of leak-proof expressions, so every
-- `monitoring_finished_at(completed_at, updated_at) >= ...` (inlined to COALESCE) lost its
-- index under RLS: the stat cards' partial-minute counts read all 1,000,000 uploads, and
-- monitoring_changes took ~170 ms and monitoring_snapshot ~190 ms for an admin (2.2 ms and
-- 22 ms after this change; the service key, which bypasses RLS, was never affected).
-- CASE and IS NOT NULL are on that list.
--
-- The value is the same for every row (COALESCE(a, b) is CASE WHEN a IS NOT NULL THEN a ELSE
-- b END), so the expression indexes built on this function stay valid without a rebuild.
create or replace function private.monitoring_finished_at(completed_at timestamptz,
                                                          updated_at timestamptz)
returns timestamptz
language sql immutable parallel safe
as $$ select case when completed_at is not null then completed_at else updated_at end $$;

-- Sessions already open (a pooled PostgREST connection) keep each index's expression cached
-- in the inlined form it had when they read it, COALESCE, and would stop matching their newly
-- planned CASE conditions to these indexes until they reconnect. Touching each index's
-- storage options (set, then back to the default) invalidates that cache in every session;
-- no index is rebuilt.
alter index public.idx_upload_queue_completed_finished set (fillfactor = 90);
alter index public.idx_upload_queue_completed_finished reset (fillfactor);
alter index public.idx_upload_queue_failed_finished set (fillfactor = 90);
alter index public.idx_upload_queue_failed_finished reset (fillfactor);
alter index public.idx_upload_queue_completed_speed set (fillfactor = 90);
alter index public.idx_upload_queue_completed_speed reset (fillfactor);
