-- match_memories and match_documents: each filter returns exactly the nearest rows that pass it; a vector
-- of the wrong size (22000, naming both sizes), a null vector (22004) and an unknown model (22023) are
-- refused; a metadata filter matching 1% of 2,000 rows still returns k rows through the HNSW index
-- (pgvector's iterative scan), the same rows an exact scan finds, strictly ordered; other tenants' rows
-- never appear; match_documents returns the stored vector as JSON; the function's hnsw settings do not
-- outlive the call.
--
-- Vectors live in a small test model (test-4: 4 dimensions, a cheap HNSW index) so 2,000 of them are
-- quick to index. Which plan the planner picks depends on statistics; this transaction has none, so where
-- the HNSW path itself is under test, sorts are turned off to get the plan a large analyzed corpus gets.
begin;
\ir helpers/test_helpers.psql
select plan(51);

select tests.create_supabase_user('alice');
select tests.create_supabase_user('bob');
insert into public.embedding_models (name, provider, provider_model, dims, hnsw_m, hnsw_ef_construction)
values ('test-4', 'openai', 'test', 4, 4, 16);
select set_config('test.hnsw', private.embedding_index_name('test-4', 'document_chunks'), true);

-- Deterministic, well spread 4-d vectors.
create function pg_temp.vec(i double precision) returns extensions.vector language sql immutable as $$
  select array[sin(i * 1.1), cos(i * 2.3), sin(i * 0.7 + 1), cos(i * 1.9)]::real[]::extensions.vector
$$;
create function pg_temp.embed(src text) returns void language sql security definer as $$
  insert into public.embeddings (owner_id, source_table, source_id, model, content_hash, embedding)
  select x.owner_id, src, x.id, 'test-4', x.content_hash, pg_temp.vec(x.n)
    from (select c.owner_id, c.id, c.content_hash, (c.metadata ->> 'n')::double precision as n from public.document_chunks c
           where src = 'document_chunks' and c.content_hash is not null
          union all
          select m.owner_id, m.id, m.content_hash, (m.metadata ->> 'n')::double precision from public.messages m
           where src = 'messages' and m.metadata ? 'n') x
   where not exists (select from public.embeddings e where e.source_table = src and e.source_id = x.id and e.model = 'test-4')
$$;
create function pg_temp.plan_of(query text) returns text language plpgsql as $$
declare
  line record;
  plan text := '';
begin
  for line in execute 'explain ' || query loop
    plan := plan || line."QUERY PLAN" || E'\n';
  end loop;
  return plan;
end
$$;

-- Alice: 2,000 chunks, 1% tagged rare, 10% tenth, the rest common; 2 documents with metadata.
select tests.authenticate_as('alice');
insert into document_chunks (id, content, metadata)
select ('d0000000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid, 'point',
       jsonb_build_object('n', i, 'tag', case when i % 100 = 37 then 'rare' when i % 10 = 3 then 'tenth' else 'common' end)
  from generate_series(0, 1999) i;
select set_config('test.d1', ((ingest_document('[{"content": "first", "metadata": {"n": 3001}}, {"content": "second", "metadata": {"n": 3002, "part": 2}}]',
                                               metadata => '{"lang": "en"}')).document).id::text, true);
select set_config('test.d2', ((ingest_document('[{"content": "third", "metadata": {"n": 3003, "lang": "de"}}]', metadata => '{"lang": "en"}')).document).id::text, true);
-- Alice's conversations: two threads of two agents, roles and metadata mixed.
select set_config('test.t1', (create_thread(agent_id => 'assistant')).id::text, true);
select set_config('test.t2', (create_thread(agent_id => 'planner')).id::text, true);
select save_messages(current_setting('test.t1')::uuid, (select json_agg(json_build_object('role', case when g % 3 = 0 then 'assistant' else 'user' end,
  'content', 'message ' || g, 'metadata', json_build_object('n', 5000 + g, 'lang', case when g % 2 = 0 then 'en' else 'fr' end))) from generate_series(1, 12) g));
select save_messages(current_setting('test.t2')::uuid, (select json_agg(json_build_object('role', 'user', 'content', 'plan ' || g,
  'metadata', json_build_object('n', 6000 + g))) from generate_series(1, 8) g));
-- Bob: chunks and messages right where Alice's queries point.
select tests.authenticate_as('bob');
insert into document_chunks (content, metadata) select 'bob point', jsonb_build_object('n', q + 0.5, 'tag', 'rare') from generate_series(0, 39) q;
select save_messages((create_thread(agent_id => 'assistant')).id, (select json_agg(json_build_object('role', 'user', 'content', 'bob says ' || q,
  'metadata', json_build_object('n', 5000 + q + 0.01))) from generate_series(1, 12) q));
select tests.authenticate_as_owner();
select pg_temp.embed('document_chunks');
select pg_temp.embed('messages');
select tests.authenticate_as('alice');

-- The exact answer: nearest first among the caller's rows passing `predicate`, computed without any index.
create function pg_temp.exact(src text, q extensions.vector, k integer, predicate text default 'true') returns uuid[] language plpgsql as $$
declare
  result uuid[];
begin
  execute format($q$
    select array_agg(x.id order by x.d, x.id) from (
      select r.id, (e.embedding <=> $1)::double precision as d
        from public.embeddings e join %s r on r.id = e.source_id
       where e.model = 'test-4' and e.source_table = %L and (%s)
       order by 2, 1 limit $2) x$q$,
    case src when 'messages' then 'public.messages' else 'public.document_chunks' end, src, predicate)
    into result using q, k;
  return result;
end
$$;
create function pg_temp.memories(q extensions.vector, k integer, args text default '') returns uuid[] language plpgsql as $$
declare
  result uuid[];
begin
  execute format('select array_agg(m.id order by m.rank) from match_memories($1, $2, model => %L %s) m', 'test-4', args) into result using q, k;
  return result;
end
$$;
create function pg_temp.documents(q extensions.vector, k integer, args text default '') returns uuid[] language plpgsql as $$
declare
  result uuid[];
begin
  execute format('select array_agg(d.id order by d.rank) from match_documents($1, $2, model => %L %s) d', 'test-4', args) into result using q, k;
  return result;
end
$$;

-- Errors
select throws_ok($$ select * from match_documents('[1,2,3]') $$, '22000', 'query embedding has 3 dimensions but model "hash-384" stores 384',
  'match_documents: a vector of the wrong size for the default model is refused, naming both sizes');
select throws_ok($$ select * from match_memories('[1,2,3]', model => 'test-4') $$, '22000', 'query embedding has 3 dimensions but model "test-4" stores 4',
  'match_memories: a vector of the wrong size for the named model is refused, naming both sizes');
select throws_ok($$ select * from match_memories('[1,2,3,4]') $$, '22000', 'query embedding has 4 dimensions but model "hash-384" stores 384',
  'without model the default model''s size applies');
select throws_ok($$ select * from match_documents(null) $$, '22004', 'query embedding must not be null', 'match_documents: a null vector is refused');
select throws_ok($$ select * from match_memories(null, model => 'test-4') $$, '22004', 'query embedding must not be null', 'match_memories: a null vector is refused');
select throws_like($$ select * from match_documents('[1,2,3,4]', model => 'nope') $$, 'unknown embedding model "nope"; registered models: %test-4%',
  'match_documents: an unknown model is refused, listing the registered ones');
select throws_ok($$ select * from match_memories('[1,2,3,4]', model => 'nope') $$, '22023', null, 'match_memories: an unknown model is refused (22023)');
select throws_ok($$ select * from match_memories('[1,2,3,4]', 0, model => 'test-4') $$, '22023', 'match_count must be between 1 and 1000 (got 0)',
  'match_memories: match_count 0 is refused');
select throws_ok($$ select * from match_documents('[1,2,3,4]', 1001, model => 'test-4') $$, '22023', 'match_count must be between 1 and 1000 (got 1001)',
  'match_documents: match_count 1001 is refused');
select throws_ok($$ select * from match_documents('[1,2,3,4]', filter => '[1]', model => 'test-4') $$, '22023',
  'filter must be a JSON object of metadata to match (got array)', 'match_documents: a filter that is not an object is refused');
select throws_ok($$ select * from match_memories('[1,2,3,4]', created_after => now(), created_before => now() - interval '1 hour', model => 'test-4') $$,
  '22023', null, 'match_memories: created_after later than created_before is refused');
select throws_ok($$ select * from match_memories('[1,2,3,4]', roles => '{boss}', model => 'test-4') $$, '22P02', null,
  'match_memories: an unknown role is refused');

-- match_memories: every filter gives exactly the nearest rows that pass it
select is(pg_temp.memories(pg_temp.vec(5003.3), 10), pg_temp.exact('messages', pg_temp.vec(5003.3), 10),
  'match_memories without filters returns the caller''s nearest messages, nearest first');
select is(pg_temp.memories(pg_temp.vec(5003.3), 50, format(', thread_id => %L', current_setting('test.t2'))),
  pg_temp.exact('messages', pg_temp.vec(5003.3), 50, format('r.thread_id = %L', current_setting('test.t2'))),
  'thread_id: only that thread''s messages');
select is(pg_temp.memories(pg_temp.vec(6002), 50, $$, agent_id => 'assistant'$$),
  pg_temp.exact('messages', pg_temp.vec(6002), 50, format('r.thread_id = %L', current_setting('test.t1'))),
  'agent_id: only the messages of that agent''s threads');
select is(pg_temp.memories(pg_temp.vec(5001), 50, $$, roles => '{assistant}'$$),
  pg_temp.exact('messages', pg_temp.vec(5001), 50, $$r.role = 'assistant'$$), 'roles: only messages of those roles');
select is(pg_temp.memories(pg_temp.vec(5001), 50, $$, filter => '{"lang": "fr"}'$$),
  pg_temp.exact('messages', pg_temp.vec(5001), 50, $$r.metadata @> '{"lang": "fr"}'$$), 'filter: only messages whose metadata contains it');
select set_config('test.cut', (select created_at::text from messages where content = 'message 7'), true);
select is(pg_temp.memories(pg_temp.vec(5001), 50, format(', created_after => %L', current_setting('test.cut'))),
  pg_temp.exact('messages', pg_temp.vec(5001), 50, format('r.created_at >= %L', current_setting('test.cut'))),
  'created_after: only messages created at or after it');
select is(pg_temp.memories(pg_temp.vec(5001), 50, format(', created_before => %L, roles => ''{user}''', current_setting('test.cut'))),
  pg_temp.exact('messages', pg_temp.vec(5001), 50, format($$r.created_at < %L and r.role = 'user'$$, current_setting('test.cut'))),
  'created_before with roles: filters combine with AND');
select results_eq(
  $$ select id, thread_id, role, content, metadata, created_at, rank from match_memories(pg_temp.vec(5004), 3, model => 'test-4') $$,
  $$ select m.id, m.thread_id, m.role, m.content, m.metadata, m.created_at, x.rank::integer
       from unnest(pg_temp.exact('messages', pg_temp.vec(5004), 3)) with ordinality x(id, rank) join messages m on m.id = x.id order by x.rank $$,
  'a match carries the message''s thread, role, content, metadata and time, and ranks 1..k');
select is((select round(similarity::numeric, 6) from match_memories(pg_temp.vec(5004), 1, model => 'test-4')),
  (select round((1 - (embedding <=> pg_temp.vec(5004)))::numeric, 6) from embeddings e join messages m on m.id = e.source_id
    where e.model = 'test-4' order by embedding <=> pg_temp.vec(5004) limit 1),
  'similarity is 1 - cosine distance');

-- match_documents: filters, the merged metadata, the stored vector as JSON
select is(pg_temp.documents(pg_temp.vec(3001.5), 5, format(', document_ids => array[%L]::uuid[]', current_setting('test.d1'))),
  pg_temp.exact('document_chunks', pg_temp.vec(3001.5), 5, format('r.document_id = %L', current_setting('test.d1'))),
  'document_ids: only those documents'' chunks');
select is(pg_temp.documents(pg_temp.vec(3001.5), 5, $$, filter => '{"lang": "en"}'$$),
  pg_temp.exact('document_chunks', pg_temp.vec(3001.5), 5, format('r.document_id = %L', current_setting('test.d1'))),
  'filter matches the document''s metadata merged with the chunk''s (the chunk''s "de" wins)');
select is(pg_temp.documents(pg_temp.vec(3001.5), 5, $$, filter => '{"part": 2}'$$),
  pg_temp.exact('document_chunks', pg_temp.vec(3001.5), 5, $$r.metadata @> '{"part": 2}'$$), 'filter matches the chunk''s own metadata');
select set_config('test.cut', (select created_at::text from document_chunks where content = 'second'), true);
select is(pg_temp.documents(pg_temp.vec(3001.5), 5, format(', created_after => %L', current_setting('test.cut'))),
  pg_temp.exact('document_chunks', pg_temp.vec(3001.5), 5, format('r.created_at >= %L', current_setting('test.cut'))),
  'created_after: only chunks created at or after it');
select results_eq(
  $$ select content, metadata, document_id, heading_path, parent_id from match_documents(pg_temp.vec(3003), 1, filter => '{"lang": "de"}', model => 'test-4') $$,
  $$ values ('third', '{"n": 3003, "lang": "de"}'::jsonb, current_setting('test.d2')::uuid, '{}'::text[], null::uuid) $$,
  'a match carries content, the merged metadata, document, headings and parent');
select is((select embedding from match_documents(pg_temp.vec(3003), 1, filter => '{"lang": "de"}', model => 'test-4')),
  (select e.embedding::text::jsonb from embeddings e join document_chunks c on c.id = e.source_id where c.content = 'third' and e.model = 'test-4'),
  'embedding is the stored vector as a JSON array');
-- the default model, through the write-only column LangChain uses
insert into document_chunks (id, content, embedding)
values ('e0000000-0000-0000-0000-000000000001', 'embedded by the caller', (select array_agg(cos(g)) from generate_series(1, 384) g)::real[]::extensions.vector);
select results_eq(
  $$ select id, round(similarity::numeric, 6), jsonb_array_length(embedding) from match_documents((select array_agg(cos(g)) from generate_series(1, 384) g)::real[]::extensions.vector, 1) $$,
  $$ values ('e0000000-0000-0000-0000-000000000001'::uuid, 1.000000, 384) $$,
  'without model match_documents searches the default model and returns its 384-number vector');

-- A filter matching 1% of 2,000 rows, through the HNSW index with iterative scans
set local enable_sort = off;
select ok(pg_temp.plan_of(format($q$
    with relaxed as materialized (
      select e.source_id as id, (e.embedding::extensions.vector(4) operator(extensions.<=>) %1$L::extensions.vector(4))::double precision as distance
        from public.embeddings e join public.document_chunks c on c.id = e.source_id
       where e.model = 'test-4' and e.source_table = 'document_chunks' and (c.metadata @> '{"tag": "rare"}'::jsonb)
       order by e.embedding::extensions.vector(4) operator(extensions.<=>) %1$L::extensions.vector(4) limit 10)
    select x.id from relaxed x order by x.distance + 0, x.id $q$, pg_temp.vec(7.5)))
          like '%Index Scan using ' || current_setting('test.hnsw') || ' on embeddings%',
  'the query vector_rank runs is answered through test-4''s HNSW index');
create function pg_temp.hnsw_scans() returns bigint language sql as $$ select pg_stat_get_xact_numscans(current_setting('test.hnsw')::regclass) $$;
select set_config('test.scans', pg_temp.hnsw_scans()::text, true);
create temp table rare as select * from match_documents(pg_temp.vec(7.5), 10, '{"tag": "rare"}', model => 'test-4');
select is(pg_temp.hnsw_scans() - current_setting('test.scans')::bigint, 1::bigint, 'match_documents scanned the HNSW index (once)');
select is((select count(*)::int from rare), 10, 'a filter matching 1% of the rows still returns all k = 10 rows');
select ok((select bool_and(metadata ->> 'tag' = 'rare') from rare), 'all of them pass the filter');
select is((select array_agg(id order by rank) from rare), pg_temp.exact('document_chunks', pg_temp.vec(7.5), 10, $$r.metadata @> '{"tag": "rare"}'$$),
  'and they are exactly the nearest 10 an exact scan finds for that filter');
select is((select count(*)::int from match_documents(pg_temp.vec(7.5), 30, '{"tag": "rare"}', model => 'test-4')), 20,
  'asking for more than match returns every matching row (20)');
select cmp_ok(
  (select count(*)::int from (
     select e.source_id from public.embeddings e join public.document_chunks c on c.id = e.source_id
      where e.model = 'test-4' and e.source_table = 'document_chunks' and c.metadata @> '{"tag": "rare"}'
      order by e.embedding::extensions.vector(4) operator(extensions.<=>) pg_temp.vec(7.5)::extensions.vector(4) limit 10) x),
  '<', 10, 'for contrast: the same HNSW query without iterative scans starves (it sees only the ef_search = 40 nearest)');
-- strict order: relaxed_order iterative scans return rows roughly sorted; the result must not be
create temp table orders as
select q, f, k, array_agg(m.similarity order by m.rank) as sims, array_agg(m.rank order by m.rank) as ranks
  from generate_series(1, 12) q, unnest(array['tenth', 'common']) f, unnest(array[100, 300]) k,
       lateral match_documents(pg_temp.vec(q + 0.5), k, jsonb_build_object('tag', f), model => 'test-4') m
 group by q, f, k;
select is((select count(*)::int from orders o, generate_subscripts(o.sims, 1) i where i > 1 and o.sims[i] > o.sims[i - 1]), 0,
  'results are strictly ordered by similarity, also for k beyond what one HNSW batch returns (48 searches of 100 or 300 rows)');
select ok((select bool_and(ranks = array(select generate_series(1, cardinality(ranks)))) from orders), 'ranks run 1..n without gaps');
select is((select count(*)::int from orders where k = 100 and cardinality(sims) <> 100), 0, 'every search of 100 returns 100 rows');
set local enable_sort = on;

-- Other tenants
select is((select count(*)::int from orders), 48, 'Alice ran her searches');
select is((select count(*)::int from match_documents(pg_temp.vec(1.5), 1000, '{"tag": "rare"}', model => 'test-4') d where d.content = 'bob point'), 0,
  'Bob''s chunks, placed right at Alice''s query, never appear for her');
select is((select count(*)::int from match_memories(pg_temp.vec(5001.01), 1000, model => 'test-4') m where m.content like 'bob%'), 0,
  'Bob''s messages never appear for Alice');
select tests.authenticate_as('bob');
select is((select count(*)::int from match_documents(pg_temp.vec(7.5), 1000, model => 'test-4') d where d.content <> 'bob point'), 0,
  'Bob finds only his own chunks');
select is((select count(*)::int from match_memories(pg_temp.vec(5001), 1000, model => 'test-4')), 12, 'and only his own 12 messages');
select tests.authenticate_as_service_role();
select is((select count(distinct content = 'bob point')::int from match_documents(pg_temp.vec(1.5), 1000, model => 'test-4')), 2,
  'service_role finds every owner''s chunks');
select tests.clear_authentication();
select throws_ok($$ select * from match_documents(pg_temp.vec(1)) $$, '42501', null, 'anon cannot call match_documents');
select throws_ok($$ select * from match_memories(pg_temp.vec(1)) $$, '42501', null, 'anon cannot call match_memories');

-- hnsw settings stay inside the call
select tests.authenticate_as('alice');
set local hnsw.ef_search = 55;
set local hnsw.iterative_scan = 'strict_order';
select is((select count(*)::int from match_documents(pg_temp.vec(2), 500, model => 'test-4')), 500, 'a search of 500 rows');
select is(current_setting('hnsw.ef_search'), '55', 'hnsw.ef_search is the caller''s again after the call');
select is(current_setting('hnsw.iterative_scan'), 'strict_order', 'hnsw.iterative_scan is the caller''s again after the call');
select is((select count(*)::int from match_memories(pg_temp.vec(5001), 5, model => 'test-4')), 5, 'a search of 5 rows');
select is(current_setting('hnsw.ef_search') || ' ' || current_setting('hnsw.iterative_scan'), '55 strict_order',
  'match_memories leaves them alone too');

select * from finish();
rollback;
