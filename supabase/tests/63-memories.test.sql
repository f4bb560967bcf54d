-- Long-term memories and their history: remember_fact / update_memory / forget_memory / list_memories /
-- list_memory_history; a history row for every change (add, update, forget, metadata) whichever way it is
-- made — the RPCs or the Data API; versions kept (invalid_at, supersedes / superseded_by) instead of
-- edits; content and validity start immutable; bad input (empty content, unknown kind, foreign source
-- messages) refused with nothing written; an unknown memory or another user's → PT404; row level security
-- on both tables; deletion by the owner.
begin;
\ir helpers/test_helpers.psql
select plan(47);

select tests.create_supabase_user('alice');
select tests.create_supabase_user('bob');
select tests.authenticate_as('bob');
select set_config('test.bob_thread', (create_thread(name => 'bob')).id::text, true);
select set_config('test.bob_msg', (save_message(current_setting('test.bob_thread')::uuid, 'user', 'Bob here')).id::text, true);
select set_config('test.bob_mem', (remember_fact('Lives in Oslo.')).id::text, true);

select tests.authenticate_as('alice');
select set_config('test.t', (create_thread(agent_id => 'assistant', name => 'facts')).id::text, true);
select set_config('test.msg', (save_message(current_setting('test.t')::uuid, 'user', 'I live in Paris')).id::text, true);

-- remember_fact
select set_config('test.paris', (remember_fact('Lives in Paris.', source_thread_id => current_setting('test.t')::uuid,
  source_message_ids => array[current_setting('test.msg')::uuid], metadata => '{"confidence": "high"}')).id::text, true);
select is((select (m.owner_id, m.kind, m.source, m.agent_id, m.invalid_at) from public.memories m where m.id = current_setting('test.paris')::uuid),
  row(tests.get_supabase_uid('alice'), 'fact'::public.memory_kind, 'manual'::text, null::text, null::timestamptz),
  'remember_fact stores a valid fact of the caller, shared by all agents');
select ok((select m.token_count > 0 and not m.token_count_exact from public.memories m where m.id = current_setting('test.paris')::uuid),
  'with an estimated token count');
select results_eq(format($$ select event, memory_id, previous_memory_id, new_content, source, source_message_ids, actor_id
                              from public.memory_history where memory_id = %L $$, current_setting('test.paris')),
  format($$ values ('add'::text, %L::uuid, null::uuid, 'Lives in Paris.'::text, 'manual'::text, array[%L::uuid], %L::uuid) $$,
         current_setting('test.paris'), current_setting('test.msg'), tests.get_supabase_uid('alice')),
  'its history: one add, with its source message and who made it');
select is((remember_fact('Prefers short answers.', kind => 'preference', agent_id => 'assistant')).kind, 'preference',
  'a preference of one agent');
select throws_ok($$ select remember_fact('   ') $$, '22023', 'content must not be empty', 'empty content is refused');
select throws_ok($$ select remember_fact(null) $$, '22023', 'content must not be empty', 'null content is refused');
select throws_ok($$ select remember_fact('x', kind => 'hobby') $$, '22023', 'kind must be fact, preference or event (got ''hobby'')', 'an unknown kind');
select throws_ok($$ select remember_fact('x', metadata => '[1]') $$, '22023', 'metadata must be a JSON object (got array)', 'metadata not an object');
select throws_ok($$ select remember_fact(repeat('x', 10001)) $$, '22001', 'content is 10001 characters; a memory is at most 10000', 'content too long');
select throws_ok(format($$ select remember_fact('x', source_message_ids => array[%L::uuid]) $$, current_setting('test.bob_msg')), 'PT404',
  format('source message %s not found', current_setting('test.bob_msg')), 'another user''s message cannot be a source');
select throws_ok(format($$ select remember_fact('x', source_thread_id => %L) $$, current_setting('test.bob_thread')), 'PT404',
  format('thread %s not found', current_setting('test.bob_thread')), 'nor another user''s thread');
select throws_ok(format($$ select remember_fact('x', owner_id => %L) $$, tests.get_supabase_uid('bob')), '42501', null,
  'a user cannot remember something for another user');
select is((select count(*)::int from public.memories), 2, 'refused calls wrote nothing');
select is((select count(*)::int from public.memory_history), 2, 'and no history');

-- update_memory: a new version, the old one kept
select set_config('test.berlin', (update_memory(current_setting('test.paris')::uuid, 'Lives in Berlin.')).id::text, true);
select is((select (m.supersedes, m.kind, m.metadata, m.invalid_at) from public.memories m where m.id = current_setting('test.berlin')::uuid),
  row(current_setting('test.paris')::uuid, 'fact'::public.memory_kind, '{"confidence": "high"}'::jsonb, null::timestamptz),
  'the new version supersedes the old, with its kind and metadata');
select is((select (m.superseded_by, m.invalid_at = (select b.valid_from from public.memories b where b.id = current_setting('test.berlin')::uuid))
             from public.memories m where m.id = current_setting('test.paris')::uuid),
  row(current_setting('test.berlin')::uuid, true), 'the old one is kept, invalid from when the new one holds');
select results_eq(format($$ select event, previous_memory_id, old_content, new_content from public.memory_history where memory_id = %L $$,
                         current_setting('test.berlin')),
  format($$ values ('update'::text, %L::uuid, 'Lives in Paris.'::text, 'Lives in Berlin.'::text) $$, current_setting('test.paris')),
  'one update event with both contents');
