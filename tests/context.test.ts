// buildContext through the SDK and the HTTP API, on a thread of 300 messages of random sizes with system
// messages and tool calls mixed in (a fixed seed, so failures reproduce). For many budgets, with and
// without tool messages, with and without a summary, the context users get must: stay within the budget,
// be chronological, contain every system message and the newest message, be the newest contiguous run of
// eligible messages, and leave out an older message only when it would not have fitted.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createMemory, MemoryError, type Memory, type Message, type NewMessage } from '../client/index.ts'
import { createUser, startTestStack, type TestStack } from './helpers/stack.ts'

/** mulberry32: a small deterministic PRNG. */
function prng(seed: number): () => number {
  return () => {
    seed |= 0
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const isToolMessage = (m: Message) => m.role === 'tool' || m.tool_call_id !== null || m.tool_name !== null

describe('build_context budgets, order and required messages', () => {
  let stack: TestStack
  let memory: Memory
  let threadId: string
  let all: Message[]

  before(async () => {
    stack = await startTestStack()
    memory = createMemory({ supabase: (await createUser(stack, 'ctx')).client })
    threadId = (await memory.createMemoryThread({ agentId: 'assistant' })).id
    const rand = prng(20261121)
    const batch: NewMessage[] = []
    for (let i = 0; i < 300; i++) {
      const r = rand()
      const tokens = 1 + Math.floor(rand() * 60)
      if (i === 0 || r < 0.03) batch.push({ role: 'system', content: `system ${i}`, tokenCount: 1 + Math.floor(rand() * 20) })
      else if (r < 0.15) {
        batch.push({ role: 'assistant', content: '', toolCallId: `call_${i}`, toolName: 'search', tokenCount: tokens })
        batch.push({ role: 'tool', content: `result ${i}`, toolCallId: `call_${i}`, toolName: 'search', tokenCount: 1 + Math.floor(rand() * 80) })
      } else batch.push({ role: i % 2 ? 'assistant' : 'user', content: `turn ${i}`, tokenCount: tokens })
    }
    await memory.saveMessages(threadId, batch)
    all = []
    for await (const page of memory.iterateMessages(threadId, { pageSize: 1000, direction: 'newer' })) all.push(...page.messages)
  })
  after(() => stack?.close())

  function checkInvariants(ctx: Awaited<ReturnType<Memory['buildContext']>>, budget: number, includeTools: boolean, label: string): void {
    const per = ctx.tokensPerMessage
    const cost = (m: Message) => m.token_count + per
    const systems = all.filter((m) => m.role === 'system')
    const eligible = all.filter((m) => m.role !== 'system' && (includeTools || !isToolMessage(m)))
    assert.ok(ctx.tokenCount <= budget, `${label}: ${ctx.tokenCount} tokens exceed the budget ${budget}`)
    const messagesCost = [...ctx.systemMessages, ...ctx.messages].reduce((s, m) => s + cost(m), 0)
    if (ctx.summary === null) assert.equal(ctx.tokenCount, messagesCost, `${label}: token_count is what the messages cost`)
    else assert.ok(ctx.tokenCount > messagesCost, `${label}: the summary is counted too`)
    assert.deepEqual(ctx.systemMessages.map((m) => m.id), systems.map((m) => m.id), `${label}: every system message, in order`)
    assert.equal(ctx.messages.at(-1)?.id, eligible.at(-1)?.id, `${label}: the newest eligible message comes last`)
    const n = ctx.messages.length
    assert.deepEqual(ctx.messages.map((m) => m.id), eligible.slice(eligible.length - n).map((m) => m.id), `${label}: the newest contiguous run, chronological`)
    if (ctx.summary === null && n < eligible.length) {
      assert.equal(ctx.truncated, true, `${label}: left-out messages are flagged`)
      assert.ok(ctx.tokenCount + cost(eligible[eligible.length - n - 1]) > budget, `${label}: the next older message would not have fitted`)
    }
    if (n === eligible.length && ctx.summary === null) assert.equal(ctx.truncated, false, `${label}: nothing left out, not truncated`)
  }

  it('holds for 40 budgets each, with and without tool messages and framing', async () => {
    const rand = prng(7)
    const systemsTokens = all.filter((m) => m.role === 'system').reduce((s, m) => s + m.token_count, 0)
    const total = all.reduce((s, m) => s + m.token_count, 0)
    let checked = 0
    for (const includeToolMessages of [true, false]) {
      for (const tokensPerMessage of [0, 4]) {
        for (let k = 0; k < 40; k++) {
          const budget = systemsTokens + 200 + Math.floor(rand() * (total + 1500 - systemsTokens))
          const ctx = await memory.buildContext(threadId, { tokenBudget: budget, includeToolMessages, tokensPerMessage })
          checkInvariants(ctx, budget, includeToolMessages, `budget ${budget}, tools ${includeToolMessages}, framing ${tokensPerMessage}`)
          checked++
        }
      }
    }
    assert.equal(checked, 160)
  })

  it('includes the whole thread when the budget allows, and nothing is truncated', async () => {
    const ctx = await memory.buildContext(threadId, { tokenBudget: 1_000_000 })
    assert.equal(ctx.systemMessages.length + ctx.messages.length, all.length)
    assert.equal(ctx.truncated, false)
  })

  it('fails with a clear error when the system messages and the newest message alone exceed the budget', async () => {
    const systemsTokens = all.filter((m) => m.role === 'system').reduce((s, m) => s + m.token_count, 0)
    const newest = all.filter((m) => m.role !== 'system').at(-1)!
    const need = systemsTokens + newest.token_count
    const ok = await memory.buildContext(threadId, { tokenBudget: need, tokensPerMessage: 0 })
    assert.deepEqual(ok.messages.map((m) => m.id), [newest.id])
    try {
      await memory.buildContext(threadId, { tokenBudget: need - 1, tokensPerMessage: 0 })
      assert.fail('expected an error')
    } catch (err) {
      assert.ok(err instanceof MemoryError)
      assert.equal(err.code, 'invalid_input')
      assert.equal(err.message, `token_budget ${need - 1} is too small: the system messages and the newest message need ${need} tokens`)
    }
  })

  it('uses the summary in place of the messages it covers', async () => {
    const covered = all.filter((m) => m.role !== 'system')[199]
    await memory.updateMemoryThread(threadId, { summary: 'Earlier, the user planned a trip and compared three hotels.', summaryThrough: covered.cursor })
    const ctx = await memory.buildContext(threadId, { tokenBudget: 1_000_000, tokensPerMessage: 0 })
    assert.equal(ctx.summary, 'Earlier, the user planned a trip and compared three hotels.')
    assert.equal(ctx.summaryThrough, covered.cursor)
    assert.ok(ctx.messages.every((m) => m.created_at > covered.created_at), 'no message the summary covers is repeated')
    assert.equal(ctx.messages.length, all.filter((m) => m.role !== 'system').length - 200)
    const rand = prng(99)
    for (let k = 0; k < 30; k++) {
      const budget = 300 + Math.floor(rand() * 5000)
      const c = await memory.buildContext(threadId, { tokenBudget: budget, tokensPerMessage: 0 })
      assert.ok(c.tokenCount <= budget, `budget ${budget}: ${c.tokenCount} tokens`)
      assert.ok(c.messages.every((m) => c.summary === null || m.created_at > covered.created_at))
    }
    await memory.updateMemoryThread(threadId, { summary: null, summaryThrough: null })
  })
})
