// POST /functions/v1/mirror — applies one batch of the libsql_mirror queue to LibSQL/Turso (see ./batch.ts).
// Called by util.process_libsql_mirror through pg_net with the service_role key from Vault; config.toml keeps
// verify_jwt = true and this handler also requires the service_role claim, so a signed-in user gets 403.
//   body (optional JSON object): { batch_size?: 1–5000, visibility_timeout_seconds?: 1–43200 }
//   200 { read, applied, rows, failed, dead_lettered, errors, max_version }
//   400 invalid body · 401 no bearer token · 403 not service_role · 405 not POST
//   500 batch failed (database unreachable …) · 503 LibSQL cannot be opened (the message names the URL)
// Environment: SUPABASE_DB_URL (Postgres, as postgres), LIBSQL_DATABASE_URL, LIBSQL_AUTH_TOKEN (Turso).
import { CORS_HEADERS, errorResponse, json } from '../_shared/http.ts'
import type { SqlClient } from '../_shared/libsql/sql-client.ts'
import { type MirrorBatchOptions, processMirrorBatch } from './batch.ts'
import { openLibsql } from './libsql.ts'
import { type ChangeStore, connect, postgresChangeStore, type Sql } from './store.ts'

/** The `role` claim of a Bearer JWT (the gateway verifies its signature), or null. */
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

const LIMITS = { batch_size: [1, 5000], visibility_timeout_seconds: [1, 43200] } as const

/** Validates the request body; returns the options or an error message naming the field. */
export function parseOptions(body: unknown): MirrorBatchOptions | string {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return 'body must be a JSON object'
  const opts: MirrorBatchOptions = {}
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

export interface MirrorHandlerDeps {
  store?: () => ChangeStore
  libsql?: () => Promise<SqlClient>
  env?: (name: string) => string | undefined
  random?: () => number
}

export function createHandler(deps: MirrorHandlerDeps = {}): (req: Request) => Promise<Response> {
  const env = deps.env ?? ((name: string) => Deno.env.get(name))
  let sql: Sql | null = null
  const store = deps.store ??
    (() => {
      const url = env('SUPABASE_DB_URL')
      if (!url) throw new Error('SUPABASE_DB_URL is not set')
      sql ??= connect(url)
      return postgresChangeStore(sql)
    })
  // One LibSQL client per function instance; a failed open is retried on the next request.
  let opening: Promise<SqlClient> | null = null
  const libsql = deps.libsql ??
    (() => {
      const url = env('LIBSQL_DATABASE_URL')
      if (!url) return Promise.reject(new Error('LIBSQL_DATABASE_URL is not set: the URL of the mirror (file:…, libsql://…)'))
      opening ??= openLibsql({ url, authToken: env('LIBSQL_AUTH_TOKEN') || undefined })
      opening.catch(() => (opening = null))
      return opening
    })
  return async (req) => {
    if (req.method === 'OPTIONS') return new Response(null, { status: 204, headers: CORS_HEADERS })
    if (req.method !== 'POST') return errorResponse(405, 'method_not_allowed', 'use POST')
    const authorization = req.headers.get('authorization')
    if (!authorization) return errorResponse(401, 'unauthorized', 'missing Authorization: Bearer <service_role key>')
    if (bearerRole(authorization) !== 'service_role') {
      return errorResponse(403, 'forbidden', 'mirror processes the LibSQL mirror queue and takes only the service_role key')
    }
    const text = await req.text()
    let body: unknown = {}
    if (text.trim()) {
      try {
        body = JSON.parse(text)
      } catch {
        return errorResponse(400, 'invalid_json', 'body is not valid JSON')
      }
    }
    const opts = parseOptions(body)
    if (typeof opts === 'string') return errorResponse(400, 'invalid_request', opts)
    let client: SqlClient
    try {
      client = await libsql()
    } catch (err) {
      console.error('[mirror]', (err as Error).message)
      return errorResponse(503, 'libsql_unavailable', (err as Error).message)
    }
    try {
      return json(200, await processMirrorBatch({ store: store(), libsql: client, random: deps.random }, opts))
    } catch (err) {
      console.error('[mirror] batch failed:', err)
      return errorResponse(500, 'batch_failed', (err as Error).message)
    }
  }
}

export const handler = createHandler()
