-- LangChain compatibility: document_chunks.embedding is write-only — a vector written with a leaf chunk
-- (insert, update, upsert, or through a security-invoker view) is stored in public.embeddings under the
-- default model with the chunk's content hash, and the column reads null; the wrong size (22000) and
-- parent chunks (22023) are refused; users cannot write embeddings directly, nor through another user's
-- chunk id; kw_match_documents is bm25_search with the BM25 score as similarity; match_documents and
-- kw_match_documents take exactly LangChain's argument names.
begin;
\ir helpers/test_helpers.psql
select plan(36);

select tests.create_supabase_user('alice');
select tests.create_supabase_user('bob');

create function pg_temp.v(n double precision) returns extensions.vector language sql immutable as $$
  select array(select cos(g * n) from generate_series(1, 384) g)::real[]::extensions.vector
$$;
-- The stored embeddings of a chunk, read as the session owner: model, owner, content hash, and the vector
-- as the md5 of its text (short diagnostics).
create function pg_temp.stored(chunk uuid) returns table (model text, owner_id uuid, content_hash text, embedding text)
language sql security definer as $$
  select e.model, e.owner_id, e.content_hash, md5(e.embedding::text) from public.embeddings e where e.source_table = 'document_chunks' and e.source_id = chunk
$$;
create function pg_temp.h(n double precision) returns text language sql immutable as $$ select md5(pg_temp.v(n)::text) $$;

-- Insert a leaf with a vector (what SupabaseVectorStore.addDocuments sends)
select tests.authenticate_as('alice');
insert into document_chunks (id, content, metadata, embedding)
values ('a0000000-0000-0000-0000-000000000001', 'LangChain wrote this.', '{"source": "langchain"}', pg_temp.v(1));
select results_eq($$ select model, owner_id, content_hash, embedding from pg_temp.stored('a0000000-0000-0000-0000-000000000001') $$,
  $$ select 'hash-384', tests.get_supabase_uid('alice'), c.content_hash, pg_temp.h(1) from document_chunks c where c.id = 'a0000000-0000-0000-0000-000000000001' $$,
  'a vector written with a chunk is stored under the default model, for the chunk''s owner and content hash');
select is((select embedding from document_chunks where id = 'a0000000-0000-0000-0000-000000000001'), null,
  'the embedding column always reads null');
select results_eq($$ select id, round(similarity::numeric, 6) from match_documents(pg_temp.v(1), 1) $$,
  $$ values ('a0000000-0000-0000-0000-000000000001'::uuid, 1.000000) $$, 'the chunk is searchable at once with that vector');
-- Update
update document_chunks set embedding = pg_temp.v(2) where id = 'a0000000-0000-0000-0000-000000000001';
select is((select embedding from pg_temp.stored('a0000000-0000-0000-0000-000000000001')), pg_temp.h(2),
  'writing the column again replaces the stored vector');
update document_chunks set content = 'LangChain rewrote this.', embedding = pg_temp.v(3) where id = 'a0000000-0000-0000-0000-000000000001';
select results_eq($$ select content_hash, embedding from pg_temp.stored('a0000000-0000-0000-0000-000000000001') $$,
  $$ select c.content_hash, pg_temp.h(3) from document_chunks c where c.id = 'a0000000-0000-0000-0000-000000000001' $$,
  'a new content with a new vector stores the vector with the new content''s hash');
select is((select count(*)::int from pg_temp.stored('a0000000-0000-0000-0000-000000000001')), 1, 'one vector per chunk and model');
update document_chunks set metadata = '{"source": "langchain", "v": 2}' where id = 'a0000000-0000-0000-0000-000000000001';
select is((select embedding from pg_temp.stored('a0000000-0000-0000-0000-000000000001')), pg_temp.h(3),
  'an update without a vector leaves the stored one alone');
-- Upsert (PostgREST upsert: on conflict (id) do update set … = excluded.…)
insert into document_chunks (id, content, metadata, embedding)
values ('a0000000-0000-0000-0000-000000000001', 'Upserted content.', '{"source": "upsert"}', pg_temp.v(4))
on conflict (id) do update set content = excluded.content, metadata = excluded.metadata, embedding = excluded.embedding;
select results_eq($$ select e.content_hash, e.embedding, c.content, c.embedding from pg_temp.stored('a0000000-0000-0000-0000-000000000001') e,
                          document_chunks c where c.id = 'a0000000-0000-0000-0000-000000000001' $$,
  $$ select c.content_hash, pg_temp.h(4), 'Upserted content.', null::extensions.vector from document_chunks c where c.id = 'a0000000-0000-0000-0000-000000000001' $$,
  'an upsert of an existing chunk updates it and stores its new vector with the new content hash');
