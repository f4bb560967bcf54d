// The README's commands do what it says: its `supabase gen types` line, run against a fresh stack,
// prints the committed types/supabase.ts (public schema only, no graphql_public) once formatted as
// `npm run types` formats it.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ROOT } from '../stack/core/config.ts'
import { formatTypes, runSupabaseCli, TYPES_FILE } from '../scripts/lib/types.ts'
import { startTestStack, type TestStack } from './helpers/stack.ts'

/** Splits a shell command line into words ('single quotes' kept together, as the README writes them). */
function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2])
}

describe('README commands', () => {
  let stack: TestStack
  before(async () => {
    stack = await startTestStack()
  })
  after(() => stack?.close())

  it('`npx supabase gen types …` as written prints types/supabase.ts (public only)', async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    const line = /^npx supabase (gen types typescript .*)$/m.exec(readme)
    assert.ok(line, 'README shows the gen types command')
    const args = words(line[1]).map((w) => w.replace(/postgresql:\/\/postgres:postgres@127\.0\.0\.1:54322\/postgres/, stack.dbUrl))
    assert.ok(args.includes('--schema'), 'it names the schema')
    const out = await runSupabaseCli(args)
    assert.doesNotMatch(out, /graphql_public/)
    assert.equal(await formatTypes(out), readFileSync(TYPES_FILE, 'utf8'))
  })
})
