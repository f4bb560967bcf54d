// POST /functions/v1/summarize — incremental thread summaries (./worker.ts).
//   service_role, body {batch_size?: 1–100, visibility_timeout_seconds?: 10–43200}
//       runs one batch of the summary_jobs queue (util.process_memory_jobs calls it through pg_net with the
//       service key from Vault) → 207 {done, conflicts, failed, dead_lettered, errors}
//   a signed-in user (or service_role), body {thread_id, keep_recent_tokens?: 0–1000000}
//       summarizes that thread now, step after step, until only the newest keep_recent_tokens (default
//       setting summaries.keep_recent_tokens) are left → 200 {thread_id, summary, summary_through,
//       summary_token_count, stale, unsummarized_tokens, steps, messages_summarized, provider, model}.
//       The thread must be the caller's: checked with the caller's own token (get_thread under row level
//       security), so another user's thread is 404 exactly like an unknown one.
//   400 invalid_request · 401 no bearer token · 403 anon · 404 not_found · 405 not POST · 409 conflict
//   502 provider_failed (the chat API failed) · 500 server_error. Errors are { error: { code, message } }.
// config.toml keeps verify_jwt = true: the gateway checks the token's signature before this runs.
import { errorResponse as error } from '../_shared/http.ts'
import { memoryJobHandler } from '../_shared/memory-job-handler.ts'
import { describeFailure, UUID } from '../_shared/memory-jobs.ts'
import type { Summarizer } from '../_shared/summarizer.ts'
import { postgresSummaryStore, type SummaryStore } from './store.ts'
import { processQueue, SummarizeError, summarizeNow } from './worker.ts'
import { traced } from '../_shared/tracing.ts'

export interface HandlerDeps {
  env?: (name: string) => string | undefined
  store?: () => SummaryStore
  fetch?: typeof fetch
  summarizer?: Summarizer
  /** Replaces the visibility check of a user's thread (tests of the handler alone). */
  requireThread?: (authorization: string, threadId: string) => Promise<void>
}

type Body =
  | { kind: 'queue'; batchSize?: number; visibilityTimeoutSeconds?: number }
  | { kind: 'thread'; threadId: string; keepRecentTokens: number | null }

const isInt = (v: unknown, lo: number, hi: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi

/** The request body, or a message naming the field that is wrong. */
export function parseBody(body: unknown): Body | string {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return 'the body must be a JSON object'
  const b = body as Record<string, unknown>
  if ('thread_id' in b) {
    const extra = Object.keys(b).filter((k) => k !== 'thread_id' && k !== 'keep_recent_tokens')
    if (extra.length) return `unknown field "${extra[0]}" (allowed with thread_id: keep_recent_tokens)`
    if (typeof b.thread_id !== 'string' || !UUID.test(b.thread_id)) return 'thread_id must be a uuid'
    if (b.keep_recent_tokens !== undefined && !isInt(b.keep_recent_tokens, 0, 1_000_000)) {
      return `keep_recent_tokens must be a whole number from 0 to 1000000, got ${JSON.stringify(b.keep_recent_tokens)}`
    }
    return { kind: 'thread', threadId: b.thread_id, keepRecentTokens: (b.keep_recent_tokens as number | undefined) ?? null }
  }
  const extra = Object.keys(b).filter((k) => k !== 'batch_size' && k !== 'visibility_timeout_seconds')
  if (extra.length) return `unknown field "${extra[0]}" (allowed: thread_id, keep_recent_tokens, batch_size, visibility_timeout_seconds)`
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
  const workerDeps = (store: SummaryStore) => ({ store, env, fetch: deps.fetch, summarizer: deps.summarizer })
  return memoryJobHandler({
    name: 'summarize',
    queueRefusal: 'only the service_role key runs the summary queue; pass thread_id to summarize your thread',
    parseBody,
    openStore: postgresSummaryStore,
    runQueue: (store, body) => processQueue(workerDeps(store), body),
    runThread: (store, body) => summarizeNow(workerDeps(store), body.threadId, { keepRecentTokens: body.keepRecentTokens }),
    isOwnError: (err): err is SummarizeError => err instanceof SummarizeError,
    providerFailure: (err) => error(502, 'provider_failed', describeFailure(err).message),
  }, deps, env)
}

// Each call is a trace (service 'summarize') with a span per database call and per chat-model call, with its
// tokens and cost (../_shared/tracing.ts).
export const handler = traced('summarize', createHandler())
