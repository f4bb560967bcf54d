-- The observability views: model_costs, cost_per_model_per_day, failures_per_day, latency_percentiles,
-- slow_traces (row level security through their tables: each user sees their own), and the operators'
-- pipeline_health (one row per registered pipeline, a broken one reported, not fatal) and scheduled_jobs.
begin;
\ir helpers/test_helpers.psql
select plan(19);

select tests.create_supabase_user('alice');
select tests.create_supabase_user('bob');

-- A span `ms_ago` milliseconds before now, lasting `ms`.
create function pg_temp.span(t text, s text, p text, name text, ms_ago integer, ms integer, extra jsonb default '{}')
returns jsonb language sql as $$
  select jsonb_build_object('trace_id', repeat(t, 32), 'span_id', repeat(s, 16), 'parent_span_id', case when p is null then null else repeat(p, 16) end,
           'name', name,
           'start_ns', ((extract(epoch from now()) * 1000)::bigint - ms_ago)::text || '000000',
           'end_ns', ((extract(epoch from now()) * 1000)::bigint - ms_ago + ms)::text || '000000') || extra
$$;

select tests.authenticate_as_service_role();
-- Alice: five search calls of 10, 20, 30, 40 and 100 ms, each with a model call; one failed. Bob: one, in gpt-4o.
select public.ingest_spans(jsonb_build_array(
  pg_temp.span(x.t, '1', null, 'POST /search', 60000, x.ms, jsonb_build_object('kind', 'server', 'service', 'search', 'status', x.status)),
  pg_temp.span(x.t, '2', '1', 'chat gpt-4o-mini', 60000, 5,
    jsonb_build_object('kind', 'client', 'service', 'search', 'model', 'gpt-4o-mini', 'input_tokens', 1000, 'output_tokens', 100,
                       'status', x.status, 'status_message', case when x.status = 'error' then 'HTTP 500' end))),
  tests.get_supabase_uid('alice'), 'function')
  from (values ('a', 10, 'ok'), ('b', 20, 'ok'), ('c', 30, 'ok'), ('d', 40, 'ok'), ('e', 100, 'error')) as x(t, ms, status);
select public.ingest_spans(jsonb_build_array(
  pg_temp.span('f', '1', null, 'POST /search', 1000, 500, '{"kind": "server", "service": "search"}'),
  pg_temp.span('f', '2', '1', 'chat gpt-4o', 1000, 5, '{"model": "gpt-4o", "input_tokens": 10, "output_tokens": 10}')),
  tests.get_supabase_uid('bob'), 'function');
-- An old trace of Alice's, outside the last 24 hours.
select public.ingest_spans(jsonb_build_array(pg_temp.span('9', '1', null, 'POST /search', 90000000, 9000, '{"service": "search"}')),
  tests.get_supabase_uid('alice'), 'function');

select tests.authenticate_as('alice');
select results_eq(
  $$ select model, priced_as, calls, input_tokens, output_tokens, cost_usd, cost_at_current_prices_usd from public.model_costs $$,
  $$ values ('gpt-4o-mini', 'gpt-4o-mini', 5::bigint, 5000::bigint, 500::bigint, 0.00105000::numeric, 0.00105000::numeric) $$,
  'model_costs: Alice''s calls of gpt-4o-mini, its tokens and cost (5 × (1000 × 0.15 + 100 × 0.60) / 10^6)');
select tests.authenticate_as_owner();
update public.models set input_price_per_mtok = 0.30 where id = 'gpt-4o-mini';
select tests.authenticate_as('alice');
select results_eq($$ select cost_usd, cost_at_current_prices_usd from public.model_costs $$,
  $$ values (0.00105000::numeric, 0.00180000::numeric) $$,
  'a price change leaves the recorded cost and shows the cost at today''s prices');
select results_eq(
  $$ select day, model, calls, input_tokens, output_tokens, cost_usd from public.cost_per_model_per_day $$,
  $$ values ((now() at time zone 'UTC')::date, 'gpt-4o-mini', 5::bigint, 5000::bigint, 500::bigint, 0.00105000::numeric) $$,
  'cost_per_model_per_day: one row per model and UTC day');
select results_eq(
  $$ select kind, service, name, failures, last_error from public.failures_per_day order by name collate "C" $$,
  $$ values ('span', 'search', 'POST /search', 1::bigint, null::text), ('span', 'search', 'chat gpt-4o-mini', 1::bigint, 'HTTP 500') $$,
  'failures_per_day counts the failed spans per service and name, with the last error');
