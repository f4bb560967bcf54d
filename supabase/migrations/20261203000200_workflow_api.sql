-- The workflow API: create_workflow, add_workflow_step(s), start / pause / resume / cancel_workflow,
-- get_workflow, and the worker side: claim_next_step, heartbeat_step, complete_step, fail_step, skip_step.
--
-- All are security invoker: row level security limits a signed-in user to their own workflows,
-- service_role works on everyone's, anon may call none. A workflow or step the caller cannot see —
-- unknown or another user's — raises PT404 "... not found" (HTTP 404 through PostgREST). A call that does
-- not fit the current state raises PT409 (HTTP 409) naming both states, e.g.
--   cannot complete step 3 ("summarise") of workflow <id>: it is pending, not running
-- and bad input raises 22023 naming the field.
--
-- Leases. claim_next_step hands a worker one ready step with a fresh lease_id and an expiry
-- (lease_seconds from now). Only that lease may heartbeat (extend it), complete, fail or skip the step; a
-- worker presenting another lease_id — e.g. one whose lease expired and whose step was claimed again —
-- gets PT409. Until the sweep or another claim takes it back, an expired lease still belongs to its
-- worker (it may heartbeat or complete late). Expired leases are taken back by
-- private.expire_step_leases (next migration), which claim_next_step runs first and a cron job runs
-- every few seconds.
--
-- Locking. Calls that change a workflow's status or check whether it is finished lock the workflow row
-- first and the step second; claims and the sweep take rows with SKIP LOCKED and never wait, so these
-- calls cannot deadlock each other. Locking the workflow serialises the completions of one workflow,
-- which is what makes "the last open step finished → the workflow completed" happen exactly once.

create type public.workflow_claim as (
  step public.workflow_steps,
  workflow public.workflows,
  thread public.memory_threads
);
comment on type public.workflow_claim is
  'A claimed step (with its lease_id), its workflow, and its memory thread (null unless the step has one).';

create type public.workflow_details as (
  workflow public.workflows,
  steps public.workflow_steps[]
);
comment on type public.workflow_details is 'A workflow with all its steps in position order.';

-- private.json_number(value jsonb, field text, lo numeric, hi numeric, whole boolean, fallback numeric) → numeric
--   `value` as a number within lo..hi (a whole number when `whole`), `fallback` when it is absent or JSON
--   null. Raises 22023 "<field> must be a whole number between <lo> and <hi> (got <value>)" otherwise.
create or replace function private.json_number(value jsonb, field text, lo numeric, hi numeric, whole boolean,
  fallback numeric)
returns numeric
language plpgsql
immutable
parallel safe
security invoker
as $$
begin
  if value is null or jsonb_typeof(value) = 'null' then
    return fallback;
  end if;
  if jsonb_typeof(value) <> 'number' or value::text::numeric not between lo and hi
     or (whole and value::text::numeric <> trunc(value::text::numeric)) then
    raise exception '% must be % between % and % (got %)', field, case when whole then 'a whole number' else 'a number' end,
      lo, hi, value using errcode = '22023';
  end if;
  return value::text::numeric;
end
$$;
revoke all on function private.json_number(jsonb, text, numeric, numeric, boolean, numeric) from public, anon;
grant execute on function private.json_number(jsonb, text, numeric, numeric, boolean, numeric) to authenticated, service_role;

-- private.workflow_not_found(workflow_id) / private.workflow_step_not_found(step_id): the PT404 errors.
create or replace function private.workflow_not_found(workflow_id uuid)
returns void
language plpgsql
volatile
security invoker
as $$
begin
  raise exception 'workflow % not found', workflow_id using errcode = 'PT404';
end
$$;
revoke all on function private.workflow_not_found(uuid) from public, anon;
grant execute on function private.workflow_not_found(uuid) to authenticated, service_role;

