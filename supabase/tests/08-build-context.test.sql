-- build_context: one call returns the system messages, the summary, the (empty) recalled slot and the
-- newest messages that fit the token budget, in chronological order. Checked on a hand-computed thread
-- and, for every budget from the smallest that works up to more than the whole thread, against the
-- invariants users rely on: within budget, chronological, system messages and the newest message always
-- there, a contiguous run of the newest messages, and no room left for the next older one when cut.
begin;
\ir helpers/test_helpers.psql
select plan(42);

select tests.create_supabase_user('alice');
select tests.authenticate_as('alice');
select set_config('test.t', (create_thread(agent_id => 'assistant')).id::text, true);

-- Exact token counts keep the arithmetic readable: S = system, U = user, A = assistant, T = tool result.
select save_message(current_setting('test.t')::uuid, 'system', 'S1', token_count => 10);
select save_message(current_setting('test.t')::uuid, 'user', 'U1', token_count => 20);
select save_message(current_setting('test.t')::uuid, 'assistant', 'A1', token_count => 30);
select save_message(current_setting('test.t')::uuid, 'system', 'S2', token_count => 5);
select save_message(current_setting('test.t')::uuid, 'user', 'U2', token_count => 40);
select save_message(current_setting('test.t')::uuid, 'assistant', 'A2', tool_call_id => 'c1', tool_name => 'search', token_count => 15);
select save_message(current_setting('test.t')::uuid, 'tool', 'T1', tool_call_id => 'c1', tool_name => 'search', token_count => 25);
select save_message(current_setting('test.t')::uuid, 'assistant', 'A3', token_count => 35);

create function pg_temp.contents(c memory_context) returns text[] language sql
as $$ select coalesce(array_agg(m.content), '{}') from unnest(c.messages) m $$;
create function pg_temp.system_contents(c memory_context) returns text[] language sql
as $$ select coalesce(array_agg(m.content), '{}') from unnest(c.system_messages) m $$;
create function pg_temp.ctx(budget integer, opts jsonb default '{"tokens_per_message": 0}') returns memory_context language sql
as $$ select build_context(current_setting('test.t')::uuid, budget, opts) $$;

-- a budget larger than the thread
select is(pg_temp.contents(pg_temp.ctx(1000)), array['U1', 'A1', 'U2', 'A2', 'T1', 'A3'], 'with room for everything all messages come, oldest first');
select is(pg_temp.system_contents(pg_temp.ctx(1000)), array['S1', 'S2'], 'system messages come separately, in order');
select is((pg_temp.ctx(1000)).token_count, 180, 'token_count is the sum of what was included');
select is((pg_temp.ctx(1000)).truncated, false, 'nothing was left out');
select is((pg_temp.ctx(1000)).recalled, '[]'::jsonb, 'the recalled slot is an empty array');
select is((pg_temp.ctx(1000)).summary, null, 'a thread without a summary has none');
select is((pg_temp.ctx(1000)).thread_id, current_setting('test.t')::uuid, 'the result names its thread');

-- a tight budget: system (15) + newest A3 (35) = 50, then T1 25, A2 15 fit (90), U2 40 does not
select is(pg_temp.contents(pg_temp.ctx(100)), array['A2', 'T1', 'A3'], 'a tight budget keeps the newest messages that fit');
select is((pg_temp.ctx(100)).token_count, 90, 'and counts them');
select is((pg_temp.ctx(100)).truncated, true, 'and says older messages were left out');
select is(pg_temp.system_contents(pg_temp.ctx(100)), array['S1', 'S2'], 'system messages are kept under a tight budget');
select is(pg_temp.contents(pg_temp.ctx(50)), array['A3'], 'a budget of exactly system + newest gives just the newest message');
select throws_ok($$ select pg_temp.ctx(49) $$, '22023',
  'token_budget 49 is too small: the system messages and the newest message need 50 tokens',
  'a budget below system + newest is an error naming the tokens needed');
