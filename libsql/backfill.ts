// mirror:backfill — brings LibSQL in line with Supabase without waiting for row changes: for every mirrored
// table, pages of 'backfill' changes (util.enqueue_libsql_mirror_backfill: the rows are locked while their
// versions are taken, so a concurrent write is never overtaken), drained here with the mirror's own apply code
// (the cron-driven function may drain them too; either is fine). Then LibSQL rows Supabase has no key for get
// a 'recheck' change at the version LibSQL holds: applied, it tombstones them if they are really gone.
// Resumable: after each page the table and last key are stored in LibSQL (mirror_state 'backfill'), and a
// run picks up there; `fresh` starts over.
import type { Client } from '@libsql/client'
import { processMirrorBatch } from '../supabase/functions/mirror/batch.ts'
import { MIRRORED_TABLES, TABLES, vectorModels } from '../supabase/functions/_shared/libsql/schema.ts'
import type { SqlClient } from '../supabase/functions/_shared/libsql/sql-client.ts'
import { changeStore, type Sql } from './pg.ts'

export interface BackfillProgress {
  table: string
  /** Rows queued and applied so far in this table. */
  done: number
  total: number
}

export interface BackfillOptions {
  pageSize?: number
  fresh?: boolean
  onProgress?: (p: BackfillProgress) => void
  /** Stop after this many pages (tests of resuming). */
  maxPages?: number
}

interface State {
  completed: string[]
  table?: string
  last_key?: unknown[] | null
}

async function loadState(client: Client): Promise<State> {
  const rs = await client.execute({ sql: "select value from mirror_state where key = 'backfill'" })
  return rs.rows.length ? JSON.parse(String(rs.rows[0].value)) : { completed: [] }
}

async function saveState(client: Client, state: State | null): Promise<void> {
  if (state === null) await client.execute({ sql: "delete from mirror_state where key = 'backfill'" })
  else {
    await client.execute({
      sql: "insert into mirror_state (key, value, updated_at) values ('backfill', ?, ?) on conflict (key) do update set value = excluded.value, updated_at = excluded.updated_at",
      args: [JSON.stringify(state), new Date().toISOString()],
    })
  }
}

async function drain(sql: Sql, client: Client): Promise<void> {
  const store = changeStore(sql)
  for (let idle = 0; idle < 200;) {
    const r = await processMirrorBatch({ store, libsql: client as unknown as SqlClient }, { batchSize: 1000, visibilityTimeoutSeconds: 60 })
    const [{ n }] = await sql`select (pgmq.metrics('libsql_mirror')).queue_length::int as n`
    if (n === 0) return
    if (r.read === 0) {
      idle++
      await new Promise((res) => setTimeout(res, 250))
    }
  }
}

/** Returns whether the backfill finished (false: stopped after maxPages, resumable). */
export async function backfill(sql: Sql, client: Client, opts: BackfillOptions = {}): Promise<boolean> {
  const pageSize = opts.pageSize ?? 1000
  let state = opts.fresh ? { completed: [] } : await loadState(client)
  let pages = 0
  for (const table of MIRRORED_TABLES) {
    if (state.completed.includes(table)) continue
    const [{ total }] = await sql`select count(*)::int as total from ${sql('public')}.${sql(table)}`
    let after = state.table === table ? (state.last_key ?? null) : null
    let done = 0
    opts.onProgress?.({ table, done, total })
    for (;;) {
      if (opts.maxPages !== undefined && pages >= opts.maxPages) return false
      const [page] = await sql`select sent, last_key from util.enqueue_libsql_mirror_backfill(${table}, ${after === null ? null : sql.json(after as never)}, ${pageSize})`
      if (page.sent === 0) break
      await drain(sql, client)
      pages++
      after = page.last_key
      done += page.sent
      state = { ...state, table, last_key: after as unknown[] }
      await saveState(client, state)
      opts.onProgress?.({ table, done: Math.min(done, total), total })
    }
    await recheckOrphans(sql, client, table)
    state = { completed: [...state.completed, table] }
    await saveState(client, state)
  }
  await saveState(client, null)
  return true
}

/** LibSQL rows of `table` whose key Supabase does not have: a recheck change at the version LibSQL holds. */
async function recheckOrphans(sql: Sql, client: Client, table: string): Promise<void> {
  const sources: { sql: string; key: (r: Record<string, unknown>) => unknown[] }[] = []
  if (table === 'embeddings') {
    for (const m of (await vectorModels(client as unknown as SqlClient)).values()) {
      sources.push({ sql: `select source_table, source_id, model, owner_id, mirror_version from ${m.table}`, key: (r) => [r.source_table, r.source_id, r.model] })
    }
  } else {
    const spec = TABLES[table]
    sources.push({ sql: `select ${spec.key.join(', ')}, owner_id, mirror_version from ${spec.name}`, key: (r) => spec.key.map((k) => r[k]) })
  }
  const present = new Set<string>()
  let after: unknown[] | null = null
  for (;;) {
    const rows = await sql`select row_key from util.libsql_mirror_snapshot(${table}, ${after === null ? null : sql.json(after as never)}, 10000)`
    for (const r of rows) present.add(JSON.stringify(r.row_key))
    if (rows.length < 10000) break
    after = rows[rows.length - 1].row_key as unknown[]
  }
  const orphans: { t: string; k: unknown[]; o: unknown; v: number }[] = []
  for (const s of sources) {
    for (const r of (await client.execute({ sql: s.sql })).rows as unknown as Record<string, unknown>[]) {
      const k = s.key(r)
      if (!present.has(JSON.stringify(k))) orphans.push({ t: table, k, o: r.owner_id, v: Number(r.mirror_version) })
    }
  }
  for (let i = 0; i < orphans.length; i += 1000) {
    await sql`select util.enqueue_libsql_mirror_recheck(${sql.json(orphans.slice(i, i + 1000) as never)})`
  }
  if (orphans.length) await drain(sql, client)
}
