-- Workflows: the workflow and step state machines — every allowed transition through the RPCs, every
-- forbidden one refused with PT409 naming both states (through the RPCs and through direct table
-- writes), completion and failure of a workflow, row level security between users, anon refused, and
-- bad input named by field.
begin;
\ir helpers/test_helpers.psql
select plan(106);

select tests.create_supabase_user('alice');
select tests.create_supabase_user('bob');

-- pg_temp helpers: a step of a workflow by name, and the lease of the current claim of that step.
create function pg_temp.step(wf text, step_name text) returns public.workflow_steps
language sql as $$ select * from public.workflow_steps s where s.workflow_id = wf::uuid and s.name = step_name $$;
create function pg_temp.claim(worker text, wf text default null) returns text
language sql as $$ select (c.step).name from public.claim_next_step(worker, 60, wf::uuid) c $$;

select ok((select array_agg(tablename::text) from pg_publication_tables where pubname = 'supabase_realtime' and schemaname = 'public')
  @> array['workflow_steps', 'workflows'], 'workflows and their steps stream through supabase_realtime');

select tests.authenticate_as('alice');

-- ── creating and adding steps ──────────────────────────────────────────────────────────────────────
select set_config('test.w', (create_workflow('research', '{"topic": "otters"}')).id::text, true);
select results_eq($$ select status::text, name, metadata, started_at is null from workflows where id = current_setting('test.w')::uuid $$,
  $$ values ('pending', 'research', '{"topic": "otters"}'::jsonb, true) $$, 'create_workflow makes a pending workflow');
select results_eq(
  $$ select position, name, status::text, attempts, max_attempts from add_workflow_step(current_setting('test.w')::uuid, 'fetch', '{"url": "https://example.org"}') $$,
  $$ values (1, 'fetch', 'pending', 0, 3) $$, 'add_workflow_step adds step 1, pending, with no attempts and max_attempts 3');
select results_eq(
  $$ select position, name from add_workflow_step(current_setting('test.w')::uuid, 'summarise', depends_on => array['fetch'], max_attempts => 2) $$,
  $$ values (2, 'summarise') $$, 'the next step is numbered after the last one');
select is((pg_temp.step(current_setting('test.w'), 'summarise')).depends_on,
  array[(pg_temp.step(current_setting('test.w'), 'fetch')).id], 'depends_on names are stored as the steps'' ids');
select results_eq($$ select position, name from add_workflow_steps(current_setting('test.w')::uuid,
                       '[{"name": "report", "depends_on": ["summarise"]}, {"name": "notify", "depends_on": ["report"]}]') $$,
  $$ values (3, 'report'), (4, 'notify') $$, 'add_workflow_steps adds several steps in array order');

-- ── workflow transitions from pending ───────────────────────────────────────────────────────────────
select throws_ok($$ select pause_workflow(current_setting('test.w')::uuid) $$, 'PT409',
  format('cannot pause workflow %s: it is pending, not running', current_setting('test.w')), 'pending → paused is refused');
select throws_ok($$ select resume_workflow(current_setting('test.w')::uuid) $$, 'PT409',
  format('cannot resume workflow %s: it is pending, not paused', current_setting('test.w')), 'pending → running by resume is refused');
select is(pg_temp.claim('w1'), null, 'no step of a pending workflow can be claimed');
select set_config('test.empty', (create_workflow('empty')).id::text, true);
select throws_ok($$ select start_workflow(current_setting('test.empty')::uuid) $$, 'PT409',
  format('cannot start workflow %s: it has no steps', current_setting('test.empty')), 'a workflow without steps cannot start');

-- pending → running
select results_eq($$ select status::text, started_at is not null from start_workflow(current_setting('test.w')::uuid) $$,
  $$ values ('running', true) $$, 'start_workflow: pending → running');
select throws_ok($$ select start_workflow(current_setting('test.w')::uuid) $$, 'PT409',
  format('cannot start workflow %s: it is running, not pending', current_setting('test.w')), 'running → running by start is refused');
select throws_ok($$ select resume_workflow(current_setting('test.w')::uuid) $$, 'PT409',
  format('cannot resume workflow %s: it is running, not paused', current_setting('test.w')), 'resume of a running workflow is refused');

-- ── step transitions ───────────────────────────────────────────────────────────────────────────────
select throws_ok(
  format($$ select complete_step(%L, gen_random_uuid()) $$, (pg_temp.step(current_setting('test.w'), 'fetch')).id),
  'PT409', format('cannot complete step 1 ("fetch") of workflow %s: it is pending, not running', current_setting('test.w')),
  'pending → completed is refused');
