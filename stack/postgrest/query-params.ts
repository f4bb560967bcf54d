// Parses PostgREST's query-string grammar (the subset supabase-js emits without embedding) into a small AST:
// `select` (columns, aliases, casts, JSON paths), horizontal filters (`col=[not.]op[(any|all)].value`),
// logic trees (`or=(…)`, `and=(…)`, `not.or=(…)`), `order`, `limit`/`offset`, `columns` and `on_conflict`.
// Hand-written because no maintained JavaScript package parses PostgREST's grammar server-side; the rules
// follow PostgREST's Parsers (src/PostgREST/ApiRequest/QueryParams.hs) and its error codes.
import { ApiError } from '../core/http.ts'
import { notImplemented, parseError } from './errors.ts'

export interface JsonStep {
  arrow: '->' | '->>'
  key: string | number
}

export interface Field {
  name: string
  path: JsonStep[]
}

export type SelectItem = { kind: 'star' } | { kind: 'field'; field: Field; alias?: string; cast?: string }

export const FILTER_OPS = [
  'eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'like', 'ilike', 'match', 'imatch', 'in', 'is', 'isdistinct',
  'fts', 'plfts', 'phfts', 'wfts', 'cs', 'cd', 'ov', 'sl', 'sr', 'nxr', 'nxl', 'adj',
] as const
export type FilterOp = (typeof FILTER_OPS)[number]
const QUANTIFIABLE = new Set(['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'like', 'ilike', 'match', 'imatch'])
const FTS = new Set(['fts', 'plfts', 'phfts', 'wfts'])

export interface Filter {
  kind: 'filter'
  field: Field
  negate: boolean
  op: FilterOp
  quantifier?: 'any' | 'all'
  /** Text search configuration, `fts(english).word`. */
  config?: string
  /** The value as sent; for `in` the list elements. */
  value: string | string[]
}

export interface Logic {
  kind: 'logic'
  op: 'and' | 'or'
  negate: boolean
  children: Condition[]
}

export type Condition = Filter | Logic

export interface OrderTerm {
  field: Field
  dir?: 'asc' | 'desc'
  nulls?: 'first' | 'last'
}

export interface QueryParams {
  select: SelectItem[]
  /** ANDed together. */
  where: Condition[]
  order: OrderTerm[]
  limit?: number
  offset?: number
  columns?: string[]
  onConflict?: string[]
  /** Query parameters that are neither reserved nor filters (function arguments on GET /rpc). */
  rest: [string, string][]
}

/** Keys that never are filters. `apikey` is the API gateway's, not PostgREST's. */
const RESERVED = new Set(['select', 'columns', 'order', 'limit', 'offset', 'on_conflict', 'apikey'])

/**
 * Parses the query string. With `argNames`, keys that are function argument names go to `rest` instead of
 * being read as filters (GET /rpc/fn?arg=value&col=eq.x).
 */
export function parseQuery(search: URLSearchParams, argNames?: Set<string>): QueryParams {
  const q: QueryParams = { select: [{ kind: 'star' }], where: [], order: [], rest: [] }
  for (const [key, value] of search) {
    if (argNames?.has(key)) {
      q.rest.push([key, value])
      continue
    }
    switch (key) {
      case 'select':
        q.select = parseSelect(value)
        break
      case 'columns':
        q.columns = parseColumnList(value, 'columns')
        break
      case 'on_conflict':
        q.onConflict = parseColumnList(value, 'on_conflict')
        break
      case 'order':
        q.order.push(...parseOrder(value))
        break
      case 'limit':
        q.limit = parseCount(value, 'limit')
        break
      case 'offset':
        q.offset = parseCount(value, 'offset')
        break
      case 'apikey':
        break
      case 'and':
      case 'or':
      case 'not.and':
      case 'not.or': {
        const negate = key.startsWith('not.')
        q.where.push({ kind: 'logic', op: key.endsWith('and') ? 'and' : 'or', negate, children: parseLogicList(value) })
        break
      }
      default: {
        if (RESERVED.has(key)) break
        if (/\.(and|or|order|limit|offset|select)$/.test(key) || (key.includes('.') && !key.includes('->'))) {
          const resource = key.split('.')[0]
          throw new ApiError(400, 'PGRST108', `'${resource}' is not an embedded resource in this request`, null,
            `Verify that '${resource}' is included in the 'select' query parameter.`)
        }
        q.where.push(parseFilter(parseField(key, key), value))
      }
    }
  }
  return q
}

function parseCount(value: string, name: string): number {
  if (!/^-?\d+$/.test(value)) throw parseError(`"failed to parse ${name} parameter (${value})"`, `"${name}" must be a whole number`)
  const n = Number(value)
  if (n < 0) throw new ApiError(416, 'PGRST103', 'Requested range not satisfiable', `${name === 'limit' ? 'Limit' : 'Offset'} should be greater than or equal to zero.`)
  return n
}

// --- fields -------------------------------------------------------------------------------------------

const NAME = /^(?:"((?:[^"\\]|\\.)*)"|([^.,:()"\->]+(?:-(?!>)[^.,:()"\->]*)*))/
const STEP = /^(->>?)(?:"((?:[^"\\]|\\.)*)"|(-?\d+)(?![^.,:()"\->])|([^.,:()"\->]+(?:-(?!>)[^.,:()"\->]*)*))/

