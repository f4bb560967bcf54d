-- The LibSQL mirror's change queue: one pgmq.send_batch per statement (counted as INSERT statements into the
-- queue table), one change per distinct row key with growing versions and the payload the worker expects;
-- what the worker reads for present and deleted rows; dead-lettering; who may read the status and failures;
-- and the client-generated ids of create_thread / save_messages that make outbox replays idempotent.
begin;
\ir helpers/test_helpers.psql
select plan(16);

create function tests.count_mirror_insert() returns trigger language plpgsql security invoker as $$
begin
  perform set_config('test.mirror_inserts', (coalesce(nullif(current_setting('test.mirror_inserts', true), ''), '0')::int + 1)::text, true);
  return null;
end $$;
create trigger count_mirror_inserts after insert on pgmq.q_libsql_mirror
  for each statement execute function tests.count_mirror_insert();
create function pg_temp.batch_calls() returns bigint language sql as $$
  select coalesce(nullif(current_setting('test.mirror_inserts', true), ''), '0')::bigint
$$;
create function pg_temp.changes(tbl text) returns setof jsonb language sql security definer as $$
  select q.message from pgmq.q_libsql_mirror q where q.message ->> 't' = tbl order by q.msg_id
$$;

select pgmq.purge_queue('libsql_mirror');
select tests.create_supabase_user('alice');
select tests.create_supabase_user('bob');
select tests.authenticate_as('alice');
select set_config('test.t', (create_thread(name => 'mirrored', id => 'aaaaaaaa-0000-4000-8000-000000000001')).id::text, true);
select set_config('test.calls', pg_temp.batch_calls()::text, true);

select save_messages(current_setting('test.t')::uuid, '[{"role": "user", "content": "one", "id": "bbbbbbbb-0000-4000-8000-000000000001"},
  {"role": "user", "content": "two", "id": "bbbbbbbb-0000-4000-8000-000000000002"}, {"role": "user", "content": "three"}]');
select tests.authenticate_as_owner();
select is((select count(*) from pg_temp.changes('messages')), 3::bigint, 'three saved messages are three message changes');
select is(pg_temp.batch_calls() - current_setting('test.calls')::bigint, 2::bigint,
  'one pgmq.send_batch for the messages statement and one for the thread''s updated_at bump — not one per row');
select ok((select bool_and(c ? 't' and c ? 'k' and c ? 'o' and c ? 'v' and c ->> 'op' = 'insert') from pg_temp.changes('messages') c),
  'a change carries table, key, owner, version and op');
select is((select c -> 'k' from pg_temp.changes('memory_threads') c limit 1), '["aaaaaaaa-0000-4000-8000-000000000001"]'::jsonb,
  'the key is the JSON array of the row''s key columns');
select ok((select max((c ->> 'v')::bigint) from pg_temp.changes('messages') c) > (select min((c ->> 'v')::bigint) from pg_temp.changes('memory_threads') c),
  'versions grow: the messages'' changes come after the thread''s creation');

-- What the worker sees: the row as it is now, or nothing when it is gone.
delete from public.messages where id = 'bbbbbbbb-0000-4000-8000-000000000002';
select is((select c ->> 'op' from pg_temp.changes('messages') c order by (c ->> 'v')::bigint desc limit 1), 'delete', 'a delete is a change too');
select results_eq(
  $$ select r.status, r."row" ->> 'content', r."row" is null
       from util.libsql_mirror_changes(array(select q.msg_id from pgmq.q_libsql_mirror q where q.message ->> 't' = 'messages'
                                            and q.message -> 'k' ->> 0 like 'bbbbbbbb%' order by q.msg_id)) r order by r.msg_id $$,
  $$ values ('ok', 'one', false), ('ok', null::text, true), ('ok', null::text, true) $$,
  'the worker reads the current row: present for a live message, null for the deleted one (all its changes)');
select ok((select r."row" ? '_created_us' and not r."row" ? 'fts' from util.libsql_mirror_changes(
  array(select q.msg_id from pgmq.q_libsql_mirror q where q.message ->> 't' = 'messages' order by q.msg_id limit 1)) r),
  'the row carries created_at in microseconds and leaves out the tsvector');

-- Dead-lettering.
select util.fail_libsql_mirror_changes(jsonb_build_array(jsonb_build_object('msg_id',
  (select q.msg_id from pgmq.q_libsql_mirror q where q.message ->> 't' = 'messages' order by q.msg_id limit 1), 'error', 'boom', 'final', true)));
select is((select last_error from public.libsql_mirror_failures), 'boom', 'a final failure is recorded with its error');
select tests.authenticate_as('bob');
select is_empty($$ select * from public.libsql_mirror_failures $$, 'Bob cannot see Alice''s dead-lettered changes');
select throws_ok($$ select * from util.libsql_mirror_status $$, '42501', null, 'a signed-in user cannot read the mirror status');
select tests.authenticate_as_service_role();
select is((select dead_lettered_total from util.libsql_mirror_status), 1::bigint, 'service_role reads the status view');

-- Client ids: replays are idempotent, conflicts and bad ids are errors.
select tests.authenticate_as('alice');
select is((create_thread(name => 'again', id => 'aaaaaaaa-0000-4000-8000-000000000001')).name, 'mirrored',
  'create_thread with an existing id returns the stored thread unchanged');
select set_config('test.returned', (select count(*) from save_messages(current_setting('test.t')::uuid,
  '[{"role": "user", "content": "one", "id": "bbbbbbbb-0000-4000-8000-000000000001"}, {"role": "user", "content": "four", "id": "bbbbbbbb-0000-4000-8000-000000000004"}]'))::text, true);
select is(current_setting('test.returned') || '/' || (select count(*) from public.messages where thread_id = current_setting('test.t')::uuid),
  '2/3', 'a replayed save_messages returns the stored message and inserts only the new one');
select set_config('test.t2', (create_thread(name => 'other')).id::text, true);
select throws_ok(format($$ select save_messages(%L, '[{"role": "user", "content": "x", "id": "bbbbbbbb-0000-4000-8000-000000000001"}]') $$,
  current_setting('test.t2')), 'PT409', 'message id bbbbbbbb-0000-4000-8000-000000000001 belongs to another thread',
  'an id of a message in another thread is a conflict');
select throws_ok(format($$ select save_messages(%L, '[{"role": "user", "content": "x", "id": "nope"}]') $$, current_setting('test.t2')),
  '22023', 'messages[0].id must be a UUID string (got "nope")', 'an id that is not a UUID names the element');

select * from finish();
rollback;
