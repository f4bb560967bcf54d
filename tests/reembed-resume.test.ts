// A re-embedding build survives SIGKILL: util.reembed queues batch by batch with its cursor committed in
// operation_progress, so after the whole stack is killed mid-build and started again on the same data,
// the cron job 'advance-operations' continues after the last committed batch — every row is scanned and
// queued exactly once (no restart from the beginning, nothing skipped) — and the build completes with
// every message embedded in the new model, which becomes the default.
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { after, describe, it } from 'node:test'
import pg from 'pg'
import { spawnNpmStart, tempDataDir, waitFor } from './helpers/stack.ts'

const ROWS = 200
const BATCH = 25

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

interface Progress {
  status: string
  phase: string
  total: number
  done: number
  scanned: number
  queued: number
}

const PROGRESS = `
  select status, phase, total::int, done::int, (detail ->> 'scanned')::int as scanned, (detail ->> 'queued')::int as queued
    from public.operation_progress where kind = 'reembed' and subject = 'hash-32'`

describe('a re-embedding build survives SIGKILL', () => {
  const dataDir = tempDataDir()
  after(() => rmSync(dataDir, { recursive: true, force: true }))

  it('resumes after the last committed batch and completes, queuing every row exactly once', async () => {
    const first = spawnNpmStart(['--data-dir', dataDir, '--api-port', '0', '--db-port', '0'])
    let before: Progress
    try {
      const { dbUrl } = await first.ready
      await withClient(dbUrl, async (c) => {
        await c.query(`insert into auth.users (id, aud, role, email) values ('00000000-0000-0000-0000-0000000e4b0d', 'authenticated', 'authenticated', 'r@test.local')`)
        await c.query(`delete from public.memory_threads`)
        const t = await c.query(`insert into public.memory_threads (owner_id, name) values ('00000000-0000-0000-0000-0000000e4b0d', 'resume') returning id`)
        await c.query(`insert into public.messages (thread_id, role, content) select $1, 'user', 'row ' || g || ' of the corpus' from generate_series(1, $2::int) g`,
          [t.rows[0].id, ROWS])
        await c.query(`insert into public.embedding_models (name, provider, provider_model, dims) values ('hash-32', 'hash', 'hash-32', 32)`)
        await c.query(`update public.settings set value = $1::jsonb where category = 'embeddings' and key = 'reembed_batch_size'`, [String(BATCH)])
        // Faster batches for the test (default every 5 s).
        await c.query(`select cron.alter_job(jobid, schedule => '1 seconds') from cron.job where jobname = 'advance-operations'`)
        const sent = await c.query<{ n: number }>(`select util.reembed('hash-32') as n`)
        assert.equal(sent.rows[0].n, BATCH, 'util.reembed queued the first batch itself')
      })
      // Kill the stack in the middle of the scan.
      before = await waitFor(
        () => withClient(dbUrl, async (c) => {
          const p = (await c.query<Progress>(PROGRESS)).rows[0]
          return p.scanned >= 3 * BATCH ? p : null
        }),
        60_000,
        100,
      )
      assert.equal(before.phase, 'enqueue', 'the scan is still running when the stack is killed')
    } finally {
      await first.stop('SIGKILL')
    }

    const second = spawnNpmStart(['--data-dir', dataDir, '--api-port', '0', '--db-port', '0'])
    try {
      const { dbUrl } = await second.ready
      const resumed = await withClient(dbUrl, async (c) => (await c.query<Progress>(PROGRESS)).rows[0])
      assert.equal(resumed.status, 'running')
      assert.ok(resumed.scanned >= before!.scanned, 'what was committed before the kill is kept')
      assert.equal(resumed.scanned % BATCH, 0, 'only whole batches were committed')

      const done = await waitFor(
        () => withClient(dbUrl, async (c) => {
          const p = (await c.query<Progress>(PROGRESS)).rows[0]
          return p.status !== 'running' ? p : null
        }),
        120_000,
        500,
      )
      assert.deepEqual(done, { status: 'completed', phase: 'embed', total: ROWS, done: ROWS, scanned: ROWS, queued: ROWS },
        'the build completed; every row was scanned and queued exactly once across the kill')
      const check = await withClient(dbUrl, async (c) => (await c.query<{ embedded: number; is_default: boolean; rows: number }>(`
        select (select count(*)::int from public.embeddings e join public.messages m on m.id = e.source_id and m.content_hash = e.content_hash
                 where e.model = 'hash-32') as embedded,
               (select is_default from public.embedding_models where name = 'hash-32') as is_default,
               (select count(*)::int from public.operation_progress where subject = 'hash-32') as rows`)).rows[0])
      assert.deepEqual(check, { embedded: ROWS, is_default: true, rows: 1 }, 'every message is embedded in the new default model, by one operation')
    } finally {
      await second.stop('SIGTERM')
    }
  })
})
