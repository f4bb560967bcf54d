// `npm run eval -- --data ../shared/data/beir-scifact`: retrieval quality on BEIR SciFact (test split,
// 300 queries), measured through the real system: a stack on free ports, the corpus saved as messages
// through the SDK (supabase-js → /rest/v1 → save_messages), embedded by the automatic pipeline
// (pg_cron → pg_net → embed → hash-384), then every query run against the database.
//
// Channels (what exists today; the retrieval work adds SQL BM25 and hybrid_search to this list):
//   keyword  full-text match over messages.fts ranked with ts_rank_cd (Postgres' ranking, not BM25)
//   vector   kNN over the hash-384 embeddings through their HNSW index (lexical feature hashing)
//   hybrid   reciprocal rank fusion (k = 60) of the keyword and vector top 100
//   bm25-ref pg_textsearch's BM25 index, a reference implementation PGlite ships (not on hosted Supabase)
// Metrics as in BEIR: nDCG@10 with binary gains, Recall@100. Results: a table, and .data/eval/results.json.
//   Options: --data DIR (required)  --queries N (first N test queries)  --k1 --b (bm25-ref parameters)
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { createClient } from '@supabase/supabase-js'
import WebSocket from 'ws'
import { createMemory } from '../client/index.ts'
import { loadConfig, ROOT } from '../stack/core/config.ts'
import { startStack } from '../stack/stack.ts'
import { signAccessToken } from '../stack/core/jwt.ts'
import { hashEmbedding } from '../supabase/functions/_shared/hash-embedding.ts'
import { makeContext } from './bench/lib.ts'

const { values } = parseArgs({
  options: { data: { type: 'string' }, queries: { type: 'string' } },
  strict: true,
})
if (!values.data) {
  console.error('usage: npm run eval -- --data ../shared/data/beir-scifact [--queries N]')
  process.exit(2)
}
const dataDir = resolve(values.data)
for (const f of ['corpus.jsonl', 'queries.jsonl', join('qrels', 'test.tsv')]) {
  if (!existsSync(join(dataDir, f))) {
    console.error(`--data: ${join(dataDir, f)} is missing (expected a BEIR dataset directory)`)
    process.exit(2)
  }
}

// ── data ──────────────────────────────────────────────────────────────────────────────────────────────
interface Doc {
  _id: string
  title: string
  text: string
}
const readJsonl = <T>(file: string): T[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T)

const corpus = readJsonl<Doc>(join(dataDir, 'corpus.jsonl'))
const queryText = new Map(readJsonl<{ _id: string; text: string }>(join(dataDir, 'queries.jsonl')).map((q) => [q._id, q.text]))
const qrels = new Map<string, Set<string>>()
for (const line of readFileSync(join(dataDir, 'qrels', 'test.tsv'), 'utf8').split(/\r?\n/).slice(1)) {
  const [qid, docId, score] = line.split('\t')
  if (!qid || Number(score) <= 0) continue
  if (!qrels.has(qid)) qrels.set(qid, new Set())
  qrels.get(qid)!.add(docId)
}
let queryIds = [...qrels.keys()].filter((q) => queryText.has(q))
if (values.queries) queryIds = queryIds.slice(0, Number(values.queries))

// ── metrics ───────────────────────────────────────────────────────────────────────────────────────────
function ndcgAt(ranked: string[], relevant: Set<string>, k: number): number {
  let dcg = 0
  ranked.slice(0, k).forEach((d, i) => {
    if (relevant.has(d)) dcg += 1 / Math.log2(i + 2)
  })
  let ideal = 0
  for (let i = 0; i < Math.min(relevant.size, k); i++) ideal += 1 / Math.log2(i + 2)
  return ideal ? dcg / ideal : 0
}
function recallAt(ranked: string[], relevant: Set<string>, k: number): number {
  const top = new Set(ranked.slice(0, k))
  let hit = 0
  for (const d of relevant) if (top.has(d)) hit++
  return relevant.size ? hit / relevant.size : 0
}
function rrf(lists: string[][], k = 60): string[] {
  const score = new Map<string, number>()
  for (const list of lists) list.forEach((d, i) => score.set(d, (score.get(d) ?? 0) + 1 / (k + i + 1)))
  return [...score.entries()].sort((a, b) => b[1] - a[1]).map(([d]) => d)
}

