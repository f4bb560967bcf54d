// The read client of the LibSQL mirror, for one owner: getMemory(client, { ownerId }) returns the reads the
// SDK serves from LibSQL when Supabase is unreachable — threads, keyset pages of messages with the very
// cursors Supabase's load_messages/list_threads return, agent states — and search: searchMemory through the
// model's vector index (vector_top_k, never a scan of all vectors) with filters, keywordSearch through FTS5
// (bm25), and hybridSearch (weighted reciprocal rank fusion of the two, as Supabase's hybrid_search).
//
// Tenancy: the mirror has no row level security; every query here is restricted to ownerId, and a thread of
// another owner is "not found" exactly like an unknown one. Whoever holds the LibSQL URL and token can read
// everything: keep them server-side, like a service key.
import type { Client, InValue } from '@libsql/client'
import { MemoryError } from '../client/errors.ts'
import type { AgentState, Message, MessagePage, Thread, ThreadPage } from '../client/types.ts'
import { hashEmbedding } from '../supabase/functions/_shared/hash-embedding.ts'
import { fromLibsqlRow, TABLES, type VectorModel, vectorModels } from '../supabase/functions/_shared/libsql/schema.ts'
import type { SqlClient } from '../supabase/functions/_shared/libsql/sql-client.ts'
import { decodeCursor, encodeCursor } from './cursor.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export interface MirrorListThreadsOptions {
  agentId?: string
  metadata?: Record<string, unknown>
  limit?: number
  cursor?: string | null
}

export interface MirrorLoadMessagesOptions {
  limit?: number
  cursor?: string | null
  direction?: 'older' | 'newer'
}

export interface SearchFilters {
  threadId?: string
  role?: Message['role']
  /** Only messages created at or after / before this time. */
  after?: Date | string
  before?: Date | string
}

export interface SearchMemoryOptions extends SearchFilters {
  /** The query vector; or `query` text for the hash-384 model (embedded here, offline). */
  embedding?: number[]
  query?: string
  /** The embedding model (default: the only model the mirror holds). */
  model?: string
  /** Results wanted, 1..1000 (default 10). */
  k?: number
}

export interface SearchHit {
  message: Message
  /** Cosine distance (0 = same direction). */
  distance: number
  similarity: number
}

export interface KeywordHit {
  message: Message
  /** FTS5 bm25 (higher = better; FTS5's own value negated). */
  score: number
}

export interface HybridHit {
  message: Message
  score: number
  vector_rank: number | null
  keyword_rank: number | null
  distance: number | null
  keyword_score: number | null
}

export interface HybridSearchOptions extends SearchMemoryOptions {
  query: string
  rrfK?: number
  vectorWeight?: number
  keywordWeight?: number
  /** Candidates per channel (default 2 × k). */
  candidates?: number
}

const THREAD_COLS = TABLES.memory_threads.columns
const MESSAGE_COLS = TABLES.messages.columns
const STATE_COLS = TABLES.agent_states.columns
const MESSAGE_SELECT = [...MESSAGE_COLS.map(([c]) => `m.${c}`), 'm.created_us'].join(', ')

function requireLimit(value: number | undefined, fallback: number, field: string, max = 1000): number {
  const v = value ?? fallback
  if (!Number.isInteger(v) || v < 1 || v > max) throw new MemoryError('invalid_input', `${field} must be between 1 and ${max} (got ${value})`)
  return v
}

function toMessage(row: Record<string, unknown>): Message {
  const m = fromLibsqlRow(MESSAGE_COLS, row) as unknown as Message
  m.cursor = encodeCursor('m', Number(row.created_us), String(row.id))
  return m
}

function toUs(value: Date | string, field: string): number {
  const d = value instanceof Date ? value : new Date(value)
  if (Number.isNaN(d.getTime())) throw new MemoryError('invalid_input', `${field} is not a timestamp: ${String(value)}`)
  return d.getTime() * 1000
}

/** Does `value` contain `pattern` (jsonb @> for objects, arrays and scalars)? */
function contains(value: unknown, pattern: unknown): boolean {
  if (pattern === null || typeof pattern !== 'object') return value === pattern
  if (Array.isArray(pattern)) return Array.isArray(value) && pattern.every((p) => value.some((v) => contains(v, p)))
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  return Object.entries(pattern).every(([k, p]) => k in (value as object) && contains((value as Record<string, unknown>)[k], p))
}

export type MirrorMemory = ReturnType<typeof getMemory>

