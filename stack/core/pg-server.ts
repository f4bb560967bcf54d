// Serves the embedded database over the Postgres wire protocol (127.0.0.1:54322) so psql, the Supabase
// CLI and any Postgres driver can connect.
//
// pglite-socket's PGLiteSocketHandler does the framing (startup, SSL and cancel requests, message
// reassembly). Its bundled query queue is replaced by SessionArbiter because that queue (a) can run another
// client's Parse between one client's Parse and Sync, corrupting the unnamed statement, and (b) does not
// coordinate with in-process users of the same session. The arbiter gives the session to one client from
// its first message until the server reports ReadyForQuery "idle" — i.e. for a whole transaction — using
// the same lock as every in-process user (Database.lock).
import { PGLiteSocketHandler } from '@electric-sql/pglite-socket'
import { createServer, type Server, type Socket } from 'node:net'
import type { Database } from './database.ts'
import { RAISE_STACK_DEPTH_SQL, STACK_DEPTH_DETAIL, STACK_DEPTH_HINT, STACK_DEPTH_MESSAGE, tooDeep } from './nesting.ts'

/**
 * Reads the backend's output stream message by message: remembers the ReadyForQuery status, collects
 * notifications, and forwards everything to the client except notifications on channels the stack itself
 * listens to (the session is shared, so those would otherwise surprise psql and drivers).
 */
class BackendStream {
  private header = Buffer.alloc(0)
  private type = 0
  private remaining = 0
  private held: Buffer[] = []
  status: string | null = null
  notifications: { channel: string; payload: string }[] = []

  constructor(
    private forward: (data: Uint8Array) => void,
    private isInternal: (channel: string) => boolean,
  ) {}

  push(chunk: Uint8Array): void {
    let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    while (buf.length > 0) {
      if (this.remaining === 0) {
        const need = 5 - this.header.length
        this.header = Buffer.concat([this.header, buf.subarray(0, need)])
        buf = buf.subarray(need)
        if (this.header.length < 5) return
        this.type = this.header[0]
        this.remaining = this.header.readInt32BE(1) - 4
        const header = this.header
        this.header = Buffer.alloc(0)
        this.held = [header]
        if (!this.holds()) this.forward(header)
        if (this.remaining === 0) this.finish()
        continue
      }
      const take = buf.subarray(0, this.remaining)
      buf = buf.subarray(take.length)
      this.remaining -= take.length
      if (this.holds()) this.held.push(Buffer.from(take))
      else this.forward(take)
      if (this.remaining === 0) this.finish()
    }
  }

  /** ReadyForQuery and NotificationResponse are small; they are kept whole until complete. */
  private holds(): boolean {
    return this.type === 0x5a /* Z */ || this.type === 0x41 /* A */
  }

  private finish(): void {
    if (!this.holds()) return
    const whole = Buffer.concat(this.held)
    const body = whole.subarray(5)
    if (this.type === 0x5a) {
      this.status = String.fromCharCode(body[0])
      this.forward(whole)
    } else {
      // NotificationResponse: int32 pid, channel\0, payload\0
      const end = body.indexOf(0, 4)
      const channel = body.subarray(4, end).toString('utf8')
      this.notifications.push({ channel, payload: body.subarray(end + 1, body.length - 1).toString('utf8') })
      if (!this.isInternal(channel)) this.forward(whole)
    }
  }
}

/** FATAL ErrorResponse, written to a client whose idle transaction is ended. */
function fatalMessage(code: string, message: string): Buffer {
  const fields = Buffer.concat([
    Buffer.from('SFATAL\0VFATAL\0C' + code + '\0M' + message + '\0', 'utf8'),
    Buffer.from([0]),
  ])
  const head = Buffer.alloc(5)
  head.write('E', 0)
  head.writeInt32BE(fields.length + 4, 1)
  return Buffer.concat([head, fields])
}

/** ErrorResponse (severity ERROR) with the given fields. */
function errorMessage(code: string, message: string, detail?: string, hint?: string): Buffer {
  const f = 'SERROR\0VERROR\0C' + code + '\0M' + message + '\0' + (detail ? 'D' + detail + '\0' : '') + (hint ? 'H' + hint + '\0' : '')
  const fields = Buffer.concat([Buffer.from(f, 'utf8'), Buffer.from([0])])
  const head = Buffer.alloc(5)
  head.write('E', 0)
  head.writeInt32BE(fields.length + 4, 1)
  return Buffer.concat([head, fields])
}

