-- Embedding indexes per (model, source): each embedding model gets one partial HNSW index per embedding
-- source (messages, document_chunks, memories, any table registered later), instead of one per model.
--
-- Why: every vector search filters by source (private.vector_rank searches one source at a time), and
-- with one graph per model the HNSW scan walks all sources together and drops the rows of the others as
-- it meets them. Their share of a query's neighbourhood is not their share of the table: a short text
-- (a message, a memory) has a far higher cosine similarity to a few-word query than a long chunk with the
-- same words, so a chunk query's nearest vectors are mostly messages. Measured at 100k (232k vectors,
-- 43% of them chunks): a document_chunks search for k = 20 visited 774 index tuples and dropped 754 of
-- them (p50 37 ms, p95 90 ms); over the chunks' own graph it visits only the rows it returns. A search
-- of memories (a few hundred rows per user) inside a graph of every message was worse still.
--
-- Layout: index private.embedding_index_name(model, source_table) on public.embeddings using
--   hnsw ((embedding::<storage>(<dims>)) <storage>_cosine_ops) with (m, ef_construction)
--   where model = '<model>' and source_table = '<source>'.
-- A nearest-neighbour query reaches an index only when it filters by exactly one model and one
-- source_table as constants (private.vector_rank writes both as literals). Registering a model creates
-- its indexes for every source; registering a source creates its index for every model (trigger on
-- util.embedding_sources); a model's change of dims, storage or HNSW parameters rebuilds its indexes; a
-- deleted model's indexes are dropped.
--
-- Cost: as many indexes as models × sources (4 × 3 here), but an embedding is inserted into exactly one
-- of them (the predicate) and the graphs together hold as many vectors as the single one did; an
-- index of a model that is not in use is empty. Each graph is smaller, so inserts and searches are cheaper
-- (log of its own size). Deploying this migration rebuilds the HNSW indexes of the stored embeddings:
-- on a hosted project with many vectors, run it at a quiet time (the build holds a lock that blocks
-- writes to public.embeddings, as any non-concurrent index build does).

-- private.embedding_index_name(model text, source_table text) → text
--   The name of the HNSW index of one model over one source:
--   embeddings_<model, 23 chars>_<source, 16 chars>_<md5 prefix>_hnsw (non-alphanumerics as _). Stable and
--   unique per pair; never longer than 63 characters. (The one-argument form names the old per-model index.)
create or replace function private.embedding_index_name(model text, source_table text)
returns text
language sql
immutable
strict
security invoker
as $$
  select 'embeddings_' || left(regexp_replace(model, '[^a-z0-9]+', '_', 'g'), 23) || '_'
         || left(regexp_replace(source_table, '[^a-z0-9]+', '_', 'g'), 16) || '_'
         || left(md5(model || '/' || source_table), 6) || '_hnsw'
$$;
revoke all on function private.embedding_index_name(text, text) from public, anon, authenticated;

-- util.ensure_embedding_indexes(model text, source_table text default null) → setof text
--   Creates (if missing) the HNSW index of `model` over `source_table` — over every registered embedding
--   source when null — and returns their names, by source: vector(<dims>) + vector_cosine_ops, or
--   halfvec(<dims>) + halfvec_cosine_ops for storage 'halfvec', with the model's m / ef_construction.
--   Unknown model → 22023 listing the registered ones; unknown source → 22023 listing the sources.
--   Security definer (the indexes belong to the table owner); callable by service_role.
create or replace function util.ensure_embedding_indexes(model text, source_table text default null)
returns setof text
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  m public.embedding_models := private.require_embedding_model(model);
  src text;
  index_name text;
