-- BM25 corpus statistics (private.bm25_corpus, private.bm25_terms): after every kind of write they equal a
-- recount from the rows — single and multi-row inserts, updates that change the lexemes, empty a row (stop
-- words only) or change nothing, deletes, cascaded deletes (a thread, a document, a user), truncate (also
-- cascaded) — kept per owner, readable only by their owner (service_role: all), written only by the
-- triggers. Then util.register_bm25_source: its checks, and statistics computed for rows already there.
begin;
\ir helpers/test_helpers.psql
select plan(57);

-- Differences between the statistics and a recount from the rows (0 = exact); security definer (owned by
-- the session owner) so they can read the private tables whichever role the test plays.
create function pg_temp.corpus_drift() returns bigint language sql security definer as $$
  with want as (
    select 'messages'::text as source, m.owner_id, count(*)::bigint as doc_count, sum(m.fts_length)::bigint as total_length
      from public.messages m where length(m.fts) > 0 group by m.owner_id
    union all
    select 'document_chunks', c.owner_id, count(*), sum(c.fts_length) from public.document_chunks c where length(c.fts) > 0 group by c.owner_id),
  have as (select b.source, b.owner_id, b.doc_count, b.total_length from private.bm25_corpus b where b.source in ('messages', 'document_chunks'))
  select (select count(*) from (select * from want except all select * from have) x)
       + (select count(*) from (select * from have except all select * from want) y)
$$;
create function pg_temp.terms_drift() returns bigint language sql security definer as $$
  with want as (
    select 'messages'::text as source, m.owner_id, t.lexeme, count(*)::bigint as doc_freq
      from public.messages m cross join unnest(tsvector_to_array(m.fts)) t(lexeme) group by m.owner_id, t.lexeme
    union all
    select 'document_chunks', c.owner_id, t.lexeme, count(*)
      from public.document_chunks c cross join unnest(tsvector_to_array(c.fts)) t(lexeme) group by c.owner_id, t.lexeme),
  have as (select b.source, b.owner_id, b.lexeme, b.doc_freq from private.bm25_terms b where b.source in ('messages', 'document_chunks'))
  select (select count(*) from (select * from want except all select * from have) x)
       + (select count(*) from (select * from have except all select * from want) y)
$$;
create function pg_temp.exact() returns boolean language sql as $$ select pg_temp.corpus_drift() = 0 and pg_temp.terms_drift() = 0 $$;
create function pg_temp.corpus(src text, who text) returns text language sql security definer as $$
  select b.doc_count || '/' || b.total_length from private.bm25_corpus b where b.source = src and b.owner_id = tests.get_supabase_uid(who)
$$;
create function pg_temp.df(src text, who text, lex text) returns bigint language sql security definer as $$
  select b.doc_freq from private.bm25_terms b where b.source = src and b.owner_id = tests.get_supabase_uid(who) and b.lexeme = lex
$$;
create function pg_temp.snapshot(who text) returns text language sql security definer as $$
  select coalesce((select string_agg(b.source || ':' || b.doc_count || '/' || b.total_length, ',' order by b.source) from private.bm25_corpus b
                    where b.owner_id = tests.get_supabase_uid(who)), '')
      || '|' || coalesce((select string_agg(b.source || ':' || b.lexeme || '=' || b.doc_freq, ',' order by b.source, b.lexeme) from private.bm25_terms b
                           where b.owner_id = tests.get_supabase_uid(who)), '')
$$;

select tests.create_supabase_user('alice');
select tests.create_supabase_user('bob');

-- Registration
select results_eq($$ select source, relation::text from private.bm25_sources order by source $$,
  $$ values ('document_chunks', 'document_chunks'), ('memories', 'memories'), ('messages', 'messages') $$,
  'messages, document_chunks and (long-term) memories are the BM25 sources');
select is(
  (select string_agg(c.relname || '.' || t.tgname, ' ' order by c.relname, t.tgname) from pg_trigger t join pg_class c on c.oid = t.tgrelid
    where t.tgname like 'bm25_on_%'),
  'document_chunks.bm25_on_delete document_chunks.bm25_on_insert document_chunks.bm25_on_truncate document_chunks.bm25_on_update '
  'memories.bm25_on_delete memories.bm25_on_insert memories.bm25_on_truncate memories.bm25_on_update '
  'messages.bm25_on_delete messages.bm25_on_insert messages.bm25_on_truncate messages.bm25_on_update',
  'each source has its insert, update, delete and truncate triggers');
