-- The message API: save_message / save_messages (validation, all-or-nothing batches, strict order within
-- a thread even for one statement, token estimates vs exact counts, size limit from settings) and
-- load_messages (keyset pages in both directions, cursors, bad input).
begin;
\ir helpers/test_helpers.psql
select plan(60);

select tests.create_supabase_user('alice');
select tests.authenticate_as('alice');
select set_config('test.t', (create_thread(agent_id => 'assistant')).id::text, true);

-- save_message
select results_eq(
  $$ select role::text, content, tool_call_id, tool_name, metadata, owner_id, thread_id
       from save_message(current_setting('test.t')::uuid, 'user', 'Hello there', metadata => '{"lang": "en"}') $$,
  $$ values ('user', 'Hello there', null::text, null::text, '{"lang": "en"}'::jsonb, tests.get_supabase_uid('alice'),
             current_setting('test.t')::uuid) $$,
  'save_message stores the message in the thread, owned by the thread''s owner');
select results_eq(
  $$ select token_count, token_count_exact from save_message(current_setting('test.t')::uuid, 'assistant', 'Hi! How can I help?') $$,
  $$ values (private.estimate_tokens('Hi! How can I help?'), false) $$,
  'without a count the token count is estimated and marked as an estimate');
select results_eq(
  $$ select token_count, token_count_exact from save_message(current_setting('test.t')::uuid, 'user', 'Exact please', token_count => 3) $$,
  $$ values (3, true) $$, 'a token count from the caller is stored as exact');
select results_eq(
  $$ select role::text, tool_call_id, tool_name from save_message(current_setting('test.t')::uuid, 'tool', '{"temp": 21}', tool_call_id => 'call_1', tool_name => 'weather') $$,
  $$ values ('tool', 'call_1', 'weather') $$, 'a tool result keeps its call id and tool name');
select ok((select cursor is not null and created_at is not null
             from save_message(current_setting('test.t')::uuid, 'system', 'Be brief.')), 'a saved message comes back with created_at and its cursor');
select ok((select updated_at > created_at from memory_threads where id = current_setting('test.t')::uuid),
  'saving a message bumps the thread''s updated_at');

-- estimator
select is(private.estimate_tokens(''), 0, 'the estimate of empty content is 0');
select is(private.estimate_tokens('hello world'), 3, 'two short words and no punctuation: max(2 runs, 10 letters / 4) = 3');
select is(private.estimate_tokens('2026-11-21'), 6, 'a date: three 2-digit groups, a 2-digit group and 2 dashes = 6');
select is(private.estimate_tokens('记忆层'), 4, 'CJK text counts 0.6 per extra UTF-8 byte: 3 characters × 2 extra bytes → 4');

-- bad input to save_message: nothing is written
select set_config('test.count', (select count(*)::text from messages where thread_id = current_setting('test.t')::uuid), true);
select throws_ok(format($$ select save_message(%L, 'robot', 'x') $$, current_setting('test.t')), '22023',
  'role must be one of system, user, assistant, tool (got ''robot'')', 'an unknown role is refused');
select throws_ok(format($$ select save_message(%L, null, 'x') $$, current_setting('test.t')), '22023',
  'role must be one of system, user, assistant, tool (got null)', 'a missing role is refused');
select throws_ok(format($$ select save_message(%L, 'user', null) $$, current_setting('test.t')), '22004',
  'content must not be null', 'null content is refused');
select throws_ok(format($$ select save_message(%L, 'user', 'x', metadata => '[1]') $$, current_setting('test.t')), '22023',
  'metadata must be a JSON object (got array)', 'metadata that is not an object is refused');
select throws_ok(format($$ select save_message(%L, 'tool', 'x') $$, current_setting('test.t')), '22023',
  'tool_call_id is required for a message with role tool', 'a tool result without its call id is refused');
select throws_ok(format($$ select save_message(%L, 'user', 'x', token_count => -1) $$, current_setting('test.t')), '22023',
  'token_count must not be negative (got -1)', 'a negative token count is refused');
select throws_ok(format($$ select save_message(%L, 'user', repeat('a', 1048577)) $$, current_setting('test.t')), '22001',
  'content is 1048577 bytes; the maximum is 1048576 bytes', 'content over 1 MiB is refused');
