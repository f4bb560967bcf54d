-- Incremental thread summaries: the SQL side of the `summarize` Edge Function.
--
-- A summary step reads the messages after summary_through — at most summaries.max_input_tokens of them,
-- never the newest summaries.keep_recent_tokens, which build_context keeps verbatim — and the function
-- writes a summary that EXTENDS the current one with them (a chat model, or the offline extractive
-- summarizer). Storing it moves summary_through to the newest message it read, in one transaction with
-- the job's deletion; a run continues step by step (a follow-up job per step) until only the recent tail
-- is left. No message is ever changed or deleted by summarizing. Every step is kept in thread_summaries
-- (the summary, what it was based on, the range of messages it added, how it was made), so a summary can
-- be traced back to its messages.
--
-- Staleness: editing or deleting a message the summary covers marks the steps that included it stale and
-- the thread's summary stale from that message (thread_memory_progress.summary_stale_from), and queues a
-- rebuild: the next step starts again from the newest step that ended before the change (or from nothing)
-- and re-summarizes forward. Until then the old summary stays in place.
--
-- Concurrency: the cron worker and a manual run (SDK generateThreadSummary) may work on the same thread;
-- a step is stored only if the thread's summary, summary_through and summary_version are still the ones
-- it read, so the later writer always starts from the earlier one's result.

