-- build_context with recall (options.recall / query / query_embedding): what is recalled is older than the
-- window, never a system message, never a message of the window again, comes with its neighbours, and
-- fits the budget — checked over many budgets and option sets; the `recall` report (query and where it
-- came from, each channel ran or why not, token limit and use, considered and included); scope agent
-- reaches the agent's other threads only; every recall option error.
begin;
\ir helpers/test_helpers.psql
select plan(49);

select tests.create_supabase_user('alice');
select tests.create_supabase_user('bob');

-- 384-d vectors for the default model (hash-384).
create function pg_temp.v384(n double precision) returns extensions.vector language sql immutable as $$
  select array(select sin(g * (0.37 + n / 50.0) + n) from generate_series(1, 384) g)::real[]::extensions.vector
$$;
create function pg_temp.embed(only_content text default null) returns void language sql security definer as $$
  insert into public.embeddings (owner_id, source_table, source_id, model, content_hash, embedding)
  select m.owner_id, 'messages', m.id, 'hash-384', m.content_hash, pg_temp.v384((m.metadata ->> 'n')::double precision)
    from public.messages m
   where m.metadata ? 'n' and (only_content is null or m.content = only_content)
     and not exists (select from public.embeddings e where e.source_id = m.id and e.model = 'hash-384')
$$;

select tests.authenticate_as('alice');
select set_config('test.t', (create_thread(agent_id => 'assistant')).id::text, true);
select set_config('test.t2', (create_thread(agent_id => 'assistant')).id::text, true);
select set_config('test.t3', (create_thread(agent_id => 'planner')).id::text, true);
-- Every message costs 10 tokens (with tokens_per_message 0), so budgets are easy to read.
select save_messages(current_setting('test.t')::uuid, '[
  {"role": "system", "content": "You are the billing assistant.", "token_count": 10},
  {"role": "user", "content": "How do I get a refund for my order?", "token_count": 10, "metadata": {"n": 1}},
  {"role": "assistant", "content": "Refunds take 30 days to arrive.", "token_count": 10, "metadata": {"n": 2}},
  {"role": "user", "content": "What about shipping costs?", "token_count": 10, "metadata": {"n": 3}},
  {"role": "assistant", "content": "Shipping is free over 50 euros.", "token_count": 10, "metadata": {"n": 4}},
  {"role": "user", "content": "Can I change my password?", "token_count": 10, "metadata": {"n": 5}},
  {"role": "assistant", "content": "Use the settings page to change the password.", "token_count": 10, "metadata": {"n": 6}},
  {"role": "assistant", "content": "Looking up the refund status.", "tool_call_id": "c1", "tool_name": "lookup", "token_count": 10, "metadata": {"n": 7}},
  {"role": "tool", "content": "Refund status: pending.", "tool_call_id": "c1", "tool_name": "lookup", "token_count": 10, "metadata": {"n": 8}},
  {"role": "assistant", "content": "Your refund is pending.", "token_count": 10, "metadata": {"n": 9}},
  {"role": "user", "content": "Thanks. Another topic: invoices.", "token_count": 10, "metadata": {"n": 10}},
  {"role": "assistant", "content": "Invoices are emailed monthly.", "token_count": 10, "metadata": {"n": 11}},
  {"role": "user", "content": "Is it sunny today?", "token_count": 10, "metadata": {"n": 12}},
  {"role": "assistant", "content": "I cannot see the weather.", "token_count": 10, "metadata": {"n": 13}},
  {"role": "user", "content": "Tell me a joke.", "token_count": 10, "metadata": {"n": 14}},
  {"role": "assistant", "content": "Why did the chicken cross the road?", "token_count": 10, "metadata": {"n": 15}},
  {"role": "system", "content": "Be brief from now on.", "token_count": 10},
  {"role": "user", "content": "What time is it?", "token_count": 10, "metadata": {"n": 16}},
  {"role": "assistant", "content": "It is noon.", "token_count": 10, "metadata": {"n": 17}},
  {"role": "user", "content": "Remind me, how long does a refund take?", "token_count": 10, "metadata": {"n": 18}},
  {"role": "assistant", "content": "Let me check.", "token_count": 10, "metadata": {"n": 19}}]');
