// /auth/v1: the GoTrue (Supabase Auth) stand-in — the subset of GoTrue's API that @supabase/auth-js uses for
// email + password and anonymous users, so `supabase.auth` works unmodified against the local stack:
//   POST /signup                         sign up (email + password), or sign in anonymously (no email/phone)
//   POST /token?grant_type=password      sign in with email and password
//   POST /token?grant_type=refresh_token rotate a refresh token (refreshSession, auto refresh)
//   GET  /user, PUT /user                the signed-in user; change password, email or user_metadata
//   POST /logout?scope=global|local|others
//   GET|POST /admin/users, GET|PUT|DELETE /admin/users/<id>   with the service_role key
//   GET  /settings, /health, /.well-known/jwks.json
// Not covered (answered 404 naming it): email sending (magic links, OTP, recovery, invites), OAuth and SSO,
// MFA, phone/SMS, PKCE code exchange, identity linking, rate limits and captcha. Behaviour follows
// config.toml's [auth] (supabase start reads the same file): with enable_confirmations = false, sign-ups
// are confirmed at once and get a session. Like Kong in front of GoTrue, every route but the JWKS needs an
// apikey (anon or service key). Errors are GoTrue's (./errors.ts).
import type { IncomingMessage, ServerResponse } from 'node:http'
import { randomUUID } from 'node:crypto'
import type { Transaction } from '@electric-sql/pglite'
import { errors as joseErrors, jwtVerify } from 'jose'
import type { GatewayContext } from '../core/context.ts'
import { decodePathSegment, readBody } from '../core/http.ts'
import { PgError } from '../core/pg-error.ts'
import {
  AuthError,
  badRequest,
  forbidden,
  notFound,
  OAuthError,
  sendAuthError,
  sendAuthJson,
  unprocessable,
} from './errors.ts'
import { checkNewPassword, hashPassword, passwordWeakness, verifyPassword } from './passwords.ts'
import { CommitThenFail, issueSession, logout, refreshGrant, type LogoutScope, type TokenContext } from './sessions.ts'
import {
  findUserByEmail,
  findUserById,
  identitiesOf,
  insertUser,
  isBanned,
  isUuid,
  loadUserJson,
  mergeMetadata,
  upsertIdentity,
  userJson,
  validateEmail,
  type UserRow,
} from './users.ts'

type Body = Record<string, unknown>

const ADMIN_ROLES = new Set(['service_role', 'supabase_admin'])

const NOT_COVERED =
  'the local stack\'s Auth stand-in covers sign-up, password and anonymous sign-in, refresh tokens, the user, sign-out and admin users ' +
  '(no email, OAuth, SSO, MFA or phone); see README "Signing in"'

export async function handleAuth(ctx: GatewayContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  try {
    await route(ctx, req, res, url)
  } catch (err) {
    if (err instanceof AuthError || err instanceof OAuthError) return sendAuthError(req, res, err)
    if (err instanceof GatewayRefusal) return sendAuthJson(req, res, 401, { message: err.message, hint: err.hint })
    const pg = err instanceof PgError ? err : null
    ctx.log(`auth: ${req.method} ${url.pathname} failed: ${(err as Error).stack ?? err}`)
    sendAuthError(req, res, new AuthError(500, 'unexpected_failure', pg ? `Database error: ${pg.message}` : 'Unexpected failure, please check server logs for more information'))
  }
}

