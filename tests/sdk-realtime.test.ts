// Realtime on the memory tables: messages, threads and agent states are in the supabase_realtime
// publication, so a client subscribed to its thread sees messages saved through the SDK (by itself or by
// another process) as they are written — and another user, subscribed to the whole table, sees none of them.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { RealtimeChannel, SupabaseClient } from '@supabase/supabase-js'
import { createMemory, type Memory } from '../client/index.ts'
import { createUser, startTestStack, userClient, waitFor, type TestStack, type TestUser } from './helpers/stack.ts'

interface Change {
  eventType: string
  table: string
  new: Record<string, unknown>
}

async function realtimeAs(stack: TestStack, user: TestUser): Promise<SupabaseClient> {
  const client = userClient(stack, user.token)
  await client.realtime.setAuth(user.token)
  return client
}

function listen(client: SupabaseClient, name: string, filter: Record<string, string>, into: Change[]): Promise<RealtimeChannel> {
  return new Promise((resolve, reject) => {
    const channel = client
      .channel(name)
      .on('postgres_changes', filter as never, (p: unknown) => into.push(p as Change))
      .subscribe((status, err) => {
        if (status === 'SUBSCRIBED') resolve(channel)
        else if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT') reject(err ?? new Error(status))
      })
  })
}

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
    const a = await realtimeAs(stack, alice)
    const b = await realtimeAs(stack, bob)
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
