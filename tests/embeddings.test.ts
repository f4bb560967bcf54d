// Automatic embeddings through the whole stack, with no manual step: messages saved with supabase-js →
// statement trigger → pgmq → cron (util.process_embeddings) → pg_net → /functions/v1/embed (Deno) →
// provider → embeddings. With hash-384 (the default) and, for fault injection, an OpenAI-compatible model
// pointed at the fake provider. After each test: enqueued = embedded + dead-lettered + pending.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { hashEmbedding } from '../supabase/functions/_shared/hash-embedding.ts'
import { FakeOpenAI, type FakeMode } from '../supabase/functions/tests/fake-openai.ts'
import type { Database } from '../stack/core/database.ts'
import { createUser, startTestStack, waitFor, type TestStack, type TestUser } from './helpers/stack.ts'

interface Ledger {
  enqueued: number
  embedded: number
  deadLettered: number
  pending: number
}

/** Jobs sent since `since` (pgmq's id sequence) against where they ended, for the given rows. */
export async function ledger(db: Database, since: number, ids: string[]): Promise<Ledger> {
  const r = await db.query<Ledger>(
    `select (select jobs_enqueued_total::int from util.embedding_pipeline) - $1 as enqueued,
            (select count(*)::int from public.embeddings e join public.messages m on m.id = e.source_id
              where e.source_id = any($2::uuid[]) and e.content_hash = m.content_hash) as embedded,
            (select count(*)::int from public.embedding_failures where source_id = any($2::uuid[])) as "deadLettered",
            (select count(*)::int from pgmq.q_embedding_jobs) as pending`,
    [since, ids],
  )
  return r.rows[0]
}

export async function enqueuedSoFar(db: Database): Promise<number> {
  return (await db.query<{ n: number }>('select jobs_enqueued_total::int as n from util.embedding_pipeline')).rows[0].n
}

async function setSettings(db: Database, values: Record<string, unknown>): Promise<void> {
  for (const [key, value] of Object.entries(values)) {
    await db.query(
      `insert into public.settings (category, key, value) values ('embeddings', $1, $2::jsonb)
       on conflict (category, key) do update set value = excluded.value`,
      [key, JSON.stringify(value)],
    )
  }
}

async function newThread(user: TestUser): Promise<string> {
  const { data, error } = await user.client.rpc('create_thread', { name: 'embedding test' })
  assert.ifError(error)
  return data.id
}

/** Saves messages through the API as the user (save_messages, up to 1000 per call); returns their ids. */
async function save(user: TestUser, threadId: string, contents: string[]): Promise<string[]> {
  const ids: string[] = []
  for (let i = 0; i < contents.length; i += 500) {
    const { data, error } = await user.client.rpc('save_messages', {
      thread_id: threadId,
      messages: contents.slice(i, i + 500).map((content) => ({ role: 'user', content })),
    })
    assert.ifError(error)
    ids.push(...(data as { id: string }[]).map((m) => m.id))
  }
  return ids
}

function parseVector(text: string): number[] {
  return JSON.parse(text)
}

function close(a: number[], b: number[], eps = 1e-6): boolean {
  return a.length === b.length && a.every((x, i) => Math.abs(x - b[i]) < eps)
}

describe('automatic embeddings with hash-384', () => {
  let stack: TestStack
  let alice: TestUser
  let bob: TestUser
  let threadId: string
  before(async () => {
    stack = await startTestStack()
    alice = await createUser(stack, 'alice')
    bob = await createUser(stack, 'bob')
    threadId = await newThread(alice)
  })
  after(() => stack?.close())

  it('1,000 saved messages are all embedded with no manual step', async () => {
    const since = await enqueuedSoFar(stack.db)
    const contents = Array.from({ length: 1000 }, (_, i) => `message ${i}: notes about ${['lisbon', 'porto', 'braga', 'faro'][i % 4]} and item ${i * 7}`)
    const ids = await save(alice, threadId, contents)
    assert.equal(ids.length, 1000)
    await waitFor(async () => (await ledger(stack.db, since, ids)).embedded === 1000, 180_000, 500)
    assert.deepEqual(await ledger(stack.db, since, ids), { enqueued: 1000, embedded: 1000, deadLettered: 0, pending: 0 })

    // The vectors are hash-384 of each message, and token counts are now exact.
    const sample = await stack.db.query<{ content: string; v: string; token_count_exact: boolean }>(
      `select m.content, e.embedding::text as v, m.token_count_exact from public.messages m
         join public.embeddings e on e.source_id = m.id and e.model = 'hash-384'
        where m.id = any($1::uuid[]) order by m.created_at limit 5`,
      [ids],
    )
    for (const r of sample.rows) assert.ok(close(parseVector(r.v), hashEmbedding(r.content)))
    const exact = await stack.db.query<{ n: number }>(`select count(*)::int as n from public.messages where id = any($1::uuid[]) and token_count_exact`, [ids])
    assert.equal(exact.rows[0].n, 1000)

    // It ran by itself: the cron job called the embed function through pg_net.
    const runs = await stack.db.query<{ n: number }>(
      `select count(*)::int as n from cron.job_run_details d join cron.job j using (jobid)
        where j.jobname = 'process-embeddings' and d.status = 'succeeded'`,
    )
    assert.ok(runs.rows[0].n > 0)
    const calls = await stack.db.query<{ status_code: number; n: number }>(
      // (The mirror function's answers, which carry max_version, are the LibSQL mirror's cron job.)
      `select status_code, count(*)::int as n from net._http_response where coalesce(content, '') not like '%"max_version"%' group by 1 order by 1`,
    )
    assert.deepEqual(calls.rows.map((r) => r.status_code), [207], 'every embed call answered 207')
  })

  it('each user sees the status and embeddings of their own messages only', async () => {
    const { data: mine, error } = await alice.client.from('embedding_status').select('status').eq('source_table', 'messages')
    assert.ifError(error)
    assert.equal(mine!.length, 1000)
    assert.ok(mine!.every((r) => r.status === 'embedded'))
    const { data: theirs } = await bob.client.from('embedding_status').select('source_id')
    assert.deepEqual(theirs, [])
    const { data: vectors } = await bob.client.from('embeddings').select('id')
    assert.deepEqual(vectors, [])
  })

  it('an empty message is not embedded and its status says why', async () => {
    const [id] = await save(alice, threadId, ['   '])
    const { data } = await alice.client.from('embedding_status').select('status, reason').eq('source_id', id).single()
    assert.deepEqual(data, { status: 'empty', reason: 'content is empty' })
  })
})

