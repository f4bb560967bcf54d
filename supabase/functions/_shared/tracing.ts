// Tracing for the Edge Functions: every request becomes a trace (a server span for the request, child spans
// for provider calls, database calls and the steps a function marks), buffered in memory and written ONCE,
// after the response has been handed back — so tracing adds no round trip to a request:
//   * to the project's own tables through public.ingest_spans (PostgREST, service key), owned by the caller
//     (the `sub` of the JWT the gateway verified: every function keeps verify_jwt = true);
//   * and, when OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, to that OTLP/HTTP
//     collector too (OTEL_EXPORTER_OTLP_PROTOCOL http/protobuf — the default — or http/json;
//     OTEL_EXPORTER_OTLP_HEADERS "k=v,k2=v2"; service.name = the function's name unless OTEL_SERVICE_NAME).
// On Supabase's edge runtime the write is handed to EdgeRuntime.waitUntil so the worker lives until it is
// done; locally the Deno process simply goes on. A failed write is logged (without keys) and dropped: it
// never fails the request. AGENT_MEMORY_TRACING=off turns tracing off.
//
// The hook for a function is one line in its handler.ts:
//     export const handler = traced('search', createHandler())
// and code below it adds spans without passing anything around (the current trace lives in an
// AsyncLocalStorage): withSpan(name, options, fn), recordUsage({...}) for the current span, tracedFetch
// for supabase-js, traceMethods for a store object. Outside a traced request all of these do nothing.
// An incoming W3C `traceparent` header makes the function's spans children of the caller's span, so an
// agent that propagates its context sees the function inside its own trace.
import { AsyncLocalStorage } from 'node:async_hooks'
import { encodeTraces, type OtlpFormat, type SpanRow } from './otlp.ts'
import { encode, encoding } from './tokenizer.ts'

export type SpanKind = SpanRow['kind']
export type Handler = (req: Request) => Promise<Response>

export interface Usage {
  model?: string | null
  provider?: string | null
  inputTokens?: number | null
  outputTokens?: number | null
}

export interface SpanOptions {
  kind?: SpanKind
  attributes?: Record<string, unknown>
}

/** Header a function's OTLP export carries, so the `otlp` function does not export its own export again. */
export const EXPORT_HEADER = 'x-agent-memory-otlp-export'
export const SCOPE = { name: 'agent-memory', version: '0.1.0' }

const randomHex = (bytes: number) => {
  const b = crypto.getRandomValues(new Uint8Array(bytes))
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('')
}
// performance.timeOrigin + now(): wall time with sub-millisecond resolution, in nanoseconds.
const nowNs = () => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n

export class Span {
  readonly spanId = randomHex(8)
  readonly startNs = nowNs()
  endNs: bigint | null = null
  status: SpanRow['status'] = 'unset'
  statusMessage: string | null = null
  readonly attributes: Record<string, unknown> = {}
  readonly events: NonNullable<SpanRow['events']> = []
  usage: Usage = {}
  /** Texts whose tokens are counted at write time (after the response) when no count was reported. */
  private pendingTokens: { texts: string[]; tokenizer: string } | null = null

  constructor(
    readonly trace: Trace,
    readonly name: string,
    readonly kind: SpanKind,
    readonly parentId: string | null,
  ) {}

  setAttributes(attributes: Record<string, unknown>): this {
    for (const [k, v] of Object.entries(attributes)) if (v !== undefined) this.attributes[k] = v
    return this
  }

  /** Model, provider and token counts of a model call (null or undefined leaves a value as it is). */
  setUsage(usage: Usage): this {
    for (const [k, v] of Object.entries(usage)) {
      if (v !== undefined && v !== null) (this.usage as Record<string, unknown>)[k] = v
    }
    return this
  }

  /** Counts `texts` with `tokenizer` when the span is written, unless a token count was reported by then. */
  countTokensLater(texts: string[], tokenizer: string): this {
    this.pendingTokens = { texts, tokenizer }
    return this
  }

  recordError(err: unknown): this {
    const e = err as { name?: string; message?: string; code?: string; status?: number }
    this.status = 'error'
    this.statusMessage = String(e?.message ?? err).slice(0, 1000)
    this.events.push({
      name: 'exception',
      time_ns: nowNs().toString(),
      attributes: {
        'exception.type': e?.name ?? 'Error',
        'exception.message': this.statusMessage,
        ...(e?.code ? { 'error.code': e.code } : {}),
      },
    })
    return this
  }

