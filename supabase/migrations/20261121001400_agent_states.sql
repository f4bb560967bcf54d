-- agent_states: the working state (a JSON object) each agent keeps per thread — scratchpad, plan, slots.
-- One row per (thread_id, agent_id). `version` starts at 1 and the database increments it on every update,
-- so writers can do optimistic concurrency: save_agent_state(..., expected_version) refuses a write based
-- on a stale version with SQLSTATE PT409 (HTTP 409 through PostgREST). owner_id is copied from the thread,
-- and a thread the caller cannot see is "not found" (PT404).

create table public.agent_states (
  thread_id uuid not null references public.memory_threads (id) on delete cascade,
  agent_id text not null
    constraint agent_states_agent_id_length check (char_length(agent_id) between 1 and 200),
  owner_id uuid not null default auth.uid(),
  state jsonb not null default '{}'
    constraint agent_states_state_is_object check (jsonb_typeof(state) = 'object'),
  version integer not null default 1
    constraint agent_states_version_positive check (version >= 1),
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp(),
  primary key (thread_id, agent_id)
);

comment on table public.agent_states is
  'Per-thread, per-agent working state; version increments on every write (optimistic concurrency).';

-- private.agent_states_before_write() → trigger
--   BEFORE INSERT OR UPDATE row trigger on agent_states, run as the caller. Insert: copies owner_id from
--   the thread (PT404 "thread <id> not found" if the caller cannot see it) and starts at version 1.
--   Update: thread_id, agent_id and owner_id cannot change (22023); version becomes old version + 1.
--   Both: a state larger than setting agent_states.max_state_bytes (default 1 MiB) raises 22001.
create or replace function private.agent_states_before_write()
returns trigger
language plpgsql
security invoker
as $$
declare
  thread_owner uuid;
  max_bytes bigint;
begin
  if tg_op = 'INSERT' then
    select t.owner_id into thread_owner from public.memory_threads t where t.id = new.thread_id;
    if not found then
      raise exception 'thread % not found', new.thread_id using errcode = 'PT404';
    end if;
    new.owner_id := thread_owner;
    new.version := 1;
    new.created_at := clock_timestamp();
  else
    if new.thread_id <> old.thread_id or new.agent_id <> old.agent_id or new.owner_id <> old.owner_id then
      raise exception 'an agent state''s thread_id, agent_id and owner_id cannot be changed' using errcode = '22023';
    end if;
    new.version := old.version + 1;
    new.created_at := old.created_at;
  end if;
  new.updated_at := clock_timestamp();
  max_bytes := (private.setting('agent_states', 'max_state_bytes', '1048576') #>> '{}')::bigint;
  if octet_length(new.state::text) > max_bytes then
    raise exception 'state is % bytes of JSON; the maximum is % bytes', octet_length(new.state::text), max_bytes
      using errcode = '22001', hint = 'The limit is the setting agent_states.max_state_bytes.';
  end if;
  return new;
end
$$;
revoke all on function private.agent_states_before_write() from public, anon, authenticated;

create trigger agent_states_before_write before insert or update on public.agent_states
  for each row execute function private.agent_states_before_write();

alter table public.agent_states enable row level security;

create policy "owners can read their agent states" on public.agent_states
  for select to authenticated using (owner_id = (select auth.uid()));
create policy "owners can add agent states to their threads" on public.agent_states
  for insert to authenticated with check (owner_id = (select auth.uid()));
create policy "owners can update their agent states" on public.agent_states
  for update to authenticated using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
create policy "owners can delete their agent states" on public.agent_states
  for delete to authenticated using (owner_id = (select auth.uid()));

revoke all on public.agent_states from anon;
revoke truncate, references, trigger on public.agent_states from authenticated;
grant select, insert, update, delete on public.agent_states to authenticated;
grant all on public.agent_states to service_role;
