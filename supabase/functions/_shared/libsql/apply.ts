// Applies a batch of mirror changes (as util.read_libsql_mirror_changes returns them: the row as it is now,
// or null when it is gone) to LibSQL, idempotently:
//   * changes of one row are coalesced to the highest version (they all read the same current state);
//   * a present row is upserted only if its version is newer than the row's mirror_version and than any
//     tombstone of that key — so a replay or an older change arriving late writes nothing;
//   * an absent row is deleted if older, and leaves a tombstone with the version;
//   * embeddings go to their model's table, created on the model's first vector (dims from Supabase).
// Every write of the batch is one LibSQL transaction: a failure applies nothing and the whole batch is
// retried. Changes that can never apply (invalid, an embedding of a model neither side knows, wrong dims)
// are reported as final failures and left out; the rest of the batch is applied.
import {
  EMBEDDING_COLUMNS,
  ensureVectorModel,
  parseVectorText,
  TABLES,
  toLibsqlValues,
  type VectorModel,
  vectorModels,
} from './schema.ts'
import type { SqlClient, SqlStatement, SqlValue } from './sql-client.ts'

export interface MirrorChange {
  msg_id: number
  attempts: number
  source_table: string | null
  row_key: unknown
  version: number | null
  owner_id: string | null
  status: 'ok' | 'invalid'
  reason: string | null
  /** The row now, or null when it no longer exists. */
  row: Record<string, unknown> | null
  /** For embeddings: the dims of the key's model in Supabase (null: not registered there). */
  model_dims: number | null
}

export interface ApplyFailure {
  msg_id: number
  error: string
  /** True when retrying cannot help: dead-letter now. */
  final: boolean
}

export interface ApplyReport {
  /** Changes applied or found already applied (replays, older versions): done, delete them from the queue. */
  applied: number[]
  failed: ApplyFailure[]
  /** Distinct rows written or tombstoned in this batch (after coalescing). */
  rows: number
  /** The highest version among the applied changes. */
  maxVersion: number
}

interface Unit {
  table: string
  key: unknown[]
  keyText: string
  version: number
  ownerId: string | null
  row: Record<string, unknown> | null
  msgIds: number[]
  model?: VectorModel
}

export async function applyChanges(client: SqlClient, changes: MirrorChange[]): Promise<ApplyReport> {
  const report: ApplyReport = { applied: [], failed: [], rows: 0, maxVersion: 0 }
  const units = new Map<string, Unit>()
  const fail = (ids: number[], error: string, final: boolean) => ids.forEach((msg_id) => report.failed.push({ msg_id, error, final }))

  for (const c of changes) {
    if (c.status !== 'ok' || c.source_table === null || c.version === null || !Array.isArray(c.row_key)) {
      fail([c.msg_id], `invalid change: ${c.reason ?? 'malformed'}`, true)
      continue
    }
    if (!(c.source_table in TABLES) && c.source_table !== 'embeddings') {
      fail([c.msg_id], `invalid change: table ${c.source_table} has no LibSQL table`, true)
      continue
    }
    const keyText = JSON.stringify(c.row_key)
    const id = `${c.source_table}\u0000${keyText}`
    const unit = units.get(id)
    const version = Number(c.version)
    if (!unit) {
      units.set(id, { table: c.source_table, key: c.row_key, keyText, version, ownerId: c.owner_id, row: c.row, msgIds: [c.msg_id] })
    } else {
      unit.msgIds.push(c.msg_id)
      if (version > unit.version) {
        unit.version = version
        unit.row = c.row
      }
    }
  }

  // Embeddings need their model's table: created from Supabase's dims on first sight.
  const embeddingUnits = [...units.values()].filter((u) => u.table === 'embeddings')
  if (embeddingUnits.length) {
    const models = await vectorModels(client)
    const dimsOf = new Map<string, number | null>()
    for (const c of changes) if (c.source_table === 'embeddings' && Array.isArray(c.row_key)) dimsOf.set(String(c.row_key[2]), c.model_dims)
    for (const u of embeddingUnits) {
      const model = String(u.key[2])
      let vm = models.get(model)
      const dims = dimsOf.get(model) ?? null
      try {
        if (!vm && dims === null) {
          throw new Error(`embedding model "${model}" is not registered (not in public.embedding_models, and the mirror has no table for it)`)
        }
        if (!vm) {
          vm = await ensureVectorModel(client, model, dims!)
          models.set(model, vm)
        }
        if (u.row && dims !== null && dims !== vm.dims) {
          throw new Error(`embedding model "${model}" has ${dims} dims in Supabase but the mirror's table ${vm.table} holds ${vm.dims}`)
        }
        u.model = vm
      } catch (err) {
        fail(u.msgIds, (err as Error).message, true)
        units.delete(`embeddings\u0000${u.keyText}`)
      }
    }
  }

  const stmts: SqlStatement[] = []
  for (const u of units.values()) {
    try {
      stmts.push(...(u.row ? upsert(u) : remove(u)))
    } catch (err) {
      fail(u.msgIds, `cannot mirror ${u.table} ${u.keyText}: ${(err as Error).message}`, true)
      units.delete(`${u.table}\u0000${u.keyText}`)
    }
  }
  if (!units.size) return report
  const maxVersion = Math.max(...[...units.values()].map((u) => u.version))
  const now = new Date().toISOString()
  stmts.push({
    sql: `insert into mirror_state (key, value, updated_at) values ('last_applied', json_object('version', ?, 'at', ?), ?)
          on conflict (key) do update set
            value = json_object('version', max(coalesce(json_extract(mirror_state.value, '$.version'), 0), ?), 'at', ?),
            updated_at = excluded.updated_at`,
    args: [maxVersion, now, now, maxVersion, now],
  })
  await client.batch(stmts, 'write')
  for (const u of units.values()) report.applied.push(...u.msgIds)
  report.applied.sort((a, b) => a - b)
  report.rows = units.size
  report.maxVersion = maxVersion
  return report
}

