-- Views over the traces, the pipelines and the scheduled jobs, for the ops dashboard (dashboard/) and psql.
--   model_costs            per model called in spans: the price it was matched to, calls, tokens, the
--                          recorded cost and the cost at today's prices                 (RLS: own spans)
--   cost_per_model_per_day calls, tokens and cost per model and UTC day                  (RLS: own spans)
--   failures_per_day       error spans and dead-lettered embedding jobs per UTC day      (RLS: own rows)
--   latency_percentiles    p50/p95/p99 over the last 24 hours per Edge Function (its traces) and per guarded
--                          RPC (durations measured inside the database)                  (own calls; all for service_role)
--   slow_traces            the 50 slowest traces of the last 24 hours                    (RLS: own traces)
--   pipeline_health        one row per registered pipeline (util.pipelines): queue depth, lag (age of the
--                          oldest queued job), processed in the last 5 minutes, failures  (service_role)
--   scheduled_jobs         pg_cron's jobs with their last run and the last 24 hours' runs (service_role)
-- Pipelines register themselves in util.pipelines with their pgmq queue and a metrics function; the
-- embeddings pipeline is registered here, others (mirror, summaries) add one row each.

-- private.model_price is read by the model_costs view as its caller; prices are readable to signed-in users.
grant execute on function private.model_price(text) to authenticated, service_role;

create view public.model_costs with (security_invoker = true) as
with used as (
  select s.model, count(*) as calls, coalesce(sum(s.input_tokens), 0) as input_tokens,
         coalesce(sum(s.output_tokens), 0) as output_tokens, coalesce(sum(s.cost_usd), 0) as cost_usd,
         count(*) filter (where s.cost_usd is null) as unpriced_calls, min(s.started_at) as first_call_at,
         max(s.started_at) as last_call_at
    from public.spans s
   where s.model is not null
   group by s.model)
select u.model, p.model as priced_as, p.input_price_per_mtok, p.output_price_per_mtok, u.calls, u.input_tokens, u.output_tokens,
       u.cost_usd,
       round((u.input_tokens * p.input_price_per_mtok + u.output_tokens * p.output_price_per_mtok) / 1000000, 8) as cost_at_current_prices_usd,
       u.unpriced_calls, u.first_call_at, u.last_call_at
  from used u
  left join lateral private.model_price(u.model) p on true;
comment on view public.model_costs is
  'Per model in spans: matched price row, calls, tokens, recorded cost and cost at current prices (models / embedding_models).';

create view public.cost_per_model_per_day with (security_invoker = true) as
select (s.started_at at time zone 'UTC')::date as day, s.model, count(*) as calls,
       coalesce(sum(s.input_tokens), 0) as input_tokens, coalesce(sum(s.output_tokens), 0) as output_tokens,
       coalesce(sum(s.cost_usd), 0) as cost_usd
  from public.spans s
 where s.model is not null
 group by 1, 2;
comment on view public.cost_per_model_per_day is 'Calls, tokens and cost (USD) per model and UTC day.';

create view public.failures_per_day with (security_invoker = true) as
select (s.started_at at time zone 'UTC')::date as day, 'span'::text as kind, coalesce(s.service, '') as service, s.name,
       count(*) as failures, max(s.started_at) as last_failed_at,
       (array_agg(s.status_message order by s.started_at desc) filter (where s.status_message is not null))[1] as last_error
  from public.spans s
 where s.status = 'error'
 group by 1, 3, 4
union all
select (f.failed_at at time zone 'UTC')::date, 'dead_letter', 'embeddings', coalesce(f.model, ''), count(*), max(f.failed_at),
       (array_agg(f.last_error order by f.failed_at desc))[1]
  from public.embedding_failures f
 group by 1, 4;
comment on view public.failures_per_day is 'Error spans (per service and span name) and dead-lettered embedding jobs per UTC day.';

-- private.visible_rpc_calls() → setof private.rpc_calls
--   The caller's own guarded RPC calls; every call for service_role and postgres.
create or replace function private.visible_rpc_calls()
returns setof private.rpc_calls
language sql
stable
security definer
set search_path = ''
as $$
  select c.* from private.rpc_calls c
   where current_setting('role') in ('none', 'postgres', 'service_role') or c.owner_id = (select auth.uid())
$$;
revoke all on function private.visible_rpc_calls() from public, anon;
grant execute on function private.visible_rpc_calls() to authenticated, service_role;

create view public.latency_percentiles with (security_invoker = true) as
with samples as (
  select 'function'::text as kind, t.service as name, t.duration_ms, t.status = 'error' as failed
    from public.traces t
   where t.source = 'function' and t.started_at > now() - interval '24 hours' and t.service is not null
  union all
  select 'rpc', c.rpc, c.duration_ms, false
    from private.visible_rpc_calls() c
   where c.called_at > now() - interval '24 hours')
select kind, name, count(*) as calls, count(*) filter (where failed) as errors,
       percentile_cont(0.5) within group (order by duration_ms) as p50_ms,
       percentile_cont(0.95) within group (order by duration_ms) as p95_ms,
       percentile_cont(0.99) within group (order by duration_ms) as p99_ms,
       max(duration_ms) as max_ms, avg(duration_ms) as mean_ms
  from samples
 group by kind, name;
comment on view public.latency_percentiles is
  'Last 24 hours: p50/p95/p99 per Edge Function (its traces) and per guarded RPC (measured in the database).';

create view public.slow_traces with (security_invoker = true) as
select t.id, t.trace_id, t.owner_id, t.source, t.service, t.name, t.status, t.started_at, t.duration_ms, t.span_count,
       t.input_tokens, t.output_tokens, t.cost_usd
  from public.traces t
 where t.started_at > now() - interval '24 hours'
 order by t.duration_ms desc, t.started_at desc
 limit 50;
