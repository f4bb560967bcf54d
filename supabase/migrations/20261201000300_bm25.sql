-- Okapi BM25 in SQL: corpus statistics kept exact by statement-level triggers, and the ranking function the
-- keyword and hybrid searches use (bm25_search, hybrid_search, search_memories, kw_match_documents).
--
-- Scoring (Robertson/Lucene-classic BM25 over the lexemes of the `fts` tsvector, English configuration):
--   score(d, q) = Σ_{t ∈ q} qtf(t) · idf(t) · tf(t,d)·(k1 + 1) / (tf(t,d) + k1·(1 − b + b·|d|/avgdl))
--   idf(t)      = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5))
--   tf(t,d)     = positions of lexeme t in d.fts (tsvector keeps at most 256 per lexeme)
--   |d|         = d.fts_length, the sum of tf over all lexemes of d (stop words are not lexemes)
--   qtf(t)      = how often t occurs in the query (Anserini's bag-of-words weighting)
--   N, avgdl    = indexed rows (fts with at least one lexeme) and their mean |d|, df(t) = rows containing
--                 t — all over the caller's VISIBLE corpus: their own rows (row level security on the
--                 statistics, as on the rows), every owner's for service_role. One tenant's rows never
--                 change another tenant's scores.
--   Defaults k1 = 0.9, b = 0.4 (settings retrieval.bm25_k1 / retrieval.bm25_b; Anserini's BEIR defaults).
--
-- Statistics: private.bm25_corpus (source, owner_id) → doc_count, total_length and private.bm25_terms
-- (source, owner_id, lexeme) → doc_freq. Statement-level triggers per source (transition tables) apply
-- one delta per statement: inserts add, deletes subtract (also cascaded deletes), updates apply the
-- difference between the old and new lexeme sets of the rows whose fts changed, a truncate clears them.
-- They are never recomputed per query.
--
-- Exactness under concurrency: the deltas are written in the writer's own transaction with
-- `insert … on conflict do update set x = x + delta`, which row-locks the counters it changes; a concurrent
-- writer touching the same counter waits for that transaction and then adds its delta to the committed
-- value (READ COMMITTED re-evaluates the conflict against the latest version), so no increment is lost,
-- and a rolled-back write rolls back its delta. Counters are upserted in (owner_id, lexeme) order, so two
-- writers cannot deadlock on them. A counter that reaches zero is deleted in the same statement (an
-- upsert that meets the deleted row inserts it afresh). Because rows and their statistics commit
-- together, a query's snapshot always sees statistics that describe exactly the rows it sees. The price:
-- writes of one owner serialise on that owner's corpus row from the write until commit.
--
-- How a query scales (MaxScore, exact top-k): each query lexeme has an upper bound on what it can add to
-- any row's score, qtf·idf·m(k1+1)/(m + k1(1−b)) with m the largest term frequency it has in the corpus
-- (kept with the statistics). Lexemes are taken in order of that bound. Round i takes, through the GIN
-- index on fts, the rows containing lexeme i but none of lexemes 1..i−1, skips those whose bound from their
-- own length (fts_length, read without touching the tsvector) cannot reach the current k-th score, scores
-- the rest fully (all query lexemes at once, from the row's tsvector: ts_filter of setweight keeps only the
-- query's lexemes) and merges them into the top k. It stops as soon as the k-th score exceeds the sum of
-- the bounds of the lexemes not yet taken: no unseen row can reach it. Rare lexemes come first, so common
-- ones are usually never scanned. Statistics cost one index lookup per
-- query lexeme; the work is proportional to the rows containing the query's rare lexemes, not to the
-- corpus. Worst case (every lexeme common): every row matching any lexeme is scored once.
-- Other tenants' rows sharing a lexeme are fetched by the GIN scan and dropped by the visibility condition;
-- with very many tenants a (owner_id, fts) GIN index (btree_gin) would avoid that. The GIN indexes run
-- with fastupdate off: a search must otherwise also scan every entry still in the index's pending list
-- (up to gin_pending_list_limit, 4 MB), which slows it until the next vacuum; writes pay for that instead.

insert into public.settings (category, key, value, description) values
  ('retrieval', 'bm25_k1', '0.9', 'BM25 term-frequency saturation k1 (0 ≤ k1 ≤ 10).'),
  ('retrieval', 'bm25_b', '0.4', 'BM25 length normalisation b (0 ≤ b ≤ 1).')
on conflict (category, key) do nothing;

-- private.tsvector_token_count(v tsvector) → integer
--   |d| for BM25: the number of token positions in `v` (a lexeme without positions counts once). 0 for an
--   empty vector, null for null. Immutable, so it can define a stored generated column.
create or replace function private.tsvector_token_count(v tsvector)
returns integer
language sql
immutable
strict
parallel safe
security invoker
as $$
  select coalesce(sum(coalesce(cardinality(t.positions), 1)), 0)::integer from unnest(v) t
$$;
revoke all on function private.tsvector_token_count(tsvector) from public, anon;
grant execute on function private.tsvector_token_count(tsvector) to authenticated, service_role;

-- |d| next to fts, from the same expression (a generated column cannot read another one).
alter table public.messages
  add column fts_length integer generated always as
    (private.tsvector_token_count(to_tsvector('english'::regconfig, left(content, 250000)))) stored;
comment on column public.messages.fts_length is 'BM25 document length: token positions in fts.';
alter table public.document_chunks
  add column fts_length integer generated always as
    (private.tsvector_token_count(to_tsvector('english'::regconfig, left(search_text, 250000)))) stored;
comment on column public.document_chunks.fts_length is 'BM25 document length: token positions in fts.';

create table private.bm25_sources (
  source text primary key,
  relation regclass not null unique
);
comment on table private.bm25_sources is 'Tables ranked with BM25: each has id uuid, owner_id uuid, fts tsvector, fts_length integer.';

create table private.bm25_corpus (
  source text not null references private.bm25_sources (source) on delete cascade,
  owner_id uuid not null,
  doc_count bigint not null constraint bm25_corpus_doc_count_positive check (doc_count > 0),
  total_length bigint not null constraint bm25_corpus_total_length_non_negative check (total_length >= 0),
  primary key (source, owner_id)
);
comment on table private.bm25_corpus is 'BM25 statistics per source and owner: indexed rows and the sum of their lengths.';

create table private.bm25_terms (
  source text not null,
  owner_id uuid not null,
  lexeme text not null,
  doc_freq bigint not null constraint bm25_terms_doc_freq_positive check (doc_freq > 0),
  -- An upper bound of the lexeme's term frequency in any row: the largest ever seen (a delete leaves it,
  -- so it never understates; util.register_bm25_source recomputes it exactly).
  max_tf integer not null default 1 constraint bm25_terms_max_tf_positive check (max_tf > 0),
  primary key (source, owner_id, lexeme)
);
comment on table private.bm25_terms is 'BM25 document frequencies (and a term-frequency bound) per source, owner and lexeme.';
-- service_role's statistics sum over owners: per lexeme, across all of them.
create index bm25_terms_source_lexeme_idx on private.bm25_terms (source, lexeme);

-- Signed-in users read their own statistics (the scoring functions run as the caller); service_role
-- reads all; only the definer triggers write.
alter table private.bm25_sources enable row level security;
alter table private.bm25_corpus enable row level security;
alter table private.bm25_terms enable row level security;
create policy "signed-in users can see which sources are ranked" on private.bm25_sources
  for select to authenticated using (true);
create policy "owners can read their corpus statistics" on private.bm25_corpus
  for select to authenticated using (owner_id = (select auth.uid()));
create policy "owners can read their term statistics" on private.bm25_terms
  for select to authenticated using (owner_id = (select auth.uid()));
revoke all on private.bm25_sources, private.bm25_corpus, private.bm25_terms from public, anon;
grant select on private.bm25_sources, private.bm25_corpus, private.bm25_terms to authenticated, service_role;

-- private.bm25_on_change() → trigger
--   The statement-level AFTER INSERT, UPDATE and DELETE trigger of a BM25 source (transition tables
--   new_rows / old_rows): one statement applies the statement's deltas to the corpus and term counters.
--   Rows whose fts is empty (no lexemes) are not part of the corpus. Security definer: writers cannot
--   write the statistics tables themselves.
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
      select c.owner_id, sum(c.sign)::bigint as docs, sum(c.sign * c.fts_length)::bigint as total
        from changed c group by c.owner_id
      having sum(c.sign) <> 0 or sum(c.sign * c.fts_length) <> 0),
    terms as (
      select c.owner_id, t.lexeme, sum(c.sign)::bigint as df,
             max(coalesce(cardinality(t.positions), 1)) filter (where c.sign > 0) as max_tf
        from changed c cross join unnest(c.fts) as t
       group by c.owner_id, t.lexeme
      having sum(c.sign) <> 0 or bool_or(c.sign > 0)),
    corpus_grown as (
      insert into private.bm25_corpus as b (source, owner_id, doc_count, total_length)
      select $1, c.owner_id, c.docs, c.total from corpus c where c.docs > 0 order by c.owner_id
      on conflict (source, owner_id) do update
        set doc_count = b.doc_count + excluded.doc_count, total_length = b.total_length + excluded.total_length
      returning 1),
    corpus_shrunk as (
      update private.bm25_corpus b set doc_count = b.doc_count + c.docs, total_length = b.total_length + c.total
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

-- private.bm25_on_truncate() → trigger
--   AFTER TRUNCATE statement trigger of a BM25 source (row triggers do not see a truncate): the source's
--   statistics go with its rows.
create or replace function private.bm25_on_truncate()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  src text := (select s.source from private.bm25_sources s where s.relation = tg_relid);
begin
  delete from private.bm25_corpus c where c.source = src;
  delete from private.bm25_terms t where t.source = src;
  return null;
end
$$;
revoke all on function private.bm25_on_truncate() from public, anon, authenticated;

-- util.register_bm25_source(source regclass) → void
--   Makes a table of schema public rankable by BM25: checks it has id uuid, owner_id uuid, fts tsvector and
--   fts_length integer, installs the statement-level triggers and computes its statistics from the rows
--   it already has. Re-registering recomputes them. Callers: migrations (postgres).
create or replace function util.register_bm25_source(source regclass)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  rel_name name;
  col record;
begin
  select c.relname into rel_name from pg_catalog.pg_class c
   where c.oid = source and c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p');
  if rel_name is null then
    raise exception 'source must be a table in schema public, got %', source using errcode = '22023';
  end if;
  for col in select * from (values ('id', 'uuid'), ('owner_id', 'uuid'), ('fts', 'tsvector'), ('fts_length', 'integer')) x(name, type)
  loop
    if not exists (select from pg_catalog.pg_attribute a where a.attrelid = source and a.attname = col.name
                     and not a.attisdropped and pg_catalog.format_type(a.atttypid, null) = col.type) then
      raise exception 'table % needs a column % of type %', source, col.name, col.type using errcode = '22023';
    end if;
  end loop;
  insert into private.bm25_sources (source, relation) values (rel_name, source)
  on conflict on constraint bm25_sources_pkey do update set relation = excluded.relation;
  delete from private.bm25_corpus b where b.source = rel_name;
  delete from private.bm25_terms b where b.source = rel_name;
  execute format('insert into private.bm25_corpus (source, owner_id, doc_count, total_length)
                  select $1, r.owner_id, count(*), sum(r.fts_length) from %s r where length(r.fts) > 0 group by r.owner_id',
                 source) using rel_name;
  execute format('insert into private.bm25_terms (source, owner_id, lexeme, doc_freq, max_tf)
                  select $1, r.owner_id, t.lexeme, count(*), max(coalesce(cardinality(t.positions), 1))
                    from %s r cross join unnest(r.fts) t
                   where length(r.fts) > 0 group by r.owner_id, t.lexeme', source) using rel_name;
  execute format('drop trigger if exists bm25_on_insert on %s', source);
  execute format('drop trigger if exists bm25_on_update on %s', source);
  execute format('drop trigger if exists bm25_on_delete on %s', source);
  execute format('create trigger bm25_on_insert after insert on %s referencing new table as new_rows '
                 'for each statement execute function private.bm25_on_change()', source);
  execute format('create trigger bm25_on_update after update on %s referencing old table as old_rows new table as new_rows '
                 'for each statement execute function private.bm25_on_change()', source);
  execute format('create trigger bm25_on_delete after delete on %s referencing old table as old_rows '
                 'for each statement execute function private.bm25_on_change()', source);
  execute format('drop trigger if exists bm25_on_truncate on %s', source);
  execute format('create trigger bm25_on_truncate after truncate on %s '
                 'for each statement execute function private.bm25_on_truncate()', source);
end
$$;
revoke all on function util.register_bm25_source(regclass) from public, anon, authenticated;

select util.register_bm25_source('public.messages');
select util.register_bm25_source('public.document_chunks');

-- Scoring reads each candidate's tsvector: keep it uncompressed in the row where it fits (MAIN: the wide
-- text columns are compressed and moved to TOAST first), so a candidate costs no decompression or TOAST
-- fetch.
alter table public.messages alter column fts set storage main;
alter table public.document_chunks alter column fts set storage main;

alter index public.messages_fts_idx set (fastupdate = off);
alter index public.document_chunks_fts_idx set (fastupdate = off);
select gin_clean_pending_list('public.messages_fts_idx'::regclass);

-- private.bm25_params(k1, b) → (k1, b)
--   The BM25 parameters to use: the arguments, or the settings retrieval.bm25_k1 / bm25_b when null.
--   Raises 22023 naming the parameter when k1 is outside 0..10 or b outside 0..1.
create or replace function private.bm25_params(k1 double precision, b double precision,
  out k1_used double precision, out b_used double precision)
language plpgsql
stable
security invoker
as $$
begin
  k1_used := coalesce(k1, (private.setting('retrieval', 'bm25_k1', '0.9') #>> '{}')::double precision);
  b_used := coalesce(b, (private.setting('retrieval', 'bm25_b', '0.4') #>> '{}')::double precision);
  if k1_used is null or k1_used < 0 or k1_used > 10 or k1_used = 'NaN' then
    raise exception 'k1 must be between 0 and 10 (got %)', k1_used using errcode = '22023';
  end if;
  if b_used is null or b_used < 0 or b_used > 1 or b_used = 'NaN' then
    raise exception 'b must be between 0 and 1 (got %)', b_used using errcode = '22023';
  end if;
end
$$;
revoke all on function private.bm25_params(double precision, double precision) from public, anon;
grant execute on function private.bm25_params(double precision, double precision) to authenticated, service_role;

-- private.lexeme_tsquery(lexemes text[]) → tsquery
--   lexeme_1 | lexeme_2 | … as a tsquery of exactly these lexemes (quoted, never re-parsed or stemmed);
--   null for an empty array.
create or replace function private.lexeme_tsquery(lexemes text[])
returns tsquery
language sql
immutable
strict
parallel safe
security invoker
as $$
  select nullif(string_agg('''' || replace(replace(l, '\', '\\'), '''', '''''') || '''', ' | '), '')::tsquery
    from unnest(lexemes) l
$$;
revoke all on function private.lexeme_tsquery(text[]) from public, anon;
grant execute on function private.lexeme_tsquery(text[]) to authenticated, service_role;

-- private.bm25_rank(source text, query_text text, match_count integer, filters jsonb, k1, b)
--     → table (id uuid, score double precision, rank integer, matched text[])
--   The top `match_count` rows of `source` for `query_text` by BM25 (see the header), best first (ties by
--   id), each with the query lexemes it contains. `filters` as private.search_filter_sql takes them. A
--   query with no lexemes (only stop words) ranks nothing.
--
--   Security definer, because row level security would cost the GIN index: Postgres evaluates a policy
--   before any non-leakproof qual, and `@@` (ts_match_vq) is not leakproof, so under RLS the planner may
--   not use the fts index and reads every visible row's tsvector instead (measured: 20 ms for 20 matches
--   among 5,000 rows, ~1 ms with the index). Marking `@@` leakproof takes a superuser. So this function
--   applies the same visibility itself (private.caller_visibility_sql: the caller's own rows, or all of
--   them for service_role/postgres) to the rows AND to the statistics, and builds every condition from
--   validated values (no SQL text comes from a caller). search_path is empty; names are qualified.
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
-- Candidates through the GIN index (a bitmap scan of the few rows with the rare lexemes), never a
-- sequential scan that reads and decompresses every row's tsvector, whatever the statistics say.
set enable_seqscan = off
as $$
declare
  rel regclass := (select s.relation from private.bm25_sources s where s.source = bm25_rank.source);
  visible text := private.caller_visibility_sql();
  conditions text := private.search_filter_sql(bm25_rank.source, bm25_rank.filters);
  p record;
  n_docs double precision;
  avgdl double precision;
  lex text[];
  weights double precision[];
  dfs double precision[];
  max_tfs double precision[];
  bounds double precision[];
  remaining double precision;
  top_ids uuid[] := '{}';
  top_scores double precision[] := '{}';
  top_matched jsonb[] := '{}';
  length_bound text;
  round_sql text;
  first integer;
  prev integer;
  i integer;
begin
  if rel is null then
    raise exception 'unknown search source "%"', bm25_rank.source using errcode = '22023';
  end if;
  if bm25_rank.match_count is null or bm25_rank.match_count < 1 then
    return;
  end if;
  select * into p from private.bm25_params(bm25_rank.k1, bm25_rank.b);

  -- Statistics of the caller's visible corpus.
  execute format('select sum(c.doc_count), sum(c.total_length)::double precision / nullif(sum(c.doc_count), 0)
                    from private.bm25_corpus c where c.source = $1 and (%s)', visible)
    into n_docs, avgdl using bm25_rank.source;
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
  -- A row's contribution from lexeme j is at most w_j·m_j·(k1+1)/(m_j + k1·(1 − b + b·|d|/avgdl)) (its tf is at
  -- most m_j, the tf part grows with tf and shrinks with |d|); with |d| → 0 that bounds every row.
  bounds := array(select weights[j] * max_tfs[j] * (p.k1_used + 1) / (max_tfs[j] + p.k1_used * (1 - p.b_used))
                    from generate_subscripts(lex, 1) j order by j);

  -- One MaxScore round: the rows containing one of lexemes $3 but none of $4 (earlier rounds) whose length
  -- bound (%4$s) can still reach the current k-th score, scored on every query lexeme, merged with the
  -- previous top ($9..$11).
  round_sql := $q$
    select coalesce(array_agg(r.id order by r.score desc, r.id), '{}'), coalesce(array_agg(r.score order by r.score desc, r.id), '{}'),
           coalesce(array_agg(r.matched order by r.score desc, r.id), '{}')
      from (
        select x.id, x.score, x.matched from (
          select u.id, u.score, u.matched from unnest($9, $10, $11) as u(id, score, matched)
          union all
          select t.id, sum(q.w * t.n * ($5 + 1) / (t.n + $5 * (1 - $6 + $6 * t.fts_length / $7))),
                 to_jsonb(array_agg(t.lexeme order by t.lexeme))
            from (select c.id, c.fts_length, l.lexeme, coalesce(cardinality(l.positions), 1)::double precision as n
                    from %1$s c
                    cross join unnest(ts_filter(setweight(c.fts, 'A', $1), '{a}')) l
                   where c.fts @@ $3 and not coalesce(c.fts @@ $4, false) and (%2$s) and (%3$s) and (%4$s)) t
            join unnest($1, $2) as q(lexeme, w) on q.lexeme = t.lexeme
           group by t.id
        ) x
        order by x.score desc, x.id
        limit $8) r$q$;

  -- The first round takes as many lexemes as it needs to reach match_count rows at all (fewer could never
  -- let it stop); each later round adds one lexeme.
  first := 1;
  while first < cardinality(lex) and coalesce((select sum(x) from unnest(dfs[1:first]) x), 0) < bm25_rank.match_count loop
    first := first + 1;
  end loop;
  i := 0;
  while i < cardinality(lex) loop
    prev := i;
    i := case when i = 0 then first else i + 1 end;
    -- Rows of this round contain none of lexemes 1..prev, so their score is at most the sum of the length
    -- bounds of lexemes prev+1..n; once a k-th score exists, a row whose bound is below it cannot enter
    -- the top k (a tiny margin keeps ties and rounding on the safe side).
    if cardinality(top_ids) >= bm25_rank.match_count then
      length_bound := format('(%s) >= %s',
        (select string_agg(format('%s / (%s + %s * c.fts_length)',
                                  weights[j] * max_tfs[j] * (p.k1_used + 1), max_tfs[j] + p.k1_used * (1 - p.b_used),
                                  p.k1_used * p.b_used / avgdl), ' + ')
           from generate_series(prev + 1, cardinality(lex)) j),
        top_scores[bm25_rank.match_count] - 1e-9);
    else
      length_bound := 'true';
    end if;
    execute format(round_sql, rel, visible, conditions, length_bound)
      into top_ids, top_scores, top_matched
      using lex, weights, private.lexeme_tsquery(lex[prev + 1:i]), private.lexeme_tsquery(lex[1:prev]),
            p.k1_used, p.b_used, avgdl, bm25_rank.match_count, top_ids, top_scores, top_matched;
    remaining := coalesce((select sum(x) from unnest(bounds[i + 1:]) x), 0);
    exit when cardinality(top_ids) >= bm25_rank.match_count and top_scores[bm25_rank.match_count] > remaining;
  end loop;

  return query
    select u.id, u.score, u.ord::integer, array(select jsonb_array_elements_text(u.matched))
      from unnest(top_ids, top_scores, top_matched) with ordinality as u(id, score, matched, ord)
     order by u.ord;
end
$$;
revoke all on function private.bm25_rank(text, text, integer, jsonb, double precision, double precision) from public, anon;
grant execute on function private.bm25_rank(text, text, integer, jsonb, double precision, double precision) to authenticated, service_role;

-- bm25_search(query_text, match_count, source, filter, thread_id, agent_id, roles, document_ids,
--     created_after, created_before, k1, b)
--     → setof search_hit (bm25_rank/bm25_score = rank/score; vector_rank/vector_score null)
--   Keyword search with Okapi BM25 (see the header): the best `match_count` (1..1000, default 10) rows of
--   `source` ('document_chunks', the default, or 'messages') for `query_text`, best first, each with its
--   score and the query lexemes it contains (`matched`). Filters (all optional, combined with AND):
--   filter (metadata containment, a JSON object), thread_id / agent_id / roles (messages), document_ids
--   (chunks), created_after ≤ created_at < created_before. k1 and b default to the retrieval settings.
--   A query of stop words only returns no rows.
--   Errors (22023 unless noted, naming the argument): query_text empty (22001 when over 10,000
--   characters), match_count outside 1..1000, unknown source, a filter that does not apply to the source,
--   filter not an object, created_after > created_before, k1 outside 0..10, b outside 0..1.
--   Callers: authenticated (their own rows), service_role (all rows, statistics over all owners).
create or replace function public.bm25_search(
  query_text text,
  match_count integer default 10,
  source text default 'document_chunks',
  filter jsonb default '{}',
  thread_id uuid default null,
  agent_id text default null,
  roles public.message_role[] default null,
  document_ids uuid[] default null,
  created_after timestamptz default null,
  created_before timestamptz default null,
  k1 double precision default null,
  b double precision default null
)
returns setof public.search_hit
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  filters jsonb := private.search_filters(bm25_search.thread_id, bm25_search.agent_id, bm25_search.roles,
    bm25_search.document_ids, bm25_search.filter, bm25_search.created_after, bm25_search.created_before);
begin
  perform private.search_filter_sql(bm25_search.source, filters);
  perform private.require_query_text(bm25_search.query_text);
  perform private.require_limit(bm25_search.match_count, 'match_count');
  return query
    with ranked as materialized (
      select * from private.bm25_rank(bm25_search.source, bm25_search.query_text, bm25_search.match_count, filters,
                                      bm25_search.k1, bm25_search.b))
    select r.id, r.rank, r.score, r.rank, r.score, null::integer, null::double precision, r.matched, s.content, s.metadata,
           s.thread_id, s.role, s.document_id, s.heading_path, s.parent_id, s.created_at
      from ranked r
      join private.search_rows(bm25_search.source, array(select x.id from ranked x order by x.rank)) s on s.id = r.id
     order by r.rank;
end
$$;
comment on function public.bm25_search(text, integer, text, jsonb, uuid, text, public.message_role[], uuid[], timestamptz, timestamptz, double precision, double precision) is
  'Okapi BM25 keyword search over the caller''s document chunks or messages, with filters; statistics are kept exact incrementally.';
revoke all on function public.bm25_search(text, integer, text, jsonb, uuid, text, public.message_role[], uuid[], timestamptz, timestamptz, double precision, double precision) from public, anon;
grant execute on function public.bm25_search(text, integer, text, jsonb, uuid, text, public.message_role[], uuid[], timestamptz, timestamptz, double precision, double precision) to authenticated, service_role;
