-- Embedding storage: the model registry, one partial HNSW index per model and source (used by a kNN query), size
-- checks for stored and query vectors with errors naming both sizes, unknown models listed, and row level
-- security (a user reads only their own embeddings; nobody but service_role writes them).
begin;
\ir helpers/test_helpers.psql
select plan(29);

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

select tests.create_supabase_user('alice');
select tests.create_supabase_user('bob');
insert into public.memory_threads (id, owner_id) values ('20000000-0000-0000-0000-000000000001', tests.get_supabase_uid('alice'));
insert into public.messages (id, thread_id, role, content)
values ('20000000-0000-0000-0000-0000000000a1', '20000000-0000-0000-0000-000000000001', 'user', 'alice writes about lisbon');

-- registry
select results_eq($$ select name from public.embedding_models where is_default $$, $$ values ('hash-384') $$,
  'hash-384 is the one default model');
select throws_ok($$ update public.embedding_models set is_default = true where name = 'gte-small' $$, '23505', null,
  'a second default model is refused');

-- one partial HNSW expression index per model and embedding source
select ok((select indexdef from pg_indexes where indexname = private.embedding_index_name('hash-384', 'document_chunks'))
            like '%USING hnsw (((embedding)::%vector(384)) %vector_cosine_ops)%WHERE ((model = ''hash-384''::text) AND (source_table = ''document_chunks''::text))',
  'hash-384 has a partial HNSW index over document_chunks on embedding::vector(384) with vector_cosine_ops');
select ok((select indexdef from pg_indexes where indexname = private.embedding_index_name('text-embedding-3-large', 'messages'))
            like '%USING hnsw (((embedding)::%halfvec(3072)) %halfvec_cosine_ops)%WHERE ((model = ''text-embedding-3-large''::text) AND (source_table = ''messages''::text))',
  'a halfvec model is indexed as halfvec(3072) with halfvec_cosine_ops');
select is((select count(*)::int from pg_indexes where schemaname = 'public' and tablename = 'embeddings' and indexdef like '%USING hnsw%'),
          (select count(*)::int from public.embedding_models) * (select count(*)::int from util.embedding_sources),
  'every model has one HNSW index per embedding source, and there is no other');
select ok(not exists (select from pg_indexes where indexname = private.embedding_index_name('hash-384')),
  'the per-model index of earlier versions is gone');
insert into public.embedding_models (name, provider, provider_model, dims) values ('local-test-8', 'openai', 'test', 8);
select is((select array_agg(s.source_table order by s.source_table) from util.embedding_sources s
            where exists (select from pg_indexes where indexname = private.embedding_index_name('local-test-8', s.source_table))),
          (select array_agg(s.source_table order by s.source_table) from util.embedding_sources s),
  'registering a model creates its index over every source');
select is(array(select util.ensure_embedding_indexes('local-test-8')),
          array(select private.embedding_index_name('local-test-8', s.source_table) from util.embedding_sources s order by s.source_table),
  'util.ensure_embedding_indexes is idempotent and returns the index names by source');
select throws_ok($$ select util.ensure_embedding_indexes('local-test-8', 'nope') $$, '22023',
  'unknown embedding source "nope" (registered: document_chunks, memories, messages)',
  'an unknown source is refused with the list of registered ones');
update public.embedding_models set hnsw_m = 4, hnsw_ef_construction = 20 where name = 'local-test-8';
select ok((select indexdef from pg_indexes where indexname = private.embedding_index_name('local-test-8', 'messages')) like '%m=''4''%ef_construction=''20''%',
  'a change of the HNSW parameters rebuilds the model''s indexes with them');
create table public.test_notes (id uuid primary key default gen_random_uuid(), owner_id uuid not null, body text not null);
select util.register_embedding_source('public.test_notes', 'body');
select is((select count(*)::int from public.embedding_models m
            where exists (select from pg_indexes where indexname = private.embedding_index_name(m.name, 'test_notes'))),
          (select count(*)::int from public.embedding_models),
  'registering an embedding source creates its index in every model');
insert into public.embedding_models (name, provider, provider_model, dims) values ('local-test-drop', 'openai', 'test', 8);
delete from public.embedding_models where name = 'local-test-drop';
select ok(not exists (select from pg_indexes where indexname = private.embedding_index_name('local-test-drop', 'messages')),
  'a deleted model''s indexes are dropped');