select throws_ok(
  format($$ select fail_step(%L, gen_random_uuid(), 'nope') $$, (pg_temp.step(current_setting('test.w'), 'fetch')).id),
  'PT409', format('cannot fail step 1 ("fetch") of workflow %s: it is pending, not running', current_setting('test.w')),
  'pending → failed is refused');
select throws_ok(
  format($$ select heartbeat_step(%L, gen_random_uuid()) $$, (pg_temp.step(current_setting('test.w'), 'fetch')).id),
  'PT409', format('cannot heartbeat step 1 ("fetch") of workflow %s: it is pending, not running', current_setting('test.w')),
  'a pending step has no lease to heartbeat');

-- pending → running (claim): only a step whose dependencies are done
select is(pg_temp.claim('w1'), 'fetch', 'claim_next_step takes the only ready step');
select results_eq(
  $$ select status::text, attempts, lease_owner, lease_id is not null, lease_expires_at > clock_timestamp(), started_at is not null
       from workflow_steps where workflow_id = current_setting('test.w')::uuid and name = 'fetch' $$,
  $$ values ('running', 1, 'w1', true, true, true) $$, 'pending → running: one attempt, a lease for worker w1');
select is(pg_temp.claim('w2'), null, 'a step whose dependency is not completed is not claimable');

-- running → completed
select results_eq(
  format($$ select status::text, output, lease_id is null, finished_at is not null from complete_step(%L, %L, '{"pages": 3}') $$,
         (pg_temp.step(current_setting('test.w'), 'fetch')).id, (pg_temp.step(current_setting('test.w'), 'fetch')).lease_id),
  $$ values ('completed', '{"pages": 3}'::jsonb, true, true) $$, 'running → completed with its output; the lease ends');
select throws_ok(
  format($$ select complete_step(%L, gen_random_uuid()) $$, (pg_temp.step(current_setting('test.w'), 'fetch')).id),
  'PT409', format('cannot complete step 1 ("fetch") of workflow %s: it is completed, not running', current_setting('test.w')),
  'completed → completed is refused');
select throws_ok(
  format($$ select skip_step(%L) $$, (pg_temp.step(current_setting('test.w'), 'fetch')).id),
  'PT409', format('cannot skip step 1 ("fetch") of workflow %s: it is completed, not pending or running', current_setting('test.w')),
  'completed → skipped is refused');
select is((select status::text from workflows where id = current_setting('test.w')::uuid), 'running',
  'the workflow keeps running while steps are open');

-- running → pending (fail with attempts left), with backoff
select is(pg_temp.claim('w1'), 'summarise', 'the dependent step is claimable once its dependency completed');
select results_eq(
  format($$ select status::text, last_error, lease_id is null, round(extract(epoch from available_at - updated_at)) from fail_step(%L, %L, 'model timeout') $$,
         (pg_temp.step(current_setting('test.w'), 'summarise')).id, (pg_temp.step(current_setting('test.w'), 'summarise')).lease_id),
  $$ values ('pending', 'model timeout', true, 5::numeric) $$,
  'running → pending: a failed attempt with attempts left is retried after backoff_seconds (5 s)');
select is(pg_temp.claim('w1'), null, 'a step waiting for its retry time is not claimable');
update workflow_steps set available_at = clock_timestamp() - interval '1 second'
 where workflow_id = current_setting('test.w')::uuid and name = 'summarise';
select is(pg_temp.claim('w2'), 'summarise', 'after its retry time the step is claimed again');
select is((pg_temp.step(current_setting('test.w'), 'summarise')).attempts, 2, 'the second claim is attempt 2');

-- running → paused (workflow) while a step runs; the running step may still finish
select results_eq($$ select status::text from pause_workflow(current_setting('test.w')::uuid) $$, $$ values ('paused') $$,
  'pause_workflow: running → paused');
select throws_ok($$ select pause_workflow(current_setting('test.w')::uuid) $$, 'PT409',
  format('cannot pause workflow %s: it is paused, not running', current_setting('test.w')), 'paused → paused is refused');
select throws_ok($$ select start_workflow(current_setting('test.w')::uuid) $$, 'PT409',
  format('cannot start workflow %s: it is paused, not pending', current_setting('test.w')), 'start of a paused workflow is refused');
