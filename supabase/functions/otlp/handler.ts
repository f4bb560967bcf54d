// POST /functions/v1/otlp/v1/traces — OTLP/HTTP trace export (the OpenTelemetry protocol's HTTP binding), so
// an agent's own OpenTelemetry SDK — the AI SDK's telemetry included — sends its spans (LLM calls with
// model and token counts) into public.traces / spans / events. Point any OTLP/HTTP trace exporter here:
//   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=$SUPABASE_URL/functions/v1/otlp/v1/traces
//   OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer $USER_ACCESS_TOKEN"   (or the service key)
// With a user's access token the spans are that user's (RLS: they alone and service_role see them) and the
// rate limit 'otlp' applies; with the service key they have no owner (service_role sees them).
// config.toml keeps verify_jwt = true: the gateway checks the token; the spans are stored as the caller
// (public.ingest_spans through PostgREST with the caller's Authorization), so the database decides the owner.
//   body: ExportTraceServiceRequest as application/x-protobuf (or application/protobuf) or application/json,
//         optionally Content-Encoding: gzip; at most 5 MiB as sent and 20 MiB unpacked, 10,000 spans
//   200 ExportTraceServiceResponse in the request's encoding ({} for JSON, empty for protobuf)
//   400 invalid_otlp (malformed body; the message names the field) · 401 unauthorized · 404 not_found (another
//   path) · 405 method_not_allowed · 413 payload_too_large · 415 unsupported_media_type (content type or
//   encoding) · 429 rate_limited (Retry-After, which OTLP exporters honour) · 502 server_error
// Errors are { error: { code, message } }. The whole request is one ingest_spans call, one transaction:
// a request that fails writes nothing.
import { CORS_HEADERS, errorResponse as error, HttpError, preflight } from '../_shared/http.ts'
import { rateLimited } from '../_shared/limits.ts'
import { decodeTraces, exportResponse, OtlpError, type OtlpFormat, type SpanRow } from '../_shared/otlp.ts'
import { annotate, traced, tracedFetch } from '../_shared/tracing.ts'

export const MAX_BODY_BYTES = 5 * 1024 * 1024
export const MAX_UNPACKED_BYTES = 20 * 1024 * 1024
export const MAX_SPANS = 10_000

/** Stores decoded spans as the caller; by default public.ingest_spans through PostgREST. */
export type SpanSink = (spans: SpanRow[], authorization: string) => Promise<void>

export interface HandlerDeps {
  env?: (name: string) => string | undefined
  sink?: SpanSink
  fetch?: typeof fetch
}

/** The encoding a Content-Type names, or null when it is not an OTLP one. */
export function formatOf(contentType: string | null): OtlpFormat | null {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase()
  if (type === 'application/json') return 'json'
  if (type === 'application/x-protobuf' || type === 'application/protobuf') return 'protobuf'
  return null
}

/** The body, at most `limit` bytes (HttpError 413 beyond), read without trusting Content-Length. */
async function readLimited(
  stream: ReadableStream<Uint8Array> | null,
  limit: number,
  what: string,
): Promise<Uint8Array> {
  if (!stream) return new Uint8Array()
  const parts: Uint8Array[] = []
  let size = 0
  const reader = stream.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.length
    if (size > limit) {
      await reader.cancel()
      throw new HttpError(413, 'payload_too_large', `${what} is larger than ${limit} bytes; export smaller batches`)
    }
    parts.push(value)
  }
  const out = new Uint8Array(size)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

function postgrestSink(env: (name: string) => string | undefined, doFetch: typeof fetch): SpanSink {
  return async (spans, authorization) => {
    const url = env('SUPABASE_URL')
    const anonKey = env('SUPABASE_ANON_KEY')
    if (!url || !anonKey) throw new HttpError(500, 'internal_error', 'SUPABASE_URL and SUPABASE_ANON_KEY must be set')
    let res: Response
    try {
      res = await tracedFetch(doFetch)(`${url.replace(/\/+$/, '')}/rest/v1/rpc/ingest_spans`, {
        method: 'POST',
        headers: { apikey: anonKey, authorization, 'content-type': 'application/json' },
        body: JSON.stringify({ spans }),
      })
    } catch (err) {
      throw new HttpError(502, 'server_error', `the database API could not be reached: ${(err as Error).message}`)
    }
    if (res.ok) {
      await res.body?.cancel()
      return
    }
    const body = await res.json().catch(() => null) as { code?: string; message?: string; details?: unknown } | null
    const message = body?.message ?? `HTTP ${res.status}`
    if (res.status === 429) throw rateLimited(res.headers, body)
    if (res.status === 400) throw new HttpError(400, 'invalid_otlp', message)
    if (res.status === 401) {
      throw new HttpError(401, 'unauthorized', `${message} (export with a user's access token or the service key)`)
    }
    if (res.status === 403) throw new HttpError(403, 'forbidden', message)
    throw new HttpError(502, 'server_error', `storing the spans failed: ${message}`)
  }
}

