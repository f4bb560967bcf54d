// pg_cron stand-in: jobs scheduled with cron.schedule run on time as their owner, every run is recorded in
// cron.job_run_details (failed runs with the error), and cron.unschedule stops a job.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestStack, waitFor, type TestStack } from './helpers/stack.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('pg_cron stand-in', () => {
  let stack: TestStack
  before(async () => {
    stack = await startTestStack()
    await stack.db.exec('create table public.cron_ticks (at timestamptz default clock_timestamp())')
  })
  after(() => stack?.close())

  const runs = async (job: string) =>
    (
      await stack.db.query<{ status: string; return_message: string }>(
        `select d.status, d.return_message from cron.job_run_details d join cron.job j using (jobid)
          where j.jobname = $1 order by d.runid`,
        [job],
      )
    ).rows

  it("a '1 seconds' job runs every second, each run recorded", async () => {
    await stack.db.query(`select cron.schedule('tick', '1 seconds', 'insert into public.cron_ticks default values')`)
    // Ticks and runs counted in one snapshot with no run of 'tick' in flight (the scheduler also runs the
    // project's own jobs, so a run may be between its 'running' row and its insert at any moment). Waits for
    // three runs rather than counting runs in a fixed time: on a busy machine a run can start late.
    let ticks = 0
    let succeeded = 0
    for (let i = 0; i < 600 && succeeded < 3; i++) {
      const r = (await stack.db.query<{ n: number; running: number; succeeded: number }>(
        `select (select count(*)::int from public.cron_ticks) as n,
                (select count(*) filter (where d.status = 'running')::int from cron.job_run_details d join cron.job j using (jobid) where j.jobname = 'tick') as running,
                (select count(*) filter (where d.status = 'succeeded')::int from cron.job_run_details d join cron.job j using (jobid) where j.jobname = 'tick') as succeeded`,
      )).rows[0]
      if (r.running === 0) [ticks, succeeded] = [r.n, r.succeeded]
      await sleep(50)
    }
    assert.ok(succeeded >= 3, `expected 3 runs within 30 s, got ${succeeded}`)
    assert.equal(succeeded, ticks, 'every run is recorded as succeeded, and each inserted once')
    const recorded = (await runs('tick')).filter((r) => r.status !== 'running')
    assert.ok(recorded.every((r) => r.status === 'succeeded' && r.return_message === 'INSERT 0 1'))
    // Never more often than the schedule: over the span of the runs, at most one run per second (a run that
    // started late may be followed closely by the next on-time one, so single gaps are not checked).
    const [span] = (await stack.db.query<{ runs: number; seconds: number }>(
      `select count(*)::int as runs, extract(epoch from max(d.start_time) - min(d.start_time))::float8 as seconds
         from cron.job_run_details d join cron.job j using (jobid) where j.jobname = 'tick'`,
    )).rows
    assert.ok(span.runs <= Math.floor(span.seconds) + 2, `${span.runs} runs in ${span.seconds.toFixed(1)} s`)
  })

  it('cron.unschedule stops the job', async () => {
    await stack.db.query(`select cron.unschedule('tick')`)
    const before = (await stack.db.query<{ n: number }>('select count(*)::int as n from public.cron_ticks')).rows[0].n
    await sleep(2500)
    const afterwards = (await stack.db.query<{ n: number }>('select count(*)::int as n from public.cron_ticks')).rows[0].n
    assert.equal(afterwards, before)
  })

  it('a failing command is recorded as failed with its error message', async () => {
    await stack.db.query(`select cron.schedule('broken', '1 seconds', 'select 1 / 0')`)
    const failed = await waitFor(async () => (await runs('broken')).find((r) => r.status === 'failed'), 5000)
    assert.equal(failed.return_message, 'ERROR:  division by zero')
    await stack.db.query(`select cron.unschedule('broken')`)
  })

  it('a job runs as the role that scheduled it, under that role\'s privileges', async () => {
    await stack.db.exec('create table public.cron_who (who text)')
    await stack.db.transaction(async (tx) => {
      await tx.query(`select cron.schedule('as-service', '1 seconds', 'insert into public.cron_who select current_user')`)
    }, { role: 'service_role', claims: { role: 'service_role' } })
    const who = await waitFor(async () => (await stack.db.query<{ who: string }>('select who from public.cron_who limit 1')).rows[0], 5000)
    assert.equal(who.who, 'service_role')
    await stack.db.query(`select cron.unschedule(jobid) from cron.job where jobname = 'as-service'`)
  })

  it('a 5-field schedule is accepted and the scheduler computes its next run', async () => {
    await stack.db.query(`select cron.schedule('nightly', '30 3 * * *', 'select 1')`)
    const job = (await stack.db.query<{ schedule: string; active: boolean }>(`select schedule, active from cron.job where jobname = 'nightly'`)).rows[0]
    assert.deepEqual(job, { schedule: '30 3 * * *', active: true })
    assert.deepEqual(await runs('nightly'), [])
  })
})
