-- build_context: everything a model call needs from a thread's memory, in one round trip and within a
-- token budget — the system messages, the thread's rolling summary, recalled memories (an empty slot
-- the retrieval work fills) and the newest messages that fit, in chronological order.
--
-- Budget accounting: every included message costs token_count + tokens_per_message (chat framing: role
-- and separators; option or setting context.tokens_per_message, default 4), the summary costs its
-- estimated tokens + tokens_per_message. The total (token_count in the result) never exceeds
-- token_budget. Priority when the budget is tight:
--   1. all system messages and the newest message — required: if they alone exceed the budget the call
--      fails with 22023 naming the tokens they need, rather than silently dropping either;
--   2. the summary (left out, with truncated = true, if it does not fit);
--   3. older messages, newest first, stopping at the first one that does not fit (the window stays
--      contiguous) or, when the summary is included, at summary_through (the summary covers the rest).

create type public.memory_context as (
  thread_id uuid,
  token_budget integer,
  token_count integer,
  tokens_per_message integer,
  system_messages public.memory_message[],
  summary text,
  summary_through text,
  recalled jsonb,
  messages public.memory_message[],
  truncated boolean
);
comment on type public.memory_context is
  'build_context result: system messages, summary, recalled memories and the newest messages within the token budget.';

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
--   Returns one row: system_messages (all, chronological), summary and summary_through (null when the
--   thread has none or it was left out), recalled ([] — filled by retrieval), messages (the newest that
--   fit, chronological, always including the newest eligible message), token_count (tokens used),
--   tokens_per_message (as applied) and truncated (true when an older message or the summary was left out
--   for lack of budget or max_messages).
--   Errors: P0002 thread not found; 22023 token_budget not positive or too small for the system messages
--   and newest message, options not an object / unknown option / wrong option type.
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
  allowed constant text[] := array['include_tool_messages', 'include_summary', 'tokens_per_message', 'max_messages'];
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
  include_tools := coalesce((opts ->> 'include_tool_messages')::boolean, true);
  include_summary := coalesce((opts ->> 'include_summary')::boolean, true);
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

  if newest.id is not null then
    newest_first := array[private.to_memory_message(newest)];
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
      if used + cost > budget
         or (max_messages is not null and cardinality(newest_first) >= max_messages) then
        truncated := true;
        exit;
      end if;
      used := used + cost;
      newest_first := newest_first || private.to_memory_message(m);
    end loop;
  end if;

  return row(
    thread.id,
    budget,
    used,
    per_message,
    system_messages,
    case when use_summary then thread.summary end,
    case when use_summary then thread.summary_through end,
    '[]'::jsonb,
    (select coalesce(array_agg(newest_first[i] order by i desc), '{}') from generate_subscripts(newest_first, 1) i),
    truncated
  )::public.memory_context;
end
$$;
comment on function public.build_context(uuid, integer, jsonb) is
  'One round trip: system messages, summary, recalled memories and the newest messages of a thread within token_budget.';

revoke all on function public.build_context(uuid, integer, jsonb) from public, anon;
grant execute on function public.build_context(uuid, integer, jsonb) to authenticated, service_role;