select is(pg_temp.contents(pg_temp.ctx(89)), array['T1', 'A3'], 'the window stops at the first message that does not fit (stays contiguous)');

-- options
select is(pg_temp.contents(pg_temp.ctx(100, '{"tokens_per_message": 0, "include_tool_messages": false}')), array['U2', 'A3'],
  'include_tool_messages false drops tool results and tool calls');
select is(pg_temp.contents(pg_temp.ctx(1000, '{"tokens_per_message": 0, "include_tool_messages": false}')), array['U1', 'A1', 'U2', 'A3'],
  'without tool messages the rest of the thread still comes in order');
select is((pg_temp.ctx(1000, '{}')).token_count, 180 + 8 * 4, 'by default each message costs 4 framing tokens');
select is((pg_temp.ctx(1000, '{}')).tokens_per_message, 4, 'the result reports the framing it applied');
select throws_ok($$ select pg_temp.ctx(61, '{}') $$, '22023', 'token_budget 61 is too small: the system messages and the newest message need 62 tokens',
  'framing counts toward the required tokens');
select is(pg_temp.contents(pg_temp.ctx(1000, '{"tokens_per_message": 0, "max_messages": 2}')), array['T1', 'A3'],
  'max_messages caps the number of messages');
select is((pg_temp.ctx(1000, '{"tokens_per_message": 0, "max_messages": 2}')).truncated, true, 'a cap that cuts messages sets truncated');
select throws_ok($$ select pg_temp.ctx(100, '{"question": "x"}') $$, '22023', 'options has unknown field(s): question', 'an unknown option is refused');
select throws_ok($$ select pg_temp.ctx(100, '{"include_tool_messages": "no"}') $$, '22023', null, 'a non-boolean flag is refused');
select throws_ok($$ select pg_temp.ctx(100, '{"tokens_per_message": -1}') $$, '22023', null, 'negative framing is refused');
select throws_ok($$ select pg_temp.ctx(100, '{"max_messages": 0}') $$, '22023', null, 'max_messages 0 is refused');
select throws_ok($$ select pg_temp.ctx(100, '[]') $$, '22023', 'options must be a JSON object (got array)', 'options that are not an object are refused');
select throws_ok($$ select pg_temp.ctx(0) $$, '22023', 'token_budget must be a positive number of tokens (got 0)', 'a zero budget is refused');
select throws_ok($$ select build_context('00000000-0000-0000-0000-000000000000', 100) $$, 'PT404', null, 'an unknown thread is not found');

-- default budget: the agent's context_token_budget, else the setting
select is((select token_budget from build_context(current_setting('test.t')::uuid)), 8000,
  'without a budget the thread''s agent''s context_token_budget (8000 for assistant) applies');
select set_config('test.u', (create_thread(agent_id => 'unconfigured')).id::text, true);
select is((select token_budget from build_context(current_setting('test.u')::uuid)), 8000,
  'an agent without configuration falls back to setting context.default_token_budget');

-- Every budget from the smallest that works to more than the whole thread, with and without tool
-- messages and framing: the invariants hold.
create temp table runs on commit drop as
select b as budget, o as opts, pg_temp.ctx(b, o) as c
  from generate_series(50, 230) b,
       unnest(array['{"tokens_per_message": 0}', '{"tokens_per_message": 0, "include_tool_messages": false}']::jsonb[]) o
union all
select b, '{}'::jsonb, pg_temp.ctx(b, '{}') from generate_series(62, 300) b;

create temp view eligible as
select r.budget, r.opts, m.*, row_number() over (partition by r.budget, r.opts order by m.created_at desc, m.id desc) as rank_from_newest
  from runs r
  join messages m on m.thread_id = current_setting('test.t')::uuid and m.role <> 'system'
   and (coalesce((r.opts ->> 'include_tool_messages')::boolean, true)
        or (m.role <> 'tool' and m.tool_call_id is null and m.tool_name is null));

