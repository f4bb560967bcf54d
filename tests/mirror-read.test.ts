// The LibSQL read client on a mirror filled through the mirror's own apply code (no stack): opening errors,
// tenancy (an owner never sees another owner's rows; their thread is "not found"), keyset pages in both
// directions, agent states, and search — searchMemory equal to an exact cosine top-k computed here and its plan
// going through vector_top_k, with filters; FTS5 keyword search; hybrid fusion; bad input naming the field.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { after, before, describe, it } from 'node:test'
import type { Client } from '@libsql/client'
import { MemoryError } from '../client/errors.ts'
import { getLibSQLClient, getMemory, isDatabaseAvailable, vectorSearchSql } from '../libsql/index.ts'
import { applyChanges, type MirrorChange } from '../supabase/functions/_shared/libsql/apply.ts'
import { embeddingTableOf } from '../supabase/functions/_shared/libsql/schema.ts'
import type { SqlClient } from '../supabase/functions/_shared/libsql/sql-client.ts'
import { ROOT } from '../stack/core/config.ts'

const DIMS = 16

function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const iso = (us: number) => new Date(Math.floor(us / 1000)).toISOString().replace(/\.(\d{3})Z$/, (_, ms) => `.${ms}${String(us % 1000).padStart(3, '0')}+00:00`)

function cosineDistance(a: number[], b: number[]): number {
  let dot = 0, na = 0, nb = 0
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i]
    na += a[i] * a[i]
    nb += b[i] * b[i]
  }
  return 1 - dot / Math.sqrt(na * nb)
}

let version = 0
let msgId = 0
const change = (table: string, key: unknown[], row: Record<string, unknown> | null, modelDims: number | null = null): MirrorChange => ({
  msg_id: ++msgId,
  attempts: 1,
  source_table: table,
  row_key: key,
  version: ++version,
  owner_id: (row?.owner_id as string) ?? null,
  status: 'ok',
  reason: null,
  row,
  model_dims: modelDims,
})

