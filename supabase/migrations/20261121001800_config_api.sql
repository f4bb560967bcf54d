-- The configuration API: get_setting (one setting with a fallback) and get_agent_config (an agent with its
-- model, prices included, and its tools in order). Security invoker over the config tables, which
-- signed-in users may read and anon may not.

-- An agent as a client needs it to run: the agent row, its model and the tools it may call.
create type public.agent_config as (
  agent public.agents,
  model public.models,
  tools public.tools[]
);
comment on type public.agent_config is 'An agent with its model (context window, tokenizer, prices) and its tools in order.';

-- get_setting(category, key, default) → jsonb
--   The setting's JSON value, or `default` (null unless given) when it is not set.
--   Callers: authenticated, service_role.
create or replace function public.get_setting(category text, key text, "default" jsonb default null)
returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  select coalesce(
    (select s.value from public.settings s where s.category = get_setting.category and s.key = get_setting.key),
    get_setting."default")
$$;
comment on function public.get_setting(text, text, jsonb) is 'A setting''s JSON value, or the given default when it is not set.';

-- get_agent_config(agent) → agent_config
--   The agent with id `agent`, its model and its tools (ordered by position, then id).
--   Errors: PT404 agent not found. Callers: authenticated, service_role.
create or replace function public.get_agent_config(agent text)
returns public.agent_config
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  result public.agent_config;
begin
  select a, m,
         coalesce((select array_agg(t order by at.position, t.id)
                     from public.agent_tools at
                     join public.tools t on t.id = at.tool_id
                    where at.agent_id = a.id), '{}')
    into result.agent, result.model, result.tools
    from public.agents a
    join public.models m on m.id = a.model_id
   where a.id = get_agent_config.agent;
  if not found then
    raise exception 'agent % not found', coalesce(quote_literal(get_agent_config.agent), 'null') using errcode = 'PT404';
  end if;
  return result;
end
$$;
comment on function public.get_agent_config(text) is 'An agent with its model (incl. prices) and ordered tools; PT404 when unknown.';

revoke all on function public.get_setting(text, text, jsonb), public.get_agent_config(text) from public, anon;
grant execute on function public.get_setting(text, text, jsonb), public.get_agent_config(text) to authenticated, service_role;
