-- Resumable re-embedding: util.reembed opens an operation_progress row and queues one batch per
-- transaction; a batch that crashes (rolled back) leaves the cursor where the last committed batch put
-- it, so the next one resumes there — no row queued twice, none skipped; the row follows the build to
-- completed (or failed, when jobs were dead-lettered), and re-running util.reembed restarts the same
-- row's scan. Users cannot see system operations.
begin;
\ir helpers/test_helpers.psql
select plan(28);

create function pg_temp.vec(n integer) returns text language sql as $$
  select (select array_agg(0.1) from generate_series(1, n))::extensions.vector::text
$$;
-- What the embed worker does for one message: store its vector and delete its jobs.
create function pg_temp.store(source uuid, model text, n integer) returns void language sql as $$
  select null from util.complete_embedding_jobs(jsonb_build_array(jsonb_build_object(
    'msg_ids', (select coalesce(array_agg(q.msg_id), '{}') from pgmq.q_embedding_jobs q
                 where q.message ->> 'id' = source::text and q.message ->> 'model' = model),
    'source_table', 'messages', 'source_id', source, 'model', model,
    'content_hash', (select m.content_hash from public.messages m where m.id = source),
    'embedding', pg_temp.vec(n), 'token_count', null)))
$$;
create function pg_temp.op(model text) returns public.operation_progress language sql as $$
  select * from public.operation_progress o where o.kind = 'reembed' and o.subject = model order by o.started_at desc limit 1
$$;
create function pg_temp.jobs(model text) returns table (jobs bigint, distinct_rows bigint) language sql as $$
  select count(*), count(distinct q.message ->> 'id') from pgmq.q_embedding_jobs q where q.message ->> 'model' = model
$$;

-- Only this file's messages (the seed's sample thread would sort first in the scan); rolled back at the end.
delete from public.memory_threads;
select pgmq.purge_queue('embedding_jobs');
select tests.create_supabase_user('alice');
insert into public.memory_threads (id, owner_id) values ('46000000-0000-0000-0000-000000000001', tests.get_supabase_uid('alice'));
insert into public.messages (id, thread_id, role, content)
select ('46000000-0000-0000-0000-0000000000' || lpad(g::text, 2, '0'))::uuid, '46000000-0000-0000-0000-000000000001', 'user',
       case when g = 8 then ' ' else 'message number ' || g end
  from generate_series(1, 8) g;
select pgmq.purge_queue('embedding_jobs');
insert into public.embedding_models (name, provider, provider_model, dims) values ('prog-8', 'hash', 'hash-8', 8);
update public.settings set value = '3' where category = 'embeddings' and key = 'reembed_batch_size';

-- The first batch is queued by util.reembed itself.
select is(util.reembed('prog-8'), 3, 'util.reembed queues the first batch (reembed_batch_size rows) at once');
select results_eq(
  $$ select status, phase, total, detail ->> 'scanned', detail ->> 'queued', cursor ->> 'after_id', owner_id is null from pg_temp.op('prog-8') $$,
  $$ values ('running', 'enqueue', 7::bigint, '3', '3', '46000000-0000-0000-0000-000000000003', true) $$,
  'a system progress row records the total (rows with content), the batch and the cursor after it');
select results_eq($$ select * from pg_temp.jobs('prog-8') $$, $$ values (3::bigint, 3::bigint) $$, 'three jobs are queued');

-- A batch that crashes mid-way: rolled back, it leaves no trace.
savepoint before_crash;
select is(util.advance_operations(), 3, 'the next batch queues three more');
rollback to savepoint before_crash;
select results_eq($$ select detail ->> 'scanned', cursor ->> 'after_id' from pg_temp.op('prog-8') $$,
  $$ values ('3', '46000000-0000-0000-0000-000000000003') $$, 'after a crashed batch the cursor is still after the last committed one');
select results_eq($$ select * from pg_temp.jobs('prog-8') $$, $$ values (3::bigint, 3::bigint) $$, 'and its jobs are gone with it');

-- The resumed run continues exactly there.
select is(util.advance_operations(), 3, 'the resumed run queues the next three');
select results_eq($$ select phase, detail ->> 'scanned', cursor ->> 'after_id' from pg_temp.op('prog-8') $$,
  $$ values ('enqueue', '6', '46000000-0000-0000-0000-000000000006') $$, 'the cursor advances with the batch');
select is(util.advance_operations(), 1, 'the last batch queues the last row with content');
select results_eq($$ select phase, detail ->> 'scanned', detail ->> 'queued', detail ->> 'remaining', done from pg_temp.op('prog-8') $$,
  $$ values ('embed', '7', '7', '7', 0::bigint) $$, 'the scan is over; seven jobs wait for the worker');
