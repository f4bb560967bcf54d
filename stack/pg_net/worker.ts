// pg_net stand-in worker: takes committed requests from `net.http_request_queue`, sends them concurrently
// with fetch (each with its own `timeout_milliseconds`; 0 means none, as curl's CURLOPT_TIMEOUT_MS), and
// records each outcome in `net._http_response` as pg_net does — a status, headers and body, or
// `timed_out` / `error_msg` with curl's message for what failed (an unsupported scheme, a malformed URL, a
// refused connection, an unknown host). One request failing never stops the worker. Responses older than
// the TTL (pg_net's default: 6 hours) are deleted, as pg_net's worker does.
import type { Database } from '../core/database.ts'

interface QueuedRequest {
  id: string
  method: string
  url: string
  headers: Record<string, string> | null
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
      headers: Record<string, string> | null
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
    const failed = (error_msg: string, timed_out = false): Outcome => ({
      id: req.id, status_code: null, content_type: null, headers: null, content: null, timed_out, error_msg,
    })
    // pg_net hands any URL string to curl; these are curl's answers for the ones it cannot use.
    let url: URL
    try {
      url = new URL(req.url)
    } catch {
      return failed('URL using bad/illegal format or missing URL')
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return failed('Unsupported protocol')
    if (req.timeout_milliseconds < 0) return failed('A libcurl function was given a bad argument')
    const started = Date.now()
    const controller = new AbortController()
    const timer = req.timeout_milliseconds > 0 ? setTimeout(() => controller.abort(), req.timeout_milliseconds) : null
    const headers = Object.fromEntries(Object.entries(req.headers ?? {}).map(([k, v]) => [k, String(v)]))
    try {
      const method = req.method.toUpperCase()
      const res = await fetch(url, {
        method,
        headers,
        body: req.body && method !== 'GET' ? Buffer.from(req.body) : undefined,
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
      if (controller.signal.aborted) {
        return failed(`Timeout of ${req.timeout_milliseconds} ms reached. Total time: ${Date.now() - started} ms`, true)
      }
      return failed(describeFetchError(err))
    } finally {
      if (timer) clearTimeout(timer)
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

/** fetch reports "fetch failed" and hides the reason in `cause`; pg_net reports curl_easy_strerror's text. */
function describeFetchError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause
  switch (cause?.code) {
    case 'ECONNREFUSED':
      return "Couldn't connect to server"
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return "Couldn't resolve host name"
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'Failure when receiving data from the peer'
  }
  return cause?.message ? `${(err as Error).message}: ${cause.message}` : (err as Error).message
}
