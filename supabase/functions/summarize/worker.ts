// The summarize worker: one summary step per job — read the step's input (the current summary and the
// messages after it, without the recent tail), extend the summary with the configured summarizer (chat
// model or extractive), cut it to max_summary_tokens with the thread's tokenizer, store it (the SQL moves
// summary_through, queues the follow-up step and deletes the job in one transaction). A failed step is
// retried after a backoff with jitter, or dead-lettered with its reason after memory_jobs.max_attempts; a
// misconfiguration (missing key, unknown model) is dead-lettered at once.
// summarizeNow runs every step for one thread at once (SDK generateThreadSummary).
import { type ChatClient } from '../_shared/chat.ts'
import { backoffSeconds, chatFor, describeFailure, type JobFailure, type MemoryJob } from '../_shared/memory-jobs.ts'
import { chatSummarizer, extractiveSummarizer, fitSummary, type Summarizer } from '../_shared/summarizer.ts'
import { encoding } from '../_shared/tokenizer.ts'
import type { StepInput, StoreOutcome, SummarySettings, SummaryStore, ThreadSummary } from './store.ts'

export interface WorkerDeps {
  store: SummaryStore
  env: (name: string) => string | undefined
  fetch?: typeof fetch
  random?: () => number
  /** Replaces the summarizer the settings choose (tests). */
  summarizer?: Summarizer
}

export interface QueueReport {
  /** Jobs whose step was stored (or had nothing to do). */
  done: number[]
  /** Jobs whose input changed meanwhile: replaced by a fresh job. */
  conflicts: number[]
  failed: number[]
  dead_lettered: number[]
  errors: { msg_id: number; thread_id: string | null; error: string }[]
}

export interface StepReport {
  outcome: StoreOutcome
  more: boolean
  messages: number
}

export class SummarizeError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message)
    this.name = 'SummarizeError'
  }
}

function summarizerFor(deps: WorkerDeps, cfg: Awaited<ReturnType<SummaryStore['settings']>>): Summarizer {
  if (deps.summarizer) return deps.summarizer
  if (!cfg.model) return extractiveSummarizer()
  const chat: ChatClient = chatFor(cfg.summaries, cfg.model, cfg.summaries.max_summary_tokens, deps.env, deps.fetch)
  return chatSummarizer(chat, cfg.summaries.prompt)
}

/** Summarizes one step's input and stores it (with the job's deletion when msgId is given). */
export async function runStep(
  deps: WorkerDeps,
  summarizer: Summarizer,
  settings: SummarySettings,
  threadId: string,
  input: StepInput | null,
  msgId: number | null,
): Promise<StepReport> {
  if (!input) {
    const r = await deps.store.store(threadId, {
      version: 0,
      expected_through: null,
      expected_summary_md5: '',
      rebuild: false,
      base: { id: null, summary: null, summary_through: null },
      more: false,
    }, { summary: null }, msgId)
    return { outcome: r.outcome, more: false, messages: 0 }
  }
  if (!input.messages.length) {
    const r = await deps.store.store(threadId, input, { summary: null }, msgId)
    return { outcome: r.outcome, more: false, messages: 0 }
  }
  const enc = await encoding(input.tokenizer)
  const text = await summarizer.summarize({
    previous: input.base.summary,
    messages: input.messages,
    maxTokens: settings.max_summary_tokens,
    maxMessageTokens: settings.max_input_tokens,
    enc,
  })
  const { summary, tokens } = fitSummary(enc, text, settings.max_summary_tokens)
  if (!summary) throw new Error('the summarizer produced no text for messages that have some')
  const r = await deps.store.store(threadId, input, {
    summary,
    token_count: tokens,
    summarized_from: input.messages[0].cursor,
    summary_through: input.messages[input.messages.length - 1].cursor,
    message_count: input.messages.length,
    input_tokens: input.input_tokens,
    provider: summarizer.provider,
    model: summarizer.model,
  }, msgId)
  return { outcome: r.outcome, more: r.more, messages: input.messages.length }
}

/** One batch of the summary queue. */
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
  let summarizer: Summarizer | null = null
  let configError: string | null = null
  try {
    summarizer = summarizerFor(deps, cfg)
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
    if (!summarizer) {
      fail(job, configError!, { final: true })
      continue
    }
    try {
      const input = await deps.store.input(job.thread_id)
      const step = await runStep(deps, summarizer, cfg.summaries, job.thread_id, input, job.msg_id)
      if (step.outcome === 'conflict') report.conflicts.push(job.msg_id)
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

export interface NowResult extends ThreadSummary {
  steps: number
  messages_summarized: number
  provider: 'chat' | 'extractive'
  model: string | null
}

/** Most steps one summarizeNow call runs (a thread of ~1.6M tokens at the default 8,000 per step). */
export const MAX_STEPS = 200

/**
 * Runs summary steps for the thread until only the recent tail is left (keepRecentTokens, default the
 * setting) and returns the thread's summary. Conflicts with a concurrent worker are retried (the next
 * step reads the state the other one left). Throws SummarizeError 404 for an unknown thread.
 */
export async function summarizeNow(
  deps: WorkerDeps,
  threadId: string,
  opts: { keepRecentTokens?: number | null } = {},
): Promise<NowResult> {
  const cfg = await deps.store.settings()
  const summarizer = summarizerFor(deps, cfg)
  let steps = 0
  let summarized = 0
  let conflicts = 0
  for (; steps < MAX_STEPS;) {
    const input = await deps.store.input(threadId, opts.keepRecentTokens ?? null)
    if (!input) throw new SummarizeError(404, 'not_found', `thread ${threadId} not found`)
    if (!input.messages.length && !input.rebuild) break
    const step = await runStep(deps, summarizer, cfg.summaries, threadId, input, null)
    if (step.outcome === 'conflict') {
      if (++conflicts > 10) throw new SummarizeError(409, 'conflict', 'the thread kept changing while it was summarized; try again')
      continue
    }
    conflicts = 0
    steps++
    summarized += step.messages
    if (step.outcome !== 'stored' || !step.more) break
  }
  const thread = await deps.store.thread(threadId)
  if (!thread) throw new SummarizeError(404, 'not_found', `thread ${threadId} not found`)
  return { ...thread, steps, messages_summarized: summarized, provider: summarizer.provider, model: summarizer.model }
}
