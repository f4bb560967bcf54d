-- The thread API as its owner uses it: create_thread, get_thread, list_threads (keyset pages, agent and
-- metadata filters), update_thread (partial patches), delete_thread (cascading), and the errors for bad
-- input — each leaving nothing written.
begin;
\ir helpers/test_helpers.psql
select plan(44);

select tests.create_supabase_user('alice');
select tests.authenticate_as('alice');

-- create / get
select set_config('test.t1', (create_thread(agent_id => 'assistant', name => 'Trip', metadata => '{"topic": "travel", "n": 1}')).id::text, true);
select results_eq(
  $$ select owner_id, agent_id, name, metadata from get_thread(current_setting('test.t1')::uuid) $$,
  $$ values (tests.get_supabase_uid('alice'), 'assistant', 'Trip', '{"topic": "travel", "n": 1}'::jsonb) $$,
  'create_thread stores agent, name and metadata, owned by the caller');
select is((select metadata from create_thread()), '{}'::jsonb, 'metadata defaults to an empty object');
select is((select metadata from create_thread(metadata => null)), '{}'::jsonb, 'null metadata is stored as an empty object');
select ok((select expires_at > now() from create_thread(expires_at => now() + interval '1 day')), 'a thread can be given a time to live');

select throws_ok($$ select create_thread(metadata => '[1, 2]') $$, '22023', 'metadata must be a JSON object (got array)',
  'metadata that is an array is refused');
select throws_ok($$ select create_thread(metadata => '"text"') $$, '22023', 'metadata must be a JSON object (got string)',
  'metadata that is a string is refused');
select throws_ok($$ select create_thread(expires_at => now() - interval '1 second') $$, '22023', null,
  'an expires_at in the past is refused');
select is((select count(*)::int from memory_threads), 4, 'the refused calls created no thread');
select throws_ok($$ select get_thread('00000000-0000-0000-0000-000000000000') $$, 'PT404',
  'thread 00000000-0000-0000-0000-000000000000 not found', 'an unknown thread id is not found');

-- list_threads: pages, order, filters
select tests.clear_authentication();
select tests.authenticate_as_service_role();
delete from memory_threads where owner_id = tests.get_supabase_uid('alice');
select tests.authenticate_as('alice');
select create_thread(agent_id => case when i % 3 = 0 then 'researcher' else 'assistant' end,
                     name => 'thread ' || i,
                     metadata => jsonb_build_object('i', i, 'even', i % 2 = 0))
  from generate_series(1, 25) i;

select is((select cardinality(threads) from list_threads()), 25, 'list_threads returns all of a user''s threads by default (limit 50)');
select is(
  (select array_agg(t.name order by o) from list_threads("limit" => 5) p, unnest(p.threads) with ordinality as t(id, owner_id, agent_id, name, metadata, summary, summary_through, summary_token_count, expires_at, created_at, updated_at, o)),
  (select array_agg(name order by created_at desc, id desc) from (select * from memory_threads order by created_at desc, id desc limit 5) x),
  'threads come newest first (created_at desc, id desc)');
select ok((select has_more and next_cursor is not null from list_threads("limit" => 5)), 'a full page says more threads follow');

-- Walk all pages of 4: every thread exactly once, in order.
create temp table walked (page integer, name text, created_at timestamptz, id uuid) on commit drop;
grant all on walked to authenticated;
do $$
declare
  cur text;
  p thread_page;
  n integer := 0;
begin
  loop
    p := list_threads("limit" => 4, cursor => cur);
    n := n + 1;
    insert into walked select n, t.name, t.created_at, t.id from unnest(p.threads) t;
    exit when not p.has_more or n > 20;
    cur := p.next_cursor;
  end loop;
end
$$;
select is((select count(*)::int from walked), 25, 'walking pages of 4 returns 25 threads');
select is((select count(distinct id)::int from walked), 25, 'no thread appears twice in the walk');
select is((select max(page) from walked), 7, 'the walk takes 7 pages of at most 4');
select ok((select bool_and(ok) from (select (created_at, id) < (lag(created_at) over w, lag(id) over w) or lag(id) over w is null as ok
                                       from walked window w as (order by page, ctid)) x),
  'the walk is strictly in (created_at, id) descending order');

select is((select cardinality(threads) from list_threads(agent_id => 'researcher')), 8, 'list_threads filters by agent');
select is((select bool_and(t.agent_id = 'researcher') from list_threads(agent_id => 'researcher') p, unnest(p.threads) t), true,
  'the agent filter returns only that agent''s threads');
select is((select cardinality(threads) from list_threads(metadata => '{"even": true}')), 12, 'list_threads filters by metadata containment');
select is((select cardinality(threads) from list_threads(agent_id => 'researcher', metadata => '{"even": true}')), 4,
  'agent and metadata filters combine');
