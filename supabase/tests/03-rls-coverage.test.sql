-- Meta-test: row level security covers every table in `public`, whoever adds it. Fails as soon as a
-- migration creates a public table without RLS or without policies, grants signed-in users a command
-- (select / insert / update / delete) on a user-owned table (one with an owner_id column) without a policy
-- for it, writes a policy for anon or PUBLIC, or leaves anon a privilege on a public table. (Tables only
-- the pipeline writes, such as embeddings, grant users select alone and need no write policies.)
begin;
\ir helpers/test_helpers.psql
select plan(7);

select tests.rls_enabled('public');

select is(
  (select array_agg(c.relname::text order by c.relname)
     from pg_class c
    where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and not c.relrowsecurity),
  null, 'no table in public has row level security disabled');

select is(
  (select array_agg(c.relname::text order by c.relname)
     from pg_class c
    where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
      and not exists (select from pg_policy p where p.polrelid = c.oid)),
  null, 'every table in public has at least one policy');

select is(
  (select array_agg(c.relname || ':' || cmd order by c.relname, cmd)
     from pg_class c
     cross join unnest(array['r', 'a', 'w', 'd']) as cmd
    where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
      and exists (select from pg_attribute a where a.attrelid = c.oid and a.attname = 'owner_id' and not a.attisdropped)
      and has_table_privilege('authenticated', c.oid,
            case cmd when 'r' then 'select' when 'a' then 'insert' when 'w' then 'update' else 'delete' end)
      and not exists (select from pg_policy p where p.polrelid = c.oid and p.polcmd in (cmd::"char", '*'))),
  null, 'every command signed-in users hold on a user-owned table (select r, insert a, update w, delete d) has a policy');

select is(
  (select array_agg(c.relname || '.' || p.polname order by 1)
     from pg_policy p
     join pg_class c on c.oid = p.polrelid
    where c.relnamespace = 'public'::regnamespace
      and c.relkind in ('r', 'p')
      and exists (select from pg_attribute a where a.attrelid = c.oid and a.attname = 'owner_id' and not a.attisdropped)
      and (pg_get_expr(p.polqual, p.polrelid) is distinct from null
             and pg_get_expr(p.polqual, p.polrelid) not like '%owner_id = ( SELECT auth.uid()%'
           or pg_get_expr(p.polwithcheck, p.polrelid) is distinct from null
             and pg_get_expr(p.polwithcheck, p.polrelid) not like '%owner_id = ( SELECT auth.uid()%')),
  null, 'every policy of a user-owned table checks owner_id = (select auth.uid())');

select is(
  (select array_agg(c.relname || '.' || p.polname order by 1)
     from pg_policy p
     join pg_class c on c.oid = p.polrelid
    where c.relnamespace = 'public'::regnamespace
      and (0 = any (p.polroles) or 'anon'::regrole = any (p.polroles))),
  null, 'no policy on a public table applies to anon or PUBLIC');

select is(
  (select array_agg(c.relname || ':' || priv order by 1)
     from pg_class c
     cross join unnest(array['select', 'insert', 'update', 'delete', 'truncate']) as priv
    where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm')
      and has_table_privilege('anon', c.oid, priv)),
  null, 'anon holds no privilege on any table in public');

select * from finish();
rollback;
