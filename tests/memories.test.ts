// Long-term memories through the whole stack. Extraction with no manual step: messages saved with the SDK →
// the insert trigger counts new turns → an extraction job (pgmq) → cron util.process_memory_jobs → pg_net →
// /functions/v1/extract-memories (Deno) → the fake OpenAI-compatible chat server on loopback, scripted as a
// model → memories. A conversation where the user's city changes ("I live in Paris" → "I moved to Berlin")
// ends with one valid memory (Berlin), the Paris one kept with invalid_at, and history rows for both
// events; a malformed model answer dead-letters the job with the reason and changes nothing. Then the SDK's
// manual memory API (rememberFact, updateMemory, forgetMemory, listMemories, getMemoryHistory,
// searchMemories through the search function) under row level security, and build_context with memories.
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createMemory, MemoryError, type Memory } from '../client/index.ts'
import { type ChatRequest, FakeChat } from '../supabase/functions/tests/fake-chat.ts'
import { createUser, makeWorkdir, startTestStack, waitFor, type TestStack, type TestUser } from './helpers/stack.ts'

const CHAT_KEY = 'sk-memories-test'
const isCode = (code: string) => (err: unknown) => err instanceof MemoryError && err.code === code

describe('long-term memories', () => {
  let stack: TestStack
  let chat: FakeChat
  let alice: TestUser
  let memory: Memory
  let bob: Memory
  let malformed = false

  async function setSettings(category: string, values: Record<string, unknown>): Promise<void> {
    for (const [key, value] of Object.entries(values)) {
      await stack.db.query(
        `insert into public.settings (category, key, value) values ($1, $2, $3::jsonb)
         on conflict (category, key) do update set value = excluded.value`,
        [category, key, JSON.stringify(value)],
      )
    }
  }

  /** Waits until no extraction job is pending or queued for the thread. */
  async function extracted(threadId: string): Promise<void> {
    await waitFor(async () => {
      const r = await stack.db.query<{ done: boolean }>(
        `select not p.extraction_queued and (pgmq.metrics('memory_extraction_jobs')).queue_length = 0 as done
           from public.thread_memory_progress p where p.thread_id = $1`,
        [threadId],
      )
      return r.rows[0]?.done
    }, 120_000, 200)
  }

  before(async () => {
    chat = await FakeChat.start()
    // A scripted model: "I live in X" / "I moved to X" become a fact; decisions replace the listed memory.
    chat.respond = (req: ChatRequest) => {
      const system = req.messages[0]?.content ?? ''
      const user = req.messages[1]?.content ?? ''
      if (/keep a user's long-term memories consistent/.test(system)) {
        const id = /- id ([0-9a-f-]{36})/.exec(user)?.[1]
        return JSON.stringify({ decisions: [{ candidate: 1, action: 'update', memory_id: id }] })
      }
      if (malformed) return '{"memories": [{"kind": "fact", "content": "Lives in Ber'
      const memories = []
      for (const line of user.split('\n')) {
        const m = /^\[(\d+)\] user: .*?(?:live in|moved to) (\w+)/.exec(line)
        if (m) memories.push({ kind: 'fact', content: `Lives in ${m[2]}.`, sources: [Number(m[1])] })
      }
      return JSON.stringify({ memories })
    }
    const workdir = makeWorkdir()
    writeFileSync(join(workdir, 'supabase', 'functions', '.env'), `CHAT_TEST_KEY=${CHAT_KEY}\n`)
    stack = await startTestStack({ workdir })
    alice = await createUser(stack, 'alice')
    memory = createMemory({ supabase: alice.client })
    bob = createMemory({ supabase: (await createUser(stack, 'bob')).client })
    await stack.db.query(`insert into public.models (id, provider, display_name, context_window) values ('fake-extractor', 'openai', 'Fake', 100000)`)
    await setSettings('memory_jobs', { schedule: '1 seconds', backoff_base_seconds: 0, max_attempts: 2 })
    await setSettings('memories', {
      model: 'fake-extractor',
      base_url: chat.baseUrl,
      api_key_env: 'CHAT_TEST_KEY',
      extract_every_messages: 2,
      extraction_enabled: true,
    })
  })
  after(async () => {
    await stack?.close()
    await chat?.close()
  })

  it('Paris → Berlin: one valid memory, the old one kept with invalid_at, history rows for both events', async () => {
    const { id } = await memory.createMemoryThread({ agentId: 'assistant', name: 'moving' })
    const [paris] = await memory.saveMessages(id, [
      { role: 'user', content: 'Hi! I live in Paris and work as a nurse.' },
      { role: 'assistant', content: 'Nice to meet you. How can I help?' },
    ])
    await extracted(id)
    const first = await memory.listMemories()
    assert.deepEqual(first.memories.map((m) => m.content), ['Lives in Paris.'])
    assert.deepEqual(first.memories[0].source_message_ids, [paris.id])
    await memory.saveMessages(id, [
      { role: 'user', content: 'What should I cook tonight?' },
      { role: 'assistant', content: 'How about a risotto?' },
    ])
    await extracted(id)
    const [berlin] = await memory.saveMessages(id, [
      { role: 'user', content: 'Big news: I moved to Berlin last month.' },
      { role: 'assistant', content: 'Congratulations on the move!' },
    ])
    await extracted(id)

    const valid = await memory.listMemories()
    assert.deepEqual(valid.memories.map((m) => m.content), ['Lives in Berlin.'], 'one valid memory')
    const all = await memory.listMemories({ includeInvalid: true })
    const old = all.memories.find((m) => m.content === 'Lives in Paris.')!
    const now = valid.memories[0]
    assert.ok(old.invalid_at, 'Paris is kept, with invalid_at')
    assert.equal(old.superseded_by, now.id)
    assert.equal(now.supersedes, old.id)
    assert.equal(Date.parse(old.invalid_at!), Date.parse(berlin.created_at), 'invalid from when the user said they moved')
    assert.equal(now.source, 'extraction')
    assert.deepEqual(now.source_message_ids, [berlin.id])

    const history = await memory.getMemoryHistory(now.id)
    assert.deepEqual(history.map((h) => [h.event, h.old_content, h.new_content, h.source]), [
      ['add', null, 'Lives in Paris.', 'extraction'],
      ['update', 'Lives in Paris.', 'Lives in Berlin.', 'extraction'],
    ])
    assert.deepEqual(history[0].source_message_ids, [paris.id])
    assert.deepEqual(history[1].source_message_ids, [berlin.id])
    assert.deepEqual(await memory.getMemoryHistory(old.id), history, 'either version gives the whole history')

    // Each extraction run is a trace of the extract-memories function, with the chat model's tokens.
    const traces = await stack.db.query<{ spans: number; input_tokens: number; models: string[] }>(
      `select span_count as spans, input_tokens::int, models from public.traces where service = 'extract-memories' and input_tokens > 0`)
    assert.ok(traces.rows.length >= 1, 'extraction runs are traced')
    assert.ok(traces.rows.every((t) => t.spans >= 2 && t.models.includes('fake-extractor')), 'a span for the chat call, with its model')

    // The search function's scope memories sees the valid one; with includeInvalid, both.
    const found = await memory.searchMemories('where does she live')
    assert.deepEqual(found.results.map((h) => h.content), ['Lives in Berlin.'])
    assert.equal(found.results[0].kind, 'fact')
    assert.equal(found.scope, 'memories')
    const both = await memory.searchMemories('lives', { includeInvalid: true, mode: 'bm25' })
    assert.deepEqual(both.results.map((h) => h.content).sort(), ['Lives in Berlin.', 'Lives in Paris.'])
    const then = await memory.searchMemories('lives', { validAt: paris.created_at, mode: 'bm25' })
    assert.deepEqual(then.results.map((h) => h.content), ['Lives in Paris.'], 'what held when the user first said it')
    assert.deepEqual((await bob.searchMemories('lives in Berlin')).results, [], 'Bob finds none of Alice\'s memories')
  })

  it('a malformed model answer dead-letters the job with the reason and changes nothing', async () => {
    const { id } = await memory.createMemoryThread({ agentId: 'assistant', name: 'malformed' })
    const before = await memory.listMemories({ includeInvalid: true })
    const historyBefore = await memory.getMemoryHistory()
    malformed = true
    try {
      await memory.saveMessages(id, [
        { role: 'user', content: 'I live in Hamburg now, actually.' },
        { role: 'assistant', content: 'Noted.' },
      ])
      await extracted(id)
    } finally {
      malformed = false
    }
    const { data, error } = await alice.client.from('memory_job_failures').select('queue, attempts, last_error, thread_id').eq('thread_id', id)
    assert.ifError(error)
    assert.equal(data!.length, 1, 'dead-lettered')
    assert.equal(data![0].queue, 'memory_extraction_jobs')
    assert.equal(data![0].attempts, 2, 'after max_attempts')
    assert.match(data![0].last_error, /bad_reply: the answer is not valid JSON/)
    // What extraction could change; the embedding pipeline may meanwhile store a memory's exact token count
    // (token_count, token_count_exact, updated_at), which is not a change by extraction.
    const facts = (r: Awaited<ReturnType<typeof memory.listMemories>>) =>
      r.memories.map(({ token_count: _t, token_count_exact: _e, updated_at: _u, ...m }) => m)
    assert.deepEqual(facts(await memory.listMemories({ includeInvalid: true })), facts(before), 'no memory changed')
    assert.deepEqual(await memory.getMemoryHistory(), historyBefore, 'no history written')
    const [p] = (await stack.db.query<{ extracted_through: string | null }>(
      `select extracted_through from public.thread_memory_progress where thread_id = $1`, [id])).rows
    assert.equal(p.extracted_through, null, 'the extraction cursor did not move')
    const { data: bobs } = await createMemory({ supabase: (await createUser(stack, 'carol')).client }).supabase
      .from('memory_job_failures').select('id')
    assert.deepEqual(bobs, [], 'another user sees none of Alice\'s failures')
  })

  it('the manual API: remember, update, forget, list and history, with bad input and other users refused', async () => {
    const pref = await memory.rememberFact('Prefers window seats.', { kind: 'preference', metadata: { topic: 'travel' } })
    assert.equal(pref.kind, 'preference')
    assert.equal(pref.source, 'manual')
    await assert.rejects(memory.rememberFact('   '), (err: unknown) => isCode('invalid_input')(err) && /content must not be empty/.test((err as Error).message))
    await assert.rejects(memory.rememberFact('x', { kind: 'hobby' as never }), (err: unknown) =>
      isCode('invalid_input')(err) && /kind must be fact, preference or event/.test((err as Error).message))
    await assert.rejects(bob.forgetMemory(pref.id), isCode('not_found'), 'another user\'s memory is not found')
    await assert.rejects(bob.updateMemory(pref.id, 'Prefers aisle seats.'), isCode('not_found'))
    await assert.rejects(memory.forgetMemory(crypto.randomUUID()), isCode('not_found'))
    const aisle = await memory.updateMemory(pref.id, 'Prefers aisle seats.')
    assert.equal(aisle.supersedes, pref.id)
    assert.deepEqual(aisle.metadata, { topic: 'travel' }, 'metadata carries over')
    await assert.rejects(memory.updateMemory(pref.id, 'Prefers the middle seat.'), isCode('conflict'), 'a superseded version cannot be updated')
    const forgotten = await memory.forgetMemory(aisle.id, { reason: 'asked to forget' })
    assert.ok(forgotten.invalid_at)
    assert.equal((await memory.forgetMemory(aisle.id)).invalid_at, forgotten.invalid_at, 'forgetting twice changes nothing')
    const history = await memory.getMemoryHistory(aisle.id)
    assert.deepEqual(history.map((h) => [h.event, h.reason]), [['add', null], ['update', null], ['forget', 'asked to forget']])
    assert.ok(history.every((h) => h.actor_id === alice.id && h.source === 'manual'))
    const prefs = await memory.listMemories({ kinds: ['preference'], includeInvalid: true, limit: 1 })
    assert.equal(prefs.memories.length, 1)
    assert.equal(prefs.hasMore, true)
    const rest = await memory.listMemories({ kinds: ['preference'], includeInvalid: true, limit: 10, cursor: prefs.nextCursor })
    assert.equal(rest.memories.length, 1)
    assert.deepEqual([...prefs.memories, ...rest.memories].map((m) => m.content).sort(), ['Prefers aisle seats.', 'Prefers window seats.'])
    assert.deepEqual((await memory.listMemories({ kinds: ['preference'] })).memories, [], 'no valid preference is left')
    assert.deepEqual((await bob.listMemories({ includeInvalid: true })).memories, [])
    // A direct write through the Data API cannot rewrite history either.
    const { error } = await alice.client.from('memories').update({ content: 'Edited.' }).eq('id', pref.id)
    assert.equal(error?.code, '22023')
  })

  it('build_context includes the top memories for the query within their share of the budget', async () => {
    await memory.rememberFact('Is allergic to peanuts.', { agentId: 'assistant' })
    await memory.rememberFact('Owns a dog called Rex.', { agentId: 'researcher' })
    const { id } = await memory.createMemoryThread({ agentId: 'assistant', name: 'dinner' })
    await setSettings('memories', { extraction_enabled: false })
    await memory.saveMessages(id, [{ role: 'user', content: 'Which dessert with peanuts or a dog biscuit could I order?' }])
    const ctx = await memory.buildContext(id, { tokenBudget: 2000, memories: true })
    assert.deepEqual(ctx.memories.map((m) => m.content), ['Is allergic to peanuts.'],
      'the memory matching the newest user message; the other agent\'s memory is not this agent\'s')
    assert.ok(ctx.memories[0].token_count > 0)
    assert.equal(ctx.tokenCount, ctx.messages[0].token_count + ctx.tokensPerMessage + ctx.memories[0].token_count)
    const berlin = await memory.buildContext(id, { tokenBudget: 2000, memories: { k: 3 }, query: 'where do I live' })
    assert.deepEqual(berlin.memories.map((m) => m.content), ['Lives in Berlin.'], 'options.query; shared and valid memories only')
    const none = await memory.buildContext(id, { tokenBudget: 2000, memories: { maxTokens: 3 } })
    assert.deepEqual(none.memories, [], 'nothing fits in 3 tokens')
    assert.deepEqual((await memory.buildContext(id, { tokenBudget: 2000 })).memories, [], 'off unless asked for')
    await assert.rejects(memory.buildContext(id, { memories: { k: 0 } }), (err: unknown) =>
      isCode('invalid_input')(err) && /options.memories.k must be an integer from 1 to 50/.test((err as Error).message))
  })
})
