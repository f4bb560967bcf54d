// MemoryError: every failure the SDK reports, with a stable `code` callers can branch on, mapped from the
// PostgREST error (SQLSTATE or PGRSTnnn code and HTTP status) the database or gateway returned.
//   not_found        unknown id, or one that belongs to another user (PT404, P0002, PGRST116)
//   conflict         stale expected_version or a duplicate (PT409, 23505, 40001)
//   invalid_input    bad argument: wrong type, out of range, too large, NUL character (22xxx, 23502/23503/23514, PGRST100/102),
//                    or a missing / unknown RPC argument (PGRST202 when the function exists with other arguments)
//   unauthorized     no valid session (401: missing/expired JWT, anon calling a member-only function)
//   forbidden        signed in but not allowed (403, 42501)
//   rate_limited     a rate limit or quota is used up (429, PT429); retryAfterSeconds says how long to wait
//   network          the request never got an HTTP answer
//   server           anything else the server reports (5xx, unknown function, …)
//   unexpected_response  the answer did not have the documented shape
//   unavailable      the LibSQL mirror cannot be opened (the message names its URL)
import type { PostgrestError } from '@supabase/supabase-js'

export type MemoryErrorCode =
  | 'not_found'
  | 'conflict'
  | 'invalid_input'
  | 'unauthorized'
  | 'forbidden'
  | 'rate_limited'
  | 'network'
  | 'server'
  | 'unexpected_response'
  | 'unavailable'

export class MemoryError extends Error {
  readonly code: MemoryErrorCode
  /** The SQLSTATE or PostgREST code behind the error, when the server sent one. */
  readonly sqlstate: string | null
  /** HTTP status of the failed request (0 when there was no answer). */
  readonly status: number | null
  readonly details: string | null
  readonly hint: string | null
  /** For rate_limited: seconds until the limit's window ends (Retry-After), when the server said. */
  readonly retryAfterSeconds: number | null

  constructor(
    code: MemoryErrorCode,
    message: string,
    opts: {
      cause?: unknown
      sqlstate?: string | null
      status?: number | null
      details?: string | null
      hint?: string | null
      retryAfterSeconds?: number | null
    } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'MemoryError'
    this.code = code
    this.sqlstate = opts.sqlstate ?? null
    this.status = opts.status ?? null
    this.details = opts.details ?? null
    this.hint = opts.hint ?? null
    this.retryAfterSeconds = opts.retryAfterSeconds ?? null
  }
}

/**
 * Seconds to wait from a rate-limited answer: the Retry-After header when the caller can read it, else the
 * retry_after_seconds of PT429's JSON details (supabase-js does not expose an RPC's response headers).
 */
export function retryAfterFrom(details: string | null | undefined, header?: string | null): number | null {
  if (header && /^\d+$/.test(header.trim())) return Number(header.trim())
  try {
    const n = JSON.parse(details ?? '')?.retry_after_seconds
    return typeof n === 'number' && n >= 0 ? n : null
  } catch {
    return null
  }
}

const INVALID_INPUT = new Set(['23502', '23503', '23514', 'PGRST100', 'PGRST102', 'PGRST204'])
const CONFLICT = new Set(['PT409', '23505', '40001'])
const UNAUTHORIZED = new Set(['PGRST301', 'PGRST302', 'PGRST303'])

/** The SDK code for a PostgREST error (`code` is a SQLSTATE or PGRSTnnn, `status` the HTTP status). */
export function codeFor(sqlstate: string, status: number): MemoryErrorCode {
  if (sqlstate === 'PT404' || sqlstate === 'P0002' || sqlstate === 'PGRST116') return 'not_found'
  if (sqlstate === 'PT429' || status === 429) return 'rate_limited'
  if (CONFLICT.has(sqlstate) || status === 409) return 'conflict'
  if (sqlstate.startsWith('22') || INVALID_INPUT.has(sqlstate) || status === 413) return 'invalid_input'
  if (UNAUTHORIZED.has(sqlstate) || status === 401) return 'unauthorized'
  if (sqlstate === '42501' || status === 403) return 'forbidden'
  if (status === 0 || (!sqlstate && !status)) return 'network'
  return 'server'
}

/**
 * PGRST202 for a function that exists with other arguments: PostgREST names the closest argument list in
 * its hint ("Perhaps you meant to call the function public.fn(a, b)"). Compared with the arguments the call
 * sent, that names what is unknown or missing — usually an SDK newer or older than the database's
 * migrations. Of the arguments not sent, those the call did not even know (no key at all) are the missing
 * ones; optional arguments the call left undefined are named only when nothing else can be.
 */
