#!/usr/bin/env node
// Runs before `npm start` and `npm test` so that either works as the first command on a fresh clone:
// installs dependencies when node_modules is missing or older than package-lock.json.
// Plain JavaScript on purpose: it must run before any dependency (tsx, TypeScript) is installed.
// `npm install` rather than `npm ci`: deno, supabase and esbuild ship their binaries as optional
// per-platform packages, and a lockfile written where only this platform's packages are reachable lacks
// the others, which `npm ci` rejects. `npm install` installs exactly the locked versions all the same.
import { spawnSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const lock = join(root, 'package-lock.json')
const installed = join(root, 'node_modules', '.package-lock.json')

const stale = !existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs
if (stale) {
  console.log('[setup] installing dependencies (npm install from package-lock.json)…')
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) {
    console.error(`[setup] npm install failed with exit code ${r.status}`)
    process.exit(r.status ?? 1)
  }
}