-- private.insert_workflow_steps(workflow_id uuid, steps jsonb, single boolean default false) → setof workflow_steps
--   Validates `steps` (a JSON array of 1..1000 step objects) and inserts them into the workflow, which
--   the caller has locked and found open. Each object: name (required, unique in the workflow), input
--   (any JSON, default {}), depends_on (names of steps already in the workflow or anywhere in this
--   array), max_attempts (1..100, default 3), backoff_seconds (0..86400, default 5), backoff_max_seconds
--   (0..604800, default 3600), create_thread (boolean, default false), agent_id (string), metadata
--   (object). Positions follow the array order after the workflow's last step; rows are inserted
--   dependencies first (the insert trigger requires a dependency to exist). Returns the new steps in
--   position order. Errors name the field as steps[i].<field> (or plain <field> when `single`, for
--   add_workflow_step's arguments): 22023 wrong type, out of range, unknown field, a name twice in the
--   array, a dependency on no such step, a dependency cycle (shown: "a" → "b" → "a"); PT409 a name the
--   workflow already has. Nothing is inserted on any error.
create or replace function private.insert_workflow_steps(workflow_id uuid, steps jsonb, single boolean default false)
returns setof public.workflow_steps
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  allowed constant text[] := array['name', 'input', 'depends_on', 'max_attempts', 'backoff_seconds',
                                   'backoff_max_seconds', 'create_thread', 'agent_id', 'metadata'];
  n integer;
  step jsonb;
  f text;
  unknown text[];
  names text[] := '{}';
  ids uuid[] := '{}';
  name_index jsonb;
  existing jsonb;
  taken text;
  dep text;
  -- Dependencies on steps already in the workflow, per new step, as one flat list of (step index, id).
  ext_step integer[] := '{}';
  ext_id uuid[] := '{}';
  -- Dependencies inside the array as a compressed adjacency list: the indexes step i depends on are
  -- edge_to[edge_start[i] .. edge_start[i + 1] - 1].
  edge_start integer[] := '{}';
  edge_to integer[] := '{}';
  color integer[];
  topo integer[] := '{}';
  stack_node integer[] := '{}';
  stack_pos integer[] := '{}';
  sp integer;
  v integer;
  w integer;
  p integer;
  cycle text;
  base integer;
  i integer;
  k integer;
begin
  if steps is null or jsonb_typeof(steps) <> 'array' then
    raise exception 'steps must be a JSON array of step objects (got %)', coalesce(jsonb_typeof(steps), 'null')
      using errcode = '22023';
  end if;
  n := jsonb_array_length(steps);
  if n < 1 or n > 1000 then
    raise exception 'steps must hold 1 to 1000 steps (got %)', n using errcode = '22023';
  end if;

  -- Pass 1: the shape of every step.
  for i in 1..n loop
    step := steps -> (i - 1);
    f := case when single then '' else format('steps[%s].', i - 1) end;
    if jsonb_typeof(step) <> 'object' then
      raise exception '% must be a JSON object (got %)', format('steps[%s]', i - 1), jsonb_typeof(step) using errcode = '22023';
    end if;
    select array_agg(x order by x) into unknown from jsonb_object_keys(step) x where x <> all (allowed);
    if unknown is not null then
      raise exception '%unknown field(s): %', case when single then '' else format('steps[%s] has ', i - 1) end,
        array_to_string(unknown, ', ') using errcode = '22023', hint = 'Step fields: ' || array_to_string(allowed, ', ') || '.';
    end if;
    if jsonb_typeof(step -> 'name') is distinct from 'string' or char_length(step ->> 'name') not between 1 and 200 then
      raise exception '%name must be a string of 1 to 200 characters', f using errcode = '22023';
    end if;
    if coalesce(jsonb_typeof(step -> 'depends_on'), 'null') not in ('array', 'null')
       or (jsonb_typeof(step -> 'depends_on') = 'array'
           and exists (select from jsonb_array_elements(step -> 'depends_on') e where jsonb_typeof(e) <> 'string')) then
      raise exception '%depends_on must be an array of step names', f using errcode = '22023';
    end if;
    perform private.json_number(step -> 'max_attempts', f || 'max_attempts', 1, 100, true, 3),
            private.json_number(step -> 'backoff_seconds', f || 'backoff_seconds', 0, 86400, false, 5),
            private.json_number(step -> 'backoff_max_seconds', f || 'backoff_max_seconds', 0, 604800, false, 3600);
    if coalesce(jsonb_typeof(step -> 'create_thread'), 'null') not in ('boolean', 'null') then
      raise exception '%create_thread must be true or false', f using errcode = '22023';
    end if;
    if coalesce(jsonb_typeof(step -> 'agent_id'), 'null') not in ('string', 'null')
       or char_length(step ->> 'agent_id') not between 1 and 200 then
      raise exception '%agent_id must be a string of 1 to 200 characters', f using errcode = '22023';
    end if;
    if coalesce(jsonb_typeof(step -> 'metadata'), 'null') not in ('object', 'null') then
      raise exception '%metadata must be a JSON object (got %)', f, jsonb_typeof(step -> 'metadata') using errcode = '22023';
    end if;
    if (step ->> 'name') = any (names) then
      raise exception '%name "%" is used by steps[%] too', f, step ->> 'name', array_position(names, step ->> 'name') - 1
        using errcode = '22023';
    end if;
    names := names || (step ->> 'name');
    ids := ids || gen_random_uuid();
  end loop;

  select jsonb_object_agg(x.name, x.i) into name_index from unnest(names) with ordinality as x(name, i);
  select jsonb_object_agg(s.name, s.id) into existing
    from public.workflow_steps s where s.workflow_id = insert_workflow_steps.workflow_id;
  existing := coalesce(existing, '{}');
  select string_agg(format('"%s"', x), ', ') into taken from unnest(names) x where existing ? x;
  if taken is not null then
    raise exception 'workflow % already has a step named %', insert_workflow_steps.workflow_id, taken using errcode = 'PT409';
  end if;

  -- Pass 2: resolve dependencies, within the array or to existing steps.
  for i in 1..n loop
    step := steps -> (i - 1);
    f := case when single then '' else format('steps[%s].', i - 1) end;
    edge_start := edge_start || (cardinality(edge_to) + 1);
    for dep in select e from jsonb_array_elements_text(coalesce(step -> 'depends_on', '[]')) e loop
      if name_index ? dep then
        edge_to := edge_to || (name_index ->> dep)::integer;
      elsif existing ? dep then
        ext_step := ext_step || i;
        ext_id := ext_id || (existing ->> dep)::uuid;
      else
        raise exception '%depends_on: workflow % has no step named "%"', f, insert_workflow_steps.workflow_id, dep
          using errcode = '22023';
      end if;
    end loop;
  end loop;
  edge_start := edge_start || (cardinality(edge_to) + 1);

  -- Pass 3: depth-first search for a cycle; the post-order is a dependencies-first insert order.
  color := array_fill(0, array[n]);
  for i in 1..n loop
    continue when color[i] <> 0;
    sp := 1;
    stack_node[1] := i;
    stack_pos[1] := edge_start[i];
    color[i] := 1;
    while sp > 0 loop
      v := stack_node[sp];
      p := stack_pos[sp];
      if p < edge_start[v + 1] then
        stack_pos[sp] := p + 1;
        w := edge_to[p];
        if color[w] = 1 then
          -- w is on the stack: the cycle is w → … → v → w.
          select string_agg(format('"%s"', names[stack_node[x]]), ' → ' order by x) into cycle
            from generate_series(array_position(stack_node[1:sp], w), sp) x;
          raise exception '%dependency cycle % → "%"', case when single then 'depends_on: ' else 'steps: ' end, cycle, names[w]
            using errcode = '22023', hint = 'Read → as "depends on". A step can only wait for steps that do not wait for it.';
        elsif color[w] = 0 then
          color[w] := 1;
          sp := sp + 1;
          stack_node[sp] := w;
          stack_pos[sp] := edge_start[w];
        end if;
      else
        color[v] := 2;
        topo := topo || v;
        sp := sp - 1;
      end if;
    end loop;
  end loop;

  select coalesce(max(s.position), 0) into base from public.workflow_steps s where s.workflow_id = insert_workflow_steps.workflow_id;

  -- One statement, rows in dependency order (a BEFORE ROW trigger sees the rows this statement inserted
  -- before it).
  insert into public.workflow_steps (id, workflow_id, position, name, depends_on, input, max_attempts, backoff_seconds,
                                     backoff_max_seconds, create_thread, agent_id, metadata)
  select ids[t.i], insert_workflow_steps.workflow_id, base + t.i, names[t.i],
         coalesce((select array_agg(ids[edge_to[e]] order by e) from generate_series(edge_start[t.i], edge_start[t.i + 1] - 1) e), '{}')
           || coalesce((select array_agg(ext_id[x] order by x) from generate_subscripts(ext_step, 1) x where ext_step[x] = t.i), '{}'),
         coalesce(steps -> (t.i - 1) -> 'input', '{}'),
         private.json_number(steps -> (t.i - 1) -> 'max_attempts', 'max_attempts', 1, 100, true, 3),
         private.json_number(steps -> (t.i - 1) -> 'backoff_seconds', 'backoff_seconds', 0, 86400, false, 5),
         private.json_number(steps -> (t.i - 1) -> 'backoff_max_seconds', 'backoff_max_seconds', 0, 604800, false, 3600),
         coalesce((steps -> (t.i - 1) ->> 'create_thread')::boolean, false),
         steps -> (t.i - 1) ->> 'agent_id',
         coalesce(nullif(steps -> (t.i - 1) -> 'metadata', 'null'), '{}')
    from unnest(topo) with ordinality as t(i, rank)
   order by t.rank;

  return query select * from public.workflow_steps s where s.id = any (ids) order by s.position;
end
$$;
revoke all on function private.insert_workflow_steps(uuid, jsonb, boolean) from public, anon;
grant execute on function private.insert_workflow_steps(uuid, jsonb, boolean) to authenticated, service_role;

-- private.lock_workflow(workflow_id uuid) → workflows
--   Locks the workflow row (FOR NO KEY UPDATE) and returns it. PT404 when the caller cannot see it.
create or replace function private.lock_workflow(workflow_id uuid)
returns public.workflows
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  result public.workflows;
begin
  select * into result from public.workflows w where w.id = lock_workflow.workflow_id for no key update;
  if not found then
    perform private.workflow_not_found(lock_workflow.workflow_id);
  end if;
  return result;
end
$$;
revoke all on function private.lock_workflow(uuid) from public, anon;
grant execute on function private.lock_workflow(uuid) to authenticated, service_role;

-- private.settle_workflow(workflow_id uuid) → void
--   With the workflow locked by the caller: a running or paused workflow none of whose steps is pending
--   or running any more (all completed or skipped — a failed step has failed the workflow already) becomes
--   completed.
create or replace function private.settle_workflow(workflow_id uuid)
returns void
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  update public.workflows w
     set status = 'completed', finished_at = clock_timestamp()
   where w.id = settle_workflow.workflow_id
     and w.status in ('running', 'paused')
     and not exists (select from public.workflow_steps s
                      where s.workflow_id = settle_workflow.workflow_id and s.status in ('pending', 'running'));
end
$$;
revoke all on function private.settle_workflow(uuid) from public, anon;
grant execute on function private.settle_workflow(uuid) to authenticated, service_role;

-- private.fail_workflow(workflow_id uuid, error text) → void
--   With the workflow locked by the caller: the workflow becomes failed with `error`, and its steps that
--   are still pending or running are cancelled (their leases end: their workers get PT409 on the next
--   heartbeat).
create or replace function private.fail_workflow(workflow_id uuid, error text)
returns void
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  update public.workflow_steps s
     set status = 'cancelled', lease_owner = null, lease_id = null, lease_expires_at = null, finished_at = clock_timestamp()
   where s.workflow_id = fail_workflow.workflow_id and s.status in ('pending', 'running');
  update public.workflows w
     set status = 'failed', error = fail_workflow.error, finished_at = clock_timestamp()
   where w.id = fail_workflow.workflow_id and w.status in ('pending', 'running', 'paused');
end
$$;
revoke all on function private.fail_workflow(uuid, text) from public, anon;
grant execute on function private.fail_workflow(uuid, text) to authenticated, service_role;

-- private.retry_delay(step workflow_steps) → interval
--   How long a step waits after its attempts-th attempt failed: backoff_seconds × 2^(attempts - 1), at most
--   backoff_max_seconds.
create or replace function private.retry_delay(step public.workflow_steps)
returns interval
language sql
immutable
security invoker
set search_path = ''
as $$
  select make_interval(secs => least(step.backoff_max_seconds,
                                     step.backoff_seconds * power(2::double precision, greatest(step.attempts - 1, 0))))
$$;
revoke all on function private.retry_delay(public.workflow_steps) from public, anon;
grant execute on function private.retry_delay(public.workflow_steps) to authenticated, service_role;

-- private.leased_step(step_id uuid, lease_id uuid, verb text, lock_workflow boolean) → workflow_steps
--   The step, locked, after checking that the caller holds its lease: PT404 when the caller cannot see
--   the step; 22023 when lease_id is null; PT409 "cannot <verb> step <n> ("<name>") of workflow <id>: it is
--   <status>, not running" or "...: it is leased to worker "<w>" under lease <id>, not lease <given>".
--   With lock_workflow the workflow row is locked first (see the header on lock order).
create or replace function private.leased_step(step_id uuid, lease_id uuid, verb text, lock_workflow boolean)
returns public.workflow_steps
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  wf uuid;
  s public.workflow_steps;
begin
  if leased_step.lease_id is null then
    raise exception 'lease_id is required: pass the lease_id claim_next_step returned with the step' using errcode = '22023';
  end if;
  select st.workflow_id into wf from public.workflow_steps st where st.id = leased_step.step_id;
  if not found then
    raise exception 'workflow step % not found', leased_step.step_id using errcode = 'PT404';
  end if;
  if lock_workflow then
    perform private.lock_workflow(wf);
  end if;
  select * into s from public.workflow_steps st where st.id = leased_step.step_id for update;
  if s.status <> 'running' then
    raise exception 'cannot % step % ("%") of workflow %: it is %, not running', verb, s.position, s.name, s.workflow_id, s.status
      using errcode = 'PT409';
  end if;
  if s.lease_id <> leased_step.lease_id then
    raise exception 'cannot % step % ("%") of workflow %: it is leased to worker "%" under lease %, not lease %',
      verb, s.position, s.name, s.workflow_id, s.lease_owner, s.lease_id, leased_step.lease_id
      using errcode = 'PT409', hint = 'The lease expired and the step was claimed again; drop this attempt''s result.';
  end if;
  return s;
end
$$;
revoke all on function private.leased_step(uuid, uuid, text, boolean) from public, anon;
grant execute on function private.leased_step(uuid, uuid, text, boolean) to authenticated, service_role;

-- create_workflow(name, metadata default {}, steps default null, start default false, owner_id default null)
--   → workflows
--   Creates a pending workflow owned by the caller, with `steps` (a JSON array as add_workflow_steps
--   takes) added in the same transaction, and starts it when `start` is true. owner_id: service_role
--   must name the owner; a signed-in user may only name themselves (42501 otherwise).
--   Errors: 22023 name empty or longer than 200 characters / metadata not an object / owner_id missing /
--   any step error of add_workflow_steps; PT409 start without steps. Callers: authenticated, service_role.
create or replace function public.create_workflow(
  name text,
  metadata jsonb default '{}',
  steps jsonb default null,
  start boolean default false,
  owner_id uuid default null
)
returns public.workflows
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  result public.workflows;
  wf_owner uuid := coalesce(create_workflow.owner_id, auth.uid());
begin
  if wf_owner is null then
    raise exception 'owner_id is required when no user is signed in' using errcode = '22023',
      hint = 'Call with a user''s access token, or pass owner_id when calling as service_role.';
  end if;
  if create_workflow.name is null or char_length(create_workflow.name) not between 1 and 200 then
    raise exception 'name must be a string of 1 to 200 characters' using errcode = '22023';
  end if;
  insert into public.workflows (owner_id, name, metadata)
  values (wf_owner, create_workflow.name, private.require_object(coalesce(create_workflow.metadata, '{}'), 'metadata'))
  returning * into result;
  if create_workflow.steps is not null then
    perform private.lock_workflow(result.id);
    perform private.insert_workflow_steps(result.id, create_workflow.steps);
  end if;
  if create_workflow.start then
    result := public.start_workflow(result.id);
  end if;
  return result;
end
$$;
comment on function public.create_workflow(text, jsonb, jsonb, boolean, uuid) is
  'Creates a workflow owned by the caller, optionally with steps (JSON array) and started at once.';

-- add_workflow_steps(workflow_id, steps) → setof workflow_steps
--   Adds the steps of a JSON array (fields as private.insert_workflow_steps describes; dependencies may
--   name steps already in the workflow or anywhere in the array) to a pending, running or paused
--   workflow, all or none, and returns them in position order.
--   Errors: PT404 workflow not found; PT409 workflow finished / a name it already has; 22023 as
--   described (fields named steps[i].<field>, cycles shown). Callers: authenticated, service_role.
create or replace function public.add_workflow_steps(workflow_id uuid, steps jsonb)
returns setof public.workflow_steps
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  wf public.workflows := private.lock_workflow(add_workflow_steps.workflow_id);
begin
  if wf.status in ('completed', 'failed', 'cancelled') then
    raise exception 'cannot add steps to workflow %: it is %', wf.id, wf.status using errcode = 'PT409';
  end if;
  return query select * from private.insert_workflow_steps(wf.id, add_workflow_steps.steps);
end
$$;
comment on function public.add_workflow_steps(uuid, jsonb) is
  'Adds a JSON array of steps (with dependencies by name, cycles refused) to one of the caller''s workflows.';

-- add_workflow_step(workflow_id, name, input default {}, depends_on default {}, max_attempts default 3,
--     backoff_seconds default 5, backoff_max_seconds default 3600, create_thread default false,
--     agent_id default null, metadata default {}) → workflow_steps
--   Adds one step after the workflow's last one. depends_on: names of existing steps of the workflow
--   that must complete (or be skipped) first. create_thread: give the step its own memory thread (with
--   agent_id), created when it is first claimed.
--   Errors: PT404 workflow not found; PT409 workflow finished / name taken; 22023 bad argument (named),
--   unknown dependency, a step depending on itself. Callers: authenticated, service_role.
create or replace function public.add_workflow_step(
  workflow_id uuid,
  name text,
  input jsonb default '{}',
  depends_on text[] default '{}',
  max_attempts integer default 3,
  backoff_seconds double precision default 5,
  backoff_max_seconds double precision default 3600,
  create_thread boolean default false,
  agent_id text default null,
  metadata jsonb default '{}'
)
returns public.workflow_steps
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  wf public.workflows := private.lock_workflow(add_workflow_step.workflow_id);
  result public.workflow_steps;
begin
  if wf.status in ('completed', 'failed', 'cancelled') then
    raise exception 'cannot add a step to workflow %: it is %', wf.id, wf.status using errcode = 'PT409';
  end if;
  if add_workflow_step.metadata is not null then
    perform private.require_object(add_workflow_step.metadata, 'metadata');
  end if;
  select * into result from private.insert_workflow_steps(wf.id, jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
      'name', add_workflow_step.name,
      'depends_on', to_jsonb(add_workflow_step.depends_on),
      'max_attempts', add_workflow_step.max_attempts,
      'backoff_seconds', add_workflow_step.backoff_seconds,
      'backoff_max_seconds', add_workflow_step.backoff_max_seconds,
      'create_thread', add_workflow_step.create_thread,
      'agent_id', add_workflow_step.agent_id,
      'metadata', add_workflow_step.metadata))
    -- input may be JSON null, which jsonb_strip_nulls would drop.
    || case when add_workflow_step.input is null then '{}'::jsonb else jsonb_build_object('input', add_workflow_step.input) end),
    single => true);
  return result;
