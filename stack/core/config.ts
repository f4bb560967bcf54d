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
  /** config.toml `[auth]`: what the GoTrue stand-in (stack/auth/) allows, as `supabase start` reads it. */
  auth: AuthConfig
  /** A socket client idle inside a transaction this long is disconnected (one shared session). */
  idleTxTimeoutMs: number
  /** How often the autovacuum stand-in looks for tables to vacuum/analyze. */
  autovacuumIntervalMs: number
  /**
   * PostgreSQL `shared_buffers` of the embedded database (`--shared-buffers`, AGENT_MEMORY_SHARED_BUFFERS;
   * default 128MB, PGlite's own). A page not found there is read through the WASM file system, so a larger
   * cache helps searches over a large corpus, but it also slows every small statement: measured on this
   * project's bench, 512MB made hybrid_search, search_memories and build_context with recall at 100k rows
   * 15–25% faster and load_messages on a 10k-message thread about 45% slower (p50 2.1 → 3.2 ms).
   */
  sharedBuffers: string
  reset: boolean
  /** Stop after migrating (db:migrate / db:reset). */
  exitAfterMigrate: boolean
  quiet: boolean
}

type Toml = Record<string, any>

export interface AuthConfig {
  /** `site_url`: where users are sent back to (GoTrue's default redirect). */
  siteUrl: string
  /** `jwt_expiry`: seconds an access token is valid. */
  jwtExpiry: number
  /** `enable_signup` and `[auth.email] enable_signup`. */
  enableSignup: boolean
  emailSignup: boolean
  /** `[auth.email] enable_confirmations`: false (the default locally) confirms sign-ups at once. */
  emailConfirmations: boolean
  /** `[auth.sms] enable_signup`; the stand-in sends no SMS, so phone sign-in is never available. */
  phoneSignup: boolean
  enableAnonymousSignIns: boolean
  minimumPasswordLength: number
  /** `password_requirements`: '', letters_digits, lower_upper_letters_digits, lower_upper_letters_digits_symbols. */
  passwordRequirements: string
  refreshTokenRotation: boolean
  /** `refresh_token_reuse_interval`: seconds a just-rotated refresh token may still be used. */
  refreshTokenReuseInterval: number
}

function authConfig(toml: Toml): AuthConfig {
  const a = (toml.auth ?? {}) as Toml
  const bool = (v: unknown, fallback: boolean) => (typeof v === 'boolean' ? v : fallback)
  const num = (v: unknown, fallback: number) => (typeof v === 'number' && Number.isFinite(v) ? v : fallback)
  return {
    siteUrl: typeof a.site_url === 'string' ? a.site_url : 'http://127.0.0.1:3000',
    jwtExpiry: num(a.jwt_expiry, 3600),
    enableSignup: bool(a.enable_signup, true),
    emailSignup: bool(a.email?.enable_signup, true),
    emailConfirmations: bool(a.email?.enable_confirmations, false),
    phoneSignup: bool(a.sms?.enable_signup, false),
    enableAnonymousSignIns: bool(a.enable_anonymous_sign_ins, false),
    minimumPasswordLength: num(a.minimum_password_length, 6),
    passwordRequirements: typeof a.password_requirements === 'string' ? a.password_requirements : '',
    refreshTokenRotation: bool(a.enable_refresh_token_rotation, true),
    refreshTokenReuseInterval: num(a.refresh_token_reuse_interval, 10),
  }
}

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

/** A Postgres memory setting of 16MB..1536MB ("512MB", "1GB"); the fallback when unset. */
function memorySize(value: string | undefined, fallback: string, flag: string): string {
  if (value === undefined || value === '') return fallback
  const m = /^(\d+)\s*(MB|GB)$/i.exec(value.trim())
  const mb = m ? Number(m[1]) * (m[2].toUpperCase() === 'GB' ? 1024 : 1) : NaN
  if (!(mb >= 16 && mb <= 1536)) throw new Error(`${flag}: "${value}" is not a size between 16MB and 1536MB (e.g. 512MB)`)
  return `${mb}MB`
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
      'shared-buffers': { type: 'string' },
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
    auth: authConfig(toml),
    idleTxTimeoutMs: Number(env.AGENT_MEMORY_IDLE_TX_TIMEOUT_MS ?? 30_000),
    autovacuumIntervalMs: Number(env.AGENT_MEMORY_AUTOVACUUM_INTERVAL_MS ?? 15_000),
    sharedBuffers: memorySize(values['shared-buffers'] ?? env.AGENT_MEMORY_SHARED_BUFFERS, '128MB', '--shared-buffers'),
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
