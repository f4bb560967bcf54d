// A fake OpenAI-compatible embeddings server on loopback for tests (node:http, so both Deno tests and the
// Node end-to-end tests use it). POST /v1/embeddings answers like OpenAI — vectors from hash-384 feature
// hashing of each input at the requested size, so a test can compute the exact vector it expects — or
// misbehaves on purpose:
//   ok           a correct reply
//   429-then-ok  HTTP 429 with Retry-After for the first `failures` requests, then ok
//   500          HTTP 500 with OpenAI's error JSON, always
//   hang         accepts the request and never answers
//   wrong-dims   vectors one number short of the requested size
//   fewer        one vector fewer than inputs
//   malformed    a body cut off in the middle of the JSON
//   401          HTTP 401 invalid_api_key, as OpenAI answers a wrong key
//   403          HTTP 403, as a key without access to the model
//   unknown-model HTTP 404 model_not_found, as OpenAI (and vLLM, Ollama) answer a model they do not serve
// `hold()` parks every request until `release()`, to keep a job in flight. Every request is recorded
// (model, inputs, dimensions, Authorization header).
import type { IncomingMessage, ServerResponse } from 'node:http'
import { LoopbackServer, send } from './loopback.ts'
import { hashEmbedding } from '../_shared/hash-embedding.ts'

export type FakeMode =
  | 'ok'
  | '429-then-ok'
  | '500'
  | 'hang'
  | 'wrong-dims'
  | 'fewer'
  | 'malformed'
  | '401'
  | '403'
  | 'unknown-model'

export interface RecordedRequest {
  path: string
  model: unknown
  input: string[]
  dimensions: unknown
  authorization: string | null
  at: number
}

export interface FakeOpenAIOptions {
  /** Vector size when the request sends no `dimensions`. */
  dims: number
  mode?: FakeMode
  /** 429-then-ok: how many requests get 429 first. */
  failures?: number
  /** 429-then-ok: the Retry-After header value in seconds. */
  retryAfterSeconds?: number
}

export class FakeOpenAI {
  readonly requests: RecordedRequest[] = []
  mode: FakeMode
  failures: number
  retryAfterSeconds: number
  private rejected = 0
  private held: (() => void)[] | null = null
  private arrivals: (() => void)[] = []

  private constructor(
    private http: LoopbackServer,
    private opts: FakeOpenAIOptions,
  ) {
    this.mode = opts.mode ?? 'ok'
    this.failures = opts.failures ?? 1
    this.retryAfterSeconds = opts.retryAfterSeconds ?? 1
  }

  static async start(opts: FakeOpenAIOptions): Promise<FakeOpenAI> {
    let fake: FakeOpenAI | null = null
    fake = new FakeOpenAI(await LoopbackServer.listen(() => (req, body, res) => fake!.handle(req, body, res)), opts)
    return fake
  }

  get port(): number {
    return this.http.port
  }

  /** The base URL to store in embedding_models.base_url. */
  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}/v1`
  }

  setMode(mode: FakeMode, opts: { failures?: number; retryAfterSeconds?: number } = {}): void {
    this.mode = mode
    this.rejected = 0
    if (opts.failures !== undefined) this.failures = opts.failures
    if (opts.retryAfterSeconds !== undefined) this.retryAfterSeconds = opts.retryAfterSeconds
  }

  /** Parks requests (after recording them) until release(). */
  hold(): void {
    this.held ??= []
  }

  release(): void {
    const waiting = this.held ?? []
    this.held = null
    for (const go of waiting) go()
  }

  /** Resolves when the next request arrives (it is recorded by then). */
  nextRequest(): Promise<void> {
    return new Promise((resolve) => this.arrivals.push(resolve))
  }

  /** The vector this server returns for `text` in ok mode. */
  vectorFor(text: string, dims = this.opts.dims): number[] {
    return hashEmbedding(text, dims)
  }

  close(): Promise<void> {
    this.release()
    return this.http.close()
  }

  private async handle(req: IncomingMessage, raw: Buffer, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST' || !req.url?.endsWith('/embeddings')) {
      return send(res, 404, { error: { message: `no route ${req.method} ${req.url}`, type: 'invalid_request_error' } })
    }
    let body: { model?: unknown; input?: unknown; dimensions?: unknown }
    try {
      body = JSON.parse(raw.toString('utf8'))
    } catch {
      return send(res, 400, { error: { message: 'request body is not JSON', type: 'invalid_request_error' } })
    }
    const input = typeof body.input === 'string'
      ? [body.input]
      : Array.isArray(body.input)
      ? (body.input as string[])
      : []
    this.requests.push({
      path: req.url,
      model: body.model,
      input,
      dimensions: body.dimensions,
      authorization: req.headers.authorization ?? null,
      at: Date.now(),
    })
    for (const arrived of this.arrivals.splice(0)) arrived()
    if (this.held) await new Promise<void>((go) => this.held ? this.held.push(go) : go())

    const dims = typeof body.dimensions === 'number' ? body.dimensions : this.opts.dims
    switch (this.mode) {
      case 'hang':
        return // never answers; close() destroys the socket
      case '500':
        return send(res, 500, {
          error: { message: 'The server had an error while processing your request.', type: 'server_error' },
        })
      case '401':
        return send(res, 401, {
          error: {
            message:
              'Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.',
            type: 'invalid_request_error',
            code: 'invalid_api_key',
          },
        })
      case '403':
        return send(res, 403, {
          error: { message: 'You are not allowed to use this model.', type: 'invalid_request_error', code: null },
        })
      case 'unknown-model':
        return send(res, 404, {
          error: {
            message: `The model \`${String(body.model)}\` does not exist or you do not have access to it.`,
            type: 'invalid_request_error',
            code: 'model_not_found',
          },
        })
      case '429-then-ok':
        if (this.rejected < this.failures) {
          this.rejected++
          return send(res, 429, { error: { message: 'Rate limit reached for requests', type: 'requests' } }, {
            'retry-after': String(this.retryAfterSeconds),
          })
        }
        break
      case 'malformed':
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end('{"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2')
        return
    }
    let vectors = input.map((t) => (t.trim() ? hashEmbedding(t, dims) : new Array(dims).fill(0)))
    if (this.mode === 'wrong-dims') vectors = vectors.map((v) => v.slice(0, dims - 1))
    if (this.mode === 'fewer') vectors = vectors.slice(0, -1)
    send(res, 200, {
      object: 'list',
      data: vectors.map((embedding, index) => ({ object: 'embedding', index, embedding })),
      model: body.model,
      usage: { prompt_tokens: input.length, total_tokens: input.length },
    })
  }
}
