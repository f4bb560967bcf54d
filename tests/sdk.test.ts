// The SDK end to end: createMemory over supabase-js against a whole local stack (HTTP gateway → RPC →
// Postgres with RLS). Threads, messages, pagination, agent state conflicts, settings and agent config,
// token counting, build_context, and the errors users get for bad input and other people's ids.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createClient } from '@supabase/supabase-js'
import WebSocket from 'ws'
import { createMemory, MemoryError, type Memory } from '../client/index.ts'
import { ANON_KEY, anonClient, createUser, serviceClient, startTestStack, type TestStack, type TestUser } from './helpers/stack.ts'

/** Runs `fn`, expecting a MemoryError with `code`; returns it for further checks. */
async function rejects(fn: () => Promise<unknown>, code: string): Promise<MemoryError> {
  try {
    await fn()
  } catch (err) {
    assert.ok(err instanceof MemoryError, `expected a MemoryError, got ${err}`)
    assert.equal(err.code, code, `expected code ${code}, got ${err.code}: ${err.message}`)
    return err
  }
  assert.fail(`expected MemoryError ${code}, but the call succeeded`)
}

describe('SDK (createMemory over supabase-js)', () => {
  let stack: TestStack
  let alice: TestUser
  let bob: TestUser
  let memory: Memory
  let bobMemory: Memory

  before(async () => {
    stack = await startTestStack()
    alice = await createUser(stack, 'alice')
    bob = await createUser(stack, 'bob')
    memory = createMemory({ supabase: alice.client })
    bobMemory = createMemory({ supabase: bob.client })
  })
  after(() => stack?.close())

  it('refuses to start without a supabase client', () => {
    assert.throws(() => createMemory({} as never), (e: unknown) => e instanceof MemoryError && e.code === 'invalid_input')
  })

  it('creates, reads, lists, updates and deletes threads', async () => {
    const t = await memory.createMemoryThread({ agentId: 'assistant', name: 'Trip', metadata: { topic: 'travel' } })
    assert.equal(t.owner_id, alice.id)
    assert.deepEqual(t.metadata, { topic: 'travel' })
    assert.equal((await memory.getMemoryThread(t.id)).name, 'Trip')

    const other = await memory.createMemoryThread({ agentId: 'researcher', metadata: { topic: 'work' } })
    const all = await memory.listMemoryThreads()
    assert.deepEqual(all.threads.map((x) => x.id), [other.id, t.id], 'newest first')
    assert.deepEqual((await memory.listMemoryThreads({ agentId: 'assistant' })).threads.map((x) => x.id), [t.id])
    assert.deepEqual((await memory.listMemoryThreads({ metadata: { topic: 'work' } })).threads.map((x) => x.id), [other.id])
    const first = await memory.listMemoryThreads({ limit: 1 })
    assert.equal(first.hasMore, true)
    const second = await memory.listMemoryThreads({ limit: 1, cursor: first.nextCursor })
    assert.deepEqual(second.threads.map((x) => x.id), [t.id])
    assert.equal(second.hasMore, false)

    const updated = await memory.updateMemoryThread(t.id, { name: 'Lisbon trip', expiresAt: new Date(Date.now() + 3600_000) })
    assert.equal(updated.name, 'Lisbon trip')
    assert.ok(updated.expires_at)
    assert.equal((await memory.updateMemoryThread(t.id, { expiresAt: null })).expires_at, null)

    assert.equal((await memory.deleteMemoryThread(other.id)).id, other.id)
    await rejects(() => memory.getMemoryThread(other.id), 'not_found')
  })

  it('saves messages and reads them back in pages, in order', async () => {
    const t = await memory.createMemoryThread()
    const one = await memory.saveMessage(t.id, { role: 'system', content: 'Be brief.' })
    assert.equal(one.role, 'system')
    assert.equal(one.token_count_exact, false)
    assert.equal(typeof one.cursor, 'string')
    const batch = await memory.saveMessages(
      t.id,
      Array.from({ length: 30 }, (_, i) => ({ role: i % 2 ? ('assistant' as const) : ('user' as const), content: `m${i}` })),
    )
    assert.deepEqual(batch.map((m) => m.content), Array.from({ length: 30 }, (_, i) => `m${i}`))
    const tool = await memory.saveMessage(t.id, { role: 'tool', content: '{"ok":true}', toolCallId: 'call_1', toolName: 'search', metadata: { ms: 12 } })
    assert.deepEqual([tool.tool_call_id, tool.tool_name, tool.metadata], ['call_1', 'search', { ms: 12 }])

    const newest = await memory.loadMessages(t.id, { limit: 5 })
    assert.deepEqual(newest.messages.map((m) => m.content), ['m26', 'm27', 'm28', 'm29', '{"ok":true}'])
    assert.equal(newest.hasMore, true)
    const older = await memory.loadMessages(t.id, { limit: 5, cursor: newest.nextCursor })
    assert.deepEqual(older.messages.map((m) => m.content), ['m21', 'm22', 'm23', 'm24', 'm25'])
    const oldest = await memory.loadMessages(t.id, { limit: 2, direction: 'newer' })
    assert.deepEqual(oldest.messages.map((m) => m.content), ['Be brief.', 'm0'])

    const backward: string[] = []
    for await (const page of memory.iterateMessages(t.id, { pageSize: 7 })) backward.unshift(...page.messages.map((m) => m.id))
    const forward: string[] = []
    for await (const page of memory.iterateMessages(t.id, { pageSize: 7, direction: 'newer' })) forward.push(...page.messages.map((m) => m.id))
    assert.equal(forward.length, 32)
    assert.deepEqual(backward, forward, 'walking back and walking forward see the same messages in the same order')
  })

  it('treats another user\'s thread exactly like an unknown one', async () => {
    const t = await memory.createMemoryThread({ name: 'private' })
    await memory.saveMessage(t.id, { role: 'user', content: 'secret' })
    const unknown = '00000000-0000-4000-8000-000000000000'
    for (const [name, call] of [
      ['getMemoryThread', (id: string) => bobMemory.getMemoryThread(id)],
      ['loadMessages', (id: string) => bobMemory.loadMessages(id)],
      ['saveMessage', (id: string) => bobMemory.saveMessage(id, { role: 'user', content: 'x' })],
      ['saveMessages', (id: string) => bobMemory.saveMessages(id, [{ role: 'user', content: 'x' }])],
      ['deleteMemoryThread', (id: string) => bobMemory.deleteMemoryThread(id)],
      ['updateMemoryThread', (id: string) => bobMemory.updateMemoryThread(id, { name: 'x' })],
      ['loadAgentState', (id: string) => bobMemory.loadAgentState(id)],
      ['saveAgentState', (id: string) => bobMemory.saveAgentState(id, {})],
      ['buildContext', (id: string) => bobMemory.buildContext(id, { tokenBudget: 1000 })],
    ] as const) {
      const foreign = await rejects(() => call(t.id), 'not_found')
      const missing = await rejects(() => call(unknown), 'not_found')
      assert.equal(foreign.sqlstate, 'PT404', name)
      assert.equal(foreign.status, 404, `${name}: HTTP 404, as PostgREST answers PT404`)
      assert.equal(foreign.sqlstate, missing.sqlstate, `${name}: same SQLSTATE for foreign and unknown ids`)
      assert.equal(foreign.status, missing.status, `${name}: same HTTP status for foreign and unknown ids`)
      assert.equal(foreign.message.replace(t.id, '<id>'), missing.message.replace(unknown, '<id>'), `${name}: same message`)
    }
    assert.deepEqual((await bobMemory.listMemoryThreads()).threads, [])
    const mine = await memory.loadMessages(t.id)
    assert.deepEqual(mine.messages.map((m) => m.content), ['secret'], 'Bob\'s attempts wrote nothing into Alice\'s thread')
  })

  it('reports bad input as invalid_input naming the field, and writes nothing', async () => {
    const t = await memory.createMemoryThread()
    const e1 = await rejects(() => memory.saveMessage(t.id, { role: 'robot' as never, content: 'x' }), 'invalid_input')
    assert.match(e1.message, /role must be one of system, user, assistant, tool/)
    assert.equal(e1.status, 400)
    const e2 = await rejects(() => memory.saveMessage(t.id, { role: 'user', content: 'a\u0000b' }), 'invalid_input')
    assert.match(e2.message, /^message\.content contains a NUL character/)
    await rejects(() => memory.saveMessage(t.id, { role: 'user', content: 'x', metadata: { k: 'a\u0000' } }), 'invalid_input')
    const e3 = await rejects(() => memory.saveMessage(t.id, { role: 'user', content: 'x'.repeat(1024 * 1024 + 1) }), 'invalid_input')
    assert.match(e3.message, /content is 1048577 bytes; the maximum is 1048576 bytes/)
    assert.equal(e3.sqlstate, '22001')
    const e4 = await rejects(() => memory.saveMessages(t.id, [{ role: 'user', content: 'ok' }, { role: 'tool', content: 'no call id' }]), 'invalid_input')
    assert.match(e4.message, /messages\[1\]\.tool_call_id is required/)
    const e5 = await rejects(() => memory.loadMessages(t.id, { limit: 0 }), 'invalid_input')
    assert.match(e5.message, /limit must be between 1 and 1000 \(got 0\)/)
    await rejects(() => memory.loadMessages(t.id, { limit: 1001 }), 'invalid_input')
    await rejects(() => memory.loadMessages(t.id, { cursor: 'garbage' }), 'invalid_input')
    await rejects(() => memory.createMemoryThread({ metadata: [1, 2] as never }), 'invalid_input')
    await rejects(() => memory.getMemoryThread('not-a-uuid'), 'invalid_input')
    assert.deepEqual((await memory.loadMessages(t.id)).messages, [], 'none of the refused calls wrote a message')
  })

  it('without the SDK\'s check, a NUL character still fails cleanly at the server and writes nothing', async () => {
    const t = await memory.createMemoryThread()
    for (const [fn, args] of [
      ['save_messages', { thread_id: t.id, messages: [{ role: 'user', content: 'ok' }, { role: 'user', content: 'a\u0000b' }] }],
      ['save_message', { thread_id: t.id, role: 'user', content: 'a\u0000b' }],
    ] as const) {
      // PostgREST converts the arguments with json_to_record before the function runs, and Postgres refuses
      // \u0000 there: 22P05 with HTTP 400 (psql/SQL callers of save_messages get the element and field named).
      const { error, status } = await alice.client.rpc(fn, args)
      assert.equal(status, 400, fn)
      assert.equal(error?.code, '22P05', fn)
      assert.match(`${error?.message} ${error?.details}`, /\\u0000 cannot be converted to text/, fn)
    }
    assert.deepEqual((await memory.loadMessages(t.id)).messages, [])
  })

  it('keeps agent state with optimistic concurrency', async () => {
    const t = await memory.createMemoryThread({ agentId: 'planner' })
    assert.equal(await memory.loadAgentState(t.id), null)
    const v1 = await memory.saveAgentState(t.id, { step: 1 }, { expectedVersion: 0 })
    assert.deepEqual([v1.agent_id, v1.version, v1.state], ['planner', 1, { step: 1 }])
    const v2 = await memory.saveAgentState(t.id, { step: 2 }, { expectedVersion: 1 })
    assert.equal(v2.version, 2)
    const conflict = await rejects(() => memory.saveAgentState(t.id, { step: 'stale' }, { expectedVersion: 1 }), 'conflict')
    assert.equal(conflict.status, 409)
    assert.equal(conflict.sqlstate, 'PT409')
    assert.match(conflict.message, /is at version 2, not the expected version 1/)
    assert.deepEqual((await memory.loadAgentState(t.id))?.state, { step: 2 })
    await rejects(() => memory.saveAgentState(t.id, [1] as never), 'invalid_input')
  })

  it('reads settings and agent configuration', async () => {
    assert.equal(await memory.getSetting('messages', 'max_content_bytes'), 1048576)
    assert.deepEqual(await memory.getSetting('nope', 'missing', { fallback: true }), { fallback: true })
    const config = await memory.getAgentConfig('researcher')
    assert.equal(config.agent.id, 'researcher')
    assert.equal(config.model.id, config.agent.model_id)
    assert.ok(Number(config.model.input_price_per_mtok) > 0)
    assert.deepEqual(config.tools.map((x) => x.id), ['search_memory', 'web_search', 'get_current_time'])
    await rejects(() => memory.getAgentConfig('ghost'), 'not_found')
  })

  it('counts tokens with the model\'s encoding and can store exact counts', async () => {
    assert.equal(await memory.countTokens('hello world'), 2)
    assert.equal(await memory.countTokens('<|endoftext|>'), await memory.countTokens('<|endoftext|>', { encoding: 'o200k_base' }))
    // cl100k_base (gpt-4) and o200k_base (gpt-4o) split Cyrillic and emoji differently; unknown models use o200k_base.
    const text = 'Приветствую! Как дела? 🚀'
    assert.notEqual(await memory.countTokens(text, { model: 'gpt-4' }), await memory.countTokens(text, { model: 'gpt-4o' }))
    assert.equal(await memory.countTokens(text, { model: 'claude-sonnet-4' }), await memory.countTokens(text, { encoding: 'o200k_base' }))

    const exact = createMemory({ supabase: alice.client, exactTokenCounts: true })
    const t = await exact.createMemoryThread()
    const m = await exact.saveMessage(t.id, { role: 'user', content: 'The quick brown fox jumps over the lazy dog.' })
    assert.equal(m.token_count_exact, true)
    assert.equal(m.token_count, await memory.countTokens('The quick brown fox jumps over the lazy dog.'))
  })

  it('builds a context within the budget in one request', async () => {
    let requests = 0
    const counting = createMemory({
      supabase: createClient(stack.apiUrl, ANON_KEY, {
        auth: { persistSession: false, autoRefreshToken: false },
        realtime: { transport: WebSocket as never },
        global: {
          headers: { Authorization: `Bearer ${alice.token}` },
          fetch: (input, init) => {
            requests++
            return fetch(input, init)
          },
        },
      }),
    })
    const t = await memory.createMemoryThread({ agentId: 'assistant' })
    await memory.saveMessage(t.id, { role: 'system', content: 'You are terse.', tokenCount: 5 })
    await memory.saveMessages(t.id, Array.from({ length: 40 }, (_, i) => ({ role: 'user' as const, content: `turn ${i}`, tokenCount: 10 })))
    requests = 0
    const ctx = await counting.buildContext(t.id, { tokenBudget: 100, tokensPerMessage: 0 })
    assert.equal(requests, 1, 'build_context is one HTTP request')
    assert.deepEqual(ctx.systemMessages.map((m) => m.content), ['You are terse.'])
    assert.deepEqual(ctx.messages.map((m) => m.content), Array.from({ length: 9 }, (_, i) => `turn ${31 + i}`))
    assert.equal(ctx.tokenCount, 95)
    assert.equal(ctx.truncated, true)
    assert.deepEqual(ctx.recalled, [])
    assert.equal((await memory.buildContext(t.id)).tokenBudget, 8000, 'the agent\'s budget applies by default')
    const tooSmall = await rejects(() => memory.buildContext(t.id, { tokenBudget: 10, tokensPerMessage: 0 }), 'invalid_input')
    assert.match(tooSmall.message, /token_budget 10 is too small: the system messages and the newest message need 15 tokens/)
  })

  it('anon gets nothing; service_role reaches every user\'s memory', async () => {
    const anon = createMemory({ supabase: anonClient(stack) })
    const denied = await rejects(() => anon.listMemoryThreads(), 'unauthorized')
    assert.equal(denied.status, 401)
    await rejects(() => anon.createMemoryThread(), 'unauthorized')

    const t = await memory.createMemoryThread({ name: 'for the backend' })
    const service = createMemory({ supabase: serviceClient(stack) })
    assert.equal((await service.getMemoryThread(t.id)).name, 'for the backend')
    const m = await service.saveMessage(t.id, { role: 'assistant', content: 'written by a worker' })
    assert.equal(m.owner_id, alice.id)
    const forBob = await service.createMemoryThread({ ownerId: bob.id, name: 'made for bob' })
    assert.equal((await bobMemory.getMemoryThread(forBob.id)).name, 'made for bob')
    await rejects(() => service.createMemoryThread(), 'invalid_input')
  })
})
