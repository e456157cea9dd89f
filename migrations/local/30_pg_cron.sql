-- pg_cron, which Supabase offers as an extension: created when the server has it preloaded
-- (the dev stack adds `shared_preload_libraries = 'pg_cron'` when Debian's
-- `postgresql-15-cron` is installed), so the migrations' guarded `cron.schedule` calls that
-- follow run for real. Without it nothing happens here, and the dev stack's log says that
-- scheduled jobs will not run. Never applied on a real Supabase. Idempotent.
do $$
begin
  if exists (select 1 from pg_available_extensions where name = 'pg_cron')
     and current_setting('shared_preload_libraries') ~ '(^|[ ,])pg_cron($|[ ,])' then
    create extension if not exists pg_cron;
  end if;
end
$$;
