// Long-term memory as a script: facts about the user that outlive a thread (remembered, updated with the
// old version kept, forgotten softly, each change in the history), working memory checked against a JSON
// Schema, a thread summary made now, and buildContext putting them into one prompt context. README's
// long-term memory section is excerpts of this file; `npm test` runs it against a fresh stack.
//   npm start                      # in another terminal
//   npx tsx examples/long-term.ts
// Reads SUPABASE_URL and SUPABASE_ANON_KEY (defaults: the local stack's). Without a chat model configured
// (settings summaries.model / memories.model) summaries are extractive and nothing is extracted by a model;
// the manual memory API below needs neither.
import { createClient, type WebSocketLikeConstructor } from '@supabase/supabase-js'
import WebSocket from 'ws'
import { createMemory } from '../client/index.ts'

const SUPABASE_URL = process.env.SUPABASE_URL ?? 'http://127.0.0.1:54321'
const SUPABASE_ANON_KEY =
  process.env.SUPABASE_ANON_KEY ??
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0'

// supabase-js builds a Realtime client even when it is not used; Node 20 has no global WebSocket.
const supabase = createClient(SUPABASE_URL, SUPABASE_ANON_KEY, {
  realtime: { transport: WebSocket as unknown as WebSocketLikeConstructor },
})
const { error } = await supabase.auth.signInAnonymously() // memories belong to the signed-in user (RLS)
if (error) throw error
const memory = createMemory({ supabase })
const thread = await memory.createMemoryThread({ agentId: 'assistant' })
const threadId = thread.id
await memory.saveMessages(threadId, [
  { role: 'user', content: 'We are planning a trip to Lisbon in May.' },
  { role: 'assistant', content: 'Lovely. Shall I look at flights from Berlin?' },
])

const paris = await memory.rememberFact('Lives in Paris.', { kind: 'fact' })
const berlin = await memory.updateMemory(paris.id, 'Lives in Berlin.')  // Paris kept, invalid_at set
const { memories } = await memory.listMemories({ includeInvalid: true, kinds: ['fact'] })
console.log(`memories: ${memories.map((m) => `"${m.content}"${m.invalid_at ? ' (superseded)' : ''}`).sort().join(', ')}`)
const hits = await memory.searchMemories('where does the user live', { mode: 'bm25' })
console.log(`search: "${hits.results[0]?.content}"`)

await memory.updateWorkingMemory({ data: { name: 'Alex' }, schema: { type: 'object', required: ['name'] }, expectedVersion: 0 })
const wm = await memory.getWorkingMemory()                               // scope resource: shared by the user's threads
console.log(`working memory v${wm?.version}: ${JSON.stringify(wm?.data)}`)

const s = await memory.generateThreadSummary(threadId)                  // run now, returns the summary
console.log(`summary: ${s.steps} step(s), ${s.summary ? 'written' : 'nothing to summarize yet'}`)
const ctx = await memory.buildContext(threadId, { tokenBudget: 8000, query: 'where does the user live', memories: true })
// ctx.summary, ctx.workingMemory, ctx.memories, ctx.recalled, ctx.messages — one RPC, never over the budget
console.log(`context: ${ctx.messages.length} messages, ${ctx.workingMemory.length} working memory, memories ${ctx.memories.map((m) => `"${m.content}"`).join(', ')}, ${ctx.tokenCount} of 8000 tokens`)

await memory.forgetMemory(berlin.id, { reason: 'asked to' })           // soft; history row
const history = await memory.getMemoryHistory(berlin.id)
console.log(`history of the Berlin memory: ${history.map((h) => h.event).join(', ')}`)
await supabase.auth.signOut()
