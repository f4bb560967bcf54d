// The ops dashboard in a real browser: Debian's Chromium (/usr/bin/chromium; .ci/run installs it) driven by
// playwright-core loads /dashboard/ from a running stack with seeded traces (function calls, OTLP-style
// spans of several models over a week, a failure, a dead-lettered job, guarded RPC calls, the cron jobs),
// signed in with the service_role key. Every panel must render data (not an empty state), a trace stored
// after the page loaded must appear without a reload, and a user key must see their own traces only. The
// screenshot is written to .data/dashboard.png.
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { ROOT } from '../stack/core/config.ts'
import { ANON_KEY, createUser, SERVICE_ROLE_KEY, startTestStack, waitFor, type TestStack, type TestUser } from './helpers/stack.ts'

const CHROMIUM = '/usr/bin/chromium'
const SCREENSHOT = join(ROOT, '.data', 'dashboard.png')
const PANELS = ['pipelines', 'failures', 'traces', 'timeline', 'costs', 'latency', 'jobs', 'limits'] as const

const hex = (n: number) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, '0')).join('')

/** One agent trace (root → model call → tool call) `daysAgo` days back, in the shape ingest_spans takes. */
function agentTrace(name: string, model: string, daysAgo: number, tokensIn: number, tokensOut: number, failed = false) {
  const trace = hex(16)
  const root = hex(8)
  const call = hex(8)
  const t0 = (Date.now() - daysAgo * 86_400_000 - 60_000) * 1e6
  const ns = (ms: number) => String(BigInt(Math.round(t0)) + BigInt(Math.round(ms * 1e6)))
  return [
    { trace_id: trace, span_id: root, name, kind: 'server', service: 'support-agent', start_ns: ns(0), end_ns: ns(1450), status: failed ? 'error' : 'ok' },
    { trace_id: trace, span_id: hex(8), parent_span_id: root, name: 'memory.build_context', kind: 'client', service: 'support-agent', start_ns: ns(20), end_ns: ns(140) },
    { trace_id: trace, span_id: call, parent_span_id: root, name: `chat ${model}`, kind: 'client', service: 'support-agent', start_ns: ns(160), end_ns: ns(1180),
      model, provider: model.startsWith('claude') ? 'anthropic' : 'openai', input_tokens: tokensIn, output_tokens: tokensOut },
    { trace_id: trace, span_id: hex(8), parent_span_id: call, name: 'tool.search_memory', kind: 'internal', service: 'support-agent', start_ns: ns(600), end_ns: ns(820),
      ...(failed ? { status: 'error', status_message: 'search_memory: HTTP 503 from the search function' } : {}) },
    { trace_id: trace, span_id: hex(8), parent_span_id: root, name: 'memory.save_messages', kind: 'client', service: 'support-agent', start_ns: ns(1200), end_ns: ns(1420) },
  ]
}

