-- The long-term memory settings (categories memory_jobs, summaries, memories, working_memory): the seeded
-- defaults (both features off), who may read and write them, and every kind of bad value refused with
-- 22023 naming the setting — out of range, wrong type, unknown key, a model that is not in public.models,
-- a key where the NAME of an environment variable belongs, a URL with credentials, and settings that
-- contradict each other. A refused write changes nothing; a new schedule reschedules the cron job.
begin;
\ir helpers/test_helpers.psql
select plan(27);

select tests.create_supabase_user('alice');
insert into public.models (id, provider, display_name, context_window) values ('test-summarizer', 'openai', 'Test', 8000);

select is(util.long_term_settings() #> '{summaries,enabled}', 'false'::jsonb, 'summarization is off by default');
select is(util.long_term_settings() #> '{memories,extraction_enabled}', 'false'::jsonb, 'extraction is off by default');
select is(util.long_term_settings() #> '{summaries,threshold_tokens}', '4000'::jsonb, 'the summary threshold defaults to 4,000 tokens');
select is(util.long_term_settings() #> '{summaries,model}', 'null'::jsonb, 'no summary model by default: the extractive summarizer');
select results_eq($$ select schedule, command from cron.job where jobname = 'process-memory-jobs' $$,
  $$ values ('5 seconds'::text, 'select util.process_memory_jobs()'::text) $$, 'the cron job runs the memory queues every 5 seconds');

select tests.authenticate_as('alice');
select is((select count(*)::int from public.settings where category = 'summaries'), 10, 'a signed-in user reads the summary settings');
select throws_ok($$ update public.settings set value = 'true' where category = 'summaries' and key = 'enabled' $$,
  '42501', null, 'a signed-in user cannot change them');
select tests.authenticate_as_service_role();

-- accepted values
select lives_ok($$ update public.settings set value = 'true' where category = 'summaries' and key = 'enabled' $$,
  'summarization can be turned on');
select lives_ok($$ update public.settings set value = '"test-summarizer"' where category = 'summaries' and key = 'model' $$,
  'a model of public.models is accepted');
select lives_ok($$ update public.settings set value = '"http://127.0.0.1:11434/v1"' where category = 'summaries' and key = 'base_url' $$,
  'an OpenAI-compatible base URL is accepted');
select lives_ok($$
  update public.settings set value = '50' where category = 'summaries' and key = 'keep_recent_tokens';
  update public.settings set value = '100' where category = 'summaries' and key = 'threshold_tokens' $$,
  'the smallest threshold is accepted once keep_recent_tokens is below it');

-- refused values
select throws_ok($$ update public.settings set value = '5' where category = 'summaries' and key = 'threshold_tokens' $$,
  '22023', 'setting summaries.threshold_tokens must be a whole number between 100 and 1000000, got 5',
  'a threshold below its range is refused, naming the setting');
select throws_ok($$ update public.settings set value = '2000000' where category = 'summaries' and key = 'threshold_tokens' $$,
  '22023', 'setting summaries.threshold_tokens must be a whole number between 100 and 1000000, got 2000000',
  'a threshold above its range is refused');
select throws_ok($$ update public.settings set value = '150.5' where category = 'summaries' and key = 'threshold_tokens' $$,
  '22023', 'setting summaries.threshold_tokens must be a whole number between 100 and 1000000, got 150.5',
  'a fractional threshold is refused');
select throws_ok($$ update public.settings set value = '"4000"' where category = 'summaries' and key = 'threshold_tokens' $$,
  '22023', 'setting summaries.threshold_tokens must be a whole number between 100 and 1000000, got "4000"',
  'a threshold given as a string is refused');
select throws_ok($$ update public.settings set value = '200' where category = 'summaries' and key = 'keep_recent_tokens' $$,
  '22023', 'setting summaries.keep_recent_tokens (200) must be below summaries.threshold_tokens (100)',
  'a recent tail as large as the threshold is refused (nothing could ever be summarized)');
select throws_ok($$ update public.settings set value = '"gpt-9"' where category = 'summaries' and key = 'model' $$,
  '22023', 'setting summaries.model names the model "gpt-9", which is not in public.models (add it there first)',
  'a model that is not in public.models is refused');
select throws_ok($$ update public.settings set value = '"sk-live-123"' where category = 'memories' and key = 'api_key_env' $$,
  '22023', 'setting memories.api_key_env must be the NAME of an environment variable (A-Z, 0-9, _), not the key itself',
  'a key where the name of an environment variable belongs is refused');
select throws_ok($$ update public.settings set value = '"https://user:secret@api.example.com/v1"' where category = 'memories' and key = 'base_url' $$,
  '22023', 'setting memories.base_url must be an http(s) URL without credentials, query or fragment, or null (got "https://user:secret@api.example.com/v1")',
  'a base URL carrying credentials is refused');
select throws_ok($$ update public.settings set value = '"yes"' where category = 'summaries' and key = 'enabled' $$,
  '22023', 'setting summaries.enabled must be true or false, got "yes"', 'a flag that is not a boolean is refused');
select throws_like($$ insert into public.settings (category, key, value) values ('summaries', 'threshold', '500') $$,
  'unknown setting summaries.threshold (known: enabled, threshold_tokens, %', 'an unknown key is refused, listing the known ones');
select throws_ok($$ update public.settings set value = '"sometimes"' where category = 'memory_jobs' and key = 'schedule' $$,
  '22023', 'setting memory_jobs.schedule must be a pg_cron schedule such as "5 seconds" (1-59) or a 5-field cron expression, got "sometimes"',
  'a schedule pg_cron cannot run is refused');
select throws_ok($$ update public.settings set value = '300000' where category = 'summaries' and key = 'provider_timeout_milliseconds' $$,
  '22023', 'setting summaries.provider_timeout_milliseconds (300000 ms) must be shorter than memory_jobs.visibility_timeout_seconds (300 s)',
  'a provider timeout as long as the visibility timeout is refused (a job would be taken twice)');
select throws_ok($$ update public.settings set value = '1.5' where category = 'memories' and key = 'context_budget_share' $$,
  '22023', 'setting memories.context_budget_share must be a number between 0 and 1, got 1.5', 'a budget share above 1 is refused');

select is((select jsonb_object_agg(key, value) from public.settings where category = 'summaries' and key in ('threshold_tokens', 'keep_recent_tokens')),
  '{"threshold_tokens": 100, "keep_recent_tokens": 50}'::jsonb, 'refused writes changed nothing');

select lives_ok($$ update public.settings set value = '"2 seconds"' where category = 'memory_jobs' and key = 'schedule' $$,
  'a valid schedule is accepted');
select tests.authenticate_as_owner();
select is((select schedule from cron.job where jobname = 'process-memory-jobs'), '2 seconds', 'and the cron job is rescheduled');

select * from finish();
rollback;
