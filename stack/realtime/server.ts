// Realtime over /realtime/v1/websocket: the subset of Supabase Realtime that realtime-js v2 uses —
// postgres_changes (captured by triggers, see realtime.sql and changes.ts, delivered
// only to subscribers whose RLS lets them see the row), broadcast between the clients of a channel, and
// presence. The `ws` package serves the sockets; connection.ts speaks the Phoenix channel protocol.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer } from 'ws'
import { quoteIdent } from '../core/identity.ts'
import { ApiError, decodePathSegment, readBody } from '../core/http.ts'
import type { GatewayContext } from '../core/context.ts'
import { ChangeFeed } from './changes.ts'
import { Connection } from './connection.ts'
import type { RealtimeConnection, RealtimeHub } from './hub.ts'
import type { Vsn } from './protocol.ts'
import type { ChannelJoin, Subscription } from './subscriptions.ts'

interface Presence {
  join: ChannelJoin
  conn: RealtimeConnection
  meta: Record<string, unknown>
}

export class Realtime implements RealtimeHub {
  private wss: WebSocketServer | null = null
  private connections = new Set<Connection>()
  /** Joined channels by topic, for broadcast and presence. */
  private topics = new Map<string, Map<ChannelJoin, RealtimeConnection>>()
  private presences = new Map<string, Map<string, Presence>>()
  private feed: ChangeFeed
  private unlisten: (() => void)[] = []
  private subscriptionSeq = 0
  private syncing: Promise<void> = Promise.resolve()

  constructor(readonly ctx: GatewayContext) {
    const searchPath = ctx.config.api.extraSearchPath.map(quoteIdent).join(', ')
    this.feed = new ChangeFeed(ctx.db, searchPath, () => this.allSubscriptions(), (join, ids, data) => join.push('postgres_changes', { ids, data }), ctx.log)
  }

  log(line: string): void {
    this.ctx.log(line)
  }

  async verifyToken(token: string): Promise<Record<string, unknown>> {
    return (await this.ctx.auth.verify(token)) as Record<string, unknown>
  }