/** Reads `name` or `"quoted name"` followed by JSON path steps from the start of `text`. */
function readField(text: string, context: string): { field: Field; rest: string } {
  const m = NAME.exec(text)
  if (!m || !(m[1] ?? m[2]).trim()) throw parseError(`"failed to parse field name (${context})"`, `expected a column name at "${text}"`)
  const field: Field = { name: m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2].trim(), path: [] }
  let rest = text.slice(m[0].length)
  for (let s = STEP.exec(rest); s; s = STEP.exec(rest)) {
    const key = s[2] !== undefined ? s[2].replace(/\\(.)/g, '$1') : s[3] !== undefined ? Number(s[3]) : s[4]
    field.path.push({ arrow: s[1] as '->' | '->>', key })
    rest = rest.slice(s[0].length)
  }
  return { field, rest }
}

export function parseField(text: string, context: string): Field {
  const { field, rest } = readField(text, context)
  if (rest) throw parseError(`"failed to parse field name (${context})"`, `unexpected "${rest}"`)
  return field
}

/** The key a field has in JSON output: the column name, or the last JSON path key. */
export function fieldKey(field: Field): string {
  const last = field.path.at(-1)
  return last === undefined ? field.name : String(last.key)
}

// --- select -------------------------------------------------------------------------------------------

/** Splits on commas outside parentheses and double quotes. */
function splitTop(text: string): string[] {
  const parts: string[] = []
  let depth = 0
  let quoted = false
  let start = 0
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (c === '\\' && quoted) i++
    else if (c === '"') quoted = !quoted
    else if (!quoted && c === '(') depth++
    else if (!quoted && c === ')') depth--
    else if (!quoted && depth === 0 && c === ',') {
      parts.push(text.slice(start, i))
      start = i + 1
    }
  }
  parts.push(text.slice(start))
  return parts
}

const CAST = /^::([A-Za-z_][A-Za-z0-9_ ]*(?:\(\d+(?:,\d+)?\))?(?:\[\])*)$/
const AGGREGATE = /\.(count|sum|avg|min|max)\(\)$|^count\(\)$/

export function parseSelect(value: string): SelectItem[] {
  if (value.trim() === '') return [{ kind: 'star' }]
  return splitTop(value).map((raw) => {
    const item = raw.trim()
    if (item === '*') return { kind: 'star' }
    if (AGGREGATE.test(item.replace(/::.*$/, ''))) throw new ApiError(400, 'PGRST123', 'Use of aggregate functions is not allowed')
    if (item.includes('(')) {
      throw notImplemented(`Embedding related resources ("${item}") is not available on the local stack; select this table's own columns, or call a function that joins.`)
    }
    let alias: string | undefined
    let rest = item
    const aliased = /^(?:"((?:[^"\\]|\\.)*)"|([^:"]+)):(?!:)/.exec(item)
    if (aliased) {
      alias = aliased[1] !== undefined ? aliased[1].replace(/\\(.)/g, '$1') : aliased[2]
      rest = item.slice(aliased[0].length)
    }
    const { field, rest: tail } = readField(rest, item)
    let cast: string | undefined
    if (tail) {
      const c = CAST.exec(tail)
      if (!c) throw parseError(`"failed to parse select parameter (${value})"`, `unexpected "${tail}" in "${item}"`)
      cast = c[1]
    }
    return { kind: 'field', field, alias, cast }
  })
}

function parseColumnList(value: string, param: string): string[] {
  return splitTop(value).map((raw) => {
    const t = raw.trim()
    const m = /^"((?:[^"\\]|\\.)*)"$/.exec(t)
    const name = m ? m[1].replace(/\\(.)/g, '$1') : t
    if (!name) throw parseError(`"failed to parse ${param} parameter (${value})"`, 'empty column name')
    return name
  })
}