select results_eq(
  format($$ select status::text from heartbeat_step(%L, %L) $$,
         (pg_temp.step(current_setting('test.w'), 'summarise')).id, (pg_temp.step(current_setting('test.w'), 'summarise')).lease_id),
  $$ values ('running') $$, 'a step running when its workflow was paused keeps its lease (heartbeat works)');
select results_eq(
  format($$ select status::text from complete_step(%L, %L, '"short summary"') $$,
         (pg_temp.step(current_setting('test.w'), 'summarise')).id, (pg_temp.step(current_setting('test.w'), 'summarise')).lease_id),
  $$ values ('completed') $$, 'and may complete');
select is(pg_temp.claim('w1'), null, 'no step of a paused workflow is claimed');
-- paused → running
select results_eq($$ select status::text from resume_workflow(current_setting('test.w')::uuid) $$, $$ values ('running') $$,
  'resume_workflow: paused → running');
select is(pg_temp.claim('w1', current_setting('test.w')), 'report', 'claims continue after resume (claim_next_step by workflow_id)');

-- running → skipped (lease holder), pending → skipped (owner, no lease)
select throws_ok(
  format($$ select skip_step(%L) $$, (pg_temp.step(current_setting('test.w'), 'report')).id),
  '22023', 'lease_id is required: pass the lease_id claim_next_step returned with the step',
  'a running step cannot be skipped without its lease');
select results_eq(
  format($$ select status::text, output from skip_step(%L, %L, '{"reason": "nothing new"}') $$,
         (pg_temp.step(current_setting('test.w'), 'report')).id, (pg_temp.step(current_setting('test.w'), 'report')).lease_id),
  $$ values ('skipped', '{"reason": "nothing new"}'::jsonb) $$, 'running → skipped by the lease holder');
select results_eq(
  format($$ select status::text from skip_step(%L) $$, (pg_temp.step(current_setting('test.w'), 'notify')).id),
  $$ values ('skipped') $$, 'pending → skipped by the owner, without a lease');

-- running → completed (workflow): every step completed or skipped
select results_eq($$ select status::text, finished_at is not null from workflows where id = current_setting('test.w')::uuid $$,
  $$ values ('completed', true) $$, 'the workflow completes when every step is completed or skipped');
select throws_ok($$ select pause_workflow(current_setting('test.w')::uuid) $$, 'PT409',
  format('cannot pause workflow %s: it is completed, not running', current_setting('test.w')), 'completed → paused is refused');
select throws_ok($$ select cancel_workflow(current_setting('test.w')::uuid) $$, 'PT409',
  format('cannot cancel workflow %s: it is completed, not pending, running or paused', current_setting('test.w')),
  'completed → cancelled is refused');
select throws_ok($$ select add_workflow_step(current_setting('test.w')::uuid, 'late') $$, 'PT409',
  format('cannot add a step to workflow %s: it is completed', current_setting('test.w')), 'a finished workflow takes no new step');
select results_eq(
  $$ select (g.workflow).status::text, array(select s.name || ':' || s.status from unnest(g.steps) s) from get_workflow(current_setting('test.w')::uuid) g $$,
  $$ values ('completed', array['fetch:completed', 'summarise:completed', 'report:skipped', 'notify:skipped']) $$,
  'get_workflow returns the workflow with its steps in position order');

-- ── direct table writes follow the same state machines ─────────────────────────────────────────────
select throws_ok($$ update workflows set status = 'running' where id = current_setting('test.w')::uuid $$, 'PT409',
  format('workflow %s cannot go from completed to running', current_setting('test.w')), 'a direct update cannot reopen a workflow');
select throws_ok($$ update workflow_steps set status = 'pending' where workflow_id = current_setting('test.w')::uuid and name = 'fetch' $$,
  'PT409', 'workflow step 1 ("fetch") cannot go from completed to pending', 'a direct update cannot reopen a step');
select throws_ok($$ update workflow_steps set depends_on = '{}' where workflow_id = current_setting('test.w')::uuid and name = 'summarise' $$,
  '22023', 'a workflow step''s id, workflow_id, owner_id, position, name, depends_on and created_at cannot be changed',
  'dependencies cannot be rewritten (so no cycle can be made after the fact)');
select throws_ok($$ insert into workflows (name, status) values ('sneaky', 'running') $$, '22023',
  'a new workflow starts as pending, not running', 'a workflow cannot be inserted already running');