end
$$;
comment on function public.add_workflow_step(uuid, text, jsonb, text[], integer, double precision, double precision, boolean, text, jsonb) is
  'Adds one step to one of the caller''s workflows; depends_on names earlier steps (unknown names and self-dependency refused).';

-- start_workflow(workflow_id) → workflows
--   pending → running: its ready steps become claimable. A workflow whose steps were all skipped
--   completes at once. Errors: PT404 not found; PT409 "cannot start workflow <id>: it is <status>, not
--   pending" / "...: it has no steps". Callers: authenticated, service_role.
create or replace function public.start_workflow(workflow_id uuid)
returns public.workflows
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  wf public.workflows := private.lock_workflow(start_workflow.workflow_id);
begin
  if wf.status <> 'pending' then
    raise exception 'cannot start workflow %: it is %, not pending', wf.id, wf.status using errcode = 'PT409';
  end if;
  if not exists (select from public.workflow_steps s where s.workflow_id = wf.id) then
    raise exception 'cannot start workflow %: it has no steps', wf.id using errcode = 'PT409',
      hint = 'Add steps with add_workflow_step or add_workflow_steps first.';
  end if;
  update public.workflows w set status = 'running', started_at = clock_timestamp() where w.id = wf.id;
  perform private.settle_workflow(wf.id);
  select * into wf from public.workflows w where w.id = start_workflow.workflow_id;
  return wf;
