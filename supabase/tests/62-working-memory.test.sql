-- Working memory: the user's document (scope resource) and a thread's (scope thread), JSON with an
-- optional JSON Schema or Markdown with a template; optimistic versions (PT409 on a stale one); every write
-- checked against the schema (22023 naming the JSON path), through the RPC and through the Data API alike,
-- with nothing written on error; an invalid schema refused when set; the format fixed at creation; the size
-- limit; row level security between users; and thread scope following the thread (PT404, cascade).
begin;
\ir helpers/test_helpers.psql
select plan(38);

select tests.create_supabase_user('alice');
select tests.create_supabase_user('bob');
select tests.authenticate_as('alice');
select set_config('test.t', (create_thread(name => 'wm')).id::text, true);

select is((select count(*)::int from get_working_memory()), 0, 'no working memory until one is written');

-- JSON with a schema
select is((update_working_memory(data => '{"name": "Alice", "city": "Paris"}',
  schema => '{"type": "object", "properties": {"name": {"type": "string"}, "city": {"type": "string"}}, "required": ["name"]}',
  expected_version => 0)).version, 1, 'creating with expected_version 0 gives version 1');
select is((select (w.format, w.scope, w.thread_id) from get_working_memory() w), row('json'::text, 'resource'::text, null::uuid),
  'a JSON document of the user (scope resource)');
select throws_ok($$ select update_working_memory(data => '{"name": "Alice", "city": 75}') $$, '22023',
  'data $.city: expected string, got number', 'data failing the schema is refused, naming the JSON path');
select throws_ok($$ select update_working_memory(data => '{"city": "Rome"}') $$, '22023',
  'data $: missing required property "name"', 'a missing required property is refused');
select is((select w.data from get_working_memory() w), '{"name": "Alice", "city": "Paris"}'::jsonb, 'refused writes wrote nothing');
select is((select w.version from get_working_memory() w), 1, 'and did not move the version');
select is((update_working_memory(data => '{"name": "Alice", "city": "Berlin"}', expected_version => 1)).version, 2,
  'a write based on the current version succeeds and increments it');
select throws_ok($$ select update_working_memory(data => '{"name": "A"}', expected_version => 1) $$, 'PT409',
  'working memory (scope resource) is at version 2, not the expected version 1', 'a stale version is a conflict (PT409)');
select throws_ok($$ select update_working_memory(data => '{"name": "A"}', expected_version => 0) $$, 'PT409',
  'working memory (scope resource) is at version 2, not the expected version 0', 'creating again is a conflict');
select is((update_working_memory(data => '{"name": "Alice", "city": "Lyon"}')).version, 3, 'no expected_version writes unconditionally');
select throws_ok($$ select update_working_memory(schema => '{"type": "object", "properties": {"city": {"type": "integer"}}}') $$, '22023',
  'data $.city: expected integer, got string', 'a new schema the stored document fails is refused');
select throws_ok($$ select update_working_memory(schema => '{"type": "object", "oneOf": []}') $$, '22023',
  'schema: keyword "oneOf" is not supported (supported: type, properties, required, additionalProperties, items, enum, const, minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength, maxLength, minItems, maxItems, pattern)',
  'an invalid schema is refused when it is set');
select is((update_working_memory(schema => '{}')).schema, null, 'the empty schema removes the schema');
select is((update_working_memory(data => '[1, 2, 3]')).data, '[1, 2, 3]'::jsonb, 'without a schema any JSON value is accepted');
select throws_ok($$ select update_working_memory(markdown => '# Notes') $$, '22023',
  'this working memory is json; pass data and/or schema (or delete it to start over in the other format)', 'the format cannot change');
select throws_ok($$ select update_working_memory(data => '{}', markdown => '# x') $$, '22023',
  'pass data and/or schema (a JSON working memory) or markdown and/or template (a Markdown one), not both', 'both formats at once are refused');