select ok(pg_temp.exact(), 'the statistics start exact');

-- |d|: token positions, stop words not counted
select tests.authenticate_as('alice');
select set_config('test.t', (create_thread(agent_id => 'assistant')).id::text, true);
select save_message(current_setting('test.t')::uuid, 'user', 'The cat sat on the mat with the other cat');
select is((select fts_length from messages where thread_id = current_setting('test.t')::uuid), 4,
  'fts_length counts the token positions of the lexemes (cat twice, sat, mat), not the stop words (the, on, with, other)');
select is(pg_temp.corpus('messages', 'alice'), '1/4', 'one message enters Alice''s corpus with its length');
select is(pg_temp.df('messages', 'alice', 'cat'), 1::bigint, 'a lexeme repeated in one message counts one document');
select ok(pg_temp.exact(), 'after one insert the statistics equal a recount');

-- A multi-row insert, with an empty and a stop-words-only message among them
select save_messages(current_setting('test.t')::uuid,
  '[{"role": "assistant", "content": "Cats chase mice."}, {"role": "user", "content": "Dogs chase cats and cars."},
    {"role": "assistant", "content": ""}, {"role": "user", "content": "the and of it"}, {"role": "user", "content": "A mouse hides."}]');
select ok(pg_temp.exact(), 'after a multi-row insert the statistics equal a recount');
select is(split_part(pg_temp.corpus('messages', 'alice'), '/', 1), '4', 'messages without lexemes are not part of the corpus');
select is(pg_temp.df('messages', 'alice', 'chase'), 2::bigint, 'doc_freq counts the messages containing the lexeme');

-- Updates
update messages set content = 'Cats chase birds now.' where content = 'Cats chase mice.';
select ok(pg_temp.exact(), 'after a content change the statistics equal a recount');
select is(pg_temp.df('messages', 'alice', 'bird'), 1::bigint, 'the new lexeme is counted');
select is(pg_temp.df('messages', 'alice', 'mice'), null, 'a lexeme no message contains any more is removed, not left at 0');
update messages set content = 'and the of' where content = 'A mouse hides.';
select ok(pg_temp.exact(), 'after a change to stop words only the statistics equal a recount');
select is(split_part(pg_temp.corpus('messages', 'alice'), '/', 1), '3', 'the emptied message left the corpus');
update messages set content = 'A mouse hides again.' where content = 'and the of';
select ok(pg_temp.exact(), 'after a stop-words-only message gets words again the statistics equal a recount');
select set_config('test.before', pg_temp.snapshot('alice'), true);
update messages set metadata = '{"seen": true}' where thread_id = current_setting('test.t')::uuid;
update messages set content = content where thread_id = current_setting('test.t')::uuid;
select is(pg_temp.snapshot('alice'), current_setting('test.before'), 'updates that do not change the text change no statistic');
-- one statement: a message leaves the corpus while another enters it, and a third changes length
update messages set content = case content when 'A mouse hides again.' then 'of the'
                                           when 'the and of it' then 'Mice everywhere, mice!'
                                           when 'Dogs chase cats and cars.' then 'Dogs chase cats.' end
 where content in ('A mouse hides again.', 'the and of it', 'Dogs chase cats and cars.');
select ok(pg_temp.exact(), 'one update moving rows in and out of the corpus keeps the statistics exact');
update messages set content = upper(content) || ' cat' where thread_id = current_setting('test.t')::uuid and role = 'user';
select ok(pg_temp.exact(), 'an update of several rows sharing lexemes keeps the statistics exact');

-- Deletes
delete from messages where content ilike 'CATS CHASE%' or content = 'Cats chase birds now.';
select ok(pg_temp.exact(), 'after a delete the statistics equal a recount');
select set_config('test.t2', (create_thread(agent_id => 'assistant')).id::text, true);
select save_messages(current_setting('test.t2')::uuid, '[{"role": "user", "content": "second thread cat"}, {"role": "user", "content": "more words"}]');
select ok(pg_temp.exact(), 'a second thread''s messages are counted');
select delete_thread(current_setting('test.t2')::uuid);
select ok(pg_temp.exact(), 'deleting a thread (a cascaded delete of its messages) keeps the statistics exact');
select delete_thread(current_setting('test.t')::uuid);
select is(pg_temp.corpus('messages', 'alice'), null, 'when the last of Alice''s messages goes, so does her corpus row');
select is(pg_temp.snapshot('alice'), '|', 'and every one of her term rows');

