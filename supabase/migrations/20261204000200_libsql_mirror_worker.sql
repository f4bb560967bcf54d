-- The LibSQL mirror worker's SQL side: what the `mirror` Edge Function (and `npm run mirror:backfill`) calls,
-- and the cron job that wakes the function.
--
--   cron 'process-libsql-mirror' (setting libsql_mirror.schedule, default every second)
--     └─ util.process_libsql_mirror(): no visible change → return 0; else up to max_requests POSTs to
--        /functions/v1/mirror through util.invoke_edge_function (service key from Vault)
--   mirror (Edge Function, connected as postgres over SUPABASE_DB_URL):
--     util.read_libsql_mirror_changes(batch, vt)   pgmq.read + each change's row as it is now (or null: gone)
--     … applies them to LibSQL in one LibSQL transaction, each only if its version is newer …
--     util.complete_libsql_mirror_changes(ids)     pgmq.delete + progress (last applied version and time)
--     util.fail_libsql_mirror_changes(failures)    retry later (pgmq.set_vt, backoff chosen by the worker) or,
--                                                  after max_attempts / when final, pgmq.archive + a
--                                                  libsql_mirror_failures row
-- A function killed between applying to LibSQL and deleting from the queue leaves the changes to reappear
-- after the visibility timeout; applying them again changes nothing (same versions). All dynamic SQL takes
-- table and column names from util.libsql_mirror_sources, never from a change. The worker functions run as
-- their caller and touch pgmq's tables, so only postgres runs them; service_role may run
-- util.process_libsql_mirror and read the settings.
--
-- Settings (public.settings, category 'libsql_mirror'; defaults below):
--   schedule '1 seconds', batch_size 500, max_requests 2, max_attempts 8, visibility_timeout_seconds 30,
--   backoff_base_seconds 1, backoff_max_seconds 300, request_timeout_milliseconds 60000.

insert into public.settings (category, key, value, description) values
  ('libsql_mirror', 'schedule', '"1 seconds"',
   'pg_cron schedule of util.process_libsql_mirror() (''N seconds'' or 5-field cron); a change reschedules it.'),
  ('libsql_mirror', 'batch_size', '500', 'Changes one mirror request reads from the queue.'),
  ('libsql_mirror', 'max_requests', '2', 'Most mirror requests one util.process_libsql_mirror() run sends.'),
  ('libsql_mirror', 'max_attempts', '8', 'Attempts before a change is dead-lettered (archived + libsql_mirror_failures).'),
  ('libsql_mirror', 'visibility_timeout_seconds', '30',
   'How long a change read by the mirror function stays invisible before another run may take it.'),
  ('libsql_mirror', 'backoff_base_seconds', '1', 'Retry delay after the first failed attempt; doubles per attempt, with jitter.'),
  ('libsql_mirror', 'backoff_max_seconds', '300', 'Longest retry delay.'),
  ('libsql_mirror', 'request_timeout_milliseconds', '60000', 'pg_net timeout of each call to the mirror function.')
on conflict (category, key) do nothing;

-- util.libsql_mirror_settings() → jsonb
--   The mirror settings with defaults filled in: {schedule, batch_size, max_requests, max_attempts,
--   visibility_timeout_seconds, backoff_base_seconds, backoff_max_seconds, request_timeout_milliseconds}.
--   Raises 22023 naming the setting when a value is out of range or of the wrong type.
create or replace function util.libsql_mirror_settings()
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
  result := jsonb_build_object('schedule', private.setting('libsql_mirror', 'schedule', '"1 seconds"'));
  if jsonb_typeof(result -> 'schedule') <> 'string' then
    raise exception 'setting libsql_mirror.schedule must be a string such as "1 seconds", got %', result -> 'schedule'
      using errcode = '22023';
  end if;
  for spec in
    select * from (values
      ('batch_size', 500, 1, 5000, true),
      ('max_requests', 2, 1, 100, true),
      ('max_attempts', 8, 1, 100, true),
      ('visibility_timeout_seconds', 30, 1, 43200, true),
      ('backoff_base_seconds', 1, 0, 3600, false),
      ('backoff_max_seconds', 300, 0, 86400, false),
      ('request_timeout_milliseconds', 60000, 1000, 3600000, true)
    ) as x(key, fallback, lo, hi, whole)
  loop
    v := private.setting('libsql_mirror', spec.key, to_jsonb(spec.fallback));
    if jsonb_typeof(v) <> 'number' or v::text::numeric not between spec.lo and spec.hi
       or (spec.whole and v::text::numeric <> trunc(v::text::numeric)) then
      raise exception 'setting libsql_mirror.% must be % between % and %, got %', spec.key,
        case when spec.whole then 'a whole number' else 'a number' end, spec.lo, spec.hi, v
        using errcode = '22023';
    end if;
    result := result || jsonb_build_object(spec.key, v);
  end loop;
  return result;
