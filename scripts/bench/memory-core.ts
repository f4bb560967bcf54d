// Benchmark `memory-core`: the memory API on a thread of 100,000 messages, called in-process through a
// migrated Database as a signed-in user (role + JWT claims set per transaction, as the gateway does) —
// no HTTP. Targets from the memory-core issue: a load_messages page of 50 has p95 ≤ 5 ms, build_context
// p95 ≤ 30 ms in one call. Statistics are left as the embedded stack has them (no ANALYZE, PGlite has no
// autovacuum), so the figures include whatever plans the functions get without them.
import { randomUUID } from 'node:crypto'
import type { Identity } from '../../stack/core/database.ts'
import { freshDatabase } from '../lib/fresh-db.ts'
import { latencyFigures, timed, type Bench, type BenchReport, type Series } from './lib.ts'

const THREAD_MESSAGES = 100_000

export const memoryCore: Bench = {
  name: 'memory-core',
  description: `load_messages pages, build_context and save_message on a ${THREAD_MESSAGES.toLocaleString('en')}-message thread (in-process SQL)`,
  async run(ctx): Promise<BenchReport> {
    const samples = ctx.quick ? 200 : 1000
    const warmup = 25
    const fresh = await freshDatabase()
    try {
      const db = fresh.db
      const userId = randomUUID()
      await db.query(`insert into auth.users (id, aud, role, email) values ($1, 'authenticated', 'authenticated', $2)`, [
        userId,
        `bench-${userId.slice(0, 8)}@bench.local`,
      ])
      const user: Identity = { role: 'authenticated', claims: { sub: userId, role: 'authenticated', aud: 'authenticated' } }
      const threadId = (
        await db.query<{ id: string }>(`select id from create_thread(agent_id => 'assistant', name => 'bench')`, [], user)
      ).rows[0].id

      // One statement: two system messages, then user / assistant turns with an occasional tool call and
      // result, contents of 10 to ~120 words. The insert trigger assigns created_at and estimates tokens.
      ctx.log(`  seeding ${THREAD_MESSAGES.toLocaleString('en')} messages in one insert…`)
      const [, seedMs] = await timed(() =>
        db.query(
          `insert into messages (thread_id, role, content, tool_call_id, tool_name)
           select $1,
                  (case when i <= 2 then 'system'
                        when i % 10 = 5 then 'assistant'
                        when i % 10 = 6 then 'tool'
                        when i % 2 = 1 then 'user' else 'assistant' end)::message_role,
                  case when i <= 2 then 'You are a helpful assistant with a long memory. Rule ' || i || '.'
                       else 'Message ' || i || ': ' || repeat('the quick brown fox jumps over the lazy dog ', 1 + i % 13) end,
                  case when i > 2 and i % 10 in (5, 6) then 'call_' || (i / 10) end,
                  case when i > 2 and i % 10 in (5, 6) then 'search' end
             from generate_series(1, $2::integer) i`,
          [threadId, THREAD_MESSAGES],
        ),
      )

      // Cursors of messages spread over the whole thread, as a client walking back would hold.
      const cursors = (
        await db.query<{ cursor: string }>(
          `select private.encode_cursor('m', created_at, id) as cursor
             from messages where thread_id = $1 and role <> 'system'
            order by md5(id::text) limit $2`,
          [threadId, samples],
        )
      ).rows.map((r) => r.cursor)

      const measure = async (label: string, n: number, call: (i: number) => Promise<unknown>): Promise<number[]> => {
        for (let i = 0; i < warmup; i++) await call(i)
        const bar = ctx.progress(label, n)
        const out: number[] = []
        for (let i = 0; i < n; i++) {
          const [, ms] = await timed(() => call(i))
          out.push(ms)
          bar.tick()
        }
        bar.done()
        return out
      }

      const pageAt = await measure('load_messages page of 50 at a random cursor', samples, (i) =>
        db.query(`select * from load_messages($1, 50, $2, 'older')`, [threadId, cursors[i % cursors.length]], user),
      )
      const pageNewest = await measure('load_messages newest page of 50', samples, () =>
        db.query(`select * from load_messages($1, 50)`, [threadId], user),
      )
      const context8k = await measure('build_context, budget 8,000', samples, () =>
        db.query(`select * from build_context($1, 8000)`, [threadId], user),
      )
      const context32k = await measure('build_context, budget 32,000', Math.ceil(samples / 2), () =>
        db.query(`select * from build_context($1, 32000)`, [threadId], user),
      )
      const contextInfo = (
        await db.query<{ n: number; tokens: number; truncated: boolean }>(
          `select cardinality(messages) as n, token_count as tokens, truncated from build_context($1, 8000)`,
          [threadId],
          user,
        )
      ).rows[0]
      const saves = await measure('save_message on the 100k thread', Math.ceil(samples / 2), (i) =>
        db.query(`select id from save_message($1, 'user', $2)`, [threadId, `bench message ${i}: how is the weather today?`], user),
      )

      const series: Series[] = [
        { name: 'load_messages (random cursor)', samplesMs: pageAt },
        { name: 'load_messages (newest)', samplesMs: pageNewest },
        { name: 'build_context 8k', samplesMs: context8k },
        { name: 'build_context 32k', samplesMs: context32k },
        { name: 'save_message', samplesMs: saves },
      ]
      return {
        figures: [
          { name: 'seed 100k messages (one insert, with triggers)', value: seedMs / 1000, unit: 's' },
          ...latencyFigures('load_messages page of 50 (random cursor)', pageAt, 5),
          ...latencyFigures('load_messages page of 50 (newest)', pageNewest, 5),
          ...latencyFigures('build_context budget 8k', context8k, 30),
          ...latencyFigures('build_context budget 32k', context32k),
          ...latencyFigures('save_message', saves),
        ],
        series,
        notes: [
          `thread of ${THREAD_MESSAGES.toLocaleString('en')} messages; ${samples} samples per figure after ${warmup} warm-up calls`,
          `each call is one transaction as an authenticated user (set_config of role and claims included), no HTTP`,
          `build_context with budget 8,000 returned ${contextInfo.n} messages, ${contextInfo.tokens} tokens, truncated=${contextInfo.truncated}`,
        ],
      }
    } finally {
      await fresh.close()
    }
  },
}
