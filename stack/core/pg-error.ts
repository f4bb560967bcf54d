// A Postgres error as the server reported it, whatever layer caught it.

/** A Postgres error as the server reported it (SQLSTATE, message, detail, hint, position). */
export class PgError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly detail?: string,
    readonly hint?: string,
    readonly position?: number,
    readonly where?: string,
  ) {
    super(message)
    this.name = 'PgError'
  }

  /** Converts whatever PGlite threw (a DatabaseError or anything else) into a PgError. */
  static from(err: unknown): PgError {
    if (err instanceof PgError) return err
    const e = err as { message?: string; code?: string; detail?: string; hint?: string; position?: string; where?: string }
    return new PgError(
      e?.message ?? String(err),
      e?.code ?? 'XX000',
      e?.detail || undefined,
      e?.hint || undefined,
      e?.position ? Number(e.position) : undefined,
      e?.where || undefined,
    )
  }
}