end
$$;
comment on function public.start_workflow(uuid) is 'Starts a pending workflow: its steps become claimable.';

-- pause_workflow(workflow_id) → workflows
--   running → paused: no step of it is claimed until resume_workflow; steps already running keep their
--   leases and may still complete or fail. Errors: PT404; PT409 "cannot pause workflow <id>: it is
--   <status>, not running". Callers: authenticated, service_role.
create or replace function public.pause_workflow(workflow_id uuid)
returns public.workflows
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  wf public.workflows := private.lock_workflow(pause_workflow.workflow_id);
begin
  if wf.status <> 'running' then
    raise exception 'cannot pause workflow %: it is %, not running', wf.id, wf.status using errcode = 'PT409';
  end if;
  update public.workflows w set status = 'paused' where w.id = wf.id returning * into wf;
  return wf;
end
$$;
comment on function public.pause_workflow(uuid) is 'Pauses a running workflow: no new claims until resume_workflow.';

-- resume_workflow(workflow_id) → workflows
--   paused → running. Errors: PT404; PT409 "cannot resume workflow <id>: it is <status>, not paused".
--   Callers: authenticated, service_role.
create or replace function public.resume_workflow(workflow_id uuid)
returns public.workflows
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  wf public.workflows := private.lock_workflow(resume_workflow.workflow_id);
begin
  if wf.status <> 'paused' then
    raise exception 'cannot resume workflow %: it is %, not paused', wf.id, wf.status using errcode = 'PT409';
  end if;
  update public.workflows w set status = 'running' where w.id = wf.id returning * into wf;
  return wf;
