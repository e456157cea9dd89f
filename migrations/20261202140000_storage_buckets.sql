-- The app's Storage buckets and who may touch their objects. The app uploads each video to
-- `videos/<user id>/<file>` and its thumbnail to `thumbnails/<user id>/<file>` (the user's own
-- folder, as Supabase's guides lay out user files); the monitoring's admins read every
-- object (video preview, speed test). Guarded: a database without Supabase Storage (no
-- `storage.objects`) skips it all, so `supabase db push` never fails on it.

do $$
declare
  p record;
begin
  if to_regclass('storage.objects') is null or to_regclass('storage.buckets') is null then
    raise notice 'storage schema absent: buckets and object policies not created';
    return;
  end if;

  -- Private buckets: objects are read with a JWT or a signed URL, never by public URL.
  -- A project that already has these buckets keeps its own settings.
  -- videos: no bucket limit, so the project's global limit applies (config.toml's
  -- `file_size_limit`, 50 MiB by default; a hosted project raises it for long videos).
  -- thumbnails: a JPEG frame is tens of KB; 5 MiB refuses a video sent there by mistake.
  insert into storage.buckets (id, name, public, file_size_limit)
  values ('videos', 'videos', false, null),
         ('thumbnails', 'thumbnails', false, 5242880)
  on conflict (id) do nothing;

  -- Permissive policies OR with any the project already has, so these only add access.
  -- `(select auth.uid())` is evaluated once per statement, not per row.
  for p in
    select * from (values
      ('upload_monitor: users add objects under their own folder', 'insert',
       null,
       'bucket_id in (''videos'', ''thumbnails'') and (storage.foldername(name))[1] = (select auth.uid()::text)'),
      ('upload_monitor: users read their own folder, admins read all', 'select',
       'bucket_id in (''videos'', ''thumbnails'') and ((storage.foldername(name))[1] = (select auth.uid()::text) or (select private.is_admin()))',
       null),
      -- An upsert (`x-upsert: true`, a retried upload) updates the existing row.
      ('upload_monitor: users replace objects in their own folder', 'update',
       'bucket_id in (''videos'', ''thumbnails'') and (storage.foldername(name))[1] = (select auth.uid()::text)',
       'bucket_id in (''videos'', ''thumbnails'') and (storage.foldername(name))[1] = (select auth.uid()::text)')
    ) as t(name, command, using_expr, check_expr)
  loop
    execute format('drop policy if exists %I on storage.objects', p.name);
    execute format('create policy %I on storage.objects for %s to authenticated%s%s',
                   p.name, p.command,
                   case when p.using_expr is null then '' else format(' using (%s)', p.using_expr) end,
                   case when p.check_expr is null then '' else format(' with check (%s)', p.check_expr) end);
  end loop;
end
$$;
