// Delivers captured changes (realtime.changes, written by the capture triggers of realtime.sql) to
// postgres_changes subscribers, each only when their row level security lets them see the row.
//
// RLS is checked the way Postgres would apply it to that subscriber: in a transaction running as their role
// with their JWT claims, the table's SELECT policies (pg_policy, printed by pg_get_expr) are evaluated on the
// captured row, rebuilt with jsonb_populate_record — permissive policies ORed, restrictive ones ANDed, no
// policy means no row, BYPASSRLS/superuser/owner and RLS-off tables see everything, no SELECT grant sees
// nothing. Checking the captured row (rather than re-reading the table, as hosted Realtime does) also covers
// DELETE: a deleted row is only announced to subscribers who could see it, so a delete reveals nothing
// (hosted Realtime sends deletes unchecked). Checks are batched: one transaction per distinct identity, one
// query per table, with every subscription filter of that identity evaluated in the same query.
import type { Database } from '../core/database.ts'
import { identitySql, quoteIdent, type Identity } from '../core/identity.ts'
import { arrayLiteral, TEXT_SERIALIZERS } from '../postgrest/sql.ts'
import { FILTER_OPS, matchesTable, type Subscription } from './subscriptions.ts'

interface ChangeRow {
  id: number
  schema_name: string
  table_name: string
  op: 'INSERT' | 'UPDATE' | 'DELETE'
  record: string | null
  old_record: string | null
  committed_at: Date
}

interface TableMeta {
  bypass: boolean
  can_select: boolean
  rls: boolean
  force: boolean
  owner: boolean
  replident: string
  policies: { permissive: boolean; qual: string | null }[]
  /** Columns this role may select, in table order, with their type names. */
  columns: { name: string; type: string }[]
  pk: string[]
}

const META_SQL = `
select r.rolsuper or r.rolbypassrls as bypass,
       has_table_privilege(r.oid, c.oid, 'SELECT') as can_select,
       c.relrowsecurity as rls, c.relforcerowsecurity as force, c.relowner = r.oid as owner, c.relreplident as replident,
       coalesce((select json_agg(json_build_object('permissive', p.polpermissive, 'qual', pg_get_expr(p.polqual, p.polrelid)))
                   from pg_policy p
                  where p.polrelid = c.oid and p.polcmd in ('r', '*')
                    and (0 = any(p.polroles) or exists (select 1 from unnest(p.polroles) pr where pg_has_role(r.oid, pr, 'MEMBER')))), '[]') as policies,
       coalesce((select json_agg(json_build_object('name', a.attname, 'type', t.typname) order by a.attnum)
                   from pg_attribute a join pg_type t on t.oid = a.atttypid
                  where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
                    and has_column_privilege(r.oid, c.oid, a.attnum, 'SELECT')), '[]') as columns,
       coalesce((select json_agg(a.attname order by a.attnum) from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey::int2[])
                  where i.indrelid = c.oid and i.indisprimary), '[]') as pk
  from pg_class c, pg_roles r
 where c.oid = to_regclass($1) and r.rolname = $2`

/** A SQL boolean: may this role see the row bound as the table's name? */
function visibility(meta: TableMeta): string {
  if (meta.bypass) return 'true'
  if (!meta.can_select) return 'false'
  if (!meta.rls || (meta.owner && !meta.force)) return 'true'
  const permissive = meta.policies.filter((p) => p.permissive).map((p) => (p.qual ? `(${p.qual})` : 'false'))
  const restrictive = meta.policies.filter((p) => !p.permissive).map((p) => (p.qual ? `(${p.qual})` : 'false'))
  if (!permissive.length) return 'false'
  return `(${permissive.join(' or ')})${restrictive.map((r) => ` and ${r}`).join('')}`
}

interface Verdict {
  /** Subscriptions (of this identity) that receive the change. */
  subs: Subscription[]
  meta: TableMeta
}

export class ChangeFeed {
  private last = 0
  private running: Promise<void> | null = null
  private again = false
  private stopped = false

  constructor(
    private db: Database,
    private searchPath: string,
    private subscriptions: () => Subscription[],
    private deliver: (join: Subscription['join'], ids: number[], data: Record<string, unknown>) => void,
    private log: (line: string) => void,
  ) {}

  /** Forgets changes captured before this server started: they belong to nobody now. */
  async start(): Promise<void> {
    await this.db.exec('delete from realtime.subscribed_relations; delete from realtime.changes;')
  }

  stop(): void {
    this.stopped = true
  }

  /** Called on NOTIFY realtime_changes: drains the table, coalescing wake-ups that arrive meanwhile. */
  wake(): void {
    if (this.stopped) return
    if (this.running) {
      this.again = true
      return
    }
    this.running = this.drain()
      .catch((err) => this.log(`realtime: reading captured changes failed: ${(err as Error).message}`))
      .finally(() => {
        this.running = null
        if (this.again && !this.stopped) {
          this.again = false
          this.wake()
        }
      })
  }

