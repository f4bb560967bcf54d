// PostgREST's schema cache: the functions, tables and views of the exposed schemas, read from pg_catalog.
// Reloaded on a miss (a function, table or column a request names but the cache does not know — at most
// once per MISS_RELOAD_MS) and on `NOTIFY pgrst, 'reload schema'`, as PostgREST does.
import type { Database } from '../core/database.ts'

export interface RoutineArg {
  name: string
  /** SQL type as format_type prints it, usable in a column definition list. */
  type: string
  /** i (in), o (out), b (inout), v (variadic), t (returns table column). */
  mode: 'i' | 'o' | 'b' | 'v' | 't'
  hasDefault: boolean
}

export interface Routine {
  schema: string
  name: string
  args: RoutineArg[]
  /** Input arguments (in, inout, variadic), in declaration order. */
  inputs: RoutineArg[]
  returnsSet: boolean
  volatility: 'i' | 's' | 'v'
  /** void → 204; scalar → JSON value; composite → object (array of objects when returnsSet). */
  returns: 'void' | 'scalar' | 'composite'
  returnType: string
}

export interface Column {
  name: string
  type: string
  /** pg_type.typname, as realtime payloads name column types (int4, text, _text, …). */
  udt: string
  /** The column default as SQL (pg_get_expr), for Prefer: missing=default. */
  default: string | null
}

export interface Relation {
  schema: string
  name: string
  kind: string
  columns: Column[]
  pk: string[]
}

interface CacheData {
  routines: Routine[]
  relations: Relation[]
}

const MISS_RELOAD_MS = 250

const LOAD_SQL = `
select json_build_object(
  'routines', (select coalesce(json_agg(f), '[]') from (
    select n.nspname as schema, p.proname as name, p.proretset as "returnsSet", p.provolatile as volatility,
           p.pronargdefaults as ndefaults, t.typname as rettypname, t.typtype as rettyptype,
           format_type(p.prorettype, null) as "returnType",
           coalesce((select json_agg(json_build_object(
                       'name', coalesce(p.proargnames[a.i], ''),
                       'type', format_type(a.t, null),
                       'mode', coalesce(p.proargmodes[a.i], 'i')) order by a.i)
                     from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) with ordinality as a(t, i)), '[]') as args
      from pg_proc p
      join pg_namespace n on n.oid = p.pronamespace
      join pg_type t on t.oid = p.prorettype
     where n.nspname = any($1) and p.prokind = 'f'
       and t.typname not in ('trigger', 'event_trigger', 'internal', 'language_handler', 'fdw_handler', 'index_am_handler', 'table_am_handler', 'tsm_handler')
  ) f),
  'relations', (select coalesce(json_agg(r), '[]') from (
    select n.nspname as schema, c.relname as name, c.relkind as kind,
           coalesce((select json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod), 'udt', ty.typname,
                                                        'default', pg_get_expr(d.adbin, d.adrelid)) order by a.attnum)
                       from pg_attribute a join pg_type ty on ty.oid = a.atttypid
                       left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
                      where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped), '[]') as columns,
           coalesce((select json_agg(a.attname order by array_position(i.indkey::int2[], a.attnum))
                       from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey::int2[])
                      where i.indrelid = c.oid and i.indisprimary),
                    -- A view's primary key is its base table's when the view selects every key column (PostgREST's
                    -- addViewPrimaryKeys), so upserts through an updatable view work. Stand-in simplification: the
                    -- view over exactly one table, the key columns under their own names (PostgREST follows renames).
                    (select json_agg(a.attname order by array_position(i.indkey::int2[], a.attnum))
                       from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey::int2[])
                      where c.relkind = 'v' and i.indisprimary
                        and i.indrelid = (select min(d.refobjid) from pg_rewrite rw
                                            join pg_depend d on d.classid = 'pg_rewrite'::regclass and d.objid = rw.oid
                                                            and d.refclassid = 'pg_class'::regclass and d.refobjid <> c.oid
                                           where rw.ev_class = c.oid
                                          having count(distinct d.refobjid) = 1)
                        and not exists (select from unnest(i.indkey::int2[]) k(attnum)
                                         join pg_attribute ka on ka.attrelid = i.indrelid and ka.attnum = k.attnum
                                        where not exists (select from pg_attribute va where va.attrelid = c.oid
                                                             and va.attname = ka.attname and not va.attisdropped))),
                    '[]') as pk
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = any($1) and c.relkind in ('r', 'v', 'm', 'f', 'p')
  ) r)
)::text as cache`

