-- What every search RPC shares: the sources it can search and the filters it takes, validated once and
-- turned into a condition on the candidate row — the same condition for the BM25 and the vector channel,
-- so hybrid fusion compares like with like.
--
-- Sources: 'messages' (a user's conversations: thread_id, agent_id, roles) and 'document_chunks' (the leaf
-- chunks of documents and standalone chunks: document_ids). Both take `metadata` (jsonb containment; for
-- chunks against the document's metadata merged with the chunk's) and a created_at range.

insert into public.settings (category, key, value, description) values
  ('retrieval', 'rrf_k', '60', 'Reciprocal rank fusion constant k of hybrid_search (1..1000).'),
  ('retrieval', 'hybrid_candidates', '100', 'Candidates hybrid_search takes from each channel when not given (1..10000).')
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

-- private.search_filter_sql(source, thread_id, agent_id, roles, document_ids, metadata, created_after,
--     created_before) → text
--   A SQL condition on the candidate row `c` of `source` (values inlined as quoted literals) implementing
--   the filters; 'true' when none is given. Raises 22023 naming the argument for an unknown source, a
--   filter that does not apply to the source (thread_id, agent_id, roles: messages only; document_ids:
--   document_chunks only), metadata that is not a JSON object, or created_after later than created_before.
--   Row level security still applies on top of it. Callable by authenticated and service_role.
create or replace function private.search_filter_sql(
  source text,
  thread_id uuid default null,
  agent_id text default null,
  roles public.message_role[] default null,
  document_ids uuid[] default null,
  metadata jsonb default null,
  created_after timestamptz default null,
  created_before timestamptz default null
)
returns text
language plpgsql
immutable
security invoker
as $$
declare
  parts text[] := '{}';
begin
  if source is null or source not in ('messages', 'document_chunks') then
    raise exception 'source must be messages or document_chunks (got %)', coalesce(source, 'null') using errcode = '22023';
  end if;
  if source <> 'messages' and (thread_id is not null or agent_id is not null or roles is not null) then
    raise exception 'thread_id, agent_id and roles filter source messages, not %', source using errcode = '22023';
  end if;
  if source <> 'document_chunks' and document_ids is not null then
    raise exception 'document_ids filters source document_chunks, not %', source using errcode = '22023';
  end if;
  if metadata is not null and jsonb_typeof(metadata) <> 'object' then
    raise exception 'filter must be a JSON object of metadata to match (got %)', jsonb_typeof(metadata) using errcode = '22023',
      hint = 'Rows match when their metadata contains it (jsonb @>), e.g. {"topic": "billing"}.';
  end if;
  if created_after > created_before then
    raise exception 'created_after (%) is later than created_before (%)', created_after, created_before using errcode = '22023';
  end if;
  if thread_id is not null then
    parts := parts || format('c.thread_id = %L::uuid', thread_id);
  end if;
  if agent_id is not null then
    parts := parts || format('c.thread_id in (select t.id from public.memory_threads t where t.agent_id = %L)', agent_id);
  end if;
  if roles is not null then
    parts := parts || format('c.role = any (%L::public.message_role[])', roles);
  end if;
  if document_ids is not null then
    parts := parts || format('c.document_id = any (%L::uuid[])', document_ids);
  end if;
  if metadata is not null and metadata <> '{}' then
    parts := parts || case source
      when 'messages' then format('c.metadata @> %L::jsonb', metadata)
      else format('(coalesce((select d.metadata from public.documents d where d.id = c.document_id), ''{}'') || c.metadata) @> %L::jsonb',
                  metadata) end;
  end if;
  if created_after is not null then
    parts := parts || format('c.created_at >= %L::timestamptz', created_after);
  end if;
  if created_before is not null then
    parts := parts || format('c.created_at < %L::timestamptz', created_before);
  end if;
  return coalesce(nullif(array_to_string(parts, ' and '), ''), 'true');
end
$$;
revoke all on function private.search_filter_sql(text, uuid, text, public.message_role[], uuid[], jsonb, timestamptz, timestamptz) from public, anon;
grant execute on function private.search_filter_sql(text, uuid, text, public.message_role[], uuid[], jsonb, timestamptz, timestamptz)
  to authenticated, service_role;

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
