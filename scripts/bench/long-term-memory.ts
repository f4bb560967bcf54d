// Benchmark `long-term-memory`: build_context with everything long-term memory adds, and save_message while
// summary and extraction jobs are queued. In-process SQL through a migrated Database as a signed-in user
// (role + JWT claims per transaction, as the gateway sets them), no HTTP; one build_context call is one
// statement, so one round trip however many parts it assembles (the SDK's buildContext is one RPC).
// Targets from the long-term memory issue, measured in this run:
//   build_context at 100,000 messages with a summary (stored through util.store_summary_step, as the
//   summarize worker stores it), working memory (the user's JSON document with a schema and the thread's
//   Markdown), recall (hybrid: BM25 + the query's vector over the thread's 100k embedded messages) and
//   long-term memories (hybrid search over the user's 2,000 embedded memories)      p95 ≤ 30 ms
//   save_message p50 with summarization and extraction on and jobs queued (a backlog of 2,000 jobs per
//   queue, and the measured saves themselves queueing new ones) / p50 with both off, in alternating blocks
//   of the same run                                                                 ≤ 1.10 (within noise)
// The bench fails (throws) when a build_context result lacks one of the parts, so a figure never measures
// less than it says. Nothing processes the queues here (no cron, no Edge Functions): a save never waits for
// a worker, which is what the second figure shows.
import { randomUUID } from 'node:crypto'
import type { Identity } from '../../stack/core/identity.ts'
import { hashEmbedding } from '../../supabase/functions/_shared/hash-embedding.ts'
import { freshDatabase } from '../lib/fresh-db.ts'
import { ZipfText } from './corpus.ts'
import { latencyFigures, summarize, timed, type Bench, type BenchReport, type Series } from './lib.ts'

