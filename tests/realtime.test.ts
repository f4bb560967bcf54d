// /realtime/v1/websocket through the real supabase-js (realtime-js v2): postgres_changes with RLS per
// subscriber and `eq` filters, INSERT/UPDATE/DELETE payloads, access_token updates, expired tokens,
// broadcast and presence between clients, phx_leave, heartbeats, malformed frames, and resubscription after
// the stack restarts. Delivery latency against the 500 ms target is measured by `npm run bench`
// (api-concurrency), not here.
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import type { RealtimeChannel, SupabaseClient } from '@supabase/supabase-js'
import pg from 'pg'
import WebSocket from 'ws'
import { loadConfig } from '../stack/core/config.ts'
import { startStack } from '../stack/stack.ts'
import { ANON_KEY, anonClient, createUser, freePort, signToken, startTestStack, tempDataDir, userClient, waitFor, type TestStack, type TestUser } from './helpers/stack.ts'
import { listen, realtimeAs, type Change } from './helpers/realtime.ts'

const SCHEMA = `
  create table public.rt_threads (id int primary key, owner_id uuid not null default auth.uid());
  create table public.rt_notes (
    id int generated always as identity primary key,
    thread_id int not null references public.rt_threads (id),
    owner_id uuid not null default auth.uid(),
    body text not null
  );
  alter table public.rt_threads enable row level security;
  alter table public.rt_notes enable row level security;
  create policy "owners use threads" on public.rt_threads for all to authenticated using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
  -- Messages are visible to the owner of their thread (a policy with a subquery, as in the memory schema).
  create policy "thread owners read messages" on public.rt_notes for select to authenticated
    using (exists (select 1 from public.rt_threads t where t.id = rt_notes.thread_id and t.owner_id = (select auth.uid())));
  create policy "owners add messages" on public.rt_notes for insert to authenticated with check (owner_id = (select auth.uid()));
  create policy "owners edit messages" on public.rt_notes for update to authenticated using (owner_id = (select auth.uid()));
  create policy "owners remove messages" on public.rt_notes for delete to authenticated using (owner_id = (select auth.uid()));
  alter publication supabase_realtime add table public.rt_notes;`




const { Client } = pg
const settle = () => new Promise((r) => setTimeout(r, 400))

