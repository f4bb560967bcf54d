// Benchmark `observability`, on one stack (its workdir adds `embed-untraced`: the embed handler without the
// tracing hook, served by the same Deno process):
//   1. embed throughput with tracing on and off in the same run: the embedding cron is paused, a backlog is
//      queued, and blocks of embed requests (batch_size 100) alternate between `embed` (traced) and
//      `embed-untraced`. A traced block's time runs until its traces are stored — the write after the
//      response is counted against tracing. Overhead = 1 − traced / untraced jobs per second. Target ≤ 5%.
//   2. OTLP ingest: 512-span export requests (protobuf, encoded with the same generated OpenTelemetry code the
//      exporters' format comes from; a fifth of the spans are model calls with tokens), four in flight, as a
//      signed-in user through /functions/v1/otlp/v1/traces; spans stored per second. Target ≥ 2,000/s.
//   3. rate_limit_hit: one call per transaction as a signed-in user on one key (the contended case), in
//      process on a migrated database of its own (no stack workers sharing its one session), with the role
//      and claims PostgREST sets; p95. Target ≤ 2 ms.
import { randomUUID } from 'node:crypto'
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import otlpRoot from '@opentelemetry/otlp-transformer/build/src/generated/root.js'
import { loadConfig, ROOT } from '../../stack/core/config.ts'
import type { Identity } from '../../stack/core/identity.ts'
import { signAccessToken } from '../../stack/core/jwt.ts'
import { startStack } from '../../stack/stack.ts'
import { freshDatabase } from '../lib/fresh-db.ts'
import { latencyFigures, type BenchReport } from './lib.ts'
import type { Bench } from './section.ts'

const BATCH = 100
const BLOCK = 5
const SPANS_PER_EXPORT = 512
const IN_FLIGHT = 4

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const hex = (n: number) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, '0')).join('')
const bytes = (h: string) => Uint8Array.from(h.match(/../g)!.map((x) => parseInt(x, 16)))

interface MessageType {
  fromObject(o: unknown): unknown
  encode(m: unknown): { finish(): Uint8Array }
}
const ExportTraceServiceRequest = (otlpRoot as unknown as {
  opentelemetry: { proto: { collector: { trace: { v1: Record<string, MessageType> } } } }
}).opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest

/** One export request: 64 traces of 8 spans (root, 7 children; every fifth span a model call). */
function exportBody(): Uint8Array {
  const now = BigInt(Date.now()) * 1_000_000n
  const spans = []
  for (let t = 0; t < SPANS_PER_EXPORT / 8; t++) {
    const traceId = bytes(hex(16))
    const root = hex(8)
    for (let s = 0; s < 8; s++) {
      const model = (t * 8 + s) % 5 === 0
      spans.push({
        traceId,
        spanId: bytes(s === 0 ? root : hex(8)),
        ...(s === 0 ? {} : { parentSpanId: bytes(root) }),
        name: model ? 'chat gpt-4o-mini' : s === 0 ? 'agent.run' : `step.${s}`,
        kind: model ? 3 : s === 0 ? 2 : 1,
        startTimeUnixNano: String(now + BigInt(s * 1_000_000)),
        endTimeUnixNano: String(now + BigInt(s * 1_000_000 + 800_000)),
        attributes: model
          ? [
            { key: 'gen_ai.request.model', value: { stringValue: 'gpt-4o-mini' } },
            { key: 'gen_ai.usage.input_tokens', value: { intValue: 812 } },
            { key: 'gen_ai.usage.output_tokens', value: { intValue: 96 } },
          ]
          : [{ key: 'step.index', value: { intValue: s } }],
      })
    }
  }
  const request = {
    resourceSpans: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'bench-agent' } }] },
      scopeSpans: [{ scope: { name: 'bench' }, spans }],
    }],
  }
  return ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject(request)).finish()
}

