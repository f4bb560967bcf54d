-- The agent state API: load_agent_state and save_agent_state with optimistic concurrency.
--
-- A stale write is a conflict, raised with SQLSTATE PT409: PostgREST answers a `PTxyz` SQLSTATE with HTTP
-- status xyz, so clients get 409 Conflict (40001 would be a 500 through PostgREST), and SQL callers get a
-- code no built-in error uses. The SDK maps it to MemoryError code "conflict".

-- load_agent_state(thread_id, agent_id) → setof agent_states (zero or one row)
--   The state an agent keeps in a thread, or no row when it has saved none. agent_id defaults to the
--   thread's agent_id, or 'default' when the thread has none.
--   Errors: PT404 thread not found. Callers: authenticated, service_role.
create or replace function public.load_agent_state(thread_id uuid, agent_id text default null)
returns setof public.agent_states
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  thread_agent text;
begin
  select t.agent_id into thread_agent from public.memory_threads t where t.id = load_agent_state.thread_id;
  if not found then
    raise exception 'thread % not found', load_agent_state.thread_id using errcode = 'PT404';
  end if;
  return query
    select * from public.agent_states s
     where s.thread_id = load_agent_state.thread_id
       and s.agent_id = coalesce(load_agent_state.agent_id, thread_agent, 'default');
end
$$;
comment on function public.load_agent_state(uuid, text) is
  'The agent''s state in one of the caller''s threads (zero or one row); agent_id defaults to the thread''s agent.';

-- save_agent_state(thread_id, agent_id, state, expected_version) → agent_states
--   Stores `state` (a JSON object, replacing the previous one) and returns the row with its new version.
--   agent_id: as in load_agent_state (null → the thread's agent, else 'default').
--   expected_version: null writes unconditionally; 0 creates the state and fails if one exists; n > 0
--   updates only if the stored version is still n. The stored version then becomes n + 1 (1 on create).
--   Errors: PT404 thread not found; PT409 conflict (stale or unexpected version, message gives the
--   current one); 22023 state not an object / negative expected_version; 22004 null state;
--   22001 state too large. Callers: authenticated, service_role.
create or replace function public.save_agent_state(
  thread_id uuid,
  agent_id text,
  state jsonb,
  expected_version integer default null
)
returns public.agent_states
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  thread_agent text;
  agent text;
  result public.agent_states;
  current_version integer;
begin
  select t.agent_id into thread_agent from public.memory_threads t where t.id = save_agent_state.thread_id;
  if not found then
    raise exception 'thread % not found', save_agent_state.thread_id using errcode = 'PT404';
  end if;
  agent := coalesce(save_agent_state.agent_id, thread_agent, 'default');
  perform private.require_object(save_agent_state.state, 'state');
  if save_agent_state.expected_version < 0 then
    raise exception 'expected_version must be 0 (create) or a positive version (got %)', save_agent_state.expected_version
      using errcode = '22023';
  end if;

  if save_agent_state.expected_version is null then
    insert into public.agent_states as s (thread_id, agent_id, state)
    values (save_agent_state.thread_id, agent, save_agent_state.state)
    on conflict on constraint agent_states_pkey do update set state = excluded.state
    returning * into result;
    return result;
  end if;

  if save_agent_state.expected_version = 0 then
    insert into public.agent_states (thread_id, agent_id, state)
    values (save_agent_state.thread_id, agent, save_agent_state.state)
    on conflict on constraint agent_states_pkey do nothing
    returning * into result;
  else
    update public.agent_states s
       set state = save_agent_state.state
     where s.thread_id = save_agent_state.thread_id
       and s.agent_id = agent
       and s.version = save_agent_state.expected_version
    returning * into result;
  end if;
  if result.thread_id is not null then
    return result;
  end if;

  select s.version into current_version
    from public.agent_states s
   where s.thread_id = save_agent_state.thread_id and s.agent_id = agent;
  raise exception 'agent state of agent "%" in thread % is at version %, not the expected version %',
    agent, save_agent_state.thread_id, coalesce(current_version, 0), save_agent_state.expected_version
    using errcode = 'PT409',
          detail = format('current_version: %s', coalesce(current_version, 0)),
          hint = 'Load the state again (load_agent_state), apply the change to it and save with its version.';
end
$$;
comment on function public.save_agent_state(uuid, text, jsonb, integer) is
  'Saves an agent''s state in one of the caller''s threads; a stale expected_version raises PT409 (HTTP 409).';

revoke all on function public.load_agent_state(uuid, text), public.save_agent_state(uuid, text, jsonb, integer)
  from public, anon;
grant execute on function public.load_agent_state(uuid, text), public.save_agent_state(uuid, text, jsonb, integer)
  to authenticated, service_role;
