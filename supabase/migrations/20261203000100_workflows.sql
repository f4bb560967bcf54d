-- Workflows: multi-step processes whose steps are claimed by workers under a lease, so a crashed worker's
-- step is taken again by another one (resumable), and whose progress streams through Realtime.
--
--   workflows        one process owned by a user: name, metadata, status
--   workflow_steps   its steps: position (claim order), optional dependencies on other steps of the same
--                    workflow, input / output JSON, attempts and max_attempts with exponential backoff,
--                    the lease (worker, lease_id, expiry) of the worker running it, and optionally a
--                    memory thread of its own (created when it is first claimed)
--
-- State machines (anything else raises PT409 naming both states, whoever writes the row):
--   workflow  pending ─start─► running ─pause─► paused ─resume─► running
--             running/paused ─(all steps completed or skipped)─► completed
--             running/paused ─(a step failed for good)─► failed
--             pending/running/paused ─cancel─► cancelled            completed, failed, cancelled are final
--   step      pending ─claim─► running ─complete─► completed
--             running ─fail with attempts left / lease expired─► pending (retried after backoff)
--             running ─fail at max_attempts / lease expired at max_attempts─► failed
--             pending/running ─skip─► skipped
--             pending/running ─(workflow cancelled or failed)─► cancelled   completed, failed, skipped, cancelled are final
--
-- Clients use the workflow RPCs (next migration); the tables are readable (and, under the same rules,
-- writable) through the Data API with row level security on owner_id, and are in the supabase_realtime
-- publication so a UI can follow a run. Unknown ids and other users' ids are "not found" (PT404).

create type public.workflow_status as enum ('pending', 'running', 'paused', 'completed', 'failed', 'cancelled');
create type public.workflow_step_status as enum ('pending', 'running', 'completed', 'failed', 'skipped', 'cancelled');

create table public.workflows (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  name text not null
    constraint workflows_name_length check (char_length(name) between 1 and 200),
  status public.workflow_status not null default 'pending',
  metadata jsonb not null default '{}'
    constraint workflows_metadata_is_object check (jsonb_typeof(metadata) = 'object'),
  -- Why the workflow failed (the failing step and its last error) or was cancelled (the reason given).
  error text,
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp(),
  started_at timestamptz,
  finished_at timestamptz
);
comment on table public.workflows is
  'Multi-step processes owned by a user; status follows pending → running ⇄ paused → completed | failed | cancelled.';

create index workflows_owner_created_idx on public.workflows (owner_id, created_at desc, id desc);

create table public.workflow_steps (
  id uuid primary key default gen_random_uuid(),
  workflow_id uuid not null references public.workflows (id) on delete cascade,
  -- Copied from the workflow on insert (the caller cannot choose it).
  owner_id uuid not null default auth.uid(),
  -- 1, 2, 3 … in the order steps were added; workers claim ready steps in this order.
  position integer not null
    constraint workflow_steps_position_positive check (position >= 1),
  name text not null
    constraint workflow_steps_name_length check (char_length(name) between 1 and 200),
  -- Steps of the same workflow that must be completed (or skipped) before this one may be claimed.
  depends_on uuid[] not null default '{}',
  status public.workflow_step_status not null default 'pending',
  input jsonb not null default '{}',
  output jsonb,
  -- The error of the last failed attempt (or of the expired lease); kept after a successful retry.
  last_error text,
  -- Claims so far (an expired lease counts as an attempt).
  attempts integer not null default 0
    constraint workflow_steps_attempts_non_negative check (attempts >= 0),
  max_attempts integer not null default 3
    constraint workflow_steps_max_attempts_range check (max_attempts between 1 and 100),
  -- Retry n waits backoff_seconds × 2^(n-1), at most backoff_max_seconds.
  backoff_seconds double precision not null default 5
    constraint workflow_steps_backoff_seconds_range check (backoff_seconds between 0 and 86400),
  backoff_max_seconds double precision not null default 3600
    constraint workflow_steps_backoff_max_seconds_range check (backoff_max_seconds between 0 and 604800),
  -- Not claimable before this time (creation, or the retry time after a failure).
  available_at timestamptz not null default clock_timestamp(),
  -- The lease of the worker running the step: who, which claim, until when, and for how long a
  -- heartbeat extends it. Set by claim_next_step, cleared when the step leaves 'running'.
  lease_owner text,
  lease_id uuid,
  lease_expires_at timestamptz,
  lease_seconds integer,
  heartbeat_at timestamptz,
  -- Give the step a memory thread of its own, created on its first claim and kept across retries.
  create_thread boolean not null default false,
  agent_id text
    constraint workflow_steps_agent_id_length check (agent_id is null or char_length(agent_id) between 1 and 200),
  thread_id uuid references public.memory_threads (id) on delete set null,
  metadata jsonb not null default '{}'
    constraint workflow_steps_metadata_is_object check (jsonb_typeof(metadata) = 'object'),
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp(),
  started_at timestamptz,
  finished_at timestamptz,
  constraint workflow_steps_workflow_position_key unique (workflow_id, position),
  constraint workflow_steps_workflow_name_key unique (workflow_id, name),
  constraint workflow_steps_lease_only_when_running check (
    (status = 'running') = (lease_id is not null and lease_expires_at is not null and lease_owner is not null))
);
comment on table public.workflow_steps is
  'Steps of a workflow: dependencies, input/output, attempts with backoff, the lease of the worker running it.';
