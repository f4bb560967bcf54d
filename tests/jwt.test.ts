// JWT → database role, as PostgREST does it: the anon key, a user's token and the service key reach the
// database as anon, authenticated (auth.uid() = sub) and service_role; tampered, expired or missing tokens
// get 401 with PostgREST's codes, error JSON and WWW-Authenticate header, and a message saying what is wrong.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { ANON_KEY, anonClient, createUser, SERVICE_ROLE_KEY, serviceClient, signToken, startTestStack, type TestStack } from './helpers/stack.ts'

describe('JWT to database role', () => {
  let stack: TestStack
  before(async () => {
    stack = await startTestStack()
    await stack.db.exec(`
      create function public.whoami() returns jsonb language sql stable security invoker
      as $$ select jsonb_build_object('role', current_user, 'uid', auth.uid(), 'claims_role', auth.role()) $$;`)
  })
  after(() => stack?.close())

  it('the anon key runs as anon with no user', async () => {
    const { data, error } = await anonClient(stack).rpc('whoami')
    assert.equal(error, null)
    assert.deepEqual(data, { role: 'anon', uid: null, claims_role: 'anon' })
  })

  it("a user's token runs as authenticated with auth.uid() = sub", async () => {
    const user = await createUser(stack, 'alice')
    const { data, error } = await user.client.rpc('whoami')
    assert.equal(error, null)
    assert.deepEqual(data, { role: 'authenticated', uid: user.id, claims_role: 'authenticated' })
  })

  it('the service key runs as service_role', async () => {
    const { data, error } = await serviceClient(stack).rpc('whoami')
    assert.equal(error, null)
    assert.equal((data as { role: string }).role, 'service_role')
  })

  async function call(headers: Record<string, string>): Promise<{ status: number; body: any; authenticate: string | null }> {
    const res = await fetch(`${stack.apiUrl}/rest/v1/rpc/whoami`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{}' })
    return { status: res.status, body: await res.json(), authenticate: res.headers.get('www-authenticate') }
  }

  it('a tampered token gets 401 with a PostgREST error body', async () => {
    const token = await signToken({ sub: '00000000-0000-0000-0000-000000000001' })
    const [h, p, s] = token.split('.')
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString())
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, role: 'service_role' })).toString('base64url')}.${s}`
    const r = await call({ apikey: ANON_KEY, authorization: `Bearer ${forged}` })
    assert.equal(r.status, 401)
    assert.deepEqual(Object.keys(r.body).sort(), ['code', 'details', 'hint', 'message'])
    assert.equal(r.body.code, 'PGRST301')
    assert.equal(r.body.message, "JWT signature does not match the project's JWT secret (is the key from another project?)")
    assert.equal(r.authenticate, `Bearer error="invalid_token", error_description="${r.body.message}"`)
  })

  it('a token signed with another secret gets 401 naming the secret', async () => {
    const token = await signToken({ sub: '00000000-0000-0000-0000-000000000001' }, { secret: 'x'.repeat(40) })
    const r = await call({ apikey: ANON_KEY, authorization: `Bearer ${token}` })
    assert.equal(r.status, 401)
    assert.equal(r.body.code, 'PGRST301')
    assert.match(r.body.message, /^JWT signature does not match the project's JWT secret \(is the key from another project\?\)$/)
    assert.match(r.body.hint, /npm run token/)
    const asKey = await call({ apikey: token })
    assert.equal(asKey.status, 401)
    assert.match(asKey.body.message, /^Invalid API key: JWT signature does not match/)
  })

  it('an expired token gets 401 PGRST303 saying when it expired', async () => {
    const token = await signToken({ sub: '00000000-0000-0000-0000-000000000001' }, { expiresIn: Math.floor(Date.now() / 1000) - 60 })
    const r = await call({ apikey: ANON_KEY, authorization: `Bearer ${token}` })
    assert.equal(r.status, 401)
    assert.equal(r.body.code, 'PGRST303')
    assert.match(r.body.message, /^JWT expired (59|60|61) seconds ago \(exp \d{4}-\d\d-\d\dT[\d:.]+Z\): refresh the session or sign in again$/)
    assert.match(r.authenticate ?? '', /^Bearer error="invalid_token", error_description="JWT expired/)
  })

  it('a token that is not a JWT, or not HS256, gets 401 PGRST301 saying so', async () => {
    const garbage = await call({ apikey: ANON_KEY, authorization: 'Bearer not-a-jwt' })
    assert.equal(garbage.body.code, 'PGRST301')
    assert.match(garbage.body.message, /^JWT is malformed: expected three base64url parts/)
    const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT' })).toString('base64url')
    const payload = Buffer.from(JSON.stringify({ role: 'anon' })).toString('base64url')
    const rs = await call({ apikey: ANON_KEY, authorization: `Bearer ${header}.${payload}.c2ln` })
    assert.equal(rs.body.code, 'PGRST301')
    assert.equal(rs.body.message, 'JWT is signed with RS256; this project accepts HS256 tokens signed with its JWT secret')
  })

  it('a request without any key gets 401', async () => {
    const r = await call({})
    assert.equal(r.status, 401)
    assert.equal(typeof r.body.message, 'string')
    assert.ok(r.body.hint)
  })

  it('the service key is also accepted as the apikey header alone', async () => {
    const r = await call({ apikey: SERVICE_ROLE_KEY })
    assert.equal(r.status, 200)
    assert.equal(r.body.role, 'service_role')
  })
})
