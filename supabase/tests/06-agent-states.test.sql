-- Agent state with optimistic concurrency: versions start at 1 and grow by one per write, a write based on
-- a stale version is a conflict (PT409) that changes nothing, agent_id defaults to the thread's agent.
begin;
\ir helpers/test_helpers.psql
select plan(24);

select tests.create_supabase_user('alice');
select tests.authenticate_as('alice');
select set_config('test.t', (create_thread(agent_id => 'planner')).id::text, true);
select set_config('test.u', (create_thread()).id::text, true);

select is((select count(*)::int from load_agent_state(current_setting('test.t')::uuid)), 0,
  'a thread starts without agent state (no row)');

select results_eq(
  $$ select agent_id, state, version from save_agent_state(current_setting('test.t')::uuid, null, '{"step": 1}', 0) $$,
  $$ values ('planner', '{"step": 1}'::jsonb, 1) $$,
  'expected_version 0 creates the state at version 1, for the thread''s agent by default');
select results_eq(
  $$ select state, version from load_agent_state(current_setting('test.t')::uuid) $$,
  $$ values ('{"step": 1}'::jsonb, 1) $$, 'load_agent_state returns it');
select results_eq(
  $$ select state, version from save_agent_state(current_setting('test.t')::uuid, 'planner', '{"step": 2}', 1) $$,
  $$ values ('{"step": 2}'::jsonb, 2) $$, 'saving with the current version replaces the state and bumps the version');

select throws_ok(
  $$ select save_agent_state(current_setting('test.t')::uuid, 'planner', '{"step": 99}', 1) $$,
  'PT409', format('agent state of agent "planner" in thread %s is at version 2, not the expected version 1', current_setting('test.t')),
  'a stale expected_version is a conflict');
select throws_ok(
  $$ select save_agent_state(current_setting('test.t')::uuid, 'planner', '{"step": 99}', 0) $$,
  'PT409', null, 'creating a state that already exists is a conflict');
select throws_ok(
  $$ select save_agent_state(current_setting('test.t')::uuid, 'other', '{"x": 1}', 4) $$,
  'PT409', format('agent state of agent "other" in thread %s is at version 0, not the expected version 4', current_setting('test.t')),
  'expecting a version of a state that does not exist is a conflict');
select results_eq(
  $$ select state, version from load_agent_state(current_setting('test.t')::uuid, 'planner') $$,
  $$ values ('{"step": 2}'::jsonb, 2) $$, 'the conflicting writes changed nothing');
select is((select count(*)::int from load_agent_state(current_setting('test.t')::uuid, 'other')), 0,
  'the refused write created no state for the other agent');

select results_eq(
  $$ select version from save_agent_state(current_setting('test.t')::uuid, 'planner', '{"step": 3}') $$,
  $$ values (3) $$, 'without expected_version the write is unconditional and still versioned');
select results_eq(
  $$ select agent_id, version from save_agent_state(current_setting('test.t')::uuid, 'critic', '{"notes": []}') $$,
  $$ values ('critic', 1) $$, 'another agent keeps its own state in the same thread');
select is((select count(*)::int from agent_states where thread_id = current_setting('test.t')::uuid), 2,
  'one row per agent and thread');
select results_eq(
  $$ select agent_id from save_agent_state(current_setting('test.u')::uuid, null, '{}') $$,
  $$ values ('default') $$, 'a thread without an agent uses agent_id "default"');

-- Direct table writes follow the same versioning.
update agent_states set state = '{"step": 4}' where thread_id = current_setting('test.t')::uuid and agent_id = 'planner';
select is((select version from agent_states where thread_id = current_setting('test.t')::uuid and agent_id = 'planner'), 4,
  'an update through the table also increments the version');
select is_empty(
  $$ update agent_states set state = '{"step": 5}'
      where thread_id = current_setting('test.t')::uuid and agent_id = 'planner' and version = 3
     returning 1 $$,
  'a conditional update on a stale version changes no row');

-- bad input
select throws_ok($$ select save_agent_state(current_setting('test.t')::uuid, 'planner', '[1]') $$, '22023',
  'state must be a JSON object (got array)', 'a state that is not an object is refused');
select throws_ok($$ select save_agent_state(current_setting('test.t')::uuid, 'planner', null) $$, '22004',
  'state must be a JSON object, not null', 'a null state is refused');
select throws_ok($$ select save_agent_state(current_setting('test.t')::uuid, 'planner', '{}', -1) $$, '22023',
  'expected_version must be 0 (create) or a positive version (got -1)', 'a negative expected_version is refused');
select throws_ok($$ select save_agent_state(current_setting('test.t')::uuid, 'planner', jsonb_build_object('big', repeat('x', 1048576))) $$,
  '22001', null, 'a state over 1 MiB is refused');
select throws_ok($$ select save_agent_state(current_setting('test.t')::uuid, '', '{}') $$, '23514', null,
  'an empty agent_id is refused');
select throws_ok($$ select save_agent_state('00000000-0000-0000-0000-000000000000', 'planner', '{}') $$, 'PT404',
  'thread 00000000-0000-0000-0000-000000000000 not found', 'saving state in an unknown thread is not found');
select throws_ok($$ select load_agent_state('00000000-0000-0000-0000-000000000000') $$, 'PT404', null,
  'loading state of an unknown thread is not found');
select throws_ok(
  $$ update agent_states set thread_id = current_setting('test.u')::uuid where thread_id = current_setting('test.t')::uuid and agent_id = 'planner' $$,
  '22023', 'an agent state''s thread_id, agent_id and owner_id cannot be changed', 'a state cannot be moved to another thread');
select results_eq(
  $$ select state, version from load_agent_state(current_setting('test.t')::uuid, 'planner') $$,
  $$ values ('{"step": 4}'::jsonb, 4) $$, 'refused writes left the state at version 4');

select * from finish();
rollback;
