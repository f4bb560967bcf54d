-- The message API: save_message, save_messages (all-or-nothing batch) and load_messages (keyset pages in
-- either direction). Security invoker: row level security decides which threads a caller can write to
-- and read from; a thread the caller cannot see raises PT404 "thread <id> not found".
--
-- Messages leave the API as `memory_message`: the table's columns without the full-text vector (it can
-- be as large as the content) plus `cursor`, the message's keyset position, which load_messages accepts
-- to continue before or after that message.

create type public.memory_message as (
  id uuid,
  thread_id uuid,
  owner_id uuid,
  role public.message_role,
  content text,
  tool_call_id text,
  tool_name text,
  token_count integer,
  token_count_exact boolean,
  metadata jsonb,
  created_at timestamptz,
  cursor text
);
comment on type public.memory_message is
  'A message as the API returns it: the messages columns except fts, plus its keyset cursor.';

-- One page of load_messages, always in chronological order.
create type public.message_page as (
  messages public.memory_message[],
  next_cursor text,
  has_more boolean
);
comment on type public.message_page is
  'A page of messages in chronological order; pass next_cursor back (same direction) while has_more is true.';

-- private.to_memory_message(m messages) → memory_message
--   The API shape of a message row. Callable by authenticated and service_role.
create or replace function private.to_memory_message(m public.messages)
returns public.memory_message
language sql
immutable
parallel safe
security invoker
as $$
  select row(m.id, m.thread_id, m.owner_id, m.role, m.content, m.tool_call_id, m.tool_name, m.token_count,
             m.token_count_exact, m.metadata, m.created_at, private.encode_cursor('m', m.created_at, m.id))::public.memory_message
$$;
revoke all on function private.to_memory_message(public.messages) from public, anon;
grant execute on function private.to_memory_message(public.messages) to authenticated, service_role;

-- private.require_thread(thread_id uuid) → void
--   Raises PT404 "thread <id> not found" unless the caller can see the thread (run as the caller, so row
--   level security decides). Callable by authenticated and service_role.
create or replace function private.require_thread(thread_id uuid)
returns void
language plpgsql
stable
security invoker
as $$
begin
  perform from public.memory_threads t where t.id = require_thread.thread_id;
  if not found then
    raise exception 'thread % not found', require_thread.thread_id using errcode = 'PT404';
  end if;
end
$$;
revoke all on function private.require_thread(uuid) from public, anon;
grant execute on function private.require_thread(uuid) to authenticated, service_role;

-- save_message(thread_id, role, content, tool_call_id, tool_name, metadata, token_count) → memory_message
--   Appends one message to a thread and returns it (created_at and cursor assigned by the database).
--   role: system | user | assistant | tool; content: text up to setting messages.max_content_bytes
--   (default 1 MiB); tool_call_id: required for role tool; metadata: a JSON object (default {});
--   token_count: an exact count from a real tokenizer (token_count_exact = true), or null to let the
--   database estimate it.
--   Errors: PT404 thread not found; 22023 unknown role / missing tool_call_id / metadata not an object /
--   negative token_count; 22004 null content; 22001 content too large. Nothing is written on error.
--   Callers: authenticated, service_role.
create or replace function public.save_message(
  thread_id uuid,
  role text,
  content text,
  tool_call_id text default null,
  tool_name text default null,
  metadata jsonb default '{}',
  token_count integer default null
)
returns public.memory_message
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  saved public.messages;
begin
  perform private.require_thread(save_message.thread_id);
  if save_message.role is null or save_message.role not in ('system', 'user', 'assistant', 'tool') then
    raise exception 'role must be one of system, user, assistant, tool (got %)', coalesce(quote_literal(save_message.role), 'null')
      using errcode = '22023';
  end if;
  if save_message.content is null then
    raise exception 'content must not be null' using errcode = '22004', hint = 'Use an empty string for a message without text.';
  end if;
  if save_message.role = 'tool' and save_message.tool_call_id is null then
    raise exception 'tool_call_id is required for a message with role tool' using errcode = '22023';
  end if;
  if save_message.token_count < 0 then
    raise exception 'token_count must not be negative (got %)', save_message.token_count using errcode = '22023';
  end if;
  insert into public.messages (thread_id, role, content, tool_call_id, tool_name, metadata, token_count, token_count_exact)
  values (save_message.thread_id, save_message.role::public.message_role, save_message.content, save_message.tool_call_id,
          save_message.tool_name, private.require_object(coalesce(save_message.metadata, '{}'), 'metadata'),
          save_message.token_count, save_message.token_count is not null)
  returning * into saved;
  return private.to_memory_message(saved);