select throws_ok(
  format($$ insert into workflow_steps (workflow_id, name, depends_on) values (%L, 'ghost', array[gen_random_uuid()]) $$, current_setting('test.empty')),
  '22023', null, 'a direct insert cannot depend on a step outside the workflow');

-- ── failing: running → failed (step), running → failed (workflow), pending/running → cancelled (steps) ─
select set_config('test.f', (create_workflow('flaky', steps => '[{"name": "call", "max_attempts": 2, "backoff_seconds": 0},
  {"name": "parallel"}, {"name": "after", "depends_on": ["call"]}]', start => true)).id::text, true);
select is(pg_temp.claim('w1', current_setting('test.f')), 'call', 'claim attempt 1');
select is(pg_temp.claim('w2', current_setting('test.f')), 'parallel', 'an independent step runs in parallel');
select results_eq(
  format($$ select status::text, attempts, available_at <= clock_timestamp() from fail_step(%L, %L, 'boom 1') $$,
         (pg_temp.step(current_setting('test.f'), 'call')).id, (pg_temp.step(current_setting('test.f'), 'call')).lease_id),
  $$ values ('pending', 1, true) $$, 'with backoff_seconds 0 the retry is due at once');
select is(pg_temp.claim('w1', current_setting('test.f')), 'call', 'claim attempt 2');
select results_eq(
  format($$ select status::text, attempts, last_error, finished_at is not null from fail_step(%L, %L, 'boom 2') $$,
         (pg_temp.step(current_setting('test.f'), 'call')).id, (pg_temp.step(current_setting('test.f'), 'call')).lease_id),
  $$ values ('failed', 2, 'boom 2', true) $$, 'running → failed at max_attempts');
select results_eq($$ select status::text, error from workflows where id = current_setting('test.f')::uuid $$,
  $$ values ('failed', 'step 1 ("call") failed after 2 attempt(s): boom 2') $$, 'running → failed: the workflow fails with the step''s error');
select results_eq($$ select name, status::text, lease_id is null from workflow_steps where workflow_id = current_setting('test.f')::uuid and name <> 'call' order by position $$,
  $$ values ('parallel', 'cancelled', true), ('after', 'cancelled', true) $$,
  'its other running and pending steps are cancelled (running → cancelled, pending → cancelled)');
select throws_ok(
  format($$ select heartbeat_step(%L, %L) $$, (pg_temp.step(current_setting('test.f'), 'parallel')).id, gen_random_uuid()),
  'PT409', format('cannot heartbeat step 2 ("parallel") of workflow %s: it is cancelled, not running', current_setting('test.f')),
  'the worker of a cancelled step learns it on its next heartbeat');
select throws_ok($$ select resume_workflow(current_setting('test.f')::uuid) $$, 'PT409',
  format('cannot resume workflow %s: it is failed, not paused', current_setting('test.f')), 'failed is final');
select throws_ok($$ update workflow_steps set status = 'running' where workflow_id = current_setting('test.f')::uuid and name = 'call' $$,
  'PT409', 'workflow step 1 ("call") cannot go from failed to running', 'failed is final for a step');

-- fail_step without retry fails at once; paused → failed
select set_config('test.g', (create_workflow('no-retry', steps => '[{"name": "only", "max_attempts": 5}]', start => true)).id::text, true);
select is(pg_temp.claim('w1', current_setting('test.g')), 'only', 'claimed');
select pause_workflow(current_setting('test.g')::uuid);
select results_eq(
  format($$ select status::text, attempts from fail_step(%L, %L, 'bad input, retrying will not help', retry => false) $$,
         (pg_temp.step(current_setting('test.g'), 'only')).id, (pg_temp.step(current_setting('test.g'), 'only')).lease_id),
  $$ values ('failed', 1) $$, 'retry => false fails the step at once, attempts left or not');
select is((select status::text from workflows where id = current_setting('test.g')::uuid), 'failed', 'paused → failed');

-- paused → completed
select set_config('test.h', (create_workflow('pause-then-done', steps => '[{"name": "only"}]', start => true)).id::text, true);
select is(pg_temp.claim('w1', current_setting('test.h')), 'only', 'claimed');
select pause_workflow(current_setting('test.h')::uuid);
select complete_step((pg_temp.step(current_setting('test.h'), 'only')).id, (pg_temp.step(current_setting('test.h'), 'only')).lease_id);
select is((select status::text from workflows where id = current_setting('test.h')::uuid), 'completed',
  'paused → completed when its last running step completes');

-- cancelling: pending → cancelled, running → cancelled, paused → cancelled
select results_eq($$ select status::text from cancel_workflow(current_setting('test.empty')::uuid, 'not needed') $$,
  $$ values ('cancelled') $$, 'pending → cancelled');
select is((select error from workflows where id = current_setting('test.empty')::uuid), 'not needed', 'the reason is kept');
select throws_ok($$ select start_workflow(current_setting('test.empty')::uuid) $$, 'PT409',
  format('cannot start workflow %s: it is cancelled, not pending', current_setting('test.empty')), 'cancelled is final');
select throws_ok($$ select cancel_workflow(current_setting('test.empty')::uuid) $$, 'PT409',
  format('cannot cancel workflow %s: it is cancelled, not pending, running or paused', current_setting('test.empty')),
  'cancelled → cancelled is refused');
select set_config('test.c', (create_workflow('to-cancel', steps => '[{"name": "a"}, {"name": "b"}]', start => true)).id::text, true);
select is(pg_temp.claim('w1', current_setting('test.c')), 'a', 'claimed');
select results_eq($$ select status::text from cancel_workflow(current_setting('test.c')::uuid) $$, $$ values ('cancelled') $$,
  'running → cancelled');
select results_eq($$ select name, status::text, lease_id is null from workflow_steps where workflow_id = current_setting('test.c')::uuid order by position $$,
  $$ values ('a', 'cancelled', true), ('b', 'cancelled', true) $$, 'its running and pending steps are cancelled and lose their leases');
select throws_ok(
  format($$ select complete_step(%L, gen_random_uuid()) $$, (pg_temp.step(current_setting('test.c'), 'a')).id),
  'PT409', format('cannot complete step 1 ("a") of workflow %s: it is cancelled, not running', current_setting('test.c')),
  'a cancelled step cannot be completed');
select set_config('test.p', (create_workflow('paused-cancel', steps => '[{"name": "a"}]', start => true)).id::text, true);
select pause_workflow(current_setting('test.p')::uuid);
select results_eq($$ select status::text from cancel_workflow(current_setting('test.p')::uuid) $$, $$ values ('cancelled') $$,
  'paused → cancelled');

-- ── skip before start; a workflow whose steps are all skipped completes on start ───────────────────
select set_config('test.s', (create_workflow('all-skipped', steps => '[{"name": "a"}]')).id::text, true);
select skip_step((pg_temp.step(current_setting('test.s'), 'a')).id);
select results_eq($$ select status::text from start_workflow(current_setting('test.s')::uuid) $$, $$ values ('completed') $$,
  'starting a workflow whose steps are all skipped completes it at once');

-- ── row level security ─────────────────────────────────────────────────────────────────────────────
select set_config('test.open', (create_workflow('alice-open', steps => '[{"name": "secret"}]', start => true)).id::text, true);
select set_config('test.secret', (pg_temp.step(current_setting('test.open'), 'secret')).id::text, true);
select tests.authenticate_as('bob');
select is_empty($$ select 1 from workflows where owner_id = tests.get_supabase_uid('alice') $$, 'Bob cannot read Alice''s workflows');
select is_empty($$ select 1 from workflow_steps where owner_id = tests.get_supabase_uid('alice') $$, 'Bob cannot read Alice''s steps');
select throws_ok($$ select get_workflow(current_setting('test.open')::uuid) $$, 'PT404',
  format('workflow %s not found', current_setting('test.open')), 'Alice''s workflow is "not found" for Bob');
select throws_ok($$ select cancel_workflow(current_setting('test.open')::uuid) $$, 'PT404', null, 'Bob cannot cancel it');
select throws_ok($$ select pause_workflow(current_setting('test.open')::uuid) $$, 'PT404', null, 'Bob cannot pause it');
select throws_ok($$ select add_workflow_step(current_setting('test.open')::uuid, 'mine') $$, 'PT404', null, 'Bob cannot add steps to it');
select is((select count(*)::int from claim_next_step('bob-worker')), 0, 'Bob''s worker does not claim Alice''s ready step');
select throws_ok($$ select skip_step(current_setting('test.secret')::uuid) $$, 'PT404',
  format('workflow step %s not found', current_setting('test.secret')), 'Alice''s step is "not found" for Bob');
select is_empty($$ update workflow_steps set metadata = '{"x": 1}' where id = current_setting('test.secret')::uuid returning 1 $$,
  'Bob''s direct update of Alice''s step changes nothing');
select throws_ok(format($$ insert into workflow_steps (workflow_id, name) values (%L, 'intruder') $$, current_setting('test.open')),
  'PT404', null, 'Bob cannot insert a step into Alice''s workflow');
select throws_ok(format($$ select create_workflow('forged', owner_id => %L) $$, tests.get_supabase_uid('alice')),
  '42501', null, 'Bob cannot create a workflow owned by Alice');

select tests.clear_authentication();
select throws_ok($$ select create_workflow('anon') $$, '42501', null, 'anon cannot create workflows');
select throws_ok($$ select claim_next_step('anon-worker') $$, '42501', null, 'anon cannot claim steps');
select throws_ok($$ select * from workflow_steps $$, '42501', null, 'anon cannot read workflow steps');

select tests.authenticate_as_service_role();
select is((select (c.step).name from claim_next_step('service-worker', 30, current_setting('test.open')::uuid) c), 'secret',
  'service_role claims steps of any owner');
select throws_ok($$ select create_workflow('ownerless') $$, '22023', 'owner_id is required when no user is signed in',
  'service_role must name the owner');
select is((select owner_id from create_workflow('for alice', owner_id => tests.get_supabase_uid('alice'))), tests.get_supabase_uid('alice'),
  'service_role creates a workflow for a user');

-- ── bad input ──────────────────────────────────────────────────────────────────────────────────────
select tests.authenticate_as('alice');
select throws_ok($$ select create_workflow('') $$, '22023', 'name must be a string of 1 to 200 characters', 'an empty name is refused');
select throws_ok($$ select create_workflow('x', '[]') $$, '22023', 'metadata must be a JSON object (got array)', 'metadata must be an object');
select throws_ok($$ select create_workflow('x', steps => '{"name": "a"}') $$, '22023', 'steps must be a JSON array of step objects (got object)',
  'steps must be an array');
select throws_ok($$ select create_workflow('x', steps => '[{"name": "a", "retries": 3}]') $$, '22023', 'steps[0] has unknown field(s): retries',
  'an unknown step field is named');
select throws_ok($$ select create_workflow('x', steps => '[{"name": "a"}, {"name": "b", "max_attempts": 0}]') $$, '22023',
  'steps[1].max_attempts must be a whole number between 1 and 100 (got 0)', 'max_attempts out of range names the step');
select throws_ok($$ select create_workflow('x', steps => '[{"name": "a", "backoff_seconds": -1}]') $$, '22023',
  'steps[0].backoff_seconds must be a number between 0 and 86400 (got -1)', 'a negative backoff is refused');
select throws_ok($$ select create_workflow('x', steps => '[{"name": "a", "depends_on": "b"}]') $$, '22023',
  'steps[0].depends_on must be an array of step names', 'depends_on must be an array');
select throws_ok($$ select add_workflow_step(current_setting('test.open')::uuid, 'b', max_attempts => 101) $$, '22023',
  'max_attempts must be a whole number between 1 and 100 (got 101)', 'add_workflow_step names its argument');
select throws_ok($$ select add_workflow_step(current_setting('test.open')::uuid, 'secret') $$, 'PT409',
  format('workflow %s already has a step named "secret"', current_setting('test.open')), 'a step name is unique within its workflow');
select throws_ok($$ select claim_next_step('w', 0) $$, '22023', 'lease_seconds must be between 1 and 86400 (got 0)', 'lease_seconds must be positive');
select throws_ok($$ select claim_next_step('') $$, '22023', 'worker_id must be a string of 1 to 200 characters', 'worker_id is required');
select throws_ok($$ select fail_step(current_setting('test.secret')::uuid, gen_random_uuid(), ' ') $$, '22023',
  'error must be a non-empty string describing the failure', 'fail_step needs an error');
select throws_ok($$ select get_workflow('00000000-0000-0000-0000-000000000000') $$, 'PT404',
  'workflow 00000000-0000-0000-0000-000000000000 not found', 'an unknown workflow is not found');
select throws_ok($$ select complete_step('00000000-0000-0000-0000-000000000000', gen_random_uuid()) $$, 'PT404',
  'workflow step 00000000-0000-0000-0000-000000000000 not found', 'an unknown step is not found');
select is((select count(*)::int from workflows where name in ('', 'x')), 0, 'refused calls wrote nothing');

select * from finish();
rollback;
