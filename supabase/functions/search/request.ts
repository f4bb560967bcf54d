// The search request body, checked field by field: parseRequest returns the request with defaults
// applied, or the message of the first problem found, naming the field (the handler answers 400
// invalid_input with it). Unknown fields are refused rather than ignored, so a typo ("modes",
// "filter") does not silently change what is searched.

export type Mode = 'hybrid' | 'bm25' | 'vector'
export type Scope = 'documents' | 'thread' | 'agent' | 'all' | 'memories'
export type Role = 'system' | 'user' | 'assistant' | 'tool'

export const MODES: readonly Mode[] = ['hybrid', 'bm25', 'vector']
export const SCOPES: readonly Scope[] = ['documents', 'thread', 'agent', 'all', 'memories']
const ROLES: readonly Role[] = ['system', 'user', 'assistant', 'tool']

export const MAX_QUERY_CHARS = 10_000
export const MAX_K = 1000

export interface Filters {
  metadata?: Record<string, unknown>
  thread_id?: string
  agent_id?: string
  roles?: Role[]
  document_ids?: string[]
  created_after?: string
  created_before?: string
  /** Scope memories: some of fact, preference, event. */
  kinds?: MemoryKind[]
  /** Scope memories: also superseded and forgotten memories. */
  include_invalid?: boolean
  /** Scope memories: the memories that held at this time. */
  valid_at?: string
}

export type MemoryKind = 'fact' | 'preference' | 'event'
const KINDS: readonly MemoryKind[] = ['fact', 'preference', 'event']

export interface SearchRequest {
  query: string
  mode: Mode
  k: number
  scope: Scope
  filters: Filters
  /** Neighbouring messages per hit (message scopes only); null: the RPC's default (1). */
  before: number | null
  after: number | null
  /** null: not asked for. */
  rerank: { topN: number | null; model: string | null } | null
  hyde: boolean
  /** null: not asked for. */
  expand: { n: number } | null
}