async function route(ctx: GatewayContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const path = url.pathname.slice('/auth/v1'.length).replace(/\/+$/, '') || '/'
  const method = req.method ?? 'GET'
  const send = (status: number, body: unknown) => sendAuthJson(req, res, status, body)
  if (path === '/.well-known/jwks.json' && method === 'GET') {
    // The project signs with a shared secret (HS256): there is no public key to publish.
    return send(200, { keys: [] })
  }
  await requireApiKey(ctx, req, url)
  const t: TokenContext = { config: ctx.config.auth, jwtSecret: ctx.config.jwtSecret, issuer: `${ctx.apiUrl}/auth/v1` }

  if (path === '/health' && method === 'GET') {
    return send(200, { version: 'local-stand-in', name: 'GoTrue', description: 'GoTrue is a user registration and authentication API' })
  }
  if (path === '/settings' && method === 'GET') return send(200, settings(ctx))
  if (path === '/signup' && method === 'POST') return send(200, await signup(ctx, t, req, await jsonBody(ctx, req)))
  if (path === '/token' && method === 'POST') {
    const grant = url.searchParams.get('grant_type')
    const body = await jsonBody(ctx, req)
    if (grant === 'password') return send(200, await passwordGrant(ctx, t, req, body))
    if (grant === 'refresh_token') return send(200, await committed(ctx, (tx) => refreshGrant(tx, t, body.refresh_token, req)))
    if (grant === 'pkce' || grant === 'id_token' || grant === 'web3') throw notFound('not_found', `grant_type=${grant} is not supported: ${NOT_COVERED}`)
    throw badRequest('invalid_credentials', 'unsupported_grant_type')
  }
  if (path === '/user' && method === 'GET') {
    const me = await requireUser(ctx, req)
    return send(200, userJson(me.user, await ctx.db.transaction((tx) => identitiesOf(tx, me.user.id))))
  }
  if (path === '/user' && method === 'PUT') {
    const me = await requireUser(ctx, req)
    return send(200, await updateUser(ctx, me, await jsonBody(ctx, req)))
  }
  if (path === '/logout' && method === 'POST') {
    const me = await requireUser(ctx, req)
    const scope = url.searchParams.get('scope') ?? 'global'
    if (!['global', 'local', 'others'].includes(scope)) throw badRequest('validation_failed', `Unsupported logout scope "${scope}"`)
    await ctx.db.transaction((tx) => logout(tx, me.user.id, me.sessionId, scope as LogoutScope))
    return send(204, null)
  }
  if (path === '/admin/users' || path.startsWith('/admin/users/')) {
    await requireAdmin(ctx, req)
    return admin(ctx, req, res, url, path, method)
  }
  throw notFound('not_found', `${method} /auth/v1${path} is not supported: ${NOT_COVERED}`)
}

/** Kong's answer (not GoTrue's) when the gateway refuses a request: `{ message, hint }`. */
class GatewayRefusal extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message)
  }
}

/** Like Kong's key-auth in front of GoTrue: an apikey header (or query parameter) signed by the project. */
async function requireApiKey(ctx: GatewayContext, req: IncomingMessage, url: URL): Promise<void> {
  const apikey = (req.headers.apikey as string | undefined) ?? url.searchParams.get('apikey') ?? undefined
  if (!apikey) throw new GatewayRefusal('No API key found in request', 'No `apikey` request header or url param was found: send the anon key (or the service key).')
  try {
    await jwtVerify(apikey, new TextEncoder().encode(ctx.config.jwtSecret), { algorithms: ['HS256'] })
  } catch {
    throw new GatewayRefusal('Invalid API key', "The apikey is not signed with this project's JWT secret (is it from another project?): use the anon key npm start prints.")
  }
}

async function jsonBody(ctx: GatewayContext, req: IncomingMessage): Promise<Body> {
  const raw = await readBody(req, ctx.config.api.maxBodyBytes)
  if (!raw.length) return {}
  let v: unknown
  try {
    v = JSON.parse(raw.toString('utf8'))
  } catch (err) {
    throw badRequest('bad_json', `Could not parse request body as JSON: ${(err as Error).message}`)
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw badRequest('bad_json', 'Could not parse request body as JSON: expected an object')
  return v as Body
}

/** Runs `fn` in a transaction that commits even when `fn` ends in a CommitThenFail, then answers its error. */
async function committed<T>(ctx: GatewayContext, fn: (tx: Transaction) => Promise<T>): Promise<T> {
  const out = await ctx.db.transaction(async (tx) => {
    try {
      return { value: await fn(tx) }
    } catch (err) {
      if (err instanceof CommitThenFail) return { failure: err.error }
      throw err
    }
  })
  if ('failure' in out) throw out.failure
  return out.value
}

function optionalObject(value: unknown, field: string): Body | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'object' || Array.isArray(value)) throw badRequest('validation_failed', `${field} must be a JSON object`)
  return value as Body
}

