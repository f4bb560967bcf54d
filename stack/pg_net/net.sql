-- pg_net stand-in: the SQL API of pg_net (Supabase's async HTTP extension) — `net.http_get`,
-- `net.http_post`, `net.http_delete` return a request id at once; requests are queued in
-- `net.http_request_queue`, sent only after the calling transaction commits, and their outcome lands in
-- `net._http_response` (status_code, content, headers, timed_out, error_msg). The worker that sends them
-- lives in the stack process (stack/pg_net/worker.ts) and wakes on NOTIFY net_request.

create schema if not exists net;

create table if not exists net.http_request_queue (
  id bigserial primary key,
  method text not null check (method in ('GET', 'POST', 'DELETE')),
  url text not null,
  headers jsonb not null,
  body bytea,
  timeout_milliseconds integer not null
);

create table if not exists net._http_response (
  id bigint,
  status_code integer,
  content_type text,
  headers jsonb,
  content text,
  timed_out boolean,
  error_msg text,
  created timestamptz not null default now()
);
create index if not exists _http_response_created_idx on net._http_response (created);
create index if not exists _http_response_id_idx on net._http_response (id);

create or replace function net._notify_request() returns trigger
language plpgsql security invoker
as $$
begin
  perform pg_notify('net_request', '');
  return null;
end
$$;
drop trigger if exists wake_worker on net.http_request_queue;
create trigger wake_worker after insert on net.http_request_queue
for each statement execute function net._notify_request();

-- Percent-encodes a string for a query component (RFC 3986 unreserved characters stay as they are).
create or replace function net._urlencode_string(string text) returns text
language sql immutable strict security invoker
as $$
  select coalesce(string_agg(
    case when b between 48 and 57 or b between 65 and 90 or b between 97 and 122 or b in (45, 46, 95, 126)
         then chr(b) else '%' || upper(lpad(to_hex(b), 2, '0')) end, '' order by i), '')
  from (select get_byte(convert_to(string, 'UTF8'), i) as b, i
          from generate_series(0, octet_length(convert_to(string, 'UTF8')) - 1) as i) bytes
$$;

create or replace function net._encode_url_with_params(url text, params jsonb) returns text
language sql immutable security invoker
as $$
  select case
    when params is null or params = '{}'::jsonb then url
    else url || case when position('?' in url) > 0 then '&' else '?' end ||
      (select string_agg(net._urlencode_string(key) || '=' || net._urlencode_string(value), '&' order by key)
         from jsonb_each_text(params))
  end
$$;

create or replace function net._enqueue(method text, url text, params jsonb, headers jsonb, body bytea, timeout_milliseconds integer)
returns bigint
language plpgsql volatile security definer set search_path = ''
as $$
declare
  request_id bigint;
begin
  if url is null or url !~* '^https?://' then
    raise exception 'url must be an http:// or https:// URL, got %', coalesce(quote_literal(url), 'null')
      using errcode = '22023';
  end if;
  if timeout_milliseconds is null or timeout_milliseconds <= 0 then
    raise exception 'timeout_milliseconds must be a positive number of milliseconds'
      using errcode = '22023';
  end if;
  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values (method, net._encode_url_with_params(url, params), coalesce(headers, '{}'::jsonb), body, timeout_milliseconds)
  returning id into request_id;
  return request_id;
end
$$;

create or replace function net.http_get(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds integer default 5000
) returns bigint
language sql volatile security definer set search_path = ''
as $$ select net._enqueue('GET', url, params, headers, null, timeout_milliseconds) $$;

create or replace function net.http_post(
  url text,
  body jsonb default '{}'::jsonb,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
  timeout_milliseconds integer default 5000
) returns bigint
language plpgsql volatile security definer set search_path = ''
as $$
declare
  content_type text;
begin
  select value into content_type
    from jsonb_each_text(coalesce(headers, '{}'::jsonb))
   where lower(key) = 'content-type'
   limit 1;
  -- As pg_net: a Content-Type is added when missing, and the JSON body is sent as is.
  if content_type is null then
    headers := coalesce(headers, '{}'::jsonb) || '{"Content-Type": "application/json"}'::jsonb;
  end if;
  if body is null then
    raise exception 'body must not be null' using errcode = '22004';
  end if;
  return net._enqueue('POST', url, params, headers, convert_to(body::text, 'UTF8'), timeout_milliseconds);
end
$$;

create or replace function net.http_delete(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds integer default 5000,
  body jsonb default null
) returns bigint
language sql volatile security definer set search_path = ''
as $$
  select net._enqueue('DELETE', url, params, headers,
    case when body is null then null else convert_to(body::text, 'UTF8') end, timeout_milliseconds)
$$;

revoke all on all functions in schema net from public;
grant usage on schema net to postgres, anon, authenticated, service_role;
grant execute on function net.http_get(text, jsonb, jsonb, integer),
  net.http_post(text, jsonb, jsonb, jsonb, integer),
  net.http_delete(text, jsonb, jsonb, integer, jsonb)
  to postgres, anon, authenticated, service_role;
grant select on net._http_response to postgres, service_role;
grant all on net.http_request_queue, net._http_response to postgres;