end
$$;
comment on function public.save_message(uuid, text, text, text, text, jsonb, integer) is
  'Appends a message to one of the caller''s threads; returns it with its created_at and cursor.';

-- save_messages(thread_id, messages) → setof memory_message
--   Appends up to 1000 messages in one statement, in array order, and returns them in that order. Each
--   element is an object {role, content, tool_call_id?, tool_name?, metadata?, token_count?} with the
--   rules of save_message. All or nothing: any invalid element fails the whole call and nothing is
--   written. `messages` is json (not jsonb) so that a NUL character (\u0000, which Postgres text cannot
--   hold) is reported with the element and field it is in.
--   Errors: PT404 thread not found; 22023 not an array / more than 1000 elements / invalid element
--   (message names messages[i].field); 22P05 NUL character; 22001 content too large.
--   Callers: authenticated, service_role.
create or replace function public.save_messages(thread_id uuid, messages json)
returns setof public.memory_message
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  allowed constant text[] := array['role', 'content', 'tool_call_id', 'tool_name', 'metadata', 'token_count'];
  max_bytes bigint := (private.setting('messages', 'max_content_bytes', '1048576') #>> '{}')::bigint;
  raw json;
  elem jsonb;
  idx integer;
  bad_field text;
  marked text;
  unknown text[];
  field text;
  roles public.message_role[] := '{}';
  contents text[] := '{}';
  call_ids text[] := '{}';
  tool_names text[] := '{}';
  metadatas jsonb[] := '{}';
  counts integer[] := '{}';
begin
  perform private.require_thread(save_messages.thread_id);
  if save_messages.messages is null or json_typeof(save_messages.messages) <> 'array' then
    raise exception 'messages must be a JSON array of message objects' using errcode = '22023';
  end if;
  if json_array_length(save_messages.messages) > 1000 then
    raise exception 'messages has % elements; at most 1000 can be saved per call', json_array_length(save_messages.messages)
      using errcode = '22023';
  end if;

  for raw, idx in select e.value, e.ordinality - 1 from json_array_elements(save_messages.messages) with ordinality e loop
    -- An unescaped \u0000 anywhere in the element: every json/jsonb accessor refuses it, so mark it with a
    -- placeholder to find the field it is in for the error message.
    if raw::text ~ '(^|[^\\])(\\\\)*\\u0000' then
      marked := raw::text;
      while marked ~ '(^|[^\\])(\\\\)*\\u0000' loop
        marked := regexp_replace(marked, '(^|[^\\])((\\\\)*)\\u0000', '\1\2\\u2400NUL\\u2400', 'g');
      end loop;
      begin
        select string_agg(e.key, ', ' order by e.key) into bad_field
          from jsonb_each(marked::jsonb) e
         where e.value::text like '%' || chr(9216) || 'NUL' || chr(9216) || '%';
      exception when others then
        bad_field := null;
      end;
      raise exception 'messages[%]% contains a NUL character (\u0000), which Postgres text cannot store',
        idx, coalesce('.' || bad_field, '') using errcode = '22P05';
    end if;
    elem := raw::jsonb;
    if jsonb_typeof(elem) <> 'object' then
      raise exception 'messages[%] must be a JSON object (got %)', idx, jsonb_typeof(elem) using errcode = '22023';
    end if;
    select array_agg(k order by k) into unknown from jsonb_object_keys(elem) k where k <> all (allowed);
    if unknown is not null then
      raise exception 'messages[%] has unknown field(s): %', idx, array_to_string(unknown, ', ') using errcode = '22023',
        hint = 'Message fields: ' || array_to_string(allowed, ', ') || '.';
    end if;
    if coalesce(elem ->> 'role', '') not in ('system', 'user', 'assistant', 'tool') then
      raise exception 'messages[%].role must be one of system, user, assistant, tool (got %)', idx, coalesce(elem -> 'role', 'null')
        using errcode = '22023';
    end if;
    if jsonb_typeof(elem -> 'content') is distinct from 'string' then
      raise exception 'messages[%].content must be a string (got %)', idx, coalesce(jsonb_typeof(elem -> 'content'), 'nothing')
        using errcode = '22023';
    end if;
    if octet_length(elem ->> 'content') > max_bytes then
      raise exception 'messages[%].content is % bytes; the maximum is % bytes', idx, octet_length(elem ->> 'content'), max_bytes
        using errcode = '22001', hint = 'The limit is the setting messages.max_content_bytes.';
    end if;
    foreach field in array array['tool_call_id', 'tool_name'] loop
      if coalesce(jsonb_typeof(elem -> field), 'null') not in ('string', 'null') then
        raise exception 'messages[%].% must be a string (got %)', idx, field, jsonb_typeof(elem -> field) using errcode = '22023';
      end if;
    end loop;
    if elem ->> 'role' = 'tool' and elem ->> 'tool_call_id' is null then
      raise exception 'messages[%].tool_call_id is required for a message with role tool', idx using errcode = '22023';
    end if;
    if coalesce(jsonb_typeof(elem -> 'metadata'), 'null') not in ('object', 'null') then
      raise exception 'messages[%].metadata must be a JSON object (got %)', idx, jsonb_typeof(elem -> 'metadata')
        using errcode = '22023';
    end if;
    if coalesce(jsonb_typeof(elem -> 'token_count'), 'null') <> 'null'
       and (jsonb_typeof(elem -> 'token_count') <> 'number' or (elem ->> 'token_count') !~ '^[0-9]{1,9}$') then
      raise exception 'messages[%].token_count must be a non-negative integer (got %)', idx, elem -> 'token_count'
        using errcode = '22023';
    end if;

    roles := roles || (elem ->> 'role')::public.message_role;
    contents := contents || (elem ->> 'content');
    call_ids := call_ids || (elem ->> 'tool_call_id');
    tool_names := tool_names || (elem ->> 'tool_name');
    metadatas := metadatas || coalesce(nullif(elem -> 'metadata', 'null'::jsonb), '{}'::jsonb);
    counts := counts || (elem ->> 'token_count')::integer;
  end loop;

  return query
    with inserted as (
      insert into public.messages (thread_id, role, content, tool_call_id, tool_name, metadata, token_count, token_count_exact)
      select save_messages.thread_id, u.role, u.content, u.tool_call_id, u.tool_name, u.metadata, u.token_count,
             u.token_count is not null
        from unnest(roles, contents, call_ids, tool_names, metadatas, counts) with ordinality
             as u(role, content, tool_call_id, tool_name, metadata, token_count, ord)
       order by u.ord
      returning *
    )
    select m.id, m.thread_id, m.owner_id, m.role, m.content, m.tool_call_id, m.tool_name, m.token_count,
           m.token_count_exact, m.metadata, m.created_at, private.encode_cursor('m', m.created_at, m.id)
      from inserted m
     order by m.created_at, m.id;
end
$$;
comment on function public.save_messages(uuid, json) is
  'Appends up to 1000 messages (JSON array) to one of the caller''s threads, all or nothing, in array order.';

-- load_messages(thread_id, limit, cursor, direction) → message_page
--   One page of a thread's messages over the keyset (created_at, id), never OFFSET.
--   direction 'older' (default): the `limit` messages just before `cursor` — or the newest ones when
--   cursor is null — so successive pages walk back in time. direction 'newer': the `limit` messages just
--   after `cursor` — or the oldest ones when cursor is null — walking forward.
--   Either way the page is in chronological order; next_cursor is where the next page in the same
--   direction starts (the last message reached, or the given cursor when the page is empty) and has_more
--   says whether more messages lay beyond the page. limit: 1..1000, default 50. A walk sees every message
--   that existed when it started exactly once, whatever is inserted meanwhile.
--   Errors: PT404 thread not found; 22023 limit out of range / unknown direction / invalid cursor.
--   Callers: authenticated, service_role.
create or replace function public.load_messages(
  thread_id uuid,
  "limit" integer default 50,
  cursor text default null,
  direction text default 'older'
)
returns public.message_page
language plpgsql
stable
security invoker
set search_path = ''
-- Index range scans regardless of statistics (see the header of 20261121001300_messages.sql).
set enable_sort = off
set enable_bitmapscan = off
as $$
declare
  page_size integer := private.require_limit(load_messages."limit", 'limit');
  at_created timestamptz;
  at_id uuid;
  page public.memory_message[];
  more boolean;
begin
  if load_messages.direction is null or load_messages.direction not in ('older', 'newer') then
    raise exception 'direction must be older or newer (got %)', coalesce(quote_literal(load_messages.direction), 'null')
      using errcode = '22023';
  end if;
  select c.created_at, c.id into at_created, at_id from private.decode_cursor(load_messages.cursor, 'm', 'cursor') c;
  perform private.require_thread(load_messages.thread_id);
  -- Without a cursor start beyond either end, so that one row comparison serves as the index condition
  -- (an "is null or" would keep a generic plan from using it).
  if at_created is null then
    at_created := case load_messages.direction when 'older' then 'infinity'::timestamptz else '-infinity'::timestamptz end;
    at_id := case load_messages.direction when 'older' then 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid
                                          else '00000000-0000-0000-0000-000000000000'::uuid end;
  end if;

  if load_messages.direction = 'older' then
    select coalesce(array_agg(private.to_memory_message(m) order by m.created_at, m.id), '{}') into page
      from (select *
              from public.messages m
             where m.thread_id = load_messages.thread_id
               and (m.created_at, m.id) < (at_created, at_id)
             order by m.created_at desc, m.id desc
             limit page_size + 1) m;
    more := cardinality(page) > page_size;
    if more then
      page := page[2:page_size + 1];
    end if;
    return row(page, case when cardinality(page) > 0 then (page[1]).cursor else load_messages.cursor end, more)::public.message_page;
  else
    select coalesce(array_agg(private.to_memory_message(m) order by m.created_at, m.id), '{}') into page
      from (select *
              from public.messages m
             where m.thread_id = load_messages.thread_id
               and (m.created_at, m.id) > (at_created, at_id)
             order by m.created_at, m.id
             limit page_size + 1) m;
    more := cardinality(page) > page_size;
    if more then
      page := page[1:page_size];
    end if;
    return row(page, case when cardinality(page) > 0 then (page[cardinality(page)]).cursor else load_messages.cursor end,
               more)::public.message_page;
  end if;
end
$$;
comment on function public.load_messages(uuid, integer, text, text) is
  'One keyset page of a thread''s messages (direction older from the newest, or newer from the oldest), chronological.';

revoke all on function public.save_message(uuid, text, text, text, text, jsonb, integer),
  public.save_messages(uuid, json), public.load_messages(uuid, integer, text, text) from public, anon;
grant execute on function public.save_message(uuid, text, text, text, text, jsonb, integer),
  public.save_messages(uuid, json), public.load_messages(uuid, integer, text, text) to authenticated, service_role;
