// The SDK's public types, all derived from the generated database types (types/supabase.ts): rows are the
// database's rows (snake_case, as supabase-js returns them); options and page wrappers are camelCase.
import type { Database, Json, Tables } from '../types/supabase.ts'

export type { Database, Json }

export type Functions = Database['public']['Functions']
export type MessageRole = Database['public']['Enums']['message_role']
type Composite = Database['public']['CompositeTypes']
/** A JSON object of metadata (what `filter` / `metadata` options take). */
export type Metadata = { [key: string]: Json | undefined }

/** A thread row. */
export type Thread = Tables<'memory_threads'>
/** A message as the API returns it: the row without its full-text vector, plus its keyset cursor. */
export type Message = Omit<Tables<'messages'>, 'fts'> & { cursor: string }
/** An agent's state in a thread; `version` grows by one per save. */
export type AgentState = Tables<'agent_states'>
export type Agent = Tables<'agents'>
export type Model = Tables<'models'>
export type Tool = Tables<'tools'>

export interface NewMessage {
  /** A client-generated id (UUID): saving the same message again returns it instead of adding a copy. */
  id?: string
  role: MessageRole
  content: string
  /** Required for role "tool": the call this result answers. On an assistant message: the call it makes. */
  toolCallId?: string | null
  toolName?: string | null
  metadata?: { [key: string]: Json | undefined }
  /** An exact token count from a real tokenizer; omit to let the database estimate it. */
  tokenCount?: number
}

export interface NewThread {
  /** A client-generated id (UUID): creating the same thread again returns it instead of adding a second one. */
  id?: string
  agentId?: string
  name?: string
  metadata?: { [key: string]: Json | undefined }
  /** Time to live: the thread is deleted after this time (by the prune job). */
  expiresAt?: Date | string
  /** service_role only: who owns the new thread. Users always own the threads they create. */
  ownerId?: string
}

export interface ThreadPatch {
  name?: string | null
  agentId?: string | null
  metadata?: { [key: string]: Json | undefined }
  expiresAt?: Date | string | null
  summary?: string | null
  /** Cursor of the last message the summary covers (a Message's `cursor`). */
  summaryThrough?: string | null
}

export interface ListThreadsOptions {
  agentId?: string
  /** Only threads whose metadata contains this object (jsonb @>). */
  metadata?: { [key: string]: Json | undefined }
  /** 1..1000, default 50. */
  limit?: number
  /** `nextCursor` of the previous page. */
  cursor?: string | null
}

export interface ThreadPage {
  threads: Thread[]
  nextCursor: string | null
  hasMore: boolean
}

/** 'older' walks from the newest message back in time; 'newer' walks from the oldest forward. */
export type Direction = 'older' | 'newer'

export interface LoadMessagesOptions {
  /** 1..1000, default 50. */
  limit?: number
  /** Start after (direction 'newer') or before (direction 'older') this message cursor. */
  cursor?: string | null
  direction?: Direction
}

export interface MessagePage {
  /** Always in chronological order. */
  messages: Message[]
  /** Where the next page in the same direction starts (also when the page is empty, for polling). */
  nextCursor: string | null
  hasMore: boolean
}

export interface IterateMessagesOptions {
  /** Messages per request, 1..1000, default 100. */
  pageSize?: number
  direction?: Direction
  cursor?: string | null
}

export interface AgentStateOptions {
  /** Defaults to the thread's agent_id, or "default". */
  agentId?: string | null
}

export interface SaveAgentStateOptions extends AgentStateOptions {
  /** 0: create (fails if it exists); n: only if the stored version is still n. Omit to write unconditionally. */
  expectedVersion?: number
}

export interface RecallOptions {
  /** Default hybrid. */
  mode?: SearchMode
  /** Hits to consider, 1..50 (default 5). */
  k?: number
  /** 'thread' (default): older messages of this thread; 'agent': also the owner's other threads of its agent. */
  scope?: 'thread' | 'agent'
  /** Neighbouring messages around each hit, 0..5 (default 1 each). */
  before?: number
  after?: number
  /** Tokens kept for recall; default: setting context.recall_budget_share (0.25) of the budget. */
  maxTokens?: number
}

