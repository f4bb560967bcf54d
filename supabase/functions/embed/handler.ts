// POST /functions/v1/embed — runs one batch of the embedding queue (see ./batch.ts). Called by
// util.process_embeddings through pg_net with the service_role key from Vault; config.toml keeps
// verify_jwt = true (the gateway checks the signature) and this handler additionally requires the
// service_role claim, so a signed-in user's token gets 403.
//   body (optional JSON object): { batch_size?: 1–2048, visibility_timeout_seconds?: 1–43200 }
//   207 { done, failed, dead_lettered, dropped, deferred, errors }   per-job outcomes (msg ids)
//   400 invalid body · 401 no bearer token · 403 not service_role · 405 not POST · 500 database unreachable
// Errors are { error: { code, message } }.
import { annotate, traced, traceMethods } from '../_shared/tracing.ts'
import { type BatchDeps, type BatchOptions, processBatch } from './batch.ts'
import { connect, type JobStore, postgresJobStore, type Sql } from './jobs.ts'

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'authorization, x-client-info, apikey, content-type',
  'access-control-allow-methods': 'POST, OPTIONS',
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...CORS, 'content-type': 'application/json' } })
}

function error(status: number, code: string, message: string): Response {
  return json(status, { error: { code, message } })
}

/** The `role` claim of a Bearer JWT (its signature is the gateway's job), or null. */
export function bearerRole(authorization: string | null): string | null {
  const m = /^Bearer\s+([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)$/i.exec(authorization ?? '')
  if (!m) return null
  try {
    const b64 = m[2].replace(/-/g, '+').replace(/_/g, '/')
    const payload = JSON.parse(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)))
    return typeof payload?.role === 'string' ? payload.role : null
  } catch {
    return null
  }
}

const LIMITS = { batch_size: [1, 2048], visibility_timeout_seconds: [1, 43200] } as const

/** Validates the request body; returns the options or an error message naming the field. */
export function parseOptions(body: unknown): BatchOptions | string {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return 'body must be a JSON object'
  const opts: BatchOptions = {}
  for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
    if (!(key in LIMITS)) return `unknown field "${key}" (allowed: ${Object.keys(LIMITS).join(', ')})`
    const [lo, hi] = LIMITS[key as keyof typeof LIMITS]
    if (typeof value !== 'number' || !Number.isInteger(value) || value < lo || value > hi) {
      return `${key} must be a whole number from ${lo} to ${hi}, got ${JSON.stringify(value)}`
    }
    if (key === 'batch_size') opts.batchSize = value
    else opts.visibilityTimeoutSeconds = value
  }
  return opts
}

export interface HandlerDeps {
  /** The job store; by default postgres.js over SUPABASE_DB_URL. */
  store?: () => JobStore
  env?: (name: string) => string | undefined
  providerFor?: BatchDeps['providerFor']
}

export function createHandler(deps: HandlerDeps = {}): (req: Request) => Promise<Response> {
  const env = deps.env ?? ((name: string) => Deno.env.get(name))
  let sql: Sql | null = null
  const store = deps.store ??
    (() => {
      const url = env('SUPABASE_DB_URL')
      if (!url) throw new Error('SUPABASE_DB_URL is not set')
      sql ??= connect(url)
      return postgresJobStore(sql)
    })
  return async (req) => {
    if (req.method === 'OPTIONS') return new Response(null, { status: 204, headers: CORS })
    if (req.method !== 'POST') return error(405, 'method_not_allowed', 'use POST')
    const authorization = req.headers.get('authorization')
    if (!authorization) return error(401, 'unauthorized', 'missing Authorization: Bearer <service_role key>')
    if (bearerRole(authorization) !== 'service_role') {
      return error(403, 'forbidden', 'embed processes the embedding queue and takes only the service_role key')
    }
    const text = await req.text()
    let body: unknown = {}
    if (text.trim()) {
      try {
        body = JSON.parse(text)
      } catch {
        return error(400, 'invalid_json', 'body is not valid JSON')
      }
    }
    const opts = parseOptions(body)
    if (typeof opts === 'string') return error(400, 'invalid_request', opts)
    try {
      // traceMethods: each queue call (read, complete, fail, defer) is a span of the request's trace.
      const report = await processBatch(
        { store: traceMethods(store(), 'jobs'), env, providerFor: deps.providerFor },
        opts,
      )
      annotate({
        'embed.jobs_done': report.done.length,
        'embed.jobs_failed': report.failed.length,
        'embed.jobs_dead_lettered': report.dead_lettered.length,
        'embed.jobs_dropped': report.dropped.length,
        'embed.jobs_deferred': report.deferred.length,
      })
      return json(207, report)
    } catch (err) {
      console.error('[embed] batch failed:', err)
      return error(500, 'batch_failed', (err as Error).message)
    }
  }
}

export const handler = traced('embed', createHandler())
