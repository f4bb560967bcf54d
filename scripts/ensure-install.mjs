#!/usr/bin/env node
// Runs before `npm start` and `npm test` so that either works as the first command on a fresh clone:
// installs dependencies when node_modules is missing or older than package-lock.json.
// Plain JavaScript on purpose: it must run before any dependency (tsx, TypeScript) is installed.
// `npm ci`: installs exactly what package-lock.json records and never rewrites it, so the first command
// on a clean clone leaves `git status` clean. The lock lists every platform's optional binaries (deno,
// esbuild, the Supabase CLI), which `npm ci` requires; regenerate it with `npm install` after changing
// package.json and commit both. `allowScripts` in package.json approves the two postinstall scripts
// (deno, esbuild) that link their platform binaries.
import { spawnSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const lock = join(root, 'package-lock.json')
const installed = join(root, 'node_modules', '.package-lock.json')

const stale = !existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs
if (stale) {
  console.log('[setup] installing dependencies (npm ci from package-lock.json)…')
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) {
    console.error(`[setup] npm ci failed with exit code ${r.status}`)
    process.exit(r.status ?? 1)
  }
}
