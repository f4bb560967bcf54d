// The LibSQL mirror as a script: what the stack saves in Supabase is copied to LibSQL by the `mirror`
// function (a cron job, every second); the read client answers from that copy (keyset pages, FTS5,
// vector_top_k); and the SDK with `libsql` keeps working when Supabase cannot be reached — reads from the
// mirror, writes into an outbox replayed once Supabase answers again. README's mirror section is excerpts
// of this file; `npm test` runs it against a fresh stack.
//   npm start                      # in another terminal (it mirrors to file:.data/mirror.db)
//   npx tsx examples/mirror.ts
// Reads SUPABASE_URL, SUPABASE_ANON_KEY and LIBSQL_DATABASE_URL (defaults: the local stack's).
import { createClient, type WebSocketLikeConstructor } from '@supabase/supabase-js'
import WebSocket from 'ws'
import { createMemory } from '../client/index.ts'
import { getLibSQLClient, getMemory } from '../libsql/index.ts'
import { hashEmbedding } from '../supabase/functions/_shared/hash-embedding.ts'

const SUPABASE_URL = process.env.SUPABASE_URL ?? 'http://127.0.0.1:54321'
const SUPABASE_ANON_KEY =
  process.env.SUPABASE_ANON_KEY ??
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0'
const transport = WebSocket as unknown as WebSocketLikeConstructor // Node 20 has no global WebSocket

const supabase = createClient(SUPABASE_URL, SUPABASE_ANON_KEY, { realtime: { transport } })
const { data: signIn, error } = await supabase.auth.signInAnonymously()
if (error) throw error
const userId = signIn.user!.id
const online = createMemory({ supabase })
const { id: threadId } = await online.createMemoryThread({ agentId: 'planner' })
await online.saveMessages(threadId, [
  { role: 'user', content: 'What is the refund policy for annual plans?' },
  { role: 'assistant', content: 'Annual plans are refundable within 30 days.' },
])

// Reading the mirror directly. The mirror has no RLS: every call is scoped to the owner you pass.
const client = await getLibSQLClient()        // LIBSQL_DATABASE_URL / LIBSQL_AUTH_TOKEN, else file:.data/mirror.db
const mirror = getMemory(client, { ownerId: userId })
const embedding = hashEmbedding('refund policy', 384) // the query's vector from the default model (hash-384 locally)
// The copy follows within a second or two (messages first, their embeddings after the pipeline ran).
let mirrored = 0
for (let i = 0; i < 200 && mirrored < 2; i++) {
  await new Promise((r) => setTimeout(r, 300))
  mirrored = (await mirror.searchMemory({ embedding, k: 10, threadId }).catch(() => [])).length
}
const page = await mirror.loadMessages(threadId, { limit: 50 })           // same keyset cursors as Supabase
console.log(`mirror: ${page.messages.length} messages in the thread`)
const keyword = await mirror.keywordSearch({ query: 'refund policy' })                   // FTS5 bm25
console.log(`mirror keyword: "${keyword[0]?.message.content}"`)
const hybrid = await mirror.hybridSearch({ embedding, query: 'refund policy', k: 10 })  // reciprocal rank fusion of the two
console.log(`mirror hybrid: ${hybrid.length} hits, first "${hybrid[0]?.message.content}"`)

// Through the SDK with a Supabase that cannot be reached (here: a URL nothing listens on, with the same
// session): reads come from the mirror, writes wait in the outbox (a table in the LibSQL database).
const { data: session } = await supabase.auth.getSession()
const unreachable = createClient('http://127.0.0.1:9', SUPABASE_ANON_KEY, {
  realtime: { transport },
  global: { headers: { Authorization: `Bearer ${session.session!.access_token}` } },
  auth: { persistSession: false, autoRefreshToken: false },
})
const offline = createMemory({ supabase: unreachable, libsql: { client, onFallback: (e) => console.log(`fallback: ${e.method} (${e.kind})`) } })
const offlinePage = await offline.loadMessages(threadId)   // page.source: 'supabase' | 'mirror'
console.log(`offline read: ${offlinePage.messages.length} messages from ${offlinePage.source}`)
const msg = await offline.saveMessage(threadId, { role: 'user', content: 'And for monthly plans?' })   // msg.source 'outbox' when offline
console.log(`offline write: ${msg.source}`)

// Back online: the outbox is replayed in order, each write applied once (client-generated ids).
const memory = createMemory({ supabase, libsql: { client } })
const replay = await memory.replayOutbox()                        // also done before every call; refusals come back in `failed`
console.log(`replayed ${replay.replayed.length} write(s), ${replay.failed.length} refused`)
const back = await memory.loadMessages(threadId)
console.log(`supabase now has ${back.messages.length} messages (source ${back.source})`)
await supabase.auth.signOut()
