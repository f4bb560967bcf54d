-- Workflow dependencies and leases: dependency cycles and unknown dependencies refused at add time (and
-- nothing written), forward references inside one batch, claim order; leases held by one worker refuse
-- the others (PT409), heartbeats extend them, an expired lease sends the step back to pending (an
-- attempt, with backoff) where another worker claims it and the first one's late result is refused;
-- expiry at max_attempts fails the workflow; exponential backoff; a step's memory thread is created on
-- its first claim and kept across retries.
begin;
\ir helpers/test_helpers.psql
select plan(40);

select tests.create_supabase_user('alice');
create function pg_temp.step(wf text, step_name text) returns public.workflow_steps
language sql as $$ select * from public.workflow_steps s where s.workflow_id = wf::uuid and s.name = step_name $$;
create function pg_temp.claim(worker text, wf text) returns text
language sql as $$ select (c.step).name from public.claim_next_step(worker, 60, wf::uuid) c $$;
-- The lease of a step ran out (as if its worker stopped heartbeating lease_seconds ago).
create function pg_temp.expire(wf text, step_name text) returns void
language sql as $$ update public.workflow_steps s set lease_expires_at = clock_timestamp() - interval '1 second'
                    where s.workflow_id = wf::uuid and s.name = step_name $$;

select tests.authenticate_as('alice');

-- ── dependencies ───────────────────────────────────────────────────────────────────────────────────
select throws_ok($$ select create_workflow('cycle', steps => '[{"name": "a", "depends_on": ["c"]},
    {"name": "b", "depends_on": ["a"]}, {"name": "c", "depends_on": ["b"]}]') $$,
  '22023', 'steps: dependency cycle "a" → "c" → "b" → "a"', 'a cycle inside one batch is refused and shown');
select is((select count(*)::int from workflows where name = 'cycle'), 0, 'the refused workflow was not created (nothing half-written)');
select throws_ok($$ select create_workflow('two', steps => '[{"name": "a", "depends_on": ["b"]}, {"name": "b", "depends_on": ["a"]}]') $$,
  '22023', 'steps: dependency cycle "a" → "b" → "a"', 'a two-step cycle is refused');
select set_config('test.w', (create_workflow('deps')).id::text, true);
select throws_ok($$ select add_workflow_step(current_setting('test.w')::uuid, 'self', depends_on => array['self']) $$,
  '22023', 'depends_on: dependency cycle "self" → "self"', 'a step depending on itself is a cycle');
select throws_ok($$ select add_workflow_step(current_setting('test.w')::uuid, 'late', depends_on => array['nope']) $$,
  '22023', format('depends_on: workflow %s has no step named "nope"', current_setting('test.w')), 'an unknown dependency is refused');
select throws_ok($$ select add_workflow_steps(current_setting('test.w')::uuid, '[{"name": "x"}, {"name": "y", "depends_on": ["x", "ghost"]}]') $$,
  '22023', format('steps[1].depends_on: workflow %s has no step named "ghost"', current_setting('test.w')),
  'an unknown dependency in a batch names the step');
select is((select count(*)::int from workflow_steps where workflow_id = current_setting('test.w')::uuid), 0,
  'refused adds wrote no step');

-- Forward references inside a batch are fine; rows are stored dependencies first, positions in array order.
select results_eq($$ select position, name from add_workflow_steps(current_setting('test.w')::uuid,
    '[{"name": "publish", "depends_on": ["draft", "review"]}, {"name": "review", "depends_on": ["draft"]}, {"name": "draft"}]') $$,
  $$ values (1, 'publish'), (2, 'review'), (3, 'draft') $$, 'a batch may name steps that come later in it');
select results_eq($$ select name, cardinality(depends_on) from add_workflow_step(current_setting('test.w')::uuid, 'announce', depends_on => array['publish']) $$,
  $$ values ('announce', 1) $$, 'a later step may depend on an earlier batch''s step');
select throws_ok($$ select add_workflow_steps(current_setting('test.w')::uuid, '[{"name": "z1", "depends_on": ["z2"]}, {"name": "z2", "depends_on": ["z1", "draft"]}]') $$,
  '22023', 'steps: dependency cycle "z1" → "z2" → "z1"', 'a cycle among new steps is found next to existing ones');
select start_workflow(current_setting('test.w')::uuid);
select is(pg_temp.claim('w', current_setting('test.w')), 'draft', 'only the step without open dependencies is ready, whatever its position');
select complete_step((pg_temp.step(current_setting('test.w'), 'draft')).id, (pg_temp.step(current_setting('test.w'), 'draft')).lease_id);
select is(pg_temp.claim('w', current_setting('test.w')), 'review', 'then the one that waited only for it');
select is(pg_temp.claim('w', current_setting('test.w')), null, 'a step with one dependency still running waits');
select skip_step((pg_temp.step(current_setting('test.w'), 'review')).id, (pg_temp.step(current_setting('test.w'), 'review')).lease_id);
select is(pg_temp.claim('w', current_setting('test.w')), 'publish', 'a skipped dependency counts as done');