function argumentMismatch(error: PostgrestError, fn: string, args: Record<string, unknown>): string | null {
  if (error.code !== 'PGRST202') return null
  const m = /^Perhaps you meant to call the function [^.(]+\.([^.(]+)\(([^)]*)\)$/.exec(error.hint ?? '')
  if (!m || m[1] !== fn) return null
  const takes = m[2] ? m[2].split(', ') : []
  const sent = Object.keys(args).filter((k) => args[k] !== undefined)
  const unknown = sent.filter((k) => !takes.includes(k))
  const list = `(${takes.join(', ')})`
  if (unknown.length) {
    return `${fn}: unknown argument${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} — the database's ${fn} takes ${list}; ` +
      'if the SDK is newer than the database, apply the migrations (npm run db:migrate locally, npx supabase db push on hosted)'
  }
  const notSent = takes.filter((k) => !sent.includes(k))
  const neverKnown = notSent.filter((k) => !(k in args))
  const missing = neverKnown.length ? neverKnown : notSent
  return `${fn}: missing argument${missing.length > 1 ? 's' : ''} — it was called without ${missing.join(', ')}, and the database's ${fn}${list} ` +
    `requires ${missing.length > 1 ? 'them' : 'it'}`
}

/**
 * Wraps the `error` of a supabase-js response. `args` are the arguments of the RPC call, to name a missing
 * or unknown argument.
 */
export function fromPostgrestError(error: PostgrestError, status: number, context: string, args?: Record<string, unknown>): MemoryError {
  const sqlstate = error.code || null
  const mismatch = args ? argumentMismatch(error, context, args) : null
  const code = mismatch ? 'invalid_input' : codeFor(error.code ?? '', status)
  const message = mismatch ?? (code === 'network' ? `${context}: the request failed (${error.message})` : error.message)
  return new MemoryError(code, message, {
    cause: error,
    sqlstate,
    status,
    details: error.details || null,
    hint: error.hint || null,
    retryAfterSeconds: code === 'rate_limited' ? retryAfterFrom(error.details) : null,
  })
}

// Edge Functions (search, ingest) answer with an HTTP status and { error: { code, message } }; their
// failures get the same codes by status.

/** The SDK code for an Edge Function's HTTP status. */
export function codeForStatus(status: number): MemoryErrorCode {
  if (status === 400 || status === 413 || status === 415 || status === 422) return 'invalid_input'
  if (status === 401) return 'unauthorized'
  if (status === 403) return 'forbidden'
  if (status === 404) return 'not_found'
  if (status === 409) return 'conflict'
  if (status === 429) return 'rate_limited'
  if (status === 0) return 'network'
  return 'server'
}

/**
 * Wraps the `error` of `supabase.functions.invoke`: FunctionsHttpError (a non-2xx answer; its Response is
 * read for the function's { error: { code, message } }), FunctionsRelayError (the gateway failed) or
 * FunctionsFetchError (no answer). Matched by name, so a client built with another copy of supabase-js
 * works too. `details` carries the function's own error code.
 */
export async function fromFunctionsError(error: unknown, fn: string): Promise<MemoryError> {
  const name = (error as { name?: string })?.name
  const context = (error as { context?: unknown })?.context
  if (name === 'FunctionsHttpError' && context instanceof Response) {
    const status = context.status
    let code: string | null = null
    let message = `${fn} answered HTTP ${status}`
    try {
      const body = (await context.json()) as { error?: { code?: unknown; message?: unknown } | string; message?: unknown; code?: unknown }
      const e = body?.error
      if (e && typeof e === 'object') {
        if (typeof e.message === 'string') message = e.message
        if (typeof e.code === 'string') code = e.code
      } else if (typeof body?.message === 'string') message = body.message
    } catch {
      // not JSON: keep the status line
    }
    return new MemoryError(codeForStatus(status), message, {
      cause: error,
      status,
      details: code,
      retryAfterSeconds: status === 429 ? retryAfterFrom(null, context.headers.get('retry-after')) : null,
    })
  }
  if (name === 'FunctionsRelayError') {
    const status = context instanceof Response ? context.status : null
    return new MemoryError('server', `${fn}: the functions gateway failed to relay the request`, { cause: error, status })
  }
  const reason = (context as { message?: string })?.message ?? (error as Error)?.message ?? String(error)
  return new MemoryError('network', `${fn}: the request failed (${reason})`, { cause: error, status: 0 })
}
