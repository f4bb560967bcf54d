// Who a request runs as, and the one place that turns it into SQL. PostgREST starts every request's
// transaction by setting the role, `request.jwt.claims` and the other `request.*` settings with
// `set_config(..., true)` (transaction-local: the embedded database has ONE session, so nothing may be
// set for the session). The REST handler, the Realtime RLS checks, the cron scheduler, the pgTAP runner
// and the stack's own calls (Database.transaction / Database.script with an identity) all use this.

/** A database role, the JWT claims exposed as `request.jwt.claims`, and extra transaction-local settings. */
export interface Identity {
  role: string
  claims?: Record<string, unknown> | null
  /** Extra transaction-local settings, e.g. `request.headers`, `search_path`. */
  settings?: Record<string, string>
}

export function quoteLiteral(value: string): string {
  return "'" + value.replace(/'/g, "''") + "'"
}

export function quoteIdent(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"'
}

/**
 * One statement that makes the rest of the current transaction run as `identity`: role, claims (`{}` when
 * none) and each extra setting, all `set_config(..., true)`. With `readOnly` it is preceded by
 * `set transaction read only` (PostgREST does this for GET/HEAD and stable functions). Run it first in
 * the transaction.
 */
export function identitySql(identity: Identity, opts: { readOnly?: boolean } = {}): string {
  const parts = [
    `set_config('role', ${quoteLiteral(identity.role)}, true)`,
    `set_config('request.jwt.claims', ${quoteLiteral(JSON.stringify(identity.claims ?? {}))}, true)`,
    ...Object.entries(identity.settings ?? {}).map(([k, v]) => `set_config(${quoteLiteral(k)}, ${quoteLiteral(v)}, true)`),
  ]
  return `${opts.readOnly ? 'set transaction read only; ' : ''}select ${parts.join(', ')}`
}
