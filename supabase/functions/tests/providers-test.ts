// Embedding providers against the fake OpenAI-compatible server: the request they send, the vectors they
// return, and an EmbeddingError with the right code (and Retry-After) for every way a provider fails.
import assert from 'node:assert/strict'
import {
  checkVectors,
  createProvider,
  EmbeddingError,
  type EmbeddingModelConfig,
  poolVectors,
  retryAfterMs,
} from '../_shared/embeddings.ts'
import { hashEmbedding, hashFeatures } from '../_shared/hash-embedding.ts'
import { FakeOpenAI } from './fake-openai.ts'

const opts = { sanitizeOps: false, sanitizeResources: false }

function openaiModel(baseUrl: string, extra: Partial<EmbeddingModelConfig> = {}): EmbeddingModelConfig {
  return {
    name: 'fake-small',
    provider: 'openai',
    provider_model: 'fake-embedding-model',
    dims: 8,
    base_url: baseUrl,
    api_key_env: 'FAKE_OPENAI_KEY',
    request_dimensions: true,
    ...extra,
  }
}

const env = (vars: Record<string, string>) => (name: string) => vars[name]

async function rejection(p: Promise<unknown>): Promise<EmbeddingError> {
  try {
    await p
  } catch (err) {
    assert.ok(err instanceof EmbeddingError, `expected an EmbeddingError, got ${err}`)
    return err
  }
  throw new Error('expected the call to fail')
}

Deno.test('openai provider', opts, async (t) => {
  const fake = await FakeOpenAI.start({ dims: 8 })
  const model = openaiModel(fake.baseUrl)
  const provider = createProvider(model, { env: env({ FAKE_OPENAI_KEY: 'sk-test-123' }), timeoutMs: 500 })
  try {
    await t.step(
      'sends one request with model, all inputs, dimensions and the key from the named variable',
      async () => {
        fake.setMode('ok')
        const before = fake.requests.length
        const vectors = await provider.embed(['first text', 'second text', 'third'])
        assert.equal(fake.requests.length, before + 1)
        const req = fake.requests.at(-1)!
        assert.equal(req.path, '/v1/embeddings')
        assert.equal(req.model, 'fake-embedding-model')
        assert.deepEqual(req.input, ['first text', 'second text', 'third'])
        assert.equal(req.dimensions, 8)
        assert.equal(req.authorization, 'Bearer sk-test-123')
        assert.deepEqual(vectors, ['first text', 'second text', 'third'].map((s) => hashEmbedding(s, 8)))
      },
    )

    await t.step('does not send dimensions unless the model asks for it, and no key when none is set', async () => {
      const plain = createProvider(openaiModel(fake.baseUrl, { request_dimensions: false }), {
        env: env({}),
        timeoutMs: 500,
      })
      await plain.embed(['x y'])
      const req = fake.requests.at(-1)!
      assert.equal(req.dimensions, undefined)
      assert.equal(req.authorization, null)
    })

    await t.step('refuses to call api.openai.com without a key, naming the variable', async () => {
      const real = createProvider(openaiModel('https://api.openai.com/v1'), { env: env({}), timeoutMs: 500 })
      const err = await rejection(real.embed(['x']))
      assert.equal(err.code, 'config')
      assert.match(err.message, /FAKE_OPENAI_KEY is not set/)
    })

    await t.step('HTTP 429 is an http error with the Retry-After in milliseconds', async () => {
      fake.setMode('429-then-ok', { failures: 1, retryAfterSeconds: 3 })
      const err = await rejection(provider.embed(['a']))
      assert.equal(err.code, 'http')
      assert.equal(err.status, 429)
      assert.equal(err.retryAfterMs, 3000)
      assert.match(err.message, /HTTP 429.*Rate limit reached/)
      assert.deepEqual(await provider.embed(['a']), [hashEmbedding('a', 8)], 'the next request succeeds')
    })

    await t.step('HTTP 401, 403 and an unknown model (404) are configuration errors, not worth retrying', async () => {
      fake.setMode('401')
      const refused = await rejection(provider.embed(['a']))
      assert.equal(refused.code, 'config')
      assert.equal(refused.permanent, true)
      assert.equal(refused.status, 401)
      assert.match(
        refused.message,
        /HTTP 401.*Incorrect API key.*the provider refused the key in FAKE_OPENAI_KEY.*not retried/,
      )
      assert.ok(!refused.message.includes('sk-test-123'), 'the key never appears in an error')
      fake.setMode('403')
      assert.equal((await rejection(provider.embed(['a']))).code, 'config')
      fake.setMode('unknown-model')
      const unknown = await rejection(provider.embed(['a']))
      assert.equal(unknown.code, 'config')
      assert.match(unknown.message, /does not know model "fake-embedding-model"/)
      fake.setMode('500')
      assert.equal((await rejection(provider.embed(['a']))).permanent, false, 'a 500 may heal: retried')
    })

    await t.step('HTTP 500 is an http error carrying the provider message', async () => {
      fake.setMode('500')
      const err = await rejection(provider.embed(['a']))
      assert.equal(err.status, 500)
      assert.match(err.message, /HTTP 500.*The server had an error/)
      assert.ok(!err.message.includes('sk-test-123'), 'the key never appears in an error')
    })

    await t.step('a provider that never answers times out', async () => {
      fake.setMode('hang')
      const started = Date.now()
      const err = await rejection(provider.embed(['a']))
      assert.equal(err.code, 'timeout')
      assert.match(err.message, /within 500 ms/)
      assert.ok(Date.now() - started < 3000)
    })

    await t.step('wrong dimensions, fewer vectors and malformed JSON are bad replies', async () => {
      fake.setMode('wrong-dims')
      assert.match(
        (await rejection(provider.embed(['a', 'b']))).message,
        /embedding 0 has 7 dimensions, the model stores 8/,
      )
      fake.setMode('fewer')
      assert.match((await rejection(provider.embed(['a', 'b']))).message, /1 embeddings for 2 inputs/)
      fake.setMode('malformed')
      const err = await rejection(provider.embed(['a']))
      assert.equal(err.code, 'bad_reply')
      assert.match(err.message, /not valid JSON/)
    })

    await t.step('an unreachable server is a network error', async () => {
      const gone = createProvider(openaiModel('http://127.0.0.1:9/v1'), { env: env({}), timeoutMs: 2000 })
      assert.equal((await rejection(gone.embed(['a']))).code, 'network')
    })
  } finally {
    await fake.close()
  }
})

