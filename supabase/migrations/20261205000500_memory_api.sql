-- The long-term memory API: remember_fact, update_memory, forget_memory, list_memories (keyset pages) and
-- list_memory_history. Security invoker: row level security limits a signed-in user to their own
-- memories, service_role sees every user's; a memory the caller cannot see — unknown or another user's — is
-- PT404 "memory <id> not found". History is written by the table's triggers (20261205000400_memories.sql),
-- so every change through these functions, the Data API or the extraction job is recorded.

-- 'f' (for facts) cursors of list_memories get a readable name in decode_cursor's error message; the rest
-- of the function is unchanged (20261121001100_memory_helpers.sql).
create or replace function private.decode_cursor(cursor text, kind text, field text,
  out created_at timestamptz, out id uuid)
language plpgsql
immutable
parallel safe
security invoker
as $$
declare
  parts text[];
  wanted text := case kind when 'm' then 'message' when 't' then 'thread' when 'd' then 'document'
                           when 'f' then 'memory' else kind end;
begin
  if cursor is null then
    return;
  end if;
  if cursor ~ '^[A-Za-z0-9_-]{8,200}$' and length(cursor) % 4 <> 1 then
    parts := regexp_match(
      encode(decode(translate(cursor, '-_', '+/') || repeat('=', (4 - length(cursor) % 4) % 4), 'base64'), 'escape'),
      '^([a-z]),(-?[0-9]{1,16}),([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$');
  end if;
  if parts is null or parts[1] <> kind then
    raise exception '% is not a valid % cursor', field, wanted
      using errcode = '22023',
            hint = format('Pass the %s cursor returned by a previous call unchanged, or null to start over.', wanted);
  end if;
  created_at := 'epoch'::timestamptz + (parts[2] || ' microseconds')::interval;
  id := parts[3]::uuid;
end
$$;

-- private.require_memory_kind(kind text) → memory_kind
--   The kind, or 22023 "kind must be fact, preference or event (got …)".
create or replace function private.require_memory_kind(kind text)
returns public.memory_kind
language plpgsql
immutable
security invoker
as $$
begin
  if kind is null or kind not in ('fact', 'preference', 'event') then
    raise exception 'kind must be fact, preference or event (got %)', coalesce(quote_literal(kind), 'null') using errcode = '22023';
  end if;
  return kind::public.memory_kind;
end
$$;
revoke all on function private.require_memory_kind(text) from public, anon;
grant execute on function private.require_memory_kind(text) to authenticated, service_role;

-- private.require_memory(memory_id uuid) → memories
--   The memory, locked for update, when the caller can see it; PT404 "memory <id> not found" otherwise.
create or replace function private.require_memory(memory_id uuid)
returns public.memories
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  m public.memories;
begin
  select * into m from public.memories x where x.id = require_memory.memory_id for update;
  if not found then
    raise exception 'memory % not found', coalesce(memory_id::text, 'null') using errcode = 'PT404';
  end if;
  return m;
end
$$;
revoke all on function private.require_memory(uuid) from public, anon;
grant execute on function private.require_memory(uuid) to authenticated, service_role;

