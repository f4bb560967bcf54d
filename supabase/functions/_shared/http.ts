// JSON responses, errors and CORS for Edge Functions called from browsers and SDKs: every error is
// `{ error: { code, message } }` with a fitting status (the style of the embed function), and every
// response carries the CORS headers supabase-js's functions.invoke needs.

export const CORS_HEADERS: Record<string, string> = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'authorization, x-client-info, apikey, content-type',
  'access-control-allow-methods': 'POST, OPTIONS',
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { ...CORS_HEADERS, 'content-type': 'application/json', ...headers },
  })
}

export function errorResponse(
  status: number,
  code: string,
  message: string,
  headers?: Record<string, string>,
): Response {
  return json(status, { error: { code, message } }, headers)
}

/** An error a handler answers with: thrown anywhere below it, turned into errorResponse at the top. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra response headers (e.g. Retry-After of a 429). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
    this.name = 'HttpError'
  }

  toResponse(): Response {
    return errorResponse(this.status, this.code, this.message, {
      ...(this.status === 405 ? { allow: 'POST, OPTIONS' } : {}),
      ...this.headers,
    })
  }
}

/** The preflight answer, or null when `req` is not a CORS preflight. */
export function preflight(req: Request): Response | null {
  return req.method === 'OPTIONS' ? new Response(null, { status: 204, headers: CORS_HEADERS }) : null
}