insert into document_chunks (id, content, embedding) values ('a0000000-0000-0000-0000-000000000002', 'Upserted new.', pg_temp.v(5))
on conflict (id) do update set content = excluded.content, embedding = excluded.embedding;
select is((select embedding from pg_temp.stored('a0000000-0000-0000-0000-000000000002')), pg_temp.h(5),
  'an upsert of a new chunk stores its vector');
insert into document_chunks (id, content, embedding) values ('a0000000-0000-0000-0000-000000000002', 'Ignored.', pg_temp.v(6)) on conflict do nothing;
select results_eq($$ select c.content, e.embedding from document_chunks c, pg_temp.stored(c.id) e where c.id = 'a0000000-0000-0000-0000-000000000002' $$,
  $$ values ('Upserted new.', pg_temp.h(5)) $$, 'an insert that does nothing on conflict stores nothing either');

-- Refused vectors
select throws_ok($$ insert into document_chunks (content, embedding) values ('x', '[1,2,3]') $$, '22000',
  'embedding has 3 dimensions but the default embedding model "hash-384" stores 384', 'a vector of the wrong size is refused, naming both sizes');
select throws_ok($$ update document_chunks set embedding = '[1,2,3]' where id = 'a0000000-0000-0000-0000-000000000001' $$, '22000',
  'embedding has 3 dimensions but the default embedding model "hash-384" stores 384', 'also on update');
select set_config('test.doc', ((ingest_document('[{"level": 1, "content": "Section."}, {"parent": 0, "content": "Leaf."}]')).document).id::text, true);
select throws_ok(
  format($$ insert into document_chunks (document_id, ordinal, level, content, embedding) values (%L, 5, 1, 'Another section.', pg_temp.v(1)) $$, current_setting('test.doc')),
  '22023', 'embedding can only be given for a leaf chunk (level 0); parent chunks are not searched', 'a vector for a parent chunk is refused');
select throws_ok(
  format($$ update document_chunks set embedding = pg_temp.v(1) where document_id = %L and level = 1 $$, current_setting('test.doc')),
  '22023', 'embedding can only be given for a leaf chunk (level 0); parent chunks are not searched', 'also on update');
select lives_ok(format($$ update document_chunks set embedding = pg_temp.v(7) where document_id = %L and level = 0 $$, current_setting('test.doc')),
  'a leaf of an ingested document takes a vector too');
select is((select e.owner_id from document_chunks c, pg_temp.stored(c.id) e where c.document_id = current_setting('test.doc')::uuid),
  tests.get_supabase_uid('alice'), 'stored for the document''s owner');

-- Nobody writes embeddings directly, and nobody through someone else's chunk
select throws_ok($$ insert into embeddings (owner_id, source_table, source_id, model, content_hash, embedding)
                    values (tests.get_supabase_uid('alice'), 'document_chunks', 'a0000000-0000-0000-0000-000000000002', 'hash-384', repeat('0', 64), pg_temp.v(9)) $$,
  '42501', null, 'a user cannot insert embeddings');
select throws_ok($$ update embeddings set embedding = pg_temp.v(9) $$, '42501', null, 'a user cannot update embeddings');
select throws_ok($$ delete from embeddings $$, '42501', null, 'a user cannot delete embeddings');
select tests.authenticate_as('bob');
insert into document_chunks (id, content, embedding) values ('a0000000-0000-0000-0000-000000000002', 'Bob''s vector.', pg_temp.v(8)) on conflict do nothing;
select results_eq($$ select owner_id, embedding from pg_temp.stored('a0000000-0000-0000-0000-000000000002') $$,
  $$ values (tests.get_supabase_uid('alice'), pg_temp.h(5)) $$,
  'Bob inserting a vector under Alice''s chunk id (on conflict do nothing) changes neither her vector nor its owner');
select throws_ok($$ insert into document_chunks (id, content, embedding) values ('a0000000-0000-0000-0000-000000000002', 'Bob''s vector.', pg_temp.v(8))
                    on conflict (id) do update set content = excluded.content, embedding = excluded.embedding $$,
  '42501', null, 'Bob cannot upsert over Alice''s chunk');
