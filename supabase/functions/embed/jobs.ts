// The embed worker's view of the database: the SQL functions of the embedding queue
// (supabase/migrations/*_embedding_worker.sql), called with postgres.js over SUPABASE_DB_URL as Supabase's
// automatic-embeddings guide does. `prepare: false` because the connection may be shared with other
// clients (Supavisor's transaction pooler on hosted projects, the embedded stack's single session
// locally), where named prepared statements of one client collide with another's.
import postgres from 'npm:postgres@3.4.9'
import type { EmbeddingModelConfig } from '../_shared/embeddings.ts'

export type JobStatus = 'ok' | 'stale' | 'deleted' | 'empty' | 'embedded' | 'invalid'

/** A job as util.read_embedding_jobs returns it. */
export interface Job {
  msg_id: number
  /** Reads of this job so far, this one included, plus attempts carried over by deferrals. */
  attempts: number
  source_table: string | null
  source_id: string | null
  model: string | null
  content_hash: string | null
  status: JobStatus
  reason: string | null
  content: string | null
  owner_id: string | null
  /** The js-tiktoken encoding the source's token_count is counted with. */
  tokenizer: string | null
}

/** A row of public.embedding_models. */
export interface ModelRow extends EmbeddingModelConfig {
  storage: 'vector' | 'halfvec'
  tokenizer: string
  max_input_tokens: number
  overflow: 'split' | 'truncate'
  max_batch_inputs: number
  max_batch_tokens: number
  is_default: boolean
  state: 'ready' | 'building'
}

/** util.embedding_settings(). */
export interface EmbeddingSettings {
  batch_size: number
  max_requests: number
  max_attempts: number
  visibility_timeout_seconds: number
  backoff_base_seconds: number
  backoff_max_seconds: number
  request_timeout_milliseconds: number
  provider_timeout_milliseconds: number
}

export interface StoredEmbedding {
  msg_ids: number[]
  source_table: string
  source_id: string
  model: string
  content_hash: string
  /** pgvector text form: '[0.1,0.2,…]'. */
  embedding: string
  token_count: number | null
}

export interface JobFailure {
  msg_id: number
  error: string
  delay_seconds: number
  /** False when the worker gave up without trying (the attempt is not counted). */
  attempted?: boolean
  /** Dead-letter now, whatever the attempt count (the job can never succeed). */
  final?: boolean
}

export interface JobStore {
  config(): Promise<{ settings: EmbeddingSettings; models: ModelRow[] }>
  read(batchSize: number, visibilityTimeoutSeconds: number): Promise<Job[]>
  complete(
    results: StoredEmbedding[],
    dropped: number[],
  ): Promise<{ msg_id: number; outcome: 'stored' | 'stale' | 'dropped' }[]>
  fail(failures: JobFailure[]): Promise<{ msg_id: number; outcome: 'retrying' | 'dead_lettered'; attempts: number }[]>
  defer(msgIds: number[]): Promise<number>
}

export type Sql = ReturnType<typeof postgres>

export function connect(url: string): Sql {
  return postgres(url, {
    prepare: false,
    max: 3,
    idle_timeout: 30,
    connect_timeout: 10,
    onnotice: () => {},
  })
}

const num = (v: unknown) => Number(v)

export function postgresJobStore(sql: Sql): JobStore {
  return {
    async config() {
      const [row] = await sql`
        select util.embedding_settings() as settings,
               coalesce((select jsonb_agg(to_jsonb(m)) from public.embedding_models m), '[]'::jsonb) as models`
      return { settings: row.settings as EmbeddingSettings, models: row.models as ModelRow[] }
    },
    async read(batchSize, vt) {
      const rows = await sql`select * from util.read_embedding_jobs(${batchSize}, ${vt})`
      return rows.map((r) => ({ ...(r as unknown as Job), msg_id: num(r.msg_id) }))
    },
    async complete(results, dropped) {
      const rows = await sql`
        select msg_id, outcome from util.complete_embedding_jobs(${sql.json(results as never)}, ${dropped}::bigint[])`
      return rows.map((r) => ({ msg_id: num(r.msg_id), outcome: r.outcome }))
    },
    async fail(failures) {
      const rows = await sql`select msg_id, outcome, attempts from util.fail_embedding_jobs(${
        sql.json(failures as never)
      })`
      return rows.map((r) => ({ msg_id: num(r.msg_id), outcome: r.outcome, attempts: r.attempts }))
    },
    async defer(msgIds) {
      const [row] = await sql`select util.defer_embedding_jobs(${msgIds}::bigint[]) as n`
      return row.n as number
    },
  }
}
