// OTLP/HTTP trace payloads (OpenTelemetry's ExportTraceServiceRequest) in both encodings, to and from the
// span rows public.ingest_spans stores:
//   decodeTraces(bytes, 'json' | 'protobuf')  → SpanRow[]   (the `otlp` function: what an agent exports)
//   encodeTraces(SpanRow[], resource, format) → bytes       (OTLP out: what the functions export)
// Protobuf goes through the protobufjs code OpenTelemetry JS generated from the official opentelemetry-proto
// definitions and shipped in @opentelemetry/otlp-transformer (build/src/generated/root.js, pinned: later
// versions replaced it with a hand-written writer that cannot decode requests). JSON follows the OTLP/JSON
// rules (lowerCamelCase keys — snake_case accepted too —, trace and span ids as hex, 64-bit integers as
// strings or numbers, enums as numbers or names).
// Model calls are recognised from the GenAI semantic conventions (gen_ai.request.model, gen_ai.usage.
// input_tokens / output_tokens), their older names (gen_ai.usage.prompt_tokens / completion_tokens), the
// legacy llm.* attributes (OpenLLMetry's llm.usage.*, OpenInference's llm.token_count.* / llm.model_name)
// and the AI SDK's ai.* attributes (ai.model.id, ai.usage.*). The AI SDK reports a call's usage twice — on
// the outer ai.generateText span (the sum of its steps) and on each inner ai.generateText.doGenerate span —
// so only the inner ones count, or a trace's tokens would be doubled.
import otlpRoot from 'npm:@opentelemetry/otlp-transformer@0.216.0/build/src/generated/root.js'

/** One span as public.ingest_spans takes it. */
export interface SpanRow {
  trace_id: string
  span_id: string
  parent_span_id: string | null
  name: string
  kind: 'internal' | 'server' | 'client' | 'producer' | 'consumer'
  status: 'unset' | 'ok' | 'error'
  status_message?: string | null
  /** Unix time in nanoseconds, as a decimal string (64 bits do not fit a JSON number). */
  start_ns: string
  end_ns: string
  service?: string | null
  scope?: string | null
  model?: string | null
  provider?: string | null
  input_tokens?: number | null
  output_tokens?: number | null
  cost_usd?: number | null
  attributes: Record<string, unknown>
  resource?: Record<string, unknown>
  events?: { name: string; time_ns: string; attributes?: Record<string, unknown> }[]
}

export type OtlpFormat = 'json' | 'protobuf'

/** A payload that is not a valid OTLP trace export; `path` names the offending field. */
export class OtlpError extends Error {
  constructor(readonly path: string, message: string) {
    super(path ? `${path}: ${message}` : message)
    this.name = 'OtlpError'
  }
}

interface MessageType {
  decode(bytes: Uint8Array): unknown
  encode(message: unknown): { finish(): Uint8Array }
  fromObject(object: unknown): unknown
  toObject(message: unknown, options: Record<string, unknown>): Record<string, unknown>
  verify(message: unknown): string | null
}

const v1 = (otlpRoot as unknown as {
  opentelemetry: { proto: { collector: { trace: { v1: Record<string, MessageType> } } } }
}).opentelemetry.proto.collector.trace.v1
const ExportTraceServiceRequest = v1.ExportTraceServiceRequest
const ExportTraceServiceResponse = v1.ExportTraceServiceResponse

const KINDS = ['internal', 'internal', 'server', 'client', 'producer', 'consumer'] as const
const KIND_NAMES: Record<string, SpanRow['kind']> = {
  SPAN_KIND_UNSPECIFIED: 'internal',
  SPAN_KIND_INTERNAL: 'internal',
  SPAN_KIND_SERVER: 'server',
  SPAN_KIND_CLIENT: 'client',
  SPAN_KIND_PRODUCER: 'producer',
  SPAN_KIND_CONSUMER: 'consumer',
}
const STATUS = ['unset', 'ok', 'error'] as const
const STATUS_NAMES: Record<string, SpanRow['status']> = {
  STATUS_CODE_UNSET: 'unset',
  STATUS_CODE_OK: 'ok',
  STATUS_CODE_ERROR: 'error',
}

// ── decoding ──────────────────────────────────────────────────────────────────────────────────────────

type Obj = Record<string, unknown>

/** A field by its lowerCamelCase name or its proto (snake_case) name. */
function field(o: Obj, camel: string): unknown {
  if (camel in o) return o[camel]
  const snake = camel.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase())
  return o[snake]
}

function list(o: Obj, camel: string, path: string): Obj[] {
  const v = field(o, camel)
  if (v === undefined || v === null) return []
  if (!Array.isArray(v)) throw new OtlpError(`${path}.${camel}`, 'must be an array')
  v.forEach((x, i) => {
    if (x === null || typeof x !== 'object' || Array.isArray(x)) {
      throw new OtlpError(`${path}.${camel}[${i}]`, 'must be an object')
    }
  })
  return v as Obj[]
}

