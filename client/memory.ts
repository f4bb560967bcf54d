// createMemory({ supabase }): the memory API over a supabase-js client — threads, messages (with keyset
// pagination and an async iterator over all pages), agent state with optimistic concurrency, settings,
// agent configuration, token counting, build_context with recall, and retrieval: semanticSearchMemory and
// searchDocuments (the `search` Edge Function: embedding, HyDE, expansion, rerank), hybridSearch (the
// hybrid_search RPC) and ingestDocument (the `ingest` Edge Function); summaries, working memory and
// long-term memories come from ./long-term.ts. Every call is one RPC or function call under the client's
// session, so row level security decides what it may see; failures are thrown as MemoryError.
import type { SupabaseClient } from '@supabase/supabase-js'
import { fromFunctionsError, fromPostgrestError, MemoryError } from './errors.ts'
import { longTermMemory } from './long-term.ts'
import { createScheduledTasks } from './scheduled-tasks.ts'
import {
  checkEncoding,
  checkText,
  countWithEncoding,
  DEFAULT_ENCODING,
  tiktokenEncoding,
  unknownModel,
  type CountTokensOptions,
  type Encoding,
} from './tokens.ts'
import { createWorkflows } from './workflows.ts'
import type {
  AgentConfig,
  AgentState,
  AgentStateOptions,
  BuildContextOptions,
  ContextMemory,
  Database,
  Document,
  ExpandOption,
  Functions,
  HybridSearchOptions,
  IngestDocumentOptions,
  IngestResult,
  IterateMessagesOptions,
  Json,
  ListThreadsOptions,
  LoadMessagesOptions,
  MemoryContext,
  MemoryHit,
  Message,
  MessagePage,
  NewMessage,
  NewThread,
  RecallInfo,
  RecalledItem,
  RerankOption,
  SaveAgentStateOptions,
  SearchDocumentsOptions,
  SearchHit,
  SearchResult,
  SemanticSearchOptions,
  Thread,
  ThreadPage,
  ThreadPatch,
  WorkingMemoryBlock,
} from './types.ts'

export interface MemoryOptions {
  /** A supabase-js client (its session decides whose memory this is). */
  supabase: SupabaseClient<any, any, any>
  /**
   * Count tokens of saved messages with js-tiktoken in this process and store them as exact counts
   * (token_count_exact = true). Off by default: the database stores an estimate.
   */
  exactTokenCounts?: boolean
  /** Default model or encoding for countTokens and exactTokenCounts (default encoding o200k_base). */
  model?: string
  encoding?: Encoding
}

type Composite = Database['public']['CompositeTypes']
type Args<F extends keyof Functions> = Functions[F]['Args']
type Returns<F extends keyof Functions> = Functions[F]['Returns']

export type Memory = ReturnType<typeof createMemory>

