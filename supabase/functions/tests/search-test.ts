// The search handler with a fake database (the calls it makes as the caller are recorded) and the fake
// rerank, chat and embedding servers: request validation, which RPC each mode/scope calls with what,
// HyDE and expansion feeding the channels, fusion, reranking, and every fallback — a step that is not
// configured or whose provider fails is reported in `steps` while the search still answers. The same
// paths run through the whole stack in tests/search.test.ts.
import assert from 'node:assert/strict'
import { hashEmbedding } from '../_shared/hash-embedding.ts'
import { createHandler } from '../search/handler.ts'
import { applyRerank, fuse, type Hit, rerankText } from '../search/pipeline.ts'
import { type QueryModel, type SearchStore, StoreError } from '../search/store.ts'
import { FakeChat } from './fake-chat.ts'
import { FakeOpenAI } from './fake-openai.ts'
import { FakeRerank, type FakeRerankMode } from './fake-rerank.ts'

const opts = { sanitizeOps: false, sanitizeResources: false }

const HASH_MODEL: QueryModel = {
  name: 'hash-384',
  provider: 'hash',
  provider_model: 'hash-384',
  dims: 384,
  base_url: null,
  api_key_env: null,
  request_dimensions: false,
  max_input_tokens: 8191,
  tokenizer: 'cl100k_base',
}

const CORPUS = [
  'alpha apples grow in orchards',
  'beta bananas are yellow',
  'gamma grapes make wine',
  'delta dates are sweet',
  'epsilon elderberries and apples',
]

/** A database stand-in: rows are the corpus entries sharing a word with query_text, in corpus order. */
class FakeStore implements SearchStore {
  calls: { fn: string; args: Record<string, unknown> }[] = []
  rows: Record<string, unknown> = {}
  model: QueryModel | null = HASH_MODEL
  fail: ((fn: string, args: Record<string, unknown>) => StoreError | null) | null = null

  settings() {
    return Promise.resolve(this.rows)
  }
  defaultModel() {
    return Promise.resolve(this.model)
  }
  rpc(fn: string, args: Record<string, unknown>) {
    this.calls.push({ fn, args })
    const err = this.fail?.(fn, args)
    if (err) return Promise.reject(err)
    const words = String(args.query_text).toLowerCase().split(/\s+/)
    const hits = CORPUS.map((content, i) => ({ content, i }))
      .filter((d) => words.some((w) => d.content.split(' ').includes(w)))
      .slice(0, Number(args.match_count))
      .map((d, r) => ({
        id: `00000000-0000-4000-8000-00000000000${d.i}`,
        rank: r + 1,
        score: 1 / (60 + r + 1),
        vector_score: 0.5 - r / 100,
        content: d.content,
        heading_path: d.i === 0 ? ['Fruit', 'Apples'] : [],
      }))
    return Promise.resolve(hits)
  }
}

const TOKEN = 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYXV0aGVudGljYXRlZCJ9.c2ln'

