-- Client-generated ids for the write RPCs, so that a write can be sent again without being applied twice:
-- the SDK generates the id of every thread and message it creates, and when a write is queued in the LibSQL
-- outbox (Supabase was unreachable, or the answer was lost) replaying it later is idempotent.
--   create_thread(..., id)        an existing thread with that id (visible to the caller) is returned as it is;
--                                 an id taken by a thread the caller cannot see fails on the primary key
--                                 (23505, a conflict)
--   save_message(..., id)         a message with that id in this thread is returned as it is; in another
--                                 thread PT409 (in a thread the caller cannot see: 23505)
--   save_messages([{id, …}, …])   elements whose id is already stored in this thread are kept as they are
--                                 (and returned); new ones are inserted after them; an id in another thread
--                                 is PT409, an id twice in the call or not a UUID is 22023
-- Without ids the functions behave exactly as before. The bodies are those of the thread and message API
-- migrations with the id handling added.

drop function public.create_thread(text, text, jsonb, timestamptz, uuid);
drop function public.save_message(uuid, text, text, text, text, jsonb, integer);

-- create_thread(agent_id, name, metadata, expires_at, owner_id, id) → memory_threads
--   As in the thread API, plus `id`: the new thread's id (default: generated). When a thread with that id
--   exists and the caller can see it, it is returned unchanged (a replayed create).
--   Errors: those of the thread API; 23505 id taken by a thread the caller cannot see.
create or replace function public.create_thread(
  agent_id text default null,
  name text default null,
  metadata jsonb default '{}',
  expires_at timestamptz default null,
  owner_id uuid default null,
  id uuid default null
)
returns public.memory_threads
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  result public.memory_threads;
  thread_owner uuid := coalesce(create_thread.owner_id, auth.uid());
begin
  -- A replay of a create that already happened (same client id): the thread as it is.
  if create_thread.id is not null then
    select * into result from public.memory_threads t where t.id = create_thread.id;
    if found and create_thread.owner_id is not null and result.owner_id <> create_thread.owner_id then
      raise exception 'thread id % is already taken by another owner', create_thread.id using errcode = 'PT409';
    elsif found then
      return result;
    end if;
  end if;
  if thread_owner is null then
    raise exception 'owner_id is required when no user is signed in' using errcode = '22023',
      hint = 'Call with a user''s access token, or pass owner_id when calling as service_role.';
  end if;
  if create_thread.expires_at is not null and create_thread.expires_at <= now() then
    raise exception 'expires_at must be in the future (got %)', create_thread.expires_at using errcode = '22023';
  end if;
  insert into public.memory_threads (id, owner_id, agent_id, name, metadata, expires_at)
  values (coalesce(create_thread.id, gen_random_uuid()), thread_owner, create_thread.agent_id, create_thread.name,
          private.require_object(coalesce(create_thread.metadata, '{}'), 'metadata'), create_thread.expires_at)
  returning * into result;
  return result;
end
$$;

comment on function public.create_thread(text, text, jsonb, timestamptz, uuid, uuid) is
  'Creates a thread owned by the caller (service_role passes owner_id); with id, a replay returns the existing thread.';

