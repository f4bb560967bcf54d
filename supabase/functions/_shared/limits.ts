// Rate limits and quotas from an Edge Function, before it spends anything on the caller's behalf: one call of
// public.check_limits(rule) AS THE CALLER (their JWT, so the counter and the quotas are theirs; service_role
// is not limited). Over a limit the database answers PostgREST's 429 with Retry-After, which becomes the
// function's own 429 { error: { code: 'rate_limited', message } } with the same Retry-After.
import { HttpError } from './http.ts'
import { tracedFetch } from './tracing.ts'

/** Seconds to wait, from a Retry-After header or PT429's JSON details (PostgREST carries both). */
export function retryAfterSeconds(headers: Headers, details: unknown): number | null {
  const h = headers.get('retry-after')
  if (h && /^\d+$/.test(h.trim())) return Number(h.trim())
  try {
    const n = (typeof details === 'string' ? JSON.parse(details) : details)?.retry_after_seconds
    return typeof n === 'number' && n >= 0 ? Math.ceil(n) : null
  } catch {
    return null
  }
}

/** The HttpError for a PostgREST 429 (PT429) answer. */
export function rateLimited(headers: Headers, body: { message?: string; details?: unknown } | null): HttpError {
  const wait = retryAfterSeconds(headers, body?.details)
  return new HttpError(
    429,
    'rate_limited',
    body?.message ?? 'rate limit exceeded',
    wait === null ? {} : { 'retry-after': String(wait) },
  )
}

/**
 * Throws HttpError 429 (with Retry-After) when the caller is over the rate limit `rule` or a quota; 401 for a
 * token PostgREST refuses; 502 when the check itself could not be made (the function fails closed).
 */
export async function checkLimits(
  rule: string,
  authorization: string,
  env: (name: string) => string | undefined,
  doFetch: typeof fetch = fetch,
): Promise<void> {
  const url = env('SUPABASE_URL')
  const anonKey = env('SUPABASE_ANON_KEY')
  if (!url || !anonKey) throw new HttpError(500, 'internal_error', 'SUPABASE_URL and SUPABASE_ANON_KEY must be set')
  let res: Response
  try {
    res = await tracedFetch(doFetch)(`${url.replace(/\/+$/, '')}/rest/v1/rpc/check_limits`, {
      method: 'POST',
      headers: { apikey: anonKey, authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ rule }),
    })
  } catch (err) {
    throw new HttpError(502, 'server_error', `the rate limits could not be checked: ${(err as Error).message}`)
  }
  if (res.ok) {
    await res.body?.cancel()
    return
  }
  const body = await res.json().catch(() => null) as { message?: string; details?: unknown } | null
  if (res.status === 429) throw rateLimited(res.headers, body)
  if (res.status === 401) throw new HttpError(401, 'unauthorized', body?.message ?? 'the access token was refused')
  throw new HttpError(
    502,
    'server_error',
    `the rate limits could not be checked: HTTP ${res.status} ${body?.message ?? ''}`.trim(),
  )
}
