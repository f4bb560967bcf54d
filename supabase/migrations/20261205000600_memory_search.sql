-- Long-term memories as a third search source, 'memories', next to 'messages' and 'document_chunks': BM25
-- (the table is a registered BM25 source), vector search (an embedding source) and hybrid search take it,
-- with filters of their own:
--   agent_id          that agent's memories and those shared by all agents (agent_id null)
--   kinds             some of fact, preference, event
--   include_invalid   also superseded and forgotten memories (default: only valid ones)
--   valid_at          the memories that held at that time (valid_from ≤ t < invalid_at), superseded or not
--   owner_id          one owner's (for service_role and the extraction job, which see every owner)
-- and metadata / created_after / created_before as the other sources.
--
-- This migration re-creates, with 'memories' added and otherwise unchanged, what the retrieval migrations
-- defined: private.search_filter_sql (20261201000250), private.vector_rank (20261201000400),
-- private.search_rows and the search_row / search_hit types, which gain the memory's kind, agent_id,
-- valid_from and invalid_at (null for other sources), and bm25_search / hybrid_search, which gain the
-- kinds, include_invalid and valid_at arguments (so they are dropped and created again: adding arguments
-- with `create or replace` would make a second overload, which PostgREST cannot choose between).

-- private.search_filter_sql(source text, filters jsonb) → text
--   As in 20261201000250_search_filters.sql, plus source 'memories' and its filters (see the header). For
--   source memories the condition always includes validity: valid (invalid_at null)
--   unless include_invalid is true or valid_at names another time.
create or replace function private.search_filter_sql(source text, filters jsonb)
returns text
language plpgsql
immutable
security invoker
as $$
declare
  f jsonb := coalesce(filters, '{}');
  parts text[] := '{}';
  unknown text[];
  r jsonb;