select throws_ok(format($$ select save_message(%L, 'user', repeat('é', 524289)) $$, current_setting('test.t')), '22001',
  'content is 1048578 bytes; the maximum is 1048576 bytes', 'the limit counts UTF-8 bytes, not characters');
select throws_ok($$ select save_message('00000000-0000-0000-0000-000000000000', 'user', 'x') $$, 'PT404',
  'thread 00000000-0000-0000-0000-000000000000 not found', 'saving into an unknown thread is not found');
select is((select count(*)::text from messages where thread_id = current_setting('test.t')::uuid), current_setting('test.count'),
  'none of the refused messages was written');
select lives_ok(format($$ select save_message(%L, 'user', repeat('a', 1048576)) $$, current_setting('test.t')),
  'content of exactly 1 MiB is accepted');
select tests.authenticate_as_service_role();
update settings set value = '100' where category = 'messages' and key = 'max_content_bytes';
select tests.authenticate_as('alice');
select throws_ok(format($$ select save_message(%L, 'user', repeat('a', 101)) $$, current_setting('test.t')), '22001',
  'content is 101 bytes; the maximum is 100 bytes', 'the limit follows the setting messages.max_content_bytes');
select tests.authenticate_as_service_role();
update settings set value = '1048576' where category = 'messages' and key = 'max_content_bytes';
select tests.authenticate_as('alice');

-- save_messages: order, all or nothing
select set_config('test.b', (create_thread()).id::text, true);
select is(
  (select array_agg(content order by created_at, id) from save_messages(current_setting('test.b')::uuid,
     (select json_agg(json_build_object('role', case when i % 2 = 1 then 'user' else 'assistant' end, 'content', 'm' || i) order by i)
        from generate_series(1, 500) i))),
  (select array_agg('m' || i order by i) from generate_series(1, 500) i),
  'a batch of 500 is stored in array order');
select is((select count(distinct created_at)::int from messages where thread_id = current_setting('test.b')::uuid), 500,
  'every message of one statement gets its own created_at');
select is(
  (select count(*)::int from (select content, lag(content) over (order by created_at, id) as prev from messages
                                where thread_id = current_setting('test.b')::uuid) x
    where prev is not null and substr(prev, 2)::int + 1 <> substr(content, 2)::int),
  0, 'ordering by created_at gives the batch order back');
select ok((select min(created_at) > (select max(created_at) from messages where thread_id = current_setting('test.b')::uuid)
             from save_messages(current_setting('test.b')::uuid, '[{"role": "user", "content": "later"}]')),
  'a later batch sorts after the earlier one');
select results_eq(
  $$ select role::text, tool_call_id, tool_name, metadata, token_count, token_count_exact
       from save_messages(current_setting('test.b')::uuid,
         '[{"role": "assistant", "content": "", "tool_call_id": "c9", "tool_name": "search", "token_count": 12},
           {"role": "tool", "content": "result", "tool_call_id": "c9", "metadata": {"ok": true}}]') $$,
  $$ values ('assistant', 'c9', 'search', '{}'::jsonb, 12, true),
            ('tool', 'c9', null, '{"ok": true}'::jsonb, private.estimate_tokens('result'), false) $$,
  'batch elements carry tool fields, metadata and optional exact counts');
select is((select count(*)::int from save_messages(current_setting('test.b')::uuid, '[]')), 0, 'an empty batch saves nothing');

select set_config('test.count', (select count(*)::text from messages where thread_id = current_setting('test.b')::uuid), true);
select throws_ok(format($$ select save_messages(%L, '[{"role": "user", "content": "ok"}, {"role": "robot", "content": "x"}]') $$, current_setting('test.b')),
  '22023', 'messages[1].role must be one of system, user, assistant, tool (got "robot")', 'a batch with an unknown role names the element');
select throws_ok(format($$ select save_messages(%L, '[{"role": "user", "content": "ok"}, {"role": "user", "content": "a\u0000b"}]') $$, current_setting('test.b')),
  '22P05', 'messages[1].content contains a NUL character (\u0000), which Postgres text cannot store',
  'a NUL character is refused, naming the element and field');
