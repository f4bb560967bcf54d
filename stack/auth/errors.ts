// GoTrue's error replies, as @supabase/auth-js parses them (lib/fetch.ts handleError). A request that
// sends `X-Supabase-Api-Version: 2024-01-01` (auth-js always does) gets `{ code: <error_code>, message }` and
// the header echoed back, so auth-js reads `code`; an older client gets the initial shape
// `{ code: <HTTP status>, error_code, msg }`. Weak passwords add `weak_password: { reasons }` in both.
// Codes and messages are GoTrue's own (internal/api/apierrors/errorcode.go and the handlers).
import type { IncomingMessage, ServerResponse } from 'node:http'

export const API_VERSION_HEADER = 'x-supabase-api-version'
/** The one dated API version GoTrue knows; any later date selects it too. */
export const API_VERSION_2024_01_01 = '2024-01-01'

export class AuthError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra body fields (weak_password). */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message)
    this.name = 'AuthError'
  }
}

/** OAuth2's error shape (`{ error, error_description }`, always 400), which GoTrue keeps for a few token errors. */
export class OAuthError extends Error {
  constructor(
    readonly error: string,
    readonly description: string,
  ) {
    super(description)
    this.name = 'OAuthError'
  }
}

export const badRequest = (code: string, message: string) => new AuthError(400, code, message)
export const unprocessable = (code: string, message: string) => new AuthError(422, code, message)
export const forbidden = (code: string, message: string) => new AuthError(403, code, message)
export const notFound = (code: string, message: string) => new AuthError(404, code, message)

export function weakPassword(message: string, reasons: string[]): AuthError {
  return new AuthError(422, 'weak_password', message, { weak_password: { reasons } })
}

/** The API version a request asked for: the dated one when its header is a date on or after 2024-01-01. */
export function apiVersionOf(req: IncomingMessage): string | null {
  const v = req.headers[API_VERSION_HEADER]
  if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(v)) return null
  return v >= API_VERSION_2024_01_01 ? API_VERSION_2024_01_01 : null
}

export function sendAuthJson(req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void {
  const headers: Record<string, string> = {}
  const version = apiVersionOf(req)
  if (version) headers[API_VERSION_HEADER] = version
  if (status === 204) {
    res.writeHead(204, headers)
    res.end()
    return
  }
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers })
  res.end(text)
}

export function sendAuthError(req: IncomingMessage, res: ServerResponse, err: AuthError | OAuthError): void {
  if (err instanceof OAuthError) {
    sendAuthJson(req, res, 400, { error: err.error, ...(err.description ? { error_description: err.description } : {}) })
    return
  }
  const body = apiVersionOf(req)
    ? { code: err.code, message: err.message, ...err.extra }
    : { code: err.status, error_code: err.code, msg: err.message, ...err.extra }
  sendAuthJson(req, res, err.status, body)
}
