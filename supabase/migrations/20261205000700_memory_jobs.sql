-- The durable jobs of long-term memory, on the same pattern as the embedding queue:
--
--   insert messages ─► statement trigger: per thread, unsummarized tokens and new turns counted
--                      (public.thread_memory_progress); a thread crossing summaries.threshold_tokens or
--                      memories.extract_every_messages gets ONE job (one pgmq.send_batch per queue and
--                      statement, never a second job while one is pending)
--   edit / delete a message the summary covers ─► the summary is marked stale and a job queued to rebuild
--                      it (20261205000800_summaries.sql)
--   cron 'process-memory-jobs' (memory_jobs.schedule) ─► util.process_memory_jobs(): for each queue with
--                      visible jobs, POSTs to its Edge Function through pg_net (service key from Vault)
--   summarize / extract-memories (Edge Functions, as postgres over SUPABASE_DB_URL):
--     util.read_memory_jobs(queue, …)   pgmq.read with a visibility timeout
--     util.complete_summary_job / util.complete_extraction_job   (their migrations) store the result and
--                                       delete the job in one transaction
--     util.fail_memory_jobs(queue, …)   retry after a backoff (pgmq.set_vt), or after memory_jobs.max_attempts
--                                       pgmq.archive + a memory_job_failures row with the reason
--
-- Queues: summary_jobs and memory_extraction_jobs; a job is {thread_id, owner_id, reason}. Workers read
-- everything else from the database, never from the payload.

select pgmq.create('summary_jobs');
select pgmq.create('memory_extraction_jobs');

-- Per-thread progress of summarization and extraction. Written only by the triggers and the workers
-- (security definer); owners may read theirs.
create table public.thread_memory_progress (
  thread_id uuid primary key references public.memory_threads (id) on delete cascade,
  owner_id uuid not null references auth.users (id) on delete cascade,
  -- Tokens of non-system messages after summary_through: counted up by the insert trigger, recomputed
  -- exactly when a summary run completes.
  unsummarized_tokens bigint not null default 0,
  summary_queued boolean not null default false,
  -- When the flag last went up (marks the statement that queued the job, so it is sent once).
  summary_queued_at timestamptz,
  -- Cursor of the oldest message the summary covers that was edited or deleted since: the summary is stale
  -- from there on and will be rebuilt from the last summary step before it. Null: not stale.
  summary_stale_from text,
  -- Grows with every summary write and every staleness mark: a worker's result is stored only if the
  -- version it read is still current (optimistic concurrency between the cron worker and manual runs).
  summary_version integer not null default 0,
  summarized_at timestamptz,
  -- User and assistant messages after extracted_through.
  new_messages bigint not null default 0,
  extracted_through text,
  extraction_queued boolean not null default false,
  extraction_queued_at timestamptz,
  extracted_at timestamptz,
  updated_at timestamptz not null default clock_timestamp()
);
comment on table public.thread_memory_progress is
  'Per thread: unsummarized tokens, whether a summary or extraction job is queued, summary staleness, extraction cursor.';

alter table public.thread_memory_progress enable row level security;
create policy "owners can read their threads' memory progress" on public.thread_memory_progress
  for select to authenticated using (owner_id = (select auth.uid()));
revoke all on public.thread_memory_progress from anon;
revoke insert, update, delete, truncate, references, trigger on public.thread_memory_progress from authenticated;
grant select on public.thread_memory_progress to authenticated;
grant all on public.thread_memory_progress to service_role;

-- The dead-letter table of both queues.
create table public.memory_job_failures (
  id bigint generated always as identity primary key,
  queue text not null
    constraint memory_job_failures_queue_known check (queue in ('summary_jobs', 'memory_extraction_jobs')),
  msg_id bigint not null,
  owner_id uuid,
  thread_id uuid,
  attempts integer not null,
  last_error text not null,
  job jsonb not null,
  failed_at timestamptz not null default now()
);
comment on table public.memory_job_failures is
  'Summary and extraction jobs that were given up (after memory_jobs.max_attempts, or impossible), with the reason.';
create index memory_job_failures_thread_idx on public.memory_job_failures (thread_id, failed_at desc);
create index memory_job_failures_failed_at_idx on public.memory_job_failures (failed_at);