export function createMemory(options: MemoryOptions) {
  if (!options?.supabase || typeof options.supabase.rpc !== 'function') {
    throw new MemoryError('invalid_input', 'createMemory needs { supabase }: a client from @supabase/supabase-js createClient()')
  }
  const supabase = options.supabase as SupabaseClient<Database>
  const tokenDefaults: CountTokensOptions = { model: options.model, encoding: options.encoding }

  async function call<F extends keyof Functions>(fn: F, args: Args<F>): Promise<Returns<F>> {
    let result: { data: unknown; error: Parameters<typeof fromPostgrestError>[0] | null; status: number }
    try {
      result = await supabase.rpc(fn, args as never)
    } catch (err) {
      throw new MemoryError('network', `${fn}: the request failed (${(err as Error).message})`, { cause: err, status: 0 })
    }
    if (result.error) throw fromPostgrestError(result.error, result.status, fn, args as Record<string, unknown>)
    return result.data as Returns<F>
  }

  /** POSTs `body` to the Edge Function `fn` with the client's session; its JSON answer or a MemoryError. */
  async function invoke<T>(fn: string, body: Record<string, unknown>): Promise<T> {
    let result: { data: unknown; error: unknown }
    try {
      result = await supabase.functions.invoke(fn, { body })
    } catch (err) {
      throw new MemoryError('network', `${fn}: the request failed (${(err as Error).message})`, { cause: err, status: 0 })
    }
    if (result.error) throw await fromFunctionsError(result.error, fn)
    if (result.data === null || typeof result.data !== 'object') {
      throw new MemoryError('unexpected_response', `${fn} did not answer with a JSON object`)
    }
    return result.data as T
  }

  async function searchFunction<H>(body: Record<string, unknown>): Promise<SearchResult<H>> {
    const r = await invoke<SearchResult<H>>('search', body)
    if (!Array.isArray(r.results) || typeof r.steps !== 'object') {
      throw new MemoryError('unexpected_response', 'search did not return results and steps')
    }
    return r
  }

  // The project's models and their tokenizers (public.models), read once and again when a model is missing.
  let projectModels: Promise<Map<string, string> | { error: string }> | null = null
  const loadProjectModels = () =>
    (projectModels ??= (async () => {
      const { data, error } = await supabase.from('models').select('id, tokenizer')
      if (error || !data) {
        projectModels = null
        return { error: error?.message ?? 'no rows' }
      }
      return new Map(data.map((m) => [m.id, m.tokenizer]))
    })())

  /** The encoding for these options: explicit encoding, js-tiktoken's model table, then public.models. */
  async function encodingOf(opts: CountTokensOptions): Promise<Encoding> {
    const o = opts.model !== undefined || opts.encoding !== undefined ? opts : tokenDefaults
    if (o.encoding !== undefined) return checkEncoding(o.encoding)
    if (o.model === undefined) return DEFAULT_ENCODING
    if (typeof o.model !== 'string') throw new MemoryError('invalid_input', `model must be a model name, got ${typeof o.model}`)
    const known = tiktokenEncoding(o.model)
    if (known) return known
    let models = await loadProjectModels()
    if (models instanceof Map && !models.has(o.model)) {
      projectModels = null
      models = await loadProjectModels()
    }
    if (!(models instanceof Map)) throw unknownModel(o.model, null, `(this project's models table could not be read: ${models.error}) `)
    const tokenizer = models.get(o.model)
    if (!tokenizer) throw unknownModel(o.model, [...models.keys()])
    return checkEncoding(tokenizer)
  }

  const countTokens = async (text: string, opts: CountTokensOptions = {}) => countWithEncoding(checkText(text), await encodingOf(opts ?? {}))

  async function toArgsMessage(m: NewMessage, field: string) {
    if (m === null || typeof m !== 'object') throw new MemoryError('invalid_input', `${field} must be a message object`)
    if (typeof m.content !== 'string') throw new MemoryError('invalid_input', `${field}.content must be a string`)
    rejectNul(m.content, `${field}.content`)
    rejectNul(m.toolCallId, `${field}.toolCallId`)
    rejectNul(m.toolName, `${field}.toolName`)
    if (m.metadata !== undefined) rejectNulIn(m.metadata, `${field}.metadata`)
    const tokenCount = m.tokenCount ?? (options.exactTokenCounts ? await countTokens(m.content) : undefined)
    return {
      ...(m.id !== undefined ? { id: m.id } : {}),
      role: m.role,
      content: m.content,
      tool_call_id: m.toolCallId ?? null,
      tool_name: m.toolName ?? null,
      metadata: (m.metadata ?? {}) as Json,
      token_count: tokenCount ?? null,
    }
  }

  async function loadMessages(threadId: string, opts: LoadMessagesOptions = {}): Promise<MessagePage> {
    const page = await call('load_messages', {
      thread_id: requireText(threadId, 'threadId', THREAD_ID),
      limit: opts.limit,
      cursor: opts.cursor ?? undefined,
      direction: opts.direction,
    })
    return {
      messages: messagesOf(page.messages, 'load_messages'),
      nextCursor: page.next_cursor ?? null,
      hasMore: page.has_more === true,
    }
  }

  /**
   * Searches the caller's conversations through the `search` function: scope 'thread' (threadId),
   * 'agent' (agentId, or threadId's agent) or 'all'; each hit with its neighbouring messages. The
   * optional steps (rerank, hyde, expand) say in `steps` whether they ran.
   */
  async function semanticSearchMemory(query: string, opts: SemanticSearchOptions = {}): Promise<SearchResult<MemoryHit>> {
    const scope = opts.scope ?? (opts.threadId ? 'thread' : opts.agentId ? 'agent' : 'all')
    return searchFunction<MemoryHit>(definedOnly({
      query,
      scope,
      mode: opts.mode,
      k: opts.k,
      before: opts.before,
      after: opts.after,
      filters: definedOnly({
        thread_id: opts.threadId,
        agent_id: opts.agentId,
        roles: opts.roles,
        metadata: opts.filter,
        created_after: isoOrUndefined(opts.createdAfter),
        created_before: isoOrUndefined(opts.createdBefore),
      }),
      ...stepOptions(opts.rerank, opts.hyde, opts.expand),
    }))
  }

  return {
    supabase,
    // Workflows (client/workflows.ts) and scheduled tasks (client/scheduled-tasks.ts, service_role only).
    ...createWorkflows({ supabase }),
    ...createScheduledTasks({ supabase }),

    ...longTermMemory({ call, invoke, search: searchFunction, semanticSearch: semanticSearchMemory }),

    /** Creates a thread owned by the signed-in user (service_role: by `ownerId`). */
    async createMemoryThread(thread: NewThread = {}): Promise<Thread> {
      return call('create_thread', {
        agent_id: thread.agentId,
        name: thread.name,
        metadata: thread.metadata as Json | undefined,
        expires_at: isoOrUndefined(thread.expiresAt),
        owner_id: thread.ownerId,
        id: thread.id,
      })
    },

    /** The thread; MemoryError not_found when it is unknown or not the caller's. */
    async getMemoryThread(threadId: string): Promise<Thread> {
      return call('get_thread', { thread_id: requireText(threadId, 'threadId', THREAD_ID) })
    },

    /** One page of the caller's threads, newest first. */
    async listMemoryThreads(opts: ListThreadsOptions = {}): Promise<ThreadPage> {
      const page = await call('list_threads', {
        agent_id: opts.agentId,
        metadata: opts.metadata as Json | undefined,
        limit: opts.limit,
        cursor: opts.cursor ?? undefined,
      })
      return { threads: (page.threads ?? []) as Thread[], nextCursor: page.next_cursor ?? null, hasMore: page.has_more === true }
    },

    /** Changes the named fields (null clears one); metadata is replaced as a whole. */
    async updateMemoryThread(threadId: string, patch: ThreadPatch): Promise<Thread> {
      const body: Record<string, Json> = {}
      if (patch.name !== undefined) body.name = patch.name
      if (patch.agentId !== undefined) body.agent_id = patch.agentId
      if (patch.metadata !== undefined) body.metadata = patch.metadata as Json
      if (patch.expiresAt !== undefined) body.expires_at = patch.expiresAt === null ? null : isoOrUndefined(patch.expiresAt)!
      if (patch.summary !== undefined) body.summary = patch.summary
      if (patch.summaryThrough !== undefined) body.summary_through = patch.summaryThrough
      return call('update_thread', { thread_id: requireText(threadId, 'threadId', THREAD_ID), patch: body })
    },

    /** Deletes the thread with its messages and agent states; returns the deleted thread. */
    async deleteMemoryThread(threadId: string): Promise<Thread> {
      return call('delete_thread', { thread_id: requireText(threadId, 'threadId', THREAD_ID) })
    },

    /** Appends a message; returns it with its created_at and cursor. */
    async saveMessage(threadId: string, message: NewMessage): Promise<Message> {
      requireText(threadId, 'threadId', THREAD_ID)
      const m = await toArgsMessage(message, 'message')
      const saved = await call('save_message', {
        thread_id: threadId,
        role: m.role,
        content: m.content,
        tool_call_id: m.tool_call_id ?? undefined,
        tool_name: m.tool_name ?? undefined,
        metadata: m.metadata,
        token_count: m.token_count ?? undefined,
        id: m.id,
      })
      return messageOf(saved, 'save_message')
    },

    /** Appends up to 1000 messages in order, all or nothing. */
    async saveMessages(threadId: string, messages: NewMessage[]): Promise<Message[]> {
      requireText(threadId, 'threadId', THREAD_ID)
      if (!Array.isArray(messages)) throw new MemoryError('invalid_input', 'messages must be an array')
      const rows = await Promise.all(messages.map((m, i) => toArgsMessage(m, `messages[${i}]`)))
      const saved = await call('save_messages', { thread_id: threadId, messages: rows as Json })
      return messagesOf(saved, 'save_messages')
    },

    loadMessages,

    /**
     * Every page of a thread's messages: from the newest back in time (direction 'older', the default) or
     * from the oldest forward ('newer'). Each message that existed when the walk started comes exactly
     * once, whatever is written meanwhile.
     */
    async *iterateMessages(threadId: string, opts: IterateMessagesOptions = {}): AsyncGenerator<MessagePage, void, undefined> {
      let cursor = opts.cursor ?? null
      for (;;) {
        const page = await loadMessages(threadId, { limit: opts.pageSize ?? 100, cursor, direction: opts.direction })
        if (page.messages.length) yield page
        if (!page.hasMore) return
        cursor = page.nextCursor
      }
    },

    /** The agent's state in the thread, or null when it has none yet. */
    async loadAgentState(threadId: string, opts: AgentStateOptions = {}): Promise<AgentState | null> {
      const rows = await call('load_agent_state', { thread_id: requireText(threadId, 'threadId', THREAD_ID), agent_id: opts.agentId ?? undefined })
      if (!Array.isArray(rows)) throw new MemoryError('unexpected_response', 'load_agent_state did not return a list')
      return rows[0] ?? null
    },

    /**
     * Stores the agent's state. With expectedVersion, a stale version fails with MemoryError conflict
     * (nothing is written): load again, reapply, save with the new version.
     */
    async saveAgentState(threadId: string, state: { [key: string]: Json | undefined }, opts: SaveAgentStateOptions = {}): Promise<AgentState> {
      requireText(threadId, 'threadId', THREAD_ID)
      if (state === null || typeof state !== 'object' || Array.isArray(state)) {
        throw new MemoryError('invalid_input', `state must be a JSON object, got ${describeValue(state)}`)
      }
      return call('save_agent_state', {
        thread_id: threadId,
        agent_id: (opts.agentId ?? null) as string,
        state: state as Json,
        expected_version: opts.expectedVersion,
      })
    },

    /** A setting's value, or `fallback` when it is not set. */
    async getSetting<T extends Json = Json>(category: string, key: string, fallback: T | null = null): Promise<T | null> {
      requireText(category, 'category', 'a settings category such as "memory"')
      requireText(key, 'key', 'a setting key')
      return (await call('get_setting', { category, key, default: fallback ?? undefined })) as T | null
    },

    /** An agent with its model (prices included) and its tools in order. */
    async getAgentConfig(agentId: string): Promise<AgentConfig> {
      const c = await call('get_agent_config', { agent: requireText(agentId, 'agentId', 'an agent id such as "assistant"') })
      if (!c?.agent || !c.model) throw new MemoryError('unexpected_response', 'get_agent_config returned no agent')
      return { agent: c.agent, model: c.model, tools: c.tools ?? [] }
    },

    /**
     * Tokens of `text` with js-tiktoken: the given encoding, else the model's (js-tiktoken's table, then the
     * tokenizer public.models names), else the memory's default. Unknown model or non-string text →
     * MemoryError invalid_input.
     */
    countTokens,

    /**
     * System messages, summary, recalled older messages (with query, queryEmbedding or recall) and the
     * newest messages within the budget, in one call.
     */
    async buildContext(threadId: string, opts: BuildContextOptions = {}): Promise<MemoryContext> {
      const options: Record<string, Json> = {}
      if (opts.includeToolMessages !== undefined) options.include_tool_messages = opts.includeToolMessages
      if (opts.includeSummary !== undefined) options.include_summary = opts.includeSummary
      if (opts.tokensPerMessage !== undefined) options.tokens_per_message = opts.tokensPerMessage
      if (opts.maxMessages !== undefined) options.max_messages = opts.maxMessages
      if (opts.query !== undefined) {
        rejectNul(opts.query, 'query')
        options.query = opts.query
      }
      if (opts.queryEmbedding !== undefined) options.query_embedding = checkVector(opts.queryEmbedding, 'queryEmbedding')
      if (opts.recall !== undefined) {
        if (typeof opts.recall === 'boolean') options.recall = opts.recall
        else if (opts.recall !== null && typeof opts.recall === 'object') {
          const r = opts.recall
          options.recall = definedOnly({
            mode: r.mode,
            k: r.k,
            scope: r.scope,
            before: r.before,
            after: r.after,
            max_tokens: r.maxTokens,
          })
        } else throw new MemoryError('invalid_input', 'recall must be true, false or an object of recall options')
      }
      if (opts.includeWorkingMemory !== undefined) options.include_working_memory = opts.includeWorkingMemory
      if (opts.memories !== undefined) {
        if (typeof opts.memories === 'boolean') options.memories = opts.memories
        else if (opts.memories !== null && typeof opts.memories === 'object') {
          options.memories = definedOnly({ k: opts.memories.k, max_tokens: opts.memories.maxTokens, kinds: opts.memories.kinds })
        } else throw new MemoryError('invalid_input', 'memories must be true, false or an object of memories options')
      }
      const c = await call('build_context', { thread_id: requireText(threadId, 'threadId', THREAD_ID), token_budget: opts.tokenBudget, options })
      if (!c || typeof c.token_count !== 'number') throw new MemoryError('unexpected_response', 'build_context returned no context')
      return {
        threadId: c.thread_id!,
        tokenBudget: c.token_budget!,
        tokenCount: c.token_count,
        tokensPerMessage: c.tokens_per_message!,
        systemMessages: messagesOf(c.system_messages, 'build_context'),
        summary: c.summary ?? null,
        summaryThrough: c.summary_through ?? null,
        recalled: recalledOf(c.recalled),
        messages: messagesOf(c.messages, 'build_context'),
        truncated: c.truncated === true,
        recall: (c.recall ?? null) as RecallInfo | null,
        workingMemory: listOf<WorkingMemoryBlock>(c.working_memory, 'working_memory'),
        memories: listOf<ContextMemory>(c.memories, 'memories'),
      }
    },

    semanticSearchMemory,

    /** Searches the caller's document chunks through the `search` function (hybrid by default). */
    async searchDocuments(query: string, opts: SearchDocumentsOptions = {}): Promise<SearchResult<SearchHit>> {
      return searchFunction<SearchHit>(definedOnly({
        query,
        scope: 'documents',
        mode: opts.mode,
        k: opts.k,
        filters: definedOnly({
          metadata: opts.filter,
          document_ids: opts.documentIds,
          created_after: isoOrUndefined(opts.createdAfter),
          created_before: isoOrUndefined(opts.createdBefore),
        }),
        ...stepOptions(opts.rerank, opts.hyde, opts.expand),
      }))
    },

    /**
     * BM25 + vector search fused by weighted reciprocal rank fusion, in ONE call to the hybrid_search RPC
     * (no Edge Function): pass queryEmbedding (from the default embedding model) for the vector channel;
     * without it, BM25 alone.
     */
    async hybridSearch(query: string, opts: HybridSearchOptions = {}): Promise<SearchHit[]> {
      const rows = await call('hybrid_search', {
        query_text: query,
        query_embedding: opts.queryEmbedding === undefined ? undefined : vectorText(checkVector(opts.queryEmbedding, 'queryEmbedding')),
        match_count: opts.k,
        source: sourceArg(opts.source),
        filter: opts.filter as Json | undefined,
        thread_id: opts.threadId,
        agent_id: opts.agentId,
        roles: opts.roles,
        document_ids: opts.documentIds,
        created_after: isoOrUndefined(opts.createdAfter),
        created_before: isoOrUndefined(opts.createdBefore),
        bm25_weight: opts.weights?.bm25,
        vector_weight: opts.weights?.vector,
        rrf_k: opts.rrfK,
        candidates: opts.candidates,
        model: opts.model,
      })
      if (!Array.isArray(rows)) throw new MemoryError('unexpected_response', 'hybrid_search did not return a list')
      return rows as SearchHit[]
    },

    /**
     * Ingests Markdown or plain text through the `ingest` function, which chunks it (strategy markdown by
     * default) and stores it; re-ingesting unchanged content is a no-op.
     */
    async ingestDocument(content: string, opts: IngestDocumentOptions = {}): Promise<IngestResult> {
      if (typeof content !== 'string') throw new MemoryError('invalid_input', 'content must be a string of Markdown or text')
      rejectNul(content, 'content')
      const r = await invoke<{
        document?: Document
        replaced?: boolean
        chunk_count?: number
        chunks_kept?: number
        strategy?: string
        tokenizer?: string
      }>('ingest', definedOnly({
        content,
        title: opts.title,
        format: opts.format,
        strategy: opts.strategy,
        chunk_tokens: opts.chunkTokens,
        chunk_overlap: opts.chunkOverlap,
        parent_tokens: opts.parentTokens,
        source_uri: opts.sourceUri,
        metadata: opts.metadata,
        document_id: opts.documentId,
      }))
      if (!r.document || typeof r.document.id !== 'string' || typeof r.chunk_count !== 'number') {
        throw new MemoryError('unexpected_response', 'ingest did not return the document and its chunk count')
      }
      return {
        document: r.document,
        replaced: r.replaced === true,
        chunkCount: r.chunk_count,
        chunksKept: r.chunks_kept ?? 0,
        strategy: r.strategy ?? '',
        tokenizer: r.tokenizer ?? '',
      }
    },
  }
}

