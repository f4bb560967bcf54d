-- documents and document_chunks: what an agent knows besides its conversations — Markdown or plain text
-- split into chunks that are embedded (automatically, like messages) and indexed for BM25.
--
-- A document is owned by a user (row level security like messages: owner_id = auth.uid()). Its chunks
-- form a two-level hierarchy for small-to-big retrieval:
--   level 0  leaf chunks — small, searched (embedded, BM25-indexed);
--   level 1  parent chunks — the larger passage (a section, a window) the leaves of it belong to, returned
--            for context around a hit; never searched, never embedded.
-- A leaf whose section fits in one chunk has no parent. Chunks also exist without a document: a
-- "standalone" chunk (document_id null) is what LangChain's SupabaseVectorStore writes (see the LangChain
-- migration), searched exactly like the others.
--
-- What is searched is `search_text` (maintained by the before-write trigger): the chunk's heading path —
-- document title, then the Markdown headings above it, joined with ' › ' — then a blank line and the
-- chunk's content (contextual chunking: "Billing › Refunds" disambiguates a chunk that only says "within
-- 30 days"). `fts` and the embedding both come from it; parents have none.
--
-- Writers: the `ingest` Edge Function (chunks Markdown/text itself, then calls ingest_document), any client
-- calling ingest_document with chunks of its own, and the LangChain view. Re-ingesting a document whose
-- content_hash is unchanged is a no-op; a changed one has all its chunks replaced in one transaction.

create table public.documents (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  title text
    constraint documents_title_length check (title is null or char_length(title) between 1 and 1000),
  -- Where the document came from (a URL, a path, an id in another system). Unique per owner, so
  -- re-ingesting the same source updates the document instead of adding a second one.
  source_uri text
    constraint documents_source_uri_length check (source_uri is null or char_length(source_uri) between 1 and 2048),
  format text not null default 'markdown'
    constraint documents_format_known check (format in ('markdown', 'text')),
  metadata jsonb not null default '{}'
    constraint documents_metadata_is_object check (jsonb_typeof(metadata) = 'object'),
  -- sha256 (hex) of what the chunks were made from: the source text and the chunking settings (the ingest
  -- function), or the chunks themselves (ingest_document without a hash).
  content_hash text not null
    constraint documents_content_hash_format check (content_hash ~ '^[0-9a-f]{64}$'),
  -- How the chunks were made: {"strategy": "markdown", "chunk_tokens": 400, …} (informational).
  chunking jsonb not null default '{}'
    constraint documents_chunking_is_object check (jsonb_typeof(chunking) = 'object'),
  chunk_count integer not null default 0,
  -- Tokens of the leaf chunks' content.
  token_count integer not null default 0,
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp()
);
comment on table public.documents is
  'Ingested documents (Markdown or text) owned by a user; their chunks are embedded and BM25-indexed.';
comment on column public.documents.content_hash is
  'sha256 (hex) of the source text and chunking settings; re-ingesting the same hash is a no-op.';

create unique index documents_owner_source_uri_key on public.documents (owner_id, source_uri) where source_uri is not null;
-- list_documents: a user's documents, newest first (keyset on created_at, id).
create index documents_owner_created_idx on public.documents (owner_id, created_at desc, id desc);
create index documents_metadata_idx on public.documents using gin (metadata jsonb_path_ops);

create trigger documents_touch_updated_at before update on public.documents
  for each row execute function private.touch_updated_at();

create table public.document_chunks (
  id uuid primary key default gen_random_uuid(),
  document_id uuid references public.documents (id) on delete cascade,
  -- References the user itself (not only through the document): standalone chunks go with their user.
  owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  -- Position of the chunk in its document (parents and leaves share one sequence, in reading order).
  ordinal integer not null default 0
    constraint document_chunks_ordinal_non_negative check (ordinal >= 0),
  level smallint not null default 0
    constraint document_chunks_level_known check (level in (0, 1)),
  -- A deleted parent leaves its leaves in place (ingest_document may replace a parent but keep its leaves).
  parent_id uuid references public.document_chunks (id) on delete set null,
  content text not null
    constraint document_chunks_content_not_blank check (content ~ '\S'),
  -- Document title then the Markdown headings this chunk sits under, outermost first.
  heading_path text[] not null default '{}'
    constraint document_chunks_heading_path_size check (cardinality(heading_path) <= 12),
  token_count integer not null default 0
    constraint document_chunks_token_count_non_negative check (token_count >= 0),
  -- Character offsets of content in the document's source text, [char_start, char_end).
  char_start integer,
  char_end integer,
  metadata jsonb not null default '{}'
    constraint document_chunks_metadata_is_object check (jsonb_typeof(metadata) = 'object'),
  -- Maintained by the before-write trigger: heading path + content for leaves, null for parents.
  search_text text,
  fts tsvector generated always as (to_tsvector('english'::regconfig, left(search_text, 250000))) stored,
  created_at timestamptz not null default clock_timestamp(),
  constraint document_chunks_offsets check (
    (char_start is null and char_end is null) or (char_start >= 0 and char_end >= char_start)),
  constraint document_chunks_parent_is_not_self check (parent_id is null or parent_id <> id),
  constraint document_chunks_parents_have_no_parent check (level = 0 or parent_id is null),
  constraint document_chunks_parents_belong_to_a_document check (level = 0 or document_id is not null)
);
comment on table public.document_chunks is
  'Chunks of documents: leaves (level 0) are searched; parents (level 1) give the larger passage around a leaf.';
