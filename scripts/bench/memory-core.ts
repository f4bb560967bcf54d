// Benchmark `memory-core`: the memory API on the shared corpus's long-running thread (N messages at corpus
// size N, scripts/bench/dataset.ts), at every size of the run:
//   in process    load_messages pages of 50 (at random cursors, and the newest), build_context (budget
//                 8,000, no recall) and save_message, called through the Database as the signed-in user
//                 (role + JWT claims per transaction, as the gateway sets them) — no HTTP;
//   gateway       save_message through supabase-js → /rest/v1/rpc/save_message, with the in-process figure as
//                 its baseline (the ratio is what HTTP, JWT verification and JSON cost).
// Targets from the memory-core issue: a load_messages page of 50 has p95 ≤ 5 ms, build_context p95 ≤ 30 ms.
import { sample, scaledLatency, type BenchReport, type Figure } from './lib.ts'
import type { Bench } from './section.ts'

export const memoryCore: Bench = {
  name: 'memory-core',
  corpus: true,
  description: 'load_messages pages, build_context and save_message on the long thread (in process), save_message through the gateway',
  async runAt(ctx, size, corpus): Promise<BenchReport> {
    if (!corpus) throw new Error('memory-core needs the corpus')
    const { db, user, longThread } = corpus
    const n = ctx.samples(300, 100)
    // Cursors of messages spread over the whole thread, as a client walking back would hold.
    const cursors = (
      await db.query<{ cursor: string }>(
        `select private.encode_cursor('m', created_at, id) as cursor
           from messages where thread_id = $1 and role <> 'system'
          order by md5(id::text) limit $2`,
        [longThread, n],
      )
    ).rows.map((r) => r.cursor)

    const pageAt = await sample(ctx, `load_messages page of 50 at a random cursor (${size})`, n, (i) =>
      db.query(`select * from load_messages($1, 50, $2, 'older')`, [longThread, cursors[i % cursors.length]], user.identity),
    )
    const pageNewest = await sample(ctx, 'load_messages newest page of 50', n, () => db.query(`select * from load_messages($1, 50)`, [longThread], user.identity))
    const context = await sample(ctx, 'build_context, budget 8,000', n, () => db.query(`select * from build_context($1, 8000)`, [longThread], user.identity))
    const saves = await sample(ctx, 'save_message (in process)', n, (i) =>
      db.query(`select id from save_message($1, 'user', $2)`, [longThread, `bench message ${size}-${i}: how is the weather today?`], user.identity),
    )
    const gatewaySaves = await sample(ctx, 'save_message (gateway, supabase-js)', n, async (i) => {
      const { error } = await user.client.rpc('save_message', { thread_id: longThread, role: 'user', content: `gateway message ${size}-${i}: and tomorrow?` })
      if (error) throw new Error(`save_message through the gateway: ${error.code} ${error.message}`)
    })
    const info = (
      await db.query<{ n: number; tokens: number; truncated: boolean }>(
        `select cardinality(messages) as n, token_count as tokens, truncated from build_context($1, 8000)`,
        [longThread],
        user.identity,
      )
    ).rows[0]
    const figures: Figure[] = [
      ...scaledLatency('load_messages page of 50 (random cursor)', pageAt, { size, target: 5 }),
      ...scaledLatency('load_messages page of 50 (newest)', pageNewest, { size, target: 5 }),
      ...scaledLatency('build_context budget 8k, no recall', context, { size, target: 30 }),
      ...scaledLatency('save_message in process', saves, { size }),
      ...scaledLatency('save_message through the gateway', gatewaySaves, { size, baseline: { name: 'save_message in process', samplesMs: saves } }),
    ]
    return {
      figures,
      series: [
        { name: `load_messages (random cursor), ${size}`, samplesMs: pageAt },
        { name: `build_context 8k, ${size}`, samplesMs: context },
        { name: `save_message gateway, ${size}`, samplesMs: gatewaySaves },
      ],
      notes: [
        `${size}: the long thread holds ${(await corpus.count('messages', `thread_id = '${longThread}'`)).toLocaleString('en')} messages; ${n} samples per figure after 10 warm-up calls; build_context returned ${info.n} messages, ${info.tokens} tokens, truncated=${info.truncated}`,
      ],
    }
  },
}
