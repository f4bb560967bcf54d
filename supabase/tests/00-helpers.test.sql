-- Test helpers used by every other file (in the style of basejump's supabase_test_helpers). Runs first and
-- commits on purpose: the `tests` schema must outlive this file. Every other file is one transaction that
-- rolls back.
--   tests.create_supabase_user(identifier, email?)   → uuid   a user in auth.users, found again by identifier
--   tests.get_supabase_uid(identifier)               → uuid
--   tests.authenticate_as(identifier)                         role authenticated, JWT claims of that user
--   tests.authenticate_as_service_role()                      role service_role
--   tests.clear_authentication()                              role anon, no user
--   tests.rls_enabled(schema)                        → bool   every table of the schema has RLS on

create schema if not exists tests;
grant usage on schema tests to anon, authenticated, service_role;

create or replace function tests.create_supabase_user(identifier text, email text default null)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  user_id uuid := gen_random_uuid();
begin
  insert into auth.users (id, aud, role, email, raw_user_meta_data, raw_app_meta_data, created_at, updated_at)
  values (user_id, 'authenticated', 'authenticated', coalesce(email, identifier || '@test.local'),
          jsonb_build_object('test_identifier', identifier), '{"provider": "email"}'::jsonb, now(), now());
  return user_id;
end
$$;

create or replace function tests.get_supabase_uid(identifier text)
returns uuid
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  user_id uuid;
begin
  select u.id into user_id from auth.users u where u.raw_user_meta_data ->> 'test_identifier' = identifier;
  if user_id is null then
    raise exception 'test user "%" does not exist; create it with tests.create_supabase_user', identifier;
  end if;
  return user_id;
end
$$;

create or replace function tests.authenticate_as(identifier text)
returns void
language plpgsql
security invoker
as $$
declare
  user_id uuid := tests.get_supabase_uid(identifier);
begin
  perform set_config('role', 'authenticated', true);
  perform set_config('request.jwt.claims',
    json_build_object('sub', user_id, 'role', 'authenticated', 'email', identifier || '@test.local',
                      'aud', 'authenticated')::text, true);
end
$$;

create or replace function tests.authenticate_as_service_role()
returns void
language plpgsql
security invoker
as $$
begin
  perform set_config('role', 'service_role', true);
  perform set_config('request.jwt.claims', json_build_object('role', 'service_role')::text, true);
end
$$;

create or replace function tests.clear_authentication()
returns void
language plpgsql
security invoker
as $$
begin
  perform set_config('role', 'anon', true);
  perform set_config('request.jwt.claims', json_build_object('role', 'anon')::text, true);
end
$$;

create or replace function tests.rls_enabled(testing_schema text)
returns text
language sql
security invoker
as $$
  select extensions.is(
    (select count(*)::int from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = testing_schema and c.relkind in ('r', 'p') and not c.relrowsecurity),
    0,
    format('every table in schema %s has row level security enabled', testing_schema))
$$;

grant execute on all functions in schema tests to anon, authenticated, service_role;

select plan(3);
select has_function('tests', 'create_supabase_user', array['text', 'text'], 'tests.create_supabase_user exists');
select has_function('tests', 'authenticate_as', array['text'], 'tests.authenticate_as exists');
select has_function('tests', 'clear_authentication', 'tests.clear_authentication exists');
select * from finish();
