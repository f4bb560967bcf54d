// `npm run eval -- --data ../shared/data/beir-scifact [--mode bm25|vector|hybrid|guide-hybrid|all]`: retrieval quality on
// a BEIR dataset (SciFact: 5,183 abstracts, 300 test queries), measured through the real system — a stack on
// free ports, every document ingested through the API as the signed-in user (supabase-js →
// /rest/v1/rpc/ingest_document: one chunk per abstract, the title as its heading, so title + text is what
// is indexed), embedded by the automatic pipeline (pg_cron → pg_net → embed → hash-384), then every query
// run through the search RPCs with supabase-js:
//   bm25     bm25_search (Okapi BM25 in SQL, k1/b from the settings unless --k1/--b)
//   vector   match_documents (hash-384 kNN through its HNSW index; lexical feature hashing, not semantic)
//   hybrid   hybrid_search (weighted reciprocal rank fusion of the two), with bm25_weight = 1 and the
//            vector_weight and rrf_k chosen on the TRAIN split (never the test split)
//   guide-hybrid  the hybrid search of Supabase's guide (ts_rank_cd + RRF, at most 30 candidates and
//            results; scripts/bench/guide-hybrid.ts), created in the eval's own database: the baseline
//            hybrid_search is compared with (Recall@100 is capped by its 30 results)
//   bm25-ref pg_textsearch's BM25 index over the same texts — a native reference implementation PGlite
//            ships (not on hosted Supabase); it agreeing with Anserini's published figure checks the harness
// Metrics as in BEIR: nDCG@10 with binary gains, Recall@100. Prints a table, writes .data/eval/results.json
// and a bar chart .data/eval/results.svg. Any BEIR-format directory works (corpus.jsonl, queries.jsonl,
// qrels/test.tsv and, for hybrid, qrels/train.tsv); BEIR's datasets are published at
// https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/.
//   Options: --data DIR (required)  --mode bm25|vector|hybrid|guide-hybrid|all (default all)  --queries N (first N test
//   queries)  --k1 X --b Y (BM25 parameters for bm25/hybrid; default the settings)
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { createClient, type SupabaseClient } from '@supabase/supabase-js'
import * as vega from 'vega'
import * as vegaLite from 'vega-lite'
import WebSocket from 'ws'
import { loadConfig, ROOT } from '../stack/core/config.ts'
import { startStack } from '../stack/stack.ts'
import { signAccessToken } from '../stack/core/jwt.ts'
import { hashEmbedding } from '../supabase/functions/_shared/hash-embedding.ts'
import { GUIDE_HYBRID_SQL } from './bench/guide-hybrid.ts'
import { makeContext } from './bench/lib.ts'
import { ndcgAt } from './bench/scifact.ts'