select save_messages(current_setting('test.t2')::uuid, '[{"role": "user", "content": "The refund policy changed last year.", "token_count": 10, "metadata": {"n": 30}},
  {"role": "assistant", "content": "Noted, new refund rules.", "token_count": 10, "metadata": {"n": 31}}]');
select save_messages(current_setting('test.t3')::uuid, '[{"role": "user", "content": "Plan the refund campaign.", "token_count": 10, "metadata": {"n": 40}}]');
select tests.authenticate_as('bob');
select save_messages((create_thread(agent_id => 'assistant')).id, '[{"role": "user", "content": "Bob wants a refund too.", "token_count": 10, "metadata": {"n": 1}}]');
select tests.authenticate_as_owner();
select pg_temp.embed();
delete from embeddings where source_id = (select id from messages where content = 'Remind me, how long does a refund take?');
select tests.authenticate_as('alice');

create function pg_temp.ctx(budget integer, opts jsonb) returns memory_context language sql as $$
  select build_context(current_setting('test.t')::uuid, budget, '{"tokens_per_message": 0}'::jsonb || opts)
$$;
-- Every message id an item brings (the hit and its neighbours).
create function pg_temp.item_ids(item jsonb) returns uuid[] language sql immutable as $$
  select array_agg(x::uuid) from (
    select item -> 'message' ->> 'id' as x
    union all select b ->> 'id' from jsonb_array_elements(item -> 'before') b
    union all select a ->> 'id' from jsonb_array_elements(item -> 'after') a) y
$$;
create function pg_temp.recalled_ids(c memory_context) returns uuid[] language sql immutable as $$
  select coalesce(array_agg(i), '{}') from jsonb_array_elements(c.recalled) item, unnest(pg_temp.item_ids(item)) i
$$;
create function pg_temp.contents(ids uuid[]) returns text[] language sql as $$
  select coalesce(array_agg(m.content order by m.created_at), '{}') from messages m where m.id = any (ids)
$$;

-- Many budgets × option sets
create temp table runs as
select b as budget, o as opts, pg_temp.ctx(b, o) as c
  from generate_series(30, 260, 10) b,
       unnest(array['{"recall": true}', '{"query": "refund"}', '{"query": "password settings", "recall": {"k": 2, "before": 0, "after": 0}}',
                    '{"recall": {"scope": "agent", "before": 2, "after": 2}}', '{"recall": {"mode": "bm25", "max_tokens": 25}}',
                    '{"query": "refund status", "include_tool_messages": false, "recall": {"before": 1}}',
                    '{"query": "refund", "recall": {"k": 50, "before": 5, "after": 5}}']::jsonb[]) o;
create temp view recalled_messages as
select r.budget, r.opts, m.*
  from runs r, unnest(pg_temp.recalled_ids(r.c)) i join messages m on m.id = i;
create temp view window_oldest as
select r.budget, r.opts, (select min((w.created_at, w.id)::text) from unnest((r.c).messages) w) as oldest,
       (select w.created_at from unnest((r.c).messages) w order by w.created_at, w.id limit 1) as oldest_at
  from runs r;

select is((select count(*)::int from runs), 168, 'build_context ran for 24 budgets and 7 recall option sets');
select ok((select count(*) from runs where jsonb_array_length((c).recalled) > 0) >= 60, 'and recalled something in most of them');
select is((select count(*)::int from runs where (c).token_count > budget), 0, 'token_count never exceeds the budget');
select is((select count(*)::int from runs r
            where (r.c).token_count <> (select coalesce(sum(m.token_count), 0) from unnest((r.c).system_messages) m)
                                     + (select coalesce(sum(m.token_count), 0) from unnest((r.c).messages) m)
                                     + ((r.c).recall ->> 'token_count')::int), 0,
  'token_count is exactly system + window + recalled');
select is((select count(*)::int from recalled_messages m join window_oldest w using (budget, opts)
            where m.thread_id = current_setting('test.t')::uuid and m.created_at >= w.oldest_at), 0,
  'everything recalled from the thread is older than the window');