interface RawRoutine {
  schema: string
  name: string
  returnsSet: boolean
  volatility: 'i' | 's' | 'v'
  ndefaults: number
  rettypname: string
  rettyptype: string
  returnType: string
  args: { name: string; type: string; mode: RoutineArg['mode'] }[]
}

function toRoutine(r: RawRoutine): Routine {
  const args: RoutineArg[] = r.args.map((a) => ({ ...a, hasDefault: false }))
  const inputs = args.filter((a) => a.mode === 'i' || a.mode === 'b' || a.mode === 'v')
  for (let i = inputs.length - r.ndefaults; i < inputs.length; i++) if (i >= 0) inputs[i].hasDefault = true
  const hasOut = args.some((a) => a.mode === 'o' || a.mode === 'b' || a.mode === 't')
  const returns =
    r.rettypname === 'void' ? 'void' : r.rettyptype === 'c' || (r.rettypname === 'record' && hasOut) || r.rettypname === 'record' ? 'composite' : 'scalar'
  return { schema: r.schema, name: r.name, args, inputs, returnsSet: r.returnsSet, volatility: r.volatility, returns, returnType: r.returnType }
}

export class SchemaCache {
  private data: CacheData | null = null
  private loading: Promise<CacheData> | null = null
  private loadedAt = 0
  private stale = false

  constructor(
    private db: Database,
    private schemas: string[],
  ) {}

  /** Marks the cache stale (NOTIFY pgrst, 'reload schema'); the next lookup reloads. */
  invalidate(): void {
    this.stale = true
  }

  private async get(): Promise<CacheData> {
    if (this.data && !this.stale) return this.data
    return this.reload()
  }

  private reload(): Promise<CacheData> {
    if (this.loading) return this.loading
    this.stale = false
    this.loading = (async () => {
      try {
        const r = await this.db.query<{ cache: string }>(LOAD_SQL, [this.schemas])
        const raw = JSON.parse(r.rows[0].cache) as { routines: RawRoutine[]; relations: Relation[] }
        this.data = { routines: raw.routines.map(toRoutine), relations: raw.relations }
        this.loadedAt = Date.now()
        return this.data
      } finally {
        this.loading = null
      }
    })()
    return this.loading
  }

  /** Runs `find` on the cache; on a miss reloads once (unless just loaded) and tries again. */
  private async lookup<T>(find: (d: CacheData) => T | undefined): Promise<{ found: T | undefined; data: CacheData }> {
    let data = await this.get()
    let found = find(data)
    if (found === undefined && Date.now() - this.loadedAt > MISS_RELOAD_MS) {
      data = await this.reload()
      found = find(data)
    }
    return { found, data }
  }

  /** Functions named `name` in `schema`; `accept` decides whether one of them fits the request. */
  async routines(schema: string, name: string, accept: (r: Routine[]) => boolean): Promise<{ overloads: Routine[]; all: Routine[] }> {
    const pick = (d: CacheData) => d.routines.filter((r) => r.schema === schema && r.name === name)
    const { found, data } = await this.lookup((d) => {
      const o = pick(d)
      return accept(o) ? o : undefined
    })
    return { overloads: found ?? pick(data), all: data.routines.filter((r) => r.schema === schema) }
  }

  /** The table or view, or undefined with the names of the schema's relations (for a hint). */
  async relation(schema: string, name: string, needColumns: string[] = []): Promise<{ relation?: Relation; names: string[] }> {
    const { found, data } = await this.lookup((d) => {
      const rel = d.relations.find((r) => r.schema === schema && r.name === name)
      if (!rel) return undefined
      return needColumns.every((c) => rel.columns.some((col) => col.name === c)) ? rel : undefined
    })
    const relation = found ?? data.relations.find((r) => r.schema === schema && r.name === name)
    return { relation, names: data.relations.filter((r) => r.schema === schema).map((r) => r.name) }
  }
}

const caches = new WeakMap<Database, SchemaCache>()

/** The cache for a database, listening for `NOTIFY pgrst, 'reload schema'` from the first use on. */
export function schemaCacheFor(db: Database, schemas: string[]): SchemaCache {
  let cache = caches.get(db)
  if (!cache) {
    const created = new SchemaCache(db, schemas)
    cache = created
    caches.set(db, created)
    db.listen('pgrst', (payload) => {
      if (payload === '' || payload === 'reload schema') created.invalidate()
    }).catch(() => created.invalidate())
  }
  return cache
}
