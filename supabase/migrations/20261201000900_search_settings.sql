-- Settings of the `search` Edge Function (public.settings, category 'search'): which reranker and which
-- chat model (for HyDE and query expansion) it calls, and how long it waits for them. The function reads
-- these rows as the caller on every request (signed-in users may read settings), so a change applies to
-- the next search without a redeploy. A step whose provider is not configured is skipped and the search
-- still answers; the response says so.
--
--   rerank_provider      null (no reranking) | 'cohere' | 'jina' | 'voyage' | 'tei'
--   rerank_model         provider's model id ('rerank-v3.5', 'jina-reranker-v2-base-multilingual',
--                        'rerank-2' …); TEI serves one model and ignores it
--   rerank_base_url      null: the provider's public API (Cohere https://api.cohere.com/v2, Jina
--                        https://api.jina.ai/v1, Voyage https://api.voyageai.com/v1); required for TEI.
--                        The function POSTs to <base_url>/rerank.
--   rerank_api_key_env   NAME of the environment variable holding the key (default COHERE_API_KEY,
--                        JINA_API_KEY, VOYAGE_API_KEY; none for TEI)
--   chat_model           null (no HyDE / expansion) | an OpenAI-compatible chat model id
--   chat_base_url        null: https://api.openai.com/v1; any OpenAI-compatible server (Ollama, vLLM,
--                        LiteLLM …). The function POSTs to <base_url>/chat/completions.
--   chat_api_key_env     NAME of the environment variable holding the key (default OPENAI_API_KEY)
--   chat_max_tokens      most tokens the chat model may write per call (16..4096, default 256)
--   provider_timeout_milliseconds  how long the function waits for any provider call — embedding,
--                        chat, rerank (100..120000, default 10000)
--
-- Secrets never live here: keys are given by the NAME of an environment variable (supabase/functions/.env
-- locally, `supabase secrets set` on hosted), and base URLs may not carry credentials or a query string.
-- A write with an unknown key, a value of the wrong type or out of range is refused with 22023 naming the
-- setting (trigger below), so a typo cannot silently switch a step off.

insert into public.settings (category, key, value, description) values
  ('search', 'rerank_provider', 'null', 'Reranker of the search function: null (off), cohere, jina, voyage or tei.'),
  ('search', 'rerank_model', 'null', 'Model id sent to the reranker (not used by tei).'),
  ('search', 'rerank_base_url', 'null', 'Base URL of the rerank API (POST <base>/rerank); null: the provider''s public API. Required for tei.'),
  ('search', 'rerank_api_key_env', 'null', 'NAME of the environment variable with the reranker''s key; null: the provider''s usual name.'),
  ('search', 'chat_model', 'null', 'OpenAI-compatible chat model for HyDE and query expansion; null turns both off.'),
  ('search', 'chat_base_url', 'null', 'Base URL of the chat API (POST <base>/chat/completions); null: https://api.openai.com/v1.'),
  ('search', 'chat_api_key_env', 'null', 'NAME of the environment variable with the chat API key; null: OPENAI_API_KEY.'),
  ('search', 'chat_max_tokens', '256', 'Most tokens the chat model may write for HyDE or expansion (16..4096).'),
  ('search', 'provider_timeout_milliseconds', '10000', 'How long the search function waits for an embedding, chat or rerank call (100..120000).')
on conflict (category, key) do nothing;

-- private.search_setting_error(key text, value jsonb) → text
--   Why `value` is not acceptable for setting search.<key>, or null when it is. Immutable; used by the
--   trigger below and by tests.
create or replace function private.search_setting_error(key text, value jsonb)
returns text
language plpgsql
immutable
security invoker
set search_path = ''
as $$
declare
  known constant text[] := array['rerank_provider', 'rerank_model', 'rerank_base_url', 'rerank_api_key_env', 'chat_model',
                                 'chat_base_url', 'chat_api_key_env', 'chat_max_tokens', 'provider_timeout_milliseconds'];
  kind text := jsonb_typeof(value);
  s text := value #>> '{}';
  lo integer;
  hi integer;
begin
  if key is null or key <> all (known) then
    return format('unknown setting search.%s (known: %s)', coalesce(key, 'null'), array_to_string(known, ', '));
  end if;
  if key in ('chat_max_tokens', 'provider_timeout_milliseconds') then
    lo := case key when 'chat_max_tokens' then 16 else 100 end;
    hi := case key when 'chat_max_tokens' then 4096 else 120000 end;
    -- Nested, not `or`: SQL does not promise to test the type before the cast.
    if kind is distinct from 'number' then
      return format('setting search.%s must be a whole number between %s and %s, got %s', key, lo, hi, coalesce(value::text, 'null'));
    end if;
    if s::numeric <> trunc(s::numeric) or s::numeric not between lo and hi then
      return format('setting search.%s must be a whole number between %s and %s, got %s', key, lo, hi, value::text);
    end if;
    return null;
  end if;
  -- Every other setting may be JSON null (unset) or a string.
  if kind = 'null' then
    return null;
  end if;
  if kind is distinct from 'string' then
    return format('setting search.%s must be a JSON string or null, got %s', key, coalesce(value::text, 'null'));
  end if;
  case key
    when 'rerank_provider' then
      if s not in ('cohere', 'jina', 'voyage', 'tei') then
        return format('setting search.rerank_provider must be cohere, jina, voyage, tei or null, got %s', value::text);
      end if;
    when 'rerank_model', 'chat_model' then
      if char_length(s) not between 1 and 200 or s ~ '[[:cntrl:]]' then
        return format('setting search.%s must be a model id of 1 to 200 printable characters', key);
      end if;
    when 'rerank_base_url', 'chat_base_url' then
      -- No user:password@ and no ?query: a key must never end up in the settings table.
      if char_length(s) > 2048 or s !~* '^https?://[^\s/?#@]+(/[^\s?#@]*)?$' then
        return format('setting search.%s must be an http(s) URL without credentials, query or fragment (got %s)', key,
                      left(s, 200));
      end if;
    when 'rerank_api_key_env', 'chat_api_key_env' then
      if s !~ '^[A-Z_][A-Z0-9_]{0,99}$' then
        return format('setting search.%s must be the NAME of an environment variable (A-Z, 0-9, _), not the key itself', key);
      end if;
  end case;
  return null;
end
$$;
revoke all on function private.search_setting_error(text, jsonb) from public, anon, authenticated;
grant execute on function private.search_setting_error(text, jsonb) to service_role;

-- private.search_settings_check() → trigger
--   BEFORE INSERT OR UPDATE row trigger on public.settings for category 'search': refuses the write with
--   22023 and the reason from private.search_setting_error. Security definer so the check runs whoever
--   writes (service_role, postgres).
create or replace function private.search_settings_check()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  problem text := private.search_setting_error(new.key, new.value);
begin
  if problem is not null then
    raise exception '%', problem using errcode = '22023',
      hint = 'The search function''s settings are described in supabase/migrations/20261201000900_search_settings.sql.';
  end if;
  return new;
end
$$;
revoke all on function private.search_settings_check() from public, anon, authenticated;

create trigger settings_search_check before insert or update on public.settings
  for each row when (new.category = 'search') execute function private.search_settings_check();
