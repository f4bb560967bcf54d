-- memory_threads: one conversation (or task memory) owned by a user. Messages and agent states hang off a
-- thread and are deleted with it. The thread carries the rolling `summary` of its older messages and
-- `summary_through`, the cursor of the last message that summary covers (written by the summarisation
-- job; build_context uses both). `expires_at` gives it a time to live: util.prune_expired() deletes
-- expired threads (see the TTL migration).
--
-- Clients use the thread RPCs (create_thread, get_thread, list_threads, update_thread, delete_thread);
-- the table is also reachable through the Data API under the same row level security.

create table public.memory_threads (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  -- Which agent converses in this thread: an agents.id for configured agents, any name otherwise.
  agent_id text
    constraint memory_threads_agent_id_length check (agent_id is null or char_length(agent_id) between 1 and 200),
  name text
    constraint memory_threads_name_length check (name is null or char_length(name) <= 1000),
  metadata jsonb not null default '{}'
    constraint memory_threads_metadata_is_object check (jsonb_typeof(metadata) = 'object'),
  summary text,
  summary_through text,
  summary_token_count integer
    constraint memory_threads_summary_token_count_non_negative check (summary_token_count is null or summary_token_count >= 0),
  expires_at timestamptz,
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp()
);

comment on table public.memory_threads is
  'Conversation threads owned by a user; messages and agent states cascade from them.';
comment on column public.memory_threads.summary is 'Rolling summary of the messages up to summary_through.';
comment on column public.memory_threads.summary_through is
  'Message cursor (as returned by load_messages) of the last message the summary covers.';
comment on column public.memory_threads.summary_token_count is 'Estimated tokens of summary (set on write).';
comment on column public.memory_threads.expires_at is 'When set, util.prune_expired() deletes the thread after this time.';

-- list_threads: a user's threads newest first, optionally for one agent; keyset on (created_at, id).
create index memory_threads_owner_created_idx on public.memory_threads (owner_id, created_at desc, id desc);
create index memory_threads_owner_agent_created_idx
  on public.memory_threads (owner_id, agent_id, created_at desc, id desc);
-- list_threads' metadata filter (metadata @> filter).
create index memory_threads_metadata_idx on public.memory_threads using gin (metadata jsonb_path_ops);
-- util.prune_expired(): the expired threads, oldest expiry first.
create index memory_threads_expires_at_idx on public.memory_threads (expires_at) where expires_at is not null;

-- private.memory_threads_before_write() → trigger
--   BEFORE INSERT OR UPDATE row trigger on memory_threads: keeps updated_at current, validates
--   summary_through as a message cursor (22023 otherwise) and re-estimates summary_token_count whenever
--   the summary changes. Runs as the caller.
create or replace function private.memory_threads_before_write()
returns trigger
language plpgsql
security invoker
as $$
begin
  if tg_op = 'UPDATE' then
    new.updated_at := clock_timestamp();
  end if;
  if new.summary_through is not null and (tg_op = 'INSERT' or new.summary_through is distinct from old.summary_through) then
    perform private.decode_cursor(new.summary_through, 'm', 'summary_through');
  end if;
  if tg_op = 'INSERT' or new.summary is distinct from old.summary then
    new.summary_token_count := private.estimate_tokens(new.summary);
  end if;
  return new;
end
$$;
revoke all on function private.memory_threads_before_write() from public, anon, authenticated;

create trigger memory_threads_before_write before insert or update on public.memory_threads
  for each row execute function private.memory_threads_before_write();

alter table public.memory_threads enable row level security;

create policy "owners can read their threads" on public.memory_threads
  for select to authenticated using (owner_id = (select auth.uid()));
create policy "users can create threads they own" on public.memory_threads
  for insert to authenticated with check (owner_id = (select auth.uid()));
create policy "owners can update their threads" on public.memory_threads
  for update to authenticated using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
create policy "owners can delete their threads" on public.memory_threads
  for delete to authenticated using (owner_id = (select auth.uid()));

revoke all on public.memory_threads from anon;
revoke truncate, references, trigger on public.memory_threads from authenticated;
grant select, insert, update, delete on public.memory_threads to authenticated;
grant all on public.memory_threads to service_role;
