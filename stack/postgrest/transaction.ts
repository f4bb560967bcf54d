// One request, one transaction, as PostgREST runs it: role, claims and request.* settings local to it (set
// together with READ ONLY, when the request may not write, in one statement), the main query, and the
// response.headers / response.status GUCs — read by the main query itself where it can, as PostgREST does,
// else by one more statement. Any error rolls everything back and becomes PostgREST's error reply.
import type { Transaction } from '@electric-sql/pglite'
import { identitySql } from '../core/identity.ts'
import type { GatewayContext } from '../core/context.ts'
import { fromPgError } from './errors.ts'
import { GUC_SQL, gucResponse, identityFor, type GucRow, type RestRequest } from './request.ts'
import { TEXT_SERIALIZERS } from './sql.ts'

export interface TxQuery {
  /** Runs a statement with text parameters (see TEXT_SERIALIZERS). */
  query<T>(sql: string, params: unknown[]): Promise<{ rows: T[]; affectedRows?: number }>
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
      await tx.exec(identitySql(identityFor(ctx, r), { readOnly }))
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