begin
  if ensure_embedding_indexes.source_table is not null
     and not exists (select from util.embedding_sources s where s.source_table = ensure_embedding_indexes.source_table) then
    raise exception 'unknown embedding source "%" (registered: %)', ensure_embedding_indexes.source_table,
      coalesce((select string_agg(s.source_table, ', ' order by s.source_table) from util.embedding_sources s), '(none)')
      using errcode = '22023';
  end if;
  for src in
    select s.source_table from util.embedding_sources s
     where ensure_embedding_indexes.source_table is null or s.source_table = ensure_embedding_indexes.source_table
     order by s.source_table
  loop
    index_name := private.embedding_index_name(m.name, src);
    execute format(
      'create index if not exists %I on public.embeddings using hnsw ((embedding::extensions.%s(%s)) extensions.%s) '
      'with (m = %s, ef_construction = %s) where model = %L and source_table = %L',
      index_name, m.storage, m.dims, m.storage || '_cosine_ops', m.hnsw_m, m.hnsw_ef_construction, m.name, src);
    return next index_name;
  end loop;
end
$$;
revoke all on function util.ensure_embedding_indexes(text, text) from public, anon, authenticated;
grant execute on function util.ensure_embedding_indexes(text, text) to service_role;

-- private.drop_embedding_indexes(model text) → void
--   Drops every HNSW index of `model`: the one per registered source and the old per-model one.
create or replace function private.drop_embedding_indexes(model text)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  index_name text;
begin
  for index_name in
    select private.embedding_index_name(drop_embedding_indexes.model)
    union all
    select private.embedding_index_name(drop_embedding_indexes.model, s.source_table) from util.embedding_sources s
  loop
    execute format('drop index if exists public.%I', index_name);
  end loop;
end
$$;
revoke all on function private.drop_embedding_indexes(text) from public, anon, authenticated;

-- private.embedding_models_after_write() → trigger
--   As in embedding storage, with the indexes per source: a new model gets its indexes; a change of dims or
--   storage is refused (55000) while the model has embeddings, and otherwise rebuilds them, as does a
--   change of the HNSW parameters; a deleted model's indexes are dropped.
create or replace function private.embedding_models_after_write()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op in ('UPDATE', 'DELETE') and (tg_op = 'DELETE' or (new.name, new.dims, new.storage, new.hnsw_m, new.hnsw_ef_construction)
      is distinct from (old.name, old.dims, old.storage, old.hnsw_m, old.hnsw_ef_construction)) then
    if tg_op = 'UPDATE' and (new.dims, new.storage) is distinct from (old.dims, old.storage)
       and exists (select from public.embeddings e where e.model = old.name) then
      raise exception 'model "%" has embeddings; its dims and storage cannot change', old.name
        using errcode = '55000',
              hint = 'Register a new model and switch to it with util.reembed(<new model>).';
    end if;
    perform private.drop_embedding_indexes(old.name);
  end if;
  if tg_op in ('INSERT', 'UPDATE') then
    perform util.ensure_embedding_indexes(new.name);
  end if;
  return null;
end
$$;
revoke all on function private.embedding_models_after_write() from public, anon, authenticated;

-- private.embedding_sources_after_insert() → trigger
--   AFTER INSERT row trigger on util.embedding_sources: a newly registered source gets its HNSW index in
--   every model (util.register_embedding_source inserts the row; re-registering updates it and keeps them).
create or replace function private.embedding_sources_after_insert()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  model text;
begin
  for model in select m.name from public.embedding_models m order by m.name loop
    perform util.ensure_embedding_indexes(model, new.source_table);
  end loop;
  return null;
end
$$;
revoke all on function private.embedding_sources_after_insert() from public, anon, authenticated;

create trigger embedding_sources_after_insert after insert on util.embedding_sources
  for each row execute function private.embedding_sources_after_insert();

-- The per-model function is replaced by the per-source one.
drop function util.ensure_embedding_index(text);

-- Rebuild: the per-model indexes go, the per-source ones come (every model × every registered source).
do $$
declare
  model text;
begin
  for model in select m.name from public.embedding_models m order by m.name loop
    perform private.drop_embedding_indexes(model);
    perform util.ensure_embedding_indexes(model);
  end loop;
end
$$;

comment on table public.embeddings is
  'One vector per (source_table, source_id, model); untyped vector column, one partial HNSW index per model and source.';
