// MemoryError: every failure the SDK reports, with a stable `code` callers can branch on, mapped from the
// PostgREST error (SQLSTATE or PGRSTnnn code and HTTP status) the database or gateway returned.
//   not_found        unknown id, or one that belongs to another user (PT404, P0002, PGRST116)
//   conflict         stale expected_version or a duplicate (PT409, 23505, 40001)
//   invalid_input    bad argument: wrong type, out of range, too large, NUL character (22xxx, 23502/23503/23514, PGRST100/102)
//   unauthorized     no valid session (401: missing/expired JWT, anon calling a member-only function)
//   forbidden        signed in but not allowed (403, 42501)
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

  constructor(
    code: MemoryErrorCode,
    message: string,
    opts: { cause?: unknown; sqlstate?: string | null; status?: number | null; details?: string | null; hint?: string | null } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'MemoryError'
    this.code = code
    this.sqlstate = opts.sqlstate ?? null
    this.status = opts.status ?? null
    this.details = opts.details ?? null
    this.hint = opts.hint ?? null
  }
}

const INVALID_INPUT = new Set(['23502', '23503', '23514', 'PGRST100', 'PGRST102', 'PGRST204'])
const CONFLICT = new Set(['PT409', '23505', '40001'])
const UNAUTHORIZED = new Set(['PGRST301', 'PGRST302', 'PGRST303'])

/** The SDK code for a PostgREST error (`code` is a SQLSTATE or PGRSTnnn, `status` the HTTP status). */
export function codeFor(sqlstate: string, status: number): MemoryErrorCode {
  if (sqlstate === 'PT404' || sqlstate === 'P0002' || sqlstate === 'PGRST116') return 'not_found'
  if (CONFLICT.has(sqlstate) || status === 409) return 'conflict'
  if (sqlstate.startsWith('22') || INVALID_INPUT.has(sqlstate) || status === 413) return 'invalid_input'
  if (UNAUTHORIZED.has(sqlstate) || status === 401) return 'unauthorized'
  if (sqlstate === '42501' || status === 403) return 'forbidden'
  if (status === 0 || (!sqlstate && !status)) return 'network'
  return 'server'
}

/** Wraps the `error` of a supabase-js response. */
export function fromPostgrestError(error: PostgrestError, status: number, context: string): MemoryError {
  const sqlstate = error.code || null
  const code = codeFor(error.code ?? '', status)
  const message = code === 'network' ? `${context}: the request failed (${error.message})` : error.message
  return new MemoryError(code, message, {
    cause: error,
    sqlstate,
    status,
    details: error.details || null,
    hint: error.hint || null,
  })
}
