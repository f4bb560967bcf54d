// Starts and stops the whole embedded stack in one process — the Docker-free stand-in for `supabase start`:
// database (PGlite, migrated), Postgres socket, Edge Functions runtime, API gateway, pg_cron scheduler and
// pg_net worker. Used by `npm start` (stack/main.ts) and by tests that need a stack of their own.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { Autovacuum } from './autovacuum/autovacuum.ts'
import { apiUrl, dbUrl, type StackConfig } from './core/config.ts'
import { CronScheduler } from './pg_cron/scheduler.ts'
import { Database } from './core/database.ts'
import { EdgeRuntime } from './edge-runtime/runtime.ts'
import { Gateway } from './core/api-gateway.ts'
import { applyBootstrap, applyMigrations, applySeed } from './core/migrate.ts'
import { NetWorker } from './pg_net/worker.ts'
import { listen, PgServer } from './core/pg-server.ts'

export interface Stack {
  config: StackConfig
  db: Database
  apiUrl: string
  dbUrl: string
  applied: string[]
  fresh: boolean
  stop(): Promise<void>
}

export interface StartOptions {
  log?: (line: string) => void
  /** Skip serving: migrate and return (for db:migrate / db:reset). */
  migrateOnly?: boolean
}

/** Refuses a second stack on the same data directory: PGlite must have one writer. */
function lockDataDir(dataDir: string): () => void {
  const lock = join(dataDir, 'stack.pid')
  if (existsSync(lock)) {
    const pid = Number(readFileSync(lock, 'utf8'))
    if (pid !== process.pid && processRuns(pid)) throw new Error(`another stack (pid ${pid}) is using ${dataDir}; stop it first (Ctrl-C in its terminal)`)
  }
  writeFileSync(lock, String(process.pid))
  return () => rmSync(lock, { force: true })
}

/**
 * Whether `pid` is a running process. A zombie (exited, not yet reaped — an orphan whose new parent is slow
 * to reap, as in some containers) holds no lock and counts as gone, like a pid nobody has.
 */
function processRuns(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    // /proc/<pid>/stat: "pid (comm) state …"; comm may hold spaces and parentheses, the state follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return true // no /proc (macOS): kill(pid, 0) is all there is
  }
}

async function assertPortFree(host: string, port: number, purpose: string, flag: string): Promise<void> {
  if (port === 0) return
  const probe = createServer()
  await listen(probe, host, port, purpose, flag)
  await new Promise<void>((resolve) => probe.close(() => resolve()))
}

/** Opens the database and brings it to the project's schema (bootstrap, migrations, seed on a fresh database). */
export async function openMigrated(config: StackConfig, log: (line: string) => void): Promise<{ db: Database; applied: string[]; fresh: boolean }> {
  const pgDir = join(config.dataDir, 'pg')
  const fresh = !existsSync(join(pgDir, 'PG_VERSION'))
  if (fresh) log(`initialising a new database in ${pgDir}`)
  const db = await Database.open({ dataDir: pgDir, sharedBuffers: config.sharedBuffers })
  try {
    const bootstrapped = await applyBootstrap(db, (l) => log(`applied ${l}`))
    // `alter database ... set search_path` and friends take effect in new sessions only.
    if (bootstrapped.length) await db.exclusive(() => db.applySessionDefaults())
    const applied = await applyMigrations(db, join(config.supabaseDir, 'migrations'), (l) => log(`applied ${l}`))
    const seed = join(config.supabaseDir, 'seed.sql')
    if (fresh && existsSync(seed)) {
      await applySeed(db, seed)
      log('applied supabase/seed.sql')
    }
    return { db, applied, fresh }
  } catch (err) {
    await db.close()
    throw err
  }
}

/** Points util.project_url() / util.invoke_edge_function at this stack (on hosted, set once by hand). */
async function storeLocalSecrets(db: Database, url: string, serviceKey: string): Promise<void> {
  await db.transaction(async (tx) => {
    for (const [name, value] of [
      ['project_url', url],
      ['service_role_key', serviceKey],
    ]) {
      const found = await tx.query<{ id: string }>('select id from vault.secrets where name = $1', [name])
      if (found.rows.length) await tx.query('select vault.update_secret($1, $2)', [found.rows[0].id, value])
      else await tx.query('select vault.create_secret($1, $2, $3)', [value, name, 'set by the local stack at start-up'])
    }
  })
}

