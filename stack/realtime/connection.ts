// One websocket client: the Phoenix channel events realtime-js v2 sends — `heartbeat` on topic "phoenix",
// `phx_join` (with config.postgres_changes, broadcast and presence options and the access token),
// `access_token` updates, `broadcast` (JSON or the binary kind-3 push), `presence` track/untrack and
// `phx_leave` — answered with `phx_reply`, `system`, `postgres_changes`, `broadcast`, `presence_state`,
// `presence_diff` and `phx_close` as Supabase Realtime answers them. A malformed frame gets an error reply
// and the connection stays open.
import { randomUUID } from 'node:crypto'
import type WebSocket from 'ws'
import type { ApiError } from '../core/http.ts'
import { decodeBinary, decodeText, encode, encodeUserBroadcast, ProtocolError, type BinaryBroadcast, type PhoenixMessage, type Vsn } from './protocol.ts'
import type { RealtimeConnection, RealtimeHub } from './hub.ts'
import type { Identity } from '../core/identity.ts'
import { parseSubscription, SubscriptionError, type ChannelJoin } from './subscriptions.ts'

const TOPIC_PREFIX = 'realtime:'

export class Connection implements RealtimeConnection {
  readonly joins = new Map<string, ChannelJoin>()

  constructor(
    private server: RealtimeHub,
    private ws: WebSocket,
    private vsn: Vsn,
    /** The apikey the socket connected with; a join without access_token runs with it. */
    private apikey: string,
  ) {
    ws.on('message', (data, isBinary) => {
      void this.receive(data as Buffer, isBinary).catch((err) => this.server.log(`realtime: ${(err as Error).stack ?? err}`))
    })
    ws.on('close', () => this.closed())
  }

