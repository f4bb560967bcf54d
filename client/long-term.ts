// Long-term memory in the SDK: thread summaries (generateThreadSummary runs the summarize function now),
// working memory (getWorkingMemory / updateWorkingMemory, versioned like agent state), and long-term
// memories — rememberFact, updateMemory, forgetMemory, listMemories, getMemoryHistory, extractMemories and
// searchMemories (the search function's scope 'memories'). createMemory (./memory.ts) mixes these into
// the memory object; every call runs under the client's session, so row level security decides.
import { MemoryError } from './errors.ts'
import type {
  ExtractionResult,
  Functions,
  GenerateThreadSummaryOptions,
  Json,
  ListMemoriesOptions,
  LongTermMemory,
  LongTermMemoryHit,
  MemoryHistoryEntry,
  MemoryHit,
  MemoryPage,
  RememberFactOptions,
  SearchLongTermOptions,
  SearchResult,
  SemanticSearchOptions,
  ThreadSummary,
  UpdateMemoryOptions,
  WorkingMemory,
  WorkingMemoryTarget,
  WorkingMemoryUpdate,
} from './types.ts'

type Args<F extends keyof Functions> = Functions[F]['Args']
type Returns<F extends keyof Functions> = Functions[F]['Returns']

/** What createMemory lends this module: its RPC and function-call helpers. */
export interface LongTermDeps {
  call<F extends keyof Functions>(fn: F, args: Args<F>): Promise<Returns<F>>
  invoke<T>(fn: string, body: Record<string, unknown>): Promise<T>
  /** The search function, checked for results and steps. */
  search<H>(body: Record<string, unknown>): Promise<SearchResult<H>>
  /** semanticSearchMemory, for searchMemories over conversations (scopes thread, agent, all). */
  semanticSearch(query: string, opts: SemanticSearchOptions): Promise<SearchResult<MemoryHit>>
}

