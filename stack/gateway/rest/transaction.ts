// One request, one transaction, as PostgREST runs it: role, claims and request.* settings local to it (set
// together with READ ONLY, when the request may not write, in one statement), the main query, and the
// response.headers / response.status GUCs — read by the main query itself where it can, as PostgREST does,
// else by one more statement. Any error rolls everything back and becomes PostgREST's error reply.
import type { Transaction } from '@electric-sql/pglite'
import { quoteLiteral, type Identity } from '../../db.ts'
import type { GatewayContext } from '../server.ts'
import { fromPgError } from './errors.ts'
import { GUC_SQL, gucResponse, identityFor, type RestRequest } from './request.ts'
import { TEXT_SERIALIZERS } from './sql.ts'

export interface TxQuery {
  /** Runs a statement with text parameters (see TEXT_SERIALIZERS). */
  query<T>(sql: string, params: unknown[]): Promise<{ rows: T[]; affectedRows?: number }>
}

/** Columns a main query can end with so the GUCs need no statement of their own. */
export const GUC_COLUMNS = `nullif(current_setting('response.headers', true), '') as _pgrst_headers, nullif(current_setting('response.status', true), '') as _pgrst_status`

export interface GucRow {
  _pgrst_headers: string | null
  _pgrst_status: string | null
}

function settingsSql(identity: Identity, readOnly: boolean): string {
  const parts = [
    `set_config('role', ${quoteLiteral(identity.role)}, true)`,
    `set_config('request.jwt.claims', ${quoteLiteral(JSON.stringify(identity.claims ?? {}))}, true)`,
    ...Object.entries(identity.settings ?? {}).map(([k, v]) => `set_config(${quoteLiteral(k)}, ${quoteLiteral(v)}, true)`),
  ]
  return `${readOnly ? 'set transaction read only; ' : ''}select ${parts.join(', ')}`
}

/**
 * Runs `fn` in the request's transaction. `fn` returns its result and, when its main query selected
 * GUC_COLUMNS, that row (so the GUCs are not read again).
 */
export async function runRequestTx<T>(
  ctx: GatewayContext,
  r: RestRequest,
  readOnly: boolean,
  fn: (q: TxQuery) => Promise<{ result: T; guc?: GucRow }>,
): Promise<{ result: T; headers: Record<string, string>; status?: number }> {
  try {
    return await ctx.db.transaction(async (tx: Transaction) => {
      await tx.exec(settingsSql(identityFor(ctx, r), readOnly))
      const q: TxQuery = { query: (sql, params) => tx.query(sql, params, { serializers: TEXT_SERIALIZERS }) }
      const { result, guc } = await fn(q)
      let row = guc
      if (!row) {
        const g = (await tx.query<{ headers: string | null; status: string | null }>(GUC_SQL)).rows[0]
        row = { _pgrst_headers: g.headers, _pgrst_status: g.status }
      }
      return { result, ...gucResponse(row._pgrst_headers, row._pgrst_status) }
    })
  } catch (err) {
    throw fromPgError(err, r.auth.role === 'anon')
  }
}