  /** Resolves once everything captured so far has been processed (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running
  }

  private async drain(): Promise<void> {
    for (;;) {
      this.again = false
      const { rows } = await this.db.query<ChangeRow>(
        `select id, schema_name, table_name, op, record::text as record, old_record::text as old_record, committed_at
           from realtime.changes where id > $1 order by id limit 500`,
        [this.last],
      )
      if (!rows.length || this.stopped) return
      this.last = Number(rows[rows.length - 1].id)
      try {
        await this.process(rows)
      } catch (err) {
        this.log(`realtime: delivering changes failed: ${(err as Error).message}`)
      }
      await this.db.query('delete from realtime.changes where id <= $1', [this.last])
    }
  }

  private async process(rows: ChangeRow[]): Promise<void> {
    const subs = this.subscriptions()
    if (!subs.length) return
    // Candidates: per identity, per table, the changes and the subscriptions that could want them.
    const groups = new Map<string, { identity: Identity; tables: Map<string, { schema: string; table: string; changes: ChangeRow[]; subs: Set<Subscription> }> }>()
    for (const change of rows) {
      for (const s of subs) {
        if (!matchesTable(s, change.schema_name, change.table_name) || (s.event !== '*' && s.event !== change.op)) continue
        const key = JSON.stringify([s.join.identity.role, s.join.identity.claims])
        let g = groups.get(key)
        if (!g) groups.set(key, (g = { identity: s.join.identity, tables: new Map() }))
        const tkey = `${change.schema_name}.${change.table_name}`
        let t = g.tables.get(tkey)
        if (!t) g.tables.set(tkey, (t = { schema: change.schema_name, table: change.table_name, changes: [], subs: new Set() }))
        if (t.changes.at(-1) !== change) t.changes.push(change)
        t.subs.add(s)
      }
    }
    const verdicts = new Map<ChangeRow, Verdict[]>()
    for (const g of groups.values()) {
      try {
        await this.check(g.identity, [...g.tables.values()], verdicts)
      } catch (err) {
        this.log(`realtime: RLS check as ${g.identity.role} failed, nothing delivered to it: ${(err as Error).message}`)
      }
    }
    // Deliver in commit order; one message per channel, naming the subscription ids it matched.
    for (const change of rows) {
      for (const v of verdicts.get(change) ?? []) {
        const byJoin = new Map<Subscription['join'], number[]>()
        for (const s of v.subs) byJoin.set(s.join, [...(byJoin.get(s.join) ?? []), s.id])
        const data = payload(change, v.meta)
        for (const [join, ids] of byJoin) this.deliver(join, ids, data)
      }
    }
  }

  private async check(
    identity: Identity,
    tables: { schema: string; table: string; changes: ChangeRow[]; subs: Set<Subscription> }[],
    verdicts: Map<ChangeRow, Verdict[]>,
  ): Promise<void> {
    await this.db.transaction(async (tx) => {
      // Policies are printed relative to the search_path the checks then run with.
      await tx.query(`select set_config('search_path', $1, true)`, [this.searchPath])
      const metas = new Map<string, TableMeta | undefined>()
      for (const t of tables) {
        const r = await tx.query<TableMeta>(META_SQL, [`${quoteIdent(t.schema)}.${quoteIdent(t.table)}`, identity.role])
        metas.set(`${t.schema}.${t.table}`, r.rows[0])
      }
      await tx.exec(identitySql(identity))
      for (const t of tables) {
        const meta = metas.get(`${t.schema}.${t.table}`)
        if (!meta) continue
        const alias = quoteIdent(t.table)
        const params: unknown[] = ['[' + t.changes.map((c) => (c.op === 'DELETE' ? c.old_record : c.record) ?? 'null').join(',') + ']']
        const subs = [...t.subs]
        const filterCols = subs.map((s, i) => {
          if (!s.filter) return `true as f${i}`
          const col = `${alias}.${quoteIdent(s.filter.column)}`
          if (s.filter.op === 'in') {
            params.push(arrayLiteral(s.filter.value as string[]))
            return `coalesce(${col} = any($${params.length}), false) as f${i}`
          }
          params.push(s.filter.value)
          return `coalesce(${col} ${FILTER_OPS[s.filter.op]} $${params.length}, false) as f${i}`
        })
        const vis = visibility(meta)
        if (vis === 'false') continue
        const sql = `select c._rt_idx::int as idx, coalesce(${vis}, false) as visible, ${filterCols.join(', ')}
                       from jsonb_array_elements($1::jsonb) with ordinality as c(_rt_rec, _rt_idx),
                            lateral jsonb_populate_record(null::${quoteIdent(t.schema)}.${alias}, c._rt_rec) as ${alias}`
        const { rows } = await tx.query<Record<string, unknown>>(sql, params, { serializers: TEXT_SERIALIZERS })
        for (const row of rows) {
          if (!row.visible) continue
          const change = t.changes[Number(row.idx) - 1]
          const matched = subs.filter((s, i) => (s.event === '*' || s.event === change.op) && row[`f${i}`] === true)
          if (!matched.length) continue
          const list = verdicts.get(change) ?? []
          list.push({ subs: matched, meta })
          verdicts.set(change, list)
        }
      }
    })
  }
}

function pick(record: Record<string, unknown> | null, columns: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  if (!record) return out
  for (const c of columns) if (c in record) out[c] = record[c]
  return out
}

/** The `data` of a postgres_changes message, shaped as hosted Realtime sends it. */
function payload(change: ChangeRow, meta: TableMeta): Record<string, unknown> {
  const visible = meta.columns.map((c) => c.name)
  const data: Record<string, unknown> = {
    schema: change.schema_name,
    table: change.table_name,
    commit_timestamp: new Date(change.committed_at).toISOString(),
    type: change.op,
    columns: meta.columns,
    errors: null,
  }
  if (change.op !== 'DELETE') data.record = pick(JSON.parse(change.record ?? 'null'), visible)
  if (change.op !== 'INSERT') {
    // As hosted: the old row in full only with REPLICA IDENTITY FULL on a table without RLS, else its key.
    const keys = meta.replident === 'f' && !meta.rls ? visible : meta.pk.filter((k) => visible.includes(k))
    data.old_record = pick(JSON.parse(change.old_record ?? 'null'), keys)
  }
  return data
}