// Two hex digits per byte value, and the id patterns, built once: ids are decoded for every span.
const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'))
const ID_PATTERN: Record<number, RegExp> = { 8: /^[0-9a-f]{16}$/, 16: /^[0-9a-f]{32}$/ }

function hexId(v: unknown, bytes: number, path: string, required: boolean): string | null {
  if (v === undefined || v === null || v === '' || (v instanceof Uint8Array && v.length === 0)) {
    if (required) throw new OtlpError(path, `is required (${bytes * 2} hex digits)`)
    return null
  }
  let hex: string
  if (v instanceof Uint8Array) {
    hex = ''
    for (const b of v) hex += HEX[b]
  } else if (typeof v === 'string') hex = v.toLowerCase()
  else throw new OtlpError(path, `must be ${bytes * 2} hex digits`)
  if (!ID_PATTERN[bytes].test(hex)) {
    throw new OtlpError(
      path,
      `must be ${bytes * 2} hex digits, got ${JSON.stringify(String(v).slice(0, 40))} (OTLP/JSON encodes ids as hex)`,
    )
  }
  if (/^0+$/.test(hex)) {
    if (required) throw new OtlpError(path, 'must not be all zeros')
    return null
  }
  return hex
}

function nanos(v: unknown, path: string): string {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v)
  if (typeof v === 'string' && /^[0-9]{1,19}$/.test(v)) return v.replace(/^0+(?=\d)/, '')
  if (typeof v === 'bigint' && v >= 0n) return v.toString()
  throw new OtlpError(path, 'must be Unix time in nanoseconds (a whole number, as a string or number)')
}

function anyValue(v: unknown, path: string, depth = 0): unknown {
  if (v === null || v === undefined || typeof v !== 'object') return null
  if (depth > 16) throw new OtlpError(path, 'nests deeper than 16 levels')
  const o = v as Obj
  if ('stringValue' in o || 'string_value' in o) return String(field(o, 'stringValue') ?? '')
  if ('boolValue' in o || 'bool_value' in o) return Boolean(field(o, 'boolValue'))
  if ('intValue' in o || 'int_value' in o) {
    const i = field(o, 'intValue')
    const n = typeof i === 'string' ? Number(i) : (i as number)
    // JSON numbers lose precision past 2^53; keep such values as their decimal text.
    return typeof i === 'string' && !Number.isSafeInteger(n) ? i : n
  }
  if ('doubleValue' in o || 'double_value' in o) return Number(field(o, 'doubleValue'))
  if ('arrayValue' in o || 'array_value' in o) {
    const a = field(o, 'arrayValue') as Obj | null
    return list(a ?? {}, 'values', path).map((x, i) => anyValue(x, `${path}[${i}]`, depth + 1))
  }
  if ('kvlistValue' in o || 'kvlist_value' in o) {
    const kv = field(o, 'kvlistValue') as Obj | null
    return attributes(list(kv ?? {}, 'values', path), path, depth + 1)
  }
  if ('bytesValue' in o || 'bytes_value' in o) {
    const b = field(o, 'bytesValue')
    return b instanceof Uint8Array ? btoa(String.fromCharCode(...b)) : String(b ?? '')
  }
  return null
}

function attributes(kvs: Obj[], path: string, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  kvs.forEach((kv, i) => {
    const key = kv.key
    if (typeof key !== 'string' || !key) throw new OtlpError(`${path}[${i}].key`, 'must be a non-empty string')
    out[key] = anyValue(kv.value, `${path}[${i}].value`, depth)
  })
  return out
}

function kindOf(v: unknown, path: string): SpanRow['kind'] {
  if (v === undefined || v === null) return 'internal'
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < KINDS.length) return KINDS[v]
  if (typeof v === 'string' && v in KIND_NAMES) return KIND_NAMES[v]
  throw new OtlpError(path, 'must be a SpanKind (0-5 or SPAN_KIND_*)')
}

function statusOf(v: unknown, path: string): { status: SpanRow['status']; message: string | null } {
  if (v === undefined || v === null) return { status: 'unset', message: null }
  if (typeof v !== 'object') throw new OtlpError(path, 'must be an object')
  const code = (v as Obj).code
  const message = typeof (v as Obj).message === 'string' && (v as Obj).message ? ((v as Obj).message as string) : null
  if (code === undefined || code === null) return { status: 'unset', message }
  if (typeof code === 'number' && Number.isInteger(code) && code >= 0 && code < STATUS.length) {
    return { status: STATUS[code], message }
  }
  if (typeof code === 'string' && code in STATUS_NAMES) return { status: STATUS_NAMES[code], message }
  throw new OtlpError(`${path}.code`, 'must be a StatusCode (0-2 or STATUS_CODE_*)')
}