export const observability: Bench = {
  name: 'observability',
  slow: true,
  description: 'tracing overhead on embed throughput (on vs off, same run), OTLP ingest spans/s, rate_limit_hit latency',
  async run(ctx): Promise<BenchReport> {
    const backlog = ctx.quick ? 3000 : 4000
    const exports = ctx.quick ? 12 : 40
    const samples = ctx.quick ? 500 : 2000
    // 3 first, on its own database.
    const latencies: number[] = []
    {
      const fresh = await freshDatabase()
      try {
        const id = randomUUID()
        await fresh.db.query(`insert into auth.users (id, aud, role, email) values ($1, 'authenticated', 'authenticated', $2)`, [id, `bench-${id.slice(0, 8)}@bench.local`])
        const who: Identity = { role: 'authenticated', claims: { sub: id, role: 'authenticated', aud: 'authenticated' } }
        const bar = ctx.progress('rate_limit_hit, one per transaction', samples + 50)
        for (let i = 0; i < samples + 50; i++) {
          const t0 = performance.now()
          await fresh.db.query(`select (public.rate_limit_hit('bench:hot', 1000000000, 60)).allowed`, [], who)
          if (i >= 50) latencies.push(performance.now() - t0)
          bar.tick()
        }
        bar.done()
      } finally {
        await fresh.close()
      }
    }

    const workdir = mkdtempSync(join(tmpdir(), 'agent-memory-bench-workdir-'))
    cpSync(join(ROOT, 'supabase'), join(workdir, 'supabase'), { recursive: true, filter: (src) => !src.includes('/.temp') })
    mkdirSync(join(workdir, 'supabase', 'functions', 'embed-untraced'), { recursive: true })
    writeFileSync(join(workdir, 'supabase', 'functions', 'embed-untraced', 'handler.ts'),
      `// The embed handler without the tracing hook (benchmark only).\nimport { createHandler } from '../embed/handler.ts'\n\nexport const handler = createHandler()\n`)
    writeFileSync(join(workdir, 'supabase', 'functions', 'embed-untraced', 'index.ts'), `import { handler } from './handler.ts'\n\nDeno.serve(handler)\n`)
    const dataDir = mkdtempSync(join(tmpdir(), 'agent-memory-bench-'))
    const config = loadConfig(['--data-dir', dataDir, '--workdir', workdir, '--api-port', '0', '--db-port', '0', '--quiet'], {})
    const stack = await startStack(config)
    const notes: string[] = []
    try {
      const userId = randomUUID()
      await stack.db.query(`insert into auth.users (id, aud, role, email) values ($1, 'authenticated', 'authenticated', $2)`, [userId, `bench-${userId.slice(0, 8)}@bench.local`])
      const user: Identity = { role: 'authenticated', claims: { sub: userId, role: 'authenticated', aud: 'authenticated' } }
      const token = await signAccessToken({ sub: userId }, { expiresIn: '2h' })
      // The benchmark is one very busy user: no rate limits in its way.
      await stack.db.query(`update public.settings set value = 'null' where category = 'rate_limits'`)

      // 1. embed with tracing on and off.
      // The embed function is called by hand below; the LibSQL mirror's every-second job would otherwise copy
      // each embedded block to LibSQL in the same edge runtime meanwhile (its vector index inserts cost more
      // than the embedding), which is noise for a figure about tracing.
      await stack.db.query(`select cron.unschedule(j) from unnest(array['process-embeddings', 'process-libsql-mirror']) j`)
      const thread = (await stack.db.query<{ id: string }>(`select id from create_thread(name => 'bench')`, [], user)).rows[0].id
      for (let i = 0; i < backlog; i += 1000) {
        const contents = Array.from({ length: Math.min(1000, backlog - i) }, (_, k) =>
          `message ${i + k}: the user asks about ${['lisbon food markets', 'porto wine cellars', 'hiking in the azores'][k % 3]} and item ${(i + k) * 7}`)
        await stack.db.query(`select count(*) from save_messages($1, $2::json)`, [thread, JSON.stringify(contents.map((content) => ({ role: 'user', content })))], user)
      }
      const embedTraces = async () => Number((await stack.db.query<{ n: number }>(`select count(*)::int as n from public.traces where service = 'embed'`)).rows[0].n)
      const call = async (fn: string) => {
        const res = await fetch(`${stack.apiUrl}/functions/v1/${fn}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${config.serviceRoleKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ batch_size: BATCH }),
        })
        const report = (await res.json()) as { done?: number[] }
        if (res.status !== 207) throw new Error(`${fn} answered ${res.status}: ${JSON.stringify(report)}`)
        return report.done?.length ?? 0
      }
      // Warm both (the first request loads the function and the tokenizer).
      await call('embed')
      await call('embed-untraced')
      const totals = { traced: { jobs: 0, ms: 0 }, untraced: { jobs: 0, ms: 0 } }
      const bar = ctx.progress('embed blocks, tracing on / off', Math.ceil(backlog / BATCH))
      for (let round = 0; ; round++) {
        // ABBA order, so neither variant always runs first after the other's writes.
        const order: ('traced' | 'untraced')[] = round % 2 === 0 ? ['traced', 'untraced'] : ['untraced', 'traced']
        let done = 0
        for (const variant of order) {
          const before = variant === 'traced' ? await embedTraces() : 0
          const t = performance.now()
          let jobs = 0
          for (let i = 0; i < BLOCK; i++) {
            const n = await call(variant === 'traced' ? 'embed' : 'embed-untraced')
            jobs += n
            bar.tick()
          }
          if (variant === 'traced') {
            while ((await embedTraces()) < before + BLOCK) await sleep(2)
          }
          totals[variant].ms += performance.now() - t
          totals[variant].jobs += jobs
          done += jobs
        }
        if (done < 2 * BLOCK * BATCH) break
      }
      bar.done()
      const rate = (v: { jobs: number; ms: number }) => v.jobs / (v.ms / 1000)
      const overhead = (1 - rate(totals.traced) / rate(totals.untraced)) * 100
      if (!ctx.quick) notes.push(`embed backlog ${backlog.toLocaleString('en')} jobs (8,000 before the bench became one 25-minute run)`)
      notes.push(`embed: traced ${totals.traced.jobs} jobs at ${rate(totals.traced).toFixed(0)}/s, untraced ${totals.untraced.jobs} at ${rate(totals.untraced).toFixed(0)}/s (blocks of ${BLOCK} × ${BATCH}, alternating)`)

      // 2. OTLP ingest.
      const bodies = Array.from({ length: exports }, exportBody)
      // The exported spans only (the otlp function's own traces are source 'function').
      const exportedSpans = async () =>
        Number((await stack.db.query<{ n: number }>(
          `select count(*)::int as n from public.spans s join public.traces t on t.id = s.trace where t.owner_id = $1 and t.source = 'otlp'`, [userId],
        )).rows[0].n)
      const spansBefore = await exportedSpans()
      const exportBar = ctx.progress(`OTLP exports of ${SPANS_PER_EXPORT} spans, ${IN_FLIGHT} in flight`, exports)
      let next = 0
      const t = performance.now()
      await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
        while (next < bodies.length) {
          const body = bodies[next++]
          const res = await fetch(`${stack.apiUrl}/functions/v1/otlp/v1/traces`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, apikey: config.anonKey, 'content-type': 'application/x-protobuf' },
            body: body as Uint8Array<ArrayBuffer>,
          })
          if (res.status !== 200) throw new Error(`otlp answered ${res.status}: ${await res.text()}`)
          await res.arrayBuffer()
          exportBar.tick()
        }
      }))
      const seconds = (performance.now() - t) / 1000
      exportBar.done()
      const stored = (await exportedSpans()) - spansBefore
      if (stored !== exports * SPANS_PER_EXPORT) notes.push(`otlp: ${stored} spans stored of ${exports * SPANS_PER_EXPORT} sent`)
      notes.push(`otlp: ${exports} requests × ${SPANS_PER_EXPORT} spans in ${seconds.toFixed(1)} s`)

      return {
        figures: [
          { name: 'embed throughput, tracing off', value: rate(totals.untraced), unit: 'jobs/s' },
          { name: 'embed throughput, tracing on', value: rate(totals.traced), unit: 'jobs/s' },
          { name: 'tracing overhead on embed throughput', value: overhead, unit: '%', target: { op: '<=', value: 5 } },
          { name: 'OTLP ingest', value: stored / seconds, unit: 'spans/s', target: { op: '>=', value: 2000 } },
          ...latencyFigures('rate_limit_hit', latencies, 2),
        ],
        series: [{ name: 'rate_limit_hit', samplesMs: latencies }],
        notes,
      }
    } finally {
      await stack.stop()
      rmSync(dataDir, { recursive: true, force: true })
      rmSync(workdir, { recursive: true, force: true })
    }
  },
}
