// What every /rest/v1 request carries besides its path: the schema it targets (Accept-Profile /
// Content-Profile), its preferences (Prefer), the media type it accepts, its Range, its JSON body, and the
// transaction-local settings PostgREST gives the database (role, request.jwt.claims, search_path,
// request.method, request.path, request.headers, request.cookies).
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Identity } from '../core/identity.ts'
import type { AuthResult } from '../core/api-auth.ts'
import { ApiError, readBody } from '../core/http.ts'
import type { GatewayContext } from '../core/context.ts'
import { invalidBody, invalidPreferences, invalidRange, mediaTypeError, unacceptableSchema, unsupportedContentType } from './errors.ts'

export interface Preferences {
  return?: 'minimal' | 'headers-only' | 'representation'
  count?: 'exact' | 'planned' | 'estimated'
  resolution?: 'merge-duplicates' | 'ignore-duplicates'
  missing?: 'default' | 'null'
  handling?: 'strict' | 'lenient'
  maxAffected?: number
  paramsSingleObject?: boolean
  /** The preferences honoured, for the Preference-Applied header. */
  applied: string[]
}

export interface RestRequest {
  method: string
  /** Path below /rest/v1, e.g. `/rpc/fn` or `/messages` (request.path, as PostgREST sees it). */
  path: string
  url: URL
  schema: string
  auth: AuthResult
  prefer: Preferences
  /** `Accept: application/vnd.pgrst.object+json`. */
  singular: boolean
  stripNulls: boolean
  /** From the Range header (GET only): rows [offset, offset + limit). */
  range?: { offset: number; limit?: number }
  req: IncomingMessage
}

const PREFERENCE_VALUES: Record<string, readonly string[]> = {
  return: ['minimal', 'headers-only', 'representation'],
  count: ['exact', 'planned', 'estimated'],
  resolution: ['merge-duplicates', 'ignore-duplicates'],
  missing: ['default', 'null'],
  handling: ['strict', 'lenient'],
  tx: ['commit', 'rollback'],
  params: ['single-object', 'multiple-objects'],
}

export function parsePrefer(header: string | string[] | undefined): Preferences {
  const prefs: Preferences = { applied: [] }
  const invalid: string[] = []
  const items = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').map((s) => s.trim()).filter(Boolean)
  for (const item of items) {
    const [key, value = ''] = item.split('=').map((s) => s.trim())
    if (key === 'max-affected' && /^\d+$/.test(value)) prefs.maxAffected = Number(value)
    else if (key === 'timezone') continue
    else if (PREFERENCE_VALUES[key]?.includes(value)) {
      if (key === 'return') prefs.return = value as Preferences['return']
      else if (key === 'count') prefs.count = value as Preferences['count']
      else if (key === 'resolution') prefs.resolution = value as Preferences['resolution']
      else if (key === 'missing') prefs.missing = value as Preferences['missing']
      else if (key === 'handling') prefs.handling = value as Preferences['handling']
      else if (key === 'params') prefs.paramsSingleObject = value === 'single-object'
      // tx=rollback is only honoured by PostgREST with db-tx-end = *-allow-override, which Supabase does not set.
    } else invalid.push(item)
  }
  if (prefs.handling === 'strict' && invalid.length) throw invalidPreferences(invalid)
  return prefs
}

const OBJECT = 'application/vnd.pgrst.object+json'
const ARRAY = 'application/vnd.pgrst.array+json'

/** Reads Accept: JSON arrays (default), a single object, optionally with nulls stripped. */
function parseAccept(header: string | undefined): { singular: boolean; stripNulls: boolean } {
  if (!header) return { singular: false, stripNulls: false }
  const offered = header.split(',').map((s) => s.trim()).filter(Boolean)
  for (const item of offered) {
    const [type, ...params] = item.split(';').map((s) => s.trim().toLowerCase())
    const stripNulls = params.includes('nulls=stripped')
    if (type === OBJECT) return { singular: true, stripNulls }
    if (type === ARRAY || type === 'application/json' || type === '*/*' || type === 'application/*') return { singular: false, stripNulls }
  }
  throw mediaTypeError(offered)
}

function parseRange(header: string | undefined): RestRequest['range'] {
  if (!header) return undefined
  const m = /^(?:items=)?\s*(\d+)-(\d*)\s*$/.exec(header)
  if (!m) return undefined
  const from = Number(m[1])
  if (m[2] === '') return { offset: from }
  const to = Number(m[2])
  if (to < from) throw invalidRange('The lower boundary must be lower than or equal to the upper boundary in the Range header.')
  return { offset: from, limit: to - from + 1 }
}