comment on view public.slow_traces is 'The 50 slowest traces of the last 24 hours.';

create table util.pipelines (
  name text primary key
    constraint pipelines_name_format check (name ~ '^[a-z][a-z0-9_]{0,62}$'),
  description text not null,
  -- The pgmq queue its jobs wait in (null: the pipeline has no queue).
  queue_name text,
  -- A function () returning (processed_last_5_minutes bigint, failures_last_24_hours bigint,
  -- dead_lettered_total bigint), or null.
  metrics regprocedure,
  position integer not null default 0
);
comment on table util.pipelines is 'Background pipelines pipeline_health reports on: their queue and metrics function.';
revoke all on util.pipelines from public, anon, authenticated;
grant select on util.pipelines to service_role;

-- util.embedding_pipeline_metrics() → table (processed_last_5_minutes, failures_last_24_hours, dead_lettered_total)
create or replace function util.embedding_pipeline_metrics()
returns table (processed_last_5_minutes bigint, failures_last_24_hours bigint, dead_lettered_total bigint)
language sql
stable
security definer
set search_path = ''
as $$
  select (select count(*) from public.embeddings e where e.updated_at > now() - interval '5 minutes'),
         (select count(*) from public.embedding_failures f where f.failed_at > now() - interval '24 hours'),
         (select count(*) from public.embedding_failures)
$$;
revoke all on function util.embedding_pipeline_metrics() from public, anon, authenticated;

insert into util.pipelines (name, description, queue_name, metrics, position)
values ('embeddings', 'Automatic embeddings: messages and document chunks → embed function → embeddings', 'embedding_jobs',
        'util.embedding_pipeline_metrics()', 10);

-- util.pipeline_health() → table
--   One row per util.pipelines entry: pgmq.metrics of its queue (depth, age of the oldest job = lag, jobs
--   ever enqueued) and its metrics function. A pipeline whose queue or function fails gets a row with the
--   error instead of breaking the others. Security definer: pgmq.metrics needs the queue's owner rights.
create or replace function util.pipeline_health()
returns table (pipeline text, description text, queue_name text, queue_depth bigint, lag_seconds integer,
               jobs_enqueued_total bigint, processed_last_5_minutes bigint, failures_last_24_hours bigint,
               dead_lettered_total bigint, error text, measured_at timestamptz)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  p util.pipelines;
  m record;
  x record;
begin
  for p in select * from util.pipelines order by position, name loop
    pipeline := p.name;
    description := p.description;
    queue_name := p.queue_name;
    queue_depth := null;
    lag_seconds := null;
    jobs_enqueued_total := null;
    processed_last_5_minutes := null;
    failures_last_24_hours := null;
    dead_lettered_total := null;
    error := null;
    measured_at := clock_timestamp();
    begin
      if p.queue_name is not null then
        select * into m from pgmq.metrics(p.queue_name);
        queue_depth := m.queue_length;
        lag_seconds := coalesce(m.oldest_msg_age_sec, 0);
        jobs_enqueued_total := m.total_messages;
      end if;
      if p.metrics is not null then
        execute format('select * from %s', p.metrics) into x;
        processed_last_5_minutes := x.processed_last_5_minutes;
        failures_last_24_hours := x.failures_last_24_hours;
        dead_lettered_total := x.dead_lettered_total;
      end if;
    exception when others then
      error := sqlerrm;
    end;
    return next;
  end loop;
end
$$;
revoke all on function util.pipeline_health() from public, anon, authenticated;
-- A view runs the functions it calls with the caller's EXECUTE privilege: service_role reads pipeline_health.
grant execute on function util.pipeline_health() to service_role;

create view public.pipeline_health as select * from util.pipeline_health();
comment on view public.pipeline_health is
  'Per background pipeline: queue depth, lag (oldest queued job, s), processed in 5 min, failures in 24 h, dead-lettered (service_role).';
revoke all on public.pipeline_health from public, anon, authenticated, service_role;
grant select on public.pipeline_health to service_role;

-- One pass over the last 24 hours of cron.job_run_details (pg_cron keeps it unindexed and this project
-- purges it after 7 days): jobs that did not run in that time show no last run.
create view public.scheduled_jobs as
with runs as (
  select d.jobid, d.runid, d.status, d.return_message, d.start_time, d.end_time
    from cron.job_run_details d
   where d.start_time > now() - interval '24 hours'),
last_run as (
  select distinct on (r.jobid) r.* from runs r order by r.jobid, r.runid desc),
counts as (
  select r.jobid, count(*) as runs, count(*) filter (where r.status = 'failed') as failures from runs r group by r.jobid)
select j.jobid, j.jobname, j.schedule, j.command, j.active, l.status as last_status, l.start_time as last_run_at,
       (extract(epoch from l.end_time - l.start_time) * 1000)::double precision as last_duration_ms,
       l.return_message as last_message, coalesce(c.runs, 0) as runs_last_24_hours,
       coalesce(c.failures, 0) as failures_last_24_hours
  from cron.job j
  left join last_run l on l.jobid = j.jobid
  left join counts c on c.jobid = j.jobid;
comment on view public.scheduled_jobs is 'pg_cron jobs with their last run and the runs and failures of the last 24 hours (service_role).';
revoke all on public.scheduled_jobs from public, anon, authenticated, service_role;
grant select on public.scheduled_jobs to service_role;

revoke all on public.model_costs, public.cost_per_model_per_day, public.failures_per_day, public.latency_percentiles,
              public.slow_traces from public, anon, authenticated, service_role;
grant select on public.model_costs, public.cost_per_model_per_day, public.failures_per_day, public.latency_percentiles,
                public.slow_traces to authenticated, service_role;
