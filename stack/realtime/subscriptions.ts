// What a channel join asks for and what the server keeps about it: postgres_changes subscriptions (event,
// schema, table, filter) and the joined channel (topic, identity, broadcast options). Filters use Realtime's
// syntax `column=op.value` with op one of eq, neq, lt, lte, gt, gte, in (`in.(a,b)`).
import type { Identity } from '../core/identity.ts'

export type ChangeEvent = '*' | 'INSERT' | 'UPDATE' | 'DELETE'
export const FILTER_OPS = { eq: '=', neq: '<>', lt: '<', lte: '<=', gt: '>', gte: '>=', in: 'in' } as const
export type RealtimeFilterOp = keyof typeof FILTER_OPS

export interface RowFilter {
  column: string
  op: RealtimeFilterOp
  /** For `in`, the list elements. */
  value: string | string[]
}

export interface ChannelJoin {
  topic: string
  subTopic: string
  joinRef: string
  identity: Identity
  token: string
  broadcastSelf: boolean
  broadcastAck: boolean
  presenceKey: string
  subscriptions: Subscription[]
  /** Sends a message on this channel to its client. */
  push(event: string, payload: unknown): void
  expiry?: NodeJS.Timeout
}

export interface Subscription {
  id: number
  /** What the client sent, echoed in the join reply (realtime-js compares it with its own bindings). */
  params: Record<string, unknown>
  event: ChangeEvent
  schema: string
  /** Undefined or '*' for every published table of the schema. */
  table?: string
  filter?: RowFilter
  join: ChannelJoin
}

export class SubscriptionError extends Error {}

export function parseRowFilter(text: string): RowFilter {
  const eq = text.indexOf('=')
  const column = text.slice(0, eq).trim()
  const rest = text.slice(eq + 1)
  const dot = rest.indexOf('.')
  const op = rest.slice(0, dot) as RealtimeFilterOp
  if (eq <= 0 || dot <= 0 || !(op in FILTER_OPS)) {
    throw new SubscriptionError(`invalid filter "${text}": expected column=op.value with op one of ${Object.keys(FILTER_OPS).join(', ')}`)
  }
  const raw = rest.slice(dot + 1)
  if (op !== 'in') return { column, op, value: raw }
  if (!raw.startsWith('(') || !raw.endsWith(')')) throw new SubscriptionError(`invalid filter "${text}": in takes a list, e.g. id=in.(1,2,3)`)
  const inner = raw.slice(1, -1)
  return { column, op, value: inner === '' ? [] : inner.split(',').map((v) => v.trim().replace(/^"(.*)"$/, '$1')) }
}

export function parseSubscription(params: unknown, id: number, join: ChannelJoin): Subscription {
  if (params === null || typeof params !== 'object' || Array.isArray(params)) throw new SubscriptionError('each postgres_changes entry must be an object')
  const p = params as Record<string, unknown>
  const event = String(p.event ?? '').toUpperCase()
  if (!['*', 'INSERT', 'UPDATE', 'DELETE'].includes(event)) throw new SubscriptionError(`invalid event "${String(p.event)}": expected *, INSERT, UPDATE or DELETE`)
  if (typeof p.schema !== 'string' || !p.schema) throw new SubscriptionError('"schema" is required, e.g. "public"')
  if (p.table !== undefined && p.table !== null && typeof p.table !== 'string') throw new SubscriptionError('"table" must be a string')
  if (p.filter !== undefined && p.filter !== null && typeof p.filter !== 'string') throw new SubscriptionError('"filter" must be a string')
  const table = typeof p.table === 'string' && p.table !== '' ? p.table : undefined
  const filter = typeof p.filter === 'string' && p.filter !== '' ? parseRowFilter(p.filter) : undefined
  if (filter && (!table || table === '*')) throw new SubscriptionError('a filter needs a table')
  return { id, params: p, event: event as ChangeEvent, schema: p.schema, table, filter, join }
}

export function matchesTable(s: Subscription, schema: string, table: string): boolean {
  return (s.schema === '*' || s.schema === schema) && (s.table === undefined || s.table === '*' || s.table === table)
}
