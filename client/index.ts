// Agent Memory SDK: `createMemory({ supabase })` over a supabase-js client, typed from the generated
// database types. Errors are thrown as MemoryError with a stable `code`.
export { type Memory, type MemoryOptions } from './memory.ts'
export { createMemory, type MirroredMemoryOptions } from './create.ts'
export { defaultReadFallback, defaultWriteFallback, type MirrorConfig, type MirroredMemory, type Served, type Source } from './mirror.ts'
export type { OutboxEntry, ReplayFailure, ReplayReport } from './outbox.ts'
export { MemoryError, type MemoryErrorCode } from './errors.ts'
export { countTokens, encodingFor, DEFAULT_ENCODING, type CountTokensOptions, type Encoding } from './tokens.ts'
export type {
  Agent,
  AgentConfig,
  AgentState,
  AgentStateOptions,
  BuildContextOptions,
  Database,
  Direction,
  IterateMessagesOptions,
  Json,
  ListThreadsOptions,
  LoadMessagesOptions,
  MemoryContext,
  Message,
  MessagePage,
  MessageRole,
  Model,
  NewMessage,
  NewThread,
  SaveAgentStateOptions,
  Thread,
  ThreadPage,
  ThreadPatch,
  Tool,
} from './types.ts'
