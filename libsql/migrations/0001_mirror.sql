-- The LibSQL mirror of Agent Memory: threads, messages, agent states, documents and their chunks as the
-- `mirror` Edge Function copies them from Supabase, with FTS5 over message and chunk text, tombstones of
-- deleted rows and, per row, the version of the change it reflects (mirror_version). Embeddings live in one
-- table per model (embeddings_<model>_<hash>, embedding F32_BLOB(<dims>) with a libsql_vector_idx), created
-- by the mirror when a model's first embedding arrives and listed in vector_models.
--
-- Columns are those of the Supabase tables (uuid and timestamptz as text, exactly as PostgREST renders them;
-- jsonb as JSON text; booleans as 0/1) plus created_us (created_at in microseconds since 1970: the keyset the
-- cursors of load_messages / list_threads encode) and mirror_version. No foreign keys: changes of different
-- tables arrive in any order, and each row converges on its own by version.

create table memory_threads (
  id text primary key,
  owner_id text not null,
  agent_id text,
  name text,
  metadata text not null default '{}',
  summary text,
  summary_through text,
  summary_token_count integer,
  expires_at text,
  created_at text not null,
  updated_at text not null,
  created_us integer not null,
  mirror_version integer not null
);
-- list_threads: an owner's threads newest first, optionally of one agent (keyset on created_us, id).
create index memory_threads_owner_created on memory_threads (owner_id, created_us desc, id desc);
create index memory_threads_owner_agent_created on memory_threads (owner_id, agent_id, created_us desc, id desc);

create table messages (
  id text primary key,
  thread_id text not null,
  owner_id text not null,
  role text not null,
  content text not null,
  tool_call_id text,
  tool_name text,
  token_count integer not null,
  token_count_exact integer not null,
  metadata text not null default '{}',
  created_at text not null,
  created_us integer not null,
  mirror_version integer not null
);
-- load_messages: one thread's messages in (created_us, id) order, both directions.
create index messages_thread_created on messages (thread_id, created_us, id);

-- Keyword search: FTS5 over the content, kept in step by triggers (external content: the text is stored once).
create virtual table messages_fts using fts5(content, content = 'messages', content_rowid = 'rowid',
  tokenize = 'porter unicode61 remove_diacritics 2');
create trigger messages_fts_after_insert after insert on messages begin
  insert into messages_fts (rowid, content) values (new.rowid, new.content);
end;
create trigger messages_fts_after_delete after delete on messages begin
  insert into messages_fts (messages_fts, rowid, content) values ('delete', old.rowid, old.content);
end;
create trigger messages_fts_after_update after update of content on messages begin
  insert into messages_fts (messages_fts, rowid, content) values ('delete', old.rowid, old.content);
  insert into messages_fts (rowid, content) values (new.rowid, new.content);
end;

create table agent_states (
  thread_id text not null,
  agent_id text not null,
  owner_id text not null,
  state text not null default '{}',
  version integer not null,
  created_at text not null,
  updated_at text not null,
  created_us integer not null,
  mirror_version integer not null,
  primary key (thread_id, agent_id)
);

create table documents (
  id text primary key,
  owner_id text not null,
  title text,
  source_uri text,
  format text not null,
  metadata text not null default '{}',
  content_hash text not null,
  chunking text not null default '{}',
  chunk_count integer not null,
  token_count integer not null,
  created_at text not null,
  updated_at text not null,
  created_us integer not null,
  mirror_version integer not null
);
create index documents_owner_created on documents (owner_id, created_us desc, id desc);

create table document_chunks (
  id text primary key,
  document_id text,
  owner_id text not null,
  ordinal integer not null,
  level integer not null,
  parent_id text,
  content text not null,
  heading_path text not null default '[]',
  token_count integer not null,
  char_start integer,
  char_end integer,
  metadata text not null default '{}',
  search_text text,
  content_hash text,
  created_at text not null,
  created_us integer not null,
  mirror_version integer not null
);
create index document_chunks_document on document_chunks (document_id, ordinal);
create index document_chunks_owner on document_chunks (owner_id);

create virtual table document_chunks_fts using fts5(search_text, content = 'document_chunks', content_rowid = 'rowid',
  tokenize = 'porter unicode61 remove_diacritics 2');
create trigger document_chunks_fts_after_insert after insert on document_chunks begin
  insert into document_chunks_fts (rowid, search_text) values (new.rowid, new.search_text);
end;
create trigger document_chunks_fts_after_delete after delete on document_chunks begin
  insert into document_chunks_fts (document_chunks_fts, rowid, search_text) values ('delete', old.rowid, old.search_text);
end;
create trigger document_chunks_fts_after_update after update of search_text on document_chunks begin
  insert into document_chunks_fts (document_chunks_fts, rowid, search_text) values ('delete', old.rowid, old.search_text);
  insert into document_chunks_fts (rowid, search_text) values (new.rowid, new.search_text);
end;

-- The embedding models the mirror holds vectors of: each has its own table and vector index.
create table vector_models (
  name text primary key,
  dims integer not null check (dims between 1 and 65536),
  table_name text not null unique,
  index_name text not null unique,
  created_at text not null
);

-- A deleted row: the version of the change that removed it, so that an older change arriving later
-- (a replay, a reordered batch) cannot bring the row back. row_key is the JSON array of the row's key.
create table tombstones (
  source_table text not null,
  row_key text not null,
  owner_id text,
  mirror_version integer not null,
  deleted_at text not null,
  primary key (source_table, row_key)
) without rowid;

-- Where the mirror stands (last applied version and time, backfill progress), key → JSON value.
create table mirror_state (
  key text primary key,
  value text not null,
  updated_at text not null
);