export function getMemory(client: Client, opts: { ownerId: string }) {
  const ownerId = opts?.ownerId
  if (typeof ownerId !== 'string' || !UUID.test(ownerId)) throw new MemoryError('invalid_input', `ownerId must be a user id (UUID), got ${JSON.stringify(ownerId)}`)
  const exec = async (sql: string, args: InValue[] = []) => (await client.execute({ sql, args })).rows as unknown as Record<string, unknown>[]

  async function requireThread(threadId: string): Promise<Record<string, unknown>> {
    if (typeof threadId !== 'string' || !UUID.test(threadId)) throw new MemoryError('invalid_input', `threadId must be a UUID, got ${JSON.stringify(threadId)}`)
    const [row] = await exec(`select ${THREAD_COLS.map(([c]) => c).join(', ')} from memory_threads where id = ? and owner_id = ?`, [threadId, ownerId])
    if (!row) throw new MemoryError('not_found', `thread ${threadId} not found`, { sqlstate: 'PT404', status: 404 })
    return row
  }

  async function getThread(threadId: string): Promise<Thread> {
    return fromLibsqlRow(THREAD_COLS, await requireThread(threadId)) as unknown as Thread
  }

  async function listThreads(o: MirrorListThreadsOptions = {}): Promise<ThreadPage> {
    const limit = requireLimit(o.limit, 50, 'limit')
    if (o.metadata !== undefined && (o.metadata === null || typeof o.metadata !== 'object' || Array.isArray(o.metadata))) {
      throw new MemoryError('invalid_input', 'metadata must be a JSON object')
    }
    const at = o.cursor ? decodeCursor(o.cursor, 't', 'cursor') : { us: Number.MAX_SAFE_INTEGER, id: 'ffffffff-ffff-ffff-ffff-ffffffffffff' }
    const threads: { thread: Thread; us: number }[] = []
    let after = at
    // Metadata containment is checked here, so keep reading pages until one is full.
    for (;;) {
      const rows = await exec(
        `select ${THREAD_COLS.map(([c]) => c).join(', ')}, created_us from memory_threads
          where owner_id = ? ${o.agentId !== undefined ? 'and agent_id = ?' : ''} and (created_us, id) < (?, ?)
          order by created_us desc, id desc limit ?`,
        [ownerId, ...(o.agentId !== undefined ? [o.agentId] : []), after.us, after.id, limit + 1],
      )
      for (const r of rows) {
        const t = fromLibsqlRow(THREAD_COLS, r) as unknown as Thread
        if (o.metadata === undefined || contains(t.metadata, o.metadata)) threads.push({ thread: t, us: Number(r.created_us) })
        after = { us: Number(r.created_us), id: String(r.id) }
        if (threads.length > limit) break
      }
      if (threads.length > limit || rows.length <= limit) break
    }
    const more = threads.length > limit
    const page = threads.slice(0, limit)
    const last = page[page.length - 1]
    return {
      threads: page.map((p) => p.thread),
      nextCursor: last ? encodeCursor('t', last.us, last.thread.id) : (o.cursor ?? null),
      hasMore: more,
    }
  }

  async function loadMessages(threadId: string, o: MirrorLoadMessagesOptions = {}): Promise<MessagePage> {
    const limit = requireLimit(o.limit, 50, 'limit')
    const direction = o.direction ?? 'older'
    if (direction !== 'older' && direction !== 'newer') throw new MemoryError('invalid_input', `direction must be older or newer (got ${JSON.stringify(o.direction)})`)
    const at = o.cursor ? decodeCursor(o.cursor, 'm', 'cursor') : null
    await requireThread(threadId)
    let rows: Record<string, unknown>[]
    if (direction === 'older') {
      const from = at ?? { us: Number.MAX_SAFE_INTEGER, id: 'ffffffff-ffff-ffff-ffff-ffffffffffff' }
      rows = await exec(
        `select ${MESSAGE_SELECT} from messages m where m.thread_id = ? and m.owner_id = ? and (m.created_us, m.id) < (?, ?)
          order by m.created_us desc, m.id desc limit ?`,
        [threadId, ownerId, from.us, from.id, limit + 1],
      )
      const more = rows.length > limit
      const page = rows.slice(0, limit).reverse().map(toMessage)
      return { messages: page, nextCursor: page.length ? page[0].cursor : (o.cursor ?? null), hasMore: more }
    }
    const from = at ?? { us: Number.MIN_SAFE_INTEGER, id: '00000000-0000-0000-0000-000000000000' }
    rows = await exec(
      `select ${MESSAGE_SELECT} from messages m where m.thread_id = ? and m.owner_id = ? and (m.created_us, m.id) > (?, ?)
        order by m.created_us, m.id limit ?`,
      [threadId, ownerId, from.us, from.id, limit + 1],
    )
    const more = rows.length > limit
    const page = rows.slice(0, limit).map(toMessage)
    return { messages: page, nextCursor: page.length ? page[page.length - 1].cursor : (o.cursor ?? null), hasMore: more }
  }

  async function loadAgentState(threadId: string, o: { agentId?: string | null } = {}): Promise<AgentState | null> {
    const thread = await requireThread(threadId)
    const agent = o.agentId ?? (thread.agent_id as string | null) ?? 'default'
    const [row] = await exec(`select ${STATE_COLS.map(([c]) => c).join(', ')} from agent_states where thread_id = ? and agent_id = ? and owner_id = ?`, [
      threadId,
      agent,
      ownerId,
    ])
    return row ? (fromLibsqlRow(STATE_COLS, row) as unknown as AgentState) : null
  }

  async function modelFor(name: string | undefined): Promise<VectorModel> {
    const models = await vectorModels(client as unknown as SqlClient)
    if (name !== undefined) {
      const m = models.get(name)
      if (!m) {
        throw new MemoryError('invalid_input', `unknown embedding model "${name}"; the mirror holds: ${[...models.keys()].sort().join(', ') || '(none)'}`)
      }
      return m
    }
    if (models.size === 1) return [...models.values()][0]
    if (models.size === 0) throw new MemoryError('invalid_input', 'the mirror holds no embeddings yet')
    throw new MemoryError('invalid_input', `model is required: the mirror holds ${[...models.keys()].sort().join(', ')}`)
  }

  function queryVector(o: SearchMemoryOptions, model: VectorModel): number[] {
    let v = o.embedding
    if (v === undefined) {
      if (typeof o.query !== 'string' || !o.query.trim()) throw new MemoryError('invalid_input', 'embedding (or query text for hash-384) is required')
      if (model.name !== `hash-${model.dims}`) {
        throw new MemoryError('invalid_input', `query text can only be embedded offline for the hash models; pass embedding for "${model.name}"`)
      }
      v = hashEmbedding(o.query, model.dims)
    }
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isFinite(x))) throw new MemoryError('invalid_input', 'embedding must be an array of finite numbers')
    if (v.length !== model.dims) throw new MemoryError('invalid_input', `query embedding has ${v.length} dimensions but model "${model.name}" stores ${model.dims}`)
    return v
  }

  function filterSql(f: SearchFilters): { sql: string; args: InValue[] } {
    const parts: string[] = []
    const args: InValue[] = []
    if (f.threadId !== undefined) {
      if (typeof f.threadId !== 'string' || !UUID.test(f.threadId)) throw new MemoryError('invalid_input', `threadId must be a UUID, got ${JSON.stringify(f.threadId)}`)
      parts.push('m.thread_id = ?')
      args.push(f.threadId)
    }
    if (f.role !== undefined) {
      if (!['system', 'user', 'assistant', 'tool'].includes(f.role)) throw new MemoryError('invalid_input', `role must be one of system, user, assistant, tool (got ${JSON.stringify(f.role)})`)
      parts.push('m.role = ?')
      args.push(f.role)
    }
    if (f.after !== undefined) {
      parts.push('m.created_us >= ?')
      args.push(toUs(f.after, 'after'))
    }
    if (f.before !== undefined) {
      parts.push('m.created_us < ?')
      args.push(toUs(f.before, 'before'))
    }
    return { sql: parts.map((p) => ` and ${p}`).join(''), args }
  }

  /**
   * The k messages nearest to the query (cosine) among the owner's messages that pass the filters. Candidates
   * come from the model's DiskANN index (vector_top_k) and are ranked by exact distance; when filters or other
   * owners' vectors leave fewer than k, the search asks the index for four times as many, until it has k or
   * the index has no more.
   */
  async function searchMemory(o: SearchMemoryOptions): Promise<SearchHit[]> {
    const k = requireLimit(o.k, 10, 'k')
    const model = await modelFor(o.model)
    const v = JSON.stringify(queryVector(o, model))
    const f = filterSql(o)
    let candidates = Math.max(4 * k, 40)
    for (;;) {
      const rows = await exec(vectorSearchSql(model, f.sql), [v, v, candidates, ownerId, ...f.args, k])
      const done = rows.length >= k ||
        Number((await exec(`select count(*) as n from vector_top_k('${model.index}', vector32(?), ?)`, [v, candidates]))[0].n) < candidates
      if (done) return rows.map((r) => ({ message: toMessage(r), distance: Number(r.distance), similarity: 1 - Number(r.distance) }))
      candidates *= 4
    }
  }

  /** The k best FTS5 (bm25) matches among the owner's messages; `query` is plain words (FTS syntax is quoted away). */
  async function keywordSearch(o: SearchFilters & { query: string; k?: number }): Promise<KeywordHit[]> {
    const k = requireLimit(o.k, 10, 'k')
    const match = ftsQuery(o.query)
    const f = filterSql(o)
    const rows = await exec(
      `select ${MESSAGE_SELECT}, -bm25(messages_fts) as score from messages_fts join messages m on m.rowid = messages_fts.rowid
        where messages_fts match ? and m.owner_id = ?${f.sql} order by bm25(messages_fts) limit ?`,
      [match, ownerId, ...f.args, k],
    )
    return rows.map((r) => ({ message: toMessage(r), score: Number(r.score) }))
  }

  /** Weighted reciprocal rank fusion (k = 60 by default) of searchMemory and keywordSearch, as hybrid_search does. */
  async function hybridSearch(o: HybridSearchOptions): Promise<HybridHit[]> {
    const k = requireLimit(o.k, 10, 'k')
    const candidates = requireLimit(o.candidates, 2 * k, 'candidates', 10000)
    const rrfK = requireLimit(o.rrfK, 60, 'rrfK')
    const vw = o.vectorWeight ?? 1
    const kw = o.keywordWeight ?? 1
    if (!(vw >= 0 && kw >= 0 && vw + kw > 0)) throw new MemoryError('invalid_input', 'vectorWeight and keywordWeight must be ≥ 0 and not both 0')
    const [vec, kwd] = await Promise.all([searchMemory({ ...o, k: Math.min(candidates, 1000) }), keywordSearch({ ...o, k: Math.min(candidates, 1000) })])
    const hits = new Map<string, HybridHit>()
    vec.forEach((h, i) => hits.set(h.message.id, { message: h.message, score: vw / (rrfK + i + 1), vector_rank: i + 1, keyword_rank: null, distance: h.distance, keyword_score: null }))
    kwd.forEach((h, i) => {
      const s = kw / (rrfK + i + 1)
      const have = hits.get(h.message.id)
      if (have) Object.assign(have, { score: have.score + s, keyword_rank: i + 1, keyword_score: h.score })
      else hits.set(h.message.id, { message: h.message, score: s, vector_rank: null, keyword_rank: i + 1, distance: null, keyword_score: h.score })
    })
    return [...hits.values()].sort((a, b) => b.score - a.score || a.message.id.localeCompare(b.message.id)).slice(0, k)
  }

  /** The newest `limit` messages of a thread, chronological (the seed's getMemory). */
  async function recentMessages(threadId: string, limit = 50): Promise<Message[]> {
    return (await loadMessages(threadId, { limit })).messages
  }

  return {
    ownerId,
    getThread,
    listThreads,
    /** The owner's threads (newest first), every page. */
    async getThreads(o: Omit<MirrorListThreadsOptions, 'cursor'> = {}): Promise<Thread[]> {
      const out: Thread[] = []
      let cursor: string | null = null
      for (;;) {
        const page = await listThreads({ ...o, limit: o.limit ?? 1000, cursor })
        out.push(...page.threads)
        if (!page.hasMore) return out
        cursor = page.nextCursor
      }
    },
    getMemory: recentMessages,
    loadMessages,
    loadAgentState,
    searchMemory,
    keywordSearch,
    hybridSearch,
  }
}

/**
 * The vector search statement: candidates from vector_top_k on the model's index, joined to their messages,
 * filtered to the owner (and the filters), ranked by exact cosine distance. Args: vector, vector, candidates,
 * owner, …filters, k. Exported so tests can EXPLAIN it.
 */
export function vectorSearchSql(model: Pick<VectorModel, 'table' | 'index'>, filters = ''): string {
  return `select ${MESSAGE_SELECT}, vector_distance_cos(e.embedding, vector32(?)) as distance
            from vector_top_k('${model.index}', vector32(?), ?) as t
            join ${model.table} e on e.rowid = t.id
            join messages m on m.id = e.source_id
           where e.source_table = 'messages' and e.owner_id = ?${filters}
           order by distance, m.id limit ?`
}

/** Plain words → an FTS5 query matching all of them (each quoted, so FTS operators in user text are inert). */
export function ftsQuery(text: string): string {
  if (typeof text !== 'string') throw new MemoryError('invalid_input', 'query must be a string')
  const words = text.match(/[\p{L}\p{N}_]+/gu) ?? []
  if (!words.length) throw new MemoryError('invalid_input', 'query has no words to search for')
  return words.map((w) => `"${w}"`).join(' OR ')
}
