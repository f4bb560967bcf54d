// What one websocket connection needs from the Realtime server that holds every connection: the channels
// joined across connections (for broadcast and presence), postgres_changes bookkeeping and token checks.
// An interface of its own so connection.ts and server.ts do not import each other.
import type { Subscription, ChannelJoin } from './subscriptions.ts'

export interface RealtimeHub {
  log(line: string): void
  /** Verifies a JWT (apikey or access token); throws ApiError (PGRST301/PGRST303) when it is not valid. */
  verifyToken(token: string): Promise<Record<string, unknown>>
  nextSubscriptionId(): number
  /** Checks subscriptions against the catalog, removes invalid ones from the join, returns their problems. */
  validate(subs: Subscription[]): Promise<string[]>
  addJoin(conn: RealtimeConnection, join: ChannelJoin): void
  removeJoin(join: ChannelJoin): void
  subscriptionsChanged(): Promise<void>
  relayBroadcast(join: ChannelJoin, json: Record<string, unknown> | null, binary: Buffer | null): void
  presenceState(topic: string): Record<string, { metas: Record<string, unknown>[] }>
  track(join: ChannelJoin, meta: Record<string, unknown>): void
  untrack(join: ChannelJoin): void
}

/** The side of a connection the hub talks to. */
export interface RealtimeConnection {
  send(m: { join_ref: string | null; ref: string | null; topic: string; event: string; payload: unknown }): void
  supportsBinary(): boolean
  sendBinary(frame: Buffer): void
}