comment on column public.workflow_steps.lease_id is
  'Identifies one claim: heartbeat_step, complete_step and fail_step must present it (PT409 otherwise).';

-- claim_next_step: the caller's ready steps in claim order (a signed-in user: owner first; service_role:
-- across owners). Partial, so finished steps cost the claim nothing.
create index workflow_steps_claim_owner_idx on public.workflow_steps (owner_id, available_at, position)
  where status = 'pending';
create index workflow_steps_claim_idx on public.workflow_steps (available_at, position) where status = 'pending';
-- The lease sweep: running steps by lease expiry.
create index workflow_steps_lease_expiry_idx on public.workflow_steps (lease_expires_at) where status = 'running';
-- "Is anything of this workflow still open?" after every completion, without scanning finished steps.
create index workflow_steps_open_idx on public.workflow_steps (workflow_id) where status in ('pending', 'running');
create index workflow_steps_thread_idx on public.workflow_steps (thread_id) where thread_id is not null;

-- private.workflow_transition_allowed(from, to) → boolean / private.workflow_step_transition_allowed(from, to)
--   The two state machines above, as data, for the triggers and the RPCs.
create or replace function private.workflow_transition_allowed(from_status public.workflow_status, to_status public.workflow_status)
returns boolean
language sql
immutable
parallel safe
security invoker
as $$
  select (from_status, to_status) in (
    ('pending', 'running'), ('pending', 'cancelled'),
    ('running', 'paused'), ('running', 'completed'), ('running', 'failed'), ('running', 'cancelled'),
    ('paused', 'running'), ('paused', 'completed'), ('paused', 'failed'), ('paused', 'cancelled'))
$$;
revoke all on function private.workflow_transition_allowed(public.workflow_status, public.workflow_status) from public, anon;
grant execute on function private.workflow_transition_allowed(public.workflow_status, public.workflow_status)
  to authenticated, service_role;

create or replace function private.workflow_step_transition_allowed(from_status public.workflow_step_status,
  to_status public.workflow_step_status)
returns boolean
language sql
immutable
parallel safe
security invoker
as $$
  select (from_status, to_status) in (
    ('pending', 'running'), ('pending', 'skipped'), ('pending', 'cancelled'),
    ('running', 'completed'), ('running', 'pending'), ('running', 'failed'), ('running', 'skipped'),
    ('running', 'cancelled'))
$$;
revoke all on function private.workflow_step_transition_allowed(public.workflow_step_status, public.workflow_step_status)
  from public, anon;
grant execute on function private.workflow_step_transition_allowed(public.workflow_step_status, public.workflow_step_status)
  to authenticated, service_role;

-- private.workflows_before_write() → trigger
--   BEFORE INSERT OR UPDATE row trigger on workflows, run as the caller. Insert: status must be pending.
--   Update: id, owner_id and created_at cannot change (22023); a status change must be allowed by the
--   state machine (PT409 "workflow <id> cannot go from <old> to <new>"); keeps updated_at current.
create or replace function private.workflows_before_write()
returns trigger
language plpgsql
security invoker
as $$
begin
  if tg_op = 'INSERT' then
    if new.status <> 'pending' then
      raise exception 'a new workflow starts as pending, not %', new.status using errcode = '22023';
    end if;
    new.created_at := clock_timestamp();
    new.started_at := null;
    new.finished_at := null;
  else
    if new.id <> old.id or new.owner_id <> old.owner_id or new.created_at <> old.created_at then
      raise exception 'a workflow''s id, owner_id and created_at cannot be changed' using errcode = '22023';
    end if;
    if new.status <> old.status and not private.workflow_transition_allowed(old.status, new.status) then
      raise exception 'workflow % cannot go from % to %', old.id, old.status, new.status using errcode = 'PT409';
    end if;
  end if;
  new.updated_at := clock_timestamp();
  return new;
end
$$;
revoke all on function private.workflows_before_write() from public, anon, authenticated;

create trigger workflows_before_write before insert or update on public.workflows
  for each row execute function private.workflows_before_write();

