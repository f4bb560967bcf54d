-- Neighbours of many hits in one call: search_memories and build_context's recall read the messages
-- around their hits through private.message_neighbours_of (one statement for every hit) instead of one
-- call of private.message_neighbours per hit (three statements, and the function's settings saved and
-- restored, each time). Measured at 100k messages: search_memories spent 9.9 ms of its 34 ms mean in
-- those ten calls. context_recall also takes the hit and its neighbours from that call instead of reading
-- each of them again. Results are unchanged.

-- private.message_neighbours_of(ids uuid[], before integer, after integer)
--     → table (id uuid, message memory_message, before_messages memory_message[], after_messages memory_message[])
--   For each message of `ids` the caller can see (others are left out; order not guaranteed): the message,
--   and up to `before` messages preceding and `after` messages following it in its thread, each list in
--   chronological order. Two index range scans on (thread_id, created_at, id) per message, bounded by
--   before and after, whatever the thread's length (forced as in the messages migration's header).
create or replace function private.message_neighbours_of(ids uuid[], before integer, after integer)
returns table (id uuid, message public.memory_message, before_messages public.memory_message[],
               after_messages public.memory_message[])
language sql
stable
security invoker
set search_path = ''
set enable_sort = off
set enable_bitmapscan = off
as $$
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
   where h.id = any (message_neighbours_of.ids)
$$;
revoke all on function private.message_neighbours_of(uuid[], integer, integer) from public, anon;
grant execute on function private.message_neighbours_of(uuid[], integer, integer) to authenticated, service_role;

-- search_memories (the function behind the rate-limited public wrapper; see the RPC limits migration):
-- as in the search_memories migration, with the neighbours of all hits read in one call.
create or replace function private.search_memories(
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
      join private.message_neighbours_of(array(select x.id from ranked x), search_memories.before, search_memories.after) n
        on n.id = r.id
     order by r.rank;
end
$$;

-- private.context_recall: as in the context recall migration, with the hits' messages and neighbours read
-- in one call.
create or replace function private.context_recall(
  thread public.memory_threads,
  query_text text,
  query_embedding extensions.vector,
  boundary_created_at timestamptz,
  boundary_id uuid,
  token_limit bigint,
  per_message integer,
  include_tools boolean,
  exclude_ids uuid[],
  recall jsonb
)
returns jsonb
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  mode text := recall ->> 'mode';
  filters jsonb;
  hit record;
  taken uuid[] := coalesce(exclude_ids, '{}');
  item_messages public.memory_message[];
  before_list jsonb;
  after_list jsonb;
  cost bigint;
  used bigint := 0;
  items jsonb := '[]';
  considered integer := 0;
begin
  -- This thread: only older than the window; the agent's other threads: everything that is the caller's.
  filters := jsonb_build_object('recall', jsonb_build_object(
    'thread_id', thread.id, 'before', jsonb_build_array(boundary_created_at, boundary_id),
    'agent_id', case when recall ->> 'scope' = 'agent' then thread.agent_id end, 'include_tools', include_tools));

  -- The hits, best first, each with its message and neighbours (one batch lookup for all of them).
  for hit in
    with h as materialized (
      select * from private.hybrid_rank('messages', query_text, query_embedding, (recall ->> 'k')::integer, filters,
                                        case when mode = 'vector' then 0 else 1 end,
                                        case when mode = 'bm25' then 0 else 1 end,
                                        (private.setting('retrieval', 'rrf_k', '60') #>> '{}')::integer,
                                        greatest(2 * (recall ->> 'k')::integer,
                                                 (private.setting('retrieval', 'hybrid_candidates', '20') #>> '{}')::integer)))
    select h.*, n.message, n.before_messages, n.after_messages
      from h
      join private.message_neighbours_of(array(select x.id from h x), (recall ->> 'before')::integer, (recall ->> 'after')::integer) n
        on n.id = h.id
     order by h.rank
  loop
    considered := considered + 1;
    continue when hit.id = any (taken);
    -- The hit and those neighbours not already in the context (or in this thread's recent window).
    select array_agg(m order by m.created_at, m.id), sum(m.token_count + per_message)
      into item_messages, cost
      from unnest(hit.before_messages || hit.message || hit.after_messages) m
     where m.id <> all (taken)
       and (m.thread_id <> thread.id or (m.created_at, m.id) < (boundary_created_at, boundary_id))
       and (m.role <> 'system')
       and (include_tools or (m.role <> 'tool' and m.tool_call_id is null and m.tool_name is null));
    continue when cost is null or used + cost > token_limit;
    used := used + cost;
    taken := taken || array(select (unnest(item_messages)).id);
    select coalesce(jsonb_agg(to_jsonb(m) order by m.created_at, m.id)
                      filter (where (m.created_at, m.id) < ((hit.message).created_at, hit.id)), '[]'),
           coalesce(jsonb_agg(to_jsonb(m) order by m.created_at, m.id)
                      filter (where (m.created_at, m.id) > ((hit.message).created_at, hit.id)), '[]')
      into before_list, after_list
      from unnest(item_messages) m;
    items := items || jsonb_build_array(jsonb_build_object(
      'message', to_jsonb(hit.message),
      'before', before_list,
      'after', after_list,
      'rank', hit.rank,
      'score', hit.score,
      'bm25_rank', hit.bm25_rank,
      'bm25_score', hit.bm25_score,
      'vector_rank', hit.vector_rank,
      'vector_score', hit.vector_score,
      'matched', to_jsonb(hit.matched),
      'token_count', cost,
      'reason', concat_ws('; ',
        case when hit.bm25_rank is not null then format('keyword match #%s (%s)', hit.bm25_rank, array_to_string(hit.matched, ', ')) end,
        case when hit.vector_rank is not null then format('similar meaning #%s (cosine %s)', hit.vector_rank, round(hit.vector_score::numeric, 3)) end,
        case when (hit.message).thread_id <> thread.id then 'from another thread of this agent' end)));
  end loop;
  return jsonb_build_object('items', items, 'ids', to_jsonb(taken[coalesce(cardinality(exclude_ids), 0) + 1:]),
                            'token_count', used, 'considered', considered);
end
$$;
revoke all on function private.context_recall(public.memory_threads, text, extensions.vector, timestamptz, uuid, bigint, integer, boolean, uuid[], jsonb) from public, anon;
grant execute on function private.context_recall(public.memory_threads, text, extensions.vector, timestamptz, uuid, bigint, integer, boolean, uuid[], jsonb)
  to authenticated, service_role;

-- Nothing calls the one-hit form any more.
drop function private.message_neighbours(uuid, integer, integer);