  end(): void {
    this.endNs ??= nowNs()
  }

  async resolveTokens(): Promise<void> {
    if (!this.pendingTokens || this.usage.inputTokens != null) return
    try {
      const enc = await encoding(this.pendingTokens.tokenizer)
      this.usage.inputTokens = this.pendingTokens.texts.reduce((n, t) => n + encode(enc, t).length, 0)
    } catch {
      // An unknown tokenizer leaves the count unknown rather than failing the write.
    }
  }

  row(): SpanRow {
    return {
      trace_id: this.trace.traceId,
      span_id: this.spanId,
      parent_span_id: this.parentId,
      name: this.name,
      kind: this.kind,
      status: this.status,
      status_message: this.statusMessage,
      start_ns: this.startNs.toString(),
      end_ns: (this.endNs ?? nowNs()).toString(),
      service: this.trace.service,
      scope: SCOPE.name,
      model: this.usage.model ?? null,
      provider: this.usage.provider ?? null,
      input_tokens: this.usage.inputTokens ?? null,
      output_tokens: this.usage.outputTokens ?? null,
      attributes: this.attributes,
      events: this.events,
    }
  }
}

export class Trace {
  readonly spans: Span[] = []
  readonly root: Span

  constructor(
    readonly service: string,
    readonly ownerId: string | null,
    name: string,
    readonly traceId: string = randomHex(16),
    remoteParent: string | null = null,
  ) {
    this.root = this.startSpan(name, 'server', remoteParent)
  }

  startSpan(name: string, kind: SpanKind, parentId: string | null): Span {
    const span = new Span(this, name, kind, parentId)
    this.spans.push(span)
    return span
  }
}

interface Context {
  trace: Trace
  span: Span
  /** A token count the caller already knows for the next model call's input (see withKnownInputTokens). */
  knownInputTokens?: number
}

const storage = new AsyncLocalStorage<Context>()

/** The innermost open span of the current request, if it is traced. */
export function currentSpan(): Span | undefined {
  return storage.getStore()?.span
}

/** Adds model usage to the current span (e.g. a provider's reported token counts). */
export function recordUsage(usage: Usage): void {
  storage.getStore()?.span.setUsage(usage)
}

/** Sets attributes on the current span. */
export function annotate(attributes: Record<string, unknown>): void {
  storage.getStore()?.span.setAttributes(attributes)
}

/** The input token count the caller passed with withKnownInputTokens, for the model call being traced. */
export function knownInputTokens(): number | undefined {
  return storage.getStore()?.knownInputTokens
}

/** Runs `fn` telling the model call inside it how many input tokens it sends (when the caller counted them). */
export function withKnownInputTokens<T>(tokens: number, fn: () => Promise<T>): Promise<T> {
  const ctx = storage.getStore()
  return ctx ? storage.run({ ...ctx, knownInputTokens: tokens }, fn) : fn()
}

/** Runs `fn` in a child span of the current one (ended when fn settles; a throw marks it failed). */
export async function withSpan<T>(name: string, opts: SpanOptions, fn: (span: Span | null) => Promise<T>): Promise<T> {
  const ctx = storage.getStore()
  if (!ctx) return fn(null)
  const span = ctx.trace.startSpan(name, opts.kind ?? 'internal', ctx.span.spanId)
  if (opts.attributes) span.setAttributes(opts.attributes)
  try {
    return await storage.run({ trace: ctx.trace, span }, () => fn(span))
  } catch (err) {
    span.recordError(err)
    throw err
  } finally {
    span.end()
  }
}