function settings(ctx: GatewayContext): Body {
  const a = ctx.config.auth
  return {
    external: { anonymous_users: a.enableAnonymousSignIns, email: a.emailSignup, phone: false, saml: false },
    disable_signup: !a.enableSignup,
    mailer_autoconfirm: !a.emailConfirmations,
    phone_autoconfirm: false,
    sms_provider: '',
    saml_enabled: false,
  }
}

async function signup(ctx: GatewayContext, t: TokenContext, req: IncomingMessage, body: Body): Promise<unknown> {
  const a = ctx.config.auth
  if (!a.enableSignup) throw unprocessable('signup_disabled', 'Signups not allowed for this instance')
  const data = optionalObject(body.data, 'data') ?? {}
  const email = typeof body.email === 'string' ? body.email : ''
  const phone = typeof body.phone === 'string' ? body.phone : ''
  if (!email && !phone) {
    if (!a.enableAnonymousSignIns) throw unprocessable('anonymous_provider_disabled', 'Anonymous sign-ins are disabled')
    return ctx.db.transaction(async (tx) => {
      const id = randomUUID()
      await insertUser(tx, {
        id, email: null, phone: null, passwordHash: null, role: 'authenticated', appMetadata: {}, userMetadata: data,
        emailConfirmed: false, phoneConfirmed: false, isAnonymous: true, bannedUntil: null,
      })
      return issueSession(tx, t, id, 'anonymous', req)
    })
  }
  if (email && phone) throw unprocessable('validation_failed', 'Only an email address or phone number should be provided on signup.')
  if (phone) {
    throw unprocessable('phone_provider_disabled', a.phoneSignup ? 'Phone signups are not supported by the local stack (it sends no SMS)' : 'Phone signups are disabled')
  }
  if (!a.emailSignup) throw unprocessable('email_provider_disabled', 'Email signups are disabled')
  const address = validateEmail(email)
  if (typeof body.password !== 'string' || !body.password) throw unprocessable('validation_failed', 'Signup requires a valid password')
  const password = checkNewPassword(body.password, a)
  if (await ctx.db.transaction((tx) => findUserByEmail(tx, address))) throw unprocessable('user_already_exists', 'User already registered')
  // bcrypt takes tens of milliseconds: never while holding the database's one session.
  const hash = await hashPassword(password)
  return ctx.db.transaction(async (tx) => {
    if (await findUserByEmail(tx, address)) throw unprocessable('user_already_exists', 'User already registered')
    const id = randomUUID()
    await insertUser(tx, {
      id, email: address, phone: null, passwordHash: hash, role: 'authenticated',
      appMetadata: { provider: 'email', providers: ['email'] }, userMetadata: data,
      emailConfirmed: !a.emailConfirmations, phoneConfirmed: false, isAnonymous: false, bannedUntil: null,
    })
    if (!a.emailConfirmations) return issueSession(tx, t, id, 'password', req)
    // With confirmations on, GoTrue mails a link and answers with the user only. The stand-in sends no mail.
    await tx.query('update auth.users set confirmation_sent_at = now() where id = $1', [id])
    ctx.log(`auth: ${address} signed up; no confirmation email is sent locally (confirm with auth.admin.updateUserById(id, { email_confirm: true }))`)
    return loadUserJson(tx, id)
  })
}