function queryMessage(sql: string): Buffer {
  const body = Buffer.from(sql + '\0', 'utf8')
  const head = Buffer.alloc(5)
  head.write('Q', 0)
  head.writeInt32BE(body.length + 4, 1)
  return Buffer.concat([head, body])
}

/** Splits a chunk into protocol messages (type byte + int32 length); null if it is not exactly that. */
function frames(buf: Uint8Array): Buffer[] | null {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
  const out: Buffer[] = []
  let i = 0
  while (i < b.length) {
    if (b.length - i < 5) return null
    const len = b.readInt32BE(i + 1)
    if (len < 4 || i + 1 + len > b.length) return null
    out.push(b.subarray(i, i + 1 + len))
    i += 1 + len
  }
  return out
}

const Q = 0x51
const PARSE = 0x50
const BIND = 0x42
const SYNC = 0x53

/** The queue interface PGLiteSocketHandler calls, implemented as a transaction-level session lock. */
class SessionArbiter {
  private owner: number | null = null
  private release: (() => void) | null = null
  private idleTimer: NodeJS.Timeout | null = null
  private closed = new Set<number>()
  // PGLiteSocketHandler may call enqueue again before the previous call returned (one call per TCP chunk);
  // chaining per client keeps its messages strictly ordered and never overlapping.
  private chains = new Map<number, Promise<unknown>>()
  /** Clients whose extended-protocol messages are dropped until Sync, after a refused Parse or Bind. */
  private skipping = new Set<number>()

  constructor(
    private db: Database,
    private sockets: Map<number, Socket>,
    private idleTxTimeoutMs: number,
    private log: (line: string) => void,
  ) {}

  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    const run = (this.chains.get(handlerId) ?? Promise.resolve()).then(
      () => this.run(handlerId, message, onData),
    )
    this.chains.set(handlerId, run.catch(() => undefined))
    return run
  }

  private async run(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    // Terminate ('X'): the client is leaving. PGlite has one backend for everyone, so never forward it.
    if (message[0] === 0x58 && message.length === 5) {
      if (this.owner === handlerId) await this.abandon(handlerId)
      return 0
    }
    if (this.owner !== handlerId) {
      const release = await this.db.lock.acquire()
      if (this.closed.has(handlerId)) {
        release()
        throw new Error('client disconnected')
      }
      this.owner = handlerId
      this.release = release
      await this.db.resetIfDirty()
    }
    this.clearIdleTimer()
    let bytes = 0
    const stream = new BackendStream(
      (data) => {
        bytes += data.length
        onData(data)
      },
      (channel) => this.db.isListening(channel),
    )
    const exec = (bytes: Uint8Array) =>
      this.db.pg.runExclusive(() => this.db.pg.execProtocolRawStream(bytes, { onRawData: (data) => stream.push(data) }))
    try {
      const reply = (data: Uint8Array) => {
        bytes += data.length
        onData(data)
      }
      for (const batch of this.refuseTooDeep(handlerId, message, reply)) if (batch !== 'error') await exec(batch)
    } catch (err) {
      await this.abandon(handlerId)
      throw err
    }
    for (const n of stream.notifications) this.db.emitNotification(n.channel, n.payload)
    if (stream.status === 'I') this.handOff()
    else this.armIdleTimer(handlerId)
    return bytes
  }

  /**
   * What to send PGlite for `message`, in order, with input nested too deeply for it (nesting.ts) taken
   * out: a simple Query is replaced by one that makes Postgres raise 54001 itself (so an open transaction
   * aborts as it would); a Parse or Bind is answered with that error here, and the client's messages are
   * dropped until its Sync, as Postgres does after an error in the extended protocol.
   */
  private *refuseTooDeep(handlerId: number, message: Uint8Array, reply: (data: Uint8Array) => void): Generator<Uint8Array | 'error'> {
    const parts = frames(message)
    if (!parts) {
      yield message
      return
    }
    let batch: Buffer[] = []
    for (const f of parts) {
      const type = f[0]
      if (this.skipping.has(handlerId)) {
        if (type !== SYNC) continue
        this.skipping.delete(handlerId)
        batch.push(f)
      } else if (type === Q && tooDeep(f.subarray(5))) batch.push(queryMessage(RAISE_STACK_DEPTH_SQL))
      else if ((type === PARSE || type === BIND) && tooDeep(f.subarray(5))) {
        if (batch.length) yield Buffer.concat(batch)
        batch = []
        reply(errorMessage('54001', STACK_DEPTH_MESSAGE, STACK_DEPTH_DETAIL, STACK_DEPTH_HINT))
        this.skipping.add(handlerId)
        yield 'error'
      } else batch.push(f)
    }
    if (batch.length) yield Buffer.concat(batch)
  }

  clearQueueForHandler(handlerId: number): void {
    this.skipping.delete(handlerId)
    this.closed.add(handlerId)
    const tail = this.chains.get(handlerId) ?? Promise.resolve()
    this.chains.delete(handlerId)
    // Once the client's last queued message has given up, nothing refers to its id any more.
    void tail.finally(() => this.closed.delete(handlerId))
  }

  async clearTransactionIfNeeded(handlerId: number): Promise<void> {
    if (this.owner === handlerId) await this.abandon(handlerId)
  }

  /** Releases the session after a client finished a transaction (ReadyForQuery idle). */
  private handOff(): void {
    this.clearIdleTimer()
    this.owner = null
    this.db.sessionDirty = true
    const release = this.release
    this.release = null
    release?.()
  }

  /** Rolls back whatever the owner left open and releases the session. */
  private async abandon(handlerId: number): Promise<void> {
    if (this.owner !== handlerId) return
    try {
      // pg.exec takes PGlite's own mutexes; the session lock (held by this owner) keeps everyone else out.
      if (this.db.pg.isInTransaction()) await this.db.pg.exec('rollback')
    } catch (err) {
      this.log(`database: rollback after a client left failed: ${(err as Error).message}`)
    }
    this.handOff()
  }

  private armIdleTimer(handlerId: number): void {
    if (this.idleTxTimeoutMs <= 0) return
    this.idleTimer = setTimeout(() => {
      const socket = this.sockets.get(handlerId)
      this.log(
        `database: closing a client idle in transaction for ${this.idleTxTimeoutMs} ms ` +
          '(the embedded database has one session, so an open transaction blocks everyone)',
      )
      void this.abandon(handlerId).then(() => {
        if (socket?.writable) socket.end(fatalMessage('25P03', 'terminating connection due to idle-in-transaction timeout'))
      })
    }, this.idleTxTimeoutMs)
    this.idleTimer.unref()
  }

  private clearIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer)
    this.idleTimer = null
  }
}

