// Scheduled tasks in the SDK: `createScheduledTasks({ supabase })` (also spread into `createMemory`) —
// named pg_cron tasks that run a SQL command or call an Edge Function, with their run history. The
// database allows these calls to service_role only: give this a client made with the service role key
// (a user's client gets MemoryError forbidden, anon unauthorized). Errors are MemoryError; an invalid
// schedule is invalid_input with a message naming the cron field.
import type { SupabaseClient } from '@supabase/supabase-js'
import { MemoryError } from './errors.ts'
import { requireClient, rpcCaller } from './rpc.ts'
import type { Database, Json } from './types.ts'
import type { Tables } from '../types/supabase.ts'

export type ScheduledTask = Tables<'scheduled_tasks'>

/** One run of a task from cron.job_run_details; trigger 'schedule' (the scheduler) or 'run_now'. */
export interface ScheduledTaskRun {
  runid: number
  jobid: number | null
  trigger: 'schedule' | 'run_now'
  /** pg_cron's status: 'starting' | 'running' | 'succeeded' | 'failed' … */
  status: string
  return_message: string | null
  start_time: string | null
  end_time: string | null
}

export interface ScheduledTaskWithRuns extends ScheduledTask {
  /** Newest first. */
  runs: ScheduledTaskRun[]
}

export interface NewScheduledTask {
  /** Unique; letters, digits, "_", ".", ":" and "-" (at most 100). */
  name: string
  /** 5-field cron ("*\/5 * * * *", names like MON or JAN allowed) or "N seconds" (1..59). */
  schedule: string
  /** SQL to run (as service_role) — or give edgeFunction instead. */
  command?: string
  /** An Edge Function to POST `body` to, with the service key from Vault. */
  edgeFunction?: string
  body?: { [key: string]: Json | undefined }
  /** Default true. */
  active?: boolean
  metadata?: { [key: string]: Json | undefined }
  description?: string
}

export interface ScheduledTaskPatch {
  schedule?: string
  /** Switching kinds: set one of command / edgeFunction and the other to null. */
  command?: string | null
  edgeFunction?: string | null
  body?: { [key: string]: Json | undefined }
  active?: boolean
  metadata?: { [key: string]: Json | undefined }
  description?: string | null
}

export interface ScheduledTasksOptions {
  supabase: SupabaseClient<any, any, any>
}

type RunRow = Database['public']['CompositeTypes']['scheduled_task_run']

export type ScheduledTasks = ReturnType<typeof createScheduledTasks>

export function createScheduledTasks(options: ScheduledTasksOptions) {
  const call = rpcCaller(requireClient(options?.supabase, 'createScheduledTasks'))

  return {
    /** Creates a task and its pg_cron job. */
    async createScheduledTask(task: NewScheduledTask): Promise<ScheduledTask> {
      if (!task || typeof task !== 'object') throw new MemoryError('invalid_input', 'createScheduledTask needs { name, schedule, command | edgeFunction }')
      return call('create_scheduled_task', {
        name: task.name,
        schedule: task.schedule,
        command: task.command,
        edge_function: task.edgeFunction,
        body: task.body as Json | undefined,
        active: task.active,
        metadata: task.metadata as Json | undefined,
        description: task.description,
      })
    },

    /** Changes the named fields; a new schedule or active flag reaches the cron job at once. */
    async updateScheduledTask(name: string, patch: ScheduledTaskPatch): Promise<ScheduledTask> {
      if (!patch || typeof patch !== 'object') throw new MemoryError('invalid_input', 'patch must be an object')
      const body: Record<string, Json> = {}
      if (patch.schedule !== undefined) body.schedule = patch.schedule
      if (patch.command !== undefined) body.command = patch.command
      if (patch.edgeFunction !== undefined) body.edge_function = patch.edgeFunction
      if (patch.body !== undefined) body.body = patch.body as Json
      if (patch.active !== undefined) body.active = patch.active
      if (patch.metadata !== undefined) body.metadata = patch.metadata as Json
      if (patch.description !== undefined) body.description = patch.description
      return call('update_scheduled_task', { name, patch: body })
    },

    /**
     * Runs the task now, in the request's transaction, and records the run in its history. A failing
     * SQL command does not throw: the run comes back with status 'failed' and the error as return_message.
     */
    async runScheduledTaskNow(name: string): Promise<ScheduledTaskRun> {
      return runOf(await call('run_scheduled_task_now', { name }), 'run_scheduled_task_now')
    },

    /** Deletes the task and unschedules its job; returns the deleted task. */
    async deleteScheduledTask(name: string): Promise<ScheduledTask> {
      return call('delete_scheduled_task', { name })
    },

    /** Every task, by name. */
    async getScheduledTasks(): Promise<ScheduledTask[]> {
      const rows = await call('list_scheduled_tasks', {})
      if (!Array.isArray(rows)) throw new MemoryError('unexpected_response', 'list_scheduled_tasks did not return a list')
      return rows
    },

    /** The task with its most recent runs (newest first, maxRuns 1..1000, default 20). */
    async getScheduledTask(name: string, opts: { maxRuns?: number } = {}): Promise<ScheduledTaskWithRuns> {
      const d = await call('get_scheduled_task', { name, max_runs: opts.maxRuns })
      if (!d?.task) throw new MemoryError('unexpected_response', 'get_scheduled_task returned no task')
      return { ...d.task, runs: (d.runs ?? []).map((r) => runOf(r, 'get_scheduled_task')) }
    },
  }
}

function runOf(r: RunRow | null | undefined, fn: string): ScheduledTaskRun {
  if (!r || typeof r.runid !== 'number' || !r.status) throw new MemoryError('unexpected_response', `${fn} returned a run without id or status`)
  return {
    runid: r.runid,
    jobid: r.jobid,
    trigger: r.trigger === 'run_now' ? 'run_now' : 'schedule',
    status: r.status,
    return_message: r.return_message,
    start_time: r.start_time,
    end_time: r.end_time,
  }
}
