// The search Edge Function through the whole stack (gateway → Deno → supabase-js as the caller → RPC →
// Postgres with RLS), over documents ingested with ingest_document and conversations saved with
// save_messages, embedded by the pipeline with hash-384. Each mode and scope, filters, neighbours;
// rerank against the fake reranker in every provider's shape, and every way it fails; HyDE and query
// expansion against the fake chat server, used when configured and skipped when not; tenancy (Bob's
// documents and messages use the same words and never appear); bad input.
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { FakeChat } from '../supabase/functions/tests/fake-chat.ts'
import { FakeRerank, type FakeRerankMode } from '../supabase/functions/tests/fake-rerank.ts'
import { ANON_KEY, createUser, makeWorkdir, startTestStack, waitFor, type TestStack, type TestUser } from './helpers/stack.ts'

type Hit = Record<string, any>
interface Reply {
  status: number
  body: any
}

const RERANK_KEY = 'rk-e2e-not-a-real-key'
const CHAT_KEY = 'sk-e2e-not-a-real-key'

describe('search function through the stack', () => {
  let stack: TestStack
  let alice: TestUser
  let bob: TestUser
  let rerank: FakeRerank
  let chat: FakeChat
  const chunk: Record<string, string> = {}
  const doc: Record<string, string> = {}
  const msg: Record<string, string> = {}
  const thread: Record<string, string> = {}
  const bobIds = new Set<string>()

  async function search(user: TestUser | null, body: unknown, raw = false): Promise<Reply> {
    const res = await fetch(`${stack.apiUrl}/functions/v1/search`, {
      method: 'POST',
      headers: {
        apikey: ANON_KEY,
        authorization: `Bearer ${user ? user.token : ANON_KEY}`,
        'content-type': 'application/json',
      },
      body: raw ? (body as string) : JSON.stringify(body),
    })
    return { status: res.status, body: await res.json() }
  }

  async function ok(user: TestUser, body: unknown): Promise<Hit> {
    const r = await search(user, body)
    assert.equal(r.status, 200, JSON.stringify(r.body))
    return r.body
  }

  async function setSearch(values: Record<string, unknown>): Promise<void> {
    for (const [key, value] of Object.entries(values)) {
      await stack.db.query(`update public.settings set value = $2::jsonb where category = 'search' and key = $1`, [
        key,
        JSON.stringify(value),
      ])
    }
  }

  const resetSearch = () =>
    setSearch({
      rerank_provider: null,
      rerank_model: null,
      rerank_base_url: null,
      rerank_api_key_env: null,
      chat_model: null,
      chat_base_url: null,
      chat_api_key_env: null,
      provider_timeout_milliseconds: 10000,
    })

  async function ingest(user: TestUser, title: string, topic: string, chunks: [string, string, string][]) {
    const { data, error } = await user.client.rpc('ingest_document', {
      title,
      metadata: { topic },
      chunks: chunks.map(([, heading, content]) => ({ content, heading_path: [title, heading] })),
    })
    assert.ifError(error)
    const { data: rows, error: e2 } = await user.client.from('document_chunks').select('id, ordinal').eq(
      'document_id',
      data.document.id,
    ).order('ordinal')
    assert.ifError(e2)
    rows!.forEach((r: { id: string }, i: number) => (chunk[chunks[i][0]] = r.id))
    return data.document.id as string
  }

  async function conversation(user: TestUser, name: string, agentId: string, messages: [string, string, string][]) {
    const { data: t, error } = await user.client.rpc('create_thread', { agent_id: agentId, name })
    assert.ifError(error)
    thread[name] = t.id
    const { data, error: e2 } = await user.client.rpc('save_messages', {
      thread_id: t.id,
      messages: messages.map(([, role, content]) => ({ role, content })),
    })
    assert.ifError(e2)
    data.forEach((m: { id: string }, i: number) => (msg[messages[i][0]] = m.id))
  }

  before(async () => {
    rerank = await FakeRerank.start()
    chat = await FakeChat.start()
    const workdir = makeWorkdir()
    // Provider keys reach the function as environment variables, as from supabase/functions/.env.
    writeFileSync(join(workdir, 'supabase', 'functions', '.env'), `RERANK_TEST_KEY=${RERANK_KEY}\nCHAT_TEST_KEY=${CHAT_KEY}\n`)
    stack = await startTestStack({ workdir })
    alice = await createUser(stack, 'alice')
    bob = await createUser(stack, 'bob')

    doc.billing = await ingest(alice, 'Billing', 'billing', [
      ['refunds', 'Refunds', 'Refunds are issued within 30 days of the purchase to the original card.'],
      ['invoices', 'Invoices', 'Invoices are emailed monthly and list every charge on the account.'],
    ])
    doc.plants = await ingest(alice, 'Plants', 'science', [
      ['photosynthesis', 'Leaves', 'Photosynthesis in chloroplasts converts sunlight into chemical energy stored as sugar.'],
      ['roots', 'Roots', 'Roots absorb water and minerals from the soil.'],
    ])
    doc.cars = await ingest(alice, 'Cars', 'cars', [
      ['engine', 'Engine', 'Car engine repair starts with checking the oil and the spark plugs.'],
      ['tyres', 'Tyres', 'Tyre pressure should be checked every month.'],
    ])
    await conversation(alice, 'trip', 'assistant', [
      ['trip1', 'user', 'Hi, I want to plan a trip to Lisbon.'],
      ['trip2', 'assistant', 'Sure, when do you want to travel?'],
      ['trip3', 'user', 'In May, and I need a hotel near the river.'],
      ['trip4', 'assistant', 'Here are three hotels by the Tagus river.'],
    ])
    await conversation(alice, 'refund', 'assistant', [
      ['refund1', 'user', 'My refund for the hotel has not arrived.'],
      ['refund2', 'assistant', 'Refunds take up to 30 days to arrive.'],
    ])
    await conversation(alice, 'research', 'researcher', [['research1', 'user', 'Lisbon hotel prices in May are high.']])

    // Bob's rows share Alice's words: any leak would rank them.
    for (const [title, text] of [
      ['Bob billing', 'Refunds are issued within 30 days, says Bob, and invoices are emailed monthly.'],
      ['Bob plants', 'Photosynthesis in chloroplasts converts sunlight into sugar; roots absorb water.'],
      ['Bob cars', 'Car engine repair: check the oil, the spark plugs and the tyre pressure every month.'],
    ]) {
      const { data, error } = await bob.client.rpc('ingest_document', { title, chunks: [{ content: text }] })
      assert.ifError(error)
      bobIds.add(data.document.id)
    }
    const { data: bc } = await bob.client.from('document_chunks').select('id')
    for (const r of bc!) bobIds.add(r.id)
    const { data: bt } = await bob.client.rpc('create_thread', { agent_id: 'assistant', name: 'bob trip' })
    bobIds.add(bt.id)
    thread.bob = bt.id
    const { data: bm } = await bob.client.rpc('save_messages', {
      thread_id: bt.id,
      messages: [
        { role: 'user', content: 'I need a hotel near the river in Lisbon in May.' },
        { role: 'assistant', content: 'My refund for the hotel takes 30 days.' },
      ],
    })
    for (const m of bm) bobIds.add(m.id)

    // Everything embedded by the pipeline (cron → embed → hash-384) before searching.
    const sources = [...Object.values(chunk), ...Object.values(msg), ...bobIds]
    await waitFor(async () => {
      const r = await stack.db.query<{ n: number }>(
        `select count(*)::int as n from public.embeddings where source_id = any($1::uuid[])`,
        [sources],
      )
      return r.rows[0].n === Object.keys(chunk).length + Object.keys(msg).length + bc!.length + bm.length
    }, 60_000, 200)
  })

  after(async () => {
    await stack?.close()
    await rerank?.close()
    await chat?.close()
  })

  const ids = (r: Hit) => r.results.map((h: Hit) => h.id)

  it('documents, mode hybrid (the default): the chunk with both channels\' ranks, its document and heading path', async () => {
    const r = await ok(alice, { query: 'refunds within 30 days', k: 3 })
    assert.deepEqual([r.mode, r.scope, r.reranked], ['hybrid', 'documents', false])
    const top = r.results[0]
    assert.equal(top.id, chunk.refunds)
    assert.equal(top.document_id, doc.billing)
    assert.deepEqual(top.heading_path, ['Billing', 'Refunds'])
    assert.deepEqual(top.metadata, { topic: 'billing' })
    assert.equal(top.bm25_rank, 1)
    assert.equal(top.vector_rank, 1)
    assert.ok(top.matched.includes('refund'))
    assert.equal(r.steps.embed.status, 'ok')
    assert.equal(r.steps.embed.model, 'hash-384')
    assert.ok(r.results.length <= 3)
  })

  it('documents, mode bm25 and mode vector', async () => {
    const b = await ok(alice, { query: 'spark plugs oil', mode: 'bm25' })
    assert.equal(b.results[0].id, chunk.engine)
    assert.ok(b.results.every((h: Hit) => h.vector_rank === null && h.bm25_rank !== null))
    assert.equal(b.steps.embed.status, 'skipped')

    const v = await ok(alice, { query: 'Tyre pressure should be checked every month', mode: 'vector', k: 2 })
    assert.equal(v.results[0].id, chunk.tyres)
    assert.ok(v.results.every((h: Hit) => h.bm25_rank === null && h.vector_rank !== null))
    assert.equal(v.results[0].score, v.results[0].vector_score, 'score is the cosine similarity')
    // The chunk is embedded with its heading path ("Cars › Tyres"), so not exactly the query's vector.
    assert.ok(v.results[0].score > 0.7 && v.results[0].score < 1, `similarity ${v.results[0].score}`)
  })

  it('filters: metadata, document ids and time range', async () => {
    const all = await ok(alice, { query: 'checked every month', mode: 'bm25' })
    assert.ok(ids(all).includes(chunk.tyres) && ids(all).includes(chunk.invoices))
    const cars = await ok(alice, { query: 'checked every month', mode: 'bm25', filters: { metadata: { topic: 'cars' } } })
    assert.deepEqual(new Set(ids(cars)), new Set([chunk.tyres, chunk.engine]), 'both car chunks say "check", no other')
    const byDoc = await ok(alice, { query: 'checked every month', filters: { document_ids: [doc.billing] } })
    assert.ok(byDoc.results.length > 0 && byDoc.results.every((h: Hit) => h.document_id === doc.billing))
    const future = await ok(alice, { query: 'checked every month', filters: { created_after: '2999-01-01T00:00:00Z' } })
    assert.deepEqual(future.results, [])
  })

  it('message scopes: thread with neighbours, agent, all, roles', async () => {
    const t = await ok(alice, {
      query: 'hotel near the river',
      scope: 'thread',
      mode: 'bm25',
      before: 1,
      after: 1,
      filters: { thread_id: thread.trip },
    })
    assert.equal(t.results[0].id, msg.trip3)
    assert.deepEqual(t.results[0].before.map((m: Hit) => m.id), [msg.trip2])
    assert.deepEqual(t.results[0].after.map((m: Hit) => m.id), [msg.trip4])
    assert.ok(t.results.every((h: Hit) => h.thread_id === thread.trip))
    assert.equal(typeof t.results[0].cursor, 'string')

    const agent = await ok(alice, { query: 'hotel', scope: 'agent', filters: { agent_id: 'assistant' }, k: 20 })
    const threads = new Set(agent.results.map((h: Hit) => h.thread_id))
    assert.ok(threads.has(thread.trip) && threads.has(thread.refund))
    assert.ok(!threads.has(thread.research), 'another agent\'s thread is outside scope agent')

    const every = await ok(alice, { query: 'hotel', scope: 'all', k: 20 })
    assert.ok(every.results.some((h: Hit) => h.thread_id === thread.research))

    const users = await ok(alice, { query: 'hotel', scope: 'all', filters: { roles: ['user'] }, k: 20 })
    assert.ok(users.results.length > 0 && users.results.every((h: Hit) => h.role === 'user'))

    const v = await ok(alice, { query: 'Refunds take up to 30 days to arrive.', scope: 'all', mode: 'vector', k: 1 })
    assert.equal(v.results[0].id, msg.refund2)
  })

  it('tenancy: another user\'s documents and messages never appear, in any mode or scope', async () => {
    const queries: Record<string, string[]> = {
      documents: ['refunds within 30 days invoices monthly', 'photosynthesis sunlight sugar roots', 'car engine oil tyre'],
      messages: ['hotel river Lisbon May', 'refund for the hotel 30 days'],
    }
    for (const mode of ['hybrid', 'bm25', 'vector']) {
      for (const scope of ['documents', 'all', 'agent']) {
        for (const query of queries[scope === 'documents' ? 'documents' : 'messages']) {
          const body = { query, mode, scope, k: 50, rerank: true, ...(scope === 'agent' ? { filters: { agent_id: 'assistant' } } : {}) }
          const r = await ok(alice, body)
          assert.ok(r.results.length > 0, `${mode}/${scope}/${query} finds Alice's rows`)
          for (const h of r.results) {
            assert.ok(!bobIds.has(h.id), `${mode}/${scope}: Bob's row ${h.id} leaked`)
            for (const n of [...(h.before ?? []), ...(h.after ?? [])]) assert.ok(!bobIds.has(n.id), 'nor as a neighbour')
          }
        }
      }
    }
    const r = await search(alice, { query: 'hotel', scope: 'thread', filters: { thread_id: thread.bob } })
    assert.equal(r.status, 404, 'Bob\'s thread is not found, exactly like an unknown one')
    assert.equal(r.body.error.code, 'not_found')
  })

  it('rerank: each provider\'s API reorders the candidates when configured', async () => {
    const plain = await ok(alice, { query: 'refunds invoices', k: 2, mode: 'bm25' })
    assert.equal(plain.results.length, 2)
    // The reranker prefers what BM25 ranked second.
    const favourite = plain.results[1]
    rerank.scorer = (_q, d) => (d.endsWith(favourite.content) ? 0.95 : 0.1)
    for (const provider of ['cohere', 'jina', 'voyage', 'tei'] as const) {
      await setSearch({
        rerank_provider: provider,
        rerank_model: provider === 'tei' ? null : `${provider}-test-model`,
        rerank_base_url: rerank.baseUrl(provider),
        rerank_api_key_env: provider === 'tei' ? null : 'RERANK_TEST_KEY',
      })
      const before = rerank.requests.length
      const r = await ok(alice, { query: 'refunds invoices', k: 2, mode: 'bm25', rerank: true })
      assert.equal(r.reranked, true, `${provider}: ${JSON.stringify(r.steps.rerank)}`)
      assert.equal(r.steps.rerank.status, 'ok')
      assert.deepEqual(ids(r), [favourite.id, plain.results[0].id], `${provider} puts the reranker's favourite first`)
      assert.equal(r.results[0].rerank_score, 0.95)
      assert.equal(r.results.length, 2)
      const req = rerank.requests[before]
      assert.equal(req.body.query, 'refunds invoices')
      assert.equal(req.authorization, provider === 'tei' ? null : `Bearer ${RERANK_KEY}`)
      const docs = (req.body.documents ?? req.body.texts) as string[]
      assert.ok(docs.includes('Billing › Invoices\n\nInvoices are emailed monthly and list every charge on the account.'))
      assert.ok(docs.length >= 2, 'more candidates than k go to the reranker')
    }
  })

  it('rerank: every failure leaves search answering in retrieval order, marked unreranked with the reason', async () => {
    await setSearch({
      rerank_provider: 'cohere',
      rerank_model: 'cohere-test-model',
      rerank_base_url: rerank.baseUrl('cohere'),
      rerank_api_key_env: 'RERANK_TEST_KEY',
      provider_timeout_milliseconds: 500,
    })
    const plain = await ok(alice, { query: 'refunds invoices', k: 2, mode: 'bm25' })
    const expected: Record<FakeRerankMode, RegExp> = {
      hang: /^timeout: no answer from .* within 500 ms/,
      '500': /^http: .*HTTP 500/,
      malformed: /^bad_reply: .*not valid JSON/,
      'out-of-range': /^bad_reply: .*not one of the/,
      duplicate: /^bad_reply: .*appears twice/,
      'no-scores': /^bad_reply: .*not a finite number/,
      'wrong-shape': /^bad_reply: .*is not an array/,
      ok: /./,
    }
    try {
      for (const mode of Object.keys(expected).filter((m) => m !== 'ok') as FakeRerankMode[]) {
        rerank.setMode(mode)
        const r = await ok(alice, { query: 'refunds invoices', k: 2, mode: 'bm25', rerank: true })
        assert.equal(r.reranked, false, mode)
        assert.equal(r.steps.rerank.status, 'failed')
        assert.match(r.steps.rerank.reason, expected[mode])
        assert.deepEqual(ids(r), ids(plain), `${mode}: results in retrieval order`)
        assert.ok(!JSON.stringify(r).includes(RERANK_KEY), 'the key never appears in the response')
      }
    } finally {
      rerank.setMode('ok')
    }
    await setSearch({ rerank_api_key_env: 'NOT_SET_ANYWHERE' })
    const missing = await ok(alice, { query: 'refunds', rerank: true })
    assert.equal(missing.steps.rerank.status, 'failed')
    assert.match(missing.steps.rerank.reason, /NOT_SET_ANYWHERE is not set/)
    assert.ok(!stack.logs.some((l) => l.includes(RERANK_KEY)), 'the key is never logged')
  })

  it('rerank not configured: skipped with the setting to set', async () => {
    await resetSearch()
    const r = await ok(alice, { query: 'refunds', k: 1, rerank: { top_n: 5 } })
    assert.equal(r.reranked, false)
    assert.equal(r.steps.rerank.status, 'skipped')
    assert.match(r.steps.rerank.reason, /search\.rerank_provider/)
    assert.equal(r.results.length, 1)
  })

  it('HyDE: when configured, the hypothetical passage finds what the query\'s words cannot', async () => {
    const query = 'qwzx plokij vbnm?'
    const without = await ok(alice, { query, mode: 'vector', k: 1 })
    assert.ok(without.results[0].vector_score < 0.3, 'the query shares no words with any chunk')
    const skipped = await ok(alice, { query, mode: 'vector', k: 1, hyde: true })
    assert.equal(skipped.steps.hyde.status, 'skipped')
    assert.match(skipped.steps.hyde.reason, /search\.chat_model/)

    await setSearch({ chat_model: 'fake-chat', chat_base_url: chat.baseUrl, chat_api_key_env: 'CHAT_TEST_KEY' })
    chat.passage = 'Photosynthesis in chloroplasts converts sunlight into chemical energy.'
    const before = chat.requests.length
    const r = await ok(alice, { query, mode: 'vector', k: 1, hyde: true })
    assert.equal(r.steps.hyde.status, 'ok')
    assert.equal(r.steps.hyde.passage, chat.passage)
    assert.equal(r.results[0].id, chunk.photosynthesis)
    assert.ok(r.results[0].vector_score > 0.5)
    const req = chat.requests[before]
    assert.equal(req.model, 'fake-chat')
    assert.equal(req.messages.at(-1)!.content, query)
    assert.equal(req.authorization, `Bearer ${CHAT_KEY}`)

    // Hybrid: BM25 keeps the query's own words (none match), the vector channel uses the passage.
    const h = await ok(alice, { query, k: 3, hyde: true })
    assert.equal(h.results[0].id, chunk.photosynthesis)
    assert.ok(h.results.every((x: Hit) => x.bm25_rank === null))

    chat.setMode('500')
    const failed = await ok(alice, { query, mode: 'vector', k: 1, hyde: true })
    chat.setMode('ok')
    assert.equal(failed.steps.hyde.status, 'failed')
    assert.match(failed.steps.hyde.reason, /^http: .*HTTP 500/)
    assert.deepEqual(ids(failed), ids(without), 'the query itself was embedded')
  })

  it('query expansion: alternative phrasings are searched and fused; skipped or failed, the query alone', async () => {
    const query = 'automobile'
    const plain = await ok(alice, { query, mode: 'bm25' })
    assert.deepEqual(plain.results, [], 'no chunk says automobile')

    chat.alternatives = ['car engine repair', 'vehicle maintenance']
    const r = await ok(alice, { query, mode: 'bm25', expand: { n: 2 } })
    assert.equal(r.steps.expand.status, 'ok')
    assert.deepEqual(r.steps.expand.queries, ['car engine repair', 'vehicle maintenance'])
    assert.equal(r.results[0].id, chunk.engine)
    assert.ok(chat.requestsFor('expand').at(-1)!.messages[0].content.includes('Write 2 different search queries'))

    chat.setMode('hang')
    await setSearch({ provider_timeout_milliseconds: 500 })
    const failed = await ok(alice, { query, mode: 'bm25', expand: true })
    chat.setMode('ok')
    assert.equal(failed.steps.expand.status, 'failed')
    assert.match(failed.steps.expand.reason, /^timeout: /)
    assert.deepEqual(failed.results, [])

    await resetSearch()
    const skipped = await ok(alice, { query, mode: 'bm25', expand: true })
    assert.equal(skipped.steps.expand.status, 'skipped')
    assert.deepEqual(skipped.results, [])
  })

  it('bad input: 400 invalid_input naming the field; no token 401; unknown thread 404', async () => {
    const bad: [unknown, RegExp][] = [
      [{ query: '' }, /query must not be empty/],
      [{ query: '   ' }, /query must not be empty/],
      [{ query: 'q', k: 0 }, /k must be a whole number from 1 to 1000/],
      [{ query: 'q', k: 1001 }, /k must be a whole number from 1 to 1000/],
      [{ query: 'q', mode: 'fuzzy' }, /mode must be one of/],
      [{ query: 'q', scope: 'universe' }, /scope must be one of/],
      [{ query: 'q', filters: 'topic=billing' }, /filters must be a JSON object/],
      [{ query: 'q', filters: { metadata: 'x' } }, /filters.metadata must be a JSON object/],
      [{ query: 'q', limit: 5 }, /unknown field "limit"/],
    ]
    for (const [body, message] of bad) {
      const r = await search(alice, body)
      assert.equal(r.status, 400, JSON.stringify(body))
      assert.equal(r.body.error.code, 'invalid_input')
      assert.match(r.body.error.message, message)
    }
    const json = await search(alice, '{"query": "refunds"', true)
    assert.equal(json.status, 400)
    assert.match(json.body.error.message, /not valid JSON/)

    // An RPC's own refusal maps through: created_after > created_before is checked by the SQL too.
    const unknown = await search(alice, {
      query: 'q',
      scope: 'thread',
      filters: { thread_id: '00000000-0000-4000-8000-000000000000' },
    })
    assert.equal(unknown.status, 404)
    assert.match(unknown.body.error.message, /thread 00000000-0000-4000-8000-000000000000 not found/)

    const noToken = await fetch(`${stack.apiUrl}/functions/v1/search`, { method: 'POST', body: '{"query":"q"}' })
    assert.equal(noToken.status, 401)
    await noToken.body?.cancel()
    const anon = await search(null, { query: 'refunds' })
    assert.equal(anon.status, 401, JSON.stringify(anon.body))
    assert.equal(anon.body.error.code, 'unauthorized')
  })
})
