-- util.cancel_reembed: a build that cannot finish (here: its jobs would fail for want of a key) is ended —
-- the model is ready but not the default, its queued jobs are dropped, new rows are no longer queued for
-- it, its resumable run is cancelled, the default keeps working — and it refuses the default model, unknown models and signed-in users.
begin;
\ir helpers/test_helpers.psql
select plan(12);

select pgmq.purge_queue('embedding_jobs');
select tests.create_supabase_user('alice');
insert into public.memory_threads (id, owner_id) values ('24000000-0000-0000-0000-000000000001', tests.get_supabase_uid('alice'));
insert into public.messages (id, thread_id, role, content) values
  ('24000000-0000-0000-0000-0000000000a1', '24000000-0000-0000-0000-000000000001', 'user', 'first'),
  ('24000000-0000-0000-0000-0000000000a2', '24000000-0000-0000-0000-000000000001', 'user', 'second');
insert into public.embedding_models (name, provider, provider_model, dims, api_key_env)
values ('stuck-8', 'openai', 'needs-a-key', 8, 'NO_SUCH_KEY');

select ok(util.reembed('stuck-8') >= 2, 'reembed queues the existing messages for the new model');
insert into public.messages (id, thread_id, role, content) values
  ('24000000-0000-0000-0000-0000000000a3', '24000000-0000-0000-0000-000000000001', 'user', 'during the build');
select is(util.cancel_reembed('stuck-8'),
  (select count(*)::integer from public.messages where content ~ '\S'),
  'cancel_reembed drops every queued job of the model (all messages, and the one saved during the build)');
select results_eq($$ select state, is_default, build_started_at from public.embedding_models where name = 'stuck-8' $$,
  $$ values ('ready', false, null::timestamptz) $$, 'the model is ready again, not the default');
select is((select count(*)::integer from pgmq.q_embedding_jobs q where q.message ->> 'model' = 'stuck-8'), 0,
  'no job of the model is left in the queue');
select results_eq($$ select status, finished_at is not null from public.operation_progress where kind = 'reembed' and subject = 'stuck-8' $$,
  $$ values ('cancelled', true) $$, 'its resumable run is marked cancelled');
select util.advance_operations();
select is((select count(*)::integer from pgmq.q_embedding_jobs q where q.message ->> 'model' = 'stuck-8'), 0,
  'the advance-operations job does not take the cancelled run up again');
select results_eq($$ select q.message ->> 'model' from pgmq.q_embedding_jobs q where q.message ->> 'id' = '24000000-0000-0000-0000-0000000000a3' $$,
  $$ values ('hash-384') $$, 'the default model''s jobs stay queued');
insert into public.messages (id, thread_id, role, content) values
  ('24000000-0000-0000-0000-0000000000a4', '24000000-0000-0000-0000-000000000001', 'user', 'after the cancel');
select results_eq($$ select q.message ->> 'model' from pgmq.q_embedding_jobs q where q.message ->> 'id' = '24000000-0000-0000-0000-0000000000a4' $$,
  $$ values ('hash-384') $$, 'a message saved after the cancel is queued for the default model only');
select is(util.cancel_reembed('stuck-8'), 0, 'cancelling again finds nothing to drop');

select throws_ok($$ select util.cancel_reembed('hash-384') $$, '22023',
  'model hash-384 is the default embedding model: there is no build of it to cancel', 'the default model has no build to cancel');
select throws_like($$ select util.cancel_reembed('nope') $$, 'unknown embedding model "nope"; registered models: %',
  'an unknown model lists the registered ones');
select tests.authenticate_as('alice');
select throws_ok($$ select util.cancel_reembed('stuck-8') $$, '42501', null, 'a signed-in user cannot cancel builds');
select tests.clear_authentication();

select * from finish();
rollback;
