// Runs `supabase/tests/*.sql` (pgTAP) against a database, as `supabase test db` / pg_prove would:
// every file in name order, on its own, its output read as TAP. pg_prove's rules apply: a file that stops on
// an error fails with the error and its line, and a plan the file does not keep (fewer tests than planned,
// more, or no plan) fails it.
//
// Two things make a local run as strict as one on a hosted project:
//   * Files run as TEST_ROLE, a role with the privileges hosted Supabase's `postgres` has — NOSUPERUSER with
//     CREATEROLE, CREATEDB, REPLICATION and BYPASSRLS, a member of the API roles, and the owner's rights on
//     the project's objects — instead of the embedded database's superuser. A statement only a superuser may
//     run (`set track_functions`, `alter system`, a C function…) fails here as it fails under `supabase test
//     db` against a hosted project. Files return to the owner with `set_config('role', session_user, true)`
//     (tests.authenticate_as_owner()); TEST_ROLE may not switch to the superuser.
//   * psql's `\ir <file>` (include relative to the including file) is expanded, so a file can include the
//     shared helpers inside its own transaction: `\ir helpers/test_helpers.psql`. Other psql meta-commands
//     are refused with a clear error rather than sent to the server.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import type { Database } from '../../stack/core/database.ts'
import { lineAt, splitSql } from '../../stack/core/sql-split.ts'
import { countTap, type TapCounts } from './tap.ts'

export interface PgTapFileResult extends TapCounts {
  file: string
  error: string | null
  ms: number
}

/** The role test files run as (see the file comment). */
export const TEST_ROLE = 'hosted_postgres'

/** Creates TEST_ROLE if needed: hosted `postgres`'s attributes and memberships, without SUPERUSER. */
export async function ensureTestRole(db: Database): Promise<void> {
  await db.exec(`
    do $$
    begin
      if not exists (select from pg_roles where rolname = '${TEST_ROLE}') then
        create role ${TEST_ROLE} nologin nosuperuser inherit createrole createdb replication bypassrls;
      end if;
    end
    $$;
    comment on role ${TEST_ROLE} is 'Local stack only: runs pgTAP files with the privileges hosted Supabase gives postgres (not a superuser).';
    grant anon, authenticated, service_role to ${TEST_ROLE};
    -- The owner's rights on everything postgres owns here (on hosted, postgres owns the project's objects),
    -- but not the right to become postgres, which is the superuser here.
    grant postgres to ${TEST_ROLE} with inherit true, set false;`)
}

/** A file with its includes expanded, and where each part came from (for error lines). */
export interface ExpandedSql {
  text: string
  /** Ranges of `text` in order: [start offset in text, source file, offset in that file]. */
  segments: { start: number; file: string; offset: number }[]
}

const INCLUDE = /^[ \t]*\\(?:ir|include_relative)[ \t]+('(?:[^']|'')*'|\S+)[ \t]*;?[ \t]*$/
const META = /^[ \t]*\\(\S*)/

/**
 * Expands psql's `\ir path` lines (also quoted, `\ir 'path'`) recursively, relative to the including
 * file, as psql does. Throws for a missing file, an include cycle, or any other backslash command.
 */
export function expandIncludes(path: string, chain: string[] = []): ExpandedSql {
  const full = resolve(path)
  if (chain.includes(full)) throw new Error(`${path}: include cycle (${[...chain, full].map((f) => relative(process.cwd(), f)).join(' → ')})`)
  if (!existsSync(full)) throw new Error(`${chain.length ? `${relative(process.cwd(), chain.at(-1)!)}: ` : ''}\\ir: no such file ${path}`)
  const source = readFileSync(full, 'utf8')
  const out: ExpandedSql = { text: '', segments: [] }
  let lineStart = 0
  let pendingFrom = 0
  const flush = (end: number) => {
    if (end > pendingFrom) {
      out.segments.push({ start: out.text.length, file: full, offset: pendingFrom })
      out.text += source.slice(pendingFrom, end)
    }
  }
  while (lineStart <= source.length) {
    const nl = source.indexOf('\n', lineStart)
    const lineEnd = nl === -1 ? source.length : nl
    const line = source.slice(lineStart, lineEnd)
    const m = INCLUDE.exec(line)
    if (m) {
      flush(lineStart)
      const target = m[1].startsWith("'") ? m[1].slice(1, -1).replace(/''/g, "'") : m[1]
      const inner = expandIncludes(join(dirname(full), target), [...chain, full])
      for (const seg of inner.segments) out.segments.push({ ...seg, start: seg.start + out.text.length })
      out.text += inner.text + '\n'
      pendingFrom = lineEnd + 1
    } else {
      const meta = META.exec(line)
      if (meta && !insideLiteral(source, lineStart)) {
        throw new Error(`${relative(process.cwd(), full)}:${lineAt(source, lineStart)}: psql meta-command \\${meta[1]} is not supported by the test runner (only \\ir)`)
      }
    }
    if (nl === -1) break
    lineStart = nl + 1
  }
  flush(source.length)
  return out
}

