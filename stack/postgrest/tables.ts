// /rest/v1/<table>: the table and view routes supabase-js's `.from()` uses — GET/HEAD reads with select,
// filters, order, limit/offset and Range, and POST (insert, bulk insert, upsert), PATCH and DELETE with
// `return=representation|minimal`. Rows come from the body through json_populate_recordset (Postgres
// converts every value), each request is one transaction as the caller's role, so RLS applies exactly as it
// does to RPC, and a singular (vnd.pgrst.object+json) mutation that touches other than one row is rolled back.
import type { ServerResponse } from 'node:http'
import { quoteIdent, quoteLiteral } from '../core/identity.ts'
import { ApiError } from '../core/http.ts'
import type { GatewayContext } from '../core/context.ts'
import { columnNotFound, invalidBody, invalidRange, maxAffectedViolation, notImplemented, singularityError, tableNotFound, unsupportedMethod } from './errors.ts'
import { parseQuery, type QueryParams } from './query-params.ts'
import { contentRange, readJson, send, type GucRow, type RestRequest } from './request.ts'
import { schemaCacheFor, type Relation } from './schema-cache.ts'
import { limitSql, orderSql, Params, resultSql, selectSql, whereSql } from './sql.ts'
import { runRequestTx, type TxQuery } from './transaction.ts'

interface Outcome {
  body: string | null
  page: number
  total: number | null
}

export async function handleTable(ctx: GatewayContext, r: RestRequest, res: ServerResponse, name: string): Promise<void> {
  const query = parseQuery(r.url.searchParams)
  const cache = schemaCacheFor(ctx.db, ctx.config.api.schemas)
  const { relation, names } = await cache.relation(r.schema, name, [...(query.columns ?? []), ...(query.onConflict ?? [])])
  if (!relation) throw tableNotFound(r.schema, name, names)
  switch (r.method) {
    case 'GET':
    case 'HEAD':
      return read(ctx, r, res, relation, query)
    case 'POST':
      return insert(ctx, r, res, relation, query)
    case 'PATCH':
      return update(ctx, r, res, relation, query)
    case 'DELETE':
      return remove(ctx, r, res, relation, query)
    case 'PUT':
      throw notImplemented('PUT (single-row upsert by primary key) is not available on the local stack; use POST with Prefer: resolution=merge-duplicates (supabase-js upsert()).')
    default:
      throw unsupportedMethod(r.method)
  }
}

function target(rel: Relation): { table: string; alias: string } {
  return { table: `${quoteIdent(rel.schema)}.${quoteIdent(rel.name)}`, alias: quoteIdent(rel.name) }
}

function respond(
  r: RestRequest,
  res: ServerResponse,
  status: number,
  out: Outcome,
  guc: { headers: Record<string, string>; status?: number },
  range: string,
): void {
  const headers: Record<string, string> = { 'content-range': range, ...guc.headers }
  if (r.prefer.applied.length) headers['preference-applied'] = r.prefer.applied.join(', ')
  if (r.singular && out.body !== null) headers['content-type'] = 'application/vnd.pgrst.object+json; charset=utf-8'
  send(res, guc.status ?? status, out.body, headers)
}

async function read(ctx: GatewayContext, r: RestRequest, res: ServerResponse, rel: Relation, q: QueryParams): Promise<void> {
  const { table, alias } = target(rel)
  const maxRows = ctx.config.api.maxRows
  const offset = q.offset ?? r.range?.offset ?? 0
  const limit = Math.min(q.limit ?? r.range?.limit ?? maxRows, maxRows)
  const params = new Params()
  const where = whereSql(q.where, params, alias)
  const counting = !!r.prefer.count
  if (counting) r.prefer.applied.push(`count=${r.prefer.count}`)
  const sql = resultSql({
    source: `select ${alias}.* from ${table}${where}${orderSql(q.order, alias)}${limitSql(limit, offset)}`,
    select: selectSql(q.select, '_pgrst_src'),
    total: counting ? `(select count(*) from ${table}${where})` : undefined,
    singular: r.singular,
    stripNulls: r.stripNulls,
  })
  const { result, ...guc } = await runRequestTx(ctx, r, true, async (tx) => outcome(tx, sql, params))
  if (r.singular && result.page !== 1) throw singularityError(result.page)
  let status = 200
  if (result.total !== null) {
    if (offset > result.total && result.total > 0) throw invalidRange(`An offset of ${offset} was requested, but there are only ${result.total} rows.`)
    if (result.page < result.total) status = 206
  }
  respond(r, res, status, result, guc, contentRange(offset, result.page, result.total))
}

