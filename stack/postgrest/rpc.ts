// /rest/v1/rpc/<fn>: PostgREST's function calls. The function is chosen from the schema cache by schema,
// name and argument names (overloads and defaults included); arguments are converted by Postgres exactly as
// PostgREST does it — `json_to_record($1) as _(a int, b text[])`, then `fn(a := _.a, …)` — and the result is
// shaped by the return type: set-returning → JSON array (always), composite → object, scalar → JSON value,
// void → 204. GET/HEAD and stable/immutable functions run in a READ ONLY transaction.
import type { ServerResponse } from 'node:http'
import { quoteIdent } from '../core/identity.ts'
import { ApiError } from '../core/http.ts'
import type { GatewayContext } from '../core/context.ts'
import { functionNotFound, invalidBody, invalidRange, invalidRpcMethod, singularityError } from './errors.ts'
import { parseQuery, type QueryParams } from './query-params.ts'
import { contentRange, GUC_COLUMNS, readJson, send, type GucRow, type RestRequest } from './request.ts'
import { schemaCacheFor, type Routine } from './schema-cache.ts'
import { limitSql, orderSql, Params, resultSql, selectSql, whereSql } from './sql.ts'
import { runRequestTx } from './transaction.ts'

const JSON_TYPES = new Set(['json', 'jsonb'])

function singleJsonParam(r: Routine): boolean {
  return r.inputs.length === 1 && JSON_TYPES.has(r.inputs[0].type)
}

/** Does `r` accept exactly these named arguments (every required one given, none unknown)? */
function accepts(r: Routine, keys: string[], bodyless: boolean, singleObject: boolean): boolean {
  if (!bodyless && singleJsonParam(r) && (r.inputs[0].name === '' || singleObject)) return true
  if (r.inputs.some((a) => a.name === '')) return keys.length === 0 && r.inputs.every((a) => a.hasDefault)
  const names = new Set(r.inputs.map((a) => a.name))
  return keys.every((k) => names.has(k)) && r.inputs.every((a) => a.hasDefault || keys.includes(a.name))
}

function signature(r: Routine): string {
  return `${r.schema}.${r.name}(${r.inputs.map((a) => `${a.name} => ${a.type}`).join(', ')})`
}