export async function parseRequest(ctx: GatewayContext, req: IncomingMessage, url: URL, auth: AuthResult): Promise<RestRequest> {
  const method = req.method ?? 'GET'
  const exposed = ctx.config.api.schemas
  const readOnly = method === 'GET' || method === 'HEAD'
  const profile = (readOnly ? req.headers['accept-profile'] : req.headers['content-profile']) as string | undefined
  const schema = profile ?? exposed[0]
  if (!exposed.includes(schema)) throw unacceptableSchema(schema, exposed)
  const accept = parseAccept(req.headers.accept)
  return {
    method,
    path: url.pathname.slice('/rest/v1'.length) || '/',
    url,
    schema,
    auth,
    prefer: parsePrefer(req.headers.prefer),
    singular: accept.singular,
    stripNulls: accept.stripNulls,
    range: readOnly ? parseRange(req.headers.range as string | undefined) : undefined,
    req,
  }
}

/** The JSON body: its text (passed to Postgres as is) and its parsed value (to read keys). */
export async function readJson(ctx: GatewayContext, r: RestRequest): Promise<{ text: string; value: unknown } | null> {
  const type = (r.req.headers['content-type'] ?? 'application/json').split(';')[0].trim().toLowerCase()
  const body = await readBody(r.req, ctx.config.api.maxBodyBytes)
  if (type !== 'application/json' && !(type === '' || type.endsWith('+json'))) throw unsupportedContentType(type)
  const text = body.toString('utf8')
  if (text.trim() === '') return null
  try {
    return { text, value: JSON.parse(text) }
  } catch (err) {
    throw invalidBody(`Empty or invalid json: ${(err as Error).message}`)
  }
}

/** Role, claims and the request.* settings PostgREST sets for the transaction. */
export function identityFor(ctx: GatewayContext, r: RestRequest): Identity {
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(r.req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v
  const cookies: Record<string, string> = {}
  for (const part of (r.req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=')
    if (i > 0) cookies[part.slice(0, i).trim()] = part.slice(i + 1).trim()
  }
  return {
    role: r.auth.role,
    claims: r.auth.claims,
    settings: {
      search_path: [r.schema, ...ctx.config.api.extraSearchPath.filter((s) => s !== r.schema)].map((s) => `"${s.replace(/"/g, '""')}"`).join(', '),
      'request.method': r.method,
      'request.path': r.path,
      'request.headers': JSON.stringify(headers),
      'request.cookies': JSON.stringify(cookies),
    },
  }
}

/** Content-Range for a page of `page` rows starting at `offset`, out of `total` (null when not counted). */
export function contentRange(offset: number, page: number, total: number | null): string {
  const range = page > 0 ? `${offset}-${offset + page - 1}` : '*'
  return `${range}/${total ?? '*'}`
}

/** Sends a JSON text body (already serialized by Postgres) or nothing. */
export function send(res: ServerResponse, status: number, body: string | null, headers: Record<string, string>): void {
  if (body === null || status === 204) {
    res.writeHead(status, headers)
    res.end()
    return
  }
  const buf = Buffer.from(body, 'utf8')
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(buf.length), ...headers })
  res.end(res.req.method === 'HEAD' ? undefined : buf)
}

/** Response headers and status a function set with set_config('response.headers' / 'response.status'). */
export function gucResponse(headersJson: string | null, statusText: string | null): { headers: Record<string, string>; status?: number } {
  const headers: Record<string, string> = {}
  if (headersJson) {
    let parsed: unknown
    try {
      parsed = JSON.parse(headersJson)
    } catch {
      parsed = null
    }
    if (!Array.isArray(parsed)) throw new ApiError(500, 'PGRST111', 'response.headers guc must be a JSON array composed of objects with a single key and a string value')
    for (const entry of parsed) {
      const pairs = Object.entries(entry as Record<string, unknown>)
      if (pairs.length !== 1 || typeof pairs[0][1] !== 'string') {
        throw new ApiError(500, 'PGRST111', 'response.headers guc must be a JSON array composed of objects with a single key and a string value')
      }
      headers[pairs[0][0].toLowerCase()] = pairs[0][1] as string
    }
  }
  let status: number | undefined
  if (statusText) {
    status = Number(statusText)
    if (!Number.isInteger(status) || status < 100 || status > 599) throw new ApiError(500, 'PGRST112', 'response.status guc must be a valid status code')
  }
  return { headers, status }
}

export const GUC_SQL = `select nullif(current_setting('response.headers', true), '') as headers, nullif(current_setting('response.status', true), '') as status`

/** Columns a main query can end with so the GUCs need no statement of their own. */
export const GUC_COLUMNS = `nullif(current_setting('response.headers', true), '') as _pgrst_headers, nullif(current_setting('response.status', true), '') as _pgrst_status`

export interface GucRow {
  _pgrst_headers: string | null
  _pgrst_status: string | null
}