select ok(not exists (select from pg_indexes where tablename = 'embeddings' and indexdef like '%local-test-drop%'),
  'all of them');

insert into public.embeddings (owner_id, source_table, source_id, model, content_hash, embedding)
select tests.get_supabase_uid('alice'), 'messages', '20000000-0000-0000-0000-0000000000a1', 'hash-384', repeat('a', 64),
       (select array_agg(sin(g)) from generate_series(1, 384) g)::extensions.vector;
set local enable_seqscan = off;
select ok(pg_temp.plan_of($$ select id from public.embeddings where model = 'hash-384' and source_table = 'messages'
                              order by embedding::extensions.vector(384) <=> (select embedding from public.embeddings limit 1) limit 5 $$)
            like '%Index Scan using ' || private.embedding_index_name('hash-384', 'messages') || '%',
  'a nearest-neighbour query on hash-384 messages uses their HNSW index');
set local enable_seqscan = on;

-- sizes
select throws_ok(
  $$ insert into public.embeddings (owner_id, source_table, source_id, model, content_hash, embedding)
     values (gen_random_uuid(), 'messages', gen_random_uuid(), 'hash-384', repeat('b', 64), '[1,2,3]') $$,
  '22000', 'embedding has 3 dimensions but model "hash-384" stores 384',
  'a stored vector of the wrong size is refused with both sizes');
select throws_ok(
  $$ update public.embeddings set embedding = '[1,2,3,4,5,6,7,8]' where model = 'hash-384' $$,
  '22000', 'embedding has 8 dimensions but model "hash-384" stores 384',
  'changing a stored vector to the wrong size is refused too');
select throws_ok(
  $$ insert into public.embeddings (owner_id, source_table, source_id, model, content_hash, embedding)
     values (gen_random_uuid(), 'messages', gen_random_uuid(), 'nope', repeat('b', 64), '[1,2,3]') $$,
  '22023', 'unknown embedding model "nope"; registered models: gte-small, hash-384, local-test-8, text-embedding-3-large, text-embedding-3-small',
  'an unknown model is refused with the list of registered models');
select throws_ok($$ select private.check_query_embedding('hash-384', '[1,2,3]') $$,
  '22000', 'query embedding has 3 dimensions but model "hash-384" stores 384',
  'a query vector of the wrong size fails naming both sizes');
select is(private.check_query_embedding('local-test-8', '[1,2,3,4,5,6,7,8]')::text, '[1,2,3,4,5,6,7,8]',
  'a query vector of the right size comes back unchanged');
select throws_ok($$ select private.check_query_embedding('mystery', '[1]') $$, '22023', null,
  'a query for an unknown model fails');
select throws_ok($$ update public.embedding_models set dims = 512 where name = 'hash-384' $$,
  '55000', 'model "hash-384" has embeddings; its dims and storage cannot change',
  'a model with embeddings keeps its size');
select throws_ok($$ insert into public.embedding_models (name, provider, provider_model, dims) values ('too-big', 'openai', 'x', 3072) $$,
  '23514', null, 'a vector model over 2,000 dimensions (HNSW''s limit) is refused: use halfvec');

-- row level security
select tests.authenticate_as('alice');
select results_eq($$ select source_id from public.embeddings $$, $$ values ('20000000-0000-0000-0000-0000000000a1'::uuid) $$,
  'Alice reads her embedding');
select ok((select count(*) from public.embedding_models) >= 4, 'signed-in users read the model registry');
select throws_ok(
  $$ insert into public.embeddings (owner_id, source_table, source_id, model, content_hash, embedding)
     values (auth.uid(), 'messages', gen_random_uuid(), 'local-test-8', repeat('c', 64), '[1,2,3,4,5,6,7,8]') $$,
  '42501', null, 'a user cannot write embeddings (only the pipeline does)');
select throws_ok($$ update public.embedding_models set dims = 9 where name = 'local-test-8' $$, '42501', null,
  'a user cannot change the model registry');
select tests.authenticate_as('bob');
select is_empty($$ select id from public.embeddings $$, 'Bob cannot read Alice''s embeddings');
select tests.clear_authentication();
select throws_ok($$ select name from public.embedding_models $$, '42501', null, 'anon cannot read the model registry');
select tests.authenticate_as_service_role();
select ok((select count(*) from public.embeddings where model = 'hash-384') >= 1, 'service_role reads every embedding');

select * from finish();
rollback;
