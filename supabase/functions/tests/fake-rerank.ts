// A fake reranker on loopback for tests (node:http, so Deno tests and the Node end-to-end tests both use
// it), answering in each provider's shape at its own base URL:
//   <url>/cohere/v2/rerank, <url>/cohere/v1/rerank   {model, query, documents, top_n} → {results: [{index, relevance_score}]}
//   <url>/jina/v1/rerank                             same shape as Cohere
//   <url>/voyage/v1/rerank                           {model, query, documents, top_k} → {data: [{index, relevance_score}]}
//   <url>/tei/rerank                                 {query, texts} → [{index, score}]
// Scores come from `scorer` (default: the share of the query's words found in the document), so a test
// can make it prefer what it likes. Or it misbehaves on purpose (`mode`):
//   ok                a correct reply, best first, cut to top_n / top_k
//   500               HTTP 500 with an error body, always
//   hang              accepts the request and never answers
//   malformed         a body cut off in the middle of the JSON
//   out-of-range      one index equal to the number of documents
//   duplicate         the best index twice
//   no-scores         items without a score
//   wrong-shape       the Cohere/Voyage list under another name (TEI: an object instead of an array)
// Every request is recorded (path, body, Authorization header).
import type { IncomingMessage, ServerResponse } from 'node:http'
import { LoopbackServer, send } from './loopback.ts'

export type FakeRerankMode =
  | 'ok'
  | '500'
  | 'hang'
  | 'malformed'
  | 'out-of-range'
  | 'duplicate'
  | 'no-scores'
  | 'wrong-shape'

export type Scorer = (query: string, document: string) => number

export interface RecordedRerank {
  path: string
  body: Record<string, unknown>
  authorization: string | null
}

const words = (s: string) => new Set(s.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [])

/** The share of the query's distinct words that occur in the document. */
export const overlapScorer: Scorer = (query, document) => {
  const q = words(query)
  const d = words(document)
  let n = 0
  for (const w of q) if (d.has(w)) n++
  return q.size ? n / q.size : 0
}

export class FakeRerank {
  readonly requests: RecordedRerank[] = []
  mode: FakeRerankMode = 'ok'
  scorer: Scorer = overlapScorer

  private constructor(private http: LoopbackServer) {}

  get port(): number {
    return this.http.port
  }

  static async start(): Promise<FakeRerank> {
    let fake: FakeRerank | null = null
    fake = new FakeRerank(await LoopbackServer.listen(() => (req, body, res) => fake!.handle(req, body, res)))
    return fake
  }

  /** The base URL to store in search.rerank_base_url for `provider`. */
  baseUrl(provider: 'cohere' | 'cohere-v1' | 'jina' | 'voyage' | 'tei'): string {
    const path =
      { cohere: 'cohere/v2', 'cohere-v1': 'cohere/v1', jina: 'jina/v1', voyage: 'voyage/v1', tei: 'tei' }[provider]
    return `http://127.0.0.1:${this.port}/${path}`
  }

  setMode(mode: FakeRerankMode): void {
    this.mode = mode
  }

  close(): Promise<void> {
    return this.http.close()
  }

  private async handle(req: IncomingMessage, raw: Buffer, res: ServerResponse): Promise<void> {
    const m = /^\/(cohere\/v[12]|jina\/v1|voyage\/v1|tei)\/rerank$/.exec(req.url ?? '')
    if (req.method !== 'POST' || !m) return send(res, 404, { message: `no route ${req.method} ${req.url}` })
    const flavour = m[1].split('/')[0] as 'cohere' | 'jina' | 'voyage' | 'tei'
    let body: Record<string, unknown>
    try {
      body = JSON.parse(raw.toString('utf8'))
    } catch {
      return send(res, 400, { message: 'invalid request body' })
    }
    this.requests.push({ path: req.url!, body, authorization: req.headers.authorization ?? null })

    const query = String(body.query ?? '')
    const docs = ((flavour === 'tei' ? body.texts : body.documents) ?? []) as string[]
    if (typeof body.query !== 'string' || !Array.isArray(docs)) {
      return send(res, 422, { detail: 'query must be a string and documents a list of strings' })
    }
    switch (this.mode) {
      case 'hang':
        return // never answers; close() destroys the socket
      case '500':
        return send(
          res,
          500,
          flavour === 'tei' ? { error: 'model overloaded', error_type: 'Overloaded' } : {
            message: 'internal server error',
          },
        )
      case 'malformed':
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end('{"results": [{"index": 0, "relevance_score": 0.9')
        return
    }
    const top = typeof body.top_n === 'number' ? body.top_n : typeof body.top_k === 'number' ? body.top_k : docs.length
    let ranked = docs
      .map((d, index) => ({ index, score: this.scorer(query, d) }))
      .sort((a, b) => b.score - a.score || a.index - b.index)
      .slice(0, top) as { index: number; score?: number }[]
    if (this.mode === 'out-of-range') ranked = [...ranked.slice(0, -1), { index: docs.length, score: 0.01 }]
    if (this.mode === 'duplicate') ranked = [...ranked.slice(0, -1), { ...ranked[0], score: 0.01 }]
    if (this.mode === 'no-scores') ranked = ranked.map(({ index }) => ({ index }))
    const shaped = (score: string) =>
      ranked.map((r) => ({ index: r.index, ...(r.score === undefined ? {} : { [score]: r.score }) }))
    switch (flavour) {
      case 'tei':
        return send(res, 200, this.mode === 'wrong-shape' ? { results: shaped('score') } : shaped('score'))
      case 'voyage':
        return send(res, 200, {
          object: 'list',
          [this.mode === 'wrong-shape' ? 'results' : 'data']: shaped('relevance_score'),
          model: body.model,
          usage: { total_tokens: docs.length },
        })
      default:
        return send(res, 200, {
          id: 'fake-rerank',
          [this.mode === 'wrong-shape' ? 'data' : 'results']: shaped('relevance_score'),
          meta: { billed_units: { search_units: 1 } },
        })
    }
  }
}
