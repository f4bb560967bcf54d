-- The embedding worker's SQL side: what the `embed` Edge Function calls, and the cron job that calls it.
--
--   cron 'process-embeddings' (settings embeddings.schedule, default every 2 seconds)
--     └─ util.process_embeddings(): no visible job → return 0; else up to max_requests POSTs to
--        /functions/v1/embed through util.invoke_edge_function (service key from Vault)
--   embed (Edge Function, connected as postgres over SUPABASE_DB_URL):
--     util.read_embedding_jobs(batch, vt)   pgmq.read + each job's current content and status
--     util.complete_embedding_jobs(...)     store vectors whose source is unchanged, exact token counts,
--                                           delete the jobs — one transaction
--     util.fail_embedding_jobs(...)         retry later (pgmq.set_vt, backoff chosen by the worker) or,
--                                           after max_attempts, pgmq.archive + an embedding_failures row
--     util.defer_embedding_jobs(...)        jobs that did not fit the provider's batch limits go back to
--                                           the queue without using up an attempt
-- All dynamic SQL takes table and column names from util.embedding_sources, never from a job. The
-- worker functions run as their caller and touch pgmq's tables, so only postgres (the embed function's
-- SUPABASE_DB_URL role) runs them; service_role may run util.process_embeddings and read the settings.
--
-- Settings (public.settings, category 'embeddings'; defaults below):
--   schedule '2 seconds', batch_size 100, max_requests 10, max_attempts 5, visibility_timeout_seconds 60,
--   backoff_base_seconds 2, backoff_max_seconds 300, request_timeout_milliseconds 120000,
--   provider_timeout_milliseconds 30000.
-- Changing embeddings.schedule reschedules the cron job; an invalid value of any of them is refused.

insert into public.settings (category, key, value, description) values
  ('embeddings', 'schedule', '"2 seconds"',
   'pg_cron schedule of util.process_embeddings() (''N seconds'' or 5-field cron); a change reschedules it.'),
  ('embeddings', 'batch_size', '100', 'Jobs one embed request reads from the queue.'),
  ('embeddings', 'max_requests', '10', 'Most embed requests one util.process_embeddings() run sends.'),
  ('embeddings', 'max_attempts', '5', 'Attempts before a job is dead-lettered (archived + embedding_failures).'),
  ('embeddings', 'visibility_timeout_seconds', '60',
   'How long a job read by the worker stays invisible before another worker may take it.'),
  ('embeddings', 'backoff_base_seconds', '2', 'Retry delay after the first failed attempt; doubles per attempt, with jitter.'),
  ('embeddings', 'backoff_max_seconds', '300', 'Longest retry delay.'),
  ('embeddings', 'request_timeout_milliseconds', '120000', 'pg_net timeout of each call to the embed function.'),
  ('embeddings', 'provider_timeout_milliseconds', '30000', 'How long the embed function waits for a provider.')
on conflict (category, key) do nothing;

-- util.embedding_settings() → jsonb
--   The embedding settings with defaults filled in: {schedule, batch_size, max_requests, max_attempts,
--   visibility_timeout_seconds, backoff_base_seconds, backoff_max_seconds, request_timeout_milliseconds,
--   provider_timeout_milliseconds}. Raises 22023 naming the setting when a value is out of range or of
--   the wrong type, or when the visibility timeout is not longer than the provider timeout.
--   Caller: the embed function, util plumbing.
create or replace function util.embedding_settings()
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  result jsonb;
  spec record;
  v jsonb;
