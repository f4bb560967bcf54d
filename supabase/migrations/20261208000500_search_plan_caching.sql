-- Cached plans for the search path's helper functions. A SQL function that cannot be inlined (it has SET
-- clauses, or is more than one plain SELECT) has its body parsed and planned on every call in Postgres 15
-- and 17: nothing keeps the plan across statements. A PL/pgSQL function keeps the plans of its static
-- statements for the session. These functions ran once or more per search, and planning was most of
-- their cost: private.bm25_arms took 5.4 ms a call on a 1k-chunk corpus and 1.5 ms as PL/pgSQL with the
-- same query (the same arms on 54 real inputs). So each becomes PL/pgSQL around the same statement, with
-- plan_cache_mode = force_generic_plan: a parameterised statement would otherwise be planned again for
-- its first five calls and then whenever a custom plan looks cheaper, and these statements' plans do not
-- depend on the parameters' values (arrays of a few elements, ids looked up by key, one-time filters on
-- the source). Results and signatures are unchanged; the row estimates of the search row estimates
-- migration are kept (a replaced function would otherwise fall back to 1,000).
--
-- bm25_rank read its corpus statistics with two EXECUTEd statements (planned on every call) because the
-- caller's visibility was spliced in as SQL; they are now static, over the array of owners the caller
-- sees. Its fetches of rows stay EXECUTEd (the source table and the filters vary), as do vector_rank's.
--
-- How it scales: planning is per call, not per row, so the saving is the same at every corpus size;
-- the generic plans are the ones the custom plans were (index lookups by key), at any size.

-- private.bm25_arms: as in the BM25 one pass migration.
create or replace function private.bm25_arms(
  lex text[],
  weights double precision[],
  max_tfs double precision[],
  dfs double precision[],
  whole_below double precision,
  k1 double precision,
  b double precision,
  avgdl double precision,
  threshold double precision,
  min_length integer default null,
  max_length integer default null
)
returns tsquery[]
language plpgsql
immutable
parallel safe
security invoker
set plan_cache_mode = force_generic_plan
as $$
begin
  return (
  with e as (
    select * from private.bm25_entries(lex, weights, max_tfs, dfs, whole_below, k1, b, avgdl, min_length, max_length)),
  -- f_k(L) for every lexeme with cells and length class.
  f as (select e.class, e.lexeme as j, max(e.bound) as m from e group by e.class, e.lexeme),
  later as (
    select i.j, f2.class, sum(f2.m) as total, count(*) as n
      from (select distinct f.j from f) i join f f2 on f2.j > i.j
     group by i.j, f2.class),
  -- The cells to fetch, and what each needs from the later lexemes (the weakest per lexeme and class).
  arms as (
    select e.lexeme as j, e.class, least(left(e.key, 1)::integer, 3) as tf_group,
           string_agg(private.tsquery_quote(e.key), ' | ' order by e.key) as cells,
           min(threshold - e.bound) as need, coalesce(min(lt.total), 0) as total, coalesce(min(lt.n), 0) as n
      from e left join later lt on lt.j = e.lexeme and lt.class = e.class
     where e.bound + coalesce(lt.total, 0) >= threshold
     group by e.lexeme, e.class, least(left(e.key, 1)::integer, 3)),
  required as (
    -- Each later lexeme whose share is forced: its cells of the class that reach it.
    select a.j, a.class, a.tf_group, f.j as r, string_agg(private.tsquery_quote(x.key), ' | ' order by x.key) as cells
      from arms a
      join f on f.class = a.class and f.j > a.j and a.need - (a.total - f.m) > 0
      left join e x on x.lexeme = f.j and x.class = a.class and x.bound >= a.need - (a.total - f.m)
     group by a.j, a.class, a.tf_group, f.j
    union all
    -- One of the later lexemes with at least the mean share.
    select a.j, a.class, a.tf_group, 0, string_agg(private.tsquery_quote(x.key), ' | ' order by x.key)
      from arms a
      left join e x on x.class = a.class and x.lexeme > a.j and x.bound >= a.need / a.n
     where a.need > 0 and a.n > 0
     group by a.j, a.class, a.tf_group)
  select array_agg(q.query::tsquery order by q.j, q.class, q.tf_group)
    from (
      select a.j, a.class, a.tf_group,
             '(' || a.cells || ')' || coalesce(string_agg(' & (' || r.cells || ')', '' order by r.r), '') as query
        from arms a
        left join required r on r.j = a.j and r.class = a.class and r.tf_group = a.tf_group
       group by a.j, a.class, a.tf_group, a.cells
       -- A forced share no cell can give: none of these rows can reach the threshold.
      having bool_and(r.j is null or r.cells is not null)) q);
end
$$;

