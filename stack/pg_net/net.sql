-- pg_net stand-in: the SQL of pg_net 0.19 (Supabase's async HTTP extension) as hosted Supabase has it —
-- the same schema, domain, tables (columns, types, defaults, unlogged), functions and defaults, and the
-- same privileges (pg_net grants its schema and tables to PUBLIC; from 0.12 on Supabase leaves the
-- functions as they are: security invoker, executable by everyone). Source: supabase/pg_net sql/pg_net.sql
-- at the 0.19.7 release (commit 217e564bc9886667234fc22c301d8ce4b486629f).
--
-- As in pg_net: net.http_get / http_post / http_delete accept any URL string and return a request id at
-- once; the request waits in net.http_request_queue and is sent only after the calling transaction
-- commits; its outcome lands in net._http_response — status_code, headers and content, or error_msg (curl's
-- message, e.g. "Unsupported protocol" for ftp://…) and timed_out. What is not C here: the worker that
-- sends requests lives in the stack process (stack/pg_net/worker.ts) and net.wake() sends it a NOTIFY;
-- net.check_worker_is_up() asks whether it is listening; waiting for a response inside a transaction
-- (net.http_collect_response(id, async => false)) is refused, because the embedded database has one
-- session and the worker could never record the response the wait is for. net.worker_restart() and
-- net.wait_until_running() (C functions that manage the background worker) have no stand-in.

create schema if not exists net;

-- Earlier versions of this stand-in had a text column with a check, a trigger and definer functions.
do $$
begin
  if exists (select from pg_attribute where attrelid = to_regclass('net.http_request_queue') and attname = 'method'
               and atttypid = 'text'::regtype) then
    drop table net.http_request_queue;
  end if;
  drop function if exists net._notify_request() cascade;
  drop function if exists net._enqueue(text, text, jsonb, jsonb, bytea, integer);
  drop function if exists net._encode_url_with_params(text, jsonb);
  drop function if exists net._urlencode_string(text);
  drop index if exists net._http_response_id_idx;
end
$$;

do $$
begin
  if not exists (select from pg_type t join pg_namespace n on n.oid = t.typnamespace where n.nspname = 'net' and t.typname = 'http_method') then
    create domain net.http_method as text
    check (
      value ilike 'get'
      or value ilike 'post'
      or value ilike 'delete'
    );
  end if;
  if not exists (select from pg_type t join pg_namespace n on n.oid = t.typnamespace where n.nspname = 'net' and t.typname = 'request_status') then
    create type net.request_status as enum ('PENDING', 'SUCCESS', 'ERROR');
  end if;
  if not exists (select from pg_type t join pg_namespace n on n.oid = t.typnamespace where n.nspname = 'net' and t.typname = 'http_response') then
    create type net.http_response as (status_code integer, headers jsonb, body text);
  end if;
  if not exists (select from pg_type t join pg_namespace n on n.oid = t.typnamespace where n.nspname = 'net' and t.typname = 'http_response_result') then
    create type net.http_response_result as (status net.request_status, message text, response net.http_response);
  end if;
end
$$;

-- Pending requests; the worker takes them from here. (pg_net: "API: Private".)
create unlogged table if not exists net.http_request_queue (
  id bigserial,
  method net.http_method not null,
  url text not null,
  headers jsonb,
  body bytea,
  timeout_milliseconds int not null
);

-- The outcome of each request, by request id. (pg_net: "API: Private".)
create unlogged table if not exists net._http_response (
  id bigint,
  status_code integer,
  content_type text,
  headers jsonb,
  content text,
  timed_out bool,
  error_msg text,
  created timestamptz not null default now()
);
create index if not exists _http_response_created_idx on net._http_response (created);

-- pg_net's C function wakes its background worker; this one notifies the stack's worker (delivered when
-- the transaction commits, which is also when the request becomes visible to it).
create or replace function net.wake() returns void
language sql volatile
as $$ select pg_notify('net_request', '') $$;

-- pg_net looks for its background worker in pg_stat_activity; the stand-in's worker listens on
-- net_request in the one session the embedded database has.
create or replace function net.check_worker_is_up() returns void as $$
begin
  if not exists (select from pg_listening_channels() c where c = 'net_request') then
    raise exception using
      message = 'the pg_net background worker is not up'
    , detail  = 'the pg_net background worker is down due to an internal error and cannot process requests'
    , hint    = 'make sure that you didn''t modify any of pg_net internal tables';
  end if;
end
$$ language plpgsql;
comment on function net.check_worker_is_up() is 'raises an exception if the pg_net background worker is not up, otherwise it doesn''t return anything';

-- url encode a string (curl_easy_escape: everything but RFC 3986 unreserved characters)
create or replace function net._urlencode_string(string varchar) returns text
language sql immutable
as $$
  select coalesce(string_agg(
    case when b between 48 and 57 or b between 65 and 90 or b between 97 and 122 or b in (45, 46, 95, 126)
         then chr(b) else '%' || upper(lpad(to_hex(b), 2, '0')) end, '' order by i), '')
  from (select get_byte(convert_to(string, 'UTF8'), i) as b, i
          from generate_series(0, octet_length(convert_to(string, 'UTF8')) - 1) as i) bytes
$$;

-- appends already encoded key=value pairs to the URL's query
create or replace function net._encode_url_with_params_array(url text, params_array text[]) returns text
language sql immutable
as $$
  select case
    when params_array is null or cardinality(params_array) = 0 then url
    else url || case when position('?' in url) > 0 then '&' else '?' end || array_to_string(params_array, '&')
  end
$$;

create or replace function net.http_get(
    -- url for the request
    url text,
    -- key/value pairs to be url encoded and appended to the `url`
    params jsonb default '{}'::jsonb,
    -- key/values to be included in request headers
    headers jsonb default '{}'::jsonb,
    -- the maximum number of milliseconds the request may take before being cancelled
    timeout_milliseconds int default 5000
)
    -- request_id reference
    returns bigint
    language plpgsql
as $$
declare
    request_id bigint;
    params_array text[];
begin
    select coalesce(array_agg(net._urlencode_string(key) || '=' || net._urlencode_string(value)), '{}')
    into params_array
    from jsonb_each_text(params);

    insert into net.http_request_queue(method, url, headers, timeout_milliseconds)
    values ('GET', net._encode_url_with_params_array(url, params_array), headers, timeout_milliseconds)
    returning id
    into request_id;

    perform net.wake();

    return request_id;
end
$$;

create or replace function net.http_post(
    -- url for the request
    url text,
    -- body of the POST request
    body jsonb default '{}'::jsonb,
    -- key/value pairs to be url encoded and appended to the `url`
    params jsonb default '{}'::jsonb,
    -- key/values to be included in request headers
    headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
    -- the maximum number of milliseconds the request may take before being cancelled
    timeout_milliseconds int default 5000
)
    -- request_id reference
    returns bigint
    language plpgsql
as $$
declare
    request_id bigint;
    params_array text[];
    content_type text;
begin
    select header_value into content_type
      from jsonb_each_text(coalesce(headers, '{}'::jsonb)) r(header_name, header_value)
     where lower(header_name) = 'content-type'
     limit 1;

    -- As pg_net: a missing Content-Type is added, any other than application/json refused.
    if content_type is null then
        select headers || '{"Content-Type": "application/json"}'::jsonb into headers;
    end if;

    if content_type <> 'application/json' then
        raise exception 'Content-Type header must be "application/json"';
    end if;

    select coalesce(array_agg(net._urlencode_string(key) || '=' || net._urlencode_string(value)), '{}')
    into params_array
    from jsonb_each_text(params);

    insert into net.http_request_queue(method, url, headers, body, timeout_milliseconds)
    values ('POST', net._encode_url_with_params_array(url, params_array), headers, convert_to(body::text, 'UTF8'),
            timeout_milliseconds)
    returning id
    into request_id;

    perform net.wake();

    return request_id;
end
$$;

create or replace function net.http_delete(
    -- url for the request
    url text,
    -- key/value pairs to be url encoded and appended to the `url`
    params jsonb default '{}'::jsonb,
    -- key/values to be included in request headers
    headers jsonb default '{}'::jsonb,
    -- the maximum number of milliseconds the request may take before being cancelled
    timeout_milliseconds int default 5000,
    -- optional body of the request
    body jsonb default null
)
    -- request_id reference
    returns bigint
    language plpgsql
as $$
declare
    request_id bigint;
    params_array text[];
begin
    select coalesce(array_agg(net._urlencode_string(key) || '=' || net._urlencode_string(value)), '{}')
    into params_array
    from jsonb_each_text(params);

    insert into net.http_request_queue(method, url, headers, body, timeout_milliseconds)
    values ('DELETE', net._encode_url_with_params_array(url, params_array), headers, convert_to(body::text, 'UTF8'),
            timeout_milliseconds)
    returning id
    into request_id;

    perform net.wake();

    return request_id;
end
$$;

-- Collects the response of a request (pg_net: private; net.http_collect_response is its deprecated public
-- name). async => false would wait inside the caller's transaction, which in a one-session database can
-- never end: refused with 0A000.
create or replace function net._http_collect_response(
    request_id bigint,
    async bool default true
)
    returns net.http_response_result
    language plpgsql
as $$
declare
    rec net._http_response;
begin
    if not async then
        raise exception 'waiting for a pg_net response (async => false) is not possible on the local stack'
          using errcode = '0A000',
                detail = 'The embedded database has one session: the worker cannot record a response while this transaction waits for it.',
                hint = 'Commit, then read net._http_response (or call this with async => true) in a later transaction.';
    end if;

    select * into rec from net._http_response where id = request_id;

    if rec is null or rec.error_msg is not null then
        return ('ERROR', coalesce(rec.error_msg, 'request matching request_id not found'), null)::net.http_response_result;
    end if;

    return ('SUCCESS', 'ok', (rec.status_code, rec.headers, rec.content)::net.http_response)::net.http_response_result;
end;
$$;

create or replace function net.http_collect_response(
    request_id bigint,
    async bool default true
)
    returns net.http_response_result
    language plpgsql
as $$
begin
  raise notice 'The net.http_collect_response function is deprecated.';
  return net._http_collect_response(request_id, async);
end;
$$;

grant usage on schema net to public;
grant all on all sequences in schema net to public;
grant all on all tables in schema net to public;
