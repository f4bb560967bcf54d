// The summarize handler against a real (fresh, migrated) database, with the extractive summarizer and the
// fake OpenAI-compatible chat server: request checks; the threshold queues one job; each step extends the
// previous summary with only the messages after summary_through and never touches the recent tail; the
// exact token count; no message changes; an edit to a summarized message rebuilds the summary from before
// it; provider failures retry and then dead-letter with the reason, changing nothing; run-now.
import assert from 'node:assert/strict'
import { encode, encoding } from '../_shared/tokenizer.ts'
import { extractiveSummary, sentences } from '../_shared/extractive.ts'
import { ThreadAccessError } from '../_shared/memory-jobs.ts'
import { fitSummary } from '../_shared/summarizer.ts'
import { createHandler } from '../summarize/handler.ts'
import { FakeChat } from './fake-chat.ts'
import { createThread, type Sql, startTestDatabase, tokenWithRole } from './test-db.ts'

const opts = { sanitizeOps: false, sanitizeResources: false }
const SERVICE = tokenWithRole('service_role')

async function setting(sql: Sql, category: string, key: string, value: unknown): Promise<void> {
  await sql`insert into public.settings (category, key, value) values (${category}, ${key}, ${JSON.stringify(value)}::text::jsonb)
            on conflict (category, key) do update set value = excluded.value`
}

/** Messages as one statement, each with an exact token count; returns their ids in order. */
async function addTurns(sql: Sql, threadId: string, contents: string[], tokens = 20): Promise<string[]> {
  const rows = await sql`
    insert into public.messages (thread_id, role, content, token_count)
    select ${threadId}, (case when n % 2 = 1 then 'user' else 'assistant' end)::public.message_role, c, ${tokens}
      from unnest(${contents}::text[]) with ordinality as x(c, n) order by n
    returning id`
  return rows.map((r) => r.id as string)
}

async function queued(sql: Sql): Promise<number> {
  const [r] = await sql`select (pgmq.metrics('summary_jobs')).queue_length::int as n`
  return r.n
}

Deno.test('extractive summarizer', async (t) => {
  const enc = await encoding('o200k_base')
  await t.step('splits sentences and keeps the summary within the budget, counted exactly', () => {
    assert.deepEqual(sentences('I live in Paris. I like jazz! Do you?\nNew line here'), [
      'I live in Paris.',
      'I like jazz!',
      'Do you?',
      'New line here',
    ])
    const messages = Array.from({ length: 40 }, (_, i) => ({
      role: (i % 2 ? 'assistant' : 'user') as 'user' | 'assistant',
      content: `Sentence ${i} about the Lisbon trip and the budget of ${i * 10} euros. Filler words here.`,
    }))
    for (const budget of [20, 50, 120, 400]) {
      const s = extractiveSummary(enc, null, messages, budget)
      assert.ok(s.length > 0, `budget ${budget}: a summary`)
      assert.ok(encode(enc, s).length <= budget, `budget ${budget}: ${encode(enc, s).length} tokens`)
    }
  })
  await t.step('extends the previous summary: its sentences stay candidates, new ones are labelled by speaker', () => {
    const s = extractiveSummary(enc, 'User: My name is Ann.', [{ role: 'user', content: 'I moved to Berlin in May.' }], 200)
    assert.equal(s, 'User: My name is Ann. User: I moved to Berlin in May.')
    const tools = extractiveSummary(enc, null, [{ role: 'tool', content: '{"x": 1}', tool_name: 'search' }], 50)
    assert.equal(tools, '', 'tool results are not summarized')
  })
  await t.step('fitSummary cuts a long text after a whole sentence', () => {
    const { summary, tokens } = fitSummary(enc, 'One two three. Four five six seven eight nine ten. Eleven.', 8)
    assert.equal(summary, 'One two three.')
    assert.equal(tokens, encode(enc, summary).length)
  })
})

