-- BM25 impact cells (fts_cells) and the corpus length bounds the top-k search relies on: each row's cells
-- are its lexemes with their tf class and length class; the corpus's min/max length bound every row after
-- inserts, updates and deletes; a common lexeme's search returns the same top k as scoring every row.
begin;
\ir helpers/test_helpers.psql
select plan(9);

select tests.create_supabase_user('alice');
select tests.authenticate_as('alice');
select set_config('test.t', (create_thread(agent_id => 'assistant')).id::text, true);
select save_message(current_setting('test.t')::uuid, 'user', 'The cat sat on the mat with the other cat');

-- |d| = 4 (cat ×2, sat, mat): length class floor(2·log2 4) = 4, clipped to 06.
select is((select fts_cells from messages where thread_id = current_setting('test.t')::uuid),
  '''106mat'' ''106sat'' ''206cat'''::tsvector,
  'cells: tf class, two-digit length class, lexeme (cat twice: tf class 2)');
select is(private.bm25_length_class(11, 0), 6, '|d| = 11 (< 2^3.5) is length class 06');
select is(private.bm25_length_class(12, 0), 7, '|d| = 12 is length class 07');
select is(private.bm25_length_class(100000, 0), 24, 'very long rows are clipped to class 24');
select is(private.bm25_cells(to_tsvector('english', repeat('zebra ', 7) || repeat('yak ', 4)), 11),
  '''406yak'' ''506zebra'''::tsvector, 'tf 4–5 is class 4, tf 6 and above class 5');

-- Length bounds follow inserts and updates and never narrow on delete.
select save_message(current_setting('test.t')::uuid, 'assistant', repeat('long answer words here ', 30));
select tests.authenticate_as_owner();
select is((select min_length || '..' || max_length from private.bm25_corpus where source = 'messages' and owner_id = tests.get_supabase_uid('alice')),
  '4..90', 'the corpus length bounds are the shortest and longest rows');
delete from messages where owner_id = tests.get_supabase_uid('alice') and role = 'assistant';
select is((select min_length || '..' || max_length from private.bm25_corpus where source = 'messages' and owner_id = tests.get_supabase_uid('alice')),
  '4..90', 'a delete leaves the bounds (they still bound every row)');
update messages set content = 'cat' where owner_id = tests.get_supabase_uid('alice');
select is((select min_length || '..' || max_length from private.bm25_corpus where source = 'messages' and owner_id = tests.get_supabase_uid('alice')),
  '1..90', 'an update widens them to the new length');

-- A lexeme in 200 rows (more than 4·k + 64 for k = 10): fetched through cells, the same top 10 as
-- scoring every row.
select tests.authenticate_as('alice');
select save_messages(current_setting('test.t')::uuid,
  (select json_agg(json_build_object('role', 'user', 'content', repeat('heron ', 1 + g % 5) || repeat('pond reed ', 1 + g % 13)))
     from generate_series(1, 200) g));
select results_eq(
  $$ select id from bm25_search('heron pond', 10, source => 'messages') order by rank $$,
  $$ select x.id from private.bm25_rank('messages', 'heron pond', 1000) x order by x.rank limit 10 $$,
  'top 10 through cells equals the top 10 of all 200 matching rows');

select * from finish();
rollback;
