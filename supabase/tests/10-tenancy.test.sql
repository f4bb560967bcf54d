-- Tenancy, table by table and RPC by RPC: Bob cannot read, change or delete Alice's threads, messages or
-- agent states — neither through the tables nor through any RPC given Alice's ids or cursors — and an id
-- of Alice's looks exactly like an unknown id (PT404 "thread <id> not found"). anon can reach nothing;
-- service_role can do everything.
begin;
\ir helpers/test_helpers.psql
select plan(55);

select tests.create_supabase_user('alice');
select tests.create_supabase_user('bob');

select tests.authenticate_as('alice');
select set_config('test.a', (create_thread(agent_id => 'assistant', name => 'Alice''s thread', metadata => '{"secret": true}')).id::text, true);
select save_messages(current_setting('test.a')::uuid,
  '[{"role": "system", "content": "alice system"}, {"role": "user", "content": "alice says hi"}, {"role": "assistant", "content": "hello alice"}]');
select save_agent_state(current_setting('test.a')::uuid, null, '{"alice": 1}', 0);
select set_config('test.a_msg', (select id::text from messages where content = 'alice says hi'), true);
select set_config('test.a_cursor', (select m.cursor from load_messages(current_setting('test.a')::uuid, 1) p, unnest(p.messages) m), true);
select set_config('test.a_thread_cursor', (select next_cursor from list_threads()), true);

select tests.authenticate_as('bob');
select set_config('test.b', (create_thread(name => 'Bob''s thread')).id::text, true);
select save_messages(current_setting('test.b')::uuid, '[{"role": "user", "content": "bob one"}, {"role": "user", "content": "bob two"}]');

-- Tables, as Bob
select is_empty($$ select 1 from memory_threads where id = current_setting('test.a')::uuid $$, 'Bob cannot read Alice''s thread');
select is_empty($$ select 1 from messages where thread_id = current_setting('test.a')::uuid $$, 'Bob cannot read Alice''s messages');
select is_empty($$ select 1 from agent_states where thread_id = current_setting('test.a')::uuid $$, 'Bob cannot read Alice''s agent state');
select is((select count(*)::int from memory_threads), 1, 'Bob sees only his own thread');
select is_empty($$ update memory_threads set name = 'pwned' where id = current_setting('test.a')::uuid returning 1 $$,
  'Bob cannot update Alice''s thread');
select is_empty($$ update messages set content = 'pwned' where thread_id = current_setting('test.a')::uuid returning 1 $$,
  'Bob cannot update Alice''s messages');
select is_empty($$ update agent_states set state = '{"pwned": true}' where thread_id = current_setting('test.a')::uuid returning 1 $$,
  'Bob cannot update Alice''s agent state');
select is_empty($$ delete from messages where thread_id = current_setting('test.a')::uuid returning 1 $$,
  'Bob cannot delete Alice''s messages');
select is_empty($$ delete from agent_states where thread_id = current_setting('test.a')::uuid returning 1 $$,
  'Bob cannot delete Alice''s agent state');
select is_empty($$ delete from memory_threads where id = current_setting('test.a')::uuid returning 1 $$,
  'Bob cannot delete Alice''s thread');
select throws_ok($$ insert into memory_threads (owner_id, name) values (tests.get_supabase_uid('alice'), 'planted') $$, '42501', null,
  'Bob cannot create a thread owned by Alice');
select throws_ok($$ insert into messages (thread_id, role, content) values (current_setting('test.a')::uuid, 'user', 'planted') $$, 'PT404',
  format('thread %s not found', current_setting('test.a')), 'Bob cannot add a message to Alice''s thread: it is not found');
select throws_ok($$ insert into agent_states (thread_id, agent_id, state) values (current_setting('test.a')::uuid, 'x', '{}') $$, 'PT404',
  format('thread %s not found', current_setting('test.a')), 'Bob cannot add agent state to Alice''s thread: it is not found');
select is((select owner_id from save_message(current_setting('test.b')::uuid, 'user', 'x')), tests.get_supabase_uid('bob'),
  'a message always belongs to its thread''s owner');
