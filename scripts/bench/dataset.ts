// The corpus the scaled benchmarks share: one stack (database + API gateway, no Edge Functions, cron jobs
// unscheduled, autovacuum off — the loader vacuums and analyses after each step) loaded once per run and
// grown size by size (1k → 10k → 100k) by inserting only the difference, from the seeded streams of
// scripts/bench/corpus.ts. At size N it holds, for the benchmark user:
//   - one long-running thread of N messages (sessions of realistic lengths after one system prompt), saved
//     through save_messages in calls of 1,000 (the API's batch path; its rate is a figure),
//   - N/10 more messages in threads of realistic lengths (2–600 messages),
//   - N document chunks (documents of 1–80 chunks),
//   - N/50 long-term memories, a summary of the long thread, and working memory (the user's JSON document
//     with a schema and the thread's Markdown),
// and another tenant's rows beside them (10% as many messages and chunks), so visibility is part of every
// figure. Every message, chunk and memory gets its hash-384 vector, stored as the embed worker stores it;
// the HNSW indexes are dropped for each bulk step and rebuilt after it with their own definitions.
import { randomUUID } from 'node:crypto'
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient, type SupabaseClient } from '@supabase/supabase-js'
import WebSocket from 'ws'
import { loadConfig, ROOT } from '../../stack/core/config.ts'
import type { Database } from '../../stack/core/database.ts'
import type { Identity } from '../../stack/core/identity.ts'
import { signAccessToken } from '../../stack/core/jwt.ts'
import { startStack, type Stack } from '../../stack/stack.ts'
import { hashEmbedding } from '../../supabase/functions/_shared/hash-embedding.ts'
import { conversations, documents, take, ZipfText, type ChatMessage, type DocumentChunk } from './corpus.ts'
import { GUIDE_HYBRID_SQL } from './guide-hybrid.ts'
import type { BenchContext } from './lib.ts'

export interface BenchUser {
  id: string
  identity: Identity
  jwt: string
  /** supabase-js over the stack's gateway, signed in as this user. */
  client: SupabaseClient
}

/** What one growth step cost, in seconds per phase, and the API batch insert rate. */
export interface LoadStep {
  size: number
  seconds: Record<string, number>
  /** Messages per second of the long thread's save_messages calls (1,000 per call). */
  batchInsertPerSecond: number
}

const SEED = 20261215
const BATCH = 5000
const SUMMARY_KEEP_TOKENS = 4000

const roleSql = `(case when r = 'system' then 'system' when r = 'user' then 'user' when r = 'tool' then 'tool' else 'assistant' end)::message_role`

export class BenchCorpus {
  size = 0
  readonly loads: LoadStep[] = []
  /** Queries of 2–4 words from the user's first chunks and from the long thread's first messages. */
  chunkQueries: string[] = []
  messageQueries: string[] = []
  longThread = ''
  private readonly streams = {
    long: conversations({ seed: SEED, vocabularySeed: SEED, single: true }),
    short: conversations({ seed: SEED + 1, vocabularySeed: SEED }),
    otherMessages: conversations({ seed: SEED + 2, vocabularySeed: SEED }),
    chunks: documents({ seed: SEED + 3, vocabularySeed: SEED }),
    otherChunks: documents({ seed: SEED + 4, vocabularySeed: SEED }),
  }
  private readonly text = new ZipfText({ seed: SEED + 5, vocabularySeed: SEED })
  private readonly threads = new Map<string, string>()
  private readonly docs = new Map<string, string>()

  private constructor(
    readonly stack: Stack,
    readonly user: BenchUser,
    readonly other: BenchUser,
    private readonly cleanup: () => void,
  ) {}

  get db(): Database {
    return this.stack.db
  }