end
$$;
comment on function public.resume_workflow(uuid) is 'Resumes a paused workflow.';

-- cancel_workflow(workflow_id, reason default null) → workflows
--   pending, running or paused → cancelled (error = reason); its pending and running steps are
--   cancelled and their leases end (workers get PT409 on their next heartbeat or completion).
--   Errors: PT404; PT409 "cannot cancel workflow <id>: it is <status>, not pending, running or paused".
--   Callers: authenticated, service_role.
create or replace function public.cancel_workflow(workflow_id uuid, reason text default null)
returns public.workflows
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  wf public.workflows := private.lock_workflow(cancel_workflow.workflow_id);
begin
  if wf.status not in ('pending', 'running', 'paused') then
    raise exception 'cannot cancel workflow %: it is %, not pending, running or paused', wf.id, wf.status using errcode = 'PT409';
  end if;
  update public.workflow_steps s
     set status = 'cancelled', lease_owner = null, lease_id = null, lease_expires_at = null, finished_at = clock_timestamp()
   where s.workflow_id = wf.id and s.status in ('pending', 'running');
  update public.workflows w
     set status = 'cancelled', error = cancel_workflow.reason, finished_at = clock_timestamp()
   where w.id = wf.id returning * into wf;
  return wf;
end
$$;
comment on function public.cancel_workflow(uuid, text) is 'Cancels a workflow and its unfinished steps.';

