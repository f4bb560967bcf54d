// The SDK's public types, all derived from the generated database types (types/supabase.ts): rows are the
// database's rows (snake_case, as supabase-js returns them); options and page wrappers are camelCase.
import type { Database, Json, Tables } from '../types/supabase.ts'

export type { Database, Json }

export type Functions = Database['public']['Functions']
export type MessageRole = Database['public']['Enums']['message_role']

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

export interface BuildContextOptions {
  /** Tokens the context may use; default: the agent's context_token_budget, else setting context.default_token_budget. */
  tokenBudget?: number
  includeToolMessages?: boolean
  includeSummary?: boolean
  /** Framing tokens per message; default: setting context.tokens_per_message (4). */
  tokensPerMessage?: number
  maxMessages?: number
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
  /** Recalled memories (filled by the retrieval layer; empty until then). */
  recalled: Json[]
  /** The newest messages that fit, chronological. */
  messages: Message[]
  /** True when older messages or the summary were left out for lack of budget. */
  truncated: boolean
}

export interface AgentConfig {
  agent: Agent
  model: Model
  tools: Tool[]
}
