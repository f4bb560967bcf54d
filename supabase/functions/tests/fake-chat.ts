// A fake OpenAI-compatible chat completions server on loopback for tests (node:http: Deno tests and the
// Node end-to-end tests both use it). POST /v1/chat/completions answers like OpenAI with the text
// `respond(request)` returns — by default a fixed HyDE passage or fixed alternative queries, told apart by
// the system prompt — or misbehaves on purpose (`mode`):
//   ok          a correct reply
//   500         HTTP 500 with OpenAI's error JSON, always
//   hang        accepts the request and never answers
//   malformed   a body cut off in the middle of the JSON
//   empty       a reply whose message content is ""
//   no-choices  a reply with "choices": []
// Every request is recorded (model, messages, max_tokens, Authorization header).
import type { IncomingMessage, ServerResponse } from 'node:http'
import { LoopbackServer, send } from './loopback.ts'

export type FakeChatMode = 'ok' | '500' | 'hang' | 'malformed' | 'empty' | 'no-choices'

export interface ChatRequest {
  model: unknown
  messages: { role: string; content: string }[]
  max_tokens: unknown
  authorization: string | null
}

export class FakeChat {
  readonly requests: ChatRequest[] = []
  mode: FakeChatMode = 'ok'
  /** The passage returned to a HyDE prompt. */
  passage = 'A hypothetical passage.'
  /** The lines returned to an expansion prompt. */
  alternatives: string[] = ['first alternative query', 'second alternative query', 'third alternative query']
  /** What the assistant says; by default `passage` or `alternatives` by the system prompt. */
  respond: (req: ChatRequest) => string = (req) =>
    /search queries/i.test(req.messages[0]?.content ?? '') ? this.alternatives.join('\n') : this.passage

  private constructor(private http: LoopbackServer) {}

  get port(): number {
    return this.http.port
  }

  static async start(): Promise<FakeChat> {
    let fake: FakeChat | null = null
    fake = new FakeChat(await LoopbackServer.listen(() => (req, body, res) => fake!.handle(req, body, res)))
    return fake
  }

  /** The base URL to store in search.chat_base_url. */
  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}/v1`
  }

  setMode(mode: FakeChatMode): void {
    this.mode = mode
  }

  /** Requests whose system prompt asks for alternative queries (expansion) or a passage (HyDE). */
  requestsFor(kind: 'expand' | 'hyde'): ChatRequest[] {
    return this.requests.filter((r) => /search queries/i.test(r.messages[0]?.content ?? '') === (kind === 'expand'))
  }

  close(): Promise<void> {
    return this.http.close()
  }

  private async handle(req: IncomingMessage, raw: Buffer, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
      return send(res, 404, { error: { message: `no route ${req.method} ${req.url}`, type: 'invalid_request_error' } })
    }
    let body: { model?: unknown; messages?: unknown; max_tokens?: unknown }
    try {
      body = JSON.parse(raw.toString('utf8'))
    } catch {
      return send(res, 400, { error: { message: 'request body is not JSON', type: 'invalid_request_error' } })
    }
    const request: ChatRequest = {
      model: body.model,
      messages: Array.isArray(body.messages) ? body.messages : [],
      max_tokens: body.max_tokens,
      authorization: req.headers.authorization ?? null,
    }
    this.requests.push(request)
    switch (this.mode) {
      case 'hang':
        return
      case '500':
        return send(res, 500, {
          error: { message: 'The server had an error while processing your request.', type: 'server_error' },
        })
      case 'malformed':
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end('{"id": "chatcmpl-1", "choices": [{"index": 0, "message": {"role": "assistant", "content": "A pass')
        return
      case 'no-choices':
        return send(res, 200, { id: 'chatcmpl-1', object: 'chat.completion', model: body.model, choices: [] })
    }
    const content = this.mode === 'empty' ? '' : this.respond(request)
    send(res, 200, {
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 0,
      model: body.model,
      choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    })
  }
}
