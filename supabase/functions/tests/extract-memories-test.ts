// The extract-memories handler against a real (fresh, migrated) database and the fake OpenAI-compatible
// chat server, scripted like a model: a conversation where the user's city changes ("I live in Paris" →
// later "I moved to Berlin") ends with one valid memory (Berlin), the Paris one kept with invalid_at and
// superseded_by, and history rows for both events with their source messages; the same fact again is a
// no-op; another user's memories are never matched; a malformed answer (extraction or decision) retries
// and then dead-letters the job with the reason, changing nothing; run-now; parsing of the answers.
import assert from 'node:assert/strict'
import { createHandler } from '../extract-memories/handler.ts'
import { type Match, parseCandidates, parseDecisions } from '../_shared/memory-extraction.ts'
import { ProviderError } from '../_shared/provider-http.ts'
import { type ChatRequest, FakeChat } from './fake-chat.ts'
import { createThread, type Sql, startTestDatabase, tokenWithRole } from './test-db.ts'

const opts = { sanitizeOps: false, sanitizeResources: false }
const SERVICE = tokenWithRole('service_role')

async function setting(sql: Sql, category: string, key: string, value: unknown): Promise<void> {
  await sql`insert into public.settings (category, key, value) values (${category}, ${key}, ${JSON.stringify(value)}::text::jsonb)
            on conflict (category, key) do update set value = excluded.value`
}

async function say(sql: Sql, threadId: string, turns: [string, string][]): Promise<string[]> {
  const rows = await sql`
    insert into public.messages (thread_id, role, content)
    select ${threadId}, r::public.message_role, c
      from unnest(${turns.map((t) => t[0])}::text[], ${turns.map((t) => t[1])}::text[]) with ordinality as x(r, c, n) order by n
    returning id`
  return rows.map((r) => r.id as string)
}

async function queued(sql: Sql): Promise<number> {
  const [r] = await sql`select (pgmq.metrics('memory_extraction_jobs')).queue_length::int as n`
  return r.n
}

function reject(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof ProviderError && err.code === 'bad_reply' && pattern.test(err.message))
}

Deno.test('extraction answers are checked strictly', () => {
  assert.deepEqual(parseCandidates('```json\n{"memories": [{"kind": "fact", "content": " Lives  in Paris. ", "sources": [2, 1, 2]}]}\n```', 3, 10), [
    { kind: 'fact', content: 'Lives in Paris.', sources: [1, 2] },
  ])
  assert.deepEqual(parseCandidates('{"memories": []}', 3, 10), [])
  assert.equal(parseCandidates('{"memories": [{"kind": "fact", "content": "A"}, {"kind": "fact", "content": "a."}]}', 1, 10).length, 1,
    'repeats (same kind, same words) are dropped')
  reject(() => parseCandidates('I think the user lives in Paris', 1, 10), /not valid JSON/)
  reject(() => parseCandidates('{"facts": []}', 1, 10), /no "memories" array/)
  reject(() => parseCandidates('{"memories": [{"kind": "hobby", "content": "x"}]}', 1, 10), /memories\[0\]\.kind must be fact, preference or event, got "hobby"/)
  reject(() => parseCandidates('{"memories": [{"kind": "fact", "content": ""}]}', 1, 10), /memories\[0\]\.content must be a non-empty string/)
  reject(() => parseCandidates('{"memories": [{"kind": "fact", "content": "x", "sources": [4]}]}', 3, 10), /sources must be message numbers from 1 to 3/)
  const m: Match = { id: 'm1', kind: 'fact', content: 'x', valid_from: '2026-01-01', score: 1, bm25_rank: 1, vector_rank: null, vector_score: null }
  assert.deepEqual(parseDecisions('{"decisions": [{"candidate": 1, "action": "update", "memory_id": "m1"}]}', [{ matches: [m] }]), [
    { action: 'update', memory_id: 'm1' },
  ])
  reject(() => parseDecisions('{"decisions": [{"candidate": 1, "action": "update", "memory_id": "zz"}]}', [{ matches: [m] }]),
    /memory_id must be the id of one of the memories listed for candidate 1/)
  reject(() => parseDecisions('{"decisions": []}', [{ matches: [m] }]), /no decision for candidate 1/)
  reject(() => parseDecisions('{"decisions": [{"candidate": 2, "action": "add"}]}', [{ matches: [m] }]), /candidate must be a number from 1 to 1/)
})

