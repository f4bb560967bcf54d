// Checks the project's use of pgmq against the SQL API of a given pgmq version (scripts/fixtures/pgmq-*.api,
// signatures read from pgmq's published SQL). Hosted Supabase offers pgmq 1.5.1 (older projects 1.4.4); the
// local stack runs 1.11, which accepts calls 1.5.1 refuses — so this check is what keeps the SQL deployable.
//
// What it checks, in supabase/**/*.sql and supabase/functions/**/*.ts:
//   * every call `pgmq.<fn>(…)`: the function exists in that version with an overload that takes the
//     arguments — their number, their names (`name => value`), and their types as far as they can be read
//     from the text (literals, casts, timestamp expressions such as now() or clock_timestamp() + …, and the
//     declared type of a PL/pgSQL parameter or variable). A `vt` or `delay` argument must be seen to be an
//     integer number of seconds: write an integer, an integer variable, or a cast (`…::integer`).
//   * every direct read of a queue table `pgmq.q_<queue>` or archive `pgmq.a_<queue>`: allowed only where no
//     pgmq function does the job (reading a job by msg_id without changing its visibility), aliased
//     (`pgmq.q_jobs q`), and using only that version's columns through the alias (`q.msg_id`, `q.message`…).
//     A reference in `create trigger … on` / `drop trigger … on` is DDL and uses no column. The queue's
//     sequence (`pgmq.q_<queue>_msg_id_seq`) is internal: use pgmq.metrics(queue).total_messages.
//   * the fields read from a composite result through an alias: `from pgmq.metrics('q') m` … `m.<field>`.
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'

export interface Param {
  name: string
  type: string
  hasDefault: boolean
}

export interface Signature {
  name: string
  params: Param[]
  returns: string
}

export interface PgmqApi {
  version: string
  functions: Map<string, Signature[]>
  /** Composite types by name (metrics_result …): their field names. */
  types: Map<string, string[]>
  /** Columns of q_<queue> and a_<queue>. */
  tables: { q: string[]; a: string[] }
}

export interface Problem {
  file: string
  line: number
  text: string
  message: string
}

const TYPE_ALIASES: Record<string, string> = {
  int: 'integer', int4: 'integer', integer: 'integer', int8: 'bigint', bigint: 'bigint', int2: 'smallint', smallint: 'smallint',
  text: 'text', varchar: 'text', 'character varying': 'text', jsonb: 'jsonb', json: 'json', boolean: 'boolean', bool: 'boolean',
  timestamptz: 'timestamptz', 'timestamp with time zone': 'timestamptz', timestamp: 'timestamp', numeric: 'numeric',
  'double precision': 'double precision', float8: 'double precision', real: 'real', interval: 'interval', uuid: 'uuid',
}

function normalizeType(t: string): string {
  const s = t.trim().toLowerCase().replace(/\s+/g, ' ')
  const array = s.endsWith('[]')
  const base = array ? s.slice(0, -2).trim() : s
  return (TYPE_ALIASES[base] ?? base) + (array ? '[]' : '')
}

/** Reads a fixture file (see scripts/fixtures/pgmq-1.5.1.api). */
export function loadApi(path: string): PgmqApi {
  const api: PgmqApi = { version: '', functions: new Map(), types: new Map(), tables: { q: [], a: [] } }
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.trim()
    if (!line || line.startsWith('#')) continue
    let m: RegExpExecArray | null
    if ((m = /^version (\S+)$/.exec(line))) api.version = m[1]
    else if ((m = /^function (\w+)\((.*)\) returns (.+)$/.exec(line))) {
      const params = m[2].trim()
        ? m[2].split(',').map((p) => {
            const [decl, def] = p.split('=')
            const [name, ...type] = decl.trim().split(/\s+/)
            return { name, type: normalizeType(type.join(' ')), hasDefault: def !== undefined }
          })
        : []
      const list = api.functions.get(m[1]) ?? []
      list.push({ name: m[1], params, returns: m[3].trim() })
      api.functions.set(m[1], list)
    } else if ((m = /^type (\w+)\((.*)\)$/.exec(line))) api.types.set(m[1], m[2].split(',').map((f) => f.trim().split(/\s+/)[0]))
    else if ((m = /^table ([qa])\((.*)\)$/.exec(line))) api.tables[m[1] as 'q' | 'a'] = m[2].split(',').map((f) => f.trim().split(/\s+/)[0])
    else throw new Error(`${path}: cannot read line "${line}"`)
  }
  if (!api.version || !api.functions.size || !api.tables.q.length) throw new Error(`${path}: not a pgmq API fixture`)
  return api
}

// --- reading source text ------------------------------------------------------------------------------