-- Document chunks
select set_config('test.doc', ((ingest_document(
  '[{"level": 1, "content": "Refund policy. Refunds within 30 days."},
    {"parent": 0, "content": "Refunds within 30 days.", "heading_path": ["Billing"]},
    {"content": "Contact the team.", "heading_path": ["Billing"]}]', title => 'Billing')).document).id::text, true);
select ok(pg_temp.exact(), 'ingesting a document counts its leaves');
select is(split_part(pg_temp.corpus('document_chunks', 'alice'), '/', 1), '2', 'parent chunks (no search_text) are not part of the corpus');
select is(pg_temp.df('document_chunks', 'alice', 'bill'), 2::bigint, 'the heading path is indexed with every leaf');
select ingest_document('[{"content": "Refunds within 60 days."}, {"content": "Contact the billing team."}]', document_id => current_setting('test.doc')::uuid);
select ok(pg_temp.exact(), 're-ingesting changed content keeps the statistics exact');
insert into document_chunks (content) values ('A standalone chunk about refunds.');
select ok(pg_temp.exact(), 'a standalone chunk is counted');
select delete_document(current_setting('test.doc')::uuid);
select ok(pg_temp.exact(), 'deleting a document (cascading to its chunks) keeps the statistics exact');

-- Owners are kept apart
select save_messages((create_thread()).id, '[{"role": "user", "content": "alice likes cats"}, {"role": "user", "content": "and cats like alice"}]');
select set_config('test.alice', pg_temp.snapshot('alice'), true);
select tests.authenticate_as('bob');
select save_messages((create_thread()).id, '[{"role": "user", "content": "bob likes cats too"}, {"role": "user", "content": "cats cats cats"}]');
select ingest_document('[{"content": "Bob''s refunds."}]');
select is(pg_temp.snapshot('alice'), current_setting('test.alice'), 'Bob''s writes change none of Alice''s statistics');
select is(pg_temp.df('messages', 'bob', 'cat'), 2::bigint, 'Bob has his own document frequency for a lexeme Alice uses too');
select is(pg_temp.df('messages', 'alice', 'cat'), 2::bigint, 'and Alice keeps hers');
select ok(pg_temp.exact(), 'with two owners the statistics equal a per-owner recount');

-- Row level security on the statistics
select is((select count(*)::int from private.bm25_corpus where owner_id <> tests.get_supabase_uid('bob')), 0,
  'Bob reads no other owner''s corpus statistics');
select is((select count(*)::int from private.bm25_terms where owner_id <> tests.get_supabase_uid('bob')), 0,
  'Bob reads no other owner''s term statistics');
select is((select count(*)::int from private.bm25_corpus), 2, 'Bob reads his own corpus rows (messages and chunks)');
select throws_ok($$ insert into private.bm25_terms (source, owner_id, lexeme, doc_freq) values ('messages', tests.get_supabase_uid('bob'), 'x', 1) $$,
  '42501', null, 'Bob cannot write term statistics');
select throws_ok($$ update private.bm25_corpus set doc_count = 1000 $$, '42501', null, 'Bob cannot change corpus statistics');
select throws_ok($$ delete from private.bm25_terms $$, '42501', null, 'Bob cannot delete term statistics');
select tests.authenticate_as('alice');
select is((select count(*)::int from private.bm25_terms where owner_id <> tests.get_supabase_uid('alice')), 0,
  'Alice reads no other owner''s term statistics');
select tests.clear_authentication();
select throws_ok($$ select 1 from private.bm25_corpus $$, '42501', null, 'anon cannot read corpus statistics');
select throws_ok($$ select 1 from private.bm25_terms $$, '42501', null, 'anon cannot read term statistics');
select tests.authenticate_as_service_role();
select is((select count(distinct owner_id)::int from private.bm25_corpus where owner_id in (tests.get_supabase_uid('alice'), tests.get_supabase_uid('bob'))), 2,
  'service_role reads every owner''s statistics');

-- Deleting a user, then truncating
select tests.authenticate_as_owner();
select set_config('test.bob', tests.get_supabase_uid('bob')::text, true);
delete from auth.users where id = tests.get_supabase_uid('bob');
select ok(pg_temp.exact(), 'deleting a user (cascading to threads, messages, documents and chunks) keeps the statistics exact');
select is((select count(*)::int from private.bm25_corpus where owner_id = current_setting('test.bob')::uuid)
          + (select count(*)::int from private.bm25_terms where owner_id = current_setting('test.bob')::uuid), 0,
  'a deleted user leaves no statistics');
truncate public.document_chunks;
select is((select count(*)::int from private.bm25_corpus where source = 'document_chunks') + (select count(*)::int from private.bm25_terms where source = 'document_chunks'),
  0, 'truncating document_chunks clears its statistics');
select isnt((select count(*)::int from private.bm25_corpus where source = 'messages'), 0, 'and leaves those of messages');
truncate public.memory_threads cascade;
select is((select count(*)::int from private.bm25_corpus where source = 'messages') + (select count(*)::int from private.bm25_terms where source = 'messages'),
  0, 'a truncate cascading from memory_threads to messages clears the statistics of messages');

-- util.register_bm25_source
create view public.bm25_test_view as select gen_random_uuid() as id;
create table public.bm25_test_bad (id uuid, owner_id uuid, fts text, fts_length integer);
create table public.bm25_test_notes (id uuid primary key default gen_random_uuid(), owner_id uuid not null, body text,
  fts tsvector generated always as (to_tsvector('english', body)) stored,
  fts_length integer generated always as (private.tsvector_token_count(to_tsvector('english', body))) stored);
create temp table bm25_test_temp (id uuid, owner_id uuid, fts tsvector, fts_length integer);
insert into public.bm25_test_notes (owner_id, body) values ('00000000-0000-0000-0000-0000000000a1', 'red apples and green apples'),
  ('00000000-0000-0000-0000-0000000000a1', 'green pears'), ('00000000-0000-0000-0000-0000000000b2', 'the'),
  ('00000000-0000-0000-0000-0000000000b2', 'red wine');
select throws_ok($$ select util.register_bm25_source('public.bm25_test_view') $$, '22023', 'source must be a table in schema public, got public.bm25_test_view',
  'a view cannot be a BM25 source');
select throws_ok($$ select util.register_bm25_source('bm25_test_temp') $$, '22023', null, 'a table outside schema public cannot be a BM25 source');
select throws_ok($$ select util.register_bm25_source('public.bm25_test_bad') $$, '22023', 'table public.bm25_test_bad needs a column fts of type tsvector',
  'a table without a tsvector fts column cannot be a BM25 source');
select lives_ok($$ select util.register_bm25_source('public.bm25_test_notes') $$, 'a table with id, owner_id, fts and fts_length is registered');
select results_eq(
  $$ select owner_id::text, doc_count, total_length from private.bm25_corpus where source = 'bm25_test_notes' order by owner_id $$,
  $$ values ('00000000-0000-0000-0000-0000000000a1', 2::bigint, 6::bigint), ('00000000-0000-0000-0000-0000000000b2', 1, 2) $$,
  'registering computes the corpus statistics of the rows already there (rows without lexemes left out)');
select results_eq(
  $$ select lexeme, doc_freq from private.bm25_terms where source = 'bm25_test_notes' and owner_id = '00000000-0000-0000-0000-0000000000a1' order by lexeme $$,
  $$ values ('appl', 1::bigint), ('green', 2), ('pear', 1), ('red', 1) $$, 'and the term statistics');
insert into public.bm25_test_notes (owner_id, body) values ('00000000-0000-0000-0000-0000000000a1', 'red red red');
select is((select doc_freq from private.bm25_terms where source = 'bm25_test_notes' and owner_id = '00000000-0000-0000-0000-0000000000a1' and lexeme = 'red'),
  2::bigint, 'its triggers keep them from then on');
select tests.authenticate_as('alice');
select throws_ok($$ select util.register_bm25_source('public.messages') $$, '42501', null, 'a signed-in user cannot register BM25 sources');

select * from finish();
rollback;
