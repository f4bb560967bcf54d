// Benchmark `long-term-memory`: build_context with everything long-term memory adds, on the shared corpus's
// long thread (N messages at size N, with a summary, working memory — the user's JSON document with a
// schema and the thread's Markdown — and N/50 embedded long-term memories; scripts/bench/dataset.ts), at
// every size of the run:
//   in process   build_context 8k with summary, working memory, recall (hybrid: BM25 + the query's vector
//                over the thread's embedded messages) and memories (hybrid over the user's memories), as the
//                signed-in user, no HTTP — target p95 ≤ 30 ms (issue: at 100,000 messages). The bench throws
//                when a result lacks one of the parts, so a figure never measures less than it says.
//   gateway      the same context through supabase-js: one build_context RPC, against the way a typical
//                agent framework assembles it — one query per step, serially (thread, newest messages,
//                recall, the user's and the thread's working memory, long-term memories, agent state):
//                7 round trips. Latency and round trips, with the framework as the baseline.
// At the largest size only (the figure does not depend on the corpus): save_message p50 with summarization
// and extraction on and jobs queued (a backlog of 2,000 jobs per queue, and the measured saves queueing new
// ones) / p50 with both off, in alternating blocks of the same run — target ≤ 1.10. Nothing processes the
// queues (no cron, no Edge Functions): a save never waits for a worker, which is what that figure shows.
import { hashEmbedding } from '../../supabase/functions/_shared/hash-embedding.ts'
import { ZipfText } from './corpus.ts'
import type { BenchCorpus } from './dataset.ts'
import { sample, scaledLatency, summarize, timed, type BenchContext, type BenchReport, type Figure, type Series } from './lib.ts'
import type { Bench } from './section.ts'

const BUDGET = 8_000
const BACKLOG = 2_000
/** The framework-style assembly's round trips (see the file comment). */
const FRAMEWORK_STEPS = 7

interface ContextInfo {
  summary: boolean
  recalled: number
  memories: number
  working_memory: number
  messages: number
  token_count: number
}

export const longTermMemory: Bench = {
  name: 'long-term-memory',
  corpus: true,
  description: 'build_context with summary, working memory, recall and memories (in process; through the gateway vs framework-style serial RPCs); save_message with memory jobs queued',
  async runAt(ctx, size, corpus): Promise<BenchReport> {
    if (!corpus) throw new Error('long-term-memory needs the corpus')
    const { db, user, longThread } = corpus
    const n = ctx.samples(300, 100)
    const gatewayN = ctx.samples(150, 50)
    const warmup = 10
    const queries = corpus.messageQueries
    const vectors = new Map(queries.map((q) => [q, hashEmbedding(q)]))
    const options = (q: string) => ({ query: q, query_embedding: vectors.get(q), recall: true, memories: true })
    const contextSql = `select (c.summary is not null) as summary, jsonb_array_length(coalesce(c.recalled, '[]')) as recalled,
                               jsonb_array_length(coalesce(c.memories, '[]')) as memories,
                               jsonb_array_length(coalesce(c.working_memory, '[]')) as working_memory,
                               cardinality(c.messages) as messages, c.token_count
                          from build_context($1, ${BUDGET}, $2::jsonb) c`
    const check = (label: string, info: ContextInfo) => {
      const missing = (['summary', 'recalled', 'memories', 'working_memory', 'messages'] as const).filter((k) => !info[k])
      if (missing.length || info.token_count > BUDGET) throw new Error(`${label}: build_context lacks ${missing.join(', ') || 'nothing'}; ${JSON.stringify(info)}`)
    }
    const infos: ContextInfo[] = []
    const full = await sample(ctx, `build_context: summary, working memory, recall, memories (${size})`, n, async (i) => {
      const q = queries[i % queries.length]
      const info = (await db.query<ContextInfo>(contextSql, [longThread, JSON.stringify(options(q))], user.identity)).rows[0]
      check(`query "${q}"`, info)
      infos.push(info)
    }, warmup)

    // Through the gateway: one RPC, and the framework's serial steps.
    const rpc = async (fn: string, args: Record<string, unknown>) => {
      const { data, error } = await user.client.rpc(fn, args)
      if (error) throw new Error(`${fn} through the gateway: ${error.code} ${error.message}`)
      return data
    }
    const oneCall = await sample(ctx, `build_context through the gateway (${size})`, gatewayN, async (i) => {
      const q = queries[i % queries.length]
      await rpc('build_context', { thread_id: longThread, token_budget: BUDGET, options: options(q) })
    }, warmup)
    const framework = await sample(ctx, `framework-style assembly, ${FRAMEWORK_STEPS} serial RPCs (${size})`, gatewayN, async (i) => {
      const q = queries[i % queries.length]
      const embedding = JSON.stringify(vectors.get(q))
      await rpc('get_thread', { thread_id: longThread })
      await rpc('load_messages', { thread_id: longThread, limit: 50 })
      await rpc('search_memories', { query_text: q, query_embedding: embedding, scope: 'thread', thread_id: longThread, match_count: 5 })
      await rpc('get_working_memory', { scope: 'resource' })
      await rpc('get_working_memory', { scope: 'thread', thread_id: longThread })
      await rpc('hybrid_search', { query_text: q, query_embedding: embedding, match_count: 5, source: 'memories' })
      await rpc('load_agent_state', { thread_id: longThread })
    }, warmup)

    const series: Series[] = [
      { name: `build_context all parts, ${size}`, samplesMs: full },
      { name: `build_context via gateway, ${size}`, samplesMs: oneCall },
      { name: `framework-style assembly, ${size}`, samplesMs: framework },
    ]
    const figures: Figure[] = [
      ...scaledLatency('build_context 8k, all parts', full, { size, target: 30 }),
      ...scaledLatency('build_context 8k, all parts, through the gateway', oneCall, {
        size,
        baseline: { name: `framework-style assembly (${FRAMEWORK_STEPS} serial RPCs)`, samplesMs: framework },
      }),
      { name: 'context assembly round trips', value: 1, unit: 'round trips', size, baseline: { name: 'framework-style assembly', value: FRAMEWORK_STEPS } },
    ]
    const avg = (k: keyof ContextInfo) => (infos.reduce((s, x) => s + Number(x[k]), 0) / infos.length).toFixed(1)
    const notes = [
      `${size}: all parts per call (averages): ${avg('recalled')} recalled, ${avg('memories')} memories, ${avg('working_memory')} working-memory blocks, ${avg('messages')} recent messages, ${avg('token_count')} of ${BUDGET} tokens; ${n} samples in process, ${gatewayN} through the gateway`,
    ]

    if (size === Math.max(...ctx.sizes)) {
      const jobs = await saveWithJobs(ctx, corpus, n)
      figures.push(...jobs.figures)
      series.push(...jobs.series)
      notes.push(jobs.note)
    }
    return { figures, series, notes }
  },
}