Deno.test("supabase-ai provider explains that it needs Supabase's edge runtime", opts, async () => {
  const p = createProvider({
    ...openaiModel(''),
    provider: 'supabase-ai',
    provider_model: 'gte-small',
    dims: 384,
    base_url: null,
    api_key_env: null,
  }, {
    env: env({}),
    timeoutMs: 1000,
  })
  const err = await rejection(p.embed(['hello']))
  assert.equal(err.code, 'config')
  assert.match(err.message, /only inside Supabase's edge runtime/)
})

Deno.test('hash-384 is deterministic, normalised, lexical and refuses empty text', () => {
  const a = hashEmbedding('The quick brown fox')
  assert.equal(a.length, 384)
  assert.deepEqual(a, hashEmbedding('the  QUICK brown fox'), 'case and spacing do not matter')
  assert.ok(Math.abs(Math.hypot(...a) - 1) < 1e-12, 'unit length')
  const dot = (x: number[], y: number[]) => x.reduce((s, v, i) => s + v * y[i], 0)
  const related = dot(a, hashEmbedding('a quick brown fox jumps'))
  const unrelated = dot(a, hashEmbedding('database migrations run in order'))
  assert.ok(related > 0.4, `shared words give a high cosine (${related})`)
  assert.ok(Math.abs(unrelated) < 0.25, `no shared words give a cosine near 0 (${unrelated})`)
  assert.ok(hashFeatures('👍👍👍').size > 0, 'text without words falls back to character trigrams')
  assert.throws(() => hashEmbedding('   '), /empty text/)
})

Deno.test('checkVectors and poolVectors', () => {
  assert.throws(
    () => checkVectors({ name: 'm', dims: 2 }, 1, [[0, NaN]]),
    /contains null, not a finite number|not a finite number/,
  )
  assert.throws(() => checkVectors({ name: 'm', dims: 2 }, 1, [[0, '1']]), /not a finite number/)
  assert.deepEqual(checkVectors({ name: 'm', dims: 2 }, 1, [[0.5, 0.5]]), [[0.5, 0.5]])
  const pooled = poolVectors([[1, 0], [0, 1]], [3, 1])
  assert.ok(Math.abs(pooled[0] - 3 / Math.sqrt(10)) < 1e-12 && Math.abs(pooled[1] - 1 / Math.sqrt(10)) < 1e-12)
  const h = new Headers({ 'retry-after': 'Wed, 21 Oct 2099 07:28:00 GMT' })
  assert.equal(retryAfterMs(h, Date.parse('Wed, 21 Oct 2099 07:27:58 GMT')), 2000)
  assert.equal(retryAfterMs(new Headers({ 'retry-after-ms': '250' })), 250)
  assert.equal(retryAfterMs(new Headers()), undefined)
})
