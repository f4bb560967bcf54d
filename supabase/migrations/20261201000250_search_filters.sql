-- What every search RPC shares: the sources it can search and the filters it takes, validated once and
-- turned into a condition on the candidate row — the same condition for the BM25 and the vector channel,
-- so hybrid fusion compares like with like.
--
-- Sources: 'messages' (a user's conversations: thread_id, agent_id, roles) and 'document_chunks' (the leaf
-- chunks of documents and standalone chunks: document_ids). Both take `metadata` (jsonb containment; for
-- chunks against the document's metadata merged with the chunk's) and a created_at range.

insert into public.settings (category, key, value, description) values
  ('retrieval', 'rrf_k', '60', 'Reciprocal rank fusion constant k of hybrid_search (1..1000).'),
  ('retrieval', 'hybrid_candidates', '20', 'Fewest candidates hybrid_search takes from each channel when not given (default: twice match_count, at least this).')
on conflict (category, key) do nothing;

-- private.require_query_text(query_text text) → text
--   The query, when it has something to search for; 22023 "query_text must not be empty" for null, '' or
--   white space only, 22001 beyond 10,000 characters.
create or replace function private.require_query_text(query_text text)
returns text
language plpgsql
immutable
security invoker
as $$
begin
  if query_text is null or query_text !~ '\S' then
    raise exception 'query_text must not be empty' using errcode = '22023',
      hint = 'Pass the words to search for.';
  end if;
  if char_length(query_text) > 10000 then
    raise exception 'query_text is % characters; at most 10000 can be searched', char_length(query_text)
      using errcode = '22001';
  end if;
  return query_text;
end
$$;
revoke all on function private.require_query_text(text) from public, anon;
grant execute on function private.require_query_text(text) to authenticated, service_role;

-- private.search_filters(thread_id, agent_id, roles, document_ids, metadata, created_after, created_before)
--     → jsonb
--   The filters of a public search function as one JSON object (null arguments and an empty metadata
--   filter left out), the form the ranking functions take.
create or replace function private.search_filters(
  thread_id uuid default null,
  agent_id text default null,
  roles public.message_role[] default null,
  document_ids uuid[] default null,
  metadata jsonb default null,
  created_after timestamptz default null,
  created_before timestamptz default null
)
returns jsonb
language sql
immutable
security invoker
as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'thread_id', thread_id, 'agent_id', agent_id, 'roles', to_jsonb(roles), 'document_ids', to_jsonb(document_ids),
    'metadata', case when metadata = '{}' then null else metadata end,
    'created_after', created_after, 'created_before', created_before))
$$;
revoke all on function private.search_filters(uuid, text, public.message_role[], uuid[], jsonb, timestamptz, timestamptz) from public, anon;
grant execute on function private.search_filters(uuid, text, public.message_role[], uuid[], jsonb, timestamptz, timestamptz)
  to authenticated, service_role;

-- private.search_filter_sql(source text, filters jsonb) → text
--   A SQL condition on the candidate row `c` of `source` implementing `filters` — every value converted by
--   its type's input function and inlined as a quoted literal, so the result is safe to run even in a
--   security definer function; 'true' when there are none. Keys:
--     thread_id, agent_id, roles      messages only: one thread, the threads of one agent, some roles
--     document_ids                    document_chunks only
--     metadata                        a JSON object the row's metadata must contain (for chunks: the
--                                     document's metadata merged with the chunk's)
--     created_after, created_before   created_after ≤ created_at < created_before
--     recall {thread_id, before: [created_at, id], agent_id, include_tools}
--                                     (build_context) messages of that thread older than `before`, or of
--                                     the agent's other threads; never system messages, no tool messages
--                                     unless include_tools
--   Raises 22023 naming the filter for an unknown source or key, a filter that does not apply to the
--   source, metadata that is not an object, or created_after > created_before (and the input errors of
--   uuid / timestamptz / message_role for malformed values). Callable by authenticated and service_role.
create or replace function private.search_filter_sql(source text, filters jsonb)
returns text
language plpgsql
immutable
security invoker
as $$
declare
  f jsonb := coalesce(filters, '{}');
  parts text[] := '{}';
  unknown text[];
  r jsonb;
