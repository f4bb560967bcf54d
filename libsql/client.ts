// Opening the LibSQL mirror from Node: a local file (default file:.data/mirror.db), Turso or sqld
// (LIBSQL_DATABASE_URL + LIBSQL_AUTH_TOKEN), or an embedded replica (a local file synced from Turso: syncUrl).
// The database is brought to the schema of libsql/migrations on open, so a fresh file works before the
// mirror function has written anything.
import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { type Client, createClient } from '@libsql/client'
import { MemoryError } from '../client/errors.ts'
import { migrateLibsql } from '../supabase/functions/_shared/libsql/migrate.ts'
import type { SqlClient } from '../supabase/functions/_shared/libsql/sql-client.ts'

export const DEFAULT_LIBSQL_URL = 'file:.data/mirror.db'

export interface LibSQLOptions {
  /** file:path, libsql://…, https://…, ws(s)://… Default: LIBSQL_DATABASE_URL, else file:.data/mirror.db. */
  url?: string
  /** Turso / sqld token. Default: LIBSQL_AUTH_TOKEN. */
  authToken?: string
  /** Embedded replica: `url` is the local file, this the Turso database it syncs from. */
  syncUrl?: string
  /** Embedded replica: seconds between automatic syncs. */
  syncInterval?: number
  /** Busy timeout for local files, in ms (default 5000): the mirror function writes the same file. */
  timeout?: number
}

/** A URL without credentials, for error messages. */
export function describeLibsqlUrl(url: string): string {
  return url.replace(/(authToken=)[^&]+/i, '$1…').replace(/\/\/[^@/]*@/, '//…@')
}

/** Opens (and migrates) the mirror. A URL that cannot be opened is MemoryError 'unavailable' naming it. */
export async function getLibSQLClient(opts: LibSQLOptions = {}): Promise<Client> {
  const url = opts.url ?? process.env.LIBSQL_DATABASE_URL ?? DEFAULT_LIBSQL_URL
  const authToken = opts.authToken ?? process.env.LIBSQL_AUTH_TOKEN ?? undefined
  let client: Client
  try {
    // A relative path (the default .data/mirror.db) gets its folder; an absolute one must exist.
    if (url.startsWith('file:') && !url.startsWith('file::memory:')) {
      const path = url.slice('file:'.length).replace(/^\/\/(localhost)?(?=\/)/, '').split('?')[0]
      if (path && !path.startsWith('/')) mkdirSync(dirname(resolve(path)), { recursive: true })
    }
    client = createClient({ url, authToken: authToken || undefined, syncUrl: opts.syncUrl, syncInterval: opts.syncInterval, timeout: opts.timeout ?? 5000 })
    await client.execute('select 1')
  } catch (err) {
    throw new MemoryError('unavailable', `cannot open the LibSQL database ${describeLibsqlUrl(url)}: ${(err as Error).message}`, { cause: err })
  }
  try {
    if (url.startsWith('file:') && !opts.syncUrl) await client.execute('pragma journal_mode = wal')
    await migrateLibsql(client as unknown as SqlClient)
  } catch (err) {
    client.close()
    throw new MemoryError('unavailable', `cannot migrate the LibSQL database ${describeLibsqlUrl(url)}: ${(err as Error).message}`, { cause: err })
  }
  return client
}

/** True when the mirror answers a query (it may still be behind Supabase). */
export async function isDatabaseAvailable(client: Client): Promise<boolean> {
  try {
    await client.execute('select 1 from _migrations limit 1')
    return true
  } catch {
    return false
  }
}
