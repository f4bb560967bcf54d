// One request, one transaction, as PostgREST runs it: role, claims and request.* settings local to it,
// READ ONLY when the request may not write, and the response.headers / response.status GUCs read at the
// end. Any error rolls everything back and becomes PostgREST's error reply.
import type { Transaction } from '@electric-sql/pglite'
import type { GatewayContext } from '../server.ts'
import { fromPgError } from './errors.ts'
import { GUC_SQL, gucResponse, identityFor, type RestRequest } from './request.ts'
import { TEXT_SERIALIZERS } from './sql.ts'

export interface TxQuery {
  /** Runs a statement with text parameters (see TEXT_SERIALIZERS). */
  query<T>(sql: string, params: unknown[]): Promise<{ rows: T[]; affectedRows?: number }>
}

export async function runRequestTx<T>(
  ctx: GatewayContext,
  r: RestRequest,
  readOnly: boolean,
  fn: (q: TxQuery) => Promise<T>,
): Promise<{ result: T; headers: Record<string, string>; status?: number }> {
  try {
    return await ctx.db.transaction(async (tx: Transaction) => {
      if (readOnly) await tx.exec('set transaction read only')
      const q: TxQuery = { query: (sql, params) => tx.query(sql, params, { serializers: TEXT_SERIALIZERS }) }
      const result = await fn(q)
      const guc = await tx.query<{ headers: string | null; status: string | null }>(GUC_SQL)
      return { result, ...gucResponse(guc.rows[0].headers, guc.rows[0].status) }
    }, identityFor(ctx, r))
  } catch (err) {
    throw fromPgError(err, r.auth.role === 'anon')
  }
}