select is((select count(*)::int from runs where (c).token_count > budget), 0, 'build_context never exceeds the budget');
select is(
  (select count(*)::int from runs r
    where (r.c).token_count <> (select coalesce(sum(m.token_count + (r.c).tokens_per_message), 0) from unnest((r.c).messages) m)
                              + (select coalesce(sum(m.token_count + (r.c).tokens_per_message), 0) from unnest((r.c).system_messages) m)),
  0, 'token_count is exactly what the included messages cost');
select is(
  (select count(*)::int from runs r
    where exists (select from unnest((r.c).messages) with ordinality a(id, thread_id, owner_id, role, content, tool_call_id, tool_name, token_count, token_count_exact, metadata, created_at, cursor, o)
                   join unnest((r.c).messages) with ordinality b(id, thread_id, owner_id, role, content, tool_call_id, tool_name, token_count, token_count_exact, metadata, created_at, cursor, o)
                     on b.o = a.o + 1
                  where (b.created_at, b.id) <= (a.created_at, a.id))),
  0, 'messages are always in chronological order');
select is((select count(*)::int from runs where pg_temp.system_contents(c) <> array['S1', 'S2']), 0,
  'all system messages are always included');
select is(
  (select count(*)::int from runs r
    where ((r.c).messages[cardinality((r.c).messages)]).id is distinct from
          (select e.id from eligible e where e.budget = r.budget and e.opts = r.opts and e.rank_from_newest = 1)),
  0, 'the newest eligible message is always included, last');
select is(
  (select count(*)::int from runs r
    where (select array_agg(m.id order by m.created_at, m.id) from unnest((r.c).messages) m) is distinct from
          (select array_agg(e.id order by e.created_at, e.id) from eligible e
            where e.budget = r.budget and e.opts = r.opts and e.rank_from_newest <= cardinality((r.c).messages))),
  0, 'the messages are always the newest contiguous run');
select is(
  (select count(*)::int from runs r
    where (r.c).truncated
      and (r.c).token_count + (select e.token_count + (r.c).tokens_per_message from eligible e
                                where e.budget = r.budget and e.opts = r.opts
                                  and e.rank_from_newest = cardinality((r.c).messages) + 1) <= r.budget),
  0, 'when messages are left out, the next older one would not have fitted');
select is((select count(*)::int from runs r where not (r.c).truncated
             and cardinality((r.c).messages) <> (select count(*) from eligible e where e.budget = r.budget and e.opts = r.opts)),
  0, 'when nothing is left out, every eligible message is there');

-- summary: covers messages up to summary_through; the window stops there
select update_thread(current_setting('test.t')::uuid, jsonb_build_object(
  'summary', 'The user introduced themselves and asked for help.',
  'summary_through', (select m.cursor from load_messages(current_setting('test.t')::uuid, 1000) p, unnest(p.messages) m where m.content = 'A1')));
select set_config('test.st', private.estimate_tokens('The user introduced themselves and asked for help.')::text, true);
select is(pg_temp.contents(pg_temp.ctx(1000)), array['U2', 'A2', 'T1', 'A3'], 'with a summary, messages it covers are left out');
select results_eq(
  $$ select summary, token_count, truncated from pg_temp.ctx(1000) $$,
  $$ values ('The user introduced themselves and asked for help.', 15 + current_setting('test.st')::int + 115, false) $$,
  'the summary is included and counted');
select results_eq(
  $$ select summary, pg_temp.contents(c), truncated from pg_temp.ctx(50 + current_setting('test.st')::int - 1) c $$,
  $$ values (null::text, array['A3'], true) $$, 'a summary that does not fit after system + newest is left out, flagged as truncated');
select is(pg_temp.contents(pg_temp.ctx(1000, '{"tokens_per_message": 0, "include_summary": false}')), array['U1', 'A1', 'U2', 'A2', 'T1', 'A3'],
  'include_summary false gives the messages instead of the summary');

select * from finish();
rollback;
