// `npm run token`: a user's access token for curl, scripts and psql, from a running stack — the user is
// created when missing; without --password the token is signed with the local JWT secret (GoTrue's
// claims, no session), with --password it comes from a real sign-in. The token is the only stdout.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import pg from 'pg'
import { ROOT } from '../stack/core/config.ts'
import { ANON_KEY, startTestStack, type TestStack } from './helpers/stack.ts'

const run = promisify(execFile)

describe('npm run token', () => {
  let stack: TestStack
  before(async () => {
    stack = await startTestStack()
  })
  after(() => stack?.close())

  const token = (...args: string[]) =>
    run(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, 'scripts', 'token.ts'), '--api-url', stack.apiUrl, ...args], { cwd: ROOT })

  async function rpc(jwt: string, fn: string, body: unknown = {}): Promise<{ status: number; body: any }> {
    const res = await fetch(`${stack.apiUrl}/rest/v1/rpc/${fn}`, {
      method: 'POST',
      headers: { apikey: ANON_KEY, authorization: `Bearer ${jwt}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    return { status: res.status, body: await res.json() }
  }

  it('creates a missing user and prints only a token that PostgREST accepts as that user', async () => {
    const { stdout, stderr } = await token('--email', 'Script@Example.com')
    const jwt = stdout.trim()
    assert.match(jwt, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'stdout is the token alone')
    assert.match(stderr, /created script@example\.com \(id [0-9a-f-]{36}\); token signed with the local JWT secret/)
    const claims = JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString())
    assert.equal(claims.email, 'script@example.com')
    assert.equal(claims.role, 'authenticated')
    assert.equal(claims.exp - claims.iat, 3600)
    const thread = await rpc(jwt, 'create_thread', { name: 'from curl' })
    assert.equal(thread.status, 200)
    assert.equal(thread.body.owner_id, claims.sub)
    const again = await token('--email', 'script@example.com', '--expires-in', '2h')
    assert.match(again.stderr, /found script@example\.com/)
    const c2 = JSON.parse(Buffer.from(again.stdout.trim().split('.')[1], 'base64url').toString())
    assert.equal(c2.sub, claims.sub)
    assert.equal(c2.exp - c2.iat, 7200)
  })

  it('works for the seed\'s demo user, who has no password', async () => {
    const { stdout } = await token('--email', 'demo@agent-memory.local')
    const threads = await rpc(stdout.trim(), 'list_threads')
    assert.equal(threads.status, 200)
    assert.ok(threads.body.threads.length >= 1, 'the demo thread')
  })

  it('--password signs in through /auth/v1 (a session with a refresh token); --json prints it', async () => {
    const { stdout, stderr } = await token('--email', 'pw@example.com', '--password', 'a good password', '--json')
    assert.match(stderr, /signed in through \/auth\/v1/)
    const out = JSON.parse(stdout)
    assert.ok(out.refresh_token)
    assert.ok(JSON.parse(Buffer.from(out.access_token.split('.')[1], 'base64url').toString()).session_id)
    await assert.rejects(token('--email', 'pw@example.com', '--password', 'the wrong one'), /signing in as pw@example\.com failed: Invalid login credentials/)
  })

  it('--psql prints the set_config calls that run a psql transaction as the user', async () => {
    const { stdout } = await token('--email', 'script@example.com', '--psql')
    const statement = stdout.split('\n').find((l) => l.startsWith('select set_config'))!
    const client = new pg.Client({ connectionString: stack.dbUrl })
    await client.connect()
    try {
      await client.query('begin')
      await client.query(statement)
      const { rows } = await client.query(`select current_user as role, auth.email() as email`)
      assert.deepEqual(rows[0], { role: 'authenticated', email: 'script@example.com' })
      await client.query('rollback')
    } finally {
      await client.end()
    }
  })

  it('says so when no stack is running', async () => {
    await assert.rejects(
      run(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, 'scripts', 'token.ts'), '--api-url', 'http://127.0.0.1:9', '--email', 'x@example.com'], { cwd: ROOT }),
      /no stack answers at http:\/\/127\.0\.0\.1:9: start it with npm start/,
    )
  })
})
