// Workflows in the SDK: `createWorkflows({ supabase })` (also spread into `createMemory`) — create a
// workflow with steps, start / pause / resume / cancel it, read it with its steps, and the worker side:
// claim a step under a lease, heartbeat, complete, fail (retried with backoff by the database) or skip it.
// `runWorker(handler)` is the loop most callers want: it claims, heartbeats while the handler runs, and
// completes the step with the handler's result or fails it with its error. Every call is one RPC under
// the client's session (row level security decides whose workflows it sees); failures are MemoryError.
import type { SupabaseClient } from '@supabase/supabase-js'
import { MemoryError } from './errors.ts'
import { requireClient, rpcCaller } from './rpc.ts'
import type { Database, Json, Thread } from './types.ts'
import type { Tables } from '../types/supabase.ts'

export type Workflow = Tables<'workflows'>
export type WorkflowStep = Tables<'workflow_steps'>
export type WorkflowStatus = Database['public']['Enums']['workflow_status']
export type WorkflowStepStatus = Database['public']['Enums']['workflow_step_status']

/** A workflow with its steps in position order. */
export interface WorkflowWithSteps extends Workflow {
  steps: WorkflowStep[]
}

export interface NewWorkflowStep {
  /** Unique within the workflow; dependencies name steps by it. */
  name: string
  /** Any JSON the worker needs (default {}). */
  input?: Json
  /** Names of steps (already in the workflow, or in the same batch) that must complete or be skipped first. */
  dependsOn?: string[]
  /** Claims before the step fails for good (1..100, default 3). An expired lease counts as one. */
  maxAttempts?: number
  /** Retry n waits backoffSeconds × 2^(n-1) (default 5), at most backoffMaxSeconds (default 3600). */
  backoffSeconds?: number
  backoffMaxSeconds?: number
  /** Give the step a memory thread of its own, created on its first claim and kept across retries. */
  createThread?: boolean
  /** The thread's agent. */
  agentId?: string
  metadata?: { [key: string]: Json | undefined }
}

export interface NewWorkflow {
  name: string
  metadata?: { [key: string]: Json | undefined }
  /** Steps added in the same transaction (forward references allowed, cycles refused). */
  steps?: NewWorkflowStep[]
  /** Start it at once (default false). */
  start?: boolean
  /** service_role only: who owns it. */
  ownerId?: string
}

/** A step claimed by this worker: the step (with its lease_id), its workflow and its memory thread. */
export interface ClaimedStep {
  step: WorkflowStep & { lease_id: string }
  workflow: Workflow
  thread: Thread | null
}

export interface ClaimOptions {
  /** How long the lease lasts without a heartbeat (1..86400 s, default 60). */
  leaseSeconds?: number
  /** Only steps of this workflow. */
  workflowId?: string
}

export interface FailStepOptions {
  /** false: fail the step at once, attempts left or not (default true: retry with backoff). */
  retry?: boolean
}

const SKIP = Symbol('skip')

/** What a runWorker handler returns to skip its step instead of completing it (see StepContext.skip). */
export interface SkipResult {
  readonly [SKIP]: true
  output: Json | null
}

/** Thrown by a runWorker handler: the step fails at once instead of being retried. */
export class NonRetryableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'NonRetryableError'
  }
}

export interface StepContext extends ClaimedStep {
  /** 1 for the first claim, 2 for the first retry, … */
  attempt: number
  /**
   * Aborted when the lease is lost (the step was cancelled, or its lease expired and another worker took
   * it — its result would be refused) or when the worker is stopped. Long handlers should stop then.
   */
  signal: AbortSignal
  /** Extends the lease now (runWorker also does this every heartbeatMs). */
  heartbeat(): Promise<void>
  /** Return `ctx.skip(output)` to mark the step skipped (it counts as done) instead of completed. */
  skip(output?: Json): SkipResult
}

export type StepHandler = (ctx: StepContext) => Promise<Json | undefined | SkipResult> | Json | undefined | SkipResult

export interface WorkerOptions {
  /** Stops the loop: no new claims; the running handler sees ctx.signal aborted. */
  signal?: AbortSignal
  /** Lease of each claim (default 30 s); heartbeats renew it. */
  leaseSeconds?: number
  /** Pause between claims when nothing is ready (default 1000 ms). */
  pollMs?: number
  /** Heartbeat interval (default a third of the lease). */
  heartbeatMs?: number
  /** Shown as lease_owner (default "worker-<random uuid>"). */
  workerId?: string
  /** Only steps of this workflow. */
  workflowId?: string
  /** Return as soon as a claim finds no ready step (batch runs and tests), instead of polling. */
  exitWhenIdle?: boolean
  /** Errors the loop survives (a failed claim, heartbeat or completion); default: ignored. */
  onError?: (error: unknown) => void
}

