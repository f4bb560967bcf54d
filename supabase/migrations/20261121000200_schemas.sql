-- Internal schemas. Only `public` is exposed through the Data API:
--   private  helpers and `security definer` functions that must never be called by clients directly
--   util     plumbing: queues, cron jobs, HTTP calls to Edge Functions
-- Nothing here is granted to anon/authenticated; service_role may run util plumbing by hand. (Later
-- migrations grant `usage` on private to the roles whose RPCs call helpers there — usage alone exposes no
-- function: each one revokes EXECUTE from public itself.)

create schema if not exists private;
create schema if not exists util;

revoke all on schema private from public, anon, authenticated, service_role;
revoke all on schema util from public, anon, authenticated;
grant usage on schema util to service_role;

-- Functions are executable by PUBLIC by default, and a per-schema `alter default privileges ... revoke`
-- cannot take back that global default. So every function created in private or util revokes EXECUTE
-- from public (and anon, authenticated) explicitly, right after its definition.

comment on schema private is 'Internal helpers and security definer functions; not exposed through the API.';
comment on schema util is 'Plumbing: queues, scheduled jobs and HTTP calls to Edge Functions.';