select results_eq(
  $$ select kind, name, calls, errors, p50_ms, round(p95_ms::numeric, 6), max_ms from public.latency_percentiles $$,
  $$ values ('function', 'search', 5::bigint, 1::bigint, 30::double precision, 88::numeric, 100::double precision) $$,
  'latency_percentiles per function over the last 24 hours (p95 of 10, 20, 30, 40, 100 ms: 88 ms)');
select results_eq($$ select name, duration_ms from public.slow_traces limit 2 $$,
  $$ values ('POST /search', 100::double precision), ('POST /search', 40::double precision) $$,
  'slow_traces: Alice''s slowest traces of the last 24 hours first');
select is((select count(*)::int from public.slow_traces), 5, 'the trace older than 24 hours is not among them');

select tests.authenticate_as('bob');
select results_eq($$ select model, calls from public.model_costs $$, $$ values ('gpt-4o', 1::bigint) $$, 'Bob sees only his own model costs');
select is_empty($$ select 1 from public.failures_per_day $$, 'Bob has no failures (Alice''s are hers)');
select results_eq($$ select name, calls from public.latency_percentiles $$, $$ values ('search', 1::bigint) $$, 'Bob''s latency is his calls''');

-- RPC latency: each user sees their own guarded calls; service_role everyone's.
select bm25_search('anything');
select tests.authenticate_as('alice');
select bm25_search('anything') from generate_series(1, 2);
select results_eq($$ select calls from public.latency_percentiles where kind = 'rpc' and name = 'bm25_search' $$, $$ values (2::bigint) $$,
  'Alice sees her two bm25_search calls');
select tests.authenticate_as_service_role();
select results_eq($$ select calls from public.latency_percentiles where kind = 'rpc' and name = 'bm25_search' $$, $$ values (3::bigint) $$,
  'service_role sees all three');
select results_eq($$ select name, calls from public.latency_percentiles where kind = 'function' $$, $$ values ('search', 6::bigint) $$,
  'and every function call of the last 24 hours');

-- Dead-lettered embedding jobs count as failures too.
select tests.authenticate_as_owner();
insert into public.embedding_failures (msg_id, owner_id, source_table, model, attempts, last_error, job)
values (1, tests.get_supabase_uid('bob'), 'messages', 'hash-384', 5, 'fake: HTTP 503', '{}');
select tests.authenticate_as('bob');
select results_eq($$ select kind, service, name, failures, last_error from public.failures_per_day $$,
  $$ values ('dead_letter', 'embeddings', 'hash-384', 1::bigint, 'fake: HTTP 503') $$, 'a dead-lettered job is a failure of the embeddings pipeline');

-- Operators' views.
select throws_ok($$ select * from public.pipeline_health $$, '42501', null, 'signed-in users cannot read pipeline_health');
select throws_ok($$ select * from public.scheduled_jobs $$, '42501', null, 'nor scheduled_jobs');
select tests.authenticate_as_owner();
select pgmq.purge_queue('embedding_jobs');
select pgmq.send('embedding_jobs', '{"table": "messages"}');
insert into util.pipelines (name, description, queue_name, position) values ('broken', 'a pipeline whose queue is missing', 'no_such_queue', 99);
select tests.authenticate_as_service_role();
select results_eq(
  $$ select pipeline, queue_depth, lag_seconds >= 0, error is null from public.pipeline_health order by pipeline $$,
  $$ values ('broken', null::bigint, null::boolean, false), ('embeddings', 1::bigint, true, true) $$,
  'pipeline_health: one row per registered pipeline, with its queue depth and lag; a broken one reports its error');
select results_eq(
  $$ select jobname, schedule, active from public.scheduled_jobs where jobname in ('process-embeddings', 'prune-observability') order by jobname $$,
  $$ values ('process-embeddings', '2 seconds', true), ('prune-observability', '27 3 * * *', true) $$,
  'scheduled_jobs lists the cron jobs with their schedules');
select tests.authenticate_as_owner();
insert into cron.job_run_details (jobid, command, status, return_message, start_time, end_time)
select jobid, command, 'failed', 'ERROR: boom', now() - interval '1 minute', now() - interval '59 seconds' from cron.job where jobname = 'prune-observability';
select tests.authenticate_as_service_role();
select results_eq(
  $$ select last_status, last_message, runs_last_24_hours, failures_last_24_hours, last_duration_ms from public.scheduled_jobs where jobname = 'prune-observability' $$,
  $$ values ('failed', 'ERROR: boom', 1::bigint, 1::bigint, 1000::double precision) $$,
  'a job''s last run, with its status, message and duration, and the last 24 hours'' counts');

select * from finish();
rollback;
