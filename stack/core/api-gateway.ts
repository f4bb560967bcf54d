// The local API gateway on 127.0.0.1:54321 — the stand-in for Supabase's Kong + PostgREST + Realtime +
// edge runtime front door. Routes:
//   /auth/v1/...               Supabase Auth (GoTrue) subset: sign-up, sign-in, tokens, user, admin (stack/auth/)
//   /rest/v1/...               PostgREST-compatible tables and RPC (stack/postgrest/)
//   /realtime/v1/websocket     Realtime (Phoenix protocol subset used by realtime-js)
//   /realtime/v1/api/broadcast Realtime's HTTP broadcast (realtime-js send() before joining, httpSend())
//   /functions/v1/<name>/...   Edge Functions (JWT checked unless verify_jwt = false)
//   /dashboard/                the ops dashboard page (stack/dashboard/; local only)
//   /health                    liveness
// No request can bring it down: the target is parsed without trusting the Host header and a bad one is a
// 400; percent-decoding errors are 400s; anything thrown while routing becomes a JSON 500 (never an
// unhandled rejection); and requests Node's HTTP parser refuses get a JSON error body too.
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { StackConfig } from './config.ts'
import type { Database } from './database.ts'
import type { EdgeRuntime } from '../edge-runtime/runtime.ts'
import { listen } from './pg-server.ts'
import { Authenticator } from './api-auth.ts'
import type { GatewayContext } from './context.ts'
import { ApiError, CORS_HEADERS, decodePathSegment, requestUrl, sendError, sendJson } from './http.ts'
import { handleAuth } from '../auth/server.ts'
import { handleRest } from '../postgrest/handler.ts'
import { serveDashboard } from '../dashboard/static.ts'
import { Realtime } from '../realtime/server.ts'

export class Gateway {
  private server: Server | null = null
  readonly ctx: GatewayContext
  readonly realtime: Realtime
  port = 0

  constructor(db: Database, config: StackConfig, functions: EdgeRuntime | null, log: (line: string) => void) {
    this.ctx = { db, config, auth: new Authenticator(config.jwtSecret), functions, apiUrl: '', log }
    this.realtime = new Realtime(this.ctx)
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.route(req, res))
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head))
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => clientError(err, socket))
    server.keepAliveTimeout = 65_000
    await listen(server, this.ctx.config.host, this.ctx.config.apiPort, 'API gateway', '--api-port')
    this.server = server
    this.port = (server.address() as { port: number }).port
    this.ctx.apiUrl = `http://${this.ctx.config.host}:${this.port}`
    await this.realtime.start()
  }

  private closed: Promise<void> | null = null

  /** Stops accepting connections (the port is free at once); requests in flight finish until stop(). */
  stopListening(): void {
    const server = this.server
    if (server && !this.closed) this.closed = new Promise<void>((resolve) => server.close(() => resolve()))
  }

  async stop(): Promise<void> {
    await this.realtime.stop()
    const server = this.server
    this.server = null
    if (!server) return
    this.stopListening()
    server.closeAllConnections()
    await this.closed
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    try {
      const url = requestUrl(req)
      if (url.pathname === '/realtime/v1/websocket') this.realtime.handleUpgrade(req, socket, head, url)
      else rawJson(socket, 404, { message: 'no websocket route' })
    } catch (err) {
      if (err instanceof ApiError) rawJson(socket, err.status, err.body())
      else {
        this.ctx.log(`gateway: websocket upgrade ${req.url} failed: ${(err as Error).stack ?? err}`)
        rawJson(socket, 500, { message: (err as Error).message })
      }
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL | null = null
    try {
      for (const [k, v] of Object.entries(CORS_HEADERS)) res.setHeader(k, v)
      url = requestUrl(req)
      if (req.method === 'OPTIONS') {
        res.writeHead(204)
        res.end()
        return
      }
      if (url.pathname === '/health' || url.pathname === '/') {
        sendJson(res, 200, { status: 'ok', services: ['auth', 'rest', 'realtime', 'functions'] })
      } else if (url.pathname === '/auth/v1' || url.pathname.startsWith('/auth/v1/')) {
        await handleAuth(this.ctx, req, res, url)
      } else if (url.pathname === '/rest/v1' || url.pathname.startsWith('/rest/v1/')) {
        await handleRest(this.ctx, req, res, url)
      } else if (url.pathname.startsWith('/realtime/v1/api/broadcast')) {
        await this.realtime.handleHttpBroadcast(req, res, url)
      } else if (url.pathname.startsWith('/functions/v1/')) {
        await this.functions(req, res, url)
      } else if (url.pathname === '/dashboard' || url.pathname.startsWith('/dashboard/')) {
        await serveDashboard(this.ctx, res, url)
      } else {
        sendJson(res, 404, { message: `no route matched ${req.method} ${url.pathname}` })
      }
    } catch (err) {
      try {
        if (err instanceof ApiError) {
          if (!res.headersSent) sendError(res, err)
          else res.destroy()
          return
        }
        this.ctx.log(`gateway: ${req.method} ${url?.pathname ?? req.url} failed: ${(err as Error).stack ?? err}`)
        if (!res.headersSent) sendJson(res, 500, { code: 'XX000', details: null, hint: null, message: (err as Error).message })
        else res.destroy()
      } catch (inner) {
        this.ctx.log(`gateway: could not answer ${req.method} ${req.url}: ${(inner as Error).message}`)
        res.destroy()
      }
    }
  }

  private async functions(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const rest = url.pathname.slice('/functions/v1/'.length)
    const name = decodePathSegment(rest.split('/')[0] ?? '', (m) => new ApiError(400, 'BAD_REQUEST', m))
    if (!this.ctx.functions) throw new ApiError(503, 'FUNCTIONS_DISABLED', 'Edge Functions are not running in this stack')
    if (this.ctx.config.functions.verifyJwt[name] !== false) {
      // As the hosted relay: a valid JWT (anon key, service key or user token) in Authorization.
      const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')
      if (!m) {
        sendJson(res, 401, { code: 401, message: 'Missing authorization header' })
        return
      }
      try {
        await this.ctx.auth.verify(m[1])
      } catch {
        sendJson(res, 401, { code: 401, message: 'Invalid JWT' })
        return
      }
    }
    const headers: Record<string, string | string[]> = {}
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && k !== 'host') headers[k] = v
    await this.ctx.functions.proxy(req, res, '/' + rest + url.search, headers)
  }
}

/** Writes a whole HTTP response with a JSON body straight to a socket (upgrade requests, parser errors). */
function rawJson(socket: Duplex, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  const reason = STATUS_CODES[status] ?? 'Error'
  socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`)
}

/**
 * A request Node's HTTP parser refused (unknown method, NUL in a header, a space in the target, headers
 * too large): answered with a JSON body like every other 4xx, instead of Node's empty one.
 */
function clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy()
    return
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400
  rawJson(socket, status, { code: err.code ?? 'BAD_REQUEST', message: `The request could not be parsed: ${err.message.replace(/^Parse Error: /, '')}` })
}
