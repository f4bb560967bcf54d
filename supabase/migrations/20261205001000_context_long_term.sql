-- build_context with working memory and long-term memories (replaces the function of
-- 20261121001900_build_context.sql / 20261201000800_context_recall.sql; everything it did is unchanged).
--
-- memory_context gains two fields:
--   working_memory  the caller's working memory blocks — the user's document (scope resource), then the
--                   thread's (scope thread): [{id, scope, thread_id, format, content (as the prompt shows it:
--                   compact JSON or the Markdown), version, updated_at, token_count}]; on by default
--                   (options.include_working_memory false leaves them out)
--   memories        long-term memories for the query when options.memories asks for them: [{id, kind,
--                   content, agent_id, valid_from, rank, score, bm25_rank, vector_rank, vector_score,
--                   matched, token_count}], best first; only valid memories of the thread's owner, of the
--                   thread's agent and shared ones
-- Priority in the budget (every part still costs its tokens + tokens_per_message, and the total never
-- exceeds token_budget):
--   1. system messages and the newest message (required, as before)
--   2. working memory blocks, each left out (truncated = true) when it does not fit
--   3. the summary (as before)
--   4. memories (when asked): hits of a hybrid search over source 'memories' for options.query, else the
--      newest user message (vector channel: options.query_embedding, or that message's own embedding),
--      best first while they fit in their share: options.memories.max_tokens, default setting
--      memories.context_budget_share (0.1) of the budget
--   5. recall and the recent window, as before, in what is left.
-- Options: include_working_memory (boolean, default true); memories (true, false or {k: 1..50 (5),
-- max_tokens, kinds: [fact | preference | event]}). Errors as before, plus 22023 for these options.

alter type public.memory_context
  add attribute working_memory jsonb,
  add attribute memories jsonb;
comment on type public.memory_context is
  'build_context result: system messages, summary, recalled messages (with why), the newest messages, working memory blocks and long-term memories, within the token budget.';

-- build_context(thread_id, token_budget, options) → memory_context
--   token_budget: positive number of tokens the result may use; null (the default) takes the
--                 context_token_budget of the thread's agent (agents table), else setting
--                 context.default_token_budget (8000).
--   options (JSON object, all optional):
--     include_tool_messages  boolean, default true: false leaves out tool results (role tool) and
--                            assistant tool calls (tool_call_id or tool_name set)
--     include_summary        boolean, default true
--     tokens_per_message     integer >= 0, default setting context.tokens_per_message (4)
--     max_messages           integer 1..10000: at most this many non-system messages
--     query                  string: what to recall (turns recall on); default the newest user message
--     query_embedding        array of numbers: the query embedded with the default embedding model, for
--                            the vector channel (without it: the newest user message's stored embedding
--                            when the query is that message, else BM25 alone)
--     recall                 true, or {mode: hybrid|bm25|vector (hybrid), k: 1..50 hits (5), scope:
--                            thread|agent (thread), before: 0..5, after: 0..5 neighbours (1 each),
--                            max_tokens: ≥ 0 (budget share)} — turns recall on; false turns it off
--     include_working_memory boolean, default true: the working memory blocks (see the header)
--     memories               true, or {k: 1..50 (5), max_tokens: ≥ 0, kinds: [...]}: long-term memories for
--                            the query (see the header); false or absent: none
--   Returns one row: system_messages (all, chronological), summary and summary_through (null when the
--   thread has none or it was left out), recalled (the recalled items, best first: {message, before,
--   after, rank, score, bm25_rank, bm25_score, vector_rank, vector_score, matched, token_count, reason}),
--   messages (the newest that fit, chronological, always including the newest eligible message),
--   token_count (tokens used), tokens_per_message (as applied), truncated (true when an older message or
--   the summary was left out for lack of budget or max_messages), and recall (null when recall is off;
--   else {query, query_source: option|newest_user_message, mode, channels: {bm25, vector}: ran or why it
--   was skipped, scope, token_limit, token_count, considered, included}).
--   Errors: PT404 thread not found; 22023 token_budget not positive or too small for the system messages
--   and newest message, options not an object / unknown option / wrong option type (naming it);
--   22000 query_embedding of the wrong size.
--   Callers: authenticated, service_role.
create or replace function public.build_context(thread_id uuid, token_budget integer default null, options jsonb default '{}')
returns public.memory_context
language plpgsql
stable
security invoker
set search_path = ''
-- Index range scans regardless of statistics (see the header of 20261121001300_messages.sql).
set enable_sort = off
set enable_bitmapscan = off
as $$
declare
  allowed constant text[] := array['include_tool_messages', 'include_summary', 'tokens_per_message', 'max_messages',
                                   'query', 'query_embedding', 'recall', 'include_working_memory', 'memories'];
  memories_allowed constant text[] := array['k', 'max_tokens', 'kinds'];
  recall_allowed constant text[] := array['mode', 'k', 'scope', 'before', 'after', 'max_tokens'];
  opts jsonb := coalesce(build_context.options, '{}');
  unknown text[];
  thread public.memory_threads;
  budget integer := build_context.token_budget;
  include_tools boolean;
  include_summary boolean;
  per_message integer;
  max_messages integer;
  system_messages public.memory_message[];
  system_tokens bigint;
  newest public.messages;
  used bigint;
  summary_cost bigint;
  use_summary boolean := false;
  stop_created timestamptz := '-infinity';
  stop_id uuid := '00000000-0000-0000-0000-000000000000';
  newest_first public.memory_message[] := '{}';
  m public.messages;
  cost bigint;
  truncated boolean := false;
  -- Recall.
  recall_opts jsonb;
  recall_on boolean;
  recall_reserve bigint := 0;
  window_limit bigint;
  window_oldest_at timestamptz;
  window_oldest_id uuid;
  recall_query text;
  query_source text;
  query_vector extensions.vector;
  vector_channel text;
  recalled jsonb := '[]';
  recalled_ids uuid[] := '{}';
  recall_info jsonb;
  recall_result jsonb;
  -- Working memory and long-term memories.
  include_wm boolean;
  wm record;
  wm_blocks jsonb := '[]';
  mem_opts jsonb;
  mem_query text;
  mem_vector extensions.vector;
  mem_limit bigint;
  mem_used bigint := 0;
  mem_items jsonb := '[]';
  hit record;
begin
  if build_context.token_budget < 1 then
    raise exception 'token_budget must be a positive number of tokens (got %)', build_context.token_budget
      using errcode = '22023';
  end if;
  perform private.require_object(opts, 'options');
  select array_agg(k order by k) into unknown from jsonb_object_keys(opts) k where k <> all (allowed);
  if unknown is not null then
    raise exception 'options has unknown field(s): %', array_to_string(unknown, ', ') using errcode = '22023',
      hint = 'Options: ' || array_to_string(allowed, ', ') || '.';
  end if;
  if coalesce(jsonb_typeof(opts -> 'include_tool_messages'), 'boolean') <> 'boolean'
     or coalesce(jsonb_typeof(opts -> 'include_summary'), 'boolean') <> 'boolean' then
    raise exception 'options.include_tool_messages and options.include_summary must be booleans' using errcode = '22023';
  end if;
  if coalesce(jsonb_typeof(opts -> 'include_working_memory'), 'boolean') <> 'boolean' then
    raise exception 'options.include_working_memory must be a boolean (got %)', opts -> 'include_working_memory' using errcode = '22023';
  end if;
  -- memories: true | false | {k: 1..50 (5), max_tokens: >= 0 (budget share), kinds: [fact|preference|event]}.
  if opts ? 'memories' and jsonb_typeof(opts -> 'memories') not in ('object', 'boolean') then
    raise exception 'options.memories must be true, false or an object (got %)', jsonb_typeof(opts -> 'memories') using errcode = '22023';
  end if;
  mem_opts := case when jsonb_typeof(opts -> 'memories') = 'object' then opts -> 'memories'
                   when (opts ->> 'memories')::boolean then '{}'::jsonb end;
  if mem_opts is not null then
    select array_agg(k order by k) into unknown from jsonb_object_keys(mem_opts) k where k <> all (memories_allowed);
    if unknown is not null then
      raise exception 'options.memories has unknown field(s): %', array_to_string(unknown, ', ') using errcode = '22023',
        hint = 'Memories options: ' || array_to_string(memories_allowed, ', ') || '.';
    end if;
    if mem_opts ? 'k' and not (jsonb_typeof(mem_opts -> 'k') = 'number' and (mem_opts ->> 'k') ~ '^[0-9]{1,2}$'
                               and (mem_opts ->> 'k')::integer between 1 and 50) then
      raise exception 'options.memories.k must be an integer from 1 to 50 (got %)', mem_opts -> 'k' using errcode = '22023';
    end if;
    if mem_opts ? 'max_tokens' and not (jsonb_typeof(mem_opts -> 'max_tokens') = 'number'
                                        and (mem_opts ->> 'max_tokens') ~ '^[0-9]{1,9}$') then
      raise exception 'options.memories.max_tokens must be a whole number of tokens (got %)', mem_opts -> 'max_tokens'
        using errcode = '22023';
    end if;
    if mem_opts ? 'kinds' and (jsonb_typeof(mem_opts -> 'kinds') <> 'array' or jsonb_array_length(mem_opts -> 'kinds') = 0
        or exists (select from jsonb_array_elements(mem_opts -> 'kinds') x
                    where jsonb_typeof(x) <> 'string' or x #>> '{}' not in ('fact', 'preference', 'event'))) then
      raise exception 'options.memories.kinds must be a non-empty list of fact, preference, event (got %)', mem_opts -> 'kinds'
        using errcode = '22023';
    end if;
  end if;
  if opts ? 'tokens_per_message' and not (jsonb_typeof(opts -> 'tokens_per_message') = 'number'
     and (opts ->> 'tokens_per_message') ~ '^[0-9]{1,4}$') then
    raise exception 'options.tokens_per_message must be an integer from 0 to 9999 (got %)', opts -> 'tokens_per_message'
      using errcode = '22023';
  end if;
  if opts ? 'max_messages' and not (jsonb_typeof(opts -> 'max_messages') = 'number'
     and (opts ->> 'max_messages') ~ '^[0-9]{1,5}$' and (opts ->> 'max_messages')::integer between 1 and 10000) then
    raise exception 'options.max_messages must be an integer from 1 to 10000 (got %)', opts -> 'max_messages'
      using errcode = '22023';
  end if;
  if opts ? 'query' and (jsonb_typeof(opts -> 'query') <> 'string' or (opts ->> 'query') !~ '\S'
                         or char_length(opts ->> 'query') > 10000) then
    raise exception 'options.query must be a non-empty string of at most 10000 characters' using errcode = '22023';
  end if;
  if opts ? 'query_embedding' and (jsonb_typeof(opts -> 'query_embedding') <> 'array'
      or jsonb_array_length(opts -> 'query_embedding') = 0
      or exists (select from jsonb_array_elements(opts -> 'query_embedding') x where jsonb_typeof(x) <> 'number')) then
    raise exception 'options.query_embedding must be a non-empty array of numbers' using errcode = '22023';
  end if;
  -- A vector of the wrong size is an error whether or not this call ends up using it.
  if opts ? 'query_embedding' then
    perform private.check_query_embedding((select em.name from public.embedding_models em where em.is_default),
                                          (opts ->> 'query_embedding')::extensions.vector);
  end if;
  -- recall: true | false | {…}; a query alone turns it on (unless recall is false).
  if opts ? 'recall' and jsonb_typeof(opts -> 'recall') not in ('object', 'boolean') then
    raise exception 'options.recall must be true, false or an object (got %)', jsonb_typeof(opts -> 'recall') using errcode = '22023';
  end if;
  recall_opts := case when jsonb_typeof(opts -> 'recall') = 'object' then opts -> 'recall'
                      when (opts ->> 'recall')::boolean then '{}'::jsonb
                      when opts ? 'query' and not opts ? 'recall' then '{}'::jsonb end;
  recall_on := recall_opts is not null;
  if recall_on then
    recall_opts := coalesce(recall_opts, '{}');
    select array_agg(k order by k) into unknown from jsonb_object_keys(recall_opts) k where k <> all (recall_allowed);
    if unknown is not null then
      raise exception 'options.recall has unknown field(s): %', array_to_string(unknown, ', ') using errcode = '22023',
        hint = 'Recall options: ' || array_to_string(recall_allowed, ', ') || '.';
    end if;
    if coalesce(recall_opts ->> 'mode', 'hybrid') not in ('hybrid', 'bm25', 'vector') then
      raise exception 'options.recall.mode must be hybrid, bm25 or vector (got %)', recall_opts -> 'mode' using errcode = '22023';
    end if;
    if coalesce(recall_opts ->> 'scope', 'thread') not in ('thread', 'agent') then
      raise exception 'options.recall.scope must be thread or agent (got %)', recall_opts -> 'scope' using errcode = '22023';
    end if;
    if recall_opts ? 'k' and not (jsonb_typeof(recall_opts -> 'k') = 'number' and (recall_opts ->> 'k') ~ '^[0-9]{1,2}$'
                                  and (recall_opts ->> 'k')::integer between 1 and 50) then
      raise exception 'options.recall.k must be an integer from 1 to 50 (got %)', recall_opts -> 'k' using errcode = '22023';
    end if;
    if (recall_opts ? 'before' and not (jsonb_typeof(recall_opts -> 'before') = 'number' and (recall_opts ->> 'before') ~ '^[0-5]$'))
       or (recall_opts ? 'after' and not (jsonb_typeof(recall_opts -> 'after') = 'number' and (recall_opts ->> 'after') ~ '^[0-5]$')) then
      raise exception 'options.recall.before and options.recall.after must be integers from 0 to 5' using errcode = '22023';
    end if;
    if recall_opts ? 'max_tokens' and not (jsonb_typeof(recall_opts -> 'max_tokens') = 'number'
                                           and (recall_opts ->> 'max_tokens') ~ '^[0-9]{1,9}$') then
      raise exception 'options.recall.max_tokens must be a whole number of tokens (got %)', recall_opts -> 'max_tokens'
        using errcode = '22023';
    end if;
    recall_opts := jsonb_build_object(
      'mode', coalesce(recall_opts ->> 'mode', 'hybrid'), 'scope', coalesce(recall_opts ->> 'scope', 'thread'),
      'k', coalesce((recall_opts ->> 'k')::integer, 5), 'before', coalesce((recall_opts ->> 'before')::integer, 1),
      'after', coalesce((recall_opts ->> 'after')::integer, 1), 'max_tokens', (recall_opts ->> 'max_tokens')::bigint);
  end if;
  include_tools := coalesce((opts ->> 'include_tool_messages')::boolean, true);
  include_summary := coalesce((opts ->> 'include_summary')::boolean, true);
  include_wm := coalesce((opts ->> 'include_working_memory')::boolean, true);
  per_message := coalesce((opts ->> 'tokens_per_message')::integer,
                          (private.setting('context', 'tokens_per_message', '4') #>> '{}')::integer);
  max_messages := (opts ->> 'max_messages')::integer;

  select * into thread from public.memory_threads t where t.id = build_context.thread_id;
  if not found then
    raise exception 'thread % not found', build_context.thread_id using errcode = 'PT404';
  end if;
  if budget is null then
    select a.context_token_budget into budget from public.agents a where a.id = thread.agent_id;
    budget := coalesce(budget, (private.setting('context', 'default_token_budget', '8000') #>> '{}')::integer);
  end if;

  select coalesce(array_agg(private.to_memory_message(s) order by s.created_at, s.id), '{}'),
         coalesce(sum(s.token_count + per_message), 0)
    into system_messages, system_tokens
    from public.messages s
   where s.thread_id = build_context.thread_id and s.role = 'system';

  select * into newest
    from public.messages n
   where n.thread_id = build_context.thread_id
     and n.role <> 'system'
     and (include_tools or (n.role <> 'tool' and n.tool_call_id is null and n.tool_name is null))
   order by n.created_at desc, n.id desc
   limit 1;

  used := system_tokens + coalesce(newest.token_count + per_message, 0);
  if used > budget then
    raise exception 'token_budget % is too small: the system messages and the newest message need % tokens',
      budget, used using errcode = '22023',
      hint = 'Raise token_budget, or shorten the system messages.';
  end if;

  -- Working memory: the user's document, then the thread's, each as one block if it fits.
  if include_wm then
    for wm in
      select x.* from (
        select 1 as ord, w.id, w.scope, w.thread_id, w.format, w.version, w.updated_at, w.token_count,
               private.working_memory_text(w) as content
          from public.working_memory w where w.scope = 'resource' and w.owner_id = thread.owner_id
        union all
        select 2, w.id, w.scope, w.thread_id, w.format, w.version, w.updated_at, w.token_count, private.working_memory_text(w)
          from public.working_memory w where w.scope = 'thread' and w.thread_id = thread.id) x
       order by x.ord
    loop
      continue when wm.content is null;
      cost := wm.token_count + per_message;
      if used + cost > budget then
        truncated := true;
        continue;
      end if;
      used := used + cost;
      wm_blocks := wm_blocks || jsonb_build_array(jsonb_build_object(
        'id', wm.id, 'scope', wm.scope, 'thread_id', wm.thread_id, 'format', wm.format, 'content', wm.content,
        'version', wm.version, 'updated_at', wm.updated_at, 'token_count', cost));
    end loop;
  end if;

  if include_summary and thread.summary is not null then
    summary_cost := coalesce(thread.summary_token_count, private.estimate_tokens(thread.summary)) + per_message;
    if used + summary_cost <= budget then
      use_summary := true;
      used := used + summary_cost;
      if thread.summary_through is not null then
        select c.created_at, c.id into stop_created, stop_id
          from private.decode_cursor(thread.summary_through, 'm', 'summary_through') c;
      end if;
    else
      truncated := true;
    end if;
  end if;

  -- Long-term memories for the query (options.query, else the newest user message), best first, within
  -- their share of the budget (memories.max_tokens, default setting memories.context_budget_share).
  if mem_opts is not null then
    if opts ? 'query' then
      mem_query := opts ->> 'query';
      if opts ? 'query_embedding' then
        mem_vector := (opts ->> 'query_embedding')::extensions.vector;
      end if;
    else
      select u.content, e.embedding into mem_query, mem_vector
        from (select u.id, u.content, u.content_hash from public.messages u
               where u.thread_id = build_context.thread_id and u.role = 'user'
               order by u.created_at desc, u.id desc
               limit 1) u
        left join public.embeddings e on e.source_table = 'messages' and e.source_id = u.id and e.content_hash = u.content_hash
             and e.model = (select em.name from public.embedding_models em where em.is_default);
      if opts ? 'query_embedding' then
        mem_vector := (opts ->> 'query_embedding')::extensions.vector;
      end if;
    end if;
    mem_limit := least(coalesce((mem_opts ->> 'max_tokens')::bigint,
                                floor(budget * (private.setting('memories', 'context_budget_share', '0.1') #>> '{}')::numeric)),
                       budget - used);
    if mem_query ~ '\S' and mem_limit > 0 then
      for hit in
        select h.rank, h.score, h.bm25_rank, h.vector_rank, h.vector_score, h.matched, f.id, f.kind, f.content, f.agent_id,
               f.valid_from, f.token_count
          from private.hybrid_rank('memories', left(mem_query, 10000), mem_vector, coalesce((mem_opts ->> 'k')::integer, 5),
                 jsonb_strip_nulls(jsonb_build_object('owner_id', thread.owner_id, 'agent_id', thread.agent_id,
                                                      'kinds', mem_opts -> 'kinds')),
                 1, 1, (private.setting('retrieval', 'rrf_k', '60') #>> '{}')::integer,
                 greatest(2 * coalesce((mem_opts ->> 'k')::integer, 5),
                          (private.setting('retrieval', 'hybrid_candidates', '20') #>> '{}')::integer)) h
          join public.memories f on f.id = h.id
         order by h.rank
      loop
        cost := hit.token_count + per_message;
        continue when mem_used + cost > mem_limit;
        mem_used := mem_used + cost;
        mem_items := mem_items || jsonb_build_array(jsonb_build_object(
          'id', hit.id, 'kind', hit.kind, 'content', hit.content, 'agent_id', hit.agent_id, 'valid_from', hit.valid_from,
          'rank', hit.rank, 'score', hit.score, 'bm25_rank', hit.bm25_rank, 'vector_rank', hit.vector_rank,
          'vector_score', hit.vector_score, 'matched', to_jsonb(hit.matched), 'token_count', cost));
      end loop;
      used := used + mem_used;
    end if;
  end if;

  if recall_on then
    recall_reserve := least(coalesce((recall_opts ->> 'max_tokens')::bigint,
                                     floor(budget * (private.setting('context', 'recall_budget_share', '0.25') #>> '{}')::numeric)),
                            budget - used);
    -- The query, and a vector for it when there is one to be had without calling a provider.
    if opts ? 'query' then
      recall_query := opts ->> 'query';
      query_source := 'option';
    else
      select u.content, 'newest_user_message' into recall_query, query_source
        from public.messages u
       where u.thread_id = build_context.thread_id and u.role = 'user'
       order by u.created_at desc, u.id desc
       limit 1;
    end if;
    if recall_opts ->> 'mode' <> 'bm25' then
      if opts ? 'query_embedding' then
        query_vector := (opts ->> 'query_embedding')::extensions.vector;
        vector_channel := 'ran';
      elsif query_source = 'newest_user_message' then
        -- That message's own vector: not the newest user message that happens to be embedded.
        select e.embedding into query_vector
          from (select u.id, u.content_hash from public.messages u
                 where u.thread_id = build_context.thread_id and u.role = 'user'
                 order by u.created_at desc, u.id desc
                 limit 1) u
          join public.embeddings e on e.source_table = 'messages' and e.source_id = u.id and e.content_hash = u.content_hash
          join public.embedding_models em on em.name = e.model and em.is_default;
        vector_channel := case when query_vector is null then 'skipped: the newest user message is not embedded yet' else 'ran' end;
      else
        vector_channel := 'skipped: no query_embedding given';
      end if;
    else
      vector_channel := 'skipped: mode bm25';
    end if;
    if recall_opts ->> 'mode' = 'vector' and query_vector is null then
      recall_query := null;
    end if;
    if recall_query is null then
      -- Nothing to recall without a query (a query_embedding alone is none): no vector search on its own,
      -- and no share of the budget held back for it.
      query_vector := null;
      recall_reserve := 0;
    end if;
  end if;
  window_limit := budget - recall_reserve;

  if newest.id is not null then
    newest_first := array[private.to_memory_message(newest)];
    window_oldest_at := newest.created_at;
    window_oldest_id := newest.id;
    for m in
      select *
        from public.messages o
       where o.thread_id = build_context.thread_id
         and (o.created_at, o.id) < (newest.created_at, newest.id)
         and (o.created_at, o.id) > (stop_created, stop_id)
         and o.role <> 'system'
         and (include_tools or (o.role <> 'tool' and o.tool_call_id is null and o.tool_name is null))
       order by o.created_at desc, o.id desc
    loop
      cost := m.token_count + per_message;
      if recall_on and recall_result is null and recall_query is not null and used + cost > window_limit then
        -- The window reached the share kept for recall: recall over what is older, then go on with the rest.
        recall_result := private.context_recall(thread, recall_query, query_vector, window_oldest_at, window_oldest_id,
          least(recall_reserve, budget - used), per_message, include_tools,
          array(select (unnest(newest_first)).id), recall_opts);
        used := used + (recall_result ->> 'token_count')::bigint;
        recalled_ids := array(select x::uuid from jsonb_array_elements_text(recall_result -> 'ids') x);
        window_limit := budget;
      end if;
      if m.id = any (recalled_ids)
         or used + cost > window_limit
         or (max_messages is not null and cardinality(newest_first) >= max_messages) then
        truncated := true;
        exit;
      end if;
      used := used + cost;
      newest_first := newest_first || private.to_memory_message(m);
      window_oldest_at := m.created_at;
      window_oldest_id := m.id;
    end loop;
  end if;

  if recall_on then
    if recall_result is null and recall_query is not null then
      -- The whole thread fit: only other threads (scope agent) or messages older than the summary remain.
      recall_result := private.context_recall(thread, recall_query, query_vector,
        coalesce(window_oldest_at, 'infinity'), coalesce(window_oldest_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'),
        least(recall_reserve, budget - used), per_message, include_tools,
        array(select (unnest(newest_first)).id), recall_opts);
      used := used + (recall_result ->> 'token_count')::bigint;
    end if;
    recalled := coalesce(recall_result -> 'items', '[]');
    recall_info := jsonb_build_object(
      'query', recall_query,
      'query_source', query_source,
      'mode', recall_opts ->> 'mode',
      'scope', recall_opts ->> 'scope',
      'channels', jsonb_build_object(
        'bm25', case when recall_opts ->> 'mode' = 'vector' then 'skipped: mode vector'
                     when recall_query is null then 'skipped: no query (no user message yet)' else 'ran' end,
        'vector', case when recall_query is null and vector_channel = 'ran' then 'skipped: no query' else vector_channel end),
      'token_limit', recall_reserve,
      'token_count', coalesce((recall_result ->> 'token_count')::bigint, 0),
      'considered', coalesce((recall_result ->> 'considered')::integer, 0),
      'included', jsonb_array_length(recalled));
  end if;

  return row(
    thread.id,
    budget,
    used,
    per_message,
    system_messages,
    case when use_summary then thread.summary end,
    case when use_summary then thread.summary_through end,
    recalled,
    (select coalesce(array_agg(newest_first[i] order by i desc), '{}') from generate_subscripts(newest_first, 1) i),
    truncated,
    recall_info,
    wm_blocks,
    mem_items
  )::public.memory_context;
end
$$;
comment on function public.build_context(uuid, integer, jsonb) is
  'One round trip: system messages, working memory, summary, long-term memories, recalled messages (with neighbours and why) and the newest messages of a thread within token_budget.';