function setup(env: Record<string, string> = {}) {
  const store = new FakeStore()
  const handler = createHandler({ env: (n) => env[n], store: () => store })
  const post = async (body: unknown, headers: Record<string, string> = { authorization: TOKEN }) => {
    const res = await handler(
      new Request('http://localhost/search', {
        method: 'POST',
        headers,
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
    )
    return { status: res.status, body: await res.json() }
  }
  return { store, handler, post }
}

Deno.test('bad requests get 400 invalid_input naming the field', opts, async () => {
  const { store, post } = setup()
  const cases: [unknown, RegExp][] = [
    ['{"query": ', /not valid JSON/],
    [[], /body must be a JSON object/],
    [{}, /query must be a string/],
    [{ query: '' }, /query must not be empty/],
    [{ query: ' \n\t ' }, /query must not be empty/],
    [{ query: 'x'.repeat(10_001) }, /query is 10001 characters/],
    [{ query: 'q', k: 0 }, /k must be a whole number from 1 to 1000 \(got 0\)/],
    [{ query: 'q', k: 1001 }, /k must be a whole number from 1 to 1000/],
    [{ query: 'q', k: 2.5 }, /k must be a whole number/],
    [{ query: 'q', k: '10' }, /k must be a whole number/],
    [{ query: 'q', mode: 'semantic' }, /mode must be one of hybrid, bm25, vector \(got "semantic"\)/],
    [{ query: 'q', scope: 'everything' }, /scope must be one of documents, thread, agent, all/],
    [{ query: 'q', filters: '{"a":1}' }, /filters must be a JSON object/],
    [{ query: 'q', filters: [] }, /filters must be a JSON object/],
    [{ query: 'q', filters: { metadata: [1] } }, /filters.metadata must be a JSON object/],
    [{ query: 'q', filters: { topic: 'x' } }, /filters has unknown field "topic"/],
    [
      { query: 'q', filters: { thread_id: '00000000-0000-4000-8000-000000000000' } },
      /filters.thread_id applies to the message scopes/,
    ],
    [{ query: 'q', scope: 'all', filters: { document_ids: [] } }, /filters.document_ids applies to scope documents/],
    [{ query: 'q', filters: { document_ids: ['nope'] } }, /filters.document_ids must be a list of uuids/],
    [{ query: 'q', scope: 'all', filters: { roles: ['robot'] } }, /filters.roles must be a non-empty list/],
    [{ query: 'q', filters: { created_after: 'yesterday' } }, /filters.created_after must be an ISO 8601 timestamp/],
    [
      { query: 'q', filters: { created_after: '2026-02-01T00:00:00Z', created_before: '2026-01-01T00:00:00Z' } },
      /created_after is later than filters.created_before/,
    ],
    [{ query: 'q', scope: 'thread' }, /filters.thread_id is required for scope thread/],
    [{ query: 'q', scope: 'agent' }, /scope agent needs filters.agent_id/],
    [{ query: 'q', scope: 'thread', filters: { thread_id: 'abc' } }, /filters.thread_id must be a uuid/],
    [{ query: 'q', before: 1 }, /before applies to the message scopes/],
    [{ query: 'q', scope: 'all', after: 21 }, /after must be a whole number from 0 to 20/],
    [{ query: 'q', rerank: 'yes' }, /rerank must be true, false or an object/],
    [{ query: 'q', rerank: { top_n: 0 } }, /rerank.top_n must be a whole number from 1 to 1000/],
    [{ query: 'q', rerank: { depth: 5 } }, /rerank has unknown field "depth"/],
    [{ query: 'q', hyde: 'true' }, /hyde must be true or false/],
    [{ query: 'q', expand: { n: 6 } }, /expand.n must be a whole number from 1 to 5/],
    [{ query: 'q', expand: 3 }, /expand must be true, false or an object/],
    [{ query: 'q', modes: 'bm25' }, /the body has unknown field "modes"/],
  ]
  for (const [body, message] of cases) {
    const r = await post(body)
    assert.equal(r.status, 400, `${JSON.stringify(body)?.slice(0, 80)} → ${JSON.stringify(r.body)}`)
    assert.equal(r.body.error.code, 'invalid_input')
    assert.match(r.body.error.message, message)
  }
  assert.equal(store.calls.length, 0, 'no RPC runs for a bad request')
})

Deno.test('method, authorization and CORS', opts, async () => {
  const { handler, post } = setup()
  assert.equal((await post({ query: 'q' }, {})).status, 401)
  assert.equal((await post({ query: 'q' }, { authorization: 'Basic abc' })).body.error.code, 'unauthorized')
  const get = await handler(new Request('http://localhost/search', { headers: { authorization: TOKEN } }))
  assert.equal(get.status, 405)
  await get.body?.cancel()
  const pre = await handler(new Request('http://localhost/search', { method: 'OPTIONS' }))
  assert.equal(pre.status, 204)
  assert.equal(pre.headers.get('access-control-allow-origin'), '*')
  assert.match(pre.headers.get('access-control-allow-headers') ?? '', /authorization/)
})

Deno.test('each mode and scope calls its RPC as the caller with the right arguments', opts, async (t) => {
  const { store, post } = setup()
  await t.step('documents, hybrid (the default): hybrid_search with the query vector', async () => {
    const r = await post({ query: 'apples', filters: { metadata: { a: 1 }, created_after: '2026-01-01T00:00:00Z' } })
    assert.equal(r.status, 200)
    const call = store.calls.at(-1)!
    assert.equal(call.fn, 'hybrid_search')
    assert.deepEqual({ ...call.args, query_embedding: undefined }, {
      query_text: 'apples',
      match_count: 10,
      filter: { a: 1 },
      created_after: '2026-01-01T00:00:00Z',
      source: 'document_chunks',
      query_embedding: undefined,
    })
    assert.deepEqual(call.args.query_embedding, hashEmbedding('apples', 384))
    assert.deepEqual(r.body.results.map((h: Hit) => h.content), [CORPUS[0], CORPUS[4]])
    assert.equal(r.body.reranked, false)
    assert.deepEqual(r.body.steps.embed.status, 'ok')
    assert.equal(r.body.steps.embed.model, 'hash-384')
    for (const s of ['hyde', 'expand', 'rerank']) {
      assert.deepEqual(r.body.steps[s], { status: 'skipped', reason: 'not requested', ms: 0 })
    }
    assert.deepEqual([r.body.query, r.body.mode, r.body.scope], ['apples', 'hybrid', 'documents'])
  })
  await t.step('documents, bm25: bm25_search, nothing embedded', async () => {
    const r = await post({
      query: 'apples',
      mode: 'bm25',
      k: 3,
      filters: { document_ids: ['00000000-0000-4000-8000-000000000001'] },
    })
    assert.equal(store.calls.at(-1)!.fn, 'bm25_search')
    assert.deepEqual(store.calls.at(-1)!.args, {
      query_text: 'apples',
      match_count: 3,
      filter: {},
      source: 'document_chunks',
      document_ids: ['00000000-0000-4000-8000-000000000001'],
    })
    assert.equal(r.body.steps.embed.status, 'skipped')
    assert.match(r.body.steps.embed.reason, /mode bm25/)
  })
  await t.step('documents, vector: hybrid_search with BM25 weight 0, score = cosine similarity', async () => {
    const r = await post({ query: 'apples', mode: 'vector', k: 2 })
    const call = store.calls.at(-1)!
    assert.equal(call.fn, 'hybrid_search')
    assert.equal(call.args.bm25_weight, 0)
    assert.equal(call.args.candidates, 2)
    assert.deepEqual(r.body.results.map((h: Hit) => h.score), [0.5, 0.49])
  })
  await t.step('message scopes: search_memories with scope, mode, thread/agent/roles and neighbours', async () => {
    const thread = '00000000-0000-4000-8000-0000000000aa'
    await post({
      query: 'apples',
      scope: 'thread',
      mode: 'bm25',
      before: 2,
      after: 0,
      filters: { thread_id: thread, roles: ['user'] },
    })
    assert.deepEqual(store.calls.at(-1), {
      fn: 'search_memories',
      args: {
        query_text: 'apples',
        match_count: 10,
        filter: {},
        mode: 'bm25',
        scope: 'thread',
        thread_id: thread,
        roles: ['user'],
        before: 2,
        after: 0,
      },
    })
    await post({ query: 'apples', scope: 'agent', filters: { agent_id: 'assistant' } })
    const call = store.calls.at(-1)!
    assert.equal(call.args.scope, 'agent')
    assert.equal(call.args.agent_id, 'assistant')
    assert.equal(call.args.mode, 'hybrid')
    assert.ok(Array.isArray(call.args.query_embedding))
    await post({ query: 'apples', scope: 'all', mode: 'vector' })
    assert.equal(store.calls.at(-1)!.args.scope, 'all')
    assert.equal(store.calls.at(-1)!.args.mode, 'vector')
  })
  await t.step('memories (long-term memories): hybrid_search / bm25_search over source memories with its filters', async () => {
    const r = await post({
      query: 'where do I live',
      scope: 'memories',
      filters: { agent_id: 'assistant', kinds: ['fact', 'preference'], include_invalid: true, valid_at: '2026-03-01T00:00:00Z' },
    })
    assert.equal(r.status, 200)
    const call = store.calls.at(-1)!
    assert.equal(call.fn, 'hybrid_search')
    assert.deepEqual({ ...call.args, query_embedding: undefined }, {
      query_text: 'where do I live',
      match_count: 10,
      filter: {},
      source: 'memories',
      agent_id: 'assistant',
      kinds: ['fact', 'preference'],
      include_invalid: true,
      valid_at: '2026-03-01T00:00:00Z',
      query_embedding: undefined,
    })
    assert.ok(Array.isArray(call.args.query_embedding), 'the query is embedded for the vector channel')
    assert.equal(r.body.scope, 'memories')
    await post({ query: 'live', scope: 'memories', mode: 'bm25' })
    assert.deepEqual(store.calls.at(-1), {
      fn: 'bm25_search',
      args: { query_text: 'live', match_count: 10, filter: {}, source: 'memories' },
    })
    const vector = await post({ query: 'apples', scope: 'memories', mode: 'vector', k: 2 })
    assert.equal(store.calls.at(-1)!.args.bm25_weight, 0)
    assert.deepEqual(vector.body.results.map((h: Hit) => h.score), [0.5, 0.49], 'mode vector reports the cosine similarity')
    for (const [body, message] of [
      [{ query: 'q', scope: 'memories', filters: { thread_id: '00000000-0000-4000-8000-0000000000aa' } },
        /filters.thread_id applies to the message scopes \(thread, agent, all\), not to scope memories/],
      [{ query: 'q', scope: 'memories', filters: { roles: ['user'] } }, /filters.roles applies to the message scopes/],
      [{ query: 'q', scope: 'memories', before: 1 }, /before applies to the message scopes \(thread, agent, all\), not to scope memories/],
      [{ query: 'q', scope: 'memories', filters: { kinds: ['hobby'] } }, /filters.kinds must be a non-empty list of fact, preference, event/],
      [{ query: 'q', scope: 'memories', filters: { include_invalid: 'yes' } }, /filters.include_invalid must be true or false/],
      [{ query: 'q', scope: 'memories', filters: { valid_at: 'tomorrow' } }, /filters.valid_at must be an ISO 8601 timestamp/],
      [{ query: 'q', scope: 'all', filters: { kinds: ['fact'] } }, /filters.kinds applies to scope memories, not to scope all/],
      [{ query: 'q', filters: { agent_id: 'assistant' } }, /filters.agent_id applies to the message scopes \(thread, agent, all\) and memories/],
    ] as [Record<string, unknown>, RegExp][]) {
      const bad = await post(body)
      assert.equal(bad.status, 400, JSON.stringify(body))
      assert.match(bad.body.error.message, message)
    }
  })
  await t.step('RPC errors pass through: PT404 → 404, 22023 → 400, 401, 403, 5xx → 502', async () => {
    const map: [StoreError, number, string][] = [
      [new StoreError(404, 'PT404', 'thread 1 not found'), 404, 'not_found'],
      [new StoreError(400, '22023', 'filter must be a JSON object'), 400, 'invalid_input'],
      [new StoreError(401, '42501', 'permission denied'), 401, 'unauthorized'],
      [new StoreError(403, '42501', 'permission denied'), 403, 'forbidden'],
      [new StoreError(503, 'PGRST000', 'database unavailable'), 502, 'server_error'],
      [new StoreError(0, '', 'fetch failed'), 502, 'server_error'],
    ]
    for (const [err, status, code] of map) {
      store.fail = () => err
      const r = await post({ query: 'apples', scope: 'all' })
      assert.equal(r.status, status)
      assert.equal(r.body.error.code, code)
      assert.ok(r.body.error.message.includes(err.message))
    }
    store.fail = null
  })
})

Deno.test('embedding failures: hybrid falls back to BM25, vector answers 502', opts, async () => {
  const fake = await FakeOpenAI.start({ dims: 8, mode: '500' })
  const { store, post } = setup()
  store.model = {
    ...HASH_MODEL,
    name: 'fake-8',
    provider: 'openai',
    dims: 8,
    base_url: fake.baseUrl,
    provider_model: 'e',
  }
  try {
    const r = await post({ query: 'apples' })
    assert.equal(r.status, 200)
    assert.equal(r.body.steps.embed.status, 'failed')
    assert.match(r.body.steps.embed.reason, /http: .*HTTP 500.*searched with BM25 alone/)
    assert.equal(store.calls.at(-1)!.args.query_embedding, undefined, 'hybrid_search ran without a vector')
    assert.equal(r.body.results.length, 2)

    const v = await post({ query: 'apples', mode: 'vector' })
    assert.equal(v.status, 502)
    assert.equal(v.body.error.code, 'embedding_failed')

    fake.setMode('ok')
    const ok = await post({ query: 'apples' })
    assert.equal(ok.body.steps.embed.status, 'ok')
    assert.deepEqual(store.calls.at(-1)!.args.query_embedding, fake.vectorFor('apples', 8))

    store.model = null
    const none = await post({ query: 'apples' })
    assert.match(none.body.steps.embed.reason, /no default embedding model/)
  } finally {
    await fake.close()
  }
})

Deno.test('rerank: reorders the candidates when configured, falls back on every failure', opts, async (t) => {
  const fake = await FakeRerank.start()
  const { store, post } = setup({ RERANK_KEY: 'rk-e2e-secret' })
  try {
    await t.step('not configured → skipped with the setting to set; retrieval order, k results', async () => {
      const r = await post({ query: 'apples', k: 1, rerank: true })
      assert.equal(r.status, 200)
      assert.equal(r.body.reranked, false)
      assert.equal(r.body.steps.rerank.status, 'skipped')
      assert.match(r.body.steps.rerank.reason, /search\.rerank_provider/)
      assert.equal(store.calls.at(-1)!.args.match_count, 1, 'no extra candidates without a reranker')
      assert.deepEqual(r.body.results.map((h: Hit) => h.content), [CORPUS[0]])
    })

    store.rows = {
      rerank_provider: 'cohere',
      rerank_model: 'rerank-test',
      rerank_base_url: fake.baseUrl('cohere'),
      rerank_api_key_env: 'RERANK_KEY',
      provider_timeout_milliseconds: 300,
    }
    // The reranker prefers elderberries: the second retrieval hit becomes the first.
    fake.scorer = (_q, d) => (d.includes('elderberries') ? 0.9 : 0.2)

    await t.step('configured → 3k candidates reranked against the query, k returned with rerank_score', async () => {
      const r = await post({ query: 'apples', k: 1, rerank: true })
      assert.equal(store.calls.at(-1)!.args.match_count, 3)
      const req = fake.requests.at(-1)!
      assert.equal(req.body.query, 'apples')
      assert.deepEqual(
        req.body.documents,
        [`Fruit › Apples\n\n${CORPUS[0]}`, CORPUS[4]],
        'chunks are reranked with their heading path',
      )
      assert.equal(req.body.top_n, 1)
      assert.equal(req.authorization, 'Bearer rk-e2e-secret')
      assert.equal(r.body.reranked, true)
      assert.deepEqual(r.body.results.map((h: Hit) => [h.content, h.rerank_score, h.rank]), [[CORPUS[4], 0.9, 2]])
      assert.equal(r.body.steps.rerank.status, 'ok')
      assert.equal(r.body.steps.rerank.model, 'rerank-test')
    })

    await t.step('top_n sets the candidate depth; rerank.model overrides the setting', async () => {
      await post({ query: 'apples', k: 2, rerank: { top_n: 50, model: 'rerank-other' } })
      assert.equal(store.calls.at(-1)!.args.match_count, 50)
      assert.equal(fake.requests.at(-1)!.body.model, 'rerank-other')
      await post({ query: 'apples', k: 200, rerank: true })
      assert.equal(store.calls.at(-1)!.args.match_count, 200, 'the depth is never below k')
      await post({ query: 'apples', k: 50, rerank: true })
      assert.equal(store.calls.at(-1)!.args.match_count, 100, '3k is capped at 100')
    })

    for (
      const mode of [
        'hang',
        '500',
        'malformed',
        'out-of-range',
        'duplicate',
        'no-scores',
        'wrong-shape',
      ] as FakeRerankMode[]
    ) {
      await t.step(`reranker ${mode} → failed with the reason, retrieval order, reranked false`, async () => {
        fake.setMode(mode)
        const r = await post({ query: 'apples', k: 2, rerank: true })
        assert.equal(r.status, 200)
        assert.equal(r.body.reranked, false)
        assert.equal(r.body.steps.rerank.status, 'failed')
        assert.match(
          r.body.steps.rerank.reason,
          mode === 'hang' ? /^timeout: / : mode === '500' ? /^http: / : /^bad_reply: /,
        )
        assert.match(r.body.steps.rerank.reason, /results are in retrieval order/)
        assert.ok(!JSON.stringify(r.body).includes('rk-e2e-secret'), 'the key is never in the response')
        assert.deepEqual(r.body.results.map((h: Hit) => h.content), [CORPUS[0], CORPUS[4]])
        assert.ok(r.body.results.every((h: Hit) => !('rerank_score' in h)))
      })
    }
    fake.setMode('ok')

    await t.step('a missing key variable → failed (config), search answers', async () => {
      store.rows = { ...store.rows, rerank_api_key_env: 'UNSET_KEY' }
      const r = await post({ query: 'apples', rerank: true })
      assert.equal(r.body.steps.rerank.status, 'failed')
      assert.match(r.body.steps.rerank.reason, /^config: environment variable UNSET_KEY is not set/)
    })

    await t.step('no candidates → skipped, no provider call', async () => {
      const before = fake.requests.length
      const r = await post({ query: 'zucchini', rerank: true })
      assert.deepEqual(r.body.results, [])
      assert.equal(r.body.steps.rerank.status, 'skipped')
      assert.equal(fake.requests.length, before)
    })
  } finally {
    await fake.close()
  }
})

Deno.test('HyDE and query expansion', opts, async (t) => {
  const chat = await FakeChat.start()
  const { store, post } = setup({ CHAT_KEY: 'sk-chat-e2e' })
  try {
    await t.step('not configured → skipped naming search.chat_model; the query alone is searched', async () => {
      const r = await post({ query: 'apples', hyde: true, expand: true })
      assert.equal(r.body.steps.hyde.status, 'skipped')
      assert.match(r.body.steps.hyde.reason, /search\.chat_model/)
      assert.equal(r.body.steps.expand.status, 'skipped')
      assert.deepEqual(store.calls.at(-1)!.args.query_embedding, hashEmbedding('apples', 384))
    })

    store.rows = {
      chat_model: 'chat-test',
      chat_base_url: chat.baseUrl,
      chat_api_key_env: 'CHAT_KEY',
      chat_max_tokens: 64,
    }

    await t.step('HyDE: the passage is embedded for the vector channel, BM25 keeps the query', async () => {
      chat.passage = 'Grapes are fermented to make wine.'
      const r = await post({ query: 'apples', hyde: true })
      assert.equal(r.body.steps.hyde.status, 'ok')
      assert.equal(r.body.steps.hyde.model, 'chat-test')
      assert.equal(r.body.steps.hyde.passage, chat.passage)
      const call = store.calls.at(-1)!
      assert.equal(call.args.query_text, 'apples')
      assert.deepEqual(call.args.query_embedding, hashEmbedding(chat.passage, 384))
      const req = chat.requestsFor('hyde').at(-1)!
      assert.equal(req.messages[1].content, 'apples')
      assert.equal(req.max_tokens, 64)
      assert.equal(req.authorization, 'Bearer sk-chat-e2e')
    })

    await t.step('HyDE in mode bm25 is skipped: there is no vector channel', async () => {
      const before = chat.requests.length
      const r = await post({ query: 'apples', hyde: true, mode: 'bm25' })
      assert.equal(r.body.steps.hyde.status, 'skipped')
      assert.match(r.body.steps.hyde.reason, /mode bm25/)
      assert.equal(chat.requests.length, before)
    })

    await t.step('expansion: every phrasing is searched, the lists fused by RRF', async () => {
      chat.alternatives = ['grapes', 'dates']
      const calls = store.calls.length
      const r = await post({ query: 'apples', expand: { n: 2 } })
      assert.equal(r.body.steps.expand.status, 'ok')
      assert.deepEqual(r.body.steps.expand.queries, ['grapes', 'dates'])
      const made = store.calls.slice(calls)
      assert.deepEqual(made.map((c) => c.args.query_text), ['apples', 'grapes', 'dates'])
      assert.deepEqual(made[1].args.query_embedding, hashEmbedding('grapes', 384), 'each phrasing has its own vector')
      // apples → [0, 4]; grapes → [2]; dates → [3]: every list's first hit scores 1/61.
      assert.deepEqual(r.body.results.map((h: Hit) => h.content), [CORPUS[0], CORPUS[2], CORPUS[3], CORPUS[4]])
      assert.deepEqual(r.body.results.map((h: Hit) => h.rank), [1, 2, 3, 4])
      assert.equal(r.body.results[0].score, 1 / 61)
    })

    await t.step("HyDE and expansion together: the passage replaces only the original query's vector", async () => {
      chat.alternatives = ['grapes']
      chat.passage = 'dates are sweet'
      const calls = store.calls.length
      const r = await post({ query: 'apples', hyde: true, expand: { n: 1 } })
      const made = store.calls.slice(calls)
      assert.deepEqual(made[0].args.query_embedding, hashEmbedding('dates are sweet', 384))
      assert.deepEqual(made[1].args.query_embedding, hashEmbedding('grapes', 384))
      assert.equal(r.body.steps.hyde.status, 'ok')
      assert.equal(r.body.steps.expand.status, 'ok')
    })

    for (const mode of ['hang', '500', 'malformed', 'empty', 'no-choices'] as const) {
      await t.step(`chat ${mode} → both steps failed with the reason; the query alone is searched`, async () => {
        chat.setMode(mode)
        store.rows = { ...store.rows, provider_timeout_milliseconds: 300 }
        const calls = store.calls.length
        const r = await post({ query: 'apples', hyde: true, expand: true })
        assert.equal(r.status, 200)
        assert.equal(r.body.steps.hyde.status, 'failed')
        assert.equal(r.body.steps.expand.status, 'failed')
        assert.match(r.body.steps.hyde.reason, /the query itself was embedded/)
        assert.match(r.body.steps.expand.reason, /searched the query alone/)
        assert.ok(!JSON.stringify(r.body).includes('sk-chat-e2e'))
        assert.deepEqual(store.calls.slice(calls).map((c) => c.args.query_text), ['apples'])
        assert.deepEqual(store.calls.at(-1)!.args.query_embedding, hashEmbedding('apples', 384))
        chat.setMode('ok')
      })
    }

    await t.step('an alternative phrasing whose RPC fails is left out and reported', async () => {
      chat.alternatives = ['grapes']
      store.fail = (_fn, args) => (args.query_text === 'grapes' ? new StoreError(500, 'XX000', 'boom') : null)
      const r = await post({ query: 'apples', expand: { n: 1 } })
      store.fail = null
      assert.equal(r.status, 200)
      assert.equal(r.body.steps.expand.status, 'failed')
      assert.match(r.body.steps.expand.reason, /"grapes": boom/)
      assert.deepEqual(r.body.results.map((h: Hit) => h.content), [CORPUS[0], CORPUS[4]])
    })
  } finally {
    await chat.close()
  }
})

Deno.test('fusion, rerank application and rerank text', () => {
  const h = (id: string, extra: Record<string, unknown> = {}): Hit => ({ id, rank: 0, score: 0, content: id, ...extra })
  const fused = fuse([[h('a'), h('b'), h('c')], [h('c'), h('d')], [h('c', { from: 'third' })]], 10)
  // c: 1/63 + 1/61 + 1/61 beats a: 1/61; b (1/62) and d (1/62) tie → first seen first.
  assert.deepEqual(fused.map((x) => x.id), ['c', 'a', 'b', 'd'])
  assert.equal(fused[0].from, undefined, 'the row comes from the first list that has it')
  assert.deepEqual(fused.map((x) => x.rank), [1, 2, 3, 4])
  assert.equal(fuse([[h('a'), h('b')], [h('c')]], 2).length, 2)

  const pool = [h('a'), h('b'), h('c'), h('d')]
  assert.deepEqual(
    applyRerank(pool, [{ index: 2, score: 0.9 }, { index: 0, score: 0.5 }], 3).map((x) => [x.id, x.rerank_score]),
    [
      ['c', 0.9],
      ['a', 0.5],
      ['b', null],
    ],
    'candidates the reranker did not return follow in retrieval order',
  )

  assert.equal(rerankText(h('x', { content: 'body', heading_path: ['Doc', ' ', 'Part'] })), 'Doc › Part\n\nbody')
  assert.equal(rerankText(h('x', { content: 'message' })), 'message')
})
