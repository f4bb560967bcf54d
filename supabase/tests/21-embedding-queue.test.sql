-- The embedding queue triggers: one pgmq.send_batch per statement (counted as INSERT statements into the
-- queue table: send_batch is one INSERT ... SELECT unnest(...), a per-row send would be one per row), one
-- job per row and target model, nothing for blank content or unchanged content, the payload,
-- content_hash, cleanup on delete and on emptying, jobs for a model being built, and source registration
-- errors. Then what the worker sees for each kind of job (util.embedding_job_inputs).
begin;
\ir helpers/test_helpers.psql
select plan(24);

-- Counts statements that insert into the queue table, in a transaction-local setting. The trigger is
-- created by the owner and rolled back with the file. (Counting function calls with track_functions would
-- need a superuser, which hosted projects do not have.)
create function tests.count_queue_insert() returns trigger language plpgsql security invoker as $$
begin
  perform set_config('test.queue_inserts', (coalesce(nullif(current_setting('test.queue_inserts', true), ''), '0')::int + 1)::text, true);
  return null;
end $$;
create trigger count_queue_inserts after insert on pgmq.q_embedding_jobs
  for each statement execute function tests.count_queue_insert();
create function pg_temp.batch_calls() returns bigint language sql as $$
  select coalesce(nullif(current_setting('test.queue_inserts', true), ''), '0')::bigint
$$;
-- Security definer (owned by the owner): reads pgmq's queue whichever role the test is playing.
create function pg_temp.jobs_for(thread uuid) returns bigint language sql security definer as $$
  select count(*) from pgmq.q_embedding_jobs q join public.messages m on m.id::text = q.message ->> 'id' where m.thread_id = thread
$$;

select tests.create_supabase_user('alice');
select tests.authenticate_as('alice');
select set_config('test.t', (create_thread(name => 'queue')).id::text, true);
select set_config('test.calls', pg_temp.batch_calls()::text, true);

