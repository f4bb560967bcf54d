// The quickstart as a script: sign up, keep a conversation, read it back, build a prompt context under a
// token budget, store agent state with optimistic concurrency, and watch the thread in realtime with the
// user's session. README's quickstart is excerpts of this file; `npm test` runs it against a fresh stack.
//   npm start                      # in another terminal
//   npx tsx examples/quickstart.ts
// Reads SUPABASE_URL and SUPABASE_ANON_KEY (defaults: the local stack's; for a hosted project, its URL and
// anon key). The user is quickstart-<time>@example.com unless EXAMPLE_EMAIL is set.
import { createClient, type WebSocketLikeConstructor } from '@supabase/supabase-js'
import WebSocket from 'ws'
import { createMemory, MemoryError, type Database } from '../client/index.ts'

type MessageRow = Database['public']['Tables']['messages']['Row']

const SUPABASE_URL = process.env.SUPABASE_URL ?? 'http://127.0.0.1:54321'
const SUPABASE_ANON_KEY =
  process.env.SUPABASE_ANON_KEY ??
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0'

// Node 20 has no global WebSocket, so Realtime gets the `ws` package (Node 22+ and browsers: leave
// `realtime` out). ws's typings do not match realtime-js's constructor type, hence the cast.
const supabase = createClient(SUPABASE_URL, SUPABASE_ANON_KEY, {
  realtime: { transport: WebSocket as unknown as WebSocketLikeConstructor },
})

// Sign up: locally the user is confirmed at once (config.toml: enable_confirmations = false) and signed in.
const email = process.env.EXAMPLE_EMAIL ?? `quickstart-${Date.now()}@example.com`
const password = 'correct horse battery staple'
const { data: signUp, error } = await supabase.auth.signUp({ email, password })
if (error) throw error
console.log(`signed up as ${signUp.user?.email}`)

// Every SDK call is one RPC under this session: row level security decides what the user sees.
const memory = createMemory({ supabase })
const thread = await memory.createMemoryThread({ agentId: 'assistant', metadata: { topic: 'billing' } })
console.log(`created thread ${thread.id}`)

// Realtime with the session: supabase-js hands the signed-in user's token to Realtime by itself, so the
// channel gets this thread's rows and nobody else's. INSERTs arrive as messages are saved; UPDATEs follow
// when the embedding pipeline stores each message's exact token count.
const changes: { type: string; message: MessageRow }[] = []
const channel = supabase.channel(`thread:${thread.id}`).on(
  'postgres_changes',
  { event: '*', schema: 'public', table: 'messages', filter: `thread_id=eq.${thread.id}` },
  (change) => changes.push({ type: change.eventType, message: change.new as MessageRow }),
)
await new Promise<void>((resolve, reject) =>
  channel.subscribe((status, err) => {
    if (status === 'SUBSCRIBED') resolve()
    else if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT') reject(err ?? new Error(status))
  }),
)

await memory.saveMessages(thread.id, [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: 'Why was I charged twice?' },
])
const page = await memory.loadMessages(thread.id, { limit: 50 }) // newest 50, chronological, + nextCursor
console.log(`loaded ${page.messages.length} messages (more: ${page.hasMore})`)

const context = await memory.buildContext(thread.id, { tokenBudget: 4000 }) // system + summary + newest that fit
console.log(`context: ${context.systemMessages.length} system + ${context.messages.length} messages, ${context.tokenCount} of 4000 tokens`)

// Agent state is versioned: a new thread has none (version 0); each save names the version it read.
const state = await memory.saveAgentState(thread.id, { step: 1 }, { expectedVersion: 0 })
const next = await memory.saveAgentState(thread.id, { step: 2 }, { expectedVersion: state.version })
console.log(`agent state version ${state.version}, then ${next.version}`)
try {
  await memory.saveAgentState(thread.id, { step: 3 }, { expectedVersion: state.version }) // stale
} catch (err) {
  if (!(err instanceof MemoryError) || err.code !== 'conflict') throw err
  console.log(`a stale expectedVersion is a conflict: ${err.message}`)
}

const tokens = await memory.countTokens('How many tokens is this?') // js-tiktoken, per model encoding
console.log(`countTokens: ${tokens}`)

// Wait (at most 30 s) for both INSERTs and the pipeline's UPDATEs to come in over the channel.
const deadline = Date.now() + 30_000
while (changes.filter((c) => c.type === 'UPDATE' && c.message.token_count_exact).length < 2 && Date.now() < deadline) {
  await new Promise((r) => setTimeout(r, 100))
}
for (const c of changes) {
  console.log(`realtime: ${c.type} ${c.message.role} "${c.message.content}" (${c.message.token_count} tokens, exact: ${c.message.token_count_exact})`)
}

await supabase.removeChannel(channel)
await supabase.auth.signOut()

// Next time, sign in with the password; the memory is still there.
const { data: signIn, error: signInError } = await supabase.auth.signInWithPassword({ email, password })
if (signInError) throw signInError
const { threads } = await memory.listMemoryThreads()
console.log(`signed in again as ${signIn.user.email}: ${threads.length} thread(s)`)
await supabase.auth.signOut()
