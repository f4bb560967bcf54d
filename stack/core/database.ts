// The embedded database: PGlite (PostgreSQL 18 in WASM) with the extensions Supabase provides, plus the
// one rule that makes a single-session database safe to share — every user of the session (the socket
// server, the API gateway, the cron scheduler, the pg_net worker, test runners) holds `lock` for a whole
// transaction. Nothing here uses session-level SET: identity and settings are `set_config(..., true)`.
import { PGlite, protocol, type Results, type Transaction } from '@electric-sql/pglite'
import { pgcrypto } from '@electric-sql/pglite/contrib/pgcrypto'
import { pg_textsearch } from '@electric-sql/pglite-pg_textsearch'
import { pgmq } from '@electric-sql/pglite-pgmq'
import { pgtap } from '@electric-sql/pglite-pgtap'
import { vector } from '@electric-sql/pglite-pgvector'
import { Mutex } from 'async-mutex'
import { identitySql, quoteIdent, type Identity } from './identity.ts'
import { stackDepthError, tooDeep } from './nesting.ts'
import { PgError } from './pg-error.ts'

export { PgError } from './pg-error.ts'

export type { Identity } from './identity.ts'

export const EXTENSIONS = { vector, pgmq, pgtap, pg_textsearch, pgcrypto }

/** One statement's outcome inside a script run with the simple query protocol. */
export interface ScriptStatement {
  command: string
  rows: (string | null)[][]
  columns: string[]
}

export interface ScriptResult {
  statements: ScriptStatement[]
  notices: string[]
  error?: PgError
}

type NotificationListener = (payload: string) => void

/** Refuses SQL or parameters nested too deeply for PGlite (see nesting.ts) with Postgres' own 54001. */
function guard(sql: string, params?: unknown[]): void {
  if (tooDeep(sql, params)) throw stackDepthError()
}

/** `tx` with the same guard on every statement it runs. */
function guarded(tx: Transaction): Transaction {
  return new Proxy(tx, {
    get(target, key, receiver) {
      if (key === 'query') {
        return (sql: string, params?: unknown[], opts?: unknown) => {
          guard(sql, params)
          return (target.query as (...a: unknown[]) => unknown)(sql, params, opts)
        }
      }
      if (key === 'exec') {
        return (sql: string, opts?: unknown) => {
          guard(sql)
          return (target.exec as (...a: unknown[]) => unknown)(sql, opts)
        }
      }
      return Reflect.get(target, key, receiver)
    },
  })
}

export class Database {
  /** Held for a whole transaction by whoever uses the session; see the file comment. */
  readonly lock = new Mutex()
  /** Set when a socket client may have left session state (SET, SET ROLE) behind. */
  sessionDirty = false
  private listeners = new Map<string, Set<NotificationListener>>()
  private listening = new Set<string>()

  private constructor(
    readonly pg: PGlite,
    readonly dataDir: string | undefined,
  ) {
    pg.onNotification((channel, payload) => this.emitNotification(channel, payload))
  }

