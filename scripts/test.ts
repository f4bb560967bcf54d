// `npm test`: every quality gate, in order, ending with one line "N passed, N failed".
//   typecheck   tsc for Node code (stack, scripts, client, tests); deno check for Edge Functions
//   types       types/supabase.ts regenerated from a fresh migrated database must match the committed file
//   pgtap       supabase/tests/*.sql on that fresh migrated database
//   deno        deno test for Edge Function handlers (supabase/functions/tests)
//   e2e         node:test end-to-end tests (tests/*.test.ts), each starting stacks on free ports
// Options: --only <stage,...>   --grep <regex> (test files to run in pgtap/deno/e2e)
import { LIBSQL_MIGRATIONS_MODULE, renderLibsqlMigrations } from './lib/libsql-migrations.ts'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { parseArgs } from 'node:util'
import { ROOT } from '../stack/core/config.ts'
import { freshDatabase, type FreshDatabase } from './lib/fresh-db.ts'
import { findImportCircles } from './lib/import-circles.ts'
import { checkFiles, loadApi } from './lib/pgmq-api.ts'
import { runPgTap } from './lib/pgtap.ts'
import { countTap, type TapCounts } from './lib/tap.ts'
import { generateTypes, TYPES_FILE } from './lib/types.ts'

const STAGES = ['typecheck', 'types', 'pgtap', 'deno', 'e2e'] as const
type Stage = (typeof STAGES)[number]

const { values } = parseArgs({
  options: { only: { type: 'string' }, grep: { type: 'string' } },
  strict: true,
})
const only = new Set((values.only?.split(',') ?? STAGES) as Stage[])
for (const s of only) if (!STAGES.includes(s)) throw new Error(`--only: unknown stage "${s}" (stages: ${STAGES.join(', ')})`)
const grep = values.grep ? new RegExp(values.grep) : undefined

