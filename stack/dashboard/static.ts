// Serves the ops dashboard (dashboard/) at /dashboard/ on the API port — not a hosted service (on hosted
// Supabase the page lives on any static host and is pointed at the project). The bundle is built with
// esbuild on the first request into <data dir>/dashboard, and again when a source file changed since.
import { existsSync, readFileSync, statSync } from 'node:fs'
import type { ServerResponse } from 'node:http'
import { extname, join, normalize } from 'node:path'
import type { GatewayContext } from '../core/context.ts'
import { ApiError } from '../core/http.ts'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json',
}

let building: Promise<void> | null = null
let builtAt = 0

async function ensureBuilt(outDir: string): Promise<void> {
  // Loaded on first use, so a stack that never serves the page never loads esbuild.
  const { buildDashboard, sourcesModifiedAt } = await import('../../dashboard/build.ts')
  if (builtAt && existsSync(join(outDir, 'app.js')) && sourcesModifiedAt() <= builtAt) return
  building ??= (async () => {
    const started = Date.now()
    await buildDashboard(outDir)
    builtAt = started
  })().finally(() => (building = null))
  await building
}

export async function serveDashboard(ctx: GatewayContext, res: ServerResponse, url: URL): Promise<void> {
  if (url.pathname === '/dashboard') {
    res.writeHead(308, { location: '/dashboard/' + url.search })
    res.end()
    return
  }
  const outDir = join(ctx.config.dataDir, 'dashboard')
  try {
    await ensureBuilt(outDir)
  } catch (err) {
    throw new ApiError(500, 'DASHBOARD_BUILD_FAILED', `the dashboard could not be built: ${(err as Error).message}`)
  }
  const rel = normalize(decodeURIComponent(url.pathname.slice('/dashboard/'.length)) || 'index.html')
  if (rel.startsWith('..') || rel.includes('\0')) throw new ApiError(404, 'NOT_FOUND', 'no such file')
  const file = join(outDir, rel)
  if (!existsSync(file) || !statSync(file).isFile()) throw new ApiError(404, 'NOT_FOUND', `no such file: /dashboard/${rel}`)
  const body = readFileSync(file)
  res.writeHead(200, {
    'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
    'content-length': String(body.length),
    'cache-control': 'no-cache',
  })
  res.end(body)
}