-- get_workflow(workflow_id) → workflow_details
--   The workflow with its steps in position order. Errors: PT404 not found. Callers: authenticated,
--   service_role.
create or replace function public.get_workflow(workflow_id uuid)
returns public.workflow_details
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  wf public.workflows;
begin
  select * into wf from public.workflows w where w.id = get_workflow.workflow_id;
  if not found then
    perform private.workflow_not_found(get_workflow.workflow_id);
  end if;
  return row(wf, coalesce((select array_agg(s order by s.position) from public.workflow_steps s where s.workflow_id = wf.id), '{}'))
    ::public.workflow_details;
end
$$;
comment on function public.get_workflow(uuid) is 'One of the caller''s workflows with all its steps; PT404 when unknown or not theirs.';

-- claim_next_step(worker_id, lease_seconds default 60, workflow_id default null) → setof workflow_claim
--   (zero or one row)
--   Takes the next ready step — pending, its retry time reached, every dependency completed or skipped,
--   its workflow running — of the caller's workflows (of `workflow_id` only, when given), oldest
--   available first then by position, with FOR UPDATE SKIP LOCKED so concurrent workers never get the
--   same step. The step becomes running with attempts + 1 and a new lease: lease_owner = worker_id, a
--   fresh lease_id, expiry lease_seconds from now. A step with create_thread gets its memory thread on
--   its first claim (owned by the workflow's owner, named "<workflow> / <step>", metadata
--   {workflow_id, step_id}); retries keep it. Expired leases are taken back first (up to 10 per call).
--   No ready step → no row.
--   Errors: 22023 worker_id empty or over 200 characters / lease_seconds outside 1..86400.
--   Callers: authenticated, service_role (claims across all owners).
create or replace function public.claim_next_step(
  worker_id text,
  lease_seconds integer default 60,
  workflow_id uuid default null
)
returns setof public.workflow_claim
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  now_ts timestamptz := clock_timestamp();
  s public.workflow_steps;
  wf public.workflows;
  th public.memory_threads;