begin
  if source is null or source not in ('messages', 'document_chunks') then
    raise exception 'source must be messages or document_chunks (got %)', coalesce(source, 'null') using errcode = '22023';
  end if;
  if jsonb_typeof(f) <> 'object' then
    raise exception 'filters must be a JSON object' using errcode = '22023';
  end if;
  select array_agg(k order by k) into unknown from jsonb_object_keys(f) k
   where k not in ('thread_id', 'agent_id', 'roles', 'document_ids', 'metadata', 'created_after', 'created_before', 'recall');
  if unknown is not null then
    raise exception 'unknown filter(s): %', array_to_string(unknown, ', ') using errcode = '22023';
  end if;
  if source <> 'messages' and (f ? 'thread_id' or f ? 'agent_id' or f ? 'roles' or f ? 'recall') then
    raise exception 'thread_id, agent_id and roles filter source messages, not %', source using errcode = '22023';
  end if;
  if source <> 'document_chunks' and f ? 'document_ids' then
    raise exception 'document_ids filters source document_chunks, not %', source using errcode = '22023';
  end if;
  if f ? 'metadata' and jsonb_typeof(f -> 'metadata') <> 'object' then
    raise exception 'filter must be a JSON object of metadata to match (got %)', jsonb_typeof(f -> 'metadata') using errcode = '22023',
      hint = 'Rows match when their metadata contains it (jsonb @>), e.g. {"topic": "billing"}.';
  end if;
  if (f ->> 'created_after')::timestamptz > (f ->> 'created_before')::timestamptz then
    raise exception 'created_after (%) is later than created_before (%)', f ->> 'created_after', f ->> 'created_before'
      using errcode = '22023';
  end if;
  if f ? 'thread_id' then
    parts := parts || format('c.thread_id = %L::uuid', (f ->> 'thread_id')::uuid);
  end if;
  if f ? 'agent_id' then
    parts := parts || format('c.thread_id in (select t.id from public.memory_threads t where t.agent_id = %L)', f ->> 'agent_id');
  end if;
  if f ? 'roles' then
    parts := parts || format('c.role = any (%L::public.message_role[])',
                             array(select jsonb_array_elements_text(f -> 'roles'))::public.message_role[]);
  end if;
  if f ? 'document_ids' then
    parts := parts || format('c.document_id = any (%L::uuid[])', array(select jsonb_array_elements_text(f -> 'document_ids'))::uuid[]);
  end if;
  if f ? 'metadata' and f -> 'metadata' <> '{}' then
    parts := parts || case source
      when 'messages' then format('c.metadata @> %L::jsonb', f -> 'metadata')
      else format('(coalesce((select d.metadata from public.documents d where d.id = c.document_id), %L) || c.metadata) @> %L::jsonb',
                  '{}', f -> 'metadata') end;
  end if;
  if f ? 'created_after' then
    parts := parts || format('c.created_at >= %L::timestamptz', (f ->> 'created_after')::timestamptz);
  end if;
  if f ? 'created_before' then
    parts := parts || format('c.created_at < %L::timestamptz', (f ->> 'created_before')::timestamptz);
  end if;
  if f ? 'recall' then
    r := f -> 'recall';
    parts := parts || format('((c.thread_id = %1$L::uuid and (c.created_at, c.id) < (%2$L::timestamptz, %3$L::uuid))%4$s)',
      (r ->> 'thread_id')::uuid, (r -> 'before' ->> 0)::timestamptz, (r -> 'before' ->> 1)::uuid,
      case when r ->> 'agent_id' is not null
           then format(' or (c.thread_id <> %L::uuid and c.thread_id in (select t.id from public.memory_threads t where t.agent_id = %L))',
                       (r ->> 'thread_id')::uuid, r ->> 'agent_id')
           else '' end);
    parts := parts || format('c.role <> %L', 'system');
    if not coalesce((r ->> 'include_tools')::boolean, true) then
      parts := parts || format('c.role <> %L and c.tool_call_id is null and c.tool_name is null', 'tool');
    end if;
  end if;
  return coalesce(nullif(array_to_string(parts, ' and '), ''), 'true');
end
$$;
revoke all on function private.search_filter_sql(text, jsonb) from public, anon;
grant execute on function private.search_filter_sql(text, jsonb) to authenticated, service_role;

