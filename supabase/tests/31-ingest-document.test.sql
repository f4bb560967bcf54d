-- ingest_document: a new document from pre-chunked input; the same content_hash again is a no-op (same
-- chunk ids, no new embedding jobs); changed content replaces the chunks in one call, keeping the ids of
-- unchanged chunks at the same position; which document (document_id, else owner + source_uri, else a new
-- one); every bad input refused with an error naming the field and nothing written; who may name an
-- owner. Then get_document, list_documents (keyset pages) and delete_document, including for another
-- user's documents.
begin;
\ir helpers/test_helpers.psql
select plan(122);

select tests.create_supabase_user('alice');
select tests.create_supabase_user('bob');

-- Embedding jobs of chunks, read as the session owner whatever role the test plays.
create function pg_temp.jobs() returns bigint language sql security definer as $$
  select count(*) from pgmq.q_embedding_jobs q where q.message ->> 'table' = 'document_chunks'
$$;
create function pg_temp.chunk_ids(doc uuid) returns uuid[] language sql security definer as $$
  select coalesce(array_agg(c.id order by c.ordinal), '{}') from public.document_chunks c where c.document_id = doc
$$;
create function pg_temp.doc() returns uuid language sql as $$ select current_setting('test.doc')::uuid $$;
-- A parent section with one leaf under it, and a second leaf without a parent.
create function pg_temp.guide(contact text default 'Write to us by mail.') returns jsonb language sql as $$
  select jsonb_build_array(
    jsonb_build_object('level', 1, 'content', 'Refunds are possible within 30 days. ' || contact, 'heading_path', jsonb_build_array('Guide', 'Billing')),
    jsonb_build_object('parent', 0, 'content', 'Refunds are possible within 30 days.', 'heading_path', jsonb_build_array('Guide', 'Billing'),
                       'token_count', 7, 'char_start', 0, 'char_end', 36, 'metadata', jsonb_build_object('n', 1)),
    jsonb_build_object('content', contact, 'heading_path', jsonb_build_array('Guide', 'Contact')))
$$;

-- A new document
select tests.authenticate_as('alice');
select set_config('test.jobs', pg_temp.jobs()::text, true);
create temp table first_ingest as
select * from ingest_document(pg_temp.guide(), title => 'Guide', source_uri => 'https://example.com/guide',
                              metadata => '{"topic": "billing"}', chunking => '{"strategy": "markdown"}');
select set_config('test.doc', (select (document).id::text from first_ingest), true);
select results_eq($$ select replaced, chunk_count, chunks_kept from first_ingest $$, $$ values (true, 3, 0) $$,
  'a new document is reported as replaced, with its 3 chunks and none kept');
select results_eq(
  $$ select (document).owner_id, (document).title, (document).source_uri, (document).format, (document).metadata,
            (document).chunking, (document).chunk_count from first_ingest $$,
  $$ values (tests.get_supabase_uid('alice'), 'Guide', 'https://example.com/guide', 'markdown', '{"topic": "billing"}'::jsonb,
             '{"strategy": "markdown"}'::jsonb, 3) $$,
  'the document is stored with the caller as owner and the given title, source, format, metadata and chunking');
select is((select (document).content_hash from first_ingest),
  encode(sha256(convert_to(pg_temp.guide()::text || '{"strategy": "markdown"}'::jsonb::text, 'UTF8')), 'hex'),
  'without a content_hash it is the sha256 of the chunks and the chunking');
select is((select (document).token_count from first_ingest), 7 + private.estimate_tokens('Write to us by mail.'),
  'the document''s token_count sums its leaves'' (the given count, else the estimate), not its parents''');
select results_eq(
  $$ select ordinal, level, parent_id is not null, heading_path, token_count, char_start, char_end, metadata
       from document_chunks where document_id = pg_temp.doc() order by ordinal $$,
  $$ values (0, 1::smallint, false, '{Guide,Billing}'::text[], private.estimate_tokens('Refunds are possible within 30 days. Write to us by mail.'),
             null::integer, null::integer, '{}'::jsonb),
            (1, 0::smallint, true, '{Guide,Billing}', 7, 0, 36, '{"n": 1}'),
            (2, 0::smallint, false, '{Guide,Contact}', private.estimate_tokens('Write to us by mail.'), null, null, '{}') $$,
  'the chunks are stored in order with their level, headings, token counts, offsets and metadata');
