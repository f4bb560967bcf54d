// Signing in as on a hosted project: supabase-js's `auth` client, unmodified, against the stack's GoTrue
// stand-in (/auth/v1). Sign-up, password and anonymous sign-in, refresh-token rotation and reuse detection,
// the user, updates, sign-out scopes and the admin API; users stored as GoTrue keeps them (bcrypt hashes,
// identities, sessions, refresh tokens); GoTrue's claims and error codes; and Realtime that follows the
// session by itself (no realtime.setAuth).
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createClient, isAuthApiError, type SupabaseClient } from '@supabase/supabase-js'
import WebSocket from 'ws'
import { createMemory } from '../client/index.ts'
import { listen, type Change } from './helpers/realtime.ts'
import { ANON_KEY, makeWorkdir, SERVICE_ROLE_KEY, startTestStack, waitFor, type TestStack } from './helpers/stack.ts'

const options = {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  realtime: { transport: WebSocket as never },
}

function claimsOf(token: string): Record<string, any> {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'))
}

async function authFetch(stack: TestStack, path: string, init: RequestInit & { headers?: Record<string, string> } = {}) {
  const res = await fetch(`${stack.apiUrl}/auth/v1${path}`, {
    ...init,
    headers: { apikey: ANON_KEY, 'content-type': 'application/json', ...init.headers },
  })
  const text = await res.text()
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null }
}

