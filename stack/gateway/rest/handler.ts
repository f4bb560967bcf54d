// PostgREST-compatible /rest/v1 (first cut: RPC with named JSON arguments). Extended in the client API
// surface work.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { PgError, quoteIdent } from '../../db.ts'
import { ApiError, readBody, sendJson } from '../http.ts'
import type { GatewayContext } from '../server.ts'

export async function handleRest(ctx: GatewayContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const auth = await ctx.auth.authenticate(req, url)
  const m = /^\/rest\/v1\/rpc\/([^/]+)$/.exec(url.pathname)
  if (!m || req.method !== 'POST') throw new ApiError(404, 'PGRST125', `Invalid path ${url.pathname}`)
  const fn = decodeURIComponent(m[1])
  const body = await readBody(req, ctx.config.api.maxBodyBytes)
  let args: Record<string, unknown> = {}
  if (body.length) {
    try {
      args = JSON.parse(body.toString('utf8'))
    } catch (err) {
      throw new ApiError(400, 'PGRST102', `Invalid JSON body: ${(err as Error).message}`)
    }
  }
  const names = Object.keys(args)
  const sql = `select to_jsonb(r) as r from public.${quoteIdent(fn)}(${names.map((n, i) => `${quoteIdent(n)} => $${i + 1}`).join(', ')}) r`
  try {
    const result = await ctx.db.query<{ r: unknown }>(sql, names.map((n) => args[n]), {
      role: auth.role,
      claims: auth.claims,
      settings: { search_path: ctx.config.api.extraSearchPath.join(', ') },
    })
    const rows = result.rows.map((x) => x.r)
    sendJson(res, 200, rows.length === 1 ? rows[0] : rows)
  } catch (err) {
    const e = PgError.from(err)
    throw new ApiError(e.code === '42501' ? 403 : 400, e.code, e.message, e.detail ?? null, e.hint ?? null)
  }
}
