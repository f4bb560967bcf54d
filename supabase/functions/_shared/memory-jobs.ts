// What the long-term memory workers (summarize, extract-memories) share: the database connection
// (postgres.js over SUPABASE_DB_URL as the embed worker, `prepare: false` because the connection may be
// pooled or shared), the generic queue calls of 20261205000700_memory_jobs.sql (read, fail), the
// settings, the retry backoff, the chat client a setting names, and the request checks (who may call,
// and — for a signed-in user asking to run a thread now — whether that user can see the thread).
import postgres from 'npm:postgres@3.4.9'
import { createClient } from 'npm:@supabase/supabase-js@2.109.0'
import { type ChatClient, createChatClient } from './chat.ts'
import { ProviderError } from './provider-http.ts'

export type Sql = ReturnType<typeof postgres>
export type MemoryQueue = 'summary_jobs' | 'memory_extraction_jobs'

export function connect(url: string): Sql {
  return postgres(url, { prepare: false, max: 3, idle_timeout: 30, connect_timeout: 10, onnotice: () => {} })
}

/** A job as util.read_memory_jobs returns it. */
export interface MemoryJob {
  msg_id: number
  /** Reads so far, this one included, plus attempts carried over. */
  attempts: number
  thread_id: string | null
  owner_id: string | null
  reason: string | null
  job: Record<string, unknown>
}

export interface JobFailure {
  msg_id: number
  error: string
  delay_seconds: number
  /** False when the worker gave up without trying (the attempt is not counted). */
  attempted?: boolean
  /** Dead-letter now, whatever the attempt count. */
  final?: boolean
}

export interface JobSettings {
  schedule: string
  batch_size: number
  max_requests: number
  max_attempts: number
  visibility_timeout_seconds: number
  backoff_base_seconds: number
  backoff_max_seconds: number
  request_timeout_milliseconds: number
}

/** The chat settings both features have (summaries.* and memories.*). */
export interface ChatSettings {
  model: string | null
  base_url: string | null
  api_key_env: string | null
  provider_timeout_milliseconds: number
}

/** A public.models row, as far as the workers use it. */
export interface ModelRow {
  id: string
  provider: string
  tokenizer: string
  max_output_tokens: number | null
  metadata: Record<string, unknown>
}

export async function readJobs(sql: Sql, queue: MemoryQueue, batchSize: number, vt: number): Promise<MemoryJob[]> {
  const rows = await sql`select * from util.read_memory_jobs(${queue}, ${batchSize}, ${vt})`
  return rows.map((r) => ({ ...(r as unknown as MemoryJob), msg_id: Number(r.msg_id) }))
}

export async function failJobs(
  sql: Sql,
  queue: MemoryQueue,
  failures: JobFailure[],
): Promise<{ msg_id: number; outcome: 'retrying' | 'dead_lettered'; attempts: number }[]> {
  if (!failures.length) return []
  const rows = await sql`select msg_id, outcome, attempts from util.fail_memory_jobs(${queue}, ${sql.json(failures as never)})`
  return rows.map((r) => ({ msg_id: Number(r.msg_id), outcome: r.outcome, attempts: r.attempts }))
}

export async function loadModel(sql: Sql, id: string | null): Promise<ModelRow | null> {
  if (!id) return null
  const [row] = await sql`select id, provider, tokenizer, max_output_tokens, metadata from public.models where id = ${id}`
  if (!row) throw new ProviderError('config', `the model "${id}" named in the settings is not in public.models any more`)
  return row as unknown as ModelRow
}

/**
 * The chat client for a feature's settings and its model row: the model id sent is the row's
 * metadata.provider_model when set (a provider's own name for it), else the row's id.
 */
export function chatFor(
  settings: ChatSettings,
  model: ModelRow,
  maxTokens: number,
  env: (name: string) => string | undefined,
  fetchImpl?: typeof fetch,
): ChatClient {
  const providerModel = typeof model.metadata?.provider_model === 'string' ? model.metadata.provider_model : model.id
  return createChatClient(
    {
      model: providerModel,
      baseUrl: settings.base_url,
      apiKeyEnv: settings.api_key_env,
      maxTokens,
      timeoutMs: settings.provider_timeout_milliseconds,
    },
    { env, fetch: fetchImpl },
  )
}

/**
 * Seconds to wait before attempt `attempts + 1`: base × 2^(attempts − 1), at most max, scaled by a random
 * factor in [0.5, 1) so retries spread out (as the embed worker does).
 */
export function backoffSeconds(attempts: number, settings: JobSettings, random: () => number): number {
  const exp = Math.min(settings.backoff_max_seconds, settings.backoff_base_seconds * 2 ** Math.max(0, attempts - 1))
  return exp * (0.5 + random() * 0.5)
}

/** Whether a failure is worth retrying: a misconfiguration is not (it fails the same way until fixed). */
export function describeFailure(err: unknown): { message: string; retry: boolean } {
  if (err instanceof ProviderError) return { message: `${err.code}: ${err.message}`, retry: err.code !== 'config' }
  if (err instanceof Error) return { message: `${err.name}: ${err.message}`, retry: true }
  return { message: String(err), retry: true }
}

/** The `role` and `sub` claims of a Bearer JWT (its signature is the gateway's job, verify_jwt = true). */
export function bearerClaims(authorization: string | null): { role: string | null; sub: string | null } {
  const m = /^Bearer\s+([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)$/i.exec(authorization ?? '')
  if (!m) return { role: null, sub: null }
  try {
    const b64 = m[2].replace(/-/g, '+').replace(/_/g, '/')
    const payload = JSON.parse(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)))
    return {
      role: typeof payload?.role === 'string' ? payload.role : null,
      sub: typeof payload?.sub === 'string' ? payload.sub : null,
    }
  } catch {
    return { role: null, sub: null }
  }
}

export class ThreadAccessError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message)
    this.name = 'ThreadAccessError'
  }
}

/**
 * Checks AS THE CALLER (supabase-js with the request's Authorization, so row level security decides)
 * that the thread exists and is theirs: get_thread answers PT404 (404) otherwise, exactly as for the
 * caller's own RPCs.
 */
export async function requireVisibleThread(
  authorization: string,
  threadId: string,
  env: (name: string) => string | undefined,
): Promise<void> {
  const url = env('SUPABASE_URL')
  const anonKey = env('SUPABASE_ANON_KEY')
  if (!url || !anonKey) throw new ThreadAccessError(500, 'server_error', 'SUPABASE_URL and SUPABASE_ANON_KEY must be set')
  const client = createClient(url, anonKey, {
    global: { headers: { Authorization: authorization } },
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  })
  const { error, status } = await client.rpc('get_thread', { thread_id: threadId })
  if (!error) return
  if (status === 404 || error.code === 'PT404') throw new ThreadAccessError(404, 'not_found', error.message)
  if (status === 401) throw new ThreadAccessError(401, 'unauthorized', error.message)
  if (status === 403) throw new ThreadAccessError(403, 'forbidden', error.message)
  if (status === 400) throw new ThreadAccessError(400, 'invalid_input', error.message)
  throw new ThreadAccessError(502, 'server_error', `checking the thread failed: ${error.message}`)
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