/** Long-term memories build_context includes for the query (options.memories). */
export interface ContextMemoriesOptions {
  /** Memories to consider, 1..50 (default 5). */
  k?: number
  /** Tokens kept for them; default: setting memories.context_budget_share (0.1) of the budget. */
  maxTokens?: number
  kinds?: MemoryKind[]
}

export interface BuildContextOptions {
  /** Tokens the context may use; default: the agent's context_token_budget, else setting context.default_token_budget. */
  tokenBudget?: number
  includeToolMessages?: boolean
  includeSummary?: boolean
  /** Framing tokens per message; default: setting context.tokens_per_message (4). */
  tokensPerMessage?: number
  maxMessages?: number
  /** What to recall (turns recall on unless recall is false); default: the newest user message. */
  query?: string
  /** The query embedded with the default embedding model, for recall's vector channel. */
  queryEmbedding?: number[]
  /** true, false, or recall options; a query alone turns recall on. */
  recall?: boolean | RecallOptions
  /** The user's and the thread's working memory as blocks (default true). */
  includeWorkingMemory?: boolean
  /** Long-term memories for the query (options.query, else the newest user message): true or options. */
  memories?: boolean | ContextMemoriesOptions
}

/** A message build_context recalled, with its neighbours and why (the database's JSON, snake_case). */
export interface RecalledItem {
  message: Message
  before: Message[]
  after: Message[]
  rank: number
  score: number
  bm25_rank: number | null
  bm25_score: number | null
  vector_rank: number | null
  vector_score: number | null
  /** Query lexemes the message contains. */
  matched: string[]
  /** Tokens the item (hit and neighbours, with framing) costs. */
  token_count: number
  /** e.g. "keyword match #1 (refund); similar meaning #2 (cosine 0.612)". */
  reason: string
}

/** What recall did (build_context's `recall`, snake_case as the database returns it). */
export interface RecallInfo {
  query: string | null
  query_source: 'option' | 'newest_user_message' | null
  mode: SearchMode
  scope: 'thread' | 'agent'
  /** 'ran' or why the channel was skipped. */
  channels: { bm25: string; vector: string }
  token_limit: number
  token_count: number
  considered: number
  included: number
}

export interface MemoryContext {
  threadId: string
  tokenBudget: number
  /** Tokens used (content + framing), never more than tokenBudget. */
  tokenCount: number
  tokensPerMessage: number
  systemMessages: Message[]
  summary: string | null
  summaryThrough: string | null
  /** Recalled older messages (with neighbours and why), best first; empty when recall is off. */
  recalled: RecalledItem[]
  /** The newest messages that fit, chronological. */
  messages: Message[]
  /** True when older messages or the summary were left out for lack of budget. */
  truncated: boolean
  /** What recall searched for and found; null when recall is off. */
  recall: RecallInfo | null
  /** The working memory blocks included: the user's (scope resource), then the thread's. */
  workingMemory: WorkingMemoryBlock[]
  /** Long-term memories included for the query, best first (empty unless asked for). */
  memories: ContextMemory[]
}

/** A working memory block of build_context (the database's JSON, snake_case). */
export interface WorkingMemoryBlock {
  id: string
  scope: WorkingMemoryScope
  thread_id: string | null
  format: 'json' | 'markdown'
  /** As the prompt shows it: compact JSON, or the Markdown (its template until first written). */
  content: string
  version: number
  updated_at: string
  /** Tokens it costs in the context (framing included). */
  token_count: number
}

/** A long-term memory build_context included (the database's JSON, snake_case). */
export interface ContextMemory {
  id: string
  kind: MemoryKind
  content: string
  agent_id: string | null
  valid_from: string
  rank: number
  score: number
  bm25_rank: number | null
  vector_rank: number | null
  vector_score: number | null
  matched: string[]
  token_count: number
}

export interface AgentConfig {
  agent: Agent
  model: Model
  tools: Tool[]
}

// ── Retrieval ─────────────────────────────────────────────────────────────────────────────────────────

export type SearchMode = 'hybrid' | 'bm25' | 'vector'
export type MemoryScope = 'thread' | 'agent' | 'all'
export type SearchScope = 'documents' | MemoryScope

