// Request authentication as Supabase's API gateway and PostgREST do it: the `apikey` header (or query
// parameter) must be a key signed with the project's JWT secret; the role comes from the Bearer token in
// `Authorization` (a user's access token, or the key itself). Tokens are HS256 JWTs verified with jose.
import type { IncomingMessage } from 'node:http'
import { errors as joseErrors, jwtVerify, type JWTPayload } from 'jose'
import { ApiError } from './http.ts'

export interface AuthResult {
  role: string
  claims: JWTPayload & { role?: string; sub?: string }
  token: string
}

const NO_KEY_HINT = 'Send the anon key or an access token as "Authorization: Bearer <token>" or in the apikey header'

export class Authenticator {
  private secret: Uint8Array

  constructor(jwtSecret: string) {
    this.secret = new TextEncoder().encode(jwtSecret)
  }

  /** Verifies a token; throws ApiError 401 (PGRST301 invalid, PGRST303 expired) otherwise. */
  async verify(token: string): Promise<AuthResult['claims']> {
    try {
      const { payload } = await jwtVerify(token, this.secret, { algorithms: ['HS256'], clockTolerance: 0 })
      return payload as AuthResult['claims']
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) {
        throw new ApiError(401, 'PGRST303', 'JWT expired', null, null, { 'www-authenticate': 'Bearer error="invalid_token", error_description="JWT expired"' })
      }
      const reason =
        err instanceof joseErrors.JWSSignatureVerificationFailed
          ? 'JWSError JWSInvalidSignature'
          : err instanceof joseErrors.JWTClaimValidationFailed
            ? `JWT claim "${err.claim}" failed validation: ${err.reason}`
            : `JWT could not be decoded: ${(err as Error).message}`
      throw new ApiError(401, 'PGRST301', reason, null, null, { 'www-authenticate': `Bearer error="invalid_token"` })
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
        throw new ApiError(401, e.code, `Invalid API key: ${e.message}`, null, NO_KEY_HINT)
      }
    }
    const token = bearer ?? apikey!
    const claims = await this.verify(token)
    const role = typeof claims.role === 'string' && claims.role ? claims.role : 'anon'
    return { role, claims, token }
  }
}