/** hybrid_search's `source` for the SDK's name of it. */
function sourceArg(source: HybridSearchOptions['source']): string | undefined {
  if (source === undefined) return undefined
  if (source === 'documents') return 'document_chunks'
  if (source === 'messages') return 'messages'
  throw new MemoryError('invalid_input', `source must be documents or messages (got ${JSON.stringify(source)})`)
}

/** The search function's rerank/hyde/expand fields from the SDK's options (snake_case, only those given). */
function stepOptions(rerank: RerankOption | undefined, hyde: boolean | undefined, expand: ExpandOption | undefined) {
  return definedOnly({
    rerank: rerank !== null && typeof rerank === 'object' ? definedOnly({ top_n: rerank.topN, model: rerank.model }) : rerank,
    hyde,
    expand: expand !== null && typeof expand === 'object' ? definedOnly({ n: expand.n }) : expand,
  })
}

/** `obj` without its undefined fields (so the server applies its defaults). */
function definedOnly<T extends Record<string, unknown>>(obj: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as never
}

function checkVector(v: unknown, field: string): number[] {
  if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== 'number' || !Number.isFinite(x))) {
    throw new MemoryError('invalid_input', `${field} must be a non-empty array of finite numbers`)
  }
  return v
}

/** pgvector's text form of a vector (what PostgREST turns into a `vector` argument). */
function vectorText(v: number[]): string {
  return `[${v.join(',')}]`
}

