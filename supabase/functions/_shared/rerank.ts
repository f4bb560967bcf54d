// Rerankers behind one interface: `rerank(query, documents, topN)` → the best documents' indices with a
// relevance score, best first. One HTTP call to `<base_url>/rerank` in the provider's own shape:
//   cohere  {model, query, documents, top_n}  → {results: [{index, relevance_score}]}   (v1 and v2; also
//           vLLM, LiteLLM and other servers that copy Cohere's API)
//   jina    {model, query, documents, top_n}  → {results: [{index, relevance_score}]}
//   voyage  {model, query, documents, top_k}  → {data: [{index, relevance_score}]}
//   tei     {query, texts, truncate: true}    → [{index, score}]   (Hugging Face text-embeddings-inference;
//           one model per server, scores every text)
// Replies are checked before anyone uses them — every index a whole number within the documents, none
// twice, every score a finite number — and a failure is a ProviderError (./provider-http.ts) with a
// code; the key comes from the environment variable the settings name and never appears in a message.
import { endpoint, postJson, ProviderError } from './provider-http.ts'
import { withSpan } from './tracing.ts'

export type RerankProviderName = 'cohere' | 'jina' | 'voyage' | 'tei'

export const RERANK_PROVIDERS: readonly RerankProviderName[] = ['cohere', 'jina', 'voyage', 'tei']

export interface RerankConfig {
  provider: RerankProviderName
  /** The provider's model id; TEI serves one model and ignores it. */
  model: string | null
  /** null: the provider's public API (DEFAULT_BASE_URLS). */
  baseUrl: string | null
  /** Name of the environment variable with the key; null: DEFAULT_KEY_ENVS. */
  apiKeyEnv: string | null
  timeoutMs: number
}

export const DEFAULT_BASE_URLS: Record<RerankProviderName, string | null> = {
  cohere: 'https://api.cohere.com/v2',
  jina: 'https://api.jina.ai/v1',
  voyage: 'https://api.voyageai.com/v1',
  tei: null,
}

export const DEFAULT_KEY_ENVS: Record<RerankProviderName, string | null> = {
  cohere: 'COHERE_API_KEY',
  jina: 'JINA_API_KEY',
  voyage: 'VOYAGE_API_KEY',
  tei: null,
}

export interface RerankHit {
  /** Position of the document in the list given to rerank(). */
  index: number
  score: number
}

export interface Reranker {
  readonly provider: RerankProviderName
  readonly model: string | null
  /** The documents' best `topN` (fewer when the provider returns fewer), best first. */
  rerank(query: string, documents: string[], topN: number, signal?: AbortSignal): Promise<RerankHit[]>
}

export interface RerankerOptions {
  env: (name: string) => string | undefined
  fetch?: typeof fetch
}

export function createReranker(config: RerankConfig, opts: RerankerOptions): Reranker {
  const base = config.baseUrl ?? DEFAULT_BASE_URLS[config.provider]
  const keyEnv = config.apiKeyEnv ?? DEFAULT_KEY_ENVS[config.provider]
  return {
    provider: config.provider,
    model: config.model,
    async rerank(query, documents, topN, signal) {
      if (!base) throw new ProviderError('config', `${config.provider} needs search.rerank_base_url (the server's URL)`)
      if (!config.model && config.provider !== 'tei') {
        throw new ProviderError('config', `${config.provider} needs search.rerank_model (the model id)`)
      }
      const key = keyEnv ? opts.env(keyEnv) : undefined
      // A variable the settings name must exist, and the public APIs refuse anonymous calls; a self-hosted
      // server without a configured variable may need no key.
      if (!key && keyEnv && (config.apiKeyEnv !== null || config.baseUrl === null)) {
        throw new ProviderError('config', `environment variable ${keyEnv} is not set (the ${config.provider} API key)`)
      }
      if (documents.length === 0) return []
      const top = Math.max(1, Math.min(topN, documents.length))
      const url = endpoint(base, 'rerank')
      const body = requestBody(config, query, documents, top)
      // A client span of the current trace (./tracing.ts), with the pool size and the model.
      return withSpan(`rerank ${config.model ?? config.provider}`, {
        kind: 'client',
        attributes: { 'gen_ai.operation.name': 'rerank', 'rerank.documents': documents.length, 'rerank.top_n': top },
      }, async (span) => {
        span?.setUsage({ model: config.model ?? null, provider: config.provider })
        const reply = await postJson(url, body, { timeoutMs: config.timeoutMs, key, signal, fetch: opts.fetch })
        return parseReply(config.provider, url, reply, documents.length).slice(0, top)
      })
    },
  }
}

function requestBody(config: RerankConfig, query: string, documents: string[], top: number): unknown {
  switch (config.provider) {
    case 'cohere':
    case 'jina':
      return { model: config.model, query, documents, top_n: top }
    case 'voyage':
      return { model: config.model, query, documents, top_k: top }
    case 'tei':
      return { query, texts: documents, truncate: true }
  }
}

/** The checked hits of a provider's reply, best first (ties: lower index first). */
export function parseReply(provider: RerankProviderName, url: string, reply: unknown, count: number): RerankHit[] {
  const bad = (why: string) => new ProviderError('bad_reply', `${url}: ${why}`)
  const list = provider === 'tei'
    ? reply
    : provider === 'voyage'
    ? (reply as { data?: unknown })?.data
    : (reply as { results?: unknown })?.results
  const where = provider === 'tei' ? 'the reply' : provider === 'voyage' ? '"data"' : '"results"'
  if (!Array.isArray(list)) throw bad(`${where} is not an array`)
  if (list.length === 0) throw bad(`${where} is empty for ${count} documents`)
  const scoreField = provider === 'tei' ? 'score' : 'relevance_score'
  const seen = new Set<number>()
  const hits = list.map((item, i): RerankHit => {
    const index = (item as { index?: unknown })?.index
    const score = (item as Record<string, unknown>)?.[scoreField]
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= count) {
      throw bad(`item ${i} has index ${JSON.stringify(index)}, not one of the ${count} documents (0..${count - 1})`)
    }
    if (seen.has(index)) throw bad(`index ${index} appears twice`)
    seen.add(index)
    if (typeof score !== 'number' || !Number.isFinite(score)) {
      throw bad(`item ${i} has ${scoreField} ${JSON.stringify(score)}, not a finite number`)
    }
    return { index, score }
  })
  return hits.sort((a, b) => b.score - a.score || a.index - b.index)
}
