// Realtime on the memory tables: messages, threads and agent states are in the supabase_realtime
// publication, so a client subscribed to its thread sees messages saved through the SDK (by itself or by
// another process) as they are written — and another user, subscribed to the whole table, sees none of them.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { SupabaseClient } from '@supabase/supabase-js'
import { createMemory, type Memory } from '../client/index.ts'
import { createUser, startTestStack, waitFor, type TestStack, type TestUser } from './helpers/stack.ts'
import { listen, realtimeAs, type Change } from './helpers/realtime.ts'




describe('Realtime changes of threads, messages and agent states', () => {
  let stack: TestStack
  let alice: TestUser
  let bob: TestUser
  let memory: Memory
  const clients: SupabaseClient[] = []

  before(async () => {
    stack = await startTestStack()
    alice = await createUser(stack, 'alice')
    bob = await createUser(stack, 'bob')
    memory = createMemory({ supabase: alice.client })
  })
  after(async () => {
    for (const c of clients) await c.removeAllChannels()
    await stack?.close()
  })

  it('delivers a thread\'s new messages and state changes to its owner only', async () => {
    const thread = await memory.createMemoryThread({ agentId: 'assistant' })
    const a = await realtimeAs(stack, alice.token)
    const b = await realtimeAs(stack, bob.token)
    clients.push(a, b)
    const aliceMessages: Change[] = []
    const aliceStates: Change[] = []
    const bobSees: Change[] = []
    await listen(a, 'alice-thread', { event: 'INSERT', schema: 'public', table: 'messages', filter: `thread_id=eq.${thread.id}` }, aliceMessages)
    await listen(a, 'alice-state', { event: '*', schema: 'public', table: 'agent_states', filter: `thread_id=eq.${thread.id}` }, aliceStates)
    await listen(b, 'bob-messages', { event: '*', schema: 'public', table: 'messages' }, bobSees)
    await listen(b, 'bob-threads', { event: '*', schema: 'public', table: 'memory_threads' }, bobSees)
    await listen(b, 'bob-states', { event: '*', schema: 'public', table: 'agent_states' }, bobSees)

    await memory.saveMessages(thread.id, [
      { role: 'user', content: 'Where should I eat tonight?' },
      { role: 'assistant', content: 'Try the market hall.' },
    ])
    await memory.saveAgentState(thread.id, { step: 'recommend' }, { expectedVersion: 0 })
    await memory.saveAgentState(thread.id, { step: 'done' }, { expectedVersion: 1 })

    await waitFor(() => aliceMessages.length >= 2 && aliceStates.length >= 2, 5000)
    assert.deepEqual(aliceMessages.map((c) => c.new.content), ['Where should I eat tonight?', 'Try the market hall.'])
    assert.deepEqual(aliceStates.map((c) => [c.eventType, c.new.version]), [['INSERT', 1], ['UPDATE', 2]])
    await new Promise((r) => setTimeout(r, 500))
    assert.deepEqual(bobSees, [], 'Bob receives none of Alice\'s rows')
  })
})