-- private.workflow_steps_before_write() → trigger
--   BEFORE INSERT OR UPDATE row trigger on workflow_steps, run as the caller (so row level security
--   decides which workflow it can see).
--   Insert: locks the workflow (so concurrent adds number steps one after the other), copies its owner
--   (PT404 "workflow <id> not found" if the caller cannot see it), refuses a finished workflow (PT409),
--   numbers the step after the last one when position is null, requires every dependency to be an
--   existing step of the same workflow (22023 — so no cycle can ever be stored), and starts the step as
--   pending with no attempts and no lease.
--   Update: id, workflow_id, owner_id, position, name, depends_on and created_at cannot change (22023);
--   a status change must be allowed by the state machine (PT409 "workflow step <n> ("<name>") cannot go
--   from <old> to <new>"); keeps updated_at current.
create or replace function private.workflow_steps_before_write()
returns trigger
language plpgsql
security invoker
as $$
declare
  wf record;
  missing uuid[];
begin
  if tg_op = 'INSERT' then
    select w.owner_id, w.status into wf from public.workflows w where w.id = new.workflow_id for no key update;
    if not found then
      raise exception 'workflow % not found', new.workflow_id using errcode = 'PT404';
    end if;
    if wf.status in ('completed', 'failed', 'cancelled') then
      raise exception 'cannot add a step to workflow %: it is %', new.workflow_id, wf.status using errcode = 'PT409';
    end if;
    new.owner_id := wf.owner_id;
    if new.position is null then
      select coalesce(max(s.position), 0) + 1 into new.position from public.workflow_steps s where s.workflow_id = new.workflow_id;
    end if;
    new.depends_on := coalesce(new.depends_on, '{}');
    select array_agg(d order by d) into missing
      from unnest(new.depends_on) d
     where not exists (select from public.workflow_steps s where s.id = d and s.workflow_id = new.workflow_id);
    if missing is not null then
      raise exception 'depends_on names step(s) that are not steps of workflow %: %', new.workflow_id,
        array_to_string(missing, ', ') using errcode = '22023';
    end if;
    new.status := 'pending';
    new.attempts := 0;
    new.output := null;
    new.last_error := null;
    new.lease_owner := null;
    new.lease_id := null;
    new.lease_expires_at := null;
    new.heartbeat_at := null;
    new.thread_id := null;
    new.created_at := clock_timestamp();
    new.available_at := clock_timestamp();
    new.started_at := null;
    new.finished_at := null;
  else
    if new.id <> old.id or new.workflow_id <> old.workflow_id or new.owner_id <> old.owner_id
       or new.position <> old.position or new.name <> old.name or new.depends_on <> old.depends_on
       or new.created_at <> old.created_at then
      raise exception 'a workflow step''s id, workflow_id, owner_id, position, name, depends_on and created_at cannot be changed'
        using errcode = '22023';
    end if;
    if new.status <> old.status and not private.workflow_step_transition_allowed(old.status, new.status) then
      raise exception 'workflow step % ("%") cannot go from % to %', old.position, old.name, old.status, new.status
        using errcode = 'PT409';
    end if;
  end if;
  new.updated_at := clock_timestamp();
  return new;
end
$$;
revoke all on function private.workflow_steps_before_write() from public, anon, authenticated;

create trigger workflow_steps_before_write before insert or update on public.workflow_steps
  for each row execute function private.workflow_steps_before_write();

alter table public.workflows enable row level security;
alter table public.workflow_steps enable row level security;

create policy "owners can read their workflows" on public.workflows
  for select to authenticated using (owner_id = (select auth.uid()));
create policy "users can create workflows they own" on public.workflows
  for insert to authenticated with check (owner_id = (select auth.uid()));
create policy "owners can update their workflows" on public.workflows
  for update to authenticated using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
create policy "owners can delete their workflows" on public.workflows
  for delete to authenticated using (owner_id = (select auth.uid()));

create policy "owners can read their workflow steps" on public.workflow_steps
  for select to authenticated using (owner_id = (select auth.uid()));
create policy "owners can add steps to their workflows" on public.workflow_steps
  for insert to authenticated with check (owner_id = (select auth.uid()));
create policy "owners can update their workflow steps" on public.workflow_steps
  for update to authenticated using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
create policy "owners can delete their workflow steps" on public.workflow_steps
  for delete to authenticated using (owner_id = (select auth.uid()));

revoke all on public.workflows, public.workflow_steps from anon;
revoke truncate, references, trigger on public.workflows, public.workflow_steps from authenticated;
grant select, insert, update, delete on public.workflows, public.workflow_steps to authenticated;
grant all on public.workflows, public.workflow_steps to service_role;

-- Realtime: a UI subscribed to its workflow (table workflows, filter id=eq.<id>) and its steps
-- (table workflow_steps, filter workflow_id=eq.<id>) sees every transition; RLS is checked per subscriber.
alter publication supabase_realtime add table public.workflows, public.workflow_steps;
