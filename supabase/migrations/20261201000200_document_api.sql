-- The document API: ingest_document (pre-chunked input; the `ingest` Edge Function chunks Markdown or text
-- and calls it), get_document, list_documents and delete_document. Security invoker: row level security
-- limits a signed-in user to their own documents; a document the caller cannot see — unknown or another
-- user's — is PT404 "document <id> not found" (HTTP 404 through PostgREST).

insert into public.settings (category, key, value, description) values
  ('documents', 'max_chunks', '10000', 'Most chunks one document may have (ingest_document refuses more).'),
  ('documents', 'max_chunk_bytes', '1048576', 'Largest chunk content, in bytes.')
on conflict (category, key) do nothing;

-- What ingest_document returns: the document as stored, whether its chunks were replaced (false: the
-- content_hash was unchanged, nothing but title/metadata could change), and how many chunks it has.
create type public.document_ingest as (
  document public.documents,
  replaced boolean,
  chunk_count integer,
  chunks_kept integer
);
comment on type public.document_ingest is
  'ingest_document result: the document, whether its chunks were replaced, its chunk count, and how many unchanged chunks were kept.';

create type public.document_page as (
  documents public.documents[],
  next_cursor text,
  has_more boolean
);
comment on type public.document_page is
  'A page of documents (newest first); pass next_cursor back as cursor while has_more is true.';

-- One chunk of an ingest_document call as planned: its position, the id it will have, whether an unchanged
-- chunk at that position is kept (reuse), and its fields.
create type private.ingest_chunk as (
  ordinal integer, id uuid, reuse boolean, level smallint, parent integer, content text, heading_path text[],
  token_count integer, char_start integer, char_end integer, metadata jsonb
);

-- private.require_document(document_id uuid) → public.documents
--   The document, locked FOR UPDATE, if the caller can see it; PT404 "document <id> not found" otherwise.
create or replace function private.require_document(document_id uuid)
returns public.documents
language plpgsql
volatile
security invoker
as $$
declare
  doc public.documents;
begin
  select * into doc from public.documents d where d.id = require_document.document_id for update;
  if not found then
    raise exception 'document % not found', coalesce(require_document.document_id::text, 'null') using errcode = 'PT404';
  end if;
  return doc;
end
$$;
revoke all on function private.require_document(uuid) from public, anon;
grant execute on function private.require_document(uuid) to authenticated, service_role;

