-- The LibSQL/Turso mirror's change queue: which tables are mirrored (util.libsql_mirror_sources), the pgmq
-- queue `libsql_mirror`, the version sequence, the statement-level triggers that fill the queue, and the
-- dead-letter table.
--
-- A change is {t: table, k: [key values], o: owner_id, v: version, op: insert|update|delete|backfill}. It
-- names a row; it does not carry the row. The `mirror` Edge Function reads the row as it is NOW when it
-- applies the change (util.read_libsql_mirror_changes) and writes that state — or a tombstone when the row is
-- gone — to LibSQL stamped with the change's version, only if LibSQL holds an older version of that row.
--
-- Why versions make replays and reordering converge: `v` comes from one sequence (util.libsql_mirror_version)
-- and is taken by the statement trigger while the writing transaction holds the row's lock (an update or
-- delete locks the row; an insert holds the unique index entry), so for one row, versions grow in commit
-- order. A change becomes visible in the queue only after its transaction commits, so the state the function
-- reads is at least as new as the change. LibSQL keeps, per row, the highest version applied (on the row, or
-- on its tombstone). Applying a change therefore writes a state at least as new as the stored one: a replay
-- (same version) or an older change arriving late is skipped, and the change with the highest version —
-- applied last or first, whatever the order — reads and writes the final state.
-- Why not carry the row: messages hold up to 1 MiB of text and embeddings up to 2,000 floats; carrying them
-- would copy every write into the queue (and its WAL) again, and ten edits of one row in a batch are one read.
--
-- Triggers (installed by util.register_libsql_mirror_source): after insert / update / delete, FOR EACH
-- STATEMENT with transition tables, ONE pgmq.send_batch per statement with a change per distinct key in the
-- old and new rows (an update that changes a key also tombstones the old key). A change that exhausts its
-- attempts (or can never apply, e.g. an embedding of a model the mirror does not know) is archived and
-- recorded in public.libsql_mirror_failures.

select pgmq.create('libsql_mirror');

-- Versions of mirrored row changes. Never reset: LibSQL compares against the versions it holds.
create sequence util.libsql_mirror_version as bigint;
revoke all on sequence util.libsql_mirror_version from public, anon, authenticated;
grant usage on sequence util.libsql_mirror_version to service_role;

create table util.libsql_mirror_sources (
  -- The name changes, LibSQL tables and tombstones use for the table (its name in schema public).
  source_table text primary key
    constraint libsql_mirror_sources_name_format check (source_table ~ '^[a-z_][a-z0-9_]{0,62}$'),
  relation regclass not null unique,
  -- The columns that identify a row (the primary key, or for embeddings its unique source/model key).
  key_columns name[] not null
    constraint libsql_mirror_sources_key_columns_size check (cardinality(key_columns) between 1 and 4),
  owner_column name not null,
  -- Columns never sent to the mirror (e.g. a tsvector: LibSQL indexes the text with FTS5 itself).
  exclude_columns name[] not null default '{}',
  created_at timestamptz not null default now()
);
comment on table util.libsql_mirror_sources is 'Tables mirrored to LibSQL, with the columns that identify a row.';
revoke all on util.libsql_mirror_sources from public, anon, authenticated;
grant select on util.libsql_mirror_sources to service_role;

-- Where the mirror stands: the last batch the function applied (a single row).
create table util.libsql_mirror_progress (
  id boolean primary key default true constraint libsql_mirror_progress_single_row check (id),
  last_applied_at timestamptz,
  last_applied_version bigint,
  applied_total bigint not null default 0,
  last_batch_size integer
);
insert into util.libsql_mirror_progress (id) values (true);
revoke all on util.libsql_mirror_progress from public, anon, authenticated;
grant select on util.libsql_mirror_progress to service_role;