/** A JSON list build_context returned (null → empty). */
function listOf<T>(value: Json | null | undefined, field: string): T[] {
  if (value == null) return []
  if (!Array.isArray(value)) throw new MemoryError('unexpected_response', `build_context returned ${field} that is not a list`)
  return value as unknown as T[]
}

function recalledOf(value: Json | null | undefined): RecalledItem[] {
  if (value == null) return []
  if (!Array.isArray(value)) throw new MemoryError('unexpected_response', 'build_context returned recalled that is not a list')
  return (value as unknown as RecalledItem[]).map((item) => {
    if (!item || typeof item !== 'object' || !item.message) {
      throw new MemoryError('unexpected_response', 'build_context returned a recalled item without its message')
    }
    return {
      ...item,
      message: messageOf(item.message, 'build_context'),
      before: messagesOf(item.before, 'build_context'),
      after: messagesOf(item.after, 'build_context'),
    }
  })
}

/**
 * A required id or name, checked before the call: a missing one would otherwise reach PostgREST as a missing
 * argument (PGRST202), which cannot say which SDK parameter was left out.
 */
function requireText(value: unknown, name: string, what: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new MemoryError('invalid_input', `${name} must be ${what}, got ${value === '' ? 'an empty string' : describeValue(value)}`)
  }
  return value
}

function describeValue(value: unknown): string {
  if (value === undefined || value === null) return String(value)
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`
}

const THREAD_ID = 'a thread id (the uuid string createMemoryThread returned)'

// Postgres text cannot hold NUL, and the server can only say so without naming the field (PostgREST
// fails while converting the arguments), so the SDK checks first.
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

function isoOrUndefined(value: Date | string | undefined | null): string | undefined {
  if (value === undefined || value === null) return undefined
  return value instanceof Date ? value.toISOString() : value
}

function messageOf(m: Composite['memory_message'] | null | undefined, fn: string): Message {
  if (!m || typeof m.id !== 'string' || typeof m.cursor !== 'string') {
    throw new MemoryError('unexpected_response', `${fn} returned a message without id or cursor`)
  }
  return m as Message
}

function messagesOf(list: Composite['memory_message'][] | null | undefined, fn: string): Message[] {
  if (list == null) return []
  if (!Array.isArray(list)) throw new MemoryError('unexpected_response', `${fn} did not return a list of messages`)
  return list.map((m) => messageOf(m, fn))
}