  static async open(): Promise<BenchCorpus> {
    // The project's supabase/ without functions/: no Edge Runtime (nothing here calls a function).
    const workdir = mkdtempSync(join(tmpdir(), 'agent-memory-bench-workdir-'))
    cpSync(join(ROOT, 'supabase'), join(workdir, 'supabase'), { recursive: true, filter: (src) => !src.includes('/functions') && !src.includes('/.temp') })
    const dataDir = mkdtempSync(join(tmpdir(), 'agent-memory-bench-'))
    const cleanup = () => {
      rmSync(dataDir, { recursive: true, force: true })
      rmSync(workdir, { recursive: true, force: true })
    }
    try {
      const config = loadConfig(['--data-dir', dataDir, '--workdir', workdir, '--api-port', '0', '--db-port', '0', '--quiet'], {
        AGENT_MEMORY_AUTOVACUUM_INTERVAL_MS: String(24 * 3600_000),
        ...(process.env.AGENT_MEMORY_SHARED_BUFFERS ? { AGENT_MEMORY_SHARED_BUFFERS: process.env.AGENT_MEMORY_SHARED_BUFFERS } : {}),
      })
      const stack = await startStack(config)
      await stack.db.query(`select cron.unschedule(jobid) from cron.job`)
      // Nobody is rate-limited here: the benchmark is one very busy user.
      await stack.db.query(`update public.settings set value = 'null' where category = 'rate_limits'`)
      const user = async (name: string): Promise<BenchUser> => {
        const id = randomUUID()
        await stack.db.query(`insert into auth.users (id, aud, role, email) values ($1, 'authenticated', 'authenticated', $2)`, [id, `${name}-${id.slice(0, 8)}@bench.local`])
        const jwt = await signAccessToken({ sub: id }, { expiresIn: '4h' })
        const client = createClient(stack.apiUrl, config.anonKey, {
          auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
          global: { headers: { Authorization: `Bearer ${jwt}` } },
          realtime: { transport: WebSocket as never },
        })
        return { id, jwt, client, identity: { role: 'authenticated', claims: { sub: id, role: 'authenticated', aud: 'authenticated' } } }
      }
      const corpus = new BenchCorpus(stack, await user('bench'), await user('other'), cleanup)
      await stack.db.exec(GUIDE_HYBRID_SQL)
      return corpus
    } catch (err) {
      cleanup()
      throw err
    }
  }

  async close(): Promise<void> {
    await this.stack.stop()
    this.cleanup()
  }

  /** Grows the corpus to `size` (a no-op when it is that big already). */
  async grow(size: number, ctx: BenchContext): Promise<LoadStep> {
    if (size <= this.size) throw new Error(`sizes must grow: the corpus has ${this.size} messages, asked for ${size}`)
    const from = this.size
    const seconds: Record<string, number> = {}
    const phase = async (name: string, fn: () => Promise<void>) => {
      const t = performance.now()
      await fn()
      seconds[name] = (performance.now() - t) / 1000
    }
    let batchInsertPerSecond = NaN
    const first = from === 0
    await phase('long thread (save_messages)', async () => {
      if (first) {
        this.longThread = (await this.db.query<{ id: string }>(`select id from create_thread(agent_id => 'assistant', name => 'long-running')`, [], this.user.identity)).rows[0].id
      }
      const n = size - from
      const bar = ctx.progress(`long thread: save_messages × ${Math.ceil(n / 1000)}`, n)
      let ms = 0
      for (let done = 0; done < n; ) {
        const batch = take(this.streams.long, Math.min(1000, n - done))
        if (first && done === 0) this.messageQueries = this.queriesFrom(batch.filter((m) => m.role !== 'system').map((m) => m.content))
        const body = JSON.stringify(batch.map((m) => ({ role: m.role, content: m.content, tool_call_id: m.tool_call_id ?? null, tool_name: m.tool_name ?? null })))
        const t = performance.now()
        await this.db.query(`select count(*) from save_messages($1, $2::json)`, [this.longThread, body], this.user.identity)
        ms += performance.now() - t
        done += batch.length
        bar.tick(batch.length)
      }
      bar.done()
      batchInsertPerSecond = n / (ms / 1000)
    })
    // The bulk steps below run without the GIN indexes of the tables they fill (full-text and fts_cells
    // maintenance was about half of a chunk insert's time at 100k), rebuilt after them like the HNSW
    // indexes. The long thread above keeps its indexes: its save_messages rate is a figure.
    const gin = await dropIndexes(this.db, ['messages', 'document_chunks', 'memories'], 'gin')
    await phase('short threads', async () => {
      await this.insertThreads(this.streams.short, 'short', this.user, Math.round((size - from) / 10), ctx)
      await this.insertThreads(this.streams.otherMessages, 'other', this.other, Math.round((size - from) / 10), ctx)
    })
    await phase('document chunks', async () => {
      await this.insertChunks(this.streams.chunks, 'user', this.user, size - from, ctx, first)
      await this.insertChunks(this.streams.otherChunks, 'other', this.other, Math.round((size - from) / 10), ctx, false)
    })
    await phase('memories', async () => {
      await this.insertMemories(this.user, Math.round((size - from) / 50), [null, 'assistant', 'researcher'])
      await this.insertMemories(this.other, Math.max(1, Math.round((size - from) / 500)), [null])
    })
    await phase('GIN index rebuild', async () => {
      await this.db.exec(`set maintenance_work_mem = '512MB'; ${gin.join(';\n')}; reset maintenance_work_mem;`)
    })
    const { loadMs, buildMs } = await withHnswRebuilt(this.db, async () => {
      await embedMissing(this.db, 'messages', 'content', ctx)
      await embedMissing(this.db, 'document_chunks', 'search_text', ctx)
      await embedMissing(this.db, 'memories', 'content', ctx)
    }, ctx.log)
    seconds['embeddings (hash-384)'] = loadMs / 1000
    seconds['HNSW index build'] = buildMs / 1000
    await phase('summary, working memory, vacuum analyze', async () => {
      await this.summarize()
      if (first) await this.workingMemory()
      // Nothing processes the queues here; the jobs the inserts sent are dropped.
      await this.db.query(`select pgmq.purge_queue(queue_name) from pgmq.list_queues()`)
      await this.db.exec('vacuum analyze')
    })
    this.size = size
    const step = { size, seconds, batchInsertPerSecond }
    this.loads.push(step)
    return step
  }

