-- create_thread for an owner that is not in auth.users: a token for a deleted user (or one from another
-- database) used to fail with the foreign key's 23503, which PostgREST answers 409 — read by clients as a
-- conflict. Now the signed-in case is PT401 (HTTP 401: the session's user is gone, sign in again) and a
-- service_role owner_id that names no user is 22023 (HTTP 400) naming it. Otherwise unchanged.

-- create_thread(agent_id, name, metadata, expires_at, owner_id) → memory_threads
--   As before (20261121001500_thread_api.sql), plus: PT401 when the caller's own user (auth.uid()) has no
--   row in auth.users; 22023 when owner_id names no user.
create or replace function public.create_thread(
  agent_id text default null,
  name text default null,
  metadata jsonb default '{}',
  expires_at timestamptz default null,
  owner_id uuid default null
)
returns public.memory_threads
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  result public.memory_threads;
  thread_owner uuid := coalesce(create_thread.owner_id, auth.uid());
  violated text;
begin
  if thread_owner is null then
    raise exception 'owner_id is required when no user is signed in' using errcode = '22023',
      hint = 'Call with a user''s access token, or pass owner_id when calling as service_role.';
  end if;
  if create_thread.expires_at is not null and create_thread.expires_at <= now() then
    raise exception 'expires_at must be in the future (got %)', create_thread.expires_at using errcode = '22023';
  end if;
  begin
    insert into public.memory_threads (owner_id, agent_id, name, metadata, expires_at)
    values (thread_owner, create_thread.agent_id, create_thread.name,
            private.require_object(coalesce(create_thread.metadata, '{}'), 'metadata'), create_thread.expires_at)
    returning * into result;
  exception when foreign_key_violation then
    get stacked diagnostics violated = constraint_name;
    if violated is distinct from 'memory_threads_owner_id_fkey' then
      raise;
    end if;
    if create_thread.owner_id is null then
      raise exception 'the signed-in user % does not exist in auth.users', thread_owner using errcode = 'PT401',
        hint = 'The access token names a user that was deleted or never existed in this database (a token from another project, or from before npm start -- --reset): sign in again.';
    end if;
    raise exception 'owner_id % is not a user (no row in auth.users)', thread_owner using errcode = '22023',
      hint = 'Create the user first (auth.admin.createUser), then pass its id as owner_id.';
  end;
  return result;
end
$$;
comment on function public.create_thread(text, text, jsonb, timestamptz, uuid) is
  'Creates a thread owned by the caller (service_role passes owner_id). metadata must be a JSON object.';