-- private.bm25_rank: as in the BM25 one pass migration, with its two statements over the statistics
-- static instead of EXECUTEd (they were dynamic only for the caller's visibility, now the array of owners
-- whose rows the caller sees: their own id, or every owner for the service role).
create or replace function private.bm25_rank(
  source text,
  query_text text,
  match_count integer,
  filters jsonb default '{}',
  k1 double precision default null,
  b double precision default null
)
returns table (id uuid, score double precision, rank integer, matched text[])
language plpgsql
stable
security definer
set search_path = ''
set enable_seqscan = off
-- Its own plans whoever calls it: build_context runs with bitmap scans and sorts off (see the messages
-- migration), and inherited here they gave the rounds plans that avoid the GIN bitmap scans and sorts
-- at any cost (at 10k messages, one build_context with recall took 562 ms, 130 ms with these settings).
set enable_bitmapscan = on
set enable_sort = on
set plan_cache_mode = force_generic_plan
rows 20
as $$
declare
  rel regclass := (select s.relation from private.bm25_sources s where s.source = bm25_rank.source);
  visible text := private.caller_visibility_sql();
  owners uuid[];
  conditions text := private.search_filter_sql(bm25_rank.source, bm25_rank.filters);
  p record;
  n_docs double precision;
  avgdl double precision;
  shortest integer;
  longest integer;
  lex text[];
  weights double precision[];
  dfs double precision[];
  max_tfs double precision[];
  top_ids uuid[] := '{}';
  top_scores double precision[] := '{}';
  top_matched jsonb[] := '{}';
  round_sql text;
  arms tsquery[];
  sample integer;
  whole_below double precision;
  rare text[];
  m integer;
  order_by_df integer[];
