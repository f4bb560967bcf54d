-- hybrid_search: the fused score of every row is bm25_weight / (rrf_k + bm25_rank) + vector_weight /
-- (rrf_k + vector_rank), a channel that did not find a row contributing nothing; each row carries both
-- channels' ranks and scores exactly as bm25_search and match_documents give them (null where absent);
-- without a query vector, or with a zero weight, one channel runs alone; parameter errors; the default
-- candidate depth; candidate depths beyond pgvector's ef_search maximum; the retrieval settings refused
-- out of range and applied in range.
begin;
\ir helpers/test_helpers.psql
select plan(53);

select tests.create_supabase_user('alice');
select tests.create_supabase_user('bob');
insert into public.embedding_models (name, provider, provider_model, dims, hnsw_m, hnsw_ef_construction)
values ('test-4', 'openai', 'test', 4, 4, 16);

create function pg_temp.vec(i double precision) returns extensions.vector language sql immutable as $$
  select array[sin(i * 1.1), cos(i * 2.3), sin(i * 0.7 + 1), cos(i * 1.9)]::real[]::extensions.vector
$$;
create function pg_temp.embed() returns void language sql security definer as $$
  insert into public.embeddings (owner_id, source_table, source_id, model, content_hash, embedding)
  select c.owner_id, 'document_chunks', c.id, 'test-4', c.content_hash, pg_temp.vec((c.metadata ->> 'n')::double precision)
    from public.document_chunks c
   where not exists (select from public.embeddings e where e.source_id = c.id and e.model = 'test-4')
  union all
  select m.owner_id, 'messages', m.id, 'test-4', m.content_hash, pg_temp.vec((m.metadata ->> 'n')::double precision)
    from public.messages m
   where m.metadata ? 'n' and not exists (select from public.embeddings e where e.source_id = m.id and e.model = 'test-4')
$$;

