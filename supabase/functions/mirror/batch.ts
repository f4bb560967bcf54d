// One run of the mirror worker: read a batch of changes (with a visibility timeout) and the rows they name as
// they are now → apply them to LibSQL in one transaction (../_shared/libsql/apply.ts) → delete them from the
// queue. At least once: a run that dies after applying and before deleting leaves the changes to come back
// after the timeout, and applying them again writes nothing (their versions are not newer). A failed LibSQL
// write fails the batch: each change is retried after an exponential backoff with jitter, or dead-lettered
// after max_attempts; changes that can never apply are dead-lettered at once while the rest is applied.
import { applyChanges } from '../_shared/libsql/apply.ts'
import type { SqlClient } from '../_shared/libsql/sql-client.ts'
import type { ChangeFailure, ChangeStore, MirrorSettings } from './store-types.ts'

export interface MirrorBatchOptions {
  batchSize?: number
  visibilityTimeoutSeconds?: number
}

export interface MirrorBatchReport {
  /** Changes read from the queue. */
  read: number
  /** Changes applied (or already applied) and deleted from the queue. */
  applied: number[]
  /** Distinct rows written or tombstoned. */
  rows: number
  /** Changes that failed this time (retrying later, or dead-lettered: see dead_lettered). */
  failed: number[]
  dead_lettered: number[]
  errors: { msg_ids: number[]; error: string }[]
  /** Highest version applied in this batch (0: none). */
  max_version: number
}

export interface MirrorBatchDeps {
  store: ChangeStore
  libsql: SqlClient
  random?: () => number
}

/** base × 2^(attempts − 1) seconds, at most max, scaled by a random factor in [0.5, 1). */
export function backoffSeconds(
  attempts: number,
  settings: Pick<MirrorSettings, 'backoff_base_seconds' | 'backoff_max_seconds'>,
  random: () => number,
): number {
  const exp = Math.min(settings.backoff_max_seconds, settings.backoff_base_seconds * 2 ** Math.max(0, attempts - 1))
  return exp * (0.5 + random() * 0.5)
}

export async function processMirrorBatch(deps: MirrorBatchDeps, opts: MirrorBatchOptions = {}): Promise<MirrorBatchReport> {
  const random = deps.random ?? Math.random
  const settings = await deps.store.settings()
  const report: MirrorBatchReport = { read: 0, applied: [], rows: 0, failed: [], dead_lettered: [], errors: [], max_version: 0 }
  const changes = await deps.store.read(
    opts.batchSize ?? settings.batch_size,
    opts.visibilityTimeoutSeconds ?? settings.visibility_timeout_seconds,
  )
  report.read = changes.length
  if (!changes.length) return report

  const attempts = new Map(changes.map((c) => [c.msg_id, c.attempts]))
  const failures: ChangeFailure[] = []
  const errors = new Map<string, number[]>()
  const failed = (ids: number[], error: string, final: boolean) => {
    for (const id of ids) failures.push({ msg_id: id, error, final, delay_seconds: backoffSeconds(attempts.get(id) ?? 1, settings, random) })
    errors.set(error, [...(errors.get(error) ?? []), ...ids])
  }
  let applied: Awaited<ReturnType<typeof applyChanges>> | null = null
  try {
    applied = await applyChanges(deps.libsql, changes)
    for (const f of applied.failed) failed([f.msg_id], f.error, f.final)
  } catch (err) {
    failed(changes.map((c) => c.msg_id), `LibSQL write failed: ${(err as Error).message}`, false)
  }
  if (failures.length) {
    for (const r of await deps.store.fail(failures)) {
      report.failed.push(r.msg_id)
      if (r.outcome === 'dead_lettered') report.dead_lettered.push(r.msg_id)
    }
  }
  // Applied to LibSQL: now off the queue. Should this fail (or the run die here), they come back after the
  // visibility timeout and applying them again writes nothing.
  if (applied?.applied.length) {
    await deps.store.complete(applied.applied)
    report.applied = applied.applied
    report.rows = applied.rows
    report.max_version = applied.maxVersion
  }
  report.errors = [...errors].map(([error, msg_ids]) => ({ error, msg_ids }))
  report.failed.sort((a, b) => a - b)
  report.dead_lettered.sort((a, b) => a - b)
  return report
}
