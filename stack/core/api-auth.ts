// Request authentication as Supabase's API gateway and PostgREST do it: the `apikey` header (or query
// parameter) must be a key signed with the project's JWT secret; the role comes from the Bearer token in
// `Authorization` (a user's access token, or the key itself). Tokens are HS256 JWTs verified with jose.
import type { IncomingMessage } from 'node:http'
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose'
import { ApiError } from './http.ts'

export interface AuthResult {
  role: string
  claims: JWTPayload & { role?: string; sub?: string }
  token: string
}

/** PostgREST's JWT error reply: 401 with `WWW-Authenticate: Bearer error="invalid_token", error_description="…"`. */
function invalidToken(code: string, message: string): ApiError {
  return new ApiError(401, code, message, null, TOKEN_HINT, { 'www-authenticate': `Bearer error="invalid_token", error_description=${JSON.stringify(message)}` })
}

const TOKEN_HINT =
  "Use the anon key or service_role key npm start prints, or a user's access token (supabase.auth.signInWithPassword, npm run token)"

/** One sentence naming what is wrong with a token that failed verification. */
function reasonFor(err: unknown, token: string): string {
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
    return "JWT signature does not match the project's JWT secret (is the key from another project?)"
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) {
    let alg = 'another algorithm'
    try {
      alg = String(decodeProtectedHeader(token).alg ?? alg)
    } catch {
      // keep the generic wording
    }
    return `JWT is signed with ${alg}; this project accepts HS256 tokens signed with its JWT secret`
  }
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return `JWT is not valid yet (its nbf claim is ${new Date(Number(err.payload.nbf) * 1000).toISOString()})`
    return `JWT claim "${err.claim}" is invalid: ${err.reason}`
  }
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) {
    return `JWT is malformed: expected three base64url parts separated by dots (header.payload.signature)`
  }
  return `JWT could not be verified: ${(err as Error).message}`
}

function describeSeconds(s: number): string {
  if (s < 120) return `${s} second${s === 1 ? '' : 's'}`
  if (s < 7200) return `${Math.round(s / 60)} minutes`
  if (s < 172800) return `${Math.round(s / 3600)} hours`
  return `${Math.round(s / 86400)} days`
}

const NO_KEY_HINT = 'Send the anon key or an access token as "Authorization: Bearer <token>" or in the apikey header'

export class Authenticator {
  private secret: Uint8Array

  constructor(jwtSecret: string) {
    this.secret = new TextEncoder().encode(jwtSecret)
  }

  /**
   * Verifies a token; throws ApiError 401 otherwise — PGRST303 when it expired, PGRST301 when it cannot be
   * trusted — with PostgREST's codes and WWW-Authenticate header, and a message that says what is wrong.
   */
  async verify(token: string): Promise<AuthResult['claims']> {
    try {
      const { payload } = await jwtVerify(token, this.secret, { algorithms: ['HS256'], clockTolerance: 0 })
      return payload as AuthResult['claims']
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) {
        const exp = Number((err.payload as JWTPayload).exp)
        const ago = Math.max(0, Math.round(Date.now() / 1000 - exp))
        throw invalidToken('PGRST303', `JWT expired ${describeSeconds(ago)} ago (exp ${new Date(exp * 1000).toISOString()}): refresh the session or sign in again`)
      }
      throw invalidToken('PGRST301', reasonFor(err, token))
    }
  }

  /** Authenticates an API request; the default role (no `role` claim) is anon, as PostgREST's db-anon-role. */
  async authenticate(req: IncomingMessage, url: URL): Promise<AuthResult> {
    const header = req.headers.authorization
    const apikey = (req.headers.apikey as string | undefined) ?? url.searchParams.get('apikey') ?? undefined
    let bearer: string | undefined
    if (header !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
      if (!m) throw new ApiError(401, 'PGRST301', 'Authorization header is not "Bearer <token>"', null, NO_KEY_HINT)
      bearer = m[1]
    }
    if (!bearer && !apikey) throw new ApiError(401, 'PGRST302', 'No API key found in request', null, NO_KEY_HINT)
    if (apikey && apikey !== bearer) {
      try {
        await this.verify(apikey)
      } catch (err) {
        const e = err as ApiError
        throw new ApiError(401, e.code, `Invalid API key: ${e.message}`, null, NO_KEY_HINT, e.headers)
      }
    }
    const token = bearer ?? apikey!
    const claims = await this.verify(token)
    const role = typeof claims.role === 'string' && claims.role ? claims.role : 'anon'
    return { role, claims, token }
  }
}
