// The embed handler against a real (fresh, migrated) database and the fake OpenAI-compatible provider:
// request checks, the hash-384 default, one provider call per batch, token limits (truncate, split,
// batch limits), stale jobs, and every provider fault — after which each job is embedded or dead-lettered
// with the error text, and enqueued = embedded + dead-lettered + pending.
import assert from 'node:assert/strict'
import { hashEmbedding } from '../_shared/hash-embedding.ts'
import { encode, encoding } from '../_shared/tokenizer.ts'
import { backoffSeconds } from '../embed/batch.ts'
import { createHandler } from '../embed/handler.ts'
import { type FakeMode, FakeOpenAI } from './fake-openai.ts'
import {
  addMessages,
  createThread,
  jobsEnqueued,
  ledger,
  parseVector,
  resetPipeline,
  setSetting,
  startTestDatabase,
  tokenWithRole,
  useModel,
} from './test-db.ts'

const opts = { sanitizeOps: false, sanitizeResources: false }
const SERVICE = tokenWithRole('service_role')

function close(a: number[], b: number[], eps = 1e-6): boolean {
  return a.length === b.length && a.every((x, i) => Math.abs(x - b[i]) < eps)
}

Deno.test('embed handler', opts, async (t) => {
  const db = await startTestDatabase()
  const sql = db.sql
  const fake = await FakeOpenAI.start({ dims: 8 })
  const env = (name: string) =>
    ({ SUPABASE_DB_URL: db.url, FAKE_OPENAI_KEY: 'sk-fake' } as Record<string, string>)[name]
  const handler = createHandler({ env })
  const call = async (body: unknown = {}, token = SERVICE) => {
    const res = await handler(
      new Request('http://localhost/embed', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      }),
    )
    return { status: res.status, body: await res.json() }
  }
  const { threadId } = await createThread(sql, 'alice')

  try {
    // Quick tries: no waiting between attempts unless a test sets a backoff.
    await setSetting(sql, 'max_attempts', 3)
    await setSetting(sql, 'backoff_base_seconds', 0)
    await setSetting(sql, 'provider_timeout_milliseconds', 400)
    await setSetting(sql, 'visibility_timeout_seconds', 5)

    await t.step('refuses requests that are not a service_role POST with a valid body', async () => {
      const get = await handler(
        new Request('http://localhost/embed', { headers: { authorization: `Bearer ${SERVICE}` } }),
      )
      assert.equal(get.status, 405)
      await get.body?.cancel()
      const none = await handler(new Request('http://localhost/embed', { method: 'POST' }))
      assert.equal(none.status, 401)
      await none.body?.cancel()
      const user = await call({}, tokenWithRole('authenticated'))
      assert.equal(user.status, 403)
      assert.equal(user.body.error.code, 'forbidden')
      const bad = await call({ batch_size: 0 })
      assert.equal(bad.status, 400)
      assert.match(bad.body.error.message, /batch_size must be a whole number from 1 to 2048, got 0/)
      const unknown = await call({ batchsize: 5 })
      assert.equal(unknown.status, 400)
      assert.match(unknown.body.error.message, /unknown field "batchsize"/)
    })

    await t.step(
      'hash-384 (the default): embeds saved messages, writes exact token counts, empties the queue',
      async () => {
        await resetPipeline(sql)
        const since = await jobsEnqueued(sql)
        const texts = ['hello world', 'The quick brown fox jumps over the lazy dog.', '<|endoftext|> is just text here']
        const ids = await addMessages(sql, threadId, texts)
        const res = await call()
        assert.equal(res.status, 207)
        assert.equal(res.body.done.length, 3)
        assert.deepEqual(res.body.failed, [])
        const rows = await sql`
        select m.content, m.token_count, m.token_count_exact, e.embedding::text as v, e.model, e.content_hash = m.content_hash as current
          from public.messages m join public.embeddings e on e.source_id = m.id
         where m.id = any(${ids}::uuid[]) order by array_position(${ids}::uuid[], m.id)`
        assert.deepEqual(rows.map((r) => [r.content, r.token_count, r.token_count_exact, r.model, r.current]), [
          ['hello world', 2, true, 'hash-384', true],
          ['The quick brown fox jumps over the lazy dog.', 10, true, 'hash-384', true],
          ['<|endoftext|> is just text here', 11, true, 'hash-384', true],
        ])
        for (const r of rows) {
          assert.ok(
            close(parseVector(r.v), hashEmbedding(r.content)),
            `stored vector of "${r.content}" is hash-384 of it`,
          )
        }
        assert.deepEqual(await ledger(sql, since, ids), { enqueued: 3, embedded: 3, deadLettered: 0, pending: 0 })
        const again = await call()
        assert.deepEqual(again.body.done, [], 'an empty queue is a quiet no-op')
      },
    )

    await sql`
      insert into public.embedding_models (name, provider, provider_model, dims, base_url, api_key_env, request_dimensions,
                                           max_input_tokens, overflow, max_batch_inputs, max_batch_tokens)
      values ('fake-small', 'openai', 'fake-embedding-model', 8, ${fake.baseUrl}, 'FAKE_OPENAI_KEY', true, 8191, 'split', 2048, 300000)`
    await useModel(sql, 'fake-small')

    await t.step(
      'an OpenAI-compatible model gets ONE request per batch with every input, its model id, dimensions and key',
      async () => {
        await resetPipeline(sql)
        fake.setMode('ok')
        const before = fake.requests.length
        const texts = Array.from({ length: 25 }, (_, i) => `message number ${i} about topic ${i % 4}`)
        const ids = await addMessages(sql, threadId, texts)
        const res = await call({ batch_size: 100 })
        assert.equal(res.body.done.length, 25)
        assert.equal(fake.requests.length, before + 1, 'one provider call for the batch')
        const req = fake.requests.at(-1)!
        assert.deepEqual([...req.input].sort(), [...texts].sort())
        assert.deepEqual([req.model, req.dimensions, req.authorization], ['fake-embedding-model', 8, 'Bearer sk-fake'])
        const stored =
          await sql`select m.content, e.embedding::text as v from public.embeddings e join public.messages m on m.id = e.source_id
                                where e.model = 'fake-small' and e.source_id = any(${ids}::uuid[])`
        assert.equal(stored.length, 25)
        for (const r of stored) assert.ok(close(parseVector(r.v), fake.vectorFor(r.content)))
      },
    )

    await t.step('batch_size limits how many jobs one request takes', async () => {
      await resetPipeline(sql)
      const ids = await addMessages(sql, threadId, ['one', 'two', 'three', 'four', 'five'])
      const first = await call({ batch_size: 2 })
      assert.equal(first.body.done.length, 2)
      const [{ n }] = await sql`select (pgmq.metrics('embedding_jobs')).queue_length::int as n`
      assert.equal(n, 3)
      await call({ batch_size: 10 })
      assert.equal((await ledger(sql, 0, ids)).embedded, 5)
    })

    await t.step('jobs beyond max_batch_inputs are deferred without using an attempt', async () => {
      await resetPipeline(sql)
      await sql`update public.embedding_models set max_batch_inputs = 2 where name = 'fake-small'`
      const before = fake.requests.length
      try {
        const ids = await addMessages(sql, threadId, ['alpha', 'beta', 'gamma', 'delta', 'epsilon'])
        const res = await call()
        assert.equal(res.body.done.length, 2)
        assert.equal(res.body.deferred.length, 3)
        assert.equal(fake.requests.length, before + 1)
        assert.equal(fake.requests.at(-1)!.input.length, 2)
        const queued = await sql`select q.read_ct, q.message ->> 'attempts' as carried from pgmq.q_embedding_jobs q`
        assert.deepEqual(
          queued.map((q) => [q.read_ct, q.carried]),
          [[0, '0'], [0, '0'], [0, '0']],
          'deferred jobs keep their attempt count',
        )
        await call()
        await call()
        assert.equal((await ledger(sql, 0, ids)).embedded, 5)
      } finally {
        await sql`update public.embedding_models set max_batch_inputs = 2048 where name = 'fake-small'`
      }
    })

    await t.step(
      'inputs over max_input_tokens are truncated, or split and pooled, in the same provider call',
      async () => {
        await resetPipeline(sql)
        const enc = await encoding('cl100k_base')
        const long = 'one two three four five six seven eight nine ten'
        const tokens = encode(enc, long)
        assert.equal(tokens.length, 10)
        await sql`update public.embedding_models set max_input_tokens = 4, overflow = 'truncate' where name = 'fake-small'`
        try {
          let ids = await addMessages(sql, threadId, [long])
          await call()
          let req = fake.requests.at(-1)!
          assert.deepEqual(req.input, ['one two three four'])
          let [row] = await sql`select embedding::text as v from public.embeddings where source_id = ${ids[0]}`
          assert.ok(close(parseVector(row.v), fake.vectorFor('one two three four')))

          await sql`update public.embedding_models set overflow = 'split' where name = 'fake-small'`
          ids = await addMessages(sql, threadId, [long + ' eleven', 'short one'])
          await call()
          req = fake.requests.at(-1)!
          assert.equal(req.input.length, 4, 'three pieces and the short message, in one request')
          assert.deepEqual(req.input.filter((x) => x !== 'short one'), [
            'one two three four',
            ' five six seven eight',
            ' nine ten eleven',
          ])
          ;[row] = await sql`select embedding::text as v from public.embeddings where source_id = ${ids[0]}`
          const pieces = [['one two three four', 4], [' five six seven eight', 4], [' nine ten eleven', 3]] as const
          const mean = new Array(8).fill(0)
          for (const [text, w] of pieces) fake.vectorFor(text).forEach((x, i) => (mean[i] += x * w))
          const norm = Math.hypot(...mean)
          assert.ok(
            close(parseVector(row.v), mean.map((x) => x / norm)),
            'the stored vector is the token-weighted mean of the pieces, normalised',
          )
        } finally {
          await sql`update public.embedding_models set max_input_tokens = 8191 where name = 'fake-small'`
        }
      },
    )

    await t.step(
      'a message edited while its job is in flight ends with the embedding of its final content',
      async () => {
        await resetPipeline(sql)
        const [id] = await addMessages(sql, threadId, ['first draft of the message'])
        fake.hold()
        const arrived = fake.nextRequest()
        const inFlight = call()
        await arrived
        await sql`update public.messages set content = 'final version of the message' where id = ${id}`
        fake.release()
        const first = await inFlight
        assert.deepEqual(first.body.done, [], 'the vector of the old content is not stored')
        assert.equal(first.body.dropped.length, 1)
        const second = await call()
        assert.equal(second.body.done.length, 1)
        const [row] = await sql`select e.embedding::text as v, e.content_hash = m.content_hash as current
                                from public.embeddings e join public.messages m on m.id = e.source_id where e.source_id = ${id}`
        assert.ok(row.current)
        assert.ok(close(parseVector(row.v), fake.vectorFor('final version of the message')))
      },
    )

    await t.step('jobs whose row was deleted or emptied are dropped; an emptied row loses its embedding', async () => {
      await resetPipeline(sql)
      const [keep, gone, emptied] = await addMessages(sql, threadId, ['stays', 'deleted soon', 'emptied soon'])
      await sql`delete from public.messages where id = ${gone}`
      await sql`update public.messages set content = '  ' where id = ${emptied}`
      const res = await call()
      assert.equal(res.body.done.length, 1)
      assert.equal(res.body.dropped.length, 2)
      const [s] =
        await sql`select status, reason from public.embedding_status where source_id = ${emptied} and model = 'fake-small'`
      assert.deepEqual([s.status, s.reason], ['empty', 'content is empty'])
      const rows = await sql`select source_id from public.embeddings where source_id = any(${[
        keep,
        gone,
        emptied,
      ]}::uuid[])`
      assert.deepEqual(rows.map((r) => r.source_id), [keep])
    })

    await t.step('a job naming an unregistered table is dead-lettered at once with the reason', async () => {
      await resetPipeline(sql)
      await sql`select pgmq.send('embedding_jobs', '{"table": "secrets", "id": "00000000-0000-0000-0000-000000000001", "model": "fake-small", "content_hash": "x"}')`
      const res = await call()
      assert.equal(res.body.dead_lettered.length, 1)
      const [f] = await sql`select attempts, last_error from public.embedding_failures`
      assert.match(f.last_error, /invalid job: table secrets is not an embedding source/)
    })

    const faults: { mode: FakeMode; error: RegExp | null }[] = [
      { mode: '429-then-ok', error: null },
      { mode: '500', error: /HTTP 500.*The server had an error/ },
      { mode: 'hang', error: /no answer from .* within 400 ms/ },
      { mode: 'wrong-dims', error: /embedding 0 has 7 dimensions, the model stores 8/ },
      { mode: 'fewer', error: /provider returned 3 embeddings for 4 inputs/ },
      { mode: 'malformed', error: /reply is not valid JSON/ },
    ]
    for (const { mode, error } of faults) {
      await t.step(
        `provider fault "${mode}": every job ends ${error ? 'dead-lettered with the error' : 'embedded'}`,
        async () => {
          await resetPipeline(sql)
          fake.setMode(mode, { failures: 2, retryAfterSeconds: 1 })
          const since = await jobsEnqueued(sql)
          const ids = await addMessages(
            sql,
            threadId,
            ['w one', 'w two', 'w three', 'w four'].map((s) => `${s} ${mode}`),
          )
          for (let i = 0; i < 8; i++) {
            const res = await call()
            assert.equal(res.status, 207)
            const l = await ledger(sql, since, ids)
            assert.equal(
              l.enqueued,
              l.embedded + l.deadLettered + l.pending,
              'enqueued = embedded + dead-lettered + pending after every run',
            )
            if (l.pending === 0) break
            // 429 asks for a 1 s pause: the jobs are not visible again before then.
            if (mode === '429-then-ok') await new Promise((r) => setTimeout(r, 1100))
          }
          const l = await ledger(sql, since, ids)
          assert.equal(l.pending, 0)
          if (!error) {
            assert.deepEqual(l, { enqueued: 4, embedded: 4, deadLettered: 0, pending: 0 })
          } else {
            assert.deepEqual(l, { enqueued: 4, embedded: 0, deadLettered: 4, pending: 0 })
            const failures =
              await sql`select attempts, last_error, source_id from public.embedding_failures order by source_id`
            assert.deepEqual(failures.map((f) => f.attempts), [3, 3, 3, 3], 'dead-lettered after max_attempts (3)')
            for (const f of failures) assert.match(f.last_error, error)
            const [s] = await sql`select status, reason from public.embedding_status where source_id = ${
              ids[0]
            } and model = 'fake-small'`
            assert.equal(s.status, 'failed')
            assert.match(s.reason, error)
            const [{ archived }] = await sql`select count(*)::int as archived from pgmq.a_embedding_jobs a`
            assert.equal(archived, 4, 'dead-lettered jobs are archived')
          }
        },
      )
    }

    await t.step('after a 429 the jobs wait at least the Retry-After before the next try', async () => {
      await resetPipeline(sql)
      fake.setMode('429-then-ok', { failures: 1, retryAfterSeconds: 2 })
      await addMessages(sql, threadId, ['rate limited'])
      const first = await call()
      assert.equal(first.body.failed.length, 1)
      const [q] = await sql`select extract(epoch from q.vt - clock_timestamp()) as wait from pgmq.q_embedding_jobs q`
      assert.ok(Number(q.wait) > 1.5, `next try in ${q.wait} s`)
      assert.deepEqual((await call()).body.done, [], 'not visible yet')
    })

    await t.step('backoff doubles per attempt up to the cap, with jitter in [0.5, 1)', () => {
      const s = { backoff_base_seconds: 2, backoff_max_seconds: 30 }
      assert.deepEqual([1, 2, 3, 4, 5, 6].map((a) => backoffSeconds(a, s, () => 0)), [1, 2, 4, 8, 15, 15])
      assert.ok(backoffSeconds(3, s, () => 0.999) < 8 && backoffSeconds(3, s, () => 0.999) > 7.9)
      assert.equal(backoffSeconds(1, s, () => 0, 5000), 5, 'Retry-After wins when longer')
    })

    await t.step('a provider that cannot run here fails its jobs with a clear error', async () => {
      await resetPipeline(sql)
      await useModel(sql, 'gte-small')
      await setSetting(sql, 'max_attempts', 1)
      await addMessages(sql, threadId, ['needs the edge runtime'])
      const res = await call()
      assert.equal(res.body.dead_lettered.length, 1)
      const [f] = await sql`select last_error from public.embedding_failures`
      assert.match(f.last_error, /supabase-ai provider runs only inside Supabase's edge runtime/)
    })
  } finally {
    await fake.close()
    await db.stop()
  }
})
