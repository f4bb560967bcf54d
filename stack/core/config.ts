// Settings of the embedded stack: supabase/config.toml (the same file `supabase start` reads) for ports,
// API schemas and per-function `verify_jwt`, overridden by command-line flags and environment variables.
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { parse as parseToml } from 'smol-toml'
import { LOCAL_ANON_KEY, LOCAL_JWT_SECRET, LOCAL_SERVICE_ROLE_KEY } from './keys.ts'

export const ROOT = resolve(import.meta.dirname, '..', '..')

export interface StackConfig {
  /** The project checkout (node_modules, stack/). */
  root: string
  /** The `supabase/` directory used: migrations, seed, functions, config.toml (`--workdir <dir>/supabase`). */
  supabaseDir: string
  /** Where PGlite keeps its files (`.data/pg`); the stack also writes `.data/stack.json` next to it. */
  dataDir: string
  host: string
  apiPort: number
  dbPort: number
  jwtSecret: string
  anonKey: string
  serviceRoleKey: string
  api: {
    schemas: string[]
    extraSearchPath: string[]
    maxRows: number
    /** Request bodies above this size get 413. */
    maxBodyBytes: number
  }
  functions: {
    dir: string
    /** `[functions.<name>] verify_jwt` from config.toml; true when unset, as in Supabase. */
    verifyJwt: Record<string, boolean>
    /** Wall-clock limit per function request. */
    timeoutMs: number
    /** Extra environment for functions (`supabase/functions/.env`, like `supabase functions serve`). */
    env: Record<string, string>
  }
  /** A socket client idle inside a transaction this long is disconnected (one shared session). */
  idleTxTimeoutMs: number
  /** How often the autovacuum stand-in looks for tables to vacuum/analyze. */
  autovacuumIntervalMs: number
  reset: boolean
  /** Stop after migrating (db:migrate / db:reset). */
  exitAfterMigrate: boolean
  quiet: boolean
}

type Toml = Record<string, any>

function readToml(path: string): Toml {
  return existsSync(path) ? (parseToml(readFileSync(path, 'utf8')) as Toml) : {}
}

/** Parses `KEY=value` lines (comments and blank lines ignored, optional quotes stripped). */
export function readEnvFile(path: string): Record<string, string> {
  if (!existsSync(path)) return {}
  const env: Record<string, string> = {}
  for (const line of readFileSync(path, 'utf8').split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line)
    if (!m || line.trimStart().startsWith('#')) continue
    env[m[1]] = m[2].replace(/^(['"])(.*)\1$/, '$2')
  }
  return env
}

function port(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined || value === '') return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${flag}: "${value}" is not a port number (0-65535)`)
  return n
}

export function loadConfig(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): StackConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      reset: { type: 'boolean', default: false },
      'data-dir': { type: 'string' },
      workdir: { type: 'string' },
      'api-port': { type: 'string' },
      'db-port': { type: 'string' },
      'exit-after-migrate': { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
    },
    strict: true,
  })
  // Like the Supabase CLI's --workdir: the directory that contains supabase/.
  const supabaseDir = join(resolve(values.workdir ?? ROOT), 'supabase')
  const toml = readToml(join(supabaseDir, 'config.toml'))
  const verifyJwt: Record<string, boolean> = {}
  for (const [name, fn] of Object.entries((toml.functions ?? {}) as Toml)) {
    if (typeof fn?.verify_jwt === 'boolean') verifyJwt[name] = fn.verify_jwt
  }
  const dataDir = resolve(values['data-dir'] ?? env.AGENT_MEMORY_DATA_DIR ?? join(ROOT, '.data'))
  return {
    root: ROOT,
    supabaseDir,
    dataDir,
    host: '127.0.0.1',
    apiPort: port(values['api-port'] ?? env.AGENT_MEMORY_API_PORT, toml.api?.port ?? 54321, '--api-port'),
    dbPort: port(values['db-port'] ?? env.AGENT_MEMORY_DB_PORT, toml.db?.port ?? 54322, '--db-port'),
    jwtSecret: LOCAL_JWT_SECRET,
    anonKey: LOCAL_ANON_KEY,
    serviceRoleKey: LOCAL_SERVICE_ROLE_KEY,
    api: {
      schemas: toml.api?.schemas ?? ['public', 'graphql_public'],
      extraSearchPath: toml.api?.extra_search_path ?? ['public', 'extensions'],
      maxRows: toml.api?.max_rows ?? 1000,
      maxBodyBytes: Number(env.AGENT_MEMORY_MAX_BODY_BYTES ?? 10 * 1024 * 1024),
    },
    functions: {
      dir: join(supabaseDir, 'functions'),
      verifyJwt,
      timeoutMs: Number(env.AGENT_MEMORY_FUNCTION_TIMEOUT_MS ?? 150_000),
      env: readEnvFile(join(supabaseDir, 'functions', '.env')),
    },
    idleTxTimeoutMs: Number(env.AGENT_MEMORY_IDLE_TX_TIMEOUT_MS ?? 30_000),
    autovacuumIntervalMs: Number(env.AGENT_MEMORY_AUTOVACUUM_INTERVAL_MS ?? 15_000),
    reset: values.reset ?? false,
    exitAfterMigrate: values['exit-after-migrate'] ?? false,
    quiet: values.quiet ?? false,
  }
}

export function dbUrl(config: Pick<StackConfig, 'host' | 'dbPort'>): string {
  return `postgresql://postgres:postgres@${config.host}:${config.dbPort}/postgres`
}

export function apiUrl(config: Pick<StackConfig, 'host' | 'apiPort'>): string {
  return `http://${config.host}:${config.apiPort}`
}
