-- Resumable long operations: a progress row per run, and util.reembed rebuilt on it.
--
-- `operation_progress` holds one row per long operation: what it is (kind, subject), how far it got
-- (total, done, phase, detail) and where to continue (cursor). Work is done in batches, one transaction
-- each, and every batch commits its cursor with its work — so after a crash (of a worker, the database or
-- the whole stack) the next batch starts exactly after the last committed one: nothing is done twice,
-- nothing is skipped. The row is in the supabase_realtime publication so a dashboard can follow it;
-- rows with an owner are readable by that user, system rows (owner_id null) by service_role only.
--
-- Covered so far: re-embedding (kind 'reembed', subject = the model). util.reembed(model) used to queue
-- every row in one transaction — all or nothing, minutes for a large table, invisible while it ran.
-- Now it opens (or restarts) the operation and queues the first batch of rows (setting
-- embeddings.reembed_batch_size, default 5000, in primary key order); the cron job 'advance-operations'
-- (every 5 seconds) queues the next batch after the cursor until every source has been scanned, then
-- follows the embedding jobs until none of the model is left in the queue. The embedding itself was
-- already resumable (pgmq jobs come back after their visibility timeout; see the worker migration).
--   phase 'enqueue'  scanning sources (cursor = {sources, position, after_id})
--   phase 'embed'    scan finished, jobs still queued
--   completed        nothing of the model left in the queue and no job dead-lettered since the start
--   failed           jobs were dead-lettered: util.reembed(model) again retries exactly those rows
-- total = source rows with content when the run (re)started; done = rows scanned minus the model's jobs
-- still queued (an estimate while it runs, exact when it completes); detail = {scanned, queued,
-- remaining, failed}.

insert into public.settings (category, key, value, description) values
  ('embeddings', 'reembed_batch_size', '5000',
   'Rows util.reembed scans and queues per transaction; the cron job advance-operations queues the rest batch by batch.')
on conflict (category, key) do nothing;

create table public.operation_progress (
  id uuid primary key default gen_random_uuid(),
  -- The user the operation works for; null for system operations (re-embedding), seen by service_role only.
  owner_id uuid references auth.users (id) on delete cascade,
  kind text not null
    constraint operation_progress_kind_format check (kind ~ '^[a-z][a-z0-9_]{0,62}$'),
  subject text not null
    constraint operation_progress_subject_length check (char_length(subject) between 1 and 500),
  status text not null default 'running'
    constraint operation_progress_status_known check (status in ('running', 'completed', 'failed', 'cancelled')),
  phase text,
  total bigint
    constraint operation_progress_total_non_negative check (total is null or total >= 0),
  done bigint not null default 0
    constraint operation_progress_done_non_negative check (done >= 0),
  -- Where the next batch continues; committed together with each batch's work.
  cursor jsonb not null default '{}'
    constraint operation_progress_cursor_is_object check (jsonb_typeof(cursor) = 'object'),
  detail jsonb not null default '{}'
    constraint operation_progress_detail_is_object check (jsonb_typeof(detail) = 'object'),
  error text,
  started_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  finished_at timestamptz
);
comment on table public.operation_progress is
  'Progress of long operations (re-embedding, …): batches commit their cursor, so a crashed run resumes after the last batch.';

-- One running operation per kind, subject and owner.
create unique index operation_progress_one_running_idx
  on public.operation_progress (kind, subject, coalesce(owner_id, '00000000-0000-0000-0000-000000000000'::uuid))
  where status = 'running';
create index operation_progress_owner_idx on public.operation_progress (owner_id, started_at desc);

create trigger operation_progress_touch_updated_at before update on public.operation_progress
  for each row execute function private.touch_updated_at();

alter table public.operation_progress enable row level security;
create policy "owners can read the progress of their operations" on public.operation_progress
  for select to authenticated using (owner_id = (select auth.uid()));
revoke all on public.operation_progress from anon;
revoke insert, update, delete, truncate, references, trigger on public.operation_progress from authenticated;
grant select on public.operation_progress to authenticated;
grant all on public.operation_progress to service_role;

alter publication supabase_realtime add table public.operation_progress;

-- private.reembed_batch_size() → integer
--   Setting embeddings.reembed_batch_size (default 5000); 22023 naming it unless a whole number in 1..100000.
create or replace function private.reembed_batch_size()
returns integer
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v jsonb := private.setting('embeddings', 'reembed_batch_size', '5000');
begin
  if jsonb_typeof(v) <> 'number' or v::text::numeric not between 1 and 100000 or v::text::numeric <> trunc(v::text::numeric) then
    raise exception 'setting embeddings.reembed_batch_size must be a whole number between 1 and 100000, got %', v
      using errcode = '22023';
  end if;
  return v::text::integer;
end
$$;
revoke all on function private.reembed_batch_size() from public, anon, authenticated;

