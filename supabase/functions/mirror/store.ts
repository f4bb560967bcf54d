// The mirror worker's view of Postgres: the SQL functions of the change queue
// (supabase/migrations/*_libsql_mirror_worker.sql), called with postgres.js over SUPABASE_DB_URL as the embed
// function does (`prepare: false`: the connection may be shared — Supavisor's transaction pooler on hosted
// projects, the embedded stack's single session locally).
import postgres from 'npm:postgres@3.4.9'
import type { MirrorChange } from '../_shared/libsql/apply.ts'

export type Sql = ReturnType<typeof postgres>

export type { ChangeFailure, ChangeStore, MirrorSettings } from './store-types.ts'
import type { ChangeStore, MirrorSettings, ChangeFailure } from './store-types.ts'

export function connect(url: string): Sql {
  return postgres(url, { prepare: false, max: 2, idle_timeout: 30, connect_timeout: 10, onnotice: () => {} })
}

export function postgresChangeStore(sql: Sql): ChangeStore {
  return {
    async settings() {
      const [row] = await sql`select util.libsql_mirror_settings() as s`
      return row.s as MirrorSettings
    },
    async read(batchSize, vt) {
      const rows = await sql`select * from util.read_libsql_mirror_changes(${batchSize}, ${vt})`
      return rows.map((r) => ({
        ...(r as unknown as MirrorChange),
        msg_id: Number(r.msg_id),
        version: r.version === null ? null : Number(r.version),
      }))
    },
    async complete(msgIds) {
      const [row] = await sql`select util.complete_libsql_mirror_changes(${msgIds}::bigint[]) as n`
      return row.n as number
    },
    async fail(failures) {
      const rows = await sql`select msg_id, outcome, attempts from util.fail_libsql_mirror_changes(${sql.json(failures as never)})`
      return rows.map((r) => ({ msg_id: Number(r.msg_id), outcome: r.outcome, attempts: r.attempts }))
    },
  }
}

/** Supabase's side of mirror:verify: util.libsql_mirror_snapshot pages. */
export function postgresSnapshotSource(sql: Sql) {
  return {
    async page(table: string, afterKey: unknown[] | null, pageSize: number) {
      const rows = await sql`select row_key, "row" from util.libsql_mirror_snapshot(${table}, ${
        afterKey === null ? null : sql.json(afterKey as never)
      }, ${pageSize})`
      return rows.map((r) => ({ row_key: r.row_key as unknown[], row: r.row as Record<string, unknown> }))
    },
  }
}