comment on column public.document_chunks.search_text is
  'What is embedded and BM25-indexed: heading path (joined with " › "), a blank line, content. Null for parents.';
comment on column public.document_chunks.fts is 'English full-text vector of search_text (first 250,000 characters).';

create unique index document_chunks_document_ordinal_key on public.document_chunks (document_id, ordinal);
create index document_chunks_parent_idx on public.document_chunks (parent_id) where parent_id is not null;
create index document_chunks_owner_created_idx on public.document_chunks (owner_id, created_at);
create index document_chunks_fts_idx on public.document_chunks using gin (fts);

-- private.chunk_search_text(heading_path text[], content text) → text
--   The text a leaf chunk is searched by: the non-blank headings joined with ' › ', a blank line, then the
--   content; just the content when there are no headings. Immutable.
create or replace function private.chunk_search_text(heading_path text[], content text)
returns text
language sql
immutable
parallel safe
security invoker
as $$
  select coalesce(nullif(array_to_string(array(select btrim(h) from unnest(heading_path) h where h ~ '\S'), ' › '), '')
                  || E'\n\n', '') || content
$$;
revoke all on function private.chunk_search_text(text[], text) from public, anon;
grant execute on function private.chunk_search_text(text[], text) to authenticated, service_role;

-- private.document_chunks_before_write() → trigger
--   BEFORE INSERT OR UPDATE row trigger on document_chunks, run as the caller:
--   * a chunk of a document takes the document's owner (PT404 "document <id> not found" when the caller
--     cannot see it); a standalone chunk keeps owner_id (default auth.uid());
--   * a parent must be a level-1 chunk of the same document, and a parent with leaves stays level 1
--     (22023 otherwise);
--   * search_text is recomputed from heading_path and content (null for level 1);
--   * id, document_id and owner_id cannot change on update (22023).
create or replace function private.document_chunks_before_write()
returns trigger
language plpgsql
security invoker
as $$
declare
  doc_owner uuid;
  parent record;
begin
  if tg_op = 'UPDATE' and (new.id <> old.id or new.document_id is distinct from old.document_id
                           or new.owner_id <> old.owner_id) then
    raise exception 'a chunk''s id, document_id and owner_id cannot be changed' using errcode = '22023';
  end if;
  if tg_op = 'INSERT' and new.document_id is not null then
    select d.owner_id into doc_owner from public.documents d where d.id = new.document_id;
    if not found then
      raise exception 'document % not found', new.document_id using errcode = 'PT404';
    end if;
    new.owner_id := doc_owner;
  end if;
  if tg_op = 'UPDATE' and old.level = 1 and new.level <> 1
     and exists (select from public.document_chunks c where c.parent_id = new.id) then
    raise exception 'chunk % is the parent of other chunks and must stay level 1', new.id using errcode = '22023';
  end if;
  if new.parent_id is not null and (tg_op = 'INSERT' or new.parent_id is distinct from old.parent_id) then
    select c.document_id, c.level into parent from public.document_chunks c where c.id = new.parent_id;
    if not found or parent.level <> 1 or parent.document_id is distinct from new.document_id then
      raise exception 'parent_id % is not a parent chunk (level 1) of the same document', new.parent_id
        using errcode = '22023';
    end if;
  end if;
  new.search_text := case when new.level = 0 then private.chunk_search_text(new.heading_path, new.content) end;
  return new;
end
$$;
revoke all on function private.document_chunks_before_write() from public, anon, authenticated;

create trigger document_chunks_before_write before insert or update on public.document_chunks
  for each row execute function private.document_chunks_before_write();

alter table public.documents enable row level security;
alter table public.document_chunks enable row level security;

create policy "owners can read their documents" on public.documents
  for select to authenticated using (owner_id = (select auth.uid()));
create policy "users can add documents they own" on public.documents
  for insert to authenticated with check (owner_id = (select auth.uid()));
create policy "owners can update their documents" on public.documents
  for update to authenticated using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
create policy "owners can delete their documents" on public.documents
  for delete to authenticated using (owner_id = (select auth.uid()));

create policy "owners can read their chunks" on public.document_chunks
  for select to authenticated using (owner_id = (select auth.uid()));
create policy "owners can add chunks" on public.document_chunks
  for insert to authenticated with check (owner_id = (select auth.uid()));
create policy "owners can update their chunks" on public.document_chunks
  for update to authenticated using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
create policy "owners can delete their chunks" on public.document_chunks
  for delete to authenticated using (owner_id = (select auth.uid()));

revoke all on public.documents, public.document_chunks from anon;
revoke truncate, references, trigger on public.documents, public.document_chunks from authenticated;
grant select, insert, update, delete on public.documents, public.document_chunks to authenticated;
grant all on public.documents, public.document_chunks to service_role;
