-- Working memory: one document an agent keeps up to date about a user (scope 'resource': the same document
-- in all of the user's threads) or about one thread (scope 'thread'), as Mastra's working memory. Either
--   json      a JSON value (`data`), checked against an optional JSON Schema (`schema`, the subset of
--             20261205000200_json_schema.sql) on every write: a document that fails it is refused with
--             22023 naming the JSON path ("data $.address.city: expected string, got number"), and a
--             schema that is not one of the subset is refused when it is set;
--   markdown  Markdown text (`markdown`), starting from an optional template (`template`) that stands in
--             for the text until the first write.
-- Versions work as agent states do: `version` starts at 1 and grows by one per write, and
-- update_working_memory(..., expected_version) refuses a write based on a stale version with PT409.
-- build_context includes the caller's working memory (the thread's and the user's) as a block within the
-- token budget (see 20261205001000_context_long_term.sql); token_count is its estimated cost.

create table public.working_memory (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  scope text not null
    constraint working_memory_scope_known check (scope in ('resource', 'thread')),
  thread_id uuid references public.memory_threads (id) on delete cascade,
  format text not null
    constraint working_memory_format_known check (format in ('json', 'markdown')),
  data jsonb,
  markdown text,
  schema jsonb,
  template text,
  -- Estimated tokens of the document as build_context renders it (private.working_memory_text).
  token_count integer not null default 0
    constraint working_memory_token_count_non_negative check (token_count >= 0),
  version integer not null default 1
    constraint working_memory_version_positive check (version >= 1),
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp(),
  constraint working_memory_thread_matches_scope check ((scope = 'thread') = (thread_id is not null)),
  constraint working_memory_columns_match_format check (
    case format when 'json' then markdown is null and template is null else data is null and schema is null end)
);
comment on table public.working_memory is
  'A user''s (scope resource) or a thread''s (scope thread) working memory: JSON checked against an optional JSON Schema, or Markdown from a template; versioned.';
comment on column public.working_memory.data is 'The JSON document (format json).';
comment on column public.working_memory.markdown is 'The Markdown document (format markdown); null until written, when template stands in.';
comment on column public.working_memory.schema is 'Optional JSON Schema (supported subset) every write of data must satisfy.';
comment on column public.working_memory.template is 'Markdown template shown until the document is first written.';

create unique index working_memory_resource_idx on public.working_memory (owner_id) where scope = 'resource';
create unique index working_memory_thread_idx on public.working_memory (thread_id) where scope = 'thread';

-- private.working_memory_text(w working_memory) → text
--   The document as a prompt shows it: the JSON as compact text, the Markdown (or its template until
--   written). Null when there is nothing (JSON format without data, Markdown without text or template).
create or replace function private.working_memory_text(w public.working_memory)
returns text
language sql
immutable
parallel safe
security invoker
as $$
  select case w.format when 'json' then w.data::text else coalesce(w.markdown, w.template) end
$$;
revoke all on function private.working_memory_text(public.working_memory) from public, anon;
grant execute on function private.working_memory_text(public.working_memory) to authenticated, service_role;

-- private.working_memory_before_write() → trigger
--   BEFORE INSERT OR UPDATE row trigger, run as the caller (so a thread the caller cannot see is PT404):
--   insert: a thread-scoped document takes its thread's owner and starts at version 1;
--   update: scope, thread_id, owner_id and format cannot change (22023); version = old version + 1.
--   Both: a schema must be of the supported subset (22023 "schema…: <problem>"), data must satisfy the
--   schema (22023 "data $.path: <what failed>"), the document is at most setting working_memory.max_bytes
--   (22001), and token_count is re-estimated. Nothing is written when a check fails.
create or replace function private.working_memory_before_write()
returns trigger
language plpgsql
security invoker
as $$
declare
  thread_owner uuid;
  problem text;
  max_bytes bigint;
  size bigint;
begin
  if tg_op = 'INSERT' then
    if new.thread_id is not null then
      select t.owner_id into thread_owner from public.memory_threads t where t.id = new.thread_id;
      if not found then
        raise exception 'thread % not found', new.thread_id using errcode = 'PT404';
      end if;
      new.owner_id := thread_owner;
    end if;
    new.version := 1;
    new.created_at := clock_timestamp();
  else
    if new.scope <> old.scope or new.thread_id is distinct from old.thread_id or new.owner_id <> old.owner_id
       or new.format <> old.format then
      raise exception 'a working memory''s scope, thread_id, owner_id and format cannot be changed' using errcode = '22023',
        hint = 'Delete the document and create it again in the other format.';
    end if;
    new.version := old.version + 1;
    new.created_at := old.created_at;
  end if;
  new.updated_at := clock_timestamp();
  -- JSON null and the empty schema {} (which accepts every document) both mean: no schema.
  if new.schema is not null and new.schema not in ('null'::jsonb, '{}'::jsonb) then
    if tg_op = 'INSERT' or new.schema is distinct from old.schema then
      problem := private.json_schema_problem(new.schema);
      if problem is not null then
        raise exception '%', problem using errcode = '22023',
          hint = 'Supported: type, properties, required, additionalProperties, items, enum, const, minimum, maximum, '
              || 'exclusiveMinimum, exclusiveMaximum, minLength, maxLength, minItems, maxItems, pattern (and annotations).';
      end if;
    end if;
    if new.data is not null then
      problem := private.json_schema_violation(new.schema, new.data);
      if problem is not null then
        raise exception 'data %', problem using errcode = '22023',
          hint = 'The working memory''s schema refuses this document; fix the value at that path.';
      end if;
    end if;
  else
    new.schema := null;
  end if;
  max_bytes := (private.setting('working_memory', 'max_bytes', '65536') #>> '{}')::bigint;
  size := coalesce(octet_length(new.data::text), 0) + coalesce(octet_length(new.markdown), 0)
          + coalesce(octet_length(new.template), 0) + coalesce(octet_length(new.schema::text), 0);
  if size > max_bytes then
    raise exception 'working memory is % bytes; the maximum is % bytes', size, max_bytes
      using errcode = '22001', hint = 'The limit is the setting working_memory.max_bytes.';
  end if;
  new.token_count := coalesce(private.estimate_tokens(private.working_memory_text(new)), 0);
  return new;
end
$$;
revoke all on function private.working_memory_before_write() from public, anon, authenticated;

create trigger working_memory_before_write before insert or update on public.working_memory
  for each row execute function private.working_memory_before_write();

alter table public.working_memory enable row level security;

create policy "owners can read their working memory" on public.working_memory
  for select to authenticated using (owner_id = (select auth.uid()));
create policy "users can create working memory they own" on public.working_memory
  for insert to authenticated with check (owner_id = (select auth.uid()));
create policy "owners can update their working memory" on public.working_memory
  for update to authenticated using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
create policy "owners can delete their working memory" on public.working_memory
  for delete to authenticated using (owner_id = (select auth.uid()));

revoke all on public.working_memory from anon;
revoke truncate, references, trigger on public.working_memory from authenticated;
grant select, insert, update, delete on public.working_memory to authenticated;
grant all on public.working_memory to service_role;

-- private.working_memory_target(scope text, thread_id uuid, owner_id uuid) → (scope text, thread_id uuid, owner_id uuid)
--   Checks which document a call means: scope 'resource' (the user's; thread_id must be null; owner_id
--   defaults to the signed-in user and is required for service_role) or 'thread' (thread_id required, PT404
--   when the caller cannot see it; the owner is the thread's). Raises 22023 naming the argument otherwise.
create or replace function private.working_memory_target(scope text, thread_id uuid, owner_id uuid,
  out target_scope text, out target_thread_id uuid, out target_owner_id uuid)
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
  if scope is null or scope not in ('resource', 'thread') then
    raise exception 'scope must be resource or thread (got %)', coalesce(scope, 'null') using errcode = '22023';
  end if;
  target_scope := scope;
  if scope = 'thread' then
    if thread_id is null then
      raise exception 'thread_id is required for scope thread' using errcode = '22023';
    end if;
    select t.owner_id into target_owner_id from public.memory_threads t where t.id = working_memory_target.thread_id;
    if not found then
      raise exception 'thread % not found', thread_id using errcode = 'PT404';
    end if;
    target_thread_id := thread_id;
  else
    if thread_id is not null then
      raise exception 'thread_id applies to scope thread; scope resource is the user''s document in every thread'
        using errcode = '22023';
    end if;
    target_owner_id := coalesce(auth.uid(), working_memory_target.owner_id);
    if target_owner_id is null then
      raise exception 'owner_id is required when no user is signed in' using errcode = '22023',
        hint = 'Call with a user''s access token, or pass owner_id when calling as service_role.';
    end if;
  end if;
end
$$;
revoke all on function private.working_memory_target(text, uuid, uuid) from public, anon;
grant execute on function private.working_memory_target(text, uuid, uuid) to authenticated, service_role;

-- get_working_memory(scope default 'resource', thread_id default null, owner_id default null)
--     → setof working_memory (zero or one row)
--   The user's document (scope resource) or the thread's (scope thread), or no row when there is none.
--   owner_id: service_role only, for scope resource. Errors: 22023 unknown scope / thread_id missing or
--   misplaced / owner_id missing; PT404 thread not found. Callers: authenticated, service_role.
create or replace function public.get_working_memory(
  scope text default 'resource',
  thread_id uuid default null,
  owner_id uuid default null
)
returns setof public.working_memory
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  t record;
begin
  select * into t from private.working_memory_target(get_working_memory.scope, get_working_memory.thread_id,
                                                      get_working_memory.owner_id);
  if t.target_scope = 'thread' then
    return query select * from public.working_memory w where w.scope = 'thread' and w.thread_id = t.target_thread_id;
  else
    return query select * from public.working_memory w where w.scope = 'resource' and w.owner_id = t.target_owner_id;
  end if;
end
$$;
comment on function public.get_working_memory(text, uuid, uuid) is
  'The caller''s working memory of scope resource (per user) or thread (per thread_id): zero or one row.';

-- update_working_memory(scope, thread_id, data, markdown, schema, template, expected_version, owner_id)
--     → working_memory
--   Writes the user's (scope resource, default) or a thread's (scope thread) working memory and returns
--   it with its new version. A JSON document takes data and/or schema; a Markdown one markdown and/or
--   template — not both kinds in one call, and a document keeps the format it was created with. Arguments
--   left null keep their stored value; schema => '{}' (the schema that accepts everything; or JSON null)
--   removes the schema. data must satisfy the
--   schema (the stored one, or the one given now).
--   expected_version: null writes unconditionally; 0 creates the document and fails if it exists; n > 0
--   updates only if the stored version is still n (then n + 1).
--   Errors: 22023 unknown scope, thread_id missing or misplaced, nothing to write, both formats, the
--   other format than the stored one, an invalid schema, data failing the schema (naming the JSON path),
--   negative expected_version; 22001 too large; PT404 thread not found; PT409 stale version (the message
--   names the current one). Nothing is written on error. Callers: authenticated, service_role.
create or replace function public.update_working_memory(
  scope text default 'resource',
  thread_id uuid default null,
  data jsonb default null,
  markdown text default null,
  schema jsonb default null,
  template text default null,
  expected_version integer default null,
  owner_id uuid default null
)
returns public.working_memory
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  t record;
  fmt text;
  existing public.working_memory;
  result public.working_memory;
begin
  select * into t from private.working_memory_target(update_working_memory.scope, update_working_memory.thread_id,
                                                      update_working_memory.owner_id);
  if (update_working_memory.data is not null or update_working_memory.schema is not null)
     and (update_working_memory.markdown is not null or update_working_memory.template is not null) then
    raise exception 'pass data and/or schema (a JSON working memory) or markdown and/or template (a Markdown one), not both'
      using errcode = '22023';
  end if;
  fmt := case when update_working_memory.data is not null or update_working_memory.schema is not null then 'json'
              when update_working_memory.markdown is not null or update_working_memory.template is not null then 'markdown' end;
  if fmt is null then
    raise exception 'nothing to write: pass data, schema, markdown or template' using errcode = '22023';
  end if;
  if update_working_memory.expected_version < 0 then
    raise exception 'expected_version must be 0 (create) or a positive version (got %)', update_working_memory.expected_version
      using errcode = '22023';
  end if;

  select * into existing from public.working_memory w
   where w.scope = t.target_scope
     and (case when t.target_scope = 'thread' then w.thread_id = t.target_thread_id else w.owner_id = t.target_owner_id end)
   for update;

  if existing.id is not null and existing.format <> fmt then
    raise exception 'this working memory is %; pass % (or delete it to start over in the other format)', existing.format,
      case existing.format when 'json' then 'data and/or schema' else 'markdown and/or template' end
      using errcode = '22023';
  end if;
  if update_working_memory.expected_version is not null
     and coalesce(existing.version, 0) <> update_working_memory.expected_version then
    raise exception 'working memory (scope %) is at version %, not the expected version %', t.target_scope,
      coalesce(existing.version, 0), update_working_memory.expected_version
      using errcode = 'PT409',
            detail = format('current_version: %s', coalesce(existing.version, 0)),
            hint = 'Read it again (get_working_memory), apply the change and write with its version.';
  end if;

  if existing.id is null then
    insert into public.working_memory (owner_id, scope, thread_id, format, data, markdown, schema, template)
    values (t.target_owner_id, t.target_scope, t.target_thread_id, fmt, update_working_memory.data,
            update_working_memory.markdown, update_working_memory.schema, update_working_memory.template)
    returning * into result;
  else
    update public.working_memory w
       set data = coalesce(update_working_memory.data, w.data),
           markdown = coalesce(update_working_memory.markdown, w.markdown),
           schema = coalesce(update_working_memory.schema, w.schema),
           template = coalesce(update_working_memory.template, w.template)
     where w.id = existing.id
    returning * into result;
  end if;
  return result;
end
$$;
comment on function public.update_working_memory(text, uuid, jsonb, text, jsonb, text, integer, uuid) is
  'Writes a working memory (JSON checked against its schema, or Markdown); a stale expected_version raises PT409 (HTTP 409).';

revoke all on function public.get_working_memory(text, uuid, uuid),
  public.update_working_memory(text, uuid, jsonb, text, jsonb, text, integer, uuid) from public, anon;
grant execute on function public.get_working_memory(text, uuid, uuid),
  public.update_working_memory(text, uuid, jsonb, text, jsonb, text, integer, uuid) to authenticated, service_role;
