// Reading and validating an ingest request, before anything touches the database:
//   * application/json: an object with `content` and the optional fields below; no query parameters;
//   * text/plain, text/markdown (or text/x-markdown): the body is the content (UTF-8), the other fields
//     are query parameters (numbers as decimal text, metadata as JSON); format defaults to the media type's
//     (text/plain → text, text/markdown → markdown) unless ?format= says otherwise;
//   * anything else, a charset other than UTF-8, bytes that are not UTF-8, or a NUL character: 415;
//   * larger than MAX_BODY_BYTES: 413, without reading more than that.
// Errors are HttpErrors whose message starts with the field it is about.
import { type Format, FORMATS, STRATEGIES, type Strategy } from '../_shared/chunking/mod.ts'
import { HttpError } from '../_shared/http.ts'

/** Largest accepted body: 5 MiB (about 1.2 M tokens of English; parsing and chunking stay within seconds). */
export const MAX_BODY_BYTES = 5 * 1024 * 1024

export interface IngestRequest {
  content: string
  title: string | null
  format: Format
  strategy: Strategy
  chunk_tokens: number
  chunk_overlap: number
  parent_tokens: number
  source_uri: string | null
  metadata: Record<string, unknown>
  document_id: string | null
  semantic_threshold: number
}

export const DEFAULTS = { chunk_tokens: 400, chunk_overlap: 40, parent_tokens: 1600, semantic_threshold: 95 }
const FIELDS = [
  'content',
  'title',
  'format',
  'strategy',
  'chunk_tokens',
  'chunk_overlap',
  'parent_tokens',
  'source_uri',
  'metadata',
  'document_id',
  'semantic_threshold',
]
const INTEGER_FIELDS = new Set(['chunk_tokens', 'chunk_overlap', 'parent_tokens'])
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const TEXT_TYPES: Record<string, Format> = {
  'text/plain': 'text',
  'text/markdown': 'markdown',
  'text/x-markdown': 'markdown',
}

const invalid = (message: string) => new HttpError(400, 'invalid_input', message)
const unsupported = (message: string) => new HttpError(415, 'unsupported_media_type', message)

/** Reads, decodes and validates the request body (and, for a text body, the query string). */
export async function readIngestRequest(req: Request): Promise<IngestRequest> {
  const type = (req.headers.get('content-type') ?? '').toLowerCase()
  const [mediaType, ...params] = type.split(';').map((s) => s.trim())
  const charset = params.find((p) => p.startsWith('charset='))?.slice('charset='.length).replace(/^"|"$/g, '')
  const isJson = mediaType === 'application/json'
  if (!isJson && !(mediaType in TEXT_TYPES)) {
    throw unsupported(
      `Content-Type ${
        mediaType ? `"${mediaType}"` : '(none)'
      } is not accepted: send application/json, or the text itself as text/plain or text/markdown (UTF-8)`,
    )
  }
  if (charset && charset !== 'utf-8' && charset !== 'utf8') {
    throw unsupported(`charset "${charset}" is not accepted: the body must be UTF-8`)
  }
  const text = decodeUtf8(await readBody(req))
  const query = new URL(req.url).searchParams

  let fields: Record<string, unknown>
  if (isJson) {
    if ([...query.keys()].length) {
      throw invalid(`query parameter ${[...query.keys()][0]}: with a JSON body every field goes in the body`)
    }
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch (err) {
      throw invalid(`body is not valid JSON (${(err as Error).message})`)
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw invalid(
        `body must be a JSON object with a content field (got ${
          Array.isArray(body) ? 'an array' : typeof body === 'object' ? 'null' : typeof body
        })`,
      )
    }
    fields = body as Record<string, unknown>
  } else {
    fields = queryFields(query)
    fields.content = text
    fields.format ??= TEXT_TYPES[mediaType]
  }
  return validate(fields)
}

/** The body, at most MAX_BODY_BYTES of it (413 beyond, checked on the declared length and on the bytes read). */
async function readBody(req: Request): Promise<Uint8Array> {
  const declared = Number(req.headers.get('content-length') ?? NaN)
  if (declared > MAX_BODY_BYTES) throw tooLarge()
  if (!req.body) return new Uint8Array()
  const parts: Uint8Array[] = []
  let size = 0
  const reader = req.body.getReader()
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > MAX_BODY_BYTES) {
      await reader.cancel().catch(() => {})
      throw tooLarge()
    }
    parts.push(value)
  }
  const out = new Uint8Array(size)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.byteLength
  }
  return out
}

function tooLarge(): HttpError {
  return new HttpError(
    413,
    'payload_too_large',
    `the body is larger than ${MAX_BODY_BYTES} bytes (5 MiB), the most ingest accepts; split the document`,
  )
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw unsupported('the body is not valid UTF-8 text')
  }
}

