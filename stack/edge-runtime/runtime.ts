// Runs the Edge Functions locally: one Deno process (stack/edge-runtime/main.ts) serving every function
// through its `supabase/functions/<name>/index.ts` on a private loopback port, restarted when a function file
// changes (hot reload, like `supabase start`'s per_worker policy) or when it crashes. The gateway proxies
// `/functions/v1/<name>` to it.
import { spawn, type ChildProcess } from 'node:child_process'
import { watch, type FSWatcher } from 'node:fs'
import { request, type IncomingMessage, type ServerResponse } from 'node:http'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

export interface EdgeRuntimeOptions {
  root: string
  functionsDir: string
  env: Record<string, string>
  timeoutMs: number
  watch?: boolean
  log?: (line: string) => void
}

export class EdgeRuntime {
  private child: ChildProcess | null = null
  private port = 0
  private ready: Promise<void> | null = null
  private stopping = false
  private watcher: FSWatcher | null = null
  private restartTimer: NodeJS.Timeout | null = null
  /** Consecutive exits before a runtime became ready: spaces out restarts of a runtime that cannot start. */
  private crashes = 0
  private readonly log: (line: string) => void

  constructor(private opts: EdgeRuntimeOptions) {
    this.log = opts.log ?? (() => {})
  }

  async start(): Promise<void> {
    this.stopping = false
    await this.spawn()
    if (this.opts.watch !== false) {
      try {
        this.watcher = watch(this.opts.functionsDir, { recursive: true }, () => this.scheduleRestart())
      } catch (err) {
        this.log(`functions: hot reload unavailable (${(err as Error).message})`)
      }
    }
  }

  private spawn(): Promise<void> {
    const deno = join(this.opts.root, 'node_modules', '.bin', 'deno')
    const child = spawn(
      deno,
      [
        'run',
        '--allow-net',
        '--allow-env',
        '--allow-read',
        '--allow-sys',
        // The mirror function opens its local LibSQL file (file:.data/mirror.db) with @libsql/client's native
        // driver, a Node-API addon. Hosted Supabase grants no FFI: there the mirror takes a Turso/sqld URL,
        // which the function opens with the driver's pure-JS client.
        '--allow-ffi',
        '--no-prompt',
        '--config',
        join(this.opts.root, 'deno.json'),
        join(this.opts.root, 'stack', 'edge-runtime', 'main.ts'),
        this.opts.functionsDir,
        '0',
      ],
      // stdin is a pipe this process never writes to: Deno exits when it closes, i.e. when the stack is gone
      // however it died (even SIGKILL), so no runtime outlives it.
      { cwd: this.opts.root, env: { ...process.env, ...this.opts.env, NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] },
    )
    this.child = child
    this.ready = new Promise<void>((resolve, reject) => {
      let started = false
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (!started && line.startsWith('{"ready":')) {
          this.port = JSON.parse(line).ready
          started = true
          this.crashes = 0
          resolve()
        } else this.log(`functions: ${line}`)
      })
      createInterface({ input: child.stderr! }).on('line', (line) => this.log(`functions: ${line}`))
      child.once('exit', (code, signal) => {
        if (!started) reject(new Error(`edge runtime (deno) exited before it was ready (code ${code}, signal ${signal})`))
        if (this.child === child) {
          this.child = null
          if (!this.stopping) {
            const delay = Math.min(250 * 2 ** this.crashes, 10_000)
            this.crashes++
            this.log(`functions: runtime exited (code ${code}, signal ${signal}); restarting in ${delay} ms`)
            this.ready = null
            setTimeout(() => void this.spawn().catch((e) => this.log(`functions: ${e.message}`)), delay)
          }
        }
      })
    })
    return this.ready
  }

  private scheduleRestart(): void {
    if (this.restartTimer) clearTimeout(this.restartTimer)
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null
      this.log('functions: source changed, reloading')
      void this.restart().catch((err) => this.log(`functions: reload failed: ${err.message}`))
    }, 200)
  }

  async restart(): Promise<void> {
    const old = this.child
    this.child = null
    if (old) await kill(old)
    if (!this.stopping) await this.spawn()
  }

  async stop(): Promise<void> {
    this.stopping = true
    this.watcher?.close()
    if (this.restartTimer) clearTimeout(this.restartTimer)
    const child = this.child
    this.child = null
    if (child) await kill(child)
  }

  /** Forwards a request for `/<name>/...` (path and query already rewritten) and streams the reply back. */
  async proxy(req: IncomingMessage, res: ServerResponse, path: string, headers: Record<string, string | string[]>): Promise<void> {
    if (!this.ready) await this.spawn()
    await this.ready
    await new Promise<void>((resolve) => {
      const upstream = request(
        { host: '127.0.0.1', port: this.port, method: req.method, path, headers, timeout: this.opts.timeoutMs },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers)
          up.pipe(res)
          up.on('end', resolve)
          up.on('error', resolve)
        },
      )
      upstream.on('timeout', () => {
        upstream.destroy()
        if (!res.headersSent) {
          res.writeHead(504, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ code: 'WORKER_TIMEOUT', message: `Function did not respond within ${this.opts.timeoutMs} ms` }))
        } else res.destroy()
        resolve()
      })
      upstream.on('error', (err) => {
        if (!res.headersSent) {
          res.writeHead(502, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ code: 'BOOT_ERROR', message: `Function runtime unavailable: ${err.message}` }))
        } else res.destroy()
        resolve()
      })
      req.pipe(upstream)
    })
  }
}

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const t = setTimeout(() => child.kill('SIGKILL'), 3000)
    child.once('exit', () => {
      clearTimeout(t)
      resolve()
    })
    child.kill('SIGTERM')
  })
}