Deno.test('extract-memories handler', opts, async (t) => {
  const db = await startTestDatabase()
  const sql = db.sql
  const chat = await FakeChat.start()
  const env = (name: string) => ({ SUPABASE_DB_URL: db.url, CHAT_TEST_KEY: 'sk-chat' } as Record<string, string>)[name]
  const handler = createHandler({ env, requireThread: async () => {} })
  const call = async (body: unknown = {}, token = SERVICE) => {
    const res = await handler(
      new Request('http://localhost/extract-memories', { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(body) }),
    )
    return { status: res.status, body: await res.json() }
  }
  // A scripted model: facts about where the user lives; decisions replace the most similar memory.
  let malformed: 'extraction' | 'decision' | null = null
  chat.respond = (req: ChatRequest) => {
    const system = req.messages[0]?.content ?? ''
    const user = req.messages[1]?.content ?? ''
    if (/keep a user's long-term memories consistent/.test(system)) {
      if (malformed === 'decision') return '{"decisions": [{"candidate": 1, "action": "update", "memory_id": "not-listed"}]}'
      const id = /- id ([0-9a-f-]{36})/.exec(user)?.[1]
      return JSON.stringify({ decisions: [{ candidate: 1, action: 'update', memory_id: id }] })
    }
    if (malformed === 'extraction') return 'Sure! The user lives somewhere.'
    const memories = []
    for (const line of user.split('\n')) {
      const m = /^\[(\d+)\] user: .*?(?:live in|moved to) (\w+)/.exec(line)
      if (m) memories.push({ kind: 'fact', content: `Lives in ${m[2]}.`, sources: [Number(m[1])] })
    }
    return JSON.stringify({ memories })
  }
  try {
    await sql`insert into public.models (id, provider, display_name, context_window) values ('fake-chat', 'openai', 'Fake', 8000)`
    await setting(sql, 'memory_jobs', 'backoff_base_seconds', 0)
    await setting(sql, 'memory_jobs', 'max_attempts', 2)
    await setting(sql, 'memories', 'extract_every_messages', 2)
    await setting(sql, 'memories', 'extraction_enabled', true)

    await t.step('enabled without a model: nothing is queued (there is no offline extractor)', async () => {
      const { threadId } = await createThread(sql, 'nomodel')
      await say(sql, threadId, [['user', 'I live in Rome.'], ['assistant', 'Nice.']])
      assert.equal(await queued(sql), 0)
    })

    await setting(sql, 'memories', 'model', 'fake-chat')
    await setting(sql, 'memories', 'base_url', chat.baseUrl)
    await setting(sql, 'memories', 'api_key_env', 'CHAT_TEST_KEY')

    const { userId, threadId } = await createThread(sql, 'alice')
    const bob = await createThread(sql, 'bob')
    await sql`insert into public.memories (owner_id, content) values (${bob.userId}, 'Lives in Paris.')`

    await t.step('Paris → Berlin: one valid memory, the old one kept with invalid_at, history for both events', async () => {
      const paris = await say(sql, threadId, [['user', 'Hi! I live in Paris.'], ['assistant', 'Paris is lovely.']])
      assert.equal(await queued(sql), 1, 'two new turns queue one job')
      const sent = chat.requests.length
      const r1 = await call({})
      assert.equal(r1.status, 207)
      assert.deepEqual(r1.body.done.length, 1, JSON.stringify(r1.body))
      const [p] = await sql`select id, content, valid_from, source, source_message_ids, source_thread_id from public.memories where owner_id = ${userId}`
      assert.equal(p.content, 'Lives in Paris.')
      assert.equal(p.source, 'extraction')
      assert.deepEqual(p.source_message_ids, [paris[0]])
      assert.equal(p.source_thread_id, threadId)
      const [m0] = await sql`select created_at from public.messages where id = ${paris[0]}`
      assert.equal(+p.valid_from, +m0.created_at, 'valid from the time the user said it')
      assert.deepEqual(chat.requests.slice(sent).map((r) => /consistent/.test(r.messages[0].content)), [false],
        'no match among Alice\'s memories (Bob\'s Paris does not count): added without a decision call')

      await say(sql, threadId, [['user', 'Can you recommend a book?'], ['assistant', 'Try Dune.']])
      await call({})
      assert.equal((await sql`select count(*)::int as n from public.memories where owner_id = ${userId}`)[0].n, 1, 'nothing to remember')

      const berlin = await say(sql, threadId, [['user', 'By the way, I moved to Berlin last month.'], ['assistant', 'Welcome to Berlin!']])
      const before = chat.requests.length
      await call({})
      const decision = chat.requests.slice(before).find((r) => /consistent/.test(r.messages[0].content))
      assert.ok(decision, 'a candidate with a similar memory goes to the decision call')
      assert.match(decision!.messages[1].content, new RegExp(`id ${p.id} \\(fact, since .*\\): Lives in Paris\\.`))
      const rows = await sql`select id, content, invalid_at, superseded_by, supersedes, valid_from from public.memories
                              where owner_id = ${userId} order by created_at`
      assert.deepEqual(rows.map((r) => r.content), ['Lives in Paris.', 'Lives in Berlin.'])
      const [old, now] = rows
      assert.equal(now.invalid_at, null, 'Berlin is valid')
      assert.equal(now.supersedes, old.id)
      assert.equal(old.superseded_by, now.id)
      const [mb] = await sql`select created_at from public.messages where id = ${berlin[0]}`
      assert.equal(+old.invalid_at, +mb.created_at, 'Paris stopped holding when the user said they moved')
      const valid = await sql`select content from public.memories where owner_id = ${userId} and invalid_at is null`
      assert.deepEqual(valid.map((r) => r.content), ['Lives in Berlin.'], 'exactly one valid memory')
      const history = await sql`select event, memory_id, previous_memory_id, old_content, new_content, source, source_message_ids, details
                                 from public.memory_history where owner_id = ${userId} order by id`
      assert.deepEqual(history.map((h) => [h.event, h.old_content, h.new_content, h.source]), [
        ['add', null, 'Lives in Paris.', 'extraction'],
        ['update', 'Lives in Paris.', 'Lives in Berlin.', 'extraction'],
      ])
      assert.equal(history[1].memory_id, now.id)
      assert.equal(history[1].previous_memory_id, old.id)
      assert.deepEqual(history[1].source_message_ids, [berlin[0]])
      assert.equal(history[1].details.decided_by, 'model')
      assert.equal(history[1].details.matches[0].id, old.id, 'the history keeps what the candidate was matched against')
      assert.equal(history[0].details.decided_by, 'no_match')
    })

    await t.step('the same fact again is a no-op: no new memory, no history, no decision call', async () => {
      const before = chat.requests.length
      await say(sql, threadId, [['user', 'Yes, I live in Berlin now.'], ['assistant', 'Noted.']])
      const r = await call({})
      assert.equal(r.body.done.length, 1)
      assert.equal(chat.requests.length - before, 1, 'only the extraction call')
      assert.equal((await sql`select count(*)::int as n from public.memories where owner_id = ${userId}`)[0].n, 2)
      assert.equal((await sql`select count(*)::int as n from public.memory_history where owner_id = ${userId}`)[0].n, 2)
    })

    for (const kind of ['extraction', 'decision'] as const) {
      await t.step(`a malformed ${kind} answer retries, then dead-letters the job with the reason; nothing changes`, async () => {
        const snapshot = async () => ({
          memories: await sql`select id, content, invalid_at from public.memories where owner_id = ${userId} order by id`,
          history: (await sql`select count(*)::int as n from public.memory_history where owner_id = ${userId}`)[0].n,
          cursor: (await sql`select extracted_through from public.thread_memory_progress where thread_id = ${threadId}`)[0].extracted_through,
        })
        await say(sql, threadId, [['user', kind === 'decision' ? 'Actually I moved to Madrid.' : 'Tell me a joke.'], ['assistant', 'Ok.']])
        const before = await snapshot()
        malformed = kind
        const first = await call({})
        assert.deepEqual([first.body.failed.length, first.body.dead_lettered.length], [1, 0], 'the first attempt is retried')
        const second = await call({})
        assert.equal(second.body.dead_lettered.length, 1, 'the last attempt dead-letters it')
        malformed = null
        const [f] = await sql`select attempts, last_error, queue, thread_id from public.memory_job_failures
                               where thread_id = ${threadId} order by id desc limit 1`
        assert.equal(f.queue, 'memory_extraction_jobs')
        assert.equal(f.attempts, 2)
        assert.match(f.last_error, kind === 'extraction' ? /bad_reply: the answer is not valid JSON/ : /bad_reply: decisions\[0\]\.memory_id must be the id/)
        assert.deepEqual(await snapshot(), before, 'no memory, history row or cursor changed')
        assert.equal(await queued(sql), 0)
      })
    }

    await t.step('run now: a thread extracted on request, with totals', async () => {
      const other = await createThread(sql, 'carol')
      await setting(sql, 'memories', 'extract_every_messages', 100)
      await say(sql, other.threadId, [['user', 'I live in Lisbon.'], ['assistant', 'Great city.']])
      assert.equal(await queued(sql), 0, 'under the count: nothing queued')
      const r = await call({ thread_id: other.threadId })
      assert.equal(r.status, 200)
      assert.equal(r.body.added.length, 1)
      assert.equal(r.body.messages, 2)
      const [m] = await sql`select content from public.memories where id = ${r.body.added[0]}`
      assert.equal(m.content, 'Lives in Lisbon.')
      assert.equal((await call({ thread_id: crypto.randomUUID() })).status, 404)
      assert.equal((await call({ thread_id: other.threadId, batch_size: 1 })).status, 400)
    })
  } finally {
    await chat.close()
    await db.stop()
  }
})
