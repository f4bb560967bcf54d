// Benchmark `scifact`: retrieval quality beside the baseline of Supabase's guide, on BEIR SciFact (5,183
// abstracts, 300 test queries; read from the shared data directory, never copied into the repository):
// every abstract loaded as one document chunk (title as its heading) of a signed-in user in a migrated
// database of its own, with its hash-384 vector; then each test query through bm25_search, hybrid_search
// (its defaults) and the guide's hybrid search (scripts/bench/guide-hybrid.ts: ts_rank_cd + RRF, at most 30
// candidates, its defaults), in process as that user. Figures: nDCG@10 (BEIR: binary gains) with the guide
// as the baseline, and the latency of both hybrids on this corpus. `npm run eval` measures the same modes
// (and more) through the API, with fusion parameters tuned on the train split.
// The data directory: --scifact DIR, else AGENT_MEMORY_SCIFACT_DIR, else ../shared/data/beir-scifact next to
// the checkout (or one level further up, for a git worktree); without it the section reports nothing.
import { randomUUID } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../../stack/core/config.ts'
import type { Identity } from '../../stack/core/identity.ts'
import { hashEmbedding } from '../../supabase/functions/_shared/hash-embedding.ts'
import { freshDatabase } from '../lib/fresh-db.ts'
import { embedMissing, withHnswRebuilt } from './dataset.ts'
import { GUIDE_HYBRID_SQL } from './guide-hybrid.ts'
import { sample, scaledLatency, type BenchReport } from './lib.ts'
import type { Bench } from './section.ts'

export function scifactDir(): string | null {
  const candidates = [
    process.env.AGENT_MEMORY_SCIFACT_DIR,
    join(ROOT, '..', 'shared', 'data', 'beir-scifact'),
    join(ROOT, '..', '..', 'shared', 'data', 'beir-scifact'),
  ].filter((d): d is string => !!d)
  return candidates.find((d) => existsSync(join(d, 'corpus.jsonl'))) ?? null
}

/** nDCG@k with binary gains, as BEIR computes it. */
export function ndcgAt(ranked: string[], relevant: Set<string>, k: number): number {
  let dcg = 0
  ranked.slice(0, k).forEach((d, i) => {
    if (relevant.has(d)) dcg += 1 / Math.log2(i + 2)
  })
  let ideal = 0
  for (let i = 0; i < Math.min(relevant.size, k); i++) ideal += 1 / Math.log2(i + 2)
  return ideal ? dcg / ideal : 0
}

const readJsonl = <T>(file: string): T[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T)

