-- Long-term memories: what an agent should remember about a user across threads — facts ("Lives in
-- Berlin."), preferences ("Prefers short answers.") and events ("Moved to Berlin in May 2026.") — and
-- memory_history, the record of every change to them.
--
-- A memory is never edited in place. A newer fact supersedes an older one without erasing it, as Zep's
-- temporal facts do: the new version is a new row with `supersedes` = the old id, and the old row gets
-- `invalid_at` (when it stopped being true: the new version's valid_from) and `superseded_by`. Forgetting is
-- soft too: invalid_at = now() and a reason. "Valid" means invalid_at is null; searches and
-- build_context see only valid memories unless asked otherwise. The rows can be read (and forgotten, or
-- deleted outright by their owner) through the Data API under row level security; content, kind, agent,
-- sources and valid_from cannot change after the insert (22023).
--
-- memory_history gets one row per change, written by triggers so no write path can skip it:
--   add       a new memory (memory_id = it)
--   update    a new version (memory_id = the new row, previous_memory_id = the one it supersedes, with the
--             old and the new content)
--   forget    a memory invalidated without a successor (reason = invalid_reason)
--   metadata  its metadata changed (details: old and new metadata)
-- with the source of the change ('manual': an API call or a direct write; 'extraction': the extraction job),
-- the thread and messages it came from, and details the writer attached (the extraction job passes its
-- decision: which memories the candidate was matched against, with their scores). Only the triggers write
-- it; owners read their own.
--
-- Memories are embedded by the embedding pipeline (util.register_embedding_source) and ranked by BM25
-- (util.register_bm25_source), so the retrieval RPCs search them as source 'memories'
-- (20261205000600_memory_search.sql).

create type public.memory_kind as enum ('fact', 'preference', 'event');
comment on type public.memory_kind is 'What a long-term memory is: a fact, a preference or an event.';

create table public.memories (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  -- The agent the memory belongs to; null: shared by all of the user's agents.
  agent_id text
    constraint memories_agent_id_length check (agent_id is null or char_length(agent_id) between 1 and 200),
  kind public.memory_kind not null default 'fact',
  content text not null
    constraint memories_content_not_blank check (content ~ '\S'),
  source text not null default 'manual'
    constraint memories_source_known check (source in ('manual', 'extraction')),
  source_thread_id uuid references public.memory_threads (id) on delete set null,
  source_message_ids uuid[] not null default '{}',
  supersedes uuid references public.memories (id) on delete set null,
  superseded_by uuid references public.memories (id) on delete set null,
  valid_from timestamptz not null default clock_timestamp(),
  invalid_at timestamptz,
  invalid_reason text
    constraint memories_invalid_reason_length check (invalid_reason is null or char_length(invalid_reason) <= 2000),
  metadata jsonb not null default '{}'
    constraint memories_metadata_is_object check (jsonb_typeof(metadata) = 'object'),
  token_count integer not null
    constraint memories_token_count_non_negative check (token_count >= 0),
  token_count_exact boolean not null default false,
  fts tsvector generated always as (to_tsvector('english'::regconfig, left(content, 250000))) stored,
  fts_length integer generated always as
    (private.tsvector_token_count(to_tsvector('english'::regconfig, left(content, 250000)))) stored,
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp()
);
comment on table public.memories is
  'Long-term memories of a user (facts, preferences, events) with their validity interval; a newer version supersedes an older one, which is kept.';
comment on column public.memories.valid_from is 'Since when the memory holds (for extracted memories: the time of the message it came from).';
comment on column public.memories.invalid_at is 'When it stopped holding (superseded or forgotten); null while valid.';
comment on column public.memories.supersedes is 'The earlier version this memory replaced.';
comment on column public.memories.superseded_by is 'The newer version that replaced this memory.';
comment on column public.memories.fts is 'English full-text vector of the content (BM25).';
comment on column public.memories.fts_length is 'BM25 document length: token positions in fts.';

-- list_memories: an owner's memories newest first; build_context / searches: the valid ones of an agent.
create index memories_owner_created_idx on public.memories (owner_id, created_at desc, id desc);
create index memories_owner_agent_valid_idx on public.memories (owner_id, agent_id) where invalid_at is null;
create index memories_fts_idx on public.memories using gin (fts) with (fastupdate = off);
create index memories_supersedes_idx on public.memories (supersedes) where supersedes is not null;
create index memories_superseded_by_idx on public.memories (superseded_by) where superseded_by is not null;
create index memories_source_thread_idx on public.memories (source_thread_id) where source_thread_id is not null;
-- Scoring reads each candidate's tsvector: keep it in the row (see the BM25 migration).
alter table public.memories alter column fts set storage main;

create table public.memory_history (
  id bigint generated always as identity primary key,
  memory_id uuid not null references public.memories (id) on delete cascade,
  owner_id uuid not null references auth.users (id) on delete cascade,
  event text not null
    constraint memory_history_event_known check (event in ('add', 'update', 'forget', 'metadata')),
  previous_memory_id uuid references public.memories (id) on delete set null,
  kind public.memory_kind not null,
  old_content text,
  new_content text,
  source text not null
    constraint memory_history_source_known check (source in ('manual', 'extraction')),
  source_thread_id uuid,
  source_message_ids uuid[] not null default '{}',
  reason text,
  details jsonb not null default '{}'
    constraint memory_history_details_is_object check (jsonb_typeof(details) = 'object'),
  -- Who made the change: the signed-in user, or null for service_role and the jobs.
  actor_id uuid,
  created_at timestamptz not null default clock_timestamp()
);
comment on table public.memory_history is
  'Every change to a long-term memory (add, update, forget, metadata) with its source; written by triggers only.';
create index memory_history_memory_idx on public.memory_history (memory_id, id);
create index memory_history_previous_idx on public.memory_history (previous_memory_id) where previous_memory_id is not null;
create index memory_history_owner_idx on public.memory_history (owner_id, id desc);

-- private.memories_before_write() → trigger
--   BEFORE INSERT OR UPDATE row trigger on memories, run as the caller (row level security decides what
--   it can see):
--   insert: content must not be blank (22023) and is at most 10,000 characters (22001); token_count is
--           estimated when not given; every source message must be one of the owner's messages (and of
--           source_thread_id when given) — PT404 naming it otherwise; a memory it supersedes must be the
--           owner's (PT404) and still valid (PT409), and is locked until the insert commits.
--   update: only invalid_at (once: null → a time), invalid_reason, superseded_by (once, to a version that
--           supersedes this one), metadata and the token count may change (22023 otherwise); supersedes and
--           superseded_by become null when the row they name is deleted (their foreign keys' action).
create or replace function private.memories_before_write()
returns trigger
language plpgsql
security invoker
as $$
declare
  previous public.memories;
  missing uuid;
begin
  if tg_op = 'INSERT' then
    if new.content is null or new.content !~ '\S' then
      raise exception 'content must not be empty' using errcode = '22023',
        hint = 'A memory is one short statement, e.g. "Lives in Berlin."';
    end if;
    if char_length(new.content) > 10000 then
      raise exception 'content is % characters; a memory is at most 10000', char_length(new.content) using errcode = '22001';
    end if;
    if new.token_count is null then
      new.token_count := private.estimate_tokens(new.content);
      new.token_count_exact := false;
    end if;
    new.source_message_ids := coalesce(new.source_message_ids, '{}');
    if cardinality(new.source_message_ids) > 0 then
      select s into missing from unnest(new.source_message_ids) s
       where not exists (select from public.messages m where m.id = s and m.owner_id = new.owner_id
                            and (new.source_thread_id is null or m.thread_id = new.source_thread_id))
       limit 1;
      if missing is not null then
        raise exception 'source message % not found', missing using errcode = 'PT404',
          hint = 'source_message_ids must be messages of the memory''s owner (and of source_thread_id when given).';
      end if;
    end if;
    if new.supersedes is not null then
      select * into previous from public.memories p where p.id = new.supersedes for update;
      if not found or previous.owner_id <> new.owner_id then
        raise exception 'memory % not found', new.supersedes using errcode = 'PT404';
      end if;
      if previous.invalid_at is not null then
        raise exception 'memory % is no longer valid (it was %)', new.supersedes,
          case when previous.superseded_by is not null then 'superseded by ' || previous.superseded_by else 'forgotten' end
          using errcode = 'PT409', hint = 'Update the memory''s current version.';
      end if;
    end if;
    new.invalid_at := null;
    new.superseded_by := null;
    new.created_at := clock_timestamp();
  else
    if new.id <> old.id or new.owner_id <> old.owner_id or new.agent_id is distinct from old.agent_id
       or new.kind <> old.kind or new.content <> old.content or new.source <> old.source
       or new.source_thread_id is distinct from old.source_thread_id or new.source_message_ids <> old.source_message_ids
       -- (supersedes may only become null: the foreign key's action when the earlier version is deleted)
       or (new.supersedes is distinct from old.supersedes and new.supersedes is not null)
       or new.valid_from <> old.valid_from or new.created_at <> old.created_at then
      raise exception 'a memory''s content, kind, agent, sources and validity start cannot change'
        using errcode = '22023', hint = 'Use update_memory, which keeps the old version, or forget_memory.';
    end if;
    if new.invalid_at is distinct from old.invalid_at and (old.invalid_at is not null or new.invalid_at is null) then
      raise exception 'a memory that was superseded or forgotten cannot be made valid again' using errcode = '22023',
        hint = 'Remember it anew (remember_fact).';
    end if;
    if new.invalid_at is not null and new.invalid_at < new.valid_from then
      new.invalid_at := new.valid_from;
    end if;
    -- superseded_by is set once, by the newer version's insert, or cleared by the foreign key's action when
    -- that version is deleted.
    if new.superseded_by is distinct from old.superseded_by
       and (case when new.superseded_by is null
                 then exists (select from public.memories n where n.id = old.superseded_by)
                 else old.superseded_by is not null
                      or not exists (select from public.memories n where n.id = new.superseded_by and n.supersedes = old.id) end) then
      raise exception 'superseded_by is set by inserting a memory that supersedes this one' using errcode = '22023';
    end if;
    new.updated_at := clock_timestamp();
  end if;
  return new;
end
$$;
revoke all on function private.memories_before_write() from public, anon, authenticated;

create trigger memories_before_write before insert or update on public.memories
  for each row execute function private.memories_before_write();

-- private.memories_supersede() → trigger
--   AFTER INSERT row trigger on memories, run as the caller: a new version invalidates the memory it
--   supersedes (invalid_at = the new version's valid_from, superseded_by = it). After the insert, because
--   superseded_by must reference an existing row.
create or replace function private.memories_supersede()
returns trigger
language plpgsql
security invoker
as $$
begin
  update public.memories p
     set invalid_at = greatest(new.valid_from, p.valid_from), superseded_by = new.id
   where p.id = new.supersedes;
  return null;
end
$$;
revoke all on function private.memories_supersede() from public, anon, authenticated;

create trigger memories_supersede after insert on public.memories
  for each row when (new.supersedes is not null) execute function private.memories_supersede();

-- private.memories_history() → trigger
--   AFTER INSERT OR UPDATE row trigger on memories: writes the memory_history row for the change (see the
--   header). Details come from the transaction-local setting agent_memory.history_details (a JSON object a
--   writer such as the extraction job sets just before its insert), else {}. Security definer: users
--   cannot write the history themselves.
create or replace function private.memories_history()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  extra jsonb := coalesce(nullif(current_setting('agent_memory.history_details', true), '')::jsonb, '{}');
begin
  if jsonb_typeof(extra) <> 'object' then
    extra := jsonb_build_object('details', extra);
  end if;
  if tg_op = 'INSERT' then
    insert into public.memory_history (memory_id, owner_id, event, previous_memory_id, kind, old_content, new_content,
                                       source, source_thread_id, source_message_ids, details, actor_id)
    values (new.id, new.owner_id, case when new.supersedes is null then 'add' else 'update' end, new.supersedes, new.kind,
            (select p.content from public.memories p where p.id = new.supersedes), new.content,
            new.source, new.source_thread_id, new.source_message_ids, extra, auth.uid());
    return null;
  end if;
  -- Superseding is recorded by the new version's 'update' row; a plain invalidation is a forget.
  if old.invalid_at is null and new.invalid_at is not null and new.superseded_by is null then
    insert into public.memory_history (memory_id, owner_id, event, kind, old_content, source, source_thread_id,
                                       reason, details, actor_id)
    values (new.id, new.owner_id, 'forget', new.kind, new.content,
            case when extra ->> 'source' = 'extraction' then 'extraction' else 'manual' end,
            new.source_thread_id, new.invalid_reason, extra - 'source', auth.uid());
  end if;
  if new.metadata is distinct from old.metadata then
    insert into public.memory_history (memory_id, owner_id, event, kind, source, reason, details, actor_id)
    values (new.id, new.owner_id, 'metadata', new.kind, 'manual', null,
            extra || jsonb_build_object('old_metadata', old.metadata, 'new_metadata', new.metadata), auth.uid());
  end if;
  return null;
end
$$;
revoke all on function private.memories_history() from public, anon, authenticated;

create trigger memories_history after insert or update on public.memories
  for each row execute function private.memories_history();

alter table public.memories enable row level security;
alter table public.memory_history enable row level security;

create policy "owners can read their memories" on public.memories
  for select to authenticated using (owner_id = (select auth.uid()));
create policy "users can add memories they own" on public.memories
  for insert to authenticated with check (owner_id = (select auth.uid()));
create policy "owners can forget or annotate their memories" on public.memories
  for update to authenticated using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
create policy "owners can delete their memories" on public.memories
  for delete to authenticated using (owner_id = (select auth.uid()));
create policy "owners can read their memory history" on public.memory_history
  for select to authenticated using (owner_id = (select auth.uid()));

revoke all on public.memories, public.memory_history from anon;
revoke truncate, references, trigger on public.memories from authenticated;
grant select, insert, update, delete on public.memories to authenticated;
revoke insert, update, delete, truncate, references, trigger on public.memory_history from authenticated;
grant select on public.memory_history to authenticated;
grant all on public.memories, public.memory_history to service_role;

-- Automatic embeddings (token_count becomes exact, counted with the embedding model's tokenizer) and BM25.
select util.register_embedding_source(
  source => 'public.memories',
  content_column => 'content',
  owner_column => 'owner_id',
  token_count_column => 'token_count',
  token_count_exact_column => 'token_count_exact'
);
comment on column public.memories.content_hash is 'sha256 (hex) of content; embedding jobs and embeddings refer to it.';
select util.register_bm25_source('public.memories');
