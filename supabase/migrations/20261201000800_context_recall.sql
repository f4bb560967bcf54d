-- Recall for build_context: the older messages of a thread (or of the owner's other threads of the same
-- agent) that match the query, each with its neighbouring messages, chosen within a token allowance.
-- build_context (20261121001900_build_context.sql) calls private.context_recall once, when its recent
-- window reaches the part of the budget it keeps for recall, so the whole context is still one call.
--
-- Search: private.hybrid_rank over messages (BM25 and, when there is a query vector, the HNSW index),
-- restricted to messages older than the recent window (in this thread) or in the agent's other threads,
-- never system messages (build_context always includes them) and, when build_context leaves tool
-- messages out, never tool messages. Hits come in rank order; a hit whose messages (with neighbours) do
-- not fit in what is left of the allowance is skipped for the next one. Each recalled item says why it was
-- recalled (its rank in each channel and the query words it matched).

insert into public.settings (category, key, value, description) values
  ('context', 'recall_budget_share', '0.25', 'Share of build_context''s token budget kept for recalled messages (0..1).')
on conflict (category, key) do nothing;

-- private.context_recall(thread, query_text, query_embedding, boundary_created_at, boundary_id, token_limit,
--     per_message, include_tools, exclude_ids, recall) → jsonb
--   recall: {mode, k, scope, before, after} (validated by build_context). Returns
--     {"items": [{"message", "before", "after", "rank", "score", "bm25_rank", "bm25_score", "vector_rank",
--                 "vector_score", "matched", "token_count", "reason"}, …],
--      "ids": [every message id included], "token_count": n, "considered": hits looked at}
--   Messages in exclude_ids (already in the context) and messages of this thread at or after the boundary
--   (the recent window) are never included, also not as neighbours.
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
  near record;
  taken uuid[] := coalesce(exclude_ids, '{}');
  item_messages public.messages[];
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

  for hit in
    select h.* from private.hybrid_rank('messages', query_text, query_embedding, (recall ->> 'k')::integer, filters,
                                        case when mode = 'vector' then 0 else 1 end,
                                        case when mode = 'bm25' then 0 else 1 end,
                                        (private.setting('retrieval', 'rrf_k', '60') #>> '{}')::integer,
                                        greatest(2 * (recall ->> 'k')::integer,
                                                 (private.setting('retrieval', 'hybrid_candidates', '20') #>> '{}')::integer)) h
     order by h.rank
  loop
    considered := considered + 1;
    continue when hit.id = any (taken);
    select * into near from private.message_neighbours(hit.id, (recall ->> 'before')::integer, (recall ->> 'after')::integer);
    -- The hit and those neighbours not already in the context (or in this thread's recent window).
    select array_agg(m order by m.created_at, m.id), sum(m.token_count + per_message)
      into item_messages, cost
      from public.messages m
     where m.id in (select hit.id union all select (unnest(near.before_messages)).id union all select (unnest(near.after_messages)).id)
       and m.id <> all (taken)
       and (m.thread_id <> thread.id or (m.created_at, m.id) < (boundary_created_at, boundary_id))
       and (m.role <> 'system')
       and (include_tools or (m.role <> 'tool' and m.tool_call_id is null and m.tool_name is null));
    continue when cost is null or used + cost > token_limit;
    used := used + cost;
    taken := taken || array(select (unnest(item_messages)).id);
    select coalesce(jsonb_agg(to_jsonb(private.to_memory_message(m)) order by m.created_at, m.id)
                      filter (where (m.created_at, m.id) < (x.created_at, x.id)), '[]'),
           coalesce(jsonb_agg(to_jsonb(private.to_memory_message(m)) order by m.created_at, m.id)
                      filter (where (m.created_at, m.id) > (x.created_at, x.id)), '[]')
      into before_list, after_list
      from unnest(item_messages) m
      cross join (select p.created_at, p.id from public.messages p where p.id = hit.id) x;
    items := items || jsonb_build_array(jsonb_build_object(
      'message', (select to_jsonb(private.to_memory_message(p)) from public.messages p where p.id = hit.id),
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
        case when (select p.thread_id from public.messages p where p.id = hit.id) <> thread.id then 'from another thread of this agent' end)));
  end loop;
  return jsonb_build_object('items', items, 'ids', to_jsonb(taken[coalesce(cardinality(exclude_ids), 0) + 1:]),
                            'token_count', used, 'considered', considered);
end
$$;
revoke all on function private.context_recall(public.memory_threads, text, extensions.vector, timestamptz, uuid, bigint, integer, boolean, uuid[], jsonb) from public, anon;
grant execute on function private.context_recall(public.memory_threads, text, extensions.vector, timestamptz, uuid, bigint, integer, boolean, uuid[], jsonb)
  to authenticated, service_role;