-- ingest_document(chunks, title, source_uri, metadata, format, content_hash, chunking, document_id, owner_id)
--     → document_ingest
--   Stores a document and its chunks, all or nothing.
--   chunks: JSON array (1..setting documents.max_chunks, default 10000) of objects, in reading order:
--     content       string, not blank, at most documents.max_chunk_bytes (1 MiB)      required
--     level         0 (leaf, searched; default) or 1 (parent: the passage around its leaves)
--     parent        index in `chunks` of this leaf's parent (a level-1 chunk listed before it), or null
--     heading_path  array of strings (≤ 12): document title, then the headings above the chunk
--     token_count   integer ≥ 0 (default: private.estimate_tokens(content))
--     char_start, char_end   offsets of content in the source text (both or neither; 0 ≤ start ≤ end)
--     metadata      JSON object (default {})
--   Which document: `document_id` when given (PT404 if the caller cannot see it), else the caller's
--   document with this `source_uri`, else a new one. `content_hash` (64 hex digits) identifies the content;
--   when omitted it is the sha256 of the chunks and chunking given. If the document exists with the same
--   content_hash its chunks stay as they are (replaced = false) and only title, metadata and format are
--   updated. Otherwise its chunks are replaced in this transaction: a chunk at the same position with the
--   same level, heading path and content keeps its id (and so its embedding); the others are deleted and
--   new ones inserted (embedded by the pipeline, indexed for BM25 by its triggers).
--   owner_id: service_role must name the owner of a new document; a signed-in user may only name themselves.
--   Errors: 22023 (naming the field: chunks not an array / empty / too many, chunks[i] not an object, unknown
--   field, blank content, bad level/parent/heading_path/token_count/offsets, metadata not an object, bad
--   format or content_hash); 22001 chunk too large; 22P05 NUL character; PT404 document not found; 42501
--   owner_id of someone else. Nothing is written on error. Callers: authenticated, service_role.
create or replace function public.ingest_document(
  chunks jsonb,
  title text default null,
  source_uri text default null,
  metadata jsonb default '{}',
  format text default 'markdown',
  content_hash text default null,
  chunking jsonb default '{}',
  document_id uuid default null,
  owner_id uuid default null
)
returns public.document_ingest
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  allowed constant text[] := array['content', 'level', 'parent', 'heading_path', 'token_count', 'char_start',
                                   'char_end', 'metadata'];
  max_chunks integer := (private.setting('documents', 'max_chunks', '10000') #>> '{}')::integer;
  max_bytes bigint := (private.setting('documents', 'max_chunk_bytes', '1048576') #>> '{}')::bigint;
  doc_owner uuid := coalesce(ingest_document.owner_id, auth.uid());
  hash text;
  doc public.documents;
  elem jsonb;
  idx integer;
  unknown text[];
  n integer;
  kept integer := 0;
  leaf_tokens bigint;
  planned private.ingest_chunk[];
begin
  -- Validate everything before writing anything.
  if ingest_document.chunks is null or jsonb_typeof(ingest_document.chunks) <> 'array' then
    raise exception 'chunks must be a JSON array of chunk objects (got %)',
      coalesce(jsonb_typeof(ingest_document.chunks), 'null') using errcode = '22023';
  end if;
  n := jsonb_array_length(ingest_document.chunks);
  if n = 0 then
    raise exception 'chunks must not be empty' using errcode = '22023',
      hint = 'A document needs at least one chunk; delete_document removes one.';
  end if;
  if n > max_chunks then
    raise exception 'chunks has % elements; a document may have at most %', n, max_chunks using errcode = '22023',
      hint = 'The limit is the setting documents.max_chunks.';
  end if;
  if ingest_document.format is null or ingest_document.format not in ('markdown', 'text') then
    raise exception 'format must be markdown or text (got %)', coalesce(ingest_document.format, 'null') using errcode = '22023';
  end if;
  if ingest_document.content_hash is not null and ingest_document.content_hash !~ '^[0-9a-f]{64}$' then
    raise exception 'content_hash must be 64 lower-case hex digits (a sha256)' using errcode = '22023';
  end if;
  perform private.require_object(coalesce(ingest_document.metadata, '{}'), 'metadata');
  perform private.require_object(coalesce(ingest_document.chunking, '{}'), 'chunking');
  if ingest_document.title is not null and char_length(ingest_document.title) not between 1 and 1000 then
    raise exception 'title must be 1 to 1000 characters' using errcode = '22023';
  end if;
  if ingest_document.source_uri is not null and char_length(ingest_document.source_uri) not between 1 and 2048 then
    raise exception 'source_uri must be 1 to 2048 characters' using errcode = '22023';
  end if;

  for elem, idx in select e.value, e.ordinality - 1 from jsonb_array_elements(ingest_document.chunks) with ordinality e loop
    if jsonb_typeof(elem) <> 'object' then
      raise exception 'chunks[%] must be a JSON object (got %)', idx, jsonb_typeof(elem) using errcode = '22023';
    end if;
    select array_agg(k order by k) into unknown from jsonb_object_keys(elem) k where k <> all (allowed);
    if unknown is not null then
      raise exception 'chunks[%] has unknown field(s): %', idx, array_to_string(unknown, ', ') using errcode = '22023',
        hint = 'Chunk fields: ' || array_to_string(allowed, ', ') || '.';
    end if;
    if jsonb_typeof(elem -> 'content') is distinct from 'string' or (elem ->> 'content') !~ '\S' then
      raise exception 'chunks[%].content must be a non-blank string', idx using errcode = '22023';
    end if;
    if octet_length(elem ->> 'content') > max_bytes then
      raise exception 'chunks[%].content is % bytes; the maximum is % bytes', idx, octet_length(elem ->> 'content'), max_bytes
        using errcode = '22001', hint = 'The limit is the setting documents.max_chunk_bytes.';
    end if;
    if coalesce(elem ->> 'level', '0') not in ('0', '1') or jsonb_typeof(coalesce(elem -> 'level', '0')) <> 'number' then
      raise exception 'chunks[%].level must be 0 (leaf) or 1 (parent) (got %)', idx, elem -> 'level' using errcode = '22023';
    end if;
    if elem ? 'parent' and jsonb_typeof(elem -> 'parent') <> 'null' then
      if jsonb_typeof(elem -> 'parent') <> 'number' or (elem ->> 'parent') !~ '^\d{1,9}$'
         or (elem ->> 'parent')::integer >= idx then
        raise exception 'chunks[%].parent must be the index of an earlier chunk (got %)', idx, elem -> 'parent'
          using errcode = '22023';
      end if;
      if coalesce(ingest_document.chunks -> (elem ->> 'parent')::integer ->> 'level', '0') <> '1' then
        raise exception 'chunks[%].parent points at chunks[%], which is not a parent (level 1)', idx, elem ->> 'parent'
          using errcode = '22023';
      end if;
      if coalesce(elem ->> 'level', '0') = '1' then
        raise exception 'chunks[%] is a parent (level 1) and cannot have a parent itself', idx using errcode = '22023';
      end if;
    end if;
    if elem ? 'heading_path' and (jsonb_typeof(elem -> 'heading_path') <> 'array'
        or jsonb_array_length(elem -> 'heading_path') > 12
        or exists (select from jsonb_array_elements(elem -> 'heading_path') h where jsonb_typeof(h) <> 'string')) then
      raise exception 'chunks[%].heading_path must be an array of at most 12 strings', idx using errcode = '22023';
    end if;
    if elem ? 'token_count' and jsonb_typeof(elem -> 'token_count') <> 'null'
       and (jsonb_typeof(elem -> 'token_count') <> 'number' or (elem ->> 'token_count') !~ '^\d{1,9}$') then
      raise exception 'chunks[%].token_count must be a whole number >= 0 (got %)', idx, elem -> 'token_count'
        using errcode = '22023';
    end if;
    -- JSON null offsets count as absent, like the other optional fields.
    if jsonb_typeof(elem -> 'char_start') = 'null' and jsonb_typeof(elem -> 'char_end') = 'null' then
      elem := elem - 'char_start' - 'char_end';
    end if;
    if (elem ? 'char_start') <> (elem ? 'char_end')
       or (elem ? 'char_start' and ((elem ->> 'char_start') !~ '^\d{1,10}$' or (elem ->> 'char_end') !~ '^\d{1,10}$'
           or jsonb_typeof(elem -> 'char_start') <> 'number' or jsonb_typeof(elem -> 'char_end') <> 'number'
           or (elem ->> 'char_start')::bigint > (elem ->> 'char_end')::bigint
           or (elem ->> 'char_end')::bigint > 2147483647)) then
      raise exception 'chunks[%].char_start and char_end must both be given, whole numbers with 0 <= char_start <= char_end', idx
        using errcode = '22023';
    end if;
    if elem ? 'metadata' and jsonb_typeof(elem -> 'metadata') <> 'object' then
      raise exception 'chunks[%].metadata must be a JSON object (got %)', idx, jsonb_typeof(elem -> 'metadata')
        using errcode = '22023';
    end if;
  end loop;

  hash := coalesce(ingest_document.content_hash,
                   private.sha256_hex(ingest_document.chunks::text || coalesce(ingest_document.chunking, '{}')::text));

  -- Which document.
  if ingest_document.document_id is not null then
    doc := private.require_document(ingest_document.document_id);
    if ingest_document.owner_id is not null and ingest_document.owner_id <> doc.owner_id then
      raise exception 'owner_id % is not the owner of document %', ingest_document.owner_id, doc.id
        using errcode = '22023', hint = 'Leave owner_id out when passing document_id: the document keeps its owner.';
    end if;
  else
    if doc_owner is null then
      raise exception 'owner_id is required when no user is signed in' using errcode = '22023',
        hint = 'Call with a user''s access token, or pass owner_id when calling as service_role.';
    end if;
    if ingest_document.source_uri is not null then
      select * into doc from public.documents d
       where d.owner_id = doc_owner and d.source_uri = ingest_document.source_uri
         for update;
    end if;
  end if;

  if doc.id is not null and doc.content_hash = hash then
    update public.documents d
       set title = ingest_document.title, metadata = coalesce(ingest_document.metadata, '{}'),
           format = ingest_document.format, source_uri = coalesce(ingest_document.source_uri, d.source_uri)
     where d.id = doc.id
       and (d.title, d.metadata, d.format, d.source_uri) is distinct from
           (ingest_document.title, coalesce(ingest_document.metadata, '{}'), ingest_document.format,
            coalesce(ingest_document.source_uri, d.source_uri));
    select * into doc from public.documents d where d.id = doc.id;
    return row(doc, false, doc.chunk_count, doc.chunk_count)::public.document_ingest;
  end if;

  if doc.id is null then
    -- RLS (with check owner_id = auth.uid()) refuses a signed-in user naming someone else.
    if auth.uid() is not null and doc_owner <> auth.uid() then
      raise exception 'a signed-in user can only ingest documents they own' using errcode = '42501';
    end if;
    insert into public.documents (owner_id, title, source_uri, format, metadata, content_hash, chunking)
    values (doc_owner, ingest_document.title, ingest_document.source_uri, ingest_document.format,
            coalesce(ingest_document.metadata, '{}'), hash, coalesce(ingest_document.chunking, '{}'))
    returning * into doc;
  end if;

  -- The new chunks with the ids they will have: an unchanged chunk at the same position keeps its id.
  select array_agg(row(x.ordinal, coalesce(old.id, gen_random_uuid()), old.id is not null, x.level, x.parent, x.content,
                       x.heading_path, x.token_count, x.char_start, x.char_end, x.metadata)::private.ingest_chunk
                   order by x.ordinal)
    into planned
    from (select (e.ordinality - 1)::integer as ordinal,
                 coalesce((e.value ->> 'level')::smallint, 0) as level,
                 (e.value ->> 'parent')::integer as parent,
                 e.value ->> 'content' as content,
                 coalesce(array(select jsonb_array_elements_text(e.value -> 'heading_path')), '{}') as heading_path,
                 (e.value ->> 'token_count')::integer as token_count,
                 (e.value ->> 'char_start')::integer as char_start,
                 (e.value ->> 'char_end')::integer as char_end,
                 coalesce(e.value -> 'metadata', '{}') as metadata
            from jsonb_array_elements(ingest_document.chunks) with ordinality e) x
    left join public.document_chunks old
      on old.document_id = doc.id and old.ordinal = x.ordinal and old.level = x.level
     and old.heading_path = x.heading_path and old.content = x.content;

  delete from public.document_chunks c
   where c.document_id = doc.id and c.id not in (select i.id from unnest(planned) i where i.reuse);
  -- New chunks, parents before leaves (a leaf's parent must exist), in reading order.
  insert into public.document_chunks (id, document_id, ordinal, level, parent_id, content, heading_path, token_count,
                                      char_start, char_end, metadata)
  select i.id, doc.id, i.ordinal, i.level, (planned[i.parent + 1]).id, i.content, i.heading_path,
         coalesce(i.token_count, private.estimate_tokens(i.content)), i.char_start, i.char_end, i.metadata
    from unnest(planned) i
   where not i.reuse
   order by i.level desc, i.ordinal;
  -- Kept chunks: the parent (possibly new), counts, offsets and metadata may have changed.
  update public.document_chunks c
     set parent_id = (planned[i.parent + 1]).id, token_count = coalesce(i.token_count, c.token_count),
         char_start = i.char_start, char_end = i.char_end, metadata = i.metadata
    from unnest(planned) i
   where i.reuse and c.id = i.id
     and (c.parent_id, c.token_count, c.char_start, c.char_end, c.metadata)
         is distinct from ((planned[i.parent + 1]).id, coalesce(i.token_count, c.token_count), i.char_start, i.char_end, i.metadata);
  select count(*) filter (where i.reuse) into kept from unnest(planned) i;
  select coalesce(sum(c.token_count) filter (where c.level = 0), 0) into leaf_tokens
    from public.document_chunks c where c.document_id = doc.id;

  update public.documents d
     set title = ingest_document.title, source_uri = coalesce(ingest_document.source_uri, d.source_uri),
         format = ingest_document.format, metadata = coalesce(ingest_document.metadata, '{}'),
         content_hash = hash, chunking = coalesce(ingest_document.chunking, '{}'), chunk_count = n,
         token_count = leaf_tokens
   where d.id = doc.id
  returning * into doc;
  return row(doc, true, n, kept)::public.document_ingest;
end
$$;
comment on function public.ingest_document(jsonb, text, text, jsonb, text, text, jsonb, uuid, uuid) is
  'Stores a document from pre-chunked input, all or nothing; unchanged content_hash is a no-op, changed content replaces the chunks atomically.';

-- get_document(document_id) → documents
--   The document, if the caller may see it; PT404 otherwise. Callers: authenticated, service_role.
create or replace function public.get_document(document_id uuid)
returns public.documents
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  result public.documents;
begin
  select * into result from public.documents d where d.id = get_document.document_id;
  if not found then
    raise exception 'document % not found', coalesce(get_document.document_id::text, 'null') using errcode = 'PT404';
  end if;
  return result;
end
$$;
comment on function public.get_document(uuid) is 'Returns one of the caller''s documents; PT404 when it is unknown or not theirs.';

-- list_documents(metadata, limit, cursor) → document_page
--   The caller's documents, newest first (created_at desc, id desc), `limit` per page (1..1000, default 50),
--   optionally only those whose metadata contains `metadata`. Errors: 22023 limit out of range / metadata
--   not an object / invalid cursor. Callers: authenticated, service_role (all users' documents).
create or replace function public.list_documents(
  metadata jsonb default null,
  "limit" integer default 50,
  cursor text default null
)
returns public.document_page
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  page_size integer := private.require_limit(list_documents."limit", 'limit');
  after_at timestamptz;
  after_id uuid;
  found_docs public.documents[];
  more boolean;
begin
  if list_documents.metadata is not null then
    perform private.require_object(list_documents.metadata, 'metadata');
  end if;
  select c.created_at, c.id into after_at, after_id from private.decode_cursor(list_documents.cursor, 'd', 'cursor') c;
  after_at := coalesce(after_at, 'infinity'::timestamptz);
  after_id := coalesce(after_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid);
  select coalesce(array_agg(d order by d.created_at desc, d.id desc), '{}') into found_docs
    from (select * from public.documents d
           where (list_documents.metadata is null or d.metadata @> list_documents.metadata)
             and (d.created_at, d.id) < (after_at, after_id)
           order by d.created_at desc, d.id desc
           limit page_size + 1) d;
  more := cardinality(found_docs) > page_size;
  if more then
    found_docs := found_docs[1:page_size];
  end if;
  return row(
    found_docs,
    case when cardinality(found_docs) > 0
         then private.encode_cursor('d', (found_docs[cardinality(found_docs)]).created_at, (found_docs[cardinality(found_docs)]).id)
         else list_documents.cursor end,
    more)::public.document_page;
end
$$;
comment on function public.list_documents(jsonb, integer, text) is
  'Keyset-paginated list of the caller''s documents, newest first, filtered by metadata containment.';

-- delete_document(document_id) → documents
--   Deletes the document with its chunks (and their embeddings and BM25 statistics); returns it. PT404
--   when the caller cannot see it. Callers: authenticated, service_role.
create or replace function public.delete_document(document_id uuid)
returns public.documents
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  result public.documents;
begin
  delete from public.documents d where d.id = delete_document.document_id returning * into result;
  if not found then
    raise exception 'document % not found', coalesce(delete_document.document_id::text, 'null') using errcode = 'PT404';
  end if;
  return result;
end
$$;
comment on function public.delete_document(uuid) is 'Deletes one of the caller''s documents with its chunks; PT404 when unknown or not theirs.';

revoke all on function public.ingest_document(jsonb, text, text, jsonb, text, text, jsonb, uuid, uuid) from public, anon;
revoke all on function public.get_document(uuid) from public, anon;
revoke all on function public.list_documents(jsonb, integer, text) from public, anon;
revoke all on function public.delete_document(uuid) from public, anon;
grant execute on function public.ingest_document(jsonb, text, text, jsonb, text, text, jsonb, uuid, uuid) to authenticated, service_role;
grant execute on function public.get_document(uuid) to authenticated, service_role;
grant execute on function public.list_documents(jsonb, integer, text) to authenticated, service_role;
grant execute on function public.delete_document(uuid) to authenticated, service_role;