// ── run ───────────────────────────────────────────────────────────────────────────────────────────────
const ctx = makeContext(false)
const work = mkdtempSync(join(tmpdir(), 'agent-memory-eval-'))
console.log(`SciFact: ${corpus.length} documents, ${queryIds.length} test queries; stack data in ${work}`)
const config = loadConfig(['--data-dir', work, '--api-port', '0', '--db-port', '0', '--quiet'], {})
const stack = await startStack(config)
try {
  // A user of our own, talking to the API with supabase-js like any client.
  const userId = crypto.randomUUID()
  await stack.db.query(`insert into auth.users (id, aud, role, email) values ($1, 'authenticated', 'authenticated', 'eval@local')`, [userId])
  const supabase = createClient(stack.apiUrl, config.anonKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { transport: WebSocket as never },
    global: { headers: { Authorization: `Bearer ${await signAccessToken({ sub: userId }, { expiresIn: '2h' })}` } },
  })
  const memory = createMemory({ supabase })
  const thread = await memory.createMemoryThread({ name: 'BEIR SciFact corpus', metadata: { dataset: 'scifact' } })

  const ingest = ctx.progress('saving documents', corpus.length)
  const started = Date.now()
  for (let i = 0; i < corpus.length; i += 250) {
    const batch = corpus.slice(i, i + 250)
    await memory.saveMessages(
      thread.id,
      batch.map((d) => ({ role: 'user' as const, content: `${d.title} ${d.text}`.trim(), metadata: { doc_id: d._id } })),
    )
    ingest.tick(batch.length)
  }
  ingest.done()
  console.log(`  saved in ${((Date.now() - started) / 1000).toFixed(1)} s`)

  const embedded = ctx.progress('embedding (cron → pg_net → embed)', corpus.length)
  let seen = 0
  const deadline = Date.now() + 10 * 60_000
  for (;;) {
    const n = (
      await stack.db.query<{ n: number }>(
        `select count(*)::int as n from public.embeddings e join public.messages m on m.id = e.source_id
          where m.thread_id = $1 and e.model = 'hash-384'`,
        [thread.id],
      )
    ).rows[0].n
    embedded.tick(n - seen)
    seen = n
    if (n >= corpus.length) break
    if (Date.now() > deadline) throw new Error(`only ${n} of ${corpus.length} documents embedded after 10 minutes`)
    await new Promise((r) => setTimeout(r, 500))
  }
  embedded.done()
  console.log(`  embedded in ${((Date.now() - started) / 1000).toFixed(1)} s after the first save`)

  // The reference BM25 index (PGlite's pg_textsearch) over the same texts.
  await stack.db.exec(`
    create extension if not exists pg_textsearch;
    create table public.eval_bm25_reference as
      select metadata ->> 'doc_id' as doc_id, content from public.messages where thread_id = '${thread.id}';
    create index eval_bm25_reference_idx on public.eval_bm25_reference using bm25 (content) with (text_config = 'english');`)

  const channels: Record<string, (q: string) => Promise<string[]>> = {
    keyword: async (q) =>
      (
        await stack.db.query<{ doc: string }>(
          `with query as (
             select to_tsquery('english', replace(plainto_tsquery('english', $2)::text, ' & ', ' | ')) as q)
           select m.metadata ->> 'doc_id' as doc
             from public.messages m, query
            where m.thread_id = $1 and m.fts @@ query.q
            order by ts_rank_cd(m.fts, query.q) desc, m.id
            limit 100`,
          [thread.id, q],
        )
      ).rows.map((r) => r.doc),
    vector: async (q) =>
      stack.db.transaction(async (tx) => {
        // HNSW returns at most ef_search rows: ask for as many as we rank.
        await tx.query(`select set_config('hnsw.ef_search', '200', true)`)
        const r = await tx.query<{ doc: string }>(
          `select m.metadata ->> 'doc_id' as doc
             from public.embeddings e join public.messages m on m.id = e.source_id
            where e.model = 'hash-384' and m.thread_id = $1
            order by e.embedding::extensions.vector(384) <=> $2::extensions.vector(384)
            limit 100`,
          [thread.id, JSON.stringify(hashEmbedding(q))],
        )
        return r.rows.map((x) => x.doc)
      }),
    'bm25-ref': async (q) =>
      (
        await stack.db.query<{ doc_id: string }>(
          `select doc_id from public.eval_bm25_reference order by content <@> to_bm25query($1, 'public.eval_bm25_reference_idx') limit 100`,
          [q],
        )
      ).rows.map((r) => r.doc_id),
  }

  const results: Record<string, { ndcg10: number; recall100: number; ms: number }> = {}
  const ranked: Record<string, Map<string, string[]>> = {}
  for (const [name, run] of Object.entries(channels)) {
    const bar = ctx.progress(`queries: ${name}`, queryIds.length)
    ranked[name] = new Map()
    const t = performance.now()
    for (const qid of queryIds) {
      ranked[name].set(qid, await run(queryText.get(qid)!))
      bar.tick()
    }
    bar.done()
    const ms = (performance.now() - t) / queryIds.length
    results[name] = score(ranked[name], ms)
  }
  const fused = new Map(queryIds.map((q) => [q, rrf([ranked.keyword.get(q)!, ranked.vector.get(q)!])]))
  results.hybrid = score(fused, results.keyword.ms + results.vector.ms)

  const order = ['keyword', 'vector', 'hybrid', 'bm25-ref']
  console.log('\nchannel    nDCG@10  Recall@100  ms/query')
  for (const name of order) {
    const r = results[name]
    console.log(`${name.padEnd(10)} ${r.ndcg10.toFixed(4).padStart(7)}  ${r.recall100.toFixed(4).padStart(10)}  ${r.ms.toFixed(1).padStart(8)}`)
  }
  console.log('\npublished, same split: BM25 (Anserini flat, k1=0.9 b=0.4) nDCG@10 0.6789, Recall@100 0.9253')
  const out = join(ROOT, '.data', 'eval')
  mkdirSync(out, { recursive: true })
  writeFileSync(
    join(out, 'results.json'),
    JSON.stringify({ at: new Date().toISOString(), dataset: 'beir-scifact', queries: queryIds.length, documents: corpus.length, results }, null, 2) + '\n',
  )
  console.log(`results: ${join(out, 'results.json')}`)
} finally {
  await stack.stop()
  rmSync(work, { recursive: true, force: true })
}

function score(rankedLists: Map<string, string[]>, ms: number): { ndcg10: number; recall100: number; ms: number } {
  let n = 0
  let r = 0
  for (const qid of queryIds) {
    n += ndcgAt(rankedLists.get(qid)!, qrels.get(qid)!, 10)
    r += recallAt(rankedLists.get(qid)!, qrels.get(qid)!, 100)
  }
  return { ndcg10: n / queryIds.length, recall100: r / queryIds.length, ms }
}