insert into messages (thread_id, owner_id, role, content)
values (current_setting('test.b')::uuid, tests.get_supabase_uid('alice'), 'user', 'forged');
select is((select owner_id from messages where content = 'forged'), tests.get_supabase_uid('bob'),
  'an owner_id Bob forges is replaced by his thread''s owner: he cannot plant rows owned by Alice');

-- RPCs, as Bob, naming Alice's ids: the same error as an unknown id
select throws_ok($$ select get_thread(current_setting('test.a')::uuid) $$, 'PT404', format('thread %s not found', current_setting('test.a')),
  'get_thread: Alice''s thread is not found for Bob');
select throws_ok($$ select get_thread('00000000-0000-0000-0000-00000000dead') $$, 'PT404', 'thread 00000000-0000-0000-0000-00000000dead not found',
  'get_thread: an unknown id fails the same way');
select throws_ok($$ select update_thread(current_setting('test.a')::uuid, '{"name": "pwned"}') $$, 'PT404', format('thread %s not found', current_setting('test.a')),
  'update_thread: Alice''s thread is not found for Bob');
select throws_ok($$ select delete_thread(current_setting('test.a')::uuid) $$, 'PT404', format('thread %s not found', current_setting('test.a')),
  'delete_thread: Alice''s thread is not found for Bob');
select throws_ok($$ select save_message(current_setting('test.a')::uuid, 'user', 'pwned') $$, 'PT404', format('thread %s not found', current_setting('test.a')),
  'save_message: Alice''s thread is not found for Bob');
select throws_ok($$ select save_messages(current_setting('test.a')::uuid, '[{"role": "user", "content": "pwned"}]') $$, 'PT404',
  format('thread %s not found', current_setting('test.a')), 'save_messages: Alice''s thread is not found for Bob');
select throws_ok($$ select load_messages(current_setting('test.a')::uuid) $$, 'PT404', format('thread %s not found', current_setting('test.a')),
  'load_messages: Alice''s thread is not found for Bob');
select throws_ok($$ select load_agent_state(current_setting('test.a')::uuid) $$, 'PT404', format('thread %s not found', current_setting('test.a')),
  'load_agent_state: Alice''s thread is not found for Bob');
select throws_ok($$ select save_agent_state(current_setting('test.a')::uuid, null, '{"pwned": true}') $$, 'PT404',
  format('thread %s not found', current_setting('test.a')), 'save_agent_state: Alice''s thread is not found for Bob');
select throws_ok($$ select build_context(current_setting('test.a')::uuid, 1000) $$, 'PT404', format('thread %s not found', current_setting('test.a')),
  'build_context: Alice''s thread is not found for Bob');
select throws_ok($$ select create_thread(owner_id => tests.get_supabase_uid('alice')) $$, '42501', null,
  'create_thread: Bob cannot create a thread for Alice');
select is((select array_agg(t.name) from list_threads() p, unnest(p.threads) t), array['Bob''s thread'],
  'list_threads shows Bob only his own threads');
select is((select cardinality(threads) from list_threads(metadata => '{"secret": true}')), 0,
  'list_threads cannot find Alice''s thread by its metadata');
select is((select count(*)::int from list_threads(cursor => current_setting('test.a_thread_cursor')) p, unnest(p.threads) t
            where t.owner_id <> tests.get_supabase_uid('bob')), 0,
  'a cursor taken from Alice''s list gives Bob none of her threads');
select is((select count(*)::int from load_messages(current_setting('test.b')::uuid, 100, current_setting('test.a_cursor'), 'newer') p, unnest(p.messages) m
            where m.owner_id <> tests.get_supabase_uid('bob')), 0,
  'a cursor of Alice''s message only positions Bob''s own page');
select lives_ok($$ select update_thread(current_setting('test.b')::uuid, jsonb_build_object('summary', 'bob summary', 'summary_through', current_setting('test.a_cursor'))) $$,
  'a summary_through cursor is only a position');
select is((select count(*)::int from build_context(current_setting('test.b')::uuid, 1000) c, unnest(c.messages || c.system_messages) m
            where m.owner_id <> tests.get_supabase_uid('bob')), 0,
  'build_context of Bob''s thread never includes Alice''s messages');

