-- The guarded heavy RPCs (util.guard_rpc): hybrid_search, bm25_search, search_memories and ingest_document keep
-- their arguments, defaults, results, comments and grants, become volatile (so PostgREST runs them read-write),
-- answer like the unguarded functions, record their duration, and refuse calls over the limit with
-- PostgREST's 429 — the refused call's hit rolled back with it. kw_match_documents is limited through bm25_search.
begin;
\ir helpers/test_helpers.psql
select plan(20);

select tests.create_supabase_user('alice');
-- A day window: a window ending between two statements would restart the count.
update public.settings set value = '{"limit": 4, "window_seconds": 86400}' where category = 'rate_limits' and key = 'search_rpc';

select results_eq(
  $$ select p.proname::text collate "default", p.provolatile::text, l.lanname::text collate "default" from pg_proc p join pg_language l on l.oid = p.prolang
      where p.pronamespace = 'public'::regnamespace and p.proname in ('hybrid_search', 'bm25_search', 'search_memories', 'ingest_document')
      order by 1 $$,
  $$ values ('bm25_search', 'v', 'plpgsql'), ('hybrid_search', 'v', 'plpgsql'), ('ingest_document', 'v', 'plpgsql'), ('search_memories', 'v', 'plpgsql') $$,
  'the four heavy RPCs are volatile wrappers');
select is(
  (select array_agg(g.proname::text collate "default" order by g.proname) from pg_proc g join pg_proc u on u.proname = g.proname
    where g.pronamespace = 'public'::regnamespace and u.pronamespace = 'private'::regnamespace
      and g.proargtypes = u.proargtypes
      and pg_get_function_arguments(g.oid) = pg_get_function_arguments(u.oid)
      and pg_get_function_result(g.oid) = pg_get_function_result(u.oid)),
  array['bm25_search', 'hybrid_search', 'ingest_document', 'search_memories'],
  'each has the arguments, defaults and result of the function it guards (now in private)');
select is((select provolatile::text from pg_proc where pronamespace = 'private'::regnamespace and proname = 'hybrid_search'),
  's', 'the guarded function itself keeps its volatility');
select is(
  (select array_agg(p.proname::text collate "default" order by p.proname) from pg_proc p
    where p.pronamespace = 'public'::regnamespace and p.proname in ('hybrid_search', 'bm25_search', 'search_memories', 'ingest_document')
      and has_function_privilege('authenticated', p.oid, 'execute') and has_function_privilege('service_role', p.oid, 'execute')
      and not has_function_privilege('anon', p.oid, 'execute')),
  array['bm25_search', 'hybrid_search', 'ingest_document', 'search_memories'],
  'the wrappers have the grants the functions had: signed-in users and service_role, not anon');
select matches(obj_description((select oid from pg_proc where pronamespace = 'public'::regnamespace and proname = 'bm25_search'), 'pg_proc'),
  '^Okapi BM25 keyword search .* Rate limit search_rpc and quotas apply \(429 with Retry-After\)\.$', 'the comment is kept and names the limit');
select is((select provolatile::text from pg_proc where oid = 'public.kw_match_documents(text, integer)'::regprocedure), 'v',
  'kw_match_documents is volatile, since it calls the guarded bm25_search');

select tests.authenticate_as('alice');
select lives_ok($$ select public.ingest_document('[{"content": "Apples are red and pears are green."}, {"content": "Apple pie needs apples."}]', 'Fruit') $$,
  'ingest_document works through its guard');
select results_eq($$ select id, rank, score from public.bm25_search('apple') $$,
  $$ select id, rank, score from private.bm25_search('apple') $$, 'bm25_search answers exactly as the function it guards');
select results_eq($$ select id, rank from public.hybrid_search('apple') $$,
  $$ select id, rank from private.hybrid_search('apple') $$, 'hybrid_search answers exactly as the function it guards');
select results_eq($$ select id from public.kw_match_documents('apple', 5) $$,
  $$ select id from private.bm25_search('apple', 5) order by rank $$, 'kw_match_documents still answers');
select results_eq(
  $$ select rpc, count(*)::int from private.visible_rpc_calls() group by rpc order by rpc $$,
  $$ values ('bm25_search', 2), ('hybrid_search', 1), ('ingest_document', 1) $$,
  'every guarded call recorded its duration, kw_match_documents as its bm25_search');
select ok((select bool_and(duration_ms >= 0 and owner_id = tests.get_supabase_uid('alice')) from private.visible_rpc_calls()),
  'durations are measured, as Alice''s calls');
select is((select hits from public.rate_limit_counters where key = 'rule:search_rpc'), 3,
  'hybrid_search, bm25_search and kw_match_documents share the rule search_rpc');

-- Over the limit: PostgREST's 429, and the refused call's hit goes with its transaction.
select lives_ok($$ select public.search_memories('apple', scope => 'all') $$, 'the fourth search is within the limit');
select throws_ok($$ select public.bm25_search('apple') $$, 'PGRST', null, 'the fifth is refused with PostgREST''s custom error');
select is((select hits from public.rate_limit_counters where key = 'rule:search_rpc'), 4, 'the refused call left no hit');
select throws_ok($$ select public.hybrid_search('apple') $$, 'PGRST', null, 'a full counter refuses before running the search');
select is((select count(*)::int from public.rate_limits where key = 'rule:search_rpc' and remaining = 0), 1, 'rate_limits shows the rule used up');
select tests.authenticate_as_service_role();
select lives_ok($$ select public.bm25_search('apple') from generate_series(1, 3) $$, 'service_role is not limited');

select tests.authenticate_as_owner();
select throws_ok($$ select util.guard_rpc((select p.oid::regprocedure from pg_proc p where p.pronamespace = 'public'::regnamespace and p.proname = 'bm25_search'), 'search_rpc') $$,
  '22023', null, 'a function cannot be guarded twice');

select * from finish();
rollback;
