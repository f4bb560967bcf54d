// `npm start`: the Docker-free local Supabase stack for this project. Prints a status block like
// `supabase status`, runs until SIGINT, SIGTERM or SIGHUP (to it or to npm) or until its parent process
// dies, then stops cleanly; the next start reuses `.data/`.
//   npm start                      start (or restart on the same data)
//   npm start -- --reset           start from an empty database
//   npm start -- --api-port 0 --db-port 0 --data-dir /tmp/x   free ports, other data directory
import { loadConfig, type StackConfig } from './core/config.ts'
import { MigrationError } from './core/migrate.ts'
import { startStack } from './stack.ts'

export function statusBlock(s: { apiUrl: string; dbUrl: string; config: StackConfig }): string {
  const rows: [string, string][] = [
    ['API URL', s.apiUrl],
    ['Auth URL', `${s.apiUrl}/auth/v1`],
    ['REST URL', `${s.apiUrl}/rest/v1`],
    ['Functions URL', `${s.apiUrl}/functions/v1`],
    ['Realtime URL', `${s.apiUrl.replace(/^http/, 'ws')}/realtime/v1`],
    ['DB URL', s.dbUrl],
    ['JWT secret', s.config.jwtSecret],
    ['anon key', s.config.anonKey],
    ['service_role key', s.config.serviceRoleKey],
  ]
  const width = Math.max(...rows.map(([k]) => k.length))
  return rows.map(([k, v]) => `${k.padStart(width)}: ${v}`).join('\n')
}

async function main(): Promise<void> {
  let config: StackConfig
  try {
    config = loadConfig()
  } catch (err) {
    console.error(`error: ${(err as Error).message}`)
    process.exit(2)
  }
  const log = (line: string) => {
    if (!config.quiet) console.log(`[stack] ${line}`)
  }
  const started = Date.now()
  let stack
  try {
    stack = await startStack(config, { log, migrateOnly: config.exitAfterMigrate })
  } catch (err) {
    if (err instanceof MigrationError) {
      console.error(`error: migration failed, start-up stopped; the database is at the last good migration\n  ${err.message}`)
    } else console.error(`error: ${(err as Error).message}`)
    process.exit(1)
  }
  if (config.exitAfterMigrate) {
    log(`database is up to date (${stack.applied.length} migration(s) applied now)`)
    await stack.stop()
    return
  }
  // Ctrl-C reaches npm and node at once, and npm forwards it too: one keypress can arrive as two signals.
  // A second signal only forces the exit when it comes later than that.
  let stoppingSince = 0
  const stop = async (reason: string) => {
    if (stoppingSince) {
      if (Date.now() - stoppingSince < 2000) return
      console.error(`[stack] ${reason} again: exiting without a clean shutdown`)
      process.exit(130)
    }
    stoppingSince = Date.now()
    log(`${reason}: stopping`)
    await stack.stop()
    log('stopped')
    process.exit(0)
  }
  // `npm start` runs this with `exec`, so npm is the parent and forwards SIGINT/SIGTERM sent to it (IDEs
  // and process managers signal the npm process, not its group). SIGHUP: the terminal went away.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop(signal))
  // A parent that dies without signalling (kill -9 of npm, a crashed supervisor) leaves this process to
  // init: then stop too, rather than hold the ports as an orphan. process.ppid is read anew each time.
  const parent = process.ppid
  const watch = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(watch)
      void stop(`parent process ${parent} exited`)
    }
  }, 500)
  watch.unref()

  // Printed only now that the handlers above are installed: the pid line is what supervisors and the tests
  // wait for, and a SIGTERM sent right after it must find them (before, it could arrive first and kill this
  // process with the default action, without a clean shutdown).
  console.log(`\nAgent Memory local stack started in ${((Date.now() - started) / 1000).toFixed(1)} s.\n`)
  console.log(statusBlock(stack))
  console.log(`\nData: ${config.dataDir}   pid ${process.pid}   Stop: Ctrl-C   Fresh start: npm start -- --reset\n`)
}

await main()
