// One JSON POST to a model provider (rerank, chat), with a timeout and failures as ProviderError values
// whose code says what went wrong — the search function turns them into a step's `reason` and carries on.
// Messages name the URL and the provider's own error text, never the API key (it is also scrubbed from
// anything the provider echoes back).

export type ProviderErrorCode =
  | 'config' // not usable as configured (missing key, missing base URL or model)
  | 'http' // the provider answered with an error status
  | 'timeout' // no answer in time
  | 'network' // connection failed
  | 'bad_reply' // the answer is not what the API promises

export class ProviderError extends Error {
  constructor(
    readonly code: ProviderErrorCode,
    message: string,
    readonly status?: number,
  ) {
    super(message)
    this.name = 'ProviderError'
  }
}

export interface PostJsonOptions {
  /** Abort after this many milliseconds. */
  timeoutMs: number
  /** Sent as `Authorization: Bearer <key>` when set. */
  key?: string
  signal?: AbortSignal
  fetch?: typeof fetch
}

/** POSTs `body` as JSON to `url` and returns the parsed JSON reply; throws ProviderError otherwise. */
export async function postJson(url: string, body: unknown, opts: PostJsonOptions): Promise<unknown> {
  const timeout = AbortSignal.timeout(opts.timeoutMs)
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout
  const scrub = (s: string) => (opts.key ? s.replaceAll(opts.key, '[redacted]') : s)
  let res: Response
  let text: string
  try {
    res = await (opts.fetch ?? fetch)(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        ...(opts.key ? { authorization: `Bearer ${opts.key}` } : {}),
      },
      body: JSON.stringify(body),
      signal,
    })
    text = await res.text()
  } catch (err) {
    if (timeout.aborted) throw new ProviderError('timeout', `no answer from ${url} within ${opts.timeoutMs} ms`)
    if (opts.signal?.aborted) throw new ProviderError('timeout', `request to ${url} was cancelled`)
    const cause = (err as { cause?: { message?: string } }).cause?.message
    throw new ProviderError(
      'network',
      scrub(`could not reach ${url}: ${(err as Error).message}${cause ? ` (${cause})` : ''}`),
    )
  }
  if (!res.ok) {
    throw new ProviderError(
      'http',
      scrub(`${url} answered HTTP ${res.status}${res.statusText ? ' ' + res.statusText : ''}: ${errorDetail(text)}`),
      res.status,
    )
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new ProviderError(
      'bad_reply',
      scrub(`${url}: reply is not valid JSON (${(err as Error).message}): ${clip(text, 200)}`),
    )
  }
}

/**
 * The provider's own error text when the body is one of the usual error shapes — OpenAI/TEI
 * `{error: {message}}` or `{error: "…"}`, Cohere `{message}`, Jina/Voyage/FastAPI `{detail}` — else the
 * start of the body.
 */
export function errorDetail(body: string): string {
  try {
    const j = JSON.parse(body) as Record<string, unknown>
    const e = j?.error as { message?: unknown } | string | undefined
    for (const m of [typeof e === 'object' ? e?.message : e, j?.message, j?.detail]) {
      if (typeof m === 'string' && m) return clip(m, 300)
      if (m && typeof m === 'object') return clip(JSON.stringify(m), 300)
    }
  } catch {
    // not JSON
  }
  return clip(body, 300) || '(empty body)'
}

export function clip(s: string, n: number): string {
  const one = s.replace(/\s+/g, ' ').trim()
  return one.length > n ? one.slice(0, n) + '…' : one
}

/** `base` without trailing slashes, joined with `path`. */
export function endpoint(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`
}
