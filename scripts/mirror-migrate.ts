// npm run mirror:migrate — brings the LibSQL mirror (LIBSQL_DATABASE_URL + LIBSQL_AUTH_TOKEN, default
// file:.data/mirror.db) to the schema of libsql/migrations and lists the migrations recorded in its
// _migrations table, marking those this run applied. The mirror function and the read client apply them too
// when they open the database; this is for preparing a Turso database ahead of the first mirror run.
// Exit code 1 when the database cannot be opened or a migration fails (the message names the URL).
import { getLibSQLClient } from '../libsql/client.ts'

const startedAt = new Date().toISOString()
try {
  const client = await getLibSQLClient()
  try {
    const rows = (await client.execute('select name, checksum, applied_at from _migrations order by name')).rows
    for (const r of rows) {
      const fresh = String(r.applied_at) >= startedAt
      console.log(`${fresh ? 'applied ' : 'present '} ${String(r.name).padEnd(16)} ${r.checksum}  ${r.applied_at}`)
    }
    const applied = rows.filter((r) => String(r.applied_at) >= startedAt).length
    console.log(applied ? `${applied} migration${applied === 1 ? '' : 's'} applied` : 'the mirror schema is up to date')
  } finally {
    client.close()
  }
} catch (err) {
  console.error(`mirror:migrate: ${(err as Error).message}`)
  process.exitCode = 1
}
