-- Calling Edge Functions from SQL (cron jobs, triggers) through pg_net.
--
-- The project URL and a service key come from Vault, never from the current request: a cron job has no
-- request, so `current_setting('request.headers')` is NULL there and a call built from it would go out
-- unauthenticated. Set the two secrets once per project:
--   select vault.create_secret('https://<project-ref>.supabase.co', 'project_url');
--   select vault.create_secret('<service_role key>', 'service_role_key');
-- (The local stack stores its own URL and key at every start.)

-- util.project_url() → text
--   The project's API URL without a trailing slash, from the Vault secret `project_url`.
--   Raises P0002 with a hint when the secret is missing. Caller: util functions (security definer).
create or replace function util.project_url()
returns text
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  url text;
begin
  select s.decrypted_secret into url from vault.decrypted_secrets s where s.name = 'project_url';
  if url is null or url = '' then
    raise exception 'Vault secret "project_url" is not set'
      using errcode = 'P0002',
            hint = 'select vault.create_secret(''https://<project-ref>.supabase.co'', ''project_url'');';
  end if;
  return rtrim(url, '/');
end
$$;

-- util.invoke_edge_function(name, body, timeout_milliseconds default 5 minutes) → bigint
--   POSTs `body` as JSON to /functions/v1/<name> with "Authorization: Bearer <service_role_key from Vault>"
--   and returns pg_net's request id; the response lands in net._http_response. The request is sent only
--   if the calling transaction commits. Raises 22023 for an invalid function name or timeout, P0002 when
--   a Vault secret is missing. Callers: cron jobs and util functions (not exposed to clients).
create or replace function util.invoke_edge_function(
  name text,
  body jsonb,
  timeout_milliseconds integer default 5 * 60 * 1000
)
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  service_key text;
begin
  if name is null or name !~ '^[A-Za-z0-9][A-Za-z0-9_-]*$' then
    raise exception 'invalid Edge Function name: %', coalesce(quote_literal(name), 'null')
      using errcode = '22023', hint = 'Function names contain letters, digits, "-" and "_".';
  end if;
  if timeout_milliseconds is null or timeout_milliseconds <= 0 then
    raise exception 'timeout_milliseconds must be positive, got %', timeout_milliseconds using errcode = '22023';
  end if;
  select s.decrypted_secret into service_key from vault.decrypted_secrets s where s.name = 'service_role_key';
  if service_key is null or service_key = '' then
    raise exception 'Vault secret "service_role_key" is not set'
      using errcode = 'P0002',
            hint = 'select vault.create_secret(''<service_role key>'', ''service_role_key'');';
  end if;
  return net.http_post(
    url => util.project_url() || '/functions/v1/' || name,
    body => coalesce(body, '{}'::jsonb),
    headers => jsonb_build_object('Content-Type', 'application/json', 'Authorization', 'Bearer ' || service_key),
    timeout_milliseconds => timeout_milliseconds
  );
end
$$;

revoke all on function util.project_url(), util.invoke_edge_function(text, jsonb, integer) from public, anon, authenticated;
grant execute on function util.project_url(), util.invoke_edge_function(text, jsonb, integer) to service_role;
