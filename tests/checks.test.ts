// The checks `npm test` relies on catch what they are for: each is handed a planted defect and must fail.
//   - the TAP reader fails a plan that is not kept (more tests than planned, fewer, none planned);
//   - the pgTAP runner runs files as a non-superuser (a superuser-only statement fails the file), runs each
//     file on its own with the helpers included by `\ir`, and names the line an error comes from;
//   - the import-circle check finds a circle made only of type imports;
//   - the pgmq API check refuses calls and queue-table columns that pgmq 1.5.1 (or 1.4.4) does not have;
//   - every stand-in SQL file under stack/ is applied by the bootstrap.
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ROOT } from '../stack/core/config.ts'
import { Database } from '../stack/core/database.ts'
import { applyBootstrap, BOOTSTRAP_FILES, STACK_DIR } from '../stack/core/migrate.ts'
import { findImportCircles } from '../scripts/lib/import-circles.ts'
import { checkText, loadApi } from '../scripts/lib/pgmq-api.ts'
import { expandIncludes, runPgTap, TEST_ROLE } from '../scripts/lib/pgtap.ts'
import { countTap } from '../scripts/lib/tap.ts'

describe('TAP plans', () => {
  it('more tests than planned is a bad plan', () => {
    const c = countTap('1..2\nok 1 - a\nok 2 - b\nok 3 - c\n', { requirePlan: true })
    assert.equal(c.passed, 3)
    assert.equal(c.planError, 'bad plan: planned 2 test(s) but ran 3')
  })
  it('fewer tests than planned is a bad plan, and the missing ones count', () => {
    const c = countTap('1..3\nok 1 - a\n', { requirePlan: true })
    assert.equal(c.missing, 2)
    assert.equal(c.planError, 'bad plan: planned 3 test(s) but ran 1')
  })
  it('no plan at all fails when one is required (pgTAP), not otherwise', () => {
    assert.match(countTap('ok 1 - a\n', { requirePlan: true }).planError ?? '', /^no plan/)
    assert.match(countTap('', { requirePlan: true }).planError ?? '', /^no plan/)
    assert.equal(countTap('ok 1 - a\n').planError, null)
  })
  it('a kept plan is no error', () => {
    assert.equal(countTap('1..2\nok 1 - a\nnot ok 2 - b\n', { requirePlan: true }).planError, null)
  })
})

