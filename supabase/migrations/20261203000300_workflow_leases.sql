-- Taking back expired leases: a worker that crashed, hung or lost its network stops heartbeating, its
-- step's lease runs out, and the step goes back to pending (after the step's backoff, as a failed attempt)
-- so another worker claims it — the run resumes at that step, and the steps already completed stay
-- completed. An expired lease counts as an attempt: a step whose worker dies max_attempts times fails
-- (and with it the workflow) instead of crashing workers forever.
--
-- claim_next_step takes back up to 10 expired leases of the caller's workflows before it claims, so a
-- worker never waits for the sweep; the cron job 'workflow-leases' (every 5 seconds) sweeps everyone's,
-- so a workflow nobody is claiming for still shows its expired steps as pending.

-- private.expire_step_leases(max_steps integer) → integer
--   For up to max_steps running steps whose lease expired (oldest expiry first, rows locked elsewhere
--   skipped): with attempts left → pending, claimable after the backoff, last_error 'lease of worker "<w>"
--   expired at <t> (attempt <k> of <max>)'; at max_attempts → failed, and the workflow fails with its
--   other unfinished steps cancelled (a workflow row locked elsewhere is left for the next sweep).
--   Returns how many steps it took back. Runs as the caller, so row level security limits it to the
--   caller's workflows. Callers: claim_next_step, util.sweep_workflow_leases.
create or replace function private.expire_step_leases(max_steps integer)
returns integer
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  s public.workflow_steps;
  now_ts timestamptz := clock_timestamp();
  msg text;
  taken integer := 0;
begin
  for s in
    select * from public.workflow_steps st
     where st.status = 'running' and st.lease_expires_at < now_ts
     order by st.lease_expires_at
     limit max_steps
       for update skip locked
  loop
    msg := format('lease of worker "%s" expired at %s (attempt %s of %s)', s.lease_owner, s.lease_expires_at,
                  s.attempts, s.max_attempts);
    if s.attempts >= s.max_attempts then
      -- Failing the workflow needs its row; never wait for it here (see the lock order in the API migration).
      perform from public.workflows w where w.id = s.workflow_id for no key update skip locked;
      continue when not found;
      update public.workflow_steps st
         set status = 'failed', last_error = msg, finished_at = clock_timestamp(),
             lease_owner = null, lease_id = null, lease_expires_at = null
       where st.id = s.id;
      perform private.fail_workflow(s.workflow_id,
        format('step %s ("%s") failed after %s attempt(s): %s', s.position, s.name, s.attempts, msg));
    else
      update public.workflow_steps st
         set status = 'pending', last_error = msg, available_at = clock_timestamp() + private.retry_delay(s),
             lease_owner = null, lease_id = null, lease_expires_at = null
       where st.id = s.id;
    end if;
    taken := taken + 1;
  end loop;
  return taken;
end
$$;
revoke all on function private.expire_step_leases(integer) from public, anon;
grant execute on function private.expire_step_leases(integer) to authenticated, service_role;

-- util.sweep_workflow_leases(batch_size default 1000) → integer
--   The cron job's body: takes back up to batch_size expired leases of all users' workflows (see
--   private.expire_step_leases) and returns how many. Raises 22023 for a batch_size outside 1..100000.
--   Callers: the cron job (postgres, which owns the tables), service_role.
create or replace function util.sweep_workflow_leases(batch_size integer default 1000)
returns integer
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  if batch_size is null or batch_size not between 1 and 100000 then
    raise exception 'batch_size must be between 1 and 100000 (got %)', coalesce(batch_size::text, 'null') using errcode = '22023';
  end if;
  return private.expire_step_leases(batch_size);
end
$$;
revoke all on function util.sweep_workflow_leases(integer) from public, anon, authenticated;
grant execute on function util.sweep_workflow_leases(integer) to service_role;

-- Every 5 seconds: lease expiry is detected within lease_seconds + 5 s even when nobody claims. (Change
-- it with cron.alter_job; claim_next_step does not depend on it.)
select cron.schedule('workflow-leases', '5 seconds', 'select util.sweep_workflow_leases()');
