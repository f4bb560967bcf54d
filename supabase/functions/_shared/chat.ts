// An OpenAI-compatible chat completions client (OpenAI, Ollama, vLLM, LiteLLM …: POST
// <base_url>/chat/completions) and the two query rewrites the search function asks of it:
//   hyde(query)       HyDE (Gao et al., "Precise Zero-Shot Dense Retrieval without Relevance Labels", 2022):
//                     a short passage that would answer the query; its embedding replaces the query's in
//                     the vector channel (keyword search keeps the query's own words).
//   expand(query, n)  n other phrasings of the query (synonyms, related terms), one per line; each is
//                     searched like the query and the ranked lists are fused.
// A failure — no key, HTTP error, timeout, a reply without text — is a ProviderError with a code.
import { endpoint, postJson, ProviderError } from './provider-http.ts'
import { recordUsage, withSpan } from './tracing.ts'

export const OPENAI_BASE_URL = 'https://api.openai.com/v1'

export interface ChatConfig {
  model: string
  /** null: https://api.openai.com/v1. */
  baseUrl: string | null
  /** Name of the environment variable with the key; null: OPENAI_API_KEY. */
  apiKeyEnv: string | null
  /** Most tokens the model may write per call. */
  maxTokens: number
  timeoutMs: number
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant'
  content: string
}

export interface ChatClient {
  readonly model: string
  /** The text of the first choice; ProviderError when there is none. */
  complete(messages: ChatMessage[], signal?: AbortSignal): Promise<string>
}

export interface ChatOptions {
  env: (name: string) => string | undefined
  fetch?: typeof fetch
}

export function createChatClient(config: ChatConfig, opts: ChatOptions): ChatClient {
  const base = config.baseUrl ?? OPENAI_BASE_URL
  const keyEnv = config.apiKeyEnv ?? 'OPENAI_API_KEY'
  const url = endpoint(base, 'chat/completions')
  return {
    model: config.model,
    complete: (messages, signal) =>
      withSpan(`chat ${config.model}`, {
        kind: 'client',
        attributes: {
          'gen_ai.operation.name': 'chat',
          'gen_ai.request.model': config.model,
          'gen_ai.request.max_tokens': config.maxTokens,
        },
      }, () => complete(messages, signal)),
  }

  async function complete(messages: ChatMessage[], signal?: AbortSignal): Promise<string> {
    const key = opts.env(keyEnv)
    // A variable the settings name must exist, and OpenAI refuses anonymous calls; a self-hosted server
    // (Ollama, vLLM) may need no key.
    if (!key && (config.apiKeyEnv !== null || config.baseUrl === null)) {
      throw new ProviderError('config', `environment variable ${keyEnv} is not set (the chat API key)`)
    }
    const reply = await postJson(url, { model: config.model, messages, max_tokens: config.maxTokens }, {
      timeoutMs: config.timeoutMs,
      key,
      signal,
      fetch: opts.fetch,
    })
    const usage = (reply as { usage?: { prompt_tokens?: number; completion_tokens?: number } })?.usage
    recordUsage({ model: config.model, inputTokens: usage?.prompt_tokens, outputTokens: usage?.completion_tokens })
    const choices = (reply as { choices?: unknown })?.choices
    if (!Array.isArray(choices) || choices.length === 0) {
      throw new ProviderError('bad_reply', `${url}: reply has no "choices"`)
    }
    const content = (choices[0] as { message?: { content?: unknown } })?.message?.content
    if (typeof content !== 'string') {
      throw new ProviderError('bad_reply', `${url}: choices[0].message.content is not a string`)
    }
    if (!content.trim()) throw new ProviderError('bad_reply', `${url}: the model returned no text`)
    return content
  }
}

/** Longest passage / alternative query kept (characters); longer text is cut at a word boundary. */
export const MAX_PASSAGE_CHARS = 4000
export const MAX_ALTERNATIVE_CHARS = 500

export const HYDE_PROMPT = 'Write a short passage (at most 120 words) that directly answers the question or ' +
  'covers the topic below, in the style of a document that contains the answer. Write only the passage: no ' +
  'preamble, no headings, no mention of the question.'

export function expandPrompt(n: number): string {
  return `Write ${n} different search queries that ask for the same information as the query below, using ` +
    'other words: synonyms, related terms, a more general or a more specific phrasing. One query per line, no ' +
    'numbering, no quotes, no other text.'
}

/** HyDE: a hypothetical passage answering `query`. */
export async function hyde(chat: ChatClient, query: string, signal?: AbortSignal): Promise<string> {
  const text = await chat.complete([{ role: 'system', content: HYDE_PROMPT }, { role: 'user', content: query }], signal)
  return cut(text.trim(), MAX_PASSAGE_CHARS)
}

/** Query expansion: up to `n` alternative phrasings of `query` (ProviderError when the reply has none). */
export async function expand(chat: ChatClient, query: string, n: number, signal?: AbortSignal): Promise<string[]> {
  const text = await chat.complete(
    [{ role: 'system', content: expandPrompt(n) }, { role: 'user', content: query }],
    signal,
  )
  const alternatives = parseAlternatives(text, query, n)
  if (alternatives.length === 0) {
    throw new ProviderError('bad_reply', `the reply contains no alternative query other than the query itself`)
  }
  return alternatives
}

/**
 * The alternative queries in a model's reply: one per line, with list markers ("1.", "-", "*"), surrounding
 * quotes and blank lines removed; the query itself and repeats (ignoring case and spacing) dropped; at
 * most `n`.
 */
export function parseAlternatives(text: string, query: string, n: number): string[] {
  const norm = (s: string) => s.toLowerCase().replace(/\s+/g, ' ').trim()
  const seen = new Set([norm(query)])
  const out: string[] = []
  for (const raw of text.split(/\r?\n/)) {
    const line = raw
      .replace(/^\s*(?:[-*•]|\d{1,2}[.):])(?:\s+|$)/, '')
      .trim()
      .replace(/^(["'“‘])(.*)(["'”’])$/, '$2')
      .trim()
    if (!line || !/[\p{L}\p{N}]/u.test(line)) continue
    const q = cut(line, MAX_ALTERNATIVE_CHARS)
    if (seen.has(norm(q))) continue
    seen.add(norm(q))
    out.push(q)
    if (out.length === n) break
  }
  return out
}

function cut(s: string, max: number): string {
  if (s.length <= max) return s
  const head = s.slice(0, max)
  const space = head.lastIndexOf(' ')
  return space > max / 2 ? head.slice(0, space) : head
}