  send(m: PhoenixMessage): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(encode(m, this.vsn))
  }

  /** Binary frames exist only in protocol 2.0.0. */
  supportsBinary(): boolean {
    return this.vsn === '2.0.0'
  }

  sendBinary(frame: Buffer): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(frame, { binary: true })
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason)
  }

  private reply(m: Pick<PhoenixMessage, 'topic' | 'ref' | 'join_ref'>, status: 'ok' | 'error', response: unknown): void {
    this.send({ join_ref: m.join_ref ?? null, ref: m.ref ?? null, topic: m.topic, event: 'phx_reply', payload: { status, response } })
  }

  private async receive(data: Buffer, isBinary: boolean): Promise<void> {
    let m: PhoenixMessage
    try {
      if (isBinary) {
        if (this.vsn !== '2.0.0') fail('binary frames need protocol 2.0.0')
        return this.broadcastBinary(decodeBinary(data))
      }
      m = decodeText(data.toString('utf8'), this.vsn)
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err
      const p = err.partial
      this.reply({ topic: p.topic ?? 'phoenix', ref: p.ref ?? null, join_ref: p.join_ref ?? null }, 'error', { reason: err.message })
      return
    }
    if (m.topic === 'phoenix') {
      if (m.event === 'heartbeat') this.reply(m, 'ok', {})
      else this.reply(m, 'error', { reason: `unknown event "${m.event}" on topic phoenix` })
      return
    }
    if (m.event === 'phx_join') {
      try {
        return await this.join(m)
      } catch (err) {
        this.server.log(`realtime: join ${m.topic} failed: ${(err as Error).stack ?? err}`)
        this.reply(m, 'error', { reason: `UnknownErrorOnChannel: ${(err as Error).message}` })
        return
      }
    }
    const join = this.joins.get(m.topic)
    if (!join) {
      this.reply(m, 'error', { reason: 'unmatched topic' })
      return
    }
    switch (m.event) {
      case 'phx_leave':
        this.leave(join)
        this.reply(m, 'ok', {})
        this.send({ join_ref: join.joinRef, ref: null, topic: join.topic, event: 'phx_close', payload: {} })
        return
      case 'access_token':
        return this.updateToken(join, (m.payload as { access_token?: unknown }).access_token)
      case 'broadcast':
        return this.broadcastJson(join, m)
      case 'presence':
        return this.presence(join, m)
      default:
        // Hosted Realtime ignores (and logs) events it does not know.
        this.server.log(`realtime: ignored event "${m.event}" on ${m.topic}`)
    }
  }

  private async identify(token: string): Promise<{ identity: Identity; exp: number } | { reason: string }> {
    let claims: Record<string, unknown>
    try {
      claims = await this.server.verifyToken(token)
    } catch (err) {
      const e = err as ApiError
      return { reason: e.code === 'PGRST303' ? 'InvalidJWTToken: Token has expired' : `InvalidJWTToken: ${e.message}` }
    }
    if (typeof claims.role !== 'string' || typeof claims.exp !== 'number') return { reason: 'InvalidJWTToken: Fields `role` and `exp` are required in JWT' }
    return { identity: { role: claims.role, claims }, exp: claims.exp }
  }

  private async join(m: PhoenixMessage): Promise<void> {
    if (!m.topic.startsWith(TOPIC_PREFIX) || m.topic === TOPIC_PREFIX) {
      this.reply(m, 'error', { reason: 'TopicNameRequired: You must provide a topic name' })
      return
    }
    const payload = m.payload as { config?: Record<string, any>; access_token?: unknown; user_token?: unknown }
    const config = payload.config ?? {}
    if (config.private === true) {
      this.reply(m, 'error', { reason: 'PrivateChannelsUnavailable: private channels (Realtime Authorization) are not available on the local stack' })
      return
    }
    const raw = payload.access_token ?? payload.user_token
    const token = typeof raw === 'string' && raw && !raw.startsWith('sb_') ? raw : this.apikey
    const who = await this.identify(token)
    if ('reason' in who) {
      this.reply(m, 'error', { reason: who.reason })
      return
    }
    // A second join on the same topic replaces the first, as in Phoenix.
    const previous = this.joins.get(m.topic)
    if (previous) this.leave(previous)
    const join: ChannelJoin = {
      topic: m.topic,
      subTopic: m.topic.slice(TOPIC_PREFIX.length),
      joinRef: m.join_ref ?? m.ref ?? '',
      identity: who.identity,
      token,
      broadcastSelf: config.broadcast?.self === true,
      broadcastAck: config.broadcast?.ack === true,
      presenceKey: typeof config.presence?.key === 'string' && config.presence.key ? config.presence.key : randomUUID(),
      subscriptions: [],
      push: (event, p) => this.send({ join_ref: join.joinRef, ref: null, topic: join.topic, event, payload: p }),
    }
    const requested: unknown[] = Array.isArray(config.postgres_changes) ? config.postgres_changes.filter((x: unknown) => x != null) : []
    // Every requested binding gets an id in the reply, as hosted Realtime does (realtime-js matches them to
    // its bindings); one that cannot be served is reported afterwards in a `system` message.
    const echoed: Record<string, unknown>[] = []
    const errors: string[] = []
    for (const params of requested) {
      const id = this.server.nextSubscriptionId()
      echoed.push({ ...(params as Record<string, unknown>), id })
      try {
        join.subscriptions.push(parseSubscription(params, id, join))
      } catch (err) {
        if (!(err instanceof SubscriptionError)) throw err
        errors.push(err.message)
      }
    }
    errors.push(...(await this.server.validate(join.subscriptions)))
    this.joins.set(m.topic, join)
    this.scheduleExpiry(join, who.exp)
    this.server.addJoin(this, join)
    if (join.subscriptions.length) await this.server.subscriptionsChanged()
    this.reply(m, 'ok', { postgres_changes: echoed })
    if (requested.length) {
      join.push('system', errors.length
        ? { extension: 'postgres_changes', status: 'error', message: `Unable to subscribe to changes with given parameters: ${errors.join('; ')}`, channel: join.subTopic }
        : { extension: 'postgres_changes', status: 'ok', message: 'Subscribed to PostgreSQL', channel: join.subTopic })
    }
    if (config.presence?.enabled === true) join.push('presence_state', this.server.presenceState(join.topic))
  }

  private scheduleExpiry(join: ChannelJoin, exp: number): void {
    if (join.expiry) clearTimeout(join.expiry)
    const ms = exp * 1000 - Date.now()
    // setTimeout takes at most 2^31-1 ms; a token valid longer than ~24 days is re-checked on its next update.
    if (ms > 2 ** 31 - 1) return
    join.expiry = setTimeout(() => this.shutdown(join, 'Token has expired'), Math.max(0, ms))
    join.expiry.unref()
  }

  /** Ends a channel from the server side: a system error, then phx_close (the client may rejoin). */
  private shutdown(join: ChannelJoin, message: string): void {
    join.push('system', { extension: 'system', status: 'error', message, channel: join.subTopic })
    this.leave(join)
    this.send({ join_ref: join.joinRef, ref: null, topic: join.topic, event: 'phx_close', payload: {} })
  }

  private async updateToken(join: ChannelJoin, token: unknown): Promise<void> {
    if (typeof token !== 'string' || !token || token.startsWith('sb_') || token === join.token) return
    const who = await this.identify(token)
    if ('reason' in who) return this.shutdown(join, who.reason)
    join.token = token
    join.identity = who.identity
    this.scheduleExpiry(join, who.exp)
  }

  private leave(join: ChannelJoin): void {
    if (join.expiry) clearTimeout(join.expiry)
    if (this.joins.get(join.topic) === join) this.joins.delete(join.topic)
    this.server.removeJoin(join)
  }

  private closed(): void {
    for (const join of [...this.joins.values()]) this.leave(join)
  }

  private broadcastJson(join: ChannelJoin, m: PhoenixMessage): void {
    const p = m.payload as { type?: unknown; event?: unknown; payload?: unknown }
    if (typeof p.event !== 'string') {
      this.reply(m, 'error', { reason: 'a broadcast needs an "event" string' })
      return
    }
    this.server.relayBroadcast(join, { type: 'broadcast', event: p.event, payload: p.payload ?? {} }, null)
    if (join.broadcastAck) this.reply(m, 'ok', {})
  }

  private broadcastBinary(b: BinaryBroadcast): void {
    const join = this.joins.get(b.topic)
    if (!join) {
      this.reply({ topic: b.topic, ref: b.ref, join_ref: b.join_ref }, 'error', { reason: 'unmatched topic' })
      return
    }
    let json: { type: string; event: string; payload: unknown; meta?: unknown } | null = null
    if (b.encoding === 1) {
      try {
        json = { type: 'broadcast', event: b.event, payload: JSON.parse(b.payload.toString('utf8')) }
      } catch {
        this.reply({ topic: b.topic, ref: b.ref, join_ref: b.join_ref }, 'error', { reason: 'malformed message: broadcast payload is not JSON' })
        return
      }
    }
    const frame = encodeUserBroadcast(b.topic, b.event, b.meta, b.encoding, b.payload)
    this.server.relayBroadcast(join, json, frame)
    if (join.broadcastAck) this.reply({ topic: b.topic, ref: b.ref, join_ref: b.join_ref }, 'ok', {})
  }

  private presence(join: ChannelJoin, m: PhoenixMessage): void {
    const p = m.payload as { event?: unknown; payload?: unknown }
    if (p.event === 'track') {
      if (p.payload === null || typeof p.payload !== 'object' || Array.isArray(p.payload)) {
        this.reply(m, 'error', { reason: 'Presence track payload must be a map' })
        return
      }
      this.server.track(join, p.payload as Record<string, unknown>)
    } else if (p.event === 'untrack') this.server.untrack(join)
    else {
      this.reply(m, 'error', { reason: 'presence events are track and untrack' })
      return
    }
    this.reply(m, 'ok', {})
  }
}

function fail(message: string): never {
  throw new ProtocolError(`malformed message: ${message}`)
}

