// POST /functions/v1/extract-memories — long-term memories extracted from threads (./worker.ts).
//   service_role, body {batch_size?: 1–100, visibility_timeout_seconds?: 10–43200}
//       runs one batch of the memory_extraction_jobs queue (util.process_memory_jobs calls it through
//       pg_net with the service key from Vault) → 207 {done, conflicts, failed, dead_lettered, errors}
//   a signed-in user (or service_role), body {thread_id}
//       extracts from that thread now, until its extraction cursor has caught up → 200 {added, updated,
//       unchanged, messages, candidates, runs}. The thread must be the caller's (checked with the caller's
//       token under row level security): another user's is 404 like an unknown one.
//   400 invalid_request · 401 no bearer token · 403 anon · 404 not_found · 405 not POST · 409 conflict
//   502 provider_failed (the chat API failed or answered malformed JSON) · 503 not_configured (no
//   memories.model) · 500 server_error. Errors are { error: { code, message } }.
// config.toml keeps verify_jwt = true: the gateway checks the token's signature before this runs.
import { errorResponse as error } from '../_shared/http.ts'
import { memoryJobHandler } from '../_shared/memory-job-handler.ts'
import { describeFailure, UUID } from '../_shared/memory-jobs.ts'
import { type ExtractionStore, postgresExtractionStore } from './store.ts'
import { ExtractError, extractNow, processQueue } from './worker.ts'
import { traced } from '../_shared/tracing.ts'

export interface HandlerDeps {
  env?: (name: string) => string | undefined
  store?: () => ExtractionStore
  fetch?: typeof fetch
  requireThread?: (authorization: string, threadId: string) => Promise<void>
}

type Body = { kind: 'queue'; batchSize?: number; visibilityTimeoutSeconds?: number } | { kind: 'thread'; threadId: string }

const isInt = (v: unknown, lo: number, hi: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi

export function parseBody(body: unknown): Body | string {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return 'the body must be a JSON object'
  const b = body as Record<string, unknown>
  if ('thread_id' in b) {
    const extra = Object.keys(b).filter((k) => k !== 'thread_id')
    if (extra.length) return `unknown field "${extra[0]}" (with thread_id nothing else is allowed)`
    if (typeof b.thread_id !== 'string' || !UUID.test(b.thread_id)) return 'thread_id must be a uuid'
    return { kind: 'thread', threadId: b.thread_id }
  }
  const extra = Object.keys(b).filter((k) => k !== 'batch_size' && k !== 'visibility_timeout_seconds')
  if (extra.length) return `unknown field "${extra[0]}" (allowed: thread_id, batch_size, visibility_timeout_seconds)`
  if (b.batch_size !== undefined && !isInt(b.batch_size, 1, 100)) {
    return `batch_size must be a whole number from 1 to 100, got ${JSON.stringify(b.batch_size)}`
  }
  if (b.visibility_timeout_seconds !== undefined && !isInt(b.visibility_timeout_seconds, 10, 43200)) {
    return `visibility_timeout_seconds must be a whole number from 10 to 43200, got ${JSON.stringify(b.visibility_timeout_seconds)}`
  }
  return { kind: 'queue', batchSize: b.batch_size as number | undefined, visibilityTimeoutSeconds: b.visibility_timeout_seconds as number | undefined }
}

export function createHandler(deps: HandlerDeps = {}): (req: Request) => Promise<Response> {
  const env = deps.env ?? ((name: string) => Deno.env.get(name))
  const workerDeps = (store: ExtractionStore) => ({ store, env, fetch: deps.fetch })
  return memoryJobHandler({
    name: 'extract-memories',
    queueRefusal: 'only the service_role key runs the extraction queue; pass thread_id to extract from your thread',
    parseBody,
    openStore: postgresExtractionStore,
    runQueue: (store, body) => processQueue(workerDeps(store), body),
    runThread: (store, body) => extractNow(workerDeps(store), body.threadId),
    isOwnError: (err): err is ExtractError => err instanceof ExtractError,
    providerFailure: (err) =>
      err.code === 'config' ? error(503, 'not_configured', err.message) : error(502, 'provider_failed', describeFailure(err).message),
  }, deps, env)
}

// Each call is a trace (service 'extract-memories') with a span per database call and per chat-model call, with its
// tokens and cost (../_shared/tracing.ts).
export const handler = traced('extract-memories', createHandler())