  /**
   * Opens (and on first use initialises) the database in `dataDir`, or in memory when omitted.
   * `sharedBuffers` sets PostgreSQL's shared_buffers ("512MB"; PGlite's default, 128MB, when omitted).
   */
  static async open(opts: { dataDir?: string; loadDataDir?: Blob; sharedBuffers?: string } = {}): Promise<Database> {
    const pg = await PGlite.create({
      dataDir: opts.dataDir,
      loadDataDir: opts.loadDataDir,
      extensions: EXTENSIONS,
      ...(opts.sharedBuffers ? { startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${opts.sharedBuffers}`] } : {}),
    })
    const db = new Database(pg, opts.dataDir)
    await db.applySessionDefaults()
    return db
  }

  /**
   * Applies `alter database ... set` / `alter role ... set` defaults to the session. Postgres does this when
   * a session starts; PGlite's single backend does not, so the stack does it at open, after bootstrap, and
   * after undoing a socket client's session state.
   */
  async applySessionDefaults(): Promise<void> {
    const r = await this.pg.query<{ name: string; value: string }>(`
      select split_part(cfg, '=', 1) as name, substr(cfg, length(split_part(cfg, '=', 1)) + 2) as value
        from pg_db_role_setting s, unnest(s.setconfig) as cfg
       where s.setdatabase in (0, (select oid from pg_database where datname = current_database()))
         and s.setrole in (0, (select oid from pg_roles where rolname = session_user))
       order by s.setrole, s.setdatabase`)
    for (const { name, value } of r.rows) await this.pg.query('select set_config($1, $2, false)', [name, value])
  }

  /** Runs `fn` with the session to itself, outside any transaction (for scripts that manage their own). */
  async exclusive<T>(fn: (pg: PGlite) => Promise<T>): Promise<T> {
    return this.lock.runExclusive(async () => {
      await this.resetIfDirty()
      return fn(this.pg)
    })
  }

  /**
   * Runs `fn` in one transaction with the session to itself. With `identity`, the transaction runs as
   * that role with `request.jwt.claims` set, exactly as PostgREST does (`set_config(..., true)`).
   * Not re-entrant: `fn` must use `tx`, never `this.query`.
   */
  async transaction<T>(fn: (tx: Transaction) => Promise<T>, identity?: Identity): Promise<T> {
    return this.exclusive((pg) =>
      pg.transaction(async (tx) => {
        if (identity) await tx.exec(identitySql(identity))
        return fn(guarded(tx))
      }),
    )
  }

  /** One statement in its own transaction, as the session owner (postgres) unless `identity` is given. */
  async query<T = Record<string, unknown>>(sql: string, params?: unknown[], identity?: Identity): Promise<Results<T>> {
    guard(sql, params)
    if (identity) return this.transaction((tx) => tx.query<T>(sql, params), identity)
    return this.exclusive((pg) => pg.query<T>(sql, params))
  }

  /** Several statements (simple query protocol), as the session owner. */
  async exec(sql: string): Promise<Results[]> {
    guard(sql)
    return this.exclusive((pg) => pg.exec(sql))
  }

  /**
   * Runs a script with the simple query protocol and reports every statement's rows and command tag up to
   * the first error, without throwing — what psql shows. An explicit transaction the script leaves open
   * (or aborted) is rolled back. Used by the pgTAP runner and the cron scheduler.
   */
  async script(sql: string, identity?: Identity): Promise<ScriptResult> {
    return this.exclusive((pg) => this.runScript(pg, sql, identity))
  }

  /** `script` for a caller that already holds the lock (see `exclusive`). */
  async runScript(pg: PGlite, sql: string, identity?: Identity): Promise<ScriptResult> {
    const result: ScriptResult = { statements: [], notices: [] }
    if (tooDeep(sql)) return { ...result, error: stackDepthError() }
    let prelude = ''
    if (identity) {
      // A script that runs as a role opens its own transaction so the role stays local to it.
      prelude = `begin; ${identitySql(identity)};`
    }
    const { messages } = await pg.execProtocol(protocol.serialize.query(prelude + sql), {
      throwOnError: false,
      onNotice: (n) => result.notices.push(n.message ?? ''),
    })
    let current: ScriptStatement = { command: '', rows: [], columns: [] }
    for (const m of messages as Array<{ name: string } & Record<string, unknown>>) {
      if (m.name === 'rowDescription') current.columns = (m.fields as { name: string }[]).map((f) => f.name)
      else if (m.name === 'dataRow') current.rows.push(m.fields as (string | null)[])
      else if (m.name === 'commandComplete') {
        current.command = m.text as string
        result.statements.push(current)
        current = { command: '', rows: [], columns: [] }
      } else if (m.name === 'error') {
        const err = PgError.from(m)
        // Positions are reported against the text we sent; make them relative to the caller's script.
        result.error =
          err.position !== undefined && prelude
            ? new PgError(err.message, err.code, err.detail, err.hint, Math.max(1, err.position - prelude.length), err.where)
            : err
      }
    }
    if (identity) {
      // Drop the statements of our own prelude (begin + set_config) from what the caller sees.
      result.statements.splice(0, 2)
      if (!result.error && pg.isInTransaction()) await pg.exec('commit')
    }
    if (pg.isInTransaction()) await pg.exec('rollback')
    return result
  }

  /** Calls `listener` for every NOTIFY on `channel`, whoever's transaction sent it. */
  async listen(channel: string, listener: NotificationListener): Promise<() => void> {
    let set = this.listeners.get(channel)
    if (!set) this.listeners.set(channel, (set = new Set()))
    set.add(listener)
    if (!this.listening.has(channel)) {
      this.listening.add(channel)
      await this.exclusive((pg) => pg.exec(`listen ${quoteIdent(channel)}`))
    }
    return () => set!.delete(listener)
  }

  /** True for channels the stack itself listens on (their notifications are not shown to socket clients). */
  isListening(channel: string): boolean {
    return this.listening.has(channel)
  }

  /** Delivers a notification seen in any session output (in-process or socket) to local listeners. */
  emitNotification(channel: string, payload: string): void {
    for (const l of this.listeners.get(channel) ?? []) {
      try {
        l(payload)
      } catch (err) {
        console.error(`[db] listener for ${channel} failed:`, err)
      }
    }
  }

  /**
   * Undoes session state a socket client may have left (SET, SET ROLE) before the next user runs.
   * Call only while holding `lock`.
   */
  async resetIfDirty(): Promise<void> {
    if (!this.sessionDirty) return
    this.sessionDirty = false
    // PGlite keeps no session-start value for session_authorization, so `set session authorization
    // default` (or RESET) leaves a client's `set session authorization anon` in place: name the owner.
    await this.pg.exec('set session authorization postgres; reset all;')
    await this.applySessionDefaults()
  }

  async close(): Promise<void> {
    await this.lock.runExclusive(() => this.pg.close())
  }
}