// --- filters ------------------------------------------------------------------------------------------

/** Parses a filter value: `[not.]op[(any|all)|(config)].value`. */
export function parseFilter(field: Field, text: string): Filter {
  let negate = false
  let rest = text
  if (rest.startsWith('not.')) {
    negate = true
    rest = rest.slice(4)
  }
  const m = /^([a-z]+)(?:\(([^)]*)\))?\./.exec(rest)
  const op = m?.[1] as FilterOp | undefined
  if (!m || !FILTER_OPS.includes(op!)) {
    throw parseError(`"failed to parse filter (${text})" (line 1, column 1)`,
      `unknown or missing operator; expected one of ${FILTER_OPS.join(', ')} followed by "." and the value, e.g. "eq.5"`)
  }
  const arg = m[2]
  const value = rest.slice(m[0].length)
  const filter: Filter = { kind: 'filter', field, negate, op: op!, value }
  if (arg !== undefined) {
    if (QUANTIFIABLE.has(op!) && (arg === 'any' || arg === 'all')) filter.quantifier = arg
    else if (FTS.has(op!) && /^[A-Za-z_][A-Za-z0-9_.]*$/.test(arg)) filter.config = arg
    else throw parseError(`"failed to parse filter (${text})"`, `"(${arg})" is not a valid modifier for ${op}`)
  }
  if (op === 'in') filter.value = parseInList(value, text)
  else if (op === 'is' && !/^(null|not_null|true|false|unknown)$/i.test(value)) {
    throw parseError(`"failed to parse filter (${text})"`, 'is accepts null, not_null, true, false or unknown')
  } else if (filter.quantifier && !/^\{.*\}$/s.test(value)) {
    throw parseError(`"failed to parse filter (${text})"`, `${op}(${filter.quantifier}) takes a list in braces, e.g. {a,b}`)
  }
  return filter
}

/** `(a,b,"c,d")` → ['a', 'b', 'c,d']. */
function parseInList(value: string, context: string): string[] {
  if (!value.startsWith('(') || !value.endsWith(')')) {
    throw parseError(`"failed to parse filter (${context})"`, 'in takes a parenthesised list, e.g. in.(1,2,3)')
  }
  const inner = value.slice(1, -1)
  if (inner.trim() === '') return []
  return splitTop(inner).map((v) => {
    const q = /^\s*"((?:[^"\\]|\\.)*)"\s*$/.exec(v)
    return q ? q[1].replace(/\\(.)/g, '$1') : v
  })
}

/** `(a.eq.1,or(b.gt.2,not.c.is.null))` → conditions. */
function parseLogicList(value: string): Condition[] {
  if (!value.startsWith('(') || !value.endsWith(')')) {
    throw parseError(`"failed to parse logic tree (${value})"`, 'a logic tree is a parenthesised list, e.g. (a.eq.1,b.eq.2)')
  }
  return splitTop(value.slice(1, -1)).map((item) => {
    const m = /^(not\.)?(and|or)(\(.*\))$/s.exec(item)
    if (m) return { kind: 'logic', op: m[2] as 'and' | 'or', negate: !!m[1], children: parseLogicList(m[3]) }
    const { field, rest } = readField(item, item)
    if (!rest.startsWith('.')) throw parseError(`"failed to parse logic tree (${value})"`, `expected "column.operator.value" in "${item}"`)
    let text = rest.slice(1)
    // Values in a logic tree may be double-quoted to hold commas and parentheses.
    const q = /^((?:not\.)?[a-z]+(?:\([^)]*\))?\.)"((?:[^"\\]|\\.)*)"$/s.exec(text)
    if (q && !/^(?:not\.)?in\./.test(text)) text = q[1] + q[2].replace(/\\(.)/g, '$1')
    return parseFilter(field, text)
  })
}

// --- order --------------------------------------------------------------------------------------------

export function parseOrder(value: string): OrderTerm[] {
  return splitTop(value).map((raw) => {
    const { field, rest } = readField(raw.trim(), raw)
    const term: OrderTerm = { field }
    for (const mod of rest.split('.').filter(Boolean)) {
      if (mod === 'asc' || mod === 'desc') term.dir = mod
      else if (mod === 'nullsfirst') term.nulls = 'first'
      else if (mod === 'nullslast') term.nulls = 'last'
      else throw parseError(`"failed to parse order (${value})"`, `unexpected "${mod}" expecting "asc", "desc", "nullsfirst" or "nullslast"`)
    }
    return term
  })
}