-- one statement, five rows → one send_batch call, five jobs
select set_config('test.ids', (select string_agg(id::text, ',') from save_messages(current_setting('test.t')::uuid,
  '[{"role": "user", "content": "one"}, {"role": "user", "content": "two"}, {"role": "user", "content": "three"},
    {"role": "user", "content": "four"}, {"role": "user", "content": "five"}]')), true);
select is(pg_temp.batch_calls() - current_setting('test.calls')::bigint, 1::bigint,
  'saving five messages in one statement makes exactly one pgmq.send_batch call');
select is(pg_temp.jobs_for(current_setting('test.t')::uuid), 5::bigint, 'it queues one job per message');
select tests.authenticate_as_owner();  -- back to the owner, who may read the queue
select results_eq(
  $$ select q.message from pgmq.q_embedding_jobs q join public.messages m on m.id::text = q.message ->> 'id'
      where m.content = 'three' $$,
  $$ select jsonb_build_object('table', 'messages', 'id', m.id, 'owner_id', m.owner_id, 'content_hash', m.content_hash,
                               'model', 'hash-384') from public.messages m where m.content = 'three' $$,
  'a job carries table, id, owner_id, content_hash and model');
select is((select content_hash from public.messages where content = 'three'), encode(sha256('three'::bytea), 'hex'),
  'content_hash is the sha256 hex of the content');
select tests.authenticate_as('alice');

-- a second statement → one more call
select set_config('test.calls', pg_temp.batch_calls()::text, true);
select save_message(current_setting('test.t')::uuid, 'assistant', 'six');
select is(pg_temp.batch_calls() - current_setting('test.calls')::bigint, 1::bigint, 'another statement, another single call');

-- blank content: no job and no call
select set_config('test.calls', pg_temp.batch_calls()::text, true);
select save_messages(current_setting('test.t')::uuid, '[{"role": "user", "content": ""}, {"role": "user", "content": "  \n "}]');
select is(pg_temp.batch_calls() - current_setting('test.calls')::bigint, 0::bigint, 'blank messages make no send_batch call');
select is(pg_temp.jobs_for(current_setting('test.t')::uuid), 6::bigint, 'and queue no job');

-- updates: only changed content, in one call
select set_config('test.calls', pg_temp.batch_calls()::text, true);
update public.messages set metadata = '{"seen": true}' where thread_id = current_setting('test.t')::uuid;
select is(pg_temp.batch_calls() - current_setting('test.calls')::bigint, 0::bigint, 'an update that keeps the content queues nothing');
update public.messages set content = content || ' (edited)' where content in ('one', 'two');
select is(pg_temp.batch_calls() - current_setting('test.calls')::bigint, 1::bigint, 'editing two messages in one statement is one call');
select is(pg_temp.jobs_for(current_setting('test.t')::uuid), 8::bigint, 'with a job for each edited message');
select tests.authenticate_as_owner();  -- back to the owner, who may read the queue
select ok((select bool_and(q.message ->> 'content_hash' = m.content_hash) from pgmq.q_embedding_jobs q
             join public.messages m on m.id::text = q.message ->> 'id'
            where m.content like '%(edited)' and q.msg_id = (select max(msg_id) from pgmq.q_embedding_jobs q2 where q2.message ->> 'id' = m.id::text)),
  'the new jobs carry the new content hash');

-- a model being built also gets jobs for new rows, in the same single call
update public.embedding_models set state = 'building', build_started_at = now() where name = 'gte-small';
select tests.authenticate_as('alice');
select set_config('test.calls', pg_temp.batch_calls()::text, true);
select save_messages(current_setting('test.t')::uuid, '[{"role": "user", "content": "seven"}, {"role": "user", "content": "eight"}]');
select is(pg_temp.batch_calls() - current_setting('test.calls')::bigint, 1::bigint, 'new rows while a model builds: still one call');
select tests.authenticate_as_owner();  -- back to the owner, who may read the queue
select results_eq(
  $$ select q.message ->> 'model' from pgmq.q_embedding_jobs q join public.messages m on m.id::text = q.message ->> 'id'
      where m.content = 'seven' order by 1 $$,
  $$ values ('gte-small'), ('hash-384') $$, 'a new row gets a job for the default and for the model being built');
update public.embedding_models set state = 'ready', build_started_at = null where name = 'gte-small';

-- deleting or emptying a row removes its embeddings
insert into public.embeddings (owner_id, source_table, source_id, model, content_hash, embedding)
select m.owner_id, 'messages', m.id, 'hash-384', m.content_hash, (select array_agg(0.5) from generate_series(1, 384))::extensions.vector
  from public.messages m where m.content in ('three', 'four');
delete from public.messages where content = 'three';
select is((select count(*) from public.embeddings e join public.messages m on m.id = e.source_id where m.content = 'four'), 1::bigint,
  'deleting a message keeps the other embeddings');
select is((select count(*) from public.embeddings where source_id not in (select id from public.messages) and source_table = 'messages'), 0::bigint,
  'and deletes its own');
update public.messages set content = ' ' where content = 'four';
select is((select count(*) from public.embeddings e join public.messages m on m.id = e.source_id where m.content = ' '), 0::bigint,
  'a message whose content becomes blank loses its embedding');

insert into public.memory_threads (id, owner_id) values ('21000000-0000-0000-0000-000000000001', tests.get_supabase_uid('alice'));
insert into public.messages (id, thread_id, role, content) values
  ('21000000-0000-0000-0000-0000000000a1', '21000000-0000-0000-0000-000000000001', 'user', 'in a thread that goes away');
insert into public.embeddings (owner_id, source_table, source_id, model, content_hash, embedding)
select m.owner_id, 'messages', m.id, 'hash-384', m.content_hash, (select array_agg(0.5) from generate_series(1, 384))::extensions.vector
  from public.messages m where m.id = '21000000-0000-0000-0000-0000000000a1';
delete from public.memory_threads where id = '21000000-0000-0000-0000-000000000001';
select is_empty($$ select 1 from public.embeddings where source_id = '21000000-0000-0000-0000-0000000000a1' $$,
  'deleting a thread (messages go by cascade) deletes their embeddings too');

-- what the worker sees
select set_config('test.bad', (select pgmq.send('embedding_jobs', '{"table": "auth_users", "id": "00000000-0000-0000-0000-000000000000", "model": "hash-384", "content_hash": "x"}'))::text, true);
select results_eq(
  $$ select i.status, i.reason from util.embedding_job_inputs(array[current_setting('test.bad')::bigint]) i $$,
  $$ values ('invalid', 'table auth_users is not an embedding source') $$,
  'a job naming an unregistered table is invalid, whatever the payload says');
select results_eq(
  $$ select m.content, i.status, i.content, i.tokenizer
       from util.embedding_job_inputs(array(select q.msg_id from pgmq.q_embedding_jobs q)) i
       join public.messages m on m.id = i.source_id
      where m.content in ('five', 'six') and i.model = 'hash-384' order by m.content $$,
  $$ values ('five', 'ok', 'five', 'o200k_base'), ('six', 'ok', 'six', 'o200k_base') $$,
  'a current job is ok, with the content and the tokenizer of the thread''s model (o200k_base without an agent)');
select is(
  (select array_agg(distinct i.status order by i.status) from util.embedding_job_inputs(array(select q.msg_id from pgmq.q_embedding_jobs q)) i
     join public.messages m on m.id = i.source_id where m.content like '%(edited)' or m.content = ' '),
  array['empty', 'ok', 'stale'],
  'jobs of edited messages: the old one is stale, the new one ok; an emptied message''s job is empty');
select is(
  (select count(*) from util.embedding_job_inputs(array(select q.msg_id from pgmq.q_embedding_jobs q)) i
    where i.status = 'deleted' and i.reason = 'the source row no longer exists' and i.content is null),
  2::bigint, 'the jobs of deleted messages (one deleted directly, one with its thread) are deleted');
insert into public.embeddings (owner_id, source_table, source_id, model, content_hash, embedding)
select m.owner_id, 'messages', m.id, 'hash-384', m.content_hash, (select array_agg(0.5) from generate_series(1, 384))::extensions.vector
  from public.messages m where m.content = 'five';
select results_eq(
  $$ select i.status from util.embedding_job_inputs(array(select q.msg_id from pgmq.q_embedding_jobs q)) i
       join public.messages m on m.id = i.source_id where m.content = 'five' $$,
  $$ values ('embedded') $$, 'a job whose content is already embedded has nothing to do');

-- registration errors name the problem
create table public.no_uuid_notes (id bigint primary key, body text, owner_id uuid);
alter table public.no_uuid_notes enable row level security;
select throws_ok($$ select util.register_embedding_source('public.no_uuid_notes', 'body') $$, '22023',
  'table no_uuid_notes needs a column id of type uuid', 'a source must have a uuid id');
create table public.notes (id uuid primary key, body integer, owner_id uuid);
alter table public.notes enable row level security;
select throws_ok($$ select util.register_embedding_source('public.notes', 'body') $$, '22023',
  'table notes needs a column body of type text', 'the content column must be text');

select * from finish();
rollback;