begin
  if claim_next_step.worker_id is null or char_length(claim_next_step.worker_id) not between 1 and 200 then
    raise exception 'worker_id must be a string of 1 to 200 characters' using errcode = '22023';
  end if;
  if claim_next_step.lease_seconds is null or claim_next_step.lease_seconds not between 1 and 86400 then
    raise exception 'lease_seconds must be between 1 and 86400 (got %)', coalesce(claim_next_step.lease_seconds::text, 'null')
      using errcode = '22023';
  end if;

  -- The common case has no expired lease: one index probe instead of the helper's locking loop.
  if exists (select from public.workflow_steps st where st.status = 'running' and st.lease_expires_at < now_ts) then
    perform private.expire_step_leases(10);
    now_ts := clock_timestamp();
  end if;

  -- One statement picks (SKIP LOCKED) and leases the step. The pick is a scalar subquery, so it runs
  -- once (an UPDATE ... FROM (... LIMIT 1 FOR UPDATE SKIP LOCKED) may be rescanned by the plan and lease
  -- several steps). now_ts is a variable, not clock_timestamp(), so the comparison is an index condition.
  -- The two branches differ only in the workflow filter, so each gets a plan that uses its index.
  if claim_next_step.workflow_id is null then
    update public.workflow_steps st
       set status = 'running', attempts = st.attempts + 1, lease_owner = claim_next_step.worker_id,
           lease_id = gen_random_uuid(), lease_seconds = claim_next_step.lease_seconds,
           lease_expires_at = clock_timestamp() + make_interval(secs => claim_next_step.lease_seconds),
           heartbeat_at = clock_timestamp(), started_at = coalesce(st.started_at, clock_timestamp())
     where st.id = (select c.id
                    from public.workflow_steps c
                    join public.workflows w on w.id = c.workflow_id
                   where c.status = 'pending'
                     and c.available_at <= now_ts
                     and w.status = 'running'
                     and (cardinality(c.depends_on) = 0
                          or not exists (select from public.workflow_steps d
                                          where d.id = any (c.depends_on) and d.status not in ('completed', 'skipped')))
                   order by c.available_at, c.position
                   limit 1
                     for update of c skip locked)
    returning st.* into s;
  else
    update public.workflow_steps st
       set status = 'running', attempts = st.attempts + 1, lease_owner = claim_next_step.worker_id,
           lease_id = gen_random_uuid(), lease_seconds = claim_next_step.lease_seconds,
           lease_expires_at = clock_timestamp() + make_interval(secs => claim_next_step.lease_seconds),
           heartbeat_at = clock_timestamp(), started_at = coalesce(st.started_at, clock_timestamp())
     where st.id = (select c.id
                    from public.workflow_steps c
                    join public.workflows w on w.id = c.workflow_id
                   where c.workflow_id = claim_next_step.workflow_id
                     and c.status = 'pending'
                     and c.available_at <= now_ts
                     and w.status = 'running'
                     and (cardinality(c.depends_on) = 0
                          or not exists (select from public.workflow_steps d
                                          where d.id = any (c.depends_on) and d.status not in ('completed', 'skipped')))
                   order by c.available_at, c.position
                   limit 1
                     for update of c skip locked)
    returning st.* into s;
  end if;
  if s.id is null then
    return;
  end if;

  select * into wf from public.workflows w where w.id = s.workflow_id;
  if s.create_thread then
    select * into th from public.memory_threads t where t.id = s.thread_id;
    if th.id is null then
      -- First claim (or its thread was deleted): the step's own thread, kept for its retries.
      insert into public.memory_threads (owner_id, agent_id, name, metadata)
      values (s.owner_id, s.agent_id, left(wf.name || ' / ' || s.name, 1000),
              jsonb_build_object('workflow_id', wf.id, 'step_id', s.id))
      returning * into th;
      update public.workflow_steps st set thread_id = th.id where st.id = s.id returning st.* into s;
    end if;
  end if;
  return next row(s, wf, th)::public.workflow_claim;
end
$$;
comment on function public.claim_next_step(text, integer, uuid) is
  'Claims the next ready step (FOR UPDATE SKIP LOCKED) with a lease; returns it with its workflow and thread, or no row.';