select throws_ok(format($$ select save_messages(%L, '[{"role": "user", "content": "ok", "metadata": {"k": "\u0000"}}]') $$, current_setting('test.b')),
  '22P05', 'messages[0].metadata contains a NUL character (\u0000), which Postgres text cannot store',
  'a NUL character inside metadata names the metadata field');
select lives_ok(format($$ select save_messages(%L, '[{"role": "user", "content": "a\\u0000b is text, not NUL"}]') $$, current_setting('test.b')),
  'an escaped backslash before u0000 is ordinary text, not a NUL');
select set_config('test.count', (select count(*)::text from messages where thread_id = current_setting('test.b')::uuid), true);
select throws_ok(format($$ select save_messages(%L, '[{"role": "user", "content": "ok"}, {"role": "user", "content": 5}]') $$, current_setting('test.b')),
  '22023', 'messages[1].content must be a string (got number)', 'content that is not a string is refused');
select throws_ok(format($$ select save_messages(%L, '[{"role": "user", "content": "ok", "metadata": [1]}]') $$, current_setting('test.b')),
  '22023', 'messages[0].metadata must be a JSON object (got array)', 'batch metadata that is not an object is refused');
select throws_ok(format($$ select save_messages(%L, '[{"role": "user", "content": "ok", "colour": "red"}]') $$, current_setting('test.b')),
  '22023', 'messages[0] has unknown field(s): colour', 'an unknown message field is refused');
select throws_ok(format($$ select save_messages(%L, '[{"role": "tool", "content": "r"}]') $$, current_setting('test.b')),
  '22023', 'messages[0].tool_call_id is required for a message with role tool', 'a tool result without call id is refused in a batch');
select throws_ok(format($$ select save_messages(%L, '[{"role": "user", "content": "x", "token_count": 1.5}]') $$, current_setting('test.b')),
  '22023', 'messages[0].token_count must be a non-negative integer (got 1.5)', 'a fractional token count is refused');
select throws_ok(format($$ select save_messages(%L, '{"role": "user"}') $$, current_setting('test.b')),
  '22023', 'messages must be a JSON array of message objects', 'a batch that is not an array is refused');
select throws_ok(format($$ select save_messages(%L, '[1]') $$, current_setting('test.b')),
  '22023', 'messages[0] must be a JSON object (got number)', 'an element that is not an object is refused');
select throws_ok(format($$ select save_messages(%L, %L) $$, current_setting('test.b'),
    (select json_agg(json_build_object('role', 'user', 'content', 'x')) from generate_series(1, 1001))),
  '22023', 'messages has 1001 elements; at most 1000 can be saved per call', 'more than 1000 messages per call are refused');
select throws_ok(format($$ select save_messages(%L, json_build_array(json_build_object('role', 'user', 'content', 'ok'),
                                                         json_build_object('role', 'user', 'content', repeat('a', 1048577)))) $$,
                        current_setting('test.b')),
  '22001', 'messages[1].content is 1048577 bytes; the maximum is 1048576 bytes', 'an oversized element fails the whole batch');
select is((select count(*)::text from messages where thread_id = current_setting('test.b')::uuid), current_setting('test.count'),
  'no refused batch wrote any of its messages');

-- load_messages
select is((select cardinality(messages) from load_messages(current_setting('test.b')::uuid)), 50, 'the default page size is 50');
select is(
  (select array_agg(m.content) from load_messages(current_setting('test.b')::uuid, 3, direction => 'newer') p, unnest(p.messages) m),
  array['m1', 'm2', 'm3'], 'direction newer without a cursor starts at the oldest message');
select ok(
  (select m.content = 'a\u0000b is text, not NUL' from load_messages(current_setting('test.b')::uuid, 1) p, unnest(p.messages) m),
  'direction older without a cursor ends at the newest message');
select set_config('test.c', (select next_cursor from load_messages(current_setting('test.b')::uuid, 3, direction => 'newer')), true);
select is(
  (select array_agg(m.content) from load_messages(current_setting('test.b')::uuid, 3, current_setting('test.c'), 'newer') p, unnest(p.messages) m),
  array['m4', 'm5', 'm6'], 'the next page continues right after the cursor');
