// One search, step by step:
//   1. rewrite (optional, in parallel, OpenAI-compatible chat): HyDE writes a passage answering the query;
//      expansion writes n other phrasings of it;
//   2. embed (unless mode bm25) in ONE call to the default embedding model's provider: the query — or,
//      with HyDE, the passage in its place — and each alternative phrasing;
//   3. retrieve through the caller's RPC for the scope (documents and memories — the long-term memories —:
//      hybrid_search / bm25_search; thread, agent, all: search_memories), once per phrasing; BM25 always
//      gets the phrasing's own words, the vector channel its embedding;
//   4. fuse the phrasings' ranked lists by reciprocal rank fusion (k = 60) when there are several;
//   5. rerank (optional, Cohere-compatible API) the best max(k, top_n or min(3k, 100)) candidates
//      against the original query and keep the k best.
// An optional step that is not configured or whose provider fails is reported in `steps` (skipped or
// failed, with the reason) and the search goes on without it: no rewrite → the query alone; embedding
// failed → BM25 alone in mode hybrid (mode vector cannot answer without a vector: 502); rerank failed →
// the retrieval order. Only an RPC error (bad filter, unknown thread …) fails the request.
import { createChatClient, expand as expandQuery, hyde as hydePassage } from '../_shared/chat.ts'
import { createProvider, EmbeddingError } from '../_shared/embeddings.ts'
import { ProviderError } from '../_shared/provider-http.ts'
import { createReranker } from '../_shared/rerank.ts'
import { encode, encoding } from '../_shared/tokenizer.ts'
import type { Mode, Scope, SearchRequest } from './request.ts'
import { searchSettings } from './settings.ts'
import { type QueryModel, type SearchStore, StoreError } from './store.ts'

export type StepStatus = 'ok' | 'skipped' | 'failed'

export interface Step {
  status: StepStatus
  reason?: string
  model?: string
  /** Wall time of the step in milliseconds (0 when skipped). */
  ms: number
}

export interface Steps {
  embed: Step
  hyde: Step & { passage?: string }
  expand: Step & { queries?: string[] }
  rerank: Step
}

/** A search_hit (documents) or memory_hit (messages) row as the RPC returned it, plus rerank_score. */
export type Hit = Record<string, unknown> & { id: string; rank: number; score: number; rerank_score?: number | null }

export interface SearchResponse {
  query: string
  mode: Mode
  scope: Scope
  results: Hit[]
  reranked: boolean
  steps: Steps
}

/** A failure the handler answers with this HTTP status and error code. */
export class SearchError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message)
    this.name = 'SearchError'
  }
}

export interface PipelineDeps {
  store: SearchStore
  env: (name: string) => string | undefined
  fetch?: typeof fetch
}

/** Reciprocal rank fusion constant for the phrasings of an expanded query (as hybrid_search's default). */
export const RRF_K = 60
/** Candidates reranked when top_n is not given: 3k, but no more than this (unless k itself is more). */
export const RERANK_DEPTH_CAP = 100

const NOT_REQUESTED: Step = { status: 'skipped', reason: 'not requested', ms: 0 }

const since = (t: number) => Math.round(performance.now() - t)

function reasonOf(err: unknown): string {
  if (err instanceof ProviderError || err instanceof EmbeddingError) return `${err.code}: ${err.message}`
  return (err as Error)?.message ?? String(err)
}