begin
  result := jsonb_build_object('schedule', private.setting('embeddings', 'schedule', '"2 seconds"'));
  if jsonb_typeof(result -> 'schedule') <> 'string' then
    raise exception 'setting embeddings.schedule must be a string such as "2 seconds", got %', result -> 'schedule'
      using errcode = '22023';
  end if;
  for spec in
    select * from (values
      ('batch_size', 100, 1, 2048, true),
      ('max_requests', 10, 1, 100, true),
      ('max_attempts', 5, 1, 100, true),
      ('visibility_timeout_seconds', 60, 1, 43200, true),
      ('backoff_base_seconds', 2, 0, 3600, false),
      ('backoff_max_seconds', 300, 0, 86400, false),
      ('request_timeout_milliseconds', 120000, 1000, 3600000, true),
      ('provider_timeout_milliseconds', 30000, 100, 3600000, true)
    ) as x(key, fallback, lo, hi, whole)
  loop
    v := private.setting('embeddings', spec.key, to_jsonb(spec.fallback));
    if jsonb_typeof(v) <> 'number' or v::text::numeric not between spec.lo and spec.hi
       or (spec.whole and v::text::numeric <> trunc(v::text::numeric)) then
      raise exception 'setting embeddings.% must be % between % and %, got %', spec.key,
        case when spec.whole then 'a whole number' else 'a number' end, spec.lo, spec.hi, v
        using errcode = '22023';
    end if;
    result := result || jsonb_build_object(spec.key, v);
  end loop;
  if (result ->> 'visibility_timeout_seconds')::numeric * 1000 <= (result ->> 'provider_timeout_milliseconds')::numeric then
    raise exception 'setting embeddings.visibility_timeout_seconds (% s) must be longer than embeddings.provider_timeout_milliseconds (% ms)',
      result ->> 'visibility_timeout_seconds', result ->> 'provider_timeout_milliseconds'
      using errcode = '22023',
            hint = 'Otherwise a job becomes visible again, and is taken twice, while its provider call is still running.';
  end if;
  return result;
end
$$;
revoke all on function util.embedding_settings() from public, anon, authenticated;
grant execute on function util.embedding_settings() to service_role;

-- util.embedding_job_inputs(msg_ids bigint[]) → table
--   For each queued job among `msg_ids`: its attempts so far (reads + attempts carried over by a
--   deferral), the source row's current content, owner and tokenizer, and a status:
--     ok        embed it
--     stale     the content changed since the job was queued (a newer job exists)
--     deleted   the source row is gone
--     empty     the content is blank
--     embedded  an embedding of this content in this model already exists
--     invalid   the job names an unregistered table or model, or an id that is not a uuid
--   Content is returned only for 'ok'. Read-only; callers: util.read_embedding_jobs, tests.
create or replace function util.embedding_job_inputs(msg_ids bigint[])
returns table (
  msg_id bigint,
  attempts integer,
  source_table text,
  source_id uuid,
  model text,
  content_hash text,
  status text,
  reason text,
  content text,
  owner_id uuid,
  tokenizer text
)
language plpgsql
stable
security invoker
as $$
declare
  src util.embedding_sources;
  tokenizer_sql text;
  base constant text := $q$
    select q.msg_id, q.read_ct + case when q.message ->> 'attempts' ~ '^\d{1,6}$' then (q.message ->> 'attempts')::int else 0 end as attempts,
           q.message ->> 'table' as source_table,
           case when q.message ->> 'id' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                then (q.message ->> 'id')::uuid end as source_id,
           q.message ->> 'model' as model, q.message ->> 'content_hash' as content_hash
      from pgmq.q_embedding_jobs q
     where q.msg_id = any($1)$q$;
