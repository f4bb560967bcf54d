// mirror:verify's comparison: every mirrored table, row by row, between Supabase (util.libsql_mirror_snapshot,
// paged) and LibSQL, through the mapping the mirror writes with (./schema.ts). Reports per table the row
// counts and a content hash of each side (rows' hashes in key order), and every difference: a row missing in
// LibSQL, a row LibSQL has that Supabase does not, or a row whose content differs (naming the columns).
import { EMBEDDING_COLUMNS, hex, parseVectorText, TABLES, toLibsqlValues, vectorModels } from './schema.ts'
import type { SqlClient, SqlValue } from './sql-client.ts'

export interface SnapshotSource {
  /** util.libsql_mirror_snapshot(table, afterKey, pageSize). */
  page(table: string, afterKey: unknown[] | null, pageSize: number): Promise<{ row_key: unknown[]; row: Record<string, unknown> }[]>
}

export interface TableReport {
  table: string
  supabase_rows: number
  libsql_rows: number
  supabase_hash: string
  libsql_hash: string
  differences: number
}

export interface Difference {
  table: string
  key: string
  kind: 'missing_in_libsql' | 'only_in_libsql' | 'content_differs'
  /** For content_differs: the columns whose values differ. */
  columns?: string[]
}

export interface VerifyReport {
  tables: TableReport[]
  differences: Difference[]
}

/** cyrb53: a fast 53-bit string hash, as 14 hex digits. */
export function hash53(text: string, seed = 0): string {
  let h1 = 0xdeadbeef ^ seed
  let h2 = 0x41c6ce57 ^ seed
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i)
    h1 = Math.imul(h1 ^ ch, 2654435761)
    h2 = Math.imul(h2 ^ ch, 1597334677)
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909)
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909)
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(16).padStart(14, '0')
}

type Values = Record<string, string>

function normalise(v: SqlValue | unknown): string {
  if (v === null || v === undefined) return 'null'
  if (v instanceof ArrayBuffer) return hex(new Uint8Array(v))
  if (v instanceof Uint8Array) return hex(v)
  return JSON.stringify(typeof v === 'bigint' ? Number(v) : v)
}

function tableHash(rows: Map<string, Values>): string {
  const keys = [...rows.keys()].sort()
  return hash53(keys.map((k) => k + '=' + hash53(JSON.stringify(rows.get(k)))).join('\n'))
}

async function supabaseSide(source: SnapshotSource, table: string): Promise<Map<string, Values>> {
  const out = new Map<string, Values>()
  let after: unknown[] | null = null
  for (;;) {
    const page = await source.page(table, after, 2000)
    for (const { row_key, row } of page) {
      const values: Values = {}
      if (table === 'embeddings') {
        const mapped = toLibsqlValues(EMBEDDING_COLUMNS, row, table)
        EMBEDDING_COLUMNS.forEach(([c], i) => (values[c] = normalise(mapped[i])))
        values.embedding = hex(new Uint8Array(parseVectorText(String(row.embedding)).buffer))
      } else {
        const spec = TABLES[table]
        const mapped = toLibsqlValues(spec.columns, row, table)
        spec.columns.forEach(([c], i) => (values[c] = normalise(mapped[i])))
        if (spec.createdUs) values.created_us = normalise(Number(row._created_us))
      }
      out.set(JSON.stringify(row_key), values)
    }
    if (page.length < 2000) return out
    after = page[page.length - 1].row_key
  }
}

async function libsqlSide(client: SqlClient, table: string): Promise<Map<string, Values>> {
  const out = new Map<string, Values>()
  if (table === 'embeddings') {
    for (const m of (await vectorModels(client)).values()) {
      const cols = [...EMBEDDING_COLUMNS.map(([c]) => c), 'embedding']
      for (const r of (await client.execute({ sql: `select ${cols.join(', ')} from ${m.table}` })).rows) {
        const values: Values = {}
        for (const c of cols) values[c] = normalise(r[c])
        out.set(JSON.stringify([r.source_table, r.source_id, r.model]), values)
      }
    }
    return out
  }
  const spec = TABLES[table]
  const cols = [...spec.columns.map(([c]) => c), ...(spec.createdUs ? ['created_us'] : [])]
  for (const r of (await client.execute({ sql: `select ${cols.join(', ')} from ${spec.name}` })).rows) {
    const values: Values = {}
    for (const c of cols) values[c] = normalise(r[c])
    out.set(JSON.stringify(spec.key.map((k) => r[k])), values)
  }
  return out
}

export async function verifyMirror(source: SnapshotSource, client: SqlClient): Promise<VerifyReport> {
  const report: VerifyReport = { tables: [], differences: [] }
  for (const table of [...Object.keys(TABLES), 'embeddings']) {
    const pg = await supabaseSide(source, table)
    const lib = await libsqlSide(client, table)
    const before = report.differences.length
    for (const [key, values] of pg) {
      const other = lib.get(key)
      if (!other) report.differences.push({ table, key, kind: 'missing_in_libsql' })
      else {
        const columns = Object.keys(values).filter((c) => values[c] !== other[c])
        if (columns.length) report.differences.push({ table, key, kind: 'content_differs', columns })
      }
    }
    for (const key of lib.keys()) if (!pg.has(key)) report.differences.push({ table, key, kind: 'only_in_libsql' })
    report.tables.push({
      table,
      supabase_rows: pg.size,
      libsql_rows: lib.size,
      supabase_hash: tableHash(pg),
      libsql_hash: tableHash(lib),
      differences: report.differences.length - before,
    })
  }
  return report
}