const FIELDS = ['query', 'mode', 'k', 'scope', 'filters', 'before', 'after', 'rerank', 'hyde', 'expand']
const FILTER_FIELDS = ['metadata', 'thread_id', 'agent_id', 'roles', 'document_ids', 'created_after', 'created_before', 'kinds',
  'include_invalid', 'valid_at']
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
export const DEFAULT_EXPANSIONS = 3

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)
const isInt = (v: unknown, lo: number, hi: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi
const show = (v: unknown) => JSON.stringify(v) ?? String(v)

function unknownFields(obj: Record<string, unknown>, allowed: string[], where: string): string | null {
  const extra = Object.keys(obj).filter((k) => !allowed.includes(k))
  if (!extra.length) return null
  return `${where} has unknown field${extra.length > 1 ? 's' : ''} ${extra.map((k) => `"${k}"`).join(', ')} ` +
    `(allowed: ${allowed.join(', ')})`
}

/** The checked request, or a message naming the field that is wrong. */
export function parseRequest(body: unknown): SearchRequest | string {
  if (!isObject(body)) return 'the body must be a JSON object such as {"query": "…"}'
  const unknown = unknownFields(body, FIELDS, 'the body')
  if (unknown) return unknown

  const { query } = body
  if (typeof query !== 'string') return 'query must be a string'
  if (!/\S/.test(query)) return 'query must not be empty or only white space'
  if (query.length > MAX_QUERY_CHARS) {
    return `query is ${query.length} characters; at most ${MAX_QUERY_CHARS} can be searched`
  }
  if (query.includes('\u0000')) return 'query contains a NUL character (\\u0000)'

  const mode = body.mode ?? 'hybrid'
  if (!MODES.includes(mode as Mode)) return `mode must be one of ${MODES.join(', ')} (got ${show(mode)})`
  const scope = body.scope ?? 'documents'
  if (!SCOPES.includes(scope as Scope)) return `scope must be one of ${SCOPES.join(', ')} (got ${show(scope)})`
  const k = body.k ?? 10
  if (!isInt(k, 1, MAX_K)) return `k must be a whole number from 1 to ${MAX_K} (got ${show(k)})`

  const filters = parseFilters(body.filters ?? {}, scope as Scope)
  if (typeof filters === 'string') return filters

  let before: number | null = null
  let after: number | null = null
  for (const field of ['before', 'after'] as const) {
    const v = body[field]
    if (v === undefined) continue
    if (scope === 'documents' || scope === 'memories') {
      return `${field} applies to the message scopes (thread, agent, all), not to scope ${scope}`
    }
    if (!isInt(v, 0, 20)) return `${field} must be a whole number from 0 to 20 (got ${show(v)})`
    if (field === 'before') before = v
    else after = v
  }

  let rerank: SearchRequest['rerank'] = null
  if (body.rerank !== undefined && body.rerank !== false) {
    if (body.rerank === true) rerank = { topN: null, model: null }
    else if (isObject(body.rerank)) {
      const u = unknownFields(body.rerank, ['top_n', 'model'], 'rerank')
      if (u) return u
      const { top_n, model } = body.rerank
      if (top_n !== undefined && !isInt(top_n, 1, MAX_K)) {
        return `rerank.top_n must be a whole number from 1 to ${MAX_K} (got ${show(top_n)})`
      }
      if (model !== undefined && (typeof model !== 'string' || !/^\S.{0,199}$/s.test(model))) {
        return 'rerank.model must be a model id of 1 to 200 characters'
      }
      rerank = { topN: (top_n as number | undefined) ?? null, model: (model as string | undefined) ?? null }
    } else return `rerank must be true, false or an object {top_n?, model?} (got ${show(body.rerank)})`
  }

  if (body.hyde !== undefined && typeof body.hyde !== 'boolean') {
    return `hyde must be true or false (got ${show(body.hyde)})`
  }

  let expand: SearchRequest['expand'] = null
  if (body.expand !== undefined && body.expand !== false) {
    if (body.expand === true) expand = { n: DEFAULT_EXPANSIONS }
    else if (isObject(body.expand)) {
      const u = unknownFields(body.expand, ['n'], 'expand')
      if (u) return u
      const n = body.expand.n ?? DEFAULT_EXPANSIONS
      if (!isInt(n, 1, 5)) return `expand.n must be a whole number from 1 to 5 (got ${show(n)})`
      expand = { n }
    } else return `expand must be true, false or an object {n?} (got ${show(body.expand)})`
  }

  return {
    query,
    mode: mode as Mode,
    k,
    scope: scope as Scope,
    filters,
    before,
    after,
    rerank,
    hyde: body.hyde === true,
    expand,
  }
}

function parseFilters(raw: unknown, scope: Scope): Filters | string {
  if (!isObject(raw)) return `filters must be a JSON object (got ${show(raw)})`
  const unknown = unknownFields(raw, FILTER_FIELDS, 'filters')
  if (unknown) return unknown
  const f: Filters = {}
  const messages = scope === 'thread' || scope === 'agent' || scope === 'all'
  if (raw.metadata !== undefined) {
    if (!isObject(raw.metadata)) return `filters.metadata must be a JSON object to match (got ${show(raw.metadata)})`
    f.metadata = raw.metadata
  }
  if (raw.thread_id !== undefined) {
    if (!messages) return `filters.thread_id applies to the message scopes (thread, agent, all), not to scope ${scope}`
    if (typeof raw.thread_id !== 'string' || !UUID.test(raw.thread_id)) return 'filters.thread_id must be a uuid'
    f.thread_id = raw.thread_id
  }
  if (raw.agent_id !== undefined) {
    if (scope === 'documents') return 'filters.agent_id applies to the message scopes (thread, agent, all) and memories, not to scope documents'
    if (typeof raw.agent_id !== 'string' || !raw.agent_id) return 'filters.agent_id must be a non-empty string'
    f.agent_id = raw.agent_id
  }
  if (raw.roles !== undefined) {
    if (!messages) return `filters.roles applies to the message scopes (thread, agent, all), not to scope ${scope}`
    if (!Array.isArray(raw.roles) || !raw.roles.length || raw.roles.some((r) => !ROLES.includes(r))) {
      return `filters.roles must be a non-empty list of ${ROLES.join(', ')}`
    }
    f.roles = raw.roles
  }
  if (raw.document_ids !== undefined) {
    if (scope !== 'documents') return `filters.document_ids applies to scope documents, not to scope ${scope}`
    if (!Array.isArray(raw.document_ids) || raw.document_ids.some((id) => typeof id !== 'string' || !UUID.test(id))) {
      return 'filters.document_ids must be a list of uuids'
    }
    f.document_ids = raw.document_ids
  }
  for (const field of ['created_after', 'created_before'] as const) {
    const v = raw[field]
    if (v === undefined) continue
    if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) return `filters.${field} must be an ISO 8601 timestamp`
    f[field] = v
  }
  for (const field of ['kinds', 'include_invalid', 'valid_at'] as const) {
    if (raw[field] !== undefined && scope !== 'memories') return `filters.${field} applies to scope memories, not to scope ${scope}`
  }
  if (raw.kinds !== undefined) {
    if (!Array.isArray(raw.kinds) || !raw.kinds.length || raw.kinds.some((k) => !KINDS.includes(k))) {
      return `filters.kinds must be a non-empty list of ${KINDS.join(', ')}`
    }
    f.kinds = raw.kinds
  }
  if (raw.include_invalid !== undefined) {
    if (typeof raw.include_invalid !== 'boolean') return `filters.include_invalid must be true or false (got ${show(raw.include_invalid)})`
    f.include_invalid = raw.include_invalid
  }
  if (raw.valid_at !== undefined) {
    if (typeof raw.valid_at !== 'string' || Number.isNaN(Date.parse(raw.valid_at))) return 'filters.valid_at must be an ISO 8601 timestamp'
    f.valid_at = raw.valid_at
  }
  if (f.created_after && f.created_before && Date.parse(f.created_after) > Date.parse(f.created_before)) {
    return 'filters.created_after is later than filters.created_before'
  }
  if (scope === 'thread' && !f.thread_id) return 'filters.thread_id is required for scope thread'
  if (scope === 'agent' && !f.agent_id && !f.thread_id) {
    return 'scope agent needs filters.agent_id (or filters.thread_id of a thread with an agent)'
  }
  return f
}
