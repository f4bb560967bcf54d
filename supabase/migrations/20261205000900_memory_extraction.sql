-- Memory extraction: the SQL side of the `extract-memories` Edge Function.
--
--   util.extraction_input(thread)      the user/assistant messages after the thread's extraction cursor
--                                      (at most memories.max_input_tokens), numbered for the prompt
--   (the function asks the chat model for candidate memories as JSON, embeds them with the default
--    embedding model when it can)
--   util.match_memory_candidates(…)    each candidate's most similar existing valid memories of the owner,
--                                      by hybrid search over source 'memories' (BM25 + vector, RRF)
--   (the function decides add / update / none: no match → add; the same text → none; otherwise the chat
--    model decides, given the matches)
--   util.complete_extraction_job(…)    applies the decisions — add: a new memory; update: a new version
--                                      superseding the matched one (kept with invalid_at); none: nothing —
--                                      advances the cursor and deletes the job, in ONE transaction, so a
--                                      failure anywhere changes nothing
-- Every change goes through the memories table, whose triggers write memory_history (source
-- 'extraction', the thread and messages, and the job's decision in details).

-- util.extraction_input(thread_id uuid, max_input_tokens integer default null) → jsonb
--   {thread_id, owner_id, agent_id, expected_through (the cursor before), messages: [{n, id, role, content,
--   token_count, created_at, cursor}, …] (user and assistant messages after it, chronological, numbered
--   from 1, at least one, at most max_input_tokens — default memories.max_input_tokens — worth), more
--   (messages remain after these), settings (memories.*)}; null when the thread no longer exists.
--   Caller: the extract-memories function (as postgres).
create or replace function util.extraction_input(thread_id uuid, max_input_tokens integer default null)
returns jsonb
language plpgsql
stable
security invoker
set enable_sort = off
set enable_bitmapscan = off
as $$
declare
  cfg jsonb := util.long_term_settings() -> 'memories';
  max_in bigint := coalesce(max_input_tokens, (cfg ->> 'max_input_tokens')::bigint);
  t public.memory_threads;
  through text;
  after_at timestamptz := '-infinity';
  after_id uuid := '00000000-0000-0000-0000-000000000000';
  m public.messages;
  batch jsonb[] := '{}';
  used bigint := 0;
  more boolean := false;
begin
  select * into t from public.memory_threads x where x.id = extraction_input.thread_id;
  if not found then
    return null;
  end if;
  select p.extracted_through into through from public.thread_memory_progress p where p.thread_id = t.id;
  if through is not null then
    select d.created_at, d.id into after_at, after_id from private.decode_cursor(through, 'm', 'extracted_through') d;
  end if;
  for m in
    select * from public.messages o
     where o.thread_id = t.id and (o.created_at, o.id) > (after_at, after_id) and o.role in ('user', 'assistant')
     order by o.created_at, o.id
  loop
    if cardinality(batch) > 0 and used + m.token_count > max_in then
      more := true;
      exit;
    end if;
    batch := batch || jsonb_build_object('n', cardinality(batch) + 1, 'id', m.id, 'role', m.role, 'content', m.content,
      'token_count', m.token_count, 'created_at', m.created_at, 'cursor', private.encode_cursor('m', m.created_at, m.id));
    used := used + m.token_count;
  end loop;
  return jsonb_build_object('thread_id', t.id, 'owner_id', t.owner_id, 'agent_id', t.agent_id,
    'expected_through', through, 'messages', to_jsonb(batch), 'input_tokens', used, 'more', more, 'settings', cfg);
end
$$;
revoke all on function util.extraction_input(uuid, integer) from public, anon, authenticated;

-- util.match_memory_candidates(owner_id uuid, agent_id text, candidates jsonb, match_count integer)
--     → jsonb
--   candidates: [{content, embedding: [numbers] | null}, …]. For each, in order, the owner's valid memories
--   most similar to it (of the agent and the shared ones when agent_id is given): [{candidate (0-based),
--   matches: [{id, kind, content, valid_from, rank, score, bm25_rank, bm25_score, vector_rank,
--   vector_score}, …]}, …] by hybrid search (private.hybrid_rank over source memories; the vector channel
--   when the candidate has an embedding of the default model). Caller: the extract-memories function.
create or replace function util.match_memory_candidates(owner_id uuid, agent_id text, candidates jsonb, match_count integer)
returns jsonb
language plpgsql
stable
security invoker
as $$
declare
  filters jsonb := jsonb_strip_nulls(jsonb_build_object('owner_id', owner_id, 'agent_id', agent_id));
  c record;
  result jsonb := '[]';
  matches jsonb;
begin
  if owner_id is null then
    raise exception 'owner_id is required' using errcode = '22023';
  end if;
  if candidates is null or jsonb_typeof(candidates) <> 'array' then
    raise exception 'candidates must be a JSON array' using errcode = '22023';
  end if;
  for c in select x.value as candidate, (x.ord - 1)::integer as i from jsonb_array_elements(candidates) with ordinality x(value, ord) loop
    select coalesce(jsonb_agg(jsonb_build_object('id', h.id, 'kind', f.kind, 'content', f.content, 'valid_from', f.valid_from,
                                                 'rank', h.rank, 'score', h.score, 'bm25_rank', h.bm25_rank,
                                                 'bm25_score', h.bm25_score, 'vector_rank', h.vector_rank,
                                                 'vector_score', h.vector_score) order by h.rank), '[]')
      into matches
      from private.hybrid_rank('memories', private.require_query_text(c.candidate ->> 'content'),
             case when jsonb_typeof(c.candidate -> 'embedding') = 'array' then (c.candidate ->> 'embedding')::extensions.vector end,
             greatest(1, least(coalesce(match_count, 5), 50)), filters, 1, 1,
             (private.setting('retrieval', 'rrf_k', '60') #>> '{}')::integer,
             greatest(20, 2 * coalesce(match_count, 5))) h
      join public.memories f on f.id = h.id;
    result := result || jsonb_build_array(jsonb_build_object('candidate', c.i, 'matches', matches));
  end loop;
  return result;
end
$$;
revoke all on function util.match_memory_candidates(uuid, text, jsonb, integer) from public, anon, authenticated;

-- util.complete_extraction_job(thread_id uuid, result jsonb, msg_id bigint default null) → jsonb
--   Applies one extraction run and, for a job (msg_id), deletes it — one transaction. result:
--     {expected_through (the input's), extracted_through (cursor of the last message read), message_count,
--      more, operations: [{action: add | update | none, kind, content, sources: [message ids], memory_id
--      (update / none), details: {…}}, …]}
--   add      inserts a memory of the thread's owner and agent (source 'extraction', valid_from = the newest
--            source message's time, else the newest message read);
--   update   inserts a new version superseding memory_id — or its current version, if it was superseded
--            meanwhile; a forgotten or vanished target makes it an add;
--   none     changes nothing.
--   Then the extraction cursor moves to extracted_through; the job is replaced by a follow-up when more
--   messages wait (more, or memories.extract_every_messages new ones arrived meanwhile), else the thread's
--   queued flag is cleared. Returns {outcome: stored | conflict | gone, added: [ids], updated: [{from, to}],
--   unchanged: n}; conflict (the cursor moved since the input was read) stores nothing and replaces the job.
--   Raises 22023 for a malformed operation (unknown action or kind, empty content, missing memory_id),
--   which aborts everything. Caller: the extract-memories function (as postgres).
create or replace function util.complete_extraction_job(thread_id uuid, result jsonb, msg_id bigint default null)
returns jsonb
language plpgsql
volatile
security invoker
as $$
declare
  t public.memory_threads;
  p public.thread_memory_progress;
  op record;
  target public.memories;
  created public.memories;
  sources uuid[];
  valid_from timestamptz;
  newest_read timestamptz;
  added uuid[] := '{}';
  updated jsonb := '[]';
  unchanged integer := 0;
  is_job boolean := msg_id is not null;
  every_n bigint := (private.setting('memories', 'extract_every_messages', '10') #>> '{}')::bigint;
  hops integer;
  follow_up boolean;
begin
  if result is null or jsonb_typeof(result) <> 'object' or jsonb_typeof(result -> 'operations') is distinct from 'array' then
    raise exception 'result must be an object with an operations array' using errcode = '22023';
  end if;
  select * into t from public.memory_threads x where x.id = complete_extraction_job.thread_id for update;
  if not found then
    if is_job then
      perform pgmq.delete('memory_extraction_jobs', msg_id);
    end if;
    return jsonb_build_object('outcome', 'gone', 'added', '[]'::jsonb, 'updated', '[]'::jsonb, 'unchanged', 0);
  end if;
  insert into public.thread_memory_progress as x (thread_id, owner_id) values (t.id, t.owner_id) on conflict on constraint thread_memory_progress_pkey do nothing;
  select * into p from public.thread_memory_progress x where x.thread_id = t.id for update;
  if p.extracted_through is distinct from result ->> 'expected_through' then
    if is_job then
      perform pgmq.delete('memory_extraction_jobs', msg_id);
      perform pgmq.send('memory_extraction_jobs', jsonb_build_object('thread_id', t.id, 'owner_id', t.owner_id, 'reason', 'conflict'));
    end if;
    return jsonb_build_object('outcome', 'conflict', 'added', '[]'::jsonb, 'updated', '[]'::jsonb, 'unchanged', 0);
  end if;
  if result ->> 'extracted_through' is not null then
    select d.created_at into newest_read from private.decode_cursor(result ->> 'extracted_through', 'm', 'extracted_through') d;
  end if;

  for op in
    select x.value as o, x.ord from jsonb_array_elements(result -> 'operations') with ordinality x(value, ord) order by x.ord
  loop
    if op.o ->> 'action' is null or op.o ->> 'action' not in ('add', 'update', 'none') then
      raise exception 'operations[%].action must be add, update or none (got %)', op.ord - 1, op.o -> 'action' using errcode = '22023';
    end if;
    if op.o ->> 'action' in ('update', 'none')
       and coalesce(op.o ->> 'memory_id', '') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
      raise exception 'operations[%].memory_id must be the id of the memory to %', op.ord - 1, op.o ->> 'action' using errcode = '22023';
    end if;
    if op.o ->> 'action' = 'none' then
      unchanged := unchanged + 1;
      continue;
    end if;
    if coalesce(op.o ->> 'content', '') !~ '\S' then
      raise exception 'operations[%].content must not be empty', op.ord - 1 using errcode = '22023';
    end if;
    perform private.require_memory_kind(op.o ->> 'kind');
    -- Only messages of this thread count as sources.
    select coalesce(array_agg(m.id order by m.created_at, m.id), '{}'), max(m.created_at) into sources, valid_from
      from public.messages m
     where m.thread_id = t.id
       and m.id::text in (select jsonb_array_elements_text(coalesce(op.o -> 'sources', '[]')));
    valid_from := coalesce(valid_from, newest_read, clock_timestamp());

    target := null;
    if op.o ->> 'action' = 'update' then
      select * into target from public.memories f where f.id = (op.o ->> 'memory_id')::uuid and f.owner_id = t.owner_id for update;
      -- Superseded meanwhile: update the version that is current now.
      hops := 0;
      while target.id is not null and target.superseded_by is not null and hops < 1000 loop
        select * into target from public.memories f where f.id = target.superseded_by for update;
        hops := hops + 1;
      end loop;
      if target.id is not null and target.invalid_at is not null then
        target := null;
      end if;
    end if;

    perform set_config('agent_memory.history_details',
      (coalesce(op.o -> 'details', '{}') || jsonb_build_object('job', msg_id, 'decision', op.o ->> 'action',
        'requested_memory_id', op.o ->> 'memory_id'))::text, true);
    insert into public.memories (owner_id, agent_id, kind, content, source, source_thread_id, source_message_ids, supersedes,
                                 valid_from, metadata)
    values (t.owner_id, coalesce(target.agent_id, t.agent_id), (op.o ->> 'kind')::public.memory_kind, op.o ->> 'content',
            'extraction', t.id, sources, target.id, greatest(valid_from, coalesce(target.valid_from, valid_from)),
            coalesce(target.metadata, '{}'))
    returning * into created;
    perform set_config('agent_memory.history_details', '', true);
    if target.id is null then
      added := added || created.id;
    else
      updated := updated || jsonb_build_array(jsonb_build_object('from', target.id, 'to', created.id));
    end if;
  end loop;

  update public.thread_memory_progress x
     set extracted_through = coalesce(result ->> 'extracted_through', x.extracted_through), extracted_at = clock_timestamp(),
         new_messages = greatest(0, x.new_messages - coalesce((result ->> 'message_count')::bigint, 0)),
         updated_at = clock_timestamp()
   where x.thread_id = t.id
  returning * into p;
  if is_job then
    perform pgmq.delete('memory_extraction_jobs', msg_id);
    follow_up := private.extraction_configured()
                 and (coalesce((result ->> 'more')::boolean, false) or p.new_messages >= every_n);
    if follow_up then
      perform pgmq.send('memory_extraction_jobs', jsonb_build_object('thread_id', t.id, 'owner_id', t.owner_id, 'reason', 'continue'));
    else
      update public.thread_memory_progress x set extraction_queued = false where x.thread_id = t.id;
    end if;
  end if;
  return jsonb_build_object('outcome', 'stored', 'added', to_jsonb(added), 'updated', updated, 'unchanged', unchanged);
end
$$;
revoke all on function util.complete_extraction_job(uuid, jsonb, bigint) from public, anon, authenticated;
