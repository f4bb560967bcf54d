// Passwords as GoTrue keeps them: bcrypt hashes (cost 10, GoTrue's bcrypt.DefaultCost) in
// auth.users.encrypted_password, checked with bcryptjs, which also verifies the $2a$ hashes pgcrypto's
// crypt(…, gen_salt('bf')) writes when users are seeded by SQL. Strength follows config.toml's
// minimum_password_length and password_requirements, with GoTrue's messages and `weak_password.reasons`.
import bcrypt from 'bcryptjs'
import type { AuthConfig } from '../core/config.ts'
import { unprocessable, weakPassword, type AuthError } from './errors.ts'

const COST = 10

const LOWER = 'abcdefghijklmnopqrstuvwxyz'
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'
const DIGITS = '0123456789'
const SYMBOLS = "!@#$%^&*()_+-=[]{};'\\:\"|<>?,./`~"

/** config.toml's password_requirements → the character sets a password needs one of each, as GoTrue. */
const REQUIREMENTS: Record<string, string[]> = {
  '': [],
  letters_digits: [LOWER + UPPER, DIGITS],
  lower_upper_letters_digits: [LOWER, UPPER, DIGITS],
  lower_upper_letters_digits_symbols: [LOWER, UPPER, DIGITS, SYMBOLS],
}

export function hashPassword(password: string): Promise<string> {
  return bcrypt.hash(password, COST)
}

/** Compares against a stored hash; a missing or malformed hash never matches. */
export async function verifyPassword(password: string, hash: string | null | undefined): Promise<boolean> {
  if (!hash || !hash.startsWith('$2')) return false
  try {
    return await bcrypt.compare(password, hash)
  } catch {
    return false
  }
}

/** GoTrue's checkPasswordStrength: the weak_password error (422) or null. */
export function passwordWeakness(password: string, config: AuthConfig): AuthError | null {
  const reasons: string[] = []
  const messages: string[] = []
  if ([...password].length < config.minimumPasswordLength) {
    reasons.push('length')
    messages.push(`Password should be at least ${config.minimumPasswordLength} characters.`)
  }
  const sets = REQUIREMENTS[config.passwordRequirements] ?? []
  if (sets.some((set) => ![...password].some((c) => set.includes(c)))) {
    reasons.push('characters')
    messages.push(`Password should contain at least one character of each: ${sets.join(', ')}.`)
  }
  return reasons.length ? weakPassword(messages.join(' '), reasons) : null
}

/** A password to set: present, not longer than bcrypt takes (72 bytes), and strong enough. */
export function checkNewPassword(password: unknown, config: AuthConfig): string {
  if (typeof password !== 'string' || password === '') throw unprocessable('validation_failed', 'Password is required')
  if (Buffer.byteLength(password) > 72) throw unprocessable('validation_failed', 'Password cannot be longer than 72 characters')
  const weak = passwordWeakness(password, config)
  if (weak) throw weak
  return password
}