-- The dead-letter table: one row per change that ran out of attempts (or could never apply).
create table public.libsql_mirror_failures (
  id bigint generated always as identity primary key,
  msg_id bigint not null,
  owner_id uuid,
  source_table text,
  row_key jsonb,
  version bigint,
  attempts integer not null,
  last_error text not null,
  -- The change as it was queued.
  change jsonb not null,
  failed_at timestamptz not null default now()
);
comment on table public.libsql_mirror_failures is
  'Mirror changes that were given up (after max_attempts, or impossible): table, key, version, attempts, last error.';
create index libsql_mirror_failures_failed_at_idx on public.libsql_mirror_failures (failed_at);
create index libsql_mirror_failures_source_idx on public.libsql_mirror_failures (source_table, failed_at desc);

alter table public.libsql_mirror_failures enable row level security;
create policy "owners can read their mirror failures" on public.libsql_mirror_failures
  for select to authenticated using (owner_id = (select auth.uid()));
revoke all on public.libsql_mirror_failures from anon;
revoke insert, update, delete, truncate, references, trigger on public.libsql_mirror_failures from authenticated;
grant select on public.libsql_mirror_failures to authenticated;
grant all on public.libsql_mirror_failures to service_role;

-- private.libsql_mirror_key_sql(key_columns name[], alias text) → text
--   The SQL expression of a row's key as the queue carries it: jsonb_build_array(<alias>.<col>, …).
create or replace function private.libsql_mirror_key_sql(key_columns name[], alias text)
returns text
language sql
immutable
security invoker
as $$
  select 'jsonb_build_array(' || string_agg(format('%I.%I', alias, c), ', ' order by o) || ')'
    from unnest(key_columns) with ordinality as x(c, o)
$$;
revoke all on function private.libsql_mirror_key_sql(name[], text) from public, anon, authenticated;

-- util.queue_libsql_mirror() → trigger
--   Statement-level AFTER INSERT / UPDATE / DELETE trigger of a mirrored table, with transition tables
--   `new_rows` (insert, update) and `old_rows` (update, delete). Sends ONE pgmq.send_batch('libsql_mirror', …)
--   per statement with a change for every distinct key among the statement's rows, each with a fresh version
--   (taken here, while the statement's row locks are held), in key order; none for a statement that touched
--   no row. Security definer: the writer (e.g. a signed-in user) has no rights on the queue or the sequence.
create or replace function util.queue_libsql_mirror()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  src util.libsql_mirror_sources;
  rows_sql text;
  changes jsonb[];
begin
  select * into src from util.libsql_mirror_sources s where s.relation = tg_relid;
  if not found then
    raise exception 'table %.% is not registered as a LibSQL mirror source', tg_table_schema, tg_table_name
      using errcode = '55000';
  end if;
  rows_sql := case tg_op
    when 'INSERT' then format('select %s as k, r.%I as o from new_rows r',
                              private.libsql_mirror_key_sql(src.key_columns, 'r'), src.owner_column)
    when 'DELETE' then format('select %s as k, r.%I as o from old_rows r',
                              private.libsql_mirror_key_sql(src.key_columns, 'r'), src.owner_column)
    else format('select %1$s as k, r.%2$I as o from new_rows r union all select %3$s, r.%2$I from old_rows r',
                private.libsql_mirror_key_sql(src.key_columns, 'r'), src.owner_column,
                private.libsql_mirror_key_sql(src.key_columns, 'r')) end;
  execute format(
    'select array_agg(jsonb_build_object(''t'', $1, ''k'', c.k, ''o'', c.o, ''op'', $2,
                                         ''v'', nextval(''util.libsql_mirror_version'')) order by c.k)
       from (select distinct on (x.k) x.k, x.o from (%s) x order by x.k) c', rows_sql)
    into changes using src.source_table, lower(tg_op);
  if changes is not null then
    perform pgmq.send_batch('libsql_mirror', changes);
  end if;
  return null;
end
$$;
revoke all on function util.queue_libsql_mirror() from public, anon, authenticated;

