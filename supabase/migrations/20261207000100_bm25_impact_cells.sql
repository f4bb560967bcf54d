-- BM25 impact cells: what lets the exact top-k of bm25_rank (see the BM25 migration) fetch only the rows of
-- common query lexemes that can still reach the top k, instead of every row that contains them.
--
-- Why: MaxScore skips a lexeme only once the k-th score beats the sum of the upper bounds of the lexemes
-- not yet taken. For the 2–4-word queries people type, most words are common (thousands of rows each),
-- two or three common words together always "could" beat the k-th score, and their rounds fetched every
-- row containing them (at 100k Zipf chunks: tens of thousands of row fetches a query, p95 ≈ 100 ms).
--
-- Impact cells: each row also stores its lexemes as cells "<tf class><length class><lexeme>" (fts_cells,
-- a tsvector with a GIN index):
--   tf class      1, 2, 3 (tf 1, 2, 3), 4 (tf 4–5), 5 (tf ≥ 6), tf as BM25 counts it (positions);
--   length class  floor(2·log2 |d|), clipped to 06..24: a row of class L has |d| ≥ 2^(L/2) (class 06: ≥ 1).
-- A lexeme's contribution to a score grows with tf and shrinks with |d|, so the highest tf of a class (at
-- most the lexeme's max_tf) and the shortest |d| of a length class bound it for every row of the cell.
-- The cells carry no statistic (N, df, avgdl, k1, b): bounds are computed per query from the exact
-- statistics and the call's k1 and b, so nothing goes stale, and scores are computed exactly as before
-- — the cells only decide which rows are fetched.
--
-- The search (private.bm25_rank):
--   1. Lexemes in fewer than 4·k + 64 rows are fetched whole (fts index) and scored.
--   2. A first k-th score from a sample (8·k + 64 rows) of the rows with the m rarest lexemes, m the most
--      lexemes expected (as if independent) to share k rows, then fewer; then any matching rows. Finding
--      fewer than k rows there means every matching row was found.
--   3. With that k-th score θ, private.bm25_arms turns the bounds into tsqueries over cells that every
--      row able to score θ matches (MaxScore over cells, plus the lexemes such a row must also contain),
--      fetched in one bitmap scan of the cells index (= any). A first pass aims halfway between the best
--      and the k-th score; if k rows reach that, nothing else can, else a second pass uses the k-th score
--      found by then.
-- Exactness is checked against a reference implementation on a corpus of common lexemes, for several k,
-- parameters and filters, and after edits and deletes (tests/bm25.test.ts).
--
-- Cost: one stored tsvector and one GIN index per BM25 source, as many entries per row as fts has lexemes
-- (writes pay one more tokenisation); per query a handful of statements and the rows of the rare lexemes
-- plus the few rows of the common ones that sit in high-tf or short cells, and contain the other lexemes
-- they need — independent of how many rows merely contain a common lexeme.

-- Length bounds of each corpus: the shortest and longest |d| ever indexed (a delete leaves them, so they
-- always bound the rows; null after util.register_bm25_source recomputes a corpus, meaning "unknown"):
-- a search only considers the length classes between them.
alter table private.bm25_corpus
  add column min_length integer,
  add column max_length integer;
update private.bm25_corpus b set min_length = l.shortest, max_length = l.longest
  from (select 'messages' as source, m.owner_id, min(m.fts_length) as shortest, max(m.fts_length) as longest
          from public.messages m where length(m.fts) > 0 group by m.owner_id
        union all
        select 'document_chunks', d.owner_id, min(d.fts_length), max(d.fts_length)
          from public.document_chunks d where length(d.fts) > 0 group by d.owner_id
        union all
        select 'memories', x.owner_id, min(x.fts_length), max(x.fts_length)
          from public.memories x where length(x.fts) > 0 group by x.owner_id) l
 where b.source = l.source and b.owner_id = l.owner_id;

-- private.bm25_on_change() → trigger
--   As in the BM25 migration, and it also widens the corpus's length bounds to the rows that enter it.
create or replace function private.bm25_on_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  src text := (select s.source from private.bm25_sources s where s.relation = tg_relid);
  changes text;