describe('Realtime postgres_changes, broadcast and presence', () => {
  let stack: TestStack
  let alice: TestUser
  let bob: TestUser
  let a: SupabaseClient
  let b: SupabaseClient

  before(async () => {
    stack = await startTestStack()
    await stack.db.exec(SCHEMA)
    alice = await createUser(stack, 'alice')
    bob = await createUser(stack, 'bob')
    a = await realtimeAs(stack, alice.token)
    b = await realtimeAs(stack, bob.token)
    assert.equal((await a.from('rt_threads').insert([{ id: 1 }, { id: 2 }])).error, null)
    assert.equal((await b.from('rt_threads').insert({ id: 3 })).error, null)
  })
  after(async () => {
    await a?.removeAllChannels()
    await b?.removeAllChannels()
    await stack?.close()
  })

  it("a user subscribed to their thread's messages receives the insert; another user without a filter receives none of their rows", async () => {
    const mine: Change[] = []
    const theirs: Change[] = []
    const ca = await listen(a, 'thread-1', { event: 'INSERT', schema: 'public', table: 'rt_notes', filter: 'thread_id=eq.1' }, mine)
    const cb = await listen(b, 'all-messages', { event: '*', schema: 'public', table: 'rt_notes' }, theirs)
    assert.equal((await a.from('rt_notes').insert({ thread_id: 1, body: 'hello' })).error, null)
    assert.equal((await a.from('rt_notes').insert({ thread_id: 2, body: 'other thread' })).error, null)
    assert.equal((await b.from('rt_notes').insert({ thread_id: 3, body: "bob's own" })).error, null)
    await waitFor(() => mine.length >= 1 && theirs.length >= 1, 5000)
    await settle()
    assert.equal(mine.length, 1, 'only the insert into thread 1 matches the filter')
    assert.equal(mine[0].eventType, 'INSERT')
    assert.deepEqual({ thread_id: mine[0].new.thread_id, body: mine[0].new.body, owner_id: mine[0].new.owner_id }, { thread_id: 1, body: 'hello', owner_id: alice.id })
    assert.deepEqual(theirs.map((c) => c.new.body), ["bob's own"], "bob sees his own row and none of alice's")
    await a.removeChannel(ca)
    await b.removeChannel(cb)
  })

  it('delivers UPDATE with the new row and DELETE only to subscribers who could see the row', async () => {
    const mine: Change[] = []
    const theirs: Change[] = []
    const ca = await listen(a, 'edits-a', { event: '*', schema: 'public', table: 'rt_notes' }, mine)
    const cb = await listen(b, 'edits-b', { event: '*', schema: 'public', table: 'rt_notes' }, theirs)
    const { data } = await a.from('rt_notes').insert({ thread_id: 1, body: 'draft' }).select('id').single()
    const id = (data as { id: number }).id
    await a.from('rt_notes').update({ body: 'final' }).eq('id', id)
    await a.from('rt_notes').delete().eq('id', id)
    await waitFor(() => mine.length >= 3, 5000)
    await settle()
    assert.deepEqual(mine.map((c) => c.eventType), ['INSERT', 'UPDATE', 'DELETE'])
    assert.equal(mine[1].new.body, 'final')
    assert.deepEqual(mine[2].old, { id }, 'a delete carries the primary key, as hosted Realtime sends it with RLS on')
    assert.equal(theirs.length, 0, "bob learns nothing of alice's insert, update or delete")
    await a.removeChannel(ca)
    await b.removeChannel(cb)
  })

  it('delivers changes written over the Postgres socket (psql, drivers) too', async () => {
    const seen: Change[] = []
    const channel = await listen(a, 'from-psql', { event: 'INSERT', schema: 'public', table: 'rt_notes', filter: 'thread_id=in.(2,5)' }, seen)
    const pg = new Client({ connectionString: stack.dbUrl })
    await pg.connect()
    try {
      await pg.query(`insert into public.rt_notes (thread_id, owner_id, body) values (2, $1, 'via psql')`, [alice.id])
    } finally {
      await pg.end()
    }
    await waitFor(() => seen.length >= 1, 5000)
    assert.equal(seen[0].new.body, 'via psql')
    await a.removeChannel(channel)
  })

  it('an access_token update changes whose rows a channel receives', async () => {
    const seen: Change[] = []
    const client = anonClient(stack)
    const channel = await listen(client, 'upgrade', { event: 'INSERT', schema: 'public', table: 'rt_notes' }, seen)
    await a.from('rt_notes').insert({ thread_id: 1, body: 'before sign-in' })
    await settle()
    assert.equal(seen.length, 0, 'anon sees no rows')
    await client.realtime.setAuth(alice.token)
    await settle()
    await a.from('rt_notes').insert({ thread_id: 1, body: 'after sign-in' })
    await waitFor(() => seen.length >= 1, 5000)
    assert.deepEqual(seen.map((c) => c.new.body), ['after sign-in'])
    await client.removeChannel(channel)
  })

  it('refuses a join with an expired token', async () => {
    const expired = await signToken({ sub: alice.id }, { expiresIn: Math.floor(Date.now() / 1000) - 10 })
    const client = userClient(stack, expired)
    await client.realtime.setAuth(expired)
    const err = await new Promise<Error | undefined>((resolve) => {
      client.channel('expired').subscribe((status, e) => {
        if (status === 'CHANNEL_ERROR') resolve(e)
      })
    })
    assert.match(String(err?.message), /InvalidJWTToken: Token has expired/)
    await client.removeAllChannels()
  })

  it('closes a channel whose token expires, with a system message', async () => {
    const shortLived = await signToken({ sub: alice.id }, { expiresIn: Math.floor(Date.now() / 1000) + 2 })
    const client = userClient(stack, shortLived)
    await client.realtime.setAuth(shortLived)
    const events: string[] = []
    const system = await new Promise<Record<string, unknown>>((resolve) => {
      client
        .channel('short-lived')
        .on('system', {}, (p: Record<string, unknown>) => p.extension === 'system' && resolve(p))
        .subscribe((status) => events.push(status))
    })
    assert.equal(system.status, 'error')
    assert.match(String(system.message), /Token has expired/)
    await waitFor(() => events.includes('CLOSED'), 5000)
    await client.removeAllChannels()
  })

  it('refuses a websocket whose apikey is not a valid key', async () => {
    const ws = new WebSocket(`${stack.apiUrl.replace('http', 'ws')}/realtime/v1/websocket?apikey=not-a-key&vsn=2.0.0`)
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
      ws.on('open', () => resolve(101))
      ws.on('error', () => {})
    })
    assert.equal(status, 401)
  })

  it('reports a subscription to an unknown column as a system error', async () => {
    const client = await realtimeAs(stack, alice.token)
    const system = await new Promise<Record<string, unknown>>((resolve) => {
      client
        .channel('bad-filter')
        .on('postgres_changes', { event: '*', schema: 'public', table: 'rt_notes', filter: 'thread=eq.1' }, () => {})
        .on('system', {}, (p: Record<string, unknown>) => resolve(p))
        .subscribe()
    })
    assert.equal(system.status, 'error')
    assert.match(String(system.message), /invalid column for filter thread/)
    await client.removeAllChannels()
  })

  it('relays broadcast messages between the clients of a channel', async () => {
    const received: unknown[] = []
    const sub = (client: SupabaseClient, self: boolean, sink?: unknown[]) =>
      new Promise<RealtimeChannel>((resolve) => {
        const ch = client.channel('room-1', { config: { broadcast: { self, ack: true } } })
        if (sink) ch.on('broadcast', { event: 'cursor' }, (m: { payload: unknown }) => sink.push(m.payload))
        ch.subscribe((s) => s === 'SUBSCRIBED' && resolve(ch))
      })
    const sender = await sub(a, false)
    const listener = await sub(b, false, received)
    assert.equal(await sender.send({ type: 'broadcast', event: 'cursor', payload: { x: 1, y: 2 } }), 'ok')
    await waitFor(() => received.length >= 1, 5000)
    assert.deepEqual(received, [{ x: 1, y: 2 }])
    await a.removeChannel(sender)
    await b.removeChannel(listener)
  })

  it('relays HTTP broadcasts (send() before joining, httpSend) to the channel', async () => {
    const received: unknown[] = []
    const listener = await new Promise<RealtimeChannel>((resolve) => {
      const ch = b.channel('room-http')
      ch.on('broadcast', { event: 'ping' }, (m: { payload: unknown }) => received.push(m.payload))
      ch.subscribe((s) => s === 'SUBSCRIBED' && resolve(ch))
    })
    const sender = a.channel('room-http')
    assert.deepEqual(await sender.httpSend('ping', { n: 1 }), { success: true })
    await waitFor(() => received.length >= 1, 5000)
    assert.deepEqual(received, [{ n: 1 }])
    await a.removeChannel(sender)
    await b.removeChannel(listener)
  })

  it('tracks presence across clients', async () => {
    const join = (client: SupabaseClient, key: string) =>
      new Promise<RealtimeChannel>((resolve) => {
        const ch = client.channel('lobby', { config: { presence: { key } } })
        ch.on('presence', { event: 'sync' }, () => {}).subscribe(async (s) => {
          if (s === 'SUBSCRIBED') {
            await ch.track({ online: true })
            resolve(ch)
          }
        })
      })
    const ca = await join(a, 'alice')
    const cb = await join(b, 'bob')
    await waitFor(() => Object.keys(ca.presenceState()).sort().join() === 'alice,bob', 5000)
    await b.removeChannel(cb)
    await waitFor(() => Object.keys(ca.presenceState()).join() === 'alice', 5000)
    await a.removeChannel(ca)
  })

  describe('Phoenix protocol on a raw socket', () => {
    let ws: WebSocket
    const inbox: unknown[][] = []
    before(async () => {
      ws = new WebSocket(`${stack.apiUrl.replace('http', 'ws')}/realtime/v1/websocket?apikey=${ANON_KEY}&vsn=2.0.0`)
      ws.on('message', (d) => inbox.push(JSON.parse(String(d))))
      await new Promise((r) => ws.once('open', r))
    })
    after(() => ws?.close())
    const reply = (ref: string) => waitFor(() => inbox.find((m) => m[1] === ref && m[3] === 'phx_reply'), 5000)

    it('answers heartbeats on topic phoenix', async () => {
      ws.send(JSON.stringify([null, 'h1', 'phoenix', 'heartbeat', {}]))
      assert.deepEqual((await reply('h1'))![4], { status: 'ok', response: {} })
    })

    it('answers a frame that is not Phoenix JSON with an error and keeps the connection', async () => {
      ws.send('this is not json')
      const err = await waitFor(() => inbox.find((m) => m[2] === 'phoenix' && (m[4] as { status: string }).status === 'error'), 5000)
      assert.match((err![4] as { response: { reason: string } }).response.reason, /malformed message/)
      ws.send(JSON.stringify(['1', '2', 'realtime:x']))
      const short = await reply('2')
      assert.equal((short![4] as { status: string }).status, 'error')
      ws.send(JSON.stringify([null, 'h2', 'phoenix', 'heartbeat', {}]))
      assert.equal(((await reply('h2'))![4] as { status: string }).status, 'ok', 'the connection still works')
    })

    it('joins with subscription ids, leaves with phx_leave, and rejects pushes to unjoined topics', async () => {
      const config = { broadcast: { self: false }, presence: { key: '' }, postgres_changes: [{ event: 'INSERT', schema: 'public', table: 'rt_notes' }] }
      ws.send(JSON.stringify(['j1', 'j1', 'realtime:raw', 'phx_join', { config, access_token: alice.token }]))
      const joined = (await reply('j1'))![4] as { status: string; response: { postgres_changes: { id: number; table: string }[] } }
      assert.equal(joined.status, 'ok')
      assert.equal(joined.response.postgres_changes[0].table, 'rt_notes')
      assert.equal(typeof joined.response.postgres_changes[0].id, 'number')
      ws.send(JSON.stringify(['j1', 'l1', 'realtime:raw', 'phx_leave', {}]))
      assert.equal(((await reply('l1'))![4] as { status: string }).status, 'ok')
      ws.send(JSON.stringify(['j1', 'b1', 'realtime:raw', 'broadcast', { type: 'broadcast', event: 'x', payload: {} }]))
      assert.deepEqual((await reply('b1'))![4], { status: 'error', response: { reason: 'unmatched topic' } })
    })
  })
})