begin
  -- Jobs that cannot be resolved at all.
  return query execute format($q$
    select j.msg_id, j.attempts, j.source_table, j.source_id, j.model, j.content_hash, 'invalid'::text,
           case when s.source_table is null then format('table %%s is not an embedding source', coalesce(j.source_table, 'null'))
                when m.name is null then format('model %%s is not registered', coalesce(j.model, 'null'))
                else 'job has no valid uuid id' end,
           null::text, null::uuid, null::text
      from (%s) j
      left join util.embedding_sources s on s.source_table = j.source_table
      left join public.embedding_models m on m.name = j.model
     where s.source_table is null or m.name is null or j.source_id is null
     order by j.msg_id$q$, base)
    using msg_ids;
  for src in select * from util.embedding_sources s order by s.source_table loop
    tokenizer_sql := case when src.tokenizer_function is null then 'null::text'
      else format('(select t.tokenizer from %s.%I(array[s.id]) t limit 1)',
                  (select quote_ident(n.nspname) from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                    where p.oid = src.tokenizer_function),
                  (select p.proname from pg_proc p where p.oid = src.tokenizer_function)) end;
    return query execute format($q$
      select j.msg_id, j.attempts, j.source_table, j.source_id, j.model, j.content_hash, x.status,
             case x.status
               when 'deleted' then 'the source row no longer exists'
               when 'empty' then 'content is empty'
               when 'stale' then 'the content changed after this job was queued'
               when 'embedded' then 'an embedding of this content already exists'
             end,
             case when x.status = 'ok' then s.%2$I end,
             s.%3$I,
             case when x.status = 'ok' then coalesce(%4$s, m.tokenizer) end
        from (%1$s) j
        join public.embedding_models m on m.name = j.model
        left join %5$s s on s.id = j.source_id
        left join public.embeddings e on e.source_table = j.source_table and e.source_id = j.source_id and e.model = j.model
        cross join lateral (select case
            when s.id is null then 'deleted'
            when private.is_blank(s.%2$I) then 'empty'
            when s.content_hash is distinct from j.content_hash then 'stale'
            when e.content_hash = s.content_hash then 'embedded'
            else 'ok' end as status) x
       where j.source_table = $2 and j.source_id is not null
       order by j.msg_id$q$,
      base, src.content_column, src.owner_column, tokenizer_sql, src.relation)
      using msg_ids, src.source_table;
  end loop;
end
$$;
revoke all on function util.embedding_job_inputs(bigint[]) from public, anon, authenticated;

-- util.read_embedding_jobs(batch_size integer, visibility_timeout_seconds integer) → table
--   Reads up to `batch_size` visible jobs with pgmq.read (they stay invisible for
--   `visibility_timeout_seconds`) and returns them as util.embedding_job_inputs does. Nothing visible →
--   no rows. Raises 22023 for a non-positive argument. Caller: the embed function.
create or replace function util.read_embedding_jobs(batch_size integer, visibility_timeout_seconds integer)
returns table (
  msg_id bigint,
  attempts integer,
  source_table text,
  source_id uuid,
  model text,
  content_hash text,
  status text,
  reason text,
  content text,
  owner_id uuid,
  tokenizer text
)
language plpgsql
volatile
security invoker
as $$
declare
  ids bigint[];
begin
  if batch_size is null or batch_size < 1 then
    raise exception 'batch_size must be a positive number of jobs, got %', batch_size using errcode = '22023';
  end if;
  if visibility_timeout_seconds is null or visibility_timeout_seconds < 1 then
    raise exception 'visibility_timeout_seconds must be positive, got %', visibility_timeout_seconds using errcode = '22023';
  end if;
  select array_agg(r.msg_id) into ids from pgmq.read('embedding_jobs', visibility_timeout_seconds, batch_size) r;
  if ids is null then
    return;
  end if;
  return query select * from util.embedding_job_inputs(ids) i order by i.msg_id;
end
$$;
revoke all on function util.read_embedding_jobs(integer, integer) from public, anon, authenticated;

