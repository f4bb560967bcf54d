// One run of the embed worker over a batch of queued jobs:
//   read (with a visibility timeout) → drop jobs with nothing to do (stale, deleted, empty, already
//   embedded) → one provider call per model, within the model's batch limits (inputs over max_input_tokens
//   are truncated or split per the model's overflow setting) → check the vectors → store them with the
//   exact token counts and delete the jobs.
// A failed provider call fails that model's jobs: each is retried after an exponential backoff with
// jitter (at least the provider's Retry-After), or dead-lettered once it has had max_attempts. A
// configuration error (EmbeddingError 'config': missing or refused API key, unknown provider or model)
// cannot heal by waiting, so its jobs are dead-lettered at once with the reason. Jobs that did not fit the
// batch limits go back to the queue without using an attempt.
import { createProvider, EmbeddingError, type EmbeddingProvider, poolVectors } from '../_shared/embeddings.ts'
import { encode, encoding, splitTokens } from '../_shared/tokenizer.ts'
import { withKnownInputTokens } from '../_shared/tracing.ts'
import type { EmbeddingSettings, Job, JobFailure, JobStore, ModelRow, StoredEmbedding } from './jobs.ts'

export interface BatchOptions {
  batchSize?: number
  visibilityTimeoutSeconds?: number
}

export interface BatchReport {
  /** Jobs whose embedding was stored. */
  done: number[]
  /** Jobs that failed this time (retrying later, or dead-lettered: see dead_lettered). */
  failed: number[]
  /** Failed jobs that ran out of attempts (or could never succeed) and were archived. */
  dead_lettered: number[]
  /** Jobs with nothing to do: content changed or emptied, row deleted, or already embedded. */
  dropped: number[]
  /** Jobs put back in the queue because they did not fit this provider call. */
  deferred: number[]
  /** What went wrong, per model. */
  errors: { model: string; error: string; jobs: number[] }[]
}

export interface BatchDeps {
  store: JobStore
  providerFor?: (model: ModelRow, settings: EmbeddingSettings) => EmbeddingProvider
  env?: (name: string) => string | undefined
  random?: () => number
}

/** One embedding to compute: the jobs (same row, model and content) it completes. */
interface Unit {
  msgIds: number[]
  attempts: number
  job: Job
  pieces: { text: string; tokens: number }[]
  tokenCount: number | null
}

/**
 * Seconds to wait before attempt `attempts + 1`: base × 2^(attempts − 1), at most `max`, scaled by a
 * random factor in [0.5, 1) (so retries of a batch spread out), and never less than the provider's
 * Retry-After.
 */
export function backoffSeconds(
  attempts: number,
  settings: Pick<EmbeddingSettings, 'backoff_base_seconds' | 'backoff_max_seconds'>,
  random: () => number,
  retryAfterMs?: number,
): number {
  const exp = Math.min(settings.backoff_max_seconds, settings.backoff_base_seconds * 2 ** Math.max(0, attempts - 1))
  const jittered = exp * (0.5 + random() * 0.5)
  return Math.max(jittered, (retryAfterMs ?? 0) / 1000)
}

/** pgvector's text form, with float4 precision (what the column keeps anyway). */
export function vectorLiteral(v: number[]): string {
  return '[' + v.map((x) => (x === 0 ? '0' : x.toPrecision(8))).join(',') + ']'
}

