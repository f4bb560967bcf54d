-- The embedding job queue: which tables are embedded (util.embedding_sources), the pgmq queue
-- `embedding_jobs`, the statement-level triggers that fill it, and the dead-letter table.
--
-- A table becomes an embedding source with util.register_embedding_source(...). That adds a stored
-- generated column `content_hash` (sha256 hex of the content) and three statement-level triggers:
--   after insert  → one pgmq.send_batch per statement: a job per (new row with content, model)
--   after update  → the same, for rows whose content changed; rows whose content became empty lose their
--                   embeddings (nothing to search for any more)
--   after delete  → the rows' embeddings are deleted
-- A job is {table, id, owner_id, content_hash, model} for every model that takes new rows: the default
-- and any model being built by util.reembed. The worker reads the table name from the registry, never
-- trusting the payload; owner_id lets each user see their own pending jobs (embedding_status).
-- A job that exhausts its attempts is archived (pgmq.archive) and recorded in embedding_failures.

select pgmq.create('embedding_jobs');

create table util.embedding_sources (
  -- The name jobs and embeddings use for the table (its name in schema public).
  source_table text primary key
    constraint embedding_sources_name_format check (source_table ~ '^[a-z_][a-z0-9_]{0,62}$'),
  relation regclass not null unique,
  content_column name not null,
  owner_column name not null,
  -- Where the worker writes the exact token count of the content (optional).
  token_count_column name,
  token_count_exact_column name,
  -- A function (ids uuid[]) → table (id uuid, tokenizer text) naming the js-tiktoken encoding each row's
  -- token count is measured with (e.g. its thread's chat model); null: the embedding model's tokenizer.
  tokenizer_function regprocedure,
  created_at timestamptz not null default now()
);
comment on table util.embedding_sources is 'Tables whose rows are embedded automatically, and which columns hold what.';
revoke all on util.embedding_sources from public, anon, authenticated;
grant select on util.embedding_sources to service_role;

-- The dead-letter table: one row per job that ran out of attempts (or could never succeed).
create table public.embedding_failures (
  id bigint generated always as identity primary key,
  msg_id bigint not null,
  owner_id uuid,
  source_table text,
  source_id uuid,
  model text,
  content_hash text,
  attempts integer not null,
  last_error text not null,
  -- The job as it was queued.
  job jsonb not null,
  failed_at timestamptz not null default now()
);
comment on table public.embedding_failures is
  'Embedding jobs that were given up (after max_attempts, or impossible): source, model, attempts, last error.';
create index embedding_failures_source_idx on public.embedding_failures (source_table, source_id, model, failed_at desc);
create index embedding_failures_failed_at_idx on public.embedding_failures (failed_at);

alter table public.embedding_failures enable row level security;
create policy "owners can read their embedding failures" on public.embedding_failures
  for select to authenticated using (owner_id = (select auth.uid()));
revoke all on public.embedding_failures from anon;
revoke insert, update, delete, truncate, references, trigger on public.embedding_failures from authenticated;
grant select on public.embedding_failures to authenticated;
grant all on public.embedding_failures to service_role;

-- private.sha256_hex(content text) → text
--   sha256 of the UTF-8 bytes of `content`, as 64 hex digits; null for null. Immutable (the database
--   encoding is fixed), so it can define stored generated columns.
create or replace function private.sha256_hex(content text)
returns text
language sql
immutable
strict
parallel safe
security invoker
as $$
  select encode(sha256(convert_to(content, 'UTF8')), 'hex')
$$;
revoke all on function private.sha256_hex(text) from public, anon;
grant execute on function private.sha256_hex(text) to authenticated, service_role;

-- private.is_blank(content text) → boolean
--   True for null, '' and white space only: content with nothing to embed.
create or replace function private.is_blank(content text)
returns boolean
language sql
immutable
parallel safe
security invoker
as $$
  select content is null or content !~ '\S'
$$;
revoke all on function private.is_blank(text) from public, anon;
grant execute on function private.is_blank(text) to authenticated, service_role;

-- private.embedding_target_models() → setof text
--   The models new or changed rows are embedded with: the default model and any model being built.
create or replace function private.embedding_target_models()
returns setof text
language sql
stable
security invoker
as $$
  select m.name from public.embedding_models m where m.is_default or m.state = 'building' order by m.name
$$;
revoke all on function private.embedding_target_models() from public, anon, authenticated;

-- util.queue_embeddings() → trigger
--   Statement-level AFTER INSERT / AFTER UPDATE trigger of an embedding source (see
--   util.register_embedding_source), with transition tables `new_rows` (and `old_rows` for update). Sends
--   ONE pgmq.send_batch('embedding_jobs', …) per statement carrying a job for every (row, target model),
--   inserted rows in the order the statement wrote them (earlier messages are embedded first),
--   whose content is not blank — on update only rows whose content_hash changed — and none when there is
--   nothing to embed. On update, rows whose content became blank lose their embeddings.
--   Security definer: the writer (e.g. a signed-in user) has no rights on the queue.
create or replace function util.queue_embeddings()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  src util.embedding_sources;
  jobs jsonb[];
begin
  select * into src from util.embedding_sources s where s.relation = tg_relid;
  if not found then
    raise exception 'table %.% is not registered as an embedding source', tg_table_schema, tg_table_name
      using errcode = '55000';
  end if;
  if tg_op = 'INSERT' then
    execute format(
      'select array_agg(jsonb_build_object(''table'', $1, ''id'', n.id, ''owner_id'', n.%I, ''content_hash'', n.content_hash,
                                           ''model'', m.model))
         from new_rows n cross join private.embedding_target_models() as m(model)
        where not private.is_blank(n.%I)',
      src.owner_column, src.content_column)
      into jobs using src.source_table;
  else
    execute format(
      'select array_agg(jsonb_build_object(''table'', $1, ''id'', n.id, ''owner_id'', n.%I, ''content_hash'', n.content_hash,
                                           ''model'', m.model))
         from new_rows n join old_rows o on o.id = n.id
              cross join private.embedding_target_models() as m(model)
        where n.content_hash is distinct from o.content_hash and not private.is_blank(n.%I)',
      src.owner_column, src.content_column)
      into jobs using src.source_table;
    execute format(
      'delete from public.embeddings e
        using new_rows n join old_rows o on o.id = n.id
        where e.source_table = $1 and e.source_id = n.id
          and private.is_blank(n.%I) and not private.is_blank(o.%I)',
      src.content_column, src.content_column)
      using src.source_table;
  end if;
  if jobs is not null then
    perform pgmq.send_batch('embedding_jobs', jobs);
  end if;
  return null;