const THREAD_MESSAGES = 100_000
const MEMORIES = 2_000
const BUDGET = 8_000
const BACKLOG = 2_000

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
  description: `build_context with summary, working memory, recall and memories on a ${THREAD_MESSAGES.toLocaleString('en')}-message thread; save_message with memory jobs queued (in-process SQL)`,
  async run(ctx): Promise<BenchReport> {
    const samples = ctx.quick ? 200 : 1000
    const warmup = 25
    const text = new ZipfText({ seed: 11 })
    const fresh = await freshDatabase()
    try {
      const db = fresh.db
      const users: Identity[] = []
      for (const name of ['bench', 'other']) {
        const id = randomUUID()
        await db.query(`insert into auth.users (id, aud, role, email) values ($1, 'authenticated', 'authenticated', $2)`, [id, `${name}-${id.slice(0, 8)}@bench.local`])
        users.push({ role: 'authenticated', claims: { sub: id, role: 'authenticated', aud: 'authenticated' } })
      }
      const [user, other] = users
      const threadId = (await db.query<{ id: string }>(`select id from create_thread(agent_id => 'assistant', name => 'bench')`, [], user)).rows[0].id

      // The thread: two system messages, then user / assistant turns of 5–60 Zipf words, in inserts of
      // 5,000 (row triggers estimate tokens, feed BM25 statistics, queue embeddings and count memory jobs).
      const queries: string[] = []
      const bar = ctx.progress('messages', THREAD_MESSAGES)
      const [, seedMs] = await timed(async () => {
        for (let done = 0; done < THREAD_MESSAGES; ) {
          const n = Math.min(5000, THREAD_MESSAGES - done)
          const roles: string[] = []
          const contents: string[] = []
          for (let i = 0; i < n; i++, done++) {
            const system = done < 2
            const content = system ? `You are a helpful assistant with a long memory. Rule ${done + 1}.` : text.text(text.int(5, 60))
            roles.push(system ? 'system' : done % 2 ? 'user' : 'assistant')
            contents.push(content)
            if (!system && queries.length < samples + warmup && text.random() < 0.02) queries.push(text.queryFrom(content))
          }
          await db.query(
            `insert into messages (thread_id, role, content)
             select $1, r::message_role, c from unnest($2::text[], $3::text[]) with ordinality as x(r, c, o) order by o`,
            [threadId, roles, contents],
            user,
          )
          bar.tick(n)
        }
      })
      bar.done()
      while (queries.length < samples + warmup) queries.push(queries[queries.length % Math.max(1, queries.length)])

      // Long-term memories: the user's (shared, the thread's agent's, another agent's) and another user's.
      const kinds = ['fact', 'preference', 'event']
      const memoryRows = (n: number, agents: (string | null)[]) =>
        JSON.stringify(Array.from({ length: n }, (_, i) => ({ content: text.text(text.int(6, 20)), kind: kinds[i % 3], agent_id: agents[i % agents.length] })))
      await db.query(
        `insert into memories (content, kind, agent_id) select x.content, x.kind::memory_kind, x.agent_id
           from jsonb_to_recordset($1::jsonb) as x(content text, kind text, agent_id text)`,
        [memoryRows(MEMORIES, [null, 'assistant', 'researcher'])],
        user,
      )
      await db.query(
        `insert into memories (content, kind, agent_id) select x.content, x.kind::memory_kind, x.agent_id
           from jsonb_to_recordset($1::jsonb) as x(content text, kind text, agent_id text)`,
        [memoryRows(MEMORIES / 10, [null])],
        other,
      )

      // hash-384 vectors for every message and memory, stored as the embed worker stores them.
      const embedAll = async (table: 'messages' | 'memories') => {
        const total = (await db.query<{ n: number }>(`select count(*)::int as n from ${table} where not private.is_blank(content)`)).rows[0].n
        const b = ctx.progress(`embeddings (${table})`, total)
        let after = '00000000-0000-0000-0000-000000000000'
        for (;;) {
          const rows = (
            await db.query<{ id: string; text: string }>(
              `select id, content as text from ${table} where id > $1 and not private.is_blank(content) order by id limit 1000`,
              [after],
            )
          ).rows
          if (!rows.length) break
          after = rows.at(-1)!.id
          await db.query(
            `insert into embeddings (owner_id, source_table, source_id, model, content_hash, embedding)
             select s.owner_id, $2, s.id, 'hash-384', s.content_hash, x.e::extensions.vector
               from jsonb_to_recordset($1::jsonb) as x(id uuid, e text) join ${table} s on s.id = x.id`,
            // A text of stop words only has no hash features: the pipeline leaves it unembedded too.
            [JSON.stringify(rows.flatMap((r) => {
              try {
                return [{ id: r.id, e: JSON.stringify(hashEmbedding(r.text)) }]
              } catch {
                return []
              }
            })), table],
          )
          b.tick(rows.length)
        }
        b.done()
      }
      // The HNSW indexes are dropped for the bulk load and rebuilt after it with their own definitions (as
      // one would load a backlog; building an index once is much faster than 100k incremental inserts).
      const hnsw = (await db.query<{ name: string; def: string }>(
        `select quote_ident(indexname) as name, indexdef as def from pg_indexes
          where schemaname = 'public' and tablename = 'embeddings' and indexdef ilike '%using hnsw%'`,
      )).rows
      if (!hnsw.length) throw new Error('no HNSW index on public.embeddings')
      const [, embedMs] = await timed(async () => {
        for (const i of hnsw) await db.exec(`drop index public.${i.name}`)
        await embedAll('messages')
        await embedAll('memories')
        ctx.log(`  rebuilding ${hnsw.length} HNSW index(es)…`)
        for (const i of hnsw) await db.exec(i.def)
      })

      // The summary: everything but the newest 4,000 tokens, stored as one step through
      // util.store_summary_step (the worker's path), about 600 tokens long.
      const step = (await db.query<{ s: Record<string, unknown> }>(`select util.summary_step_input($1, 4000, 200) as s`, [threadId])).rows[0].s
      const range = (
        await db.query<{ first: string; through: string; n: number; tokens: number }>(
          `with m as (
             select created_at, id, token_count,
                    sum(token_count) over (order by created_at desc, id desc) as newer_tokens
               from messages where thread_id = $1 and role <> 'system')
           select (select private.encode_cursor('m', created_at, id) from m order by created_at, id limit 1) as first,
                  (select private.encode_cursor('m', created_at, id) from m where newer_tokens > 4000 order by created_at desc, id desc limit 1) as through,
                  (select count(*)::int from m where newer_tokens > 4000) as n,
                  (select sum(token_count)::int from m where newer_tokens > 4000) as tokens`,
          [threadId],
        )
      ).rows[0]
      const summary = text.text(450)
      const stored = (
        await db.query<{ r: { outcome: string } }>(`select util.store_summary_step($1, $2::jsonb) as r`, [
          threadId,
          JSON.stringify({
            ...step,
            summary,
            token_count: Math.ceil(summary.length / 4),
            summarized_from: range.first,
            summary_through: range.through,
            message_count: range.n,
            input_tokens: range.tokens,
            provider: 'extractive',
            model: null,
            more: false,
          }),
        ])
      ).rows[0].r
      if (stored.outcome !== 'stored') throw new Error(`the summary was not stored: ${JSON.stringify(stored)}`)

      // Working memory: the user's JSON profile under a schema, and the thread's Markdown notes.
      await db.query(
        `select update_working_memory(data => $1::jsonb, schema => $2::jsonb)`,
        [
          JSON.stringify({ name: 'Alex', city: 'Berlin', languages: ['en', 'de'], notes: text.text(120) }),
          JSON.stringify({
            type: 'object',
            properties: { name: { type: 'string' }, city: { type: 'string' }, languages: { type: 'array', items: { type: 'string' } }, notes: { type: 'string' } },
            required: ['name'],
          }),
        ],
        user,
      )
      await db.query(`select update_working_memory(scope => 'thread', thread_id => $1, markdown => $2)`, [threadId, `# Task\n\n${text.text(100)}\n`], user)

      // Nothing processes the queues here; the jobs the inserts sent are dropped before measuring.
      await db.query(`select pgmq.purge_queue('embedding_jobs')`)
      await db.exec('vacuum analyze')

      const series: Series[] = []
      const measure = async (name: string, n: number, call: (i: number) => Promise<unknown>): Promise<number[]> => {
        for (let i = 0; i < warmup; i++) await call(i)
        const b = ctx.progress(name, n)
        const out: number[] = []
        for (let i = 0; i < n; i++) {
          const [, ms] = await timed(() => call(i))
          out.push(ms)
          b.tick()
        }
        b.done()
        series.push({ name, samplesMs: out })
        return out
      }
      const vectors = new Map(queries.map((q) => [q, hashEmbedding(q)]))
      const fullOptions = (q: string) => JSON.stringify({ query: q, query_embedding: vectors.get(q), recall: true, memories: true })
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
      const full = await measure('build_context: summary, working memory, recall, memories', samples, async (i) => {
        const q = queries[i % queries.length]
        const info = (await db.query<ContextInfo>(contextSql, [threadId, fullOptions(q)], user)).rows[0]
        check(`query "${q}"`, info)
        infos.push(info)
      })
      const implicit = await measure('build_context: query = newest user message', Math.ceil(samples / 2), async () => {
        const info = (await db.query<ContextInfo>(contextSql, [threadId, JSON.stringify({ recall: true, memories: true })], user)).rows[0]
        check('newest user message', info)
      })
      const plain = await measure('build_context: summary and working memory only', Math.ceil(samples / 2), () =>
        db.query(`select token_count from build_context($1, ${BUDGET})`, [threadId], user),
      )

      // save_message with memory jobs off and on, in alternating blocks on fresh threads (so the first
      // saves of an "on" block queue extraction and summary jobs, later ones find them pending).
      const setting = (category: string, key: string, value: unknown) =>
        db.query(`update public.settings set value = $3::jsonb where category = $1 and key = $2`, [category, key, JSON.stringify(value)])
      await db.query(`insert into public.models (id, provider, display_name, context_window) values ('bench-extractor', 'openai', 'Bench', 100000)`)
      await setting('summaries', 'keep_recent_tokens', 50)
      await setting('summaries', 'threshold_tokens', 100)
      await setting('memories', 'model', 'bench-extractor')
      await setting('memories', 'extract_every_messages', 2)
      const jobs = (await db.query<{ id: string }>(
        `select t.id from generate_series(1, $1::integer) i cross join lateral create_thread(agent_id => 'assistant', name => 'backlog ' || i) t`,
        [BACKLOG],
        user,
      )).rows
      const backlog = JSON.stringify(jobs.map((j) => ({ thread_id: j.id, owner_id: user.claims!.sub, reason: 'threshold' })))
      await db.query(`select pgmq.send_batch('summary_jobs', array(select jsonb_array_elements($1::jsonb)))`, [backlog])
      await db.query(`select pgmq.send_batch('memory_extraction_jobs', array(select jsonb_array_elements($1::jsonb)))`, [backlog])
      const queued = async () =>
        (await db.query<{ n: number }>(
          `select ((pgmq.metrics('summary_jobs')).queue_length + (pgmq.metrics('memory_extraction_jobs')).queue_length)::int as n`,
        )).rows[0].n
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
        const threads = (await db.query<{ id: string }>(
          `select t.id from generate_series(1, 20) i cross join lateral create_thread(agent_id => 'assistant', name => 'saves ' || i) t`, [], user)).rows.map((r) => r.id)
        for (let i = 0; i < 5; i++) await db.query(`select id from save_message($1, 'user', 'warm-up')`, [threads[i]], user)
        for (let i = 0; i < perBlock; i++) {
          const content = text.text(text.int(20, 40))
          const [, ms] = await timed(() => db.query(`select id from save_message($1, 'user', $2)`, [threads[i % threads.length], content], user))
          ;(on ? savesOn : savesOff).push(ms)
          b.tick()
        }
      }
      b.done()
      const sent = (await queued()) - before
      if (sent <= 0) throw new Error('the saves with memory jobs on queued no job: the second figure would measure nothing')
      series.push({ name: 'save_message, jobs off', samplesMs: savesOff }, { name: 'save_message, jobs on and queued', samplesMs: savesOn })
      const p50 = (ms: number[]) => summarize(ms).p50
      const half = (ms: number[], k: number) => ms.filter((_, i) => Math.floor(i / perBlock) % 2 === k)

      const avg = (k: keyof ContextInfo) => (infos.reduce((s, x) => s + Number(x[k]), 0) / infos.length).toFixed(1)
      return {
        figures: [
          ...latencyFigures(`build_context 8k, all parts, ${THREAD_MESSAGES / 1000}k messages`, full, 30),
          ...latencyFigures('build_context 8k, all parts, query = newest user message', implicit),
          ...latencyFigures('build_context 8k, summary + working memory only', plain),
          ...latencyFigures('save_message, memory jobs off', savesOff),
          ...latencyFigures('save_message, memory jobs on and queued', savesOn),
          { name: 'save_message p50 jobs on / off', value: p50(savesOn) / p50(savesOff), unit: '×', target: { op: '<=', value: 1.1 } },
          { name: 'save_message p50 noise: jobs-off blocks, odd / even', value: p50(half(savesOff, 1)) / p50(half(savesOff, 0)), unit: '×' },
        ],
        series,
        notes: [
          `thread of ${THREAD_MESSAGES.toLocaleString('en')} messages (seeded in ${(seedMs / 1000).toFixed(0)} s) and ${MEMORIES.toLocaleString('en')} memories of the user (+${MEMORIES / 10} of another user); embeddings stored and HNSW-indexed in ${(embedMs / 1000).toFixed(0)} s`,
          `summary through ${range.n.toLocaleString('en')} messages (${range.tokens.toLocaleString('en')} tokens), ~${Math.ceil(summary.length / 4)} tokens; working memory: the user's JSON (with schema) and the thread's Markdown`,
          `all parts per call (averages): ${avg('recalled')} recalled, ${avg('memories')} memories, ${avg('working_memory')} working-memory blocks, ${avg('messages')} recent messages, ${avg('token_count')} of ${BUDGET} tokens`,
          `${samples} samples of the main figure after ${warmup} warm-up calls; queries of 2–4 words from stored messages, with their hash-384 vectors`,
          `save_message: ${blocks} blocks of ${perBlock} saves each way, alternating, each block on 20 fresh threads; backlog ${BACKLOG.toLocaleString('en')} jobs per queue; the "on" saves queued ${sent} more jobs (threshold 100 tokens, extraction every 2 messages)`,
        ],
      }
    } finally {
      await fresh.close()
    }
  },
}
