-- The worker's SQL side: util.process_embeddings (quiet on an empty queue, requests sized by visible
-- jobs, Vault key), reading jobs with a visibility timeout, storing results only for unchanged content
-- (with exact token counts), retry with backoff, dead-lettering after max_attempts, deferral without
-- using an attempt, and settings validation / rescheduling.
begin;
\ir helpers/test_helpers.psql
select plan(30);

select vault.create_secret('https://project.example', 'project_url');
select vault.create_secret('service-key-from-vault', 'service_role_key');
select pgmq.purge_queue('embedding_jobs');

create function pg_temp.embed_calls() returns bigint language sql as $$
  select count(*) from net.http_request_queue where url = 'https://project.example/functions/v1/embed'
$$;
create function pg_temp.vec(n integer, x double precision default 0.1) returns text language sql as $$
  select (select array_agg(x) from generate_series(1, n))::extensions.vector::text
$$;

-- process_embeddings
select is(util.process_embeddings(), 0, 'an empty queue: process_embeddings returns 0');
select is(pg_temp.embed_calls(), 0::bigint, 'and makes no HTTP call');
select pgmq.send_batch('embedding_jobs', array(select jsonb_build_object('n', g) from generate_series(1, 250) g));
select is(util.process_embeddings(batch_size => 100, max_requests => 10), 3, '250 visible jobs in batches of 100: 3 requests');
select results_eq(
  $$ select method::text, headers ->> 'Authorization', convert_from(body, 'UTF8')::jsonb from net.http_request_queue order by id limit 1 $$,
  $$ values ('POST', 'Bearer service-key-from-vault', '{"batch_size": 100}'::jsonb) $$,
  'each request POSTs the batch size to the embed function with the service key from Vault');
select is(util.process_embeddings(batch_size => 100, max_requests => 2), 2, 'never more than max_requests');
select is((select count(*) from pgmq.read('embedding_jobs', 30, 250)), 250::bigint, 'a worker takes all 250 jobs');
select is(util.process_embeddings(), 0, 'jobs in flight are not visible: no request');
select pgmq.purge_queue('embedding_jobs');

-- one message through the worker functions
select tests.create_supabase_user('alice');
insert into public.memory_threads (id, owner_id) values ('22000000-0000-0000-0000-000000000001', tests.get_supabase_uid('alice'));
insert into public.messages (id, thread_id, role, content) values
  ('22000000-0000-0000-0000-0000000000a1', '22000000-0000-0000-0000-000000000001', 'user', 'hello world');
select results_eq(
  $$ select source_id, status, attempts, content from util.read_embedding_jobs(10, 30) $$,
  $$ values ('22000000-0000-0000-0000-0000000000a1'::uuid, 'ok', 1, 'hello world') $$,
  'read_embedding_jobs returns the job with its content and first attempt');
select is_empty($$ select * from util.read_embedding_jobs(10, 30) $$, 'the job is invisible while in flight');
select results_eq(
  format($$ select outcome from util.complete_embedding_jobs(jsonb_build_array(jsonb_build_object(
      'msg_ids', (select array_agg(q.msg_id) from pgmq.q_embedding_jobs q), 'source_table', 'messages',
      'source_id', '22000000-0000-0000-0000-0000000000a1', 'model', 'hash-384',
      'content_hash', (select content_hash from public.messages where content = 'hello world'),
      'embedding', %L, 'token_count', 2))) $$, pg_temp.vec(384)),
  $$ values ('stored') $$, 'a result for unchanged content is stored');
select results_eq(
  $$ select e.model, e.content_hash = m.content_hash, e.owner_id = m.owner_id, m.token_count, m.token_count_exact
       from public.embeddings e join public.messages m on m.id = e.source_id $$,
  $$ values ('hash-384', true, true, 2, true) $$,
  'the embedding is stored for the row''s owner and the exact token count written to the message');
select is((pgmq.metrics('embedding_jobs')).queue_length, 0::bigint, 'the done job is deleted');
insert into public.messages (id, thread_id, role, content, token_count, token_count_exact) values
  ('22000000-0000-0000-0000-0000000000a9', '22000000-0000-0000-0000-000000000001', 'user', 'counted by the writer', 99, true);
select util.complete_embedding_jobs(jsonb_build_array(jsonb_build_object(
  'msg_ids', (select array_agg(q.msg_id) from pgmq.q_embedding_jobs q), 'source_table', 'messages',
  'source_id', '22000000-0000-0000-0000-0000000000a9', 'model', 'hash-384',
  'content_hash', (select content_hash from public.messages where id = '22000000-0000-0000-0000-0000000000a9'),
  'embedding', pg_temp.vec(384), 'token_count', 4)));
select results_eq($$ select token_count, token_count_exact from public.messages where id = '22000000-0000-0000-0000-0000000000a9' $$,
  $$ values (99, true) $$, 'a token count the writer gave as exact is kept');

-- content changed while in flight
insert into public.messages (id, thread_id, role, content) values
  ('22000000-0000-0000-0000-0000000000a2', '22000000-0000-0000-0000-000000000001', 'user', 'first draft');
