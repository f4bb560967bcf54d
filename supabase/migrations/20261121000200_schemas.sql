-- Internal schemas. Only `public` is exposed through the Data API:
--   private  helpers and `security definer` functions that must never be called by clients directly
--   util     plumbing: queues, cron jobs, HTTP calls to Edge Functions
-- Nothing in them is granted to anon/authenticated; service_role may run util plumbing by hand.

create schema if not exists private;
create schema if not exists util;

revoke all on schema private from public, anon, authenticated, service_role;
revoke all on schema util from public, anon, authenticated;
grant usage on schema util to service_role;

-- Functions are executable by PUBLIC by default; in these schemas they must be granted explicitly.
alter default privileges in schema private revoke execute on functions from public;
alter default privileges in schema util revoke execute on functions from public;

comment on schema private is 'Internal helpers and security definer functions; not exposed through the API.';
comment on schema util is 'Plumbing: queues, scheduled jobs and HTTP calls to Edge Functions.';