-- Alice's rows are untouched
select tests.authenticate_as('alice');
select results_eq(
  $$ select name, metadata from get_thread(current_setting('test.a')::uuid) $$,
  $$ values ('Alice''s thread', '{"secret": true}'::jsonb) $$, 'Alice''s thread is unchanged');
select is((select array_agg(m.content) from load_messages(current_setting('test.a')::uuid) p, unnest(p.messages) m),
  array['alice system', 'alice says hi', 'hello alice'], 'Alice''s messages are unchanged');
select results_eq($$ select state, version from load_agent_state(current_setting('test.a')::uuid) $$,
  $$ values ('{"alice": 1}'::jsonb, 1) $$, 'Alice''s agent state is unchanged');

-- anon
select tests.clear_authentication();
select throws_ok($$ select 1 from memory_threads $$, '42501', null, 'anon cannot read threads');
select throws_ok($$ select 1 from messages $$, '42501', null, 'anon cannot read messages');
select throws_ok($$ select 1 from agent_states $$, '42501', null, 'anon cannot read agent states');
select throws_ok($$ select 1 from settings $$, '42501', null, 'anon cannot read settings');
select throws_ok($$ select 1 from models $$, '42501', null, 'anon cannot read models');
select is(
  (select array_agg(f order by f) from unnest(array[
     'create_thread(text,text,jsonb,timestamp with time zone,uuid,uuid)', 'get_thread(uuid)', 'list_threads(text,jsonb,integer,text)',
     'update_thread(uuid,jsonb)', 'delete_thread(uuid)', 'save_message(uuid,text,text,text,text,jsonb,integer,uuid)',
     'save_messages(uuid,json)', 'load_messages(uuid,integer,text,text)', 'load_agent_state(uuid,text)',
     'save_agent_state(uuid,text,jsonb,integer)', 'get_setting(text,text,jsonb)', 'get_agent_config(text)',
     'build_context(uuid,integer,jsonb)']) f
    where has_function_privilege('anon', ('public.' || f)::regprocedure, 'execute')),
  null, 'anon can execute none of the memory RPCs');
select throws_ok($$ select list_threads() $$, '42501', null, 'anon calling list_threads is refused');
select throws_ok($$ select create_thread() $$, '42501', null, 'anon calling create_thread is refused');

-- service_role
select tests.authenticate_as_service_role();
select is((select count(*)::int from list_threads(metadata => '{}') p, unnest(p.threads) t
            where t.id in (current_setting('test.a')::uuid, current_setting('test.b')::uuid)), 2,
  'service_role lists every user''s threads');
select is((select name from get_thread(current_setting('test.a')::uuid)), 'Alice''s thread', 'service_role reads Alice''s thread');
select is((select owner_id from save_message(current_setting('test.a')::uuid, 'assistant', 'from the backend')),
  tests.get_supabase_uid('alice'), 'service_role adds a message to Alice''s thread, owned by Alice');
select is((select cardinality(messages) from load_messages(current_setting('test.a')::uuid)), 4, 'service_role loads Alice''s messages');
select is((select name from update_thread(current_setting('test.a')::uuid, '{"name": "renamed"}')), 'renamed', 'service_role updates Alice''s thread');
select is((select version from save_agent_state(current_setting('test.a')::uuid, null, '{"alice": 2}', 1)), 2,
  'service_role saves Alice''s agent state');
select is((select cardinality(messages) from build_context(current_setting('test.a')::uuid, 1000)), 3, 'service_role builds Alice''s context');
select is((select owner_id from create_thread(owner_id => tests.get_supabase_uid('bob'))), tests.get_supabase_uid('bob'),
  'service_role creates a thread for a named user');
select throws_ok($$ select create_thread() $$, '22023', 'owner_id is required when no user is signed in',
  'service_role must name the owner of a new thread');
select is((select count(*)::int from messages where thread_id in (current_setting('test.a')::uuid, current_setting('test.b')::uuid)), 8,
  'service_role reads every user''s messages directly');
select is((select id from delete_thread(current_setting('test.a')::uuid)), current_setting('test.a')::uuid, 'service_role deletes Alice''s thread');
select is((select count(*)::int from messages where thread_id = current_setting('test.a')::uuid), 0, 'and its messages with it');

select * from finish();
rollback;
