// Users in auth.users and auth.identities, and the user object GoTrue returns (models.User's JSON: empty
// strings for a missing email or phone, optional timestamps left out, identities always a list).
import type { Transaction } from '@electric-sql/pglite'
import { badRequest } from './errors.ts'

export interface UserRow {
  id: string
  aud: string | null
  role: string | null
  email: string | null
  encrypted_password: string | null
  email_confirmed_at: Date | null
  invited_at: Date | null
  confirmation_sent_at: Date | null
  confirmed_at: Date | null
  recovery_sent_at: Date | null
  email_change: string | null
  email_change_sent_at: Date | null
  phone: string | null
  phone_confirmed_at: Date | null
  phone_change: string | null
  phone_change_sent_at: Date | null
  reauthentication_sent_at: Date | null
  last_sign_in_at: Date | null
  raw_app_meta_data: Record<string, unknown> | null
  raw_user_meta_data: Record<string, unknown> | null
  created_at: Date | null
  updated_at: Date | null
  banned_until: Date | null
  deleted_at: Date | null
  is_anonymous: boolean
  is_sso_user: boolean
}

export interface IdentityRow {
  id: string
  provider_id: string
  user_id: string
  identity_data: Record<string, unknown>
  provider: string
  last_sign_in_at: Date | null
  created_at: Date | null
  updated_at: Date | null
  email: string | null
}

export const USER_COLUMNS = `u.id, u.aud, u.role, u.email, u.encrypted_password, u.email_confirmed_at, u.invited_at,
  u.confirmation_sent_at, u.confirmed_at, u.recovery_sent_at, u.email_change, u.email_change_sent_at, u.phone,
  u.phone_confirmed_at, u.phone_change, u.phone_change_sent_at, u.reauthentication_sent_at, u.last_sign_in_at,
  u.raw_app_meta_data, u.raw_user_meta_data, u.created_at, u.updated_at, u.banned_until, u.deleted_at,
  u.is_anonymous, u.is_sso_user`

/** GoTrue's instance id for every row (single-tenant). */
export const INSTANCE_ID = '00000000-0000-0000-0000-000000000000'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value)
}

const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : undefined)

/** GoTrue's user JSON. */
export function userJson(u: UserRow, identities: IdentityRow[]): Record<string, unknown> {
  const out: Record<string, unknown> = { id: u.id, aud: u.aud ?? '', role: u.role ?? '', email: u.email ?? '' }
  const put = (key: string, value: unknown) => {
    if (value !== undefined && value !== null && value !== '') out[key] = value
  }
  put('email_confirmed_at', iso(u.email_confirmed_at))
  put('invited_at', iso(u.invited_at))
  out.phone = u.phone ?? ''
  put('phone_confirmed_at', iso(u.phone_confirmed_at))
  put('confirmation_sent_at', iso(u.confirmation_sent_at))
  put('confirmed_at', iso(u.confirmed_at))
  put('recovery_sent_at', iso(u.recovery_sent_at))
  put('new_email', u.email_change)
  put('email_change_sent_at', iso(u.email_change_sent_at))
  put('new_phone', u.phone_change)
  put('phone_change_sent_at', iso(u.phone_change_sent_at))
  put('reauthentication_sent_at', iso(u.reauthentication_sent_at))
  put('last_sign_in_at', iso(u.last_sign_in_at))
  out.app_metadata = u.raw_app_meta_data ?? {}
  out.user_metadata = u.raw_user_meta_data ?? {}
  out.identities = identities.map(identityJson)
  out.created_at = iso(u.created_at) ?? new Date(0).toISOString()
  out.updated_at = iso(u.updated_at) ?? new Date(0).toISOString()
  put('banned_until', iso(u.banned_until))
  put('deleted_at', iso(u.deleted_at))
  out.is_anonymous = u.is_anonymous === true
  return out
}

/** GoTrue's identity JSON: its row id is `identity_id`, its provider id is `id` (for old clients). */
export function identityJson(i: IdentityRow): Record<string, unknown> {
  const out: Record<string, unknown> = {
    identity_id: i.id,
    id: i.provider_id,
    user_id: i.user_id,
    identity_data: i.identity_data,
    provider: i.provider,
  }
  if (i.last_sign_in_at) out.last_sign_in_at = iso(i.last_sign_in_at)
  out.created_at = iso(i.created_at) ?? new Date(0).toISOString()
  out.updated_at = iso(i.updated_at) ?? new Date(0).toISOString()
  if (i.email) out.email = i.email
  return out
}