const str = (v: unknown): string | null => (typeof v === 'string' && v ? v : null)
function count(v: unknown): number | null {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 2147483647 ? n : null
}
const first = <T>(...vs: (T | null)[]): T | null => vs.find((v) => v !== null) ?? null

/** Model, provider, tokens and cost of a model call, from the attribute conventions in the header. */
export function modelUsage(
  a: Record<string, unknown>,
): Pick<SpanRow, 'model' | 'provider' | 'input_tokens' | 'output_tokens' | 'cost_usd'> {
  const model = first(
    str(a['gen_ai.request.model']),
    str(a['gen_ai.response.model']),
    str(a['llm.request.model']),
    str(a['llm.model_name']),
    str(a['llm.response.model']),
    str(a['ai.model.id']),
  )
  const provider = first(
    str(a['gen_ai.provider.name']),
    str(a['gen_ai.system']),
    str(a['llm.provider']),
    str(a['llm.system']),
    str(a['ai.model.provider']),
  )
  const op = str(a['ai.operationId'])
  // The AI SDK's outer spans (ai.generateText, ai.embedMany, …) repeat the sum of their inner .do* calls.
  const aggregate = op !== null && !/\.do[A-Z]/.test(op) && a['gen_ai.usage.input_tokens'] === undefined
  const input = aggregate ? null : first(
    count(a['gen_ai.usage.input_tokens']),
    count(a['gen_ai.usage.prompt_tokens']),
    count(a['llm.usage.prompt_tokens']),
    count(a['llm.token_count.prompt']),
    count(a['ai.usage.inputTokens']),
    count(a['ai.usage.promptTokens']),
    count(a['ai.usage.tokens']),
  )
  const output = aggregate ? null : first(
    count(a['gen_ai.usage.output_tokens']),
    count(a['gen_ai.usage.completion_tokens']),
    count(a['llm.usage.completion_tokens']),
    count(a['llm.token_count.completion']),
    count(a['ai.usage.outputTokens']),
    count(a['ai.usage.completionTokens']),
  )
  const costRaw = a['gen_ai.usage.cost'] ?? a['llm.usage.cost']
  const cost = typeof costRaw === 'number' && Number.isFinite(costRaw) && costRaw >= 0 ? costRaw : null
  return { model, provider, input_tokens: input, output_tokens: output, cost_usd: aggregate ? null : cost }
}

/** A decoded ExportTraceServiceRequest (as a plain object) → span rows. */
function spansOf(request: Obj): SpanRow[] {
  const rows: SpanRow[] = []
  list(request, 'resourceSpans', '').forEach((rs, r) => {
    const rpath = `resourceSpans[${r}]`
    const resourceObj = (field(rs, 'resource') ?? {}) as Obj
    const resource = attributes(list(resourceObj, 'attributes', `${rpath}.resource`), `${rpath}.resource.attributes`)
    const service = str(resource['service.name'])
    list(rs, 'scopeSpans', rpath).forEach((ss, s) => {
      const spath = `${rpath}.scopeSpans[${s}]`
      const scope = str(((field(ss, 'scope') ?? {}) as Obj).name)
      list(ss, 'spans', spath).forEach((sp, i) => {
        const path = `${spath}.spans[${i}]`
        const name = sp.name
        if (typeof name !== 'string' || !name) throw new OtlpError(`${path}.name`, 'must be a non-empty string')
        const start = nanos(field(sp, 'startTimeUnixNano'), `${path}.startTimeUnixNano`)
        const end = nanos(field(sp, 'endTimeUnixNano'), `${path}.endTimeUnixNano`)
        if (BigInt(end) < BigInt(start)) throw new OtlpError(`${path}.endTimeUnixNano`, 'is before startTimeUnixNano')
        const attrs = attributes(list(sp, 'attributes', path), `${path}.attributes`)
        const { status, message } = statusOf(sp.status, `${path}.status`)
        const events = list(sp, 'events', path).map((ev, e) => {
          const epath = `${path}.events[${e}]`
          if (typeof ev.name !== 'string' || !ev.name) {
            throw new OtlpError(`${epath}.name`, 'must be a non-empty string')
          }
          return {
            name: ev.name.slice(0, 1000),
            time_ns: nanos(field(ev, 'timeUnixNano'), `${epath}.timeUnixNano`),
            attributes: attributes(list(ev, 'attributes', epath), `${epath}.attributes`),
          }
        })
        rows.push({
          trace_id: hexId(field(sp, 'traceId'), 16, `${path}.traceId`, true)!,
          span_id: hexId(field(sp, 'spanId'), 8, `${path}.spanId`, true)!,
          parent_span_id: hexId(field(sp, 'parentSpanId'), 8, `${path}.parentSpanId`, false),
          name: name.slice(0, 1000),
          kind: kindOf(sp.kind, `${path}.kind`),
          status,
          status_message: message,
          start_ns: start,
          end_ns: end,
          service,
          scope,
          ...modelUsage(attrs),
          attributes: attrs,
          resource,
          events,
        })
      })
    })
  })
  return rows
}

