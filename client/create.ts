// createMemory: the Supabase memory (./memory.ts), and with `libsql` the same API with LibSQL fallback reads and
// an offline outbox for writes (./mirror.ts).
import type { Client } from '@libsql/client'
import { createMemory as createSupabaseMemory, type Memory, type MemoryOptions } from './memory.ts'
import { type MirrorConfig, type MirroredMemory, withMirror } from './mirror.ts'

export interface MirroredMemoryOptions extends MemoryOptions {
  /** The LibSQL mirror: an open client, or its settings (url, authToken, ownerId, offlineWrites, fallbackOn …). */
  libsql: MirrorConfig | Client
}

export function createMemory(options: MirroredMemoryOptions): MirroredMemory
export function createMemory(options: MemoryOptions): Memory
export function createMemory(options: MemoryOptions & { libsql?: MirrorConfig | Client }): Memory | MirroredMemory {
  const base = createSupabaseMemory(options)
  if (!options.libsql) return base
  const libsql = options.libsql
  const config: MirrorConfig = typeof (libsql as Client).execute === 'function' ? { client: libsql as Client } : (libsql as MirrorConfig)
  return withMirror(base, config)
}