export interface PgServerOptions {
  host: string
  port: number
  /** A client that leaves a transaction open this long is disconnected (0 disables). */
  idleTxTimeoutMs?: number
  maxConnections?: number
  log?: (line: string) => void
}

export class PgServer {
  private server: Server | null = null
  private sockets = new Map<number, Socket>()
  private handlers = new Set<PGLiteSocketHandler>()
  private arbiter: SessionArbiter
  port = 0

  constructor(
    db: Database,
    private opts: PgServerOptions,
  ) {
    this.arbiter = new SessionArbiter(db, this.sockets, opts.idleTxTimeoutMs ?? 30_000, opts.log ?? ((l) => console.warn(l)))
  }

  async start(): Promise<void> {
    const server = createServer((socket) => void this.accept(socket))
    server.maxConnections = this.opts.maxConnections ?? 100
    await listen(server, this.opts.host, this.opts.port, 'database')
    this.server = server
    this.port = (server.address() as { port: number }).port
  }

  private async accept(socket: Socket): Promise<void> {
    const handler = new PGLiteSocketHandler({
      // The handler only calls enqueue / clearQueueForHandler / clearTransactionIfNeeded.
      queryQueue: this.arbiter as never,
      closeOnDetach: true,
    })
    this.handlers.add(handler)
    this.sockets.set(handler.handlerId, socket)
    const forget = () => {
      this.handlers.delete(handler)
      this.sockets.delete(handler.handlerId)
    }
    handler.addEventListener('close', forget)
    handler.addEventListener('error', forget)
    await handler.attach(socket)
  }

  async stop(): Promise<void> {
    for (const h of this.handlers) await h.detach(true)
    this.handlers.clear()
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
    this.server = null
  }
}

/** Listens on host:port, turning "address in use" into a message that names the port and its purpose. */
export function listen(server: Server, host: string, port: number, purpose: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        reject(
          new Error(
            `port ${port} (${purpose}) is already in use on ${host}: stop whatever is using it ` +
              `(is another stack running?) or choose another port`,
          ),
        )
      } else reject(err)
    }
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      resolve()
    })
  })
}
