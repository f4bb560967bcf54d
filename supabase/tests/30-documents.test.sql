-- documents and document_chunks, the tables: columns and indexes, row level security for every command
-- (Alice, Bob, anon, service_role), a chunk's owner following its document's, the parent rules of the
-- two-level hierarchy, search_text (heading path + content for leaves, null for parents), embedding jobs
-- for leaves only, and what a deleted document or user takes with it.
begin;
\ir helpers/test_helpers.psql
select plan(65);

select tests.create_supabase_user('alice');
select tests.create_supabase_user('bob');

-- Alice: document A (a parent P with leaf L1 under it, a leaf L2 without one) and document A2 (a parent).
select tests.authenticate_as('alice');
insert into documents (id, title, content_hash, metadata)
values ('a0000000-0000-0000-0000-000000000001', 'Guide', repeat('a', 64), '{"topic": "billing"}'),
       ('a0000000-0000-0000-0000-000000000002', 'Other', repeat('b', 64), '{}');
insert into document_chunks (id, document_id, ordinal, level, content, heading_path)
values ('a1000000-0000-0000-0000-00000000000f', 'a0000000-0000-0000-0000-000000000001', 0, 1,
        'Billing. Refunds within 30 days. Contact us.', '{Guide, Billing}');
insert into document_chunks (id, document_id, ordinal, parent_id, content, heading_path)
values ('a1000000-0000-0000-0000-000000000001', 'a0000000-0000-0000-0000-000000000001', 1,
        'a1000000-0000-0000-0000-00000000000f', 'Refunds within 30 days.', '{"Guide", "  ", " Billing "}');
insert into document_chunks (id, document_id, ordinal, content)
values ('a1000000-0000-0000-0000-000000000002', 'a0000000-0000-0000-0000-000000000001', 2, 'Contact us.');
insert into document_chunks (id, document_id, ordinal, level, content)
values ('a2000000-0000-0000-0000-00000000000f', 'a0000000-0000-0000-0000-000000000002', 0, 1, 'Another section.');
-- A standalone chunk (no document), as LangChain writes them.
insert into document_chunks (id, content) values ('a3000000-0000-0000-0000-000000000001', 'Alice''s loose note.');

-- Bob: document B with a parent, and a standalone chunk.
select tests.authenticate_as('bob');
insert into documents (id, title, content_hash) values ('b0000000-0000-0000-0000-000000000001', 'Bob''s', repeat('c', 64));
insert into document_chunks (id, document_id, ordinal, level, content)
values ('b1000000-0000-0000-0000-00000000000f', 'b0000000-0000-0000-0000-000000000001', 0, 1, 'Bob''s section.');
insert into document_chunks (id, content) values ('b3000000-0000-0000-0000-000000000001', 'Bob''s loose note.');
select tests.clear_authentication();

-- The tables
select has_table('public', 'documents', 'public.documents exists');
select has_table('public', 'document_chunks', 'public.document_chunks exists');
select columns_are('public', 'documents',
  array['id', 'owner_id', 'title', 'source_uri', 'format', 'metadata', 'content_hash', 'chunking', 'chunk_count',
        'token_count', 'created_at', 'updated_at'],
  'documents has exactly the documented columns');
select columns_are('public', 'document_chunks',
  array['id', 'document_id', 'owner_id', 'ordinal', 'level', 'parent_id', 'content', 'heading_path', 'token_count',
        'char_start', 'char_end', 'metadata', 'search_text', 'fts', 'created_at', 'content_hash', 'fts_length', 'fts_cells', 'embedding'],
  'document_chunks has the documented columns, plus content_hash (embedding source), fts_length and fts_cells (BM25) and the write-only embedding');
select indexes_are('public', 'documents',
  array['documents_pkey', 'documents_owner_source_uri_key', 'documents_owner_created_idx', 'documents_metadata_idx'],
  'documents is indexed by id, (owner, source_uri), (owner, created_at, id) and metadata');
