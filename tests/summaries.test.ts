// Thread summaries through the whole stack, with no manual step: messages saved with the SDK → the insert
// trigger counts unsummarized tokens → a summary job (pgmq) → cron util.process_memory_jobs → pg_net →
// /functions/v1/summarize (Deno) → summary stored. A 2,000-message thread, once with the offline extractive
// summarizer and once with the fake OpenAI-compatible chat server on loopback, must end with a summary
// whose summary_through is its newest summarized message (the steps contiguous from the first message,
// only the recent tail left), every message still there unchanged, and build_context using the summary
// without ever exceeding its budget. Then generateThreadSummary and working memory through the SDK.
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createMemory, MemoryError, type Memory, type Message, type NewMessage } from '../client/index.ts'
import { FakeChat } from '../supabase/functions/tests/fake-chat.ts'
import { createUser, makeWorkdir, startTestStack, waitFor, type TestStack, type TestUser } from './helpers/stack.ts'

const CHAT_KEY = 'sk-summaries-test'
const KEEP = 400

/** A message's position for comparisons: the decoded (created_at µs, id) of its cursor. */
function position(cursor: string): [bigint, string] {
  const [, us, id] = Buffer.from(cursor.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8').split(',')
  return [BigInt(us), id]
}
const after_ = (a: string, b: string) => {
  const [x, i] = position(a)
  const [y, j] = position(b)
  return x > y || (x === y && i > j)
}

describe('summaries of long threads through the cron worker', () => {
  let stack: TestStack
  let chat: FakeChat
  let alice: TestUser
  let memory: Memory

  async function setSettings(category: string, values: Record<string, unknown>): Promise<void> {
    for (const [key, value] of Object.entries(values)) {
      await stack.db.query(
        `insert into public.settings (category, key, value) values ($1, $2, $3::jsonb)
         on conflict (category, key) do update set value = excluded.value`,
        [category, key, JSON.stringify(value)],
      )
    }
  }

  /** A long conversation: 2,000 messages, system message first, user and assistant turns after it. */
  function conversation(tag: string): NewMessage[] {
    const topics = ['the Lisbon trip', 'the hotel budget', 'train tickets', 'the museum visit', 'dinner plans', 'the flight home']
    const out: NewMessage[] = [{ role: 'system', content: `You are the ${tag} travel assistant.` }]
    for (let i = 1; i < 2000; i++) {
      const topic = topics[i % topics.length]
      out.push(i % 2
        ? { role: 'user', content: `Question ${i} (${tag}): what about ${topic}? I would like option ${i % 7}.` }
        : { role: 'assistant', content: `Answer ${i} (${tag}): for ${topic} I suggest plan ${i % 5}. Shall I book it?` })
    }
    return out
  }

  async function saveAll(threadId: string, messages: NewMessage[]): Promise<void> {
    for (let i = 0; i < messages.length; i += 500) await memory.saveMessages(threadId, messages.slice(i, i + 500))
  }

  async function allMessages(threadId: string): Promise<Message[]> {
    const all: Message[] = []
    for await (const page of memory.iterateMessages(threadId, { pageSize: 1000, direction: 'newer' })) all.push(...page.messages)
    return all
  }

  /** Waits until the thread's summary run is over: a summary, no job pending, nothing queued. */
  async function settled(threadId: string): Promise<void> {
    await waitFor(async () => {
      const r = await stack.db.query<{ done: boolean }>(
        `select t.summary is not null and not p.summary_queued and p.summary_stale_from is null
                and (pgmq.metrics('summary_jobs')).queue_length = 0 as done
           from public.memory_threads t join public.thread_memory_progress p on p.thread_id = t.id where t.id = $1`,
        [threadId],
      )
      return r.rows[0]?.done
    }, 240_000, 250)
  }

  async function checkThread(threadId: string, sent: NewMessage[], provider: 'chat' | 'extractive'): Promise<void> {
    const all = await allMessages(threadId)
    assert.equal(all.length, 2000, 'every message still exists')
    assert.deepEqual(all.map((m) => [m.role, m.content]), sent.map((m) => [m.role, m.content]), 'unchanged and in order')
    const thread = await memory.getMemoryThread(threadId)
    const steps = (await stack.db.query<{ summarized_from: string; summary_through: string; summary: string; provider: string; based_on: number | null; id: number }>(
      `select id, summarized_from, summary_through, summary, provider, based_on from public.thread_summaries where thread_id = $1 order by id`,
      [threadId],
    )).rows
    assert.ok(steps.length >= 2, `a long thread takes several steps (${steps.length})`)
    assert.ok(steps.every((s) => s.provider === provider))
    const last = steps.at(-1)!
    assert.equal(thread.summary, last.summary)
    assert.equal(thread.summary_through, last.summary_through, 'summary_through is the newest summarized message')
    const eligible = all.filter((m) => m.role !== 'system')
    assert.equal(steps[0].summarized_from, eligible[0].cursor, 'the first step starts at the first message')
    for (let i = 1; i < steps.length; i++) {
      assert.equal(steps[i].based_on, steps[i - 1].id, 'each step extends the previous summary')
      const prevEnd = eligible.findIndex((m) => m.cursor === steps[i - 1].summary_through)
      assert.equal(steps[i].summarized_from, eligible[prevEnd + 1].cursor, 'and starts right after it: nothing skipped or repeated')
    }
    // Only the recent tail is left: it fits keep_recent_tokens, the newest summarized message would not.
    const throughAt = eligible.findIndex((m) => m.cursor === thread.summary_through)
    const tail = eligible.slice(throughAt + 1).reduce((s, m) => s + m.token_count, 0)
    assert.ok(tail <= KEEP && tail + eligible[throughAt].token_count > KEEP, `tail ${tail} tokens, keep ${KEEP}`)
    const [p] = (await stack.db.query<{ unsummarized_tokens: string }>(
      `select unsummarized_tokens from public.thread_memory_progress where thread_id = $1`, [threadId])).rows
    assert.equal(Number(p.unsummarized_tokens), tail)

    // build_context uses the summary and never exceeds its budget.
    const systems = all.filter((m) => m.role === 'system')
    for (const budget of [200, 350, 600, 1000, 2000, 4000, 8000, 16000]) {
      let ctx
      try {
        ctx = await memory.buildContext(threadId, { tokenBudget: budget })
      } catch (err) {
        assert.ok(err instanceof MemoryError && err.code === 'invalid_input', `budget ${budget}: ${err}`)
        continue
      }
      assert.ok(ctx.tokenCount <= budget, `budget ${budget}: ${ctx.tokenCount} tokens`)
      assert.deepEqual(ctx.systemMessages.map((m) => m.id), systems.map((m) => m.id))
      assert.equal(ctx.messages.at(-1)!.id, all.at(-1)!.id, `budget ${budget}: the newest message is there`)
      if (ctx.summary !== null) {
        assert.equal(ctx.summary, thread.summary, `budget ${budget}: the thread's summary`)
        assert.equal(ctx.summaryThrough, thread.summary_through)
        assert.ok(ctx.messages.every((m) => after_(m.cursor, thread.summary_through!)), 'no message the summary covers')
      }
      for (let i = 1; i < ctx.messages.length; i++) assert.ok(after_(ctx.messages[i].cursor, ctx.messages[i - 1].cursor), 'chronological')
      const used = [...ctx.systemMessages, ...ctx.messages].reduce((s, m) => s + m.token_count + ctx.tokensPerMessage, 0) +
        (ctx.summary ? thread.summary_token_count! + ctx.tokensPerMessage : 0)
      assert.equal(ctx.tokenCount, used, `budget ${budget}: token_count is what the parts cost`)
    }
    const roomy = await memory.buildContext(threadId, { tokenBudget: 16000 })
    assert.ok(roomy.summary !== null, 'with room, the summary is used')
    assert.equal(roomy.messages.length, eligible.length - throughAt - 1, 'and every message after it')
  }

  before(async () => {
    chat = await FakeChat.start()
    const workdir = makeWorkdir()
    writeFileSync(join(workdir, 'supabase', 'functions', '.env'), `CHAT_TEST_KEY=${CHAT_KEY}\n`)
    stack = await startTestStack({ workdir })
    alice = await createUser(stack, 'alice')
    // Exact counts from the start, so the embedding worker never changes a count the summarizer relied on.
    memory = createMemory({ supabase: alice.client, exactTokenCounts: true })
    await stack.db.query(`insert into public.models (id, provider, display_name, context_window) values ('fake-summarizer', 'openai', 'Fake', 100000)`)
    await setSettings('memory_jobs', { schedule: '1 seconds', backoff_base_seconds: 0 })
    await setSettings('summaries', { keep_recent_tokens: KEEP, threshold_tokens: 2000, max_input_tokens: 6000, max_summary_tokens: 300, enabled: true })
  })
  after(async () => {
    await stack?.close()
    await chat?.close()
  })

  it('extractive (no model configured): a 2,000-message thread ends summarized up to its recent tail', async () => {
    const { id } = await memory.createMemoryThread({ agentId: 'assistant', name: 'extractive' })
    const sent = conversation('extractive')
    await saveAll(id, sent)
    await settled(id)
    await checkThread(id, sent, 'extractive')
    const runs = await stack.db.query<{ n: number }>(
      `select count(*)::int as n from cron.job_run_details d join cron.job j using (jobid)
        where j.jobname = 'process-memory-jobs' and d.status = 'succeeded'`,
    )
    assert.ok(runs.rows[0].n > 0, 'the cron job ran it')
  })

  it('chat model (fake OpenAI-compatible server): the same, each call extending the previous summary', async () => {
    await setSettings('summaries', { model: 'fake-summarizer', base_url: chat.baseUrl, api_key_env: 'CHAT_TEST_KEY' })
    chat.requests.length = 0
    let n = 0
    chat.respond = (req) => {
      const lines = req.messages[1].content.split('\n').filter((l) => /^\[(user|assistant)\]/.test(l))
      return `Summary ${++n}: the traveller discussed ${lines.length} more messages, up to "${lines.at(-1)?.slice(0, 40)}".`
    }
    const { id } = await memory.createMemoryThread({ agentId: 'assistant', name: 'chat' })
    const sent = conversation('chat')
    await saveAll(id, sent)
    await settled(id)
    await checkThread(id, sent, 'chat')
    const calls = chat.requests.filter((r) => /\(chat\)/.test(r.messages[1].content))
    assert.ok(calls.length >= 2)
    calls.forEach((r, i) => {
      assert.equal(r.authorization, `Bearer ${CHAT_KEY}`)
      assert.match(r.messages[1].content, i === 0 ? /Current summary:\n\(none yet\)/ : new RegExp(`Current summary:\nSummary ${i}:`),
        'the call extends the previous summary')
    })
    const seen = new Set<string>()
    for (const r of calls) {
      for (const line of r.messages[1].content.split('\n').filter((l) => /^\[(user|assistant)\]/.test(l))) {
        assert.ok(!seen.has(line), `a message is summarized once: ${line}`)
        seen.add(line)
      }
    }
    await setSettings('summaries', { model: null })
  })

  it('generateThreadSummary runs it now and returns the summary; another user\'s thread is not_found', async () => {
    await setSettings('summaries', { enabled: false })
    const { id } = await memory.createMemoryThread({ name: 'now' })
    await memory.saveMessages(id, [
      { role: 'user', content: 'I am planning a trip to Porto in June.' },
      { role: 'assistant', content: 'Porto in June is lovely; the São João festival is on the 23rd.' },
      { role: 'user', content: 'Book a hotel near the river, budget 120 euros a night.' },
    ])
    const r = await memory.generateThreadSummary(id, { keepRecentTokens: 0 })
    assert.equal(r.thread_id, id)
    assert.equal(r.steps, 1)
    assert.equal(r.messages_summarized, 3)
    assert.equal(r.provider, 'extractive')
    assert.match(r.summary!, /Porto/)
    const msgs = (await memory.loadMessages(id)).messages
    assert.equal(r.summary_through, msgs.at(-1)!.cursor)
    const thread = await memory.getMemoryThread(id)
    assert.equal(thread.summary, r.summary)
    const ctx = await memory.buildContext(id, { tokenBudget: 500 })
    assert.equal(ctx.summary, r.summary)
    assert.deepEqual(ctx.messages.map((m) => m.id), [msgs.at(-1)!.id], 'only the newest message beside the summary')
    const bob = createMemory({ supabase: (await createUser(stack, 'bob')).client })
    await assert.rejects(bob.generateThreadSummary(id), (err: unknown) => err instanceof MemoryError && err.code === 'not_found')
    await assert.rejects(memory.generateThreadSummary(crypto.randomUUID()), (err: unknown) => err instanceof MemoryError && err.code === 'not_found')
    await setSettings('summaries', { enabled: true })
  })

  it('working memory through the SDK: schema errors name the path, stale versions conflict, build_context includes it', async () => {
    const schema = {
      type: 'object',
      properties: { name: { type: 'string' }, address: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
      additionalProperties: false,
    }
    const first = await memory.updateWorkingMemory({ data: { name: 'Alice', address: { city: 'Paris' } }, schema, expectedVersion: 0 })
    assert.equal(first.version, 1)
    assert.equal(first.scope, 'resource')
    await assert.rejects(memory.updateWorkingMemory({ data: { name: 'Alice', address: { city: 75 } } }), (err: unknown) =>
      err instanceof MemoryError && err.code === 'invalid_input' && err.message === 'data $.address.city: expected string, got number')
    await assert.rejects(memory.updateWorkingMemory({ schema: { type: 'objekt' } }), (err: unknown) =>
      err instanceof MemoryError && err.code === 'invalid_input' && /schema.type: unknown type "objekt"/.test(err.message))
    const second = await memory.updateWorkingMemory({ data: { name: 'Alice', address: { city: 'Berlin' } }, expectedVersion: 1 })
    assert.equal(second.version, 2)
    await assert.rejects(memory.updateWorkingMemory({ data: { name: 'A', address: { city: 'X' } }, expectedVersion: 1 }), (err: unknown) =>
      err instanceof MemoryError && err.code === 'conflict')
    assert.deepEqual((await memory.getWorkingMemory())!.data, { name: 'Alice', address: { city: 'Berlin' } })

    const { id } = await memory.createMemoryThread({ name: 'wm' })
    await memory.updateWorkingMemory({ threadId: id, template: '# Trip\n- destination:\n- dates:\n' })
    await memory.saveMessages(id, [{ role: 'user', content: 'Hello there.' }])
    const ctx = await memory.buildContext(id, { tokenBudget: 1000 })
    assert.deepEqual(ctx.workingMemory.map((b) => [b.scope, b.format]), [['resource', 'json'], ['thread', 'markdown']])
    assert.deepEqual(JSON.parse(ctx.workingMemory[0].content), { name: 'Alice', address: { city: 'Berlin' } }, 'the JSON, compact')
    assert.equal(ctx.workingMemory[1].content, '# Trip\n- destination:\n- dates:\n', 'the template until the document is written')
    const wmTokens = ctx.workingMemory.reduce((s, b) => s + b.token_count, 0)
    assert.equal(ctx.tokenCount, wmTokens + ctx.messages[0].token_count + ctx.tokensPerMessage)
    const tight = await memory.buildContext(id, { tokenBudget: ctx.messages[0].token_count + ctx.tokensPerMessage + ctx.workingMemory[1].token_count })
    assert.deepEqual(tight.workingMemory.map((b) => b.scope), ['thread'], 'a block that does not fit is left out')
    assert.equal(tight.truncated, true)
    const without = await memory.buildContext(id, { tokenBudget: 1000, includeWorkingMemory: false })
    assert.deepEqual(without.workingMemory, [])
    const bob = createMemory({ supabase: (await createUser(stack, 'bob2')).client })
    assert.equal(await bob.getWorkingMemory(), null, 'Bob has none and sees none of Alice\'s')
    await assert.rejects(bob.getWorkingMemory({ threadId: id }), (err: unknown) => err instanceof MemoryError && err.code === 'not_found')
  })
})
