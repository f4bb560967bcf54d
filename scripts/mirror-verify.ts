// npm run mirror:verify — compares the LibSQL mirror with Supabase table by table: row counts, a content hash
// of each side, and every difference (missing in LibSQL, only in LibSQL, content differs + columns). Exit code
// 1 when anything differs, 2 when either side cannot be reached. Same environment as mirror:backfill.
import { getLibSQLClient } from '../libsql/client.ts'
import { connectPostgres, snapshotSource } from '../libsql/pg.ts'
import { verifyMirror } from '../supabase/functions/_shared/libsql/verify.ts'
import type { SqlClient } from '../supabase/functions/_shared/libsql/sql-client.ts'

const sql = connectPostgres()
try {
  const client = await getLibSQLClient()
  try {
    const report = await verifyMirror(snapshotSource(sql), client as unknown as SqlClient)
    console.log('table             supabase    libsql  supabase hash   libsql hash     differences')
    for (const t of report.tables) {
      console.log(`${t.table.padEnd(16)} ${String(t.supabase_rows).padStart(9)} ${String(t.libsql_rows).padStart(9)}  ${t.supabase_hash}  ${t.libsql_hash}  ${t.differences}`)
    }
    for (const d of report.differences) console.log(`${d.kind.padEnd(18)} ${d.table} ${d.key}${d.columns ? ` (${d.columns.join(', ')})` : ''}`)
    console.log(report.differences.length ? `${report.differences.length} differences` : 'no differences')
    process.exitCode = report.differences.length ? 1 : 0
  } finally {
    client.close()
  }
} catch (err) {
  console.error(`mirror:verify: ${(err as Error).message}`)
  process.exitCode = 2
} finally {
  await sql.end()
}