select throws_ok($$ insert into document_chunks (id, content, embedding) values ('a0000000-0000-0000-0000-000000000002', 'Bob''s vector.', pg_temp.v(8)) $$,
  '23505', null, 'a plain insert with Alice''s chunk id is a duplicate key');
select is((select embedding from pg_temp.stored('a0000000-0000-0000-0000-000000000002')), pg_temp.h(5), 'Alice''s vector is still hers');
select is_empty($$ select 1 from match_documents(pg_temp.v(5), 10) where id = 'a0000000-0000-0000-0000-000000000002' $$,
  'Bob does not find Alice''s chunk with her vector');

-- Through a security-invoker view (SupabaseVectorStore's tableName may be one)
select tests.authenticate_as_owner();
create view public.lc_documents with (security_invoker = true) as select id, content, metadata, embedding from public.document_chunks;
grant select, insert, update, delete on public.lc_documents to authenticated;
select tests.authenticate_as('bob');
insert into lc_documents (id, content, metadata, embedding) values ('b0000000-0000-0000-0000-000000000001', 'Bob via the view.', '{}', pg_temp.v(10));
select results_eq($$ select owner_id, embedding from pg_temp.stored('b0000000-0000-0000-0000-000000000001') $$,
  $$ values (tests.get_supabase_uid('bob'), pg_temp.h(10)) $$, 'a vector written through the view is stored like one written to the table');
select results_eq($$ select id from lc_documents $$, $$ values ('b0000000-0000-0000-0000-000000000001'::uuid) $$,
  'the view keeps row level security: Bob sees only his chunk');
delete from lc_documents where id = 'b0000000-0000-0000-0000-000000000001';
select is_empty($$ select 1 from pg_temp.stored('b0000000-0000-0000-0000-000000000001') $$,
  'deleting the chunk (SupabaseVectorStore.delete) deletes its vector');

-- kw_match_documents: BM25 with the score as similarity
select tests.authenticate_as('alice');
insert into document_chunks (content, metadata) values ('apple pie recipe', '{"k": 1}'), ('apple cider', '{"k": 2}'), ('banana bread', '{"k": 3}');
select results_eq($$ select id, content, metadata, similarity from kw_match_documents('apple pie') $$,
  $$ select id, content, metadata, score from bm25_search('apple pie') $$, 'kw_match_documents returns bm25_search''s rows with the BM25 score as similarity');
select is((select count(*)::int from kw_match_documents('apple', 1)), 1, 'match_count caps the rows');
select throws_ok($$ select * from kw_match_documents('') $$, '22023', 'query_text must not be empty', 'kw_match_documents: an empty query is refused');
select throws_ok($$ select * from kw_match_documents('apple', 0) $$, '22023', 'match_count must be between 1 and 1000 (got 0)',
  'kw_match_documents: match_count 0 is refused');

-- LangChain's argument names and result columns
select is((select pg_get_function_identity_arguments('public.match_documents'::regproc)),
  'query_embedding vector, match_count integer, filter jsonb, document_ids uuid[], created_after timestamp with time zone, created_before timestamp with time zone, model text',
  'match_documents takes LangChain''s query_embedding, match_count and filter first, the rest optional');
select is((select pg_get_function_identity_arguments('public.kw_match_documents'::regproc)), 'query_text text, match_count integer',
  'kw_match_documents takes LangChain''s query_text and match_count');
select ok((select array_agg(a.name order by a.ord) @> array['id', 'content', 'metadata', 'embedding', 'similarity']
             from unnest((select proargnames from pg_proc where oid = 'public.match_documents'::regproc)) with ordinality a(name, ord)),
  'match_documents returns id, content, metadata, embedding and similarity, the columns LangChain reads');
select results_eq($$ select id from match_documents(query_embedding => pg_temp.v(3), match_count => 1, filter => '{"source": "upsert"}') $$,
  $$ values ('a0000000-0000-0000-0000-000000000001'::uuid) $$, 'match_documents called with LangChain''s named arguments and a metadata filter');
select results_eq($$ select count(*)::int from kw_match_documents(query_text => 'apple', match_count => 5) $$, $$ values (2) $$,
  'kw_match_documents called with LangChain''s named arguments');

select * from finish();
rollback;
