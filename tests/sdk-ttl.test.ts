// Thread time to live end to end: a thread created through the SDK with expiresAt disappears — messages,
// agent state and all — once it has expired and the 'prune-expired' cron job has run (the job comes from the
// migrations; here its schedule is shortened to every second so the test need not wait a minute).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createMemory, MemoryError, type Memory } from '../client/index.ts'
import { createUser, startTestStack, waitFor, type TestStack } from './helpers/stack.ts'

describe('thread TTL through the prune-expired cron job', () => {
  let stack: TestStack
  let memory: Memory

  before(async () => {
    stack = await startTestStack()
    memory = createMemory({ supabase: (await createUser(stack, 'ttl')).client })
  })
  after(() => stack?.close())

  it('deletes an expired thread with its messages and agent state, and keeps the others', async () => {
    const expiring = await memory.createMemoryThread({ name: 'expiring', expiresAt: new Date(Date.now() + 1500) })
    const keep = await memory.createMemoryThread({ name: 'kept', expiresAt: new Date(Date.now() + 3600_000) })
    await memory.saveMessages(expiring.id, Array.from({ length: 25 }, (_, i) => ({ role: 'user' as const, content: `m${i}` })))
    await memory.saveAgentState(expiring.id, { step: 1 })
    await memory.saveMessage(keep.id, { role: 'user', content: 'still here' })

    const job = await stack.db.query<{ jobid: string }>(`select jobid::text from cron.job where jobname = 'prune-expired'`)
    assert.equal(job.rows.length, 1, 'the migrations schedule the prune job')
    // Batches of 10 messages, every second (the pgTAP suite checks the batch bound itself).
    await stack.db.query(`select cron.alter_job($1::bigint, schedule => '1 seconds', command => 'select * from util.prune_expired(10)')`, [
      job.rows[0].jobid,
    ])

    await waitFor(async () => {
      try {
        await memory.getMemoryThread(expiring.id)
        return false
      } catch (err) {
        if (err instanceof MemoryError && err.code === 'not_found') return true
        throw err
      }
    }, 20_000, 200)

    const left = await stack.db.query<{ messages: number; states: number; succeeded: number; failed: number }>(
      `select (select count(*)::int from messages where thread_id = $1) as messages,
              (select count(*)::int from agent_states where thread_id = $1) as states,
              (select count(*) filter (where d.status = 'succeeded')::int from cron.job_run_details d
                 join cron.job j using (jobid) where j.jobname = 'prune-expired') as succeeded,
              (select count(*) filter (where d.status <> 'succeeded')::int from cron.job_run_details d
                 join cron.job j using (jobid) where j.jobname = 'prune-expired') as failed`,
      [expiring.id],
    )
    assert.deepEqual({ messages: left.rows[0].messages, states: left.rows[0].states }, { messages: 0, states: 0 })
    assert.ok(left.rows[0].succeeded >= 1, 'the scheduler ran the job')
    assert.equal(left.rows[0].failed, 0, 'no run of the job failed')
    assert.equal((await memory.getMemoryThread(keep.id)).name, 'kept')
    assert.equal((await memory.loadMessages(keep.id)).messages.length, 1)
  })
})
