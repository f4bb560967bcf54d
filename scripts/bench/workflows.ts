// Benchmark `workflows`, the figures of the workflows issue:
//   1. claim_next_step latency with 10,000 pending steps (target p95 ≤ 5 ms), called in-process through a
//      migrated Database as a signed-in user (role + JWT claims per transaction, as the gateway does),
//      with another tenant's 10,000 pending steps beside them; each claimed step is then completed
//      (timed separately) so the pool stays above 10,000.
//   2. 8 concurrent workers — the SDK's runWorker, each over its own supabase-js client, one user —
//      completing 2,000 no-op steps through the API of a stack of its own: throughput, and proof that no
//      step was done twice (handler invocations per step, attempts, final statuses).
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from '@supabase/supabase-js'
import WebSocket from 'ws'
import { createWorkflows } from '../../client/index.ts'
import { loadConfig } from '../../stack/core/config.ts'
import type { Database, Identity } from '../../stack/core/database.ts'
import { LOCAL_ANON_KEY } from '../../stack/core/keys.ts'
import { startStack } from '../../stack/stack.ts'
import { signAccessToken } from '../../stack/core/jwt.ts'
import { freshDatabase } from '../lib/fresh-db.ts'
import { latencyFigures, timed, type BenchContext, type BenchReport, type Figure, type Series } from './lib.ts'
import type { Bench } from './section.ts'

const PENDING = 10_000
const WORKERS = 8

async function newUser(db: Database, name: string): Promise<{ id: string; identity: Identity }> {
  const id = randomUUID()
  await db.query(`insert into auth.users (id, aud, role, email) values ($1, 'authenticated', 'authenticated', $2)`, [id, `${name}-${id.slice(0, 8)}@bench.local`])
  return { id, identity: { role: 'authenticated', claims: { sub: id, role: 'authenticated', aud: 'authenticated' } } }
}

/** A started workflow of `n` independent pending steps owned by `user`, in one insert. */
async function seedWorkflow(db: Database, user: { identity: Identity }, name: string, n: number): Promise<string> {
  const id = (await db.query<{ id: string }>(`select id from create_workflow($1)`, [name], user.identity)).rows[0].id
  await db.query(
    `insert into workflow_steps (workflow_id, position, name, input) select $1, g, 'step-' || g, jsonb_build_object('i', g) from generate_series(1, $2::int) g`,
    [id, n],
    user.identity,
  )
  await db.query(`select start_workflow($1)`, [id], user.identity)
  return id
}

async function claimLatency(ctx: BenchContext): Promise<{ figures: Figure[]; series: Series[]; notes: string[] }> {
  const samples = ctx.quick ? 300 : 1000
  const warmup = 25
  const fresh = await freshDatabase()
  try {
    const db = fresh.db
    const alice = await newUser(db, 'alice')
    const bob = await newUser(db, 'bob')
    ctx.log(`  seeding ${(PENDING + samples + warmup).toLocaleString('en')} pending steps, and ${PENDING.toLocaleString('en')} of another user…`)
    const [, seedMs] = await timed(async () => {
      await seedWorkflow(db, alice, 'bench', PENDING + samples + warmup)
      await seedWorkflow(db, bob, 'other tenant', PENDING)
    })
    const claim = () =>
      db.query<{ id: string; lease_id: string }>(`select (c.step).id, (c.step).lease_id from claim_next_step('bench-worker', 60) c`, [], alice.identity)
    const complete = (id: string, lease: string) => db.query(`select 1 from complete_step($1, $2, '{"ok": true}')`, [id, lease], alice.identity)

    for (let i = 0; i < warmup; i++) {
      const r = (await claim()).rows[0]
      await complete(r.id, r.lease_id)
    }
    const claims: number[] = []
    const completes: number[] = []
    // The floor under every figure: the cheapest call through the same path (a transaction with role and
    // claims set), interleaved with the claims so both see the same machine load.
    const floor: number[] = []
    const bar = ctx.progress('claim_next_step + complete_step', samples)
    let minPending = Infinity
    for (let i = 0; i < samples; i++) {
      const [res, ms] = await timed(() => claim())
      claims.push(ms)
      const row = res.rows[0]
      if (!row) throw new Error('claim_next_step returned no step while steps were pending')
      const [, cms] = await timed(() => complete(row.id, row.lease_id))
      completes.push(cms)
      const [, fms] = await timed(() => db.query(`select 1`, [], alice.identity))
      floor.push(fms)
      if (i === samples - 1) {
        minPending = (await db.query<{ n: number }>(`select count(*)::int as n from workflow_steps where owner_id = $1 and status = 'pending'`, [alice.id])).rows[0].n
      }
      bar.tick()
    }
    bar.done()
    return {
      figures: [
        { name: 'seed steps (two inserts, with triggers)', value: seedMs / 1000, unit: 's' },
        ...latencyFigures(`claim_next_step with ≥ ${PENDING.toLocaleString('en')} pending`, claims, 5),
        ...latencyFigures('complete_step', completes),
        ...latencyFigures('noise floor: select 1 as the same user', floor),
      ],
      series: [
        { name: 'claim_next_step', samplesMs: claims },
        { name: 'complete_step', samplesMs: completes },
        { name: 'select 1 (floor)', samplesMs: floor },
      ],
      notes: [
        `${samples} claims after ${warmup} warm-up claims; the user still had ${minPending.toLocaleString('en')} pending steps at the last one (another user: ${PENDING.toLocaleString('en')})`,
        'each call is one transaction as an authenticated user (set_config of role and claims included), no HTTP; no ANALYZE',
        `machine load average when the claims ended: ${loadavg().map((l) => l.toFixed(1)).join(', ')} (${availableParallelism()} CPUs)`,
      ],
    }
  } finally {
    await fresh.close()
  }
}