  async start(): Promise<void> {
    await this.feed.start()
    await this.ctx.db.query('select realtime.sync_capture_triggers()')
    this.unlisten.push(await this.ctx.db.listen('realtime_changes', () => this.feed.wake()))
    // A migration or psql changed a publication or a table: re-sync triggers and the subscribed tables.
    this.unlisten.push(await this.ctx.db.listen('realtime_sync', () => void this.subscriptionsChanged()))
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.ctx.config.api.maxBodyBytes })
  }

  async stop(): Promise<void> {
    this.feed.stop()
    for (const u of this.unlisten) u()
    this.unlisten = []
    for (const c of this.connections) c.close(1001, 'server shutting down')
    this.connections.clear()
    await new Promise<void>((resolve) => (this.wss ? this.wss.close(() => resolve()) : resolve()))
    this.wss = null
    await this.feed.idle()
    await this.syncing
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void {
    const wss = this.wss
    if (!wss) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\n\r\n')
      return
    }
    const apikey = url.searchParams.get('apikey') ?? (req.headers.apikey as string | undefined)
    const vsn = (url.searchParams.get('vsn') ?? '1.0.0') as Vsn
    const refuse = (status: string, message: string) => {
      const body = JSON.stringify({ message })
      socket.end(`HTTP/1.1 ${status}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
    }
    if (vsn !== '1.0.0' && vsn !== '2.0.0') return refuse('400 Bad Request', `unsupported protocol version vsn=${vsn} (1.0.0 or 2.0.0)`)
    if (!apikey) return refuse('401 Unauthorized', 'No API key found in request: pass it as the apikey query parameter')
    this.ctx.auth.verify(apikey).then(
      () =>
        wss.handleUpgrade(req, socket, head, (ws) => {
          const conn = new Connection(this, ws, vsn, apikey)
          this.connections.add(conn)
          ws.on('close', () => this.connections.delete(conn))
        }),
      () => refuse('401 Unauthorized', 'Invalid API key'),
    )
  }

  /**
   * Realtime's HTTP broadcast (POST /realtime/v1/api/broadcast with `{messages: [{topic, event, payload}]}`,
   * and POST /realtime/v1/api/broadcast/<topic>/events/<event> with the payload as body): what realtime-js's
   * send() falls back to before a channel is joined, and httpSend(). Public channels only; 202 when relayed.
   */
  async handleHttpBroadcast(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (req.method !== 'POST') throw new ApiError(405, 'MethodNotAllowed', 'broadcast takes POST')
    await this.ctx.auth.authenticate(req, url)
    const body = await readBody(req, this.ctx.config.api.maxBodyBytes)
    let parsed: unknown
    try {
      parsed = body.length ? JSON.parse(body.toString('utf8')) : null
    } catch (err) {
      throw new ApiError(400, 'InvalidJSON', `the body is not JSON: ${(err as Error).message}`)
    }
    const one = /^\/realtime\/v1\/api\/broadcast\/([^/]+)\/events\/([^/]+)$/.exec(url.pathname)
    let messages: { topic?: unknown; event?: unknown; payload?: unknown; private?: unknown }[]
    if (one) {
      const bad = (m: string) => new ApiError(400, 'MalformedPath', m)
      messages = [{ topic: decodePathSegment(one[1], bad), event: decodePathSegment(one[2], bad), payload: parsed }]
    }
    else if (url.pathname === '/realtime/v1/api/broadcast' && Array.isArray((parsed as { messages?: unknown })?.messages)) {
      messages = (parsed as { messages: typeof messages }).messages
    } else throw new ApiError(400, 'InvalidBroadcast', 'send {"messages": [{"topic", "event", "payload"}]}')
    for (const m of messages) {
      if (typeof m.topic !== 'string' || !m.topic || typeof m.event !== 'string' || !m.event) {
        throw new ApiError(400, 'InvalidBroadcast', 'every message needs a "topic" and an "event" string')
      }
      if (m.private === true) throw new ApiError(403, 'PrivateChannelsUnavailable', 'private channels are not available on the local stack')
    }
    for (const m of messages) {
      const topic = `realtime:${m.topic as string}`
      for (const [, conn] of this.topics.get(topic) ?? []) {
        conn.send({ join_ref: null, ref: null, topic, event: 'broadcast', payload: { type: 'broadcast', event: m.event, payload: m.payload ?? {} } })
      }
    }
    res.writeHead(202, { 'content-length': '0' })
    res.end()
  }

  nextSubscriptionId(): number {
    return ++this.subscriptionSeq
  }

  private allSubscriptions(): Subscription[] {
    const out: Subscription[] = []
    for (const joins of this.topics.values()) for (const join of joins.keys()) out.push(...join.subscriptions)
    return out
  }

  addJoin(conn: RealtimeConnection, join: ChannelJoin): void {
    let joins = this.topics.get(join.topic)
    if (!joins) this.topics.set(join.topic, (joins = new Map()))
    joins.set(join, conn)
  }

  removeJoin(join: ChannelJoin): void {
    const joins = this.topics.get(join.topic)
    joins?.delete(join)
    if (joins && !joins.size) this.topics.delete(join.topic)
    this.untrack(join)
    if (join.subscriptions.length) void this.subscriptionsChanged()
  }

  /**
   * Checks subscriptions against the catalog: the table exists and has the filter's column. Invalid ones are
   * removed from the join and their problems returned (sent to the client as a system error).
   */
  async validate(subs: Subscription[]): Promise<string[]> {
    const problems: string[] = []
    const keep: Subscription[] = []
    for (const s of subs) {
      if (s.schema === '*' || !s.table || s.table === '*') {
        keep.push(s)
        continue
      }
      const { rows } = await this.ctx.db.query<{ exists: boolean; has: boolean }>(
        `select to_regclass($1) is not null as exists,
                exists (select 1 from pg_attribute where attrelid = to_regclass($1) and attname = $2 and attnum > 0 and not attisdropped) as has`,
        [`${quoteIdent(s.schema)}.${quoteIdent(s.table)}`, s.filter?.column ?? ''],
      )
      if (!rows[0].exists) problems.push(`table ${s.schema}.${s.table} does not exist`)
      else if (s.filter && !rows[0].has) problems.push(`invalid column for filter ${s.filter.column}`)
      else keep.push(s)
    }
    if (subs.length) {
      const join = subs[0].join
      join.subscriptions = keep
    }
    return problems
  }

  /**
   * Records which published tables have subscribers (realtime.subscribed_relations gates the capture
   * triggers) after making sure every published table has its triggers. Runs one at a time, in order.
   */
  subscriptionsChanged(): Promise<void> {
    const wanted = this.allSubscriptions().map((s) => ({ schema: s.schema, table: s.table ?? '*' }))
    const run = async () => {
      await this.ctx.db.transaction(async (tx) => {
        await tx.query('select realtime.sync_capture_triggers()')
        await tx.query('delete from realtime.subscribed_relations')
        if (!wanted.length) return
        await tx.query(
          `insert into realtime.subscribed_relations (relid)
           select distinct c.oid
             from pg_publication_tables pt
             join pg_namespace n on n.nspname = pt.schemaname
             join pg_class c on c.relnamespace = n.oid and c.relname = pt.tablename,
                  jsonb_to_recordset($1::jsonb) as s(schema text, "table" text)
            where pt.pubname = 'supabase_realtime'
              and (s.schema = '*' or s.schema = pt.schemaname)
              and (s."table" = '*' or s."table" = pt.tablename)`,
          [JSON.stringify(wanted)],
        )
      })
    }
    this.syncing = this.syncing.then(run, run).catch((err) => this.log(`realtime: updating subscriptions failed: ${(err as Error).message}`))
    return this.syncing
  }

  /** Sends a broadcast to the channel's other clients (and the sender with broadcast.self). */
  relayBroadcast(join: ChannelJoin, json: Record<string, unknown> | null, binary: Buffer | null): void {
    for (const [other, conn] of this.topics.get(join.topic) ?? []) {
      if (other === join && !join.broadcastSelf) continue
      if (binary && conn.supportsBinary()) conn.sendBinary(binary)
      else if (json) conn.send({ join_ref: null, ref: null, topic: join.topic, event: 'broadcast', payload: json })
    }
  }

  presenceState(topic: string): Record<string, { metas: Record<string, unknown>[] }> {
    const state: Record<string, { metas: Record<string, unknown>[] }> = {}
    for (const [ref, p] of this.presences.get(topic) ?? []) {
      const entry = (state[p.join.presenceKey] ??= { metas: [] })
      entry.metas.push({ ...p.meta, phx_ref: ref })
    }
    return state
  }

  track(join: ChannelJoin, meta: Record<string, unknown>): void {
    const conn = this.topics.get(join.topic)?.get(join)
    if (!conn) return
    let byRef = this.presences.get(join.topic)
    if (!byRef) this.presences.set(join.topic, (byRef = new Map()))
    const leaves = this.removePresence(join)
    const ref = Buffer.from(`${join.joinRef}:${Date.now()}:${Math.random()}`).toString('base64url').slice(0, 16)
    byRef.set(ref, { join, conn, meta })
    this.diff(join.topic, { [join.presenceKey]: { metas: [{ ...meta, phx_ref: ref }] } }, leaves)
  }

  untrack(join: ChannelJoin): void {
    const leaves = this.removePresence(join)
    if (Object.keys(leaves).length) this.diff(join.topic, {}, leaves)
  }

  private removePresence(join: ChannelJoin): Record<string, { metas: Record<string, unknown>[] }> {
    const leaves: Record<string, { metas: Record<string, unknown>[] }> = {}
    const byRef = this.presences.get(join.topic)
    for (const [ref, p] of byRef ?? []) {
      if (p.join !== join) continue
      byRef!.delete(ref)
      ;(leaves[join.presenceKey] ??= { metas: [] }).metas.push({ ...p.meta, phx_ref: ref })
    }
    return leaves
  }

  private diff(topic: string, joins: Record<string, unknown>, leaves: Record<string, unknown>): void {
    for (const [join] of this.topics.get(topic) ?? []) join.push('presence_diff', { joins, leaves })
  }
}