begin
  if source is null or source not in ('messages', 'document_chunks', 'memories') then
    raise exception 'source must be messages, document_chunks or memories (got %)', coalesce(source, 'null') using errcode = '22023';
  end if;
  if jsonb_typeof(f) <> 'object' then
    raise exception 'filters must be a JSON object' using errcode = '22023';
  end if;
  select array_agg(k order by k) into unknown from jsonb_object_keys(f) k
   where k not in ('thread_id', 'agent_id', 'roles', 'document_ids', 'metadata', 'created_after', 'created_before', 'recall',
                   'kinds', 'include_invalid', 'valid_at', 'owner_id');
  if unknown is not null then
    raise exception 'unknown filter(s): %', array_to_string(unknown, ', ') using errcode = '22023';
  end if;
  if source = 'document_chunks' and (f ? 'thread_id' or f ? 'agent_id' or f ? 'roles' or f ? 'recall') then
    raise exception 'thread_id, agent_id and roles filter source messages, not %', source using errcode = '22023';
  end if;
  if source = 'memories' and (f ? 'thread_id' or f ? 'roles' or f ? 'recall') then
    raise exception 'thread_id and roles filter source messages, not memories (agent_id applies to both)' using errcode = '22023';
  end if;
  if source <> 'document_chunks' and f ? 'document_ids' then
    raise exception 'document_ids filters source document_chunks, not %', source using errcode = '22023';
  end if;
  if source <> 'memories' and (f ? 'kinds' or f ? 'include_invalid' or f ? 'valid_at' or f ? 'owner_id') then
    raise exception 'kinds, include_invalid, valid_at and owner_id filter source memories, not %', source using errcode = '22023';
  end if;
  if f ? 'metadata' and jsonb_typeof(f -> 'metadata') <> 'object' then
    raise exception 'filter must be a JSON object of metadata to match (got %)', jsonb_typeof(f -> 'metadata') using errcode = '22023',
      hint = 'Rows match when their metadata contains it (jsonb @>), e.g. {"topic": "billing"}.';
  end if;
  if (f ->> 'created_after')::timestamptz > (f ->> 'created_before')::timestamptz then
    raise exception 'created_after (%) is later than created_before (%)', f ->> 'created_after', f ->> 'created_before'
      using errcode = '22023';
  end if;
  if f ? 'kinds' and (jsonb_typeof(f -> 'kinds') <> 'array' or jsonb_array_length(f -> 'kinds') = 0
      or exists (select from jsonb_array_elements(f -> 'kinds') x
                  where jsonb_typeof(x) <> 'string' or x #>> '{}' not in ('fact', 'preference', 'event'))) then
    raise exception 'kinds must be a non-empty list of fact, preference, event (got %)', f -> 'kinds' using errcode = '22023';
  end if;
  if f ? 'include_invalid' and jsonb_typeof(f -> 'include_invalid') <> 'boolean' then
    raise exception 'include_invalid must be true or false (got %)', f -> 'include_invalid' using errcode = '22023';
  end if;
  if f ? 'thread_id' then
    parts := parts || format('c.thread_id = %L::uuid', (f ->> 'thread_id')::uuid);
  end if;
  if f ? 'agent_id' then
    parts := parts || case source
      when 'memories' then format('(c.agent_id = %L or c.agent_id is null)', f ->> 'agent_id')
      else format('c.thread_id in (select t.id from public.memory_threads t where t.agent_id = %L)', f ->> 'agent_id') end;
  end if;
  if f ? 'roles' then
    parts := parts || format('c.role = any (%L::public.message_role[])',
                             array(select jsonb_array_elements_text(f -> 'roles'))::public.message_role[]);
  end if;
  if f ? 'document_ids' then
    parts := parts || format('c.document_id = any (%L::uuid[])', array(select jsonb_array_elements_text(f -> 'document_ids'))::uuid[]);
  end if;
  if f ? 'metadata' and f -> 'metadata' <> '{}' then
    parts := parts || case source
      when 'document_chunks' then
        format('(coalesce((select d.metadata from public.documents d where d.id = c.document_id), %L) || c.metadata) @> %L::jsonb',
               '{}', f -> 'metadata')
      else format('c.metadata @> %L::jsonb', f -> 'metadata') end;
  end if;
  if f ? 'created_after' then
    parts := parts || format('c.created_at >= %L::timestamptz', (f ->> 'created_after')::timestamptz);
  end if;
  if f ? 'created_before' then
    parts := parts || format('c.created_at < %L::timestamptz', (f ->> 'created_before')::timestamptz);
  end if;
  if f ? 'recall' then
    r := f -> 'recall';
    parts := parts || format('((c.thread_id = %1$L::uuid and (c.created_at, c.id) < (%2$L::timestamptz, %3$L::uuid))%4$s)',
      (r ->> 'thread_id')::uuid, (r -> 'before' ->> 0)::timestamptz, (r -> 'before' ->> 1)::uuid,
      case when r ->> 'agent_id' is not null
           then format(' or (c.thread_id <> %L::uuid and c.thread_id in (select t.id from public.memory_threads t where t.agent_id = %L))',
                       (r ->> 'thread_id')::uuid, r ->> 'agent_id')
           else '' end);
    parts := parts || format('c.role <> %L', 'system');
    if not coalesce((r ->> 'include_tools')::boolean, true) then
      parts := parts || format('c.role <> %L and c.tool_call_id is null and c.tool_name is null', 'tool');
    end if;
  end if;
  if source = 'memories' then
    if f ? 'kinds' then
      parts := parts || format('c.kind = any (%L::public.memory_kind[])',
                               array(select jsonb_array_elements_text(f -> 'kinds'))::public.memory_kind[]);
    end if;
    if f ? 'owner_id' then
      parts := parts || format('c.owner_id = %L::uuid', (f ->> 'owner_id')::uuid);
    end if;
    if f ? 'valid_at' then
      parts := parts || format('(c.valid_from <= %1$L::timestamptz and (c.invalid_at is null or c.invalid_at > %1$L::timestamptz))',
                               (f ->> 'valid_at')::timestamptz);
    elsif not coalesce((f ->> 'include_invalid')::boolean, false) then
      parts := parts || 'c.invalid_at is null'::text;
    end if;
  end if;
  return coalesce(nullif(array_to_string(parts, ' and '), ''), 'true');
end
$$;

-- private.vector_rank(source, query_embedding, match_count, filters, model) → table (id, similarity, rank)
--   As in 20261201000400_vector_search.sql, with source 'memories' (public.memories).
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
                                 when 'document_chunks' then 'public.document_chunks'::regclass
                                 when 'memories' then 'public.memories'::regclass end;
  if rel is null then
    raise exception 'source must be messages, document_chunks or memories (got %)', coalesce(vector_rank.source, 'null')
      using errcode = '22023';
  end if;
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

-- The row and hit types gain the memory's fields (null for messages and chunks).
alter type public.search_row
  add attribute kind public.memory_kind,
  add attribute agent_id text,
  add attribute valid_from timestamptz,
  add attribute invalid_at timestamptz;
alter type public.search_hit
  add attribute kind public.memory_kind,
  add attribute agent_id text,
  add attribute valid_from timestamptz,
  add attribute invalid_at timestamptz;
comment on type public.search_row is
  'A searched row: a message, a document chunk or a long-term memory, with what identifies where it comes from.';
comment on type public.search_hit is
  'A search result: rank and score, each channel''s rank and score (BM25, vector), matched lexemes, and the row (message, chunk or memory).';

-- private.search_rows(source text, ids uuid[]) → setof search_row
--   The rows of `source` with these ids that the caller can see, in the order of `ids`.
create or replace function private.search_rows(source text, ids uuid[])
returns setof public.search_row
language sql
stable
security invoker
set search_path = ''
as $$
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
   order by u.ord
$$;

-- private.memory_filters(kinds text[], include_invalid boolean, valid_at timestamptz) → jsonb
--   The memory-only filters of a public search function as JSON (null and false arguments left out).
create or replace function private.memory_filters(kinds text[], include_invalid boolean, valid_at timestamptz)
returns jsonb
language sql
immutable
security invoker
as $$
  select jsonb_strip_nulls(jsonb_build_object('kinds', to_jsonb(kinds),
    'include_invalid', case when include_invalid then true end, 'valid_at', valid_at))
$$;
revoke all on function private.memory_filters(text[], boolean, timestamptz) from public, anon;
grant execute on function private.memory_filters(text[], boolean, timestamptz) to authenticated, service_role;

drop function public.bm25_search(text, integer, text, jsonb, uuid, text, public.message_role[], uuid[], timestamptz, timestamptz, double precision, double precision);

-- bm25_search(query_text, match_count, source, filter, thread_id, agent_id, roles, document_ids,
--     created_after, created_before, k1, b, kinds, include_invalid, valid_at) → setof search_hit
--   As in 20261201000300_bm25.sql, with source 'memories' and its filters: kinds, include_invalid
--   (default false: only valid memories), valid_at; agent_id for memories means that agent's and the
--   shared ones. Callers: authenticated (their own rows), service_role (all rows).
create function public.bm25_search(
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
  b double precision default null,
  kinds text[] default null,
  include_invalid boolean default false,
  valid_at timestamptz default null
)
returns setof public.search_hit
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  filters jsonb := private.search_filters(bm25_search.thread_id, bm25_search.agent_id, bm25_search.roles,
    bm25_search.document_ids, bm25_search.filter, bm25_search.created_after, bm25_search.created_before)
    || private.memory_filters(bm25_search.kinds, bm25_search.include_invalid, bm25_search.valid_at);
begin
  perform private.search_filter_sql(bm25_search.source, filters);
  perform private.require_query_text(bm25_search.query_text);
  perform private.require_limit(bm25_search.match_count, 'match_count');
  return query
    with ranked as materialized (
      select * from private.bm25_rank(bm25_search.source, bm25_search.query_text, bm25_search.match_count, filters,
                                      bm25_search.k1, bm25_search.b))
    select r.id, r.rank, r.score, r.rank, r.score, null::integer, null::double precision, r.matched, s.content, s.metadata,
           s.thread_id, s.role, s.document_id, s.heading_path, s.parent_id, s.created_at, s.kind, s.agent_id, s.valid_from,
           s.invalid_at
      from ranked r
      join private.search_rows(bm25_search.source, array(select x.id from ranked x order by x.rank)) s on s.id = r.id
     order by r.rank;
end
$$;
comment on function public.bm25_search(text, integer, text, jsonb, uuid, text, public.message_role[], uuid[], timestamptz, timestamptz, double precision, double precision, text[], boolean, timestamptz) is
  'Okapi BM25 keyword search over the caller''s document chunks, messages or long-term memories, with filters; statistics are kept exact incrementally.';
revoke all on function public.bm25_search(text, integer, text, jsonb, uuid, text, public.message_role[], uuid[], timestamptz, timestamptz, double precision, double precision, text[], boolean, timestamptz) from public, anon;
grant execute on function public.bm25_search(text, integer, text, jsonb, uuid, text, public.message_role[], uuid[], timestamptz, timestamptz, double precision, double precision, text[], boolean, timestamptz) to authenticated, service_role;

drop function public.hybrid_search(text, extensions.vector, integer, text, jsonb, uuid, text, public.message_role[], uuid[], timestamptz, timestamptz, double precision, double precision, integer, integer, text);

-- hybrid_search(query_text, query_embedding, match_count, source, filter, thread_id, agent_id, roles,
--     document_ids, created_after, created_before, bm25_weight, vector_weight, rrf_k, candidates, model,
--     kinds, include_invalid, valid_at) → setof search_hit
--   As in 20261201000500_hybrid_search.sql, with source 'memories' and its filters (as bm25_search).
--   Callers: authenticated, service_role.
create function public.hybrid_search(
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
  model text default null,
  kinds text[] default null,
  include_invalid boolean default false,
  valid_at timestamptz default null
)
returns setof public.search_hit
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  filters jsonb := private.search_filters(hybrid_search.thread_id, hybrid_search.agent_id, hybrid_search.roles,
    hybrid_search.document_ids, hybrid_search.filter, hybrid_search.created_after, hybrid_search.created_before)
    || private.memory_filters(hybrid_search.kinds, hybrid_search.include_invalid, hybrid_search.valid_at);
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
           s.thread_id, s.role, s.document_id, s.heading_path, s.parent_id, s.created_at, s.kind, s.agent_id, s.valid_from,
           s.invalid_at
      from ranked r
      join private.search_rows(hybrid_search.source, array(select x.id from ranked x order by x.rank)) s on s.id = r.id
     order by r.rank;
end
$$;
comment on function public.hybrid_search(text, extensions.vector, integer, text, jsonb, uuid, text, public.message_role[], uuid[], timestamptz, timestamptz, double precision, double precision, integer, integer, text, text[], boolean, timestamptz) is
  'BM25 + vector search fused by weighted reciprocal rank fusion over chunks, messages or long-term memories; every row carries both channels'' ranks and scores.';
revoke all on function public.hybrid_search(text, extensions.vector, integer, text, jsonb, uuid, text, public.message_role[], uuid[], timestamptz, timestamptz, double precision, double precision, integer, integer, text, text[], boolean, timestamptz) from public, anon;
grant execute on function public.hybrid_search(text, extensions.vector, integer, text, jsonb, uuid, text, public.message_role[], uuid[], timestamptz, timestamptz, double precision, double precision, integer, integer, text, text[], boolean, timestamptz) to authenticated, service_role;
