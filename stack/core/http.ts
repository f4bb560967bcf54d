// Small HTTP helpers shared by the gateway's routes: JSON replies, PostgREST-shaped errors, and request
// bodies read with a size limit.
import type { IncomingMessage, ServerResponse } from 'node:http'

/** An error that becomes an HTTP reply: PostgREST's `{ code, details, hint, message }` by default. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: string | null = null,
    readonly hint: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
    this.name = 'ApiError'
  }

  body(): Record<string, unknown> {
    return { code: this.code, details: this.details, hint: this.hint, message: this.message }
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? '' : JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  })
  res.end(text)
}

export function sendError(res: ServerResponse, err: ApiError): void {
  sendJson(res, err.status, err.body(), err.headers)
}

/** Reads the whole body, failing with 413 once it exceeds `limit` bytes. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > limit) throw payloadTooLarge(limit)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > limit) {
      req.resume()
      throw payloadTooLarge(limit)
    }
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}

function payloadTooLarge(limit: number): ApiError {
  return new ApiError(413, 'PGRST413', `Request body exceeds the limit of ${limit} bytes`, null,
    'Send a smaller body, or raise AGENT_MEMORY_MAX_BODY_BYTES for the local stack')
}

/** CORS as Supabase's API gateway answers it: any origin, the headers supabase-js sends. */
export const CORS_HEADERS: Record<string, string> = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD',
  'access-control-allow-headers':
    'authorization, x-client-info, apikey, content-type, content-profile, accept-profile, prefer, range, x-supabase-api-version',
  'access-control-expose-headers': 'content-range, content-location, preference-applied, x-total-count',
  'access-control-max-age': '86400',
}
