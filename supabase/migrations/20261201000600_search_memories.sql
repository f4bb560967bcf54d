-- search_memories: the SDK's semanticSearchMemory — search a user's conversations and get each hit with
-- the messages around it (like Mastra's messageRange), so an agent sees the exchange a memory came from.
--
-- Scope: one thread, the caller's threads of one agent, or all of the caller's threads. Mode: vector
-- (needs query_embedding), bm25, or hybrid (weighted RRF of both; without query_embedding, BM25 alone).
-- Neighbours are read through the (thread_id, created_at, id) index: `before` + `after` index range
-- scans per hit, so their cost does not grow with the thread.

-- private.message_neighbours(message_id uuid, before integer, after integer)
--     → (before memory_message[], after memory_message[])
--   Up to `before` messages preceding and `after` messages following the message in its thread, each list
--   in chronological order. Empty lists for a message the caller cannot see.
create or replace function private.message_neighbours(message_id uuid, before integer, after integer,
  out before_messages public.memory_message[], out after_messages public.memory_message[])
language plpgsql
stable
security invoker
set search_path = ''
-- Index range scans regardless of statistics (see the header of 20261121001300_messages.sql).
set enable_sort = off
set enable_bitmapscan = off
as $$
declare
  hit public.messages;
begin
  select * into hit from public.messages m where m.id = message_neighbours.message_id;
  if not found or (message_neighbours.before = 0 and message_neighbours.after = 0) then
    before_messages := '{}';
    after_messages := '{}';
    return;
  end if;
  select coalesce(array_agg(private.to_memory_message(x) order by x.created_at, x.id), '{}') into before_messages
    from (select * from public.messages p
           where p.thread_id = hit.thread_id and (p.created_at, p.id) < (hit.created_at, hit.id)
           order by p.created_at desc, p.id desc
           limit message_neighbours.before) x;
  select coalesce(array_agg(private.to_memory_message(x) order by x.created_at, x.id), '{}') into after_messages
    from (select * from public.messages n
           where n.thread_id = hit.thread_id and (n.created_at, n.id) > (hit.created_at, hit.id)
           order by n.created_at, n.id
           limit message_neighbours.after) x;
end
$$;
revoke all on function private.message_neighbours(uuid, integer, integer) from public, anon;
grant execute on function private.message_neighbours(uuid, integer, integer) to authenticated, service_role;

-- private.memory_search_scope(scope text, thread_id uuid, agent_id text) → (thread_id uuid, agent_id text)
--   The thread/agent filters a scope stands for: 'thread' needs thread_id (PT404 when the caller cannot see
--   it); 'agent' takes agent_id, or the agent of thread_id (22023 when neither gives one); 'all' ignores
--   both. Unknown scope → 22023.
create or replace function private.memory_search_scope(scope text, thread_id uuid, agent_id text,
  out scope_thread_id uuid, out scope_agent_id text)
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  thread public.memory_threads;
begin
  if scope is null or scope not in ('thread', 'agent', 'all') then
    raise exception 'scope must be thread, agent or all (got %)', coalesce(scope, 'null') using errcode = '22023';
  end if;
  if thread_id is not null then
    select * into thread from public.memory_threads t where t.id = memory_search_scope.thread_id;
    if not found then
      raise exception 'thread % not found', thread_id using errcode = 'PT404';
    end if;
  end if;
  if scope = 'thread' then
    if thread_id is null then
      raise exception 'thread_id is required for scope thread' using errcode = '22023';
    end if;
    scope_thread_id := thread_id;
  elsif scope = 'agent' then
    scope_agent_id := coalesce(agent_id, thread.agent_id);
    if scope_agent_id is null then
      raise exception 'scope agent needs agent_id, or a thread_id whose thread has an agent' using errcode = '22023';
    end if;
  end if;
end
$$;
revoke all on function private.memory_search_scope(text, uuid, text) from public, anon;
grant execute on function private.memory_search_scope(text, uuid, text) to authenticated, service_role;

-- A message found by search_memories: the message (with its keyset cursor), its rank and score, each
-- channel's rank and score, the query lexemes it contains, and the messages around it in its thread.
create type public.memory_hit as (
  id uuid,
  thread_id uuid,
  role public.message_role,
  content text,
  metadata jsonb,
  created_at timestamptz,
  cursor text,
  rank integer,
  score double precision,
  bm25_rank integer,
  bm25_score double precision,
  vector_rank integer,
  vector_score double precision,
  matched text[],
  before public.memory_message[],
  after public.memory_message[]
);
comment on type public.memory_hit is
  'search_memories result: the message, rank and scores per channel, matched lexemes, and before/after neighbouring messages.';

-- search_memories(query_text, query_embedding, mode, scope, thread_id, agent_id, match_count, before, after,
--     roles, filter, created_after, created_before, bm25_weight, vector_weight, rrf_k, candidates, model)
--     → setof memory_hit
--   Searches the caller's messages and returns each hit with `before` / `after` (0..20 each, default 1)
--   neighbouring messages of its thread, chronological. mode: 'hybrid' (default), 'bm25' or 'vector'
--   (query_embedding required); scope: 'thread' (default; thread_id required), 'agent' (agent_id, or the
--   agent of thread_id) or 'all'. match_count 1..1000 (default 10). Other filters and fusion parameters as
--   in hybrid_search. For mode bm25 `score` is the BM25 score, for vector the cosine similarity, for hybrid
--   the fused score.
--   Errors (22023 unless noted, naming the argument): query_text empty, unknown mode or scope, mode vector
--   without query_embedding, thread_id missing for scope thread, before/after outside 0..20, and those of
--   hybrid_search; PT404 thread not found (unknown or another user's).
--   Callers: authenticated, service_role.
create or replace function public.search_memories(
  query_text text,
  query_embedding extensions.vector default null,
  mode text default 'hybrid',
  scope text default 'thread',
  thread_id uuid default null,
  agent_id text default null,
  match_count integer default 10,
  before integer default 1,
  after integer default 1,
  roles public.message_role[] default null,
  filter jsonb default '{}',
  created_after timestamptz default null,
  created_before timestamptz default null,
  bm25_weight double precision default null,
  vector_weight double precision default null,
  rrf_k integer default null,
  candidates integer default null,
  model text default null
)
returns setof public.memory_hit
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  s record;
  p record;
  filters jsonb;
begin
  perform private.require_query_text(search_memories.query_text);
  perform private.require_limit(search_memories.match_count, 'match_count');
  if search_memories.mode is null or search_memories.mode not in ('hybrid', 'bm25', 'vector') then
    raise exception 'mode must be hybrid, bm25 or vector (got %)', coalesce(search_memories.mode, 'null') using errcode = '22023';
  end if;
  if search_memories.mode = 'vector' and search_memories.query_embedding is null then
    raise exception 'mode vector needs query_embedding' using errcode = '22023',
      hint = 'Embed the query with the default embedding model, or use mode bm25.';
  end if;
  if search_memories.before is null or search_memories.before not between 0 and 20 then
    raise exception 'before must be between 0 and 20 (got %)', coalesce(search_memories.before::text, 'null') using errcode = '22023';
  end if;
  if search_memories.after is null or search_memories.after not between 0 and 20 then
    raise exception 'after must be between 0 and 20 (got %)', coalesce(search_memories.after::text, 'null') using errcode = '22023';
  end if;
  select * into s from private.memory_search_scope(search_memories.scope, search_memories.thread_id, search_memories.agent_id);
  filters := private.search_filters(s.scope_thread_id, s.scope_agent_id, search_memories.roles, null,
    search_memories.filter, search_memories.created_after, search_memories.created_before);
  perform private.search_filter_sql('messages', filters);
  select * into p from private.hybrid_params(
    case search_memories.mode when 'vector' then 0 else search_memories.bm25_weight end,
    case search_memories.mode when 'bm25' then 0 else search_memories.vector_weight end,
    search_memories.rrf_k, search_memories.candidates, search_memories.match_count);

  return query
    with ranked as materialized (
      select h.id, h.rank, h.score, h.bm25_rank, h.bm25_score, h.vector_rank, h.vector_score, h.matched
        from private.hybrid_rank('messages', search_memories.query_text, search_memories.query_embedding,
                                 search_memories.match_count, filters, p.bm25_weight_used, p.vector_weight_used,
                                 p.rrf_k_used, p.candidates_used, search_memories.model) h
       where search_memories.mode = 'hybrid'
      union all
      select b.id, b.rank, b.score, b.rank, b.score, null, null, b.matched
        from private.bm25_rank('messages', search_memories.query_text, search_memories.match_count, filters) b
       where search_memories.mode = 'bm25'
      union all
      select v.id, v.rank, v.similarity, null, null, v.rank, v.similarity, '{}'::text[]
        from private.vector_rank('messages', search_memories.query_embedding, search_memories.match_count, filters,
                                 search_memories.model) v
       where search_memories.mode = 'vector')
    select m.id, m.thread_id, m.role, m.content, m.metadata, m.created_at, private.encode_cursor('m', m.created_at, m.id),
           r.rank, r.score, r.bm25_rank, r.bm25_score, r.vector_rank, r.vector_score, r.matched, n.before_messages,
           n.after_messages
      from ranked r
      join public.messages m on m.id = r.id
      cross join lateral private.message_neighbours(m.id, search_memories.before, search_memories.after) n
     order by r.rank;
end
$$;
comment on function public.search_memories(text, extensions.vector, text, text, uuid, text, integer, integer, integer, public.message_role[], jsonb, timestamptz, timestamptz, double precision, double precision, integer, integer, text) is
  'Searches the caller''s messages (thread, agent or all; hybrid, bm25 or vector) and returns each hit with its neighbouring messages.';
revoke all on function public.search_memories(text, extensions.vector, text, text, uuid, text, integer, integer, integer, public.message_role[], jsonb, timestamptz, timestamptz, double precision, double precision, integer, integer, text) from public, anon;
grant execute on function public.search_memories(text, extensions.vector, text, text, uuid, text, integer, integer, integer, public.message_role[], jsonb, timestamptz, timestamptz, double precision, double precision, integer, integer, text) to authenticated, service_role;