begin
  if src is null then
    raise exception 'table %.% is not registered as a BM25 source', tg_table_schema, tg_table_name using errcode = '55000';
  end if;
  -- One row per indexed document that entered (+1) or left (−1) the corpus, with its lexemes.
  changes := case tg_op
    when 'INSERT' then
      'select n.owner_id, n.fts, n.fts_length, 1 as sign from new_rows n where length(n.fts) > 0'
    when 'DELETE' then
      'select o.owner_id, o.fts, o.fts_length, -1 as sign from old_rows o where length(o.fts) > 0'
    else
      'select n.owner_id, n.fts, n.fts_length, 1 as sign
         from new_rows n join old_rows o on o.id = n.id
        where n.fts is distinct from o.fts and length(n.fts) > 0
       union all
       select o.owner_id, o.fts, o.fts_length, -1
         from new_rows n join old_rows o on o.id = n.id
        where n.fts is distinct from o.fts and length(o.fts) > 0'
  end;

  -- Positive deltas are upserts (the counter may not exist yet); negative ones only ever meet existing
  -- counters (a row cannot leave a corpus it never entered): an update, or a delete when the counter
  -- reaches zero. The check constraints (counts > 0) would catch any drift.
  execute format($q$
    with changed as materialized (%s),
    corpus as (
      select c.owner_id, sum(c.sign)::bigint as docs, sum(c.sign * c.fts_length)::bigint as total,
             min(c.fts_length) filter (where c.sign > 0) as shortest, max(c.fts_length) filter (where c.sign > 0) as longest
        from changed c group by c.owner_id
      having sum(c.sign) <> 0 or sum(c.sign * c.fts_length) <> 0 or bool_or(c.sign > 0)),
    terms as (
      select c.owner_id, t.lexeme, sum(c.sign)::bigint as df,
             max(coalesce(cardinality(t.positions), 1)) filter (where c.sign > 0) as max_tf
        from changed c cross join unnest(c.fts) as t
       group by c.owner_id, t.lexeme
      having sum(c.sign) <> 0 or bool_or(c.sign > 0)),
    corpus_grown as (
      insert into private.bm25_corpus as b (source, owner_id, doc_count, total_length, min_length, max_length)
      select $1, c.owner_id, c.docs, c.total, c.shortest, c.longest from corpus c where c.docs > 0 order by c.owner_id
      on conflict (source, owner_id) do update
        set doc_count = b.doc_count + excluded.doc_count, total_length = b.total_length + excluded.total_length,
            min_length = least(b.min_length, excluded.min_length), max_length = greatest(b.max_length, excluded.max_length)
      returning 1),
    corpus_shrunk as (
      update private.bm25_corpus b set doc_count = b.doc_count + c.docs, total_length = b.total_length + c.total,
             min_length = least(b.min_length, c.shortest), max_length = greatest(b.max_length, c.longest)
        from (select * from corpus c where c.docs <= 0 order by c.owner_id) c
       where b.source = $1 and b.owner_id = c.owner_id and b.doc_count + c.docs > 0
      returning 1),
    corpus_emptied as (
      delete from private.bm25_corpus b using corpus c
       where c.docs < 0 and b.source = $1 and b.owner_id = c.owner_id and b.doc_count + c.docs <= 0
      returning 1),
    terms_grown as (
      insert into private.bm25_terms as b (source, owner_id, lexeme, doc_freq, max_tf)
      select $1, t.owner_id, t.lexeme, t.df, t.max_tf from terms t where t.df > 0 order by t.owner_id, t.lexeme
      on conflict (source, owner_id, lexeme) do update
        set doc_freq = b.doc_freq + excluded.doc_freq, max_tf = greatest(b.max_tf, excluded.max_tf)
      returning 1),
    -- Edits that keep a lexeme in as many rows may still raise its term frequency.
    terms_raised as (
      update private.bm25_terms b set max_tf = t.max_tf
        from (select * from terms t where t.df = 0 order by t.owner_id, t.lexeme) t
       where b.source = $1 and b.owner_id = t.owner_id and b.lexeme = t.lexeme and t.max_tf > b.max_tf
      returning 1),
    terms_shrunk as (
      update private.bm25_terms b set doc_freq = b.doc_freq + t.df, max_tf = greatest(b.max_tf, coalesce(t.max_tf, 1))
        from (select * from terms t where t.df < 0 order by t.owner_id, t.lexeme) t
       where b.source = $1 and b.owner_id = t.owner_id and b.lexeme = t.lexeme and b.doc_freq + t.df > 0
      returning 1),
    terms_emptied as (
      delete from private.bm25_terms b using terms t
       where t.df < 0 and b.source = $1 and b.owner_id = t.owner_id and b.lexeme = t.lexeme and b.doc_freq + t.df <= 0
      returning 1)
    select (select count(*) from corpus_grown) + (select count(*) from corpus_shrunk) + (select count(*) from corpus_emptied)
         + (select count(*) from terms_grown) + (select count(*) from terms_raised) + (select count(*) from terms_shrunk)
         + (select count(*) from terms_emptied)$q$,
    changes)
    using src;
  return null;