  async count(table: string, where = 'true'): Promise<number> {
    return (await this.db.query<{ n: number }>(`select count(*)::int as n from ${table} where ${where}`)).rows[0].n
  }

  private queriesFrom(texts: string[]): string[] {
    const pick = new ZipfText({ seed: SEED + 6, vocabulary: 100 })
    const out: string[] = []
    for (let i = 0; out.length < 400; i++) {
      const q = pick.queryFrom(texts[Math.floor(pick.random() * texts.length)])
      if (q.split(' ').length >= 2) out.push(q)
      if (i > 10_000) break
    }
    return out
  }

  private async threadIds(key: string, owner: BenchUser, messages: ChatMessage[]): Promise<string[]> {
    const missing = [...new Set(messages.map((m) => `${key}:${m.thread}`))].filter((k) => !this.threads.has(k))
    if (missing.length) {
      const ids = (
        await this.db.query<{ id: string }>(
          `select t.id from generate_series(1, $1::integer) g cross join lateral create_thread(agent_id => 'assistant', name => 'bench ' || g) t order by g`,
          [missing.length],
          owner.identity,
        )
      ).rows
      missing.forEach((k, i) => this.threads.set(k, ids[i].id))
    }
    return messages.map((m) => this.threads.get(`${key}:${m.thread}`)!)
  }

  private async insertThreads(stream: Iterator<ChatMessage>, key: string, owner: BenchUser, n: number, ctx: BenchContext) {
    const bar = ctx.progress(`threads of realistic length (${key})`, n)
    for (let done = 0; done < n; ) {
      const batch = take(stream, Math.min(BATCH, n - done))
      const threadIds = await this.threadIds(key, owner, batch)
      await this.db.query(
        `insert into messages (thread_id, role, content, tool_call_id, tool_name)
         select t, ${roleSql}, c, nullif(i, ''), nullif(n, '')
           from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[]) with ordinality as x(t, r, c, i, n, o) order by o`,
        [threadIds, batch.map((m) => m.role), batch.map((m) => m.content), batch.map((m) => m.tool_call_id ?? ''), batch.map((m) => m.tool_name ?? '')],
        owner.identity,
      )
      done += batch.length
      bar.tick(batch.length)
    }
    bar.done()
  }

  private async insertChunks(stream: Iterator<DocumentChunk>, key: string, owner: BenchUser, n: number, ctx: BenchContext, queries: boolean) {
    const bar = ctx.progress(`document chunks (${key})`, n)
    for (let done = 0; done < n; ) {
      const batch = take(stream, Math.min(2000, n - done))
      if (queries && done === 0) this.chunkQueries = this.queriesFrom(batch.map((c) => c.content))
      const missing = [...new Set(batch.map((c) => `${key}:${c.document}`))].filter((k) => !this.docs.has(k))
      if (missing.length) {
        const rows = (
          await this.db.query<{ id: string; title: string }>(
            `insert into documents (title, content_hash, chunk_count)
             select t, encode(sha256(convert_to(t, 'UTF8')), 'hex'), 0 from unnest($1::text[]) t returning id, title`,
            [missing],
            owner.identity,
          )
        ).rows
        for (const r of rows) this.docs.set(r.title, r.id)
      }
      await this.db.query(
        `insert into document_chunks (document_id, ordinal, content, heading_path, token_count)
         select d, o, c, array[h1, h2], 0 from unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[]) as x(d, o, c, h1, h2)`,
        [batch.map((c) => this.docs.get(`${key}:${c.document}`)), batch.map((c) => c.ordinal), batch.map((c) => c.content), batch.map((c) => c.heading_path[0]), batch.map((c) => c.heading_path[1])],
        owner.identity,
      )
      done += batch.length
      bar.tick(batch.length)
    }
    bar.done()
  }

  private async insertMemories(owner: BenchUser, n: number, agents: (string | null)[]) {
    const kinds = ['fact', 'preference', 'event']
    const rows = Array.from({ length: n }, (_, i) => ({ content: this.text.text(this.text.int(6, 20)), kind: kinds[i % 3], agent_id: agents[i % agents.length] }))
    await this.db.query(
      `insert into memories (content, kind, agent_id) select x.content, x.kind::memory_kind, x.agent_id
         from jsonb_to_recordset($1::jsonb) as x(content text, kind text, agent_id text)`,
      [JSON.stringify(rows)],
      owner.identity,
    )
  }