async function passwordGrant(ctx: GatewayContext, t: TokenContext, req: IncomingMessage, body: Body): Promise<unknown> {
  const email = typeof body.email === 'string' ? body.email : ''
  const phone = typeof body.phone === 'string' ? body.phone : ''
  if (email && phone) throw badRequest('validation_failed', 'Only an email address or phone number should be provided on login.')
  if (phone) throw unprocessable('phone_provider_disabled', 'Phone logins are disabled')
  if (!email) throw badRequest('validation_failed', 'missing email or phone')
  const password = typeof body.password === 'string' ? body.password : ''
  const user = await ctx.db.transaction((tx) => findUserByEmail(tx, email))
  const invalid = () => badRequest('invalid_credentials', 'Invalid login credentials')
  if (!user || !user.encrypted_password) throw invalid()
  if (isBanned(user)) throw badRequest('user_banned', 'User is banned')
  if (!(await verifyPassword(password, user.encrypted_password))) throw invalid()
  if (!user.email_confirmed_at) throw badRequest('email_not_confirmed', 'Email not confirmed')
  const session = await ctx.db.transaction((tx) => issueSession(tx, t, user.id, 'password', req))
  // Sign-in still works with a password today's rules call weak; GoTrue says so in the answer.
  const weak = passwordWeakness(password, ctx.config.auth)
  if (weak) session.weak_password = { message: weak.message, reasons: (weak.extra.weak_password as { reasons: string[] }).reasons }
  return session
}

interface Caller {
  user: UserRow
  sessionId: string | null
  claims: Record<string, unknown>
}

function bearer(req: IncomingMessage): string {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')
  if (!m) throw new AuthError(401, 'no_authorization', 'This endpoint requires a valid Bearer token')
  return m[1]
}

/** GoTrue's parseJWTClaims: a 403 bad_jwt naming what is wrong, in golang-jwt's words. */
async function verifiedClaims(ctx: GatewayContext, token: string): Promise<Record<string, unknown>> {
  try {
    const { payload } = await jwtVerify(token, new TextEncoder().encode(ctx.config.jwtSecret), { algorithms: ['HS256'] })
    return payload as Record<string, unknown>
  } catch (err) {
    const reason =
      err instanceof joseErrors.JWTExpired
        ? 'token has invalid claims: token is expired'
        : err instanceof joseErrors.JWSSignatureVerificationFailed
          ? 'token signature is invalid: signature is invalid (is the token from another project?)'
          : err instanceof joseErrors.JOSEAlgNotAllowed
            ? 'token is unverifiable: signing method is not HS256'
            : err instanceof joseErrors.JWTClaimValidationFailed
              ? `token has invalid claims: ${err.message}`
              : 'token is malformed: it is not a JWT (header.payload.signature)'
    throw forbidden('bad_jwt', `invalid JWT: unable to parse or verify signature, ${reason}`)
  }
}

/** GoTrue's requireAuthentication: a valid token of an existing user whose session (if named) exists. */
async function requireUser(ctx: GatewayContext, req: IncomingMessage): Promise<Caller> {
  const claims = await verifiedClaims(ctx, bearer(req))
  const sub = claims.sub
  if (typeof sub !== 'string' || !sub) throw forbidden('bad_jwt', 'invalid claim: missing sub claim')
  if (!isUuid(sub)) throw badRequest('bad_jwt', 'invalid claim: sub claim must be a UUID')
  const sessionId = typeof claims.session_id === 'string' && claims.session_id ? claims.session_id : null
  return ctx.db.transaction(async (tx) => {
    const user = await findUserById(tx, sub)
    if (!user) throw forbidden('user_not_found', 'User from sub claim in JWT does not exist')
    if (sessionId) {
      const found = isUuid(sessionId) && (await tx.query('select 1 from auth.sessions where id = $1', [sessionId])).rows.length > 0
      if (!found) throw forbidden('session_not_found', 'Session from session_id claim in JWT does not exist')
    }
    return { user, sessionId, claims }
  })
}