export async function callRpc(ctx: GatewayContext, r: RestRequest, res: ServerResponse, name: string): Promise<void> {
  const { method } = r
  if (method !== 'GET' && method !== 'HEAD' && method !== 'POST') throw invalidRpcMethod(method)
  const viaQuery = method !== 'POST'
  const cache = schemaCacheFor(ctx.db, ctx.config.api.schemas)

  // Arguments: the JSON body (POST) or the query string (GET/HEAD; other keys there filter the result).
  let argsText = '{}'
  let bodyValue: unknown = {}
  let keys: string[] = []
  let query: QueryParams
  if (viaQuery) {
    const probe = await cache.routines(r.schema, name, () => true)
    const argNames = new Set(probe.overloads.flatMap((o) => o.inputs.map((a) => a.name)).filter(Boolean))
    query = parseQuery(r.url.searchParams, argNames)
    const args: Record<string, string | string[]> = {}
    for (const [k, v] of query.rest) {
      const prev = args[k]
      args[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v]
    }
    keys = Object.keys(args)
    argsText = JSON.stringify(args)
    bodyValue = args
  } else {
    query = parseQuery(r.url.searchParams)
    const body = await readJson(ctx, r)
    if (body) {
      argsText = body.text
      bodyValue = body.value
    }
    if (bodyValue !== null && typeof bodyValue === 'object' && !Array.isArray(bodyValue)) keys = Object.keys(bodyValue)
  }
  const isObject = bodyValue !== null && typeof bodyValue === 'object' && !Array.isArray(bodyValue)
  const singleObject = !!r.prefer.paramsSingleObject

  const { overloads, all } = await cache.routines(r.schema, name, (o) => o.some((fn) => accepts(fn, keys, viaQuery, singleObject)))
  const candidates = overloads.filter((fn) => accepts(fn, keys, viaQuery, singleObject))
  if (!candidates.length) {
    if (!isObject && !viaQuery) throw invalidBody('The request body for a function call must be a JSON object of named arguments')
    throw functionNotFound(r.schema, name, keys, [...new Set(all.map((f) => f.name))], overloads.map((o) => o.inputs.map((a) => a.name)))
  }
  // An exact match on argument names wins over a single json/jsonb parameter that takes the whole body.
  const exact = candidates.filter((fn) => !singleJsonParam(fn) || fn.inputs[0].name !== '' || keys.length === 0)
  const chosen = exact.length ? exact : candidates
  if (chosen.length > 1) {
    throw new ApiError(300, 'PGRST203', `Could not choose the best candidate function between: ${chosen.map(signature).join(', ')}`, null,
      'Try renaming the parameters or the function itself in the database so function overloading can be resolved')
  }
  const fn = chosen[0]
  if (!isObject && !(singleJsonParam(fn) && !viaQuery)) throw invalidBody('The request body for a function call must be a JSON object of named arguments')

  // The call: json_to_record converts each argument to its declared type, as PostgREST does.
  const params = new Params()
  const argsParam = params.add(argsText)
  const qualified = `${quoteIdent(fn.schema)}.${quoteIdent(fn.name)}`
  let from: string
  let call: string
  if (singleJsonParam(fn) && !viaQuery && (fn.inputs[0].name === '' || singleObject)) {
    from = ''
    call = `${qualified}(${argsParam}::${fn.inputs[0].type})`
  } else {
    const given = fn.inputs.filter((a) => keys.includes(a.name))
    from = given.length ? ` from json_to_record(${argsParam}::json) as _pgrst_args(${given.map((a) => `${quoteIdent(a.name)} ${a.type}`).join(', ')})` : ''
    call = `${qualified}(${given.map((a) => `${a.mode === 'v' ? 'variadic ' : ''}${quoteIdent(a.name)} := _pgrst_args.${quoteIdent(a.name)}`).join(', ')})`
    if (!given.length) params.values.length = 0
  }

  const readOnly = viaQuery || fn.volatility !== 'v'
  const maxRows = ctx.config.api.maxRows
  const offset = query.offset ?? r.range?.offset ?? 0
  const limit = Math.min(query.limit ?? r.range?.limit ?? maxRows, maxRows)
  const minimal = r.prefer.return === 'minimal' || method === 'HEAD'
  const counting = !!r.prefer.count

  const { result, headers: gucHeaders, status: gucStatus } = await runRequestTx(ctx, r, readOnly, async (q) => {
    if (fn.returns === 'void' || (!fn.returnsSet && fn.returns === 'scalar')) {
      // The call comes first in the target list, so the GUC columns see what the function set.
      const value = fn.returns === 'void' ? `${call} as v` : `to_json(${call})::text as body`
      const rows = (await q.query<{ body?: string | null } & GucRow>(`select ${value}, ${GUC_COLUMNS}${from}`, params.values)).rows
      const result = { body: fn.returns === 'void' ? null : (rows[0]?.body ?? 'null'), page: null as number | null, total: null as number | null }
      return { result, guc: rows[0] }
    }
    // Set-returning or composite: select, filter, order and page the rows the function returns.
    const alias = quoteIdent(fn.name)
    const scalarSet = fn.returns === 'scalar'
    const rowSource = scalarSet
      ? `select _pgrst_call._pgrst_v${from ? from + ',' : ' from'} lateral ${call} as _pgrst_call(_pgrst_v)`
      : `select ${alias}.*${from ? from + ',' : ' from'} lateral ${call} as ${alias}`
    const where = whereSql(query.where, params, alias)
    const ctes = `_pgrst_call as (${rowSource})`
    const source = `select * from _pgrst_call as ${alias}${where}${orderSql(query.order, alias)}${limitSql(fn.returnsSet ? limit : undefined, offset)}`
    const select = scalarSet ? `_pgrst_src._pgrst_v` : selectSql(query.select, '_pgrst_src')
    let sql = resultSql({
      ctes,
      source,
      select,
      total: counting && fn.returnsSet ? `(select count(*) from _pgrst_call as ${alias}${where})` : undefined,
      singular: !fn.returnsSet || r.singular,
      stripNulls: r.stripNulls,
    })
    if (scalarSet) sql = sql.replace(/json_agg\(_pgrst_t\)/g, 'json_agg(_pgrst_t._pgrst_v)')
    const row = (await q.query<{ total: number | null; page: number; body: string } & GucRow>(sql, params.values)).rows[0]
    const page = Number(row.page)
    if (fn.returnsSet && r.singular && page !== 1) throw singularityError(page)
    return { result: { body: row.body, page, total: row.total === null ? null : Number(row.total) }, guc: row }
  })

  const headers: Record<string, string> = { ...gucHeaders }
  if (r.prefer.return) r.prefer.applied.push(`return=${r.prefer.return}`)
  if (counting) r.prefer.applied.push(`count=${r.prefer.count}`)
  if (r.prefer.applied.length) headers['preference-applied'] = r.prefer.applied.join(', ')
  if (fn.returns === 'void') return send(res, gucStatus ?? 204, null, headers)
  let status = gucStatus ?? 200
  if (fn.returnsSet && result.page !== null) {
    headers['content-range'] = contentRange(offset, result.page, result.total)
    if (result.total !== null && !gucStatus) {
      if (offset > result.total && result.total > 0) throw invalidRange(`An offset of ${offset} was requested, but there are only ${result.total} rows.`)
      if (result.page < result.total) status = 206
    }
  }
  if (r.singular && fn.returnsSet) headers['content-type'] = 'application/vnd.pgrst.object+json; charset=utf-8'
  // return=minimal on POST (supabase-js's `head` with object arguments) answers like HEAD: no body.
  if (minimal && method === 'POST' && !gucStatus) status = 204
  send(res, status, minimal ? null : result.body, headers)
}