function keyWhere(columns: string[]): string {
  return columns.map((c) => `${c} = ?`).join(' and ')
}

/** The target table, its columns, and the key columns / values within it. */
function target(u: Unit): { table: string; keyCols: string[]; keyVals: SqlValue[] } {
  if (u.table === 'embeddings') return { table: u.model!.table, keyCols: ['source_table', 'source_id'], keyVals: [String(u.key[0]), String(u.key[1])] }
  const spec = TABLES[u.table]
  return { table: spec.name, keyCols: spec.key, keyVals: u.key.map((k) => String(k)) }
}

function upsert(u: Unit): SqlStatement[] {
  const { table, keyCols } = target(u)
  const row = u.row!
  let cols: string[]
  let placeholders: string[]
  let values: SqlValue[]
  if (u.table === 'embeddings') {
    if (typeof row.embedding !== 'string') throw new Error('the embedding row has no vector')
    const vector = parseVectorText(row.embedding)
    if (vector.length !== u.model!.dims) throw new Error(`the vector has ${vector.length} dims, model "${u.model!.name}" stores ${u.model!.dims}`)
    cols = [...EMBEDDING_COLUMNS.map(([c]) => c), 'embedding']
    placeholders = [...EMBEDDING_COLUMNS.map(() => '?'), 'vector32(?)']
    values = [...toLibsqlValues(EMBEDDING_COLUMNS, row, 'embeddings'), row.embedding]
  } else {
    const spec = TABLES[u.table]
    cols = spec.columns.map(([c]) => c)
    values = toLibsqlValues(spec.columns, row, spec.name)
    if (spec.createdUs) {
      cols.push('created_us')
      values.push(Number(row._created_us))
    }
    placeholders = cols.map(() => '?')
  }
  cols.push('mirror_version')
  placeholders.push('?')
  values.push(u.version)
  const updates = cols.filter((c) => !keyCols.includes(c)).map((c) => `${c} = excluded.${c}`).join(', ')
  return [
    {
      sql: `insert into ${table} (${cols.join(', ')}) select ${placeholders.join(', ')}
             where not exists (select 1 from tombstones where source_table = ? and row_key = ? and mirror_version >= ?)
            on conflict (${keyCols.join(', ')}) do update set ${updates} where excluded.mirror_version > ${table}.mirror_version`,
      args: [...values, u.table, u.keyText, u.version],
    },
    // A tombstone older than this version is superseded (the row came back, e.g. a re-created id).
    { sql: 'delete from tombstones where source_table = ? and row_key = ? and mirror_version < ?', args: [u.table, u.keyText, u.version] },
  ]
}

function remove(u: Unit): SqlStatement[] {
  const { table, keyCols, keyVals } = target(u)
  return [
    { sql: `delete from ${table} where ${keyWhere(keyCols)} and mirror_version < ?`, args: [...keyVals, u.version] },
    {
      sql: `insert into tombstones (source_table, row_key, owner_id, mirror_version, deleted_at)
            select ?, ?, ?, ?, ? where not exists (select 1 from ${table} where ${keyWhere(keyCols)} and mirror_version >= ?)
            on conflict (source_table, row_key) do update set mirror_version = excluded.mirror_version, deleted_at = excluded.deleted_at
             where excluded.mirror_version > tombstones.mirror_version`,
      args: [u.table, u.keyText, u.ownerId, u.version, new Date().toISOString(), ...keyVals, u.version],
    },
  ]
}
