-- Realtime stand-in: the `supabase_realtime` publication that decides which tables stream changes, as on
-- hosted Supabase (`alter publication supabase_realtime add table ...` in migrations works unchanged), and
-- the change capture that replaces logical decoding, which PGlite does not have.
--
-- How changes flow locally (stack/realtime/):
--   * the Realtime server calls realtime.sync_capture_triggers() at start and whenever the event trigger
--     below reports a publication or table change; it puts capture triggers on every published table and
--     takes them off tables that left the publication;
--   * it lists the tables someone subscribes to in realtime.subscribed_relations; capture triggers on other
--     tables return at once, so writes cost nothing extra while nobody listens;
--   * a capture trigger writes the rows a statement changed to realtime.changes (in commit order, as jsonb)
--     and sends NOTIFY realtime_changes; the server reads them, checks each subscriber's RLS and deletes them.

do $$
begin
  if not exists (select from pg_publication where pubname = 'supabase_realtime') then
    create publication supabase_realtime;
  end if;
end
$$;

create schema if not exists realtime;
comment on schema realtime is 'Local embedded stack only: change capture for Realtime postgres_changes (hosted Supabase decodes the WAL instead).';
revoke all on schema realtime from public;

create table if not exists realtime.subscribed_relations (
  relid oid primary key
);
comment on table realtime.subscribed_relations is 'Tables with at least one postgres_changes subscriber; kept by the Realtime server.';

create table if not exists realtime.changes (
  id bigint generated always as identity primary key,
  schema_name text not null,
  table_name text not null,
  op text not null check (op in ('INSERT', 'UPDATE', 'DELETE')),
  record jsonb,
  old_record jsonb,
  committed_at timestamptz not null default now()
);
comment on table realtime.changes is 'Rows changed in subscribed tables, waiting for the Realtime server to deliver them.';

-- Statement-level for inserts and deletes (one insert ... select per statement, from the transition table);
-- row-level for updates, which need each old row paired with its new one.
create or replace function realtime.capture_insert() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if exists (select 1 from realtime.subscribed_relations where relid = tg_relid) then
    insert into realtime.changes (schema_name, table_name, op, record)
    select tg_table_schema, tg_table_name, 'INSERT', to_jsonb(n) from realtime_new n;
    perform pg_notify('realtime_changes', '');
  end if;
  return null;
end
$$;

create or replace function realtime.capture_update() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if exists (select 1 from realtime.subscribed_relations where relid = tg_relid) then
    insert into realtime.changes (schema_name, table_name, op, record, old_record)
    values (tg_table_schema, tg_table_name, 'UPDATE', to_jsonb(new), to_jsonb(old));
    perform pg_notify('realtime_changes', '');
  end if;
  return null;
end
$$;

create or replace function realtime.capture_delete() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if exists (select 1 from realtime.subscribed_relations where relid = tg_relid) then
    insert into realtime.changes (schema_name, table_name, op, old_record)
    select tg_table_schema, tg_table_name, 'DELETE', to_jsonb(o) from realtime_old o;
    perform pg_notify('realtime_changes', '');
  end if;
  return null;
end
$$;

-- Puts the three capture triggers on every table of supabase_realtime that lacks them, and removes them from
-- tables no longer in it. Called by the Realtime server (as postgres); returns how many tables changed.
create or replace function realtime.sync_capture_triggers() returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  rel regclass;
  changed integer := 0;
begin
  for rel in
    select c.oid::regclass
      from pg_catalog.pg_publication_tables pt
      join pg_catalog.pg_namespace n on n.nspname = pt.schemaname
      join pg_catalog.pg_class c on c.relnamespace = n.oid and c.relname = pt.tablename
     where pt.pubname = 'supabase_realtime' and c.relkind = 'r'
       and not exists (select 1 from pg_catalog.pg_trigger t where t.tgrelid = c.oid and t.tgname = 'realtime_capture_insert')
  loop
    execute format('create trigger realtime_capture_insert after insert on %s referencing new table as realtime_new for each statement execute function realtime.capture_insert()', rel);
    execute format('create trigger realtime_capture_update after update on %s for each row execute function realtime.capture_update()', rel);
    execute format('create trigger realtime_capture_delete after delete on %s referencing old table as realtime_old for each statement execute function realtime.capture_delete()', rel);
    changed := changed + 1;
  end loop;
  for rel in
    select t.tgrelid::regclass
      from pg_catalog.pg_trigger t
     where t.tgname = 'realtime_capture_insert'
       and not exists (
         select 1 from pg_catalog.pg_publication_tables pt
           join pg_catalog.pg_namespace n on n.nspname = pt.schemaname
           join pg_catalog.pg_class c on c.relnamespace = n.oid and c.relname = pt.tablename
          where pt.pubname = 'supabase_realtime' and c.oid = t.tgrelid)
  loop
    execute format('drop trigger if exists realtime_capture_insert on %s', rel);
    execute format('drop trigger if exists realtime_capture_update on %s', rel);
    execute format('drop trigger if exists realtime_capture_delete on %s', rel);
    changed := changed + 1;
  end loop;
  return changed;
end
$$;

-- Tells a running Realtime server that publications or tables changed (a migration ran, psql altered one).
create or replace function realtime.notify_publication_change() returns event_trigger
language plpgsql
as $$
begin
  if tg_tag in ('CREATE PUBLICATION', 'ALTER PUBLICATION', 'DROP PUBLICATION', 'CREATE TABLE', 'DROP TABLE', 'ALTER TABLE') then
    perform pg_notify('realtime_sync', tg_tag);
  end if;
end
$$;

do $$
begin
  if not exists (select from pg_event_trigger where evtname = 'realtime_publication_watch') then
    create event trigger realtime_publication_watch on ddl_command_end execute procedure realtime.notify_publication_change();
  end if;
end
$$;
