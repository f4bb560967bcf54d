-- LangChain compatibility: @langchain/community's SupabaseVectorStore and SupabaseHybridSearch work against
-- this schema unmodified.
--
--   new SupabaseVectorStore(embeddings, { client, tableName: 'document_chunks', queryName: 'match_documents' })
--     addDocuments → upsert {content, embedding, metadata[, id]} into document_chunks (or into an updatable
--                    view over it created `with (security_invoker = true)`): each row becomes a standalone
--                    chunk of the caller; the vector LangChain computed is stored in public.embeddings under
--                    the default embedding model, so it is searchable at once (the pipeline then finds the
--                    chunk already embedded and does not call a provider for it).
--     similaritySearch(query, k, filter) → match_documents(query_embedding, match_count, filter)
--     delete({ ids }) → delete from document_chunks (row level security: only the caller's chunks)
--   new SupabaseHybridSearch(embeddings, { client, tableName: 'document_chunks' })
--     → match_documents(query_embedding, match_count) and kw_match_documents(query_text, match_count)
--
-- The vectors must come from the default model (same size and, to be comparable with the pipeline's own
-- vectors, the same model — e.g. a LangChain Embeddings class calling the same provider).

-- Write-only: a vector supplied with a chunk moves to public.embeddings (see the trigger below) and the
-- column is always null when read.
alter table public.document_chunks add column embedding extensions.vector;
comment on column public.document_chunks.embedding is
  'Write-only: a vector of the default embedding model supplied with the chunk (LangChain''s SupabaseVectorStore) is stored in public.embeddings; always null when read.';

-- private.document_chunks_store_embedding() → trigger
--   BEFORE INSERT OR UPDATE row trigger on document_chunks, after document_chunks_before_write (trigger
--   names run in alphabetical order): when `embedding` is given, upserts it into public.embeddings for the
--   default model and the chunk's current search_text, then clears the column. An INSERT whose id
--   already exists leaves the vector in place for the conflict to decide (ON CONFLICT DO UPDATE passes it
--   on as excluded.embedding to the update, which row level security checks and this trigger stores;
--   DO NOTHING drops it; a plain insert fails): BEFORE INSERT triggers fire before the conflict is
--   found, so storing it here would overwrite the existing chunk's vector — another user's too. Errors:
--   22000 when the vector's size is not the default model's (naming both sizes); 22023 for a parent
--   chunk (level 1: parents are not searched). Security definer: callers cannot write embeddings
--   themselves.
create or replace function private.document_chunks_store_embedding()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  m public.embedding_models;
begin
  if new.embedding is null then
    return new;
  end if;
  if new.level <> 0 then
    raise exception 'embedding can only be given for a leaf chunk (level 0); parent chunks are not searched'
      using errcode = '22023';
  end if;
  if tg_op = 'INSERT' and exists (select from public.document_chunks c where c.id = new.id) then
    return new;
  end if;
  select * into m from public.embedding_models em where em.is_default;
  if extensions.vector_dims(new.embedding) <> m.dims then
    raise exception 'embedding has % dimensions but the default embedding model "%" stores %',
      extensions.vector_dims(new.embedding), m.name, m.dims
      using errcode = '22000',
            hint = 'Embed with the default model, or register your model and make it the default.';
  end if;
  insert into public.embeddings as e (owner_id, source_table, source_id, model, content_hash, embedding)
  values (new.owner_id, 'document_chunks', new.id, m.name, private.sha256_hex(new.search_text), new.embedding)
  on conflict (source_table, source_id, model) do update
    set owner_id = excluded.owner_id, content_hash = excluded.content_hash, embedding = excluded.embedding;
  new.embedding := null;
  return new;
end
$$;
revoke all on function private.document_chunks_store_embedding() from public, anon, authenticated;

create trigger document_chunks_store_embedding before insert or update on public.document_chunks
  for each row execute function private.document_chunks_store_embedding();

-- kw_match_documents(query_text, match_count) → table (id, content, metadata, similarity)
--   LangChain's keyword search (SupabaseHybridSearch): the caller's document chunks ranked by Okapi BM25
--   (bm25_search), `similarity` = the BM25 score. match_count 1..1000 (default 10). Errors: 22023 empty
--   query_text or match_count out of range. Callers: authenticated, service_role.
create or replace function public.kw_match_documents(query_text text, match_count integer default 10)
returns table (id uuid, content text, metadata jsonb, similarity double precision)
language sql
stable
security invoker
set search_path = ''
as $$
  select h.id, h.content, h.metadata, h.score
    from public.bm25_search(kw_match_documents.query_text, kw_match_documents.match_count, 'document_chunks') h
   order by h.rank
$$;
comment on function public.kw_match_documents(text, integer) is
  'LangChain-compatible keyword search over the caller''s document chunks (Okapi BM25; similarity = BM25 score).';
revoke all on function public.kw_match_documents(text, integer) from public, anon;
grant execute on function public.kw_match_documents(text, integer) to authenticated, service_role;
