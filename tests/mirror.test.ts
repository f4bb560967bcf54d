// The mirror end to end through a whole stack: writes through the SDK reach LibSQL by themselves (trigger →
// queue → cron → pg_net → mirror function), the mirror serves the same pages and cursors as Supabase; then the
// stack is stopped: SDK reads are served from LibSQL and say so, writes go to the outbox (or fail at once with
// offlineWrites: false); the stack comes back on the same ports: the outbox is replayed in order, each write
// lands exactly once (also when replayed twice), a stale agent-state version comes back as a conflict and
// stays in the outbox; finally mirror:verify finds no difference.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { createMemory, MemoryError } from '../client/index.ts'
import { createMemory as createSupabaseMemory } from '../client/memory.ts'
import { getLibSQLClient } from '../libsql/client.ts'
import { getMemory } from '../libsql/memory.ts'
import { connectPostgres, snapshotSource } from '../libsql/pg.ts'
import { loadConfig } from '../stack/core/config.ts'
import { startStack, type Stack } from '../stack/stack.ts'
import type { SqlClient } from '../supabase/functions/_shared/libsql/sql-client.ts'
import { verifyMirror } from '../supabase/functions/_shared/libsql/verify.ts'
import { createUser, tempDataDir, waitFor } from './helpers/stack.ts'
import { rmSync } from 'node:fs'

