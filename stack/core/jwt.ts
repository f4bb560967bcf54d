// Access tokens for users of the local stack, shaped like the ones Supabase Auth issues (HS256 with the
// project's JWT secret; `sub`, `role`, `aud`, `iat`, `exp`). The stack has no Auth server: tests,
// benchmarks and the eval harness create users in auth.users and sign their tokens with this.
import { SignJWT } from 'jose'
import { LOCAL_JWT_SECRET } from './keys.ts'

export async function signAccessToken(
  claims: Record<string, unknown>,
  opts: { expiresIn?: string | number; secret?: string } = {},
): Promise<string> {
  const jwt = new SignJWT({ aud: 'authenticated', role: 'authenticated', ...claims })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime(opts.expiresIn ?? '1h')
  if (typeof claims.sub === 'string') jwt.setSubject(claims.sub)
  return jwt.sign(new TextEncoder().encode(opts.secret ?? LOCAL_JWT_SECRET))
}