select is((select parent_id from document_chunks where document_id = pg_temp.doc() and ordinal = 1),
  (select id from document_chunks where document_id = pg_temp.doc() and ordinal = 0),
  'a leaf''s parent index becomes the parent chunk''s id');
select is(pg_temp.jobs() - current_setting('test.jobs')::bigint, 2::bigint, 'the two leaves are queued for embedding, the parent is not');
select set_config('test.ids', pg_temp.chunk_ids(pg_temp.doc())::text, true);

-- The same content again: a no-op for the chunks
select set_config('test.jobs', pg_temp.jobs()::text, true);
create temp table again as
select * from ingest_document(pg_temp.guide(), title => 'Guide, 2nd edition', source_uri => 'https://example.com/guide',
                              metadata => '{"topic": "refunds"}', chunking => '{"strategy": "markdown"}');
select results_eq($$ select replaced, chunk_count, chunks_kept, (document).id from again $$,
  $$ values (false, 3, 3, pg_temp.doc()) $$, 'the same content_hash again is not replaced: the same document, all chunks kept');
select is(pg_temp.chunk_ids(pg_temp.doc())::text, current_setting('test.ids'), 'the chunk ids are unchanged');
select is(pg_temp.jobs() - current_setting('test.jobs')::bigint, 0::bigint, 'no new embedding job is queued');
select results_eq($$ select title, metadata from documents where id = pg_temp.doc() $$,
  $$ values ('Guide, 2nd edition', '{"topic": "refunds"}'::jsonb) $$, 'title and metadata are updated even when the content is not');
select is((select count(*)::int from documents), 1, 'no second document was made');

-- Changed content: chunks replaced, the unchanged ones at the same position kept
select set_config('test.jobs', pg_temp.jobs()::text, true);
create temp table changed as
select * from ingest_document(pg_temp.guide('Call us.'), title => 'Guide', source_uri => 'https://example.com/guide',
                              chunking => '{"strategy": "markdown"}');
select results_eq($$ select replaced, chunk_count, chunks_kept, (document).id from changed $$,
  $$ values (true, 3, 1, pg_temp.doc()) $$, 'changed content replaces the chunks of the same document, keeping the one unchanged chunk');
select is((pg_temp.chunk_ids(pg_temp.doc()))[2], (current_setting('test.ids')::uuid[])[2],
  'the unchanged leaf keeps its id (and so its embedding)');
select ok((pg_temp.chunk_ids(pg_temp.doc()))[1] <> (current_setting('test.ids')::uuid[])[1]
          and (pg_temp.chunk_ids(pg_temp.doc()))[3] <> (current_setting('test.ids')::uuid[])[3],
  'the changed parent and leaf are new chunks');
select is_empty(
  format($$ select 1 from document_chunks where id in (%L, %L) $$, (current_setting('test.ids')::uuid[])[1], (current_setting('test.ids')::uuid[])[3]),
  'the chunks they replace are gone');
select is((select parent_id from document_chunks where document_id = pg_temp.doc() and ordinal = 1),
  (pg_temp.chunk_ids(pg_temp.doc()))[1], 'the kept leaf now hangs under the new parent');
select is(pg_temp.jobs() - current_setting('test.jobs')::bigint, 1::bigint, 'only the new leaf is queued for embedding');
select is((select (document).token_count from changed), 7 + private.estimate_tokens('Call us.'), 'the token_count follows the new leaves');
select is((select content from document_chunks where document_id = pg_temp.doc() and ordinal = 2), 'Call us.', 'the new content is stored');