/** A fetch that records each call as a client span (PostgREST paths get names like "rpc hybrid_search"). */
export function tracedFetch(inner: typeof fetch = fetch): typeof fetch {
  return (input: RequestInfo | URL, init?: RequestInit) => {
    if (!storage.getStore()) return inner(input, init)
    const url = new URL(input instanceof Request ? input.url : String(input))
    const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase()
    const rpc = /\/rest\/v1\/rpc\/([^/?]+)/.exec(url.pathname)?.[1]
    const table = /\/rest\/v1\/([^/?]+)/.exec(url.pathname)?.[1]
    const name = rpc
      ? `rpc ${rpc}`
      : table
      ? `${method === 'GET' ? 'select' : method.toLowerCase()} ${table}`
      : `${method} ${url.host}`
    return withSpan(name, {
      kind: 'client',
      attributes: {
        'http.request.method': method,
        'url.path': url.pathname,
        ...(rpc ? { 'db.operation.name': rpc } : {}),
      },
    }, async (span) => {
      const res = await inner(input, init)
      span?.setAttributes({ 'http.response.status_code': res.status })
      if (res.status >= 400 && span) {
        span.status = 'error'
        span.statusMessage = `HTTP ${res.status}`
      }
      return res
    })
  }
}

/** `obj` with each method traced as a span `${prefix}.${method}` (for stores that do not go through fetch). */
export function traceMethods<T extends object>(obj: T, prefix: string, kind: SpanKind = 'client'): T {
  const out = {} as Record<string, unknown>
  for (const [key, value] of Object.entries(obj)) {
    out[key] = typeof value === 'function'
      ? (...args: unknown[]) =>
        withSpan(`${prefix}.${key}`, { kind }, () => (value as (...a: unknown[]) => Promise<unknown>).apply(obj, args))
      : value
  }
  return out as T
}

// ── the hook ──────────────────────────────────────────────────────────────────────────────────────────

export interface TracingOptions {
  env?: (name: string) => string | undefined
  fetch?: typeof fetch
  /** Called with each write's promise (tests await it); by default EdgeRuntime.waitUntil where it exists. */
  waitUntil?: (p: Promise<unknown>) => void
}

/** The JWT claims of a Bearer token (its signature is the gateway's job), or null. */
export function bearerClaims(authorization: string | null): Record<string, unknown> | null {
  const m = /^Bearer\s+[A-Za-z0-9_-]+\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]*$/i.exec(authorization ?? '')
  if (!m) return null
  try {
    const b64 = m[1].replace(/-/g, '+').replace(/_/g, '/')
    const claims = JSON.parse(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)))
    return claims && typeof claims === 'object' ? claims : null
  } catch {
    return null
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** The parent of an incoming W3C traceparent header ("00-<trace id>-<span id>-<flags>"), or null. */
export function parseTraceparent(header: string | null): { traceId: string; spanId: string } | null {
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/.exec(header?.trim() ?? '')
  if (!m || /^0+$/.test(m[1]) || /^0+$/.test(m[2])) return null
  return { traceId: m[1], spanId: m[2] }
}

/** Wraps a function's handler so that each request is traced (see the header). */
export function traced(service: string, handler: Handler, opts: TracingOptions = {}): Handler {
  const env = opts.env ?? ((name: string) => Deno.env.get(name))
  const doFetch = opts.fetch ?? fetch
  const waitUntil = opts.waitUntil ??
    ((p: Promise<unknown>) =>
      (globalThis as { EdgeRuntime?: { waitUntil(p: Promise<unknown>): void } }).EdgeRuntime?.waitUntil(p))
  return async (req) => {
    if (env('AGENT_MEMORY_TRACING') === 'off' || req.method === 'OPTIONS') return handler(req)
    const claims = bearerClaims(req.headers.get('authorization'))
    const owner = claims?.role === 'authenticated' && typeof claims.sub === 'string' && UUID.test(claims.sub)
      ? claims.sub
      : null
    const parent = parseTraceparent(req.headers.get('traceparent'))
    const trace = new Trace(service, owner, `${req.method} /${service}`, parent?.traceId, parent?.spanId ?? null)
    trace.root.setAttributes({
      'http.request.method': req.method,
      'url.path': new URL(req.url).pathname,
      'faas.name': service,
      ...(claims?.role ? { 'enduser.role': claims.role } : {}),
      ...(owner ? { 'enduser.id': owner } : {}),
    })
    const finish = () => {
      trace.root.end()
      const written = write(trace, env, doFetch, !req.headers.has(EXPORT_HEADER))
      pending.add(written)
      void written.finally(() => pending.delete(written))
      waitUntil(written)
    }
    let res: Response
    try {
      res = await storage.run({ trace, span: trace.root }, () => handler(req))
    } catch (err) {
      trace.root.recordError(err)
      finish()
      throw err
    }
    trace.root.setAttributes({ 'http.response.status_code': res.status })
    // OpenTelemetry's rule for server spans: 5xx is an error, 4xx is the client's.
    if (res.status >= 500) trace.root.status = 'error'
    finish()
    return res
  }
}

const pending = new Set<Promise<unknown>>()

/** Resolves once every trace write started so far has finished (for tests and benchmarks). */
export async function flushTraces(): Promise<void> {
  await Promise.allSettled([...pending])
}

async function write(
  trace: Trace,
  env: (name: string) => string | undefined,
  doFetch: typeof fetch,
  exportOtlp: boolean,
): Promise<void> {
  for (const s of trace.spans) {
    s.end()
    await s.resolveTokens()
  }
  const rows = trace.spans.map((s) => s.row())
  await Promise.all([store(rows, trace, env, doFetch), exportOtlp ? exportTo(rows, trace, env, doFetch) : null])
}

async function store(
  rows: SpanRow[],
  trace: Trace,
  env: (name: string) => string | undefined,
  doFetch: typeof fetch,
): Promise<void> {
  const url = env('SUPABASE_URL')
  const key = env('SUPABASE_SERVICE_ROLE_KEY')
  if (!url || !key) return
  try {
    const res = await doFetch(`${url.replace(/\/+$/, '')}/rest/v1/rpc/ingest_spans`, {
      method: 'POST',
      headers: { apikey: key, authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ spans: rows, owner_id: trace.ownerId, source: 'function' }),
    })
    if (!res.ok) {
      console.error(
        `[tracing] storing the trace of ${trace.service} failed: HTTP ${res.status} ${
          (await res.text()).slice(0, 300)
        }`,
      )
    } else await res.body?.cancel()
  } catch (err) {
    console.error(`[tracing] storing the trace of ${trace.service} failed: ${(err as Error).message}`)
  }
}

