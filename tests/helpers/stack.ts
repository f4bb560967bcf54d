// Test helpers: a whole stack of its own on free ports and in a temporary data directory (in this process,
// or as `npm start` in a child process), plus tokens and users for exercising RLS through the API.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient, type SupabaseClient } from '@supabase/supabase-js'
import WebSocket from 'ws'
import { loadConfig, ROOT } from '../../stack/core/config.ts'
import { LOCAL_ANON_KEY, LOCAL_SERVICE_ROLE_KEY } from '../../stack/core/keys.ts'
import { startStack, type Stack } from '../../stack/stack.ts'
import { signAccessToken } from '../../stack/core/jwt.ts'

export { LOCAL_ANON_KEY as ANON_KEY, LOCAL_SERVICE_ROLE_KEY as SERVICE_ROLE_KEY }

export interface TestStack extends Stack {
  dataDir: string
  /** What the stack logged (cron failures, function output, …). */
  logs: string[]
  /** Stops the stack and deletes its data directory (unless keepData). */
  close(opts?: { keepData?: boolean }): Promise<void>
}

export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'agent-memory-test-'))
}

export interface WorkdirOptions {
  /** Extra migration files (name → SQL) after the project's own. */
  migrations?: Record<string, string>
  /**
   * Extra Edge Functions: name → handler.ts source (an index.ts with `Deno.serve(handler)` is added, as
   * every function has), or name → the files themselves (`{ 'index.ts': …, 'handler.ts'?: … }`).
   */
  functions?: Record<string, string | Record<string, string>>
  /** TOML appended to config.toml (e.g. `[functions.x]\nverify_jwt = false`). */
  config?: string
}

/** What every function's index.ts is: the handler, served (supabase/functions/<name>/index.ts). */
export const FUNCTION_INDEX = `import { handler } from './handler.ts'\n\nDeno.serve(handler)\n`

/**
 * A copy of the project's supabase/ directory (config, migrations, seed, functions) with additions, for
 * tests that need migrations or functions the project does not ship. Use with `--workdir`.
 */
export function makeWorkdir(opts: WorkdirOptions = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'agent-memory-workdir-'))
  cpSync(join(ROOT, 'supabase'), join(dir, 'supabase'), { recursive: true, filter: (src) => !src.includes('/.temp') })
  mkdirSync(join(dir, 'supabase', 'migrations'), { recursive: true })
  for (const [name, sql] of Object.entries(opts.migrations ?? {})) writeFileSync(join(dir, 'supabase', 'migrations', name), sql)
  for (const [name, source] of Object.entries(opts.functions ?? {})) {
    mkdirSync(join(dir, 'supabase', 'functions', name), { recursive: true })
    const files = typeof source === 'string' ? { 'handler.ts': source, 'index.ts': FUNCTION_INDEX } : source
    for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, 'supabase', 'functions', name, file), text)
  }
  if (opts.config) appendFileSync(join(dir, 'supabase', 'config.toml'), `\n${opts.config}\n`)
  return dir
}

/** Starts a stack in this process on free ports. Pass `dataDir` to reuse a previous stack's data. */
export async function startTestStack(opts: { dataDir?: string; workdir?: string; env?: Record<string, string> } = {}): Promise<TestStack> {
  const dataDir = opts.dataDir ?? tempDataDir()
  const args = ['--data-dir', dataDir, '--api-port', '0', '--db-port', '0', '--quiet']
  if (opts.workdir) args.push('--workdir', opts.workdir)
  const config = loadConfig(args, { ...opts.env })
  const lines: string[] = []
  const stack = await startStack(config, { log: (l) => lines.push(l) })
  return {
    ...stack,
    dataDir,
    logs: lines,
    async close({ keepData = false } = {}) {
      await stack.stop()
      if (!keepData) rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** A signed access token like Supabase Auth issues (HS256 with the local JWT secret). */
export const signToken = signAccessToken

export interface TestUser {
  id: string
  email: string
  token: string
  client: SupabaseClient
}

/** Creates a user in auth.users and returns a supabase-js client that acts as them. */
export async function createUser(stack: Stack, name = 'user'): Promise<TestUser> {
  const id = randomUUID()
  const email = `${name}-${id.slice(0, 8)}@test.local`
  await stack.db.query(
    `insert into auth.users (id, aud, role, email, raw_user_meta_data) values ($1, 'authenticated', 'authenticated', $2, '{}')`,
    [id, email],
  )
  const token = await signToken({ sub: id, email })
  return { id, email, token, client: userClient(stack, token) }
}

const clientOptions = {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  // Node 20 has no global WebSocket; realtime-js takes an implementation (as Supabase documents).
  realtime: { transport: WebSocket as never },
}

export function anonClient(stack: Pick<Stack, 'apiUrl'>): SupabaseClient {
  return createClient(stack.apiUrl, LOCAL_ANON_KEY, clientOptions)
}

export function serviceClient(stack: Pick<Stack, 'apiUrl'>): SupabaseClient {
  return createClient(stack.apiUrl, LOCAL_SERVICE_ROLE_KEY, clientOptions)
}

export function userClient(stack: Pick<Stack, 'apiUrl'>, token: string): SupabaseClient {
  return createClient(stack.apiUrl, LOCAL_ANON_KEY, {
    ...clientOptions,
    global: { headers: { Authorization: `Bearer ${token}` } },
  })
}

export interface ChildStack {
  child: ChildProcess
  /** Signals the group and resolves once the stack process itself has exited (not just npm). */
  stop(signal: NodeJS.Signals): Promise<void>
  /** Signals the whole process group (npm, sh, node), as Ctrl-C in a terminal or a supervisor does. */
  signal(signal: NodeJS.Signals): void
  output: () => string
  /** Resolves once the status block has been printed; rejects if the process exits first. */
  ready: Promise<{ apiUrl: string; dbUrl: string; ms: number }>
  exited: Promise<number | null>
}

/** Runs `npm start -- <args>` as a user would, collecting its output. */
export function spawnNpmStart(args: string[], env: Record<string, string> = {}): ChildStack {
  const started = Date.now()
  const child = spawn('npm', ['start', '--', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so a signal reaches npm and the stack together, as from a terminal.
    detached: true,
  })
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (out += d))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const ready = new Promise<{ apiUrl: string; dbUrl: string; ms: number }>((resolve, reject) => {
    const check = () => {
      const api = /API URL: (\S+)/.exec(out)
      const dbm = /DB URL: (\S+)/.exec(out)
      if (api && dbm && /service_role key: \S+/.test(out)) {
        resolve({ apiUrl: api[1], dbUrl: dbm[1], ms: Date.now() - started })
        return true
      }
      return false
    }
    child.stdout!.on('data', () => check())
    void exited.then((code) => {
      if (!check()) reject(new Error(`npm start exited with ${code} before it was ready:\n${out}`))
    })
  })
  // Callers that expect a failed start await `exited` instead; keep that rejection from going unhandled.
  ready.catch(() => {})
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig)
    } catch {
      // already gone
    }
  }
  const stop = async (sig: NodeJS.Signals) => {
    const pid = /pid (\d+)/.exec(out)?.[1]
    signal(sig)
    await exited
    // npm may exit before the stack it started has finished shutting down.
    if (pid) await waitFor(() => !isAlive(Number(pid)), 15_000)
  }
  return { child, signal, stop, output: () => out, ready, exited }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Free TCP port on loopback (closed again before returning). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net')
  return new Promise((resolve) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(fn: () => Promise<T> | T, timeoutMs = 10_000, intervalMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v) return v as NonNullable<T>
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ''}`)
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}