describe('Auth (/auth/v1, GoTrue stand-in) with supabase-js', () => {
  let stack: TestStack
  const clients: SupabaseClient[] = []
  const client = () => {
    const c = createClient(stack.apiUrl, ANON_KEY, options)
    clients.push(c)
    return c
  }
  const admin = () => createClient(stack.apiUrl, SERVICE_ROLE_KEY, options).auth.admin

  before(async () => {
    stack = await startTestStack()
  })
  after(async () => {
    for (const c of clients) await c.removeAllChannels()
    await stack?.close()
  })

  it('signUp creates a confirmed user as GoTrue stores it and returns a session (enable_confirmations = false)', async () => {
    const sb = client()
    const { data, error } = await sb.auth.signUp({ email: 'Alice@Example.com', password: 'correct horse', options: { data: { name: 'Alice' } } })
    assert.equal(error, null)
    assert.ok(data.session, 'a session at once: no confirmation email locally')
    const user = data.user!
    assert.equal(user.email, 'alice@example.com', 'emails are stored lower-cased')
    assert.ok(user.email_confirmed_at)
    assert.deepEqual(user.app_metadata, { provider: 'email', providers: ['email'] })
    assert.deepEqual(user.user_metadata, { name: 'Alice' })
    assert.equal(user.identities?.length, 1)
    assert.equal(user.identities![0].provider, 'email')

    const row = (await stack.db.query<{ encrypted_password: string; aud: string; role: string }>(
      'select encrypted_password, aud, role from auth.users where id = $1', [user.id])).rows[0]
    assert.match(row.encrypted_password, /^\$2[ab]\$10\$.{53}$/, 'a bcrypt hash with cost 10')
    assert.deepEqual([row.aud, row.role], ['authenticated', 'authenticated'])
    const sessions = await stack.db.query('select 1 from auth.sessions where user_id = $1', [user.id])
    assert.equal(sessions.rows.length, 1)
    const tokens = await stack.db.query<{ revoked: boolean }>('select revoked from auth.refresh_tokens where user_id = $1', [user.id])
    assert.deepEqual(tokens.rows.map((t) => t.revoked), [false])

    const claims = claimsOf(data.session!.access_token)
    for (const k of ['iss', 'sub', 'aud', 'exp', 'iat', 'email', 'phone', 'app_metadata', 'user_metadata', 'role', 'aal', 'amr', 'session_id', 'is_anonymous']) {
      assert.ok(k in claims, `access token has GoTrue's claim ${k}`)
    }
    assert.equal(claims.sub, user.id)
    assert.equal(claims.role, 'authenticated')
    assert.equal(claims.aud, 'authenticated')
    assert.equal(claims.aal, 'aal1')
    assert.equal(claims.amr[0].method, 'password')
    assert.equal(claims.is_anonymous, false)
    assert.equal(claims.exp - claims.iat, 3600, 'config.toml jwt_expiry')
    assert.equal(data.session!.expires_in, 3600)

    // PostgREST sees the session: the SDK works for the new user with no token handling.
    const thread = await createMemory({ supabase: sb }).createMemoryThread({ name: 'first' })
    assert.equal(thread.owner_id, user.id)
  })

  it('signUp refuses an existing email (422 user_already_exists), a weak password (422 weak_password) and a bad email (400)', async () => {
    const sb = client()
    const dup = await sb.auth.signUp({ email: 'alice@example.com', password: 'another one' })
    assert.ok(isAuthApiError(dup.error))
    assert.equal(dup.error.status, 422)
    assert.equal(dup.error.code, 'user_already_exists')
    const weak = await sb.auth.signUp({ email: 'weak@example.com', password: 'abc' })
    assert.equal(weak.error?.name, 'AuthWeakPasswordError')
    assert.equal(weak.error?.status, 422)
    assert.equal(weak.error?.code, 'weak_password')
    assert.deepEqual((weak.error as unknown as { reasons: string[] }).reasons, ['length'])
    assert.equal(weak.error?.message, 'Password should be at least 6 characters.')
    const bad = await sb.auth.signUp({ email: 'not-an-email', password: 'long enough' })
    assert.equal(bad.error?.status, 400)
    assert.equal(bad.error?.code, 'validation_failed')
    assert.match(bad.error!.message, /invalid format/)
  })

  it('signInWithPassword: the right password gets a session, a wrong one or an unknown email 400 invalid_credentials', async () => {
    const sb = client()
    const wrong = await sb.auth.signInWithPassword({ email: 'alice@example.com', password: 'wrong password' })
    assert.equal(wrong.error?.status, 400)
    assert.equal(wrong.error?.code, 'invalid_credentials')
    assert.equal(wrong.error?.message, 'Invalid login credentials')
    const unknown = await sb.auth.signInWithPassword({ email: 'nobody@example.com', password: 'whatever1' })
    assert.equal(unknown.error?.code, 'invalid_credentials', 'an unknown email looks the same as a wrong password')
    const ok = await sb.auth.signInWithPassword({ email: 'ALICE@example.com', password: 'correct horse' })
    assert.equal(ok.error, null)
    assert.equal(ok.data.user?.email, 'alice@example.com')
    const me = await sb.auth.getUser()
    assert.equal(me.error, null)
    assert.equal(me.data.user?.id, ok.data.user?.id)
    assert.ok(me.data.user?.last_sign_in_at)
  })

  it('signInAnonymously creates an anonymous user (is_anonymous in the user and the token)', async () => {
    const sb = client()
    const { data, error } = await sb.auth.signInAnonymously({ options: { data: { plan: 'trial' } } })
    assert.equal(error, null)
    assert.equal(data.user?.is_anonymous, true)
    assert.equal(data.user?.email, '')
    assert.deepEqual(data.user?.identities, [])
    const claims = claimsOf(data.session!.access_token)
    assert.equal(claims.is_anonymous, true)
    assert.equal(claims.role, 'authenticated')
    assert.equal(claims.amr[0].method, 'anonymous')
    // An anonymous user keeps memory like anyone else, and becomes permanent by setting an email.
    const thread = await createMemory({ supabase: sb }).createMemoryThread({})
    assert.equal(thread.owner_id, data.user?.id)
    const upgraded = await sb.auth.updateUser({ email: 'was-anon@example.com' })
    assert.equal(upgraded.error, null)
    assert.equal(upgraded.data.user?.is_anonymous, false)
    assert.equal(upgraded.data.user?.email, 'was-anon@example.com')
  })

  it('refreshSession rotates the refresh token; the one just used still returns the active token', async () => {
    const sb = client()
    const first = await sb.auth.signInWithPassword({ email: 'alice@example.com', password: 'correct horse' })
    const t1 = first.data.session!.refresh_token
    const r = await sb.auth.refreshSession()
    assert.equal(r.error, null)
    const t2 = r.data.session!.refresh_token
    assert.notEqual(t2, t1)
    assert.equal(claimsOf(r.data.session!.access_token).session_id, claimsOf(first.data.session!.access_token).session_id, 'same session')
    const rows = (await stack.db.query<{ token: string; revoked: boolean; parent: string | null }>(
      'select token, revoked, parent from auth.refresh_tokens where token = any($1) order by id', [[t1, t2]])).rows
    assert.deepEqual(rows, [{ token: t1, revoked: true, parent: null }, { token: t2, revoked: false, parent: t1 }])
    // A client that lost the answer to its last refresh gets the active token again (GoTrue's rule).
    const replay = await client().auth.refreshSession({ refresh_token: t1 })
    assert.equal(replay.error, null)
    assert.equal(replay.data.session?.refresh_token, t2)
    const bogus = await client().auth.refreshSession({ refresh_token: 'not-a-token' })
    assert.equal(bogus.error?.status, 400)
    assert.equal(bogus.error?.code, 'refresh_token_not_found')
  })

  it('signOut: local ends this session, others the rest, global all; the old tokens stop working', async () => {
    const a = client()
    const b = client()
    const c = client()
    for (const sb of [a, b, c]) assert.equal((await sb.auth.signInWithPassword({ email: 'alice@example.com', password: 'correct horse' })).error, null)
    const refreshOf = async (sb: SupabaseClient) => (await sb.auth.getSession()).data.session!.refresh_token
    const [ra, rb, rc] = [await refreshOf(a), await refreshOf(b), await refreshOf(c)]
    const tokenA = (await a.auth.getSession()).data.session!.access_token

    assert.equal((await a.auth.signOut({ scope: 'local' })).error, null)
    assert.equal((await a.auth.getSession()).data.session, null, 'the client forgot its session')
    const gone = await client().auth.refreshSession({ refresh_token: ra })
    assert.equal(gone.error?.code, 'refresh_token_not_found')
    const stale = await a.auth.getUser(tokenA)
    assert.equal(stale.error?.name, 'AuthSessionMissingError', '403 session_not_found for an ended session')
    assert.equal((await b.auth.getUser()).error, null, 'the other sessions are still signed in')

    assert.equal((await b.auth.signOut({ scope: 'others' })).error, null)
    assert.equal((await client().auth.refreshSession({ refresh_token: rc })).error?.code, 'refresh_token_not_found')
    assert.equal((await b.auth.getUser()).error, null, 'b itself stays signed in')

    assert.equal((await b.auth.signOut()).error, null)
    assert.equal((await client().auth.refreshSession({ refresh_token: rb })).error?.code, 'refresh_token_not_found')
  })

  it('updateUser changes user_metadata and the password (the old password stops working)', async () => {
    const sb = client()
    await sb.auth.signUp({ email: 'dave@example.com', password: 'first password' })
    const meta = await sb.auth.updateUser({ data: { theme: 'dark' } })
    assert.deepEqual(meta.data.user?.user_metadata, { theme: 'dark' })
    const same = await sb.auth.updateUser({ password: 'first password' })
    assert.equal(same.error?.code, 'same_password')
    assert.equal((await sb.auth.updateUser({ password: 'second password' })).error, null)
    assert.equal((await client().auth.signInWithPassword({ email: 'dave@example.com', password: 'first password' })).error?.code, 'invalid_credentials')
    assert.equal((await client().auth.signInWithPassword({ email: 'dave@example.com', password: 'second password' })).error, null)
  })

  it('auth.admin with the service key: createUser, listUsers, getUserById, updateUserById, deleteUser', async () => {
    const created = await admin().createUser({ email: 'erin@example.com', password: 'erin password', email_confirm: true, user_metadata: { team: 'a' } })
    assert.equal(created.error, null)
    const id = created.data.user!.id
    assert.ok(created.data.user?.email_confirmed_at)
    assert.equal((await client().auth.signInWithPassword({ email: 'erin@example.com', password: 'erin password' })).error, null)

    const dup = await admin().createUser({ email: 'erin@example.com', password: 'erin password' })
    assert.equal(dup.error?.status, 422)
    assert.equal(dup.error?.code, 'email_exists')

    const unconfirmed = await admin().createUser({ email: 'frank@example.com', password: 'frank password' })
    assert.equal(unconfirmed.data.user?.email_confirmed_at, undefined)
    const blocked = await client().auth.signInWithPassword({ email: 'frank@example.com', password: 'frank password' })
    assert.equal(blocked.error?.code, 'email_not_confirmed')

    const list = await admin().listUsers({ page: 1, perPage: 2 })
    assert.equal(list.error, null)
    assert.equal(list.data.users.length, 2)
    const total = (await stack.db.query<{ n: number }>('select count(*)::int as n from auth.users')).rows[0].n
    assert.equal((list.data as unknown as { total: number }).total, total)
    assert.equal((list.data as unknown as { nextPage: number }).nextPage, 2)

    assert.equal((await admin().getUserById(id)).data.user?.email, 'erin@example.com')
    const updated = await admin().updateUserById(id, { user_metadata: { team: 'b' }, app_metadata: { plan: 'pro' } })
    assert.deepEqual(updated.data.user?.user_metadata, { team: 'b' })
    assert.equal(updated.data.user?.app_metadata.plan, 'pro')

    assert.equal((await admin().deleteUser(id)).error, null)
    const missing = await admin().getUserById(id)
    assert.equal(missing.error?.status, 404)
    assert.equal(missing.error?.code, 'user_not_found')
    assert.equal((await stack.db.query('select 1 from auth.identities where user_id = $1', [id])).rows.length, 0, 'identities go with the user')
  })

  it('the admin API refuses the anon key and user tokens (403 not_admin) and requests without a token (401)', async () => {
    const anon = await createClient(stack.apiUrl, ANON_KEY, options).auth.admin.listUsers()
    assert.equal(anon.error?.status, 403)
    assert.equal(anon.error?.code, 'not_admin')
    const sb = client()
    const session = (await sb.auth.signInWithPassword({ email: 'alice@example.com', password: 'correct horse' })).data.session!
    const asUser = await authFetch(stack, '/admin/users', { headers: { authorization: `Bearer ${session.access_token}`, 'x-supabase-api-version': '2024-01-01' } })
    assert.equal(asUser.status, 403)
    assert.deepEqual(Object.keys(asUser.body).sort(), ['code', 'message'])
    assert.equal(asUser.body.code, 'not_admin')
    const none = await authFetch(stack, '/admin/users')
    assert.equal(none.status, 401)
    assert.equal(none.body.error_code, 'no_authorization')
  })

  it("answers in GoTrue's two error shapes: { code, message } for API version 2024-01-01, { code, error_code, msg } before", async () => {
    const body = JSON.stringify({ email: 'alice@example.com', password: 'wrong password' })
    const dated = await authFetch(stack, '/token?grant_type=password', { method: 'POST', body, headers: { 'x-supabase-api-version': '2024-01-01' } })
    assert.equal(dated.status, 400)
    assert.equal(dated.headers.get('x-supabase-api-version'), '2024-01-01')
    assert.deepEqual(dated.body, { code: 'invalid_credentials', message: 'Invalid login credentials' })
    const initial = await authFetch(stack, '/token?grant_type=password', { method: 'POST', body })
    assert.deepEqual(initial.body, { code: 400, error_code: 'invalid_credentials', msg: 'Invalid login credentials' })
    const noKey = await fetch(`${stack.apiUrl}/auth/v1/settings`)
    assert.equal(noKey.status, 401, 'like Kong, every Auth route but the JWKS needs an apikey')
    assert.equal((await noKey.json()).message, 'No API key found in request')
    const unsupported = await authFetch(stack, '/otp', { method: 'POST', body: '{}' })
    assert.equal(unsupported.status, 404)
    assert.match(unsupported.body.msg, /not supported: the local stack's Auth stand-in covers/)
    const badJwt = await authFetch(stack, '/user', { headers: { authorization: 'Bearer not.a.jwt' } })
    assert.equal(badJwt.status, 403)
    assert.equal(badJwt.body.error_code, 'bad_jwt')
  })

  it("Realtime follows the session: a signed-in client receives its thread's events without setAuth; another user's client does not", async () => {
    const alice = client()
    assert.equal((await alice.auth.signInWithPassword({ email: 'alice@example.com', password: 'correct horse' })).error, null)
    const bob = client()
    assert.equal((await bob.auth.signUp({ email: 'bob@example.com', password: 'bob password' })).error, null)
    const memory = createMemory({ supabase: alice })
    const thread = await memory.createMemoryThread({ name: 'realtime' })
    const aliceSees: Change[] = []
    const bobSees: Change[] = []
    await listen(alice, 'alice-thread', { event: 'INSERT', schema: 'public', table: 'messages', filter: `thread_id=eq.${thread.id}` }, aliceSees)
    await listen(bob, 'bob-all', { event: '*', schema: 'public', table: 'messages' }, bobSees)
    await memory.saveMessages(thread.id, [{ role: 'user', content: 'hello over realtime' }])
    await waitFor(() => aliceSees.length >= 1, 5000)
    assert.equal(aliceSees[0].new.content, 'hello over realtime')
    await new Promise((r) => setTimeout(r, 500))
    assert.deepEqual(bobSees, [], "Bob's client receives none of Alice's messages")
  })
})

describe('Auth settings from config.toml', () => {
  let stack: TestStack
  before(async () => {
    // Anonymous sign-ins off and no refresh token reuse window, so a reuse is detected at once.
    const workdir = makeWorkdir()
    const file = join(workdir, 'supabase', 'config.toml')
    writeFileSync(
      file,
      readFileSync(file, 'utf8')
        .replace(/^enable_anonymous_sign_ins = true$/m, 'enable_anonymous_sign_ins = false')
        .replace(/^refresh_token_reuse_interval = 10$/m, 'refresh_token_reuse_interval = 0'),
    )
    stack = await startTestStack({ workdir })
  })
  after(() => stack?.close())

  it('enable_anonymous_sign_ins = false: 422 anonymous_provider_disabled', async () => {
    const { error } = await createClient(stack.apiUrl, ANON_KEY, options).auth.signInAnonymously()
    assert.equal(error?.status, 422)
    assert.equal(error?.code, 'anonymous_provider_disabled')
  })

  it('reusing a refresh token two rotations back revokes the whole session (400 refresh_token_already_used)', async () => {
    const sb = createClient(stack.apiUrl, ANON_KEY, options)
    const t1 = (await sb.auth.signUp({ email: 'grace@example.com', password: 'grace password' })).data.session!.refresh_token
    const t2 = (await sb.auth.refreshSession()).data.session!.refresh_token
    const t3 = (await sb.auth.refreshSession()).data.session!.refresh_token
    assert.ok(t1 && t2 && t3 && new Set([t1, t2, t3]).size === 3)
    await new Promise((r) => setTimeout(r, 20))
    const reuse = await createClient(stack.apiUrl, ANON_KEY, options).auth.refreshSession({ refresh_token: t1 })
    assert.equal(reuse.error?.status, 400)
    assert.equal(reuse.error?.code, 'refresh_token_already_used')
    await new Promise((r) => setTimeout(r, 20))
    const after = await createClient(stack.apiUrl, ANON_KEY, options).auth.refreshSession({ refresh_token: t3 })
    assert.equal(after.error?.code, 'refresh_token_already_used', 'the active token of that session was revoked with its family')
  })
})
