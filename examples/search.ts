// Retrieval as a script: ingest a Markdown document (heading-aware chunks), search it by keyword (BM25),
// by vector and hybrid, search the user's conversations, and let buildContext recall older messages that
// match the question. README's retrieval section is excerpts of this file; `npm test` runs it against a
// fresh stack.
//   npm start                      # in another terminal
//   npx tsx examples/search.ts
// Reads SUPABASE_URL and SUPABASE_ANON_KEY (defaults: the local stack's). Locally the default embedding
// model is the offline hash-384 embedder (it matches words, not meanings); register a real model for
// semantic search (examples/embeddings.ts).
import { createClient, type WebSocketLikeConstructor } from '@supabase/supabase-js'
import WebSocket from 'ws'
import { createMemory } from '../client/index.ts'

const SUPABASE_URL = process.env.SUPABASE_URL ?? 'http://127.0.0.1:54321'
const SUPABASE_ANON_KEY =
  process.env.SUPABASE_ANON_KEY ??
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0'

// supabase-js builds a Realtime client even when it is not used; Node 20 has no global WebSocket (see
// quickstart.ts).
const supabase = createClient(SUPABASE_URL, SUPABASE_ANON_KEY, {
  realtime: { transport: WebSocket as unknown as WebSocketLikeConstructor },
})
const { error } = await supabase.auth.signInAnonymously() // any signed-in user; documents are per user (RLS)
if (error) throw error
const memory = createMemory({ supabase })

// Ingest: the `ingest` function chunks by headings (each chunk indexed and embedded with its heading path),
// sized in real tokens. A document is known by its sourceUri (or documentId): ingesting the same content
// again is a no-op, changed content replaces its chunks in one transaction.
const handbook = `# Billing handbook

## Refunds
Refunds for a duplicate charge are issued within five business days to the original card.

## Invoices
Invoices are emailed on the first day of each month and can be downloaded as PDF.

## Plans
The team plan includes ten seats; extra seats are billed monthly.
`
const ingested = await memory.ingestDocument(handbook, { title: 'Billing handbook', sourceUri: 'kb://billing', metadata: { team: 'support' } })
console.log(`ingested "${ingested.document.title}": ${ingested.chunkCount} chunks (${ingested.strategy})`)
const again = await memory.ingestDocument(handbook, { title: 'Billing handbook', sourceUri: 'kb://billing', metadata: { team: 'support' } })
console.log(`ingested again: replaced ${again.replaced}`)

// Keyword search is Okapi BM25 over the caller's own chunks; it needs no embedding.
const keyword = await memory.searchDocuments('duplicate charge refund', { mode: 'bm25', k: 3 })
const top = keyword.results[0]
console.log(`bm25: "${top.heading_path?.join(' > ')}" (score ${top.score.toFixed(2)}, matched ${top.matched?.join(', ')})`)

// Hybrid fuses BM25 and vector search (weighted reciprocal rank fusion). The chunks are embedded by the
// pipeline within a few seconds of ingest; until then the vector channel finds nothing yet.
let hybrid = await memory.searchDocuments('how long until I get my money back for a double charge', { k: 3, filter: { team: 'support' } })
for (let i = 0; i < 100 && !hybrid.results.some((h) => h.vector_rank !== null); i++) {
  await new Promise((r) => setTimeout(r, 300))
  hybrid = await memory.searchDocuments('how long until I get my money back for a double charge', { k: 3, filter: { team: 'support' } })
}
const best = hybrid.results[0]
console.log(`hybrid: "${best.heading_path?.join(' > ')}" (bm25 rank ${best.bm25_rank}, vector rank ${best.vector_rank}; embedded with ${hybrid.steps.embed.model})`)

// Conversations are searchable too: scope 'thread', 'agent' or 'all' of the user's threads, each hit with
// its neighbouring messages.
const thread = await memory.createMemoryThread({ agentId: 'assistant' })
await memory.saveMessages(thread.id, [
  { role: 'user', content: 'My order number is 4417 and it arrived damaged.' },
  { role: 'assistant', content: 'Sorry about that. I have opened a replacement request.' },
  { role: 'user', content: 'Also, can I change the delivery address for future orders?' },
  { role: 'assistant', content: 'Yes, under Settings, Addresses.' },
])
const found = await memory.semanticSearchMemory('damaged order', { threadId: thread.id, mode: 'bm25', k: 1, after: 1 })
console.log(`memory: "${found.results[0].content}" then "${found.results[0].after[0]?.content}"`)

// buildContext with a query recalls older messages that match it, beside the newest ones that fit.
const context = await memory.buildContext(thread.id, { tokenBudget: 4000, maxMessages: 1, query: 'order number damaged', recall: { mode: 'bm25', k: 1 } })
console.log(`context: ${context.messages.length} newest + ${context.recalled.length} recalled ("${context.recalled[0]?.message.content}")`)
await supabase.auth.signOut()
