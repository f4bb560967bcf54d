// The HTTP side the two memory-job functions share (summarize, extract-memories): POST only, a bearer
// token of a signed-in user or service_role, a JSON body parsed by the function, the queue run only for
// service_role, a user's thread checked with their own token, and one mapping of failures to statuses.
// Each function supplies what differs: its body, its store and worker, its own error class, and how a
// provider failure answers.
import { errorResponse as error, json, preflight } from './http.ts'
import { bearerClaims, connect, requireVisibleThread, type Sql, ThreadAccessError } from './memory-jobs.ts'
import { ProviderError } from './provider-http.ts'

export type QueueBody = { kind: 'queue'; batchSize?: number; visibilityTimeoutSeconds?: number }
export type ThreadBody = { kind: 'thread'; threadId: string }

export interface MemoryJobEndpoint<S, B extends ThreadBody> {
  /** The function's name, in messages and logs. */
  name: string
  /** What a signed-in user is told when asking for the queue run. */
  queueRefusal: string
  /** The request body, or a message naming the field that is wrong. */
  parseBody(raw: unknown): QueueBody | B | string
  /** The store over the project's database (SUPABASE_DB_URL). */
  openStore(sql: Sql): S
  runQueue(store: S, body: QueueBody): Promise<unknown>
  runThread(store: S, body: B): Promise<unknown>
  /** The function's own errors, which carry their status and code. */
  isOwnError(err: unknown): err is { status: number; code: string; message: string }
  providerFailure(err: ProviderError): Response
}

export interface EndpointDeps<S> {
  env?: (name: string) => string | undefined
  store?: () => S
  /** Replaces the visibility check of a user's thread (tests of the handler alone). */
  requireThread?: (authorization: string, threadId: string) => Promise<void>
}

export function memoryJobHandler<S, B extends ThreadBody>(
  endpoint: MemoryJobEndpoint<S, B>,
  deps: EndpointDeps<S>,
  env: (name: string) => string | undefined,
): (req: Request) => Promise<Response> {
  let sql: Sql | null = null
  const storeFor = deps.store ??
    (() => {
      const url = env('SUPABASE_DB_URL')
      if (!url) throw new Error('SUPABASE_DB_URL is not set')
      sql ??= connect(url)
      return endpoint.openStore(sql)
    })
  const requireThread = deps.requireThread ?? ((auth: string, id: string) => requireVisibleThread(auth, id, env))
  return async (req) => {
    const pre = preflight(req)
    if (pre) return pre
    if (req.method !== 'POST') return error(405, 'method_not_allowed', 'use POST with a JSON body', { allow: 'POST, OPTIONS' })
    const authorization = req.headers.get('authorization')
    if (!authorization) return error(401, 'unauthorized', 'missing Authorization: Bearer <access token or service_role key>')
    const { role } = bearerClaims(authorization)
    if (role !== 'service_role' && role !== 'authenticated') {
      return error(403, 'forbidden', `${endpoint.name} takes a signed-in user's token (for their own thread) or the service_role key`)
    }
    const text = await req.text()
    let raw: unknown = {}
    if (text.trim()) {
      try {
        raw = JSON.parse(text)
      } catch {
        return error(400, 'invalid_json', 'the body is not valid JSON')
      }
    }
    const body = endpoint.parseBody(raw)
    if (typeof body === 'string') return error(400, 'invalid_request', body)
    if (body.kind === 'queue' && role !== 'service_role') return error(403, 'forbidden', endpoint.queueRefusal)
    try {
      const store = storeFor()
      if (body.kind === 'queue') return json(207, await endpoint.runQueue(store, body as QueueBody))
      if (role !== 'service_role') await requireThread(authorization, body.threadId)
      return json(200, await endpoint.runThread(store, body as B))
    } catch (err) {
      if (err instanceof ThreadAccessError || endpoint.isOwnError(err)) return error(err.status, err.code, err.message)
      if (err instanceof ProviderError) return endpoint.providerFailure(err)
      const code = (err as { code?: string })?.code
      if (typeof code === 'string' && code.startsWith('22')) return error(400, 'invalid_request', (err as Error).message)
      console.error(`[${endpoint.name}] failed:`, (err as Error)?.message ?? err)
      return error(500, 'server_error', (err as Error)?.message ?? String(err))
    }
  }
}
