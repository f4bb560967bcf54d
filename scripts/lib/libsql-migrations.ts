// Bundles libsql/migrations/*.sql into supabase/functions/_shared/libsql/migrations.ts, the module the mirror
// Edge Function applies them from (a deployed function has no project files to read at run time). `npm run
// mirror:bundle` writes it; `npm test` (typecheck stage) fails when it is out of date.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

export const LIBSQL_MIGRATIONS_DIR = 'libsql/migrations'
export const LIBSQL_MIGRATIONS_MODULE = 'supabase/functions/_shared/libsql/migrations.ts'

export function renderLibsqlMigrations(root: string): string {
  const dir = join(root, LIBSQL_MIGRATIONS_DIR)
  const files = readdirSync(dir).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort()
  const entries = files.map((f) => `  { name: ${JSON.stringify(f.replace(/\.sql$/, ''))}, sql: ${JSON.stringify(readFileSync(join(dir, f), 'utf8'))} },`)
  return [
    '// Generated from libsql/migrations/*.sql by `npm run mirror:bundle` — do not edit (npm test checks it is current).',
    'export interface LibsqlMigration {',
    '  name: string',
    '  sql: string',
    '}',
    '',
    'export const LIBSQL_MIGRATIONS: LibsqlMigration[] = [',
    ...entries,
    ']',
    '',
  ].join('\n')
}