describe('provider faults through the pipeline (fake OpenAI-compatible provider)', () => {
  let stack: TestStack
  let fake: FakeOpenAI
  let alice: TestUser
  let threadId: string
  before(async () => {
    fake = await FakeOpenAI.start({ dims: 16 })
    stack = await startTestStack()
    await stack.db.query(
      `insert into public.embedding_models (name, provider, provider_model, dims, base_url, request_dimensions)
       values ('fake-16', 'openai', 'fake-embedding-model', 16, $1, true)`,
      [fake.baseUrl],
    )
    await stack.db.transaction(async (tx) => {
      await tx.query(`update public.embedding_models set is_default = false where is_default`)
      await tx.query(`update public.embedding_models set is_default = true where name = 'fake-16'`)
    })
    await setSettings(stack.db, {
      provider_timeout_milliseconds: 1000,
      visibility_timeout_seconds: 3,
      max_attempts: 3,
      backoff_base_seconds: 0.2,
      backoff_max_seconds: 1,
      schedule: '1 seconds',
    })
    alice = await createUser(stack, 'alice')
    threadId = await newThread(alice)
  })
  after(async () => {
    await stack?.close()
    await fake?.close()
  })

  const faults: { mode: FakeMode; error: RegExp | null }[] = [
    { mode: '429-then-ok', error: null },
    { mode: '500', error: /HTTP 500.*The server had an error/ },
    { mode: 'hang', error: /no answer from .* within 1000 ms/ },
    { mode: 'wrong-dims', error: /has 15 dimensions, the model stores 16/ },
    { mode: 'fewer', error: /provider returned \d+ embeddings for \d+ inputs/ },
    { mode: 'malformed', error: /reply is not valid JSON/ },
  ]
  for (const { mode, error } of faults) {
    it(`"${mode}": every job ends ${error ? 'dead-lettered with the error text' : 'embedded'}`, async () => {
      fake.setMode(mode, { failures: 2, retryAfterSeconds: 1 })
      const since = await enqueuedSoFar(stack.db)
      const ids = await save(alice, threadId, [1, 2, 3, 4, 5].map((i) => `${mode} message ${i}`))
      await waitFor(async () => {
        const l = await ledger(stack.db, since, ids)
        return l.pending === 0 && l.embedded + l.deadLettered === 5
      }, 60_000, 200)
      const l = await ledger(stack.db, since, ids)
      assert.equal(l.enqueued, l.embedded + l.deadLettered + l.pending)
      if (!error) assert.deepEqual(l, { enqueued: 5, embedded: 5, deadLettered: 0, pending: 0 })
      else {
        assert.deepEqual(l, { enqueued: 5, embedded: 0, deadLettered: 5, pending: 0 })
        const f = await stack.db.query<{ attempts: number; last_error: string }>(
          `select attempts, last_error from public.embedding_failures where source_id = any($1::uuid[])`,
          [ids],
        )
        for (const row of f.rows) {
          assert.equal(row.attempts, 3)
          assert.match(row.last_error, error)
        }
        const { data } = await alice.client.from('embedding_status').select('status, reason').eq('source_id', ids[0]).single()
        assert.equal(data!.status, 'failed')
        assert.match(data!.reason, error)
      }
    })
  }

  it('a message edited while its job is in flight ends with the embedding of its final content', async () => {
    fake.setMode('ok')
    fake.hold()
    const arrived = fake.nextRequest()
    const since = await enqueuedSoFar(stack.db)
    const [id] = await save(alice, threadId, ['the first draft'])
    await arrived
    const { error } = await alice.client.from('messages').update({ content: 'the final text' }).eq('id', id)
    assert.ifError(error)
    fake.release()
    await waitFor(async () => (await ledger(stack.db, since, [id])).embedded === 1, 30_000, 200)
    await waitFor(async () => (await ledger(stack.db, since, [id])).pending === 0, 30_000, 200)
    const row = await stack.db.query<{ v: string }>(`select embedding::text as v from public.embeddings where source_id = $1`, [id])
    assert.ok(close(parseVector(row.rows[0].v), fake.vectorFor('the final text')))
    // Two jobs (the save and the edit): the first was dropped as stale, the second stored.
    assert.deepEqual(await ledger(stack.db, since, [id]), { enqueued: 2, embedded: 1, deadLettered: 0, pending: 0 })
  })
})