-- A chunk inserted at the front shifts the others: nothing is at its old position any more
select set_config('test.ids', pg_temp.chunk_ids(pg_temp.doc())::text, true);
select is((select chunks_kept from ingest_document(jsonb_set('[{"content": "Preface."}]'::jsonb || pg_temp.guide('Call us.'), '{2,parent}', '1'),
                                                  source_uri => 'https://example.com/guide')), 0,
  'chunks that moved to another position are not kept');
select is((select count(*)::int from document_chunks where document_id = pg_temp.doc()), 4, 'the document now has 4 chunks');
select is((select chunk_count from documents where id = pg_temp.doc()), 4, 'and says so');
select is((select count(*)::int from document_chunks where id = any (current_setting('test.ids')::uuid[])), 0,
  'none of the previous chunks is left');
select ok((select level = 1 and parent_id is null from document_chunks where document_id = pg_temp.doc() and ordinal = 1)
          and (select parent_id from document_chunks where document_id = pg_temp.doc() and ordinal = 2)
              = (select id from document_chunks where document_id = pg_temp.doc() and ordinal = 1),
  'parent indexes refer to positions in the new chunks array');

-- Which document: document_id, else (owner, source_uri), else a new one
select is((select (document).id from ingest_document('[{"content": "By id."}]', document_id => pg_temp.doc(), source_uri => 'https://example.com/moved')),
  pg_temp.doc(), 'document_id names the document to replace, whatever source_uri says');
select is((select source_uri from documents where id = pg_temp.doc()), 'https://example.com/moved', 'and a new source_uri is recorded');
select is((select (document).id from ingest_document('[{"content": "By source."}]', source_uri => 'https://example.com/moved')),
  pg_temp.doc(), 'without document_id the caller''s document with this source_uri is replaced');
select set_config('test.again', ((ingest_document('[{"content": "No source."}]', document_id => pg_temp.doc())).document).id::text, true);
select is((select source_uri from documents where id = current_setting('test.again')::uuid),
  'https://example.com/moved', 'replacing by document_id without a source_uri keeps the old one');
select set_config('test.untitled', ((ingest_document('[{"content": "No source."}]')).document).id::text, true);
select isnt(current_setting('test.untitled')::uuid, pg_temp.doc(), 'without document_id or source_uri a new document is made');
select isnt(((ingest_document('[{"content": "No source."}]')).document).id, current_setting('test.untitled')::uuid,
  'every call without document_id or source_uri makes a new document, even with the same content');
select set_config('test.hashed', ((ingest_document('[{"content": "x"}]', content_hash => repeat('f', 64))).document).id::text, true);
select is((select content_hash from documents where id = current_setting('test.hashed')::uuid),
  repeat('f', 64), 'a given content_hash is stored as given');

-- Bob: his own document for the same source; Alice's document is not found
select tests.authenticate_as('bob');
select isnt((select (document).id from ingest_document(pg_temp.guide(), source_uri => 'https://example.com/moved')), pg_temp.doc(),
  'Bob ingesting the same source_uri gets his own document, not Alice''s');
select throws_ok($$ select ingest_document('[{"content": "pwned"}]', document_id => pg_temp.doc()) $$, 'PT404',
  format('document %s not found', pg_temp.doc()), 'Bob cannot replace Alice''s document by its id: it is not found');
select throws_ok($$ select ingest_document('[{"content": "pwned"}]', document_id => '00000000-0000-0000-0000-00000000dead') $$, 'PT404',
  'document 00000000-0000-0000-0000-00000000dead not found', 'an unknown document_id fails the same way');
select throws_ok($$ select ingest_document('[{"content": "pwned"}]', owner_id => tests.get_supabase_uid('alice')) $$, '42501',
  'a signed-in user can only ingest documents they own', 'Bob cannot ingest a document for Alice');
select is((select (document).owner_id from ingest_document('[{"content": "mine"}]', owner_id => tests.get_supabase_uid('bob'))),
  tests.get_supabase_uid('bob'), 'a signed-in user may name themselves as owner');
select tests.authenticate_as('alice');
select results_eq($$ select content from document_chunks where document_id = pg_temp.doc() $$, $$ values ('No source.') $$,
  'Alice''s document is untouched by Bob''s attempts');

