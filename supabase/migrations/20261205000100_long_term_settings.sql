-- Settings of long-term memory (public.settings), validated on every write so a bad value never reaches a
-- job: a value outside its range, of the wrong type, or an unknown key is refused with 22023 naming the
-- setting (e.g. "setting summaries.threshold_tokens must be a whole number between 100 and 1000000, got 5").
--
--   memory_jobs   the durable job plumbing shared by the summary and extraction queues (cron schedule,
--                 batch size, attempts, visibility timeout, backoff, pg_net timeout)
--   summaries     incremental thread summarization: on/off, the unsummarized-token threshold, how many
--                 recent tokens stay verbatim, the chat model (a row of public.models) and its prompt,
--                 or none for the offline extractive summarizer
--   memories      fact extraction: on/off, every how many new messages, the chat model and prompts, how
--                 many existing memories a candidate is matched against, build_context's share for them
--   working_memory  the size limit of a working-memory document
--
-- Both features are off by default (summaries.enabled, memories.extraction_enabled): turning them on
-- changes what build_context returns for long threads (the summary replaces the messages it covers) and,
-- with a model configured, costs provider calls. Keys of the chat API are never stored here: *_api_key_env
-- names an environment variable of the Edge Functions (supabase/functions/.env, `supabase secrets set`).

