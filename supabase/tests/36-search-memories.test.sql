-- search_memories: scopes thread / agent / all (exactly the messages bm25_search finds with the matching
-- filter), PT404 for a thread the caller cannot see, before/after neighbours (counts, chronological order,
-- thread boundaries, 0), modes bm25 / vector / hybrid (each equal to its channel's public function), the
-- cursor of each hit, and every argument error.
begin;
\ir helpers/test_helpers.psql
select plan(50);

select tests.create_supabase_user('alice');
select tests.create_supabase_user('bob');
insert into public.embedding_models (name, provider, provider_model, dims, hnsw_m, hnsw_ef_construction)
values ('test-4', 'openai', 'test', 4, 4, 16);
create function pg_temp.vec(i double precision) returns extensions.vector language sql immutable as $$
  select array[sin(i * 1.1), cos(i * 2.3), sin(i * 0.7 + 1), cos(i * 1.9)]::real[]::extensions.vector
$$;
create function pg_temp.embed() returns void language sql security definer as $$
  insert into public.embeddings (owner_id, source_table, source_id, model, content_hash, embedding)
  select m.owner_id, 'messages', m.id, 'test-4', m.content_hash, pg_temp.vec((m.metadata ->> 'n')::double precision)
    from public.messages m where m.metadata ? 'n'
$$;
create function pg_temp.t(name text) returns uuid language sql as $$ select current_setting('test.' || name)::uuid $$;
create function pg_temp.msg(body text) returns uuid language sql as $$ select id from messages where content = body $$;
-- A thread's message ids, chronological.
create function pg_temp.thread_ids(thread uuid) returns uuid[] language sql as $$
  select array_agg(id order by created_at, id) from messages where thread_id = thread
$$;

select tests.authenticate_as('alice');
select set_config('test.t1', (create_thread(agent_id => 'assistant')).id::text, true);
select set_config('test.t2', (create_thread(agent_id => 'assistant')).id::text, true);
select set_config('test.t3', (create_thread(agent_id => 'planner')).id::text, true);
select set_config('test.t4', (create_thread()).id::text, true);
select save_messages(pg_temp.t('t1'), '[
  {"role": "system", "content": "You are a fruit assistant.", "metadata": {"n": 1}},
  {"role": "user", "content": "I like apples.", "metadata": {"n": 2, "mood": "happy"}},
  {"role": "assistant", "content": "Apples are great.", "metadata": {"n": 3}},
  {"role": "user", "content": "What about pears?", "metadata": {"n": 4}},
  {"role": "assistant", "content": "Let me look up pears.", "tool_call_id": "c1", "tool_name": "lookup", "metadata": {"n": 5}},
  {"role": "tool", "content": "Pears: sweet, grainy.", "tool_call_id": "c1", "tool_name": "lookup", "metadata": {"n": 6}},
  {"role": "assistant", "content": "Pears are sweet cousins of apples.", "metadata": {"n": 7}},
  {"role": "user", "content": "Tell me about cherries.", "metadata": {"n": 8}},
  {"role": "assistant", "content": "Cherries are red.", "metadata": {"n": 9}},
  {"role": "user", "content": "And apples again, green apples?", "metadata": {"n": 10, "mood": "happy"}}]');
select save_messages(pg_temp.t('t2'), '[{"role": "user", "content": "apples in another thread", "metadata": {"n": 11}},
  {"role": "assistant", "content": "more apples here", "metadata": {"n": 12}}]');
select save_messages(pg_temp.t('t3'), '[{"role": "user", "content": "plan the apple harvest", "metadata": {"n": 13}}]');
select save_messages(pg_temp.t('t4'), '[{"role": "user", "content": "apples without an agent", "metadata": {"n": 14}}]');
select tests.authenticate_as('bob');
select set_config('test.b', (create_thread(agent_id => 'assistant')).id::text, true);
select save_messages(pg_temp.t('b'), '[{"role": "user", "content": "bob eats apples", "metadata": {"n": 2.01}}]');
select tests.authenticate_as_owner();
select pg_temp.embed();
select tests.authenticate_as('alice');

-- Scopes
select results_eq($$ select id, score from search_memories('apples', mode => 'bm25', thread_id => pg_temp.t('t1')) $$,
  $$ select id, score from bm25_search('apples', source => 'messages', thread_id => pg_temp.t('t1')) $$,
  'scope thread (the default) finds exactly what bm25_search finds in that thread');
select results_eq($$ select id from search_memories('apples', mode => 'bm25', scope => 'agent', agent_id => 'assistant') $$,
  $$ select id from bm25_search('apples', source => 'messages', agent_id => 'assistant') $$,
  'scope agent with agent_id: the caller''s threads of that agent');
select ok((select bool_and(thread_id in (pg_temp.t('t1'), pg_temp.t('t2'))) from search_memories('apples', mode => 'bm25', scope => 'agent', agent_id => 'assistant'))
          and exists (select from search_memories('apples', mode => 'bm25', scope => 'agent', agent_id => 'assistant') where thread_id = pg_temp.t('t2')),
  'which spans both of the agent''s threads and no other');
select results_eq($$ select id from search_memories('apples', mode => 'bm25', scope => 'agent', thread_id => pg_temp.t('t2')) $$,
  $$ select id from bm25_search('apples', source => 'messages', agent_id => 'assistant') $$,
  'scope agent with only thread_id takes that thread''s agent');
select results_eq($$ select id from search_memories('apples', mode => 'bm25', scope => 'all') $$,
  $$ select id from bm25_search('apples', source => 'messages') $$, 'scope all: every one of the caller''s threads');
select is((select count(distinct thread_id)::int from search_memories('apples', mode => 'bm25', scope => 'all')), 4, 'four threads');
select throws_ok($$ select * from search_memories('apples', scope => 'agent', thread_id => pg_temp.t('t4')) $$, '22023',
  'scope agent needs agent_id, or a thread_id whose thread has an agent', 'scope agent without any agent is refused');
select throws_ok($$ select * from search_memories('apples') $$, '22023', 'thread_id is required for scope thread', 'scope thread needs thread_id');
select throws_ok($$ select * from search_memories('apples', scope => 'everything') $$, '22023', 'scope must be thread, agent or all (got everything)',
  'an unknown scope is refused');
select throws_ok($$ select * from search_memories('apples', scope => null) $$, '22023', 'scope must be thread, agent or all (got null)', 'a null scope is refused');
select throws_ok($$ select * from search_memories('apples', thread_id => pg_temp.t('b')) $$, 'PT404', format('thread %s not found', pg_temp.t('b')),
  'Bob''s thread is not found for Alice');
select throws_ok($$ select * from search_memories('apples', scope => 'all', thread_id => pg_temp.t('b')) $$, 'PT404', format('thread %s not found', pg_temp.t('b')),
  'not even with scope all');
select throws_ok($$ select * from search_memories('apples', scope => 'agent', thread_id => pg_temp.t('b')) $$, 'PT404', format('thread %s not found', pg_temp.t('b')),
  'nor to borrow its agent');
select throws_ok($$ select * from search_memories('apples', thread_id => '00000000-0000-0000-0000-00000000dead') $$, 'PT404',
  'thread 00000000-0000-0000-0000-00000000dead not found', 'an unknown thread is not found either');

-- Neighbours
create temp table t1_ids as select pg_temp.thread_ids(pg_temp.t('t1')) as ids;
create function pg_temp.pos(m uuid) returns integer language sql as $$ select array_position((select ids from t1_ids), m) $$;
create temp table hits as select * from search_memories('pears', mode => 'bm25', thread_id => pg_temp.t('t1'));
select ok((select count(*) from hits) >= 2, 'a search with several hits in the middle of the thread');
select is((select count(*)::int from hits h
            where (select array_agg(b.id) from unnest(h.before) b) is distinct from array[(select ids from t1_ids)[pg_temp.pos(h.id) - 1]]
               or (select array_agg(a.id) from unnest(h.after) a) is distinct from array[(select ids from t1_ids)[pg_temp.pos(h.id) + 1]]), 0,
  'by default each hit comes with the message before and the message after it');
drop table hits;
create temp table hits as select * from search_memories('pears', mode => 'bm25', thread_id => pg_temp.t('t1'), before => 3, after => 2);
select is((select count(*)::int from hits h
            where (select array_agg(b.id) from unnest(h.before) b) is distinct from (select ids from t1_ids)[greatest(pg_temp.pos(h.id) - 3, 1):pg_temp.pos(h.id) - 1]
               or (select array_agg(a.id) from unnest(h.after) a) is distinct from (select ids from t1_ids)[pg_temp.pos(h.id) + 1:pg_temp.pos(h.id) + 2]), 0,
  'before 3 / after 2: the three preceding and two following messages, each list chronological');
select ok((select bool_and(cardinality(before) = 3 and cardinality(after) = 2) from hits), 'all of them full (the hits are mid-thread)');
select results_eq(
  $$ select cardinality(h.before), (select array_agg(a.id) from unnest(h.after) a) from search_memories('like apples', mode => 'bm25', thread_id => pg_temp.t('t1'), match_count => 1, before => 5, after => 1) h $$,
  $$ values (1, array[pg_temp.msg('Apples are great.')]) $$,
  'the second message has only the system message before it: the list stops at the start of the thread');
select is((select (h.before[1]).role::text from search_memories('like apples', mode => 'bm25', thread_id => pg_temp.t('t1'), match_count => 1) h), 'system',
  'neighbours are the adjacent messages whatever their role');
select results_eq(
  $$ select cardinality(h.before), cardinality(h.after) from search_memories('green', mode => 'bm25', thread_id => pg_temp.t('t1'), before => 2, after => 5) h $$,
  $$ values (2, 0) $$, 'the newest message has nothing after it');
select is((select count(*)::int from search_memories('apples', mode => 'bm25', scope => 'all', before => 20, after => 20) h
            where exists (select from unnest(h.before || h.after) n where n.thread_id <> h.thread_id)), 0,
  'neighbours never come from another thread');
select is((select count(*)::int from search_memories('apples', mode => 'bm25', scope => 'all', before => 20, after => 20) h
            where cardinality(h.before) + cardinality(h.after) + 1 <> (select count(*) from messages m where m.thread_id = h.thread_id)), 0,
  'with 20 each way, a hit and its neighbours are its whole (short) thread');
select ok((select bool_and(before = '{}' and after = '{}') from search_memories('apples', mode => 'bm25', scope => 'all', before => 0, after => 0)),
  'before 0 and after 0 give empty lists');
select throws_ok($$ select * from search_memories('apples', scope => 'all', before => 21) $$, '22023', 'before must be between 0 and 20 (got 21)',
  'before above 20 is refused');
select throws_ok($$ select * from search_memories('apples', scope => 'all', after => -1) $$, '22023', 'after must be between 0 and 20 (got -1)',
  'a negative after is refused');
select throws_ok($$ select * from search_memories('apples', scope => 'all', before => null) $$, '22023', 'before must be between 0 and 20 (got null)',
  'a null before is refused');
select is((select h.cursor from search_memories('green', mode => 'bm25', thread_id => pg_temp.t('t1')) h),
  (select m.cursor from load_messages(pg_temp.t('t1'), 1) p, unnest(p.messages) m), 'a hit carries its message cursor, as load_messages gives it');

-- Modes
select results_eq($$ select id, rank, score, bm25_rank, bm25_score, vector_rank, vector_score, matched from search_memories('apples pears', mode => 'bm25', scope => 'all') $$,
  $$ select id, rank, score, rank, score, null::integer, null::double precision, matched from bm25_search('apples pears', source => 'messages') $$,
  'mode bm25: BM25 ranks and scores, no vector columns');
select results_eq(
  $$ select id, rank, score, vector_rank, vector_score, bm25_rank, matched from search_memories('apples', pg_temp.vec(6.5), 'vector', 'all', model => 'test-4') $$,
  $$ select id, rank, similarity, rank, similarity, null::integer, '{}'::text[] from match_memories(pg_temp.vec(6.5), model => 'test-4') $$,
  'mode vector: the cosine ranking of match_memories, no BM25 columns');
select results_eq(
  $$ select id, rank, score, bm25_rank, bm25_score, vector_rank, vector_score from search_memories('apples', pg_temp.vec(6.5), 'hybrid', 'thread', pg_temp.t('t1'), model => 'test-4') $$,
  $$ select id, rank, score, bm25_rank, bm25_score, vector_rank, vector_score
       from hybrid_search('apples', pg_temp.vec(6.5), source => 'messages', thread_id => pg_temp.t('t1'), model => 'test-4') $$,
  'mode hybrid (the default): exactly hybrid_search over the thread');
select ok((select count(*) from search_memories('apples', pg_temp.vec(6.5), thread_id => pg_temp.t('t1'), model => 'test-4') where vector_rank is not null and bm25_rank is null) > 0,
  'and it brings in messages only the vector channel found');
select results_eq($$ select id, score from search_memories('apples', thread_id => pg_temp.t('t1')) $$,
  $$ select id, 1.0::double precision / (60 + rank) from bm25_search('apples', source => 'messages', thread_id => pg_temp.t('t1')) $$,
  'mode hybrid without a query vector is BM25 alone, fused (1/(60 + rank))');
select results_eq(
  $$ select id from search_memories('apples', scope => 'all', mode => 'bm25', roles => '{assistant}', filter => '{}') $$,
  $$ select id from bm25_search('apples', source => 'messages', roles => '{assistant}') $$, 'roles narrow the search');
select results_eq(
  $$ select id from search_memories('apples', pg_temp.vec(2), 'vector', 'all', filter => '{"mood": "happy"}', model => 'test-4') $$,
  $$ select id from match_memories(pg_temp.vec(2), filter => '{"mood": "happy"}', model => 'test-4') $$, 'a metadata filter narrows the vector search too');
select throws_ok($$ select * from search_memories('apples', mode => 'vector', scope => 'all') $$, '22023', 'mode vector needs query_embedding',
  'mode vector without a query vector is refused');
select throws_ok($$ select * from search_memories('apples', mode => 'semantic', scope => 'all') $$, '22023', 'mode must be hybrid, bm25 or vector (got semantic)',
  'an unknown mode is refused');
select throws_ok($$ select * from search_memories('apples', '[1,2,3]', 'vector', 'all', model => 'test-4') $$, '22000',
  'query embedding has 3 dimensions but model "test-4" stores 4', 'mode vector: a vector of the wrong size is refused, naming both sizes');
select throws_ok($$ select * from search_memories('apples', '[1,2,3]', 'hybrid', 'all') $$, '22000',
  'query embedding has 3 dimensions but model "hash-384" stores 384', 'mode hybrid: a vector of the wrong size is refused');
select throws_ok($$ select * from search_memories('', scope => 'all') $$, '22023', 'query_text must not be empty', 'an empty query is refused');
select throws_ok($$ select * from search_memories('apples', scope => 'all', match_count => 1001) $$, '22023', 'match_count must be between 1 and 1000 (got 1001)',
  'match_count 1001 is refused');
select throws_ok($$ select * from search_memories('apples', scope => 'all', bm25_weight => 0, vector_weight => 0) $$, '22023',
  'bm25_weight and vector_weight cannot both be 0', 'fusion parameter errors are hybrid_search''s');
select throws_ok($$ select * from search_memories('apples', scope => 'all', filter => '[]') $$, '22023',
  'filter must be a JSON object of metadata to match (got array)', 'a filter that is not an object is refused');
select is((select count(*)::int from search_memories('apples', scope => 'all', match_count => 2, mode => 'bm25')), 2, 'match_count caps the hits');
select results_eq($$ select id from search_memories('apples', mode => 'bm25', scope => 'all', match_count => 3) $$,
  $$ select id from bm25_search('apples', 3, 'messages') $$, 'the cap keeps the best');

-- Tenancy
select tests.authenticate_as('bob');
select results_eq($$ select content from search_memories('apples', pg_temp.vec(2), scope => 'all', model => 'test-4') $$, $$ values ('bob eats apples') $$,
  'Bob finds only his own message, in every channel');
select is((select count(*)::int from search_memories('apples', scope => 'agent', agent_id => 'assistant', mode => 'bm25', before => 20, after => 20) h,
                  unnest(h.before || h.after) n where n.owner_id <> tests.get_supabase_uid('bob')), 0,
  'and no neighbour of his hits is anyone else''s');
select throws_ok($$ select * from search_memories('apples', thread_id => pg_temp.t('t1')) $$, 'PT404', format('thread %s not found', pg_temp.t('t1')),
  'Alice''s thread is not found for Bob');
select tests.authenticate_as_service_role();
select is((select count(distinct owner_id)::int from search_memories('apples', scope => 'all', mode => 'bm25', match_count => 100) h join messages m using (id)), 2,
  'service_role searches every owner''s messages');
select tests.clear_authentication();
select throws_ok($$ select * from search_memories('apples', scope => 'all') $$, '42501', null, 'anon cannot call search_memories');

select * from finish();
rollback;
