-- embedding_status (every state with its reason, row level security), the operators' pipeline view, and
-- util.reembed: unknown model or source, building a new model while searches keep the default, and the
-- switch once the build is complete.
begin;
\ir helpers/test_helpers.psql
select plan(20);

create function pg_temp.vec(n integer) returns text language sql as $$
  select (select array_agg(0.1) from generate_series(1, n))::extensions.vector::text
$$;
create function pg_temp.store(source uuid, model text, n integer) returns void language sql as $$
  select null from util.complete_embedding_jobs(jsonb_build_array(jsonb_build_object(
    'msg_ids', (select coalesce(array_agg(q.msg_id), '{}') from pgmq.q_embedding_jobs q
                 where q.message ->> 'id' = source::text and q.message ->> 'model' = model),
    'source_table', 'messages', 'source_id', source, 'model', model,
    'content_hash', (select m.content_hash from public.messages m where m.id = source),
    'embedding', pg_temp.vec(n), 'token_count', null)))
$$;

select pgmq.purge_queue('embedding_jobs');
select tests.create_supabase_user('alice');
select tests.create_supabase_user('bob');
insert into public.memory_threads (id, owner_id) values ('23000000-0000-0000-0000-000000000001', tests.get_supabase_uid('alice'));
insert into public.messages (id, thread_id, role, content) values
  ('23000000-0000-0000-0000-0000000000a1', '23000000-0000-0000-0000-000000000001', 'user', 'will be embedded'),
  ('23000000-0000-0000-0000-0000000000a2', '23000000-0000-0000-0000-000000000001', 'user', 'still queued'),
  ('23000000-0000-0000-0000-0000000000a3', '23000000-0000-0000-0000-000000000001', 'user', 'will fail'),
  ('23000000-0000-0000-0000-0000000000a4', '23000000-0000-0000-0000-000000000001', 'user', 'will be edited'),
  ('23000000-0000-0000-0000-0000000000a5', '23000000-0000-0000-0000-000000000001', 'user', '');
select pg_temp.store('23000000-0000-0000-0000-0000000000a1', 'hash-384', 384);
select pg_temp.store('23000000-0000-0000-0000-0000000000a4', 'hash-384', 384);
select util.fail_embedding_jobs(jsonb_build_array(jsonb_build_object(
  'msg_id', (select q.msg_id from pgmq.q_embedding_jobs q where q.message ->> 'id' = '23000000-0000-0000-0000-0000000000a3'),
  'error', 'fake-16: HTTP 500 Internal Server Error', 'final', true)));
update public.messages set content = 'edited after embedding' where id = '23000000-0000-0000-0000-0000000000a4';
select pgmq.delete('embedding_jobs', (select array_agg(q.msg_id) from pgmq.q_embedding_jobs q where q.message ->> 'id' = '23000000-0000-0000-0000-0000000000a4'));

select tests.authenticate_as('alice');
select results_eq(
  $$ select source_id, status, reason from public.embedding_status where model = 'hash-384' order by source_id $$,
  $$ values ('23000000-0000-0000-0000-0000000000a1'::uuid, 'embedded', null::text),
            ('23000000-0000-0000-0000-0000000000a2'::uuid, 'pending', 'queued'),
            ('23000000-0000-0000-0000-0000000000a3'::uuid, 'failed', 'fake-16: HTTP 500 Internal Server Error'),
            ('23000000-0000-0000-0000-0000000000a4'::uuid, 'stale', 'the embedding is of an earlier version of the content and no job is queued'),
            ('23000000-0000-0000-0000-0000000000a5'::uuid, 'empty', 'content is empty') $$,
  'Alice sees each of her messages as embedded, pending, failed (with the error), stale or empty');
select results_eq(
  $$ select failed_attempts, embedded_at is not null from public.embedding_status where source_id in ('23000000-0000-0000-0000-0000000000a3', '23000000-0000-0000-0000-0000000000a1') order by source_id $$,
  $$ values (null::integer, true), (0, false) $$, 'the status carries when it was embedded and how many attempts failed (none: given up unread)');
select tests.authenticate_as('bob');
select is_empty($$ select * from public.embedding_status where source_table = 'messages' and source_id::text like '23000000%' $$,
  'Bob sees none of Alice''s statuses');
