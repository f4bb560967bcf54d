-- bm25_search: Okapi BM25 scores equal the migration header's formula, computed by hand for a tiny corpus
-- and by a reference query for larger ones (to 1e-9); ranking with ties by id; query term frequency; the
-- matched lexemes; k1 and b; every filter of each source (a filter only restricts, it never changes a
-- score) and the errors for filters of the wrong source; parameter errors; visibility (Bob never sees
-- Alice's rows, and his rows never change her scores; service_role ranks over everyone's);
-- private.caller_visibility_sql for each kind of caller; MaxScore's early stop returns exactly the top k
-- of scoring everything; a caller's planner settings (bitmap scans off) do not change how it searches.
begin;
\ir helpers/test_helpers.psql
select plan(80);

select tests.create_supabase_user('alice');
select tests.create_supabase_user('bob');
select tests.create_supabase_user('carol');

-- Reference BM25 over the rows of `owners` in `src` (the header's formula, everything recounted).
create function pg_temp.bm25_ref(q text, src text, owners uuid[], k1 double precision default 0.9, b double precision default 0.4)
returns table (id uuid, score double precision) language sql security definer as $$
  with docs as (
    select m.id, m.fts, m.fts_length from public.messages m where src = 'messages' and m.owner_id = any (owners) and length(m.fts) > 0
    union all
    select c.id, c.fts, c.fts_length from public.document_chunks c where src = 'document_chunks' and c.owner_id = any (owners) and length(c.fts) > 0),
  stats as (select count(*)::double precision as n, avg(d.fts_length)::double precision as avgdl from docs d),
  query as (select t.lexeme, coalesce(cardinality(t.positions), 1) as qtf from unnest(to_tsvector('english', q)) t),
  df as (select q.lexeme, q.qtf, (select count(*) from docs d where q.lexeme = any (tsvector_to_array(d.fts)))::double precision as df from query q),
  tf as (select d.id, d.fts_length, f.qtf, f.df, coalesce(cardinality(u.positions), 1)::double precision as tf
           from docs d cross join lateral unnest(d.fts) u join df f on f.lexeme = u.lexeme)
  select tf.id, sum(tf.qtf * ln(1 + (s.n - tf.df + 0.5) / (tf.df + 0.5))
                    * tf.tf * (k1 + 1) / (tf.tf + k1 * (1 - b + b * tf.fts_length / s.avgdl)))
    from tf cross join stats s group by tf.id
$$;
-- The first `k` rows of a ranking as "id:score" with scores rounded to 1e-9, in rank order.
create function pg_temp.ranked(q text, k integer, src text default 'document_chunks', filter jsonb default '{}') returns text language sql as $$
  select string_agg(h.id || ':' || round(h.score::numeric, 9), ' ' order by h.rank) from bm25_search(q, k, src, filter) h
$$;
create function pg_temp.ref_ranked(q text, k integer, src text, owners uuid[]) returns text language sql as $$
  select string_agg(r.id || ':' || round(r.score::numeric, 9), ' ' order by r.score desc, r.id)
    from (select * from pg_temp.bm25_ref(q, src, owners) order by score desc, id limit k) r
$$;
create function pg_temp.score(q text, chunk uuid, k1 double precision default null, b double precision default null)
returns numeric language sql as $$
  select round(h.score::numeric, 9) from bm25_search(q, 100, k1 => k1, b => b) h where h.id = chunk
$$;

-- A hand-computed corpus: Alice's four chunks (N = 4, lengths 3 + 2 + 4 + 1, avgdl = 2.5)
--   c1 'apple banana apple'          appl ×2, banana
--   c2 'banana cherry'               banana, cherri
--   c3 'cherry cherry cherry date'   cherri ×3, date
--   c4 'elderberry'                  elderberri
-- df(appl) = 1, df(cherri) = 2; idf = ln(1 + (N − df + 0.5) / (df + 0.5)): ln(1 + 3.5/1.5), ln(1 + 2.5/2.5)
select tests.authenticate_as('alice');
insert into document_chunks (id, content) values
  ('c0000000-0000-0000-0000-000000000001', 'apple banana apple'), ('c0000000-0000-0000-0000-000000000002', 'banana cherry'),
  ('c0000000-0000-0000-0000-000000000003', 'cherry cherry cherry date'), ('c0000000-0000-0000-0000-000000000004', 'elderberry');

select is(pg_temp.score('apple cherry', 'c0000000-0000-0000-0000-000000000001'),
  round((ln(1 + 3.5 / 1.5) * 2 * 1.9 / (2 + 0.9 * (1 - 0.4 + 0.4 * 3 / 2.5)))::numeric, 9),
  'c1: idf(apple) · tf 2 · (k1 + 1) / (tf + k1 · (1 − b + b · 3 / 2.5)) with k1 0.9, b 0.4');
select is(pg_temp.score('apple cherry', 'c0000000-0000-0000-0000-000000000002'),
  round((ln(1 + 2.5 / 2.5) * 1 * 1.9 / (1 + 0.9 * (1 - 0.4 + 0.4 * 2 / 2.5)))::numeric, 9),
  'c2: idf(cherry) with tf 1 and length 2');
select is(pg_temp.score('apple cherry', 'c0000000-0000-0000-0000-000000000003'),
  round((ln(2.0) * 3 * 1.9 / (3 + 0.9 * (1 - 0.4 + 0.4 * 4 / 2.5)))::numeric, 9),
  'c3: idf(cherry) with tf 3 and length 4');
select results_eq($$ select id, rank, bm25_rank, vector_rank, vector_score from bm25_search('apple cherry') $$,
  $$ values ('c0000000-0000-0000-0000-000000000001'::uuid, 1, 1, null::integer, null::double precision),
            ('c0000000-0000-0000-0000-000000000003', 2, 2, null, null), ('c0000000-0000-0000-0000-000000000002', 3, 3, null, null) $$,
  'the matching chunks come best first with ranks 1..n; the vector columns are null; c4 matches nothing and is left out');
select ok((select bool_and(score = bm25_score) from bm25_search('apple cherry')), 'bm25_score repeats score');
select is(pg_temp.score('banana apple cherry', 'c0000000-0000-0000-0000-000000000002'),
  round((ln(1 + 2.5 / 2.5) * 1.9 / (1 + 0.9 * (0.6 + 0.4 * 2 / 2.5)) * 2)::numeric, 9),
  'c2 matches two query terms with the same df: their contributions add up');
select results_eq($$ select id, matched from bm25_search('cherries and apples, banana') order by id $$,
  $$ values ('c0000000-0000-0000-0000-000000000001'::uuid, array['appl', 'banana']), ('c0000000-0000-0000-0000-000000000002', array['banana', 'cherri']),
            ('c0000000-0000-0000-0000-000000000003', array['cherri']) $$,
  'matched lists the query lexemes each chunk contains, sorted');
select results_eq($$ select content, metadata, document_id, heading_path, parent_id, thread_id, role from bm25_search('elderberry') $$,
  $$ values ('elderberry', '{}'::jsonb, null::uuid, '{}'::text[], null::uuid, null::uuid, null::message_role) $$,
  'a hit carries the chunk''s content, metadata, document, headings and parent');
-- query term frequency
select is(pg_temp.score('cherry cherry apple', 'c0000000-0000-0000-0000-000000000003'),
  round((2 * ln(2.0) * 3 * 1.9 / (3 + 0.9 * (0.6 + 0.4 * 4 / 2.5)))::numeric, 9),
  'a query term given twice weighs twice (qtf)');
select results_eq($$ select id from bm25_search('apple cherry cherry cherry') $$,
  $$ values ('c0000000-0000-0000-0000-000000000003'::uuid), ('c0000000-0000-0000-0000-000000000002'), ('c0000000-0000-0000-0000-000000000001') $$,
  'repeating a query term can reorder the ranking');
-- k1 and b
select is(pg_temp.score('apple', 'c0000000-0000-0000-0000-000000000001', 1.2, 0.75),
  round((ln(1 + 3.5 / 1.5) * 2 * 2.2 / (2 + 1.2 * (0.25 + 0.75 * 3 / 2.5)))::numeric, 9), 'k1 and b can be given');
select is(pg_temp.score('cherry', 'c0000000-0000-0000-0000-000000000003', 0, 0.4), round(ln(2.0)::numeric, 9),
  'k1 = 0 ignores term frequency: the score is the idf');
select is(pg_temp.score('cherry', 'c0000000-0000-0000-0000-000000000003', 0.9, 0),
  round((ln(2.0) * 3 * 1.9 / (3 + 0.9))::numeric, 9), 'b = 0 ignores the length');
select tests.authenticate_as_owner();
update settings set value = '1.2' where category = 'retrieval' and key = 'bm25_k1';
update settings set value = '0.75' where category = 'retrieval' and key = 'bm25_b';
select tests.authenticate_as('alice');
select is(pg_temp.score('apple', 'c0000000-0000-0000-0000-000000000001'),
  round((ln(1 + 3.5 / 1.5) * 2 * 2.2 / (2 + 1.2 * (0.25 + 0.75 * 3 / 2.5)))::numeric, 9),
  'without k1 and b the settings retrieval.bm25_k1 and retrieval.bm25_b apply');
select tests.authenticate_as_owner();
update settings set value = '0.9' where category = 'retrieval' and key = 'bm25_k1';
update settings set value = '0.4' where category = 'retrieval' and key = 'bm25_b';
select throws_ok($$ update settings set value = '11' where category = 'retrieval' and key = 'bm25_k1' $$, '22023',
  'setting retrieval.bm25_k1 must be a number between 0 and 10, got 11', 'a k1 setting out of range is refused');
select throws_ok($$ update settings set value = '"0.5"' where category = 'retrieval' and key = 'bm25_b' $$, '22023',
  'setting retrieval.bm25_b must be a number between 0 and 1, got "0.5"', 'a b setting that is not a number is refused');
select tests.authenticate_as('alice');
-- ties by id
insert into document_chunks (id, content) values ('c0000000-0000-0000-0000-000000000006', 'fig grape'), ('c0000000-0000-0000-0000-000000000005', 'fig grape');
select results_eq($$ select id from bm25_search('fig') $$,
  $$ values ('c0000000-0000-0000-0000-000000000005'::uuid), ('c0000000-0000-0000-0000-000000000006') $$, 'equal scores are ranked by id');
select is((select count(distinct score)::int from bm25_search('fig')), 1, 'they are equal');
select results_eq($$ select id from bm25_search('fig', 1) $$, $$ values ('c0000000-0000-0000-0000-000000000005'::uuid) $$,
  'a tie at the cut goes to the lower id');
select is(pg_temp.ranked('apple cherry fig', 100), pg_temp.ref_ranked('apple cherry fig', 100, 'document_chunks', array[tests.get_supabase_uid('alice')]),
  'the six-chunk corpus ranks exactly as the reference computation');
-- nothing to search for
select is_empty($$ select 1 from bm25_search('the and of it') $$, 'a query of stop words only returns no rows');
select is_empty($$ select 1 from bm25_search('zebra') $$, 'a query of words no chunk contains returns no rows');
select throws_ok($$ select * from bm25_search('') $$, '22023', 'query_text must not be empty', 'an empty query is refused');
select throws_ok($$ select * from bm25_search(E' \t\n') $$, '22023', 'query_text must not be empty', 'a blank query is refused');
select throws_ok($$ select * from bm25_search(null) $$, '22023', 'query_text must not be empty', 'a null query is refused');
select throws_ok($$ select * from bm25_search(repeat('a', 10001)) $$, '22001', 'query_text is 10001 characters; at most 10000 can be searched',
  'a query over 10,000 characters is refused');
select throws_ok($$ select * from bm25_search('apple', 0) $$, '22023', 'match_count must be between 1 and 1000 (got 0)', 'match_count 0 is refused');
select throws_ok($$ select * from bm25_search('apple', 1001) $$, '22023', 'match_count must be between 1 and 1000 (got 1001)', 'match_count 1001 is refused');
select throws_ok($$ select * from bm25_search('apple', null) $$, '22023', 'match_count must be between 1 and 1000 (got null)', 'a null match_count is refused');
select is((select count(*)::int from bm25_search('apple cherry fig', 2)), 2, 'match_count caps the rows');
select throws_ok($$ select * from bm25_search('apple', k1 => -0.1) $$, '22023', 'k1 must be between 0 and 10 (got -0.1)', 'a negative k1 is refused');
select throws_ok($$ select * from bm25_search('apple', k1 => 10.5) $$, '22023', 'k1 must be between 0 and 10 (got 10.5)', 'k1 above 10 is refused');
select throws_ok($$ select * from bm25_search('apple', k1 => 'NaN') $$, '22023', 'k1 must be between 0 and 10 (got NaN)', 'k1 NaN is refused');
select throws_ok($$ select * from bm25_search('apple', b => -0.5) $$, '22023', 'b must be between 0 and 1 (got -0.5)', 'a negative b is refused');
select throws_ok($$ select * from bm25_search('apple', b => 1.5) $$, '22023', 'b must be between 0 and 1 (got 1.5)', 'b above 1 is refused');
select throws_ok($$ select * from bm25_search('apple', source => 'documents') $$, '22023', 'source must be messages, document_chunks or memories (got documents)',
  'an unknown source is refused');

-- Filters of document_chunks: document_ids, metadata (the document's merged with the chunk's), created range
select set_config('test.d1', ((ingest_document('[{"content": "apple pie recipe", "metadata": {"course": "dessert"}}, {"content": "apple cider"}]',
                                                metadata => '{"lang": "en"}')).document).id::text, true);
select set_config('test.d2', ((ingest_document('[{"content": "apple strudel", "metadata": {"course": "dessert", "lang": "de"}}]',
                                                metadata => '{"lang": "en"}')).document).id::text, true);
create temp table all_apples as select * from bm25_search('apple', 1000);
create function pg_temp.filtered_ok(q text, args text, predicate text) returns boolean language plpgsql as $$
declare
  have text;
  want text;
begin
  execute format('select string_agg(h.id || '':'' || h.score, '' '' order by h.rank) from bm25_search(%L, 1000, %s) h', q, args) into have;
  execute format('select string_agg(h.id || '':'' || h.score, '' '' order by h.rank) from all_apples h where %s', predicate) into want;
  return have is not distinct from want and have is not null;
end
$$;
select ok(pg_temp.filtered_ok('apple', format('document_ids => array[%L]::uuid[]', current_setting('test.d1')),
                              format('document_id = %L', current_setting('test.d1'))),
  'document_ids keeps only the chunks of those documents, with unchanged scores');
select ok(pg_temp.filtered_ok('apple', $f$filter => '{"lang": "en"}'$f$, $p$metadata @> '{"lang": "en"}'$p$),
  'a metadata filter matches the document''s metadata');
select ok(pg_temp.filtered_ok('apple', $f$filter => '{"course": "dessert"}'$f$, $p$metadata @> '{"course": "dessert"}'$p$),
  'a metadata filter matches the chunk''s metadata');
select results_eq($$ select content, metadata from bm25_search('apple', filter => '{"lang": "de"}') $$,
  $$ values ('apple strudel', '{"course": "dessert", "lang": "de"}'::jsonb) $$,
  'the chunk''s metadata overrides the document''s, in the filter and in the result');
select is_empty($$ select 1 from bm25_search('apple', filter => '{"lang": "fr"}') $$, 'a metadata filter nothing contains returns no rows');
select set_config('test.cut', (select created_at::text from document_chunks where content = 'apple cider'), true);
select ok(pg_temp.filtered_ok('apple', format('created_after => %L', current_setting('test.cut')), format('created_at >= %L', current_setting('test.cut'))),
  'created_after keeps rows created at or after it');
select ok(pg_temp.filtered_ok('apple', format('created_before => %L', current_setting('test.cut')), format('created_at < %L', current_setting('test.cut'))),
  'created_before keeps rows created before it');
select throws_ok($$ select * from bm25_search('apple', created_after => now(), created_before => now() - interval '1 day') $$, '22023', null,
  'created_after later than created_before is refused');
select throws_ok($$ select * from bm25_search('apple', filter => '["lang"]') $$, '22023', 'filter must be a JSON object of metadata to match (got array)',
  'a metadata filter that is not an object is refused');
select throws_ok($$ select * from bm25_search('apple', thread_id => gen_random_uuid()) $$, '22023',
  'thread_id, agent_id and roles filter source messages, not document_chunks', 'thread_id does not apply to chunks');
select throws_ok($$ select * from bm25_search('apple', agent_id => 'assistant') $$, '22023',
  'thread_id, agent_id and roles filter source messages, not document_chunks', 'agent_id does not apply to chunks');
select throws_ok($$ select * from bm25_search('apple', roles => '{user}') $$, '22023',
  'thread_id, agent_id and roles filter source messages, not document_chunks', 'roles do not apply to chunks');

-- Filters of messages: thread_id, agent_id, roles, metadata, created range
select set_config('test.t1', (create_thread(agent_id => 'assistant')).id::text, true);
select set_config('test.t2', (create_thread(agent_id => 'planner')).id::text, true);
select save_messages(current_setting('test.t1')::uuid, '[{"role": "system", "content": "You answer apple questions."},
  {"role": "user", "content": "Which apple is sweet?", "metadata": {"lang": "en"}}, {"role": "assistant", "content": "The gala apple is sweet."},
  {"role": "user", "content": "And a sour apple?"}]');
select save_messages(current_setting('test.t2')::uuid, '[{"role": "user", "content": "Plan an apple harvest.", "metadata": {"lang": "en"}},
  {"role": "assistant", "content": "Harvest apples in autumn."}]');
drop table all_apples;
create temp table all_apples as select * from bm25_search('apple', 1000, 'messages');
select is((select count(*)::int from all_apples), 6, 'unfiltered, every message about apples matches');
select ok(pg_temp.filtered_ok('apple', format($f$'messages', thread_id => %L$f$, current_setting('test.t1')), format('thread_id = %L', current_setting('test.t1'))),
  'thread_id keeps the messages of that thread, with unchanged scores');
-- A caller's planner settings do not reach the ranking: build_context runs with bitmap scans and sorts
-- off (function-local), which inherited gave the ranking's statements slow plans on a large thread;
-- bm25_rank sets both itself, and ranks the same under them.
create temp table thread_apples as select * from bm25_search('apple', 1000, 'messages', thread_id => current_setting('test.t1')::uuid);
set local enable_bitmapscan = off;
set local enable_sort = off;
select results_eq($$ select id, score from bm25_search('apple', 1000, 'messages', thread_id => current_setting('test.t1')::uuid) $$,
  $$ select id, score from thread_apples order by rank $$, 'with bitmap scans and sorts off in the caller, the same ranking');
set local enable_bitmapscan = on;
set local enable_sort = on;
select ok((select p.proconfig @> array['enable_bitmapscan=on', 'enable_sort=on'] from pg_proc p
            where p.oid = 'private.bm25_rank(text, text, integer, jsonb, double precision, double precision)'::regprocedure),
  'bm25_rank runs with bitmap scans and sorts on, whatever its caller set');
-- The search path's helpers keep their plans for the session (the search plan caching migration): PL/pgSQL
-- with generic plans, not SQL functions planned on every call, and their row estimates kept.
select is(array(select p.proname::text from pg_proc p join pg_language l on l.oid = p.prolang
                 where p.pronamespace = 'private'::regnamespace
                   and p.proname in ('bm25_rank', 'bm25_arms', 'hybrid_rank', 'search_rows', 'message_neighbours_of', 'setting')
                   and l.lanname = 'plpgsql' and p.proconfig @> array['plan_cache_mode=force_generic_plan']
                   and (p.prorows = 20 or p.proname in ('bm25_arms', 'setting'))
                 order by 1),
  array['bm25_arms', 'bm25_rank', 'hybrid_rank', 'message_neighbours_of', 'search_rows', 'setting'],
  'the ranking helpers are PL/pgSQL with cached generic plans and ~20-row estimates');
select ok(pg_temp.filtered_ok('apple', $f$'messages', agent_id => 'planner'$f$, format('thread_id = %L', current_setting('test.t2'))),
  'agent_id keeps the messages of that agent''s threads');
select ok(pg_temp.filtered_ok('apple', $f$'messages', roles => '{user,system}'$f$, $p$role in ('user', 'system')$p$),
  'roles keeps the messages of those roles');
select ok(pg_temp.filtered_ok('apple', $f$'messages', filter => '{"lang": "en"}'$f$, $p$metadata @> '{"lang": "en"}'$p$),
  'a metadata filter keeps the messages whose metadata contains it');
select set_config('test.cut', (select created_at::text from messages where content = 'The gala apple is sweet.'), true);
select ok(pg_temp.filtered_ok('apple', format($f$'messages', created_after => %L$f$, current_setting('test.cut')), format('created_at >= %L', current_setting('test.cut'))),
  'created_after keeps the messages created at or after it');
select ok(pg_temp.filtered_ok('apple', format($f$'messages', thread_id => %L, roles => '{user}', created_before => %L$f$, current_setting('test.t1'), current_setting('test.cut')),
                              format($p$thread_id = %L and role = 'user' and created_at < %L$p$, current_setting('test.t1'), current_setting('test.cut'))),
  'filters combine with AND');
select is(pg_temp.ranked('apple sweet harvest', 100, 'messages'),
  pg_temp.ref_ranked('apple sweet harvest', 100, 'messages', array[tests.get_supabase_uid('alice')]),
  'messages rank exactly as the reference computation');
select throws_ok($$ select * from bm25_search('apple', source => 'messages', document_ids => array[gen_random_uuid()]) $$, '22023',
  'document_ids filters source document_chunks, not messages', 'document_ids does not apply to messages');
select throws_ok($$ select * from bm25_search('apple', source => 'messages', roles => '{boss}') $$, '22P02', null,
  'an unknown role is refused');

-- Visibility: Bob's rows never appear for Alice and never change her scores
select set_config('test.alice_chunks', pg_temp.ranked('apple cherry fig', 100), true);
select set_config('test.alice_messages', pg_temp.ranked('apple sweet harvest', 100, 'messages'), true);
select tests.authenticate_as('bob');
insert into document_chunks (content) select 'apple apple cherry number ' || g from generate_series(1, 30) g;
select save_messages((create_thread(agent_id => 'assistant')).id, '[{"role": "user", "content": "apple sweet apple"}, {"role": "user", "content": "harvest"}]');
select is((select count(*)::int from bm25_search('apple cherry', 1000)), 30, 'Bob finds his 30 chunks');
select is((select count(*)::int from bm25_search('apple cherry', 1000) h where h.content not like 'apple apple cherry number %'), 0,
  'and none of Alice''s');
select is((select count(*)::int from bm25_search('apple', 1000, 'messages') h where h.content not in ('apple sweet apple')), 0,
  'Bob finds none of Alice''s messages');
select is(pg_temp.ranked('apple cherry', 100), pg_temp.ref_ranked('apple cherry', 100, 'document_chunks', array[tests.get_supabase_uid('bob')]),
  'Bob''s scores come from his own corpus alone');
select tests.authenticate_as('alice');
select is(pg_temp.ranked('apple cherry fig', 100), current_setting('test.alice_chunks'), 'Bob''s chunks do not change Alice''s chunk scores');
select is(pg_temp.ranked('apple sweet harvest', 100, 'messages'), current_setting('test.alice_messages'),
  'Bob''s messages do not change Alice''s message scores');
select tests.authenticate_as_service_role();
select is(pg_temp.ranked('apple cherry fig', 1000),
  pg_temp.ref_ranked('apple cherry fig', 1000, 'document_chunks', array[tests.get_supabase_uid('alice'), tests.get_supabase_uid('bob')]),
  'service_role ranks every owner''s chunks, with statistics over all of them');
select tests.clear_authentication();
select throws_ok($$ select * from bm25_search('apple') $$, '42501', null, 'anon cannot call bm25_search');

-- private.caller_visibility_sql: whose rows a caller sees
select tests.authenticate_as('alice');
select is(private.caller_visibility_sql(), format('c.owner_id = %L::uuid', tests.get_supabase_uid('alice')),
  'a signed-in user sees their own rows');
select tests.authenticate_as_service_role();
select is(private.caller_visibility_sql(), 'true', 'service_role sees every row');
select tests.authenticate_as_owner();
select is(private.caller_visibility_sql(), 'true', 'postgres (bypasses row level security) sees every row');
select set_config('role', 'none', true);
select is(private.caller_visibility_sql(), 'true', 'a session without SET ROLE is judged by its session user (here postgres)');
select set_config('role', 'authenticated', true);
select set_config('request.jwt.claims', '{"role": "authenticated"}', true);
select is(private.caller_visibility_sql(), 'false', 'the authenticated role without a user sees nothing');
select is_empty($$ select 1 from bm25_search('apple') $$, 'and bm25_search finds nothing for it');
select tests.authenticate_as_owner();

-- MaxScore: the top k equals the first k of scoring everything, on a corpus where rare and common terms mix
select tests.authenticate_as('carol');
insert into document_chunks (content)
select string_agg('zq' || (1 + floor(40 * power(((g * 7919 + j * 104729) % 1009) / 1009.0, 3)))::int, ' ')
  from generate_series(1, 400) g, generate_series(1, 8) j group by g;
create temp table everything as select * from bm25_search('zq1 zq2 zq3 zq17 zq30 zq38', 1000);
select is(pg_temp.ranked('zq1 zq2 zq3 zq17 zq30 zq38', 1000),
  pg_temp.ref_ranked('zq1 zq2 zq3 zq17 zq30 zq38', 1000, 'document_chunks', array[tests.get_supabase_uid('carol')]),
  'scoring everything ranks exactly as the reference computation');
select ok((select count(*) from everything) > 300, 'the query matches most of the corpus');
select is(
  (select string_agg(k || '=' || (pg_temp.ranked('zq1 zq2 zq3 zq17 zq30 zq38', k)
                                  = (select string_agg(e.id || ':' || round(e.score::numeric, 9), ' ' order by e.rank) from everything e where e.rank <= k))::text, ' ' order by k)
     from unnest(array[1, 2, 5, 10, 25, 100]) k),
  '1=true 2=true 5=true 10=true 25=true 100=true', 'bm25_search(k) is exactly the first k of scoring everything, for k = 1, 2, 5, 10, 25, 100');
select is(
  (select string_agg(k || '=' || (pg_temp.ranked('zq38 zq1 zq1', k)
                                  = (select string_agg(h.id || ':' || round(h.score::numeric, 9), ' ' order by h.rank)
                                       from (select * from bm25_search('zq38 zq1 zq1', 1000) x where x.rank <= k) h))::text, ' ' order by k)
     from unnest(array[1, 3, 10, 50]) k),
  '1=true 3=true 10=true 50=true', 'also with a repeated common term');
create function pg_temp.fts_scans() returns bigint language sql as $$ select pg_stat_get_xact_numscans('public.document_chunks_fts_idx'::regclass) $$;
-- One MaxScore round is one scan of the fts index; without the early stop the top 1 would take a round
-- per query lexeme (6).
select set_config('test.scans', pg_temp.fts_scans()::text, true);
select count(*) from bm25_search('zq1 zq2 zq3 zq17 zq30 zq38', 1);
select cmp_ok(pg_temp.fts_scans() - current_setting('test.scans')::bigint, '<', 6::bigint,
  'the top 1 stops early: fewer rounds (fts index scans) than the query has lexemes');

select * from finish();
rollback;