end
$$;
revoke all on function util.libsql_mirror_settings() from public, anon, authenticated;
grant execute on function util.libsql_mirror_settings() to service_role;

-- util.libsql_mirror_changes(msg_ids bigint[]) → table
--   For each queued change among `msg_ids`: its attempts so far (reads), table, key, version, owner, and
--   status 'ok' with `row` — the row as it is now, as JSON (to_jsonb of the row less the source's excluded
--   columns, plus _created_us: created_at in microseconds since 1970, the keyset cursors' unit), or null when
--   the row no longer exists — or status 'invalid' with a reason (unregistered table, malformed key or
--   version). For embeddings, model_dims is the dims of the key's model in public.embedding_models (null when
--   the model is not registered). Timestamps are rendered in UTC, as PostgREST renders them on hosted
--   projects. Read-only; callers: util.read_libsql_mirror_changes, mirror:verify, tests.
create or replace function util.libsql_mirror_changes(msg_ids bigint[])
returns table (
  msg_id bigint,
  attempts integer,
  source_table text,
  row_key jsonb,
  version bigint,
  owner_id uuid,
  status text,
  reason text,
  "row" jsonb,
  model_dims integer
)
language plpgsql
stable
security invoker
set timezone to 'UTC'
as $$
declare
  src util.libsql_mirror_sources;
  base constant text := $q$
    select q.msg_id, q.read_ct as attempts, q.message ->> 't' as source_table, q.message -> 'k' as row_key,
           case when q.message ->> 'v' ~ '^[0-9]{1,18}$' then (q.message ->> 'v')::bigint end as version,
           case when q.message ->> 'o' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                then (q.message ->> 'o')::uuid end as owner_id
      from pgmq.q_libsql_mirror q
     where q.msg_id = any($1)$q$;
  valid_sql text;
  join_sql text;
  created_sql text;
  col record;