-- util.register_libsql_mirror_source(source regclass, key_columns name[], owner_column name default 'owner_id',
--     exclude_columns name[] default '{}') → void
--   Mirrors a table of schema public to LibSQL: validates the columns, records the entry (re-registering
--   updates it) and installs the three statement-level triggers. Rows already in the table reach LibSQL with
--   `npm run mirror:backfill` (util.enqueue_libsql_mirror_backfill). Raises 22023 naming the offending
--   argument. Callers: migrations (postgres).
create or replace function util.register_libsql_mirror_source(
  source regclass,
  key_columns name[],
  owner_column name default 'owner_id',
  exclude_columns name[] default '{}'
)
returns void
language plpgsql
volatile
security invoker
as $$
declare
  rel_schema name;
  rel_name name;
  col name;
begin
  select n.nspname, c.relname into rel_schema, rel_name
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where c.oid = source and c.relkind in ('r', 'p');
  if rel_name is null or rel_schema <> 'public' then
    raise exception 'source must be a table in schema public, got %', source using errcode = '22023';
  end if;
  if key_columns is null or cardinality(key_columns) not between 1 and 4 then
    raise exception 'key_columns must name 1 to 4 columns' using errcode = '22023';
  end if;
  foreach col in array key_columns || owner_column || coalesce(exclude_columns, '{}') loop
    if not exists (select from pg_attribute a where a.attrelid = source and a.attname = col and not a.attisdropped and a.attnum > 0) then
      raise exception 'table % has no column %', source, col using errcode = '22023';
    end if;
  end loop;
  if not exists (
    select from pg_index i
     where i.indrelid = source and i.indisunique and i.indpred is null
       and (select array_agg(a.attname order by a.attname) from pg_attribute a
             where a.attrelid = source and a.attnum = any(i.indkey))
           = (select array_agg(k order by k) from unnest(key_columns) k)) then
    raise exception 'key_columns (%) of % are not a unique key of the table', array_to_string(key_columns, ', '), source
      using errcode = '22023';
  end if;

  insert into util.libsql_mirror_sources as s (source_table, relation, key_columns, owner_column, exclude_columns)
  values (rel_name, source, key_columns, owner_column, coalesce(exclude_columns, '{}'))
  on conflict (source_table) do update
    set relation = excluded.relation, key_columns = excluded.key_columns, owner_column = excluded.owner_column,
        exclude_columns = excluded.exclude_columns;

  execute format('drop trigger if exists libsql_mirror_on_insert on %s', source);
  execute format('drop trigger if exists libsql_mirror_on_update on %s', source);
  execute format('drop trigger if exists libsql_mirror_on_delete on %s', source);
  execute format('create trigger libsql_mirror_on_insert after insert on %s referencing new table as new_rows '
                 'for each statement execute function util.queue_libsql_mirror()', source);
  execute format('create trigger libsql_mirror_on_update after update on %s '
                 'referencing old table as old_rows new table as new_rows '
                 'for each statement execute function util.queue_libsql_mirror()', source);
  execute format('create trigger libsql_mirror_on_delete after delete on %s referencing old table as old_rows '
                 'for each statement execute function util.queue_libsql_mirror()', source);
end
$$;
revoke all on function util.register_libsql_mirror_source(regclass, name[], name, name[]) from public, anon, authenticated;

select util.register_libsql_mirror_source('public.memory_threads', array['id']::name[]);
select util.register_libsql_mirror_source('public.messages', array['id']::name[], exclude_columns => array['fts']::name[]);
select util.register_libsql_mirror_source('public.agent_states', array['thread_id', 'agent_id']::name[]);
select util.register_libsql_mirror_source('public.documents', array['id']::name[]);
select util.register_libsql_mirror_source('public.document_chunks', array['id']::name[], exclude_columns => array['fts']::name[]);
select util.register_libsql_mirror_source('public.embeddings', array['source_table', 'source_id', 'model']::name[]);
