// Sessions, refresh tokens and access tokens as GoTrue issues them (refresh token algorithm 1: rows of
// auth.refresh_tokens chained by `parent` within one auth.sessions row):
//   sign-in   → a session (aal1), its amr claim (password / anonymous) and a first refresh token
//   refresh   → the used token is revoked and a child issued; reusing a revoked token is allowed only as
//               GoTrue allows it (it is the parent of the active token, or it was revoked less than
//               refresh_token_reuse_interval seconds ago); otherwise, with rotation on, the whole session's
//               tokens are revoked and the answer is 400 refresh_token_already_used
//   sign-out  → scope global (every session of the user), local (this one) or others
// Access tokens are HS256 JWTs signed with the project's JWT secret and carry GoTrue's claims: iss, sub,
// aud, exp, iat, email, phone, app_metadata, user_metadata, role, aal, amr, session_id, is_anonymous.
import { randomInt, randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { isIP } from 'node:net'
import type { Transaction } from '@electric-sql/pglite'
import type { AuthConfig } from '../core/config.ts'
import { signAccessToken } from '../core/jwt.ts'
import { AuthError, badRequest, OAuthError } from './errors.ts'
import { findUserById, identitiesOf, INSTANCE_ID, isBanned, userJson, type UserRow } from './users.ts'

export interface TokenContext {
  config: AuthConfig
  jwtSecret: string
  /** The `iss` claim: the Auth URL (`<API URL>/auth/v1`), as GoTrue's external URL. */
  issuer: string
}

export interface SessionResponse {
  access_token: string
  token_type: 'bearer'
  expires_in: number
  expires_at: number
  refresh_token: string
  user: Record<string, unknown>
  weak_password?: { message: string; reasons: string[] }
}

const ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'

/** GoTrue's refresh token: crypto.SecureAlphanumeric(12). */
function newRefreshToken(): string {
  let s = ''
  for (let i = 0; i < 12; i++) s += ALPHANUMERIC[randomInt(ALPHANUMERIC.length)]
  return s
}

/** What GoTrue stores about the device: user agent and client address (inet). */
export function clientInfo(req: IncomingMessage): { userAgent: string | null; ip: string | null } {
  const ua = req.headers['user-agent']
  const addr = req.socket.remoteAddress ?? ''
  return { userAgent: typeof ua === 'string' && ua ? ua : null, ip: isIP(addr) ? addr : null }
}

/** The access token of a session: GoTrue's claims for the user as stored now. */
export async function accessToken(tx: Transaction, t: TokenContext, user: UserRow, sessionId: string): Promise<{ token: string; expiresAt: number }> {
  const s = (await tx.query<{ aal: string | null }>('select aal::text as aal from auth.sessions where id = $1', [sessionId])).rows[0]
  const amr = (
    await tx.query<{ method: string; timestamp: number }>(
      `select authentication_method as method, extract(epoch from updated_at)::integer as timestamp
         from auth.mfa_amr_claims where session_id = $1 order by updated_at desc`,
      [sessionId],
    )
  ).rows.map((r) => ({ method: r.method, timestamp: Number(r.timestamp) }))
  const iat = Math.floor(Date.now() / 1000)
  const expiresAt = iat + t.config.jwtExpiry
  const token = await signAccessToken(
    {
      iss: t.issuer,
      sub: user.id,
      aud: user.aud ?? 'authenticated',
      email: user.email ?? '',
      phone: user.phone ?? '',
      app_metadata: user.raw_app_meta_data ?? {},
      user_metadata: user.raw_user_meta_data ?? {},
      role: user.role ?? 'authenticated',
      aal: s?.aal ?? 'aal1',
      amr,
      session_id: sessionId,
      is_anonymous: user.is_anonymous === true,
    },
    { expiresIn: expiresAt, secret: t.jwtSecret },
  )
  return { token, expiresAt }
}

async function sessionResponse(tx: Transaction, t: TokenContext, userId: string, sessionId: string, refreshToken: string): Promise<SessionResponse> {
  const user = await findUserById(tx, userId)
  if (!user) throw new AuthError(500, 'unexpected_failure', 'The user was deleted while signing in')
  const { token, expiresAt } = await accessToken(tx, t, user, sessionId)
  return {
    access_token: token,
    token_type: 'bearer',
    expires_in: t.config.jwtExpiry,
    expires_at: expiresAt,
    refresh_token: refreshToken,
    user: userJson(user, await identitiesOf(tx, userId)),
  }
}

/**
 * Signs a user in (GoTrue's IssueRefreshToken): last_sign_in_at, a new session with its amr claim
 * (`method`: password | anonymous), its first refresh token and an access token.
 */
export async function issueSession(
  tx: Transaction,
  t: TokenContext,
  userId: string,
  method: 'password' | 'anonymous',
  req: IncomingMessage,
): Promise<SessionResponse> {
  const { userAgent, ip } = clientInfo(req)
  const sessionId = randomUUID()
  await tx.query('update auth.users set last_sign_in_at = now(), updated_at = now() where id = $1', [userId])
  await tx.query(`update auth.identities set last_sign_in_at = now() where user_id = $1 and provider = 'email'`, [userId])
  await tx.query(
    `insert into auth.sessions (id, user_id, created_at, updated_at, aal, user_agent, ip)
     values ($1, $2, now(), now(), 'aal1', $3, $4::inet)`,
    [sessionId, userId, userAgent, ip],
  )
  await tx.query(
    `insert into auth.mfa_amr_claims (session_id, created_at, updated_at, authentication_method, id)
     values ($1, now(), now(), $2, $3)`,
    [sessionId, method, randomUUID()],
  )
  const refresh = newRefreshToken()
  await tx.query(
    `insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at, parent, session_id)
     values ($1, $2, $3, false, now(), now(), null, $4)`,
    [INSTANCE_ID, refresh, userId, sessionId],
  )
  return sessionResponse(tx, t, userId, sessionId, refresh)
}

interface TokenRow {
  id: string
  token: string
  user_id: string
  revoked: boolean
  updated_at: Date
  session_id: string | null
  session_exists: boolean
  not_after: Date | null
}

/** The refresh_token grant (GoTrue's RefreshTokenGrant for algorithm-1 tokens). */
export async function refreshGrant(tx: Transaction, t: TokenContext, refreshToken: unknown, req: IncomingMessage): Promise<SessionResponse> {
  if (typeof refreshToken !== 'string' || !refreshToken) throw new OAuthError('invalid_request', 'refresh_token required')
  const row = (
    await tx.query<TokenRow>(
      `select rt.id::text as id, rt.token, rt.user_id, rt.revoked, rt.updated_at, rt.session_id,
              s.id is not null as session_exists, s.not_after
         from auth.refresh_tokens rt left join auth.sessions s on s.id = rt.session_id
        where rt.token = $1`,
      [refreshToken],
    )
  ).rows[0]
  if (!row) throw badRequest('refresh_token_not_found', 'Invalid Refresh Token: Refresh Token Not Found')
  const user = await findUserById(tx, row.user_id)
  if (!user) throw badRequest('refresh_token_not_found', 'Invalid Refresh Token: Refresh Token Not Found')
  if (isBanned(user)) throw badRequest('user_banned', 'Invalid Refresh Token: User Banned')
  if (!row.session_id || !row.session_exists) {
    await tx.query('delete from auth.refresh_tokens where id = $1::bigint', [row.id])
    throw badRequest('session_not_found', 'Invalid Refresh Token: No Valid Session Found')
  }
  if (row.not_after && new Date(row.not_after) < new Date()) throw badRequest('session_expired', 'Invalid Refresh Token: Session Expired')

  let issued: string | null = null
  if (row.revoked) {
    const active = (
      await tx.query<{ token: string; parent: string | null }>(
        `select token, parent from auth.refresh_tokens where session_id = $1 and not revoked order by id desc limit 1`,
        [row.session_id],
      )
    ).rows[0]
    if (active && active.parent === row.token) {
      // The client did not store the answer to its last refresh: give it the active token again.
      issued = active.token
    } else if (Date.now() > new Date(row.updated_at).getTime() + t.config.refreshTokenReuseInterval * 1000) {
      // A revoked token used again long after it was rotated: someone else may hold the chain.
      if (t.config.refreshTokenRotation) {
        await tx.query('update auth.refresh_tokens set revoked = true, updated_at = now() where session_id = $1 and not revoked', [row.session_id])
      }
      throw new CommitThenFail(badRequest('refresh_token_already_used', 'Invalid Refresh Token: Already Used'))
    }
  }
  if (!issued) {
    await tx.query('update auth.refresh_tokens set revoked = true, updated_at = now() where id = $1::bigint', [row.id])
    issued = newRefreshToken()
    await tx.query(
      `insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at, parent, session_id)
       values ($1, $2, $3, false, now(), now(), $4, $5)`,
      [INSTANCE_ID, issued, row.user_id, row.token, row.session_id],
    )
  }
  const { userAgent, ip } = clientInfo(req)
  await tx.query(
    `update auth.sessions set refreshed_at = now() at time zone 'utc', updated_at = now(), user_agent = $2, ip = $3::inet
      where id = $1`,
    [row.session_id, userAgent, ip],
  )
  return sessionResponse(tx, t, row.user_id, row.session_id, issued)
}

/**
 * An error whose transaction must still commit (the revoked token family), as GoTrue's
 * storage.NewCommitWithError: the caller commits, then answers with `error`.
 */
export class CommitThenFail extends Error {
  constructor(readonly error: AuthError) {
    super(error.message)
  }
}

export type LogoutScope = 'global' | 'local' | 'others'

/** Ends sessions (their refresh tokens and amr claims go with them, by cascade). */
export async function logout(tx: Transaction, userId: string, sessionId: string | null, scope: LogoutScope): Promise<void> {
  if (sessionId && scope === 'local') await tx.query('delete from auth.sessions where id = $1', [sessionId])
  else if (sessionId && scope === 'others') await tx.query('delete from auth.sessions where user_id = $1 and id <> $2', [userId, sessionId])
  else await tx.query('delete from auth.sessions where user_id = $1', [userId])
}
