// Offline support for the SDK: createMemory({ supabase, libsql }) (client/create.ts) wraps the Supabase memory
// with the LibSQL mirror.
//   reads   getMemoryThread, listMemoryThreads, loadMessages, iterateMessages, loadAgentState: from Supabase;
//           when that fails with a network error or a 5xx (configurable: fallbackOn), from LibSQL for the
//           same owner. Every result object carries `source`: 'supabase' | 'mirror' (| 'outbox' for a
//           queued write), and onFallback is told each time.
//   writes  createMemoryThread, updateMemoryThread, deleteMemoryThread, saveMessage(s), saveAgentState: every
//           new thread and message gets a client-generated id. When Supabase is unreachable (network error,
//           502/503/504, PostgREST's connection errors) the call goes to the outbox (client/outbox.ts) and a
//           provisional result (source 'outbox') is returned; with offlineWrites: false it fails at once with
//           an error saying nothing was queued. Before any call the owner's pending outbox is replayed, in
//           order, so a write never overtakes one queued earlier; while entries are still pending (Supabase
//           still unreachable) new writes queue behind them.
// Refused replays (a stale agent-state version …) are reported to onReplayError and kept as 'failed'
// entries (memory.outbox). Writes queued offline are not visible in mirror reads until they reached Supabase
// and the mirror function copied them back.
import { randomUUID } from 'node:crypto'
import { isDeepStrictEqual } from 'node:util'
import type { Client } from '@libsql/client'
import { getLibSQLClient, type LibSQLOptions } from '../libsql/client.ts'
import { encodeCursor } from '../libsql/cursor.ts'
import { getMemory as getMirrorMemory, type MirrorMemory } from '../libsql/memory.ts'
import { fromPostgrestError, MemoryError } from './errors.ts'
import type { Memory } from './memory.ts'
import { createOutbox, type OutboxEntry, type ReplayFailure, type ReplayReport } from './outbox.ts'
import type {
  AgentState,
  AgentStateOptions,
  IterateMessagesOptions,
  Json,
  ListThreadsOptions,
  LoadMessagesOptions,
  Message,
  MessagePage,
  NewMessage,
  NewThread,
  SaveAgentStateOptions,
  Thread,
  ThreadPage,
  ThreadPatch,
} from './types.ts'

export type Source = 'supabase' | 'mirror' | 'outbox'
/** A result with where it came from. */
export type Served<T> = T & { source: Source }

export interface MirrorConfig extends LibSQLOptions {
  /** An open LibSQL client (getLibSQLClient); otherwise one is opened from url/authToken on first use. */
  client?: Client
  /** Whose rows the mirror serves. Default: the signed-in user of the supabase client (its JWT's sub). */
  ownerId?: string
  /** Queue writes in the outbox while Supabase is unreachable (default true); false: such writes fail. */
  offlineWrites?: boolean
  /** Whether an error of a read / write means "Supabase is unreachable" (see the defaults below). */
  fallbackOn?: (error: MemoryError, kind: 'read' | 'write') => boolean
  /** Told about every read served from the mirror and every write queued in the outbox. */
  onFallback?: (event: { method: string; kind: 'read' | 'write'; error: MemoryError }) => void
  /** Told about every outbox entry Supabase refused when it was replayed (it stays in the outbox as 'failed'). */
  onReplayError?: (failure: ReplayFailure) => void
}

/** Reads fall back on a network error or any 5xx. */
export function defaultReadFallback(error: MemoryError): boolean {
  return error.code === 'network' || (error.status ?? 0) >= 500
}

/**
 * Writes go to the outbox only when Supabase did not take them: no answer, a gateway/availability status, or
 * PostgREST unable to reach the database (PGRST000–PGRST003). A 500 with a SQLSTATE is the database
 * answering — a bug or bad input that a replay would only repeat — and is thrown.
 */
export function defaultWriteFallback(error: MemoryError): boolean {
  return error.code === 'network' || [502, 503, 504].includes(error.status ?? 0) || /^PGRST00[0-3]$/.test(error.sqlstate ?? '')
}

function mark<T>(value: T, source: Source): Served<T> {
  if (value !== null && typeof value === 'object') Object.defineProperty(value, 'source', { value: source, enumerable: true, configurable: true, writable: true })
  return value as Served<T>
}

