// `npm run token -- --email you@example.com`: an access token of a user of the running local stack, for
// curl, scripts and psql — creating the user (email confirmed) when it does not exist yet.
//   --password PW     sign in with this password through /auth/v1 (a real session with a refresh token);
//                     a user created now gets this password
//   (no --password)   sign the token here with the stack's JWT secret, as Auth would (GoTrue's claims,
//                     no session_id: signing out does not apply to it); works for users without a password
//                     such as the seed's demo@agent-memory.local
//   --expires-in D    lifetime of a token signed here: 3600, 90m, 12h, 7d (default 1h)
//   --json            print { access_token, refresh_token?, user_id, email, expires_at } instead
//   --psql            print the two set_config calls that make a psql transaction run as the user
//   --api-url URL     the stack (default: $SUPABASE_URL, then .data/stack.json, then http://127.0.0.1:54321)
// The token alone goes to stdout, so `TOKEN=$(npm run -s token -- --email you@example.com)` works; what
// happened goes to stderr. The service key and JWT secret are the well-known local ones (override with
// SUPABASE_SERVICE_ROLE_KEY / SUPABASE_JWT_SECRET).
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createClient, type User } from '@supabase/supabase-js'
import WebSocket from 'ws'
import { ROOT } from '../stack/core/config.ts'
import { signAccessToken } from '../stack/core/jwt.ts'
import { LOCAL_ANON_KEY, LOCAL_JWT_SECRET, LOCAL_SERVICE_ROLE_KEY } from '../stack/core/keys.ts'

function fail(message: string): never {
  console.error(`token: ${message}`)
  process.exit(1)
}

/** Seconds in "3600", "90s", "90m", "12h", "7d". */
export function parseDuration(text: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(text.trim())
  if (!m || Number(m[1]) <= 0) fail(`--expires-in "${text}" is not a duration such as 3600, 90m, 12h or 7d`)
  return Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd']
}

function defaultApiUrl(): string {
  if (process.env.SUPABASE_URL) return process.env.SUPABASE_URL
  const info = join(ROOT, '.data', 'stack.json')
  if (existsSync(info)) {
    try {
      return (JSON.parse(readFileSync(info, 'utf8')) as { apiUrl: string }).apiUrl
    } catch {
      // fall through to the default port
    }
  }
  return 'http://127.0.0.1:54321'
}

const { values } = parseArgs({
  options: {
    email: { type: 'string' },
    password: { type: 'string' },
    'expires-in': { type: 'string', default: '1h' },
    json: { type: 'boolean', default: false },
    psql: { type: 'boolean', default: false },
    'api-url': { type: 'string' },
  },
  strict: true,
})
if (!values.email) fail('--email is required, e.g. npm run token -- --email you@example.com')
const email = values.email.trim().toLowerCase()
const apiUrl = (values['api-url'] ?? defaultApiUrl()).replace(/\/+$/, '')
const expiresIn = parseDuration(values['expires-in']!)
const serviceKey = process.env.SUPABASE_SERVICE_ROLE_KEY ?? LOCAL_SERVICE_ROLE_KEY
const jwtSecret = process.env.SUPABASE_JWT_SECRET ?? LOCAL_JWT_SECRET
const options = { auth: { persistSession: false, autoRefreshToken: false }, realtime: { transport: WebSocket as never } }

try {
  await fetch(`${apiUrl}/health`)
} catch {
  fail(`no stack answers at ${apiUrl}: start it with npm start (or pass --api-url)`)
}

const admin = createClient(apiUrl, serviceKey, options).auth.admin

/** The user with this email, walking the admin API's pages. */
async function findUser(): Promise<User | null> {
  for (let page = 1; ; page++) {
    const { data, error } = await admin.listUsers({ page, perPage: 1000 })
    if (error) fail(`listing users failed: ${error.message}`)
    const found = data.users.find((u) => u.email === email)
    if (found) return found
    if (data.users.length < 1000) return null
  }
}

let user = await findUser()
let created = false
if (!user) {
  const { data, error } = await admin.createUser({ email, password: values.password, email_confirm: true })
  if (error || !data.user) fail(`could not create ${email}: ${error?.message}`)
  user = data.user
  created = true
}

let accessToken: string
let refreshToken: string | undefined
let expiresAt: number
if (values.password !== undefined) {
  const { data, error } = await createClient(apiUrl, LOCAL_ANON_KEY, options).auth.signInWithPassword({ email, password: values.password })
  if (error || !data.session) {
    fail(`signing in as ${email} failed: ${error?.message}${user.identities?.length ? '' : ' (the user has no password: leave out --password)'}`)
  }
  accessToken = data.session.access_token
  refreshToken = data.session.refresh_token
  expiresAt = data.session.expires_at ?? Math.floor(Date.now() / 1000) + data.session.expires_in
} else {
  expiresAt = Math.floor(Date.now() / 1000) + expiresIn
  accessToken = await signAccessToken(
    {
      iss: `${apiUrl}/auth/v1`,
      sub: user.id,
      aud: user.aud,
      role: user.role ?? 'authenticated',
      email: user.email ?? '',
      phone: user.phone ?? '',
      app_metadata: user.app_metadata,
      user_metadata: user.user_metadata,
      aal: 'aal1',
      is_anonymous: user.is_anonymous === true,
    },
    { expiresIn: expiresAt, secret: jwtSecret },
  )
}

const until = new Date(expiresAt * 1000).toISOString()
console.error(
  `token: ${created ? 'created' : 'found'} ${email} (id ${user.id}); ` +
    `${values.password !== undefined ? 'signed in through /auth/v1' : 'token signed with the local JWT secret'}, valid until ${until}`,
)
if (values.json) {
  console.log(JSON.stringify({ access_token: accessToken, refresh_token: refreshToken, user_id: user.id, email, expires_at: expiresAt }, null, 2))
} else if (values.psql) {
  const claims = JSON.parse(Buffer.from(accessToken.split('.')[1], 'base64url').toString('utf8')) as Record<string, unknown>
  const literal = (s: string) => `'${s.replace(/'/g, "''")}'`
  console.log(`-- inside a transaction (begin; … commit;), as the API gateway does for ${email}:`)
  console.log(`select set_config('role', 'authenticated', true), set_config('request.jwt.claims', ${literal(JSON.stringify(claims))}, true);`)
} else {
  console.log(accessToken)
}
process.exit(0)