async function requireAdmin(ctx: GatewayContext, req: IncomingMessage): Promise<void> {
  const claims = await verifiedClaims(ctx, bearer(req))
  if (!ADMIN_ROLES.has(String(claims.role ?? ''))) {
    throw forbidden('not_admin', 'User not allowed: the admin API takes the service_role key (never use it in a browser)')
  }
}

async function updateUser(ctx: GatewayContext, me: Caller, body: Body): Promise<unknown> {
  const a = ctx.config.auth
  const data = optionalObject(body.data, 'data')
  if (typeof body.phone === 'string' && body.phone) throw unprocessable('phone_provider_disabled', 'Phone logins are disabled')
  let email: string | null = null
  if (body.email !== undefined && body.email !== null && body.email !== '') {
    email = validateEmail(body.email)
    if (email === me.user.email) email = null
  }
  let hash: string | null = null
  if (body.password !== undefined && body.password !== null) {
    const password = checkNewPassword(body.password, a)
    if (me.user.is_anonymous && !me.user.email && !email) {
      throw unprocessable('validation_failed', 'Updating password of an anonymous user is not possible: set an email first')
    }
    if (await verifyPassword(password, me.user.encrypted_password)) {
      throw unprocessable('same_password', 'New password should be different from the old password.')
    }
    hash = await hashPassword(password)
  }
  return ctx.db.transaction(async (tx) => {
    const id = me.user.id
    if (data) {
      const current = await findUserById(tx, id)
      await tx.query('update auth.users set raw_user_meta_data = $2, updated_at = now() where id = $1', [
        id,
        JSON.stringify(mergeMetadata(current?.raw_user_meta_data ?? {}, data)),
      ])
    }
    if (email) {
      const other = await findUserByEmail(tx, email)
      if (other && other.id !== id) throw unprocessable('email_exists', 'A user with this email address has already been registered')
      if (a.emailConfirmations) {
        await tx.query('update auth.users set email_change = $2, email_change_sent_at = now(), updated_at = now() where id = $1', [id, email])
        ctx.log(`auth: email change of ${id} to ${email} awaits confirmation; no email is sent locally`)
      } else {
        // Confirmed at once (mailer autoconfirm); an anonymous user with an email becomes a permanent one.
        await tx.query(
          `update auth.users set email = $2, email_confirmed_at = now(), is_anonymous = false, updated_at = now(),
                  raw_app_meta_data = coalesce(raw_app_meta_data, '{}') || jsonb_build_object('provider', coalesce(raw_app_meta_data ->> 'provider', 'email'),
                    'providers', (select coalesce(jsonb_agg(distinct p), '["email"]') from (
                       select jsonb_array_elements_text(coalesce(raw_app_meta_data -> 'providers', '[]')) as p union select 'email') ps))
            where id = $1`,
          [id, email],
        )
        await upsertIdentity(tx, id, 'email', { sub: id, email, email_verified: true, phone_verified: false })
      }
    }
    if (hash) {
      await tx.query('update auth.users set encrypted_password = $2, updated_at = now() where id = $1', [id, hash])
      // As GoTrue: a new password ends the user's other sessions.
      if (me.sessionId) await logout(tx, id, me.sessionId, 'others')
    }
    return loadUserJson(tx, id)
  })
}

// ---- admin -----------------------------------------------------------------------------------------