select throws_ok($$ select update_working_memory() $$, '22023', 'nothing to write: pass data, schema, markdown or template', 'an empty write is refused');
select throws_ok($$ select update_working_memory(scope => 'user', data => '{}') $$, '22023', 'scope must be resource or thread (got user)', 'an unknown scope');

-- Markdown per thread, from a template
select throws_ok($$ select update_working_memory(scope => 'thread', markdown => 'x') $$, '22023', 'thread_id is required for scope thread',
  'scope thread needs thread_id');
select throws_ok(format($$ select update_working_memory(thread_id => %L, markdown => 'x') $$, current_setting('test.t')), '22023',
  'thread_id applies to scope thread; scope resource is the user''s document in every thread', 'thread_id with scope resource is refused');
select is((update_working_memory(scope => 'thread', thread_id => current_setting('test.t')::uuid, template => E'# Trip\n- city:\n')).format,
  'markdown', 'a thread''s Markdown working memory from a template');
select is(private.working_memory_text((select w from get_working_memory('thread', current_setting('test.t')::uuid) w)), E'# Trip\n- city:\n',
  'until it is written, the template stands for the text');
select is((update_working_memory(scope => 'thread', thread_id => current_setting('test.t')::uuid, markdown => E'# Trip\n- city: Porto\n')).version,
  2, 'writing the Markdown is a new version');
select ok((select w.token_count > 0 from get_working_memory('thread', current_setting('test.t')::uuid) w), 'its token count is estimated');
select tests.authenticate_as_owner();
update public.settings set value = '64' where category = 'working_memory' and key = 'max_bytes';
select tests.authenticate_as('alice');
select throws_ok(format($$ select update_working_memory(scope => 'thread', thread_id => %L, markdown => repeat('x', 100)) $$, current_setting('test.t')),
  '22001', null, 'a document over working_memory.max_bytes is refused');

-- The Data API goes through the same checks
select throws_ok($$ update public.working_memory set schema = '{"type": "object"}' where scope = 'resource' $$, '22023',
  'data $: expected object, got array', 'a direct write through the Data API is checked the same way');
select throws_ok($$ update public.working_memory set format = 'markdown', data = null, markdown = 'x' where scope = 'resource' $$, '22023',
  'a working memory''s scope, thread_id, owner_id and format cannot be changed', 'nor can it change the format');

-- Other users
select tests.authenticate_as('bob');
select is((select count(*)::int from public.working_memory), 0, 'Bob sees none of Alice''s working memory');
select is((select count(*)::int from get_working_memory()), 0, 'and has his own (none yet)');
select throws_ok(format($$ select * from get_working_memory('thread', %L) $$, current_setting('test.t')), 'PT404',
  format('thread %s not found', current_setting('test.t')), 'Alice''s thread is not found for Bob');
select throws_ok(format($$ select update_working_memory(scope => 'thread', thread_id => %L, markdown => 'x') $$, current_setting('test.t')),
  'PT404', format('thread %s not found', current_setting('test.t')), 'nor can he write its working memory');
select is((update_working_memory(data => '{"me": "bob"}')).owner_id, tests.get_supabase_uid('bob'), 'Bob''s own document is his');
select tests.clear_authentication();
select throws_ok($$ select * from get_working_memory() $$, '42501', null, 'anon may not call it');

-- service_role names the owner
select tests.authenticate_as_service_role();
select is((select w.data from get_working_memory(owner_id => tests.get_supabase_uid('bob')) w), '{"me": "bob"}'::jsonb,
  'service_role reads a user''s document by owner_id');
select throws_ok($$ select * from get_working_memory() $$, '22023', 'owner_id is required when no user is signed in',
  'and must name the owner for scope resource');
select tests.authenticate_as('alice');
select lives_ok(format($$ select delete_thread(%L) $$, current_setting('test.t')), 'deleting the thread');
select is((select count(*)::int from public.working_memory where scope = 'thread'), 0, 'deletes its working memory too');

select * from finish();
rollback;