insert into public.settings (category, key, value, description) values
  ('memory_jobs', 'schedule', '"5 seconds"',
   'pg_cron schedule of util.process_memory_jobs() (''N seconds'' or 5-field cron); a change reschedules it.'),
  ('memory_jobs', 'batch_size', '10', 'Jobs one summarize / extract-memories request reads from its queue (1..100).'),
  ('memory_jobs', 'max_requests', '4', 'Most requests per queue one util.process_memory_jobs() run sends (1..20).'),
  ('memory_jobs', 'max_attempts', '5', 'Attempts before a job is dead-lettered into memory_job_failures (1..100).'),
  ('memory_jobs', 'visibility_timeout_seconds', '300',
   'How long a job read by a worker stays invisible before another worker may take it (10..43200).'),
  ('memory_jobs', 'backoff_base_seconds', '5', 'Retry delay after the first failed attempt; doubles per attempt, with jitter (0..3600).'),
  ('memory_jobs', 'backoff_max_seconds', '600', 'Longest retry delay (0..86400).'),
  ('memory_jobs', 'request_timeout_milliseconds', '300000', 'pg_net timeout of each call to a memory worker function (1000..3600000).'),

  ('summaries', 'enabled', 'false', 'Summarize threads automatically once their unsummarized tokens pass threshold_tokens.'),
  ('summaries', 'threshold_tokens', '4000',
   'Unsummarized tokens (messages after summary_through, system messages excluded) that queue a summary job (100..1000000).'),
  ('summaries', 'keep_recent_tokens', '1000',
   'Tokens of the newest messages left out of the summary so build_context keeps them verbatim (0..1000000, below threshold_tokens).'),
  ('summaries', 'max_input_tokens', '8000', 'Most tokens of new messages one summarization step reads (200..1000000).'),
  ('summaries', 'max_summary_tokens', '800', 'Longest summary, in tokens of the thread''s model tokenizer (20..16000).'),
  ('summaries', 'model', 'null',
   'id of a public.models row to summarize with through an OpenAI-compatible chat API; null: the offline extractive summarizer.'),
  ('summaries', 'base_url', 'null', 'Base URL of the chat API (POST <base>/chat/completions); null: https://api.openai.com/v1.'),
  ('summaries', 'api_key_env', 'null', 'NAME of the environment variable with the chat API key; null: OPENAI_API_KEY.'),
  ('summaries', 'prompt',
   to_jsonb('You maintain the running summary of a conversation. You get the current summary (possibly empty) '
     || 'and the messages that came after it. Write the new summary: the current one extended with what the new '
     || 'messages add — facts about the user, decisions, open questions, commitments, names, numbers and dates. '
     || 'Keep what is still relevant, drop small talk, never invent anything. Write plain prose in the third '
     || 'person, no preamble, no headings.'::text),
   'System prompt of the summarization call (1..20000 characters).'),
  ('summaries', 'provider_timeout_milliseconds', '60000',
   'How long the summarize function waits for the chat API (100..3600000; below memory_jobs.visibility_timeout_seconds).'),

  ('memories', 'extraction_enabled', 'false',
   'Extract long-term memories (facts, preferences, events) from threads every extract_every_messages messages; needs memories.model.'),
  ('memories', 'extract_every_messages', '10', 'New user/assistant messages in a thread that queue an extraction job (1..10000).'),
  ('memories', 'max_input_tokens', '6000', 'Most tokens of new messages one extraction job reads (200..1000000).'),
  ('memories', 'model', 'null', 'id of a public.models row used through an OpenAI-compatible chat API; null turns extraction off.'),
  ('memories', 'base_url', 'null', 'Base URL of the chat API (POST <base>/chat/completions); null: https://api.openai.com/v1.'),
  ('memories', 'api_key_env', 'null', 'NAME of the environment variable with the chat API key; null: OPENAI_API_KEY.'),
  ('memories', 'extraction_prompt',
   to_jsonb('You extract long-term memories about the user from a conversation: stable facts (where they live, '
     || 'their job, family, possessions), preferences (likes, dislikes, how they want to be helped) and events '
     || '(things that happened or are planned, with dates when given). Only what the user says about themselves '
     || 'or confirms; nothing about the assistant; no small talk; nothing already implied by another item. Each '
     || 'memory is one short self-contained sentence in the third person ("Lives in Paris."). Answer with JSON '
     || 'only, exactly {"memories": [{"kind": "fact" | "preference" | "event", "content": "...", "sources": '
     || '[message numbers]}]}; {"memories": []} when there is nothing to remember.'::text),
   'System prompt of the extraction call (1..20000 characters); the answer must be the JSON it describes.'),
  ('memories', 'decision_prompt',
   to_jsonb('You keep a user''s long-term memories consistent. For each new memory you get the existing memories '
     || 'most similar to it. Decide per new memory: "add" when it is new information, "update" when it replaces '
     || 'or corrects one existing memory (give that memory''s id; the old one is kept as history), "none" when '
     || 'an existing memory already says the same. Answer with JSON only, exactly {"decisions": [{"candidate": '
     || '<number>, "action": "add" | "update" | "none", "memory_id": "<id, for update and none>"}]} with one '
     || 'decision per new memory.'::text),
   'System prompt of the call that decides add / update / none for candidates with similar memories (1..20000 characters).'),
  ('memories', 'max_candidates', '20', 'Most candidate memories one extraction job keeps from the model''s answer (1..100).'),
  ('memories', 'match_count', '5', 'Existing memories each candidate is matched against by hybrid search (1..20).'),
  ('memories', 'max_output_tokens', '1000', 'Most tokens the chat model may write per extraction or decision call (16..16000).'),
  ('memories', 'provider_timeout_milliseconds', '60000',
   'How long the extract-memories function waits for the chat API (100..3600000; below memory_jobs.visibility_timeout_seconds).'),
  ('memories', 'context_budget_share', '0.1',
   'Share of build_context''s token budget kept for long-term memories when they are asked for (0..1).'),

  ('working_memory', 'max_bytes', '65536', 'Largest working-memory document (JSON text or Markdown), in bytes (1..10485760).')
on conflict (category, key) do nothing;

-- private.long_term_setting_error(category text, key text, value jsonb) → text
--   Why `value` is not acceptable for setting <category>.<key>, or null when it is. Categories memory_jobs,
--   summaries, memories and working_memory; any other category → null (not ours). Stable (a model id is
--   checked against public.models). Used by the settings trigger below and by tests.
create or replace function private.long_term_setting_error(category text, key text, value jsonb)
returns text
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  spec record;
  kind text := jsonb_typeof(value);
  s text := value #>> '{}';
  n numeric;
  name text := category || '.' || key;