begin
  if rel is null then
    raise exception 'unknown search source "%"', bm25_rank.source using errcode = '22023';
  end if;
  if bm25_rank.match_count is null or bm25_rank.match_count < 1 then
    return;
  end if;
  select * into p from private.bm25_params(bm25_rank.k1, bm25_rank.b);

  -- Statistics of the caller's visible corpus: its owners' rows (static statements, so their plans are
  -- kept for the session; each looks up the statistics' primary key per owner).
  owners := case when visible = 'true'
                 then array(select c.owner_id from private.bm25_corpus c where c.source = bm25_rank.source)
                 else array[auth.uid()] end;
  select sum(c.doc_count), sum(c.total_length)::double precision / nullif(sum(c.doc_count), 0),
         case when bool_and(c.min_length is not null) then min(c.min_length) end,
         case when bool_and(c.max_length is not null) then max(c.max_length) end
    into n_docs, avgdl, shortest, longest
    from private.bm25_corpus c
   where c.source = bm25_rank.source and c.owner_id = any (owners);
  if coalesce(n_docs, 0) = 0 then
    return;
  end if;
  -- Query lexemes with their weight qtf·idf and their term-frequency bound, in order of their upper bound
  -- (highest first: usually the rarest); lexemes absent from the corpus cannot match and are dropped.
  select array_agg(q.lexeme order by q.ub desc, q.lexeme), array_agg(q.w order by q.ub desc, q.lexeme),
         array_agg(q.n order by q.ub desc, q.lexeme), array_agg(q.m order by q.ub desc, q.lexeme)
    into lex, weights, dfs, max_tfs
    from (select t.lexeme, df.n, df.m, x.w, x.w * df.m * (p.k1_used + 1) / (df.m + p.k1_used * (1 - p.b_used)) as ub
            from unnest(to_tsvector('english'::regconfig, bm25_rank.query_text)) t
            cross join lateral (select sum(c.doc_freq)::double precision as n, max(c.max_tf)::double precision as m
                                  from private.bm25_terms c
                                 where c.source = bm25_rank.source and c.owner_id = any (owners) and c.lexeme = t.lexeme) df
            cross join lateral (select coalesce(cardinality(t.positions), 1) * ln(1 + (n_docs - df.n + 0.5) / (df.n + 0.5)) as w) x
           where df.n > 0) q;
  if lex is null then
    return;
  end if;
  -- One fetch: the rows matching %4$s (at most %5$s of them), scored on every query lexeme and merged
  -- with the previous top ($9..$11; a row met again is kept once). Visibility and filters are written
  -- `is true` so that the planner never answers them from a btree (a thread's or owner's index would read
  -- every row of the thread: measured 435 ms against 31 ms for a recall filter on a 10k-message thread);
  -- the GIN conditions lead, the rest are checked on the rows they fetch.
  round_sql := $q$
    select coalesce(array_agg(r.id order by r.score desc, r.id), '{}'), coalesce(array_agg(r.score order by r.score desc, r.id), '{}'),
           coalesce(array_agg(r.matched order by r.score desc, r.id), '{}')
      from (
        select x.id, x.score, x.matched from (
          select distinct on (y.id) y.id, y.score, y.matched from (
            select u.id, u.score, u.matched from unnest($9, $10, $11) as u(id, score, matched)
            union all
            select t.id, sum(q.w * t.n * ($5 + 1) / (t.n + $5 * (1 - $6 + $6 * t.fts_length / $7))),
                   to_jsonb(array_agg(t.lexeme order by t.lexeme))
              from (select c.id, c.fts_length, l.lexeme, coalesce(cardinality(l.positions), 1)::double precision as n
                      from (select c.id, c.fts, c.fts_length from %1$s c
                             where (%4$s) and ((%2$s) is true) and ((%3$s) is true)
                             limit %5$s) c
                      cross join unnest(ts_filter(setweight(c.fts, 'A', $1), '{a}')) l) t
              join unnest($1, $2) as q(lexeme, w) on q.lexeme = t.lexeme
             group by t.id) y
          order by y.id) x
        order by x.score desc, x.id
        limit $8) r$q$;
  sample := 8 * bm25_rank.match_count + 64;

  -- Rare lexemes (fewer than 4·match_count + 64 rows) are fetched whole: they weigh most and cost little.
  whole_below := 4 * bm25_rank.match_count + 64;
  rare := array(select lex[j] from generate_subscripts(lex, 1) j where dfs[j] < whole_below order by j);
  if cardinality(rare) > 0 then
    execute format(round_sql, rel, visible, conditions, 'c.fts @@ $3', 'all')
      into top_ids, top_scores, top_matched
      using lex, weights, private.lexeme_tsquery(rare), null::tsquery, p.k1_used, p.b_used, avgdl, bm25_rank.match_count,
            top_ids, top_scores, top_matched, null::tsquery[];
  end if;
  -- A first k-th score, from a sample of the rows that contain the m rarest query lexemes (they usually
  -- hold the top k): m starts at the most lexemes whose rows together are expected (as if independent) to
  -- number match_count, and drops one lexeme at a time down to the rarest alone; then any row with a query
  -- lexeme. If even that finds fewer than match_count rows, it found every matching row.
  order_by_df := array(select j from generate_subscripts(lex, 1) j order by dfs[j], lex[j]);
  m := cardinality(lex);
  while m > 1 and n_docs * (select exp(sum(ln(dfs[j] / n_docs))) from unnest(order_by_df[1:m]) j) < bm25_rank.match_count loop
    m := m - 1;
  end loop;
  while cardinality(top_ids) < bm25_rank.match_count and m >= 0 loop
    execute format(round_sql, rel, visible, conditions, 'c.fts @@ $3', sample)
      into top_ids, top_scores, top_matched
      using lex, weights,
            (select string_agg(private.tsquery_quote(lex[j]), case when m > 0 then ' & ' else ' | ' end)
               from unnest(case when m > 0 then order_by_df[1:m] else order_by_df end) j)::tsquery,
            null::tsquery, p.k1_used, p.b_used, avgdl, bm25_rank.match_count, top_ids, top_scores, top_matched, null::tsquery[];
    m := m - 1;
  end loop;

  -- Every row that can still reach the k-th score, fetched through the impact cells (see
  -- private.bm25_arms: one GIN search per tsquery of the array, each led by the few rows of its cells),
  -- in one pass: the rows met again are kept once, and the k-th score found by then is exact.
  if cardinality(top_ids) >= bm25_rank.match_count and not exists (
       select from pg_catalog.pg_attribute a where a.attrelid = rel and a.attname = 'fts_cells' and not a.attisdropped) then
    -- A source registered without impact cells: every matching row, scored (exact, not fast).
    execute format(round_sql, rel, visible, conditions, 'c.fts @@ $3', 'all')
      into top_ids, top_scores, top_matched
      using lex, weights, private.lexeme_tsquery(lex), null::tsquery, p.k1_used, p.b_used, avgdl, bm25_rank.match_count,
            top_ids, top_scores, top_matched, null::tsquery[];
  elsif cardinality(top_ids) >= bm25_rank.match_count then
    arms := private.bm25_arms(lex, weights, max_tfs, dfs, whole_below, p.k1_used, p.b_used, avgdl,
                              top_scores[bm25_rank.match_count] - 1e-9, shortest, longest);
    if cardinality(arms) > 0 then
      execute format(round_sql, rel, visible, conditions, 'c.fts_cells @@ any ($12)', 'all')
        into top_ids, top_scores, top_matched
        using lex, weights, null::tsquery, null::tsquery, p.k1_used, p.b_used, avgdl, bm25_rank.match_count,
              top_ids, top_scores, top_matched, arms;
    end if;
  end if;

  return query
    select u.id, u.score, u.ord::integer, array(select jsonb_array_elements_text(u.matched))
      from unnest(top_ids, top_scores, top_matched) with ordinality as u(id, score, matched, ord)
     order by u.ord;
end
$$;

-- private.message_neighbours_of: as in the message neighbours batch migration.
create or replace function private.message_neighbours_of(ids uuid[], before integer, after integer)
returns table (id uuid, message public.memory_message, before_messages public.memory_message[],
               after_messages public.memory_message[])
language plpgsql
stable
security invoker
set search_path = ''
set enable_sort = off
set enable_bitmapscan = off
set plan_cache_mode = force_generic_plan
rows 20
as $$
#variable_conflict use_column
begin
  return query
  select h.id, private.to_memory_message(h),
         coalesce((select array_agg(private.to_memory_message(x) order by x.created_at, x.id)
                     from (select * from public.messages p
                            where p.thread_id = h.thread_id and (p.created_at, p.id) < (h.created_at, h.id)
                            order by p.created_at desc, p.id desc
                            limit greatest(message_neighbours_of.before, 0)) x), '{}'),
         coalesce((select array_agg(private.to_memory_message(x) order by x.created_at, x.id)
                     from (select * from public.messages n
                            where n.thread_id = h.thread_id and (n.created_at, n.id) > (h.created_at, h.id)
                            order by n.created_at, n.id
                            limit greatest(message_neighbours_of.after, 0)) x), '{}')
    from public.messages h
   where h.id = any (message_neighbours_of.ids);
end
$$;

-- private.hybrid_rank: as in the hybrid search migration.
create or replace function private.hybrid_rank(
  source text,
  query_text text,
  query_embedding extensions.vector,
  match_count integer,
  filters jsonb,
  bm25_weight double precision,
  vector_weight double precision,
  rrf_k integer,
  candidates integer,
  model text default null
)
returns table (
  id uuid,
  score double precision,
  rank integer,
  bm25_rank integer,
  bm25_score double precision,
  vector_rank integer,
  vector_score double precision,
  matched text[]
)
language plpgsql
stable
security invoker
set search_path = ''
set plan_cache_mode = force_generic_plan
rows 20
as $$
#variable_conflict use_column
begin
  return query
  with b as materialized (
    select * from private.bm25_rank(hybrid_rank.source, hybrid_rank.query_text, hybrid_rank.candidates, hybrid_rank.filters)
     where hybrid_rank.bm25_weight > 0),
  v as materialized (
    select * from private.vector_rank(hybrid_rank.source, hybrid_rank.query_embedding, hybrid_rank.candidates,
                                      hybrid_rank.filters, hybrid_rank.model)
     where hybrid_rank.query_embedding is not null and hybrid_rank.vector_weight > 0),
  fused as (
    select coalesce(b.id, v.id) as id,
           coalesce(hybrid_rank.bm25_weight / (hybrid_rank.rrf_k + b.rank), 0)
             + coalesce(hybrid_rank.vector_weight / (hybrid_rank.rrf_k + v.rank), 0) as score,
           b.rank as bm25_rank, b.score as bm25_score, v.rank as vector_rank, v.similarity as vector_score, b.matched
      from b full join v on v.id = b.id)
  select f.id, f.score, (row_number() over (order by f.score desc, f.id))::integer, f.bm25_rank, f.bm25_score,
         f.vector_rank, f.vector_score, coalesce(f.matched, '{}')
    from fused f
   order by f.score desc, f.id
   limit hybrid_rank.match_count;
end
$$;

-- private.search_rows: as in the memory search migration.
create or replace function private.search_rows(source text, ids uuid[])
returns setof public.search_row
language plpgsql
stable
security invoker
set search_path = ''
set plan_cache_mode = force_generic_plan
rows 20
as $$
begin
  return query
  select u.id, search_rows.source,
         coalesce(m.content, c.content, f.content),
         case when m.id is not null then m.metadata when f.id is not null then f.metadata
              else coalesce(d.metadata, '{}') || c.metadata end,
         m.thread_id, m.role, c.document_id, c.heading_path, c.parent_id, coalesce(m.created_at, c.created_at, f.created_at),
         f.kind, f.agent_id, f.valid_from, f.invalid_at
    from unnest(search_rows.ids) with ordinality as u(id, ord)
    left join public.messages m on search_rows.source = 'messages' and m.id = u.id
    left join public.document_chunks c on search_rows.source = 'document_chunks' and c.id = u.id
    left join public.documents d on d.id = c.document_id
    left join public.memories f on search_rows.source = 'memories' and f.id = u.id
   where m.id is not null or c.id is not null or f.id is not null
   order by u.ord;
end
$$;

-- private.setting(category, key, fallback): as in the memory helpers migration (read several times per
-- search: the BM25 parameters, the hybrid defaults, the rate limits).
create or replace function private.setting(category text, key text, fallback jsonb)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
set plan_cache_mode = force_generic_plan
as $$
begin
  return coalesce((select s.value from public.settings s where s.category = setting.category and s.key = setting.key),
                  setting.fallback);
end
$$;
