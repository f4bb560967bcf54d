// `npm start` as a user runs it: the status block within 60 s, psql and the Supabase CLI against the
// database port, the buffer cache size (--shared-buffers), restarts after SIGINT and SIGTERM that keep data
// and do not re-apply migrations, --reset, start-up failures that say what went wrong (port in use, a bad
// buffer size, a failing migration), and stopping however it is signalled: SIGINT or SIGTERM to the npm
// process alone (as IDEs and process managers send them), the npm process killed outright (the orphaned
// stack stops itself), the stack killed (its Deno runtime goes).
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { promisify } from 'node:util'
import pg from 'pg'
import { ROOT } from '../stack/core/config.ts'
import { listMigrations } from '../stack/core/migrate.ts'
import { childPids, freePort, isAlive, listening, makeWorkdir, spawnNpmStart, tempDataDir, waitFor, type ChildStack } from './helpers/stack.ts'

const run = promisify(execFile)

/** Stops the stack with `signal` and checks it shut down cleanly (it logs both lines only then). */
async function stopWith(s: ChildStack, signal: NodeJS.Signals): Promise<void> {
  await s.stop(signal)
  assert.match(s.output(), new RegExp(`${signal}: stopping[\\s\\S]*\\[stack\\] stopped`))
}

async function sql<T extends pg.QueryResultRow>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query<T>(text, params)).rows
  } finally {
    await client.end()
  }
}