-- service_role must name the owner of a new document
select tests.authenticate_as_service_role();
select throws_ok($$ select ingest_document('[{"content": "x"}]') $$, '22023', 'owner_id is required when no user is signed in',
  'service_role cannot ingest a new document without owner_id');
select is((select (document).owner_id from ingest_document('[{"content": "for bob"}]', owner_id => tests.get_supabase_uid('bob'))),
  tests.get_supabase_uid('bob'), 'service_role ingests a document for the user it names');
select is((select (document).id from ingest_document('[{"content": "By the service."}]', document_id => pg_temp.doc())), pg_temp.doc(),
  'service_role replaces any user''s document by its id, without naming the owner');
select is((select owner_id from documents where id = pg_temp.doc()), tests.get_supabase_uid('alice'), 'the document stays its owner''s');
select is((select (document).id from ingest_document('[{"content": "By source, for Alice."}]', source_uri => 'https://example.com/moved',
                                                     owner_id => tests.get_supabase_uid('alice'))),
  pg_temp.doc(), 'service_role finds a user''s document by owner_id and source_uri');
select throws_ok(format($$ select ingest_document('[{"content": "x"}]', document_id => %L, owner_id => %L) $$,
                        pg_temp.doc(), tests.get_supabase_uid('bob')),
  '22023', format('owner_id %s is not the owner of document %s', tests.get_supabase_uid('bob'), pg_temp.doc()),
  'owner_id given with document_id must be the document''s owner');
select is((select (ingest_document('[{"content": "Offsets unknown.", "char_start": null, "char_end": null}]',
                                   owner_id => tests.get_supabase_uid('bob'))).chunk_count), 1,
  'char_start and char_end given as JSON null count as absent');
select tests.clear_authentication();
select throws_ok($$ select ingest_document('[{"content": "x"}]') $$, '42501', null, 'anon cannot call ingest_document');

-- Bad input: refused naming the field, nothing written
select tests.authenticate_as('alice');
select set_config('test.hash', (select content_hash from documents where id = pg_temp.doc()), true);
select set_config('test.ids', pg_temp.chunk_ids(pg_temp.doc())::text, true);
select set_config('test.docs', (select count(*) from documents)::text, true);
create function pg_temp.bad(chunks jsonb) returns public.document_ingest language sql as $$
  select ingest_document(chunks, document_id => pg_temp.doc())
$$;
select throws_ok($$ select pg_temp.bad('{"content": "x"}') $$, '22023', 'chunks must be a JSON array of chunk objects (got object)',
  'chunks that are not an array are refused');
select throws_ok($$ select pg_temp.bad(null) $$, '22023', 'chunks must be a JSON array of chunk objects (got null)', 'null chunks are refused');
select throws_ok($$ select pg_temp.bad('[]') $$, '22023', 'chunks must not be empty', 'an empty chunks array is refused');
select throws_ok($$ select pg_temp.bad('[1]') $$, '22023', 'chunks[0] must be a JSON object (got number)', 'a chunk that is not an object is refused');
select throws_ok($$ select pg_temp.bad('[{"content": "ok"}, "text"]') $$, '22023', 'chunks[1] must be a JSON object (got string)',
  'the error names the chunk''s index');
select throws_ok($$ select pg_temp.bad('[{"content": "x", "colour": 1, "alpha": 2}]') $$, '22023', 'chunks[0] has unknown field(s): alpha, colour',
  'unknown chunk fields are refused, all of them named');
select throws_ok($$ select pg_temp.bad('[{"level": 0}]') $$, '22023', 'chunks[0].content must be a non-blank string', 'a chunk needs content');
select throws_ok($$ select pg_temp.bad(E'[{"content": " \\n\\t "}]') $$, '22023', 'chunks[0].content must be a non-blank string',
  'blank content is refused');
select throws_ok($$ select pg_temp.bad('[{"content": 42}]') $$, '22023', 'chunks[0].content must be a non-blank string',
  'content that is not a string is refused');