select set_config('test.job', (select msg_id from util.read_embedding_jobs(10, 30))::text, true);
select set_config('test.hash', (select content_hash from public.messages where id = '22000000-0000-0000-0000-0000000000a2'), true);
update public.messages set content = 'final text' where id = '22000000-0000-0000-0000-0000000000a2';
select results_eq(
  format($$ select outcome from util.complete_embedding_jobs(jsonb_build_array(jsonb_build_object(
      'msg_ids', array[%s], 'source_table', 'messages', 'source_id', '22000000-0000-0000-0000-0000000000a2',
      'model', 'hash-384', 'content_hash', %L, 'embedding', %L, 'token_count', 2))) $$,
    current_setting('test.job'), current_setting('test.hash'), pg_temp.vec(384)),
  $$ values ('stale') $$, 'a result for content that changed meanwhile is stale');
select is_empty($$ select 1 from public.embeddings where source_id = '22000000-0000-0000-0000-0000000000a2' $$,
  'and stores nothing');
select is((select array_agg(q.message ->> 'content_hash') from pgmq.q_embedding_jobs q),
  array[(select content_hash from public.messages where id = '22000000-0000-0000-0000-0000000000a2')],
  'only the job for the final content is left');
select throws_ok(
  format($$ select * from util.complete_embedding_jobs(jsonb_build_array(jsonb_build_object(
      'msg_ids', (select array_agg(q.msg_id) from pgmq.q_embedding_jobs q), 'source_table', 'messages',
      'source_id', '22000000-0000-0000-0000-0000000000a2', 'model', 'hash-384',
      'content_hash', (select content_hash from public.messages where id = '22000000-0000-0000-0000-0000000000a2'),
      'embedding', %L, 'token_count', 2))) $$, pg_temp.vec(3)),
  '22000', 'embedding has 3 dimensions but model "hash-384" stores 384', 'a vector of the wrong size fails the whole call');
select is((pgmq.metrics('embedding_jobs')).queue_length, 1::bigint, 'and leaves its job queued');
select pgmq.purge_queue('embedding_jobs');

-- failures: retry with the given delay, then dead-letter after max_attempts
update public.settings set value = '2' where category = 'embeddings' and key = 'max_attempts';
insert into public.messages (id, thread_id, role, content) values
  ('22000000-0000-0000-0000-0000000000a3', '22000000-0000-0000-0000-000000000001', 'user', 'fails');
select set_config('test.job', (select msg_id from util.read_embedding_jobs(10, 30))::text, true);
select results_eq(
  format($$ select outcome, attempts from util.fail_embedding_jobs(jsonb_build_array(jsonb_build_object('msg_id', %s, 'error', 'HTTP 500', 'delay_seconds', 60))) $$,
    current_setting('test.job')),
  $$ values ('retrying', 1) $$, 'a first failure is retried');
select ok((select q.vt > clock_timestamp() + interval '55 seconds' from pgmq.q_embedding_jobs q), 'after the backoff delay');
select pgmq.set_vt('embedding_jobs', current_setting('test.job')::bigint, 0);
select results_eq($$ select attempts from util.read_embedding_jobs(10, 30) $$, $$ values (2) $$, 'the second read is attempt 2');
select results_eq(
  format($$ select outcome, attempts from util.fail_embedding_jobs(jsonb_build_array(jsonb_build_object('msg_id', %s, 'error', 'HTTP 500 again', 'delay_seconds', 60))) $$,
    current_setting('test.job')),
  $$ values ('dead_lettered', 2) $$, 'the failure at max_attempts dead-letters the job');
select results_eq(
  $$ select source_table, source_id, model, attempts, last_error, content_hash = (select content_hash from public.messages m where m.id = f.source_id)
       from public.embedding_failures f $$,
  $$ values ('messages', '22000000-0000-0000-0000-0000000000a3'::uuid, 'hash-384', 2, 'HTTP 500 again', true) $$,
  'embedding_failures records source, model, attempts and the last error');
select is((select count(*) from pgmq.a_embedding_jobs a where a.msg_id = current_setting('test.job')::bigint), 1::bigint,
  'the job is archived, not lost');

-- deferral keeps the attempt count
insert into public.messages (id, thread_id, role, content) values
  ('22000000-0000-0000-0000-0000000000a4', '22000000-0000-0000-0000-000000000001', 'user', 'deferred');
select set_config('test.job', (select msg_id from util.read_embedding_jobs(10, 30))::text, true);
select is(util.defer_embedding_jobs(array[current_setting('test.job')::bigint]), 1, 'a job that did not fit is deferred');
select results_eq($$ select q.read_ct, q.message ->> 'attempts', q.vt <= clock_timestamp() from pgmq.q_embedding_jobs q $$,
  $$ values (0, '0', true) $$, 'it is queued again, visible at once, with no attempt used');

-- who may drive the queue
select tests.authenticate_as('alice');
select throws_ok($$ select util.process_embeddings() $$, '42501', null, 'a signed-in user cannot run the queue worker');
select throws_ok($$ select * from util.read_embedding_jobs(10, 30) $$, '42501', null, 'nor read jobs');
select tests.authenticate_as_owner();

-- settings
select throws_ok($$ update public.settings set value = '0' where category = 'embeddings' and key = 'batch_size' $$,
  '22023', 'setting embeddings.batch_size must be a whole number between 1 and 2048, got 0', 'an invalid setting is refused');
update public.settings set value = '"5 seconds"' where category = 'embeddings' and key = 'schedule';
select results_eq($$ select schedule, command from cron.job where jobname = 'process-embeddings' $$,
  $$ values ('5 seconds', 'select util.process_embeddings()') $$, 'changing embeddings.schedule reschedules the cron job');

select * from finish();
rollback;