select is(
  (select array_agg(m.content) from load_messages(current_setting('test.b')::uuid, 2,
     (select m.cursor from load_messages(current_setting('test.b')::uuid, 1, current_setting('test.c'), 'newer') p, unnest(p.messages) m), 'older') p,
     unnest(p.messages) m),
  array['m2', 'm3'], 'direction older returns the messages just before the cursor, oldest first');

-- Walk the whole thread both ways: every message exactly once, in order.
create temp table walk (direction text, content text, created_at timestamptz, id uuid, seq serial) on commit drop;
do $$
declare
  d text;
  cur text;
  p message_page;
  n integer;
begin
  foreach d in array array['older', 'newer'] loop
    cur := null;
    n := 0;
    loop
      p := load_messages(current_setting('test.b')::uuid, 37, cur, d);
      insert into walk (direction, content, created_at, id) select d, m.content, m.created_at, m.id from unnest(p.messages) m;
      n := n + 1;
      exit when not p.has_more or n > 100;
      cur := p.next_cursor;
    end loop;
  end loop;
end
$$;
select is((select count(*)::int from walk where direction = 'older'), (select count(*)::int from messages where thread_id = current_setting('test.b')::uuid),
  'walking older pages of 37 returns every message');
select is((select count(distinct id)::int from walk where direction = 'older'), (select count(*)::int from messages where thread_id = current_setting('test.b')::uuid),
  'the older walk repeats no message');
select is((select count(distinct id)::int from walk where direction = 'newer'), (select count(*)::int from messages where thread_id = current_setting('test.b')::uuid),
  'walking newer pages of 37 returns every message once');
select is(
  (select array_agg(id order by seq) from walk where direction = 'newer'),
  (select array_agg(id order by created_at, id) from messages where thread_id = current_setting('test.b')::uuid),
  'the newer walk is in chronological order');
select set_config('test.newest', (select m.cursor from load_messages(current_setting('test.b')::uuid, 1) p, unnest(p.messages) m), true);
select results_eq(
  $$ select cardinality(messages), next_cursor, has_more
       from load_messages(current_setting('test.b')::uuid, 5, current_setting('test.newest'), 'newer') $$,
  $$ values (0, current_setting('test.newest'), false) $$,
  'after the newest message a newer page is empty and hands the same cursor back for polling');

select throws_ok(format($$ select load_messages(%L, 0) $$, current_setting('test.b')), '22023',
  'limit must be between 1 and 1000 (got 0)', 'limit 0 is refused');
select throws_ok(format($$ select load_messages(%L, 1001) $$, current_setting('test.b')), '22023',
  'limit must be between 1 and 1000 (got 1001)', 'limit 1001 is refused');
select throws_ok(format($$ select load_messages(%L, 10, 'bm90IGEgY3Vyc29y') $$, current_setting('test.b')), '22023',
  'cursor is not a valid message cursor', 'a base64 string that is no cursor is refused');
select throws_ok(format($$ select load_messages(%L, 10, %L) $$, current_setting('test.b'),
    rtrim(translate(encode(convert_to('m,12345678901234567,' || gen_random_uuid(), 'UTF8'), 'base64'), E'+/\n', '-_'), '=')),
  '22023', 'cursor is not a valid message cursor', 'a cursor whose time is out of range is refused');
select throws_ok(format($$ select load_messages(%L, 10, %L) $$, current_setting('test.b'),
    rtrim(translate(encode('\xff6d2c31323334'::bytea || convert_to(',' || gen_random_uuid(), 'UTF8'), 'base64'), E'+/\n', '-_'), '=')),
  '22023', 'cursor is not a valid message cursor', 'a cursor that decodes to non-text bytes is refused');
select throws_ok(format($$ select load_messages(%L, 10, (select next_cursor from list_threads())) $$, current_setting('test.b')), '22023',
  'cursor is not a valid message cursor', 'a thread cursor is not accepted as a message cursor');
select throws_ok(format($$ select load_messages(%L, 10, null, 'sideways') $$, current_setting('test.b')), '22023',
  'direction must be older or newer (got ''sideways'')', 'an unknown direction is refused');
select throws_ok($$ select load_messages('00000000-0000-0000-0000-000000000000') $$, 'PT404', null,
  'loading an unknown thread is not found');

select * from finish();
rollback;
