// Killing the stack (SIGKILL to `npm start`'s whole process group) while a batch is in flight loses no
// embedding job: after a restart on the same data, the jobs that were read but never finished become
// visible again once their visibility timeout passes, and every message ends up embedded.
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { after, describe, it } from 'node:test'
import pg from 'pg'
import { FakeOpenAI } from '../supabase/functions/tests/fake-openai.ts'
import { spawnNpmStart, tempDataDir, waitFor } from './helpers/stack.ts'

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

interface Counts {
  enqueued: number
  embedded: number
  dead_lettered: number
  pending: number
  in_flight: number
  queued_for_thread: number
}

const COUNTS = `
  select (select jobs_enqueued_total::int from util.embedding_pipeline) as enqueued,
         (select count(*)::int from public.embeddings e join public.messages m on m.id = e.source_id and e.content_hash = m.content_hash
           where m.thread_id = $1) as embedded,
         (select count(*)::int from public.embedding_failures) as dead_lettered,
         (select count(*)::int from pgmq.q_embedding_jobs) as pending,
         (select count(*)::int from pgmq.q_embedding_jobs where read_ct > 0) as in_flight,
         (select count(*)::int from pgmq.q_embedding_jobs q join public.messages m on m.id::text = q.message ->> 'id'
           where m.thread_id = $1) as queued_for_thread`

describe('embedding jobs survive SIGKILL', () => {
  const dataDir = tempDataDir()
  let fake: FakeOpenAI
  after(async () => {
    await fake?.close()
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('a stack killed mid-batch and started again embeds every message', async () => {
    fake = await FakeOpenAI.start({ dims: 16 })
    const first = spawnNpmStart(['--data-dir', dataDir, '--api-port', '0', '--db-port', '0'])
    const { dbUrl } = await first.ready
    let threadId = ''
    let before: Counts
    try {
      threadId = await withClient(dbUrl, async (c) => {
        await c.query(
          `insert into public.embedding_models (name, provider, provider_model, dims, base_url, request_dimensions)
           values ('fake-16', 'openai', 'fake-embedding-model', 16, $1, true)`,
          [fake.baseUrl],
        )
        await c.query('begin')
        await c.query(`update public.embedding_models set is_default = false where is_default`)
        await c.query(`update public.embedding_models set is_default = true where name = 'fake-16'`)
        await c.query('commit')
        for (const [key, value] of Object.entries({ provider_timeout_milliseconds: 2000, visibility_timeout_seconds: 3, schedule: '1 seconds', batch_size: 50 })) {
          await c.query(`update public.settings set value = $2::jsonb where category = 'embeddings' and key = $1`, [key, JSON.stringify(value)])
        }
        await c.query(`insert into auth.users (id, aud, role, email) values ('00000000-0000-0000-0000-00000000a11c', 'authenticated', 'authenticated', 'k@test.local')`)
        const t = await c.query(`insert into public.memory_threads (owner_id, name) values ('00000000-0000-0000-0000-00000000a11c', 'kill') returning id`)
        return t.rows[0].id as string
      })
      // The provider parks requests: the first batch is read (invisible, read_ct 1) and stays in flight.
      fake.hold()
      const arrived = fake.nextRequest()
      await withClient(dbUrl, (c) =>
        c.query(`insert into public.messages (thread_id, role, content) select $1, 'user', 'survivor ' || g from generate_series(1, 200) g`, [threadId]),
      )
      await arrived
      before = await withClient(dbUrl, async (c) => (await c.query<Counts>(COUNTS, [threadId])).rows[0])
      assert.ok(before.in_flight > 0, 'a batch is in flight when the stack is killed')
      assert.equal(before.embedded, 0)
    } finally {
      await first.stop('SIGKILL')
    }
    fake.release()

    const second = spawnNpmStart(['--data-dir', dataDir, '--api-port', '0', '--db-port', '0'])
    try {
      const { dbUrl } = await second.ready
      const done = await waitFor(
        () => withClient(dbUrl, async (c) => {
          const counts = (await c.query<Counts>(COUNTS, [threadId])).rows[0]
          return counts.embedded === 200 && counts.pending === 0 ? counts : null
        }),
        90_000,
        500,
      )
      // enqueued (the 200 jobs queued for the thread when the stack died) = embedded + dead-lettered + pending.
      // (pgmq's id sequence is no counter across a crash: Postgres logs sequences 32 values ahead, so
      // after recovery it resumes past ids that were never used.)
      assert.equal(before!.queued_for_thread, 200)
      assert.deepEqual({ embedded: done.embedded, dead_lettered: done.dead_lettered, pending: done.pending }, {
        embedded: 200,
        dead_lettered: 0,
        pending: 0,
      })
    } finally {
      await second.stop('SIGTERM')
    }
  })
})