-- remember_fact(content, kind, agent_id, metadata, source_thread_id, source_message_ids, valid_from, owner_id)
--     → memories
--   Stores a long-term memory of the caller (history event 'add', source 'manual'). kind: fact (default),
--   preference or event; agent_id: the agent it belongs to (null: all of the user's agents); metadata: a
--   JSON object; source_thread_id / source_message_ids: where it comes from (the caller's thread and
--   messages); valid_from: since when it holds (default now). owner_id: defaults to the caller —
--   service_role must name the owner (or give source_thread_id, whose owner it takes); a signed-in user may
--   only name themselves (42501 otherwise).
--   Errors: 22023 empty content / unknown kind / metadata not an object / no owner; 22001 content over
--   10,000 characters; PT404 source thread or message not found. Callers: authenticated, service_role.
create or replace function public.remember_fact(
  content text,
  kind text default 'fact',
  agent_id text default null,
  metadata jsonb default '{}',
  source_thread_id uuid default null,
  source_message_ids uuid[] default null,
  valid_from timestamptz default null,
  owner_id uuid default null
)
returns public.memories
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  owner uuid := coalesce(remember_fact.owner_id, auth.uid());
  result public.memories;
begin
  if remember_fact.content is null or remember_fact.content !~ '\S' then
    raise exception 'content must not be empty' using errcode = '22023',
      hint = 'A memory is one short statement, e.g. "Lives in Berlin."';
  end if;
  perform private.require_memory_kind(remember_fact.kind);
  perform private.require_object(coalesce(remember_fact.metadata, '{}'), 'metadata');
  if remember_fact.source_thread_id is not null then
    select coalesce(remember_fact.owner_id, t.owner_id) into owner
      from public.memory_threads t where t.id = remember_fact.source_thread_id;
    if not found then
      raise exception 'thread % not found', remember_fact.source_thread_id using errcode = 'PT404';
    end if;
  end if;
  if owner is null then
    raise exception 'owner_id is required when no user is signed in' using errcode = '22023',
      hint = 'Call with a user''s access token, or pass owner_id (or source_thread_id) when calling as service_role.';
  end if;
  insert into public.memories (owner_id, agent_id, kind, content, source, source_thread_id, source_message_ids,
                               valid_from, metadata)
  values (owner, remember_fact.agent_id, remember_fact.kind::public.memory_kind, remember_fact.content, 'manual',
          remember_fact.source_thread_id, coalesce(remember_fact.source_message_ids, '{}'),
          coalesce(remember_fact.valid_from, clock_timestamp()), coalesce(remember_fact.metadata, '{}'))
  returning * into result;
  return result;
end
$$;
comment on function public.remember_fact(text, text, text, jsonb, uuid, uuid[], timestamptz, uuid) is
  'Stores a long-term memory (fact, preference or event) of the caller; recorded in memory_history as an add.';

-- update_memory(memory_id, content, kind, metadata, source_message_ids) → memories
--   Replaces a valid memory with a new version and returns the new version: the old one is kept with
--   invalid_at (= the new version's valid_from, now) and superseded_by (history event 'update' with the old
--   and the new content). kind and metadata default to the old version's. The same content, kind and
--   metadata again changes nothing and returns the memory as it is.
--   Errors: PT404 memory not found (unknown or another user's); PT409 it is no longer valid (superseded
--   or forgotten: update its current version); 22023 empty content / unknown kind / metadata not an object.
--   Callers: authenticated, service_role.
create or replace function public.update_memory(
  memory_id uuid,
  content text,
  kind text default null,
  metadata jsonb default null,
  source_message_ids uuid[] default null
)
returns public.memories
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  prev public.memories := private.require_memory(update_memory.memory_id);
  result public.memories;
begin
  if update_memory.content is null or update_memory.content !~ '\S' then
    raise exception 'content must not be empty' using errcode = '22023';
  end if;
  if update_memory.kind is not null then
    perform private.require_memory_kind(update_memory.kind);
  end if;
  if update_memory.metadata is not null then
    perform private.require_object(update_memory.metadata, 'metadata');
  end if;
  if prev.invalid_at is not null then
    raise exception 'memory % is no longer valid (it was %)', prev.id,
      case when prev.superseded_by is not null then 'superseded by ' || prev.superseded_by else 'forgotten' end
      using errcode = 'PT409', hint = 'Update the memory''s current version.';
  end if;
  if update_memory.content = prev.content and coalesce(update_memory.kind::public.memory_kind, prev.kind) = prev.kind
     and coalesce(update_memory.metadata, prev.metadata) = prev.metadata then
    return prev;
  end if;
  insert into public.memories (owner_id, agent_id, kind, content, source, source_thread_id, source_message_ids,
                               supersedes, valid_from, metadata)
  values (prev.owner_id, prev.agent_id, coalesce(update_memory.kind::public.memory_kind, prev.kind), update_memory.content,
          'manual', prev.source_thread_id, coalesce(update_memory.source_message_ids, '{}'), prev.id, clock_timestamp(),
          coalesce(update_memory.metadata, prev.metadata))
  returning * into result;
  return result;
end
$$;
comment on function public.update_memory(uuid, text, text, jsonb, uuid[]) is
  'Replaces a memory with a new version; the old one is kept with invalid_at (history event update).';

-- forget_memory(memory_id, reason) → memories
--   Forgets a memory softly: invalid_at = now(), invalid_reason = reason (history event 'forget'); it stays
--   readable (list_memories with include_invalid) but no search or context uses it any more. Forgetting a
--   memory that is already invalid changes nothing. Errors: PT404 memory not found (unknown or another
--   user's); 22001 reason over 2,000 characters. Callers: authenticated, service_role.
create or replace function public.forget_memory(memory_id uuid, reason text default null)
returns public.memories
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  m public.memories := private.require_memory(forget_memory.memory_id);
begin
  if m.invalid_at is not null then
    return m;
  end if;
  if char_length(forget_memory.reason) > 2000 then
    raise exception 'reason is % characters; at most 2000', char_length(forget_memory.reason) using errcode = '22001';
  end if;
  update public.memories x set invalid_at = clock_timestamp(), invalid_reason = forget_memory.reason
   where x.id = m.id
  returning * into m;
  return m;
end
$$;
comment on function public.forget_memory(uuid, text) is
  'Soft-forgets one of the caller''s memories (invalid_at = now, history event forget); PT404 when unknown or not theirs.';

-- One page of list_memories, newest first.
create type public.memory_page as (
  memories public.memories[],
  next_cursor text,
  has_more boolean
);
comment on type public.memory_page is 'A page of long-term memories (newest first); pass next_cursor back while has_more is true.';

-- list_memories(agent_id, kinds, include_invalid, limit, cursor, owner_id) → memory_page
--   The caller's memories newest first (created_at desc, id desc), `limit` per page (1..1000, default 50):
--   only valid ones unless include_invalid; with agent_id, that agent's and those shared by all agents
--   (agent_id null); with kinds, only those kinds. owner_id: service_role's filter (a signed-in user sees
--   only their own anyway). cursor: next_cursor of the previous page (it stays put on an empty page, for
--   polling).
--   Errors: 22023 limit out of range / unknown kind / invalid cursor. Callers: authenticated, service_role.
create or replace function public.list_memories(
  agent_id text default null,
  kinds text[] default null,
  include_invalid boolean default false,
  "limit" integer default 50,
  cursor text default null,
  owner_id uuid default null
)
returns public.memory_page
language plpgsql
stable
security invoker
set search_path = ''
-- Index range scans regardless of statistics (see the header of 20261121001300_messages.sql).
set enable_sort = off
set enable_bitmapscan = off
as $$
declare
  page_size integer := private.require_limit(list_memories."limit", 'limit');
  after_at timestamptz;
  after_id uuid;
  found public.memories[];
  more boolean;
  k text;
begin
  foreach k in array coalesce(list_memories.kinds, '{}') loop
    perform private.require_memory_kind(k);
  end loop;
  select c.created_at, c.id into after_at, after_id from private.decode_cursor(list_memories.cursor, 'f', 'cursor') c;
  after_at := coalesce(after_at, 'infinity'::timestamptz);
  after_id := coalesce(after_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid);
  select coalesce(array_agg(m order by m.created_at desc, m.id desc), '{}') into found
    from (select * from public.memories x
           where (list_memories.owner_id is null or x.owner_id = list_memories.owner_id)
             and (list_memories.agent_id is null or x.agent_id = list_memories.agent_id or x.agent_id is null)
             and (list_memories.kinds is null or x.kind::text = any (list_memories.kinds))
             and (coalesce(list_memories.include_invalid, false) or x.invalid_at is null)
             and (x.created_at, x.id) < (after_at, after_id)
           order by x.created_at desc, x.id desc
           limit page_size + 1) m;
  more := cardinality(found) > page_size;
  if more then
    found := found[1:page_size];
  end if;
  return row(
    found,
    case when cardinality(found) > 0
         then private.encode_cursor('f', (found[cardinality(found)]).created_at, (found[cardinality(found)]).id)
         else list_memories.cursor end,
    more)::public.memory_page;
end
$$;
comment on function public.list_memories(text, text[], boolean, integer, text, uuid) is
  'The caller''s long-term memories, newest first, valid ones unless include_invalid; keyset pages.';

-- list_memory_history(memory_id, limit) → setof memory_history
--   With memory_id: every event of that memory's versions (the chain linked by supersedes, whichever
--   version is given); without: the caller's latest events. Chronological (oldest first), at most `limit`
--   (1..1000, default 100) most recent events. Errors: PT404 memory not found; 22023 limit out of range.
--   Callers: authenticated, service_role.
create or replace function public.list_memory_history(memory_id uuid default null, "limit" integer default 100)
returns setof public.memory_history
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  chain uuid[];
begin
  perform private.require_limit(list_memory_history."limit", 'limit');
  if list_memory_history.memory_id is null then
    return query select * from (select * from public.memory_history h order by h.id desc limit list_memory_history."limit") x
                  order by x.id;
    return;
  end if;
  if not exists (select from public.memories m where m.id = list_memory_history.memory_id) then
    raise exception 'memory % not found', list_memory_history.memory_id using errcode = 'PT404';
  end if;
  with recursive back(id, depth) as (
      select list_memory_history.memory_id, 0
      union all
      select m.supersedes, b.depth + 1 from back b join public.memories m on m.id = b.id
       where m.supersedes is not null and b.depth < 10000),
    fwd(id, depth) as (
      select list_memory_history.memory_id, 0
      union all
      select m.superseded_by, f.depth + 1 from fwd f join public.memories m on m.id = f.id
       where m.superseded_by is not null and f.depth < 10000)
  select array_agg(distinct x.id) into chain from (select b.id from back b union select f.id from fwd f) x;
  return query
    select * from (select * from public.memory_history h where h.memory_id = any (chain)
                    order by h.id desc limit list_memory_history."limit") x
     order by x.id;
end
$$;
comment on function public.list_memory_history(uuid, integer) is
  'The history (add, update, forget, metadata) of a memory''s versions, or of all the caller''s memories; oldest first.';

revoke all on function public.remember_fact(text, text, text, jsonb, uuid, uuid[], timestamptz, uuid),
  public.update_memory(uuid, text, text, jsonb, uuid[]), public.forget_memory(uuid, text),
  public.list_memories(text, text[], boolean, integer, text, uuid), public.list_memory_history(uuid, integer)
  from public, anon;
grant execute on function public.remember_fact(text, text, text, jsonb, uuid, uuid[], timestamptz, uuid),
  public.update_memory(uuid, text, text, jsonb, uuid[]), public.forget_memory(uuid, text),
  public.list_memories(text, text[], boolean, integer, text, uuid), public.list_memory_history(uuid, integer)
  to authenticated, service_role;