describe('ops dashboard in headless Chromium', () => {
  let stack: TestStack
  let alice: TestUser
  let context: BrowserContext
  let userDataDir: string

  const post = async (path: string, token: string, body: unknown) => {
    const res = await fetch(`${stack.apiUrl}${path}`, {
      method: 'POST',
      headers: { apikey: ANON_KEY, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    return { status: res.status, body: await res.json() }
  }
  const ingestSpans = async (spans: unknown[], ownerId: string | null) => {
    const r = await post('/rest/v1/rpc/ingest_spans', SERVICE_ROLE_KEY, { spans, owner_id: ownerId })
    assert.equal(r.status, 200, JSON.stringify(r.body))
  }

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)`)
    stack = await startTestStack()
    alice = await createUser(stack, 'alice')
    const bob = await createUser(stack, 'bob')
    // Function traces (and RPC latency) from real calls; embed traces follow from the pipeline.
    const ingested = await post('/functions/v1/ingest', alice.token, {
      content: '# Refunds\n\nRefunds are issued within 30 days.\n\n# Shipping\n\nParcels ship within two working days.',
      title: 'Support handbook',
    })
    assert.equal(ingested.status, 200, JSON.stringify(ingested.body))
    for (const query of ['refunds', 'shipping time', 'parcel']) assert.equal((await post('/functions/v1/search', alice.token, { query, k: 3 })).status, 200)
    for (const q of ['refund', 'ship']) assert.ifError((await alice.client.rpc('bm25_search', { query_text: q })).error)
    // A week of an agent's LLM traffic over three models, one failed run, one of Bob's.
    const models = ['gpt-4o-mini', 'gpt-4o', 'claude-sonnet-4']
    const spans = []
    for (let day = 6; day >= 0; day--) {
      for (const [i, model] of models.entries()) spans.push(...agentTrace('support-agent.reply', model, day, 900 + day * 130 + i * 400, 180 + i * 60))
    }
    spans.push(...agentTrace('support-agent.reply', 'gpt-4o', 0, 2400, 300, true))
    await ingestSpans(spans, alice.id)
    await ingestSpans(agentTrace('bob-agent.run', 'gpt-4o-mini', 0, 500, 50), bob.id)
    await stack.db.query(
      `insert into public.embedding_failures (msg_id, owner_id, source_table, model, attempts, last_error, job)
       values (1, $1, 'messages', 'hash-384', 5, 'fake provider: HTTP 503 Service Unavailable', '{}')`,
      [alice.id],
    )
    await waitFor(async () => (await stack.db.query(`select 1 from public.traces where service = 'embed'`)).rows.length > 0, 30_000)

    userDataDir = mkdtempSync(join(tmpdir(), 'agent-memory-chromium-'))
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
      viewport: { width: 1440, height: 1000 },
    })
  })
  after(async () => {
    await context?.close()
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true })
    await stack?.close()
  })

  async function open(fragment: string): Promise<{ page: Page; errors: string[] }> {
    const page = await context.newPage()
    const errors: string[] = []
    page.on('pageerror', (err) => errors.push(err.message))
    page.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(msg.text())
    })
    await page.goto(`${stack.apiUrl}/dashboard/#${fragment}`)
    return { page, errors }
  }

  const panelState = (page: Page, id: string) =>
    page.locator(`[data-panel="${id}"]`).evaluate((el) => ({ state: (el as HTMLElement).dataset.state, count: Number((el as HTMLElement).dataset.count) }))

  it('renders every panel with data for the service_role key, follows new traces live, and is screenshotted', async () => {
    const { page, errors } = await open(`key=${SERVICE_ROLE_KEY}`)
    assert.equal(new URL(page.url()).hash, '', 'the key is taken out of the address bar')
    for (const id of PANELS) {
      await page.waitForSelector(`[data-panel="${id}"]:not([data-state="loading"])`, { timeout: 30_000 })
      const s = await panelState(page, id)
      assert.deepEqual([id, s.state], [id, 'ready'], `panel ${id} shows data (state ${s.state})`)
      assert.ok(s.count > 0, `panel ${id} has rows`)
    }
    assert.ok((await page.locator('[data-panel="pipelines"] .pipe').count()) >= 1, 'a card per pipeline')
    assert.match(await page.locator('[data-panel="pipelines"]').innerText(), /embeddings/)
    assert.ok((await page.locator('[data-panel="traces"] .trace').count()) >= 20, 'the trace list')
    assert.ok((await page.locator('[data-panel="timeline"] .tl-row').count()) >= 2, "the selected trace's spans on the timeline")
    for (const chart of ['costs', 'latency', 'failures']) {
      assert.ok((await page.locator(`[data-panel="${chart}"] svg path`).count()) > 3, `the ${chart} chart has marks`)
    }
    assert.match(await page.locator('[data-panel="costs"]').innerText(), /claude-sonnet-4/)
    assert.match(await page.locator('[data-panel="latency"]').innerText(), /fn · search/)
    assert.match(await page.locator('[data-panel="latency"]').innerText(), /rpc · bm25_search/)
    assert.match(await page.locator('[data-panel="jobs"]').innerText(), /process-embeddings/)
    await page.waitForSelector('#live[data-state="realtime"]', { timeout: 15_000 })

    // Selecting a trace shows its spans.
    await page.locator('[data-panel="traces"] .trace', { hasText: 'support-agent.reply' }).first().click()
    await page.waitForSelector('[data-panel="timeline"] .tl-row:has-text("tool.search_memory")')
    assert.equal(await page.locator('[data-panel="timeline"] .tl-row').count(), 5)

    // A trace stored now appears without a reload.
    await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true))
    const name = `live-check.${hex(4)}`
    await ingestSpans(agentTrace(name, 'gpt-4o-mini', 0, 100, 10).map((s) => ({ ...s, name: s.parent_span_id ? s.name : name, start_ns: String(BigInt(Date.now()) * 1000000n), end_ns: String(BigInt(Date.now() + 500) * 1000000n) })), null)
    await page.waitForSelector(`[data-panel="traces"] .trace:has-text("${name}")`, { timeout: 15_000 })
    assert.equal(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded), true, 'the page was not reloaded')

    await page.locator('[data-panel="traces"] .trace', { hasText: 'support-agent.reply' }).first().click()
    await page.waitForSelector('[data-panel="timeline"] .tl-row:has-text("tool.search_memory")')
    mkdirSync(join(ROOT, '.data'), { recursive: true })
    await page.screenshot({ path: SCREENSHOT, fullPage: true })
    assert.ok(existsSync(SCREENSHOT))
    assert.deepEqual(errors, [], 'no script errors')
    await page.close()
  })

  it("shows a user's own traces with the anon key and their token, and says which panels need the service key", async () => {
    const { page, errors } = await open(`key=${ANON_KEY}&token=${alice.token}`)
    await page.waitForSelector('[data-panel="traces"][data-state="ready"]', { timeout: 30_000 })
    const names = await page.locator('[data-panel="traces"] .trace-name').allInnerTexts()
    assert.ok(names.includes('support-agent.reply') && !names.includes('bob-agent.run'), "Alice sees her traces, not Bob's")
    await page.waitForSelector('[data-panel="pipelines"][data-state="forbidden"]')
    assert.match(await page.locator('[data-panel="pipelines"]').innerText(), /needs the service_role key/)
    assert.equal((await panelState(page, 'costs')).state, 'ready', 'her own costs')
    assert.deepEqual(errors.filter((e) => !/401|403/.test(e)), [], 'no script errors besides the refused operator views')
    await page.close()
  })
})