create table public.thread_summaries (
  id bigint generated always as identity primary key,
  thread_id uuid not null references public.memory_threads (id) on delete cascade,
  owner_id uuid not null references auth.users (id) on delete cascade,
  summary text not null,
  token_count integer not null
    constraint thread_summaries_token_count_non_negative check (token_count >= 0),
  -- The step this one extended (null: it started from no summary, or from a summary written by hand).
  based_on bigint references public.thread_summaries (id) on delete set null,
  -- Cursors of the first and the last message this step added (summary_through is the thread's new one).
  summarized_from text not null,
  summary_through text not null,
  through_created_at timestamptz not null,
  through_id uuid not null,
  message_count integer not null
    constraint thread_summaries_message_count_positive check (message_count > 0),
  input_tokens integer not null,
  provider text not null
    constraint thread_summaries_provider_known check (provider in ('chat', 'extractive')),
  model text,
  trigger text not null
    constraint thread_summaries_trigger_known check (trigger in ('job', 'manual')),
  -- True once a message this step covered was edited or deleted: a rebuild never starts from it.
  stale boolean not null default false,
  created_at timestamptz not null default clock_timestamp()
);
comment on table public.thread_summaries is
  'Every incremental summary step of a thread: the summary, the step it extended, the messages it added, provider and model.';
create index thread_summaries_thread_idx on public.thread_summaries (thread_id, id desc);
create index thread_summaries_thread_through_idx on public.thread_summaries (thread_id, through_created_at, through_id) where not stale;

alter table public.thread_summaries enable row level security;
create policy "owners can read their thread summaries" on public.thread_summaries
  for select to authenticated using (owner_id = (select auth.uid()));
revoke all on public.thread_summaries from anon;
revoke insert, update, delete, truncate, references, trigger on public.thread_summaries from authenticated;
grant select on public.thread_summaries to authenticated;
grant all on public.thread_summaries to service_role;

-- private.memory_threads_before_write() → trigger (replaces 20261121001200_memory_threads.sql's)
--   As before — keeps updated_at current, validates summary_through as a message cursor (22023), estimates
--   summary_token_count when the summary changes — except that a writer changing the summary AND giving a
--   new summary_token_count (the summarize worker, which counts with js-tiktoken) keeps its exact count.
--   (Should the exact count of a new summary equal the old one's, it is re-estimated: an approximation,
--   never a wrong budget — build_context charges whatever count is stored.)
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
    if tg_op = 'INSERT' or new.summary is null or new.summary_token_count is null
       or new.summary_token_count is not distinct from old.summary_token_count then
      new.summary_token_count := private.estimate_tokens(new.summary);
    end if;
  end if;
  return new;
end
$$;

-- private.thread_tokenizer(thread_id uuid) → text
--   The js-tiktoken encoding the thread's token counts are measured with: its agent's model's tokenizer,
--   else 'o200k_base' (as private.message_tokenizers).
create or replace function private.thread_tokenizer(thread_id uuid)
returns text
language sql
stable
security invoker
set search_path = ''
as $$
  select coalesce((select mo.tokenizer from public.memory_threads t
                     join public.agents a on a.id = t.agent_id
                     join public.models mo on mo.id = a.model_id
                    where t.id = thread_tokenizer.thread_id), 'o200k_base')
$$;
revoke all on function private.thread_tokenizer(uuid) from public, anon, authenticated;

-- private.summary_stale_on_change() → trigger
--   AFTER UPDATE and AFTER DELETE statement trigger on messages (transition tables): when the content of a
--   message the thread's summary covers (at or before summary_through) changes, or such a message is
--   deleted, marks the summary stale from the oldest such message (summary_stale_from, summary_version + 1),
--   marks every summary step that covered it stale, and — when summaries are enabled and no job is
--   pending — queues a rebuild job (reason 'stale'). Token-count updates (the embedding worker's) change no
--   content and cost one join over the statement's rows. Security definer: writers cannot write the
--   progress table or the queue.
create or replace function private.summary_stale_on_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  stamp constant timestamptz := clock_timestamp();
  summaries_on constant boolean := coalesce((private.setting('summaries', 'enabled', 'false') #>> '{}')::boolean, false);
  h record;
  jobs jsonb[] := '{}';
  queued_at timestamptz;
  changed text := case tg_op
    when 'UPDATE' then 'select n.thread_id, n.owner_id, n.created_at, n.id from new_rows n join old_rows o on o.id = n.id
                         where n.content is distinct from o.content'
    else 'select o.thread_id, o.owner_id, o.created_at, o.id from old_rows o' end;
begin
  -- The oldest changed message per thread among those its summary covers (usually none at all).
  for h in execute format($q$
    select distinct on (c.thread_id) c.thread_id, c.owner_id, c.created_at, c.id
      from (%s) c
      join public.memory_threads t on t.id = c.thread_id and t.summary_through is not null
      cross join lateral private.decode_cursor(t.summary_through, 'm', 'summary_through') s
     where (c.created_at, c.id) <= (s.created_at, s.id)
     order by c.thread_id, c.created_at, c.id$q$, changed)
  loop
    update public.thread_summaries s set stale = true
     where s.thread_id = h.thread_id and not s.stale and (s.through_created_at, s.through_id) >= (h.created_at, h.id);
    insert into public.thread_memory_progress as p (thread_id, owner_id, summary_stale_from, summary_version,
                                                    summary_queued, summary_queued_at)
    values (h.thread_id, h.owner_id, private.encode_cursor('m', h.created_at, h.id), 1, summaries_on,
            case when summaries_on then stamp end)
    on conflict on constraint thread_memory_progress_pkey do update
      set summary_stale_from = case
            when p.summary_stale_from is null
                 or (select (d.created_at, d.id) > (h.created_at, h.id)
                       from private.decode_cursor(p.summary_stale_from, 'm', 'summary_stale_from') d)
            then excluded.summary_stale_from else p.summary_stale_from end,
          summary_version = p.summary_version + 1,
          summary_queued = p.summary_queued or summaries_on,
          summary_queued_at = case when not p.summary_queued and summaries_on then stamp else p.summary_queued_at end,
          updated_at = stamp
    returning p.summary_queued_at into queued_at;
    if queued_at = stamp then
      jobs := jobs || jsonb_build_object('thread_id', h.thread_id, 'owner_id', h.owner_id, 'reason', 'stale');
    end if;
  end loop;
  if cardinality(jobs) > 0 then
    perform pgmq.send_batch('summary_jobs', jobs);
  end if;
  return null;
end
$$;
revoke all on function private.summary_stale_on_change() from public, anon, authenticated;

create trigger summary_stale_on_update after update on public.messages
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.summary_stale_on_change();
create trigger summary_stale_on_delete after delete on public.messages
  referencing old table as old_rows
  for each statement execute function private.summary_stale_on_change();

-- util.summary_step_input(thread_id uuid, keep_recent_tokens integer default null,
--     max_input_tokens integer default null) → jsonb
--   What one summary step works on, or null when the thread no longer exists:
--     {thread_id, owner_id, agent_id, tokenizer, version, expected_through, expected_summary_md5,
--      rebuild, base: {id, summary, summary_through} (what the step extends; summary null: none),
--      messages: [{id, role, content, tool_name, token_count, created_at, cursor}, …] (chronological),
--      input_tokens, more (summarizable messages remain after these), tail_tokens, settings (summaries.*)}
--   The messages are the non-system ones after the base's summary_through, excluding the newest ones whose
--   tokens add up to at most keep_recent_tokens (default summaries.keep_recent_tokens), cut after
--   max_input_tokens (default summaries.max_input_tokens; at least one message). The base is the thread's
--   current summary, or — when the summary is stale — the newest step that ended before the changed
--   message (none when there is no such step). Index range scans only: the cost follows the tail and the
--   batch, not the thread. Caller: the summarize function (as postgres).
create or replace function util.summary_step_input(
  thread_id uuid,
  keep_recent_tokens integer default null,
  max_input_tokens integer default null
)
returns jsonb
language plpgsql
stable
security invoker
-- Index range scans regardless of statistics (see the header of 20261121001300_messages.sql).
set enable_sort = off
set enable_bitmapscan = off
as $$
declare
  cfg jsonb := util.long_term_settings() -> 'summaries';
  keep bigint := coalesce(keep_recent_tokens, (cfg ->> 'keep_recent_tokens')::bigint);
  max_in bigint := coalesce(max_input_tokens, (cfg ->> 'max_input_tokens')::bigint);
  t public.memory_threads;
  p public.thread_memory_progress;
  rebuild boolean := false;
  base_id bigint;
  base_summary text;
  base_through text;
  start_at timestamptz := '-infinity';
  start_id uuid := '00000000-0000-0000-0000-000000000000';
  stale_at timestamptz;
  stale_id uuid;
  boundary_at timestamptz;
  boundary_id uuid;
  tail bigint := 0;
  m public.messages;
  batch jsonb[] := '{}';
  used bigint := 0;
  more boolean := false;
begin
  if keep < 0 or max_in < 1 then
    raise exception 'keep_recent_tokens must be >= 0 and max_input_tokens positive (got %, %)', keep, max_in using errcode = '22023';
  end if;
  select * into t from public.memory_threads x where x.id = summary_step_input.thread_id;
  if not found then
    return null;
  end if;
  select * into p from public.thread_memory_progress x where x.thread_id = summary_step_input.thread_id;

  if p.summary_stale_from is not null then
    rebuild := true;
    select d.created_at, d.id into stale_at, stale_id from private.decode_cursor(p.summary_stale_from, 'm', 'summary_stale_from') d;
    select s.id, s.summary, s.summary_through into base_id, base_summary, base_through
      from public.thread_summaries s
     where s.thread_id = t.id and not s.stale and (s.through_created_at, s.through_id) < (stale_at, stale_id)
     order by s.through_created_at desc, s.through_id desc, s.id desc
     limit 1;
  else
    base_summary := t.summary;
    base_through := t.summary_through;
    select s.id into base_id from public.thread_summaries s
     where s.thread_id = t.id and not s.stale and s.summary_through = t.summary_through and s.summary = t.summary
     order by s.id desc limit 1;
  end if;
  if base_through is not null then
    select d.created_at, d.id into start_at, start_id from private.decode_cursor(base_through, 'm', 'summary_through') d;
  end if;

  -- The recent tail stays verbatim: walk back from the newest message until it is full.
  for m in
    select * from public.messages o
     where o.thread_id = t.id and (o.created_at, o.id) > (start_at, start_id) and o.role <> 'system'
     order by o.created_at desc, o.id desc
  loop
    if tail + m.token_count > keep then
      boundary_at := m.created_at;
      boundary_id := m.id;
      exit;
    end if;
    tail := tail + m.token_count;
  end loop;

  if boundary_at is not null then
    for m in
      select * from public.messages o
       where o.thread_id = t.id and (o.created_at, o.id) > (start_at, start_id)
         and (o.created_at, o.id) <= (boundary_at, boundary_id) and o.role <> 'system'
       order by o.created_at, o.id
    loop
      if cardinality(batch) > 0 and used + m.token_count > max_in then
        more := true;
        exit;
      end if;
      batch := batch || jsonb_build_object('id', m.id, 'role', m.role, 'content', m.content, 'tool_name', m.tool_name,
        'token_count', m.token_count, 'created_at', m.created_at, 'cursor', private.encode_cursor('m', m.created_at, m.id));
      used := used + m.token_count;
    end loop;
  end if;

  return jsonb_build_object(
    'thread_id', t.id, 'owner_id', t.owner_id, 'agent_id', t.agent_id, 'tokenizer', private.thread_tokenizer(t.id),
    'version', coalesce(p.summary_version, 0), 'expected_through', t.summary_through,
    'expected_summary_md5', md5(coalesce(t.summary, '')), 'rebuild', rebuild,
    'base', jsonb_build_object('id', base_id, 'summary', base_summary, 'summary_through', base_through),
    'messages', to_jsonb(batch), 'input_tokens', used, 'more', more, 'tail_tokens', tail, 'settings', cfg);
end
$$;
revoke all on function util.summary_step_input(uuid, integer, integer) from public, anon, authenticated;

-- private.unsummarized_tokens(thread_id uuid) → bigint
--   Exact tokens of the non-system messages after the thread's summary_through (all of them without one).
--   Called when a summary run ends, when only the recent tail is left after summary_through.
create or replace function private.unsummarized_tokens(thread_id uuid)
returns bigint
language plpgsql
stable
security invoker
set search_path = ''
set enable_sort = off
set enable_bitmapscan = off
as $$
declare
  through text := (select t.summary_through from public.memory_threads t where t.id = unsummarized_tokens.thread_id);
  after_at timestamptz := '-infinity';
  after_id uuid := '00000000-0000-0000-0000-000000000000';
begin
  if through is not null then
    select d.created_at, d.id into after_at, after_id from private.decode_cursor(through, 'm', 'summary_through') d;
  end if;
  return (select coalesce(sum(o.token_count), 0) from public.messages o
           where o.thread_id = unsummarized_tokens.thread_id and (o.created_at, o.id) > (after_at, after_id)
             and o.role <> 'system');
end
$$;
revoke all on function private.unsummarized_tokens(uuid) from public, anon, authenticated;

-- util.store_summary_step(thread_id uuid, step jsonb, msg_id bigint default null) → jsonb
--   Stores the result of one step of util.summary_step_input and, for a job (msg_id), deletes the job — in
--   one transaction. step = the input's {version, expected_through, expected_summary_md5, rebuild, base,
--   more} plus {summary, token_count, summarized_from, summary_through, message_count, input_tokens,
--   provider, model} (summary null when the input had no messages). Returns {outcome, summary_id, more}:
--     stored    the summary, summary_through and exact token count are the thread's, the step is in
--               thread_summaries; a stale summary is no longer stale. A job with more to do is replaced by
--               a follow-up job; otherwise the thread's queued flag is cleared, its unsummarized tokens
--               recomputed, and a new job queued if they already reach the threshold again.
--     nothing   there was nothing to summarize (a rebuild without messages falls back to its base).
--     conflict  the thread's summary changed since the input was read (another run, an edit): nothing is
--               stored; a job is replaced by a fresh one, which reads the new state.
--     gone      the thread was deleted; the job is deleted.
--   Raises 22023 for a step without the fields it needs. Caller: the summarize function (as postgres).
create or replace function util.store_summary_step(thread_id uuid, step jsonb, msg_id bigint default null)
returns jsonb
language plpgsql
volatile
security invoker
as $$
declare
  t public.memory_threads;
  p public.thread_memory_progress;
  through_at timestamptz;
  through_id uuid;
  summary_id bigint;
  outcome text;
  more boolean := coalesce((step ->> 'more')::boolean, false);
  is_job boolean := msg_id is not null;
  cfg jsonb := util.long_term_settings() -> 'summaries';
  remaining bigint;
begin
  if step is null or jsonb_typeof(step) <> 'object' or not step ? 'version' then
    raise exception 'step must be the summary step input with the result fields' using errcode = '22023';
  end if;
  select * into t from public.memory_threads x where x.id = store_summary_step.thread_id for update;
  if not found then
    if is_job then
      perform pgmq.delete('summary_jobs', msg_id);
    end if;
    return jsonb_build_object('outcome', 'gone', 'summary_id', null, 'more', false);
  end if;
  insert into public.thread_memory_progress as x (thread_id, owner_id) values (t.id, t.owner_id) on conflict on constraint thread_memory_progress_pkey do nothing;
  select * into p from public.thread_memory_progress x where x.thread_id = t.id for update;

  if p.summary_version <> (step ->> 'version')::integer
     or t.summary_through is distinct from step ->> 'expected_through'
     or md5(coalesce(t.summary, '')) <> step ->> 'expected_summary_md5' then
    outcome := 'conflict';
  elsif step ->> 'summary' is null then
    outcome := 'nothing';
    if (step ->> 'rebuild')::boolean then
      -- Nothing after the base to summarize any more: the base (possibly no summary) is the summary.
      update public.memory_threads x
         set summary = step #>> '{base,summary}', summary_through = step #>> '{base,summary_through}',
             summary_token_count = (select s.token_count from public.thread_summaries s where s.id = (step #>> '{base,id}')::bigint)
       where x.id = t.id;
      update public.thread_memory_progress x set summary_stale_from = null, summary_version = x.summary_version + 1
       where x.thread_id = t.id;
    end if;
    more := false;
  else
    if step ->> 'summary' !~ '\S' then
      raise exception 'summary must not be empty' using errcode = '22023';
    end if;
    select d.created_at, d.id into through_at, through_id
      from private.decode_cursor(step ->> 'summary_through', 'm', 'summary_through') d;
    if not exists (select from public.messages o where o.id = through_id and o.thread_id = t.id and o.created_at = through_at) then
      -- The last message of the step was deleted meanwhile (its deletion did not touch the summary yet).
      outcome := 'conflict';
    else
      insert into public.thread_summaries (thread_id, owner_id, summary, token_count, based_on, summarized_from, summary_through,
                                           through_created_at, through_id, message_count, input_tokens, provider, model, trigger)
      values (t.id, t.owner_id, step ->> 'summary', (step ->> 'token_count')::integer, (step #>> '{base,id}')::bigint,
              step ->> 'summarized_from', step ->> 'summary_through', through_at, through_id,
              (step ->> 'message_count')::integer, (step ->> 'input_tokens')::integer, step ->> 'provider', step ->> 'model',
              case when is_job then 'job' else 'manual' end)
      returning id into summary_id;
      update public.memory_threads x
         set summary = step ->> 'summary', summary_through = step ->> 'summary_through',
             summary_token_count = (step ->> 'token_count')::integer
       where x.id = t.id;
      update public.thread_memory_progress x
         set summary_version = x.summary_version + 1, summarized_at = clock_timestamp(),
             summary_stale_from = case when (step ->> 'rebuild')::boolean then null else x.summary_stale_from end,
             updated_at = clock_timestamp()
       where x.thread_id = t.id;
      outcome := 'stored';
    end if;
  end if;

  if is_job then
    perform pgmq.delete('summary_jobs', msg_id);
    if outcome = 'conflict' or (outcome = 'stored' and more) then
      -- The thread keeps its one job: the flag stays up and the job is replaced.
      perform pgmq.send('summary_jobs', jsonb_build_object('thread_id', t.id, 'owner_id', t.owner_id,
                                                            'reason', case when outcome = 'conflict' then 'conflict' else 'continue' end));
      return jsonb_build_object('outcome', outcome, 'summary_id', summary_id, 'more', more);
    end if;
  end if;
  if outcome in ('stored', 'nothing') and not more then
    remaining := private.unsummarized_tokens(t.id);
    update public.thread_memory_progress x
       set unsummarized_tokens = remaining, summary_queued = case when is_job then false else x.summary_queued end,
           updated_at = clock_timestamp()
     where x.thread_id = t.id;
    if is_job and (cfg ->> 'enabled')::boolean and remaining >= (cfg ->> 'threshold_tokens')::bigint
       and (select x.summary_stale_from is null from public.thread_memory_progress x where x.thread_id = t.id) then
      perform private.send_memory_job('summary_jobs', t.id, 'threshold');
    end if;
  end if;
  return jsonb_build_object('outcome', outcome, 'summary_id', summary_id, 'more', more);
end
$$;
revoke all on function util.store_summary_step(uuid, jsonb, bigint) from public, anon, authenticated;