end
$$;
revoke all on function private.bm25_on_change() from public, anon, authenticated;

-- private.bm25_length_class(fts_length integer, otherwise integer) → integer
--   The length class of a row of that |d| (06..24, as in private.bm25_cells); `otherwise` for null.
create or replace function private.bm25_length_class(fts_length integer, otherwise integer)
returns integer
language sql
immutable
parallel safe
security invoker
as $$
  select coalesce(least(greatest(floor(2 * ln(greatest(fts_length, 1)) / ln(2)), 6), 24)::integer, otherwise)
$$;
revoke all on function private.bm25_length_class(integer, integer) from public, anon;
grant execute on function private.bm25_length_class(integer, integer) to authenticated, service_role;

-- private.bm25_cells(fts tsvector, fts_length integer) → tsvector
--   The impact cells of a row (see the header) as the lexemes of a tsvector (no positions), one per lexeme,
--   so that a tsquery over cells (this cell and one of those) is answered by one GIN scan. Immutable (it
--   defines the stored fts_cells); empty for an empty vector.
create or replace function private.bm25_cells(fts tsvector, fts_length integer)
returns tsvector
language sql
immutable
strict
parallel safe
security invoker
as $$
  select array_to_tsvector(coalesce(array_agg(
           (case when t.n <= 3 then t.n when t.n <= 5 then 4 else 5 end)::text || d.class || t.lexeme), '{}'))
    from (select u.lexeme, coalesce(cardinality(u.positions), 1) as n from unnest(fts) u) t
   cross join (select lpad(private.bm25_length_class(fts_length, 6)::text, 2, '0') as class) d
$$;
revoke all on function private.bm25_cells(tsvector, integer) from public, anon;
grant execute on function private.bm25_cells(tsvector, integer) to authenticated, service_role;