describe('Realtime across a stack restart', () => {
  it('the client resubscribes on its own and receives new events', async () => {
    const dataDir = tempDataDir()
    const port = await freePort()
    const start = () => startStack(loadConfig(['--data-dir', dataDir, '--api-port', String(port), '--db-port', '0', '--quiet'], {}))
    let stack = await start()
    let client: SupabaseClient | undefined
    try {
      await stack.db.exec(SCHEMA)
      const user = await createUser(stack, 'carol')
      client = await realtimeAs(stack, user.token)
      assert.equal((await client.from('rt_threads').insert({ id: 9 })).error, null)
      const seen: Change[] = []
      await listen(client, 'carol-thread', { event: 'INSERT', schema: 'public', table: 'rt_notes', filter: 'thread_id=eq.9' }, seen)
      await client.from('rt_notes').insert({ thread_id: 9, body: 'before restart' })
      await waitFor(() => seen.length === 1, 5000)

      await stack.stop()
      stack = await start()
      // realtime-js reconnects (1 s, 2 s, 5 s backoff) and rejoins its channels with the same join payload.
      await waitFor(async () => {
        const before = seen.length
        await client!.from('rt_notes').insert({ thread_id: 9, body: 'after restart' })
        await new Promise((r) => setTimeout(r, 500))
        return seen.length > before
      }, 30_000, 0)
      assert.ok(seen.some((c) => c.new.body === 'after restart'))
    } finally {
      await client?.removeAllChannels()
      await stack.stop()
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
})
