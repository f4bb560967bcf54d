-- messages: the turns of a thread (roles system / user / assistant / tool, as chat APIs use them).
--
-- Order: `created_at` is assigned by the database and strictly increases within a thread, also for many
-- rows inserted by one statement (PGlite's clock ticks in milliseconds, hosted Postgres' in microseconds;
-- either way a row gets max(clock, previous message + 1 µs)). Writers lock the thread row first, so on a
-- busy thread messages also commit in created_at order. Together with `id` as tie-breaker this gives the
-- keyset (created_at, id) that load_messages pages over.
--
-- `owner_id` is copied from the thread; a thread the caller cannot see is "not found" (PT404: HTTP 404 through PostgREST), whoever
-- owns it. `token_count` is an estimate (private.estimate_tokens, token_count_exact = false) unless the
-- writer supplies a count from a real tokenizer. `fts` indexes the English full text of the first
-- 250,000 characters (a tsvector is capped at 1 MB; longer text is still stored whole).
--
-- Plans: the per-thread queries here and in the message/context/thread APIs must be index range scans on
-- (thread_id, created_at, id) however stale the statistics are. The embedded stack has no autovacuum, so
-- without ANALYZE the planner guesses a thread has ~14 rows and sorts all of it; a plan cached while a
-- thread was small would keep doing so. Those functions therefore run with enable_sort and
-- enable_bitmapscan off (function-local settings, restored on return). On an analyzed hosted database
-- the planner chooses the same index scans anyway.

create type public.message_role as enum ('system', 'user', 'assistant', 'tool');
comment on type public.message_role is 'Who wrote a message: system, user, assistant or tool (a tool result).';

create table public.messages (
  id uuid primary key default gen_random_uuid(),
  thread_id uuid not null references public.memory_threads (id) on delete cascade,
  owner_id uuid not null default auth.uid(),
  role public.message_role not null,
  content text not null default '',
  -- The call a tool message answers (required for role tool), or the call an assistant message makes.
  tool_call_id text
    constraint messages_tool_call_id_length check (tool_call_id is null or char_length(tool_call_id) between 1 and 200),
  tool_name text
    constraint messages_tool_name_length check (tool_name is null or char_length(tool_name) between 1 and 200),
  token_count integer not null
    constraint messages_token_count_non_negative check (token_count >= 0),
  token_count_exact boolean not null default false,
  metadata jsonb not null default '{}'
    constraint messages_metadata_is_object check (jsonb_typeof(metadata) = 'object'),
  fts tsvector generated always as (to_tsvector('english'::regconfig, left(content, 250000))) stored,
  created_at timestamptz not null default clock_timestamp(),
  constraint messages_tool_result_has_call_id check (role <> 'tool' or tool_call_id is not null)
);

comment on table public.messages is 'Messages of a thread, strictly ordered by (created_at, id) within it.';
comment on column public.messages.token_count is
  'Tokens of content: exact when token_count_exact, else private.estimate_tokens(content).';
comment on column public.messages.fts is 'English full-text vector of the first 250,000 characters of content.';

-- load_messages (both directions) and build_context: one thread's messages in (created_at, id) order.
create index messages_thread_created_idx on public.messages (thread_id, created_at, id);
-- build_context: a thread's system messages without walking the whole thread.
create index messages_thread_system_idx on public.messages (thread_id, created_at, id) where role = 'system';
-- Keyword search.
create index messages_fts_idx on public.messages using gin (fts);

-- private.messages_before_write() → trigger
--   BEFORE INSERT OR UPDATE row trigger on messages, run as the caller:
--   insert: locks the thread row (PT404 "thread <id> not found" if the caller cannot see it), copies its
--           owner_id, assigns created_at (strictly after the thread's newest message), checks the content
--           size, and estimates token_count when none is given;
--   update: id, thread_id, owner_id and created_at cannot change (22023); changed content is size-checked
--           and re-estimated unless a new token_count comes with it.
--   Content larger than setting messages.max_content_bytes (default 1 MiB) raises 22001.
create or replace function private.messages_before_write()
returns trigger
language plpgsql
security invoker
-- Index range scans regardless of statistics (see the file header).
set enable_sort = off
set enable_bitmapscan = off
as $$
declare
  thread_owner uuid;
  max_bytes bigint;
begin
  if tg_op = 'INSERT' then
    select t.owner_id into thread_owner
      from public.memory_threads t
     where t.id = new.thread_id
       for no key update;
    if not found then
      raise exception 'thread % not found', new.thread_id using errcode = 'PT404';
    end if;
    new.owner_id := thread_owner;
    new.created_at := greatest(clock_timestamp(),
      (select m.created_at + interval '1 microsecond'
         from public.messages m
        where m.thread_id = new.thread_id
        order by m.created_at desc, m.id desc
        limit 1));
  else
    if new.id <> old.id or new.thread_id <> old.thread_id or new.owner_id <> old.owner_id
       or new.created_at <> old.created_at then
      raise exception 'a message''s id, thread_id, owner_id and created_at cannot be changed' using errcode = '22023';
    end if;
    if new.content is not distinct from old.content then
      return new;
    end if;
    if new.token_count is not distinct from old.token_count then
      new.token_count := null;
    end if;
  end if;

  max_bytes := (private.setting('messages', 'max_content_bytes', '1048576') #>> '{}')::bigint;
  if octet_length(new.content) > max_bytes then
    raise exception 'content is % bytes; the maximum is % bytes', octet_length(new.content), max_bytes
      using errcode = '22001', hint = 'The limit is the setting messages.max_content_bytes.';
  end if;
  if new.token_count is null then
    new.token_count := private.estimate_tokens(new.content);
    new.token_count_exact := false;
  end if;
  return new;
end
$$;
revoke all on function private.messages_before_write() from public, anon, authenticated;

create trigger messages_before_write before insert or update on public.messages
  for each row execute function private.messages_before_write();

-- private.messages_after_insert() → trigger
--   AFTER INSERT statement trigger (transition table): bumps updated_at of every thread that received
--   messages, once per statement however many rows it inserted.
create or replace function private.messages_after_insert()
returns trigger
language plpgsql
security invoker
as $$
begin
  update public.memory_threads t
     set updated_at = clock_timestamp()
   where t.id in (select distinct n.thread_id from new_messages n);
  return null;
end
$$;
revoke all on function private.messages_after_insert() from public, anon, authenticated;

create trigger messages_after_insert after insert on public.messages
  referencing new table as new_messages
  for each statement execute function private.messages_after_insert();

alter table public.messages enable row level security;

create policy "owners can read their messages" on public.messages
  for select to authenticated using (owner_id = (select auth.uid()));
create policy "owners can add messages to their threads" on public.messages
  for insert to authenticated with check (owner_id = (select auth.uid()));
create policy "owners can update their messages" on public.messages
  for update to authenticated using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
create policy "owners can delete their messages" on public.messages
  for delete to authenticated using (owner_id = (select auth.uid()));

revoke all on public.messages from anon;
revoke truncate, references, trigger on public.messages from authenticated;
grant select, insert, update, delete on public.messages to authenticated;
grant all on public.messages to service_role;
