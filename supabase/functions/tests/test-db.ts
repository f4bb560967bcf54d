// A fresh migrated database for Deno tests of Edge Function handlers: a Node child process
// (scripts/lib/serve-fresh-db.ts) migrates a new embedded database and serves it on a free port; tests
// talk to it with postgres.js, as the functions do. No cron scheduler or pg_net worker runs there, so
// nothing processes the queue but the handler the test calls.
import postgres from 'npm:postgres@3.4.9'
import { fileURLToPath } from 'node:url'

export type Sql = ReturnType<typeof postgres>

export interface TestDatabase {
  url: string
  sql: Sql
  stop(): Promise<void>
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

export async function startTestDatabase(): Promise<TestDatabase> {
  const child = new Deno.Command('node', {
    args: ['--import', 'tsx', 'scripts/lib/serve-fresh-db.ts'],
    cwd: ROOT,
    stdin: 'piped',
    stdout: 'piped',
    stderr: 'inherit',
  }).spawn()
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader()
  let out = ''
  while (!out.includes('\n')) {
    const { value, done } = await reader.read()
    if (done) throw new Error(`serve-fresh-db exited before it was ready: ${out}`)
    out += value
  }
  reader.releaseLock()
  void child.stdout.cancel().catch(() => {})
  const { dbUrl } = JSON.parse(out.split('\n')[0])
  const sql = postgres(dbUrl, { prepare: false, max: 1, onnotice: () => {} })
  return {
    url: dbUrl,
    sql,
    async stop() {
      await sql.end({ timeout: 5 })
      const writer = child.stdin.getWriter()
      await writer.close()
      await child.status
    },
  }
}

/** A token whose payload says role service_role (the handler reads the claim; the gateway checks signatures). */
export function tokenWithRole(role: string): string {
  const b64 = (s: string) => btoa(s).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')
  return `${b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${
    b64(JSON.stringify({ role, iss: 'supabase-demo' }))
  }.c2lnbmF0dXJl`
}

/** Creates a user and a thread of theirs; returns both ids. */
export async function createThread(sql: Sql, name = 'user'): Promise<{ userId: string; threadId: string }> {
  const userId = crypto.randomUUID()
  await sql`insert into auth.users (id, aud, role, email) values (${userId}, 'authenticated', 'authenticated', ${
    name + '-' + userId.slice(0, 8) + '@test.local'
  })`
  const [t] = await sql`insert into public.memory_threads (owner_id, name) values (${userId}, ${name}) returning id`
  return { userId, threadId: t.id }
}

/** Inserts messages (one statement) and returns their ids in order. */
export async function addMessages(sql: Sql, threadId: string, contents: string[]): Promise<string[]> {
  const rows = await sql`
    insert into public.messages (thread_id, role, content)
    select ${threadId}, 'user', c from unnest(${contents}::text[]) with ordinality as x(c, n) order by n
    returning id, content`
  const byContent = new Map<string, string[]>()
  for (const r of rows) byContent.set(r.content, [...(byContent.get(r.content) ?? []), r.id])
  return contents.map((c) => byContent.get(c)!.shift()!)
}

export async function setSetting(sql: Sql, key: string, value: unknown): Promise<void> {
  await sql`insert into public.settings (category, key, value) values ('embeddings', ${key}, ${
    sql.json(value as never)
  })
            on conflict (category, key) do update set value = excluded.value`
}

/** Empties the queue, the archive, embeddings and failures: each test starts from a clean pipeline. */
export async function resetPipeline(sql: Sql): Promise<void> {
  await sql`select pgmq.purge_queue('embedding_jobs')`
  await sql`delete from pgmq.a_embedding_jobs a`
  await sql`delete from public.embedding_failures`
  await sql`delete from public.embeddings`
}

/** Makes `name` the default model. */
export async function useModel(sql: Sql, name: string): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`update public.embedding_models set is_default = false where is_default and name <> ${name}`
    await tx`update public.embedding_models set is_default = true, state = 'ready' where name = ${name}`
  })
}

export function parseVector(text: string): number[] {
  return JSON.parse(text)
}

/** Jobs ever sent to the queue (pgmq's msg id sequence). */
export async function jobsEnqueued(sql: Sql): Promise<number> {
  const [r] = await sql`select jobs_enqueued_total::int as n from util.embedding_pipeline`
  return r.n
}

export interface Ledger {
  enqueued: number
  embedded: number
  deadLettered: number
  pending: number
}

/**
 * enqueued (jobs sent since `since`) against where they ended: embedded (embeddings of the given rows),
 * dead-lettered (embedding_failures) and pending (still in the queue).
 */
export async function ledger(sql: Sql, since: number, sourceIds: string[]): Promise<Ledger> {
  const [r] = await sql`
    select (select jobs_enqueued_total::int from util.embedding_pipeline) - ${since} as enqueued,
           (select count(*)::int from public.embeddings where source_id = any(${sourceIds}::uuid[])) as embedded,
           (select count(*)::int from public.embedding_failures) as dead_lettered,
           (pgmq.metrics('embedding_jobs')).queue_length::int as pending`
  return { enqueued: r.enqueued, embedded: r.embedded, deadLettered: r.dead_lettered, pending: r.pending }
}