begin
  if category is null or category not in ('memory_jobs', 'summaries', 'memories', 'working_memory') then
    return null;
  end if;
  select * into spec from (values
    ('memory_jobs', 'schedule', 'schedule', null::numeric, null::numeric),
    ('memory_jobs', 'batch_size', 'int', 1, 100),
    ('memory_jobs', 'max_requests', 'int', 1, 20),
    ('memory_jobs', 'max_attempts', 'int', 1, 100),
    ('memory_jobs', 'visibility_timeout_seconds', 'int', 10, 43200),
    ('memory_jobs', 'backoff_base_seconds', 'number', 0, 3600),
    ('memory_jobs', 'backoff_max_seconds', 'number', 0, 86400),
    ('memory_jobs', 'request_timeout_milliseconds', 'int', 1000, 3600000),
    ('summaries', 'enabled', 'boolean', null, null),
    ('summaries', 'threshold_tokens', 'int', 100, 1000000),
    ('summaries', 'keep_recent_tokens', 'int', 0, 1000000),
    ('summaries', 'max_input_tokens', 'int', 200, 1000000),
    ('summaries', 'max_summary_tokens', 'int', 20, 16000),
    ('summaries', 'model', 'model', null, null),
    ('summaries', 'base_url', 'url', null, null),
    ('summaries', 'api_key_env', 'env', null, null),
    ('summaries', 'prompt', 'text', 1, 20000),
    ('summaries', 'provider_timeout_milliseconds', 'int', 100, 3600000),
    ('memories', 'extraction_enabled', 'boolean', null, null),
    ('memories', 'extract_every_messages', 'int', 1, 10000),
    ('memories', 'max_input_tokens', 'int', 200, 1000000),
    ('memories', 'model', 'model', null, null),
    ('memories', 'base_url', 'url', null, null),
    ('memories', 'api_key_env', 'env', null, null),
    ('memories', 'extraction_prompt', 'text', 1, 20000),
    ('memories', 'decision_prompt', 'text', 1, 20000),
    ('memories', 'max_candidates', 'int', 1, 100),
    ('memories', 'match_count', 'int', 1, 20),
    ('memories', 'max_output_tokens', 'int', 16, 16000),
    ('memories', 'provider_timeout_milliseconds', 'int', 100, 3600000),
    ('memories', 'context_budget_share', 'number', 0, 1),
    ('working_memory', 'max_bytes', 'int', 1, 10485760)
  ) as x(category, key, kind, lo, hi)
  where x.category = long_term_setting_error.category and x.key = long_term_setting_error.key;
  if not found then
    return format('unknown setting %s (known: %s)', name,
      case category
        when 'memory_jobs' then 'schedule, batch_size, max_requests, max_attempts, visibility_timeout_seconds, backoff_base_seconds, backoff_max_seconds, request_timeout_milliseconds'
        when 'summaries' then 'enabled, threshold_tokens, keep_recent_tokens, max_input_tokens, max_summary_tokens, model, base_url, api_key_env, prompt, provider_timeout_milliseconds'
        when 'memories' then 'extraction_enabled, extract_every_messages, max_input_tokens, model, base_url, api_key_env, extraction_prompt, decision_prompt, max_candidates, match_count, max_output_tokens, provider_timeout_milliseconds, context_budget_share'
        else 'max_bytes' end);
  end if;
  case spec.kind
    when 'int', 'number' then
      -- Nested, not `or`: SQL does not promise to test the type before the cast.
      if kind is distinct from 'number' then
        return format('setting %s must be %s between %s and %s, got %s', name,
          case spec.kind when 'int' then 'a whole number' else 'a number' end, spec.lo, spec.hi, coalesce(value::text, 'null'));
      end if;
      n := s::numeric;
      if n not between spec.lo and spec.hi or (spec.kind = 'int' and n <> trunc(n)) then
        return format('setting %s must be %s between %s and %s, got %s', name,
          case spec.kind when 'int' then 'a whole number' else 'a number' end, spec.lo, spec.hi, value::text);
      end if;
    when 'boolean' then
      if kind is distinct from 'boolean' then
        return format('setting %s must be true or false, got %s', name, coalesce(value::text, 'null'));
      end if;
    when 'schedule' then
      if kind is distinct from 'string' or (s !~ '^\s*[1-9][0-9]? seconds?\s*$' and array_length(regexp_split_to_array(trim(s), '\s+'), 1) <> 5) then
        return format('setting %s must be a pg_cron schedule such as "5 seconds" (1-59) or a 5-field cron expression, got %s',
          name, coalesce(value::text, 'null'));
      end if;
    when 'text' then
      if kind is distinct from 'string' or char_length(s) not between spec.lo and spec.hi or s !~ '\S' then
        return format('setting %s must be a non-empty string of at most %s characters', name, spec.hi);
      end if;
    when 'model' then
      if kind = 'null' then
        return null;
      end if;
      if kind is distinct from 'string' then
        return format('setting %s must be the id of a public.models row, or null, got %s', name, coalesce(value::text, 'null'));
      end if;
      if not exists (select from public.models m where m.id = s) then
        return format('setting %s names the model %s, which is not in public.models (add it there first)', name, value::text);
      end if;
    when 'url' then
      if kind = 'null' then
        return null;
      end if;
      -- No user:password@ and no ?query: a key must never end up in the settings table.
      if kind is distinct from 'string' or char_length(s) > 2048 or s !~* '^https?://[^\s/?#@]+(/[^\s?#@]*)?$' then
        return format('setting %s must be an http(s) URL without credentials, query or fragment, or null (got %s)', name,
          left(coalesce(value::text, 'null'), 200));
      end if;
    when 'env' then
      if kind = 'null' then
        return null;
      end if;
      if kind is distinct from 'string' or s !~ '^[A-Z_][A-Z0-9_]{0,99}$' then
        return format('setting %s must be the NAME of an environment variable (A-Z, 0-9, _), not the key itself', name);
      end if;
  end case;
  return null;