export const scifact: Bench = {
  name: 'scifact',
  // A fixed setup of ~50 s (its own database, 5,183 abstracts): a full-run section, left out of --quick.
  slow: true,
  description: 'BEIR SciFact nDCG@10: bm25_search, hybrid_search and the Supabase guide hybrid search (in process, its own database)',
  async run(ctx): Promise<BenchReport> {
    const dir = scifactDir()
    if (!dir) return { figures: [], notes: ['skipped: no SciFact data (set --scifact DIR or AGENT_MEMORY_SCIFACT_DIR)'] }
    const corpus = readJsonl<{ _id: string; title: string; text: string }>(join(dir, 'corpus.jsonl'))
    const queryText = new Map(readJsonl<{ _id: string; text: string }>(join(dir, 'queries.jsonl')).map((q) => [q._id, q.text]))
    const qrels = new Map<string, Set<string>>()
    for (const line of readFileSync(join(dir, 'qrels', 'test.tsv'), 'utf8').split(/\r?\n/).slice(1)) {
      const [qid, docId, score] = line.split('\t')
      if (!qid || Number(score) <= 0 || !queryText.has(qid)) continue
      if (!qrels.has(qid)) qrels.set(qid, new Set())
      qrels.get(qid)!.add(docId)
    }
    const qids = [...qrels.keys()]
    const fresh = await freshDatabase()
    try {
      const db = fresh.db
      const id = randomUUID()
      await db.query(`insert into auth.users (id, aud, role, email) values ($1, 'authenticated', 'authenticated', 'scifact@bench.local')`, [id])
      const user: Identity = { role: 'authenticated', claims: { sub: id, role: 'authenticated', aud: 'authenticated' } }
      await db.exec(GUIDE_HYBRID_SQL)
      const docOf = new Map<string, string>()
      const bar = ctx.progress('SciFact abstracts', corpus.length)
      for (let i = 0; i < corpus.length; i += 1000) {
        const batch = corpus.slice(i, i + 1000)
        const rows = (
          await db.query<{ id: string; uri: string }>(
            `with d as (
               insert into documents (title, source_uri, format, content_hash, chunk_count)
               select nullif(t, ''), 'beir:' || u, 'text', encode(sha256(convert_to(u, 'UTF8')), 'hex'), 1
                 from unnest($1::text[], $2::text[]) as x(u, t)
               returning id, source_uri, title)
             insert into document_chunks (document_id, ordinal, content, heading_path, token_count)
             select d.id, 0, x.c, case when d.title is null then '{}'::text[] else array[d.title] end, 0
               from unnest($1::text[], $3::text[]) as x(u, c) join d on d.source_uri = 'beir:' || x.u
             returning id, (select source_uri from d where d.id = document_id) as uri`,
            [batch.map((d) => d._id), batch.map((d) => d.title ?? ''), batch.map((d) => d.text.trim() || d.title)],
            user,
          )
        ).rows
        for (const r of rows) docOf.set(r.id, r.uri.slice('beir:'.length))
        bar.tick(batch.length)
      }
      bar.done()
      await withHnswRebuilt(db, () => embedMissing(db, 'document_chunks', 'search_text', ctx), ctx.log)
      await db.query(`select pgmq.purge_queue(queue_name) from pgmq.list_queues()`)
      await db.exec('vacuum analyze')

      const modes = {
        bm25_search: (q: string) => [`select id from bm25_search($1, 10)`, [q]] as const,
        hybrid_search: (q: string) => [`select id from hybrid_search($1, $2::extensions.vector, 10)`, [q, JSON.stringify(hashEmbedding(q))]] as const,
        guide: (q: string) => [`select id from bench_guide_hybrid_search($1, $2::extensions.vector, 10)`, [q, JSON.stringify(hashEmbedding(q))]] as const,
      }
      const ndcg: Record<string, number> = {}
      const latency: Record<string, number[]> = {}
      for (const [mode, sql] of Object.entries(modes)) {
        let total = 0
        latency[mode] = await sample(ctx, `SciFact test queries: ${mode}`, qids.length, async (i) => {
          const [text, params] = sql(queryText.get(qids[i])!)
          const ranked = (await db.query<{ id: string }>(text, [...params], user)).rows.map((r) => docOf.get(r.id)!)
          total += ndcgAt(ranked, qrels.get(qids[i])!, 10)
        }, 0)
        ndcg[mode] = total / qids.length
      }
      const size = corpus.length
      return {
        figures: [
          { name: 'SciFact nDCG@10, hybrid_search (defaults)', value: ndcg.hybrid_search, unit: 'nDCG@10', size, baseline: { name: 'Supabase guide hybrid (ts_rank_cd + RRF, 30)', value: ndcg.guide } },
          { name: 'SciFact nDCG@10, bm25_search', value: ndcg.bm25_search, unit: 'nDCG@10', size, baseline: { name: 'Supabase guide hybrid (ts_rank_cd + RRF, 30)', value: ndcg.guide } },
          ...scaledLatency('SciFact hybrid_search k=10', latency.hybrid_search, { size, baseline: { name: 'Supabase guide hybrid (ts_rank_cd + RRF, 30)', samplesMs: latency.guide } }),
        ],
        notes: [
          `${corpus.length.toLocaleString('en')} abstracts, ${qids.length} test queries, hash-384 vectors (lexical, not semantic); both hybrids with their default weights, nothing tuned; the guide's version caps results at 30 (Recall@100 is not comparable, so not reported)`,
        ],
      }
    } finally {
      await fresh.close()
    }
  },
}