async function admin(ctx: GatewayContext, req: IncomingMessage, res: ServerResponse, url: URL, path: string, method: string): Promise<void> {
  const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v)
    sendAuthJson(req, res, status, body)
  }
  if (path === '/admin/users') {
    if (method === 'GET') {
      const page = positiveInt(url.searchParams.get('page'), 1, 'page')
      const perPage = positiveInt(url.searchParams.get('per_page'), 50, 'per_page')
      const { users, total } = await ctx.db.transaction(async (tx) => {
        const total = Number((await tx.query<{ n: number }>(`select count(*)::integer as n from auth.users where aud = 'authenticated'`)).rows[0].n)
        const ids = (
          await tx.query<{ id: string }>(
            `select id from auth.users where aud = 'authenticated' order by created_at desc, id desc limit $1 offset $2`,
            [perPage, (page - 1) * perPage],
          )
        ).rows
        const users = []
        for (const { id } of ids) users.push(await loadUserJson(tx, id))
        return { users, total }
      })
      // GoTrue's pagination headers, which auth-js reads for nextPage / lastPage / total.
      const base = `${ctx.apiUrl}/auth/v1/admin/users`
      const last = Math.max(1, Math.ceil(total / perPage))
      const links = []
      if (page + 1 <= last) links.push(`<${base}?page=${page + 1}&per_page=${perPage}>; rel="next"`)
      links.push(`<${base}?page=${last}&per_page=${perPage}>; rel="last"`)
      return send(200, { users, aud: 'authenticated' }, { 'x-total-count': String(total), link: links.join(', ') })
    }
    if (method === 'POST') return send(200, await adminCreateUser(ctx, await jsonBody(ctx, req)))
  } else {
    const id = decodePathSegment(path.slice('/admin/users/'.length), (m) => badRequest('validation_failed', m))
    if (id.includes('/')) throw notFound('not_found', `${method} /auth/v1${path} is not supported: ${NOT_COVERED}`)
    if (!isUuid(id)) throw notFound('validation_failed', 'user_id must be an UUID')
    if (method === 'GET') {
      const user = await ctx.db.transaction((tx) => loadUserJson(tx, id))
      if (!user) throw notFound('user_not_found', 'User not found')
      return send(200, user)
    }
    if (method === 'PUT') return send(200, await adminUpdateUser(ctx, id, await jsonBody(ctx, req)))
    if (method === 'DELETE') {
      const body = await jsonBody(ctx, req)
      await ctx.db.transaction(async (tx) => {
        if (!(await findUserById(tx, id))) throw notFound('user_not_found', 'User not found')
        if (body.should_soft_delete === true) {
          // GoTrue's soft delete: the row stays (deleted_at) but can no longer sign in or be found by email.
          await tx.query('delete from auth.identities where user_id = $1', [id])
          await tx.query('delete from auth.sessions where user_id = $1', [id])
          await tx.query(
            `update auth.users set deleted_at = now(), email = null, phone = null, encrypted_password = '',
                    raw_app_meta_data = '{}', raw_user_meta_data = '{}', updated_at = now() where id = $1`,
            [id],
          )
        } else await tx.query('delete from auth.users where id = $1', [id])
      })
      return send(200, {})
    }
  }
  throw notFound('not_found', `${method} /auth/v1${path} is not supported: ${NOT_COVERED}`)
}

function positiveInt(value: string | null, fallback: number, name: string): number {
  if (value === null || value === '') return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw badRequest('validation_failed', `${name} must be a positive whole number, got "${value}"`)
  return n
}

/** GoTrue's ban_duration: "none" (lift) or a Go duration such as "24h", "90m", "1h30m", "10s". */
function banUntil(value: unknown): Date | null | undefined {
  if (value === undefined) return undefined
  if (value === 'none') return null
  const m = typeof value === 'string' ? /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(value) : null
  if (!m || !value) throw badRequest('validation_failed', `invalid format for ban duration: "${String(value)}" (use "none" or a duration such as "24h", "90m")`)
  const ms = ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1000
  return new Date(Date.now() + ms)
}