Deno.test('summarize handler', opts, async (t) => {
  const db = await startTestDatabase()
  const sql = db.sql
  const chat = await FakeChat.start()
  const env = (name: string) => ({ SUPABASE_DB_URL: db.url, CHAT_TEST_KEY: 'sk-chat' } as Record<string, string>)[name]
  const handler = createHandler({ env, requireThread: async () => {} })
  const call = async (body: unknown = {}, token = SERVICE) => {
    const res = await handler(
      new Request('http://localhost/summarize', { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(body) }),
    )
    return { status: res.status, body: await res.json() }
  }
  /** Runs the queue until it is empty (at most `max` batches). */
  const drain = async (max = 50) => {
    for (let i = 0; i < max && (await queued(sql)) > 0; i++) await call({})
  }
  const cursorOf = async (id: string) =>
    (await sql`select private.encode_cursor('m', created_at, id) as c from public.messages where id = ${id}`)[0].c as string
  try {
    await setting(sql, 'memory_jobs', 'backoff_base_seconds', 0)
    await setting(sql, 'memory_jobs', 'max_attempts', 2)
    await setting(sql, 'summaries', 'keep_recent_tokens', 100)
    await setting(sql, 'summaries', 'threshold_tokens', 300)
    await setting(sql, 'summaries', 'max_input_tokens', 200)
    await setting(sql, 'summaries', 'max_summary_tokens', 60)

    await t.step('refuses what is not a service_role or signed-in POST with a valid body', async () => {
      const get = await handler(new Request('http://localhost/summarize', { headers: { authorization: `Bearer ${SERVICE}` } }))
      assert.equal(get.status, 405)
      await get.body?.cancel()
      const none = await handler(new Request('http://localhost/summarize', { method: 'POST' }))
      assert.equal(none.status, 401)
      await none.body?.cancel()
      assert.equal((await call({}, tokenWithRole('anon'))).status, 403)
      const user = await call({}, tokenWithRole('authenticated'))
      assert.equal(user.status, 403, 'a user may not run the queue')
      assert.match(user.body.error.message, /pass thread_id/)
      const bad = await call({ thread_id: 'nope' })
      assert.equal(bad.status, 400)
      assert.equal(bad.body.error.message, 'thread_id must be a uuid')
      const extra = await call({ batch_size: 0 })
      assert.match(extra.body.error.message, /batch_size must be a whole number from 1 to 100, got 0/)
    })

    await t.step('disabled (the default): messages queue nothing', async () => {
      const { threadId } = await createThread(sql, 'off')
      await addTurns(sql, threadId, Array.from({ length: 30 }, (_, i) => `Off message ${i}.`))
      assert.equal(await queued(sql), 0)
    })

    await setting(sql, 'summaries', 'enabled', true)

    await t.step('extractive: the threshold queues ONE job; steps extend the summary up to the recent tail', async () => {
      const { threadId } = await createThread(sql, 'ext')
      const contents = Array.from({ length: 40 }, (_, i) => `Point number ${i} concerns topic ${String.fromCharCode(65 + (i % 26))}${i}.`)
      // 14 × 20 = 280 tokens: under the threshold; the 15th crosses it.
      const ids = await addTurns(sql, threadId, contents.slice(0, 14))
      assert.equal(await queued(sql), 0, 'under the threshold nothing is queued')
      ids.push(...await addTurns(sql, threadId, contents.slice(14, 15)))
      assert.equal(await queued(sql), 1, 'crossing the threshold queues one job')
      ids.push(...await addTurns(sql, threadId, contents.slice(15)))
      assert.equal(await queued(sql), 1, 'more messages while one is pending queue no second job')
      const before = await sql`select id, content, token_count, created_at from public.messages where thread_id = ${threadId} order by created_at`

      const first = await call({})
      assert.equal(first.status, 207)
      assert.equal(first.body.done.length, 1)
      const [t1] = await sql`select summary, summary_through, summary_token_count from public.memory_threads where id = ${threadId}`
      // max_input_tokens 200 = 10 messages per step.
      assert.equal(t1.summary_through, await cursorOf(ids[9]), 'the first step covers the first 10 messages')
      await drain()
      const [thread] = await sql`select summary, summary_through, summary_token_count from public.memory_threads where id = ${threadId}`
      // 40 messages × 20 tokens, the newest 5 (100 tokens) kept verbatim.
      assert.equal(thread.summary_through, await cursorOf(ids[34]), 'summary_through is the newest summarized message')
      const enc = await encoding('o200k_base')
      assert.equal(thread.summary_token_count, encode(enc, thread.summary).length, 'the stored count is exact')
      assert.ok(thread.summary_token_count <= 60, 'and within max_summary_tokens')
      for (const s of sentences(thread.summary)) {
        assert.ok(contents.some((c) => s.endsWith(c)), `every summary sentence comes from a message: ${s}`)
      }
      const steps = await sql`select summarized_from, summary_through, message_count, based_on, provider from public.thread_summaries
                               where thread_id = ${threadId} order by id`
      assert.deepEqual(steps.map((s) => s.message_count), [10, 10, 10, 5])
      assert.ok(steps.every((s, i) => i === 0 ? s.based_on === null : s.based_on !== null), 'each step extends the previous one')
      for (let i = 1; i < steps.length; i++) {
        assert.equal(steps[i].summarized_from, await cursorOf(ids[i * 10]), 'steps are contiguous: each starts after the previous one')
      }
      assert.ok(steps.every((s) => s.provider === 'extractive'))
      const after = await sql`select id, content, token_count, created_at from public.messages where thread_id = ${threadId} order by created_at`
      assert.deepEqual(after, before, 'no message was changed or deleted')
      const [p] = await sql`select unsummarized_tokens, summary_queued from public.thread_memory_progress where thread_id = ${threadId}`
      assert.deepEqual([Number(p.unsummarized_tokens), p.summary_queued], [100, false], 'only the tail is left, nothing queued')
    })

    await t.step('an edit to a summarized message marks the summary stale and rebuilds it from before that message', async () => {
      const { threadId } = await createThread(sql, 'edit')
      const ids = await addTurns(sql, threadId, Array.from({ length: 30 }, (_, i) => `Original sentence ${i} with detail${i}.`))
      await drain()
      const steps = await sql`select id from public.thread_summaries where thread_id = ${threadId} order by id`
      assert.equal(steps.length, 3, 'three steps of 10, 10 and 5 messages')
      // Message 12 is in step 2: step 1 stays valid, steps 2 and 3 become stale.
      await sql`update public.messages set content = 'Rewritten sentence twelve about zebras.' where id = ${ids[12]}`
      const [p] = await sql`select summary_stale_from, summary_queued from public.thread_memory_progress where thread_id = ${threadId}`
      assert.equal(p.summary_stale_from, await cursorOf(ids[12]))
      assert.equal(p.summary_queued, true, 'a rebuild is queued')
      assert.deepEqual((await sql`select stale from public.thread_summaries where thread_id = ${threadId} order by id`).map((r) => r.stale),
        [false, true, true])
      await drain()
      const rebuilt = await sql`select based_on, summarized_from from public.thread_summaries where thread_id = ${threadId} order by id`
      assert.equal(rebuilt[3].based_on, steps[0].id, 'the rebuild extends the last step before the edit')
      assert.equal(rebuilt[3].summarized_from, await cursorOf(ids[10]))
      const [thread] = await sql`select summary, summary_through from public.memory_threads where id = ${threadId}`
      assert.equal(thread.summary_through, await cursorOf(ids[24]))
      assert.ok(!/Original sentence 12 /.test(thread.summary), 'the old text is gone from the summary')
      const [q] = await sql`select summary_stale_from from public.thread_memory_progress where thread_id = ${threadId}`
      assert.equal(q.summary_stale_from, null, 'no longer stale')
      // A token-count change (the embedding worker's) is not an edit.
      await sql`update public.messages set token_count = 21 where id = ${ids[1]}`
      assert.equal(await queued(sql), 0)
    })

    await sql`insert into public.models (id, provider, display_name, context_window) values ('fake-chat', 'openai', 'Fake', 8000)`
    await setting(sql, 'summaries', 'model', 'fake-chat')
    await setting(sql, 'summaries', 'base_url', chat.baseUrl)
    await setting(sql, 'summaries', 'api_key_env', 'CHAT_TEST_KEY')

    await t.step('chat: each call gets the current summary and only the messages after summary_through', async () => {
      chat.setMode('ok')
      chat.requests.length = 0
      let n = 0
      chat.respond = () => `Summary ${++n}.`
      const { threadId } = await createThread(sql, 'chat')
      await addTurns(sql, threadId, Array.from({ length: 25 }, (_, i) => `Chat line ${i}.`))
      await drain()
      assert.equal(chat.requests.length, 2, '20 summarizable messages, 10 per step')
      const [r1, r2] = chat.requests
      assert.equal(r1.model, 'fake-chat')
      assert.equal(r1.authorization, 'Bearer sk-chat')
      assert.equal(r1.max_tokens, 60)
      assert.match(r1.messages[0].content, /running summary of a conversation/, 'the prompt from the settings')
      assert.match(r1.messages[1].content, /Current summary:\n\(none yet\)/)
      assert.match(r1.messages[1].content, /\[user\] Chat line 0\.\n\[assistant\] Chat line 1\./)
      assert.ok(!/Chat line 10\./.test(r1.messages[1].content))
      assert.match(r2.messages[1].content, /Current summary:\nSummary 1\./, 'the second call extends the first summary')
      assert.ok(!/Chat line 9\./.test(r2.messages[1].content) && /Chat line 10\./.test(r2.messages[1].content),
        'and sees only the messages after summary_through')
      const [thread] = await sql`select summary from public.memory_threads where id = ${threadId}`
      assert.equal(thread.summary, 'Summary 2.')
      const [s] = await sql`select provider, model from public.thread_summaries where thread_id = ${threadId} order by id desc limit 1`
      assert.deepEqual([s.provider, s.model], ['chat', 'fake-chat'])
    })

    await t.step('a failing provider retries, then dead-letters the job with the reason; nothing changes', async () => {
      chat.setMode('500')
      const { threadId } = await createThread(sql, 'fail')
      await addTurns(sql, threadId, Array.from({ length: 20 }, (_, i) => `Failing line ${i}.`))
      const first = await call({})
      assert.deepEqual([first.body.failed.length, first.body.dead_lettered.length], [1, 0], 'first attempt: retry')
      assert.match(first.body.errors[0].error, /HTTP 500/)
      await call({})
      const [f] = await sql`select attempts, last_error, queue from public.memory_job_failures where thread_id = ${threadId}`
      assert.equal(f.attempts, 2)
      assert.equal(f.queue, 'summary_jobs')
      assert.match(f.last_error, /http: .*answered HTTP 500/)
      const [thread] = await sql`select summary from public.memory_threads where id = ${threadId}`
      assert.equal(thread.summary, null, 'no summary was written')
      assert.equal(await queued(sql), 0)
      const [p] = await sql`select summary_queued from public.thread_memory_progress where thread_id = ${threadId}`
      assert.equal(p.summary_queued, false, 'a later message may queue a new job')
      chat.setMode('ok')
    })

    await t.step('a missing key dead-letters at once (it cannot succeed until the setting or secret is fixed)', async () => {
      await setting(sql, 'summaries', 'api_key_env', 'NOT_SET_ANYWHERE')
      const { threadId } = await createThread(sql, 'nokey')
      await addTurns(sql, threadId, Array.from({ length: 20 }, (_, i) => `Keyless line ${i}.`))
      const r = await call({})
      assert.equal(r.body.dead_lettered.length, 1)
      const [f] = await sql`select attempts, last_error from public.memory_job_failures where thread_id = ${threadId}`
      assert.match(f.last_error, /config: environment variable NOT_SET_ANYWHERE is not set/)
      await setting(sql, 'summaries', 'api_key_env', 'CHAT_TEST_KEY')
    })

    await t.step('run now: every step for one thread, whatever the threshold, and the summary back', async () => {
      await setting(sql, 'summaries', 'model', null)
      const { threadId } = await createThread(sql, 'now')
      await addTurns(sql, threadId, Array.from({ length: 8 }, (_, i) => `Now line ${i}.`))
      assert.equal(await queued(sql), 0, 'under the threshold')
      const r = await call({ thread_id: threadId, keep_recent_tokens: 0 })
      assert.equal(r.status, 200)
      assert.equal(r.body.steps, 1)
      assert.equal(r.body.messages_summarized, 8)
      assert.equal(r.body.provider, 'extractive')
      assert.match(r.body.summary, /Now line 0\./)
      const [thread] = await sql`select summary, summary_through from public.memory_threads where id = ${threadId}`
      assert.deepEqual([r.body.summary, r.body.summary_through], [thread.summary, thread.summary_through])
      const again = await call({ thread_id: threadId, keep_recent_tokens: 0 })
      assert.equal(again.body.steps, 0, 'nothing new: no step')
      const unknown = await call({ thread_id: crypto.randomUUID() })
      assert.equal(unknown.status, 404)
      assert.equal(unknown.body.error.code, 'not_found')
      const denied = createHandler({
        env,
        requireThread: () => Promise.reject(new ThreadAccessError(404, 'not_found', `thread ${threadId} not found`)),
      })
      const res = await denied(new Request('http://localhost/summarize', {
        method: 'POST',
        headers: { authorization: `Bearer ${tokenWithRole('authenticated')}` },
        body: JSON.stringify({ thread_id: threadId }),
      }))
      assert.equal(res.status, 404, 'a user whose thread check fails (not theirs) gets 404 and no summary')
      assert.equal((await res.json()).error.code, 'not_found')
    })
  } finally {
    await chat.close()
    await db.stop()
  }
})