/** The spans of an OTLP/HTTP trace export body; OtlpError when it is not one. */
export function decodeTraces(body: Uint8Array, format: OtlpFormat): SpanRow[] {
  let request: Obj
  if (format === 'json') {
    let parsed: unknown
    try {
      parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body))
    } catch (err) {
      throw new OtlpError('', `the body is not valid UTF-8 JSON (${(err as Error).message})`)
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new OtlpError('', 'the body must be a JSON object (ExportTraceServiceRequest)')
    }
    request = parsed as Obj
  } else {
    let message: unknown
    try {
      message = ExportTraceServiceRequest.decode(body)
    } catch (err) {
      throw new OtlpError('', `the body is not a protobuf ExportTraceServiceRequest (${(err as Error).message})`)
    }
    // Longs as decimal strings (exact), bytes kept as Uint8Array, enums as numbers.
    request = ExportTraceServiceRequest.toObject(message, {
      longs: String,
      enums: Number,
      arrays: false,
      defaults: false,
    })
  }
  return spansOf(request)
}

// ── encoding ──────────────────────────────────────────────────────────────────────────────────────────

function toAnyValue(v: unknown): Obj {
  if (typeof v === 'string') return { stringValue: v }
  if (typeof v === 'boolean') return { boolValue: v }
  if (typeof v === 'number') return Number.isInteger(v) ? { intValue: v } : { doubleValue: v }
  if (Array.isArray(v)) return { arrayValue: { values: v.map(toAnyValue) } }
  if (v && typeof v === 'object') return { kvlistValue: { values: toKeyValues(v as Obj) } }
  return { stringValue: String(v) }
}

function toKeyValues(attrs: Record<string, unknown>): Obj[] {
  return Object.entries(attrs).filter(([, v]) => v !== undefined && v !== null).map(([key, value]) => ({
    key,
    value: toAnyValue(value),
  }))
}

const hexToBytes = (hex: string) => Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)))

/**
 * An OTLP/HTTP trace export of `spans` (one resource, one scope) in `format`. Model usage is written back as
 * the GenAI attributes, so any OpenTelemetry backend sees the model and token counts.
 */
export function encodeTraces(
  spans: SpanRow[],
  resource: Record<string, unknown>,
  scope: { name: string; version?: string },
  format: OtlpFormat,
): Uint8Array<ArrayBuffer> {
  const ids = format === 'json' ? (hex: string) => hex : hexToBytes
  const request = {
    resourceSpans: [{
      resource: { attributes: toKeyValues(resource) },
      scopeSpans: [{
        scope,
        spans: spans.map((s) => ({
          traceId: ids(s.trace_id),
          spanId: ids(s.span_id),
          ...(s.parent_span_id ? { parentSpanId: ids(s.parent_span_id) } : {}),
          name: s.name,
          kind: KINDS.lastIndexOf(s.kind),
          startTimeUnixNano: s.start_ns,
          endTimeUnixNano: s.end_ns,
          attributes: toKeyValues({
            ...s.attributes,
            ...(s.model ? { 'gen_ai.request.model': s.model } : {}),
            ...(s.provider ? { 'gen_ai.provider.name': s.provider } : {}),
            ...(s.input_tokens != null ? { 'gen_ai.usage.input_tokens': s.input_tokens } : {}),
            ...(s.output_tokens != null ? { 'gen_ai.usage.output_tokens': s.output_tokens } : {}),
          }),
          events: (s.events ?? []).map((e) => ({
            name: e.name,
            timeUnixNano: e.time_ns,
            attributes: toKeyValues(e.attributes ?? {}),
          })),
          status: { code: STATUS.indexOf(s.status), ...(s.status_message ? { message: s.status_message } : {}) },
        })),
      }],
    }],
  }
  if (format === 'json') return new TextEncoder().encode(JSON.stringify(request))
  // A copy with its own ArrayBuffer (protobufjs may return a view into a shared pool), as fetch bodies need.
  return new Uint8Array(ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject(request)).finish())
}

/** The success answer to an export (no partial success), in the request's encoding. */
export function exportResponse(format: OtlpFormat): Uint8Array<ArrayBuffer> {
  if (format === 'json') return new TextEncoder().encode('{}')
  return new Uint8Array(ExportTraceServiceResponse.encode(ExportTraceServiceResponse.fromObject({})).finish())
}