begin
  -- Changes that cannot be resolved: unknown table, or no usable version or key.
  return query execute format($q$
    select j.msg_id, j.attempts, j.source_table, j.row_key, j.version, j.owner_id, 'invalid'::text,
           case when s.source_table is null then format('table %%s is not mirrored to LibSQL', coalesce(j.source_table, 'null'))
                when j.version is null then 'change has no valid version'
                else format('change key must be a JSON array of %%s values', cardinality(s.key_columns)) end,
           null::jsonb, null::integer
      from (%s) j
      left join util.libsql_mirror_sources s on s.source_table = j.source_table
     where s.source_table is null or j.version is null
        or jsonb_typeof(j.row_key) is distinct from 'array' or jsonb_array_length(j.row_key) <> cardinality(s.key_columns)
     order by j.msg_id$q$, base)
    using msg_ids;
  for src in select * from util.libsql_mirror_sources s order by s.source_table loop
    valid_sql := 'true';
    join_sql := 'true';
    for col in
      select k.name, k.ord - 1 as idx, format_type(a.atttypid, a.atttypmod) as type
        from unnest(src.key_columns) with ordinality as k(name, ord)
        join pg_attribute a on a.attrelid = src.relation and a.attname = k.name
       order by k.ord
    loop
      valid_sql := valid_sql || case col.type
        when 'uuid' then format(' and j.row_key ->> %s ~* %L', col.idx, '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
        else format(' and jsonb_typeof(j.row_key -> %s) = ''string''', col.idx) end;
      join_sql := join_sql || format(' and s.%I = (j.row_key ->> %s)::%s', col.name, col.idx, col.type);
    end loop;
    created_sql := case when exists (select from pg_attribute a where a.attrelid = src.relation and a.attname = 'created_at'
                                       and not a.attisdropped)
      then '|| jsonb_build_object(''_created_us'', (extract(epoch from s.created_at) * 1000000)::bigint)' else '' end;
    return query execute format($q$
      select j.msg_id, j.attempts, j.source_table, j.row_key, j.version, j.owner_id,
             case when %3$s then 'ok' else 'invalid' end,
             case when %3$s then null else format('key %%s does not fit the key columns (%%s) of %%s', j.row_key, %4$L, j.source_table) end,
             case when %3$s and s.%8$I is not null then (to_jsonb(s) - $3::text[]) %5$s end,
             %6$s
        from (%1$s) j
        left join %2$s s on %3$s and %7$s
       where j.source_table = $2 and j.version is not null
         and jsonb_typeof(j.row_key) = 'array' and jsonb_array_length(j.row_key) = $4
       order by j.msg_id$q$,
      base, src.relation, valid_sql, array_to_string(src.key_columns, ', '), created_sql,
      case when src.source_table = 'embeddings'
           then '(select m.dims from public.embedding_models m where m.name = j.row_key ->> 2)' else 'null::integer' end,
      join_sql, src.key_columns[1])
      using msg_ids, src.source_table, src.exclude_columns::text[], cardinality(src.key_columns);
  end loop;
end
$$;
revoke all on function util.libsql_mirror_changes(bigint[]) from public, anon, authenticated;

-- util.read_libsql_mirror_changes(batch_size integer, visibility_timeout_seconds integer) → table
--   Reads up to `batch_size` visible changes with pgmq.read (invisible for `visibility_timeout_seconds`) and
--   returns them as util.libsql_mirror_changes does, in msg_id order. Nothing visible → no rows. Raises 22023
--   for a non-positive argument. Caller: the mirror function, mirror:backfill.
create or replace function util.read_libsql_mirror_changes(batch_size integer, visibility_timeout_seconds integer)
returns table (
  msg_id bigint,
  attempts integer,
  source_table text,
  row_key jsonb,
  version bigint,
  owner_id uuid,
  status text,
  reason text,
  "row" jsonb,
  model_dims integer
)
language plpgsql
volatile
security invoker
as $$
declare
  ids bigint[];
begin
  if batch_size is null or batch_size < 1 then
    raise exception 'batch_size must be a positive number of changes, got %', batch_size using errcode = '22023';
  end if;
  if visibility_timeout_seconds is null or visibility_timeout_seconds < 1 then
    raise exception 'visibility_timeout_seconds must be positive, got %', visibility_timeout_seconds using errcode = '22023';
  end if;
  select array_agg(r.msg_id) into ids from pgmq.read('libsql_mirror', visibility_timeout_seconds, batch_size) r;
  if ids is null then
    return;
  end if;
  return query select * from util.libsql_mirror_changes(ids) c order by c.msg_id;
end
$$;
revoke all on function util.read_libsql_mirror_changes(integer, integer) from public, anon, authenticated;

-- util.complete_libsql_mirror_changes(msg_ids bigint[]) → integer
--   Deletes the applied changes from the queue and records progress (highest version among them, time,
--   count) in util.libsql_mirror_progress, in one transaction. Returns how many changes were still queued
--   (a change another run completed meanwhile is not counted twice). Caller: the mirror function.
create or replace function util.complete_libsql_mirror_changes(msg_ids bigint[])
returns integer
language plpgsql
volatile
security invoker
as $$
declare
  top bigint;
  n integer;
begin
  if msg_ids is null or cardinality(msg_ids) = 0 then
    return 0;
  end if;
  select max(case when q.message ->> 'v' ~ '^[0-9]{1,18}$' then (q.message ->> 'v')::bigint end), count(*)
    into top, n
    from pgmq.q_libsql_mirror q where q.msg_id = any(msg_ids);
  perform pgmq.delete('libsql_mirror', msg_ids);
  update util.libsql_mirror_progress p
     set last_applied_at = clock_timestamp(),
         last_applied_version = greatest(p.last_applied_version, top),
         applied_total = p.applied_total + n,
         last_batch_size = n
   where p.id;
  return n;
end
$$;
revoke all on function util.complete_libsql_mirror_changes(bigint[]) from public, anon, authenticated;

-- util.fail_libsql_mirror_changes(failures jsonb) → table (msg_id, outcome, attempts)
--   For each failure {msg_id, error, delay_seconds, final default false} of a change still queued: when
--   `final` or its reads ≥ max_attempts it is archived (pgmq.archive) and recorded in libsql_mirror_failures
--   with the error ('dead_lettered'); otherwise it becomes visible again after delay_seconds, rounded up to
--   whole seconds (pgmq.set_vt; 'retrying'). Errors are stored cut to 2,000 characters.
--   Caller: the mirror function.
create or replace function util.fail_libsql_mirror_changes(failures jsonb)
returns table (msg_id bigint, outcome text, attempts integer)
language plpgsql
volatile
security invoker
as $$
declare
  max_attempts integer := (util.libsql_mirror_settings() ->> 'max_attempts')::integer;
  f record;
  dead bigint[] := '{}';
begin
  if failures is null or jsonb_typeof(failures) <> 'array' then
    raise exception 'failures must be a JSON array' using errcode = '22023';
  end if;
  for f in
    select x.msg_id, left(coalesce(x.error, 'unknown error'), 2000) as error,
           greatest(coalesce(x.delay_seconds, 0), 0) as delay_seconds, coalesce(x.final, false) as final,
           q.message, q.read_ct as attempts
      from jsonb_to_recordset(failures) as x(msg_id bigint, error text, delay_seconds double precision, final boolean)
      join pgmq.q_libsql_mirror q on q.msg_id = x.msg_id
     order by x.msg_id
  loop
    if f.final or f.attempts >= max_attempts then
      insert into public.libsql_mirror_failures (msg_id, owner_id, source_table, row_key, version, attempts, last_error, change)
      values (f.msg_id,
              case when f.message ->> 'o' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                   then (f.message ->> 'o')::uuid end,
              f.message ->> 't', f.message -> 'k',
              case when f.message ->> 'v' ~ '^[0-9]{1,18}$' then (f.message ->> 'v')::bigint end,
              f.attempts, f.error, f.message);
      dead := dead || f.msg_id;
      msg_id := f.msg_id; outcome := 'dead_lettered'; attempts := f.attempts;
    else
      -- pgmq 1.5 (hosted Supabase) takes the delay in whole seconds: set_vt(text, bigint, integer).
      perform pgmq.set_vt('libsql_mirror', f.msg_id, least(ceil(f.delay_seconds), 2147483647)::integer);
      msg_id := f.msg_id; outcome := 'retrying'; attempts := f.attempts;
    end if;
    return next;
  end loop;
  if cardinality(dead) > 0 then
    perform pgmq.archive('libsql_mirror', dead);
  end if;
end
$$;
revoke all on function util.fail_libsql_mirror_changes(jsonb) from public, anon, authenticated;

-- util.enqueue_libsql_mirror_backfill(source_table text, after_key jsonb default null, page_size integer default 1000)
--     → table (sent integer, last_key jsonb)
--   Queues a 'backfill' change for each of the next `page_size` rows of `source_table` in key order after
--   `after_key` (null: from the start) and returns how many and the last key (null when none are left); the
--   caller passes last_key back to continue, so a backfill can stop and resume anywhere. The rows are locked
--   FOR KEY SHARE while their versions are taken: a transaction still writing one of them commits first, so
--   the version is newer than that transaction's change and the state read when it is applied includes it.
--   Errors: 22023 unknown source, bad key or page size. Caller: mirror:backfill (postgres).
create or replace function util.enqueue_libsql_mirror_backfill(
  source_table text,
  after_key jsonb default null,
  page_size integer default 1000
)
returns table (sent integer, last_key jsonb)
language plpgsql
volatile
security invoker
as $$
declare
  src util.libsql_mirror_sources;
  key_sql text;
  cols text;
  after_sql text := '';
  changes jsonb[];
  col record;
  parts text[] := '{}';
begin
  select * into src from util.libsql_mirror_sources s where s.source_table = enqueue_libsql_mirror_backfill.source_table;
  if not found then
    raise exception 'unknown mirror source "%"; mirrored tables: %', source_table,
      (select string_agg(s.source_table, ', ' order by s.source_table) from util.libsql_mirror_sources s)
      using errcode = '22023';
  end if;
  if page_size is null or page_size not between 1 and 10000 then
    raise exception 'page_size must be between 1 and 10000, got %', page_size using errcode = '22023';
  end if;
  if after_key is not null and (jsonb_typeof(after_key) <> 'array' or jsonb_array_length(after_key) <> cardinality(src.key_columns)) then
    raise exception 'after_key must be a JSON array of % values (the last_key of the previous page)', cardinality(src.key_columns)
      using errcode = '22023';
  end if;
  key_sql := private.libsql_mirror_key_sql(src.key_columns, 'r');
  cols := (select string_agg(format('r.%I', c), ', ' order by o) from unnest(src.key_columns) with ordinality x(c, o));
  if after_key is not null then
    for col in
      select k.name, k.ord - 1 as idx, format_type(a.atttypid, a.atttypmod) as type
        from unnest(src.key_columns) with ordinality as k(name, ord)
        join pg_attribute a on a.attrelid = src.relation and a.attname = k.name
       order by k.ord
    loop
      parts := parts || format('%L::%s', after_key ->> col.idx::integer, col.type);
    end loop;
    after_sql := format('where (%s) > (%s)', cols, array_to_string(parts, ', '));
  end if;
  execute format(
    'with page as (select %1$s as k, r.%2$I as o from %3$s r %4$s order by %5$s limit $1 for key share of r)
     select array_agg(jsonb_build_object(''t'', $2, ''k'', p.k, ''o'', p.o, ''op'', ''backfill'',
                                         ''v'', nextval(''util.libsql_mirror_version'')) order by p.k)
       from page p',
    key_sql, src.owner_column, src.relation, after_sql, cols)
    into changes using page_size, src.source_table;
  if changes is null then
    sent := 0; last_key := null;
    return next;
    return;
  end if;
  perform pgmq.send_batch('libsql_mirror', changes);
  sent := cardinality(changes);
  last_key := changes[cardinality(changes)] -> 'k';
  return next;
end
$$;
revoke all on function util.enqueue_libsql_mirror_backfill(text, jsonb, integer) from public, anon, authenticated;

-- util.enqueue_libsql_mirror_recheck(changes jsonb) → integer
--   Queues changes for rows LibSQL holds but Postgres may not: each {t, k, v} with `v` the version LibSQL
--   holds for that row. Applying one reads the row now: gone → a tombstone at that version (the mirror's copy
--   goes); back meanwhile → nothing older is written, and the row's own change (a newer version) applies.
--   Returns how many were queued. 22023 for an unknown table or a malformed entry. Caller: mirror:backfill.
create or replace function util.enqueue_libsql_mirror_recheck(changes jsonb)
returns integer
language plpgsql
volatile
security invoker
as $$
declare
  msgs jsonb[];
  bad text;
begin
  if changes is null or jsonb_typeof(changes) <> 'array' then
    raise exception 'changes must be a JSON array of {t, k, v}' using errcode = '22023';
  end if;
  select x ->> 't' into bad from jsonb_array_elements(changes) x
   where not exists (select from util.libsql_mirror_sources s where s.source_table = x ->> 't')
      or jsonb_typeof(x -> 'k') <> 'array' or coalesce(x ->> 'v', '') !~ '^[0-9]{1,18}$'
   limit 1;
  if found then
    raise exception 'changes: every entry needs t (a mirrored table), k (a key array) and v (a version); got t = %', coalesce(bad, 'null')
      using errcode = '22023';
  end if;
  select array_agg(jsonb_build_object('t', x ->> 't', 'k', x -> 'k', 'o', x -> 'o', 'op', 'recheck', 'v', (x ->> 'v')::bigint))
    into msgs from jsonb_array_elements(changes) x;
  if msgs is null then
    return 0;
  end if;
  perform pgmq.send_batch('libsql_mirror', msgs);
  return cardinality(msgs);
end
$$;
revoke all on function util.enqueue_libsql_mirror_recheck(jsonb) from public, anon, authenticated;

-- util.process_libsql_mirror(batch_size default null, max_requests default null, timeout_milliseconds default null)
--     → integer
--   The cron job's body. Counts the changes visible now; none → returns 0 without any HTTP call. Otherwise
--   sends ceil(visible / batch_size) requests, at most max_requests, to the mirror function through
--   util.invoke_edge_function (POST {"batch_size": n}) and returns how many. Null arguments take the settings.
--   Raises 22023 for a non-positive argument. Security definer (reads the queue); callable by service_role.
create or replace function util.process_libsql_mirror(
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
  cfg jsonb := util.libsql_mirror_settings();
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
    from (select from pgmq.q_libsql_mirror q where q.vt <= clock_timestamp() limit batch_size::bigint * max_requests) v;
  if visible = 0 then
    return 0;
  end if;
  requests := least(max_requests, ceil(visible::numeric / batch_size)::integer);
  for i in 1..requests loop
    perform util.invoke_edge_function('mirror', jsonb_build_object('batch_size', batch_size), timeout_milliseconds);
  end loop;
  return requests;
end
$$;
revoke all on function util.process_libsql_mirror(integer, integer, integer) from public, anon, authenticated;
grant execute on function util.process_libsql_mirror(integer, integer, integer) to service_role;

-- util.schedule_libsql_mirror() → bigint
--   (Re)schedules the cron job 'process-libsql-mirror' with the setting libsql_mirror.schedule and returns its
--   job id. Runs at migration and whenever that setting changes.
create or replace function util.schedule_libsql_mirror()
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  return cron.schedule('process-libsql-mirror', util.libsql_mirror_settings() ->> 'schedule', 'select util.process_libsql_mirror()');
end
$$;
revoke all on function util.schedule_libsql_mirror() from public, anon, authenticated;
grant execute on function util.schedule_libsql_mirror() to service_role;

-- private.libsql_mirror_settings_changed() → trigger
--   AFTER INSERT OR UPDATE row trigger on public.settings for category 'libsql_mirror': validates them all (an
--   invalid value fails the write with 22023) and reschedules the cron job when the schedule changed.
create or replace function private.libsql_mirror_settings_changed()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform util.libsql_mirror_settings();
  if new.key = 'schedule' then
    perform util.schedule_libsql_mirror();
  end if;
  return null;
end
$$;
revoke all on function private.libsql_mirror_settings_changed() from public, anon, authenticated;

create trigger settings_libsql_mirror_changed after insert or update on public.settings
  for each row when (new.category = 'libsql_mirror') execute function private.libsql_mirror_settings_changed();

select util.schedule_libsql_mirror();

-- util.libsql_mirror_snapshot(source_table text, after_key jsonb default null, page_size integer default 1000)
--     → table (row_key jsonb, "row" jsonb)
--   The next `page_size` rows of a mirrored table in key order after `after_key`, each as its key and the
--   JSON the mirror writes for it (the row of util.libsql_mirror_changes). mirror:verify compares these with
--   LibSQL page by page. Errors: 22023 unknown source, bad key or page size. Caller: mirror:verify (postgres).
create or replace function util.libsql_mirror_snapshot(
  source_table text,
  after_key jsonb default null,
  page_size integer default 1000
)
returns table (row_key jsonb, "row" jsonb)
language plpgsql
stable
security invoker
set timezone to 'UTC'
as $$
declare
  src util.libsql_mirror_sources;
  cols text;
  after_sql text := '';
  parts text[] := '{}';
  col record;
  created_sql text;
begin
  select * into src from util.libsql_mirror_sources s where s.source_table = libsql_mirror_snapshot.source_table;
  if not found then
    raise exception 'unknown mirror source "%"', source_table using errcode = '22023';
  end if;
  if page_size is null or page_size not between 1 and 10000 then
    raise exception 'page_size must be between 1 and 10000, got %', page_size using errcode = '22023';
  end if;
  if after_key is not null and (jsonb_typeof(after_key) <> 'array' or jsonb_array_length(after_key) <> cardinality(src.key_columns)) then
    raise exception 'after_key must be a JSON array of % values', cardinality(src.key_columns) using errcode = '22023';
  end if;
  cols := (select string_agg(format('s.%I', c), ', ' order by o) from unnest(src.key_columns) with ordinality x(c, o));
  if after_key is not null then
    for col in
      select k.name, k.ord - 1 as idx, format_type(a.atttypid, a.atttypmod) as type
        from unnest(src.key_columns) with ordinality as k(name, ord)
        join pg_attribute a on a.attrelid = src.relation and a.attname = k.name
       order by k.ord
    loop
      parts := parts || format('%L::%s', after_key ->> col.idx::integer, col.type);
    end loop;
    after_sql := format('where (%s) > (%s)', cols, array_to_string(parts, ', '));
  end if;
  created_sql := case when exists (select from pg_attribute a where a.attrelid = src.relation and a.attname = 'created_at' and not a.attisdropped)
    then '|| jsonb_build_object(''_created_us'', (extract(epoch from s.created_at) * 1000000)::bigint)' else '' end;
  return query execute format('select %s, (to_jsonb(s) - $1::text[]) %s from %s s %s order by %s limit $2',
    private.libsql_mirror_key_sql(src.key_columns, 's'), created_sql, src.relation, after_sql, cols)
    using src.exclude_columns::text[], page_size;
end
$$;
revoke all on function util.libsql_mirror_snapshot(text, jsonb, integer) from public, anon, authenticated;