-- private.bm25_entries(lex, weights, max_tfs, dfs, whole_below, k1, b, avgdl, min_length, max_length)
--     → table (lexeme integer, class integer, key text, bound double precision)
--   The impact cells of the query lexemes with at least `whole_below` rows (rarer ones are fetched whole
--   and need none), best bound first: class = the length class, key = the cell, bound = the lexeme's
--   largest contribution to a row of the cell — the highest tf of the tf class, capped at max_tf, at the
--   shortest |d| of the length class. A tf class
--   above max_tf has no rows and is left out, as are length classes outside min_length..max_length (the
--   corpus's length bounds; all of 06..24 when unknown).
create or replace function private.bm25_entries(
  lex text[],
  weights double precision[],
  max_tfs double precision[],
  dfs double precision[],
  whole_below double precision,
  k1 double precision,
  b double precision,
  avgdl double precision,
  min_length integer default null,
  max_length integer default null
)
returns table (lexeme integer, class integer, key text, bound double precision)
language sql
immutable
parallel safe
security invoker
as $$
  select x.j, x.class, x.key, x.bound
    from (
      select j, lc.class, tc.class::text || lpad(lc.class::text, 2, '0') || lex[j] as key,
             weights[j] * tc.hi * (k1 + 1) / (tc.hi + k1 * (1 - b + b * lc.shortest / avgdl)) as bound
        from generate_subscripts(lex, 1) j
       cross join lateral (select c.class, least(c.hi, max_tfs[j]) as hi
                             from (values (1, 1, 1::double precision), (2, 2, 2), (3, 3, 3), (4, 4, 5), (5, 6, 'Infinity')) c(class, lo, hi)
                            where c.lo <= max_tfs[j]) tc
       cross join (select l.class, case when l.class = 6 then 1 else power(2::double precision, l.class / 2.0::double precision) * (1 - 1e-9::double precision) end as shortest
                     from generate_series(private.bm25_length_class(min_length, 6), private.bm25_length_class(max_length, 24)) l(class)) lc
       where dfs[j] >= whole_below
    ) x
   order by x.bound desc, x.key
$$;
revoke all on function private.bm25_entries(text[], double precision[], double precision[], double precision[], double precision, double precision, double precision, double precision, integer, integer) from public, anon;
grant execute on function private.bm25_entries(text[], double precision[], double precision[], double precision[], double precision, double precision, double precision, double precision, integer, integer) to authenticated, service_role;

-- private.tsquery_quote(lexeme text) → text
--   A lexeme as a quoted tsquery operand (taken as is, never parsed or stemmed).
create or replace function private.tsquery_quote(lexeme text)
returns text
language sql
immutable
strict
parallel safe
security invoker
as $$
  select '''' || replace(replace(lexeme, '\', '\\'), '''', '''''') || ''''
$$;
revoke all on function private.tsquery_quote(text) from public, anon;
grant execute on function private.tsquery_quote(text) to authenticated, service_role;

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
    select a.j, a.class, a.tf_group, f.j as r,
           (select string_agg(private.tsquery_quote(x.key), ' | ' order by x.key) from e x
             where x.lexeme = f.j and x.class = a.class and x.bound >= a.need - (a.total - f.m)) as cells
      from arms a join f on f.class = a.class and f.j > a.j
     where a.need - (a.total - f.m) > 0
    union all
    -- One of the later lexemes with at least the mean share.
    select a.j, a.class, a.tf_group, 0,
           (select string_agg(private.tsquery_quote(x.key), ' | ' order by x.key) from e x
             where x.lexeme > a.j and x.class = a.class and x.bound >= a.need / a.n)
      from arms a
     where a.need > 0 and a.n > 0)
  select array_agg(q.query::tsquery order by q.j, q.class, q.tf_group)
    from (
      select a.j, a.class, a.tf_group,
             '(' || a.cells || ')' || coalesce((select string_agg(' & (' || r.cells || ')', '' order by r.r) from required r
                                                 where r.j = a.j and r.class = a.class and r.tf_group = a.tf_group), '') as query
        from arms a
       -- A forced share no cell can give: none of these rows can reach the threshold.
       where not exists (select from required r where r.j = a.j and r.class = a.class and r.tf_group = a.tf_group and r.cells is null)) q
$$;
revoke all on function private.bm25_arms(text[], double precision[], double precision[], double precision[], double precision, double precision, double precision, double precision, double precision, integer, integer) from public, anon;
grant execute on function private.bm25_arms(text[], double precision[], double precision[], double precision[], double precision, double precision, double precision, double precision, double precision, integer, integer) to authenticated, service_role;

-- private.bm25_text_cells(content text) → tsvector
--   The impact cells of a text as fts and fts_length see it (the same English configuration): the
--   expression of the stored fts_cells columns.
create or replace function private.bm25_text_cells(content text)
returns tsvector
language sql
immutable
strict
parallel safe
security invoker
as $$
  select private.bm25_cells(v.fts, private.tsvector_token_count(v.fts))
    from (select to_tsvector('english'::regconfig, content) as fts) v
$$;
revoke all on function private.bm25_text_cells(text) from public, anon;
grant execute on function private.bm25_text_cells(text) to authenticated, service_role;

-- Stored, not an index expression: a search condition on cells may also be checked on fetched rows
-- (when the planner answers part of an OR from another index), and reading a column there costs
-- nothing, where recomputing the cells would cost a tokenisation per row.
alter table public.messages
  add column fts_cells tsvector generated always as (private.bm25_text_cells(left(content, 250000))) stored;