export async function startStack(config: StackConfig, opts: StartOptions = {}): Promise<Stack> {
  const log = opts.log ?? (() => {})
  mkdirSync(config.dataDir, { recursive: true })
  const unlock = lockDataDir(config.dataDir)
  const cleanups: (() => Promise<void> | void)[] = [unlock]
  // Stopping frees the ports first (nothing new is accepted), then winds down the workers — a cron run or
  // an embedding call in flight may take seconds — and closes the rest in reverse order of starting.
  const listeners: { stopListening(): void }[] = []
  const stopAll = async () => {
    for (const l of listeners) l.stopListening()
    listeners.length = 0
    for (const fn of cleanups.reverse()) {
      try {
        await fn()
      } catch (err) {
        log(`stop: ${(err as Error).message}`)
      }
    }
    cleanups.length = 0
  }
  try {
    if (!opts.migrateOnly) {
      await assertPortFree(config.host, config.dbPort, 'database', '--db-port')
      await assertPortFree(config.host, config.apiPort, 'API gateway', '--api-port')
    }
    if (config.reset) {
      log(`--reset: removing ${join(config.dataDir, 'pg')}`)
      rmSync(join(config.dataDir, 'pg'), { recursive: true, force: true })
    }
    const { db, applied, fresh } = await openMigrated(config, log)
    cleanups.push(() => db.close())
    if (opts.migrateOnly) {
      return { config, db, apiUrl: '', dbUrl: '', applied, fresh, stop: stopAll }
    }

    const pgServer = new PgServer(db, { host: config.host, port: config.dbPort, idleTxTimeoutMs: config.idleTxTimeoutMs, log })
    await pgServer.start()
    cleanups.push(() => pgServer.stop())
    listeners.push(pgServer)
    const live = { ...config, dbPort: pgServer.port }

    const gateway = new Gateway(db, live, null, log)
    await gateway.start()
    cleanups.push(() => gateway.stop())
    listeners.push(gateway)
    const stackLive = { ...live, apiPort: gateway.port }
    if (existsSync(config.functions.dir)) {
      const functions = new EdgeRuntime({
        root: config.root,
        functionsDir: config.functions.dir,
        timeoutMs: config.functions.timeoutMs,
        log,
        // What Supabase's edge runtime provides to every function, plus supabase/functions/.env. The LibSQL
        // mirror defaults to a file next to the database (file:.data/mirror.db for the default data directory).
        env: {
          LIBSQL_DATABASE_URL: process.env.LIBSQL_DATABASE_URL || `file:${join(config.dataDir, 'mirror.db')}`,
          ...config.functions.env,
          SUPABASE_URL: apiUrl(stackLive),
          SUPABASE_ANON_KEY: config.anonKey,
          SUPABASE_SERVICE_ROLE_KEY: config.serviceRoleKey,
          SUPABASE_DB_URL: dbUrl(stackLive),
        },
      })
      await functions.start()
      cleanups.push(() => functions.stop())
      gateway.ctx.functions = functions
    }
    await storeLocalSecrets(db, apiUrl(stackLive), config.serviceRoleKey)

    const net = new NetWorker(db, { log })
    await net.start()
    cleanups.push(() => net.stop())
    const cron = new CronScheduler(db, log)
    await cron.start()
    cleanups.push(() => cron.stop())
    const autovacuum = new Autovacuum(db, config.autovacuumIntervalMs, log)
    autovacuum.start()
    cleanups.push(() => autovacuum.stop())

    const info = { apiUrl: apiUrl(stackLive), dbUrl: dbUrl(stackLive), anonKey: config.anonKey, serviceRoleKey: config.serviceRoleKey, pid: process.pid }
    writeFileSync(join(config.dataDir, 'stack.json'), JSON.stringify(info, null, 2) + '\n')
    cleanups.push(() => rmSync(join(config.dataDir, 'stack.json'), { force: true }))
    return { config: stackLive, db, apiUrl: info.apiUrl, dbUrl: info.dbUrl, applied, fresh, stop: stopAll }
  } catch (err) {
    await stopAll()
    throw err
  }
}
