// The extract-memories worker's view of the database: util.extraction_input, util.match_memory_candidates
// and util.complete_extraction_job (20261205000900_memory_extraction.sql), the default embedding model,
// and the queue calls shared with the summary worker — as postgres over SUPABASE_DB_URL.
import type { EmbeddingModelConfig } from '../_shared/embeddings.ts'
import type { Match, MemoryKind } from '../_shared/memory-extraction.ts'
import {
  type ChatSettings,
  failJobs,
  type JobFailure,
  type JobSettings,
  loadModel,
  type MemoryJob,
  type ModelRow,
  readJobs,
  type Sql,
} from '../_shared/memory-jobs.ts'

/** memories.* (util.long_term_settings()). */
export interface MemorySettings extends ChatSettings {
  extraction_enabled: boolean
  extract_every_messages: number
  max_input_tokens: number
  extraction_prompt: string
  decision_prompt: string
  max_candidates: number
  match_count: number
  max_output_tokens: number
  context_budget_share: number
}

/** util.extraction_input(). */
export interface ExtractionInput {
  thread_id: string
  owner_id: string
  agent_id: string | null
  expected_through: string | null
  messages: { n: number; id: string; role: string; content: string; token_count: number; created_at: string; cursor: string }[]
  input_tokens: number
  more: boolean
}

export interface Operation {
  action: 'add' | 'update' | 'none'
  kind: MemoryKind
  content: string
  /** Message ids. */
  sources: string[]
  memory_id: string | null
  details: Record<string, unknown>
}

export interface CompleteResult {
  outcome: 'stored' | 'conflict' | 'gone'
  added: string[]
  updated: { from: string; to: string }[]
  unchanged: number
}

export interface EmbeddingModelRow extends EmbeddingModelConfig {
  max_input_tokens: number
  tokenizer: string
}

export interface ExtractionStore {
  settings(): Promise<{ jobs: JobSettings; memories: MemorySettings; model: ModelRow | null; embedding: EmbeddingModelRow | null }>
  read(batchSize: number, visibilityTimeoutSeconds: number): Promise<MemoryJob[]>
  input(threadId: string): Promise<ExtractionInput | null>
  match(ownerId: string, agentId: string | null, candidates: { content: string; embedding: number[] | null }[], matchCount: number): Promise<Match[][]>
  complete(
    threadId: string,
    result: { expected_through: string | null; extracted_through: string | null; message_count: number; more: boolean; operations: Operation[] },
    msgId: number | null,
  ): Promise<CompleteResult>
  fail(failures: JobFailure[]): ReturnType<typeof failJobs>
}

export function postgresExtractionStore(sql: Sql): ExtractionStore {
  return {
    async settings() {
      const [row] = await sql`
        select util.long_term_settings() as s,
               (select to_jsonb(m) from public.embedding_models m where m.is_default) as embedding`
      const s = row.s as { memory_jobs: JobSettings; memories: MemorySettings }
      return {
        jobs: s.memory_jobs,
        memories: s.memories,
        model: await loadModel(sql, s.memories.model),
        embedding: (row.embedding ?? null) as EmbeddingModelRow | null,
      }
    },
    read: (batchSize, vt) => readJobs(sql, 'memory_extraction_jobs', batchSize, vt),
    async input(threadId) {
      const [row] = await sql`select util.extraction_input(${threadId}) as i`
      return (row?.i ?? null) as ExtractionInput | null
    },
    async match(ownerId, agentId, candidates, matchCount) {
      const [row] = await sql`
        select util.match_memory_candidates(${ownerId}, ${agentId}, ${sql.json(candidates as never)}, ${matchCount}) as m`
      return (row.m as { candidate: number; matches: Match[] }[]).map((c) => c.matches)
    },
    async complete(threadId, result, msgId) {
      const [row] = await sql`select util.complete_extraction_job(${threadId}, ${sql.json(result as never)}, ${msgId}::bigint) as r`
      return row.r as CompleteResult
    },
    fail: (failures) => failJobs(sql, 'memory_extraction_jobs', failures),
  }
}