-- util.complete_embedding_jobs(results jsonb, dropped bigint[] default '{}') → table (msg_id, outcome)
--   In one transaction: for each result {msg_ids, source_table, source_id, model, content_hash,
--   embedding ('[…]' text), token_count} whose source row still has that content_hash (the row is locked
--   FOR SHARE while checking), upserts the embedding and, when the source's count is only an estimate,
--   writes token_count with exactness = true (a count the writer supplied as exact is kept: it may come
--   from the model's own tokenizer); results whose source changed or vanished meanwhile are
--   'stale' and store nothing. Then deletes every job in the results and in `dropped`, and promotes any
--   model whose build just completed. Outcome per job: 'stored' | 'stale' | 'dropped'. A vector of the
--   wrong size aborts the whole call (22000) and leaves the jobs queued. Caller: the embed function.
create or replace function util.complete_embedding_jobs(results jsonb, dropped bigint[] default '{}')
returns table (msg_id bigint, outcome text)
language plpgsql
volatile
security invoker
as $$
declare
  src util.embedding_sources;
  token_sql text;
  all_ids bigint[];
begin
  if results is null or jsonb_typeof(results) <> 'array' then
    raise exception 'results must be a JSON array' using errcode = '22023';
  end if;
  for src in
    select s.* from util.embedding_sources s
     where s.source_table in (select distinct x ->> 'source_table' from jsonb_array_elements(results) x)
     order by s.source_table
  loop
    token_sql := case when src.token_count_column is null then '' else format($q$,
      counted as (
        update %1$s t set %2$I = c.token_count, %3$I = true
          from (select distinct on (ok.source_id) ok.source_id, ok.token_count from ok
                 where ok.token_count is not null order by ok.source_id) c
         where t.id = c.source_id and not t.%3$I
        returning t.id)$q$,
      src.relation, src.token_count_column, src.token_count_exact_column) end;
    return query execute format($q$
      with r as (
        select * from jsonb_to_recordset($1) as r(msg_ids bigint[], source_table text, source_id uuid, model text,
                                                 content_hash text, embedding text, token_count integer)
         where r.source_table = $2),
      live as (
        select s.id, s.%1$I as owner_id, s.content_hash from %2$s s
         where s.id in (select r.source_id from r)
         for share),
      ok as (
        select r.*, live.owner_id from r join live on live.id = r.source_id and live.content_hash = r.content_hash),
      stored as (
        insert into public.embeddings as e (owner_id, source_table, source_id, model, content_hash, embedding)
        select ok.owner_id, ok.source_table, ok.source_id, ok.model, ok.content_hash, ok.embedding::extensions.vector
          from ok
        on conflict (source_table, source_id, model) do update
          set owner_id = excluded.owner_id, content_hash = excluded.content_hash, embedding = excluded.embedding
        returning e.source_id, e.model)%3$s
      select j.id, case when ok.source_id is null then 'stale' else 'stored' end
        from r
        left join ok on ok.source_id = r.source_id and ok.model = r.model
        cross join lateral unnest(r.msg_ids) as j(id)$q$,
      src.owner_column, src.relation, token_sql)
      using results, src.source_table;
  end loop;
  -- Results naming a table that is not a source store nothing.
  return query
    select j.v::bigint, 'stale'::text
      from jsonb_array_elements(results) x
      cross join lateral jsonb_array_elements_text(x -> 'msg_ids') as j(v)
     where not exists (select from util.embedding_sources s where s.source_table = x ->> 'source_table')
    union all
    select d, 'dropped'::text from unnest(coalesce(dropped, '{}')) as d;
  select array_agg(distinct v) into all_ids
    from (select (jsonb_array_elements_text(x -> 'msg_ids'))::bigint as v from jsonb_array_elements(results) x
          union all select unnest(coalesce(dropped, '{}'))) ids;
  if all_ids is not null then
    perform pgmq.delete('embedding_jobs', all_ids);
  end if;
  perform util.finish_embedding_builds();
end
$$;
revoke all on function util.complete_embedding_jobs(jsonb, bigint[]) from public, anon, authenticated;

-- util.fail_embedding_jobs(failures jsonb) → table (msg_id, outcome, attempts)
--   For each failure {msg_id, error, delay_seconds, attempted default true, final default false} of a job
--   still queued: attempts = its reads (less this one when `attempted` is false: the worker gave up
--   without trying) + attempts carried over by deferrals. When `final` or attempts ≥ max_attempts, the job
--   is archived (pgmq.archive) and recorded in embedding_failures with the error ('dead_lettered');
--   otherwise it becomes visible again after delay_seconds, rounded up to whole seconds (pgmq.set_vt;
--   'retrying'). Errors are stored
--   cut to 2,000 characters. Caller: the embed function.
create or replace function util.fail_embedding_jobs(failures jsonb)
returns table (msg_id bigint, outcome text, attempts integer)
language plpgsql
volatile
security invoker
as $$
declare
  max_attempts integer := (util.embedding_settings() ->> 'max_attempts')::integer;
  f record;
  dead bigint[] := '{}';
begin
  if failures is null or jsonb_typeof(failures) <> 'array' then
    raise exception 'failures must be a JSON array' using errcode = '22023';
  end if;
  for f in
    select x.msg_id, left(coalesce(x.error, 'unknown error'), 2000) as error,
           greatest(coalesce(x.delay_seconds, 0), 0) as delay_seconds, coalesce(x.final, false) as final,
           q.message,
           q.read_ct - case when coalesce(x.attempted, true) then 0 else 1 end
             + case when q.message ->> 'attempts' ~ '^\d{1,6}$' then (q.message ->> 'attempts')::int else 0 end as attempts
      from jsonb_to_recordset(failures) as x(msg_id bigint, error text, delay_seconds double precision,
                                             attempted boolean, final boolean)
      join pgmq.q_embedding_jobs q on q.msg_id = x.msg_id
     order by x.msg_id
  loop
    if f.final or f.attempts >= max_attempts then
      insert into public.embedding_failures (msg_id, owner_id, source_table, source_id, model, content_hash, attempts, last_error, job)
      values (f.msg_id,
              case when f.message ->> 'owner_id' ~* '^[0-9a-f-]{36}$' then (f.message ->> 'owner_id')::uuid end,
              f.message ->> 'table',
              case when f.message ->> 'id' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                   then (f.message ->> 'id')::uuid end,
              f.message ->> 'model', f.message ->> 'content_hash', f.attempts, f.error, f.message);
      dead := dead || f.msg_id;
      msg_id := f.msg_id; outcome := 'dead_lettered'; attempts := f.attempts;
    else
      -- pgmq 1.5 (hosted Supabase) takes the delay in whole seconds: set_vt(text, bigint, integer).
      perform pgmq.set_vt('embedding_jobs', f.msg_id, least(ceil(f.delay_seconds), 2147483647)::integer);
      msg_id := f.msg_id; outcome := 'retrying'; attempts := f.attempts;
    end if;
    return next;
  end loop;
  if cardinality(dead) > 0 then
    perform pgmq.archive('embedding_jobs', dead);
    perform util.finish_embedding_builds();
  end if;
end
$$;
revoke all on function util.fail_embedding_jobs(jsonb) from public, anon, authenticated;

-- util.defer_embedding_jobs(msg_ids bigint[]) → integer
--   Puts jobs the worker read but could not fit into this provider call back in the queue, visible at
--   once, without using up an attempt: each is re-sent with its attempts so far (reads less this one)
--   carried in the payload, and the read copy deleted, in one transaction. Returns how many were deferred.
create or replace function util.defer_embedding_jobs(msg_ids bigint[])
returns integer
language plpgsql
volatile
security invoker
as $$
declare
  jobs jsonb[];
begin
  select array_agg(q.message || jsonb_build_object('attempts',
           q.read_ct - 1 + case when q.message ->> 'attempts' ~ '^\d{1,6}$' then (q.message ->> 'attempts')::int else 0 end)
         order by q.msg_id)
    into jobs
    from pgmq.q_embedding_jobs q where q.msg_id = any(msg_ids);
  if jobs is null then
    return 0;
  end if;
  perform pgmq.send_batch('embedding_jobs', jobs);
  perform pgmq.delete('embedding_jobs', msg_ids);
  return cardinality(jobs);
end
$$;
revoke all on function util.defer_embedding_jobs(bigint[]) from public, anon, authenticated;

-- util.finish_embedding_builds() → setof text
--   Promotes each model in state 'building' whose build is complete — no job of it left in the queue, no
--   job of it dead-lettered since the build started, and every source row with content embedded in it
--   with its current content — to state 'ready' and default model (the previous default stops taking new
--   rows; searches switch). Returns the promoted models. A build with failures stays 'building' until
--   util.reembed(model) is run again. Called after every stored or dead-lettered batch.
create or replace function util.finish_embedding_builds()
returns setof text
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  m public.embedding_models;
  src util.embedding_sources;
  missing boolean;
begin
  for m in select * from public.embedding_models em where em.state = 'building' order by em.name loop
    continue when exists (select from pgmq.q_embedding_jobs q where q.message ->> 'model' = m.name);
    continue when exists (select from public.embedding_failures f
                           where f.model = m.name and f.failed_at >= coalesce(m.build_started_at, '-infinity'));
    missing := false;
    for src in select * from util.embedding_sources s order by s.source_table loop
      execute format(
        'select exists (select from %s s where not private.is_blank(s.%I)
                          and not exists (select from public.embeddings e where e.source_table = $1 and e.source_id = s.id
                                            and e.model = $2 and e.content_hash = s.content_hash))',
        src.relation, src.content_column)
        into missing using src.source_table, m.name;
      exit when missing;
    end loop;
    continue when missing;
    update public.embedding_models em set is_default = false where em.is_default and em.name <> m.name;
    update public.embedding_models em set is_default = true, state = 'ready', build_started_at = null where em.name = m.name;
    return next m.name;
  end loop;
