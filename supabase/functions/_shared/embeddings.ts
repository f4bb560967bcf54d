// Embedding providers behind one interface, chosen by a row of public.embedding_models:
//   openai       POST {base_url}/embeddings — OpenAI itself or any OpenAI-compatible server (Ollama, vLLM,
//                TEI, LiteLLM …); sends `model` (provider_model) and, when request_dimensions is set,
//                `dimensions`. The key comes from the environment variable the model names (api_key_env,
//                default OPENAI_API_KEY); a self-hosted base URL may run without one.
//   supabase-ai  Supabase's built-in gte-small (`new Supabase.ai.Session('gte-small')`); only inside
//                Supabase's edge runtime, where the `Supabase` global exists.
//   hash         hash-384 feature hashing (./hash-embedding.ts): lexical, not semantic; for offline use.
// Every call is checked before anyone stores it: one vector per input, each of the model's size, every
// number finite. Failures are EmbeddingError values with a code, an HTTP status when there was one, and
// the provider's Retry-After, so the caller can back off. Code 'config' marks what retrying cannot heal — a
// missing API key, an unknown provider or provider model (HTTP 404, model_not_found), a key the provider
// refuses (HTTP 401/403): the worker dead-letters those jobs at once. Messages never contain the API key.
import { hashEmbedding } from './hash-embedding.ts'
import { knownInputTokens, recordUsage, withSpan } from './tracing.ts'

export type ProviderName = 'openai' | 'supabase-ai' | 'hash'

/** The columns of public.embedding_models a provider needs. */
export interface EmbeddingModelConfig {
  name: string
  provider: ProviderName
  provider_model: string
  dims: number
  base_url: string | null
  api_key_env: string | null
  request_dimensions: boolean
}

export interface EmbeddingProvider {
  /** One vector per text, in order. One provider request for the whole list. */
  embed(texts: string[], signal?: AbortSignal): Promise<number[][]>
}

export type EmbeddingErrorCode =
  | 'config' // the model cannot be used as configured: missing or refused key, unknown provider or model — not retried
  | 'http' // the provider answered with an error status
  | 'timeout' // no answer in time
  | 'network' // connection failed
  | 'bad_reply' // the answer is not what the API promises (JSON, count, size, numbers)

export class EmbeddingError extends Error {
  constructor(
    readonly code: EmbeddingErrorCode,
    message: string,
    readonly status?: number,
    /** How long the provider asked us to wait (Retry-After / retry-after-ms), in milliseconds. */
    readonly retryAfterMs?: number,
  ) {
    super(message)
    this.name = 'EmbeddingError'
  }

  /** True when retrying cannot help: the model's configuration must change first. */
  get permanent(): boolean {
    return this.code === 'config'
  }
}

export const OPENAI_BASE_URL = 'https://api.openai.com/v1'

export interface ProviderOptions {
  /** Reads an environment variable (Deno.env.get in the function; a map in tests). */
  env: (name: string) => string | undefined
  /** Abort a provider request after this many milliseconds. */
  timeoutMs: number
  fetch?: typeof fetch
}

/**
 * The provider of `model`. Each call is a client span `embeddings <model>` of the current trace (model,
 * batch size, input tokens: as the provider reports them, as the caller counted them, or counted with the
 * model's tokenizer after the response) — see ./tracing.ts.
 */
export function createProvider(model: EmbeddingModelConfig, opts: ProviderOptions): EmbeddingProvider {
  const provider = untracedProvider(model, opts)
  return {
    embed: (texts, signal) =>
      withSpan(`embeddings ${model.name}`, {
        kind: 'client',
        attributes: {
          'gen_ai.operation.name': 'embeddings',
          'gen_ai.request.model': model.name,
          'embeddings.batch_size': texts.length,
        },
      }, async (span) => {
        span?.setUsage({ model: model.name, provider: model.provider, inputTokens: knownInputTokens() })
        const vectors = await provider.embed(texts, signal)
        span?.countTokensLater(texts, (model as { tokenizer?: string }).tokenizer ?? 'cl100k_base')
        return vectors
      }),
  }
}

function untracedProvider(model: EmbeddingModelConfig, opts: ProviderOptions): EmbeddingProvider {
  switch (model.provider) {
    case 'openai':
      return openaiProvider(model, opts)
    case 'supabase-ai':
      return supabaseAiProvider(model)
    case 'hash':
      return { embed: (texts) => Promise.resolve(texts.map((t) => hashEmbedding(t, model.dims))) }
    default:
      throw new EmbeddingError(
        'config',
        `model ${model.name}: unknown provider "${(model as { provider: string }).provider}"`,
      )
  }
}