end
$$;
revoke all on function util.queue_embeddings() from public, anon, authenticated;

-- util.forget_embeddings() → trigger
--   Statement-level AFTER DELETE trigger of an embedding source (transition table `old_rows`): deletes the
--   embeddings of the deleted rows. Jobs still queued for them are dropped by the worker.
create or replace function util.forget_embeddings()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  src text := (select s.source_table from util.embedding_sources s where s.relation = tg_relid);
begin
  delete from public.embeddings e using old_rows o where e.source_table = src and e.source_id = o.id;
  return null;
end
$$;
revoke all on function util.forget_embeddings() from public, anon, authenticated;

-- util.register_embedding_source(source, content_column, owner_column default 'owner_id',
--     token_count_column default null, token_count_exact_column default null,
--     tokenizer_function default null) → void
--   Makes a table of schema public an embedding source: validates the columns (id uuid, content text,
--   owner uuid, token count integer, exactness boolean; the tokenizer function must take uuid[]), adds the
--   stored generated column content_hash, installs the three triggers, enqueues the rows that already
--   have content for the default model, and rebuilds public.embedding_status. Re-registering updates the
--   entry. Raises 22023 naming the offending argument. Callers: migrations (postgres).
create or replace function util.register_embedding_source(
  source regclass,
  content_column name,
  owner_column name default 'owner_id',
  token_count_column name default null,
  token_count_exact_column name default null,
  tokenizer_function regprocedure default null
)
returns void
language plpgsql
volatile
security invoker
as $$
declare
  rel_schema name;
  rel_name name;
  col_type text;
  col name;
  default_model text;