-- save_message(thread_id, role, content, tool_call_id, tool_name, metadata, token_count, id) → memory_message
--   As in the message API, plus `id`: the message's id (default: generated). When a message with that id is
--   already in this thread it is returned unchanged (a replayed save). Errors: those of the message API;
--   PT409 the id belongs to another of the caller's threads; 23505 it belongs to a message the caller cannot see.
create or replace function public.save_message(
  thread_id uuid,
  role text,
  content text,
  tool_call_id text default null,
  tool_name text default null,
  metadata jsonb default '{}',
  token_count integer default null,
  id uuid default null
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
  -- A replay of a save that already happened (same client id): the message as it is.
  if save_message.id is not null then
    select * into saved from public.messages m where m.id = save_message.id;
    if found and saved.thread_id = save_message.thread_id then
      return private.to_memory_message(saved);
    elsif found then
      raise exception 'message id % belongs to another thread', save_message.id using errcode = 'PT409';
    end if;
  end if;
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
  insert into public.messages (id, thread_id, role, content, tool_call_id, tool_name, metadata, token_count, token_count_exact)
  values (coalesce(save_message.id, gen_random_uuid()), save_message.thread_id, save_message.role::public.message_role, save_message.content, save_message.tool_call_id,
          save_message.tool_name, private.require_object(coalesce(save_message.metadata, '{}'), 'metadata'),
          save_message.token_count, save_message.token_count is not null)
  returning * into saved;
  return private.to_memory_message(saved);
end
$$;

comment on function public.save_message(uuid, text, text, text, text, jsonb, integer, uuid) is
  'Appends a message to one of the caller''s threads; with id, a replay returns the stored message.';

-- save_messages(thread_id, messages) → setof memory_message
--   As in the message API; elements may carry `id` (a UUID). Elements whose id is already stored in this
--   thread are not written again and are returned as stored; the others are inserted in array order. The
--   result is in (created_at, id) order. Errors: those of the message API; 22023 messages[i].id not a UUID or
--   repeated; PT409 an id that belongs to another of the caller's threads; 23505 one the caller cannot see.
create or replace function public.save_messages(thread_id uuid, messages json)
returns setof public.memory_message
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  allowed constant text[] := array['id', 'role', 'content', 'tool_call_id', 'tool_name', 'metadata', 'token_count'];
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
  ids uuid[] := '{}';
  taken uuid;
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

    if coalesce(jsonb_typeof(elem -> 'id'), 'null') <> 'null'
       and (jsonb_typeof(elem -> 'id') <> 'string'
            or (elem ->> 'id') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$') then
      raise exception 'messages[%].id must be a UUID string (got %)', idx, elem -> 'id' using errcode = '22023';
    end if;
    if (elem ->> 'id')::uuid = any(ids) then
      raise exception 'messages[%].id % appears twice in messages', idx, elem ->> 'id' using errcode = '22023';
    end if;

    ids := ids || coalesce((elem ->> 'id')::uuid, gen_random_uuid());
    roles := roles || (elem ->> 'role')::public.message_role;
    contents := contents || (elem ->> 'content');
    call_ids := call_ids || (elem ->> 'tool_call_id');
    tool_names := tool_names || (elem ->> 'tool_name');
    metadatas := metadatas || coalesce(nullif(elem -> 'metadata', 'null'::jsonb), '{}'::jsonb);
    counts := counts || (elem ->> 'token_count')::integer;
  end loop;

  -- Ids already stored: in this thread they are replays of an earlier save (kept as they are, returned
  -- again); in another thread they are a conflict.
  select m.id into taken from public.messages m where m.id = any(ids) and m.thread_id <> save_messages.thread_id limit 1;
  if found then
    raise exception 'message id % belongs to another thread', taken using errcode = 'PT409';
  end if;

  return query
    with kept as (
      select m.* from public.messages m where m.id = any(ids)
    ), inserted as (
      insert into public.messages (id, thread_id, role, content, tool_call_id, tool_name, metadata, token_count, token_count_exact)
      select u.id, save_messages.thread_id, u.role, u.content, u.tool_call_id, u.tool_name, u.metadata, u.token_count,
             u.token_count is not null
        from unnest(ids, roles, contents, call_ids, tool_names, metadatas, counts) with ordinality
             as u(id, role, content, tool_call_id, tool_name, metadata, token_count, ord)
       where u.id not in (select k.id from kept k)
       order by u.ord
      returning *
    )
    select m.id, m.thread_id, m.owner_id, m.role, m.content, m.tool_call_id, m.tool_name, m.token_count,
           m.token_count_exact, m.metadata, m.created_at, private.encode_cursor('m', m.created_at, m.id)
      from (select * from kept union all select * from inserted) m
     order by m.created_at, m.id;
end
$$;

comment on function public.save_messages(uuid, json) is
  'Appends up to 1000 messages (JSON array) to one of the caller''s threads, all or nothing, in array order; ids make replays idempotent.';

revoke all on function public.create_thread(text, text, jsonb, timestamptz, uuid, uuid),
  public.save_message(uuid, text, text, text, text, jsonb, integer, uuid) from public, anon;
grant execute on function public.create_thread(text, text, jsonb, timestamptz, uuid, uuid),
  public.save_message(uuid, text, text, text, text, jsonb, integer, uuid) to authenticated, service_role;
