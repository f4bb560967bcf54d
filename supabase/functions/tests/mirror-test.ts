// The mirror handler against a real (fresh, migrated) database and a LibSQL file: request checks, a LibSQL URL
// that cannot be opened, randomised operation sequences (threads, messages, agent states, documents,
// embeddings; replayed changes, reordered batches, runs killed between applying and deleting) that must end
// with mirror:verify finding no difference — for several seeds —, dead-lettering of changes that can never
// apply while the rest of their batch is applied, and verify reporting tampered rows.
import assert from 'node:assert/strict'
import { applyChanges } from '../_shared/libsql/apply.ts'
import type { SqlClient } from '../_shared/libsql/sql-client.ts'
import { verifyMirror } from '../_shared/libsql/verify.ts'
import { processMirrorBatch } from '../mirror/batch.ts'
import { createHandler } from '../mirror/handler.ts'
import { openLibsql } from '../mirror/libsql.ts'
import { type ChangeStore, postgresChangeStore, postgresSnapshotSource } from '../mirror/store.ts'
import { createThread, type Sql, startTestDatabase, tokenWithRole } from './test-db.ts'

const opts = { sanitizeOps: false, sanitizeResources: false }
const SERVICE = tokenWithRole('service_role')

/** mulberry32: a small seeded PRNG, so a failing seed can be run again. */
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

async function queueLength(sql: Sql): Promise<number> {
  const [r] = await sql`select (pgmq.metrics('libsql_mirror')).queue_length::int as n`
  return r.n
}

/** Runs the worker until the queue is empty (waiting out visibility timeouts of killed runs). */
async function drain(store: ChangeStore, libsql: SqlClient, sql: Sql): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const r = await processMirrorBatch({ store, libsql }, { batchSize: 500, visibilityTimeoutSeconds: 1 })
    if ((await queueLength(sql)) === 0) return
    if (r.read === 0) await new Promise((res) => setTimeout(res, 250))
  }
  throw new Error('the mirror queue did not drain')
}

const vec = (rand: () => number, dims: number) => '[' + Array.from({ length: dims }, () => (rand() * 2 - 1).toFixed(4)).join(',') + ']'