/** Blanks out comments (keeping offsets and newlines) so commented-out calls are not checked. */
export function stripComments(text: string, kind: 'sql' | 'ts'): string {
  let out = ''
  let i = 0
  while (i < text.length) {
    const c = text[i]
    const n = text[i + 1]
    const lineComment = kind === 'sql' ? c === '-' && n === '-' : c === '/' && n === '/' && (i === 0 || /\s/.test(text[i - 1]))
    if (lineComment) {
      const end = text.indexOf('\n', i)
      const stop = end === -1 ? text.length : end
      out += ' '.repeat(stop - i)
      i = stop
    } else if (c === '/' && n === '*') {
      const end = text.indexOf('*/', i + 2)
      const stop = end === -1 ? text.length : end + 2
      out += text.slice(i, stop).replace(/[^\n]/g, ' ')
      i = stop
    } else if (kind === 'sql' && c === "'") {
      // Strings stay (dynamic SQL inside format('…') is checked too), but a comment marker inside one is text.
      let j = i + 1
      while (j < text.length && !(text[j] === "'" && text[j + 1] !== "'")) j += text[j] === "'" ? 2 : 1
      out += text.slice(i, j + 1)
      i = j + 1
    } else {
      out += c
      i++
    }
  }
  return out
}

/** The argument list of the call whose '(' is at `open`: top-level comma-separated pieces and the ')' offset. */
function callArgs(text: string, open: number): { args: string[]; close: number } | null {
  let depth = 0
  let start = open + 1
  const args: string[] = []
  for (let i = open; i < text.length; i++) {
    const c = text[i]
    if (c === "'") {
      i++
      while (i < text.length && !(text[i] === "'" && text[i + 1] !== "'")) i += text[i] === "'" ? 2 : 1
    } else if (c === '$' && /^\$([A-Za-z_]\w*)?\$/.test(text.slice(i, i + 40))) {
      const tag = /^\$([A-Za-z_]\w*)?\$/.exec(text.slice(i, i + 40))![0]
      const end = text.indexOf(tag, i + tag.length)
      if (end === -1) return null
      i = end + tag.length - 1
    } else if (c === '(' || c === '[') depth++
    else if (c === ')' || c === ']') {
      depth--
      if (depth === 0) {
        const last = text.slice(start, i)
        if (last.trim() || args.length) args.push(last)
        return { args: args.map((a) => a.trim()), close: i }
      }
    } else if (c === ',' && depth === 1) {
      args.push(text.slice(start, i))
      start = i + 1
    }
  }
  return null
}

type Kind = { type: string } | { unknown: true } | { unresolved: true }

