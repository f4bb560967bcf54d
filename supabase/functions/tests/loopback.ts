// The HTTP plumbing the fake provider servers share (fake-openai, fake-chat, fake-rerank): a node:http
// server on 127.0.0.1 with a free port, each request's body read whole before the fake's handler sees it,
// and a close() that also ends requests a fake holds open on purpose ('hang' modes), so a test never waits
// for them. node:http because the Deno tests and the Node end-to-end tests both start these servers.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'

export type Handler = (req: IncomingMessage, body: Buffer, res: ServerResponse) => void | Promise<void>

export class LoopbackServer {
  private open = new Set<ServerResponse>()

  private constructor(private server: Server, readonly port: number) {}

  /** Listens on a free loopback port; `handler()` is asked for the handler at each request. */
  static async listen(handler: () => Handler): Promise<LoopbackServer> {
    let self: LoopbackServer | null = null
    const server = createServer((req, res) => void self!.handle(handler(), req, res))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    self = new LoopbackServer(server, (server.address() as { port: number }).port)
    return self
  }

  async close(): Promise<void> {
    for (const res of this.open) res.destroy()
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private async handle(handler: Handler, req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.open.add(res)
    res.on('close', () => this.open.delete(res))
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    await handler(req, Buffer.concat(chunks), res)
  }
}

/** A JSON answer. */
export function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}
