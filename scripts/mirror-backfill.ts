// npm run mirror:backfill [-- --fresh] [--page-size N]
//   Copies every mirrored row from Supabase (SUPABASE_DB_URL, default the local stack's database) to the LibSQL
//   mirror (LIBSQL_DATABASE_URL, default file:.data/mirror.db; LIBSQL_AUTH_TOKEN for Turso), with a progress
//   bar per table. Stopped half-way, the next run continues where it got to (--fresh starts over).
import { parseArgs } from 'node:util'
import cliProgress from 'cli-progress'
import { backfill } from '../libsql/backfill.ts'
import { getLibSQLClient } from '../libsql/client.ts'
import { connectPostgres } from '../libsql/pg.ts'

const { values } = parseArgs({ options: { fresh: { type: 'boolean', default: false }, 'page-size': { type: 'string', default: '1000' } } })
const pageSize = Number(values['page-size'])
if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 10000) {
  console.error(`--page-size must be a whole number from 1 to 10000, got ${values['page-size']}`)
  process.exit(2)
}
const sql = connectPostgres()
const client = await getLibSQLClient().catch((err) => {
  console.error(err.message)
  process.exit(1)
})
const bar = new cliProgress.SingleBar({ format: '{table} [{bar}] {value}/{total} rows', hideCursor: true }, cliProgress.Presets.shades_classic)
let current = ''
try {
  await backfill(sql, client, {
    pageSize,
    fresh: values.fresh,
    onProgress: (p) => {
      if (p.table !== current) {
        if (current) bar.stop()
        current = p.table
        bar.start(Math.max(p.total, 1), p.done, { table: p.table.padEnd(16) })
      } else bar.update(p.done)
    },
  })
  bar.stop()
  console.log('backfill complete')
} catch (err) {
  bar.stop()
  console.error(`backfill stopped: ${(err as Error).message} (run it again to continue)`)
  process.exitCode = 1
} finally {
  client.close()
  await sql.end()
}