/** save_message with memory jobs off and on, in alternating blocks on fresh threads. */
async function saveWithJobs(ctx: BenchContext, corpus: BenchCorpus, samples: number) {
  const { db, user } = corpus
  const text = new ZipfText({ seed: 11 })
  const size = corpus.size
  // The first saves of an "on" block queue extraction and summary jobs, later ones find them pending.
  const setting = (category: string, key: string, value: unknown) =>
    db.query(`update public.settings set value = $3::jsonb where category = $1 and key = $2`, [category, key, JSON.stringify(value)])
  await db.query(`insert into public.models (id, provider, display_name, context_window) values ('bench-extractor', 'openai', 'Bench', 100000) on conflict do nothing`)
  await setting('summaries', 'keep_recent_tokens', 50)
  await setting('summaries', 'threshold_tokens', 100)
  await setting('memories', 'model', 'bench-extractor')
  await setting('memories', 'extract_every_messages', 2)
  const jobs = (
    await db.query<{ id: string }>(
      `select t.id from generate_series(1, $1::integer) i cross join lateral create_thread(agent_id => 'assistant', name => 'backlog ' || i) t`,
      [BACKLOG],
      user.identity,
    )
  ).rows
  const backlog = JSON.stringify(jobs.map((j) => ({ thread_id: j.id, owner_id: user.id, reason: 'threshold' })))
  await db.query(`select pgmq.send_batch('summary_jobs', array(select jsonb_array_elements($1::jsonb)))`, [backlog])
  await db.query(`select pgmq.send_batch('memory_extraction_jobs', array(select jsonb_array_elements($1::jsonb)))`, [backlog])
  const queued = async () =>
    (await db.query<{ n: number }>(`select ((pgmq.metrics('summary_jobs')).queue_length + (pgmq.metrics('memory_extraction_jobs')).queue_length)::int as n`)).rows[0].n
  const setJobs = async (on: boolean) => {
    await setting('summaries', 'enabled', on)
    await setting('memories', 'extraction_enabled', on)
  }
  const blocks = 10
  const perBlock = Math.ceil(samples / blocks)
  const savesOff: number[] = []
  const savesOn: number[] = []
  const before = await queued()
  const b = ctx.progress('save_message, jobs off / on (alternating blocks)', 2 * blocks * perBlock)
  for (let block = 0; block < 2 * blocks; block++) {
    const on = block % 2 === 1
    await setJobs(on)
    const threads = (
      await db.query<{ id: string }>(
        `select t.id from generate_series(1, 20) i cross join lateral create_thread(agent_id => 'assistant', name => 'saves ' || i) t`,
        [],
        user.identity,
      )
    ).rows.map((r) => r.id)
    for (let i = 0; i < 5; i++) await db.query(`select id from save_message($1, 'user', 'warm-up')`, [threads[i]], user.identity)
    for (let i = 0; i < perBlock; i++) {
      const content = text.text(text.int(20, 40))
      const [, ms] = await timed(() => db.query(`select id from save_message($1, 'user', $2)`, [threads[i % threads.length], content], user.identity))
      ;(on ? savesOn : savesOff).push(ms)
      b.tick()
    }
  }
  b.done()
  await setJobs(false)
  const sent = (await queued()) - before
  if (sent <= 0) throw new Error('the saves with memory jobs on queued no job: the figure would measure nothing')
  const p50 = (ms: number[]) => summarize(ms).p50
  const half = (ms: number[], k: number) => ms.filter((_, i) => Math.floor(i / perBlock) % 2 === k)
  return {
    figures: [
      ...scaledLatency('save_message, memory jobs on and queued', savesOn, { size, baseline: { name: 'save_message, memory jobs off', samplesMs: savesOff } }),
      { name: 'save_message p50 jobs on / off', value: p50(savesOn) / p50(savesOff), unit: '×', size, target: { op: '<=' as const, value: 1.1 } },
      { name: 'save_message p50 noise: jobs-off blocks, odd / even', value: p50(half(savesOff, 1)) / p50(half(savesOff, 0)), unit: '×', size },
    ] as Figure[],
    series: [
      { name: 'save_message, jobs off', samplesMs: savesOff },
      { name: 'save_message, jobs on and queued', samplesMs: savesOn },
    ],
    note: `save_message: ${blocks} blocks of ${perBlock} saves each way, alternating, each block on 20 fresh threads; backlog ${BACKLOG.toLocaleString('en')} jobs per queue; the "on" saves queued ${sent} more jobs (threshold 100 tokens, extraction every 2 messages)`,
  }
}