const TIMESTAMP_EXPR = /\b(now|clock_timestamp|statement_timestamp|transaction_timestamp)\s*\(|\bcurrent_timestamp\b|\binterval\b|\bmake_interval\s*\(|::\s*timestamp/i

/** What can be told of an argument's type from its text, and the PL/pgSQL declarations before it. */
function kindOf(expr: string, declarations: Map<string, string>): Kind {
  const e = expr.trim()
  const cast = /::\s*([a-z_][a-z0-9_ ]*(?:\[\])?)\s*$/i.exec(e)
  if (cast && balancedTail(e, cast.index)) return { type: normalizeType(cast[1]) }
  if (/^[Ee]?'(?:[^']|'')*'$/.test(e) || /^\$\$[\s\S]*\$\$$/.test(e)) return { unknown: true }
  if (/^-?\d+$/.test(e)) return { type: 'integer' }
  if (/^-?\d*\.\d+$/.test(e)) return { type: 'numeric' }
  if (/^(true|false)$/i.test(e)) return { type: 'boolean' }
  if (/^null$/i.test(e)) return { unknown: true }
  if (TIMESTAMP_EXPR.test(e)) return { type: 'timestamptz' }
  if (/^array\s*[[(]/i.test(e)) return { type: 'anyarray' }
  if (/^[a-z_][a-z0-9_]*$/i.test(e)) {
    const t = declarations.get(e.toLowerCase())
    return t ? { type: normalizeType(t) } : { unresolved: true }
  }
  return { unresolved: true }
}

/** Is the cast at `at` applied to the whole expression (not inside parentheses or to its last operand only)? */
function balancedTail(e: string, at: number): boolean {
  const head = e.slice(0, at)
  let depth = 0
  for (const c of head) depth += c === '(' ? 1 : c === ')' ? -1 : 0
  if (depth !== 0) return false
  // `a + b::int` casts b only; a bare value, a call or a parenthesised expression is the whole argument.
  return /^(\(.*\)|[\w.$'"\[\]]+(\(.*\))?|'(?:[^']|'')*')$/s.test(head.trim())
}

const PLPGSQL_TYPES = String.raw`(bigint\[\]|jsonb\[\]|integer\[\]|text\[\]|bigint|integer|int|int4|int8|smallint|text|jsonb|json|boolean|numeric|double precision|timestamptz|timestamp with time zone|interval|uuid)`

/** Names declared (parameters, DECLARE variables) in the function that contains `offset`, with their types. */
function declarationsAt(text: string, offset: number, kind: 'sql' | 'ts'): Map<string, string> {
  const decls = new Map<string, string>()
  if (kind !== 'sql') return decls
  const head = text.slice(0, offset)
  const fn = Math.max(head.toLowerCase().lastIndexOf('create or replace function'), head.toLowerCase().lastIndexOf('create function'))
  if (fn === -1) return decls
  const re = new RegExp(String.raw`(?:^|[\s(,])([a-z_][a-z0-9_]*)\s+${PLPGSQL_TYPES}(?=\s*(?:[,;)]|:=|default\b|=))`, 'gi')
  for (const m of head.slice(fn).matchAll(re)) decls.set(m[1].toLowerCase(), m[2])
  return decls
}

function compatible(kind: Kind, param: Param): true | string {
  const secondsSlot = param.name === 'vt' || param.name === 'delay'
  if ('unknown' in kind) return true
  if ('unresolved' in kind) {
    return secondsSlot ? `cannot tell that ${param.name} is an integer number of seconds; write an integer or cast it (…::integer)` : true
  }
  const t = kind.type
  if (t === param.type) return true
  if (t === 'anyarray' && param.type.endsWith('[]')) return true
  if (t === 'integer' && (param.type === 'bigint' || param.type === 'numeric')) return true
  if (t === 'smallint' && (param.type === 'integer' || param.type === 'bigint')) return true
  if (t === 'bigint' && param.type === 'numeric') return true
  if (secondsSlot) return `${param.name} is ${param.type} (whole seconds) in this pgmq version, got ${t}`
  return `${param.name} is ${param.type}, got ${t}`
}

/** Does `sig` take these arguments? true, or the reason it does not. */
function matches(sig: Signature, args: string[], decls: Map<string, string>): true | string {
  const named = new Map<string, string>()
  const positional: string[] = []
  for (const a of args) {
    const m = /^([a-z_][a-z0-9_]*)\s*(=>|:=)\s*([\s\S]+)$/i.exec(a)
    if (m) named.set(m[1].toLowerCase(), m[3])
    else if (named.size) return 'a positional argument after a named one'
    else positional.push(a)
  }
  if (positional.length > sig.params.length) return `takes at most ${sig.params.length} argument(s), got ${positional.length}`
  for (let i = 0; i < sig.params.length; i++) {
    const p = sig.params[i]
    const given = i < positional.length ? positional[i] : named.get(p.name)
    if (i >= positional.length && named.has(p.name)) named.delete(p.name)
    if (given === undefined) {
      if (!p.hasDefault) return `argument ${p.name} is required`
      continue
    }
    const ok = compatible(kindOf(given, decls), p)
    if (ok !== true) return ok
  }
  if (named.size) return `has no argument named ${[...named.keys()].join(', ')}`
  return true
}

function signatureText(s: Signature): string {
  return `pgmq.${s.name}(${s.params.map((p) => `${p.name} ${p.type}${p.hasDefault ? ' = …' : ''}`).join(', ')})`
}

const NOT_ALIAS = new Set([
  'where', 'join', 'left', 'right', 'inner', 'outer', 'full', 'cross', 'natural', 'on', 'using', 'group', 'order', 'limit',
  'offset', 'having', 'union', 'except', 'intersect', 'returning', 'set', 'for', 'window', 'into', 'values', 'select', 'and', 'or', 'then',
])

/** The alias after a table reference or a function call ending at `end`, if any. */
function aliasAfter(text: string, end: number): string | null {
  const m = /^\s+(?:as\s+)?([a-z_][a-z0-9_]*)/i.exec(text.slice(end))
  if (!m || NOT_ALIAS.has(m[1].toLowerCase())) return null
  return m[1]
}

/** The statement around `offset`: between `;` (SQL) or backticks (a TS template), whichever is nearer. */
function statementAround(text: string, offset: number, kind: 'sql' | 'ts'): { start: number; end: number } {
  const seps = kind === 'sql' ? [';'] : [';', '`']
  let start = 0
  let end = text.length
  for (const s of seps) {
    start = Math.max(start, text.lastIndexOf(s, offset) + 1)
    const e = text.indexOf(s, offset)
    if (e !== -1) end = Math.min(end, e)
  }
  return { start, end }
}

function checkAliasColumns(text: string, alias: string, span: { start: number; end: number }, allowed: string[]): string[] {
  const bad = new Set<string>()
  const re = new RegExp(String.raw`(?<![\w.])${alias}\.(\*|[a-z_][a-z0-9_]*)`, 'gi')
  for (const m of text.slice(span.start, span.end).matchAll(re)) if (!allowed.includes(m[1].toLowerCase())) bad.add(m[1])
  return [...bad]
}

/** Every problem with pgmq use in one file's text, against `api`. */
export function checkText(text: string, file: string, api: PgmqApi): Problem[] {
  const kind: 'sql' | 'ts' = file.endsWith('.ts') ? 'ts' : 'sql'
  const src = stripComments(text, kind)
  const problems: Problem[] = []
  const at = (offset: number, snippet: string, message: string) => {
    problems.push({ file, line: text.slice(0, offset).split('\n').length, text: snippet.replace(/\s+/g, ' ').slice(0, 160), message })
  }
  for (const m of src.matchAll(/\bpgmq\.("?)([a-z_][a-z0-9_]*)\1(\s*\()?/gi)) {
    const name = m[2].toLowerCase()
    const offset = m.index!
    if (m[3]) {
      const call = callArgs(src, offset + m[0].length - 1)
      if (!call) {
        at(offset, m[0], 'cannot read the arguments of this call')
        continue
      }
      const snippet = src.slice(offset, call.close + 1)
      const sigs = api.functions.get(name)
      if (!sigs) {
        at(offset, snippet, `pgmq.${name} does not exist in pgmq ${api.version}`)
        continue
      }
      const decls = declarationsAt(src, offset, kind)
      const reasons = sigs.map((s) => matches(s, call.args, decls))
      if (!reasons.includes(true)) {
        at(offset, snippet, `no pgmq ${api.version} signature takes these arguments: ${sigs.map((s, i) => `${signatureText(s)} — ${reasons[i]}`).join('; ')}`)
        continue
      }
      const composite = /^(?:setof )?pgmq\.(\w+)$/.exec(sigs[reasons.indexOf(true)].returns)?.[1]
      const fields = composite ? api.types.get(composite) : undefined
      const alias = aliasAfter(src, call.close + 1)
      if (fields && alias) {
        const bad = checkAliasColumns(src, alias, statementAround(src, offset, kind), fields)
        if (bad.length) at(offset, snippet, `pgmq ${api.version}'s ${composite} has no field ${bad.join(', ')} (fields: ${fields.join(', ')})`)
      }
      continue
    }
    // A function named without a call (in a string or a regprocedure literal) uses nothing.
    if (api.functions.has(name)) continue
    const table = /^([qa])_([a-z0-9_]+)$/.exec(name)
    if (!table) {
      if (!['message_record', 'metrics_result', 'queue_record', 'meta'].includes(name)) at(offset, m[0], `pgmq.${name} is not part of pgmq ${api.version}'s API`)
      continue
    }
    if (name.endsWith('_msg_id_seq')) {
      at(offset, m[0], `pgmq.${name} is pgmq's internal sequence: read pgmq.metrics(queue).total_messages instead`)
      continue
    }
    const span = statementAround(src, offset, kind)
    if (/^\s*(create|drop)\s+trigger\b/i.test(src.slice(span.start, span.end))) continue
    const alias = aliasAfter(src, offset + m[0].length)
    if (!alias) {
      at(offset, m[0], `read pgmq.${name} through an alias (pgmq.${name} q) and qualify its columns (q.msg_id), so they can be checked against pgmq ${api.version}`)
      continue
    }
    const columns = api.tables[table[1] as 'q' | 'a']
    const bad = checkAliasColumns(src, alias, span, columns)
    if (bad.length) at(offset, m[0], `pgmq ${api.version}'s ${table[1] === 'q' ? 'queue' : 'archive'} table has no column ${bad.join(', ')} (columns: ${columns.join(', ')})`)
  }
  return problems
}

/** The files the check covers: supabase/**\/*.sql and supabase/functions/**\/*.ts. */
export function pgmqSourceFiles(root: string): string[] {
  const dir = join(root, 'supabase')
  return (readdirSync(dir, { recursive: true }) as string[])
    .map((f) => join(dir, f))
    .filter((f) => !f.includes('node_modules') && !f.includes('/.temp/'))
    .filter((f) => f.endsWith('.sql') || f.endsWith('.psql') || (f.startsWith(join(dir, 'functions')) && f.endsWith('.ts')))
    .sort()
}

export function checkFiles(root: string, api: PgmqApi, files = pgmqSourceFiles(root)): Problem[] {
  return files.flatMap((f) => checkText(readFileSync(f, 'utf8'), relative(root, f), api))
}