comment on column public.messages.fts_cells is 'BM25 impact cells of fts (tf class, length class, lexeme): which rows a top-k search fetches.';
alter table public.document_chunks
  add column fts_cells tsvector generated always as (private.bm25_text_cells(left(search_text, 250000))) stored;
comment on column public.document_chunks.fts_cells is 'BM25 impact cells of fts (tf class, length class, lexeme): which rows a top-k search fetches.';
alter table public.memories
  add column fts_cells tsvector generated always as (private.bm25_text_cells(left(content, 250000))) stored;
comment on column public.memories.fts_cells is 'BM25 impact cells of fts (tf class, length class, lexeme): which rows a top-k search fetches.';
create index messages_fts_cells_idx on public.messages using gin (fts_cells) with (fastupdate = off);
create index memories_fts_cells_idx on public.memories using gin (fts_cells) with (fastupdate = off);
create index document_chunks_fts_cells_idx on public.document_chunks using gin (fts_cells) with (fastupdate = off);

-- private.bm25_rank(source text, query_text text, match_count integer, filters jsonb, k1, b)
--     → table (id uuid, score double precision, rank integer, matched text[])
--   Unchanged contract (see the BM25 migration): the exact top `match_count` rows by BM25, best first (ties
--   by id), each with the query lexemes it contains. The rounds of common lexemes now go through the impact
--   cells (header). Security definer for the same reason as before (the GIN indexes under RLS); visibility
--   is applied to rows and statistics by the function itself.
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
  threshold double precision;
  pass integer;
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
  -- private.bm25_arms: one GIN search per tsquery of the array, each led by the few rows of its cells).
  -- A first pass aims higher, halfway between the best and the k-th score found so far: it fetches the
  -- few rows that can beat that, usually the top k itself; when k rows reach it, no other row can, and
  -- the search is done. Otherwise a second pass takes every row that can reach the k-th score found by
  -- then (rows of the first pass come again and are kept once).
  if cardinality(top_ids) >= bm25_rank.match_count and not exists (
       select from pg_catalog.pg_attribute a where a.attrelid = rel and a.attname = 'fts_cells' and not a.attisdropped) then
    -- A source registered without impact cells: every matching row, scored (exact, not fast).
    execute format(round_sql, rel, visible, conditions, 'c.fts @@ $3', 'all')
      into top_ids, top_scores, top_matched
      using lex, weights, private.lexeme_tsquery(lex), null::tsquery, p.k1_used, p.b_used, avgdl, bm25_rank.match_count,
            top_ids, top_scores, top_matched, null::tsquery[];
  elsif cardinality(top_ids) >= bm25_rank.match_count then
    for pass in 1..2 loop
      threshold := case when pass = 1 then (top_scores[1] + top_scores[bm25_rank.match_count]) / 2
                        else top_scores[bm25_rank.match_count] end - 1e-9;
      arms := private.bm25_arms(lex, weights, max_tfs, dfs, whole_below, p.k1_used, p.b_used, avgdl, threshold, shortest, longest);
      if cardinality(arms) > 0 then
        execute format(round_sql, rel, visible, conditions, 'c.fts_cells @@ any ($12)', 'all')
          into top_ids, top_scores, top_matched
          using lex, weights, null::tsquery, null::tsquery, p.k1_used, p.b_used, avgdl, bm25_rank.match_count,
                top_ids, top_scores, top_matched, arms;
      end if;
      exit when top_scores[bm25_rank.match_count] >= threshold;
    end loop;
  end if;

  return query
    select u.id, u.score, u.ord::integer, array(select jsonb_array_elements_text(u.matched))
      from unnest(top_ids, top_scores, top_matched) with ordinality as u(id, score, matched, ord)
     order by u.ord;
end
$$;
revoke all on function private.bm25_rank(text, text, integer, jsonb, double precision, double precision) from public, anon;
grant execute on function private.bm25_rank(text, text, integer, jsonb, double precision, double precision) to authenticated, service_role;
