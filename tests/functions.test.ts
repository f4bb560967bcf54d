// Edge Functions through the gateway: /functions/v1/<name> runs supabase/functions/<name>/ in Deno as it is
// deployed — through its index.ts (`Deno.serve(handler)`) — with Supabase's environment, checks the JWT
// unless the function sets verify_jwt = false, answers an unknown function with 404 JSON, a function that
// cannot start with 503 BOOT_ERROR and a log line, and reloads a function whose source changes.
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
// Served only if index.ts runs: the handler module exports nothing the old loader would have used.
const INDEX_ONLY = { 'index.ts': `Deno.serve(() => new Response('served by index.ts'))\n` }
const BROKEN_INDEX = { 'index.ts': `import { handler } from './handler.ts'\nthrow new Error('index exploded on import')\nDeno.serve(handler)\n`, 'handler.ts': `export const handler = () => new Response('never')` }
const NO_SERVE = { 'index.ts': `export const nothing = 1\n` }

describe('Edge Functions', () => {
  let stack: TestStack
  let workdir: string
  before(async () => {
    workdir = makeWorkdir({
      functions: { env: ENV_FN, public: PUBLIC_FN, throws: THROWS_FN, 'index-only': INDEX_ONLY, broken: BROKEN_INDEX, 'no-serve': NO_SERVE },
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

  it('loads a function through its index.ts, as it is deployed', async () => {
    const res = await call('index-only')
    assert.equal(res.status, 200)
    assert.equal(await res.text(), 'served by index.ts')
  })

  it('a function whose index.ts throws while loading answers 503 BOOT_ERROR and is logged; others keep working', async () => {
    const res = await call('broken')
    assert.equal(res.status, 503)
    assert.deepEqual(await res.json(), { code: 'BOOT_ERROR', message: "Function broken failed to start: its index.ts threw while loading (see the stack's log)" })
    await waitFor(() => stack.logs.some((l) => l.includes('[broken] boot error') && l.includes('index exploded on import')), 5000)
    const silent = await call('no-serve')
    assert.equal(silent.status, 503)
    assert.match((await silent.json()).message, /did not call Deno\.serve\(handler\)/)
    assert.equal((await call('public', {})).status, 200)
  })

  it('reloads a function when its source changes', async () => {
    writeFileSync(join(workdir, 'supabase', 'functions', 'public', 'handler.ts'), `export const handler = () => new Response('changed')`)
    await waitFor(async () => (await (await call('public', {})).text()) === 'changed', 15_000, 200)
  })
})
