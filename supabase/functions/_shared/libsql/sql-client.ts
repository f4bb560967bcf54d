// The part of @libsql/client's Client the mirror code uses, as a structural type: the mirror Edge Function
// (Deno, npm:@libsql/client) and the Node read client, backfill and verify scripts (@libsql/client from
// node_modules) share this code without importing the driver here, so it runs under both.
export type SqlValue = null | string | number | bigint | boolean | ArrayBuffer | Uint8Array

export interface SqlStatement {
  sql: string
  args?: SqlValue[]
}

export interface SqlResult {
  rows: Record<string, unknown>[]
  rowsAffected: number
}

export interface SqlClient {
  execute(stmt: SqlStatement): Promise<SqlResult>
  /** All statements in one transaction ('write': BEGIN IMMEDIATE), rolled back as a whole on error. */
  batch(stmts: SqlStatement[], mode?: 'write' | 'read' | 'deferred'): Promise<SqlResult[]>
  close(): void
}

/** A result row's column as a string (or null). */
export function str(row: Record<string, unknown>, col: string): string | null {
  const v = row[col]
  return v === null || v === undefined ? null : String(v)
}

/** A result row's column as a number (or null). LibSQL returns integers as numbers (intMode 'number'). */
export function num(row: Record<string, unknown>, col: string): number | null {
  const v = row[col]
  return v === null || v === undefined ? null : Number(v)
}
