-- Vector search: match_memories (messages) and match_documents (document chunks; also LangChain's
-- SupabaseVectorStore entry point), both through the HNSW index of the embedding model.
--
-- Each model has its own partial expression index on public.embeddings (see embedding storage). A query
-- reaches it only when it orders by exactly that expression and filters by exactly that model, so the
-- ranking SQL is built per call with the model's name, storage and dims as literals (a generic plan
-- with `model = $1` could not use any of the partial indexes).
--
-- Filters (thread, agent, role, metadata, time range, documents) and row level security are checked on
-- rows as the index yields them. pgvector 0.8's iterative index scan (hnsw.iterative_scan =
-- relaxed_order, set for the function only) keeps the HNSW scan going until enough rows pass, so a
-- selective filter does not starve the result (it would otherwise return at most ef_search rows, most
-- of them filtered out); rows come back roughly ordered and are re-sorted by distance — outside a
-- materialized CTE and by `distance + 0`, because the planner (Postgres 17+ also through a CTE) would
-- otherwise trust the index's order and skip the re-sort (pgvector's documented pattern). hnsw.ef_search
-- is raised to match_count for the call (at most 1,000, its maximum; the iterative scan goes on beyond). Scaling: the work grows with how many rows the scan must visit to
-- find match_count that pass — about match_count / selectivity — up to hnsw.max_scan_tuples (20,000 by
-- default); a filter rarer than that returns fewer rows, and an exact scan (the planner's choice when a
-- filter's index is far more selective) returns exact results.

-- private.vector_rank(source text, query_embedding vector, match_count integer, filters jsonb, model text)
--     → table (id uuid, similarity double precision, rank integer)
--   The `match_count` rows of `source` nearest to `query_embedding` (cosine) among those with an embedding
--   in `model` (null: the default model) that pass `filters` (see private.search_filter_sql), nearest
--   first. Security invoker: row level security applies (ordering by the HNSW index is unaffected by it). similarity = 1 − cosine distance. Errors: 22000 a query
--   vector whose size is not the model's, naming both; 22023 unknown model or source; 22004 null vector.
create or replace function private.vector_rank(
  source text,
  query_embedding extensions.vector,
  match_count integer,
  filters jsonb default '{}',
  model text default null
)
returns table (id uuid, similarity double precision, rank integer)
language plpgsql
stable
security invoker
set search_path = ''
set hnsw.iterative_scan = 'relaxed_order'
set hnsw.ef_search = 40
as $$
declare
  m public.embedding_models;
  rel regclass;
begin
  if vector_rank.model is null then
    select * into m from public.embedding_models em where em.is_default;
    if not found then
      raise exception 'no default embedding model is registered' using errcode = '22023';
    end if;
  else
    m := private.require_embedding_model(vector_rank.model);
  end if;
  perform private.check_query_embedding(m.name, vector_rank.query_embedding);
  rel := case vector_rank.source when 'messages' then 'public.messages'::regclass
                                 when 'document_chunks' then 'public.document_chunks'::regclass end;
  if rel is null then
    raise exception 'source must be messages or document_chunks (got %)', coalesce(vector_rank.source, 'null') using errcode = '22023';
  end if;
  -- Local to this function (its SET clause restores the previous value on return); 1000 is pgvector's
  -- maximum (hybrid search may ask for up to 10,000 candidates).
  perform set_config('hnsw.ef_search', least(greatest(vector_rank.match_count, 40), 1000)::text, true);
  return query execute format($q$
    with relaxed as materialized (
        select e.source_id as id,
               (e.embedding::extensions.%1$s(%2$s) operator(extensions.<=>) $1::extensions.%1$s(%2$s))::double precision as distance
          from public.embeddings e
          join %3$s c on c.id = e.source_id
         where e.model = %4$L and e.source_table = %5$L and (%6$s)
         order by e.embedding::extensions.%1$s(%2$s) operator(extensions.<=>) $1::extensions.%1$s(%2$s)
         limit $2)
    select x.id, 1 - x.distance, (row_number() over (order by x.distance + 0, x.id))::integer
      from relaxed x
     order by x.distance + 0, x.id$q$,
    m.storage, m.dims, rel, m.name, vector_rank.source, private.search_filter_sql(vector_rank.source, vector_rank.filters))
    using vector_rank.query_embedding, vector_rank.match_count;
end
$$;
revoke all on function private.vector_rank(text, extensions.vector, integer, jsonb, text) from public, anon;
grant execute on function private.vector_rank(text, extensions.vector, integer, jsonb, text) to authenticated, service_role;

-- A message found by vector search, with its cosine similarity to the query and its rank.
create type public.memory_match as (
  id uuid,
  thread_id uuid,
  role public.message_role,
  content text,
  metadata jsonb,
  created_at timestamptz,
  similarity double precision,
  rank integer
);
comment on type public.memory_match is 'match_memories result: a message, its cosine similarity to the query and its rank.';

-- match_memories(query_embedding, match_count, thread_id, agent_id, roles, filter, created_after,
--     created_before, model) → setof memory_match
--   The caller's messages nearest to query_embedding (cosine similarity, best first), at most match_count
--   (1..1000, default 10), optionally only of one thread, of the threads of one agent, of some roles, whose
--   metadata contains `filter`, or created in [created_after, created_before). model: the embedding model to
--   search (default: the default model); query_embedding must have its size.
--   Errors: 22000 wrong vector size (naming both sizes); 22004 null vector; 22023 match_count out of range,
--   unknown model, filter not an object, created_after > created_before. Callers: authenticated, service_role.
create or replace function public.match_memories(
  query_embedding extensions.vector,
  match_count integer default 10,
  thread_id uuid default null,
  agent_id text default null,
  roles public.message_role[] default null,
  filter jsonb default '{}',
  created_after timestamptz default null,
  created_before timestamptz default null,
  model text default null
)
returns setof public.memory_match
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
  perform private.require_limit(match_memories.match_count, 'match_count');
  return query
    select m.id, m.thread_id, m.role, m.content, m.metadata, m.created_at, v.similarity, v.rank
      from private.vector_rank('messages', match_memories.query_embedding, match_memories.match_count,
             private.search_filters(match_memories.thread_id, match_memories.agent_id, match_memories.roles,
                                    null, match_memories.filter, match_memories.created_after, match_memories.created_before),
             match_memories.model) v
      join public.messages m on m.id = v.id
     order by v.rank;
end
$$;
comment on function public.match_memories(extensions.vector, integer, uuid, text, public.message_role[], jsonb, timestamptz, timestamptz, text) is
  'Vector search over the caller''s messages through the model''s HNSW index, with thread/agent/role/metadata/time filters.';

-- match_documents(query_embedding, match_count, filter, document_ids, created_after, created_before, model)
--     → table (id, content, metadata, embedding, similarity, rank, document_id, heading_path, parent_id, created_at)
--   The caller's document chunks nearest to query_embedding, best first. The first three arguments are
--   LangChain's (SupabaseVectorStore, SupabaseHybridSearch): `filter` is metadata containment against the
--   document's metadata merged with the chunk's; `metadata` in the result is that merged object and
--   `embedding` the stored vector as a JSON array (for LangChain's maximal-marginal-relevance search).
--   Other arguments as in match_memories. Callers: authenticated, service_role.
create or replace function public.match_documents(
  query_embedding extensions.vector,
  match_count integer default 10,
  filter jsonb default '{}',
  document_ids uuid[] default null,
  created_after timestamptz default null,
  created_before timestamptz default null,
  model text default null
)
returns table (
  id uuid,
  content text,
  metadata jsonb,
  embedding jsonb,
  similarity double precision,
  rank integer,
  document_id uuid,
  heading_path text[],
  parent_id uuid,
  created_at timestamptz
)
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  used_model text := coalesce(match_documents.model, (select em.name from public.embedding_models em where em.is_default));
begin
  perform private.require_limit(match_documents.match_count, 'match_count');
  return query
    with ranked as materialized (
      select * from private.vector_rank('document_chunks', match_documents.query_embedding, match_documents.match_count,
             private.search_filters(null, null, null, match_documents.document_ids, match_documents.filter,
                                    match_documents.created_after, match_documents.created_before),
             match_documents.model))
    select r.id, s.content, s.metadata, (e.embedding::text)::jsonb, r.similarity, r.rank, s.document_id, s.heading_path,
           s.parent_id, s.created_at
      from ranked r
      join private.search_rows('document_chunks', array(select x.id from ranked x order by x.rank)) s on s.id = r.id
      left join public.embeddings e on e.source_table = 'document_chunks' and e.source_id = r.id and e.model = used_model
     order by r.rank;
end
$$;
comment on function public.match_documents(extensions.vector, integer, jsonb, uuid[], timestamptz, timestamptz, text) is
  'Vector search over the caller''s document chunks (LangChain-compatible: query_embedding, match_count, filter).';

revoke all on function public.match_memories(extensions.vector, integer, uuid, text, public.message_role[], jsonb, timestamptz, timestamptz, text) from public, anon;
revoke all on function public.match_documents(extensions.vector, integer, jsonb, uuid[], timestamptz, timestamptz, text) from public, anon;
grant execute on function public.match_memories(extensions.vector, integer, uuid, text, public.message_role[], jsonb, timestamptz, timestamptz, text) to authenticated, service_role;
grant execute on function public.match_documents(extensions.vector, integer, jsonb, uuid[], timestamptz, timestamptz, text) to authenticated, service_role;
