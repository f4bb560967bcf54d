-- Thread TTL: util.prune_expired() deletes expired threads (with their messages and agent states) in
-- bounded batches and leaves everything else alone.
begin;
\ir helpers/test_helpers.psql
select plan(11);

select tests.create_supabase_user('alice');
select tests.authenticate_as('alice');
select set_config('test.big', (create_thread(name => 'big', expires_at => now() + interval '1 hour')).id::text, true);
select set_config('test.empty', (create_thread(name => 'empty', expires_at => now() + interval '1 hour')).id::text, true);
select set_config('test.live', (create_thread(name => 'live', expires_at => now() + interval '1 hour')).id::text, true);
select set_config('test.forever', (create_thread(name => 'forever')).id::text, true);
select save_messages(current_setting('test.big')::uuid,
  (select json_agg(json_build_object('role', 'user', 'content', 'm' || i)) from generate_series(1, 5) i));
select save_agent_state(current_setting('test.big')::uuid, 'a', '{}');
select save_messages(current_setting('test.live')::uuid, '[{"role": "user", "content": "still here"}]');
select save_messages(current_setting('test.forever')::uuid, '[{"role": "user", "content": "no ttl"}]');

-- Time passes for two of them (expires_at cannot be set in the past through the API).
select tests.authenticate_as_service_role();
update memory_threads set expires_at = now() - interval '1 minute'
 where id in (current_setting('test.big')::uuid, current_setting('test.empty')::uuid);

select throws_ok($$ select util.prune_expired(0) $$, '22023', 'batch_size must be positive (got 0)', 'a batch size of 0 is refused');
select results_eq($$ select * from util.prune_expired(3) $$, $$ values (1, 3) $$,
  'a run deletes at most batch_size messages, and the expired thread that has none left');
select ok(not exists (select from memory_threads where id = current_setting('test.empty')::uuid), 'the empty expired thread is gone');
select is((select count(*)::int from messages where thread_id = current_setting('test.big')::uuid), 2,
  'the big expired thread lost 3 of its 5 messages');
select ok(exists (select from memory_threads where id = current_setting('test.big')::uuid), 'and is still there until its messages are gone');
select results_eq($$ select * from util.prune_expired(3) $$, $$ values (1, 2) $$, 'the next run finishes it');
select ok(not exists (select from memory_threads where id = current_setting('test.big')::uuid)
          and not exists (select from agent_states where thread_id = current_setting('test.big')::uuid),
  'the expired thread and its agent state are gone');
select results_eq($$ select * from util.prune_expired() $$, $$ values (0, 0) $$, 'with nothing expired a run deletes nothing');
select is((select count(*)::int from memory_threads where id in (current_setting('test.live')::uuid, current_setting('test.forever')::uuid)), 2,
  'threads that have not expired are kept');
select is((select count(*)::int from messages where thread_id in (current_setting('test.live')::uuid, current_setting('test.forever')::uuid)), 2,
  'their messages are kept');
select tests.authenticate_as('alice');
select throws_ok($$ select util.prune_expired() $$, '42501', null, 'a signed-in user cannot run the prune job');

select * from finish();
rollback;