select throws_ok($$ select pg_temp.bad('[{"content": "x", "level": 2}]') $$, '22023', 'chunks[0].level must be 0 (leaf) or 1 (parent) (got 2)',
  'level 2 is refused');
select throws_ok($$ select pg_temp.bad('[{"content": "x", "level": "1"}]') $$, '22023', 'chunks[0].level must be 0 (leaf) or 1 (parent) (got "1")',
  'a level given as a string is refused');
select throws_ok($$ select pg_temp.bad('[{"content": "x", "level": null}]') $$, '22023', 'chunks[0].level must be 0 (leaf) or 1 (parent) (got null)',
  'a null level is refused');
select throws_ok($$ select pg_temp.bad('[{"content": "x", "parent": 0}]') $$, '22023', 'chunks[0].parent must be the index of an earlier chunk (got 0)',
  'a chunk cannot be its own parent');
select throws_ok($$ select pg_temp.bad('[{"content": "a", "level": 1}, {"content": "x", "parent": 2}, {"content": "b", "level": 1}]') $$, '22023',
  'chunks[1].parent must be the index of an earlier chunk (got 2)', 'a parent listed after its leaf is refused');
select throws_ok($$ select pg_temp.bad('[{"content": "a", "level": 1}, {"content": "x", "parent": -1}]') $$, '22023',
  'chunks[1].parent must be the index of an earlier chunk (got -1)', 'a negative parent index is refused');
select throws_ok($$ select pg_temp.bad('[{"content": "a", "level": 1}, {"content": "x", "parent": "0"}]') $$, '22023',
  'chunks[1].parent must be the index of an earlier chunk (got "0")', 'a parent index given as a string is refused');
select throws_ok($$ select pg_temp.bad('[{"content": "a", "level": 1}, {"content": "x", "parent": 0.5}]') $$, '22023',
  'chunks[1].parent must be the index of an earlier chunk (got 0.5)', 'a fractional parent index is refused');
select throws_ok($$ select pg_temp.bad('[{"content": "a"}, {"content": "x", "parent": 0}]') $$, '22023',
  'chunks[1].parent points at chunks[0], which is not a parent (level 1)', 'a leaf cannot be a parent');
select throws_ok($$ select pg_temp.bad('[{"content": "a", "level": 1}, {"content": "x", "level": 1, "parent": 0}]') $$, '22023',
  'chunks[1] is a parent (level 1) and cannot have a parent itself', 'a parent cannot have a parent');
select throws_ok($$ select pg_temp.bad('[{"content": "x", "heading_path": "Guide"}]') $$, '22023',
  'chunks[0].heading_path must be an array of at most 12 strings', 'a heading path that is not an array is refused');
select throws_ok($$ select pg_temp.bad('[{"content": "x", "heading_path": ["Guide", 2]}]') $$, '22023',
  'chunks[0].heading_path must be an array of at most 12 strings', 'a heading path with a non-string is refused');
select throws_ok($$ select pg_temp.bad('[{"content": "x", "heading_path": ["Guide", null]}]') $$, '22023',
  'chunks[0].heading_path must be an array of at most 12 strings', 'a heading path with a null is refused');
select throws_ok(format($$ select pg_temp.bad('[{"content": "x", "heading_path": %s}]') $$, (select jsonb_agg('h' || g) from generate_series(1, 13) g)),
  '22023', 'chunks[0].heading_path must be an array of at most 12 strings', 'a heading path deeper than 12 is refused');
select throws_ok($$ select pg_temp.bad('[{"content": "x", "token_count": -1}]') $$, '22023', 'chunks[0].token_count must be a whole number >= 0 (got -1)',
  'a negative token_count is refused');
select throws_ok($$ select pg_temp.bad('[{"content": "x", "token_count": 1.5}]') $$, '22023', 'chunks[0].token_count must be a whole number >= 0 (got 1.5)',
  'a fractional token_count is refused');
select throws_ok($$ select pg_temp.bad('[{"content": "x", "token_count": "3"}]') $$, '22023', 'chunks[0].token_count must be a whole number >= 0 (got "3")',
  'a token_count given as a string is refused');
