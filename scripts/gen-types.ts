// `npm run types`: regenerates types/supabase.ts from a fresh database migrated with supabase/migrations.
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { freshDatabase } from './lib/fresh-db.ts'
import { generateTypes, TYPES_FILE } from './lib/types.ts'

const fresh = await freshDatabase((line) => console.log(`[types] ${line}`))
try {
  const types = await generateTypes(fresh.dbUrl)
  mkdirSync(dirname(TYPES_FILE), { recursive: true })
  writeFileSync(TYPES_FILE, types)
  console.log(`[types] wrote ${TYPES_FILE}`)
} finally {
  await fresh.close()
}
