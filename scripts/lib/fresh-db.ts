// A fresh database in a temporary directory, migrated exactly as `npm start` migrates `.data/`, served on
// a free loopback port for tools that connect over the wire (the Supabase CLI, psql).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dbUrl, loadConfig } from '../../stack/core/config.ts'
import type { Database } from '../../stack/core/database.ts'
import { PgServer } from '../../stack/core/pg-server.ts'
import { openMigrated } from '../../stack/stack.ts'

export interface FreshDatabase {
  db: Database
  dbUrl: string
  close(): Promise<void>
}

export async function freshDatabase(log: (line: string) => void = () => {}): Promise<FreshDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'agent-memory-db-'))
  const config = loadConfig(['--data-dir', dir, '--db-port', '0', '--api-port', '0', '--quiet'], {})
  try {
    const { db } = await openMigrated(config, log)
    const server = new PgServer(db, { host: config.host, port: 0 })
    await server.start()
    return {
      db,
      dbUrl: dbUrl({ host: config.host, dbPort: server.port }),
      async close() {
        await server.stop()
        await db.close()
        rmSync(dir, { recursive: true, force: true })
      },
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
}
