// Workflows through the API with supabase-js and the SDK: two workers of the same user claiming
// concurrently never get the same step; a worker that stops heartbeating mid-step loses the step after
// its lease expires, another worker completes it exactly once and the first one's late result is
// refused; a workflow run end to end by runWorker, with a Realtime event for every transition (and none
// for another user); errors as MemoryError codes.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { SupabaseClient } from '@supabase/supabase-js'
import { createWorkflows, MemoryError, NonRetryableError, type Workflows, type WorkflowStep } from '../client/index.ts'
import { anonClient, createUser, startTestStack, userClient, waitFor, type TestStack, type TestUser } from './helpers/stack.ts'
import { listen, realtimeAs, type Change } from './helpers/realtime.ts'

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof MemoryError, `expected a MemoryError, got ${String(err)}`)
    assert.equal(err.code, code, err.message)
    if (message) assert.match(err.message, message)
    return true
  })
}

describe('workflows through the API', () => {
  let stack: TestStack
  let alice: TestUser
  let bob: TestUser
  let wf: Workflows
  const clients: SupabaseClient[] = []

  before(async () => {
    stack = await startTestStack()
    alice = await createUser(stack, 'alice')
    bob = await createUser(stack, 'bob')
    wf = createWorkflows({ supabase: alice.client })
  })
  after(async () => {
    for (const c of clients) await c.removeAllChannels()
    await stack?.close()
  })

  it('two workers of the same user claiming concurrently never get the same step', async () => {
    const STEPS = 150
    const workflow = await wf.createWorkflow({
      name: 'fan-out',
      steps: Array.from({ length: STEPS }, (_, i) => ({ name: `item-${i}`, input: { i } })),
      start: true,
    })
    // Two separate supabase-js clients (two connections' worth of requests), one user.
    const workers = ['w1', 'w2'].map((id) => ({ id, api: createWorkflows({ supabase: userClient(stack, alice.token) }), claimed: [] as string[] }))
    await Promise.all(
      workers.map(async (w) => {
        for (;;) {
          // A burst of concurrent claims per round, so claims of both workers overlap in flight.
          const claims = await Promise.all([1, 2, 3].map(() => w.api.claimNextStep(w.id, { leaseSeconds: 60, workflowId: workflow.id })))
          const got = claims.filter((c) => c !== null)
          if (!got.length) return
          for (const c of got) {
            w.claimed.push(c.step.id)
            await w.api.completeStep(c.step.id, c.step.lease_id, { by: w.id })
          }
        }
      }),
    )
    const [a, b] = workers.map((w) => new Set(w.claimed))
    assert.equal(a.size, workers[0].claimed.length, 'w1 never got the same step twice')
    assert.equal(b.size, workers[1].claimed.length, 'w2 never got the same step twice')
    assert.deepEqual([...a].filter((id) => b.has(id)), [], 'no step was claimed by both workers')
    assert.equal(a.size + b.size, STEPS, 'every step was claimed')
    assert.ok(a.size > 0 && b.size > 0, `both workers got steps (w1 ${a.size}, w2 ${b.size})`)

    const done = await wf.getWorkflow(workflow.id)
    assert.equal(done.status, 'completed')
    assert.equal(done.steps.length, STEPS)
    for (const s of done.steps) {
      assert.equal(s.status, 'completed')
      assert.equal(s.attempts, 1, `step ${s.name} was claimed once`)
      assert.deepEqual(s.output, { by: a.has(s.id) ? 'w1' : 'w2' }, `step ${s.name} holds the result of the worker that claimed it`)
    }
  })

  it('a worker killed mid-step: its step is claimed again after the lease expires and completed exactly once', async () => {
    const workflow = await wf.createWorkflow({ name: 'crash', steps: [{ name: 'slow', backoffSeconds: 0 }], start: true })
    // Worker A claims with a 2 s lease and then "dies": it never heartbeats or completes.
    const dead = createWorkflows({ supabase: userClient(stack, alice.token) })
    const claimA = await dead.claimNextStep('worker-a', { leaseSeconds: 2, workflowId: workflow.id })
    assert.ok(claimA, 'worker A got the step')

    const runs: { worker: string; attempt: number }[] = []
    const stop = new AbortController()
    const running = wf.runWorker(
      async (ctx) => {
        runs.push({ worker: 'worker-b', attempt: ctx.attempt })
        return { by: 'worker-b' }
      },
      { workerId: 'worker-b', workflowId: workflow.id, leaseSeconds: 10, pollMs: 200, signal: stop.signal },
    )
    const finished = await waitFor(async () => {
      const w = await wf.getWorkflow(workflow.id)
      return w.status === 'completed' ? w : null
    }, 60_000, 200)
    stop.abort()
    const stats = await running

    assert.deepEqual(runs, [{ worker: 'worker-b', attempt: 2 }], 'the handler ran once, on the second attempt')
    assert.deepEqual({ claimed: stats.claimed, completed: stats.completed, failed: stats.failed, lost: stats.lost },
      { claimed: 1, completed: 1, failed: 0, lost: 0 })
    const step = finished.steps[0]
    assert.equal(step.status, 'completed')
    assert.equal(step.attempts, 2)
    assert.deepEqual(step.output, { by: 'worker-b' })
    assert.match(step.last_error ?? '', /^lease of worker "worker-a" expired at /)
    // Worker A comes back: its result is refused, the step stays completed once.
    await rejectsWith(dead.completeStep(claimA.step.id, claimA.step.lease_id, { by: 'worker-a' }), 'conflict', /it is completed, not running/)
    await rejectsWith(dead.heartbeatStep(claimA.step.id, claimA.step.lease_id), 'conflict')
    assert.deepEqual((await wf.getWorkflow(workflow.id)).steps[0].output, { by: 'worker-b' })
  })

  it('runs a workflow end to end with runWorker, with a realtime event for every transition', async () => {
    const a = await realtimeAs(stack, alice.token)
    const b = await realtimeAs(stack, bob.token)
    clients.push(a, b)
    const workflowEvents: Change[] = []
    const stepEvents: Change[] = []
    const bobSees: Change[] = []
    await listen(a, 'alice-workflows', { event: '*', schema: 'public', table: 'workflows' }, workflowEvents)
    await listen(a, 'alice-steps', { event: '*', schema: 'public', table: 'workflow_steps' }, stepEvents)
    await listen(b, 'bob-workflows', { event: '*', schema: 'public', table: 'workflows' }, bobSees)
    await listen(b, 'bob-steps', { event: '*', schema: 'public', table: 'workflow_steps' }, bobSees)

    const workflow = await wf.createWorkflow({
      name: 'research',
      metadata: { topic: 'otters' },
      steps: [
        { name: 'fetch', input: { url: 'https://example.org/otters' } },
        { name: 'summarise', dependsOn: ['fetch'], createThread: true, agentId: 'summariser', backoffSeconds: 0 },
        { name: 'translate', dependsOn: ['fetch'] },
        { name: 'report', dependsOn: ['summarise', 'translate'] },
      ],
    })
    await wf.startWorkflow(workflow.id)

    const seen: string[] = []
    let summariseThread: string | null = null
    const stop = new AbortController()
    const running = wf.runWorker(
      async (ctx) => {
        seen.push(`${ctx.step.name}#${ctx.attempt}`)
        switch (ctx.step.name) {
          case 'fetch':
            return { pages: 3, url: (ctx.step.input as { url: string }).url }
          case 'summarise':
            summariseThread = ctx.thread?.id ?? null
            if (ctx.attempt === 1) throw new Error('model timed out')
            return 'otters hold hands while sleeping'
          case 'translate':
            return ctx.skip({ reason: 'already in English' })
          default:
            return { done: true }
        }
      },
      { workerId: 'e2e-worker', workflowId: workflow.id, pollMs: 100, signal: stop.signal },
    )
    const finished = await waitFor(async () => {
      const w = await wf.getWorkflow(workflow.id)
      return w.status === 'completed' ? w : null
    }, 60_000, 100)
    stop.abort()
    const stats = await running

    // Claim order: oldest available first — the failed summarise attempt is due after translate.
    assert.deepEqual(seen, ['fetch#1', 'summarise#1', 'translate#1', 'summarise#2', 'report#1'])
    assert.deepEqual({ claimed: stats.claimed, completed: stats.completed, failed: stats.failed, skipped: stats.skipped },
      { claimed: 5, completed: 3, failed: 1, skipped: 1 })
    const byName = Object.fromEntries(finished.steps.map((s) => [s.name, s])) as Record<string, WorkflowStep>
    assert.deepEqual(byName.summarise.output, 'otters hold hands while sleeping')
    assert.equal(byName.summarise.last_error, 'model timed out')
    assert.equal(byName.translate.status, 'skipped')
    assert.ok(summariseThread, 'the summarise step had its own memory thread')
    assert.equal(byName.summarise.thread_id, summariseThread)

    // Realtime: every transition of the workflow and of each step arrived, in order.
    const transitions = (events: Change[], key: (c: Change) => boolean) =>
      events
        .filter(key)
        .map((c) => `${c.eventType === 'INSERT' ? '+' : ''}${c.new.status}`)
        // Heartbeats and other updates that keep the status are not transitions.
        .filter((s, i, all) => i === 0 || s !== all[i - 1])
    const stepOf = (name: string) => (c: Change) => c.new.workflow_id === workflow.id && c.new.name === name
    const expected = {
      workflow: ['+pending', 'running', 'completed'],
      fetch: ['+pending', 'running', 'completed'],
      summarise: ['+pending', 'running', 'pending', 'running', 'completed'],
      translate: ['+pending', 'running', 'skipped'],
      report: ['+pending', 'running', 'completed'],
    }
    const observed = () => ({
      workflow: transitions(workflowEvents, (c) => c.new.id === workflow.id),
      fetch: transitions(stepEvents, stepOf('fetch')),
      summarise: transitions(stepEvents, stepOf('summarise')),
      translate: transitions(stepEvents, stepOf('translate')),
      report: transitions(stepEvents, stepOf('report')),
    })
    await waitFor(() => JSON.stringify(observed()) === JSON.stringify(expected), 20_000).catch(() => {})
    assert.deepEqual(observed(), expected)
    await new Promise((r) => setTimeout(r, 300))
    assert.deepEqual(bobSees, [], 'Bob receives none of Alice\'s workflow events')
  })

  it('a handler error that must not be retried fails the step and the workflow at once', async () => {
    const workflow = await wf.createWorkflow({ name: 'fatal', steps: [{ name: 'parse', maxAttempts: 5 }, { name: 'never', dependsOn: ['parse'] }], start: true })
    const stats = await wf.runWorker(
      async () => {
        throw new NonRetryableError('input is not valid JSON')
      },
      { workflowId: workflow.id, exitWhenIdle: true },
    )
    assert.deepEqual({ claimed: stats.claimed, failed: stats.failed }, { claimed: 1, failed: 1 })
    const w = await wf.getWorkflow(workflow.id)
    assert.equal(w.status, 'failed')
    assert.equal(w.error, 'step 1 ("parse") failed after 1 attempt(s): input is not valid JSON')
    assert.deepEqual(w.steps.map((s) => s.status), ['failed', 'cancelled'])
  })

  it('a cancelled workflow aborts the running handler through its signal', async () => {
    const workflow = await wf.createWorkflow({ name: 'cancel-me', steps: [{ name: 'long' }], start: true })
    let aborted = false
    const running = wf.runWorker(
      (ctx) =>
        new Promise((resolve) => {
          ctx.signal.addEventListener('abort', () => {
            aborted = true
            resolve({ partial: true })
          })
          void wf.cancelWorkflow(workflow.id, 'user changed their mind')
        }),
      { workflowId: workflow.id, leaseSeconds: 3, heartbeatMs: 200, exitWhenIdle: true },
    )
    const stats = await running
    assert.equal(aborted, true, 'the handler saw its signal abort once the step was cancelled')
    assert.deepEqual({ claimed: stats.claimed, completed: stats.completed, lost: stats.lost }, { claimed: 1, completed: 0, lost: 1 })
    const w = await wf.getWorkflow(workflow.id)
    assert.deepEqual([w.status, w.error, w.steps[0].status], ['cancelled', 'user changed their mind', 'cancelled'])
  })

  it('reports bad input, unknown and other users\' workflows and lease conflicts as MemoryError codes', async () => {
    await rejectsWith(
      wf.createWorkflow({ name: 'cycle', steps: [{ name: 'a', dependsOn: ['b'] }, { name: 'b', dependsOn: ['a'] }] }),
      'invalid_input',
      /^steps: dependency cycle "a" → "b" → "a"$/,
    )
    const w = await wf.createWorkflow({ name: 'mine', steps: [{ name: 'only' }], start: true })
    await rejectsWith(wf.addWorkflowStep(w.id, { name: 'x', dependsOn: ['nope'] }), 'invalid_input', /has no step named "nope"/)
    await rejectsWith(wf.addWorkflowStep(w.id, { name: 'y', maxAttempts: 0 }), 'invalid_input', /^max_attempts must be a whole number between 1 and 100/)
    await rejectsWith(wf.getWorkflow('00000000-0000-0000-0000-000000000000'), 'not_found', /^workflow 00000000-0000-0000-0000-000000000000 not found$/)
    await rejectsWith(createWorkflows({ supabase: bob.client }).getWorkflow(w.id), 'not_found')
    await rejectsWith(createWorkflows({ supabase: bob.client }).cancelWorkflow(w.id), 'not_found')
    await rejectsWith(wf.pauseWorkflow((await wf.createWorkflow({ name: 'idle' })).id), 'conflict', /it is pending, not running$/)
    const claim = await wf.claimNextStep('w', { workflowId: w.id })
    assert.ok(claim)
    await rejectsWith(wf.completeStep(claim.step.id, '00000000-0000-0000-0000-000000000001'), 'conflict', /it is leased to worker "w" under lease/)
    await rejectsWith(wf.claimNextStep('w', { leaseSeconds: 0 }), 'invalid_input', /^lease_seconds must be between 1 and 86400/)
    await rejectsWith(createWorkflows({ supabase: anonClient(stack) }).createWorkflow({ name: 'anon' }), 'unauthorized')
    assert.equal((await wf.completeStep(claim.step.id, claim.step.lease_id, 'ok')).status, 'completed')
  })
})