export async function processBatch(deps: BatchDeps, opts: BatchOptions = {}): Promise<BatchReport> {
  const random = deps.random ?? Math.random
  const env = deps.env ?? (() => undefined)
  const providerFor = deps.providerFor ??
    ((model, settings) => createProvider(model, { env, timeoutMs: settings.provider_timeout_milliseconds }))
  const report: BatchReport = { done: [], failed: [], dead_lettered: [], dropped: [], deferred: [], errors: [] }

  const { settings, models } = await deps.store.config()
  const jobs = await deps.store.read(
    opts.batchSize ?? settings.batch_size,
    opts.visibilityTimeoutSeconds ?? settings.visibility_timeout_seconds,
  )
  if (!jobs.length) return report

  const failures: JobFailure[] = []
  const fail = (
    ids: number[],
    attempts: Map<number, number>,
    error: string,
    extra: Partial<JobFailure> = {},
    retryAfterMs?: number,
  ) => {
    for (const id of ids) {
      failures.push({
        msg_id: id,
        error,
        delay_seconds: backoffSeconds(attempts.get(id) ?? 1, settings, random, retryAfterMs),
        ...extra,
      })
    }
  }
  const attemptsOf = new Map(jobs.map((j) => [j.msg_id, j.attempts]))
  const dropped: number[] = []
  const deferred: number[] = []

  // Jobs to embed, one unit per distinct (row, model, content).
  const byModel = new Map<string, Map<string, Unit>>()
  for (const job of jobs) {
    if (job.status === 'invalid') {
      fail([job.msg_id], attemptsOf, `invalid job: ${job.reason}`, { final: true })
      continue
    }
    if (job.status !== 'ok') {
      dropped.push(job.msg_id)
      continue
    }
    if (job.attempts - 1 >= settings.max_attempts) {
      // Earlier reads never reported back (the worker timed out or was stopped each time).
      fail(
        [job.msg_id],
        attemptsOf,
        `no attempt finished in ${job.attempts - 1} tries (the worker timed out or stopped each time)`,
        {
          attempted: false,
        },
      )
      continue
    }
    let units = byModel.get(job.model!)
    if (!units) byModel.set(job.model!, units = new Map())
    const key = `${job.source_table}\u0000${job.source_id}\u0000${job.content_hash}`
    const unit = units.get(key)
    if (unit) unit.msgIds.push(job.msg_id)
    else units.set(key, { msgIds: [job.msg_id], attempts: job.attempts, job, pieces: [], tokenCount: null })
  }

  const results: StoredEmbedding[] = []
  for (const [modelName, unitMap] of byModel) {
    const units = [...unitMap.values()]
    const model = models.find((m) => m.name === modelName)
    const ids = units.flatMap((u) => u.msgIds)
    if (!model) {
      // Registered after this run read the registry: the next run will know it.
      deferred.push(...ids)
      continue
    }
    let provider: EmbeddingProvider
    try {
      provider = providerFor(model, settings)
      await prepareInputs(model, units)
    } catch (err) {
      const message = describe(err)
      report.errors.push({ model: modelName, error: message, jobs: ids })
      fail(ids, attemptsOf, message, { final: isPermanent(err) })
      continue
    }

    // Fill one provider call in queue order; what does not fit waits for the next call.
    const batch: Unit[] = []
    let inputs = 0
    let tokens = 0
    let full = false
    for (const unit of units) {
      const unitTokens = unit.pieces.reduce((s, p) => s + p.tokens, 0)
      const fits = inputs + unit.pieces.length <= model.max_batch_inputs &&
        tokens + unitTokens <= model.max_batch_tokens
      if (fits && !full) {
        batch.push(unit)
        inputs += unit.pieces.length
        tokens += unitTokens
      } else if (batch.length === 0) {
        // Alone it exceeds a whole call: it can never be embedded with this model's limits.
        fail(
          unit.msgIds,
          attemptsOf,
          `input needs ${unit.pieces.length} pieces / ${unitTokens} tokens, more than one ${model.name} request takes ` +
            `(max_batch_inputs ${model.max_batch_inputs}, max_batch_tokens ${model.max_batch_tokens})`,
          { final: true },
        )
      } else {
        full = true
        deferred.push(...unit.msgIds)
      }
    }
    if (!batch.length) continue

    let vectors: number[][]
    try {
      // The tokens are counted already (prepareInputs); the trace's span takes that count.
      vectors = await withKnownInputTokens(
        tokens,
        () => provider.embed(batch.flatMap((u) => u.pieces.map((p) => p.text))),
      )
    } catch (err) {
      const message = describe(err)
      const jobIds = batch.flatMap((u) => u.msgIds)
      report.errors.push({ model: modelName, error: message, jobs: jobIds })
      fail(
        jobIds,
        attemptsOf,
        message,
        { final: isPermanent(err) },
        err instanceof EmbeddingError ? err.retryAfterMs : undefined,
      )
      continue
    }
    let at = 0
    for (const unit of batch) {
      const mine = vectors.slice(at, at + unit.pieces.length)
      at += unit.pieces.length
      const vector = mine.length === 1 ? mine[0] : poolVectors(mine, unit.pieces.map((p) => p.tokens))
      results.push({
        msg_ids: unit.msgIds,
        source_table: unit.job.source_table!,
        source_id: unit.job.source_id!,
        model: modelName,
        content_hash: unit.job.content_hash!,
        embedding: vectorLiteral(vector),
        token_count: unit.tokenCount,
      })
    }
  }

  if (results.length || dropped.length) {
    for (const r of await deps.store.complete(results, dropped)) {
      if (r.outcome === 'stored') report.done.push(r.msg_id)
      else report.dropped.push(r.msg_id)
    }
  }
  if (failures.length) {
    for (const r of await deps.store.fail(failures)) {
      report.failed.push(r.msg_id)
      if (r.outcome === 'dead_lettered') report.dead_lettered.push(r.msg_id)
    }
  }
  if (deferred.length) {
    await deps.store.defer(deferred)
    report.deferred.push(...deferred)
  }
  for (const list of [report.done, report.failed, report.dead_lettered, report.dropped, report.deferred]) {
    list.sort((a, b) => a - b)
  }
  return report
}

/**
 * Measures every unit with the model's tokenizer, applies the overflow rule (truncate to, or split into
 * pieces of, max_input_tokens), and counts its tokens with the source's tokenizer for token_count.
 */
async function prepareInputs(model: ModelRow, units: Unit[]): Promise<void> {
  const enc = await encoding(model.tokenizer)
  for (const unit of units) {
    const text = unit.job.content!
    const ids = encode(enc, text)
    const sourceTokenizer = unit.job.tokenizer ?? model.tokenizer
    unit.tokenCount = sourceTokenizer === model.tokenizer
      ? ids.length
      : encode(await encoding(sourceTokenizer), text).length
    if (ids.length <= model.max_input_tokens) unit.pieces = [{ text, tokens: ids.length }]
    else if (model.overflow === 'truncate') {
      unit.pieces = splitTokens(enc, ids.slice(0, model.max_input_tokens), model.max_input_tokens)
    } else unit.pieces = splitTokens(enc, ids, model.max_input_tokens)
  }
}

/** A configuration error: the same call would fail the same way until someone changes the model or a key. */
function isPermanent(err: unknown): boolean {
  return err instanceof EmbeddingError && err.permanent
}

function describe(err: unknown): string {
  if (err instanceof EmbeddingError) return err.message
  if (err instanceof Error) return `${err.name}: ${err.message}`
  return String(err)
}
