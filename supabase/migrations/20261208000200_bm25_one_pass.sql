-- BM25 in one pass over the impact cells, and a cheaper private.bm25_arms (see the impact cells migration
-- for the search itself). Same results, exactly; less work per query.
--
-- One pass: private.bm25_rank fetched the rows that can still reach the top k in two passes, the first
-- aiming halfway between the best and the k-th score found in the sample (few rows, usually the top k
-- itself), the second — when k rows did not reach that — at the k-th score. The first pass rarely settled
-- it, so most queries computed the arms and ran the cell fetch twice. Fetching at the k-th score at once
-- (a few more rows, one statement fewer and one arms computation fewer) is cheaper. Measured with the
-- change below, on a 100k-chunk Zipf corpus, 150 queries each run through both versions in alternating
-- order: k = 10 over chunks mean 13.2 → 10.6 ms (p50 12.3 → 9.7, p95 21.8 → 20.1); k = 20 over 100k
-- messages mean 15.0 → 11.9 ms (p95 28.1 → 23.3).
--
-- Settings: bm25_rank now sets enable_bitmapscan and enable_sort itself (on), so that a caller's
-- function-local settings (build_context turns both off) cannot take its GIN indexes away.
--
-- private.bm25_arms: the cells a row must also contain (forced shares and the pigeonhole) were found by a
-- subquery per arm and later lexeme over all the query's cells, and the final arms by a subquery per arm;
-- they are now joins grouped once (a hash join on length class and lexeme), with the same arms in the
-- same order (checked on 300 generated inputs, 137 of them without arms): 5.7–7.8 → 3.8 ms a call on
-- those inputs.

-- private.bm25_arms(lex, weights, max_tfs, dfs, whole_below, k1, b, avgdl, threshold) → tsquery[]
--   The fetch that finds every row that can score `threshold` or more, as tsqueries over impact cells
--   (a row is fetched when its fts_cells match one of them), for the lexemes with at least `whole_below`
--   rows; the rarer ones must have been fetched whole already, so their rows are scored and play no part
--   here. Lexemes are taken in their order (highest bound first). A row whose first such lexeme is i, in
--   length class L, scores at most bound_i(c) + Σ_{k>i} f_k(L), c its cell of lexeme i and f_k(L) the
--   largest bound of lexeme k's cells of class L. So, per lexeme i and class L:
--   - only i's cells c of class L with bound(c) + Σ_{k>i} f_k(L) ≥ threshold are fetched;
--   - their rows must get T = threshold − bound(c) from the later lexemes: a later lexeme j for which
--     T − Σ_{k>i, k≠j} f_k(L) > 0 must be present with at least that bound (one of its cells of class L
--     that reaches it), and (pigeonhole) one of the later lexemes must be present with a cell of class L
--     whose bound is at least T / (number of later lexemes).
--   One tsquery per lexeme i, class L and tf group (tf class 1, 2, or 3 and above): (c₁ | c₂ | …) &
--   (cells of j₁) & … & (cells for the pigeonhole), with the weakest requirement among its cells (a
--   superset of the rows that can reach the threshold). A row may
--   match more than one (the caller keeps it once). Null when no row can reach the threshold.
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
language sql
immutable
parallel safe
security invoker
as $$
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
      having bool_and(r.j is null or r.cells is not null)) q
$$;
revoke all on function private.bm25_arms(text[], double precision[], double precision[], double precision[], double precision, double precision, double precision, double precision, double precision, integer, integer) from public, anon;
grant execute on function private.bm25_arms(text[], double precision[], double precision[], double precision[], double precision, double precision, double precision, double precision, double precision, integer, integer) to authenticated, service_role;

-- private.bm25_rank(source text, query_text text, match_count integer, filters jsonb, k1, b)
--     → table (id uuid, score double precision, rank integer, matched text[])
--   As in the impact cells migration (unchanged contract: the exact top `match_count` rows by BM25, best
--   first, ties by id, each with the query lexemes it contains), with the rows that can still reach the
--   k-th score fetched in one pass, and bitmap scans and sorts on whatever the caller set (header).
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
as $$
declare
  rel regclass := (select s.relation from private.bm25_sources s where s.source = bm25_rank.source);
  visible text := private.caller_visibility_sql();
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

  -- Statistics of the caller's visible corpus.
  execute format('select sum(c.doc_count), sum(c.total_length)::double precision / nullif(sum(c.doc_count), 0),
                         case when bool_and(c.min_length is not null) then min(c.min_length) end,
                         case when bool_and(c.max_length is not null) then max(c.max_length) end
                    from private.bm25_corpus c where c.source = $1 and (%s)', visible)
    into n_docs, avgdl, shortest, longest using bm25_rank.source;
  if coalesce(n_docs, 0) = 0 then
    return;
  end if;
  -- Query lexemes with their weight qtf·idf and their term-frequency bound, in order of their upper bound
  -- (highest first: usually the rarest); lexemes absent from the corpus cannot match and are dropped.
  execute format($q$
    select array_agg(q.lexeme order by q.ub desc, q.lexeme), array_agg(q.w order by q.ub desc, q.lexeme),
           array_agg(q.n order by q.ub desc, q.lexeme), array_agg(q.m order by q.ub desc, q.lexeme)
      from (select t.lexeme, df.n, df.m, x.w, x.w * df.m * ($4 + 1) / (df.m + $4 * (1 - $5)) as ub
              from unnest(to_tsvector('english'::regconfig, $2)) t
              cross join lateral (select sum(c.doc_freq)::double precision as n, max(c.max_tf)::double precision as m
                                    from private.bm25_terms c
                                   where c.source = $1 and c.lexeme = t.lexeme and (%s)) df
              cross join lateral (select coalesce(cardinality(t.positions), 1) * ln(1 + ($3 - df.n + 0.5) / (df.n + 0.5)) as w) x
             where df.n > 0) q$q$, visible)
    into lex, weights, dfs, max_tfs using bm25_rank.source, bm25_rank.query_text, n_docs, p.k1_used, p.b_used;
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
revoke all on function private.bm25_rank(text, text, integer, jsonb, double precision, double precision) from public, anon;
grant execute on function private.bm25_rank(text, text, integer, jsonb, double precision, double precision) to authenticated, service_role;