describe('npm start', () => {
  const dataDir = tempDataDir()
  after(() => rmSync(dataDir, { recursive: true, force: true }))
  let apiPort: number
  let dbPort: number
  let dbUrl: string

  it('prints the status block within 60 s on a fresh data directory', async () => {
    apiPort = await freePort()
    dbPort = await freePort()
    const s = spawnNpmStart(['--data-dir', dataDir, '--api-port', String(apiPort), '--db-port', String(dbPort)])
    const ready = await s.ready
    try {
      assert.ok(ready.ms < 60_000, `status block after ${ready.ms} ms`)
      const out = s.output()
      for (const label of ['API URL', 'DB URL', 'JWT secret', 'anon key', 'service_role key']) assert.match(out, new RegExp(`${label}: \\S+`))
      assert.equal(ready.apiUrl, `http://127.0.0.1:${apiPort}`)
      assert.equal(ready.dbUrl, `postgresql://postgres:postgres@127.0.0.1:${dbPort}/postgres`)
      dbUrl = ready.dbUrl
      assert.match(out, /anon key: eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9\.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24i/)

      // psql on the database port lists the extensions
      const { stdout } = await run('psql', [`${dbUrl}?sslmode=disable`, '-At', '-c', 'select extname from pg_extension order by 1'])
      const extensions = stdout.trim().split('\n')
      for (const ext of ['vector', 'pgmq', 'pgtap']) assert.ok(extensions.includes(ext), `${ext} in ${extensions}`)
      // the buffer cache is PGlite's by default
      assert.deepEqual(await sql(dbUrl, 'show shared_buffers'), [{ shared_buffers: '128MB' }])

      // the real Supabase CLI sees every migration as applied
      const list = await run(join(ROOT, 'node_modules', '.bin', 'supabase'), ['migration', 'list', '--db-url', `${dbUrl}?sslmode=disable`], { cwd: ROOT })
      for (const m of listMigrations(join(ROOT, 'supabase', 'migrations'))) {
        assert.match(list.stdout, new RegExp(`\`${m.version}\`\\s*\\|\\s*\`${m.version}\``), `migration ${m.version} applied per the CLI`)
      }

      await sql(dbUrl, 'create table public.restart_probe (v text)')
      await sql(dbUrl, `insert into public.restart_probe values ('before SIGINT')`)
    } finally {
      await stopWith(s, 'SIGINT')
    }
  })

  for (const [signal, next] of [
    ['SIGINT', 'SIGTERM'],
    ['SIGTERM', 'SIGINT'],
  ] as const) {
    it(`restarts after ${signal} with all data and no migration applied again`, async () => {
      const s = spawnNpmStart(['--data-dir', dataDir, '--api-port', String(apiPort), '--db-port', String(dbPort)])
      await s.ready
      try {
        assert.doesNotMatch(s.output(), /applied migration/)
        assert.doesNotMatch(s.output(), /initialising a new database/)
        const rows = await sql<{ v: string }>(dbUrl, 'select v from public.restart_probe order by v')
        assert.ok(rows.some((r) => r.v === `before ${signal}`), JSON.stringify(rows))
        const versions = await sql<{ n: number }>(dbUrl, 'select count(*)::int as n from supabase_migrations.schema_migrations')
        assert.equal(versions[0].n, listMigrations(join(ROOT, 'supabase', 'migrations')).length)
        await sql(dbUrl, `insert into public.restart_probe values ('before ${next}')`)
      } finally {
        await stopWith(s, next)
      }
    })
  }

  it('--reset starts from an empty database', async () => {
    const s = spawnNpmStart(['--data-dir', dataDir, '--api-port', String(apiPort), '--db-port', String(dbPort), '--reset', '--shared-buffers', '256MB'])
    await s.ready
    try {
      assert.match(s.output(), /initialising a new database/)
      assert.deepEqual(await sql(dbUrl, 'show shared_buffers'), [{ shared_buffers: '256MB' }], '--shared-buffers sizes the buffer cache')
      const rows = await sql<{ t: string | null }>(dbUrl, `select to_regclass('public.restart_probe')::text as t`)
      assert.equal(rows[0].t, null)
    } finally {
      await stopWith(s, 'SIGTERM')
    }
  })

  it('refuses to start when a port is taken, naming the port', async () => {
    const blocker = createServer()
    const port = await freePort()
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r))
    try {
      const s = spawnNpmStart(['--data-dir', tempDataDir(), '--api-port', String(port), '--db-port', '0'])
      const code = await s.exited
      assert.notEqual(code, 0)
      assert.match(s.output(), new RegExp(`port ${port} \\(API gateway\\) is already in use`))
      assert.match(s.output(), /start on another port: npm start -- --api-port <port> \(0 picks a free one\)/)
    } finally {
      blocker.close()
    }
  })

  it('refuses a buffer cache size it cannot use, naming the flag', async () => {
    for (const size of ['lots', '4GB', '8MB']) {
      const s = spawnNpmStart(['--data-dir', tempDataDir(), '--api-port', '0', '--db-port', '0', '--shared-buffers', size])
      assert.notEqual(await s.exited, 0)
      assert.match(s.output(), new RegExp(`--shared-buffers: "${size}" is not a size between 16MB and 1536MB`))
    }
  })

  /** Starts `npm start` on free ports; returns it with its ports and the stack's pid. */
  async function started(): Promise<{ s: ChildStack; api: number; db: number; pid: number }> {
    const [api, db] = [await freePort(), await freePort()]
    const s = spawnNpmStart(['--data-dir', dataDir, '--api-port', String(api), '--db-port', String(db)])
    await s.ready
    const pid = s.stackPid()
    assert.ok(pid && isAlive(pid), `the stack's pid is in the status block (${pid})`)
    return { s, api, db, pid }
  }

  async function portsFreeWithin(ms: number, ...ports: number[]): Promise<number> {
    const t = Date.now()
    await waitFor(async () => !(await Promise.all(ports.map(listening))).some(Boolean), ms, 50)
    return Date.now() - t
  }

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} to the npm process alone stops the stack cleanly: nothing listens on its ports within 5 s`, async () => {
      const { s, api, db, pid } = await started()
      assert.ok(await listening(api) && (await listening(db)))
      s.signalNpm(signal)
      const ms = await portsFreeWithin(5000, api, db)
      await waitFor(() => !isAlive(pid), 5000)
      await s.exited
      assert.match(s.output(), new RegExp(`${signal}: stopping[\\s\\S]*\\[stack\\] stopped`), `clean shutdown (ports free after ${ms} ms)`)
    })
  }

  it('when the npm process is killed outright, the orphaned stack stops itself within 5 s', async () => {
    const { s, api, db, pid } = await started()
    s.signalNpm('SIGKILL')
    await portsFreeWithin(5000, api, db)
    await waitFor(() => !isAlive(pid), 5000)
    // npm is gone; the stack wrote to the pipe npm handed it, which this test still reads.
    await waitFor(() => /\[stack\] stopped/.test(s.output()), 5000)
    assert.match(s.output(), /parent process \d+ exited: stopping[\s\S]*\[stack\] stopped/)
  })

  it("when the stack's own process is killed, its Deno edge runtime exits too and the ports are free", async () => {
    const { s, api, db, pid } = await started()
    const deno = childPids(pid).filter((c) => /deno/.test(readFileSync(`/proc/${c}/cmdline`, 'utf8')))
    if (deno.length !== 1) s.signal('SIGKILL')
    assert.equal(deno.length, 1, 'one Deno runtime under the stack')
    process.kill(pid, 'SIGKILL')
    await waitFor(() => !isAlive(deno[0]), 5000)
    await portsFreeWithin(5000, api, db)
    await s.exited
  })

  it('a failing migration stops start-up naming the file and the error; earlier migrations stay applied', async () => {
    const workdir = makeWorkdir({
      migrations: {
        '29990101000000_good.sql': 'create table public.good_one (id int);',
        '29990101000001_bad.sql': 'create table public.half_done (id int);\nselect * from public.no_such_table;\n',
      },
    })
    const dir = tempDataDir()
    const s = spawnNpmStart(['--data-dir', dir, '--api-port', '0', '--db-port', '0', '--workdir', workdir])
    const code = await s.exited
    assert.equal(code, 1)
    const out = s.output()
    assert.match(out, /supabase\/migrations\/29990101000001_bad\.sql:2: relation "public\.no_such_table" does not exist \(SQLSTATE 42P01\)/)
    assert.match(out, /last good migration/)

    // Start again without the bad migration: the good one is recorded, nothing of the bad one exists.
    rmSync(join(workdir, 'supabase', 'migrations', '29990101000001_bad.sql'))
    const again = spawnNpmStart(['--data-dir', dir, '--api-port', '0', '--db-port', '0', '--workdir', workdir])
    const ready = await again.ready
    try {
      assert.doesNotMatch(again.output(), /applied migration 29990101000000_good/)
      const rows = await sql<{ good: string | null; half: string | null; recorded: number }>(
        ready.dbUrl,
        `select to_regclass('public.good_one')::text as good, to_regclass('public.half_done')::text as half,
                (select count(*)::int from supabase_migrations.schema_migrations where version = '29990101000001') as recorded`,
      )
      assert.deepEqual(rows[0], { good: 'good_one', half: null, recorded: 0 })
    } finally {
      await stopWith(again, 'SIGTERM')
      rmSync(dir, { recursive: true, force: true })
      rmSync(workdir, { recursive: true, force: true })
    }
  })
})
