// Autovacuum stand-in. PGlite runs no background workers, so nothing vacuums or analyzes on its own:
// dead rows pile up in churning tables (pgmq queues, realtime change capture) and the planner has no
// statistics. Every few seconds this applies Postgres' own autovacuum rule (defaults:
// vacuum when dead rows > 50 + 20% of live rows, analyze when changed rows > 50 + 10%) to the tables
// that crossed it, using the cumulative statistics Postgres keeps anyway.
import type { Database } from '../core/database.ts'
import { quoteIdent } from '../core/identity.ts'

interface Due {
  schemaname: string
  relname: string
  vacuum: boolean
  analyze: boolean
}

export class Autovacuum {
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> = Promise.resolve()

  constructor(
    private db: Database,
    private intervalMs = 15_000,
    private log: (line: string) => void = () => {},
  ) {}

  start(): void {
    this.schedule()
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    await this.running
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.running = this.pass()
        .then(() => undefined)
        .catch((err) => this.log(`autovacuum: ${(err as Error).message}`))
        .finally(() => {
          if (this.timer) this.schedule()
        })
    }, this.intervalMs)
    this.timer.unref()
  }

  /** One pass: vacuum and/or analyze every table past the thresholds. Returns what it did. */
  async pass(): Promise<Due[]> {
    // The single backend reports its counters at most once a second; make the next report happen now.
    await this.db.query('select pg_stat_force_next_flush()')
    const due = (
      await this.db.query<Due>(`
        select schemaname, relname,
               n_dead_tup > 50 + 0.2 * n_live_tup as vacuum,
               n_mod_since_analyze > 50 + 0.1 * n_live_tup as analyze
          from pg_stat_user_tables
         where n_dead_tup > 50 + 0.2 * n_live_tup or n_mod_since_analyze > 50 + 0.1 * n_live_tup`)
    ).rows
    for (const t of due) {
      const target = `${quoteIdent(t.schemaname)}.${quoteIdent(t.relname)}`
      // VACUUM cannot run inside a transaction: it gets the session to itself, outside any.
      await this.db.exclusive((pg) => pg.exec(t.vacuum ? `vacuum (analyze) ${target}` : `analyze ${target}`))
    }
    return due
  }
}
