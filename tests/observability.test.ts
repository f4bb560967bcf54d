// Observability through a whole stack: every Edge Function call (ingest, search, the embed calls the
// pipeline makes, otlp) leaves a trace with its spans, tokens and cost, readable by its owner only, and is
// exported to an OTLP collector on loopback (OTEL_EXPORTER_OTLP_ENDPOINT); spans from the real OpenTelemetry
// exporters (OTLP/HTTP JSON and protobuf) and from the AI SDK's telemetry arrive parented; bad OTLP bodies
// are refused and write nothing; rate limits are exact under 20 concurrent callers (RPCs, the search function,
// rate_limit_hit) and answer 429 with Retry-After; a used-up quota answers 429 until its window passes.
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { context, SpanKind, SpanStatusCode, trace as otelTrace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { generateText } from 'ai'
import { MockLanguageModelV3 } from 'ai/test'
import { createMemory, MemoryError } from '../client/index.ts'
import { FakeChat } from '../supabase/functions/tests/fake-chat.ts'
import { OtlpCollector } from './helpers/otlp-collector.ts'
import { ANON_KEY, createUser, makeWorkdir, startTestStack, waitFor, type TestStack, type TestUser } from './helpers/stack.ts'

interface Reply {
  status: number
  headers: Headers
  body: any
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Waits until at least `margin` seconds remain in the current fixed window of `windowSeconds`. */
async function awayFromWindowEnd(windowSeconds: number, margin: number): Promise<void> {
  const into = (Date.now() / 1000) % windowSeconds
  if (windowSeconds - into < margin) await sleep((windowSeconds - into + 0.2) * 1000)
}

describe('observability through the stack', () => {
  let stack: TestStack
  let alice: TestUser
  let bob: TestUser
  let chat: FakeChat
  let collector: OtlpCollector
  const otlpUrl = () => `${stack.apiUrl}/functions/v1/otlp/v1/traces`

  async function post(path: string, token: string, body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
    const res = await fetch(`${stack.apiUrl}${path}`, {
      method: 'POST',
      headers: { apikey: ANON_KEY, authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' || body instanceof Uint8Array ? (body as BodyInit) : JSON.stringify(body),
    })
    const text = await res.text()
    let parsed: unknown = text
    try {
      parsed = JSON.parse(text)
    } catch {
      // not JSON
    }
    return { status: res.status, headers: res.headers, body: parsed }
  }

  const setting = (category: string, key: string, value: unknown) =>
    stack.db.query(`update public.settings set value = $3::jsonb where category = $1 and key = $2`, [category, key, JSON.stringify(value)])

  const rows = async <T = any>(sql: string, params: unknown[] = []) => (await stack.db.query<T>(sql, params)).rows

  before(async () => {
    collector = await OtlpCollector.start()
    chat = await FakeChat.start()
    const workdir = makeWorkdir()
    // The functions export their spans to the loopback collector, as a project would to its own backend.
    writeFileSync(
      join(workdir, 'supabase', 'functions', '.env'),
      `CHAT_TEST_KEY=sk-e2e-not-a-real-key\nOTEL_EXPORTER_OTLP_ENDPOINT=${collector.url}\nOTEL_EXPORTER_OTLP_HEADERS=x-collector-token=e2e%20token\n`,
    )
    stack = await startTestStack({ workdir })
    alice = await createUser(stack, 'alice')
    bob = await createUser(stack, 'bob')
    // hash-384 is free; a price makes the embedding spans' cost observable.
    await stack.db.query(`update public.embedding_models set input_price_per_mtok = 0.02 where name = 'hash-384'`)
    for (const [key, value] of Object.entries({ chat_model: 'gpt-4o-mini', chat_base_url: chat.baseUrl, chat_api_key_env: 'CHAT_TEST_KEY' })) {
      await setting('search', key, value)
    }
  })
  after(async () => {
    await stack?.close()
    await chat?.close()
    await collector?.close()
  })

  it('records a trace with spans, tokens and cost for every Edge Function call, for its owner only, and exports it', async () => {
    const ingested = await post('/functions/v1/ingest', alice.token, {
      content: '# Billing\n\n## Refunds\n\nRefunds are issued within 30 days of the purchase to the original card.',
      title: 'Handbook',
    })
    assert.equal(ingested.status, 200, JSON.stringify(ingested.body))
    const documentId = ingested.body.document.id
    // The pipeline embeds the chunks: cron → pg_net → the embed function, traced like any other call.
    await waitFor(async () => {
      const [r] = await rows<{ pending: number }>(
        `select count(*)::int as pending from public.document_chunks c
          where c.document_id = $1 and not exists (select from public.embeddings e where e.source_id = c.id)`,
        [documentId],
      )
      return r.pending === 0
    }, 60_000, 250)
    const searched = await post('/functions/v1/search', alice.token, { query: 'refunds', hyde: true, k: 3 })
    assert.equal(searched.status, 200, JSON.stringify(searched.body))
    assert.equal(searched.body.steps.hyde.status, 'ok')
    const refused = await post('/functions/v1/search', alice.token, { k: 3 })
    assert.equal(refused.status, 400)

    // One trace per call, written after the response.
    const traces = await waitFor(async () => {
      const t = await rows(`select * from public.traces where source = 'function' and service in ('ingest', 'search') order by started_at`)
      return t.length === 3 ? t : null
    }, 20_000)
    assert.deepEqual(traces.map((t) => [t.service, t.name, t.owner_id]), [
      ['ingest', 'POST /ingest', alice.id],
      ['search', 'POST /search', alice.id],
      ['search', 'POST /search', alice.id],
    ])
    const spansOf = (id: string) => rows(`select * from public.spans where trace = $1 order by started_at, id`, [id])

    const search = await spansOf(traces[1].id)
    const names = search.map((s) => s.name)
    for (const n of ['POST /search', 'rpc check_limits', 'select settings', 'chat gpt-4o-mini', 'embeddings hash-384', 'rpc hybrid_search']) {
      assert.ok(names.includes(n), `the search trace has a span "${n}" (got ${names.join(', ')})`)
    }
    const root = search.find((s) => s.parent_span_id === null)!
    assert.equal(root.name, 'POST /search')
    assert.equal(root.kind, 'server')
    assert.equal(root.attributes['http.response.status_code'], 200)
    const ids = new Set(search.map((s) => s.span_id))
    assert.ok(search.every((s) => s === root || ids.has(s.parent_span_id)), 'every other span has its parent in the trace')
    const chatSpan = search.find((s) => s.name === 'chat gpt-4o-mini')!
    assert.deepEqual([chatSpan.model, chatSpan.input_tokens, chatSpan.output_tokens], ['gpt-4o-mini', 1, 1])
    assert.equal(Number(chatSpan.cost_usd), 0.00000075, 'cost = 1 × 0.15 + 1 × 0.60 USD per million tokens')
    const embedSpan = search.find((s) => s.name === 'embeddings hash-384')!
    assert.ok(embedSpan.input_tokens > 0, 'the query embedding has its token count')
    assert.equal(Number(embedSpan.cost_usd), Number(((embedSpan.input_tokens * 0.02) / 1e6).toFixed(8)))
    assert.equal(embedSpan.attributes['embeddings.batch_size'], 1)
    assert.equal(Number(traces[1].input_tokens), search.reduce((n, s) => n + (s.input_tokens ?? 0), 0))
    assert.equal(Number(traces[1].cost_usd).toFixed(8), search.reduce((n, s) => n + Number(s.cost_usd ?? 0), 0).toFixed(8))
    assert.equal(traces[1].span_count, search.length)
    assert.equal(traces[2].span_count >= 1 && (await spansOf(traces[2].id))[0].attributes['http.response.status_code'], 400)

    const ingest = await spansOf(traces[0].id)
    assert.ok(ingest.some((s) => s.name === 'chunk' && s.attributes['chunk.count'] === 1))
    assert.ok(ingest.some((s) => s.name === 'rpc ingest_document' && s.kind === 'client'))

    // Every embed call pg_net made has a trace (owner: none, the worker runs as service_role).
    const embeds = await waitFor(async () => {
      const [{ calls }] = await rows<{ calls: number }>(`select count(*)::int as calls from net._http_response where status_code = 207`)
      const t = await rows(`select * from public.traces where service = 'embed'`)
      return calls > 0 && t.length === calls ? t : null
    }, 20_000)
    assert.ok(embeds.every((t) => t.owner_id === null))
    const embedSpans = await rows(`select s.* from public.spans s join public.traces t on t.id = s.trace
                                    where t.service = 'embed' and s.name = 'embeddings hash-384'`)
    assert.ok(embedSpans.length > 0 && embedSpans.every((s) => s.input_tokens > 0 && Number(s.cost_usd) > 0 && s.attributes['embeddings.batch_size'] > 0))
    const [{ done }] = await rows<{ done: number }>(
      `select coalesce(sum((s.attributes ->> 'embed.jobs_done')::int), 0)::int as done from public.spans s
         join public.traces t on t.id = s.trace where t.service = 'embed' and s.parent_span_id is null`,
    )
    assert.ok(done >= 1, 'the embed traces report the jobs they completed')

    // Row level security: Alice reads her own traces and spans, Bob none, nobody the worker's.
    const mine = await alice.client.from('traces').select('id, service')
    assert.ifError(mine.error)
    assert.deepEqual(mine.data!.map((t) => t.service).sort(), ['ingest', 'search', 'search'])
    const theirs = await bob.client.from('traces').select('id')
    assert.deepEqual(theirs.data, [])
    const bobSpans = await bob.client.from('spans').select('id').eq('trace', traces[1].id)
    assert.deepEqual(bobSpans.data, [])

    // OTLP out: the same spans reached the collector, parented the same, as protobuf with the configured header.
    const exported = await waitFor(() => {
      const got = collector.spans.filter((s) => s.traceId === traces[1].trace_id)
      return got.length === search.length ? got : null
    }, 10_000)
    assert.deepEqual(exported.map((s) => s.spanId).sort(), search.map((s) => s.span_id).sort())
    for (const s of search) assert.equal(exported.find((e) => e.spanId === s.span_id)!.parentSpanId, s.parent_span_id)
    assert.ok(exported.every((s) => s.service === 'search' && s.contentType === 'application/x-protobuf'))
    assert.equal(exported.find((s) => s.name === 'chat gpt-4o-mini')!.attributes['gen_ai.usage.input_tokens'], 1)
    assert.ok(collector.requests.every((r) => r.headers['x-collector-token'] === 'e2e token'))
  })

  async function exportWith(exporterKind: 'json' | 'protobuf', token: string) {
    const options = { url: otlpUrl(), headers: { Authorization: `Bearer ${token}`, apikey: ANON_KEY } }
    const exporter = exporterKind === 'json' ? new JsonExporter(options) : new ProtoExporter(options)
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': `agent-${exporterKind}` }),
      spanProcessors: [new BatchSpanProcessor(exporter)],
    })
    return provider
  }

  it('stores what the real OpenTelemetry exporters send, in JSON and in protobuf, parented, with model cost', async () => {
    for (const kind of ['json', 'protobuf'] as const) {
      const provider = await exportWith(kind, alice.token)
      const tracer = provider.getTracer('e2e-agent')
      const root = tracer.startSpan('agent.run', { kind: SpanKind.SERVER })
      const rootCtx = otelTrace.setSpan(context.active(), root)
      const call = tracer.startSpan('chat gpt-4o', {
        kind: SpanKind.CLIENT,
        attributes: { 'gen_ai.request.model': 'gpt-4o', 'gen_ai.system': 'openai', 'gen_ai.usage.input_tokens': 1000, 'gen_ai.usage.output_tokens': 100 },
      }, rootCtx)
      const tool = tracer.startSpan('tool.lookup', {}, otelTrace.setSpan(rootCtx, call))
      tool.addEvent('cache miss', { key: 'weather' })
      tool.setStatus({ code: SpanStatusCode.ERROR, message: 'not found' })
      tool.end()
      call.end()
      root.end()
      await provider.forceFlush()
      await provider.shutdown()

      const traceId = root.spanContext().traceId
      const [t] = await rows(`select * from public.traces where trace_id = $1`, [traceId])
      assert.ok(t, `${kind}: the trace arrived`)
      assert.deepEqual([t.owner_id, t.source, t.service, t.name, t.span_count, t.error_count, t.status],
        [alice.id, 'otlp', `agent-${kind}`, 'agent.run', 3, 1, 'error'])
      assert.deepEqual([Number(t.input_tokens), Number(t.output_tokens), Number(t.cost_usd)], [1000, 100, 0.0035],
        'cost = 1000 × 2.50 + 100 × 10.00 USD per million tokens (gpt-4o)')
      const spans = await rows(`select * from public.spans where trace = $1`, [t.id])
      const byName = Object.fromEntries(spans.map((s) => [s.name, s]))
      assert.equal(byName['agent.run'].parent_span_id, null)
      assert.equal(byName['agent.run'].span_id, root.spanContext().spanId)
      assert.equal(byName['chat gpt-4o'].parent_span_id, root.spanContext().spanId)
      assert.equal(byName['tool.lookup'].parent_span_id, call.spanContext().spanId)
      assert.deepEqual([byName['chat gpt-4o'].kind, byName['chat gpt-4o'].model, byName['chat gpt-4o'].provider], ['client', 'gpt-4o', 'openai'])
      assert.deepEqual([byName['tool.lookup'].status, byName['tool.lookup'].status_message, byName['tool.lookup'].scope], ['error', 'not found', 'e2e-agent'])
      const events = await rows(`select name, attributes from public.events where trace = $1`, [t.id])
      assert.deepEqual(events, [{ name: 'cache miss', attributes: { key: 'weather' } }])
      const seen = await alice.client.from('spans').select('id').eq('trace', t.id)
      assert.equal(seen.data!.length, 3)
      assert.deepEqual((await bob.client.from('spans').select('id').eq('trace', t.id)).data, [])
    }
    // The otlp function traced itself too, as the exporting user's call.
    const own = await waitFor(async () => (await rows(`select * from public.traces where source = 'function' and service = 'otlp'`)).length >= 2)
    assert.ok(own)
  })

  it("takes the AI SDK's telemetry and counts each model call's tokens once", async () => {
    // As an app's OpenTelemetry setup does (NodeSDK registers one): without a context manager the AI SDK's
    // inner spans would start traces of their own.
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
    const provider = await exportWith('protobuf', alice.token)
    const model = new MockLanguageModelV3({
      provider: 'openai.chat',
      modelId: 'gpt-4o-mini',
      doGenerate: async () => ({
        content: [{ type: 'text', text: 'Lisbon has great food markets.' }],
        finishReason: { unified: 'stop', raw: 'stop' },
        usage: {
          inputTokens: { total: 120, noCache: 120, cacheRead: 0, cacheWrite: 0 },
          outputTokens: { total: 30, text: 30, reasoning: 0 },
        },
        warnings: [],
      }),
    })
    const result = await generateText({
      model,
      prompt: 'Where should I eat in Lisbon?',
      experimental_telemetry: { isEnabled: true, tracer: provider.getTracer('ai'), functionId: 'plan-trip' },
    })
    assert.equal(result.text, 'Lisbon has great food markets.')
    await provider.forceFlush()
    await provider.shutdown()
    context.disable()
    const [t] = await rows(`select * from public.traces where source = 'otlp' and name = 'ai.generateText' order by started_at desc limit 1`)
    assert.ok(t, 'the AI SDK trace arrived')
    const spans = await rows(`select * from public.spans where trace = $1`, [t.id])
    const inner = spans.find((s) => s.name === 'ai.generateText.doGenerate')
    assert.ok(inner, `an inner model call span (got ${spans.map((s) => s.name).join(', ')})`)
    assert.deepEqual([inner.model, inner.input_tokens, inner.output_tokens], ['gpt-4o-mini', 120, 30])
    assert.equal(inner.parent_span_id, spans.find((s) => s.name === 'ai.generateText')!.span_id)
    assert.deepEqual([Number(t.input_tokens), Number(t.output_tokens)], [120, 30], 'the outer span repeats the usage and is not counted again')
    assert.equal(Number(t.cost_usd), 0.000036, '120 × 0.15 + 30 × 0.60 USD per million tokens')
  })

  it('refuses malformed, oversized and non-OTLP bodies with 400/413/415 and writes none of their spans', async () => {
    const count = async () => (await rows<{ n: number }>(`select count(*)::int as n from public.spans where owner_id = $1 and scope is distinct from 'agent-memory'`, [bob.id]))[0].n
    const validSpan = {
      traceId: 'ab'.repeat(16),
      spanId: 'cd'.repeat(8),
      name: 'ok span',
      startTimeUnixNano: '1700000000000000000',
      endTimeUnixNano: '1700000000100000000',
    }
    const request = (spans: unknown[]) => ({ resourceSpans: [{ scopeSpans: [{ spans }] }] })

    let r = await post('/functions/v1/otlp/v1/traces', bob.token, '{"resourceSpans": [')
    assert.equal(r.status, 400)
    assert.equal(r.body.error.code, 'invalid_otlp')
    assert.match(r.body.error.message, /not valid UTF-8 JSON/)

    // A bad span next to a good one: the whole request is refused.
    r = await post('/functions/v1/otlp/v1/traces', bob.token, request([validSpan, { ...validSpan, spanId: 'ef'.repeat(8), traceId: 'q'.repeat(32) }]))
    assert.equal(r.status, 400)
    assert.match(r.body.error.message, /^resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[1\]\.traceId: must be 32 hex digits/)

    r = await post('/functions/v1/otlp/v1/traces', bob.token, new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]), {
      'content-type': 'application/x-protobuf',
    })
    assert.equal(r.status, 400)
    assert.match(r.body.error.message, /not a protobuf ExportTraceServiceRequest/)

    r = await post('/functions/v1/otlp/v1/traces', bob.token, JSON.stringify(request([validSpan])), { 'content-type': 'text/plain' })
    assert.equal(r.status, 415)
    assert.match(r.body.error.message, /application\/x-protobuf or application\/json/)
    r = await post('/functions/v1/otlp/v1/traces', bob.token, JSON.stringify(request([validSpan])), { 'content-encoding': 'br' })
    assert.equal(r.status, 415)

    const big = JSON.stringify(request([{ ...validSpan, name: 'x'.repeat(6 * 1024 * 1024) }]))
    r = await post('/functions/v1/otlp/v1/traces', bob.token, big)
    assert.equal(r.status, 413)
    assert.equal(r.body.error.code, 'payload_too_large')

    const get = await fetch(otlpUrl(), { headers: { apikey: ANON_KEY, authorization: `Bearer ${bob.token}` } })
    assert.equal(get.status, 405)
    await get.body?.cancel()
    r = await post('/functions/v1/otlp/v1/metrics', bob.token, request([validSpan]))
    assert.equal(r.status, 404)
    assert.equal(await count(), 0, 'no span of a refused request was stored')

    // The same span, well formed, is stored — the checks above refused the requests, not the span.
    r = await post('/functions/v1/otlp/v1/traces', bob.token, request([validSpan]))
    assert.equal(r.status, 200)
    assert.deepEqual(r.body, {})
    assert.equal(await count(), 1)
  })

  describe('rate limits and quotas', () => {
    it('lets exactly `limit` of 20 concurrent RPC calls through; the others get 429 with Retry-After, also in the SDK', async () => {
      const carol = await createUser(stack, 'carol')
      await setting('rate_limits', 'search_rpc', { limit: 10, window_seconds: 60 })
      try {
        await awayFromWindowEnd(60, 10)
        const replies = await Promise.all(Array.from({ length: 20 }, () => post('/rest/v1/rpc/bm25_search', carol.token, { query_text: 'refunds' })))
        const ok = replies.filter((r) => r.status === 200)
        const limited = replies.filter((r) => r.status === 429)
        assert.equal(ok.length, 10, `statuses: ${replies.map((r) => r.status).join(' ')}`)
        assert.equal(limited.length, 10)
        for (const r of limited) {
          assert.equal(r.body.code, 'PT429')
          assert.match(r.body.message, /rate limit search_rpc exceeded: 10 calls per 60 s/)
          const wait = Number(r.headers.get('retry-after'))
          assert.ok(wait >= 1 && wait <= 60, `Retry-After ${wait}`)
          assert.equal(JSON.parse(r.body.details).retry_after_seconds, wait)
        }
        const view = await carol.client.from('rate_limits').select('key, limit, used, remaining').eq('key', 'rule:search_rpc')
        assert.deepEqual(view.data, [{ key: 'rule:search_rpc', limit: 10, used: 10, remaining: 0 }], 'the refused calls rolled back their hits')

        const memory = createMemory({ supabase: carol.client })
        await assert.rejects(memory.hybridSearch('refunds'), (err: unknown) => {
          assert.ok(err instanceof MemoryError)
          assert.equal(err.code, 'rate_limited')
          assert.equal(err.status, 429)
          assert.ok(err.retryAfterSeconds! >= 1 && err.retryAfterSeconds! <= 60)
          return true
        })
      } finally {
        await setting('rate_limits', 'search_rpc', { limit: 1200, window_seconds: 60 })
      }
    })

    it('lets exactly `limit` of 20 concurrent search function calls through; the others get 429 with Retry-After', async () => {
      const dave = await createUser(stack, 'dave')
      await setting('rate_limits', 'search', { limit: 5, window_seconds: 60 })
      try {
        await awayFromWindowEnd(60, 15)
        const replies = await Promise.all(Array.from({ length: 20 }, () => post('/functions/v1/search', dave.token, { query: 'refunds', mode: 'bm25' })))
        assert.equal(replies.filter((r) => r.status === 200).length, 5, `statuses: ${replies.map((r) => r.status).join(' ')}`)
        const limited = replies.filter((r) => r.status === 429)
        assert.equal(limited.length, 15)
        for (const r of limited) {
          assert.equal(r.body.error.code, 'rate_limited')
          const wait = Number(r.headers.get('retry-after'))
          assert.ok(wait >= 1 && wait <= 60, `Retry-After ${wait}`)
        }
      } finally {
        await setting('rate_limits', 'search', { limit: 300, window_seconds: 60 })
      }
    })

    it('rate_limit_hit is exact under 20 concurrent callers and refuses a bad key or window', async () => {
      const erin = await createUser(stack, 'erin')
      const hits = await Promise.all(Array.from({ length: 20 }, () => erin.client.rpc('rate_limit_hit', { key: 'app:e2e', limit: 7, window_seconds: 3600 })))
      for (const h of hits) assert.ifError(h.error)
      assert.equal(hits.filter((h) => h.data.allowed).length, 7)
      assert.deepEqual(hits.map((h) => h.data.hits).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1))
      // Another user's counter of the same key is their own.
      const other = await bob.client.rpc('rate_limit_hit', { key: 'app:e2e', limit: 7, window_seconds: 3600 })
      assert.deepEqual([other.data.allowed, other.data.hits], [true, 1])

      for (const [args, message] of [
        [{ key: '', limit: 1, window_seconds: 60 }, /^key must be 1 to 200 characters/],
        [{ key: 'app:x', limit: 1, window_seconds: 0 }, /^window_seconds must be a whole number from 1 to 2592000/],
        [{ key: 'app:x', limit: 0, window_seconds: 60 }, /^limit must be a whole number from 1 to 1000000000/],
        [{ key: 'rule:search', limit: 1, window_seconds: 60 }, /belong to the configured limits/],
      ] as const) {
        const r = await erin.client.rpc('rate_limit_hit', args)
        assert.equal(r.status, 400, JSON.stringify(args))
        assert.equal(r.error!.code, '22023')
        assert.match(r.error!.message, message)
      }
    })

    it('answers 429 while a quota is used up, until its window passes', async () => {
      const frank = await createUser(stack, 'frank')
      await setting('quotas', 'window_seconds', 6)
      await setting('quotas', 'tokens_per_day', 50)
      try {
        await awayFromWindowEnd(6, 4.5)
        const spent = await frank.client.rpc('ingest_spans', {
          spans: [{
            trace_id: 'f'.repeat(32), span_id: 'e'.repeat(16), name: 'chat gpt-4o-mini', start_ns: `${Date.now()}000000`,
            end_ns: `${Date.now()}000000`, model: 'gpt-4o-mini', input_tokens: 80, output_tokens: 20,
          }],
        })
        assert.ifError(spent.error)
        const search = await post('/functions/v1/search', frank.token, { query: 'refunds', mode: 'bm25' })
        assert.equal(search.status, 429)
        assert.match(search.body.error.message, /token quota used up: 100 of 50 tokens/)
        const wait = Number(search.headers.get('retry-after'))
        assert.ok(wait >= 1 && wait <= 6, `Retry-After ${wait}`)
        const rpc = await post('/rest/v1/rpc/bm25_search', frank.token, { query_text: 'refunds' })
        assert.equal(rpc.status, 429)
        assert.equal(rpc.body.code, 'PT429')
        const ingest = await post('/functions/v1/ingest', frank.token, { content: 'A note.' })
        assert.equal(ingest.status, 429)
        const view = await frank.client.from('rate_limits').select('kind, key, limit, used').eq('kind', 'quota')
        assert.deepEqual(view.data, [{ kind: 'quota', key: 'quota:tokens_per_day', limit: 50, used: 100 }])

        await sleep(wait * 1000 + 300)
        const again = await post('/functions/v1/search', frank.token, { query: 'refunds', mode: 'bm25' })
        assert.equal(again.status, 200, JSON.stringify(again.body))
      } finally {
        await setting('quotas', 'tokens_per_day', null)
        await setting('quotas', 'window_seconds', 86400)
      }
    })
  })
})