select indexes_are('public', 'document_chunks',
  array['document_chunks_pkey', 'document_chunks_document_ordinal_key', 'document_chunks_parent_idx',
        'document_chunks_owner_created_idx', 'document_chunks_fts_idx', 'document_chunks_fts_cells_idx'],
  'document_chunks is indexed by id, (document, ordinal), parent, (owner, created_at), fts and fts_cells');
select ok((select pg_get_indexdef('public.documents_owner_source_uri_key'::regclass))
            like 'CREATE UNIQUE INDEX % (owner_id, source_uri) WHERE (source_uri IS NOT NULL)',
  'a source_uri is unique per owner');
select ok((select pg_get_indexdef('public.document_chunks_fts_idx'::regclass)) like '%USING gin (fts) WITH (fastupdate=off)',
  'the fts index of chunks is GIN with fastupdate off');
-- (pgTAP's fk_ok reads a view PostgreSQL 18 cannot build, so the foreign keys are read from pg_constraint.)
create function pg_temp.foreign_key(rel regclass, col name) returns text language sql as $$
  select c.confrelid::regclass::text || ' on delete ' || case c.confdeltype when 'c' then 'cascade' when 'n' then 'set null' else c.confdeltype::text end
    from pg_constraint c
   where c.conrelid = rel and c.contype = 'f'
     and c.conkey = array[(select a.attnum from pg_attribute a where a.attrelid = rel and a.attname = col)]
$$;
select is(pg_temp.foreign_key('public.document_chunks', 'document_id'), 'documents on delete cascade',
  'a chunk''s document_id references documents, on delete cascade');
select is(pg_temp.foreign_key('public.document_chunks', 'parent_id'), 'document_chunks on delete set null',
  'a chunk''s parent_id references another chunk, on delete set null');
select is(pg_temp.foreign_key('public.document_chunks', 'owner_id'), 'auth.users on delete cascade',
  'a chunk''s owner_id references auth.users, on delete cascade (standalone chunks go with their user)');
select policies_are('public', 'documents',
  array['owners can read their documents', 'users can add documents they own', 'owners can update their documents',
        'owners can delete their documents'],
  'documents has one policy per command');
select policies_are('public', 'document_chunks',
  array['owners can read their chunks', 'owners can add chunks', 'owners can update their chunks', 'owners can delete their chunks'],
  'document_chunks has one policy per command');

-- search_text: heading path (blank headings dropped, trimmed, joined with ' › '), a blank line, content
select tests.authenticate_as('alice');
select is((select search_text from document_chunks where id = 'a1000000-0000-0000-0000-000000000001'),
  E'Guide › Billing\n\nRefunds within 30 days.', 'a leaf''s search_text is its heading path, a blank line, then its content');
select is((select search_text from document_chunks where id = 'a1000000-0000-0000-0000-000000000002'), 'Contact us.',
  'a leaf without headings is searched by its content alone');
select results_eq(
  $$ select search_text, fts, fts_length, content_hash from document_chunks where id = 'a1000000-0000-0000-0000-00000000000f' $$,
  $$ values (null::text, null::tsvector, null::integer, null::text) $$,
  'a parent chunk has no search_text, fts, length or content hash: it is never searched or embedded');
select is((select fts from document_chunks where id = 'a1000000-0000-0000-0000-000000000001'),
  to_tsvector('english', E'Guide › Billing\n\nRefunds within 30 days.'), 'fts is the English tsvector of search_text');
update document_chunks set content = 'Write to us.' where id = 'a1000000-0000-0000-0000-000000000002';
select is((select search_text from document_chunks where id = 'a1000000-0000-0000-0000-000000000002'), 'Write to us.',
  'changing the content recomputes search_text');
update document_chunks set heading_path = '{Guide, Contact}' where id = 'a1000000-0000-0000-0000-000000000002';
select is((select search_text from document_chunks where id = 'a1000000-0000-0000-0000-000000000002'), E'Guide › Contact\n\nWrite to us.',
  'changing the heading path recomputes search_text');
update document_chunks set search_text = 'forged' where id = 'a1000000-0000-0000-0000-000000000002';
select is((select search_text from document_chunks where id = 'a1000000-0000-0000-0000-000000000002'), E'Guide › Contact\n\nWrite to us.',
  'search_text cannot be written directly: the trigger recomputes it');

-- A chunk's owner is its document's owner
select tests.authenticate_as('alice');
insert into document_chunks (id, document_id, ordinal, owner_id, content)
values ('a1000000-0000-0000-0000-000000000003', 'a0000000-0000-0000-0000-000000000001', 3, tests.get_supabase_uid('bob'), 'Forged owner.');
select is((select owner_id from document_chunks where id = 'a1000000-0000-0000-0000-000000000003'), tests.get_supabase_uid('alice'),
  'an owner_id given with a chunk of a document is replaced by the document''s owner');
select is((select owner_id from document_chunks where id = 'a3000000-0000-0000-0000-000000000001'), tests.get_supabase_uid('alice'),
  'a standalone chunk belongs to the user who wrote it');
select throws_ok(
  $$ update document_chunks set document_id = 'a0000000-0000-0000-0000-000000000002' where id = 'a1000000-0000-0000-0000-000000000002' $$,
  '22023', 'a chunk''s id, document_id and owner_id cannot be changed', 'a chunk cannot move to another document');
select throws_ok(
  $$ update document_chunks set document_id = 'a0000000-0000-0000-0000-000000000001', ordinal = 9 where id = 'a3000000-0000-0000-0000-000000000001' $$,
  '22023', 'a chunk''s id, document_id and owner_id cannot be changed', 'a standalone chunk cannot be moved into a document');
select tests.authenticate_as_service_role();
insert into document_chunks (id, document_id, ordinal, content)
values ('a1000000-0000-0000-0000-000000000004', 'a0000000-0000-0000-0000-000000000001', 4, 'Added by the service.');
select is((select owner_id from document_chunks where id = 'a1000000-0000-0000-0000-000000000004'), tests.get_supabase_uid('alice'),
  'a chunk service_role adds to Alice''s document is Alice''s');
select throws_ok(
  $$ update document_chunks set owner_id = tests.get_supabase_uid('bob') where id = 'a1000000-0000-0000-0000-000000000004' $$,
  '22023', 'a chunk''s id, document_id and owner_id cannot be changed', 'not even service_role can change a chunk''s owner');
select throws_ok(
  $$ insert into document_chunks (document_id, content) values ('00000000-0000-0000-0000-00000000dead', 'orphan') $$,
  'PT404', 'document 00000000-0000-0000-0000-00000000dead not found', 'a chunk of an unknown document is refused');

-- Parents: a level-1 chunk of the same document
select tests.authenticate_as('alice');
select throws_ok(
  $$ insert into document_chunks (document_id, ordinal, parent_id, content)
     values ('a0000000-0000-0000-0000-000000000001', 10, 'a1000000-0000-0000-0000-000000000002', 'x') $$,
  '22023', 'parent_id a1000000-0000-0000-0000-000000000002 is not a parent chunk (level 1) of the same document',
  'a leaf cannot be a parent');
select throws_ok(
  $$ insert into document_chunks (document_id, ordinal, parent_id, content)
     values ('a0000000-0000-0000-0000-000000000001', 10, 'a2000000-0000-0000-0000-00000000000f', 'x') $$,
  '22023', 'parent_id a2000000-0000-0000-0000-00000000000f is not a parent chunk (level 1) of the same document',
  'a parent of another document cannot be a chunk''s parent');
select throws_ok(
  $$ insert into document_chunks (parent_id, content) values ('a1000000-0000-0000-0000-00000000000f', 'x') $$,
  '22023', 'parent_id a1000000-0000-0000-0000-00000000000f is not a parent chunk (level 1) of the same document',
  'a standalone chunk cannot have a document''s parent');
select throws_ok(
  $$ insert into document_chunks (document_id, ordinal, level, parent_id, content)
     values ('a0000000-0000-0000-0000-000000000001', 10, 1, 'a1000000-0000-0000-0000-00000000000f', 'x') $$,
  '23514', null, 'a parent chunk cannot have a parent itself');
select throws_ok($$ insert into document_chunks (level, content) values (1, 'x') $$, '23514', null,
  'a parent chunk must belong to a document');
select throws_ok(
  $$ update document_chunks set parent_id = 'a1000000-0000-0000-0000-000000000002' where id = 'a1000000-0000-0000-0000-000000000003' $$,
  '22023', 'parent_id a1000000-0000-0000-0000-000000000002 is not a parent chunk (level 1) of the same document',
  'an update cannot make a leaf the parent of another');
select throws_ok(
  $$ update document_chunks set level = 0 where id = 'a1000000-0000-0000-0000-00000000000f' $$,
  '22023', 'chunk a1000000-0000-0000-0000-00000000000f is the parent of other chunks and must stay level 1',
  'a parent with leaves cannot become a leaf itself');
select tests.authenticate_as('bob');
select throws_ok(
  $$ insert into document_chunks (document_id, ordinal, parent_id, content)
     values ('b0000000-0000-0000-0000-000000000001', 1, 'a1000000-0000-0000-0000-00000000000f', 'x') $$,
  '22023', 'parent_id a1000000-0000-0000-0000-00000000000f is not a parent chunk (level 1) of the same document',
  'Bob cannot hang his chunk under Alice''s parent');
select tests.authenticate_as('alice');
update document_chunks set parent_id = 'a1000000-0000-0000-0000-00000000000f' where id = 'a1000000-0000-0000-0000-000000000003';
select is((select parent_id from document_chunks where id = 'a1000000-0000-0000-0000-000000000003'), 'a1000000-0000-0000-0000-00000000000f',
  'a leaf can be moved under a parent of its document');

-- Row level security on documents
select tests.authenticate_as('bob');
select is_empty($$ select 1 from documents where owner_id = tests.get_supabase_uid('alice') $$, 'Bob cannot read Alice''s documents');
select is_empty($$ update documents set title = 'pwned' where id = 'a0000000-0000-0000-0000-000000000001' returning 1 $$,
  'Bob cannot update Alice''s document');
select is_empty($$ delete from documents where id = 'a0000000-0000-0000-0000-000000000001' returning 1 $$,
  'Bob cannot delete Alice''s document');
select throws_ok(
  $$ insert into documents (owner_id, content_hash) values (tests.get_supabase_uid('alice'), repeat('d', 64)) $$, '42501', null,
  'Bob cannot create a document owned by Alice');
select throws_ok(
  $$ update documents set owner_id = tests.get_supabase_uid('alice') where id = 'b0000000-0000-0000-0000-000000000001' $$, '42501', null,
  'Bob cannot give his document to Alice');
select results_eq($$ select id from documents $$, $$ values ('b0000000-0000-0000-0000-000000000001'::uuid) $$,
  'Bob sees exactly his own document');

-- Row level security on chunks
select is_empty($$ select 1 from document_chunks where owner_id = tests.get_supabase_uid('alice') $$, 'Bob cannot read Alice''s chunks');
select is_empty($$ update document_chunks set content = 'pwned' where owner_id = tests.get_supabase_uid('alice') returning 1 $$,
  'Bob cannot update Alice''s chunks');
select is_empty($$ delete from document_chunks where owner_id = tests.get_supabase_uid('alice') returning 1 $$,
  'Bob cannot delete Alice''s chunks');
select throws_ok(
  $$ insert into document_chunks (document_id, ordinal, content) values ('a0000000-0000-0000-0000-000000000001', 20, 'planted') $$,
  'PT404', 'document a0000000-0000-0000-0000-000000000001 not found', 'Bob cannot add a chunk to Alice''s document: it is not found');
select throws_ok(
  $$ insert into document_chunks (owner_id, content) values (tests.get_supabase_uid('alice'), 'planted') $$, '42501', null,
  'Bob cannot plant a standalone chunk owned by Alice');
select results_eq($$ select id from document_chunks order by id $$,
  $$ values ('b1000000-0000-0000-0000-00000000000f'::uuid), ('b3000000-0000-0000-0000-000000000001'::uuid) $$,
  'Bob sees exactly his own chunks');

-- anon: nothing at all
select tests.clear_authentication();
select throws_ok($$ select 1 from documents $$, '42501', null, 'anon cannot read documents');
select throws_ok($$ select 1 from document_chunks $$, '42501', null, 'anon cannot read chunks');
select throws_ok($$ insert into documents (content_hash) values (repeat('e', 64)) $$, '42501', null, 'anon cannot create documents');
select throws_ok($$ insert into document_chunks (content) values ('x') $$, '42501', null, 'anon cannot write chunks');

-- service_role: everything
select tests.authenticate_as_service_role();
select is((select count(*)::int from documents), 3, 'service_role reads every owner''s documents');
select is((select count(*)::int from document_chunks), 9, 'service_role reads every owner''s chunks');
select isnt_empty($$ update document_chunks set metadata = '{"checked": true}' where owner_id = tests.get_supabase_uid('bob') returning 1 $$,
  'service_role can update any owner''s chunks');

-- Embedding jobs: one per leaf, none for parents (the queue is read as the session owner)
select tests.authenticate_as_owner();
select results_eq(
  $$ select c.id from document_chunks c
      where c.document_id = 'a0000000-0000-0000-0000-000000000001'
        and exists (select from pgmq.q_embedding_jobs q where q.message ->> 'table' = 'document_chunks' and q.message ->> 'id' = c.id::text)
      order by c.id $$,
  $$ values ('a1000000-0000-0000-0000-000000000001'::uuid), ('a1000000-0000-0000-0000-000000000002'::uuid),
            ('a1000000-0000-0000-0000-000000000003'::uuid), ('a1000000-0000-0000-0000-000000000004'::uuid) $$,
  'every leaf of the document has an embedding job, its parent none');
select is_empty(
  $$ select 1 from pgmq.q_embedding_jobs q join document_chunks c on c.id::text = q.message ->> 'id' where c.level = 1 $$,
  'no parent chunk is ever queued for embedding');
select is(
  (select q.message from pgmq.q_embedding_jobs q where q.message ->> 'id' = 'a3000000-0000-0000-0000-000000000001'),
  (select jsonb_build_object('table', 'document_chunks', 'id', c.id, 'owner_id', c.owner_id, 'content_hash', c.content_hash,
                             'model', 'hash-384')
     from document_chunks c where c.id = 'a3000000-0000-0000-0000-000000000001'),
  'a chunk''s job names the table, the chunk, its owner, the hash of its search_text and the default model');
select is((select content_hash from document_chunks where id = 'a1000000-0000-0000-0000-000000000001'),
  encode(sha256(convert_to(E'Guide › Billing\n\nRefunds within 30 days.', 'UTF8')), 'hex'),
  'a chunk''s content_hash is the sha256 of its search_text');

-- What a deleted parent, document or user takes with it
insert into public.embeddings (owner_id, source_table, source_id, model, content_hash, embedding)
select c.owner_id, 'document_chunks', c.id, 'hash-384', c.content_hash, array_fill(0.5, array[384])::extensions.vector
  from document_chunks c where c.id = 'a1000000-0000-0000-0000-000000000001';
select tests.authenticate_as('alice');
delete from document_chunks where id = 'a1000000-0000-0000-0000-00000000000f';
select is((select parent_id from document_chunks where id = 'a1000000-0000-0000-0000-000000000001'), null,
  'deleting a parent leaves its leaves in place, without a parent');
select delete_document('a0000000-0000-0000-0000-000000000001');
select is_empty($$ select 1 from document_chunks where document_id = 'a0000000-0000-0000-0000-000000000001' $$,
  'deleting a document deletes its chunks');
select tests.authenticate_as_owner();
select is_empty($$ select 1 from public.embeddings e where e.source_id = 'a1000000-0000-0000-0000-000000000001' $$,
  'the chunks of a deleted document leave no embedding behind');
delete from auth.users where id = tests.get_supabase_uid('bob');
select is_empty($$ select 1 from documents where id = 'b0000000-0000-0000-0000-000000000001' $$,
  'deleting a user deletes their documents');
select is_empty($$ select 1 from document_chunks where id = 'b3000000-0000-0000-0000-000000000001' $$,
  'deleting a user deletes their standalone chunks too');
select is((select count(*)::int from document_chunks), 2, 'only Alice''s remaining chunks are left');

select * from finish();
rollback;
