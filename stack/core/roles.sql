-- Supabase bootstrap stand-in (local embedded stack only; hosted projects already have all of this).
-- Roles the Data API switches to, the `extensions` schema, and Supabase's default privileges: objects that
-- `postgres` creates in `public` are reachable by the API roles, and row level security decides the rest.
-- Idempotent: re-applied whenever this file changes.

do $$
begin
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'supabase_admin') then
    create role supabase_admin login superuser createdb createrole replication bypassrls;
  end if;
end
$$;

grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role to postgres;

create schema if not exists extensions;
grant usage on schema extensions to anon, authenticated, service_role;
alter default privileges in schema extensions grant all on tables to anon, authenticated, service_role;
alter default privileges in schema extensions grant all on functions to anon, authenticated, service_role;
alter default privileges in schema extensions grant all on sequences to anon, authenticated, service_role;

-- `graphql_public` is listed in config.toml's api.schemas; pg_graphql itself is not part of the stand-in.
create schema if not exists graphql_public;
grant usage on schema graphql_public to anon, authenticated, service_role;

grant usage on schema public to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges for role postgres in schema public grant all on sequences to anon, authenticated, service_role;

-- Sessions find extension objects (vector types and operators) as on hosted Supabase. Takes effect for
-- new sessions (the stack applies it to its one session). API requests set
-- their own search_path per transaction from config.toml's `api.extra_search_path`, as PostgREST does.
alter database postgres set search_path = "$user", public, extensions;

-- pgcrypto lives in `extensions` on Supabase; the stand-in vault uses it.
create extension if not exists pgcrypto with schema extensions;

-- pgTAP for `supabase/tests/*.test.sql`, as `supabase test db` provides it; not part of the app's migrations.
create extension if not exists pgtap with schema extensions;
