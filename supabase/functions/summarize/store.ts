// The summarize worker's view of the database: util.summary_step_input / util.store_summary_step
// (20261205000800_summaries.sql) and the queue calls shared with the extraction worker, as postgres over
// SUPABASE_DB_URL. An interface, so the worker can be tested against a real database or a stand-in.
import {
  failJobs,
  type JobFailure,
  type JobSettings,
  loadModel,
  type MemoryJob,
  type ModelRow,
  readJobs,
  type Sql,
} from '../_shared/memory-jobs.ts'
import type { SummaryMessage } from '../_shared/extractive.ts'

/** summaries.* (util.long_term_settings()). */
export interface SummarySettings {
  enabled: boolean
  threshold_tokens: number
  keep_recent_tokens: number
  max_input_tokens: number
  max_summary_tokens: number
  model: string | null
  base_url: string | null
  api_key_env: string | null
  prompt: string
  provider_timeout_milliseconds: number
}

export interface InputMessage extends SummaryMessage {
  id: string
  token_count: number
  created_at: string
  cursor: string
}

/** util.summary_step_input(). */
export interface StepInput {
  thread_id: string
  owner_id: string
  agent_id: string | null
  tokenizer: string
  version: number
  expected_through: string | null
  expected_summary_md5: string
  rebuild: boolean
  base: { id: number | null; summary: string | null; summary_through: string | null }
  messages: InputMessage[]
  input_tokens: number
  more: boolean
  tail_tokens: number
}

export interface StepResult {
  summary: string | null
  token_count?: number
  summarized_from?: string
  summary_through?: string
  message_count?: number
  input_tokens?: number
  provider?: 'chat' | 'extractive'
  model?: string | null
}

export type StoreOutcome = 'stored' | 'nothing' | 'conflict' | 'gone'

export interface ThreadSummary {
  thread_id: string
  summary: string | null
  summary_through: string | null
  summary_token_count: number | null
  stale: boolean
  unsummarized_tokens: number
}

export interface SummaryStore {
  settings(): Promise<{ jobs: JobSettings; summaries: SummarySettings; model: ModelRow | null }>
  read(batchSize: number, visibilityTimeoutSeconds: number): Promise<MemoryJob[]>
  input(threadId: string, keepRecentTokens?: number | null): Promise<StepInput | null>
  store(
    threadId: string,
    input: Pick<StepInput, 'version' | 'expected_through' | 'expected_summary_md5' | 'rebuild' | 'base' | 'more'>,
    result: StepResult,
    msgId: number | null,
  ): Promise<{ outcome: StoreOutcome; summary_id: number | null; more: boolean }>
  fail(failures: JobFailure[]): ReturnType<typeof failJobs>
  thread(threadId: string): Promise<ThreadSummary | null>
}

export function postgresSummaryStore(sql: Sql): SummaryStore {
  return {
    async settings() {
      const [row] = await sql`select util.long_term_settings() as s`
      const s = row.s as { memory_jobs: JobSettings; summaries: SummarySettings }
      return { jobs: s.memory_jobs, summaries: s.summaries, model: await loadModel(sql, s.summaries.model) }
    },
    read: (batchSize, vt) => readJobs(sql, 'summary_jobs', batchSize, vt),
    async input(threadId, keepRecentTokens) {
      const [row] = await sql`select util.summary_step_input(${threadId}, ${keepRecentTokens ?? null}::integer) as i`
      return (row?.i ?? null) as StepInput | null
    },
    async store(threadId, input, result, msgId) {
      const step = {
        version: input.version,
        expected_through: input.expected_through,
        expected_summary_md5: input.expected_summary_md5,
        rebuild: input.rebuild,
        base: input.base,
        more: input.more,
        ...result,
      }
      const [row] = await sql`select util.store_summary_step(${threadId}, ${sql.json(step as never)}, ${msgId}::bigint) as r`
      return row.r as { outcome: StoreOutcome; summary_id: number | null; more: boolean }
    },
    fail: (failures) => failJobs(sql, 'summary_jobs', failures),
    async thread(threadId) {
      const [row] = await sql`
        select t.id as thread_id, t.summary, t.summary_through, t.summary_token_count,
               coalesce(p.summary_stale_from is not null, false) as stale, coalesce(p.unsummarized_tokens, 0)::bigint as unsummarized_tokens
          from public.memory_threads t left join public.thread_memory_progress p on p.thread_id = t.id
         where t.id = ${threadId}`
      return row ? ({ ...row, unsummarized_tokens: Number(row.unsummarized_tokens) } as unknown as ThreadSummary) : null
    },
  }
}
