// A minimal OTLP/HTTP trace collector on loopback for tests: it accepts POST /v1/traces in protobuf (decoded
// with the same generated OpenTelemetry protobufjs code the `otlp` function uses) or JSON, and keeps every
// span it received with its resource, so a test can check what the functions exported.
import { createServer, type Server } from 'node:http'
import otlpRoot from '@opentelemetry/otlp-transformer/build/src/generated/root.js'

export interface CollectedSpan {
  traceId: string
  spanId: string
  parentSpanId: string | null
  name: string
  kind: number
  attributes: Record<string, unknown>
  service: string | null
  contentType: string
}

interface MessageType {
  decode(bytes: Uint8Array): unknown
  toObject(message: unknown, options: Record<string, unknown>): Record<string, any>
}
const ExportTraceServiceRequest = (otlpRoot as unknown as {
  opentelemetry: { proto: { collector: { trace: { v1: Record<string, MessageType> } } } }
}).opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest

const hex = (v: unknown) => (typeof v === 'string' ? v : Buffer.from(v as Uint8Array).toString('hex'))

function value(v: Record<string, any> | undefined): unknown {
  if (!v) return null
  if ('stringValue' in v) return v.stringValue
  if ('intValue' in v) return Number(v.intValue)
  if ('doubleValue' in v) return v.doubleValue
  if ('boolValue' in v) return v.boolValue
  return JSON.stringify(v)
}

export class OtlpCollector {
  readonly spans: CollectedSpan[] = []
  readonly requests: { contentType: string; headers: Record<string, string | string[] | undefined> }[] = []

  private constructor(private server: Server, readonly port: number) {}

  /** The base URL for OTEL_EXPORTER_OTLP_ENDPOINT (traces go to <url>/v1/traces). */
  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  static async start(): Promise<OtlpCollector> {
    let self: OtlpCollector | null = null
    const server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c) => chunks.push(c))
      req.on('end', () => {
        const body = Buffer.concat(chunks)
        const contentType = String(req.headers['content-type'] ?? '')
        if (req.method !== 'POST' || req.url !== '/v1/traces') {
          res.writeHead(404).end()
          return
        }
        try {
          const request = contentType.includes('json')
            ? JSON.parse(body.toString('utf8'))
            : ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(body), { longs: String, enums: Number })
          self!.requests.push({ contentType, headers: req.headers })
          for (const rs of request.resourceSpans ?? []) {
            const resource = Object.fromEntries((rs.resource?.attributes ?? []).map((a: any) => [a.key, value(a.value)]))
            for (const ss of rs.scopeSpans ?? []) {
              for (const s of ss.spans ?? []) {
                self!.spans.push({
                  traceId: hex(s.traceId),
                  spanId: hex(s.spanId),
                  parentSpanId: s.parentSpanId && hex(s.parentSpanId) ? hex(s.parentSpanId) : null,
                  name: s.name,
                  kind: s.kind ?? 0,
                  attributes: Object.fromEntries((s.attributes ?? []).map((a: any) => [a.key, value(a.value)])),
                  service: (resource['service.name'] as string) ?? null,
                  contentType,
                })
              }
            }
          }
          res.writeHead(200, { 'content-type': contentType.includes('json') ? 'application/json' : 'application/x-protobuf' })
          res.end(contentType.includes('json') ? '{}' : undefined)
        } catch (err) {
          res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ message: (err as Error).message }))
        }
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    self = new OtlpCollector(server, (server.address() as { port: number }).port)
    return self
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve())
      this.server.closeAllConnections()
    })
  }
}
