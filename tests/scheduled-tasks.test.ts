// Scheduled tasks through the API with the SDK and the service role key: a task created through the RPC
// runs on the stack's scheduler (the pg_cron stand-in) and its runs show in its history; run_now runs a
// task at once; an Edge Function task reaches its function through pg_net with the service key; a
// deactivated or deleted task stops running; users and anon are refused; bad input is named.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createScheduledTasks, MemoryError, type ScheduledTasks } from '../client/index.ts'
import { anonClient, createUser, makeWorkdir, serviceClient, startTestStack, waitFor, type TestStack } from './helpers/stack.ts'

// An Edge Function that answers with what it received, so the test can read it from net._http_response.
const ECHO_FN = `
export async function handler(req: Request): Promise<Response> {
  return Response.json({ received: await req.json(), authorized: (req.headers.get('authorization') ?? '').startsWith('Bearer ') })
}
`

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof MemoryError, `expected a MemoryError, got ${String(err)}`)
    assert.equal(err.code, code, err.message)
    if (message) assert.match(err.message, message)
    return true
  })
}

describe('scheduled tasks through the API', () => {
  let stack: TestStack
  let tasks: ScheduledTasks

  before(async () => {
    stack = await startTestStack({ workdir: makeWorkdir({ functions: { 'echo-task': ECHO_FN } }) })
    await stack.db.exec(`create table public.sched_ticks (note text, who text default current_user, at timestamptz default clock_timestamp())`)
    tasks = createScheduledTasks({ supabase: serviceClient(stack) })
  })
  after(() => stack?.close())

  const ticks = async (note: string) =>
    (await stack.db.query<{ n: number }>(`select count(*)::int as n from public.sched_ticks where note = $1`, [note])).rows[0].n

  it('a task created through the RPC runs on the scheduler and its runs show in its history', async () => {
    const task = await tasks.createScheduledTask({
      name: 'heartbeat',
      schedule: '1 seconds',
      command: `insert into sched_ticks (note) values ('heartbeat')`,
      description: 'ticks every second',
      metadata: { owner: 'ops' },
    })
    assert.equal(task.active, true)
    assert.ok(task.jobid, 'the task has its pg_cron job')
    const detail = await waitFor(async () => {
      const t = await tasks.getScheduledTask('heartbeat')
      return t.runs.filter((r) => r.trigger === 'schedule' && r.status === 'succeeded').length >= 2 ? t : null
    }, 60_000, 250)
    assert.equal(detail.description, 'ticks every second')
    assert.ok(detail.runs.every((r) => r.jobid === Number(task.jobid)), 'the history is the task job\'s')
    assert.ok((await ticks('heartbeat')) >= 2, 'the command ran on every run')
    const who = await stack.db.query<{ who: string }>(`select distinct who from public.sched_ticks where note = 'heartbeat'`)
    assert.deepEqual(who.rows, [{ who: 'service_role' }], 'the scheduler ran it as service_role')

    // Deactivated: the job stops.
    await tasks.updateScheduledTask('heartbeat', { active: false })
    const job = await stack.db.query<{ active: boolean }>(`select active from cron.job where jobid = $1`, [task.jobid])
    assert.deepEqual(job.rows, [{ active: false }])
    await new Promise((r) => setTimeout(r, 1500)) // let a run that had already started finish
    const frozen = await ticks('heartbeat')
    await new Promise((r) => setTimeout(r, 2500))
    assert.equal(await ticks('heartbeat'), frozen, 'an inactive task does not run')

    // Deleted: the job is gone; the task is not found any more.
    const deleted = await tasks.deleteScheduledTask('heartbeat')
    assert.equal(deleted.name, 'heartbeat')
    assert.equal((await stack.db.query(`select 1 from cron.job where jobid = $1`, [task.jobid])).rows.length, 0)
    await rejectsWith(tasks.getScheduledTask('heartbeat'), 'not_found', /^scheduled task "heartbeat" not found$/)
  })

  it('run_now runs a task at once and records the run', async () => {
    await tasks.createScheduledTask({ name: 'yearly', schedule: '0 0 1 1 *', command: `insert into sched_ticks (note) values ('yearly')` })
    const run = await tasks.runScheduledTaskNow('yearly')
    assert.deepEqual([run.trigger, run.status, run.return_message], ['run_now', 'succeeded', 'command ran'])
    assert.equal(await ticks('yearly'), 1, 'the command ran before the call returned')
    const t = await tasks.getScheduledTask('yearly')
    assert.deepEqual(t.runs.map((r) => [r.runid, r.trigger, r.status]), [[run.runid, 'run_now', 'succeeded']])

    await tasks.updateScheduledTask('yearly', { command: `insert into sched_ticks (note) values ('yearly'); select 1 / 0` })
    const failed = await tasks.runScheduledTaskNow('yearly')
    assert.deepEqual([failed.status, failed.return_message], ['failed', 'ERROR:  division by zero'])
    assert.equal(await ticks('yearly'), 1, 'the failed run changed nothing')
    assert.deepEqual((await tasks.getScheduledTask('yearly', { maxRuns: 5 })).runs.map((r) => r.status), ['failed', 'succeeded'])
    assert.deepEqual((await tasks.getScheduledTasks()).map((x) => x.name), ['yearly'])
  })

  it('an Edge Function task calls its function through pg_net with the service key', async () => {
    await tasks.createScheduledTask({ name: 'digest', schedule: '0 8 * * MON-FRI', edgeFunction: 'echo-task', body: { period: 'day' } })
    const run = await tasks.runScheduledTaskNow('digest')
    assert.equal(run.status, 'succeeded')
    const requestId = /pg_net request (\d+)$/.exec(run.return_message ?? '')?.[1]
    assert.ok(requestId, `the run names its pg_net request: ${run.return_message}`)
    const response = await waitFor(async () => {
      const r = await stack.db.query<{ status_code: number; content: string }>(
        `select status_code, content from net._http_response where id = $1`, [requestId])
      return r.rows[0]
    }, 90_000, 200) // the function's first call includes the edge runtime loading it; slow on a busy machine
    assert.equal(response.status_code, 200)
    assert.deepEqual(JSON.parse(response.content), { received: { period: 'day' }, authorized: true })
  })

  it('is refused to users and anon, and names what is wrong with bad input', async () => {
    const user = await createUser(stack, 'eve')
    await rejectsWith(createScheduledTasks({ supabase: user.client }).createScheduledTask({ name: 'x', schedule: '* * * * *', command: 'select 1' }), 'forbidden')
    await rejectsWith(createScheduledTasks({ supabase: user.client }).getScheduledTasks(), 'forbidden')
    await rejectsWith(createScheduledTasks({ supabase: anonClient(stack) }).runScheduledTaskNow('yearly'), 'unauthorized')
    await rejectsWith(tasks.createScheduledTask({ name: 'bad', schedule: '61 * * * *', command: 'select 1' }), 'invalid_input',
      /^schedule: minute field "61" is out of range 0-59$/)
    await rejectsWith(tasks.createScheduledTask({ name: 'bad', schedule: '*/5 * * * FUNDAY', command: 'select 1' }), 'invalid_input',
      /^schedule: day-of-week field "FUNDAY" is not a number or a day name/)
    await rejectsWith(tasks.createScheduledTask({ name: 'bad', schedule: '75 seconds', command: 'select 1' }), 'invalid_input', /1 to 59 seconds/)
    await rejectsWith(tasks.createScheduledTask({ name: 'bad', schedule: '* * * * *' }), 'invalid_input', /exactly one of command and edge_function/)
    await rejectsWith(tasks.createScheduledTask({ name: 'yearly', schedule: '* * * * *', command: 'select 1' }), 'conflict', /already exists/)
    await rejectsWith(tasks.updateScheduledTask('yearly', { schedule: '* * 32 * *' }), 'invalid_input', /day-of-month field "32" is out of range 1-31/)
    await rejectsWith(tasks.runScheduledTaskNow('nope'), 'not_found')
    const jobs = await stack.db.query<{ jobname: string }>(`select jobname from cron.job where jobname like 'scheduled-task:%' order by jobname`)
    assert.deepEqual(jobs.rows.map((r) => r.jobname), ['scheduled-task:digest', 'scheduled-task:yearly'], 'refused calls scheduled nothing')
  })
})
