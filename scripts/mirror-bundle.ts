// npm run mirror:bundle — regenerates supabase/functions/_shared/libsql/migrations.ts from libsql/migrations.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../stack/core/config.ts'
import { LIBSQL_MIGRATIONS_MODULE, renderLibsqlMigrations } from './lib/libsql-migrations.ts'

writeFileSync(join(ROOT, LIBSQL_MIGRATIONS_MODULE), renderLibsqlMigrations(ROOT))
console.log(`wrote ${LIBSQL_MIGRATIONS_MODULE}`)