-- heartbeat_step(step_id, lease_id, lease_seconds default null) → workflow_steps
--   Extends the lease to lease_seconds (default: the claim's) from now and records the heartbeat. Only
--   the lease holder may. Errors: PT404 step not found; 22023 lease_id missing / lease_seconds outside
--   1..86400; PT409 not running (e.g. cancelled) or another lease. Callers: authenticated, service_role.
create or replace function public.heartbeat_step(step_id uuid, lease_id uuid, lease_seconds integer default null)
returns public.workflow_steps
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  s public.workflow_steps;
begin
  if heartbeat_step.lease_seconds is not null and heartbeat_step.lease_seconds not between 1 and 86400 then
    raise exception 'lease_seconds must be between 1 and 86400 (got %)', heartbeat_step.lease_seconds using errcode = '22023';
  end if;
  s := private.leased_step(heartbeat_step.step_id, heartbeat_step.lease_id, 'heartbeat', false);
  update public.workflow_steps st
     set lease_seconds = coalesce(heartbeat_step.lease_seconds, st.lease_seconds),
         lease_expires_at = clock_timestamp() + make_interval(secs => coalesce(heartbeat_step.lease_seconds, st.lease_seconds)),
         heartbeat_at = clock_timestamp()
   where st.id = s.id
  returning * into s;
  return s;
end
$$;
comment on function public.heartbeat_step(uuid, uuid, integer) is 'Extends the lease of a step the caller is running (lease holder only).';

-- complete_step(step_id, lease_id, output default null) → workflow_steps
--   running → completed with `output` (any JSON); the lease ends. When no step of the workflow is left
--   pending or running, the workflow completes. Errors: PT404; 22023 lease_id missing; PT409 "cannot
--   complete step <n> ...: it is <status>, not running" or another worker's lease. Callers:
--   authenticated, service_role.
create or replace function public.complete_step(step_id uuid, lease_id uuid, output jsonb default null)
returns public.workflow_steps
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  s public.workflow_steps := private.leased_step(complete_step.step_id, complete_step.lease_id, 'complete', true);
begin
  update public.workflow_steps st
     set status = 'completed', output = complete_step.output, finished_at = clock_timestamp(),
         lease_owner = null, lease_id = null, lease_expires_at = null
   where st.id = s.id
  returning * into s;
  perform private.settle_workflow(s.workflow_id);
  return s;
end
$$;
comment on function public.complete_step(uuid, uuid, jsonb) is
  'Completes a step the caller is running (lease holder only); the workflow completes with its last step.';

-- fail_step(step_id, lease_id, error, retry default true) → workflow_steps
--   Records `error` (cut to 10,000 characters). With retry and attempts < max_attempts the step goes back
--   to pending, claimable after backoff_seconds × 2^(attempts - 1) (at most backoff_max_seconds);
--   otherwise it fails, the workflow fails with 'step <n> ("<name>") failed after <k> attempt(s): <error>'
--   and its other unfinished steps are cancelled. The lease ends either way.
--   Errors: PT404; 22023 lease_id missing / error empty; PT409 not running or another lease.
--   Callers: authenticated, service_role.
create or replace function public.fail_step(step_id uuid, lease_id uuid, error text, retry boolean default true)
returns public.workflow_steps
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  s public.workflow_steps;
  msg text := left(fail_step.error, 10000);
begin
  if msg is null or msg !~ '\S' then
    raise exception 'error must be a non-empty string describing the failure' using errcode = '22023';
  end if;
  s := private.leased_step(fail_step.step_id, fail_step.lease_id, 'fail', true);
  if coalesce(fail_step.retry, true) and s.attempts < s.max_attempts then
    update public.workflow_steps st
       set status = 'pending', last_error = msg, available_at = clock_timestamp() + private.retry_delay(s),
           lease_owner = null, lease_id = null, lease_expires_at = null
     where st.id = s.id
    returning * into s;
  else
    update public.workflow_steps st
       set status = 'failed', last_error = msg, finished_at = clock_timestamp(),
           lease_owner = null, lease_id = null, lease_expires_at = null
     where st.id = s.id
    returning * into s;
    perform private.fail_workflow(s.workflow_id,
      format('step %s ("%s") failed after %s attempt(s): %s', s.position, s.name, s.attempts, msg));
  end if;
  return s;
end
$$;
comment on function public.fail_step(uuid, uuid, text, boolean) is
  'Fails an attempt of a step the caller is running: retried with exponential backoff until max_attempts, then the workflow fails.';

-- skip_step(step_id, lease_id default null, output default null) → workflow_steps
--   pending or running → skipped (with optional `output`, e.g. the reason). A running step may only be
--   skipped by its lease holder; a pending one by its owner without a lease. Skipped counts as done for
--   dependents and for completing the workflow.
--   Errors: PT404; PT409 finished step ("it is <status>, not pending or running") or another lease.
--   Callers: authenticated, service_role.
create or replace function public.skip_step(step_id uuid, lease_id uuid default null, output jsonb default null)
returns public.workflow_steps
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  wf uuid;
  s public.workflow_steps;
begin
  select st.workflow_id into wf from public.workflow_steps st where st.id = skip_step.step_id;
  if not found then
    raise exception 'workflow step % not found', skip_step.step_id using errcode = 'PT404';
  end if;
  perform private.lock_workflow(wf);
  select * into s from public.workflow_steps st where st.id = skip_step.step_id for update;
  if s.status not in ('pending', 'running') then
    raise exception 'cannot skip step % ("%") of workflow %: it is %, not pending or running', s.position, s.name, wf, s.status
      using errcode = 'PT409';
  end if;
  if s.status = 'running' then
    s := private.leased_step(skip_step.step_id, skip_step.lease_id, 'skip', false);
  end if;
  update public.workflow_steps st
     set status = 'skipped', output = skip_step.output, finished_at = clock_timestamp(),
         lease_owner = null, lease_id = null, lease_expires_at = null
   where st.id = s.id
  returning * into s;
  perform private.settle_workflow(wf);
  return s;
end
$$;
comment on function public.skip_step(uuid, uuid, jsonb) is
  'Skips a pending step (owner) or a running one (lease holder); skipped counts as done.';

revoke all on function
  public.create_workflow(text, jsonb, jsonb, boolean, uuid),
  public.add_workflow_steps(uuid, jsonb),
  public.add_workflow_step(uuid, text, jsonb, text[], integer, double precision, double precision, boolean, text, jsonb),
  public.start_workflow(uuid), public.pause_workflow(uuid), public.resume_workflow(uuid),
  public.cancel_workflow(uuid, text), public.get_workflow(uuid),
  public.claim_next_step(text, integer, uuid), public.heartbeat_step(uuid, uuid, integer),
  public.complete_step(uuid, uuid, jsonb), public.fail_step(uuid, uuid, text, boolean), public.skip_step(uuid, uuid, jsonb)
  from public, anon;
grant execute on function
  public.create_workflow(text, jsonb, jsonb, boolean, uuid),
  public.add_workflow_steps(uuid, jsonb),
  public.add_workflow_step(uuid, text, jsonb, text[], integer, double precision, double precision, boolean, text, jsonb),
  public.start_workflow(uuid), public.pause_workflow(uuid), public.resume_workflow(uuid),
  public.cancel_workflow(uuid, text), public.get_workflow(uuid),
  public.claim_next_step(text, integer, uuid), public.heartbeat_step(uuid, uuid, integer),
  public.complete_step(uuid, uuid, jsonb), public.fail_step(uuid, uuid, text, boolean), public.skip_step(uuid, uuid, jsonb)
  to authenticated, service_role;