export function isBanned(u: UserRow, now = new Date()): boolean {
  return !!u.banned_until && new Date(u.banned_until) > now
}

export async function findUserById(tx: Transaction, id: string): Promise<UserRow | null> {
  const r = await tx.query<UserRow>(`select ${USER_COLUMNS} from auth.users u where u.id = $1`, [id])
  return r.rows[0] ?? null
}

/** GoTrue's FindUserByEmailAndAudience: case-insensitive, not SSO users. */
export async function findUserByEmail(tx: Transaction, email: string, aud = 'authenticated'): Promise<UserRow | null> {
  const r = await tx.query<UserRow>(
    `select ${USER_COLUMNS} from auth.users u where lower(u.email) = lower($1) and u.aud = $2 and not u.is_sso_user`,
    [email, aud],
  )
  return r.rows[0] ?? null
}

export async function identitiesOf(tx: Transaction, userId: string): Promise<IdentityRow[]> {
  const r = await tx.query<IdentityRow>(
    `select id, provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at, email
       from auth.identities where user_id = $1 order by created_at, id`,
    [userId],
  )
  return r.rows
}

export async function loadUserJson(tx: Transaction, id: string): Promise<Record<string, unknown> | null> {
  const u = await findUserById(tx, id)
  return u ? userJson(u, await identitiesOf(tx, id)) : null
}

/**
 * GoTrue's validateEmail: required, at most 255 characters, a plausible address (one @, a dot in the
 * domain, no spaces); returned lower-cased, as GoTrue stores it.
 */
export function validateEmail(email: unknown): string {
  if (typeof email !== 'string' || email.trim() === '') throw badRequest('validation_failed', 'An email address is required')
  if (email.length > 255) throw badRequest('validation_failed', 'An email address is too long')
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) throw badRequest('validation_failed', 'Unable to validate email address: invalid format')
  return email.trim().toLowerCase()
}

/** GoTrue's UpdateUserMetaData / UpdateAppMetaData: keys set, a null value removes the key. */
export function mergeMetadata(current: Record<string, unknown> | null, patch: Record<string, unknown>): Record<string, unknown> {
  const out = { ...(current ?? {}) }
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k]
    else out[k] = v
  }
  return out
}

export interface NewUser {
  id: string
  email: string | null
  phone: string | null
  passwordHash: string | null
  role: string
  appMetadata: Record<string, unknown>
  userMetadata: Record<string, unknown>
  emailConfirmed: boolean
  phoneConfirmed: boolean
  isAnonymous: boolean
  bannedUntil: Date | null
}

/** Inserts a user and its identity (email → 'email' identity, phone → 'phone'; anonymous users have none). */
export async function insertUser(tx: Transaction, u: NewUser): Promise<void> {
  await tx.query(
    `insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at, phone,
                             phone_confirmed_at, raw_app_meta_data, raw_user_meta_data, created_at, updated_at,
                             is_anonymous, banned_until, confirmation_token, recovery_token, email_change_token_new,
                             email_change)
     values ($1, $2, 'authenticated', $3, $4, $5, case when $6 then now() end, $7, case when $8 then now() end,
             $9, $10, now(), now(), $11, $12, '', '', '', '')`,
    [
      INSTANCE_ID,
      u.id,
      u.role,
      u.email,
      u.passwordHash ?? '',
      u.emailConfirmed,
      u.phone,
      u.phoneConfirmed,
      JSON.stringify(u.appMetadata),
      JSON.stringify(u.userMetadata),
      u.isAnonymous,
      u.bannedUntil,
    ],
  )
  if (u.email) await upsertIdentity(tx, u.id, 'email', { sub: u.id, email: u.email, email_verified: u.emailConfirmed, phone_verified: false })
  if (u.phone) await upsertIdentity(tx, u.id, 'phone', { sub: u.id, phone: u.phone, email_verified: false, phone_verified: u.phoneConfirmed })
}

/** The user's identity for `provider` (provider_id = the user id, as GoTrue does for email and phone). */
export async function upsertIdentity(tx: Transaction, userId: string, provider: string, data: Record<string, unknown>): Promise<void> {
  await tx.query(
    `insert into auth.identities (provider_id, user_id, identity_data, provider, created_at, updated_at)
     values ($1, $2, $3, $4, now(), now())
     on conflict (provider_id, provider) do update set identity_data = excluded.identity_data, updated_at = now()`,
    [userId, userId, JSON.stringify(data), provider],
  )
}