/** Is `offset` inside a dollar-quoted body or a string (so a leading backslash there is data, not psql)? */
function insideLiteral(source: string, offset: number): boolean {
  let i = 0
  let open: string | null = null
  while (i < offset) {
    if (open) {
      const close = source.indexOf(open, i)
      if (close === -1 || close >= offset) return true
      i = close + open.length
      open = null
      continue
    }
    const c = source[i]
    if (c === '-' && source[i + 1] === '-') {
      const eol = source.indexOf('\n', i)
      if (eol === -1 || eol >= offset) return false
      i = eol + 1
    } else if (c === "'") {
      open = "'"
      i++
    } else if (c === '$') {
      const m = /^\$([A-Za-z_][A-Za-z_0-9]*)?\$/.exec(source.slice(i, i + 64))
      if (m) {
        open = m[0]
        i += m[0].length
      } else i++
    } else i++
  }
  return open !== null
}

/** "file:line" of an offset in expanded text (the file relative to the working directory). */
export function locate(x: ExpandedSql, offset: number): string {
  let seg = x.segments[0]
  for (const s of x.segments) if (s.start <= offset) seg = s
  if (!seg) return '?'
  const source = readFileSync(seg.file, 'utf8')
  return `${relative(process.cwd(), seg.file)}:${lineAt(source, seg.offset + (offset - seg.start))}`
}

export function listTestFiles(dir: string, filter?: RegExp): string[] {
  return readdirSync(dir)
    .filter((f) => (f.endsWith('.sql') || f.endsWith('.pg')) && (!filter || filter.test(f)))
    .sort()
}

export async function runPgTapFile(db: Database, path: string, file: string): Promise<PgTapFileResult> {
  const started = Date.now()
  let expanded: ExpandedSql
  try {
    expanded = expandIncludes(path)
  } catch (err) {
    return { passed: 0, failed: 0, missing: 0, failures: [], bailout: null, planError: null, file, error: (err as Error).message, ms: Date.now() - started }
  }
  // pg_prove gives every file a session of its own; here the session is shared, so the runner takes it
  // exclusively, becomes TEST_ROLE for the file, and afterwards restores the superuser and drops the
  // temporary tables in which pgTAP keeps its plan and counters.
  const result = await db.exclusive(async (pg) => {
    await pg.exec(`set session authorization ${TEST_ROLE}`)
    try {
      return await db.runScript(pg, expanded.text)
    } finally {
      if (pg.isInTransaction()) await pg.exec('rollback')
      // `set session authorization default` does not return to postgres in PGlite; name it.
      await pg.exec('set session authorization postgres; discard temp')
      db.sessionDirty = true
    }
  })
  // pgTAP returns its TAP lines as single-column text rows.
  const tap = result.statements
    .flatMap((s) => (s.columns.length === 1 ? s.rows.map((r) => r[0] ?? '') : []))
    .join('\n')
  const counts = countTap(tap + '\n', { requirePlan: true })
  let error: string | null = null
  if (result.error) {
    const e = result.error
    // With a position, the error's own place; else the start of the statement that failed (the one after
    // the last that completed).
    const failed = splitSql(expanded.text)[result.statements.length]
    const at = e.position ? e.position - 1 : failed?.offset
    const where = at !== undefined ? ` (${locate(expanded, at)})` : ''
    error = `${e.message} [SQLSTATE ${e.code}]${where}${e.detail ? `\n    detail: ${e.detail}` : ''}${e.where ? `\n    context: ${e.where.split('\n')[0]}` : ''}`
  }
  return { ...counts, file, error, ms: Date.now() - started }
}

export async function runPgTap(db: Database, dir: string, filter?: RegExp): Promise<PgTapFileResult[]> {
  await ensureTestRole(db)
  const results: PgTapFileResult[] = []
  for (const file of listTestFiles(dir, filter)) results.push(await runPgTapFile(db, join(dir, file), file))
  return results
}