select throws_ok($$ select pg_temp.bad('[{"content": "x", "token_count": 10000000000}]') $$, '22023',
  'chunks[0].token_count must be a whole number >= 0 (got 10000000000)', 'a token_count beyond an integer is refused');
select throws_ok($$ select pg_temp.bad('[{"content": "x", "char_start": 0}]') $$, '22023',
  'chunks[0].char_start and char_end must both be given, whole numbers with 0 <= char_start <= char_end', 'char_start without char_end is refused');
select throws_ok($$ select pg_temp.bad('[{"content": "x", "char_end": 4}]') $$, '22023',
  'chunks[0].char_start and char_end must both be given, whole numbers with 0 <= char_start <= char_end', 'char_end without char_start is refused');
select throws_ok($$ select pg_temp.bad('[{"content": "x", "char_start": 5, "char_end": 4}]') $$, '22023',
  'chunks[0].char_start and char_end must both be given, whole numbers with 0 <= char_start <= char_end', 'char_start after char_end is refused');
select throws_ok($$ select pg_temp.bad('[{"content": "x", "char_start": -1, "char_end": 4}]') $$, '22023',
  'chunks[0].char_start and char_end must both be given, whole numbers with 0 <= char_start <= char_end', 'a negative char_start is refused');
select throws_ok($$ select pg_temp.bad('[{"content": "x", "char_start": "0", "char_end": 4}]') $$, '22023',
  'chunks[0].char_start and char_end must both be given, whole numbers with 0 <= char_start <= char_end', 'offsets given as strings are refused');
select throws_ok($$ select pg_temp.bad('[{"content": "x", "char_start": 0, "char_end": 2147483648}]') $$, '22023',
  'chunks[0].char_start and char_end must both be given, whole numbers with 0 <= char_start <= char_end', 'offsets beyond an integer are refused');
select throws_ok($$ select pg_temp.bad('[{"content": "x", "metadata": ["a"]}]') $$, '22023', 'chunks[0].metadata must be a JSON object (got array)',
  'chunk metadata that is not an object is refused');
select throws_ok($$ select ingest_document('[{"content": "x"}]', document_id => pg_temp.doc(), metadata => '["a"]') $$, '22023',
  'metadata must be a JSON object (got array)', 'document metadata that is not an object is refused');
select throws_ok($$ select ingest_document('[{"content": "x"}]', document_id => pg_temp.doc(), chunking => '"markdown"') $$, '22023',
  'chunking must be a JSON object (got string)', 'chunking that is not an object is refused');
select throws_ok($$ select ingest_document('[{"content": "x"}]', document_id => pg_temp.doc(), format => 'html') $$, '22023',
  'format must be markdown or text (got html)', 'an unknown format is refused');
select throws_ok($$ select ingest_document('[{"content": "x"}]', document_id => pg_temp.doc(), format => null) $$, '22023',
  'format must be markdown or text (got null)', 'a null format is refused');
select throws_ok($$ select ingest_document('[{"content": "x"}]', document_id => pg_temp.doc(), content_hash => 'abc') $$, '22023',
  'content_hash must be 64 lower-case hex digits (a sha256)', 'a content_hash that is not a sha256 is refused');
select throws_ok($$ select ingest_document('[{"content": "x"}]', document_id => pg_temp.doc(), content_hash => repeat('A', 64)) $$, '22023',
  'content_hash must be 64 lower-case hex digits (a sha256)', 'an upper-case content_hash is refused');
select throws_ok($$ select ingest_document('[{"content": "x"}]', document_id => pg_temp.doc(), title => '') $$, '22023',
  'title must be 1 to 1000 characters', 'an empty title is refused');
select throws_ok($$ select ingest_document('[{"content": "x"}]', document_id => pg_temp.doc(), title => repeat('t', 1001)) $$, '22023',
  'title must be 1 to 1000 characters', 'a title over 1000 characters is refused');