select is((select count(*)::int from recalled_messages where role = 'system'), 0, 'a system message is never recalled, not even as a neighbour');
select is((select count(*)::int from runs r where pg_temp.recalled_ids(r.c) && array(select w.id from unnest((r.c).messages) w)), 0,
  'no recalled message is also in the window');
select is((select count(*)::int from runs r where cardinality(pg_temp.recalled_ids(r.c)) <> (select count(distinct i) from unnest(pg_temp.recalled_ids(r.c)) i)), 0,
  'no message is recalled twice');
select is((select count(*)::int from runs r where ((r.c).recall ->> 'included')::int <> jsonb_array_length((r.c).recalled)), 0,
  'recall.included counts the recalled items');
select is((select count(*)::int from runs r
            where ((r.c).recall ->> 'token_count')::int <> (select coalesce(sum((i ->> 'token_count')::int), 0) from jsonb_array_elements((r.c).recalled) i)
               or ((r.c).recall ->> 'token_count')::int > ((r.c).recall ->> 'token_limit')::int), 0,
  'recall.token_count sums the items and stays within recall.token_limit');
select is((select count(*)::int from runs r, jsonb_array_elements((r.c).recalled) i
            where (i ->> 'token_count')::int <> (select sum(m.token_count) from messages m where m.id = any (pg_temp.item_ids(i)))), 0,
  'each item''s token_count is what its hit and neighbours cost');
select is((select count(*)::int from runs r, jsonb_array_elements((r.c).recalled) i
            where jsonb_array_length(i -> 'before') > coalesce((r.opts -> 'recall' ->> 'before')::int, 1)
               or jsonb_array_length(i -> 'after') > coalesce((r.opts -> 'recall' ->> 'after')::int, 1)), 0,
  'an item has at most recall.before / recall.after neighbours');
select is((select count(*)::int from runs r, jsonb_array_elements((r.c).recalled) i
            where exists (select from jsonb_array_elements(i -> 'before') b where (b ->> 'created_at')::timestamptz >= (i -> 'message' ->> 'created_at')::timestamptz)
               or exists (select from jsonb_array_elements(i -> 'after') a where (a ->> 'created_at')::timestamptz <= (i -> 'message' ->> 'created_at')::timestamptz)), 0,
  'before neighbours precede the hit and after neighbours follow it');
select is((select count(*)::int from recalled_messages where opts -> 'recall' ->> 'scope' is distinct from 'agent' and thread_id <> current_setting('test.t')::uuid), 0,
  'scope thread recalls from this thread only');
select is((select count(*)::int from recalled_messages where thread_id not in (current_setting('test.t')::uuid, current_setting('test.t2')::uuid)), 0,
  'scope agent adds the agent''s other thread, never another agent''s thread or another user''s');
select ok(exists (select from recalled_messages where opts -> 'recall' ->> 'scope' = 'agent' and thread_id = current_setting('test.t2')::uuid),
  'and it does recall from the other thread');
select is((select count(*)::int from recalled_messages where opts ->> 'include_tool_messages' = 'false' and (role = 'tool' or tool_call_id is not null)), 0,
  'without tool messages none is recalled, not even as a neighbour');
select is((select count(*)::int from runs r where jsonb_array_length((r.c).recalled) > coalesce((r.opts -> 'recall' ->> 'k')::int, 5)), 0,
  'at most recall.k items');
select is((select count(*)::int from runs where opts -> 'recall' ->> 'mode' = 'bm25' and ((c).recall ->> 'token_count')::int > 25), 0,
  'recall.max_tokens caps what recall may use');

-- One context, looked at closely: the newest user message is the query
select set_config('test.c', (select c::text from runs where budget = 100 and opts = '{"recall": true}'), true);
create function pg_temp.c() returns memory_context language sql as $$ select current_setting('test.c')::memory_context $$;
select is(array(select w.content from unnest((pg_temp.c()).messages) w),
  array['Tell me a joke.', 'Why did the chicken cross the road?', 'What time is it?', 'It is noon.', 'Remind me, how long does a refund take?', 'Let me check.'],
  'budget 100: the window stops at 70 (25 kept for recall), recall takes 20, the window then goes on into the last 10');