/** Runs a resultSql query: the outcome, and the GUC columns it selected. */
async function outcome(tx: TxQuery, sql: string, params: Params): Promise<{ result: Outcome; guc: GucRow }> {
  const row = (await tx.query<{ total: number | null; page: number; body: string | null } & GucRow>(sql, params.values)).rows[0]
  return { result: { body: row.body, page: Number(row.page), total: row.total === null ? null : Number(row.total) }, guc: row }
}

/** Checks a mutation's row count against vnd.pgrst.object+json and max-affected; throwing rolls it back. */
function checkAffected(r: RestRequest, rows: number): void {
  if (r.singular && rows !== 1) throw singularityError(rows)
  if (r.prefer.handling === 'strict' && r.prefer.maxAffected !== undefined && rows > r.prefer.maxAffected) throw maxAffectedViolation(rows)
}

/**
 * Runs a mutation. With return=representation (or a singular Accept) the statement has RETURNING and the
 * rows are shaped by `select`; otherwise it has none, so a caller without SELECT rights (or policies) on the
 * table can still write, as with PostgREST's return=minimal.
 */
async function mutate(
  ctx: GatewayContext,
  r: RestRequest,
  rel: Relation,
  q: QueryParams,
  statement: (returning: string) => string,
  params: Params,
): Promise<{ out: Outcome; guc: { headers: Record<string, string>; status?: number }; representation: boolean }> {
  const representation = r.prefer.return === 'representation'
  if (r.prefer.return) r.prefer.applied.push(`return=${r.prefer.return}`)
  if (r.prefer.count) r.prefer.applied.push(`count=${r.prefer.count}`)
  const { alias } = target(rel)
  const { result, ...guc } = await runRequestTx(ctx, r, false, async (tx) => {
    if (representation) {
      const sql = resultSql({
        source: statement(` returning ${alias}.*`),
        select: selectSql(q.select, '_pgrst_src'),
        total: r.prefer.count ? '(select count(*) from _pgrst_src)' : undefined,
        singular: r.singular,
        stripNulls: r.stripNulls,
      })
      const out = await outcome(tx, sql, params)
      checkAffected(r, out.result.page)
      return out
    }
    const done = await tx.query(statement(''), params.values)
    const rows = done.affectedRows ?? 0
    checkAffected(r, rows)
    return { result: { body: null, page: rows, total: r.prefer.count ? rows : null } }
  })
  return { out: result, guc, representation }
}

/** Column names of the rows in a body, checked against the table (PostgREST's PGRST204). */
function bodyColumns(rel: Relation, rows: unknown[], q: QueryParams): string[] {
  let cols: string[]
  if (q.columns) cols = q.columns
  else {
    const seen = new Set<string>()
    for (const row of rows) {
      if (row === null || typeof row !== 'object' || Array.isArray(row)) throw invalidBody('Every row in the request body must be a JSON object')
      for (const k of Object.keys(row)) seen.add(k)
    }
    cols = [...seen]
  }
  for (const c of cols) if (!rel.columns.some((col) => col.name === c)) throw columnNotFound(rel.name, c)
  return cols
}

async function insert(ctx: GatewayContext, r: RestRequest, res: ServerResponse, rel: Relation, q: QueryParams): Promise<void> {
  const body = await readJson(ctx, r)
  if (!body) throw invalidBody('Empty or invalid json: the request body is empty')
  const rows = Array.isArray(body.value) ? body.value : [body.value]
  let cols = bodyColumns(rel, rows, q)
  if (!q.columns && !(await ensureColumns(ctx, r, rel, cols))) cols = bodyColumns(rel, rows, q)
  const { table } = target(rel)
  const params = new Params()
  const json = params.add(Array.isArray(body.value) ? body.text : `[${body.text}]`)
  const list = cols.map(quoteIdent).join(', ')
  let conflict = ''
  if (r.prefer.resolution) {
    const keys = q.onConflict ?? rel.pk
    if (!keys.length) {
      throw new ApiError(400, '42P10', `there is no unique or exclusion constraint matching the ON CONFLICT specification`, null,
        `${rel.name} has no primary key: name the unique columns with on_conflict (supabase-js upsert's onConflict option)`)
    }
    const updates = cols.filter((c) => !keys.includes(c))
    conflict =
      r.prefer.resolution === 'ignore-duplicates' || !updates.length
        ? ` on conflict (${keys.map(quoteIdent).join(', ')}) do nothing`
        : ` on conflict (${keys.map(quoteIdent).join(', ')}) do update set ${updates.map((c) => `${quoteIdent(c)} = excluded.${quoteIdent(c)}`).join(', ')}`
    r.prefer.applied.push(`resolution=${r.prefer.resolution}`)
  }
  // Prefer: missing=default (supabase-js `defaultToNull: false`): a key a row lacks takes the column default,
  // not NULL. As PostgREST does, each row is merged over an object of the defaults before it is read.
  let rowsJson = `${json}::json`
  let populate = 'json_populate_recordset'
  const defaults = r.prefer.missing === 'default' ? rel.columns.filter((c) => cols.includes(c.name) && c.default !== null) : []
  if (r.prefer.missing === 'default') r.prefer.applied.push('missing=default')
  if (defaults.length) {
    const merged = `jsonb_build_object(${defaults.map((c) => `${quoteLiteral(c.name)}, ${c.default}`).join(', ')}) || _pgrst_e`
    rowsJson = `(select coalesce(jsonb_agg(${merged}), '[]') from jsonb_array_elements(${json}::jsonb) _pgrst_e)`
    populate = 'jsonb_populate_recordset'
  }
  const statement = (returning: string) =>
    `insert into ${table}${cols.length ? ` (${list})` : ''} select ${list} from ${populate}(null::${table}, ${rowsJson}) _${conflict}${returning}`
  const { out, guc } = await mutate(ctx, r, rel, q, statement, params)
  respond(r, res, 201, out, guc, `*/${out.total ?? '*'}`)
}