  /** The long thread's summary: everything but the newest SUMMARY_KEEP_TOKENS tokens, ~600 tokens long. */
  private async summarize() {
    const summary = this.text.text(450)
    await this.db.query(
      `with m as (
         select created_at, id, sum(token_count) over (order by created_at desc, id desc) as newer_tokens
           from messages where thread_id = $1 and role <> 'system')
       update memory_threads set summary = $2,
              summary_through = (select private.encode_cursor('m', created_at, id) from m where newer_tokens > $3 order by created_at desc, id desc limit 1)
        where id = $1`,
      [this.longThread, summary, SUMMARY_KEEP_TOKENS],
    )
  }

  private async workingMemory() {
    await this.db.query(
      `select update_working_memory(data => $1::jsonb, schema => $2::jsonb)`,
      [
        JSON.stringify({ name: 'Alex', city: 'Berlin', languages: ['en', 'de'], notes: this.text.text(120) }),
        JSON.stringify({
          type: 'object',
          properties: { name: { type: 'string' }, city: { type: 'string' }, languages: { type: 'array', items: { type: 'string' } }, notes: { type: 'string' } },
          required: ['name'],
        }),
      ],
      this.user.identity,
    )
    await this.db.query(`select update_working_memory(scope => 'thread', thread_id => $1, markdown => $2)`, [this.longThread, `# Task\n\n${this.text.text(100)}\n`], this.user.identity)
  }
}

/** hash-384 vectors for the rows of `table` that have none yet, stored as the embed worker stores them. */
export async function embedMissing(db: Database, table: 'messages' | 'document_chunks' | 'memories', column: string, ctx: BenchContext): Promise<void> {
  const where = `not private.is_blank(${column}) and not exists (select 1 from embeddings e where e.source_table = '${table}' and e.source_id = t.id and e.model = 'hash-384')`
  const total = (await db.query<{ n: number }>(`select count(*)::int as n from ${table} t where ${where}`)).rows[0].n
  const bar = ctx.progress(`embeddings (${table})`, total)
  let after = '00000000-0000-0000-0000-000000000000'
  for (;;) {
    const rows = (await db.query<{ id: string; text: string }>(`select id, ${column} as text from ${table} t where id > $1 and ${where} order by id limit 2000`, [after])).rows
    if (!rows.length) break
    after = rows.at(-1)!.id
    // A text of stop words only has no hash features: the pipeline leaves it unembedded too.
    const payload = rows.flatMap((r) => {
      try {
        return [{ id: r.id, e: JSON.stringify(hashEmbedding(r.text)) }]
      } catch {
        return []
      }
    })
    await db.query(
      `insert into embeddings (owner_id, source_table, source_id, model, content_hash, embedding)
       select s.owner_id, $2, s.id, 'hash-384', s.content_hash, x.e::extensions.vector
         from jsonb_to_recordset($1::jsonb) as x(id uuid, e text) join ${table} s on s.id = x.id`,
      [JSON.stringify(payload), table],
    )
    bar.tick(rows.length)
  }
  bar.done()
}


/** Drops the indexes of `tables` (schema public) using access method `method`, and returns their definitions, to be run again after a bulk load. */
async function dropIndexes(db: Database, tables: string[], method: 'gin' | 'hnsw'): Promise<string[]> {
  const found = (
    await db.query<{ name: string; def: string }>(
      `select quote_ident(indexname) as name, indexdef as def from pg_indexes
        where schemaname = 'public' and tablename = any($1::text[]) and indexdef ilike $2`,
      [tables, `%using ${method}%`],
    )
  ).rows
  for (const i of found) await db.exec(`drop index public.${i.name}`)
  return found.map((i) => i.def)
}

/** Drops the HNSW indexes of public.embeddings around `load` and builds them again (in memory) after it. */
export async function withHnswRebuilt(db: Database, load: () => Promise<void>, log: (line: string) => void = () => {}): Promise<{ loadMs: number; buildMs: number }> {
  let t = performance.now()
  const hnsw = await dropIndexes(db, ['embeddings'], 'hnsw')
  if (!hnsw.length) throw new Error('no HNSW index on public.embeddings')
  await load()
  const loadMs = performance.now() - t
  t = performance.now()
  log(`  building ${hnsw.length} HNSW index(es) over ${(await db.query<{ n: number }>(`select count(*)::int as n from embeddings`)).rows[0].n.toLocaleString('en')} vectors…`)
  // Mostly in memory, as a bulk load would be done (512 MB: the 100k graph fits; PGlite's WASM heap is limited).
  await db.exec(`set maintenance_work_mem = '512MB'; ${hnsw.join(';\n')}; reset maintenance_work_mem;`)
  return { loadMs, buildMs: performance.now() - t }
}