const MODES = ['bm25', 'vector', 'hybrid', 'guide-hybrid'] as const
type Mode = (typeof MODES)[number]
const DEPTH = 100

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    mode: { type: 'string', default: 'all' },
    queries: { type: 'string' },
    k1: { type: 'string' },
    b: { type: 'string' },
  },
  strict: true,
})
const usage = 'usage: npm run eval -- --data ../shared/data/beir-scifact [--mode bm25|vector|hybrid|guide-hybrid|all] [--queries N] [--k1 X --b Y]'
if (!values.data) {
  console.error(usage)
  process.exit(2)
}
const modes: Mode[] = values.mode === 'all' ? [...MODES] : (values.mode!.split(',') as Mode[])
for (const m of modes) {
  if (!MODES.includes(m)) {
    console.error(`--mode: unknown mode "${m}" (modes: ${MODES.join(', ')}, all)\n${usage}`)
    process.exit(2)
  }
}
const k1 = values.k1 === undefined ? null : Number(values.k1)
const b = values.b === undefined ? null : Number(values.b)
if ((k1 !== null && !Number.isFinite(k1)) || (b !== null && !Number.isFinite(b))) {
  console.error(`--k1 and --b must be numbers\n${usage}`)
  process.exit(2)
}
const dataDir = resolve(values.data)
const required = ['corpus.jsonl', 'queries.jsonl', join('qrels', 'test.tsv'), ...(modes.includes('hybrid') ? [join('qrels', 'train.tsv')] : [])]
for (const f of required) {
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
function readQrels(split: string): Map<string, Set<string>> {
  const qrels = new Map<string, Set<string>>()
  for (const line of readFileSync(join(dataDir, 'qrels', `${split}.tsv`), 'utf8').split(/\r?\n/).slice(1)) {
    const [qid, docId, score] = line.split('\t')
    if (!qid || Number(score) <= 0) continue
    if (!qrels.has(qid)) qrels.set(qid, new Set())
    qrels.get(qid)!.add(docId)
  }
  return qrels
}
const corpus = readJsonl<Doc>(join(dataDir, 'corpus.jsonl'))
const queryText = new Map(readJsonl<{ _id: string; text: string }>(join(dataDir, 'queries.jsonl')).map((q) => [q._id, q.text]))
const testQrels = readQrels('test')
let testIds = [...testQrels.keys()].filter((q) => queryText.has(q))
if (values.queries) testIds = testIds.slice(0, Number(values.queries))
const trainQrels = modes.includes('hybrid') ? readQrels('train') : new Map<string, Set<string>>()
const trainIds = [...trainQrels.keys()].filter((q) => queryText.has(q))

// ── metrics (BEIR: binary gains) ──────────────────────────────────────────────────────────────────────
function recallAt(ranked: string[], relevant: Set<string>, k: number): number {
  const top = new Set(ranked.slice(0, k))
  let hit = 0
  for (const d of relevant) if (top.has(d)) hit++
  return relevant.size ? hit / relevant.size : 0
}
function score(ranked: Map<string, string[]>, qrels: Map<string, Set<string>>, ids: string[]): { ndcg10: number; recall100: number } {
  let n = 0
  let r = 0
  for (const qid of ids) {
    n += ndcgAt(ranked.get(qid)!, qrels.get(qid)!, 10)
    r += recallAt(ranked.get(qid)!, qrels.get(qid)!, 100)
  }
  return { ndcg10: n / ids.length, recall100: r / ids.length }
}
/** Weighted RRF exactly as hybrid_search computes it (ties by id, here by doc id: they coincide 1:1). */
function fuse(bm25: string[], vector: string[], vectorWeight: number, k: number): string[] {
  const s = new Map<string, number>()
  bm25.forEach((d, i) => s.set(d, (s.get(d) ?? 0) + 1 / (k + i + 1)))
  vector.forEach((d, i) => s.set(d, (s.get(d) ?? 0) + vectorWeight / (k + i + 1)))
  return [...s.entries()].sort((a, b) => b[1] - a[1]).map(([d]) => d)
}

// ── run ───────────────────────────────────────────────────────────────────────────────────────────────
const ctx = makeContext(false)
const work = mkdtempSync(join(tmpdir(), 'agent-memory-eval-'))
console.log(`${corpus.length.toLocaleString('en')} documents, ${testIds.length} test queries, modes ${modes.join(', ')}; stack data in ${work}`)
const config = loadConfig(['--data-dir', work, '--api-port', '0', '--db-port', '0', '--quiet'], {})
const stack = await startStack(config)
try {
  const userId = crypto.randomUUID()
  await stack.db.query(`insert into auth.users (id, aud, role, email) values ($1, 'authenticated', 'authenticated', 'eval@local')`, [userId])
  const supabase: SupabaseClient = createClient(stack.apiUrl, config.anonKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { transport: WebSocket as never },
    global: { headers: { Authorization: `Bearer ${await signAccessToken({ sub: userId }, { expiresIn: '4h' })}` } },
  })
  const rpc = async <T>(fn: string, args: Record<string, unknown>): Promise<T> => {
    const { data, error } = await supabase.rpc(fn, args)
    if (error) throw new Error(`${fn}: ${error.code} ${error.message}`)
    return data as T
  }

  const ingest = ctx.progress('ingesting documents (ingest_document)', corpus.length)
  let started = Date.now()
  const docOf = new Map<string, string>()
  let next = 0
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < corpus.length) {
        const d = corpus[next++]
        const r = await rpc<{ document: { id: string } }>('ingest_document', {
          chunks: [{ content: d.text.trim() || d.title, heading_path: d.title ? [d.title] : [] }],
          title: d.title || null,
          source_uri: `beir:${d._id}`,
          format: 'text',
          metadata: { doc_id: d._id },
        })
        docOf.set(r.document.id, d._id)
        ingest.tick()
      }
    }),
  )
  ingest.done()
  console.log(`  ingested in ${((Date.now() - started) / 1000).toFixed(1)} s`)

  if (modes.some((m) => m !== 'bm25')) {
    const embedded = ctx.progress('embedding (cron → pg_net → embed)', corpus.length)
    let seen = 0
    const deadline = Date.now() + 15 * 60_000
    for (;;) {
      const n = (
        await stack.db.query<{ n: number }>(
          `select count(*)::int as n from public.embeddings where owner_id = $1 and source_table = 'document_chunks' and model = 'hash-384'`,
          [userId],
        )
      ).rows[0].n
      embedded.tick(n - seen)
      seen = n
      if (n >= corpus.length) break
      if (Date.now() > deadline) throw new Error(`only ${n} of ${corpus.length} documents embedded after 15 minutes`)
      await new Promise((r) => setTimeout(r, 500))
    }
    embedded.done()
    console.log(`  embedded ${((Date.now() - started) / 1000).toFixed(1)} s after the first document`)
  }
  // What autovacuum would have done by now on a hosted project (the planner needs statistics).
  await stack.db.exclusive((pg) => pg.exec('vacuum analyze public.document_chunks'))

  const docIds = (rows: { document_id: string }[]) => rows.map((r) => docOf.get(r.document_id)!)
  const run: Record<Mode | 'bm25-ref', (q: string, depth: number, extra?: Record<string, unknown>) => Promise<string[]>> = {
    bm25: async (q, depth) => docIds(await rpc('bm25_search', { query_text: q, match_count: depth })),
    vector: async (q, depth) => docIds(await rpc('match_documents', { query_embedding: JSON.stringify(hashEmbedding(q)), match_count: depth })),
    hybrid: async (q, depth, extra) =>
      docIds(await rpc('hybrid_search', { query_text: q, query_embedding: JSON.stringify(hashEmbedding(q)), match_count: depth, ...extra })),
    'guide-hybrid': async (q, depth) =>
      docIds(await rpc('bench_guide_hybrid_search', { query_text: q, query_embedding: JSON.stringify(hashEmbedding(q)), match_count: depth })),
    'bm25-ref': async (q, depth) =>
      (
        await stack.db.query<{ doc_id: string }>(
          `select doc_id from eval_bm25_reference order by search_text <@> to_bm25query($1, 'eval_bm25_reference_idx') limit $2`,
          [q, depth],
        )
      ).rows.map((r) => r.doc_id),
  }
  if (modes.includes('guide-hybrid')) await stack.db.exec(GUIDE_HYBRID_SQL)
  // --k1/--b: the settings every BM25 ranking reads (this stack is the eval's own).
  if (k1 !== null || b !== null) {
    await stack.db.query(
      `update settings set value = to_jsonb(v) from (values ('bm25_k1', $1::float8), ('bm25_b', $2::float8)) x(k, v)
        where category = 'retrieval' and key = x.k and v is not null`,
      [k1, b],
    )
  }

  const results: Record<string, { ndcg10: number; recall100: number; msPerQuery: number }> = {}
  const measure = async (name: string, fn: (q: string) => Promise<string[]>, ids: string[]) => {
    const bar = ctx.progress(`queries: ${name}`, ids.length)
    const ranked = new Map<string, string[]>()
    const t = performance.now()
    for (const qid of ids) {
      ranked.set(qid, await fn(queryText.get(qid)!))
      bar.tick()
    }
    bar.done()
    return { ranked, ms: (performance.now() - t) / ids.length }
  }

  let chosen: { vectorWeight: number; rrfK: number; trainNdcg10: number } | null = null
  if (modes.includes('hybrid')) {
    // Fusion parameters from the TRAIN split: both channels' candidate lists once, then every
    // (vector_weight, rrf_k) of the grid fused here exactly as hybrid_search fuses them.
    const depth = 2 * DEPTH
    const trainBm25 = await measure('train split: bm25 candidates', (q) => run.bm25(q, depth), trainIds)
    const trainVector = await measure('train split: vector candidates', (q) => run.vector(q, depth), trainIds)
    for (const vectorWeight of [0, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1]) {
      for (const rrfK of [5, 10, 20, 40, 60, 100, 200]) {
        const fused = new Map(trainIds.map((q) => [q, fuse(trainBm25.ranked.get(q)!, trainVector.ranked.get(q)!, vectorWeight, rrfK)]))
        const s = score(fused, trainQrels, trainIds)
        if (!chosen || s.ndcg10 > chosen.trainNdcg10) chosen = { vectorWeight, rrfK, trainNdcg10: s.ndcg10 }
      }
    }
    console.log(`  train split (${trainIds.length} queries): vector_weight ${chosen!.vectorWeight}, rrf_k ${chosen!.rrfK} → nDCG@10 ${chosen!.trainNdcg10.toFixed(4)}`)
  }

  for (const mode of modes) {
    const extra = mode === 'hybrid' ? { bm25_weight: 1, vector_weight: chosen!.vectorWeight, rrf_k: chosen!.rrfK, candidates: 2 * DEPTH } : undefined
    const { ranked, ms } = await measure(mode, (q) => run[mode](q, DEPTH, extra), testIds)
    results[mode] = { ...score(ranked, testQrels, testIds), msPerQuery: ms }
  }

  // The reference: pg_textsearch's BM25 index over the same texts (what bm25_search indexes).
  await stack.db.exec(`
    create extension if not exists pg_textsearch;
    create table public.eval_bm25_reference as
      select d.metadata ->> 'doc_id' as doc_id, c.search_text
        from public.document_chunks c join public.documents d on d.id = c.document_id where c.owner_id = '${userId}';
    create index eval_bm25_reference_idx on public.eval_bm25_reference using bm25 (search_text) with (text_config = 'english');`)
  {
    const { ranked, ms } = await measure('bm25-ref (pg_textsearch)', (q) => run['bm25-ref'](q, DEPTH), testIds)
    results['bm25-ref'] = { ...score(ranked, testQrels, testIds), msPerQuery: ms }
  }

  const rows = Object.entries(results)
  console.log(`\nmode       nDCG@10  Recall@100  ms/query   (${testIds.length} test queries; ms: RPC through the API, bm25-ref in process)`)
  for (const [name, r] of rows) {
    console.log(`${name.padEnd(10)} ${r.ndcg10.toFixed(4).padStart(7)}  ${r.recall100.toFixed(4).padStart(10)}  ${r.msPerQuery.toFixed(1).padStart(8)}`)
  }
  console.log('\npublished (BEIR SciFact test): BM25 BEIR paper nDCG@10 0.665; Anserini flat (k1=0.9 b=0.4) 0.6789 / R@100 0.9253')
  const out = join(ROOT, '.data', 'eval')
  mkdirSync(out, { recursive: true })
  writeFileSync(
    join(out, 'results.json'),
    JSON.stringify(
      {
        at: new Date().toISOString(),
        dataset: dataDir,
        documents: corpus.length,
        queries: testIds.length,
        bm25: { k1, b, note: 'null: the settings (retrieval.bm25_k1 / bm25_b)' },
        hybrid: chosen ? { ...chosen, bm25Weight: 1, candidates: 2 * DEPTH, chosenOn: `train split (${trainIds.length} queries)` } : null,
        results,
      },
      null,
      2,
    ) + '\n',
  )
  const spec: vegaLite.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `Retrieval quality, ${testIds.length} test queries`,
    data: { values: rows.flatMap(([mode, r]) => [{ mode, metric: 'nDCG@10', value: r.ndcg10 }, { mode, metric: 'Recall@100', value: r.recall100 }]) },
    mark: 'bar',
    encoding: {
      x: { field: 'mode', type: 'nominal', title: null },
      xOffset: { field: 'metric' },
      y: { field: 'value', type: 'quantitative', scale: { domain: [0, 1] } },
      color: { field: 'metric', type: 'nominal' },
    },
    width: 420,
    height: 260,
  }
  writeFileSync(join(out, 'results.svg'), await new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' }).toSVG())
  console.log(`results: ${join(out, 'results.json')}, plot: ${join(out, 'results.svg')}`)
} finally {
  await stack.stop()
  rmSync(work, { recursive: true, force: true })
}