select results_eq($$ select * from pg_temp.jobs('prog-8') $$, $$ values (7::bigint, 7::bigint) $$,
  'every row with content was queued exactly once across the crash');
select is(util.advance_operations(), 0, 'further runs queue nothing');

-- Re-running util.reembed restarts the same operation's scan; rows already queued are not queued again.
select is(util.reembed('prog-8'), 0, 're-running util.reembed queues no row twice');
select is((select count(*)::int from operation_progress where kind = 'reembed' and subject = 'prog-8'), 1,
  'it reuses the running operation rather than starting a second one');
select results_eq($$ select phase, detail ->> 'scanned' from pg_temp.op('prog-8') $$, $$ values ('enqueue', '3') $$,
  'and scans from the beginning again');
select util.advance_operations();
select util.advance_operations();

-- The worker embeds; the progress follows; the operation completes with the build.
select pg_temp.store(('46000000-0000-0000-0000-0000000000' || lpad(g::text, 2, '0'))::uuid, 'prog-8', 8) from generate_series(1, 4) g;
select util.advance_operations();
select results_eq($$ select status, done, total, detail ->> 'remaining' from pg_temp.op('prog-8') $$,
  $$ values ('running', 4::bigint, 7::bigint, '3') $$, 'done counts the rows whose jobs are finished');
select pg_temp.store(('46000000-0000-0000-0000-0000000000' || lpad(g::text, 2, '0'))::uuid, 'prog-8', 8) from generate_series(5, 7) g;
select util.advance_operations();
select results_eq($$ select status, done, total, finished_at is not null, error from pg_temp.op('prog-8') $$,
  $$ values ('completed', 7::bigint, 7::bigint, true, null::text) $$, 'with no job left the operation completes');
select results_eq($$ select state, is_default from embedding_models where name = 'prog-8' $$, $$ values ('ready', true) $$,
  'and the model it built is the default');

-- Dead-lettered jobs fail the operation, and util.reembed retries exactly those rows.
insert into public.embedding_models (name, provider, provider_model, dims) values ('prog-4', 'hash', 'hash-4', 4);
update public.settings set value = '100' where category = 'embeddings' and key = 'reembed_batch_size';
select is(util.reembed('prog-4'), 7, 'a batch large enough queues everything at once');
select util.fail_embedding_jobs(jsonb_build_array(jsonb_build_object(
  'msg_id', (select q.msg_id from pgmq.q_embedding_jobs q where q.message ->> 'id' = '46000000-0000-0000-0000-000000000002' and q.message ->> 'model' = 'prog-4'),
  'error', 'provider said no', 'final', true)));
select pg_temp.store(('46000000-0000-0000-0000-0000000000' || lpad(g::text, 2, '0'))::uuid, 'prog-4', 4) from generate_series(1, 7) g where g <> 2;
select util.advance_operations();
select results_eq($$ select status, error from pg_temp.op('prog-4') $$,
  $$ values ('failed', '1 job(s) of model "prog-4" were dead-lettered (see embedding_failures); run util.reembed(''prog-4'') again to retry them') $$,
  'an operation whose jobs were dead-lettered fails, saying how to retry');
select is((select state from embedding_models where name = 'prog-4'), 'building', 'the model is not promoted');
select is(util.reembed('prog-4'), 1, 're-running util.reembed queues just the failed row');
select is((select count(*)::int from operation_progress where subject = 'prog-4'), 2, 'as a new operation (the failed one stays as a record)');

-- Bad settings, visibility, the cron job.
update public.settings set value = '0' where category = 'embeddings' and key = 'reembed_batch_size';
select throws_ok($$ select util.reembed('prog-4') $$, '22023',
  'setting embeddings.reembed_batch_size must be a whole number between 1 and 100000, got 0', 'an invalid batch size is refused by name');
update public.settings set value = '5000' where category = 'embeddings' and key = 'reembed_batch_size';
select tests.authenticate_as('alice');
select is_empty($$ select 1 from operation_progress $$, 'signed-in users do not see system operations');
select throws_ok($$ select util.advance_operations() $$, '42501', null, 'users cannot advance operations');
select tests.authenticate_as_owner();
select ok((select array_agg(tablename::text) from pg_publication_tables where pubname = 'supabase_realtime' and schemaname = 'public')
  @> array['operation_progress'], 'progress rows stream through supabase_realtime');
select results_eq($$ select schedule, command from cron.job where jobname = 'advance-operations' $$,
  $$ values ('5 seconds', 'select util.advance_operations()') $$, 'a cron job advances running operations every 5 seconds');

select * from finish();
rollback;
