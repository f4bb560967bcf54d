// Switching to a real embedding model without a migration: register a model served by an
// OpenAI-compatible server, build it with util.reembed, watch a user's message get embedded, and see the
// model become the default once every row has its vector. README's embeddings section is excerpts of
// this file; `npm test` runs it against a fresh stack with a fake OpenAI-compatible server.
//   ollama pull nomic-embed-text   # or any OpenAI-compatible server: vLLM, TEI, LiteLLM, OpenAI itself
//   npm start                      # in another terminal
//   npx tsx examples/embeddings.ts
// Reads SUPABASE_URL, SUPABASE_ANON_KEY and SUPABASE_DB_URL (defaults: the local stack's), and
// EMBEDDINGS_BASE_URL / EMBEDDINGS_MODEL / EMBEDDINGS_DIMS (default: Ollama's nomic-embed-text, 768 dims).
// A server that needs a key: set api_key_env on the model and put the key in supabase/functions/.env.
import { createClient, type WebSocketLikeConstructor } from '@supabase/supabase-js'
import pg from 'pg'
import WebSocket from 'ws'
import { createMemory } from '../client/index.ts'

const SUPABASE_URL = process.env.SUPABASE_URL ?? 'http://127.0.0.1:54321'
const SUPABASE_ANON_KEY =
  process.env.SUPABASE_ANON_KEY ??
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0'
const SUPABASE_DB_URL = process.env.SUPABASE_DB_URL ?? 'postgresql://postgres:postgres@127.0.0.1:54322/postgres'
const BASE_URL = process.env.EMBEDDINGS_BASE_URL ?? 'http://127.0.0.1:11434/v1' // Ollama's OpenAI-compatible API
const MODEL = process.env.EMBEDDINGS_MODEL ?? 'nomic-embed-text'
const DIMS = Number(process.env.EMBEDDINGS_DIMS ?? 768)

// Registering and building a model is the database owner's job (psql runs the same SQL).
const db = new pg.Client({ connectionString: SUPABASE_DB_URL })
await db.connect()
await db.query(
  `insert into public.embedding_models (name, provider, provider_model, dims, base_url)
   values ($1, 'openai', $1, $2, $3)
   on conflict (name) do update set base_url = excluded.base_url`,
  [MODEL, DIMS, BASE_URL],
)
const { rows: [build] } = await db.query<{ queued: number }>('select util.reembed($1) as queued', [MODEL])
console.log(`registered ${MODEL} (${DIMS} dims at ${BASE_URL}); util.reembed queued ${build.queued} jobs`)
// Searches keep using the current default (hash-384) until the build is complete. A build that cannot
// finish (wrong URL, missing key: its jobs are dead-lettered at once) is ended with
//   select util.cancel_reembed('nomic-embed-text');

// A user's new message is embedded with the default model and with the model being built.
const supabase = createClient(SUPABASE_URL, SUPABASE_ANON_KEY, {
  realtime: { transport: WebSocket as unknown as WebSocketLikeConstructor },
})
const { error } = await supabase.auth.signUp({ email: `embeddings-${Date.now()}@example.com`, password: 'correct horse battery staple' })
if (error) throw error
const memory = createMemory({ supabase })
const thread = await memory.createMemoryThread({ agentId: 'assistant' })
const message = await memory.saveMessage(thread.id, { role: 'user', content: 'My invoice shows the same charge twice.' })

// embedding_status says where each of the user's rows stands, per model (row level security applies).
const deadline = Date.now() + 60_000
let status = ''
while (status !== 'embedded' && Date.now() < deadline) {
  const { data } = await supabase
    .from('embedding_status')
    .select('status, reason')
    .eq('source_id', message.id)
    .eq('model', MODEL)
    .maybeSingle()
  status = data?.status ?? 'pending'
  if (status === 'failed') throw new Error(`embedding failed: ${data?.reason}`)
  if (status !== 'embedded') await new Promise((r) => setTimeout(r, 250))
}
console.log(`message ${message.id}: ${status} with ${MODEL}`)

// Once every row has a vector of the new model, it becomes the default by itself.
let isDefault = false
while (!isDefault && Date.now() < deadline) {
  const { data } = await supabase.from('embedding_models').select('is_default, state').eq('name', MODEL).single()
  isDefault = data?.is_default === true
  if (!isDefault) await new Promise((r) => setTimeout(r, 250))
}
console.log(isDefault ? `${MODEL} is now the default embedding model` : `${MODEL} is still building`)

await supabase.auth.signOut()
await db.end()