select throws_ok($$ select ingest_document('[{"content": "x"}]', document_id => pg_temp.doc(), source_uri => '') $$, '22023',
  'source_uri must be 1 to 2048 characters', 'an empty source_uri is refused');
select throws_ok($$ select ingest_document('[{"content": "x"}]', document_id => pg_temp.doc(), source_uri => repeat('u', 2049)) $$, '22023',
  'source_uri must be 1 to 2048 characters', 'a source_uri over 2048 characters is refused');
select throws_ok($$ select pg_temp.bad('[{"content": "a\u0000b"}]') $$, '22P05', null, 'a NUL character in a chunk is refused (22P05)');
-- the limits are settings
select tests.authenticate_as_owner();
update settings set value = '2' where category = 'documents' and key = 'max_chunks';
update settings set value = '10' where category = 'documents' and key = 'max_chunk_bytes';
select tests.authenticate_as('alice');
select throws_ok($$ select pg_temp.bad('[{"content": "a"}, {"content": "b"}, {"content": "c"}]') $$, '22023',
  'chunks has 3 elements; a document may have at most 2', 'more chunks than documents.max_chunks are refused');
select throws_ok($$ select pg_temp.bad('[{"content": "0123456789"}, {"content": "0123456789é"}]') $$, '22001',
  'chunks[1].content is 12 bytes; the maximum is 10 bytes', 'content over documents.max_chunk_bytes is refused (22001), counted in bytes');
select lives_ok($$ select ingest_document('[{"content": "0123456789"}, {"content": "a"}]', document_id => current_setting('test.untitled')::uuid) $$,
  'content of exactly documents.max_chunk_bytes and exactly max_chunks chunks are accepted');
select tests.authenticate_as_owner();
update settings set value = '10000' where category = 'documents' and key = 'max_chunks';
update settings set value = '1048576' where category = 'documents' and key = 'max_chunk_bytes';
select tests.authenticate_as('alice');
-- A bad chunk after good ones: nothing of the call is written
select throws_ok($$ select pg_temp.bad('[{"content": "fine"}, {"content": "also fine"}, {"content": "bad", "level": 7}]') $$, '22023',
  'chunks[2].level must be 0 (leaf) or 1 (parent) (got 7)', 'a bad last chunk fails the whole call');
select results_eq(
  $$ select content_hash, (select array_agg(content order by ordinal) from document_chunks where document_id = pg_temp.doc())
       from documents where id = pg_temp.doc() $$,
  $$ values (current_setting('test.hash'), array['By source, for Alice.']) $$,
  'after all the refused calls the document still has its content and hash');
select is((select count(*) from documents)::text, current_setting('test.docs'), 'and no document was added by them');

-- get_document
select is((get_document(pg_temp.doc())).id, pg_temp.doc(), 'get_document returns the caller''s document');
select throws_ok($$ select get_document('00000000-0000-0000-0000-00000000dead') $$, 'PT404', 'document 00000000-0000-0000-0000-00000000dead not found',
  'get_document: an unknown id is not found');
select throws_ok($$ select get_document(null) $$, 'PT404', 'document null not found', 'get_document: a null id is not found');
select tests.authenticate_as('bob');
select throws_ok($$ select get_document(pg_temp.doc()) $$, 'PT404', format('document %s not found', pg_temp.doc()),
  'get_document: Bob cannot read Alice''s document: it is not found');

-- list_documents: newest first, keyset pages with a 'd' cursor
select tests.authenticate_as('alice');
select set_config('test.faq', ((ingest_document('[{"content": "Questions."}]', metadata => '{"topic": "faq"}')).document).id::text, true);
create temp table alice_docs as select d.id, d.created_at from documents d;
select set_config('test.n', (select count(*) from alice_docs)::text, true);
select is(current_setting('test.n')::int, 5, 'Alice has five documents to page through');
select is((select cardinality(documents) from list_documents()), current_setting('test.n')::int, 'list_documents lists all of them by default');
select is((select array_agg(d.id) from list_documents() p, unnest(p.documents) d),
  (select array_agg(id order by created_at desc, id desc) from alice_docs), 'newest first');
