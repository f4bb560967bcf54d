// The extract-memories worker: per job, the thread's messages after its extraction cursor →
//   1. the chat model lists candidate memories (JSON, checked strictly: ../_shared/memory-extraction.ts);
//   2. each candidate is embedded with the default embedding model (when that fails, matching uses BM25
//      alone) and matched against the owner's valid memories by hybrid search;
//   3. a candidate without matches is added; one whose text equals a match is a no-op; the others go to
//      the chat model in ONE decision call, which answers add, update (naming the memory it replaces) or
//      none for each;
//   4. util.complete_extraction_job applies the decisions, moves the cursor and deletes the job in one
//      transaction (a new version keeps the old one with invalid_at; memory_history records each change
//      with the job's reasoning in details).
// Any failure before step 4 — the provider, a malformed answer — changes nothing: the job is retried after
// a backoff, and dead-lettered with the reason after memory_jobs.max_attempts (at once when the feature is
// misconfigured: no model, a missing key).
import type { ChatClient } from '../_shared/chat.ts'
import { createProvider } from '../_shared/embeddings.ts'
import {
  type Candidate,
  decisionUserPrompt,
  extractionUserPrompt,
  type Match,
  normalize,
  parseCandidates,
  parseDecisions,
} from '../_shared/memory-extraction.ts'
import { backoffSeconds, chatFor, describeFailure, type JobFailure, type MemoryJob } from '../_shared/memory-jobs.ts'
import { ProviderError } from '../_shared/provider-http.ts'
import type { CompleteResult, ExtractionStore, Operation } from './store.ts'

export interface WorkerDeps {
  store: ExtractionStore
  env: (name: string) => string | undefined
  fetch?: typeof fetch
  random?: () => number
}

export interface QueueReport {
  done: number[]
  conflicts: number[]
  failed: number[]
  dead_lettered: number[]
  errors: { msg_id: number; thread_id: string | null; error: string }[]
}

export interface RunReport extends CompleteResult {
  messages: number
  candidates: number
  more: boolean
}

type Settings = Awaited<ReturnType<ExtractionStore['settings']>>

export class ExtractError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message)
    this.name = 'ExtractError'
  }
}

function chatOf(deps: WorkerDeps, cfg: Settings): ChatClient {
  if (!cfg.model) {
    throw new ProviderError('config', 'memory extraction needs a chat model: set the setting memories.model (a public.models id)')
  }
  return chatFor(cfg.memories, cfg.model, cfg.memories.max_output_tokens, deps.env, deps.fetch)
}

/** Embeddings of the candidates with the default model, or nulls (and why) when that is not possible. */
async function embedCandidates(deps: WorkerDeps, cfg: Settings, texts: string[]): Promise<{ vectors: (number[] | null)[]; note: string }> {
  if (!cfg.embedding) return { vectors: texts.map(() => null), note: 'no default embedding model: BM25 alone' }
  try {
    const provider = createProvider(cfg.embedding, { env: deps.env, timeoutMs: cfg.memories.provider_timeout_milliseconds, fetch: deps.fetch })
    return { vectors: await provider.embed(texts), note: `embedded with ${cfg.embedding.name}` }
  } catch (err) {
    return { vectors: texts.map(() => null), note: `embedding failed (${(err as Error).message}): BM25 alone` }
  }
}

const matchSummary = (m: Match) => ({
  id: m.id,
  content: m.content,
  score: m.score,
  bm25_rank: m.bm25_rank,
  vector_rank: m.vector_rank,
  vector_score: m.vector_score,
})

