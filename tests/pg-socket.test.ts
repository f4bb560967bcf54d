// The database port shares PGlite's one session between every client and the stack itself. These tests
// pin what makes that safe: a transaction owns the session until it ends, extended-protocol statements of
// different clients never interleave, session state a client leaves behind does not leak into API
// requests, and a client idle inside a transaction is disconnected so it cannot block everyone.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { anonClient, startTestStack, type TestStack } from './helpers/stack.ts'

describe('database port (shared session)', () => {
  let stack: TestStack
  before(async () => {
    stack = await startTestStack({ env: { AGENT_MEMORY_IDLE_TX_TIMEOUT_MS: '1500' } })
    await stack.db.exec(`
      create table public.counter (id int primary key, n int not null);
      insert into public.counter values (1, 0);
      create function public.current_role_name() returns text language sql stable as $$ select current_user::text $$;`)
  })
  after(() => stack?.close())

  const connect = async () => {
    const c = new pg.Client({ connectionString: stack.dbUrl })
    await c.connect()
    return c
  }

  it("one client's open transaction is invisible to others until it commits", async () => {
    const a = await connect()
    const b = await connect()
    try {
      await a.query('begin')
      await a.query('update public.counter set n = 100 where id = 1')
      // b must wait for a's transaction to end: the session is held by a.
      const bRead = b.query('select n from public.counter where id = 1')
      await new Promise((r) => setTimeout(r, 200))
      await a.query('rollback')
      assert.equal((await bRead).rows[0].n, 0)
    } finally {
      await a.end()
      await b.end()
    }
  })

  it('parameterised statements from many clients at once get their own results', async () => {
    const clients = await Promise.all(Array.from({ length: 8 }, connect))
    try {
      // Each client runs its statements one after another; the clients run at the same time.
      const results = await Promise.all(
        clients.map(async (c, i) => {
          const pairs: [number, number][] = []
          for (let j = 0; j < 25; j++) pairs.push([i * 1000 + j, (await c.query('select $1::int * 1000 + $2::int as v', [i, j])).rows[0].v])
          return pairs
        }),
      )
      for (const [expected, got] of results.flat()) assert.equal(got, expected)
      const updates = await Promise.all(
        clients.map((c) => c.query('update public.counter set n = n + 1 where id = $1 returning n', [1])),
      )
      assert.equal(updates.length, 8)
      assert.equal((await stack.db.query<{ n: number }>('select n from public.counter where id = 1')).rows[0].n, 8)
    } finally {
      await Promise.all(clients.map((c) => c.end()))
    }
  })

  it("a client's SET ROLE does not leak into API requests or later clients", async () => {
    const c = await connect()
    try {
      await c.query('set role anon')
      await c.query(`set search_path = pg_catalog`)
      const { data, error } = await anonClient(stack).rpc('current_role_name')
      assert.equal(error, null)
      assert.equal(data, 'anon')
      const later = await connect()
      try {
        assert.equal((await later.query('select current_user::text as u')).rows[0].u, 'postgres')
      } finally {
        await later.end()
      }
      const inProcess = await stack.db.query<{ u: string; p: string }>('select current_user::text as u, current_setting($1) as p', ['search_path'])
      assert.equal(inProcess.rows[0].u, 'postgres')
      assert.match(inProcess.rows[0].p, /extensions/)
    } finally {
      await c.end()
    }
  })

  it('a client idle in a transaction is disconnected and its work rolled back', async () => {
    const idle = await connect()
    const errors: Error[] = []
    idle.on('error', (e) => errors.push(e))
    await idle.query('begin')
    await idle.query('update public.counter set n = -1 where id = 1')
    // In-process work waits for the session, then proceeds once the idle client is cut off.
    const started = Date.now()
    const n = (await stack.db.query<{ n: number }>('select n from public.counter where id = 1')).rows[0].n
    assert.ok(Date.now() - started >= 1000, 'waited for the idle transaction')
    assert.notEqual(n, -1)
    await assert.rejects(idle.query('select 1'))
    await idle.end().catch(() => {})
  })
})
