// POST /functions/v1/search — search the caller's documents, messages or long-term memories, with optional HyDE, query
// expansion and reranking (./pipeline.ts). config.toml keeps verify_jwt = true (the gateway checks the
// token); every database read and RPC runs with the caller's own Authorization header, so row level
// security applies as if the caller had made the calls.
//   body: { query, mode?: hybrid|bm25|vector, k?: 1..1000, scope?: documents|thread|agent|all|memories,
//           filters?: { metadata?, thread_id?, agent_id?, roles?, document_ids?, created_after?, created_before?,
//                       kinds?, include_invalid?, valid_at? (scope memories) },
//           before?/after?: 0..20 (message scopes), rerank?: boolean | { top_n?, model? }, hyde?: boolean,
//           expand?: boolean | { n?: 1..5 } }                                              (./request.ts)
//   200 { query, mode, scope, results, reranked, steps: { embed, hyde, expand, rerank } }
//   400 invalid_input (bad body, or the RPC refused an argument: 22xxx) · 401 unauthorized · 403 forbidden
//   404 not_found (PT404: an unknown or another user's thread) · 405 method_not_allowed
//   429 rate_limited (rate limit 'search' or a quota; Retry-After) · 502 embedding_failed (mode vector only) /
//   server_error · 500 server_error
// Errors are { error: { code, message } }. Nothing here logs a key or a query.
import { errorResponse as error, HttpError, json, preflight } from '../_shared/http.ts'
import { checkLimits, rateLimited } from '../_shared/limits.ts'
import { traced } from '../_shared/tracing.ts'
import { type PipelineDeps, runSearch, SearchError } from './pipeline.ts'
import { parseRequest } from './request.ts'
import { type SearchStore, StoreError, supabaseStore } from './store.ts'

/** The response for a database error, by PostgREST's status (which already follows the SQLSTATE). */
export function storeErrorResponse(err: StoreError): Response {
  if (err.status === 0) return error(502, 'server_error', `the database API could not be reached: ${err.message}`)
  if (err.status === 400 || err.code.startsWith('22')) return error(400, 'invalid_input', err.message)
  if (err.status === 401) return error(401, 'unauthorized', err.message)
  if (err.status === 403) return error(403, 'forbidden', err.message)
  if (err.status === 404) return error(404, 'not_found', err.message)
  if (err.status === 429) return rateLimited(new Headers(), { message: err.message, details: err.details }).toResponse()
  return error(err.status >= 500 ? 502 : 500, 'server_error', err.message)
}

export interface HandlerDeps {
  env?: (name: string) => string | undefined
  /** The database as the caller; by default supabase-js over SUPABASE_URL with the request's token. */
  store?: (authorization: string) => SearchStore
  fetch?: typeof fetch
  /**
   * Rate limit and quota check for the caller (throws HttpError 429); by default public.check_limits('search')
   * through PostgREST — or none when `store` is injected (handler tests) and this is not.
   */
  limits?: (authorization: string) => Promise<void>
}

export function createHandler(deps: HandlerDeps = {}): (req: Request) => Promise<Response> {
  const env = deps.env ?? ((name: string) => Deno.env.get(name))
  const storeFor = deps.store ?? ((authorization: string) => supabaseStore(authorization, env))
  const limits = deps.limits ??
    (deps.store ? () => Promise.resolve() : (authorization: string) => checkLimits('search', authorization, env))
  return async (req) => {
    const pre = preflight(req)
    if (pre) return pre
    if (req.method !== 'POST') return error(405, 'method_not_allowed', 'use POST with a JSON body', { allow: 'POST, OPTIONS' })
    const authorization = req.headers.get('authorization')
    if (!authorization || !/^Bearer\s+\S+$/i.test(authorization)) {
      return error(
        401,
        'unauthorized',
        'missing Authorization: Bearer <access token> (search runs as the signed-in user)',
      )
    }
    // Started before the body is read, awaited before anything is spent.
    const gate = limits(authorization)
    gate.catch(() => {})
    let body: unknown
    try {
      body = JSON.parse(await req.text())
    } catch {
      return error(400, 'invalid_input', 'the body is not valid JSON')
    }
    const parsed = parseRequest(body)
    if (typeof parsed === 'string') return error(400, 'invalid_input', parsed)
    try {
      await gate
      const pipeline: PipelineDeps = { store: storeFor(authorization), env, fetch: deps.fetch }
      return json(200, await runSearch(parsed, pipeline))
    } catch (err) {
      if (err instanceof HttpError) return err.toResponse()
      if (err instanceof StoreError) return storeErrorResponse(err)
      if (err instanceof SearchError) return error(err.status, err.code, err.message)
      console.error('[search] unexpected error:', (err as Error)?.message ?? err)
      return error(500, 'server_error', 'the search failed unexpectedly (see the function logs)')
    }
  }
}

export const handler = traced('search', createHandler())
