-- The thread API: create_thread, get_thread, list_threads (keyset pages), update_thread, delete_thread.
-- All are security invoker: row level security limits a signed-in user to their own threads, service_role
-- sees every thread, anon may call none of them. A thread id the caller cannot see — unknown or another
-- user's — raises the same PT404 "thread <id> not found".

-- One page of list_threads: the threads, the cursor to continue from, and whether more threads follow.
create type public.thread_page as (
  threads public.memory_threads[],
  next_cursor text,
  has_more boolean
);
comment on type public.thread_page is
  'A page of threads (newest first); pass next_cursor back as cursor while has_more is true.';

-- create_thread(agent_id, name, metadata, expires_at, owner_id) → memory_threads
--   Creates a thread owned by the caller. agent_id: the agent conversing in it (optional); name: a title
--   (optional); metadata: a JSON object (default {}); expires_at: optional time to live, must be in the
--   future; owner_id: defaults to the caller — service_role must name the owner, a signed-in user may
--   only name themselves (42501 otherwise).
--   Errors: 22023 metadata not an object / expires_at not in the future / owner_id missing;
--   42501 creating a thread for someone else. Callers: authenticated, service_role.
create or replace function public.create_thread(
  agent_id text default null,
  name text default null,
  metadata jsonb default '{}',
  expires_at timestamptz default null,
  owner_id uuid default null
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
  if thread_owner is null then
    raise exception 'owner_id is required when no user is signed in' using errcode = '22023',
      hint = 'Call with a user''s access token, or pass owner_id when calling as service_role.';
  end if;
  if create_thread.expires_at is not null and create_thread.expires_at <= now() then
    raise exception 'expires_at must be in the future (got %)', create_thread.expires_at using errcode = '22023';
  end if;
  insert into public.memory_threads (owner_id, agent_id, name, metadata, expires_at)
  values (thread_owner, create_thread.agent_id, create_thread.name,
          private.require_object(coalesce(create_thread.metadata, '{}'), 'metadata'), create_thread.expires_at)
  returning * into result;
  return result;
end
$$;
comment on function public.create_thread(text, text, jsonb, timestamptz, uuid) is
  'Creates a thread owned by the caller (service_role passes owner_id). metadata must be a JSON object.';

-- get_thread(thread_id) → memory_threads
--   The thread, if the caller may see it. Errors: PT404 "thread <id> not found" (unknown or another
--   user's). Callers: authenticated, service_role.
create or replace function public.get_thread(thread_id uuid)
returns public.memory_threads
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  result public.memory_threads;
begin
  select * into result from public.memory_threads t where t.id = get_thread.thread_id;
  if not found then
    raise exception 'thread % not found', get_thread.thread_id using errcode = 'PT404';
  end if;
  return result;
end
$$;
comment on function public.get_thread(uuid) is 'Returns one of the caller''s threads; PT404 when it is unknown or not theirs.';

-- list_threads(agent_id, metadata, limit, cursor) → thread_page
--   The caller's threads, newest first (created_at desc, id desc), `limit` per page (1..1000, default 50),
--   optionally only one agent's and only those whose metadata contains `metadata` (jsonb @>). `cursor` is
--   the next_cursor of the previous page (null for the first). Threads created during a walk appear
--   before its start and are not returned by it; no thread is repeated or skipped.
--   Errors: 22023 limit out of range / metadata not an object / invalid cursor. Callers: authenticated,
--   service_role (sees all users' threads).
create or replace function public.list_threads(
  agent_id text default null,
  metadata jsonb default null,
  "limit" integer default 50,
  cursor text default null
)
returns public.thread_page
language plpgsql
stable
security invoker
set search_path = ''
-- Index range scans regardless of statistics (see the header of 20261121001300_messages.sql).
set enable_sort = off
set enable_bitmapscan = off
as $$
declare
  page_size integer := private.require_limit(list_threads."limit", 'limit');
  after_at timestamptz;
  after_id uuid;
  found_threads public.memory_threads[];
  more boolean;
begin
  if list_threads.metadata is not null then
    perform private.require_object(list_threads.metadata, 'metadata');
  end if;
  select c.created_at, c.id into after_at, after_id from private.decode_cursor(list_threads.cursor, 't', 'cursor') c;
  -- The first page starts beyond the newest thread, so one row comparison serves as the index condition.
  after_at := coalesce(after_at, 'infinity'::timestamptz);
  after_id := coalesce(after_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid);

  select coalesce(array_agg(t order by t.created_at desc, t.id desc), '{}') into found_threads
    from (select *
            from public.memory_threads t
           where (list_threads.agent_id is null or t.agent_id = list_threads.agent_id)
             and (list_threads.metadata is null or t.metadata @> list_threads.metadata)
             and (t.created_at, t.id) < (after_at, after_id)
           order by t.created_at desc, t.id desc
           limit page_size + 1) t;

  more := cardinality(found_threads) > page_size;
  if more then
    found_threads := found_threads[1:page_size];
  end if;
  return row(
    found_threads,
    case when cardinality(found_threads) > 0
         then private.encode_cursor('t', (found_threads[cardinality(found_threads)]).created_at,
                                    (found_threads[cardinality(found_threads)]).id)
         else list_threads.cursor end,
    more)::public.thread_page;
end
$$;
comment on function public.list_threads(text, jsonb, integer, text) is
  'Keyset-paginated list of the caller''s threads, newest first, filtered by agent and metadata containment.';

-- update_thread(thread_id, patch) → memory_threads
--   Changes the fields named in `patch` (a JSON object) and leaves the others alone; a field set to null
--   is cleared. Fields: name (string), agent_id (string), metadata (object, replaces the old one),
--   expires_at (timestamp in the future), summary (string), summary_through (a message cursor).
--   Errors: PT404 thread not found; 22023 unknown field, wrong type, expires_at not in the future,
--   invalid summary_through cursor. Callers: authenticated, service_role.
create or replace function public.update_thread(thread_id uuid, patch jsonb)
returns public.memory_threads
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  result public.memory_threads;
  allowed constant text[] := array['name', 'agent_id', 'metadata', 'expires_at', 'summary', 'summary_through'];
  unknown text[];
  field text;
  new_expires_at timestamptz;
begin
  perform private.require_object(update_thread.patch, 'patch');
  select array_agg(k order by k) into unknown from jsonb_object_keys(update_thread.patch) k where k <> all (allowed);
  if unknown is not null then
    raise exception 'patch has unknown field(s): %', array_to_string(unknown, ', ') using errcode = '22023',
      hint = 'Fields that can be changed: ' || array_to_string(allowed, ', ') || '.';
  end if;
  foreach field in array array['name', 'agent_id', 'summary', 'summary_through', 'expires_at'] loop
    if jsonb_typeof(update_thread.patch -> field) not in ('string', 'null') then
      raise exception 'patch.% must be a string or null (got %)', field, jsonb_typeof(update_thread.patch -> field)
        using errcode = '22023';
    end if;
  end loop;
  if update_thread.patch ? 'metadata' then
    perform private.require_object(update_thread.patch -> 'metadata', 'patch.metadata');
  end if;
  if update_thread.patch ->> 'expires_at' is not null then
    begin
      new_expires_at := (update_thread.patch ->> 'expires_at')::timestamptz;
    exception when others then
      raise exception 'patch.expires_at is not a timestamp: %', update_thread.patch ->> 'expires_at' using errcode = '22023';
    end;
    if new_expires_at <= now() then
      raise exception 'patch.expires_at must be in the future (got %)', new_expires_at using errcode = '22023';
    end if;
  end if;

  update public.memory_threads t
     set name = case when update_thread.patch ? 'name' then update_thread.patch ->> 'name' else t.name end,
         agent_id = case when update_thread.patch ? 'agent_id' then update_thread.patch ->> 'agent_id' else t.agent_id end,
         metadata = case when update_thread.patch ? 'metadata' then update_thread.patch -> 'metadata' else t.metadata end,
         expires_at = case when update_thread.patch ? 'expires_at' then new_expires_at else t.expires_at end,
         summary = case when update_thread.patch ? 'summary' then update_thread.patch ->> 'summary' else t.summary end,
         summary_through = case when update_thread.patch ? 'summary_through'
                                then update_thread.patch ->> 'summary_through' else t.summary_through end
   where t.id = update_thread.thread_id
  returning * into result;
  if not found then
    raise exception 'thread % not found', update_thread.thread_id using errcode = 'PT404';
  end if;
  return result;
end
$$;
comment on function public.update_thread(uuid, jsonb) is
  'Changes the thread fields named in patch (name, agent_id, metadata, expires_at, summary, summary_through).';

-- delete_thread(thread_id) → memory_threads
--   Deletes the thread with its messages and agent states (on delete cascade) and returns the deleted
--   thread. Errors: PT404 thread not found. Callers: authenticated, service_role.
create or replace function public.delete_thread(thread_id uuid)
returns public.memory_threads
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  result public.memory_threads;
begin
  delete from public.memory_threads t where t.id = delete_thread.thread_id returning * into result;
  if not found then
    raise exception 'thread % not found', delete_thread.thread_id using errcode = 'PT404';
  end if;
  return result;
end
$$;
comment on function public.delete_thread(uuid) is
  'Deletes one of the caller''s threads with its messages and agent states; returns the deleted thread.';

revoke all on function public.create_thread(text, text, jsonb, timestamptz, uuid), public.get_thread(uuid),
  public.list_threads(text, jsonb, integer, text), public.update_thread(uuid, jsonb), public.delete_thread(uuid)
  from public, anon;
grant execute on function public.create_thread(text, text, jsonb, timestamptz, uuid), public.get_thread(uuid),
  public.list_threads(text, jsonb, integer, text), public.update_thread(uuid, jsonb), public.delete_thread(uuid)
  to authenticated, service_role;