-- private.caller_visibility_sql() → text
--   The condition on a row `c` (with owner_id) that stands for the row level security of the searchable
--   tables, for the security definer ranking function that cannot rely on it (see the BM25 migration):
--   'true' for a caller that bypasses row level security (service_role, a superuser or a BYPASSRLS role
--   such as postgres), the signed-in user's own rows (owner_id = auth.uid()) otherwise, and 'false' when
--   there is no user. The caller is the role the request switched to (PostgREST's SET ROLE, which a
--   security definer function does not change), else the session user.
create or replace function private.caller_visibility_sql()
returns text
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  caller name := coalesce(nullif(current_setting('role', true), 'none'), session_user);
begin
  if exists (select from pg_catalog.pg_roles r where r.rolname = caller and (r.rolsuper or r.rolbypassrls)) then
    return 'true';
  end if;
  -- (format's %L renders null as NULL, so the no-user case must be spelled out.)
  return case when auth.uid() is null then 'false' else format('c.owner_id = %L::uuid', auth.uid()) end;
end
$$;
revoke all on function private.caller_visibility_sql() from public, anon;
grant execute on function private.caller_visibility_sql() to authenticated, service_role;

-- The rows a search returns, whatever the source: for messages thread_id and role, for chunks document_id,
-- heading_path and parent_id; metadata is the message's, or the document's merged with the chunk's.
create type public.search_row as (
  id uuid,
  source text,
  content text,
  metadata jsonb,
  thread_id uuid,
  role public.message_role,
  document_id uuid,
  heading_path text[],
  parent_id uuid,
  created_at timestamptz
);
comment on type public.search_row is 'A searched row: a message or a document chunk, with what identifies where it comes from.';

-- private.search_rows(source text, ids uuid[]) → setof search_row
--   The rows of `source` with these ids that the caller can see, in the order of `ids`.
create or replace function private.search_rows(source text, ids uuid[])
returns setof public.search_row
language sql
stable
security invoker
set search_path = ''
as $$
  select u.id, search_rows.source,
         coalesce(m.content, c.content),
         case when m.id is not null then m.metadata else coalesce(d.metadata, '{}') || c.metadata end,
         m.thread_id, m.role, c.document_id, c.heading_path, c.parent_id, coalesce(m.created_at, c.created_at)
    from unnest(search_rows.ids) with ordinality as u(id, ord)
    left join public.messages m on search_rows.source = 'messages' and m.id = u.id
    left join public.document_chunks c on search_rows.source = 'document_chunks' and c.id = u.id
    left join public.documents d on d.id = c.document_id
   where m.id is not null or c.id is not null
   order by u.ord
$$;
revoke all on function private.search_rows(text, uuid[]) from public, anon;
grant execute on function private.search_rows(text, uuid[]) to authenticated, service_role;

-- A search result, whatever the search and source: the rank and score it got (the fused ones for hybrid
-- search), how each channel ranked and scored it (null when that channel did not return it or did not
-- run), the query lexemes it contains, and the row (see search_row).
create type public.search_hit as (
  id uuid,
  rank integer,
  score double precision,
  bm25_rank integer,
  bm25_score double precision,
  vector_rank integer,
  vector_score double precision,
  matched text[],
  content text,
  metadata jsonb,
  thread_id uuid,
  role public.message_role,
  document_id uuid,
  heading_path text[],
  parent_id uuid,
  created_at timestamptz
);
comment on type public.search_hit is
  'A search result: rank and score, each channel''s rank and score (BM25, vector), matched lexemes, and the row.';

-- private.retrieval_settings_changed() → trigger
--   AFTER INSERT OR UPDATE row trigger on public.settings for category 'retrieval' (and the context
--   recall share): refuses a value outside its range with 22023 naming the setting, so a bad value can
--   never reach a search.
create or replace function private.retrieval_settings_changed()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v jsonb := new.value;
  spec record;
begin
  select * into spec from (values
    ('retrieval', 'bm25_k1', 0::numeric, 10::numeric, false),
    ('retrieval', 'bm25_b', 0, 1, false),
    ('retrieval', 'rrf_k', 1, 1000, true),
    ('retrieval', 'hybrid_candidates', 1, 10000, true),
    ('context', 'recall_budget_share', 0, 1, false)
  ) x(category, key, lo, hi, whole)
  where x.category = new.category and x.key = new.key;
  if not found then
    return null;
  end if;
  if jsonb_typeof(v) <> 'number' or v::text::numeric not between spec.lo and spec.hi
     or (spec.whole and v::text::numeric <> trunc(v::text::numeric)) then
    raise exception 'setting %.% must be % between % and %, got %', new.category, new.key,
      case when spec.whole then 'a whole number' else 'a number' end, spec.lo, spec.hi, v
      using errcode = '22023';
  end if;
  return null;
end
$$;
revoke all on function private.retrieval_settings_changed() from public, anon, authenticated;

create trigger settings_retrieval_changed after insert or update on public.settings
  for each row when (new.category in ('retrieval', 'context')) execute function private.retrieval_settings_changed();