select is((select array_agg(t.name) from list_threads(metadata => '{"i": 7}') p, unnest(p.threads) t), array['thread 7'],
  'a metadata filter on a value finds the one thread');

select throws_ok($$ select list_threads("limit" => 0) $$, '22023', 'limit must be between 1 and 1000 (got 0)', 'limit 0 is refused');
select throws_ok($$ select list_threads("limit" => 1001) $$, '22023', 'limit must be between 1 and 1000 (got 1001)', 'limit 1001 is refused');
select lives_ok($$ select list_threads("limit" => 1000) $$, 'limit 1000 is accepted');
select throws_ok($$ select list_threads(cursor => 'not-a-cursor') $$, '22023', 'cursor is not a valid thread cursor',
  'a made-up cursor is refused');
select throws_ok($$ select list_threads(metadata => '[]') $$, '22023', 'metadata must be a JSON object (got array)',
  'a metadata filter that is not an object is refused');

-- update_thread
select set_config('test.t2', (create_thread(name => 'before', agent_id => 'assistant', metadata => '{"a": 1}')).id::text, true);
select results_eq(
  $$ select name, agent_id, metadata from update_thread(current_setting('test.t2')::uuid, '{"name": "after"}') $$,
  $$ values ('after', 'assistant', '{"a": 1}'::jsonb) $$, 'a patch changes only the fields it names');
select results_eq(
  $$ select name, agent_id, metadata from update_thread(current_setting('test.t2')::uuid, '{"agent_id": null, "metadata": {"b": 2}}') $$,
  $$ values ('after', null::text, '{"b": 2}'::jsonb) $$, 'a null clears a field and metadata is replaced');
select ok((select expires_at is not null from update_thread(current_setting('test.t2')::uuid,
            jsonb_build_object('expires_at', now() + interval '1 hour'))), 'a patch can set a time to live');
select ok((select expires_at is null from update_thread(current_setting('test.t2')::uuid, '{"expires_at": null}')),
  'a patch can remove the time to live');
select ok((select updated_at >= created_at from get_thread(current_setting('test.t2')::uuid)), 'updated_at moves with changes');
select throws_ok(format($$ select update_thread(%L, '{"owner_id": "x"}') $$, current_setting('test.t2')), '22023',
  'patch has unknown field(s): owner_id', 'owner_id cannot be patched');
select throws_ok(format($$ select update_thread(%L, '{"name": 5}') $$, current_setting('test.t2')), '22023',
  'patch.name must be a string or null (got number)', 'a name that is not a string is refused');
select throws_ok(format($$ select update_thread(%L, '{"metadata": "x"}') $$, current_setting('test.t2')), '22023',
  'patch.metadata must be a JSON object (got string)', 'patch metadata that is not an object is refused');
select throws_ok(format($$ select update_thread(%L, '{"expires_at": "soon"}') $$, current_setting('test.t2')), '22023',
  'patch.expires_at is not a timestamp: soon', 'an expires_at that is not a timestamp is refused');
select throws_ok(format($$ select update_thread(%L, '{"summary_through": "nope"}') $$, current_setting('test.t2')), '22023',
  'summary_through is not a valid message cursor', 'summary_through must be a message cursor');
select throws_ok(format($$ select update_thread(%L, '[]') $$, current_setting('test.t2')), '22023',
  'patch must be a JSON object (got array)', 'a patch that is not an object is refused');
select results_eq($$ select name, metadata from get_thread(current_setting('test.t2')::uuid) $$,
  $$ values ('after', '{"b": 2}'::jsonb) $$, 'refused patches left the thread as it was');
select throws_ok($$ select update_thread('00000000-0000-0000-0000-000000000000', '{"name": "x"}') $$, 'PT404', null,
  'updating an unknown thread is not found');

-- delete_thread cascades
select save_messages(current_setting('test.t2')::uuid, '[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]');
select save_agent_state(current_setting('test.t2')::uuid, 'assistant', '{"step": 1}');
select is((select id from delete_thread(current_setting('test.t2')::uuid)), current_setting('test.t2')::uuid,
  'delete_thread returns the deleted thread');
select tests.authenticate_as_service_role();
select is((select count(*)::int from messages where thread_id = current_setting('test.t2')::uuid), 0,
  'deleting a thread deletes its messages');
select is((select count(*)::int from agent_states where thread_id = current_setting('test.t2')::uuid), 0,
  'deleting a thread deletes its agent states');
select tests.authenticate_as('alice');
select throws_ok(format($$ select delete_thread(%L) $$, current_setting('test.t2')), 'PT404', null,
  'deleting it again is not found');
select throws_ok(format($$ select get_thread(%L) $$, current_setting('test.t2')), 'PT404', null,
  'a deleted thread is not found');

select * from finish();
rollback;