describe('LibSQL read client', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mirror-read-'))
  let client: Client
  const alice = randomUUID()
  const bob = randomUUID()
  const threads: Record<string, string[]> = { [alice]: [], [bob]: [] }
  const vectors = new Map<string, { owner: string; thread: string; role: string; v: number[]; us: number }>()
  const rand = prng(7)
  const baseUs = Date.UTC(2026, 11, 1) * 1000

  before(async () => {
    client = await getLibSQLClient({ url: `file:${join(dir, 'mirror.db')}` })
    const changes: MirrorChange[] = []
    let us = baseUs
    for (const owner of [alice, bob]) {
      for (let t = 0; t < 3; t++) {
        const id = randomUUID()
        threads[owner].push(id)
        us += 1000
        changes.push(change('memory_threads', [id], {
          id, owner_id: owner, agent_id: t === 0 ? 'planner' : null, name: `thread ${t}`, metadata: { n: t, tag: t % 2 ? 'odd' : 'even' },
          summary: null, summary_through: null, summary_token_count: null, expires_at: null, created_at: iso(us), updated_at: iso(us), _created_us: us,
        }))
        for (let i = 0; i < (owner === alice ? 120 : 40); i++) {
          const mid = randomUUID()
          us += 7
          const role = i % 3 === 0 ? 'assistant' : 'user'
          const words = owner === alice ? `alpha note ${i} about ${i % 5 === 0 ? 'refunds and invoices' : 'weather'}` : `bob secret ${i} refunds`
          changes.push(change('messages', [mid], {
            id: mid, thread_id: id, owner_id: owner, role, content: words, tool_call_id: null, tool_name: null, token_count: 5,
            token_count_exact: false, metadata: {}, created_at: iso(us), _created_us: us,
          }))
          const v = Array.from({ length: DIMS }, () => rand() * 2 - 1)
          vectors.set(mid, { owner, thread: id, role, v, us })
          changes.push(change('embeddings', ['messages', mid, 'test-16'], {
            source_table: 'messages', source_id: mid, owner_id: owner, model: 'test-16', content_hash: 'c'.repeat(64),
            embedding: JSON.stringify(v), created_at: iso(us), updated_at: iso(us),
          }, DIMS))
        }
      }
      changes.push(change('agent_states', [threads[owner][0], 'planner'], {
        thread_id: threads[owner][0], agent_id: 'planner', owner_id: owner, state: { step: owner === alice ? 1 : 99 }, version: 3,
        created_at: iso(us), updated_at: iso(us), _created_us: us,
      }))
    }
    const report = await applyChanges(client as unknown as SqlClient, changes)
    assert.equal(report.failed.length, 0, JSON.stringify(report.failed[0]))
  })

  after(() => {
    client?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('opens a new file, says it is available, and names a URL it cannot open', async () => {
    assert.equal(await isDatabaseAvailable(client), true)
    const nested = await getLibSQLClient({ url: `file:${join(dir, 'fresh.db')}` })
    assert.equal(await isDatabaseAvailable(nested), true)
    nested.close()
    for (const url of ['file:/nonexistent-dir/sub/mirror.db', 'ftp://example.invalid/db']) {
      await assert.rejects(getLibSQLClient({ url }), (err: MemoryError) => {
        assert.equal(err.code, 'unavailable')
        assert.ok(err.message.includes(`cannot open the LibSQL database ${url}`), err.message)
        return true
      })
    }
  })

  it('npm run mirror:migrate applies the migrations once, and names a URL it cannot open', async () => {
    const run = (url: string) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'mirror-migrate.ts')], { cwd: ROOT, env: { ...process.env, LIBSQL_DATABASE_URL: url } })
    const url = `file:${join(dir, 'migrate.db')}`
    const first = await run(url)
    assert.match(first.stdout, /^applied +0001_mirror .*\n^applied +0002_outbox .*\n2 migrations applied$/m)
    const second = await run(url)
    assert.match(second.stdout, /^present +0001_mirror [\s\S]*the mirror schema is up to date$/m)
    await assert.rejects(run('file:/nonexistent-dir/sub/mirror.db'), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 1)
      assert.match(err.stderr, /mirror:migrate: cannot open the LibSQL database file:\/nonexistent-dir\/sub\/mirror\.db/)
      return true
    })
  })

  it('tenancy: an owner sees only their own threads, messages, states and search hits', async () => {
    const a = getMemory(client, { ownerId: alice })
    const list = await a.listThreads({ limit: 1000 })
    assert.deepEqual(list.threads.map((t) => t.id).sort(), [...threads[alice]].sort())
    assert.ok(list.threads.every((t) => t.owner_id === alice))
    for (const call of [
      () => a.getThread(threads[bob][0]),
      () => a.loadMessages(threads[bob][0]),
      () => a.loadAgentState(threads[bob][0]),
      () => a.getThread(randomUUID()),
    ]) {
      await assert.rejects(call(), (err: MemoryError) => err.code === 'not_found' && /^thread [0-9a-f-]{36} not found$/.test(err.message))
    }
    const hits = await a.searchMemory({ embedding: vectors.get([...vectors.keys()].find((k) => vectors.get(k)!.owner === bob)!)!.v, k: 50 })
    assert.equal(hits.length, 50)
    assert.ok(hits.every((h) => h.message.owner_id === alice), 'a query equal to one of Bob\'s vectors still finds only Alice\'s messages')
    const kw = await a.keywordSearch({ query: 'secret refunds', k: 100 })
    assert.ok(kw.length > 0 && kw.every((h) => h.message.owner_id === alice))
    const hy = await a.hybridSearch({ query: 'secret refunds', embedding: hits[0].message ? vectors.get(hits[0].message.id)!.v : [], k: 20 })
    assert.ok(hy.every((h) => h.message.owner_id === alice))
    assert.deepEqual((await a.loadAgentState(threads[alice][0]))?.state, { step: 1 })
    assert.throws(() => getMemory(client, { ownerId: 'not-a-uuid' }), /ownerId must be a user id \(UUID\)/)
    // An owner the mirror has never seen: no threads, and anyone's thread is "not found", as in Supabase.
    const stranger = getMemory(client, { ownerId: randomUUID() })
    assert.deepEqual((await stranger.listThreads()).threads, [])
    assert.deepEqual(await stranger.searchMemory({ embedding: hits[0] ? vectors.get(hits[0].message.id)!.v : [], k: 5 }), [])
    await assert.rejects(stranger.loadMessages(threads[alice][0]), (err: MemoryError) => err.code === 'not_found')
  })

  it('walks a thread in pages both ways, each message once, with cursors that continue', async () => {
    const a = getMemory(client, { ownerId: alice })
    const thread = threads[alice][1]
    const all = [...vectors.entries()].filter(([, x]) => x.thread === thread).sort((x, y) => x[1].us - y[1].us).map(([id]) => id)
    for (const direction of ['older', 'newer'] as const) {
      const seen: string[] = []
      let cursor: string | null = null
      for (;;) {
        const page = await a.loadMessages(thread, { limit: 17, cursor, direction })
        assert.deepEqual(page.messages.map((m) => m.created_at), [...page.messages.map((m) => m.created_at)].sort(), 'each page is chronological')
        if (direction === 'older') seen.unshift(...page.messages.map((m) => m.id))
        else seen.push(...page.messages.map((m) => m.id))
        if (!page.hasMore) break
        cursor = page.nextCursor
      }
      assert.deepEqual(seen, all, `direction ${direction} sees every message once, in order`)
    }
    const recent = await a.getMemory(thread, 5)
    assert.deepEqual(recent.map((m) => m.id), all.slice(-5))
    const first = await a.loadMessages(thread, { limit: 3, direction: 'newer' })
    const next = await a.loadMessages(thread, { limit: 3, direction: 'newer', cursor: first.messages[2].cursor })
    assert.deepEqual(next.messages.map((m) => m.id), all.slice(3, 6), 'a message\'s own cursor continues after it')
    await assert.rejects(a.loadMessages(thread, { cursor: 'garbage!' }), /cursor is not a valid message cursor/)
    await assert.rejects(a.loadMessages(thread, { cursor: list0Cursor() }), /cursor is not a valid message cursor/)
    await assert.rejects(a.loadMessages(thread, { limit: 0 }), /limit must be between 1 and 1000 \(got 0\)/)
    const threadsPage = await a.listThreads({ limit: 2 })
    const rest = await a.listThreads({ limit: 2, cursor: threadsPage.nextCursor })
    assert.deepEqual([...threadsPage.threads, ...rest.threads].map((t) => t.id), [...threads[alice]].reverse())
    assert.deepEqual((await a.listThreads({ metadata: { tag: 'odd' } })).threads.map((t) => t.id), [threads[alice][1]])
    assert.deepEqual((await a.listThreads({ agentId: 'planner' })).threads.map((t) => t.id), [threads[alice][0]])
    function list0Cursor() {
      return Buffer.from(`t,1,${thread}`).toString('base64url')
    }
  })

  it('searchMemory equals the exact cosine top-k, with filters, through vector_top_k', async () => {
    const a = getMemory(client, { ownerId: alice })
    const qrand = prng(99)
    for (let q = 0; q < 8; q++) {
      const query = Array.from({ length: DIMS }, () => qrand() * 2 - 1)
      const filters = [{}, { threadId: threads[alice][2] }, { role: 'assistant' as const }, { after: iso(baseUs + 300_000) }][q % 4]
      const k = [1, 5, 10, 25][q % 4]
      const exact = [...vectors.entries()]
        .filter(([, x]) => x.owner === alice)
        .filter(([, x]) => !('threadId' in filters) || x.thread === filters.threadId)
        .filter(([, x]) => !('role' in filters) || x.role === filters.role)
        .filter(([, x]) => !('after' in filters) || x.us >= baseUs + 300_000_000 / 1000)
        .map(([id, x]) => ({ id, d: cosineDistance(query, x.v) }))
        .sort((x, y) => x.d - y.d || x.id.localeCompare(y.id))
        .slice(0, k)
      const hits = await a.searchMemory({ embedding: query, k, ...filters })
      assert.deepEqual(hits.map((h) => h.message.id), exact.map((e) => e.id), `query ${q} (${JSON.stringify(filters)}, k ${k})`)
      hits.forEach((h, i) => assert.ok(Math.abs(h.distance - exact[i].d) < 1e-5))
    }
    const { table, index } = embeddingTableOf('test-16')
    const plan = (await client.execute({ sql: `explain query plan ${vectorSearchSql({ table, index })}`, args: ['[0]', '[0]', 10, alice, 10] })).rows
      .map((r) => String(r.detail))
    assert.ok(plan.some((d) => /SCAN t VIRTUAL TABLE/.test(d)), `the plan reads vector_top_k's virtual table: ${plan.join(' | ')}`)
    assert.ok(plan.some((d) => new RegExp(`SEARCH e USING INTEGER PRIMARY KEY`).test(d)), `vectors are fetched by rowid: ${plan.join(' | ')}`)
    assert.ok(!plan.some((d) => new RegExp(`SCAN e\\b`).test(d)), 'the vector table is never scanned')
  })

  it('keyword search uses FTS5 with stemming; hybrid fuses both channels', async () => {
    const a = getMemory(client, { ownerId: alice })
    const kw = await a.keywordSearch({ query: 'invoice', k: 200 })
    assert.equal(kw.length, 3 * 24, 'every "invoices" message of Alice (porter stemming: invoice = invoices)')
    assert.ok(kw.every((h) => h.message.content.includes('invoices')))
    assert.equal((await a.keywordSearch({ query: 'invoice', k: 200, threadId: threads[alice][0] })).length, 24)
    const target = kw[0].message.id
    const hy = await a.hybridSearch({ query: 'invoice', embedding: vectors.get(target)!.v, k: 5 })
    assert.equal(hy[0].message.id, target, 'a message first in both channels is first')
    assert.equal(hy[0].vector_rank, 1)
    assert.ok(hy[0].keyword_rank !== null)
    await assert.rejects(a.keywordSearch({ query: '  ***  ' }), /query has no words to search for/)
  })

  it('bad search input names the field', async () => {
    const a = getMemory(client, { ownerId: alice })
    await assert.rejects(a.searchMemory({ embedding: [1, 2, 3] }), /query embedding has 3 dimensions but model "test-16" stores 16/)
    await assert.rejects(a.searchMemory({ embedding: new Array(DIMS).fill(0.1), model: 'nope' }), /unknown embedding model "nope"; the mirror holds: test-16/)
    await assert.rejects(a.searchMemory({ query: 'text' }), /query text can only be embedded offline for the hash models/)
    await assert.rejects(a.searchMemory({ embedding: new Array(DIMS).fill(0.1), k: 0 }), /k must be between 1 and 1000/)
    await assert.rejects(a.searchMemory({ embedding: new Array(DIMS).fill(0.1), threadId: 'x' }), /threadId must be a UUID/)
  })
})
