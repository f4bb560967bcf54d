// Supabase's side of the Node mirror tools (backfill, verify, bench): the worker SQL of the change queue over
// postgres.js as postgres (SUPABASE_DB_URL; `prepare: false`, as the Edge Functions connect).
import postgres from 'postgres'
import type { MirrorChange } from '../supabase/functions/_shared/libsql/apply.ts'
import type { SnapshotSource } from '../supabase/functions/_shared/libsql/verify.ts'
import type { ChangeFailure, ChangeStore, MirrorSettings } from '../supabase/functions/mirror/store-types.ts'

export const DEFAULT_DB_URL = 'postgresql://postgres:postgres@127.0.0.1:54322/postgres'

export type Sql = ReturnType<typeof postgres>

export function connectPostgres(url = process.env.SUPABASE_DB_URL ?? DEFAULT_DB_URL): Sql {
  return postgres(url, { prepare: false, max: 2, onnotice: () => {} })
}

export function changeStore(sql: Sql): ChangeStore {
  return {
    async settings() {
      const [row] = await sql`select util.libsql_mirror_settings() as s`
      return row.s as MirrorSettings
    },
    async read(batchSize, vt) {
      const rows = await sql`select * from util.read_libsql_mirror_changes(${batchSize}, ${vt})`
      return rows.map((r) => ({ ...(r as unknown as MirrorChange), msg_id: Number(r.msg_id), version: r.version === null ? null : Number(r.version) }))
    },
    async complete(msgIds) {
      const [row] = await sql`select util.complete_libsql_mirror_changes(${msgIds}::bigint[]) as n`
      return row.n as number
    },
    async fail(failures: ChangeFailure[]) {
      const rows = await sql`select msg_id, outcome, attempts from util.fail_libsql_mirror_changes(${sql.json(failures as never)})`
      return rows.map((r) => ({ msg_id: Number(r.msg_id), outcome: r.outcome, attempts: r.attempts }))
    },
  }
}

export function snapshotSource(sql: Sql): SnapshotSource {
  return {
    async page(table, afterKey, pageSize) {
      const rows = await sql`select row_key, "row" from util.libsql_mirror_snapshot(${table}, ${afterKey === null ? null : sql.json(afterKey as never)}, ${pageSize})`
      return rows.map((r) => ({ row_key: r.row_key as unknown[], row: r.row as Record<string, unknown> }))
    },
  }
}
