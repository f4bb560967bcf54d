-- Embedding storage: the registry of embedding models and the embeddings themselves.
--
-- `embedding_models` says how each model is called (provider, provider model id, base URL, the env
-- variable holding its key), how big its vectors are (dims) and how they are indexed (storage vector or
-- halfvec, HNSW parameters), and the limits the embed worker must respect (tokenizer, max_input_tokens,
-- overflow split|truncate, max_batch_inputs, max_batch_tokens). Exactly one model is the default: new rows
-- are embedded with it and searches use it. A model being built by util.reembed is in state 'building'.
--
-- `embeddings` holds one vector per (source_table, source_id, model) in an untyped `vector` column, so
-- models of different sizes share the table. Each model gets its own partial HNSW expression index
--   ((embedding::extensions.vector(<dims>)) extensions.vector_cosine_ops) where model = '<name>'
-- (halfvec(<dims>) / halfvec_cosine_ops for storage 'halfvec'), created by util.ensure_embedding_index
-- whenever a model is registered. A vector whose size differs from its model's is rejected with an error
-- naming both sizes (SQLSTATE 22000, as pgvector's own dimension errors).
--
-- Signed-in users read the model registry and their own embeddings; only service_role (and the embed
-- worker, connected as postgres) writes either.

create table public.embedding_models (
  name text primary key
    constraint embedding_models_name_format check (name ~ '^[a-z0-9][a-z0-9._:/-]{0,62}$'),
  provider text not null
    constraint embedding_models_provider_known check (provider in ('openai', 'supabase-ai', 'hash')),
  -- The model id sent to the provider ('text-embedding-3-small', 'gte-small', 'nomic-embed-text' …).
  provider_model text not null
    constraint embedding_models_provider_model_length check (char_length(provider_model) between 1 and 200),
  dims integer not null
    constraint embedding_models_dims_positive check (dims > 0),
  storage text not null default 'vector'
    constraint embedding_models_storage_known check (storage in ('vector', 'halfvec')),
  -- The js-tiktoken encoding used to measure inputs against the limits below.
  tokenizer text not null default 'cl100k_base'
    constraint embedding_models_tokenizer_known check (tokenizer in ('o200k_base', 'cl100k_base', 'p50k_base', 'r50k_base')),
  max_input_tokens integer not null default 8191
    constraint embedding_models_max_input_tokens_positive check (max_input_tokens > 0),
  -- What to do with a longer input: 'split' embeds its pieces in the same provider call and keeps their
  -- token-weighted mean (L2-normalised); 'truncate' embeds its first max_input_tokens tokens.
  overflow text not null default 'truncate'
    constraint embedding_models_overflow_known check (overflow in ('split', 'truncate')),
  -- Provider limits per request.
  max_batch_inputs integer not null default 2048
    constraint embedding_models_max_batch_inputs_positive check (max_batch_inputs > 0),
  max_batch_tokens integer not null default 300000,
  -- OpenAI-compatible base URL (null: https://api.openai.com/v1) and the env variable with its key.
  base_url text
    constraint embedding_models_base_url_http check (base_url is null or base_url ~* '^https?://[^\s]+$'),
  api_key_env text
    constraint embedding_models_api_key_env_format check (api_key_env is null or api_key_env ~ '^[A-Z_][A-Z0-9_]{0,99}$'),
  -- Send `dimensions` to the provider (OpenAI text-embedding-3 models can shorten their vectors).
  request_dimensions boolean not null default false,
  hnsw_m integer not null default 16
    constraint embedding_models_hnsw_m_range check (hnsw_m between 2 and 100),
  hnsw_ef_construction integer not null default 64,
  is_default boolean not null default false,
  state text not null default 'ready'
    constraint embedding_models_state_known check (state in ('ready', 'building')),
  build_started_at timestamptz,
  description text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- pgvector's HNSW indexes take up to 2,000 dimensions as vector and 4,000 as halfvec.
  constraint embedding_models_indexable_dims check (
    (storage = 'vector' and dims <= 2000) or (storage = 'halfvec' and dims <= 4000)),
  constraint embedding_models_hnsw_ef_construction_range check (
    hnsw_ef_construction between 2 * hnsw_m and 1000),
  constraint embedding_models_batch_fits_an_input check (max_batch_tokens >= max_input_tokens),
  constraint embedding_models_provider_model_needs_provider_fields check (
    provider = 'openai' or (base_url is null and api_key_env is null))
);
comment on table public.embedding_models is
  'Embedding models: provider, vector size and storage, input limits. One is the default (new rows, searches).';

-- At most one default (util.finish_embedding_builds and operators switch it in two statements).
create unique index embedding_models_one_default_idx on public.embedding_models (is_default) where is_default;

create trigger embedding_models_touch_updated_at before update on public.embedding_models
  for each row execute function private.touch_updated_at();

create table public.embeddings (
  id bigint generated always as identity primary key,
  owner_id uuid not null,
  source_table text not null,
  source_id uuid not null,
  model text not null references public.embedding_models (name) on update restrict on delete restrict,
  -- sha256 (hex) of the source content this vector was computed from.
  content_hash text not null
    constraint embeddings_content_hash_format check (content_hash ~ '^[0-9a-f]{64}$'),
  embedding extensions.vector not null,
  -- clock_timestamp(): when each row was written, not when its (batch) transaction began.
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp(),
  constraint embeddings_source_model_key unique (source_table, source_id, model)
);
comment on table public.embeddings is
  'One vector per (source_table, source_id, model); untyped vector column, one partial HNSW index per model.';
comment on column public.embeddings.content_hash is 'sha256 (hex) of the source content the vector was computed from.';

create index embeddings_owner_model_idx on public.embeddings (owner_id, model);
-- The pipeline view counts what was embedded recently.
create index embeddings_updated_at_idx on public.embeddings (updated_at);

-- private.require_embedding_model(model text) → public.embedding_models
--   The registry row of `model`. Raises 22023 "unknown embedding model "<name>"; registered models: …"
--   listing every registered model when there is none of that name. Callable by authenticated and
--   service_role (used by the retrieval functions and the util plumbing).
create or replace function private.require_embedding_model(model text)
returns public.embedding_models
language plpgsql
stable
security invoker
as $$
declare
  found_model public.embedding_models;
begin
  select * into found_model from public.embedding_models m where m.name = model;
  if not found then
    raise exception 'unknown embedding model %; registered models: %',
      coalesce('"' || model || '"', 'null'),
      coalesce((select string_agg(m.name, ', ' order by m.name) from public.embedding_models m), '(none)')
      using errcode = '22023',
            hint = 'Register the model in public.embedding_models first.';
  end if;
  return found_model;
end
$$;
revoke all on function private.require_embedding_model(text) from public, anon;
grant execute on function private.require_embedding_model(text) to authenticated, service_role;

-- private.check_query_embedding(model text, query_embedding extensions.vector) → extensions.vector
--   Returns `query_embedding` unchanged when it has the size `model` stores, for the retrieval functions to compare
--   against the model's index. Raises 22000 "query embedding has <n> dimensions but model "<m>" stores <d>"
--   for another size, 22004 for a null query, and the unknown-model error of require_embedding_model.
create or replace function private.check_query_embedding(model text, query_embedding extensions.vector)
returns extensions.vector
language plpgsql
stable
security invoker
as $$
declare
  m public.embedding_models := private.require_embedding_model(model);
begin
  if query_embedding is null then
    raise exception 'query embedding must not be null' using errcode = '22004';
  end if;
  if extensions.vector_dims(query_embedding) <> m.dims then
    raise exception 'query embedding has % dimensions but model "%" stores %',
      extensions.vector_dims(query_embedding), m.name, m.dims
      using errcode = '22000',
            hint = format('Embed the query with %s (%s) to get %s dimensions.', m.name, m.provider_model, m.dims);
  end if;
  return query_embedding;
end
$$;
revoke all on function private.check_query_embedding(text, extensions.vector) from public, anon;
grant execute on function private.check_query_embedding(text, extensions.vector) to authenticated, service_role;

-- private.embeddings_check_dims() → trigger
--   BEFORE INSERT OR UPDATE row trigger on embeddings: rejects a vector whose size differs from its
--   model's with 22000 "embedding has <n> dimensions but model "<m>" stores <d>", and an unknown model
--   with the error listing the registered ones. Nothing is written for a rejected row.
create or replace function private.embeddings_check_dims()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  expected integer;
begin
  select m.dims into expected from public.embedding_models m where m.name = new.model;
  if not found then
    perform private.require_embedding_model(new.model);
  end if;
  if extensions.vector_dims(new.embedding) <> expected then
    raise exception 'embedding has % dimensions but model "%" stores %',
      extensions.vector_dims(new.embedding), new.model, expected
      using errcode = '22000';
  end if;
  return new;
end
$$;
revoke all on function private.embeddings_check_dims() from public, anon, authenticated;

create trigger embeddings_check_dims before insert or update of embedding, model on public.embeddings
  for each row execute function private.embeddings_check_dims();
create trigger embeddings_touch_updated_at before update on public.embeddings
  for each row execute function private.touch_updated_at();

-- private.embedding_index_name(model text) → text
--   The name of a model's HNSW index: embeddings_<model, non-alphanumerics as _, 40 chars>_<md5 prefix>_hnsw.
--   Stable across calls and unique per model name; never longer than 63 characters.
create or replace function private.embedding_index_name(model text)
returns text
language sql
immutable
strict
security invoker
as $$
  select 'embeddings_' || left(regexp_replace(model, '[^a-z0-9]+', '_', 'g'), 40) || '_' || left(md5(model), 6) || '_hnsw'
$$;
revoke all on function private.embedding_index_name(text) from public, anon, authenticated;

-- util.ensure_embedding_index(model text) → text
--   Creates (if missing) the partial HNSW expression index of `model` on public.embeddings and returns its
--   name: vector(<dims>) + vector_cosine_ops, or halfvec(<dims>) + halfvec_cosine_ops for storage
--   'halfvec', with the model's m / ef_construction. Unknown model → 22023 listing the registered ones.
--   Security definer (the index belongs to the table owner); callable by service_role.
create or replace function util.ensure_embedding_index(model text)
returns text
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  m public.embedding_models := private.require_embedding_model(model);
  index_name text := private.embedding_index_name(m.name);
begin
  execute format(
    'create index if not exists %I on public.embeddings using hnsw ((embedding::extensions.%s(%s)) extensions.%s) '
    'with (m = %s, ef_construction = %s) where model = %L',
    index_name, m.storage, m.dims, m.storage || '_cosine_ops', m.hnsw_m, m.hnsw_ef_construction, m.name);
  return index_name;
end
$$;
revoke all on function util.ensure_embedding_index(text) from public, anon, authenticated;
grant execute on function util.ensure_embedding_index(text) to service_role;

-- private.embedding_models_after_write() → trigger
--   AFTER INSERT OR UPDATE OR DELETE row trigger on embedding_models, keeping each model's index in step:
--   a new model gets its index; a change of dims or storage is refused (55000) while the model has
--   embeddings, and otherwise rebuilds the index, as does a change of the HNSW parameters; a deleted
--   model's index is dropped (deleting a model that still has embeddings fails on the foreign key).
create or replace function private.embedding_models_after_write()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op in ('UPDATE', 'DELETE') and (tg_op = 'DELETE' or (new.dims, new.storage, new.hnsw_m, new.hnsw_ef_construction)
      is distinct from (old.dims, old.storage, old.hnsw_m, old.hnsw_ef_construction)) then
    if tg_op = 'UPDATE' and (new.dims, new.storage) is distinct from (old.dims, old.storage)
       and exists (select from public.embeddings e where e.model = old.name) then
      raise exception 'model "%" has embeddings; its dims and storage cannot change', old.name
        using errcode = '55000',
              hint = 'Register a new model and switch to it with util.reembed(<new model>).';
    end if;
    execute format('drop index if exists public.%I', private.embedding_index_name(old.name));
  end if;
  if tg_op in ('INSERT', 'UPDATE') then
    perform util.ensure_embedding_index(new.name);
  end if;
  return null;
end
$$;
revoke all on function private.embedding_models_after_write() from public, anon, authenticated;

create trigger embedding_models_after_write after insert or update or delete on public.embedding_models
  for each row execute function private.embedding_models_after_write();

-- Row level security: the registry is readable by signed-in users and written by service_role; an
-- embedding is readable by its owner; the embed worker writes embeddings (service_role / postgres).
alter table public.embedding_models enable row level security;
alter table public.embeddings enable row level security;

create policy "signed-in users can read embedding models" on public.embedding_models
  for select to authenticated using (true);
create policy "owners can read their embeddings" on public.embeddings
  for select to authenticated using (owner_id = (select auth.uid()));

revoke all on public.embedding_models, public.embeddings from anon;
revoke insert, update, delete, truncate, references, trigger on public.embedding_models, public.embeddings from authenticated;
grant select on public.embedding_models, public.embeddings to authenticated;
grant all on public.embedding_models, public.embeddings to service_role;

-- The models this project knows. hash-384 is the default: it needs no provider or key, so the pipeline
-- works offline; its index uses m = 8 because each HNSW insert with pgvector's default m = 16 costs about
-- four times as much on the embedded (WASM) database, and lexical hash vectors gain little from denser
-- graphs. Hosted projects switch with util.reembed('text-embedding-3-small').
insert into public.embedding_models
  (name, provider, provider_model, dims, storage, tokenizer, max_input_tokens, overflow, max_batch_inputs,
   max_batch_tokens, request_dimensions, hnsw_m, hnsw_ef_construction, is_default, description)
values
  ('hash-384', 'hash', 'hash-384', 384, 'vector', 'cl100k_base', 8191, 'truncate', 2048, 1000000, false, 8, 64, true,
   'Deterministic feature hashing of words and word pairs (lexical, not semantic); offline default.'),
  ('text-embedding-3-small', 'openai', 'text-embedding-3-small', 1536, 'vector', 'cl100k_base', 8191, 'split', 2048,
   300000, true, 16, 64, false, 'OpenAI text-embedding-3-small (key in OPENAI_API_KEY).'),
  ('text-embedding-3-large', 'openai', 'text-embedding-3-large', 3072, 'halfvec', 'cl100k_base', 8191, 'split', 2048,
   300000, true, 16, 64, false, 'OpenAI text-embedding-3-large, indexed as halfvec (key in OPENAI_API_KEY).'),
  ('gte-small', 'supabase-ai', 'gte-small', 384, 'vector', 'cl100k_base', 512, 'truncate', 64, 32768, false, 16, 64,
   false, 'Supabase''s built-in gte-small; only inside Supabase''s edge runtime.')
on conflict (name) do nothing;