-- Alice: 1,200 chunks; a third mention apples (some with pie), the rest other fruit.
select tests.authenticate_as('alice');
insert into document_chunks (id, content, metadata)
select ('c0000000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid,
       case when i % 3 = 0 then 'apple ' || repeat('pie ', 1 + i % 4) || 'number ' || i
            when i % 7 = 0 then 'pears and plums ' || i else 'cherry ' || i end,
       jsonb_build_object('n', i)
  from generate_series(1, 1200) i;
select set_config('test.t', (create_thread(agent_id => 'assistant')).id::text, true);
select save_messages(current_setting('test.t')::uuid, (select json_agg(json_build_object('role', 'user', 'content', 'apple talk ' || g,
  'metadata', json_build_object('n', g))) from generate_series(1, 30) g));
select save_messages((create_thread(agent_id => 'assistant')).id, '[{"role": "user", "content": "apple elsewhere", "metadata": {"n": 7}}]');
select tests.authenticate_as('bob');
insert into document_chunks (content, metadata) select 'apple pie pie pie bob ' || g, jsonb_build_object('n', 7.2 + g / 1000.0) from generate_series(1, 30) g;
select tests.authenticate_as_owner();
select pg_temp.embed();
select tests.authenticate_as('alice');

-- The fusion recomputed from the two public channels.
create function pg_temp.fused(q text, emb extensions.vector, k integer, candidates integer, bw double precision default 1,
                              vw double precision default 1, rrf_k integer default 60)
returns table (id uuid, score double precision) language sql as $$
  select coalesce(b.id, v.id), coalesce(bw / (rrf_k + b.rank), 0) + coalesce(vw / (rrf_k + v.rank), 0)
    from (select * from bm25_search(q, candidates)) b
    full join (select * from match_documents(emb, candidates, model => 'test-4')) v on v.id = b.id
   order by 2 desc, 1 limit k
$$;
create temp table hits as select * from hybrid_search('apple pie', pg_temp.vec(7.2), 10, model => 'test-4');
create temp table b20 as select * from bm25_search('apple pie', 20);
create temp table v20 as select * from match_documents(pg_temp.vec(7.2), 20, model => 'test-4');

select is((select count(*)::int from hits), 10, 'hybrid_search returns match_count rows');
select is((select count(*)::int from hits where round(score::numeric, 12) <> round((coalesce(1.0 / (60 + bm25_rank), 0) + coalesce(1.0 / (60 + vector_rank), 0))::numeric, 12)), 0,
  'every row''s score is 1/(60 + bm25_rank) + 1/(60 + vector_rank), an absent channel adding 0');
select is((select count(*)::int from hits h join b20 b on b.id = h.id where h.bm25_rank = b.rank and h.bm25_score = b.score),
  (select count(*)::int from hits where bm25_rank is not null), 'bm25_rank and bm25_score are bm25_search''s over the candidates');
select is((select count(*)::int from hits h join v20 v on v.id = h.id where h.vector_rank = v.rank and h.vector_score = v.similarity),
  (select count(*)::int from hits where vector_rank is not null), 'vector_rank and vector_score are match_documents'' over the candidates');
select is((select count(*)::int from hits h where (h.bm25_rank is null) <> not exists (select from b20 where b20.id = h.id)
                                               or (h.vector_rank is null) <> not exists (select from v20 where v20.id = h.id)), 0,
  'a channel''s columns are null exactly when that channel did not return the row');
select ok(exists (select from hits where bm25_rank is null) and exists (select from hits where vector_rank is null),
  'the top 10 mixes rows found by one channel only');
select is((select array_agg(id order by rank) from hits), (select array_agg(id) from pg_temp.fused('apple pie', pg_temp.vec(7.2), 10, 20)),
  'the ranking is the fusion of the two channels'' top 20 (default candidates: twice match_count, at least 20)');
select ok((select bool_and(rank = r) from (select rank, row_number() over (order by score desc, id) as r from hits) x),
  'rows are ranked 1..n by score, ties by id');
select ok((select bool_and(matched = coalesce((select b.matched from b20 b where b.id = h.id), '{}')) from hits h),
  'matched comes from the BM25 channel (empty for vector-only rows)');
select results_eq($$ select h.content, h.metadata from hits h where h.rank = 1 $$,
  $$ select c.content, c.metadata from document_chunks c where c.id = (select id from hits where rank = 1) $$, 'a hit carries its chunk');
-- weights and rrf_k
drop table hits;
create temp table hits as select * from hybrid_search('apple pie', pg_temp.vec(7.2), 15, bm25_weight => 2, vector_weight => 0.5, rrf_k => 10,
                                                      candidates => 40, model => 'test-4');
select is((select count(*)::int from hits where round(score::numeric, 12) <> round((coalesce(2.0 / (10 + bm25_rank), 0) + coalesce(0.5 / (10 + vector_rank), 0))::numeric, 12)), 0,
  'with bm25_weight 2, vector_weight 0.5 and rrf_k 10 every score is 2/(10 + bm25_rank) + 0.5/(10 + vector_rank)');
select is((select array_agg(id order by rank) from hits), (select array_agg(id) from pg_temp.fused('apple pie', pg_temp.vec(7.2), 15, 40, 2, 0.5, 10)),
  'and the ranking is that fusion of the top 40 of each channel');
-- one channel alone
select results_eq($$ select id, rank, bm25_rank, bm25_score, vector_rank, vector_score from hybrid_search('apple pie') $$,
  $$ select id, rank, rank, score, null::integer, null::double precision from bm25_search('apple pie') $$,
  'without a query vector only BM25 runs: its ranking, its scores, no vector columns');
select is((select count(*)::int from hybrid_search('apple pie') where round(score::numeric, 12) <> round(1.0 / (60 + bm25_rank), 12)), 0,
  'and the score is 1/(60 + bm25_rank)');
select results_eq($$ select id from hybrid_search('apple pie', pg_temp.vec(7.2), vector_weight => 0, model => 'test-4') $$,
  $$ select id from bm25_search('apple pie') $$, 'vector_weight 0 leaves BM25 alone');
select results_eq($$ select id, vector_rank, vector_score, bm25_rank, matched from hybrid_search('apple pie', pg_temp.vec(7.2), bm25_weight => 0, model => 'test-4') $$,
  $$ select id, rank, similarity, null::integer, '{}'::text[] from match_documents(pg_temp.vec(7.2), model => 'test-4') $$,
  'bm25_weight 0 leaves the vector channel alone');
select results_eq($$ select id from hybrid_search('zebra', pg_temp.vec(7.2), model => 'test-4') $$,
  $$ select id from match_documents(pg_temp.vec(7.2), model => 'test-4') $$, 'a query no chunk matches still gets the vector channel''s rows');
select is_empty($$ select 1 from hybrid_search('the of and', null) $$, 'stop words and no vector: no rows');

-- Parameter errors
select throws_ok($$ select * from hybrid_search('apple', bm25_weight => -1) $$, '22023', 'bm25_weight must be between 0 and 1000 (got -1)',
  'a negative bm25_weight is refused');
select throws_ok($$ select * from hybrid_search('apple', vector_weight => -0.5) $$, '22023', 'vector_weight must be between 0 and 1000 (got -0.5)',
  'a negative vector_weight is refused');
select throws_ok($$ select * from hybrid_search('apple', vector_weight => 'NaN') $$, '22023', 'vector_weight must be between 0 and 1000 (got NaN)',
  'a NaN weight is refused');
select throws_ok($$ select * from hybrid_search('apple', bm25_weight => 1001) $$, '22023', 'bm25_weight must be between 0 and 1000 (got 1001)',
  'a weight above 1000 is refused');
select throws_ok($$ select * from hybrid_search('apple', bm25_weight => 0, vector_weight => 0) $$, '22023', 'bm25_weight and vector_weight cannot both be 0',
  'both weights 0 is refused');
select throws_ok($$ select * from hybrid_search('apple', rrf_k => 0) $$, '22023', 'rrf_k must be between 1 and 1000 (got 0)', 'rrf_k 0 is refused');
select throws_ok($$ select * from hybrid_search('apple', rrf_k => 1001) $$, '22023', 'rrf_k must be between 1 and 1000 (got 1001)', 'rrf_k 1001 is refused');
select throws_ok($$ select * from hybrid_search('apple', match_count => 10, candidates => 5) $$, '22023',
  'candidates must be between match_count (10) and 10000 (got 5)', 'fewer candidates than match_count is refused');
select throws_ok($$ select * from hybrid_search('apple', candidates => 10001) $$, '22023',
  'candidates must be between match_count (10) and 10000 (got 10001)', 'more than 10,000 candidates is refused');
select throws_ok($$ select * from hybrid_search('apple', match_count => 0) $$, '22023', 'match_count must be between 1 and 1000 (got 0)', 'match_count 0 is refused');
select throws_ok($$ select * from hybrid_search('  ') $$, '22023', 'query_text must not be empty', 'a blank query is refused');
select throws_ok($$ select * from hybrid_search('apple', '[1,2,3]') $$, '22000', 'query embedding has 3 dimensions but model "hash-384" stores 384',
  'a query vector of the wrong size is refused, naming both sizes');
select throws_ok($$ select * from hybrid_search('apple', source => 'messages', document_ids => array[gen_random_uuid()]) $$, '22023',
  'document_ids filters source document_chunks, not messages', 'a filter of the other source is refused');
select throws_ok($$ select * from hybrid_search('apple', filter => '"x"') $$, '22023', 'filter must be a JSON object of metadata to match (got string)',
  'a filter that is not an object is refused');

-- Default candidates: twice match_count, at least retrieval.hybrid_candidates, at most 10,000
select is((private.hybrid_params(null, null, null, null, 5)).candidates_used, 20, 'match_count 5: 20 candidates (the setting''s minimum)');
select is((private.hybrid_params(null, null, null, null, 15)).candidates_used, 30, 'match_count 15: 30 candidates (twice match_count)');
select is((private.hybrid_params(null, null, null, null, 1000)).candidates_used, 2000, 'match_count 1000: 2000 candidates');
select results_eq($$ select bm25_weight_used, vector_weight_used, rrf_k_used from private.hybrid_params(null, null, null, null, 10) $$,
  $$ values (1::double precision, 1::double precision, 60) $$, 'weights default to 1, rrf_k to the setting (60)');
-- Deep candidate lists: beyond hnsw.ef_search's maximum of 1000
select is((select count(*)::int from hybrid_search('apple pie', pg_temp.vec(7.2), 600, model => 'test-4')), 600,
  'match_count 600 (1200 candidates per channel) with a query vector works');
select is((select count(*)::int from hybrid_search('apple pie', pg_temp.vec(7.2), 10, candidates => 1100, model => 'test-4') where vector_rank is not null), 10,
  'and so does an explicit candidates => 1100');
select is((select max(bm25_rank) from hybrid_search('apple pie', pg_temp.vec(7.2), 1000, model => 'test-4')), 400,
  'all 400 BM25 matches come through a 2000-deep candidate list');

-- Settings: refused out of range, applied in range
select tests.authenticate_as_owner();
select throws_ok($$ update settings set value = '0' where category = 'retrieval' and key = 'rrf_k' $$, '22023',
  'setting retrieval.rrf_k must be a whole number between 1 and 1000, got 0', 'retrieval.rrf_k = 0 is refused');
select throws_ok($$ update settings set value = '2.5' where category = 'retrieval' and key = 'rrf_k' $$, '22023',
  'setting retrieval.rrf_k must be a whole number between 1 and 1000, got 2.5', 'a fractional retrieval.rrf_k is refused');
select throws_ok($$ update settings set value = '"60"' where category = 'retrieval' and key = 'rrf_k' $$, '22023',
  'setting retrieval.rrf_k must be a whole number between 1 and 1000, got "60"', 'a retrieval.rrf_k that is not a number is refused');
select throws_ok($$ update settings set value = '0' where category = 'retrieval' and key = 'hybrid_candidates' $$, '22023',
  'setting retrieval.hybrid_candidates must be a whole number between 1 and 10000, got 0', 'retrieval.hybrid_candidates = 0 is refused');
select throws_ok($$ update settings set value = '10001' where category = 'retrieval' and key = 'hybrid_candidates' $$, '22023',
  'setting retrieval.hybrid_candidates must be a whole number between 1 and 10000, got 10001', 'retrieval.hybrid_candidates above 10,000 is refused');
select throws_ok($$ update settings set value = '1.5' where category = 'context' and key = 'recall_budget_share' $$, '22023',
  'setting context.recall_budget_share must be a number between 0 and 1, got 1.5', 'context.recall_budget_share above 1 is refused');
select throws_ok($$ delete from settings where category = 'retrieval' and key = 'rrf_k';
                    insert into settings (category, key, value) values ('retrieval', 'rrf_k', '-3') $$, '22023',
  'setting retrieval.rrf_k must be a whole number between 1 and 1000, got -3', 'a bad value is refused on insert too');
update settings set value = '10' where category = 'retrieval' and key = 'rrf_k';
update settings set value = '50' where category = 'retrieval' and key = 'hybrid_candidates';
select tests.authenticate_as('alice');
select is((select count(*)::int from hybrid_search('apple pie', pg_temp.vec(7.2), 10, model => 'test-4')
            where round(score::numeric, 12) <> round((coalesce(1.0 / (10 + bm25_rank), 0) + coalesce(1.0 / (10 + vector_rank), 0))::numeric, 12)), 0,
  'retrieval.rrf_k = 10 is the k every score then uses');
select is((private.hybrid_params(null, null, null, null, 15)).candidates_used, 50, 'retrieval.hybrid_candidates = 50 raises the default depth');
select is((select array_agg(id order by rank) from hybrid_search('apple pie', pg_temp.vec(7.2), 15, model => 'test-4')),
  (select array_agg(id) from pg_temp.fused('apple pie', pg_temp.vec(7.2), 15, 50, 1, 1, 10)), 'and the search uses it');

-- Other sources and tenants
select is((select count(*)::int from hybrid_search('apple pie', pg_temp.vec(7.2), 1000, model => 'test-4') where content like '%bob%'), 0,
  'Bob''s chunks, close to Alice''s query in both channels, never appear for her');
select ok((select bool_and(thread_id = current_setting('test.t')::uuid)
             from hybrid_search('apple', pg_temp.vec(7), 50, source => 'messages', thread_id => current_setting('test.t')::uuid, model => 'test-4')),
  'over messages, thread_id filters both channels');
select tests.authenticate_as('bob');
select is((select count(*)::int from hybrid_search('apple pie', pg_temp.vec(7.2), 1000, model => 'test-4') where content not like '%bob%'), 0,
  'Bob finds only his own chunks');
select throws_ok($$ select hybrid_search('apple', null, 5, bm25_weight => 0) $$, '22023',
  'nothing to search: bm25_weight is 0 and no query_embedding was given', 'turning BM25 off without a vector is refused');

select * from finish();
rollback;
