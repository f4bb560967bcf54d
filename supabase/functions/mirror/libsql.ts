// Opens the mirror's LibSQL database from LIBSQL_DATABASE_URL (+ LIBSQL_AUTH_TOKEN) and brings it to the
// schema of libsql/migrations. Remote URLs (libsql://, https://, wss:// — Turso, sqld) use the driver's
// pure-JS web client, which runs in Supabase's edge runtime; file: URLs (the local default) need the native
// driver, which only a runtime granting FFI loads (the local stack's). The driver is imported per kind, so a
// deployed function never loads the native one.
import { migrateLibsql } from '../_shared/libsql/migrate.ts'
import type { SqlClient } from '../_shared/libsql/sql-client.ts'

export interface LibsqlConfig {
  url: string
  authToken?: string
}

/** A URL without credentials, for error messages. */
export function describeUrl(url: string): string {
  return url.replace(/(authToken=)[^&]+/i, '$1…').replace(/\/\/[^@/]*@/, '//…@')
}

export async function openLibsql(config: LibsqlConfig): Promise<SqlClient> {
  const { url, authToken } = config
  let client: SqlClient
  try {
    const local = url.startsWith('file:') || url === ':memory:'
    const mod = local ? await import('npm:@libsql/client@0.18.0/node') : await import('npm:@libsql/client@0.18.0/web')
    client = mod.createClient({ url, authToken, ...(local ? { timeout: 10_000 } : {}) }) as unknown as SqlClient
    await client.execute({ sql: 'select 1' })
  } catch (err) {
    throw new Error(`cannot open the LibSQL database ${describeUrl(url)} (LIBSQL_DATABASE_URL): ${(err as Error).message}`, { cause: err })
  }
  try {
    if (url.startsWith('file:')) await client.execute({ sql: 'pragma journal_mode = wal' })
    await migrateLibsql(client)
  } catch (err) {
    client.close()
    throw new Error(`cannot migrate the LibSQL database ${describeUrl(url)}: ${(err as Error).message}`, { cause: err })
  }
  return client
}
