// Small HTTP helpers shared by the gateway's routes: JSON replies, PostgREST-shaped errors, request
// bodies read with a size limit, and the request target and path segments read without throwing.
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

/**
 * The request target as a URL (parsed against a fixed base: the Host header only has to be well-formed,
 * any host name is accepted, as for a local project). origin-form (`/path?query`) and absolute-form
 * (`http://host/path`) targets are read; any other (`//host:99999/x`, `*`, garbage) is a 400, and so is a
 * malformed or empty Host header.
 */
export function requestUrl(req: IncomingMessage): URL {
  const host = req.headers.host
  if (host !== undefined && !validHost(host)) {
    throw new ApiError(400, 'PGRST100', 'Invalid Host header', `"${host.slice(0, 200)}" is not a host name or address with an optional port`)
  }
  const target = req.url ?? '/'
  try {
    if (target.startsWith('/') && !target.startsWith('//')) return new URL(target, 'http://localhost')
    if (/^https?:\/\//i.test(target)) {
      const abs = new URL(target)
      return new URL(abs.pathname + abs.search, 'http://localhost')
    }
  } catch {
    // falls through to the 400 below
  }
  throw new ApiError(400, 'PGRST100', 'Invalid request target', `"${target.slice(0, 200)}" is not a path such as /rest/v1/…`)
}

/** A Host header a proxy would accept: host name, IPv4 or [IPv6], optional port 0-65535. */
function validHost(host: string): boolean {
  if (!host || /[\s/\\?#@]/.test(host)) return false
  try {
    const u = new URL(`http://${host}`)
    return u.host.length > 0
  } catch {
    return false
  }
}

/** decodeURIComponent for one path segment; malformed percent-encoding is the error `bad` makes (a 400). */
export function decodePathSegment(segment: string, bad: (message: string) => Error): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    throw bad(`Malformed percent-encoding in the request path: "${segment.slice(0, 200)}"`)
  }
}