-- Claim order: oldest available first, then position.
select set_config('test.o', (create_workflow('order', steps => '[{"name": "s1"}, {"name": "s2"}, {"name": "s3"}]', start => true)).id::text, true);
select results_eq($$ select pg_temp.claim('w', current_setting('test.o')) union all select pg_temp.claim('w', current_setting('test.o'))
                     union all select pg_temp.claim('w', current_setting('test.o')) $$,
  $$ values ('s1'), ('s2'), ('s3') $$, 'independent steps are claimed in position order');

-- ── leases ─────────────────────────────────────────────────────────────────────────────────────────
select set_config('test.l', (create_workflow('leases', steps => '[{"name": "work", "max_attempts": 2, "backoff_seconds": 0, "create_thread": true, "agent_id": "researcher"}]', start => true)).id::text, true);
select set_config('test.lease1', (c.step).lease_id::text, true), set_config('test.thread1', (c.thread).id::text, true)
  from claim_next_step('worker-1', 30, current_setting('test.l')::uuid) c;
select set_config('test.sid', (pg_temp.step(current_setting('test.l'), 'work')).id::text, true);
select results_eq($$ select agent_id, name, metadata ->> 'step_id' from memory_threads where id = current_setting('test.thread1')::uuid $$,
  $$ values ('researcher', 'leases / work', current_setting('test.sid')) $$, 'the step''s memory thread is created on its first claim');
select results_eq($$ select lease_seconds, round(extract(epoch from lease_expires_at - heartbeat_at)) from workflow_steps where id = current_setting('test.sid')::uuid $$,
  $$ values (30, 30::numeric) $$, 'the lease lasts lease_seconds');
select throws_ok($$ select complete_step(current_setting('test.sid')::uuid, gen_random_uuid()) $$, 'PT409', null,
  'another lease cannot complete the step');
select throws_ok($$ select heartbeat_step(current_setting('test.sid')::uuid, '00000000-0000-0000-0000-000000000009') $$, 'PT409',
  format('cannot heartbeat step 1 ("work") of workflow %s: it is leased to worker "worker-1" under lease %s, not lease 00000000-0000-0000-0000-000000000009',
         current_setting('test.l'), current_setting('test.lease1')),
  'another lease cannot heartbeat it; the error names the holder');
select throws_ok($$ select heartbeat_step(current_setting('test.sid')::uuid, null) $$, '22023', null, 'a heartbeat needs the lease_id');
select throws_ok($$ select heartbeat_step(current_setting('test.sid')::uuid, current_setting('test.lease1')::uuid, 0) $$, '22023',
  'lease_seconds must be between 1 and 86400 (got 0)', 'a heartbeat cannot shorten the lease to nothing');
update workflow_steps set lease_expires_at = clock_timestamp() + interval '1 second' where id = current_setting('test.sid')::uuid;
select results_eq($$ select lease_seconds, lease_expires_at > clock_timestamp() + interval '100 seconds'
                       from heartbeat_step(current_setting('test.sid')::uuid, current_setting('test.lease1')::uuid, 120) $$,
  $$ values (120, true) $$, 'the lease holder''s heartbeat extends the lease');

-- Expired, not yet taken back: still the holder's.
select pg_temp.expire(current_setting('test.l'), 'work');
select results_eq($$ select status::text from heartbeat_step(current_setting('test.sid')::uuid, current_setting('test.lease1')::uuid) $$,
  $$ values ('running') $$, 'until the sweep runs, an expired lease still belongs to its worker (a late heartbeat renews it)');

-- Expired and swept: back to pending, claimed again by another worker.
select pg_temp.expire(current_setting('test.l'), 'work');
select tests.authenticate_as_service_role();
select is(util.sweep_workflow_leases(), 1, 'the sweep (service_role, or the cron job) takes back the expired lease');
select tests.authenticate_as('alice');
select results_eq($$ select status::text, lease_id is null, attempts, last_error like 'lease of worker "worker-1" expired at % (attempt 1 of 2)'
                       from workflow_steps where id = current_setting('test.sid')::uuid $$,
  $$ values ('pending', true, 1, true) $$, 'running → pending: the expired attempt is recorded');
select throws_ok($$ select complete_step(current_setting('test.sid')::uuid, current_setting('test.lease1')::uuid, '"late"') $$, 'PT409',
  format('cannot complete step 1 ("work") of workflow %s: it is pending, not running', current_setting('test.l')),
  'the old worker cannot complete a step that went back to pending');
