-- The search function's settings (category 'search'): the seeded rows, what a signed-in user may read,
-- and every kind of bad value refused with 22023 naming the setting — including a key written where the
-- NAME of an environment variable belongs, and a base URL carrying credentials.
begin;
\ir helpers/test_helpers.psql
select plan(21);

select tests.create_supabase_user('alice');

select results_eq(
  $$ select key, value from public.settings where category = 'search' order by key $$,
  $$ values ('chat_api_key_env', 'null'::jsonb), ('chat_base_url', 'null'), ('chat_max_tokens', '256'), ('chat_model', 'null'),
            ('provider_timeout_milliseconds', '10000'), ('rerank_api_key_env', 'null'), ('rerank_base_url', 'null'),
            ('rerank_model', 'null'), ('rerank_provider', 'null') $$,
  'every search setting is seeded, with rerank and chat off');

select tests.authenticate_as('alice');
select is((select count(*)::int from public.settings where category = 'search'), 9,
  'a signed-in user reads the search settings (the search function reads them as the caller)');
select throws_ok($$ update public.settings set value = '"cohere"' where category = 'search' and key = 'rerank_provider' $$,
  '42501', null, 'a signed-in user cannot change them');
select tests.authenticate_as_service_role();

-- accepted values
select lives_ok($$ update public.settings set value = '"cohere"' where category = 'search' and key = 'rerank_provider' $$,
  'a known rerank provider is accepted');
select lives_ok($$ update public.settings set value = '"http://127.0.0.1:8080/v2"' where category = 'search' and key = 'rerank_base_url' $$,
  'an http URL with a path is accepted');
select lives_ok($$ update public.settings set value = '"COHERE_PROD_KEY"' where category = 'search' and key = 'rerank_api_key_env' $$,
  'an environment variable name is accepted');
select lives_ok($$ update public.settings set value = 'null' where category = 'search' and key = 'rerank_provider' $$,
  'null switches the reranker off again');
select lives_ok($$ update public.settings set value = '4096' where category = 'search' and key = 'chat_max_tokens' $$,
  'chat_max_tokens at its maximum is accepted');

-- refused values
select throws_ok($$ update public.settings set value = '"openai"' where category = 'search' and key = 'rerank_provider' $$,
  '22023', 'setting search.rerank_provider must be cohere, jina, voyage, tei or null, got "openai"', 'an unknown rerank provider is refused');
select throws_ok($$ update public.settings set value = '3' where category = 'search' and key = 'rerank_provider' $$,
  '22023', 'setting search.rerank_provider must be a JSON string or null, got 3', 'a number where a string belongs is refused');
select throws_ok($$ update public.settings set value = '"sk-live-abc123"' where category = 'search' and key = 'chat_api_key_env' $$,
  '22023', 'setting search.chat_api_key_env must be the NAME of an environment variable (A-Z, 0-9, _), not the key itself',
  'an API key written where its variable name belongs is refused');
select throws_ok($$ update public.settings set value = '"https://user:secret@rerank.example.com/v1"' where category = 'search' and key = 'rerank_base_url' $$,
  '22023', null, 'a base URL with credentials is refused');
select throws_ok($$ update public.settings set value = '"https://api.example.com/v1?api_key=secret"' where category = 'search' and key = 'chat_base_url' $$,
  '22023', null, 'a base URL with a query string is refused');
select throws_ok($$ update public.settings set value = '"ftp://example.com"' where category = 'search' and key = 'chat_base_url' $$,
  '22023', null, 'a base URL that is not http(s) is refused');
select throws_ok($$ update public.settings set value = '""' where category = 'search' and key = 'chat_model' $$,
  '22023', 'setting search.chat_model must be a model id of 1 to 200 printable characters', 'an empty model id is refused');
select throws_ok($$ update public.settings set value = '99' where category = 'search' and key = 'provider_timeout_milliseconds' $$,
  '22023', 'setting search.provider_timeout_milliseconds must be a whole number between 100 and 120000, got 99',
  'a timeout below 100 ms is refused');
select throws_ok($$ update public.settings set value = '"500"' where category = 'search' and key = 'provider_timeout_milliseconds' $$,
  '22023', 'setting search.provider_timeout_milliseconds must be a whole number between 100 and 120000, got "500"',
  'a timeout given as a string is refused');
select throws_ok($$ update public.settings set value = '256.5' where category = 'search' and key = 'chat_max_tokens' $$,
  '22023', 'setting search.chat_max_tokens must be a whole number between 16 and 4096, got 256.5', 'a fractional token limit is refused');
select throws_ok($$ insert into public.settings (category, key, value) values ('search', 'rerank_providr', '"cohere"') $$,
  '22023', null, 'a misspelt setting is refused instead of being ignored');
select is(private.search_setting_error('rerank_providr', '"cohere"'),
  'unknown setting search.rerank_providr (known: rerank_provider, rerank_model, rerank_base_url, rerank_api_key_env, chat_model, chat_base_url, chat_api_key_env, chat_max_tokens, provider_timeout_milliseconds)',
  'the error for a misspelt setting lists the known ones');
select is((select value from public.settings where category = 'search' and key = 'provider_timeout_milliseconds'), '10000'::jsonb,
  'a refused write leaves the setting unchanged');

select * from finish();
rollback;
