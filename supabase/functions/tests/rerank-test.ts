// Rerank providers against the fake reranker: the request each provider sends (path, body shape, key),
// the hits it returns (checked, best first), and a ProviderError with the right code for every way a
// reranker fails — missing configuration, timeout, HTTP 5xx, malformed JSON, wrong indices, no scores,
// a reply of the wrong shape.
import assert from 'node:assert/strict'
import { ProviderError } from '../_shared/provider-http.ts'
import { createReranker, parseReply, type RerankConfig, type RerankProviderName } from '../_shared/rerank.ts'
import { FakeRerank, type FakeRerankMode, overlapScorer } from './fake-rerank.ts'

const opts = { sanitizeOps: false, sanitizeResources: false }
const env = (vars: Record<string, string>) => (name: string) => vars[name]

const DOCS = [
  'Cats sleep for most of the day.',
  'The stock market fell sharply on Monday.',
  'Dogs and cats can live together peacefully.',
  'Interest rates and the stock market are linked.',
]

async function rejection(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p
  } catch (err) {
    assert.ok(err instanceof ProviderError, `expected a ProviderError, got ${err}`)
    return err
  }
  throw new Error('expected the call to fail')
}

function config(fake: FakeRerank, provider: RerankProviderName, extra: Partial<RerankConfig> = {}): RerankConfig {
  return {
    provider,
    model: provider === 'tei' ? null : `${provider}-rerank-test`,
    baseUrl: fake.baseUrl(provider),
    apiKeyEnv: provider === 'tei' ? null : 'RERANK_TEST_KEY',
    timeoutMs: 500,
    ...extra,
  }
}

Deno.test('every rerank provider: request shape and checked, ordered hits', opts, async (t) => {
  const fake = await FakeRerank.start()
  try {
    const cases: { provider: RerankProviderName; path: string; body: (top: number) => Record<string, unknown> }[] = [
      {
        provider: 'cohere',
        path: '/cohere/v2/rerank',
        body: (top) => ({ model: 'cohere-rerank-test', query: 'stock market', documents: DOCS, top_n: top }),
      },
      {
        provider: 'jina',
        path: '/jina/v1/rerank',
        body: (top) => ({ model: 'jina-rerank-test', query: 'stock market', documents: DOCS, top_n: top }),
      },
      {
        provider: 'voyage',
        path: '/voyage/v1/rerank',
        body: (top) => ({ model: 'voyage-rerank-test', query: 'stock market', documents: DOCS, top_k: top }),
      },
      { provider: 'tei', path: '/tei/rerank', body: () => ({ query: 'stock market', texts: DOCS, truncate: true }) },
    ]
    for (const c of cases) {
      await t.step(`${c.provider}: POSTs ${c.path} and returns the best documents first`, async () => {
        const reranker = createReranker(config(fake, c.provider), { env: env({ RERANK_TEST_KEY: 'rk-secret-1' }) })
        const before = fake.requests.length
        const hits = await reranker.rerank('stock market', DOCS, 2)
        assert.equal(fake.requests.length, before + 1, 'one request')
        const req = fake.requests.at(-1)!
        assert.equal(req.path, c.path)
        assert.deepEqual(req.body, c.body(2))
        assert.equal(req.authorization, c.provider === 'tei' ? null : 'Bearer rk-secret-1')
        // Docs 1 and 3 contain both query words (score 1); the rest none.
        assert.deepEqual(hits.map((h) => h.index), [1, 3])
        assert.deepEqual(hits.map((h) => h.score), [1, 1])
      })
    }

    await t.step('cohere v1 base URL works the same', async () => {
      const reranker = createReranker(
        config(fake, 'cohere', { baseUrl: fake.baseUrl('cohere-v1') }),
        { env: env({ RERANK_TEST_KEY: 'k' }) },
      )
      fake.scorer = (_q, d) => (d.startsWith('Dogs') ? 0.9 : d.startsWith('Cats') ? 0.5 : 0.1)
      const hits = await reranker.rerank('pets', DOCS, 3)
      assert.equal(fake.requests.at(-1)!.path, '/cohere/v1/rerank')
      assert.deepEqual(hits, [{ index: 2, score: 0.9 }, { index: 0, score: 0.5 }, { index: 1, score: 0.1 }])
    })

    await t.step('TEI scores every text; the reranker keeps the best topN', async () => {
      const reranker = createReranker(config(fake, 'tei'), { env: env({}) })
      const hits = await reranker.rerank('pets', DOCS, 1)
      assert.deepEqual(hits, [{ index: 2, score: 0.9 }])
    })

    await t.step('top is clamped to the number of documents, and no documents means no call', async () => {
      const reranker = createReranker(config(fake, 'jina'), { env: env({ RERANK_TEST_KEY: 'k' }) })
      await reranker.rerank('pets', DOCS.slice(0, 2), 50)
      assert.equal(fake.requests.at(-1)!.body.top_n, 2)
      const before = fake.requests.length
      assert.deepEqual(await reranker.rerank('pets', [], 5), [])
      assert.equal(fake.requests.length, before)
    })
  } finally {
    fake.scorer = overlapScorer
    await fake.close()
  }
})

