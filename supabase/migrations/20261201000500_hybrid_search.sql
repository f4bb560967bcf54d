-- hybrid_search: BM25 and vector search fused by weighted reciprocal rank fusion (RRF).
--
--   score(d) = bm25_weight / (rrf_k + bm25_rank(d)) + vector_weight / (rrf_k + vector_rank(d))
--
-- Each channel contributes its best `candidates` rows (default: twice match_count, at least setting
-- retrieval.hybrid_candidates = 20; any number up to 10,000 can be asked for — no fixed cap like the 30 of
-- Supabase's guide, so deep results stay reachable); a row found by one channel only gets that channel's
-- term. Both channels apply the same
-- filters and row level security. Cost: one BM25 ranking and one HNSW scan of `candidates` rows each.

-- private.hybrid_rank(source, query_text, query_embedding, match_count, filters, bm25_weight,
--     vector_weight, rrf_k, candidates, model)
--     → table (id, score, rank, bm25_rank, bm25_score, vector_rank, vector_score, matched)
--   The fused ranking (see the header), best first (ties by id). A null query_embedding (or a zero
--   vector_weight) skips the vector channel; a zero bm25_weight the BM25 channel. Validated arguments only
--   (the public functions check them).
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
language sql
stable
security invoker
set search_path = ''
as $$
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
   limit hybrid_rank.match_count
$$;
revoke all on function private.hybrid_rank(text, text, extensions.vector, integer, jsonb, double precision, double precision, integer, integer, text) from public, anon;
grant execute on function private.hybrid_rank(text, text, extensions.vector, integer, jsonb, double precision, double precision, integer, integer, text)
  to authenticated, service_role;

-- private.hybrid_params(bm25_weight, vector_weight, rrf_k, candidates, match_count)
--     → (bm25_weight, vector_weight, rrf_k, candidates)
--   Defaults and checks for the fusion parameters: weights ≥ 0 and not both 0 (default 1 each), rrf_k
--   1..1000 (setting retrieval.rrf_k, 60), candidates match_count..10000 (default twice match_count, at least
--   setting retrieval.hybrid_candidates, 20). Raises 22023 naming the parameter.
create or replace function private.hybrid_params(
  bm25_weight double precision, vector_weight double precision, rrf_k integer, candidates integer, match_count integer,
  out bm25_weight_used double precision, out vector_weight_used double precision, out rrf_k_used integer,
  out candidates_used integer)
language plpgsql
stable
security invoker
as $$
begin
  bm25_weight_used := coalesce(bm25_weight, 1);
  vector_weight_used := coalesce(vector_weight, 1);
  if bm25_weight_used < 0 or bm25_weight_used = 'NaN' or bm25_weight_used > 1000 then
    raise exception 'bm25_weight must be between 0 and 1000 (got %)', bm25_weight_used using errcode = '22023';
  end if;
  if vector_weight_used < 0 or vector_weight_used = 'NaN' or vector_weight_used > 1000 then
    raise exception 'vector_weight must be between 0 and 1000 (got %)', vector_weight_used using errcode = '22023';
  end if;
  if bm25_weight_used = 0 and vector_weight_used = 0 then
    raise exception 'bm25_weight and vector_weight cannot both be 0' using errcode = '22023';
  end if;
  rrf_k_used := coalesce(rrf_k, (private.setting('retrieval', 'rrf_k', '60') #>> '{}')::integer);
  if rrf_k_used not between 1 and 1000 then
    raise exception 'rrf_k must be between 1 and 1000 (got %)', rrf_k_used using errcode = '22023';
  end if;
  candidates_used := coalesce(candidates,
    least(10000, greatest(2 * match_count, (private.setting('retrieval', 'hybrid_candidates', '20') #>> '{}')::integer)));
  if candidates_used < match_count or candidates_used > 10000 then
    raise exception 'candidates must be between match_count (%) and 10000 (got %)', match_count, candidates_used
      using errcode = '22023';
  end if;
end
$$;
revoke all on function private.hybrid_params(double precision, double precision, integer, integer, integer) from public, anon;
grant execute on function private.hybrid_params(double precision, double precision, integer, integer, integer) to authenticated, service_role;

-- hybrid_search(query_text, query_embedding, match_count, source, filter, thread_id, agent_id, roles,
--     document_ids, created_after, created_before, bm25_weight, vector_weight, rrf_k, candidates, model)
--     → setof search_hit
--   BM25 + vector search fused by weighted RRF (see the header) over `source` ('document_chunks' by default,
--   or 'messages'), best first, at most match_count (1..1000). Each row says how each channel ranked and
--   scored it (null when that channel did not return it). query_embedding must have the size of `model`
--   (default: the default model); null runs the BM25 channel alone. Filters and errors as in bm25_search,
--   plus the fusion parameters' (private.hybrid_params) and the vector size error (22000).
--   Callers: authenticated, service_role.
create or replace function public.hybrid_search(
  query_text text,
  query_embedding extensions.vector default null,
  match_count integer default 10,
  source text default 'document_chunks',
  filter jsonb default '{}',
  thread_id uuid default null,
  agent_id text default null,
  roles public.message_role[] default null,
  document_ids uuid[] default null,
  created_after timestamptz default null,
  created_before timestamptz default null,
  bm25_weight double precision default null,
  vector_weight double precision default null,
  rrf_k integer default null,
  candidates integer default null,
  model text default null
)
returns setof public.search_hit
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  filters jsonb := private.search_filters(hybrid_search.thread_id, hybrid_search.agent_id, hybrid_search.roles,
    hybrid_search.document_ids, hybrid_search.filter, hybrid_search.created_after, hybrid_search.created_before);
  p record;
begin
  perform private.search_filter_sql(hybrid_search.source, filters);
  perform private.require_query_text(hybrid_search.query_text);
  perform private.require_limit(hybrid_search.match_count, 'match_count');
  select * into p from private.hybrid_params(hybrid_search.bm25_weight, hybrid_search.vector_weight, hybrid_search.rrf_k,
                                             hybrid_search.candidates, hybrid_search.match_count);
  if hybrid_search.query_embedding is null and p.bm25_weight_used = 0 then
    raise exception 'nothing to search: bm25_weight is 0 and no query_embedding was given' using errcode = '22023',
      hint = 'Pass query_embedding for the vector channel, or a bm25_weight above 0.';
  end if;
  return query
    with ranked as materialized (
      select * from private.hybrid_rank(hybrid_search.source, hybrid_search.query_text, hybrid_search.query_embedding,
                                        hybrid_search.match_count, filters, p.bm25_weight_used, p.vector_weight_used,
                                        p.rrf_k_used, p.candidates_used, hybrid_search.model))
    select r.id, r.rank, r.score, r.bm25_rank, r.bm25_score, r.vector_rank, r.vector_score, r.matched, s.content, s.metadata,
           s.thread_id, s.role, s.document_id, s.heading_path, s.parent_id, s.created_at
      from ranked r
      join private.search_rows(hybrid_search.source, array(select x.id from ranked x order by x.rank)) s on s.id = r.id
     order by r.rank;
end
$$;
comment on function public.hybrid_search(text, extensions.vector, integer, text, jsonb, uuid, text, public.message_role[], uuid[], timestamptz, timestamptz, double precision, double precision, integer, integer, text) is
  'BM25 + vector search fused by weighted reciprocal rank fusion; every row carries both channels'' ranks and scores.';
revoke all on function public.hybrid_search(text, extensions.vector, integer, text, jsonb, uuid, text, public.message_role[], uuid[], timestamptz, timestamptz, double precision, double precision, integer, integer, text) from public, anon;
grant execute on function public.hybrid_search(text, extensions.vector, integer, text, jsonb, uuid, text, public.message_role[], uuid[], timestamptz, timestamptz, double precision, double precision, integer, integer, text) to authenticated, service_role;