export async function runSearch(req: SearchRequest, deps: PipelineDeps): Promise<SearchResponse> {
  const { store, env } = deps
  const [rows, model] = await Promise.all([store.settings(), req.mode === 'bm25' ? null : store.defaultModel()])
  const settings = searchSettings(rows)
  const steps: Steps = { embed: NOT_REQUESTED, hyde: NOT_REQUESTED, expand: NOT_REQUESTED, rerank: NOT_REQUESTED }

  // 1. Rewrites.
  const chat = 'unavailable' in settings.chat ? null : createChatClient(settings.chat, { env, fetch: deps.fetch })
  const chatUnavailable = 'unavailable' in settings.chat ? settings.chat.unavailable : ''
  let passage: string | null = null
  let alternatives: string[] = []
  const rewrites: Promise<void>[] = []
  if (req.hyde) {
    if (req.mode === 'bm25') {
      steps.hyde = { status: 'skipped', reason: 'mode bm25 has no vector channel for a HyDE passage', ms: 0 }
    } else if (!chat) steps.hyde = { status: 'skipped', reason: chatUnavailable, ms: 0 }
    else {
      rewrites.push((async () => {
        const t = performance.now()
        try {
          passage = await hydePassage(chat, req.query)
          steps.hyde = { status: 'ok', model: chat.model, ms: since(t), passage }
        } catch (err) {
          steps.hyde = {
            status: 'failed',
            reason: `${reasonOf(err)} — the query itself was embedded`,
            model: chat.model,
            ms: since(t),
          }
        }
      })())
    }
  }
  if (req.expand) {
    if (!chat) steps.expand = { status: 'skipped', reason: chatUnavailable, ms: 0 }
    else {
      const n = req.expand.n
      rewrites.push((async () => {
        const t = performance.now()
        try {
          alternatives = await expandQuery(chat, req.query, n)
          steps.expand = { status: 'ok', model: chat.model, ms: since(t), queries: alternatives }
        } catch (err) {
          steps.expand = {
            status: 'failed',
            reason: `${reasonOf(err)} — searched the query alone`,
            model: chat.model,
            ms: since(t),
          }
        }
      })())
    }
  }
  await Promise.all(rewrites)
  const phrasings = [req.query, ...alternatives]

  // 2. Embeddings: one provider call for every text the vector channel needs.
  let vectors: (number[] | null)[] = phrasings.map(() => null)
  if (req.mode === 'bm25') steps.embed = { status: 'skipped', reason: 'mode bm25 searches keywords only', ms: 0 }
  else {
    const t = performance.now()
    try {
      if (!model) throw new Error('no default embedding model is registered (embedding_models.is_default)')
      const texts = [passage ?? req.query, ...alternatives]
      const provider = createProvider(model, { env, timeoutMs: settings.timeoutMs, fetch: deps.fetch })
      vectors = await provider.embed(await Promise.all(texts.map((x) => fitInput(model, x))))
      steps.embed = { status: 'ok', model: model.name, ms: since(t) }
    } catch (err) {
      const reason = reasonOf(err)
      if (req.mode === 'vector') {
        throw new SearchError(502, 'embedding_failed', `mode vector needs the query embedded, which failed: ${reason}`)
      }
      steps.embed = {
        status: 'failed',
        reason: `${reason} — searched with BM25 alone`,
        ...(model ? { model: model.name } : {}),
        ms: since(t),
      }
    }
  }

  // 3. Retrieval, 4. fusion.
  const rerankWanted = req.rerank !== null
  const rerankable = rerankWanted && !('unavailable' in settings.rerank)
  const depth = rerankable
    ? Math.min(1000, Math.max(req.k, req.rerank!.topN ?? Math.min(3 * req.k, RERANK_DEPTH_CAP)))
    : req.k
  const runs = await Promise.allSettled(phrasings.map((text, i) => retrieve(store, req, text, vectors[i], depth)))
  const first = runs[0]
  if (first.status === 'rejected') throw first.reason
  let candidates = first.value
  if (phrasings.length > 1) {
    const lists = [candidates]
    const failed: string[] = []
    runs.slice(1).forEach((r, i) => {
      if (r.status === 'fulfilled') lists.push(r.value)
      else failed.push(`"${alternatives[i]}": ${reasonOf(r.reason)}`)
    })
    if (failed.length) {
      steps.expand = { ...steps.expand, reason: `searching alternative queries failed: ${failed.join('; ')}` }
      if (lists.length === 1) steps.expand.status = 'failed'
    }
    candidates = lists.length > 1 ? fuse(lists, depth) : candidates
  }

  // 5. Rerank.
  let results = candidates.slice(0, req.k)
  let reranked = false
  if (rerankWanted) {
    if ('unavailable' in settings.rerank) {
      steps.rerank = { status: 'skipped', reason: settings.rerank.unavailable, ms: 0 }
    } else if (candidates.length === 0) {
      steps.rerank = { status: 'skipped', reason: 'no results to rerank', ms: 0 }
    } else {
      const config = { ...settings.rerank, model: req.rerank!.model ?? settings.rerank.model }
      const reranker = createReranker(config, { env, fetch: deps.fetch })
      const label = config.model ?? config.provider
      const t = performance.now()
      try {
        const pool = candidates.slice(0, depth)
        const hits = await reranker.rerank(req.query, pool.map(rerankText), req.k)
        results = applyRerank(pool, hits, req.k)
        reranked = true
        steps.rerank = { status: 'ok', model: label, ms: since(t) }
      } catch (err) {
        steps.rerank = {
          status: 'failed',
          reason: `${reasonOf(err)} — results are in retrieval order`,
          model: label,
          ms: since(t),
        }
      }
    }
  }
  return { query: req.query, mode: req.mode, scope: req.scope, results, reranked, steps }
}