Deno.test('mirror handler', opts, async (t) => {
  const db = await startTestDatabase()
  const sql = db.sql
  const dir = await Deno.makeTempDir({ prefix: 'mirror-test-' })
  const url = `file:${dir}/mirror.db`
  const env = (name: string) => ({ SUPABASE_DB_URL: db.url, LIBSQL_DATABASE_URL: url } as Record<string, string>)[name]
  const handler = createHandler({ env })
  const call = async (body: unknown = {}, token = SERVICE, h = handler) => {
    const res = await h(new Request('http://localhost/mirror', { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(body) }))
    return { status: res.status, body: await res.json() }
  }
  const libsql = await openLibsql({ url })
  const store = postgresChangeStore(sql)
  const verify = () => verifyMirror(postgresSnapshotSource(sql), libsql)
  await sql`insert into public.embedding_models (name, provider, provider_model, dims) values ('test-8', 'hash', 'test-8', 8)`

  try {
    await t.step('refuses requests that are not a service_role POST with a valid body', async () => {
      const get = await handler(new Request('http://localhost/mirror', { headers: { authorization: `Bearer ${SERVICE}` } }))
      assert.equal(get.status, 405)
      await get.body?.cancel()
      const none = await handler(new Request('http://localhost/mirror', { method: 'POST' }))
      assert.equal(none.status, 401)
      await none.body?.cancel()
      const user = await call({}, tokenWithRole('authenticated'))
      assert.equal(user.status, 403)
      const bad = await call({ batch_size: 0 })
      assert.equal(bad.status, 400)
      assert.match(bad.body.error.message, /batch_size must be a whole number from 1 to 5000, got 0/)
      const unknown = await call({ batchsize: 5 })
      assert.match(unknown.body.error.message, /unknown field "batchsize"/)
    })

    await t.step('a LibSQL URL that cannot be opened is a 503 naming the URL; nothing is taken off the queue', async () => {
      const { threadId } = await createThread(sql, 'nowhere')
      const before = await queueLength(sql)
      assert.ok(before > 0)
      const broken = createHandler({ env: (n) => (n === 'LIBSQL_DATABASE_URL' ? 'file:/nonexistent-dir/sub/mirror.db' : env(n)) })
      const r = await call({}, SERVICE, broken)
      assert.equal(r.status, 503)
      assert.equal(r.body.error.code, 'libsql_unavailable')
      assert.match(r.body.error.message, /cannot open the LibSQL database file:\/nonexistent-dir\/sub\/mirror\.db \(LIBSQL_DATABASE_URL\)/)
      assert.equal(await queueLength(sql), before)
      const unset = await call({}, SERVICE, createHandler({ env: (n) => (n === 'LIBSQL_DATABASE_URL' ? undefined : env(n)) }))
      assert.equal(unset.status, 503)
      assert.match(unset.body.error.message, /LIBSQL_DATABASE_URL is not set/)
      await sql`delete from public.memory_threads where id = ${threadId}`
    })

    await t.step('the handler applies a batch: rows, versions, FTS, an agent state, a document and its chunks', async () => {
      const { userId, threadId } = await createThread(sql, 'alice')
      await sql`insert into public.messages (thread_id, role, content, metadata) values
                (${threadId}, 'user', 'The quick brown fox', '{"k": 1}'), (${threadId}, 'assistant', 'jumps over dogs', '{}')`
      await sql`insert into public.agent_states (thread_id, agent_id, state) values (${threadId}, 'planner', '{"step": 1}')`
      const [doc] = await sql`insert into public.documents (owner_id, title, content_hash) values (${userId}, 'Doc', ${'a'.repeat(64)}) returning id`
      await sql`insert into public.document_chunks (document_id, content, heading_path) values (${doc.id}, 'refund policy', '{Doc,Refunds}')`
      const r = await call({ batch_size: 100 })
      assert.equal(r.status, 200, JSON.stringify(r.body))
      assert.ok(r.body.applied.length >= 6)
      assert.equal(await queueLength(sql), 0)
      const m = (await libsql.execute({ sql: 'select content, metadata, token_count_exact from messages where thread_id = ? order by created_us', args: [threadId] })).rows
      assert.deepEqual(m.map((x) => x.content), ['The quick brown fox', 'jumps over dogs'])
      assert.deepEqual(JSON.parse(String(m[0].metadata)), { k: 1 })
      const fts = (await libsql.execute({ sql: "select m.content from messages_fts f join messages m on m.rowid = f.rowid where messages_fts match 'dog'" })).rows
      assert.deepEqual(fts.map((x) => x.content), ['jumps over dogs'], 'FTS5 with the porter stemmer finds "dogs" for "dog"')
      const chunk = (await libsql.execute({ sql: "select search_text from document_chunks_fts where document_chunks_fts match 'refund'" })).rows
      assert.equal(chunk.length, 1)
      const [status] = await sql`select * from util.libsql_mirror_status`
      assert.equal(Number(status.queue_depth), 0)
      assert.ok(status.last_applied_at !== null)
      assert.equal(Number(status.last_applied_version), Number(status.latest_version))
      assert.deepEqual((await verify()).differences, [])
    })

    for (const seed of [1, 2, 3, 4]) {
      await t.step(`random operations, replays, reordered batches and killed runs converge (seed ${seed})`, async () => {
        const rand = prng(seed)
        const pick = <T>(xs: T[]): T | undefined => (xs.length ? xs[Math.floor(rand() * xs.length)] : undefined)
        const threads: string[] = []
        const owners = new Map<string, string>()
        let killed = 0, replayed = 0, reordered = 0
        for (let step = 0; step < 120; step++) {
          const op = rand()
          const thread = pick(threads)
          if (op < 0.1 || !thread) {
            const { userId, threadId } = await createThread(sql, `seed${seed}`)
            threads.push(threadId)
            owners.set(threadId, userId)
          } else if (op < 0.17) {
            await sql`update public.memory_threads set name = ${'n' + step}, metadata = ${sql.json({ step })} where id = ${thread}`
          } else if (op < 0.2) {
            await sql`delete from public.memory_threads where id = ${thread}`
            threads.splice(threads.indexOf(thread), 1)
          } else if (op < 0.42) {
            const n = 1 + Math.floor(rand() * 3)
            await sql`insert into public.messages (thread_id, role, content)
                      select ${thread}, 'user', 'message ' || g || ' of step ' || ${step} from generate_series(1, ${n}) g`
          } else if (op < 0.5) {
            await sql`update public.messages set content = content || ' (edited)' where id = (
                        select id from public.messages where thread_id = ${thread} order by random() limit 1)`
          } else if (op < 0.55) {
            await sql`delete from public.messages where id = (select id from public.messages where thread_id = ${thread} order by random() limit 1)`
          } else if (op < 0.63) {
            await sql`insert into public.agent_states (thread_id, agent_id, state) values (${thread}, ${pick(['a', 'b'])!}, ${sql.json({ step })})
                      on conflict (thread_id, agent_id) do update set state = excluded.state`
          } else if (op < 0.66) {
            await sql`delete from public.agent_states where thread_id = ${thread} and agent_id = ${pick(['a', 'b'])!}`
          } else if (op < 0.74) {
            await sql`insert into public.embeddings (owner_id, source_table, source_id, model, content_hash, embedding)
                      select m.owner_id, 'messages', m.id, 'test-8', ${'b'.repeat(64)}, ${vec(rand, 8)}::extensions.vector
                        from public.messages m where m.thread_id = ${thread} order by random() limit 1
                      on conflict (source_table, source_id, model) do update set embedding = excluded.embedding`
          } else if (op < 0.77) {
            await sql`delete from public.embeddings where id = (select e.id from public.embeddings e join public.messages m on m.id = e.source_id
                                                                 where m.thread_id = ${thread} order by random() limit 1)`
          } else if (op < 0.85) {
            // A plain run of the worker with a small batch.
            await processMirrorBatch({ store, libsql, random: rand }, { batchSize: 1 + Math.floor(rand() * 15), visibilityTimeoutSeconds: 30 })
          } else if (op < 0.9) {
            // Replays: copies of queued changes (same versions) sent again.
            const [r] = await sql`select count(*)::int as n from pgmq.send_batch('libsql_mirror', array(
                                    select q.message from pgmq.q_libsql_mirror q order by random() limit 5))`
            replayed += Number(r.n)
            if (rand() < 0.5) {
              // …and a replay of a change that was already applied and deleted: a fresh copy of the oldest
              // version of some row, sent after newer ones were applied.
              await sql`select pgmq.send('libsql_mirror', jsonb_build_object('t', 'messages', 'k', jsonb_build_array(id), 'o', owner_id, 'op', 'update', 'v', 1))
                          from public.messages order by random() limit 1`
              replayed++
            }
          } else if (op < 0.95) {
            // Reordered batches: two batches read, the later one applied first.
            const first = await store.read(1 + Math.floor(rand() * 10), 30)
            const second = await store.read(1 + Math.floor(rand() * 10), 30)
            for (const batch of [second, first]) {
              const r = await applyChanges(libsql, batch)
              if (r.applied.length) await store.complete(r.applied)
            }
            if (second.length) reordered++
          } else {
            // Killed between applying and deleting from the queue: the changes come back after 1 s.
            const dying: ChangeStore = { ...store, complete: () => Promise.reject(new Error('killed')) }
            await assert.rejects(processMirrorBatch({ store: dying, libsql }, { batchSize: 1 + Math.floor(rand() * 20), visibilityTimeoutSeconds: 1 }), /killed/)
            killed++
          }
        }
        await drain(store, libsql, sql)
        const report = await verify()
        assert.deepEqual(report.differences, [], `seed ${seed}: ${JSON.stringify(report.differences.slice(0, 5))}`)
        for (const tr of report.tables) assert.equal(tr.supabase_hash, tr.libsql_hash, `${tr.table} hashes are equal`)
        assert.ok(report.tables.find((x) => x.table === 'messages')!.supabase_rows > 0)
        const [f] = await sql`select count(*)::int as n from public.libsql_mirror_failures`
        assert.equal(f.n, 0, 'nothing was dead-lettered')
        console.log(`seed ${seed}: ${killed} killed runs, ${replayed} replayed changes, ${reordered} reordered batch pairs`)
      })
    }

    await t.step('a change for an unregistered model is dead-lettered with the reason; the rest of the batch is applied', async () => {
      await sql`delete from public.libsql_mirror_failures`
      const { threadId } = await createThread(sql, 'bob')
      await sql`select pgmq.send('libsql_mirror', jsonb_build_object('t', 'embeddings', 'k', jsonb_build_array('messages', gen_random_uuid(), 'no-such-model'),
                                                                      'o', null, 'op', 'insert', 'v', nextval('util.libsql_mirror_version')))`
      await sql`select pgmq.send('libsql_mirror', '{"t": "no_such_table", "k": ["x"], "v": 5}'::jsonb)`
      await sql`insert into public.messages (thread_id, role, content) values (${threadId}, 'user', 'after the bad ones')`
      const r = await call({ batch_size: 50 })
      assert.equal(r.status, 200)
      assert.equal(r.body.dead_lettered.length, 2)
      assert.equal(await queueLength(sql), 0)
      const failures = await sql`select source_table, last_error, attempts from public.libsql_mirror_failures order by id`
      assert.deepEqual(failures.map((f) => f.source_table), ['embeddings', 'no_such_table'])
      assert.match(failures[0].last_error, /embedding model "no-such-model" is not registered/)
      assert.match(failures[1].last_error, /table no_such_table is not mirrored to LibSQL/)
      const m = (await libsql.execute({ sql: 'select content from messages where thread_id = ?', args: [threadId] })).rows
      assert.deepEqual(m.map((x) => x.content), ['after the bad ones'])
      const [archived] = await sql`select count(*)::int as n from pgmq.a_libsql_mirror a where a.msg_id = any(${r.body.dead_lettered}::bigint[])`
      assert.equal(archived.n, 2, 'dead-lettered changes are archived')
    })

    await t.step('a LibSQL write that fails is retried with backoff, then dead-lettered after max_attempts', async () => {
      await sql`insert into public.settings (category, key, value) values ('libsql_mirror', 'max_attempts', '2'), ('libsql_mirror', 'backoff_base_seconds', '0')
                on conflict (category, key) do update set value = excluded.value`
      const { threadId } = await createThread(sql, 'carol')
      const broken: SqlClient = { ...libsql, batch: () => Promise.reject(new Error('disk I/O error')), execute: (s) => libsql.execute(s), close: () => {} }
      const first = await processMirrorBatch({ store, libsql: broken }, { batchSize: 10, visibilityTimeoutSeconds: 1 })
      assert.equal(first.failed.length, 1)
      assert.equal(first.dead_lettered.length, 0)
      assert.match(first.errors[0].error, /LibSQL write failed: disk I\/O error/)
      const second = await processMirrorBatch({ store, libsql: broken }, { batchSize: 10, visibilityTimeoutSeconds: 1 })
      assert.equal(second.dead_lettered.length, 1)
      const [f] = await sql`select last_error, attempts from public.libsql_mirror_failures where row_key = ${sql.json([threadId])}`
      assert.equal(f.attempts, 2)
      await sql`delete from public.settings where category = 'libsql_mirror'`
    })

    await t.step('a backfill (pages of changes for every row) brings back what the dead-lettered change missed', async () => {
      const missing = (await verify()).differences
      assert.deepEqual(missing.map((d) => `${d.table}:${d.kind}`), ['memory_threads:missing_in_libsql'], 'carol\'s thread never reached LibSQL')
      for (const table of ['memory_threads', 'messages', 'agent_states', 'documents', 'document_chunks', 'embeddings']) {
        let after: unknown = null
        for (;;) {
          const [page] = await sql`select * from util.enqueue_libsql_mirror_backfill(${table}, ${after === null ? null : sql.json(after as never)}, 7)`
          if (page.sent === 0) break
          after = page.last_key
        }
      }
      await drain(store, libsql, sql)
      assert.deepEqual((await verify()).differences, [])
    })

    await t.step('verify reports every difference: a missing row, an extra row, changed content', async () => {
      const [m] = await libsql.execute({ sql: 'select id from messages limit 1' }).then((r) => r.rows)
      await libsql.execute({ sql: "update messages set content = 'tampered' where id = ?", args: [m.id as string] })
      const [th] = await libsql.execute({ sql: 'select id from memory_threads limit 1' }).then((r) => r.rows)
      await libsql.execute({ sql: 'delete from memory_threads where id = ?', args: [th.id as string] })
      await libsql.execute({
        sql: `insert into agent_states (thread_id, agent_id, owner_id, state, version, created_at, updated_at, created_us, mirror_version)
              values ('00000000-0000-0000-0000-000000000001', 'ghost', 'x', '{}', 1, 'now', 'now', 0, 1)`,
      })
      const report = await verify()
      const kinds = report.differences.map((d) => `${d.table}:${d.kind}`).sort()
      assert.deepEqual(kinds, ['agent_states:only_in_libsql', 'memory_threads:missing_in_libsql', 'messages:content_differs'])
      assert.deepEqual(report.differences.find((d) => d.kind === 'content_differs')!.columns, ['content'])
      assert.notEqual(report.tables.find((x) => x.table === 'messages')!.libsql_hash, report.tables.find((x) => x.table === 'messages')!.supabase_hash)
    })
  } finally {
    libsql.close()
    await db.stop()
    await Deno.remove(dir, { recursive: true })
  }
})
