// Brings a database to the project's schema, the way `supabase start` + `supabase db push` would
// (stack/stack.ts `openMigrated` runs the three steps):
//  1. the Supabase bootstrap stand-in: each service folder's SQL (BOOTSTRAP_FILES, in that order: roles,
//     auth, vault, pg_cron, pg_net, realtime, PostgREST's schema watch), re-applied only when a file changed;
//  2. supabase/migrations/<version>_<name>.sql in version order, each in its own transaction and recorded in
//     supabase_migrations.schema_migrations exactly as the CLI records it, so `supabase migration list`
//     shows them as applied;
//  3. supabase/seed.sql on a fresh database, recorded in supabase_migrations.seed_files like the CLI.
// A failing migration is rolled back alone: the database stays at the last good migration.
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import type { Transaction } from '@electric-sql/pglite'
import { ROOT } from './config.ts'
import { PgError, type Database } from './database.ts'
import { lineAt, splitSql } from './sql-split.ts'

/**
 * The stand-ins' bootstrap SQL, relative to stack/, in the order it is applied: core roles and schemas
 * first (every later file grants to the API roles), then each service's own. Every *.sql under stack/
 * must be listed here (a test checks it).
 */
export const BOOTSTRAP_FILES = [
  'core/roles.sql',
  'auth/auth.sql',
  'vault/vault.sql',
  'pg_cron/cron.sql',
  'pg_net/net.sql',
  'realtime/realtime.sql',
  'postgrest/schema-watch.sql',
] as const

export const STACK_DIR = join(ROOT, 'stack')

const MIGRATION_FILE = /^([0-9]+)_(.*)\.sql$/

export class MigrationError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly cause: PgError,
  ) {
    super(`${file}:${line}: ${cause.message} (SQLSTATE ${cause.code})${cause.detail ? `\n  detail: ${cause.detail}` : ''}`)
    this.name = 'MigrationError'
  }
}

/** Applies each stand-in file whose content changed since it was last applied (files are idempotent). */
export async function applyBootstrap(db: Database, log: (line: string) => void = () => {}): Promise<string[]> {
  await db.exec(`
    create schema if not exists supabase_stack;
    comment on schema supabase_stack is 'Local embedded stack only: which bootstrap stand-in files are applied.';
    create table if not exists supabase_stack.bootstrap (
      file text primary key, hash text not null, applied_at timestamptz not null default now());
    revoke all on schema supabase_stack from public;`)
  const known = new Map(
    (await db.query<{ file: string; hash: string }>('select file, hash from supabase_stack.bootstrap')).rows.map((r) => [
      r.file,
      r.hash,
    ]),
  )
  const done: string[] = []
  for (const file of BOOTSTRAP_FILES) {
    const sql = readFileSync(join(STACK_DIR, file), 'utf8')
    const hash = sha256(sql)
    if (known.get(file) === hash) continue
    await runFile(db, `stack/${file}`, sql, async (tx) => {
      await tx.query(
        `insert into supabase_stack.bootstrap (file, hash) values ($1, $2)
         on conflict (file) do update set hash = excluded.hash, applied_at = now()`,
        [file, hash],
      )
    })
    log(`bootstrap ${file}`)
    done.push(file)
  }
  return done
}

export function listMigrations(dir: string): { version: string; name: string; file: string }[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .map((file) => ({ file, m: MIGRATION_FILE.exec(file) }))
    .filter((x) => x.m)
    .map(({ file, m }) => ({ version: m![1], name: m![2], file }))
    .sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : 0))
}

export async function applyMigrations(db: Database, dir: string, log: (line: string) => void = () => {}): Promise<string[]> {
  // The same DDL the CLI runs before `db push` (see supabase/cli pkg/migration/history.go).
  await db.exec(`
    create schema if not exists supabase_migrations;
    create table if not exists supabase_migrations.schema_migrations (version text not null primary key);
    alter table supabase_migrations.schema_migrations add column if not exists statements text[];
    alter table supabase_migrations.schema_migrations add column if not exists name text;
    create table if not exists supabase_migrations.seed_files (path text not null primary key, hash text not null);`)
  const done = new Set(
    (await db.query<{ version: string }>('select version from supabase_migrations.schema_migrations')).rows.map(
      (r) => r.version,
    ),
  )
  const applied: string[] = []
  for (const m of listMigrations(dir)) {
    if (done.has(m.version)) continue
    const sql = readFileSync(join(dir, m.file), 'utf8')
    const statements = splitSql(sql).map((s) => s.text)
    await runFile(db, `supabase/migrations/${m.file}`, sql, async (tx) => {
      await tx.query('insert into supabase_migrations.schema_migrations (version, name, statements) values ($1, $2, $3)', [
        m.version,
        m.name,
        statements,
      ])
    })
    log(`migration ${m.file}`)
    applied.push(m.file)
  }
  return applied
}

export async function applySeed(db: Database, file: string): Promise<void> {
  const sql = readFileSync(file, 'utf8')
  // Recorded as the CLI records it: relative to the directory that holds supabase/.
  const path = relative(dirname(dirname(file)), file)
  await runFile(db, path, sql, async (tx) => {
    await tx.query(
      `insert into supabase_migrations.seed_files (path, hash) values ($1, $2)
       on conflict (path) do update set hash = excluded.hash`,
      [path, sha256(sql)],
    )
  })
}

/** Runs every statement of a file in one transaction, then `record`; any error rolls all of it back. */
async function runFile(db: Database, label: string, sql: string, record: (tx: Transaction) => Promise<void>): Promise<void> {
  let current = { text: '', offset: 0 }
  try {
    await db.transaction(async (tx) => {
      for (const stmt of splitSql(sql)) {
        current = stmt
        await tx.exec(stmt.text)
      }
      current = { text: '', offset: sql.length }
      await record(tx)
    })
  } catch (err) {
    const pgErr = PgError.from(err)
    const offset = current.offset + (pgErr.position ? pgErr.position - 1 : 0)
    throw new MigrationError(label, lineAt(sql, offset), pgErr)
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}