/** Milliseconds from Retry-After (seconds or an HTTP date) or OpenAI's retry-after-ms; undefined if absent. */
export function retryAfterMs(headers: Headers, now = Date.now()): number | undefined {
  const ms = headers.get('retry-after-ms')
  if (ms !== null && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.ceil(Number(ms))
  const ra = headers.get('retry-after')
  if (ra === null) return undefined
  if (/^\d+(\.\d+)?$/.test(ra.trim())) return Math.ceil(Number(ra) * 1000)
  const at = Date.parse(ra)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

function openaiProvider(model: EmbeddingModelConfig, opts: ProviderOptions): EmbeddingProvider {
  const base = (model.base_url ?? OPENAI_BASE_URL).replace(/\/+$/, '')
  const keyName = model.api_key_env ?? 'OPENAI_API_KEY'
  const doFetch = opts.fetch ?? fetch
  return {
    async embed(texts, signal) {
      const key = opts.env(keyName)
      // OpenAI always needs a key; a self-hosted server may run without one (if it does not, its 401 says so).
      if (!key && new URL(base).hostname === 'api.openai.com') {
        throw new EmbeddingError(
          'config',
          `model ${model.name}: environment variable ${keyName} is not set (the API key for ${base}); ` +
            'put it in supabase/functions/.env locally (then restart npm start) or `supabase secrets set` on hosted',
        )
      }
      const body: Record<string, unknown> = { model: model.provider_model, input: texts, encoding_format: 'float' }
      if (model.request_dimensions) body.dimensions = model.dims
      const timeout = AbortSignal.timeout(opts.timeoutMs)
      const combined = signal ? AbortSignal.any([signal, timeout]) : timeout
      let res: Response
      let text: string
      try {
        res = await doFetch(`${base}/embeddings`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
          body: JSON.stringify(body),
          signal: combined,
        })
        text = await res.text()
      } catch (err) {
        if (timeout.aborted) {
          throw new EmbeddingError(
            'timeout',
            `${model.name}: no answer from ${base}/embeddings within ${opts.timeoutMs} ms`,
          )
        }
        if (signal?.aborted) {
          throw new EmbeddingError('timeout', `${model.name}: request to ${base}/embeddings was cancelled`)
        }
        const cause = (err as { cause?: { message?: string } }).cause?.message
        throw new EmbeddingError(
          'network',
          `${model.name}: could not reach ${base}/embeddings: ${(err as Error).message}${cause ? ` (${cause})` : ''}`,
        )
      }
      if (!res.ok) {
        const answered = `${model.name}: ${base}/embeddings answered HTTP ${res.status}${
          res.statusText ? ' ' + res.statusText : ''
        }: ${errorDetail(text)}`
        const fix = configurationProblem(res.status, text, model, keyName, !!key)
        if (fix) {
          throw new EmbeddingError('config', `${answered} — ${fix} (a configuration error: not retried)`, res.status)
        }
        throw new EmbeddingError('http', answered, res.status, retryAfterMs(res.headers))
      }
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch (err) {
        throw new EmbeddingError(
          'bad_reply',
          `${model.name}: reply is not valid JSON (${(err as Error).message}): ${clip(text, 200)}`,
        )
      }
      const data = (json as { data?: unknown })?.data
      recordUsage({ inputTokens: (json as { usage?: { prompt_tokens?: number } })?.usage?.prompt_tokens })
      if (!Array.isArray(data)) {
        throw new EmbeddingError('bad_reply', `${model.name}: reply has no "data" array: ${clip(text, 200)}`)
      }
      // The API returns items with an index; order by it rather than trusting the array order.
      const items = data.map((d, i) => ({ index: typeof d?.index === 'number' ? d.index : i, embedding: d?.embedding }))
      items.sort((a, b) => a.index - b.index)
      return checkVectors(model, texts.length, items.map((d) => d.embedding))
    },
  }
}

/**
 * What to fix when a provider's error status means the configuration is wrong (retrying would fail the
 * same way), or null for errors worth retrying (429, 5xx, a bad request about the input).
 */
export function configurationProblem(
  status: number,
  body: string,
  model: Pick<EmbeddingModelConfig, 'provider_model' | 'base_url' | 'api_key_env'>,
  keyName: string,
  sentKey: boolean,
): string | null {
  if (status === 401 || status === 403) {
    if (sentKey) {
      return `the provider refused the key in ${keyName}: check it (and that it may use ${model.provider_model})`
    }
    return model.api_key_env
      ? `the provider wants an API key and ${keyName} is not set: put the key in supabase/functions/.env (restart npm start) or \`supabase secrets set\``
      : `the provider wants an API key: set the model's api_key_env to the variable that holds it`
  }
  let code: unknown = null
  try {
    code = (JSON.parse(body) as { error?: { code?: unknown } })?.error?.code
  } catch {
    // not JSON
  }
  if (status === 404 || code === 'model_not_found') {
    return `the provider does not know model "${model.provider_model}" at ${
      model.base_url ?? OPENAI_BASE_URL
    } (check provider_model and base_url, which should end in /v1 for OpenAI-compatible servers)`
  }
  return null
}

/** The provider's own error message when the body is OpenAI's error JSON, else the start of the body. */
function errorDetail(body: string): string {
  try {
    const m = (JSON.parse(body) as { error?: { message?: unknown } })?.error?.message
    if (typeof m === 'string' && m) return clip(m, 300)
  } catch {
    // not JSON
  }
  return clip(body, 300) || '(empty body)'
}

function clip(s: string, n: number): string {
  const one = s.replace(/\s+/g, ' ').trim()
  return one.length > n ? one.slice(0, n) + '…' : one
}

interface SupabaseAiSession {
  run(input: string, opts: { mean_pool: boolean; normalize: boolean }): Promise<unknown>
}

function supabaseAiProvider(model: EmbeddingModelConfig): EmbeddingProvider {
  const g = globalThis as { Supabase?: { ai?: { Session: new (model: string) => SupabaseAiSession } } }
  let session: SupabaseAiSession | null = null
  return {
    async embed(texts) {
      if (!g.Supabase?.ai?.Session) {
        throw new EmbeddingError(
          'config',
          `model ${model.name}: the supabase-ai provider runs only inside Supabase's edge runtime (the Supabase global is missing here); use another model locally`,
        )
      }
      session ??= new g.Supabase.ai.Session(model.provider_model)
      const out: unknown[] = []
      // The built-in session embeds one text per run; it runs in this process, so there is no request
      // count to save.
      for (const t of texts) out.push(await session.run(t, { mean_pool: true, normalize: true }))
      return checkVectors(model, texts.length, out)
    },
  }
}

/** Checks a provider's vectors: `count` of them, each an array of `model.dims` finite numbers. */
export function checkVectors(
  model: Pick<EmbeddingModelConfig, 'name' | 'dims'>,
  count: number,
  vectors: unknown[],
): number[][] {
  if (vectors.length !== count) {
    throw new EmbeddingError(
      'bad_reply',
      `${model.name}: provider returned ${vectors.length} embeddings for ${count} inputs`,
    )
  }
  vectors.forEach((v, i) => {
    if (!Array.isArray(v)) {
      throw new EmbeddingError('bad_reply', `${model.name}: embedding ${i} is not an array of numbers`)
    }
    if (v.length !== model.dims) {
      throw new EmbeddingError(
        'bad_reply',
        `${model.name}: embedding ${i} has ${v.length} dimensions, the model stores ${model.dims}`,
      )
    }
    for (const x of v) {
      if (typeof x !== 'number' || !Number.isFinite(x)) {
        throw new EmbeddingError(
          'bad_reply',
          `${model.name}: embedding ${i} contains ${JSON.stringify(x)}, not a finite number`,
        )
      }
    }
  })
  return vectors as number[][]
}

/**
 * Mean of several vectors weighted by `weights` (the token counts of the pieces of one long input),
 * L2-normalised: one vector for an input that was split into pieces.
 */
export function poolVectors(vectors: number[][], weights: number[]): number[] {
  const dims = vectors[0].length
  const out = new Array<number>(dims).fill(0)
  vectors.forEach((v, i) => {
    for (let d = 0; d < dims; d++) out[d] += v[d] * weights[i]
  })
  const norm = Math.sqrt(out.reduce((s, x) => s + x * x, 0))
  return norm > 0 ? out.map((x) => x / norm) : out
}