end
$$;
revoke all on function private.long_term_setting_error(text, text, jsonb) from public, anon, authenticated;
grant execute on function private.long_term_setting_error(text, text, jsonb) to service_role;

-- util.long_term_settings() → jsonb
--   Every long-term-memory setting with its default filled in, as {memory_jobs: {...}, summaries: {...},
--   memories: {...}, working_memory: {...}}. Checks each value (private.long_term_setting_error) and the
--   rules that tie settings together: keep_recent_tokens below threshold_tokens, and each provider timeout
--   shorter than the visibility timeout (else a job becomes visible again, and is taken twice, while its
--   call is still running). Raises 22023 naming the setting. Security definer: jobs and triggers read it
--   whatever role they run as. Callers: the worker functions, util plumbing, service_role.
create or replace function util.long_term_settings()
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  defaults constant jsonb := jsonb_build_object(
    'memory_jobs', jsonb_build_object('schedule', '5 seconds', 'batch_size', 10, 'max_requests', 4, 'max_attempts', 5,
      'visibility_timeout_seconds', 300, 'backoff_base_seconds', 5, 'backoff_max_seconds', 600,
      'request_timeout_milliseconds', 300000),
    'summaries', jsonb_build_object('enabled', false, 'threshold_tokens', 4000, 'keep_recent_tokens', 1000,
      'max_input_tokens', 8000, 'max_summary_tokens', 800, 'model', null, 'base_url', null, 'api_key_env', null,
      'prompt', 'Summarize the conversation.', 'provider_timeout_milliseconds', 60000),
    'memories', jsonb_build_object('extraction_enabled', false, 'extract_every_messages', 10, 'max_input_tokens', 6000,
      'model', null, 'base_url', null, 'api_key_env', null, 'extraction_prompt', 'Extract memories as JSON.',
      'decision_prompt', 'Decide add, update or none as JSON.', 'max_candidates', 20, 'match_count', 5,
      'max_output_tokens', 1000, 'provider_timeout_milliseconds', 60000, 'context_budget_share', 0.1),
    'working_memory', jsonb_build_object('max_bytes', 65536));
  result jsonb := defaults;
  r record;
  problem text;
  vt_ms numeric;
