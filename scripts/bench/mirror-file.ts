// The LibSQL file the `mirror` section searches at each corpus size: `n` messages in one thread of one owner
// and their DIMS-dim random vectors, written with the mirror's own apply code (so every insert also updates
// the DiskANN index, as in production). Building 100k takes ~12 minutes on 2 cores (the index insert of each
// vector dominates), so the file is cached in .data/bench/ and built in a child process (this file, run as a
// script) while the bench grows its Postgres corpus on the other core: `prepareAt` in mirror.ts.
//
// A file is written under a temporary name and renamed when complete, so an interrupted build never leaves
// a file that looks finished.
import { randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { getLibSQLClient } from '../../libsql/client.ts'
import { ROOT } from '../../stack/core/config.ts'
import { applyChanges, type MirrorChange } from '../../supabase/functions/_shared/libsql/apply.ts'
import type { SqlClient } from '../../supabase/functions/_shared/libsql/sql-client.ts'
import { rng } from './corpus.ts'

/** The local default model's size (hash-384; gte-small is 384 too). */
export const DIMS = 384
export const MIRROR_OWNER = '00000000-0000-4000-8000-00000000b0b0'
export const MIRROR_THREAD = '00000000-0000-4000-8000-0000000007ea'
/** The first message's created_at, in µs; message j is 1 ms later than message j − 1. */
export const MIRROR_BASE_US = Date.UTC(2026, 0, 1) * 1000

export function mirrorFilePath(n: number): string {
  return join(ROOT, '.data', 'bench', `mirror-${n}-${DIMS}.db`)
}

/** Builds the file for `n` messages unless it exists; `onProgress(messagesWritten)` after every batch. */
export async function buildMirrorFile(n: number, onProgress: (done: number) => void = () => {}): Promise<void> {
  const path = mirrorFilePath(n)
  if (existsSync(path)) return
  mkdirSync(join(ROOT, '.data', 'bench'), { recursive: true })
  const partial = `${path}.partial`
  for (const f of [partial, `${partial}-wal`, `${partial}-shm`]) rmSync(f, { force: true })
  const client = await getLibSQLClient({ url: `file:${partial}` })
  try {
    const rand = rng(42)
    let version = 0
    const change = (table: string, key: unknown[], row: Record<string, unknown>): MirrorChange =>
      ({ msg_id: ++version, attempts: 1, source_table: table, row_key: key, version, owner_id: MIRROR_OWNER, status: 'ok', reason: null, row, model_dims: DIMS })
    const base = MIRROR_BASE_US
    await applyChanges(client as unknown as SqlClient, [change('memory_threads', [MIRROR_THREAD], {
      id: MIRROR_THREAD, owner_id: MIRROR_OWNER, agent_id: null, name: 'bench', metadata: {}, summary: null, summary_through: null, summary_token_count: null,
      expires_at: null, created_at: new Date(base / 1000).toISOString(), updated_at: new Date(base / 1000).toISOString(), _created_us: base,
    })])
    for (let i = 0; i < n; i += 500) {
      const batch: MirrorChange[] = []
      for (let j = i; j < Math.min(n, i + 500); j++) {
        const id = randomUUID()
        const us = base + (j + 1) * 1000
        const at = new Date(us / 1000).toISOString()
        batch.push(change('messages', [id], {
          id, thread_id: MIRROR_THREAD, owner_id: MIRROR_OWNER, role: j % 2 ? 'assistant' : 'user', content: `message ${j} ${j % 7 === 0 ? 'refund' : 'travel'}`,
          tool_call_id: null, tool_name: null, token_count: 4, token_count_exact: false, metadata: {}, created_at: at, _created_us: us,
        }))
        batch.push(change('embeddings', ['messages', id, `bench-${DIMS}`], {
          source_table: 'messages', source_id: id, owner_id: MIRROR_OWNER, model: `bench-${DIMS}`, content_hash: 'd'.repeat(64),
          embedding: JSON.stringify(Array.from({ length: DIMS }, () => rand() * 2 - 1)), created_at: at, updated_at: at,
        }))
      }
      await applyChanges(client as unknown as SqlClient, batch)
      onProgress(Math.min(n, i + 500))
    }
    // Out of WAL mode, so the one file renamed below holds everything.
    await client.execute('pragma journal_mode = delete')
  } finally {
    client.close()
  }
  renameSync(partial, path)
}

// As a script (`node --import tsx mirror-file.ts <n>`): build, printing `progress <messages written>` lines.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const n = Number(process.argv[2])
  if (!Number.isInteger(n) || n < 1) throw new Error(`usage: mirror-file.ts <messages>, got "${process.argv[2]}"`)
  await buildMirrorFile(n, (done) => process.stdout.write(`progress ${done}\n`))
}
