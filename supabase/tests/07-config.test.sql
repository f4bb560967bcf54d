-- Configuration: get_setting with defaults, get_agent_config (agent + model with prices + ordered tools),
-- the seeded rows, and who may change configuration.
begin;
\ir helpers/test_helpers.psql
select plan(17);

select tests.create_supabase_user('alice');
select tests.authenticate_as('alice');

select is(get_setting('messages', 'max_content_bytes'), '1048576'::jsonb, 'the content limit defaults to 1 MiB');
select is(get_setting('context', 'tokens_per_message'), '4'::jsonb, 'build_context frames each message with 4 tokens by default');
select is(get_setting('nope', 'missing'), null, 'an unknown setting is null');
select is(get_setting('nope', 'missing', '{"fallback": true}'), '{"fallback": true}'::jsonb, 'an unknown setting returns the given default');
select is(get_setting('messages', 'max_content_bytes', '5'), '1048576'::jsonb, 'a set setting wins over the default');

select results_eq(
  $$ select (c).agent.id, (c).agent.system_prompt is not null, (c).model.id, (c).model.input_price_per_mtok,
            (c).model.output_price_per_mtok, (c).model.tokenizer
       from get_agent_config('assistant') c $$,
  $$ values ('assistant', true, 'gpt-4o-mini', 0.15::numeric(12,6), 0.60::numeric(12,6), 'o200k_base') $$,
  'get_agent_config returns the agent with its model and the model''s prices');
select is(
  (select array_agg(t.id order by o) from get_agent_config('researcher') c, unnest((c).tools) with ordinality as t(id, description, parameters, metadata, created_at, updated_at, o)),
  array['search_memory', 'web_search', 'get_current_time'], 'the agent''s tools come in their configured order');
select is((select cardinality((c).tools) from get_agent_config('assistant') c), 1, 'each agent gets only its own tools');
select throws_ok($$ select get_agent_config('ghost') $$, 'PT404', 'agent ''ghost'' not found', 'an unknown agent is not found');

-- seed
select ok((select count(*) >= 4 from models where input_price_per_mtok > 0 and output_price_per_mtok > 0),
  'the seed provides models with prices');
select ok(exists (select from memory_threads where owner_id = '00000000-0000-4000-8000-00000000d3e0') = false,
  'signed-in users do not see the demo user''s sample thread');
select tests.authenticate_as_service_role();
select results_eq(
  $$ select m.role::text from messages m where m.thread_id = '00000000-0000-4000-8000-0000000071e0' order by m.created_at, m.id $$,
  $$ values ('system'), ('user'), ('assistant'), ('tool'), ('assistant') $$,
  'the seed''s sample thread holds its messages in order');
select is((select owner_id from memory_threads where id = '00000000-0000-4000-8000-0000000071e0'),
  '00000000-0000-4000-8000-00000000d3e0'::uuid, 'the sample thread belongs to the demo user');

-- who may change configuration
select tests.authenticate_as('alice');
select throws_ok($$ update settings set value = '1' where category = 'messages' $$, '42501', null,
  'a signed-in user cannot change settings');
select throws_ok($$ insert into models (id, provider, display_name, context_window) values ('x', 'y', 'z', 1) $$, '42501', null,
  'a signed-in user cannot add models');
select throws_ok($$ delete from agents $$, '42501', null, 'a signed-in user cannot delete agents');
select tests.authenticate_as_service_role();
select lives_ok($$ update settings set value = '2048' where category = 'messages' and key = 'max_content_bytes' $$,
  'service_role can change settings');

select * from finish();
rollback;
