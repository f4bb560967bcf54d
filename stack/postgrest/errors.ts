// PostgREST's error contract: a Postgres error becomes `{ code, message, details, hint }` with the HTTP
// status PostgREST's table assigns to its SQLSTATE (src/PostgREST/Error.hs, mapSQLtoHTTP), and the gateway's
// own request errors use PostgREST's PGRSTnnn codes and wording so supabase-js users see the same errors
// locally as on a hosted project.
import { closest, distance } from 'fastest-levenshtein'
import { PgError } from '../core/database.ts'
import { ApiError } from '../core/http.ts'

/**
 * PostgREST's SQLSTATE → HTTP status rules, in the order PostgREST tries them (mapSQLtoHTTP in
 * src/PostgREST/Error.hs of PostgREST/postgrest, as of commit c38b5fe; the same table as docs.postgrest.org
 * "HTTP Status Codes"). A code matches a rule by equality, or by prefix when the rule ends with `*`; the
 * first match wins; anything else is 400. Note what is NOT here: P0002 (no_data_found) is a P0 error and so
 * a 500 — "not found" is raised as PT404.
 */
export const SQLSTATE_STATUS: readonly (readonly [code: string, status: number | ((message: string, anonymous: boolean) => number), note: string])[] = [
  ['08*', 503, 'pg connection err'],
  ['09*', 500, 'triggered action exception'],
  ['0L*', 403, 'invalid grantor'],
  ['0P*', 403, 'invalid role specification'],
  ['23503', 409, 'foreign key violation'],
  ['23505', 409, 'uniqueness violation'],
  ['25006', 405, 'read only sql transaction'],
  ['21000', (m) => (m.endsWith('requires a WHERE clause') ? 400 : 500), 'cardinality violation (400 only for pg-safeupdate)'],
  ['22023', (m) => (m.startsWith('role') && m.endsWith('does not exist') ? 401 : 400), 'invalid parameter value (401 for a JWT role that does not exist)'],
  ['25*', 500, 'invalid transaction state'],
  ['28*', 403, 'invalid auth specification'],
  ['2D*', 500, 'invalid transaction termination'],
  ['38*', 500, 'external routine exception'],
  ['39*', 500, 'external routine invocation'],
  ['3B*', 500, 'savepoint exception'],
  ['40*', 500, 'transaction rollback'],
  ['53400', 500, 'config limit exceeded'],
  ['53*', 503, 'insufficient resources'],
  ['54*', 500, 'too complex'],
  ['55*', 500, 'obj not in prerequisite state'],
  ['57P01', 503, 'terminating connection due to administrator command'],
  ['57*', 500, 'operator intervention'],
  ['58*', 500, 'system error'],
  ['F0*', 500, 'config file error'],
  ['HV*', 500, 'foreign data wrapper error'],
  ['P0001', 400, 'default code for "raise"'],
  ['P0*', 500, 'PL/pgSQL error'],
  ['XX*', 500, 'internal error'],
  ['42883', (m) => (m.startsWith('function xmlagg(') ? 406 : 404), 'undefined function'],
  ['42P01', 404, 'undefined table'],
  ['42P17', 500, 'infinite recursion'],
  ['42501', (_m, anonymous) => (anonymous ? 401 : 403), 'insufficient privilege (401 for anon, 403 signed in)'],
  // RAISE ... USING ERRCODE = 'PT404': the digits are the status; PT codes that are not a number are 500.
  ['PT*', (_m, _a) => 500, 'custom status'],
]

/** HTTP status for a SQLSTATE, as PostgREST maps it. `anonymous` decides 42501 (401 for anon, else 403). */
export function statusForSqlState(code: string, message: string, anonymous: boolean): number {
  if (/^PT\d{3}$/.test(code)) {
    const n = Number(code.slice(2))
    // HTTP.mkStatus takes any number; a response line needs 100-999.
    if (n >= 100) return n
  }
  for (const [rule, status] of SQLSTATE_STATUS) {
    const hit = rule.endsWith('*') ? code.startsWith(rule.slice(0, -1)) : code === rule
    if (hit) return typeof status === 'number' ? status : status(message, anonymous)
  }
  return 400
}

/**
 * Converts a Postgres error raised while serving a request into PostgREST's reply. `RAISE SQLSTATE 'PGRST'`
 * with a JSON message `{code, message, details, hint}` and a JSON detail `{status, headers}` gives full
 * control over the reply, as in PostgREST.
 */
export function fromPgError(err: unknown, anonymous: boolean): ApiError {
  if (err instanceof ApiError) return err
  const e = PgError.from(err)
  if (e.code === 'PGRST') return fromRaisePgrst(e)
  const status = statusForSqlState(e.code, e.message, anonymous)
  const headers: Record<string, string> = status === 401 ? { 'www-authenticate': 'Bearer' } : {}
  return new ApiError(status, e.code, e.message, e.detail ?? null, e.hint ?? null, headers)
}

