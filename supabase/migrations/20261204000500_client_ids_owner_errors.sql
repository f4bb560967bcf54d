-- create_thread with both of its refinements: client-generated ids (20261204000400_client_ids.sql, for the
-- LibSQL outbox's replays) and the owner errors of 20261202000200_thread_owner_errors.sql (a signed-in user
-- missing from auth.users is PT401, a service_role owner_id naming no user is 22023, never the foreign
-- key's 409). Each migration replaced the function written before it, so this one states the whole of it.

-- create_thread(agent_id, name, metadata, expires_at, owner_id, id) → memory_threads
--   id: a client-generated uuid; a replay of a create that already happened returns the thread as it is
--   (PT409 when service_role names another owner for it). Otherwise as 20261202000200.
create or replace function public.create_thread(
  agent_id text default null,
  name text default null,
  metadata jsonb default '{}',
  expires_at timestamptz default null,
  owner_id uuid default null,
  id uuid default null
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
  -- A replay of a create that already happened (same client id): the thread as it is.
  if create_thread.id is not null then
    select * into result from public.memory_threads t where t.id = create_thread.id;
    if found and create_thread.owner_id is not null and result.owner_id <> create_thread.owner_id then
      raise exception 'thread id % is already taken by another owner', create_thread.id using errcode = 'PT409';
    elsif found then
      return result;
    end if;
  end if;
  if thread_owner is null then
    raise exception 'owner_id is required when no user is signed in' using errcode = '22023',
      hint = 'Call with a user''s access token, or pass owner_id when calling as service_role.';
  end if;
  if create_thread.expires_at is not null and create_thread.expires_at <= now() then
    raise exception 'expires_at must be in the future (got %)', create_thread.expires_at using errcode = '22023';
  end if;
  begin
    insert into public.memory_threads (id, owner_id, agent_id, name, metadata, expires_at)
    values (coalesce(create_thread.id, gen_random_uuid()), thread_owner, create_thread.agent_id, create_thread.name,
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