begin
  for r in select s.category, s.key, s.value from public.settings s
            where s.category in ('memory_jobs', 'summaries', 'memories', 'working_memory')
            order by s.category, s.key
  loop
    problem := private.long_term_setting_error(r.category, r.key, r.value);
    if problem is not null then
      raise exception '%', problem using errcode = '22023',
        hint = 'The long-term memory settings are described in supabase/migrations/20261205000100_long_term_settings.sql.';
    end if;
    result := jsonb_set(result, array[r.category, r.key], r.value);
  end loop;
  if (result #>> '{summaries,keep_recent_tokens}')::numeric >= (result #>> '{summaries,threshold_tokens}')::numeric then
    raise exception 'setting summaries.keep_recent_tokens (%) must be below summaries.threshold_tokens (%)',
      result #>> '{summaries,keep_recent_tokens}', result #>> '{summaries,threshold_tokens}'
      using errcode = '22023', hint = 'Otherwise a summary job could never find anything old enough to summarize.';
  end if;
  vt_ms := (result #>> '{memory_jobs,visibility_timeout_seconds}')::numeric * 1000;
  foreach problem in array array['summaries', 'memories'] loop
    if (result -> problem ->> 'provider_timeout_milliseconds')::numeric >= vt_ms then
      raise exception 'setting %.provider_timeout_milliseconds (% ms) must be shorter than memory_jobs.visibility_timeout_seconds (% s)',
        problem, result -> problem ->> 'provider_timeout_milliseconds', result #>> '{memory_jobs,visibility_timeout_seconds}'
        using errcode = '22023',
              hint = 'Otherwise a job becomes visible again, and is taken twice, while its provider call is still running.';
    end if;
  end loop;
  return result;
end
$$;
revoke all on function util.long_term_settings() from public, anon, authenticated;
grant execute on function util.long_term_settings() to service_role;

-- private.long_term_settings_check() → trigger
--   BEFORE INSERT OR UPDATE row trigger on public.settings for the long-term categories: refuses a bad
--   value with 22023 and the reason (naming the setting). Security definer so the check runs whoever writes.
create or replace function private.long_term_settings_check()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  problem text := private.long_term_setting_error(new.category, new.key, new.value);
begin
  if problem is not null then
    raise exception '%', problem using errcode = '22023',
      hint = 'The long-term memory settings are described in supabase/migrations/20261205000100_long_term_settings.sql.';
  end if;
  return new;
end
$$;
revoke all on function private.long_term_settings_check() from public, anon, authenticated;

create trigger settings_long_term_check before insert or update on public.settings
  for each row when (new.category in ('memory_jobs', 'summaries', 'memories', 'working_memory'))
  execute function private.long_term_settings_check();

-- private.long_term_settings_changed() → trigger
--   AFTER INSERT OR UPDATE row trigger for the same categories: checks the settings together
--   (util.long_term_settings raises 22023 when two of them contradict each other). The memory-jobs
--   migration extends it to reschedule the cron job when memory_jobs.schedule changes.
create or replace function private.long_term_settings_changed()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform util.long_term_settings();
  return null;
end
$$;
revoke all on function private.long_term_settings_changed() from public, anon, authenticated;

create trigger settings_long_term_changed after insert or update on public.settings
  for each row when (new.category in ('memory_jobs', 'summaries', 'memories', 'working_memory'))
  execute function private.long_term_settings_changed();
