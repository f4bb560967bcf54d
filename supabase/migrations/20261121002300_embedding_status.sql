-- Where every row's embedding stands, and how the pipeline is doing.
--
-- public.embedding_status (security_invoker, so row level security of the sources applies: a user sees
-- the rows they can see) has one row per source row and model — the default model, a model being built,
-- and any model the row already has an embedding in — with a status and a reason:
--   embedded   an embedding of the current content exists
--   pending    a job for the current content is queued or in flight
--   failed     the job for the current content was dead-lettered (reason: the last error)
--   stale      no embedding of the current content and no job (reason says which)
--   empty      the content is blank; nothing is embedded ('content is empty')
-- It is generated from util.embedding_sources (one UNION ALL branch per source) by
-- util.refresh_embedding_status_view(), which util.register_embedding_source runs.
--
-- util.embedding_pipeline is for operators (service_role), not clients: queue depth, oldest job age,
-- embedded in the last 5 minutes, failures in the last 24 hours. It lives in `util` because it
-- aggregates every tenant's work, which no signed-in user may see, and `util` is not exposed by the API.

-- private.pending_embedding_jobs() → table
--   The queued embedding jobs (in flight or waiting) the caller may know about: their own (owner_id in
--   the job = auth.uid()), or all of them for service_role and for a session without a role (postgres).
--   Security definer because the queue is not readable by signed-in users.
create or replace function private.pending_embedding_jobs()
returns table (
  source_table text,
  source_id uuid,
  model text,
  content_hash text,
  msg_id bigint,
  read_ct integer,
  enqueued_at timestamptz,
  visible_at timestamptz
)
language sql
stable
security definer
set search_path = ''
as $$
  select q.message ->> 'table',
         case when q.message ->> 'id' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
              then (q.message ->> 'id')::uuid end,
         q.message ->> 'model', q.message ->> 'content_hash', q.msg_id, q.read_ct, q.enqueued_at, q.vt
    from pgmq.q_embedding_jobs q
   where current_setting('role') in ('none', 'postgres', 'service_role')
      or q.message ->> 'owner_id' = (select auth.uid())::text
$$;
revoke all on function private.pending_embedding_jobs() from public, anon;
grant execute on function private.pending_embedding_jobs() to authenticated, service_role;

-- private.refuse_embedding_status_write() → trigger
--   INSTEAD OF trigger of public.embedding_status: the view is read-only; raises 42501.
create or replace function private.refuse_embedding_status_write()
returns trigger
language plpgsql
security invoker
as $$
begin
  raise exception 'embedding_status is read-only' using errcode = '42501',
    hint = 'It reports where each row''s embedding stands; write to the source table (e.g. messages) instead.';
end
$$;
revoke all on function private.refuse_embedding_status_write() from public, anon, authenticated;

-- util.refresh_embedding_status_view() → void
--   (Re)creates public.embedding_status over every registered source. Caller: register_embedding_source.
create or replace function util.refresh_embedding_status_view()
returns void
language plpgsql
volatile
security invoker
as $$
declare
  src util.embedding_sources;
  parts text[] := '{}';