/** A column the cache does not know may be new: reload once before calling it unknown. */
async function ensureColumns(ctx: GatewayContext, r: RestRequest, rel: Relation, cols: string[]): Promise<boolean> {
  if (cols.every((c) => rel.columns.some((col) => col.name === c))) return true
  const fresh = await schemaCacheFor(ctx.db, ctx.config.api.schemas).relation(r.schema, rel.name, cols)
  if (fresh.relation) Object.assign(rel, fresh.relation)
  return false
}

/** PATCH and DELETE need a filter: hosted Supabase refuses unfiltered ones (pg-safeupdate), so does this. */
function requireFilter(verb: 'UPDATE' | 'DELETE', q: QueryParams): void {
  if (!q.where.length) {
    throw new ApiError(400, '21000', `${verb} requires a WHERE clause`, null,
      `Add a filter (e.g. .eq('id', …)); to affect every row on purpose, use a filter every row matches`)
  }
  if (q.limit !== undefined || q.offset !== undefined) {
    throw notImplemented(`limit/offset on ${verb === 'UPDATE' ? 'PATCH' : 'DELETE'} is not available on the local stack; narrow the filters instead.`)
  }
}

async function update(ctx: GatewayContext, r: RestRequest, res: ServerResponse, rel: Relation, q: QueryParams): Promise<void> {
  const body = await readJson(ctx, r)
  if (!body || body.value === null || typeof body.value !== 'object' || Array.isArray(body.value)) {
    throw invalidBody('The request body of an update must be one JSON object of column values')
  }
  requireFilter('UPDATE', q)
  let cols = bodyColumns(rel, [body.value], q)
  if (!(await ensureColumns(ctx, r, rel, cols))) cols = bodyColumns(rel, [body.value], q)
  const { table, alias } = target(rel)
  const params = new Params()
  const json = params.add(body.text)
  const where = whereSql(q.where, params, alias)
  if (!cols.length) {
    // Nothing to set: PostgREST answers with no rows and touches nothing.
    respond(r, res, r.prefer.return === 'representation' ? 200 : 204, { body: r.prefer.return === 'representation' ? '[]' : null, page: 0, total: null }, { headers: {} }, '*/*')
    return
  }
  const statement = (returning: string) =>
    `update ${table} set ${cols.map((c) => `${quoteIdent(c)} = _pgrst_body.${quoteIdent(c)}`).join(', ')} from (select * from json_populate_record(null::${table}, ${json}::json)) _pgrst_body${where}${returning}`
  const { out, guc, representation } = await mutate(ctx, r, rel, q, statement, params)
  respond(r, res, representation ? 200 : 204, out, guc, out.page ? `0-${out.page - 1}/${out.total ?? '*'}` : `*/${out.total ?? '*'}`)
}

async function remove(ctx: GatewayContext, r: RestRequest, res: ServerResponse, rel: Relation, q: QueryParams): Promise<void> {
  requireFilter('DELETE', q)
  const { table, alias } = target(rel)
  const params = new Params()
  const where = whereSql(q.where, params, alias)
  const statement = (returning: string) => `delete from ${table}${where}${returning}`
  const { out, guc, representation } = await mutate(ctx, r, rel, q, statement, params)
  respond(r, res, representation ? 200 : 204, out, guc, out.page ? `0-${out.page - 1}/${out.total ?? '*'}` : `*/${out.total ?? '*'}`)
}