export function createHandler(deps: HandlerDeps = {}): (req: Request) => Promise<Response> {
  const env = deps.env ?? ((name: string) => Deno.env.get(name))
  const sink = deps.sink ?? postgrestSink(env, deps.fetch ?? fetch)
  return async (req) => {
    const pre = preflight(req)
    if (pre) return pre
    try {
      const path = new URL(req.url).pathname
      if (!/(^|\/)v1\/traces\/?$/.test(path)) {
        throw new HttpError(
          404,
          'not_found',
          `no OTLP signal at ${path}: traces are accepted at /functions/v1/otlp/v1/traces`,
        )
      }
      if (req.method !== 'POST') throw new HttpError(405, 'method_not_allowed', 'use POST')
      const authorization = req.headers.get('authorization')
      if (!authorization || !/^Bearer\s+\S+$/i.test(authorization)) {
        throw new HttpError(401, 'unauthorized', 'missing Authorization: Bearer <access token or service key>')
      }
      const format = formatOf(req.headers.get('content-type'))
      if (!format) {
        throw new HttpError(
          415,
          'unsupported_media_type',
          `Content-Type ${
            JSON.stringify(req.headers.get('content-type') ?? '')
          } is not OTLP: send application/x-protobuf or application/json`,
        )
      }
      const encoding = (req.headers.get('content-encoding') ?? 'identity').trim().toLowerCase()
      if (encoding !== 'identity' && encoding !== 'gzip') {
        throw new HttpError(
          415,
          'unsupported_media_type',
          `Content-Encoding ${JSON.stringify(encoding)} is not supported: send gzip or none`,
        )
      }
      const declared = Number(req.headers.get('content-length') ?? 0)
      if (declared > MAX_BODY_BYTES) {
        throw new HttpError(
          413,
          'payload_too_large',
          `the body (${declared} bytes) is larger than ${MAX_BODY_BYTES} bytes; export smaller batches`,
        )
      }
      let body = await readLimited(req.body, MAX_BODY_BYTES, 'the body')
      if (encoding === 'gzip') {
        try {
          const unpacked = new Blob([body as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
            new DecompressionStream('gzip'),
          )
          body = await readLimited(unpacked, MAX_UNPACKED_BYTES, 'the unpacked body')
        } catch (err) {
          if (err instanceof HttpError) throw err
          throw new HttpError(400, 'invalid_otlp', `the body is not valid gzip: ${(err as Error).message}`)
        }
      }
      let spans: SpanRow[]
      try {
        spans = decodeTraces(body, format)
      } catch (err) {
        if (err instanceof OtlpError) throw new HttpError(400, 'invalid_otlp', err.message)
        throw err
      }
      if (spans.length > MAX_SPANS) {
        throw new HttpError(
          413,
          'payload_too_large',
          `${spans.length} spans in one request; at most ${MAX_SPANS} (export smaller batches)`,
        )
      }
      annotate({ 'otlp.format': format, 'otlp.spans': spans.length, 'otlp.body_bytes': body.length })
      if (spans.length) await sink(spans, authorization)
      return new Response(exportResponse(format), {
        status: 200,
        headers: { ...CORS_HEADERS, 'content-type': format === 'json' ? 'application/json' : 'application/x-protobuf' },
      })
    } catch (err) {
      if (err instanceof HttpError) return err.toResponse()
      console.error('[otlp] failed:', (err as Error)?.message ?? err)
      return error(500, 'internal_error', 'the export failed unexpectedly (see the function logs)')
    }
  }
}

export const handler = traced('otlp', createHandler())