async function adminCreateUser(ctx: GatewayContext, body: Body): Promise<unknown> {
  const email = body.email === undefined || body.email === null || body.email === '' ? null : validateEmail(body.email)
  if (typeof body.phone === 'string' && body.phone) throw unprocessable('phone_provider_disabled', 'Phone users are not supported by the local stack')
  if (!email) throw badRequest('validation_failed', 'Cannot create a user without either an email or phone')
  const userMetadata = optionalObject(body.user_metadata ?? body.data, 'user_metadata') ?? {}
  const appMetadata = optionalObject(body.app_metadata, 'app_metadata') ?? {}
  const role = body.role === undefined || body.role === null || body.role === '' ? 'authenticated' : String(body.role)
  const id = body.id === undefined || body.id === null ? randomUUID() : body.id
  if (!isUuid(id)) throw badRequest('validation_failed', 'id must be a UUID')
  const banned = banUntil(body.ban_duration) ?? null
  const hash = body.password === undefined || body.password === null ? null : await hashPassword(checkNewPassword(body.password, ctx.config.auth))
  return ctx.db.transaction(async (tx) => {
    if (await findUserByEmail(tx, email)) throw unprocessable('email_exists', 'A user with this email address has already been registered')
    if (await findUserById(tx, id)) throw unprocessable('user_already_exists', `A user with id ${id} already exists`)
    await insertUser(tx, {
      id, email, phone: null, passwordHash: hash, role,
      appMetadata: { ...mergeMetadata({ provider: 'email', providers: ['email'] }, appMetadata) },
      userMetadata, emailConfirmed: body.email_confirm === true, phoneConfirmed: false, isAnonymous: false, bannedUntil: banned,
    })
    return loadUserJson(tx, id)
  })
}

async function adminUpdateUser(ctx: GatewayContext, id: string, body: Body): Promise<unknown> {
  const email = body.email === undefined || body.email === null || body.email === '' ? null : validateEmail(body.email)
  if (typeof body.phone === 'string' && body.phone) throw unprocessable('phone_provider_disabled', 'Phone users are not supported by the local stack')
  const userMetadata = optionalObject(body.user_metadata ?? body.data, 'user_metadata')
  const appMetadata = optionalObject(body.app_metadata, 'app_metadata')
  const banned = banUntil(body.ban_duration)
  const hash = body.password === undefined || body.password === null ? null : await hashPassword(checkNewPassword(body.password, ctx.config.auth))
  return ctx.db.transaction(async (tx) => {
    const user = await findUserById(tx, id)
    if (!user) throw notFound('user_not_found', 'User not found')
    const set = async (sql: string, params: unknown[]) => tx.query(`update auth.users set ${sql}, updated_at = now() where id = $1`, [id, ...params])
    if (email && email !== user.email) {
      const other = await findUserByEmail(tx, email)
      if (other && other.id !== id) throw unprocessable('email_exists', 'A user with this email address has already been registered')
      await set('email = $2, is_anonymous = false', [email])
      await upsertIdentity(tx, id, 'email', { sub: id, email, email_verified: body.email_confirm === true || !!user.email_confirmed_at, phone_verified: false })
    }
    if (body.email_confirm === true) await set('email_confirmed_at = coalesce(email_confirmed_at, now())', [])
    if (body.email_confirm === false) await set('email_confirmed_at = null', [])
    if (hash) await set('encrypted_password = $2', [hash])
    if (body.role !== undefined && body.role !== null && body.role !== '') await set('role = $2', [String(body.role)])
    if (userMetadata) await set('raw_user_meta_data = $2', [JSON.stringify(mergeMetadata(user.raw_user_meta_data, userMetadata))])
    if (appMetadata) await set('raw_app_meta_data = $2', [JSON.stringify(mergeMetadata(user.raw_app_meta_data, appMetadata))])
    if (banned !== undefined) {
      await set('banned_until = $2', [banned])
      // A banned user's sessions end now, as GoTrue does.
      if (banned) await tx.query('delete from auth.sessions where user_id = $1', [id])
    }
    return loadUserJson(tx, id)
  })
}
