// Applies libsql/migrations (bundled in ./migrations.ts) to a LibSQL database, each once, recorded in
// _migrations with its checksum. Used by the mirror function at start-up, by the Node read client when it
// opens a database and by `npm run mirror:migrate`. Each migration runs in one write transaction; two
// processes migrating the same database at once are fine (the loser's transaction fails, it then finds the
// migration recorded). A recorded migration whose file changed is an error: migrations are append-only.
import { LIBSQL_MIGRATIONS, type LibsqlMigration } from './migrations.ts'
import { type SqlClient, str } from './sql-client.ts'

/** Splits a migration into statements: at a `;` ending a line, except inside a trigger's BEGIN … END. */
export function splitStatements(sql: string): string[] {
  const out: string[] = []
  let current: string[] = []
  let inTrigger = false
  for (const line of sql.split('\n')) {
    const trimmed = line.trim()
    if (!current.length && (trimmed === '' || trimmed.startsWith('--'))) continue
    current.push(line)
    if (/^create\s+trigger\b/i.test(trimmed)) inTrigger = true
    const ends = inTrigger ? /^end\s*;$/i.test(trimmed) : /;\s*(--.*)?$/.test(trimmed)
    if (ends) {
      out.push(current.join('\n').trim().replace(/;\s*(--.*)?$/, ''))
      current = []
      inTrigger = false
    }
  }
  if (current.some((l) => l.trim() && !l.trim().startsWith('--'))) out.push(current.join('\n').trim())
  return out
}

/** FNV-1a (32 bit) as 8 hex digits: a migration's checksum, and the suffix of per-model table names. */
export function fnv1a(text: string): string {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h.toString(16).padStart(8, '0')
}

export async function migrateLibsql(client: SqlClient, migrations: LibsqlMigration[] = LIBSQL_MIGRATIONS): Promise<string[]> {
  await client.execute({
    sql: 'create table if not exists _migrations (name text primary key, checksum text not null, applied_at text not null)',
  })
  const recorded = async () => {
    const rows = (await client.execute({ sql: 'select name, checksum from _migrations' })).rows
    return new Map(rows.map((r) => [str(r, 'name')!, str(r, 'checksum')!]))
  }
  let done = await recorded()
  const applied: string[] = []
  for (const m of migrations) {
    const checksum = fnv1a(m.sql)
    const have = done.get(m.name)
    if (have !== undefined) {
      if (have !== checksum) {
        throw new Error(`LibSQL migration ${m.name} was changed after it was applied (checksum ${have}, now ${checksum}); add a new migration instead`)
      }
      continue
    }
    try {
      await client.batch(
        [
          ...splitStatements(m.sql).map((sql) => ({ sql })),
          { sql: 'insert into _migrations (name, checksum, applied_at) values (?, ?, ?)', args: [m.name, checksum, new Date().toISOString()] },
        ],
        'write',
      )
      applied.push(m.name)
    } catch (err) {
      // Another process may have applied it meanwhile.
      done = await recorded()
      if (done.get(m.name) !== checksum) throw new Error(`LibSQL migration ${m.name} failed: ${(err as Error).message}`, { cause: err })
    }
  }
  return applied
}