-- private.reembed_scan(model text, source_table text, after_id uuid, max_rows integer)
--     → (scanned integer, queued integer, last_id uuid)
--   One batch of a re-embed scan: the next max_rows rows of the source with content, in primary key
--   order after after_id (from the start when null); queues one job (one pgmq.send_batch) for each that
--   has no up-to-date embedding in `model` and no job queued for its current content. Returns how many
--   rows it scanned and queued, and the last id scanned (the next cursor).
create or replace function private.reembed_scan(model text, source_table text, after_id uuid, max_rows integer,
  out scanned integer, out queued integer, out last_id uuid)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  src util.embedding_sources;
  jobs jsonb[];
begin
  select * into src from util.embedding_sources s where s.source_table = reembed_scan.source_table;
  if not found then
    raise exception 'unknown embedding source "%"', source_table using errcode = '22023';
  end if;
  execute format(
    'with batch as materialized (
       select s.id, s.%1$I as owner_id, s.content_hash
         from %2$s s
        where ($3::uuid is null or s.id > $3) and not private.is_blank(s.%3$I)
        order by s.id
        limit $4),
     queued as materialized (
       select q.message ->> ''id'' as id, q.message ->> ''content_hash'' as content_hash
         from pgmq.q_embedding_jobs q
        where q.message ->> ''table'' = $1 and q.message ->> ''model'' = $2
          and q.message ->> ''id'' in (select b.id::text from batch b))
     select (select count(*)::integer from batch),
            (select b.id from batch b order by b.id desc limit 1),
            (select array_agg(jsonb_build_object(''table'', $1, ''id'', b.id, ''owner_id'', b.owner_id,
                                                 ''content_hash'', b.content_hash, ''model'', $2) order by b.id)
               from batch b
              where not exists (select from public.embeddings e where e.source_table = $1 and e.source_id = b.id
                                  and e.model = $2 and e.content_hash = b.content_hash)
                and not exists (select from queued j where j.id = b.id::text and j.content_hash = b.content_hash))',
    src.owner_column, src.relation, src.content_column)
    into scanned, last_id, jobs
    using src.source_table, model, after_id, max_rows;
  queued := coalesce(cardinality(jobs), 0);
  if queued > 0 then
    perform pgmq.send_batch('embedding_jobs', jobs);
  end if;
end
$$;
revoke all on function private.reembed_scan(text, text, uuid, integer) from public, anon, authenticated;

-- private.advance_reembed(operation_id uuid) → integer
--   One step of a running re-embed operation, in the caller's transaction: in phase 'enqueue' scans up to
--   embeddings.reembed_batch_size rows from the cursor on (across sources, in order) and stores the new
--   cursor; then refreshes detail.remaining (the model's jobs still queued), detail.failed (jobs
--   dead-lettered since the run started) and done, and finishes the operation once the scan is over and
--   no job is left: completed, or failed when jobs were dead-lettered. A row locked by another
--   transaction (an advance already running) is left alone. Returns the number of jobs queued.
create or replace function private.advance_reembed(operation_id uuid)
returns integer
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  op public.operation_progress;
  sources text[];
  pos integer;
  after_id uuid;
  budget integer;
  r record;
  scanned integer := 0;
  sent integer := 0;
  remaining bigint;
  failed bigint;
  total_scanned bigint;
begin
  select * into op from public.operation_progress o
   where o.id = advance_reembed.operation_id and o.status = 'running' and o.kind = 'reembed'
     for update skip locked;
  if not found then
    return 0;
  end if;
  if not exists (select from public.embedding_models m where m.name = op.subject) then
    update public.operation_progress o
       set status = 'failed', error = format('embedding model "%s" is no longer registered', op.subject), finished_at = now()
     where o.id = op.id;
    return 0;
  end if;

  if op.phase = 'enqueue' then
    sources := array(select jsonb_array_elements_text(op.cursor -> 'sources'));
    pos := coalesce((op.cursor ->> 'position')::integer, 1);
    after_id := (op.cursor ->> 'after_id')::uuid;
    budget := private.reembed_batch_size();
    while pos <= cardinality(sources) and budget > 0 loop
      if not exists (select from util.embedding_sources s where s.source_table = sources[pos]) then
        -- A source unregistered since the run started has nothing left to scan.
        pos := pos + 1;
        after_id := null;
        continue;
      end if;
      select * into r from private.reembed_scan(op.subject, sources[pos], after_id, budget);
      scanned := scanned + r.scanned;
      sent := sent + r.queued;
      if r.scanned < budget then
        pos := pos + 1;
        after_id := null;
      else
        after_id := r.last_id;
      end if;
      budget := budget - r.scanned;
    end loop;
    op.cursor := jsonb_build_object('sources', to_jsonb(sources), 'position', pos, 'after_id', after_id);
    op.phase := case when pos > cardinality(sources) then 'embed' else 'enqueue' end;
  end if;

  select count(*) into remaining from pgmq.q_embedding_jobs q where q.message ->> 'model' = op.subject;
  select count(*) into failed from public.embedding_failures f where f.model = op.subject and f.failed_at >= op.started_at;
  total_scanned := coalesce((op.detail ->> 'scanned')::bigint, 0) + scanned;
  update public.operation_progress o
     set cursor = op.cursor,
         phase = op.phase,
         detail = jsonb_build_object('scanned', total_scanned,
                                     'queued', coalesce((op.detail ->> 'queued')::bigint, 0) + sent,
                                     'remaining', remaining, 'failed', failed),
         done = greatest(total_scanned - remaining, 0),
         total = case when op.phase = 'embed' and remaining = 0 then total_scanned else o.total end,
         status = case when op.phase = 'embed' and remaining = 0 then (case when failed > 0 then 'failed' else 'completed' end)
                       else 'running' end,
         error = case when op.phase = 'embed' and remaining = 0 and failed > 0
                      then format('%s job(s) of model "%s" were dead-lettered (see embedding_failures); run util.reembed(%L) again to retry them',
                                  failed, op.subject, op.subject) end,
         finished_at = case when op.phase = 'embed' and remaining = 0 then now() end
   where o.id = op.id;
  return sent;
