// A clean clone as a new user gets it: the first `npm start` installs the locked dependencies with `npm ci`
// (no lockfile rewrite, no engine warnings on Node 20, no unapproved install scripts), the tree stays
// clean (`git status --porcelain` prints nothing), and SIGTERM to the npm process frees both ports within
// 5 s. The clone is of this checkout's HEAD: commit before running it.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { ROOT } from '../stack/core/config.ts'
import { listening, spawnNpmStart, waitFor } from './helpers/stack.ts'

const run = promisify(execFile)

describe('a clean clone', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agent-memory-clone-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('npm start installs with npm ci, leaves git status empty, and SIGTERM to npm frees the ports within 5 s', { timeout: 600_000 }, async () => {
    const clone = join(dir, 'p')
    await run('git', ['clone', '--quiet', ROOT, clone])
    const s = spawnNpmStart(['--api-port', '0', '--db-port', '0'], {}, clone)
    const ready = await s.ready
    try {
      const out = s.output()
      assert.match(out, /\[setup\] installing dependencies \(npm ci from package-lock\.json\)/)
      assert.doesNotMatch(out, /EBADENGINE/, 'no engine warnings on this Node')
      assert.doesNotMatch(out, /install-scripts/, 'install scripts are approved in package.json (allowScripts)')
      const { stdout } = await run('git', ['status', '--porcelain'], { cwd: clone })
      assert.equal(stdout, '', 'the first npm start changes nothing git tracks (package-lock.json included)')
    } finally {
      const api = Number(new URL(ready.apiUrl).port)
      const db = Number(new URL(ready.dbUrl).port)
      s.signalNpm('SIGTERM')
      await waitFor(async () => !(await listening(api)) && !(await listening(db)), 5000, 50).catch((err) => {
        s.signal('SIGKILL')
        throw new Error(`ports ${api}/${db} still open 5 s after SIGTERM to npm (${err.message}); output:\n${s.output().slice(-3000)}`)
      })
      await s.exited
    }
  })
})
