// Keyset pagination under concurrent writes: a 10,000-message thread walked through the SDK in pages of
// 100, back from the newest and forward from the oldest, while another client keeps appending messages to
// the same thread. Every message that existed when the walk started must come exactly once and in order;
// the messages appended meanwhile may only appear after them (forward) or not at all (backward).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createMemory, type Memory, type Message } from '../client/index.ts'
import { createUser, startTestStack, userClient, type TestStack } from './helpers/stack.ts'

const THREAD_SIZE = 10_000
const PAGE = 100

describe('pagination of a 10,000-message thread while messages are being inserted', () => {
  let stack: TestStack
  let memory: Memory
  let writer: Memory
  let threadId: string
  let existing: string[]

  before(async () => {
    stack = await startTestStack()
    const user = await createUser(stack, 'walker')
    memory = createMemory({ supabase: user.client })
    // A second client of the same user, as a second process of the same agent would be.
    writer = createMemory({ supabase: userClient(stack, user.token) })
    threadId = (await memory.createMemoryThread({ name: 'long' })).id
    for (let start = 0; start < THREAD_SIZE; start += 1000) {
      await memory.saveMessages(
        threadId,
        Array.from({ length: 1000 }, (_, i) => ({ role: (start + i) % 2 ? ('assistant' as const) : ('user' as const), content: `m${start + i}` })),
      )
    }
    const all: string[] = []
    for await (const page of memory.iterateMessages(threadId, { pageSize: 1000, direction: 'newer' })) all.push(...page.messages.map((m) => m.id))
    existing = all
    assert.equal(existing.length, THREAD_SIZE)
  })
  after(() => stack?.close())

  /** Once `started` resolves, appends messages one request at a time until `done` settles. */
  async function keepWriting(started: Promise<unknown>, done: Promise<unknown>, label: string): Promise<Message[]> {
    let stop = false
    void done.finally(() => (stop = true))
    await started
    const written: Message[] = []
    while (!stop) {
      written.push(await writer.saveMessage(threadId, { role: 'user', content: `${label} ${written.length}` }))
      await new Promise((r) => setImmediate(r))
    }
    return written
  }

  for (const direction of ['older', 'newer'] as const) {
    it(`walks direction ${direction} in pages of ${PAGE}: no duplicates, no gaps, in order`, async (t) => {
      const seen: Message[] = []
      let pages = 0
      let firstPage!: () => void
      const started = new Promise<void>((resolve) => (firstPage = resolve))
      const walk = (async () => {
        for await (const page of memory.iterateMessages(threadId, { pageSize: PAGE, direction })) {
          // The walk has started once its first page is served; the writer begins then.
          if (pages++ === 0) firstPage()
          assert.ok(page.messages.length <= PAGE)
          if (direction === 'older') seen.unshift(...page.messages)
          else seen.push(...page.messages)
          // Give the writer a turn between pages.
          await new Promise((r) => setImmediate(r))
        }
      })()
      const written = await keepWriting(started, walk, `during ${direction} walk`)
      await walk

      assert.ok(written.length > 0, 'messages were inserted while the walk ran')
      t.diagnostic(`${pages} pages; ${written.length} messages inserted during the walk`)
      const ids = seen.map((m) => m.id)
      assert.equal(new Set(ids).size, ids.length, 'no message came twice')
      for (let i = 1; i < seen.length; i++) {
        const a = seen[i - 1]
        const b = seen[i]
        assert.ok(a.created_at < b.created_at || (a.created_at === b.created_at && a.id < b.id), `out of order at ${i}`)
      }
      assert.deepEqual(ids.slice(0, existing.length), existing, 'every message that existed at the start came once, in order')
      const extra = ids.slice(existing.length)
      if (direction === 'older') {
        assert.deepEqual(extra, [], 'a backward walk starts at the newest message when it began and sees nothing newer')
        assert.equal(pages, THREAD_SIZE / PAGE)
      } else {
        const writtenIds = new Set(written.map((m) => m.id))
        assert.ok(extra.every((id) => writtenIds.has(id)), 'a forward walk only adds messages written during the walk, after the others')
      }
      existing = (await collectAll()).map((m) => m.id)
    })
  }

  async function collectAll(): Promise<Message[]> {
    const out: Message[] = []
    for await (const page of memory.iterateMessages(threadId, { pageSize: 1000, direction: 'newer' })) out.push(...page.messages)
    return out
  }
})
