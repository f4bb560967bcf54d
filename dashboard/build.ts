// Builds the dashboard into a directory of static files (index.html, app.js, app.css) with esbuild: one ES
// module bundling supabase-js and Vega-Lite for the browser. The local stack builds it on the first request
// to /dashboard/ (stack/dashboard/static.ts); `npm run dashboard` builds dashboard/dist for any static host.
import { copyFileSync, mkdirSync, readdirSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { build } from 'esbuild'

export const DASHBOARD_DIR = resolve(import.meta.dirname)

/** Newest modification time of the dashboard's sources, to tell whether a build is stale. */
export function sourcesModifiedAt(): number {
  const files = [join(DASHBOARD_DIR, 'index.html'), ...readdirSync(join(DASHBOARD_DIR, 'src')).map((f) => join(DASHBOARD_DIR, 'src', f))]
  return Math.max(...files.map((f) => statSync(f).mtimeMs))
}

export async function buildDashboard(outDir: string): Promise<{ outDir: string; bytes: number }> {
  mkdirSync(outDir, { recursive: true })
  const result = await build({
    entryPoints: { app: join(DASHBOARD_DIR, 'src', 'main.ts') },
    outdir: outDir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    legalComments: 'linked',
    metafile: true,
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' },
  })
  copyFileSync(join(DASHBOARD_DIR, 'index.html'), join(outDir, 'index.html'))
  const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0)
  return { outDir, bytes }
}