select is_empty($$ select * from public.embedding_failures $$, 'nor her failures');
select tests.clear_authentication();
select throws_ok($$ select * from public.embedding_status $$, '42501', null, 'anon cannot read embedding_status');

-- the pipeline view
select tests.authenticate_as_service_role();
select results_eq(
  $$ select queue_depth, failures_last_24_hours, dead_lettered_total, default_model, embedded_last_5_minutes >= 2
       from util.embedding_pipeline $$,
  $$ values (1::bigint, 1::bigint, 1::bigint, 'hash-384', true) $$,
  'service_role reads queue depth, failures and recent embeddings from util.embedding_pipeline');
select ok((select oldest_job_age_seconds >= 0 and jobs_enqueued_total >= 5 from util.embedding_pipeline), 'with the oldest job age and jobs enqueued');
select tests.authenticate_as('alice');
select throws_ok($$ select * from util.embedding_pipeline $$, '42501', null, 'a signed-in user cannot read the pipeline view');
select tests.clear_authentication();
select tests.authenticate_as_owner();

-- reembed: bad input
select throws_ok($$ select util.reembed('text-embedding-4') $$, '22023',
  'unknown embedding model "text-embedding-4"; registered models: gte-small, hash-384, text-embedding-3-large, text-embedding-3-small',
  'reembed with an unknown model lists the registered models');
select throws_ok($$ select util.reembed('hash-384', 'documents') $$, '22023',
  'unknown embedding source "documents"; registered sources: document_chunks, memories, messages', 'reembed with an unknown source lists the sources');

-- reembed into a new model
select pgmq.purge_queue('embedding_jobs');
delete from public.embedding_failures;
insert into public.embedding_models (name, provider, provider_model, dims) values ('next-8', 'openai', 'next', 8);
select is(util.reembed('next-8'),
  (select count(*)::integer from public.messages where content ~ '\S'),
  'reembed queues one job per message with content');
select results_eq($$ select name, state from public.embedding_models where name in ('hash-384', 'next-8') order by name $$,
  $$ values ('hash-384', 'ready'), ('next-8', 'building') $$, 'the new model is building');
select results_eq($$ select name from public.embedding_models where is_default $$, $$ values ('hash-384') $$,
  'searches keep using the current default while it builds');
select is(util.reembed('next-8'), 0, 're-running reembed does not queue the same rows twice');
insert into public.messages (id, thread_id, role, content) values
  ('23000000-0000-0000-0000-0000000000b1', '23000000-0000-0000-0000-000000000001', 'user', 'arrives during the build');
select results_eq(
  $$ select q.message ->> 'model' from pgmq.q_embedding_jobs q where q.message ->> 'id' = '23000000-0000-0000-0000-0000000000b1' order by 1 $$,
  $$ values ('hash-384'), ('next-8') $$, 'a message saved during the build is queued for both models');
select pg_temp.store(m.id, 'next-8', 8) from public.messages m where m.content ~ '\S' and m.id <> '23000000-0000-0000-0000-0000000000a2';
select results_eq($$ select name from public.embedding_models where is_default $$, $$ values ('hash-384') $$,
  'while one row is still missing, the default does not change');
select pg_temp.store('23000000-0000-0000-0000-0000000000a2', 'next-8', 8);
select results_eq($$ select name, state, is_default from public.embedding_models where name in ('hash-384', 'next-8') order by name $$,
  $$ values ('hash-384', 'ready', false), ('next-8', 'ready', true) $$,
  'once every row is embedded in it, the new model becomes the default by itself');
insert into public.messages (id, thread_id, role, content) values
  ('23000000-0000-0000-0000-0000000000b2', '23000000-0000-0000-0000-000000000001', 'user', 'after the switch');
select results_eq($$ select q.message ->> 'model' from pgmq.q_embedding_jobs q where q.message ->> 'id' = '23000000-0000-0000-0000-0000000000b2' $$,
  $$ values ('next-8') $$, 'new messages are then embedded with the new default only');
select is(util.reembed('next-8'), 0, 'reembed of a complete default model finds nothing to do');
select results_eq($$ select count(*) filter (where status = 'embedded'), count(*) filter (where status = 'empty')
                       from public.embedding_status where model = 'next-8' and source_id::text like '23000000%' and source_id <> '23000000-0000-0000-0000-0000000000b2' $$,
  $$ values (5::bigint, 1::bigint) $$, 'the status view follows the new default');

select * from finish();
rollback;