create temp table pages as
with recursive walk(n, page) as (
  select 1, list_documents("limit" => 2)
  union all
  select n + 1, list_documents("limit" => 2, cursor => (page).next_cursor) from walk where (page).has_more
)
select n, page from walk;
select is((select count(*)::int from pages), (current_setting('test.n')::int + 1) / 2, 'pages of 2 cover them in ceil(n / 2) pages');
select is((select array_agg(d.id order by p.n, d.o) from pages p, unnest((p.page).documents) with ordinality d(id, owner_id, title, source_uri, format, metadata, content_hash, chunking, chunk_count, token_count, created_at, updated_at, o)),
  (select array_agg(id order by created_at desc, id desc) from alice_docs), 'walking the cursor visits every document once, in order');
select ok((select bool_and((page).has_more = (n < (select max(n) from pages))) from pages), 'has_more is true on every page but the last');
select ok(convert_from(decode(rpad(translate((select (page).next_cursor from pages where n = 1), '-_', '+/'),
                                   ((length((select (page).next_cursor from pages where n = 1)) + 3) / 4) * 4, '='), 'base64'), 'UTF8') like 'd,%',
  'the cursor is a document (''d'') cursor');
select is((select array_agg(d.id) from list_documents(metadata => '{"topic": "faq"}') p, unnest(p.documents) d),
  array[current_setting('test.faq')::uuid], 'the metadata filter finds exactly the documents whose metadata contains it');
select results_eq($$ select d.id from list_documents(metadata => '{}') p, unnest(p.documents) d order by d.created_at desc, d.id desc limit 1 $$,
  $$ select id from alice_docs order by created_at desc, id desc limit 1 $$, 'an empty metadata filter matches every document');
select throws_ok($$ select list_documents(cursor => 'not-a-cursor') $$, '22023', 'cursor is not a valid document cursor',
  'an invalid cursor is refused');
select throws_ok($$ select list_documents(cursor => private.encode_cursor('m', now(), gen_random_uuid())) $$, '22023',
  'cursor is not a valid document cursor', 'a message cursor is not a document cursor');
select throws_ok($$ select list_documents("limit" => 0) $$, '22023', 'limit must be between 1 and 1000 (got 0)', 'limit 0 is refused');
select throws_ok($$ select list_documents("limit" => 1001) $$, '22023', 'limit must be between 1 and 1000 (got 1001)', 'limit 1001 is refused');
select throws_ok($$ select list_documents(metadata => '[]') $$, '22023', 'metadata must be a JSON object (got array)',
  'a metadata filter that is not an object is refused');
select tests.authenticate_as('bob');
select is((select count(*)::int from list_documents() p, unnest(p.documents) d where d.owner_id = tests.get_supabase_uid('alice')), 0,
  'list_documents never shows Bob Alice''s documents');
select is((select cardinality(documents) from list_documents(cursor => (select (page).next_cursor from pages where n = 1))),
  (select count(*)::int from documents d where (d.created_at, d.id) < (select created_at, id from alice_docs order by created_at desc, id desc offset 1 limit 1)),
  'Alice''s cursor only moves the keyset for Bob: he still sees only his own documents');
select tests.authenticate_as_service_role();
select is((select cardinality(documents) from list_documents()), (select count(*)::int from documents), 'service_role lists every owner''s documents');

-- delete_document
select tests.authenticate_as('bob');
select throws_ok($$ select delete_document(pg_temp.doc()) $$, 'PT404', format('document %s not found', pg_temp.doc()),
  'delete_document: Bob cannot delete Alice''s document: it is not found');
select tests.authenticate_as('alice');
select is((delete_document(pg_temp.doc())).id, pg_temp.doc(), 'delete_document returns the deleted document');
select is_empty($$ select 1 from document_chunks where document_id = pg_temp.doc() $$, 'its chunks are gone with it');
select throws_ok($$ select delete_document(pg_temp.doc()) $$, 'PT404', format('document %s not found', pg_temp.doc()),
  'deleting it again: not found');

select * from finish();
rollback;
