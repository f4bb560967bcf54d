// How each mirrored Supabase table maps onto its LibSQL table (libsql/migrations/0001_mirror.sql): the key,
// the columns and how a value is stored (text, integer, 0/1 boolean, JSON text). The mirror function writes
// rows with toLibsqlValues; mirror:verify hashes both sides through the same mapping; the read client turns
// LibSQL rows back into the shapes Supabase's RPCs return (fromLibsqlRow).
// Embeddings are stored per model: embeddingTableOf(model) names the table, ensureVectorModel creates it.
import { fnv1a } from './migrate.ts'
import { num, type SqlClient, type SqlValue, str } from './sql-client.ts'

export type ColumnType = 'text' | 'int' | 'bool' | 'json'

export interface TableSpec {
  /** The Supabase table (and LibSQL table) name. */
  name: string
  /** Key columns, in the order changes carry them. */
  key: string[]
  /** Mirrored columns (key columns included), in LibSQL column order. */
  columns: [string, ColumnType][]
  /** Has created_us (created_at in microseconds), from the change row's _created_us. */
  createdUs: boolean
}

const t = (name: string, key: string[], columns: [string, ColumnType][], createdUs = true): TableSpec => ({ name, key, columns, createdUs })

export const TABLES: Record<string, TableSpec> = {
  memory_threads: t('memory_threads', ['id'], [
    ['id', 'text'], ['owner_id', 'text'], ['agent_id', 'text'], ['name', 'text'], ['metadata', 'json'], ['summary', 'text'],
    ['summary_through', 'text'], ['summary_token_count', 'int'], ['expires_at', 'text'], ['created_at', 'text'], ['updated_at', 'text'],
  ]),
  messages: t('messages', ['id'], [
    ['id', 'text'], ['thread_id', 'text'], ['owner_id', 'text'], ['role', 'text'], ['content', 'text'], ['tool_call_id', 'text'],
    ['tool_name', 'text'], ['token_count', 'int'], ['token_count_exact', 'bool'], ['metadata', 'json'], ['created_at', 'text'],
  ]),
  agent_states: t('agent_states', ['thread_id', 'agent_id'], [
    ['thread_id', 'text'], ['agent_id', 'text'], ['owner_id', 'text'], ['state', 'json'], ['version', 'int'], ['created_at', 'text'],
    ['updated_at', 'text'],
  ]),
  documents: t('documents', ['id'], [
    ['id', 'text'], ['owner_id', 'text'], ['title', 'text'], ['source_uri', 'text'], ['format', 'text'], ['metadata', 'json'],
    ['content_hash', 'text'], ['chunking', 'json'], ['chunk_count', 'int'], ['token_count', 'int'], ['created_at', 'text'],
    ['updated_at', 'text'],
  ]),
  document_chunks: t('document_chunks', ['id'], [
    ['id', 'text'], ['document_id', 'text'], ['owner_id', 'text'], ['ordinal', 'int'], ['level', 'int'], ['parent_id', 'text'],
    ['content', 'text'], ['heading_path', 'json'], ['token_count', 'int'], ['char_start', 'int'], ['char_end', 'int'],
    ['metadata', 'json'], ['search_text', 'text'], ['content_hash', 'text'], ['created_at', 'text'],
  ]),
}

/** Embeddings: the columns of every per-model table; the key within it is (source_table, source_id). */
export const EMBEDDING_COLUMNS: [string, ColumnType][] = [
  ['source_table', 'text'], ['source_id', 'text'], ['owner_id', 'text'], ['model', 'text'], ['content_hash', 'text'],
  ['created_at', 'text'], ['updated_at', 'text'],
]

/** Every table name a change may carry. */
export const MIRRORED_TABLES = [...Object.keys(TABLES), 'embeddings']

/**
 * The DiskANN index settings of every per-model vector index: cosine distance; neighbours stored as 8-bit
 * floats and at most 20 per node keep inserts affordable (the graph is rebuilt around every insert).
 * Searches re-rank the index's candidates by the exact distance of the full vectors.
 */
export const VECTOR_INDEX_OPTIONS = ["'metric=cosine'", "'compress_neighbors=float8'", "'max_neighbors=20'"]