Deno.test('rerank configuration errors', opts, async (t) => {
  await t.step('a public API without its key is refused before any request, naming the variable', async () => {
    const reranker = createReranker(
      { provider: 'cohere', model: 'rerank-v3.5', baseUrl: null, apiKeyEnv: null, timeoutMs: 500 },
      { env: env({}) },
    )
    const err = await rejection(reranker.rerank('q', DOCS, 2))
    assert.equal(err.code, 'config')
    assert.match(err.message, /COHERE_API_KEY is not set/)
  })
  await t.step('a variable the settings name must be set, also for a self-hosted URL', async () => {
    const reranker = createReranker(
      { provider: 'jina', model: 'm', baseUrl: 'http://127.0.0.1:9/v1', apiKeyEnv: 'MY_RERANK_KEY', timeoutMs: 500 },
      { env: env({}) },
    )
    const err = await rejection(reranker.rerank('q', DOCS, 2))
    assert.equal(err.code, 'config')
    assert.match(err.message, /MY_RERANK_KEY is not set/)
  })
  await t.step('TEI needs a base URL; the others need a model', async () => {
    const tei = createReranker({ provider: 'tei', model: null, baseUrl: null, apiKeyEnv: null, timeoutMs: 500 }, {
      env: env({}),
    })
    assert.match((await rejection(tei.rerank('q', DOCS, 2))).message, /search\.rerank_base_url/)
    const voyage = createReranker(
      { provider: 'voyage', model: null, baseUrl: null, apiKeyEnv: null, timeoutMs: 500 },
      { env: env({ VOYAGE_API_KEY: 'k' }) },
    )
    const err = await rejection(voyage.rerank('q', DOCS, 2))
    assert.equal(err.code, 'config')
    assert.match(err.message, /search\.rerank_model/)
  })
})

Deno.test('rerank failures: every provider, every failure, a coded ProviderError without the key', opts, async (t) => {
  const fake = await FakeRerank.start()
  const failures: { mode: FakeRerankMode; code: string; message: RegExp }[] = [
    { mode: 'hang', code: 'timeout', message: /no answer from .* within 200 ms/ },
    { mode: '500', code: 'http', message: /answered HTTP 500/ },
    { mode: 'malformed', code: 'bad_reply', message: /not valid JSON/ },
    { mode: 'out-of-range', code: 'bad_reply', message: /index 4, not one of the 4 documents/ },
    { mode: 'duplicate', code: 'bad_reply', message: /appears twice/ },
    { mode: 'no-scores', code: 'bad_reply', message: /not a finite number/ },
    { mode: 'wrong-shape', code: 'bad_reply', message: /is not an array/ },
  ]
  try {
    for (const provider of ['cohere', 'jina', 'voyage', 'tei'] as const) {
      for (const f of failures) {
        // TEI's malformed body is the same cut-off JSON; every shape is checked the same way.
        await t.step(`${provider}: ${f.mode} → ${f.code}`, async () => {
          fake.setMode(f.mode)
          const reranker = createReranker(config(fake, provider, { timeoutMs: 200 }), {
            env: env({ RERANK_TEST_KEY: 'rk-secret-2' }),
          })
          const err = await rejection(reranker.rerank('stock market', DOCS, 4))
          assert.equal(err.code, f.code, err.message)
          assert.match(err.message, f.message)
          assert.ok(!err.message.includes('rk-secret-2'), 'the key never appears in the message')
          if (f.code === 'http') assert.equal(err.status, 500)
        })
      }
    }
    await t.step('a connection refused is a network error', async () => {
      const reranker = createReranker(
        { provider: 'tei', model: null, baseUrl: 'http://127.0.0.1:9', apiKeyEnv: null, timeoutMs: 500 },
        { env: env({}) },
      )
      assert.equal((await rejection(reranker.rerank('q', DOCS, 2))).code, 'network')
    })
  } finally {
    await fake.close()
  }
})

Deno.test('parseReply: checks and orders hits', () => {
  assert.deepEqual(
    parseReply('cohere', 'u', { results: [{ index: 1, relevance_score: 0.2 }, { index: 0, relevance_score: 0.7 }] }, 2),
    [{ index: 0, score: 0.7 }, { index: 1, score: 0.2 }],
  )
  assert.deepEqual(parseReply('tei', 'u', [{ index: 1, score: 3 }, { index: 0, score: 3 }], 2), [
    { index: 0, score: 3 },
    { index: 1, score: 3 },
  ], 'ties keep the original order')
  assert.throws(() => parseReply('voyage', 'u', { data: [] }, 2), /empty/)
  assert.throws(() => parseReply('jina', 'u', { results: [{ index: 0.5, relevance_score: 1 }] }, 2), /index 0.5/)
  assert.throws(() => parseReply('jina', 'u', { results: [{ index: -1, relevance_score: 1 }] }, 2), /index -1/)
  assert.throws(() => parseReply('cohere', 'u', { results: [{ index: 0, relevance_score: NaN }] }, 2), /finite/)
  assert.throws(() => parseReply('tei', 'u', null, 2), /not an array/)
})