export function longTermMemory(deps: LongTermDeps) {
  const { call, invoke } = deps

  function target(t: WorkingMemoryTarget) {
    if (t.scope !== undefined && t.scope !== 'resource' && t.scope !== 'thread') {
      throw new MemoryError('invalid_input', `scope must be resource or thread (got ${JSON.stringify(t.scope)})`)
    }
    const scope = t.scope ?? (t.threadId ? 'thread' : 'resource')
    return definedOnly({ scope, thread_id: t.threadId, owner_id: t.ownerId })
  }

  async function searchLongTerm(query: string, opts: SearchLongTermOptions): Promise<SearchResult<LongTermMemoryHit>> {
    rejectNul(query, 'query')
    return deps.search<LongTermMemoryHit>(definedOnly({
      query,
      scope: 'memories',
      mode: opts.mode,
      k: opts.k,
      filters: definedOnly({
        agent_id: opts.agentId,
        kinds: opts.kinds,
        include_invalid: opts.includeInvalid,
        valid_at: isoOrUndefined(opts.validAt),
        metadata: opts.filter,
        created_after: isoOrUndefined(opts.createdAfter),
        created_before: isoOrUndefined(opts.createdBefore),
      }),
      rerank: opts.rerank !== null && typeof opts.rerank === 'object'
        ? definedOnly({ top_n: opts.rerank.topN, model: opts.rerank.model })
        : opts.rerank,
      hyde: opts.hyde,
      expand: opts.expand !== null && typeof opts.expand === 'object' ? definedOnly({ n: opts.expand.n }) : opts.expand,
    }))
  }

  function searchMemories(query: string, opts?: SearchLongTermOptions): Promise<SearchResult<LongTermMemoryHit>>
  function searchMemories(
    query: string,
    opts: SemanticSearchOptions & { scope: 'thread' | 'agent' | 'all' },
  ): Promise<SearchResult<MemoryHit>>
  /**
   * Searches the caller's long-term memories (scope 'memories', the default: valid ones unless
   * includeInvalid or validAt), or — with scope thread, agent or all — their conversations, as
   * semanticSearchMemory does. Hybrid by default; rerank, hyde and expand as the search function offers.
   */
  function searchMemories(
    query: string,
    opts: SearchLongTermOptions | (SemanticSearchOptions & { scope: 'thread' | 'agent' | 'all' }) = {},
  ): Promise<SearchResult<LongTermMemoryHit> | SearchResult<MemoryHit>> {
    if (opts.scope === undefined || opts.scope === 'memories') return searchLongTerm(query, opts as SearchLongTermOptions)
    if (opts.scope === 'thread' || opts.scope === 'agent' || opts.scope === 'all') return deps.semanticSearch(query, opts)
    return Promise.reject(
      new MemoryError('invalid_input', `scope must be memories, thread, agent or all (got ${JSON.stringify((opts as { scope: unknown }).scope)})`),
    )
  }

  return {
    /**
     * Summarizes the thread now, step after step, until only the newest keepRecentTokens are left (the
     * summarize function; chat model or extractive, per settings), and returns its summary. The summary
     * extends the previous one; no message is changed. MemoryError not_found for an unknown or another
     * user's thread.
     */
    async generateThreadSummary(threadId: string, opts: GenerateThreadSummaryOptions = {}): Promise<ThreadSummary> {
      const r = await invoke<ThreadSummary>('summarize', definedOnly({ thread_id: threadId, keep_recent_tokens: opts.keepRecentTokens }))
      if (typeof r.steps !== 'number' || !('summary' in r)) {
        throw new MemoryError('unexpected_response', 'summarize did not return the thread\'s summary')
      }
      return r
    },

    /** Extracts long-term memories from the thread now (needs setting memories.model); totals. */
    async extractMemories(threadId: string): Promise<ExtractionResult> {
      const r = await invoke<ExtractionResult>('extract-memories', { thread_id: threadId })
      if (!Array.isArray(r.added) || !Array.isArray(r.updated)) {
        throw new MemoryError('unexpected_response', 'extract-memories did not return what it added and updated')
      }
      return r
    },

    /** The user's working memory (scope resource, default) or a thread's; null when there is none yet. */
    async getWorkingMemory(t: WorkingMemoryTarget = {}): Promise<WorkingMemory | null> {
      const rows = await call('get_working_memory', target(t))
      if (!Array.isArray(rows)) throw new MemoryError('unexpected_response', 'get_working_memory did not return a list')
      return (rows[0] as WorkingMemory | undefined) ?? null
    },

    /**
     * Writes working memory: JSON `data` (checked against `schema`, given now or stored — a document
     * failing it is MemoryError invalid_input naming the JSON path) or `markdown` (from `template`).
     * With expectedVersion a stale version is MemoryError conflict and nothing is written.
     */
    async updateWorkingMemory(update: WorkingMemoryUpdate): Promise<WorkingMemory> {
      if (update === null || typeof update !== 'object') throw new MemoryError('invalid_input', 'update must be an object')
      if (update.markdown !== undefined) rejectNul(update.markdown, 'markdown')
      if (update.template !== undefined) rejectNul(update.template, 'template')
      if (update.data !== undefined) rejectNulIn(update.data, 'data')
      return call('update_working_memory', {
        ...target(update),
        ...definedOnly({
          data: update.data as Json | undefined,
          // null removes the schema: the empty schema, which accepts every document, is stored as none.
          schema: (update.schema === null ? {} : update.schema) as Json | undefined,
          markdown: update.markdown,
          template: update.template,
          expected_version: update.expectedVersion,
        }),
      } as Args<'update_working_memory'>)
    },

    /** Remembers a fact, preference or event of the user (history: add). Empty content is invalid_input. */
    async rememberFact(content: string, opts: RememberFactOptions = {}): Promise<LongTermMemory> {
      if (typeof content !== 'string') throw new MemoryError('invalid_input', 'content must be a string')
      rejectNul(content, 'content')
      return call('remember_fact', definedOnly({
        content,
        kind: opts.kind,
        agent_id: opts.agentId,
        metadata: opts.metadata as Json | undefined,
        source_thread_id: opts.sourceThreadId,
        source_message_ids: opts.sourceMessageIds,
        valid_from: isoOrUndefined(opts.validFrom),
        owner_id: opts.ownerId,
      }) as Args<'remember_fact'>)
    },

    /**
     * Replaces a memory with a new version (returned); the old one is kept with invalid_at (history:
     * update). MemoryError not_found for an unknown or another user's memory, conflict for one that is no
     * longer valid.
     */
    async updateMemory(memoryId: string, content: string, opts: UpdateMemoryOptions = {}): Promise<LongTermMemory> {
      rejectNul(content, 'content')
      return call('update_memory', definedOnly({
        memory_id: memoryId,
        content,
        kind: opts.kind,
        metadata: opts.metadata as Json | undefined,
        source_message_ids: opts.sourceMessageIds,
      }) as Args<'update_memory'>)
    },

    /** Forgets a memory softly (invalid_at = now, history: forget). MemoryError not_found when not the caller's. */
    async forgetMemory(memoryId: string, opts: { reason?: string } = {}): Promise<LongTermMemory> {
      if (opts.reason !== undefined) rejectNul(opts.reason, 'reason')
      return call('forget_memory', definedOnly({ memory_id: memoryId, reason: opts.reason }) as Args<'forget_memory'>)
    },

    /** One page of the caller's memories, newest first (valid ones unless includeInvalid). */
    async listMemories(opts: ListMemoriesOptions = {}): Promise<MemoryPage> {
      const page = await call('list_memories', definedOnly({
        agent_id: opts.agentId,
        kinds: opts.kinds,
        include_invalid: opts.includeInvalid,
        limit: opts.limit,
        cursor: opts.cursor ?? undefined,
        owner_id: opts.ownerId,
      }) as Args<'list_memories'>)
      return {
        memories: (page.memories ?? []) as LongTermMemory[],
        nextCursor: page.next_cursor ?? null,
        hasMore: page.has_more === true,
      }
    },

    /** Every change of a memory's versions (or, without an id, the caller's latest changes), oldest first. */
    async getMemoryHistory(memoryId?: string, opts: { limit?: number } = {}): Promise<MemoryHistoryEntry[]> {
      const rows = await call('list_memory_history', definedOnly({ memory_id: memoryId, limit: opts.limit }) as Args<'list_memory_history'>)
      if (!Array.isArray(rows)) throw new MemoryError('unexpected_response', 'list_memory_history did not return a list')
      return rows as MemoryHistoryEntry[]
    },

    searchMemories,
  }
}

// Small argument helpers (as in ./memory.ts, kept here so this module stands alone).

function definedOnly<T extends Record<string, unknown>>(obj: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as never
}

function isoOrUndefined(value: Date | string | undefined | null): string | undefined {
  if (value === undefined || value === null) return undefined
  return value instanceof Date ? value.toISOString() : value
}

// Postgres text cannot hold NUL, and the server can only say so without naming the field.
function rejectNul(value: string | null | undefined, field: string): void {
  if (typeof value === 'string' && value.includes('\u0000')) {
    throw new MemoryError('invalid_input', `${field} contains a NUL character (\\u0000), which Postgres text cannot store`)
  }
}

function rejectNulIn(value: unknown, field: string): void {
  if (typeof value === 'string') rejectNul(value, field)
  else if (Array.isArray(value)) value.forEach((v, i) => rejectNulIn(v, `${field}[${i}]`))
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      rejectNul(k, field)
      rejectNulIn(v, `${field}.${k}`)
    }
  }
}