/** The `sub` claim of a Bearer token. */
function subOf(authorization: string | null | undefined): string | null {
  const m = /^Bearer\s+[A-Za-z0-9_-]+\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]*$/i.exec(authorization ?? '')
  if (!m) return null
  try {
    const claims = JSON.parse(Buffer.from(m[1], 'base64url').toString('utf8'))
    return typeof claims.sub === 'string' && claims.role !== 'service_role' ? claims.sub : null
  } catch {
    return null
  }
}

export function withMirror(base: Memory, config: MirrorConfig) {
  const supabase = base.supabase
  const fallbackOn = config.fallbackOn ?? ((e: MemoryError, kind: 'read' | 'write') => (kind === 'read' ? defaultReadFallback(e) : defaultWriteFallback(e)))
  const offlineWrites = config.offlineWrites ?? true
  let opening: Promise<Client> | null = config.client ? Promise.resolve(config.client) : null
  const db = () => {
    opening ??= getLibSQLClient(config)
    opening.catch(() => (opening = null))
    return opening
  }
  const outbox = createOutbox(db)

  async function ownerId(): Promise<string> {
    if (config.ownerId) return config.ownerId
    const { data } = await supabase.auth.getSession().catch(() => ({ data: { session: null } }))
    if (data.session?.user?.id) return data.session.user.id
    // A client made with a user's token in global headers (server-side use): the token's subject.
    const headers = (supabase as unknown as { rest?: { headers?: Headers | Record<string, string> } }).rest?.headers
    const auth = headers instanceof Headers ? headers.get('authorization') : (headers?.Authorization ?? headers?.authorization)
    const sub = subOf(auth)
    if (sub) return sub
    throw new MemoryError('invalid_input', 'the LibSQL mirror needs an owner: sign in, or pass libsql.ownerId (e.g. for a service_role client)')
  }

  async function mirror(): Promise<MirrorMemory> {
    return getMirrorMemory(await db(), { ownerId: await ownerId() })
  }

  async function send(entry: OutboxEntry): Promise<void> {
    let result: { error: Parameters<typeof fromPostgrestError>[0] | null; status: number; data: unknown }
    try {
      result = await supabase.rpc(entry.op as never, entry.args as never)
    } catch (err) {
      throw new MemoryError('network', `${entry.op}: the request failed (${(err as Error).message})`, { cause: err, status: 0 })
    }
    if (!result.error) return
    const error = fromPostgrestError(result.error, result.status, entry.op)
    // Already done: the thread is gone (a replayed delete), or the state is the one this entry wrote (the
    // first attempt arrived, its answer did not).
    if (entry.op === 'delete_thread' && error.code === 'not_found') return
    if (entry.op === 'save_agent_state' && error.code === 'conflict' && typeof entry.args.expected_version === 'number') {
      const { data } = await supabase.rpc('load_agent_state' as never, { thread_id: entry.args.thread_id, agent_id: entry.args.agent_id } as never)
      const row = Array.isArray(data) ? (data[0] as AgentState | undefined) : undefined
      if (row && row.version === entry.args.expected_version + 1 && isDeepStrictEqual(row.state, entry.args.state)) return
    }
    throw error
  }

  async function replayOutbox(): Promise<ReplayReport> {
    const owner = await ownerId()
    const report = await outbox.replay(owner, send, (e) => fallbackOn(e, 'write'))
    for (const f of report.failed) config.onReplayError?.(f)
    return report
  }

  /** Replays the owner's pending writes first; true when some are still pending (Supabase unreachable). */
  async function catchUp(): Promise<boolean> {
    const owner = await ownerId().catch(() => null)
    if (!owner) return false
    if ((await outbox.pendingCount(owner)) === 0) return false
    const report = await replayOutbox()
    return report.pending > 0
  }

  async function read<T>(method: string, online: () => Promise<T>, offline: (m: MirrorMemory) => Promise<T>): Promise<Served<T>> {
    try {
      await catchUp()
      return mark(await online(), 'supabase')
    } catch (err) {
      if (!(err instanceof MemoryError) || !fallbackOn(err, 'read')) throw err
      config.onFallback?.({ method, kind: 'read', error: err })
      let m: MirrorMemory
      try {
        m = await mirror()
      } catch (mirrorErr) {
        throw new MemoryError(err.code, `${err.message}; the LibSQL mirror cannot serve it either: ${(mirrorErr as Error).message}`, { cause: err, status: err.status, sqlstate: err.sqlstate })
      }
      return mark(await offline(m), 'mirror')
    }
  }

  async function write<T>(
    method: string,
    op: OutboxEntry['op'],
    threadId: string | null,
    args: Record<string, unknown>,
    online: () => Promise<T>,
    provisional: (owner: string) => Promise<T>,
  ): Promise<Served<T>> {
    let cause: MemoryError | null = null
    try {
      if (!(await catchUp())) return mark(await online(), 'supabase')
      cause = new MemoryError('network', `${method}: earlier writes are still waiting in the outbox (Supabase unreachable)`, { status: 0 })
    } catch (err) {
      if (!(err instanceof MemoryError) || !fallbackOn(err, 'write')) throw err
      cause = err
    }
    if (!offlineWrites) {
      throw new MemoryError(cause.code, `${method}: Supabase is unreachable and offline writes are off (offlineWrites: false), so nothing was written or queued: ${cause.message}`, {
        cause,
        status: cause.status,
        sqlstate: cause.sqlstate,
      })
    }
    config.onFallback?.({ method, kind: 'write', error: cause })
    const owner = await ownerId()
    await outbox.enqueue(owner, op, threadId, args)
    return mark(await provisional(owner), 'outbox')
  }

  const now = () => new Date()
  const rpcMessage = (m: NewMessage & { id: string }) => ({
    id: m.id,
    role: m.role,
    content: m.content,
    tool_call_id: m.toolCallId ?? null,
    tool_name: m.toolName ?? null,
    metadata: (m.metadata ?? {}) as Json,
    token_count: m.tokenCount ?? null,
  })
  const provisionalMessage = (threadId: string, owner: string, m: ReturnType<typeof rpcMessage>, at: Date): Message => ({
    id: m.id,
    thread_id: threadId,
    owner_id: owner,
    role: m.role,
    content: m.content,
    tool_call_id: m.tool_call_id,
    tool_name: m.tool_name,
    token_count: m.token_count ?? 0,
    token_count_exact: m.token_count !== null,
    metadata: m.metadata,
    created_at: at.toISOString(),
    content_hash: null,
    cursor: encodeCursor('m', at.getTime() * 1000, m.id),
  } as unknown as Message)

  async function loadMessages(threadId: string, opts: LoadMessagesOptions = {}): Promise<Served<MessagePage>> {
    return read('loadMessages', () => base.loadMessages(threadId, opts), (m) => m.loadMessages(threadId, opts))
  }

  async function saveMessages(threadId: string, messages: NewMessage[]): Promise<Served<Message>[]> {
    if (!Array.isArray(messages)) throw new MemoryError('invalid_input', 'messages must be an array')
    const withIds = messages.map((m) => ({ ...m, id: m?.id ?? randomUUID() }))
    const args = { thread_id: threadId, messages: withIds.map(rpcMessage) }
    const saved = await write('saveMessages', 'save_messages', threadId, args, () => base.saveMessages(threadId, withIds), async (owner) => {
      const at = now()
      return args.messages.map((m, i) => provisionalMessage(threadId, owner, m, new Date(at.getTime() + i)))
    })
    return saved.map((m) => mark(m, saved.source))
  }

  return {
    ...base,
    /** The LibSQL read client for this memory's owner (search, keyword search, hybrid search, …). */
    mirror,
    /** Replays the pending outbox now; Supabase's refusals are in `failed` (and stay in the outbox). */
    replayOutbox,
    /** The owner's outbox: pending and failed entries, retry or discard failed ones. */
    outbox: {
      list: async (status?: OutboxEntry['status']) => outbox.list(await ownerId(), status),
      pendingCount: async () => outbox.pendingCount(await ownerId()),
      retryFailed: async (ids?: number[]) => outbox.retryFailed(await ownerId(), ids),
      discard: async (ids: number[]) => outbox.discard(await ownerId(), ids),
    },

    async createMemoryThread(thread: NewThread = {}): Promise<Served<Thread>> {
      const id = thread.id ?? randomUUID()
      const args = {
        id,
        agent_id: thread.agentId ?? null,
        name: thread.name ?? null,
        metadata: (thread.metadata ?? {}) as Json,
        expires_at: thread.expiresAt instanceof Date ? thread.expiresAt.toISOString() : (thread.expiresAt ?? null),
        owner_id: thread.ownerId ?? null,
      }
      return write('createMemoryThread', 'create_thread', id, args, () => base.createMemoryThread({ ...thread, id }), async (owner) => {
        const at = now().toISOString()
        return {
          id,
          owner_id: thread.ownerId ?? owner,
          agent_id: args.agent_id,
          name: args.name,
          metadata: args.metadata,
          summary: null,
          summary_through: null,
          summary_token_count: null,
          expires_at: args.expires_at,
          created_at: at,
          updated_at: at,
        } as Thread
      })
    },

    async getMemoryThread(threadId: string): Promise<Served<Thread>> {
      return read('getMemoryThread', () => base.getMemoryThread(threadId), (m) => m.getThread(threadId))
    },

    async listMemoryThreads(opts: ListThreadsOptions = {}): Promise<Served<ThreadPage>> {
      return read('listMemoryThreads', () => base.listMemoryThreads(opts), (m) => m.listThreads(opts))
    },

    async updateMemoryThread(threadId: string, patch: ThreadPatch): Promise<Served<Thread>> {
      const body: Record<string, Json> = {}
      if (patch.name !== undefined) body.name = patch.name
      if (patch.agentId !== undefined) body.agent_id = patch.agentId
      if (patch.metadata !== undefined) body.metadata = patch.metadata as Json
      if (patch.expiresAt !== undefined) body.expires_at = patch.expiresAt instanceof Date ? patch.expiresAt.toISOString() : patch.expiresAt
      if (patch.summary !== undefined) body.summary = patch.summary
      if (patch.summaryThrough !== undefined) body.summary_through = patch.summaryThrough
      return write('updateMemoryThread', 'update_thread', threadId, { thread_id: threadId, patch: body }, () => base.updateMemoryThread(threadId, patch), async () => {
        const current = await (await mirror()).getThread(threadId).catch(() => null)
        return { ...(current ?? { id: threadId }), ...body, updated_at: now().toISOString() } as Thread
      })
    },

    async deleteMemoryThread(threadId: string): Promise<Served<Thread>> {
      return write('deleteMemoryThread', 'delete_thread', threadId, { thread_id: threadId }, () => base.deleteMemoryThread(threadId), async () => {
        return ((await (await mirror()).getThread(threadId).catch(() => null)) ?? { id: threadId }) as Thread
      })
    },

    async saveMessage(threadId: string, message: NewMessage): Promise<Served<Message>> {
      if (message === null || typeof message !== 'object') throw new MemoryError('invalid_input', 'message must be a message object')
      const [saved] = await saveMessages(threadId, [message])
      return saved
    },

    saveMessages,
    loadMessages,

    /** Every page of a thread's messages; each page from Supabase or, when unreachable, from the mirror. */
    async *iterateMessages(threadId: string, opts: IterateMessagesOptions = {}): AsyncGenerator<Served<MessagePage>, void, undefined> {
      let cursor = opts.cursor ?? null
      for (;;) {
        const page = await loadMessages(threadId, { limit: opts.pageSize ?? 100, cursor, direction: opts.direction })
        if (page.messages.length) yield page
        if (!page.hasMore) return
        cursor = page.nextCursor
      }
    },

    async loadAgentState(threadId: string, opts: AgentStateOptions = {}): Promise<Served<AgentState> | null> {
      return read('loadAgentState', () => base.loadAgentState(threadId, opts), (m) => m.loadAgentState(threadId, opts))
    },

    async saveAgentState(threadId: string, state: { [key: string]: Json | undefined }, opts: SaveAgentStateOptions = {}): Promise<Served<AgentState>> {
      const args = { thread_id: threadId, agent_id: opts.agentId ?? null, state: state as Json, expected_version: opts.expectedVersion ?? null }
      return write('saveAgentState', 'save_agent_state', threadId, args, () => base.saveAgentState(threadId, state, opts), async (owner) => {
        const current = await (await mirror()).loadAgentState(threadId, opts).catch(() => null)
        const at = now().toISOString()
        return {
          thread_id: threadId,
          agent_id: opts.agentId ?? current?.agent_id ?? 'default',
          owner_id: owner,
          state: state as NonNullable<Json>,
          version: (opts.expectedVersion ?? current?.version ?? 0) + 1,
          created_at: current?.created_at ?? at,
          updated_at: at,
        }
      })
    },
  }
}

export type MirroredMemory = ReturnType<typeof withMirror>