function fromRaisePgrst(e: PgError): ApiError {
  try {
    const m = JSON.parse(e.message) as { code?: string; message?: string; details?: string; hint?: string }
    const d = JSON.parse(e.detail ?? '') as { status?: number; headers?: Record<string, string> }
    if (typeof m.code !== 'string' || typeof m.message !== 'string' || typeof d.status !== 'number') throw new Error('shape')
    return new ApiError(d.status, m.code, m.message, m.details ?? null, m.hint ?? null, d.headers ?? {})
  } catch {
    return new ApiError(500, 'PGRST121', 'Could not parse JSON in the "RAISE SQLSTATE \'PGRST\'" error', e.detail ?? null,
      "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional keys: 'details', 'hint'; DETAIL must be a JSON object with obligatory keys: 'status', 'headers'.")
  }
}

// Request errors (PostgREST group 1) and schema cache errors (group 2).

export const parseError = (message: string, details: string) => new ApiError(400, 'PGRST100', message, details)

export const invalidBody = (message: string) => new ApiError(400, 'PGRST102', message)

export const invalidRange = (details: string) => new ApiError(416, 'PGRST103', 'Requested range not satisfiable', details)

export const unacceptableSchema = (schema: string, exposed: string[]) =>
  new ApiError(406, 'PGRST106', `Invalid schema: ${schema}`, null, `Only the following schemas are exposed: ${exposed.join(', ')}`)

export const mediaTypeError = (types: string[]) =>
  new ApiError(406, 'PGRST107', `None of these media types are available: ${types.join(', ')}`)

export const unsupportedContentType = (type: string) =>
  new ApiError(415, 'PGRST107', `Content-Type not acceptable: ${type}`, null, 'Send the body as application/json')

export const singularityError = (rows: number) =>
  new ApiError(406, 'PGRST116', 'Cannot coerce the result to a single JSON object', `The result contains ${rows} rows`)

export const unsupportedMethod = (method: string) => new ApiError(405, 'PGRST117', `Unsupported HTTP method: ${method}`)

export const invalidRpcMethod = (method: string) => new ApiError(405, 'PGRST101', `Cannot use the ${method} method on RPC`)

export const invalidPreferences = (prefs: string[]) =>
  new ApiError(400, 'PGRST122', 'Invalid preferences given with handling=strict', `Invalid preferences: ${prefs.join(', ')}`)

export const maxAffectedViolation = (rows: number) =>
  new ApiError(400, 'PGRST124', 'Query result exceeds max-affected preference constraint', `The query affects ${rows} rows`)

export const invalidPath = () => new ApiError(404, 'PGRST125', 'Invalid path specified in request URL')

export const notImplemented = (details: string) => new ApiError(400, 'PGRST127', 'Feature not implemented', details)

export const columnNotFound = (relation: string, column: string) =>
  new ApiError(400, 'PGRST204', `Could not find the '${column}' column of '${relation}' in the schema cache`)

export function tableNotFound(schema: string, name: string, candidates: string[]): ApiError {
  const near = closeMatch(name, candidates)
  return new ApiError(404, 'PGRST205', `Could not find the table '${schema}.${name}' in the schema cache`, null,
    near ? `Perhaps you meant the table '${schema}.${near}'` : null)
}

/** Unknown function: PostgREST's PGRST202 wording, with the closest names (or argument lists) as the hint. */
export function functionNotFound(
  schema: string,
  name: string,
  argNames: string[],
  allNames: string[],
  overloads: string[][],
): ApiError {
  const fn = `${schema}.${name}`
  const prms = argNames.join(', ')
  const message = `Could not find the function ${fn}${argNames.length ? `(${prms})` : ' without parameters'} in the schema cache`
  const details =
    `Searched for the function ${fn}` +
    (argNames.length ? ` with parameter${argNames.length > 1 ? 's' : ''} ${prms}` : ' without parameters') +
    ' or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.'
  let hint: string | null = null
  if (overloads.length) {
    // The function exists: name its argument lists, closest first.
    const lists = overloads.map((o) => `(${[...o].sort().join(', ')})`)
    const wanted = `(${[...argNames].sort().join(', ')})`
    hint = `Perhaps you meant to call the function ${fn}${closest(wanted, lists)}`
  } else {
    const near = closeMatches(name, allNames)
    if (near.length) hint = `Perhaps you meant to call the function ${near.map((n) => `${schema}.${n}`).join(' or ')}`
  }
  return new ApiError(404, 'PGRST202', message, details, hint)
}

/** Names within PostgREST's fuzzy threshold (similarity >= 0.75 by edit distance), best first, at most 3. */
export function closeMatches(name: string, candidates: string[]): string[] {
  return candidates
    .map((c) => ({ c, score: 1 - distance(name.toLowerCase(), c.toLowerCase()) / Math.max(name.length, c.length, 1) }))
    .filter((x) => x.score >= 0.75 || (x.c.toLowerCase().includes(name.toLowerCase()) && name.length >= 4))
    .sort((a, b) => b.score - a.score)
    .slice(0, 3)
    .map((x) => x.c)
}

function closeMatch(name: string, candidates: string[]): string | undefined {
  return closeMatches(name, candidates)[0]
}
