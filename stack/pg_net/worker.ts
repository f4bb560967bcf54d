// pg_net stand-in worker: takes committed requests from `net.http_request_queue`, sends them concurrently
// with fetch (each with its own `timeout_milliseconds`), and records each outcome in `net._http_response`
// as pg_net does — a status and body, or `timed_out` / `error_msg` for a timeout or a connection error.
// One request failing never stops the worker. Responses older than the TTL (pg_net's default: 6 hours)
// are deleted, as pg_net's worker does.
import type { Database } from '../core/database.ts'

interface QueuedRequest {
  id: string
  method: string
  url: string
  headers: Record<string, string>
  body: Uint8Array | null
  timeout_milliseconds: number
}

interface Outcome {
  id: string
  status_code: number | null
  content_type: string | null
  headers: Record<string, string> | null
  content: string | null
  timed_out: boolean
  error_msg: string | null
}

export interface NetWorkerOptions {
  batchSize?: number
  pollMs?: number
  ttlMs?: number
  log?: (line: string) => void
}

export class NetWorker {
  private stopped = true
  private timer: NodeJS.Timeout | null = null
  private busy = false
  private again = false
  private inflight = new Set<Promise<void>>()
  private unlisten: (() => void) | null = null
  private lastPurge = 0
  private readonly batchSize: number
  private readonly pollMs: number
  private readonly ttlMs: number
  private readonly log: (line: string) => void

  constructor(
    private db: Database,
    opts: NetWorkerOptions = {},
  ) {
    this.batchSize = opts.batchSize ?? 200
    this.pollMs = opts.pollMs ?? 1000
    this.ttlMs = opts.ttlMs ?? 6 * 3600_000
    this.log = opts.log ?? (() => {})
  }

  async start(): Promise<void> {
    this.stopped = false
    this.unlisten = await this.db.listen('net_request', () => this.kick())
    this.kick()
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.unlisten?.()
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    while (this.busy || this.inflight.size) {
      await Promise.all([...this.inflight])
      await new Promise((r) => setTimeout(r, 10))
    }
  }

  /** Drains the queue now (called on NOTIFY and by the poll timer). */
  kick(): void {
    if (this.stopped) return
    if (this.busy) {
      this.again = true
      return
    }
    this.busy = true
    void this.drain()
      .catch((err) => this.log(`net: worker error: ${(err as Error).message}`))
      .finally(() => {
        this.busy = false
        if (this.again) {
          this.again = false
          this.kick()
        } else this.schedulePoll()
      })
  }

  private schedulePoll(): void {
    if (this.stopped) return
    if (this.timer) clearTimeout(this.timer)
    this.timer = setTimeout(() => this.kick(), this.pollMs)
  }

  private async drain(): Promise<void> {
    for (;;) {
      const batch = await this.take()
      if (batch.length === 0) break
      for (const req of batch) {
        const p: Promise<void> = this.send(req)
          .then((outcome) => this.record(outcome))
          .catch((err) => this.log(`net: could not record response ${req.id}: ${(err as Error).message}`))
          .finally(() => this.inflight.delete(p))
        this.inflight.add(p)
      }
      if (batch.length < this.batchSize) break
    }
    if (Date.now() - this.lastPurge > 60_000) {
      this.lastPurge = Date.now()
      await this.db.query(`delete from net._http_response where created < now() - make_interval(secs => $1)`, [
        this.ttlMs / 1000,
      ])
    }
  }

  private async take(): Promise<QueuedRequest[]> {
    const r = await this.db.query<{
      id: string
      method: string
      url: string
      headers: Record<string, string>
      body: Uint8Array | null
      timeout_milliseconds: number
    }>(
      `delete from net.http_request_queue
        where id in (select id from net.http_request_queue order by id limit $1)
        returning id::text, method, url, headers, body, timeout_milliseconds`,
      [this.batchSize],
    )
    return r.rows.sort((a, b) => Number(a.id) - Number(b.id))
  }

  private async send(req: QueuedRequest): Promise<Outcome> {
    const started = Date.now()
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), req.timeout_milliseconds)
    const headers = Object.fromEntries(Object.entries(req.headers ?? {}).map(([k, v]) => [k, String(v)]))
    try {
      const res = await fetch(req.url, {
        method: req.method,
        headers,
        body: req.body && req.method !== 'GET' ? Buffer.from(req.body) : undefined,
        signal: controller.signal,
      })
      const content = await res.text()
      return {
        id: req.id,
        status_code: res.status,
        content_type: res.headers.get('content-type'),
        headers: Object.fromEntries(res.headers.entries()),
        content,
        timed_out: false,
        error_msg: null,
      }
    } catch (err) {
      const timedOut = controller.signal.aborted
      const elapsed = Date.now() - started
      return {
        id: req.id,
        status_code: null,
        content_type: null,
        headers: null,
        content: null,
        timed_out: timedOut,
        error_msg: timedOut
          ? `Timeout of ${req.timeout_milliseconds} ms reached. Total time: ${elapsed} ms`
          : describeFetchError(err),
      }
    } finally {
      clearTimeout(timer)
    }
  }

  private async record(o: Outcome): Promise<void> {
    await this.db.query(
      `insert into net._http_response (id, status_code, content_type, headers, content, timed_out, error_msg)
       values ($1, $2, $3, $4, $5, $6, $7)`,
      [o.id, o.status_code, o.content_type, o.headers, o.content, o.timed_out, o.error_msg],
    )
  }
}

/** fetch reports "fetch failed" and hides the reason in `cause`; pg_net reports curl's message. */
function describeFetchError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause
  if (cause?.code === 'ECONNREFUSED') return `Couldn't connect to server: ${cause.message}`
  if (cause?.code === 'ENOTFOUND') return `Couldn't resolve host name: ${cause.message}`
  return cause?.message ? `${(err as Error).message}: ${cause.message}` : (err as Error).message
}