describe('LibSQL mirror end to end', () => {
  const dataDir = tempDataDir()
  const mirrorUrl = `file:${join(dataDir, 'mirror.db')}`
  let stack: Stack | null = null
  const start = async (apiPort = 0, dbPort = 0) =>
    (stack = await startStack(loadConfig(['--data-dir', dataDir, '--api-port', String(apiPort), '--db-port', String(dbPort), '--quiet'], {})))

  after(async () => {
    await stack?.stop()
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('mirrors, falls back when the gateway is down, queues writes and replays them once, in order', async () => {
    await start()
    const apiPort = stack!.config.apiPort
    const dbPort = stack!.config.dbPort
    const alice = await createUser(stack!, 'alice')
    const bob = await createUser(stack!, 'bob')
    const libsql = await getLibSQLClient({ url: mirrorUrl })
    const fallbacks: string[] = []
    const memory = createMemory({ supabase: alice.client, libsql: { client: libsql, onFallback: (e) => fallbacks.push(`${e.kind}:${e.method}`) } })
    const strict = createMemory({ supabase: alice.client, libsql: { client: libsql, offlineWrites: false } })
    const plain = createSupabaseMemory({ supabase: alice.client })

    // Online: the SDK writes to Supabase (client-generated ids), and the pipeline copies it to LibSQL.
    const thread = await memory.createMemoryThread({ name: 'trip', agentId: 'planner', metadata: { topic: 'travel' } })
    assert.equal(thread.source, 'supabase')
    const saved = await memory.saveMessages(thread.id, [
      { role: 'user', content: 'Book a train to Lyon' },
      { role: 'assistant', content: 'Which day?' },
      { role: 'user', content: 'Friday morning' },
    ])
    assert.ok(saved.every((m) => m.source === 'supabase'))
    const state = await memory.saveAgentState(thread.id, { step: 1 }, { expectedVersion: 0 })
    assert.equal(state.version, 1)
    await createSupabaseMemory({ supabase: bob.client }).createMemoryThread({ name: 'bob only' })

    const pg = connectPostgres(`postgresql://postgres:postgres@127.0.0.1:${dbPort}/postgres`)
    try {
      // Mirrored: the embedding pipeline has stored each message's exact token count in Supabase (an UPDATE
      // the mirror copies too), the mirror queue is empty, and LibSQL has the three messages with those counts.
      const mirrored = async () => {
        const [p] = await pg`select count(*)::int as n from public.messages where thread_id = ${thread.id} and token_count_exact`
        if (p.n !== 3) return false
        const [s] = await pg`select queue_depth::int as depth from util.libsql_mirror_status`
        const n = await libsql.execute({ sql: 'select count(*) as n from messages where thread_id = ? and token_count_exact = 1', args: [thread.id] })
        return s.depth === 0 && Number(n.rows[0].n) === 3
      }
      await waitFor(mirrored, 30_000, 200)
      const reader = getMemory(libsql, { ownerId: alice.id })
      const fromSupabase = await plain.loadMessages(thread.id, { limit: 2 })
      const fromMirror = await reader.loadMessages(thread.id, { limit: 2 })
      assert.deepEqual(fromMirror, fromSupabase, 'the mirror returns the same page, cursors included')
      const older = await reader.loadMessages(thread.id, { limit: 2, cursor: fromSupabase.nextCursor })
      assert.deepEqual(older, await plain.loadMessages(thread.id, { limit: 2, cursor: fromSupabase.nextCursor }), 'a Supabase cursor continues in the mirror')
      const { source: _s, ...threadRow } = thread
      assert.deepEqual(await reader.getThread(thread.id), await plain.getMemoryThread(thread.id))
      assert.deepEqual({ ...threadRow, updated_at: null }, { ...(await reader.getThread(thread.id)), updated_at: null })
      assert.deepEqual(await reader.loadAgentState(thread.id), await plain.loadAgentState(thread.id))
      assert.deepEqual((await reader.listThreads()).threads.map((t) => t.id), [thread.id], 'Alice sees only her thread; Bob\'s is not hers')

      // The gateway (the whole stack) goes away.
      await stack!.stop()
      stack = null
      const t = await memory.getMemoryThread(thread.id)
      assert.equal(t.source, 'mirror')
      assert.equal(t.name, 'trip')
      const page = await memory.loadMessages(thread.id)
      assert.equal(page.source, 'mirror')
      assert.deepEqual(page.messages.map((m) => m.content), ['Book a train to Lyon', 'Which day?', 'Friday morning'])
      assert.equal((await memory.loadAgentState(thread.id))?.source, 'mirror')
      assert.equal((await memory.listMemoryThreads()).source, 'mirror')
      await assert.rejects(memory.getMemoryThread('00000000-0000-0000-0000-0000000000aa'), (e: MemoryError) => e.code === 'not_found')
      await assert.rejects(plain.getMemoryThread(thread.id), (e: MemoryError) => e.code === 'network', 'without libsql the SDK just fails')

      // Offline writes: queued in order, with provisional results.
      const q1 = await memory.saveMessages(thread.id, [{ role: 'assistant', content: 'Offline 1' }, { role: 'user', content: 'Offline 2' }])
      assert.ok(q1.every((m) => m.source === 'outbox'))
      const q2 = await memory.saveMessage(thread.id, { role: 'assistant', content: 'Offline 3' })
      const t2 = await memory.createMemoryThread({ name: 'made offline' })
      assert.equal(t2.source, 'outbox')
      await memory.saveMessage(t2.id, { role: 'user', content: 'in the offline thread' })
      // Based on version 0 while version 1 exists: Supabase will refuse it.
      const stale = await memory.saveAgentState(thread.id, { step: 'stale' }, { expectedVersion: 0 })
      assert.equal(stale.source, 'outbox')
      await memory.updateMemoryThread(thread.id, { name: 'trip (renamed offline)' })
      assert.equal(await memory.outbox.pendingCount(), 6)
      await assert.rejects(strict.saveMessage(thread.id, { role: 'user', content: 'must not be queued' }), (e: MemoryError) => {
        assert.equal(e.code, 'network')
        assert.match(e.message, /offline writes are off \(offlineWrites: false\), so nothing was written or queued/)
        return true
      })
      assert.equal(await memory.outbox.pendingCount(), 6, 'the refused write was not queued')
      assert.ok(fallbacks.includes('read:getMemoryThread') && fallbacks.includes('write:saveMessages'))

      // Back on the same ports: the next call replays the outbox first, in order.
      await start(apiPort, dbPort)
      const replayErrors: MemoryError[] = []
      const online = createMemory({ supabase: alice.client, libsql: { client: libsql, onReplayError: (f) => replayErrors.push(f.error) } })
      const back = await online.loadMessages(thread.id)
      assert.equal(back.source, 'supabase')
      assert.deepEqual(back.messages.map((m) => m.content), ['Book a train to Lyon', 'Which day?', 'Friday morning', 'Offline 1', 'Offline 2', 'Offline 3'])
      assert.deepEqual(back.messages.slice(3).map((m) => m.id), [...q1.map((m) => m.id), q2.id], 'the client ids are the stored ids')
      assert.equal(replayErrors.length, 1)
      assert.equal(replayErrors[0].code, 'conflict')
      assert.match(replayErrors[0].message, /is at version 1, not the expected version 0/)
      const failed = await online.outbox.list('failed')
      assert.deepEqual(failed.map((e) => e.op), ['save_agent_state'], 'the refused write stays in the outbox')
      assert.equal(await online.outbox.pendingCount(), 0)
      assert.equal((await online.getMemoryThread(thread.id)).name, 'trip (renamed offline)', 'later entries went on after the conflict')
      assert.deepEqual((await online.loadMessages(t2.id)).messages.map((m) => m.content), ['in the offline thread'])
      assert.deepEqual((await online.loadAgentState(thread.id))?.state, { step: 1 })

      // A lost answer: the same entries replayed again change nothing.
      await libsql.execute({
        sql: `insert into outbox (owner_id, op, thread_id, args, created_at) values (?, 'save_messages', ?, ?, ?), (?, 'create_thread', ?, ?, ?)`,
        args: [
          alice.id, thread.id, JSON.stringify({ thread_id: thread.id, messages: q1.map((m) => ({ id: m.id, role: m.role, content: m.content })) }), new Date().toISOString(),
          alice.id, t2.id, JSON.stringify({ id: t2.id, name: 'made offline' }), new Date().toISOString(),
        ],
      })
      const again = await online.replayOutbox()
      assert.equal(again.replayed.length, 2)
      assert.equal(again.failed.length, 0)
      assert.equal((await plain.loadMessages(thread.id)).messages.length, 6, 'each message exactly once')
      const [{ n }] = await pg`select count(*)::int as n from public.memory_threads where owner_id = ${alice.id}`
      assert.equal(n, 2, 'each thread exactly once')
      assert.equal(await online.outbox.discard(failed.map((e) => e.id)), 1)

      // The mirror catches up with the replayed writes, and verify finds Supabase and LibSQL equal.
      const pg2 = connectPostgres(`postgresql://postgres:postgres@127.0.0.1:${dbPort}/postgres`)
      try {
        await waitFor(async () => {
          // First the embedding pipeline: no job left in its queue, done or dead-lettered (its token counts and
          // vectors are changes the mirror copies too)…
          const [e] = await pg2`select queue_length::int as jobs from pgmq.metrics('embedding_jobs')`
          if (e.jobs !== 0) return false
          // … then the mirror queue.
          const [s] = await pg2`select queue_depth::int as depth from util.libsql_mirror_status`
          return s.depth === 0 && (await getMemory(libsql, { ownerId: alice.id }).loadMessages(thread.id)).messages.length === 6
        }, 30_000, 200)
        const report = await verifyMirror(snapshotSource(pg2), libsql as unknown as SqlClient)
        assert.deepEqual(report.differences, [])
      } finally {
        await pg2.end()
      }
    } finally {
      await pg.end({ timeout: 1 }).catch(() => {})
      libsql.close()
    }
  })
})
