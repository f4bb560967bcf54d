// Realtime over /realtime/v1/websocket (first cut: not yet served).
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { GatewayContext } from '../server.ts'

export class Realtime {
  constructor(private ctx: GatewayContext) {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  handleUpgrade(_req: IncomingMessage, socket: Duplex, _head: Buffer, _url: URL): void {
    socket.end('HTTP/1.1 501 Not Implemented\r\n\r\n')
    void this.ctx
  }
}
