// pg_cron stand-in scheduler: runs the active rows of `cron.job` on their schedules ('N seconds', or
// 5-field cron parsed by croner in GMT as pg_cron does), as the job's user, recording every run in
// `cron.job_run_details` ('running' → 'succeeded' | 'failed' with the command tag or error message).
// Jobs run one at a time because the embedded database has one session; a run that is still going when
// its next slot comes is skipped, as pg_cron skips an overlapping run.
import { Cron } from 'croner'
import type { Database } from '../core/database.ts'

interface JobRow {
  jobid: string
  schedule: string
  command: string
  username: string
  jobname: string | null
}

interface Scheduled {
  job: JobRow
  next: number
  cron: Cron | null
  intervalMs: number | null
}

const SECONDS = /^\s*(\d+)\s+seconds?\s*$/i
const NICKNAMES: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
}

export class CronScheduler {
  private jobs = new Map<string, Scheduled>()
  private timer: NodeJS.Timeout | null = null
  private running = false
  private stopped = true
  private reloadPending = true
  private lastReload = 0
  private unlisten: (() => void) | null = null
  private tick: Promise<void> = Promise.resolve()

  constructor(
    private db: Database,
    private log: (line: string) => void = () => {},
  ) {}

  async start(): Promise<void> {
    this.stopped = false
    this.unlisten = await this.db.listen('cron_job', () => {
      this.reloadPending = true
      this.wake(0)
    })
    this.wake(0)
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    this.unlisten?.()
    await this.tick
  }

  private wake(delayMs: number): void {
    if (this.stopped) return
    if (this.timer) clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.timer = null
      this.tick = this.runDue().catch((err) => this.log(`cron: scheduler error: ${(err as Error).message}`))
    }, Math.max(0, delayMs))
  }

  private async reload(): Promise<void> {
    this.reloadPending = false
    this.lastReload = Date.now()
    const rows = (
      await this.db.query<JobRow>(
        `select jobid::text, schedule, command, username, jobname from cron.job where active order by jobid`,
      )
    ).rows
    const seen = new Set<string>()
    const now = Date.now()
    for (const job of rows) {
      seen.add(job.jobid)
      const old = this.jobs.get(job.jobid)
      if (old && old.job.schedule === job.schedule) {
        old.job = job
        continue
      }
      const s = this.plan(job, now)
      if (s) this.jobs.set(job.jobid, s)
    }
    for (const id of this.jobs.keys()) if (!seen.has(id)) this.jobs.delete(id)
  }

  private plan(job: JobRow, now: number): Scheduled | null {
    const seconds = SECONDS.exec(job.schedule)
    if (seconds) {
      const intervalMs = Number(seconds[1]) * 1000
      // Align to the interval like pg_cron's second-based timer, so runs are evenly spaced.
      return { job, cron: null, intervalMs, next: Math.ceil((now + 1) / intervalMs) * intervalMs }
    }
    const pattern = NICKNAMES[job.schedule.trim().toLowerCase()] ?? job.schedule.trim()
    try {
      const cron = new Cron(pattern.replace(/\$/g, 'L'), { timezone: 'Etc/UTC', paused: true, domAndDow: false, mode: '5-part' })
      const next = cron.nextRun(new Date(now))
      return next ? { job, cron, intervalMs: null, next: next.getTime() } : null
    } catch (err) {
      this.log(`cron: job ${job.jobid} has a schedule the scheduler cannot parse (${job.schedule}): ${(err as Error).message}`)
      return null
    }
  }

  private async runDue(): Promise<void> {
    if (this.running || this.stopped) return
    this.running = true
    try {
      // Re-read the job list on NOTIFY, and every few seconds in case one was missed (e.g. a restore).
      if (this.reloadPending || Date.now() - this.lastReload > 5000) await this.reload()
      const now = Date.now()
      const due = [...this.jobs.values()].filter((s) => s.next <= now).sort((a, b) => a.next - b.next)
      for (const s of due) {
        if (this.stopped) break
        await this.runJob(s.job)
        // Next slot strictly after the run finished: a slot missed while running is skipped.
        const after = Date.now()
        if (s.intervalMs) s.next = Math.max(s.next + s.intervalMs, Math.ceil((after + 1) / s.intervalMs) * s.intervalMs)
        else s.next = s.cron!.nextRun(new Date(after))?.getTime() ?? Infinity
      }
    } finally {
      this.running = false
    }
    const now = Date.now()
    const soonest = Math.min(now + 5000, ...[...this.jobs.values()].map((s) => s.next))
    this.wake(soonest - now)
  }

  private async runJob(job: JobRow): Promise<void> {
    await this.db.exclusive(async (pg) => {
      const started = await pg.query<{ runid: string }>(
        `insert into cron.job_run_details (jobid, job_pid, database, username, command, status, start_time)
         values ($1, 0, current_database(), $2, $3, 'running', now()) returning runid::text`,
        [job.jobid, job.username, job.command],
      )
      const runid = started.rows[0].runid
      const identity = job.username === 'postgres' ? undefined : { role: job.username }
      const result = await this.db.runScript(pg, job.command, identity)
      const ok = !result.error
      const message = ok
        ? (result.statements.at(-1)?.command ?? '')
        : `ERROR:  ${result.error!.message}`
      await pg.query(
        `update cron.job_run_details set status = $2, return_message = $3, end_time = clock_timestamp() where runid = $1`,
        [runid, ok ? 'succeeded' : 'failed', message],
      )
      if (!ok) this.log(`cron: job ${job.jobname ?? job.jobid} failed: ${result.error!.message}`)
    })
  }
}
