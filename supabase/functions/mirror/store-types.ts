// The mirror worker's store interface (no driver import, so the Node tools share it).
import type { MirrorChange } from '../_shared/libsql/apply.ts'

/** util.libsql_mirror_settings(). */
export interface MirrorSettings {
  batch_size: number
  max_requests: number
  max_attempts: number
  visibility_timeout_seconds: number
  backoff_base_seconds: number
  backoff_max_seconds: number
  request_timeout_milliseconds: number
}

export interface ChangeFailure {
  msg_id: number
  error: string
  delay_seconds: number
  final?: boolean
}

export interface ChangeStore {
  settings(): Promise<MirrorSettings>
  read(batchSize: number, visibilityTimeoutSeconds: number): Promise<MirrorChange[]>
  complete(msgIds: number[]): Promise<number>
  fail(failures: ChangeFailure[]): Promise<{ msg_id: number; outcome: 'retrying' | 'dead_lettered'; attempts: number }[]>
}