end
$$;
revoke all on function private.advance_reembed(uuid) from public, anon, authenticated;

-- util.advance_operations() → integer
--   The body of the cron job 'advance-operations': advances every running operation by one batch (each
--   in this one transaction; the job runs again in a few seconds) and returns how many jobs it queued.
--   Callers: the cron job (postgres), service_role.
create or replace function util.advance_operations()
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  op_id uuid;
  sent integer := 0;
begin
  for op_id in select o.id from public.operation_progress o where o.status = 'running' and o.kind = 'reembed' order by o.started_at loop
    sent := sent + private.advance_reembed(op_id);
  end loop;
  -- A build whose last rows were embedded while nothing else called it is promoted here.
  perform util.finish_embedding_builds();
  return sent;
end
$$;
revoke all on function util.advance_operations() from public, anon, authenticated;
grant execute on function util.advance_operations() to service_role;

-- util.reembed(model text, source_table text default null) → integer
--   Re-embeds `source_table` (every registered source when null) in `model`: marks a non-default model
--   'building' (build_started_at = now()), opens the operation_progress row of kind 'reembed' for the
--   model — or restarts the running one from the beginning of the scan, which also retries rows whose
--   jobs were dead-lettered — and queues the first batch (setting embeddings.reembed_batch_size rows) in
--   this transaction; the cron job 'advance-operations' queues the rest. Rows that already have an
--   up-to-date embedding or a queued job are skipped, so re-running it never queues a row twice. Returns
--   the number of jobs queued by this call (all of them when the sources fit in one batch). When nothing
--   needed embedding the model is promoted at once and the operation completes.
--   Errors: 22023 unknown model (listing the registered ones) / unknown source (listing the sources) /
--   invalid reembed_batch_size. Caller: service_role / postgres.
create or replace function util.reembed(model text, source_table text default null)
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  m public.embedding_models := private.require_embedding_model(model);
  sources text[];
  rows_total bigint := 0;
  n bigint;
  src util.embedding_sources;
  op_id uuid;
  sent integer;
begin
  if source_table is not null and not exists (select from util.embedding_sources s where s.source_table = reembed.source_table) then
    raise exception 'unknown embedding source "%"; registered sources: %', source_table,
      coalesce((select string_agg(s.source_table, ', ' order by s.source_table) from util.embedding_sources s), '(none)')
      using errcode = '22023';
  end if;
  perform private.reembed_batch_size();
  if not m.is_default then
    update public.embedding_models em set state = 'building', build_started_at = now() where em.name = m.name;
  end if;

  sources := array(select s.source_table from util.embedding_sources s
                    where reembed.source_table is null or s.source_table = reembed.source_table order by s.source_table);
  for src in select * from util.embedding_sources s where s.source_table = any (sources) order by s.source_table loop
    execute format('select count(*) from %s s where not private.is_blank(s.%I)', src.relation, src.content_column) into n;
    rows_total := rows_total + n;
  end loop;

  update public.operation_progress o
     set phase = 'enqueue', total = rows_total, done = 0, started_at = now(), error = null,
         cursor = jsonb_build_object('sources', to_jsonb(sources), 'position', 1, 'after_id', null),
         detail = jsonb_build_object('scanned', 0, 'queued', coalesce((o.detail ->> 'queued')::bigint, 0))
   where o.kind = 'reembed' and o.subject = m.name and o.owner_id is null and o.status = 'running'
  returning o.id into op_id;
  if op_id is null then
    insert into public.operation_progress (kind, subject, phase, total, cursor, detail)
    values ('reembed', m.name, 'enqueue', rows_total,
            jsonb_build_object('sources', to_jsonb(sources), 'position', 1, 'after_id', null),
            jsonb_build_object('scanned', 0, 'queued', 0))
    returning id into op_id;
  end if;

  sent := private.advance_reembed(op_id);
  perform util.finish_embedding_builds();
  return sent;
end
$$;
revoke all on function util.reembed(text, text) from public, anon, authenticated;
grant execute on function util.reembed(text, text) to service_role;

select cron.schedule('advance-operations', '5 seconds', 'select util.advance_operations()');