export type Document = Tables<'documents'>

/** A search result over document chunks (hybrid_search / bm25_search / the search function). */
export type SearchHit = Composite['search_hit'] & {
  id: string
  rank: number
  score: number
  /** The reranker's relevance score, when the search function reranked (null: kept after the reranked ones). */
  rerank_score?: number | null
}

/** A message found by the search function (search_memories), with its neighbouring messages. */
export type MemoryHit = Omit<Composite['memory_hit'], 'before' | 'after'> & {
  id: string
  thread_id: string
  rank: number
  score: number
  cursor: string
  before: Message[]
  after: Message[]
  rerank_score?: number | null
}

/** A step of the search function: done, skipped (not asked for / not configured) or failed, and why. */
export interface SearchStep {
  status: 'ok' | 'skipped' | 'failed'
  reason?: string
  model?: string
  ms: number
}

export interface SearchSteps {
  embed: SearchStep
  /** With the hypothetical passage that was embedded. */
  hyde: SearchStep & { passage?: string }
  /** With the alternative queries that were searched. */
  expand: SearchStep & { queries?: string[] }
  rerank: SearchStep
}

export interface SearchResult<H> {
  query: string
  mode: SearchMode
  scope: SearchScope
  results: H[]
  /** True when the results are in the reranker's order. */
  reranked: boolean
  steps: SearchSteps
}

/** Rerank the candidates (needs a reranker in settings category search); topN: candidates to rerank. */
export type RerankOption = boolean | { topN?: number; model?: string }
/** Search n (1..5, default 3) alternative phrasings too (needs search.chat_model). */
export type ExpandOption = boolean | { n?: number }

interface SearchFunctionOptions {
  mode?: SearchMode
  /** Results, 1..1000 (default 10). */
  k?: number
  /** Only rows whose metadata contains this (for chunks: the document's metadata merged with the chunk's). */
  filter?: Metadata
  createdAfter?: Date | string
  createdBefore?: Date | string
  rerank?: RerankOption
  /** HyDE: embed a hypothetical answer instead of the query (needs search.chat_model). */
  hyde?: boolean
  expand?: ExpandOption
}

export interface SemanticSearchOptions extends SearchFunctionOptions {
  threadId?: string
  agentId?: string
  /** Default: 'thread' with threadId, else 'agent' with agentId, else 'all'. */
  scope?: MemoryScope
  roles?: MessageRole[]
  /** Neighbouring messages per hit, 0..20 (default 1 each). */
  before?: number
  after?: number
}

export interface SearchDocumentsOptions extends SearchFunctionOptions {
  documentIds?: string[]
}

export interface HybridSearchOptions {
  /** Default 'documents' (document chunks). */
  source?: 'documents' | 'messages'
  /** The query embedded with the default model (or `model`); without it, BM25 alone. */
  queryEmbedding?: number[]
  /** Results, 1..1000 (default 10). */
  k?: number
  /** Fusion weights (default 1 each). */
  weights?: { bm25?: number; vector?: number }
  /** Reciprocal rank fusion constant (default setting retrieval.rrf_k, 60). */
  rrfK?: number
  /** Candidates per channel (default setting retrieval.hybrid_candidates, 100). */
  candidates?: number
  filter?: Metadata
  /** Messages only. */
  threadId?: string
  agentId?: string
  roles?: MessageRole[]
  /** Document chunks only. */
  documentIds?: string[]
  createdAfter?: Date | string
  createdBefore?: Date | string
  /** Embedding model searched (default: the default model). */
  model?: string
}

export type ChunkingStrategy = 'markdown' | 'paragraph' | 'token' | 'semantic'

export interface IngestDocumentOptions {
  title?: string
  format?: 'markdown' | 'text'
  strategy?: ChunkingStrategy
  chunkTokens?: number
  chunkOverlap?: number
  parentTokens?: number
  sourceUri?: string
  metadata?: Metadata
  /** Re-ingest into this document (replaces its chunks unless the content is unchanged). */
  documentId?: string
}

