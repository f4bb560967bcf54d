-- Demo and configuration rows for a local or fresh project. Idempotent: running it again changes nothing
-- that is already there (configuration rows are brought back to these values, settings an operator
-- changed are kept, the demo thread is only created once).
--   models        chat models with context window, tokenizer and prices (USD per million tokens, as
--                 published by the providers; check before relying on them for billing)
--   agents        a general assistant and a researcher that can call tools
--   tools         the tools the researcher may call
--   settings      content size limit (1 MiB) and the other defaults the memory core reads
--   demo user     demo@agent-memory.local (no password: `npm run token -- --email demo@agent-memory.local`) owning a
--                 sample thread with a few messages and an agent state

insert into public.models (id, provider, display_name, context_window, max_output_tokens, tokenizer,
                           input_price_per_mtok, output_price_per_mtok, cached_input_price_per_mtok)
values
  ('gpt-4o-mini', 'openai', 'GPT-4o mini', 128000, 16384, 'o200k_base', 0.15, 0.60, 0.075),
  ('gpt-4o', 'openai', 'GPT-4o', 128000, 16384, 'o200k_base', 2.50, 10.00, 1.25),
  ('gpt-4.1-mini', 'openai', 'GPT-4.1 mini', 1047576, 32768, 'o200k_base', 0.40, 1.60, 0.10),
  ('gpt-4.1', 'openai', 'GPT-4.1', 1047576, 32768, 'o200k_base', 2.00, 8.00, 0.50),
  ('claude-3-5-haiku', 'anthropic', 'Claude 3.5 Haiku', 200000, 8192, 'cl100k_base', 0.80, 4.00, 0.08),
  ('claude-sonnet-4', 'anthropic', 'Claude Sonnet 4', 200000, 64000, 'cl100k_base', 3.00, 15.00, 0.30)
on conflict (id) do update
  set provider = excluded.provider,
      display_name = excluded.display_name,
      context_window = excluded.context_window,
      max_output_tokens = excluded.max_output_tokens,
      tokenizer = excluded.tokenizer,
      input_price_per_mtok = excluded.input_price_per_mtok,
      output_price_per_mtok = excluded.output_price_per_mtok,
      cached_input_price_per_mtok = excluded.cached_input_price_per_mtok;

insert into public.agents (id, name, description, model_id, system_prompt, temperature, max_output_tokens, context_token_budget)
values
  ('assistant', 'Assistant', 'A general-purpose assistant with conversation memory.', 'gpt-4o-mini',
   'You are a helpful assistant. Use the conversation so far and the summary of earlier turns.', 0.70, 1024, 8000),
  ('researcher', 'Researcher', 'Answers questions from the user''s documents and the web, citing sources.', 'gpt-4.1-mini',
   'You are a careful researcher. Search before answering and cite every source you use.', 0.20, 2048, 32000)
on conflict (id) do update
  set name = excluded.name,
      description = excluded.description,
      model_id = excluded.model_id,
      system_prompt = excluded.system_prompt,
      temperature = excluded.temperature,
      max_output_tokens = excluded.max_output_tokens,
      context_token_budget = excluded.context_token_budget;

insert into public.tools (id, description, parameters)
values
  ('search_memory', 'Search the user''s earlier conversations and documents.',
   '{"type": "object", "properties": {"query": {"type": "string", "description": "What to look for"},
     "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10}}, "required": ["query"]}'),
  ('web_search', 'Search the web and return the top results with their URLs.',
   '{"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}'),
  ('get_current_time', 'The current date and time in a time zone.',
   '{"type": "object", "properties": {"timezone": {"type": "string", "description": "IANA name, e.g. Europe/Lisbon"}}}')
on conflict (id) do update
  set description = excluded.description,
      parameters = excluded.parameters;

insert into public.agent_tools (agent_id, tool_id, position)
values
  ('assistant', 'get_current_time', 1),
  ('researcher', 'search_memory', 1),
  ('researcher', 'web_search', 2),
  ('researcher', 'get_current_time', 3)
on conflict (agent_id, tool_id) do update set position = excluded.position;

insert into public.settings (category, key, value, description)
values
  ('messages', 'max_content_bytes', '1048576', 'Largest message content accepted, in bytes of UTF-8 (default 1 MiB).'),
  ('agent_states', 'max_state_bytes', '1048576', 'Largest agent state accepted, in bytes of its JSON text (default 1 MiB).'),
  ('context', 'tokens_per_message', '4',
   'Tokens build_context adds per message for chat framing (role and separators), on top of its content.'),
  ('context', 'default_token_budget', '8000',
   'token_budget build_context uses when the call gives none and the thread''s agent has no context_token_budget.'),
  ('ttl', 'prune_schedule', '"* * * * *"',
   'pg_cron schedule of util.prune_expired(); apply a change with select util.schedule_prune_expired().'),
  ('ttl', 'prune_batch_size', '10000', 'Most messages (and, separately, threads) one util.prune_expired() run deletes.')
on conflict (category, key) do nothing;

-- The demo user and their sample thread.
insert into auth.users (id, aud, role, email, raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
values ('00000000-0000-4000-8000-00000000d3e0', 'authenticated', 'authenticated', 'demo@agent-memory.local',
        '{"provider": "email", "providers": ["email"]}', '{"name": "Demo user"}', now(), now())
on conflict (id) do nothing;

insert into public.memory_threads (id, owner_id, agent_id, name, metadata)
values ('00000000-0000-4000-8000-0000000071e0', '00000000-0000-4000-8000-00000000d3e0', 'assistant',
        'Planning a weekend in Lisbon', '{"topic": "travel", "demo": true}')
on conflict (id) do nothing;

-- One statement, so the messages keep this order (created_at increases row by row).
insert into public.messages (id, thread_id, role, content, tool_call_id, tool_name)
select v.id, '00000000-0000-4000-8000-0000000071e0', v.role::public.message_role, v.content, v.tool_call_id, v.tool_name
  from (values
    (1, '00000000-0000-4000-8000-00000000e501'::uuid, 'system',
     'You are a helpful assistant. Use the conversation so far and the summary of earlier turns.', null, null),
    (2, '00000000-0000-4000-8000-00000000e502'::uuid, 'user',
     'I have a free weekend in Lisbon next month. I love food markets and walking. Where should I start?', null, null),
    (3, '00000000-0000-4000-8000-00000000e503'::uuid, 'assistant', '', 'call_demo_time', 'get_current_time'),
    (4, '00000000-0000-4000-8000-00000000e504'::uuid, 'tool', '{"timezone": "Europe/Lisbon", "now": "Saturday 09:12"}',
     'call_demo_time', 'get_current_time'),
    (5, '00000000-0000-4000-8000-00000000e505'::uuid, 'assistant',
     'Start at Time Out Market in Cais do Sodré, then walk up to Bairro Alto for the view from Miradouro de São Pedro de Alcântara.',
     null, null)
  ) as v(ord, id, role, content, tool_call_id, tool_name)
 where not exists (select from public.messages m where m.thread_id = '00000000-0000-4000-8000-0000000071e0')
 order by v.ord;

insert into public.agent_states (thread_id, agent_id, state)
values ('00000000-0000-4000-8000-0000000071e0', 'assistant',
        '{"trip": {"city": "Lisbon", "interests": ["food markets", "walking"]}, "step": "suggest_itinerary"}')
on conflict (thread_id, agent_id) do nothing;