async function workerThroughput(ctx: BenchContext): Promise<{ figures: Figure[]; notes: string[] }> {
  const steps = ctx.quick ? 1000 : 2000
  const dataDir = mkdtempSync(join(tmpdir(), 'agent-memory-bench-'))
  const stack = await startStack(loadConfig(['--data-dir', dataDir, '--api-port', '0', '--db-port', '0', '--quiet'], {}))
  try {
    const userId = randomUUID()
    await stack.db.query(`insert into auth.users (id, aud, role, email) values ($1, 'authenticated', 'authenticated', 'workers@bench.local')`, [userId])
    const jwt = await signAccessToken({ sub: userId }, { expiresIn: '2h' })
    const client = () =>
      createClient(stack.apiUrl, LOCAL_ANON_KEY, {
        auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
        global: { headers: { Authorization: `Bearer ${jwt}` } },
        realtime: { transport: WebSocket as never },
      })
    const setup = createWorkflows({ supabase: client() })
    const workflow = await setup.createWorkflow({ name: 'no-op fan-out' })
    for (let from = 0; from < steps; from += 1000) {
      await setup.addWorkflowSteps(workflow.id, Array.from({ length: Math.min(1000, steps - from) }, (_, i) => ({ name: `noop-${from + i}` })))
    }
    await setup.startWorkflow(workflow.id)

    const runs = new Map<string, number>()
    const bar = ctx.progress(`${WORKERS} workers × runWorker`, steps)
    const errors: string[] = []
    const started = performance.now()
    const stats = await Promise.all(
      Array.from({ length: WORKERS }, (_, w) =>
        createWorkflows({ supabase: client() }).runWorker(
          (c) => {
            runs.set(c.step.id, (runs.get(c.step.id) ?? 0) + 1)
            bar.tick()
            return null
          },
          { workerId: `bench-${w}`, workflowId: workflow.id, leaseSeconds: 60, exitWhenIdle: true, onError: (e) => errors.push(String(e)) },
        ),
      ),
    )
    const seconds = (performance.now() - started) / 1000
    bar.done()
    const db = await stack.db.query<{ completed: number; attempts_over_one: number; status: string }>(
      `select (select count(*)::int from workflow_steps where workflow_id = $1 and status = 'completed') as completed,
              (select count(*)::int from workflow_steps where workflow_id = $1 and attempts <> 1) as attempts_over_one,
              (select status::text from workflows where id = $1) as status`,
      [workflow.id],
    )
    const r = db.rows[0]
    const doneTwice = [...runs.values()].filter((n) => n > 1).length
    const completed = stats.reduce((a, s) => a + s.completed, 0)
    return {
      figures: [
        { name: `steps done twice (${WORKERS} workers, ${steps.toLocaleString('en')} no-op steps)`, value: doneTwice, unit: 'steps', target: { op: '<=', value: 0 } },
        { name: 'steps never done', value: steps - runs.size, unit: 'steps', target: { op: '<=', value: 0 } },
        { name: 'worker errors and lost leases', value: errors.length + stats.reduce((a, s) => a + s.lost, 0), unit: 'events', target: { op: '<=', value: 0 } },
        { name: `throughput, ${WORKERS} workers through the API`, value: steps / seconds, unit: 'steps/s' },
      ],
      notes: [
        `${steps.toLocaleString('en')} steps in ${seconds.toFixed(1)} s: ${completed} completions acknowledged to workers (${stats.map((s) => s.completed).join(' + ')}), ` +
          `${r.completed} steps completed in the database, ${r.attempts_over_one} with more than one attempt; workflow ${r.status}`,
        'each step is two RPCs (claim_next_step, complete_step) over HTTP; one PGlite session serialises them, so throughput is that of one backend',
        ...(ctx.quick ? [] : [`${steps.toLocaleString('en')} steps through the API (5,000 before the bench became one 25-minute run; 1,000 claims in process, 2,000 before)`]),
        ...[...new Set(errors)].slice(0, 3).map((e) => `error: ${e}`),
      ],
    }
  } finally {
    await stack.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

export const workflows: Bench = {
  name: 'workflows',
  slow: true,
  description: `claim_next_step with ${PENDING.toLocaleString('en')} pending steps (in-process SQL); ${WORKERS} runWorker workers completing 2,000 no-op steps through the API`,
  async run(ctx): Promise<BenchReport> {
    const latency = await claimLatency(ctx)
    const throughput = await workerThroughput(ctx)
    return {
      figures: [...latency.figures, ...throughput.figures],
      series: latency.series,
      notes: [...latency.notes, ...throughput.notes],
    }
  },
}
