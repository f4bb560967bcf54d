// Edge Functions through the gateway: /functions/v1/<name> runs supabase/functions/<name>/handler.ts in Deno
// with Supabase's environment, checks the JWT unless the function sets verify_jwt = false, answers an
// unknown function with 404 JSON, and reloads a function whose source changes.
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ANON_KEY, makeWorkdir, signToken, startTestStack, waitFor, type TestStack } from './helpers/stack.ts'

const ENV_FN = `
export async function handler(req: Request): Promise<Response> {
  const url = new URL(req.url)
  return Response.json({
    path: url.pathname,
    query: url.searchParams.get('q'),
    supabaseUrl: Deno.env.get('SUPABASE_URL'),
    hasServiceKey: (Deno.env.get('SUPABASE_SERVICE_ROLE_KEY') ?? '').length > 20,
    dbUrl: Deno.env.get('SUPABASE_DB_URL'),
    fromDotEnv: Deno.env.get('MY_SETTING') ?? null,
  })
}
`
const PUBLIC_FN = `export const handler = () => new Response('hello, anyone')`
const THROWS_FN = `export function handler(): Response { throw new Error('boom') }`

describe('Edge Functions', () => {
  let stack: TestStack
  let workdir: string
  before(async () => {
    workdir = makeWorkdir({
      functions: { env: ENV_FN, public: PUBLIC_FN, throws: THROWS_FN },
      config: '[functions.public]\nverify_jwt = false',
    })
    writeFileSync(join(workdir, 'supabase', 'functions', '.env'), 'MY_SETTING=from-dotenv\n')
    stack = await startTestStack({ workdir })
  })
  after(() => stack?.close())

  const call = (name: string, headers: Record<string, string> = { authorization: `Bearer ${ANON_KEY}` }) =>
    fetch(`${stack.apiUrl}/functions/v1/${name}`, { headers })

  it("runs a function with Supabase's environment and supabase/functions/.env", async () => {
    const res = await call('env/sub/path?q=1')
    assert.equal(res.status, 200)
    assert.deepEqual(await res.json(), {
      path: '/env/sub/path',
      query: '1',
      supabaseUrl: stack.apiUrl,
      hasServiceKey: true,
      dbUrl: stack.dbUrl,
      fromDotEnv: 'from-dotenv',
    })
  })

  it('accepts a user token, rejects a missing or invalid one with 401', async () => {
    const user = await signToken({ sub: '00000000-0000-0000-0000-0000000000aa' })
    assert.equal((await call('env', { authorization: `Bearer ${user}` })).status, 200)
    const missing = await call('env', {})
    assert.equal(missing.status, 401)
    assert.deepEqual(await missing.json(), { code: 401, message: 'Missing authorization header' })
    const invalid = await call('env', { authorization: 'Bearer not-a-jwt' })
    assert.equal(invalid.status, 401)
    assert.deepEqual(await invalid.json(), { code: 401, message: 'Invalid JWT' })
  })

  it('skips the JWT check for a function with verify_jwt = false', async () => {
    const res = await call('public', {})
    assert.equal(res.status, 200)
    assert.equal(await res.text(), 'hello, anyone')
  })

  it('answers an unknown function with 404 JSON', async () => {
    const res = await call('no-such-function')
    assert.equal(res.status, 404)
    assert.match(res.headers.get('content-type')!, /application\/json/)
    assert.deepEqual(await res.json(), { code: 'NOT_FOUND', message: 'Requested function was not found: no-such-function' })
  })

  it('a function that throws gets 500 JSON and the runtime keeps serving', async () => {
    const res = await call('throws')
    assert.equal(res.status, 500)
    assert.equal((await res.json()).code, 'WORKER_ERROR')
    assert.equal((await call('public', {})).status, 200)
  })

  it('reloads a function when its source changes', async () => {
    writeFileSync(join(workdir, 'supabase', 'functions', 'public', 'handler.ts'), `export const handler = () => new Response('changed')`)
    await waitFor(async () => (await (await call('public', {})).text()) === 'changed', 15_000, 200)
  })
})