function store(type: ColumnType, value: unknown, field: string): SqlValue {
  if (value === null || value === undefined) return null
  switch (type) {
    case 'text':
      return typeof value === 'string' ? value : String(value)
    case 'int':
      if (typeof value === 'number' || typeof value === 'bigint') return value
      if (typeof value === 'string' && /^-?\d+$/.test(value)) return Number(value)
      throw new Error(`${field} must be an integer, got ${JSON.stringify(value)}`)
    case 'bool':
      return value === true || value === 1 || value === 't' ? 1 : 0
    case 'json':
      return JSON.stringify(value)
  }
}

/** The LibSQL values of a Supabase row (the JSON the worker SQL returns), in spec column order. */
export function toLibsqlValues(columns: [string, ColumnType][], row: Record<string, unknown>, table: string): SqlValue[] {
  return columns.map(([c, type]) => store(type, row[c], `${table}.${c}`))
}

/** A LibSQL row back in the shape Supabase returns it (booleans, parsed JSON). */
export function fromLibsqlRow(columns: [string, ColumnType][], row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [c, type] of columns) {
    const v = row[c]
    if (v === null || v === undefined) out[c] = null
    else if (type === 'bool') out[c] = Number(v) !== 0
    else if (type === 'json') out[c] = JSON.parse(String(v))
    else if (type === 'int') out[c] = Number(v)
    else out[c] = String(v)
  }
  return out
}

export interface VectorModel {
  name: string
  dims: number
  table: string
  index: string
}

/** The per-model table of `model`: embeddings_<model as [a-z0-9_], 40 chars>_<fnv1a of the name>. */
export function embeddingTableOf(model: string): { table: string; index: string } {
  const table = `embeddings_${model.toLowerCase().replace(/[^a-z0-9]+/g, '_').slice(0, 40)}_${fnv1a(model)}`
  return { table, index: `${table}_vec` }
}

/** The vector models LibSQL holds. */
export async function vectorModels(client: SqlClient): Promise<Map<string, VectorModel>> {
  const rows = (await client.execute({ sql: 'select name, dims, table_name, index_name from vector_models' })).rows
  return new Map(rows.map((r) => [str(r, 'name')!, { name: str(r, 'name')!, dims: num(r, 'dims')!, table: str(r, 'table_name')!, index: str(r, 'index_name')! }]))
}

/**
 * Creates the table and vector index of `model` (dims from Supabase's embedding_models) if LibSQL has none,
 * and returns it. A model LibSQL already holds with other dims is an error naming both sizes.
 */
export async function ensureVectorModel(client: SqlClient, model: string, dims: number): Promise<VectorModel> {
  if (!Number.isInteger(dims) || dims < 1 || dims > 65536) throw new Error(`embedding model "${model}" has ${dims} dims; LibSQL vectors take 1 to 65536`)
  const { table, index } = embeddingTableOf(model)
  await client.batch(
    [
      {
        sql: `create table if not exists ${table} (
          source_table text not null, source_id text not null, owner_id text not null, model text not null,
          content_hash text not null, created_at text not null, updated_at text not null,
          embedding F32_BLOB(${dims}) not null, mirror_version integer not null,
          primary key (source_table, source_id))`,
      },
      { sql: `create index if not exists ${index} on ${table} (libsql_vector_idx(embedding, ${VECTOR_INDEX_OPTIONS.join(', ')}))` },
      { sql: `create index if not exists ${table}_owner on ${table} (owner_id)` },
      {
        sql: 'insert into vector_models (name, dims, table_name, index_name, created_at) values (?, ?, ?, ?, ?) on conflict (name) do nothing',
        args: [model, dims, table, index, new Date().toISOString()],
      },
    ],
    'write',
  )
  const have = (await vectorModels(client)).get(model)!
  if (have.dims !== dims) {
    throw new Error(`embedding model "${model}" has ${dims} dims in Supabase but the mirror's table ${have.table} holds ${have.dims}`)
  }
  return have
}

/** Float32 values of pgvector text ('[0.1,0.2]'), as LibSQL's F32_BLOB stores them. */
export function parseVectorText(text: string): Float32Array {
  const values = JSON.parse(text) as number[]
  if (!Array.isArray(values)) throw new Error('embedding is not a vector')
  return Float32Array.from(values)
}

/** Lower-case hex of bytes (content hashes of vectors). */
export function hex(bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += b.toString(16).padStart(2, '0')
  return s
}
