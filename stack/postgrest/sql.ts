// Renders the parsed query string as SQL. Identifiers are quoted, JSON path keys are quoted literals, and
// every value is a bind parameter sent as text, so Postgres infers its type from the column it is compared
// with — the same coercion PostgREST gets from its unknown-typed literals.
import { quoteIdent, quoteLiteral } from '../core/identity.ts'
import { GUC_COLUMNS } from './request.ts'
import { fieldKey, type Condition, type Field, type Filter, type OrderTerm, type SelectItem } from './query-params.ts'

/** Collects bind parameters; `$n` placeholders refer to them. */
export class Params {
  readonly values: unknown[] = []
  add(value: unknown): string {
    this.values.push(value)
    return `$${this.values.length}`
  }
}

/**
 * PGlite serializes a parameter by the type Postgres inferred for it; these send strings as they are (the
 * server parses them as that type, as for a literal) and anything else as JSON.
 */
export const TEXT_SERIALIZERS: Record<number, (v: unknown) => string> = new Proxy(
  {},
  { get: () => (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v)) },
)

export function fieldSql(field: Field, qualifier?: string): string {
  let sql = (qualifier ? `${qualifier}.` : '') + quoteIdent(field.name)
  for (const step of field.path) sql += step.arrow + (typeof step.key === 'number' ? String(step.key) : quoteLiteral(step.key))
  return sql
}

export function selectSql(items: SelectItem[], qualifier: string): string {
  return items
    .map((item) => {
      if (item.kind === 'star') return `${qualifier}.*`
      const expr = fieldSql(item.field, qualifier)
      const value = item.cast ? `cast(${expr} as ${item.cast})` : expr
      return `${value} as ${quoteIdent(item.alias ?? fieldKey(item.field))}`
    })
    .join(', ')
}

const SIMPLE: Record<string, string> = {
  eq: '=', neq: '<>', gt: '>', gte: '>=', lt: '<', lte: '<=', like: 'like', ilike: 'ilike', match: '~', imatch: '~*',
  cs: '@>', cd: '<@', ov: '&&', sl: '<<', sr: '>>', nxr: '&<', nxl: '&>', adj: '-|-', isdistinct: 'is distinct from',
}
const TSQUERY: Record<string, string> = { fts: 'to_tsquery', plfts: 'plainto_tsquery', phfts: 'phraseto_tsquery', wfts: 'websearch_to_tsquery' }

/** `{"a","b"}`: a Postgres array literal with every element quoted. */
export function arrayLiteral(values: string[]): string {
  return '{' + values.map((v) => '"' + v.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"').join(',') + '}'
}

function filterSql(f: Filter, params: Params, qualifier: string): string {
  const lhs = fieldSql(f.field, qualifier)
  const value = f.value as string
  let sql: string
  if (f.op === 'in') sql = `${lhs} = any(${params.add(arrayLiteral(f.value as string[]))})`
  else if (f.op === 'is') {
    const v = value.toLowerCase()
    sql = v === 'not_null' ? `${lhs} is not null` : `${lhs} is ${v}`
  } else if (f.op in TSQUERY) {
    const config = f.config ? `${params.add(f.config)}::regconfig, ` : ''
    sql = `${lhs} @@ ${TSQUERY[f.op]}(${config}${params.add(value)})`
  } else {
    const pattern = f.op === 'like' || f.op === 'ilike' ? value.replace(/\*/g, '%') : value
    if (f.quantifier) {
      const elements = f.op === 'like' || f.op === 'ilike' ? pattern : value
      sql = `${lhs} ${SIMPLE[f.op]} ${f.quantifier}(${params.add(elements)})`
    } else sql = `${lhs} ${SIMPLE[f.op]} ${params.add(pattern)}`
  }
  return f.negate ? `not (${sql})` : sql
}

export function conditionSql(c: Condition, params: Params, qualifier: string): string {
  if (c.kind === 'filter') return filterSql(c, params, qualifier)
  const parts = c.children.map((child) => conditionSql(child, params, qualifier))
  const joined = parts.length ? `(${parts.join(c.op === 'and' ? ' and ' : ' or ')})` : c.op === 'and' ? 'true' : 'false'
  return c.negate ? `not ${joined}` : joined
}

export function whereSql(conditions: Condition[], params: Params, qualifier: string): string {
  if (!conditions.length) return ''
  return ' where ' + conditions.map((c) => conditionSql(c, params, qualifier)).join(' and ')
}

export function orderSql(terms: OrderTerm[], qualifier: string): string {
  if (!terms.length) return ''
  return ' order by ' + terms.map((t) => `${fieldSql(t.field, qualifier)}${t.dir ? ' ' + t.dir : ''}${t.nulls ? ' nulls ' + t.nulls : ''}`).join(', ')
}

export function limitSql(limit: number | undefined, offset: number | undefined): string {
  return (limit !== undefined ? ` limit ${limit}` : '') + (offset ? ` offset ${offset}` : '')
}

/**
 * Wraps a row source (`with _pgrst_src as (…)`) into one result row: the total (when counting), the page size
 * and the JSON body PostgREST would send — an array, one object (`singular`), with nulls stripped on request.
 */
export function resultSql(opts: {
  /** Extra CTEs before `_pgrst_src`, e.g. a function call both the page and the count read. */
  ctes?: string
  source: string
  select: string
  total?: string
  singular: boolean
  stripNulls: boolean
  bodyless?: boolean
}): string {
  const agg = opts.stripNulls ? 'json_strip_nulls(json_agg(_pgrst_t))' : 'json_agg(_pgrst_t)'
  const body = opts.bodyless
    ? `null::text`
    : opts.singular
      ? `coalesce((select ${agg} from (select ${opts.select} from _pgrst_src) _pgrst_t) -> 0, 'null')::text`
      : `coalesce((select ${agg} from (select ${opts.select} from _pgrst_src) _pgrst_t), '[]')::text`
  return `with ${opts.ctes ? opts.ctes + ', ' : ''}_pgrst_src as (${opts.source})
select ${opts.total ?? 'null::bigint'} as total, (select count(*) from _pgrst_src) as page, ${body} as body, ${GUC_COLUMNS}`
}