/** "k=v,k2=v2" (values URL-encoded), as OTEL_EXPORTER_OTLP_HEADERS. */
export function parseOtlpHeaders(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const part of (text ?? '').split(',')) {
    const i = part.indexOf('=')
    if (i <= 0) continue
    out[decodeURIComponent(part.slice(0, i).trim())] = decodeURIComponent(part.slice(i + 1).trim())
  }
  return out
}

/** Where and how to export, from the standard OTEL_EXPORTER_OTLP_* variables; null when not configured. */
export function otlpTarget(
  env: (name: string) => string | undefined,
): { url: string; format: OtlpFormat; headers: Record<string, string> } | null {
  const traces = env('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT')
  const base = env('OTEL_EXPORTER_OTLP_ENDPOINT')
  const url = traces || (base ? `${base.replace(/\/+$/, '')}/v1/traces` : null)
  if (!url) return null
  const protocol = env('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') || env('OTEL_EXPORTER_OTLP_PROTOCOL') || 'http/protobuf'
  return {
    url,
    format: protocol === 'http/json' ? 'json' : 'protobuf',
    headers: {
      ...parseOtlpHeaders(env('OTEL_EXPORTER_OTLP_HEADERS')),
      ...parseOtlpHeaders(env('OTEL_EXPORTER_OTLP_TRACES_HEADERS')),
    },
  }
}

async function exportTo(
  rows: SpanRow[],
  trace: Trace,
  env: (name: string) => string | undefined,
  doFetch: typeof fetch,
): Promise<void> {
  const target = otlpTarget(env)
  if (!target) return
  const resource = {
    'service.name': env('OTEL_SERVICE_NAME') || trace.service,
    'service.namespace': 'agent-memory',
    'faas.name': trace.service,
    'telemetry.sdk.name': SCOPE.name,
    'telemetry.sdk.language': 'js',
  }
  try {
    const res = await doFetch(target.url, {
      method: 'POST',
      headers: {
        ...target.headers,
        'content-type': target.format === 'json' ? 'application/json' : 'application/x-protobuf',
        [EXPORT_HEADER]: '1',
      },
      body: encodeTraces(rows, resource, SCOPE, target.format),
    })
    if (!res.ok) console.error(`[tracing] OTLP export to ${target.url} failed: HTTP ${res.status}`)
    await res.body?.cancel()
  } catch (err) {
    console.error(`[tracing] OTLP export to ${target.url} failed: ${(err as Error).message}`)
  }
}