export interface WorkerStats {
  workerId: string
  claimed: number
  completed: number
  failed: number
  skipped: number
  /** Steps whose lease was lost before the result was stored (cancelled, or retaken after expiry). */
  lost: number
  /** Steps left running when the worker was stopped (their leases expire and another worker retakes them). */
  abandoned: number
}

export interface WorkflowsOptions {
  supabase: SupabaseClient<any, any, any>
}

export type Workflows = ReturnType<typeof createWorkflows>

export function createWorkflows(options: WorkflowsOptions) {
  const call = rpcCaller(requireClient(options?.supabase, 'createWorkflows'))

  const stepArgs = (s: NewWorkflowStep) => ({
    name: s.name,
    input: s.input,
    depends_on: s.dependsOn,
    max_attempts: s.maxAttempts,
    backoff_seconds: s.backoffSeconds,
    backoff_max_seconds: s.backoffMaxSeconds,
    create_thread: s.createThread,
    agent_id: s.agentId,
    metadata: s.metadata as Json | undefined,
  })

  async function claimNextStep(workerId: string, opts: ClaimOptions = {}): Promise<ClaimedStep | null> {
    const rows = await call('claim_next_step', { worker_id: workerId, lease_seconds: opts.leaseSeconds, workflow_id: opts.workflowId })
    if (!Array.isArray(rows)) throw new MemoryError('unexpected_response', 'claim_next_step did not return a list')
    const row = rows[0]
    if (!row) return null
    if (!row.step?.lease_id || !row.workflow) throw new MemoryError('unexpected_response', 'claim_next_step returned a step without a lease')
    return { step: row.step as ClaimedStep['step'], workflow: row.workflow, thread: row.thread ?? null }
  }

  async function heartbeatStep(stepId: string, leaseId: string, opts: { leaseSeconds?: number } = {}): Promise<WorkflowStep> {
    return call('heartbeat_step', { step_id: stepId, lease_id: leaseId, lease_seconds: opts.leaseSeconds })
  }

  async function completeStep(stepId: string, leaseId: string, output?: Json): Promise<WorkflowStep> {
    return call('complete_step', { step_id: stepId, lease_id: leaseId, output: output ?? undefined })
  }

  async function failStep(stepId: string, leaseId: string, error: string, opts: FailStepOptions = {}): Promise<WorkflowStep> {
    return call('fail_step', { step_id: stepId, lease_id: leaseId, error, retry: opts.retry })
  }

  async function skipStep(stepId: string, opts: { leaseId?: string; output?: Json } = {}): Promise<WorkflowStep> {
    return call('skip_step', { step_id: stepId, lease_id: opts.leaseId, output: opts.output ?? undefined })
  }

  /**
   * Claims, runs and settles steps until `signal` aborts (or, with exitWhenIdle, until nothing is
   * ready). While the handler runs, the lease is renewed every heartbeatMs. The handler's return value
   * becomes the step's output; a thrown error fails the attempt (retried with backoff by the database
   * until max_attempts; NonRetryableError fails it at once); `ctx.skip()` skips the step. When the lease
   * is lost the handler's signal aborts and its result is dropped: the database refuses it anyway.
   */
  async function runWorker(handler: StepHandler, opts: WorkerOptions = {}): Promise<WorkerStats> {
    if (typeof handler !== 'function') throw new MemoryError('invalid_input', 'runWorker needs a handler function')
    const leaseSeconds = opts.leaseSeconds ?? 30
    if (!Number.isInteger(leaseSeconds) || leaseSeconds < 1 || leaseSeconds > 86400) {
      throw new MemoryError('invalid_input', `leaseSeconds must be a whole number between 1 and 86400 (got ${leaseSeconds})`)
    }
    const pollMs = opts.pollMs ?? 1000
    const heartbeatMs = opts.heartbeatMs ?? Math.max(100, (leaseSeconds * 1000) / 3)
    const onError = opts.onError ?? (() => {})
    const stop = opts.signal
    const stats: WorkerStats = {
      workerId: opts.workerId ?? `worker-${crypto.randomUUID()}`,
      claimed: 0,
      completed: 0,
      failed: 0,
      skipped: 0,
      lost: 0,
      abandoned: 0,
    }
    const isLeaseLoss = (err: unknown) => err instanceof MemoryError && (err.code === 'conflict' || err.code === 'not_found')

    async function runOne(claim: ClaimedStep): Promise<void> {
      const { step } = claim
      const controller = new AbortController()
      let lost = false
      let settled = false
      const abortOnStop = () => controller.abort(stop?.reason ?? new Error('worker stopped'))
      stop?.addEventListener('abort', abortOnStop, { once: true })
      const beat = async () => {
        if (settled) return
        try {
          await heartbeatStep(step.id, step.lease_id, { leaseSeconds })
        } catch (err) {
          if (settled) return
          if (isLeaseLoss(err)) {
            lost = true
            controller.abort(err)
          } else onError(err)
        }
      }
      const timer = setInterval(() => void beat(), heartbeatMs)
      const ctx: StepContext = {
        ...claim,
        attempt: step.attempts,
        signal: controller.signal,
        heartbeat: beat,
        skip: (output?: Json) => ({ [SKIP]: true, output: output ?? null }) as SkipResult,
      }
      let outcome: { ok: true; value: Json | undefined | SkipResult } | { ok: false; error: unknown }
      try {
        outcome = { ok: true, value: await handler(ctx) }
      } catch (error) {
        outcome = { ok: false, error }
      } finally {
        clearInterval(timer)
        stop?.removeEventListener('abort', abortOnStop)
      }
      if (lost) {
        settled = true
        stats.lost++
        return
      }
      if (!outcome.ok && stop?.aborted) {
        // Stopped mid-step: leave the step to its lease; another worker retakes it after expiry.
        settled = true
        stats.abandoned++
        return
      }
      try {
        if (!outcome.ok) {
          const e = outcome.error
          const message = e instanceof Error ? e.message || e.name : String(e)
          await failStep(step.id, step.lease_id, message || 'handler failed', { retry: !(e instanceof NonRetryableError) })
          stats.failed++
        } else if (isSkip(outcome.value)) {
          await skipStep(step.id, { leaseId: step.lease_id, output: outcome.value.output ?? undefined })
          stats.skipped++
        } else {
          await completeStep(step.id, step.lease_id, outcome.value ?? null)
          stats.completed++
        }
      } catch (err) {
        if (isLeaseLoss(err)) stats.lost++
        else onError(err)
      } finally {
        settled = true
      }
    }

    while (!stop?.aborted) {
      let claim: ClaimedStep | null
      try {
        claim = await claimNextStep(stats.workerId, { leaseSeconds, workflowId: opts.workflowId })
      } catch (err) {
        onError(err)
        await sleep(pollMs, stop)
        continue
      }
      if (!claim) {
        if (opts.exitWhenIdle) break
        await sleep(pollMs, stop)
        continue
      }
      stats.claimed++
      await runOne(claim)
    }
    return stats
  }

  return {
    /** Creates a workflow owned by the signed-in user, optionally with steps, optionally started. */
    async createWorkflow(workflow: NewWorkflow): Promise<Workflow> {
      if (!workflow || typeof workflow !== 'object') throw new MemoryError('invalid_input', 'createWorkflow needs { name }')
      return call('create_workflow', {
        name: workflow.name,
        metadata: workflow.metadata as Json | undefined,
        steps: workflow.steps === undefined ? undefined : (workflow.steps.map(stepArgs) as unknown as Json),
        start: workflow.start,
        owner_id: workflow.ownerId,
      })
    },

    /** Adds one step after the workflow's last one; dependsOn names existing steps. */
    async addWorkflowStep(workflowId: string, step: NewWorkflowStep): Promise<WorkflowStep> {
      if (!step || typeof step !== 'object') throw new MemoryError('invalid_input', 'addWorkflowStep needs a step { name }')
      const a = stepArgs(step)
      return call('add_workflow_step', {
        workflow_id: workflowId,
        name: a.name,
        input: a.input,
        depends_on: a.depends_on,
        max_attempts: a.max_attempts,
        backoff_seconds: a.backoff_seconds,
        backoff_max_seconds: a.backoff_max_seconds,
        create_thread: a.create_thread,
        agent_id: a.agent_id,
        metadata: a.metadata,
      })
    },

    /** Adds several steps at once (all or none); dependencies may name steps later in the list. */
    async addWorkflowSteps(workflowId: string, steps: NewWorkflowStep[]): Promise<WorkflowStep[]> {
      if (!Array.isArray(steps)) throw new MemoryError('invalid_input', 'steps must be an array')
      return call('add_workflow_steps', { workflow_id: workflowId, steps: steps.map(stepArgs) as unknown as Json })
    },

    async startWorkflow(workflowId: string): Promise<Workflow> {
      return call('start_workflow', { workflow_id: workflowId })
    },
    async pauseWorkflow(workflowId: string): Promise<Workflow> {
      return call('pause_workflow', { workflow_id: workflowId })
    },
    async resumeWorkflow(workflowId: string): Promise<Workflow> {
      return call('resume_workflow', { workflow_id: workflowId })
    },
    async cancelWorkflow(workflowId: string, reason?: string): Promise<Workflow> {
      return call('cancel_workflow', { workflow_id: workflowId, reason })
    },

    /** The workflow with its steps; MemoryError not_found when unknown or not the caller's. */
    async getWorkflow(workflowId: string): Promise<WorkflowWithSteps> {
      const d = await call('get_workflow', { workflow_id: workflowId })
      if (!d?.workflow) throw new MemoryError('unexpected_response', 'get_workflow returned no workflow')
      return { ...d.workflow, steps: d.steps ?? [] }
    },

    claimNextStep,
    heartbeatStep,
    completeStep,
    failStep,
    skipStep,
    runWorker,
  }
}

function isSkip(value: unknown): value is SkipResult {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[SKIP] === true
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const done = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })
}