let passed = 0
let failed = 0
const failures: string[] = []
const color = process.stdout.isTTY
const green = (s: string) => (color ? `\x1b[32m${s}\x1b[0m` : s)
const red = (s: string) => (color ? `\x1b[31m${s}\x1b[0m` : s)
const bold = (s: string) => (color ? `\x1b[1m${s}\x1b[0m` : s)
const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`

function record(ok: boolean, name: string, detail = ''): void {
  if (ok) passed++
  else {
    failed++
    failures.push(name)
  }
  console.log(`  ${ok ? green('✔') : red('✖')} ${name}${detail ? `  ${detail}` : ''}`)
}

function addCounts(name: string, c: TapCounts, extraError: string | null = null): void {
  passed += c.passed
  // A file that planned more than it ran counts each missing test; one that ran more (or had no plan)
  // counts the broken plan once. An error counts once unless the tests it kept from running already do.
  const bad = c.failed + c.missing + (c.planError && c.missing === 0 ? 1 : 0) + (extraError && c.missing === 0 ? 1 : 0)
  failed += bad
  for (const f of c.failures) failures.push(`${name}: ${f.name}`)
  if (c.planError) failures.push(`${name}: ${c.planError}`)
  if (extraError) failures.push(`${name}: ${extraError.split('\n')[0]}`)
  if (c.bailout) failures.push(`${name}: bailed out: ${c.bailout}`)
}

/** Runs a command, streaming its output with a prefix; resolves with exit code and captured stdout. */
function run(cmd: string, args: string[], opts: { quiet?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...opts.env, NO_COLOR: '1' } })
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
      if (!opts.quiet) process.stdout.write(d)
    })
    child.stderr.on('data', (d) => {
      out += d
      if (!opts.quiet) process.stderr.write(d)
    })
    child.on('close', (code) => resolve({ code: code ?? 1, out }))
  })
}

const bin = (name: string) => join(ROOT, 'node_modules', '.bin', name)

function walk(dir: string, pred: (f: string) => boolean): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { recursive: true, withFileTypes: false })
    .map((f) => join(dir, String(f)))
    .filter(pred)
    .sort()
}

async function typecheck(): Promise<void> {
  console.log(bold('\n▶ typecheck'))
  let t = Date.now()
  const tsc = await run(bin('tsc'), ['-p', 'tsconfig.json', '--pretty', 'false'], { quiet: true })
  record(tsc.code === 0, 'tsc (stack, scripts, client, tests)', secs(Date.now() - t))
  if (tsc.code !== 0) console.log(tsc.out.replace(/^/gm, '      '))
  const denoFiles = [
    ...walk(join(ROOT, 'supabase', 'functions'), (f) => f.endsWith('.ts')),
    // The runtime's Deno side; its Node side (runtime.ts) is checked by tsc.
    join(ROOT, 'stack', 'edge-runtime', 'main.ts'),
  ].map((f) => relative(ROOT, f))
  t = Date.now()
  const check = await run(bin('deno'), ['check', '--quiet', ...denoFiles], { quiet: true })
  record(check.code === 0, `deno check (${denoFiles.length} files: supabase/functions, stack/edge-runtime)`, secs(Date.now() - t))
  if (check.code !== 0) console.log(check.out.replace(/^/gm, '      '))
  t = Date.now()
  const circles = await findImportCircles(ROOT, ['stack/**/*.ts', 'client/**/*.ts', 'scripts/**/*.ts', 'tests/**/*.ts'])
  record(circles.length === 0, 'no import circles (dpdm, type-only imports included)', secs(Date.now() - t))
  for (const c of circles) console.log(red(`      ${c.join(' → ')} → ${c[0]}`))
  t = Date.now()
  const bundled = existsSync(join(ROOT, LIBSQL_MIGRATIONS_MODULE)) ? readFileSync(join(ROOT, LIBSQL_MIGRATIONS_MODULE), 'utf8') : ''
  const current = bundled === renderLibsqlMigrations(ROOT)
  record(current, `${LIBSQL_MIGRATIONS_MODULE} matches libsql/migrations`, secs(Date.now() - t))
  if (!current) console.log(red('      out of date: run `npm run mirror:bundle` and commit the result'))
  // Hosted Supabase offers pgmq 1.5.1 (older projects 1.4.4); the local stack has 1.11, which accepts more.
  for (const version of ['1.5.1', '1.4.4']) {
    t = Date.now()
    const problems = checkFiles(ROOT, loadApi(join(ROOT, 'scripts', 'fixtures', `pgmq-${version}.api`)))
    record(problems.length === 0, `pgmq use in supabase/ fits the pgmq ${version} API (calls, queue table columns)`, secs(Date.now() - t))
    for (const p of problems) console.log(red(`      ${p.file}:${p.line}: ${p.message}\n        ${p.text}`))
  }
}

async function typesDrift(fresh: FreshDatabase): Promise<void> {
  console.log(bold('\n▶ types'))
  const t = Date.now()
  const generated = await generateTypes(fresh.dbUrl)
  const committed = existsSync(TYPES_FILE) ? readFileSync(TYPES_FILE, 'utf8') : ''
  const same = generated === committed
  record(same, 'types/supabase.ts matches the migrated schema', secs(Date.now() - t))
  if (!same) console.log(red('      types/supabase.ts is out of date: run `npm run types` and commit the result'))
}

async function pgtap(fresh: FreshDatabase): Promise<void> {
  console.log(bold('\n▶ pgTAP (supabase/tests)'))
  const dir = join(ROOT, 'supabase', 'tests')
  if (!existsSync(dir)) return
  for (const r of await runPgTap(fresh.db, dir, grep)) {
    const total = r.passed + r.failed + r.missing
    const ok = r.failed === 0 && r.missing === 0 && !r.planError && !r.error && !r.bailout
    console.log(`  ${ok ? green('✔') : red('✖')} ${r.file}  ${r.passed}/${total}  ${secs(r.ms)}`)
    for (const f of r.failures) console.log(red(`      not ok - ${f.name}`) + (f.diag ? `\n${f.diag.replace(/^/gm, '        ')}` : ''))
    if (r.error) console.log(red(`      error: ${r.error}`))
    if (r.planError) console.log(red(`      ${r.planError}`))
    addCounts(`supabase/tests/${r.file}`, r, r.error)
  }
}

async function denoTests(): Promise<void> {
  console.log(bold('\n▶ deno test (supabase/functions/tests)'))
  const files = walk(join(ROOT, 'supabase', 'functions', 'tests'), (f) => /[._-]test\.ts$/.test(f) && (!grep || grep.test(f)))
  if (!files.length) return console.log('  (no test files)')
  // --allow-run: handler tests start a fresh database with Node (scripts/lib/serve-fresh-db.ts);
  // --allow-sys: postgres.js reads the host name as the functions' runtime allows it to.
  // --allow-ffi, --allow-write: the mirror tests open LibSQL files with @libsql/client's native driver.
  const perms = ['--allow-net', '--allow-env', '--allow-read', '--allow-run', '--allow-sys', '--allow-ffi', '--allow-write']
  const r = await run(bin('deno'), ['test', '--reporter=tap', ...perms, ...files.map((f) => relative(ROOT, f))], {
    quiet: true,
  })
  const counts = countTap(r.out)
  for (const line of r.out.split('\n')) if (/^\s*(not )?ok /.test(line)) console.log(`  ${line.trim()}`)
  for (const f of counts.failures) console.log(red(`      ${f.name}\n${f.diag.replace(/^/gm, '        ')}`))
  const crashed = r.code !== 0 && counts.failed === 0 ? `deno test exited with ${r.code}:\n${r.out.slice(-2000)}` : null
  if (crashed) console.log(red(crashed))
  addCounts('deno test', counts, crashed)
}

async function e2e(): Promise<void> {
  console.log(bold('\n▶ end-to-end (tests/*.test.ts)'))
  const files = walk(join(ROOT, 'tests'), (f) => f.endsWith('.test.ts') && (!grep || grep.test(f)))
  if (!files.length) return console.log('  (no test files)')
  const tmp = mkdtempSync(join(tmpdir(), 'agent-memory-e2e-'))
  const tapFile = join(tmp, 'report.tap')
  const r = await run(process.execPath, [
    '--import',
    'tsx',
    '--test',
    '--test-concurrency=2',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tapFile}`,
    ...files.map((f) => relative(ROOT, f)),
  ])
  const counts = countTap(existsSync(tapFile) ? readFileSync(tapFile, 'utf8') : '')
  rmSync(tmp, { recursive: true, force: true })
  const crashed = r.code !== 0 && counts.failed === 0 ? `node --test exited with ${r.code}` : null
  addCounts('e2e', counts, crashed)
}

const started = Date.now()
if (only.has('typecheck')) await typecheck()
if (only.has('types') || only.has('pgtap')) {
  console.log(bold('\n▶ fresh migrated database'))
  const t = Date.now()
  let fresh: FreshDatabase | null = null
  try {
    fresh = await freshDatabase()
    record(true, 'bootstrap, supabase/migrations and seed apply to an empty database', secs(Date.now() - t))
  } catch (err) {
    record(false, 'bootstrap, supabase/migrations and seed apply to an empty database')
    console.log(red(`      ${(err as Error).message}`))
  }
  if (fresh) {
    try {
      if (only.has('types')) await typesDrift(fresh)
      if (only.has('pgtap')) await pgtap(fresh)
    } finally {
      await fresh.close()
    }
  }
}
if (only.has('deno')) await denoTests()
if (only.has('e2e')) await e2e()

console.log(bold(`\n── summary (${secs(Date.now() - started)}) ──`))
if (failures.length) {
  console.log(red('failed:'))
  for (const f of failures) console.log(red(`  - ${f}`))
}
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed ? 1 : 0)