alter table public.memory_job_failures enable row level security;
create policy "owners can read their memory job failures" on public.memory_job_failures
  for select to authenticated using (owner_id = (select auth.uid()));
revoke all on public.memory_job_failures from anon;
revoke insert, update, delete, truncate, references, trigger on public.memory_job_failures from authenticated;
grant select on public.memory_job_failures to authenticated;
grant all on public.memory_job_failures to service_role;

-- private.require_memory_queue(queue text) → text
--   The queue name when it is one of the two memory queues; 22023 otherwise (every worker function takes
--   the queue as an argument and must never touch another queue).
create or replace function private.require_memory_queue(queue text)
returns text
language plpgsql
immutable
security invoker
as $$
begin
  if queue is null or queue not in ('summary_jobs', 'memory_extraction_jobs') then
    raise exception 'queue must be summary_jobs or memory_extraction_jobs (got %)', coalesce(queue, 'null') using errcode = '22023';
  end if;
  return queue;
end
$$;
revoke all on function private.require_memory_queue(text) from public, anon, authenticated;

-- private.extraction_configured() → boolean
--   Extraction runs only when it is enabled and a model is set (there is no offline extractor).
create or replace function private.extraction_configured()
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce((private.setting('memories', 'extraction_enabled', 'false') #>> '{}')::boolean, false)
     and private.setting('memories', 'model', 'null') <> 'null'::jsonb
$$;
revoke all on function private.extraction_configured() from public, anon, authenticated;

-- private.memory_jobs_on_insert() → trigger
--   AFTER INSERT statement trigger on messages (transition table new_messages): adds each thread's new
--   non-system tokens and new user/assistant turns to its progress, and queues — once per thread, while
--   none is pending — a summary job when summaries are enabled and the unsummarized tokens reach
--   summaries.threshold_tokens, and an extraction job when extraction is configured and the new turns
--   reach memories.extract_every_messages. One upsert and at most one pgmq.send_batch per queue per
--   statement; the writer's thread row is already locked by the insert, so counts are exact per thread.
--   Security definer: writers cannot write the progress table or the queues themselves.
create or replace function private.memory_jobs_on_insert()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  stamp constant timestamptz := clock_timestamp();
  summaries_on constant boolean := coalesce((private.setting('summaries', 'enabled', 'false') #>> '{}')::boolean, false);
  extraction_on constant boolean := private.extraction_configured();
  threshold constant bigint := (private.setting('summaries', 'threshold_tokens', '4000') #>> '{}')::bigint;
  every_n constant bigint := (private.setting('memories', 'extract_every_messages', '10') #>> '{}')::bigint;
  summary_jobs jsonb[];
  extraction_jobs jsonb[];
begin
  with added as (
    select n.thread_id, (array_agg(n.owner_id))[1] as owner_id,
           coalesce(sum(n.token_count) filter (where n.role <> 'system'), 0)::bigint as tokens,
           count(*) filter (where n.role in ('user', 'assistant'))::bigint as turns
      from new_messages n
     group by n.thread_id),
  progressed as (
    insert into public.thread_memory_progress as p
      (thread_id, owner_id, unsummarized_tokens, new_messages, summary_queued, summary_queued_at, extraction_queued,
       extraction_queued_at)
    select a.thread_id, a.owner_id, a.tokens, a.turns,
           summaries_on and a.tokens >= threshold, case when summaries_on and a.tokens >= threshold then stamp end,
           extraction_on and a.turns >= every_n, case when extraction_on and a.turns >= every_n then stamp end
      from added a
     order by a.thread_id
    on conflict on constraint thread_memory_progress_pkey do update
      set unsummarized_tokens = p.unsummarized_tokens + excluded.unsummarized_tokens,
          new_messages = p.new_messages + excluded.new_messages,
          summary_queued = p.summary_queued or (summaries_on and p.unsummarized_tokens + excluded.unsummarized_tokens >= threshold),
          summary_queued_at = case when not p.summary_queued and summaries_on
                                        and p.unsummarized_tokens + excluded.unsummarized_tokens >= threshold
                                   then stamp else p.summary_queued_at end,
          extraction_queued = p.extraction_queued or (extraction_on and p.new_messages + excluded.new_messages >= every_n),
          extraction_queued_at = case when not p.extraction_queued and extraction_on
                                           and p.new_messages + excluded.new_messages >= every_n
                                      then stamp else p.extraction_queued_at end,
          updated_at = stamp
    returning p.thread_id, p.owner_id, p.summary_queued_at, p.extraction_queued_at)
  select array_agg(jsonb_build_object('thread_id', x.thread_id, 'owner_id', x.owner_id, 'reason', 'threshold') order by x.thread_id)
           filter (where x.summary_queued_at = stamp),
         array_agg(jsonb_build_object('thread_id', x.thread_id, 'owner_id', x.owner_id, 'reason', 'new_messages') order by x.thread_id)
           filter (where x.extraction_queued_at = stamp)
    into summary_jobs, extraction_jobs
    from progressed x;
  if summary_jobs is not null then
    perform pgmq.send_batch('summary_jobs', summary_jobs);
  end if;
  if extraction_jobs is not null then
    perform pgmq.send_batch('memory_extraction_jobs', extraction_jobs);
  end if;
  return null;
end
$$;
revoke all on function private.memory_jobs_on_insert() from public, anon, authenticated;

create trigger memory_jobs_on_insert after insert on public.messages
  referencing new table as new_messages
  for each statement execute function private.memory_jobs_on_insert();

-- private.send_memory_job(queue text, thread_id uuid, reason text) → boolean
--   Queues a job for the thread on `queue` unless one is pending (the progress flag), and raises the flag.
--   Returns whether a job was sent. Used by the workers' completion functions and util.queue_thread_jobs.
create or replace function private.send_memory_job(queue text, thread_id uuid, reason text)
returns boolean
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  owner uuid;
  stamp constant timestamptz := clock_timestamp();
  sent boolean;
begin
  perform private.require_memory_queue(queue);
  select t.owner_id into owner from public.memory_threads t where t.id = send_memory_job.thread_id;
  if owner is null then
    return false;
  end if;
  insert into public.thread_memory_progress as p (thread_id, owner_id) values (send_memory_job.thread_id, owner)
  on conflict on constraint thread_memory_progress_pkey do nothing;
  if queue = 'summary_jobs' then
    update public.thread_memory_progress p set summary_queued = true, summary_queued_at = stamp, updated_at = stamp
     where p.thread_id = send_memory_job.thread_id and not p.summary_queued;
  else
    update public.thread_memory_progress p set extraction_queued = true, extraction_queued_at = stamp, updated_at = stamp
     where p.thread_id = send_memory_job.thread_id and not p.extraction_queued;
  end if;
  sent := found;
  if sent then
    perform pgmq.send(queue, jsonb_build_object('thread_id', send_memory_job.thread_id, 'owner_id', owner, 'reason', reason));
  end if;
  return sent;
end
$$;
revoke all on function private.send_memory_job(text, uuid, text) from public, anon, authenticated;

-- util.queue_thread_jobs(thread_id uuid, summary boolean default true, extraction boolean default true)
--     → table (queue text, sent boolean)
--   Queues a summary and/or an extraction job for one thread now, whatever its counters say (unless one is
--   pending): for backfills after turning a feature on, and for tests. Caller: service_role / postgres.
create or replace function util.queue_thread_jobs(thread_id uuid, summary boolean default true, extraction boolean default true)
returns table (queue text, sent boolean)
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  if summary then
    queue := 'summary_jobs'; sent := private.send_memory_job('summary_jobs', queue_thread_jobs.thread_id, 'manual');
    return next;
  end if;
  if extraction then
    queue := 'memory_extraction_jobs'; sent := private.send_memory_job('memory_extraction_jobs', queue_thread_jobs.thread_id, 'manual');
    return next;
  end if;
end
$$;
revoke all on function util.queue_thread_jobs(uuid, boolean, boolean) from public, anon, authenticated;
grant execute on function util.queue_thread_jobs(uuid, boolean, boolean) to service_role;

-- util.read_memory_jobs(queue text, batch_size integer, visibility_timeout_seconds integer)
--     → table (msg_id, attempts, thread_id, owner_id, reason, job)
--   Reads up to batch_size visible jobs of a memory queue (pgmq.read; they stay invisible for the
--   visibility timeout). attempts: reads so far, this one included, plus attempts carried over when a job
--   was re-sent (payload "attempts"). thread_id is null for a job without a valid one. Raises 22023 for an
--   unknown queue or a non-positive argument. Caller: the worker functions (as postgres).
create or replace function util.read_memory_jobs(queue text, batch_size integer, visibility_timeout_seconds integer)
returns table (msg_id bigint, attempts integer, thread_id uuid, owner_id uuid, reason text, job jsonb)
language plpgsql
volatile
security invoker
as $$
begin
  perform private.require_memory_queue(queue);
  if batch_size is null or batch_size < 1 then
    raise exception 'batch_size must be a positive number of jobs, got %', batch_size using errcode = '22023';
  end if;
  if visibility_timeout_seconds is null or visibility_timeout_seconds < 1 then
    raise exception 'visibility_timeout_seconds must be positive, got %', visibility_timeout_seconds using errcode = '22023';
  end if;
  return query
    select r.msg_id,
           r.read_ct + case when r.message ->> 'attempts' ~ '^\d{1,6}$' then (r.message ->> 'attempts')::int else 0 end,
           case when r.message ->> 'thread_id' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                then (r.message ->> 'thread_id')::uuid end,
           case when r.message ->> 'owner_id' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                then (r.message ->> 'owner_id')::uuid end,
           r.message ->> 'reason', r.message
      from pgmq.read(queue, visibility_timeout_seconds, batch_size) r
     order by r.msg_id;
end
$$;
revoke all on function util.read_memory_jobs(text, integer, integer) from public, anon, authenticated;

-- util.fail_memory_jobs(queue text, failures jsonb) → table (msg_id, outcome, attempts)
--   For each failure {msg_id, error, delay_seconds, attempted default true, final default false} of a job
--   still queued: attempts = its reads (less this one when `attempted` is false) + carried attempts. When
--   `final` or attempts ≥ memory_jobs.max_attempts, the job is archived (pgmq.archive), recorded in
--   memory_job_failures with the error, and its thread's queued flag is cleared so a later message can
--   queue a new one ('dead_lettered'); otherwise it becomes visible again after delay_seconds, rounded up
--   to whole seconds ('retrying'). Errors are stored cut to 2,000 characters. Caller: the worker functions.
create or replace function util.fail_memory_jobs(queue text, failures jsonb)
returns table (msg_id bigint, outcome text, attempts integer)
language plpgsql
volatile
security invoker
as $$
declare
  max_attempts integer := (util.long_term_settings() #>> '{memory_jobs,max_attempts}')::integer;
  f record;
  delay integer;
  read_count integer;
  payload jsonb;
  thread uuid;
begin
  perform private.require_memory_queue(queue);
  if failures is null or jsonb_typeof(failures) <> 'array' then
    raise exception 'failures must be a JSON array' using errcode = '22023';
  end if;
  for f in
    select x.msg_id, left(coalesce(x.error, 'unknown error'), 2000) as error,
           greatest(coalesce(x.delay_seconds, 0), 0) as delay_seconds, coalesce(x.final, false) as final,
           coalesce(x.attempted, true) as attempted
      from jsonb_to_recordset(failures) as x(msg_id bigint, error text, delay_seconds double precision,
                                             attempted boolean, final boolean)
     order by x.msg_id
  loop
    -- pgmq 1.5 (hosted Supabase) takes the delay in whole seconds: set_vt(text, bigint, integer). It also
    -- returns the job, read count included, so the queue table is never read directly.
    delay := least(ceil(f.delay_seconds), 2147483647)::integer;
    read_count := null;
    select s.read_ct, s.message into read_count, payload from pgmq.set_vt(queue, f.msg_id, delay) s;
    continue when read_count is null;
    msg_id := f.msg_id;
    attempts := read_count - case when f.attempted then 0 else 1 end
                + case when payload ->> 'attempts' ~ '^\d{1,6}$' then (payload ->> 'attempts')::int else 0 end;
    if f.final or attempts >= max_attempts then
      thread := case when payload ->> 'thread_id' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                     then (payload ->> 'thread_id')::uuid end;
      insert into public.memory_job_failures (queue, msg_id, owner_id, thread_id, attempts, last_error, job)
      values (queue, f.msg_id,
              case when payload ->> 'owner_id' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                   then (payload ->> 'owner_id')::uuid end,
              thread, attempts, f.error, payload);
      perform pgmq.archive(queue, f.msg_id);
      if queue = 'summary_jobs' then
        update public.thread_memory_progress p set summary_queued = false, updated_at = clock_timestamp() where p.thread_id = thread;
      else
        update public.thread_memory_progress p set extraction_queued = false, updated_at = clock_timestamp() where p.thread_id = thread;
      end if;
      outcome := 'dead_lettered';
    else
      outcome := 'retrying';
    end if;
    return next;
  end loop;
end
$$;
revoke all on function util.fail_memory_jobs(text, jsonb) from public, anon, authenticated;

-- util.process_memory_jobs(batch_size default null, max_requests default null) → integer
--   The cron job's body. For each memory queue, counts the jobs visible now; none → no HTTP call. Otherwise
--   sends ceil(visible / batch_size) requests, at most max_requests, to its function (summary_jobs →
--   summarize, memory_extraction_jobs → extract-memories) through util.invoke_edge_function (POST
--   {"batch_size": n}, pg_net timeout memory_jobs.request_timeout_milliseconds). Returns the requests
--   sent. Null arguments take the memory_jobs settings. Security definer (reads the queues); service_role.
create or replace function util.process_memory_jobs(batch_size integer default null, max_requests integer default null)
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  cfg jsonb := util.long_term_settings() -> 'memory_jobs';
  visible integer;
  requests integer;
  sent integer := 0;
begin
  batch_size := coalesce(batch_size, (cfg ->> 'batch_size')::integer);
  max_requests := coalesce(max_requests, (cfg ->> 'max_requests')::integer);
  if batch_size < 1 or max_requests < 1 then
    raise exception 'batch_size and max_requests must be positive, got % and %', batch_size, max_requests using errcode = '22023';
  end if;
  -- Counting visible jobs has no pgmq function (metrics' visible length is 1.5-only): read the queue
  -- tables directly, without changing anything.
  select count(*) into visible
    from (select from pgmq.q_summary_jobs q where q.vt <= clock_timestamp() limit batch_size::bigint * max_requests) v;
  requests := least(max_requests, ceil(visible::numeric / batch_size)::integer);
  for i in 1..requests loop
    perform util.invoke_edge_function('summarize', jsonb_build_object('batch_size', batch_size),
                                      (cfg ->> 'request_timeout_milliseconds')::integer);
  end loop;
  sent := sent + requests;
  select count(*) into visible
    from (select from pgmq.q_memory_extraction_jobs q where q.vt <= clock_timestamp() limit batch_size::bigint * max_requests) v;
  requests := least(max_requests, ceil(visible::numeric / batch_size)::integer);
  for i in 1..requests loop
    perform util.invoke_edge_function('extract-memories', jsonb_build_object('batch_size', batch_size),
                                      (cfg ->> 'request_timeout_milliseconds')::integer);
  end loop;
  return sent + requests;
end
$$;
revoke all on function util.process_memory_jobs(integer, integer) from public, anon, authenticated;
grant execute on function util.process_memory_jobs(integer, integer) to service_role;

-- util.schedule_memory_jobs() → bigint
--   (Re)schedules the cron job 'process-memory-jobs' with setting memory_jobs.schedule; returns its id.
create or replace function util.schedule_memory_jobs()
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  return cron.schedule('process-memory-jobs', util.long_term_settings() #>> '{memory_jobs,schedule}',
                       'select util.process_memory_jobs()');
end
$$;
revoke all on function util.schedule_memory_jobs() from public, anon, authenticated;
grant execute on function util.schedule_memory_jobs() to service_role;

-- private.long_term_settings_changed() → trigger (replaces the settings migration's version)
--   Checks the long-term settings together (22023 when two contradict each other) and reschedules the
--   cron job when memory_jobs.schedule changed.
create or replace function private.long_term_settings_changed()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform util.long_term_settings();
  if new.category = 'memory_jobs' and new.key = 'schedule' then
    perform util.schedule_memory_jobs();
  end if;
  return null;
end
$$;

select util.schedule_memory_jobs();
