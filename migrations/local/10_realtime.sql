-- Supabase Realtime's database side, as a plain PostgreSQL lacks it: the `realtime` schema,
-- the broadcast `messages` table and `realtime.send` / `realtime.topic` with Supabase's
-- signatures and behaviour (send never raises: a failure is reported on 'realtime:system').
-- Applied by the dev stack only; never on a real Supabase, which has the real ones.
-- Idempotent: safe to apply twice.

create schema if not exists realtime;
grant usage on schema realtime to anon, authenticated, service_role;

-- Supabase partitions it by inserted_at and the Realtime server reads new rows; here the rows
-- stay so tests can see what was broadcast.
create table if not exists realtime.messages (
  topic text not null,
  extension text not null,
  payload jsonb,
  event text,
  private boolean default false,
  updated_at timestamp not null default now(),
  inserted_at timestamp not null default now(),
  id uuid not null default gen_random_uuid(),
  primary key (id)
);
alter table realtime.messages enable row level security;
-- As Supabase grants it: the table is open to the API roles, RLS policies decide.
grant select, insert, update on realtime.messages to anon, authenticated;
grant all on realtime.messages to service_role;

-- The topic being authorized (Realtime sets it before checking a private channel's policies).
create or replace function realtime.topic() returns text
  language sql stable
as $$ select nullif(current_setting('realtime.topic', true), '')::text $$;

create or replace function realtime.send(payload jsonb, event text, topic text,
                                         private boolean default true)
returns void
language plpgsql
as $$
begin
  begin
    perform set_config('realtime.topic', topic, true);
    insert into realtime.messages (payload, event, topic, private, extension)
    values (payload, event, topic, private, 'broadcast');
  exception when others then
    perform pg_notify('realtime:system', jsonb_build_object('error', sqlerrm,
      'function', 'realtime.send', 'event', event, 'topic', topic, 'private', private)::text);
  end;
end;
$$;
grant execute on function realtime.topic() to anon, authenticated, service_role;
