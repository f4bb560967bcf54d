-- Configuration tables the SDK and the agents read: `models` (context window, tokenizer and prices),
-- `agents` (model, system prompt, default context budget), `tools` (JSON Schema parameters),
-- `agent_tools` (which agent may call which tool) and `settings` (category/key → JSON value, read with
-- `get_setting`). They are global configuration, not user data: signed-in users may read them, only
-- service_role (or postgres) writes them, anon sees nothing. No secrets belong here (use Vault).
--
-- Default values the database itself relies on (content size limit, context framing, TTL schedule) are
-- inserted here so a hosted `supabase db push` has them without running seed.sql.

-- private.touch_updated_at() → trigger
--   BEFORE UPDATE row trigger: sets updated_at to now(). Runs as the caller; used by every table with an
--   updated_at column.
create or replace function private.touch_updated_at()
returns trigger
language plpgsql
security invoker
as $$
begin
  new.updated_at := now();
  return new;
end
$$;
revoke all on function private.touch_updated_at() from public, anon, authenticated;

create table public.models (
  id text primary key
    constraint models_id_format check (id ~ '^[a-z0-9][a-z0-9._:/-]{0,99}$'),
  provider text not null
    constraint models_provider_format check (provider ~ '^[a-z0-9][a-z0-9_-]{0,49}$'),
  display_name text not null,
  context_window integer not null
    constraint models_context_window_positive check (context_window > 0),
  max_output_tokens integer
    constraint models_max_output_tokens_positive check (max_output_tokens is null or max_output_tokens > 0),
  -- The js-tiktoken encoding the SDK counts with for this model (an approximation for non-OpenAI models).
  tokenizer text not null default 'o200k_base'
    constraint models_tokenizer_known check (tokenizer in ('o200k_base', 'cl100k_base', 'p50k_base', 'r50k_base')),
  -- Prices in USD per million tokens, as the providers publish them.
  input_price_per_mtok numeric(12, 6) not null default 0
    constraint models_input_price_non_negative check (input_price_per_mtok >= 0),
  output_price_per_mtok numeric(12, 6) not null default 0
    constraint models_output_price_non_negative check (output_price_per_mtok >= 0),
  cached_input_price_per_mtok numeric(12, 6)
    constraint models_cached_input_price_non_negative check (cached_input_price_per_mtok is null or cached_input_price_per_mtok >= 0),
  metadata jsonb not null default '{}'
    constraint models_metadata_is_object check (jsonb_typeof(metadata) = 'object'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.models is
  'Chat models: context window, tokenizer used for exact token counts, and prices in USD per million tokens.';

create table public.agents (
  id text primary key
    constraint agents_id_format check (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  name text not null
    constraint agents_name_length check (char_length(name) between 1 and 200),
  description text,
  model_id text not null references public.models (id) on update cascade,
  system_prompt text,
  temperature numeric(3, 2)
    constraint agents_temperature_range check (temperature is null or temperature between 0 and 2),
  max_output_tokens integer
    constraint agents_max_output_tokens_positive check (max_output_tokens is null or max_output_tokens > 0),
  -- Default token_budget the SDK passes to build_context for this agent's threads.
  context_token_budget integer
    constraint agents_context_token_budget_positive check (context_token_budget is null or context_token_budget > 0),
  metadata jsonb not null default '{}'
    constraint agents_metadata_is_object check (jsonb_typeof(metadata) = 'object'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index agents_model_id_idx on public.agents (model_id);
comment on table public.agents is 'Agent definitions: model, system prompt, sampling and default context budget.';

create table public.tools (
  id text primary key
    constraint tools_id_format check (id ~ '^[a-zA-Z0-9_-]{1,64}$'),
  description text not null,
  -- JSON Schema of the arguments, in the shape OpenAI/Anthropic function calling expects.
  parameters jsonb not null default '{"type": "object", "properties": {}}'
    constraint tools_parameters_is_object check (jsonb_typeof(parameters) = 'object'),
  metadata jsonb not null default '{}'
    constraint tools_metadata_is_object check (jsonb_typeof(metadata) = 'object'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.tools is 'Tools agents can call, with their JSON Schema parameters.';

create table public.agent_tools (
  agent_id text not null references public.agents (id) on update cascade on delete cascade,
  tool_id text not null references public.tools (id) on update cascade on delete cascade,
  position integer not null default 0,
  created_at timestamptz not null default now(),
  primary key (agent_id, tool_id)
);
create index agent_tools_tool_id_idx on public.agent_tools (tool_id);
comment on table public.agent_tools is 'Which tools each agent may call, in presentation order (position).';

create table public.settings (
  category text not null
    constraint settings_category_format check (category ~ '^[a-z][a-z0-9_]{0,62}$'),
  key text not null
    constraint settings_key_format check (key ~ '^[a-z][a-z0-9_]{0,62}$'),
  value jsonb not null,
  description text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (category, key)
);
comment on table public.settings is
  'Runtime settings as JSON values, read with get_setting(category, key, default). No secrets (use Vault).';

create trigger models_touch_updated_at before update on public.models
  for each row execute function private.touch_updated_at();
create trigger agents_touch_updated_at before update on public.agents
  for each row execute function private.touch_updated_at();
create trigger tools_touch_updated_at before update on public.tools
  for each row execute function private.touch_updated_at();
create trigger settings_touch_updated_at before update on public.settings
  for each row execute function private.touch_updated_at();

-- Row level security: readable by signed-in users, written by service_role (which bypasses RLS).
alter table public.models enable row level security;
alter table public.agents enable row level security;
alter table public.tools enable row level security;
alter table public.agent_tools enable row level security;
alter table public.settings enable row level security;

create policy "signed-in users can read models" on public.models
  for select to authenticated using (true);
create policy "signed-in users can read agents" on public.agents
  for select to authenticated using (true);
create policy "signed-in users can read tools" on public.tools
  for select to authenticated using (true);
create policy "signed-in users can read agent tools" on public.agent_tools
  for select to authenticated using (true);
create policy "signed-in users can read settings" on public.settings
  for select to authenticated using (true);

-- Privileges as a second line behind RLS: anon gets nothing, authenticated may only read.
revoke all on public.models, public.agents, public.tools, public.agent_tools, public.settings from anon;
revoke insert, update, delete, truncate, references, trigger
  on public.models, public.agents, public.tools, public.agent_tools, public.settings from authenticated;
grant select on public.models, public.agents, public.tools, public.agent_tools, public.settings to authenticated;
grant all on public.models, public.agents, public.tools, public.agent_tools, public.settings to service_role;

-- Defaults the memory core reads (seed.sql may add more; an operator may change the values).
insert into public.settings (category, key, value, description) values
  ('messages', 'max_content_bytes', '1048576',
   'Largest message content accepted, in bytes of UTF-8 (default 1 MiB).'),
  ('agent_states', 'max_state_bytes', '1048576',
   'Largest agent state accepted, in bytes of its JSON text (default 1 MiB).'),
  ('context', 'tokens_per_message', '4',
   'Tokens build_context adds per message for chat framing (role and separators), on top of its content.'),
  ('context', 'default_token_budget', '8000',
   'token_budget build_context uses when the call gives none and the thread''s agent has no context_token_budget.'),
  ('ttl', 'prune_schedule', '"* * * * *"',
   'pg_cron schedule of util.prune_expired(); apply a change with select util.schedule_prune_expired().'),
  ('ttl', 'prune_batch_size', '10000',
   'Most messages (and, separately, threads) one util.prune_expired() run deletes.')
on conflict (category, key) do nothing;