select results_eq($$ select i -> 'message' ->> 'content', pg_temp.contents(pg_temp.item_ids(i)) from jsonb_array_elements((pg_temp.c()).recalled) i $$,
  $$ values ('How do I get a refund for my order?', array['How do I get a refund for my order?', 'Refunds take 30 days to arrive.']) $$,
  'it recalls the old refund question with its neighbour (the system message before it is left out)');
select is((pg_temp.c()).recall - 'considered',
  jsonb_build_object('query', 'Remind me, how long does a refund take?', 'query_source', 'newest_user_message', 'mode', 'hybrid', 'scope', 'thread',
                     'channels', jsonb_build_object('bm25', 'ran', 'vector', 'skipped: the newest user message is not embedded yet'),
                     'token_limit', 25, 'token_count', 20, 'included', 1),
  'recall reports its query (the newest user message), mode, scope, channels, token limit (25% of 100) and use');
select ok(((pg_temp.c()).recall ->> 'considered')::int >= 1, 'and how many hits it considered');
select is((pg_temp.c()).recalled -> 0 ->> 'reason', format('keyword match #%s (refund)', (pg_temp.c()).recalled -> 0 ->> 'bm25_rank'),
  'an item says why it was recalled: its keyword rank and the query words it matched');
select cmp_ok(((pg_temp.c()).recalled -> 0 ->> 'bm25_rank')::int, '>', 1,
  'better hits whose neighbours would not fit in what was left were skipped for it');
select is((pg_temp.c()).token_count, 100, 'system 20 + window 60 + recall 20: all of the 100');
select is((pg_temp.c()).truncated, true, 'older messages were left out');
-- once the newest user message is embedded, its vector is used
select tests.authenticate_as_owner();
select pg_temp.embed('Remind me, how long does a refund take?');
select tests.authenticate_as('alice');
select is((pg_temp.ctx(100, '{"recall": true}')).recall -> 'channels', '{"bm25": "ran", "vector": "ran"}',
  'when the newest user message is embedded, the vector channel runs with its vector');
select ok((select bool_or(i ->> 'vector_rank' is not null) from jsonb_array_elements((pg_temp.ctx(100, '{"recall": true}')).recalled) i),
  'and ranks what it recalls');
-- a query given as an option
select results_eq(
  $$ select c.recall ->> 'query', c.recall ->> 'query_source', c.recall -> 'channels', c.recalled -> 0 -> 'message' ->> 'content'
       from pg_temp.ctx(100, '{"query": "password", "recall": {"before": 0, "after": 0}}') c $$,
  $$ values ('password', 'option', '{"bm25": "ran", "vector": "skipped: no query_embedding given"}'::jsonb, 'Can I change my password?') $$,
  'options.query is the query (query_source option); without query_embedding the vector channel is skipped');
select is((pg_temp.ctx(100, jsonb_build_object('query', 'password', 'query_embedding', (select jsonb_agg(x) from unnest(pg_temp.v384(5)::real[]) x)))).recall -> 'channels',
  '{"bm25": "ran", "vector": "ran"}', 'with query_embedding it runs too');
select is((pg_temp.ctx(100, '{"query": "password", "recall": {"mode": "bm25"}}')).recall -> 'channels',
  '{"bm25": "ran", "vector": "skipped: mode bm25"}', 'mode bm25 skips the vector channel');
select results_eq($$ select c.recall -> 'channels', c.recalled from pg_temp.ctx(100, '{"query": "password", "recall": {"mode": "vector"}}') c $$,
  $$ values ('{"bm25": "skipped: mode vector", "vector": "skipped: no query_embedding given"}'::jsonb, '[]'::jsonb) $$,
  'mode vector without a vector recalls nothing, and says why');
select results_eq($$ select c.recall, c.recalled from pg_temp.ctx(100, '{"query": "password", "recall": false}') c $$,
  $$ values (null::jsonb, '[]'::jsonb) $$, 'recall false turns recall off, even with a query');
