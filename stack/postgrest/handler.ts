// PostgREST-compatible /rest/v1: authenticates the request (JWT → role), reads what every request carries
// (schema profile, Prefer, Accept, Range) and routes it — /rpc/<fn> to rpc.ts, /<table> to tables.ts, and
// anything else to PGRST125.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { GatewayContext } from '../core/context.ts'
import { decodePathSegment } from '../core/http.ts'
import { invalidPath, parseError } from './errors.ts'
import { parseRequest } from './request.ts'
import { callRpc } from './rpc.ts'
import { handleTable } from './tables.ts'

export async function handleRest(ctx: GatewayContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const auth = await ctx.auth.authenticate(req, url)
  const r = await parseRequest(ctx, req, url, auth)
  const rpc = /^\/rest\/v1\/rpc\/([^/]+)\/?$/.exec(url.pathname)
  if (rpc) return callRpc(ctx, r, res, decodePathSegment(rpc[1], (m) => parseError(m, 'Percent-encode the name as UTF-8, e.g. %C3%A9 for é')))
  const table = /^\/rest\/v1\/([^/]+)\/?$/.exec(url.pathname)
  if (table && table[1] !== 'rpc') return handleTable(ctx, r, res, decodePathSegment(table[1], (m) => parseError(m, 'Percent-encode the name as UTF-8, e.g. %C3%A9 for é')))
  throw invalidPath()
}
