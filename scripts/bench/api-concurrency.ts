// Issue 5's load figure: 50 supabase-js clients, each a different signed-in user, calling RPCs for 30 s
// (10 s with --quick) — a mix of reads (a stable set-returning function under RLS) and writes (a volatile
// insert) — on a stack of its own. Reports errors (target 0), throughput and latency percentiles, then the
// Realtime delivery latency (insert committed through the API → postgres_changes event at a subscriber,
// target p95 ≤ 500 ms).
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient, type SupabaseClient } from '@supabase/supabase-js'
import WebSocket from 'ws'
import { loadConfig } from '../../stack/core/config.ts'
import { LOCAL_ANON_KEY } from '../../stack/core/keys.ts'
import { signAccessToken } from '../../stack/core/jwt.ts'
import { startStack, type Stack } from '../../stack/stack.ts'
import { latencyFigures, type BenchContext, type BenchReport } from './lib.ts'
import type { Bench } from './section.ts'

const CLIENTS = 50
const WRITE_SHARE = 0.3

const SCHEMA = `
  create table public.bench_notes (
    id bigint generated always as identity primary key,
    owner_id uuid not null default auth.uid(),
    body text not null,
    created_at timestamptz not null default now()
  );
  create index on public.bench_notes (owner_id, id desc);
  alter table public.bench_notes enable row level security;
  create policy "owners read notes" on public.bench_notes for select to authenticated using (owner_id = (select auth.uid()));
  create policy "owners add notes" on public.bench_notes for insert to authenticated with check (owner_id = (select auth.uid()));
  create function public.bench_save(body text) returns bigint language sql security invoker
    as $$ insert into public.bench_notes (body) values (body) returning id $$;
  create function public.bench_recent(n int default 20) returns setof public.bench_notes language sql stable security invoker
    as $$ select * from public.bench_notes where owner_id = (select auth.uid()) order by id desc limit n $$;
  alter publication supabase_realtime add table public.bench_notes;`

const token = (sub: string) => signAccessToken({ sub }, { expiresIn: '2h' })

function client(stack: Stack, jwt: string): SupabaseClient {
  return createClient(stack.apiUrl, LOCAL_ANON_KEY, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    global: { headers: { Authorization: `Bearer ${jwt}` } },
    realtime: { transport: WebSocket as never },
  })
}

async function users(stack: Stack, n: number): Promise<{ id: string; jwt: string }[]> {
  const out = []
  for (let i = 0; i < n; i++) {
    const id = randomUUID()
    await stack.db.query(`insert into auth.users (id, aud, role, email) values ($1, 'authenticated', 'authenticated', $2)`, [id, `bench-${i}@bench.local`])
    out.push({ id, jwt: await token(id) })
  }
  return out
}

async function load(ctx: BenchContext, stack: Stack, seconds: number) {
  const people = await users(stack, CLIENTS)
  const clients = people.map((p) => client(stack, p.jwt))
  const reads: number[] = []
  const writes: number[] = []
  const errors: string[] = []
  let written = 0
  const bar = ctx.progress(`${CLIENTS} clients × ${seconds} s`, seconds)
  const ticker = setInterval(() => bar.tick(), 1000)
  const started = performance.now()
  const deadline = started + seconds * 1000
  await Promise.all(
    clients.map(async (db, i) => {
      let n = 0
      while (performance.now() < deadline) {
        const write = Math.random() < WRITE_SHARE
        const t = performance.now()
        const r = write ? await db.rpc('bench_save', { body: `note ${i}.${n++}` }) : await db.rpc('bench_recent', { n: 20 })
        const ms = performance.now() - t
        if (r.error) errors.push(`${r.status} ${r.error.code}: ${r.error.message}`)
        else if (write) {
          writes.push(ms)
          written++
        } else reads.push(ms)
      }
    }),
  )
  const elapsed = (performance.now() - started) / 1000
  clearInterval(ticker)
  bar.done()
  const stored = Number((await stack.db.query<{ n: number }>('select count(*)::int as n from public.bench_notes')).rows[0].n)
  return { reads, writes, errors, elapsed, written, stored, people }
}

/** Insert through the API as one user → the postgres_changes event at that user's filtered subscription. */
async function realtimeLatency(ctx: BenchContext, stack: Stack, person: { id: string; jwt: string }, samples: number): Promise<number[]> {
  const db = client(stack, person.jwt)
  await db.realtime.setAuth(person.jwt)
  const pending = new Map<string, (t: number) => void>()
  await new Promise<void>((resolve, reject) => {
    db.channel('bench-latency')
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'bench_notes', filter: `owner_id=eq.${person.id}` }, (p) => {
        pending.get((p.new as { body: string }).body)?.(performance.now())
      })
      .subscribe((s, err) => (s === 'SUBSCRIBED' ? resolve() : s === 'CHANNEL_ERROR' || s === 'TIMED_OUT' ? reject(err ?? new Error(s)) : undefined))
  })
  const out: number[] = []
  const bar = ctx.progress('realtime delivery', samples)
  for (let i = 0; i < samples; i++) {
    const body = `latency ${i}`
    const arrived = new Promise<number>((resolve, reject) => {
      pending.set(body, resolve)
      setTimeout(() => reject(new Error(`no postgres_changes event for "${body}" within 5 s`)), 5000).unref()
    })
    const t = performance.now()
    const r = await db.rpc('bench_save', { body })
    if (r.error) throw new Error(`bench_save failed: ${r.error.message}`)
    out.push((await arrived) - t)
    pending.delete(body)
    bar.tick()
  }
  bar.done()
  await db.removeAllChannels()
  return out
}

export const apiConcurrency: Bench = {
  name: 'api-concurrency',
  slow: true,
  description: `${CLIENTS} supabase-js clients calling RPCs (70% reads, 30% writes) for 30 s; Realtime insert→event latency`,
  async run(ctx): Promise<BenchReport> {
    const dataDir = mkdtempSync(join(tmpdir(), 'agent-memory-bench-'))
    const stack = await startStack(loadConfig(['--data-dir', dataDir, '--api-port', '0', '--db-port', '0', '--quiet'], {}))
    try {
      await stack.db.exec(SCHEMA)
      const seconds = ctx.quick ? 10 : 30
      const r = await load(ctx, stack, seconds)
      const delivery = await realtimeLatency(ctx, stack, r.people[0], ctx.quick ? 20 : 100)
      const notes = [
        `${r.reads.length + r.writes.length} calls in ${r.elapsed.toFixed(1)} s; ${r.written} writes acknowledged, ${r.stored} rows stored`,
        'one PGlite session serializes transactions, so latency grows with the number of clients while throughput stays flat',
      ]
      for (const e of [...new Set(r.errors)].slice(0, 5)) notes.push(`error: ${e}`)
      return {
        figures: [
          { name: 'errors', value: r.errors.length, unit: 'calls', target: { op: '<=', value: 0 } },
          { name: 'writes lost', value: r.written - r.stored, unit: 'rows', target: { op: '<=', value: 0 } },
          { name: 'throughput', value: (r.reads.length + r.writes.length) / r.elapsed, unit: 'calls/s' },
          ...latencyFigures('rpc read', r.reads),
          ...latencyFigures('rpc write', r.writes),
          ...latencyFigures('realtime insert→event', delivery, 500),
        ],
        series: [
          { name: 'rpc read', samplesMs: r.reads },
          { name: 'rpc write', samplesMs: r.writes },
          { name: 'realtime insert→event', samplesMs: delivery },
        ],
        notes,
      }
    } finally {
      await stack.stop()
      rmSync(dataDir, { recursive: true, force: true })
    }
  },
}