select set_config('test.lease2', (c.step).lease_id::text, true), set_config('test.thread2', (c.thread).id::text, true)
  from claim_next_step('worker-2', 30, current_setting('test.l')::uuid) c;
select is(current_setting('test.thread2'), current_setting('test.thread1'), 'the retry keeps the step''s memory thread');
select isnt(current_setting('test.lease2'), current_setting('test.lease1'), 'the new claim has a new lease');
select throws_ok($$ select complete_step(current_setting('test.sid')::uuid, current_setting('test.lease1')::uuid, '"late"') $$, 'PT409',
  format('cannot complete step 1 ("work") of workflow %s: it is leased to worker "worker-2" under lease %s, not lease %s',
         current_setting('test.l'), current_setting('test.lease2'), current_setting('test.lease1')),
  'the old worker''s late result is refused once another worker holds the step');
select results_eq($$ select status::text, output from complete_step(current_setting('test.sid')::uuid, current_setting('test.lease2')::uuid, '"done by 2"') $$,
  $$ values ('completed', '"done by 2"'::jsonb) $$, 'the new holder completes it');
select results_eq($$ select status::text from workflows where id = current_setting('test.l')::uuid $$, $$ values ('completed') $$,
  'and the workflow completes, with exactly one result');

-- claim_next_step takes expired leases back itself, without waiting for the sweep.
select set_config('test.e', (create_workflow('self-heal', steps => '[{"name": "only", "backoff_seconds": 0}]', start => true)).id::text, true);
select pg_temp.claim('worker-1', current_setting('test.e'));
select pg_temp.expire(current_setting('test.e'), 'only');
select results_eq($$ select (c.step).name, (c.step).attempts, (c.step).lease_owner from claim_next_step('worker-3', 30, current_setting('test.e')::uuid) c $$,
  $$ values ('only', 2, 'worker-3') $$, 'a claim after expiry takes the step back and hands it to the new worker');

-- An expired lease at max_attempts fails the step and the workflow.
select set_config('test.x', (create_workflow('crashes', steps => '[{"name": "poison", "max_attempts": 1}, {"name": "other"}]', start => true)).id::text, true);
select pg_temp.claim('worker-1', current_setting('test.x'));
select pg_temp.expire(current_setting('test.x'), 'poison');
select tests.authenticate_as_service_role();
select is(util.sweep_workflow_leases(), 1, 'swept');
select tests.authenticate_as('alice');
select results_eq($$ select name, status::text from workflow_steps where workflow_id = current_setting('test.x')::uuid order by position $$,
  $$ values ('poison', 'failed'), ('other', 'cancelled') $$, 'running → failed when the last attempt''s lease expires');
select ok((select status = 'failed' and error like 'step 1 ("poison") failed after 1 attempt(s): lease of worker "worker-1" expired at %'
             from workflows where id = current_setting('test.x')::uuid), 'the workflow fails, saying why');
select tests.authenticate_as_service_role();
select is(util.sweep_workflow_leases(), 0, 'nothing left to sweep');
select tests.authenticate_as('alice');

-- Exponential backoff: backoff_seconds × 2^(attempt - 1), capped at backoff_max_seconds.
select set_config('test.b', (create_workflow('backoff', steps => '[{"name": "retry", "max_attempts": 5, "backoff_seconds": 10, "backoff_max_seconds": 25}]', start => true)).id::text, true);
create function pg_temp.fail_and_delay(wf text) returns numeric
language plpgsql as $$
declare s public.workflow_steps;
begin
  update public.workflow_steps st set available_at = clock_timestamp() - interval '1 second' where st.workflow_id = wf::uuid;
  perform pg_temp.claim('w', wf);
  s := pg_temp.step(wf, 'retry');
  s := public.fail_step(s.id, s.lease_id, 'again');
  return round(extract(epoch from s.available_at - s.updated_at));
end $$;
select results_eq($$ select pg_temp.fail_and_delay(current_setting('test.b')) union all select pg_temp.fail_and_delay(current_setting('test.b'))
                     union all select pg_temp.fail_and_delay(current_setting('test.b')) $$,
  $$ values (10::numeric), (20::numeric), (25::numeric) $$, 'retries wait 10 s, 20 s, then the 25 s cap');

-- The sweep as a cron job.
select tests.authenticate_as_owner();
select results_eq($$ select schedule, command from cron.job where jobname = 'workflow-leases' $$,
  $$ values ('5 seconds', 'select util.sweep_workflow_leases()') $$, 'a cron job sweeps expired leases every 5 seconds');
select tests.authenticate_as('alice');
select throws_ok($$ select util.sweep_workflow_leases() $$, '42501', null, 'users cannot run the sweep over everyone''s workflows');
select tests.clear_authentication();
select throws_ok($$ select private.expire_step_leases(10) $$, '42501', null, 'anon cannot reach the lease helper');

select * from finish();
rollback;