begin
  for src in select * from util.embedding_sources s order by s.source_table loop
    parts := parts || format($v$
      select %1$L::text as source_table, s.id as source_id, s.%2$I as owner_id, m.name as model,
             s.content_hash, e.content_hash as embedded_hash, e.updated_at as embedded_at,
             private.is_blank(s.%3$I) as blank
        from %4$s s
        cross join public.embedding_models m
        left join public.embeddings e on e.source_table = %1$L and e.source_id = s.id and e.model = m.name
       where m.is_default or m.state = 'building' or e.id is not null$v$,
      src.source_table, src.owner_column, src.content_column, src.relation);
  end loop;
  if cardinality(parts) = 0 then
    parts := array['select null::text, null::uuid, null::uuid, null::text, null::text, null::text, null::timestamptz, null::boolean where false'];
  end if;
  execute format($v$
    create or replace view public.embedding_status with (security_invoker = true) as
    with source_rows (source_table, source_id, owner_id, model, content_hash, embedded_hash, embedded_at, blank) as (%s),
    pending as materialized (
      select distinct on (p.source_table, p.source_id, p.model, p.content_hash) p.*
        from private.pending_embedding_jobs() p
       order by p.source_table, p.source_id, p.model, p.content_hash, p.msg_id desc)
    select r.source_table, r.source_id, r.owner_id, r.model,
           case when r.blank then 'empty'
                when r.embedded_hash = r.content_hash then 'embedded'
                when p.msg_id is not null then 'pending'
                when f.last_error is not null then 'failed'
                else 'stale' end as status,
           case when r.blank then 'content is empty'
                when r.embedded_hash = r.content_hash then null
                when p.msg_id is not null and p.read_ct = 0 then 'queued'
                when p.msg_id is not null then format('attempt %%s in progress or waiting to retry', p.read_ct)
                when f.last_error is not null then f.last_error
                when r.embedded_hash is not null then 'the embedding is of an earlier version of the content and no job is queued'
                else 'not embedded and no job is queued; run util.reembed(model) to queue it' end as reason,
           r.content_hash, r.embedded_at, p.enqueued_at as queued_at, f.attempts as failed_attempts, f.failed_at
      from source_rows r
      left join pending p on p.source_table = r.source_table and p.source_id = r.source_id and p.model = r.model
                         and p.content_hash = r.content_hash
      left join lateral (
        select f.attempts, f.last_error, f.failed_at from public.embedding_failures f
         where f.source_table = r.source_table and f.source_id = r.source_id and f.model = r.model
           and f.content_hash = r.content_hash
         order by f.failed_at desc limit 1) f on not r.blank
    $v$, array_to_string(parts, ' union all '));
  comment on view public.embedding_status is
    'Per source row and model: embedded | pending | failed | stale | empty, with the reason. Row level security applies.';
  -- Read-only: clients get select only (the default privileges of schema public would also give them
  -- insert, update and delete). A view Postgres cannot update refuses a write with 55000 while rewriting
  -- the statement — before privileges are checked, so over the API that is a 500. The INSTEAD OF trigger
  -- makes the statement reach the privilege check, so a client's write is 42501 (PostgREST: 401 for anon,
  -- 403 signed in); the owner who gets past it is refused by the trigger.
  revoke all on public.embedding_status from public, anon, authenticated, service_role;
  grant select on public.embedding_status to authenticated, service_role;
  drop trigger if exists embedding_status_is_read_only on public.embedding_status;
  create trigger embedding_status_is_read_only instead of insert or update or delete on public.embedding_status
    for each row execute function private.refuse_embedding_status_write();
end
$$;
revoke all on function util.refresh_embedding_status_view() from public, anon, authenticated;

select util.refresh_embedding_status_view();

-- util.embedding_queue_metrics() → pgmq.metrics_result
--   pgmq.metrics('embedding_jobs'). Security definer: pgmq.metrics reads the queue with its caller's
--   privileges, and service_role (the reader of util.embedding_pipeline) has none on pgmq's tables.
create or replace function util.embedding_queue_metrics()
returns pgmq.metrics_result
language sql
stable
security definer
set search_path = ''
as $$
  select * from pgmq.metrics('embedding_jobs')
$$;
revoke all on function util.embedding_queue_metrics() from public, anon, authenticated;
grant execute on function util.embedding_queue_metrics() to service_role;

-- Depth, age and total from pgmq.metrics; the visible count (queue_visible_length in pgmq 1.5 only) from
-- the queue's vt column, which pgmq 1.4.4 and 1.5.1 both have — the view reads it with its owner's rights.
create view util.embedding_pipeline as
select q.queue_length as queue_depth,
       (select count(*) from pgmq.q_embedding_jobs j where j.vt <= clock_timestamp()) as visible_jobs,
       coalesce(q.oldest_msg_age_sec, 0) as oldest_job_age_seconds,
       q.total_messages as jobs_enqueued_total,
       (select count(*) from public.embeddings e where e.updated_at > now() - interval '5 minutes') as embedded_last_5_minutes,
       (select count(*) from public.embedding_failures f where f.failed_at > now() - interval '24 hours') as failures_last_24_hours,
       (select count(*) from public.embedding_failures) as dead_lettered_total,
       (select coalesce(array_agg(em.name order by em.name), '{}') from public.embedding_models em where em.state = 'building')
         as building_models,
       (select em.name from public.embedding_models em where em.is_default) as default_model
  from util.embedding_queue_metrics() q;
comment on view util.embedding_pipeline is
  'Embedding pipeline health: queue depth, oldest job age, embedded in the last 5 min, failures in 24 h (service_role).';
revoke all on util.embedding_pipeline from public, anon, authenticated;
grant select on util.embedding_pipeline to service_role;