begin
  select n.nspname, c.relname into rel_schema, rel_name
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where c.oid = source and c.relkind in ('r', 'p');
  if rel_name is null or rel_schema <> 'public' then
    raise exception 'source must be a table in schema public, got %', source using errcode = '22023';
  end if;
  for col_type, col in
    select x.expected, x.col from (values ('uuid', 'id'::name), ('text', content_column), ('uuid', owner_column),
      ('integer', token_count_column), ('boolean', token_count_exact_column)) as x(expected, col)
     where x.col is not null
  loop
    if not exists (select from pg_attribute a where a.attrelid = source and a.attname = col
                     and not a.attisdropped and a.attnum > 0 and format_type(a.atttypid, null) = col_type) then
      raise exception 'table % needs a column % of type %', source, col, col_type using errcode = '22023';
    end if;
  end loop;
  if (token_count_column is null) <> (token_count_exact_column is null) then
    raise exception 'token_count_column and token_count_exact_column go together' using errcode = '22023';
  end if;
  if tokenizer_function is not null and not exists (
       select from pg_proc p where p.oid = tokenizer_function and p.pronargs = 1 and p.proargtypes[0] = 'uuid[]'::regtype) then
    raise exception 'tokenizer_function must take (uuid[]) and return table (id uuid, tokenizer text), got %',
      tokenizer_function using errcode = '22023';
  end if;

  execute format(
    'alter table %s add column if not exists content_hash text generated always as (private.sha256_hex(%I)) stored',
    source, content_column);

  insert into util.embedding_sources as s
    (source_table, relation, content_column, owner_column, token_count_column, token_count_exact_column, tokenizer_function)
  values (rel_name, source, content_column, owner_column, token_count_column, token_count_exact_column, tokenizer_function)
  on conflict (source_table) do update
    set relation = excluded.relation, content_column = excluded.content_column, owner_column = excluded.owner_column,
        token_count_column = excluded.token_count_column, token_count_exact_column = excluded.token_count_exact_column,
        tokenizer_function = excluded.tokenizer_function;

  execute format('drop trigger if exists embeddings_queue_on_insert on %s', source);
  execute format('drop trigger if exists embeddings_queue_on_update on %s', source);
  execute format('drop trigger if exists embeddings_forget_on_delete on %s', source);
  execute format('create trigger embeddings_queue_on_insert after insert on %s referencing new table as new_rows '
                 'for each statement execute function util.queue_embeddings()', source);
  execute format('create trigger embeddings_queue_on_update after update on %s '
                 'referencing old table as old_rows new table as new_rows '
                 'for each statement execute function util.queue_embeddings()', source);
  execute format('create trigger embeddings_forget_on_delete after delete on %s referencing old table as old_rows '
                 'for each statement execute function util.forget_embeddings()', source);

  perform util.refresh_embedding_status_view();
  select m.name into default_model from public.embedding_models m where m.is_default;
  if default_model is not null then
    perform util.enqueue_embeddings(default_model, rel_name);
  end if;
end
$$;
revoke all on function util.register_embedding_source(regclass, name, name, name, name, regprocedure) from public, anon, authenticated;

-- util.enqueue_embeddings(model text, source_table text default null) → integer
--   Enqueues a job for every row of `source_table` (all sources when null) with content and without an
--   up-to-date embedding in `model` or a job already queued for it; one pgmq.send_batch per 5,000 jobs.
--   Returns the number of jobs sent. Unknown model or source → 22023 listing the registered ones.
--   Used by util.reembed and util.register_embedding_source. Caller: service_role / postgres.
create or replace function util.enqueue_embeddings(model text, source_table text default null)
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  m public.embedding_models := private.require_embedding_model(model);
  src util.embedding_sources;
  sent integer := 0;
  chunk jsonb[];
begin
  if source_table is not null and not exists (select from util.embedding_sources s where s.source_table = enqueue_embeddings.source_table) then
    raise exception 'unknown embedding source "%"; registered sources: %', source_table,
      coalesce((select string_agg(s.source_table, ', ' order by s.source_table) from util.embedding_sources s), '(none)')
      using errcode = '22023';
  end if;
  for src in select * from util.embedding_sources s
              where enqueue_embeddings.source_table is null or s.source_table = enqueue_embeddings.source_table
              order by s.source_table
  loop
    for chunk in execute format(
      'with queued as materialized (
         select (j.message ->> ''id'') as id, j.message ->> ''content_hash'' as content_hash
           from pgmq.q_embedding_jobs j
          where j.message ->> ''table'' = $1 and j.message ->> ''model'' = $2),
       todo as (
         select jsonb_build_object(''table'', $1, ''id'', s.id, ''owner_id'', s.%I, ''content_hash'', s.content_hash,
                                   ''model'', $2) as job,
                (row_number() over (order by s.id) - 1) / 5000 as part
           from %s s
          where not private.is_blank(s.%I)
            and not exists (select from public.embeddings e where e.source_table = $1 and e.source_id = s.id
                              and e.model = $2 and e.content_hash = s.content_hash)
            and not exists (select from queued q where q.id = s.id::text and q.content_hash = s.content_hash))
       select array_agg(job) from todo group by part order by part',
      src.owner_column, src.relation, src.content_column)
      using src.source_table, m.name
    loop
      perform pgmq.send_batch('embedding_jobs', chunk);
      sent := sent + cardinality(chunk);
    end loop;
  end loop;
  return sent;
end
$$;
revoke all on function util.enqueue_embeddings(text, text) from public, anon, authenticated;
grant execute on function util.enqueue_embeddings(text, text) to service_role;
