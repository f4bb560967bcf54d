// Runs `supabase/tests/*.test.sql` (pgTAP) against a database, as `supabase test db` / pg_prove would:
// every file in name order, its output read as TAP. A file that stops on an error reports the error with
// its line, and the tests it planned but never ran count as failed.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Database } from '../../stack/core/database.ts'
import { lineAt } from '../../stack/core/sql-split.ts'
import { countTap, type TapCounts } from './tap.ts'

export interface PgTapFileResult extends TapCounts {
  file: string
  error: string | null
  ms: number
}

export function listTestFiles(dir: string, filter?: RegExp): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.sql') && (!filter || filter.test(f)))
    .sort()
}

export async function runPgTapFile(db: Database, path: string, file: string): Promise<PgTapFileResult> {
  const started = Date.now()
  const sql = readFileSync(path, 'utf8')
  // pg_prove gives every file its own session; here the session is shared, so drop the temporary tables
  // in which pgTAP keeps its plan and counters once the file is done.
  const result = await db.exclusive(async (pg) => {
    const r = await db.runScript(pg, sql)
    await pg.exec('discard temp')
    return r
  })
  // pgTAP returns its TAP lines as single-column text rows.
  const tap = result.statements
    .flatMap((s) => (s.columns.length === 1 ? s.rows.map((r) => r[0] ?? '') : []))
    .join('\n')
  const counts = countTap(tap + '\n')
  let error: string | null = null
  if (result.error) {
    const e = result.error
    const where = e.position ? ` (line ${lineAt(sql, e.position - 1)})` : ''
    error = `${e.message} [SQLSTATE ${e.code}]${where}${e.detail ? `\n    detail: ${e.detail}` : ''}${e.where ? `\n    context: ${e.where.split('\n')[0]}` : ''}`
  }
  return { ...counts, file, error, ms: Date.now() - started }
}

export async function runPgTap(db: Database, dir: string, filter?: RegExp): Promise<PgTapFileResult[]> {
  const results: PgTapFileResult[] = []
  for (const file of listTestFiles(dir, filter)) results.push(await runPgTapFile(db, join(dir, file), file))
  return results
}