describe('pgTAP runner', () => {
  let db: Database
  let dir: string
  before(async () => {
    db = await Database.open()
    await applyBootstrap(db)
    // As the stack does after bootstrap: `alter database ... set search_path` reaches this session.
    await db.exclusive(() => db.applySessionDefaults())
    dir = mkdtempSync(join(tmpdir(), 'agent-memory-pgtap-'))
    mkdirSync(join(dir, 'helpers'))
    writeFileSync(join(dir, 'helpers', 'h.psql'), `create schema if not exists t;\ncreate function t.two() returns int language sql as $$ select 2 $$;\n`)
    const file = (name: string, body: string) => writeFileSync(join(dir, name), body)
    file('01-superuser.test.sql', `begin;\nselect plan(1);\nset local track_functions = 'all';\nselect pass('never reached');\nselect * from finish();\nrollback;\n`)
    file('02-who.test.sql', `begin;\nselect plan(2);\nselect is(current_user::text, '${TEST_ROLE}', 'files run as the non-superuser test role');\n` +
      `select is((select rolsuper from pg_roles where rolname = current_user), false, 'which is no superuser');\nselect * from finish();\nrollback;\n`)
    file('03-become-postgres.test.sql', `begin;\nselect plan(1);\nselect set_config('role', 'postgres', true);\nselect pass('never reached');\nselect * from finish();\nrollback;\n`)
    file('04-include.test.sql', `begin;\n\\ir helpers/h.psql\nselect plan(1);\nselect is(t.two(), 2, 'the included helper exists inside the transaction');\nselect * from finish();\nrollback;\n`)
    file('05-alone.test.sql', `begin;\nselect plan(1);\nselect hasnt_schema('t', 'the previous file left nothing behind');\nselect * from finish();\nrollback;\n`)
    file('06-extra.test.sql', `begin;\nselect plan(1);\nselect pass('one');\nselect pass('two');\nselect * from finish();\nrollback;\n`)
    file('07-error-line.test.sql', `begin;\nselect plan(2);\nselect pass('one');\n\nselect 1 / 0;\nselect pass('two');\nselect * from finish();\nrollback;\n`)
    file('08-meta.test.sql', `begin;\n\\set x 1\nselect plan(1);\nselect pass('x');\nselect * from finish();\nrollback;\n`)
  })
  after(async () => {
    await db?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('runs every file as a non-superuser, on its own, and fails what pg_prove fails', async () => {
    const results = Object.fromEntries((await runPgTap(db, dir)).map((r) => [r.file, r]))
    const su = results['01-superuser.test.sql']
    assert.match(su.error ?? '', /permission denied to set parameter "track_functions" \[SQLSTATE 42501\]/, 'a superuser-only statement fails the file')
    assert.match(su.error ?? '', /01-superuser\.test\.sql:3\)/, 'the error names the line of the statement')
    assert.equal(su.missing, 1)
    assert.deepEqual([results['02-who.test.sql'].passed, results['02-who.test.sql'].failed], [2, 0])
    assert.match(results['03-become-postgres.test.sql'].error ?? '', /permission denied to set role "postgres"/, 'the test role cannot become the superuser')
    assert.deepEqual([results['04-include.test.sql'].passed, results['04-include.test.sql'].error], [1, null])
    assert.deepEqual([results['05-alone.test.sql'].passed, results['05-alone.test.sql'].failed], [1, 0])
    assert.equal(results['06-extra.test.sql'].planError, 'bad plan: planned 1 test(s) but ran 2')
    assert.match(results['07-error-line.test.sql'].error ?? '', /division by zero \[SQLSTATE 22012\] \(.*07-error-line\.test\.sql:5\)/)
    assert.match(results['08-meta.test.sql'].error ?? '', /psql meta-command \\set is not supported/)
    const after = await db.query<{ u: string }>('select session_user::text as u')
    assert.equal(after.rows[0].u, 'postgres', 'the session is handed back to postgres')
  })

  it('expands \\ir relative to the including file and refuses a missing one', () => {
    const x = expandIncludes(join(dir, '04-include.test.sql'))
    assert.match(x.text, /create function t\.two\(\)/)
    assert.doesNotMatch(x.text, /\\ir/)
    writeFileSync(join(dir, 'missing.sql'), '\\ir helpers/nope.psql\n')
    assert.throws(() => expandIncludes(join(dir, 'missing.sql')), /\\ir: no such file .*helpers\/nope\.psql/)
  })

  it('every project test file includes the helpers right after begin', () => {
    const testDir = join(ROOT, 'supabase', 'tests')
    for (const f of readdirSync(testDir).filter((n) => n.endsWith('.sql'))) {
      const text = expandIncludes(join(testDir, f)).text
      assert.match(text, /^begin;\n/m, f)
      assert.ok(text.includes('create or replace function tests.create_supabase_user'), `${f} includes helpers/test_helpers.psql`)
    }
  })
})

describe('import circles', () => {
  it('finds a circle made only of type imports', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-memory-circles-'))
    try {
      writeFileSync(join(dir, 'a.ts'), `import type { B } from './b.ts'\nexport interface A { b?: B }\n`)
      writeFileSync(join(dir, 'b.ts'), `import type { A } from './a.ts'\nexport interface B { a?: A }\n`)
      writeFileSync(join(dir, 'c.ts'), `import type { A } from './a.ts'\nexport const c: A = {}\n`)
      const circles = await findImportCircles(dir, ['*.ts'])
      assert.equal(circles.length, 1)
      assert.deepEqual([...circles[0]].map((f) => f.replace(/^.*\//, '')).sort(), ['a.ts', 'b.ts'])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('stack layout', () => {
  it('the bootstrap applies every stand-in SQL file under stack/, each once', () => {
    const found = (readdirSync(STACK_DIR, { recursive: true }) as string[]).filter((f) => f.endsWith('.sql')).map((f) => relative(STACK_DIR, join(STACK_DIR, f))).sort()
    assert.deepEqual([...BOOTSTRAP_FILES].sort(), found)
    assert.equal(new Set(BOOTSTRAP_FILES).size, BOOTSTRAP_FILES.length)
  })
})

describe('pgmq API check', () => {
  const api151 = loadApi(join(ROOT, 'scripts', 'fixtures', 'pgmq-1.5.1.api'))
  const api144 = loadApi(join(ROOT, 'scripts', 'fixtures', 'pgmq-1.4.4.api'))
  const check = (sql: string, api = api151, file = 'planted.sql') => checkText(sql, file, api).map((p) => p.message)

  it('refuses set_vt with a timestamp (1.5.1 takes whole seconds) and accepts integer seconds', () => {
    assert.match(check(`select pgmq.set_vt('q', 1, now());`)[0] ?? '', /vt is integer \(whole seconds\) in this pgmq version, got timestamptz/)
    assert.match(check(`select pgmq.set_vt('q', 1, clock_timestamp() + interval '5 seconds');`)[0] ?? '', /got timestamptz/)
    assert.deepEqual(check(`select pgmq.set_vt('q', 1, 30);`), [])
    assert.deepEqual(check(`select pgmq.set_vt('q', 1, ceil(d)::integer);`), [])
  })
  it('needs a vt or delay it can see is an integer, reading PL/pgSQL declarations', () => {
    assert.match(check(`select pgmq.send('q', '{}', some_delay);`)[0] ?? '', /cannot tell that delay is an integer/)
    assert.deepEqual(check(`create function f(d integer) returns void language plpgsql as $$ begin perform pgmq.send('q', '{}', d); end $$;`), [])
    assert.match(check(`create function f() returns void language plpgsql as $$ declare d timestamptz := now(); begin perform pgmq.send('q', '{}', d); end $$;`)[0] ?? '', /got timestamptz/)
  })
  it('refuses unknown functions, wrong arity and unknown argument names', () => {
    assert.match(check(`select pgmq.read_grouped('q', 30, 1);`)[0] ?? '', /pgmq\.read_grouped does not exist in pgmq 1\.5\.1/)
    assert.match(check(`select pgmq.delete('q');`)[0] ?? '', /argument msg_id is required/)
    assert.match(check(`select pgmq.send('q', '{}', 0, '{}');`)[0] ?? '', /at most 3 argument/)
    assert.match(check(`select pgmq.send(queue_name => 'q', message => '{}');`)[0] ?? '', /no pgmq 1\.5\.1 signature/)
    assert.deepEqual(check(`select pgmq.send(queue_name => 'q', msg => '{}');`), [])
  })
  it('checks queue table reads: aliased, and only the columns of that version', () => {
    assert.match(check(`select count(*) from pgmq.q_jobs;`)[0] ?? '', /through an alias/)
    assert.match(check(`select q.headers from pgmq.q_jobs q;`)[0] ?? '', /queue table has no column headers/)
    assert.match(check(`select a.archived_at, a.headers from pgmq.a_jobs a;`)[0] ?? '', /archive table has no column headers/)
    assert.deepEqual(check(`select q.msg_id, q.read_ct, q.enqueued_at, q.vt, q.message from pgmq.q_jobs q;`), [])
    assert.match(check(`select s.last_value from pgmq.q_jobs_msg_id_seq s;`)[0] ?? '', /internal sequence/)
    assert.deepEqual(check(`create trigger t after insert on pgmq.q_jobs for each statement execute function f();`), [])
  })
  it('checks fields read from pgmq.metrics, which differ between versions', () => {
    const sql = `select m.queue_visible_length from pgmq.metrics('q') m;`
    assert.deepEqual(check(sql), [])
    assert.match(check(sql, api144)[0] ?? '', /pgmq 1\.4\.4's metrics_result has no field queue_visible_length/)
  })
  it('reads calls inside TypeScript templates, and not inside comments', () => {
    assert.match(check('await sql`select pgmq.set_vt(${q}, 1, now())`', api151, 'x.ts')[0] ?? '', /got timestamptz/)
    assert.deepEqual(check(`-- pgmq.set_vt('q', 1, now()) was the old way\nselect 1;`), [])
    assert.deepEqual(check('// pgmq.set_vt(q, 1, now())\nconst x = 1', api151, 'x.ts'), [])
  })
})