select is((pg_temp.ctx(100, '{}')).recall, null, 'without query or recall there is no recall');
-- a thread without any user message: nothing to recall, whatever vector is given
select set_config('test.t', (create_thread(agent_id => 'assistant')).id::text, true);
select save_messages(current_setting('test.t')::uuid, (select json_agg(json_build_object('role', 'assistant', 'content', 'note ' || g, 'token_count', 10,
  'metadata', json_build_object('n', g))) from generate_series(1, 20) g));
select tests.authenticate_as_owner();
select pg_temp.embed();
select tests.authenticate_as('alice');
select results_eq(
  $$ select c.recalled, c.recall -> 'channels', cardinality(c.messages) from pg_temp.ctx(100, jsonb_build_object('recall', '{"before": 0, "after": 0}'::jsonb,
       'query_embedding', (select jsonb_agg(x) from unnest(pg_temp.v384(3)::real[]) x))) c $$,
  $$ values ('[]'::jsonb, '{"bm25": "skipped: no query (no user message yet)", "vector": "skipped: no query"}'::jsonb, 10) $$,
  'without a query nothing is recalled (as the channels say) and the window takes the whole budget');

-- Option errors
select throws_ok($$ select pg_temp.ctx(100, '{"recall": {"depth": 3}}') $$, '22023', 'options.recall has unknown field(s): depth', 'an unknown recall field is refused');
select throws_ok($$ select pg_temp.ctx(100, '{"recall": {"mode": "semantic"}}') $$, '22023', 'options.recall.mode must be hybrid, bm25 or vector (got "semantic")',
  'an unknown recall mode is refused');
select throws_ok($$ select pg_temp.ctx(100, '{"recall": {"scope": "all"}}') $$, '22023', 'options.recall.scope must be thread or agent (got "all")',
  'recall scope all is refused');
select throws_ok($$ select pg_temp.ctx(100, '{"recall": {"k": 51}}') $$, '22023', 'options.recall.k must be an integer from 1 to 50 (got 51)', 'recall.k 51 is refused');
select throws_ok($$ select pg_temp.ctx(100, '{"recall": {"k": "5"}}') $$, '22023', 'options.recall.k must be an integer from 1 to 50 (got "5")',
  'a recall.k given as a string is refused');
select throws_ok($$ select pg_temp.ctx(100, '{"recall": {"before": 6}}') $$, '22023', 'options.recall.before and options.recall.after must be integers from 0 to 5',
  'recall.before 6 is refused');
select throws_ok($$ select pg_temp.ctx(100, '{"recall": {"after": -1}}') $$, '22023', 'options.recall.before and options.recall.after must be integers from 0 to 5',
  'a negative recall.after is refused');
select throws_ok($$ select pg_temp.ctx(100, '{"recall": {"max_tokens": 1.5}}') $$, '22023', 'options.recall.max_tokens must be a whole number of tokens (got 1.5)',
  'a fractional recall.max_tokens is refused');
select throws_ok($$ select pg_temp.ctx(100, '{"query": 42}') $$, '22023', 'options.query must be a non-empty string of at most 10000 characters',
  'a query that is not a string is refused');
select throws_ok($$ select pg_temp.ctx(100, '{"recall": "yes"}') $$, '22023', 'options.recall must be true, false or an object (got string)',
  'recall must be a boolean or an object');
select throws_ok($$ select pg_temp.ctx(100, '{"query": "x", "query_embedding": [1, "2"]}') $$, '22023', 'options.query_embedding must be a non-empty array of numbers',
  'a query_embedding with a non-number is refused');
select throws_ok($$ select pg_temp.ctx(100, '{"query": "x", "query_embedding": [1, 2, 3]}') $$, '22000', 'query embedding has 3 dimensions but model "hash-384" stores 384',
  'a query_embedding of the wrong size is refused, naming both sizes');
select throws_ok($$ select pg_temp.ctx(100, '{"recall": false, "query_embedding": [1, 2, 3]}') $$, '22000',
  'query embedding has 3 dimensions but model "hash-384" stores 384', 'also when recall is off: a wrong size is never ignored');

select * from finish();
rollback;