export interface IngestResult {
  document: Document
  /** false: the content was unchanged and nothing but title/metadata was updated. */
  replaced: boolean
  chunkCount: number
  chunksKept: number
  strategy: string
  tokenizer: string
}

// ── Summaries, working memory and long-term memories ───────────────────────────────────────────────

/** The result of generateThreadSummary (the summarize function's answer, snake_case). */
export interface ThreadSummary {
  thread_id: string
  summary: string | null
  /** Cursor of the newest message the summary covers. */
  summary_through: string | null
  /** Exact tokens of the summary (the thread model's tokenizer). */
  summary_token_count: number | null
  /** True while an edited or deleted summarized message waits for the rebuild. */
  stale: boolean
  /** Tokens of the messages after summary_through. */
  unsummarized_tokens: number
  /** Summary steps this call ran (0: nothing new to summarize). */
  steps: number
  messages_summarized: number
  provider: 'chat' | 'extractive'
  model: string | null
}

export interface GenerateThreadSummaryOptions {
  /** Tokens of the newest messages left verbatim (default setting summaries.keep_recent_tokens; 0: all). */
  keepRecentTokens?: number
}

/** The result of extractMemories. */
export interface ExtractionResult {
  added: string[]
  updated: { from: string; to: string }[]
  unchanged: number
  messages: number
  candidates: number
  runs: number
}

export type WorkingMemoryScope = 'resource' | 'thread'
/** A working memory document: JSON (data, optional schema) or Markdown (markdown, optional template). */
export type WorkingMemory = Tables<'working_memory'>

export interface WorkingMemoryTarget {
  /** 'resource' (default): the user's document, shared by all their threads; 'thread': one thread's. */
  scope?: WorkingMemoryScope
  /** Required for scope 'thread'. */
  threadId?: string
  /** service_role only (scope resource): whose document. */
  ownerId?: string
}

export interface WorkingMemoryUpdate extends WorkingMemoryTarget {
  /** The JSON document (checked against the schema). */
  data?: Json
  /** A JSON Schema of the supported subset every `data` must satisfy; null removes it. */
  schema?: { [key: string]: Json | undefined } | null
  /** The Markdown document. */
  markdown?: string
  /** The Markdown template shown until the document is first written. */
  template?: string
  /** 0: create (fails if it exists); n: only if the stored version is still n (else MemoryError conflict). */
  expectedVersion?: number
}

export type MemoryKind = Database['public']['Enums']['memory_kind']
/** A long-term memory; valid while invalid_at is null. */
export type LongTermMemory = Tables<'memories'>
/** One change of a long-term memory: add, update, forget or metadata. */
export type MemoryHistoryEntry = Tables<'memory_history'>

export interface RememberFactOptions {
  /** Default 'fact'. */
  kind?: MemoryKind
  /** The agent it belongs to; default: shared by all of the user's agents. */
  agentId?: string
  metadata?: Metadata
  sourceThreadId?: string
  sourceMessageIds?: string[]
  /** Since when it holds (default now). */
  validFrom?: Date | string
  /** service_role only: whose memory. */
  ownerId?: string
}

export interface UpdateMemoryOptions {
  kind?: MemoryKind
  metadata?: Metadata
  sourceMessageIds?: string[]
}

export interface ListMemoriesOptions {
  agentId?: string
  kinds?: MemoryKind[]
  /** Also superseded and forgotten memories. */
  includeInvalid?: boolean
  /** 1..1000, default 50. */
  limit?: number
  cursor?: string | null
  /** service_role only. */
  ownerId?: string
}

export interface MemoryPage {
  /** Newest first. */
  memories: LongTermMemory[]
  nextCursor: string | null
  hasMore: boolean
}

/** A long-term memory found by the search function (scope memories). */
export type LongTermMemoryHit = SearchHit & { kind: MemoryKind; valid_from: string }

export interface SearchLongTermOptions extends SearchFunctionOptions {
  scope?: 'memories'
  /** That agent's memories and those shared by all agents. */
  agentId?: string
  kinds?: MemoryKind[]
  includeInvalid?: boolean
  /** The memories that held at this time (superseded ones included). */
  validAt?: Date | string
}