select throws_ok(format($$ select update_memory(%L, 'Lives in Rome.') $$, current_setting('test.paris')), 'PT409',
  format('memory %s is no longer valid (it was superseded by %s)', current_setting('test.paris'), current_setting('test.berlin')),
  'a superseded version cannot be updated (PT409)');
select is((update_memory(current_setting('test.berlin')::uuid, 'Lives in Berlin.')).id, current_setting('test.berlin')::uuid,
  'updating to the same content changes nothing');
select throws_ok(format($$ select update_memory(%L, '') $$, current_setting('test.berlin')), '22023', 'content must not be empty',
  'an update to empty content is refused');
select throws_ok(format($$ select update_memory(%L, 'x') $$, current_setting('test.bob_mem')), 'PT404',
  format('memory %s not found', current_setting('test.bob_mem')), 'another user''s memory is not found');
select throws_ok($$ select update_memory('00000000-0000-4000-8000-000000000000', 'x') $$, 'PT404',
  'memory 00000000-0000-4000-8000-000000000000 not found', 'an unknown memory is not found');

-- forget_memory
select ok((forget_memory(current_setting('test.berlin')::uuid, 'the user asked')).invalid_at is not null, 'forget_memory sets invalid_at');
select results_eq(format($$ select event, reason, old_content from public.memory_history where memory_id = %L order by id $$, current_setting('test.berlin')),
  $$ values ('update'::text, null::text, 'Lives in Paris.'::text), ('forget', 'the user asked', 'Lives in Berlin.') $$,
  'with a forget event and its reason');
select is((forget_memory(current_setting('test.berlin')::uuid)).invalid_reason, 'the user asked', 'forgetting again changes nothing');
select is((select count(*)::int from public.memory_history where memory_id = current_setting('test.berlin')::uuid), 2, 'and records nothing');
select throws_ok(format($$ select forget_memory(%L) $$, current_setting('test.bob_mem')), 'PT404',
  format('memory %s not found', current_setting('test.bob_mem')), 'another user''s memory cannot be forgotten');

-- list_memories and list_memory_history
select is((select array_agg(m.content order by m.content) from unnest((list_memories()).memories) m), array['Prefers short answers.'],
  'list_memories: only valid memories by default');
select is((select cardinality((list_memories(include_invalid => true)).memories)), 3, 'include_invalid: all three');
select is((select cardinality((list_memories(agent_id => 'researcher')).memories)), 0, 'another agent sees no assistant-only memory');
select is((select cardinality((list_memories(kinds => array['fact'], include_invalid => true)).memories)), 2, 'kinds filter');
select is((list_memories(include_invalid => true, "limit" => 2)).has_more, true, 'pages: has_more');
select is((select cardinality((list_memories(include_invalid => true, "limit" => 2,
            cursor => (list_memories(include_invalid => true, "limit" => 2)).next_cursor)).memories)), 1, 'the next page has the rest');
select throws_ok($$ select list_memories(cursor => 'bogus-cursor') $$, '22023', 'cursor is not a valid memory cursor', 'a bad cursor');
select throws_ok($$ select list_memories(kinds => array['hobby']) $$, '22023', 'kind must be fact, preference or event (got ''hobby'')', 'a bad kind');
select is((select array_agg(h.event order by h.id) from list_memory_history(current_setting('test.paris')::uuid) h),
  array['add', 'update', 'forget'], 'list_memory_history: the events of every version, from either');

-- The Data API: same rules, same history
select throws_ok(format($$ update public.memories set content = 'Lives in Rome.' where id = %L $$, current_setting('test.berlin')), '22023',
  'a memory''s content, kind, agent, sources and validity start cannot change', 'content cannot be edited in place');
select throws_ok(format($$ update public.memories set invalid_at = null where id = %L $$, current_setting('test.berlin')), '22023',
  'a memory that was superseded or forgotten cannot be made valid again', 'nor made valid again');
select lives_ok($$ update public.memories set metadata = '{"source": "profile"}' where content = 'Prefers short answers.' $$,
  'metadata can change');
select is((select h.details from public.memory_history h where h.event = 'metadata'),
  '{"old_metadata": {}, "new_metadata": {"source": "profile"}}'::jsonb, 'and the change is recorded');
select lives_ok($$ insert into public.memories (content, kind) values ('Has a cat.', 'fact') $$, 'a direct insert of one''s own memory');
select is((select h.event from public.memory_history h join public.memories m on m.id = h.memory_id where m.content = 'Has a cat.'), 'add',
  'is recorded like any other');
select throws_ok($$ insert into public.memory_history (memory_id, owner_id, event, kind, source)
                    select id, owner_id, 'add', kind, 'manual' from public.memories limit 1 $$, '42501', null,
  'users cannot write history themselves');

-- Row level security
select tests.authenticate_as('bob');
select is((select array_agg(content) from public.memories), array['Lives in Oslo.'], 'Bob sees only his memory');
select is((select count(*)::int from public.memory_history), 1, 'and only his history');
select tests.clear_authentication();
select throws_ok($$ select * from public.memories $$, '42501', null, 'anon reads nothing');

-- Deleting a memory (the owner's right) takes its history with it; the other version stays.
select tests.authenticate_as('alice');
delete from public.memories where id = current_setting('test.berlin')::uuid;
select is((select (m.superseded_by, m.invalid_at is not null) from public.memories m where m.id = current_setting('test.paris')::uuid),
  row(null::uuid, true), 'deleting the newer version leaves the older one invalid, unlinked');

select * from finish();
rollback;