end
$$;
revoke all on function util.finish_embedding_builds() from public, anon, authenticated;
grant execute on function util.finish_embedding_builds() to service_role;

-- util.process_embeddings(batch_size default null, max_requests default null,
--     timeout_milliseconds default null) → integer
--   The cron job's body. Counts the jobs visible now; none → returns 0 without any HTTP call. Otherwise
--   sends ceil(visible / batch_size) requests, at most max_requests, to the embed function through
--   util.invoke_edge_function (POST {"batch_size": n}, service key from Vault, pg_net timeout
--   timeout_milliseconds) and returns how many. Null arguments take the embeddings settings. Raises 22023
--   for a non-positive argument. Security definer (reads the queue); callable by service_role.
create or replace function util.process_embeddings(
  batch_size integer default null,
  max_requests integer default null,
  timeout_milliseconds integer default null
)
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  cfg jsonb := util.embedding_settings();
  visible integer;
  requests integer;
begin
  batch_size := coalesce(batch_size, (cfg ->> 'batch_size')::integer);
  max_requests := coalesce(max_requests, (cfg ->> 'max_requests')::integer);
  timeout_milliseconds := coalesce(timeout_milliseconds, (cfg ->> 'request_timeout_milliseconds')::integer);
  if batch_size < 1 then
    raise exception 'batch_size must be positive, got %', batch_size using errcode = '22023';
  end if;
  if max_requests < 1 then
    raise exception 'max_requests must be positive, got %', max_requests using errcode = '22023';
  end if;
  if timeout_milliseconds < 1 then
    raise exception 'timeout_milliseconds must be positive, got %', timeout_milliseconds using errcode = '22023';
  end if;
  select count(*) into visible
    from (select from pgmq.q_embedding_jobs q where q.vt <= clock_timestamp() limit batch_size::bigint * max_requests) v;
  if visible = 0 then
    return 0;
  end if;
  requests := least(max_requests, ceil(visible::numeric / batch_size)::integer);
  for i in 1..requests loop
    perform util.invoke_edge_function('embed', jsonb_build_object('batch_size', batch_size), timeout_milliseconds);
  end loop;
  return requests;