/** Query parameters as fields: integers and semantic_threshold as numbers, metadata parsed as JSON. */
function queryFields(query: URLSearchParams): Record<string, unknown> {
  const fields: Record<string, unknown> = {}
  for (const key of new Set(query.keys())) {
    const values = query.getAll(key)
    if (key === 'content') throw invalid('content: with a text body the body is the content (not a query parameter)')
    if (values.length > 1) throw invalid(`${key} is given ${values.length} times in the query string`)
    const raw = values[0]
    if (INTEGER_FIELDS.has(key) || key === 'semantic_threshold') {
      const number = /^-?\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw) : NaN
      fields[key] = Number.isNaN(number) ? raw : number
    } else if (key === 'metadata') {
      try {
        fields[key] = JSON.parse(raw)
      } catch {
        throw invalid('metadata must be a JSON object (the query parameter is not valid JSON)')
      }
    } else fields[key] = raw
  }
  return fields
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)
  if (typeof value === 'object') return 'an object'
  return String(value)
}

function integer(fields: Record<string, unknown>, key: string, lo: number, hi: number, fallback: number): number {
  const value = fields[key] ?? fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < lo || value > hi) {
    throw invalid(`${key} must be a whole number from ${lo} to ${hi} (got ${describe(value)})`)
  }
  return value
}

function optionalString(fields: Record<string, unknown>, key: string, maxChars: number): string | null {
  const value = fields[key]
  if (value === undefined || value === null) return null
  if (typeof value !== 'string' || !/\S/.test(value) || value.length > maxChars) {
    throw invalid(`${key} must be a non-blank string of at most ${maxChars} characters (got ${describe(value)})`)
  }
  if (value.includes('\u0000')) throw invalid(`${key} must not contain a NUL character`)
  return value
}

export function validate(fields: Record<string, unknown>): IngestRequest {
  const unknown = Object.keys(fields).filter((k) => !FIELDS.includes(k))
  if (unknown.length) throw invalid(`unknown field(s): ${unknown.join(', ')} (fields: ${FIELDS.join(', ')})`)

  const content = fields.content
  if (content === undefined || content === null) throw invalid('content is required')
  if (typeof content !== 'string') throw invalid(`content must be a string (got ${describe(content)})`)
  if (!/\S/.test(content)) throw invalid('content must not be blank')
  if (content.includes('\u0000')) throw unsupported('content contains a NUL character: it is not text')

  const format = fields.format ?? 'markdown'
  if (typeof format !== 'string' || !(FORMATS as readonly string[]).includes(format)) {
    throw invalid(`format must be one of ${FORMATS.join(', ')} (got ${describe(format)})`)
  }
  const strategy = fields.strategy ?? (format === 'markdown' ? 'markdown' : 'paragraph')
  if (typeof strategy !== 'string' || !(STRATEGIES as readonly string[]).includes(strategy)) {
    throw invalid(`strategy must be one of ${STRATEGIES.join(', ')} (got ${describe(strategy)})`)
  }
  const chunk_tokens = integer(fields, 'chunk_tokens', 32, 8192, DEFAULTS.chunk_tokens)
  const chunk_overlap = integer(
    fields,
    'chunk_overlap',
    0,
    Math.floor(chunk_tokens / 2),
    Math.min(DEFAULTS.chunk_overlap, Math.floor(chunk_tokens / 2)),
  )
  const parent_tokens = integer(
    fields,
    'parent_tokens',
    chunk_tokens,
    32768,
    Math.max(DEFAULTS.parent_tokens, chunk_tokens),
  )
  const threshold = fields.semantic_threshold ?? DEFAULTS.semantic_threshold
  if (typeof threshold !== 'number' || !Number.isFinite(threshold) || threshold < 50 || threshold > 99) {
    throw invalid(`semantic_threshold must be a number from 50 to 99 (a percentile; got ${describe(threshold)})`)
  }
  const metadata = fields.metadata ?? {}
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw invalid(`metadata must be a JSON object (got ${describe(metadata)})`)
  }
  const document_id = fields.document_id ?? null
  if (document_id !== null && (typeof document_id !== 'string' || !UUID.test(document_id))) {
    throw invalid(`document_id must be a UUID (got ${describe(document_id)})`)
  }
  return {
    content,
    title: optionalString(fields, 'title', 1000),
    format: format as Format,
    strategy: strategy as Strategy,
    chunk_tokens,
    chunk_overlap,
    parent_tokens,
    source_uri: optionalString(fields, 'source_uri', 2048),
    metadata: metadata as Record<string, unknown>,
    document_id: document_id as string | null,
    semantic_threshold: threshold,
  }
}
