// The local API gateway on 127.0.0.1:54321 — the stand-in for Supabase's Kong + PostgREST + Realtime +
// edge runtime front door. Routes:
//   /rest/v1/...               PostgREST-compatible tables and RPC (stack/postgrest/)
//   /realtime/v1/websocket     Realtime (Phoenix protocol subset used by realtime-js)
//   /realtime/v1/api/broadcast Realtime's HTTP broadcast (realtime-js send() before joining, httpSend())
//   /functions/v1/<name>/...   Edge Functions (JWT checked unless verify_jwt = false)
//   /health                    liveness
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { StackConfig } from './config.ts'
import type { Database } from './database.ts'
import type { EdgeRuntime } from '../edge-runtime/runtime.ts'
import { listen } from './pg-server.ts'
import { Authenticator } from './api-auth.ts'
import type { GatewayContext } from './context.ts'
import { ApiError, CORS_HEADERS, sendError, sendJson } from './http.ts'
import { handleRest } from '../postgrest/handler.ts'
import { Realtime } from '../realtime/server.ts'

export class Gateway {
  private server: Server | null = null
  readonly ctx: GatewayContext
  readonly realtime: Realtime
  port = 0

  constructor(db: Database, config: StackConfig, functions: EdgeRuntime | null, log: (line: string) => void) {
    this.ctx = { db, config, auth: new Authenticator(config.jwtSecret), functions, log }
    this.realtime = new Realtime(this.ctx)
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.route(req, res))
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head))
    server.keepAliveTimeout = 65_000
    await listen(server, this.ctx.config.host, this.ctx.config.apiPort, 'API gateway')
    this.server = server
    this.port = (server.address() as { port: number }).port
    await this.realtime.start()
  }

  async stop(): Promise<void> {
    await this.realtime.stop()
    const server = this.server
    this.server = null
    if (!server) return
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname === '/realtime/v1/websocket') this.realtime.handleUpgrade(req, socket, head, url)
    else {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\n\r\n{"message":"no websocket route"}')
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for (const [k, v] of Object.entries(CORS_HEADERS)) res.setHeader(k, v)
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`)
    try {
      if (req.method === 'OPTIONS') {
        res.writeHead(204)
        res.end()
        return
      }
      if (url.pathname === '/health' || url.pathname === '/') {
        sendJson(res, 200, { status: 'ok', services: ['rest', 'realtime', 'functions'] })
      } else if (url.pathname === '/rest/v1' || url.pathname.startsWith('/rest/v1/')) {
        await handleRest(this.ctx, req, res, url)
      } else if (url.pathname.startsWith('/realtime/v1/api/broadcast')) {
        await this.realtime.handleHttpBroadcast(req, res, url)
      } else if (url.pathname.startsWith('/functions/v1/')) {
        await this.functions(req, res, url)
      } else {
        sendJson(res, 404, { message: `no route matched ${req.method} ${url.pathname}` })
      }
    } catch (err) {
      if (err instanceof ApiError) {
        if (!res.headersSent) sendError(res, err)
        else res.destroy()
        return
      }
      this.ctx.log(`gateway: ${req.method} ${url.pathname} failed: ${(err as Error).stack ?? err}`)
      if (!res.headersSent) sendJson(res, 500, { code: 'XX000', details: null, hint: null, message: (err as Error).message })
      else res.destroy()
    }
  }

  private async functions(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const rest = url.pathname.slice('/functions/v1/'.length)
    const name = decodeURIComponent(rest.split('/')[0] ?? '')
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