end
$$;
revoke all on function util.process_embeddings(integer, integer, integer) from public, anon, authenticated;
grant execute on function util.process_embeddings(integer, integer, integer) to service_role;

-- util.schedule_embeddings() → bigint
--   (Re)schedules the cron job 'process-embeddings' (select util.process_embeddings()) with the setting
--   embeddings.schedule and returns its job id. Runs at migration and whenever that setting changes.
create or replace function util.schedule_embeddings()
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  return cron.schedule('process-embeddings', util.embedding_settings() ->> 'schedule', 'select util.process_embeddings()');
end
$$;
revoke all on function util.schedule_embeddings() from public, anon, authenticated;
grant execute on function util.schedule_embeddings() to service_role;

-- private.embedding_settings_changed() → trigger
--   AFTER INSERT OR UPDATE row trigger on public.settings for category 'embeddings': validates all of
--   them (an invalid value fails the write with 22023) and reschedules the cron job when the schedule
--   changed.
create or replace function private.embedding_settings_changed()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform util.embedding_settings();
  if new.key = 'schedule' then
    perform util.schedule_embeddings();
  end if;
  return null;
end
$$;
revoke all on function private.embedding_settings_changed() from public, anon, authenticated;

create trigger settings_embeddings_changed after insert or update on public.settings
  for each row when (new.category = 'embeddings') execute function private.embedding_settings_changed();

select util.schedule_embeddings();