/** The RPC call for one phrasing, and its rows. */
export function rpcCall(
  req: SearchRequest,
  text: string,
  vector: number[] | null,
  depth: number,
): { fn: string; args: Record<string, unknown> } {
  const f = req.filters
  const common = {
    query_text: text,
    match_count: depth,
    filter: f.metadata ?? {},
    ...(f.created_after ? { created_after: f.created_after } : {}),
    ...(f.created_before ? { created_before: f.created_before } : {}),
  }
  if (req.scope === 'documents' || req.scope === 'memories') {
    const docs = req.scope === 'documents'
      ? { ...common, source: 'document_chunks', ...(f.document_ids ? { document_ids: f.document_ids } : {}) }
      : {
        ...common,
        source: 'memories',
        ...(f.agent_id ? { agent_id: f.agent_id } : {}),
        ...(f.kinds ? { kinds: f.kinds } : {}),
        ...(f.include_invalid ? { include_invalid: true } : {}),
        ...(f.valid_at ? { valid_at: f.valid_at } : {}),
      }
    if (req.mode === 'bm25') return { fn: 'bm25_search', args: docs }
    const withVector = vector ? { ...docs, query_embedding: vector } : docs
    // Vector alone: the fusion with a zero BM25 weight is exactly the vector ranking (and keeps one row shape).
    if (req.mode === 'vector') {
      return { fn: 'hybrid_search', args: { ...withVector, bm25_weight: 0, candidates: depth } }
    }
    return { fn: 'hybrid_search', args: withVector }
  }
  return {
    fn: 'search_memories',
    args: {
      ...common,
      mode: req.mode,
      scope: req.scope,
      ...(vector ? { query_embedding: vector } : {}),
      ...(f.thread_id ? { thread_id: f.thread_id } : {}),
      ...(f.agent_id ? { agent_id: f.agent_id } : {}),
      ...(f.roles ? { roles: f.roles } : {}),
      ...(req.before !== null ? { before: req.before } : {}),
      ...(req.after !== null ? { after: req.after } : {}),
    },
  }
}

async function retrieve(
  store: SearchStore,
  req: SearchRequest,
  text: string,
  vector: number[] | null,
  depth: number,
): Promise<Hit[]> {
  const { fn, args } = rpcCall(req, text, vector, depth)
  const rows = (await store.rpc(fn, args)) as Hit[]
  // Documents and memories in mode vector come through hybrid_search, whose `score` is the fused one:
  // report the cosine similarity, as search_memories does for its mode vector.
  if ((req.scope === 'documents' || req.scope === 'memories') && req.mode === 'vector') {
    return rows.map((r) => ({ ...r, score: r.vector_score as number }))
  }
  return rows
}

/**
 * Reciprocal rank fusion of the phrasings' lists: score = Σ 1 / (RRF_K + position). The row of a hit is
 * the one from the first list that has it (the original query's first); `rank` and `score` become the
 * fused ones. Ties keep the order in which hits were first seen. At most `limit` rows.
 */
export function fuse(lists: Hit[][], limit: number): Hit[] {
  const acc = new Map<string, { hit: Hit; score: number; seen: number }>()
  let seen = 0
  for (const list of lists) {
    list.forEach((hit, i) => {
      const e = acc.get(hit.id)
      if (e) e.score += 1 / (RRF_K + i + 1)
      else acc.set(hit.id, { hit, score: 1 / (RRF_K + i + 1), seen: seen++ })
    })
  }
  return [...acc.values()]
    .sort((a, b) => b.score - a.score || a.seen - b.seen)
    .slice(0, limit)
    .map((e, i) => ({ ...e.hit, rank: i + 1, score: e.score }))
}

/** What the reranker reads: a chunk as it was indexed (heading path, blank line, content), a message's content. */
export function rerankText(hit: Hit): string {
  const path = Array.isArray(hit.heading_path) ? (hit.heading_path as string[]).filter((h) => /\S/.test(h)) : []
  const content = String(hit.content ?? '')
  return path.length ? `${path.join(' › ')}\n\n${content}` : content
}

/**
 * The pool in the reranker's order with its scores, k at most. Candidates the reranker did not return
 * (a provider may return fewer than asked) follow in retrieval order with rerank_score null.
 */
export function applyRerank(pool: Hit[], hits: { index: number; score: number }[], k: number): Hit[] {
  const out: Hit[] = hits.map((h) => ({ ...pool[h.index], rerank_score: h.score }))
  const used = new Set(hits.map((h) => h.index))
  for (let i = 0; i < pool.length && out.length < k; i++) {
    if (!used.has(i)) out.push({ ...pool[i], rerank_score: null })
  }
  return out.slice(0, k)
}

/**
 * The text as the model can take it: cut to max_input_tokens with the model's tokenizer when it may be
 * longer (a token is at least one UTF-8 byte, so a shorter text needs no tokenizer at all). hash-384 has
 * no limit.
 */
async function fitInput(model: QueryModel, text: string): Promise<string> {
  if (model.provider === 'hash' || new TextEncoder().encode(text).length <= model.max_input_tokens) return text
  const enc = await encoding(model.tokenizer)
  const tokens = encode(enc, text)
  return tokens.length <= model.max_input_tokens ? text : enc.decode(tokens.slice(0, model.max_input_tokens))
}

export { StoreError }