/** One extraction run over the thread's next messages; stores its decisions (and deletes msgId's job). */
export async function extractOnce(deps: WorkerDeps, cfg: Settings, chat: ChatClient, threadId: string, msgId: number | null): Promise<RunReport> {
  const input = await deps.store.input(threadId)
  const empty = { expected_through: input?.expected_through ?? null, extracted_through: null, message_count: 0, more: false, operations: [] }
  if (!input || !input.messages.length) {
    const r = await deps.store.complete(threadId, empty, msgId)
    return { ...r, messages: 0, candidates: 0, more: false }
  }
  const answer = await chat.complete([
    { role: 'system', content: cfg.memories.extraction_prompt },
    { role: 'user', content: extractionUserPrompt(input.messages) },
  ])
  const candidates = parseCandidates(answer, input.messages.length, cfg.memories.max_candidates)
  const idOf = (n: number) => input.messages[n - 1].id
  const operations: Operation[] = []
  if (candidates.length) {
    const { vectors, note } = await embedCandidates(deps, cfg, candidates.map((c) => c.content))
    const matches = await deps.store.match(
      input.owner_id,
      input.agent_id,
      candidates.map((c, i) => ({ content: c.content, embedding: vectors[i] })),
      cfg.memories.match_count,
    )
    const base = (c: Candidate, i: number) => ({
      candidate: { kind: c.kind, content: c.content, sources: c.sources },
      matches: matches[i].map(matchSummary),
      matching: note,
    })
    const asked: { index: number; candidate: Candidate; matches: Match[] }[] = []
    candidates.forEach((c, i) => {
      const op = { kind: c.kind, content: c.content, sources: c.sources.map(idOf) }
      const same = matches[i].find((m) => normalize(m.content) === normalize(c.content))
      if (!matches[i].length) operations[i] = { ...op, action: 'add', memory_id: null, details: { ...base(c, i), decided_by: 'no_match' } }
      else if (same) operations[i] = { ...op, action: 'none', memory_id: same.id, details: { ...base(c, i), decided_by: 'same_text' } }
      else asked.push({ index: i, candidate: c, matches: matches[i] })
    })
    if (asked.length) {
      const reply = await chat.complete([
        { role: 'system', content: cfg.memories.decision_prompt },
        { role: 'user', content: decisionUserPrompt(asked) },
      ])
      const decisions = parseDecisions(reply, asked)
      asked.forEach((a, j) => {
        const c = a.candidate
        operations[a.index] = {
          kind: c.kind,
          content: c.content,
          sources: c.sources.map(idOf),
          action: decisions[j].action,
          memory_id: decisions[j].memory_id,
          details: { ...base(c, a.index), decided_by: 'model' },
        }
      })
    }
  }
  const r = await deps.store.complete(threadId, {
    expected_through: input.expected_through,
    extracted_through: input.messages[input.messages.length - 1].cursor,
    message_count: input.messages.length,
    more: input.more,
    operations,
  }, msgId)
  return { ...r, messages: input.messages.length, candidates: candidates.length, more: input.more }
}

/** One batch of the extraction queue. */
export async function processQueue(
  deps: WorkerDeps,
  opts: { batchSize?: number; visibilityTimeoutSeconds?: number } = {},
): Promise<QueueReport> {
  const random = deps.random ?? Math.random
  const report: QueueReport = { done: [], conflicts: [], failed: [], dead_lettered: [], errors: [] }
  const cfg = await deps.store.settings()
  const jobs = await deps.store.read(opts.batchSize ?? cfg.jobs.batch_size, opts.visibilityTimeoutSeconds ?? cfg.jobs.visibility_timeout_seconds)
  if (!jobs.length) return report
  const failures: JobFailure[] = []
  const fail = (job: MemoryJob, error: string, extra: Partial<JobFailure> = {}) => {
    report.errors.push({ msg_id: job.msg_id, thread_id: job.thread_id, error })
    failures.push({ msg_id: job.msg_id, error, delay_seconds: backoffSeconds(job.attempts, cfg.jobs, random), ...extra })
  }
  let chat: ChatClient | null = null
  let configError = ''
  try {
    chat = chatOf(deps, cfg)
  } catch (err) {
    configError = describeFailure(err).message
  }
  for (const job of jobs) {
    if (!job.thread_id) {
      fail(job, 'invalid job: no thread_id', { final: true })
      continue
    }
    if (job.attempts - 1 >= cfg.jobs.max_attempts) {
      fail(job, `no attempt finished in ${job.attempts - 1} tries (the worker timed out or stopped each time)`, { attempted: false })
      continue
    }
    if (!chat) {
      fail(job, configError, { final: true })
      continue
    }
    try {
      const r = await extractOnce(deps, cfg, chat, job.thread_id, job.msg_id)
      if (r.outcome === 'conflict') report.conflicts.push(job.msg_id)
      else report.done.push(job.msg_id)
    } catch (err) {
      const { message, retry } = describeFailure(err)
      fail(job, message, retry ? {} : { final: true })
    }
  }
  for (const r of await deps.store.fail(failures)) {
    report.failed.push(r.msg_id)
    if (r.outcome === 'dead_lettered') report.dead_lettered.push(r.msg_id)
  }
  return report
}

/** Extraction runs for one thread until its cursor has caught up (at most MAX_RUNS); totals. */
export const MAX_RUNS = 50

export async function extractNow(deps: WorkerDeps, threadId: string): Promise<RunReport & { runs: number }> {
  const cfg = await deps.store.settings()
  const chat = chatOf(deps, cfg)
  const total: RunReport & { runs: number } = {
    outcome: 'stored',
    added: [],
    updated: [],
    unchanged: 0,
    messages: 0,
    candidates: 0,
    more: false,
    runs: 0,
  }
  let conflicts = 0
  while (total.runs < MAX_RUNS) {
    const r = await extractOnce(deps, cfg, chat, threadId, null)
    if (r.outcome === 'gone') throw new ExtractError(404, 'not_found', `thread ${threadId} not found`)
    if (r.outcome === 'conflict') {
      if (++conflicts > 10) throw new ExtractError(409, 'conflict', 'the thread kept changing while memories were extracted; try again')
      continue
    }
    total.runs++
    total.added.push(...r.added)
    total.updated.push(...r.updated)
    total.unchanged += r.unchanged
    total.messages += r.messages
    total.candidates += r.candidates
    total.more = r.more
    if (!r.more) break
  }
  return total
}
